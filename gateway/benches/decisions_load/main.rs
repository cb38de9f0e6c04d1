//! The load generator `scripts/bench-decisions` runs (not a criterion bench: `harness = false`).
//! Without a mode it does nothing and exits 0, so `cargo test --all-targets` / `cargo bench`
//! run it harmlessly. Each mode but `echo-serve` prints one `RESULT ...` line on stdout:
//!
//! `http --url URL --token JWT --customers customers.jsonl --rate R|seq --seconds S [--tag T]`
//!   Open loop at R requests/s (see `schedule::open_loop`; latency from each request's due
//!   time), or with `--rate seq` one request at a time for S seconds (latency from its send).
//!   Errors: any non-200 status, a transport error or a timeout.
//!   `RESULT http <rate|seq> <sent> <ok> <errors> <p50_ms> <p95_ms> <p99_ms> <max_ms> <send_lag_max_ms>`
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
//!   codec, `authorization: Bearer` header, keyed `company:customer` — as a company's own
//!   producer would), having first placed a consumer at the end of the decisions topic, and times until
//!   N decisions have come out of it.
//!   `RESULT kafka <n> <decided> <produce_s> <total_s> <decisions_per_s> <reasons_in_sample>`
//!
//! `echo-serve --bootstrap B --registry URL --prefix P --group G`
//!   The floor's echo (see `echo`): creates the echo's topics, then answers until killed.
//!
//! `echo --bootstrap B --registry URL --prefix P --group G --company ID
//!  --customers customers.jsonl --rate R|seq --seconds S`
//!   The `http` mode's schedule against the echo instead of the gateway: the floor.
//!   `RESULT echo <rate|seq> <sent> <ok> <errors> <p50_ms> <p95_ms> <p99_ms> <max_ms> <send_lag_max_ms>`

use aval_topics::connection::{RegistryConnection, SaslLogin, SecurityProtocol};
use aval_topics::records::{DecisionRecord, DecisionRequestRecord, OrderWire};
use aval_topics::{AvroCodec, Catalogue, KafkaConnection, TopicRole};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

mod echo;
mod schedule;

use schedule::{Answer, Error, Run, percentile};

/// The modes; anything else (cargo's own arguments) does nothing.
const MODES: [&str; 5] = ["http", "overload", "kafka", "echo-serve", "echo"];

fn main() -> std::process::ExitCode {
    // cargo bench passes `--bench`; cargo test passes nothing or filters. Only a mode runs.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(mode) = args.first().cloned() else {
        return std::process::ExitCode::SUCCESS;
    };
    if !MODES.contains(&mode.as_str()) {
        return std::process::ExitCode::SUCCESS;
    }
    let options = match parse(&args[1..]) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("decisions_load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = runtime(&mode).and_then(|runtime| {
        runtime.block_on(async {
            match mode.as_str() {
                "http" => http(&options).await,
                "overload" => overload(&options).await,
                "echo-serve" => echo_serve(&options).await,
                "echo" => echo(&options).await,
                _ => kafka(&options).await,
            }
        })
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("decisions_load {mode}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The client modes (HTTP and the echo's client): one thread sends and receives (the schedule
/// has a thread of its own), so the generator takes as little as it can of the two cores the
/// services under test share. The Kafka mode produces and consumes at full speed, and the
/// echo's server stands for the scorer: two workers, as a role has on two cores.
fn runtime(mode: &str) -> Result<tokio::runtime::Runtime, Error> {
    let runtime = if ["http", "overload", "echo"].contains(&mode) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    Ok(runtime?)
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

/// `--rate`: requests per second, or `None` for `seq` (one at a time).
fn rate(options: &HashMap<String, String>) -> Result<Option<u64>, Error> {
    match get(options, "rate")? {
        "seq" => Ok(None),
        _ => Ok(Some(number(options, "rate")?)),
    }
}

/// How many bodies a run needs: one a request; one at a time, as many as the fastest round
/// trip could use (5,000/s).
fn request_count(rate: Option<u64>, seconds: u64) -> u64 {
    rate.unwrap_or(5_000) * seconds
}

/// Runs `send` over `bodies` at `rate`, or one at a time.
async fn drive<T, F, Fut>(
    rate: Option<u64>,
    seconds: u64,
    bodies: Vec<T>,
    send: F,
) -> Result<Run, Error>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Answer> + Send + 'static,
{
    match rate {
        Some(rate) => schedule::open_loop(rate, bodies, send).await,
        None => Ok(schedule::sequential(seconds, bodies, send).await),
    }
}

/// The `RESULT <mode> <rate|seq> <sent> <ok> <errors> <p50> <p95> <p99> <max> <lag>` line.
fn print_latencies(mode: &str, run: &Run) {
    let total = run.samples.len();
    let errors = run.errors();
    let latencies = run.latencies();
    println!(
        "RESULT {mode} {} {total} {} {errors} {:.2} {:.2} {:.2} {:.2} {:.2}",
        run.rate_label(),
        total - errors,
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
        run.send_lag_max_ms,
    );
}

async fn http(options: &HashMap<String, String>) -> Result<(), Error> {
    let run = http_run(options).await?;
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
    print_latencies("http", &run);
    Ok(())
}

async fn overload(options: &HashMap<String, String>) -> Result<(), Error> {
    let run = http_run(options).await?;
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
        run.rate_label(),
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

/// `POST /v1/decisions` at `--rate` (or one at a time) for `--seconds`.
async fn http_run(options: &HashMap<String, String>) -> Result<Run, Error> {
    let url = format!(
        "{}/v1/decisions",
        get(options, "url")?.trim_end_matches('/')
    );
    let authorization = format!("Bearer {}", get(options, "token")?);
    let customers = customers(get(options, "customers")?)?;
    let rate = rate(options)?;
    let seconds: u64 = number(options, "seconds")?;
    let tag = options
        .get("tag")
        .cloned()
        .unwrap_or_else(|| "r".to_owned());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .build()?;
    // Bodies built before the clock starts, so the schedule pays only for sending.
    let label = rate.map_or_else(|| "seq".to_owned(), |r| r.to_string());
    let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ rate.unwrap_or(1));
    let issued = (chrono::Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let bodies: Vec<Vec<u8>> = (0..request_count(rate, seconds))
        .map(|i| {
            let o = order(&mut random, &customers, format!("{tag}-{label}-{i}"), 0);
            serde_json::to_vec(&serde_json::json!({"order": {
                "id": o.id, "customer_id": o.customer_id, "issued_at": issued,
                "amount": aval_core::ingest::Cents(o.amount_cents).to_string(),
                "payment_term_days": o.payment_term_days, "installments": o.installments,
            }}))
            .unwrap_or_default()
        })
        .collect();
    let send = |body: Vec<u8>| {
        let request = client
            .post(&url)
            .header("authorization", &authorization)
            .header("content-type", "application/json")
            .body(body);
        async move {
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // The whole body, as a client would read it.
                    match response.bytes().await {
                        Ok(body) => (Some(status), Some(body)),
                        Err(_) => (None, None),
                    }
                }
                Err(_) => (None, None),
            }
        }
    };
    drive(rate, seconds, bodies, send).await
}

async fn echo_serve(options: &HashMap<String, String>) -> Result<(), Error> {
    let kafka = connection(get(options, "bootstrap")?)?;
    echo::serve(
        &kafka,
        get(options, "registry")?,
        get(options, "prefix")?,
        get(options, "group")?,
    )
    .await
}

/// The floor: the `http` mode's schedule, each request a bare Kafka round trip to the echo.
async fn echo(options: &HashMap<String, String>) -> Result<(), Error> {
    let kafka = connection(get(options, "bootstrap")?)?;
    let client = echo::Client::start(
        &kafka,
        get(options, "registry")?,
        get(options, "prefix")?,
        get(options, "group")?,
    )
    .await?;
    let company = get(options, "company")?;
    let customers = customers(get(options, "customers")?)?;
    let rate = rate(options)?;
    let seconds: u64 = number(options, "seconds")?;
    // About the size of a decision request's record.
    let body = [b'x'; 200];
    let mut random = Random(0x5851_F42D_4C95_7F2D ^ rate.unwrap_or(1));
    let requests: Vec<echo::Request> = (0..request_count(rate, seconds))
        .map(|id| {
            let customer =
                &customers[usize::try_from(random.below(customers.len() as u64)).unwrap_or(0)];
            echo::Request::new(id, company, customer, &body)
        })
        .collect();
    let run = drive(rate, seconds, requests, |request| {
        client.clone().call(request)
    })
    .await?;
    print_latencies("echo", &run);
    Ok(())
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
        // Keyed by company and customer, as the gateway keys a decision request: one
        // company's requests spread over every partition, so over every scorer.
        let key = aval_topics::keys::spread_key(&company, &record.order.customer_id);
        payloads.push((key, codec.encode(requests, &record).await?));
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
    for (key, payload) in &payloads {
        let record = FutureRecord::to(&requests.name)
            .key(key.as_bytes())
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
