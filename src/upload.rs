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
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub use client::RetryPolicy;
pub use run::Options;

/// The four kinds of item, in upload order: customers first, then what refers to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Customers,
    CreditLimits,
    BureauReports,
    Orders,
}

impl Kind {
    pub const UPLOAD_ORDER: [Kind; 4] = [
        Kind::Customers,
        Kind::CreditLimits,
        Kind::BureauReports,
        Kind::Orders,
    ];

    /// The file stem and the name in counts: `credit_limits`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::CreditLimits => "credit_limits",
            Kind::BureauReports => "bureau_reports",
            Kind::Orders => "orders",
        }
    }

    /// The URL segment: `/v1/datasets/{id}/credit-limits`.
    pub fn path_segment(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::CreditLimits => "credit-limits",
            Kind::BureauReports => "bureau-reports",
            Kind::Orders => "orders",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// Folder with customers, credit_limits, bureau_reports and orders, each as .jsonl or .csv
    /// (CSV: nested fields as dotted columns such as negatives.pefin.count, attributes.segment).
    pub dir: PathBuf,
    /// Base URL of the gateway's HTTP API.
    #[arg(
        long,
        env = "AVAL_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub gateway: String,
    /// The company's token (from POST /v1/companies).
    #[arg(long, env = "AVAL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Batches in flight at once: 1 to 64.
    #[arg(
        long,
        env = "AVAL_UPLOAD_CONCURRENCY",
        default_value_t = 4,
        value_parser = crate::config::in_range("AVAL_UPLOAD_CONCURRENCY", 1_u16, 64)
    )]
    pub concurrency: u16,
    /// Ignore the state of an earlier upload from this folder and upload into a new dataset.
    #[arg(long)]
    pub restart: bool,
    /// Do not wait for the dataset's verdict after sending the completion marker.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the verdict, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub wait_timeout: u64,
}

impl UploadArgs {
    pub fn options(&self) -> anyhow::Result<Options> {
        let token = self
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no token: set AVAL_TOKEN (or pass --token) to the token POST /v1/companies returned"
                )
            })?;
        Ok(Options {
            dir: self.dir.clone(),
            gateway: self.gateway.clone(),
            token: token.to_owned(),
            concurrency: usize::from(self.concurrency),
            restart: self.restart,
            wait: !self.no_wait,
            wait_timeout: Duration::from_secs(self.wait_timeout),
            poll_interval: Duration::from_millis(250),
            retry: RetryPolicy::default(),
            progress: true,
        })
    }
}

pub async fn run(args: &UploadArgs) -> anyhow::Result<ExitCode> {
    let options = args.options()?;
    let mut stdout = std::io::stdout();
    let report = run::run(&options, &mut stdout).await?;
    Ok(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        upload: UploadArgs,
    }

    #[test]
    fn a_missing_token_is_a_clear_error() {
        let cli = Cli::try_parse_from(["aval", "data", "--token", " "]).expect("parses");
        let error = cli.upload.options().expect_err("no token").to_string();
        assert!(error.contains("AVAL_TOKEN"), "{error}");
        let cli = Cli::try_parse_from(["aval", "data", "--token", "t", "--no-wait"]).expect("ok");
        let options = cli.upload.options().expect("options");
        assert_eq!((options.token.as_str(), options.wait), ("t", false));
        assert!(Cli::try_parse_from(["aval", "data", "--concurrency", "0"]).is_err());
    }
}
