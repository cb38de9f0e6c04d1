//! How requests are sent, whatever they are sent to (the gateway over HTTP, or the bare Kafka
//! echo): open loop at a fixed rate, or one at a time.

use axum::body::Bytes;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// What one request came back with: its HTTP status (the echo answers 200; `None`: no
/// answer) and the body.
pub(crate) type Answer = (Option<u16>, Option<Bytes>);

/// One request of a run: its answer and its latency (from the due time in the open loop).
pub(crate) struct Sample {
    pub(crate) status: Option<u16>,
    pub(crate) micros: u64,
    pub(crate) body: Option<Bytes>,
}

/// A run's answers, in schedule order, and the generator's own largest lag.
pub(crate) struct Run {
    /// Requests per second; `None` for one at a time.
    pub(crate) rate: Option<u64>,
    pub(crate) interval: Duration,
    pub(crate) samples: Vec<Sample>,
    pub(crate) send_lag_max_ms: f64,
}

impl Run {
    /// The rate as the `RESULT` lines name it: `seq` for one request at a time.
    pub(crate) fn rate_label(&self) -> String {
        self.rate
            .map_or_else(|| "seq".to_owned(), |r| r.to_string())
    }

    pub(crate) fn errors(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| s.status != Some(200))
            .count()
    }

    /// Every latency, sorted.
    pub(crate) fn latencies(&self) -> Vec<u64> {
        let mut micros: Vec<u64> = self.samples.iter().map(|s| s.micros).collect();
        micros.sort_unstable();
        micros
    }
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// Open loop: request i is due at start + i/rate whatever happened to the earlier ones, and
/// its latency counts from that due time (not from when it was actually sent), so a stalled
/// server or generator shows up as latency instead of silently lowering the rate (no
/// coordinated omission). `send` starts a request; its future runs as a task of its own.
pub(crate) async fn open_loop<T, F, Fut>(rate: u64, bodies: Vec<T>, send: F) -> Result<Run, Error>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let send_lag_max = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(50);
    // The schedule keeps its own thread: the runtime's timer ticks in whole milliseconds, so
    // waking there would send each request up to a millisecond late and count that as the
    // server's latency. A thread's sleep wakes within tens of microseconds of the due time.
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel();
    let total = bodies.len();
    let schedule = {
        let send_lag_max = send_lag_max.clone();
        std::thread::spawn(move || {
            for (i, body) in bodies.into_iter().enumerate() {
                let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let lag = due.elapsed().as_micros() as u64;
                send_lag_max.fetch_max(lag, Ordering::Relaxed);
                if due_tx.send((due, body)).is_err() {
                    return;
                }
            }
        })
    };
    let mut tasks = Vec::with_capacity(total);
    while let Some((due, body)) = due_rx.recv().await {
        let answer = send(body);
        tasks.push(tokio::spawn(async move {
            let (status, body) = answer.await;
            Sample {
                status,
                micros: due.elapsed().as_micros() as u64,
                body,
            }
        }));
    }
    schedule
        .join()
        .map_err(|_| "the request schedule's thread panicked")?;
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        samples.push(task.await?);
    }
    Ok(Run {
        rate: Some(rate),
        interval,
        samples,
        send_lag_max_ms: send_lag_max.load(Ordering::Relaxed) as f64 / 1000.0,
    })
}

/// One request at a time for `seconds` (or until `bodies` run out): the next leaves when the
/// last is answered, so each latency is the unloaded round trip, counted from its send.
pub(crate) async fn sequential<T, F, Fut>(seconds: u64, bodies: Vec<T>, send: F) -> Run
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Answer>,
{
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut samples = Vec::new();
    for body in bodies {
        if Instant::now() >= until {
            break;
        }
        let sent = Instant::now();
        let (status, body) = send(body).await;
        samples.push(Sample {
            status,
            micros: sent.elapsed().as_micros() as u64,
            body,
        });
    }
    Run {
        rate: None,
        interval: Duration::ZERO,
        samples,
        send_lag_max_ms: 0.0,
    }
}
