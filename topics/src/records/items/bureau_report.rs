//! The credit-bureau report on the wire: the widest item, with three nested records.

use super::{count, key, money};
use aval_core::FieldErrors;
use aval_core::ingest::ReadItem;
use aval_core::ingest::checks::{self, Checks};
use aval_core::ingest::items::{
    BureauReport, NegativeRecord, Negatives, PaymentHabits, SupplierRelationships,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PaymentHabitsWire {
    pub on_time: Option<f64>,
    pub cash: Option<f64>,
    pub late_8_15: Option<f64>,
    pub late_16_30: Option<f64>,
    pub late_31_60: Option<f64>,
    pub late_over_60: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SupplierRelationshipsWire {
    pub m0_6: Option<i32>,
    pub m6_12: Option<i32>,
    pub y1_3: Option<i32>,
    pub y3_5: Option<i32>,
    pub y5_10: Option<i32>,
    pub y10_plus: Option<i32>,
    pub inactive: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NegativeRecordWire {
    pub count: Option<i32>,
    pub total_cents: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NegativesWire {
    pub pefin: Option<NegativeRecordWire>,
    pub refin: Option<NegativeRecordWire>,
    pub overdue_debts: Option<NegativeRecordWire>,
    pub bankruptcy: Option<NegativeRecordWire>,
    pub bounced_cheques: Option<NegativeRecordWire>,
    pub represented_cheques: Option<NegativeRecordWire>,
    pub bankruptcy_participation: Option<NegativeRecordWire>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BureauReportWire {
    pub customer_id: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub queried_at: i64,
    pub inquiries: Option<i32>,
    pub score: Option<i32>,
    pub payment_habits: Option<PaymentHabitsWire>,
    pub supplier_relationships: Option<SupplierRelationshipsWire>,
    pub negatives: Option<NegativesWire>,
}

fn negative_to_wire(n: &NegativeRecord) -> NegativeRecordWire {
    NegativeRecordWire {
        count: n.count.map(count),
        total_cents: n.total.map(|c| c.0),
    }
}

impl From<&BureauReport> for BureauReportWire {
    fn from(r: &BureauReport) -> Self {
        Self {
            customer_id: r.customer_id.clone(),
            queried_at: r.queried_at.timestamp_millis(),
            inquiries: r.inquiries.map(count),
            score: r.score,
            payment_habits: r
                .payment_habits
                .as_ref()
                .map(|h: &PaymentHabits| PaymentHabitsWire {
                    on_time: h.on_time,
                    cash: h.cash,
                    late_8_15: h.late_8_15,
                    late_16_30: h.late_16_30,
                    late_31_60: h.late_31_60,
                    late_over_60: h.late_over_60,
                }),
            supplier_relationships: r.supplier_relationships.as_ref().map(
                |s: &SupplierRelationships| SupplierRelationshipsWire {
                    m0_6: s.m0_6.map(count),
                    m6_12: s.m6_12.map(count),
                    y1_3: s.y1_3.map(count),
                    y3_5: s.y3_5.map(count),
                    y5_10: s.y5_10.map(count),
                    y10_plus: s.y10_plus.map(count),
                    inactive: s.inactive.map(count),
                },
            ),
            negatives: r.negatives.as_ref().map(|n: &Negatives| NegativesWire {
                pefin: n.pefin.as_ref().map(negative_to_wire),
                refin: n.refin.as_ref().map(negative_to_wire),
                overdue_debts: n.overdue_debts.as_ref().map(negative_to_wire),
                bankruptcy: n.bankruptcy.as_ref().map(negative_to_wire),
                bounced_cheques: n.bounced_cheques.as_ref().map(negative_to_wire),
                represented_cheques: n.represented_cheques.as_ref().map(negative_to_wire),
                bankruptcy_participation: n.bankruptcy_participation.as_ref().map(negative_to_wire),
            }),
        }
    }
}

impl ReadItem<BureauReport> for BureauReportWire {
    fn read_item(
        self,
        path: &str,
        now: DateTime<Utc>,
        errors: &mut FieldErrors,
    ) -> Option<BureauReport> {
        let mut c = Checks::new(path, errors);
        let customer_id = c.field("customer_id", key(self.customer_id));
        let queried_at = c.field("queried_at", checks::epoch_millis(self.queried_at, now));
        let inquiries = c.optional("inquiries", self.inquiries, |n| checks::count(n.into()));
        let score = c.optional("score", self.score, |n| checks::score(n.into()));
        let payment_habits = self
            .payment_habits
            .map(|h| payment_habits(h, &mut c.nested("payment_habits")));
        let supplier_relationships = self
            .supplier_relationships
            .map(|s| relationships(s, &mut c.nested("supplier_relationships")));
        let negatives = self
            .negatives
            .map(|n| negatives(n, &mut c.nested("negatives")));
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
}

fn payment_habits(wire: PaymentHabitsWire, c: &mut Checks<'_>) -> PaymentHabits {
    let mut share = |key: &str, x: Option<f64>| c.optional(key, x, checks::share);
    let habits = PaymentHabits {
        on_time: share("on_time", wire.on_time),
        cash: share("cash", wire.cash),
        late_8_15: share("late_8_15", wire.late_8_15),
        late_16_30: share("late_16_30", wire.late_16_30),
        late_31_60: share("late_31_60", wire.late_31_60),
        late_over_60: share("late_over_60", wire.late_over_60),
    };
    c.whole(checks::payment_habits(&habits));
    habits
}

fn relationships(wire: SupplierRelationshipsWire, c: &mut Checks<'_>) -> SupplierRelationships {
    let mut bucket = |key: &str, n: Option<i32>| c.optional(key, n, |n| checks::count(n.into()));
    SupplierRelationships {
        m0_6: bucket("m0_6", wire.m0_6),
        m6_12: bucket("m6_12", wire.m6_12),
        y1_3: bucket("y1_3", wire.y1_3),
        y3_5: bucket("y3_5", wire.y3_5),
        y5_10: bucket("y5_10", wire.y5_10),
        y10_plus: bucket("y10_plus", wire.y10_plus),
        inactive: bucket("inactive", wire.inactive),
    }
}

fn negatives(wire: NegativesWire, c: &mut Checks<'_>) -> Negatives {
    let mut record = |key: &str, r: Option<NegativeRecordWire>| {
        r.map(|r| negative_record(r, &mut c.nested(key)))
    };
    Negatives {
        pefin: record("pefin", wire.pefin),
        refin: record("refin", wire.refin),
        overdue_debts: record("overdue_debts", wire.overdue_debts),
        bankruptcy: record("bankruptcy", wire.bankruptcy),
        bounced_cheques: record("bounced_cheques", wire.bounced_cheques),
        represented_cheques: record("represented_cheques", wire.represented_cheques),
        bankruptcy_participation: record("bankruptcy_participation", wire.bankruptcy_participation),
    }
}

fn negative_record(wire: NegativeRecordWire, c: &mut Checks<'_>) -> NegativeRecord {
    NegativeRecord {
        count: c.optional("count", wire.count, |n| checks::count(n.into())),
        total: c.optional("total", wire.total_cents, money),
    }
}
