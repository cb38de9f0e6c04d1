//! Review requests (LGPD art. 20) on the real pipeline: a company asks that a person review a
//! decision, once per decision and audited; the request is open until the analyst's override
//! outcome of the order is reported, then answered with it; the queue pages and filters by
//! status; another company can neither ask about nor see it.

use crate::common::Gateway;
use crate::decisions_support::{Decisions, order, order_json, post_decision};
use crate::training;
use serde_json::{Value, json};

async fn decided(gateway: &Gateway, token: &str, order_id: &str) -> String {
    let body = json!({"order": order_json(&order(order_id, "C00002", 310_000))});
    let (status, decision) = post_decision(gateway, token, "/v1/decisions", body, "en").await;
    assert_eq!(status, 200, "{decision}");
    decision["request_id"]
        .as_str()
        .expect("request id")
        .to_owned()
}

async fn ask(gateway: &Gateway, token: &str, request_id: &str, body: Value) -> (u16, Value) {
    training::post(
        gateway,
        token,
        &format!("/v1/decisions/{request_id}/review"),
        body,
    )
    .await
}

fn ids(page: &Value) -> Vec<String> {
    page["reviews"]
        .as_array()
        .expect("reviews")
        .iter()
        .map(|r| r["request_id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_request_is_recorded_once_audited_and_answered_by_an_override() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let (_, token) = pipeline.trained_company().await;
    let (_, other) = gateway.register().await;
    let first = decided(gateway, &token, "LGPD-1").await;

    let reason = "O cliente pede revisão humana: o limite foi ampliado ontem.";
    let (status, asked) = ask(gateway, &token, &first, json!({"reason": reason})).await;
    assert_eq!(status, 201, "{asked}");
    assert_eq!(asked["status"], "open");
    assert_eq!(asked["order_id"], "LGPD-1");
    assert_eq!(asked["reason"], reason);
    assert_eq!(asked["answer"], Value::Null);
    let (status, again) = ask(gateway, &token, &first, json!({})).await;
    assert_eq!(status, 200, "asked before: {again}");
    assert_eq!(again["requested_at"], asked["requested_at"]);
    assert_eq!(again["reason"], reason, "the first request stands");

    let (status, problem) = ask(gateway, &token, &first, json!({"reason": "a\u{0}b"})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "reason");
    let (status, _) = ask(gateway, &token, "no-such-request", json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = ask(gateway, &other, &first, json!({})).await;
    assert_eq!(status, 404, "another company's decision is not found");
    let (status, _) =
        training::get(gateway, &other, &format!("/v1/decisions/{first}/review")).await;
    assert_eq!(status, 404);

    // Two more requests, for the queue.
    let second = decided(gateway, &token, "LGPD-2").await;
    let third = decided(gateway, &token, "LGPD-3").await;
    for id in [&second, &third] {
        let (status, body) = ask(gateway, &token, id, json!({})).await;
        assert_eq!(status, 201, "{body}");
    }

    // The analyst approves the first: an override outcome answers it.
    let report = json!({"reports": [{
        "request_id": first, "occurred_at": chrono::Utc::now().to_rfc3339(), "kind": "override",
        "direction": "approved_rejection", "reason_code": "limit-raised",
    }]});
    let (status, stored) = training::post(gateway, &token, "/v1/outcomes", report).await;
    assert_eq!(status, 200, "{stored}");
    let (status, answered) =
        training::get(gateway, &token, &format!("/v1/decisions/{first}/review")).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["status"], "answered");
    assert_eq!(answered["answer"]["direction"], "approved_rejection");
    assert_eq!(answered["answer"]["reason_code"], "limit-raised");

    let (_, open) = training::get(gateway, &token, "/v1/reviews?status=open").await;
    assert_eq!(ids(&open), [third.as_str(), second.as_str()]);
    let (_, done) = training::get(gateway, &token, "/v1/reviews?status=answered").await;
    assert_eq!(ids(&done), [first.as_str()]);
    // Paging: one at a time, newest first, each once.
    let mut seen = Vec::new();
    let mut query = "/v1/reviews?limit=1".to_owned();
    loop {
        let (status, page) = training::get(gateway, &token, &query).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("/v1/reviews?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [third.as_str(), second.as_str(), first.as_str()]);
    let (status, problem) = training::get(gateway, &token, "/v1/reviews?status=closed").await;
    assert_eq!(status, 422, "{problem}");
    let (_, theirs) = training::get(gateway, &other, "/v1/reviews").await;
    assert_eq!(theirs["reviews"], json!([]));

    // Audited once per request, in the company's log.
    let stop_audit = crate::audit::start_processor_on(pipeline.pipeline.catalogue.clone()).await;
    let page =
        crate::audit::audit_until(gateway, &token, "?kind=decision.review_requested", |page| {
            crate::audit::events_of(page).len() >= 3
        })
        .await;
    let events = crate::audit::events_of(&page);
    assert_eq!(events.len(), 3, "{page}");
    let firsts = events
        .iter()
        .filter(|e| e["details"]["request_id"] == first.as_str())
        .count();
    assert_eq!(firsts, 1, "asking again is not audited: {page}");
    stop_audit.cancel();
}
