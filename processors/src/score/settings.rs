//! A company's settings the scorer keeps in memory: its decision policy and its experiment.
//! Each is read from the database when first needed and kept until the audit event that
//! announces a newer version is read (`Changes`), and read again after at most the cache's
//! age in case an announcement was missed.
//!
//! The event goes out before the save commits, so a read between the two still finds the
//! older version: that read serves its decisions but is not kept, and the next read finds the
//! new one. Remembering the newest version announced is what tells the two apart.

use aval_core::experiment::ExperimentInForce;
use aval_core::policy::PolicyInForce;
use aval_store::TenantCache;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use uuid::Uuid;

/// A saved setting, numbered from 1 per company.
pub(crate) trait Versioned {
    fn version(&self) -> i32;
}

impl Versioned for PolicyInForce {
    fn version(&self) -> i32 {
        self.version
    }
}

impl Versioned for ExperimentInForce {
    fn version(&self) -> i32 {
        self.version
    }
}

/// Each company's setting in force (`None`: it has none).
#[derive(Debug)]
pub(crate) struct Announced<T> {
    cache: TenantCache<(), Option<Arc<T>>>,
    newest: Mutex<HashMap<Uuid, i32>>,
}

impl<T: Versioned> Announced<T> {
    pub(crate) fn new(companies: usize, max_age: Duration) -> Self {
        Self {
            cache: TenantCache::new(companies, max_age),
            newest: Mutex::default(),
        }
    }

    /// The company's setting: from memory, else from `read`, kept unless it is older than a
    /// version the company announced.
    pub(crate) async fn get<E>(
        &self,
        company: Uuid,
        read: impl Future<Output = Result<Option<T>, E>>,
    ) -> Result<Option<Arc<T>>, E> {
        if let Some(known) = self.cache.get(company, &()) {
            return Ok(known);
        }
        let generation = self.cache.generation(company);
        let read = read.await?.map(Arc::new);
        let version = read.as_deref().map_or(0, Versioned::version);
        if version >= self.newest(company) {
            self.cache.put(company, (), read.clone(), generation);
        }
        Ok(read)
    }

    /// `company` saved `version`: the copy in memory is dropped.
    pub(crate) fn announced(&self, company: Uuid, version: i32) {
        {
            let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
            let known = newest.entry(company).or_insert(version);
            *known = (*known).max(version);
        }
        self.cache.invalidate(company);
    }

    fn newest(&self, company: Uuid) -> i32 {
        self.newest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&company)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Setting(i32);

    impl Versioned for Setting {
        fn version(&self) -> i32 {
            self.0
        }
    }

    async fn read(version: i32) -> Result<Option<Setting>, ()> {
        Ok((version > 0).then_some(Setting(version)))
    }

    #[tokio::test]
    async fn a_read_older_than_the_announced_version_serves_but_is_not_kept() {
        let settings = Announced::<Setting>::new(10, Duration::from_secs(60));
        let company = Uuid::from_u128(1);
        assert_eq!(
            settings.get(company, read(1)).await,
            Ok(Some(Arc::new(Setting(1))))
        );
        // Kept: a later read is not asked for.
        assert_eq!(
            settings.get(company, read(9)).await,
            Ok(Some(Arc::new(Setting(1))))
        );
        settings.announced(company, 2);
        // The save has not committed yet: the old version serves, and is not kept.
        assert_eq!(
            settings.get(company, read(1)).await,
            Ok(Some(Arc::new(Setting(1))))
        );
        assert_eq!(
            settings.get(company, read(2)).await,
            Ok(Some(Arc::new(Setting(2))))
        );
        assert_eq!(
            settings.get(company, read(3)).await,
            Ok(Some(Arc::new(Setting(2))))
        );
        // None at all is kept too, until announced.
        let other = Uuid::from_u128(2);
        assert_eq!(settings.get(other, read(0)).await, Ok(None));
        assert_eq!(settings.get(other, read(5)).await, Ok(None));
    }
}
