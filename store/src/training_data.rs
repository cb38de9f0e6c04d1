//! Reading a company's stored datasets back as domain items, for training and comparison.
//! Several datasets are merged by the items' keys; a later dataset's item replaces an
//! earlier one's (a re-upload corrects history).

use crate::datasets::checked;
use crate::rows::{self, CREDIT_LIMIT_COLUMNS, CUSTOMER_COLUMNS, ORDER_COLUMNS, REPORT_COLUMNS};
use crate::{Store, StoreError};
use aval_core::ingest::items::{BureauReport, CreditLimit, Customer, Order};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingData {
    pub customers: Vec<Customer>,
    pub credit_limits: Vec<CreditLimit>,
    pub bureau_reports: Vec<BureauReport>,
    pub orders: Vec<Order>,
}

impl Store {
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
        let ordered: Vec<(Uuid,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id FROM datasets d WHERE company_id = $1 AND id = ANY($2) AND {} ORDER BY created_at",
            checked("d")
        )))
        .bind(company_id)
        .bind(dataset_ids)
        .fetch_all(&self.pool)
        .await?;
        let select = |columns: &str, table: &str| {
            AssertSqlSafe(format!(
                "SELECT {columns} FROM {table} WHERE dataset_id = $1 AND company_id = $2"
            ))
        };
        for (dataset,) in ordered {
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
