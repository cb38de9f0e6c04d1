//! The credit limit on the wire.

use super::{days, key, money};
use aval_core::FieldErrors;
use aval_core::ingest::ReadItem;
use aval_core::ingest::checks::{self, Checks};
use aval_core::ingest::items::CreditLimit;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditLimitWire {
    pub customer_id: String,
    pub limit_cents: i64,
    pub valid_from: i32,
}

impl From<&CreditLimit> for CreditLimitWire {
    fn from(l: &CreditLimit) -> Self {
        Self {
            customer_id: l.customer_id.clone(),
            limit_cents: l.limit.0,
            valid_from: days(l.valid_from),
        }
    }
}

impl ReadItem<CreditLimit> for CreditLimitWire {
    fn read_item(
        self,
        path: &str,
        now: DateTime<Utc>,
        errors: &mut FieldErrors,
    ) -> Option<CreditLimit> {
        let mut c = Checks::new(path, errors);
        let customer_id = c.field("customer_id", key(self.customer_id));
        let limit = c.field("limit", money(self.limit_cents));
        let valid_from = c.field("valid_from", checks::epoch_days(self.valid_from, now));
        Some(CreditLimit {
            customer_id: customer_id?,
            limit: limit?,
            valid_from: valid_from?,
        })
    }
}
