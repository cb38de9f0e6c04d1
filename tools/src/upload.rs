//! `aval upload DIR`: sends a folder of exports (`customers`, `credit_limits`, `bureau_reports`
//! and `orders`, each as `.jsonl` or `.csv`) to the gateway's dataset API in batches of 500,
//! resumably, then closes the dataset with its completion marker and waits for the verdict.
//!
//! - [`source`]: reading the files into batches, CSV unflattening, `file:line` of each item;
//! - [`client`]: the HTTP calls, retry classification and backoff;
//! - [`state`]: the resumable state file `DIR/.aval-upload.json`;
//! - [`run`]: the run loop, progress bars and summaries.
//!
//! Exit codes: 0 all stored and the dataset accepted; 1 an error (nothing lost: re-run to
//! resume); 2 some batches were refused or the dataset was rejected; 3 the wait for the verdict
//! timed out.

mod client;
mod run;
mod source;
mod state;

#[cfg(test)]
mod fake_gateway;

use serde::{Deserialize, Serialize};

pub use client::RetryPolicy;
pub use run::{Options, Report, run};

/// The four kinds of item, in upload order: customers first, then what refers to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Customers,
    CreditLimits,
    BureauReports,
    Orders,
}

impl Kind {
    pub(crate) const UPLOAD_ORDER: [Kind; 4] = [
        Kind::Customers,
        Kind::CreditLimits,
        Kind::BureauReports,
        Kind::Orders,
    ];

    /// The file stem and the name in counts: `credit_limits`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::CreditLimits => "credit_limits",
            Kind::BureauReports => "bureau_reports",
            Kind::Orders => "orders",
        }
    }

    /// The URL segment: `/v1/datasets/{id}/credit-limits`.
    pub(crate) fn path_segment(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::CreditLimits => "credit-limits",
            Kind::BureauReports => "bureau-reports",
            Kind::Orders => "orders",
        }
    }
}
