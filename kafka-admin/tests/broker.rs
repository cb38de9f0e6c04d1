//! The admin calls against a real Kafka broker with an authorizer (StandardAuthorizer),
//! through a SASL listener, logged in as a super user (one who may alter ACLs and SCRAM
//! credentials); the tests also log in as a user they create, who may not.
//!
//! The broker is the secured listener `scripts/stack up` starts: its settings come from the
//! environment or else from the repository's `.stack.env`: `KAFKA_SECURE_BOOTSTRAP`,
//! `KAFKA_ADMIN_SASL_USERNAME` and `KAFKA_ADMIN_SASL_PASSWORD` (a super user),
//! `KAFKA_SASL_MECHANISM` and `KAFKA_SSL_CA_LOCATION`. Without them these tests fail.
//!
//! Every run uses names of its own (principals, users, resources) and removes what it
//! created, so runs can share a broker.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aval_kafka_admin::{
    AclBinding, AclFilter, AdminError, CLUSTER_RESOURCE_NAME, DEFAULT_SCRAM_ITERATIONS, KafkaAdmin,
    Operation, PatternFilter, PatternType, Permission, ResourceType, ScramCredential,
    ScramMechanism,
};
use rdkafka::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A setting of the stack, from the environment or else from `.stack.env`.
fn optional(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .or_else(|| {
            let file =
                std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.stack.env"))
                    .ok()?;
            file.lines()
                .filter_map(|line| line.trim().split_once('='))
                .find(|(key, _)| key.trim() == name)
                .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        })
        .filter(|v| !v.is_empty())
}

fn required(name: &str) -> String {
    optional(name).unwrap_or_else(|| {
        panic!(
            "{name} is not set: these tests need the secured listener of `scripts/stack up` \
             (a Kafka broker with an authorizer, and a super user's login)"
        )
    })
}

/// The configured broker's SASL mechanism (the one a created user logs in with too).
fn mechanism() -> ScramMechanism {
    match optional("KAFKA_SASL_MECHANISM").as_deref() {
        None | Some("SCRAM-SHA-512") => ScramMechanism::Sha512,
        Some("SCRAM-SHA-256") => ScramMechanism::Sha256,
        Some(other) => panic!("KAFKA_SASL_MECHANISM={other}: SCRAM-SHA-256 or -512"),
    }
}

/// The configured broker, logged in as `username`.
fn config_as(username: &str, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    let ca = optional("KAFKA_SSL_CA_LOCATION");
    config
        .set("bootstrap.servers", required("KAFKA_SECURE_BOOTSTRAP"))
        .set(
            "security.protocol",
            if ca.is_some() {
                "SASL_SSL"
            } else {
                "SASL_PLAINTEXT"
            },
        )
        .set("sasl.mechanism", mechanism().as_str())
        .set("sasl.username", username)
        .set("sasl.password", password);
    if let Some(ca) = ca {
        config.set("ssl.ca.location", ca);
    }
    config
}

/// The configured broker as the configured super user.
fn config() -> ClientConfig {
    config_as(
        &required("KAFKA_ADMIN_SASL_USERNAME"),
        &required("KAFKA_ADMIN_SASL_PASSWORD"),
    )
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

#[test]
fn a_created_user_logs_in_and_is_refused_what_its_acls_do_not_allow() {
    let admin = admin();
    assert!(
        admin.authorizer_enabled(TIMEOUT).expect("authorizer"),
        "the broker enforces ACLs"
    );
    let user = unique("tenant");
    let password = "tenant-password-1";
    admin
        .upsert_scram_credential(
            &user,
            mechanism(),
            password,
            DEFAULT_SCRAM_ITERATIONS,
            TIMEOUT,
        )
        .expect("create the tenant's credential");
    credentials_until(&admin, &[&user], |c| !c.is_empty());

    // Logged in (the errors are the authorizer's, not authentication failures), and refused:
    // ACLs and credentials are the cluster's, and the tenant has no right on it.
    let tenant = KafkaAdmin::new(&config_as(&user, password)).expect("tenant client");
    let acl = AclBinding::allow(
        format!("User:{user}"),
        Operation::Write,
        ResourceType::Topic,
        PatternType::Prefixed,
        unique("topics"),
    );
    let err = tenant
        .create_acls(&[acl], TIMEOUT)
        .expect_err("a tenant may not create ACLs");
    assert!(
        err.is(RDKafkaErrorCode::ClusterAuthorizationFailed),
        "{err}"
    );
    assert!(
        err.to_string().contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{err}"
    );
    let err = tenant
        .describe_scram_credentials(&[&user], TIMEOUT)
        .expect_err("a tenant may not describe credentials");
    assert!(
        err.is(RDKafkaErrorCode::ClusterAuthorizationFailed),
        "{err}"
    );
    let err = tenant
        .upsert_scram_credential(&user, mechanism(), "another", 8192, TIMEOUT)
        .expect_err("a tenant may not change credentials, not even its own");
    assert!(
        err.is(RDKafkaErrorCode::ClusterAuthorizationFailed),
        "{err}"
    );
    let err = tenant
        .authorizer_enabled(TIMEOUT)
        .expect_err("a tenant may not delete ACLs");
    assert!(
        err.is(RDKafkaErrorCode::ClusterAuthorizationFailed),
        "{err}"
    );
    // librdkafka drops DescribeAcls' error: the refused tenant sees no ACLs at all.
    assert_eq!(
        tenant
            .describe_acls(&AclFilter::any(), TIMEOUT)
            .expect("describe"),
        []
    );

    // A wrong password: the request only times out, and the error says why.
    let wrong = KafkaAdmin::new(&config_as(&user, "not-the-password")).expect("client");
    let err = wrong
        .describe_scram_credentials(&[&user], Duration::from_secs(3))
        .expect_err("a wrong password");
    assert!(err.is(RDKafkaErrorCode::OperationTimedOut), "{err}");
    assert!(err.is(RDKafkaErrorCode::Authentication), "{err}");
    assert!(
        !format!("{err} {err:?}").contains("not-the-password"),
        "{err:?}"
    );

    admin
        .delete_scram_credential(&user, mechanism(), TIMEOUT)
        .expect("clean up");
}

#[test]
fn calls_from_several_threads_get_their_own_results() {
    let admin = admin();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let admin = admin.clone();
            std::thread::spawn(move || {
                let principal = format!("User:{}", unique(&format!("thread{i}")));
                let acl = AclBinding::allow(
                    &principal,
                    Operation::Read,
                    ResourceType::Topic,
                    PatternType::Literal,
                    unique("topic"),
                );
                let mine = AclFilter::principal(&principal);
                admin
                    .create_acls(std::slice::from_ref(&acl), TIMEOUT)
                    .expect("create");
                let described = describe_until(&admin, &mine, |d| !d.is_empty());
                let deleted = admin.delete_acls(&[mine], TIMEOUT).expect("delete");
                (acl, described, deleted)
            })
        })
        .collect();
    for thread in threads {
        let (acl, described, deleted) = thread.join().expect("thread");
        assert_eq!(described, deleted);
        assert_eq!(deleted, [acl]);
    }
}
