//! Customers' stored facts in memory, so a busy scorer reads each customer once rather than
//! once per decision (reading and decoding a customer's history is most of a decision's
//! database cost).
//!
//! Stored facts change only when the company uploads: every stored batch is announced as a
//! `batch.accepted` audit event after its commit, and the scorer drops the company's cached
//! facts when it reads one (`invalidate`). Each company has a generation, bumped by every
//! invalidation; a read from the database is cached only if the generation did not move while
//! it ran, so a read that raced an upload never outlives it. Entries also expire after
//! `max_age`, in case the audit topic cannot be followed for a while. Memory is bounded by a
//! number of customers; the least recently used go first.

use aval_core::features::CustomerFacts;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug)]
struct Entry {
    facts: Arc<CustomerFacts>,
    generation: u64,
    stored_at: Instant,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<(Uuid, String), Entry>,
    generations: HashMap<Uuid, u64>,
    tick: u64,
}

#[derive(Debug)]
pub(crate) struct FactsCache {
    inner: Mutex<Inner>,
    capacity: usize,
    max_age: Duration,
}

impl FactsCache {
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            capacity,
            max_age,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The company's generation: take it before reading the database, give it to `put`.
    pub(crate) fn generation(&self, company: Uuid) -> u64 {
        self.lock().generations.get(&company).copied().unwrap_or(0)
    }

    /// The customer's facts, if cached since the company's last upload and not too old.
    pub(crate) fn get(&self, company: Uuid, customer: &str) -> Option<Arc<CustomerFacts>> {
        let mut inner = self.lock();
        let generation = inner.generations.get(&company).copied().unwrap_or(0);
        inner.tick += 1;
        let tick = inner.tick;
        let max_age = self.max_age;
        let entry = inner.entries.get_mut(&(company, customer.to_owned()))?;
        if entry.generation != generation || entry.stored_at.elapsed() >= max_age {
            return None;
        }
        entry.last_used = tick;
        Some(entry.facts.clone())
    }

    /// Caches facts read from the database while the company was at `generation`; a read
    /// that an upload overtook is not cached.
    pub(crate) fn put(
        &self,
        company: Uuid,
        customer: String,
        facts: Arc<CustomerFacts>,
        generation: u64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.generations.get(&company).copied().unwrap_or(0) != generation {
            return;
        }
        inner.tick += 1;
        let last_used = inner.tick;
        inner.entries.insert(
            (company, customer),
            Entry {
                facts,
                generation,
                stored_at: Instant::now(),
                last_used,
            },
        );
        if inner.entries.len() > self.capacity {
            evict(&mut inner, self.capacity);
        }
    }

    /// The company uploaded: none of its cached facts may be used again.
    pub(crate) fn invalidate(&self, company: Uuid) {
        let mut inner = self.lock();
        *inner.generations.entry(company).or_default() += 1;
        inner.entries.retain(|(owner, _), _| *owner != company);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

/// Drops the least recently used tenth (at least one), so eviction's sort is paid once per
/// many inserts.
fn evict(inner: &mut Inner, capacity: usize) {
    let keep = capacity - capacity / 10;
    let mut ages: Vec<u64> = inner.entries.values().map(|e| e.last_used).collect();
    let drop = ages.len().saturating_sub(keep).max(1);
    let (_, &mut cutoff, _) = ages.select_nth_unstable(drop - 1);
    inner.entries.retain(|_, e| e.last_used > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Arc<CustomerFacts> {
        Arc::new(CustomerFacts::default())
    }

    #[test]
    fn an_upload_invalidates_the_company_only() {
        let cache = FactsCache::new(10, Duration::from_secs(60));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        cache.put(a, "C1".into(), facts(), cache.generation(a));
        cache.put(b, "C1".into(), facts(), cache.generation(b));
        assert!(cache.get(a, "C1").is_some());
        cache.invalidate(a);
        assert!(cache.get(a, "C1").is_none());
        assert!(
            cache.get(b, "C1").is_some(),
            "another company keeps its facts"
        );
    }

    #[test]
    fn a_read_overtaken_by_an_upload_is_not_cached() {
        let cache = FactsCache::new(10, Duration::from_secs(60));
        let company = Uuid::new_v4();
        let before = cache.generation(company);
        cache.invalidate(company); // the upload lands while the read runs
        cache.put(company, "C1".into(), facts(), before);
        assert!(cache.get(company, "C1").is_none());
        cache.put(company, "C1".into(), facts(), cache.generation(company));
        assert!(cache.get(company, "C1").is_some());
    }

    #[test]
    fn old_entries_expire() {
        let cache = FactsCache::new(10, Duration::ZERO);
        let company = Uuid::new_v4();
        cache.put(company, "C1".into(), facts(), 0);
        assert!(cache.get(company, "C1").is_none());
    }

    #[test]
    fn memory_is_bounded_and_recent_customers_stay() {
        let cache = FactsCache::new(20, Duration::from_secs(60));
        let company = Uuid::new_v4();
        cache.put(company, "C0".into(), facts(), 0);
        for i in 1..100 {
            assert!(cache.get(company, "C0").is_some(), "C0 is used all along");
            cache.put(company, format!("C{i}"), facts(), 0);
            assert!(cache.len() <= 20);
        }
        assert!(cache.get(company, "C99").is_some());
        assert!(
            cache.get(company, "C1").is_none(),
            "the least recently used went"
        );
    }
}
