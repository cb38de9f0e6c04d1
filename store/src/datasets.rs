//! Datasets: the upload session's status and counters, the batch ledger that makes sinking
//! idempotent, and the facts checked at completion. Item rows live in `items.rs`.

use crate::{Pending, Store, StoreError};
use aval_core::fingerprint::Fingerprint;
use aval_core::ingest::items::{Counts, ItemKind};
use aval_core::ingest::{DatasetFacts, MAX_EXAMPLES, Sample};
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetStatus {
    Receiving,
    Validating,
    Ready,
    Rejected,
    Training,
    Trained,
    Failed,
}

impl DatasetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetStatus::Receiving => "receiving",
            DatasetStatus::Validating => "validating",
            DatasetStatus::Ready => "ready",
            DatasetStatus::Rejected => "rejected",
            DatasetStatus::Training => "training",
            DatasetStatus::Trained => "trained",
            DatasetStatus::Failed => "failed",
        }
    }

    /// The status named `text`, if it is one.
    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "receiving" => DatasetStatus::Receiving,
            "validating" => DatasetStatus::Validating,
            "ready" => DatasetStatus::Ready,
            "rejected" => DatasetStatus::Rejected,
            "training" => DatasetStatus::Training,
            "trained" => DatasetStatus::Trained,
            "failed" => DatasetStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("dataset status {other:?}"))),
        })
    }

    /// Batches are taken in until the completion marker has been processed.
    pub fn accepts_batches(self) -> bool {
        matches!(self, DatasetStatus::Receiving | DatasetStatus::Validating)
    }

    /// Whether the dataset passed its integrity check at completion (it reached `ready`, and
    /// whatever training made of it since): the only data training and decisions use. A
    /// rejected dataset, or an upload still receiving or validating, never counts.
    pub fn is_checked(self) -> bool {
        matches!(
            self,
            DatasetStatus::Ready
                | DatasetStatus::Training
                | DatasetStatus::Trained
                | DatasetStatus::Failed
        )
    }

    pub const ALL: [DatasetStatus; 7] = [
        DatasetStatus::Receiving,
        DatasetStatus::Validating,
        DatasetStatus::Ready,
        DatasetStatus::Rejected,
        DatasetStatus::Training,
        DatasetStatus::Trained,
        DatasetStatus::Failed,
    ];
}

/// The SQL condition that the datasets row `alias` is checked ([`DatasetStatus::is_checked`]),
/// for every query that reads data to train or decide with.
pub(crate) fn checked(alias: &str) -> String {
    let statuses: Vec<String> = DatasetStatus::ALL
        .into_iter()
        .filter(|s| s.is_checked())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("{alias}.status IN ({})", statuses.join(", "))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub id: Uuid,
    pub company_id: Uuid,
    pub status: DatasetStatus,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub received: Counts,
    pub stored: Counts,
    pub rejected_batches: i32,
    pub announced: Option<Counts>,
    pub rejection_reasons: Vec<String>,
    /// The model version trained on it, once trained.
    pub model_version: Option<i32>,
    /// Why training failed, when it did.
    pub failure_reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DatasetRow {
    id: Uuid,
    company_id: Uuid,
    status: String,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    received_customers: i64,
    received_orders: i64,
    received_credit_limits: i64,
    received_bureau_reports: i64,
    stored_customers: i64,
    stored_orders: i64,
    stored_credit_limits: i64,
    stored_bureau_reports: i64,
    rejected_batches: i32,
    announced: Option<sqlx::types::Json<Counts>>,
    rejection_reasons: sqlx::types::Json<Vec<String>>,
    model_version: Option<i32>,
    failure_reason: Option<String>,
}

const DATASET_COLUMNS: &str = "id, company_id, status, created_at, completed_at,
    received_customers, received_orders, received_credit_limits, received_bureau_reports,
    stored_customers, stored_orders, stored_credit_limits, stored_bureau_reports,
    rejected_batches, announced, rejection_reasons, model_version, failure_reason";

fn counts(customers: i64, orders: i64, credit_limits: i64, bureau_reports: i64) -> Counts {
    let n = |v: i64| u64::try_from(v).unwrap_or_default();
    Counts {
        customers: n(customers),
        orders: n(orders),
        credit_limits: n(credit_limits),
        bureau_reports: n(bureau_reports),
    }
}

impl TryFrom<DatasetRow> for Dataset {
    type Error = StoreError;

    fn try_from(row: DatasetRow) -> Result<Self, StoreError> {
        Ok(Dataset {
            id: row.id,
            company_id: row.company_id,
            status: DatasetStatus::parse(&row.status)?,
            created_at: row.created_at,
            completed_at: row.completed_at,
            received: counts(
                row.received_customers,
                row.received_orders,
                row.received_credit_limits,
                row.received_bureau_reports,
            ),
            stored: counts(
                row.stored_customers,
                row.stored_orders,
                row.stored_credit_limits,
                row.stored_bureau_reports,
            ),
            rejected_batches: row.rejected_batches,
            announced: row.announced.map(|j| j.0),
            rejection_reasons: row.rejection_reasons.0,
            model_version: row.model_version,
            failure_reason: row.failure_reason,
        })
    }
}

/// Which batch of which company's dataset, processed when: the ledger's key.
#[derive(Debug, Clone, Copy)]
pub struct BatchOrigin<'a> {
    pub company_id: Uuid,
    pub dataset_id: Uuid,
    /// The producer's id for the batch (the HTTP Idempotency-Key).
    pub batch_id: &'a str,
    pub at: DateTime<Utc>,
}

/// What became of a batch handed to the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sunk {
    /// Stored; `conflicts` are item keys an earlier batch of the dataset already used (those
    /// items were not stored and are recorded as dataset problems).
    Stored {
        inserted: u64,
        conflicts: Vec<String>,
    },
    /// This batch id was processed before: nothing changed.
    Redelivered,
    /// This batch id was first used for other content: nothing changed.
    IdReused(BatchIdReuse),
    /// The dataset's completion marker was processed already.
    DatasetClosed,
    /// No such dataset for this company.
    DatasetNotFound,
}

/// What a batch id was bound to before, when that differs from the batch now sent under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchIdReuse {
    /// First used for a batch of this other kind.
    OtherKind(ItemKind),
    /// First used for other items of the same kind.
    OtherItems,
}

/// Binds the batch id of `origin` to `kind` and `fingerprint` unless it is bound already;
/// `Some` when it was bound to other content. Two binders of the same new id are serialised by
/// the primary key: the second waits for the first to commit, then reads its row.
pub(crate) async fn bind_batch_id(
    connection: &mut PgConnection,
    origin: &BatchOrigin<'_>,
    kind: ItemKind,
    fingerprint: &Fingerprint,
) -> Result<Option<BatchIdReuse>, StoreError> {
    let bound = sqlx::query(
        "INSERT INTO dataset_batch_ids (dataset_id, batch_id, kind, fingerprint, bound_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(origin.dataset_id)
    .bind(origin.batch_id)
    .bind(kind.as_str())
    .bind(fingerprint.as_slice())
    .bind(origin.at)
    .execute(&mut *connection)
    .await?;
    if bound.rows_affected() == 1 {
        return Ok(None);
    }
    let (first_kind, first_fingerprint): (String, Vec<u8>) = sqlx::query_as(
        "SELECT kind, fingerprint FROM dataset_batch_ids WHERE dataset_id = $1 AND batch_id = $2",
    )
    .bind(origin.dataset_id)
    .bind(origin.batch_id)
    .fetch_one(&mut *connection)
    .await?;
    let first_kind = parse_kind(&first_kind)?;
    Ok(if first_kind != kind {
        Some(BatchIdReuse::OtherKind(first_kind))
    } else if first_fingerprint != fingerprint.as_slice() {
        Some(BatchIdReuse::OtherItems)
    } else {
        None
    })
}

impl Store {
    /// Binds an uploaded batch's id (its Idempotency-Key) to its kind and items before the
    /// batch is produced; `Some` when the id already stands for other content. A repeat of the
    /// same batch binds nothing new and may be produced again: the ingest sink stores a batch
    /// id once.
    pub async fn bind_batch_id(
        &self,
        origin: &BatchOrigin<'_>,
        kind: ItemKind,
        fingerprint: &Fingerprint,
    ) -> Result<Option<BatchIdReuse>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        bind_batch_id(&mut connection, origin, kind, fingerprint).await
    }

    /// Inserts a new `receiving` dataset in an open transaction.
    pub async fn begin_dataset(
        &self,
        company_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Pending<Dataset>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: DatasetRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO datasets (id, company_id, status, created_at) VALUES ($1, $2, 'receiving', $3)
             RETURNING {DATASET_COLUMNS}"
        )))
        .bind(Uuid::new_v4())
        .bind(company_id)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        Ok(Pending::new(row.try_into()?, tx))
    }

    /// The dataset if it belongs to `company_id`; another company's dataset is `None`, exactly
    /// as if it did not exist.
    pub async fn dataset(&self, company_id: Uuid, id: Uuid) -> Result<Option<Dataset>, StoreError> {
        let row: Option<DatasetRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DATASET_COLUMNS} FROM datasets WHERE id = $1 AND company_id = $2"
        )))
        .bind(id)
        .bind(company_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Dataset::try_from).transpose()
    }

    /// The company's datasets newest first, after `cursor` (the last of the previous page), at
    /// most `limit`, of one status when given.
    pub async fn datasets(
        &self,
        company_id: Uuid,
        status: Option<DatasetStatus>,
        cursor: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Dataset>, StoreError> {
        // Walks `datasets_company` newest first; the optional filters only skip rows.
        let rows: Vec<DatasetRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DATASET_COLUMNS} FROM datasets
             WHERE company_id = $1 AND ($2::text IS NULL OR status = $2)
               AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
             ORDER BY created_at DESC, id DESC LIMIT $5"
        )))
        .bind(company_id)
        .bind(status.map(DatasetStatus::as_str))
        .bind(cursor.map(|(at, _)| at))
        .bind(cursor.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Dataset::try_from).collect()
    }

    /// Moves `receiving` to `validating` when the completion marker is sent; false when the
    /// dataset was not receiving (already completed).
    pub async fn begin_validation(&self, company_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE datasets SET status = 'validating' WHERE id = $1 AND company_id = $2 AND status = 'receiving'",
        )
        .bind(id)
        .bind(company_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Undoes `begin_validation` when the marker could not be published.
    pub async fn cancel_validation(&self, company_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE datasets SET status = 'receiving' WHERE id = $1 AND company_id = $2 AND status = 'validating'",
        )
        .bind(id)
        .bind(company_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// For records produced straight to Kafka: the first batch of an unknown dataset id opens
    /// it for the token's company. `None` when the id is another company's.
    pub(crate) async fn lock_or_open_dataset(
        tx: &mut Transaction<'static, Postgres>,
        company_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<DatasetStatus>, StoreError> {
        sqlx::query(
            "INSERT INTO datasets (id, company_id, status, created_at) VALUES ($1, $2, 'receiving', $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(company_id)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT status FROM datasets WHERE id = $1 AND company_id = $2 FOR UPDATE",
        )
        .bind(id)
        .bind(company_id)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|(status,)| DatasetStatus::parse(&status))
            .transpose()
    }

    /// Records a copy of a marker (a redelivered copy again changes nothing) and counts the
    /// copies read so far. The caller holds the dataset's row lock, so two copies read at once
    /// by two processors are counted one after the other.
    async fn record_marker_copy(
        tx: &mut Transaction<'static, Postgres>,
        origin: &BatchOrigin<'_>,
        copy: MarkerCopy,
    ) -> Result<u32, StoreError> {
        sqlx::query(
            "INSERT INTO completion_marker_copies (dataset_id, marker_id, partition, read_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(origin.dataset_id)
        .bind(origin.batch_id)
        .bind(copy.partition)
        .bind(origin.at)
        .execute(&mut **tx)
        .await?;
        let (read,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM completion_marker_copies WHERE dataset_id = $1 AND marker_id = $2",
        )
        .bind(origin.dataset_id)
        .bind(origin.batch_id)
        .fetch_one(&mut **tx)
        .await?;
        Ok(u32::try_from(read).unwrap_or(u32::MAX))
    }

    /// Claims `batch_id` in the ledger; false when it was processed before.
    pub(crate) async fn claim_batch(
        tx: &mut Transaction<'static, Postgres>,
        origin: &BatchOrigin<'_>,
        kind: &str,
        items: usize,
        outcome: &str,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "INSERT INTO dataset_batches (dataset_id, batch_id, kind, items, outcome, reason, processed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(origin.dataset_id)
        .bind(origin.batch_id)
        .bind(kind)
        .bind(i32::try_from(items).unwrap_or(i32::MAX))
        .bind(outcome)
        .bind(reason)
        .bind(origin.at)
        .execute(&mut **tx)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Records a refused batch (counted as received, nothing stored); its id is bound to its
    /// items like a stored batch's, so a corrected batch needs a new id. False when
    /// redelivered, or when the id stands for other content.
    pub async fn record_refused_batch(
        &self,
        origin: &BatchOrigin<'_>,
        kind: ItemKind,
        items: usize,
        fingerprint: &Fingerprint,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if Self::lock_or_open_dataset(&mut tx, origin.company_id, origin.dataset_id, origin.at)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        if bind_batch_id(&mut tx, origin, kind, fingerprint)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        if !Self::claim_batch(
            &mut tx,
            origin,
            kind.as_str(),
            items,
            "refused",
            Some(reason),
        )
        .await?
        {
            return Ok(false);
        }
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE datasets SET received_{kind} = received_{kind} + $2, rejected_batches = rejected_batches + 1
             WHERE id = $1",
            kind = kind.as_str()
        )))
        .bind(origin.dataset_id)
        .bind(i64::try_from(items).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The stored counts and everything the integrity check needs, in a handful of indexed
    /// queries.
    pub(crate) async fn stored_facts(
        tx: &mut Transaction<'static, Postgres>,
        dataset_id: Uuid,
    ) -> Result<(Counts, DatasetFacts), StoreError> {
        // The rows were inserted moments ago, before any ANALYZE: the planner believes the
        // dataset holds a handful of rows and picks nested-loop anti-joins, which are quadratic
        // (7.7 s for 50,000 orders). Hash joins are linear whatever the statistics say.
        sqlx::query("SET LOCAL enable_nestloop = off")
            .execute(&mut **tx)
            .await?;
        let (customers, orders, credit_limits, bureau_reports): (i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT
                (SELECT count(*) FROM customers WHERE dataset_id = $1),
                (SELECT count(*) FROM orders WHERE dataset_id = $1),
                (SELECT count(*) FROM credit_limits WHERE dataset_id = $1),
                (SELECT count(*) FROM bureau_reports WHERE dataset_id = $1)",
            )
            .bind(dataset_id)
            .fetch_one(&mut **tx)
            .await?;
        let stored = counts(customers, orders, credit_limits, bureau_reports);
        let mut facts = DatasetFacts::default();
        let sample = |(count, examples): (i64, Option<Vec<String>>)| {
            Sample::new(
                u64::try_from(count).unwrap_or_default(),
                examples.unwrap_or_default(),
            )
        };
        let unknown_customer = "NOT EXISTS (SELECT 1 FROM customers c WHERE c.dataset_id = $1 AND c.id = t.customer_id)";
        facts.orphan_orders = sample(
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT count(*), (array_agg(t.id ORDER BY t.id))[1:{MAX_EXAMPLES}]
                 FROM orders t WHERE t.dataset_id = $1 AND {unknown_customer}"
            )))
            .bind(dataset_id)
            .fetch_one(&mut **tx)
            .await?,
        );
        for (table, target) in [
            ("credit_limits", &mut facts.orphan_credit_limits),
            ("bureau_reports", &mut facts.orphan_bureau_reports),
        ] {
            *target = sample(
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT count(*), (array_agg(DISTINCT t.customer_id))[1:{MAX_EXAMPLES}]
                     FROM {table} t WHERE t.dataset_id = $1 AND {unknown_customer}"
                )))
                .bind(dataset_id)
                .fetch_one(&mut **tx)
                .await?,
            );
        }
        let (approved, blocked): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE outcome = 'approved'), count(*) FILTER (WHERE outcome = 'blocked')
             FROM orders WHERE dataset_id = $1",
        )
        .bind(dataset_id)
        .fetch_one(&mut **tx)
        .await?;
        facts.approved_orders = u64::try_from(approved).unwrap_or_default();
        facts.blocked_orders = u64::try_from(blocked).unwrap_or_default();
        let duplicates: Vec<(String, i64, Option<Vec<String>>)> =
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT kind, count(*), (array_agg(item_key ORDER BY item_key))[1:{MAX_EXAMPLES}]
             FROM dataset_conflicts WHERE dataset_id = $1 GROUP BY kind"
            )))
            .bind(dataset_id)
            .fetch_all(&mut **tx)
            .await?;
        for (kind, count, examples) in duplicates {
            let target = match parse_kind(&kind)? {
                ItemKind::Customers => &mut facts.duplicates.customers,
                ItemKind::Orders => &mut facts.duplicates.orders,
                ItemKind::CreditLimits => &mut facts.duplicates.credit_limits,
                ItemKind::BureauReports => &mut facts.duplicates.bureau_reports,
            };
            *target = sample((count, examples));
        }
        let refused: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, count(*) FROM dataset_batches WHERE dataset_id = $1 AND outcome = 'refused' GROUP BY kind",
        )
        .bind(dataset_id)
        .fetch_all(&mut **tx)
        .await?;
        for (kind, count) in refused {
            facts
                .rejected_batches
                .add(parse_kind(&kind)?, u64::try_from(count).unwrap_or_default());
        }
        Ok((stored, facts))
    }
}

fn parse_kind(text: &str) -> Result<ItemKind, StoreError> {
    ItemKind::ALL
        .into_iter()
        .find(|k| k.as_str() == text)
        .ok_or_else(|| StoreError::Corrupt(format!("item kind {text:?}")))
}

/// What became of a completion marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Ready,
    Rejected(Vec<String>),
    /// This marker was processed before: nothing changed.
    Redelivered,
    /// Another marker completed the dataset already.
    AlreadyCompleted,
    DatasetNotFound,
    /// A copy of the marker, recorded; copies from other partitions are still to be read.
    AwaitingCopies {
        read: u32,
        copies: u32,
    },
}

/// Which copy of a completion marker this is: read from `partition`, one of `copies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerCopy {
    pub partition: i32,
    pub copies: u32,
}

impl Store {
    /// Processes a copy of a completion marker in one transaction. Each copy follows the
    /// batches produced to its partition before it; once a copy was read from every partition
    /// (`copy.copies` of them), every batch before the marker has been processed, so the stored
    /// facts are final. Until then the copy is recorded and nothing else changes. A ready
    /// dataset's training run (`training_request_id`) is queued in the same transaction.
    /// `decide` turns the facts into rejection reasons (none = ready); it is the domain's
    /// rule, not the store's.
    pub async fn complete_dataset(
        &self,
        origin: &BatchOrigin<'_>,
        copy: MarkerCopy,
        announced: &Counts,
        training_request_id: &str,
        decide: impl FnOnce(&Counts, &DatasetFacts) -> Vec<String>,
    ) -> Result<Completion, StoreError> {
        let (dataset_id, at) = (origin.dataset_id, origin.at);
        let mut tx = self.pool.begin().await?;
        let Some(status) =
            Self::lock_or_open_dataset(&mut tx, origin.company_id, dataset_id, at).await?
        else {
            return Ok(Completion::DatasetNotFound);
        };
        if copy.copies > 1 {
            let read = Self::record_marker_copy(&mut tx, origin, copy).await?;
            if read < copy.copies {
                tx.commit().await?;
                return Ok(Completion::AwaitingCopies {
                    read,
                    copies: copy.copies,
                });
            }
        }
        if !Self::claim_batch(&mut tx, origin, "completion", 0, "completion", None).await? {
            return Ok(Completion::Redelivered);
        }
        if !status.accepts_batches() {
            return Ok(Completion::AlreadyCompleted);
        }
        let (stored, facts) = Self::stored_facts(&mut tx, dataset_id).await?;
        let reasons = decide(&stored, &facts);
        let status = if reasons.is_empty() {
            "ready"
        } else {
            "rejected"
        };
        sqlx::query(
            "UPDATE datasets SET status = $2, completed_at = $3, announced = $4, rejection_reasons = $5,
                    stored_customers = $6, stored_orders = $7, stored_credit_limits = $8, stored_bureau_reports = $9
             WHERE id = $1",
        )
        .bind(dataset_id)
        .bind(status)
        .bind(at)
        .bind(sqlx::types::Json(announced))
        .bind(sqlx::types::Json(&reasons))
        .bind(i64::try_from(stored.customers).unwrap_or(i64::MAX))
        .bind(i64::try_from(stored.orders).unwrap_or(i64::MAX))
        .bind(i64::try_from(stored.credit_limits).unwrap_or(i64::MAX))
        .bind(i64::try_from(stored.bureau_reports).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        // The training request follows once this commits: its run is queued from now.
        if reasons.is_empty() {
            crate::training_runs::queue_run(
                &mut tx,
                training_request_id,
                origin.company_id,
                &[dataset_id],
                at,
            )
            .await?;
        }
        tx.commit().await?;
        if !reasons.is_empty() {
            return Ok(Completion::Rejected(reasons));
        }
        self.refresh_item_statistics().await;
        Ok(Completion::Ready)
    }

    /// A dataset just added its items in bulk, and the planner still has the statistics from
    /// before: it then reads a customer's facts for the scorer by scanning all of the
    /// company's orders (8 ms instead of 0.2 ms for one customer, measured right after the
    /// demo's upload), until autovacuum analyzes the tables a minute or more later. ANALYZE
    /// samples a bounded number of rows (0.4 s here for 120,000 items). Best effort: stale
    /// statistics make reads slower, not wrong.
    async fn refresh_item_statistics(&self) {
        if let Err(e) = sqlx::query("ANALYZE customers, credit_limits, bureau_reports, orders")
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "cannot refresh the item tables' planner statistics");
        }
    }
}
