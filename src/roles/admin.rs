//! Operator commands: topics, migrations, companies and tokens.

use super::{KAFKA_TIMEOUT, catalogue, codec, connect_store, kafka};
use crate::config::{Common, Environment};
use anyhow::Context;
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
