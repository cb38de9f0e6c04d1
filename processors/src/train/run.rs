//! One training request, start to finish: load the datasets, train off the async runtime,
//! store the version, decide whether it becomes active, and tell the audit log each step.

use super::TrainProcessor;
use crate::consumer::Transient;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::model::{self, TrainedModel, TrainingExample};
use aval_store::models::{NewModel, TrainingRun};
use aval_store::training_data::TrainingData;
use aval_topics::records::{AuditEventRecord, TrainingRequestRecord};
use aval_topics::{Fault, TopicRole};
use chrono::Utc;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use std::collections::HashSet;
use uuid::Uuid;

/// Ids of derived audit events, fixed per request so a replay repeats them exactly.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6176_616c_2d74_7261_696e_2d65_7674_7331);

struct Request {
    id: String,
    company: Uuid,
    datasets: Vec<Uuid>,
}

impl TrainProcessor {
    pub(super) async fn handle(&self, message: &OwnedMessage) -> Result<(), Transient> {
        let request = match self.decode(message).await? {
            Ok(request) => request,
            Err(reason) => return self.dead_letter(message, &reason).await,
        };
        let now = Utc::now();
        match self
            .store
            .begin_training(&request.id, request.company, &request.datasets, now)
            .await?
        {
            TrainingRun::Started | TrainingRun::Interrupted => self.train(&request).await,
            // Done before this delivery: nothing to repeat.
            TrainingRun::Trained { .. } | TrainingRun::Failed { .. } => Ok(()),
        }
    }

    /// The request, or why it must be dead-lettered.
    async fn decode(&self, message: &OwnedMessage) -> Result<Result<Request, String>, Transient> {
        let Some(payload) = message.payload() else {
            return Ok(Err("the record has no value".to_owned()));
        };
        let record = match self.codec.decode::<TrainingRequestRecord>(payload).await {
            Ok(record) => record,
            Err(e) if e.fault() == Fault::Sender => return Ok(Err(format!("undecodable: {e}"))),
            Err(e) => return Err(e.into()),
        };
        let Ok(company) = Uuid::parse_str(&record.company_id) else {
            return Ok(Err("company_id is not a company id".to_owned()));
        };
        if message.key() != Some(record.company_id.as_bytes()) {
            return Ok(Err("the record key must be the company_id".to_owned()));
        }
        let datasets: Result<Vec<Uuid>, _> = record
            .dataset_ids
            .iter()
            .map(|d| Uuid::parse_str(d))
            .collect();
        let Ok(datasets) = datasets else {
            return Ok(Err("dataset_ids must be dataset ids (UUIDs)".to_owned()));
        };
        if datasets.is_empty() || record.request_id.is_empty() {
            return Ok(Err(
                "a training request names a request_id and at least one dataset".to_owned(),
            ));
        }
        Ok(Ok(Request {
            id: record.request_id,
            company,
            datasets,
        }))
    }

    async fn train(&self, request: &Request) -> Result<(), Transient> {
        let data = self
            .store
            .training_data(request.company, &request.datasets)
            .await?;
        self.audit(
            request,
            AuditKind::TrainingStarted,
            &[("orders", data.orders.len().to_string())],
        )
        .await?;
        let options = self.options.clone();
        // Minutes of CPU for a large dataset: never on the async runtime.
        let (data, trained) = tokio::task::spawn_blocking(move || {
            let trained = model::train_dataset(
                &data.customers,
                &data.credit_limits,
                &data.bureau_reports,
                &data.orders,
                &options,
            );
            (data, trained)
        })
        .await
        .map_err(|e| Transient(format!("training panicked: {e}")))?;
        let model = match trained {
            Ok(model) => model,
            Err(error) => {
                let reason = error.to_string();
                self.store
                    .fail_training(
                        &request.id,
                        request.company,
                        &request.datasets,
                        &reason,
                        Utc::now(),
                    )
                    .await?;
                tracing::info!(company = %request.company, %reason, "training failed");
                return self
                    .audit(request, AuditKind::TrainingFailed, &[("reason", reason)])
                    .await;
            }
        };
        let version = self.store_version(request, &model).await?;
        self.audit(
            request,
            AuditKind::TrainingFinished,
            &[
                ("model_version", version.to_string()),
                ("learner", model.learner.as_str().to_owned()),
                (
                    "holdout_auc",
                    format!("{:.4}", model.metrics.holdout.roc_auc),
                ),
                (
                    "holdout_accuracy",
                    format!("{:.4}", model.metrics.holdout.accuracy),
                ),
                ("threshold", format!("{:.4}", model.threshold)),
            ],
        )
        .await?;
        self.maybe_activate(request, version, model, data).await
    }

    async fn store_version(
        &self,
        request: &Request,
        model: &TrainedModel,
    ) -> Result<i32, Transient> {
        let artifact = serde_json::to_vec(model)?;
        let metrics = serde_json::to_value(&model.metrics)?;
        Ok(self
            .store
            .store_model(&NewModel {
                company_id: request.company,
                training_request_id: &request.id,
                dataset_ids: &request.datasets,
                learner: model.learner.as_str(),
                artifact: &artifact,
                threshold: model.threshold,
                metrics: &metrics,
                at: Utc::now(),
            })
            .await?)
    }

    /// A new version becomes active when none is, or when it does at least as well as the
    /// active one on the new version's holdout; otherwise it stays a candidate, and the audit
    /// log says why.
    async fn maybe_activate(
        &self,
        request: &Request,
        version: i32,
        model: TrainedModel,
        data: TrainingData,
    ) -> Result<(), Transient> {
        let company = request.company;
        let new_auc = model.metrics.holdout.roc_auc;
        if let Some(active) = self.store.active_version(company).await?
            && active != version
            && let Some(stored) = self.store.model(company, active).await?
        {
            let active_model: TrainedModel = serde_json::from_slice(&stored.artifact)?;
            let active_auc = tokio::task::spawn_blocking(move || {
                let holdout: HashSet<&str> =
                    model.holdout_ids().iter().map(String::as_str).collect();
                let mut same_holdout: Vec<TrainingExample> = Vec::with_capacity(holdout.len());
                model::for_each_example(
                    &data.customers,
                    &data.credit_limits,
                    &data.bureau_reports,
                    &data.orders,
                    |_, example| {
                        if holdout.contains(example.order_id.as_str()) {
                            same_holdout.push(example);
                        }
                    },
                );
                active_model.evaluate(&same_holdout).roc_auc
            })
            .await
            .map_err(|e| Transient(format!("evaluation panicked: {e}")))?;
            if new_auc < active_auc {
                let reason = format!(
                    "version {version} scored holdout AUC {new_auc:.4}, below active version {active}'s {active_auc:.4} on the same holdout"
                );
                return self
                    .audit(
                        request,
                        AuditKind::ModelKeptAsCandidate,
                        &[("model_version", version.to_string()), ("reason", reason)],
                    )
                    .await;
            }
        }
        let at = Utc::now();
        self.store
            .activate(company, version, "system:train", at)
            .await?;
        self.publisher
            .announce_activation(&self.catalogue, company, version, "system:train", at)
            .await?;
        tracing::info!(%company, version, "model activated");
        Ok(())
    }

    async fn audit(
        &self,
        request: &Request,
        kind: AuditKind,
        details: &[(&str, String)],
    ) -> Result<(), Transient> {
        let mut event = AuditEvent::new(request.company, kind, "system:train", Utc::now())
            .with_detail(
                "datasets",
                request
                    .datasets
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
        event = event.with_detail("request_id", request.id.clone());
        for (key, value) in details {
            event = event.with_detail(key, value.clone());
        }
        event.event_id = Uuid::new_v5(
            &EVENT_NAMESPACE,
            format!("{}\u{1f}{}", request.id, kind.as_str()).as_bytes(),
        );
        self.publisher
            .publish(
                self.catalogue.topic(TopicRole::Audit),
                &request.company.to_string(),
                &AuditEventRecord::from(&event),
                &[],
            )
            .await?;
        Ok(())
    }
}
