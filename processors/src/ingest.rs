//! `aval ingest`: takes dataset batches and completion markers from the ingest topic, checks
//! the token and every item again, stores each batch in one transaction (idempotent by batch
//! id), and at the marker decides ready or rejected. The offset is stored only once the
//! database has committed and the follow-up records are on Kafka.

use crate::authorize::{Authorization, authorize, dead_letter_event};
use crate::consumer::{Processor, Source};
use crate::failure::Failure;
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::FieldErrors;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::fingerprint::{Fingerprint, batch_fingerprint};
use aval_core::ingest::check_integrity;
use aval_core::ingest::items::{Batch, CompletionMarker, Counts, ItemKind};
use aval_core::token::TokenKeys;
use aval_store::Store;
use aval_store::datasets::{
    BatchIdReuse, BatchOrigin, Completion, DatasetStatus, MarkerCopy, Sunk,
};
use aval_topics::records::{IngestContent, IngestRecord, TrainingRequestRecord};
use aval_topics::{AvroCodec, Catalogue, Fault, Publisher, TopicRole, keys};
use chrono::Utc;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use std::future::Future;
use std::sync::Arc;
use uuid::Uuid;

pub const DEFAULT_GROUP: &str = "aval-ingest";
const MAX_BATCH_ID_CHARS: usize = 100;
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

/// Which record of which company's dataset.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    company: Uuid,
    dataset: Uuid,
    batch_id: String,
}

/// What others must hear once a record's write is durable.
#[derive(Debug)]
pub(crate) enum FollowUp {
    Audit(AuditEvent),
    Training(TrainingRequestRecord),
}

/// What to write for one record, decided by `prepare`.
#[derive(Debug)]
pub(crate) enum IngestWork {
    Store {
        target: Target,
        batch: Batch,
        fingerprint: Fingerprint,
    },
    /// Invalid items: recorded on the dataset, then dead-lettered.
    Refuse {
        target: Target,
        kind: ItemKind,
        items: usize,
        fingerprint: Fingerprint,
        errors: FieldErrors,
    },
    Complete {
        target: Target,
        marker: CompletionMarker,
    },
    DeadLetter(String),
}

impl IngestProcessor {
    /// Runs until `shutdown` resolves, then commits the stored offsets.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let topic = self.catalogue.topic(TopicRole::Ingest).name.clone();
        let consumer = self.consumer.clone();
        consumer
            .run(Arc::new(self), Source::Group(&topic), shutdown)
            .await
    }

    async fn store_batch(
        &self,
        message: &OwnedMessage,
        target: &Target,
        batch: &Batch,
        fingerprint: &Fingerprint,
    ) -> Result<Vec<FollowUp>, Failure> {
        let accepted = |details: &[(&str, String)]| {
            vec![FollowUp::Audit(batch_event(
                target,
                batch.kind(),
                AuditKind::BatchAccepted,
                details,
            ))]
        };
        let sunk = match self
            .store
            .sink_batch(&origin(target), batch, fingerprint)
            .await
        {
            Ok(sunk) => sunk,
            // The database refuses the content itself (SQLSTATE 22 or 23): the batch is
            // refused like an invalid one, so its dataset says why and the partition moves on.
            Err(e) if e.fault() == Fault::Sender => {
                let reason = format!("the database refused the batch: {e}");
                return self
                    .refuse_batch(
                        message,
                        target,
                        batch.kind(),
                        batch.len(),
                        fingerprint,
                        &reason,
                    )
                    .await;
            }
            Err(e) => return Err(e.into()),
        };
        match sunk {
            Sunk::Stored {
                inserted,
                conflicts,
            } => {
                metrics::counter!("aval_ingest_items_stored_total").increment(inserted);
                Ok(accepted(&[
                    ("items", batch.len().to_string()),
                    ("stored", inserted.to_string()),
                    ("duplicates", conflicts.len().to_string()),
                ]))
            }
            // Stored before a crash or a producer retry: the database already has it, and the
            // audit event carries a fixed id, so announcing it again is harmless.
            Sunk::Redelivered => Ok(accepted(&[("items", batch.len().to_string())])),
            Sunk::IdReused(reuse) => {
                let reason = reused_id_reason(&target.batch_id, batch.kind(), reuse);
                self.dead_letter(message, &reason).await?;
                let mut event = batch_event(
                    target,
                    batch.kind(),
                    AuditKind::BatchRejected,
                    &[("reason", reason)],
                );
                // Each refused content under the id is an event of its own.
                event.event_id = derived_id(&[
                    &target.dataset.to_string(),
                    &target.batch_id,
                    AuditKind::BatchRejected.as_str(),
                    &hex(fingerprint),
                ]);
                Ok(vec![FollowUp::Audit(event)])
            }
            Sunk::DatasetClosed => {
                self.dead_letter(
                    message,
                    "the dataset was completed before this batch arrived",
                )
                .await?;
                let details = [("reason", "arrived after the completion marker".to_owned())];
                Ok(vec![FollowUp::Audit(batch_event(
                    target,
                    batch.kind(),
                    AuditKind::BatchRejected,
                    &details,
                ))])
            }
            Sunk::DatasetNotFound => {
                self.dead_letter(message, "no such dataset").await?;
                Ok(Vec::new())
            }
        }
    }

    async fn refuse_batch(
        &self,
        message: &OwnedMessage,
        target: &Target,
        kind: ItemKind,
        items: usize,
        fingerprint: &Fingerprint,
        reason: &str,
    ) -> Result<Vec<FollowUp>, Failure> {
        let recorded = self
            .store
            .record_refused_batch(&origin(target), kind, items, fingerprint, reason)
            .await?;
        self.dead_letter(message, reason).await?;
        if !recorded {
            return Ok(Vec::new());
        }
        let details = [("items", items.to_string()), ("reason", reason.to_owned())];
        Ok(vec![FollowUp::Audit(batch_event(
            target,
            kind,
            AuditKind::BatchRejected,
            &details,
        ))])
    }

    async fn complete(
        &self,
        message: &OwnedMessage,
        target: &Target,
        marker: &CompletionMarker,
    ) -> Result<Vec<FollowUp>, Failure> {
        let (company, dataset) = (target.company, target.dataset);
        let announced = &marker.counts;
        let copy = MarkerCopy {
            partition: message.partition(),
            copies: marker.copies,
        };
        let outcome = self
            .store
            .complete_dataset(
                &origin(target),
                copy,
                announced,
                &training_request_id(dataset),
                |stored, facts| {
                    check_integrity(announced, stored, facts)
                        .iter()
                        .map(ToString::to_string)
                        .collect()
                },
            )
            .await?;
        let reasons = match outcome {
            Completion::Ready => Vec::new(),
            Completion::Rejected(reasons) => reasons,
            // Committed before a crash: the follow-up records may be missing; they carry fixed
            // ids, so announcing them again is safe.
            Completion::Redelivered => match self.store.dataset(company, dataset).await? {
                Some(d) if d.status == DatasetStatus::Ready => Vec::new(),
                Some(d) if d.status == DatasetStatus::Rejected => d.rejection_reasons,
                _ => return Ok(Vec::new()),
            },
            Completion::AlreadyCompleted => {
                self.dead_letter(message, "the dataset was completed already")
                    .await?;
                return Ok(Vec::new());
            }
            Completion::DatasetNotFound => {
                self.dead_letter(message, "no such dataset").await?;
                return Ok(Vec::new());
            }
            Completion::AwaitingCopies { read, copies } => {
                tracing::debug!(%company, %dataset, read, copies, "completion marker copy read");
                return Ok(Vec::new());
            }
        };
        tracing::info!(%company, %dataset, ready = reasons.is_empty(), "dataset completed");
        Ok(completion_follow_ups(company, dataset, announced, &reasons))
    }

    async fn dead_letter(&self, message: &OwnedMessage, reason: &str) -> Result<(), Failure> {
        Ok(self.dead_letters.send(message, reason).await?)
    }

    /// Authenticates, decodes and validates one record: everything that needs no write.
    async fn prepare_one(&self, message: &OwnedMessage) -> Result<IngestWork, Failure> {
        let dead = |reason: &str| Ok(IngestWork::DeadLetter(reason.to_owned()));
        let company = match authorize(message, &self.tokens, &self.store).await? {
            Authorization::Company(company) => company,
            Authorization::Refused(reason) => return dead(&reason),
        };
        let Some(payload) = message.payload() else {
            return dead("the record has no value");
        };
        let record = match self.codec.decode::<IngestRecord>(payload).await {
            Ok(record) => record,
            Err(e) if e.fault() == Fault::Sender => return dead(&format!("undecodable: {e}")),
            Err(e) => return Err(e.into()),
        };
        if let Some(reason) = envelope_problem(&record, company, message.key()) {
            return dead(&reason);
        }
        let Ok(dataset) = Uuid::parse_str(&record.dataset_id) else {
            return dead("dataset_id is not a dataset id (UUID)");
        };
        let target = Target {
            company,
            dataset,
            batch_id: record.batch_id.clone(),
        };
        let items = record.item_count();
        Ok(match record.into_content(Utc::now()) {
            IngestContent::Completion(Ok(marker)) => IngestWork::Complete { target, marker },
            IngestContent::Completion(Err(errors)) => {
                return dead(&format!("invalid completion marker: {errors}"));
            }
            IngestContent::Batch(_, Ok(batch)) => IngestWork::Store {
                target,
                fingerprint: batch_fingerprint(&batch),
                batch,
            },
            IngestContent::Batch(kind, Err(errors)) => {
                // A refused batch has no validated form: its fingerprint is of the items as
                // they arrived, decoded again (refusals are rare; valid batches keep no copy).
                let arrived = self.codec.decode::<IngestRecord>(payload).await?;
                IngestWork::Refuse {
                    target,
                    kind,
                    items,
                    fingerprint: arrived.invalid_items_fingerprint(),
                    errors,
                }
            }
        })
    }

    async fn apply_one(
        &self,
        message: &OwnedMessage,
        work: &IngestWork,
    ) -> Result<Vec<FollowUp>, Failure> {
        match work {
            IngestWork::Store {
                target,
                batch,
                fingerprint,
            } => self.store_batch(message, target, batch, fingerprint).await,
            IngestWork::Refuse {
                target,
                kind,
                items,
                fingerprint,
                errors,
            } => {
                let reason = format!("invalid batch: {errors}");
                self.refuse_batch(message, target, *kind, *items, fingerprint, &reason)
                    .await
            }
            IngestWork::Complete { target, marker } => self.complete(message, target, marker).await,
            IngestWork::DeadLetter(reason) => {
                self.dead_letter(message, reason).await?;
                Ok(Vec::new())
            }
        }
    }

    async fn publish(&self, follow_up: &FollowUp) -> Result<(), Failure> {
        match follow_up {
            FollowUp::Audit(event) => {
                self.publisher.publish_audit(&self.catalogue, event).await?;
            }
            FollowUp::Training(request) => {
                self.publisher
                    .publish(
                        self.catalogue.topic(TopicRole::TrainingRequests),
                        &request.company_id,
                        request,
                        &[],
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// Records are taken in order, one at a time within the batch: a dataset's batches and its
/// completion marker must meet the database in the order they were sent.
impl Processor for IngestProcessor {
    const NAME: &'static str = "ingest";
    type Work = Vec<IngestWork>;
    type Announcement = Vec<FollowUp>;

    fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    async fn prepare(&self, messages: &[OwnedMessage]) -> Result<Vec<IngestWork>, Failure> {
        let mut work = Vec::with_capacity(messages.len());
        for message in messages {
            work.push(self.prepare_one(message).await?);
        }
        Ok(work)
    }

    async fn apply(
        &self,
        messages: &[OwnedMessage],
        work: &Vec<IngestWork>,
    ) -> Result<Vec<FollowUp>, Failure> {
        let mut follow_ups = Vec::new();
        for (message, work) in messages.iter().zip(work) {
            follow_ups.extend(self.apply_one(message, work).await?);
        }
        Ok(follow_ups)
    }

    /// Publishes in order; each record has a fixed id, so a retry repeats nothing new.
    async fn announce(&self, follow_ups: &Vec<FollowUp>) -> Result<(), Failure> {
        for follow_up in follow_ups {
            self.publish(follow_up).await?;
        }
        Ok(())
    }

    async fn dead_lettered(&self, message: &OwnedMessage, reason: &str) -> Result<(), Failure> {
        match dead_letter_event(message, &self.tokens, Self::NAME, reason) {
            Some(event) => self.publish(&FollowUp::Audit(event)).await,
            None => Ok(()),
        }
    }
}

/// The audit event of a completed dataset, and for a ready one the training request.
fn completion_follow_ups(
    company: Uuid,
    dataset: Uuid,
    announced: &Counts,
    reasons: &[String],
) -> Vec<FollowUp> {
    let kind = if reasons.is_empty() {
        AuditKind::DatasetReady
    } else {
        AuditKind::DatasetRejected
    };
    let mut event = AuditEvent::new(company, kind, "system:ingest", Utc::now())
        .with_detail("dataset_id", dataset.to_string())
        .with_detail("customers", announced.customers.to_string())
        .with_detail("orders", announced.orders.to_string())
        .with_detail("credit_limits", announced.credit_limits.to_string())
        .with_detail("bureau_reports", announced.bureau_reports.to_string());
    if !reasons.is_empty() {
        event = event.with_detail("reasons", reasons.join("; "));
    }
    event.event_id = derived_id(&[&dataset.to_string(), kind.as_str()]);
    let mut follow_ups = vec![FollowUp::Audit(event)];
    if reasons.is_empty() {
        follow_ups.push(FollowUp::Training(TrainingRequestRecord {
            request_id: training_request_id(dataset),
            company_id: company.to_string(),
            dataset_ids: vec![dataset.to_string()],
            reason: "dataset.ready".to_owned(),
            requested_at: Utc::now().timestamp_millis(),
            label: aval_core::outcome::TrainingLabel::CompanyDecision,
        }));
    }
    follow_ups
}

/// The id of a ready dataset's training request, fixed by the dataset: its run is queued under
/// it before the request is produced, and a redelivered marker names the same request.
fn training_request_id(dataset: Uuid) -> String {
    derived_id(&[&dataset.to_string(), "training-request"]).to_string()
}

fn origin(target: &Target) -> BatchOrigin<'_> {
    BatchOrigin {
        company_id: target.company,
        dataset_id: target.dataset,
        batch_id: &target.batch_id,
        at: Utc::now(),
    }
}

/// An audit event about one batch, with an id fixed by the batch, so a replay repeats it.
fn batch_event(
    target: &Target,
    kind: ItemKind,
    event_kind: AuditKind,
    details: &[(&str, String)],
) -> AuditEvent {
    let mut event = AuditEvent::new(target.company, event_kind, "system:ingest", Utc::now())
        .with_detail("dataset_id", target.dataset.to_string())
        .with_detail("batch_id", target.batch_id.clone())
        .with_detail("kind", kind.as_str());
    event.event_id = derived_id(&[
        &target.dataset.to_string(),
        &target.batch_id,
        event_kind.as_str(),
    ]);
    for (key, value) in details {
        event = event.with_detail(key, value.clone());
    }
    event
}

/// What must hold of a record before its content is looked at: it speaks for the token's
/// company, is keyed by it (so it is ordered with the company's other records), and names its
/// batch.
fn envelope_problem(record: &IngestRecord, company: Uuid, key: Option<&[u8]>) -> Option<String> {
    if record.company_id != company.to_string() {
        return Some("company_id is not the token's company".to_owned());
    }
    if !keys::is_company_key(key, &record.company_id) {
        return Some(
            "the record key must be the company_id, or the company_id, ':' and the batch_id"
                .to_owned(),
        );
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

/// Why a batch whose id was first used for other content is refused.
fn reused_id_reason(batch_id: &str, kind: ItemKind, reuse: BatchIdReuse) -> String {
    let first = match reuse {
        BatchIdReuse::OtherKind(first) => format!("a batch of {}", first.as_str()),
        BatchIdReuse::OtherItems => format!("other items of {}", kind.as_str()),
    };
    format!(
        "batch_id {batch_id:?} was first used for {first} in this dataset; this batch of {} was not stored: a new batch needs a new batch_id",
        kind.as_str()
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn derived_id(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&EVENT_NAMESPACE, parts.join("\u{1f}").as_bytes())
}
