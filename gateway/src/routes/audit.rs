//! `GET /v1/audit`: the token's company's audit events, newest first, with the hash chain so
//! the company can verify nothing was rewritten.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_store::audit::StoredAuditEvent;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub(crate) const DEFAULT_LIMIT: i64 = 50;
pub(crate) const MAX_LIMIT: i64 = 500;

#[derive(Debug, Serialize)]
pub(crate) struct AuditPage {
    events: Vec<AuditEventView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<i64>,
}

#[derive(Debug, Serialize)]
struct AuditEventView {
    seq: i64,
    event_id: String,
    kind: String,
    occurred_at: DateTime<Utc>,
    actor: String,
    details: BTreeMap<String, String>,
    prev_hash: String,
    hash: String,
}

impl From<StoredAuditEvent> for AuditEventView {
    fn from(stored: StoredAuditEvent) -> Self {
        Self {
            seq: stored.seq,
            event_id: stored.event.event_id.to_string(),
            kind: stored.event.kind,
            occurred_at: stored.event.occurred_at,
            actor: stored.event.actor,
            details: stored.event.details,
            prev_hash: hex::encode(stored.prev_hash),
            hash: hex::encode(stored.hash),
        }
    }
}

pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, Problem> {
    let mut errors = FieldErrors::default();
    for key in params
        .keys()
        .filter(|k| !matches!(k.as_str(), "limit" | "before"))
    {
        errors.push(key.as_str(), "unknown parameter; use limit and before");
    }
    let limit = match params.get("limit").map(|v| v.parse::<i64>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            errors.push("limit", format!("must be an integer from 1 to {MAX_LIMIT}"));
            DEFAULT_LIMIT
        }
    };
    let before = match params.get("before").map(|v| v.parse::<i64>()) {
        None => None,
        Some(Ok(before)) if before >= 1 => Some(before),
        Some(_) => {
            errors.push(
                "before",
                "must be a positive integer (a seq from an earlier page)",
            );
            None
        }
    };
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let events = state
        .store
        .audit_events(auth.company.id, before, limit)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the audit log");
            Problem::unavailable("cannot read the audit log right now; retry")
        })?;
    let next_before = match events.last() {
        Some(oldest) if events.len() as i64 == limit && oldest.seq > 1 => Some(oldest.seq),
        _ => None,
    };
    Ok(Json(AuditPage {
        events: events.into_iter().map(AuditEventView::from).collect(),
        next_before,
    }))
}
