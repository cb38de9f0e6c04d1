//! Each company's models in memory. A request takes an `Arc` of the model once and decides
//! with it alone, so an activation arriving mid-request swaps the whole value for later
//! requests without ever mixing two versions in one decision (the arc-swap pattern; a plain
//! mutex held only for map lookups is enough here: no lock is held while deciding or awaiting).
//! Memory is bounded by the number of companies kept; the least recently used one is dropped
//! and reloaded from the database on its next request.

use aval_core::model::TrainedModel;
use aval_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use thiserror::Error;
use uuid::Uuid;

/// Versions kept per company: the active one, every other version an experiment may name
/// (challengers, shadows, the champion a promotion replaced), and one for tests of a named
/// version. Only experimenting companies hold more than one or two.
const MAX_VERSIONS_PER_COMPANY: usize =
    1 + aval_core::experiment::MAX_CHALLENGERS + aval_core::experiment::MAX_SHADOWS + 2;

#[derive(Debug, Error)]
pub(crate) enum CacheError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored artifact that does not parse is a bug or corruption, not the request's fault.
    #[error("model version {version} cannot be read: {message}")]
    Artifact { version: i32, message: String },
}

/// The model a decision uses, and which version it is.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    pub(crate) version: i32,
    pub(crate) model: Arc<TrainedModel>,
}

#[derive(Debug, Default)]
struct Company {
    /// `Some(None)`: known to have no active model; `None`: not known yet (ask the database).
    active: Option<Option<i32>>,
    models: HashMap<i32, Arc<TrainedModel>>,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    companies: HashMap<Uuid, Company>,
    tick: u64,
}

#[derive(Debug)]
pub(crate) struct ModelCache {
    store: Store,
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ModelCache {
    pub(crate) fn new(store: Store, capacity: usize) -> Self {
        Self {
            store,
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The company's active model (`requested` = `None`) or the named version; `None` when it
    /// has no active model or no such version.
    pub(crate) async fn model(
        &self,
        company: Uuid,
        requested: Option<i32>,
    ) -> Result<Option<Chosen>, CacheError> {
        let version = match requested {
            Some(version) => version,
            None => {
                let known = self.with_company(company, |c| c.active);
                match known {
                    Some(Some(version)) => version,
                    Some(None) => return Ok(None),
                    None => {
                        let active = self.store.active_version(company).await?;
                        // An activation record that arrived while the database was asked is
                        // newer than what the database said then: it wins.
                        self.with_company(company, |c| {
                            c.active.get_or_insert(active);
                        });
                        match self.with_company(company, |c| c.active.flatten()) {
                            Some(version) => version,
                            None => return Ok(None),
                        }
                    }
                }
            }
        };
        if let Some(model) = self.with_company(company, |c| c.models.get(&version).cloned()) {
            return Ok(Some(Chosen { version, model }));
        }
        let Some(stored) = self.store.model(company, version).await? else {
            return Ok(None);
        };
        let model: TrainedModel =
            serde_json::from_slice(&stored.artifact).map_err(|e| CacheError::Artifact {
                version,
                message: e.to_string(),
            })?;
        let model = Arc::new(model);
        self.with_company(company, |c| {
            if c.models.len() >= MAX_VERSIONS_PER_COMPANY {
                let keep = c.active.flatten();
                c.models.retain(|v, _| Some(*v) == keep);
            }
            c.models.insert(version, model.clone());
        });
        Ok(Some(Chosen { version, model }))
    }

    /// An activation record: later requests of the company use `version`. The model itself
    /// is loaded on the next request that needs it.
    pub(crate) fn activate(&self, company: Uuid, version: i32) {
        self.with_company(company, |c| c.active = Some(Some(version)));
    }

    /// Runs `f` on the company's entry (created if absent, marked as just used), evicting the
    /// least recently used company when over capacity.
    fn with_company<T>(&self, company: Uuid, f: impl FnOnce(&mut Company) -> T) -> T {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if !inner.companies.contains_key(&company) && inner.companies.len() >= self.capacity {
            let oldest = inner
                .companies
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                inner.companies.remove(&oldest);
            }
        }
        let entry = inner.companies.entry(company).or_default();
        entry.last_used = tick;
        f(entry)
    }

    #[cfg(test)]
    fn companies(&self) -> usize {
        self.lock().companies.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn cache(capacity: usize) -> Option<ModelCache> {
        // The pool connects lazily in tests that never touch the database.
        let store = Store::connect_lazy("postgres://unused@127.0.0.1:1/none").ok()?;
        Some(ModelCache::new(store, capacity))
    }

    #[tokio::test]
    async fn activations_are_bounded_by_company_count() {
        let Some(cache) = cache(2).await else { return };
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        cache.activate(a, 1);
        cache.activate(b, 1);
        cache.activate(a, 2); // a is now the most recently used
        cache.activate(c, 1); // evicts b
        assert_eq!(cache.companies(), 2);
        assert_eq!(cache.with_company(a, |e| e.active), Some(Some(2)));
        assert_eq!(cache.with_company(b, |e| e.active), None);
    }
}
