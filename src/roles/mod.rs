//! What each subcommand does: wire configuration to the library crates and run. Shared
//! start-up steps live here; each kind of role (and the client tools) has its own file.

mod admin;
mod gateway;
mod health;
mod processors;
mod tools;

pub use admin::{
    audit_verify, deactivate_company, jwt_keys, kafka_tenant, migrate, retire_jwt_key,
    revoke_token, rotate_jwt_key, topics_apply, topics_delete,
};
pub use gateway::gateway;
pub use processors::{all, audit, ingest, score, train};
pub use tools::{synth, upload};

use crate::config::{Common, LogFormat, SecretChoice};
use anyhow::Context;
use aval_core::token::{KeySecret, TokenKeys};
use aval_store::Store;
use aval_store::jwt_keys::StoredKey;
use aval_topics::{AvroCodec, Catalogue, KafkaConnection, Publisher};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

const REGISTRY_TIMEOUT: Duration = Duration::from_secs(5);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn connect_store(common: &Common) -> anyhow::Result<Store> {
    let store = Store::connect(common.database_url.expose(), common.db_max_connections)
        .await
        .context("cannot connect to the database (DATABASE_URL)")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(store)
}

fn codec(common: &Common) -> anyhow::Result<AvroCodec> {
    let registry = common.registry()?;
    AvroCodec::new(&registry, REGISTRY_TIMEOUT).context("cannot set up the schema registry client")
}

/// The Kafka connection, checked once: a refused login or certificate stops the process
/// with librdkafka's reason; a cluster that does not answer yet is an outage, retried by
/// whatever needs it.
async fn kafka(common: &Common) -> anyhow::Result<KafkaConnection> {
    let kafka = common.kafka()?;
    let checked = kafka.clone();
    let verified = tokio::task::spawn_blocking(move || checked.verify(KAFKA_TIMEOUT))
        .await
        .context("the Kafka connection check panicked")?;
    match verified {
        Ok(()) => {}
        Err(e) if e.is_permanent() => return Err(e).context("cannot use the Kafka cluster"),
        Err(e) => tracing::warn!(error = %e, "Kafka does not answer yet; retrying as needed"),
    }
    Ok(kafka)
}

fn catalogue(common: &Common) -> Catalogue {
    Catalogue::new(&common.topic_prefix, common.replication_factor)
}

/// What every role that touches company data starts with: the database (migrated), the
/// catalogue, the codec with every schema registered, and a producer.
struct Connections {
    store: Store,
    catalogue: Arc<Catalogue>,
    codec: AvroCodec,
    publisher: Publisher,
    kafka: KafkaConnection,
}

impl Connections {
    /// `low_latency`: no producer linger, for records someone is waiting for.
    async fn open(common: &Common, low_latency: bool) -> anyhow::Result<Self> {
        let kafka = kafka(common).await?;
        let store = connect_store(common).await?;
        let catalogue = catalogue(common);
        let codec = codec(common)?;
        register_schemas(&codec, &catalogue).await?;
        let publisher = if low_latency {
            Publisher::low_latency(&kafka, codec.clone(), KAFKA_TIMEOUT)
        } else {
            Publisher::new(&kafka, codec.clone(), KAFKA_TIMEOUT)
        }
        .context("cannot create the Kafka producer")?;
        Ok(Self {
            store,
            catalogue: Arc::new(catalogue),
            codec,
            publisher,
            kafka,
        })
    }
}

/// Registers every value schema so producers never race to register, and so a registry that is
/// down stops the process at start rather than at the first record.
async fn register_schemas(codec: &AvroCodec, catalogue: &Catalogue) -> anyhow::Result<()> {
    for topic in catalogue.topics().iter().filter(|t| t.value.is_some()) {
        let id = codec
            .register(topic)
            .await
            .with_context(|| format!("cannot register the schema of {}", topic.name))?;
        tracing::debug!(subject = %topic.value_subject(), id, "schema registered");
    }
    Ok(())
}

/// The token keys every role that sees company tokens uses, kept current while the process
/// runs: `AVAL_JWT_SECRET` signs when set; otherwise the newest key of the database's
/// `jwt_keys` table does (the first process to start generates one). Every key stored and
/// not retired verifies. A rotation reaches this process through the database's notification
/// (see `aval_store::jwt_keys`), or at the latest when a token names the new key.
///
/// One set per process: the roles of `aval all` share it (one follower, one listener).
async fn token_keys(common: &Common, store: &Store) -> anyhow::Result<Arc<TokenKeys>> {
    static KEYS: tokio::sync::OnceCell<Arc<TokenKeys>> = tokio::sync::OnceCell::const_new();
    KEYS.get_or_try_init(|| load_token_keys(common, store))
        .await
        .cloned()
}

async fn load_token_keys(common: &Common, store: &Store) -> anyhow::Result<Arc<TokenKeys>> {
    let ttl = chrono::Duration::days(common.token_ttl_days);
    let configured = match common.secret()? {
        SecretChoice::Configured(secret) => Some(KeySecret::new(secret.as_bytes())),
        SecretChoice::Stored => {
            let generated = store
                .ensure_jwt_key(KeySecret::generate, chrono::Utc::now())
                .await
                .context("cannot store a generated token key")?;
            if generated {
                tracing::info!(
                    "AVAL_JWT_SECRET is unset: generated this installation's token key, kept in the database (jwt_keys)"
                );
            }
            None
        }
    };
    let stored = store
        .jwt_keys()
        .await
        .context("cannot read the token keys")?;
    let (signing, verifying) = key_set(configured.as_ref(), &stored)
        .context("no token key in the database (jwt_keys): was every key retired?")?;
    let keys = Arc::new(TokenKeys::with_keys(&signing, &verifying, ttl));
    match &configured {
        Some(_) => {
            tracing::info!(kid = %keys.signing_kid(), verifying = ?keys.verifying_kids(), "tokens signed with AVAL_JWT_SECRET")
        }
        None => {
            tracing::info!(kid = %keys.signing_kid(), verifying = ?keys.verifying_kids(), "tokens signed with the newest key in the database")
        }
    }
    let followed = keys.clone();
    let stale = store.follow_jwt_keys(move |stored| {
        if let Some((signing, verifying)) = key_set(configured.as_ref(), &stored) {
            let before = (followed.signing_kid(), followed.verifying_kids());
            followed.replace(&signing, &verifying);
            let after = (followed.signing_kid(), followed.verifying_kids());
            if before != after {
                tracing::info!(kid = %after.0, verifying = ?after.1, "token keys changed");
            }
        }
    });
    keys.on_unknown_key(move || stale.wake());
    Ok(keys)
}

/// The signing key and the verification keys: the configured secret, or else the newest
/// stored key, signs; every stored key verifies. `None` without any key.
fn key_set(
    configured: Option<&KeySecret>,
    stored: &[StoredKey],
) -> Option<(KeySecret, Vec<KeySecret>)> {
    let verifying: Vec<KeySecret> = stored.iter().map(|key| key.secret.clone()).collect();
    let signing = configured.or_else(|| verifying.first())?.clone();
    Some((signing, verifying))
}

/// A token cancelled on SIGTERM or Ctrl-C.
fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    stop
}

/// Cancels `stop` on SIGTERM (how orchestrators stop a process) or Ctrl-C.
async fn cancel_on_signal(stop: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
    stop.cancel();
}
