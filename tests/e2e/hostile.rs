//! Hostile records straight to Kafka, as a careless or malicious producer would write them:
//! every one ends in the dead-letter topic with its reason, exactly once, and a clean record
//! behind them on the same partition is processed within seconds (nothing stalls).

use crate::common::{self, DEADLINE};
use crate::decisions_support::{Decisions, dead_reason, order, request};
use crate::ingest_support::{Dataset, stored_rows};
use crate::training::Pipeline;
use aval_core::ingest::items::{Batch, ItemKind};
use aval_core::ingest::validate_batch;
use aval_core::token::{SEAL_HEADER, SENDER_HEADER};
use aval_processors::AUTHORIZATION_HEADER;
use aval_processors::dead_letters::{SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC};
use aval_topics::records::IngestRecord;
use aval_topics::{Catalogue, TopicRole};
use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// One record as a hostile producer writes it: any key, any bytes, any headers (a token, a
/// forged seal, or none).
struct Hostile {
    what: &'static str,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    headers: Vec<(&'static str, String)>,
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![(AUTHORIZATION_HEADER, format!("Bearer {token}"))]
}

/// Headers claiming the gateway sealed the record for `company`: a seal made with the real
/// key (the tests know it) over other bytes, or no seal at all but hex noise.
fn forged_seal(company: &str, over: Option<&[u8]>) -> Vec<(&'static str, String)> {
    let company = Uuid::parse_str(company).expect("a company id");
    let sealed = common::keys().seal(company, Uuid::new_v4(), over.unwrap_or(b"other bytes"));
    let seal = match over {
        Some(_) => sealed.seal,
        None => "ab".repeat(32),
    };
    vec![(SENDER_HEADER, sealed.sender), (SEAL_HEADER, seal)]
}

/// The same Confluent-framed value under a schema id the registry never issued.
fn with_unknown_schema_id(framed: &[u8]) -> Vec<u8> {
    let mut bytes = framed.to_vec();
    bytes[1..5].copy_from_slice(&0x7fff_fff0_u32.to_be_bytes());
    bytes
}

/// Every hostile variant of `valid` (company A's record, keyed and framed right).
fn hostile_variants(
    valid: &[u8],
    oversized: Vec<u8>,
    foreign: Vec<u8>,
    (company_a, token_a): (&str, &str),
    company_b: &str,
) -> Vec<Hostile> {
    let a = || company_a.as_bytes().to_vec();
    vec![
        Hostile {
            what: "wrong schema id",
            key: a(),
            value: Some(with_unknown_schema_id(valid)),
            headers: bearer(token_a),
        },
        Hostile {
            what: "truncated Avro",
            key: a(),
            value: Some(valid[..valid.len() / 2].to_vec()),
            headers: bearer(token_a),
        },
        Hostile {
            what: "oversized",
            key: a(),
            value: Some(oversized),
            headers: bearer(token_a),
        },
        Hostile {
            what: "wrong key",
            key: company_b.as_bytes().to_vec(),
            value: Some(valid.to_vec()),
            headers: bearer(token_a),
        },
        Hostile {
            what: "another company's ids under A's token",
            key: company_b.as_bytes().to_vec(),
            value: Some(foreign),
            headers: bearer(token_a),
        },
        Hostile {
            what: "raw bytes",
            key: a(),
            value: Some(b"{\"items\": [\"not avro\"]}".to_vec()),
            headers: bearer(token_a),
        },
        Hostile {
            what: "no value",
            key: a(),
            value: None,
            headers: bearer(token_a),
        },
        Hostile {
            what: "no token",
            key: a(),
            value: Some(valid.to_vec()),
            headers: vec![],
        },
        Hostile {
            what: "invalid token",
            key: a(),
            value: Some(valid.to_vec()),
            headers: vec![(AUTHORIZATION_HEADER, "Bearer not.a.token".to_owned())],
        },
        Hostile {
            what: "a seal of noise",
            key: a(),
            value: Some(valid.to_vec()),
            headers: forged_seal(company_a, None),
        },
        Hostile {
            what: "a real seal over other bytes",
            key: a(),
            value: Some(valid.to_vec()),
            headers: forged_seal(company_a, Some(b"other bytes")),
        },
    ]
}

fn producer() -> FutureProducer {
    common::stack()
        .kafka()
        .client_config()
        .create()
        .expect("producer")
}

/// Where a record landed: (partition, offset).
type Position = (i32, i64);

/// Produces each record; returns where each landed, with what it is.
async fn produce_all(topic: &str, records: &[Hostile]) -> BTreeMap<Position, &'static str> {
    let producer = producer();
    let mut offsets = BTreeMap::new();
    for record in records {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut future = FutureRecord::to(topic).key(&record.key).headers(headers);
        if let Some(value) = &record.value {
            future = future.payload(value);
        }
        let delivery = producer
            .send(future, Duration::from_secs(10))
            .await
            .unwrap_or_else(|(e, _)| panic!("{}: not produced: {e}", record.what));
        offsets.insert((delivery.partition, delivery.offset), record.what);
    }
    offsets
}

fn header(message: &impl Message, key: &str) -> Option<String> {
    message.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
    })
}

/// The dead letters of `source` (by original offset, with their reasons), once `expected` of
/// them have arrived; fails naming the records still missing at the deadline.
async fn dead_letters_of(
    catalogue: &Catalogue,
    source: &str,
    expected: &BTreeMap<Position, &'static str>,
) -> BTreeMap<Position, Vec<String>> {
    let consumer = common::consumer_from_start(&catalogue.topic(TopicRole::DeadLetters).name);
    let mut found: BTreeMap<Position, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + DEADLINE;
    while expected.keys().any(|offset| !found.contains_key(offset)) {
        let missing: Vec<_> = expected
            .iter()
            .filter(|(offset, _)| !found.contains_key(offset))
            .map(|(_, what)| *what)
            .collect();
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("never dead-lettered: {missing:?}"))
            .expect("consume");
        if header(&message, SOURCE_TOPIC).as_deref() != Some(source) {
            continue;
        }
        let at = |key: &str| header(&message, key).and_then(|v| v.parse::<i64>().ok());
        let position = (
            at(SOURCE_PARTITION)
                .and_then(|p| i32::try_from(p).ok())
                .expect("an original partition"),
            at(SOURCE_OFFSET).expect("an original offset"),
        );
        found
            .entry(position)
            .or_default()
            .push(dead_reason(&message));
    }
    found
}

/// Each hostile record dead-lettered once, with a reason, and nothing else of `source`.
fn assert_each_dead_once(
    found: &BTreeMap<Position, Vec<String>>,
    expected: &BTreeMap<Position, &'static str>,
) {
    for (offset, what) in expected {
        let reasons = &found[offset];
        assert_eq!(reasons.len(), 1, "{what} dead-lettered {reasons:?}");
        assert!(
            !reasons[0].is_empty(),
            "{what} dead-lettered without a reason"
        );
        if what.contains("seal") {
            assert!(
                reasons[0].contains("only aval's gateway seals records"),
                "{what}: {}",
                reasons[0]
            );
        }
    }
    let extra: Vec<_> = found.keys().filter(|p| !expected.contains_key(p)).collect();
    assert!(
        extra.is_empty(),
        "records dead-lettered that were not hostile: offsets {extra:?}"
    );
}

/// A customer batch of `n` valid customers.
fn customers(n: usize) -> Batch {
    let data = Dataset::new(n, 1);
    let mut all = Vec::new();
    for chunk in data.customers.chunks(400) {
        match validate_batch(ItemKind::Customers, chunk, chrono::Utc::now()).expect("valid") {
            Batch::Customers(valid) => all.extend(valid),
            _ => unreachable!("a customer batch"),
        }
    }
    Batch::Customers(all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_ingest_records_are_dead_lettered_and_the_partition_moves_on() {
    let pipeline = Pipeline::start().await;
    let (company_a, token_a) = pipeline.gateway.register().await;
    let (company_b, token_b) = pipeline.gateway.register().await;
    let topic = pipeline.catalogue.topic(TopicRole::Ingest);
    let codec = common::codec();
    let now = chrono::Utc::now();
    let dataset = Uuid::new_v4().to_string();
    let record = |company: &str, batch: &Batch| {
        IngestRecord::batch(company, &dataset, &Uuid::new_v4().to_string(), now, batch)
    };
    let encode = async |record: IngestRecord| codec.encode(topic, &record).await.expect("encode");
    let valid = encode(record(&company_a, &customers(3))).await;
    let oversized = encode(record(&company_a, &customers(501))).await;
    let foreign = encode(record(&company_b, &customers(3))).await;
    let hostile = hostile_variants(
        &valid,
        oversized,
        foreign,
        (&company_a, &token_a),
        &company_b,
    );
    let offsets = produce_all(&topic.name, &hostile).await;
    assert_eq!(offsets.len(), hostile.len());

    // Clean batches behind them, on A's partition and on B's (where the wrong key went).
    let clean_a = Uuid::new_v4().to_string();
    let clean_b = Uuid::new_v4().to_string();
    for (company, token, dataset) in [
        (&company_a, &token_a, &clean_a),
        (&company_b, &token_b, &clean_b),
    ] {
        let batch = IngestRecord::batch(company, dataset, "clean", now, &customers(2));
        let value = encode(batch).await;
        produce_all(
            &topic.name,
            &[Hostile {
                what: "clean",
                key: company.as_bytes().to_vec(),
                value: Some(value),
                headers: bearer(token),
            }],
        )
        .await;
    }
    let started = Instant::now();
    for dataset in [&clean_a, &clean_b] {
        while stored_rows(dataset).await[0] != 2 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "a clean batch behind the hostile records was not stored within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(
        stored_rows(&dataset).await,
        [0; 4],
        "nothing hostile is stored"
    );

    let found = dead_letters_of(&pipeline.catalogue, &topic.name, &offsets).await;
    assert_each_dead_once(&found, &offsets);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_decision_requests_are_dead_lettered_and_the_partition_moves_on() {
    let decisions = Decisions::start().await;
    let (company_a, token_a) = decisions.trained_company().await;
    let (company_b, _) = decisions.gateway().register().await;
    let catalogue = decisions.pipeline.catalogue.clone();
    let topic = catalogue.topic(TopicRole::DecisionRequests);
    let codec = common::codec();
    let ask = |company: &str, request_id: String| {
        let mut r = request(
            company,
            order(&format!("O-{request_id}"), "C1", 10_000),
            None,
        );
        r.request_id = request_id;
        r
    };
    let valid = codec
        .encode(topic, &ask(&company_a, Uuid::new_v4().to_string()))
        .await
        .expect("encode");
    let oversized = codec
        .encode(topic, &ask(&company_a, "r".repeat(100_000)))
        .await
        .expect("encode");
    let foreign = codec
        .encode(topic, &ask(&company_b, Uuid::new_v4().to_string()))
        .await
        .expect("encode");
    let hostile = hostile_variants(
        &valid,
        oversized,
        foreign,
        (&company_a, &token_a),
        &company_b,
    );
    let offsets = produce_all(&topic.name, &hostile).await;

    // A clean request behind them on A's partition is decided within seconds.
    let started = Instant::now();
    let clean = ask(&company_a, Uuid::new_v4().to_string());
    let decided = decisions.decide(&token_a, &clean).await;
    assert_eq!(decided.request_id, clean.request_id);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the clean request took {:?}",
        started.elapsed()
    );

    let found = dead_letters_of(&catalogue, &topic.name, &offsets).await;
    assert_each_dead_once(&found, &offsets);
    decisions.pipeline.stop().await;
}
