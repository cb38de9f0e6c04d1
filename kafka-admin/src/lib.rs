//! Kafka's ACL and SCRAM-credential admin calls, which rust-rdkafka does not wrap.
//!
//! # Why this crate exists
//!
//! aval applies the ACL layout its topic catalogue declares, reports ACL drift, and creates
//! tenants' SCRAM credentials (issue 11). rust-rdkafka 0.39 wraps topic, partition and
//! config administration but not CreateAcls, DescribeAcls, DeleteAcls,
//! AlterUserScramCredentials nor DescribeUserScramCredentials; librdkafka (2.12, built by
//! rdkafka-sys) has them, and rdkafka re-exports their bindings as `rdkafka::bindings`.
//! Calling them takes `unsafe`, which the workspace forbids everywhere else: this crate is
//! the one place it is allowed (`unsafe_code = "deny"` in its `[lints]`, allowed only in
//! the private `native` module), behind the safe API below.
//!
//! # The API
//!
//! [`KafkaAdmin`] is built from the same [`rdkafka::ClientConfig`] as aval's other clients
//! (bootstrap servers, TLS, SASL) and offers blocking calls, each with a request timeout:
//! [`create_acls`](KafkaAdmin::create_acls), [`describe_acls`](KafkaAdmin::describe_acls),
//! [`delete_acls`](KafkaAdmin::delete_acls),
//! [`upsert_scram_credential`](KafkaAdmin::upsert_scram_credential),
//! [`delete_scram_credential`](KafkaAdmin::delete_scram_credential),
//! [`describe_scram_credentials`](KafkaAdmin::describe_scram_credentials). It is `Clone`,
//! `Send` and `Sync`: from async code, call it inside `tokio::task::spawn_blocking`.
//! Errors ([`AdminError`]) name the broker's error code, name and message
//! (`SECURITY_DISABLED` when the cluster has no authorizer,
//! `CLUSTER_AUTHORIZATION_FAILED` when the principal may not alter ACLs), per binding or
//! per user where the broker answers per item.
//!
//! # Why the unsafe code is sound
//!
//! * **The client handle.** [`KafkaAdmin`] owns an `rdkafka::client::Client` (a
//!   producer-type `rd_kafka_t`, as rdkafka's own `AdminClient` creates), whose drop calls
//!   `rd_kafka_destroy`. Every native call borrows `&self`, so the handle outlives each
//!   call and everything the call creates; nothing native is kept between calls.
//! * **Objects we create** (queues, admin options, ACL bindings and filters, SCRAM
//!   alterations, and result events) are wrapped at once in an owner that calls their
//!   librdkafka destroy function exactly once, on drop (`rd_kafka_queue_destroy`,
//!   `rd_kafka_AdminOptions_destroy`, `rd_kafka_AclBinding_destroy`,
//!   `rd_kafka_UserScramCredentialAlteration_destroy`, `rd_kafka_event_destroy`). The
//!   admin functions (`rd_kafka_CreateAcls` and the others) copy their arguments and
//!   options into the request before returning (librdkafka's `rdkafka_admin.c`), so ours
//!   are destroyed after the call, never handed over.
//! * **C strings.** Every string is passed as a `CString` (a NUL byte inside is an
//!   [`AdminError::Invalid`], never a truncation) that lives until the librdkafka
//!   constructor returns; the constructors `strdup` them. A password goes by pointer and
//!   length (librdkafka copies it; it holds that copy until the request is done). Strings
//!   librdkafka returns are copied into Rust `String`s while their owner is alive.
//! * **Events and queues.** Each request gets a queue of its own
//!   (`rd_kafka_queue_new`), so its result cannot be taken by another call (or by rdkafka's
//!   `AdminClient` polling thread, which reads an opaque pointer from every event it
//!   polls); the call then blocks in `rd_kafka_queue_poll` for the request timeout plus a
//!   grace period. librdkafka always posts a result, `_TIMED_OUT` at worst; if none came
//!   the queue is destroyed, which disables it, and a late result is freed by librdkafka.
//!   Result arrays and the objects in them belong to the event: they are read through
//!   slices whose lifetime is tied to it, and copied out before it is destroyed. The
//!   event is destroyed before its queue.
//! * **A librdkafka bug.** librdkafka 2.12's DescribeUserScramCredentials parser stores a
//!   broker's request-level error message (e.g. CLUSTER_AUTHORIZATION_FAILED) as a
//!   pointer to its own stack (`RD_KAFKAP_STR_DUPA`, an alloca) or to a static string,
//!   which `rd_kafka_event_destroy` then frees: glibc aborts the process ("munmap_chunk():
//!   invalid pointer"), the first version of the tests did. For that call, an event with
//!   a broker error code is therefore never destroyed (leaked: a few hundred bytes per
//!   refused describe) and its message never read (librdkafka's static text for the code
//!   stands in); and the call waits for its result however long it takes, so that
//!   librdkafka never gets to destroy such a result itself. The test suite runs clean
//!   under valgrind's memcheck.
//! * **Enums from the broker.** A Rust enum holding an undeclared value is undefined
//!   behaviour, and librdkafka passes some values through from the broker unchecked (a
//!   SCRAM mechanism, an error code newer than librdkafka). The getters that return them
//!   are declared again in `native` returning a C `int` (the same symbol and ABI), and
//!   the integers are mapped to Rust enums by value; unknown values are errors.
//! * **The main queue.** rdkafka's `Client` routes librdkafka's log lines to the handle's
//!   main queue, which rdkafka serves only when a consumer or producer is polled; each
//!   call here drains it before and after its request and hands log lines and global
//!   errors to the client context (so they reach `tracing` with aval's context), instead
//!   of letting them pile up. SASL/OAUTHBEARER token refresh events, which rdkafka's
//!   polling would serve, are not: aval logs in with SCRAM or PLAIN.
//! * **Threads.** librdkafka's admin functions are thread-safe; the per-call queue keeps
//!   concurrent calls apart.
//!
//! # What librdkafka does not tell
//!
//! librdkafka 2.12 drops DescribeAcls' request-level error (`rdkafka_admin.c` reads the
//! broker's error code and discards it): a broker without an authorizer answers
//! SECURITY_DISABLED, and a principal without the right to describe ACLs gets
//! CLUSTER_AUTHORIZATION_FAILED (as does one whose filter the broker rejects), but
//! `describe_acls` returns no ACLs in every case (the tests pin this down). CreateAcls
//! and DeleteAcls report those errors per item, so
//! [`authorizer_enabled`](KafkaAdmin::authorizer_enabled) asks with a DeleteAcls that
//! selects nothing; ACL drift should be reported only after it.

mod acl;
mod error;
mod native;
mod scram;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::{Client, ClientContext, DefaultClientContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::types::RDKafkaType;

pub use crate::acl::{
    AclBinding, AclFilter, CLUSTER_RESOURCE_NAME, Operation, PatternFilter, PatternType,
    Permission, ResourceType,
};
pub use crate::error::{AdminError, ApiError};
pub use crate::scram::{ScramCredential, ScramMechanism};

/// Kafka's default (and minimum) SCRAM iteration count is 4096; the broker accepts up to
/// 16384.
pub const DEFAULT_SCRAM_ITERATIONS: u32 = 8192;

/// The principal, host and topic of [`KafkaAdmin::authorizer_enabled`]'s filter: an ACL no
/// one has.
const AUTHORIZER_PROBE: &str = "aval.kafka-admin.authorizer-probe.no-such-acl";

/// ACL and SCRAM-credential administration of one cluster, through a librdkafka handle of
/// its own. Cheap to clone (the handle is shared).
pub struct KafkaAdmin<C: ClientContext + 'static = DefaultClientContext> {
    client: Arc<Client<C>>,
}

impl<C: ClientContext> Clone for KafkaAdmin<C> {
    fn clone(&self) -> Self {
        Self {
            client: Arc::clone(&self.client),
        }
    }
}

impl<C: ClientContext> fmt::Debug for KafkaAdmin<C> {
    /// Shows nothing of the configuration, which holds the SASL password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaAdmin").finish_non_exhaustive()
    }
}

impl KafkaAdmin<DefaultClientContext> {
    /// A client for the cluster `config` reaches, as the principal it logs in as.
    pub fn new(config: &ClientConfig) -> Result<Self, AdminError> {
        Self::with_context(config, DefaultClientContext)
    }
}

impl<C: ClientContext> KafkaAdmin<C> {
    /// As [`KafkaAdmin::new`], with a context that receives librdkafka's log lines and
    /// errors.
    pub fn with_context(config: &ClientConfig, context: C) -> Result<Self, AdminError> {
        let native = config.create_native_config()?;
        let client = Client::new(config, native, RDKafkaType::RD_KAFKA_PRODUCER, context)?;
        Ok(Self {
            client: Arc::new(client),
        })
    }

    /// Creates the bindings (creating one that exists is no error). A refused binding
    /// does not stop the others: [`AdminError::AclsRefused`] lists each refused one with
    /// the broker's error.
    pub fn create_acls(&self, acls: &[AclBinding], timeout: Duration) -> Result<(), AdminError> {
        if acls.is_empty() {
            return Ok(());
        }
        let natives: Vec<_> = acls.iter().map(AclBinding::to_native).collect();
        let results = native::create_acls(&self.client, &natives, timeout)?;
        let refused: Vec<_> = acls
            .iter()
            .zip(results)
            .filter_map(|(acl, error)| error.map(|e| (acl.clone(), e)))
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(AdminError::AclsRefused {
                requested: acls.len(),
                refused,
            })
        }
    }

    /// The bindings `filter` selects, sorted. On a cluster without an authorizer, or for a
    /// principal that may not describe ACLs, this is empty, not an error (librdkafka drops
    /// that error; see [`authorizer_enabled`](Self::authorizer_enabled)).
    pub fn describe_acls(
        &self,
        filter: &AclFilter,
        timeout: Duration,
    ) -> Result<Vec<AclBinding>, AdminError> {
        let raw = native::describe_acls(&self.client, &filter.to_native(), timeout)?;
        let mut acls = raw
            .into_iter()
            .map(AclBinding::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| AdminError::Unexpected {
                operation: "describe ACLs",
                detail: format!("an ACL librdkafka could not decode: {detail}"),
            })?;
        acls.sort();
        Ok(acls)
    }

    /// Deletes every binding any of `filters` selects, and returns them (sorted, each
    /// once). A failed filter does not stop the others: [`AdminError::AclFiltersRefused`]
    /// lists them, with what the others deleted.
    pub fn delete_acls(
        &self,
        filters: &[AclFilter],
        timeout: Duration,
    ) -> Result<Vec<AclBinding>, AdminError> {
        const OP: &str = "delete ACLs";
        if filters.is_empty() {
            return Ok(Vec::new());
        }
        let natives: Vec<_> = filters.iter().map(AclFilter::to_native).collect();
        let outcomes = native::delete_acls(&self.client, &natives, timeout)?;
        let mut deleted = Vec::new();
        let mut refused = Vec::new();
        for (filter, outcome) in filters.iter().zip(outcomes) {
            match outcome {
                Err(error) => refused.push((filter.clone(), error)),
                Ok(matching) => {
                    for (raw, error) in matching {
                        let acl =
                            AclBinding::try_from(raw).map_err(|detail| AdminError::Unexpected {
                                operation: OP,
                                detail: format!("an ACL librdkafka could not decode: {detail}"),
                            });
                        match (acl, error) {
                            (Ok(acl), None) => deleted.push(acl),
                            // One matching binding that could not be deleted: report it
                            // under its filter, exactly.
                            (Ok(acl), Some(error)) => refused.push((AclFilter::from(&acl), error)),
                            (Err(e), None) => return Err(e),
                            (Err(_), Some(error)) => refused.push((filter.clone(), error)),
                        }
                    }
                }
            }
        }
        deleted.sort();
        deleted.dedup();
        if refused.is_empty() {
            Ok(deleted)
        } else {
            Err(AdminError::AclFiltersRefused {
                requested: filters.len(),
                refused,
                deleted,
            })
        }
    }

    /// Whether the cluster enforces ACLs: `false` when it answers SECURITY_DISABLED (no
    /// authorizer), which [`describe_acls`](Self::describe_acls) cannot tell. Asks by
    /// deleting with a filter that selects no ACL (a principal no one has), which needs the
    /// right to alter ACLs: otherwise the error is CLUSTER_AUTHORIZATION_FAILED.
    pub fn authorizer_enabled(&self, timeout: Duration) -> Result<bool, AdminError> {
        let nothing = AclFilter {
            resource: Some(ResourceType::Topic),
            name: Some(AUTHORIZER_PROBE.to_owned()),
            pattern: PatternFilter::Exactly(PatternType::Literal),
            principal: Some(format!("User:{AUTHORIZER_PROBE}")),
            host: Some(AUTHORIZER_PROBE.to_owned()),
            operation: None,
            permission: None,
        };
        match self.delete_acls(&[nothing], timeout) {
            Ok(_) => Ok(true),
            Err(e) if e.is(RDKafkaErrorCode::SecurityDisabled) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces `user`'s credential for `mechanism` (a random salt; `iterations`
    /// between 4096 and 16384, else the broker answers UNACCEPTABLE_CREDENTIAL). The
    /// password goes to librdkafka, which salts and hashes it before sending; it appears in
    /// no error.
    pub fn upsert_scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
        password: &str,
        iterations: u32,
        timeout: Duration,
    ) -> Result<(), AdminError> {
        const OP: &str = "upsert SCRAM credential";
        let invalid = |what, reason: &str| AdminError::Invalid {
            operation: OP,
            what,
            reason: reason.to_owned(),
        };
        if user.is_empty() {
            return Err(invalid("user name", "empty"));
        }
        if password.is_empty() {
            return Err(invalid("password", "empty"));
        }
        let iterations = i32::try_from(iterations)
            .ok()
            .filter(|&i| i > 0)
            .ok_or_else(|| invalid("iterations", "must be between 1 and 2^31-1"))?;
        let alteration = native::Alteration::Upsert {
            user,
            mechanism: mechanism.to_native(),
            iterations,
            password: password.as_bytes(),
        };
        self.alter_scram(OP, alteration, timeout)
    }

    /// Deletes `user`'s credential for `mechanism` (RESOURCE_NOT_FOUND if it has none).
    pub fn delete_scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
        timeout: Duration,
    ) -> Result<(), AdminError> {
        const OP: &str = "delete SCRAM credential";
        if user.is_empty() {
            return Err(AdminError::Invalid {
                operation: OP,
                what: "user name",
                reason: "empty".to_owned(),
            });
        }
        let alteration = native::Alteration::Delete {
            user,
            mechanism: mechanism.to_native(),
        };
        self.alter_scram(OP, alteration, timeout)
    }

    fn alter_scram(
        &self,
        operation: &'static str,
        alteration: native::Alteration<'_>,
        timeout: Duration,
    ) -> Result<(), AdminError> {
        let results = native::alter_scram(&self.client, operation, &[alteration], timeout)?;
        let refused: Vec<_> = results
            .into_iter()
            .filter_map(|(user, error)| error.map(|e| (user, e)))
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(AdminError::ScramRefused { operation, refused })
        }
    }

    /// The SCRAM credentials of `users` (of every user when empty), sorted. A user with
    /// none has no entry.
    pub fn describe_scram_credentials(
        &self,
        users: &[&str],
        timeout: Duration,
    ) -> Result<Vec<ScramCredential>, AdminError> {
        const OP: &str = "describe SCRAM credentials";
        if users.iter().any(|u| u.is_empty()) {
            return Err(AdminError::Invalid {
                operation: OP,
                what: "user name",
                reason: "empty".to_owned(),
            });
        }
        let mut users: Vec<&str> = users.to_vec();
        users.sort_unstable();
        users.dedup();
        let described = native::describe_scram(&self.client, &users, timeout)?;
        let mut credentials = Vec::new();
        let mut refused = Vec::new();
        for (user, outcome) in described {
            match outcome {
                Ok(raw) => {
                    for c in raw {
                        let mechanism =
                            ScramMechanism::from_native(c.mechanism).ok_or_else(|| {
                                AdminError::Unexpected {
                                    operation: OP,
                                    detail: format!(
                                        "user {user:?} has a credential of unknown mechanism {}",
                                        c.mechanism
                                    ),
                                }
                            })?;
                        credentials.push(ScramCredential {
                            user: user.clone(),
                            mechanism,
                            iterations: c.iterations,
                        });
                    }
                }
                Err(e) if e.is(RDKafkaErrorCode::ResourceNotFound) => {}
                Err(e) => refused.push((user, e)),
            }
        }
        if !refused.is_empty() {
            return Err(AdminError::ScramRefused {
                operation: OP,
                refused,
            });
        }
        credentials.sort();
        Ok(credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_goes_to_blocking_threads() {
        fn spawn_blocking_takes<T: Clone + Send + Sync + 'static>() {}
        spawn_blocking_takes::<KafkaAdmin>();
    }

    #[test]
    fn debug_shows_no_configuration() {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", "u")
            .set("sasl.password", "the-password");
        let admin = KafkaAdmin::new(&config).expect("a client needs no broker to exist");
        assert_eq!(format!("{admin:?}"), "KafkaAdmin { .. }");
    }
}
