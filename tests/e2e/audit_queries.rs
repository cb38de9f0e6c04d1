//! What an analyst asks of the audit log, against the real stack: the filters, paging while
//! the log grows, and verification of the chain, which must catch a row edited and a tail
//! removed by someone with the database's superuser rights (the append-only trigger stops
//! the application's role, not them).

use crate::audit::{audit_page, start_processor, start_processor_on, wait_for_events};
use crate::common::{self, DEADLINE, Gateway};
use aval_topics::records::{AuditEventRecord, AuditHeadRecord};
use aval_topics::{Catalogue, TopicRole};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn event(company: &str, kind: &str, at_ms: i64, details: &[(&str, &str)]) -> AuditEventRecord {
    AuditEventRecord {
        event_id: uuid::Uuid::now_v7().to_string(),
        company_id: company.to_owned(),
        kind: kind.to_owned(),
        occurred_at: at_ms,
        actor: "system:e2e".to_owned(),
        details: details
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

async fn publish(company: &str, events: &[AuditEventRecord]) {
    publish_to(&*common::catalogue().await, company, events).await;
}

async fn publish_to(catalogue: &Catalogue, company: &str, events: &[AuditEventRecord]) {
    let publisher = common::publisher();
    for record in events {
        publisher
            .publish(catalogue.topic(TopicRole::Audit), company, record, &[])
            .await
            .expect("publish");
    }
}

/// The kinds of one filtered listing, newest first, all pages walked with `limit`.
async fn kinds(gateway: &Gateway, token: &str, filter: &str) -> Vec<String> {
    all_pages(gateway, token, filter, 500)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn all_pages(gateway: &Gateway, token: &str, filter: &str, limit: usize) -> Vec<Value> {
    let mut events = Vec::new();
    let mut before = String::new();
    loop {
        let (status, page) =
            audit_page(gateway, token, &format!("?limit={limit}{filter}{before}")).await;
        assert_eq!(status, 200, "{filter}: {page}");
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        match page["next_before"].as_i64() {
            Some(next) => before = format!("&before={next}"),
            None => return events,
        }
    }
}

#[tokio::test]
async fn filters_select_the_events_asked_for_and_only_the_company_s() {
    let stop = start_processor().await;
    let gateway = Gateway::start().await;
    let (company, token) = gateway.register().await;
    let (_, other_token) = gateway.register().await;
    let (d1, d2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let both = format!("{d1},{d2}");
    let t0 = chrono::Utc::now().timestamp_millis() + 60_000;
    let events = [
        event(&company, "dataset.created", t0, &[("dataset_id", &d1)]),
        event(
            &company,
            "batch.accepted",
            t0 + 1_000,
            &[("dataset_id", &d1), ("batch_id", "b1")],
        ),
        event(
            &company,
            "dataset.ready",
            t0 + 2_000,
            &[("dataset_id", &d1)],
        ),
        event(
            &company,
            "dataset.created",
            t0 + 3_000,
            &[("dataset_id", &d2)],
        ),
        event(
            &company,
            "training.started",
            t0 + 4_000,
            &[("datasets", &both), ("request_id", "t-1")],
        ),
        event(
            &company,
            "training.finished",
            t0 + 5_000,
            &[
                ("datasets", &both),
                ("request_id", "t-1"),
                ("model_version", "2"),
            ],
        ),
        event(
            &company,
            "model.activated",
            t0 + 6_000,
            &[("model_version", "2")],
        ),
        event(&company, "token.issued", t0 + 7_000, &[("jti", "j-1")]),
    ];
    publish(&company, &events).await;
    wait_for_events(&gateway, &token, events.len() + 1).await;

    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("time")
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "&kind=dataset.*".into(),
            vec!["dataset.created", "dataset.ready", "dataset.created"],
        ),
        (
            "&kind=training.*,model.activated".into(),
            vec!["model.activated", "training.finished", "training.started"],
        ),
        (
            format!("&dataset_id={d1}"),
            vec![
                "training.finished",
                "training.started",
                "dataset.ready",
                "batch.accepted",
                "dataset.created",
            ],
        ),
        (
            format!("&dataset_id={d2}&kind=dataset.created"),
            vec!["dataset.created"],
        ),
        (
            "&model_version=2".into(),
            vec!["model.activated", "training.finished"],
        ),
        (
            "&request_id=t-1".into(),
            vec!["training.finished", "training.started"],
        ),
        (
            format!("&from={}&to={}", at(t0 + 2_000), at(t0 + 5_000)),
            vec!["training.started", "dataset.created", "dataset.ready"],
        ),
        (format!("&from={}", at(t0 + 7_000)), vec!["token.issued"]),
        ("&model_version=3".into(), vec![]),
    ];
    for (filter, expected) in &cases {
        assert_eq!(&kinds(&gateway, &token, filter).await, expected, "{filter}");
        // A page of one at a time gives the same events: the cursor keeps the filters' order.
        let paged: Vec<String> = all_pages(&gateway, &token, filter, 1)
            .await
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(&paged, expected, "{filter}, one per page");
    }
    for (filter, _) in &cases {
        assert!(
            kinds(&gateway, &other_token, filter)
                .await
                .iter()
                .all(|kind| kind == "company.registered"),
            "another company sees none of these ({filter})"
        );
    }
    for (query, field) in [
        ("?kind=dataset.nothing", "kind"),
        ("?kind=*", "kind"),
        ("?from=yesterday", "from"),
        ("?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
        ("?dataset_id=d1", "dataset_id"),
        ("?model_version=0", "model_version"),
        ("?request_id=", "request_id"),
    ] {
        let (status, problem) = audit_page(&gateway, &token, query).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    stop.cancel();
}

#[tokio::test]
async fn paging_never_repeats_or_skips_an_event_while_the_log_grows() {
    let stop = start_processor().await;
    let gateway = Gateway::start().await;
    let (company, token) = gateway.register().await;
    let now = chrono::Utc::now().timestamp_millis();
    let first: Vec<AuditEventRecord> = (0..30)
        .map(|i| {
            event(
                &company,
                "batch.accepted",
                now + i,
                &[("batch_id", &format!("early-{i}"))],
            )
        })
        .collect();
    publish(&company, &first).await;
    wait_for_events(&gateway, &token, 31).await;

    // Events keep arriving while the pages are read.
    let writer = {
        let company = company.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let late = event(
                    &company,
                    "batch.accepted",
                    now + 100 + i,
                    &[("batch_id", &format!("late-{i}"))],
                );
                publish(&company, std::slice::from_ref(&late)).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let paged = all_pages(&gateway, &token, "&kind=batch.accepted", 4).await;
    writer.await.expect("writer");
    let seqs: Vec<i64> = paged.iter().filter_map(|e| e["seq"].as_i64()).collect();
    let distinct: BTreeSet<i64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), seqs.len(), "no event twice: {seqs:?}");
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let newest = seqs[0];
    assert_eq!(
        distinct,
        (2..=newest).collect::<BTreeSet<i64>>(),
        "every batch event up to the first page's newest, none skipped"
    );
    let batches: BTreeSet<String> = paged
        .iter()
        .filter_map(|e| e["details"]["batch_id"].as_str().map(str::to_owned))
        .collect();
    assert!((0..30).all(|i| batches.contains(&format!("early-{i}"))));
    stop.cancel();
}

/// Runs SQL as PostgreSQL's superuser on the stack's own server (the operating system's
/// `postgres` account over the local socket, as `scripts/stack` runs it), with triggers off as a replication
/// session has them: what someone rewriting the log would do.
fn as_superuser(sql: &str) {
    let url = common::stack().database_url;
    let url = url.split('?').next().unwrap_or(&url);
    let database = url.rsplit('/').next().unwrap_or("aval");
    let port = url
        .rsplit(':')
        .next()
        .and_then(|tail| tail.split('/').next())
        .unwrap_or("5432");
    let output = std::process::Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(["-p", port, "-d", database])
        .args([
            "-c",
            &format!("SET session_replication_role = replica; {sql}"),
        ])
        .output()
        .expect("runuser psql (the tests run as root beside the stack's PostgreSQL)");
    assert!(
        output.status.success(),
        "superuser SQL failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn verify(gateway: &Gateway, token: &str, query: &str) -> Value {
    let response = gateway
        .http
        .get(gateway.url(&format!("/v1/audit/verify{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

/// A company with `n` events after its registration, all stored.
async fn company_with_events(gateway: &Gateway, n: usize) -> (String, String) {
    company_with_events_on(gateway, &*common::catalogue().await, n).await
}

/// A registered company with `n` events after its registration, on `catalogue`'s topics
/// (those `gateway` and the audit processor use).
async fn company_with_events_on(
    gateway: &Gateway,
    catalogue: &Catalogue,
    n: usize,
) -> (String, String) {
    let (company, token) = gateway.register().await;
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<AuditEventRecord> = (0..n)
        .map(|i| {
            event(
                &company,
                "batch.accepted",
                now + i as i64,
                &[("items", &i.to_string())],
            )
        })
        .collect();
    publish_to(catalogue, &company, &events).await;
    wait_for_events(gateway, &token, n + 1).await;
    (company, token)
}

#[tokio::test]
async fn verification_finds_an_edited_event() {
    let stop = start_processor().await;
    let gateway = Gateway::start().await;
    let (company, token) = company_with_events(&gateway, 6).await;
    let intact = verify(&gateway, &token, "").await;
    assert_eq!(intact["verified"], true, "{intact}");
    assert_eq!(
        (intact["events"].as_i64(), intact["head_seq"].as_i64()),
        (Some(7), Some(7))
    );
    let (_, newest) = audit_page(&gateway, &token, "?limit=1").await;
    assert_eq!(intact["head"], newest["events"][0]["hash"]);
    assert!(intact["first_broken_seq"].is_null());

    as_superuser(&format!(
        "UPDATE audit_events SET details = jsonb_set(details, '{{items}}', '\"500\"') \
         WHERE company_id = '{company}' AND seq = 4"
    ));
    let edited = verify(&gateway, &token, "").await;
    assert_eq!(edited["verified"], false, "{edited}");
    assert_eq!(edited["first_broken_seq"], 4, "{edited}");
    assert_eq!(edited["events"], 7);
    assert!(
        edited["problem"]
            .as_str()
            .is_some_and(|p| p.contains("altered")),
        "{edited}"
    );
    stop.cancel();
}

#[tokio::test]
async fn verification_finds_a_dropped_tail_against_every_head_kept_elsewhere() {
    // Topics of its own: an audit processor of another test, reading the shared audit topic
    // from its start, would store the deleted tail again.
    let catalogue = common::own_catalogue("tail").await;
    let stop = start_processor_on(catalogue.clone()).await;
    let gateway = Gateway::start_on(catalogue.clone()).await;
    let (company, token) = company_with_events_on(&gateway, &catalogue, 6).await;
    let kept = verify(&gateway, &token, "").await;
    assert_eq!(kept["verified"], true, "{kept}");
    let (head_seq, head) = (
        kept["head_seq"].as_i64().expect("seq"),
        kept["head"].as_str().expect("head").to_owned(),
    );
    assert_eq!(head_seq, 7);
    let (_, page) = audit_page(&gateway, &token, "?limit=4").await;
    let fourth = page["events"][3]["hash"].as_str().expect("hash").to_owned();
    assert_eq!(page["events"][3]["seq"], 4);

    // The tail removed, the stored head left: the head is out of the chain's reach.
    as_superuser(&format!(
        "DELETE FROM audit_events WHERE company_id = '{company}' AND seq > 4"
    ));
    let cut = verify(&gateway, &token, "").await;
    assert_eq!(cut["verified"], false, "{cut}");
    assert_eq!(cut["first_broken_seq"], 5, "{cut}");
    assert_eq!(cut["events"], 4);

    // The stored head rewound too: the database alone can no longer tell ...
    as_superuser(&format!(
        "UPDATE audit_heads SET seq = 4, hash = decode('{fourth}', 'hex') WHERE company_id = '{company}'"
    ));
    let rewound = verify(&gateway, &token, "").await;
    assert_eq!(rewound["verified"], true, "{rewound}");
    // ... but the head the company kept can, and so can the copy on the audit-heads topic.
    let against_kept = verify(
        &gateway,
        &token,
        &format!("?head_seq={head_seq}&head={head}"),
    )
    .await;
    assert_eq!(against_kept["verified"], false, "{against_kept}");
    assert_eq!(against_kept["first_broken_seq"], 5, "{against_kept}");

    let published = AuditHeadRecord {
        company_id: company.clone(),
        seq: head_seq,
        hash: head.clone(),
        published_at: chrono::Utc::now().timestamp_millis(),
    };
    common::publisher()
        .publish(
            catalogue.topic(TopicRole::AuditHeads),
            &company,
            &published,
            &[],
        )
        .await
        .expect("publish the head");
    let (code, out) = audit_verify_command(&catalogue, &company);
    assert_eq!(code, Some(5), "{out}");
    assert!(
        out.contains(&format!("published  event {head_seq} {head}")),
        "{out}"
    );
    assert!(out.contains("verified   NO: from event 5"), "{out}");
    assert!(out.contains("tail is missing"), "{out}");

    for (query, field) in [
        ("?head_seq=7", "head"),
        (
            &format!("?head_seq=7&head={}", head.to_uppercase()) as &str,
            "head",
        ),
        ("?seq=7", "seq"),
    ] {
        let response = gateway
            .http
            .get(gateway.url(&format!("/v1/audit/verify{query}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 422, "{query}");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    stop.cancel();
    common::delete_topics(&catalogue).await;
}

/// `aval audit verify --company ID`, as an operator runs it: exit code and standard output.
fn audit_verify_command(catalogue: &Catalogue, company: &str) -> (Option<i32>, String) {
    let stack = common::stack();
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aval"))
        .args(["audit", "verify", "--company", company])
        .env("KAFKA_BOOTSTRAP", &stack.kafka_bootstrap)
        .env("SCHEMA_REGISTRY_URL", &stack.schema_registry_url)
        .env("DATABASE_URL", &stack.database_url)
        .env("AVAL_TOPIC_PREFIX", catalogue.prefix())
        .env(
            "AVAL_JWT_SECRET",
            std::str::from_utf8(common::TEST_SECRET).expect("utf8"),
        )
        .output()
        .expect("run aval audit verify");
    assert!(
        started.elapsed() < DEADLINE,
        "aval audit verify took {:?}",
        started.elapsed()
    );
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}
