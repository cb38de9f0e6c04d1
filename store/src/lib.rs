//! PostgreSQL, aval's system of record: the connection pool, the migration runner (the
//! versioned files of `sql/postgres`, embedded at build time) and one module per aggregate.

mod access;
pub mod audit;
pub mod companies;
pub mod comparison;
pub mod datasets;
pub mod decisions;
pub mod drift;
mod error;
pub mod experiments;
pub mod facts;
mod items;
pub mod jwt_keys;
pub mod lease;
pub mod models;
pub mod monitoring;
pub mod outcomes;
pub mod policies;
pub mod reply_partitions;
pub mod reviews;
mod rows;
mod tenant_cache;
pub mod training_data;
pub mod training_runs;

pub use error::StoreError;
pub use tenant_cache::{Generation, TenantCache};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../sql/postgres");

/// A row inserted but not yet committed. The caller publishes the matching audit event first
/// and commits only once the broker has it, so nothing exists unaudited; dropping it rolls
/// back.
#[derive(Debug)]
pub struct Pending<T> {
    pub value: T,
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl<T> Pending<T> {
    pub(crate) fn new(value: T, tx: sqlx::Transaction<'static, sqlx::Postgres>) -> Self {
        Self { value, tx }
    }

    pub async fn commit(self) -> Result<T, StoreError> {
        self.tx.commit().await?;
        Ok(self.value)
    }
}

/// The pool settings every store shares. A connection is not pinged before each use (sqlx's
/// default): that doubled the round trips of every statement on the decision path, and a
/// connection that broke meanwhile fails its statement, which the caller retries like any
/// other transient database error.
fn options() -> PgPoolOptions {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    access: Arc<access::AccessMemory>,
    /// The connection the scorer records decisions on, kept out of the pool. sqlx pings every
    /// connection that goes back to its pool, so a pooled insert costs two round trips, and
    /// at 1,000 decisions/s there is about one insert per decision. A statement that fails
    /// gives the connection back (the pool's ping then keeps or closes it).
    decision_writer: Arc<tokio::sync::Mutex<Option<PoolConnection<Postgres>>>>,
}

impl Store {
    /// Connects lazily-checked: fails now if the database is unreachable, so a misconfigured
    /// process stops at start instead of at its first request.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = options()
            .max_connections(max_connections)
            .connect(url)
            .await?;
        Ok(Self::with_pool(pool))
    }

    /// A pool that connects on first use: for code (and tests) that may never reach the
    /// database.
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        let pool = options().connect_lazy(url)?;
        Ok(Self::with_pool(pool))
    }

    fn with_pool(pool: PgPool) -> Self {
        Self {
            pool,
            access: Arc::new(access::AccessMemory::new()),
            decision_writer: Arc::default(),
        }
    }

    /// Applies every migration not yet applied. Safe to run from several processes at once:
    /// sqlx takes an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
