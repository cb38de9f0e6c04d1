//! The training request: train a new model version for a company on the named datasets.

use crate::WireRecord;
use crate::schemas;
use aval_core::outcome::TrainingLabel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingRequestRecord {
    /// Deterministic for a dataset's readiness, so a re-sent request is recognised.
    pub request_id: String,
    pub company_id: String,
    pub dataset_ids: Vec<String>,
    /// `dataset.ready` or `retrain`.
    pub reason: String,
    pub requested_at: i64,
    /// What the version learns (absent from records of an older aval: the company's decision).
    pub label: TrainingLabel,
}

impl WireRecord for TrainingRequestRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::TRAINING_REQUEST;
}
