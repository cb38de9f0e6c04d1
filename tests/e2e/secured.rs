//! The stack's secured listener (SASL_SSL with SCRAM users, a CA of its own, StandardAuthorizer):
//! the ACLs `aval topics apply` and `aval admin kafka-tenant` give, run as a real principal
//! would meet them, and the errors a wrong password or an untrusted CA give at start.

use crate::common::{self, Gateway};
use crate::decisions_support::{order, order_json, post_decision, request};
use crate::ingest_support::{
    Dataset, batch_record, complete, create_dataset, stored_rows, upload_all,
};
use crate::training::{learnable, wait_trained, wait_versions};
use aval_core::ingest::ItemKind;
use aval_processors::AUTHORIZATION_HEADER;
use aval_topics::connection::{SaslLogin, SaslMechanism, SecurityProtocol};
use aval_topics::records::DecisionRecord;
use aval_topics::{Catalogue, KafkaConnection, TopicRole};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The secured listener's settings, from `.stack.env` (or the environment).
pub struct Secured {
    pub bootstrap: String,
    pub ca: String,
    pub aval: (String, String),
    pub admin: (String, String),
    /// Names under it are closed to the open listener's anonymous clients.
    pub prefix: String,
}

pub fn secured() -> Secured {
    let get = common::stack_setting;
    Secured {
        bootstrap: get("KAFKA_SECURE_BOOTSTRAP"),
        ca: get("KAFKA_SSL_CA_LOCATION"),
        aval: (get("KAFKA_SASL_USERNAME"), get("KAFKA_SASL_PASSWORD")),
        admin: (
            get("KAFKA_ADMIN_SASL_USERNAME"),
            get("KAFKA_ADMIN_SASL_PASSWORD"),
        ),
        prefix: get("KAFKA_SECURE_PREFIX"),
    }
}

impl Secured {
    pub fn as_user(&self, (user, password): &(String, String)) -> KafkaConnection {
        let login = SaslLogin::new(SaslMechanism::ScramSha512, user.clone(), password.clone());
        KafkaConnection::new(
            &self.bootstrap,
            SecurityProtocol::SaslSsl,
            Some(login),
            Some(self.ca.clone()),
            vec![],
        )
        .expect("secured settings")
    }

    /// `aval` with the secured listener's settings, logged in as `login`, under `deployment`'s
    /// topic and group prefixes.
    pub fn aval(&self, login: &(String, String), deployment: &Deployment, args: &[&str]) -> Output {
        let mut aval = Command::new(env!("CARGO_BIN_EXE_aval"));
        aval.args(args);
        self.configure(&mut aval, login, deployment);
        aval.output().expect("run aval")
    }

    pub fn configure(&self, aval: &mut Command, login: &(String, String), deployment: &Deployment) {
        aval.env("KAFKA_BOOTSTRAP", &self.bootstrap)
            .env("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
            .env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
            .env("KAFKA_SASL_USERNAME", &login.0)
            .env("KAFKA_SASL_PASSWORD", &login.1)
            .env("KAFKA_SSL_CA_LOCATION", &self.ca)
            .env("AVAL_TOPIC_PREFIX", deployment.catalogue.prefix())
            .env("AVAL_GROUP_PREFIX", &deployment.groups)
            .env("AVAL_SERVICE_PRINCIPAL", format!("User:{}", self.aval.0))
            .env("SCHEMA_REGISTRY_URL", &common::stack().schema_registry_url)
            .env("DATABASE_URL", &common::stack().database_url);
    }
}

/// A deployment of its own under the secured prefix.
pub struct Deployment {
    pub catalogue: Catalogue,
    pub groups: String,
}

impl Deployment {
    /// Topics applied, and aval's ACLs given, by the administrator.
    pub fn applied(secured: &Secured) -> Self {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let deployment = Self {
            catalogue: Catalogue::new(&format!("{}.e2e-{run}.", secured.prefix), 1),
            groups: format!("{}-e2e-{run}-", secured.prefix),
        };
        let applied = secured.aval(&secured.admin, &deployment, &["topics", "apply"]);
        assert!(applied.status.success(), "topics apply: {}", text(&applied));
        let out = String::from_utf8_lossy(&applied.stdout);
        assert!(
            out.contains("created   acl User:"),
            "aval's ACLs were not created: {out}"
        );
        deployment
    }

    /// `aval admin kafka-tenant`'s settings for `company`.
    pub fn tenant(&self, secured: &Secured, company: &str) -> BTreeMap<String, String> {
        let made = secured.aval(&secured.admin, self, &["admin", "kafka-tenant", company]);
        assert!(made.status.success(), "kafka-tenant: {}", text(&made));
        String::from_utf8_lossy(&made.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const ACL_DEADLINE: Duration = Duration::from_secs(20);

/// Whether `kafka` may write to `topic`: a record acknowledged, or refused for authorization.
async fn may_write(kafka: &KafkaConnection, topic: &str) -> bool {
    let producer: FutureProducer = kafka
        .client_config()
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer");
    let record = FutureRecord::to(topic).key("k").payload("matrix probe");
    match producer.send(record, Duration::from_secs(10)).await {
        Ok(_) => true,
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed), _)) => {
            false
        }
        Err((e, _)) => panic!("writing to {topic}: neither done nor refused: {e}"),
    }
}

/// Whether `kafka` may read `topic` with a group under `groups`: the record written before by
/// the administrator read, or refused for authorization.
fn may_read(kafka: &KafkaConnection, topic: &str, groups: &str) -> bool {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set(
            "group.id",
            format!("{groups}matrix-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + ACL_DEADLINE;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => return message.payload().is_some(),
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed,
            ))) => return false,
            Some(Err(e)) => panic!("reading {topic}: neither read nor refused: {e}"),
            None => {}
        }
    }
    panic!("reading {topic}: nothing read and no refusal within {ACL_DEADLINE:?}")
}

/// A record at offset 0 of `topic`, written by the administrator, for a read to find.
async fn seed(secured: &Secured, topic: &str) {
    assert!(
        may_write(&secured.as_user(&secured.admin), topic).await,
        "the administrator may write to {topic}"
    );
}

/// Every (topic, operation) a tenant principal meets: WRITE to the ingest and decision-request
/// topics and READ of its own decisions topic are allowed; every other write and read is
/// refused by the broker. The matrix is printed as run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_principal_writes_data_and_orders_and_reads_only_its_own_decisions() {
    let secured = secured();
    let deployment = Deployment::applied(&secured);
    let gateway = Gateway::start().await;
    let (company, _) = gateway.register().await;
    let (neighbour, _) = gateway.register().await;
    let settings = deployment.tenant(&secured, &company);
    let neighbour_settings = deployment.tenant(&secured, &neighbour);
    let tenant = secured.as_user(&(
        settings["KAFKA_SASL_USERNAME"].clone(),
        settings["KAFKA_SASL_PASSWORD"].clone(),
    ));
    assert_eq!(
        settings["AVAL_DECISIONS_TOPIC"],
        format!(
            "{}.{company}",
            deployment.catalogue.topic(TopicRole::Decisions).name
        )
    );
    let groups = &settings["AVAL_CONSUMER_GROUP_PREFIX"];
    let topic = |role| deployment.catalogue.topic(role).name.clone();

    let mut writes = vec![
        (topic(TopicRole::Ingest), true),
        (topic(TopicRole::DecisionRequests), true),
        (topic(TopicRole::Outcomes), true),
    ];
    for role in [
        TopicRole::ModelActivations,
        TopicRole::TrainingRequests,
        TopicRole::Audit,
        TopicRole::AuditHeads,
        TopicRole::DecisionReplies,
        TopicRole::DeadLetters,
        TopicRole::Decisions,
    ] {
        writes.push((topic(role), false));
    }
    writes.push((settings["AVAL_DECISIONS_TOPIC"].clone(), false));
    let reads = [
        (settings["AVAL_DECISIONS_TOPIC"].clone(), true),
        (neighbour_settings["AVAL_DECISIONS_TOPIC"].clone(), false),
        (topic(TopicRole::Decisions), false),
        (topic(TopicRole::Ingest), false),
        (topic(TopicRole::DecisionRequests), false),
        (topic(TopicRole::Outcomes), false),
        (topic(TopicRole::Audit), false),
        (topic(TopicRole::AuditHeads), false),
    ];
    for (name, _) in &reads {
        seed(&secured, name).await;
    }

    let principal = format!("User:{}", settings["KAFKA_SASL_USERNAME"]);
    let mut matrix = Vec::new();
    for (name, expected) in &writes {
        let allowed = may_write(&tenant, name).await;
        matrix.push((name.clone(), "WRITE", allowed, *expected));
    }
    for (name, expected) in &reads {
        let allowed = may_read(&tenant, name, groups);
        matrix.push((name.clone(), "READ", allowed, *expected));
    }
    println!("ACL matrix of {principal}:");
    for (name, operation, allowed, _) in &matrix {
        let verdict = if *allowed { "allowed" } else { "refused" };
        println!("  {operation:<5} {name:<80} {verdict}");
    }
    let wrong: Vec<_> = matrix
        .iter()
        .filter(|(_, _, allowed, expected)| allowed != expected)
        .collect();
    assert!(wrong.is_empty(), "not as the layout says: {wrong:?}");
}

/// A wrong password and an untrusted CA stop aval at start, each with librdkafka's reason.
#[test]
fn a_wrong_password_or_an_untrusted_ca_is_named_at_start() {
    let secured = secured();
    let deployment = Deployment {
        catalogue: Catalogue::new(&format!("{}.e2e-refused.", secured.prefix), 1),
        groups: format!("{}-e2e-refused-", secured.prefix),
    };
    let wrong = (secured.aval.0.clone(), "not-the-password".to_owned());
    let refused = secured.aval(&wrong, &deployment, &["topics", "apply"]);
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(
        said.contains("refused the connection") && said.contains("Authentication failed"),
        "{said}"
    );
    assert!(!said.contains("not-the-password"), "the password is shown");

    let untrusted = Command::new(env!("CARGO_BIN_EXE_aval"))
        .args(["topics", "apply"])
        .env("KAFKA_BOOTSTRAP", &secured.bootstrap)
        .env("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
        .env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        .env("KAFKA_SASL_USERNAME", &secured.aval.0)
        .env("KAFKA_SASL_PASSWORD", &secured.aval.1)
        // A CA made for this test, which never signed the stack's broker certificate.
        .env(
            "KAFKA_SSL_CA_LOCATION",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/e2e/data/untrusted-ca.pem"
            ),
        )
        .env("AVAL_TOPIC_PREFIX", deployment.catalogue.prefix())
        .env("SCHEMA_REGISTRY_URL", &common::stack().schema_registry_url)
        .env("DATABASE_URL", &common::stack().database_url)
        .output()
        .expect("run aval");
    assert!(!untrusted.status.success());
    let said = text(&untrusted);
    assert!(
        said.contains("refused the connection") && said.contains("certificate verify failed"),
        "{said}"
    );
}

/// `aval all` as aval's own principal on the secured listener, under ACLs the administrator
/// applied: a company registers, uploads over HTTP, trains, and is decided for over HTTP; as
/// its own principal it uploads a batch and asks for a decision over Kafka, and reads that
/// decision from its own decisions topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_product_runs_over_sasl_ssl_with_acls() {
    let secured = secured();
    let deployment = Deployment::applied(&secured);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut aval = Command::new(env!("CARGO_BIN_EXE_aval"));
    aval.arg("all")
        .env("AVAL_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "AVAL_JWT_SECRET",
            std::str::from_utf8(common::TEST_SECRET).expect("utf8"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    secured.configure(&mut aval, &secured.aval, &deployment);
    let mut child = ChildGuard(aval.spawn().expect("start aval all"));
    let gateway = Gateway {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };
    let started = Instant::now();
    loop {
        if let Ok(response) = gateway.http.get(gateway.url("/readyz")).send().await
            && response.status() == 200
        {
            break;
        }
        assert!(
            child.0.try_wait().expect("status").is_none(),
            "aval all exited over SASL_SSL"
        );
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "aval all over SASL_SSL was not ready within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (company, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = learnable(150, 8);
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    assert_eq!(
        complete(&gateway, &token, &dataset, &data.counts()).await.0,
        202
    );
    let trained = wait_trained(&gateway, &token, &dataset).await;
    assert_eq!(trained["status"], "trained", "{trained}");
    wait_versions(&gateway, &token, 1).await;

    let over_http = order("O-http", "C1", 50_000);
    let (status, body) = post_decision(
        &gateway,
        &token,
        "/v1/decisions",
        json!({"order": order_json(&over_http)}),
        "en",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        matches!(body["decision"].as_str(), Some("approved" | "rejected")),
        "{body}"
    );

    // The company's own systems, as its own principal, with the company's token: a batch of
    // data for a second dataset, and a decision request whose decision it reads back from its
    // own topic.
    let settings = deployment.tenant(&secured, &company);
    let tenant = secured.as_user(&(
        settings["KAFKA_SASL_USERNAME"].clone(),
        settings["KAFKA_SASL_PASSWORD"].clone(),
    ));
    let registry = common::codec();
    let direct = create_dataset(&gateway, &token).await;
    let customers = Dataset::new(3, 1).customers;
    let batch = batch_record(
        &company,
        &direct,
        "direct-1",
        ItemKind::Customers,
        &customers,
    );
    let ingest = deployment.catalogue.topic(TopicRole::Ingest);
    registry.register(ingest).await.expect("schema");
    let payload = registry.encode(ingest, &batch).await.expect("encode");
    produce_as(&tenant, &ingest.name, &company, &payload, &token).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored_rows(&direct).await[0] != 3 {
        assert!(
            Instant::now() < deadline,
            "the tenant's Kafka-direct batch was not stored within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let requests = deployment.catalogue.topic(TopicRole::DecisionRequests);
    registry.register(requests).await.expect("schema");
    let asked = request(&company, order("O-kafka", "C1", 50_000), None);
    let payload = registry.encode(requests, &asked).await.expect("encode");
    produce_as(&tenant, &requests.name, &company, &payload, &token).await;
    let consumer: BaseConsumer = tenant
        .client_config()
        .set(
            "group.id",
            format!("{}downstream", settings["AVAL_CONSUMER_GROUP_PREFIX"]),
        )
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&[&settings["AVAL_DECISIONS_TOPIC"]])
        .expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen.contains(&"O-kafka".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "the Kafka decision never reached the company's topic; seen {seen:?}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("the tenant may read its own decisions");
        let decision: DecisionRecord = registry
            .decode(message.payload().expect("a value"))
            .await
            .expect("a decision");
        assert_eq!(decision.company_id, company, "another company's decision");
        seen.push(decision.order_id);
    }
}

/// Produces `payload` to `topic` as `kafka`'s principal, keyed by the company, with the
/// company's token, as a company's own producer does.
async fn produce_as(
    kafka: &KafkaConnection,
    topic: &str,
    company: &str,
    payload: &[u8],
    token: &str,
) {
    let producer: FutureProducer = kafka.client_config().create().expect("producer");
    let bearer = format!("Bearer {token}");
    let headers = OwnedHeaders::new().insert(Header {
        key: AUTHORIZATION_HEADER,
        value: Some(bearer.as_bytes()),
    });
    producer
        .send(
            FutureRecord::to(topic)
                .key(company.as_bytes())
                .payload(payload)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("the tenant may write to {topic}: {e}"));
}

/// Kills the child process when the test ends, however it ends.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
