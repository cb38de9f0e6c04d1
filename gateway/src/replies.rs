//! Each gateway instance receives its own decision replies. At start an instance leases one
//! partition of the replies topic (`aval_store::reply_partitions`: a PostgreSQL advisory
//! lock, held while it runs, so instances coming and going rebalance nothing) and names it,
//! with its own id, in each request's headers; the scorer produces the reply to that partition
//! with the instance id copied on. One background consumer per instance reads its partition
//! from its end — assigned by hand, in a group of its own — and hands each reply of this
//! instance to the request waiting for it. So the replies an instance reads do not grow with
//! the number of instances, as long as there are no more instances than partitions (beyond
//! that, instances share partitions, and skip the replies of the others without decoding).

use aval_store::Store;
use aval_store::reply_partitions::ReplyPartitionLease;
use aval_topics::connection::{ConnectionContext, KafkaConnection};
use aval_topics::metadata::partition_count;
use aval_topics::records::{DecisionReplyRecord, REPLY_INSTANCE_HEADER, REPLY_PARTITION_HEADER};
use aval_topics::{AvroCodec, TopicSpec};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{OnceCell, oneshot};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Error)]
pub enum ReplyError {
    #[error("cannot read decision replies: {0}")]
    Consumer(String),
    #[error("cannot lease a partition of the replies topic: {0}")]
    Lease(String),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

type ReplyConsumer = StreamConsumer<ConnectionContext>;

/// A request waiting for its reply: whose it is, and where the reply goes.
#[derive(Debug)]
struct Waiter {
    company_id: String,
    sender: oneshot::Sender<DecisionReplyRecord>,
}

type Waiting = Arc<Mutex<HashMap<String, Waiter>>>;

pub struct ReplyRouter {
    instance: String,
    /// This instance's consumer group, under the deployment's group prefix (where its
    /// principal may read).
    group: String,
    kafka: KafkaConnection,
    store: Store,
    codec: AvroCodec,
    timeout: Duration,
    waiting: Waiting,
    started: OnceCell<Result<(), ReplyError>>,
    /// The partition this instance reads, once started, as its header value.
    lease: OnceLock<(ReplyPartitionLease, String)>,
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

fn lock(waiting: &Waiting) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReplyRouter {
    /// `instance` must be unique among running gateways (a fresh UUID per process is).
    pub fn new(
        kafka: &KafkaConnection,
        store: Store,
        codec: AvroCodec,
        group_prefix: &str,
        instance: String,
        timeout: Duration,
    ) -> Self {
        Self {
            group: format!("{group_prefix}gateway-replies-{instance}"),
            instance,
            kafka: kafka.clone(),
            store,
            codec,
            timeout,
            waiting: Arc::default(),
            started: OnceCell::new(),
            lease: OnceLock::new(),
        }
    }

    /// The headers that route a request's reply back here: this instance's id, and (once
    /// started) the partition it reads.
    pub fn reply_headers(&self) -> Vec<(&'static str, &[u8])> {
        let mut headers = vec![(REPLY_INSTANCE_HEADER, self.instance.as_bytes())];
        if let Some((_, partition)) = self.lease.get() {
            headers.push((REPLY_PARTITION_HEADER, partition.as_bytes()));
        }
        headers
    }

    /// The partition of the replies topic this instance reads, and whether alone; `None`
    /// before it started.
    pub fn partition(&self) -> Option<(i32, bool)> {
        self.lease
            .get()
            .map(|(lease, _)| (lease.partition(), lease.exclusive()))
    }

    /// Starts the consumer on first use (and only once). Replies produced after this returns
    /// are seen: each partition's end offset is fixed before returning, not resolved later.
    pub async fn start(&self, topic: &TopicSpec) -> Result<(), ReplyError> {
        self.started
            .get_or_init(|| async {
                let consumer = self.assign_at_end(topic).await?;
                let topic = &topic.name;
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

    async fn assign_at_end(&self, topic: &TopicSpec) -> Result<ReplyConsumer, ReplyError> {
        let error = |e: rdkafka::error::KafkaError| ReplyError::Consumer(e.to_string());
        let config = aval_topics::consumers::reply_reader(&self.kafka, &self.group);
        self.kafka.warn_overridden(&config, "reply consumer");
        let consumer: ReplyConsumer = config
            .create_with_context(ConnectionContext::default())
            .map_err(error)?;
        let consumer = Arc::new(consumer);
        let name = topic.name.clone();
        // Metadata and watermark calls block; keep them off the async workers.
        let existing = {
            let (consumer, name) = (consumer.clone(), name.clone());
            tokio::task::spawn_blocking(move || {
                partition_count(consumer.client(), &name, METADATA_TIMEOUT)
            })
            .await
            .map_err(|e| ReplyError::Consumer(e.to_string()))?
            .map_err(error)?
        };
        // The scorer routes only to partitions the catalogue declares.
        let partitions = existing.min(topic.partitions);
        let lease = self
            .store
            .lease_reply_partition(&name, partitions, fallback_partition(&self.instance))
            .await
            .map_err(|e| ReplyError::Lease(e.to_string()))?;
        let partition = lease.partition();
        if !lease.exclusive() {
            tracing::warn!(
                partition,
                partitions,
                "every partition of the replies topic is leased by another gateway: sharing one (more gateways than partitions?)"
            );
        }
        let assigned = consumer.clone();
        tokio::task::spawn_blocking(move || {
            let (_, high) = assigned.fetch_watermarks(&name, partition, METADATA_TIMEOUT)?;
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(&name, partition, Offset::Offset(high))?;
            assigned.assign(&list)
        })
        .await
        .map_err(|e| ReplyError::Consumer(e.to_string()))?
        .map_err(error)?;
        metrics::gauge!("aval_gateway_reply_partition").set(f64::from(partition));
        let header = partition.to_string();
        let _ = self.lease.set((lease, header));
        Arc::try_unwrap(consumer)
            .map_err(|_| ReplyError::Consumer("consumer still shared".to_owned()))
    }

    /// Registers `request_id` of `company_id` as waiting; produce the request after this.
    /// Only a reply for that company is taken: a record on the replies topic that names the
    /// request but another company is no answer to it (anyone able to write to the topic
    /// could otherwise answer another company's decision).
    pub fn expect(&self, request_id: &str, company_id: &str) -> Pending {
        let (sender, receiver) = oneshot::channel();
        let waiter = Waiter {
            company_id: company_id.to_owned(),
            sender,
        };
        lock(&self.waiting).insert(request_id.to_owned(), waiter);
        Pending {
            request_id: request_id.to_owned(),
            receiver,
            waiting: self.waiting.clone(),
            timeout: self.timeout,
        }
    }
}

/// The partition an instance shares when every one is leased: spread by its id.
fn fallback_partition(instance: &str) -> u32 {
    instance.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    })
}

/// Hands `reply` to its waiting request, if the request is still waiting (it may have timed
/// out, or its client left) and the reply is for the request's company.
fn deliver(waiting: &Waiting, reply: DecisionReplyRecord) {
    let mut waiting = lock(waiting);
    let Some(waiter) = waiting.get(&reply.request_id) else {
        return;
    };
    if waiter.company_id != reply.company_id {
        tracing::warn!(
            request_id = %reply.request_id,
            expected_company = %waiter.company_id,
            reply_company = %reply.company_id,
            "a decision reply names another company than its request: ignored"
        );
        metrics::counter!("aval_gateway_foreign_replies_total").increment(1);
        return;
    }
    if let Some(waiter) = waiting.remove(&reply.request_id) {
        let _ = waiter.sender.send(reply);
    }
}

async fn dispatch(consumer: ReplyConsumer, codec: AvroCodec, instance: String, waiting: Waiting) {
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
            Ok(reply) => deliver(&waiting, reply),
            Err(e) => tracing::warn!(error = %e, "undecodable decision reply"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aval_topics::records::ReplyStatusWire;

    fn reply(request_id: &str, company_id: &str) -> DecisionReplyRecord {
        DecisionReplyRecord {
            request_id: request_id.to_owned(),
            company_id: company_id.to_owned(),
            status: ReplyStatusWire::Failed,
            decision: None,
            errors: vec![],
            message: Some("test".to_owned()),
        }
    }

    fn waiting_for(
        request_id: &str,
        company_id: &str,
    ) -> (Waiting, oneshot::Receiver<DecisionReplyRecord>) {
        let (sender, receiver) = oneshot::channel();
        let waiting: Waiting = Arc::default();
        let waiter = Waiter {
            company_id: company_id.to_owned(),
            sender,
        };
        lock(&waiting).insert(request_id.to_owned(), waiter);
        (waiting, receiver)
    }

    #[test]
    fn a_reply_naming_another_company_is_no_answer() {
        let (waiting, mut receiver) = waiting_for("r-1", "company-a");
        deliver(&waiting, reply("r-1", "company-b"));
        assert!(receiver.try_recv().is_err(), "a foreign reply was taken");
        assert!(
            lock(&waiting).contains_key("r-1"),
            "the request stops waiting"
        );
        deliver(&waiting, reply("r-1", "company-a"));
        let taken = receiver.try_recv().expect("the company's own reply");
        assert_eq!(taken.company_id, "company-a");
        assert!(lock(&waiting).is_empty());
    }

    #[test]
    fn a_reply_for_no_waiting_request_is_dropped() {
        let (waiting, mut receiver) = waiting_for("r-1", "company-a");
        deliver(&waiting, reply("r-2", "company-a"));
        assert!(receiver.try_recv().is_err());
        assert!(lock(&waiting).contains_key("r-1"));
    }
}
