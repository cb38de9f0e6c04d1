//! Helpers for the ingest tests: a shared ingest processor, small valid datasets, and polls.

use crate::common::{self, DEADLINE, Gateway};
use aval_core::ingest::items::{Batch, ItemKind};
use aval_core::ingest::{cnpj_with_check_digits, validate_batch};
use aval_processors::ingest::IngestProcessor;
use aval_topics::records::IngestRecord;
use aval_topics::{Catalogue, TopicRole, TopicSpec};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// One ingest processor for the whole test binary, on a runtime of its own so it outlives
/// each test's runtime.
pub fn ensure_ingest_processor() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async move {
                let catalogue = common::catalogue().await;
                let group = format!("e2e-ingest-{}", uuid::Uuid::new_v4());
                common::start_group_at_end(&group, &catalogue.topic(TopicRole::Ingest).name);
                let processor = ingest_processor(catalogue, &group).await;
                ready_tx.send(()).expect("signal");
                processor
                    .run(std::future::pending())
                    .await
                    .expect("ingest processor");
            });
        });
        ready_rx
            .recv_timeout(DEADLINE)
            .expect("ingest processor started");
    });
}

pub async fn ingest_processor(catalogue: Arc<Catalogue>, group: &str) -> IngestProcessor {
    let w = common::wiring(&catalogue, group, "ingest").await;
    IngestProcessor {
        consumer: w.consumer,
        dead_letters: w.dead_letters,
        catalogue,
        codec: w.codec,
        store: w.store,
        publisher: w.publisher,
        tokens: Arc::new(common::keys()),
    }
}

/// A small valid dataset: `n` customers, each with a limit, a report and `orders_each` orders,
/// outcomes alternating so both are present.
pub struct Dataset {
    pub customers: Vec<Value>,
    pub credit_limits: Vec<Value>,
    pub bureau_reports: Vec<Value>,
    pub orders: Vec<Value>,
}

impl Dataset {
    pub fn new(n: usize, orders_each: usize) -> Self {
        let mut dataset = Dataset {
            customers: Vec::new(),
            credit_limits: Vec::new(),
            bureau_reports: Vec::new(),
            orders: Vec::new(),
        };
        for i in 0..n {
            let id = format!("C{i:05}");
            dataset.customers.push(json!({
                "id": id, "document": cnpj_with_check_digits(&format!("{:08}0001", 10_000_000 + i)),
                "simples_nacional": i % 3 == 0, "founded_on": "2010-05-01", "state": "SP",
                "attributes": {"segment": if i % 2 == 0 { "retail" } else { "industry" }, "employees": i % 50}
            }));
            dataset
                .credit_limits
                .push(json!({"customer_id": id, "limit": "50000.00", "valid_from": "2024-01-01"}));
            dataset.bureau_reports.push(json!({
                "customer_id": id, "queried_at": "2024-03-01T10:00:00Z", "inquiries": i % 7, "score": 300 + i % 600,
                "payment_habits": {"on_time": 0.8, "cash": 0.05, "late_8_15": 0.1, "late_16_30": 0.03, "late_31_60": 0.02, "late_over_60": 0.0},
                "negatives": {"pefin": {"count": i % 3, "total": format!("{}.00", (i % 3) * 1200)}}
            }));
            for j in 0..orders_each {
                dataset.orders.push(json!({
                    "id": format!("O{i:05}-{j}"), "customer_id": id,
                    "issued_at": format!("2024-{:02}-05T12:00:00Z", 4 + j % 8), "amount": 1000 + i + j,
                    "payment_term_days": 30, "installments": 1, "attributes": {"channel": "sales-rep"},
                    "outcome": if (i + j) % 4 == 0 { "blocked" } else { "approved" }
                }));
            }
        }
        dataset
    }

    pub fn counts(&self) -> Value {
        json!({"customers": self.customers.len(), "orders": self.orders.len(),
               "credit_limits": self.credit_limits.len(), "bureau_reports": self.bureau_reports.len()})
    }

    /// (path segment, items) in upload order.
    pub fn kinds(&self) -> [(&'static str, &Vec<Value>); 4] {
        [
            ("customers", &self.customers),
            ("credit-limits", &self.credit_limits),
            ("bureau-reports", &self.bureau_reports),
            ("orders", &self.orders),
        ]
    }
}

pub async fn create_dataset(gateway: &Gateway, token: &str) -> String {
    let response = gateway
        .http
        .post(gateway.url("/v1/datasets"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "receiving");
    body["dataset_id"].as_str().expect("dataset_id").to_owned()
}

pub async fn post_batch(
    gateway: &Gateway,
    token: &str,
    dataset: &str,
    segment: &str,
    items: &[Value],
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = gateway
        .http
        .post(gateway.url(&format!("/v1/datasets/{dataset}/{segment}")))
        .bearer_auth(token)
        .json(&json!({"items": items}));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Uploads every kind in batches of `batch` items; every batch must be accepted.
pub async fn upload_all(
    gateway: &Gateway,
    token: &str,
    dataset: &str,
    data: &Dataset,
    batch: usize,
) {
    for (segment, items) in data.kinds() {
        for (i, chunk) in items.chunks(batch).enumerate() {
            let key = format!("{segment}-{i}");
            let (status, body) =
                post_batch(gateway, token, dataset, segment, chunk, Some(&key)).await;
            assert_eq!(status, 202, "{segment} batch {i}: {body}");
        }
    }
}

pub async fn complete(
    gateway: &Gateway,
    token: &str,
    dataset: &str,
    counts: &Value,
) -> (u16, Value) {
    let response = gateway
        .http
        .post(gateway.url(&format!("/v1/datasets/{dataset}/complete")))
        .bearer_auth(token)
        .json(&json!({"counts": counts}))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn get_dataset(gateway: &Gateway, token: &str, dataset: &str) -> (u16, Value) {
    let response = gateway
        .http
        .get(gateway.url(&format!("/v1/datasets/{dataset}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls until the dataset leaves receiving/validating; returns its final view.
pub async fn wait_settled(
    gateway: &Gateway,
    token: &str,
    dataset: &str,
    deadline: Duration,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get_dataset(gateway, token, dataset).await;
        assert_eq!(status, 200, "{body}");
        if !matches!(body["status"].as_str(), Some("receiving" | "validating")) {
            return body;
        }
        assert!(
            started.elapsed() < deadline,
            "dataset still {} after {deadline:?}: {body}",
            body["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rows stored for a dataset, per table, straight from PostgreSQL.
pub async fn stored_rows(dataset: &str) -> [i64; 4] {
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let mut out = [0; 4];
    for (i, table) in ["customers", "orders", "credit_limits", "bureau_reports"]
        .iter()
        .enumerate()
    {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE dataset_id = $1::uuid"
        )))
        .bind(dataset)
        .fetch_one(&pool)
        .await
        .expect("count");
        out[i] = n;
    }
    out
}

/// Produces a record straight to the ingest topic with a plain rdkafka producer, as a
/// company's own producer would: Avro in Confluent framing, keyed by the company, the token in
/// the `authorization` header.
pub async fn produce_direct(record: &IngestRecord, authorization: Option<&str>) {
    let catalogue = common::catalogue().await;
    let topic = catalogue.topic(TopicRole::Ingest);
    produce_direct_to(topic, record, authorization, &record.company_id, None).await;
}

/// Like [`produce_direct`], to `topic` under `key`, and to `partition` when one is named.
pub async fn produce_direct_to(
    topic: &TopicSpec,
    record: &IngestRecord,
    authorization: Option<&str>,
    key: &str,
    partition: Option<i32>,
) {
    let payload = common::codec().encode(topic, record).await.expect("encode");
    let producer: FutureProducer = common::stack()
        .kafka()
        .client_config()
        .create()
        .expect("producer");
    let mut headers = OwnedHeaders::new();
    if let Some(value) = authorization {
        headers = headers.insert(Header {
            key: "authorization",
            value: Some(value),
        });
    }
    let mut sent = FutureRecord::to(&topic.name)
        .key(key)
        .payload(&payload)
        .headers(headers);
    if let Some(partition) = partition {
        sent = sent.partition(partition);
    }
    producer
        .send(sent, Duration::from_secs(10))
        .await
        .expect("produce");
}

pub fn batch_record(
    company: &str,
    dataset: &str,
    batch_id: &str,
    kind: ItemKind,
    items: &[Value],
) -> IngestRecord {
    let batch: Batch = validate_batch(kind, items, chrono::Utc::now()).expect("valid items");
    IngestRecord::batch(company, dataset, batch_id, chrono::Utc::now(), &batch)
}
