//! The drift alert record of the `drift-alerts` topic: written by the monitor, read by
//! operators' own systems.

use crate::WireRecord;
use crate::schemas;
use aval_core::monitoring::{DriftAlert, FeatureDrift};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftedFeatureWire {
    pub name: String,
    pub psi: f64,
    pub threshold: f64,
    pub drifting: bool,
}

impl From<&FeatureDrift> for DriftedFeatureWire {
    fn from(drift: &FeatureDrift) -> Self {
        Self {
            name: drift.name.clone(),
            psi: drift.psi,
            threshold: drift.threshold,
            drifting: drift.drifting,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftAlertRecord {
    pub alert_id: String,
    pub company_id: String,
    pub model_version: i32,
    /// Milliseconds since the Unix epoch, UTC, as every time below.
    pub window_from: i64,
    pub window_to: i64,
    pub decisions: i64,
    pub alpha: f64,
    pub score: DriftedFeatureWire,
    pub top_drifting: Vec<DriftedFeatureWire>,
    pub retrain_suggested: bool,
    pub detected_at: i64,
}

impl WireRecord for DriftAlertRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::DRIFT_ALERT;
}

impl DriftAlertRecord {
    pub fn new(alert: &DriftAlert, detected_at: DateTime<Utc>) -> Self {
        Self {
            alert_id: alert.alert_id.to_string(),
            company_id: alert.company_id.to_string(),
            model_version: alert.model_version,
            window_from: alert.from.timestamp_millis(),
            window_to: alert.to.timestamp_millis(),
            decisions: i64::try_from(alert.decisions).unwrap_or(i64::MAX),
            alpha: alert.alpha,
            score: DriftedFeatureWire::from(&alert.score),
            top_drifting: alert.top_drifting.iter().map(Into::into).collect(),
            retrain_suggested: true,
            detected_at: detected_at.timestamp_millis(),
        }
    }
}
