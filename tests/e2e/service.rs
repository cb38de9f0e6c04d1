//! Health, readiness and metrics. (Production without AVAL_JWT_SECRET is no longer refused:
//! the key is generated, see tokens.rs.)

use crate::common::{self, Gateway};
use crate::processes::{Process, free_address};
use aval_topics::Catalogue;
use serde_json::Value;

#[tokio::test]
async fn ready_when_every_dependency_answers() {
    let gateway = Gateway::start().await;
    let health = gateway
        .http
        .get(gateway.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), 200);
    let ready = gateway
        .http
        .get(gateway.url("/readyz"))
        .send()
        .await
        .expect("request");
    let status = ready.status();
    let body: Value = ready.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn not_ready_names_the_dependency_that_is_down() {
    // A registry URL where nothing listens: port 9 (discard) on loopback.
    let state = common::app_state("http://127.0.0.1:9/apis/ccompat/v7").await;
    let gateway = Gateway::start_with(state).await;
    let ready = gateway
        .http
        .get(gateway.url("/readyz"))
        .send()
        .await
        .expect("request");
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["down"], serde_json::json!(["schema_registry"]));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let me = gateway
        .http
        .get(gateway.url("/v1/companies/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), 200);
    let text = gateway
        .http
        .get(gateway.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("aval_http_requests_total")
                && l.contains("route=\"/v1/companies/me\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no request counter for /v1/companies/me in:\n{text}"));
    let count: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("counter value");
    assert!(count >= 1.0);
    assert!(!text.contains(&token), "metrics must not leak tokens");
}

#[tokio::test]
async fn unknown_routes_are_problem_documents() {
    let gateway = Gateway::start().await;
    let response = gateway
        .http
        .get(gateway.url("/v1/nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

/// The real binary, every role in one process: ready, registers, audits, stops on SIGTERM.
#[tokio::test]
async fn aval_all_serves_audits_and_stops_cleanly_on_sigterm() {
    let address = free_address();
    // Topics of its own (`aval all` applies them): on the shared ones, its audit processor, of
    // a new group, would first read every event the other tests have produced.
    let prefix = format!("all-{}.", uuid::Uuid::new_v4().simple());
    let catalogue = Catalogue::new(&prefix, 1);
    let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}log"));
    let mut child = Process::start(
        "all",
        &catalogue,
        "e2e-all",
        &[("AVAL_HTTP_ADDR", address.clone())],
        Some(log),
    );
    let gateway = Gateway {
        base: format!("http://{address}"),
        http: reqwest::Client::new(),
    };
    let started = std::time::Instant::now();
    loop {
        if let Ok(response) = gateway.http.get(gateway.url("/readyz")).send().await
            && response.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < common::DEADLINE,
            "aval all never became ready"
        );
        if let Some(exit) = child.exited() {
            panic!("aval all exited early: {exit}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, token) = gateway.register().await;
    let started = std::time::Instant::now();
    loop {
        let page: Value = gateway
            .http
            .get(gateway.url("/v1/audit"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        if page["events"].as_array().is_some_and(|e| !e.is_empty()) {
            assert_eq!(page["events"][0]["kind"], "company.registered");
            break;
        }
        assert!(
            started.elapsed() < common::DEADLINE,
            "the registration never reached the audit log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let status = child.terminate(common::DEADLINE).await;
    assert!(status.success(), "aval all exited with {status}");
    common::delete_topics(&catalogue).await;
}
