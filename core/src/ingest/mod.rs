//! Ingest rules: turning a company's uploaded JSON, or the wire records a producer sent
//! straight to Kafka, into validated domain items (one rule per field, [`checks`], whichever
//! way they came), and deciding whether a completed dataset may be trained on. Pure
//! functions; the clock is a parameter.

pub mod checks;
pub mod items;

mod attributes;
mod batch;
mod bureau_report;
mod credit_limit;
mod customer;
pub(crate) mod dates;
mod document;
mod fields;
mod integrity;
mod money;
mod order;
mod request;
#[cfg(feature = "openapi")]
pub mod schema;

#[cfg(test)]
mod tests;

pub use attributes::{MAX_ATTRIBUTE_NAME_CHARS, MAX_ATTRIBUTE_TEXT_CHARS, MAX_ATTRIBUTES};
pub use batch::{
    BatchItem, MAX_BATCH_ITEMS, ReadItem, Unique, validate_batch, validate_counts, validate_item,
    validate_items,
};
pub use bureau_report::{MAX_SCORE, validate_bureau_report};
pub use credit_limit::validate_credit_limit;
pub use customer::validate_customer;
pub use document::{
    DocumentKind, cnpj_with_check_digits, cpf_with_check_digits, document_kind, is_valid_cnpj,
    is_valid_cpf, normalize_document,
};
pub use fields::{MAX_FORMATTED_CHARS, MAX_ID_CHARS, UFS, bounded as whole_number_in};
pub use integrity::{
    DatasetFacts, Duplicates, IntegrityProblem, MAX_EXAMPLES, Sample, check_integrity,
};
pub use items::{
    AttributeValue, Attributes, Batch, BureauReport, Cents, Counts, CreditLimit, Customer,
    ItemKind, NegativeRecord, Negatives, Order, Outcome, PaymentHabits, SupplierRelationships,
};
pub use money::{MAX_MONEY_CENTS, parse_money};
pub use order::{MAX_PAYMENT_TERM_DAYS, validate_order};
pub use request::{OrderToDecide, facts_about_the_order};
