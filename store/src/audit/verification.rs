//! Walking a company's stored chain from its first event, against the head the database
//! recorded with it and any heads recorded elsewhere.

use super::query::stored;
use super::to_hash;
use crate::{Store, StoreError};
use aval_core::audit::verification::{ChainReport, ChainWalk, Checkpoint, CheckpointSource};
use futures::TryStreamExt;
use uuid::Uuid;

impl Store {
    /// Checks the company's whole chain, streamed in seq order (constant memory, one pass),
    /// against `audit_heads` and the `elsewhere` heads (the published copy, a head the company
    /// kept). Reads in one repeatable-read transaction, so events appended meanwhile neither
    /// count nor break anything.
    pub async fn verify_audit_chain(
        &self,
        company_id: Uuid,
        elsewhere: &[Checkpoint],
    ) -> Result<ChainReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE company_id = $1")
                .bind(company_id)
                .fetch_optional(&mut *tx)
                .await?;
        let mut checkpoints = elsewhere.to_vec();
        if let Some((seq, hash)) = head
            && seq > 0
        {
            checkpoints.push(Checkpoint {
                seq,
                hash: to_hash(&hash)?,
                source: CheckpointSource::DatabaseHead,
            });
        }
        let mut walk = ChainWalk::new(checkpoints);
        {
            let mut rows = sqlx::query_as(
                "SELECT seq, event_id, kind, occurred_at, actor, details::text, prev_hash, hash
                 FROM audit_events WHERE company_id = $1 ORDER BY seq",
            )
            .bind(company_id)
            .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let event = stored(company_id, row)?;
                walk.push(event.seq, &event.event, &event.prev_hash, &event.hash);
            }
        }
        tx.commit().await?;
        Ok(walk.finish())
    }
}
