//! The audit event record, and the chain head record of the compacted `audit-heads` topic.

use crate::WireRecord;
use crate::schemas;
use aval_core::FieldErrors;
use aval_core::audit::AuditEvent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The record header carrying an audit event's kind (`dataset.ready`, ...), so a consumer
/// interested in a few kinds skips the others without decoding them.
pub const AUDIT_KIND_HEADER: &str = "aval.audit_kind";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventRecord {
    pub event_id: String,
    pub company_id: String,
    pub kind: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    pub actor: String,
    pub details: BTreeMap<String, String>,
}

impl WireRecord for AuditEventRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::AUDIT_EVENT;
}

impl From<&AuditEvent> for AuditEventRecord {
    fn from(event: &AuditEvent) -> Self {
        Self {
            event_id: event.event_id.to_string(),
            company_id: event.company_id.to_string(),
            kind: event.kind.clone(),
            occurred_at: event.occurred_at.timestamp_millis(),
            actor: event.actor.clone(),
            details: event.details.clone(),
        }
    }
}

impl TryFrom<AuditEventRecord> for AuditEvent {
    type Error = FieldErrors;

    /// Checks what the schema cannot: ids are UUIDs, the time is representable.
    fn try_from(record: AuditEventRecord) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let event_id = uuid::Uuid::parse_str(&record.event_id)
            .map_err(|_| errors.push("event_id", "must be a UUID"))
            .ok();
        let company_id = uuid::Uuid::parse_str(&record.company_id)
            .map_err(|_| errors.push("company_id", "must be a UUID"))
            .ok();
        let occurred_at = chrono::DateTime::from_timestamp_millis(record.occurred_at);
        if occurred_at.is_none() {
            errors.push("occurred_at", "is out of range");
        }
        if record.kind.is_empty() || record.kind.len() > 100 {
            errors.push("kind", "must be 1 to 100 characters");
        }
        match (event_id, company_id, occurred_at) {
            (Some(event_id), Some(company_id), Some(occurred_at)) if errors.is_empty() => {
                Ok(AuditEvent {
                    event_id,
                    company_id,
                    kind: record.kind,
                    occurred_at,
                    actor: record.actor,
                    details: record.details,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The tip of a company's audit chain, as last stored: `seq` and `hash` of its last event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHeadRecord {
    pub company_id: String,
    pub seq: i64,
    /// 64 lowercase hex digits.
    pub hash: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub published_at: i64,
}

impl WireRecord for AuditHeadRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::AUDIT_HEAD;
}
