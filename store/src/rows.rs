//! Item rows as read back from the database, and their domain types: one mapping shared by
//! training (whole datasets) and scoring (one customer).

use aval_core::ingest::items::{
    Attributes, BureauReport, Cents, CreditLimit, Customer, Negatives, Order, Outcome,
    PaymentHabits, SupplierRelationships,
};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use std::collections::HashMap;

/// Columns of each table, in the order of its row type below.
pub(crate) const CUSTOMER_COLUMNS: &str =
    "id, document, simples_nacional, mei, final_consumer, founded_on, state, attributes";
pub(crate) const CREDIT_LIMIT_COLUMNS: &str = "customer_id, valid_from, limit_cents";
pub(crate) const REPORT_COLUMNS: &str =
    "customer_id, queried_at, inquiries, score, payment_habits, supplier_relationships, negatives";
pub(crate) const ORDER_COLUMNS: &str = "id, customer_id, issued_at, amount_cents, payment_term_days, installments, attributes, outcome";

pub(crate) type CustomerRow = (
    String,
    Option<String>,
    Option<bool>,
    Option<bool>,
    Option<bool>,
    Option<NaiveDate>,
    Option<String>,
    Json<Attributes>,
);
pub(crate) type CreditLimitRow = (String, NaiveDate, i64);
pub(crate) type ReportRow = (
    String,
    DateTime<Utc>,
    Option<i32>,
    Option<i32>,
    Option<Json<PaymentHabits>>,
    Option<Json<SupplierRelationships>>,
    Option<Json<Negatives>>,
);
pub(crate) type OrderRow = (
    String,
    String,
    DateTime<Utc>,
    i64,
    Option<i32>,
    Option<i32>,
    Json<Attributes>,
    Option<String>,
);

pub(crate) fn count(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

pub(crate) fn customer(row: CustomerRow) -> Customer {
    let (id, document, simples_nacional, mei, final_consumer, founded_on, state, attributes) = row;
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
}

pub(crate) fn credit_limit((customer_id, valid_from, limit): CreditLimitRow) -> CreditLimit {
    CreditLimit {
        customer_id,
        limit: Cents(limit),
        valid_from,
    }
}

pub(crate) fn bureau_report(row: ReportRow) -> BureauReport {
    let (customer_id, queried_at, inquiries, score, habits, suppliers, negatives) = row;
    BureauReport {
        customer_id,
        queried_at,
        inquiries: count(inquiries),
        score,
        payment_habits: habits.map(|j| j.0),
        supplier_relationships: suppliers.map(|j| j.0),
        negatives: negatives.map(|j| j.0),
    }
}

pub(crate) fn order(row: OrderRow) -> Order {
    let (id, customer_id, issued_at, amount, term, installments, attributes, outcome) = row;
    Order {
        id,
        customer_id,
        issued_at,
        amount: Cents(amount),
        payment_term_days: count(term),
        installments: count(installments),
        attributes: attributes.0,
        outcome: outcome_named(outcome.as_deref()),
    }
}

/// An order's outcome from its stored name.
pub(crate) fn outcome_named(name: Option<&str>) -> Option<Outcome> {
    match name {
        Some("approved") => Some(Outcome::Approved),
        Some("blocked") => Some(Outcome::Blocked),
        _ => None,
    }
}

/// Keeps the last item per key, in first-seen order: rows come oldest dataset first, so a
/// re-upload replaces what it corrects.
pub(crate) fn merge<T>(items: impl IntoIterator<Item = T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<T> = Vec::new();
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

/// The keys items are merged by across datasets.
pub(crate) fn credit_limit_key(l: &CreditLimit) -> String {
    format!("{}@{}", l.customer_id, l.valid_from)
}

pub(crate) fn bureau_report_key(r: &BureauReport) -> String {
    format!("{}@{}", r.customer_id, r.queried_at.to_rfc3339())
}
