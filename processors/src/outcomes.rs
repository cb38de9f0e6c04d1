//! The outcomes processor (run by `aval ingest`): takes the outcome reports companies produce
//! to the outcomes topic with their tokens, checks each by the rules of `POST /v1/outcomes`,
//! joins it to the company's decision and upserts it. A report that names no decision of its
//! company (unknown, or another company's), or breaks a rule, goes to the dead-letter topic
//! with the reason, and the company hears of it in its audit log. A company's reports of one
//! batch are stored in one transaction, committed only once each report's audit event is on
//! Kafka; the events' ids are fixed by the records' positions, so a redelivery repeats none.

use crate::authorize::{Authorization, authorize, dead_letter_event, position_id};
use crate::consumer::{Processor, Source};
use crate::failure::Failure;
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::outcome::OutcomeReport;
use aval_core::token::TokenKeys;
use aval_store::Store;
use aval_store::outcomes::NewOutcome;
use aval_topics::records::OutcomeReportRecord;
use aval_topics::{AvroCodec, Catalogue, Fault, Publisher, TopicRole};
use chrono::Utc;
use futures::future::try_join_all;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use uuid::Uuid;

pub const DEFAULT_GROUP: &str = "aval-outcomes";
/// Names the ids of the audit events of reports, fixed by where the record sits.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6176_616c_2d6f_7574_636f_6d65_2d65_7674);
const ORPHAN_REASON: &str = "names no decision of this company: report outcomes of orders \
                             aval decided, by their request_id or order_id";

#[derive(Debug, Clone)]
pub struct OutcomesProcessor {
    pub consumer: ConsumerSettings,
    pub catalogue: Arc<Catalogue>,
    pub codec: AvroCodec,
    pub store: Store,
    pub publisher: Publisher,
    pub dead_letters: DeadLetters,
    pub tokens: Arc<TokenKeys>,
}

/// What `prepare` found of one record.
#[derive(Debug)]
pub(crate) enum OutcomeWork {
    Report {
        company: Uuid,
        report: OutcomeReport,
    },
    DeadLetter(String),
}

impl OutcomesProcessor {
    /// Runs until `shutdown` resolves, then commits the stored offsets.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let topic = self.catalogue.topic(TopicRole::Outcomes).name.clone();
        let consumer = self.consumer.clone();
        consumer
            .run(Arc::new(self), Source::Group(&topic), shutdown)
            .await
    }

    /// Authenticates, decodes and checks one record.
    async fn prepare_one(&self, message: &OwnedMessage) -> Result<OutcomeWork, Failure> {
        let dead = |reason: String| Ok(OutcomeWork::DeadLetter(reason));
        let company = match authorize(message, &self.tokens, &self.store).await? {
            Authorization::Company(company) => company,
            Authorization::Refused(reason) => return dead(reason),
        };
        let Some(payload) = message.payload() else {
            return dead("the record has no value".to_owned());
        };
        let record = match self.codec.decode::<OutcomeReportRecord>(payload).await {
            Ok(record) => record,
            Err(e) if e.fault() == Fault::Sender => return dead(format!("undecodable: {e}")),
            Err(e) => return Err(e.into()),
        };
        match record.checked(Utc::now()) {
            Ok(report) => Ok(OutcomeWork::Report { company, report }),
            Err(errors) => dead(format!("invalid outcome report: {errors}")),
        }
    }

    /// Stores one company's reports of the batch (`reports` in topic order, with their
    /// records), audited before the commit; the orphans are dead-lettered. Returns the
    /// dead-letter events to announce.
    async fn store_company(
        &self,
        company: Uuid,
        reports: &[(&OwnedMessage, &OutcomeReport)],
    ) -> Result<Vec<AuditEvent>, Failure> {
        let refs: Vec<_> = reports.iter().map(|(_, r)| r.decision.clone()).collect();
        let resolved = self.store.resolve_decisions(company, &refs).await?;
        let mut orphans = Vec::new();
        let mut joined = Vec::with_capacity(reports.len());
        for ((message, report), key) in reports.iter().zip(&resolved) {
            match key {
                Some(key) => joined.push((*message, *report, key)),
                None => orphans.push(*message),
            }
        }
        let outcomes: Vec<NewOutcome<'_>> = joined
            .iter()
            .map(|(_, report, key)| NewOutcome {
                decision: key,
                kind: &report.kind,
                occurred_at: report.occurred_at,
            })
            .collect();
        if !outcomes.is_empty() {
            let now = Utc::now();
            let pending = self
                .store
                .begin_outcomes_in_order(company, &outcomes, now)
                .await?;
            let events: Vec<AuditEvent> = joined
                .iter()
                .zip(&pending.value)
                .map(|((message, report, key), stored)| {
                    reported_event(company, message, report, &key.order_id, *stored, now)
                })
                .collect();
            try_join_all(
                events
                    .iter()
                    .map(|event| self.publisher.publish_audit(&self.catalogue, event)),
            )
            .await?;
            let stored = pending.commit().await?;
            let count = stored.iter().filter(|s| **s).count();
            metrics::counter!("aval_outcomes_stored_total", "channel" => "kafka")
                .increment(count as u64);
            tracing::info!(%company, reports = stored.len(), stored = count, "outcomes reported");
        }
        let mut refused = Vec::with_capacity(orphans.len());
        for message in orphans {
            self.dead_letters.send(message, ORPHAN_REASON).await?;
            refused.extend(dead_letter_event(
                message,
                &self.tokens,
                Self::NAME,
                ORPHAN_REASON,
            ));
        }
        Ok(refused)
    }
}

/// The audit event of one report, its id fixed by the record's position.
fn reported_event(
    company: Uuid,
    message: &OwnedMessage,
    report: &OutcomeReport,
    order_id: &str,
    stored: bool,
    at: chrono::DateTime<Utc>,
) -> AuditEvent {
    let mut event = AuditEvent::new(
        company,
        AuditKind::OutcomesReported,
        format!("company:{company}"),
        at,
    )
    .with_detail("reports", "1")
    .with_detail("stored", u8::from(stored).to_string())
    .with_detail("unchanged", u8::from(!stored).to_string())
    .with_detail("order_id", order_id)
    .with_detail("kind", report.kind.name())
    .with_detail("channel", "kafka");
    event.event_id = position_id(&EVENT_NAMESPACE, message);
    event
}

impl Processor for OutcomesProcessor {
    const NAME: &'static str = "outcomes";
    type Work = Vec<OutcomeWork>;
    /// Audit events of the records dead-lettered.
    type Announcement = Vec<AuditEvent>;

    fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    async fn prepare(&self, messages: &[OwnedMessage]) -> Result<Vec<OutcomeWork>, Failure> {
        try_join_all(messages.iter().map(|m| self.prepare_one(m))).await
    }

    async fn apply(
        &self,
        messages: &[OwnedMessage],
        work: &Vec<OutcomeWork>,
    ) -> Result<Vec<AuditEvent>, Failure> {
        let mut by_company: BTreeMap<Uuid, Vec<(&OwnedMessage, &OutcomeReport)>> = BTreeMap::new();
        let mut refused = Vec::new();
        for (message, work) in messages.iter().zip(work) {
            match work {
                OutcomeWork::Report { company, report } => {
                    by_company
                        .entry(*company)
                        .or_default()
                        .push((message, report));
                }
                OutcomeWork::DeadLetter(reason) => {
                    self.dead_letters.send(message, reason).await?;
                    refused.extend(dead_letter_event(message, &self.tokens, Self::NAME, reason));
                }
            }
        }
        for (company, reports) in &by_company {
            refused.extend(self.store_company(*company, reports).await?);
        }
        Ok(refused)
    }

    async fn announce(&self, events: &Vec<AuditEvent>) -> Result<(), Failure> {
        try_join_all(
            events
                .iter()
                .map(|event| self.publisher.publish_audit(&self.catalogue, event)),
        )
        .await?;
        Ok(())
    }

    async fn dead_lettered(&self, message: &OwnedMessage, reason: &str) -> Result<(), Failure> {
        match dead_letter_event(message, &self.tokens, Self::NAME, reason) {
            Some(event) => {
                self.publisher
                    .publish_audit(&self.catalogue, &event)
                    .await?;
                Ok(())
            }
            None => Ok(()),
        }
    }
}
