//! Training against the real stack: a completed upload trains a model version with its
//! metrics; retraining makes another; versions compare on orders neither trained on and
//! re-activate.

use crate::common::{self, DEADLINE, Gateway};
use crate::ingest_support::{
    Dataset, complete, create_dataset, get_dataset, ingest_processor, upload_all,
};
use aval_core::model::TrainingOptions;
use aval_processors::train::TrainProcessor;
use aval_topics::Catalogue;
use aval_topics::TopicRole;
use aval_topics::admin::TopicAdmin;
use aval_topics::records::ModelActivationRecord;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Training a few thousand orders takes seconds; a generous bound for a loaded CI machine.
const TRAINING_DEADLINE: Duration = Duration::from_secs(240);

/// A pipeline of its own (topics under a fresh prefix, gateway, ingest and train processors),
/// so training starts from an empty request topic, whatever earlier runs left behind.
pub struct Pipeline {
    pub gateway: Gateway,
    pub catalogue: Arc<Catalogue>,
    pub stop: CancellationToken,
}

impl Pipeline {
    pub async fn start() -> Self {
        let prefix = format!("train-{}.", uuid::Uuid::new_v4().simple());
        let catalogue = Arc::new(Catalogue::new(&prefix, 1));
        TopicAdmin::new(&common::stack().kafka(), Duration::from_secs(10))
            .expect("admin")
            .apply(&catalogue, &common::codec())
            .await
            .expect("topics");
        let mut state = common::app_state(&common::stack().schema_registry_url).await;
        state.catalogue = catalogue.clone();
        let gateway = Gateway::start_with(state).await;
        let stop = CancellationToken::new();
        let ingest = ingest_processor(catalogue.clone(), &format!("{prefix}ingest")).await;
        tokio::spawn(ingest.run(stop.clone().cancelled_owned()));
        let w = common::wiring(&catalogue, &format!("{prefix}train"), "train").await;
        let train = TrainProcessor {
            consumer: w.consumer,
            dead_letters: w.dead_letters,
            catalogue: catalogue.clone(),
            codec: w.codec,
            store: w.store,
            publisher: w.publisher,
            parallelism: 2,
            options: TrainingOptions::default(),
        };
        tokio::spawn(train.run(stop.clone().cancelled_owned()));
        Self {
            gateway,
            catalogue,
            stop,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let admin: AdminClient<DefaultClientContext> = common::stack()
            .kafka()
            .client_config()
            .create()
            .expect("admin");
        // The companies' own decisions topics too (`<decisions topic>.<company id>`), which
        // the scorer created at their first decisions.
        let own = self.catalogue.company_decisions_prefix();
        let existing = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        let names: Vec<&str> = self
            .catalogue
            .topics()
            .iter()
            .map(|t| t.name.as_str())
            .chain(
                existing
                    .topics()
                    .iter()
                    .map(|t| t.name())
                    .filter(|name| name.starts_with(&own)),
            )
            .collect();
        admin
            .delete_topics(&names, &AdminOptions::new())
            .await
            .expect("clean up");
    }
}

pub async fn get(gateway: &Gateway, token: &str, path: &str) -> (u16, Value) {
    let response = gateway
        .http
        .get(gateway.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn post(gateway: &Gateway, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = gateway
        .http
        .post(gateway.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls until the dataset reaches `trained` or `failed`.
pub async fn wait_trained(gateway: &Gateway, token: &str, dataset: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, view) = get_dataset(gateway, token, dataset).await;
        if matches!(
            view["status"].as_str(),
            Some("trained" | "failed" | "rejected")
        ) {
            return view;
        }
        assert!(
            started.elapsed() < TRAINING_DEADLINE,
            "dataset not trained in time: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn wait_versions(gateway: &Gateway, token: &str, count: usize) -> Value {
    let started = Instant::now();
    loop {
        let (status, list) = get(gateway, token, "/v1/models").await;
        assert_eq!(status, 200, "{list}");
        if list["models"].as_array().is_some_and(|m| m.len() >= count) {
            return list;
        }
        assert!(
            started.elapsed() < TRAINING_DEADLINE,
            "{count} versions never appeared: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The model list once `version` is the active one.
pub async fn wait_active(gateway: &Gateway, token: &str, version: i32) -> Value {
    let started = Instant::now();
    loop {
        let (status, list) = get(gateway, token, "/v1/models").await;
        assert_eq!(status, 200, "{list}");
        if list["active_version"] == version {
            return list;
        }
        assert!(
            started.elapsed() < TRAINING_DEADLINE,
            "version {version} never became active: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A dataset whose outcomes follow a learnable rule: blocked when the order is large against
/// the customer's limit and the customer has PEFIN records, with one outcome in 11 flipped.
pub fn learnable(customers: usize, orders_each: usize) -> Dataset {
    let mut data = Dataset::new(customers, orders_each);
    for (n, order) in data.orders.iter_mut().enumerate() {
        let customer: usize = order["customer_id"].as_str().expect("id")[1..]
            .parse()
            .expect("number");
        let risky = !customer.is_multiple_of(3); // the helper gives customer i `i % 3` PEFIN records
        let large = n.is_multiple_of(2);
        order["amount"] = json!(if large { "40000.00" } else { "2000.00" });
        let noise = n.is_multiple_of(11);
        let blocked = (risky && large) != noise;
        order["outcome"] = json!(if blocked { "blocked" } else { "approved" });
    }
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_trains_a_version_then_retraining_comparison_and_activation_work() {
    let pipeline = Pipeline::start().await;
    let gateway = pipeline.gateway.clone();
    let (company, token) = gateway.register().await;
    assert_eq!(
        get(&gateway, &token, "/v1/models").await.1["models"],
        json!([])
    );

    let dataset = create_dataset(&gateway, &token).await;
    let data = learnable(200, 8);
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );
    let trained = wait_trained(&gateway, &token, &dataset).await;
    assert_eq!(trained["status"], "trained", "{trained}");
    assert_eq!(trained["model_version"], 1);

    // The version is listed once stored; it is activated just after.
    let list = wait_active(&gateway, &token, 1).await;
    assert_eq!(
        list["active_version"], 1,
        "the first version activates itself"
    );
    let (status, model) = get(&gateway, &token, "/v1/models/1").await;
    assert_eq!(status, 200);
    let holdout = &model["metrics"]["holdout"];
    let confusion = &holdout["confusion"];
    let cells: u64 = [
        "approved_predicted_approved",
        "approved_predicted_blocked",
        "blocked_predicted_approved",
        "blocked_predicted_blocked",
    ]
    .iter()
    .map(|k| confusion[k].as_u64().expect("cell"))
    .sum();
    assert_eq!(
        cells,
        holdout["examples"].as_u64().expect("examples"),
        "the confusion matrix covers the holdout"
    );
    assert_eq!(holdout["examples"], model["metrics"]["holdout_examples"]);
    for metric in [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "ks",
        "brier",
    ] {
        let value = holdout[metric].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&value), "{metric} = {value}");
    }
    assert!(
        holdout["roc_auc"].as_f64().expect("auc") > 0.6,
        "the rule is learnable: {holdout}"
    );
    let candidates = model["metrics"]["candidates"]
        .as_array()
        .expect("candidates");
    assert_eq!(
        candidates.len(),
        3,
        "every learner is a candidate: {candidates:?}"
    );
    assert!(
        model["threshold"]
            .as_f64()
            .is_some_and(|t| t > 0.0 && t < 1.0)
    );

    // Point in time, on the stored data: a bureau report dated after an order changes
    // nothing of that order's features.
    let company_id: uuid::Uuid = company.parse().expect("uuid");
    let stored = common::store()
        .await
        .training_data(company_id, &[dataset.parse().expect("uuid")])
        .await
        .expect("training data");
    // The columns training streams the rows into give the same examples as the whole items.
    let columns = common::store()
        .await
        .training_columns(
            company_id,
            &[dataset.parse().expect("uuid")],
            aval_core::outcome::TrainingLabel::CompanyDecision,
            chrono::Utc::now(),
        )
        .await
        .expect("training columns");
    let mut from_columns = Vec::new();
    aval_core::model::for_each_example(&columns, |_, example| from_columns.push(example));
    let mut from_items = aval_core::model::examples(
        &stored.customers,
        &stored.credit_limits,
        &stored.bureau_reports,
        &stored.orders,
    );
    from_columns.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    from_items.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    assert!(from_columns == from_items, "the columns' examples differ");
    let order = stored
        .orders
        .iter()
        .find(|o| o.customer_id == "C00004")
        .expect("an order of C00004")
        .clone();
    let facts =
        |reports: Vec<aval_core::ingest::items::BureauReport>| aval_core::features::CustomerFacts {
            customer: stored
                .customers
                .iter()
                .find(|c| c.id == order.customer_id)
                .cloned(),
            credit_limits: stored
                .credit_limits
                .iter()
                .filter(|l| l.customer_id == order.customer_id)
                .cloned()
                .collect(),
            bureau_reports: reports,
            orders: stored
                .orders
                .iter()
                .filter(|o| o.customer_id == order.customer_id)
                .cloned()
                .collect(),
        };
    let reports: Vec<_> = stored
        .bureau_reports
        .iter()
        .filter(|r| r.customer_id == order.customer_id)
        .cloned()
        .collect();
    let before = aval_core::features::assemble(&order, &facts(reports.clone()));
    let mut later = reports[0].clone();
    later.queried_at = order.issued_at + chrono::Duration::days(1);
    later.score = Some(1);
    let mut with_later = reports;
    with_later.push(later);
    assert_eq!(
        aval_core::features::assemble(&order, &facts(with_later)),
        before,
        "a later report leaked into the features"
    );

    // Retraining on all datasets makes version 2.
    let (status, body) = post(&gateway, &token, "/v1/models/retrain", json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["dataset_ids"], json!([dataset]));
    let list = wait_versions(&gateway, &token, 2).await;
    let versions: Vec<i64> = list["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["version"].as_i64())
        .collect();
    assert_eq!(versions, [2, 1]);

    let (status, comparison) = get(&gateway, &token, "/v1/models/compare?versions=1,2").await;
    assert_eq!(status, 200, "{comparison}");
    // Both trained on the one dataset, split the same way: its holdout is unseen by both.
    let (_, two) = get(&gateway, &token, "/v1/models/2").await;
    assert_eq!(
        comparison["examples"], two["metrics"]["holdout_examples"],
        "{comparison}"
    );
    assert_eq!(comparison["excluded"], two["metrics"]["training_examples"]);
    let compared = comparison["versions"].as_array().expect("versions");
    assert_eq!(compared.len(), 2);
    for entry in compared {
        assert_eq!(
            entry["evaluation"]["examples"], comparison["examples"],
            "the same orders for both"
        );
    }

    // Re-activating the older version works and is announced on the compacted topic.
    let (status, body) = post(&gateway, &token, "/v1/models/1/activate", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get(&gateway, &token, "/v1/models").await.1["active_version"],
        1
    );
    let activations =
        common::consumer_from_start(&pipeline.catalogue.topic(TopicRole::ModelActivations).name);
    let codec = common::codec();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < DEADLINE,
            "no activation of version 1 on the topic"
        );
        let Ok(Ok(message)) = tokio::time::timeout(DEADLINE, activations.recv()).await else {
            continue;
        };
        if message.key() != Some(company.as_bytes()) {
            continue;
        }
        let record: ModelActivationRecord = codec
            .decode(message.payload().expect("payload"))
            .await
            .expect("decode");
        if record.model_version == 1 && record.activated_by.starts_with("company:") {
            break;
        }
    }

    // ... and back again.
    let (status, _) = post(&gateway, &token, "/v1/models/2/activate", json!({})).await;
    assert_eq!(status, 200);
    let list = get(&gateway, &token, "/v1/models").await.1;
    assert_eq!(list["active_version"], 2);
    let (status, one) = get(&gateway, &token, "/v1/models/1").await;
    assert_eq!(
        (status, &one["active"]),
        (200, &json!(false)),
        "version 1 stays readable"
    );

    // Another company sees none of it.
    let (_, intruder) = gateway.register().await;
    assert_eq!(get(&gateway, &intruder, "/v1/models/1").await.0, 404);
    assert_eq!(
        post(&gateway, &intruder, "/v1/models/1/activate", json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        get(&gateway, &intruder, "/v1/models").await.1["models"],
        json!([])
    );
    let (status, _) = post(
        &gateway,
        &intruder,
        "/v1/models/retrain",
        json!({"dataset_ids": [dataset]}),
    )
    .await;
    assert_eq!(status, 409, "another company's dataset is not trainable");
    assert_eq!(get(&gateway, &token, "/v1/models/9").await.0, 404);
    assert_eq!(
        get(&gateway, &token, "/v1/models/compare?versions=1")
            .await
            .0,
        422
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_too_small_to_learn_from_fails_with_the_reason() {
    let pipeline = Pipeline::start().await;
    let gateway = pipeline.gateway.clone();
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(4, 2);
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );
    let view = wait_trained(&gateway, &token, &dataset).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert!(
        view["failure_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{view}"
    );
    assert_eq!(
        get(&gateway, &token, "/v1/models").await.1["models"],
        json!([])
    );
    pipeline.stop().await;
}

fn run_aval(args: &[&str], envs: &[(&str, String)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aval"))
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run aval")
}

/// The hidden rule of `aval synth` is learnable: the chosen model's holdout AUC reaches 0.8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_data_trains_a_model_with_holdout_auc_of_at_least_0_8() {
    let pipeline = Pipeline::start().await;
    let gateway = pipeline.gateway.clone();
    let (_, token) = gateway.register().await;
    let dir = std::env::temp_dir().join(format!("aval-e2e-train-{}", uuid::Uuid::new_v4()));
    let out = dir.to_string_lossy().into_owned();
    let synth = tokio::task::spawn_blocking({
        let out = out.clone();
        move || {
            run_aval(
                &[
                    "synth",
                    "--customers",
                    "600",
                    "--orders",
                    "8000",
                    "--seed",
                    "11",
                    "--out",
                    &out,
                ],
                &[],
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
    let envs = vec![
        ("AVAL_GATEWAY_URL", gateway.base.clone()),
        ("AVAL_TOKEN", token.clone()),
    ];
    let upload = tokio::task::spawn_blocking({
        let out = out.clone();
        move || run_aval(&["upload", &out, "--wait-timeout", "120"], &envs)
    })
    .await
    .expect("join");
    assert!(
        upload.status.success(),
        "{}",
        String::from_utf8_lossy(&upload.stderr)
    );
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(".aval-upload.json")).expect("state"),
    )
    .expect("json");
    let dataset = state["dataset_id"].as_str().expect("dataset").to_owned();
    let trained = wait_trained(&gateway, &token, &dataset).await;
    assert_eq!(trained["status"], "trained", "{trained}");
    let (_, model) = get(
        &gateway,
        &token,
        &format!("/v1/models/{}", trained["model_version"]),
    )
    .await;
    let auc = model["metrics"]["holdout"]["roc_auc"]
        .as_f64()
        .expect("auc");
    assert!(
        auc >= 0.8,
        "holdout AUC {auc} on synthetic data: {}",
        model["metrics"]
    );
    let _ = std::fs::remove_dir_all(&dir);
    pipeline.stop().await;
}

/// A dataset whose orders hold one outcome cannot teach a model: it is refused at completion
/// with the reason, before any training.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_class_dataset_is_refused_with_the_reason() {
    let pipeline = Pipeline::start().await;
    let gateway = pipeline.gateway.clone();
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let mut data = Dataset::new(60, 2);
    for order in &mut data.orders {
        order["outcome"] = json!("approved");
    }
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );
    let view = wait_trained(&gateway, &token, &dataset).await;
    assert_eq!(view["status"], "rejected", "{view}");
    let reasons = view["rejection_reasons"].to_string();
    assert!(
        reasons.contains("both outcomes") || reasons.contains("blocked"),
        "{reasons}"
    );
    assert_eq!(
        get(&gateway, &token, "/v1/models").await.1["models"],
        json!([])
    );
    pipeline.stop().await;
}
