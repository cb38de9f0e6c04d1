//! Which gateway reads which partition of the decision-replies topic. A gateway holds a
//! PostgreSQL session advisory lock on `(hashtext(topic), partition)` for as long as it runs:
//! the lock is the lease, so nothing needs cleaning up when a gateway dies (its session ends,
//! the lock with it) and no consumer group rebalances when gateways come and go. The lease is
//! held on a connection of its own, outside the pool, checked every [`CHECK_EVERY`]; a lost
//! connection (a database restart) is reopened and the same partition locked again.

use crate::{Store, StoreError};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

const CHECK_EVERY: Duration = Duration::from_secs(5);

/// A partition of the replies topic, leased to this process until dropped.
#[derive(Debug)]
pub struct ReplyPartitionLease {
    partition: i32,
    exclusive: Arc<AtomicBool>,
    /// Dropped with the lease, which ends [`keep`] and so releases the lock.
    _release: oneshot::Sender<()>,
}

impl ReplyPartitionLease {
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Whether no other gateway reads this partition. False when every partition was leased
    /// already (more gateways than partitions: this one shares a partition, and reads its
    /// other readers' replies too), or when the lock could not be taken back after a lost
    /// connection.
    pub fn exclusive(&self) -> bool {
        self.exclusive.load(Ordering::Relaxed)
    }
}

impl Store {
    /// Leases the lowest free partition of `topic`'s `partitions`; when every one is leased,
    /// shares the partition `fallback % partitions` (not exclusive).
    pub async fn lease_reply_partition(
        &self,
        topic: &str,
        partitions: i32,
        fallback: u32,
    ) -> Result<ReplyPartitionLease, StoreError> {
        let mut connection = self.pool.acquire().await?.detach();
        let mut leased = None;
        for partition in 0..partitions.max(1) {
            if try_lock(&mut connection, topic, partition).await? {
                leased = Some(partition);
                break;
            }
        }
        let exclusive = leased.is_some();
        let partition =
            leased.unwrap_or_else(|| (fallback % partitions.max(1).unsigned_abs()) as i32);
        let exclusive = Arc::new(AtomicBool::new(exclusive));
        let (release, released) = oneshot::channel();
        tokio::spawn(keep(
            self.clone(),
            connection,
            topic.to_owned(),
            partition,
            exclusive.clone(),
            released,
        ));
        Ok(ReplyPartitionLease {
            partition,
            exclusive,
            _release: release,
        })
    }
}

async fn try_lock(
    connection: &mut PgConnection,
    topic: &str,
    partition: i32,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1), $2)")
            .bind(topic)
            .bind(partition)
            .fetch_one(connection)
            .await?,
    )
}

/// Holds the lease's connection until the lease is dropped; closing it (or the process
/// ending) releases the lock.
async fn keep(
    store: Store,
    mut connection: PgConnection,
    topic: String,
    partition: i32,
    exclusive: Arc<AtomicBool>,
    mut released: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut released => {
                let _ = connection.close().await;
                return;
            }
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
        if connection.ping().await.is_err() {
            tracing::warn!(%topic, partition, "lost the connection holding the reply partition's lease; reopening");
            exclusive.store(false, Ordering::Relaxed);
            match store.pool.acquire().await {
                Ok(reopened) => connection = reopened.detach(),
                Err(_) => continue,
            }
        }
        // Not held (shared from the start, or lost with a connection): taken when free, so a
        // gateway that shared a partition reads it alone once the other one leaves.
        if !exclusive.load(Ordering::Relaxed) {
            match try_lock(&mut connection, &topic, partition).await {
                Ok(true) => {
                    exclusive.store(true, Ordering::Relaxed);
                    tracing::info!(%topic, partition, "reply partition leased");
                }
                Ok(false) => {
                    tracing::debug!(%topic, partition, "reply partition still shared");
                }
                Err(e) => {
                    tracing::warn!(%topic, partition, error = %e, "cannot lease the reply partition")
                }
            }
        }
    }
}
