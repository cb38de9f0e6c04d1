//! A table of bad uploads: each gets its documented 4xx with the field path, and nothing of
//! any of them is stored.

use crate::common::Gateway;
use crate::ingest_support::{
    Dataset, create_dataset, ensure_ingest_processor, get_dataset, stored_rows,
};
use serde_json::{Value, json};

/// (case, endpoint segment, body, expected status, expected field path).
fn cases() -> Vec<(&'static str, &'static str, Value, u16, String)> {
    let data = Dataset::new(2, 1);
    let customer = data.customers[0].clone();
    let limit = data.credit_limits[0].clone();
    let report = data.bureau_reports[0].clone();
    let order = data.orders[0].clone();
    let with = |base: &Value, pointer: &str, value: Value| {
        let mut item = base.clone();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        let target = if parent.is_empty() {
            Some(&mut item)
        } else {
            item.pointer_mut(parent)
        };
        target
            .and_then(Value::as_object_mut)
            .expect("object")
            .insert(key.to_owned(), value);
        json!({"items": [item]})
    };
    let without = |base: &Value, key: &str| {
        let mut item = base.clone();
        item.as_object_mut().expect("object").remove(key);
        json!({"items": [item]})
    };
    let future = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let many_attributes: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
    let f = |s: &str| s.to_owned();
    vec![
        (
            "customer without id",
            "customers",
            without(&customer, "id"),
            422,
            f("items[0].id"),
        ),
        (
            "customer id empty",
            "customers",
            with(&customer, "/id", json!("")),
            422,
            f("items[0].id"),
        ),
        (
            "customer id a number",
            "customers",
            with(&customer, "/id", json!(7)),
            422,
            f("items[0].id"),
        ),
        (
            "customer id too long",
            "customers",
            with(&customer, "/id", json!("x".repeat(101))),
            422,
            f("items[0].id"),
        ),
        (
            "CNPJ check digits",
            "customers",
            with(&customer, "/document", json!("11222333000182")),
            422,
            f("items[0].document"),
        ),
        (
            "CPF check digits",
            "customers",
            with(&customer, "/document", json!("52998224726")),
            422,
            f("items[0].document"),
        ),
        (
            "document wrong length",
            "customers",
            with(&customer, "/document", json!("1234567")),
            422,
            f("items[0].document"),
        ),
        (
            "flag not a bool",
            "customers",
            with(&customer, "/simples_nacional", json!("yes")),
            422,
            f("items[0].simples_nacional"),
        ),
        (
            "founded_on not a date",
            "customers",
            with(&customer, "/founded_on", json!("01/05/2010")),
            422,
            f("items[0].founded_on"),
        ),
        (
            "unknown UF",
            "customers",
            with(&customer, "/state", json!("XX")),
            422,
            f("items[0].state"),
        ),
        (
            "unknown customer field",
            "customers",
            with(&customer, "/nickname", json!("Zé")),
            422,
            f("items[0].nickname"),
        ),
        (
            "51 attributes",
            "customers",
            with(&customer, "/attributes", Value::Object(many_attributes)),
            422,
            f("items[0].attributes"),
        ),
        (
            "attribute key upper case",
            "customers",
            with(&customer, "/attributes", json!({"Segment": "x"})),
            422,
            f("items[0].attributes.Segment"),
        ),
        (
            "attribute value object",
            "customers",
            with(&customer, "/attributes", json!({"nested": {"a": 1}})),
            422,
            f("items[0].attributes.nested"),
        ),
        (
            "attribute text too long",
            "customers",
            with(&customer, "/attributes", json!({"note": "x".repeat(201)})),
            422,
            f("items[0].attributes.note"),
        ),
        (
            "duplicate customer ids",
            "customers",
            json!({"items": [customer, customer]}),
            422,
            f("items[1].id"),
        ),
        (
            "limit without customer",
            "credit-limits",
            without(&limit, "customer_id"),
            422,
            f("items[0].customer_id"),
        ),
        (
            "negative limit",
            "credit-limits",
            with(&limit, "/limit", json!("-1.00")),
            422,
            f("items[0].limit"),
        ),
        (
            "limit with 3 decimals",
            "credit-limits",
            with(&limit, "/limit", json!("10.123")),
            422,
            f("items[0].limit"),
        ),
        (
            "limit not money",
            "credit-limits",
            with(&limit, "/limit", json!("abc")),
            422,
            f("items[0].limit"),
        ),
        (
            "report without queried_at",
            "bureau-reports",
            without(&report, "queried_at"),
            422,
            f("items[0].queried_at"),
        ),
        (
            "negative inquiries",
            "bureau-reports",
            with(&report, "/inquiries", json!(-1)),
            422,
            f("items[0].inquiries"),
        ),
        (
            "fractional inquiries",
            "bureau-reports",
            with(&report, "/inquiries", json!(1.5)),
            422,
            f("items[0].inquiries"),
        ),
        (
            "score over 1000",
            "bureau-reports",
            with(&report, "/score", json!(1001)),
            422,
            f("items[0].score"),
        ),
        (
            "fraction over 1",
            "bureau-reports",
            with(&report, "/payment_habits/on_time", json!(1.5)),
            422,
            f("items[0].payment_habits.on_time"),
        ),
        (
            "habits sum over 1",
            "bureau-reports",
            with(&report, "/payment_habits/cash", json!(0.5)),
            422,
            f("items[0].payment_habits"),
        ),
        (
            "negative count not a number",
            "bureau-reports",
            with(&report, "/negatives/pefin", json!({"count": "x"})),
            422,
            f("items[0].negatives.pefin.count"),
        ),
        (
            "negative total below zero",
            "bureau-reports",
            with(
                &report,
                "/negatives/pefin",
                json!({"count": 1, "total": -5}),
            ),
            422,
            f("items[0].negatives.pefin.total"),
        ),
        (
            "order without amount",
            "orders",
            without(&order, "amount"),
            422,
            f("items[0].amount"),
        ),
        (
            "unknown outcome",
            "orders",
            with(&order, "/outcome", json!("maybe")),
            422,
            f("items[0].outcome"),
        ),
        (
            "order from the future",
            "orders",
            with(&order, "/issued_at", json!(future)),
            422,
            f("items[0].issued_at"),
        ),
        (
            "zero installments",
            "orders",
            with(&order, "/installments", json!(0)),
            422,
            f("items[0].installments"),
        ),
        (
            "payment term too long",
            "orders",
            with(&order, "/payment_term_days", json!(5000)),
            422,
            f("items[0].payment_term_days"),
        ),
        (
            "empty batch",
            "orders",
            json!({"items": []}),
            422,
            f("items"),
        ),
        (
            "items not an array",
            "orders",
            json!({"items": {"id": "O1"}}),
            400,
            f("items"),
        ),
        ("no items field", "orders", json!({}), 400, String::new()),
        (
            "extra top-level field",
            "orders",
            json!({"items": [order], "dataset": "x"}),
            400,
            f("dataset"),
        ),
    ]
}

#[tokio::test]
async fn every_bad_upload_gets_its_status_and_field_and_nothing_is_stored() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let cases = cases();
    assert!(cases.len() >= 30);
    for (case, segment, body, status, field) in cases {
        let response = gateway
            .http
            .post(gateway.url(&format!("/v1/datasets/{dataset}/{segment}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), status, "{case}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{case}"
        );
        let problem: Value = response.json().await.expect("json");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field.as_str()),
            "{case}: expected {field:?} in {fields:?}: {problem}"
        );
        assert!(
            problem["errors"].as_array().is_some_and(|e| e
                .iter()
                .all(|e| e["reason"].as_str().is_some_and(|r| !r.is_empty()))),
            "{case}"
        );
    }
    // Transport-level refusals.
    let url = gateway.url(&format!("/v1/datasets/{dataset}/orders"));
    let raw = |body: String, content_type: &'static str| {
        gateway
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_eq!(
        raw("{\"items\": [".into(), "application/json")
            .await
            .expect("request")
            .status(),
        400
    );
    assert_eq!(
        raw("{\"items\": []}".into(), "text/csv")
            .await
            .expect("request")
            .status(),
        415
    );
    let bad_key = gateway
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("idempotency-key", "spaces are not allowed")
        .json(&json!({"items": [Dataset::new(1, 1).orders[0]]}))
        .send()
        .await
        .expect("request");
    assert_eq!(bad_key.status(), 400);
    let huge = format!(
        "{{\"items\": [\"{}\"]}}",
        "x".repeat(aval_gateway::BODY_LIMIT_BYTES)
    );
    assert_eq!(
        raw(huge, "application/json")
            .await
            .expect("request")
            .status(),
        413
    );
    let no_such_kind = gateway
        .http
        .post(gateway.url(&format!("/v1/datasets/{dataset}/invoices")))
        .bearer_auth(&token)
        .json(&json!({"items": []}))
        .send()
        .await
        .expect("request");
    assert_eq!(no_such_kind.status(), 404);

    assert_eq!(stored_rows(&dataset).await, [0, 0, 0, 0]);
    let (_, view) = get_dataset(&gateway, &token, &dataset).await;
    assert_eq!(
        view["counts"]["received"],
        json!({"customers": 0, "orders": 0, "credit_limits": 0, "bureau_reports": 0})
    );
}
