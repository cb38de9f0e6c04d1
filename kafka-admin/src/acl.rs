//! ACL bindings and filters: the safe types, and their plain-data conversions to and from
//! librdkafka's enums (no FFI here; `native` does the calls).

use std::fmt;

use rdkafka::bindings::{
    rd_kafka_AclOperation_t, rd_kafka_AclPermissionType_t, rd_kafka_ResourcePatternType_t,
    rd_kafka_ResourceType_t,
};

/// The name of the one cluster resource (Kafka's `kafka-cluster`).
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// Each variant maps to one librdkafka enum value (both ways) and has Kafka's own name.
macro_rules! native_enum {
    ($ty:ident, $native:ident, { $($variant:ident => $nvariant:ident, $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in Kafka's numbering order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub(crate) fn to_native(self) -> $native {
                match self {
                    $($ty::$variant => $native::$nvariant),+
                }
            }

            /// The value librdkafka reported as `code`; `None` for UNKNOWN and the ANY/MATCH
            /// filter values, which no binding has.
            pub(crate) fn from_native(code: i32) -> Option<Self> {
                $(if code == $native::$nvariant as i32 {
                    return Some($ty::$variant);
                })+
                None
            }

            /// Kafka's name (`kafka-acls.sh`, the Java admin client).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// What kind of resource an ACL is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Topic,
    Group,
    /// The cluster; its one resource is named [`CLUSTER_RESOURCE_NAME`]. (librdkafka calls
    /// it BROKER; the wire value is Kafka's CLUSTER.)
    Cluster,
    TransactionalId,
}

native_enum!(ResourceType, rd_kafka_ResourceType_t, {
    Topic => RD_KAFKA_RESOURCE_TOPIC, "TOPIC",
    Group => RD_KAFKA_RESOURCE_GROUP, "GROUP",
    Cluster => RD_KAFKA_RESOURCE_BROKER, "CLUSTER",
    TransactionalId => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID, "TRANSACTIONAL_ID",
});

/// How an ACL's resource name is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatternType {
    /// The name exactly (or every resource, when the name is `*`).
    Literal,
    /// Every resource whose name begins with the name.
    Prefixed,
}

native_enum!(PatternType, rd_kafka_ResourcePatternType_t, {
    Literal => RD_KAFKA_RESOURCE_PATTERN_LITERAL, "LITERAL",
    Prefixed => RD_KAFKA_RESOURCE_PATTERN_PREFIXED, "PREFIXED",
});

/// What an ACL allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

native_enum!(Operation, rd_kafka_AclOperation_t, {
    All => RD_KAFKA_ACL_OPERATION_ALL, "ALL",
    Read => RD_KAFKA_ACL_OPERATION_READ, "READ",
    Write => RD_KAFKA_ACL_OPERATION_WRITE, "WRITE",
    Create => RD_KAFKA_ACL_OPERATION_CREATE, "CREATE",
    Delete => RD_KAFKA_ACL_OPERATION_DELETE, "DELETE",
    Alter => RD_KAFKA_ACL_OPERATION_ALTER, "ALTER",
    Describe => RD_KAFKA_ACL_OPERATION_DESCRIBE, "DESCRIBE",
    ClusterAction => RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION, "CLUSTER_ACTION",
    DescribeConfigs => RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS, "DESCRIBE_CONFIGS",
    AlterConfigs => RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS, "ALTER_CONFIGS",
    IdempotentWrite => RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE, "IDEMPOTENT_WRITE",
});

/// Whether an ACL allows or denies its operation (a DENY wins over any ALLOW).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Allow,
    Deny,
}

native_enum!(Permission, rd_kafka_AclPermissionType_t, {
    Allow => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, "ALLOW",
    Deny => RD_KAFKA_ACL_PERMISSION_TYPE_DENY, "DENY",
});

/// One ACL: `principal` from `host` is allowed (or denied) `operation` on the resources of
/// `resource` type that `name` matches by `pattern`.
///
/// Ordered field by field (resource first), so sorted lists and sets compare as sets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource: ResourceType,
    pub name: String,
    pub pattern: PatternType,
    /// `User:NAME` (Kafka's principal syntax; `User:*` is every user).
    pub principal: String,
    /// The client host, `*` for any.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBinding {
    /// An ALLOW from any host, the usual kind.
    pub fn allow(
        principal: impl Into<String>,
        operation: Operation,
        resource: ResourceType,
        pattern: PatternType,
        name: impl Into<String>,
    ) -> Self {
        Self {
            resource,
            name: name.into(),
            pattern,
            principal: principal.into(),
            host: "*".to_owned(),
            operation,
            permission: Permission::Allow,
        }
    }

    pub(crate) fn to_native(&self) -> NativeAcl<'_> {
        NativeAcl {
            resource: self.resource.to_native(),
            name: Some(&self.name),
            pattern: self.pattern.to_native(),
            principal: Some(&self.principal),
            host: Some(&self.host),
            operation: self.operation.to_native(),
            permission: self.permission.to_native(),
        }
    }
}

impl fmt::Display for AclBinding {
    /// `User:alice ALLOW WRITE on TOPIC PREFIXED "aval." from *`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} on {} {} {:?} from {}",
            self.principal,
            self.permission,
            self.operation,
            self.resource,
            self.pattern,
            self.name,
            self.host
        )
    }
}

/// How a filter matches resource names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PatternFilter {
    /// Bindings of any pattern type whose name equals the filter's name.
    #[default]
    Any,
    /// Bindings that apply to the filter's name: its literal binding, the literal `*`, and
    /// every prefixed binding whose prefix the name begins with (Kafka's MATCH).
    Match,
    /// Only bindings of this pattern type.
    Exactly(PatternType),
}

/// Which ACLs to describe or delete. Each `None` field matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AclFilter {
    pub resource: Option<ResourceType>,
    pub name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// Every ACL of the cluster.
    pub fn any() -> Self {
        Self::default()
    }

    /// Every ACL of `principal` (`User:NAME`).
    pub fn principal(principal: impl Into<String>) -> Self {
        Self {
            principal: Some(principal.into()),
            ..Self::default()
        }
    }

    /// Whether the broker would select `acl` with this filter (the broker's rules, for
    /// checking results and for local drift comparison).
    pub fn matches(&self, acl: &AclBinding) -> bool {
        fn field<T: PartialEq + ?Sized>(want: Option<&T>, have: &T) -> bool {
            want.is_none_or(|w| w == have)
        }
        let name = match (self.pattern, self.name.as_deref()) {
            (_, None) => match self.pattern {
                PatternFilter::Exactly(p) => p == acl.pattern,
                PatternFilter::Any | PatternFilter::Match => true,
            },
            (PatternFilter::Any, Some(name)) => name == acl.name,
            (PatternFilter::Exactly(p), Some(name)) => p == acl.pattern && name == acl.name,
            (PatternFilter::Match, Some(name)) => match acl.pattern {
                PatternType::Literal => acl.name == name || acl.name == "*",
                PatternType::Prefixed => name.starts_with(&acl.name),
            },
        };
        name && field(self.resource.as_ref(), &acl.resource)
            && field(self.principal.as_deref(), acl.principal.as_str())
            && field(self.host.as_deref(), acl.host.as_str())
            && field(self.operation.as_ref(), &acl.operation)
            && field(self.permission.as_ref(), &acl.permission)
    }

    pub(crate) fn to_native(&self) -> NativeAcl<'_> {
        NativeAcl {
            resource: self.resource.map_or(
                rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY,
                ResourceType::to_native,
            ),
            name: self.name.as_deref(),
            pattern: match self.pattern {
                PatternFilter::Any => rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_ANY,
                PatternFilter::Match => {
                    rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_MATCH
                }
                PatternFilter::Exactly(p) => p.to_native(),
            },
            principal: self.principal.as_deref(),
            host: self.host.as_deref(),
            operation: self.operation.map_or(
                rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY,
                Operation::to_native,
            ),
            permission: self.permission.map_or(
                rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
                Permission::to_native,
            ),
        }
    }
}

/// The filter that selects exactly `acl`.
impl From<&AclBinding> for AclFilter {
    fn from(acl: &AclBinding) -> Self {
        Self {
            resource: Some(acl.resource),
            name: Some(acl.name.clone()),
            pattern: PatternFilter::Exactly(acl.pattern),
            principal: Some(acl.principal.clone()),
            host: Some(acl.host.clone()),
            operation: Some(acl.operation),
            permission: Some(acl.permission),
        }
    }
}

impl fmt::Display for AclFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn or_any<T: fmt::Display>(v: Option<T>) -> String {
            v.map_or_else(|| "ANY".to_owned(), |v| v.to_string())
        }
        let pattern = match self.pattern {
            PatternFilter::Any => "ANY".to_owned(),
            PatternFilter::Match => "MATCH".to_owned(),
            PatternFilter::Exactly(p) => p.to_string(),
        };
        write!(
            f,
            "{} {} {} on {} {} {} from {}",
            or_any(self.principal.as_deref()),
            or_any(self.permission),
            or_any(self.operation),
            or_any(self.resource),
            pattern,
            or_any(self.name.as_deref().map(|n| format!("{n:?}"))),
            or_any(self.host.as_deref()),
        )
    }
}

/// A binding or a filter as librdkafka's constructors take it (`None`: a NULL string, which
/// only filters accept).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NativeAcl<'a> {
    pub(crate) resource: rd_kafka_ResourceType_t,
    pub(crate) name: Option<&'a str>,
    pub(crate) pattern: rd_kafka_ResourcePatternType_t,
    pub(crate) principal: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) operation: rd_kafka_AclOperation_t,
    pub(crate) permission: rd_kafka_AclPermissionType_t,
}

/// A binding as librdkafka returned it, copied out of the result event: the enums as the
/// integers librdkafka holds (read as integers, never as Rust enums, so a value this
/// version does not know cannot be an invalid enum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawAcl {
    pub(crate) resource: i32,
    pub(crate) name: Option<String>,
    pub(crate) pattern: i32,
    pub(crate) principal: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) operation: i32,
    pub(crate) permission: i32,
}

impl TryFrom<RawAcl> for AclBinding {
    /// What could not be decoded (an ACL on a resource, pattern, operation or permission
    /// that librdkafka 2.12 does not know, e.g. a delegation-token or user resource).
    type Error = String;

    fn try_from(raw: RawAcl) -> Result<Self, String> {
        let described = || {
            format!(
                "resource type {} {:?} pattern {} principal {:?} host {:?} operation {} permission {}",
                raw.resource,
                raw.name,
                raw.pattern,
                raw.principal,
                raw.host,
                raw.operation,
                raw.permission
            )
        };
        let (Some(resource), Some(pattern), Some(operation), Some(permission)) = (
            ResourceType::from_native(raw.resource),
            PatternType::from_native(raw.pattern),
            Operation::from_native(raw.operation),
            Permission::from_native(raw.permission),
        ) else {
            return Err(described());
        };
        let (Some(name), Some(principal), Some(host)) =
            (raw.name.clone(), raw.principal.clone(), raw.host.clone())
        else {
            return Err(described());
        };
        Ok(Self {
            resource,
            name,
            pattern,
            principal,
            host,
            operation,
            permission,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_write() -> AclBinding {
        AclBinding::allow(
            "User:tenant-acme",
            Operation::Write,
            ResourceType::Topic,
            PatternType::Prefixed,
            "aval.ingest.",
        )
    }

    #[test]
    fn every_enum_value_survives_the_trip_through_librdkafkas_numbers() {
        for &v in ResourceType::ALL {
            assert_eq!(ResourceType::from_native(v.to_native() as i32), Some(v));
        }
        for &v in PatternType::ALL {
            assert_eq!(PatternType::from_native(v.to_native() as i32), Some(v));
        }
        for &v in Operation::ALL {
            assert_eq!(Operation::from_native(v.to_native() as i32), Some(v));
        }
        for &v in Permission::ALL {
            assert_eq!(Permission::from_native(v.to_native() as i32), Some(v));
        }
    }

    #[test]
    fn the_numbers_are_kafkas_wire_values() {
        // The Java client's ResourceType/PatternType/AclOperation/AclPermissionType codes.
        assert_eq!(ResourceType::Topic.to_native() as i32, 2);
        assert_eq!(ResourceType::Cluster.to_native() as i32, 4);
        assert_eq!(ResourceType::TransactionalId.to_native() as i32, 5);
        assert_eq!(PatternType::Literal.to_native() as i32, 3);
        assert_eq!(PatternType::Prefixed.to_native() as i32, 4);
        assert_eq!(Operation::Read.to_native() as i32, 3);
        assert_eq!(Operation::IdempotentWrite.to_native() as i32, 12);
        assert_eq!(Permission::Deny.to_native() as i32, 2);
        assert_eq!(Permission::Allow.to_native() as i32, 3);
    }

    #[test]
    fn unknown_any_and_match_are_no_bindings_value() {
        for code in [-1, 0, 1, 6, 7, 200] {
            assert_eq!(ResourceType::from_native(code), None, "{code}");
        }
        // 2 is MATCH: a filter's pattern, never a binding's.
        for code in [0, 1, 2, 5] {
            assert_eq!(PatternType::from_native(code), None, "{code}");
        }
        // 13 and 14 are Kafka's CREATE_TOKENS and DESCRIBE_TOKENS, unknown to librdkafka.
        for code in [0, 1, 13, 14] {
            assert_eq!(Operation::from_native(code), None, "{code}");
        }
        for code in [0, 1, 4] {
            assert_eq!(Permission::from_native(code), None, "{code}");
        }
    }

    #[test]
    fn names_are_kafkas() {
        assert_eq!(
            ResourceType::TransactionalId.to_string(),
            "TRANSACTIONAL_ID"
        );
        assert_eq!(Operation::DescribeConfigs.to_string(), "DESCRIBE_CONFIGS");
        assert_eq!(
            tenant_write().to_string(),
            r#"User:tenant-acme ALLOW WRITE on TOPIC PREFIXED "aval.ingest." from *"#
        );
        assert_eq!(
            AclFilter::principal("User:x").to_string(),
            "User:x ANY ANY on ANY ANY ANY from ANY"
        );
    }

    #[test]
    fn a_binding_goes_to_librdkafka_with_every_field() {
        let acl = tenant_write();
        let native = acl.to_native();
        assert_eq!(
            native.resource,
            rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC
        );
        assert_eq!(native.name, Some("aval.ingest."));
        assert_eq!(
            native.pattern,
            rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_PREFIXED
        );
        assert_eq!(native.principal, Some("User:tenant-acme"));
        assert_eq!(native.host, Some("*"));
        assert_eq!(
            native.operation,
            rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_WRITE
        );
        assert_eq!(
            native.permission,
            rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW
        );
    }

    #[test]
    fn an_empty_filter_is_any_and_null() {
        let any = AclFilter::any();
        let native = any.to_native();
        assert_eq!(
            native.resource,
            rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY
        );
        assert_eq!(
            native.pattern,
            rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_ANY
        );
        assert_eq!(
            native.operation,
            rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY
        );
        assert_eq!(
            native.permission,
            rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY
        );
        assert_eq!(
            (native.name, native.principal, native.host),
            (None, None, None)
        );
        let matching = AclFilter {
            pattern: PatternFilter::Match,
            ..AclFilter::any()
        };
        assert_eq!(
            matching.to_native().pattern,
            rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_MATCH
        );
    }

    #[test]
    fn a_raw_acl_becomes_the_binding_it_came_from() {
        let acl = tenant_write();
        let native = acl.to_native();
        let raw = RawAcl {
            resource: native.resource as i32,
            name: native.name.map(str::to_owned),
            pattern: native.pattern as i32,
            principal: native.principal.map(str::to_owned),
            host: native.host.map(str::to_owned),
            operation: native.operation as i32,
            permission: native.permission as i32,
        };
        assert_eq!(AclBinding::try_from(raw), Ok(acl));
    }

    #[test]
    fn a_raw_acl_librdkafka_could_not_decode_is_an_error_naming_it() {
        let acl = tenant_write();
        let native = acl.to_native();
        let raw = RawAcl {
            resource: native.resource as i32,
            name: Some("t".to_owned()),
            pattern: native.pattern as i32,
            principal: Some("User:x".to_owned()),
            host: Some("*".to_owned()),
            operation: 0, // UNKNOWN: e.g. CREATE_TOKENS
            permission: native.permission as i32,
        };
        let err = AclBinding::try_from(raw.clone()).expect_err("operation 0 is unknown");
        assert!(err.contains("operation 0"), "{err}");
        let nameless = RawAcl {
            operation: native.operation as i32,
            name: None,
            ..raw
        };
        assert!(AclBinding::try_from(nameless).is_err());
    }

    #[test]
    fn the_exact_filter_of_a_binding_matches_it_and_nothing_else() {
        let acl = tenant_write();
        let exact = AclFilter::from(&acl);
        assert!(exact.matches(&acl));
        let read = AclBinding {
            operation: Operation::Read,
            ..acl.clone()
        };
        assert!(!exact.matches(&read));
        let literal = AclBinding {
            pattern: PatternType::Literal,
            ..acl.clone()
        };
        assert!(!exact.matches(&literal));
        assert!(AclFilter::any().matches(&acl));
        assert!(AclFilter::principal("User:tenant-acme").matches(&acl));
        assert!(!AclFilter::principal("User:tenant-other").matches(&acl));
    }

    #[test]
    fn match_filters_follow_kafkas_rules() {
        let filter = AclFilter {
            resource: Some(ResourceType::Topic),
            name: Some("aval.ingest.acme".to_owned()),
            pattern: PatternFilter::Match,
            ..AclFilter::any()
        };
        let on = |pattern, name: &str| AclBinding {
            pattern,
            name: name.to_owned(),
            ..tenant_write()
        };
        assert!(filter.matches(&on(PatternType::Prefixed, "aval.ingest.")));
        assert!(filter.matches(&on(PatternType::Literal, "aval.ingest.acme")));
        assert!(filter.matches(&on(PatternType::Literal, "*")));
        assert!(!filter.matches(&on(PatternType::Literal, "aval.ingest.")));
        assert!(!filter.matches(&on(PatternType::Prefixed, "aval.decisions.")));
        let any_pattern = AclFilter {
            pattern: PatternFilter::Any,
            ..filter
        };
        assert!(!any_pattern.matches(&on(PatternType::Prefixed, "aval.ingest.")));
        assert!(any_pattern.matches(&on(PatternType::Prefixed, "aval.ingest.acme")));
    }
}
