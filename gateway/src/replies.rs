//! Each gateway instance receives its own decision replies. The scorer copies the requesting
//! instance's id (a header) onto the reply; one background consumer per instance reads the
//! replies topic from its end — every partition assigned by hand, in a group of its own, so
//! no rebalance delays it and no other instance shares its reads — and hands each reply of
//! this instance to the request waiting for it. Replies for other instances are skipped
//! without decoding.

use aval_topics::AvroCodec;
use aval_topics::records::{DecisionReplyRecord, REPLY_INSTANCE_HEADER};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{OnceCell, oneshot};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Error)]
pub enum ReplyError {
    #[error("cannot read decision replies: {0}")]
    Consumer(String),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<DecisionReplyRecord>>>>;

pub struct ReplyRouter {
    instance: String,
    bootstrap: String,
    codec: AvroCodec,
    timeout: Duration,
    waiting: Waiting,
    started: OnceCell<Result<(), ReplyError>>,
}

impl std::fmt::Debug for ReplyRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyRouter")
            .field("instance", &self.instance)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A request registered before its record is produced, so a fast reply cannot be missed.
/// Dropping it (deadline passed, client gone) forgets the request.
#[derive(Debug)]
pub struct Pending {
    request_id: String,
    receiver: oneshot::Receiver<DecisionReplyRecord>,
    waiting: Waiting,
    timeout: Duration,
}

impl Pending {
    pub async fn reply(mut self) -> Result<DecisionReplyRecord, ReplyError> {
        match tokio::time::timeout(self.timeout, &mut self.receiver).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(ReplyError::Timeout(self.timeout)),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.waiting).remove(&self.request_id);
    }
}

fn lock(
    waiting: &Waiting,
) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<DecisionReplyRecord>>> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReplyRouter {
    /// `instance` must be unique among running gateways (a fresh UUID per process is).
    pub fn new(bootstrap: &str, codec: AvroCodec, instance: String, timeout: Duration) -> Self {
        Self {
            instance,
            bootstrap: bootstrap.to_owned(),
            codec,
            timeout,
            waiting: Arc::default(),
            started: OnceCell::new(),
        }
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Starts the consumer on first use (and only once). Replies produced after this returns
    /// are seen: each partition's end offset is fixed before returning, not resolved later.
    pub async fn start(&self, topic: &str) -> Result<(), ReplyError> {
        self.started
            .get_or_init(|| async {
                let consumer = self.assign_at_end(topic).await?;
                tokio::spawn(dispatch(
                    consumer,
                    self.codec.clone(),
                    self.instance.clone(),
                    self.waiting.clone(),
                ));
                tracing::info!(instance = %self.instance, %topic, "reading decision replies");
                Ok(())
            })
            .await
            .clone()
    }

    async fn assign_at_end(&self, topic: &str) -> Result<StreamConsumer, ReplyError> {
        let error = |e: rdkafka::error::KafkaError| ReplyError::Consumer(e.to_string());
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set(
                "group.id",
                format!("aval-gateway-replies-{}", self.instance),
            )
            .set("enable.auto.commit", "false")
            // A reply waits for no batch: with fetch.min.bytes=1 the broker answers a fetch
            // the moment a reply lands. The wait only bounds a fetch that finds nothing, so a
            // short one adds idle round trips (200/s per gateway at 5 ms), not speed.
            .set("fetch.wait.max.ms", "100")
            .set("fetch.min.bytes", "1")
            .create()
            .map_err(error)?;
        let (consumer, topic) = (Arc::new(consumer), topic.to_owned());
        let blocking = consumer.clone();
        // Metadata and watermark calls block; keep them off the async workers.
        let assignment = tokio::task::spawn_blocking(move || {
            // A topic created a moment ago (`aval all` applies the topics just before) may not
            // have its partition leaders yet: NotLeaderForPartition, LeaderNotAvailable.
            // Retry until the deadline rather than fail the gateway's start.
            let deadline = std::time::Instant::now() + METADATA_TIMEOUT;
            let list = loop {
                match end_offsets(&blocking, &topic) {
                    Ok(list) => break list,
                    Err(e) if std::time::Instant::now() < deadline => {
                        tracing::debug!(error = %e, %topic, "replies topic not ready; retrying");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    Err(e) => return Err(e),
                }
            };
            blocking.assign(&list)?;
            Ok::<_, rdkafka::error::KafkaError>(list.count())
        })
        .await
        .map_err(|e| ReplyError::Consumer(e.to_string()))?
        .map_err(error)?;
        if assignment == 0 {
            return Err(ReplyError::Consumer(
                "the replies topic has no partitions".to_owned(),
            ));
        }
        Arc::try_unwrap(consumer)
            .map_err(|_| ReplyError::Consumer("consumer still shared".to_owned()))
    }

    /// Registers `request_id` as waiting; produce the request after this.
    pub fn expect(&self, request_id: &str) -> Pending {
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiting).insert(request_id.to_owned(), sender);
        Pending {
            request_id: request_id.to_owned(),
            receiver,
            waiting: self.waiting.clone(),
            timeout: self.timeout,
        }
    }
}

/// Every partition of `topic` at its current end offset.
fn end_offsets(
    consumer: &StreamConsumer,
    topic: &str,
) -> Result<TopicPartitionList, rdkafka::error::KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (_, high) = consumer.fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)?;
        list.add_partition_offset(topic, partition.id(), Offset::Offset(high))?;
    }
    if list.count() == 0 {
        // Not known to the broker yet: retried like a missing leader.
        return Err(rdkafka::error::KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    Ok(list)
}

async fn dispatch(consumer: StreamConsumer, codec: AvroCodec, instance: String, waiting: Waiting) {
    loop {
        let message = match consumer.recv().await {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "decision replies consume error");
                continue;
            }
        };
        let mine = message.headers().is_some_and(|headers| {
            headers
                .iter()
                .any(|h| h.key == REPLY_INSTANCE_HEADER && h.value == Some(instance.as_bytes()))
        });
        if !mine {
            continue;
        }
        let Some(payload) = message.payload() else {
            continue;
        };
        match codec.decode::<DecisionReplyRecord>(payload).await {
            Ok(reply) => {
                // Absent: its request timed out or its client left; nothing else to do.
                if let Some(sender) = lock(&waiting).remove(&reply.request_id) {
                    let _ = sender.send(reply);
                }
            }
            Err(e) => tracing::warn!(error = %e, "undecodable decision reply"),
        }
    }
}
