//! The gateway's dataset API as the uploader uses it, with retries: connection errors, 408, 429
//! and 5xx are transient and retried with exponential backoff (honouring `Retry-After`) up to a
//! bounded number of attempts; 422 and other 4xx refuse the batch for good; 401, 403, 404 and
//! 409 stop the whole upload (every further batch would fail the same way).

use super::Kind;
use super::state::{Counts, ItemError, MAX_ERRORS_KEPT, Refusal};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (after `attempt` failures, from 1): doubling from
    /// `first_delay`, at most `max_delay`, with up to a quarter of jitter so that concurrent
    /// requests do not retry in step; `Retry-After` when the server gave one (capped too).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let doubled = self
            .first_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let base = doubled.min(self.max_delay);
        let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0.75..=1.0);
        base.mul_f64(jitter)
    }
}

/// What a response status means for the request that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Disposition {
    Success,
    /// Try again later: the request may succeed then.
    Retry,
    /// The request (a batch) is refused for good; the upload goes on.
    Refused,
    /// Nothing further can succeed: stop the upload.
    Abort,
}

pub(super) fn classify(status: StatusCode) -> Disposition {
    match status.as_u16() {
        200..=299 => Disposition::Success,
        408 | 425 | 429 => Disposition::Retry,
        401 | 403 | 404 | 409 => Disposition::Abort,
        400..=499 => Disposition::Refused,
        500..=599 => Disposition::Retry,
        // 1xx and 3xx are not expected from the API (redirects are followed).
        _ => Disposition::Abort,
    }
}

/// Why a call failed.
#[derive(Debug)]
pub(super) enum CallError {
    /// Transient failures all along, up to the attempt limit; the last one is told.
    GaveUp { attempts: u32, last: String },
    /// A response that stops the upload (auth, unknown or completed dataset, ...).
    Abort { message: String },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} attempts (last: {last})")
            }
            CallError::Abort { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for CallError {}

/// The gateway's answer to one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BatchOutcome {
    Accepted,
    Refused(Refusal),
}

/// A delivered batch and how many attempts it took.
#[derive(Debug)]
pub(super) struct Delivery {
    pub outcome: BatchOutcome,
    pub attempts: u32,
}

/// `application/problem+json`, leniently.
#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<ItemError>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct CountsView {
    #[serde(default)]
    pub received: Option<Counts>,
    #[serde(default)]
    pub stored: Option<Counts>,
}

/// `GET /v1/datasets/{id}`, leniently (fields the uploader does not print are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct DatasetStatus {
    #[serde(default)]
    pub dataset_id: String,
    pub status: String,
    #[serde(default)]
    pub counts: Option<CountsView>,
    #[serde(default)]
    pub announced: Option<Counts>,
    #[serde(default)]
    pub rejected_batches: Option<u64>,
    #[serde(default)]
    pub rejection_reasons: Vec<String>,
}

impl DatasetStatus {
    /// Still on its way to a verdict.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(self.status.as_str(), "receiving" | "validating")
    }

    /// A verdict against the data.
    pub(crate) fn is_failure(&self) -> bool {
        matches!(self.status.as_str(), "rejected" | "failed")
    }
}

#[derive(Debug, Deserialize)]
struct Created {
    dataset_id: String,
}

/// The response of one attempt, read whole.
#[derive(Debug)]
struct Response {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: String,
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn problem_text(response: &Response) -> String {
    let problem: Problem = serde_json::from_str(&response.body).unwrap_or_default();
    let text = problem
        .detail
        .or(problem.title)
        .unwrap_or_else(|| response.body.chars().take(300).collect());
    if text.trim().is_empty() {
        format!("HTTP {}", response.status)
    } else {
        format!("HTTP {}: {}", response.status, text.trim())
    }
}

/// The refusal a 4xx response describes.
pub(super) fn refusal(batch: usize, items: usize, status: StatusCode, body: &str) -> Refusal {
    let problem: Problem = serde_json::from_str(body).unwrap_or_default();
    let invalid: BTreeSet<usize> = problem
        .errors
        .iter()
        .filter_map(ItemError::item_index)
        .collect();
    let detail = problem
        .detail
        .or(problem.title)
        .unwrap_or_else(|| body.chars().take(300).collect());
    let mut errors = problem.errors;
    errors.truncate(MAX_ERRORS_KEPT);
    Refusal {
        batch,
        status: status.as_u16(),
        detail,
        items,
        invalid_items: invalid.len(),
        errors,
    }
}

#[derive(Debug, Clone)]
pub(super) struct Client {
    http: reqwest::Client,
    base: String,
    authorization: String,
    retry: RetryPolicy,
}

impl Client {
    pub(super) fn new(gateway: &str, token: &str, retry: RetryPolicy) -> anyhow::Result<Self> {
        let base = gateway.trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base.starts_with("http://"),
            "the gateway URL must start with http:// (this build has no TLS; put a TLS-terminating proxy in front if needed): {gateway}"
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("aval-upload/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Client {
            http,
            base,
            authorization: format!("Bearer {token}"),
            retry,
        })
    }

    pub(super) fn base(&self) -> &str {
        &self.base
    }

    /// One request, retried while the failure is transient. Returns the final response (success
    /// or not) and the attempts it took; `GaveUp` when every attempt failed transiently.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<(Response, u32), CallError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(AUTHORIZATION, &self.authorization);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_owned());
            }
            let (failure, wait) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(response.headers());
                    match response.text().await {
                        Ok(body) => {
                            let response = Response {
                                status,
                                retry_after: wait,
                                body,
                            };
                            if classify(status) != Disposition::Retry {
                                return Ok((response, attempt));
                            }
                            (problem_text(&response), response.retry_after)
                        }
                        // The body was cut: the request may or may not have been processed;
                        // retrying is safe thanks to the Idempotency-Key.
                        Err(e) => (format!("HTTP {status}, body lost: {e}"), None),
                    }
                }
                Err(e) if e.is_builder() => {
                    return Err(CallError::Abort {
                        message: format!("cannot build the request to {url}: {e}"),
                    });
                }
                Err(e) => (error_chain(&e), None),
            };
            if attempt >= self.retry.attempts {
                return Err(CallError::GaveUp {
                    attempts: attempt,
                    last: failure,
                });
            }
            let delay = self.retry.delay(attempt, wait);
            if attempt == 3 {
                tracing::warn!(%url, %failure, "the gateway keeps failing; retrying up to {} attempts", self.retry.attempts);
            } else {
                tracing::debug!(%url, attempt, ?delay, %failure, "transient failure, retrying");
            }
            tokio::time::sleep(delay).await;
        }
    }

    fn abort(response: &Response, what: &str) -> CallError {
        let hint = match response.status.as_u16() {
            401 => " — is AVAL_TOKEN a valid, unexpired token?",
            403 => " — the token or its company is not allowed (revoked or deactivated?)",
            404 => " — unknown dataset: pass --restart to upload into a new one",
            409 => " — the dataset is already completed: pass --restart to upload into a new one",
            _ => "",
        };
        CallError::Abort {
            message: format!("{what}: {}{hint}", problem_text(response)),
        }
    }

    /// `POST /v1/datasets`.
    pub(super) async fn create_dataset(&self) -> Result<String, CallError> {
        let (response, _) = self
            .call(reqwest::Method::POST, "/v1/datasets", Some("{}"), None)
            .await?;
        if classify(response.status) != Disposition::Success {
            return Err(Self::abort(&response, "POST /v1/datasets"));
        }
        serde_json::from_str::<Created>(&response.body)
            .map(|created| created.dataset_id)
            .map_err(|e| CallError::Abort {
                message: format!(
                    "the gateway's answer to POST /v1/datasets has no dataset_id: {e}"
                ),
            })
    }

    /// `POST /v1/datasets/{id}/{kind}` with one batch (its `{"items": [...]}` body).
    pub(super) async fn send_batch(
        &self,
        dataset_id: &str,
        kind: Kind,
        batch: usize,
        items: usize,
        body: &str,
    ) -> Result<Delivery, CallError> {
        let path = format!("/v1/datasets/{dataset_id}/{}", kind.path_segment());
        let key = idempotency_key(kind, batch);
        let (response, attempts) = self
            .call(reqwest::Method::POST, &path, Some(body), Some(&key))
            .await?;
        let outcome = match classify(response.status) {
            Disposition::Success => BatchOutcome::Accepted,
            Disposition::Refused => {
                BatchOutcome::Refused(refusal(batch, items, response.status, &response.body))
            }
            Disposition::Abort | Disposition::Retry => {
                return Err(Self::abort(
                    &response,
                    &format!("{} batch {batch}", kind.as_str()),
                ));
            }
        };
        Ok(Delivery { outcome, attempts })
    }

    /// `POST /v1/datasets/{id}/complete`. A 409 means an earlier marker (whose answer was lost)
    /// already completed the dataset: that is success too.
    pub(super) async fn complete(
        &self,
        dataset_id: &str,
        counts: &Counts,
    ) -> Result<(), CallError> {
        let body = serde_json::json!({ "counts": counts }).to_string();
        let path = format!("/v1/datasets/{dataset_id}/complete");
        let (response, _) = self
            .call(reqwest::Method::POST, &path, Some(&body), None)
            .await?;
        match classify(response.status) {
            Disposition::Success => Ok(()),
            _ if response.status == StatusCode::CONFLICT => Ok(()),
            _ => Err(Self::abort(&response, "the completion marker was refused")),
        }
    }

    /// `GET /v1/datasets/{id}`.
    pub(super) async fn status(&self, dataset_id: &str) -> Result<DatasetStatus, CallError> {
        let path = format!("/v1/datasets/{dataset_id}");
        let (response, _) = self.call(reqwest::Method::GET, &path, None, None).await?;
        if classify(response.status) != Disposition::Success {
            return Err(Self::abort(&response, "cannot read the dataset's status"));
        }
        serde_json::from_str(&response.body).map_err(|e| CallError::Abort {
            message: format!("unexpected answer to GET {path}: {e}"),
        })
    }
}

/// The same key for the same batch of the same kind, run after run: `customers-000017`.
pub(super) fn idempotency_key(kind: Kind, batch: usize) -> String {
    format!("{}-{batch:06}", kind.as_str())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let class = |code: u16| classify(StatusCode::from_u16(code).expect("status"));
        assert_eq!(class(201), Disposition::Success);
        assert_eq!(class(202), Disposition::Success);
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(class(code), Disposition::Retry, "{code}");
        }
        for code in [400, 413, 415, 422] {
            assert_eq!(class(code), Disposition::Refused, "{code}");
        }
        for code in [401, 403, 404, 409] {
            assert_eq!(class(code), Disposition::Abort, "{code}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_a_cap_and_honours_retry_after() {
        let policy = RetryPolicy {
            attempts: 8,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        let within = |d: Duration, ms: u64| {
            d <= Duration::from_millis(ms) && d >= Duration::from_millis(ms * 3 / 4)
        };
        assert!(within(policy.delay(1, None), 100));
        assert!(within(policy.delay(2, None), 200));
        assert!(within(policy.delay(4, None), 800));
        assert!(within(policy.delay(7, None), 2_000));
        assert!(within(policy.delay(100, None), 2_000));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn refusals_keep_the_errors_and_count_the_invalid_items() {
        let body = r#"{"type":"about:blank","status":422,"detail":"2 invalid items",
            "errors":[{"field":"items[3].document","reason":"bad check digits"},
                      {"field":"items[3].state","reason":"unknown UF"},
                      {"field":"items[7].id","reason":"required"}]}"#;
        let refused = refusal(4, 500, StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(refused.batch, 4);
        assert_eq!(refused.status, 422);
        assert_eq!(refused.detail, "2 invalid items");
        assert_eq!(refused.invalid_items, 2);
        assert_eq!(refused.errors.len(), 3);
        let plain = refusal(0, 10, StatusCode::PAYLOAD_TOO_LARGE, "too big");
        assert_eq!((plain.detail.as_str(), plain.errors.len()), ("too big", 0));
    }

    #[test]
    fn idempotency_keys_are_stable_per_kind_and_batch() {
        assert_eq!(idempotency_key(Kind::Customers, 17), "customers-000017");
        assert_eq!(
            idempotency_key(Kind::BureauReports, 0),
            "bureau_reports-000000"
        );
    }

    #[test]
    fn only_plain_http_gateways_are_accepted() {
        assert!(Client::new("http://127.0.0.1:8080/", "t", RetryPolicy::default()).is_ok());
        assert!(Client::new("https://example.test", "t", RetryPolicy::default()).is_err());
        assert!(Client::new("127.0.0.1:8080", "t", RetryPolicy::default()).is_err());
    }
}
