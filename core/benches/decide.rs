//! What one decision costs in the domain, on a folder `aval synth` wrote: trains a model on it
//! (production options), then times, per order of its holdout, the steps the scorer runs —
//! feature assembly from the customer's facts, the probability, and the explanation behind the
//! reasons — and the whole decision (`aval_core::decision::decide`: those, the sentences and,
//! for a rejection, the largest approvable amount), without a policy and under one (twelve
//! rules on the model's features that seldom fire, the model's cut-off, a narrow refer band).
//! Prints microseconds per call, and for the policy the 50th and 99th percentiles of a
//! decision with it and without it, one decision timed at a time. Then what an experiment adds:
//! `aval_core::decision::score` (a version scoring the order beside the one that decided it,
//! under the policy), and a decision with two versions scoring beside it (a challenger's and a
//! shadow's), whose verdicts must be the decision's own.
//!
//!   cargo bench -p aval-core --bench decide -- DIR
//!
//! `scripts/bench-decisions` measures the whole path (Kafka, database) around these.

mod support;

use aval_core::decision::{decide, score};
use aval_core::features::{CustomerFacts, RawFeatures, assemble};
use aval_core::ingest::items::Order;
use aval_core::model::{Encoding, TrainedModel, TrainingOptions};
use aval_core::policy::{Policy, PolicyInForce};
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

/// The 50th and 99th percentiles, in microseconds, of `step` timed call by call, over
/// `PASSES` passes.
fn percentiles<T>(items: &[T], mut step: impl FnMut(&T)) -> (f64, f64) {
    let mut took: Vec<f64> = Vec::with_capacity(items.len() * PASSES);
    for _ in 0..PASSES {
        for item in items {
            let clock = Instant::now();
            step(item);
            took.push(clock.elapsed().as_secs_f64() * 1e6);
        }
    }
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Twelve rules that are checked on every order and fire on few (ten numeric rules above what
/// orders reach, one below, one on a category level the model never saw), the model's own
/// cut-off and a narrow refer band below it: the verdicts stay close to the model's, so the
/// difference in time is what judging costs, including on each step of the search for the
/// largest approvable amount.
fn bench_policy(model: &TrainedModel) -> Policy {
    let reason = |i: usize| {
        serde_json::json!({
            "en": format!("Bench rule number {i} looked at this order's facts"),
            "pt-BR": format!("A regra de teste número {i} examinou os fatos deste pedido"),
        })
    };
    let mut rules = Vec::new();
    let mut numbers = model
        .spec
        .features
        .iter()
        .filter(|f| f.encoding == Encoding::Number);
    for (i, feature) in numbers.clone().take(10).enumerate() {
        rules.push(serde_json::json!({
            "id": format!("rare-{i}"), "feature": feature.name, "operator": "above",
            "value": 1.0e12, "action": "reject", "reason": reason(i),
        }));
    }
    let category = model.spec.features.iter().find_map(|f| match &f.encoding {
        Encoding::Category { levels } if !levels.is_empty() => Some((f, levels.clone())),
        _ => None,
    });
    if let Some((feature, levels)) = category {
        rules.push(serde_json::json!({
            "id": "unseen-level", "feature": feature.name, "operator": "not_in", "levels": levels,
            "action": "review", "reason": reason(10),
        }));
    }
    if let Some(feature) = numbers.next_back() {
        rules.push(serde_json::json!({
            "id": "rare-low", "feature": feature.name, "operator": "below", "value": -1.0e12,
            "action": "review", "reason": reason(11),
        }));
    }
    let mut policy: Policy =
        serde_json::from_value(serde_json::json!({ "rules": rules })).unwrap_or_default();
    policy.refer_bands = vec![aval_core::policy::ReferBand {
        from: (model.threshold - 0.01).max(0.0),
        to: model.threshold,
    }];
    policy
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
        black_box(decide(&model, None, order, facts, Language::Portuguese));
    });
    let policy = PolicyInForce {
        version: 1,
        policy: bench_policy(&model),
    };
    policy
        .policy
        .check(&model.spec)
        .map_err(|e| format!("the bench policy is refused: {e:?}"))?;
    let with_policy = time(&orders, |(order, facts)| {
        black_box(decide(
            &model,
            Some(&policy),
            order,
            facts,
            Language::Portuguese,
        ));
    });
    let threshold = policy.policy.cutoff.threshold(&model);
    let judged = time(&features, |f| {
        black_box(policy.policy.judge(f, 0.3, threshold));
    });
    let (plain_p50, plain_p99) = percentiles(&orders, |(order, facts)| {
        black_box(decide(&model, None, order, facts, Language::Portuguese));
    });
    let (policy_p50, policy_p99) = percentiles(&orders, |(order, facts)| {
        black_box(decide(
            &model,
            Some(&policy),
            order,
            facts,
            Language::Portuguese,
        ));
    });
    let scored = time(&orders, |(order, facts)| {
        black_box(score(&model, Some(&policy), order, facts));
    });
    let (beside_p50, beside_p99) = percentiles(&orders, |(order, facts)| {
        black_box(decide(
            &model,
            Some(&policy),
            order,
            facts,
            Language::Portuguese,
        ));
        for _ in 0..2 {
            black_box(score(&model, Some(&policy), order, facts));
        }
    });
    let disagreements = orders
        .iter()
        .filter(|(order, facts)| {
            let decided = decide(&model, Some(&policy), order, facts, Language::English);
            score(&model, Some(&policy), order, facts) != (decided.probability, decided.verdict)
        })
        .count();
    if disagreements > 0 {
        return Err(format!("score and decide disagree on {disagreements} orders").into());
    }
    let changed = orders
        .iter()
        .filter(|(order, facts)| {
            let plain = decide(&model, None, order, facts, Language::English).verdict;
            decide(&model, Some(&policy), order, facts, Language::English).verdict != plain
        })
        .count();
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
        "under the policy:  {with_policy:8.2} µs per order ({} rules, {changed} verdicts changed; \
         judging alone {judged:.2} µs)",
        policy.policy.rules.len()
    );
    println!(
        "one at a time:     p50 {plain_p50:.1} µs, p99 {plain_p99:.1} µs without the policy; \
         p50 {policy_p50:.1} µs, p99 {policy_p99:.1} µs under it (p99 {:+.1} µs)",
        policy_p99 - plain_p99
    );
    println!(
        "scored beside:     {scored:8.2} µs per order and version ({:.0} % of a decision); a \
         decision with two beside: p50 {beside_p50:.1} µs, p99 {beside_p99:.1} µs (p99 {:+.1} \
         µs, off the reply path); verdicts equal to decide's on every order",
        100.0 * scored / with_policy,
        beside_p99 - policy_p99
    );
    println!(
        "BENCH_DECIDE {{\"learner\": \"{}\", \"features_us\": {assembly:.3}, \"probability_us\": {probability:.3}, \"explanation_us\": {explanation:.3}, \"decision_us\": {decision:.3}, \"policy_decision_us\": {with_policy:.3}, \"policy_judge_us\": {judged:.3}, \"decision_p99_us\": {plain_p99:.3}, \"policy_decision_p99_us\": {policy_p99:.3}, \"score_beside_us\": {scored:.3}, \"two_beside_decision_p99_us\": {beside_p99:.3}}}",
        model.learner
    );
    Ok(())
}
