//! The decisions tests' harness: a pipeline with gateway, ingest, train and score processors
//! under a topic prefix of its own, requests over Kafka and HTTP, and the check of a decision
//! against its model.

use crate::common::{self, DEADLINE, Gateway};
use crate::ingest_support::{Dataset, complete, create_dataset, upload_all};
use crate::training::{Pipeline, learnable, wait_trained, wait_versions};
use aval_core::features::{CustomerFacts, assemble};
use aval_core::ingest::items::{Cents, Order};
use aval_core::model::TrainedModel;
use aval_processors::AUTHORIZATION_HEADER;
use aval_processors::score::{DEFAULT_CACHE_COMPANIES, DEFAULT_CACHE_CUSTOMERS, ScoreProcessor};
use aval_topics::admin::TopicAdmin;
use aval_topics::records::{
    DecisionOutcomeWire, DecisionRecord, DecisionReplyRecord, DecisionRequestRecord, OrderWire,
    REPLY_INSTANCE_HEADER, REPLY_PARTITION_HEADER,
};
use aval_topics::{TopicRole, keys};
use rdkafka::Message;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The partition of the replies topic `request_over_kafka` asks its replies on.
pub const E2E_REPLY_PARTITION: i32 = 4;

/// Where a reply was found: its instance header and its partition.
#[derive(Debug)]
pub struct Routed {
    pub instance: Option<Vec<u8>>,
    pub partition: i32,
}

/// A training pipeline plus a scorer on the same topics.
pub struct Decisions {
    pub pipeline: Pipeline,
}

impl Decisions {
    pub async fn start() -> Self {
        let decisions = Self::without_scorer().await;
        decisions.start_scorer().await;
        decisions
    }

    /// The pipeline with no scorer yet: requests produced now wait on the topic, and the
    /// scorer started later takes them in large batches.
    pub async fn without_scorer() -> Self {
        Self {
            pipeline: Pipeline::start().await,
        }
    }

    /// The pipeline with a scorer publishing to the shared decisions topic alone, or to each
    /// company's own topic too (`company_topics`).
    pub async fn start_with(company_topics: bool) -> Self {
        let decisions = Self::without_scorer().await;
        decisions.start_scorer_with(company_topics).await;
        decisions
    }

    pub async fn start_scorer(&self) {
        self.start_scorer_with(true).await;
    }

    pub async fn start_scorer_with(&self, company_topics: bool) {
        let pipeline = &self.pipeline;
        let prefix = pipeline
            .catalogue
            .topic(TopicRole::Ingest)
            .name
            .trim_end_matches("ingest")
            .to_owned();
        let w = common::wiring(&pipeline.catalogue, &format!("{prefix}score"), "score").await;
        let scorer = ScoreProcessor {
            consumer: w.consumer,
            catalogue: pipeline.catalogue.clone(),
            codec: w.codec,
            store: w.store,
            dead_letters: w.dead_letters,
            publisher: w.publisher,
            tokens: Arc::new(common::keys()),
            cache_companies: DEFAULT_CACHE_COMPANIES,
            cache_customers: DEFAULT_CACHE_CUSTOMERS,
            company_topics: company_topics.then(|| {
                Arc::new(
                    TopicAdmin::new(&common::stack().kafka(), Duration::from_secs(10))
                        .expect("admin"),
                )
            }),
        };
        tokio::spawn(scorer.run(pipeline.stop.clone().cancelled_owned()));
    }

    pub fn gateway(&self) -> &Gateway {
        &self.pipeline.gateway
    }

    /// Registers a company and trains its first model (active by itself).
    pub async fn trained_company(&self) -> (String, String) {
        self.trained_company_on(&learnable(150, 8)).await
    }

    /// Registers a company and trains its first model on `data` (active by itself).
    pub async fn trained_company_on(&self, data: &Dataset) -> (String, String) {
        let gateway = self.gateway();
        let (company, token) = gateway.register().await;
        let dataset = create_dataset(gateway, &token).await;
        upload_all(gateway, &token, &dataset, data, 500).await;
        assert_eq!(
            complete(gateway, &token, &dataset, &data.counts()).await.0,
            202
        );
        let trained = wait_trained(gateway, &token, &dataset).await;
        assert_eq!(trained["status"], "trained", "{trained}");
        wait_versions(gateway, &token, 1).await;
        (company, token)
    }

    /// Produces a decision request with a plain rdkafka producer, as a company's own system
    /// would: Avro value, company key, the token in the `authorization` header.
    pub async fn request_over_kafka(&self, token: &str, request: &DecisionRequestRecord) {
        let topic = self.pipeline.catalogue.topic(TopicRole::DecisionRequests);
        let payload = common::codec()
            .encode(topic, request)
            .await
            .expect("encode");
        let producer: FutureProducer = common::stack()
            .kafka()
            .client_config()
            .create()
            .expect("producer");
        let bearer = format!("Bearer {token}");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: AUTHORIZATION_HEADER,
                value: Some(bearer.as_bytes()),
            })
            .insert(Header {
                key: REPLY_INSTANCE_HEADER,
                value: Some(b"e2e".as_slice()),
            })
            .insert(Header {
                key: REPLY_PARTITION_HEADER,
                value: Some(E2E_REPLY_PARTITION.to_string().as_bytes()),
            });
        producer
            .send(
                FutureRecord::to(&topic.name)
                    .key(&keys::spread_key(
                        &request.company_id,
                        &request.order.customer_id,
                    ))
                    .payload(&payload)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .expect("produced");
    }

    /// Produces many decision requests at once over one producer, as a company's own busy
    /// system would; their replies are keyed by request id.
    pub async fn requests_over_kafka(&self, token: &str, requests: &[DecisionRequestRecord]) {
        let topic = self.pipeline.catalogue.topic(TopicRole::DecisionRequests);
        let codec = common::codec();
        let producer: FutureProducer = common::stack()
            .kafka()
            .client_config()
            .create()
            .expect("producer");
        let bearer = format!("Bearer {token}");
        let mut sends = Vec::with_capacity(requests.len());
        for request in requests {
            let payload = codec.encode(topic, request).await.expect("encode");
            let key = keys::spread_key(&request.company_id, &request.order.customer_id);
            let producer = producer.clone();
            let (name, bearer) = (topic.name.clone(), bearer.clone());
            sends.push(async move {
                let headers = OwnedHeaders::new().insert(Header {
                    key: AUTHORIZATION_HEADER,
                    value: Some(bearer.as_bytes()),
                });
                producer
                    .send(
                        FutureRecord::to(&name)
                            .key(&key)
                            .payload(&payload)
                            .headers(headers),
                        Duration::from_secs(30),
                    )
                    .await
                    .expect("produced");
            });
        }
        futures::future::join_all(sends).await;
    }

    /// Produces bytes as they are to the requests topic, with a token.
    pub async fn produce_raw(&self, token: &str, key: &str, payload: &[u8]) {
        let topic = self.pipeline.catalogue.topic(TopicRole::DecisionRequests);
        let producer: FutureProducer = common::stack()
            .kafka()
            .client_config()
            .create()
            .expect("producer");
        let bearer = format!("Bearer {token}");
        let headers = OwnedHeaders::new().insert(Header {
            key: AUTHORIZATION_HEADER,
            value: Some(bearer.as_bytes()),
        });
        producer
            .send(
                FutureRecord::to(&topic.name)
                    .key(key)
                    .payload(payload)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .expect("produced");
    }

    /// The reply to `request_id`, read from the replies topic, and where it was found.
    pub async fn reply(&self, request_id: &str) -> (DecisionReplyRecord, Routed) {
        let mut found = self.replies_with_instance(&[request_id.to_owned()]).await;
        found.remove(request_id).expect("the reply")
    }

    /// The replies to all of `request_ids`, read from the replies topic.
    pub async fn replies(&self, request_ids: &[String]) -> HashMap<String, DecisionReplyRecord> {
        self.replies_with_instance(request_ids)
            .await
            .into_iter()
            .map(|(id, (reply, _))| (id, reply))
            .collect()
    }

    /// Sends `request` over Kafka and returns the decision of its reply.
    pub async fn decide(&self, token: &str, request: &DecisionRequestRecord) -> DecisionRecord {
        self.request_over_kafka(token, request).await;
        self.reply(&request.request_id)
            .await
            .0
            .decision
            .expect("decided")
    }

    async fn replies_with_instance(
        &self,
        request_ids: &[String],
    ) -> HashMap<String, (DecisionReplyRecord, Routed)> {
        use rdkafka::message::Headers;
        let topic = &self
            .pipeline
            .catalogue
            .topic(TopicRole::DecisionReplies)
            .name;
        let consumer = common::consumer_from_start(topic);
        let codec = common::codec();
        let mut found = HashMap::new();
        while request_ids.iter().any(|id| !found.contains_key(id)) {
            let message = tokio::time::timeout(DEADLINE, consumer.recv())
                .await
                .expect("every reply in time")
                .expect("consume");
            let reply: DecisionReplyRecord = codec
                .decode(message.payload().expect("value"))
                .await
                .expect("decode");
            let instance = message.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == REPLY_INSTANCE_HEADER)
                    .and_then(|h| h.value.map(<[u8]>::to_vec))
            });
            let partition = message.partition();
            found.insert(
                reply.request_id.clone(),
                (
                    reply,
                    Routed {
                        instance,
                        partition,
                    },
                ),
            );
        }
        found
    }

    /// The decision for `request_id` on the decisions topic (the latest, for a repeat).
    pub async fn decision_on_topic(&self, request_id: &str, repeat: bool) -> DecisionRecord {
        let topic = &self.pipeline.catalogue.topic(TopicRole::Decisions).name;
        let consumer = common::consumer_from_start(topic);
        let codec = common::codec();
        loop {
            let message = tokio::time::timeout(DEADLINE, consumer.recv())
                .await
                .expect("a decision in time")
                .expect("consume");
            let decision: DecisionRecord = codec
                .decode(message.payload().expect("value"))
                .await
                .expect("decode");
            if decision.request_id == request_id && decision.repeat == repeat {
                return decision;
            }
        }
    }
}

/// Every record on `topic` (key, value) until those for every one of `requests` (by request
/// id) were read. Partitions are read in no set order, but within one, in order: on a topic
/// of one partition, that is everything produced there up to the last of them.
pub async fn decisions_until(topic: &str, requests: &[&str]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let consumer = common::consumer_from_start(topic);
    let codec = common::codec();
    let mut records = Vec::new();
    let mut missing: std::collections::HashSet<&str> = requests.iter().copied().collect();
    while !missing.is_empty() {
        let message = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("{missing:?} on {topic} in time"))
            .expect("consume");
        let value = message.payload().expect("value").to_vec();
        let decision: DecisionRecord = codec.decode(&value).await.expect("decode");
        records.push((message.key().expect("key").to_vec(), value));
        missing.remove(decision.request_id.as_str());
    }
    records
}

pub fn dead_reason(message: &impl Message) -> String {
    use rdkafka::message::Headers;
    message
        .headers()
        .and_then(|h| {
            h.iter()
                .find(|h| h.key == aval_processors::dead_letters::REASON)
                .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
        })
        .unwrap_or_default()
}

pub fn order(id: &str, customer: &str, amount_cents: i64) -> OrderWire {
    OrderWire {
        id: id.to_owned(),
        customer_id: customer.to_owned(),
        issued_at: chrono::Utc::now().timestamp_millis() - 60_000,
        amount_cents,
        payment_term_days: Some(30),
        installments: Some(1),
        attributes: HashMap::new(),
        outcome: None,
    }
}

pub fn request(
    company: &str,
    order: OrderWire,
    model_version: Option<i32>,
) -> DecisionRequestRecord {
    DecisionRequestRecord {
        request_id: Uuid::new_v4().to_string(),
        company_id: company.to_owned(),
        order,
        customer: None,
        credit_limit: None,
        bureau_report: None,
        model_version,
        language: "pt-BR".to_owned(),
        requested_at: chrono::Utc::now().timestamp_millis(),
    }
}

/// Recomputes the decision from the stored model and facts, and checks the reasons are the
/// model's largest contributions and that all of them with the base add up to the raw score.
pub async fn check_against_the_model(
    company: &str,
    version: i32,
    order: &OrderWire,
    decision: &DecisionRecord,
) {
    let company: Uuid = company.parse().expect("uuid");
    let store = common::store().await;
    let stored = store
        .model(company, version)
        .await
        .expect("db")
        .expect("model");
    let model: TrainedModel = serde_json::from_slice(&stored.artifact).expect("artifact");
    let facts: CustomerFacts = store
        .customers_facts(company, std::slice::from_ref(&order.customer_id))
        .await
        .expect("facts")
        .remove(&order.customer_id)
        .expect("the customer's facts");
    assert!(
        facts.customer.is_some() && !facts.bureau_reports.is_empty(),
        "stored facts found"
    );
    let order = Order {
        id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        issued_at: chrono::DateTime::from_timestamp_millis(order.issued_at).expect("time"),
        amount: Cents(order.amount_cents),
        payment_term_days: order.payment_term_days.map(|v| v as u32),
        installments: order.installments.map(|v| v as u32),
        attributes: Default::default(),
        outcome: None,
    };
    let features = assemble(&order, &facts);
    let explanation = model.explain(&features);
    let sum: f64 = explanation.base
        + explanation
            .contributions
            .iter()
            .map(|c| c.contribution)
            .sum::<f64>();
    assert!(
        (sum - explanation.raw_score).abs() < 1e-6,
        "base + contributions = {sum}, raw score {}",
        explanation.raw_score
    );
    assert!((explanation.raw_score - model.raw_score(&features)).abs() < 1e-9);
    assert!(
        (model.probability(&features) - decision.probability).abs() < 1e-9,
        "same probability as the model"
    );
    assert_eq!(
        decision.reasons.len(),
        5.min(explanation.contributions.len())
    );
    for (reason, expected) in decision.reasons.iter().zip(&explanation.contributions) {
        assert_eq!(reason.feature, expected.feature);
        assert!((reason.contribution - expected.contribution).abs() < 1e-12);
        assert!(!reason.sentence.is_empty());
    }
    assert_eq!(
        decision.decision == DecisionOutcomeWire::Rejected,
        model.blocks(decision.probability)
    );
    // The largest approvable amount is exactly the edge: approved there, rejected a cent above.
    if let Some(max) = decision.max_approvable_amount_cents {
        let blocks_at = |cents: i64| {
            let mut at = order.clone();
            at.amount = Cents(cents);
            model.blocks(model.probability(&assemble(&at, &facts)))
        };
        assert!(!blocks_at(max), "{max} cents is approved");
        assert!(blocks_at(max + 1), "{} cents is rejected", max + 1);
        println!(
            "rejected at {} cents, approvable up to {max}",
            order.amount.0
        );
    }
}

pub async fn post_decision(
    gateway: &Gateway,
    token: &str,
    path: &str,
    body: serde_json::Value,
    language: &str,
) -> (u16, serde_json::Value) {
    let response = gateway
        .http
        .post(gateway.url(path))
        .bearer_auth(token)
        .header("accept-language", language)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

pub fn order_json(order: &OrderWire) -> serde_json::Value {
    let issued = chrono::DateTime::from_timestamp_millis(order.issued_at).expect("time");
    json!({
        "id": order.id, "customer_id": order.customer_id,
        "issued_at": issued.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "amount": Cents(order.amount_cents).to_string(),
        "payment_term_days": order.payment_term_days, "installments": order.installments,
    })
}
