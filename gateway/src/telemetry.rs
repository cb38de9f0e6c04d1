//! Request metrics for Prometheus. Labels are the route template (`/v1/companies/me`, never a
//! raw path with ids; `unmatched` for any path no route has), the method (one of a closed set;
//! any other name a client invents is `other`) and the status, so their number stays bounded
//! whatever clients send, with or without a token.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// The process-wide recorder; installing it twice (several routers in one test process) returns
/// the first.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5, 5.0,
                ])
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("aval_processor_batch_records".to_owned()),
                        &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
                    )
                })
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case ours stays unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("route", route),
        ("method", method.to_owned()),
        ("status", status),
    ];
    metrics::counter!("aval_http_requests_total", &labels).increment(1);
    metrics::histogram!("aval_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The methods the API serves or a client commonly sends; every other name is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use std::collections::BTreeSet;
    use tower::ServiceExt;

    /// The method labels `/metrics` shows for requests to `route`.
    fn method_labels(route: &str) -> BTreeSet<String> {
        let route = format!("route=\"{route}\"");
        prometheus()
            .render()
            .lines()
            .filter(|line| line.starts_with("aval_http_requests_total{") && line.contains(&route))
            .filter_map(|line| {
                line.split("method=\"")
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(str::to_owned)
            })
            .collect()
    }

    #[tokio::test]
    async fn invented_methods_add_no_series_beyond_other() {
        // Installed first, as the gateway does at start: metrics recorded before are dropped.
        prometheus();
        let router = Router::new()
            .route("/labels-test", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(record_request));
        let methods = (0..50)
            .map(|i| format!("FOOBAR{i}"))
            .chain(["GET", "POST", "DELETE", "TRACE", "CONNECT"].map(str::to_owned));
        for method in methods {
            for path in ["/labels-test", "/no-such-path-labels-test"] {
                let request = Request::builder()
                    .method(Method::from_bytes(method.as_bytes()).expect("a method"))
                    .uri(path)
                    .body(Body::empty())
                    .expect("request");
                router.clone().oneshot(request).await.expect("answered");
            }
        }
        let expected: BTreeSet<String> =
            ["DELETE", "GET", "POST", "other"].map(str::to_owned).into();
        assert_eq!(method_labels("/labels-test"), expected);
        assert_eq!(method_labels("unmatched"), expected);
        assert!(
            !prometheus().render().contains("no-such-path-labels-test"),
            "a raw path became a label"
        );
    }
}
