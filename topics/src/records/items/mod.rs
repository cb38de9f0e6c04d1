//! The four kinds of item on the wire, one file each: the Avro mirror (field names and order
//! follow `schemas/*.avsc`), domain → wire for producing, and wire → domain for consuming.
//! A record produced straight to Kafka never passed the gateway, so wire → domain runs every
//! field through the rule the HTTP path uses (`aval_core::ingest::checks`), reporting the same
//! path and reason as for the same item sent as JSON. Only what is the wire's own is read here:
//! dates as days since 1970-01-01, instants as milliseconds, money as cents, attributes as a
//! union of three fields.

mod attributes;
mod bureau_report;
mod credit_limit;
mod customer;
mod order;

#[cfg(test)]
mod tests;

pub use attributes::AttributeValueWire;
pub use bureau_report::{
    BureauReportWire, NegativeRecordWire, NegativesWire, PaymentHabitsWire,
    SupplierRelationshipsWire,
};
pub use credit_limit::CreditLimitWire;
pub use customer::CustomerWire;
pub use order::{OrderOutcomeWire, OrderWire};

use aval_core::FieldErrors;
use aval_core::ingest::checks;
use aval_core::ingest::items::{BureauReport, Cents, CreditLimit, Customer, Order};
use aval_core::ingest::validate_item;
use chrono::{NaiveDate, Utc};

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the Unix epoch is a date");

/// A date as days since 1970-01-01.
fn days(date: NaiveDate) -> i32 {
    i32::try_from(date.signed_duration_since(EPOCH).num_days()).unwrap_or(i32::MAX)
}

/// A count as Avro's `int`.
fn count(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A customer or order key.
fn key(text: String) -> Result<String, String> {
    checks::id(&text).map(|()| text)
}

fn money(cents: i64) -> Result<Cents, String> {
    checks::amount(Cents(cents))
}

/// One item on its own, its paths the field's own (`amount`, `attributes.channel`). The rule
/// "not more than a day ahead" needs the time: these read the clock, where the processors pass
/// theirs (`IngestRecord::into_content`, `DecisionItemsWire::checked`).
macro_rules! try_from_wire {
    ($wire:ty => $item:ty) => {
        impl TryFrom<$wire> for $item {
            type Error = FieldErrors;

            fn try_from(wire: $wire) -> Result<Self, FieldErrors> {
                validate_item(wire, "", Utc::now())
            }
        }
    };
}

try_from_wire!(CustomerWire => Customer);
try_from_wire!(OrderWire => Order);
try_from_wire!(CreditLimitWire => CreditLimit);
try_from_wire!(BureauReportWire => BureauReport);
