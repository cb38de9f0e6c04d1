//! What comparing model versions needs, read in one call: the versions with their models, the
//! items of every dataset any of them was trained from (merged as training merges them), and
//! which orders with an outcome each of those datasets holds, so that the domain can tell what
//! each version trained on.

use crate::datasets::checked;
use crate::training_data::TrainingData;
use crate::{Store, StoreError};
use aval_core::model::{Contender, TrainedModel};
use sqlx::AssertSqlSafe;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A stored version, its model read back.
#[derive(Debug)]
pub struct VersionToCompare {
    pub version: i32,
    pub dataset_ids: Vec<Uuid>,
    pub model: TrainedModel,
}

#[derive(Debug)]
pub struct ComparisonData {
    /// In the order asked for.
    pub versions: Vec<VersionToCompare>,
    /// The items of every checked dataset any of the versions was trained from.
    pub data: TrainingData,
    /// Per dataset, the ids of its orders with an outcome.
    pub labelled_orders: HashMap<Uuid, HashSet<String>>,
}

impl ComparisonData {
    /// The versions as the domain compares them: each with the orders of its datasets.
    pub fn contenders(&self) -> Vec<Contender<'_>> {
        self.versions
            .iter()
            .map(|v| Contender {
                version: v.version,
                model: &v.model,
                dataset_orders: v
                    .dataset_ids
                    .iter()
                    .filter_map(|d| self.labelled_orders.get(d))
                    .collect(),
            })
            .collect()
    }
}

/// What [`Store::comparison_data`] found.
#[derive(Debug)]
pub enum Comparable {
    Found(ComparisonData),
    /// The first version asked for that the company does not have; nothing else was read.
    NoSuchVersion(i32),
}

impl Store {
    /// The company's `versions` (distinct) and the data to compare them on. A stored model that
    /// cannot be read is `Corrupt`.
    pub async fn comparison_data(
        &self,
        company_id: Uuid,
        versions: &[i32],
    ) -> Result<Comparable, StoreError> {
        let rows: Vec<(i32, Vec<u8>, Vec<Uuid>)> = sqlx::query_as(
            "SELECT version, artifact, dataset_ids FROM models WHERE company_id = $1 AND version = ANY($2)",
        )
        .bind(company_id)
        .bind(versions)
        .fetch_all(&self.pool)
        .await?;
        let mut stored: HashMap<i32, (Vec<u8>, Vec<Uuid>)> = rows
            .into_iter()
            .map(|(version, artifact, datasets)| (version, (artifact, datasets)))
            .collect();
        let mut compared = Vec::with_capacity(versions.len());
        for &version in versions {
            let Some((artifact, dataset_ids)) = stored.remove(&version) else {
                return Ok(Comparable::NoSuchVersion(version));
            };
            let model: TrainedModel = serde_json::from_slice(&artifact).map_err(|e| {
                StoreError::Corrupt(format!("model version {version} cannot be read: {e}"))
            })?;
            compared.push(VersionToCompare {
                version,
                dataset_ids,
                model,
            });
        }
        let mut datasets: Vec<Uuid> = compared
            .iter()
            .flat_map(|v| v.dataset_ids.iter().copied())
            .collect();
        datasets.sort_unstable();
        datasets.dedup();
        let data = self.training_data(company_id, &datasets).await?;
        let labelled: Vec<(Uuid, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT o.dataset_id, o.id FROM orders o JOIN datasets d ON d.id = o.dataset_id
             WHERE d.company_id = $1 AND o.company_id = $1 AND d.id = ANY($2)
               AND o.outcome IS NOT NULL AND {}",
            checked("d")
        )))
        .bind(company_id)
        .bind(&datasets)
        .fetch_all(&self.pool)
        .await?;
        let mut labelled_orders: HashMap<Uuid, HashSet<String>> = HashMap::new();
        for (dataset, order) in labelled {
            labelled_orders.entry(dataset).or_default().insert(order);
        }
        Ok(Comparable::Found(ComparisonData {
            versions: compared,
            data,
            labelled_orders,
        }))
    }
}
