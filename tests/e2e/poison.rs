//! Poison pills: a batch that passes validation but whose insert fails (a trigger raises an
//! error for one order id). A data exception (as a NUL byte once raised) is the record's
//! fault; an internal error is a defect of ours, retried a few times. Either way the batch
//! ends in the dead-letter topic with its reason and the next clean batch on the same
//! partition is stored within seconds.

use crate::common::{self, DEADLINE, metric};
use crate::decisions_support::dead_reason;
use crate::faults::{ingest_pipeline, start_ingest};
use crate::ingest_support::{
    Dataset, batch_record, create_dataset, get_dataset, post_batch, produce_direct_to, stored_rows,
};
use aval_core::ingest::items::ItemKind;
use aval_topics::{TopicRole, keys};
use rdkafka::Message;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_batch_the_database_refuses_is_dead_lettered_and_the_partition_moves_on() {
    let applied =
        || metric("aval_processor_phase_seconds_count{processor=\"ingest\",phase=\"apply\"}");
    let before = applied();
    let (reason, view) = poisoned_batch("22023").await;
    assert!(
        applied() > before,
        "the clean batch's write is timed on /metrics"
    );
    assert!(
        reason.contains("the database refused the batch") && reason.contains("poisoned order"),
        "{reason}"
    );
    assert!(
        view.to_string().contains("\"rejected_batches\":1"),
        "the dataset counts the refused batch: {view}"
    );
}

#[tokio::test]
async fn a_batch_that_hits_a_defect_is_dead_lettered_after_a_few_attempts() {
    let defects = || metric("aval_processor_defects_total{processor=\"ingest\"}");
    let before = defects();
    let (reason, _) = poisoned_batch("XX000").await;
    assert!(
        reason.starts_with("defect: database:") && reason.contains("poisoned order"),
        "{reason}"
    );
    assert!(
        defects() >= before + 3.0,
        "three attempts counted as defects"
    );
}

/// Sends a batch with one order whose insert raises `errcode`, then a clean batch to the same
/// partition; returns the dead letter's reason and the dataset's view once the clean batch is
/// stored.
async fn poisoned_batch(errcode: &str) -> (String, serde_json::Value) {
    let (gateway, catalogue, _) = ingest_pipeline().await;
    let (company, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(20, 2);
    let poison_id = format!("POISON-{}", uuid::Uuid::new_v4().simple());
    let mut poisoned = data.orders[..10].to_vec();
    poisoned[3]["id"] = poison_id.clone().into();
    let clean = &data.orders[10..];

    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let name = format!("e2e_poison_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.id = '{poison_id}' THEN
             RAISE EXCEPTION 'poisoned order' USING ERRCODE = '{errcode}';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER {name} BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION {name}();"
    )))
    .execute(&pool)
    .await
    .expect("poison trigger");

    let stop = start_ingest(&catalogue, aval_core::Outages::default()).await;

    let (status, body) = post_batch(
        &gateway,
        &token,
        &dataset,
        "orders",
        &poisoned,
        Some("poison"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // The gateway spreads batches over the partitions: the clean one goes straight to the
    // poisoned one's, as a company's own producer may send it.
    let topic = catalogue.topic(TopicRole::Ingest);
    let partition = partition_of(&topic.name, &keys::spread_key(&company, "poison")).await;
    let record = batch_record(&company, &dataset, "clean", ItemKind::Orders, clean);
    let bearer = format!("Bearer {token}");
    let key = keys::spread_key(&company, "clean");
    produce_direct_to(topic, &record, Some(&bearer), &key, Some(partition)).await;
    let started = Instant::now();
    while stored_rows(&dataset).await[1] < clean.len() as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the clean batch after the poisoned one was not stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "poison pill: the clean batch was stored {:.2} s after it was sent",
        started.elapsed().as_secs_f64()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TRIGGER {name} ON orders; DROP FUNCTION {name}();"
    )))
    .execute(&pool)
    .await
    .expect("drop the trigger");
    assert_eq!(
        stored_rows(&dataset).await[1],
        clean.len() as i64,
        "only the clean batch"
    );

    let consumer = common::consumer_from_start(&catalogue.topic(TopicRole::DeadLetters).name);
    let message = tokio::time::timeout(DEADLINE, consumer.recv())
        .await
        .expect("a dead letter")
        .expect("consume");
    let reason = dead_reason(&message);
    let (_, view) = get_dataset(&gateway, &token, &dataset).await;
    stop.cancel();
    (reason, view)
}

/// The partition of `topic` the record under `key` went to.
async fn partition_of(topic: &str, key: &str) -> i32 {
    let consumer = common::consumer_from_start(topic);
    loop {
        let message = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("the record on its topic")
            .expect("consume");
        if message.key() == Some(key.as_bytes()) {
            return message.partition();
        }
    }
}
