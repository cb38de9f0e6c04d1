//! The company's recorded decisions, read by an analyst: a page newest first, one decision by
//! its request id, every decision of a time range as a stream, and counts per hour or day. The scorer writes them
//! (`facts::record_decisions`).

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// Which decisions to read; every field given narrows the set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecisionFilter {
    /// Decided at or after.
    pub from: Option<DateTime<Utc>>,
    /// Decided before.
    pub to: Option<DateTime<Utc>>,
    /// `approved` or `rejected`.
    pub outcome: Option<&'static str>,
    pub customer_id: Option<String>,
    pub model_version: Option<i32>,
    pub order_id: Option<String>,
}

/// Where a page ends in the newest-first order: the next page starts after this decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub decided_at: DateTime<Utc>,
    pub order_id: String,
}

/// A PostgreSQL snapshot (`pg_snapshot` text, `xmin:xmax:xip,...`): which transactions' rows a
/// listing sees. Built only from text that has the shape PostgreSQL accepts, so a forged cursor
/// is refused as bad input, not by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(String);

impl Snapshot {
    /// `None` unless `text` is `xmin:xmax:xip,...` with xmin <= xmax and each in-progress
    /// transaction in [xmin, xmax), strictly ascending.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let xmin: u64 = parts.next()?.parse().ok()?;
        let xmax: u64 = parts.next()?.parse().ok()?;
        let xip = parts.next()?;
        if parts.next().is_some() || xmin == 0 || xmin > xmax {
            return None;
        }
        let mut last = None;
        for x in xip.split(',').filter(|x| !x.is_empty()) {
            let x: u64 = x.parse().ok()?;
            if x < xmin || x >= xmax || last.is_some_and(|l| x <= l) {
                return None;
            }
            last = Some(x);
        }
        Some(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A decision as listed and exported: what it was, for whom, by which model, when.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DecisionSummary {
    pub request_id: String,
    pub order_id: String,
    /// `None` for decisions recorded before the customer was.
    pub customer_id: Option<String>,
    /// `approved` or `rejected`.
    pub outcome: String,
    pub probability: f64,
    pub threshold: f64,
    pub model_version: i32,
    pub decided_at: DateTime<Utc>,
}

/// The length of an activity bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
}

/// The decisions of one hour or day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ActivityBucket {
    pub start: DateTime<Utc>,
    pub decisions: i64,
    pub approved: i64,
    pub rejected: i64,
}

/// One page, and the snapshot its statement saw (for the cursor of the next page).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionPage {
    pub decisions: Vec<DecisionSummary>,
    pub snapshot: Option<Snapshot>,
}

const SUMMARY_COLUMNS: &str =
    "request_id, order_id, customer_id, outcome, probability, threshold, model_version, decided_at";

/// `SELECT ... WHERE` the company's decisions that pass `filter`; the conditions of the
/// parameters given only, so each query is planned for what it filters on.
fn select(
    extra_columns: &str,
    company_id: Uuid,
    filter: &DecisionFilter,
) -> QueryBuilder<Postgres> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {SUMMARY_COLUMNS}{extra_columns} FROM decisions WHERE company_id = "
    ));
    q.push_bind(company_id);
    if let Some(from) = filter.from {
        q.push(" AND decided_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" AND decided_at < ").push_bind(to);
    }
    if let Some(outcome) = filter.outcome {
        q.push(" AND outcome = ").push_bind(outcome);
    }
    if let Some(customer) = &filter.customer_id {
        q.push(" AND customer_id = ").push_bind(customer.clone());
    }
    if let Some(version) = filter.model_version {
        q.push(" AND model_version = ").push_bind(version);
    }
    if let Some(order) = &filter.order_id {
        q.push(" AND order_id = ").push_bind(order.clone());
    }
    q
}

const NEWEST_FIRST: &str = " ORDER BY decided_at DESC, order_id DESC";

#[derive(sqlx::FromRow)]
struct PageRow {
    #[sqlx(flatten)]
    summary: DecisionSummary,
    snapshot: String,
}

impl Store {
    /// Up to `limit` of the company's decisions passing `filter`, newest first, after `after`
    /// when given and, with `snapshot`, only those its statement saw. Without `snapshot` (a
    /// first page) the answer carries this statement's own, for the pages that follow.
    pub async fn decisions_page(
        &self,
        company_id: Uuid,
        filter: &DecisionFilter,
        after: Option<(&Position, &Snapshot)>,
        limit: i64,
    ) -> Result<DecisionPage, StoreError> {
        let mut q = select(
            ", pg_current_snapshot()::text AS snapshot",
            company_id,
            filter,
        );
        if let Some((position, snapshot)) = after {
            q.push(" AND (decided_at, order_id) < (")
                .push_bind(position.decided_at)
                .push(", ")
                .push_bind(position.order_id.clone())
                .push(") AND pg_visible_in_snapshot(recorded_xid, ")
                .push_bind(snapshot.as_str().to_owned())
                .push("::pg_snapshot)");
        }
        q.push(NEWEST_FIRST).push(" LIMIT ").push_bind(limit);
        let rows: Vec<PageRow> = q.build_query_as().fetch_all(&self.pool).await?;
        let snapshot = match after {
            Some((_, snapshot)) => Some(snapshot.clone()),
            None => match rows.first() {
                Some(row) => Some(Snapshot::parse(&row.snapshot).ok_or_else(|| {
                    StoreError::Corrupt(format!("unreadable snapshot {}", row.snapshot))
                })?),
                None => None,
            },
        };
        Ok(DecisionPage {
            decisions: rows.into_iter().map(|row| row.summary).collect(),
            snapshot,
        })
    }

    /// The decision record (JSON text) the company's request `request_id` was answered with;
    /// the earliest, should a Kafka producer have reused the request id for several orders.
    pub async fn decision_by_request(
        &self,
        company_id: Uuid,
        request_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT decision::text FROM decisions
             WHERE company_id = $1 AND request_id = $2
             ORDER BY decided_at, order_id LIMIT 1",
        )
        .bind(company_id)
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(decision,)| decision))
    }

    /// Every decision of the company decided in [from, to) (unbounded where `None`), newest
    /// first, as the database sends them: one statement (so one snapshot), never collected in
    /// memory. The bounds are always bound (open ones as infinities), so the one prepared
    /// statement walks the newest-first index between them whatever the call.
    pub fn decisions_export(
        &self,
        company_id: Uuid,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> BoxStream<'_, Result<DecisionSummary, StoreError>> {
        sqlx::query_as(
            "SELECT request_id, order_id, customer_id, outcome, probability, threshold, model_version, decided_at
             FROM decisions
             WHERE company_id = $1
               AND decided_at >= COALESCE($2, '-infinity'::timestamptz)
               AND decided_at < COALESCE($3, 'infinity'::timestamptz)
             ORDER BY decided_at DESC, order_id DESC",
        )
        .bind(company_id)
        .bind(from)
        .bind(to)
        .fetch(&self.pool)
        .map_err(StoreError::from)
        .boxed()
    }

    /// How many of the company's decisions fell in each hour or day (UTC) of [from, to),
    /// oldest first; buckets without decisions are left out.
    pub async fn decision_activity(
        &self,
        company_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Bucket,
    ) -> Result<Vec<ActivityBucket>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT date_trunc($4, decided_at, 'UTC') AS start,
                    count(*) AS decisions,
                    count(*) FILTER (WHERE outcome = 'approved') AS approved,
                    count(*) FILTER (WHERE outcome = 'rejected') AS rejected
             FROM decisions
             WHERE company_id = $1 AND decided_at >= $2 AND decided_at < $3
             GROUP BY 1 ORDER BY 1",
        )
        .bind(company_id)
        .bind(from)
        .bind(to)
        .bind(bucket.as_str())
        .fetch_all(&self.pool)
        .await?)
    }
}
