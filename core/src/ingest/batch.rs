//! A batch of one kind of item, validated as a whole: every error of every item in one pass,
//! plus the rules no single item can check (sizes, duplicates within the batch).

use super::bureau_report::read_bureau_report;
use super::credit_limit::read_credit_limit;
use super::customer::read_customer;
use super::fields::{Fields, count};
use super::items::{Batch, Counts, ItemKind};
use super::order::read_order;
use crate::{FieldError, FieldErrors};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

/// Most items one batch may hold: a failed batch is re-sent whole, so it stays small.
pub const MAX_BATCH_ITEMS: usize = 500;

/// Validates the `items` of one upload. Paths are `items[<index>].<field>`; the error lists
/// every problem found, so a client fixes its payload in one round trip. `now` bounds dates
/// (nothing more than a day ahead) and is a parameter so the rule is testable.
pub fn validate_batch(
    kind: ItemKind,
    items: &[Value],
    now: DateTime<Utc>,
) -> Result<Batch, FieldErrors> {
    if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
        return Err(FieldError::new(
            "items",
            format!(
                "items must hold 1 to {MAX_BATCH_ITEMS} items; this batch has {}",
                items.len()
            ),
        )
        .into());
    }
    let mut errors = FieldErrors::default();
    let batch = match kind {
        ItemKind::Customers => Batch::Customers(read_all(
            items,
            &mut errors,
            |v, p, e| read_customer(v, p, now, e),
            |c| c.id.clone(),
            Unique::ID,
        )),
        ItemKind::Orders => Batch::Orders(read_all(
            items,
            &mut errors,
            |v, p, e| read_order(v, p, now, e),
            |o| o.id.clone(),
            Unique::ID,
        )),
        ItemKind::CreditLimits => Batch::CreditLimits(read_all(
            items,
            &mut errors,
            |v, p, e| read_credit_limit(v, p, now, e),
            |l| (l.customer_id.clone(), l.valid_from),
            Unique {
                field: "valid_from",
                what: "(same customer_id and valid_from)",
            },
        )),
        ItemKind::BureauReports => Batch::BureauReports(read_all(
            items,
            &mut errors,
            |v, p, e| read_bureau_report(v, p, now, e),
            // Compared as instants: 10:00-03:00 and 13:00Z are the same query.
            |r| (r.customer_id.clone(), r.queried_at),
            Unique {
                field: "queried_at",
                what: "(same customer_id and queried_at)",
            },
        )),
    };
    errors.into_result(batch)
}

/// Where a duplicate is reported and how the reason names what was repeated.
struct Unique {
    field: &'static str,
    what: &'static str,
}

impl Unique {
    const ID: Unique = Unique {
        field: "id",
        what: ".id",
    };

    fn reason(&self, first: usize) -> String {
        let sep = if self.what.starts_with('.') { "" } else { " " };
        format!("duplicates items[{first}]{sep}{}", self.what)
    }
}

fn read_all<T, K: Eq + Hash>(
    items: &[Value],
    errors: &mut FieldErrors,
    read: impl Fn(&Value, &str, &mut FieldErrors) -> Option<T>,
    key: impl Fn(&T) -> K,
    unique: Unique,
) -> Vec<T> {
    let mut first_at: HashMap<K, usize> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, value) in items.iter().enumerate() {
        let path = format!("items[{i}]");
        let Some(item) = read(value, &path, errors) else {
            continue;
        };
        // Checked as each item is read, so errors stay in item order.
        match first_at.entry(key(&item)) {
            Entry::Occupied(first) => {
                errors.push(
                    format!("{path}.{}", unique.field),
                    unique.reason(*first.get()),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
        out.push(item);
    }
    out
}

/// Validates the `counts` object of a completion marker; paths are `counts.<kind>`.
pub fn validate_counts(value: &Value) -> Result<Counts, FieldErrors> {
    let mut errors = FieldErrors::default();
    let keys = ItemKind::ALL.map(ItemKind::as_str);
    if value.is_null() {
        errors.push("counts", "is required");
        return Err(errors);
    }
    let Some(f) = Fields::open(value, "counts", &keys, &mut errors) else {
        return Err(errors);
    };
    let mut counts = Counts::default();
    for kind in ItemKind::ALL {
        if let Some(n) = f.required(kind.as_str(), &mut errors, count) {
            counts.add(kind, u64::from(n));
        }
    }
    errors.into_result(counts)
}
