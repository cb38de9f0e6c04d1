//! Only checked data decides: a customer's stored facts come from the company's datasets that
//! passed their integrity check (the datasets training uses), never from a rejected upload or
//! one still in progress.

use crate::common::DEADLINE;
use crate::decisions_support::{Decisions, order, request};
use crate::ingest_support::{
    Dataset, complete, create_dataset, get_dataset, upload_all, wait_settled,
};
use aval_topics::records::{DecisionRecord, OrderWire};
use serde_json::json;
use std::time::{Duration, Instant};

/// One customer the training data never saw, with damning facts: a limit far below the order
/// it will ask for and a fresh bureau report with 9 PEFIN records.
fn damning_facts(customer: &str) -> Dataset {
    let mut data = Dataset::new(1, 0);
    data.customers[0]["id"] = json!(customer);
    data.credit_limits[0]["customer_id"] = json!(customer);
    data.credit_limits[0]["limit"] = json!("1000.00");
    let report = &mut data.bureau_reports[0];
    report["customer_id"] = json!(customer);
    report["queried_at"] = json!("2025-01-10T10:00:00Z");
    report["negatives"] = json!({"pefin": {"count": 9, "total": "90000.00"}});
    data
}

/// Orders with both outcomes, so the dataset can pass its checks.
fn with_orders(mut data: Dataset, customer: &str) -> Dataset {
    for (n, outcome) in ["approved", "blocked"].into_iter().enumerate() {
        data.orders.push(json!({
            "id": format!("{customer}-O{n}"), "customer_id": customer,
            "issued_at": format!("2025-02-0{}T12:00:00Z", n + 1), "amount": "30000.00",
            "outcome": outcome
        }));
    }
    data
}

/// Polls until the dataset (still receiving) has stored every item of `data`.
async fn wait_stored(decisions: &Decisions, token: &str, dataset: &str, data: &Dataset) {
    let started = Instant::now();
    loop {
        let (_, view) = get_dataset(decisions.gateway(), token, dataset).await;
        if view["counts"]["stored"] == data.counts() {
            assert_eq!(view["status"], "receiving", "{view}");
            return;
        }
        assert!(started.elapsed() < DEADLINE, "never stored: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The features of a decision's reasons, with their values: what the model was given.
fn reasons(decision: &DecisionRecord) -> Vec<(String, Option<String>)> {
    decision
        .reasons
        .iter()
        .map(|r| (r.feature.clone(), r.value.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_datasets_that_passed_their_checks_steer_decisions() {
    let pipeline = Decisions::start().await;
    let (company, token) = pipeline.trained_company().await;
    let gateway = pipeline.gateway();

    // The same damning facts for three new customers, each in a dataset of its own: one
    // rejected (it holds no orders), one still receiving, one ready.
    let rejected = create_dataset(gateway, &token).await;
    let data = damning_facts("NEW-REJECTED");
    upload_all(gateway, &token, &rejected, &data, 500).await;
    assert_eq!(
        complete(gateway, &token, &rejected, &data.counts()).await.0,
        202
    );
    let view = wait_settled(gateway, &token, &rejected, DEADLINE).await;
    assert_eq!(view["status"], "rejected", "{view}");

    let receiving = create_dataset(gateway, &token).await;
    let data = damning_facts("NEW-RECEIVING");
    upload_all(gateway, &token, &receiving, &data, 500).await;
    wait_stored(&pipeline, &token, &receiving, &data).await;

    let ready = create_dataset(gateway, &token).await;
    let data = with_orders(damning_facts("NEW-READY"), "NEW-READY");
    upload_all(gateway, &token, &ready, &data, 500).await;
    assert_eq!(
        complete(gateway, &token, &ready, &data.counts()).await.0,
        202
    );
    let view = wait_settled(gateway, &token, &ready, DEADLINE).await;
    // Ready, or already past it: the trainer takes the new dataset up at once, and its two
    // orders are too few to train on (failed). Every one of these counts as checked.
    assert!(
        matches!(
            view["status"].as_str(),
            Some("ready" | "training" | "trained" | "failed")
        ),
        "{view}"
    );

    // The same large order, at the same time, for each of them and for a customer nothing
    // was ever uploaded about.
    let issued_at = chrono::Utc::now().timestamp_millis() - 60_000;
    let large = |customer: &str| -> OrderWire {
        let mut o = order(&format!("{customer}-ASK"), customer, 4_000_000);
        o.issued_at = issued_at;
        o
    };
    let mut decided = std::collections::HashMap::new();
    for customer in ["NEW-NOTHING", "NEW-REJECTED", "NEW-RECEIVING", "NEW-READY"] {
        let decision = pipeline
            .decide(&token, &request(&company, large(customer), None))
            .await;
        decided.insert(customer, decision);
    }
    let unknown = &decided["NEW-NOTHING"];
    for unchecked in ["NEW-REJECTED", "NEW-RECEIVING"] {
        let decision = &decided[unchecked];
        assert_eq!(
            decision.probability, unknown.probability,
            "{unchecked}'s facts steered the decision: {decision:?}"
        );
        assert_eq!(reasons(decision), reasons(unknown), "{unchecked}");
    }
    let checked = &decided["NEW-READY"];
    assert_ne!(
        checked.probability, unknown.probability,
        "the ready dataset's facts are used: {checked:?}"
    );
    assert_ne!(reasons(checked), reasons(unknown));
    println!(
        "p(no facts) = {}, p(ready facts) = {}; reasons with ready facts: {:?}",
        unknown.probability,
        checked.probability,
        reasons(checked)
    );
    pipeline.pipeline.stop().await;
}
