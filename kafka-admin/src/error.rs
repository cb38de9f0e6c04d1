//! Errors: what the broker (or librdkafka) said, by code, name and message.

use std::fmt;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::acl::{AclBinding, AclFilter};

/// An error code with librdkafka's name for it and the message that came with it.
///
/// Broker errors have Kafka's code (e.g. 54, `SECURITY_DISABLED`: the cluster has no
/// authorizer; 31, `CLUSTER_AUTHORIZATION_FAILED`: the principal may not alter the
/// cluster); librdkafka's own have negative codes and names beginning with `_`
/// (`_TIMED_OUT`, `_INVALID_ARG`, `_TRANSPORT`). The code is kept as the integer received,
/// so a code newer than librdkafka still arrives intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i32,
    pub name: String,
    pub message: String,
}

impl ApiError {
    /// Whether this is `code` (e.g. `RDKafkaErrorCode::SecurityDisabled`).
    pub fn is(&self, code: RDKafkaErrorCode) -> bool {
        self.code == code as i32
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.name, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// A failed admin call. No variant carries a password: the only password the crate sees
/// is passed straight to librdkafka, and librdkafka's and the broker's errors never quote
/// it.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The client could not be created from its configuration.
    #[error("could not create the Kafka admin client: {0}")]
    Client(#[from] KafkaError),

    /// An argument was refused before anything was sent.
    #[error("{operation}: invalid {what}: {reason}")]
    Invalid {
        operation: &'static str,
        what: &'static str,
        reason: String,
    },

    /// The whole request failed: timeout, no broker reachable, or a request-level error
    /// from the broker.
    #[error("{operation} failed: {error}{}", meanwhile(reported))]
    Request {
        operation: &'static str,
        error: ApiError,
        /// What the client reported meanwhile, for a local failure: e.g. `_AUTHENTICATION`
        /// when the cluster refused the login, which the request itself only sees as
        /// `_TIMED_OUT`.
        reported: Vec<ApiError>,
    },

    /// librdkafka did not answer within the request timeout plus a grace period (it
    /// should always answer, with `_TIMED_OUT` at worst).
    #[error("{operation}: no result from librdkafka after {waited:?}")]
    NoResult {
        operation: &'static str,
        waited: Duration,
    },

    /// Some bindings were refused; the others were created.
    #[error("create ACLs: {} of {requested} refused: {}", refused.len(), list(refused))]
    AclsRefused {
        requested: usize,
        refused: Vec<(AclBinding, ApiError)>,
    },

    /// Some filters failed; `deleted` holds what the others deleted.
    #[error("delete ACLs: {} of {requested} filters failed: {}", refused.len(), list(refused))]
    AclFiltersRefused {
        requested: usize,
        refused: Vec<(AclFilter, ApiError)>,
        deleted: Vec<AclBinding>,
    },

    /// The broker refused a SCRAM credential change, or could not describe a user.
    #[error("{operation}: {}", list(refused))]
    ScramRefused {
        operation: &'static str,
        /// The user, and why.
        refused: Vec<(String, ApiError)>,
    },

    /// librdkafka returned something this crate cannot represent (e.g. an ACL on a
    /// resource type librdkafka 2.12 does not know).
    #[error("{operation}: unexpected result: {detail}")]
    Unexpected {
        operation: &'static str,
        detail: String,
    },
}

fn list<T: fmt::Display>(items: &[(T, ApiError)]) -> String {
    items
        .iter()
        .map(|(what, error)| format!("{what}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn meanwhile(reported: &[ApiError]) -> String {
    if reported.is_empty() {
        return String::new();
    }
    let reported: Vec<_> = reported.iter().map(ApiError::to_string).collect();
    format!(" (meanwhile the client reported: {})", reported.join("; "))
}

impl AdminError {
    /// The error codes this error carries (none for local failures).
    pub fn api_errors(&self) -> Vec<&ApiError> {
        match self {
            AdminError::Request {
                error, reported, ..
            } => std::iter::once(error).chain(reported).collect(),
            AdminError::AclsRefused { refused, .. } => refused.iter().map(|(_, e)| e).collect(),
            AdminError::AclFiltersRefused { refused, .. } => {
                refused.iter().map(|(_, e)| e).collect()
            }
            AdminError::ScramRefused { refused, .. } => refused.iter().map(|(_, e)| e).collect(),
            AdminError::Client(_)
            | AdminError::Invalid { .. }
            | AdminError::NoResult { .. }
            | AdminError::Unexpected { .. } => Vec::new(),
        }
    }

    /// Whether any of this error's codes is `code`: e.g. `SecurityDisabled` (the cluster
    /// has no authorizer, so ACLs cannot be applied) or `ClusterAuthorizationFailed`.
    pub fn is(&self, code: RDKafkaErrorCode) -> bool {
        self.api_errors().iter().any(|e| e.is(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Operation, PatternType, ResourceType};

    fn security_disabled() -> ApiError {
        ApiError {
            code: 54,
            name: "SECURITY_DISABLED".to_owned(),
            message: "No Authorizer is configured.".to_owned(),
        }
    }

    #[test]
    fn an_api_error_names_code_name_and_message() {
        assert_eq!(
            security_disabled().to_string(),
            "SECURITY_DISABLED (code 54): No Authorizer is configured."
        );
        assert!(security_disabled().is(RDKafkaErrorCode::SecurityDisabled));
        assert!(!security_disabled().is(RDKafkaErrorCode::ClusterAuthorizationFailed));
    }

    #[test]
    fn refused_bindings_are_listed_with_their_errors() {
        let acl = AclBinding::allow(
            "User:a",
            Operation::Read,
            ResourceType::Topic,
            PatternType::Literal,
            "t",
        );
        let err = AdminError::AclsRefused {
            requested: 2,
            refused: vec![(acl, security_disabled())],
        };
        assert_eq!(
            err.to_string(),
            r#"create ACLs: 1 of 2 refused: User:a ALLOW READ on TOPIC LITERAL "t" from *: SECURITY_DISABLED (code 54): No Authorizer is configured."#
        );
        assert!(err.is(RDKafkaErrorCode::SecurityDisabled));
        let local = AdminError::Invalid {
            operation: "create ACLs",
            what: "principal",
            reason: "contains a NUL byte".to_owned(),
        };
        assert!(local.api_errors().is_empty());
    }
}
