//! The admin calls against a real Kafka broker with an authorizer (StandardAuthorizer).
//!
//! The broker is named by `AVAL_ACL_TEST_BOOTSTRAP`; without it these tests fail. The
//! principal they log in as must be allowed to alter ACLs and SCRAM credentials (a super
//! user). Optional, for a SASL listener: `AVAL_ACL_TEST_SASL_USERNAME`,
//! `AVAL_ACL_TEST_SASL_PASSWORD`, `AVAL_ACL_TEST_SASL_MECHANISM` (default SCRAM-SHA-512),
//! `AVAL_ACL_TEST_SSL_CA_LOCATION` (SASL_SSL when set, else SASL_PLAINTEXT).
//!
//! Every run uses names of its own (principals, users, resources) and removes what it
//! created, so runs can share a broker.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aval_kafka_admin::{
    AclBinding, AclFilter, AdminError, CLUSTER_RESOURCE_NAME, KafkaAdmin, Operation, PatternFilter,
    PatternType, Permission, ResourceType, ScramCredential, ScramMechanism,
};
use rdkafka::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

const TIMEOUT: Duration = Duration::from_secs(30);

const HOW_TO_START: &str = "AVAL_ACL_TEST_BOOTSTRAP is not set: these tests need a Kafka \
broker with an authorizer, administered by the test's principal. For example a throwaway \
KRaft broker from the stack's jars: a server.properties with process.roles=broker,controller, \
listeners=PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093, \
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer, \
super.users=User:ANONYMOUS; `java -cp '.stack/kafka/lib/*' kafka.tools.StorageTool format \
--standalone --cluster-id=ID -c server.properties`, then `java -Xmx512m -cp \
'.stack/kafka/lib/*' kafka.Kafka server.properties`; then AVAL_ACL_TEST_BOOTSTRAP=127.0.0.1:29092";

fn config() -> ClientConfig {
    let bootstrap = std::env::var("AVAL_ACL_TEST_BOOTSTRAP").expect(HOW_TO_START);
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &bootstrap);
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(username) = var("AVAL_ACL_TEST_SASL_USERNAME") {
        let ca = var("AVAL_ACL_TEST_SSL_CA_LOCATION");
        config
            .set(
                "security.protocol",
                if ca.is_some() {
                    "SASL_SSL"
                } else {
                    "SASL_PLAINTEXT"
                },
            )
            .set(
                "sasl.mechanism",
                var("AVAL_ACL_TEST_SASL_MECHANISM").unwrap_or_else(|| "SCRAM-SHA-512".into()),
            )
            .set("sasl.username", username)
            .set(
                "sasl.password",
                var("AVAL_ACL_TEST_SASL_PASSWORD").expect("AVAL_ACL_TEST_SASL_PASSWORD"),
            );
        if let Some(ca) = ca {
            config.set("ssl.ca.location", ca);
        }
    }
    config
}

fn admin() -> KafkaAdmin {
    KafkaAdmin::new(&config()).expect("admin client")
}

/// A name no other run uses.
fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("aval-acl-test-{what}-{}-{nanos:x}", std::process::id())
}

/// ACL and credential changes reach the broker that answers a describe through the
/// metadata log, a moment after the call returns: ask until `want` holds (or 20 s have
/// passed) and return the last answer.
fn eventually<T>(describe: impl Fn() -> Vec<T>, want: impl Fn(&[T]) -> bool) -> Vec<T> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = describe();
        if want(&answer) || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn describe_until(
    admin: &KafkaAdmin,
    filter: &AclFilter,
    want: impl Fn(&[AclBinding]) -> bool,
) -> Vec<AclBinding> {
    eventually(
        || admin.describe_acls(filter, TIMEOUT).expect("describe ACLs"),
        want,
    )
}

fn credentials_until(
    admin: &KafkaAdmin,
    users: &[&str],
    want: impl Fn(&[ScramCredential]) -> bool,
) -> Vec<ScramCredential> {
    eventually(
        || {
            admin
                .describe_scram_credentials(users, TIMEOUT)
                .expect("describe SCRAM credentials")
        },
        want,
    )
}

fn sorted(acls: &[AclBinding]) -> Vec<AclBinding> {
    acls.iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// What a tenant gets in issue 11, plus one of every other resource type, pattern and
/// permission.
fn layout(principal: &str, prefix: &str) -> Vec<AclBinding> {
    let topic = |op, pattern, name: String| {
        AclBinding::allow(principal, op, ResourceType::Topic, pattern, name)
    };
    vec![
        topic(
            Operation::Write,
            PatternType::Prefixed,
            format!("{prefix}.ingest."),
        ),
        topic(
            Operation::Write,
            PatternType::Literal,
            format!("{prefix}.decision-requests"),
        ),
        topic(
            Operation::Read,
            PatternType::Literal,
            format!("{prefix}.decisions.acme"),
        ),
        AclBinding::allow(
            principal,
            Operation::Read,
            ResourceType::Group,
            PatternType::Prefixed,
            format!("{prefix}.group."),
        ),
        AclBinding::allow(
            principal,
            Operation::IdempotentWrite,
            ResourceType::Cluster,
            PatternType::Literal,
            CLUSTER_RESOURCE_NAME,
        ),
        AclBinding::allow(
            principal,
            Operation::Describe,
            ResourceType::TransactionalId,
            PatternType::Prefixed,
            format!("{prefix}.tx."),
        ),
        AclBinding {
            permission: Permission::Deny,
            host: "10.0.0.1".to_owned(),
            ..topic(
                Operation::All,
                PatternType::Literal,
                format!("{prefix}.internal"),
            )
        },
    ]
}

#[test]
fn acls_are_created_described_back_and_deleted_by_filter() {
    let admin = admin();
    let principal = format!("User:{}", unique("tenant"));
    let prefix = unique("topics");
    let acls = layout(&principal, &prefix);
    let mine = AclFilter::principal(&principal);

    assert_eq!(admin.describe_acls(&mine, TIMEOUT).expect("describe"), []);
    admin.create_acls(&acls, TIMEOUT).expect("create ACLs");
    // Creating what exists is no error, and adds nothing.
    admin
        .create_acls(&acls[..2], TIMEOUT)
        .expect("create again");
    let described = describe_until(&admin, &mine, |d| d.len() >= acls.len());
    assert_eq!(described, sorted(&acls), "described back: the same set");

    // The broker's filters select what the crate's own matching does.
    let filters = [
        AclFilter {
            resource: Some(ResourceType::Topic),
            ..mine.clone()
        },
        AclFilter {
            resource: Some(ResourceType::Topic),
            name: Some(format!("{prefix}.ingest.acme")),
            pattern: PatternFilter::Match,
            ..mine.clone()
        },
        AclFilter {
            pattern: PatternFilter::Exactly(PatternType::Prefixed),
            ..mine.clone()
        },
        AclFilter {
            permission: Some(Permission::Deny),
            host: Some("10.0.0.1".to_owned()),
            ..mine.clone()
        },
        AclFilter::from(&acls[4]),
    ];
    for filter in &filters {
        let expected: Vec<_> = sorted(&acls)
            .into_iter()
            .filter(|a| filter.matches(a))
            .collect();
        assert!(!expected.is_empty(), "{filter}");
        assert_eq!(
            admin.describe_acls(filter, TIMEOUT).expect("describe"),
            expected,
            "{filter}"
        );
    }

    // Delete the WRITEs and the cluster binding by two filters, then the rest by principal.
    let writes = AclFilter {
        operation: Some(Operation::Write),
        ..mine.clone()
    };
    let deleted = admin
        .delete_acls(&[writes, AclFilter::from(&acls[4])], TIMEOUT)
        .expect("delete by filters");
    assert_eq!(
        deleted,
        sorted(&[acls[0].clone(), acls[1].clone(), acls[4].clone()])
    );
    let left = describe_until(&admin, &mine, |d| d.len() == acls.len() - 3);
    assert_eq!(left, sorted(&[&acls[2..4], &acls[5..]].concat()));
    let deleted = admin
        .delete_acls(std::slice::from_ref(&mine), TIMEOUT)
        .expect("delete the rest");
    assert_eq!(deleted, left);
    assert_eq!(describe_until(&admin, &mine, <[_]>::is_empty), []);
    // Deleting what is not there deletes nothing, and is no error.
    assert_eq!(
        admin.delete_acls(&[mine], TIMEOUT).expect("delete none"),
        []
    );
}

#[test]
fn scram_credentials_are_created_described_updated_and_deleted() {
    let admin = admin();
    let user = unique("user");
    let other = unique("other");
    let both = [user.as_str(), other.as_str()];
    let credential = |mechanism, iterations| ScramCredential {
        user: user.clone(),
        mechanism,
        iterations,
    };

    assert_eq!(
        admin
            .describe_scram_credentials(&both, TIMEOUT)
            .expect("describe"),
        []
    );
    admin
        .upsert_scram_credential(&user, ScramMechanism::Sha256, "pw-256", 8192, TIMEOUT)
        .expect("upsert SHA-256");
    admin
        .upsert_scram_credential(&user, ScramMechanism::Sha512, "pw-512", 4096, TIMEOUT)
        .expect("upsert SHA-512");
    let expected = [
        credential(ScramMechanism::Sha256, 8192),
        credential(ScramMechanism::Sha512, 4096),
    ];
    assert_eq!(
        credentials_until(&admin, &both, |c| c == expected),
        expected
    );
    // Every user's: ours among them.
    let all = credentials_until(&admin, &[], |all| all.contains(&expected[1]));
    assert!(
        all.contains(&credential(ScramMechanism::Sha512, 4096)),
        "{all:?}"
    );

    // An upsert replaces.
    admin
        .upsert_scram_credential(&user, ScramMechanism::Sha512, "pw-new", 16384, TIMEOUT)
        .expect("replace SHA-512");
    admin
        .delete_scram_credential(&user, ScramMechanism::Sha256, TIMEOUT)
        .expect("delete SHA-256");
    let expected = [credential(ScramMechanism::Sha512, 16384)];
    assert_eq!(
        credentials_until(&admin, &[&user], |c| c == expected),
        expected
    );
    admin
        .delete_scram_credential(&user, ScramMechanism::Sha512, TIMEOUT)
        .expect("delete SHA-512");
    assert_eq!(credentials_until(&admin, &[&user], <[_]>::is_empty), []);

    // Deleting a credential the user does not have: the broker says so.
    let err = admin
        .delete_scram_credential(&user, ScramMechanism::Sha512, TIMEOUT)
        .expect_err("nothing to delete");
    assert!(err.is(RDKafkaErrorCode::ResourceNotFound), "{err}");
    assert!(matches!(&err, AdminError::ScramRefused { refused, .. } if refused[0].0 == user));
}

#[test]
fn refusals_name_the_broker_error_per_item() {
    let admin = admin();
    let principal = format!("User:{}", unique("mixed"));
    let good = AclBinding::allow(
        &principal,
        Operation::Read,
        ResourceType::Topic,
        PatternType::Literal,
        unique("topic"),
    );
    // Kafka principals are TYPE:NAME.
    let bad = AclBinding {
        principal: unique("no-type"),
        ..good.clone()
    };
    let err = admin
        .create_acls(&[good.clone(), bad.clone()], TIMEOUT)
        .expect_err("the principal without a type is refused");
    let AdminError::AclsRefused { requested, refused } = &err else {
        panic!("not a per-binding refusal: {err:?}");
    };
    assert_eq!(*requested, 2);
    assert_eq!(refused.len(), 1, "{err}");
    assert_eq!(refused[0].0, bad);
    assert!(err.is(RDKafkaErrorCode::InvalidRequest), "{err}");
    assert!(err.to_string().contains("INVALID_REQUEST"), "{err}");
    // The other binding was created anyway.
    let mine = AclFilter::principal(&principal);
    assert_eq!(describe_until(&admin, &mine, |d| !d.is_empty()), [good]);
    admin.delete_acls(&[mine], TIMEOUT).expect("clean up");

    // Fewer iterations than SCRAM allows: refused by the broker, password not shown.
    let err = admin
        .upsert_scram_credential(
            &unique("weak"),
            ScramMechanism::Sha256,
            "secret-password",
            100,
            TIMEOUT,
        )
        .expect_err("100 iterations are too few");
    assert!(err.is(RDKafkaErrorCode::UnacceptableCredential), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("secret-password"), "{shown}");

    // Refused before anything is sent.
    let err = admin
        .create_acls(
            &[AclBinding {
                name: "nul\0byte".to_owned(),
                ..bad
            }],
            TIMEOUT,
        )
        .expect_err("a NUL byte");
    assert!(
        matches!(
            err,
            AdminError::Invalid {
                what: "resource name",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_unreachable_cluster_is_a_timeout_named_as_such() {
    // The configured cluster's settings (SASL, TLS), but nothing listens on port 1.
    let mut config = config();
    config.set("bootstrap.servers", "127.0.0.1:1");
    let admin = KafkaAdmin::new(&config).expect("admin client");
    let started = Instant::now();
    let err = admin
        .describe_acls(&AclFilter::any(), Duration::from_secs(2))
        .expect_err("no broker");
    assert!(err.is(RDKafkaErrorCode::OperationTimedOut), "{err}");
    assert!(err.to_string().contains("_TIMED_OUT"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
