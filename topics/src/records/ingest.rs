//! The ingest record: one batch of a dataset, or its completion marker. Producing goes
//! domain → wire; consuming goes wire → domain through the rules an HTTP upload passes
//! (`into_content`), since a record may come straight from a company's own producer.

use super::items::{BureauReportWire, CreditLimitWire, CustomerWire, OrderWire};
use crate::WireRecord;
use crate::schemas;
use aval_core::fingerprint::{Fingerprint, invalid_items_fingerprint};
use aval_core::ingest::checks::{self, Checks};
use aval_core::ingest::items::{Batch, CompletionMarker, Counts, ItemKind};
use aval_core::ingest::validate_items;
use aval_core::{FieldError, FieldErrors};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestKindWire {
    Customers,
    Orders,
    CreditLimits,
    BureauReports,
    Completion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionWire {
    pub customers: i64,
    pub orders: i64,
    pub credit_limits: i64,
    pub bureau_reports: i64,
    /// Absent from records written before the field existed: one copy.
    #[serde(default = "one_copy")]
    pub copies: i32,
}

fn one_copy() -> i32 {
    1
}

/// The most copies of a completion marker taken: more than any ingest topic has partitions.
const MAX_MARKER_COPIES: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestRecord {
    pub company_id: String,
    pub dataset_id: String,
    pub batch_id: String,
    pub produced_at: i64,
    pub kind: IngestKindWire,
    pub customers: Vec<CustomerWire>,
    pub orders: Vec<OrderWire>,
    pub credit_limits: Vec<CreditLimitWire>,
    pub bureau_reports: Vec<BureauReportWire>,
    pub completion: Option<CompletionWire>,
}

impl WireRecord for IngestRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::INGEST_RECORD;
}

impl IngestRecord {
    fn empty(
        company_id: &str,
        dataset_id: &str,
        batch_id: &str,
        at: DateTime<Utc>,
        kind: IngestKindWire,
    ) -> Self {
        Self {
            company_id: company_id.to_owned(),
            dataset_id: dataset_id.to_owned(),
            batch_id: batch_id.to_owned(),
            produced_at: at.timestamp_millis(),
            kind,
            customers: Vec::new(),
            orders: Vec::new(),
            credit_limits: Vec::new(),
            bureau_reports: Vec::new(),
            completion: None,
        }
    }

    pub fn batch(
        company_id: &str,
        dataset_id: &str,
        batch_id: &str,
        at: DateTime<Utc>,
        batch: &Batch,
    ) -> Self {
        let kind = match batch.kind() {
            ItemKind::Customers => IngestKindWire::Customers,
            ItemKind::Orders => IngestKindWire::Orders,
            ItemKind::CreditLimits => IngestKindWire::CreditLimits,
            ItemKind::BureauReports => IngestKindWire::BureauReports,
        };
        let mut record = Self::empty(company_id, dataset_id, batch_id, at, kind);
        match batch {
            Batch::Customers(items) => {
                record.customers = items.iter().map(CustomerWire::from).collect()
            }
            Batch::Orders(items) => record.orders = items.iter().map(OrderWire::from).collect(),
            Batch::CreditLimits(items) => {
                record.credit_limits = items.iter().map(CreditLimitWire::from).collect()
            }
            Batch::BureauReports(items) => {
                record.bureau_reports = items.iter().map(BureauReportWire::from).collect();
            }
        }
        record
    }

    pub fn completion(
        company_id: &str,
        dataset_id: &str,
        batch_id: &str,
        at: DateTime<Utc>,
        marker: &CompletionMarker,
    ) -> Self {
        let mut record = Self::empty(
            company_id,
            dataset_id,
            batch_id,
            at,
            IngestKindWire::Completion,
        );
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let counts = &marker.counts;
        record.completion = Some(CompletionWire {
            customers: n(counts.customers),
            orders: n(counts.orders),
            credit_limits: n(counts.credit_limits),
            bureau_reports: n(counts.bureau_reports),
            copies: i32::try_from(marker.copies).unwrap_or(i32::MAX),
        });
        record
    }

    /// The item kind of a batch record; `None` for a completion marker.
    pub fn item_kind(&self) -> Option<ItemKind> {
        match self.kind {
            IngestKindWire::Customers => Some(ItemKind::Customers),
            IngestKindWire::Orders => Some(ItemKind::Orders),
            IngestKindWire::CreditLimits => Some(ItemKind::CreditLimits),
            IngestKindWire::BureauReports => Some(ItemKind::BureauReports),
            IngestKindWire::Completion => None,
        }
    }

    /// Names the arrays that hold items although the record is of another kind.
    pub fn stray_items(&self) -> Vec<&'static str> {
        let mut stray = Vec::new();
        let kind = self.kind;
        let mut check = |own: IngestKindWire, len: usize, name| {
            if kind != own && len > 0 {
                stray.push(name);
            }
        };
        check(IngestKindWire::Customers, self.customers.len(), "customers");
        check(IngestKindWire::Orders, self.orders.len(), "orders");
        check(
            IngestKindWire::CreditLimits,
            self.credit_limits.len(),
            "credit_limits",
        );
        check(
            IngestKindWire::BureauReports,
            self.bureau_reports.len(),
            "bureau_reports",
        );
        if kind != IngestKindWire::Completion && self.completion.is_some() {
            stray.push("completion");
        }
        stray
    }
}

/// What an ingest record carries, checked.
#[derive(Debug)]
pub enum IngestContent {
    Batch(ItemKind, Result<Batch, FieldErrors>),
    Completion(Result<CompletionMarker, FieldErrors>),
}

impl IngestRecord {
    /// The items of the record's kind by the batch rules of an upload (paths
    /// `items[3].amount`), or the completion marker's counts (paths `counts.orders`). Items of
    /// other kinds in the same record are a producer error, reported by `stray_items`.
    pub fn into_content(self, now: DateTime<Utc>) -> IngestContent {
        let Some(kind) = self.item_kind() else {
            return IngestContent::Completion(match self.completion {
                Some(completion) => CompletionMarker::try_from(completion),
                None => Err(FieldError::new("counts", "is required").into()),
            });
        };
        let batch = match kind {
            ItemKind::Customers => {
                validate_items(self.customers.into_iter(), now).map(Batch::Customers)
            }
            ItemKind::Orders => validate_items(self.orders.into_iter(), now).map(Batch::Orders),
            ItemKind::CreditLimits => {
                validate_items(self.credit_limits.into_iter(), now).map(Batch::CreditLimits)
            }
            ItemKind::BureauReports => {
                validate_items(self.bureau_reports.into_iter(), now).map(Batch::BureauReports)
            }
        };
        IngestContent::Batch(kind, batch)
    }

    /// How many items of its own kind the record holds.
    pub fn item_count(&self) -> usize {
        match self.kind {
            IngestKindWire::Customers => self.customers.len(),
            IngestKindWire::Orders => self.orders.len(),
            IngestKindWire::CreditLimits => self.credit_limits.len(),
            IngestKindWire::BureauReports => self.bureau_reports.len(),
            IngestKindWire::Completion => 0,
        }
    }

    /// The fingerprint of items of its own kind that did not validate, as they arrived (a
    /// completion marker holds none).
    pub fn invalid_items_fingerprint(&self) -> Fingerprint {
        match self.kind {
            IngestKindWire::Customers => invalid_items_fingerprint(&self.customers),
            IngestKindWire::Orders => invalid_items_fingerprint(&self.orders),
            IngestKindWire::CreditLimits => invalid_items_fingerprint(&self.credit_limits),
            IngestKindWire::BureauReports => invalid_items_fingerprint(&self.bureau_reports),
            IngestKindWire::Completion => invalid_items_fingerprint::<OrderWire>(&[]),
        }
    }
}

impl TryFrom<CompletionWire> for CompletionMarker {
    type Error = FieldErrors;

    /// Paths are `counts.<kind>`, as in the HTTP completion body, and `completion.copies`.
    fn try_from(wire: CompletionWire) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let copies = Checks::new("completion", &mut errors).field(
            "copies",
            checks::bounded(wire.copies.into(), 1, MAX_MARKER_COPIES),
        );
        let mut c = Checks::new("counts", &mut errors);
        let mut counts = Counts::default();
        for (kind, n) in [
            (ItemKind::Customers, wire.customers),
            (ItemKind::Orders, wire.orders),
            (ItemKind::CreditLimits, wire.credit_limits),
            (ItemKind::BureauReports, wire.bureau_reports),
        ] {
            if let Some(n) = c.field(kind.as_str(), checks::count(n.into())) {
                counts.add(kind, u64::from(n));
            }
        }
        errors.into_result(CompletionMarker {
            counts,
            copies: copies.unwrap_or(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aval_core::ingest::items::{AttributeValue, Attributes, Customer};
    use chrono::NaiveDate;

    #[test]
    fn a_customer_batch_goes_to_the_wire_and_back_unchanged() {
        let customer = Customer {
            id: "C1".into(),
            document: Some("11222333000181".into()),
            simples_nacional: Some(true),
            mei: None,
            final_consumer: None,
            founded_on: NaiveDate::from_ymd_opt(2010, 5, 1),
            state: Some("SP".into()),
            attributes: Attributes::from([("employees".into(), AttributeValue::Number(12.0))]),
        };
        let at = DateTime::from_timestamp_millis(0).expect("epoch");
        let batch = Batch::Customers(vec![customer]);
        let record = IngestRecord::batch("co", "ds", "b1", at, &batch);
        assert!(record.stray_items().is_empty());
        assert_eq!(record.customers.len(), 1);
        assert_eq!(record.customers[0].founded_on, Some(14_730));
        let IngestContent::Batch(kind, back) = record.into_content(Utc::now()) else {
            panic!("a batch");
        };
        assert_eq!(kind, ItemKind::Customers);
        assert_eq!(back, Ok(batch));
    }

    fn marker(copies: u32) -> CompletionMarker {
        let mut counts = Counts::default();
        counts.add(ItemKind::Orders, 7);
        CompletionMarker { counts, copies }
    }

    #[test]
    fn a_completion_marker_goes_to_the_wire_and_back_with_its_copies() {
        let at = DateTime::from_timestamp_millis(0).expect("epoch");
        let record = IngestRecord::completion("co", "ds", "m1", at, &marker(6));
        let IngestContent::Completion(back) = record.into_content(Utc::now()) else {
            panic!("a completion marker");
        };
        assert_eq!(back, Ok(marker(6)));
    }

    #[test]
    fn a_completion_marker_of_no_copies_is_refused_by_its_path() {
        let at = DateTime::from_timestamp_millis(0).expect("epoch");
        let mut record = IngestRecord::completion("co", "ds", "m1", at, &marker(1));
        record.completion.as_mut().expect("completion").copies = 0;
        let IngestContent::Completion(Err(errors)) = record.into_content(Utc::now()) else {
            panic!("refused");
        };
        assert!(errors.to_string().contains("completion.copies"), "{errors}");
    }
}
