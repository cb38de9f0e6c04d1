//! The dead-letter topic: a record no processor can accept, byte for byte, with why and where
//! it came from in headers, so an operator can fix and replay it.

use aval_topics::{Publisher, TopicsError};
use rdkafka::Message;
use rdkafka::message::Headers;

pub const REASON: &str = "aval.dlq.reason";
pub const SOURCE_TOPIC: &str = "aval.dlq.topic";
pub const SOURCE_PARTITION: &str = "aval.dlq.partition";
pub const SOURCE_OFFSET: &str = "aval.dlq.offset";
pub const PROCESSOR: &str = "aval.dlq.processor";
/// Reasons travel in a header; a batch with thousands of errors is summarised.
const MAX_REASON_CHARS: usize = 4_000;
/// Credentials never travel on: dead letters are read by operators, not by the company.
const WITHHELD_HEADERS: [&str; 1] = ["authorization"];

#[derive(Debug, Clone)]
pub struct DeadLetters {
    publisher: Publisher,
    topic: String,
    processor: &'static str,
}

impl DeadLetters {
    pub fn new(publisher: Publisher, topic: String, processor: &'static str) -> Self {
        Self {
            publisher,
            topic,
            processor,
        }
    }

    pub async fn send(&self, message: &impl Message, reason: &str) -> Result<(), TopicsError> {
        let reason = shortened(reason);
        let reason = reason.as_str();
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let mut headers: Vec<(&str, &[u8])> = vec![
            (REASON, reason.as_bytes()),
            (SOURCE_TOPIC, message.topic().as_bytes()),
            (SOURCE_PARTITION, partition.as_bytes()),
            (SOURCE_OFFSET, offset.as_bytes()),
            (PROCESSOR, self.processor.as_bytes()),
        ];
        if let Some(original) = message.headers() {
            for header in original.iter() {
                if !WITHHELD_HEADERS
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(header.key))
                {
                    headers.push((header.key, header.value.unwrap_or_default()));
                }
            }
        }
        tracing::warn!(
            processor = self.processor,
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            reason,
            "record dead-lettered"
        );
        metrics::counter!("aval_dead_letters_total", "processor" => self.processor).increment(1);
        self.publisher
            .publish_raw(
                &self.topic,
                message.key(),
                message.payload().unwrap_or_default(),
                &headers,
            )
            .await
            .map(|_| ())
    }
}

fn shortened(reason: &str) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((cut, _)) => format!("{} …", &reason[..cut]),
        None => reason.to_owned(),
    }
}
