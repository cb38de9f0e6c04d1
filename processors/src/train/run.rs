//! One training request, start to finish: load the datasets, train off the async runtime,
//! store the version, decide whether it becomes active, and tell the audit log each step.
//! Every step after the version is stored is carried out again when the request is delivered
//! again, and each is idempotent (fixed event ids, an activation repeated as it was).

use super::TrainProcessor;
use crate::failure::Failure;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::experiment::ChampionReason;
use aval_core::model::{
    self, Snapshot, Stage, TrainedModel, TrainingColumns, TrainingOptions, TrainingProgress,
};
use aval_core::outcome::TrainingLabel;
use aval_store::models::{NewModel, TrainingRun};
use aval_store::training_runs::RunOutcome;
use aval_topics::records::TrainingRequestRecord;
use chrono::{DateTime, Utc};
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Ids of derived audit events, fixed per request so a replay repeats them exactly.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6176_616c_2d74_7261_696e_2d65_7674_7331);
const ACTOR: &str = "system:train";
/// How often a running training's progress may be written.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct Request {
    id: String,
    company: Uuid,
    datasets: Vec<Uuid>,
    label: TrainingLabel,
    /// When it was asked: the instant an `outcomes` label is read as of, so a redelivery
    /// reads the same labels.
    requested_at: DateTime<Utc>,
}

impl TrainProcessor {
    /// The request a record carries; anything else is a bad record.
    pub(super) async fn decode(&self, message: &OwnedMessage) -> Result<Request, Failure> {
        let bad = |reason: &str| Err(Failure::BadRecord(reason.to_owned()));
        let Some(payload) = message.payload() else {
            return bad("the record has no value");
        };
        let record = self.codec.decode::<TrainingRequestRecord>(payload).await?;
        let Ok(company) = Uuid::parse_str(&record.company_id) else {
            return bad("company_id is not a company id");
        };
        if message.key() != Some(record.company_id.as_bytes()) {
            return bad("the record key must be the company_id");
        }
        let datasets: Result<Vec<Uuid>, _> = record
            .dataset_ids
            .iter()
            .map(|d| Uuid::parse_str(d))
            .collect();
        let Ok(datasets) = datasets else {
            return bad("dataset_ids must be dataset ids (UUIDs)");
        };
        if datasets.is_empty() || record.request_id.is_empty() {
            return bad("a training request names a request_id and at least one dataset");
        }
        let Some(requested_at) = DateTime::from_timestamp_millis(record.requested_at) else {
            return bad("requested_at is out of range");
        };
        Ok(Request {
            id: record.request_id,
            company,
            datasets,
            label: record.label,
            requested_at,
        })
    }

    pub(super) async fn handle(&self, request: &Request) -> Result<(), Failure> {
        let now = Utc::now();
        match self
            .store
            .begin_training(&request.id, request.company, &request.datasets, now)
            .await?
        {
            TrainingRun::Started | TrainingRun::Interrupted => self.train(request).await,
            // Trained before this delivery, but what followed may not have happened.
            TrainingRun::Trained { version } => self.follow_stored(request, version).await,
            TrainingRun::Failed { reason } => self.tell_failed(request, reason).await,
        }
    }

    async fn train(&self, request: &Request) -> Result<(), Failure> {
        let progress = Arc::new(TrainingProgress::default());
        let work = self.fit_and_store(request, Arc::clone(&progress));
        match self.reporting(request, &progress, work).await? {
            Ok((version, model, data)) => self.follow_up(request, version, model, data).await,
            Err(reason) => {
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
                self.tell_failed(request, reason).await
            }
        }
    }

    /// Loads, trains and stores the version; `Err` inside when the data cannot be trained on,
    /// with the reason.
    async fn fit_and_store(
        &self,
        request: &Request,
        progress: Arc<TrainingProgress>,
    ) -> Result<Result<(i32, TrainedModel, TrainingColumns), String>, Failure> {
        progress.enter(Stage::Loading, 0);
        let data = self.data(request).await?;
        self.audit(
            request,
            AuditKind::TrainingStarted,
            &[
                ("orders", data.orders().to_string()),
                ("label", request.label.as_str().to_owned()),
            ],
        )
        .await?;
        let options = TrainingOptions {
            label: request.label,
            ..self.options.clone()
        };
        let reporter = Arc::clone(&progress);
        // Minutes of CPU for a large dataset: never on the async runtime.
        let (data, trained) = tokio::task::spawn_blocking(move || {
            let trained = model::train_columns(&data, &options, &reporter);
            (data, trained)
        })
        .await?;
        let model = match trained {
            Ok(model) => model,
            Err(error) => return Ok(Err(error.to_string())),
        };
        progress.enter(Stage::Storing, 0);
        let version = self.store_version(request, &model).await?;
        Ok(Ok((version, model, data)))
    }

    /// Runs `work`, writing the run's progress as it moves, at most once per
    /// [`PROGRESS_INTERVAL`]: the training threads only bump atomics, and the database hears
    /// of a change a second later at worst.
    async fn reporting<T>(
        &self,
        request: &Request,
        progress: &TrainingProgress,
        work: impl Future<Output = T>,
    ) -> T {
        let mut work = std::pin::pin!(work);
        let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut written: Option<Snapshot> = None;
        loop {
            tokio::select! {
                done = &mut work => {
                    // Where a failed run stopped, which the last tick may not have written.
                    self.write_progress(request, progress, &mut written).await;
                    return done;
                }
                _ = tick.tick() => self.write_progress(request, progress, &mut written).await,
            }
        }
    }

    /// Writes the progress unless `written` already says it. Progress is shown, never relied
    /// on: a failed write waits for the next tick.
    async fn write_progress(
        &self,
        request: &Request,
        progress: &TrainingProgress,
        written: &mut Option<Snapshot>,
    ) {
        let now = progress.snapshot();
        if *written == Some(now) {
            return;
        }
        match self
            .store
            .report_progress(&request.id, now.stage.as_str(), now.fraction)
            .await
        {
            Ok(()) => *written = Some(now),
            Err(e) => {
                tracing::warn!(error = %e, request = %request.id, "cannot record training progress");
            }
        }
    }

    /// Carries out again what follows a version stored by an earlier delivery.
    async fn follow_stored(&self, request: &Request, version: i32) -> Result<(), Failure> {
        let Some(stored) = self.store.model(request.company, version).await? else {
            return Err(Failure::Defect(format!(
                "training request {} names version {version}, which is not stored",
                request.id
            )));
        };
        let model: TrainedModel = serde_json::from_slice(&stored.artifact)?;
        let data = self.data(request).await?;
        self.follow_up(request, version, model, data).await
    }

    async fn data(&self, request: &Request) -> Result<TrainingColumns, Failure> {
        Ok(self
            .store
            .training_columns(
                request.company,
                &request.datasets,
                request.label,
                request.requested_at,
            )
            .await?)
    }

    async fn tell_failed(&self, request: &Request, reason: String) -> Result<(), Failure> {
        self.audit(request, AuditKind::TrainingFailed, &[("reason", reason)])
            .await
    }

    /// Everything after a version is stored: its audit event, then the activation decision.
    async fn follow_up(
        &self,
        request: &Request,
        version: i32,
        model: TrainedModel,
        data: TrainingColumns,
    ) -> Result<(), Failure> {
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

    async fn store_version(&self, request: &Request, model: &TrainedModel) -> Result<i32, Failure> {
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
                drift_reference: model.drift.as_ref(),
                at: Utc::now(),
            })
            .await?)
    }

    /// A new version becomes active when none is, or when it does at least as well as the
    /// active one on the new version's holdout; otherwise it stays a candidate, and the audit
    /// log says why. A version already active is announced again as it was; a version older
    /// than the active one (a late redelivery) is never activated over it.
    async fn maybe_activate(
        &self,
        request: &Request,
        version: i32,
        model: TrainedModel,
        data: TrainingColumns,
    ) -> Result<(), Failure> {
        let company = request.company;
        let active = self.store.activation(company).await?;
        if let Some((active, at)) = active {
            if active == version {
                self.store
                    .record_run_outcome(&request.id, RunOutcome::Activated)
                    .await?;
                self.publisher
                    .announce_activation(&self.catalogue, company, version, ACTOR, at)
                    .await?;
                return Ok(());
            }
            let kept_as_candidate = || {
                self.store
                    .record_run_outcome(&request.id, RunOutcome::Candidate)
            };
            let kept = |reason: String| {
                (
                    AuditKind::ModelKeptAsCandidate,
                    [("model_version", version.to_string()), ("reason", reason)],
                )
            };
            if active > version {
                let (kind, details) = kept(format!(
                    "version {active}, newer than version {version}, was already active"
                ));
                kept_as_candidate().await?;
                return self.audit(request, kind, &details).await;
            }
            if let Some(active_auc) = self.active_auc(company, active, &model, data).await? {
                let new_auc = model.metrics.holdout.roc_auc;
                if new_auc < active_auc {
                    let (kind, details) = kept(format!(
                        "version {version} scored holdout AUC {new_auc:.4}, below active version {active}'s {active_auc:.4} on the same holdout"
                    ));
                    kept_as_candidate().await?;
                    return self.audit(request, kind, &details).await;
                }
            }
        }
        let at = Utc::now();
        self.store
            .activate(company, version, ACTOR, at, ChampionReason::Trained)
            .await?;
        self.store
            .record_run_outcome(&request.id, RunOutcome::Activated)
            .await?;
        self.publisher
            .announce_activation(&self.catalogue, company, version, ACTOR, at)
            .await?;
        tracing::info!(%company, version, "model activated");
        Ok(())
    }

    /// The active version's AUC on the new version's holdout, when it is stored.
    async fn active_auc(
        &self,
        company: Uuid,
        active: i32,
        model: &TrainedModel,
        data: TrainingColumns,
    ) -> Result<Option<f64>, Failure> {
        let Some(stored) = self.store.model(company, active).await? else {
            return Ok(None);
        };
        let active_model: TrainedModel = serde_json::from_slice(&stored.artifact)?;
        let holdout: HashSet<String> = model.holdout_ids().iter().cloned().collect();
        let auc = tokio::task::spawn_blocking(move || {
            // Scored as they stream by: a holdout of millions of examples is never held.
            let mut probabilities = Vec::with_capacity(holdout.len());
            let mut blocked = Vec::with_capacity(holdout.len());
            model::for_each_example(&data, |_, example| {
                if holdout.contains(example.order_id.as_str()) {
                    probabilities.push(active_model.probability(&example.features));
                    blocked.push(example.blocked);
                }
            });
            active_model
                .evaluate_probabilities(&probabilities, &blocked)
                .roc_auc
        })
        .await?;
        Ok(Some(auc))
    }

    async fn audit(
        &self,
        request: &Request,
        kind: AuditKind,
        details: &[(&str, String)],
    ) -> Result<(), Failure> {
        let mut event = AuditEvent::new(request.company, kind, ACTOR, Utc::now()).with_detail(
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
            .publish_audit(&self.catalogue, &event)
            .await?;
        Ok(())
    }
}
