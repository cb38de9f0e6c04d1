//! The producer every role publishes with: encode with the codec, produce keyed, await the
//! broker's acknowledgement.

use crate::connection::{ConnectionContext, ConnectionError, KafkaConnection};
use crate::metadata::partition_count;
use crate::{AvroCodec, TopicSpec, TopicsError, WireRecord};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::Duration;

/// Names the ids of activation audit events.
const ACTIVATION_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6176_616c_2d61_6374_6976_6174_696f_6e73);

#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer<ConnectionContext>,
    codec: AvroCodec,
    delivery_timeout: Duration,
    kafka: KafkaConnection,
    context: ConnectionContext,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("delivery_timeout", &self.delivery_timeout)
            .finish_non_exhaustive()
    }
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

impl Publisher {
    /// Idempotent, all-replica acknowledgements: a record the broker acknowledged is neither
    /// lost nor duplicated by the producer's own retries. A short linger batches concurrent
    /// requests without adding noticeable latency, and batches are compressed.
    pub fn new(
        kafka: &KafkaConnection,
        codec: AvroCodec,
        delivery_timeout: Duration,
    ) -> Result<Self, TopicsError> {
        Self::with(kafka, codec, delivery_timeout, 2, "lz4")
    }

    /// For the decision request/reply path (the gateway's requests, the scorer's replies and
    /// decisions): `linger.ms=0`. Each record is awaited by someone, so a linger is added
    /// straight to every decision's latency, twice per round trip; and the scorer awaits its
    /// announcements one record at a time, so a 2 ms linger alone capped one scorer at a few
    /// hundred decisions/s. librdkafka still batches whatever queues up while a produce
    /// request is in flight, so under load batches form without waiting.
    ///
    /// Uncompressed: these batches hold a record or a few, and an LZ4 frame's setup cost more
    /// of the scorer's CPU than the record's encoding, for bytes that hardly shrink; the broker
    /// also checks an uncompressed batch without decompressing it.
    pub fn low_latency(
        kafka: &KafkaConnection,
        codec: AvroCodec,
        delivery_timeout: Duration,
    ) -> Result<Self, TopicsError> {
        Self::with(kafka, codec, delivery_timeout, 0, "none")
    }

    fn with(
        kafka: &KafkaConnection,
        codec: AvroCodec,
        delivery_timeout: Duration,
        linger_ms: u32,
        compression: &str,
    ) -> Result<Self, TopicsError> {
        let context = ConnectionContext::default();
        let mut config = kafka.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", linger_ms.to_string())
            .set("compression.type", compression)
            .set(
                "message.max.bytes",
                crate::catalogue::MAX_INGEST_RECORD_BYTES.to_string(),
            )
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().to_string(),
            );
        kafka.warn_overridden(&config, "producer");
        let producer: FutureProducer<ConnectionContext> =
            config.create_with_context(context.clone())?;
        Ok(Self {
            producer,
            codec,
            delivery_timeout,
            kafka: kafka.clone(),
            context,
        })
    }

    pub fn codec(&self) -> &AvroCodec {
        &self.codec
    }

    pub async fn publish<R: WireRecord>(
        &self,
        topic: &TopicSpec,
        key: &str,
        record: &R,
        headers: &[(&str, &[u8])],
    ) -> Result<Delivered, TopicsError> {
        let payload = self.codec.encode(topic, record).await?;
        self.publish_raw(&topic.name, Some(key.as_bytes()), &payload, headers)
            .await
    }

    /// Like [`Publisher::publish`], to the partition named rather than the key's: a decision
    /// reply goes to the partition its gateway reads.
    pub async fn publish_to_partition<R: WireRecord>(
        &self,
        topic: &TopicSpec,
        partition: i32,
        key: &str,
        record: &R,
        headers: &[(&str, &[u8])],
    ) -> Result<Delivered, TopicsError> {
        let payload = self.codec.encode(topic, record).await?;
        self.publish_raw_to(
            &topic.name,
            Some(partition),
            Some(key.as_bytes()),
            &payload,
            headers,
        )
        .await
    }

    /// Produces bytes as they are: for dead letters, which keep the original record.
    pub async fn publish_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<Delivered, TopicsError> {
        self.publish_raw_to(topic, None, key, payload, headers)
            .await
    }

    /// Produces bytes as they are to `partition` when one is named, else to the key's.
    pub async fn publish_raw_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<Delivered, TopicsError> {
        let mut owned = OwnedHeaders::new_with_capacity(headers.len());
        for (name, value) in headers {
            owned = owned.insert(Header {
                key: name,
                value: Some(*value),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .payload(payload)
            .headers(owned);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        let delivery = self
            .producer
            .send(record, self.delivery_timeout)
            .await
            .map_err(|(e, _)| TopicsError::Kafka(e))?;
        Ok(Delivered {
            partition: delivery.partition,
            offset: delivery.offset,
        })
    }

    /// How many partitions `topic` has, asked of the cluster (it may have more than the
    /// catalogue declares, and records keyed to spread go to any of them).
    pub async fn partition_count(&self, topic: &str) -> Result<i32, TopicsError> {
        let (producer, topic) = (self.producer.clone(), topic.to_owned());
        let timeout = self.delivery_timeout;
        match tokio::task::spawn_blocking(move || {
            partition_count(producer.client(), &topic, timeout)
        })
        .await
        {
            Ok(count) => Ok(count?),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(TopicsError::Kafka(KafkaError::Canceled)),
        }
    }

    /// Waits for in-flight records before shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), TopicsError> {
        Ok(self.producer.flush(timeout)?)
    }

    /// Whether a broker answers a metadata request within `timeout`, and if not, why (a
    /// refused password or certificate, in librdkafka's words).
    pub fn broker_reachable(&self, timeout: Duration) -> Result<(), ConnectionError> {
        match self.producer.client().fetch_metadata(None, timeout) {
            Ok(_) => Ok(()),
            Err(error) => Err(self.kafka.failure(&self.context, &error, timeout)),
        }
    }
}

impl Publisher {
    /// Puts `event` on the audit topic, keyed by its company (which orders a company's events
    /// on one partition), its kind in the [`AUDIT_KIND_HEADER`](crate::records::AUDIT_KIND_HEADER)
    /// header. Every audit event aval produces goes through here.
    pub async fn publish_audit(
        &self,
        catalogue: &crate::Catalogue,
        event: &aval_core::audit::AuditEvent,
    ) -> Result<Delivered, TopicsError> {
        use crate::records::{AUDIT_KIND_HEADER, AuditEventRecord};
        self.publish(
            catalogue.topic(crate::TopicRole::Audit),
            &event.company_id.to_string(),
            &AuditEventRecord::from(event),
            &[(AUDIT_KIND_HEADER, event.kind.as_bytes())],
        )
        .await
    }

    /// Tells everyone a company's active model changed: the compacted activation record (what
    /// scorers follow) and the audit event. The caller has stored the activation first. Safe
    /// to repeat.
    pub async fn announce_activation(
        &self,
        catalogue: &crate::Catalogue,
        company_id: uuid::Uuid,
        version: i32,
        by: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), TopicsError> {
        use crate::TopicRole;
        use crate::records::ModelActivationRecord;
        use aval_core::audit::{AuditEvent, AuditKind};
        let key = company_id.to_string();
        let activation = ModelActivationRecord {
            company_id: key.clone(),
            model_version: version,
            activated_at: at.timestamp_millis(),
            activated_by: by.to_owned(),
        };
        self.publish(
            catalogue.topic(TopicRole::ModelActivations),
            &key,
            &activation,
            &[],
        )
        .await?;
        let mut event = AuditEvent::new(company_id, AuditKind::ModelActivated, by, at)
            .with_detail("model_version", version.to_string());
        // Fixed by what was activated when, so announcing the same activation again (a
        // retry, a redelivered training request) repeats the event instead of adding one.
        event.event_id = uuid::Uuid::new_v5(
            &ACTIVATION_NAMESPACE,
            format!("{company_id}\u{1f}{version}\u{1f}{}", at.timestamp_millis()).as_bytes(),
        );
        self.publish_audit(catalogue, &event).await?;
        Ok(())
    }
}
