//! Training runs as the company sees them: `queued` when the request is produced, `running`
//! with a stage and progress, then `finished` or `failed`. The trainer's own bookkeeping
//! (`begin_training`, `store_model`, `fail_training`) is in `models.rs`.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Failed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What training made of the version it stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Activated,
    Candidate,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Activated => "activated",
            RunOutcome::Candidate => "candidate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredRun {
    pub request_id: String,
    pub dataset_ids: Vec<Uuid>,
    /// One of [`RunStatus`]'s names (the table's check constraint holds it to them).
    pub status: String,
    pub stage: Option<String>,
    pub progress: Option<f64>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub model_version: Option<i32>,
    /// `activated` or `candidate`, once a finished run's version was judged.
    pub outcome: Option<String>,
    pub reason: Option<String>,
}

const RUN_COLUMNS: &str = "request_id, dataset_ids, status, stage, progress, queued_at, \
    started_at, finished_at, model_version, outcome, reason";

/// A page's position: the last row of the previous page, by (queued_at, request_id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCursor {
    pub queued_at: DateTime<Utc>,
    pub request_id: String,
}

/// Records a training request as `queued`, on the connection of the transaction that
/// produces it; a request seen before (a redelivery, a retried call) is left as it stands.
pub(crate) async fn queue_run(
    connection: &mut PgConnection,
    request_id: &str,
    company_id: Uuid,
    dataset_ids: &[Uuid],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO training_runs (request_id, company_id, dataset_ids, status, queued_at)
         VALUES ($1, $2, $3, 'queued', $4) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request_id)
    .bind(company_id)
    .bind(dataset_ids)
    .bind(at)
    .execute(connection)
    .await?;
    Ok(())
}

impl Store {
    /// Opens a transaction holding a new `queued` run: the caller produces the training
    /// request, then commits. Should the trainer take the request before the commit, its
    /// `begin_training` waits for it.
    pub async fn queue_training(
        &self,
        request_id: &str,
        company_id: Uuid,
        dataset_ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> Result<crate::Pending<()>, StoreError> {
        let mut tx = self.pool.begin().await?;
        queue_run(&mut tx, request_id, company_id, dataset_ids, at).await?;
        Ok(crate::Pending::new((), tx))
    }

    /// Where a running training is. A run no longer running keeps what it has.
    pub async fn report_progress(
        &self,
        request_id: &str,
        stage: &str,
        progress: f64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE training_runs SET stage = $2, progress = $3
             WHERE request_id = $1 AND status = 'running'",
        )
        .bind(request_id)
        .bind(stage)
        .bind(progress.clamp(0.0, 1.0))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records whether training activated the version its run stored.
    pub async fn record_run_outcome(
        &self,
        request_id: &str,
        outcome: RunOutcome,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE training_runs SET outcome = $2 WHERE request_id = $1 AND status = 'finished'",
        )
        .bind(request_id)
        .bind(outcome.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The company's runs, newest first, after `cursor`, at most `limit`.
    pub async fn training_runs(
        &self,
        company_id: Uuid,
        status: Option<RunStatus>,
        cursor: Option<&RunCursor>,
        limit: i64,
    ) -> Result<Vec<StoredRun>, StoreError> {
        // Walks the company's index newest first; the optional filters only skip rows.
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM training_runs
             WHERE company_id = $1 AND ($2::text IS NULL OR status = $2)
               AND ($3::timestamptz IS NULL OR (queued_at, request_id) < ($3, $4))
             ORDER BY queued_at DESC, request_id DESC LIMIT $5"
        )))
        .bind(company_id)
        .bind(status.map(RunStatus::as_str))
        .bind(cursor.map(|c| c.queued_at))
        .bind(cursor.map(|c| c.request_id.as_str()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The company's runs that used any of `dataset_ids`, newest first.
    pub async fn dataset_runs(
        &self,
        company_id: Uuid,
        dataset_ids: &[Uuid],
    ) -> Result<Vec<StoredRun>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM training_runs
             WHERE company_id = $1 AND dataset_ids && $2
             ORDER BY queued_at DESC, request_id DESC"
        )))
        .bind(company_id)
        .bind(dataset_ids)
        .fetch_all(&self.pool)
        .await?)
    }
}
