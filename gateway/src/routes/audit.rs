//! `GET /v1/audit`: the token's company's audit events, newest first and filtered, with the
//! hash chain; `GET /v1/audit/verify`: the whole chain checked, so the company can tell
//! nothing was rewritten.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::query::{id_param, range};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::audit::verification::{ChainReport, Checkpoint, CheckpointSource};
use aval_core::audit::{AuditKind, hash_from_hex, hash_to_hex};
use aval_store::audit::StoredAuditEvent;
use aval_store::audit::query::AuditQuery;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

pub(crate) const DEFAULT_LIMIT: i64 = 50;
pub(crate) const MAX_LIMIT: i64 = 500;
/// The filters and paging `GET /v1/audit` reads; anything else is refused.
const LIST_PARAMETERS: [&str; 8] = [
    "limit",
    "before",
    "kind",
    "from",
    "to",
    "dataset_id",
    "model_version",
    "request_id",
];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    /// Newest first.
    events: Vec<AuditEventView>,
    /// Pass as `before` for the next (older) page. Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i64, minimum = 1)]
    next_before: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEvent)]
pub(crate) struct AuditEventView {
    /// Position in the company's chain, from 1.
    #[schema(minimum = 1)]
    seq: i64,
    #[schema(format = Uuid)]
    event_id: String,
    /// What happened. New kinds may appear.
    #[schema(examples(
        "company.registered",
        "dataset.created",
        "batch.accepted",
        "batch.rejected",
        "dataset.ready",
        "dataset.rejected",
        "training.started",
        "training.finished",
        "training.failed",
        "model.activated",
        "model.kept_as_candidate",
        "token.issued",
        "token.revoked",
        "record.dead_lettered",
        "decision.approved",
        "decision.rejected",
        "decision.referred",
        "decision.review_requested",
        "decision.repeated",
        "decision.refused",
        "outcomes.reported",
        "outcomes.definition_changed",
        "drift.detected",
        "policy.changed",
        "experiment.changed"
    ))]
    kind: String,
    occurred_at: DateTime<Utc>,
    /// Who acted: `company:<id>` for a token holder, `system:<role>` for a processor.
    #[schema(examples("company:0b6f3c1e-8d2a-4c57-9a43-1f2e3d4c5b6a"))]
    actor: String,
    /// Small facts about the event (ids, counts), all as text.
    details: BTreeMap<String, String>,
    /// The previous event's `hash` (64 zeros for the first event), hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    prev_hash: String,
    /// SHA-256 of `prev_hash` and the event's length-prefixed fields, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
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
            prev_hash: hash_to_hex(&stored.prev_hash),
            hash: hash_to_hex(&stored.hash),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    operation_id = "listAuditEvents",
    summary = "The company's audit events",
    description = "Newest first, one page at a time. For the next (older) page pass the `next_before` of this one as `before`, with the same filters. Every filter given must hold. Events appended while you page come before your first page, so paging by `before` never repeats or skips one. Any other query parameter is refused (422).",
    params(params::AuditFilters),
    responses(
        (status = 200, description = "One page of events.", content_type = "application/json", body = AuditPage, example = examples::list_audit_events_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, Problem> {
    let query = audit_query(&params).map_err(Problem::invalid)?;
    let events = state
        .store
        .audit_events(auth.company.id, &query)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the audit log");
            Problem::unavailable("cannot read the audit log right now; retry")
        })?;
    let next_before = match events.last() {
        Some(oldest) if events.len() as i64 == query.limit && oldest.seq > 1 => Some(oldest.seq),
        _ => None,
    };
    Ok(Json(AuditPage {
        events: events.into_iter().map(AuditEventView::from).collect(),
        next_before,
    }))
}

/// The page and filters a query string asks for, or every parameter it gets wrong.
fn audit_query(params: &HashMap<String, String>) -> Result<AuditQuery, FieldErrors> {
    let mut errors = FieldErrors::default();
    for key in params
        .keys()
        .filter(|k| !LIST_PARAMETERS.contains(&k.as_str()))
    {
        errors.push(
            key.as_str(),
            format!("unknown parameter; use {}", LIST_PARAMETERS.join(", ")),
        );
    }
    let mut query = AuditQuery {
        limit: DEFAULT_LIMIT,
        ..AuditQuery::default()
    };
    if let Some(limit) = params.get("limit") {
        match limit.parse::<i64>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => query.limit = limit,
            _ => errors.push("limit", format!("must be an integer from 1 to {MAX_LIMIT}")),
        }
    }
    if let Some(before) = params.get("before") {
        match before.parse::<i64>() {
            Ok(before) if before >= 1 => query.before = Some(before),
            _ => errors.push(
                "before",
                "must be a positive integer (a seq from an earlier page)",
            ),
        }
    }
    if let Some(kinds) = params.get("kind") {
        match kinds_named(kinds) {
            Ok(kinds) => query.kinds = kinds,
            Err(message) => errors.push("kind", message),
        }
    }
    (query.from, query.to) = range(params, &mut errors);
    if let Some(dataset) = params.get("dataset_id") {
        match Uuid::parse_str(dataset) {
            Ok(dataset) => query.dataset_id = Some(dataset),
            Err(_) => errors.push("dataset_id", "must be a dataset id (a UUID)"),
        }
    }
    if let Some(version) = params.get("model_version") {
        match version.parse::<i32>() {
            Ok(version) if version >= 1 => query.model_version = Some(version),
            _ => errors.push(
                "model_version",
                "must be a model version (a positive integer)",
            ),
        }
    }
    query.request_id = id_param(params, "request_id", &mut errors);
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(errors)
    }
}

/// `kind=a,b,family.*`: each name a kind aval writes, or a family of them (`decision.*`).
/// Matching against the kinds aval knows keeps the query on the kind index.
fn kinds_named(list: &str) -> Result<Vec<String>, String> {
    let mut kinds = Vec::new();
    for name in list.split(',').map(str::trim) {
        let matching: Vec<&str> = match name.strip_suffix('*') {
            Some(family) if family.ends_with('.') => AuditKind::ALL
                .iter()
                .map(|k| k.as_str())
                .filter(|k| k.starts_with(family))
                .collect(),
            _ => AuditKind::ALL
                .iter()
                .map(|k| k.as_str())
                .filter(|k| *k == name)
                .collect(),
        };
        if matching.is_empty() {
            return Err(format!(
                "{name:?} is no kind of event; use kinds such as {}, or a family such as decision.*, separated by commas",
                AuditKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        kinds.extend(matching.into_iter().map(str::to_owned));
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// What checking the company's whole chain found.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct AuditVerification {
    /// Every event links to the one before, its hash is what its content gives, no seq is
    /// missing, and the chain reaches its recorded head (and the head given, if any).
    verified: bool,
    /// Events in the log.
    #[schema(minimum = 0)]
    events: u64,
    /// The seq of the last event (0 for an empty log).
    #[schema(minimum = 0)]
    head_seq: i64,
    /// The last event's hash (64 zeros for an empty log), hex: keep it with `head_seq`, and
    /// pass both to a later check, to catch a log cut back to before it.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    head: String,
    /// The first seq found altered, unlinked or missing; null when verified.
    #[schema(minimum = 1)]
    first_broken_seq: Option<i64>,
    /// What is wrong there, in words; null when verified.
    problem: Option<String>,
}

impl From<ChainReport> for AuditVerification {
    fn from(report: ChainReport) -> Self {
        Self {
            verified: report.verified(),
            events: report.events,
            head_seq: report.last_seq,
            head: hash_to_hex(&report.head),
            first_broken_seq: report.broken.as_ref().map(|b| b.first_broken_seq()),
            problem: report.broken.as_ref().map(|b| b.describe()),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    tag = "audit",
    operation_id = "verifyAuditLog",
    summary = "Check the company's whole audit chain",
    description = "Walks every event from the first: each must link to the one before it, hash to what its content gives, follow it without a gap, and the chain must reach the head stored with it. Pass a head you kept from an earlier answer (`head_seq` and `head`) to also catch a log cut back to before it, even if its stored head was rewound too. Reads a snapshot: events appended meanwhile are left for the next check. Any other query parameter is refused (422).",
    params(params::AuditHead),
    responses(
        (status = 200, description = "The check's result, verified or not.", content_type = "application/json", body = AuditVerification, example = examples::verify_audit_log_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn verify(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditVerification>, Problem> {
    let given = given_head(&params).map_err(Problem::invalid)?;
    let report = state
        .store
        .verify_audit_chain(auth.company.id, given.as_slice())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot verify the audit log");
            Problem::unavailable("cannot read the audit log right now; retry")
        })?;
    if let Some(broken) = &report.broken {
        tracing::warn!(company = %auth.company.id, problem = %broken.describe(), "audit chain does not verify");
    }
    Ok(Json(report.into()))
}

/// `head_seq` and `head` of an earlier check, both or neither.
fn given_head(params: &HashMap<String, String>) -> Result<Option<Checkpoint>, FieldErrors> {
    let mut errors = FieldErrors::default();
    for key in params
        .keys()
        .filter(|k| !matches!(k.as_str(), "head_seq" | "head"))
    {
        errors.push(key.as_str(), "unknown parameter; use head_seq and head");
    }
    let seq = params.get("head_seq").map(|seq| match seq.parse::<i64>() {
        Ok(seq) if seq >= 1 => Some(seq),
        _ => {
            errors.push(
                "head_seq",
                "must be a positive integer (an earlier head_seq)",
            );
            None
        }
    });
    let hash = params.get("head").map(|hash| {
        let parsed = hash_from_hex(hash);
        if parsed.is_none() {
            errors.push("head", "must be 64 lowercase hex digits (an earlier head)");
        }
        parsed
    });
    let checkpoint = match (seq, hash) {
        (None, None) => None,
        (Some(Some(seq)), Some(Some(hash))) => Some(Checkpoint {
            seq,
            hash,
            source: CheckpointSource::Given,
        }),
        (Some(_), None) => {
            errors.push("head", "is required with head_seq");
            None
        }
        (None, Some(_)) => {
            errors.push("head_seq", "is required with head");
            None
        }
        _ => None,
    };
    if errors.is_empty() {
        Ok(checkpoint)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn fields(errors: FieldErrors) -> Vec<String> {
        errors.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn every_filter_is_read() {
        let dataset = Uuid::from_u128(9);
        let query = audit_query(&params(&[
            ("limit", "7"),
            ("before", "40"),
            ("kind", "dataset.ready,training.*"),
            ("from", "2026-12-01T00:00:00Z"),
            ("to", "2026-12-02T00:00:00-03:00"),
            ("dataset_id", &dataset.to_string()),
            ("model_version", "3"),
            ("request_id", "r-1"),
        ]))
        .expect("valid");
        assert_eq!(query.limit, 7);
        assert_eq!(query.before, Some(40));
        assert_eq!(
            query.kinds,
            [
                "dataset.ready",
                "training.failed",
                "training.finished",
                "training.started"
            ]
        );
        assert_eq!(
            query.to.map(|t| t.to_rfc3339()),
            Some("2026-12-02T03:00:00+00:00".to_owned())
        );
        assert_eq!(query.dataset_id, Some(dataset));
        assert_eq!(query.model_version, Some(3));
        assert_eq!(query.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn wrong_filters_are_named() {
        let errors = audit_query(&params(&[
            ("kind", "dataset.readyy"),
            ("from", "yesterday"),
            ("dataset_id", "7"),
            ("model_version", "0"),
            ("request_id", ""),
            ("page", "2"),
        ]))
        .expect_err("invalid");
        let mut named = fields(errors);
        named.sort();
        assert_eq!(
            named,
            [
                "dataset_id",
                "from",
                "kind",
                "model_version",
                "page",
                "request_id"
            ]
        );
        let backwards = audit_query(&params(&[
            ("from", "2026-12-02T00:00:00Z"),
            ("to", "2026-12-01T00:00:00Z"),
        ]))
        .expect_err("to before from");
        assert_eq!(fields(backwards), ["to"]);
        assert!(audit_query(&params(&[("kind", "nothing.*")])).is_err());
    }

    #[test]
    fn a_given_head_needs_both_halves_in_their_shapes() {
        let hash = "ab".repeat(32);
        let head = given_head(&params(&[("head_seq", "12"), ("head", &hash)]))
            .expect("valid")
            .expect("given");
        assert_eq!((head.seq, head.source), (12, CheckpointSource::Given));
        assert_eq!(hash_to_hex(&head.hash), hash);
        assert_eq!(given_head(&params(&[])).expect("valid"), None);
        assert_eq!(
            fields(given_head(&params(&[("head_seq", "12")])).expect_err("half")),
            ["head"]
        );
        let upper = "AB".repeat(32);
        assert_eq!(
            fields(given_head(&params(&[("head_seq", "1"), ("head", &upper)])).expect_err("case")),
            ["head"]
        );
    }
}
