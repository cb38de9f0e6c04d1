//! What the scorer reads: a customer's stored facts across all of a company's datasets, and
//! the first decision per order (idempotency).

use crate::{Store, StoreError};
use aval_core::features::CustomerFacts;
use aval_core::ingest::items::{
    Attributes, BureauReport, Cents, CreditLimit, Customer, Negatives, Order, Outcome,
    PaymentHabits, SupplierRelationships,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::types::Json;
use std::collections::HashMap;
use uuid::Uuid;

/// Whether `record_decision` stored the decision or found an earlier one.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    First,
    /// The order was decided before; this is that first decision.
    Repeat(Value),
}

fn count(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

/// Keeps the last item per key (rows come oldest dataset first, so a re-upload wins).
fn latest<T>(items: impl Iterator<Item = T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut by_key: HashMap<String, T> = HashMap::new();
    for item in items {
        by_key.insert(key(&item), item);
    }
    by_key.into_values().collect()
}

type CustomerRow = (
    String,
    Option<String>,
    Option<bool>,
    Option<bool>,
    Option<bool>,
    Option<NaiveDate>,
    Option<String>,
    Json<Attributes>,
);
type ReportRow = (
    String,
    DateTime<Utc>,
    Option<i32>,
    Option<i32>,
    Option<Json<PaymentHabits>>,
    Option<Json<SupplierRelationships>>,
    Option<Json<Negatives>>,
);
type OrderRow = (
    String,
    String,
    DateTime<Utc>,
    i64,
    Option<i32>,
    Option<i32>,
    Json<Attributes>,
    Option<String>,
);

impl Store {
    /// Everything stored about one customer of `company_id`, from every dataset (a later
    /// dataset's item replaces an earlier one with the same key). Feature assembly then picks
    /// what was known at the order's time, as in training.
    pub async fn customer_facts(
        &self,
        company_id: Uuid,
        customer_id: &str,
    ) -> Result<CustomerFacts, StoreError> {
        // Four independent reads, run at once on the pool: a decision waits for the slowest,
        // not for their sum.
        let customers = sqlx::query_as::<_, CustomerRow>(
            "SELECT c.id, c.document, c.simples_nacional, c.mei, c.final_consumer, c.founded_on, c.state, c.attributes
             FROM customers c JOIN datasets d ON d.id = c.dataset_id
             WHERE c.company_id = $1 AND c.id = $2 ORDER BY d.created_at DESC LIMIT 1",
        )
        .bind(company_id)
        .bind(customer_id)
        .fetch_all(&self.pool);
        let limits = sqlx::query_as::<_, (String, NaiveDate, i64)>(
            "SELECT l.customer_id, l.valid_from, l.limit_cents
             FROM credit_limits l JOIN datasets d ON d.id = l.dataset_id
             WHERE l.company_id = $1 AND l.customer_id = $2 ORDER BY d.created_at",
        )
        .bind(company_id)
        .bind(customer_id)
        .fetch_all(&self.pool);
        let reports = sqlx::query_as::<_, ReportRow>(
            "SELECT r.customer_id, r.queried_at, r.inquiries, r.score, r.payment_habits, r.supplier_relationships, r.negatives
             FROM bureau_reports r JOIN datasets d ON d.id = r.dataset_id
             WHERE r.company_id = $1 AND r.customer_id = $2 ORDER BY d.created_at",
        )
        .bind(company_id)
        .bind(customer_id)
        .fetch_all(&self.pool);
        let orders = sqlx::query_as::<_, OrderRow>(
            "SELECT o.id, o.customer_id, o.issued_at, o.amount_cents, o.payment_term_days, o.installments, o.attributes, o.outcome
             FROM orders o JOIN datasets d ON d.id = o.dataset_id
             WHERE o.company_id = $1 AND o.customer_id = $2 ORDER BY d.created_at",
        )
        .bind(company_id)
        .bind(customer_id)
        .fetch_all(&self.pool);
        let (customers, limits, reports, orders) =
            futures::future::try_join4(customers, limits, reports, orders).await?;
        Ok(CustomerFacts {
            customer: customers.into_iter().next().map(
                |(
                    id,
                    document,
                    simples_nacional,
                    mei,
                    final_consumer,
                    founded_on,
                    state,
                    attributes,
                )| {
                    Customer {
                        id,
                        document,
                        simples_nacional,
                        mei,
                        final_consumer,
                        founded_on,
                        state,
                        attributes: attributes.0,
                    }
                },
            ),
            credit_limits: latest(
                limits
                    .into_iter()
                    .map(|(customer_id, valid_from, limit)| CreditLimit {
                        customer_id,
                        limit: Cents(limit),
                        valid_from,
                    }),
                |l| l.valid_from.to_string(),
            ),
            bureau_reports: latest(
                reports.into_iter().map(
                    |(customer_id, queried_at, inquiries, score, habits, suppliers, negatives)| {
                        BureauReport {
                            customer_id,
                            queried_at,
                            inquiries: count(inquiries),
                            score,
                            payment_habits: habits.map(|j| j.0),
                            supplier_relationships: suppliers.map(|j| j.0),
                            negatives: negatives.map(|j| j.0),
                        }
                    },
                ),
                |r| r.queried_at.to_rfc3339(),
            ),
            orders: latest(
                orders.into_iter().map(
                    |(
                        id,
                        customer_id,
                        issued_at,
                        amount,
                        term,
                        installments,
                        attributes,
                        outcome,
                    )| {
                        Order {
                            id,
                            customer_id,
                            issued_at,
                            amount: Cents(amount),
                            payment_term_days: count(term),
                            installments: count(installments),
                            attributes: attributes.0,
                            outcome: match outcome.as_deref() {
                                Some("approved") => Some(Outcome::Approved),
                                Some("blocked") => Some(Outcome::Blocked),
                                _ => None,
                            },
                        }
                    },
                ),
                |o| o.id.clone(),
            ),
        })
    }

    /// Stores the first decision for (company, order); when the order was decided before,
    /// stores nothing and returns that first decision.
    pub async fn record_decision(
        &self,
        company_id: Uuid,
        order_id: &str,
        request_id: &str,
        decision: &Value,
        at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO decisions (company_id, order_id, request_id, decision, decided_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (company_id, order_id) DO NOTHING",
        )
        .bind(company_id)
        .bind(order_id)
        .bind(request_id)
        .bind(Json(decision))
        .bind(at)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Recorded::First);
        }
        let (first,): (Json<Value>,) = sqlx::query_as(
            "SELECT decision FROM decisions WHERE company_id = $1 AND order_id = $2",
        )
        .bind(company_id)
        .bind(order_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Recorded::Repeat(first.0))
    }

    /// The first decision recorded for an order, if any: lets the scorer answer a repeat
    /// without deciding again.
    pub async fn decision(
        &self,
        company_id: Uuid,
        order_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let row: Option<(Json<Value>,)> = sqlx::query_as(
            "SELECT decision FROM decisions WHERE company_id = $1 AND order_id = $2",
        )
        .bind(company_id)
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(j,)| j.0))
    }
}
