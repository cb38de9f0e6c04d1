//! The model activation record: the compacted topic's latest record per company names the
//! model version that decides for it.

use crate::WireRecord;
use crate::schemas;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelActivationRecord {
    pub company_id: String,
    pub model_version: i32,
    pub activated_at: i64,
    /// `company:<id>` or `system:train`.
    pub activated_by: String,
}

impl WireRecord for ModelActivationRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::MODEL_ACTIVATION;
}
