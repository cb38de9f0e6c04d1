//! All of aval's configuration, in one place: every setting is a flag with an environment
//! variable and a documented default (`aval --help`, and the README's table). Every numeric
//! setting has a documented range, checked as it is parsed: a value out of range, or not a
//! number, stops `aval` at start with a message naming the variable, the value and the range.

use aval_topics::connection::{
    self, KafkaConnection, RegistryConnection, SaslLogin, SaslMechanism, SecurityProtocol,
};
use clap::{Args, ValueEnum};
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use aval_core::token::MIN_SECRET_BYTES;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings every role shares: where the services are and how topics are named.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// development or production; production refuses what only a test deployment should do
    /// (`topics delete`).
    #[arg(
        long,
        env = "AVAL_ENV",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub environment: Environment,
    /// Kafka bootstrap servers, comma-separated.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub kafka_bootstrap: String,
    /// How Kafka clients connect: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (what managed
    /// clusters require). Any other librdkafka property passes through as
    /// `AVAL_KAFKA_<PROPERTY>`, dots written as underscores (`AVAL_KAFKA_CLIENT_RACK=use1-az1`).
    #[arg(
        long,
        env = "KAFKA_SECURITY_PROTOCOL",
        default_value = "PLAINTEXT",
        global = true
    )]
    pub kafka_security_protocol: SecurityProtocol,
    /// SASL mechanism with a SASL protocol: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.
    #[arg(long, env = "KAFKA_SASL_MECHANISM", global = true)]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,
    /// aval's SASL principal (its service user).
    #[arg(long, env = "KAFKA_SASL_USERNAME", global = true)]
    pub kafka_sasl_username: Option<String>,
    /// Its password.
    #[arg(
        long,
        env = "KAFKA_SASL_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub kafka_sasl_password: Option<Secret>,
    /// PEM file of the CA that signed the brokers' certificates; unset: the system's roots.
    #[arg(long, env = "KAFKA_SSL_CA_LOCATION", global = true)]
    pub kafka_ssl_ca_location: Option<String>,
    /// aval's own Kafka principal, which `aval topics apply` gives the ACLs every role needs
    /// on the topic and group prefixes (`User:aval`). Unset: `User:` and KAFKA_SASL_USERNAME
    /// under a SASL protocol, else none (no ACLs applied). Set it when `topics apply` runs as
    /// an administrator rather than as aval.
    #[arg(long, env = "AVAL_SERVICE_PRINCIPAL", global = true)]
    pub service_principal: Option<String>,
    /// Confluent-compatible schema registry base URL (http:// or https://).
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7",
        global = true
    )]
    pub schema_registry_url: String,
    /// The registry's basic-auth login as `USER:PASSWORD` (Confluent Cloud: API key and
    /// secret). Unset: no login.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        hide_env_values = true,
        global = true
    )]
    pub schema_registry_basic_auth_user_info: Option<Secret>,
    /// PEM file of the CA that signed the registry's certificate; unset: the system's roots.
    #[arg(long, env = "SCHEMA_REGISTRY_SSL_CA_LOCATION", global = true)]
    pub schema_registry_ssl_ca_location: Option<String>,
    /// PostgreSQL connection URL. TLS through its `sslmode` (`require`, `verify-ca`,
    /// `verify-full`) and `sslrootcert` parameters.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://aval:aval@127.0.0.1:5432/aval",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Secret,
    /// Largest number of database connections this process opens: 2 to 1000 (at least 2:
    /// the scorer keeps one for recording decisions; PostgreSQL's default limit is 100 for all
    /// processes together).
    #[arg(
        long,
        env = "AVAL_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        value_parser = in_range("AVAL_DB_MAX_CONNECTIONS", 2_u32, 1000),
        global = true
    )]
    pub db_max_connections: u32,
    /// Prefix of every topic name, so deployments can share a cluster.
    #[arg(
        long,
        env = "AVAL_TOPIC_PREFIX",
        default_value = "aval.",
        global = true
    )]
    pub topic_prefix: String,
    /// Replication factor of the topics `aval topics apply` creates: 1 to 16.
    #[arg(
        long,
        env = "AVAL_REPLICATION_FACTOR",
        default_value_t = 1,
        value_parser = in_range("AVAL_REPLICATION_FACTOR", 1_i32, 16),
        global = true
    )]
    pub replication_factor: i32,
    /// Prefix of the Kafka consumer group of each processor (`<prefix>audit`, ...).
    #[arg(
        long,
        env = "AVAL_GROUP_PREFIX",
        default_value = "aval-",
        global = true
    )]
    pub group_prefix: String,
    /// Log lines as text (for people) or JSON (for collectors). Level: RUST_LOG (default info).
    #[arg(
        long,
        env = "AVAL_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// HMAC-SHA256 secret (at least 32 bytes) that signs company tokens; the gateway and every
    /// processor that takes records straight from Kafka verify with it (and with the keys in
    /// the database, so tokens signed before it was set keep working). Unset: the keys in the
    /// database's `jwt_keys` table, a random one generated at the first start, rotated with
    /// `aval admin rotate-jwt-key`.
    #[arg(long, env = "AVAL_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<Secret>,
    /// How long a company token stays valid, in days: 1 to 3650 (a longer life is a token
    /// that is never rotated; a huge one would overflow the expiry date).
    #[arg(
        long,
        env = "AVAL_TOKEN_TTL_DAYS",
        default_value_t = 365,
        value_parser = in_range("AVAL_TOKEN_TTL_DAYS", 1_i64, 3650),
        global = true
    )]
    pub token_ttl_days: i64,
    /// This process's stable name in the processors' consumer groups (static membership):
    /// a restarted process with the same name takes its partitions back at once instead of
    /// after a rebalance. Must differ between live processes (two with the same name fence
    /// each other); unset: no static membership.
    #[arg(long, env = "AVAL_INSTANCE_ID", global = true)]
    pub instance_id: Option<String>,
    /// Address where a processor role (`aval ingest`, `train`, `score`, `audit`) serves
    /// `/healthz`, `/readyz` (503 naming each dependency it finds down) and `/metrics`. Unset:
    /// not served. `aval all` and `aval gateway` answer these on the HTTP API instead.
    #[arg(long, env = "AVAL_HEALTH_ADDR", global = true)]
    pub health_addr: Option<SocketAddr>,
}

#[derive(Debug, Clone, Args)]
pub struct Gateway {
    /// Address the HTTP API listens on; the port is 1 to 65535 (port 0, "any free port",
    /// would leave clients not knowing where the API is).
    #[arg(long, env = "AVAL_HTTP_ADDR", default_value = "127.0.0.1:8080", value_parser = listen_address("AVAL_HTTP_ADDR"))]
    pub http_addr: SocketAddr,
    /// How long a decision request waits for the scorer's reply before a 504, in
    /// milliseconds: 10 to 120000.
    #[arg(
        long,
        env = "AVAL_DECISION_TIMEOUT_MS",
        default_value_t = 2000,
        value_parser = in_range("AVAL_DECISION_TIMEOUT_MS", 10_u64, 120_000)
    )]
    pub decision_timeout_ms: u64,
    /// Decisions this gateway has in flight at most, all companies together: 1 to 100000.
    /// Beyond it a decision request is answered 503 with `Retry-After` at once, instead of
    /// queueing until it times out. (A batch counts as its orders, up to the per-company
    /// limit.) See DEFAULT_MAX_INFLIGHT_DECISIONS for the default.
    #[arg(
        long,
        env = "AVAL_MAX_INFLIGHT_DECISIONS",
        default_value_t = DEFAULT_MAX_INFLIGHT_DECISIONS,
        value_parser = in_range("AVAL_MAX_INFLIGHT_DECISIONS", 1_usize, 100_000)
    )]
    pub max_inflight_decisions: usize,
    /// Decisions one company may have in flight at this gateway: 1 to 100000. Beyond it, 503
    /// with `Retry-After`, so one company's flood leaves room for the others.
    #[arg(
        long,
        env = "AVAL_MAX_INFLIGHT_DECISIONS_PER_COMPANY",
        default_value_t = DEFAULT_MAX_INFLIGHT_DECISIONS_PER_COMPANY,
        value_parser = in_range("AVAL_MAX_INFLIGHT_DECISIONS_PER_COMPANY", 1_usize, 100_000)
    )]
    pub max_inflight_decisions_per_company: usize,
    /// Upload batches one company may have in flight at this gateway: 1 to 1000. Beyond it,
    /// 429 with `Retry-After` (`aval upload` waits and retries).
    #[arg(
        long,
        env = "AVAL_MAX_INFLIGHT_UPLOADS_PER_COMPANY",
        default_value_t = DEFAULT_MAX_INFLIGHT_UPLOADS_PER_COMPANY,
        value_parser = in_range("AVAL_MAX_INFLIGHT_UPLOADS_PER_COMPANY", 1_usize, 1000)
    )]
    pub max_inflight_uploads_per_company: usize,
    /// A folder to serve the analyst console from, read at each request, instead of the files
    /// built into the binary: for working on `gateway/console/` without rebuilding.
    #[arg(long, env = "AVAL_CONSOLE_DIR")]
    pub console_dir: Option<std::path::PathBuf>,
}

/// Little's law: in flight = rate x time in the system. An in-flight limit caps the queue an
/// overload can build, and so what an admitted request waits (about limit / throughput); it
/// also caps what one company gets from one gateway at about limit / latency (8 at a 9 ms
/// p50: ~900 decisions/s), so raise it for a single large tenant, or run more gateways.
/// Measured with `scripts/bench-decisions` on this 2-core machine (2026-12-03, the overload
/// phase at 2,000 req/s from one company, three runs): 8 per company kept the admitted p99 at
/// 23-30 ms (unloaded p99 7.8-25 ms) with every refusal at once (p99 10-17 ms) and no 504;
/// 16 per company admitted more (1,065/s against 720-835/s) but at a p99 of 38 ms (and, on a
/// machine shared with builds, 32 reached 275 ms). The price of 8: bursts (a broker pause)
/// are shed at nominal load, 0.5 % of requests at 500/s.
pub const DEFAULT_MAX_INFLIGHT_DECISIONS: usize = 16;
/// Half the gateway's limit: one company's flood cannot take every slot.
pub const DEFAULT_MAX_INFLIGHT_DECISIONS_PER_COMPANY: usize = 8;
/// Twice `aval upload`'s default concurrency (4): a batch takes a few milliseconds of the
/// gateway's CPU, so eight at once from one company already keep a core busy.
pub const DEFAULT_MAX_INFLIGHT_UPLOADS_PER_COMPANY: usize = 8;

impl Gateway {
    pub fn limits(&self) -> aval_gateway::admission::Limits {
        aval_gateway::admission::Limits {
            decisions: self.max_inflight_decisions,
            decisions_per_company: self.max_inflight_decisions_per_company,
            uploads_per_company: self.max_inflight_uploads_per_company,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct Train {
    /// How many trainings run at once, 1 to 64; one training already fits on every core.
    #[arg(
        long,
        env = "AVAL_TRAIN_PARALLELISM",
        default_value_t = 2,
        value_parser = in_range("AVAL_TRAIN_PARALLELISM", 1_usize, 64)
    )]
    pub train_parallelism: usize,
    /// Seed of the training's random choices (folds, forests): same data, same model. Any
    /// integer from 0 to 18446744073709551615.
    #[arg(
        long,
        env = "AVAL_TRAIN_SEED",
        default_value_t = 7,
        value_parser = in_range("AVAL_TRAIN_SEED", 0, u64::MAX)
    )]
    pub train_seed: u64,
    /// With more training rows than this, the chosen learner fits an evenly spread sample of
    /// this many: 1,000 to 1,000,000,000. Gradient boosting holds about a kilobyte per row (a
    /// hundred columns as f64 and a 2-byte bin), so 3,000,000 rows fit in 8 GiB with the
    /// rest of a training; raise it where the trainer has the memory.
    #[arg(
        long,
        env = "AVAL_TRAIN_FIT_ROWS",
        default_value_t = 3_000_000,
        value_parser = in_range("AVAL_TRAIN_FIT_ROWS", 1_000_usize, 1_000_000_000)
    )]
    pub train_fit_rows: usize,
    /// Seconds between two checks of every company's active model version (drift, with its
    /// alert, and the live measures shown as metrics), 1 to 604800. One `aval train` process
    /// of the deployment checks at a time.
    #[arg(
        long,
        env = "AVAL_MONITOR_INTERVAL_SECONDS",
        default_value_t = 3_600,
        value_parser = in_range("AVAL_MONITOR_INTERVAL_SECONDS", 1_u64, 604_800)
    )]
    pub monitor_interval_seconds: u64,
    /// Hours of decisions before each check that drift compares with training, 1 to 8760.
    #[arg(
        long,
        env = "AVAL_MONITOR_DRIFT_WINDOW_HOURS",
        default_value_t = 168,
        value_parser = in_range("AVAL_MONITOR_DRIFT_WINDOW_HOURS", 1_i64, 8_760)
    )]
    pub monitor_drift_window_hours: i64,
    /// The chance that a window drawn like the training orders raises a drift alert, 0.0001
    /// to 0.2.
    #[arg(
        long,
        env = "AVAL_MONITOR_ALPHA",
        default_value_t = 0.01,
        value_parser = number_in_range("AVAL_MONITOR_ALPHA", 0.0001, 0.2)
    )]
    pub monitor_alpha: f64,
    /// Days of decisions before each check whose matured ones the live measures count, 1 to
    /// 3650.
    #[arg(
        long,
        env = "AVAL_MONITOR_PERFORMANCE_DAYS",
        default_value_t = 365,
        value_parser = in_range("AVAL_MONITOR_PERFORMANCE_DAYS", 1_i64, 3_650)
    )]
    pub monitor_performance_days: i64,
}

impl Train {
    pub fn monitor(&self) -> aval_processors::monitor::MonitorSettings {
        aval_processors::monitor::MonitorSettings {
            interval: std::time::Duration::from_secs(self.monitor_interval_seconds),
            drift_window: chrono::Duration::hours(self.monitor_drift_window_hours),
            alpha: self.monitor_alpha,
            performance_window: chrono::Duration::days(self.monitor_performance_days),
        }
    }
}

/// `aval audit`'s settings.
#[derive(Debug, Clone, Args)]
pub struct Audit {
    /// How often, at most, `aval audit` publishes a company's audit chain head to the
    /// compacted `audit-heads` topic, in milliseconds: 100 to 3600000. A head not yet
    /// published goes out within about this long even when no further event arrives.
    #[arg(
        long,
        env = "AVAL_AUDIT_HEAD_INTERVAL_MS",
        default_value_t = 5_000,
        value_parser = in_range("AVAL_AUDIT_HEAD_INTERVAL_MS", 100_u64, 3_600_000)
    )]
    pub audit_head_interval_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct Score {
    /// Companies whose models the scorer keeps in memory (least recently used go first): 1 to
    /// 100000 (a model with its explanation tables takes up to ~1.7 MiB).
    #[arg(
        long,
        env = "AVAL_SCORE_CACHE_COMPANIES",
        default_value_t = aval_processors::score::DEFAULT_CACHE_COMPANIES,
        value_parser = in_range("AVAL_SCORE_CACHE_COMPANIES", 1_usize, 100_000)
    )]
    pub score_cache_companies: usize,
    /// Customers whose stored facts the scorer keeps in memory: 0 (read them per decision) to
    /// 10000000 (a few KiB each).
    #[arg(
        long,
        env = "AVAL_SCORE_CACHE_CUSTOMERS",
        default_value_t = aval_processors::score::DEFAULT_CACHE_CUSTOMERS,
        value_parser = in_range("AVAL_SCORE_CACHE_CUSTOMERS", 0_usize, 10_000_000)
    )]
    pub score_cache_customers: usize,
    /// Whether the scorer publishes each decision to the company's own topic,
    /// `<prefix>decisions.<company id>` (created at the company's first decision, one
    /// partition), as well as to the shared decisions topic: `true` or `false`. Off: the
    /// shared topic alone.
    #[arg(
        long,
        env = "AVAL_COMPANY_DECISION_TOPICS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub company_decision_topics: bool,
}

/// `aval synth`'s settings.
#[derive(Debug, Clone, Args)]
pub struct Synth {
    /// How many customers.
    #[arg(long, default_value_t = 1_000)]
    pub customers: usize,
    /// How many orders (spread over the two years before 2026-10-01).
    #[arg(long, default_value_t = 10_000)]
    pub orders: usize,
    /// Seed of the random generator: the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Folder to write customers.jsonl, credit_limits.jsonl, bureau_reports.jsonl and
    /// orders.jsonl into (created when missing; the four files are replaced).
    #[arg(long)]
    pub out: PathBuf,
}

impl Synth {
    pub fn options(&self) -> aval_tools::synth::Options {
        aval_tools::synth::Options {
            customers: self.customers,
            orders: self.orders,
            seed: self.seed,
            out: self.out.clone(),
        }
    }
}

/// `aval upload`'s settings.
#[derive(Debug, Clone, Args)]
pub struct Upload {
    /// Folder with customers, credit_limits, bureau_reports and orders, each as .jsonl or .csv
    /// (CSV: nested fields as dotted columns such as negatives.pefin.count, attributes.segment).
    pub dir: PathBuf,
    /// Base URL of the gateway's HTTP API.
    #[arg(
        long,
        env = "AVAL_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub gateway: String,
    /// The company's token (from POST /v1/companies).
    #[arg(long, env = "AVAL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Batches in flight at once: 1 to 64.
    #[arg(
        long,
        env = "AVAL_UPLOAD_CONCURRENCY",
        default_value_t = 4,
        value_parser = in_range("AVAL_UPLOAD_CONCURRENCY", 1_u16, 64)
    )]
    pub concurrency: u16,
    /// Ignore the state of an earlier upload from this folder and upload into a new dataset.
    #[arg(long)]
    pub restart: bool,
    /// Do not wait for the dataset's verdict after sending the completion marker.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the verdict, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub wait_timeout: u64,
}

/// How often `aval upload` reads the dataset's status while it waits for the verdict.
const UPLOAD_POLL_INTERVAL: Duration = Duration::from_millis(250);

impl Upload {
    pub fn options(&self) -> anyhow::Result<aval_tools::upload::Options> {
        let token = self
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no token: set AVAL_TOKEN (or pass --token) to the token POST /v1/companies returned"
                )
            })?;
        Ok(aval_tools::upload::Options {
            dir: self.dir.clone(),
            gateway: self.gateway.clone(),
            token: token.to_owned(),
            concurrency: usize::from(self.concurrency),
            restart: self.restart,
            wait: !self.no_wait,
            wait_timeout: Duration::from_secs(self.wait_timeout),
            poll_interval: UPLOAD_POLL_INTERVAL,
            retry: aval_tools::upload::RetryPolicy::default(),
            progress: true,
        })
    }
}

/// The parser of a numeric setting that must lie in `min..=max`. Its refusal names the
/// variable, the value and the range (clap adds the flag): `AVAL_TOKEN_TTL_DAYS is "0"; it
/// must be an integer from 1 to 3650`.
pub fn in_range<T>(
    variable: &'static str,
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |text: &str| {
        text.parse::<T>()
            .ok()
            .filter(|value| (min..=max).contains(value))
            .ok_or_else(|| {
                format!("{variable} is {text:?}; it must be an integer from {min} to {max}")
            })
    }
}

/// The parser of a number (not only an integer) from `min` to `max`.
fn number_in_range(
    variable: &'static str,
    min: f64,
    max: f64,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        text.parse::<f64>()
            .ok()
            .filter(|value| (min..=max).contains(value))
            .ok_or_else(|| {
                format!("{variable} is {text:?}; it must be a number from {min} to {max}")
            })
    }
}

/// The parser of an address to listen on: an IP address and a port from 1 to 65535.
fn listen_address(
    variable: &'static str,
) -> impl Fn(&str) -> Result<SocketAddr, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        text.parse::<SocketAddr>()
            .ok()
            .filter(|address| address.port() != 0)
            .ok_or_else(|| {
                format!(
                    "{variable} is {text:?}; it must be an IP address and a port from 1 to 65535, like 127.0.0.1:8080"
                )
            })
    }
}

/// A setting that must never be shown: `Debug` prints `<redacted>`, and the value is read
/// only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl Common {
    /// The Kafka cluster and aval's login to it, with the `AVAL_KAFKA_*` properties of this
    /// process's environment passed through.
    pub fn kafka(&self) -> anyhow::Result<KafkaConnection> {
        let login = match (
            self.kafka_sasl_mechanism,
            &self.kafka_sasl_username,
            &self.kafka_sasl_password,
        ) {
            (None, None, None) => None,
            (Some(mechanism), Some(username), Some(password)) => Some(SaslLogin::new(
                mechanism,
                username.clone(),
                password.expose().to_owned(),
            )),
            (mechanism, username, password) => {
                let missing: Vec<&str> = [
                    (mechanism.is_none(), "KAFKA_SASL_MECHANISM"),
                    (username.is_none(), "KAFKA_SASL_USERNAME"),
                    (password.is_none(), "KAFKA_SASL_PASSWORD"),
                ]
                .into_iter()
                .filter_map(|(missing, name)| missing.then_some(name))
                .collect();
                anyhow::bail!(
                    "a SASL login needs all of KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD; unset: {}",
                    missing.join(", ")
                )
            }
        };
        Ok(KafkaConnection::new(
            &self.kafka_bootstrap,
            self.kafka_security_protocol,
            login,
            self.kafka_ssl_ca_location.clone(),
            connection::passed_through(std::env::vars()),
        )?)
    }

    /// The principal aval's roles run as, for its ACLs.
    pub fn service_principal(&self) -> Option<String> {
        self.service_principal.clone().or_else(|| {
            self.kafka_sasl_username
                .as_deref()
                .filter(|_| self.kafka_security_protocol.uses_sasl())
                .map(aval_topics::access::user_principal)
        })
    }

    /// The schema registry and aval's login to it.
    pub fn registry(&self) -> anyhow::Result<RegistryConnection> {
        Ok(RegistryConnection::new(
            &self.schema_registry_url,
            self.schema_registry_basic_auth_user_info
                .as_ref()
                .map(Secret::expose),
            self.schema_registry_ssl_ca_location.as_deref(),
        )?)
    }
}

/// Where the signing key comes from, or why the process must not start.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretChoice<'a> {
    /// `AVAL_JWT_SECRET`: it signs; it and the database's keys verify.
    Configured(&'a str),
    /// The database's keys (generated at the first start): the newest signs, all verify.
    Stored,
}

impl Common {
    pub fn secret(&self) -> anyhow::Result<SecretChoice<'_>> {
        match &self.jwt_secret {
            Some(secret) if secret.expose().len() >= MIN_SECRET_BYTES => {
                Ok(SecretChoice::Configured(secret.expose()))
            }
            Some(_) => {
                anyhow::bail!("AVAL_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
            }
            None => Ok(SecretChoice::Stored),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        common: Common,
    }

    fn common(environment: &str, secret: Option<&str>) -> Common {
        let mut args = vec!["aval".to_owned(), format!("--environment={environment}")];
        if let Some(secret) = secret {
            args.push(format!("--jwt-secret={secret}"));
        }
        Cli::try_parse_from(args).expect("parse").common
    }

    #[derive(Debug, Parser)]
    struct AllCli {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        gateway: Gateway,
        #[command(flatten)]
        train: Train,
        #[command(flatten)]
        score: Score,
    }

    /// The message `aval` exits with for these flags, or `None` when they are accepted.
    fn refusal(args: &[&str]) -> Option<String> {
        let args = std::iter::once("aval").chain(args.iter().copied());
        AllCli::try_parse_from(args).err().map(|e| e.to_string())
    }

    #[test]
    fn the_defaults_are_in_range() {
        let cli = AllCli::try_parse_from(["aval"]).expect("defaults parse");
        assert_eq!(cli.common.token_ttl_days, 365);
        assert_eq!(cli.gateway.http_addr.port(), 8080);
    }

    #[test]
    fn out_of_range_settings_name_the_variable_the_value_and_the_range() {
        for (flag, message) in [
            (
                "--token-ttl-days=0",
                "AVAL_TOKEN_TTL_DAYS is \"0\"; it must be an integer from 1 to 3650",
            ),
            (
                "--token-ttl-days=100000000000000",
                "AVAL_TOKEN_TTL_DAYS is \"100000000000000\"; it must be an integer from 1 to 3650",
            ),
            (
                "--db-max-connections=1",
                "AVAL_DB_MAX_CONNECTIONS is \"1\"; it must be an integer from 2 to 1000",
            ),
            (
                "--decision-timeout-ms=ten",
                "AVAL_DECISION_TIMEOUT_MS is \"ten\"; it must be an integer from 10 to 120000",
            ),
            (
                "--score-cache-companies=0",
                "AVAL_SCORE_CACHE_COMPANIES is \"0\"; it must be an integer from 1 to 100000",
            ),
            (
                "--train-parallelism=-1",
                "AVAL_TRAIN_PARALLELISM is \"-1\"; it must be an integer from 1 to 64",
            ),
            (
                "--replication-factor=0",
                "AVAL_REPLICATION_FACTOR is \"0\"; it must be an integer from 1 to 16",
            ),
            (
                "--http-addr=127.0.0.1:0",
                "AVAL_HTTP_ADDR is \"127.0.0.1:0\"; it must be an IP address and a port from 1 to 65535",
            ),
        ] {
            let refusal = refusal(&[flag]).unwrap_or_else(|| panic!("{flag} was accepted"));
            assert!(refusal.contains(message), "{flag}: {refusal}");
        }
    }

    #[test]
    fn company_decision_topics_are_on_unless_turned_off() {
        let parse = |args: &[&str]| {
            AllCli::try_parse_from(std::iter::once("aval").chain(args.iter().copied()))
                .map(|cli| cli.score.company_decision_topics)
        };
        assert!(parse(&[]).expect("default"));
        assert!(!parse(&["--company-decision-topics=false"]).expect("off"));
        assert!(parse(&["--company-decision-topics", "true"]).expect("on"));
        assert!(parse(&["--company-decision-topics=maybe"]).is_err());
    }

    #[test]
    fn the_ends_of_each_range_are_accepted() {
        for flag in [
            "--token-ttl-days=1",
            "--token-ttl-days=3650",
            "--db-max-connections=2",
            "--score-cache-customers=0",
            "--train-seed=18446744073709551615",
            "--http-addr=[::1]:65535",
        ] {
            assert_eq!(refusal(&[flag]), None, "{flag}");
        }
    }

    #[derive(Debug, Parser)]
    struct UploadCli {
        #[command(flatten)]
        upload: Upload,
    }

    #[test]
    fn a_missing_token_is_a_clear_error() {
        let cli = UploadCli::try_parse_from(["aval", "data", "--token", " "]).expect("parses");
        let error = cli.upload.options().expect_err("no token").to_string();
        assert!(error.contains("AVAL_TOKEN"), "{error}");
        let cli =
            UploadCli::try_parse_from(["aval", "data", "--token", "t", "--no-wait"]).expect("ok");
        let options = cli.upload.options().expect("options");
        assert_eq!((options.token.as_str(), options.wait), ("t", false));
        assert!(UploadCli::try_parse_from(["aval", "data", "--concurrency", "0"]).is_err());
    }

    #[test]
    fn without_a_secret_every_environment_uses_the_stored_keys() {
        for environment in ["production", "development"] {
            assert_eq!(
                common(environment, None).secret().ok(),
                Some(SecretChoice::Stored),
                "{environment}"
            );
        }
    }

    #[test]
    fn short_secrets_are_refused_everywhere() {
        assert!(common("development", Some("short")).secret().is_err());
        let long = "x".repeat(32);
        assert_eq!(
            common("production", Some(&long)).secret().ok(),
            Some(SecretChoice::Configured(long.as_str()))
        );
    }
}
