//! Running independent fits side by side on the machine's cores.

use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// The cores this process may use, asked once: the standard library reads the cgroup's CPU
/// quota from files on every call, which was 7 % of the scorer's CPU when it asked per batch.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// `work` on each item, each on its own thread, with its wall time; in the order given.
/// Candidates are independent and two of the three learners use one core, so side by side
/// they keep both cores busy. A panic fails that item only.
pub(super) fn side_by_side<I: Copy + Send + Sync, T: Send>(
    items: &[I],
    work: impl Fn(I) -> Result<T, String> + Sync,
) -> Vec<(Result<T, String>, f64)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .iter()
            .map(|&item| {
                let work = &work;
                scope.spawn(move || {
                    let clock = Instant::now();
                    let result = work(item);
                    (result, clock.elapsed().as_secs_f64())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| (Err("its fit panicked".to_owned()), 0.0))
            })
            .collect()
    })
}

/// At most as many fits at once as there are cores: the folds of every candidate wait their
/// turn, as more threads than cores only took turns evicting each other's caches.
pub(super) struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Permits {
    pub(super) fn new(count: usize) -> Self {
        Permits {
            free: Mutex::new(count.max(1)),
            freed: Condvar::new(),
        }
    }

    pub(super) fn hold<T>(&self, work: impl FnOnce() -> T) -> T {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        drop(free);
        // Given back even when `work` panics, so the other fits still run.
        let _permit = Release(self);
        work()
    }
}

struct Release<'a>(&'a Permits);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}
