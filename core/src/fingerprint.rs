//! Content fingerprints: what makes a repeated request the same request. An upload batch's
//! `Idempotency-Key` (its `batch_id` over Kafka) and a decided order id are bound to the
//! fingerprint of the content first sent under them; a later request under the same key or id
//! is a safe repeat only when its fingerprint is equal, and refused otherwise, never dropped.
//!
//! Fingerprints are taken of validated items, written field by field (not through serde, so a
//! field added to a type later does not change the fingerprints already stored): two bodies
//! that differ only in formatting, key order or `"15000.00"` against `15000` are the same
//! content. Instants count to the millisecond, the precision the wire carries and the database
//! is given, so the gateway (before producing) and the ingest processor (after decoding) take
//! the same fingerprint of the same batch.

use crate::ingest::items::{
    AttributeValue, Attributes, Batch, BureauReport, Cents, CreditLimit, Customer, NegativeRecord,
    Order, Outcome,
};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// SHA-256 of a canonical encoding.
pub type Fingerprint = [u8; 32];

/// A SHA-256 over length-prefixed fields, so no two different sequences of fields encode to
/// the same bytes (`"ab", "c"` and `"a", "bc"` differ); an optional field's presence is part
/// of its encoding.
#[derive(Debug, Default)]
pub(crate) struct Canonical(Sha256);

impl Canonical {
    /// Bytes taken as they are before the fields (the previous link of a hash chain).
    pub(crate) fn starting_with(prefix: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(prefix);
        Self(hasher)
    }

    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    fn text(&mut self, text: &str) {
        self.field(text.as_bytes());
    }

    fn count(&mut self, n: usize) {
        self.field(&(n as u64).to_be_bytes());
    }

    fn cents(&mut self, cents: Cents) {
        self.field(&cents.0.to_be_bytes());
    }

    fn date(&mut self, date: NaiveDate) {
        self.field(&date.num_days_from_ce().to_be_bytes());
    }

    fn instant(&mut self, at: DateTime<Utc>) {
        self.field(&at.timestamp_millis().to_be_bytes());
    }

    /// Writes `value` with `write`, or marks it absent.
    fn optional<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.0.update([0]),
            Some(value) => {
                self.0.update([1]);
                write(self, value);
            }
        }
    }

    fn optional_text(&mut self, text: Option<&str>) {
        self.optional(text, Self::text);
    }

    fn optional_u32(&mut self, n: Option<u32>) {
        self.optional(n, |c, n| c.field(&n.to_be_bytes()));
    }

    fn optional_f64(&mut self, x: Option<f64>) {
        self.optional(x, |c, x| c.field(&x.to_bits().to_be_bytes()));
    }

    fn optional_flag(&mut self, flag: Option<bool>) {
        self.optional(flag, |c, flag| c.field(&[u8::from(flag)]));
    }

    fn attributes(&mut self, attributes: &Attributes) {
        self.count(attributes.len());
        for (key, value) in attributes {
            self.text(key);
            match value {
                AttributeValue::Number(n) => {
                    self.text("number");
                    self.field(&n.to_bits().to_be_bytes());
                }
                AttributeValue::Text(text) => {
                    self.text("text");
                    self.text(text);
                }
                AttributeValue::Flag(flag) => {
                    self.text("flag");
                    self.field(&[u8::from(*flag)]);
                }
            }
        }
    }

    fn customer(&mut self, c: &Customer) {
        self.text(&c.id);
        self.optional_text(c.document.as_deref());
        self.optional_flag(c.simples_nacional);
        self.optional_flag(c.mei);
        self.optional_flag(c.final_consumer);
        self.optional(c.founded_on, Self::date);
        self.optional_text(c.state.as_deref());
        self.attributes(&c.attributes);
    }

    fn credit_limit(&mut self, l: &CreditLimit) {
        self.text(&l.customer_id);
        self.cents(l.limit);
        self.date(l.valid_from);
    }

    fn negative(&mut self, n: Option<&NegativeRecord>) {
        self.optional(n, |c, n| {
            c.optional_u32(n.count);
            c.optional(n.total, Self::cents);
        });
    }

    fn bureau_report(&mut self, r: &BureauReport) {
        self.text(&r.customer_id);
        self.instant(r.queried_at);
        self.optional_u32(r.inquiries);
        self.optional(r.score, |c, score| c.field(&score.to_be_bytes()));
        self.optional(r.payment_habits.as_ref(), |c, h| {
            for share in [
                h.on_time,
                h.cash,
                h.late_8_15,
                h.late_16_30,
                h.late_31_60,
                h.late_over_60,
            ] {
                c.optional_f64(share);
            }
        });
        self.optional(r.supplier_relationships.as_ref(), |c, s| {
            for count in [
                s.m0_6, s.m6_12, s.y1_3, s.y3_5, s.y5_10, s.y10_plus, s.inactive,
            ] {
                c.optional_u32(count);
            }
        });
        self.optional(r.negatives.as_ref(), |c, n| {
            for record in n.records() {
                c.negative(record.as_ref());
            }
        });
    }

    fn order(&mut self, o: &Order) {
        self.text(&o.id);
        self.text(&o.customer_id);
        self.instant(o.issued_at);
        self.cents(o.amount);
        self.optional_u32(o.payment_term_days);
        self.optional_u32(o.installments);
        self.attributes(&o.attributes);
        self.optional(o.outcome, |c, outcome| {
            c.text(match outcome {
                Outcome::Approved => "approved",
                Outcome::Blocked => "blocked",
            });
        });
    }

    pub(crate) fn finish(self) -> Fingerprint {
        self.0.finalize().into()
    }
}

/// A validated batch: its kind and every item, in order.
pub fn batch_fingerprint(batch: &Batch) -> Fingerprint {
    let mut canonical = Canonical::default();
    canonical.text(batch.kind().as_str());
    canonical.count(batch.len());
    match batch {
        Batch::Customers(items) => items.iter().for_each(|i| canonical.customer(i)),
        Batch::CreditLimits(items) => items.iter().for_each(|i| canonical.credit_limit(i)),
        Batch::BureauReports(items) => items.iter().for_each(|i| canonical.bureau_report(i)),
        Batch::Orders(items) => items.iter().for_each(|i| canonical.order(i)),
    }
    canonical.finish()
}

/// Items that did not validate (a refused batch has no validated form), as they arrived (JSON
/// values, wire records), written as JSON text: serde_json keeps an object's keys sorted, so
/// the text is canonical. Marked apart, so it never equals a validated batch's fingerprint.
pub fn invalid_items_fingerprint<T: Serialize>(items: &[T]) -> Fingerprint {
    let mut canonical = Canonical::default();
    canonical.text("invalid");
    canonical.count(items.len());
    for item in items {
        let text = serde_json::to_value(item).map_or_else(|e| e.to_string(), |v| v.to_string());
        canonical.text(&text);
    }
    canonical.finish()
}

/// Everything an order carries: id, customer, issue time, amount, terms, attributes and
/// outcome.
pub fn order_fingerprint(order: &Order) -> Fingerprint {
    let mut canonical = Canonical::default();
    canonical.order(order);
    canonical.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::items::{Cents, ItemKind};
    use crate::ingest::validate_batch;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    fn order() -> Order {
        Order {
            id: "O1".into(),
            customer_id: "C1".into(),
            issued_at: DateTime::<Utc>::from_timestamp_millis(1_764_000_000_000)
                .unwrap_or_default(),
            amount: Cents(1_500_000),
            payment_term_days: Some(30),
            installments: None,
            attributes: BTreeMap::from([(
                "channel".to_owned(),
                AttributeValue::Text("sales-rep".into()),
            )]),
            outcome: None,
        }
    }

    #[test]
    fn an_order_s_fingerprint_depends_on_every_field() {
        let base = order_fingerprint(&order());
        assert_eq!(base, order_fingerprint(&order()), "deterministic");
        type Change = (&'static str, fn(&mut Order));
        let changes: [Change; 8] = [
            ("id", |o| o.id = "O2".into()),
            ("customer", |o| o.customer_id = "C2".into()),
            ("issued_at", |o| {
                o.issued_at += chrono::Duration::milliseconds(1);
            }),
            ("amount", |o| o.amount = Cents(1_500_001)),
            ("term", |o| o.payment_term_days = None),
            ("installments", |o| o.installments = Some(0)),
            ("attributes", |o| {
                o.attributes
                    .insert("channel".into(), AttributeValue::Text("web".into()));
            }),
            ("outcome", |o| o.outcome = Some(Outcome::Approved)),
        ];
        for (what, change) in changes {
            let mut changed = order();
            change(&mut changed);
            assert_ne!(base, order_fingerprint(&changed), "{what}");
        }
    }

    #[test]
    fn a_term_and_installments_of_the_same_value_do_not_collide() {
        let mut term = order();
        (term.payment_term_days, term.installments) = (Some(3), None);
        let mut installments = order();
        (installments.payment_term_days, installments.installments) = (None, Some(3));
        assert_ne!(order_fingerprint(&term), order_fingerprint(&installments));
    }

    fn fingerprint_of(kind: ItemKind, items: &[Value]) -> Fingerprint {
        let now = DateTime::<Utc>::from_timestamp_millis(1_764_000_000_000).unwrap_or_default();
        batch_fingerprint(&validate_batch(kind, items, now).expect("valid items"))
    }

    fn report(pefin: u32) -> Value {
        json!({"customer_id": "C1", "queried_at": "2025-03-01T10:00:00Z", "score": 650,
               "payment_habits": {"on_time": 0.8, "late_8_15": 0.1},
               "supplier_relationships": {"y1_3": 3},
               "negatives": {"pefin": {"count": pefin, "total": "1200.00"}}})
    }

    #[test]
    fn the_same_content_written_otherwise_is_the_same_batch() {
        let reordered: Value = serde_json::from_str(
            r#"{"negatives": {"pefin": {"total": 1200, "count": 1}}, "score": 650,
                "supplier_relationships": {"y1_3": 3}, "customer_id": "C1",
                "payment_habits": {"late_8_15": 0.10, "on_time": 0.80},
                "queried_at": "2025-03-01T07:00:00.0004-03:00"}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            fingerprint_of(ItemKind::BureauReports, &[report(1)]),
            fingerprint_of(ItemKind::BureauReports, &[reordered])
        );
    }

    #[test]
    fn a_batch_s_fingerprint_sees_every_item_and_value() {
        let one = fingerprint_of(ItemKind::BureauReports, &[report(1)]);
        assert_ne!(one, fingerprint_of(ItemKind::BureauReports, &[report(2)]));
        let mut later = report(1);
        later["queried_at"] = json!("2025-03-01T10:00:00.001Z");
        assert_ne!(one, fingerprint_of(ItemKind::BureauReports, &[later]));
        let mut another_day = report(1);
        another_day["queried_at"] = json!("2025-03-02T10:00:00Z");
        assert_ne!(
            one,
            fingerprint_of(ItemKind::BureauReports, &[report(1), another_day])
        );
        let customer = json!({"id": "C1", "state": "SP"});
        let other = json!({"id": "C1", "state": "RJ"});
        assert_ne!(
            fingerprint_of(ItemKind::Customers, &[customer]),
            fingerprint_of(ItemKind::Customers, &[other])
        );
        let items = [report(1)];
        assert_ne!(one, invalid_items_fingerprint(&items), "marked apart");
    }
}
