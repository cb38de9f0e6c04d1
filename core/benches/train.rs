//! Training alone, on a folder `aval synth` wrote: reads the four JSON-lines files, validates
//! them in batches of 500 as the ingest path does, pushes each batch's items into the compact
//! columns the store streams rows into (merging by key as the store does), then times
//! `train_columns` with the production options. Prints the figures, then one
//! `BENCH_TRAIN {json}` line for scripts.
//!
//!   cargo bench -p aval-core --bench train -- DIR
//!
//! `scripts/bench-train` generates the data and runs this for 100,000 and 1,000,000 orders.

mod support;

use aval_core::model::{TrainingOptions, TrainingProgress, train_columns};
use serde_json::{Value, json};
use std::error::Error;
use std::time::Instant;
use support::{cpu_seconds, load_columns, status_mb};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = support::dir_argument("train")?;
    let started = Instant::now();
    let data = load_columns(&dir)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let rss_after_load = status_mb("VmRSS:");
    println!(
        "loaded {} customers, {} credit limits, {} bureau reports, {} orders in {load_seconds:.2} s (RSS {rss_after_load:.0} MB)",
        data.customers(),
        data.credit_limits(),
        data.bureau_reports(),
        data.orders(),
    );

    let options = TrainingOptions::default();
    let cpu_before = cpu_seconds();
    let clock = Instant::now();
    let model = train_columns(&data, &options, &TrainingProgress::default())?;
    let train_seconds = clock.elapsed().as_secs_f64();
    let train_cpu_seconds = cpu_seconds() - cpu_before;
    let peak_mb = status_mb("VmHWM:");
    let m = &model.metrics;

    println!("orders:            {}", data.orders());
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
            "orders": data.orders(),
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
