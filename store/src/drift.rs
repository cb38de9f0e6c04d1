//! What the drift report reads: a model version's training distributions, and the
//! probability and drift values of each of its decisions in a window.

use crate::{Store, StoreError};
use aval_core::monitoring::{DriftReference, DriftWindow};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::types::Json;
use uuid::Uuid;

/// Bytes of one drift value as stored: a little-endian float8.
const VALUE_BYTES: usize = 8;

/// Drift values packed as stored in `decisions.drift_values`.
pub(crate) fn pack(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Stored drift values read back; `None` when the bytes are not whole float8s.
pub(crate) fn unpack(bytes: &[u8]) -> Option<Vec<f64>> {
    if !bytes.len().is_multiple_of(VALUE_BYTES) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(VALUE_BYTES)
            .map(|chunk| {
                let mut value = [0; VALUE_BYTES];
                value.copy_from_slice(chunk);
                f64::from_le_bytes(value)
            })
            .collect(),
    )
}

/// A model version's reference, as far as it is known.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredReference {
    /// The company has no such version.
    NoVersion,
    /// The version was trained before references were kept.
    NotKept,
    Kept(Box<DriftReference>),
}

impl Store {
    /// Every company's active model version, for the monitor to check.
    pub async fn active_models(&self) -> Result<Vec<(Uuid, i32)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT company_id, version FROM active_models ORDER BY company_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn drift_reference(
        &self,
        company_id: Uuid,
        version: i32,
    ) -> Result<StoredReference, StoreError> {
        let row: Option<(Option<Json<DriftReference>>,)> = sqlx::query_as(
            "SELECT drift_reference FROM models WHERE company_id = $1 AND version = $2",
        )
        .bind(company_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => StoredReference::NoVersion,
            Some((None,)) => StoredReference::NotKept,
            Some((Some(reference),)) => StoredReference::Kept(Box::new(reference.0)),
        })
    }

    /// The decisions of `version` decided in [from, to), counted into `reference`'s cells:
    /// streamed, so a window of a million decisions is never held.
    pub async fn drift_window(
        &self,
        company_id: Uuid,
        version: i32,
        reference: &DriftReference,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<DriftWindow, StoreError> {
        let mut window = reference.window();
        let mut rows = sqlx::query_as::<_, (f64, Option<Vec<u8>>)>(
            "SELECT probability, drift_values FROM decisions
             WHERE company_id = $1 AND decided_at >= $2 AND decided_at < $3
               AND model_version = $4",
        )
        .bind(company_id)
        .bind(from)
        .bind(to)
        .bind(version)
        .fetch(&self.pool);
        while let Some((probability, values)) = rows.try_next().await? {
            let values = values.as_deref().and_then(unpack);
            window.add(reference, probability, values.as_deref());
        }
        Ok(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_packed_missing_included() {
        let values = [1.5, f64::NAN, -3.0];
        let read = unpack(&pack(&values)).expect("whole float8s");
        assert_eq!(read[0], 1.5);
        assert!(read[1].is_nan());
        assert_eq!(read[2], -3.0);
        assert_eq!(unpack(&[0; 7]), None);
    }
}
