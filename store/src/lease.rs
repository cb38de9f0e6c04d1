//! Leases: work that one process of a deployment should do at a time, whichever processes are
//! running (the drift monitor's checks). A lease is a PostgreSQL session advisory lock held on
//! a connection of its own, outside the pool: it lasts as long as that connection, so a
//! process that dies or loses the database gives it up, and another takes it at its next try.

use crate::{Store, StoreError};
use sqlx::{Connection, PgConnection};

/// Held while alive; dropping it closes its connection, which releases the lock.
#[derive(Debug)]
pub struct Lease {
    connection: PgConnection,
}

impl Store {
    /// Takes the lease named `name` if no other session holds it.
    pub async fn try_lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let mut connection = self.pool.acquire().await?.detach();
        let taken: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(name)
                .fetch_one(&mut connection)
                .await?;
        Ok(taken.then_some(Lease { connection }))
    }
}

impl Lease {
    /// Whether the lease is still held: its connection answers. A lease that is not is to be
    /// dropped and taken again.
    pub async fn held(&mut self) -> bool {
        self.connection.ping().await.is_ok()
    }
}
