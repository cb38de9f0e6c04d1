//! Outcomes over HTTP (`/v1/outcomes`): reports join the decisions they name (by request id
//! or order id), are refused whole when one names no decision of the company (another
//! company's reads as unknown), are idempotent upserts where the later repayment outcome wins
//! and an override is kept beside it; the definition of a bad order has defaults, ranges and
//! audited changes; and one company never sees or changes another's. Over Kafka (the outcomes
//! topic, Avro, the token in a header) the same rules hold, one record a report, and what is
//! refused goes to the dead letters with the reason.

use crate::common::{self, DEADLINE, Gateway};
use crate::decisions_support::{Decisions, dead_reason, order, order_json, post_decision};
use aval_processors::AUTHORIZATION_HEADER;
use aval_processors::dead_letters::SOURCE_TOPIC;
use aval_processors::outcomes::OutcomesProcessor;
use aval_topics::TopicRole;
use aval_topics::records::{AuditEventRecord, OutcomeKindWire, OutcomeReportRecord};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

async fn send(
    gateway: &Gateway,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = gateway
        .http
        .request(method, gateway.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn report(gateway: &Gateway, token: &str, reports: Value) -> (u16, Value) {
    send(
        gateway,
        token,
        reqwest::Method::POST,
        "/v1/outcomes",
        Some(json!({ "reports": reports })),
    )
    .await
}

/// Every outcome of the company (of `order_id`, when given), walking the pages `limit` at a
/// time.
async fn listed(
    gateway: &Gateway,
    token: &str,
    order_id: Option<&str>,
    limit: usize,
) -> Vec<Value> {
    let mut outcomes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![format!("limit={limit}")];
        if let Some(order_id) = order_id {
            query.push(format!("order_id={}", encoded(order_id)));
        }
        if let Some(cursor) = &cursor {
            query.push(format!("cursor={cursor}"));
        }
        let response = gateway
            .http
            .get(gateway.url(&format!("/v1/outcomes?{}", query.join("&"))))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.expect("json");
        outcomes.extend(
            page["outcomes"]
                .as_array()
                .expect("outcomes")
                .iter()
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return outcomes,
        }
    }
}

/// `text` percent-encoded for a query string.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `(order_id, family) -> kind` of a listing.
fn kinds(outcomes: &[Value]) -> BTreeMap<(String, String), String> {
    outcomes
        .iter()
        .map(|o| {
            let text = |key: &str| o[key].as_str().expect(key).to_owned();
            ((text("order_id"), text("family")), text("kind"))
        })
        .collect()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

/// The company's logged events whose kind starts with one of `kinds`, oldest first, once
/// there are `count` of them (`GET /v1/audit`, polled until [`DEADLINE`]).
async fn logged(gateway: &Gateway, token: &str, count: usize, kinds: &[&str]) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (status, page) = crate::audit::audit_page(gateway, token, "?limit=500").await;
        assert_eq!(status, 200, "{page}");
        let mut events: Vec<Value> = page["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| {
                let kind = e["kind"].as_str().unwrap_or_default();
                kinds.iter().any(|k| kind.starts_with(k))
            })
            .collect();
        if events.len() >= count {
            events.reverse();
            return events;
        }
        assert!(started.elapsed() < DEADLINE, "logged so far: {events:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The next `count` audit events of `company` whose kind starts with `outcomes.`, in order.
async fn outcome_events(
    consumer: &StreamConsumer,
    company: &str,
    count: usize,
) -> Vec<AuditEventRecord> {
    company_events(consumer, company, count, &["outcomes."]).await
}

/// The next `count` audit events of `company` whose kind starts with one of `kinds`, in order.
async fn company_events(
    consumer: &StreamConsumer,
    company: &str,
    count: usize,
    kinds: &[&str],
) -> Vec<AuditEventRecord> {
    let codec = common::codec();
    let mut events = Vec::new();
    let mut read = 0_usize;
    let mut theirs = Vec::new();
    let mut errors = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while events.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "audit events so far: {events:?}; {read} messages read, of {company}: {theirs:?}; \
             errors: {errors:?}; assigned: {:?}",
            consumer.assignment()
        );
        // Short waits, each polling the queue afresh, so one missed wake-up costs a second.
        let wait = left.min(Duration::from_secs(1));
        let message = match tokio::time::timeout(wait, consumer.recv()).await {
            Ok(Ok(message)) => message,
            Ok(Err(e)) => {
                errors.push(e.to_string());
                continue;
            }
            Err(_) => continue,
        };
        read += 1;
        if message.key() != Some(company.as_bytes()) {
            continue;
        }
        let event: AuditEventRecord = codec
            .decode(message.payload().expect("payload"))
            .await
            .expect("decode");
        theirs.push(event.kind.clone());
        if event.kind.starts_with("outcomes.") {
            assert_eq!(event.actor, format!("company:{company}"));
        }
        if kinds.iter().any(|kind| event.kind.starts_with(kind)) {
            events.push(event);
        }
    }
    events
}

fn detail(event: &AuditEventRecord, key: &str) -> String {
    event.details.get(key).cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_join_their_decisions_and_are_upserted_by_the_rule() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let audit =
        common::consumer_from_start(&pipeline.pipeline.catalogue.topic(TopicRole::Audit).name);
    let (company, token) = pipeline.trained_company().await;
    let (_, other) = gateway.register().await;

    let mut decided = BTreeMap::new();
    for (i, id) in ["O-1", "O-2", "O-3", "O-4"].into_iter().enumerate() {
        let body = json!({"order": order_json(&order(id, "C00001", 10_000 + 100 * i as i64))});
        let (status, decision) = post_decision(gateway, &token, "/v1/decisions", body, "en").await;
        assert_eq!(status, 200, "{decision}");
        decided.insert(id, decision);
    }
    let request_id = |id: &str| {
        decided[id]["request_id"]
            .as_str()
            .expect("request_id")
            .to_owned()
    };

    // By request id and by order id; an override beside a repayment outcome.
    let first = json!([
        {"request_id": request_id("O-1"), "occurred_at": "2026-11-01T10:00:00Z", "kind": "paid_on_time"},
        {"order_id": "O-2", "occurred_at": "2026-11-02T10:00:00Z", "kind": "paid_late", "days_late": 12},
        {"order_id": "O-3", "occurred_at": "2026-11-03T10:00:00Z", "kind": "defaulted"},
        {"order_id": "O-3", "occurred_at": "2026-11-01T09:00:00-03:00", "kind": "override",
         "direction": "blocked_approval", "reason_code": "manual-review"},
    ]);
    let (status, receipt) = report(gateway, &token, first.clone()).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt, json!({"reports": 4, "stored": 4, "unchanged": 0}));

    let outcomes = listed(gateway, &token, None, 50).await;
    let expected: BTreeMap<(String, String), String> = [
        (("O-1", "repayment"), "paid_on_time"),
        (("O-2", "repayment"), "paid_late"),
        (("O-3", "repayment"), "defaulted"),
        (("O-3", "override"), "override"),
    ]
    .into_iter()
    .map(|((o, f), k)| ((o.to_owned(), f.to_owned()), k.to_owned()))
    .collect();
    assert_eq!(kinds(&outcomes), expected);
    for outcome in &outcomes {
        let order_id = outcome["order_id"].as_str().expect("order_id");
        let decision = &decided[order_id];
        // Joined to the decision the order got.
        for key in [
            "request_id",
            "order_id",
            "decision",
            "model_version",
            "threshold",
        ] {
            assert_eq!(
                outcome["decision"][key], decision[key],
                "{key} of {outcome}"
            );
        }
    }
    let o2 = &listed(gateway, &token, Some("O-2"), 50).await;
    assert_eq!(o2.len(), 1, "{o2:?}");
    assert_eq!(o2[0]["days_late"], 12);
    assert_eq!(o2[0]["occurred_at"], "2026-11-02T10:00:00Z");
    let o3 = listed(gateway, &token, Some("O-3"), 50).await;
    assert_eq!(o3[0]["family"], "repayment", "{o3:?}");
    assert_eq!(o3[1]["family"], "override");
    assert_eq!(o3[1]["direction"], "blocked_approval");
    assert_eq!(o3[1]["reason_code"], "manual-review");
    assert_eq!(o3[1]["occurred_at"], "2026-11-01T12:00:00Z");
    assert!(o3[1].get("days_late").is_none(), "{o3:?}");

    // Paged one at a time: the same outcomes, none twice.
    let paged = listed(gateway, &token, None, 1).await;
    assert_eq!(paged, outcomes);

    // The same batch again changes nothing, not even when it was reported.
    let (status, receipt) = report(gateway, &token, first).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt, json!({"reports": 4, "stored": 0, "unchanged": 4}));
    assert_eq!(listed(gateway, &token, None, 50).await, outcomes);

    // A later repayment outcome replaces the earlier; an earlier one then changes nothing; the
    // override stays beside it.
    let (status, receipt) = report(
        gateway,
        &token,
        json!([
            {"order_id": "O-2", "occurred_at": "2026-11-20T10:00:00Z", "kind": "defaulted"},
            {"request_id": request_id("O-3"), "occurred_at": "2026-10-01T10:00:00Z", "kind": "paid_on_time"},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt, json!({"reports": 2, "stored": 1, "unchanged": 1}));
    let o2 = listed(gateway, &token, Some("O-2"), 50).await;
    assert_eq!(o2.len(), 1, "{o2:?}");
    assert_eq!(o2[0]["kind"], "defaulted");
    assert!(o2[0].get("days_late").is_none(), "{o2:?}");
    assert_eq!(
        kinds(&listed(gateway, &token, Some("O-3"), 50).await),
        kinds(&o3),
        "O-3 keeps its later default and its override"
    );

    // An orphan refuses the whole batch, naming each by index; nothing of it is stored.
    let (status, problem) = report(
        gateway,
        &token,
        json!([
            {"order_id": "O-4", "occurred_at": "2026-11-05T10:00:00Z", "kind": "paid_on_time"},
            {"order_id": "NO-SUCH-ORDER", "occurred_at": "2026-11-05T10:00:00Z", "kind": "defaulted"},
            {"request_id": "no-such-request", "occurred_at": "2026-11-05T10:00:00Z", "kind": "written_off"},
        ]),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        fields(&problem),
        ["reports[1].order_id", "reports[2].request_id"]
    );
    assert!(listed(gateway, &token, Some("O-4"), 50).await.is_empty());

    // The same order and family twice in one batch (by order id, then by its request id).
    let (status, problem) = report(
        gateway,
        &token,
        json!([
            {"order_id": "O-4", "occurred_at": "2026-11-05T10:00:00Z", "kind": "paid_on_time"},
            {"request_id": request_id("O-4"), "occurred_at": "2026-11-06T10:00:00Z", "kind": "defaulted"},
        ]),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["reports[1].request_id"]);
    assert!(listed(gateway, &token, Some("O-4"), 50).await.is_empty());

    // Another company's decisions read exactly as unknown ones, and it sees none of A's.
    let reports_about = |order_id: &str, request_id: &str| {
        json!([
            {"order_id": order_id, "occurred_at": "2026-11-05T10:00:00Z", "kind": "defaulted"},
            {"request_id": request_id, "occurred_at": "2026-11-05T10:00:00Z", "kind": "defaulted"},
        ])
    };
    let (status, foreign) = report(gateway, &other, reports_about("O-1", &request_id("O-1"))).await;
    assert_eq!(status, 422, "{foreign}");
    let (status, unknown) = report(gateway, &other, reports_about("O-404", "r-404")).await;
    assert_eq!(status, 422, "{unknown}");
    assert_eq!(foreign, unknown, "another company's decision looks unknown");
    assert!(listed(gateway, &other, None, 50).await.is_empty());
    assert!(listed(gateway, &other, Some("O-1"), 50).await.is_empty());
    assert_eq!(listed(gateway, &token, None, 50).await.len(), 4);

    // More than a batch holds: 413 naming `reports`.
    let many: Vec<Value> = (0..501)
        .map(|_| json!({"order_id": "O-1", "occurred_at": "2026-11-05T10:00:00Z", "kind": "defaulted"}))
        .collect();
    let (status, problem) = report(gateway, &token, Value::Array(many)).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(fields(&problem), ["reports"]);

    // Each accepted batch audited with its counts, refused ones not.
    let events = outcome_events(&audit, &company, 3).await;
    let counts: Vec<(String, String, String, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.kind, "outcomes.reported");
            (
                detail(e, "reports"),
                detail(e, "stored"),
                detail(e, "unchanged"),
                e.company_id.clone(),
            )
        })
        .collect();
    let row =
        |r: &str, s: &str, u: &str| (r.to_owned(), s.to_owned(), u.to_owned(), company.clone());
    assert_eq!(
        counts,
        [row("4", "4", "0"), row("4", "0", "4"), row("2", "1", "1")]
    );
}

#[tokio::test]
async fn the_definition_has_defaults_ranges_and_audited_changes_per_company() {
    let gateway = Gateway::start().await;
    let catalogue = common::catalogue().await;
    let audit = common::consumer_from_start(&catalogue.topic(TopicRole::Audit).name);
    let (company, token) = gateway.register().await;
    let (_, other) = gateway.register().await;
    let get = |token: String| {
        let gateway = gateway.clone();
        async move {
            send(
                &gateway,
                &token,
                reqwest::Method::GET,
                "/v1/outcomes/definition",
                None,
            )
            .await
        }
    };
    let put = |token: String, body: Value| {
        let gateway = gateway.clone();
        async move {
            send(
                &gateway,
                &token,
                reqwest::Method::PUT,
                "/v1/outcomes/definition",
                Some(body),
            )
            .await
        }
    };
    let default = json!({"days_past_due": 90, "within_days": 180});
    assert_eq!(get(token.clone()).await, (200, default.clone()));

    // Every bad value named; nothing changes.
    let (status, problem) = put(
        token.clone(),
        json!({"days_past_due": 0, "within_days": 2000}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["days_past_due", "within_days"]);
    let (status, problem) = put(
        token.clone(),
        json!({"days_past_due": 120, "within_days": 60}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["within_days"]);
    let (status, problem) = put(token.clone(), json!({"days_past_due": 30})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["within_days"]);
    let (status, _) = put(
        token.clone(),
        json!({"days_past_due": 30, "within_days": 60, "dpd": 1}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(get(token.clone()).await, (200, default.clone()));

    // A change is the company's own: another company keeps its definition and cannot touch it.
    let changed = json!({"days_past_due": 60, "within_days": 120});
    assert_eq!(
        put(token.clone(), changed.clone()).await,
        (200, changed.clone())
    );
    assert_eq!(get(token.clone()).await, (200, changed.clone()));
    assert_eq!(get(other.clone()).await, (200, default.clone()));
    let others = json!({"days_past_due": 30, "within_days": 30});
    assert_eq!(
        put(other.clone(), others.clone()).await,
        (200, others.clone())
    );
    assert_eq!(get(token.clone()).await, (200, changed.clone()));

    // The definition in force again changes nothing and is not audited; back to the default is.
    assert_eq!(put(token.clone(), changed.clone()).await, (200, changed));
    assert_eq!(
        put(token.clone(), default.clone()).await,
        (200, default.clone())
    );
    assert_eq!(get(token).await, (200, default));

    // Audited in order, each with the values before; the repeat between them left no event.
    let events = outcome_events(&audit, &company, 2).await;
    let changes: Vec<[String; 4]> = events
        .iter()
        .map(|e| {
            assert_eq!(e.kind, "outcomes.definition_changed");
            [
                detail(e, "previous_days_past_due"),
                detail(e, "previous_within_days"),
                detail(e, "days_past_due"),
                detail(e, "within_days"),
            ]
        })
        .collect();
    let change = |a: &str, b: &str, c: &str, d: &str| {
        [a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned()]
    };
    assert_eq!(
        changes,
        [
            change("90", "180", "60", "120"),
            change("60", "120", "90", "180")
        ]
    );
}

/// Produces an outcome report as a company's own system would: Avro value, keyed by the
/// order, the token in the `authorization` header (none when `token` is `None`).
async fn produce_report(
    pipeline: &Decisions,
    token: Option<&str>,
    key: &str,
    record: &OutcomeReportRecord,
) {
    let topic = pipeline.pipeline.catalogue.topic(TopicRole::Outcomes);
    let payload = common::codec().encode(topic, record).await.expect("encode");
    let producer: FutureProducer = common::stack()
        .kafka()
        .client_config()
        .create()
        .expect("producer");
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = OwnedHeaders::new();
    if let Some(bearer) = &bearer {
        headers = headers.insert(Header {
            key: AUTHORIZATION_HEADER,
            value: Some(bearer.as_bytes()),
        });
    }
    producer
        .send(
            FutureRecord::to(&topic.name)
                .key(key)
                .payload(&payload)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .expect("produced");
}

/// Polls `GET /v1/outcomes` until the company has `count` outcomes.
async fn listed_until(gateway: &Gateway, token: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let outcomes = listed(gateway, token, None, 50).await;
        if outcomes.len() >= count {
            return outcomes;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{count} outcomes in time: {outcomes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_over_kafka_join_their_decisions_and_refusals_go_to_dead_letters() {
    let pipeline = Decisions::start().await;
    let catalogue = pipeline.pipeline.catalogue.clone();
    let prefix = catalogue.prefix().to_owned();
    let w = common::wiring(&catalogue, &format!("{prefix}outcomes"), "outcomes").await;
    let processor = OutcomesProcessor {
        consumer: w.consumer,
        catalogue: catalogue.clone(),
        codec: w.codec,
        store: w.store,
        publisher: w.publisher,
        dead_letters: w.dead_letters,
        tokens: Arc::new(common::keys()),
    };
    tokio::spawn(processor.run(pipeline.pipeline.stop.clone().cancelled_owned()));
    let audit_stop = crate::audit::start_processor_on(catalogue.clone()).await;
    let gateway = pipeline.gateway();
    let dead = common::consumer_from_start(&catalogue.topic(TopicRole::DeadLetters).name);
    let (company, token) = pipeline.trained_company().await;
    let (_, other) = gateway.register().await;

    let mut request_ids = BTreeMap::new();
    for id in ["K-1", "K-2"] {
        let body = json!({"order": order_json(&order(id, "C00001", 12_000))});
        let (status, decision) = post_decision(gateway, &token, "/v1/decisions", body, "en").await;
        assert_eq!(status, 200, "{decision}");
        request_ids.insert(id, decision["request_id"].as_str().expect("id").to_owned());
    }
    let at = |day: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 11, day)
            .expect("day")
            .and_hms_opt(10, 0, 0)
            .expect("time")
            .and_utc()
            .timestamp_millis()
    };
    let paid = OutcomeReportRecord {
        request_id: Some(request_ids["K-1"].clone()),
        order_id: None,
        occurred_at: at(1),
        kind: OutcomeKindWire::PaidOnTime,
        days_late: None,
        direction: None,
        reason_code: None,
    };
    let late = OutcomeReportRecord {
        request_id: None,
        order_id: Some("K-2".to_owned()),
        kind: OutcomeKindWire::PaidLate,
        days_late: Some(40),
        occurred_at: at(2),
        ..paid.clone()
    };
    let orphan = OutcomeReportRecord {
        request_id: None,
        order_id: Some("K-404".to_owned()),
        kind: OutcomeKindWire::Defaulted,
        ..paid.clone()
    };
    let invalid = OutcomeReportRecord {
        kind: OutcomeKindWire::PaidLate,
        days_late: None,
        ..late.clone()
    };
    let foreign = OutcomeReportRecord {
        request_id: None,
        order_id: Some("K-1".to_owned()),
        kind: OutcomeKindWire::WrittenOff,
        ..paid.clone()
    };
    produce_report(&pipeline, Some(&token), "K-1", &paid).await;
    produce_report(&pipeline, Some(&token), "K-2", &late).await;
    produce_report(&pipeline, Some(&token), "K-404", &orphan).await;
    produce_report(&pipeline, Some(&token), "K-2", &invalid).await;
    produce_report(&pipeline, Some(&other), "K-1", &foreign).await;
    produce_report(&pipeline, None, "K-1", &foreign).await;
    // The same report again changes nothing.
    produce_report(&pipeline, Some(&token), "K-1", &paid).await;

    // Joined to their decisions, as over HTTP.
    let outcomes = listed_until(gateway, &token, 2).await;
    let expected: BTreeMap<(String, String), String> = [
        (("K-1", "repayment"), "paid_on_time"),
        (("K-2", "repayment"), "paid_late"),
    ]
    .into_iter()
    .map(|((o, f), k)| ((o.to_owned(), f.to_owned()), k.to_owned()))
    .collect();
    assert_eq!(kinds(&outcomes), expected);
    for outcome in &outcomes {
        let order_id = outcome["order_id"].as_str().expect("order_id");
        assert_eq!(outcome["decision"]["request_id"], request_ids[order_id]);
    }
    let k2 = listed(gateway, &token, Some("K-2"), 50).await;
    assert_eq!(k2[0]["days_late"], 40, "{k2:?}");

    // Each refusal on the dead-letter topic, from the outcomes topic, with its reason.
    let mut reasons = Vec::new();
    while reasons.len() < 4 {
        let message = tokio::time::timeout(DEADLINE, dead.recv())
            .await
            .expect("every refusal dead-lettered in time")
            .expect("consume");
        let source = message.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == SOURCE_TOPIC)
                .and_then(|h| h.value.map(<[u8]>::to_vec))
        });
        assert_eq!(
            source.as_deref(),
            Some(catalogue.topic(TopicRole::Outcomes).name.as_bytes())
        );
        let headers: Vec<String> = message
            .headers()
            .map(|h| h.iter().map(|h| h.key.to_owned()).collect())
            .unwrap_or_default();
        assert!(
            !headers.iter().any(|h| h == AUTHORIZATION_HEADER),
            "no token travels on: {headers:?}"
        );
        reasons.push((
            String::from_utf8_lossy(message.key().expect("key")).into_owned(),
            dead_reason(&message),
        ));
    }
    reasons.sort();
    let reason_of = |key: &str, needle: &str| {
        assert!(
            reasons.iter().any(|(k, r)| k == key && r.contains(needle)),
            "{key}: {needle} in {reasons:?}"
        );
    };
    reason_of("K-404", "names no decision of this company");
    reason_of("K-2", "days_late");
    reason_of("K-1", "names no decision of this company");
    reason_of("K-1", "no authorization header");

    // The neighbour's report read as an unknown order: nothing of it stored, on either side.
    assert!(listed(gateway, &other, None, 50).await.is_empty());
    let k1 = listed(gateway, &token, Some("K-1"), 50).await;
    assert_eq!(k1.len(), 1, "{k1:?}");
    assert_eq!(
        k1[0]["kind"], "paid_on_time",
        "the neighbour's write-off changed nothing"
    );

    // Audited: each stored report, the repeat as unchanged, and each refusal of the company's,
    // read as the company reads its log (the audit processor stores what the topic carries).
    let events = logged(gateway, &token, 5, &["outcomes.", "record.dead_lettered"]).await;
    // K-1's two reports share a partition, in order; K-2's may come before or after them.
    let mut reported: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e["kind"] == "outcomes.reported")
        .map(|e| {
            assert_eq!(e["actor"], format!("company:{company}"));
            assert_eq!(e["details"]["channel"], "kafka");
            let text = |key: &str| e["details"][key].as_str().unwrap_or_default().to_owned();
            (text("order_id"), text("stored"), text("unchanged"))
        })
        .collect();
    let first_k1 = reported.iter().position(|r| r.0 == "K-1");
    assert_eq!(
        reported.get(first_k1.unwrap_or(0)).map(|r| r.1.as_str()),
        Some("1")
    );
    reported.sort();
    let row = |o: &str, s: &str, u: &str| (o.to_owned(), s.to_owned(), u.to_owned());
    assert_eq!(
        reported,
        [
            row("K-1", "0", "1"),
            row("K-1", "1", "0"),
            row("K-2", "1", "0")
        ]
    );
    let refused = events
        .iter()
        .filter(|e| e["kind"] == "record.dead_lettered")
        .count();
    assert_eq!(refused, 2, "the orphan and the invalid report: {events:?}");
    let neighbours = logged(gateway, &other, 1, &["record.dead_lettered"]).await;
    assert!(
        neighbours[0]["details"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("names no decision of this company")),
        "{neighbours:?}"
    );
    audit_stop.cancel();
}
