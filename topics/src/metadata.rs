//! What the cluster says about a topic, asked the same way by every client.

use rdkafka::client::{Client, ClientContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::time::{Duration, Instant};

/// How many partitions `topic` has. A topic created a moment ago (`aval all` applies the
/// topics just before) may not have its partition leaders yet, or be unknown to the broker
/// answering: asked again until `timeout` has passed rather than fail. Blocking: call it off
/// the async workers.
pub fn partition_count<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = client.fetch_metadata(Some(topic), timeout).map(|metadata| {
            metadata
                .topics()
                .iter()
                .map(|t| t.partitions().len())
                .sum::<usize>()
        });
        match found {
            Ok(count) if count > 0 => return Ok(i32::try_from(count).unwrap_or(i32::MAX)),
            Ok(_) if Instant::now() >= deadline => {
                return Err(KafkaError::MetadataFetch(
                    RDKafkaErrorCode::UnknownTopicOrPartition,
                ));
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            Ok(_) | Err(_) => {
                tracing::debug!(%topic, "topic not ready; asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}
