//! Token access, remembered between requests. Every authenticated call (HTTP or Kafka) asks
//! whether its token still stands; reading that from the database each time was two of the
//! three statements of a decision. The answer changes only when a company is deactivated or a
//! token revoked, and the database itself announces both: a trigger sends a notification on
//! `ACCESS_CHANNEL` at commit, whoever made the change (the admin commands, or SQL by hand).
//!
//! A process remembers granted access only while it is listening: the first access check
//! starts a task that listens and forgets a company's tokens at each notification. When the
//! connection is lost, notifications sent meanwhile are lost with it, so everything is
//! forgotten and nothing is remembered until it listens again. So a revocation takes effect
//! as soon as its notification arrives (well under a millisecond here), not at the next
//! expiry. Refusals are never remembered: they are rare, and a refused token must not crowd
//! out granted ones.

use crate::TenantCache;
use crate::companies::Company;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use uuid::Uuid;

/// The channel the `access_changed` trigger notifies; the payload is the company id.
const ACCESS_CHANNEL: &str = "aval_access";
/// Tokens remembered per process (a few hundred bytes each).
const REMEMBERED_TOKENS: usize = 10_000;
/// A backstop only: notifications are what make a revocation take effect.
const MAX_AGE: Duration = Duration::from_secs(60);
/// Between attempts to listen again after the connection was lost.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct AccessMemory {
    /// Granted access by (company, token id).
    granted: TenantCache<Uuid, Company>,
    listening: AtomicBool,
    started: AtomicBool,
}

impl AccessMemory {
    pub(crate) fn new() -> Self {
        Self {
            granted: TenantCache::new(REMEMBERED_TOKENS, MAX_AGE),
            listening: AtomicBool::new(false),
            started: AtomicBool::new(false),
        }
    }

    /// Starts listening for changes, once per process (the first access check calls it).
    pub(crate) fn start(self: &Arc<Self>, pool: &PgPool) {
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(follow_changes(pool.clone(), Arc::downgrade(self)));
        }
    }

    /// The company, if the token's access was granted and may still be trusted.
    pub(crate) fn granted(&self, company: Uuid, jti: Uuid) -> Option<Company> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        self.granted.get(company, &jti)
    }

    /// Where a read from the database begins; `None` when its answer may not be kept.
    /// The generation is taken before `listening` is looked at, and a lost connection clears
    /// `listening` before it bumps the epoch: so a read that began while listening but ran
    /// past a lost connection carries an older epoch, and is not kept.
    pub(crate) fn begin_read(&self, company: Uuid) -> Option<crate::Generation> {
        let generation = self.granted.generation(company);
        self.listening.load(Ordering::SeqCst).then_some(generation)
    }

    /// Nothing remembered may be trusted any more.
    fn stop_listening(&self) {
        self.listening.store(false, Ordering::SeqCst);
        self.granted.invalidate_all();
    }

    /// Forgets the company's granted tokens now, without waiting for the notification.
    pub(crate) fn forget(&self, company: Uuid) {
        self.granted.invalidate(company);
    }

    pub(crate) fn remember(&self, company: Company, jti: Uuid, generation: crate::Generation) {
        self.granted.put(company.id, jti, company, generation);
    }
}

/// Listens on `ACCESS_CHANNEL` for as long as the memory exists and the pool is open,
/// listening again after a lost connection.
async fn follow_changes(pool: PgPool, memory: Weak<AccessMemory>) {
    // However this task ends (even dropped with its runtime), the memory stops trusting
    // itself, and the next access check starts listening again.
    struct Deaf(Weak<AccessMemory>);
    impl Drop for Deaf {
        fn drop(&mut self) {
            if let Some(m) = self.0.upgrade() {
                m.stop_listening();
                m.started.store(false, Ordering::SeqCst);
            }
        }
    }
    let _deaf = Deaf(memory.clone());
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(ACCESS_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match listener {
            Ok(mut listener) => {
                let Some(m) = memory.upgrade() else { return };
                // Anything read before now may predate a change that was not heard.
                m.granted.invalidate_all();
                m.listening.store(true, Ordering::SeqCst);
                drop(m);
                let lost = loop {
                    let notification = listener.try_recv().await;
                    let Some(m) = memory.upgrade() else { return };
                    match notification {
                        Ok(Some(n)) => match n.payload().parse::<Uuid>() {
                            Ok(company) => m.granted.invalidate(company),
                            // Not one company (a TRUNCATE): forget everyone.
                            Err(_) => m.granted.invalidate_all(),
                        },
                        Ok(None) => break "the connection was lost".to_owned(),
                        Err(sqlx::Error::PoolClosed) => return,
                        Err(e) => break e.to_string(),
                    }
                };
                let Some(m) = memory.upgrade() else { return };
                m.stop_listening();
                tracing::warn!(reason = %lost, "stopped hearing token revocations; checking every token in the database until listening again");
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for token revocations; checking every token in the database meanwhile");
            }
        }
        tokio::time::sleep(RELISTEN_AFTER).await;
        if memory.strong_count() == 0 {
            return;
        }
    }
}
