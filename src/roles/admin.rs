//! Operator commands: topics, migrations, companies, tokens and token keys.

use super::{KAFKA_TIMEOUT, catalogue, codec, connect_store, kafka};
use crate::config::{Common, Environment, SecretChoice};
use anyhow::Context;
use aval_core::token::KeySecret;
use aval_store::StoreError;
use aval_topics::admin::TopicAdmin;
use std::process::ExitCode;

/// Exit code of `topics apply` when the cluster differs from the catalogue.
const EXIT_DRIFT: u8 = 3;

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
    if report.drift.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "aval: {} setting(s) differ from the catalogue; fix them by hand",
            report.drift.len()
        );
        Ok(ExitCode::from(EXIT_DRIFT))
    }
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
