//! How every processor consumes: at least once, offsets stored by hand after the side effect.

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub bootstrap: String,
    /// The consumer group: instances sharing it split the partitions between them.
    pub group_id: String,
}

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
}
