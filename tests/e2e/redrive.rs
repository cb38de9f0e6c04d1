//! What follows a stored model version is carried out again when its training request comes
//! back: a trainer that stored version 2 and died before activating it leaves the company on
//! version 1 until the request is delivered again, and then ends as a run without the crash
//! would (version 2 active, the scorers told, the audit log complete).

use crate::common::{self, DEADLINE};
use crate::decisions_support::Decisions;
use crate::training::get;
use aval_store::models::{NewModel, TrainingRun};
use aval_topics::TopicRole;
use aval_topics::records::{AuditEventRecord, TrainingRequestRecord};
use chrono::Utc;
use rdkafka::Message;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[tokio::test]
async fn a_version_stored_before_a_crash_is_activated_when_its_request_comes_back() {
    let decisions = Decisions::start().await;
    let (company_id, token) = decisions.trained_company().await;
    let gateway = decisions.gateway();
    let company = Uuid::parse_str(&company_id).expect("company id");
    let store = common::store().await;
    let first = store
        .model(company, 1)
        .await
        .expect("read")
        .expect("version 1");

    // The crash: a request began, its version was stored, and nothing after that happened.
    let request_id = format!("redrive-{}", Uuid::new_v4());
    let started = store
        .begin_training(&request_id, company, &first.dataset_ids, Utc::now())
        .await
        .expect("begin");
    assert_eq!(started, TrainingRun::Started);
    let version = store
        .store_model(&NewModel {
            company_id: company,
            training_request_id: &request_id,
            dataset_ids: &first.dataset_ids,
            learner: &first.learner,
            artifact: &first.artifact,
            threshold: first.threshold,
            metrics: &first.metrics,
            drift_reference: None,
            at: Utc::now(),
        })
        .await
        .expect("store version 2");
    assert_eq!(version, 2);
    assert_eq!(store.active_version(company).await.expect("read"), Some(1));

    // The request is delivered again.
    let request = TrainingRequestRecord {
        request_id: request_id.clone(),
        company_id: company_id.clone(),
        dataset_ids: first.dataset_ids.iter().map(Uuid::to_string).collect(),
        reason: "redelivery".to_owned(),
        requested_at: Utc::now().timestamp_millis(),
        label: aval_core::outcome::TrainingLabel::CompanyDecision,
    };
    common::publisher()
        .publish(
            decisions
                .pipeline
                .catalogue
                .topic(TopicRole::TrainingRequests),
            &company_id,
            &request,
            &[],
        )
        .await
        .expect("produce");

    let started = Instant::now();
    loop {
        let (_, models) = get(gateway, &token, "/v1/models").await;
        if models["active_version"] == 2 {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "version 2 was never activated: {models}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // On the audit topic (this pipeline runs no audit processor): what followed version 2,
    // each event once, however often it was announced.
    let consumer =
        common::consumer_from_start(&decisions.pipeline.catalogue.topic(TopicRole::Audit).name);
    let codec = common::codec();
    let mut seen: HashMap<String, String> = HashMap::new();
    let wanted = |seen: &HashMap<String, String>| {
        let count = |kind: &str| seen.values().filter(|k| k.as_str() == kind).count();
        count("training.finished 2") == 1 && count("model.activated 2") == 1
    };
    while !wanted(&seen) {
        let message = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("what followed version 2 is missing: {seen:?}"))
            .expect("consume");
        let event: AuditEventRecord = codec
            .decode(message.payload().expect("value"))
            .await
            .expect("decode");
        let about_it =
            event.details.get("request_id") == Some(&request_id) || event.kind == "model.activated";
        if event.company_id == company_id && about_it {
            let version = event
                .details
                .get("model_version")
                .cloned()
                .unwrap_or_default();
            seen.insert(event.event_id, format!("{} {version}", event.kind));
        }
    }
    decisions.pipeline.stop().await;
}
