//! A valid item of each kind becomes exactly the expected struct.

use super::*;
use serde_json::json;

#[test]
fn a_full_customer_round_trips() {
    let batch = validate_batch(ItemKind::Customers, &[full_customer()], now()).expect("valid");
    let Batch::Customers(customers) = batch else {
        panic!("wrong kind")
    };
    let mut attributes = Attributes::new();
    attributes.insert("segment".into(), AttributeValue::Text("retail".into()));
    attributes.insert("employees".into(), AttributeValue::Number(12.0));
    assert_eq!(
        customers,
        vec![Customer {
            id: "C1".into(),
            document: Some("11222333000181".into()),
            simples_nacional: Some(true),
            mei: Some(false),
            final_consumer: Some(false),
            founded_on: Some(ymd(2010, 5, 1)),
            state: Some("SP".into()),
            attributes,
        }]
    );
}

#[test]
fn a_full_order_round_trips_with_exact_cents() {
    let batch = validate_batch(ItemKind::Orders, &[full_order()], now()).expect("valid");
    let Batch::Orders(orders) = batch else {
        panic!("wrong kind")
    };
    let mut attributes = Attributes::new();
    attributes.insert("channel".into(), AttributeValue::Text("sales-rep".into()));
    assert_eq!(
        orders,
        vec![Order {
            id: "O1".into(),
            customer_id: "C1".into(),
            issued_at: at("2024-03-05T12:00:00Z"),
            amount: Cents(1_500_000),
            payment_term_days: Some(30),
            installments: Some(1),
            attributes,
            outcome: Some(Outcome::Approved),
        }]
    );
}

#[test]
fn a_credit_limit_round_trips() {
    let item = json!({"customer_id": "C1", "limit": "50000.00", "valid_from": "2024-01-01"});
    let batch = validate_batch(ItemKind::CreditLimits, &[item], now()).expect("valid");
    assert_eq!(
        batch,
        Batch::CreditLimits(vec![CreditLimit {
            customer_id: "C1".into(),
            limit: Cents(5_000_000),
            valid_from: ymd(2024, 1, 1),
        }])
    );
}

#[test]
fn a_full_bureau_report_round_trips() {
    let batch =
        validate_batch(ItemKind::BureauReports, &[full_bureau_report()], now()).expect("valid");
    let zero = || {
        Some(NegativeRecord {
            count: Some(0),
            total: None,
        })
    };
    let zero_total = || {
        Some(NegativeRecord {
            count: Some(0),
            total: Some(Cents(0)),
        })
    };
    assert_eq!(
        batch,
        Batch::BureauReports(vec![BureauReport {
            customer_id: "C1".into(),
            queried_at: at("2024-03-01T10:00:00Z"),
            inquiries: Some(4),
            score: Some(650),
            payment_habits: Some(PaymentHabits {
                on_time: Some(0.80),
                cash: Some(0.05),
                late_8_15: Some(0.10),
                late_16_30: Some(0.03),
                late_31_60: Some(0.02),
                late_over_60: Some(0.0),
            }),
            supplier_relationships: Some(SupplierRelationships {
                m0_6: Some(1),
                m6_12: Some(2),
                y1_3: Some(3),
                y3_5: Some(0),
                y5_10: Some(0),
                y10_plus: Some(0),
                inactive: Some(1),
            }),
            negatives: Some(Negatives {
                pefin: Some(NegativeRecord {
                    count: Some(1),
                    total: Some(Cents(120_000)),
                }),
                refin: zero_total(),
                overdue_debts: zero_total(),
                bankruptcy: zero(),
                bounced_cheques: zero(),
                represented_cheques: zero(),
                bankruptcy_participation: zero(),
            }),
        }])
    );
}

#[test]
fn nulls_and_alternative_forms_are_accepted() {
    let customer = json!({"id": "C9", "document": "11.222.333/0001-81", "state": "rj",
                          "mei": null, "founded_on": "2010-05-01T23:30:00-03:00",
                          "attributes": null});
    let batch = validate_batch(ItemKind::Customers, &[customer], now()).expect("valid");
    let Batch::Customers(c) = batch else {
        panic!("wrong kind")
    };
    assert_eq!(c[0].document.as_deref(), Some("11222333000181"));
    assert_eq!(c[0].state.as_deref(), Some("RJ"));
    assert_eq!(c[0].mei, None);
    assert_eq!(c[0].founded_on, Some(ymd(2010, 5, 2)));
    assert!(c[0].attributes.is_empty());

    let order = patched(
        &minimal(ItemKind::Orders),
        &json!({"issued_at": "2024-03-05", "amount": "0.29", "outcome": null}),
    );
    let Batch::Orders(o) = validate_batch(ItemKind::Orders, &[order], now()).expect("valid") else {
        panic!("wrong kind")
    };
    assert_eq!(o[0].issued_at, at("2024-03-05T00:00:00Z"));
    assert_eq!(o[0].amount, Cents(29));
    assert_eq!(o[0].outcome, None);
}
