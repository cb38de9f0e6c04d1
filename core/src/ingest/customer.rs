//! Customers (the company's buyers) from JSON.

use super::attributes::attributes;
use super::dates::date;
use super::fields::{self, Fields};
use super::items::Customer;
use crate::FieldErrors;
use chrono::{DateTime, Utc};
use serde_json::Value;

const FIELDS: &[&str] = &[
    "id",
    "document",
    "simples_nacional",
    "mei",
    "final_consumer",
    "founded_on",
    "state",
    "attributes",
];

/// One customer; `path` prefixes every field error (`customer` gives `customer.document`).
pub fn validate_customer(
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
) -> Result<Customer, FieldErrors> {
    let mut errors = FieldErrors::default();
    match read_customer(value, path, now, &mut errors) {
        Some(c) if errors.is_empty() => Ok(c),
        _ => Err(errors),
    }
}

/// `Some` whenever the id could be read, so duplicates are found even among otherwise bad
/// items; the caller trusts it only when no error was recorded.
pub(super) fn read_customer(
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> Option<Customer> {
    let f = Fields::open(value, path, FIELDS, errors)?;
    let id = f.required("id", errors, fields::id);
    let document = f.optional("document", errors, fields::document);
    let simples_nacional = f.optional("simples_nacional", errors, fields::boolean);
    let mei = f.optional("mei", errors, fields::boolean);
    let final_consumer = f.optional("final_consumer", errors, fields::boolean);
    let founded_on = f.optional("founded_on", errors, |v| date(v, now));
    let state = f.optional("state", errors, fields::state);
    let attributes = f
        .nested("attributes", errors, attributes)
        .unwrap_or_default();
    Some(Customer {
        id: id?,
        document,
        simples_nacional,
        mei,
        final_consumer,
        founded_on,
        state,
        attributes,
    })
}
