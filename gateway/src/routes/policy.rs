//! `GET`/`PUT /v1/policy`, `GET /v1/policy/versions`, `POST /v1/policy/replay`: the company's
//! decision policy (hard rules, cut-off, refer bands; `aval_core::policy`), its versions, and
//! what a candidate would have decided on past decisions before it is saved.
//!
//! A policy is checked against the active model's features when it is saved or replayed. A
//! saved policy is in force from its commit: the scorers drop their copy when they read its
//! `policy.changed` audit event, within about half a second, and every decision records the
//! policy version that decided it.

use crate::auth::Authenticated;
use crate::json::JsonBody;
use crate::problem::Problem;
use crate::routes::openapi::{examples, responses};
use crate::routes::query::window_until;
use crate::routes::tokens::audit;
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::decision::Verdict;
use aval_core::ingest::whole_number_in;
use aval_core::model::TrainedModel;
use aval_core::policy::{Cutoff, PastDecision, Policy, ReplaySummary, StoredValues};
use aval_store::policies::StoredPolicy;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;
use uuid::Uuid;

/// Past decisions a replay judges at most, newest first.
pub(crate) const MAX_REPLAYED: u32 = 1_000_000;
/// Past decisions a replay judges when not told.
const DEFAULT_REPLAYED: u32 = 100_000;
/// The window replayed when `from` is not given: this long before `to`.
const DEFAULT_REPLAY_DAYS: i64 = 30;

/// A saved version of the company's policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PolicyView {
    #[schema(minimum = 1)]
    version: i32,
    /// The active model version it was checked against when saved.
    model_version: i32,
    created_at: DateTime<Utc>,
    /// `company:<id>`: who saved it.
    created_by: String,
    policy: Policy,
}

impl From<StoredPolicy> for PolicyView {
    fn from(stored: StoredPolicy) -> Self {
        Self {
            version: stored.version,
            model_version: stored.model_version,
            created_at: stored.created_at,
            created_by: stored.created_by,
            policy: stored.policy,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PolicyVersions {
    /// Newest first; the first is in force.
    versions: Vec<PolicyView>,
}

/// A candidate policy, and the past decisions to judge it on.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayBody {
    policy: Policy,
    /// Decisions decided at or after; default 30 days before `to`.
    from: Option<DateTime<Utc>>,
    /// Decisions decided before; default now (or `from`, when later).
    to: Option<DateTime<Utc>>,
    /// The newest this many decisions of the window, 1 to 1,000,000; default 100,000. Read as
    /// a whole number (`2.0` is 2).
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    limit: Option<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReplayView {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// The policy in force now, whose decisions are `before`; `null` when there is none.
    current_version: Option<i32>,
    /// The candidate's cut-off for the active model version, as a probability.
    threshold: f64,
    #[serde(flatten)]
    summary: ReplaySummary,
    /// How long judging took, reading included.
    elapsed_ms: u64,
}

#[utoipa::path(
    get,
    path = "/v1/policy",
    tag = "policy",
    operation_id = "getPolicy",
    summary = "The company's decision policy in force",
    description = "The newest saved version: hard rules, the cut-off and the refer bands that decide the company's orders around the model. 404 when the company has saved none (the active model's own threshold decides).",
    responses(
        (status = 200, description = "The policy in force.", content_type = "application/json", body = PolicyView, example = examples::policy_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::PolicyNotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn show(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<PolicyView>, Problem> {
    let current = state
        .store
        .latest_policy(auth.company.id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the policy", e))?;
    current.map(|c| Json(c.into())).ok_or_else(|| {
        Problem::not_found(
            "the company has no decision policy: the active model's own threshold decides",
        )
    })
}

#[utoipa::path(
    get,
    path = "/v1/policy/versions",
    tag = "policy",
    operation_id = "listPolicyVersions",
    summary = "Every version of the company's decision policy",
    description = "Newest first; the first is in force. Each decision records the version that decided it (`policy.version`).",
    responses(
        (status = 200, description = "The versions, newest first (empty when none was saved).", content_type = "application/json", body = PolicyVersions),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn versions(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<PolicyVersions>, Problem> {
    let stored = state
        .store
        .policy_versions(auth.company.id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the policy", e))?;
    Ok(Json(PolicyVersions {
        versions: stored.into_iter().map(PolicyView::from).collect(),
    }))
}

#[utoipa::path(
    put,
    path = "/v1/policy",
    tag = "policy",
    operation_id = "setPolicy",
    summary = "Save a new version of the company's decision policy, in force at once",
    description = "Checked against the active model's features first (422 naming each problem: a feature the model does not have, an operator that does not suit the feature's kind, a level the model does not know, a reason shorter than 15 characters or made only of words that name no fact — `internal policy decision` —, a rule id or reason used twice, a cut-off out of range, refer bands that overlap). Saved as the next version and audited (`policy.changed`), stored only once its audit event is on the audit topic (else 503, nothing saved); in force for new decisions within about a second. Saving the policy in force again changes nothing. 409 when the company has no active model to check it against.\n\nRules are checked in order and every rule that holds fires; a `reject` rule decides before a `review` one. Without a rule firing, a probability in a refer band gets the decision `review`, and the cut-off decides the rest: `model` (the version's own threshold), `probability`, `approval_rate` (the probability below which that share of the version's holdout falls) or `expected_cost` (approve while probability × `bad_approval_cost` is below (1 − probability) × `lost_sale_cost`). Each decision then lists at most four reasons: the rules that fired first, then the model's largest factors.",
    request_body(content = Policy, content_type = "application/json", example = examples::policy_request),
    responses(
        (status = 200, description = "The version now in force.", content_type = "application/json", body = PolicyView, example = examples::policy_200),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::NoModel),
        (status = 413, response = responses::BodyTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn save(
    auth: Authenticated,
    State(state): State<AppState>,
    JsonBody(policy): JsonBody<Policy>,
) -> Result<Json<PolicyView>, Problem> {
    let company = auth.company.id;
    let (model_version, model) = active_model(&state, company).await?;
    policy.check(&model.spec).map_err(Problem::invalid)?;
    fits_experiment(&state, company, &policy).await?;
    let failed = |e| Problem::dependency_failed("cannot save the policy", e);
    let current = state.store.latest_policy(company).await.map_err(failed)?;
    if let Some(current) = current.as_ref()
        && current.policy == policy
    {
        return Ok(Json(current.clone().into()));
    }
    let now = Utc::now();
    let pending = state
        .store
        .begin_policy(company, &policy, model_version, &auth.actor(), now)
        .await
        .map_err(failed)?;
    let saved = &pending.value;
    let event = AuditEvent::new(company, AuditKind::PolicyChanged, auth.actor(), now)
        .with_detail("version", saved.version.to_string())
        .with_detail(
            "previous_version",
            current.map_or_else(|| "none".to_owned(), |c| c.version.to_string()),
        )
        .with_detail("rules", policy.rules.len().to_string())
        .with_detail("cutoff", cutoff_kind(&policy.cutoff))
        .with_detail("refer_bands", policy.refer_bands.len().to_string())
        .with_detail("model_version", model_version.to_string());
    audit(&state, &event, "the policy was not saved").await?;
    let saved = pending.commit().await.map_err(failed)?;
    Ok(Json(saved.into()))
}

fn cutoff_kind(cutoff: &Cutoff) -> &'static str {
    match cutoff {
        Cutoff::Model => "model",
        Cutoff::Probability { .. } => "probability",
        Cutoff::ApprovalRate { .. } => "approval_rate",
        Cutoff::ExpectedCost { .. } => "expected_cost",
    }
}

/// The active version and its model: what a policy is checked against.
async fn active_model(state: &AppState, company: Uuid) -> Result<(i32, TrainedModel), Problem> {
    let failed = |e| Problem::dependency_failed("cannot read the active model", e);
    let version = state
        .store
        .active_version(company)
        .await
        .map_err(failed)?
        .ok_or_else(|| {
            Problem::no_model(
                "the company has no active model to check a policy against: upload a dataset and \
                 let it train",
            )
        })?;
    let model = model_of(state, company, version).await?;
    Ok((version, model))
}

/// The policy decides, and scores beside, every version of the experiment in force: each
/// challenger, shadow and a probation's previous champion must have the features and levels it
/// names, as the champion must.
async fn fits_experiment(state: &AppState, company: Uuid, policy: &Policy) -> Result<(), Problem> {
    let Some(stored) = state
        .store
        .latest_experiment(company)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the experiment in force", e))?
    else {
        return Ok(());
    };
    let now = Utc::now();
    let previous = stored
        .probation
        .filter(|p| now < p.until)
        .map(|p| p.previous);
    let mut errors = FieldErrors::default();
    for version in stored.experiment.versions().into_iter().chain(previous) {
        let model = model_of(state, company, version).await?;
        if let Err(problems) = policy.check(&model.spec) {
            for problem in problems.iter() {
                errors.push(
                    problem.field.clone(),
                    format!(
                        "{} (model version {version}, in experiment version {})",
                        problem.reason, stored.version
                    ),
                );
            }
        }
    }
    errors.into_result(()).map_err(Problem::invalid)
}

pub(crate) async fn model_of(
    state: &AppState,
    company: Uuid,
    version: i32,
) -> Result<TrainedModel, Problem> {
    let stored = state
        .store
        .model(company, version)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the model", e))?
        .ok_or_else(|| Problem::failed(format!("model version {version} was not found")))?;
    serde_json::from_slice(&stored.artifact)
        .map_err(|e| Problem::failed(format!("model version {version} cannot be read: {e}")))
}

#[utoipa::path(
    post,
    path = "/v1/policy/replay",
    tag = "policy",
    operation_id = "replayPolicy",
    summary = "What a candidate policy would have decided on past decisions",
    description = "Judges the company's decisions of [from, to) (default the last 30 days; the newest `limit`, default 100,000, at most 1,000,000) again under `policy`, checked as `PUT /v1/policy` checks it, without saving anything: each from the probability its model gave and the features it recorded (the model is not run again: a version's probability for an order does not change), with the candidate's cut-off for that decision's model version. Counts the verdicts before (as decided) and after, every transition between them, the decisions each rule fires on and each step decides, and lists up to 20 decisions that would change. Decisions recorded before aval kept each decision's features, and those of a model version without some feature or level the policy names, are counted apart (`without_values`). 409 when the company has no active model; 422 naming each problem of the policy or the window.",
    request_body(content = ReplayBody, content_type = "application/json", example = examples::replay_request),
    responses(
        (status = 200, description = "What would change.", content_type = "application/json", body = ReplayView, example = examples::replay_200),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::NoModel),
        (status = 413, response = responses::BodyTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn replay(
    auth: Authenticated,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ReplayBody>,
) -> Result<Json<ReplayView>, Problem> {
    let started = Instant::now();
    let company = auth.company.id;
    let (from, to, limit) = replay_window(&body, Utc::now()).map_err(Problem::invalid)?;
    let (active, model) = active_model(&state, company).await?;
    body.policy.check(&model.spec).map_err(Problem::invalid)?;
    let failed = |e| Problem::dependency_failed("cannot read the decisions", e);
    let current = state.store.policy_in_force(company).await.map_err(failed)?;

    // Each version's features and cut-off, read once for every version the window holds.
    let threshold = body.policy.cutoff.threshold(&model);
    let mut models: HashMap<i32, (TrainedModel, f64)> =
        HashMap::from([(active, (model, threshold))]);
    let decided = state
        .store
        .decided_versions(company, (from, to))
        .await
        .map_err(failed)?;
    for version in decided {
        if let std::collections::hash_map::Entry::Vacant(entry) = models.entry(version) {
            let model = model_of(&state, company, version).await?;
            // A version without some feature the policy names cannot be judged alike: its
            // decisions are left out, as those recorded without features are.
            if body.policy.check(&model.spec).is_ok() {
                let cut = body.policy.cutoff.threshold(&model);
                entry.insert((model, cut));
            }
        }
    }
    let mut summary = ReplaySummary::default();
    state
        .store
        .for_each_replayed_decision(company, (from, to), limit, |row| {
            let known = models.get(&row.model_version);
            let (Some(values), Some(verdict), Some((model, cut))) =
                (&row.values, Verdict::parse(&row.outcome), known)
            else {
                summary.left_out();
                return;
            };
            summary.add(
                &body.policy,
                *cut,
                &PastDecision {
                    request_id: &row.request_id,
                    order_id: &row.order_id,
                    verdict,
                    probability: row.probability,
                    values: StoredValues {
                        spec: &model.spec,
                        values,
                    },
                },
            );
        })
        .await
        .map_err(failed)?;
    Ok(Json(ReplayView {
        from,
        to,
        current_version: current.map(|c| c.version),
        threshold,
        summary,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }))
}

/// The window and count a replay reads: `to` defaults to now (or `from`, when later), `from` to
/// 30 days before `to`, as the monitoring reports' windows do.
fn replay_window(
    body: &ReplayBody,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, i64), FieldErrors> {
    let mut errors = FieldErrors::default();
    // The instants the other reports read (RFC 3339's four-digit years); the JSON reader also
    // takes years of more digits or signed, which the database cannot hold.
    for (field, at) in [("from", body.from), ("to", body.to)] {
        if at.is_some_and(|at| !(1..=9999).contains(&at.year())) {
            errors.push(field, "must be a date-time of the years 0001 to 9999");
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let (Some(from), Some(to)) = (body.from, body.to)
        && from >= to
    {
        errors.push("to", "must be later than from");
    }
    let (from, to) = window_until(
        (body.from, body.to),
        now,
        Duration::days(DEFAULT_REPLAY_DAYS),
    );
    let limit = match &body.limit {
        None | Some(Value::Null) => DEFAULT_REPLAYED,
        Some(value) => whole_number_in(value, 1, MAX_REPLAYED).unwrap_or_else(|reason| {
            errors.push("limit", reason);
            DEFAULT_REPLAYED
        }),
    };
    errors.into_result((from, to, i64::from(limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: serde_json::Value) -> ReplayBody {
        serde_json::from_value(value).expect("a body")
    }

    #[test]
    fn the_window_defaults_to_the_last_thirty_days_and_is_checked() {
        let now = Utc::now();
        let (from, to, limit) =
            replay_window(&body(serde_json::json!({"policy": {}})), now).expect("valid");
        assert_eq!((to, to - from, limit), (now, Duration::days(30), 100_000));
        let bad = body(serde_json::json!({
            "policy": {}, "from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z",
            "limit": 0,
        }));
        let errors = replay_window(&bad, now).expect_err("invalid");
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["limit", "to"]);
        let whole = body(serde_json::json!({"policy": {}, "limit": 1075.0}));
        assert_eq!(replay_window(&whole, now).expect("valid").2, 1075);
        let far = body(serde_json::json!({"policy": {}, "to": "-262143-01-05T00:00:00Z"}));
        let errors = replay_window(&far, now).expect_err("out of range");
        assert_eq!(errors.iter().next().map(|e| e.field.as_str()), Some("to"));
        let ahead = body(serde_json::json!({"policy": {}, "from": "4334-01-31T00:00:00Z"}));
        let (from, to, _) = replay_window(&ahead, now).expect("valid");
        assert_eq!(from, to, "an empty window");
    }
}
