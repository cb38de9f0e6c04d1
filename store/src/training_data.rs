//! Reading a company's stored datasets back as domain items, for training and comparison.
//! Several datasets are merged by the items' keys; a later dataset's item replaces an
//! earlier one's (a re-upload corrects history).

use crate::{Store, StoreError};
use aval_core::ingest::items::{
    Attributes, BureauReport, Cents, CreditLimit, Customer, Negatives, Order, Outcome,
    PaymentHabits, SupplierRelationships,
};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingData {
    pub customers: Vec<Customer>,
    pub credit_limits: Vec<CreditLimit>,
    pub bureau_reports: Vec<BureauReport>,
    pub orders: Vec<Order>,
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

fn count(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

/// Keeps the last item per key, in first-seen order.
fn merge<T>(items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        match position.get(&key(&item)) {
            Some(&i) => out[i] = item,
            None => {
                position.insert(key(&item), out.len());
                out.push(item);
            }
        }
    }
    out
}

impl Store {
    /// The items of `dataset_ids` that belong to `company_id` (another company's ids yield
    /// nothing), merged oldest dataset first.
    pub async fn training_data(
        &self,
        company_id: Uuid,
        dataset_ids: &[Uuid],
    ) -> Result<TrainingData, StoreError> {
        let mut data = TrainingData::default();
        // Oldest first, so later datasets override.
        let ordered: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM datasets WHERE company_id = $1 AND id = ANY($2) ORDER BY created_at",
        )
        .bind(company_id)
        .bind(dataset_ids)
        .fetch_all(&self.pool)
        .await?;
        for (dataset,) in ordered {
            let customers: Vec<CustomerRow> = sqlx::query_as(
                "SELECT id, document, simples_nacional, mei, final_consumer, founded_on, state, attributes
                 FROM customers WHERE dataset_id = $1 AND company_id = $2",
            )
            .bind(dataset)
            .bind(company_id)
            .fetch_all(&self.pool)
            .await?;
            data.customers.extend(customers.into_iter().map(
                |(
                    id,
                    document,
                    simples_nacional,
                    mei,
                    final_consumer,
                    founded_on,
                    state,
                    attributes,
                )| Customer {
                    id,
                    document,
                    simples_nacional,
                    mei,
                    final_consumer,
                    founded_on,
                    state,
                    attributes: attributes.0,
                },
            ));
            let limits: Vec<(String, NaiveDate, i64)> = sqlx::query_as(
                "SELECT customer_id, valid_from, limit_cents FROM credit_limits WHERE dataset_id = $1 AND company_id = $2",
            )
            .bind(dataset)
            .bind(company_id)
            .fetch_all(&self.pool)
            .await?;
            data.credit_limits.extend(limits.into_iter().map(
                |(customer_id, valid_from, limit)| CreditLimit {
                    customer_id,
                    limit: Cents(limit),
                    valid_from,
                },
            ));
            let reports: Vec<ReportRow> = sqlx::query_as(
                "SELECT customer_id, queried_at, inquiries, score, payment_habits, supplier_relationships, negatives
                 FROM bureau_reports WHERE dataset_id = $1 AND company_id = $2",
            )
            .bind(dataset)
            .bind(company_id)
            .fetch_all(&self.pool)
            .await?;
            data.bureau_reports.extend(reports.into_iter().map(
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
            ));
            let orders: Vec<OrderRow> = sqlx::query_as(
                "SELECT id, customer_id, issued_at, amount_cents, payment_term_days, installments, attributes, outcome
                 FROM orders WHERE dataset_id = $1 AND company_id = $2",
            )
            .bind(dataset)
            .bind(company_id)
            .fetch_all(&self.pool)
            .await?;
            data.orders.extend(orders.into_iter().map(
                |(id, customer_id, issued_at, amount, term, installments, attributes, outcome)| {
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
            ));
        }
        data.customers = merge(data.customers, |c| c.id.clone());
        data.credit_limits = merge(data.credit_limits, |l| {
            format!("{}@{}", l.customer_id, l.valid_from)
        });
        data.bureau_reports = merge(data.bureau_reports, |r| {
            format!("{}@{}", r.customer_id, r.queried_at.to_rfc3339())
        });
        data.orders = merge(data.orders, |o| o.id.clone());
        Ok(data)
    }
}
