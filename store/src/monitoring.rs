//! What live monitoring reads: a company's decisions of a window, each with the repayment
//! outcome it had stored by an instant, and the definition of a bad order in force then. Both
//! come from the histories (`outcome_history`, `outcome_definition_history`), so a past
//! instant reads what was known then, whatever was reported since.

use crate::{Store, StoreError};
use aval_core::monitoring::{LiveWindow, MonitoredDecision, VersionWindow};
use aval_core::outcome::{BadDefinition, OutcomeKind};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

/// Which of a company's decisions to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitoringWindow {
    /// Decided in [from, to), and no later than `as_of`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    /// One version's decisions, or every version's.
    pub model_version: Option<i32>,
}

#[derive(sqlx::FromRow)]
struct MonitoredRow {
    model_version: i32,
    probability: f64,
    approved: bool,
    decided_at: DateTime<Utc>,
    kind: Option<String>,
    details: Option<Json<Value>>,
    occurred_at: Option<DateTime<Utc>>,
}

impl TryFrom<MonitoredRow> for MonitoredDecision {
    type Error = StoreError;

    fn try_from(row: MonitoredRow) -> Result<Self, StoreError> {
        let repayment = repayment_of(row.kind, row.details, row.occurred_at)?;
        Ok(MonitoredDecision {
            model_version: row.model_version,
            probability: row.probability,
            approved: row.approved,
            decided_at: row.decided_at,
            repayment,
        })
    }
}

/// A repayment outcome as a lateral join on `outcome_history` reads it: its kind, details and
/// when it happened, or nothing reported.
pub(crate) fn repayment_of(
    kind: Option<String>,
    details: Option<Json<Value>>,
    occurred_at: Option<DateTime<Utc>>,
) -> Result<Option<(OutcomeKind, DateTime<Utc>)>, StoreError> {
    match (kind, details, occurred_at) {
        (Some(kind), Some(details), Some(occurred_at)) => {
            let read = OutcomeKind::from_stored(&kind, &details.0).ok_or_else(|| {
                StoreError::Corrupt(format!("stored outcome {kind} has unreadable details"))
            })?;
            Ok(Some((read, occurred_at)))
        }
        _ => Ok(None),
    }
}

impl Store {
    /// The window's decisions judged as of `as_of` by the definition of a bad order in force
    /// then, counted per model version (the version asked for is there even without any):
    /// streamed into the counts, so a window of a million decisions is never held.
    pub async fn live_window(
        &self,
        company_id: Uuid,
        window: MonitoringWindow,
    ) -> Result<LiveWindow, StoreError> {
        let definition = self.outcome_definition_at(company_id, window.as_of).await?;
        let mut live = LiveWindow::new(definition, window.as_of);
        if let Some(version) = window.model_version {
            live.versions.insert(version, VersionWindow::default());
        }
        self.for_each_monitored_decision(company_id, window, |decision| live.add(&decision))
            .await?;
        Ok(live)
    }

    /// Calls `each` with every decision of the window, oldest first, with the latest repayment
    /// outcome stored by `as_of`.
    async fn for_each_monitored_decision(
        &self,
        company_id: Uuid,
        window: MonitoringWindow,
        mut each: impl FnMut(MonitoredDecision),
    ) -> Result<(), StoreError> {
        let mut rows = sqlx::query_as::<_, MonitoredRow>(
            "SELECT d.model_version, d.probability, d.outcome = 'approved' AS approved,
                    d.decided_at, h.kind, h.details, h.occurred_at
             FROM decisions d
             LEFT JOIN LATERAL (
                 SELECT kind, details, occurred_at FROM outcome_history h
                 WHERE h.company_id = d.company_id AND h.order_id = d.order_id
                   AND h.family = 'repayment' AND h.reported_at <= $4
                 ORDER BY h.reported_at DESC, h.id DESC
                 LIMIT 1
             ) h ON true
             WHERE d.company_id = $1 AND d.decided_at >= $2 AND d.decided_at < $3
               AND d.decided_at <= $4
               AND ($5::integer IS NULL OR d.model_version = $5)
             ORDER BY d.decided_at",
        )
        .bind(company_id)
        .bind(window.from)
        .bind(window.to)
        .bind(window.as_of)
        .bind(window.model_version)
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            each(MonitoredDecision::try_from(row)?);
        }
        Ok(())
    }

    /// The company's definition of a bad order in force at `as_of`: the last it set by then,
    /// else the default.
    pub async fn outcome_definition_at(
        &self,
        company_id: Uuid,
        as_of: DateTime<Utc>,
    ) -> Result<BadDefinition, StoreError> {
        let row: Option<(i32, i32)> = sqlx::query_as(
            "SELECT days_past_due, within_days FROM outcome_definition_history
             WHERE company_id = $1 AND valid_from <= $2
             ORDER BY valid_from DESC LIMIT 1",
        )
        .bind(company_id)
        .bind(as_of)
        .fetch_optional(&self.pool)
        .await?;
        let days = |d: i32| {
            u32::try_from(d).map_err(|_| StoreError::Corrupt(format!("{d} days out of range")))
        };
        match row {
            None => Ok(BadDefinition::default()),
            Some((days_past_due, within_days)) => Ok(BadDefinition {
                days_past_due: days(days_past_due)?,
                within_days: days(within_days)?,
            }),
        }
    }
}
