//! An Avro record through the real registry and broker: produced framed, consumed, decoded and
//! compared field by field.

use crate::common::{self, DEADLINE};
use aval_topics::TopicRole;
use aval_topics::records::AuditEventRecord;
use rdkafka::Message;
use std::collections::BTreeMap;
use std::time::Instant;

#[tokio::test]
async fn an_audit_event_round_trips_through_registry_and_broker() {
    let catalogue = common::catalogue().await;
    let topic = catalogue.topic(TopicRole::Audit);
    let codec = common::codec();
    let publisher = common::publisher();
    let company_id = uuid::Uuid::new_v4().to_string();
    let sent = AuditEventRecord {
        event_id: uuid::Uuid::now_v7().to_string(),
        company_id: company_id.clone(),
        kind: "company.registered".to_owned(),
        occurred_at: 1_764_246_896_123,
        actor: format!("company:{company_id}"),
        details: BTreeMap::from([
            ("name".to_owned(), "Çedilha & Acentuação Ltda".to_owned()),
            ("empty".to_owned(), String::new()),
        ]),
    };
    let delivered = publisher
        .publish(topic, &company_id, &sent, &[("trace", b"round-trip")])
        .await
        .expect("produce");

    let consumer = common::consumer_from_start(&topic.name);
    let started = Instant::now();
    let message = loop {
        assert!(started.elapsed() < DEADLINE, "the record never arrived");
        let Ok(Ok(message)) = tokio::time::timeout(DEADLINE, consumer.recv()).await else {
            continue;
        };
        if message.key() == Some(company_id.as_bytes()) {
            break message.detach();
        }
    };
    assert_eq!(message.partition(), delivered.partition);
    assert_eq!(message.offset(), delivered.offset);

    let payload = message.payload().expect("payload");
    assert_eq!(payload[0], 0, "Confluent magic byte");
    let framed_id = u32::from_be_bytes(payload[1..5].try_into().expect("id bytes"));
    let registered_id = codec.register(topic).await.expect("registered");
    assert_eq!(
        framed_id, registered_id,
        "frame carries the registered schema id"
    );

    // The registry itself serves the schema under that id.
    let schema: serde_json::Value = reqwest::get(format!(
        "{}/schemas/ids/{framed_id}",
        common::stack().schema_registry_url
    ))
    .await
    .expect("registry")
    .json()
    .await
    .expect("json");
    assert!(
        schema["schema"]
            .as_str()
            .is_some_and(|s| s.contains("AuditEvent")),
        "{schema}"
    );

    let received: AuditEventRecord = codec.decode(payload).await.expect("decode");
    assert_eq!(received.event_id, sent.event_id);
    assert_eq!(received.company_id, sent.company_id);
    assert_eq!(received.kind, sent.kind);
    assert_eq!(received.occurred_at, sent.occurred_at);
    assert_eq!(received.actor, sent.actor);
    assert_eq!(received.details, sent.details);
}

#[tokio::test]
async fn garbage_and_foreign_records_are_refused_as_the_sender_s_fault() {
    let codec = common::codec();
    for bytes in [&b""[..], b"plain text", &[0, 0, 0, 0]] {
        let error = codec
            .decode::<AuditEventRecord>(bytes)
            .await
            .expect_err("must not decode");
        assert_eq!(error.fault(), aval_topics::Fault::Sender, "{error}");
    }
    // A well-framed record of another type must not be read as an audit event.
    let catalogue = common::catalogue().await;
    let requests = catalogue.topic(TopicRole::TrainingRequests);
    let id = codec.register(requests).await.expect("register");
    let mut framed = vec![0];
    framed.extend_from_slice(&id.to_be_bytes());
    framed.extend_from_slice(&[2, b'r', 2, b'c', 0, 2, b'x', 0]);
    let error = codec
        .decode::<AuditEventRecord>(&framed)
        .await
        .expect_err("wrong type");
    assert_eq!(error.fault(), aval_topics::Fault::Sender, "{error}");
}

#[tokio::test]
async fn the_registry_refuses_an_incompatible_change_to_a_catalogue_schema() {
    let catalogue = common::catalogue().await;
    let subject = catalogue.topic(TopicRole::Audit).value_subject();
    // A new required field without a default: old records could not be read with it.
    let incompatible = r#"{"type":"record","name":"AuditEvent","namespace":"aval","fields":[{"name":"event_id","type":"string"},{"name":"tenant","type":"string"}]}"#;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/subjects/{subject}/versions",
            common::stack().schema_registry_url
        ))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .json(&serde_json::json!({"schema": incompatible}))
        .send()
        .await
        .expect("registry");
    assert_eq!(
        response.status(),
        409,
        "{}",
        response.text().await.unwrap_or_default()
    );
}
