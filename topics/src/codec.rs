//! The one Avro codec: Confluent framing (magic byte 0, 4-byte schema id, Avro binary) through
//! `schema_registry_converter`, which caches schema ids per subject and schemas per id, so the
//! registry is asked once per schema and process. The crate also caches every failed lookup
//! it deems final, which includes a registry answering 500: after any failure that is not the
//! record's own (an unknown schema id), the codec clears those, so the next record asks again.

use crate::connection::RegistryConnection;
use crate::schemas::RecordSchema;
use crate::{TopicSpec, TopicsError};
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A Rust type that is the serde mirror of one `.avsc` record.
pub trait WireRecord: Serialize + DeserializeOwned + Send + Sync {
    const SCHEMA: &'static RecordSchema;
}

#[derive(Clone, Debug)]
pub struct AvroCodec {
    registry: RegistryConnection,
    /// For the calls the crate does not make: readiness, compatibility settings.
    http: reqwest::Client,
    encoder: Arc<AvroEncoder>,
    decoder: Arc<AvroDecoder>,
    /// Per writer schema id: whether it is the reader schema itself, so decoding can skip
    /// schema resolution (which is most of the decode time: 18 µs of 23 per bureau report).
    same_as_reader: Arc<Mutex<HashMap<u32, bool>>>,
}

impl AvroCodec {
    pub fn new(registry: &RegistryConnection, timeout: Duration) -> Result<Self, TopicsError> {
        let unusable = |e: crate::connection::ConnectionError| TopicsError::Registry {
            message: e.to_string(),
            retryable: false,
        };
        let settings = registry.converter_settings(timeout).map_err(unusable)?;
        let http = registry
            .client_builder()
            .and_then(|builder| {
                builder
                    .timeout(timeout)
                    .build()
                    .map_err(|e| crate::connection::ConnectionError::Client(e.to_string()))
            })
            .map_err(unusable)?;
        Ok(Self {
            registry: registry.clone(),
            http,
            encoder: Arc::new(AvroEncoder::new(settings.clone())),
            decoder: Arc::new(AvroDecoder::new(settings)),
            same_as_reader: Arc::default(),
        })
    }

    pub fn registry(&self) -> &RegistryConnection {
        &self.registry
    }

    /// A call to the registry at `path` (`/subjects`), logged in, outside the crate's own.
    pub fn registry_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.registry.request(&self.http, method, path)
    }

    /// Registers (or finds, if already registered) the topic's value schema and returns its id.
    pub async fn register(&self, topic: &TopicSpec) -> Result<u32, TopicsError> {
        let schema = topic.value.ok_or_else(|| TopicsError::Unframed {
            topic: topic.name.clone(),
        })?;
        let registered = self
            .encoder
            .get_schema_and_id(&topic.value_subject(), strategy(topic, schema)?)
            .await
            .map_err(|e| self.encode_failure(e, schema.name))?;
        Ok(registered.id)
    }

    /// Frames `record` for `topic`, registering the schema on first use.
    pub async fn encode<R: WireRecord>(
        &self,
        topic: &TopicSpec,
        record: &R,
    ) -> Result<Vec<u8>, TopicsError> {
        match topic.value {
            Some(schema) if std::ptr::eq(schema, R::SCHEMA) => {}
            _ => {
                return Err(TopicsError::Encode {
                    record: R::SCHEMA.name,
                    message: format!("topic {} does not carry this record type", topic.name),
                });
            }
        }
        self.encoder
            .encode_struct(record, &strategy(topic, R::SCHEMA)?)
            .await
            .map_err(|e| self.encode_failure(e, R::SCHEMA.name))
    }

    /// Decodes a framed record written with any registered version of `R`'s schema, resolving
    /// it to the version this build knows (new fields take their defaults).
    pub async fn decode<R: WireRecord>(&self, bytes: &[u8]) -> Result<R, TopicsError> {
        let decoded = self
            .decoder
            .decode_with_schema(Some(bytes))
            .await
            .map_err(|e| self.decode_failure(e))?
            .ok_or_else(|| TopicsError::Decode("the record has no value".to_owned()))?;
        let actual = decoded
            .name
            .map(|n| n.fullname(None))
            .unwrap_or_else(|| "a non-record value".to_owned());
        if actual != R::SCHEMA.name {
            return Err(TopicsError::WrongRecordType {
                expected: R::SCHEMA.name,
                actual,
            });
        }
        let reader = R::SCHEMA.parsed()?;
        let value = if self.is_reader_schema(decoded.schema.id, &decoded.schema.parsed, reader) {
            decoded.value
        } else {
            decoded
                .value
                .resolve(reader)
                .map_err(|e| TopicsError::Decode(e.to_string()))?
        };
        apache_avro::from_value::<R>(&value).map_err(|e| TopicsError::Decode(e.to_string()))
    }

    /// A decoding failure is the record's own when the registry answered (it does not know the
    /// schema id) or never had to (the bytes are not a framed record of that schema); any other
    /// registry answer means the registry is failing, and must not stay cached.
    fn decode_failure(&self, e: SRCError) -> TopicsError {
        match RegistryAnswer::of(&e) {
            RegistryAnswer::Failing => {
                self.decoder.remove_errors_from_cache();
                registry_error(e)
            }
            RegistryAnswer::NotFound | RegistryAnswer::Refused | RegistryAnswer::None => {
                TopicsError::Decode(e.to_string())
            }
        }
    }

    /// An encoding failure is ours (a schema the registry refuses, a record that does not fit
    /// its schema), unless the registry is failing.
    fn encode_failure(&self, e: SRCError, record: &'static str) -> TopicsError {
        match RegistryAnswer::of(&e) {
            RegistryAnswer::Failing => {
                self.encoder.remove_errors_from_cache();
                registry_error(e)
            }
            RegistryAnswer::NotFound | RegistryAnswer::Refused | RegistryAnswer::None => {
                TopicsError::Encode {
                    record,
                    message: e.to_string(),
                }
            }
        }
    }

    /// Same canonical form = same binary layout, so the writer's value is already the
    /// reader's. Computed once per schema id.
    fn is_reader_schema(
        &self,
        id: u32,
        writer: &apache_avro::Schema,
        reader: &apache_avro::Schema,
    ) -> bool {
        let mut cache = self
            .same_as_reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *cache
            .entry(id)
            .or_insert_with(|| writer.canonical_form() == reader.canonical_form())
    }
}

fn strategy(topic: &TopicSpec, schema: &RecordSchema) -> Result<SubjectNameStrategy, TopicsError> {
    let supplied = SuppliedSchema::new(
        Some(schema.name.to_owned()),
        SchemaType::Avro,
        schema.json()?.to_owned(),
    );
    Ok(SubjectNameStrategy::TopicNameStrategyWithSchema(
        topic.name.clone(),
        false,
        supplied,
    ))
}

fn registry_error(e: SRCError) -> TopicsError {
    TopicsError::Registry {
        retryable: true,
        message: e.to_string(),
    }
}

/// What the registry said, read from the crate's error (it keeps only the status line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegistryAnswer {
    /// Unreachable, timed out, or any answer but the ones below (5xx, 429, 401, 403 ...).
    Failing,
    /// 404: no such schema id or subject.
    NotFound,
    /// 409 or 422: the schema itself is refused (incompatible or invalid).
    Refused,
    /// The registry was not asked, or answered fine: the bytes or the record are the problem.
    None,
}

impl RegistryAnswer {
    fn of(e: &SRCError) -> Self {
        const STATUS: &str = "failed with status ";
        if e.retriable {
            return RegistryAnswer::Failing;
        }
        let Some(at) = e.error.find(STATUS) else {
            return RegistryAnswer::None;
        };
        match e.error[at + STATUS.len()..].get(..3) {
            Some("404") => RegistryAnswer::NotFound,
            Some("409" | "422") => RegistryAnswer::Refused,
            _ => RegistryAnswer::Failing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(error: &str, retriable: bool) -> RegistryAnswer {
        RegistryAnswer::of(&SRCError::new(error, None, retriable))
    }

    #[test]
    fn a_registry_that_fails_is_not_the_records_fault() {
        let status = |code: &str| {
            answer(
                &format!("HTTP request to schema registry failed with status {code}"),
                false,
            )
        };
        assert_eq!(status("500 Internal Server Error"), RegistryAnswer::Failing);
        assert_eq!(status("429 Too Many Requests"), RegistryAnswer::Failing);
        assert_eq!(status("401 Unauthorized"), RegistryAnswer::Failing);
        assert_eq!(status("404 Not Found"), RegistryAnswer::NotFound);
        assert_eq!(status("409 Conflict"), RegistryAnswer::Refused);
        assert_eq!(
            answer("http call to schema registry failed", true),
            RegistryAnswer::Failing
        );
        assert_eq!(
            answer("Could not transform bytes using schema", false),
            RegistryAnswer::None
        );
    }
}
