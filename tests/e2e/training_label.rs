//! Outcomes as the label of a training: a company whose decided orders have matured with
//! repayment outcomes retrains with `label: outcomes`; the version learns from those orders
//! alone, bad as blocked, and records the label it learnt, beside versions that learnt the
//! company's own decisions.

use crate::common::{self, Gateway};
use crate::decisions_support::{Decisions, post_decision};
use crate::training::{get, learnable, post, wait_versions};
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Orders of the upload aval decides and whose repayment the company then reports.
const DECIDED: usize = 90;

async fn label_of(gateway: &Gateway, token: &str, version: i64) -> (Value, u64) {
    let (status, model) = get(gateway, token, &format!("/v1/models/{version}")).await;
    assert_eq!(status, 200, "{model}");
    let metrics = &model["metrics"];
    let examples = metrics["training_examples"].as_u64().expect("training")
        + metrics["holdout_examples"].as_u64().expect("holdout");
    (metrics["label"].clone(), examples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_learns_from_reported_outcomes_when_asked_and_says_which_label_it_learnt() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let data = learnable(150, 8);
    let (company, token) = pipeline.trained_company_on(&data).await;
    let (label, examples) = label_of(gateway, &token, 1).await;
    assert_eq!(label, "company_decision");
    assert_eq!(examples, data.orders.len() as u64);

    // Asked for outcomes before any is reported: nothing to learn from, and the reason says so.
    let (status, accepted) = post(
        gateway,
        &token,
        "/v1/models/retrain",
        json!({"label": "outcomes"}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let request_id = accepted["request_id"]
        .as_str()
        .expect("request id")
        .to_owned();
    let failed = wait_run(gateway, &token, &request_id).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    // aval decides some of the uploaded orders; they were decided long ago, and the company
    // reports how each was repaid: those it had blocked defaulted.
    let decided: Vec<&Value> = data.orders.iter().take(DECIDED).collect();
    for order in &decided {
        let mut order = (*order).clone();
        order.as_object_mut().expect("order").remove("outcome");
        let (status, decision) = post_decision(
            gateway,
            &token,
            "/v1/decisions",
            json!({"order": order}),
            "en",
        )
        .await;
        assert_eq!(status, 200, "{decision}");
    }
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("database");
    let moved = sqlx::query(
        "UPDATE decisions SET decided_at = decided_at - interval '200 days'
         WHERE company_id = $1::uuid",
    )
    .bind(&company)
    .execute(&pool)
    .await
    .expect("decisions of the past")
    .rows_affected();
    assert_eq!(moved, DECIDED as u64);
    pool.close().await;
    let repaid_at = (Utc::now() - Duration::days(190)).to_rfc3339_opts(SecondsFormat::Millis, true);
    let reports: Vec<Value> = decided
        .iter()
        .map(|order| {
            let kind = if order["outcome"] == "blocked" {
                "defaulted"
            } else {
                "paid_on_time"
            };
            json!({"order_id": order["id"], "occurred_at": repaid_at, "kind": kind})
        })
        .collect();
    let bad = reports.iter().filter(|r| r["kind"] == "defaulted").count();
    assert!(bad >= 10 && DECIDED - bad >= 10, "{bad} bad of {DECIDED}");
    let (status, stored) = post(gateway, &token, "/v1/outcomes", json!({"reports": reports})).await;
    assert_eq!(status, 200, "{stored}");

    let (status, accepted) = post(
        gateway,
        &token,
        "/v1/models/retrain",
        json!({"label": "outcomes"}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    wait_versions(gateway, &token, 2).await;
    let (label, examples) = label_of(gateway, &token, 2).await;
    assert_eq!(label, "outcomes");
    assert_eq!(
        examples, DECIDED as u64,
        "only the orders with a matured outcome"
    );

    // Without a label: the company's decisions, every order.
    let (status, _) = post(gateway, &token, "/v1/models/retrain", json!({})).await;
    assert_eq!(status, 202);
    wait_versions(gateway, &token, 3).await;
    let (label, examples) = label_of(gateway, &token, 3).await;
    assert_eq!(label, "company_decision");
    assert_eq!(examples, data.orders.len() as u64);

    let (status, problem) = post(
        gateway,
        &token,
        "/v1/models/retrain",
        json!({"label": "gut_feeling"}),
    )
    .await;
    assert!(status == 400 || status == 422, "{status} {problem}");
}

/// The training run of `request_id` once it has finished or failed.
async fn wait_run(gateway: &Gateway, token: &str, request_id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (_, runs) = get(gateway, token, "/v1/models/runs").await;
        if let Some(run) = runs["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["request_id"] == request_id)
            && (run["status"] == "finished" || run["status"] == "failed")
        {
            return run.clone();
        }
        assert!(started.elapsed() < common::DEADLINE, "{runs}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}
