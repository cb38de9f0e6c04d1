//! A tiny in-process imitation of the gateway's dataset API (the contract the uploader codes
//! against), with switches to fail a batch once, lose the 202 of a stored batch, or fail a batch
//! always; and the uploader's tests against it. A unit-level fake: the real end-to-end tests
//! run against the real gateway.

use super::Kind;
use super::state::Counts;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub(super) struct Behaviour {
    pub token: String,
    /// Idempotency keys answered 503 the first time, before anything is stored.
    pub fail_once: HashSet<String>,
    /// Keys whose batch is stored but whose answer is lost (502) the first time.
    pub lose_once: HashSet<String>,
    /// Keys answered 503 every time.
    pub fail_always: HashSet<String>,
    /// Status polls answered `validating` after completion, before the verdict.
    pub validating_polls: u32,
}

#[derive(Debug, Default, Clone)]
pub(super) struct FakeDataset {
    /// Stored batches: Idempotency-Key → items.
    pub stored: HashMap<String, usize>,
    pub received: Counts,
    pub announced: Option<Counts>,
    pub polls: u32,
}

#[derive(Debug, Default)]
pub(super) struct Fake {
    pub behaviour: Behaviour,
    pub datasets: BTreeMap<String, FakeDataset>,
    /// Requests per Idempotency-Key.
    pub requests: HashMap<String, u32>,
    next_id: u32,
}

pub(super) type Shared = Arc<Mutex<Fake>>;

fn problem(status: StatusCode, detail: &str, errors: Vec<Value>) -> Response {
    let body = json!({"status": status.as_u16(), "detail": detail, "errors": errors});
    (
        status,
        [("content-type", "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn authorized(fake: &Fake, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", fake.behaviour.token);
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn create(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut fake = lock(&shared);
    if !authorized(&fake, &headers) {
        return problem(StatusCode::UNAUTHORIZED, "bad token", Vec::new());
    }
    fake.next_id += 1;
    let id = format!("00000000-0000-4000-8000-{:012}", fake.next_id);
    fake.datasets.insert(id.clone(), FakeDataset::default());
    (
        StatusCode::CREATED,
        axum::Json(json!({"dataset_id": id, "status": "receiving"})),
    )
        .into_response()
}

fn required(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Customers => &["id"],
        Kind::Orders => &["id", "customer_id", "issued_at", "amount"],
        Kind::CreditLimits => &["customer_id", "limit", "valid_from"],
        Kind::BureauReports => &["customer_id", "queried_at"],
    }
}

async fn post_to_dataset(
    State(shared): State<Shared>,
    Path((id, segment)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut fake = lock(&shared);
    if !authorized(&fake, &headers) {
        return problem(StatusCode::UNAUTHORIZED, "bad token", Vec::new());
    }
    let Some(dataset) = fake.datasets.get(&id) else {
        return problem(StatusCode::NOT_FOUND, "no such dataset", Vec::new());
    };
    let completed = dataset.announced.is_some();
    if segment == "complete" {
        if completed {
            return problem(StatusCode::CONFLICT, "already completed", Vec::new());
        }
        let Ok(counts) = serde_json::from_str::<Value>(&body)
            .and_then(|v| serde_json::from_value::<Counts>(v["counts"].clone()))
        else {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "bad counts", Vec::new());
        };
        if let Some(dataset) = fake.datasets.get_mut(&id) {
            dataset.announced = Some(counts);
        }
        return (StatusCode::ACCEPTED, axum::Json(json!({"dataset_id": id}))).into_response();
    }
    let Some(kind) = Kind::UPLOAD_ORDER
        .into_iter()
        .find(|k| k.path_segment() == segment)
    else {
        return problem(StatusCode::NOT_FOUND, "no such route", Vec::new());
    };
    if completed {
        return problem(StatusCode::CONFLICT, "already completed", Vec::new());
    }
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Idempotency-Key missing",
            Vec::new(),
        );
    };
    *fake.requests.entry(key.clone()).or_default() += 1;
    if fake.behaviour.fail_always.contains(&key) || fake.behaviour.fail_once.remove(&key) {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "try later", Vec::new());
    }
    let items = match serde_json::from_str::<Value>(&body) {
        Ok(Value::Object(mut body)) => match body.remove("items") {
            Some(Value::Array(items)) => items,
            _ => return problem(StatusCode::BAD_REQUEST, "no items", Vec::new()),
        },
        _ => return problem(StatusCode::BAD_REQUEST, "not JSON", Vec::new()),
    };
    if items.len() > 500 {
        return problem(StatusCode::PAYLOAD_TOO_LARGE, "over 500 items", Vec::new());
    }
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        for field in required(kind) {
            if item.get(field).is_none() {
                errors.push(json!({"field": format!("items[{i}].{field}"), "reason": "required"}));
            }
        }
    }
    if !errors.is_empty() {
        let detail = format!("{} invalid field(s)", errors.len());
        return problem(StatusCode::UNPROCESSABLE_ENTITY, &detail, errors);
    }
    let lose = fake.behaviour.lose_once.remove(&key);
    let Some(dataset) = fake.datasets.get_mut(&id) else {
        return problem(StatusCode::NOT_FOUND, "no such dataset", Vec::new());
    };
    if !dataset.stored.contains_key(&key) {
        dataset.stored.insert(key.clone(), items.len());
        let before = dataset.received.get(kind);
        dataset.received.set(kind, before + items.len() as u64);
    }
    if lose {
        return problem(StatusCode::BAD_GATEWAY, "answer lost", Vec::new());
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"dataset_id": id, "batch_id": key, "items": items.len()})),
    )
        .into_response()
}

async fn status(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut fake = lock(&shared);
    if !authorized(&fake, &headers) {
        return problem(StatusCode::UNAUTHORIZED, "bad token", Vec::new());
    }
    let validating_polls = fake.behaviour.validating_polls;
    let Some(dataset) = fake.datasets.get_mut(&id) else {
        return problem(StatusCode::NOT_FOUND, "no such dataset", Vec::new());
    };
    let mut reasons = Vec::new();
    let status = match dataset.announced {
        None => "receiving",
        Some(announced) => {
            dataset.polls += 1;
            if dataset.polls <= validating_polls {
                "validating"
            } else if announced == dataset.received {
                "ready"
            } else {
                reasons.push("the announced counts differ from the items received".to_owned());
                "rejected"
            }
        }
    };
    axum::Json(json!({
        "dataset_id": id,
        "status": status,
        "counts": {"received": dataset.received, "stored": dataset.received},
        "announced": dataset.announced,
        "rejection_reasons": reasons,
        "created_at": "2026-11-27T12:00:00Z",
    }))
    .into_response()
}

/// Serves the fake on a free local port; returns its base URL.
pub(super) async fn start(shared: Shared) -> anyhow::Result<String> {
    let app = Router::new()
        .route("/v1/datasets", post(create))
        .route("/v1/datasets/{id}", get(status))
        .route("/v1/datasets/{id}/{segment}", post(post_to_dataset))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{address}"))
}

#[cfg(test)]
mod tests {
    use super::super::client::RetryPolicy;
    use super::super::run::{self, Options};
    use super::super::state::UploadState;
    use super::*;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Duration;

    const TOKEN: &str = "test-token";

    fn shared(behaviour: Behaviour) -> Shared {
        Arc::new(Mutex::new(Fake {
            behaviour: Behaviour {
                token: TOKEN.to_owned(),
                ..behaviour
            },
            ..Fake::default()
        }))
    }

    /// 1 203 customers (the one on line 1004 has no id), 600 credit limits as CSV, 10 bureau
    /// reports, 1 100 orders.
    fn folder(name: &str, with_invalid_customer: bool) -> anyhow::Result<PathBuf> {
        let dir = std::env::temp_dir().join(format!("aval-upload-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let customers: String = (1..=1203)
            .map(|i| {
                if with_invalid_customer && i == 1004 {
                    "{\"document\":\"11222333000181\"}\n".to_owned()
                } else {
                    format!("{{\"id\":\"C{i}\",\"attributes\":{{\"segment\":\"retail\"}}}}\n")
                }
            })
            .collect();
        std::fs::write(dir.join("customers.jsonl"), customers)?;
        let limits: String = std::iter::once("customer_id,limit,valid_from\n".to_owned())
            .chain((1..=600).map(|i| format!("C{i},1000.00,2024-01-01\n")))
            .collect();
        std::fs::write(dir.join("credit_limits.csv"), limits)?;
        let reports: String = (1..=10)
            .map(|i| {
                format!("{{\"customer_id\":\"C{i}\",\"queried_at\":\"2024-03-01T10:00:00Z\"}}\n")
            })
            .collect();
        std::fs::write(dir.join("bureau_reports.jsonl"), reports)?;
        let orders: String = (1..=1100)
            .map(|i| {
                format!(
                    "{{\"id\":\"O{i}\",\"customer_id\":\"C1\",\"issued_at\":\"2024-03-05T12:00:00Z\",\"amount\":\"10.00\",\"outcome\":\"approved\"}}\n"
                )
            })
            .collect();
        std::fs::write(dir.join("orders.jsonl"), orders)?;
        Ok(dir)
    }

    fn options(dir: &std::path::Path, gateway: &str) -> Options {
        Options {
            dir: dir.to_owned(),
            gateway: gateway.to_owned(),
            token: TOKEN.to_owned(),
            concurrency: 3,
            restart: false,
            wait: true,
            wait_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(5),
            retry: RetryPolicy {
                attempts: 3,
                first_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            },
            progress: false,
        }
    }

    async fn upload(options: &Options) -> (anyhow::Result<run::Report>, String) {
        let mut out = Vec::new();
        let result = run::run(options, &mut out).await;
        (result, String::from_utf8_lossy(&out).into_owned())
    }

    fn total_requests(shared: &Shared) -> u32 {
        lock(shared).requests.values().sum()
    }

    #[tokio::test]
    async fn refusals_retries_and_lost_answers_end_in_exact_counts() -> anyhow::Result<()> {
        let fake = shared(Behaviour {
            fail_once: HashSet::from(["credit_limits-000001".to_owned()]),
            lose_once: HashSet::from(["customers-000001".to_owned()]),
            validating_polls: 2,
            ..Behaviour::default()
        });
        let url = start(fake.clone()).await?;
        let dir = folder("full", true)?;
        let (report, out) = upload(&options(&dir, &url)).await;
        let report = report?;

        // Batch 2 of customers (items 1000..1203) was refused for the item on line 1004.
        assert_eq!(report.refused_batches, 1, "{out}");
        assert!(
            out.contains("customers.jsonl:1004: items[3].id: required"),
            "{out}"
        );
        assert!(
            out.contains("customers: 1 batch(es) refused, 203 items not stored"),
            "{out}"
        );
        let expected = Counts {
            customers: 1000,
            credit_limits: 600,
            bureau_reports: 10,
            orders: 1100,
        };
        assert_eq!(report.accepted, expected);
        assert_eq!(
            report.exit_code(),
            ExitCode::from(run::EXIT_REFUSED_OR_REJECTED)
        );
        let status = report.status.clone().expect("waited");
        assert_eq!(status.status, "ready", "{out}");
        assert!(
            out.contains("stored:   customers 1000, credit_limits 600"),
            "{out}"
        );
        {
            let fake = lock(&fake);
            assert_eq!(fake.datasets.len(), 1);
            let dataset = fake.datasets.values().next().expect("one dataset");
            // The batch whose 202 was lost was re-sent with its key and stored once.
            assert_eq!(fake.requests["customers-000001"], 2);
            assert_eq!(fake.requests["credit_limits-000001"], 2);
            assert_eq!(fake.requests["orders-000002"], 1);
            assert_eq!(dataset.received, expected);
            assert_eq!(dataset.announced, Some(expected));
        }
        let state = UploadState::load(&dir)?.expect("state kept");
        assert!(state.completed.is_some());

        // Running again only reads the status: nothing is sent twice.
        let before = total_requests(&fake);
        let (again, out) = upload(&options(&dir, &url)).await;
        let again = again?;
        assert!(out.contains("already completed"), "{out}");
        assert!(out.contains("customers.jsonl:1004"), "{out}");
        assert_eq!(total_requests(&fake), before);
        assert_eq!(again.accepted, expected);
        assert_eq!(again.refused_batches, 1);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn an_interrupted_upload_resumes_where_it_stopped() -> anyhow::Result<()> {
        let fake = shared(Behaviour {
            fail_always: HashSet::from(["orders-000001".to_owned()]),
            ..Behaviour::default()
        });
        let url = start(fake.clone()).await?;
        let dir = folder("resume", false)?;
        let options = options(&dir, &url);

        // Orders batch 1 keeps failing: the run stops without completing, nothing is lost.
        let (first, _) = upload(&options).await;
        let error = format!("{:#}", first.expect_err("undeliverable batch"));
        assert!(error.contains("re-run"), "{error}");
        assert!(
            error.contains("orders batch 1 (orders.jsonl:501-1000)"),
            "{error}"
        );
        let state = UploadState::load(&dir)?.expect("state");
        assert!(state.completed.is_none());
        assert_eq!(state.pending(super::super::Kind::Orders, 3), [1]);
        assert_eq!(lock(&fake).requests["orders-000001"], 3);

        // The gateway forgot the dataset: the upload stops and says what to do.
        let saved = std::mem::take(&mut lock(&fake).datasets);
        let (lost, _) = upload(&options).await;
        let error = format!("{:#}", lost.expect_err("unknown dataset"));
        assert!(
            error.contains("404") && error.contains("--restart"),
            "{error}"
        );
        lock(&fake).datasets = saved;

        // Once the gateway recovers, only the missing batch is sent, into the same dataset.
        lock(&fake).behaviour.fail_always.clear();
        let (second, out) = upload(&options).await;
        let second = second?;
        assert!(out.contains("resuming"), "{out}");
        assert_eq!(second.exit_code(), ExitCode::SUCCESS, "{out}");
        assert_eq!(second.accepted.customers, 1203);
        assert_eq!(second.accepted.orders, 1100);
        {
            let fake = lock(&fake);
            assert_eq!(fake.datasets.len(), 1);
            assert_eq!(fake.requests["customers-000000"], 1);
            assert_eq!(fake.requests["orders-000000"], 1);
            assert_eq!(fake.requests["orders-000002"], 1);
            assert_eq!(fake.requests["orders-000001"], 4);
        }

        // --restart starts a new dataset.
        let restart = Options {
            restart: true,
            wait: false,
            ..options.clone()
        };
        let (third, _) = upload(&restart).await;
        assert_ne!(third?.dataset_id, second.dataset_id);
        assert_eq!(lock(&fake).datasets.len(), 2);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_gateway_stops_the_upload_instead_of_retrying_every_batch()
    -> anyhow::Result<()> {
        let fake = shared(Behaviour {
            fail_always: HashSet::from(["customers-000000".to_owned()]),
            ..Behaviour::default()
        });
        let url = start(fake.clone()).await?;
        let dir = folder("stop", false)?;
        let one_at_a_time = Options {
            concurrency: 1,
            ..options(&dir, &url)
        };
        let (result, _) = upload(&one_at_a_time).await;
        let error = format!("{:#}", result.expect_err("gave up"));
        assert!(
            error.contains("customers batch 0 (customers.jsonl:1-500)"),
            "{error}"
        );
        assert!(error.contains("HTTP 503"), "{error}");
        let fake = lock(&fake);
        // Three attempts at the failing batch, and nothing else was sent.
        assert_eq!(fake.requests.len(), 1, "{:?}", fake.requests);
        assert_eq!(fake.requests["customers-000000"], 3);
        drop(fake);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn a_bad_token_stops_at_once_and_a_slow_verdict_times_out() -> anyhow::Result<()> {
        let fake = shared(Behaviour {
            validating_polls: u32::MAX,
            ..Behaviour::default()
        });
        let url = start(fake.clone()).await?;
        let dir = folder("token", false)?;
        let bad = Options {
            token: "wrong".to_owned(),
            ..options(&dir, &url)
        };
        let (result, _) = upload(&bad).await;
        let error = format!("{:#}", result.expect_err("401"));
        assert!(
            error.contains("401") && error.contains("AVAL_TOKEN"),
            "{error}"
        );
        assert_eq!(total_requests(&fake), 0);

        let slow = Options {
            wait_timeout: Duration::from_millis(50),
            ..options(&dir, &url)
        };
        let (report, out) = upload(&slow).await;
        let report = report?;
        assert!(report.timed_out, "{out}");
        assert_eq!(report.exit_code(), ExitCode::from(run::EXIT_WAIT_TIMED_OUT));
        assert!(out.contains("validating"), "{out}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
