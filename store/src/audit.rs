//! The audit log: append with the hash chain (here), read a filtered page newest first
//! (`query`), verify a company's whole chain (`verification`).

pub mod query;
mod verification;

use crate::{Store, StoreError};
use aval_core::audit::{AuditEvent, ChainHash, ChainHead, GENESIS, Link, chain};

use sqlx::{Postgres, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// An event as stored, with its place in the company's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    pub seq: i64,
    pub event: AuditEvent,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

/// What a batch appended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    pub stored: usize,
    /// Events whose id was stored before, or came twice in the batch (redeliveries): skipped.
    pub duplicates: usize,
    /// The new head of each company whose chain grew, in company-id order.
    pub heads: Vec<(Uuid, ChainHead)>,
}

impl Store {
    /// Appends `events` to their companies' chains in one transaction, in order; idempotent by
    /// event id. Locks the heads of the batch's companies in company-id order (so two writers
    /// never deadlock), chains in memory, then writes all rows and the heads with one
    /// statement.
    ///
    /// Events are first taken to be new, which they are but for redeliveries: BEGIN, lock,
    /// write, COMMIT, four round trips. A write that finds an event stored before is rolled
    /// back and the batch is chained again without the stored ones.
    pub async fn append_audit_events(&self, events: &[AuditEvent]) -> Result<Appended, StoreError> {
        if events.is_empty() {
            return Ok(Appended::default());
        }
        if let Some(appended) = self.append_chained(events, Stored::Assumed).await? {
            return Ok(appended);
        }
        self.append_chained(events, Stored::Looked)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(
                    "an audit event stored meanwhile, under the head's lock".to_owned(),
                )
            })
    }

    /// One try at the append; `None` when some event turned out to be stored already (the
    /// transaction is rolled back).
    async fn append_chained(
        &self,
        events: &[AuditEvent],
        stored: Stored,
    ) -> Result<Option<Appended>, StoreError> {
        let companies: Vec<Uuid> = events
            .iter()
            .map(|e| e.company_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut tx = self.pool.begin().await?;
        let mut heads = lock_heads(&mut tx, &companies).await?;
        let mut seen: HashSet<Uuid> = match stored {
            Stored::Assumed => HashSet::new(),
            Stored::Looked => {
                let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
                sqlx::query_scalar("SELECT event_id FROM audit_events WHERE event_id = ANY($1)")
                    .bind(&ids)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect()
            }
        };
        let new = events.iter().filter(|e| seen.insert(e.event_id));
        let links = chain(&mut heads, new);
        let duplicates = events.len() - links.len();
        if links.is_empty() {
            tx.commit().await?;
            return Ok(Some(Appended {
                stored: 0,
                duplicates,
                heads: Vec::new(),
            }));
        }
        let grown: BTreeSet<Uuid> = links.iter().map(|l| l.event.company_id).collect();
        let grown: Vec<(Uuid, ChainHead)> = grown
            .into_iter()
            .filter_map(|company| heads.get(&company).map(|head| (company, *head)))
            .collect();
        let written = write_links(&mut tx, &links, &grown).await?;
        if written != links.len() {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(Appended {
            stored: links.len(),
            duplicates,
            heads: grown,
        }))
    }

    /// A company's stored chain head, if it has one.
    pub async fn audit_head(&self, company_id: Uuid) -> Result<Option<ChainHead>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE company_id = $1")
                .bind(company_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(seq, hash)| {
            Ok(ChainHead {
                seq,
                hash: to_hash(&hash)?,
            })
        })
        .transpose()
    }
}

/// Whether an append looks for events stored before, or assumes there are none.
#[derive(Debug, Clone, Copy)]
enum Stored {
    Assumed,
    Looked,
}

/// Locks the companies' heads in company-id order, creating a missing one at the genesis, and
/// reads them: one statement (a conflict's no-op update is what takes the lock).
async fn lock_heads(
    tx: &mut Transaction<'_, Postgres>,
    companies: &[Uuid],
) -> Result<HashMap<Uuid, ChainHead>, StoreError> {
    let locked: Vec<(Uuid, i64, Vec<u8>)> = sqlx::query_as(
        "INSERT INTO audit_heads (company_id, seq, hash)
         SELECT company_id, 0, $2 FROM UNNEST($1::uuid[]) AS c(company_id) ORDER BY company_id
         ON CONFLICT (company_id) DO UPDATE SET seq = audit_heads.seq
         RETURNING company_id, seq, hash",
    )
    .bind(companies)
    .bind(GENESIS.as_slice())
    .fetch_all(&mut **tx)
    .await?;
    locked
        .into_iter()
        .map(|(company, seq, hash)| {
            Ok((
                company,
                ChainHead {
                    seq,
                    hash: to_hash(&hash)?,
                },
            ))
        })
        .collect()
}

/// Every link in one `INSERT ... UNNEST` and the grown heads in the same statement: one round
/// trip for the batch. Returns how many links were stored: fewer than given when an event id
/// was stored before. `recorded_at` is the moment of the write, not of the transaction's
/// start, so the audit lag measured from it is honest.
async fn write_links(
    tx: &mut Transaction<'_, Postgres>,
    links: &[Link<'_>],
    heads: &[(Uuid, ChainHead)],
) -> Result<usize, StoreError> {
    let column = |f: fn(&Link<'_>) -> Uuid| links.iter().map(f).collect::<Vec<_>>();
    let written: i64 = sqlx::query_scalar(
        "WITH written AS (
             INSERT INTO audit_events
                 (company_id, seq, event_id, kind, occurred_at, actor, details, prev_hash, hash,
                  recorded_at)
             SELECT company_id, seq, event_id, kind, occurred_at, actor, details::jsonb,
                    prev_hash, hash, clock_timestamp()
             FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::timestamptz[],
                         $6::text[], $7::text[], $8::bytea[], $9::bytea[])
                  AS l(company_id, seq, event_id, kind, occurred_at, actor, details, prev_hash, hash)
             ON CONFLICT (event_id) DO NOTHING
             RETURNING 1
         ), heads AS (
             UPDATE audit_heads AS h SET seq = u.seq, hash = u.hash
             FROM UNNEST($10::uuid[], $11::bigint[], $12::bytea[]) AS u(company_id, seq, hash)
             WHERE h.company_id = u.company_id
         )
         SELECT count(*) FROM written",
    )
    .bind(column(|l| l.event.company_id))
    .bind(links.iter().map(|l| l.seq).collect::<Vec<_>>())
    .bind(column(|l| l.event.event_id))
    .bind(links.iter().map(|l| l.event.kind.as_str()).collect::<Vec<_>>())
    .bind(links.iter().map(|l| l.event.occurred_at).collect::<Vec<_>>())
    .bind(links.iter().map(|l| l.event.actor.as_str()).collect::<Vec<_>>())
    .bind(
        links
            .iter()
            .map(|l| serde_json_map(&l.event.details))
            .collect::<Vec<_>>(),
    )
    .bind(links.iter().map(|l| l.prev_hash.to_vec()).collect::<Vec<_>>())
    .bind(links.iter().map(|l| l.hash.to_vec()).collect::<Vec<_>>())
    .bind(heads.iter().map(|(c, _)| *c).collect::<Vec<_>>())
    .bind(heads.iter().map(|(_, h)| h.seq).collect::<Vec<_>>())
    .bind(heads.iter().map(|(_, h)| h.hash.to_vec()).collect::<Vec<_>>())
    .fetch_one(&mut **tx)
    .await?;
    Ok(usize::try_from(written).unwrap_or(0))
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
