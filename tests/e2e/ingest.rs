//! Dataset ingest against the real stack: HTTP and direct-Kafka uploads, idempotent sinking,
//! completion, dead letters and tenant isolation.

use crate::common::{self, DEADLINE, Gateway};
use crate::ingest_support::{
    Dataset, batch_record, complete, create_dataset, ensure_ingest_processor, get_dataset,
    post_batch, produce_direct, produce_direct_to, stored_rows, upload_all, wait_settled,
};
use aval_core::ingest::items::{CompletionMarker, ItemKind};
use aval_processors::dead_letters;
use aval_topics::records::IngestRecord;
use aval_topics::{TopicRole, keys};
use rdkafka::Message;
use rdkafka::message::Headers;
use serde_json::{Value, json};
use std::time::Instant;

#[tokio::test]
async fn an_http_upload_is_stored_exactly_and_becomes_ready() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(120, 5);
    upload_all(&gateway, &token, &dataset, &data, 50).await;
    // A retried batch (same Idempotency-Key) is stored once.
    let (status, _) = post_batch(
        &gateway,
        &token,
        &dataset,
        "orders",
        &data.orders[..50],
        Some("orders-0"),
    )
    .await;
    assert_eq!(status, 202);
    let (status, body) = complete(&gateway, &token, &dataset, &data.counts()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "validating");

    let settled = wait_settled(&gateway, &token, &dataset, DEADLINE).await;
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(settled["counts"]["stored"], data.counts());
    assert_eq!(settled["announced"], data.counts());
    assert_eq!(stored_rows(&dataset).await, [120, 600, 120, 120]);

    // Values survive the trip: one order and one report read back from PostgreSQL.
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let (amount, outcome, channel): (i64, String, String) = sqlx::query_as(
        "SELECT amount_cents, outcome, attributes->>'channel' FROM orders WHERE dataset_id = $1::uuid AND id = 'O00001-2'",
    )
    .bind(&dataset)
    .fetch_one(&pool)
    .await
    .expect("order row");
    assert_eq!(
        (amount, outcome.as_str(), channel.as_str()),
        (100_300, "approved", "sales-rep")
    );
    let (pefin_total,): (Option<i64>,) = sqlx::query_as(
        "SELECT (negatives->'pefin'->>'total')::bigint FROM bureau_reports WHERE dataset_id = $1::uuid AND customer_id = 'C00002'",
    )
    .bind(&dataset)
    .fetch_one(&pool)
    .await
    .expect("report row");
    assert_eq!(pefin_total, Some(240_000));

    // After completion the dataset takes no more batches.
    let (status, _) = post_batch(
        &gateway,
        &token,
        &dataset,
        "orders",
        &data.orders[..1],
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = complete(&gateway, &token, &dataset, &data.counts()).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_marker_announcing_more_than_arrived_rejects_the_dataset_with_every_reason() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let mut data = Dataset::new(20, 2);
    // An order of a customer the dataset lacks.
    data.orders.push(json!({"id": "orphan", "customer_id": "nobody", "issued_at": "2024-05-01T00:00:00Z", "amount": 10, "outcome": "approved"}));
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    let mut announced = data.counts();
    announced["orders"] = json!(data.orders.len() + 7);
    let (status, _) = complete(&gateway, &token, &dataset, &announced).await;
    assert_eq!(status, 202);
    let settled = wait_settled(&gateway, &token, &dataset, DEADLINE).await;
    assert_eq!(settled["status"], "rejected");
    let reasons: Vec<&str> = settled["rejection_reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("48") && r.contains("41")),
        "count reason missing: {reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("orphan")),
        "orphan reason missing: {reasons:?}"
    );
}

#[tokio::test]
async fn batches_over_the_limit_and_invalid_items_are_refused_whole() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(501, 0);
    let (status, body) = post_batch(
        &gateway,
        &token,
        &dataset,
        "customers",
        &data.customers,
        None,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("500")),
        "{body}"
    );

    // Three bad items among good ones: all three reported, nothing stored.
    let mut items = data.customers[..10].to_vec();
    items[2]["document"] = json!("11222333000182");
    items[5]["state"] = json!("XX");
    items[7]["attributes"] = json!({"Bad Key": 1});
    let (status, body) = post_batch(&gateway, &token, &dataset, "customers", &items, None).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(fields.contains(&"items[2].document"), "{fields:?}");
    assert!(fields.contains(&"items[5].state"), "{fields:?}");
    assert!(
        fields.iter().any(|f| f.starts_with("items[7].attributes")),
        "{fields:?}"
    );
    let (_, view) = get_dataset(&gateway, &token, &dataset).await;
    assert_eq!(view["counts"]["received"]["customers"], 0);
    assert_eq!(stored_rows(&dataset).await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn another_company_s_dataset_does_not_exist_for_you() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (_, owner) = gateway.register().await;
    let (_, intruder) = gateway.register().await;
    let dataset = create_dataset(&gateway, &owner).await;
    let data = Dataset::new(3, 1);
    let missing = uuid::Uuid::new_v4().to_string();
    for id in [dataset.as_str(), missing.as_str(), "not-a-uuid"] {
        assert_eq!(get_dataset(&gateway, &intruder, id).await.0, 404, "{id}");
        assert_eq!(
            post_batch(&gateway, &intruder, id, "customers", &data.customers, None)
                .await
                .0,
            404,
            "{id}"
        );
        assert_eq!(
            complete(&gateway, &intruder, id, &data.counts()).await.0,
            404,
            "{id}"
        );
    }
    assert_eq!(get_dataset(&gateway, &owner, &dataset).await.0, 200);
    assert_eq!(stored_rows(&dataset).await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn straight_over_kafka_with_redelivery_and_without_duplicates() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (company, token) = gateway.register().await;
    // A dataset id the producer made up: the first batch opens it.
    let dataset = uuid::Uuid::new_v4().to_string();
    let data = Dataset::new(30, 2);
    let bearer = format!("Bearer {token}");
    let kinds = [
        (ItemKind::Customers, &data.customers),
        (ItemKind::CreditLimits, &data.credit_limits),
        (ItemKind::BureauReports, &data.bureau_reports),
        (ItemKind::Orders, &data.orders),
    ];
    for (kind, items) in kinds {
        let record = batch_record(
            &company,
            &dataset,
            &format!("direct-{}", kind.as_str()),
            kind,
            items,
        );
        produce_direct(&record, Some(&bearer)).await;
        // A producer retry: the same batch id again.
        produce_direct(&record, Some(&bearer)).await;
    }
    let counts = aval_core::ingest::validate_counts(&data.counts()).expect("counts");
    let marker = IngestRecord::completion(
        &company,
        &dataset,
        "direct-completion",
        chrono::Utc::now(),
        &CompletionMarker { counts, copies: 1 },
    );
    produce_direct(&marker, Some(&bearer)).await;
    produce_direct(&marker, Some(&bearer)).await;

    // The dataset exists once the ingest processor has stored the first batch.
    let started = std::time::Instant::now();
    while get_dataset(&gateway, &token, &dataset).await.0 == 404 {
        assert!(
            started.elapsed() < DEADLINE,
            "the first batch never opened the dataset"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let settled = wait_settled(&gateway, &token, &dataset, DEADLINE).await;
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(stored_rows(&dataset).await, [30, 60, 30, 30]);
    assert_eq!(
        settled["counts"]["received"],
        data.counts(),
        "a redelivered batch was counted twice"
    );
}

/// A producer that spreads its batches over the partitions sends a copy of the marker to
/// each: the dataset completes only once every copy was read, so after every batch.
#[tokio::test]
async fn spread_batches_complete_once_a_copy_of_the_marker_was_read_from_every_partition() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (company, token) = gateway.register().await;
    let dataset = uuid::Uuid::new_v4().to_string();
    let data = Dataset::new(40, 3);
    let bearer = format!("Bearer {token}");
    let catalogue = common::catalogue().await;
    let topic = catalogue.topic(TopicRole::Ingest);
    let partitions = topic.partitions;
    let kinds = [
        (ItemKind::Customers, &data.customers),
        (ItemKind::CreditLimits, &data.credit_limits),
        (ItemKind::BureauReports, &data.bureau_reports),
        (ItemKind::Orders, &data.orders),
    ];
    let mut used = std::collections::HashSet::new();
    for (kind, items) in kinds {
        for (i, chunk) in items.chunks(10).enumerate() {
            let batch_id = format!("{}-{i}", kind.as_str());
            let record = batch_record(&company, &dataset, &batch_id, kind, chunk);
            // Every partition gets batches, in turn.
            let partition = i32::try_from(used.len()).expect("fits") % partitions;
            used.insert(batch_id.clone());
            produce_direct_to(
                topic,
                &record,
                Some(&bearer),
                &keys::spread_key(&company, &batch_id),
                Some(partition),
            )
            .await;
        }
    }
    let counts = aval_core::ingest::validate_counts(&data.counts()).expect("counts");
    let copies = u32::try_from(partitions).expect("fits");
    let marker = IngestRecord::completion(
        &company,
        &dataset,
        "spread-completion",
        chrono::Utc::now(),
        &CompletionMarker { counts, copies },
    );
    // Every copy but the last, one of them twice (a producer retry).
    for partition in (0..partitions - 1).chain([0]) {
        produce_direct_to(topic, &marker, Some(&bearer), &company, Some(partition)).await;
    }
    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let started = std::time::Instant::now();
    loop {
        let (read,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM completion_marker_copies WHERE dataset_id = $1::uuid",
        )
        .bind(&dataset)
        .fetch_one(&pool)
        .await
        .expect("copies");
        if read == i64::from(partitions - 1) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{read} copies read");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, view) = get_dataset(&gateway, &token, &dataset).await;
    assert_eq!(
        view["status"], "receiving",
        "not complete before the last copy: {view}"
    );

    produce_direct_to(
        topic,
        &marker,
        Some(&bearer),
        &company,
        Some(partitions - 1),
    )
    .await;
    let settled = wait_settled(&gateway, &token, &dataset, DEADLINE).await;
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(stored_rows(&dataset).await, [40, 120, 40, 40]);
    assert_eq!(settled["counts"]["received"], data.counts());
}

#[tokio::test]
async fn forged_missing_and_foreign_tokens_send_the_record_to_dead_letters_and_store_nothing() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (company, token) = gateway.register().await;
    let (other_company, other_token) = gateway.register().await;
    let own_dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(5, 1);
    let catalogue = common::catalogue().await;
    let dead_letters = common::consumer_from_start(&catalogue.topic(TopicRole::DeadLetters).name);

    let forged = aval_core::token::TokenKeys::new(
        b"not-the-server-secret-not-the-server",
        chrono::Duration::days(1),
    )
    .issue(company.parse().expect("uuid"), chrono::Utc::now())
    .expect("forge");
    let cases: Vec<(String, Option<String>, &str)> = vec![
        (
            uuid::Uuid::new_v4().to_string(),
            Some(format!("Bearer {}", forged.token)),
            "token refused",
        ),
        (
            uuid::Uuid::new_v4().to_string(),
            None,
            "no authorization header",
        ),
        // Company B's token on a record that claims company A.
        (
            uuid::Uuid::new_v4().to_string(),
            Some(format!("Bearer {other_token}")),
            "not the token's company",
        ),
        // Company B writing into company A's dataset, as company B: no such dataset for B.
        (
            own_dataset.clone(),
            Some(format!("Bearer {other_token}")),
            "no such dataset",
        ),
    ];
    let mut expected = Vec::new();
    for (i, (dataset, authorization, reason)) in cases.into_iter().enumerate() {
        let claimed = if i == 3 {
            other_company.clone()
        } else {
            company.clone()
        };
        let batch_id = format!("hostile-{i}-{}", uuid::Uuid::new_v4());
        let record = batch_record(
            &claimed,
            &dataset,
            &batch_id,
            ItemKind::Customers,
            &data.customers,
        );
        produce_direct(&record, authorization.as_deref()).await;
        expected.push((batch_id, dataset, reason));
    }
    // Each hostile record reaches the dead letters with its reason; identify them by offset
    // order within the test: read until all reasons for this company's keys were seen.
    let mut seen: Vec<String> = Vec::new();
    let started = Instant::now();
    while seen.len() < expected.len() {
        assert!(started.elapsed() < DEADLINE, "dead letters seen: {seen:?}");
        let Ok(Ok(message)) = tokio::time::timeout(DEADLINE, dead_letters.recv()).await else {
            continue;
        };
        let key = message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        if key != company && key != other_company {
            continue;
        }
        let headers = message.headers().expect("headers");
        assert!(
            headers
                .iter()
                .all(|h| !h.key.eq_ignore_ascii_case("authorization")),
            "token leaked to dead letters"
        );
        let reason = headers
            .iter()
            .find(|h| h.key == dead_letters::REASON)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .expect("reason");
        seen.push(reason);
    }
    for (_, _, reason) in &expected {
        assert!(
            seen.iter().any(|s| s.contains(reason)),
            "no dead letter saying {reason:?} in {seen:?}"
        );
    }
    for (_, dataset, _) in &expected {
        assert_eq!(stored_rows(dataset).await, [0, 0, 0, 0], "{dataset}");
    }
    let (_, own) = get_dataset(&gateway, &token, &own_dataset).await;
    assert_eq!(
        own["counts"]["received"]["customers"], 0,
        "B's records touched A's dataset"
    );
}

fn run_aval(args: Vec<String>, envs: Vec<(&'static str, String)>) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aval"))
        .args(args)
        .envs(envs)
        .output()
        .expect("run aval")
}

/// The tools users run: `aval synth` writes a dataset, `aval upload` sends it through the real
/// gateway and waits for the verdict; running it again resumes (here: finds it done).
#[tokio::test]
async fn synth_then_upload_gives_a_ready_dataset_and_a_rerun_resumes() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dir = std::env::temp_dir().join(format!("aval-e2e-upload-{}", uuid::Uuid::new_v4()));
    let out = dir.to_string_lossy().into_owned();
    let synth = tokio::task::spawn_blocking({
        let out = out.clone();
        move || {
            run_aval(
                [
                    "synth",
                    "--customers",
                    "150",
                    "--orders",
                    "1500",
                    "--seed",
                    "3",
                    "--out",
                    &out,
                ]
                .map(String::from)
                .to_vec(),
                vec![],
            )
        }
    })
    .await
    .expect("join");
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    let lines = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .expect("file")
            .lines()
            .count()
    };
    let expected = json!({"customers": lines("customers.jsonl"), "orders": lines("orders.jsonl"),
                          "credit_limits": lines("credit_limits.jsonl"), "bureau_reports": lines("bureau_reports.jsonl")});
    let envs = vec![
        ("AVAL_GATEWAY_URL", gateway.base.clone()),
        ("AVAL_TOKEN", token.clone()),
    ];
    let upload = || {
        let (out, envs) = (out.clone(), envs.clone());
        tokio::task::spawn_blocking(move || {
            run_aval(
                ["upload", &out, "--wait-timeout", "120"]
                    .map(String::from)
                    .to_vec(),
                envs,
            )
        })
    };
    let first = upload().await.expect("join");
    assert!(
        first.status.success(),
        "upload failed:\n{}\n{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(".aval-upload.json")).expect("state"),
    )
    .expect("json");
    let dataset = state["dataset_id"].as_str().expect("dataset id").to_owned();
    let (_, view) = get_dataset(&gateway, &token, &dataset).await;
    assert_eq!(view["status"], "ready", "{view}");
    assert_eq!(view["counts"]["stored"], expected);
    assert_eq!(stored_rows(&dataset).await[1], 1500);

    let second = upload().await.expect("join");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let again: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(".aval-upload.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(
        again["dataset_id"], dataset,
        "the rerun must resume the same dataset"
    );
    assert_eq!(
        stored_rows(&dataset).await[1],
        1500,
        "the rerun stored something twice"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
