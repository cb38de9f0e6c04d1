//! Comparing versions against the real stack: versions are judged only on orders none of them
//! trained on, and a comparison with too few such orders is refused with the count.

use crate::ingest_support::{Dataset, complete, create_dataset, upload_all};
use crate::training::{Pipeline, get, learnable, post, wait_trained, wait_versions};
use serde_json::{Value, json};

/// Uploads `data` as a new dataset and waits for the version its completion trains.
async fn upload_and_train(
    gateway: &crate::common::Gateway,
    token: &str,
    data: &Dataset,
) -> (String, i64) {
    let dataset = create_dataset(gateway, token).await;
    upload_all(gateway, token, &dataset, data, 500).await;
    assert_eq!(
        complete(gateway, token, &dataset, &data.counts()).await.0,
        202
    );
    let trained = wait_trained(gateway, token, &dataset).await;
    assert_eq!(trained["status"], "trained", "{trained}");
    let version = trained["model_version"].as_i64().expect("a version");
    (dataset, version)
}

/// A version's metrics, as `GET /v1/models/{version}` gives them.
async fn metrics(gateway: &crate::common::Gateway, token: &str, version: i64) -> Value {
    let (status, model) = get(gateway, token, &format!("/v1/models/{version}")).await;
    assert_eq!(status, 200, "{model}");
    model["metrics"].clone()
}

fn count(value: &Value) -> u64 {
    value.as_u64().expect("a count")
}

/// (approved, blocked) among the orders a confusion matrix covers.
fn outcomes(confusion: &Value) -> (u64, u64) {
    (
        count(&confusion["approved_predicted_approved"])
            + count(&confusion["approved_predicted_blocked"]),
        count(&confusion["blocked_predicted_approved"])
            + count(&confusion["blocked_predicted_blocked"]),
    )
}

/// `data` under other customer and order ids (`D…`, `P…`), its orders dated in March 2024:
/// before every order of `learnable`, after its credit limits and bureau reports.
fn other_customers_earlier(mut data: Dataset) -> Dataset {
    let rename = |value: &mut Value, from: char, to: char| {
        let renamed = value
            .as_str()
            .expect("an id")
            .replacen(from, &to.to_string(), 1);
        *value = json!(renamed);
    };
    for customer in &mut data.customers {
        rename(&mut customer["id"], 'C', 'D');
    }
    for item in data
        .credit_limits
        .iter_mut()
        .chain(&mut data.bureau_reports)
    {
        rename(&mut item["customer_id"], 'C', 'D');
    }
    for order in &mut data.orders {
        rename(&mut order["customer_id"], 'C', 'D');
        rename(&mut order["id"], 'O', 'P');
        let nth: u32 = order["id"]
            .as_str()
            .expect("id")
            .rsplit('-')
            .next()
            .expect("nth")
            .parse()
            .expect("a number");
        order["issued_at"] = json!(format!("2024-03-{:02}T12:00:00Z", 10 + nth));
    }
    data
}

/// Version 1 trains on dataset A; version 3 on A with an older dataset B, so its holdout (the
/// newest fifth of both) is twice version 1's and holds orders version 1 trained on. Only
/// version 1's holdout is fair to both: the comparison is on exactly those orders, and
/// version 1 scores on them what it scored at training.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_compared_only_on_orders_none_of_them_trained_on() {
    let pipeline = Pipeline::start().await;
    let gateway = pipeline.gateway.clone();
    let (_, token) = gateway.register().await;
    let (a, v1) = upload_and_train(&gateway, &token, &learnable(200, 8)).await;
    let (b, v2) = upload_and_train(
        &gateway,
        &token,
        &other_customers_earlier(learnable(200, 8)),
    )
    .await;
    let (status, body) = post(
        &gateway,
        &token,
        "/v1/models/retrain",
        json!({"dataset_ids": [a, b]}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let list = wait_versions(&gateway, &token, 3).await;
    let v3 = list["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["dataset_ids"].as_array().is_some_and(|d| d.len() == 2))
        .and_then(|m| m["version"].as_i64())
        .expect("the version trained on both datasets");
    let (m1, m2, m3) = (
        metrics(&gateway, &token, v1).await,
        metrics(&gateway, &token, v2).await,
        metrics(&gateway, &token, v3).await,
    );
    let held = |m: &Value| count(&m["holdout_examples"]);
    let fitted = |m: &Value| count(&m["training_examples"]);
    assert_eq!(
        (held(&m1), held(&m3)),
        (320, 640),
        "version 3 holds out the newest 640 orders of A, 320 of which version 1 trained on"
    );

    let (status, comparison) = get(
        &gateway,
        &token,
        &format!("/v1/models/compare?versions={v1},{v3}"),
    )
    .await;
    assert_eq!(status, 200, "{comparison}");
    assert_eq!(
        count(&comparison["examples"]),
        held(&m1),
        "only version 1's holdout is unseen by both: {comparison}"
    );
    assert_eq!(count(&comparison["excluded"]), 3200 - held(&m1));
    let (approved, blocked) = outcomes(&m1["holdout"]["confusion"]);
    assert_eq!(
        (
            count(&comparison["approved"]),
            count(&comparison["blocked"])
        ),
        (approved, blocked)
    );
    let compared = comparison["versions"].as_array().expect("versions");
    assert_eq!(compared[0]["version"], v1);
    assert_eq!(compared[1]["version"], v3);
    assert_eq!(count(&compared[0]["trained_on"]), fitted(&m1));
    assert_eq!(count(&compared[1]["trained_on"]), fitted(&m3));
    // The same orders with the same features: version 1 scores what it scored on its holdout.
    let own = &m1["holdout"];
    let again = &compared[0]["evaluation"];
    assert_eq!(again["confusion"], own["confusion"]);
    let auc = |e: &Value| e["roc_auc"].as_f64().expect("auc");
    assert!((auc(again) - auc(own)).abs() < 1e-9, "{again} vs {own}");
    assert_eq!(
        compared[1]["evaluation"]["examples"],
        comparison["examples"]
    );

    // Version 2 never saw A: all of version 3's holdout is unseen by both.
    let (status, comparison) = get(
        &gateway,
        &token,
        &format!("/v1/models/compare?versions={v2},{v3}"),
    )
    .await;
    assert_eq!(status, 200, "{comparison}");
    assert_eq!(count(&comparison["examples"]), held(&m3), "{comparison}");
    assert_eq!(count(&comparison["excluded"]), 3200 - held(&m3));
    let trained: Vec<u64> = comparison["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| count(&v["trained_on"]))
        .collect();
    assert_eq!(trained, [fitted(&m2), fitted(&m3)]);
    pipeline.stop().await;
}

/// Version 2 trains on version 1's holdout alone: of the 160 orders version 1 never saw, it
/// trains on 128 and holds out the newest 32, nearly all approved. Too few of each outcome
/// remain to judge by, and the refusal says how many.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comparison_with_too_few_unseen_orders_is_refused_with_the_count() {
    let pipeline = Pipeline::start().await;
    let gateway = pipeline.gateway.clone();
    let (_, token) = gateway.register().await;
    let first = learnable(100, 8);
    let (_, v1) = upload_and_train(&gateway, &token, &first).await;
    let m1 = metrics(&gateway, &token, v1).await;
    let held = count(&m1["holdout_examples"]) as usize;
    assert_eq!(held, 160);
    // Version 1's holdout: its newest orders, by issue time then id.
    let mut newest = first.orders.clone();
    newest.sort_by_key(|o| (o["issued_at"].to_string(), o["id"].to_string()));
    let again = Dataset {
        orders: newest.split_off(newest.len() - held),
        ..first
    };
    let (_, v2) = upload_and_train(&gateway, &token, &again).await;
    let m2 = metrics(&gateway, &token, v2).await;
    let (approved, blocked) = outcomes(&m2["holdout"]["confusion"]);
    assert_eq!(count(&m2["holdout_examples"]), 32);
    assert!(
        blocked < 10,
        "the newest orders are nearly all approved: {m2}"
    );

    let (status, problem) = get(
        &gateway,
        &token,
        &format!("/v1/models/compare?versions={v1},{v2}"),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/conflict");
    assert_eq!(problem["errors"][0]["field"], "versions");
    let detail = problem["detail"].as_str().expect("detail");
    let expected = format!(
        "only 32 orders remain that none of versions {v1}, {v2} trained on ({approved} approved, {blocked} blocked; 768 more were left out because a version trained on them); a comparison needs at least 10 of each outcome"
    );
    assert_eq!(detail, expected);
    assert_eq!(problem["errors"][0]["reason"], expected);
    pipeline.stop().await;
}
