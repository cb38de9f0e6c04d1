//! `aval`: one binary, a subcommand per role, so a deployment is one image run with different
//! arguments.

// A binary exports nothing; `pub` inside it only marks what modules share.
#![allow(unreachable_pub)]

mod config;
mod roles;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "aval", version, about = "Kafka-native credit decisions")]
struct Cli {
    #[command(flatten)]
    common: config::Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Gateway(config::Gateway),
    /// Store audit events in each company's hash-chained audit log; `audit verify` checks a
    /// company's chain.
    Audit(AuditArgs),
    /// Validate and store dataset batches; decide each completed dataset ready or rejected.
    Ingest,
    /// Train a new model version for each training request.
    Train(config::Train),
    /// Decide orders with each company's active model, held in memory.
    Score(config::Score),
    /// Every role in one process, after `topics apply`: for a one-machine deployment.
    All {
        #[command(flatten)]
        gateway: config::Gateway,
        #[command(flatten)]
        train: config::Train,
        #[command(flatten)]
        score: config::Score,
        #[command(flatten)]
        audit: config::Audit,
    },
    /// Manage the Kafka topics of the catalogue.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Apply the database migrations and exit.
    Migrate,
    /// Operator actions on companies, tokens and token keys.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Write a realistic synthetic dataset (four JSON-lines files) with a hidden risk rule.
    Synth(config::Synth),
    /// Upload a folder of customers, credit limits, bureau reports and orders (.jsonl or .csv)
    /// as one dataset, resumably, and wait for its verdict.
    Upload(config::Upload),
}

#[derive(Debug, clap::Args)]
struct AuditArgs {
    /// The audit processor's settings (when run without a subcommand).
    #[command(flatten)]
    settings: config::Audit,
    /// Without a subcommand: run the audit processor.
    #[command(subcommand)]
    command: Option<AuditCommand>,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check a company's whole audit chain in the database, against its stored head and the
    /// copy published to the audit-heads topic (exit 5: it does not verify).
    Verify {
        #[arg(long)]
        company: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create missing topics, register the schemas, report drift (exit 3 when any).
    Apply {
        /// Also set the catalogue's configs (retention, cleanup, size) on drifted topics.
        /// Partition drift is only reported: changing partitions moves keys.
        #[arg(long)]
        fix_configs: bool,
    },
    /// Delete every topic of the catalogue under this prefix, records included: the teardown
    /// of a test or benchmark deployment. Refused in production, and without --yes.
    Delete {
        /// Yes, delete the topics and every record in them.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// A company's own Kafka principal: its decisions topic, SCRAM credential and ACLs; prints
    /// its Kafka settings as KEY=value lines (exit 4: the user could not be created here).
    KafkaTenant { company_id: uuid::Uuid },
    /// Refuse every token of a company from now on (403).
    DeactivateCompany { company_id: uuid::Uuid },
    /// Refuse one token, by its `jti` claim, from now on (403).
    RevokeToken {
        company_id: uuid::Uuid,
        jti: uuid::Uuid,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Sign tokens with a new, random key from now on; tokens signed before keep working.
    RotateJwtKey,
    /// Stop a key verifying: every token it signed is refused (401) from now on.
    RetireJwtKey { kid: String },
    /// List the token keys: id, creation date, signing, verifying or retired.
    JwtKeys,
}

/// How long a stopping process waits for blocking work (a training) before it exits anyway.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    roles::init_logging(cli.common.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("aval: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The role runs as a task on the runtime's workers rather than on this thread: a worker
    // both waits on the sockets and polls the task, so each network event wakes one thread,
    // not a worker that then wakes this one. Context switches are most of the decision
    // path's CPU on this kind of machine (see the README).
    let role = runtime.spawn(async move {
        match cli.command {
            Command::Gateway(gateway) => roles::gateway(&cli.common, &gateway).await,
            Command::Audit(AuditArgs {
                command: None,
                settings,
            }) => roles::audit(&cli.common, &settings).await,
            Command::Audit(AuditArgs {
                command: Some(AuditCommand::Verify { company }),
                ..
            }) => roles::audit_verify(&cli.common, company).await,
            Command::Ingest => roles::ingest(&cli.common).await,
            Command::Train(train) => roles::train(&cli.common, &train).await,
            Command::Score(score) => roles::score(&cli.common, &score).await,
            Command::All {
                gateway,
                train,
                score,
                audit,
            } => roles::all(&cli.common, &gateway, &train, &score, &audit).await,
            Command::Topics(TopicsCommand::Apply { fix_configs }) => {
                roles::topics_apply(&cli.common, fix_configs).await
            }
            Command::Topics(TopicsCommand::Delete { yes }) => {
                roles::topics_delete(&cli.common, yes).await
            }
            Command::Migrate => roles::migrate(&cli.common).await,
            Command::Admin(AdminCommand::KafkaTenant { company_id }) => {
                roles::kafka_tenant(&cli.common, company_id).await
            }
            Command::Admin(AdminCommand::DeactivateCompany { company_id }) => {
                roles::deactivate_company(&cli.common, company_id).await
            }
            Command::Admin(AdminCommand::RevokeToken {
                company_id,
                jti,
                reason,
            }) => roles::revoke_token(&cli.common, company_id, jti, &reason).await,
            Command::Admin(AdminCommand::RotateJwtKey) => roles::rotate_jwt_key(&cli.common).await,
            Command::Admin(AdminCommand::RetireJwtKey { kid }) => {
                roles::retire_jwt_key(&cli.common, &kid).await
            }
            Command::Admin(AdminCommand::JwtKeys) => roles::jwt_keys(&cli.common).await,
            Command::Synth(synth) => roles::synth(&synth),
            Command::Upload(upload) => roles::upload(&upload).await,
        }
    });
    let result = runtime
        .block_on(role)
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the role's task failed: {e}")));
    // A training still running on the blocking pool cannot be interrupted; waiting for it
    // would make a stop take minutes. Its request's offset was not stored, so it is
    // delivered again and trained from the start.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("aval: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
