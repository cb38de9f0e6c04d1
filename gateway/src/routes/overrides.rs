//! `GET /v1/outcomes/overrides`: how often the company's analysts overrode aval's decisions,
//! which way and why, and how the overridden orders were repaid (`aval_core::outcome::overrides`
//! over the store's counts).

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::query::{range, refuse_unknown};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::outcome::OverrideDirection;
use aval_core::outcome::overrides::{OverrideCount, OverrideReport, override_report};
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// The range read when `from` is not given: this long before `to`.
const DEFAULT_SPAN_DAYS: i64 = 365;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OverridesView {
    /// Decisions decided in [from, to).
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(flatten)]
    report: OverrideReport,
}

fn window(
    params: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), FieldErrors> {
    let mut errors = FieldErrors::default();
    refuse_unknown(params, &["from", "to"], &mut errors);
    let (from, to) = range(params, &mut errors);
    let to = to.unwrap_or_else(|| from.map_or(now, |from| from.max(now)));
    let from = from.unwrap_or(to - Duration::days(DEFAULT_SPAN_DAYS));
    errors.into_result((from, to))
}

#[utoipa::path(
    get,
    path = "/v1/outcomes/overrides",
    tag = "outcomes",
    operation_id = "getOverrideReport",
    summary = "How often analysts overrode the decisions, which way, why, and how it went",
    description = "Over the company's decisions decided in [from, to) (`to` defaults to now, `from` to 365 days before `to`): how many were overridden (reports of kind `override`); per direction, the overrides against the decisions it could overturn (`approved_rejection` against the rejections, `blocked_approval` against the approvals) and their rate, the reason codes most used first, and how the overridden orders were repaid (each repayment kind, and `not_reported`). An override whose direction contradicts its decision is counted as `mismatched`, outside the directions. Any other query parameter, or a bad value, is refused (422, naming the field).",
    params(params::DecidedRange),
    responses(
        (status = 200, description = "The report; every count is 0 when the window holds no decision.", content_type = "application/json", body = OverridesView, example = examples::override_report_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn report(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<OverridesView>, Problem> {
    let (from, to) = window(&params, Utc::now()).map_err(Problem::invalid)?;
    let groups = state
        .store
        .override_groups(auth.company.id, from, to)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the overrides", e))?;
    let counts: Vec<OverrideCount<'_>> = groups
        .iter()
        .map(|g| OverrideCount {
            approved: g.decision == "approved",
            overridden: g
                .direction
                .as_deref()
                .and_then(OverrideDirection::from_name)
                .map(|direction| (direction, g.reason_code.as_deref().unwrap_or_default())),
            repayment: g.repayment.as_deref(),
            decisions: u64::try_from(g.decisions).unwrap_or_default(),
        })
        .collect();
    Ok(Json(OverridesView {
        from,
        to,
        report: override_report(&counts),
    }))
}
