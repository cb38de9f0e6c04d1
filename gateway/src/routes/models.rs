//! Model versions: list, read, compare on the orders none of them trained on, activate, and
//! ask for retraining.
//! Training itself is no endpoint: it follows a dataset's completion, or a retrain request
//! produced here.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::datasets::sent_idempotency_key;
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::model::{self, Comparison};
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
use serde_json::{Value, json};
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

#[derive(Debug, Serialize)]
struct Summary {
    version: i32,
    learner: String,
    active: bool,
    created_at: DateTime<Utc>,
    dataset_ids: Vec<Uuid>,
    threshold: f64,
    /// The headline holdout metrics; the full set is at `/v1/models/{version}`.
    holdout: Value,
}

pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<Value>, Problem> {
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
    Ok(Json(json!({"active_version": active, "models": summaries})))
}

fn headline(metrics: &Value) -> Value {
    let holdout = &metrics["holdout"];
    json!({
        "accuracy": holdout["accuracy"],
        "roc_auc": holdout["roc_auc"],
        "ks": holdout["ks"],
        "examples": holdout["examples"],
    })
}

pub(crate) async fn show(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<Json<Value>, Problem> {
    let model = load(&state, auth.company.id, parse_version(&version)?).await?;
    let active = state
        .store
        .active_version(auth.company.id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the active model", e))?;
    let params = serde_json::from_slice::<Value>(&model.artifact)
        .map(|artifact| artifact["params"].clone())
        .unwrap_or(Value::Null);
    Ok(Json(json!({
        "version": model.version,
        "learner": model.learner,
        "active": active == Some(model.version),
        "created_at": model.created_at,
        "dataset_ids": model.dataset_ids,
        "threshold": model.threshold,
        "params": params,
        "metrics": model.metrics,
    })))
}

pub(crate) async fn activate(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<Json<Value>, Problem> {
    let version = parse_version(&version)?;
    let company = auth.company.id;
    let at = Utc::now();
    match state
        .store
        .activate(company, version, &auth.actor(), at)
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
    Ok(Json(
        json!({"version": version, "active": true, "activated_at": at}),
    ))
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetrainBody {
    dataset_ids: Option<Vec<String>>,
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
    let requested = body.dataset_ids;
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
    };
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
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"request_id": request.request_id, "dataset_ids": dataset_ids})),
    )
        .into_response())
}
