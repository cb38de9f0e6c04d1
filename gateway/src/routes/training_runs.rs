//! Training runs: `GET /v1/models/runs`, and the run shape a dataset shows too. A run is
//! `queued` once its request is produced, `running` with a stage and progress while the
//! trainer works, then `finished` with its model version or `failed` with the reason.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::paging::{self, Cursor};
use crate::state::AppState;
use aval_core::model::Stage;
use aval_store::training_runs::{RunCursor, RunStatus, StoredRun};
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TrainingRun)]
pub(crate) struct TrainingRunView {
    /// The training request's id; the training's audit events carry it as `request_id`.
    request_id: String,
    /// The datasets trained on together.
    dataset_ids: Vec<Uuid>,
    /// `queued` from the moment the request is produced (a dataset became `ready`, or a
    /// retrain was asked for); `running` while the trainer works; then `finished` (see
    /// `model_version` and `outcome`) or `failed` (see `reason`).
    #[schema(schema_with = status_schema)]
    status: &'static str,
    /// Where the trainer is or got to. Absent while `queued`. A `finished` run reads
    /// `storing` at 1; a `failed` one keeps where it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<ProgressView>,
    queued_at: DateTime<Utc>,
    /// When the trainer took the request. Absent while `queued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = DateTime<Utc>)]
    started_at: Option<DateTime<Utc>>,
    /// Present once `finished` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = DateTime<Utc>)]
    finished_at: Option<DateTime<Utc>>,
    /// The version the run made. Present once `finished`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i32, minimum = 1)]
    model_version: Option<i32>,
    /// What training made of the version: `activated`, or kept as a `candidate` (it did worse
    /// than the active version on the same holdout). Absent until judged. An activation by
    /// hand later does not change it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, pattern = "^(activated|candidate)$")]
    outcome: Option<String>,
    /// Why the run failed, in words. Present only when `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    reason: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TrainingProgress)]
pub(crate) struct ProgressView {
    /// `loading`, `building_features`, `cross_validating` (each candidate learner on each
    /// fold), `refitting`, `evaluating_holdout` or `storing`.
    #[schema(schema_with = stage_schema)]
    stage: String,
    /// Share of the whole run done, 0 to 1. Written at most about once a second.
    #[schema(minimum = 0, maximum = 1)]
    fraction: f64,
}

fn status_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(RunStatus::ALL.map(RunStatus::as_str)))
        .into()
}

fn stage_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Stage::ALL.map(Stage::as_str)))
        .into()
}

impl From<StoredRun> for TrainingRunView {
    fn from(run: StoredRun) -> Self {
        let status = RunStatus::parse(&run.status).unwrap_or(RunStatus::Failed);
        let progress = match (status, run.stage, run.progress) {
            (RunStatus::Queued, _, _) => None,
            (_, Some(stage), Some(fraction)) => Some(ProgressView { stage, fraction }),
            _ => None,
        };
        Self {
            request_id: run.request_id,
            dataset_ids: run.dataset_ids,
            status: status.as_str(),
            progress,
            queued_at: run.queued_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            model_version: run.model_version,
            outcome: run.outcome,
            reason: run.reason,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TrainingRunPage {
    /// Newest first (by when each was queued).
    runs: Vec<TrainingRunView>,
    /// Pass as `cursor` for the next (older) page. Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/models/runs",
    tag = "models",
    operation_id = "listTrainingRuns",
    summary = "The company's training runs",
    description = "Every training run of the company, newest first, one page at a time: queued, running with its stage and progress, finished with the version it made, or failed with the reason. For the next (older) page pass `next_cursor` as `cursor`. Any other query parameter is refused (422).",
    params(params::RunPaging),
    responses(
        (status = 200, description = "One page of runs; `runs` is empty before the first training request.", content_type = "application/json", body = TrainingRunPage, example = examples::list_training_runs_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, description = "A bad `limit`, `cursor` or `status`, or another query parameter (`errors` names each).", content_type = "application/problem+json", body = Problem, example = examples::list_page_422),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<TrainingRunPage>, Problem> {
    let page = paging::page_request(
        &params,
        RunStatus::parse,
        &RunStatus::ALL.map(RunStatus::as_str),
        |id| !id.is_empty(),
    )
    .map_err(Problem::invalid)?;
    let cursor = page.cursor.map(|c| RunCursor {
        queued_at: c.at,
        request_id: c.id,
    });
    let runs = state
        .store
        .training_runs(
            auth.company.id,
            page.status,
            cursor.as_ref(),
            page.limit + 1,
        )
        .await
        .map_err(|e| Problem::dependency_failed("cannot list the training runs", e))?;
    let (runs, next_cursor) = paging::cut(runs, page.limit, |run| Cursor {
        at: run.queued_at,
        id: run.request_id.clone(),
    });
    Ok(Json(TrainingRunPage {
        runs: runs.into_iter().map(TrainingRunView::from).collect(),
        next_cursor,
    }))
}
