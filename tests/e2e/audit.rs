//! The audit processor against the real stack: events land in each company's hash chain,
//! redeliveries are not duplicated, bad records are dead-lettered, and a company reads only
//! its own log.

use crate::common::{self, DEADLINE, Gateway};
use aval_core::audit::{AuditEvent, AuditKind, GENESIS};
use aval_processors::audit::AuditProcessor;
use aval_processors::dead_letters;
use aval_store::audit::query::AuditQuery;
use aval_topics::TopicRole;
use aval_topics::records::{AuditEventRecord, AuditHeadRecord};
use rdkafka::Message;
use rdkafka::message::Headers;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Short, so the heads test sees a head published by the ticker within its deadline.
const HEAD_INTERVAL: Duration = Duration::from_millis(500);

pub(crate) async fn start_processor() -> CancellationToken {
    start_processor_on(common::catalogue().await).await
}

pub(crate) async fn start_processor_on(
    catalogue: std::sync::Arc<aval_topics::Catalogue>,
) -> CancellationToken {
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
        publisher: w.publisher,
        catalogue: catalogue.clone(),
        head_interval: HEAD_INTERVAL,
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

/// The events of a page of the audit log (none when it has no `events`).
pub(crate) fn events_of(page: &Value) -> Vec<Value> {
    page["events"].as_array().cloned().unwrap_or_default()
}

/// Polls `GET /v1/audit{query}` until `done` holds of the page, and returns that page; fails
/// at the deadline, showing the last page.
pub(crate) async fn audit_until(
    gateway: &Gateway,
    token: &str,
    query: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, page) = audit_page(gateway, token, query).await;
        assert_eq!(status, 200, "{page}");
        if done(&page) {
            return page;
        }
        assert!(started.elapsed() < DEADLINE, "{query}: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

/// Two companies' events interleaved in one batch, with an event repeated within the batch and
/// one already stored: each chain grows without gaps, and every stored link recomputes.
#[tokio::test]
async fn a_batch_appends_gap_free_chains_for_each_company_once() {
    let store = common::store().await;
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let at = chrono::Utc::now();
    let event = |company, n: usize| {
        AuditEvent::new(company, AuditKind::DatasetCreated, "system:e2e", at)
            .with_detail("n", n.to_string())
    };
    let earlier = event(a, 0);
    let first = store
        .append_audit_events(std::slice::from_ref(&earlier))
        .await
        .expect("append");
    assert_eq!((first.stored, first.duplicates), (1, 0));

    let batch: Vec<AuditEvent> = vec![
        event(b, 1),
        event(a, 2),
        earlier.clone(),
        event(b, 3),
        event(a, 4),
    ];
    let mut with_repeat = batch.clone();
    with_repeat.insert(3, batch[1].clone());
    let appended = store
        .append_audit_events(&with_repeat)
        .await
        .expect("append");
    assert_eq!(appended.stored, 4);
    assert_eq!(
        appended.duplicates, 2,
        "the stored one and the repeat in the batch"
    );
    let mut expected_heads = vec![a, b];
    expected_heads.sort();
    let grown: Vec<uuid::Uuid> = appended.heads.iter().map(|(c, _)| *c).collect();
    assert_eq!(grown, expected_heads);

    for (company, count, ns) in [(a, 3, vec!["0", "2", "4"]), (b, 2, vec!["1", "3"])] {
        let mut stored = store
            .audit_events(company, &AuditQuery::newest(100))
            .await
            .expect("read");
        stored.reverse();
        assert_eq!(stored.len(), count);
        let mut previous = GENESIS;
        for (i, link) in stored.iter().enumerate() {
            assert_eq!(link.seq, i as i64 + 1, "no gap");
            assert_eq!(link.prev_hash, previous, "links to the previous event");
            assert_eq!(link.hash, link.event.chain_hash(&previous), "recomputes");
            assert_eq!(link.event.details["n"], ns[i], "in the batch's order");
            previous = link.hash;
        }
        let head = store
            .audit_head(company)
            .await
            .expect("head")
            .expect("a head");
        assert_eq!((head.seq, head.hash), (count as i64, previous));
        let reported = appended.heads.iter().find(|(c, _)| *c == company);
        assert_eq!(reported.map(|(_, h)| *h), Some(head));
    }
}

/// After events for a company, the latest `audit-heads` record for it is the stored head.
#[tokio::test]
async fn the_chain_head_is_published_to_the_heads_topic() {
    // Topics of its own: a processor of a new group on the shared topics would first read
    // every event the other tests have produced.
    let catalogue = common::own_catalogue("heads").await;
    let stop = start_processor_on(catalogue.clone()).await;
    let audit = catalogue.topic(TopicRole::Audit);
    let heads = common::consumer_from_start(&catalogue.topic(TopicRole::AuditHeads).name);
    let publisher = common::publisher();
    let store = common::store().await;
    let company = uuid::Uuid::new_v4().to_string();
    // Two rounds: the second lands within the interval after the first head went out, so only
    // the ticker publishes it.
    for round in 0..2 {
        for _ in 0..3 {
            publisher
                .publish(
                    audit,
                    &company,
                    &event_for(&company, "dataset.created"),
                    &[],
                )
                .await
                .expect("publish");
        }
        let want_seq = 3 * (round + 1);
        let codec = common::codec();
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < DEADLINE, "no head with seq {want_seq}");
            let Ok(Ok(message)) = tokio::time::timeout(DEADLINE, heads.recv()).await else {
                continue;
            };
            if message.key() != Some(company.as_bytes()) {
                continue;
            }
            let record: AuditHeadRecord = codec
                .decode(message.payload().expect("value"))
                .await
                .expect("decode");
            if record.seq < want_seq {
                continue;
            }
            assert_eq!(record.seq, want_seq);
            let company_id = uuid::Uuid::parse_str(&company).expect("uuid");
            let stored = store
                .audit_head(company_id)
                .await
                .expect("head")
                .expect("a head");
            assert_eq!(record.seq, stored.seq);
            assert_eq!(record.hash, hex(&stored.hash));
            assert_eq!(record.company_id, company);
            break;
        }
    }
    stop.cancel();
    common::delete_topics(&catalogue).await;
}

/// The company's stored events once they hold `count` decision events, oldest first.
async fn wait_for_decision_events(
    store: &aval_store::Store,
    company: uuid::Uuid,
    count: usize,
) -> Vec<aval_store::audit::StoredAuditEvent> {
    let started = Instant::now();
    loop {
        let mut events = store
            .audit_events(company, &AuditQuery::newest(500))
            .await
            .expect("read");
        let decisions = events
            .iter()
            .filter(|e| e.event.kind.starts_with("decision."))
            .count();
        if decisions >= count {
            events.reverse();
            return events;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "only {decisions} of {count} decision events after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every link of the stored chain recomputes from its event and the previous link.
fn assert_chain_verifies(events: &[aval_store::audit::StoredAuditEvent]) {
    let mut previous = GENESIS;
    for (i, stored) in events.iter().enumerate() {
        assert_eq!(stored.seq, i as i64 + 1, "no gap");
        assert_eq!(stored.prev_hash, previous, "seq {}", stored.seq);
        assert_eq!(
            stored.hash,
            stored.event.chain_hash(&previous),
            "seq {}",
            stored.seq
        );
        previous = stored.hash;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_over_http_and_kafka_are_audited_once_each_and_the_chain_verifies() {
    use crate::decisions_support::{Decisions, order, order_json, post_decision, request};
    use aval_topics::records::ReplyStatusWire;
    use serde_json::json;

    let decisions = Decisions::start().await;
    let _audit = start_processor_on(decisions.pipeline.catalogue.clone()).await;
    let gateway = decisions.gateway();
    let store = common::store().await;
    let (company, token) = decisions.trained_company().await;

    // Over HTTP: a decision, its repeat, and the gateway's own 422.
    let first = order("AU-1", "C00004", 150_000);
    let body = json!({"order": order_json(&first)});
    let (status, decided) =
        post_decision(gateway, &token, "/v1/decisions", body.clone(), "en").await;
    assert_eq!(status, 200, "{decided}");
    let (status, repeated) = post_decision(gateway, &token, "/v1/decisions", body, "en").await;
    assert_eq!(
        (status, &repeated["repeat"]),
        (200, &json!(true)),
        "{repeated}"
    );
    let mut bad = order_json(&order("AU-BAD", "C00004", 1));
    bad["amount"] = json!("-5.00");
    let (status, problem) = post_decision(
        gateway,
        &token,
        "/v1/decisions",
        json!({"order": bad}),
        "en",
    )
    .await;
    assert_eq!(status, 422, "{problem}");

    // Over Kafka: a decision, and a test of a named version.
    let over_kafka = request(&company, order("AU-2", "C00005", 90_000), None);
    let kafka_decision = decisions.decide(&token, &over_kafka).await;
    let tested = request(&company, order("AU-3", "C00006", 90_000), Some(1));
    decisions.decide(&token, &tested).await;

    // A company without a model: refused over HTTP (409) and over Kafka.
    let (bare, bare_token) = gateway.register().await;
    let (status, refused) = post_decision(
        gateway,
        &bare_token,
        "/v1/decisions",
        json!({"order": order_json(&order("AU-4", "C00001", 10_000))}),
        "en",
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    let unmodelled = request(&bare, order("AU-5", "C00001", 10_000), None);
    decisions.request_over_kafka(&bare_token, &unmodelled).await;
    assert_eq!(
        decisions.reply(&unmodelled.request_id).await.0.status,
        ReplyStatusWire::NoModel
    );

    let company_id = uuid::Uuid::parse_str(&company).expect("uuid");
    let events = wait_for_decision_events(&store, company_id, 5).await;
    assert_chain_verifies(&events);
    let decision_events: Vec<&AuditEvent> = events
        .iter()
        .map(|e| &e.event)
        .filter(|e| e.kind.starts_with("decision."))
        .collect();
    assert_eq!(
        decision_events.len(),
        5,
        "each request once: {decision_events:#?}"
    );
    let by_order = |order: &str| -> Vec<&AuditEvent> {
        decision_events
            .iter()
            .copied()
            .filter(|e| e.details.get("order_id").map(String::as_str) == Some(order))
            .collect()
    };
    let detail = |e: &AuditEvent, key: &str| e.details.get(key).cloned().unwrap_or_default();

    let http = by_order("AU-1");
    assert_eq!(http.len(), 2, "{http:#?}");
    let (fresh, repeat) = (http[0], http[1]);
    assert_eq!(
        fresh.kind,
        format!("decision.{}", decided["decision"].as_str().expect("d"))
    );
    assert_eq!(
        detail(fresh, "request_id"),
        decided["request_id"].as_str().expect("id")
    );
    assert_eq!(detail(fresh, "channel"), "http");
    assert_eq!(detail(fresh, "customer_id"), "C00004");
    assert_eq!(detail(fresh, "model_version"), "1");
    assert_eq!(detail(fresh, "threshold"), decided["threshold"].to_string());
    let probability: f64 = detail(fresh, "probability").parse().expect("a number");
    assert!((probability - decided["probability"].as_f64().expect("p")).abs() < 1e-12);
    assert_eq!(fresh.actor, format!("company:{company}"));
    assert_eq!(repeat.kind, "decision.repeated");
    assert_eq!(detail(repeat, "channel"), "http");
    assert_eq!(
        detail(repeat, "first_request_id"),
        detail(fresh, "request_id")
    );
    assert_ne!(detail(repeat, "request_id"), detail(fresh, "request_id"));

    let invalid = by_order("AU-BAD");
    assert_eq!(invalid.len(), 1, "{invalid:#?}");
    assert_eq!(invalid[0].kind, "decision.refused");
    assert_eq!(detail(invalid[0], "status"), "invalid");
    assert_eq!(detail(invalid[0], "channel"), "http");
    assert_eq!(detail(invalid[0], "reason"), "order.amount");

    let kafka = by_order("AU-2");
    assert_eq!(kafka.len(), 1, "{kafka:#?}");
    assert_eq!(
        kafka[0].kind,
        format!("decision.{}", kafka_decision.decision.as_str())
    );
    assert_eq!(detail(kafka[0], "channel"), "kafka");
    assert_eq!(detail(kafka[0], "request_id"), over_kafka.request_id);
    assert!(!kafka[0].details.contains_key("version_requested"));
    let version = by_order("AU-3");
    assert_eq!(version.len(), 1, "{version:#?}");
    assert_eq!(detail(version[0], "version_requested"), "true");
    assert_eq!(detail(version[0], "channel"), "kafka");

    let bare_id = uuid::Uuid::parse_str(&bare).expect("uuid");
    let bare_events = wait_for_decision_events(&store, bare_id, 2).await;
    assert_chain_verifies(&bare_events);
    let refusals: Vec<(String, String, String)> = bare_events
        .iter()
        .map(|e| &e.event)
        .filter(|e| e.kind.starts_with("decision."))
        .map(|e| {
            assert_eq!(e.kind, "decision.refused");
            (
                detail(e, "order_id"),
                detail(e, "channel"),
                detail(e, "status"),
            )
        })
        .collect();
    assert_eq!(
        refusals,
        [
            ("AU-4".to_owned(), "http".to_owned(), "no_model".to_owned()),
            ("AU-5".to_owned(), "kafka".to_owned(), "no_model".to_owned()),
        ]
    );
    decisions.pipeline.stop.cancel();
}
