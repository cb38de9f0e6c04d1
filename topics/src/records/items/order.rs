//! The order on the wire.

use super::{attributes, count, key, money};
use aval_core::FieldErrors;
use aval_core::ingest::ReadItem;
use aval_core::ingest::checks::{self, Checks};
use aval_core::ingest::items::{Order, Outcome};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderOutcomeWire {
    Approved,
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderWire {
    pub id: String,
    pub customer_id: String,
    pub issued_at: i64,
    pub amount_cents: i64,
    pub payment_term_days: Option<i32>,
    pub installments: Option<i32>,
    pub attributes: HashMap<String, attributes::AttributeValueWire>,
    pub outcome: Option<OrderOutcomeWire>,
}

impl From<&Order> for OrderWire {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id.clone(),
            customer_id: o.customer_id.clone(),
            issued_at: o.issued_at.timestamp_millis(),
            amount_cents: o.amount.0,
            payment_term_days: o.payment_term_days.map(count),
            installments: o.installments.map(count),
            attributes: attributes::to_wire(&o.attributes),
            outcome: o.outcome.map(|outcome| match outcome {
                Outcome::Approved => OrderOutcomeWire::Approved,
                Outcome::Blocked => OrderOutcomeWire::Blocked,
            }),
        }
    }
}

impl ReadItem<Order> for OrderWire {
    fn read_item(self, path: &str, now: DateTime<Utc>, errors: &mut FieldErrors) -> Option<Order> {
        let mut c = Checks::new(path, errors);
        let id = c.field("id", key(self.id));
        let customer_id = c.field("customer_id", key(self.customer_id));
        let issued_at = c.field("issued_at", checks::epoch_millis(self.issued_at, now));
        let amount = c.field("amount", money(self.amount_cents));
        let payment_term_days = c.optional("payment_term_days", self.payment_term_days, |n| {
            checks::payment_term_days(n.into())
        });
        let installments = c.optional("installments", self.installments, |n| {
            checks::installments(n.into())
        });
        let attributes = attributes::from_wire(self.attributes, &mut c);
        Some(Order {
            id: id?,
            customer_id: customer_id?,
            issued_at: issued_at?,
            amount: amount?,
            payment_term_days,
            installments,
            attributes,
            outcome: self.outcome.map(|outcome| match outcome {
                OrderOutcomeWire::Approved => Outcome::Approved,
                OrderOutcomeWire::Blocked => Outcome::Blocked,
            }),
        })
    }
}
