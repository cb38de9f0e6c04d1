//! What one decision costs in the domain, on a folder `aval synth` wrote: trains a model on it
//! (production options), then times, per order of its holdout, the steps the scorer runs —
//! feature assembly from the customer's facts, the probability, and the explanation behind the
//! reasons — and the whole decision (`aval_core::decision::decide`: those, the sentences and,
//! for a rejection, the largest approvable amount). Prints microseconds per call.
//!
//!   cargo bench -p aval-core --bench decide -- DIR
//!
//! `scripts/bench-decisions` measures the whole path (Kafka, database) around these.

mod support;

use aval_core::decision::decide;
use aval_core::features::{CustomerFacts, RawFeatures, assemble};
use aval_core::ingest::items::Order;
use aval_core::model::TrainingOptions;
use aval_core::reasons::Language;
use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::hint::black_box;
use std::time::Instant;
use support::Data;

/// Orders timed (the newest of the holdout), and passes over them per step.
const ORDERS: usize = 5_000;
const PASSES: usize = 3;

/// Mean microseconds per call of `step` over `items`, best of `PASSES`.
fn time<T>(items: &[T], mut step: impl FnMut(&T)) -> f64 {
    (0..PASSES)
        .map(|_| {
            let clock = Instant::now();
            for item in items {
                step(item);
            }
            clock.elapsed().as_secs_f64() * 1e6 / items.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = support::dir_argument("decide")?;
    let data = Data::load_all(&dir)?;
    let clock = Instant::now();
    let model = data.train(&TrainingOptions::default())?;
    println!(
        "trained {} on {} orders in {:.1} s (holdout AUC {:.4})",
        model.learner,
        data.orders.len(),
        clock.elapsed().as_secs_f64(),
        model.metrics.holdout.roc_auc
    );

    let mut facts: HashMap<&str, CustomerFacts> = HashMap::new();
    for c in &data.customers {
        facts.entry(&c.id).or_default().customer = Some(c.clone());
    }
    for l in &data.credit_limits {
        facts
            .entry(&l.customer_id)
            .or_default()
            .credit_limits
            .push(l.clone());
    }
    for r in &data.bureau_reports {
        facts
            .entry(&r.customer_id)
            .or_default()
            .bureau_reports
            .push(r.clone());
    }
    for o in &data.orders {
        facts
            .entry(&o.customer_id)
            .or_default()
            .orders
            .push(o.clone());
    }
    let holdout: HashSet<&str> = model.holdout_ids().iter().map(String::as_str).collect();
    let orders: Vec<(Order, &CustomerFacts)> = data
        .orders
        .iter()
        .filter(|o| holdout.contains(o.id.as_str()))
        .take(ORDERS)
        .map(|o| {
            let mut order = o.clone();
            order.outcome = None;
            (order, &facts[o.customer_id.as_str()])
        })
        .collect();
    let features: Vec<RawFeatures> = orders.iter().map(|(o, f)| assemble(o, f)).collect();

    let assembly = time(&orders, |(order, facts)| {
        black_box(assemble(order, facts));
    });
    let probability = time(&features, |f| {
        black_box(model.probability(f));
    });
    let explanation = time(&features, |f| {
        black_box(model.explain(f));
    });
    let decision = time(&orders, |(order, facts)| {
        black_box(decide(&model, order, facts, Language::Portuguese));
    });
    let rejected = features
        .iter()
        .filter(|f| model.blocks(model.probability(f)))
        .count();
    println!("orders timed:      {} ({rejected} rejected)", orders.len());
    println!("features:          {assembly:8.2} µs per order");
    println!("probability:       {probability:8.2} µs per order");
    println!("explanation:       {explanation:8.2} µs per order");
    println!("whole decision:    {decision:8.2} µs per order");
    println!(
        "BENCH_DECIDE {{\"learner\": \"{}\", \"features_us\": {assembly:.3}, \"probability_us\": {probability:.3}, \"explanation_us\": {explanation:.3}, \"decision_us\": {decision:.3}}}",
        model.learner
    );
    Ok(())
}
