//! The experiments' guardrail, run by the monitor at each of its checks: each challenger is
//! judged on the orders it decided against what the champion made of them, and a champion on
//! probation against the one it replaced. A challenger that breaches is ended; a champion on
//! probation that breaches gives its place back. Each change is saved, audited
//! (`experiment.changed` by `system:guardrail`, naming the limit and the evidence) and, for a
//! rollback, announced to the scorers like any activation.

use aval_core::experiment::{
    Breach, ChampionReason, ExperimentAction, GUARDRAIL_ACTOR, changed_event,
};
use aval_store::experiments::{Pair, StoredExperiment};
use aval_store::monitoring::MonitoringWindow;
use aval_store::{Store, StoreError};
use aval_topics::{Catalogue, Publisher, TopicsError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum GuardError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Topics(#[from] TopicsError),
}

impl GuardError {
    pub fn fault(&self) -> aval_core::Fault {
        match self {
            GuardError::Store(e) => e.fault(),
            GuardError::Topics(e) => e.fault(),
        }
    }
}

/// What the guardrail did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded {
    /// A challenger ended.
    Ended { version: i32, breach: Breach },
    /// A champion on probation rolled back to the one it replaced.
    RolledBack { from: i32, to: i32, breach: Breach },
}

#[derive(Debug, Clone)]
pub struct Guardrail {
    store: Store,
    publisher: Publisher,
    catalogue: Arc<Catalogue>,
    /// Challengers are judged on their decisions of this long before the check.
    window: chrono::Duration,
}

impl Guardrail {
    pub fn new(
        store: Store,
        publisher: Publisher,
        catalogue: Arc<Catalogue>,
        window: chrono::Duration,
    ) -> Self {
        Self {
            store,
            publisher,
            catalogue,
            window,
        }
    }

    /// Judges the company's experiment as of `at`, and acts on each breach.
    pub async fn guard(
        &self,
        company: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Vec<Guarded>, GuardError> {
        let Some(champion) = self.store.active_version(company).await? else {
            return Ok(Vec::new());
        };
        let Some(stored) = self.store.latest_experiment(company).await? else {
            return Ok(Vec::new());
        };
        let mut done = Vec::new();
        if let Some(probation) = stored
            .probation
            .filter(|p| p.champion == champion && at < p.until)
        {
            let pair = Pair {
                arm: champion,
                reference: probation.previous,
            };
            if let Some(breach) = self
                .breach(company, &stored, pair, probation.since, at)
                .await?
                && let Some(to) = self.roll_back(company, champion, &breach, at).await?
            {
                done.push(Guarded::RolledBack {
                    from: champion,
                    to,
                    breach,
                });
                // The experiment changed under it: the challengers are judged next time.
                return Ok(done);
            }
        }
        for challenger in &stored.experiment.challengers {
            let pair = Pair {
                arm: challenger.version,
                reference: champion,
            };
            let from = at - self.window;
            if let Some(breach) = self.breach(company, &stored, pair, from, at).await?
                && self.end(company, challenger.version, &breach, at).await?
            {
                done.push(Guarded::Ended {
                    version: challenger.version,
                    breach,
                });
            }
        }
        Ok(done)
    }

    async fn breach(
        &self,
        company: Uuid,
        stored: &StoredExperiment,
        pair: Pair,
        from: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<Breach>, GuardError> {
        let window = MonitoringWindow {
            from,
            to: at,
            as_of: at,
            model_version: None,
        };
        let paired = self.store.paired_window(company, window, pair).await?;
        let guardrail = stored.experiment.guardrail.clone();
        let comparison = tokio::task::spawn_blocking(move || paired.compare())
            .await
            .map_err(|e| StoreError::Corrupt(format!("the comparison failed: {e}")))?;
        Ok(guardrail.breach(&comparison))
    }

    /// Ends a challenger; `false` when the experiment changed meanwhile.
    async fn end(
        &self,
        company: Uuid,
        version: i32,
        breach: &Breach,
        at: DateTime<Utc>,
    ) -> Result<bool, GuardError> {
        let previous = self
            .store
            .latest_experiment(company)
            .await?
            .map(|e| e.version);
        let pending = match self
            .store
            .begin_ending(company, version, GUARDRAIL_ACTOR, at)
            .await
        {
            Ok(pending) => pending,
            Err(StoreError::Stale(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let champion = self.store.active_version(company).await?.unwrap_or(0);
        let saved = &pending.value;
        let event = changed_event(
            company,
            GUARDRAIL_ACTOR,
            at,
            ExperimentAction::GuardrailEnded,
            (saved.version, previous),
            champion,
            &saved.experiment,
        )
        .with_detail("model_version", version.to_string())
        .with_detail("limit", breach.limit.clone())
        .with_detail("evidence", breach.evidence.clone());
        self.publisher
            .publish_audit(&self.catalogue, &event)
            .await?;
        pending.commit().await?;
        metrics::counter!("aval_guardrail_actions_total", "action" => "ended").increment(1);
        tracing::warn!(%company, version, limit = %breach.limit, evidence = %breach.evidence, "the guardrail ended a challenger");
        Ok(true)
    }

    /// Puts back the champion `champion` replaced; the version put back, or `None` when the
    /// champion changed meanwhile.
    async fn roll_back(
        &self,
        company: Uuid,
        champion: i32,
        breach: &Breach,
        at: DateTime<Utc>,
    ) -> Result<Option<i32>, GuardError> {
        let previous = self
            .store
            .latest_experiment(company)
            .await?
            .map(|e| e.version);
        let pending = match self
            .store
            .begin_rollback(
                company,
                Some(champion),
                ChampionReason::Guardrail,
                GUARDRAIL_ACTOR,
                at,
            )
            .await
        {
            Ok(pending) => pending,
            Err(StoreError::Stale(_) | StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let change = &pending.value;
        let event = changed_event(
            company,
            GUARDRAIL_ACTOR,
            at,
            ExperimentAction::GuardrailRolledBack,
            (change.experiment.version, previous),
            change.to,
            &change.experiment.experiment,
        )
        .with_detail("from", change.from.to_string())
        .with_detail("to", change.to.to_string())
        .with_detail("model_version", champion.to_string())
        .with_detail("limit", breach.limit.clone())
        .with_detail("evidence", breach.evidence.clone());
        self.publisher
            .publish_audit(&self.catalogue, &event)
            .await?;
        let change = pending.commit().await?;
        self.announce(company, change.to, at).await?;
        metrics::counter!("aval_guardrail_actions_total", "action" => "rolled_back").increment(1);
        tracing::warn!(%company, from = change.from, to = change.to, limit = %breach.limit, evidence = %breach.evidence, "the guardrail rolled a champion back");
        Ok(Some(change.to))
    }

    /// The rollback is stored: scorers must hear of it, so a failure to announce is retried
    /// (about a minute, backing off) before it is reported; the activation's event id is
    /// fixed by what was activated when, so a repeat is stored once.
    async fn announce(
        &self,
        company: Uuid,
        version: i32,
        at: DateTime<Utc>,
    ) -> Result<(), GuardError> {
        let mut wait = std::time::Duration::from_millis(250);
        let mut attempts = 0;
        loop {
            match self
                .publisher
                .announce_activation(&self.catalogue, company, version, GUARDRAIL_ACTOR, at)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if attempts < ANNOUNCE_ATTEMPTS => {
                    tracing::warn!(%company, version, error = %e, "the rollback's activation waits for Kafka");
                    attempts += 1;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Attempts to announce a rollback before the failure is reported.
const ANNOUNCE_ATTEMPTS: u32 = 8;
