//! `aval ingest`: takes dataset batches and completion markers from the ingest topic, checks
//! the token and every item again, stores each batch in one transaction (idempotent by batch
//! id), and at the marker decides ready or rejected. The offset is stored only once the
//! database has committed and the follow-up records are on Kafka.

use crate::authorize::{Authorization, authorize};
use crate::consumer::{Handler, Transient};
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::ingest::items::Counts;
use aval_core::ingest::{check_integrity, validate_batch, validate_counts};
use aval_core::token::TokenKeys;
use aval_store::Store;
use aval_store::datasets::{BatchOrigin, Completion, DatasetStatus, Sunk};
use aval_topics::records::{AuditEventRecord, IngestRecord, TrainingRequestRecord};
use aval_topics::{AvroCodec, Catalogue, Fault, Publisher, TopicRole};
use chrono::Utc;
use rdkafka::Message;
use rdkafka::message::BorrowedMessage;
use std::future::Future;
use std::sync::Arc;
use uuid::Uuid;

pub const DEFAULT_GROUP: &str = "aval-ingest";
const MAX_BATCH_ID_CHARS: usize = 100;
/// Dead-letter reasons travel in a header; a batch with thousands of errors is summarised.
const MAX_REASON_CHARS: usize = 4_000;
/// Names the UUIDv5 ids of events derived from a batch, so a redelivery re-sends the same ids.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6176_616c_2d69_6e67_6573_742d_6576_7473);

#[derive(Debug, Clone)]
pub struct IngestProcessor {
    pub consumer: ConsumerSettings,
    pub catalogue: Arc<Catalogue>,
    pub codec: AvroCodec,
    pub store: Store,
    pub publisher: Publisher,
    pub dead_letters: DeadLetters,
    pub tokens: Arc<TokenKeys>,
}

impl IngestProcessor {
    /// Runs until `shutdown` resolves, then commits the stored offsets.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let topic = self.catalogue.topic(TopicRole::Ingest).name.clone();
        self.consumer
            .clone()
            .run("ingest", &topic, &self, shutdown)
            .await
    }

    async fn process(&self, message: &BorrowedMessage<'_>) -> Result<(), Transient> {
        let company = match authorize(message, &self.tokens, &self.store).await? {
            Authorization::Company(company) => company,
            Authorization::Refused(reason) => return self.dead_letter(message, &reason).await,
        };
        let Some(payload) = message.payload() else {
            return self.dead_letter(message, "the record has no value").await;
        };
        let record = match self.codec.decode::<IngestRecord>(payload).await {
            Ok(record) => record,
            Err(e) if e.fault() == Fault::Sender => {
                return self
                    .dead_letter(message, &format!("undecodable: {e}"))
                    .await;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(reason) = envelope_problem(&record, company, message.key()) {
            return self.dead_letter(message, &reason).await;
        }
        let Ok(dataset) = Uuid::parse_str(&record.dataset_id) else {
            return self
                .dead_letter(message, "dataset_id is not a dataset id (UUID)")
                .await;
        };
        match record.item_kind() {
            Some(_) => self.batch(message, company, dataset, &record).await,
            None => self.completion(message, company, dataset, &record).await,
        }
    }

    async fn batch(
        &self,
        message: &BorrowedMessage<'_>,
        company: Uuid,
        dataset: Uuid,
        record: &IngestRecord,
    ) -> Result<(), Transient> {
        let now = Utc::now();
        let Some(kind) = record.item_kind() else {
            return Ok(());
        };
        let items = record.items_as_json();
        let origin = BatchOrigin {
            company_id: company,
            dataset_id: dataset,
            batch_id: &record.batch_id,
            at: now,
        };
        let event = |kind_of_event, details: &[(&str, String)]| {
            let mut event = AuditEvent::new(company, kind_of_event, "system:ingest", now)
                .with_detail("dataset_id", dataset.to_string())
                .with_detail("batch_id", record.batch_id.clone())
                .with_detail("kind", kind.as_str());
            event.event_id = derived_id(&[
                &dataset.to_string(),
                &record.batch_id,
                kind_of_event.as_str(),
            ]);
            for (key, value) in details {
                event = event.with_detail(key, value.clone());
            }
            event
        };
        let batch = match validate_batch(kind, &items, now) {
            Ok(batch) => batch,
            Err(errors) => {
                let reason = format!("invalid batch: {errors}");
                let recorded = self
                    .store
                    .record_refused_batch(&origin, kind, items.len(), &reason)
                    .await?;
                if recorded {
                    self.audit(&event(
                        AuditKind::BatchRejected,
                        &[
                            ("items", items.len().to_string()),
                            ("errors", errors.len().to_string()),
                        ],
                    ))
                    .await?;
                }
                return self.dead_letter(message, &reason).await;
            }
        };
        match self.store.sink_batch(&origin, &batch).await? {
            Sunk::Stored {
                inserted,
                conflicts,
            } => {
                metrics::counter!("aval_ingest_items_stored_total").increment(inserted);
                self.audit(&event(
                    AuditKind::BatchAccepted,
                    &[
                        ("items", batch.len().to_string()),
                        ("stored", inserted.to_string()),
                        ("duplicates", conflicts.len().to_string()),
                    ],
                ))
                .await
            }
            // Stored before a crash or a producer retry: the database already has it.
            Sunk::Redelivered => Ok(()),
            Sunk::DatasetClosed => {
                self.audit(&event(
                    AuditKind::BatchRejected,
                    &[("reason", "arrived after the completion marker".to_owned())],
                ))
                .await?;
                self.dead_letter(
                    message,
                    "the dataset was completed before this batch arrived",
                )
                .await
            }
            Sunk::DatasetNotFound => self.dead_letter(message, "no such dataset").await,
        }
    }

    async fn completion(
        &self,
        message: &BorrowedMessage<'_>,
        company: Uuid,
        dataset: Uuid,
        record: &IngestRecord,
    ) -> Result<(), Transient> {
        let announced = match validate_counts(&record.completion_as_json().unwrap_or_default()) {
            Ok(counts) => counts,
            Err(errors) => {
                return self
                    .dead_letter(message, &format!("invalid completion marker: {errors}"))
                    .await;
            }
        };
        let origin = BatchOrigin {
            company_id: company,
            dataset_id: dataset,
            batch_id: &record.batch_id,
            at: Utc::now(),
        };
        let outcome = self
            .store
            .complete_dataset(&origin, &announced, |stored, facts| {
                check_integrity(&announced, stored, facts)
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .await?;
        match outcome {
            Completion::Ready => self.announce(company, dataset, &announced, &[]).await,
            Completion::Rejected(reasons) => {
                self.announce(company, dataset, &announced, &reasons).await
            }
            Completion::Redelivered => {
                // Committed before a crash: the follow-up records may be missing; they carry
                // fixed ids, so sending them again is safe.
                match self.store.dataset(company, dataset).await? {
                    Some(d) if d.status == DatasetStatus::Ready => {
                        self.announce(company, dataset, &announced, &[]).await
                    }
                    Some(d) if d.status == DatasetStatus::Rejected => {
                        self.announce(company, dataset, &announced, &d.rejection_reasons)
                            .await
                    }
                    _ => Ok(()),
                }
            }
            Completion::AlreadyCompleted => {
                self.dead_letter(message, "the dataset was completed already")
                    .await
            }
            Completion::DatasetNotFound => self.dead_letter(message, "no such dataset").await,
        }
    }

    /// After completion: the audit event, and for a ready dataset the training request.
    async fn announce(
        &self,
        company: Uuid,
        dataset: Uuid,
        announced: &Counts,
        reasons: &[String],
    ) -> Result<(), Transient> {
        let now = Utc::now();
        let kind = if reasons.is_empty() {
            AuditKind::DatasetReady
        } else {
            AuditKind::DatasetRejected
        };
        let mut event = AuditEvent::new(company, kind, "system:ingest", now)
            .with_detail("dataset_id", dataset.to_string())
            .with_detail("customers", announced.customers.to_string())
            .with_detail("orders", announced.orders.to_string())
            .with_detail("credit_limits", announced.credit_limits.to_string())
            .with_detail("bureau_reports", announced.bureau_reports.to_string());
        if !reasons.is_empty() {
            event = event.with_detail("reasons", reasons.join("; "));
        }
        event.event_id = derived_id(&[&dataset.to_string(), kind.as_str()]);
        self.audit(&event).await?;
        if reasons.is_empty() {
            let request = TrainingRequestRecord {
                request_id: derived_id(&[&dataset.to_string(), "training-request"]).to_string(),
                company_id: company.to_string(),
                dataset_ids: vec![dataset.to_string()],
                reason: "dataset.ready".to_owned(),
                requested_at: now.timestamp_millis(),
            };
            self.publisher
                .publish(
                    self.catalogue.topic(TopicRole::TrainingRequests),
                    &company.to_string(),
                    &request,
                    &[],
                )
                .await?;
        }
        tracing::info!(%company, %dataset, ready = reasons.is_empty(), "dataset completed");
        Ok(())
    }

    async fn audit(&self, event: &AuditEvent) -> Result<(), Transient> {
        self.publisher
            .publish(
                self.catalogue.topic(TopicRole::Audit),
                &event.company_id.to_string(),
                &AuditEventRecord::from(event),
                &[],
            )
            .await?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        reason: &str,
    ) -> Result<(), Transient> {
        let reason: String = if reason.chars().count() > MAX_REASON_CHARS {
            let cut: String = reason.chars().take(MAX_REASON_CHARS).collect();
            format!("{cut} …")
        } else {
            reason.to_owned()
        };
        self.dead_letters
            .send(message, &reason)
            .await
            .map_err(|e| Transient(format!("cannot dead-letter: {e}")))
    }
}

/// What must hold of a record before its content is looked at: it speaks for the token's
/// company, is keyed by it (so it is ordered with the company's other records), and names its
/// batch.
fn envelope_problem(record: &IngestRecord, company: Uuid, key: Option<&[u8]>) -> Option<String> {
    if record.company_id != company.to_string() {
        return Some("company_id is not the token's company".to_owned());
    }
    if key != Some(record.company_id.as_bytes()) {
        return Some("the record key must be the company_id".to_owned());
    }
    if record.batch_id.is_empty() || record.batch_id.chars().count() > MAX_BATCH_ID_CHARS {
        return Some(format!(
            "batch_id must be 1 to {MAX_BATCH_ID_CHARS} characters"
        ));
    }
    let stray = record.stray_items();
    if !stray.is_empty() {
        return Some(format!(
            "a {:?} record must not carry {}",
            record.kind,
            stray.join(", ")
        ));
    }
    None
}

fn derived_id(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&EVENT_NAMESPACE, parts.join("\u{1f}").as_bytes())
}

impl Handler for IngestProcessor {
    async fn handle(&self, message: &BorrowedMessage<'_>) -> Result<(), Transient> {
        self.process(message).await
    }
}
