//! What the scorer reads: a customer's stored facts across all of a company's datasets, and
//! the first decision per order (idempotency).

use crate::rows::{self, CREDIT_LIMIT_COLUMNS, CUSTOMER_COLUMNS, ORDER_COLUMNS, REPORT_COLUMNS};
use crate::{Store, StoreError};
use aval_core::features::CustomerFacts;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use uuid::Uuid;

/// Whether `record_decision` stored the decision or found an earlier one.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    First,
    /// The order was decided before; this is that first decision.
    Repeat(Value),
}

impl Store {
    /// Everything stored about one customer of `company_id`, from every dataset (a later
    /// dataset's item replaces an earlier one with the same key). Feature assembly then picks
    /// what was known at the order's time, as in training.
    pub async fn customer_facts(
        &self,
        company_id: Uuid,
        customer_id: &str,
    ) -> Result<CustomerFacts, StoreError> {
        // Four independent reads, run at once on the pool: a decision waits for the slowest,
        // not for their sum.
        let select = |columns: &str, alias: &str, table: &str, key: &str, order: &str| {
            let columns: Vec<String> = columns
                .split(", ")
                .map(|c| format!("{alias}.{c}"))
                .collect();
            AssertSqlSafe(format!(
                "SELECT {} FROM {table} {alias} JOIN datasets d ON d.id = {alias}.dataset_id
                 WHERE {alias}.company_id = $1 AND {alias}.{key} = $2 ORDER BY d.created_at {order}",
                columns.join(", ")
            ))
        };
        let customers = sqlx::query_as::<_, rows::CustomerRow>(select(
            CUSTOMER_COLUMNS,
            "c",
            "customers",
            "id",
            "DESC LIMIT 1",
        ))
        .bind(company_id)
        .bind(customer_id)
        .fetch_all(&self.pool);
        let limits = sqlx::query_as::<_, rows::CreditLimitRow>(select(
            CREDIT_LIMIT_COLUMNS,
            "l",
            "credit_limits",
            "customer_id",
            "",
        ))
        .bind(company_id)
        .bind(customer_id)
        .fetch_all(&self.pool);
        let reports = sqlx::query_as::<_, rows::ReportRow>(select(
            REPORT_COLUMNS,
            "r",
            "bureau_reports",
            "customer_id",
            "",
        ))
        .bind(company_id)
        .bind(customer_id)
        .fetch_all(&self.pool);
        let orders = sqlx::query_as::<_, rows::OrderRow>(select(
            ORDER_COLUMNS,
            "o",
            "orders",
            "customer_id",
            "",
        ))
        .bind(company_id)
        .bind(customer_id)
        .fetch_all(&self.pool);
        let (customers, limits, reports, orders) =
            futures::future::try_join4(customers, limits, reports, orders).await?;
        Ok(CustomerFacts {
            customer: customers.into_iter().next().map(rows::customer),
            credit_limits: rows::merge(
                limits.into_iter().map(rows::credit_limit),
                rows::credit_limit_key,
            ),
            bureau_reports: rows::merge(
                reports.into_iter().map(rows::bureau_report),
                rows::bureau_report_key,
            ),
            orders: rows::merge(orders.into_iter().map(rows::order), |o| o.id.clone()),
        })
    }

    /// Stores the first decision for (company, order); when the order was decided before,
    /// stores nothing and returns that first decision.
    pub async fn record_decision(
        &self,
        company_id: Uuid,
        order_id: &str,
        request_id: &str,
        decision: &Value,
        at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO decisions (company_id, order_id, request_id, decision, decided_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (company_id, order_id) DO NOTHING",
        )
        .bind(company_id)
        .bind(order_id)
        .bind(request_id)
        .bind(Json(decision))
        .bind(at)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Recorded::First);
        }
        let (first,): (Json<Value>,) = sqlx::query_as(
            "SELECT decision FROM decisions WHERE company_id = $1 AND order_id = $2",
        )
        .bind(company_id)
        .bind(order_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Recorded::Repeat(first.0))
    }

    /// The first decision recorded for an order, if any: lets the scorer answer a repeat
    /// without deciding again.
    pub async fn decision(
        &self,
        company_id: Uuid,
        order_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let row: Option<(Json<Value>,)> = sqlx::query_as(
            "SELECT decision FROM decisions WHERE company_id = $1 AND order_id = $2",
        )
        .bind(company_id)
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(j,)| j.0))
    }
}
