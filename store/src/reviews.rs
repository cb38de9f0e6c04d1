//! Requests that a person review a decision (LGPD art. 20), and their answers: the analyst's
//! override outcome of the order, reported at or after the request.

use crate::{Pending, Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

/// A review request, with its answer when there is one.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReviewRequest {
    pub request_id: String,
    pub order_id: String,
    /// The decision reviewed: `approved`, `rejected` or `review`.
    pub decision: String,
    pub decided_at: DateTime<Utc>,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    pub reason: Option<String>,
    /// When the answering override happened, and its details (`direction`, `reason_code`).
    pub answered_at: Option<DateTime<Utc>>,
    pub answer: Option<Json<Value>>,
}

/// Which requests a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    Open,
    Answered,
}

/// A request and its decision, joined with the answering override; `$1` is the company.
const SELECT: &str = "SELECT r.request_id, r.order_id, d.outcome AS decision, d.decided_at,
            r.requested_at, r.requested_by, r.reason,
            o.occurred_at AS answered_at, o.details AS answer
     FROM review_requests r
     JOIN decisions d ON d.company_id = r.company_id AND d.order_id = r.order_id
     LEFT JOIN outcomes o ON o.company_id = r.company_id AND o.order_id = r.order_id
                         AND o.family = 'override' AND o.reported_at >= r.requested_at
     WHERE r.company_id = $1";

impl Store {
    /// Records the company's request for a review of its decision `request_id`, in an open
    /// transaction; the value is the request and whether it is new (a second request for the
    /// same decision returns the first). `None` when the company has no such decision. The
    /// caller audits a new one, then commits.
    pub async fn begin_review_request(
        &self,
        company_id: Uuid,
        request_id: &str,
        reason: Option<&str>,
        requested_by: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Pending<(ReviewRequest, bool)>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let decision: Option<(String,)> = sqlx::query_as(
            "SELECT order_id FROM decisions WHERE company_id = $1 AND request_id = $2
             ORDER BY decided_at, order_id LIMIT 1",
        )
        .bind(company_id)
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((order_id,)) = decision else {
            return Ok(None);
        };
        let inserted = sqlx::query(
            "INSERT INTO review_requests
                 (company_id, order_id, request_id, requested_at, requested_by, reason)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (company_id, order_id) DO NOTHING",
        )
        .bind(company_id)
        .bind(&order_id)
        .bind(request_id)
        .bind(at)
        .bind(requested_by)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let request: ReviewRequest =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} AND r.order_id = $2")))
                .bind(company_id)
                .bind(&order_id)
                .fetch_one(&mut *tx)
                .await?;
        Ok(Some(Pending::new((request, inserted > 0), tx)))
    }

    /// The review request of the company's decision `request_id`, if one was made.
    pub async fn review_request(
        &self,
        company_id: Uuid,
        request_id: &str,
    ) -> Result<Option<ReviewRequest>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} AND r.request_id = $2 ORDER BY r.requested_at LIMIT 1"
        )))
        .bind(company_id)
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Up to `limit` of the company's review requests, newest first, after `after` (the
    /// request time and order id of a page's last) when given, of one status or both.
    pub async fn review_requests(
        &self,
        company_id: Uuid,
        status: Option<ReviewStatus>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: i64,
    ) -> Result<Vec<ReviewRequest>, StoreError> {
        let answered = match status {
            None => "",
            Some(ReviewStatus::Open) => " AND o.occurred_at IS NULL",
            Some(ReviewStatus::Answered) => " AND o.occurred_at IS NOT NULL",
        };
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT}{answered}
               AND ($2::timestamptz IS NULL OR (r.requested_at, r.order_id) < ($2, $3))
             ORDER BY r.requested_at DESC, r.order_id DESC
             LIMIT $4"
        )))
        .bind(company_id)
        .bind(after.map(|(at, _)| at))
        .bind(after.map(|(_, order)| order))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 2] = [ReviewStatus::Open, ReviewStatus::Answered];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Open => "open",
            ReviewStatus::Answered => "answered",
        }
    }

    pub fn parse(text: &str) -> Option<ReviewStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}
