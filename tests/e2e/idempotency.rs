//! Idempotency without silent loss: an upload batch's id (HTTP `Idempotency-Key`, Kafka
//! `batch_id`) and a decided order id stand for the content first sent under them. A true
//! repeat is answered as the first; other content under the same id is refused, never taken
//! for a repeat and dropped.

use crate::common::{self, DEADLINE, Gateway};
use crate::decisions_support::{Decisions, dead_reason, order, order_json, post_decision, request};
use crate::ingest_support::{
    Dataset, batch_record, complete, create_dataset, ensure_ingest_processor, get_dataset,
    post_batch, produce_direct, stored_rows, wait_settled,
};
use aval_core::fingerprint::order_fingerprint;
use aval_core::ingest::items::{ItemKind, Order};
use aval_store::facts::{NewDecision, Recorded};
use aval_topics::TopicRole;
use aval_topics::records::{
    AuditEventRecord, DecisionOutcomeWire, DecisionRecord, ReplyStatusWire,
};
use rdkafka::Message;
use rdkafka::consumer::StreamConsumer;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Instant;
use uuid::Uuid;

/// The 422 of a reused Idempotency-Key: names the header and says what differs.
fn assert_key_refused(problem: &Value, differs: &str) {
    let errors = problem["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{problem}");
    assert_eq!(errors[0]["field"], "Idempotency-Key", "{problem}");
    let reason = errors[0]["reason"].as_str().expect("reason");
    assert!(
        reason.contains(differs),
        "{reason:?} should say {differs:?}"
    );
}

#[tokio::test]
async fn an_idempotency_key_stands_for_the_kind_and_items_first_sent_under_it() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(10, 2);
    let first = &data.customers[..5];
    let (status, body) = post_batch(
        &gateway,
        &token,
        &dataset,
        "customers",
        first,
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["batch_id"], "key-1");

    // The same items again, through another gateway instance (the key's binding lives in
    // PostgreSQL, not in a process): a safe repeat, answered with the first batch id.
    let other_gateway = Gateway::start().await;
    let (status, body) = post_batch(
        &other_gateway,
        &token,
        &dataset,
        "customers",
        first,
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["batch_id"], "key-1");

    // Other items under the same key, or one item changed: refused, naming the key.
    let (status, problem) = post_batch(
        &gateway,
        &token,
        &dataset,
        "customers",
        &data.customers[5..],
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_key_refused(&problem, "other items");
    let mut changed = first.to_vec();
    changed[0]["state"] = json!("RJ");
    let (status, problem) = post_batch(
        &gateway,
        &token,
        &dataset,
        "customers",
        &changed,
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_key_refused(&problem, "other items");
    // Another kind under the same key.
    let (status, problem) = post_batch(
        &gateway,
        &token,
        &dataset,
        "credit-limits",
        &data.credit_limits[..5],
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_key_refused(&problem, "a batch of customers");
    assert_key_refused(&problem, "this batch is credit-limits");

    // The rest under keys of their own: each item is stored once, the repeat counted once,
    // and nothing of the refused bodies (C00000 stays in SP).
    let rest: [(&str, &[Value]); 4] = [
        ("customers", &data.customers[5..]),
        ("credit-limits", &data.credit_limits),
        ("bureau-reports", &data.bureau_reports),
        ("orders", &data.orders),
    ];
    for (segment, items) in rest {
        let key = format!("{segment}-rest");
        let (status, body) =
            post_batch(&gateway, &token, &dataset, segment, items, Some(&key)).await;
        assert_eq!(status, 202, "{segment}: {body}");
    }
    let (status, body) = complete(&gateway, &token, &dataset, &data.counts()).await;
    assert_eq!(status, 202, "{body}");
    let settled = wait_settled(&gateway, &token, &dataset, DEADLINE).await;
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(settled["counts"]["received"], data.counts(), "{settled}");
    assert_eq!(stored_rows(&dataset).await, [10, 20, 10, 10]);
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let (state,): (String,) =
        sqlx::query_as("SELECT state FROM customers WHERE dataset_id = $1::uuid AND id = 'C00000'")
            .bind(&dataset)
            .fetch_one(&pool)
            .await
            .expect("customer row");
    assert_eq!(state, "SP");
}

/// The dead-letter reasons of `count` records keyed by `company`, in the order they arrived.
async fn dead_letters_of(consumer: &StreamConsumer, company: &str, count: usize) -> Vec<String> {
    let started = Instant::now();
    let mut reasons = Vec::new();
    while reasons.len() < count {
        assert!(
            started.elapsed() < DEADLINE,
            "dead letters seen: {reasons:?}"
        );
        let Ok(Ok(message)) = tokio::time::timeout(DEADLINE, consumer.recv()).await else {
            continue;
        };
        if message.key() == Some(company.as_bytes()) {
            reasons.push(dead_reason(&message));
        }
    }
    reasons
}

/// The `count` audit events of `kind` for `company`, read from the audit topic.
async fn audit_events_of(
    consumer: &StreamConsumer,
    company: &str,
    kind: &str,
    count: usize,
) -> Vec<AuditEventRecord> {
    let codec = common::codec();
    let started = Instant::now();
    let mut events = Vec::new();
    while events.len() < count {
        assert!(
            started.elapsed() < DEADLINE,
            "audit events seen: {events:?}"
        );
        let Ok(Ok(message)) = tokio::time::timeout(DEADLINE, consumer.recv()).await else {
            continue;
        };
        if message.key() != Some(company.as_bytes()) {
            continue;
        }
        let event: AuditEventRecord = codec
            .decode(message.payload().expect("value"))
            .await
            .expect("decode");
        if event.kind == kind {
            events.push(event);
        }
    }
    events
}

#[tokio::test]
async fn a_kafka_batch_id_reused_for_other_content_is_dead_lettered_and_audited() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (company, token) = gateway.register().await;
    let bearer = format!("Bearer {token}");
    let catalogue = common::catalogue().await;
    let dead_letters = common::consumer_from_start(&catalogue.topic(TopicRole::DeadLetters).name);
    let audit = common::consumer_from_start(&catalogue.topic(TopicRole::Audit).name);
    // A dataset id the producer made up: the first batch opens it.
    let dataset = Uuid::new_v4().to_string();
    let data = Dataset::new(10, 0);
    let record =
        |kind: ItemKind, items: &[Value]| batch_record(&company, &dataset, "reused", kind, items);
    let first = record(ItemKind::Customers, &data.customers[..5]);
    produce_direct(&first, Some(&bearer)).await;
    // A producer retry of the same batch: stored once, refused never.
    produce_direct(&first, Some(&bearer)).await;
    produce_direct(
        &record(ItemKind::Customers, &data.customers[5..]),
        Some(&bearer),
    )
    .await;
    produce_direct(
        &record(ItemKind::CreditLimits, &data.credit_limits[..5]),
        Some(&bearer),
    )
    .await;

    let reasons = dead_letters_of(&dead_letters, &company, 2).await;
    assert!(
        reasons[0].contains("batch_id \"reused\" was first used for other items of customers"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("was first used for a batch of customers")
            && reasons[1].contains("credit_limits"),
        "{reasons:?}"
    );
    // Both came after the first batch on the company's partition: it is stored by now.
    assert_eq!(stored_rows(&dataset).await, [5, 0, 0, 0]);
    let (_, view) = get_dataset(&gateway, &token, &dataset).await;
    assert_eq!(view["counts"]["received"]["customers"], 5, "{view}");
    assert_eq!(view["counts"]["received"]["credit_limits"], 0, "{view}");

    let rejected = audit_events_of(&audit, &company, "batch.rejected", 2).await;
    assert_ne!(rejected[0].event_id, rejected[1].event_id, "one event each");
    for event in &rejected {
        assert_eq!(event.details["batch_id"], "reused", "{event:?}");
        assert!(
            event.details["reason"].contains("was first used for"),
            "{event:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_decided_before_is_a_repeat_or_a_conflict_even_without_an_active_model() {
    // A company with no model now, whose order SEEDED-1 was decided while it had one.
    let pipeline = Decisions::start().await;
    let (company, token) = pipeline.gateway().register().await;
    let company_id: Uuid = company.parse().expect("uuid");
    let decided = order("SEEDED-1", "C00001", 500_000);
    let as_validated = Order::try_from(decided.clone()).expect("valid order");
    let first = DecisionRecord {
        request_id: format!("first-{}", Uuid::new_v4()),
        company_id: company.clone(),
        order_id: decided.id.clone(),
        decision: DecisionOutcomeWire::Approved,
        probability: 0.1,
        threshold: 0.5,
        model_version: 1,
        reasons: Vec::new(),
        max_approvable_amount_cents: None,
        repeat: false,
        decided_at: chrono::Utc::now().timestamp_millis(),
        timings_us: HashMap::new(),
        policy: None,
        arm: Some(aval_core::experiment::Arm::Champion),
    };
    let json = serde_json::to_string(&first).expect("json");
    common::store()
        .await
        .record_decisions(&[NewDecision {
            company_id,
            order_id: &first.order_id,
            request_id: &first.request_id,
            decision: &json,
            decided_at: chrono::Utc::now(),
            order_fingerprint: &order_fingerprint(&as_validated),
            customer_id: &as_validated.customer_id,
            outcome: first.decision.as_str(),
            probability: first.probability,
            threshold: first.threshold,
            model_version: first.model_version,
            arm: aval_core::experiment::Arm::Champion,
            drift_values: &[],
        }])
        .await
        .expect("recorded");

    // The same order over Kafka: the first decision, as a repeat.
    let again = request(&company, decided.clone(), None);
    pipeline.request_over_kafka(&token, &again).await;
    let (reply, _) = pipeline.reply(&again.request_id).await;
    assert_eq!(reply.status, ReplyStatusWire::Decided, "{reply:?}");
    let repeat = reply.decision.expect("the first decision");
    assert!(repeat.repeat);
    assert_eq!(repeat.request_id, first.request_id);

    // Another amount under the same order id: a conflict naming the first decision.
    let mut other = decided.clone();
    other.amount_cents = 600_000;
    let conflicting = request(&company, other.clone(), None);
    pipeline.request_over_kafka(&token, &conflicting).await;
    let (reply, _) = pipeline.reply(&conflicting.request_id).await;
    assert_eq!(reply.status, ReplyStatusWire::Conflict, "{reply:?}");
    assert_eq!(
        reply.decision.expect("names the first").request_id,
        first.request_id
    );
    assert!(
        reply.message.is_some_and(|m| m.contains(&first.request_id)),
        "the message names the first request"
    );

    // Over HTTP: 409 with the first decision, and the true repeat still 200.
    let gateway = pipeline.gateway();
    let (status, problem) = post_decision(
        gateway,
        &token,
        "/v1/decisions",
        json!({"order": order_json(&other)}),
        "en",
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/order-conflict", "{problem}");
    assert_eq!(
        problem["first_decision"]["request_id"],
        first.request_id.as_str()
    );
    assert_eq!(problem["first_decision"]["decision"], "approved");
    let (status, body) = post_decision(
        gateway,
        &token,
        "/v1/decisions",
        json!({"order": order_json(&decided)}),
        "en",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["repeat"], true);
    assert_eq!(body["request_id"], first.request_id.as_str());
    pipeline.pipeline.stop().await;
}

/// Two decisions for one order in one batch: the first in the batch is stored and reported
/// first, the second is its repeat, however the database sorts the rows it inserts (they go
/// in key order, and a sort of many rows does not keep equal keys in their order).
#[tokio::test]
async fn of_two_decisions_for_one_order_in_a_batch_the_first_is_stored() {
    let gateway = Gateway::start().await;
    let (company, _) = gateway.register().await;
    let company_id: Uuid = company.parse().expect("uuid");
    let orders = 100;
    let decisions: Vec<(String, String, String)> = (0..orders)
        .map(|i| (format!("O-{i}"), format!("first-{i}")))
        .chain(
            (0..orders)
                .rev()
                .map(|i| (format!("O-{i}"), format!("second-{i}"))),
        )
        .map(|(order_id, request_id)| {
            let body = json!({"order_id": order_id, "request_id": request_id}).to_string();
            (order_id, request_id, body)
        })
        .collect();
    let fingerprint = [7u8; 32];
    let new: Vec<NewDecision<'_>> = decisions
        .iter()
        .map(|(order_id, request_id, body)| NewDecision {
            company_id,
            order_id,
            request_id,
            decision: body,
            decided_at: chrono::Utc::now(),
            order_fingerprint: &fingerprint,
            customer_id: "C00001",
            outcome: "approved",
            probability: 0.1,
            threshold: 0.5,
            model_version: 1,
            arm: aval_core::experiment::Arm::Champion,
            drift_values: &[],
        })
        .collect();
    let recorded = common::store()
        .await
        .record_decisions(&new)
        .await
        .expect("recorded");
    for (i, outcome) in recorded.iter().enumerate() {
        match outcome {
            Recorded::First => assert!(i < orders, "decision {i} recorded as first"),
            Recorded::Repeat(first) => {
                assert!(i >= orders, "decision {i} recorded as a repeat");
                assert_eq!(
                    first.decision["request_id"],
                    decisions[i].1.replace("second", "first")
                );
            }
        }
    }
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let stored: Vec<(String,)> = sqlx::query_as(
        "SELECT request_id FROM decisions WHERE company_id = $1 ORDER BY request_id",
    )
    .bind(company_id)
    .fetch_all(&pool)
    .await
    .expect("stored");
    assert_eq!(stored.len(), orders);
    assert!(
        stored.iter().all(|(r,)| r.starts_with("first-")),
        "{stored:?}"
    );
}
