//! Dataset upload over HTTP: create, send batches of up to 500 items, complete, read status.
//! A valid batch becomes an ingest record on Kafka (the ingest processor stores it); the
//! gateway keeps nothing but the dataset row it creates.

use crate::auth::{Authenticated, publish_sealed};
use crate::json::JsonBody;
use crate::problem::Problem;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::paging::{self, Cursor};
use crate::routes::training_runs::TrainingRunView;
use crate::state::AppState;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::fingerprint::batch_fingerprint;
use aval_core::ingest::items::{CompletionMarker, Counts, ItemKind};
use aval_core::ingest::{MAX_BATCH_ITEMS, validate_batch, validate_counts};
use aval_store::datasets::{BatchIdReuse, BatchOrigin, Dataset, DatasetStatus};
use aval_store::training_runs::StoredRun;
use aval_topics::records::IngestRecord;
use aval_topics::{TopicRole, keys};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// The header that makes a batch upload safe to retry: the same key for the same dataset is
/// stored once, and stands for the kind and items first sent under it.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub(crate) const MAX_IDEMPOTENCY_KEY_CHARS: usize = 100;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Dataset)]
pub(crate) struct DatasetView {
    dataset_id: Uuid,
    #[schema(schema_with = status_schema)]
    status: &'static str,
    created_at: DateTime<Utc>,
    /// When the completion marker was processed. Absent until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = DateTime<Utc>)]
    completed_at: Option<DateTime<Utc>>,
    #[schema(inline)]
    counts: CountsView,
    /// The counts the completion marker announced; null before completion.
    #[schema(required = true)]
    announced: Option<Counts>,
    /// Batches refused by the pipeline.
    #[schema(minimum = 0)]
    rejected_batches: i32,
    /// Why the dataset was rejected, one sentence each; empty otherwise.
    rejection_reasons: Vec<String>,
    /// The model version whose training moved the dataset to `trained`. Absent until then.
    /// Later retrainings that use the dataset do not change it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i32, minimum = 1)]
    model_version: Option<i32>,
    /// Why training failed, in words. Present only when `status` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        value_type = String,
        examples("every order with an outcome is approved; training needs both approved and blocked orders")
    )]
    failure_reason: Option<String>,
    /// The training runs that used the dataset (alone or with others), newest first: the one
    /// a `ready` dataset starts, and any retraining that named it.
    training_runs: Vec<TrainingRunView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DatasetPage {
    /// Newest first.
    datasets: Vec<DatasetView>,
    /// Pass as `cursor` for the next (older) page. Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    next_cursor: Option<String>,
}

/// Every status a dataset goes through, as `DatasetView::status` writes it.
fn status_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let all = DatasetStatus::ALL;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "`receiving` takes batches; `validating` after the completion marker; then `ready` \
             or `rejected` (see `rejection_reasons`). A `ready` dataset is trained on by itself: \
             `training`, then `trained` (see `model_version`) or `failed` (see \
             `failure_reason`).",
        ))
        .enum_values(Some(all.map(DatasetStatus::as_str)))
        .into()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CountsView {
    /// Items in batches the pipeline has taken in, stored or refused.
    received: Counts,
    /// Items stored.
    stored: Counts,
}

impl DatasetView {
    /// The dataset with those of `runs` that used it.
    fn with_runs(d: Dataset, runs: &[StoredRun]) -> Self {
        let training_runs = runs
            .iter()
            .filter(|run| run.dataset_ids.contains(&d.id))
            .cloned()
            .map(TrainingRunView::from)
            .collect();
        Self {
            training_runs,
            dataset_id: d.id,
            status: d.status.as_str(),
            created_at: d.created_at,
            completed_at: d.completed_at,
            counts: CountsView {
                received: d.received,
                stored: d.stored,
            },
            announced: d.announced,
            rejected_batches: d.rejected_batches,
            rejection_reasons: d.rejection_reasons,
            model_version: d.model_version,
            failure_reason: d.failure_reason,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    items: Vec<Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = CompletionRequest)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompletionBody {
    /// How many items of each kind the dataset should hold. All four are required, as whole
    /// numbers; unknown keys are refused (422). The dataset is rejected if what was stored
    /// differs.
    // A JSON value: `validate_counts` reads it, reporting every bad count.
    #[serde(default)]
    #[schema(value_type = Counts, required = true)]
    counts: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BatchReceipt {
    dataset_id: Uuid,
    /// The `Idempotency-Key` sent, or the random id the gateway made up without one.
    batch_id: String,
    #[schema(schema_with = kind_schema)]
    kind: &'static str,
    /// Items in the batch.
    #[schema(schema_with = items_schema)]
    items: usize,
}

fn kind_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ItemKind::ALL.map(ItemKind::as_str)))
        .into()
}

fn items_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_BATCH_ITEMS))
        .description(Some("Items in the batch."))
        .into()
}

/// Another company's dataset, a malformed id and a missing dataset all read the same: 404.
fn not_found() -> Problem {
    Problem::not_found("no such dataset")
}

async fn owned_dataset(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
) -> Result<Dataset, Problem> {
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    state
        .store
        .dataset(auth.company.id, id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the dataset", e))?
        .ok_or_else(not_found)
}

/// Best effort: for events about requests that changed nothing (a refused batch), a broker
/// outage must not turn the client's 422 into a 503.
async fn audit(state: &AppState, event: AuditEvent) {
    if let Err(e) = state
        .publisher
        .publish_audit(&state.catalogue, &event)
        .await
    {
        tracing::error!(error = %e, kind = %event.kind, "cannot publish audit event");
    }
}

#[utoipa::path(
    post,
    path = "/v1/datasets",
    tag = "datasets",
    operation_id = "createDataset",
    summary = "Open a dataset",
    description = "Opens an upload session in status `receiving`. Takes no body (one sent is ignored).",
    responses(
        (status = 201, description = "Created.", content_type = "application/json", body = DatasetView, headers(("Location" = String, description = "`/v1/datasets/{id}` of the new dataset."))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn create(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Response, Problem> {
    let now = Utc::now();
    let pending = state
        .store
        .begin_dataset(auth.company.id, now)
        .await
        .map_err(|e| Problem::dependency_failed("cannot create the dataset", e))?;
    // Committed only once the audit log has the event: no dataset exists unaudited.
    let event = AuditEvent::new(
        auth.company.id,
        AuditKind::DatasetCreated,
        auth.actor(),
        now,
    )
    .with_detail("dataset_id", pending.value.id.to_string());
    state
        .publisher
        .publish_audit(&state.catalogue, &event)
        .await
        .map_err(|e| {
            Problem::dependency_failed("the audit log is unavailable; nothing was created", e)
        })?;
    let dataset = pending
        .commit()
        .await
        .map_err(|e| Problem::dependency_failed("cannot create the dataset", e))?;
    let location = format!("/v1/datasets/{}", dataset.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(DatasetView::with_runs(dataset, &[])),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/datasets/{id}",
    tag = "datasets",
    operation_id = "getDataset",
    summary = "Dataset status",
    description = "Status, counts received and stored, what the completion marker announced, rejection reasons, once trained on, the model version made (or why training failed), and the training runs that used it.",
    params(params::DatasetId),
    responses(
        (status = 200, description = "The dataset.", content_type = "application/json", body = DatasetView),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::DatasetNotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn show(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DatasetView>, Problem> {
    let dataset = owned_dataset(&state, &auth, &id).await?;
    let runs = dataset_runs(&state, auth.company.id, &[dataset.id]).await?;
    Ok(Json(DatasetView::with_runs(dataset, &runs)))
}

/// The company's runs that used any of `datasets`, in one query.
async fn dataset_runs(
    state: &AppState,
    company: Uuid,
    datasets: &[Uuid],
) -> Result<Vec<StoredRun>, Problem> {
    if datasets.is_empty() {
        return Ok(Vec::new());
    }
    state
        .store
        .dataset_runs(company, datasets)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the training runs", e))
}

#[utoipa::path(
    get,
    path = "/v1/datasets",
    tag = "datasets",
    operation_id = "listDatasets",
    summary = "The company's datasets",
    description = "The company's datasets, newest first, one page at a time, each as `GET /v1/datasets/{id}` shows it: status, counts, rejection reasons, the model version made and its training runs. For the next (older) page pass `next_cursor` as `cursor`; a dataset created meanwhile appears on no later page, and none is repeated or skipped. Any other query parameter is refused (422).",
    params(params::DatasetPaging),
    responses(
        (status = 200, description = "One page of datasets; `datasets` is empty when there are none (in that status).", content_type = "application/json", body = DatasetPage, example = examples::list_datasets_200),
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
) -> Result<Json<DatasetPage>, Problem> {
    let page = paging::page_request(
        &params,
        DatasetStatus::from_name,
        &DatasetStatus::ALL.map(DatasetStatus::as_str),
        |id| Uuid::parse_str(id).is_ok(),
    )
    .map_err(Problem::invalid)?;
    let cursor = page
        .cursor
        .and_then(|c| Some((c.at, Uuid::parse_str(&c.id).ok()?)));
    let company = auth.company.id;
    let datasets = state
        .store
        .datasets(company, page.status, cursor, page.limit + 1)
        .await
        .map_err(|e| Problem::dependency_failed("cannot list the datasets", e))?;
    let (datasets, next_cursor) = paging::cut(datasets, page.limit, |d| Cursor {
        at: d.created_at,
        id: d.id.to_string(),
    });
    let ids: Vec<Uuid> = datasets.iter().map(|d| d.id).collect();
    let runs = dataset_runs(&state, company, &ids).await?;
    Ok(Json(DatasetPage {
        datasets: datasets
            .into_iter()
            .map(|d| DatasetView::with_runs(d, &runs))
            .collect(),
        next_cursor,
    }))
}

fn item_kind(segment: &str) -> Option<ItemKind> {
    ItemKind::ALL
        .into_iter()
        .find(|k| k.path_segment() == segment)
}

/// The `Idempotency-Key` header when one is sent, by the one rule of every call that takes it:
/// 1 to 100 characters of A-Z a-z 0-9 - _ . : (else 400).
pub(crate) fn sent_idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_CHARS
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if valid {
        Ok(Some(key.to_owned()))
    } else {
        Err(Problem::malformed(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters of A-Z a-z 0-9 - _ . :"),
        ))
    }
}

/// `POST /v1/datasets/{id}/{kind}`: validates the whole batch (every bad item reported),
/// binds its id to its content, then produces it. Nothing of a refused batch goes anywhere.
/// The same key with the same content is produced again (the first attempt may not have
/// reached Kafka; the ingest sink stores a batch id once); with other content it is refused.
#[utoipa::path(
    post,
    path = "/v1/datasets/{id}/{kind}",
    tag = "datasets",
    operation_id = "uploadBatch",
    summary = "Send a batch of items",
    params(params::DatasetId, params::IdempotencyKey),
    responses(
        (status = 202, response = responses::BatchAccepted),
        (status = 400, response = responses::MalformedBatch),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::DatasetNotFound),
        (status = 409, response = responses::DatasetClosed),
        (status = 413, response = responses::BatchTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidBatch),
        (status = 429, response = responses::TooManyBatches),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn upload(
    auth: Authenticated,
    State(state): State<AppState>,
    Path((id, segment)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<BatchBody>,
) -> Result<Response, Problem> {
    let kind = item_kind(&segment).ok_or_else(|| Problem::not_found("no such endpoint"))?;
    if body.items.len() > MAX_BATCH_ITEMS {
        return Err(Problem::too_many_items(body.items.len(), MAX_BATCH_ITEMS));
    }
    let key = sent_idempotency_key(&headers)?;
    let batch_id = key.clone().unwrap_or_else(|| Uuid::new_v4().to_string());
    let dataset = owned_dataset(&state, &auth, &id).await?;
    if dataset.status != DatasetStatus::Receiving {
        return Err(Problem::conflict(
            "dataset",
            format!(
                "the dataset is {} and takes no more batches",
                dataset.status.as_str()
            ),
        ));
    }
    let now = Utc::now();
    let batch = match validate_batch(kind, &body.items, now) {
        Ok(batch) => batch,
        Err(errors) => {
            let event = batch_rejected(&auth, dataset.id, batch_id, kind, body.items.len(), now)
                .with_detail("errors", errors.len().to_string());
            audit(&state, event).await;
            return Err(Problem::invalid(errors));
        }
    };
    let company = auth.company.id.to_string();
    let record = IngestRecord::batch(&company, &dataset.id.to_string(), &batch_id, now, &batch);
    // A fresh id stands for nothing yet: only a client's key needs binding here.
    if key.is_some() {
        let origin = BatchOrigin {
            company_id: auth.company.id,
            dataset_id: dataset.id,
            batch_id: &batch_id,
            at: now,
        };
        let reuse = state
            .store
            .bind_batch_id(&origin, kind, &batch_fingerprint(&batch))
            .await
            .map_err(|e| Problem::dependency_failed("cannot record the Idempotency-Key", e))?;
        if let Some(reuse) = reuse {
            let problem = reused_key(kind, reuse);
            let event = batch_rejected(&auth, dataset.id, batch_id, kind, batch.len(), now)
                .with_detail("reason", "Idempotency-Key reused for other content");
            audit(&state, event).await;
            return Err(problem);
        }
    }
    produce_batch(&state, &auth, &record).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchReceipt {
            dataset_id: dataset.id,
            batch_id,
            kind: kind.as_str(),
            items: batch.len(),
        }),
    )
        .into_response())
}

/// 422 for an Idempotency-Key first used for other content in this dataset, saying what differs.
fn reused_key(kind: ItemKind, reuse: BatchIdReuse) -> Problem {
    let reason = match reuse {
        BatchIdReuse::OtherKind(first) => format!(
            "was first used for a batch of {} in this dataset, and this batch is {}; a new batch needs a new key",
            first.path_segment(),
            kind.path_segment()
        ),
        BatchIdReuse::OtherItems => format!(
            "was first used for a batch of {} with other items in this dataset; a retry must send the same items, a new batch needs a new key",
            kind.path_segment()
        ),
    };
    let mut errors = aval_core::FieldErrors::default();
    errors.push("Idempotency-Key", reason);
    Problem::invalid(errors)
}

/// The audit event of a batch the gateway refused, before any detail of why.
fn batch_rejected(
    auth: &Authenticated,
    dataset: Uuid,
    batch_id: String,
    kind: ItemKind,
    items: usize,
    at: chrono::DateTime<Utc>,
) -> AuditEvent {
    AuditEvent::new(auth.company.id, AuditKind::BatchRejected, auth.actor(), at)
        .with_detail("dataset_id", dataset.to_string())
        .with_detail("batch_id", batch_id)
        .with_detail("kind", kind.as_str())
        .with_detail("items", items.to_string())
}

/// Produces a batch for the caller, sealed (the ingest processor checks every record the same
/// way, whoever produced it), keyed by company and batch id: one company's upload is spread
/// over every partition, so over every ingest processor, and a retried batch goes where its
/// first attempt went.
async fn produce_batch(
    state: &AppState,
    auth: &Authenticated,
    record: &IngestRecord,
) -> Result<(), Problem> {
    let key = keys::spread_key(&record.company_id, &record.batch_id);
    let topic = state.catalogue.topic(TopicRole::Ingest);
    publish_sealed(state, auth, topic, None, &key, record, &[])
        .await
        .map(|_| ())
        .map_err(|e| Problem::dependency_failed("cannot queue the batch", e))
}

/// Produces a copy of the completion marker to every partition of the ingest topic: each
/// copy follows the batches produced to its partition before it, so once the ingest
/// processors have read them all, every batch sent before the marker has been stored.
async fn produce_completion(
    state: &AppState,
    auth: &Authenticated,
    dataset: Uuid,
    counts: Counts,
) -> Result<(), Problem> {
    let failed = |e| Problem::dependency_failed("cannot queue the completion marker", e);
    let topic = state.catalogue.topic(TopicRole::Ingest);
    let partitions = state
        .publisher_for(topic)
        .partition_count(&topic.name)
        .await
        .map_err(failed)?;
    let company = auth.company.id.to_string();
    let marker = CompletionMarker {
        counts,
        copies: u32::try_from(partitions).unwrap_or(1),
    };
    let record = IngestRecord::completion(
        &company,
        &dataset.to_string(),
        &format!("completion-{}", Uuid::new_v4()),
        Utc::now(),
        &marker,
    );
    let copies = (0..partitions).map(|partition| {
        publish_sealed(state, auth, topic, Some(partition), &company, &record, &[])
    });
    futures::future::try_join_all(copies)
        .await
        .map_err(failed)?;
    Ok(())
}

/// `POST /v1/datasets/{id}/complete`: a copy of the marker follows the batches on every
/// partition, so the ingest processors complete the dataset after all of them.
#[utoipa::path(
    post,
    path = "/v1/datasets/{id}/complete",
    tag = "datasets",
    operation_id = "completeDataset",
    summary = "Send the completion marker",
    description = "Closes the dataset: it moves to `validating` and takes no more batches. The marker is queued after every batch sent before it; once they are all processed the dataset becomes `ready`, or `rejected` with reasons (for example when a count announced here differs from the items stored). A `ready` dataset is then trained on by itself (`training`, then `trained` or `failed`). Poll `GET /v1/datasets/{id}` for the outcome. The body is checked before the dataset is looked up, so a bad body gets 422 even for an unknown dataset.",
    params(params::DatasetId),
    request_body(content = CompletionBody, content_type = "application/json", example = examples::complete_dataset_request),
    responses(
        (status = 202, description = "Marker queued. The body is the dataset as it now stands: status `validating`, `announced` set to the counts sent.", content_type = "application/json", body = DatasetView),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::DatasetNotFound),
        (status = 409, description = "The dataset was completed already (`errors` names `dataset`).", content_type = "application/problem+json", body = Problem),
        (status = 413, response = responses::BodyTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, description = "The marker could not be queued; the dataset is back to `receiving`, so the call can be retried.", content_type = "application/problem+json", body = Problem),
    )
)]
pub(crate) async fn complete(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CompletionBody>,
) -> Result<Response, Problem> {
    let counts = validate_counts(&body.counts).map_err(Problem::invalid)?;
    let dataset = owned_dataset(&state, &auth, &id).await?;
    let moved = state
        .store
        .begin_validation(auth.company.id, dataset.id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot complete the dataset", e))?;
    if !moved {
        return Err(Problem::conflict(
            "dataset",
            format!(
                "the dataset is {} and was completed already",
                dataset.status.as_str()
            ),
        ));
    }
    if let Err(problem) = produce_completion(&state, &auth, dataset.id, counts).await {
        if let Err(e) = state
            .store
            .cancel_validation(auth.company.id, dataset.id)
            .await
        {
            tracing::error!(error = %e, dataset = %dataset.id, "cannot reopen the dataset after a failed completion");
        }
        return Err(problem);
    }
    let runs = dataset_runs(&state, auth.company.id, &[dataset.id]).await?;
    let mut view = DatasetView::with_runs(dataset, &runs);
    view.status = DatasetStatus::Validating.as_str();
    view.announced = Some(counts);
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}
