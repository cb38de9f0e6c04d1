//! Company pre-registration: persisted, audited, unique by email, every bad input refused with
//! its field.

use crate::common::{self, DEADLINE, Gateway};
use aval_topics::TopicRole;
use aval_topics::records::AuditEventRecord;
use rdkafka::Message;
use serde_json::{Value, json};
use std::time::Instant;

#[tokio::test]
async fn registration_is_persisted_and_the_token_reads_the_company() {
    let gateway = Gateway::start().await;
    let email = format!("Financeiro+{}@Example.COM", uuid::Uuid::new_v4().simple());
    let response = gateway
        .http
        .post(gateway.url("/v1/companies"))
        .json(&json!({"name": "  Comercial Alfa S.A. ", "email": email}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], "/v1/companies/me");
    let body: Value = response.json().await.expect("json");
    let company_id: uuid::Uuid = body["company_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let token = body["token"].as_str().expect("token");

    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let (name, stored_email): (String, String) =
        sqlx::query_as("SELECT name, email FROM companies WHERE id = $1")
            .bind(company_id)
            .fetch_one(&pool)
            .await
            .expect("company row");
    assert_eq!(name, "Comercial Alfa S.A.");
    assert_eq!(stored_email, email.to_lowercase());

    let me: Value = gateway
        .http
        .get(gateway.url("/v1/companies/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(me["company_id"], company_id.to_string());
    assert_eq!(me["name"], "Comercial Alfa S.A.");
    assert_eq!(me["email"], email.to_lowercase());
    assert!(
        me["registered_at"]
            .as_str()
            .is_some_and(|t| t.contains('T'))
    );
}

#[tokio::test]
async fn a_second_registration_with_the_same_email_is_a_conflict() {
    let gateway = Gateway::start().await;
    let email = format!("dup+{}@example.com", uuid::Uuid::new_v4().simple());
    let first = gateway
        .http
        .post(gateway.url("/v1/companies"))
        .json(&json!({"name": "First", "email": email}))
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 201);
    let second = gateway
        .http
        .post(gateway.url("/v1/companies"))
        .json(&json!({"name": "Second", "email": email.to_uppercase()}))
        .send()
        .await
        .expect("request");
    assert_eq!(second.status(), 409);
    assert_eq!(second.headers()["content-type"], "application/problem+json");
    let problem: Value = second.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "email");

    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM companies WHERE email = $1")
        .bind(email.to_lowercase())
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[tokio::test]
async fn bad_registrations_name_the_field_and_store_nothing() {
    let gateway = Gateway::start().await;
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let email = |tag: &str| format!("{tag}-{marker}@example.com");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "missing name",
            json!({"email": email("a")}).to_string(),
            422,
            "name",
        ),
        (
            "blank name",
            json!({"name": "  ", "email": email("b")}).to_string(),
            422,
            "name",
        ),
        (
            "name too long",
            json!({"name": "x".repeat(201), "email": email("c")}).to_string(),
            422,
            "name",
        ),
        (
            "missing email",
            json!({"name": "Acme"}).to_string(),
            422,
            "email",
        ),
        (
            "email without @",
            json!({"name": "Acme", "email": "nope"}).to_string(),
            422,
            "email",
        ),
        (
            "email without domain dot",
            json!({"name": "Acme", "email": "a@localhost"}).to_string(),
            422,
            "email",
        ),
        (
            "name not a string",
            json!({"name": 5, "email": email("d")}).to_string(),
            400,
            "name",
        ),
        (
            "unknown field",
            json!({"name": "Acme", "email": email("e"), "plan": "gold"}).to_string(),
            400,
            "plan",
        ),
        ("not JSON", "{name: acme".to_owned(), 400, ""),
        (
            "trailing garbage",
            format!("{} x", json!({"name": "Acme", "email": email("f")})),
            400,
            "",
        ),
    ];
    for (case, body, status, field) in cases {
        let response = gateway
            .http
            .post(gateway.url("/v1/companies"))
            .header("content-type", "application/json")
            .body(body)
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
        assert_eq!(problem["status"], status, "{case}");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field),
            "{case}: fields {fields:?} lack {field:?}: {problem}"
        );
    }
    let wrong_type = gateway
        .http
        .post(gateway.url("/v1/companies"))
        .header("content-type", "text/plain")
        .body(json!({"name": "Acme", "email": email("g")}).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_type.status(), 415);
    let huge = gateway
        .http
        .post(gateway.url("/v1/companies"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"name\": \"{}\"}}",
            "x".repeat(aval_gateway::BODY_LIMIT_BYTES)
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(huge.status(), 413);

    let pool = sqlx::PgPool::connect(&common::stack().database_url)
        .await
        .expect("db");
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM companies WHERE email LIKE $1")
        .bind(format!("%{marker}%"))
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 0, "a refused registration left a row");
}

#[tokio::test]
async fn registration_publishes_a_company_registered_audit_event() {
    let gateway = Gateway::start().await;
    let catalogue = common::catalogue().await;
    let audit = catalogue.topic(TopicRole::Audit);
    let consumer = common::consumer_from_start(&audit.name);
    let (company_id, _) = gateway.register().await;
    let codec = common::codec();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < DEADLINE,
            "no company.registered event for {company_id}"
        );
        let Ok(Ok(message)) = tokio::time::timeout(DEADLINE, consumer.recv()).await else {
            continue;
        };
        if message.key() != Some(company_id.as_bytes()) {
            continue;
        }
        let event: AuditEventRecord = codec
            .decode(message.payload().expect("payload"))
            .await
            .expect("decode");
        assert_eq!(event.kind, "company.registered");
        assert_eq!(event.company_id, company_id);
        assert_eq!(event.actor, format!("company:{company_id}"));
        assert_eq!(
            event.details.get("name").map(String::as_str),
            Some("Acme Distribuidora Ltda")
        );
        break;
    }
}
