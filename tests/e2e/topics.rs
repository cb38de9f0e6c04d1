//! `aval topics apply` creates the catalogue, is idempotent, and reports drift made behind its
//! back.

use crate::common;
use aval_topics::Catalogue;
use aval_topics::admin::TopicAdmin;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewPartitions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use std::time::Duration;

#[tokio::test]
async fn apply_is_idempotent_and_reports_drift() {
    let prefix = format!("drift-{}.", uuid::Uuid::new_v4().simple());
    let catalogue = Catalogue::new(&prefix, 1);
    let admin = TopicAdmin::new(&common::stack().kafka(), Duration::from_secs(10)).expect("admin");
    let codec = common::codec();

    let first = admin.apply(&catalogue, &codec).await.expect("first apply");
    assert_eq!(first.created.len(), catalogue.topics().len());
    assert!(first.drift.is_empty(), "{:?}", first.drift);

    let second = admin.apply(&catalogue, &codec).await.expect("second apply");
    assert!(
        second.created.is_empty(),
        "second apply created {:?}",
        second.created
    );
    assert!(second.drift.is_empty(), "{:?}", second.drift);
    assert_eq!(second.unchanged.len(), catalogue.topics().len());
    assert_eq!(first.schemas, second.schemas, "schema ids are stable");

    // Behind its back: one more partition on the ingest topic, a shorter retention on audit.
    let raw: AdminClient<DefaultClientContext> = common::stack()
        .kafka()
        .client_config()
        .create()
        .expect("raw admin");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let ingest = catalogue.topic(aval_topics::TopicRole::Ingest);
    let audit = catalogue.topic(aval_topics::TopicRole::Audit);
    let grown = raw
        .create_partitions(
            &[NewPartitions::new(
                &ingest.name,
                ingest.partitions as usize + 2,
            )],
            &options,
        )
        .await
        .expect("create partitions");
    assert!(grown.iter().all(Result::is_ok), "{grown:?}");
    let altered = raw
        .alter_configs(
            &[
                AlterConfig::new(ResourceSpecifier::Topic(&audit.name))
                    .set("retention.ms", "60000"),
            ],
            &options,
        )
        .await
        .expect("alter configs");
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");

    let mut expected = vec![
        (
            ingest.name.clone(),
            "partitions".to_owned(),
            ingest.partitions.to_string(),
            (ingest.partitions + 2).to_string(),
        ),
        (
            audit.name.clone(),
            "retention.ms".to_owned(),
            audit.retention_ms.expect("retention").to_string(),
            "60000".to_owned(),
        ),
    ];
    expected.sort();
    // The broker applies the changes asynchronously: poll until they show, with a deadline.
    let started = std::time::Instant::now();
    let (third, drift) = loop {
        let report = admin.apply(&catalogue, &codec).await.expect("third apply");
        let mut drift: Vec<(String, String, String, String)> = report
            .drift
            .iter()
            .map(|d| {
                (
                    d.topic.clone(),
                    d.setting.clone(),
                    d.expected.clone(),
                    d.actual.clone(),
                )
            })
            .collect();
        drift.sort();
        if drift.len() >= expected.len() || started.elapsed() > common::DEADLINE {
            break (report, drift);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(third.created.is_empty());
    assert_eq!(drift, expected);
    assert_eq!(third.unchanged.len(), catalogue.topics().len() - 2);

    let names: Vec<&str> = catalogue.topics().iter().map(|t| t.name.as_str()).collect();
    raw.delete_topics(&names, &options).await.expect("clean up");
}

/// `aval ARGS` against the test stack, with the catalogue under `prefix`.
fn aval(prefix: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aval"))
        .args(args)
        .env("KAFKA_BOOTSTRAP", common::stack().kafka_bootstrap)
        .env("SCHEMA_REGISTRY_URL", common::stack().schema_registry_url)
        .env("AVAL_TOPIC_PREFIX", prefix)
        .output()
        .expect("run aval")
}

/// How often a run that must have succeeded printed `word` (one line per topic).
fn reported(output: &std::process::Output, word: &str) -> usize {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .matches(word)
        .count()
}

#[tokio::test]
async fn the_cli_exits_3_on_drift() {
    let prefix = format!("cli-{}.", uuid::Uuid::new_v4().simple());
    let run = || aval(&prefix, &["topics", "apply"]);
    let catalogued = Catalogue::new(&prefix, 1).topics().len();
    assert_eq!(reported(&run(), "created"), catalogued);
    assert_eq!(reported(&run(), "unchanged"), catalogued);

    let raw: AdminClient<DefaultClientContext> = common::stack()
        .kafka()
        .client_config()
        .create()
        .expect("raw admin");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let decisions = format!("{prefix}decisions");
    raw.create_partitions(&[NewPartitions::new(&decisions, 7)], &options)
        .await
        .expect("grow");
    // The broker shows the new partition asynchronously: run again until it does.
    let started = std::time::Instant::now();
    let third = loop {
        let output = run();
        if output.status.code() != Some(0) || started.elapsed() > common::DEADLINE {
            break output;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(third.status.code(), Some(3), "{third:?}");
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert!(
        stdout.contains(&format!(
            "DRIFT     {decisions}: partitions is 7 but the catalogue says 6"
        )),
        "{stdout}"
    );

    let catalogue = Catalogue::new(&prefix, 1);
    let names: Vec<&str> = catalogue.topics().iter().map(|t| t.name.as_str()).collect();
    raw.delete_topics(&names, &options).await.expect("clean up");
}

#[tokio::test]
async fn the_cli_deletes_its_prefix_s_topics_only_when_told_yes() {
    let prefix = format!("teardown-{}.", uuid::Uuid::new_v4().simple());
    let other = format!("kept-{}.", uuid::Uuid::new_v4().simple());
    for p in [&prefix, &other] {
        assert!(aval(p, &["topics", "apply"]).status.success());
    }
    let names = |prefix: &str| -> Vec<String> {
        let admin: AdminClient<DefaultClientContext> = common::stack()
            .kafka()
            .client_config()
            .create()
            .expect("admin");
        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        metadata
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .filter(|name| name.starts_with(prefix))
            .collect()
    };
    // A broker answering metadata may not know a topic created a moment ago yet.
    let count_soon = |prefix: String, expected: usize| {
        let names = &names;
        async move {
            let started = std::time::Instant::now();
            loop {
                let found = names(&prefix).len();
                if found == expected || started.elapsed() > common::DEADLINE {
                    return found;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let catalogue = Catalogue::new(&prefix, 1);
    let catalogued = catalogue.topics().len();
    assert_eq!(count_soon(prefix.clone(), catalogued).await, catalogued);
    // A company's own decisions topic, as the scorer creates it at its first decision.
    TopicAdmin::new(&common::stack().kafka(), Duration::from_secs(10))
        .expect("admin")
        .ensure(&catalogue.company_decisions(uuid::Uuid::new_v4()))
        .await
        .expect("the company's topic");
    assert_eq!(
        count_soon(prefix.clone(), catalogued + 1).await,
        catalogued + 1
    );

    let refused = aval(&prefix, &["topics", "delete"]);
    assert!(!refused.status.success(), "deleted without --yes");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert_eq!(names(&prefix).len(), catalogued + 1);

    let deleted = aval(&prefix, &["topics", "delete", "--yes"]);
    assert_eq!(reported(&deleted, "deleted"), catalogued + 1);
    // The broker removes deleted topics from its metadata asynchronously.
    let started = std::time::Instant::now();
    while !names(&prefix).is_empty() && started.elapsed() < common::DEADLINE {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(names(&prefix).is_empty(), "{:?}", names(&prefix));
    assert_eq!(
        count_soon(other.clone(), catalogued).await,
        catalogued,
        "another prefix's topics stay"
    );
    assert!(
        aval(&other, &["topics", "delete", "--yes"])
            .status
            .success()
    );
}
