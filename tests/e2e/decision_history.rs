//! The company's recorded decisions over HTTP: the list (filters, cursor paging while new
//! decisions keep arriving), one decision, the streamed export, and company scoping.

use crate::common::{self, DEADLINE, Gateway};
use crate::decisions_support::{Decisions, order, order_json, post_decision};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Mutex;
use uuid::Uuid;

async fn get(gateway: &Gateway, token: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = gateway
        .http
        .get(with_query(gateway, path, query))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `path?k=v&...`, each value percent-encoded.
fn with_query(gateway: &Gateway, path: &str, query: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{}?{}", gateway.url(path), pairs.join("&"))
}

/// Polls `done` until it holds, failing past the deadline.
async fn until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "not done within {DEADLINE:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every page of a listing, `limit` at a time; `between` runs after each page.
async fn all_pages(
    gateway: &Gateway,
    token: &str,
    filters: &[(&str, &str)],
    limit: &str,
    mut between: impl AsyncFnMut(),
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query: Vec<(&str, &str)> = filters.to_vec();
        query.push(("limit", limit));
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let (status, page) = get(gateway, token, "/v1/decisions", &query).await;
        assert_eq!(status, 200, "{page}");
        items.extend(
            page["decisions"]
                .as_array()
                .expect("decisions")
                .iter()
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
        between().await;
    }
}

fn order_ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|d| d["order_id"].as_str().expect("order_id").to_owned())
        .collect()
}

async fn decide(gateway: &Gateway, token: &str, id: &str, customer: &str, cents: i64) -> Value {
    let body = json!({"order": order_json(&order(id, customer, cents))});
    let (status, decision) = post_decision(gateway, token, "/v1/decisions", body, "en").await;
    assert_eq!(status, 200, "{decision}");
    decision
}

/// `(decided_at, order_id)` strictly decreasing: newest first, nothing twice.
fn assert_newest_first(items: &[Value]) {
    let keys: Vec<(chrono::DateTime<chrono::Utc>, String)> = items
        .iter()
        .map(|d| {
            (
                d["decided_at"]
                    .as_str()
                    .expect("decided_at")
                    .parse()
                    .expect("time"),
                d["order_id"].as_str().expect("order_id").to_owned(),
            )
        })
        .collect();
    for pair in keys.windows(2) {
        assert!(pair[0] > pair[1], "not newest first: {pair:?}");
    }
}

/// `GET /v1/decisions/activity?bucket=hour` counts exactly `listed` (all of the company's
/// decisions), approved and rejected, in the hour each was decided.
async fn assert_activity_counts(gateway: &Gateway, token: &str, listed: &[Value]) {
    use chrono::{DateTime, DurationRound, TimeDelta, Utc};
    let instant =
        |v: &Value| -> DateTime<Utc> { v.as_str().expect("a time").parse().expect("RFC 3339") };
    let mut expected: BTreeMap<DateTime<Utc>, (i64, i64)> = BTreeMap::new();
    for d in listed {
        let hour = instant(&d["decided_at"])
            .duration_trunc(TimeDelta::hours(1))
            .expect("truncates");
        let counts = expected.entry(hour).or_default();
        if d["decision"] == "approved" {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }
    let (status, activity) = get(
        gateway,
        token,
        "/v1/decisions/activity",
        &[("bucket", "hour")],
    )
    .await;
    assert_eq!(status, 200, "{activity}");
    assert_eq!(activity["bucket"], "hour");
    let counted: BTreeMap<DateTime<Utc>, (i64, i64)> = activity["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            let (approved, rejected) = (b["approved"].as_i64(), b["rejected"].as_i64());
            assert_eq!(
                b["decisions"].as_i64(),
                Some(approved.unwrap_or(0) + rejected.unwrap_or(0)),
                "{b}"
            );
            (
                instant(&b["start"]),
                (approved.expect("approved"), rejected.expect("rejected")),
            )
        })
        .collect();
    assert_eq!(counted, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_listed_filtered_paged_and_shown_to_their_company_only() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let (_, token) = pipeline.trained_company().await;
    let (_, other) = gateway.register().await;

    // 20 orders of two customers, small and very large amounts (some approved, some not).
    let mut posted = BTreeMap::new();
    for i in 0..20 {
        let customer = if i % 2 == 0 { "C00001" } else { "C00002" };
        let cents = if i % 3 == 0 {
            90_000_000
        } else {
            10_000 + i * 100
        };
        let id = format!("H-{i:02}");
        posted.insert(
            id.clone(),
            decide(gateway, &token, &id, customer, cents).await,
        );
    }

    // One decision: as the POST answered it, but the gateway's own wait.
    let first = &posted["H-03"];
    let request_id = first["request_id"].as_str().expect("request_id");
    let (status, shown) = get(gateway, &token, &format!("/v1/decisions/{request_id}"), &[]).await;
    assert_eq!(status, 200, "{shown}");
    let mut expected = first.clone();
    expected["timings_us"]
        .as_object_mut()
        .expect("timings")
        .remove("gateway");
    assert_eq!(shown, expected);
    let (status, _) = get(gateway, &other, &format!("/v1/decisions/{request_id}"), &[]).await;
    assert_eq!(status, 404, "another company's decision is not found");
    let (status, _) = get(
        gateway,
        &token,
        &format!("/v1/decisions/{}", Uuid::new_v4()),
        &[],
    )
    .await;
    assert_eq!(status, 404);

    // Filters, each against what the POSTs answered.
    let all = all_pages(gateway, &token, &[], "500", async || {}).await;
    assert_eq!(all.len(), 20);
    assert_newest_first(&all);

    // Counted per hour: the listed decisions, by the hour they were decided in.
    assert_activity_counts(gateway, &token, &all).await;
    let (status, none) = get(gateway, &other, "/v1/decisions/activity", &[]).await;
    assert_eq!((status, &none["buckets"]), (200, &json!([])), "{none}");
    let (status, refused) = get(
        gateway,
        &token,
        "/v1/decisions/activity",
        &[("bucket", "week")],
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "bucket");
    let listed = |items: &[Value]| order_ids(items).into_iter().collect::<HashSet<_>>();
    let posted_where = |keep: &dyn Fn(&str, &Value) -> bool| {
        posted
            .iter()
            .filter(|(id, d)| keep(id, d))
            .map(|(id, _)| id.clone())
            .collect::<HashSet<_>>()
    };
    let c1 = all_pages(
        gateway,
        &token,
        &[("customer_id", "C00001")],
        "500",
        async || {},
    )
    .await;
    assert_eq!(
        listed(&c1),
        posted_where(&|id, _| id[2..].parse::<u32>().expect("n") % 2 == 0)
    );
    assert!(c1.iter().all(|d| d["customer_id"] == "C00001"));
    for outcome in ["approved", "rejected"] {
        let got = all_pages(
            gateway,
            &token,
            &[("decision", outcome)],
            "500",
            async || {},
        )
        .await;
        assert_eq!(
            listed(&got),
            posted_where(&|_, d| d["decision"] == outcome),
            "{outcome}"
        );
    }
    assert_eq!(
        all_pages(
            gateway,
            &token,
            &[("model_version", "1")],
            "500",
            async || {}
        )
        .await
        .len(),
        20
    );
    assert!(
        all_pages(
            gateway,
            &token,
            &[("model_version", "2")],
            "500",
            async || {}
        )
        .await
        .is_empty()
    );
    let one = all_pages(gateway, &token, &[("order_id", "H-07")], "500", async || {}).await;
    assert_eq!(order_ids(&one), vec!["H-07".to_owned()]);
    assert_eq!(one[0]["request_id"], posted["H-07"]["request_id"]);
    assert_eq!(one[0]["probability"], posted["H-07"]["probability"]);
    // [from, to): the middle decision's instant starts one range and ends the other.
    let middle = all[10]["decided_at"]
        .as_str()
        .expect("decided_at")
        .to_owned();
    let at_or_after = all_pages(gateway, &token, &[("from", &middle)], "500", async || {}).await;
    let before = all_pages(gateway, &token, &[("to", &middle)], "500", async || {}).await;
    let middle_at: chrono::DateTime<chrono::Utc> = middle.parse().expect("time");
    let instant = |d: &Value| {
        d["decided_at"]
            .as_str()
            .expect("decided_at")
            .parse::<chrono::DateTime<chrono::Utc>>()
            .expect("time")
    };
    assert!(at_or_after.iter().all(|d| instant(d) >= middle_at));
    assert!(before.iter().all(|d| instant(d) < middle_at));
    assert_eq!(at_or_after.len() + before.len(), 20);
    assert!(
        order_ids(&at_or_after).contains(&all[10]["order_id"].as_str().expect("id").to_owned())
    );

    // Bad input: 422 naming each field.
    for (query, field) in [
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "501")], "limit"),
        (vec![("decision", "maybe")], "decision"),
        (vec![("from", "yesterday")], "from"),
        (vec![("to", "2026-01-01")], "to"),
        (
            vec![
                ("from", "2026-02-01T00:00:00Z"),
                ("to", "2026-01-01T00:00:00Z"),
            ],
            "to",
        ),
        (vec![("model_version", "0")], "model_version"),
        (vec![("cursor", "00ff")], "cursor"),
        (vec![("page", "2")], "page"),
    ] {
        let (status, problem) = get(gateway, &token, "/v1/decisions", &query).await;
        assert_eq!(status, 422, "{query:?}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, problem) = get(
        gateway,
        &token,
        "/v1/decisions/export",
        &[("format", "xml")],
    )
    .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].clone()),
        (422, json!("format"))
    );

    // Another company sees none of them, in the list or the export.
    let (status, page) = get(gateway, &other, "/v1/decisions", &[]).await;
    assert_eq!((status, page["decisions"].clone()), (200, json!([])));
    for (format, expected) in [("csv", CSV_HEADER), ("jsonl", "")] {
        let body = gateway
            .http
            .get(with_query(
                gateway,
                "/v1/decisions/export",
                &[("format", format)],
            ))
            .bearer_auth(&other)
            .send()
            .await
            .expect("export")
            .text()
            .await
            .expect("body");
        assert_eq!(body, expected, "{format}");
    }
    let (status, _) = get(gateway, "not-a-token", "/v1/decisions", &[]).await;
    assert_eq!(status, 401);

    // Paging with limit 7 while another task keeps deciding new orders: the pages hold the
    // decisions that existed at the first page, each once, and none of the new ones, although
    // the scorer stamps each new decision before storing it (so some could sort among the old).
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    // (order id, sent at, answered at) of each background decision.
    let background: Arc<Mutex<Vec<(String, Instant, Instant)>>> = Arc::default();
    let task = {
        let (stop, answered, background) = (stop.clone(), answered.clone(), background.clone());
        let (gateway, token) = (gateway.clone(), token.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("N-{n:04}");
                let sent = Instant::now();
                decide(&gateway, &token, &id, "C00003", 20_000).await;
                background.lock().await.push((id, sent, Instant::now()));
                answered.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        })
    };
    // The first page only once a few new decisions have come.
    until(|| answered.load(Ordering::SeqCst) >= 3).await;
    let before_first = Instant::now();
    let mut after_first: Option<Instant> = None;
    let pages = all_pages(gateway, &token, &[], "7", async || {
        after_first.get_or_insert_with(Instant::now);
        // Each next page only after more decisions were made meanwhile.
        let seen = answered.load(Ordering::SeqCst);
        until(|| answered.load(Ordering::SeqCst) > seen).await;
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    task.await.expect("the deciding task");
    let after_first = after_first.expect("more than one page");
    assert_newest_first(&pages);
    let ids = order_ids(&pages);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a decision listed twice");
    let background = background.lock().await.clone();
    for (id, sent, done) in &background {
        if *done < before_first {
            assert!(
                unique.contains(id),
                "{id}, decided before the first page, is missing"
            );
        }
        if *sent > after_first {
            assert!(
                !unique.contains(id),
                "{id}, decided after the first page, is listed"
            );
        }
    }
    for id in posted.keys() {
        assert!(unique.contains(id), "{id} is missing");
    }
    let late = background
        .iter()
        .filter(|(_, sent, _)| *sent > after_first)
        .count();
    assert!(late >= 3, "only {late} decisions arrived while paging");
    // A new listing sees them.
    let fresh = all_pages(gateway, &token, &[], "500", async || {}).await;
    assert_eq!(fresh.len(), 20 + background.len());
}

const CSV_HEADER: &str =
    "request_id,order_id,customer_id,decision,probability,threshold,model_version,decided_at\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_100_000_decisions_matches_the_list_page_by_page() {
    let pipeline = Decisions::start().await;
    let gateway = pipeline.gateway();
    let (company, token) = pipeline.trained_company().await;
    for (i, customer) in ["C00001", "C00002", "C00003", "C00004", "C00005"]
        .iter()
        .enumerate()
    {
        let cents = if i == 4 { 90_000_000 } else { 15_000 };
        decide(gateway, &token, &format!("X-{i}"), customer, cents).await;
    }
    // Deciding 100,000 orders through the scorer would take minutes: the 5 real decisions are
    // copied in SQL instead, 19,999 times each, each copy with its own order and request id and
    // a decided_at 1 ms earlier per copy (so copies of different orders tie on decided_at, and
    // the order id breaks the tie).
    let store = common::store().await;
    sqlx::query(
        "INSERT INTO decisions (company_id, order_id, request_id, decision, decided_at, order_fingerprint,
                                customer_id, outcome, probability, threshold, model_version)
         SELECT d.company_id, d.order_id || '-' || g, d.request_id || '-' || g, d.decision,
                d.decided_at - g * interval '1 millisecond', d.order_fingerprint,
                d.customer_id, d.outcome, d.probability, d.threshold, d.model_version
         FROM decisions d CROSS JOIN generate_series(1, 19999) AS g
         WHERE d.company_id = $1",
    )
    .bind(company.parse::<Uuid>().expect("uuid"))
    .execute(store.pool())
    .await
    .expect("copies");

    let listed = all_pages(gateway, &token, &[], "500", async || {}).await;
    assert_eq!(listed.len(), 100_000);

    let response = gateway
        .http
        .get(with_query(
            gateway,
            "/v1/decisions/export",
            &[("format", "jsonl")],
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jsonl");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"decisions.jsonl\""
    );
    let body = response.text().await.expect("body");
    let exported: Vec<Value> = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(exported.len(), listed.len());
    for (page, (exported, listed)) in exported.chunks(500).zip(listed.chunks(500)).enumerate() {
        assert_eq!(exported, listed, "page {page}");
    }

    let response = gateway
        .http
        .get(with_query(
            gateway,
            "/v1/decisions/export",
            &[("format", "csv")],
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("export");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"decisions.csv\""
    );
    let body = response.text().await.expect("body");
    assert!(body.starts_with(CSV_HEADER));
    let rows: Vec<&str> = body[CSV_HEADER.len()..].lines().collect();
    assert_eq!(rows.len(), listed.len());
    for (row, item) in rows.iter().zip(&listed) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields.len(), 8, "{row}");
        assert_eq!(fields[0], item["request_id"], "{row}");
        assert_eq!(fields[1], item["order_id"], "{row}");
        assert_eq!(fields[2], item["customer_id"], "{row}");
        assert_eq!(fields[3], item["decision"], "{row}");
        assert_eq!(
            fields[4].parse::<f64>().ok(),
            item["probability"].as_f64(),
            "{row}"
        );
        assert_eq!(
            fields[5].parse::<f64>().ok(),
            item["threshold"].as_f64(),
            "{row}"
        );
        assert_eq!(
            fields[6].parse::<i64>().ok(),
            item["model_version"].as_i64(),
            "{row}"
        );
        assert_eq!(
            fields[7].parse::<chrono::DateTime<chrono::Utc>>().ok(),
            item["decided_at"].as_str().and_then(|t| t.parse().ok()),
            "{row}"
        );
    }

    // A range exports what the list shows for it.
    let from = listed[70_000]["decided_at"]
        .as_str()
        .expect("time")
        .to_owned();
    let to = listed[30_000]["decided_at"]
        .as_str()
        .expect("time")
        .to_owned();
    let range = [("from", from.as_str()), ("to", to.as_str())];
    let in_range = all_pages(gateway, &token, &range, "500", async || {}).await;
    let body = gateway
        .http
        .get(with_query(
            gateway,
            "/v1/decisions/export",
            &[("format", "jsonl"), range[0], range[1]],
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    let exported: Vec<Value> = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert!(in_range.len() > 30_000, "{}", in_range.len());
    assert_eq!(exported, in_range);

    // The database failing midway ends the transfer with an error, not a short file: the
    // export's statement is ended from another connection while the client holds back.
    let mut response = gateway
        .http
        .get(with_query(
            gateway,
            "/v1/decisions/export",
            &[("format", "jsonl")],
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("export");
    let mut received = response
        .chunk()
        .await
        .expect("a first chunk")
        .map_or(0, |c| c.len());
    let mut terminated = false;
    let deadline = Instant::now() + DEADLINE;
    while !terminated {
        assert!(
            Instant::now() < deadline,
            "the export's statement never showed"
        );
        terminated = sqlx::query_scalar::<_, bool>(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE '%COALESCE($2, ''-infinity''%'
               AND pid <> pg_backend_pid()",
        )
        .fetch_all(store.pool())
        .await
        .expect("terminate")
        .into_iter()
        .any(|t| t);
    }
    let broken = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(broken, "the transfer ended cleanly after {received} bytes");
}
