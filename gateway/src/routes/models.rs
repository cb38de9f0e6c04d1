//! Model versions: list, read, compare on the orders none of them trained on, activate, and
//! ask for retraining.
//! Training itself is no endpoint: it follows a dataset's completion, or a retrain request
//! produced here.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::datasets::sent_idempotency_key;
use crate::routes::openapi::{examples, params, responses};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::experiment::ChampionReason;
use aval_core::model::{self, Comparison, Learner, ModelMetrics};
use aval_core::outcome::TrainingLabel;
use aval_store::StoreError;
use aval_store::comparison::Comparable;
use aval_store::models::ModelVersion;
use aval_topics::TopicRole;
use aval_topics::records::TrainingRequestRecord;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// How many versions one comparison takes.
pub(crate) const COMPARED_VERSIONS: std::ops::RangeInclusive<usize> = 2..=10;

fn parse_version(text: &str) -> Result<i32, Problem> {
    text.parse::<i32>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| Problem::not_found("no such model version"))
}

async fn load(state: &AppState, company: Uuid, version: i32) -> Result<ModelVersion, Problem> {
    state
        .store
        .model(company, version)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the model", e))?
        .ok_or_else(|| Problem::not_found(format!("no model version {version}")))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ModelList {
    /// The version that scores orders; null when none is active yet.
    #[schema(required = true, minimum = 1)]
    active_version: Option<i32>,
    /// Newest first.
    models: Vec<Summary>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ModelSummary)]
pub(crate) struct Summary {
    #[schema(minimum = 1)]
    version: i32,
    #[schema(value_type = Learner)]
    learner: String,
    active: bool,
    created_at: DateTime<Utc>,
    /// The datasets it was trained on.
    dataset_ids: Vec<Uuid>,
    /// Orders with a probability at or above this are blocked.
    #[schema(minimum = 0, maximum = 1)]
    threshold: f64,
    /// The headline holdout metrics; the full set is at `/v1/models/{version}`.
    holdout: HoldoutHeadline,
}

/// The headline of a version's holdout `Evaluation`, copied from its stored metrics.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HoldoutHeadline {
    #[schema(value_type = f64, minimum = 0, maximum = 1)]
    accuracy: Value,
    #[schema(value_type = f64, minimum = 0, maximum = 1)]
    roc_auc: Value,
    #[schema(value_type = f64, minimum = 0, maximum = 1)]
    ks: Value,
    #[schema(value_type = u64)]
    examples: Value,
}

/// One version with its learner's settings and every metric of its training.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ModelDetail {
    #[schema(minimum = 1)]
    version: i32,
    #[schema(value_type = Learner)]
    learner: String,
    active: bool,
    created_at: DateTime<Utc>,
    /// The datasets it was trained on.
    dataset_ids: Vec<Uuid>,
    /// Orders with a probability at or above this are blocked; the same as
    /// `metrics.threshold`.
    #[schema(minimum = 0, maximum = 1)]
    threshold: f64,
    /// The `params` of the stored artifact; null when it cannot be read.
    #[schema(schema_with = schema::model_params)]
    params: Value,
    /// The metrics stored with the version, as training wrote them.
    #[schema(value_type = ModelMetrics)]
    metrics: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ModelActivation {
    #[schema(minimum = 1)]
    version: i32,
    /// Always true.
    active: bool,
    activated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RetrainAccepted {
    /// The training request's id: the training's audit events carry it as `request_id`.
    #[schema(format = Uuid)]
    request_id: String,
    /// The datasets the new version will be trained on.
    #[schema(min_items = 1)]
    dataset_ids: Vec<Uuid>,
}

#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    operation_id = "listModels",
    summary = "The company's model versions",
    description = "Every model version of the company, newest first, each with its headline holdout metrics (the full set is at `GET /v1/models/{version}`), and which one is active. Versions are made by training, which is no endpoint: it follows a dataset becoming `ready`, or a `POST /v1/models/retrain`. A new version becomes active by itself when none is, or when its holdout ROC AUC is at least the active version's on the same holdout; otherwise it stays a candidate (audit event `model.kept_as_candidate`) until activated.",
    responses(
        (status = 200, description = "The versions; `models` is empty and `active_version` null before the first training.", content_type = "application/json", body = ModelList, example = examples::list_models_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<ModelList>, Problem> {
    let models = state
        .store
        .models(auth.company.id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot list the models", e))?;
    let active = models.iter().find(|m| m.active).map(|m| m.version);
    let summaries: Vec<Summary> = models
        .into_iter()
        .map(|m| Summary {
            holdout: headline(&m.metrics),
            version: m.version,
            learner: m.learner,
            active: m.active,
            created_at: m.created_at,
            dataset_ids: m.dataset_ids,
            threshold: m.threshold,
        })
        .collect();
    Ok(Json(ModelList {
        active_version: active,
        models: summaries,
    }))
}

fn headline(metrics: &Value) -> HoldoutHeadline {
    let holdout = &metrics["holdout"];
    HoldoutHeadline {
        accuracy: holdout["accuracy"].clone(),
        roc_auc: holdout["roc_auc"].clone(),
        ks: holdout["ks"].clone(),
        examples: holdout["examples"].clone(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/models/{version}",
    tag = "models",
    operation_id = "getModel",
    summary = "One model version",
    description = "The version with its chosen learner's settings (`params`) and every metric of its training: the holdout evaluation with its confusion matrix, each candidate learner's scores, feature importance and monotonicity checks.",
    params(params::ModelVersion),
    responses(
        (status = 200, description = "The version.", content_type = "application/json", body = ModelDetail, example = examples::get_model_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::ModelNotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn show(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<Json<ModelDetail>, Problem> {
    let model = load(&state, auth.company.id, parse_version(&version)?).await?;
    let active = state
        .store
        .active_version(auth.company.id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the active model", e))?;
    let params = serde_json::from_slice::<Value>(&model.artifact)
        .map(|artifact| artifact["params"].clone())
        .unwrap_or(Value::Null);
    Ok(Json(ModelDetail {
        version: model.version,
        learner: model.learner,
        active: active == Some(model.version),
        created_at: model.created_at,
        dataset_ids: model.dataset_ids,
        threshold: model.threshold,
        params,
        metrics: model.metrics,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/models/{version}/activate",
    tag = "models",
    operation_id = "activateModel",
    summary = "Make a version the active one",
    description = "The version scores the company's orders from now on, whatever its metrics (an older version can be re-activated). Stored first, then announced to the scorers and the audit log (`model.activated`). Activating the active version again is allowed and announces it again. Takes no body (one sent is ignored).",
    params(params::ModelVersion),
    responses(
        (status = 200, description = "Active and announced.", content_type = "application/json", body = ModelActivation, example = examples::activate_model_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::ModelNotFound),
        (status = 503, description = "The database failed and nothing changed, or (detail `the model is active but scorers were not told yet; retry`) the version is stored as active but the announcement could not be queued. Either way, retry the call.", content_type = "application/problem+json", body = Problem),
    )
)]
pub(crate) async fn activate(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<Json<ModelActivation>, Problem> {
    let version = parse_version(&version)?;
    let company = auth.company.id;
    let at = Utc::now();
    match state
        .store
        .activate(
            company,
            version,
            &auth.actor(),
            at,
            ChampionReason::Activated,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(Problem::not_found(format!("no model version {version}")));
        }
        Err(e) => return Err(Problem::dependency_failed("cannot activate the model", e)),
    }
    // Stored first: a scorer that misses this record still finds the active version in the
    // database; the record makes every scorer switch now.
    state
        .publisher
        .announce_activation(&state.catalogue, company, version, &auth.actor(), at)
        .await
        .map_err(|e| {
            Problem::dependency_failed("the model is active but scorers were not told yet", e)
        })?;
    Ok(Json(ModelActivation {
        version,
        active: true,
        activated_at: at,
    }))
}

/// The versions a comparison names: `versions=a,b`, 2 to 10 distinct numbers, and nothing else.
fn compared_versions(params: &HashMap<String, String>) -> Result<Vec<i32>, Problem> {
    let mut errors = FieldErrors::default();
    for key in params.keys().filter(|k| k.as_str() != "versions") {
        errors.push(key.as_str(), "unknown parameter; use versions=a,b");
    }
    let versions: Vec<i32> = match params.get("versions") {
        None => {
            errors.push("versions", "is required, e.g. versions=1,2");
            Vec::new()
        }
        Some(list) => {
            let parsed: Result<Vec<i32>, _> =
                list.split(',').map(|v| v.trim().parse::<i32>()).collect();
            match parsed {
                Ok(v)
                    if COMPARED_VERSIONS.contains(&v.len())
                        && v.iter().all(|v| *v >= 1)
                        && v.iter().collect::<HashSet<_>>().len() == v.len() =>
                {
                    v
                }
                _ => {
                    errors.push(
                        "versions",
                        format!(
                            "must list {} to {} distinct version numbers separated by commas",
                            COMPARED_VERSIONS.start(),
                            COMPARED_VERSIONS.end()
                        ),
                    );
                    Vec::new()
                }
            }
        }
    };
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    Ok(versions)
}

/// Evaluates each named version, side by side, on the orders none of them trained on; 409
/// when too few of those remain to judge by.
#[utoipa::path(
    get,
    path = "/v1/models/compare",
    tag = "models",
    operation_id = "compareModels",
    summary = "Compare versions on orders none of them trained on",
    description = "Evaluates each listed version, at its own threshold, on the same orders: the orders with an outcome, in the datasets any of the versions was trained from, that none of them trained on. An order is compared on when, for every version, it is in that version's holdout or in none of its datasets. (Scoring every version on the newest one's holdout flattered an older version that had trained on some of those orders.) The answer says how many orders were compared on and of which outcome, how many were left out, and how many each version trained on. With fewer than 10 of either outcome left, the comparison is refused (409): an AUC on so few orders tells nothing. Versions come back in the order listed. Any query parameter other than `versions` is refused (422). The evaluation runs on request, so it takes a moment for large datasets.",
    params(params::CompareVersions),
    responses(
        (status = 200, description = "Each version's evaluation on the same orders, none of which any of them trained on.", content_type = "application/json", body = aval_core::model::Comparison, example = examples::compare_models_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::ModelNotFound),
        (status = 409, description = "Too few orders remain that none of the versions trained on: fewer than 10 of either outcome (`detail` and `errors`, on `versions`, say how many remain of each and the minimum). Compare versions trained on other datasets, or upload newer orders and retrain.", content_type = "application/problem+json", body = Problem, example = examples::compare_models_409),
        (status = 422, description = "`versions` is missing or is not 2 to 10 whole numbers of at least 1 separated by commas, or another query parameter was sent. `errors` names each (`versions`, or the unknown parameter).", content_type = "application/problem+json", body = Problem, example = examples::compare_models_422),
        (status = 503, description = "The database failed, or a stored model could not be read. Nothing was changed.", content_type = "application/problem+json", body = Problem),
    )
)]
pub(crate) async fn compare(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Comparison>, Problem> {
    let versions = compared_versions(&params)?;
    let found = state
        .store
        .comparison_data(auth.company.id, &versions)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the models or their data", e))?;
    let data = match found {
        Comparable::Found(data) => data,
        Comparable::NoSuchVersion(version) => {
            return Err(Problem::not_found(format!("no model version {version}")));
        }
    };
    // Features for every order and a score per version: seconds on a large dataset.
    let compared = tokio::task::spawn_blocking(move || {
        let items = &data.data;
        model::compare(
            &data.contenders(),
            &items.customers,
            &items.credit_limits,
            &items.bureau_reports,
            &items.orders,
        )
    })
    .await
    .map_err(|e| Problem::dependency_failed("the comparison failed", e))?;
    compared
        .map(Json)
        .map_err(|too_few| Problem::conflict("versions", too_few.to_string()))
}

/// Unknown fields are refused (400).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RetrainRequest)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetrainBody {
    /// Strings, not UUIDs, so that `chosen_datasets` names each bad one (422).
    #[schema(schema_with = schema::dataset_ids)]
    dataset_ids: Option<Vec<String>>,
    /// What the version learns: `company_decision` (default), the company's decision on each
    /// uploaded order; or `outcomes`, how the orders aval decided were repaid, by the
    /// company's definition of a bad order (uploaded orders that aval decided and whose
    /// decision has matured with a repayment outcome).
    #[serde(default)]
    label: Option<TrainingLabel>,
}

/// The datasets a retrain names: 422 for a list that is empty or not of distinct UUIDs (the
/// request is malformed), else 409 naming each one that is not a completed dataset of the
/// company (the request is well formed; the company's datasets are not in that state).
fn chosen_datasets(ids: &[String], trainable: &[Uuid]) -> Result<Vec<Uuid>, Problem> {
    let mut malformed = FieldErrors::default();
    let mut absent = FieldErrors::default();
    let mut chosen = Vec::new();
    if ids.is_empty() {
        malformed.push(
            "dataset_ids",
            "list at least one dataset, or leave it out to use all",
        );
    }
    for (i, id) in ids.iter().enumerate() {
        match Uuid::parse_str(id) {
            Err(_) => malformed.push(format!("dataset_ids[{i}]"), "must be a dataset id (a UUID)"),
            Ok(id) if chosen.contains(&id) => {
                malformed.push(format!("dataset_ids[{i}]"), "is listed twice");
            }
            Ok(id) => {
                if !trainable.contains(&id) {
                    absent.push(
                        format!("dataset_ids[{i}]"),
                        "is not a completed dataset of this company",
                    );
                }
                chosen.push(id);
            }
        }
    }
    if !malformed.is_empty() {
        return Err(Problem::invalid(malformed));
    }
    if !absent.is_empty() {
        return Err(Problem::conflicts(absent));
    }
    Ok(chosen)
}

/// Asks the trainer for a new version on the union of stored datasets (default: all).
#[utoipa::path(
    post,
    path = "/v1/models/retrain",
    tag = "models",
    operation_id = "retrainModel",
    summary = "Ask for a new version",
    description = "Queues a training request on the union of the named datasets, or, with no body, an empty body or `{}`, of every completed dataset of the company (status `ready`, `training`, `trained` or `failed`). `label` chooses what the version learns: `company_decision` (the default, and what every automatic training learns) or `outcomes` (the repayment of the orders aval decided, by the company's definition of a bad order: only uploaded orders that aval decided and whose decision has matured with a repayment outcome are learnt from; too few of them fails the training with the reason). The version records its label (`GET /v1/models/{version}`). Training is asynchronous: the run is `queued` at once; follow it at `GET /v1/models/runs` (running with its progress, then finished with its version or failed with the reason), or read the audit log (`training.started`, then `training.finished` or `training.failed`). Each call queues a new request, so a retried call trains twice. The body is read as JSON whatever its `Content-Type`.",
    params(params::RetrainIdempotencyKey),
    request_body(content = RetrainBody, content_type = "application/json", example = examples::retrain_model_request),
    responses(
        (status = 202, description = "Queued.", content_type = "application/json", body = RetrainAccepted, example = examples::retrain_model_202),
        (status = 400, description = "The body is not valid JSON or not the shape this call takes, or the `Idempotency-Key` header breaks its rule (then `errors` names `Idempotency-Key`).", content_type = "application/problem+json", body = Problem),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, description = "The body names a dataset that is not a completed dataset of this company (`errors` names each, as `dataset_ids[1]`), or names none and the company has no completed dataset yet (`errors` names `dataset_ids`).", content_type = "application/problem+json", body = Problem, example = examples::retrain_model_409),
        (status = 413, description = "The body is over 4 MiB (4194304 bytes). Unlike other calls, this answer is plain text, not a problem document.", content_type = "text/plain; charset=utf-8", body = String),
        (status = 422, description = "`dataset_ids` is empty, lists a dataset twice, or holds something that is not a UUID (`errors` names each, as `dataset_ids[1]`).", content_type = "application/problem+json", body = Problem, example = examples::retrain_model_422),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn retrain(
    auth: Authenticated,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    // The body is optional: none (or `{}`) retrains on every completed dataset.
    let body: RetrainBody = if body.iter().all(u8::is_ascii_whitespace) {
        RetrainBody::default()
    } else {
        crate::json::parse(&body)?
    };
    let company = auth.company.id;
    let trainable = state
        .store
        .trainable_datasets(company)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the datasets", e))?;
    let requested = body.dataset_ids.clone();
    let dataset_ids: Vec<Uuid> = match requested {
        None => trainable.clone(),
        Some(ids) => chosen_datasets(&ids, &trainable)?,
    };
    if dataset_ids.is_empty() {
        return Err(Problem::conflict(
            "dataset_ids",
            "no completed dataset to train on yet",
        ));
    }
    // With an Idempotency-Key, a retried call names the same request, which trains once.
    let request_id = match sent_idempotency_key(&headers)? {
        Some(key) => Uuid::new_v5(&company, format!("retrain\u{1f}{key}").as_bytes()).to_string(),
        None => Uuid::new_v4().to_string(),
    };
    let request = TrainingRequestRecord {
        request_id,
        company_id: company.to_string(),
        dataset_ids: dataset_ids.iter().map(Uuid::to_string).collect(),
        reason: "retrain".to_owned(),
        requested_at: Utc::now().timestamp_millis(),
        label: body.label.unwrap_or_default(),
    };
    // The run is queued in a transaction committed once the request is on Kafka: no run
    // without a request, and a trainer quick to take the request waits for the commit.
    let queued = state
        .store
        .queue_training(&request.request_id, company, &dataset_ids, Utc::now())
        .await
        .map_err(|e| Problem::dependency_failed("cannot queue the training request", e))?;
    state
        .publisher
        .publish(
            state.catalogue.topic(TopicRole::TrainingRequests),
            &request.company_id,
            &request,
            &[],
        )
        .await
        .map_err(|e| Problem::dependency_failed("cannot queue the training request", e))?;
    // The request is on its way: without the queued row the trainer records the run itself
    // when it takes the request, so the call still succeeded.
    if let Err(e) = queued.commit().await {
        tracing::warn!(error = %e, request = %request.request_id, "cannot record the queued training run");
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(RetrainAccepted {
            request_id: request.request_id,
            dataset_ids,
        }),
    )
        .into_response())
}

/// The API document's schemas of what the derive cannot state.
mod schema {
    use utoipa::openapi::schema::{
        AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
    };
    use utoipa::openapi::{KnownFormat, SchemaFormat};

    fn typed(kind: Type) -> ObjectBuilder {
        ObjectBuilder::new().schema_type(kind)
    }

    fn count() -> ObjectBuilder {
        typed(Type::Integer).minimum(Some(0))
    }

    /// One learner's settings, by the fields its `params` has (`aval_core::model::learners`).
    fn learner(name: &str, fields: Vec<(&str, Schema)>) -> Schema {
        let mut object = typed(Type::Object).title(Some(name));
        for (field, schema) in fields {
            object = object.property(field, schema);
        }
        object.into()
    }

    pub(super) fn model_params() -> Schema {
        let number = || Schema::from(typed(Type::Number));
        let boolean = || Schema::from(typed(Type::Boolean));
        AnyOfBuilder::new()
            .description(Some(
                "The chosen learner's settings; their shape depends on `learner`. Null when the \
                 stored model cannot be read.",
            ))
            .item(learner(
                "gradient_boosting",
                vec![
                    ("iterations", count().into()),
                    ("learning_rate", number()),
                    ("max_depth", count().into()),
                    ("l2", number()),
                    ("min_leaf_weight", number()),
                    ("colsample_bytree", number()),
                    (
                        "monotone",
                        typed(Type::Boolean)
                            .description(Some(
                                "Monotone constraints on the features whose direction is known.",
                            ))
                            .into(),
                    ),
                    ("parallel", boolean()),
                ],
            ))
            .item(learner(
                "logistic_regression",
                vec![
                    (
                        "penalty_per_row",
                        typed(Type::Number)
                            .description(Some(
                                "The L2 penalty chosen by cross-validation, per training row.",
                            ))
                            .into(),
                    ),
                    (
                        "alpha",
                        typed(Type::Number)
                            .description(Some("`penalty_per_row` times the training rows."))
                            .into(),
                    ),
                    (
                        "penalties_tried",
                        ArrayBuilder::new().items(typed(Type::Number)).into(),
                    ),
                    ("max_iterations", count().into()),
                    ("standardised", boolean()),
                    (
                        "missing",
                        typed(Type::String)
                            .description(Some("How missing values were filled."))
                            .into(),
                    ),
                ],
            ))
            .item(learner(
                "random_forest",
                vec![
                    ("trees", count().into()),
                    ("max_depth", count().into()),
                    ("min_leaf", number()),
                    ("feature_proportion", number()),
                    ("max_rows", count().into()),
                ],
            ))
            .item(typed(Type::Null))
            .into()
    }

    pub(super) fn dataset_ids() -> Schema {
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(typed(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))))
            .min_items(Some(1))
            .unique_items(true)
            .description(Some(
                "The completed datasets of the company to train on together, each once. Absent \
                 or null: all of them.",
            ))
            .into()
    }
}
