//! The customer on the wire.

use super::{attributes, days, key};
use aval_core::FieldErrors;
use aval_core::ingest::ReadItem;
use aval_core::ingest::checks::{self, Checks};
use aval_core::ingest::items::Customer;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerWire {
    pub id: String,
    pub document: Option<String>,
    pub simples_nacional: Option<bool>,
    pub mei: Option<bool>,
    pub final_consumer: Option<bool>,
    /// Days since 1970-01-01.
    pub founded_on: Option<i32>,
    pub state: Option<String>,
    pub attributes: HashMap<String, attributes::AttributeValueWire>,
}

impl From<&Customer> for CustomerWire {
    fn from(c: &Customer) -> Self {
        Self {
            id: c.id.clone(),
            document: c.document.clone(),
            simples_nacional: c.simples_nacional,
            mei: c.mei,
            final_consumer: c.final_consumer,
            founded_on: c.founded_on.map(days),
            state: c.state.clone(),
            attributes: attributes::to_wire(&c.attributes),
        }
    }
}

impl ReadItem<Customer> for CustomerWire {
    fn read_item(
        self,
        path: &str,
        now: DateTime<Utc>,
        errors: &mut FieldErrors,
    ) -> Option<Customer> {
        let mut c = Checks::new(path, errors);
        let id = c.field("id", key(self.id));
        let document = c.optional("document", self.document, |d| checks::document(&d));
        let founded_on = c.optional("founded_on", self.founded_on, |d| {
            checks::epoch_days(d, now)
        });
        let state = c.optional("state", self.state, |s| checks::state(&s));
        let attributes = attributes::from_wire(self.attributes, &mut c);
        Some(Customer {
            id: id?,
            document,
            simples_nacional: self.simples_nacional,
            mei: self.mei,
            final_consumer: self.final_consumer,
            founded_on,
            state,
            attributes,
        })
    }
}
