//! The datasets list and the training runs against the real stack: paging without duplicates
//! or gaps, the status filter, another company's view, bad parameters; and a run seen queued
//! or running, then finished with its version, or failed with the reason.

use crate::common::Gateway;
use crate::ingest_support::{Dataset, complete, create_dataset, get_dataset, upload_all};
use crate::training::{Pipeline, get, learnable, post};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const RUN_DEADLINE: Duration = Duration::from_secs(240);

/// Every page of `path` (which has a query already) at `limit` per page, in order.
async fn all_pages(gateway: &Gateway, token: &str, path: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = get(gateway, token, &url).await;
        assert_eq!(status, 200, "{url}: {page}");
        let list = page[key].as_array().expect("a list").clone();
        assert!(list.len() <= 2, "a page holds at most the limit: {page}");
        items.extend(list);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
        assert!(items.len() < 100, "paging never ends");
    }
}

fn ids(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|d| d[key].as_str().expect("an id").to_owned())
        .collect()
}

/// The fields a 422 names.
async fn refused_fields(gateway: &Gateway, token: &str, path: &str) -> Vec<String> {
    let (status, problem) = get(gateway, token, path).await;
    assert_eq!(status, 422, "{path}: {problem}");
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

#[tokio::test]
async fn datasets_page_newest_first_without_duplicates_or_gaps_and_filter_by_status() {
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(create_dataset(&gateway, &token).await);
    }
    // Two completed: `validating` until an ingest processor takes the marker.
    let data = Dataset::new(1, 1);
    for dataset in &created[1..3] {
        assert_eq!(
            complete(&gateway, &token, dataset, &data.counts()).await.0,
            202
        );
    }

    let listed = all_pages(&gateway, &token, "/v1/datasets?limit=2", "datasets").await;
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(ids(&listed, "dataset_id"), newest_first);
    let first = &listed[4];
    assert_eq!(first["status"], "receiving", "{first}");
    assert_eq!(first["training_runs"], json!([]), "{first}");
    assert!(first["counts"]["stored"]["orders"].is_u64(), "{first}");

    // The completed ones may be taken up by any ingest processor of the shared test topics
    // (and rejected: no batch was sent); the others stay `receiving` whatever runs.
    let receiving = all_pages(
        &gateway,
        &token,
        "/v1/datasets?limit=2&status=receiving",
        "datasets",
    )
    .await;
    let expected: Vec<String> = [&created[4], &created[3], &created[0]]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(ids(&receiving, "dataset_id"), expected);
    let (_, ready) = get(&gateway, &token, "/v1/datasets?status=ready").await;
    assert_eq!(ready["datasets"], json!([]), "{ready}");
    let (_, default_page) = get(&gateway, &token, "/v1/datasets").await;
    assert_eq!(default_page["datasets"].as_array().map(Vec::len), Some(5));
    assert!(default_page.get("next_cursor").is_none(), "{default_page}");

    // Another company sees none of them.
    let (_, other) = gateway.register().await;
    let (status, page) = get(&gateway, &other, "/v1/datasets").await;
    assert_eq!((status, &page["datasets"]), (200, &json!([])), "{page}");
    assert_eq!(get_dataset(&gateway, &other, &created[0]).await.0, 404);
    let (status, runs) = get(&gateway, &other, "/v1/models/runs").await;
    assert_eq!((status, &runs["runs"]), (200, &json!([])), "{runs}");

    // Bad parameters: 422 naming each.
    for (path, field) in [
        ("/v1/datasets?limit=0", "limit"),
        ("/v1/datasets?limit=101", "limit"),
        ("/v1/datasets?limit=two", "limit"),
        ("/v1/datasets?status=done", "status"),
        ("/v1/datasets?cursor=zz", "cursor"),
        ("/v1/datasets?order=asc", "order"),
        ("/v1/models/runs?status=training", "status"),
        ("/v1/models/runs?limit=-1", "limit"),
        ("/v1/models/runs?cursor=12", "cursor"),
        ("/v1/models/runs?dataset=x", "dataset"),
    ] {
        let fields = refused_fields(&gateway, &token, path).await;
        assert_eq!(fields, vec![field.to_owned()], "{path}");
    }
    // A cursor of the runs list names no dataset.
    let runs_cursor = hex_cursor("not-a-uuid");
    let fields = refused_fields(
        &gateway,
        &token,
        &format!("/v1/datasets?cursor={runs_cursor}"),
    )
    .await;
    assert_eq!(fields, vec!["cursor".to_owned()]);
}

/// A cursor as the lists make one, around an id of the caller's choosing.
fn hex_cursor(id: &str) -> String {
    format!("{}/{id}", chrono::Utc::now().timestamp_micros())
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a run has ended: failed, or finished and judged (the outcome follows the stored
/// version by a moment).
fn ended(run: &Value) -> bool {
    run["status"] == "failed" || (run["status"] == "finished" && run["outcome"].is_string())
}

/// Polls the dataset until its run ends, keeping every run state seen on the way.
async fn follow_run(gateway: &Gateway, token: &str, dataset: &str) -> (Vec<Value>, Value) {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let (status, view) = get_dataset(gateway, token, dataset).await;
        assert_eq!(status, 200, "{view}");
        if let Some(run) = view["training_runs"].as_array().and_then(|r| r.first()) {
            seen.push(run.clone());
            if ended(run) {
                return (seen, view);
            }
        }
        assert!(
            started.elapsed() < RUN_DEADLINE,
            "the run never ended: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Progress only moves forward while a run is running, within 0..1.
fn progress_moves_forward(seen: &[Value]) {
    let mut last = 0.0;
    for run in seen.iter().filter(|r| r["status"] == "running") {
        let fraction = run["progress"]["fraction"].as_f64().expect("a fraction");
        assert!((0.0..=1.0).contains(&fraction), "{run}");
        assert!(fraction >= last, "progress went back: {run} after {last}");
        assert!(run["progress"]["stage"].is_string(), "{run}");
        assert!(run["started_at"].is_string(), "{run}");
        last = fraction;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_run_is_queued_or_running_then_finished_or_failed_with_the_reason() {
    let pipeline = Pipeline::start().await;
    let gateway = pipeline.gateway.clone();
    let (_, token) = gateway.register().await;
    // The route is not taken as a model version.
    let (status, empty) = get(&gateway, &token, "/v1/models/runs").await;
    assert_eq!((status, &empty["runs"]), (200, &json!([])), "{empty}");

    let dataset = create_dataset(&gateway, &token).await;
    let data = learnable(300, 10);
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );
    let (seen, view) = follow_run(&gateway, &token, &dataset).await;
    assert!(
        seen.iter()
            .any(|r| matches!(r["status"].as_str(), Some("queued" | "running"))),
        "the run was never seen before it ended: {seen:?}"
    );
    progress_moves_forward(&seen);
    let run = &view["training_runs"][0];
    assert_eq!(run["status"], "finished", "{view}");
    assert_eq!(run["model_version"], 1, "{run}");
    assert_eq!(run["outcome"], "activated", "{run}");
    assert_eq!(run["progress"]["fraction"], 1.0, "{run}");
    assert_eq!(run["dataset_ids"], json!([dataset]), "{run}");
    assert!(
        run["finished_at"].is_string() && run["queued_at"].is_string(),
        "{run}"
    );
    assert_eq!(view["status"], "trained", "{view}");
    assert_eq!(view["model_version"], 1, "{view}");

    let (_, runs) = get(&gateway, &token, "/v1/models/runs").await;
    assert_eq!(
        runs["runs"],
        json!([run.clone()]),
        "the same run, the same shape"
    );
    let (_, finished) = get(&gateway, &token, "/v1/models/runs?status=finished").await;
    assert_eq!(
        finished["runs"].as_array().map(Vec::len),
        Some(1),
        "{finished}"
    );
    let (_, queued) = get(&gateway, &token, "/v1/models/runs?status=queued").await;
    assert_eq!(queued["runs"], json!([]), "{queued}");

    // A retrain's run is recorded before the call answers.
    let (status, accepted) = post(&gateway, &token, "/v1/models/retrain", json!({})).await;
    assert_eq!(status, 202, "{accepted}");
    let request = accepted["request_id"]
        .as_str()
        .expect("request id")
        .to_owned();
    let (_, runs) = get(&gateway, &token, "/v1/models/runs?limit=1").await;
    assert_eq!(runs["runs"][0]["request_id"], request.as_str(), "{runs}");
    assert!(runs["next_cursor"].is_string(), "{runs}");
    let started = Instant::now();
    let retrained = loop {
        let (_, runs) = get(&gateway, &token, "/v1/models/runs").await;
        let run = runs["runs"][0].clone();
        assert_eq!(run["request_id"], request.as_str(), "newest first: {runs}");
        if ended(&run) {
            break run;
        }
        assert!(
            started.elapsed() < RUN_DEADLINE,
            "the retrain never ended: {run}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(retrained["status"], "finished", "{retrained}");
    assert_eq!(retrained["model_version"], 2, "{retrained}");
    assert!(
        matches!(
            retrained["outcome"].as_str(),
            Some("activated" | "candidate")
        ),
        "{retrained}"
    );
    let (_, view) = get_dataset(&gateway, &token, &dataset).await;
    assert_eq!(
        ids(
            view["training_runs"].as_array().expect("runs"),
            "request_id"
        ),
        vec![
            request.clone(),
            run["request_id"].as_str().expect("id").to_owned()
        ],
        "the dataset shows both runs, newest first"
    );
    let listed = all_pages(&gateway, &token, "/v1/models/runs?limit=2", "runs").await;
    assert_eq!(listed.len(), 2);

    // Too small to train: the run fails with the dataset's reason.
    let (_, small_token) = gateway.register().await;
    let small = create_dataset(&gateway, &small_token).await;
    let tiny = Dataset::new(4, 2);
    upload_all(&gateway, &small_token, &small, &tiny, 500).await;
    assert_eq!(
        complete(&gateway, &small_token, &small, &tiny.counts())
            .await
            .0,
        202
    );
    let (_, view) = follow_run(&gateway, &small_token, &small).await;
    let failed = &view["training_runs"][0];
    assert_eq!(failed["status"], "failed", "{view}");
    assert_eq!(view["status"], "failed", "{view}");
    assert!(
        failed["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{failed}"
    );
    assert_eq!(failed["reason"], view["failure_reason"], "{view}");
    assert!(failed.get("model_version").is_none(), "{failed}");
    let (_, runs) = get(&gateway, &small_token, "/v1/models/runs?status=failed").await;
    assert_eq!(runs["runs"], json!([failed.clone()]), "{runs}");

    // Neither company sees the other's runs or datasets.
    let (_, theirs) = get(&gateway, &small_token, "/v1/models/runs?status=finished").await;
    assert_eq!(theirs["runs"], json!([]), "{theirs}");
    assert_eq!(get_dataset(&gateway, &small_token, &dataset).await.0, 404);
    pipeline.stop().await;
}
