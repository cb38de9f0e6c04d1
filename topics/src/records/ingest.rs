//! The ingest record: one batch of a dataset, or its completion marker.
//!
//! Producing goes domain → wire. Consuming goes wire → the HTTP JSON shape → the one batch
//! validator, so a record produced straight to Kafka passes exactly the rules an HTTP upload
//! does.

use crate::WireRecord;
use crate::schemas;
use aval_core::ingest::items::{
    AttributeValue, Attributes, Batch, BureauReport, Cents, Counts, CreditLimit, Customer,
    ItemKind, NegativeRecord, Negatives, Order, Outcome, PaymentHabits, SupplierRelationships,
};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestKindWire {
    Customers,
    Orders,
    CreditLimits,
    BureauReports,
    Completion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderOutcomeWire {
    Approved,
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttributeValueWire {
    pub number: Option<f64>,
    pub text: Option<String>,
    pub flag: Option<bool>,
}

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
    pub attributes: HashMap<String, AttributeValueWire>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditLimitWire {
    pub customer_id: String,
    pub limit_cents: i64,
    pub valid_from: i32,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderWire {
    pub id: String,
    pub customer_id: String,
    pub issued_at: i64,
    pub amount_cents: i64,
    pub payment_term_days: Option<i32>,
    pub installments: Option<i32>,
    pub attributes: HashMap<String, AttributeValueWire>,
    pub outcome: Option<OrderOutcomeWire>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionWire {
    pub customers: i64,
    pub orders: i64,
    pub credit_limits: i64,
    pub bureau_reports: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestRecord {
    pub company_id: String,
    pub dataset_id: String,
    pub batch_id: String,
    pub produced_at: i64,
    pub kind: IngestKindWire,
    pub customers: Vec<CustomerWire>,
    pub orders: Vec<OrderWire>,
    pub credit_limits: Vec<CreditLimitWire>,
    pub bureau_reports: Vec<BureauReportWire>,
    pub completion: Option<CompletionWire>,
}

impl WireRecord for IngestRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::INGEST_RECORD;
}

impl IngestRecord {
    fn empty(
        company_id: &str,
        dataset_id: &str,
        batch_id: &str,
        at: DateTime<Utc>,
        kind: IngestKindWire,
    ) -> Self {
        Self {
            company_id: company_id.to_owned(),
            dataset_id: dataset_id.to_owned(),
            batch_id: batch_id.to_owned(),
            produced_at: at.timestamp_millis(),
            kind,
            customers: Vec::new(),
            orders: Vec::new(),
            credit_limits: Vec::new(),
            bureau_reports: Vec::new(),
            completion: None,
        }
    }

    pub fn batch(
        company_id: &str,
        dataset_id: &str,
        batch_id: &str,
        at: DateTime<Utc>,
        batch: &Batch,
    ) -> Self {
        let kind = match batch.kind() {
            ItemKind::Customers => IngestKindWire::Customers,
            ItemKind::Orders => IngestKindWire::Orders,
            ItemKind::CreditLimits => IngestKindWire::CreditLimits,
            ItemKind::BureauReports => IngestKindWire::BureauReports,
        };
        let mut record = Self::empty(company_id, dataset_id, batch_id, at, kind);
        match batch {
            Batch::Customers(items) => {
                record.customers = items.iter().map(CustomerWire::from).collect()
            }
            Batch::Orders(items) => record.orders = items.iter().map(OrderWire::from).collect(),
            Batch::CreditLimits(items) => {
                record.credit_limits = items.iter().map(CreditLimitWire::from).collect()
            }
            Batch::BureauReports(items) => {
                record.bureau_reports = items.iter().map(BureauReportWire::from).collect();
            }
        }
        record
    }

    pub fn completion(
        company_id: &str,
        dataset_id: &str,
        batch_id: &str,
        at: DateTime<Utc>,
        counts: &Counts,
    ) -> Self {
        let mut record = Self::empty(
            company_id,
            dataset_id,
            batch_id,
            at,
            IngestKindWire::Completion,
        );
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        record.completion = Some(CompletionWire {
            customers: n(counts.customers),
            orders: n(counts.orders),
            credit_limits: n(counts.credit_limits),
            bureau_reports: n(counts.bureau_reports),
        });
        record
    }

    /// The item kind of a batch record; `None` for a completion marker.
    pub fn item_kind(&self) -> Option<ItemKind> {
        match self.kind {
            IngestKindWire::Customers => Some(ItemKind::Customers),
            IngestKindWire::Orders => Some(ItemKind::Orders),
            IngestKindWire::CreditLimits => Some(ItemKind::CreditLimits),
            IngestKindWire::BureauReports => Some(ItemKind::BureauReports),
            IngestKindWire::Completion => None,
        }
    }

    /// The items of the record's kind in the HTTP JSON shape, for the batch validator. Items
    /// of other kinds in the same record are a producer error, reported by `stray_items`.
    pub fn items_as_json(&self) -> Vec<Value> {
        match self.kind {
            IngestKindWire::Customers => self.customers.iter().map(CustomerWire::to_json).collect(),
            IngestKindWire::Orders => self.orders.iter().map(OrderWire::to_json).collect(),
            IngestKindWire::CreditLimits => self
                .credit_limits
                .iter()
                .map(CreditLimitWire::to_json)
                .collect(),
            IngestKindWire::BureauReports => self
                .bureau_reports
                .iter()
                .map(BureauReportWire::to_json)
                .collect(),
            IngestKindWire::Completion => Vec::new(),
        }
    }

    /// Names the arrays that hold items although the record is of another kind.
    pub fn stray_items(&self) -> Vec<&'static str> {
        let mut stray = Vec::new();
        let kind = self.kind;
        let mut check = |own: IngestKindWire, len: usize, name| {
            if kind != own && len > 0 {
                stray.push(name);
            }
        };
        check(IngestKindWire::Customers, self.customers.len(), "customers");
        check(IngestKindWire::Orders, self.orders.len(), "orders");
        check(
            IngestKindWire::CreditLimits,
            self.credit_limits.len(),
            "credit_limits",
        );
        check(
            IngestKindWire::BureauReports,
            self.bureau_reports.len(),
            "bureau_reports",
        );
        if kind != IngestKindWire::Completion && self.completion.is_some() {
            stray.push("completion");
        }
        stray
    }

    /// The announced counts, as the HTTP completion body's `counts` object.
    pub fn completion_as_json(&self) -> Option<Value> {
        self.completion.map(|c| {
            json!({
                "customers": c.customers,
                "orders": c.orders,
                "credit_limits": c.credit_limits,
                "bureau_reports": c.bureau_reports,
            })
        })
    }
}

// ---- domain → wire ----

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the Unix epoch is a date");

fn days(date: NaiveDate) -> i32 {
    i32::try_from(date.signed_duration_since(EPOCH).num_days()).unwrap_or(i32::MAX)
}

fn count(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn attributes_to_wire(attributes: &Attributes) -> HashMap<String, AttributeValueWire> {
    attributes
        .iter()
        .map(|(key, value)| {
            let wire = match value {
                AttributeValue::Number(n) => AttributeValueWire {
                    number: Some(*n),
                    ..Default::default()
                },
                AttributeValue::Text(t) => AttributeValueWire {
                    text: Some(t.clone()),
                    ..Default::default()
                },
                AttributeValue::Flag(f) => AttributeValueWire {
                    flag: Some(*f),
                    ..Default::default()
                },
            };
            (key.clone(), wire)
        })
        .collect()
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
            attributes: attributes_to_wire(&c.attributes),
        }
    }
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

impl From<&Order> for OrderWire {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id.clone(),
            customer_id: o.customer_id.clone(),
            issued_at: o.issued_at.timestamp_millis(),
            amount_cents: o.amount.0,
            payment_term_days: o.payment_term_days.map(count),
            installments: o.installments.map(count),
            attributes: attributes_to_wire(&o.attributes),
            outcome: o.outcome.map(|outcome| match outcome {
                Outcome::Approved => OrderOutcomeWire::Approved,
                Outcome::Blocked => OrderOutcomeWire::Blocked,
            }),
        }
    }
}

// ---- wire → HTTP JSON shape (re-validated by the batch validator) ----

/// Inserts `value` under `key` unless it is absent.
fn put(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), value);
    }
}

fn money(cents: i64) -> Value {
    Value::String(Cents(cents).to_string())
}

fn date(days: i32) -> Value {
    match EPOCH.checked_add_signed(chrono::Duration::days(i64::from(days))) {
        Some(date) => Value::String(date.format("%Y-%m-%d").to_string()),
        // Out of chrono's range: pass the raw number on, the validator refuses it by type.
        None => json!(days),
    }
}

fn timestamp(millis: i64) -> Value {
    match DateTime::from_timestamp_millis(millis) {
        Some(at) => Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        None => json!(millis),
    }
}

fn attributes_json(attributes: &HashMap<String, AttributeValueWire>) -> Value {
    let object: Map<String, Value> = attributes
        .iter()
        .map(|(key, v)| {
            // Exactly one of the three must be set; anything else is passed on as an object,
            // which the validator refuses with the attribute's path.
            let value = match (v.number, &v.text, v.flag) {
                (Some(n), None, None) => json!(n),
                (None, Some(t), None) => json!(t),
                (None, None, Some(f)) => json!(f),
                _ => json!({"number": v.number, "text": v.text, "flag": v.flag}),
            };
            (key.clone(), value)
        })
        .collect();
    Value::Object(object)
}

impl CustomerWire {
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        put(&mut o, "document", self.document.as_ref().map(|v| json!(v)));
        put(
            &mut o,
            "simples_nacional",
            self.simples_nacional.map(|v| json!(v)),
        );
        put(&mut o, "mei", self.mei.map(|v| json!(v)));
        put(
            &mut o,
            "final_consumer",
            self.final_consumer.map(|v| json!(v)),
        );
        put(&mut o, "founded_on", self.founded_on.map(date));
        put(&mut o, "state", self.state.as_ref().map(|v| json!(v)));
        o.insert("attributes".into(), attributes_json(&self.attributes));
        Value::Object(o)
    }
}

impl CreditLimitWire {
    pub fn to_json(&self) -> Value {
        json!({
            "customer_id": self.customer_id,
            "limit": money(self.limit_cents),
            "valid_from": date(self.valid_from),
        })
    }
}

fn negative_json(n: &NegativeRecordWire) -> Value {
    let mut o = Map::new();
    put(&mut o, "count", n.count.map(|v| json!(v)));
    put(&mut o, "total", n.total_cents.map(money));
    Value::Object(o)
}

impl BureauReportWire {
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("customer_id".into(), json!(self.customer_id));
        o.insert("queried_at".into(), timestamp(self.queried_at));
        put(&mut o, "inquiries", self.inquiries.map(|v| json!(v)));
        put(&mut o, "score", self.score.map(|v| json!(v)));
        put(
            &mut o,
            "payment_habits",
            self.payment_habits.as_ref().map(|h| {
                let mut p = Map::new();
                put(&mut p, "on_time", h.on_time.map(|v| json!(v)));
                put(&mut p, "cash", h.cash.map(|v| json!(v)));
                put(&mut p, "late_8_15", h.late_8_15.map(|v| json!(v)));
                put(&mut p, "late_16_30", h.late_16_30.map(|v| json!(v)));
                put(&mut p, "late_31_60", h.late_31_60.map(|v| json!(v)));
                put(&mut p, "late_over_60", h.late_over_60.map(|v| json!(v)));
                Value::Object(p)
            }),
        );
        put(
            &mut o,
            "supplier_relationships",
            self.supplier_relationships.as_ref().map(|s| {
                let mut p = Map::new();
                put(&mut p, "m0_6", s.m0_6.map(|v| json!(v)));
                put(&mut p, "m6_12", s.m6_12.map(|v| json!(v)));
                put(&mut p, "y1_3", s.y1_3.map(|v| json!(v)));
                put(&mut p, "y3_5", s.y3_5.map(|v| json!(v)));
                put(&mut p, "y5_10", s.y5_10.map(|v| json!(v)));
                put(&mut p, "y10_plus", s.y10_plus.map(|v| json!(v)));
                put(&mut p, "inactive", s.inactive.map(|v| json!(v)));
                Value::Object(p)
            }),
        );
        put(
            &mut o,
            "negatives",
            self.negatives.as_ref().map(|n| {
                let mut p = Map::new();
                put(&mut p, "pefin", n.pefin.as_ref().map(negative_json));
                put(&mut p, "refin", n.refin.as_ref().map(negative_json));
                put(
                    &mut p,
                    "overdue_debts",
                    n.overdue_debts.as_ref().map(negative_json),
                );
                put(
                    &mut p,
                    "bankruptcy",
                    n.bankruptcy.as_ref().map(negative_json),
                );
                put(
                    &mut p,
                    "bounced_cheques",
                    n.bounced_cheques.as_ref().map(negative_json),
                );
                put(
                    &mut p,
                    "represented_cheques",
                    n.represented_cheques.as_ref().map(negative_json),
                );
                put(
                    &mut p,
                    "bankruptcy_participation",
                    n.bankruptcy_participation.as_ref().map(negative_json),
                );
                Value::Object(p)
            }),
        );
        Value::Object(o)
    }
}

impl OrderWire {
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("customer_id".into(), json!(self.customer_id));
        o.insert("issued_at".into(), timestamp(self.issued_at));
        o.insert("amount".into(), money(self.amount_cents));
        put(
            &mut o,
            "payment_term_days",
            self.payment_term_days.map(|v| json!(v)),
        );
        put(&mut o, "installments", self.installments.map(|v| json!(v)));
        o.insert("attributes".into(), attributes_json(&self.attributes));
        put(
            &mut o,
            "outcome",
            self.outcome.map(|v| match v {
                OrderOutcomeWire::Approved => json!("approved"),
                OrderOutcomeWire::Blocked => json!("blocked"),
            }),
        );
        Value::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_text_is_exact() {
        assert_eq!(money(0), json!("0.00"));
        assert_eq!(money(29), json!("0.29"));
        assert_eq!(money(1_500_000), json!("15000.00"));
        assert_eq!(money(-5), json!("-0.05"));
    }

    #[test]
    fn dates_and_times_map_to_text() {
        assert_eq!(date(0), json!("1970-01-01"));
        assert_eq!(date(20_089), json!("2025-01-01"));
        assert_eq!(
            timestamp(1_709_287_200_000),
            json!("2024-03-01T10:00:00.000Z")
        );
    }

    #[test]
    fn a_customer_batch_maps_to_the_http_shape() {
        let customer = Customer {
            id: "C1".into(),
            document: Some("11222333000181".into()),
            simples_nacional: Some(true),
            mei: None,
            final_consumer: None,
            founded_on: NaiveDate::from_ymd_opt(2010, 5, 1),
            state: Some("SP".into()),
            attributes: Attributes::from([("employees".into(), AttributeValue::Number(12.0))]),
        };
        let at = DateTime::from_timestamp_millis(0).expect("epoch");
        let record = IngestRecord::batch("co", "ds", "b1", at, &Batch::Customers(vec![customer]));
        assert!(record.stray_items().is_empty());
        assert_eq!(
            record.items_as_json(),
            vec![
                json!({"id": "C1", "document": "11222333000181", "simples_nacional": true,
                        "founded_on": "2010-05-01", "state": "SP", "attributes": {"employees": 12.0}})
            ]
        );
        assert_eq!(record.customers.len(), 1);
    }
}
