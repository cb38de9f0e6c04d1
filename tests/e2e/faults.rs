//! Faults against the real stack, each with exact counts: a processor killed and restarted
//! under load, PostgreSQL restarted mid-upload, the schema registry down for 30 s. These stop
//! shared services, so they run alone (`scripts/test` runs `faults::` after everything else,
//! one at a time); the rest of the suite skips them.

use crate::common::{self, DEADLINE, Gateway};
use crate::decisions_support::{Decisions, order, order_json, post_decision};
use crate::ingest_support::{
    Dataset, complete, create_dataset, get_dataset, ingest_processor, post_batch, stored_rows,
    upload_all, wait_settled,
};
use crate::processes::Process;
use aval_store::audit::query::AuditQuery;
use aval_topics::{Catalogue, TopicRole};
use serde_json::json;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Runs `scripts/stack` with `args` (stop one service, or `up` to start what is down).
fn stack(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack");
    let status = Command::new(script)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("run scripts/stack");
    assert!(status.success(), "scripts/stack {args:?} failed");
}

/// `aval ROLE` as its own process on the pipeline's topics and consumer groups; `instance`
/// names it in the group (static membership).
fn start_role(role: &str, catalogue: &Catalogue, instance: &str) -> Process {
    Process::start(role, catalogue, &format!("faults-{instance}"), &[], None)
}

async fn decisions_recorded(company: &str) -> (i64, i64) {
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT order_id) FROM decisions WHERE company_id = $1::uuid",
    )
    .bind(company)
    .fetch_one(&pool)
    .await
    .expect("count")
}

/// The scorer killed with SIGKILL while decisions flow over HTTP, then restarted: every
/// request is answered 200, or 504 if it was waiting when the scorer died; asking again for
/// those gives one decision; every order is recorded exactly once.
#[tokio::test]
async fn scorer_killed_under_load_then_restarted() {
    scorer_killed_under_load(Recovery::Restart).await;
}

/// The same with a second scorer running and none restarted: the survivor takes the dead
/// one's partitions once the group notices (the consumer session timeout).
#[tokio::test]
async fn scorer_killed_while_another_serves() {
    scorer_killed_under_load(Recovery::Survivor).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// The killed scorer is started again a second later.
    Restart,
    /// Another scorer runs from the start; the killed one stays dead.
    Survivor,
}

async fn scorer_killed_under_load(recovery: Recovery) {
    let decisions = Decisions::without_scorer().await;
    let catalogue = decisions.pipeline.catalogue.clone();
    let (company, token) = decisions.trained_company().await;
    let mut scorer = start_role("score", &catalogue, "a");
    let mut survivor =
        (recovery == Recovery::Survivor).then(|| start_role("score", &catalogue, "b"));
    let gateway = decisions.gateway().clone();

    const ORDERS: usize = 120;
    let orders: Vec<_> = (0..ORDERS)
        .map(|i| order(&format!("F-{i}"), &format!("C{:05}", i % 150), 150_000))
        .collect();
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let ask = async |order: serde_json::Value| {
        let answer = post_decision(
            &gateway,
            &token,
            "/v1/decisions",
            json!({"order": order}),
            "en",
        )
        .await;
        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        answer
    };
    // Four callers at a time, so some are waiting at the moment of the kill.
    let load = async {
        use futures::StreamExt;
        futures::stream::iter(orders.iter().map(order_json))
            .map(ask)
            .buffered(4)
            .collect::<Vec<_>>()
            .await
    };
    let fault = async {
        let started = Instant::now();
        while answered.load(std::sync::atomic::Ordering::SeqCst) < ORDERS / 4 {
            assert!(started.elapsed() < DEADLINE, "no decisions before the kill");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The company's requests are keyed by customer, so every scorer of the group holds
        // some of them: scorer a dies with requests of its partitions in flight.
        scorer.kill("-KILL");
        let killed = (
            answered.load(std::sync::atomic::Ordering::SeqCst),
            Instant::now(),
        );
        if recovery == Recovery::Restart {
            tokio::time::sleep(Duration::from_secs(1)).await;
            scorer = start_role("score", &catalogue, "a");
        }
        killed
    };
    let (answers, (killed_at, kill_time)) = tokio::join!(load, fault);
    eprintln!(
        "scorer SIGKILL ({recovery:?}): {killed_at} of {ORDERS} answered at the kill; all answered {:.1} s after the kill",
        kill_time.elapsed().as_secs_f64()
    );

    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut retried = 0;
    for (order, (status, body)) in orders.iter().zip(&answers) {
        *statuses.entry(*status).or_default() += 1;
        match status {
            200 => assert_eq!(body["order_id"], order.id.as_str(), "{body}"),
            504 => {
                retried += 1;
                let (again, body) = ask(order_json(order)).await;
                assert_eq!(again, 200, "a retry after the restart: {body}");
                assert_eq!(body["order_id"], order.id.as_str(), "{body}");
            }
            other => panic!("unexpected {other} for {}: {body}", order.id),
        }
    }
    eprintln!("scorer SIGKILL ({recovery:?}): statuses {statuses:?}, {retried} retried");
    assert!(
        retried <= 4,
        "only requests waiting at the kill may time out: {statuses:?}"
    );
    let (rows, distinct) = decisions_recorded(&company).await;
    assert_eq!((rows, distinct), (ORDERS as i64, ORDERS as i64));
    match survivor.as_mut() {
        Some(survivor) => survivor.kill("-TERM"),
        None => scorer.kill("-TERM"),
    };
    decisions.pipeline.stop().await;
}

/// A pipeline's topics and an in-process gateway, with the ingest processor started by the
/// test when it chooses.
pub async fn ingest_pipeline() -> (Gateway, Arc<Catalogue>, aval_core::Outages) {
    let catalogue = common::own_catalogue("faults").await;
    let mut state = common::app_state(&common::stack().schema_registry_url).await;
    state.catalogue = catalogue.clone();
    let outages = state.outages.clone();
    (Gateway::start_with(state).await, catalogue, outages)
}

/// An ingest processor in this process on the pipeline's topics, reporting to `outages`,
/// until the returned token is cancelled.
pub async fn start_ingest(
    catalogue: &Arc<Catalogue>,
    outages: aval_core::Outages,
) -> CancellationToken {
    let prefix = catalogue
        .topic(TopicRole::Ingest)
        .name
        .replace("ingest", "");
    let mut ingest = ingest_processor(catalogue.clone(), &format!("{prefix}ingest")).await;
    ingest.consumer.outages = outages;
    let stop = CancellationToken::new();
    tokio::spawn(ingest.run(stop.clone().cancelled_owned()));
    stop
}

/// Dead letters on the pipeline's topic, read from its start.
async fn dead_letters(catalogue: &Catalogue) -> usize {
    let consumer = common::consumer_from_start(&catalogue.topic(TopicRole::DeadLetters).name);
    let mut count = 0;
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await {
        count += 1;
    }
    count
}

fn outages_counted(processor: &str, dependency: &str) -> bool {
    common::metric(&format!(
        "aval_processor_outages_total{{processor=\"{processor}\",dependency=\"{dependency}\"}}"
    )) > 0.0
}

/// PostgreSQL restarted while the ingest processor stores a dataset: nothing is lost, nothing
/// stored twice, nothing dead-lettered, and the dataset is ready.
#[tokio::test]
async fn database_restarted_mid_upload() {
    let (gateway, catalogue, _) = ingest_pipeline().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(3_000, 10);
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );

    let stop = start_ingest(&catalogue, aval_core::Outages::default()).await;
    let started = Instant::now();
    while stored_rows(&dataset).await[0] == 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "nothing stored before the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack(&["stop", "postgres"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    stack(&["up"]);
    // The gateway's pooled connections died with the server: each fails once (503) and is
    // replaced.
    let back = Instant::now();
    while get_dataset(&gateway, &token, &dataset).await.0 != 200 {
        assert!(
            back.elapsed() < DEADLINE,
            "the gateway never reached the database again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let settled = wait_settled(&gateway, &token, &dataset, Duration::from_secs(180)).await;
    stop.cancel();
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(
        stored_rows(&dataset).await,
        [3_000, 30_000, 3_000, 3_000],
        "every item stored exactly once"
    );
    assert!(
        outages_counted("ingest", "database"),
        "the restart was seen as a database outage"
    );
    assert_eq!(dead_letters(&catalogue).await, 0, "nothing dead-lettered");
    common::delete_topics(&catalogue).await;
}

/// The schema registry down for 30 s while an ingest processor that never saw the schemas
/// starts: records wait instead of going to the dead letters, and are stored once it is back.
#[tokio::test]
async fn registry_down_for_30_seconds() {
    let (gateway, catalogue, outages) = ingest_pipeline().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(500, 4);
    upload_all(&gateway, &token, &dataset, &data, 250).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );

    stack(&["stop", "registry"]);
    // The gateway's readiness shows what this process's processors report.
    let stop = start_ingest(&catalogue, outages).await;
    let down_since = Instant::now();
    loop {
        let response = gateway
            .http
            .get(gateway.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("json");
        // The processor's report (with how long), not only the gateway's own probe.
        let reported = |o: &serde_json::Value| {
            o["dependency"] == "schema_registry" && o["for_seconds"].is_u64()
        };
        if body["failing"]
            .as_array()
            .is_some_and(|f| f.iter().any(reported))
        {
            assert_eq!(status, 503, "{body}");
            break;
        }
        assert!(
            down_since.elapsed() < DEADLINE,
            "the outage was never reported: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(outages_counted("ingest", "schema_registry"));
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down_since.elapsed())).await;
    assert_eq!(
        stored_rows(&dataset).await,
        [0, 0, 0, 0],
        "nothing stored without schemas"
    );
    stack(&["up"]);

    let settled = wait_settled(&gateway, &token, &dataset, Duration::from_secs(180)).await;
    stop.cancel();
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(stored_rows(&dataset).await, [500, 2_000, 500, 500]);
    assert_eq!(dead_letters(&catalogue).await, 0, "nothing dead-lettered");
    common::delete_topics(&catalogue).await;
}

/// The broker stopped and started again while a dataset is uploaded and decisions are asked
/// for: every batch the gateway accepted is stored once and the dataset is ready; every
/// decision request is answered 200, or refused or timed out while the broker was away and
/// then decided when asked again; every order is recorded once.
#[tokio::test]
async fn broker_restarted_mid_upload_and_under_decisions() {
    let decisions = Decisions::start().await;
    let (company, token) = decisions.trained_company().await;
    let gateway = decisions.gateway().clone();
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(1_000, 10);

    const ORDERS: usize = 200;
    let orders: Vec<serde_json::Value> = (0..ORDERS)
        .map(|i| {
            order_json(&order(
                &format!("B-{i}"),
                &format!("C{:05}", i % 150),
                90_000,
            ))
        })
        .collect();
    let ask = async |order: &serde_json::Value| {
        post_decision(
            &gateway,
            &token,
            "/v1/decisions",
            json!({"order": order}),
            "en",
        )
        .await
    };
    // Decisions at about 20/s, before, during and after the broker is away.
    let load = async {
        let mut answers = Vec::with_capacity(ORDERS);
        for order in &orders {
            answers.push(ask(order).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        answers
    };
    // The upload retries a refused batch with the same Idempotency-Key, as a client would.
    let upload = async {
        for (segment, items) in data.kinds() {
            for (i, chunk) in items.chunks(250).enumerate() {
                let key = format!("{segment}-{i}");
                let started = Instant::now();
                loop {
                    let (status, body) =
                        post_batch(&gateway, &token, &dataset, segment, chunk, Some(&key)).await;
                    match status {
                        202 => break,
                        503 | 504 => {
                            assert!(started.elapsed() < Duration::from_secs(120), "{body}")
                        }
                        other => panic!("batch {segment} {i}: {other} {body}"),
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    };
    let fault = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        stack(&["stop", "kafka"]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        stack(&["up"]);
    };
    let (answers, (), ()) = tokio::join!(load, upload, fault);
    let started = Instant::now();
    loop {
        let (status, body) = complete(&gateway, &token, &dataset, &data.counts()).await;
        if status == 202 {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "completion refused: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settled = wait_settled(&gateway, &token, &dataset, Duration::from_secs(180)).await;
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(stored_rows(&dataset).await, [1_000, 10_000, 1_000, 1_000]);

    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for (order, (status, body)) in orders.iter().zip(&answers) {
        *statuses.entry(*status).or_default() += 1;
        match status {
            200 => assert_eq!(body["order_id"], order["id"], "{body}"),
            503 | 504 => {
                let (again, body) = ask(order).await;
                assert_eq!(again, 200, "asked again after the restart: {body}");
                assert_eq!(body["order_id"], order["id"], "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    eprintln!("broker restart: decision statuses {statuses:?}");
    let (rows, distinct) = decisions_recorded(&company).await;
    assert_eq!((rows, distinct), (ORDERS as i64, ORDERS as i64));
    decisions.pipeline.stop().await;
}

/// `aval train` killed with SIGKILL mid-training, then restarted: the request is trained
/// once more from the start and ends with exactly one version, active, announced once.
#[tokio::test]
async fn trainer_killed_mid_training_then_restarted() {
    let (gateway, catalogue, _) = ingest_pipeline().await;
    let stop = start_ingest(&catalogue, aval_core::Outages::default()).await;
    let mut trainer = start_role("train", &catalogue, "a");
    let (company, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = crate::training::learnable(1_500, 10);
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );

    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let count = async |sql: &str| -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(&company)
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    // Queued runs exist before the trainer takes them: only a running one proves it started.
    let runs =
        "SELECT count(*) FROM training_runs WHERE company_id = $1::uuid AND status = 'running'";
    let versions = "SELECT count(*) FROM models WHERE company_id = $1::uuid";
    let started = Instant::now();
    while count(runs).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "training never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    trainer.kill("-KILL");
    assert_eq!(
        count(versions).await,
        0,
        "the version was stored before the kill; the test proves nothing"
    );
    let mut trainer = start_role("train", &catalogue, "a");
    let trained = crate::training::wait_trained(&gateway, &token, &dataset).await;
    assert_eq!(trained["status"], "trained", "{trained}");
    let (_, models) = crate::training::get(&gateway, &token, "/v1/models").await;
    assert_eq!(models["active_version"], 1, "{models}");
    assert_eq!(count(versions).await, 1, "exactly one version");
    trainer.kill("-TERM");
    stop.cancel();
    common::delete_topics(&catalogue).await;
}

/// `aval audit` killed with SIGKILL while appending, then restarted: every event is in its
/// company's chain exactly once, and the chain verifies link by link.
#[tokio::test]
async fn audit_processor_killed_mid_stream_then_restarted() {
    let (gateway, catalogue, _) = ingest_pipeline().await;
    let (company, _) = gateway.register().await;
    let company_id = uuid::Uuid::parse_str(&company).expect("uuid");
    const EVENTS: usize = 3_000;
    let publisher = common::publisher();
    let topic = catalogue.topic(TopicRole::Audit);
    for i in 0..EVENTS {
        let event = aval_core::audit::AuditEvent::new(
            company_id,
            aval_core::audit::AuditKind::BatchAccepted,
            "system:faults",
            chrono::Utc::now(),
        )
        .with_detail("n", i.to_string());
        publisher
            .publish(
                topic,
                &company,
                &aval_topics::records::AuditEventRecord::from(&event),
                &[],
            )
            .await
            .expect("produce");
    }
    let store = common::store().await;
    let stored = async || {
        store
            .audit_events(company_id, &AuditQuery::newest(1))
            .await
            .expect("read")
    };
    let mut audit = start_role("audit", &catalogue, "a");
    let started = Instant::now();
    while stored().await.first().is_none_or(|e| e.seq < 100) {
        assert!(
            started.elapsed() < DEADLINE,
            "nothing appended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    audit.kill("-KILL");
    let at_kill = stored().await.first().map_or(0, |e| e.seq);
    assert!(
        at_kill < EVENTS as i64,
        "every event was appended before the kill; the test proves nothing"
    );
    let mut audit = start_role("audit", &catalogue, "a");
    // The registration's event too.
    let all = EVENTS as i64 + 1;
    let started = Instant::now();
    while stored().await.first().map_or(0, |e| e.seq) < all {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the log never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    audit.kill("-TERM");
    let mut events = store
        .audit_events(company_id, &AuditQuery::newest(all + 10))
        .await
        .expect("read");
    events.reverse();
    assert_eq!(events.len() as i64, all, "every event exactly once");
    let mut previous = aval_core::audit::GENESIS;
    for (i, stored) in events.iter().enumerate() {
        assert_eq!(stored.seq, i as i64 + 1);
        assert_eq!(stored.prev_hash, previous, "link {}", stored.seq);
        assert_eq!(
            stored.hash,
            stored.event.chain_hash(&previous),
            "hash {}",
            stored.seq
        );
        previous = stored.hash;
    }
    eprintln!("audit SIGKILL: {at_kill} of {all} appended at the kill");
    common::delete_topics(&catalogue).await;
}
