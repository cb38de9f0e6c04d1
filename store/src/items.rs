//! Item rows: one multi-row `INSERT ... SELECT FROM UNNEST(...)` per batch and table (never a
//! statement per row), inside the transaction that claims the batch in the ledger.

use crate::datasets::{BatchOrigin, Sunk, bind_batch_id};
use crate::{Store, StoreError};
use aval_core::fingerprint::Fingerprint;
use aval_core::ingest::items::{
    Attributes, Batch, BureauReport, CreditLimit, Customer, Order, Outcome,
};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, Postgres, Transaction};
use std::collections::HashSet;
use uuid::Uuid;

impl Store {
    /// Stores a validated batch exactly once: a batch id seen before changes nothing, and keys
    /// an earlier batch of the dataset used are recorded as conflicts instead of stored.
    /// `fingerprint` is the batch's content (`batch_fingerprint`): a batch id first used for
    /// other content is refused, not taken for a redelivery.
    pub async fn sink_batch(
        &self,
        origin: &BatchOrigin<'_>,
        batch: &Batch,
        fingerprint: &Fingerprint,
    ) -> Result<Sunk, StoreError> {
        let (company_id, dataset_id, batch_id) =
            (origin.company_id, origin.dataset_id, origin.batch_id);
        let mut tx = self.pool.begin().await?;
        let Some(status) =
            Self::lock_or_open_dataset(&mut tx, company_id, dataset_id, origin.at).await?
        else {
            return Ok(Sunk::DatasetNotFound);
        };
        let kind = batch.kind();
        if let Some(reuse) = bind_batch_id(&mut tx, origin, kind, fingerprint).await? {
            return Ok(Sunk::IdReused(reuse));
        }
        if !Self::claim_batch(&mut tx, origin, kind.as_str(), batch.len(), "stored", None).await? {
            return Ok(Sunk::Redelivered);
        }
        if !status.accepts_batches() {
            return Ok(Sunk::DatasetClosed);
        }
        let (keys, inserted) = match batch {
            Batch::Customers(items) => {
                insert_customers(&mut tx, company_id, dataset_id, items).await?
            }
            Batch::Orders(items) => insert_orders(&mut tx, company_id, dataset_id, items).await?,
            Batch::CreditLimits(items) => {
                insert_credit_limits(&mut tx, company_id, dataset_id, items).await?
            }
            Batch::BureauReports(items) => {
                insert_bureau_reports(&mut tx, company_id, dataset_id, items).await?
            }
        };
        let inserted: HashSet<String> = inserted.into_iter().collect();
        let conflicts: Vec<String> = keys.into_iter().filter(|k| !inserted.contains(k)).collect();
        if !conflicts.is_empty() {
            sqlx::query(
                "INSERT INTO dataset_conflicts (dataset_id, kind, item_key, batch_id)
                 SELECT $1, $2, key, $3 FROM UNNEST($4::text[]) AS key",
            )
            .bind(dataset_id)
            .bind(kind.as_str())
            .bind(batch_id)
            .bind(&conflicts)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE datasets SET received_{kind} = received_{kind} + $2, stored_{kind} = stored_{kind} + $3 WHERE id = $1",
            kind = kind.as_str()
        )))
        .bind(dataset_id)
        .bind(i64::try_from(batch.len()).unwrap_or(i64::MAX))
        .bind(i64::try_from(inserted.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Sunk::Stored {
            inserted: inserted.len() as u64,
            conflicts,
        })
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn attributes(a: &Attributes) -> String {
    json(a)
}

/// The natural key each row is reported by in conflicts, and the keys actually inserted.
type Keys = (Vec<String>, Vec<String>);

async fn insert_customers(
    tx: &mut Transaction<'static, Postgres>,
    company_id: Uuid,
    dataset_id: Uuid,
    items: &[Customer],
) -> Result<Keys, StoreError> {
    let ids: Vec<&str> = items.iter().map(|c| c.id.as_str()).collect();
    let documents: Vec<Option<&str>> = items.iter().map(|c| c.document.as_deref()).collect();
    let simples: Vec<Option<bool>> = items.iter().map(|c| c.simples_nacional).collect();
    let mei: Vec<Option<bool>> = items.iter().map(|c| c.mei).collect();
    let final_consumer: Vec<Option<bool>> = items.iter().map(|c| c.final_consumer).collect();
    let founded: Vec<Option<NaiveDate>> = items.iter().map(|c| c.founded_on).collect();
    let states: Vec<Option<&str>> = items.iter().map(|c| c.state.as_deref()).collect();
    let attrs: Vec<String> = items.iter().map(|c| attributes(&c.attributes)).collect();
    let inserted: Vec<(String,)> = sqlx::query_as(
        "INSERT INTO customers (dataset_id, company_id, id, document, simples_nacional, mei, final_consumer, founded_on, state, attributes)
         SELECT $1, $2, u.id, u.document, u.simples, u.mei, u.final_consumer, u.founded, u.state, u.attrs::jsonb
         FROM UNNEST($3::text[], $4::text[], $5::bool[], $6::bool[], $7::bool[], $8::date[], $9::text[], $10::text[])
              AS u(id, document, simples, mei, final_consumer, founded, state, attrs)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(dataset_id)
    .bind(company_id)
    .bind(&ids)
    .bind(&documents)
    .bind(&simples)
    .bind(&mei)
    .bind(&final_consumer)
    .bind(&founded)
    .bind(&states)
    .bind(&attrs)
    .fetch_all(&mut **tx)
    .await?;
    Ok((
        ids.into_iter().map(str::to_owned).collect(),
        inserted.into_iter().map(|(id,)| id).collect(),
    ))
}

async fn insert_orders(
    tx: &mut Transaction<'static, Postgres>,
    company_id: Uuid,
    dataset_id: Uuid,
    items: &[Order],
) -> Result<Keys, StoreError> {
    let ids: Vec<&str> = items.iter().map(|o| o.id.as_str()).collect();
    let customers: Vec<&str> = items.iter().map(|o| o.customer_id.as_str()).collect();
    let issued: Vec<DateTime<Utc>> = items.iter().map(|o| o.issued_at).collect();
    let amounts: Vec<i64> = items.iter().map(|o| o.amount.0).collect();
    let terms: Vec<Option<i32>> = items
        .iter()
        .map(|o| o.payment_term_days.map(clamp_i32))
        .collect();
    let installments: Vec<Option<i32>> = items
        .iter()
        .map(|o| o.installments.map(clamp_i32))
        .collect();
    let attrs: Vec<String> = items.iter().map(|o| attributes(&o.attributes)).collect();
    let outcomes: Vec<Option<&str>> = items
        .iter()
        .map(|o| {
            o.outcome.map(|outcome| match outcome {
                Outcome::Approved => "approved",
                Outcome::Blocked => "blocked",
            })
        })
        .collect();
    let inserted: Vec<(String,)> = sqlx::query_as(
        "INSERT INTO orders (dataset_id, company_id, id, customer_id, issued_at, amount_cents, payment_term_days, installments, attributes, outcome)
         SELECT $1, $2, u.id, u.customer_id, u.issued_at, u.amount, u.term, u.installments, u.attrs::jsonb, u.outcome
         FROM UNNEST($3::text[], $4::text[], $5::timestamptz[], $6::int8[], $7::int4[], $8::int4[], $9::text[], $10::text[])
              AS u(id, customer_id, issued_at, amount, term, installments, attrs, outcome)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(dataset_id)
    .bind(company_id)
    .bind(&ids)
    .bind(&customers)
    .bind(&issued)
    .bind(&amounts)
    .bind(&terms)
    .bind(&installments)
    .bind(&attrs)
    .bind(&outcomes)
    .fetch_all(&mut **tx)
    .await?;
    Ok((
        ids.into_iter().map(str::to_owned).collect(),
        inserted.into_iter().map(|(id,)| id).collect(),
    ))
}

async fn insert_credit_limits(
    tx: &mut Transaction<'static, Postgres>,
    company_id: Uuid,
    dataset_id: Uuid,
    items: &[CreditLimit],
) -> Result<Keys, StoreError> {
    let customers: Vec<&str> = items.iter().map(|l| l.customer_id.as_str()).collect();
    let valid_from: Vec<NaiveDate> = items.iter().map(|l| l.valid_from).collect();
    let limits: Vec<i64> = items.iter().map(|l| l.limit.0).collect();
    let inserted: Vec<(String, NaiveDate)> = sqlx::query_as(
        "INSERT INTO credit_limits (dataset_id, company_id, customer_id, valid_from, limit_cents)
         SELECT $1, $2, u.customer_id, u.valid_from, u.limit_cents
         FROM UNNEST($3::text[], $4::date[], $5::int8[]) AS u(customer_id, valid_from, limit_cents)
         ON CONFLICT DO NOTHING
         RETURNING customer_id, valid_from",
    )
    .bind(dataset_id)
    .bind(company_id)
    .bind(&customers)
    .bind(&valid_from)
    .bind(&limits)
    .fetch_all(&mut **tx)
    .await?;
    let key = |customer: &str, date: &NaiveDate| format!("{customer}@{date}");
    Ok((
        items
            .iter()
            .map(|l| key(&l.customer_id, &l.valid_from))
            .collect(),
        inserted.iter().map(|(c, d)| key(c, d)).collect(),
    ))
}

async fn insert_bureau_reports(
    tx: &mut Transaction<'static, Postgres>,
    company_id: Uuid,
    dataset_id: Uuid,
    items: &[BureauReport],
) -> Result<Keys, StoreError> {
    let customers: Vec<&str> = items.iter().map(|r| r.customer_id.as_str()).collect();
    let queried: Vec<DateTime<Utc>> = items.iter().map(|r| r.queried_at).collect();
    let inquiries: Vec<Option<i32>> = items.iter().map(|r| r.inquiries.map(clamp_i32)).collect();
    let scores: Vec<Option<i32>> = items.iter().map(|r| r.score).collect();
    let habits: Vec<Option<String>> = items
        .iter()
        .map(|r| r.payment_habits.as_ref().map(json))
        .collect();
    let suppliers: Vec<Option<String>> = items
        .iter()
        .map(|r| r.supplier_relationships.as_ref().map(json))
        .collect();
    let negatives: Vec<Option<String>> = items
        .iter()
        .map(|r| r.negatives.as_ref().map(json))
        .collect();
    let inserted: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO bureau_reports (dataset_id, company_id, customer_id, queried_at, inquiries, score, payment_habits, supplier_relationships, negatives)
         SELECT $1, $2, u.customer_id, u.queried_at, u.inquiries, u.score, u.habits::jsonb, u.suppliers::jsonb, u.negatives::jsonb
         FROM UNNEST($3::text[], $4::timestamptz[], $5::int4[], $6::int4[], $7::text[], $8::text[], $9::text[])
              AS u(customer_id, queried_at, inquiries, score, habits, suppliers, negatives)
         ON CONFLICT DO NOTHING
         RETURNING customer_id, queried_at",
    )
    .bind(dataset_id)
    .bind(company_id)
    .bind(&customers)
    .bind(&queried)
    .bind(&inquiries)
    .bind(&scores)
    .bind(&habits)
    .bind(&suppliers)
    .bind(&negatives)
    .fetch_all(&mut **tx)
    .await?;
    let key = |customer: &str, at: &DateTime<Utc>| format!("{customer}@{}", at.to_rfc3339());
    Ok((
        items
            .iter()
            .map(|r| key(&r.customer_id, &r.queried_at))
            .collect(),
        inserted.iter().map(|(c, at)| key(c, at)).collect(),
    ))
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}
