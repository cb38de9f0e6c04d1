//! The one consume loop every processor runs on: at least once, in partition order, the offset
//! stored by hand only after the records' effects are durable.
//!
//! Records are taken a batch at a time (whatever has arrived, up to the processor's maximum),
//! and each batch goes through three phases: `prepare` reads it and calls the domain, `apply`
//! writes the result (database, dead letters), `announce` publishes what others must hear
//! (replies, audit events, training requests). Batch n+1 is prepared while batch n is written,
//! so CPU work and round trips overlap; batches are applied one at a time, in order. A
//! processor whose announcements are independent records (the scorer) may also apply batch
//! n+1 while batch n's announcements await their acknowledgements
//! ([`Processor::OVERLAPPING_ANNOUNCE`]); its offsets are still stored in order.
//!
//! A phase fails in one of three ways ([`Failure`]):
//! - a dependency is down: the phase is retried with capped, jittered backoff for as long as it
//!   takes, and the outage is reported (readiness, `aval_processor_outages_total`);
//! - our own defect: logged loudly with where the records sit, retried a few times;
//! - a bad record, or a defect that did not go away: a batch of several records is taken again
//!   one record at a time, so the one at fault is found, and that record goes to the
//!   dead-letter topic with the reason while the partition moves on.

use crate::failure::Failure;
use crate::{DeadLetters, ProcessorError};
use aval_core::Outages;
use aval_topics::connection::{ConnectionContext, KafkaConnection};
use futures::FutureExt;
use rand::Rng;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Attempts at a phase that fails with a defect before its records are dead-lettered: enough
/// to ride out a race, few enough that a bug never holds a partition for long.
const DEFECT_ATTEMPTS: u32 = 3;

/// Most records one batch takes by default: enough to amortise round trips, few enough that a
/// batch's decisions leave within milliseconds.
pub(crate) const MAX_BATCH: usize = 1_000;

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// The cluster, and how to log in to it.
    pub kafka: KafkaConnection,
    /// The consumer group: instances sharing it split the partitions between them.
    pub group_id: String,
    /// This process's stable name in the group (static membership), when it has one: a
    /// restarted instance with the same name takes its partitions back at once, without a
    /// rebalance. Two live processes must never share it.
    pub instance_id: Option<String>,
    /// Where the loop reports dependencies it finds down, for readiness.
    pub outages: Outages,
}

/// A processor: what the loop calls for each batch. Every phase must be safe to repeat: a
/// failed phase is retried, and a crash before the offset is stored replays the batch.
pub(crate) trait Processor: Send + Sync + 'static {
    /// Names the processor in logs, metrics and dead letters.
    const NAME: &'static str;
    /// How long one batch may take before the group thinks the member is stuck.
    const MAX_POLL_INTERVAL: Duration = Duration::from_secs(300);
    /// Whether the broker may hold a fetch to gather more records; by default it answers the
    /// moment a record lands.
    const FETCH_BATCHING: Option<FetchBatching> = None;
    /// Whether a batch may be applied while the batch before it is still announcing (its
    /// records in flight, awaiting acknowledgement). Applies stay one at a time and in order,
    /// offsets are still stored in order, and at most one batch announces behind the one
    /// being applied. Off by default: a processor whose announcements must follow each other
    /// in batch order even when one is retried (the audit chain's heads) waits for each batch
    /// to finish.
    const OVERLAPPING_ANNOUNCE: bool = false;
    /// What `prepare` decided should be written for the batch.
    type Work: Send + Sync + 'static;
    /// What `apply` decided should be published once the writes are durable.
    type Announcement: Send + Sync + 'static;

    /// Most records one batch takes.
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn dead_letters(&self) -> &DeadLetters;

    fn prepare(
        &self,
        messages: &[OwnedMessage],
    ) -> impl Future<Output = Result<Self::Work, Failure>> + Send;

    fn apply(
        &self,
        messages: &[OwnedMessage],
        work: &Self::Work,
    ) -> impl Future<Output = Result<Self::Announcement, Failure>> + Send;

    fn announce(
        &self,
        announcement: &Self::Announcement,
    ) -> impl Future<Output = Result<(), Failure>> + Send;

    /// Called once a record went to the dead letters for `reason`, so that its company, when
    /// it can be known, hears of it in its audit log. Must be safe to repeat.
    fn dead_lettered(
        &self,
        _message: &OwnedMessage,
        _reason: &str,
    ) -> impl Future<Output = Result<(), Failure>> + Send {
        async { Ok(()) }
    }
}

/// A fetch the broker answers once `min_bytes` wait, or `max_wait` passed: for a processor
/// nobody waits on, so that it reads (and writes) a batch per fetch instead of a record, and
/// every fetch costs the broker and the processor once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchBatching {
    pub(crate) min_bytes: usize,
    pub(crate) max_wait: Duration,
}

/// Where a processor's records come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The topic's partitions shared with the group's other instances; progress is committed.
    Group(&'a str),
    /// Every partition of the topic, for this instance alone, from `from`; nothing committed.
    Follow { topic: &'a str, from: Offset },
}

/// Where a record sits, to store its offset once it is done.
pub(crate) type Position = (String, i32, i64);

impl ConsumerSettings {
    /// Reads `source` with `processor` until `shutdown` resolves, then commits the offsets of
    /// the records done.
    pub(crate) async fn run<P: Processor>(
        &self,
        processor: Arc<P>,
        source: Source<'_>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ProcessorError> {
        let consumer = self.consumer::<P>(source)?;
        tracing::info!(processor = P::NAME, ?source, group = %self.group_id, "processor started");
        let stop = CancellationToken::new();
        let result = {
            let cancel = async {
                shutdown.await;
                stop.cancel();
            };
            tokio::pin!(cancel);
            let run = Run {
                processor,
                outages: self.outages.clone(),
                stop: stop.clone(),
                commits: matches!(source, Source::Group(_)),
            };
            tokio::select! {
                () = &mut cancel => Ok(()),
                result = run.consume(&consumer) => result,
            }
        };
        if matches!(source, Source::Group(_))
            && let Err(e) = consumer.commit_consumer_state(CommitMode::Sync)
        {
            // Nothing stored since the last automatic commit is fine too.
            tracing::debug!(processor = P::NAME, error = %e, "final offset commit");
        }
        tracing::info!(processor = P::NAME, "processor stopped");
        result
    }

    fn create(&self, config: ClientConfig) -> Result<KafkaConsumer, rdkafka::error::KafkaError> {
        self.kafka.warn_overridden(&config, "consumer");
        config.create_with_context(ConnectionContext::default())
    }

    fn consumer<P: Processor>(
        &self,
        source: Source<'_>,
    ) -> Result<KafkaConsumer, rdkafka::error::KafkaError> {
        let name = P::NAME;
        let mut config = aval_topics::consumers::processor(&self.kafka, P::MAX_POLL_INTERVAL);
        if let Some(batching) = P::FETCH_BATCHING {
            config
                .set("fetch.min.bytes", batching.min_bytes.to_string())
                .set(
                    "fetch.wait.max.ms",
                    batching.max_wait.as_millis().to_string(),
                );
        }
        match source {
            Source::Group(topic) => {
                aval_topics::consumers::join_group(&mut config, &self.group_id);
                if let Some(instance) = &self.instance_id {
                    // Also the client id, so the group's members are told apart by name.
                    let member = format!("{instance}-{name}");
                    config
                        .set("group.instance.id", &member)
                        .set("client.id", &member);
                }
                let consumer = self.create(config)?;
                consumer.subscribe(&[topic])?;
                Ok(consumer)
            }
            Source::Follow { topic, from } => {
                // A group of its own, only because librdkafka wants one; assigned, not
                // subscribed, so reading starts at once, and nothing is committed.
                config
                    .set(
                        "group.id",
                        format!("{}-{name}-{}", self.group_id, uuid::Uuid::new_v4()),
                    )
                    .set("enable.auto.commit", "false");
                let consumer = self.create(config)?;
                let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
                let mut partitions = TopicPartitionList::new();
                for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                    partitions.add_partition_offset(topic, partition.id(), from)?;
                }
                consumer.assign(&partitions)?;
                Ok(consumer)
            }
        }
    }
}

/// One processor's loop and what it reports to.
struct Run<P> {
    processor: Arc<P>,
    outages: Outages,
    stop: CancellationToken,
    /// Whether progress is committed (a group's consumer), so offsets are stored.
    commits: bool,
}

impl<P> Clone for Run<P> {
    fn clone(&self) -> Self {
        Self {
            processor: self.processor.clone(),
            outages: self.outages.clone(),
            stop: self.stop.clone(),
            commits: self.commits,
        }
    }
}

/// A batch's prepared work, or the failure that stopped its preparation.
type Prepared<W> = Result<W, Failure>;

/// Every consumer of the loop reports librdkafka's errors and log lines through `tracing`.
type KafkaConsumer = StreamConsumer<ConnectionContext>;

impl<P: Processor> Run<P> {
    /// Reads batches: each is prepared while the one before it is written, and batches are
    /// applied one at a time, in order (with [`Processor::OVERLAPPING_ANNOUNCE`], while the
    /// batch before announces).
    async fn consume(&self, consumer: &KafkaConsumer) -> Result<(), ProcessorError> {
        // The batches being written, oldest first; each resolves to the offsets to store,
        // `None` when abandoned.
        let mut writing: VecDeque<JoinHandle<Option<Vec<Position>>>> = VecDeque::new();
        // Resolves once the newest batch is applied, or settled record by record: the next
        // one's apply waits for it. Dropped unsent, the batch was abandoned (a stop, a panic).
        let mut applied: Option<oneshot::Receiver<()>> = None;
        let announcing_behind = usize::from(P::OVERLAPPING_ANNOUNCE);
        loop {
            let first = loop {
                tokio::select! {
                    () = self.stop.cancelled() => return Ok(()),
                    written = finished(writing.front_mut()) => {
                        writing.pop_front();
                        if !self.done(consumer, written)? {
                            return Ok(());
                        }
                    }
                    received = consumer.recv() => match received {
                        Ok(message) => break message.detach(),
                        Err(e) => self.consume_error(&e),
                    },
                }
            };
            // Whatever else has already arrived joins the batch; nothing waits for more.
            let mut batch = vec![first];
            while batch.len() < self.processor.max_batch() {
                match consumer.recv().now_or_never() {
                    Some(Ok(message)) => batch.push(message.detach()),
                    Some(Err(e)) => {
                        self.consume_error(&e);
                        break;
                    }
                    None => break,
                }
            }
            metrics::histogram!("aval_processor_batch_records", "processor" => P::NAME)
                .record(batch.len() as f64);
            let Some(prepared) = self
                .attempt(&batch, "prepare", || self.processor.prepare(&batch))
                .await
            else {
                return Ok(());
            };
            while writing.len() > announcing_behind
                && let Some(previous) = writing.pop_front()
            {
                if !self.done(consumer, previous.await)? {
                    return Ok(());
                }
            }
            let (applied_now, applied_next) = oneshot::channel();
            let after = applied.replace(applied_next);
            let run = self.clone();
            writing.push_back(tokio::spawn(async move {
                // The batch before was abandoned: applying this one would write it out of order.
                if let Some(after) = after
                    && after.await.is_err()
                {
                    return None;
                }
                run.write(&batch, prepared, Some(applied_now)).await?;
                Some(last_positions(&batch))
            }));
        }
    }

    /// A batch's write has ended: its offsets are stored; `false` when it was abandoned (the
    /// loop stops), an error when its task panicked.
    fn done(
        &self,
        consumer: &KafkaConsumer,
        written: Result<Option<Vec<Position>>, tokio::task::JoinError>,
    ) -> Result<bool, ProcessorError> {
        let Some(positions) = written.map_err(|e| ProcessorError::Apply(e.to_string()))? else {
            return Ok(false);
        };
        if self.commits {
            store_offsets(consumer, &positions);
        }
        Ok(true)
    }

    fn consume_error(&self, e: &rdkafka::error::KafkaError) {
        tracing::warn!(processor = P::NAME, error = %e, "kafka consume error");
    }

    /// Applies and announces a prepared batch, or settles it record by record; `None` when
    /// stopped first. `applied` is told once the batch is applied, before it announces, or
    /// once it is settled. A batch whose announcement fails for good after `applied` was told
    /// is settled while the next batch applies: its records are applied again alongside, which
    /// the processors that overlap (the scorer) must be safe to do, as they are across
    /// instances.
    async fn write(
        &self,
        batch: &[OwnedMessage],
        prepared: Prepared<P::Work>,
        mut applied: Option<oneshot::Sender<()>>,
    ) -> Option<()> {
        let failure = match prepared {
            Ok(work) => {
                let outcome = self
                    .attempt(batch, "apply", || self.processor.apply(batch, &work))
                    .await?;
                match outcome {
                    Ok(announcement) => {
                        if let Some(applied) = applied.take() {
                            let _ = applied.send(());
                        }
                        let announced = self
                            .attempt(batch, "announce", || self.processor.announce(&announcement))
                            .await?;
                        match announced {
                            Ok(()) => return Some(()),
                            Err(failure) => failure,
                        }
                    }
                    Err(failure) => failure,
                }
            }
            Err(failure) => failure,
        };
        let settled = self.settle(batch, failure).await;
        if settled.is_some()
            && let Some(applied) = applied.take()
        {
            let _ = applied.send(());
        }
        settled
    }

    /// A batch that failed for good: several records are taken again one at a time, so only
    /// the one at fault is dead-lettered; a single record is dead-lettered with the reason.
    fn settle<'a>(
        &'a self,
        batch: &'a [OwnedMessage],
        failure: Failure,
    ) -> Pin<Box<dyn Future<Output = Option<()>> + Send + 'a>> {
        Box::pin(async move {
            if let [message] = batch {
                return self.dead_letter(message, &failure.to_string()).await;
            }
            tracing::warn!(processor = P::NAME, records = batch.len(), %failure, "batch failed; taking its records one at a time");
            for message in batch {
                let one = std::slice::from_ref(message);
                let prepared = self
                    .attempt(one, "prepare", || self.processor.prepare(one))
                    .await?;
                self.write(one, prepared, None).await?;
            }
            Some(())
        })
    }

    async fn dead_letter(&self, message: &OwnedMessage, reason: &str) -> Option<()> {
        let dead_letters = self.processor.dead_letters();
        let one = std::slice::from_ref(message);
        let sent = self
            .attempt(one, "dead-letter", || async {
                dead_letters.send(message, reason).await?;
                self.processor.dead_lettered(message, reason).await
            })
            .await?;
        if let Err(failure) = sent {
            // Neither processed nor dead-lettered: stalling here is the only way not to lose
            // the record, and the loop says so at every attempt.
            tracing::error!(processor = P::NAME, %failure, "cannot dead-letter a record; retrying until it can");
            return self.retry_forever(message, reason).await;
        }
        Some(())
    }

    async fn retry_forever(&self, message: &OwnedMessage, reason: &str) -> Option<()> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            self.pause(&mut backoff).await?;
            let sent = self.processor.dead_letters().send(message, reason).await;
            if sent.is_ok() && self.processor.dead_lettered(message, reason).await.is_ok() {
                return Some(());
            }
        }
    }

    /// Runs a phase until it succeeds, fails for good, or the loop stops (`None`). Outages are
    /// retried for as long as they last; defects a few times.
    async fn attempt<T, F: Future<Output = Result<T, Failure>>>(
        &self,
        batch: &[OwnedMessage],
        phase: &'static str,
        mut run: impl FnMut() -> F,
    ) -> Option<Result<T, Failure>> {
        let mut backoff = FIRST_BACKOFF;
        let mut defects = 0;
        let mut outage = None;
        loop {
            let started = Instant::now();
            let result = run().await;
            if result.is_ok() {
                // Where a processor's time goes, phase by phase (a retried phase counts its
                // successful attempt; the outages counter tells of the others).
                metrics::histogram!("aval_processor_phase_seconds", "processor" => P::NAME, "phase" => phase)
                    .record(started.elapsed().as_secs_f64());
            }
            if !matches!(result, Err(Failure::Outage(..)))
                && let Some(dependency) = outage.take()
            {
                self.outages.recovered(dependency);
                tracing::info!(processor = P::NAME, %dependency, "dependency answers again");
            }
            let failure = match result {
                Ok(value) => return Some(Ok(value)),
                Err(failure) => failure,
            };
            match &failure {
                Failure::BadRecord(_) => return Some(Err(failure)),
                Failure::Outage(dependency, reason) => {
                    outage = Some(*dependency);
                    self.outages.report(*dependency, reason.clone());
                    metrics::counter!("aval_processor_outages_total", "processor" => P::NAME, "dependency" => dependency.as_str()).increment(1);
                    tracing::warn!(processor = P::NAME, phase, %dependency, %reason, retry_in = ?backoff, "dependency unavailable");
                }
                Failure::Defect(reason) => {
                    defects += 1;
                    metrics::counter!("aval_processor_defects_total", "processor" => P::NAME)
                        .increment(1);
                    let (topic, partition, first, last) = span(batch);
                    tracing::error!(
                        processor = P::NAME,
                        phase,
                        topic,
                        partition,
                        first_offset = first,
                        last_offset = last,
                        attempt = defects,
                        %reason,
                        "DEFECT: processing failed on our side"
                    );
                    if defects >= DEFECT_ATTEMPTS {
                        return Some(Err(failure));
                    }
                }
            }
            self.pause(&mut backoff).await?;
        }
    }

    /// Sleeps between a half and all of `backoff`, then doubles it up to the cap; `None` when
    /// the loop stops meanwhile. The jitter keeps instances that failed together from retrying
    /// together.
    async fn pause(&self, backoff: &mut Duration) -> Option<()> {
        let wait = backoff.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        tokio::select! {
            () = self.stop.cancelled() => return None,
            () = tokio::time::sleep(wait) => {}
        }
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        Some(())
    }
}

/// Where a batch sits, for a log line: its first record's topic and partition and the offsets
/// it spans there.
fn span(batch: &[OwnedMessage]) -> (&str, i32, i64, i64) {
    let Some(first) = batch.first() else {
        return ("", -1, -1, -1);
    };
    let same = batch
        .iter()
        .filter(|m| m.topic() == first.topic() && m.partition() == first.partition());
    let last = same.map(Message::offset).max().unwrap_or(first.offset());
    (first.topic(), first.partition(), first.offset(), last)
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
async fn finished<T>(slot: Option<&mut JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match slot {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

/// Marks records done up to and including each position: committed with the next automatic
/// commit. A partition taken away by a rebalance while its records were in flight refuses the
/// offset: its new owner gets those records again, which every phase is safe to repeat, so
/// that is logged, not fatal.
fn store_offsets(consumer: &KafkaConsumer, done: &[Position]) {
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
