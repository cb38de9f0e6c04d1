//! A company's own tokens (`/v1/companies/me/tokens`), and the keys that sign tokens: generated
//! at the first start of an installation without `AVAL_JWT_SECRET`, kept in the database,
//! shared by every process and rotated without logging anyone out.

use crate::common::{self, DEADLINE, Gateway};
use aval_store::Store;
use aval_topics::TopicRole;
use aval_topics::records::AuditEventRecord;
use rdkafka::Message;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

async fn status(gateway: &Gateway, token: &str) -> u16 {
    gateway
        .http
        .get(gateway.url("/v1/companies/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn list(gateway: &Gateway, token: &str) -> Vec<Value> {
    let response = gateway
        .http
        .get(gateway.url("/v1/companies/me/tokens"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["tokens"].as_array().expect("tokens").clone()
}

async fn issue(gateway: &Gateway, token: &str, body: Value) -> (u16, Value) {
    let response = gateway
        .http
        .post(gateway.url("/v1/companies/me/tokens"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn revoke(gateway: &Gateway, token: &str, jti: &str) -> u16 {
    gateway
        .http
        .delete(gateway.url(&format!("/v1/companies/me/tokens/{jti}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("a kid")
}

#[tokio::test]
async fn a_company_lists_issues_and_revokes_its_own_tokens_and_no_one_else_s() {
    let gateway = Gateway::start().await;
    let catalogue = common::catalogue().await;
    let consumer = common::consumer_from_start(&catalogue.topic(TopicRole::Audit).name);
    let (company_id, first) = gateway.register().await;
    let (_, first_jti) = common::keys().verify(&first).expect("verify");

    let listed = list(&gateway, &first).await;
    assert_eq!(listed.len(), 1, "the registration's token: {listed:?}");
    assert_eq!(listed[0]["jti"], first_jti.to_string());
    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[0]["label"], "");
    assert_eq!(listed[0]["revoked_at"], Value::Null);
    assert!(
        listed[0].get("token").is_none(),
        "a listed token shows its string"
    );

    let (code, issued) = issue(&gateway, &first, json!({"label": "  nightly upload  "})).await;
    assert_eq!(code, 201, "{issued}");
    assert_eq!(issued["label"], "nightly upload");
    let second = issued["token"].as_str().expect("token").to_owned();
    let second_jti = issued["jti"].as_str().expect("jti").to_owned();
    assert_eq!(status(&gateway, &second).await, 200);
    let listed = list(&gateway, &second).await;
    let jtis: Vec<&str> = listed
        .iter()
        .map(|t| t["jti"].as_str().expect("jti"))
        .collect();
    assert_eq!(
        jtis,
        [second_jti.as_str(), &first_jti.to_string()],
        "newest first"
    );
    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[1]["current"], false);

    let (code, refused) = issue(&gateway, &first, json!({"label": "a\u{0007}bell"})).await;
    assert_eq!(code, 422, "{refused}");
    let (code, _) = issue(&gateway, &first, json!({"lable": "typo"})).await;
    assert_eq!(code, 400);

    // Another company's token is no different from an unknown one, and stays valid.
    let (_, other) = gateway.register().await;
    let (_, other_jti) = common::keys().verify(&other).expect("verify");
    assert_eq!(revoke(&gateway, &first, &other_jti.to_string()).await, 404);
    assert_eq!(
        revoke(&gateway, &first, &uuid::Uuid::new_v4().to_string()).await,
        404
    );
    assert_eq!(revoke(&gateway, &first, "not-a-uuid").await, 404);
    assert_eq!(status(&gateway, &other).await, 200);
    assert_eq!(list(&gateway, &other).await.len(), 1);

    // The second token is in the gateway's memory when it is revoked, and refused at once.
    assert_eq!(status(&gateway, &second).await, 200);
    assert_eq!(revoke(&gateway, &first, &second_jti).await, 204);
    assert_eq!(status(&gateway, &second).await, 403);
    assert_eq!(revoke(&gateway, &first, &second_jti).await, 204, "again");
    let listed = list(&gateway, &first).await;
    assert!(listed[0]["revoked_at"].is_string(), "{listed:?}");
    assert_eq!(status(&gateway, &first).await, 200);

    // The token of the request itself can go: that answer is its last.
    assert_eq!(revoke(&gateway, &first, &first_jti.to_string()).await, 204);
    assert_eq!(status(&gateway, &first).await, 403);

    // Audited: the issue and each revocation (once each), in order.
    let codec = common::codec();
    let mut kinds = Vec::new();
    let started = Instant::now();
    while kinds.len() < 3 {
        assert!(
            started.elapsed() < DEADLINE,
            "audit events so far: {kinds:?}"
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
        if event.kind.starts_with("token.") {
            assert_eq!(event.actor, format!("company:{company_id}"));
            kinds.push((
                event.kind.clone(),
                event.details.get("jti").cloned().unwrap_or_default(),
            ));
        }
    }
    assert_eq!(
        kinds,
        [
            ("token.issued".to_owned(), second_jti.clone()),
            ("token.revoked".to_owned(), second_jti),
            ("token.revoked".to_owned(), first_jti.to_string()),
        ]
    );
}

/// A database of its own: another installation, whose keys no other test sees.
async fn fresh_database() -> String {
    let url = common::stack().database_url;
    let name = format!("aval_keys_{}", uuid::Uuid::new_v4().simple());
    let admin = common::store().await;
    // The name is ours: a fixed prefix and a UUID's hex digits.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .expect("create a database");
    let url = url_of_database(&url, &name);
    let store = Store::connect(&url, 2).await.expect("connect");
    store.migrate().await.expect("migrate");
    url
}

/// `url` with its database name, before any `?options`, replaced by `name`.
fn url_of_database(url: &str, name: &str) -> String {
    let (base, _) = split_database_url(url);
    match url.split_once('?') {
        Some((_, options)) => format!("{base}/{name}?{options}"),
        None => format!("{base}/{name}"),
    }
}

/// A PostgreSQL URL's server part and database name, without the `?options`.
fn split_database_url(url: &str) -> (&str, &str) {
    let address = url.split_once('?').map_or(url, |(address, _)| address);
    address
        .rsplit_once('/')
        .expect("a database name in DATABASE_URL")
}

/// `aval` with the stack's addresses, the database at `database_url` and no
/// `AVAL_JWT_SECRET`.
fn aval(database_url: &str) -> Command {
    let stack = common::stack();
    let mut command = Command::new(env!("CARGO_BIN_EXE_aval"));
    command
        .env("KAFKA_BOOTSTRAP", &stack.kafka_bootstrap)
        .env("SCHEMA_REGISTRY_URL", &stack.schema_registry_url)
        .env("DATABASE_URL", database_url)
        .env("AVAL_TOPIC_PREFIX", common::test_prefix())
        .env("AVAL_ENV", "production")
        .env_remove("AVAL_JWT_SECRET");
    command
}

/// A gateway process; killed when dropped.
struct Process(Child, Gateway);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_gateway(database_url: &str) -> Process {
    start_gateway_logging(database_url, None)
}

/// A gateway whose log, at debug level, goes to `log`.
fn start_gateway_logging(database_url: &str, log: Option<&std::path::Path>) -> Process {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::File::create(path).expect("a log file")),
        None => Stdio::null(),
    };
    let child = aval(database_url)
        .arg("gateway")
        .env("AVAL_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start aval gateway");
    Process(
        child,
        Gateway {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        },
    )
}

async fn ready(process: &mut Process) {
    let started = Instant::now();
    loop {
        if let Ok(response) = process.1.http.get(process.1.url("/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the gateway never became ready"
        );
        assert!(
            process.0.try_wait().expect("wait").is_none(),
            "the gateway exited early (without AVAL_JWT_SECRET, in production)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Drops a database [`fresh_database`] made, whoever is still connected.
async fn drop_database(url: &str) {
    let (_, name) = split_database_url(url);
    assert!(name.starts_with("aval_keys_"));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(common::store().await.pool())
    .await
    .expect("drop the database");
}

async fn stored_kids(database_url: &str) -> BTreeSet<String> {
    let store = Store::connect(database_url, 2).await.expect("connect");
    store
        .jwt_keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| k.kid)
        .collect()
}

/// Two installations without `AVAL_JWT_SECRET`, in production: two gateways of one start at
/// once and agree on one generated key; the other installation's is another, whose tokens
/// the first refuses. A rotation there: new tokens name the new key at both gateways within
/// seconds, and every earlier token keeps working at both.
#[tokio::test]
async fn generated_keys_are_shared_kept_apart_and_rotated_without_logging_anyone_out() {
    let (one, two) = (fresh_database().await, fresh_database().await);
    let log = std::env::temp_dir().join(format!("aval-keys-{}.log", uuid::Uuid::new_v4()));
    let mut a = start_gateway_logging(&one, Some(&log));
    let mut b = start_gateway(&one);
    let mut other = start_gateway(&two);
    ready(&mut a).await;
    ready(&mut b).await;
    ready(&mut other).await;
    let kids = stored_kids(&one).await;
    assert_eq!(kids.len(), 1, "two starts at once generated {kids:?}");
    let other_kids = stored_kids(&two).await;
    assert_eq!(other_kids.len(), 1);
    assert_ne!(kids, other_kids, "two installations share a key");

    let (_, at_a) = a.1.register().await;
    let (_, at_b) = b.1.register().await;
    let first_kid = kid(&at_a);
    assert!(kids.contains(&first_kid));
    assert_eq!(kid(&at_b), first_kid);
    assert_eq!(status(&b.1, &at_a).await, 200);
    assert_eq!(status(&a.1, &at_b).await, 200);
    let (_, foreign) = other.1.register().await;
    assert_eq!(
        status(&a.1, &foreign).await,
        401,
        "another installation's token"
    );

    // A gateway restarted finds the same key: it was kept.
    drop(b);
    let mut b = start_gateway(&one);
    ready(&mut b).await;
    assert_eq!(status(&b.1, &at_a).await, 200);
    assert_eq!(stored_kids(&one).await, kids);

    let output = aval(&one)
        .args(["admin", "rotate-jwt-key"])
        .output()
        .expect("rotate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let kids = stored_kids(&one).await;
    assert_eq!(kids.len(), 2);
    let listing = aval(&one)
        .args(["admin", "jwt-keys"])
        .output()
        .expect("list keys");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing.contains("signing") && listing.contains("verifying"),
        "{listing}"
    );

    // Every gateway signs with the new key within seconds, and takes the other's tokens.
    for (issuer, checker) in [(&a.1, &b.1), (&b.1, &a.1)] {
        let started = Instant::now();
        let fresh = loop {
            let (code, issued) = issue(issuer, &at_a, json!({})).await;
            assert_eq!(code, 201, "{issued}");
            let token = issued["token"].as_str().expect("token").to_owned();
            if kid(&token) != first_kid {
                break token;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still signing with the old key 5 s after the rotation"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(kids.contains(&kid(&fresh)));
        assert_eq!(status(checker, &fresh).await, 200);
        assert_eq!(status(issuer, &fresh).await, 200);
    }
    // Nobody was logged out.
    for gateway in [&a.1, &b.1] {
        assert_eq!(status(gateway, &at_a).await, 200);
        assert_eq!(status(gateway, &at_b).await, 200);
    }

    // A retired key verifies nothing any more, at every gateway, within seconds.
    let output = aval(&one)
        .args(["admin", "retire-jwt-key", &first_kid])
        .output()
        .expect("retire");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for gateway in [&a.1, &b.1] {
        let started = Instant::now();
        while status(gateway, &at_a).await != 401 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the retired key still verifies"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The key material appears nowhere: not in a gateway's debug log (which saw the key
    // generated and the rotation), its metrics, or the operator's listing.
    let metrics =
        a.1.http
            .get(a.1.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
    let store = Store::connect(&one, 2).await.expect("connect");
    let secrets = store.all_jwt_keys().await.expect("keys");
    drop((a, b, other));
    let logged = std::fs::read(&log).expect("the log");
    let _ = std::fs::remove_file(&log);
    assert!(
        String::from_utf8_lossy(&logged).contains(&first_kid),
        "the log names the key"
    );
    for key in &secrets {
        let secret = key.secret.expose();
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret);
        for (place, text) in [
            ("log", &logged[..]),
            ("metrics", metrics.as_bytes()),
            ("listing", listing.as_bytes()),
        ] {
            assert!(
                text.windows(secret.len()).all(|w| w != secret),
                "a secret in the {place} (raw)"
            );
            let text = String::from_utf8_lossy(text).to_lowercase();
            assert!(!text.contains(&hex), "a secret in the {place} (hex)");
            assert!(
                !text.contains(&b64.to_lowercase()),
                "a secret in the {place} (base64)"
            );
            assert!(
                !text.contains(&format!("{secret:?}")),
                "a secret in the {place} (bytes)"
            );
        }
    }
    drop_database(&one).await;
    drop_database(&two).await;
}

/// Processes starting at once generate one key between them.
#[tokio::test]
async fn concurrent_first_starts_generate_one_key() {
    let url = fresh_database().await;
    let mut starts = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.push(tokio::spawn(async move {
            let store = Store::connect(&url, 2).await.expect("connect");
            store
                .ensure_jwt_key(aval_core::token::KeySecret::generate, chrono::Utc::now())
                .await
                .expect("ensure")
        }));
    }
    let mut generated = 0;
    for start in starts {
        generated += usize::from(start.await.expect("task"));
    }
    assert_eq!(generated, 1);
    assert_eq!(stored_kids(&url).await.len(), 1);
    drop_database(&url).await;
}
