//! What cannot be stored or shown safely is refused at the door with the field and the
//! position: controls everywhere, format characters (bidi overrides, zero-width) in ids and
//! names, lone surrogates in the JSON text. Nothing of a refused request is stored.

use crate::common::Gateway;
use crate::ingest_support::{Dataset, create_dataset, post_batch, stored_rows};
use serde_json::{Value, json};

fn first_error(problem: &Value) -> (String, String) {
    let error = &problem["errors"][0];
    (
        error["field"].as_str().unwrap_or_default().to_owned(),
        error["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn unsafe_characters_are_refused_with_field_and_position_and_nothing_is_stored() {
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(1, 1);
    let mut nul_value = data.customers[0].clone();
    nul_value["attributes"] = json!({"segment": "varejo\u{0}"});
    let mut bidi_id = data.customers[0].clone();
    bidi_id["id"] = json!("C\u{202E}1");
    let mut newline_id = data.orders[0].clone();
    newline_id["customer_id"] = json!("C1\n");
    let cases = [
        (
            "customers",
            nul_value,
            "items[0].attributes.segment",
            "contains a control character (U+0000) at position 6",
        ),
        (
            "customers",
            bidi_id,
            "items[0].id",
            "contains an invisible format character, not allowed in ids and names, (U+202E) at position 1",
        ),
        (
            "orders",
            newline_id,
            "items[0].customer_id",
            "contains a tab or line break (U+000A) at position 2",
        ),
    ];
    for (segment, item, field, reason) in cases {
        let (status, problem) =
            post_batch(&gateway, &token, &dataset, segment, &[item], None).await;
        assert_eq!(status, 422, "{field}: {problem}");
        assert_eq!(first_error(&problem), (field.to_owned(), reason.to_owned()));
    }

    let lone_surrogate = gateway
        .http
        .post(gateway.url(&format!("/v1/datasets/{dataset}/customers")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"items": [{"id": "C\ud800"}]}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(lone_surrogate.status(), 400);
    let problem: Value = lone_surrogate.json().await.expect("json");
    let (field, reason) = first_error(&problem);
    assert_eq!(field, "items[0].id");
    assert!(
        reason.starts_with("contains a lone surrogate escape"),
        "{reason}"
    );

    let decision = gateway
        .http
        .post(gateway.url("/v1/decisions"))
        .bearer_auth(&token)
        .json(&json!({"order": {
            "id": "O\u{200B}1", "customer_id": "C1",
            "issued_at": "2024-03-01T10:00:00Z", "amount": "100.00"
        }}))
        .send()
        .await
        .expect("request");
    assert_eq!(decision.status(), 422);
    let problem: Value = decision.json().await.expect("json");
    assert_eq!(first_error(&problem).0, "order.id");

    assert_eq!(stored_rows(&dataset).await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn a_company_name_with_a_bidi_override_is_refused() {
    let gateway = Gateway::start().await;
    let response = gateway
        .http
        .post(gateway.url("/v1/companies"))
        .json(&json!({
            "name": "Distribuidora \u{202E}adtL",
            "email": format!("credit+{}@example.com.br", uuid::Uuid::new_v4().simple()),
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(
        first_error(&problem),
        (
            "name".to_owned(),
            "contains an invisible format character, not allowed in ids and names, (U+202E) at position 14".to_owned()
        )
    );
}
