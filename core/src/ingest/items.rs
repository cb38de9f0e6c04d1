//! The four kinds of item a company uploads, as the domain sees them once validated. Ids are
//! the company's own keys; `None` means unknown (the model handles missing values).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Money in BRL, as integer cents: never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cents(pub i64);

/// One extra fact a company wants the model to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Number(f64),
    Text(String),
    Flag(bool),
}

/// At most 50 keys matching `[a-z0-9_]{1,40}`.
pub type Attributes = BTreeMap<String, AttributeValue>;

/// The buyer (sacado).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    /// CNPJ (14 digits) or CPF (11 digits), digits only, check digits valid.
    pub document: Option<String>,
    pub simples_nacional: Option<bool>,
    pub mei: Option<bool>,
    pub final_consumer: Option<bool>,
    pub founded_on: Option<NaiveDate>,
    /// UF, two upper-case letters, one of the 27.
    pub state: Option<String>,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditLimit {
    pub customer_id: String,
    pub limit: Cents,
    pub valid_from: NaiveDate,
}

/// Shares of payments by lateness, each in 0..1, summing to at most 1 (+0.001 rounding).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentHabits {
    pub on_time: Option<f64>,
    pub cash: Option<f64>,
    pub late_8_15: Option<f64>,
    pub late_16_30: Option<f64>,
    pub late_31_60: Option<f64>,
    pub late_over_60: Option<f64>,
}

/// How many suppliers have dealt with the customer, by age of the relationship.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SupplierRelationships {
    pub m0_6: Option<u32>,
    pub m6_12: Option<u32>,
    pub y1_3: Option<u32>,
    pub y3_5: Option<u32>,
    pub y5_10: Option<u32>,
    pub y10_plus: Option<u32>,
    pub inactive: Option<u32>,
}

/// One kind of negative record: how many, and their total value when the bureau gives it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NegativeRecord {
    pub count: Option<u32>,
    pub total: Option<Cents>,
}

/// The kinds of negative record a bureau report lists: the fields of [`Negatives`], as they
/// are named on the wire and in features.
pub const NEGATIVE_KINDS: [&str; 7] = [
    "pefin",
    "refin",
    "overdue_debts",
    "bankruptcy",
    "bounced_cheques",
    "represented_cheques",
    "bankruptcy_participation",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Negatives {
    pub pefin: Option<NegativeRecord>,
    pub refin: Option<NegativeRecord>,
    pub overdue_debts: Option<NegativeRecord>,
    pub bankruptcy: Option<NegativeRecord>,
    pub bounced_cheques: Option<NegativeRecord>,
    pub represented_cheques: Option<NegativeRecord>,
    pub bankruptcy_participation: Option<NegativeRecord>,
}

impl Negatives {
    /// The records in the order of [`NEGATIVE_KINDS`].
    pub fn records(&self) -> [&Option<NegativeRecord>; 7] {
        [
            &self.pefin,
            &self.refin,
            &self.overdue_debts,
            &self.bankruptcy,
            &self.bounced_cheques,
            &self.represented_cheques,
            &self.bankruptcy_participation,
        ]
    }
}

/// A credit-bureau (Serasa) query about a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BureauReport {
    pub customer_id: String,
    pub queried_at: DateTime<Utc>,
    pub inquiries: Option<u32>,
    pub score: Option<i32>,
    pub payment_habits: Option<PaymentHabits>,
    pub supplier_relationships: Option<SupplierRelationships>,
    pub negatives: Option<Negatives>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub issued_at: DateTime<Utc>,
    pub amount: Cents,
    pub payment_term_days: Option<u32>,
    pub installments: Option<u32>,
    pub attributes: Attributes,
    /// Present in training data only.
    pub outcome: Option<Outcome>,
}

/// Which of the four a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Customers,
    Orders,
    CreditLimits,
    BureauReports,
}

impl ItemKind {
    pub const ALL: [ItemKind; 4] = [
        ItemKind::Customers,
        ItemKind::Orders,
        ItemKind::CreditLimits,
        ItemKind::BureauReports,
    ];

    /// The snake_case name used in JSON, Avro and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Customers => "customers",
            ItemKind::Orders => "orders",
            ItemKind::CreditLimits => "credit_limits",
            ItemKind::BureauReports => "bureau_reports",
        }
    }

    /// The URL segment: `/v1/datasets/{id}/credit-limits`.
    pub fn path_segment(self) -> &'static str {
        match self {
            ItemKind::Customers => "customers",
            ItemKind::Orders => "orders",
            ItemKind::CreditLimits => "credit-limits",
            ItemKind::BureauReports => "bureau-reports",
        }
    }
}

/// A validated batch: items of one kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    Customers(Vec<Customer>),
    Orders(Vec<Order>),
    CreditLimits(Vec<CreditLimit>),
    BureauReports(Vec<BureauReport>),
}

impl Batch {
    pub fn kind(&self) -> ItemKind {
        match self {
            Batch::Customers(_) => ItemKind::Customers,
            Batch::Orders(_) => ItemKind::Orders,
            Batch::CreditLimits(_) => ItemKind::CreditLimits,
            Batch::BureauReports(_) => ItemKind::BureauReports,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Batch::Customers(items) => items.len(),
            Batch::Orders(items) => items.len(),
            Batch::CreditLimits(items) => items.len(),
            Batch::BureauReports(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dataset's completion marker: the counts it announces, and how many copies of it were
/// produced, one to each of that many partitions of the ingest topic. A dataset whose batches
/// were spread over the partitions completes once a copy was read from every one of them, since
/// each copy follows the batches produced before it to its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletionMarker {
    pub counts: Counts,
    pub copies: u32,
}

/// How many items of each kind; the completion marker announces one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub customers: u64,
    pub orders: u64,
    pub credit_limits: u64,
    pub bureau_reports: u64,
}

impl Counts {
    pub fn get(&self, kind: ItemKind) -> u64 {
        match kind {
            ItemKind::Customers => self.customers,
            ItemKind::Orders => self.orders,
            ItemKind::CreditLimits => self.credit_limits,
            ItemKind::BureauReports => self.bureau_reports,
        }
    }

    pub fn add(&mut self, kind: ItemKind, n: u64) {
        match kind {
            ItemKind::Customers => self.customers += n,
            ItemKind::Orders => self.orders += n,
            ItemKind::CreditLimits => self.credit_limits += n,
            ItemKind::BureauReports => self.bureau_reports += n,
        }
    }
}
