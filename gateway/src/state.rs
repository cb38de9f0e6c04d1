use crate::admission::Admission;
use crate::auth::TokenKeys;
use crate::console::Console;
use crate::replies::ReplyRouter;
use aval_core::Outages;
use aval_store::Store;
use aval_topics::{Catalogue, Publisher, TopicRole, TopicSpec};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// What every handler may use. The gateway keeps no business state of its own, so any number
/// of instances can run side by side.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// Decision requests and events: produced at once, uncompressed (see
    /// [`Publisher::low_latency`]).
    pub publisher: Publisher,
    /// Upload batches and their completion markers: compressed, with a short linger. All of
    /// the ingest topic's records go through it, so a marker still follows its batches.
    pub uploads: Publisher,
    pub catalogue: Arc<Catalogue>,
    pub tokens: Arc<TokenKeys>,
    pub metrics: PrometheusHandle,
    /// This instance's decision replies.
    pub replies: Arc<ReplyRouter>,
    /// Dependencies the processors of this process find down (`aval all`), for readiness.
    pub outages: Outages,
    /// What this instance has in flight, against its limits.
    pub admission: Arc<Admission>,
    /// Where the analyst console's files come from.
    pub console: Console,
}

impl AppState {
    /// The producer of `topic`'s records.
    pub fn publisher_for(&self, topic: &TopicSpec) -> &Publisher {
        match topic.role {
            TopicRole::Ingest => &self.uploads,
            _ => &self.publisher,
        }
    }
}
