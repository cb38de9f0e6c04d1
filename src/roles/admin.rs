//! Operator commands: topics, migrations, companies, tokens and token keys, the audit chain.

use super::{KAFKA_TIMEOUT, catalogue, codec, connect_store, kafka};
use crate::config::{Common, Environment, SecretChoice};
use anyhow::Context;
use aval_core::audit::verification::{Checkpoint, CheckpointSource};
use aval_core::audit::{hash_from_hex, hash_to_hex};
use aval_core::token::KeySecret;
use aval_kafka_admin::ScramMechanism;
use aval_store::StoreError;
use aval_topics::TopicRole;
use aval_topics::access;
use aval_topics::admin::{AclReport, TopicAdmin};
use aval_topics::connection::SaslMechanism;
use std::process::ExitCode;

/// Exit code of `topics apply` when the cluster differs from the catalogue.
const EXIT_DRIFT: u8 = 3;
/// `admin kafka-tenant` could not create the SCRAM user: the rest is done, the user is not.
const EXIT_NO_CREDENTIAL: u8 = 4;

pub async fn migrate(common: &Common) -> anyhow::Result<ExitCode> {
    connect_store(common).await?;
    tracing::info!("database migrations applied");
    Ok(ExitCode::SUCCESS)
}

pub async fn topics_delete(common: &Common, yes: bool) -> anyhow::Result<ExitCode> {
    if common.environment == Environment::Production {
        anyhow::bail!("AVAL_ENV=production: refusing to delete topics");
    }
    if !yes {
        anyhow::bail!(
            "this deletes every topic under the prefix {:?} and all their records: add --yes",
            common.topic_prefix
        );
    }
    let admin = TopicAdmin::new(&kafka(common).await?, KAFKA_TIMEOUT)
        .context("cannot create the Kafka admin client")?;
    for topic in admin
        .delete(&catalogue(common))
        .await
        .context("cannot delete the catalogue's topics")?
    {
        println!("deleted   {topic}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn topics_apply(common: &Common, fix_configs: bool) -> anyhow::Result<ExitCode> {
    let catalogue = catalogue(common);
    let admin = TopicAdmin::new(&kafka(common).await?, KAFKA_TIMEOUT)
        .context("cannot create the Kafka admin client")?;
    let codec = codec(common)?;
    let mut report = admin
        .apply(&catalogue, &codec)
        .await
        .context("cannot apply the topic catalogue")?;
    if fix_configs && !report.drift.is_empty() {
        for topic in admin
            .fix_config_drift(&catalogue, &report.drift)
            .await
            .context("cannot fix topic configs")?
        {
            println!("fixed     {topic}");
        }
        report = admin
            .apply(&catalogue, &codec)
            .await
            .context("cannot apply the topic catalogue")?;
    }
    for topic in &report.created {
        println!("created   {topic}");
    }
    for topic in &report.unchanged {
        println!("unchanged {topic}");
    }
    for (subject, id) in &report.schemas {
        println!("schema    {subject} id={id}");
    }
    for drift in &report.drift {
        println!("DRIFT     {drift}");
    }
    let unexpected_acls = apply_service_acls(common, &admin, &catalogue).await?;
    let drifted = report.drift.len() + unexpected_acls;
    if drifted == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "aval: {drifted} setting(s) or ACL(s) differ from the catalogue; fix them by hand"
        );
        Ok(ExitCode::from(EXIT_DRIFT))
    }
}

/// Gives aval's service principal the ACLs of the catalogue's layout and prints what it
/// found; returns how many ACLs the principal holds beyond the layout (drift).
async fn apply_service_acls(
    common: &Common,
    admin: &TopicAdmin,
    catalogue: &aval_topics::Catalogue,
) -> anyhow::Result<usize> {
    let Some(principal) = common.service_principal() else {
        println!(
            "acls      none applied: no service principal (AVAL_SERVICE_PRINCIPAL, or a SASL login)"
        );
        return Ok(0);
    };
    let layout = access::service_acls(catalogue, &principal, &common.group_prefix);
    let scope = access::Scope::of(catalogue, &common.group_prefix);
    match admin.apply_acls(&principal, layout, scope).await {
        Ok(report) => Ok(print_acls(&report)),
        // aval itself, on a secured cluster: an administrator applies its ACLs.
        Err(e) if e.is_not_authorized() => {
            println!(
                "acls      not checked: this principal may not read ACLs; an administrator applies them (topics apply with AVAL_SERVICE_PRINCIPAL={principal})"
            );
            Ok(0)
        }
        Err(e) => Err(e).with_context(|| format!("cannot apply the ACLs of {principal}")),
    }
}

/// Prints an ACL report like the topics' one; returns the number of unexpected ACLs.
fn print_acls(report: &AclReport) -> usize {
    match report {
        AclReport::NoAuthorizer => {
            println!("acls      none applied: the cluster has no authorizer");
            0
        }
        AclReport::Applied {
            principal,
            created,
            unchanged,
            unexpected,
        } => {
            for acl in created {
                println!("created   acl {acl}");
            }
            println!("unchanged {unchanged} acl(s) of {principal}");
            for acl in unexpected {
                println!("DRIFT     acl {acl} is not in the catalogue's layout");
            }
            unexpected.len()
        }
    }
}

/// `aval admin kafka-tenant COMPANY_ID`: a company's own Kafka principal, for its systems that
/// produce data and orders and read decisions straight from Kafka. Creates the company's
/// decisions topic, its SCRAM credential (where the cluster lets aval create users) and its
/// ACLs, and prints the settings the company needs as `KEY=value` lines.
pub async fn kafka_tenant(common: &Common, company_id: uuid::Uuid) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    let company = store
        .company(company_id)
        .await
        .with_context(|| format!("no company {company_id}"))?;
    if company.deactivated_at.is_some() {
        anyhow::bail!("company {company_id} is deactivated");
    }
    let kafka = kafka(common).await?;
    let catalogue = catalogue(common);
    let admin =
        TopicAdmin::new(&kafka, KAFKA_TIMEOUT).context("cannot create the Kafka admin client")?;
    let decisions = catalogue.company_decisions(company_id);
    admin
        .ensure(&decisions)
        .await
        .with_context(|| format!("cannot create {}", decisions.name))?;
    let username = access::tenant_username(company_id);
    let mechanism = match common.kafka_sasl_mechanism {
        Some(SaslMechanism::ScramSha256) => ScramMechanism::Sha256,
        _ => ScramMechanism::Sha512,
    };
    // 122 random bits, as hex: no character a shell or a properties file would mangle.
    let password = format!("{}", uuid::Uuid::new_v4().simple());
    let created = admin
        .upsert_scram_user(&username, mechanism, &password)
        .await;
    if let Err(e) = &created {
        eprintln!(
            "aval: cannot create the SCRAM user {username} ({e}); create it where the cluster's users are managed, with the ACLs below"
        );
    }
    let principal = access::user_principal(&username);
    let layout = access::tenant_acls(&catalogue, &common.group_prefix, company_id, &principal);
    let scope = access::Scope::of(&catalogue, &common.group_prefix);
    let report = admin
        .apply_acls(&principal, layout, scope)
        .await
        .with_context(|| format!("cannot apply the ACLs of {principal}"))?;
    if let AclReport::NoAuthorizer = report {
        eprintln!("aval: the cluster has no authorizer: any client may read every topic");
    }
    let password = created.as_ref().map_or("", |()| password.as_str());
    let mechanism = created.as_ref().map_or("", |()| mechanism.as_str());
    for (key, value) in [
        ("KAFKA_BOOTSTRAP", kafka.bootstrap()),
        ("KAFKA_SECURITY_PROTOCOL", kafka.protocol().as_str()),
        ("KAFKA_SASL_MECHANISM", mechanism),
        ("KAFKA_SASL_USERNAME", username.as_str()),
        ("KAFKA_SASL_PASSWORD", password),
        (
            "AVAL_INGEST_TOPIC",
            catalogue.topic(TopicRole::Ingest).name.as_str(),
        ),
        (
            "AVAL_DECISION_REQUESTS_TOPIC",
            catalogue.topic(TopicRole::DecisionRequests).name.as_str(),
        ),
        (
            "AVAL_OUTCOMES_TOPIC",
            catalogue.topic(TopicRole::Outcomes).name.as_str(),
        ),
        ("AVAL_DECISIONS_TOPIC", decisions.name.as_str()),
        (
            "AVAL_CONSUMER_GROUP_PREFIX",
            access::tenant_group_prefix(&common.group_prefix, company_id).as_str(),
        ),
    ] {
        println!("{key}={value}");
    }
    Ok(if created.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NO_CREDENTIAL)
    })
}

pub async fn deactivate_company(
    common: &Common,
    company_id: uuid::Uuid,
) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    store
        .deactivate_company(company_id, chrono::Utc::now())
        .await
        .with_context(|| format!("cannot deactivate company {company_id}"))?;
    println!("company {company_id} deactivated");
    Ok(ExitCode::SUCCESS)
}

pub async fn revoke_token(
    common: &Common,
    company_id: uuid::Uuid,
    jti: uuid::Uuid,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    store
        .revoke_token(company_id, jti, reason, chrono::Utc::now())
        .await
        .with_context(|| format!("cannot revoke token {jti}"))?;
    println!("token {jti} revoked");
    Ok(ExitCode::SUCCESS)
}

/// Adds a new signing key: tokens issued from now on name it, tokens issued before keep
/// working (their keys still verify), and every running process hears of it through the
/// database. With `AVAL_JWT_SECRET` set, that secret keeps signing wherever it is set; it is
/// stored too, so its tokens keep working once it is unset.
pub async fn rotate_jwt_key(common: &Common) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    let now = chrono::Utc::now();
    if let SecretChoice::Configured(secret) = common.secret()? {
        store
            .add_jwt_key(
                &KeySecret::new(secret.as_bytes()),
                now - chrono::Duration::seconds(1),
            )
            .await
            .context("cannot store AVAL_JWT_SECRET's key")?;
        eprintln!(
            "aval: AVAL_JWT_SECRET is set: it keeps signing wherever it is set. Unset it everywhere to sign with the new key; its tokens keep working."
        );
    }
    let kid = store
        .add_jwt_key(&KeySecret::generate(), now)
        .await
        .context("cannot store the new token key")?;
    println!("token key {kid} signs from now on; older keys still verify");
    Ok(ExitCode::SUCCESS)
}

/// Stops a key verifying: every token it signed is refused (401) from now on.
pub async fn retire_jwt_key(common: &Common, kid: &str) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    match store.retire_jwt_key(kid, chrono::Utc::now()).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => anyhow::bail!("no token key {kid} in use"),
        Err(StoreError::Conflict { constraint }) => anyhow::bail!("{constraint}"),
        Err(e) => return Err(e).with_context(|| format!("cannot retire token key {kid}")),
    }
    println!("token key {kid} retired: the tokens it signed are refused");
    Ok(ExitCode::SUCCESS)
}

/// Lists the stored token keys (ids and dates, never the secrets).
pub async fn jwt_keys(common: &Common) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    let keys = store
        .all_jwt_keys()
        .await
        .context("cannot read the token keys")?;
    let signing = keys.iter().find(|k| k.retired_at.is_none()).map(|k| &k.kid);
    for key in &keys {
        let state = match (&key.retired_at, Some(&key.kid) == signing) {
            (Some(at), _) => format!("retired {}", at.to_rfc3339()),
            (None, true) => "signing".to_owned(),
            (None, false) => "verifying".to_owned(),
        };
        println!(
            "{}  created {}  {state}",
            key.kid,
            key.created_at.to_rfc3339()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `audit verify`: the company's chain does not verify.
const EXIT_NOT_VERIFIED: u8 = 5;

/// Checks a company's whole audit chain in the database against its stored head and against
/// the copy published to the `audit-heads` topic, which a rewrite of the database alone
/// cannot reach.
pub async fn audit_verify(common: &Common, company_id: uuid::Uuid) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    store
        .company(company_id)
        .await
        .with_context(|| format!("no company {company_id}"))?;
    let kafka = kafka(common).await?;
    let topic = catalogue(common).topic(TopicRole::AuditHeads).name.clone();
    let published = aval_topics::audit_heads::published_head(
        &kafka,
        &codec(common)?,
        &topic,
        company_id,
        KAFKA_TIMEOUT,
    )
    .await
    .with_context(|| format!("cannot read the published heads ({topic})"))?;
    let mut elsewhere = Vec::new();
    match &published {
        Some(head) => {
            let hash = hash_from_hex(&head.hash)
                .with_context(|| format!("the published head of {company_id} is not a hash"))?;
            println!(
                "published  event {} {} at {}",
                head.seq,
                head.hash,
                chrono::DateTime::from_timestamp_millis(head.published_at)
                    .map_or_else(|| head.published_at.to_string(), |at| at.to_rfc3339())
            );
            elsewhere.push(Checkpoint {
                seq: head.seq,
                hash,
                source: CheckpointSource::PublishedHead,
            });
        }
        None => println!("published  none yet (checked against the database alone)"),
    }
    let report = store
        .verify_audit_chain(company_id, &elsewhere)
        .await
        .context("cannot read the audit log")?;
    println!("events     {}", report.events);
    println!(
        "head       event {} {}",
        report.last_seq,
        hash_to_hex(&report.head)
    );
    match &report.broken {
        None => {
            println!("verified   yes");
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            println!("verified   NO: from event {}", broken.first_broken_seq());
            println!("problem    {}", broken.describe());
            Ok(ExitCode::from(EXIT_NOT_VERIFIED))
        }
    }
}
