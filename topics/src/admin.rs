//! Makes the cluster match the catalogue: creates missing topics, and reports — never silently
//! repairs — topics whose partitions or configuration differ, because shrinking partitions is
//! impossible and changing them reshuffles keys, which is an operator's call.

use crate::access::{AclDrift, Scope};
use crate::connection::{ConnectionContext, KafkaConnection};
use crate::{AvroCodec, Catalogue, TopicSpec, TopicsError};
use aval_kafka_admin::{AclBinding, AclFilter, KafkaAdmin, ScramMechanism};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use std::collections::HashMap;
use std::time::Duration;

/// One difference between the catalogue and the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub topic: String,
    pub setting: String,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} is {} but the catalogue says {}",
            self.topic, self.setting, self.actual, self.expected
        )
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub created: Vec<String>,
    pub unchanged: Vec<String>,
    pub drift: Vec<Drift>,
    /// Registry subject and schema id for every framed topic.
    pub schemas: Vec<(String, u32)>,
}

/// What applying a principal's ACL layout found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclReport {
    /// The cluster has no authorizer: every client may do everything, and no ACL applies.
    NoAuthorizer,
    Applied {
        principal: String,
        created: Vec<AclBinding>,
        unchanged: usize,
        /// ACLs the principal holds beyond the layout: reported, not removed.
        unexpected: Vec<AclBinding>,
    },
}

#[derive(Debug)]
pub struct TopicAdmin {
    admin: AdminClient<DefaultClientContext>,
    acls: KafkaAdmin<ConnectionContext>,
    timeout: Duration,
}

impl TopicAdmin {
    pub fn new(kafka: &KafkaConnection, timeout: Duration) -> Result<Self, TopicsError> {
        let admin = kafka.client_config().create()?;
        let acls = KafkaAdmin::with_context(&kafka.client_config(), ConnectionContext::default())
            .map_err(TopicsError::Acl)?;
        Ok(Self {
            admin,
            acls,
            timeout,
        })
    }

    /// Creates what is missing, compares what exists, and registers every value schema.
    pub async fn apply(
        &self,
        catalogue: &Catalogue,
        codec: &AvroCodec,
    ) -> Result<ApplyReport, TopicsError> {
        let existing = self.partition_counts()?;
        let mut report = ApplyReport::default();
        let missing: Vec<&TopicSpec> = catalogue
            .topics()
            .iter()
            .filter(|t| !existing.contains_key(&t.name))
            .collect();
        self.create(&missing).await?;
        report.created = missing.iter().map(|t| t.name.clone()).collect();

        let present: Vec<&TopicSpec> = catalogue
            .topics()
            .iter()
            .filter(|t| existing.contains_key(&t.name))
            .collect();
        let configs = self.describe(&present).await?;
        for topic in present {
            let before = report.drift.len();
            let partitions = existing[&topic.name];
            if partitions != topic.partitions {
                report.drift.push(Drift {
                    topic: topic.name.clone(),
                    setting: "partitions".to_owned(),
                    expected: topic.partitions.to_string(),
                    actual: partitions.to_string(),
                });
            }
            let actual = configs.get(&topic.name);
            for (key, expected) in topic.configs() {
                let value = actual
                    .and_then(|c| c.get(key))
                    .cloned()
                    .unwrap_or_else(|| "(unset)".to_owned());
                if value != expected {
                    report.drift.push(Drift {
                        topic: topic.name.clone(),
                        setting: key.to_owned(),
                        expected,
                        actual: value,
                    });
                }
            }
            if report.drift.len() == before {
                report.unchanged.push(topic.name.clone());
            }
        }

        for topic in catalogue.topics().iter().filter(|t| t.value.is_some()) {
            let id = codec.register(topic).await?;
            self.require_backward_compatibility(codec, &topic.value_subject())
                .await?;
            report.schemas.push((topic.value_subject(), id));
        }
        Ok(report)
    }

    /// Sets the catalogue's configs on every topic whose config drifted (partition drift is
    /// left alone: it needs an operator's decision). Returns the topics changed.
    pub async fn fix_config_drift(
        &self,
        catalogue: &Catalogue,
        drift: &[Drift],
    ) -> Result<Vec<String>, TopicsError> {
        let topics: Vec<&TopicSpec> = catalogue
            .topics()
            .iter()
            .filter(|t| {
                drift
                    .iter()
                    .any(|d| d.topic == t.name && d.setting != "partitions")
            })
            .collect();
        let configs: Vec<Vec<(&str, String)>> = topics.iter().map(|t| t.configs()).collect();
        // AlterConfigs replaces a topic's dynamic configs as a whole; the catalogue owns them.
        let alterations: Vec<AlterConfig<'_>> = topics
            .iter()
            .zip(&configs)
            .map(|(t, configs)| {
                configs.iter().fold(
                    AlterConfig::new(ResourceSpecifier::Topic(&t.name)),
                    |alter, (key, value)| alter.set(key, value),
                )
            })
            .collect();
        if alterations.is_empty() {
            return Ok(Vec::new());
        }
        let options = AdminOptions::new().request_timeout(Some(self.timeout));
        for result in self.admin.alter_configs(&alterations, &options).await? {
            result.map_err(|(specifier, code)| TopicsError::Admin {
                topic: format!("{specifier:?}"),
                code,
            })?;
        }
        Ok(topics.iter().map(|t| t.name.clone()).collect())
    }

    /// Consumers decode with the schema they were built with, so a new version must be
    /// readable by them: the registry refuses any change that is not BACKWARD compatible.
    /// (Confluent's default already is; Apicurio's is NONE.)
    async fn require_backward_compatibility(
        &self,
        codec: &AvroCodec,
        subject: &str,
    ) -> Result<(), TopicsError> {
        let response = codec
            .registry_request(reqwest::Method::PUT, &format!("/config/{subject}"))
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(r#"{"compatibility":"BACKWARD"}"#)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| TopicsError::Registry {
                message: format!("cannot set the compatibility of {subject}: {e}"),
                retryable: true,
            })?;
        if !response.status().is_success() {
            return Err(TopicsError::Registry {
                message: format!(
                    "cannot set the compatibility of {subject}: HTTP {}",
                    response.status()
                ),
                retryable: response.status().is_server_error(),
            });
        }
        Ok(())
    }

    /// Deletes every topic of the catalogue that exists, and every company's own decisions
    /// topic under its prefix, records included: the teardown of a test or benchmark
    /// deployment, whose topics would otherwise stay on the broker for good. Returns the
    /// topics deleted.
    pub async fn delete(&self, catalogue: &Catalogue) -> Result<Vec<String>, TopicsError> {
        let existing = self.partition_counts()?;
        let companies = catalogue.company_decisions_prefix();
        let names: Vec<&str> = catalogue
            .topics()
            .iter()
            .map(|t| t.name.as_str())
            .filter(|name| existing.contains_key(*name))
            .chain(
                existing
                    .keys()
                    .map(String::as_str)
                    .filter(|name| name.starts_with(&companies)),
            )
            .collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        let mut deleted = Vec::new();
        for result in self.admin.delete_topics(&names, &options).await? {
            match result {
                Ok(topic) => deleted.push(topic),
                // Deleted meanwhile by someone else: the outcome wanted.
                Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => return Err(TopicsError::Admin { topic, code }),
            }
        }
        Ok(deleted)
    }

    fn partition_counts(&self) -> Result<HashMap<String, i32>, TopicsError> {
        let metadata = self.admin.inner().fetch_metadata(None, self.timeout)?;
        Ok(metadata
            .topics()
            .iter()
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    }

    /// Gives `principal` the ACLs of `layout` it lacks, and reports those it holds beyond it
    /// within `scope` (this deployment's resources).
    /// Creating an ACL that exists is no error, so this is safe to repeat.
    pub async fn apply_acls(
        &self,
        principal: &str,
        layout: Vec<AclBinding>,
        scope: Scope,
    ) -> Result<AclReport, TopicsError> {
        let (acls, timeout, principal) = (self.acls.clone(), self.timeout, principal.to_owned());
        tokio::task::spawn_blocking(move || {
            // Without an authorizer, describing ACLs answers an empty list, not an error.
            if !acls.authorizer_enabled(timeout).map_err(TopicsError::Acl)? {
                return Ok(AclReport::NoAuthorizer);
            }
            let mut found = acls
                .describe_acls(&AclFilter::principal(&principal), timeout)
                .map_err(TopicsError::Acl)?;
            found.retain(|acl| scope.holds(acl));
            let drift = AclDrift::between(&layout, &found);
            acls.create_acls(&drift.missing, timeout)
                .map_err(TopicsError::Acl)?;
            Ok(AclReport::Applied {
                principal,
                unchanged: layout.len() - drift.missing.len(),
                created: drift.missing,
                unexpected: drift.unexpected,
            })
        })
        .await
        .map_err(|e| TopicsError::AclPanicked(e.to_string()))?
    }

    /// Creates or replaces `user`'s SCRAM credential. Fails where the cluster manages its
    /// users elsewhere (managed services) or the caller may not alter them.
    pub async fn upsert_scram_user(
        &self,
        user: &str,
        mechanism: ScramMechanism,
        password: &str,
    ) -> Result<(), TopicsError> {
        let (acls, timeout) = (self.acls.clone(), self.timeout);
        let (user, password) = (user.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || {
            acls.upsert_scram_credential(
                &user,
                mechanism,
                &password,
                aval_kafka_admin::DEFAULT_SCRAM_ITERATIONS,
                timeout,
            )
            .map_err(TopicsError::Acl)
        })
        .await
        .map_err(|e| TopicsError::AclPanicked(e.to_string()))?
    }

    /// Creates `topic` unless it exists: a topic made on demand, such as a company's own
    /// decisions topic.
    pub async fn ensure(&self, topic: &TopicSpec) -> Result<(), TopicsError> {
        self.create(&[topic]).await
    }

    async fn create(&self, topics: &[&TopicSpec]) -> Result<(), TopicsError> {
        if topics.is_empty() {
            return Ok(());
        }
        let configs: Vec<Vec<(&str, String)>> = topics.iter().map(|t| t.configs()).collect();
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .zip(&configs)
            .map(|(t, configs)| {
                configs.iter().fold(
                    NewTopic::new(
                        &t.name,
                        t.partitions,
                        TopicReplication::Fixed(t.replication),
                    ),
                    |new, (key, value)| new.set(key, value),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        for result in self.admin.create_topics(&new_topics, &options).await? {
            match result {
                Ok(_) => {}
                // Another `apply` running at the same time created it first: fine.
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(TopicsError::Admin { topic, code }),
            }
        }
        Ok(())
    }

    async fn describe(
        &self,
        topics: &[&TopicSpec],
    ) -> Result<HashMap<String, HashMap<String, String>>, TopicsError> {
        if topics.is_empty() {
            return Ok(HashMap::new());
        }
        let specifiers: Vec<ResourceSpecifier<'_>> = topics
            .iter()
            .map(|t| ResourceSpecifier::Topic(&t.name))
            .collect();
        let options = AdminOptions::new().request_timeout(Some(self.timeout));
        let mut out = HashMap::new();
        for (topic, result) in topics
            .iter()
            .zip(self.admin.describe_configs(&specifiers, &options).await?)
        {
            let resource = result.map_err(|code| TopicsError::Admin {
                topic: topic.name.clone(),
                code,
            })?;
            let values = resource
                .entries
                .into_iter()
                .filter_map(|e| e.value.map(|v| (e.name, v)))
                .collect();
            out.insert(topic.name.clone(), values);
        }
        Ok(out)
    }
}
