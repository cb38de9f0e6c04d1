//! All of aval's configuration, in one place: every setting is a flag with an environment
//! variable and a documented default (`aval --help`, and the README's table).

use clap::{Args, ValueEnum};
use std::net::SocketAddr;

/// Signs development tokens when `AVAL_JWT_SECRET` is unset. Public by definition: anyone can
/// forge tokens with it, which is why `AVAL_ENV=production` refuses to start with it.
pub const DEVELOPMENT_JWT_SECRET: &str = "aval-development-key-never-use-in-production";
const MIN_SECRET_BYTES: usize = 32;

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
    /// development or production; production refuses insecure defaults.
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
    /// Confluent-compatible schema registry base URL.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7",
        global = true
    )]
    pub schema_registry_url: String,
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://aval:aval@127.0.0.1:5432/aval",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,
    /// Largest number of database connections this process opens (at least 2: the scorer
    /// keeps one for recording decisions).
    #[arg(
        long,
        env = "AVAL_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(2..),
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
    /// Replication factor of the topics `aval topics apply` creates.
    #[arg(
        long,
        env = "AVAL_REPLICATION_FACTOR",
        default_value_t = 1,
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
    /// processor that takes records straight from Kafka verify with it. Unset: a built-in
    /// development key, refused in production.
    #[arg(long, env = "AVAL_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// How long a company token stays valid, in days.
    #[arg(
        long,
        env = "AVAL_TOKEN_TTL_DAYS",
        default_value_t = 365,
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
    /// Address the HTTP API listens on.
    #[arg(long, env = "AVAL_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// How long a decision request waits for the scorer's reply before a 504.
    #[arg(long, env = "AVAL_DECISION_TIMEOUT_MS", default_value_t = 2000)]
    pub decision_timeout_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct Train {
    /// How many trainings run at once; one training already fits on every core.
    #[arg(long, env = "AVAL_TRAIN_PARALLELISM", default_value_t = 2)]
    pub train_parallelism: usize,
    /// Seed of the training's random choices (folds, forests): same data, same model.
    #[arg(long, env = "AVAL_TRAIN_SEED", default_value_t = 7)]
    pub train_seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct Score {
    /// Companies whose models the scorer keeps in memory (least recently used go first).
    #[arg(long, env = "AVAL_SCORE_CACHE_COMPANIES", default_value_t = aval_processors::score::DEFAULT_CACHE_COMPANIES)]
    pub score_cache_companies: usize,
    /// Customers whose stored facts the scorer keeps in memory (0: read them per decision).
    #[arg(long, env = "AVAL_SCORE_CACHE_CUSTOMERS", default_value_t = aval_processors::score::DEFAULT_CACHE_CUSTOMERS)]
    pub score_cache_customers: usize,
}

/// The signing secret to use, or why the process must not start.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretChoice<'a> {
    Configured(&'a str),
    Development,
}

impl Common {
    pub fn secret(&self) -> anyhow::Result<SecretChoice<'_>> {
        match (&self.jwt_secret, self.environment) {
            (Some(secret), _) if secret.len() >= MIN_SECRET_BYTES => {
                Ok(SecretChoice::Configured(secret))
            }
            (Some(_), _) => {
                anyhow::bail!("AVAL_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
            }
            (None, Environment::Production) => anyhow::bail!(
                "AVAL_ENV=production but AVAL_JWT_SECRET is unset: refusing to sign tokens with the public development key"
            ),
            (None, Environment::Development) => Ok(SecretChoice::Development),
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

    #[test]
    fn production_refuses_the_development_key() {
        assert!(common("production", None).secret().is_err());
        assert_eq!(
            common("development", None).secret().ok(),
            Some(SecretChoice::Development)
        );
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
