//! `GET /v1/decisions/activity`: how many decisions the company's orders got per hour or day,
//! and how many of them were approvals, for a chart of volume and approval rate over time.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::query::{range, refuse_unknown};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_store::decisions::{ActivityBucket, Bucket};
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// The range read when `from` is not given: this long before `to`.
const DEFAULT_SPAN_DAYS: i64 = 30;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Activity {
    #[schema(pattern = "^(hour|day)$")]
    bucket: &'static str,
    /// The range counted, [from, to).
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Oldest first; hours or days without decisions are left out.
    buckets: Vec<ActivityView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ActivityBucket)]
pub(crate) struct ActivityView {
    /// The hour or day's first instant (UTC).
    start: DateTime<Utc>,
    #[schema(minimum = 1)]
    decisions: i64,
    #[schema(minimum = 0)]
    approved: i64,
    #[schema(minimum = 0)]
    rejected: i64,
}

impl From<ActivityBucket> for ActivityView {
    fn from(b: ActivityBucket) -> Self {
        Self {
            start: b.start,
            decisions: b.decisions,
            approved: b.approved,
            rejected: b.rejected,
        }
    }
}

struct ActivityQuery {
    bucket: Bucket,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn activity_query(
    params: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<ActivityQuery, FieldErrors> {
    let mut errors = FieldErrors::default();
    refuse_unknown(params, &["bucket", "from", "to"], &mut errors);
    let bucket = match params.get("bucket").map(String::as_str) {
        None | Some("day") => Bucket::Day,
        Some("hour") => Bucket::Hour,
        Some(_) => {
            errors.push("bucket", "must be hour or day");
            Bucket::Day
        }
    };
    let (from, to) = range(params, &mut errors);
    // Only buckets with decisions are listed, so the answer is no larger than the company's
    // history, whatever the range: no cap on it. A `from` after now alone is an empty range.
    let to = to.unwrap_or_else(|| from.map_or(now, |from| from.max(now)));
    let from = from.unwrap_or(to - Duration::days(DEFAULT_SPAN_DAYS));
    errors.into_result(ActivityQuery { bucket, from, to })
}

#[utoipa::path(
    get,
    path = "/v1/decisions/activity",
    tag = "decisions",
    operation_id = "getDecisionActivity",
    summary = "Decisions per hour or day",
    description = "How many of the company's recorded decisions (those `GET /v1/decisions` lists) fell in each hour or day (UTC) of [from, to), and how many were approved and rejected. `to` defaults to now (or to `from`, when that is later) and `from` to 30 days before `to`. Hours or days without decisions are left out, so any range may be asked for. Any other query parameter, or a bad value, is refused (422, naming the field).",
    params(params::DecisionActivity),
    responses(
        (status = 200, description = "The counts, oldest first.", content_type = "application/json", body = Activity, example = examples::decision_activity_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn activity(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Activity>, Problem> {
    let query = activity_query(&params, Utc::now()).map_err(Problem::invalid)?;
    let buckets = state
        .store
        .decision_activity(auth.company.id, query.from, query.to, query.bucket)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read decision activity");
            Problem::unavailable("cannot read decisions right now; retry")
        })?;
    Ok(Json(Activity {
        bucket: query.bucket.as_str(),
        from: query.from,
        to: query.to,
        buckets: buckets.into_iter().map(ActivityView::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<ActivityQuery, FieldErrors> {
        let params = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let now = DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        activity_query(&params, now)
    }

    fn fields(errors: FieldErrors) -> Vec<String> {
        errors.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn defaults_to_thirty_days_by_day_until_now() {
        let q = query(&[]).expect("valid");
        assert_eq!(q.bucket, Bucket::Day);
        assert_eq!(q.to.to_rfc3339(), "2026-12-04T12:00:00+00:00");
        assert_eq!(q.to - q.from, Duration::days(30));
    }

    #[test]
    fn bad_values_and_unknown_parameters_are_named() {
        let problem = query(&[("bucket", "week"), ("to", "yesterday"), ("limit", "3")])
            .err()
            .expect("refused");
        assert_eq!(fields(problem), ["limit", "bucket", "to"]);
    }

    #[test]
    fn any_range_is_taken_and_a_future_from_alone_is_empty() {
        let long = query(&[("bucket", "hour"), ("from", "2016-01-01T00:00:00Z")])
            .expect("ten years of hours");
        assert_eq!(long.to.to_rfc3339(), "2026-12-04T12:00:00+00:00");
        let future = query(&[("from", "2027-01-01T00:00:00Z")]).expect("valid");
        assert_eq!(future.from, future.to);
        let problem = query(&[
            ("from", "2026-12-05T00:00:00Z"),
            ("to", "2026-12-04T00:00:00Z"),
        ])
        .err()
        .expect("to before from");
        assert_eq!(fields(problem), ["to"]);
    }
}
