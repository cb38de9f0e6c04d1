//! `GET /v1/monitoring/performance`: how each model version does on the company's live orders
//! once their outcomes are known, beside its holdout. Decisions of a window are judged as of an
//! instant by the company's definition of a bad order (`aval_core::monitoring::LiveWindow`),
//! reading the outcomes and the definition as they stood then (`aval_store::monitoring`), so
//! a past `as_of` gives the same answer whenever it is asked.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::outcomes::DefinitionView;
use crate::routes::query::{as_of, model_version, range, refuse_unknown, window_until};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::model::{CalibrationBin, ModelMetrics};
use aval_core::monitoring::{DEFAULT_CONFIDENCE, Performance, ScoreAccumulator, VersionWindow};
use aval_store::monitoring::MonitoringWindow;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::ops::RangeInclusive;

/// The window read when `from` is not given: this long before `to`. A decision matures only
/// after the definition's window (180 days by default), so a shorter default would mostly
/// hold immature decisions.
const DEFAULT_SPAN_DAYS: i64 = 365;

/// The confidences an interval may be asked at.
const CONFIDENCE: RangeInclusive<f64> = 0.5..=0.999;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PerformanceReport {
    /// What was known at this instant: decisions up to it, outcomes stored by it, the
    /// definition in force then.
    as_of: DateTime<Utc>,
    /// Decisions decided in [from, to).
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Of every interval.
    #[schema(minimum = 0.5, maximum = 0.999)]
    confidence: f64,
    /// The definition of a bad order the decisions were judged by.
    definition: DefinitionView,
    /// Each version with decisions in the window (or the one asked for), newest first.
    versions: Vec<VersionPerformance>,
}

/// One model version's live measures and its holdout's.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct VersionPerformance {
    #[schema(minimum = 1)]
    model_version: i32,
    /// Decisions in the window.
    #[schema(minimum = 0)]
    decisions: u64,
    /// Too recent to judge: fewer than `within_days` days old at `as_of`.
    #[schema(minimum = 0)]
    immature: u64,
    /// Matured without a repayment outcome: left out of bad rates, AUC and KS.
    #[schema(minimum = 0)]
    unknown: u64,
    /// Matured and good, and matured and bad, by the definition.
    #[schema(minimum = 0)]
    good: u64,
    #[schema(minimum = 0)]
    bad: u64,
    /// On the live orders: the approval rate over every decision of the window; the bad rate,
    /// AUC, KS and calibration over the matured ones with a repayment outcome.
    live: Performance,
    /// The same measures on the version's holdout at training, where "bad" was an order the
    /// company blocked; absent for a version trained before they were recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    holdout: Option<HoldoutPerformance>,
}

/// A version's holdout, as training measured it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HoldoutPerformance {
    #[schema(minimum = 0)]
    examples: usize,
    /// Holdout orders below the threshold.
    #[schema(minimum = 0, maximum = 1)]
    approval_rate: f64,
    /// Of those, the share the company had blocked.
    #[schema(minimum = 0, maximum = 1)]
    bad_rate: f64,
    #[schema(minimum = 0, maximum = 1)]
    auc: f64,
    #[schema(minimum = 0, maximum = 1)]
    ks: f64,
    /// Holdout orders in ten groups by probability: mean probability beside the share blocked.
    calibration: Vec<CalibrationBin>,
}

impl HoldoutPerformance {
    fn of(metrics: &ModelMetrics) -> Self {
        let c = &metrics.holdout.confusion;
        let approved = c.approved_predicted_approved + c.blocked_predicted_approved;
        let share = |num: u64, den: u64| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        Self {
            examples: metrics.holdout.examples,
            approval_rate: share(approved, c.total()),
            bad_rate: share(c.blocked_predicted_approved, approved),
            auc: metrics.holdout.roc_auc,
            ks: metrics.holdout.ks,
            calibration: metrics
                .holdout_curves
                .as_ref()
                .map(|curves| curves.calibration.clone())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct PerformanceQuery {
    window: MonitoringWindow,
    confidence: f64,
}

fn performance_query(
    params: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<PerformanceQuery, FieldErrors> {
    let mut errors = FieldErrors::default();
    refuse_unknown(
        params,
        &["model_version", "from", "to", "as_of", "confidence"],
        &mut errors,
    );
    let (from, to) = range(params, &mut errors);
    let as_of = as_of(params, now, &mut errors);
    let model_version = model_version(params, &mut errors);
    let confidence = match params.get("confidence").map(|v| v.parse::<f64>()) {
        None => DEFAULT_CONFIDENCE,
        Some(Ok(c)) if CONFIDENCE.contains(&c) => c,
        Some(_) => {
            errors.push(
                "confidence",
                format!(
                    "must be a number from {} to {}",
                    CONFIDENCE.start(),
                    CONFIDENCE.end()
                ),
            );
            DEFAULT_CONFIDENCE
        }
    };
    let (from, to) = window_until((from, to), as_of, Duration::days(DEFAULT_SPAN_DAYS));
    errors.into_result(PerformanceQuery {
        window: MonitoringWindow {
            from,
            to,
            as_of,
            model_version,
        },
        confidence,
    })
}

#[utoipa::path(
    get,
    path = "/v1/monitoring/performance",
    tag = "monitoring",
    operation_id = "getLivePerformance",
    summary = "How each model version does on live orders, beside its holdout",
    description = "The company's decisions decided in [from, to) (and no later than `as_of`), per model version, judged as of `as_of` by the definition of a bad order in force then (`GET /v1/outcomes/definition`): a decision is immature until `within_days` days have passed; then bad (defaulted, written off, or paid `days_past_due` or more days late, within the window), good, or unknown when no repayment outcome had been reported by `as_of`. For each version: the approval rate over every decision; the bad rate among matured approved orders; AUC (DeLong's interval) and KS (the DKW bound) over matured orders with an outcome, approved or not; a calibration table by tenth of probability; each with its interval at `confidence` (default 0.95); and beside them the version's holdout at training. Outcomes and definitions are read as they stood at `as_of`, so a past `as_of` gives the same answer whenever it is asked, whatever was reported since. `as_of` defaults to now and may not be later; `to` to `as_of` (or `from`, when later); `from` to 365 days before `to`. `model_version` narrows it to one version (404 when the company has no such version). Any other query parameter, or a bad value, is refused (422, naming the field).",
    params(params::LivePerformance),
    responses(
        (status = 200, description = "The measures, newest version first; `versions` is empty when no decision falls in the window.", content_type = "application/json", body = PerformanceReport, example = examples::live_performance_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::ModelNotFound),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn performance(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<PerformanceReport>, Problem> {
    let query = performance_query(&params, Utc::now()).map_err(Problem::invalid)?;
    let company = auth.company.id;
    let failed = |e| Problem::dependency_failed("cannot read the decisions and outcomes", e);
    let models = state.store.models(company).await.map_err(failed)?;
    if let Some(version) = query.window.model_version
        && !models.iter().any(|m| m.version == version)
    {
        return Err(Problem::not_found(format!("no model version {version}")));
    }
    let live = state
        .store
        .live_window(company, query.window)
        .await
        .map_err(failed)?;
    let versions = live
        .versions
        .into_iter()
        .rev()
        .map(|(version, window)| {
            let metrics = models
                .iter()
                .find(|m| m.version == version)
                .and_then(|m| holdout_metrics(version, &m.metrics));
            version_performance(version, window, metrics.as_ref(), query.confidence)
        })
        .collect();
    Ok(Json(PerformanceReport {
        as_of: query.window.as_of,
        from: query.window.from,
        to: query.window.to,
        confidence: query.confidence,
        definition: DefinitionView::from(live.definition),
        versions,
    }))
}

/// The version's stored training metrics, when they read as today's (a version's row always
/// holds them; one that does not read is reported, and shown without its holdout).
fn holdout_metrics(version: i32, metrics: &serde_json::Value) -> Option<ModelMetrics> {
    serde_json::from_value(metrics.clone())
        .map_err(|e| tracing::warn!(version, error = %e, "stored model metrics do not read"))
        .ok()
}

fn version_performance(
    model_version: i32,
    window: VersionWindow,
    metrics: Option<&ModelMetrics>,
    confidence: f64,
) -> VersionPerformance {
    let accumulator: &ScoreAccumulator = &window.accumulator;
    VersionPerformance {
        model_version,
        decisions: accumulator.orders(),
        immature: window.immature,
        unknown: window.unknown,
        good: window.good,
        bad: window.bad,
        live: accumulator.performance(confidence),
        holdout: metrics.map(HoldoutPerformance::of),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn query(pairs: &[(&str, &str)]) -> Result<PerformanceQuery, FieldErrors> {
        let params = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        performance_query(&params, now())
    }

    fn fields(errors: FieldErrors) -> Vec<String> {
        errors.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn defaults_are_a_year_up_to_now_at_95_percent() {
        let q = query(&[]).expect("valid");
        assert_eq!(q.window.as_of, now());
        assert_eq!(q.window.to, now());
        assert_eq!(q.window.from, now() - Duration::days(365));
        assert_eq!(q.window.model_version, None);
        assert!((q.confidence - 0.95).abs() < f64::EPSILON);
        let past =
            query(&[("as_of", "2026-06-01T00:00:00Z"), ("model_version", "3")]).expect("valid");
        assert_eq!(past.window.to, past.window.as_of);
        assert_eq!(past.window.model_version, Some(3));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let errors = query(&[
            ("as_of", "2027-01-01T00:00:00Z"),
            ("model_version", "0"),
            ("confidence", "1"),
            ("from", "2026-02-01T00:00:00Z"),
            ("to", "2026-01-01T00:00:00Z"),
            ("bucket", "day"),
        ])
        .expect_err("refused");
        assert_eq!(
            fields(errors),
            ["bucket", "to", "as_of", "model_version", "confidence"]
        );
        let errors = query(&[("as_of", "yesterday"), ("confidence", "NaN")]).expect_err("refused");
        assert_eq!(fields(errors), ["as_of", "confidence"]);
    }
}
