//! The floor under a decision: a bare Kafka request/reply echo through the same broker, with
//! the clients aval's decision path uses (aval_topics' connection, its low-latency
//! `Publisher` for requests and replies, its processor consumer settings for the echo's group
//! member and its reply reader for the client). What a decision takes above this is aval's
//! own work: HTTP, the gateway, the scorer's decision and its database write.
//!
//! `echo-serve` is the scorer's stand-in, a process of its own: it joins a group on the echo's
//! requests topic and produces each record back, bytes as they are, to the partition its
//! `aval.reply_partition` header names. The client (`echo`, the open loop or one at a time)
//! keys each request `company:customer` like a decision request and reads partition 0 of the
//! replies topic from its end. The two topics are the catalogue's decision-requests and
//! decision-replies under the prefix `<prefix>floor.`, so they have the same partitions and
//! configs; `scripts/bench-decisions` deletes them at the end.

use crate::schedule::{Answer, Error};
use aval_topics::admin::TopicAdmin;
use aval_topics::connection::{ConnectionContext, KafkaConnection, RegistryConnection};
use aval_topics::records::REPLY_PARTITION_HEADER;
use aval_topics::{AvroCodec, Catalogue, Publisher, TopicRole, TopicSpec, consumers, keys};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);
/// As long as the gateway waits for a decision by default: a lost echo is an error.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// The client reads this partition of the replies topic and names it in every request.
const REPLY_PARTITION: i32 = 0;

/// The echo's requests and replies topics.
pub(crate) fn topics(prefix: &str) -> (TopicSpec, TopicSpec) {
    let catalogue = Catalogue::new(&format!("{prefix}floor."), 1);
    (
        catalogue.topic(TopicRole::DecisionRequests).clone(),
        catalogue.topic(TopicRole::DecisionReplies).clone(),
    )
}

/// The low-latency publisher of aval's decision path (no registry call is made: the echo
/// produces bytes as they are).
fn publisher(kafka: &KafkaConnection, registry: &str) -> Result<Publisher, Error> {
    let codec = AvroCodec::new(&RegistryConnection::open(registry), KAFKA_TIMEOUT)?;
    Ok(Publisher::low_latency(kafka, codec, KAFKA_TIMEOUT)?)
}

/// Creates the echo's topics, then answers every request until killed.
pub(crate) async fn serve(
    kafka: &KafkaConnection,
    registry: &str,
    prefix: &str,
    group: &str,
) -> Result<(), Error> {
    let (requests, replies) = topics(prefix);
    let admin = TopicAdmin::new(kafka, KAFKA_TIMEOUT)?;
    admin.ensure(&requests).await?;
    admin.ensure(&replies).await?;
    let publisher = publisher(kafka, registry)?;
    // The scorer's consumer: a group member with the processors' settings. Nothing is
    // committed (no offset is stored): the topics go when the bench ends.
    let mut config = consumers::processor(kafka, Duration::from_secs(300));
    consumers::join_group(&mut config, group);
    let consumer: StreamConsumer<ConnectionContext> =
        config.create_with_context(ConnectionContext::default())?;
    consumer.subscribe(&[&requests.name])?;
    eprintln!("[echo] answering {} on {}", requests.name, replies.name);
    let replies = Arc::new(replies.name);
    loop {
        let message = consumer.recv().await?;
        let partition = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == REPLY_PARTITION_HEADER))
            .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse::<i32>().ok());
        let (key, payload) = (
            message.key().map(<[u8]>::to_vec),
            message.payload().unwrap_or_default().to_vec(),
        );
        // Each reply on its own task, as the scorer answers a batch's requests together.
        let (publisher, replies) = (publisher.clone(), replies.clone());
        tokio::spawn(async move {
            if let Err(e) = publisher
                .publish_raw_to(&replies, partition, key.as_deref(), &payload, &[])
                .await
            {
                eprintln!("[echo] cannot reply: {e}");
            }
        });
    }
}

/// Requests waiting for their echo, by the id their payload starts with.
type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

/// The client side: sends a request and waits for its echo, as the gateway does.
#[derive(Clone)]
pub(crate) struct Client {
    publisher: Publisher,
    requests: Arc<String>,
    waiting: Waiting,
}

/// One echo request: its key and its payload (an 8-byte id, then the body).
pub(crate) struct Request {
    key: String,
    payload: Vec<u8>,
}

impl Request {
    /// `body` stands for the decision request's record; `id` tells its echo apart.
    pub(crate) fn new(id: u64, company: &str, customer: &str, body: &[u8]) -> Self {
        let mut payload = id.to_le_bytes().to_vec();
        payload.extend_from_slice(body);
        Self {
            key: keys::spread_key(company, customer),
            payload,
        }
    }
}

impl Client {
    /// Starts reading the replies partition from its end before any request goes out.
    pub(crate) async fn start(
        kafka: &KafkaConnection,
        registry: &str,
        prefix: &str,
        group: &str,
    ) -> Result<Self, Error> {
        let (requests, replies) = topics(prefix);
        let consumer: StreamConsumer<ConnectionContext> = consumers::reply_reader(kafka, group)
            .create_with_context(ConnectionContext::default())?;
        let (_, high) = consumer.fetch_watermarks(&replies.name, REPLY_PARTITION, KAFKA_TIMEOUT)?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&replies.name, REPLY_PARTITION, Offset::Offset(high))?;
        consumer.assign(&list)?;
        let waiting = Waiting::default();
        tokio::spawn(dispatch(consumer, waiting.clone()));
        Ok(Self {
            publisher: publisher(kafka, registry)?,
            requests: Arc::new(requests.name),
            waiting,
        })
    }

    /// Sends `request` and waits for its echo: 200 when it came, no answer otherwise.
    pub(crate) async fn call(self, request: Request) -> Answer {
        let id = u64::from_le_bytes(request.payload[..8].try_into().unwrap_or_default());
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiting).insert(id, sender);
        let partition = REPLY_PARTITION.to_string();
        let sent = self
            .publisher
            .publish_raw(
                &self.requests,
                Some(request.key.as_bytes()),
                &request.payload,
                &[(REPLY_PARTITION_HEADER, partition.as_bytes())],
            )
            .await;
        let answered = match sent {
            Ok(_) => matches!(
                tokio::time::timeout(REPLY_TIMEOUT, receiver).await,
                Ok(Ok(()))
            ),
            Err(_) => false,
        };
        lock(&self.waiting).remove(&id);
        (answered.then_some(200), None)
    }
}

/// Hands each echo to the request waiting for it.
async fn dispatch(consumer: StreamConsumer<ConnectionContext>, waiting: Waiting) {
    loop {
        let message = match consumer.recv().await {
            Ok(message) => message,
            Err(e) => {
                eprintln!("[echo] reading replies: {e}");
                continue;
            }
        };
        let id = message
            .payload()
            .and_then(|p| p.get(..8))
            .and_then(|id| id.try_into().ok())
            .map(u64::from_le_bytes);
        if let Some(sender) = id.and_then(|id| lock(&waiting).remove(&id)) {
            let _ = sender.send(());
        }
    }
}

fn lock(waiting: &Waiting) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}
