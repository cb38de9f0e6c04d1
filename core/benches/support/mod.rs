//! What the benches share: loading a folder `aval synth` wrote, and reading this process's
//! memory and CPU use from /proc.
// Each bench uses part of it.
#![allow(dead_code)]

use aval_core::ingest::items::{Batch, BureauReport, CreditLimit, Customer, ItemKind, Order};
use aval_core::ingest::validate_batch;
use aval_core::model::{
    ColumnsBuilder, TrainedModel, TrainingColumns, TrainingOptions, train_dataset,
};
use chrono::{TimeZone, Utc};
use serde_json::Value;
use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

const BATCH: usize = 500;

#[derive(Default)]
pub(crate) struct Data {
    pub(crate) customers: Vec<Customer>,
    pub(crate) credit_limits: Vec<CreditLimit>,
    pub(crate) bureau_reports: Vec<BureauReport>,
    pub(crate) orders: Vec<Order>,
}

impl Data {
    /// `train_dataset` on everything loaded.
    pub(crate) fn train(
        &self,
        options: &TrainingOptions,
    ) -> Result<TrainedModel, aval_core::model::TrainingError> {
        train_dataset(
            &self.customers,
            &self.credit_limits,
            &self.bureau_reports,
            &self.orders,
            options,
        )
    }

    fn add(&mut self, batch: Batch) {
        match batch {
            Batch::Customers(items) => self.customers.extend(items),
            Batch::CreditLimits(items) => self.credit_limits.extend(items),
            Batch::BureauReports(items) => self.bureau_reports.extend(items),
            Batch::Orders(items) => self.orders.extend(items),
        }
    }
}

/// Every kind `aval synth` writes, from `dir`, straight into columns as the store reads a
/// company's datasets (each batch's items dropped once pushed).
pub(crate) fn load_columns(dir: &Path) -> Result<TrainingColumns, Box<dyn Error>> {
    let mut builder = ColumnsBuilder::merging();
    for kind in ItemKind::ALL {
        load(dir, kind, &mut |batch| match batch {
            Batch::Customers(items) => items.iter().for_each(|c| builder.push_customer(c)),
            Batch::CreditLimits(items) => items.iter().for_each(|l| builder.push_credit_limit(l)),
            Batch::BureauReports(items) => items.iter().for_each(|r| builder.push_bureau_report(r)),
            Batch::Orders(items) => items.iter().for_each(|o| builder.push_order(o.into())),
        })?;
    }
    Ok(builder.finish())
}

/// Reads `DIR/<kind>.jsonl` (an absent file is an empty kind) in batches of 500.
fn load(dir: &Path, kind: ItemKind, add: &mut dyn FnMut(Batch)) -> Result<(), Box<dyn Error>> {
    let path = dir.join(format!("{}.jsonl", kind.as_str()));
    if !path.is_file() {
        return Ok(());
    }
    // Far in the future, so no date in the data is refused as "ahead".
    let now = Utc
        .with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
        .single()
        .ok_or("a valid date")?;
    let mut chunk: Vec<Value> = Vec::with_capacity(BATCH);
    let flush =
        |chunk: &mut Vec<Value>, add: &mut dyn FnMut(Batch)| -> Result<(), Box<dyn Error>> {
            if !chunk.is_empty() {
                let batch = validate_batch(kind, chunk, now)
                    .map_err(|e| format!("{}: a batch was refused: {e}", path.display()))?;
                add(batch);
                chunk.clear();
            }
            Ok(())
        };
    for (n, line) in BufReader::new(File::open(&path)?).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        chunk.push(value);
        if chunk.len() == BATCH {
            flush(&mut chunk, add)?;
        }
    }
    flush(&mut chunk, add)
}

/// A `kB` line of /proc/self/status (VmHWM, VmRSS), in MB.
pub(crate) fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system, every thread) this process has used so far: utime and stime of
/// /proc/self/stat, in clock ticks of 1/100 s (Linux's USER_HZ).
pub(crate) fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which ends at the last ')': state is field 3.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

impl Data {
    /// Every kind `aval synth` writes, from `dir`.
    pub(crate) fn load_all(dir: &Path) -> Result<Data, Box<dyn Error>> {
        let mut data = Data::default();
        for kind in ItemKind::ALL {
            load(dir, kind, &mut |batch| data.add(batch))?;
        }
        Ok(data)
    }
}

/// The folder given on the command line (`cargo bench` appends `--bench`; the folder is the
/// first other argument).
pub(crate) fn dir_argument(bench: &str) -> Result<PathBuf, Box<dyn Error>> {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .ok_or_else(|| {
            format!("usage: cargo bench -p aval-core --bench {bench} -- DIR (a folder `aval synth` wrote)")
                .into()
        })
}
