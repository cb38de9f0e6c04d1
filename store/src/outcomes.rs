//! Outcomes a company reports about its decided orders, and its definition of a bad order.
//! A report is an upsert keyed by (company, order, kind family): it replaces the stored row of
//! its family when it occurred later, or at the same instant with other content (a
//! correction); the same report again, or an older one, changes nothing. So a batch can be
//! re-sent, and reports can arrive out of order, and the latest outcome is what stays.

use crate::decisions::DecisionSummary;
use crate::{Pending, Store, StoreError};
use aval_core::outcome::{BadDefinition, DecisionRef, KindFamily, OutcomeKind};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use std::collections::HashMap;
use uuid::Uuid;

/// The decision a report names, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionKey {
    pub order_id: String,
    pub request_id: String,
    pub decided_at: DateTime<Utc>,
}

/// One outcome to store, its decision resolved.
#[derive(Debug, Clone, Copy)]
pub struct NewOutcome<'a> {
    pub decision: &'a DecisionKey,
    pub kind: &'a OutcomeKind,
    pub occurred_at: DateTime<Utc>,
}

/// Where a page of outcomes ends, in the listing's order (newest decision first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomePosition {
    pub decided_at: DateTime<Utc>,
    pub order_id: String,
    pub family: KindFamily,
}

/// A stored outcome with the decision it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOutcome {
    pub decision: DecisionSummary,
    pub kind: OutcomeKind,
    pub occurred_at: DateTime<Utc>,
    pub reported_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OutcomeRow {
    #[sqlx(flatten)]
    decision: DecisionSummary,
    kind: String,
    details: Json<Value>,
    occurred_at: DateTime<Utc>,
    reported_at: DateTime<Utc>,
}

impl TryFrom<OutcomeRow> for StoredOutcome {
    type Error = StoreError;

    fn try_from(row: OutcomeRow) -> Result<Self, StoreError> {
        let kind = OutcomeKind::from_stored(&row.kind, &row.details.0).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "outcome {} of order {} has unreadable details",
                row.kind, row.decision.order_id
            ))
        })?;
        Ok(Self {
            decision: row.decision,
            kind,
            occurred_at: row.occurred_at,
            reported_at: row.reported_at,
        })
    }
}

/// What a definition change found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefinitionChange {
    /// The definition before (the default when the company had never set one).
    pub previous: BadDefinition,
    /// False when the new definition is the one in force: nothing was written.
    pub changed: bool,
}

fn to_i32(days: u32) -> Result<i32, StoreError> {
    i32::try_from(days).map_err(|_| StoreError::Corrupt(format!("{days} days out of range")))
}

fn to_u32(days: i32) -> Result<u32, StoreError> {
    u32::try_from(days).map_err(|_| StoreError::Corrupt(format!("{days} days out of range")))
}

impl Store {
    /// For each of `refs`, the company's decision it names, or `None`: an unknown id and
    /// another company's read the same. A request id reused by a Kafka producer for several
    /// orders names its earliest decision, as `GET /v1/decisions/{request_id}` does.
    pub async fn resolve_decisions(
        &self,
        company_id: Uuid,
        refs: &[DecisionRef],
    ) -> Result<Vec<Option<DecisionKey>>, StoreError> {
        let mut request_ids = Vec::new();
        let mut order_ids = Vec::new();
        for r in refs {
            match r {
                DecisionRef::RequestId(id) => request_ids.push(id.as_str()),
                DecisionRef::OrderId(id) => order_ids.push(id.as_str()),
            }
        }
        let mut by_request: HashMap<String, DecisionKey> = HashMap::new();
        if !request_ids.is_empty() {
            let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
                "SELECT DISTINCT ON (request_id) request_id, order_id, decided_at FROM decisions
                 WHERE company_id = $1 AND request_id = ANY($2::text[])
                 ORDER BY request_id, decided_at, order_id",
            )
            .bind(company_id)
            .bind(&request_ids)
            .fetch_all(&self.pool)
            .await?;
            by_request = rows
                .into_iter()
                .map(|(request_id, order_id, decided_at)| {
                    let key = DecisionKey {
                        order_id,
                        request_id: request_id.clone(),
                        decided_at,
                    };
                    (request_id, key)
                })
                .collect();
        }
        let mut by_order: HashMap<String, DecisionKey> = HashMap::new();
        if !order_ids.is_empty() {
            let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
                "SELECT order_id, request_id, decided_at FROM decisions
                 WHERE company_id = $1 AND order_id = ANY($2::text[])",
            )
            .bind(company_id)
            .bind(&order_ids)
            .fetch_all(&self.pool)
            .await?;
            by_order = rows
                .into_iter()
                .map(|(order_id, request_id, decided_at)| {
                    let key = DecisionKey {
                        order_id: order_id.clone(),
                        request_id,
                        decided_at,
                    };
                    (order_id, key)
                })
                .collect();
        }
        Ok(refs
            .iter()
            .map(|r| match r {
                DecisionRef::RequestId(id) => by_request.get(id).cloned(),
                DecisionRef::OrderId(id) => by_order.get(id).cloned(),
            })
            .collect())
    }

    /// Upserts a batch of outcomes (at most one per order and family) in an open transaction,
    /// by the rule of this module; the value is how many rows were stored (new or replaced),
    /// the rest being unchanged. The caller audits, then commits.
    pub async fn begin_outcomes(
        &self,
        company_id: Uuid,
        outcomes: &[NewOutcome<'_>],
        reported_at: DateTime<Utc>,
    ) -> Result<Pending<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let stored = upsert(&mut tx, company_id, outcomes, reported_at).await?;
        Ok(Pending::new(stored, tx))
    }

    /// Upserts outcomes one after another in an open transaction, so several about the same
    /// order and family apply in order, as separate records of a topic do; the value says of
    /// each whether it was stored. The caller audits, then commits.
    pub async fn begin_outcomes_in_order(
        &self,
        company_id: Uuid,
        outcomes: &[NewOutcome<'_>],
        reported_at: DateTime<Utc>,
    ) -> Result<Pending<Vec<bool>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut stored = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            let one = std::slice::from_ref(outcome);
            stored.push(upsert(&mut tx, company_id, one, reported_at).await? > 0);
        }
        Ok(Pending::new(stored, tx))
    }

    /// Up to `limit` of the company's outcomes (of `order_id` alone, when given), newest
    /// decision first, then by order id and family, after `after` when given; each with its
    /// decision.
    pub async fn outcomes_page(
        &self,
        company_id: Uuid,
        order_id: Option<&str>,
        after: Option<&OutcomePosition>,
        limit: i64,
    ) -> Result<Vec<StoredOutcome>, StoreError> {
        let rows: Vec<OutcomeRow> = sqlx::query_as(
            "SELECT d.request_id, d.order_id, d.customer_id, d.outcome, d.probability,
                    d.threshold, d.model_version, d.decided_at,
                    o.kind, o.details, o.occurred_at, o.reported_at
             FROM outcomes o
             JOIN decisions d ON d.company_id = o.company_id AND d.order_id = o.order_id
             WHERE o.company_id = $1
               AND ($2::text IS NULL OR o.order_id = $2)
               AND ($3::timestamptz IS NULL OR (o.decided_at, o.order_id, o.family) < ($3, $4, $5))
             ORDER BY o.decided_at DESC, o.order_id DESC, o.family DESC
             LIMIT $6",
        )
        .bind(company_id)
        .bind(order_id)
        .bind(after.map(|p| p.decided_at))
        .bind(after.map(|p| p.order_id.as_str()))
        .bind(after.map(|p| p.family.as_str()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(StoredOutcome::try_from).collect()
    }

    /// The company's definition of a bad order: the one it set, else the default.
    pub async fn outcome_definition(&self, company_id: Uuid) -> Result<BadDefinition, StoreError> {
        let row: Option<(i32, i32)> = sqlx::query_as(
            "SELECT days_past_due, within_days FROM outcome_definitions WHERE company_id = $1",
        )
        .bind(company_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(BadDefinition::default()),
            Some((days_past_due, within_days)) => Ok(BadDefinition {
                days_past_due: to_u32(days_past_due)?,
                within_days: to_u32(within_days)?,
            }),
        }
    }

    /// Sets the company's definition in an open transaction, when it differs from the one in
    /// force (the company's row locked meanwhile); the caller audits a change, then commits.
    pub async fn begin_outcome_definition(
        &self,
        company_id: Uuid,
        definition: BadDefinition,
        at: DateTime<Utc>,
    ) -> Result<Pending<DefinitionChange>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(i32, i32)> = sqlx::query_as(
            "SELECT days_past_due, within_days FROM outcome_definitions
             WHERE company_id = $1 FOR UPDATE",
        )
        .bind(company_id)
        .fetch_optional(&mut *tx)
        .await?;
        let previous = match row {
            None => BadDefinition::default(),
            Some((days_past_due, within_days)) => BadDefinition {
                days_past_due: to_u32(days_past_due)?,
                within_days: to_u32(within_days)?,
            },
        };
        let changed = previous != definition;
        if changed {
            // The definition in force and its history, in one statement.
            sqlx::query(
                "WITH current AS (
                     INSERT INTO outcome_definitions (company_id, days_past_due, within_days, updated_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (company_id) DO UPDATE SET
                         days_past_due = EXCLUDED.days_past_due,
                         within_days = EXCLUDED.within_days,
                         updated_at = EXCLUDED.updated_at
                     RETURNING company_id, days_past_due, within_days, updated_at
                 )
                 INSERT INTO outcome_definition_history (company_id, days_past_due, within_days,
                                                         valid_from)
                 SELECT company_id, days_past_due, within_days, updated_at FROM current
                 ON CONFLICT (company_id, valid_from) DO UPDATE SET
                     days_past_due = EXCLUDED.days_past_due,
                     within_days = EXCLUDED.within_days",
            )
            .bind(company_id)
            .bind(to_i32(definition.days_past_due)?)
            .bind(to_i32(definition.within_days)?)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        Ok(Pending::new(DefinitionChange { previous, changed }, tx))
    }
}

/// The upsert of [`Store::begin_outcomes`]: rows go in in key order, so two batches about the
/// same orders at once cannot deadlock; the conflict's WHERE is the replacement rule.
async fn upsert(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    company_id: Uuid,
    outcomes: &[NewOutcome<'_>],
    reported_at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut orders = Vec::with_capacity(outcomes.len());
    let mut requests = Vec::with_capacity(outcomes.len());
    let mut decided = Vec::with_capacity(outcomes.len());
    let mut families = Vec::with_capacity(outcomes.len());
    let mut kinds = Vec::with_capacity(outcomes.len());
    let mut details = Vec::with_capacity(outcomes.len());
    let mut occurred = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        orders.push(o.decision.order_id.as_str());
        requests.push(o.decision.request_id.as_str());
        decided.push(o.decision.decided_at);
        families.push(o.kind.family().as_str());
        kinds.push(o.kind.name());
        details.push(o.kind.details().to_string());
        occurred.push(o.occurred_at);
    }
    // What the upsert stored is also appended to the history, in the same statement, so the
    // count of history rows is the count stored.
    let stored = sqlx::query(
        "WITH stored AS (
             INSERT INTO outcomes (company_id, order_id, request_id, decided_at, family, kind,
                                   details, occurred_at, reported_at)
             SELECT $1, o.order_id, o.request_id, o.decided_at, o.family, o.kind,
                    o.details::jsonb, o.occurred_at, $9
             FROM UNNEST($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
                         $7::text[], $8::timestamptz[])
                  AS o(order_id, request_id, decided_at, family, kind, details, occurred_at)
             ORDER BY o.order_id, o.family
             ON CONFLICT (company_id, order_id, family) DO UPDATE SET
                 request_id = EXCLUDED.request_id,
                 kind = EXCLUDED.kind,
                 details = EXCLUDED.details,
                 occurred_at = EXCLUDED.occurred_at,
                 reported_at = EXCLUDED.reported_at
             WHERE EXCLUDED.occurred_at > outcomes.occurred_at
                OR (EXCLUDED.occurred_at = outcomes.occurred_at
                    AND (EXCLUDED.kind, EXCLUDED.details)
                        IS DISTINCT FROM (outcomes.kind, outcomes.details))
             RETURNING company_id, order_id, family, kind, details, occurred_at, reported_at
         )
         INSERT INTO outcome_history (company_id, order_id, family, kind, details, occurred_at,
                                      reported_at)
         SELECT company_id, order_id, family, kind, details, occurred_at, reported_at
         FROM stored ORDER BY order_id, family",
    )
    .bind(company_id)
    .bind(&orders)
    .bind(&requests)
    .bind(&decided)
    .bind(&families)
    .bind(&kinds)
    .bind(&details)
    .bind(&occurred)
    .bind(reported_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(stored)
}

/// One group of a company's decisions for the override report: the decision, the analyst's
/// override of it (direction and reason code, when overridden) and the order's repayment
/// outcome's kind (when reported), with how many decisions share them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OverrideGroup {
    /// `approved` or `rejected`.
    pub decision: String,
    pub direction: Option<String>,
    pub reason_code: Option<String>,
    pub repayment: Option<String>,
    pub decisions: i64,
}

impl Store {
    /// The company's decisions of [from, to), grouped by decision, override and repayment kind.
    pub async fn override_groups(
        &self,
        company_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<OverrideGroup>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT d.outcome AS decision,
                    o.details ->> 'direction' AS direction,
                    o.details ->> 'reason_code' AS reason_code,
                    r.kind AS repayment,
                    count(*) AS decisions
             FROM decisions d
             LEFT JOIN outcomes o ON o.company_id = d.company_id AND o.order_id = d.order_id
                                 AND o.family = 'override'
             LEFT JOIN outcomes r ON r.company_id = d.company_id AND r.order_id = d.order_id
                                 AND r.family = 'repayment'
             WHERE d.company_id = $1 AND d.decided_at >= $2 AND d.decided_at < $3
             GROUP BY 1, 2, 3, 4
             ORDER BY 1, 2, 3, 4",
        )
        .bind(company_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }
}
