//! Rules over a whole batch: all errors at once, duplicates, size, the clock, counts.

use super::*;
use serde_json::{Value, json};

#[test]
fn every_error_of_every_item_is_reported_in_one_pass() {
    let items = vec![
        json!({"id": "O1", "customer_id": "C1", "issued_at": "2024-03-05", "amount": -1}),
        full_order(),
        json!({"id": "", "customer_id": " C1", "issued_at": "soon", "amount": "1.005",
               "installments": 0, "colour": "red"}),
        patched(&full_order(), &json!({"id": "O4"})),
        json!({"customer_id": "C1", "issued_at": "2024-03-05", "amount": 1}),
    ];
    let errors = errors_of(ItemKind::Orders, &items);
    assert_eq!(
        fields(&errors),
        vec![
            "items[0].amount",
            "items[2].colour",
            "items[2].id",
            "items[2].customer_id",
            "items[2].issued_at",
            "items[2].amount",
            "items[2].installments",
            "items[4].id",
        ]
    );
    assert!(errors.iter().all(|e| !e.reason.is_empty()));
}

#[test]
fn duplicate_keys_name_the_first_occurrence() {
    let c = |id: &str| json!({"id": id});
    let errors = errors_of(
        ItemKind::Customers,
        &[c("C1"), c("C2"), c("C1"), c("C3"), c("C1")],
    );
    let got: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("items[2].id", "duplicates items[0].id"),
            ("items[4].id", "duplicates items[0].id"),
        ]
    );

    // Orders: a duplicate is found even when the item has other errors.
    let errors = errors_of(
        ItemKind::Orders,
        &[
            full_order(),
            patched(&full_order(), &json!({"installments": 0})),
        ],
    );
    assert_eq!(
        fields(&errors),
        vec!["items[1].installments", "items[1].id"]
    );

    let limit = |day: &str| json!({"customer_id": "C1", "limit": 1, "valid_from": day});
    let errors = errors_of(
        ItemKind::CreditLimits,
        &[
            limit("2024-01-01"),
            limit("2024-02-01"),
            limit("2024-01-01"),
        ],
    );
    assert_eq!(fields(&errors), vec!["items[2].valid_from"]);
    assert!(
        errors
            .iter()
            .all(|e| e.reason.starts_with("duplicates items[0]"))
    );

    // The same instant written in two offsets is the same query.
    let report = |when: &str| json!({"customer_id": "C1", "queried_at": when});
    let errors = errors_of(
        ItemKind::BureauReports,
        &[
            report("2024-03-01T10:00:00-03:00"),
            report("2024-03-01T13:00:00Z"),
        ],
    );
    assert_eq!(fields(&errors), vec!["items[1].queried_at"]);

    // Same date, different customers: no conflict.
    let other = json!({"customer_id": "C2", "limit": 1, "valid_from": "2024-01-01"});
    assert!(validate_batch(ItemKind::CreditLimits, &[limit("2024-01-01"), other], now()).is_ok());
}

#[test]
fn batch_size_is_bounded() {
    let errors = errors_of(ItemKind::Customers, &[]);
    assert_eq!(fields(&errors), vec!["items"]);
    let too_many: Vec<Value> = (0..=MAX_BATCH_ITEMS)
        .map(|i| json!({"id": format!("C{i}")}))
        .collect();
    let errors = errors_of(ItemKind::Customers, &too_many);
    assert_eq!(fields(&errors), vec!["items"]);
    assert!(
        validate_batch(ItemKind::Customers, &too_many[..MAX_BATCH_ITEMS], now()).is_ok(),
        "exactly the maximum is fine"
    );
}

#[test]
fn the_future_is_measured_from_the_given_now() {
    let order = |when: &str| patched(&full_order(), &json!({"issued_at": when}));
    let late = [order("2024-06-16T11:59:59Z")];
    assert!(validate_batch(ItemKind::Orders, &late, now()).is_ok());
    assert!(validate_batch(ItemKind::Orders, &late, at("2024-06-15T11:59:58Z")).is_err());
    let errors = errors_of(ItemKind::Orders, &[order("2024-06-16T12:00:01Z")]);
    assert_eq!(fields(&errors), vec!["items[0].issued_at"]);
    assert!(errors.iter().all(|e| e.reason.contains("future")));
}

#[test]
fn single_items_take_a_path_prefix() {
    let errors = validate_order(&json!({"id": "O1"}), "order", now()).expect_err("incomplete");
    assert_eq!(
        fields(&errors),
        vec!["order.customer_id", "order.issued_at", "order.amount"]
    );
    let errors =
        validate_customer(&json!({"id": "C1", "state": "ZZ"}), "", now()).expect_err("bad UF");
    assert_eq!(fields(&errors), vec!["state"]);
    assert!(validate_credit_limit(&json!({}), "credit_limit", now()).is_err());
    assert!(validate_bureau_report(&full_bureau_report(), "bureau_report", now()).is_ok());
}

#[test]
fn counts_are_validated() {
    let counts = validate_counts(
        &json!({"customers": 10, "orders": 1000, "credit_limits": 0, "bureau_reports": 7}),
    )
    .expect("valid");
    assert_eq!(
        counts,
        Counts {
            customers: 10,
            orders: 1000,
            credit_limits: 0,
            bureau_reports: 7
        }
    );
    let errors =
        validate_counts(&json!({"customers": -1, "orders": 1.5, "credit_limits": "3", "extra": 1}))
            .expect_err("bad counts");
    assert_eq!(
        fields(&errors),
        vec![
            "counts.extra",
            "counts.customers",
            "counts.orders",
            "counts.credit_limits",
            "counts.bureau_reports",
        ]
    );
    // A whole number is one however it is written (JSON Schema's `integer`), and each count
    // is within u32 like every other count.
    let counts = validate_counts(
        &json!({"customers": 1114.0, "orders": 3e2, "credit_limits": 0, "bureau_reports": 4294967295_u64}),
    )
    .expect("whole numbers");
    assert_eq!((counts.customers, counts.orders), (1114, 300));
    let errors = validate_counts(
        &json!({"customers": 7e34, "orders": 4294967296_u64, "credit_limits": 0, "bureau_reports": 0}),
    )
    .expect_err("too large");
    assert_eq!(fields(&errors), vec!["counts.customers", "counts.orders"]);
    let errors = validate_counts(&json!([1, 2])).expect_err("not an object");
    assert_eq!(fields(&errors), vec!["counts"]);
    let errors = validate_counts(&Value::Null).expect_err("missing");
    assert_eq!(fields(&errors), vec!["counts"]);
}
