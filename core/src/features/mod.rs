//! Feature assembly: what the model sees about one order, as of the moment it was issued.
//!
//! One function, [`assemble`], serves both training and decisions, so the two can never drift.
//! Training builds many examples at once through [`crate::model::examples`], which selects the
//! same facts and computes the order history incrementally (a test checks both agree).
//!
//! Names (attribute keys are `[a-z0-9_]` with no dot, so they never collide with fixed facts):
//! | name | value |
//! | --- | --- |
//! | `profile.simples_nacional` · `profile.mei` · `profile.final_consumer` | 0/1 |
//! | `profile.state` · `profile.document` (`cnpj`/`cpf`) | category |
//! | `profile.age_years` | years since the customer was founded, at the order |
//! | `limit.total` | BRL, the credit limit in force at the order |
//! | `terms.amount` (BRL) · `terms.amount_to_limit` · `terms.payment_term_days` · `terms.installments` | the order |
//! | `bureau.age_days` | days between the bureau report and the order |
//! | `bureau.score` · `bureau.inquiries` | |
//! | `bureau.on_time` · `bureau.cash` · `bureau.late_8_15` · `bureau.late_16_30` · `bureau.late_31_60` · `bureau.late_over_60` · `bureau.late_share` | shares in 0..1 |
//! | `bureau.suppliers.{m0_6,m6_12,y1_3,y3_5,y5_10,y10_plus,inactive}` | supplier counts |
//! | `bureau.negatives.{kind}.count` · `bureau.negatives.{kind}.total` (BRL) | per kind of negative record |
//! | `bureau.negatives.count` · `bureau.negatives.value` (BRL) | all kinds together |
//! | `history.orders` · `history.amount` (BRL) · `history.blocked_share` | the customer's earlier orders |
//! | `customer.{key}` · `order.{key}` | attributes: numbers, categories, flags as 0/1 |

mod assemble;

#[cfg(test)]
mod tests;

use crate::ingest::items::{BureauReport, CreditLimit, Customer, Order};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use assemble::{assemble, reprice};

pub(crate) use assemble::{History, build, latest_limit, latest_report};

pub use crate::ingest::items::NEGATIVE_KINDS;

/// One fact about an order. On the wire: a number, a string, or `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureValue {
    Number(f64),
    Category(String),
    Missing,
}

impl FeatureValue {
    /// A number, or `Missing` when it is not finite (a model cannot learn from NaN or ∞).
    pub fn number(value: f64) -> Self {
        if value.is_finite() {
            FeatureValue::Number(value)
        } else {
            FeatureValue::Missing
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            FeatureValue::Number(value) => Some(*value),
            _ => None,
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, FeatureValue::Missing)
    }
}

/// Feature name -> value. A name that is absent means the same as `Missing`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawFeatures(pub BTreeMap<String, FeatureValue>);

impl RawFeatures {
    pub fn get(&self, name: &str) -> &FeatureValue {
        self.0.get(name).unwrap_or(&FeatureValue::Missing)
    }

    pub fn insert(&mut self, name: impl Into<String>, value: FeatureValue) {
        self.0.insert(name.into(), value);
    }
}

/// Everything known about one customer, in any order; assembly picks what was known at a time.
/// Items of other customers are ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerFacts {
    pub customer: Option<Customer>,
    pub credit_limits: Vec<CreditLimit>,
    pub bureau_reports: Vec<BureauReport>,
    pub orders: Vec<Order>,
}

/// Which way a feature is known to move the risk, whatever the data says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More of it never lowers the risk (negatives, late payment, inquiries, amount ÷ limit).
    RaisesRisk,
    /// More of it never raises the risk (the bureau score).
    LowersRisk,
}

/// The known direction of a feature, if any: these become monotone constraints in training
/// and are checked on every trained model.
pub fn direction(name: &str) -> Option<Direction> {
    match name {
        "bureau.score" => Some(Direction::LowersRisk),
        "bureau.inquiries" | "bureau.late_share" | "terms.amount_to_limit" => {
            Some(Direction::RaisesRisk)
        }
        _ if name.starts_with("bureau.late_") || name.starts_with("bureau.negatives.") => {
            Some(Direction::RaisesRisk)
        }
        _ => None,
    }
}
