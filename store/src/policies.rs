//! Decision policies: each company's versions, the newest in force, and the past decisions a
//! new policy is replayed on.

use crate::{Pending, Store, StoreError};
use aval_core::policy::{Policy, PolicyInForce};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::types::Json;
use uuid::Uuid;

/// A saved version of a company's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPolicy {
    pub version: i32,
    pub policy: Policy,
    /// The model version it was checked against.
    pub model_version: i32,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    version: i32,
    definition: Json<Policy>,
    model_version: i32,
    created_at: DateTime<Utc>,
    created_by: String,
}

impl From<PolicyRow> for StoredPolicy {
    fn from(row: PolicyRow) -> Self {
        Self {
            version: row.version,
            policy: row.definition.0,
            model_version: row.model_version,
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

/// A past decision as a replay reads it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReplayedRow {
    pub request_id: String,
    pub order_id: String,
    /// `approved`, `rejected` or `review`.
    pub outcome: String,
    pub probability: f64,
    pub model_version: i32,
    /// `None` for a decision recorded before drift values were, or with unreadable ones.
    pub values: Option<Vec<f64>>,
}

const POLICY_COLUMNS: &str = "version, definition, model_version, created_at, created_by";

impl Store {
    /// The version in force: the company's newest, whole.
    pub async fn latest_policy(
        &self,
        company_id: Uuid,
    ) -> Result<Option<StoredPolicy>, StoreError> {
        let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM decision_policies
             WHERE company_id = $1 ORDER BY version DESC LIMIT 1"
        )))
        .bind(company_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(StoredPolicy::from))
    }

    /// The policy in force, as the scorer decides with it.
    pub async fn policy_in_force(
        &self,
        company_id: Uuid,
    ) -> Result<Option<PolicyInForce>, StoreError> {
        Ok(self
            .latest_policy(company_id)
            .await?
            .map(|stored| PolicyInForce {
                version: stored.version,
                policy: stored.policy,
            }))
    }

    /// Every version of the company's policy, newest first.
    pub async fn policy_versions(&self, company_id: Uuid) -> Result<Vec<StoredPolicy>, StoreError> {
        let rows: Vec<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM decision_policies
             WHERE company_id = $1 ORDER BY version DESC"
        )))
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(StoredPolicy::from).collect())
    }

    /// Saves `policy` as the company's next version, in force from its commit, in an open
    /// transaction (the company's row locked, so two saves number their versions in turn). The
    /// caller audits, then commits.
    pub async fn begin_policy(
        &self,
        company_id: Uuid,
        policy: &Policy,
        model_version: i32,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<Pending<StoredPolicy>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // NO KEY: two saves wait for each other, rows that refer to the company do not.
        sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR NO KEY UPDATE")
            .bind(company_id)
            .execute(&mut *tx)
            .await?;
        let row: PolicyRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO decision_policies
                 (company_id, version, definition, model_version, created_at, created_by)
             SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5
             FROM decision_policies WHERE company_id = $1
             RETURNING {POLICY_COLUMNS}"
        )))
        .bind(company_id)
        .bind(Json(policy))
        .bind(model_version)
        .bind(at)
        .bind(created_by)
        .fetch_one(&mut *tx)
        .await?;
        Ok(Pending::new(StoredPolicy::from(row), tx))
    }

    /// The model versions of the company's decisions decided in [from, to).
    pub async fn decided_versions(
        &self,
        company_id: Uuid,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Vec<i32>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT model_version FROM decisions
             WHERE company_id = $1 AND decided_at >= $2 AND decided_at < $3",
        )
        .bind(company_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The company's decisions decided in [from, to), newest first, at most `limit`, each to
    /// `each` as it is read (a replay of a hundred thousand is never held).
    pub async fn for_each_replayed_decision(
        &self,
        company_id: Uuid,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        limit: i64,
        mut each: impl FnMut(ReplayedRow),
    ) -> Result<(), StoreError> {
        let mut rows = sqlx::query_as::<_, (String, String, String, f64, i32, Option<Vec<u8>>)>(
            "SELECT request_id, order_id, outcome, probability, model_version, drift_values
             FROM decisions
             WHERE company_id = $1 AND decided_at >= $2 AND decided_at < $3
             ORDER BY decided_at DESC, order_id DESC
             LIMIT $4",
        )
        .bind(company_id)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch(&self.pool);
        while let Some((request_id, order_id, outcome, probability, model_version, values)) =
            rows.try_next().await?
        {
            each(ReplayedRow {
                request_id,
                order_id,
                outcome,
                probability,
                model_version,
                values: values.as_deref().and_then(crate::drift::unpack),
            });
        }
        Ok(())
    }
}
