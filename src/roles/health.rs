//! Liveness, readiness and metrics of a processor role run alone, on `AVAL_HEALTH_ADDR`. A
//! processor is ready while none of its dependencies is failing it: readiness reads what the
//! consume loops report, rather than probing on its own.

use anyhow::Context;
use aval_core::Outages;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// Serves until `stop`, when `addr` is set.
pub(super) async fn serve(
    addr: Option<SocketAddr>,
    outages: Outages,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (AVAL_HEALTH_ADDR)"))?;
    tracing::info!(%addr, "health endpoints listening");
    let metrics = aval_gateway::telemetry::prometheus();
    let router = Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(),
                )
            }),
        )
        .with_state(outages);
    axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
        .context("health endpoints failed")
}

async fn readyz(State(outages): State<Outages>) -> impl IntoResponse {
    aval_gateway::readiness(&[], &outages.current())
}
