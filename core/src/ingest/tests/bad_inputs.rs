//! Each kind of bad input, reported at its own path.

use super::*;
use serde_json::{Value, json};

/// Each bad input, placed after a valid item, yields exactly one error at the expected path.
#[test]
fn each_bad_input_is_reported_at_its_path() {
    use ItemKind::*;
    let long_id = "x".repeat(MAX_ID_CHARS + 1);
    let cases: Vec<(ItemKind, Value, &str)> = vec![
        (Customers, json!({"id": ""}), "items[1].id"),
        (Customers, json!({"id": " C2"}), "items[1].id"),
        (Customers, json!({"id": 42}), "items[1].id"),
        (Customers, json!({"id": long_id}), "items[1].id"),
        (Customers, json!({"id": "C\u{7}2"}), "items[1].id"),
        (Customers, json!({"id": "C\u{0}2"}), "items[1].id"),
        (Customers, json!({"id": "C\u{85}2"}), "items[1].id"),
        (Customers, json!({"id": "C\t2"}), "items[1].id"),
        (Customers, json!({"id": "C\u{202E}2"}), "items[1].id"),
        (Customers, json!({"id": "C\u{200B}2"}), "items[1].id"),
        (Customers, json!({"id": "C\u{E0041}2"}), "items[1].id"),
        (
            Orders,
            json!({"customer_id": "C\u{FEFF}1"}),
            "items[1].customer_id",
        ),
        (Orders, json!({"amount": "12.50\u{0}"}), "items[1].amount"),
        (
            Orders,
            json!({"issued_at": "2024-03-05\n"}),
            "items[1].issued_at",
        ),
        (
            Customers,
            json!({"attributes": {"segment": "retail\u{0}"}}),
            "items[1].attributes.segment",
        ),
        (
            Customers,
            json!({"attributes": {"segment": "retail\r\n"}}),
            "items[1].attributes.segment",
        ),
        (
            Customers,
            json!({"document": format!("{}1", "1".repeat(MAX_FORMATTED_CHARS))}),
            "items[1].document",
        ),
        (Customers, json!({"id": null}), "items[1].id"),
        (
            Customers,
            json!({"document": "11222333000182"}),
            "items[1].document",
        ),
        (
            Customers,
            json!({"document": "11111111111111"}),
            "items[1].document",
        ),
        (Customers, json!({"document": "123"}), "items[1].document"),
        (
            Customers,
            json!({"document": 52998224725u64}),
            "items[1].document",
        ),
        (
            Customers,
            json!({"simples_nacional": "yes"}),
            "items[1].simples_nacional",
        ),
        (Customers, json!({"mei": 1}), "items[1].mei"),
        (
            Customers,
            json!({"final_consumer": "false"}),
            "items[1].final_consumer",
        ),
        (Customers, json!({"state": "XX"}), "items[1].state"),
        (
            Customers,
            json!({"founded_on": "2010-13-01"}),
            "items[1].founded_on",
        ),
        (
            Customers,
            json!({"founded_on": "1899-12-31"}),
            "items[1].founded_on",
        ),
        (
            Customers,
            json!({"founded_on": "2030-01-01"}),
            "items[1].founded_on",
        ),
        (Customers, json!({"customerId": "x"}), "items[1].customerId"),
        (
            Customers,
            json!({"attributes": {"Segment": "x"}}),
            "items[1].attributes.Segment",
        ),
        (
            Customers,
            json!({"attributes": {"segment": null}}),
            "items[1].attributes.segment",
        ),
        (
            Customers,
            json!({"attributes": {"tags": [1]}}),
            "items[1].attributes.tags",
        ),
        (
            Customers,
            json!({"attributes": "retail"}),
            "items[1].attributes",
        ),
        (Orders, json!({"amount": -1}), "items[1].amount"),
        (Orders, json!({"amount": 1.005}), "items[1].amount"),
        (Orders, json!({"amount": "12,50"}), "items[1].amount"),
        (Orders, json!({"amount": "1e3"}), "items[1].amount"),
        (Orders, json!({"amount": 1e14}), "items[1].amount"),
        (Orders, json!({"amount": null}), "items[1].amount"),
        (Orders, json!({"amount": "<remove>"}), "items[1].amount"),
        (
            Orders,
            json!({"issued_at": "2024-03-05T12:00:00"}),
            "items[1].issued_at",
        ),
        (
            Orders,
            json!({"issued_at": "2024-06-17T00:00:00Z"}),
            "items[1].issued_at",
        ),
        (
            Orders,
            json!({"issued_at": "<remove>"}),
            "items[1].issued_at",
        ),
        (
            Orders,
            json!({"payment_term_days": 3651}),
            "items[1].payment_term_days",
        ),
        (
            Orders,
            json!({"payment_term_days": 30.5}),
            "items[1].payment_term_days",
        ),
        (
            Orders,
            json!({"payment_term_days": -30}),
            "items[1].payment_term_days",
        ),
        (Orders, json!({"installments": 0}), "items[1].installments"),
        (
            Orders,
            json!({"installments": "3"}),
            "items[1].installments",
        ),
        (Orders, json!({"outcome": "rejected"}), "items[1].outcome"),
        (Orders, json!({"outcome": true}), "items[1].outcome"),
        (Orders, json!({"customer_id": ""}), "items[1].customer_id"),
        (
            Orders,
            json!({"customer_id": "<remove>"}),
            "items[1].customer_id",
        ),
        (
            Orders,
            json!({"attributes": {"score": {"a": 1}}}),
            "items[1].attributes.score",
        ),
        (CreditLimits, json!({"limit": "-5"}), "items[1].limit"),
        (CreditLimits, json!({"limit": true}), "items[1].limit"),
        (
            CreditLimits,
            json!({"valid_from": "01/01/2024"}),
            "items[1].valid_from",
        ),
        (
            CreditLimits,
            json!({"valid_from": "<remove>"}),
            "items[1].valid_from",
        ),
        (CreditLimits, json!({"extra": 1}), "items[1].extra"),
        (BureauReports, json!({"score": 1001}), "items[1].score"),
        (BureauReports, json!({"score": 650.5}), "items[1].score"),
        (
            BureauReports,
            json!({"inquiries": -1}),
            "items[1].inquiries",
        ),
        (
            BureauReports,
            json!({"queried_at": 1_709_287_200}),
            "items[1].queried_at",
        ),
        (
            BureauReports,
            json!({"payment_habits": {"on_time": 1.2}}),
            "items[1].payment_habits.on_time",
        ),
        (
            BureauReports,
            json!({"payment_habits": {"on_time": 80}}),
            "items[1].payment_habits.on_time",
        ),
        (
            BureauReports,
            json!({"payment_habits": {"on_time": 0.9, "cash": 0.2}}),
            "items[1].payment_habits",
        ),
        (
            BureauReports,
            json!({"payment_habits": {"ontime": 0.9}}),
            "items[1].payment_habits.ontime",
        ),
        (
            BureauReports,
            json!({"supplier_relationships": {"m0_6": -1}}),
            "items[1].supplier_relationships.m0_6",
        ),
        (
            BureauReports,
            json!({"supplier_relationships": {"y10_plus": 5_000_000_000u64}}),
            "items[1].supplier_relationships.y10_plus",
        ),
        (
            BureauReports,
            json!({"negatives": {"pefin": {"count": 1, "total": "12.345"}}}),
            "items[1].negatives.pefin.total",
        ),
        (
            BureauReports,
            json!({"negatives": {"pefin": {"count": -1}}}),
            "items[1].negatives.pefin.count",
        ),
        (
            BureauReports,
            json!({"negatives": {"cheques": {"count": 1}}}),
            "items[1].negatives.cheques",
        ),
        (
            BureauReports,
            json!({"negatives": {"refin": 3}}),
            "items[1].negatives.refin",
        ),
        (
            BureauReports,
            json!({"negatives": []}),
            "items[1].negatives",
        ),
    ];
    assert!(cases.len() >= 30);
    for (kind, patch, path) in &cases {
        let bad = patched(&minimal(*kind), patch);
        let valid = match kind {
            Customers => full_customer(),
            Orders => full_order(),
            CreditLimits => json!({"customer_id": "C1", "limit": 1, "valid_from": "2024-01-01"}),
            BureauReports => full_bureau_report(),
        };
        let errors = errors_of(*kind, &[valid, bad]);
        assert_eq!(fields(&errors), vec![*path], "{patch}: {errors}");
        let reason = &errors.iter().next().expect("one error").reason;
        assert!(!reason.is_empty(), "{patch}");
    }
}

#[test]
fn items_that_are_not_objects_are_reported_by_index() {
    let errors = errors_of(
        ItemKind::Orders,
        &[json!("O1"), json!(null), json!([1]), full_order()],
    );
    assert_eq!(fields(&errors), vec!["items[0]", "items[1]", "items[2]"]);
}
