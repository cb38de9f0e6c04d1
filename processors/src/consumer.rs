//! How every processor consumes: at least once, in partition order, the offset stored by hand
//! only after the record's effect is durable.
//!
//! Each record goes through three phases. `prepare` reads it and calls the domain (decode,
//! authenticate, validate); `apply` writes the result (database, dead letters); `announce`
//! publishes what others must hear of it (audit events, training requests). They form a
//! pipeline — record n+1 is prepared while record n is applied and record n-1 announced — so
//! CPU work, database and broker round trips overlap, yet each phase handles records one at a
//! time, in order, and an offset is stored only once its record is announced. A phase that
//! fails for a reason outside the record (database, registry or Kafka down) is retried with
//! backoff, never skipped.

use crate::ProcessorError;
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, OwnedMessage};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub bootstrap: String,
    /// The consumer group: instances sharing it split the partitions between them.
    pub group_id: String,
}

/// A failure worth retrying the same record for: an external system is down or busy.
#[derive(Debug)]
pub(crate) struct Transient(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Transient {
    fn from(e: E) -> Self {
        Transient(e.to_string())
    }
}

pub(crate) trait Handler: Send + Sync + 'static {
    /// What `prepare` decided should be written for one record.
    type Work: Send + Sync + 'static;
    /// What `apply` decided should be published once the write is durable.
    type Announcement: Send + Sync + 'static;

    fn prepare(
        &self,
        message: &BorrowedMessage<'_>,
    ) -> impl Future<Output = Result<Self::Work, Transient>>;

    /// Must be safe to repeat: it is retried after a transient failure, and a crash before
    /// the offset is stored replays it.
    fn apply(
        &self,
        message: &OwnedMessage,
        work: &Self::Work,
    ) -> impl Future<Output = Result<Self::Announcement, Transient>> + Send;

    /// Must be safe to repeat, like `apply` (follow-up records carry fixed ids).
    fn announce(
        &self,
        announcement: &Self::Announcement,
    ) -> impl Future<Output = Result<(), Transient>> + Send;
}

/// A processor that takes records a batch at a time: what is waiting, up to [`MAX_BATCH`],
/// so database and broker round trips are paid per batch rather than per record when busy,
/// while a lone record still goes through at once. Same guarantees as [`Handler`]: in order,
/// at least once, offsets stored only after `announce`.
pub(crate) trait BatchHandler: Send + Sync + 'static {
    /// What `prepare` decided should be written for the batch.
    type Work: Send + Sync + 'static;
    /// What `apply` decided should be published once the writes are durable.
    type Announcement: Send + Sync + 'static;

    /// Must not fail for a bad record (that record is dead-lettered); `Err` retries the batch.
    fn prepare(
        &self,
        messages: &[OwnedMessage],
    ) -> impl Future<Output = Result<Self::Work, Transient>> + Send;

    /// Must be safe to repeat, as [`Handler::apply`].
    fn apply(
        &self,
        messages: &[OwnedMessage],
        work: &Self::Work,
    ) -> impl Future<Output = Result<Self::Announcement, Transient>> + Send;

    /// Must be safe to repeat, as [`Handler::announce`].
    fn announce(
        &self,
        announcement: &Self::Announcement,
    ) -> impl Future<Output = Result<(), Transient>> + Send;
}

/// Most records one batch takes: enough to amortise round trips, few enough that a batch's
/// decisions leave within milliseconds.
pub(crate) const MAX_BATCH: usize = 1_000;

/// Retries `attempt` with exponential backoff until it succeeds or `stop` is cancelled.
pub(crate) async fn retry<T, F: Future<Output = Result<T, Transient>>>(
    name: &str,
    stop: &CancellationToken,
    mut attempt: impl FnMut() -> F,
) -> Option<T> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(Transient(reason)) => {
                tracing::warn!(processor = name, %reason, retry_in = ?backoff, "record not processed yet");
                tokio::select! {
                    () = stop.cancelled() => return None,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Where a record sits, to store its offset once it is done.
pub(crate) type Position = (String, i32, i64);
/// A phase in flight for one record; `None` when abandoned at shutdown (it will be replayed).
type InFlight<T> = JoinHandle<Option<(Position, T)>>;

impl ConsumerSettings {
    /// Offsets are committed in the background, but only those the loop stored explicitly
    /// (`enable.auto.offset.store=false`), i.e. of records whose effect is durable.
    pub(crate) fn subscribe(
        &self,
        topic: &str,
    ) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .create()?;
        consumer.subscribe(&[topic])?;
        Ok(consumer)
    }

    /// Reads `topic` until `shutdown` resolves, then finishes the apply in flight and commits
    /// the stored offsets.
    pub(crate) async fn run<H: Handler>(
        &self,
        name: &'static str,
        topic: &str,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ProcessorError> {
        self.drive(name, topic, shutdown, async |consumer, stop| {
            self.consume(name, consumer, handler, stop).await
        })
        .await
    }

    /// Like [`ConsumerSettings::run`], a batch of records at a time (see [`BatchHandler`]).
    pub(crate) async fn run_batches<H: BatchHandler>(
        &self,
        name: &'static str,
        topic: &str,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ProcessorError> {
        self.drive(name, topic, shutdown, async |consumer, stop| {
            consume_batches(name, consumer, handler, stop).await
        })
        .await
    }

    /// Subscribes, runs `consume` until `shutdown` resolves, then commits the stored offsets.
    async fn drive(
        &self,
        name: &'static str,
        topic: &str,
        shutdown: impl Future<Output = ()>,
        consume: impl AsyncFnOnce(&StreamConsumer, &CancellationToken) -> Result<(), ProcessorError>,
    ) -> Result<(), ProcessorError> {
        let consumer = self.subscribe(topic)?;
        tracing::info!(processor = name, %topic, group = %self.group_id, "processor started");
        let stop = CancellationToken::new();
        let result = {
            let cancel = async {
                shutdown.await;
                stop.cancel();
            };
            tokio::pin!(cancel);
            tokio::select! {
                () = &mut cancel => Ok(()),
                result = consume(&consumer, &stop) => result,
            }
        };
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last automatic commit is fine too.
            tracing::debug!(processor = name, error = %e, "final offset commit");
        }
        tracing::info!(processor = name, "processor stopped");
        result
    }

    async fn consume<H: Handler>(
        &self,
        name: &'static str,
        consumer: &StreamConsumer,
        handler: Arc<H>,
        stop: &CancellationToken,
    ) -> Result<(), ProcessorError> {
        // One record per phase at most: prepared and waiting, being applied, being announced.
        let mut prepared: Option<(OwnedMessage, H::Work)> = None;
        let mut applying: Option<InFlight<H::Announcement>> = None;
        let mut announcing: Option<InFlight<()>> = None;
        loop {
            if applying.is_none()
                && let Some((message, work)) = prepared.take()
            {
                let (handler, stop) = (handler.clone(), stop.clone());
                applying = Some(tokio::spawn(async move {
                    let position = (
                        message.topic().to_owned(),
                        message.partition(),
                        message.offset(),
                    );
                    retry(name, &stop, || handler.apply(&message, &work))
                        .await
                        .map(|announcement| (position, announcement))
                }));
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                done = finished(&mut announcing) => {
                    announcing = None;
                    let Some(done) = joined(done)? else { return Ok(()) };
                    store_offset(consumer, done);
                }
                done = finished(&mut applying), if announcing.is_none() => {
                    applying = None;
                    let Some((position, announcement)) = joined(done)? else { return Ok(()) };
                    let (handler, stop) = (handler.clone(), stop.clone());
                    announcing = Some(tokio::spawn(async move {
                        retry(name, &stop, || handler.announce(&announcement))
                            .await
                            .map(|()| (position, ()))
                    }));
                }
                received = consumer.recv(), if prepared.is_none() => match received {
                    Ok(message) => {
                        let Some(work) = retry(name, stop, || handler.prepare(&message)).await else {
                            return Ok(());
                        };
                        prepared = Some((message.detach(), work));
                    }
                    Err(e) => tracing::warn!(processor = name, error = %e, "kafka consume error"),
                },
            }
        }
    }
}

/// Reads batches: each is prepared while the one before it is written (applied and announced),
/// and batches are written one at a time, in order.
async fn consume_batches<H: BatchHandler>(
    name: &'static str,
    consumer: &StreamConsumer,
    handler: Arc<H>,
    stop: &CancellationToken,
) -> Result<(), ProcessorError> {
    // The batch being written; resolves to the offsets to store, `None` when abandoned.
    let mut writing: Option<JoinHandle<Option<Vec<Position>>>> = None;
    loop {
        let first = loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                done = finished(&mut writing) => {
                    writing = None;
                    let Some(positions) = done.map_err(|e| ProcessorError::Apply(e.to_string()))? else {
                        return Ok(());
                    };
                    store_offsets(consumer, &positions);
                }
                received = consumer.recv() => match received {
                    Ok(message) => break message.detach(),
                    Err(e) => tracing::warn!(processor = name, error = %e, "kafka consume error"),
                },
            }
        };
        // Whatever else has already arrived joins the batch; nothing waits for more.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(message.detach()),
                Some(Err(e)) => {
                    tracing::warn!(processor = name, error = %e, "kafka consume error");
                    break;
                }
                None => break,
            }
        }
        let Some(work) = retry(name, stop, || handler.prepare(&batch)).await else {
            return Ok(());
        };
        if let Some(previous) = writing.take() {
            let Some(positions) = previous
                .await
                .map_err(|e| ProcessorError::Apply(e.to_string()))?
            else {
                return Ok(());
            };
            store_offsets(consumer, &positions);
        }
        let (handler, stop) = (handler.clone(), stop.clone());
        writing = Some(tokio::spawn(async move {
            let announcement = retry(name, &stop, || handler.apply(&batch, &work)).await?;
            retry(name, &stop, || handler.announce(&announcement)).await?;
            Some(last_positions(&batch))
        }));
    }
}

/// The last offset of each partition in `batch`.
fn last_positions(batch: &[OwnedMessage]) -> Vec<Position> {
    let mut last: Vec<Position> = Vec::new();
    for message in batch {
        match last.iter_mut().find(|(topic, partition, _)| {
            topic == message.topic() && *partition == message.partition()
        }) {
            Some(position) => position.2 = position.2.max(message.offset()),
            None => last.push((
                message.topic().to_owned(),
                message.partition(),
                message.offset(),
            )),
        }
    }
    last
}

/// Resolves when the task in `slot` finishes; never, when the slot is empty.
async fn finished<T>(slot: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match slot {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

fn joined<T>(
    result: Result<Option<(Position, T)>, tokio::task::JoinError>,
) -> Result<Option<(Position, T)>, ProcessorError> {
    result.map_err(|e| ProcessorError::Apply(e.to_string()))
}

/// Marks a record done: its offset is committed with the next automatic commit.
fn store_offset(consumer: &StreamConsumer, done: (Position, ())) {
    store_offsets(consumer, &[done.0]);
}

/// Marks records done up to and including each position. A partition taken away by a
/// rebalance while its records were in flight refuses the offset: its new owner gets those
/// records again, which every phase is safe to repeat, so that is logged, not fatal.
pub(crate) fn store_offsets(consumer: &StreamConsumer, done: &[Position]) {
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in done {
        if let Err(e) = list.add_partition_offset(topic, *partition, Offset::Offset(offset + 1)) {
            tracing::warn!(%topic, partition, error = %e, "offset not stored");
        }
    }
    if let Err(e) = consumer.store_offsets(&list) {
        tracing::warn!(error = %e, "offsets not stored; their records will be read again");
    }
}
