//! Serde mirrors of the `.avsc` records, and their conversions to and from the domain types.
//! Field names and order follow the schema files exactly; round-trip tests against the real
//! registry keep them honest.

mod activation;
mod audit;
mod decision;
mod drift_alert;
mod ingest;
mod items;
mod outcome;
mod training;

pub use activation::ModelActivationRecord;
pub use audit::{AUDIT_KIND_HEADER, AuditEventRecord, AuditHeadRecord};
pub use decision::{
    DecisionContext, DecisionItemsWire, DecisionOutcomeWire, DecisionRecord, DecisionReplyRecord,
    DecisionRequestRecord, FieldErrorWire, PolicyAppliedWire, REPLY_INSTANCE_HEADER,
    REPLY_PARTITION_HEADER, ReasonWire, ReplyStatusWire,
};
pub use drift_alert::{DriftAlertRecord, DriftedFeatureWire};
pub use ingest::{CompletionWire, IngestContent, IngestKindWire, IngestRecord};
pub use items::{
    AttributeValueWire, BureauReportWire, CreditLimitWire, CustomerWire, NegativeRecordWire,
    NegativesWire, OrderOutcomeWire, OrderWire, PaymentHabitsWire, SupplierRelationshipsWire,
};
pub use outcome::{OutcomeKindWire, OutcomeReportRecord, OverrideDirectionWire};
pub use training::TrainingRequestRecord;
