//! Batch validation end to end: JSON in, items or every field error out.

mod bad_inputs;
mod batch_rules;
mod round_trips;

use super::*;
use crate::FieldErrors;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

pub(super) fn now() -> DateTime<Utc> {
    at("2024-06-15T12:00:00Z")
}

pub(super) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

pub(super) fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date")
}

pub(super) fn errors_of(kind: ItemKind, items: &[Value]) -> FieldErrors {
    match validate_batch(kind, items, now()) {
        Ok(batch) => panic!("expected errors, got {batch:?}"),
        Err(errors) => errors,
    }
}

pub(super) fn fields(errors: &FieldErrors) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

/// `base` with the keys of `patch` replaced; a key patched to `"<remove>"` is removed.
pub(super) fn patched(base: &Value, patch: &Value) -> Value {
    let mut out = base.clone();
    if let (Value::Object(out), Value::Object(patch)) = (&mut out, patch) {
        for (k, v) in patch {
            if v == "<remove>" {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

pub(super) fn minimal(kind: ItemKind) -> Value {
    match kind {
        ItemKind::Customers => json!({"id": "C2"}),
        ItemKind::Orders => json!({
            "id": "O2", "customer_id": "C1", "issued_at": "2024-03-05T12:00:00Z", "amount": "10"
        }),
        ItemKind::CreditLimits => {
            json!({"customer_id": "C2", "limit": "100", "valid_from": "2024-01-01"})
        }
        ItemKind::BureauReports => {
            json!({"customer_id": "C2", "queried_at": "2024-03-01T10:00:00Z"})
        }
    }
}

pub(super) fn full_customer() -> Value {
    json!({"id": "C1", "document": "11222333000181", "simples_nacional": true, "mei": false,
           "final_consumer": false, "founded_on": "2010-05-01", "state": "SP",
           "attributes": {"segment": "retail", "employees": 12}})
}

pub(super) fn full_order() -> Value {
    json!({"id": "O1", "customer_id": "C1", "issued_at": "2024-03-05T12:00:00Z",
           "amount": 15000.00, "payment_term_days": 30, "installments": 1,
           "attributes": {"channel": "sales-rep"}, "outcome": "approved"})
}

pub(super) fn full_bureau_report() -> Value {
    json!({"customer_id": "C1", "queried_at": "2024-03-01T10:00:00Z", "inquiries": 4,
           "score": 650,
           "payment_habits": {"on_time": 0.80, "cash": 0.05, "late_8_15": 0.10,
                              "late_16_30": 0.03, "late_31_60": 0.02, "late_over_60": 0.0},
           "supplier_relationships": {"m0_6": 1, "m6_12": 2, "y1_3": 3, "y3_5": 0, "y5_10": 0,
                                      "y10_plus": 0, "inactive": 1},
           "negatives": {"pefin": {"count": 1, "total": "1200.00"},
                         "refin": {"count": 0, "total": "0"},
                         "overdue_debts": {"count": 0, "total": "0"},
                         "bankruptcy": {"count": 0}, "bounced_cheques": {"count": 0},
                         "represented_cheques": {"count": 0},
                         "bankruptcy_participation": {"count": 0}}})
}
