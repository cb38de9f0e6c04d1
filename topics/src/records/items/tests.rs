//! Wire items are refused exactly as the same items sent as JSON, and valid ones come back
//! from the wire unchanged.

use super::*;
use crate::records::{CompletionWire, IngestContent, IngestKindWire, IngestRecord};
use aval_core::ingest::items::{
    AttributeValue, Attributes, ItemKind, NegativeRecord, Negatives, Outcome, PaymentHabits,
    SupplierRelationships,
};
use aval_core::ingest::{validate_batch, validate_counts};
use chrono::DateTime;
use serde_json::{Value, json};
use std::collections::HashMap;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-15T12:00:00Z")
        .expect("fixed now")
        .with_timezone(&Utc)
}

fn millis(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .timestamp_millis()
}

fn days(text: &str) -> i32 {
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date");
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    i32::try_from((day - epoch).num_days()).expect("in range")
}

fn record(kind: IngestKindWire) -> IngestRecord {
    IngestRecord {
        company_id: "co".into(),
        dataset_id: "ds".into(),
        batch_id: "b1".into(),
        produced_at: 0,
        kind,
        customers: Vec::new(),
        orders: Vec::new(),
        credit_limits: Vec::new(),
        bureau_reports: Vec::new(),
        completion: None,
    }
}

fn batch_errors(record: IngestRecord) -> FieldErrors {
    match record.into_content(now()) {
        IngestContent::Batch(_, Err(errors)) => errors,
        other => panic!("expected a refused batch, got {other:?}"),
    }
}

/// The wire batch is refused exactly as the same items sent as JSON to the gateway.
fn assert_refused_like_json(record: IngestRecord, kind: ItemKind, json: &[Value]) {
    let over_http = validate_batch(kind, json, now()).expect_err("invalid JSON");
    assert!(over_http.len() > 1, "{over_http}");
    assert_eq!(batch_errors(record).to_string(), over_http.to_string());
}

fn order(id: &str) -> OrderWire {
    OrderWire {
        id: id.into(),
        customer_id: "C1".into(),
        issued_at: millis("2024-03-05T12:00:00Z"),
        amount_cents: 1_500_000,
        payment_term_days: Some(30),
        installments: Some(1),
        attributes: HashMap::new(),
        outcome: Some(OrderOutcomeWire::Approved),
    }
}

fn text(t: &str) -> AttributeValueWire {
    AttributeValueWire {
        text: Some(t.into()),
        ..Default::default()
    }
}

#[test]
fn a_bad_order_is_refused_with_the_paths_and_reasons_of_the_http_path() {
    let mut record = record(IngestKindWire::Orders);
    record.orders = vec![
        OrderWire {
            id: " O1".into(),
            customer_id: String::new(),
            issued_at: millis("2024-06-17T12:00:00Z"),
            amount_cents: -5,
            payment_term_days: Some(4000),
            installments: Some(0),
            attributes: HashMap::from([
                ("Bad".to_owned(), text("x")),
                ("note".to_owned(), text("a\u{0}b")),
            ]),
            outcome: Some(OrderOutcomeWire::Approved),
        },
        order("O2"),
        order("O2"),
    ];
    let good = json!({"id": "O2", "customer_id": "C1", "issued_at": "2024-03-05T12:00:00Z",
                      "amount": "15000.00", "payment_term_days": 30, "installments": 1,
                      "attributes": {}, "outcome": "approved"});
    assert_refused_like_json(
        record,
        ItemKind::Orders,
        &[
            json!({"id": " O1", "customer_id": "", "issued_at": "2024-06-17T12:00:00Z",
                   "amount": "-0.05", "payment_term_days": 4000, "installments": 0,
                   "attributes": {"Bad": "x", "note": "a\u{0}b"}, "outcome": "approved"}),
            good.clone(),
            good,
        ],
    );
}

#[test]
fn a_bad_customer_and_credit_limit_are_refused_like_json() {
    let mut customers = record(IngestKindWire::Customers);
    customers.customers = vec![CustomerWire {
        id: "C1".into(),
        document: Some("123".into()),
        simples_nacional: None,
        mei: None,
        final_consumer: None,
        founded_on: Some(days("2030-01-01")),
        state: Some("XX".into()),
        attributes: HashMap::new(),
    }];
    assert_refused_like_json(
        customers,
        ItemKind::Customers,
        &[json!({"id": "C1", "document": "123", "founded_on": "2030-01-01", "state": "XX"})],
    );
    let mut limits = record(IngestKindWire::CreditLimits);
    limits.credit_limits = vec![CreditLimitWire {
        customer_id: "C1\n".into(),
        limit_cents: 1_000_000_000_000_001,
        valid_from: days("1899-12-31"),
    }];
    assert_refused_like_json(
        limits,
        ItemKind::CreditLimits,
        &[json!({"customer_id": "C1\n", "limit": "10000000000000.01",
                 "valid_from": "1899-12-31"})],
    );
}

#[test]
fn a_bad_bureau_report_is_refused_like_json_down_to_its_nested_parts() {
    let mut record = record(IngestKindWire::BureauReports);
    record.bureau_reports = vec![BureauReportWire {
        customer_id: "C1".into(),
        queried_at: millis("2024-03-01T10:00:00Z"),
        inquiries: Some(-1),
        score: Some(1001),
        payment_habits: Some(PaymentHabitsWire {
            on_time: Some(0.9),
            cash: Some(0.5),
            late_8_15: Some(80.0),
            ..Default::default()
        }),
        supplier_relationships: Some(SupplierRelationshipsWire {
            m0_6: Some(-2),
            ..Default::default()
        }),
        negatives: Some(NegativesWire {
            pefin: Some(NegativeRecordWire {
                count: Some(-1),
                total_cents: Some(-100),
            }),
            ..Default::default()
        }),
    }];
    assert_refused_like_json(
        record,
        ItemKind::BureauReports,
        &[
            json!({"customer_id": "C1", "queried_at": "2024-03-01T10:00:00Z",
                 "inquiries": -1, "score": 1001,
                 "payment_habits": {"on_time": 0.9, "cash": 0.5, "late_8_15": 80},
                 "supplier_relationships": {"m0_6": -2},
                 "negatives": {"pefin": {"count": -1, "total": "-1.00"}}}),
        ],
    );
}

#[test]
fn an_attribute_must_set_exactly_one_of_its_three_fields() {
    let mut record = record(IngestKindWire::Orders);
    let mut bad = order("O1");
    bad.attributes.insert(
        "both".into(),
        AttributeValueWire {
            number: Some(1.0),
            flag: Some(true),
            text: None,
        },
    );
    bad.attributes
        .insert("none".into(), AttributeValueWire::default());
    record.orders = vec![bad];
    let errors = batch_errors(record);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["items[0].attributes.both", "items[0].attributes.none"]
    );
}

#[test]
fn completion_counts_are_checked_like_json() {
    let mut record = record(IngestKindWire::Completion);
    record.completion = Some(CompletionWire {
        customers: -1,
        orders: 5_000_000_000,
        credit_limits: 0,
        bureau_reports: 3,
        copies: 1,
    });
    let IngestContent::Completion(Err(errors)) = record.clone().into_content(now()) else {
        panic!("refused counts");
    };
    let over_http = validate_counts(&json!({"customers": -1, "orders": 5_000_000_000u64,
                                            "credit_limits": 0, "bureau_reports": 3}))
    .expect_err("invalid");
    assert_eq!(errors, over_http);
    record.completion = None;
    let IngestContent::Completion(Err(errors)) = record.into_content(now()) else {
        panic!("no counts");
    };
    assert_eq!(errors.to_string(), "counts: is required");
}

#[test]
fn a_valid_item_of_each_kind_comes_back_from_the_wire_unchanged() {
    let order = Order {
        id: "O1".into(),
        customer_id: "C1".into(),
        issued_at: DateTime::from_timestamp_millis(millis("2024-03-05T12:00:00.123Z"))
            .expect("instant"),
        amount: Cents(1_500_029),
        payment_term_days: Some(30),
        installments: Some(3),
        attributes: Attributes::from([
            ("channel".into(), AttributeValue::Text("sales-rep".into())),
            ("weight".into(), AttributeValue::Number(1.5)),
            ("rush".into(), AttributeValue::Flag(true)),
        ]),
        outcome: Some(Outcome::Blocked),
    };
    assert_eq!(Order::try_from(OrderWire::from(&order)), Ok(order));
    let report = BureauReport {
        customer_id: "C1".into(),
        queried_at: DateTime::from_timestamp_millis(millis("2024-03-01T10:00:00Z"))
            .expect("instant"),
        inquiries: Some(4),
        score: Some(650),
        payment_habits: Some(PaymentHabits {
            on_time: Some(0.8),
            late_8_15: Some(0.1),
            ..Default::default()
        }),
        supplier_relationships: Some(SupplierRelationships {
            y1_3: Some(3),
            ..Default::default()
        }),
        negatives: Some(Negatives {
            pefin: Some(NegativeRecord {
                count: Some(2),
                total: Some(Cents(120_000)),
            }),
            ..Default::default()
        }),
    };
    assert_eq!(
        BureauReport::try_from(BureauReportWire::from(&report)),
        Ok(report)
    );
    let limit = CreditLimit {
        customer_id: "C1".into(),
        limit: Cents(5_000_000),
        valid_from: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
    };
    assert_eq!(
        CreditLimit::try_from(CreditLimitWire::from(&limit)),
        Ok(limit)
    );
}
