//! Every way a token can be wrong is refused with the right status: 401 when the token itself
//! is bad, 403 when it is good but its company or the token was withdrawn.

use crate::common::{self, Gateway, TEST_SECRET};
use crate::ingest_support::{Dataset, create_dataset, post_batch};
use aval_core::token::{SEAL_HEADER, SENDER_HEADER};
use aval_topics::{TopicRole, keys};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rdkafka::Message;
use rdkafka::message::Headers;
use serde_json::json;
use std::time::Instant;

async fn status_with(gateway: &Gateway, authorization: Option<&str>) -> (u16, Option<String>) {
    let mut request = gateway.http.get(gateway.url("/v1/companies/me"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("request");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), challenge)
}

fn claims(company_id: &str, iat: i64, exp: i64) -> serde_json::Value {
    json!({"sub": company_id, "iat": iat, "exp": exp, "jti": uuid::Uuid::new_v4().to_string(), "iss": "aval"})
}

fn sign(algorithm: Algorithm, secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign")
}

#[tokio::test]
async fn the_token_matrix() {
    let gateway = Gateway::start().await;
    let (company_id, token) = gateway.register().await;
    let now = chrono::Utc::now().timestamp();
    let valid = claims(&company_id, now, now + 3600);

    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(valid.to_string())
    );
    let unknown_company = sign(
        Algorithm::HS256,
        TEST_SECRET,
        &claims(&uuid::Uuid::new_v4().to_string(), now, now + 3600),
    );
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("not bearer", Some(format!("Basic {token}"))),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("malformed", Some("Bearer not.a.jwt".to_owned())),
        ("garbage", Some("Bearer %%%".to_owned())),
        (
            "forged signature",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    b"someone-elses-secret-of-32-bytes!!",
                    &valid
                )
            )),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        (
            "other algorithm",
            Some(format!(
                "Bearer {}",
                sign(Algorithm::HS512, TEST_SECRET, &valid)
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    TEST_SECRET,
                    &claims(&company_id, now - 7200, now - 3600)
                )
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    TEST_SECRET,
                    &json!({"sub": company_id, "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(), "iss": "evil"})
                )
            )),
        ),
        (
            "sub not a company id",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    TEST_SECRET,
                    &claims("admin", now, now + 3600)
                )
            )),
        ),
        ("unknown company", Some(format!("Bearer {unknown_company}"))),
    ];
    for (case, authorization) in cases {
        let (status, challenge) = status_with(&gateway, authorization.as_deref()).await;
        assert_eq!(status, 401, "{case}");
        assert!(
            challenge.is_some_and(|c| c.starts_with("Bearer")),
            "{case}: no WWW-Authenticate"
        );
    }
    let (status, _) = status_with(&gateway, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "the valid token itself");
}

/// The status `token` gets once it settles on `expected`, or the last one after 3 s. A
/// withdrawal takes effect when the database's notification reaches the gateway, which
/// remembers granted tokens for up to a minute otherwise: 3 s fails a gateway that did not
/// hear it.
async fn status_soon(gateway: &Gateway, token: &str, expected: u16) -> u16 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let (status, _) = status_with(gateway, Some(&format!("Bearer {token}"))).await;
        if status == expected || std::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Through the operator command, as an operator would.
fn admin(args: &[&str]) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aval"))
        .arg("admin")
        .args(args)
        .env("DATABASE_URL", common::stack().database_url)
        .output()
        .expect("run aval");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The gateway answers `token` from memory (it listens for withdrawals by then), after as
/// many requests as that takes.
async fn remembered(gateway: &Gateway, store: &aval_store::Store, token: &str) {
    let (company, jti) = common::keys().verify(token).expect("verify");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !store.remembers_access(company, jti) {
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never remembered the token"
        );
        assert_eq!(
            status_with(gateway, Some(&format!("Bearer {token}")))
                .await
                .0,
            200
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A gateway, and its own store: to see what that gateway's process remembers.
async fn gateway_and_its_store() -> (Gateway, aval_store::Store) {
    let state = common::app_state(&common::stack().schema_registry_url).await;
    let store = state.store.clone();
    (Gateway::start_with(state).await, store)
}

#[tokio::test]
async fn a_revoked_token_is_forbidden_and_the_company_s_other_tokens_still_work() {
    let (gateway, store) = gateway_and_its_store().await;
    let (company_id, token) = gateway.register().await;
    let company: uuid::Uuid = company_id.parse().expect("uuid");
    let second = common::keys()
        .issue(company, chrono::Utc::now())
        .expect("issue");
    let (_, jti) = common::keys().verify(&token).expect("verify");
    // Both tokens in the gateway's memory when one is revoked.
    remembered(&gateway, &store, &token).await;
    remembered(&gateway, &store, &second.token).await;
    admin(&[
        "revoke-token",
        &company_id,
        &jti.to_string(),
        "--reason",
        "leaked",
    ]);
    assert_eq!(status_soon(&gateway, &token, 403).await, 403);
    assert!(!store.remembers_access(company, jti));
    assert_eq!(
        status_with(&gateway, Some(&format!("Bearer {}", second.token)))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_token_revoked_before_its_first_use_is_forbidden_at_once() {
    let gateway = Gateway::start().await;
    let (company_id, token) = gateway.register().await;
    let (_, jti) = common::keys().verify(&token).expect("verify");
    common::store()
        .await
        .revoke_token(
            company_id.parse().expect("uuid"),
            jti,
            "leaked",
            chrono::Utc::now(),
        )
        .await
        .expect("revoke");
    assert_eq!(
        status_with(&gateway, Some(&format!("Bearer {token}")))
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn a_deactivated_company_is_forbidden() {
    let (gateway, store) = gateway_and_its_store().await;
    let (company_id, token) = gateway.register().await;
    remembered(&gateway, &store, &token).await;
    admin(&["deactivate-company", &company_id]);
    assert_eq!(status_soon(&gateway, &token, 403).await, 403);
}

/// A record the gateway produces names the company and token id it authenticated and carries
/// the seal over its bytes, never the caller's token: whoever reads the topic learns no
/// credential.
#[tokio::test]
async fn gateway_records_carry_a_seal_and_never_the_token() {
    let gateway = Gateway::start().await;
    let (company_id, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let items = Dataset::new(2, 1).customers;
    let (status, _) = post_batch(&gateway, &token, &dataset, "customers", &items, None).await;
    assert_eq!(status, 202);

    let catalogue = common::catalogue().await;
    let consumer = common::consumer_from_start(&catalogue.topic(TopicRole::Ingest).name);
    let deadline = Instant::now() + common::DEADLINE;
    let message = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .expect("the batch on the ingest topic")
            .expect("consume");
        if keys::is_company_key(message.key(), &company_id) {
            break message;
        }
    };
    let headers: Vec<(String, Vec<u8>)> = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    for (name, value) in &headers {
        assert!(
            !name.eq_ignore_ascii_case("authorization")
                && !String::from_utf8_lossy(value).contains(&token),
            "the token travels in header {name}"
        );
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_slice())
            .unwrap_or_else(|| panic!("no {name} header"))
    };
    let (company, jti) = common::keys()
        .unseal(
            header(SENDER_HEADER),
            header(SEAL_HEADER),
            message.payload().expect("a value"),
        )
        .expect("the seal matches the record");
    assert_eq!(company.to_string(), company_id);
    let (_, token_jti) = common::keys().verify(&token).expect("the token");
    assert_eq!(jti, token_jti, "the sender is the token that was used");
}
