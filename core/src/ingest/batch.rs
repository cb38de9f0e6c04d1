//! A batch of one kind of item, validated as a whole: every error of every item in one pass,
//! plus the rules no single item can check (sizes, duplicates within the batch). The same
//! rules whether the items arrived as JSON or as wire records ([`ReadItem`]).

use super::bureau_report::read_bureau_report;
use super::credit_limit::read_credit_limit;
use super::customer::read_customer;
use super::fields::{Fields, count};
use super::items::{Batch, BureauReport, Counts, CreditLimit, Customer, ItemKind, Order};
use super::order::read_order;
use crate::{FieldError, FieldErrors};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

/// Most items one batch may hold: a failed batch is re-sent whole, so it stays small.
pub const MAX_BATCH_ITEMS: usize = 500;

/// An item of a batch as it arrived (a JSON value from HTTP, a wire record from Kafka), read
/// into `T` by the rules of its kind, every field error recorded under `path`.
pub trait ReadItem<T> {
    /// `Some` whenever the fields that identify the item could be read, so duplicates are
    /// found even among otherwise bad items; trusted only when no error was recorded.
    fn read_item(self, path: &str, now: DateTime<Utc>, errors: &mut FieldErrors) -> Option<T>;
}

/// One item read by the rules of its kind, every error with its path under `path`.
pub fn validate_item<T, I: ReadItem<T>>(
    item: I,
    path: &str,
    now: DateTime<Utc>,
) -> Result<T, FieldErrors> {
    let mut errors = FieldErrors::default();
    match item.read_item(path, now, &mut errors) {
        Some(item) if errors.is_empty() => Ok(item),
        _ => Err(errors),
    }
}

/// A kind of item, and what no two items of one batch may share.
pub trait BatchItem {
    type Key: Eq + Hash;
    const UNIQUE: Unique;
    fn key(&self) -> Self::Key;
}

/// Validates the `items` of one upload. Paths are `items[<index>].<field>`; the error lists
/// every problem found, so a client fixes its payload in one round trip. `now` bounds dates
/// (nothing more than a day ahead) and is a parameter so the rule is testable.
pub fn validate_batch(
    kind: ItemKind,
    items: &[Value],
    now: DateTime<Utc>,
) -> Result<Batch, FieldErrors> {
    let items = items.iter();
    match kind {
        ItemKind::Customers => validate_items(items, now).map(Batch::Customers),
        ItemKind::Orders => validate_items(items, now).map(Batch::Orders),
        ItemKind::CreditLimits => validate_items(items, now).map(Batch::CreditLimits),
        ItemKind::BureauReports => validate_items(items, now).map(Batch::BureauReports),
    }
}

/// The batch rules over items of one kind, however they arrived: 1 to [`MAX_BATCH_ITEMS`]
/// items, each valid, none repeating another's key. Paths are `items[<index>].<field>`.
pub fn validate_items<T: BatchItem, I: ReadItem<T>>(
    items: impl ExactSizeIterator<Item = I>,
    now: DateTime<Utc>,
) -> Result<Vec<T>, FieldErrors> {
    if items.len() == 0 || items.len() > MAX_BATCH_ITEMS {
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
    let mut first_at: HashMap<T::Key, usize> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, input) in items.enumerate() {
        let path = format!("items[{i}]");
        let Some(item) = input.read_item(&path, now, &mut errors) else {
            continue;
        };
        // Checked as each item is read, so errors stay in item order.
        match first_at.entry(item.key()) {
            Entry::Occupied(first) => {
                errors.push(
                    format!("{path}.{}", T::UNIQUE.field),
                    T::UNIQUE.reason(*first.get()),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
        out.push(item);
    }
    errors.into_result(out)
}

/// Where a duplicate is reported and how the reason names what was repeated.
#[derive(Debug)]
pub struct Unique {
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

impl BatchItem for Customer {
    type Key = String;
    const UNIQUE: Unique = Unique::ID;
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl BatchItem for Order {
    type Key = String;
    const UNIQUE: Unique = Unique::ID;
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl BatchItem for CreditLimit {
    type Key = (String, NaiveDate);
    const UNIQUE: Unique = Unique {
        field: "valid_from",
        what: "(same customer_id and valid_from)",
    };
    fn key(&self) -> Self::Key {
        (self.customer_id.clone(), self.valid_from)
    }
}

impl BatchItem for BureauReport {
    /// Compared as instants: 10:00-03:00 and 13:00Z are the same query.
    type Key = (String, DateTime<Utc>);
    const UNIQUE: Unique = Unique {
        field: "queried_at",
        what: "(same customer_id and queried_at)",
    };
    fn key(&self) -> Self::Key {
        (self.customer_id.clone(), self.queried_at)
    }
}

impl ReadItem<Customer> for &Value {
    fn read_item(
        self,
        path: &str,
        now: DateTime<Utc>,
        errors: &mut FieldErrors,
    ) -> Option<Customer> {
        read_customer(self, path, now, errors)
    }
}

impl ReadItem<Order> for &Value {
    fn read_item(self, path: &str, now: DateTime<Utc>, errors: &mut FieldErrors) -> Option<Order> {
        read_order(self, path, now, errors)
    }
}

impl ReadItem<CreditLimit> for &Value {
    fn read_item(
        self,
        path: &str,
        now: DateTime<Utc>,
        errors: &mut FieldErrors,
    ) -> Option<CreditLimit> {
        read_credit_limit(self, path, now, errors)
    }
}

impl ReadItem<BureauReport> for &Value {
    fn read_item(
        self,
        path: &str,
        now: DateTime<Utc>,
        errors: &mut FieldErrors,
    ) -> Option<BureauReport> {
        read_bureau_report(self, path, now, errors)
    }
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
