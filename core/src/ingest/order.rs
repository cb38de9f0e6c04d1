//! Orders from JSON.

use super::attributes::attributes;
use super::checks;
use super::dates::timestamp;
use super::fields::{self, Fields, integer};
use super::items::Order;
use super::money::parse_money;
use crate::FieldErrors;
use chrono::{DateTime, Utc};
use serde_json::Value;

const FIELDS: &[&str] = &[
    "id",
    "customer_id",
    "issued_at",
    "amount",
    "payment_term_days",
    "installments",
    "attributes",
    "outcome",
];

/// Ten years: longer terms are typos (days for cents, a year for a day count).
pub const MAX_PAYMENT_TERM_DAYS: u32 = 3650;

/// One order; `path` prefixes every field error (`order` gives `order.amount`).
pub fn validate_order(value: &Value, path: &str, now: DateTime<Utc>) -> Result<Order, FieldErrors> {
    let mut errors = FieldErrors::default();
    match read_order(value, path, now, &mut errors) {
        Some(o) if errors.is_empty() => Ok(o),
        _ => Err(errors),
    }
}

/// `Some` whenever the required fields could be read, so duplicates are found even among
/// otherwise bad items; the caller trusts it only when no error was recorded.
pub(super) fn read_order(
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> Option<Order> {
    let f = Fields::open(value, path, FIELDS, errors)?;
    let id = f.required("id", errors, fields::id);
    let customer_id = f.required("customer_id", errors, fields::id);
    let issued_at = f.required("issued_at", errors, |v| timestamp(v, now));
    let amount = f.required("amount", errors, parse_money);
    let payment_term_days = f.optional("payment_term_days", errors, |v| {
        checks::payment_term_days(integer(v)?)
    });
    let installments = f.optional("installments", errors, |v| {
        checks::installments(integer(v)?)
    });
    let attributes = f
        .nested("attributes", errors, attributes)
        .unwrap_or_default();
    let outcome = f.optional("outcome", errors, fields::outcome);
    Some(Order {
        id: id?,
        customer_id: customer_id?,
        issued_at: issued_at?,
        amount: amount?,
        payment_term_days,
        installments,
        attributes,
        outcome,
    })
}
