//! Model versions, the active version per company, and the training runs that made them.

use crate::datasets::checked;
use crate::{Store, StoreError};
use aval_core::experiment::ChampionReason;
use aval_core::monitoring::DriftReference;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use uuid::Uuid;

/// A stored model version, with its artifact.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ModelVersion {
    pub company_id: Uuid,
    pub version: i32,
    pub learner: String,
    pub artifact: Vec<u8>,
    pub threshold: f64,
    pub metrics: Value,
    pub dataset_ids: Vec<Uuid>,
    pub training_request_id: String,
    pub created_at: DateTime<Utc>,
}

/// A version without its artifact, for listings.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ModelSummary {
    pub version: i32,
    pub learner: String,
    pub threshold: f64,
    pub metrics: Value,
    pub dataset_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub active: bool,
}

/// What a model version needs stored beside its artifact.
#[derive(Debug, Clone)]
pub struct NewModel<'a> {
    pub company_id: Uuid,
    pub training_request_id: &'a str,
    pub dataset_ids: &'a [Uuid],
    pub learner: &'a str,
    pub artifact: &'a [u8],
    pub threshold: f64,
    pub metrics: &'a Value,
    /// The training distributions drift is measured against.
    pub drift_reference: Option<&'a DriftReference>,
    pub at: DateTime<Utc>,
}

/// Where a training request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainingRun {
    /// First delivery (the run was queued, or not recorded at all): train now.
    Started,
    /// Started before and not finished (a crash mid-training): train again.
    Interrupted,
    Trained {
        version: i32,
    },
    Failed {
        reason: String,
    },
}

impl Store {
    /// Records the start of a training request: a queued run (or one never queued: a request
    /// produced straight to Kafka) becomes `running` at `loading`; a request seen before
    /// reports how it ended. The datasets it uses move from `ready` to `training`.
    pub async fn begin_training(
        &self,
        request_id: &str,
        company_id: Uuid,
        dataset_ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> Result<TrainingRun, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO training_runs (request_id, company_id, dataset_ids, status, stage, progress, queued_at, started_at)
             VALUES ($1, $2, $3, 'running', 'loading', 0, $4, $4) ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(request_id)
        .bind(company_id)
        .bind(dataset_ids)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let run = if inserted.rows_affected() == 1 {
            TrainingRun::Started
        } else {
            let (status, version, reason): (String, Option<i32>, Option<String>) = sqlx::query_as(
                "SELECT status, model_version, reason FROM training_runs
                 WHERE request_id = $1 AND company_id = $2 FOR UPDATE",
            )
            .bind(request_id)
            .bind(company_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            let run = match (status.as_str(), version) {
                ("finished", Some(version)) => return Ok(TrainingRun::Trained { version }),
                ("failed", _) => {
                    return Ok(TrainingRun::Failed {
                        reason: reason.unwrap_or_default(),
                    });
                }
                ("queued", _) => TrainingRun::Started,
                _ => TrainingRun::Interrupted,
            };
            // Started again from the beginning, whatever an interrupted attempt had reached.
            sqlx::query(
                "UPDATE training_runs SET status = 'running', stage = 'loading', progress = 0,
                        started_at = COALESCE(started_at, $2)
                 WHERE request_id = $1",
            )
            .bind(request_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            run
        };
        sqlx::query(
            "UPDATE datasets SET status = 'training' WHERE company_id = $1 AND id = ANY($2) AND status = 'ready'",
        )
        .bind(company_id)
        .bind(dataset_ids)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(run)
    }

    /// Stores a new version (numbered after the company's last) and finishes its training run
    /// and datasets, in one transaction. A request that already produced a version returns it.
    pub async fn store_model(&self, model: &NewModel<'_>) -> Result<i32, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Serialises version numbering per company.
        sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE")
            .bind(model.company_id)
            .execute(&mut *tx)
            .await?;
        let existing: Option<(i32,)> = sqlx::query_as(
            "SELECT version FROM models WHERE company_id = $1 AND training_request_id = $2",
        )
        .bind(model.company_id)
        .bind(model.training_request_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((version,)) = existing {
            return Ok(version);
        }
        let (version,): (i32,) = sqlx::query_as(
            "INSERT INTO models (company_id, version, learner, artifact, threshold, metrics, dataset_ids, training_request_id, created_at,
                                 drift_reference)
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9 FROM models WHERE company_id = $1
             RETURNING version",
        )
        .bind(model.company_id)
        .bind(model.learner)
        .bind(model.artifact)
        .bind(model.threshold)
        .bind(model.metrics)
        .bind(model.dataset_ids)
        .bind(model.training_request_id)
        .bind(model.at)
        .bind(model.drift_reference.map(Json))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE training_runs SET status = 'finished', stage = 'storing', progress = 1, model_version = $2, finished_at = $3
             WHERE request_id = $1",
        )
        .bind(model.training_request_id)
        .bind(version)
        .bind(model.at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE datasets SET status = 'trained', model_version = $3, failure_reason = NULL
             WHERE company_id = $1 AND id = ANY($2) AND status = 'training'",
        )
        .bind(model.company_id)
        .bind(model.dataset_ids)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Ends a training run that cannot succeed (one class only, too few rows...).
    pub async fn fail_training(
        &self,
        request_id: &str,
        company_id: Uuid,
        dataset_ids: &[Uuid],
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE training_runs SET status = 'failed', reason = $2, finished_at = $3 WHERE request_id = $1",
        )
        .bind(request_id)
        .bind(reason)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE datasets SET status = 'failed', failure_reason = $3
             WHERE company_id = $1 AND id = ANY($2) AND status = 'training'",
        )
        .bind(company_id)
        .bind(dataset_ids)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn models(&self, company_id: Uuid) -> Result<Vec<ModelSummary>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT m.version, m.learner, m.threshold, m.metrics, m.dataset_ids, m.created_at,
                    (a.version IS NOT NULL) AS active
             FROM models m LEFT JOIN active_models a ON a.company_id = m.company_id AND a.version = m.version
             WHERE m.company_id = $1 ORDER BY m.version DESC",
        )
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn model(
        &self,
        company_id: Uuid,
        version: i32,
    ) -> Result<Option<ModelVersion>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT company_id, version, learner, artifact, threshold, metrics, dataset_ids, training_request_id, created_at
             FROM models WHERE company_id = $1 AND version = $2",
        )
        .bind(company_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The company's active version and when it was activated.
    pub async fn activation(
        &self,
        company_id: Uuid,
    ) -> Result<Option<(i32, DateTime<Utc>)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT version, activated_at FROM active_models WHERE company_id = $1")
                .bind(company_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn active_version(&self, company_id: Uuid) -> Result<Option<i32>, StoreError> {
        let row: Option<(i32,)> =
            sqlx::query_as("SELECT version FROM active_models WHERE company_id = $1")
                .bind(company_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(v,)| v))
    }

    /// Makes `version` the company's active model, for `reason` (kept in the champion
    /// history); `NotFound` when it has no such version.
    pub async fn activate(
        &self,
        company_id: Uuid,
        version: i32,
        by: &str,
        at: DateTime<Utc>,
        reason: ChampionReason,
    ) -> Result<(), StoreError> {
        crate::experiments::activate_in(&self.pool, company_id, version, by, at, reason).await
    }

    /// The company's datasets a retraining may use (the checked ones), oldest first.
    pub async fn trainable_datasets(&self, company_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let rows: Vec<(Uuid,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id FROM datasets d WHERE company_id = $1 AND {} ORDER BY created_at",
            checked("d")
        )))
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}
