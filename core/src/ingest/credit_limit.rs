//! Credit limits from JSON.

use super::dates::date;
use super::fields::{Fields, id};
use super::items::CreditLimit;
use super::money::parse_money;
use crate::FieldErrors;
use chrono::{DateTime, Utc};
use serde_json::Value;

const FIELDS: &[&str] = &["customer_id", "limit", "valid_from"];

/// One credit limit; `path` prefixes every field error.
pub fn validate_credit_limit(
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
) -> Result<CreditLimit, FieldErrors> {
    let mut errors = FieldErrors::default();
    match read_credit_limit(value, path, now, &mut errors) {
        Some(l) if errors.is_empty() => Ok(l),
        _ => Err(errors),
    }
}

/// `Some` whenever the required fields could be read, so duplicates are found even among
/// otherwise bad items; the caller trusts it only when no error was recorded.
pub(super) fn read_credit_limit(
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> Option<CreditLimit> {
    let f = Fields::open(value, path, FIELDS, errors)?;
    let customer_id = f.required("customer_id", errors, id);
    let limit = f.required("limit", errors, parse_money);
    let valid_from = f.required("valid_from", errors, |v| date(v, now));
    Some(CreditLimit {
        customer_id: customer_id?,
        limit: limit?,
        valid_from: valid_from?,
    })
}
