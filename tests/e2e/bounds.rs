//! What the gateway gives back and keeps is bounded, whatever a client sends: a 422 lists at
//! most 100 errors and counts the rest; decisions and uploads beyond the in-flight limits are
//! refused at once; and a batch as large as the body limit allows goes through Kafka whole.

use crate::common::{DEADLINE, Gateway, app_state, stack};
use crate::ingest_support::{
    Dataset, create_dataset, ensure_ingest_processor, post_batch, stored_rows,
};
use aval_core::ingest::{MAX_ATTRIBUTE_TEXT_CHARS, MAX_ATTRIBUTES};
use aval_gateway::admission::{Admission, Limits};
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test]
async fn a_batch_of_five_thousand_bad_fields_gets_a_short_answer_that_counts_them() {
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    // Ten bad fields per order, 500 orders: 5,000 errors from a ~200 KB body.
    let bad_order = json!({
        "id": "", "customer_id": "", "issued_at": "yesterday", "amount": -1,
        "payment_term_days": -1, "installments": 0, "outcome": "maybe",
        "attributes": {"Segment": "x"}, "unknown": 1,
        "unknown_padding_to_make_the_body_large": "x".repeat(250),
    });
    let items: Vec<Value> = (0..500).map(|_| bad_order.clone()).collect();
    let body = json!({"items": items}).to_string();
    assert!(body.len() > 150_000, "{} bytes", body.len());
    let response = gateway
        .http
        .post(gateway.url(&format!("/v1/datasets/{dataset}/orders")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let answer = response.bytes().await.expect("body");
    assert!(answer.len() < 30_000, "{} bytes", answer.len());
    let problem: Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(problem["error_count"], 5_000, "{problem}");
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(100));
    assert_eq!(
        problem["detail"],
        "5000 invalid field(s); the first 100 are listed in errors"
    );
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    // Item order: the first ten items' errors are the ones listed.
    assert!(
        fields[..10].iter().all(|f| f.starts_with("items[0].")),
        "{fields:?}"
    );
    assert!(
        fields[90..].iter().all(|f| f.starts_with("items[9].")),
        "{fields:?}"
    );
    assert_eq!(stored_rows(&dataset).await, [0, 0, 0, 0]);
}

/// The limits are wired to the real routes, after authentication: with no room at all, every
/// decision is refused at once with `Retry-After` and every upload batch gets 429, while other
/// calls and unauthenticated requests get their usual answers.
#[tokio::test]
async fn decisions_and_uploads_are_shed_with_retry_after_when_there_is_no_room() {
    let mut state = app_state(&stack().schema_registry_url).await;
    state.admission = Arc::new(Admission::new(Limits {
        decisions: 0,
        decisions_per_company: 0,
        uploads_per_company: 0,
    }));
    let gateway = Gateway::start_with(state).await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let order = json!({"id": "O1", "customer_id": "C1", "issued_at": "2024-03-01T10:00:00Z", "amount": "10.00"});
    for (path, body, status, limit) in [
        (
            "/v1/decisions",
            json!({"order": order}),
            503,
            "decisions_per_company",
        ),
        (
            "/v1/decisions/batch",
            json!({"orders": [order]}),
            503,
            "decisions_per_company",
        ),
        (
            &format!("/v1/datasets/{dataset}/customers") as &str,
            json!({"items": [{"id": "C1"}]}),
            429,
            "uploads_per_company",
        ),
    ] {
        let response = gateway
            .http
            .post(gateway.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(response.headers()["retry-after"], "1", "{path}");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["limit"], limit, "{path}: {problem}");
        let anonymous = gateway
            .http
            .post(gateway.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(anonymous.status(), 401, "{path}");
    }
    let models = gateway
        .http
        .get(gateway.url("/v1/models"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(models.status(), 200);
    assert_eq!(stored_rows(&dataset).await, [0, 0, 0, 0]);
}

/// A batch of 3 MiB, three times Kafka's default record limit, is accepted, produced and
/// stored: the ingest topic carries the catalogue's `max.message.bytes`. The attribute texts
/// are random, so the producer's compression cannot shrink the record under 1 MiB.
#[tokio::test]
async fn a_three_mebibyte_batch_is_stored_whole() {
    ensure_ingest_processor();
    let gateway = Gateway::start().await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let random_text = || {
        let mut text = String::new();
        while text.len() < MAX_ATTRIBUTE_TEXT_CHARS {
            text.push_str(&uuid::Uuid::new_v4().simple().to_string());
        }
        text.truncate(MAX_ATTRIBUTE_TEXT_CHARS);
        text
    };
    let mut customers = Dataset::new(300, 0).customers;
    for customer in &mut customers {
        let attributes: serde_json::Map<String, Value> = (0..MAX_ATTRIBUTES)
            .map(|n| (format!("note_{n}"), Value::String(random_text())))
            .collect();
        customer["attributes"] = Value::Object(attributes);
    }
    let size = serde_json::to_vec(&json!({"items": customers}))
        .expect("json")
        .len();
    assert!(
        (3 << 20..aval_gateway::BODY_LIMIT_BYTES).contains(&size),
        "the body is {size} bytes"
    );

    let (status, body) =
        post_batch(&gateway, &token, &dataset, "customers", &customers, None).await;
    assert_eq!(status, 202, "{body}");
    let started = std::time::Instant::now();
    while stored_rows(&dataset).await != [300, 0, 0, 0] {
        assert!(started.elapsed() < DEADLINE, "the batch was not stored");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
