use super::*;
use crate::telemetry::prometheus;
use aval_store::companies::Company;
use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::post;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Each held request waits on the gate its `x-gate` header names.
type Gates = Arc<HashMap<String, Arc<Semaphore>>>;

async fn hold(State(gates): State<Gates>, request: Request) -> &'static str {
    let gate = request
        .headers()
        .get("x-gate")
        .and_then(|v| v.to_str().ok())
        .and_then(|name| gates.get(name))
        .cloned();
    if let Some(gate) = gate
        && let Ok(permit) = gate.acquire().await
    {
        permit.forget();
    }
    "decided"
}

/// Stands for `auth::authenticate`: the company is the `x-company` header.
async fn fake_auth(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-company")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok());
    if let Some(id) = id {
        request.extensions_mut().insert(Authenticated {
            company: Company {
                id,
                name: "Acme".to_owned(),
                email: "a@b.co".to_owned(),
                registered_at: chrono::Utc::now(),
                deactivated_at: None,
            },
            jti: Uuid::nil(),
        });
    }
    next.run(request).await
}

fn router(admission: &Admission, gates: Gates) -> Router {
    let one = Router::new()
        .route("/one", post(hold))
        .route_layer(from_fn_with_state(admission.decisions.clone(), admit_one));
    let batch = Router::new()
        .route("/batch", post(hold))
        .route_layer(from_fn_with_state(admission.decisions.clone(), admit_batch));
    let upload = Router::new()
        .route("/upload", post(hold))
        .route_layer(from_fn_with_state(admission.uploads.clone(), admit_one));
    one.merge(batch)
        .merge(upload)
        .route_layer(axum::middleware::from_fn(fake_auth))
        .with_state(gates)
}

fn gates(names: &[&str]) -> Gates {
    Arc::new(
        names
            .iter()
            .map(|n| ((*n).to_owned(), Arc::new(Semaphore::new(0))))
            .collect(),
    )
}

fn request(path: &str, company: Uuid, gate: &str, body: &str) -> Request {
    Request::builder()
        .method("POST")
        .uri(path)
        .header("x-company", company.to_string())
        .header("x-gate", gate)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

/// Sends a request that will wait at its gate; returns once `in_flight` has reached `total`.
async fn send_held(
    router: &Router,
    in_flight: &InFlight,
    request: Request,
    total: usize,
) -> tokio::task::JoinHandle<StatusCode> {
    let router = router.clone();
    let handle = tokio::spawn(async move {
        router
            .oneshot(request)
            .await
            .map(|r| r.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    });
    wait_for_total(in_flight, total).await;
    handle
}

async fn wait_for_total(in_flight: &InFlight, total: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight.total() != total {
        assert!(
            Instant::now() < deadline,
            "in flight {} never became {total}",
            in_flight.total()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The answer to a request that must not wait (refused, or let through to an open gate).
async fn refused(router: &Router, request: Request) -> (StatusCode, Option<HeaderValue>, Value) {
    let response = tokio::time::timeout(Duration::from_secs(2), router.clone().oneshot(request))
        .await
        .expect("answered at once, not held")
        .expect("answered");
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        retry_after,
        serde_json::from_slice(&body).unwrap_or_default(),
    )
}

use serde_json::Value;

#[tokio::test]
async fn a_company_over_its_limit_is_refused_at_once_while_others_are_admitted() {
    prometheus();
    let admission = Admission::new(Limits {
        decisions: 3,
        decisions_per_company: 2,
        uploads_per_company: 1,
    });
    let gates = gates(&["a", "b"]);
    let router = router(&admission, gates.clone());
    let in_flight = &admission.decisions;
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());

    let a1 = send_held(&router, in_flight, request("/one", a, "a", ""), 1).await;
    let a2 = send_held(&router, in_flight, request("/one", a, "a", ""), 2).await;
    let started = Instant::now();
    let (status, retry_after, problem) = refused(&router, request("/one", a, "a", "")).await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after, Some(HeaderValue::from_static("1")));
    assert_eq!(problem["limit"], "decisions_per_company");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("AVAL_MAX_INFLIGHT_DECISIONS_PER_COMPANY")),
        "{problem}"
    );

    // Another company is admitted meanwhile, up to the gateway's limit.
    let b1 = send_held(&router, in_flight, request("/one", b, "b", ""), 3).await;
    let (status, retry_after, problem) = refused(&router, request("/one", c, "b", "")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after.is_some());
    assert_eq!(problem["limit"], "decisions");
    assert_eq!(in_flight.companies(), 2);

    // A released slot admits again.
    gates["a"].add_permits(1);
    wait_for_total(in_flight, 2).await;
    let a3 = send_held(&router, in_flight, request("/one", a, "a", ""), 3).await;

    gates["a"].add_permits(2);
    gates["b"].add_permits(1);
    for handle in [a1, a2, a3, b1] {
        assert_eq!(handle.await.expect("joined"), StatusCode::OK);
    }
    wait_for_total(in_flight, 0).await;
    assert_eq!(
        in_flight.companies(),
        0,
        "bookkeeping of idle companies kept"
    );

    let metrics = prometheus().render();
    assert!(metrics.contains("aval_gateway_shed_total{limit=\"decisions_per_company\"}"));
    assert!(metrics.contains("aval_gateway_shed_total{limit=\"decisions\"}"));
    for id in [a, b, c] {
        assert!(
            !metrics.contains(&id.to_string()),
            "a company id became a label"
        );
    }
}

#[tokio::test]
async fn uploads_over_the_company_limit_get_429() {
    let admission = Admission::new(Limits {
        decisions: 10,
        decisions_per_company: 10,
        uploads_per_company: 1,
    });
    let gates = gates(&["a"]);
    let router = router(&admission, gates.clone());
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let held = send_held(
        &router,
        &admission.uploads,
        request("/upload", a, "a", ""),
        1,
    )
    .await;
    let (status, retry_after, problem) = refused(&router, request("/upload", a, "a", "")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after, Some(HeaderValue::from_static("1")));
    assert_eq!(problem["limit"], "uploads_per_company");
    // Another company's upload and the same company's decisions are not held back.
    let (status, _, _) = refused(&router, request("/upload", b, "none", "")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = refused(&router, request("/one", a, "none", "")).await;
    assert_eq!(status, StatusCode::OK);
    gates["a"].add_permits(1);
    assert_eq!(held.await.expect("joined"), StatusCode::OK);
    wait_for_total(&admission.uploads, 0).await;
    assert_eq!(admission.uploads.companies(), 0);
}

#[tokio::test]
async fn a_batch_counts_as_its_orders_and_at_most_the_company_limit() {
    let admission = Admission::new(Limits {
        decisions: 10,
        decisions_per_company: 4,
        uploads_per_company: 1,
    });
    let gates = gates(&["a", "b"]);
    let router = router(&admission, gates.clone());
    let in_flight = &admission.decisions;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let batch_a = send_held(
        &router,
        in_flight,
        request("/batch", a, "a", r#"{"orders": [{}, {}, {}]}"#),
        3,
    )
    .await;
    let single_a = send_held(&router, in_flight, request("/one", a, "a", ""), 4).await;
    let (status, _, _) = refused(&router, request("/one", a, "a", "")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // 500 orders from an idle company: admitted, as 4.
    let orders = vec!["{}"; 500].join(",");
    let batch_b = send_held(
        &router,
        in_flight,
        request("/batch", b, "b", &format!("{{\"orders\": [{orders}]}}")),
        8,
    )
    .await;
    // The handler still gets the whole body; not a batch at all counts as one.
    let (status, _, _) = refused(&router, request("/batch", Uuid::new_v4(), "none", "[")).await;
    assert_eq!(status, StatusCode::OK);
    gates["a"].add_permits(2);
    gates["b"].add_permits(1);
    for handle in [batch_a, single_a, batch_b] {
        assert_eq!(handle.await.expect("joined"), StatusCode::OK);
    }
    wait_for_total(in_flight, 0).await;
    assert_eq!(in_flight.companies(), 0);
}

#[tokio::test]
async fn a_client_that_goes_away_frees_its_slot() {
    let admission = Admission::new(Limits {
        decisions: 1,
        decisions_per_company: 1,
        uploads_per_company: 1,
    });
    let gates = gates(&["never"]);
    let router = router(&admission, gates);
    let a = Uuid::new_v4();
    let held = send_held(
        &router,
        &admission.decisions,
        request("/one", a, "never", ""),
        1,
    )
    .await;
    held.abort();
    wait_for_total(&admission.decisions, 0).await;
    assert_eq!(admission.decisions.companies(), 0);
}
