//! Credit-bureau (Serasa) reports from JSON: the widest item, with three nested objects.

use super::checks;
use super::dates::timestamp;
use super::fields::{self, Fields, integer};
use super::items::{
    BureauReport, NEGATIVE_KINDS, NegativeRecord, Negatives, PaymentHabits, SupplierRelationships,
};
use super::money::parse_money;
use crate::FieldErrors;
use chrono::{DateTime, Utc};
use serde_json::Value;

const FIELDS: &[&str] = &[
    "customer_id",
    "queried_at",
    "inquiries",
    "score",
    "payment_habits",
    "supplier_relationships",
    "negatives",
];
const HABITS: &[&str] = &[
    "on_time",
    "cash",
    "late_8_15",
    "late_16_30",
    "late_31_60",
    "late_over_60",
];
const RELATIONSHIPS: &[&str] = &[
    "m0_6", "m6_12", "y1_3", "y3_5", "y5_10", "y10_plus", "inactive",
];
const RECORD: &[&str] = &["count", "total"];

/// The Serasa score scale.
pub const MAX_SCORE: u32 = 1000;

/// One bureau report; `path` prefixes every field error.
pub fn validate_bureau_report(
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
) -> Result<BureauReport, FieldErrors> {
    let mut errors = FieldErrors::default();
    match read_bureau_report(value, path, now, &mut errors) {
        Some(r) if errors.is_empty() => Ok(r),
        _ => Err(errors),
    }
}

/// `Some` whenever the required fields could be read, so duplicates are found even among
/// otherwise bad items; the caller trusts it only when no error was recorded.
pub(super) fn read_bureau_report(
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> Option<BureauReport> {
    let f = Fields::open(value, path, FIELDS, errors)?;
    let customer_id = f.required("customer_id", errors, fields::id);
    let queried_at = f.required("queried_at", errors, |v| timestamp(v, now));
    let inquiries = f.optional("inquiries", errors, fields::count);
    let score = f.optional("score", errors, |v| checks::score(integer(v)?));
    let payment_habits = f.nested("payment_habits", errors, payment_habits);
    let supplier_relationships = f.nested("supplier_relationships", errors, relationships);
    let negatives = f.nested("negatives", errors, negatives);
    Some(BureauReport {
        customer_id: customer_id?,
        queried_at: queried_at?,
        inquiries,
        score,
        payment_habits,
        supplier_relationships,
        negatives,
    })
}

fn payment_habits(value: &Value, path: &str, errors: &mut FieldErrors) -> Option<PaymentHabits> {
    let f = Fields::open(value, path, HABITS, errors)?;
    let share = |key: &str, errors: &mut FieldErrors| f.optional(key, errors, fields::fraction);
    let habits = PaymentHabits {
        on_time: share("on_time", errors),
        cash: share("cash", errors),
        late_8_15: share("late_8_15", errors),
        late_16_30: share("late_16_30", errors),
        late_31_60: share("late_31_60", errors),
        late_over_60: share("late_over_60", errors),
    };
    if let Err(reason) = checks::payment_habits(&habits) {
        errors.push(f.path(), reason);
    }
    Some(habits)
}

fn relationships(
    value: &Value,
    path: &str,
    errors: &mut FieldErrors,
) -> Option<SupplierRelationships> {
    let f = Fields::open(value, path, RELATIONSHIPS, errors)?;
    let bucket = |key: &str, errors: &mut FieldErrors| f.optional(key, errors, fields::count);
    Some(SupplierRelationships {
        m0_6: bucket("m0_6", errors),
        m6_12: bucket("m6_12", errors),
        y1_3: bucket("y1_3", errors),
        y3_5: bucket("y3_5", errors),
        y5_10: bucket("y5_10", errors),
        y10_plus: bucket("y10_plus", errors),
        inactive: bucket("inactive", errors),
    })
}

fn negatives(value: &Value, path: &str, errors: &mut FieldErrors) -> Option<Negatives> {
    let f = Fields::open(value, path, &NEGATIVE_KINDS, errors)?;
    let record = |key: &str, errors: &mut FieldErrors| f.nested(key, errors, negative_record);
    Some(Negatives {
        pefin: record("pefin", errors),
        refin: record("refin", errors),
        overdue_debts: record("overdue_debts", errors),
        bankruptcy: record("bankruptcy", errors),
        bounced_cheques: record("bounced_cheques", errors),
        represented_cheques: record("represented_cheques", errors),
        bankruptcy_participation: record("bankruptcy_participation", errors),
    })
}

fn negative_record(value: &Value, path: &str, errors: &mut FieldErrors) -> Option<NegativeRecord> {
    let f = Fields::open(value, path, RECORD, errors)?;
    Some(NegativeRecord {
        count: f.optional("count", errors, fields::count),
        total: f.optional("total", errors, parse_money),
    })
}
