//! The scale test: every role as processes of its own, several of most, as a deployment
//! spreads them over machines (2 gateways, 3 scorers, 2 ingest processors, 2 trainers, 1
//! audit processor). One company uploads through both gateways, its batches spread over both
//! ingest processors, while one of them is killed and started again, then decides under load through both gateways while a scorer is
//! killed and started again. Every scorer and both gateways serve a share, every request is
//! answered, every item is stored once, and every decision is recorded and audited once.
//!
//! It kills processes and runs ten of them, so it runs with the fault tests, alone
//! (`scripts/test` runs `scale::` after everything else).

use crate::common::{self, DEADLINE, Gateway};
use crate::decisions_support::{order, order_json, post_decision};
use crate::ingest_support::{complete, create_dataset, post_batch, stored_rows};
use crate::processes::{Process, free_address};
use crate::training::{learnable, wait_trained};
use aval_topics::Catalogue;
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const GATEWAYS: usize = 2;
const SCORERS: usize = 3;
const INGESTERS: usize = 2;
const TRAINERS: usize = 2;

/// Longer than the processors' consumer session timeout (6 s), so a request waiting on a
/// killed scorer's partition is answered by the partition's next owner instead of timing out.
const DECISION_TIMEOUT_MS: u64 = 20_000;

/// Decisions asked under load, and how many are in flight at a time.
const DECISIONS: usize = 900;
const CONCURRENCY: usize = 12;

/// One process of a role, with the address it serves `/readyz` and `/metrics` on.
struct Member {
    role: &'static str,
    instance: String,
    address: String,
    process: Process,
}

/// The cluster's processes on topics of their own.
struct Cluster {
    catalogue: Arc<Catalogue>,
    logs: PathBuf,
    gateways: Vec<Member>,
    processors: Vec<Member>,
}

impl Cluster {
    async fn start() -> Self {
        let catalogue = common::own_catalogue("scale").await;
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(catalogue.prefix());
        std::fs::create_dir_all(&logs).expect("log directory");
        eprintln!("scale: processes' logs in {}", logs.display());
        let mut cluster = Self {
            catalogue,
            logs,
            gateways: Vec::new(),
            processors: Vec::new(),
        };
        for i in 1..=GATEWAYS {
            let member = cluster.start_member("gateway", i);
            cluster.gateways.push(member);
        }
        for (role, count) in [
            ("score", SCORERS),
            ("ingest", INGESTERS),
            ("train", TRAINERS),
            ("audit", 1),
        ] {
            for i in 1..=count {
                let member = cluster.start_member(role, i);
                cluster.processors.push(member);
            }
        }
        let members: Vec<_> = cluster
            .gateways
            .iter_mut()
            .chain(cluster.processors.iter_mut())
            .collect();
        for member in members {
            member.wait_ready().await;
        }
        cluster
    }

    fn start_member(&self, role: &'static str, index: usize) -> Member {
        let instance = format!("scale-{role}-{index}");
        let address = free_address();
        let listen = if role == "gateway" {
            "AVAL_HTTP_ADDR"
        } else {
            "AVAL_HEALTH_ADDR"
        };
        let settings = [
            (listen, address.clone()),
            ("AVAL_DECISION_TIMEOUT_MS", DECISION_TIMEOUT_MS.to_string()),
            ("RUST_LOG", "info".to_owned()),
        ];
        let log = self.logs.join(format!("{instance}.log"));
        Member {
            role,
            process: Process::start(role, &self.catalogue, &instance, &settings, Some(log)),
            instance,
            address: format!("http://{address}"),
        }
    }

    fn member(&mut self, role: &str, index: usize) -> &mut Member {
        let instance = format!("scale-{role}-{index}");
        self.processors
            .iter_mut()
            .find(|m| m.instance == instance)
            .expect("member")
    }

    /// Kills one member with SIGKILL, as a crash would.
    fn kill(&mut self, role: &str, index: usize) {
        self.member(role, index).process.kill("-KILL");
    }

    /// Starts a killed member again under the same instance id, and waits until it is ready.
    async fn restart(&mut self, role: &'static str, index: usize) {
        let started = self.start_member(role, index);
        let member = self.member(role, index);
        *member = started;
        member.wait_ready().await;
    }

    fn gateway(&self, i: usize) -> Gateway {
        Gateway {
            base: self.gateways[i % GATEWAYS].address.clone(),
            http: reqwest::Client::new(),
        }
    }

    async fn stop(mut self) {
        for member in self.gateways.iter_mut().chain(self.processors.iter_mut()) {
            member.process.kill("-TERM");
        }
        common::delete_topics(&self.catalogue).await;
    }
}

impl Member {
    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(exit) = self.process.exited() {
                panic!("{} exited at start: {exit}", self.instance);
            }
            let ready = http
                .get(format!("{}/readyz", self.address))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{} ({}) not ready",
                self.instance,
                self.role
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The sum of a counter's series in the member's `/metrics` whose labels contain every
    /// one of `labels`.
    async fn counter(&self, name: &str, labels: &[&str]) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.address))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
                    && labels.iter().all(|l| line.contains(l))
            })
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    }
}

/// The items an ingest processor stored, as its `/metrics` counts them.
async fn stored_items(member: &Member) -> f64 {
    member.counter("aval_ingest_items_stored_total", &[]).await
}

/// The decisions a scorer made, as its `/metrics` counts them.
async fn decided(member: &Member) -> f64 {
    member.counter("aval_decisions_total", &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_company_across_every_instance_of_every_role() {
    let mut cluster = Cluster::start().await;
    let (company, token) = cluster.gateway(0).register().await;

    // The upload, batch by batch through both gateways; an ingest processor killed after a
    // third of the batches and started again after two thirds.
    let dataset = create_dataset(&cluster.gateway(0), &token).await;
    let data = learnable(400, 6);
    let batches: Vec<(&str, &[Value])> = data
        .kinds()
        .into_iter()
        .flat_map(|(segment, items)| items.chunks(60).map(move |chunk| (segment, chunk)))
        .collect();
    let mut stored_before_kill = 0.0;
    for (i, (segment, items)) in batches.iter().enumerate() {
        if i == batches.len() / 3 {
            stored_before_kill = stored_items(cluster.member("ingest", 1)).await;
            cluster.kill("ingest", 1);
        }
        if i == 2 * batches.len() / 3 {
            cluster.restart("ingest", 1).await;
        }
        let key = format!("batch-{i}");
        let (status, body) = post_batch(
            &cluster.gateway(i),
            &token,
            &dataset,
            segment,
            items,
            Some(&key),
        )
        .await;
        assert_eq!(status, 202, "batch {i}: {body}");
    }
    let (status, body) = complete(&cluster.gateway(1), &token, &dataset, &data.counts()).await;
    assert_eq!(status, 202, "{body}");
    let trained = wait_trained(&cluster.gateway(0), &token, &dataset).await;
    assert_eq!(trained["status"], "trained", "{trained}");
    let counts = data.counts();
    assert_eq!(
        stored_rows(&dataset).await,
        ["customers", "orders", "credit_limits", "bureau_reports"]
            .map(|kind| counts[kind].as_i64().expect("count")),
        "every item stored once"
    );
    // The upload's batches are spread: each ingest processor stored some of them.
    let mut ingest_shares = Vec::new();
    for i in 1..=INGESTERS {
        let mut stored = stored_items(cluster.member("ingest", i)).await;
        if i == 1 {
            stored += stored_before_kill;
        }
        ingest_shares.push(stored);
    }
    eprintln!("scale: items stored per ingest processor {ingest_shares:?}");
    assert!(
        ingest_shares.iter().all(|&stored| stored > 0.0),
        "{ingest_shares:?}"
    );

    // Decisions under load through both gateways; a scorer killed after a third of them and
    // started again after two thirds.
    let orders: Vec<_> = (0..DECISIONS)
        .map(|i| order(&format!("S-{i}"), &format!("C{:05}", i % 400), 150_000))
        .collect();
    let answered = AtomicUsize::new(0);
    let gateways: Vec<Gateway> = (0..GATEWAYS).map(|i| cluster.gateway(i)).collect();
    let ask = async |(i, order): (usize, serde_json::Value)| {
        let answer = post_decision(
            &gateways[i % GATEWAYS],
            &token,
            "/v1/decisions",
            serde_json::json!({"order": order}),
            "en",
        )
        .await;
        answered.fetch_add(1, Ordering::SeqCst);
        answer
    };
    let load = futures::stream::iter(orders.iter().map(order_json).enumerate())
        .map(ask)
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>();
    let fault = async {
        wait_for(&answered, DECISIONS / 3).await;
        let before_kill = decided(cluster.member("score", 1)).await;
        cluster.kill("score", 1);
        wait_for(&answered, 2 * DECISIONS / 3).await;
        cluster.restart("score", 1).await;
        before_kill
    };
    let (answers, killed_scorer_before) = tokio::join!(load, fault);

    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for (order, (status, body)) in orders.iter().zip(&answers) {
        *statuses.entry(*status).or_default() += 1;
        match status {
            200 => assert_eq!(body["order_id"], order.id.as_str(), "{body}"),
            // Only a request waiting at the kill may time out; asked again, it is answered.
            504 => {
                let (again, body) = ask((0, order_json(order))).await;
                assert_eq!(again, 200, "{body}");
            }
            other => panic!("{other} for {}: {body}", order.id),
        }
    }
    eprintln!("scale: statuses {statuses:?}");
    assert!(
        statuses.get(&504).copied().unwrap_or(0) <= CONCURRENCY,
        "only requests in flight at the kill may time out: {statuses:?}"
    );

    // Shares: each scorer and each gateway at least a fifth of its fair share.
    let mut scorer_shares = Vec::new();
    for i in 1..=SCORERS {
        let mut count = decided(cluster.member("score", i)).await;
        if i == 1 {
            count += killed_scorer_before;
        }
        scorer_shares.push(count);
    }
    let mut gateway_shares = Vec::new();
    for member in &cluster.gateways {
        gateway_shares.push(
            member
                .counter(
                    "aval_http_requests_total",
                    &["route=\"/v1/decisions\"", "status=\"200\""],
                )
                .await,
        );
    }
    eprintln!("scale: decisions per scorer {scorer_shares:?}, per gateway {gateway_shares:?}");
    let total: f64 = scorer_shares.iter().sum();
    assert!(total >= DECISIONS as f64, "{scorer_shares:?}");
    for (i, share) in scorer_shares.iter().enumerate() {
        assert!(
            *share >= 0.2 * total / SCORERS as f64,
            "scorer {} served {share} of {total}",
            i + 1
        );
    }
    let total: f64 = gateway_shares.iter().sum();
    for (i, share) in gateway_shares.iter().enumerate() {
        assert!(
            *share >= 0.2 * total / GATEWAYS as f64,
            "gateway {} served {share} of {total}",
            i + 1
        );
    }

    // Every decision recorded once, and audited once as made (repeats apart).
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let (rows, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT order_id) FROM decisions WHERE company_id = $1::uuid",
    )
    .bind(&company)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!((rows, distinct), (DECISIONS as i64, DECISIONS as i64));
    let started = Instant::now();
    loop {
        let (events, orders): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT details->>'order_id') FROM audit_events \
             WHERE company_id = $1::uuid AND kind IN ('decision.approved', 'decision.rejected')",
        )
        .bind(&company)
        .fetch_one(&pool)
        .await
        .expect("audit count");
        if events >= DECISIONS as i64 {
            assert_eq!((events, orders), (DECISIONS as i64, DECISIONS as i64));
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{events} of {DECISIONS} decisions audited"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.stop().await;
}

async fn wait_for(answered: &AtomicUsize, count: usize) {
    let started = Instant::now();
    while answered.load(Ordering::SeqCst) < count {
        assert!(started.elapsed() < DEADLINE, "{count} answers never came");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
