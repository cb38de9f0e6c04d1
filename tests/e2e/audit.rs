//! The audit processor against the real stack: events land in each company's hash chain,
//! redeliveries are not duplicated, bad records are dead-lettered, and a company reads only
//! its own log.

use crate::common::{self, DEADLINE, Gateway};
use aval_core::audit::{AuditEvent, GENESIS};
use aval_processors::audit::AuditProcessor;
use aval_processors::dead_letters;
use aval_topics::TopicRole;
use aval_topics::records::AuditEventRecord;
use rdkafka::Message;
use rdkafka::message::Headers;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub(crate) async fn start_processor() -> CancellationToken {
    let catalogue = common::catalogue().await;
    let w = common::wiring(
        &catalogue,
        &format!("e2e-audit-{}", uuid::Uuid::new_v4()),
        "audit",
    )
    .await;
    let processor = AuditProcessor {
        consumer: w.consumer,
        topic: catalogue.topic(TopicRole::Audit).name.clone(),
        codec: w.codec,
        store: w.store,
        dead_letters: w.dead_letters,
    };
    let stop = CancellationToken::new();
    tokio::spawn(processor.run(stop.clone().cancelled_owned()));
    stop
}

pub(crate) async fn audit_page(gateway: &Gateway, token: &str, query: &str) -> (u16, Value) {
    let response = gateway
        .http
        .get(gateway.url(&format!("/v1/audit{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    (
        response.status().as_u16(),
        response.json().await.expect("json"),
    )
}

/// Polls the company's log until it holds `count` events, or fails at the deadline.
pub(crate) async fn wait_for_events(gateway: &Gateway, token: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (status, page) = audit_page(gateway, token, "?limit=500").await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.len() >= count {
            return events;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "only {} of {count} audit events after {DEADLINE:?}",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event_for(company_id: &str, kind: &str) -> AuditEventRecord {
    AuditEventRecord {
        event_id: uuid::Uuid::now_v7().to_string(),
        company_id: company_id.to_owned(),
        kind: kind.to_owned(),
        occurred_at: chrono::Utc::now().timestamp_millis(),
        actor: "system:e2e".to_owned(),
        details: BTreeMap::from([("dataset_id".to_owned(), "d-1".to_owned())]),
    }
}

#[tokio::test]
async fn events_are_chained_per_company_without_duplicates_and_isolated() {
    let stop = start_processor().await;
    let gateway = Gateway::start().await;
    let (company_a, token_a) = gateway.register().await;
    let (_, token_b) = gateway.register().await;

    let registered = wait_for_events(&gateway, &token_a, 1).await;
    assert_eq!(registered[0]["kind"], "company.registered");
    assert_eq!(registered[0]["seq"], 1);
    assert_eq!(registered[0]["prev_hash"], hex(&GENESIS));

    let catalogue = common::catalogue().await;
    let audit = catalogue.topic(TopicRole::Audit);
    let publisher = common::publisher();
    let created = event_for(&company_a, "dataset.created");
    let ready = event_for(&company_a, "dataset.ready");
    for record in [&created, &created, &ready] {
        publisher
            .publish(audit, &company_a, record, &[])
            .await
            .expect("publish");
    }
    // `ready` follows both copies of `created` on the company's partition, so once it is
    // stored the duplicate has been processed too.
    let events = wait_for_events(&gateway, &token_a, 3).await;
    assert_eq!(events.len(), 3, "the redelivered event was stored twice");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["dataset.ready", "dataset.created", "company.registered"],
        "newest first"
    );
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, [3, 2, 1]);
    for pair in events.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"], "the chain links");
    }
    // The newest link recomputes from its stored fields and the previous link.
    let newest = AuditEvent::try_from(ready.clone()).expect("valid");
    let previous: [u8; 32] = decode_hex(events[1]["hash"].as_str().expect("hash"));
    assert_eq!(events[0]["hash"], hex(&newest.chain_hash(&previous)));

    let (_, first_page) = audit_page(&gateway, &token_a, "?limit=2").await;
    assert_eq!(first_page["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(first_page["next_before"], 2);
    let (_, last_page) = audit_page(&gateway, &token_a, "?limit=2&before=2").await;
    assert_eq!(last_page["events"][0]["seq"], 1);
    assert!(last_page.get("next_before").is_none());

    let b_events = wait_for_events(&gateway, &token_b, 1).await;
    assert_eq!(
        b_events.len(),
        1,
        "company B sees only its own registration"
    );
    assert!(
        b_events
            .iter()
            .all(|e| e["actor"] != format!("company:{company_a}"))
    );

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=abc", "limit"),
        ("?before=-1", "before"),
        ("?company_id=x", "company_id"),
    ] {
        let (status, problem) = audit_page(&gateway, &token_a, query).await;
        assert_eq!(status, 422, "{query}");
        assert_eq!(problem["errors"][0]["field"], field, "{query}");
    }

    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let tampered =
        sqlx::query("UPDATE audit_events SET actor = 'someone' WHERE company_id = $1::uuid")
            .bind(&company_a)
            .execute(&pool)
            .await;
    assert!(tampered.is_err(), "the audit log must refuse updates");
    stop.cancel();
}

#[tokio::test]
async fn bad_records_go_to_dead_letters_with_the_reason_and_without_credentials() {
    let stop = start_processor().await;
    let catalogue = common::catalogue().await;
    let audit = catalogue.topic(TopicRole::Audit);
    let publisher = common::publisher();
    let dead_letters = common::consumer_from_start(&catalogue.topic(TopicRole::DeadLetters).name);

    let company = uuid::Uuid::new_v4().to_string();
    let garbage_key = format!("garbage-{company}");
    let garbage = publisher
        .publish_raw(
            &audit.name,
            Some(garbage_key.as_bytes()),
            b"\x00\x00\x00\x00\x01not avro",
            &[("authorization", b"Bearer secret")],
        )
        .await
        .expect("produce garbage");
    let misplaced_key = format!("misplaced-{company}");
    publisher
        .publish(
            audit,
            &misplaced_key,
            &event_for(&company, "dataset.created"),
            &[],
        )
        .await
        .expect("produce misplaced");

    let mut seen = BTreeMap::new();
    let started = Instant::now();
    while seen.len() < 2 {
        assert!(started.elapsed() < DEADLINE, "dead letters seen: {seen:?}");
        let Ok(Ok(message)) = tokio::time::timeout(DEADLINE, dead_letters.recv()).await else {
            continue;
        };
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        if key != garbage_key && key != misplaced_key {
            continue;
        }
        let headers = message.headers().expect("headers");
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(
            header(dead_letters::SOURCE_TOPIC).as_deref(),
            Some(audit.name.as_str())
        );
        assert_eq!(header(dead_letters::PROCESSOR).as_deref(), Some("audit"));
        assert!(
            header("authorization").is_none(),
            "credentials leaked into dead letters"
        );
        if key == garbage_key {
            assert_eq!(
                message.payload(),
                Some(&b"\x00\x00\x00\x00\x01not avro"[..]),
                "original bytes kept"
            );
            assert_eq!(
                header(dead_letters::SOURCE_OFFSET),
                Some(garbage.offset.to_string())
            );
        }
        seen.insert(key, header(dead_letters::REASON).expect("reason"));
    }
    assert!(seen[&garbage_key].contains("undecodable"), "{seen:?}");
    assert!(seen[&misplaced_key].contains("key"), "{seen:?}");
    stop.cancel();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}
