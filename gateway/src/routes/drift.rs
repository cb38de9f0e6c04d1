//! `GET /v1/monitoring/drift`: whether the orders a model version now scores still look like
//! those it trained on. The version's training distributions were kept with it; its decisions
//! of the window, each with its drift values, are counted into the same cells
//! (`aval_core::monitoring::DriftWindow`), and each feature and the score are tested against
//! a threshold set by the false-alarm rate and the sizes of both samples.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::query::{model_version, range, refuse_unknown, window_until};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::monitoring::{DEFAULT_ALPHA, DriftReport, FeatureDrift};
use aval_store::drift::StoredReference;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::ops::RangeInclusive;

/// The window read when `from` is not given: this long before `to`.
const DEFAULT_SPAN_DAYS: i64 = 7;
/// The false-alarm rates a report may be asked at.
const ALPHA: RangeInclusive<f64> = 0.0001..=0.2;
/// Drifting features named first.
const TOP_DRIFTING: usize = 3;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DriftView {
    #[schema(minimum = 1)]
    model_version: i32,
    /// Decisions decided in [from, to).
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Decisions of the window counted.
    #[schema(minimum = 0)]
    decisions: u64,
    /// Decisions of the window left out: recorded before aval kept each decision's features.
    #[schema(minimum = 0)]
    without_values: u64,
    /// The chance that a window drawn like the training orders suggests retraining.
    #[schema(minimum = 0.0001, maximum = 0.2)]
    alpha: f64,
    /// The false-alarm rate of each test: `alpha` shared among the score and the features.
    alpha_per_test: f64,
    /// The score (the probability of blocking) against the version's holdout.
    score: FeatureDrift,
    /// Each feature of the version against its training orders, in the model's order.
    features: Vec<FeatureDrift>,
    /// Up to three drifting features, furthest above their thresholds first.
    top_drifting: Vec<String>,
    /// The score or some feature is drifting: the orders have moved away from those the
    /// version learnt from, and a version trained on recent data may do better.
    retrain_suggested: bool,
}

impl DriftView {
    fn new(model_version: i32, query: &DriftQuery, report: DriftReport, left_out: u64) -> Self {
        let top_drifting = report
            .top_drifting(TOP_DRIFTING)
            .into_iter()
            .map(|f| f.name.clone())
            .collect();
        Self {
            model_version,
            from: query.from,
            to: query.to,
            decisions: report.score.window_size,
            without_values: left_out,
            alpha: report.alpha,
            alpha_per_test: report.alpha_per_test,
            retrain_suggested: report.retrain_suggested,
            score: report.score,
            features: report.features,
            top_drifting,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct DriftQuery {
    model_version: Option<i32>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    alpha: f64,
}

fn drift_query(
    params: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<DriftQuery, FieldErrors> {
    let mut errors = FieldErrors::default();
    refuse_unknown(
        params,
        &["model_version", "from", "to", "alpha"],
        &mut errors,
    );
    let (from, to) = range(params, &mut errors);
    let model_version = model_version(params, &mut errors);
    let alpha = match params.get("alpha").map(|v| v.parse::<f64>()) {
        None => DEFAULT_ALPHA,
        Some(Ok(a)) if ALPHA.contains(&a) => a,
        Some(_) => {
            errors.push(
                "alpha",
                format!("must be a number from {} to {}", ALPHA.start(), ALPHA.end()),
            );
            DEFAULT_ALPHA
        }
    };
    let (from, to) = window_until((from, to), now, Duration::days(DEFAULT_SPAN_DAYS));
    errors.into_result(DriftQuery {
        model_version,
        from,
        to,
        alpha,
    })
}

#[utoipa::path(
    get,
    path = "/v1/monitoring/drift",
    tag = "monitoring",
    operation_id = "getDrift",
    summary = "Whether the orders a model version scores still look like its training orders",
    description = "The Population Stability Index (PSI) of the score and of each feature (CSI), between the version's training orders and its decisions decided in [from, to). Each feature's training values were cut into ten quantile cells (a category: one cell per level, one for levels too rare or unseen in training), plus one for missing values, and kept with the version; the score is compared with the version's probabilities on its holdout. A feature drifts when its PSI is above the threshold chance alone exceeds with probability `alpha_per_test` at the window's and the training sample's sizes (`alpha` shared among the score and the features), so a window drawn like the training orders suggests retraining with probability at most `alpha` (default 0.01) whether it holds a hundred decisions or a million, and larger windows catch smaller shifts. The customary bands (stable below 0.1, moderate below 0.25, significant above) are shown beside each PSI but raise no alarm. `model_version` defaults to the active version (409 when there is none); 404 when the company has no such version; 409 when the version was trained before training distributions were kept (retrain to monitor it). `to` defaults to now, `from` to 7 days before `to`. Any other query parameter, or a bad value, is refused (422, naming the field).",
    params(params::Drift),
    responses(
        (status = 200, description = "The drift of the window; with no decision in it, nothing drifts.", content_type = "application/json", body = DriftView, example = examples::drift_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::ModelNotFound),
        (status = 409, response = responses::NoDriftReference),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn drift(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<DriftView>, Problem> {
    let query = drift_query(&params, Utc::now()).map_err(Problem::invalid)?;
    let company = auth.company.id;
    let failed = |e| Problem::dependency_failed("cannot read the model version's decisions", e);
    let version = match query.model_version {
        Some(version) => version,
        None => state
            .store
            .active_version(company)
            .await
            .map_err(failed)?
            .ok_or_else(|| {
                Problem::no_model(
                    "the company has no active model: name a version with model_version",
                )
            })?,
    };
    let reference = match state
        .store
        .drift_reference(company, version)
        .await
        .map_err(failed)?
    {
        StoredReference::Kept(reference) => reference,
        StoredReference::NoVersion => {
            return Err(Problem::not_found(format!("no model version {version}")));
        }
        StoredReference::NotKept => {
            return Err(Problem::conflict(
                "model_version",
                format!(
                    "model version {version} was trained before training distributions were \
                     kept: retrain to monitor its drift"
                ),
            ));
        }
    };
    let window = state
        .store
        .drift_window(company, version, &reference, (query.from, query.to))
        .await
        .map_err(failed)?;
    let report = window
        .report(&reference, query.alpha)
        .map_err(|e| Problem::failed(format!("the version's drift cannot be computed: {e}")))?;
    Ok(Json(DriftView::new(
        version,
        &query,
        report,
        window.without_values(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn query(pairs: &[(&str, &str)]) -> Result<DriftQuery, FieldErrors> {
        let params = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        drift_query(&params, now())
    }

    #[test]
    fn defaults_are_the_last_week_of_the_active_version_at_one_percent() {
        let q = query(&[]).expect("valid");
        assert_eq!(q.to, now());
        assert_eq!(q.from, now() - Duration::days(7));
        assert_eq!(q.model_version, None);
        assert!((q.alpha - 0.01).abs() < f64::EPSILON);
        let named = query(&[("model_version", "2"), ("alpha", "0.05")]).expect("valid");
        assert_eq!(named.model_version, Some(2));
        assert!((named.alpha - 0.05).abs() < f64::EPSILON);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let errors = query(&[
            ("model_version", "0"),
            ("alpha", "0.5"),
            ("from", "2026-12-04T00:00:00Z"),
            ("to", "2026-12-01T00:00:00Z"),
            ("as_of", "2026-12-01T00:00:00Z"),
        ])
        .expect_err("invalid");
        let mut fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
        fields.sort();
        assert_eq!(fields, ["alpha", "as_of", "model_version", "to"]);
    }
}
