//! The test harness: where the stack is, and an in-process gateway on a loopback port.

use aval_gateway::AppState;
use aval_gateway::auth::TokenKeys;
use aval_processors::{ConsumerSettings, DeadLetters};
use aval_store::Store;
use aval_topics::admin::TopicAdmin;
use aval_topics::connection::RegistryConnection;
use aval_topics::{AvroCodec, Catalogue, KafkaConnection, Publisher, TopicRole};
use rdkafka::consumer::{Consumer, StreamConsumer};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

pub const TEST_SECRET: &[u8] = b"e2e-test-secret-e2e-test-secret-e2e";
/// Topics of the shared test catalogue (`aval-e2e.`, or `AVAL_E2E_TOPIC_PREFIX` so that two
/// checkouts can test against one broker at once); tests that change topics use a prefix of
/// their own.
pub fn test_prefix() -> String {
    std::env::var("AVAL_E2E_TOPIC_PREFIX").unwrap_or_else(|_| "aval-e2e.".to_owned())
}
pub const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct StackEnv {
    pub kafka_bootstrap: String,
    pub schema_registry_url: String,
    pub database_url: String,
}

/// One setting of the stack, from the environment or else from `.stack.env` (written by
/// `scripts/stack up`). Panics with instructions when neither has it.
pub fn stack_setting(key: &str) -> String {
    // `.stack.env` is written before the tests start: read once per test process, not once
    // per setting and call.
    static FILE: std::sync::OnceLock<HashMap<String, String>> = std::sync::OnceLock::new();
    let file = FILE.get_or_init(|| {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.stack.env"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().trim_start_matches("export ").split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect()
    });
    std::env::var(key)
        .ok()
        .or_else(|| file.get(key).cloned())
        .unwrap_or_else(|| panic!("{key} is not set: run `scripts/stack up` first"))
}

/// The stack's addresses.
pub fn stack() -> StackEnv {
    StackEnv {
        kafka_bootstrap: stack_setting("KAFKA_BOOTSTRAP"),
        schema_registry_url: stack_setting("SCHEMA_REGISTRY_URL"),
        database_url: stack_setting("DATABASE_URL"),
    }
}

impl StackEnv {
    /// The stack's open listener, as aval's clients connect to it.
    pub fn kafka(&self) -> KafkaConnection {
        KafkaConnection::plaintext(&self.kafka_bootstrap)
    }
}

/// The codec, with a registry at `url`.
pub fn codec_at(url: &str, timeout: Duration) -> AvroCodec {
    AvroCodec::new(&RegistryConnection::open(url), timeout).expect("codec")
}

pub fn codec() -> AvroCodec {
    codec_at(&stack().schema_registry_url, Duration::from_secs(5))
}

/// A producer as aval's processors use it.
pub fn publisher() -> Publisher {
    Publisher::new(&stack().kafka(), codec(), Duration::from_secs(10)).expect("producer")
}

/// What every processor under test starts with, as `aval`'s own wiring gives it: a consumer
/// group, the codec, the database, a producer and the dead-letter writer for `role`.
pub struct Wiring {
    pub consumer: ConsumerSettings,
    pub codec: AvroCodec,
    pub store: Store,
    pub publisher: Publisher,
    pub dead_letters: DeadLetters,
}

pub async fn wiring(catalogue: &Catalogue, group: &str, role: &'static str) -> Wiring {
    let publisher = publisher();
    Wiring {
        consumer: ConsumerSettings {
            kafka: stack().kafka(),
            group_id: group.to_owned(),
            instance_id: None,
            outages: aval_core::Outages::default(),
        },
        codec: codec(),
        store: store().await,
        dead_letters: DeadLetters::new(
            publisher.clone(),
            catalogue.topic(TopicRole::DeadLetters).name.clone(),
            role,
        ),
        publisher,
    }
}

pub async fn store() -> Store {
    let store = Store::connect(&stack().database_url, 5)
        .await
        .expect("database reachable");
    store.migrate().await.expect("migrations apply");
    store
}

/// Topics of a test's own (prefix `<tag>-<uuid>.`), applied: for a test whose processors must
/// not read what the other tests produce on the shared topics. [`delete_topics`] removes them.
pub async fn own_catalogue(tag: &str) -> Arc<Catalogue> {
    let catalogue = Catalogue::new(&format!("{tag}-{}.", uuid::Uuid::new_v4().simple()), 1);
    TopicAdmin::new(&stack().kafka(), Duration::from_secs(10))
        .expect("admin")
        .apply(&catalogue, &codec())
        .await
        .expect("topics apply");
    Arc::new(catalogue)
}

/// Deletes a test's own topics, so runs do not add to the partitions the broker carries.
pub async fn delete_topics(catalogue: &Catalogue) {
    TopicAdmin::new(&stack().kafka(), Duration::from_secs(10))
        .expect("admin")
        .delete(catalogue)
        .await
        .expect("delete topics");
}

/// The shared test catalogue, applied once per test process.
pub async fn catalogue() -> Arc<Catalogue> {
    static APPLIED: OnceCell<Arc<Catalogue>> = OnceCell::const_new();
    APPLIED
        .get_or_init(|| async {
            let catalogue = Catalogue::new(&test_prefix(), 1);
            let admin = TopicAdmin::new(&stack().kafka(), Duration::from_secs(10)).expect("admin");
            let report = admin
                .apply(&catalogue, &codec())
                .await
                .expect("topics apply");
            assert!(
                report.drift.is_empty(),
                "test topics drifted: {:?}",
                report.drift
            );
            Arc::new(catalogue)
        })
        .await
        .clone()
}

pub fn keys() -> TokenKeys {
    TokenKeys::new(TEST_SECRET, chrono::Duration::days(1))
}

pub async fn app_state(registry_url: &str) -> AppState {
    let codec = codec_at(registry_url, Duration::from_secs(2));
    let store = store().await;
    let replies = Arc::new(aval_gateway::replies::ReplyRouter::new(
        &stack().kafka(),
        store.clone(),
        codec.clone(),
        "aval-e2e-",
        uuid::Uuid::new_v4().to_string(),
        decision_timeout(),
    ));
    AppState {
        store,
        // The given registry, not the stack's: tests point it at one that is down.
        publisher: Publisher::low_latency(&stack().kafka(), codec.clone(), Duration::from_secs(10))
            .expect("producer"),
        uploads: Publisher::new(&stack().kafka(), codec, Duration::from_secs(10))
            .expect("producer"),
        catalogue: catalogue().await,
        tokens: Arc::new(keys()),
        metrics: aval_gateway::telemetry::prometheus(),
        replies,
        outages: aval_core::Outages::default(),
        admission: Arc::new(aval_gateway::admission::Admission::new(OPEN_LIMITS)),
        console: aval_gateway::console::Console::embedded(),
    }
}

/// In-flight limits no test reaches unless it means to (the e2e tests run in parallel).
pub const OPEN_LIMITS: aval_gateway::admission::Limits = aval_gateway::admission::Limits {
    decisions: 100_000,
    decisions_per_company: 100_000,
    uploads_per_company: 1_000,
};

/// Generous by default: a debug build on a CI machine busy training other tests' models.
pub fn decision_timeout() -> Duration {
    let ms = std::env::var("AVAL_DECISION_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    Duration::from_millis(ms)
}

/// A gateway serving on an ephemeral loopback port; stops when the test's runtime ends.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub base: String,
    pub http: reqwest::Client,
}

impl Gateway {
    pub async fn start() -> Self {
        Self::start_with(app_state(&stack().schema_registry_url).await).await
    }

    /// A gateway on `catalogue`'s topics.
    pub async fn start_on(catalogue: Arc<Catalogue>) -> Self {
        let mut state = app_state(&stack().schema_registry_url).await;
        state.catalogue = catalogue;
        Self::start_with(state).await
    }

    pub async fn start_with(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            axum::serve(listener, aval_gateway::router(state))
                .await
                .expect("serve");
        });
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a fresh company; returns (company id, token).
    pub async fn register(&self) -> (String, String) {
        let email = format!("credit+{}@example.com.br", uuid::Uuid::new_v4().simple());
        let response = self
            .http
            .post(self.url("/v1/companies"))
            .json(&serde_json::json!({"name": "Acme Distribuidora Ltda", "email": email}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "registration failed");
        let body: serde_json::Value = response.json().await.expect("json");
        (
            body["company_id"].as_str().expect("company_id").to_owned(),
            body["token"].as_str().expect("token").to_owned(),
        )
    }
}

/// A consumer reading `topic` from the beginning, in a group of its own.
/// Commits the current end of every partition of `topic` as the offsets of the new consumer
/// group `group`, so a processor started in it reads only what is produced from now on: the
/// shared test topics keep every earlier test's records, which a new group would otherwise
/// work through first.
pub fn start_group_at_end(group: &str, topic: &str) {
    let consumer: rdkafka::consumer::BaseConsumer = stack()
        .kafka()
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("metadata");
    let mut offsets = rdkafka::TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (_, end) = consumer
            .fetch_watermarks(topic, partition.id(), timeout)
            .expect("watermarks");
        offsets
            .add_partition_offset(topic, partition.id(), rdkafka::Offset::Offset(end))
            .expect("offset");
    }
    consumer
        .commit(&offsets, rdkafka::consumer::CommitMode::Sync)
        .expect("commit the end offsets");
}

pub fn consumer_from_start(topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = stack()
        .kafka()
        .client_config()
        .set("group.id", format!("e2e-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// The value of the series `series` (its name and labels) on this process's `/metrics`, where
/// the in-process roles of the tests record; 0 before it exists.
pub fn metric(series: &str) -> f64 {
    aval_gateway::telemetry::prometheus()
        .render()
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
}
