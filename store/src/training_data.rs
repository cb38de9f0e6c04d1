//! Reading a company's stored datasets back, for training and comparison. Several datasets
//! are merged by the items' keys; a later dataset's item replaces an earlier one's (a
//! re-upload corrects history). Training streams the rows into compact columns
//! ([`Store::training_columns`]); comparison and the tests read whole domain items
//! ([`Store::training_data`]).

use crate::datasets::checked;
use crate::rows::{self, CREDIT_LIMIT_COLUMNS, CUSTOMER_COLUMNS, ORDER_COLUMNS, REPORT_COLUMNS};
use crate::{Store, StoreError};
use aval_core::ingest::items::{
    Attributes, BureauReport, Cents, CreditLimit, Customer, Order, Outcome,
};
use aval_core::model::{ColumnsBuilder, OrderFields, TrainingColumns};
use aval_core::outcome::{OutcomeKind, TrainingLabel, judge, repayment_label};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingData {
    pub customers: Vec<Customer>,
    pub credit_limits: Vec<CreditLimit>,
    pub bureau_reports: Vec<BureauReport>,
    pub orders: Vec<Order>,
}

fn select(columns: &str, table: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!(
        "SELECT {columns} FROM {table} WHERE dataset_id = $1 AND company_id = $2"
    ))
}

impl Store {
    /// The checked datasets among `dataset_ids` that belong to `company_id`, oldest first.
    async fn checked_datasets(
        &self,
        company_id: Uuid,
        dataset_ids: &[Uuid],
    ) -> Result<Vec<Uuid>, StoreError> {
        let ordered: Vec<(Uuid,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id FROM datasets d WHERE company_id = $1 AND id = ANY($2) AND {} ORDER BY created_at",
            checked("d")
        )))
        .bind(company_id)
        .bind(dataset_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(ordered.into_iter().map(|(id,)| id).collect())
    }

    /// The same items as [`Store::training_data`], streamed row by row into compact columns
    /// (each row's values pushed and dropped; orders read without building an `Order`), so a
    /// company's ten million orders are never held as domain items.
    ///
    /// `label` chooses each order's label: its uploaded `outcome` (the company's decision), or
    /// its repayment as of `as_of` ([`Store::repayment_labels`]; an order without one is left
    /// unlabelled, and training leaves it out).
    pub async fn training_columns(
        &self,
        company_id: Uuid,
        dataset_ids: &[Uuid],
        label: TrainingLabel,
        as_of: DateTime<Utc>,
    ) -> Result<TrainingColumns, StoreError> {
        let repaid = match label {
            TrainingLabel::CompanyDecision => None,
            TrainingLabel::Outcomes => Some(self.repayment_labels(company_id, as_of).await?),
        };
        let mut builder = ColumnsBuilder::merging();
        for dataset in self.checked_datasets(company_id, dataset_ids).await? {
            let mut customers =
                sqlx::query_as::<_, rows::CustomerRow>(select(CUSTOMER_COLUMNS, "customers"))
                    .bind(dataset)
                    .bind(company_id)
                    .fetch(&self.pool);
            while let Some(row) = customers.try_next().await? {
                builder.push_customer(&rows::customer(row));
            }
            drop(customers);
            let mut limits = sqlx::query_as::<_, rows::CreditLimitRow>(select(
                CREDIT_LIMIT_COLUMNS,
                "credit_limits",
            ))
            .bind(dataset)
            .bind(company_id)
            .fetch(&self.pool);
            while let Some(row) = limits.try_next().await? {
                builder.push_credit_limit(&rows::credit_limit(row));
            }
            drop(limits);
            let mut reports =
                sqlx::query_as::<_, rows::ReportRow>(select(REPORT_COLUMNS, "bureau_reports"))
                    .bind(dataset)
                    .bind(company_id)
                    .fetch(&self.pool);
            while let Some(row) = reports.try_next().await? {
                builder.push_bureau_report(&rows::bureau_report(row));
            }
            drop(reports);
            let mut orders = sqlx::query(select(ORDER_COLUMNS, "orders"))
                .bind(dataset)
                .bind(company_id)
                .fetch(&self.pool);
            while let Some(row) = orders.try_next().await? {
                let attributes: Json<Attributes> = row.try_get(6)?;
                let id: &str = row.try_get(0)?;
                let outcome = match &repaid {
                    None => rows::outcome_named(row.try_get(7)?),
                    Some(labels) => labels.get(id).copied(),
                };
                builder.push_order(OrderFields {
                    id,
                    customer_id: row.try_get(1)?,
                    issued_at: row.try_get(2)?,
                    amount: Cents(row.try_get(3)?),
                    payment_term_days: rows::count(row.try_get(4)?),
                    installments: rows::count(row.try_get(5)?),
                    attributes: &attributes.0,
                    outcome,
                });
            }
        }
        Ok(builder.finish())
    }

    /// The label of each of the company's decided orders whose decision has matured with a
    /// repayment outcome as of `as_of` (its latest stored by then, from the history, so the
    /// same instant reads the same labels whatever was reported since), by the company's
    /// definition of a bad order then: blocked when it went bad, approved when it was repaid.
    pub async fn repayment_labels(
        &self,
        company_id: Uuid,
        as_of: DateTime<Utc>,
    ) -> Result<HashMap<String, Outcome>, StoreError> {
        let definition = self.outcome_definition_at(company_id, as_of).await?;
        let mut rows =
            sqlx::query_as::<_, (String, DateTime<Utc>, String, Json<Value>, DateTime<Utc>)>(
                "SELECT d.order_id, d.decided_at, h.kind, h.details, h.occurred_at
             FROM (
                 SELECT DISTINCT ON (order_id) order_id, kind, details, occurred_at
                 FROM outcome_history
                 WHERE company_id = $1 AND family = 'repayment' AND reported_at <= $2
                 ORDER BY order_id, reported_at DESC, id DESC
             ) h
             JOIN decisions d ON d.company_id = $1 AND d.order_id = h.order_id",
            )
            .bind(company_id)
            .bind(as_of)
            .fetch(&self.pool);
        let mut labels = HashMap::new();
        while let Some((order_id, decided_at, kind, details, occurred_at)) = rows.try_next().await?
        {
            let kind = OutcomeKind::from_stored(&kind, &details.0).ok_or_else(|| {
                StoreError::Corrupt(format!("stored outcome {kind} has unreadable details"))
            })?;
            let maturity = judge(definition, decided_at, as_of, Some((&kind, occurred_at)));
            if let Some(label) = repayment_label(maturity) {
                labels.insert(order_id, label);
            }
        }
        Ok(labels)
    }

    /// The items of `dataset_ids` that belong to `company_id` and passed their checks (another
    /// company's ids, or a rejected or unfinished dataset's, yield nothing), merged oldest
    /// dataset first.
    pub async fn training_data(
        &self,
        company_id: Uuid,
        dataset_ids: &[Uuid],
    ) -> Result<TrainingData, StoreError> {
        let mut data = TrainingData::default();
        // Oldest first, so later datasets override.
        for dataset in self.checked_datasets(company_id, dataset_ids).await? {
            let customers: Vec<rows::CustomerRow> =
                sqlx::query_as(select(CUSTOMER_COLUMNS, "customers"))
                    .bind(dataset)
                    .bind(company_id)
                    .fetch_all(&self.pool)
                    .await?;
            data.customers
                .extend(customers.into_iter().map(rows::customer));
            let limits: Vec<rows::CreditLimitRow> =
                sqlx::query_as(select(CREDIT_LIMIT_COLUMNS, "credit_limits"))
                    .bind(dataset)
                    .bind(company_id)
                    .fetch_all(&self.pool)
                    .await?;
            data.credit_limits
                .extend(limits.into_iter().map(rows::credit_limit));
            let reports: Vec<rows::ReportRow> =
                sqlx::query_as(select(REPORT_COLUMNS, "bureau_reports"))
                    .bind(dataset)
                    .bind(company_id)
                    .fetch_all(&self.pool)
                    .await?;
            data.bureau_reports
                .extend(reports.into_iter().map(rows::bureau_report));
            let orders: Vec<rows::OrderRow> = sqlx::query_as(select(ORDER_COLUMNS, "orders"))
                .bind(dataset)
                .bind(company_id)
                .fetch_all(&self.pool)
                .await?;
            data.orders.extend(orders.into_iter().map(rows::order));
        }
        data.customers = rows::merge(data.customers, |c| c.id.clone());
        data.credit_limits = rows::merge(data.credit_limits, rows::credit_limit_key);
        data.bureau_reports = rows::merge(data.bureau_reports, rows::bureau_report_key);
        data.orders = rows::merge(data.orders, |o| o.id.clone());
        Ok(data)
    }
}
