//! Champion and challengers: each company's experiment versions, the champion's history, the
//! scores versions make beside each decision, and those scores paired for a comparison.

use crate::monitoring::{MonitoringWindow, repayment_of};
use crate::{Pending, Store, StoreError};
use aval_core::decision::Verdict;
use aval_core::experiment::{
    ArmScore, ChampionReason, ChampionSpell, Experiment, ExperimentInForce, PairWindow,
    PairedOrder, Probation, spells,
};
use aval_core::outcome::{Maturity, judge};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// A saved version of a company's experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExperiment {
    pub version: i32,
    pub experiment: Experiment,
    pub probation: Option<Probation>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl StoredExperiment {
    pub fn in_force(self) -> ExperimentInForce {
        ExperimentInForce {
            version: self.version,
            experiment: self.experiment,
            probation: self.probation,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ExperimentRow {
    version: i32,
    definition: Json<Experiment>,
    probation: Option<Json<Probation>>,
    created_at: DateTime<Utc>,
    created_by: String,
}

impl From<ExperimentRow> for StoredExperiment {
    fn from(row: ExperimentRow) -> Self {
        Self {
            version: row.version,
            experiment: row.definition.0,
            probation: row.probation.map(|p| p.0),
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

const EXPERIMENT_COLUMNS: &str = "version, definition, probation, created_at, created_by";

/// What a version made of an order beside its decision.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArmScore<'a> {
    pub company_id: Uuid,
    pub order_id: &'a str,
    pub model_version: i32,
    pub probability: f64,
    pub verdict: Verdict,
    pub scored_at: DateTime<Utc>,
}

/// A change of champion made in an open transaction, with the experiment saved beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChampionChange {
    pub from: i32,
    pub to: i32,
    pub experiment: StoredExperiment,
}

/// Two versions of a comparison: the arm, and its reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub arm: i32,
    pub reference: i32,
}

#[derive(sqlx::FromRow)]
struct PairedRow {
    model_version: i32,
    probability: f64,
    outcome: String,
    decided_at: DateTime<Utc>,
    reference_probability: Option<f64>,
    reference_verdict: Option<String>,
    arm_probability: Option<f64>,
    arm_verdict: Option<String>,
    kind: Option<String>,
    details: Option<Json<Value>>,
    occurred_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The version in force: the company's newest, whole.
    pub async fn latest_experiment(
        &self,
        company_id: Uuid,
    ) -> Result<Option<StoredExperiment>, StoreError> {
        latest_experiment(&self.pool, company_id).await
    }

    pub async fn experiment_in_force(
        &self,
        company_id: Uuid,
    ) -> Result<Option<ExperimentInForce>, StoreError> {
        Ok(self
            .latest_experiment(company_id)
            .await?
            .map(StoredExperiment::in_force))
    }

    /// Every company with an experiment in force that names a version or a probation.
    pub async fn companies_experimenting(&self) -> Result<Vec<Uuid>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT company_id FROM experiments e
             WHERE version = (SELECT max(version) FROM experiments n WHERE n.company_id = e.company_id)
               AND (jsonb_array_length(definition -> 'challengers') > 0 OR probation IS NOT NULL)
             ORDER BY company_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Saves `experiment` as the company's next version, in an open transaction (the company's
    /// row locked, so two saves number their versions in turn, and a save waits for a
    /// promotion). The caller audits, then commits. `champion` is the active version the
    /// caller checked it against: `Stale` when another took its place meanwhile.
    pub async fn begin_experiment(
        &self,
        company_id: Uuid,
        experiment: &Experiment,
        champion: i32,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Pending<StoredExperiment>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let active = lock_company(&mut tx, company_id).await?;
        if active != Some(champion) {
            return Err(StoreError::Stale("the champion"));
        }
        let probation = latest_experiment(&mut *tx, company_id)
            .await?
            .and_then(|e| e.probation)
            .filter(|p| p.champion == champion && at < p.until);
        let saved = insert_experiment(&mut tx, company_id, experiment, probation, by, at).await?;
        Ok(Pending::new(saved, tx))
    }

    /// Makes `version` the champion, from the experiment in force, in an open transaction: the
    /// version leaves the experiment, and the champion it replaces is kept on probation beside
    /// it until `probation_until`. `NotFound` when the experiment does not name it. The caller
    /// audits, commits, then announces the activation.
    pub async fn begin_promotion(
        &self,
        company_id: Uuid,
        version: i32,
        by: &str,
        at: DateTime<Utc>,
        probation_until: DateTime<Utc>,
    ) -> Result<Pending<ChampionChange>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let champion = lock_company(&mut tx, company_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let current = latest_experiment(&mut *tx, company_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !current.experiment.versions().contains(&version) {
            return Err(StoreError::NotFound);
        }
        activate_in(
            &mut *tx,
            company_id,
            version,
            by,
            at,
            ChampionReason::Promoted,
        )
        .await?;
        let probation = Probation {
            champion: version,
            previous: champion,
            since: at,
            until: probation_until,
        };
        let experiment = insert_experiment(
            &mut tx,
            company_id,
            &current.experiment.without(version),
            Some(probation),
            by,
            at,
        )
        .await?;
        Ok(Pending::new(
            ChampionChange {
                from: champion,
                to: version,
                experiment,
            },
            tx,
        ))
    }

    /// Puts the champion before the current one back, in an open transaction: the version
    /// rolled back leaves the experiment, and any probation ends. With `only_from`, only when
    /// that version is still the champion (the guardrail's rollback, judged on it);
    /// `NotFound` when there is no earlier champion, `Stale` when `only_from` is not the
    /// champion any more. The caller audits, commits, then announces the activation.
    pub async fn begin_rollback(
        &self,
        company_id: Uuid,
        only_from: Option<i32>,
        reason: ChampionReason,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Pending<ChampionChange>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let champion = lock_company(&mut tx, company_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if only_from.is_some_and(|v| v != champion) {
            return Err(StoreError::Stale("the champion"));
        }
        let previous: Option<i32> = sqlx::query_scalar(
            "SELECT version FROM champion_history
             WHERE company_id = $1 AND version <> $2
               AND id < (SELECT max(id) FROM champion_history WHERE company_id = $1 AND version = $2)
             ORDER BY id DESC LIMIT 1",
        )
        .bind(company_id)
        .bind(champion)
        .fetch_optional(&mut *tx)
        .await?;
        let previous = previous.ok_or(StoreError::NotFound)?;
        activate_in(&mut *tx, company_id, previous, by, at, reason).await?;
        let current = latest_experiment(&mut *tx, company_id)
            .await?
            .map(|e| e.experiment)
            .unwrap_or_default();
        let experiment = insert_experiment(
            &mut tx,
            company_id,
            &current.without(champion).without(previous),
            None,
            by,
            at,
        )
        .await?;
        Ok(Pending::new(
            ChampionChange {
                from: champion,
                to: previous,
                experiment,
            },
            tx,
        ))
    }

    /// Ends a challenger that breached the guardrail, in an open transaction: `Stale`
    /// when the experiment in force no longer names it.
    pub async fn begin_ending(
        &self,
        company_id: Uuid,
        version: i32,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Pending<StoredExperiment>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_company(&mut tx, company_id).await?;
        let current = latest_experiment(&mut *tx, company_id)
            .await?
            .ok_or(StoreError::Stale("the experiment"))?;
        if !current.experiment.versions().contains(&version) {
            return Err(StoreError::Stale("the experiment"));
        }
        let saved = insert_experiment(
            &mut tx,
            company_id,
            &current.experiment.without(version),
            current.probation,
            by,
            at,
        )
        .await?;
        Ok(Pending::new(saved, tx))
    }

    /// Every champion the company had, oldest first.
    pub async fn champion_history(
        &self,
        company_id: Uuid,
    ) -> Result<Vec<ChampionSpell>, StoreError> {
        let rows: Vec<(i32, DateTime<Utc>, String, String)> = sqlx::query_as(
            "SELECT version, since, by, reason FROM champion_history
             WHERE company_id = $1 ORDER BY since, id",
        )
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .into_iter()
            .map(|(version, since, by, reason)| {
                let reason = ChampionReason::parse(&reason).ok_or_else(|| {
                    StoreError::Corrupt(format!("champion reason {reason} is unknown"))
                })?;
                Ok((version, since, by, reason))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(spells(rows))
    }

    /// Records what versions made of orders beside their decisions, in one statement; a score
    /// recorded before (a batch delivered again) is kept.
    pub async fn record_arm_scores(&self, scores: &[NewArmScore<'_>]) -> Result<(), StoreError> {
        if scores.is_empty() {
            return Ok(());
        }
        let column = |f: fn(&NewArmScore<'_>) -> String| scores.iter().map(f).collect::<Vec<_>>();
        let companies: Vec<Uuid> = scores.iter().map(|s| s.company_id).collect();
        let versions: Vec<i32> = scores.iter().map(|s| s.model_version).collect();
        let probabilities: Vec<f64> = scores.iter().map(|s| s.probability).collect();
        let at: Vec<DateTime<Utc>> = scores.iter().map(|s| s.scored_at).collect();
        // Committed without waiting for the WAL flush, as decisions are: this statement is part
        // of the scorer's announce, which the batch after next waits for (and the CPU it takes
        // is taken from every reply). A crash of PostgreSQL may lose the last scores; the
        // comparisons count only orders scored by both versions.
        sqlx::query(
            "INSERT INTO arm_scores (company_id, order_id, model_version, probability, verdict, scored_at)
             SELECT s.company_id, s.order_id, s.model_version, s.probability, s.verdict, s.scored_at
             FROM UNNEST($1::uuid[], $2::text[], $3::int4[], $4::float8[], $5::text[], $6::timestamptz[])
                  AS s(company_id, order_id, model_version, probability, verdict, scored_at)
             CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous
             ON CONFLICT DO NOTHING",
        )
        .bind(companies)
        .bind(column(|s| s.order_id.to_owned()))
        .bind(versions)
        .bind(probabilities)
        .bind(column(|s| s.verdict.as_str().to_owned()))
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The window's orders both versions of `pair` scored, judged as of `window.as_of`,
    /// streamed into the comparison's window.
    pub async fn paired_window(
        &self,
        company_id: Uuid,
        window: MonitoringWindow,
        pair: Pair,
    ) -> Result<PairWindow, StoreError> {
        let definition = self.outcome_definition_at(company_id, window.as_of).await?;
        let mut paired = PairWindow::default();
        let mut rows = sqlx::query_as::<_, PairedRow>(
            "SELECT d.model_version, d.probability, d.outcome, d.decided_at,
                    r.probability AS reference_probability, r.verdict AS reference_verdict,
                    a.probability AS arm_probability, a.verdict AS arm_verdict,
                    h.kind, h.details, h.occurred_at
             FROM decisions d
             LEFT JOIN arm_scores r ON r.company_id = d.company_id AND r.order_id = d.order_id
                                   AND r.model_version = $5
             LEFT JOIN arm_scores a ON a.company_id = d.company_id AND a.order_id = d.order_id
                                   AND a.model_version = $6
             LEFT JOIN LATERAL (
                 SELECT kind, details, occurred_at FROM outcome_history h
                 WHERE h.company_id = d.company_id AND h.order_id = d.order_id
                   AND h.family = 'repayment' AND h.reported_at <= $4
                 ORDER BY h.reported_at DESC, h.id DESC
                 LIMIT 1
             ) h ON true
             WHERE d.company_id = $1 AND d.decided_at >= $2 AND d.decided_at < $3
               AND d.decided_at <= $4
               AND (d.model_version = $5 OR r.probability IS NOT NULL)
               AND (d.model_version = $6 OR a.probability IS NOT NULL)
             ORDER BY d.decided_at",
        )
        .bind(company_id)
        .bind(window.from)
        .bind(window.to)
        .bind(window.as_of)
        .bind(pair.reference)
        .bind(pair.arm)
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let repayment = repayment_of(row.kind, row.details, row.occurred_at)?;
            let bad = match judge(
                definition,
                row.decided_at,
                window.as_of,
                repayment.as_ref().map(|(kind, at)| (kind, *at)),
            ) {
                Maturity::Bad => Some(true),
                Maturity::Good => Some(false),
                Maturity::Immature | Maturity::Unknown => None,
            };
            let own = (row.probability, row.outcome.as_str());
            let score = |version: i32, probability: Option<f64>, verdict: Option<&str>| {
                let (probability, verdict) = if row.model_version == version {
                    (Some(own.0), Some(own.1))
                } else {
                    (probability, verdict)
                };
                Ok::<_, StoreError>(ArmScore {
                    probability: probability
                        .ok_or_else(|| StoreError::Corrupt("a paired score is missing".into()))?,
                    approved: verdict == Some("approved"),
                })
            };
            paired.add(&PairedOrder {
                reference: score(
                    pair.reference,
                    row.reference_probability,
                    row.reference_verdict.as_deref(),
                )?,
                arm: score(pair.arm, row.arm_probability, row.arm_verdict.as_deref())?,
                served_by_arm: row.model_version == pair.arm,
                served_by_reference: row.model_version == pair.reference,
                bad,
            });
        }
        Ok(paired)
    }
}

async fn latest_experiment<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    company_id: Uuid,
) -> Result<Option<StoredExperiment>, StoreError> {
    let row: Option<ExperimentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EXPERIMENT_COLUMNS} FROM experiments
         WHERE company_id = $1 ORDER BY version DESC LIMIT 1"
    )))
    .bind(company_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(StoredExperiment::from))
}

/// Locks the company's row (NO KEY: rows that refer to the company are not held) and reads
/// its champion.
async fn lock_company(
    tx: &mut Transaction<'static, Postgres>,
    company_id: Uuid,
) -> Result<Option<i32>, StoreError> {
    sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR NO KEY UPDATE")
        .bind(company_id)
        .execute(&mut **tx)
        .await?;
    Ok(
        sqlx::query_scalar("SELECT version FROM active_models WHERE company_id = $1")
            .bind(company_id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

async fn insert_experiment(
    tx: &mut Transaction<'static, Postgres>,
    company_id: Uuid,
    experiment: &Experiment,
    probation: Option<Probation>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<StoredExperiment, StoreError> {
    let row: ExperimentRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO experiments (company_id, version, definition, probation, created_at, created_by)
         SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5
         FROM experiments WHERE company_id = $1
         RETURNING {EXPERIMENT_COLUMNS}"
    )))
    .bind(company_id)
    .bind(Json(experiment))
    .bind(probation.map(Json))
    .bind(at)
    .bind(by)
    .fetch_one(&mut **tx)
    .await?;
    Ok(StoredExperiment::from(row))
}

/// Makes `version` the champion within `tx`; `NotFound` when the company has no such version.
pub(crate) async fn activate_in<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    company_id: Uuid,
    version: i32,
    by: &str,
    at: DateTime<Utc>,
    reason: ChampionReason,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "INSERT INTO active_models (company_id, version, activated_at, activated_by, reason)
         SELECT company_id, version, $3, $4, $5 FROM models WHERE company_id = $1 AND version = $2
         ON CONFLICT (company_id) DO UPDATE
            SET version = EXCLUDED.version, activated_at = EXCLUDED.activated_at,
                activated_by = EXCLUDED.activated_by, reason = EXCLUDED.reason",
    )
    .bind(company_id)
    .bind(version)
    .bind(at)
    .bind(by)
    .bind(reason.as_str())
    .execute(executor)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
