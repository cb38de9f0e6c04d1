//! Each company's own decisions topic (`<prefix>decisions.<company id>`), made sure of before
//! the scorer's first record there. Creating a topic is an admin round trip to the controller,
//! so it is done once per company per process, never per decision: the set of companies whose
//! topic this process has ensured holds one entry per company it decided for (a few dozen
//! bytes each), so its memory is bounded by the number of companies.
//!
//! Concurrent batches for the same new company share one creation: the first runs it, the
//! others wait for its outcome. A topic that already exists (created by `aval admin
//! kafka-tenant`, by another scorer, or before a restart) counts as ensured. A failure is not
//! remembered: the caller's batch fails as an outage, and its retry tries again.

use aval_topics::admin::TopicAdmin;
use aval_topics::{Catalogue, TopicsError};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// What creates a topic unless it exists: the cluster's admin client, or a test's stand-in.
pub(crate) trait EnsureTopic: Send + Sync + 'static {
    fn ensure(
        &self,
        topic: &aval_topics::TopicSpec,
    ) -> impl Future<Output = Result<(), TopicsError>> + Send;
}

impl EnsureTopic for Arc<TopicAdmin> {
    async fn ensure(&self, topic: &aval_topics::TopicSpec) -> Result<(), TopicsError> {
        TopicAdmin::ensure(self, topic).await
    }
}

/// The companies whose own decisions topic this process has ensured, with its name.
#[derive(Debug)]
pub(crate) struct CompanyTopics<A = Arc<TopicAdmin>> {
    admin: A,
    catalogue: Arc<Catalogue>,
    ensured: Mutex<HashMap<Uuid, Arc<OnceCell<Arc<str>>>>>,
}

impl<A: EnsureTopic> CompanyTopics<A> {
    pub(crate) fn new(admin: A, catalogue: Arc<Catalogue>) -> Self {
        Self {
            admin,
            catalogue,
            ensured: Mutex::new(HashMap::new()),
        }
    }

    /// The name of `company`'s own decisions topic, created first when this process has not
    /// ensured it yet.
    pub(crate) async fn ensure(&self, company: Uuid) -> Result<Arc<str>, TopicsError> {
        let cell = self
            .ensured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(company)
            .or_default()
            .clone();
        let name = cell
            .get_or_try_init(|| async {
                let topic = self.catalogue.company_decisions(company);
                self.admin.ensure(&topic).await?;
                tracing::info!(%company, topic = %topic.name, "company decisions topic ensured");
                metrics::counter!("aval_company_topics_ensured_total").increment(1);
                Ok::<_, TopicsError>(Arc::<str>::from(topic.name))
            })
            .await?;
        Ok(name.clone())
    }

    /// Forgets that `company`'s topic was ensured (the broker says it no longer exists, say
    /// after an operator deleted it), so the next attempt creates it again.
    pub(crate) fn forget(&self, company: Uuid) {
        self.ensured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&company);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aval_topics::TopicSpec;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Counts creations; fails the first `failures` of them.
    #[derive(Debug, Default)]
    struct Counting {
        calls: Mutex<Vec<String>>,
        failures: AtomicUsize,
    }

    impl EnsureTopic for Arc<Counting> {
        async fn ensure(&self, topic: &TopicSpec) -> Result<(), TopicsError> {
            self.calls.lock().expect("calls").push(topic.name.clone());
            // Slow enough for concurrent callers to arrive while it runs.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(TopicsError::Admin {
                    topic: topic.name.clone(),
                    code: rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
                });
            }
            Ok(())
        }
    }

    fn topics(failures: usize) -> (Arc<Counting>, CompanyTopics<Arc<Counting>>) {
        let admin = Arc::new(Counting {
            failures: AtomicUsize::new(failures),
            ..Counting::default()
        });
        let catalogue = Arc::new(Catalogue::new("t.", 1));
        (admin.clone(), CompanyTopics::new(admin, catalogue))
    }

    fn calls(admin: &Counting) -> Vec<String> {
        admin.calls.lock().expect("calls").clone()
    }

    #[tokio::test]
    async fn a_company_s_topic_is_created_once_however_many_batches_ask_at_once() {
        let (admin, topics) = topics(0);
        let company = Uuid::from_u128(1);
        let names = futures::future::try_join_all((0..8).map(|_| topics.ensure(company))).await;
        let names = names.expect("ensured");
        let expected = format!("t.decisions.{company}");
        assert!(names.iter().all(|name| **name == *expected), "{names:?}");
        assert_eq!(
            topics.ensure(company).await.expect("again").as_ref(),
            expected
        );
        assert_eq!(calls(&admin), vec![expected]);
    }

    #[tokio::test]
    async fn each_company_gets_its_own_topic() {
        let (admin, topics) = topics(0);
        for id in [1, 2, 1, 3, 2] {
            topics.ensure(Uuid::from_u128(id)).await.expect("ensured");
        }
        assert_eq!(calls(&admin).len(), 3);
    }

    #[tokio::test]
    async fn a_failed_creation_is_not_remembered_and_is_tried_again() {
        let (admin, topics) = topics(1);
        let company = Uuid::from_u128(1);
        assert!(matches!(
            topics.ensure(company).await,
            Err(TopicsError::Admin { .. })
        ));
        topics.ensure(company).await.expect("the retry creates it");
        topics.ensure(company).await.expect("ensured");
        assert_eq!(calls(&admin).len(), 2);
    }

    #[tokio::test]
    async fn a_forgotten_topic_is_created_again() {
        let (admin, topics) = topics(0);
        let company = Uuid::from_u128(1);
        topics.ensure(company).await.expect("ensured");
        topics.forget(company);
        topics.ensure(company).await.expect("ensured again");
        assert_eq!(calls(&admin).len(), 2);
    }
}
