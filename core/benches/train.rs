//! Training alone, on a folder `aval synth` wrote: reads the four JSON-lines files, validates
//! them in batches of 500 as the ingest path does, then times `train_dataset` with the
//! production options. Prints the figures, then one `BENCH_TRAIN {json}` line for scripts.
//!
//!   cargo bench -p aval-core --bench train -- DIR
//!
//! `scripts/bench-train` generates the data and runs this for 100,000 and 1,000,000 orders.

use aval_core::ingest::items::{Batch, BureauReport, CreditLimit, Customer, ItemKind, Order};
use aval_core::ingest::validate_batch;
use aval_core::model::{TrainingOptions, train_dataset};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

const BATCH: usize = 500;

#[derive(Default)]
struct Data {
    customers: Vec<Customer>,
    credit_limits: Vec<CreditLimit>,
    bureau_reports: Vec<BureauReport>,
    orders: Vec<Order>,
}

impl Data {
    fn add(&mut self, batch: Batch) {
        match batch {
            Batch::Customers(items) => self.customers.extend(items),
            Batch::CreditLimits(items) => self.credit_limits.extend(items),
            Batch::BureauReports(items) => self.bureau_reports.extend(items),
            Batch::Orders(items) => self.orders.extend(items),
        }
    }
}

/// Reads `DIR/<kind>.jsonl` (an absent file is an empty kind) in batches of 500.
fn load(dir: &Path, kind: ItemKind, data: &mut Data) -> Result<(), Box<dyn Error>> {
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
    let flush = |chunk: &mut Vec<Value>, data: &mut Data| -> Result<(), Box<dyn Error>> {
        if !chunk.is_empty() {
            let batch = validate_batch(kind, chunk, now)
                .map_err(|e| format!("{}: a batch was refused: {e}", path.display()))?;
            data.add(batch);
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
            flush(&mut chunk, data)?;
        }
    }
    flush(&mut chunk, data)
}

/// A `kB` line of /proc/self/status (VmHWM, VmRSS), in MB.
fn status_mb(field: &str) -> f64 {
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
fn cpu_seconds() -> f64 {
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

fn main() -> Result<(), Box<dyn Error>> {
    // `cargo bench` appends `--bench`; the folder is the first other argument.
    let dir: PathBuf = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .ok_or(
            "usage: cargo bench -p aval-core --bench train -- DIR (a folder `aval synth` wrote)",
        )?;

    let started = Instant::now();
    let mut data = Data::default();
    for kind in ItemKind::ALL {
        load(&dir, kind, &mut data)?;
    }
    let load_seconds = started.elapsed().as_secs_f64();
    let rss_after_load = status_mb("VmRSS:");
    println!(
        "loaded {} customers, {} credit limits, {} bureau reports, {} orders in {load_seconds:.2} s (RSS {rss_after_load:.0} MB)",
        data.customers.len(),
        data.credit_limits.len(),
        data.bureau_reports.len(),
        data.orders.len(),
    );

    let options = TrainingOptions::default();
    let cpu_before = cpu_seconds();
    let clock = Instant::now();
    let model = train_dataset(
        &data.customers,
        &data.credit_limits,
        &data.bureau_reports,
        &data.orders,
        &options,
    )?;
    let train_seconds = clock.elapsed().as_secs_f64();
    let train_cpu_seconds = cpu_seconds() - cpu_before;
    let peak_mb = status_mb("VmHWM:");
    let m = &model.metrics;

    println!("orders:            {}", data.orders.len());
    println!("load seconds:      {load_seconds:.2}");
    println!("training seconds:  {train_seconds:.2} wall, {train_cpu_seconds:.2} CPU");
    println!(
        "examples:          {} training, {} holdout ({:?})",
        m.training_examples, m.holdout_examples, m.split
    );
    println!(
        "features:          {} ({} encoded columns)",
        model.spec.features.len(),
        model.spec.width()
    );
    println!("chosen learner:    {}", m.chosen);
    println!("holdout AUC:       {:.4}", m.holdout.roc_auc);
    for c in &m.candidates {
        println!(
            "  {:<20} validation AUC {:.4} ({} rows)  holdout AUC {:.4} (fitted on {} rows)  {:7.2} s{}",
            c.learner.as_str(),
            c.validation_auc,
            c.validation_rows,
            c.holdout_auc,
            c.fitted_rows,
            c.seconds,
            c.failure
                .as_deref()
                .map(|f| format!("  FAILED: {f}"))
                .unwrap_or_default()
        );
    }
    println!(
        "peak memory:       {peak_mb:.0} MB (VmHWM; RSS after loading {rss_after_load:.0} MB)"
    );

    let candidates: Vec<Value> = m
        .candidates
        .iter()
        .map(|c| {
            json!({"learner": c.learner.as_str(), "validation_auc": c.validation_auc,
                   "holdout_auc": c.holdout_auc, "seconds": c.seconds, "failure": c.failure,
                   "validation_rows": c.validation_rows, "fitted_rows": c.fitted_rows})
        })
        .collect();
    println!(
        "BENCH_TRAIN {}",
        json!({
            "orders": data.orders.len(),
            "load_seconds": load_seconds,
            "train_seconds": train_seconds,
            "train_cpu_seconds": train_cpu_seconds,
            "chosen": m.chosen.as_str(),
            "encoded_columns": model.spec.width(),
            "holdout_auc": m.holdout.roc_auc,
            "candidates": candidates,
            "peak_mb": peak_mb,
            "rss_after_load_mb": rss_after_load,
        })
    );
    Ok(())
}
