//! The decision policy on the real pipeline: a policy is checked against the active model's
//! features when saved (422 naming each problem), saved as a version and audited, and in
//! force for the company's next decisions: a hard rule rejects with its reason first, a refer
//! band sends orders to review; each decision records the policy version, band and rules.
//! A candidate replayed on past decisions says what would change without changing anything.
//! Another company's decisions and policy stay its own.

use crate::common::{DEADLINE, Gateway};
use crate::decisions_support::{Decisions, order, order_json, post_decision};
use crate::training;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn put(gateway: &Gateway, token: &str, body: &Value) -> (u16, Value) {
    let response = gateway
        .http
        .put(gateway.url("/v1/policy"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn reason(en: &str, pt: &str) -> Value {
    json!({"en": en, "pt-BR": pt})
}

/// Every order has an amount: this rule rejects them all.
pub fn reject_all() -> Value {
    json!({
        "rules": [{
            "id": "any-amount", "feature": "terms.amount", "operator": "above", "value": 0,
            "action": "reject",
            "reason": reason("Orders of any amount are held while the test runs",
                             "Pedidos de qualquer valor ficam retidos durante o teste"),
        }],
    })
}

/// Every probability is in the band: every order goes to review.
fn review_all() -> Value {
    json!({"refer_bands": [{"from": 0.0, "to": 1.0}], "cutoff": {"kind": "probability", "probability": 0.5}})
}

/// Decides new orders until one is decided under policy `version` (the scorers read a saved
/// policy within about a second), and returns that decision.
async fn decided_under(
    gateway: &Gateway,
    token: &str,
    prefix: &str,
    version: i64,
    language: &str,
) -> Value {
    let started = Instant::now();
    for i in 0.. {
        let id = format!("{prefix}-{i:04}");
        let body = json!({"order": order_json(&order(&id, "C00001", 250_000))});
        let (status, decision) =
            post_decision(gateway, token, "/v1/decisions", body, language).await;
        assert_eq!(status, 200, "{decision}");
        if decision["policy"]["version"] == version {
            return decision;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "never decided under version {version}: {decision}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_checked_versioned_audited_in_force_and_replayable() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let (_, token) = pipeline.trained_company().await;
    let (_, untrained) = gateway.register().await;
    let started = chrono::Utc::now();

    let (status, problem) = training::get(gateway, &token, "/v1/policy").await;
    assert_eq!(status, 404, "{problem}");
    let (status, none) = training::get(gateway, &token, "/v1/policy/versions").await;
    assert_eq!((status, &none["versions"]), (200, &json!([])), "{none}");

    // Checked against the model: each problem named.
    let bad = json!({
        "rules": [
            {"id": "ghost", "feature": "bureau.ghosts", "operator": "above", "value": 1, "action": "reject",
             "reason": reason("The customer has ghosts on the bureau record", "O cliente tem fantasmas no registro do birô")},
            {"id": "vague", "feature": "terms.amount", "operator": "above", "value": 1, "action": "review",
             "reason": reason("Internal credit policy decision", "Análise de crédito por política interna")},
        ],
        "refer_bands": [{"from": 0.2, "to": 0.4}, {"from": 0.3, "to": 0.5}],
    });
    let (status, problem) = put(gateway, &token, &bad).await;
    assert_eq!(status, 422, "{problem}");
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "refer_bands[1]",
            "rules[0].feature",
            "rules[1].reason.en",
            "rules[1].reason.pt-BR"
        ]
    );
    let (status, problem) = put(gateway, &untrained, &review_all()).await;
    assert_eq!(status, 409, "no model to check against: {problem}");

    // Version 1: a hard rule rejects every order, its reason first.
    let (status, saved) = put(gateway, &token, &reject_all()).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["model_version"], 1);
    let decision = decided_under(gateway, &token, "R", 1, "en").await;
    assert_eq!(decision["decision"], "rejected", "{decision}");
    assert_eq!(decision["policy"]["band"], "rule");
    assert_eq!(decision["policy"]["rules_fired"], json!(["any-amount"]));
    let reasons = decision["reasons"].as_array().expect("reasons");
    assert!(!reasons.is_empty() && reasons.len() <= 4, "{decision}");
    assert_eq!(
        reasons[0]["sentence"],
        "Orders of any amount are held while the test runs"
    );
    let in_portuguese = decided_under(gateway, &token, "RP", 1, "pt-BR").await;
    assert_eq!(
        in_portuguese["reasons"][0]["sentence"],
        "Pedidos de qualquer valor ficam retidos durante o teste"
    );
    // The same policy again saves nothing.
    let (status, again) = put(gateway, &token, &reject_all()).await;
    assert_eq!((status, &again["version"]), (200, &json!(1)), "{again}");

    // Version 2: every probability in a refer band, every order to review.
    let (status, saved) = put(gateway, &token, &review_all()).await;
    assert_eq!((status, &saved["version"]), (200, &json!(2)), "{saved}");
    let referred = decided_under(gateway, &token, "V", 2, "en").await;
    assert_eq!(referred["decision"], "review", "{referred}");
    assert_eq!(referred["policy"]["band"], "refer");
    assert_eq!(referred["policy"]["rules_fired"], json!([]));
    assert!((referred["threshold"].as_f64().expect("threshold") - 0.5).abs() < 1e-12);
    let request_id = referred["request_id"].as_str().expect("request id");
    let (status, recorded) =
        training::get(gateway, &token, &format!("/v1/decisions/{request_id}")).await;
    assert_eq!(status, 200, "{recorded}");
    assert_eq!(recorded["decision"], "review");
    assert_eq!(recorded["policy"], referred["policy"]);
    let (status, listed) = training::get(gateway, &token, "/v1/decisions?decision=review").await;
    assert_eq!(status, 200, "{listed}");
    assert!(
        listed["decisions"]
            .as_array()
            .expect("decisions")
            .iter()
            .any(|d| d["request_id"] == request_id),
        "{listed}"
    );

    let (_, current) = training::get(gateway, &token, "/v1/policy").await;
    assert_eq!(current["version"], 2);
    assert_eq!(
        current["policy"]["refer_bands"],
        json!([{"from": 0.0, "to": 1.0}])
    );
    let (_, versions) = training::get(gateway, &token, "/v1/policy/versions").await;
    let numbers: Vec<&Value> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(numbers, [&json!(2), &json!(1)]);

    // Replay version 1's rule on everything decided here: every decision rejected by it.
    let (status, replayed) = training::post(
        gateway,
        &token,
        "/v1/policy/replay",
        json!({"policy": reject_all(), "from": started, "limit": 100_000}),
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    let judged = replayed["decisions"].as_u64().expect("decisions");
    assert!(judged >= 3, "{replayed}");
    assert_eq!(replayed["without_values"], 0);
    assert_eq!(replayed["current_version"], 2);
    assert_eq!(replayed["after"]["rejected"], judged, "{replayed}");
    assert_eq!(replayed["rules_fired"]["any-amount"], judged);
    assert_eq!(replayed["bands"]["rule"], judged);
    let before = &replayed["before"];
    let not_rejected =
        before["approved"].as_u64().expect("n") + before["review"].as_u64().expect("n");
    assert_eq!(replayed["changed"], not_rejected, "{replayed}");
    assert!(before["review"].as_u64() >= Some(1), "{replayed}");
    let (_, still) = training::get(gateway, &token, "/v1/policy").await;
    assert_eq!(still["version"], 2, "a replay saves nothing");
    let (status, problem) = training::post(
        gateway,
        &token,
        "/v1/policy/replay",
        json!({"policy": bad, "limit": 0}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["field"] == "limit"),
        "{problem}"
    );

    // Both changes are in the company's audit log, and the referred decision.
    let stop_audit = crate::audit::start_processor_on(pipeline.pipeline.catalogue.clone()).await;
    let page = crate::audit::audit_until(gateway, &token, "?kind=policy.changed", |page| {
        crate::audit::events_of(page).len() >= 2
    })
    .await;
    let versions: Vec<Value> = crate::audit::events_of(&page)
        .iter()
        .map(|e| e["details"]["version"].clone())
        .collect();
    assert_eq!(versions, [json!("2"), json!("1")], "{page}");
    let (_, referred_events) =
        crate::audit::audit_page(gateway, &token, "?kind=decision.referred").await;
    assert!(
        referred_events["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["details"]["request_id"] == request_id
                && e["details"]["policy_version"] == "2"
                && e["details"]["band"] == "refer"),
        "{referred_events}"
    );
    stop_audit.cancel();

    // Another company: its own decisions follow no policy, and it sees none.
    let (_, other) = pipeline.trained_company().await;
    let body = json!({"order": order_json(&order("OTHER-1", "C00001", 250_000))});
    let (status, theirs) = post_decision(gateway, &other, "/v1/decisions", body, "en").await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["policy"], Value::Null, "{theirs}");
    assert_ne!(theirs["decision"], "review");
    let (status, _) = training::get(gateway, &other, "/v1/policy").await;
    assert_eq!(status, 404);
    let (_, versions) = training::get(gateway, &other, "/v1/policy/versions").await;
    assert_eq!(versions["versions"], json!([]));
}
