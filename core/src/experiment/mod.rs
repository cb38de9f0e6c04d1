//! Champion and challengers: which model version decides an order, and how the versions of an
//! experiment compare on the same orders.
//!
//! The champion is the company's active version. Its experiment names challengers, each taking
//! a share of the traffic, and shadows, which decide nothing. A customer keeps its arm: the
//! split hashes company and customer ([`split`]), so HTTP and Kafka requests agree and a
//! customer's orders never bounce between versions. Every other version of the experiment
//! scores each order off the reply path, so comparisons ([`compare`]) pair the versions on
//! the same orders. A guardrail ([`guardrail`]) ends a challenger that breaches it, and puts
//! the previous champion back when a newly promoted one does.
//!
//! Modules, in order of dependency: `split` (the arm of a customer), `compare` (two versions
//! on the same orders), `guardrail` (when a version must stop deciding).

mod compare;
mod guardrail;
mod split;

#[cfg(test)]
mod tests;

pub use compare::{
    ArmComparison, ArmScore, ComparisonVerdict, EqualApproval, MIN_MATURED_PER_ARM, PairWindow,
    PairedOrder,
};
pub use guardrail::{Breach, Guardrail};
pub use split::{SHARE_RESOLUTION, bucket};

use crate::FieldErrors;
use crate::audit::{AuditEvent, AuditKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use uuid::Uuid;

/// Challengers, and shadows, an experiment names at most: each scores every order.
pub const MAX_CHALLENGERS: usize = 5;
pub const MAX_SHADOWS: usize = 5;
/// The largest share of traffic all challengers together may take: the champion keeps most.
pub const MAX_CHALLENGER_SHARE: f64 = 0.5;
/// A challenger's share when not told.
pub const DEFAULT_SHARE: f64 = 0.05;

/// What a company sets: the versions besides its champion, and the guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Versions that decide a share of the orders, each for the customers its share hashes to.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 5))]
    pub challengers: Vec<Challenger>,
    /// Versions that score every order without deciding any: recorded, never returned.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 5))]
    pub shadows: Vec<i32>,
    #[serde(default)]
    pub guardrail: Guardrail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Challenger {
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: i32,
    /// The share of customers it decides for, above 0 and at most 0.5 (all challengers
    /// together at most 0.5), to a millionth; default 0.05.
    #[serde(default = "default_share")]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 0.5))]
    pub share: f64,
}

fn default_share() -> f64 {
    DEFAULT_SHARE
}

/// Set by a promotion: the champion it replaced, scored beside the new one until `until`, and
/// put back by the guardrail should the new one breach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Probation {
    /// The version promoted.
    pub champion: i32,
    /// The champion it replaced.
    pub previous: i32,
    /// When the promotion was made, and when the probation ends.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// Which arm decided an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Champion,
    Challenger,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Champion => "champion",
            Arm::Challenger => "challenger",
        }
    }

    pub fn parse(text: &str) -> Option<Arm> {
        match text {
            "champion" => Some(Arm::Champion),
            "challenger" => Some(Arm::Challenger),
            _ => None,
        }
    }
}

/// The experiment a scorer decides under: the saved version and its probation.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentInForce {
    pub version: i32,
    pub experiment: Experiment,
    pub probation: Option<Probation>,
}

impl ExperimentInForce {
    /// The version that decides `customer`'s orders, and as which arm: a challenger when the
    /// customer hashes into its share, else the champion.
    pub fn serving(&self, company: Uuid, customer: &str, champion: i32) -> (i32, Arm) {
        split::challenger_for(company, customer, &self.experiment.challengers)
            .map_or((champion, Arm::Champion), |version| {
                (version, Arm::Challenger)
            })
    }

    /// The versions that score an order off the reply path when `serving` decides it: every
    /// other version of the experiment (the champion, challengers, shadows, and a probation's
    /// previous champion until it ends), each once.
    pub fn scoring_beside(&self, champion: i32, serving: i32, at: DateTime<Utc>) -> Vec<i32> {
        let experiment = &self.experiment;
        let previous = self
            .probation
            .filter(|p| p.champion == champion && at < p.until)
            .map(|p| p.previous);
        let all = std::iter::once(champion)
            .chain(experiment.challengers.iter().map(|c| c.version))
            .chain(experiment.shadows.iter().copied())
            .chain(previous);
        let mut seen = HashSet::new();
        all.filter(|&v| v != serving && seen.insert(v)).collect()
    }
}

impl Experiment {
    /// Every problem with the experiment around `champion`, among the company's `versions`,
    /// by field path.
    pub fn check(&self, champion: i32, versions: &HashSet<i32>) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.challengers.len() > MAX_CHALLENGERS {
            errors.push(
                "challengers",
                format!("at most {MAX_CHALLENGERS} challengers"),
            );
        }
        if self.shadows.len() > MAX_SHADOWS {
            errors.push("shadows", format!("at most {MAX_SHADOWS} shadows"));
        }
        let mut named = HashSet::new();
        let mut version_ok = |path: String, version: i32, errors: &mut FieldErrors| {
            if version == champion {
                errors.push(path, format!("version {version} is the champion"));
            } else if !versions.contains(&version) {
                errors.push(path, format!("the company has no model version {version}"));
            } else if !named.insert(version) {
                errors.push(path, format!("version {version} is named twice"));
            }
        };
        let mut total = 0.0;
        for (i, challenger) in self.challengers.iter().enumerate() {
            version_ok(
                format!("challengers[{i}].version"),
                challenger.version,
                &mut errors,
            );
            let share = challenger.share;
            if !(share.is_finite() && share > 0.0 && share <= MAX_CHALLENGER_SHARE) {
                errors.push(
                    format!("challengers[{i}].share"),
                    format!("must be above 0 and at most {MAX_CHALLENGER_SHARE}"),
                );
            } else if split::parts_of(share) == 0 {
                errors.push(
                    format!("challengers[{i}].share"),
                    "must be at least one millionth",
                );
            } else {
                total += share;
            }
        }
        if total > MAX_CHALLENGER_SHARE + 1e-9 {
            errors.push(
                "challengers",
                format!(
                    "the shares add up to {total}; challengers take at most {MAX_CHALLENGER_SHARE} \
                     together"
                ),
            );
        }
        for (i, &version) in self.shadows.iter().enumerate() {
            version_ok(format!("shadows[{i}]"), version, &mut errors);
        }
        self.guardrail.check(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Every version the experiment names besides the champion.
    pub fn versions(&self) -> Vec<i32> {
        self.challengers
            .iter()
            .map(|c| c.version)
            .chain(self.shadows.iter().copied())
            .collect()
    }

    /// The experiment without `version` (promoted, or ended by the guardrail).
    pub fn without(&self, version: i32) -> Experiment {
        Experiment {
            challengers: self
                .challengers
                .iter()
                .filter(|c| c.version != version)
                .cloned()
                .collect(),
            shadows: self
                .shadows
                .iter()
                .copied()
                .filter(|&v| v != version)
                .collect(),
            guardrail: self.guardrail.clone(),
        }
    }
}

/// Why a version became the champion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChampionReason {
    /// Trained and found at least as good as the champion on the same holdout.
    Trained,
    /// Activated by name (`POST /v1/models/{version}/activate`).
    Activated,
    /// Promoted from the experiment.
    Promoted,
    /// Put back by a rollback call.
    RolledBack,
    /// Put back by the guardrail, the promoted version having breached it.
    Guardrail,
}

impl ChampionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ChampionReason::Trained => "trained",
            ChampionReason::Activated => "activated",
            ChampionReason::Promoted => "promoted",
            ChampionReason::RolledBack => "rolled_back",
            ChampionReason::Guardrail => "guardrail",
        }
    }

    pub fn parse(text: &str) -> Option<ChampionReason> {
        [
            ChampionReason::Trained,
            ChampionReason::Activated,
            ChampionReason::Promoted,
            ChampionReason::RolledBack,
            ChampionReason::Guardrail,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// A version's time as champion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChampionSpell {
    pub version: i32,
    pub since: DateTime<Utc>,
    /// When the next champion took over; `None` for the champion now.
    pub until: Option<DateTime<Utc>>,
    pub reason: ChampionReason,
    /// `company:<id>`, `system:train` or `system:guardrail`.
    pub by: String,
}

/// Spells from the history's rows (version, since, by, reason), oldest first: the same
/// version activated again in a row stays one spell.
pub fn spells(rows: Vec<(i32, DateTime<Utc>, String, ChampionReason)>) -> Vec<ChampionSpell> {
    let mut spells: Vec<ChampionSpell> = Vec::with_capacity(rows.len());
    for (version, since, by, reason) in rows {
        if let Some(last) = spells.last_mut() {
            if last.version == version {
                continue;
            }
            last.until = Some(since);
        }
        spells.push(ChampionSpell {
            version,
            since,
            until: None,
            reason,
            by,
        });
    }
    spells
}

/// The champion at `at`, from spells oldest first.
pub fn champion_at(spells: &[ChampionSpell], at: DateTime<Utc>) -> Option<&ChampionSpell> {
    spells
        .iter()
        .rev()
        .find(|s| s.since <= at && s.until.is_none_or(|until| at < until))
}

/// The actor of the guardrail's changes in the audit log.
pub const GUARDRAIL_ACTOR: &str = "system:guardrail";

/// What changed an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentAction {
    /// The company saved it.
    Saved,
    Promoted,
    RolledBack,
    /// The guardrail ended a challenger.
    GuardrailEnded,
    /// The guardrail put back the champion a promoted version replaced.
    GuardrailRolledBack,
}

impl ExperimentAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentAction::Saved => "saved",
            ExperimentAction::Promoted => "promoted",
            ExperimentAction::RolledBack => "rolled_back",
            ExperimentAction::GuardrailEnded => "guardrail_ended",
            ExperimentAction::GuardrailRolledBack => "guardrail_rolled_back",
        }
    }
}

/// The `experiment.changed` event of a saved version: scorers read `version` to drop their
/// copy. Callers add what the action needs (`from`, `to`, a breach).
pub fn changed_event(
    company: Uuid,
    actor: &str,
    at: DateTime<Utc>,
    action: ExperimentAction,
    (version, previous_version): (i32, Option<i32>),
    champion: i32,
    experiment: &Experiment,
) -> AuditEvent {
    let list = |versions: Vec<String>| versions.join(",");
    AuditEvent::new(company, AuditKind::ExperimentChanged, actor, at)
        .with_detail("version", version.to_string())
        .with_detail(
            "previous_version",
            previous_version.map_or_else(|| "none".to_owned(), |v| v.to_string()),
        )
        .with_detail("action", action.as_str())
        .with_detail("champion", champion.to_string())
        .with_detail(
            "challengers",
            list(
                experiment
                    .challengers
                    .iter()
                    .map(|c| format!("{}:{}", c.version, c.share))
                    .collect(),
            ),
        )
        .with_detail(
            "shadows",
            list(experiment.shadows.iter().map(i32::to_string).collect()),
        )
}
