//! Reading the copy of a company's audit chain head that the audit processor publishes to the
//! compacted `audit-heads` topic: what an operator checks the database's chain against.

use crate::records::AuditHeadRecord;
use crate::{AvroCodec, KafkaConnection, TopicsError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The latest head published for `company` on `topic`, read from the start of every partition
/// to where each ended when the call began; `None` when none was ever published (or a
/// deletion marker is the latest). Scans the whole topic: an operator's check, not a hot path.
pub async fn published_head(
    kafka: &KafkaConnection,
    codec: &AvroCodec,
    topic: &str,
    company: Uuid,
    timeout: Duration,
) -> Result<Option<AuditHeadRecord>, TopicsError> {
    let (kafka, topic) = (kafka.clone(), topic.to_owned());
    let payloads =
        tokio::task::spawn_blocking(move || latest_values(&kafka, &topic, company, timeout))
            .await
            .map_err(|e| TopicsError::Decode(format!("the topic scan panicked: {e}")))??;
    let mut latest: Option<AuditHeadRecord> = None;
    for payload in payloads {
        let head = codec.decode::<AuditHeadRecord>(&payload).await?;
        if latest.as_ref().is_none_or(|l| head.seq > l.seq) {
            latest = Some(head);
        }
    }
    Ok(latest)
}

/// The last value keyed `company` in each partition (normally one partition holds the key).
fn latest_values(
    kafka: &KafkaConnection,
    topic: &str,
    company: Uuid,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, TopicsError> {
    let mut config = kafka.client_config();
    config
        .set(
            "group.id",
            format!("aval-audit-heads-reader-{}", Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut ends = Vec::new();
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
        if high > low {
            ends.push((partition.id(), high));
            assignment.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
        }
    }
    if metadata.topics().iter().all(|t| t.partitions().is_empty()) {
        return Err(TopicsError::Kafka(
            rdkafka::error::KafkaError::MetadataFetch(
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
            ),
        ));
    }
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    consumer.assign(&assignment)?;
    let key = company.to_string();
    let mut latest: Vec<(i32, Option<Vec<u8>>)> = ends.iter().map(|&(p, _)| (p, None)).collect();
    let mut remaining: Vec<(i32, i64)> = ends;
    let deadline = Instant::now() + timeout;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(TopicsError::Kafka(
                rdkafka::error::KafkaError::MessageConsumption(
                    rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
                ),
            ));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let partition = message.partition();
        if message.key() == Some(key.as_bytes())
            && let Some(slot) = latest.iter_mut().find(|(p, _)| *p == partition)
        {
            slot.1 = message.payload().map(<[u8]>::to_vec);
        }
        // Compaction leaves gaps in offsets: a partition is read once a record at or past
        // its end as of the start has been seen.
        remaining.retain(|&(p, end)| !(p == partition && message.offset() + 1 >= end));
    }
    Ok(latest.into_iter().filter_map(|(_, value)| value).collect())
}
