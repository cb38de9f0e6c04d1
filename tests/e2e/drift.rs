//! Drift (`GET /v1/monitoring/drift`) on decisions made through the real pipeline: the version
//! trained here kept its training distributions, each decision its features; windows of the
//! decisions are compared with them, each verdict is its PSI against its threshold, and a
//! window of orders a hundred times larger than the training's names the amount among its
//! top drifting features. Decisions recorded without features are counted apart, and another
//! company sees nothing of it. (The false-alarm rate and the power of the test are shown on
//! synthetic streams, in `aval_core::monitoring`.)

use crate::common::{self, Gateway};
use crate::decisions_support::{Decisions, order, order_json, post_decision};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

async fn get(gateway: &Gateway, token: &str, query: &str) -> (u16, Value) {
    let response = gateway
        .http
        .get(gateway.url(&format!("/v1/monitoring/drift{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let at = |t: DateTime<Utc>| {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
            .replace('+', "%2B")
    };
    format!("?from={}&to={}", at(from), at(to))
}

/// Decides `count` orders of `cents` for the company's known customers.
pub(crate) async fn decide(gateway: &Gateway, token: &str, prefix: &str, count: usize, cents: i64) {
    for i in 0..count {
        let customer = format!("C{:05}", 1 + i % 6);
        let id = format!("{prefix}-{i:03}");
        let body = json!({"order": order_json(&order(&id, &customer, cents + (i as i64) * 1_000))});
        let (status, decision) = post_decision(gateway, token, "/v1/decisions", body, "en").await;
        assert_eq!(status, 200, "{decision}");
    }
}

/// What holds of every report: sizes, and each verdict is its PSI against its threshold.
fn consistent(report: &Value, decisions: u64) {
    assert_eq!(report["decisions"], decisions, "{report}");
    let features = report["features"].as_array().expect("features");
    assert!(!features.is_empty(), "{report}");
    for tested in features.iter().chain([&report["score"]]) {
        assert_eq!(tested["window_size"], decisions, "{tested}");
        assert!(tested["reference_size"].as_u64().expect("reference") > 0);
        let psi = tested["psi"].as_f64().expect("psi");
        let threshold = tested["threshold"].as_f64().expect("threshold");
        let cells = tested["bins"].as_u64().expect("bins");
        assert_eq!(tested["drifting"], cells > 1 && psi > threshold, "{tested}");
    }
    let any = features
        .iter()
        .chain([&report["score"]])
        .any(|f| f["drifting"] == true);
    assert_eq!(report["retrain_suggested"], any, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_the_feature_that_moved_and_stays_with_its_company() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let (company, token) = pipeline.trained_company().await;
    let (_, other) = gateway.register().await;

    let started = Utc::now();
    decide(gateway, &token, "D", 150, 200_000).await;
    let between = Utc::now();
    decide(gateway, &token, "L", 150, 20_000_000).await;
    let ended = Utc::now();

    let (status, usual) = get(gateway, &token, &window(started, between)).await;
    assert_eq!(status, 200, "{usual}");
    assert_eq!(usual["model_version"], 1);
    assert_eq!(usual["without_values"], 0);
    consistent(&usual, 150);

    let (status, large) = get(gateway, &token, &window(between, ended)).await;
    assert_eq!(status, 200, "{large}");
    consistent(&large, 150);
    assert_eq!(large["retrain_suggested"], true, "{large}");
    let top: Vec<&str> = large["top_drifting"]
        .as_array()
        .expect("top")
        .iter()
        .map(|n| n.as_str().expect("name"))
        .collect();
    assert!(!top.is_empty() && top.len() <= 3, "{large}");
    assert!(
        top.iter().any(|name| name.contains("amount")),
        "a hundredfold amount is named: {top:?}"
    );
    // Decisions recorded before aval kept features are left out, and counted.
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("database");
    let cleared = sqlx::query(
        "UPDATE decisions SET drift_values = NULL
         WHERE company_id = $1::uuid AND order_id < 'D-010'",
    )
    .bind(&company)
    .execute(&pool)
    .await
    .expect("cleared")
    .rows_affected();
    assert_eq!(cleared, 10);
    pool.close().await;
    let (status, older) = get(gateway, &token, &window(started, between)).await;
    assert_eq!(status, 200, "{older}");
    assert_eq!(older["without_values"], 10);
    consistent(&older, 140);

    // The default: the active version, over the last week.
    let (status, recent) = get(gateway, &token, "").await;
    assert_eq!(status, 200, "{recent}");
    let counted = recent["decisions"].as_u64().expect("decisions");
    assert!(counted >= 290, "{recent}");
    consistent(&recent, counted);

    // Another company: no model of its own, and nothing of this one's.
    let (status, problem) = get(gateway, &other, "").await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/no-model");
    let (status, problem) = get(gateway, &other, "?model_version=1").await;
    assert_eq!(status, 404, "{problem}");
    let (status, problem) = get(gateway, &token, "?model_version=9").await;
    assert_eq!(status, 404, "{problem}");

    let (status, problem) = get(gateway, &token, "?alpha=0.5&since=yesterday").await;
    assert_eq!(status, 422, "{problem}");
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["alpha", "since"]);
}
