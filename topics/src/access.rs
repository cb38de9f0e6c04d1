//! Who may do what on aval's topics: the ACL layout the catalogue declares, applied by
//! `aval topics apply` (aval's own principal) and `aval admin kafka-tenant` (a company's).
//!
//! aval runs every role as one service principal, which gets what the roles together need on
//! its prefixes and nothing outside them. A tenant principal, a company's own systems talking
//! to Kafka directly, may write orders and data (the ingest and decision-request topics,
//! where every record is checked like an HTTP request) and read its own decisions topic, and
//! nothing else: not another company's decisions, not the shared decisions, not the internal
//! topics (activations, training requests, replies, audit, dead letters).

use crate::{Catalogue, TopicRole};
use aval_kafka_admin::{AclBinding, Operation, PatternType, ResourceType};
use std::collections::BTreeSet;
use uuid::Uuid;

/// A principal as Kafka writes it for a SASL user.
pub fn user_principal(username: &str) -> String {
    format!("User:{username}")
}

/// The SASL user name of a company's own principal.
pub fn tenant_username(company: Uuid) -> String {
    format!("tenant-{company}")
}

/// The prefix of the consumer groups a company's consumers may use, under aval's group
/// prefix so they fall in the deployment's namespace.
pub fn tenant_group_prefix(group_prefix: &str, company: Uuid) -> String {
    format!("{group_prefix}tenant-{company}-")
}

/// What aval's service principal needs: on topics under the catalogue's prefix, read and
/// write (every role), create (the companies' decisions topics, made on demand) and describe
/// (metadata, the configs `topics apply` compares); on its consumer groups, read and
/// describe; on the cluster, idempotent writes (its producers are idempotent).
pub fn service_acls(catalogue: &Catalogue, principal: &str, group_prefix: &str) -> Vec<AclBinding> {
    let mut acls = Vec::new();
    for operation in [
        Operation::Read,
        Operation::Write,
        Operation::Create,
        Operation::Describe,
        Operation::DescribeConfigs,
    ] {
        acls.push(AclBinding::allow(
            principal,
            operation,
            ResourceType::Topic,
            PatternType::Prefixed,
            catalogue.prefix(),
        ));
    }
    for operation in [Operation::Read, Operation::Describe] {
        acls.push(AclBinding::allow(
            principal,
            operation,
            ResourceType::Group,
            PatternType::Prefixed,
            group_prefix,
        ));
    }
    acls.push(AclBinding::allow(
        principal,
        Operation::IdempotentWrite,
        ResourceType::Cluster,
        PatternType::Literal,
        aval_kafka_admin::CLUSTER_RESOURCE_NAME,
    ));
    acls
}

/// What a company's own principal may do: write to the ingest, decision-request and outcomes
/// topics, read its decisions topic with consumer groups under its group prefix.
pub fn tenant_acls(
    catalogue: &Catalogue,
    group_prefix: &str,
    company: Uuid,
    principal: &str,
) -> Vec<AclBinding> {
    let topic = |operation, name: &str| {
        AclBinding::allow(
            principal,
            operation,
            ResourceType::Topic,
            PatternType::Literal,
            name,
        )
    };
    let decisions = catalogue.company_decisions(company).name;
    let groups = tenant_group_prefix(group_prefix, company);
    let mut acls = Vec::new();
    for role in [
        TopicRole::Ingest,
        TopicRole::DecisionRequests,
        TopicRole::Outcomes,
    ] {
        let name = &catalogue.topic(role).name;
        acls.push(topic(Operation::Write, name));
        acls.push(topic(Operation::Describe, name));
    }
    acls.push(topic(Operation::Read, &decisions));
    acls.push(topic(Operation::Describe, &decisions));
    for operation in [Operation::Read, Operation::Describe] {
        acls.push(AclBinding::allow(
            principal,
            operation,
            ResourceType::Group,
            PatternType::Prefixed,
            groups.as_str(),
        ));
    }
    acls
}

/// The resources of one deployment: topics under its prefix, groups under its group prefix,
/// and the cluster. A principal may hold ACLs in other deployments sharing the cluster; only
/// those in this one are compared with its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub topic_prefix: String,
    pub group_prefix: String,
}

impl Scope {
    pub fn of(catalogue: &Catalogue, group_prefix: &str) -> Self {
        Self {
            topic_prefix: catalogue.prefix().to_owned(),
            group_prefix: group_prefix.to_owned(),
        }
    }

    pub fn holds(&self, acl: &AclBinding) -> bool {
        match acl.resource {
            ResourceType::Topic => acl.name.starts_with(&self.topic_prefix),
            ResourceType::Group => acl.name.starts_with(&self.group_prefix),
            ResourceType::Cluster => true,
            ResourceType::TransactionalId => false,
        }
    }
}

/// How a principal's ACLs on the cluster differ from the layout: what is missing, and what
/// the principal holds beyond it (reported, never removed: an operator may have reasons).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclDrift {
    pub missing: Vec<AclBinding>,
    pub unexpected: Vec<AclBinding>,
}

impl AclDrift {
    pub fn between(wanted: &[AclBinding], found: &[AclBinding]) -> Self {
        let wanted: BTreeSet<&AclBinding> = wanted.iter().collect();
        let found: BTreeSet<&AclBinding> = found.iter().collect();
        Self {
            missing: wanted
                .difference(&found)
                .map(|acl| (*acl).clone())
                .collect(),
            unexpected: found
                .difference(&wanted)
                .map(|acl| (*acl).clone())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aval_kafka_admin::{AclFilter, PatternFilter};

    fn catalogue() -> Catalogue {
        Catalogue::new("secure.", 1)
    }

    /// Whether `acls` let `principal` do `operation` on the topic `name` (the broker's
    /// matching, through the admin crate's filter).
    fn allowed(acls: &[AclBinding], principal: &str, operation: Operation, topic: &str) -> bool {
        let filter = AclFilter {
            resource: Some(ResourceType::Topic),
            name: Some(topic.to_owned()),
            pattern: PatternFilter::Match,
            principal: Some(principal.to_owned()),
            operation: Some(operation),
            ..AclFilter::default()
        };
        acls.iter().any(|acl| filter.matches(acl))
    }

    #[test]
    fn a_tenant_writes_data_and_orders_and_reads_only_its_own_decisions() {
        let catalogue = catalogue();
        let (company, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let principal = user_principal(&tenant_username(company));
        let acls = tenant_acls(&catalogue, "secure-", company, &principal);
        let name = |role| catalogue.topic(role).name.clone();
        for role in [
            TopicRole::Ingest,
            TopicRole::DecisionRequests,
            TopicRole::Outcomes,
        ] {
            assert!(allowed(&acls, &principal, Operation::Write, &name(role)));
            assert!(!allowed(&acls, &principal, Operation::Read, &name(role)));
        }
        let own = catalogue.company_decisions(company).name;
        assert!(allowed(&acls, &principal, Operation::Read, &own));
        assert!(!allowed(&acls, &principal, Operation::Write, &own));
        let neighbour = catalogue.company_decisions(other).name;
        assert!(!allowed(&acls, &principal, Operation::Read, &neighbour));
        for role in [
            TopicRole::TrainingRequests,
            TopicRole::ModelActivations,
            TopicRole::DecisionReplies,
            TopicRole::Decisions,
            TopicRole::Audit,
            TopicRole::AuditHeads,
            TopicRole::DeadLetters,
        ] {
            for operation in [Operation::Read, Operation::Write] {
                assert!(
                    !allowed(&acls, &principal, operation, &name(role)),
                    "{operation:?} on {:?}",
                    role
                );
            }
        }
        assert!(acls.iter().all(|acl| acl.principal == principal));
    }

    #[test]
    fn the_service_principal_may_use_its_prefix_and_nothing_outside() {
        let catalogue = catalogue();
        let acls = service_acls(&catalogue, "User:aval", "secure-");
        for topic in catalogue.topics() {
            for operation in [Operation::Read, Operation::Write] {
                assert!(allowed(&acls, "User:aval", operation, &topic.name));
            }
        }
        let company = catalogue.company_decisions(Uuid::from_u128(3)).name;
        assert!(allowed(&acls, "User:aval", Operation::Create, &company));
        assert!(!allowed(
            &acls,
            "User:aval",
            Operation::Read,
            "other.ingest"
        ));
        assert!(!allowed(&acls, "User:aval", Operation::Delete, &company));
    }

    #[test]
    fn drift_names_what_is_missing_and_what_is_extra() {
        let wanted = service_acls(&catalogue(), "User:aval", "secure-");
        assert!(AclDrift::between(&wanted, &wanted).is_empty());
        let scope = Scope::of(&catalogue(), "secure-");
        assert!(wanted.iter().all(|acl| scope.holds(acl)));
        let elsewhere = AclBinding::allow(
            "User:aval",
            Operation::Read,
            ResourceType::Topic,
            PatternType::Prefixed,
            "other-deployment.",
        );
        assert!(!scope.holds(&elsewhere));
        let mut found = wanted[1..].to_vec();
        let extra = AclBinding::allow(
            "User:aval",
            Operation::Alter,
            ResourceType::Cluster,
            PatternType::Literal,
            aval_kafka_admin::CLUSTER_RESOURCE_NAME,
        );
        found.push(extra.clone());
        let drift = AclDrift::between(&wanted, &found);
        assert_eq!(drift.missing, vec![wanted[0].clone()]);
        assert_eq!(drift.unexpected, vec![extra]);
    }
}
