//! Reading a company's audit log: one page of events newest first, filtered as an analyst asks.

use super::{StoredAuditEvent, parse_details, to_hash};
use crate::{Store, StoreError};
use aval_core::audit::{AuditEvent, AuditKind};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// Which events, and which page of them. Every filter given must hold (AND); `kinds` matches
/// any of its entries, where an entry ending in `.*` is a family (`decision.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub kinds: Vec<String>,
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub to: Option<DateTime<Utc>>,
    pub dataset_id: Option<Uuid>,
    pub model_version: Option<i32>,
    pub request_id: Option<String>,
    /// Only events older than this seq (the previous page's last).
    pub before: Option<i64>,
    pub limit: i64,
}

/// The events of a training, which name its datasets as `datasets`, separated by commas.
const TRAINING_KINDS: [AuditKind; 3] = [
    AuditKind::TrainingStarted,
    AuditKind::TrainingFinished,
    AuditKind::TrainingFailed,
];

impl AuditQuery {
    /// The newest `limit` events, unfiltered.
    pub fn newest(limit: i64) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }
}

type Row = (
    i64,
    Uuid,
    String,
    DateTime<Utc>,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
);

impl AuditQuery {
    /// Appends the conditions to a statement already filtered by company (`WHERE company_id = ..`).
    fn push_conditions(&self, sql: &mut QueryBuilder<Postgres>) {
        if !self.kinds.is_empty() {
            let (families, exact): (Vec<&String>, Vec<&String>) =
                self.kinds.iter().partition(|k| k.ends_with(".*"));
            let exact: Vec<String> = exact.into_iter().cloned().collect();
            // `kind LIKE 'decision.%'`: the family's dot is literal, and `_`/`%` never occur in
            // a kind the caller may give (the handler checks the characters).
            let families: Vec<String> = families
                .into_iter()
                .map(|f| format!("{}%", &f[..f.len() - 1]))
                .collect();
            sql.push(" AND (kind = ANY(")
                .push_bind(exact)
                .push(") OR kind LIKE ANY(")
                .push_bind(families)
                .push("))");
        }
        if let Some(from) = self.from {
            sql.push(" AND occurred_at >= ").push_bind(from);
        }
        if let Some(to) = self.to {
            sql.push(" AND occurred_at < ").push_bind(to);
        }
        if let Some(dataset) = self.dataset_id {
            // A dataset's own events name it; a training names every dataset it used.
            let dataset = dataset.to_string();
            sql.push(" AND ((details ? 'dataset_id' AND details ->> 'dataset_id' = ")
                .push_bind(dataset.clone())
                .push(") OR (kind = ANY(")
                .push_bind(TRAINING_KINDS.map(|k| k.as_str().to_owned()).to_vec())
                .push(") AND ")
                .push_bind(dataset)
                .push(" = ANY(string_to_array(details ->> 'datasets', ','))))");
        }
        if let Some(version) = self.model_version {
            sql.push(" AND details ? 'model_version' AND details ->> 'model_version' = ")
                .push_bind(version.to_string());
        }
        if let Some(request) = &self.request_id {
            sql.push(" AND details ? 'request_id' AND details ->> 'request_id' = ")
                .push_bind(request.clone());
        }
        if let Some(before) = self.before {
            sql.push(" AND seq < ").push_bind(before);
        }
    }
}

impl Store {
    /// One page of a company's events that match `query`, newest first.
    pub async fn audit_events(
        &self,
        company_id: Uuid,
        query: &AuditQuery,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT seq, event_id, kind, occurred_at, actor, details::text, prev_hash, hash
             FROM audit_events WHERE company_id = ",
        );
        sql.push_bind(company_id);
        query.push_conditions(&mut sql);
        sql.push(" ORDER BY seq DESC LIMIT ").push_bind(query.limit);
        let rows: Vec<Row> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| stored(company_id, row))
            .collect()
    }
}

pub(super) fn stored(company_id: Uuid, row: Row) -> Result<StoredAuditEvent, StoreError> {
    let (seq, event_id, kind, occurred_at, actor, details, prev, hash) = row;
    Ok(StoredAuditEvent {
        seq,
        event: AuditEvent {
            event_id,
            company_id,
            kind,
            occurred_at,
            actor,
            details: parse_details(&details)?,
        },
        prev_hash: to_hash(&prev)?,
        hash: to_hash(&hash)?,
    })
}
