//! The load generator `scripts/bench-decisions` runs (not a criterion bench: `harness = false`).
//! Without a mode it does nothing and exits 0, so `cargo test --all-targets` / `cargo bench`
//! run it harmlessly. Two modes, each printing one `RESULT ...` line on stdout:
//!
//! `http --url URL --token JWT --customers customers.jsonl --rate R --seconds S [--tag T]`
//!   Open loop: request i is due at start + i/R whatever happened to the earlier ones, and its
//!   latency is measured from that due time (not from when it was actually sent), so a stalled
//!   server or generator shows up as latency instead of silently lowering the rate
//!   (no coordinated omission). Errors: any non-200 status, a transport error or a timeout.
//!   `RESULT http <rate> <sent> <ok> <errors> <p50_ms> <p95_ms> <p99_ms> <max_ms> <send_lag_max_ms>`
//!   With `AVAL_LOAD_TRACE=FILE`, also one line per request in FILE: its scheduled offset (ms),
//!   latency (µs), whether it succeeded, and the decision's `timings_us`.
//!
//! `overload --url URL --token JWT --customers customers.jsonl --rate R --seconds S [--tag T]`
//!   The same open loop, at a rate above what the machine sustains, counting the answers
//!   apart: admitted (200), shed (503 at once, the gateway's in-flight limits), timed out
//!   (504: queued past the decision deadline) and any other failure.
//!   `RESULT overload <rate> <sent> <ok> <shed_503> <timeouts_504> <other_errors> <ok_p50_ms>
//!    <ok_p99_ms> <shed_p50_ms> <shed_p99_ms> <shed_max_ms> <send_lag_max_ms>`
//!
//! `kafka --bootstrap B --registry URL --prefix P --company ID --token JWT
//!  --customers customers.jsonl --count N [--timeout-secs S]`
//!   Produces N decision requests straight to the decision-requests topic (Avro through the
//!   codec, `authorization: Bearer` header, keyed by company — as a company's own producer
//!   would), having first placed a consumer at the end of the decisions topic, and times until
//!   N decisions have come out of it.
//!   `RESULT kafka <n> <decided> <produce_s> <total_s> <decisions_per_s> <reasons_in_sample>`

use aval_topics::connection::{RegistryConnection, SaslLogin, SecurityProtocol};
use aval_topics::records::{DecisionRecord, DecisionRequestRecord, OrderWire};
use aval_topics::{AvroCodec, Catalogue, KafkaConnection, TopicRole};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> std::process::ExitCode {
    // cargo bench passes `--bench`; cargo test passes nothing or filters. Only a mode runs.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(mode) = args.first().cloned() else {
        return std::process::ExitCode::SUCCESS;
    };
    if !["http", "overload", "kafka"].contains(&mode.as_str()) {
        return std::process::ExitCode::SUCCESS;
    }
    let options = match parse(&args[1..]) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("decisions_load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // HTTP mode: one thread sends and receives (the schedule has a thread of its own), so the
    // generator takes as little as it can of the two cores the services under test share.
    // Kafka mode produces and consumes at full speed: two workers.
    let runtime = if mode != "kafka" {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("decisions_load: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match mode.as_str() {
            "http" => http(&options).await,
            "overload" => overload(&options).await,
            _ => kafka(&options).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("decisions_load {mode}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<HashMap<String, String>, Error> {
    let mut options = HashMap::new();
    let mut it = args.iter();
    while let Some(name) = it.next() {
        let key = name
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {name}"))?;
        let value = it.next().ok_or_else(|| format!("{name} needs a value"))?;
        options.insert(key.to_owned(), value.clone());
    }
    Ok(options)
}

fn get<'a>(options: &'a HashMap<String, String>, key: &str) -> Result<&'a str, Error> {
    options
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("--{key} is required").into())
}

fn number<T: std::str::FromStr>(options: &HashMap<String, String>, key: &str) -> Result<T, Error> {
    get(options, key)?
        .parse()
        .map_err(|_| format!("--{key} must be a number").into())
}

/// The customer ids of a synth `customers.jsonl`.
fn customers(path: &str) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(path)?;
    let ids: Vec<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
        .collect();
    if ids.is_empty() {
        return Err(format!("no customer ids in {path}").into());
    }
    Ok(ids)
}

/// A small deterministic generator (xorshift64*): no extra dependency for picking customers
/// and amounts.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// An order of a random existing customer, 100.00 to 5,000.00.
fn order(random: &mut Random, customers: &[String], id: String, issued_at: i64) -> OrderWire {
    let index = usize::try_from(random.below(customers.len() as u64)).unwrap_or(0);
    OrderWire {
        id,
        customer_id: customers[index].clone(),
        issued_at,
        amount_cents: 10_000 + i64::try_from(random.below(490_000)).unwrap_or(0),
        payment_term_days: Some(30),
        installments: Some(1),
        attributes: HashMap::new(),
        outcome: None,
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// One request of the open loop: its HTTP status (`None`: no answer), its latency from the due
/// time, and the body.
struct Sample {
    status: Option<u16>,
    micros: u64,
    body: Option<axum::body::Bytes>,
}

/// The open loop's answers, in schedule order, and the generator's own largest lag.
struct Run {
    rate: u64,
    interval: Duration,
    samples: Vec<Sample>,
    send_lag_max_ms: f64,
}

async fn http(options: &HashMap<String, String>) -> Result<(), Error> {
    let run = open_loop(options).await?;
    // AVAL_LOAD_TRACE=FILE: one line per request (scheduled offset ms, latency µs, the
    // decision's timings), to see where and when the slow ones spend their time.
    if let Some(path) = std::env::var_os("AVAL_LOAD_TRACE").filter(|p| !p.is_empty()) {
        let mut trace = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (i, sample) in run.samples.iter().enumerate() {
            let timings = sample
                .body
                .as_ref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v.get("timings_us").cloned())
                .unwrap_or_default();
            let offset_ms = run.interval.as_secs_f64() * 1000.0 * i as f64;
            let ok = sample.status == Some(200);
            writeln!(trace, "{offset_ms:.1} {} {ok} {timings}", sample.micros)?;
        }
        trace.flush()?;
    }
    let total = run.samples.len() as u64;
    let errors = run.samples.iter().filter(|s| s.status != Some(200)).count() as u64;
    let mut latencies: Vec<u64> = run.samples.iter().map(|s| s.micros).collect();
    latencies.sort_unstable();
    println!(
        "RESULT http {} {total} {} {errors} {:.2} {:.2} {:.2} {:.2} {:.2}",
        run.rate,
        total - errors,
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
        run.send_lag_max_ms,
    );
    Ok(())
}

async fn overload(options: &HashMap<String, String>) -> Result<(), Error> {
    let run = open_loop(options).await?;
    let latencies = |status: Option<u16>| {
        let mut micros: Vec<u64> = run
            .samples
            .iter()
            .filter(|s| s.status == status)
            .map(|s| s.micros)
            .collect();
        micros.sort_unstable();
        micros
    };
    let admitted = latencies(Some(200));
    let shed = latencies(Some(503));
    let timeouts = latencies(Some(504)).len();
    let total = run.samples.len();
    let other = total - admitted.len() - shed.len() - timeouts;
    println!(
        "RESULT overload {} {total} {} {} {timeouts} {other} {:.2} {:.2} {:.2} {:.2} {:.2} {:.2}",
        run.rate,
        admitted.len(),
        shed.len(),
        percentile(&admitted, 50.0),
        percentile(&admitted, 99.0),
        percentile(&shed, 50.0),
        percentile(&shed, 99.0),
        percentile(&shed, 100.0),
        run.send_lag_max_ms,
    );
    Ok(())
}

async fn open_loop(options: &HashMap<String, String>) -> Result<Run, Error> {
    let url = format!(
        "{}/v1/decisions",
        get(options, "url")?.trim_end_matches('/')
    );
    let authorization = format!("Bearer {}", get(options, "token")?);
    let customers = customers(get(options, "customers")?)?;
    let rate: u64 = number(options, "rate")?;
    let seconds: u64 = number(options, "seconds")?;
    let tag = options
        .get("tag")
        .cloned()
        .unwrap_or_else(|| "r".to_owned());
    let total = rate * seconds;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .build()?;
    // Bodies built before the clock starts, so the schedule pays only for sending.
    let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ rate);
    let issued = (chrono::Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let bodies: Vec<Vec<u8>> = (0..total)
        .map(|i| {
            let o = order(&mut random, &customers, format!("{tag}-{rate}-{i}"), 0);
            serde_json::to_vec(&serde_json::json!({"order": {
                "id": o.id, "customer_id": o.customer_id, "issued_at": issued,
                "amount": aval_core::ingest::Cents(o.amount_cents).to_string(),
                "payment_term_days": o.payment_term_days, "installments": o.installments,
            }}))
            .unwrap_or_default()
        })
        .collect();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let send_lag_max = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(50);
    // The schedule keeps its own thread: the runtime's timer ticks in whole milliseconds, so
    // waking there would send each request up to a millisecond late and count that as the
    // server's latency. A thread's sleep wakes within tens of microseconds of the due time.
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel();
    let schedule = {
        let send_lag_max = send_lag_max.clone();
        std::thread::spawn(move || {
            for (i, body) in bodies.into_iter().enumerate() {
                let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let lag = due.elapsed().as_micros() as u64;
                send_lag_max.fetch_max(lag, Ordering::Relaxed);
                if due_tx.send((due, body)).is_err() {
                    return;
                }
            }
        })
    };
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    while let Some((due, body)) = due_rx.recv().await {
        let request = client
            .post(&url)
            .header("authorization", &authorization)
            .header("content-type", "application/json")
            .body(body);
        tasks.push(tokio::spawn(async move {
            let (status, body) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // The whole body, as a client would read it.
                    match response.bytes().await {
                        Ok(body) => (Some(status), Some(body)),
                        Err(_) => (None, None),
                    }
                }
                Err(_) => (None, None),
            };
            Sample {
                status,
                micros: due.elapsed().as_micros() as u64,
                body,
            }
        }));
    }
    schedule
        .join()
        .map_err(|_| "the request schedule's thread panicked")?;
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        samples.push(task.await?);
    }
    Ok(Run {
        rate,
        interval,
        samples,
        send_lag_max_ms: send_lag_max.load(Ordering::Relaxed) as f64 / 1000.0,
    })
}

/// The cluster as aval's roles reach it, with the security settings of the same environment
/// variables (`scripts/bench-decisions --secure` exports the secured listener's).
fn connection(bootstrap: &str) -> Result<KafkaConnection, Error> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    let protocol: SecurityProtocol = var("KAFKA_SECURITY_PROTOCOL")
        .as_deref()
        .unwrap_or("PLAINTEXT")
        .parse()?;
    let login = match (
        var("KAFKA_SASL_MECHANISM"),
        var("KAFKA_SASL_USERNAME"),
        var("KAFKA_SASL_PASSWORD"),
    ) {
        (Some(mechanism), Some(user), Some(password)) => {
            Some(SaslLogin::new(mechanism.parse()?, user, password))
        }
        _ => None,
    };
    let ca = var("KAFKA_SSL_CA_LOCATION");
    Ok(KafkaConnection::new(
        bootstrap,
        protocol,
        login,
        ca,
        vec![],
    )?)
}

async fn kafka(options: &HashMap<String, String>) -> Result<(), Error> {
    let kafka = connection(get(options, "bootstrap")?)?;
    let registry = RegistryConnection::open(get(options, "registry")?);
    let codec = AvroCodec::new(&registry, Duration::from_secs(10))?;
    let catalogue = Catalogue::new(get(options, "prefix")?, 1);
    let company = get(options, "company")?.to_owned();
    let authorization = format!("Bearer {}", get(options, "token")?);
    let customers = customers(get(options, "customers")?)?;
    let count: usize = number(options, "count")?;
    let timeout = Duration::from_secs(
        options
            .get("timeout-secs")
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    );
    let requests = catalogue.topic(TopicRole::DecisionRequests);
    let decisions = catalogue.topic(TopicRole::Decisions).name.clone();

    // Encoded before the clock starts: this measures the scorer, not the producer's codec.
    let mut random = Random(0xD1B5_4A32_D192_ED03);
    let issued_at = chrono::Utc::now().timestamp_millis() - 60_000;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut payloads = Vec::with_capacity(count);
    for i in 0..count {
        let record = DecisionRequestRecord {
            request_id: format!("k{}-{i}", &run[..8]),
            company_id: company.clone(),
            order: order(
                &mut random,
                &customers,
                format!("k{}-{i}", &run[..8]),
                issued_at,
            ),
            customer: None,
            credit_limit: None,
            bureau_report: None,
            model_version: None,
            language: "en".to_owned(),
            requested_at: chrono::Utc::now().timestamp_millis(),
        };
        payloads.push(codec.encode(requests, &record).await?);
    }

    // At the end of every decisions partition before the first request goes out.
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", format!("bench-decisions-{run}"))
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&decisions), Duration::from_secs(10))?;
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (_, high) =
            consumer.fetch_watermarks(&decisions, partition.id(), Duration::from_secs(10))?;
        list.add_partition_offset(&decisions, partition.id(), Offset::Offset(high))?;
    }
    consumer.assign(&list)?;

    let producer: FutureProducer = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097152")
        .create()?;

    let started = Instant::now();
    let counting = tokio::spawn(async move {
        let mut decided = 0usize;
        let mut reasons = None;
        // Where the scorer's time goes: its own per-phase timings, averaged over a sample.
        let mut phases: std::collections::BTreeMap<String, (i64, u64)> = Default::default();
        let (mut sampled, mut rejected) = (0u64, 0u64);
        let mut last_report = Instant::now();
        while decided < count && started.elapsed() < timeout {
            let Ok(Ok(message)) =
                tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
            else {
                continue;
            };
            decided += 1;
            if decided % 10 == 1
                && let Some(payload) = message.payload()
                && let Ok(decision) = codec.decode::<DecisionRecord>(payload).await
            {
                reasons.get_or_insert(decision.reasons.len());
                sampled += 1;
                rejected += u64::from(decision.max_approvable_amount_cents.is_some());
                for (phase, us) in decision.timings_us {
                    let entry = phases.entry(phase).or_default();
                    entry.0 += us;
                    entry.1 += 1;
                }
            }
            if last_report.elapsed() >= Duration::from_secs(5) {
                eprintln!(
                    "[bench]   {decided} decisions after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
            }
        }
        let timings: Vec<String> = phases
            .iter()
            .map(|(phase, (sum, n))| format!("{phase}={:.0}", *sum as f64 / *n as f64))
            .collect();
        println!(
            "TIMINGS kafka sampled={sampled} with_max_amount={rejected} mean_us {}",
            timings.join(" ")
        );
        (decided, started.elapsed(), reasons.unwrap_or(0))
    });
    let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
        key: "authorization",
        value: Some(authorization.as_bytes()),
    });
    let mut deliveries = Vec::with_capacity(count);
    for payload in &payloads {
        let record = FutureRecord::to(&requests.name)
            .key(company.as_bytes())
            .payload(payload)
            .headers(headers.clone());
        match producer.send_result(record) {
            Ok(delivery) => deliveries.push(delivery),
            Err((e, _)) => return Err(format!("cannot queue a request: {e}").into()),
        }
    }
    for delivery in deliveries {
        delivery
            .await
            .map_err(|_| "a delivery was cancelled")?
            .map_err(|(e, _)| format!("a request was not delivered: {e}"))?;
    }
    let produced = started.elapsed();
    let (decided, elapsed, reasons) = counting.await?;
    println!(
        "RESULT kafka {count} {decided} {:.2} {:.2} {:.0} {reasons}",
        produced.as_secs_f64(),
        elapsed.as_secs_f64(),
        decided as f64 / elapsed.as_secs_f64(),
    );
    Ok(())
}
