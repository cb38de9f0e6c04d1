//! The audit log: append with the hash chain (here), read a filtered page newest first
//! (`query`), verify a company's whole chain (`verification`).

pub mod query;
mod verification;

use crate::{Store, StoreError};
use aval_core::audit::{AuditEvent, ChainHash, GENESIS};
use std::collections::BTreeMap;

/// An event as stored, with its place in the company's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    pub seq: i64,
    pub event: AuditEvent,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored as the `seq`-th event of its company.
    New { seq: i64 },
    /// An event with this id was stored before (a redelivery): nothing changed.
    Duplicate,
}

impl Store {
    /// Appends one event to its company's chain in one transaction; idempotent by event id.
    pub async fn append_audit_event(&self, event: &AuditEvent) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Creating the head row first gives the lock below something to lock for a new company.
        sqlx::query("INSERT INTO audit_heads (company_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING")
            .bind(event.company_id)
            .bind(GENESIS.as_slice())
            .execute(&mut *tx)
            .await?;
        let (seq, prev): (i64, Vec<u8>) =
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE company_id = $1 FOR UPDATE")
                .bind(event.company_id)
                .fetch_one(&mut *tx)
                .await?;
        let already: Option<(i64,)> =
            sqlx::query_as("SELECT seq FROM audit_events WHERE event_id = $1")
                .bind(event.event_id)
                .fetch_optional(&mut *tx)
                .await?;
        if already.is_some() {
            return Ok(Appended::Duplicate);
        }
        let prev = to_hash(&prev)?;
        let hash = event.chain_hash(&prev);
        let seq = seq + 1;
        let details = serde_json_map(&event.details);
        sqlx::query(
            "INSERT INTO audit_events (company_id, seq, event_id, kind, occurred_at, actor, details, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)",
        )
        .bind(event.company_id)
        .bind(seq)
        .bind(event.event_id)
        .bind(&event.kind)
        .bind(event.occurred_at)
        .bind(&event.actor)
        .bind(details)
        .bind(prev.as_slice())
        .bind(hash.as_slice())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE company_id = $1")
            .bind(event.company_id)
            .bind(seq)
            .bind(hash.as_slice())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Appended::New { seq })
    }
}

fn to_hash(bytes: &[u8]) -> Result<ChainHash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("an audit hash is not 32 bytes".to_owned()))
}

/// Details are a flat string map; stored as a JSON object so SQL can query them.
fn serde_json_map(details: &BTreeMap<String, String>) -> String {
    let object: serde_json::Map<String, serde_json::Value> = details
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(object).to_string()
}

fn parse_details(text: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))
}
