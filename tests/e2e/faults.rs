//! Faults against the real stack, each with exact counts: a processor killed and restarted
//! under load, PostgreSQL restarted mid-upload, the schema registry down for 30 s. These stop
//! shared services, so they run alone (`scripts/test` runs `faults::` after everything else,
//! one at a time); the rest of the suite skips them.

use crate::common::{self, DEADLINE, Gateway};
use crate::decisions_support::{Decisions, order, order_json, post_decision};
use crate::ingest_support::{
    Dataset, complete, create_dataset, ingest_processor, stored_rows, upload_all, wait_settled,
};
use aval_topics::admin::TopicAdmin;
use aval_topics::{Catalogue, TopicRole};
use serde_json::json;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
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
fn start_role(role: &str, catalogue: &Catalogue, instance: &str) -> Child {
    let stack = common::stack();
    let prefix = catalogue
        .topic(TopicRole::Ingest)
        .name
        .trim_end_matches("ingest")
        .to_owned();
    Command::new(env!("CARGO_BIN_EXE_aval"))
        .arg(role)
        .env("KAFKA_BOOTSTRAP", &stack.kafka_bootstrap)
        .env("SCHEMA_REGISTRY_URL", &stack.schema_registry_url)
        .env("DATABASE_URL", &stack.database_url)
        .env("AVAL_TOPIC_PREFIX", &prefix)
        .env("AVAL_GROUP_PREFIX", &prefix)
        .env("AVAL_INSTANCE_ID", format!("faults-{instance}"))
        .env(
            "AVAL_JWT_SECRET",
            std::str::from_utf8(common::TEST_SECRET).expect("utf8"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aval")
}

/// The client id of the scorer that owns the partition the requests went to (the only one
/// with records), read from the group's member assignments.
async fn owner_of_requests(catalogue: &Catalogue) -> String {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let topic = &catalogue.topic(TopicRole::DecisionRequests).name;
    let group = format!(
        "{}score",
        catalogue
            .topic(TopicRole::Ingest)
            .name
            .trim_end_matches("ingest")
    );
    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::stack().kafka_bootstrap)
        .create()
        .expect("client");
    let timeout = Duration::from_secs(5);
    let partitions = client
        .fetch_metadata(Some(topic), timeout)
        .expect("metadata")
        .topics()[0]
        .partitions()
        .len();
    let busy: Vec<i32> = (0..i32::try_from(partitions).expect("fits"))
        .filter(|&p| {
            client
                .fetch_watermarks(topic, p, timeout)
                .expect("watermarks")
                .1
                > 0
        })
        .collect();
    assert_eq!(busy.len(), 1, "one company's requests share one partition");
    let groups = client
        .fetch_group_list(Some(&group), timeout)
        .expect("group");
    for member in groups.groups().iter().flat_map(|g| g.members()) {
        if assigned(member.assignment().unwrap_or_default())
            .iter()
            .any(|(t, ps)| t == topic && ps.contains(&busy[0]))
        {
            return member.client_id().to_owned();
        }
    }
    panic!("nobody owns partition {} of {topic}", busy[0]);
}

/// A consumer-protocol assignment: version, then (topic, partitions) pairs.
fn assigned(bytes: &[u8]) -> Vec<(String, Vec<i32>)> {
    let mut at = 2; // the version
    let mut take = |n: usize| {
        let slice = &bytes[at..at + n];
        at += n;
        slice
    };
    let int = |b: &[u8]| i32::from_be_bytes(b.try_into().expect("4 bytes"));
    let topics = int(take(4));
    (0..topics)
        .map(|_| {
            let len = i16::from_be_bytes(take(2).try_into().expect("2 bytes"));
            let name = String::from_utf8(take(len as usize).to_vec()).expect("utf8");
            let count = int(take(4));
            let partitions = (0..count).map(|_| int(take(4))).collect();
            (name, partitions)
        })
        .collect()
}

fn kill(child: &mut Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    child.wait().expect("reap");
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
        // The company's requests share one partition: kill the scorer that owns it.
        if let Some(other) = survivor.as_mut()
            && owner_of_requests(&catalogue).await == "faults-b-score"
        {
            std::mem::swap(&mut scorer, other);
        }
        kill(&mut scorer, "-KILL");
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
        Some(survivor) => kill(survivor, "-TERM"),
        None => kill(&mut scorer, "-TERM"),
    }
    decisions.pipeline.stop().await;
}

/// A pipeline's topics and an in-process gateway, with the ingest processor started by the
/// test when it chooses.
pub async fn ingest_pipeline() -> (Gateway, Arc<Catalogue>) {
    let prefix = format!("faults-{}.", uuid::Uuid::new_v4().simple());
    let catalogue = Arc::new(Catalogue::new(&prefix, 1));
    TopicAdmin::new(&common::stack().kafka_bootstrap, Duration::from_secs(10))
        .expect("admin")
        .apply(&catalogue, &common::codec())
        .await
        .expect("topics");
    let mut state = common::app_state(&common::stack().schema_registry_url).await;
    state.catalogue = catalogue.clone();
    (Gateway::start_with(state).await, catalogue)
}

async fn delete_topics(catalogue: &Catalogue) {
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", common::stack().kafka_bootstrap)
            .create()
            .expect("admin");
    let names: Vec<&str> = catalogue.topics().iter().map(|t| t.name.as_str()).collect();
    admin
        .delete_topics(&names, &rdkafka::admin::AdminOptions::new())
        .await
        .expect("clean up");
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
    let rendered = aval_gateway::telemetry::prometheus().render();
    let series = format!(
        "aval_processor_outages_total{{processor=\"{processor}\",dependency=\"{dependency}\"}}"
    );
    rendered.lines().any(|line| line.starts_with(&series))
}

/// PostgreSQL restarted while the ingest processor stores a dataset: nothing is lost, nothing
/// stored twice, nothing dead-lettered, and the dataset is ready.
#[tokio::test]
async fn database_restarted_mid_upload() {
    let (gateway, catalogue) = ingest_pipeline().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(3_000, 10);
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );

    let stop = CancellationToken::new();
    let prefix = catalogue
        .topic(TopicRole::Ingest)
        .name
        .replace("ingest", "");
    let ingest = ingest_processor(catalogue.clone(), &format!("{prefix}ingest")).await;
    tokio::spawn(ingest.run(stop.clone().cancelled_owned()));
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
    delete_topics(&catalogue).await;
}

/// The schema registry down for 30 s while an ingest processor that never saw the schemas
/// starts: records wait instead of going to the dead letters, and are stored once it is back.
#[tokio::test]
async fn registry_down_for_30_seconds() {
    let (gateway, catalogue) = ingest_pipeline().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(500, 4);
    upload_all(&gateway, &token, &dataset, &data, 250).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );

    stack(&["stop", "registry"]);
    let stop = CancellationToken::new();
    let prefix = catalogue
        .topic(TopicRole::Ingest)
        .name
        .replace("ingest", "");
    let ingest = ingest_processor(catalogue.clone(), &format!("{prefix}ingest")).await;
    tokio::spawn(ingest.run(stop.clone().cancelled_owned()));
    let down_since = Instant::now();
    while !outages_counted("ingest", "schema_registry") {
        assert!(down_since.elapsed() < DEADLINE, "the outage was never seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    delete_topics(&catalogue).await;
}
