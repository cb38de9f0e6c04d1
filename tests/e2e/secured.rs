//! The stack's secured listener (SASL_SSL with SCRAM users, a CA of its own, StandardAuthorizer):
//! the ACLs `aval topics apply` and `aval admin kafka-tenant` give, run as a real principal
//! would meet them, and the errors a wrong password or an untrusted CA give at start.

use crate::common::{self, Gateway};
use aval_topics::connection::{SaslLogin, SaslMechanism, SecurityProtocol};
use aval_topics::{Catalogue, KafkaConnection, TopicRole};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
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
        Command::new(env!("CARGO_BIN_EXE_aval"))
            .args(args)
            .env("KAFKA_BOOTSTRAP", &self.bootstrap)
            .env("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
            .env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
            .env("KAFKA_SASL_USERNAME", &login.0)
            .env("KAFKA_SASL_PASSWORD", &login.1)
            .env("KAFKA_SSL_CA_LOCATION", &self.ca)
            .env("AVAL_TOPIC_PREFIX", deployment.catalogue.prefix())
            .env("AVAL_GROUP_PREFIX", &deployment.groups)
            .env("AVAL_SERVICE_PRINCIPAL", format!("User:{}", self.aval.0))
            .env("SCHEMA_REGISTRY_URL", &common::stack().schema_registry_url)
            .env("DATABASE_URL", &common::stack().database_url)
            .output()
            .expect("run aval")
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
    ];
    for role in [
        TopicRole::ModelActivations,
        TopicRole::TrainingRequests,
        TopicRole::Audit,
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
        (topic(TopicRole::Audit), false),
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
