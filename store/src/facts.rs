//! What the scorer reads and writes, a batch of requests at a time: customers' stored facts
//! across the company's checked datasets, and the first decision per order (idempotency). One
//! round trip per kind for the whole batch, so a busy scorer pays per batch, not per request.

use crate::datasets::checked;
use crate::rows::{self, CREDIT_LIMIT_COLUMNS, CUSTOMER_COLUMNS, ORDER_COLUMNS, REPORT_COLUMNS};
use crate::{Store, StoreError};
use aval_core::experiment::Arm;
use aval_core::features::CustomerFacts;
use aval_core::fingerprint::Fingerprint;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Whether a decision was stored or an earlier one found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    First,
    /// The order was decided before; this is that first decision.
    Repeat(FirstDecision),
}

/// The first decision recorded for an order, and the content it was made for.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstDecision {
    /// The decision record as first produced.
    pub decision: Value,
    /// `order_fingerprint` of the order decided; `None` for decisions recorded before
    /// fingerprints were.
    pub order_fingerprint: Option<Vec<u8>>,
}

impl FirstDecision {
    /// Whether an order with this fingerprint is the order decided (a true repeat) rather than
    /// other content under the same id. A decision recorded without a fingerprint cannot tell,
    /// and is taken as the same order, as it always was.
    pub fn is_same_order(&self, fingerprint: &Fingerprint) -> bool {
        self.order_fingerprint
            .as_deref()
            .is_none_or(|first| first == fingerprint.as_slice())
    }
}

#[derive(sqlx::FromRow)]
struct FirstDecisionRow {
    company_id: Uuid,
    order_id: String,
    decision: Json<Value>,
    order_fingerprint: Option<Vec<u8>>,
}

/// One decision to record.
#[derive(Debug, Clone, Copy)]
pub struct NewDecision<'a> {
    pub company_id: Uuid,
    pub order_id: &'a str,
    pub request_id: &'a str,
    /// The decision record as produced, as JSON text.
    pub decision: &'a str,
    pub decided_at: DateTime<Utc>,
    /// `order_fingerprint` of the order decided.
    pub order_fingerprint: &'a Fingerprint,
    /// What the list of decisions filters and shows, as typed columns (the record has them
    /// too, but for the customer).
    pub customer_id: &'a str,
    /// `approved` or `rejected`.
    pub outcome: &'a str,
    pub probability: f64,
    pub threshold: f64,
    pub model_version: i32,
    /// Which arm of the company's experiment decided.
    pub arm: Arm,
    /// The order's features as the drift report counts them (`DriftReference`).
    pub drift_values: &'a [f64],
}

/// Rows of one item kind for some customers of one company, from its checked datasets only,
/// oldest dataset first. The customer index finds the rows; each row's dataset is then a
/// primary-key lookup, its status a filter on it.
fn select_for_customers(
    columns: &str,
    alias: &str,
    table: &str,
    key: &str,
) -> AssertSqlSafe<String> {
    let columns: Vec<String> = columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect();
    AssertSqlSafe(format!(
        "SELECT {} FROM {table} {alias} JOIN datasets d ON d.id = {alias}.dataset_id
         WHERE {alias}.company_id = $1 AND {alias}.{key} = ANY($2) AND {} ORDER BY d.created_at",
        columns.join(", "),
        checked("d")
    ))
}

/// Groups items by customer, each group merged across datasets by `key` (a later dataset's
/// item replaces an earlier one with the same key).
fn by_customer<T>(
    items: impl IntoIterator<Item = T>,
    customer_of: impl Fn(&T) -> &str,
    key: impl Fn(&T) -> String + Copy,
) -> HashMap<String, Vec<T>> {
    let mut groups: HashMap<String, Vec<T>> = HashMap::new();
    for item in items {
        groups
            .entry(customer_of(&item).to_owned())
            .or_default()
            .push(item);
    }
    groups
        .into_iter()
        .map(|(customer, items)| (customer, rows::merge(items, key)))
        .collect()
}

impl Store {
    /// Everything stored about some customers of `company_id`, from every dataset that passed
    /// its checks (the datasets training uses: a rejected upload or one still in progress
    /// never steers a decision), keyed by customer id (a customer with nothing stored has
    /// empty facts). Feature assembly then picks what was known at the order's time, as in
    /// training.
    pub async fn customers_facts(
        &self,
        company_id: Uuid,
        customer_ids: &[String],
    ) -> Result<HashMap<String, CustomerFacts>, StoreError> {
        // Four independent reads, run at once on the pool: the batch waits for the slowest,
        // not for their sum.
        let customers = sqlx::query_as::<_, rows::CustomerRow>(select_for_customers(
            CUSTOMER_COLUMNS,
            "c",
            "customers",
            "id",
        ))
        .bind(company_id)
        .bind(customer_ids)
        .fetch_all(&self.pool);
        let limits = sqlx::query_as::<_, rows::CreditLimitRow>(select_for_customers(
            CREDIT_LIMIT_COLUMNS,
            "l",
            "credit_limits",
            "customer_id",
        ))
        .bind(company_id)
        .bind(customer_ids)
        .fetch_all(&self.pool);
        let reports = sqlx::query_as::<_, rows::ReportRow>(select_for_customers(
            REPORT_COLUMNS,
            "r",
            "bureau_reports",
            "customer_id",
        ))
        .bind(company_id)
        .bind(customer_ids)
        .fetch_all(&self.pool);
        let orders = sqlx::query_as::<_, rows::OrderRow>(select_for_customers(
            ORDER_COLUMNS,
            "o",
            "orders",
            "customer_id",
        ))
        .bind(company_id)
        .bind(customer_ids)
        .fetch_all(&self.pool);
        let (customers, limits, reports, orders) =
            futures::future::try_join4(customers, limits, reports, orders).await?;

        let mut customers = by_customer(
            customers.into_iter().map(rows::customer),
            |c| &c.id,
            |c| c.id.clone(),
        );
        let mut limits = by_customer(
            limits.into_iter().map(rows::credit_limit),
            |l| &l.customer_id,
            rows::credit_limit_key,
        );
        let mut reports = by_customer(
            reports.into_iter().map(rows::bureau_report),
            |r| &r.customer_id,
            rows::bureau_report_key,
        );
        let mut orders = by_customer(
            orders.into_iter().map(rows::order),
            |o| &o.customer_id,
            |o| o.id.clone(),
        );
        Ok(customer_ids
            .iter()
            .map(|id| {
                let facts = CustomerFacts {
                    customer: customers.remove(id).and_then(|mut c| c.pop()),
                    credit_limits: limits.remove(id).unwrap_or_default(),
                    bureau_reports: reports.remove(id).unwrap_or_default(),
                    orders: orders.remove(id).unwrap_or_default(),
                };
                (id.clone(), facts)
            })
            .collect())
    }

    /// The first decisions recorded for these (company, order id) pairs, where there are any:
    /// lets the scorer answer a repeat without deciding again.
    pub async fn first_decisions(
        &self,
        orders: &[(Uuid, String)],
    ) -> Result<HashMap<(Uuid, String), FirstDecision>, StoreError> {
        if orders.is_empty() {
            return Ok(HashMap::new());
        }
        let (companies, order_ids): (Vec<Uuid>, Vec<String>) = orders.iter().cloned().unzip();
        let rows: Vec<FirstDecisionRow> = sqlx::query_as(
            "SELECT d.company_id, d.order_id, d.decision, d.order_fingerprint
             FROM UNNEST($1::uuid[], $2::text[]) AS k(company_id, order_id)
             JOIN decisions d ON d.company_id = k.company_id AND d.order_id = k.order_id",
        )
        .bind(&companies)
        .bind(&order_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    (row.company_id, row.order_id),
                    FirstDecision {
                        decision: row.decision.0,
                        order_fingerprint: row.order_fingerprint,
                    },
                )
            })
            .collect())
    }

    /// Stores the first decision for each (company, order) in one statement, with the
    /// fingerprint of the order decided; for an order decided before (by an earlier batch or
    /// a concurrent scorer), stores nothing and returns that first decision, for the caller to
    /// tell a true repeat from other content under the same id. Within `decisions`, the first
    /// of two for the same order wins.
    pub async fn record_decisions(
        &self,
        decisions: &[NewDecision<'_>],
    ) -> Result<Vec<Recorded>, StoreError> {
        if decisions.is_empty() {
            return Ok(Vec::new());
        }
        let mut companies = Vec::with_capacity(decisions.len());
        let mut orders = Vec::with_capacity(decisions.len());
        let mut requests = Vec::with_capacity(decisions.len());
        let mut bodies = Vec::with_capacity(decisions.len());
        let mut times = Vec::with_capacity(decisions.len());
        let mut fingerprints = Vec::with_capacity(decisions.len());
        let mut customers = Vec::with_capacity(decisions.len());
        let mut outcomes = Vec::with_capacity(decisions.len());
        let mut probabilities = Vec::with_capacity(decisions.len());
        let mut thresholds = Vec::with_capacity(decisions.len());
        let mut versions = Vec::with_capacity(decisions.len());
        let mut drift_values = Vec::with_capacity(decisions.len());
        let mut arms = Vec::with_capacity(decisions.len());
        for d in decisions {
            companies.push(d.company_id);
            orders.push(d.order_id);
            requests.push(d.request_id);
            bodies.push(d.decision);
            times.push(d.decided_at);
            fingerprints.push(d.order_fingerprint.as_slice());
            customers.push(d.customer_id);
            outcomes.push(d.outcome);
            probabilities.push(d.probability);
            thresholds.push(d.threshold);
            versions.push(d.model_version);
            drift_values.push(crate::drift::pack(d.drift_values));
            arms.push(d.arm.as_str());
        }
        // Committed without waiting for the WAL flush (a few ms per batch on this kind of
        // disk, most of a decision's latency). A database crash can lose the last fraction
        // of a second of these rows: those orders' next requests are decided afresh instead
        // of answered as repeats. The decisions themselves are on the decisions topic, which
        // is as durable as Kafka is configured to be. `set_config(.., true)` holds for this
        // statement's own transaction, so one round trip does it. Rows go in in key order:
        // scorers on other partitions may insert the same orders at once (an order id sent
        // for two customers), and a common order of taking the keys cannot deadlock. Two of
        // one order keep their order in `decisions` (`position`), so the first one wins.
        let inserted = sqlx::query_as(
            "INSERT INTO decisions (company_id, order_id, request_id, decision, decided_at, order_fingerprint,
                                    customer_id, outcome, probability, threshold, model_version,
                                    drift_values, arm)
             SELECT k.company_id, k.order_id, k.request_id, k.decision::jsonb, k.decided_at, k.order_fingerprint,
                    k.customer_id, k.outcome, k.probability, k.threshold, k.model_version, k.drift_values,
                    k.arm
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bytea[],
                         $7::text[], $8::text[], $9::float8[], $10::float8[], $11::int4[], $12::bytea[],
                         $13::text[])
                  WITH ORDINALITY
                  AS k(company_id, order_id, request_id, decision, decided_at, order_fingerprint,
                       customer_id, outcome, probability, threshold, model_version, drift_values,
                       arm, position)
             CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous
             ORDER BY k.company_id, k.order_id, k.position
             ON CONFLICT (company_id, order_id) DO NOTHING
             RETURNING company_id, order_id",
        )
        .bind(&companies)
        .bind(&orders)
        .bind(&requests)
        .bind(&bodies)
        .bind(&times)
        .bind(&fingerprints)
        .bind(&customers)
        .bind(&outcomes)
        .bind(&probabilities)
        .bind(&thresholds)
        .bind(&versions)
        .bind(&drift_values)
        .bind(&arms);
        let inserted: Vec<(Uuid, String)> = {
            let mut writer = self.decision_writer.lock().await;
            let connection = match writer.as_mut() {
                Some(connection) => connection,
                None => writer.insert(self.pool.acquire().await?),
            };
            let result = inserted.fetch_all(&mut **connection).await;
            if result.is_err() {
                writer.take();
            }
            result?
        };
        let mut fresh: HashSet<(Uuid, &str)> = inserted
            .iter()
            .map(|(company, order)| (*company, order.as_str()))
            .collect();
        // Each fresh key is "first" once: a second decision for it in this batch is a repeat.
        let mut outcome: Vec<Option<Recorded>> = decisions
            .iter()
            .map(|d| {
                fresh
                    .remove(&(d.company_id, d.order_id))
                    .then_some(Recorded::First)
            })
            .collect();
        let missing: Vec<(Uuid, String)> = decisions
            .iter()
            .zip(&outcome)
            .filter(|(_, o)| o.is_none())
            .map(|(d, _)| (d.company_id, d.order_id.to_owned()))
            .collect();
        let firsts = self.first_decisions(&missing).await?;
        for (d, o) in decisions.iter().zip(&mut outcome) {
            if o.is_none() {
                let first = firsts
                    .get(&(d.company_id, d.order_id.to_owned()))
                    .cloned()
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "order {} was neither recorded nor found",
                            d.order_id
                        ))
                    })?;
                *o = Some(Recorded::Repeat(first));
            }
        }
        Ok(outcome.into_iter().flatten().collect())
    }
}
