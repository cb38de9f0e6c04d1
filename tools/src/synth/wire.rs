//! The JSON shapes written, one struct per kind, in the field order of DESIGN.md. Absent
//! (unknown) fields are left out rather than written as `null`.

use aval_core::ingest::Cents;
use chrono::{DateTime, NaiveDate};
use serde::{Serialize, Serializer};

/// BRL in integer cents, written as a decimal string with two decimals: `"15000.00"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Money(pub i64);

impl Money {
    pub(crate) fn reais(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl Serialize for Money {
    /// The API's own text of an amount.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Cents(self.0))
    }
}

/// Seconds since the Unix epoch, written as RFC 3339 UTC: `"2024-03-01T10:00:00Z"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub i64);

impl Timestamp {
    pub(crate) fn date(self) -> NaiveDate {
        DateTime::from_timestamp(self.0, 0)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match DateTime::from_timestamp(self.0, 0) {
            Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%SZ")),
            None => Err(std::fmt::Error),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A calendar date, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Date(pub NaiveDate);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.format("%Y-%m-%d"))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct CustomerAttributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employees: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_guarantee: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Customer {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simples_nacional: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mei: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_consumer: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub founded_on: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    pub attributes: CustomerAttributes,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CreditLimit {
    pub customer_id: String,
    pub limit: Money,
    pub valid_from: Date,
}

/// Fractions in units of 1/10 000 (so they are exact to 4 decimals and their sum is checked in
/// integers), written as JSON numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fraction(pub u16);

impl Fraction {
    pub(crate) fn value(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.value())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct PaymentHabits {
    pub on_time: Fraction,
    pub cash: Fraction,
    pub late_8_15: Fraction,
    pub late_16_30: Fraction,
    pub late_31_60: Fraction,
    pub late_over_60: Fraction,
}

impl PaymentHabits {
    pub(crate) fn parts(&self) -> [Fraction; 6] {
        [
            self.on_time,
            self.cash,
            self.late_8_15,
            self.late_16_30,
            self.late_31_60,
            self.late_over_60,
        ]
    }

    /// The sum as a reader adding the written numbers gets it.
    pub(crate) fn float_sum(&self) -> f64 {
        self.parts().iter().map(|p| p.value()).sum()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct SupplierRelationships {
    pub m0_6: u32,
    pub m6_12: u32,
    pub y1_3: u32,
    pub y3_5: u32,
    pub y5_10: u32,
    pub y10_plus: u32,
    pub inactive: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct CountAndTotal {
    pub count: u32,
    pub total: Money,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct CountOnly {
    pub count: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Negatives {
    pub pefin: CountAndTotal,
    pub refin: CountAndTotal,
    pub overdue_debts: CountAndTotal,
    pub bankruptcy: CountOnly,
    pub bounced_cheques: CountOnly,
    pub represented_cheques: CountOnly,
    pub bankruptcy_participation: CountOnly,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct BureauReport {
    pub customer_id: String,
    pub queried_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inquiries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_habits: Option<PaymentHabits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier_relationships: Option<SupplierRelationships>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negatives: Option<Negatives>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct OrderAttributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_line: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Approved,
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Order {
    pub id: String,
    pub customer_id: String,
    pub issued_at: Timestamp,
    pub amount: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_term_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installments: Option<u32>,
    pub attributes: OrderAttributes,
    pub outcome: Outcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_written_in_the_documented_formats() -> anyhow::Result<()> {
        assert_eq!(serde_json::to_string(&Money(1_500_000))?, r#""15000.00""#);
        assert_eq!(serde_json::to_string(&Money(5))?, r#""0.05""#);
        assert_eq!(serde_json::to_string(&Money(0))?, r#""0.00""#);
        assert_eq!(
            serde_json::to_string(&Timestamp(1_709_287_200))?,
            r#""2024-03-01T10:00:00Z""#
        );
        let date = NaiveDate::from_ymd_opt(2010, 5, 1).expect("date");
        assert_eq!(serde_json::to_string(&Date(date))?, r#""2010-05-01""#);
        assert_eq!(serde_json::to_string(&Fraction(8000))?, "0.8");
        assert_eq!(serde_json::to_string(&Fraction(1234))?, "0.1234");
        Ok(())
    }
}
