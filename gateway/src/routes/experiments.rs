//! `/v1/experiments`: the company's champion (its active version), challengers and shadows
//! (`aval_core::experiment`). `GET` and `PUT` read and save the experiment; `comparison`
//! pairs each version with its reference on the same orders; `promote` and `rollback` change
//! the champion in one call; `champions` says which version was champion when.
//!
//! A saved experiment is in force from its commit: scorers drop their copy when they read its
//! `experiment.changed` audit event. A change of champion is stored first, then announced on
//! the activation topic like any activation, so a scorer that misses the record still finds
//! the champion in the database.

use crate::auth::Authenticated;
use crate::json::JsonBody;
use crate::problem::Problem;
use crate::routes::openapi::responses;
use crate::routes::policy::model_of;
use crate::routes::query::{as_of, instant, range, refuse_unknown, window_until};
use crate::routes::tokens::audit;
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::experiment::{
    ArmComparison, Breach, Challenger, ChampionReason, ChampionSpell, Experiment, ExperimentAction,
    Guardrail, Probation, champion_at, changed_event,
};
use aval_store::StoreError;
use aval_store::experiments::{ChampionChange, Pair, StoredExperiment};
use aval_store::monitoring::MonitoringWindow;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The window a comparison reads when `from` is not given: this long before `to`.
const DEFAULT_SPAN_DAYS: i64 = 365;
/// How long a promoted version stays on probation when not told, and at most.
const DEFAULT_PROBATION_DAYS: u32 = 14;
const MAX_PROBATION_DAYS: u32 = 365;

/// The company's experiment in force, around its champion.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ExperimentView {
    /// The saved version in force; null when the company never saved one (the champion
    /// decides alone).
    #[schema(minimum = 1)]
    version: Option<i32>,
    /// The active version, and since when; null without one.
    champion: Option<ChampionSpell>,
    /// Versions that decide a share of the customers' orders.
    challengers: Vec<Challenger>,
    /// Versions that score every order and decide none.
    shadows: Vec<i32>,
    guardrail: Guardrail,
    /// Set by a promotion: the champion it replaced scores beside it until `until`, and the
    /// guardrail puts it back should the new one breach.
    probation: Option<Probation>,
    created_at: Option<DateTime<Utc>>,
    /// `company:<id>`, or `system:guardrail`.
    created_by: Option<String>,
}

impl ExperimentView {
    fn new(stored: Option<StoredExperiment>, champion: Option<ChampionSpell>) -> Self {
        match stored {
            Some(stored) => Self {
                version: Some(stored.version),
                champion,
                challengers: stored.experiment.challengers,
                shadows: stored.experiment.shadows,
                guardrail: stored.experiment.guardrail,
                probation: stored.probation,
                created_at: Some(stored.created_at),
                created_by: Some(stored.created_by),
            },
            None => Self {
                version: None,
                champion,
                challengers: Vec::new(),
                shadows: Vec::new(),
                guardrail: Guardrail::default(),
                probation: None,
                created_at: None,
                created_by: None,
            },
        }
    }
}

/// A change of champion.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ChampionChangeView {
    #[schema(minimum = 1)]
    from: i32,
    #[schema(minimum = 1)]
    to: i32,
    /// The experiment now in force.
    experiment: ExperimentView,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromoteBody {
    /// A challenger or shadow of the experiment in force.
    #[schema(minimum = 1)]
    version: i32,
    /// How long the champion it replaces scores beside it, for the guardrail to put back, 1
    /// to 365; default 14.
    #[schema(minimum = 1, maximum = 365)]
    probation_days: Option<u32>,
}

/// Which version was champion when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ChampionHistory {
    /// Oldest first; the last is the champion now.
    champions: Vec<ChampionSpell>,
    /// With `at`: the champion then (null when the company had none).
    at: Option<ChampionSpell>,
}

/// One version of the experiment against its reference.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ArmView {
    #[schema(minimum = 1)]
    version: i32,
    /// `challenger`, `shadow`, or `champion` on probation against the one it replaced.
    role: String,
    /// The version it is compared with: the champion, or the one a promotion replaced.
    #[schema(minimum = 1)]
    reference_version: i32,
    /// A challenger's share of customers.
    share: Option<f64>,
    comparison: ArmComparison,
    /// The guardrail's limit the version breaches on this window, if any (the monitor acts on
    /// it: a challenger is ended, a champion on probation rolled back).
    breach: Option<Breach>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ComparisonView {
    /// Decisions decided in [from, to), judged as of `as_of`.
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: DateTime<Utc>,
    #[schema(minimum = 1)]
    champion: i32,
    arms: Vec<ArmView>,
}

fn failed(e: StoreError) -> Problem {
    Problem::dependency_failed("cannot read the experiment", e)
}

async fn champion_of(state: &AppState, company: Uuid) -> Result<Option<ChampionSpell>, Problem> {
    let history = state
        .store
        .champion_history(company)
        .await
        .map_err(failed)?;
    Ok(history.into_iter().last())
}

async fn view(state: &AppState, company: Uuid) -> Result<ExperimentView, Problem> {
    let stored = state
        .store
        .latest_experiment(company)
        .await
        .map_err(failed)?;
    Ok(ExperimentView::new(
        stored,
        champion_of(state, company).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/experiments",
    tag = "experiments",
    operation_id = "getExperiment",
    summary = "The company's champion, challengers and shadows",
    description = "The champion is the active version. Challengers decide for their share of the customers (a customer keeps its arm: the split hashes company and customer, on HTTP and Kafka alike); shadows score every order without deciding it. `version` is null when the company never saved an experiment (the champion decides alone).",
    responses(
        (status = 200, description = "The experiment in force.", content_type = "application/json", body = ExperimentView),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn show(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<ExperimentView>, Problem> {
    Ok(Json(view(&state, auth.company.id).await?))
}

#[utoipa::path(
    put,
    path = "/v1/experiments",
    tag = "experiments",
    operation_id = "setExperiment",
    summary = "Save the company's challengers, shadows and guardrail, in force at once",
    description = "Checked first (422 naming each problem): every version is one of the company's, not the champion, named once; at most 5 challengers and 5 shadows; each share above 0 and at most 0.5, to a millionth (default 0.05), all together at most 0.5; the guardrail's rates from 0 to 1 and `min_decisions` from 10 to 10,000,000; the decision policy in force fits every version (its features and levels). Saved as the next version and audited (`experiment.changed`), stored only once its audit event is on the audit topic (else 503, nothing saved); in force for new decisions within about a second. Saving the experiment in force again changes nothing. A probation in force carries over. 409 when the company has no active model, or the champion changed while the experiment was checked.\n\nEach decision records its arm (`champion` or `challenger`, with `model_version`); every other version of the experiment scores the order once the reply is on its way, recorded and never returned, so comparisons are paired on the same orders. The guardrail is judged by the monitor in `aval train` on the orders each challenger decided: one that approves `max_approval_rate_drop` less often than the champion would have on the same orders, or less than `min_approval_rate`, or whose approved orders go bad more often than `max_bad_rate`, each beyond chance at 95 % and after `min_decisions` decisions, is ended (`experiment.changed`, action `guardrail_ended`).",
    request_body(content = Experiment, content_type = "application/json"),
    responses(
        (status = 200, description = "The experiment now in force.", content_type = "application/json", body = ExperimentView),
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
    JsonBody(experiment): JsonBody<Experiment>,
) -> Result<Json<ExperimentView>, Problem> {
    let company = auth.company.id;
    let champion = champion_of(&state, company).await?.ok_or_else(|| {
        Problem::no_model(
            "the company has no active model to experiment around: upload a dataset and let it \
             train",
        )
    })?;
    let versions: HashSet<i32> = state
        .store
        .models(company)
        .await
        .map_err(failed)?
        .into_iter()
        .map(|m| m.version)
        .collect();
    experiment
        .check(champion.version, &versions)
        .map_err(Problem::invalid)?;
    policy_fits(&state, company, &experiment).await?;
    let current = state
        .store
        .latest_experiment(company)
        .await
        .map_err(failed)?;
    if let Some(current) = current.as_ref()
        && current.experiment == experiment
    {
        return Ok(Json(ExperimentView::new(
            Some(current.clone()),
            Some(champion),
        )));
    }
    let now = Utc::now();
    let saving = |e| Problem::dependency_failed("cannot save the experiment", e);
    let pending = match state
        .store
        .begin_experiment(company, &experiment, champion.version, &auth.actor(), now)
        .await
    {
        Ok(pending) => pending,
        Err(StoreError::Stale(what)) => {
            return Err(Problem::conflict(
                "experiment",
                format!("{what} changed while the experiment was checked; send it again"),
            ));
        }
        Err(e) => return Err(saving(e)),
    };
    let saved = &pending.value;
    let event = changed_event(
        company,
        &auth.actor(),
        now,
        ExperimentAction::Saved,
        (saved.version, current.map(|c| c.version)),
        champion.version,
        &experiment,
    );
    audit(&state, &event, "the experiment was not saved").await?;
    let saved = pending.commit().await.map_err(saving)?;
    Ok(Json(ExperimentView::new(Some(saved), Some(champion))))
}

/// The decision policy in force decides every version's orders: each must have the features
/// and levels it names.
async fn policy_fits(
    state: &AppState,
    company: Uuid,
    experiment: &Experiment,
) -> Result<(), Problem> {
    let Some(policy) = state.store.latest_policy(company).await.map_err(failed)? else {
        return Ok(());
    };
    let mut errors = FieldErrors::default();
    let paths = experiment
        .challengers
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("challengers[{i}].version"), c.version))
        .chain(
            experiment
                .shadows
                .iter()
                .enumerate()
                .map(|(i, &v)| (format!("shadows[{i}]"), v)),
        );
    for (path, version) in paths {
        let model = model_of(state, company, version).await?;
        if let Err(problems) = policy.policy.check(&model.spec) {
            let first = problems
                .iter()
                .next()
                .map_or_else(String::new, |p| format!(": {} {}", p.field, p.reason));
            errors.push(
                path,
                format!(
                    "the decision policy in force (version {}) does not fit version {version}{first}",
                    policy.version
                ),
            );
        }
    }
    errors.into_result(()).map_err(Problem::invalid)
}

#[utoipa::path(
    post,
    path = "/v1/experiments/promote",
    tag = "experiments",
    operation_id = "promoteChallenger",
    summary = "Make a challenger or shadow the champion",
    description = "In one call: the version becomes the active one (the champion history records `promoted`), leaves the experiment, and the champion it replaces goes on probation beside it for `probation_days` (default 14): it scores every order, and should the new champion breach the guardrail against it, the monitor puts it back by itself (`guardrail_rolled_back`). Audited (`experiment.changed`, action `promoted`, then `model.activated`); stored only once the first event is on the audit topic, then announced to the scorers. Promoting the champion on probation again re-announces it. 404 when the experiment in force names no such version; 409 when the company has no active model; 503 (detail `the version is champion but scorers were not told yet; retry`) when the announcement could not be queued.",
    request_body(content = PromoteBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Champion, and announced.", content_type = "application/json", body = ChampionChangeView),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, description = "The experiment in force names no such version.", content_type = "application/problem+json", body = Problem),
        (status = 409, response = responses::NoModel),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn promote(
    auth: Authenticated,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PromoteBody>,
) -> Result<Json<ChampionChangeView>, Problem> {
    let company = auth.company.id;
    let days = body.probation_days.unwrap_or(DEFAULT_PROBATION_DAYS);
    if !(1..=MAX_PROBATION_DAYS).contains(&days) {
        let mut errors = FieldErrors::default();
        errors.push(
            "probation_days",
            format!("must be from 1 to {MAX_PROBATION_DAYS}"),
        );
        return Err(Problem::invalid(errors));
    }
    let champion = champion_of(&state, company)
        .await?
        .ok_or_else(|| Problem::no_model("the company has no active model to replace"))?;
    let current = state
        .store
        .latest_experiment(company)
        .await
        .map_err(failed)?;
    // A retry after the announcement failed: the promotion stands; announce it again.
    if let Some(current) = current.as_ref()
        && let Some(probation) = current.probation
        && champion.version == body.version
        && probation.champion == body.version
        && probation.since == champion.since
    {
        announce(&state, company, body.version, &auth.actor(), champion.since).await?;
        return Ok(Json(ChampionChangeView {
            from: probation.previous,
            to: body.version,
            experiment: ExperimentView::new(Some(current.clone()), Some(champion)),
        }));
    }
    // To the microsecond the database keeps, so the probation and the history agree.
    let now = Utc::now().trunc_subsecs(6);
    let until = now + Duration::days(i64::from(days));
    let pending = match state
        .store
        .begin_promotion(company, body.version, &auth.actor(), now, until)
        .await
    {
        Ok(pending) => pending,
        Err(StoreError::NotFound) => {
            return Err(Problem::not_found(format!(
                "the experiment in force names no version {}: promote one of its challengers or \
                 shadows",
                body.version
            )));
        }
        Err(e) => return Err(Problem::dependency_failed("cannot promote the version", e)),
    };
    let event = change_event(
        company,
        &auth.actor(),
        now,
        ExperimentAction::Promoted,
        &pending.value,
        current.map(|c| c.version),
    );
    audit(&state, &event, "nothing was promoted").await?;
    let change = pending
        .commit()
        .await
        .map_err(|e| Problem::dependency_failed("cannot promote the version", e))?;
    announce(&state, company, change.to, &auth.actor(), now).await?;
    Ok(Json(change_view(&state, company, change).await?))
}

#[utoipa::path(
    post,
    path = "/v1/experiments/rollback",
    tag = "experiments",
    operation_id = "rollbackChampion",
    summary = "Put the previous champion back",
    description = "In one call: the champion before the current one (by the champion history) becomes the active version again (recorded `rolled_back`); the version rolled back leaves the experiment and any probation ends. Audited (`experiment.changed`, action `rolled_back`, then `model.activated`), stored only once the first event is on the audit topic, then announced to the scorers. Takes no body (one sent is ignored). 409 when the company has no earlier champion; 503 (detail `the version is champion but scorers were not told yet; retry`) when the announcement could not be queued: `POST /v1/models/{version}/activate` announces it again.",
    responses(
        (status = 200, description = "The previous champion is back, and announced.", content_type = "application/json", body = ChampionChangeView),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, description = "The company has no earlier champion to put back.", content_type = "application/problem+json", body = Problem),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn rollback(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<ChampionChangeView>, Problem> {
    let company = auth.company.id;
    let previous_version = state
        .store
        .latest_experiment(company)
        .await
        .map_err(failed)?
        .map(|e| e.version);
    let now = Utc::now();
    let pending = match state
        .store
        .begin_rollback(
            company,
            None,
            ChampionReason::RolledBack,
            &auth.actor(),
            now,
        )
        .await
    {
        Ok(pending) => pending,
        Err(StoreError::NotFound) => {
            return Err(Problem::conflict(
                "champion",
                "the company has no earlier champion to put back",
            ));
        }
        Err(e) => return Err(Problem::dependency_failed("cannot roll back", e)),
    };
    let event = change_event(
        company,
        &auth.actor(),
        now,
        ExperimentAction::RolledBack,
        &pending.value,
        previous_version,
    );
    audit(&state, &event, "nothing was rolled back").await?;
    let change = pending
        .commit()
        .await
        .map_err(|e| Problem::dependency_failed("cannot roll back", e))?;
    announce(&state, company, change.to, &auth.actor(), now).await?;
    Ok(Json(change_view(&state, company, change).await?))
}

/// The `experiment.changed` event of a change of champion.
pub(crate) fn change_event(
    company: Uuid,
    actor: &str,
    at: DateTime<Utc>,
    action: ExperimentAction,
    change: &ChampionChange,
    previous_version: Option<i32>,
) -> aval_core::audit::AuditEvent {
    changed_event(
        company,
        actor,
        at,
        action,
        (change.experiment.version, previous_version),
        change.to,
        &change.experiment.experiment,
    )
    .with_detail("from", change.from.to_string())
    .with_detail("to", change.to.to_string())
}

async fn announce(
    state: &AppState,
    company: Uuid,
    version: i32,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<(), Problem> {
    state
        .publisher
        .announce_activation(&state.catalogue, company, version, actor, at)
        .await
        .map_err(|e| {
            Problem::dependency_failed("the version is champion but scorers were not told yet", e)
        })
}

async fn change_view(
    state: &AppState,
    company: Uuid,
    change: ChampionChange,
) -> Result<ChampionChangeView, Problem> {
    Ok(ChampionChangeView {
        from: change.from,
        to: change.to,
        experiment: ExperimentView::new(
            Some(change.experiment),
            champion_of(state, company).await?,
        ),
    })
}

#[utoipa::path(
    get,
    path = "/v1/experiments/champions",
    tag = "experiments",
    operation_id = "listChampions",
    summary = "Which version was champion when",
    description = "Every version that was the company's active one, oldest first, with when it took over, until when, why (`trained`, `activated`, `promoted`, `rolled_back`, `guardrail`) and by whom. With `at` (RFC 3339), `at` names the champion then. Any other query parameter, or a bad value, is refused (422, naming the field).",
    params(("at" = Option<DateTime<Utc>>, Query, description = "An instant: the champion then.")),
    responses(
        (status = 200, description = "The history.", content_type = "application/json", body = ChampionHistory),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn champions(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ChampionHistory>, Problem> {
    let mut errors = FieldErrors::default();
    refuse_unknown(&params, &["at"], &mut errors);
    let at = instant(&params, "at", &mut errors);
    errors.into_result(()).map_err(Problem::invalid)?;
    let champions = state
        .store
        .champion_history(auth.company.id)
        .await
        .map_err(failed)?;
    let then = at.and_then(|at| champion_at(&champions, at).cloned());
    Ok(Json(ChampionHistory {
        champions,
        at: then,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/experiments/comparison",
    tag = "experiments",
    operation_id = "compareArms",
    summary = "Each version of the experiment against its reference, on the same orders",
    description = "For each challenger and shadow (against the champion) and a champion on probation (against the one it replaced): the orders of [from, to) both versions scored (one decided, the other scored beside it), judged as of `as_of` by the definition of a bad order in force then. Paired measures: each version's approval rate on the same orders; ΔAUC with DeLong's test (`auc_a` the version's, `auc_b` the reference's) on the orders with a known outcome; the bad rate at equal approval (each version approving the reference's share of the orders, its lowest probabilities first) with its 95 % interval; PSI between the two versions' scores. `verdict` (`better`, `worse`, `no_difference`, at 5 %) stays null until each arm has 2,500 matured decisions (`verdict_pending` says how many it has); `breach` names a guardrail limit the version breaches on this window. Outcomes are known mostly for approved orders: both versions are judged on the same known outcomes. `as_of` defaults to now; `to` to `as_of`; `from` to 365 days before `to`. 409 when the company has no active model; 422 naming a bad or unknown parameter.",
    params(
        ("from" = Option<DateTime<Utc>>, Query, description = "Decisions decided at or after."),
        ("to" = Option<DateTime<Utc>>, Query, description = "Decisions decided before."),
        ("as_of" = Option<DateTime<Utc>>, Query, description = "Outcomes as known then; not in the future."),
    ),
    responses(
        (status = 200, description = "The comparisons.", content_type = "application/json", body = ComparisonView),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::NoModel),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn comparison(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ComparisonView>, Problem> {
    let company = auth.company.id;
    let now = Utc::now();
    let mut errors = FieldErrors::default();
    refuse_unknown(&params, &["from", "to", "as_of"], &mut errors);
    let range = range(&params, &mut errors);
    let as_of = as_of(&params, now, &mut errors);
    let (from, to) = window_until(range, as_of, Duration::days(DEFAULT_SPAN_DAYS));
    errors.into_result(()).map_err(Problem::invalid)?;
    let champion = champion_of(&state, company).await?.ok_or_else(|| {
        Problem::no_model("the company has no active model: there is nothing to compare")
    })?;
    let stored = state
        .store
        .latest_experiment(company)
        .await
        .map_err(failed)?;
    let window = MonitoringWindow {
        from,
        to,
        as_of,
        model_version: None,
    };
    let mut arms = Vec::new();
    if let Some(stored) = stored {
        let guardrail = &stored.experiment.guardrail;
        let mut compared = Vec::new();
        for c in &stored.experiment.challengers {
            compared.push((c.version, "challenger", champion.version, Some(c.share)));
        }
        for &v in &stored.experiment.shadows {
            compared.push((v, "shadow", champion.version, None));
        }
        if let Some(p) = stored.probation.filter(|p| p.champion == champion.version) {
            compared.push((p.champion, "champion", p.previous, None));
        }
        for (version, role, reference, share) in compared {
            let pair = Pair {
                arm: version,
                reference,
            };
            let paired = state
                .store
                .paired_window(company, window, pair)
                .await
                .map_err(|e| Problem::dependency_failed("cannot read the decisions", e))?;
            let comparison = tokio::task::spawn_blocking(move || paired.compare())
                .await
                .map_err(|e| Problem::failed(format!("the comparison failed: {e}")))?;
            let breach = (role != "shadow")
                .then(|| guardrail.breach(&comparison))
                .flatten();
            arms.push(ArmView {
                version,
                role: role.to_owned(),
                reference_version: reference,
                share,
                comparison,
                breach,
            });
        }
    }
    Ok(Json(ComparisonView {
        from,
        to,
        as_of,
        champion: champion.version,
        arms,
    }))
}
