//! Database reads kept in memory per company, for the hot paths that would otherwise read the
//! same rows on every request: token access (see [`crate::companies`]) and customers' stored
//! facts (the scorer).
//!
//! Whoever owns a cache learns when a company's rows change (an audit event, a database
//! notification) and calls [`TenantCache::invalidate`]; when it may have missed changes, it
//! calls [`TenantCache::invalidate_all`]. Each company has a generation, bumped by every
//! invalidation, and the cache an epoch, bumped by `invalidate_all`: a read from the database
//! is kept only if neither moved while it ran, so a read that raced a change never outlives
//! it. Entries also expire, a backstop for changes that were not seen: each after its own
//! lifetime between half `max_age` and `max_age`, so entries read together (a scorer's first
//! seconds) are not all read again in the same instant. Memory is bounded by a number of
//! entries; the least recently used go first.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// When a read began, as far as invalidations go: take it before reading the database, give
/// it to [`TenantCache::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    epoch: u64,
    company: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    generation: Generation,
    expires_at: Instant,
    last_used: u64,
}

#[derive(Debug)]
struct Inner<K, V> {
    /// Each company's entries by key: a lookup borrows the key (no owned copy per request),
    /// and invalidating a company drops its map instead of scanning every entry.
    entries: HashMap<Uuid, HashMap<K, Entry<V>>>,
    /// Entries over all companies.
    len: usize,
    generations: HashMap<Uuid, u64>,
    epoch: u64,
    tick: u64,
}

impl<K, V> Inner<K, V> {
    fn generation(&self, company: Uuid) -> Generation {
        Generation {
            epoch: self.epoch,
            company: self.generations.get(&company).copied().unwrap_or(0),
        }
    }
}

#[derive(Debug)]
pub struct TenantCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    capacity: usize,
    max_age: Duration,
}

impl<K: Eq + Hash, V: Clone> TenantCache<K, V> {
    /// At most `capacity` entries (0 keeps nothing), each used for at most `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                len: 0,
                generations: HashMap::new(),
                epoch: 0,
                tick: 0,
            }),
            capacity,
            max_age,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn generation(&self, company: Uuid) -> Generation {
        self.lock().generation(company)
    }

    /// The company's value for `key`, if read since its last invalidation and not too old.
    pub fn get(&self, company: Uuid, key: &K) -> Option<V> {
        let mut inner = self.lock();
        let generation = inner.generation(company);
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.entries.get_mut(&company)?.get_mut(key)?;
        if entry.generation != generation || Instant::now() >= entry.expires_at {
            return None;
        }
        entry.last_used = tick;
        Some(entry.value.clone())
    }

    /// Keeps a value read from the database since `generation`; a read that an invalidation
    /// overtook is not kept.
    pub fn put(&self, company: Uuid, key: K, value: V, generation: Generation) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.generation(company) != generation {
            return;
        }
        inner.tick += 1;
        let last_used = inner.tick;
        let lifetime = self.max_age.mul_f64(0.5 + 0.5 * spread(last_used));
        let entry = Entry {
            value,
            generation,
            expires_at: Instant::now() + lifetime,
            last_used,
        };
        if inner
            .entries
            .entry(company)
            .or_default()
            .insert(key, entry)
            .is_none()
        {
            inner.len += 1;
        }
        if inner.len > self.capacity {
            evict(&mut inner, self.capacity);
        }
    }

    /// The company's rows changed: none of its entries may be used again.
    pub fn invalidate(&self, company: Uuid) {
        let mut inner = self.lock();
        *inner.generations.entry(company).or_default() += 1;
        if let Some(dropped) = inner.entries.remove(&company) {
            inner.len -= dropped.len();
        }
    }

    /// Any company's rows may have changed unseen: nothing kept may be used again.
    pub fn invalidate_all(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.entries.clear();
        inner.len = 0;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len
    }
}

/// A number in [0, 1) that looks random from one `n` to the next (splitmix64's finaliser):
/// spreads expiries without a random number generator.
fn spread(n: u64) -> f64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Drops the least recently used tenth (at least one), so eviction's sort is paid once per
/// many inserts.
fn evict<K, V>(inner: &mut Inner<K, V>, capacity: usize) {
    let keep = capacity - capacity / 10;
    let mut ages: Vec<u64> = inner
        .entries
        .values()
        .flat_map(|company| company.values().map(|e| e.last_used))
        .collect();
    let drop = ages.len().saturating_sub(keep).max(1);
    let (_, &mut cutoff, _) = ages.select_nth_unstable(drop - 1);
    inner.entries.retain(|_, company| {
        company.retain(|_, e| e.last_used > cutoff);
        !company.is_empty()
    });
    inner.len = inner.entries.values().map(HashMap::len).sum();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize, max_age: Duration) -> TenantCache<String, u32> {
        TenantCache::new(capacity, max_age)
    }

    #[test]
    fn an_invalidation_drops_the_company_only() {
        let cache = cache(10, Duration::from_secs(60));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        cache.put(a, "C1".into(), 1, cache.generation(a));
        cache.put(b, "C1".into(), 2, cache.generation(b));
        assert_eq!(cache.get(a, &"C1".into()), Some(1));
        cache.invalidate(a);
        assert_eq!(cache.get(a, &"C1".into()), None);
        assert_eq!(
            cache.get(b, &"C1".into()),
            Some(2),
            "another company keeps its entries"
        );
    }

    #[test]
    fn a_read_overtaken_by_an_invalidation_is_not_kept() {
        let cache = cache(10, Duration::from_secs(60));
        let company = Uuid::new_v4();
        let before = cache.generation(company);
        cache.invalidate(company); // the change lands while the read runs
        cache.put(company, "C1".into(), 1, before);
        assert_eq!(cache.get(company, &"C1".into()), None);
        cache.put(company, "C1".into(), 1, cache.generation(company));
        assert_eq!(cache.get(company, &"C1".into()), Some(1));
    }

    #[test]
    fn invalidating_everything_drops_entries_and_reads_in_flight() {
        let cache = cache(10, Duration::from_secs(60));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        cache.put(a, "C1".into(), 1, cache.generation(a));
        let in_flight = cache.generation(b);
        cache.invalidate_all();
        assert_eq!(cache.get(a, &"C1".into()), None);
        cache.put(b, "C1".into(), 2, in_flight);
        assert_eq!(cache.get(b, &"C1".into()), None);
    }

    #[test]
    fn old_entries_expire() {
        let cache = cache(10, Duration::ZERO);
        let company = Uuid::new_v4();
        cache.put(company, "C1".into(), 1, cache.generation(company));
        assert_eq!(cache.get(company, &"C1".into()), None);
    }

    #[test]
    fn lifetimes_spread_over_the_second_half_of_max_age() {
        let spreads: Vec<f64> = (0..1000).map(spread).collect();
        assert!(spreads.iter().all(|s| (0.0..1.0).contains(s)));
        let low = spreads.iter().filter(|&&s| s < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below one half");
    }

    #[test]
    fn memory_is_bounded_across_companies() {
        let cache = cache(20, Duration::from_secs(60));
        let companies: Vec<Uuid> = (0..7).map(|_| Uuid::new_v4()).collect();
        for i in 0..100u32 {
            let company = companies[i as usize % companies.len()];
            cache.put(company, format!("C{i}"), i, cache.generation(company));
            assert!(cache.len() <= 20);
        }
        assert_eq!(cache.get(companies[99 % 7], &"C99".into()), Some(99));
        cache.invalidate(companies[99 % 7]);
        assert!(cache.len() < 20, "the company's entries left the count");
        assert_eq!(cache.get(companies[99 % 7], &"C99".into()), None);
    }

    #[test]
    fn memory_is_bounded_and_recent_entries_stay() {
        let cache = cache(20, Duration::from_secs(60));
        let company = Uuid::new_v4();
        let generation = cache.generation(company);
        cache.put(company, "C0".into(), 0, generation);
        for i in 1..100 {
            assert!(
                cache.get(company, &"C0".into()).is_some(),
                "C0 is used all along"
            );
            cache.put(company, format!("C{i}"), i, generation);
            assert!(cache.len() <= 20);
        }
        assert!(cache.get(company, &"C99".into()).is_some());
        assert!(
            cache.get(company, &"C1".into()).is_none(),
            "the least recently used went"
        );
    }
}
