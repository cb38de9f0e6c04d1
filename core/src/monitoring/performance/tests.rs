//! The binned measures against brute force on raw scores, the intervals' coverage on
//! synthetic scores of known AUC, and the paired test.

use super::super::paired::{delong_paired, delong_variance, sample_variance};
use super::super::stats::normal_cdf;
use super::super::synthetic::Generator;
use super::*;
use std::cmp::Ordering;

/// Scores on bin centres (so binning changes nothing) with many ties, and outcomes.
fn tied_sample(generator: &mut Generator, n: usize) -> (Vec<f64>, Vec<bool>) {
    (0..n)
        .map(|_| {
            let bin = (generator.uniform() * 40.0) as usize * 20;
            // Bads lean towards higher bins.
            let bad = generator.uniform() < 0.2 + 0.6 * bin as f64 / 1000.0;
            (bin_centre(bin), bad)
        })
        .unzip()
}

fn accumulate(scores: &[f64], bad: &[bool]) -> ScoreAccumulator {
    let mut accumulator = ScoreAccumulator::new();
    for (&score, &bad) in scores.iter().zip(bad) {
        accumulator.record(score, true, Some(bad));
    }
    accumulator
}

/// The Mann–Whitney AUC over every (bad, good) pair, and DeLong's placements.
fn brute_force(scores: &[f64], bad: &[bool]) -> (f64, f64) {
    let pick = |want: bool| -> Vec<f64> {
        scores
            .iter()
            .zip(bad)
            .filter(|(_, b)| **b == want)
            .map(|(s, _)| *s)
            .collect()
    };
    let (bads, goods) = (pick(true), pick(false));
    let kernel = |x: f64, y: f64| match x.total_cmp(&y) {
        Ordering::Greater => 1.0,
        Ordering::Equal => 0.5,
        Ordering::Less => 0.0,
    };
    let v10: Vec<f64> = bads
        .iter()
        .map(|&x| goods.iter().map(|&y| kernel(x, y)).sum::<f64>() / goods.len() as f64)
        .collect();
    let v01: Vec<f64> = goods
        .iter()
        .map(|&y| bads.iter().map(|&x| kernel(x, y)).sum::<f64>() / bads.len() as f64)
        .collect();
    let auc = v10.iter().sum::<f64>() / bads.len() as f64;
    let variance =
        sample_variance(&v10) / bads.len() as f64 + sample_variance(&v01) / goods.len() as f64;
    (auc, variance)
}

#[test]
fn binned_auc_and_variance_match_brute_force() {
    let mut generator = Generator::seeded(7);
    for n in [2, 5, 30, 300] {
        let (scores, bad) = tied_sample(&mut generator, n);
        let Some(variance) = delong_variance(&scores, &bad) else {
            continue;
        };
        let (auc, brute_variance) = brute_force(&scores, &bad);
        let performance = accumulate(&scores, &bad).performance(DEFAULT_CONFIDENCE);
        assert!((performance.auc - auc).abs() < 1e-12, "n={n}");
        assert!((performance.auc_standard_error.powi(2) - brute_variance).abs() < 1e-12);
        assert!((variance - brute_variance).abs() < 1e-12);
        let paired = delong_paired(&scores, &scores, &bad);
        assert!(paired.is_some_and(|p| (p.auc_a - auc).abs() < 1e-12));
    }
}

/// Bads at 0.8, 0.5, 0.3 and goods at 0.5, 0.2, 0.1: the bads' placements are 1, 5/6 and
/// 2/3, the goods' 1/2, 1 and 1, so AUC = 5/6, S10 = 1/36, S01 = 1/12 and the variance is
/// (1/36)/3 + (1/12)/3 = 1/27.
#[test]
fn delong_variance_by_hand() {
    let scores = [0.8005, 0.5005, 0.3005, 0.5005, 0.2005, 0.1005];
    let bad = [true, true, true, false, false, false];
    assert!(delong_variance(&scores, &bad).is_some_and(|v| (v - 1.0 / 27.0).abs() < 1e-15));
    let performance = accumulate(&scores, &bad).performance(DEFAULT_CONFIDENCE);
    assert!((performance.auc - 5.0 / 6.0).abs() < 1e-15);
    assert!((performance.auc_standard_error - (1.0f64 / 27.0).sqrt()).abs() < 1e-15);
}

/// Binormal scores, goods N(0, 1) and bads N(δ, 1), have AUC Φ(δ/√2); mapped through the
/// logistic function into probabilities, which keeps the order. The 95 % interval should
/// cover it about 95 % of the time; 300 repetitions put 93 % about 1.6 standard errors
/// below that.
#[test]
fn auc_interval_covers_the_true_auc() {
    let delta = 1.0;
    let true_auc = normal_cdf(delta / std::f64::consts::SQRT_2);
    let mut generator = Generator::seeded(11);
    let repetitions = 300;
    let mut covered = 0;
    for _ in 0..repetitions {
        let mut accumulator = ScoreAccumulator::new();
        for i in 0..750 {
            let bad = i < 150;
            let score = generator.normal() + if bad { delta } else { 0.0 };
            accumulator.record(1.0 / (1.0 + (-score).exp()), true, Some(bad));
        }
        let interval = accumulator.performance(DEFAULT_CONFIDENCE).auc_interval;
        covered += u32::from(interval.contains(true_auc));
    }
    eprintln!("AUC interval covered {true_auc:.4} in {covered}/{repetitions}");
    assert!(f64::from(covered) >= 0.93 * f64::from(repetitions));
}

#[test]
fn ks_matches_brute_force() {
    let mut generator = Generator::seeded(13);
    for n in [10, 100, 1_000] {
        let (scores, bad) = tied_sample(&mut generator, n);
        let bads = bad.iter().filter(|b| **b).count() as f64;
        let goods = n as f64 - bads;
        // Share of bads minus share of goods at or above each score, as metrics.rs sweeps.
        let brute = scores
            .iter()
            .map(|&cut| {
                let above = |want: bool| {
                    let pairs = scores.iter().zip(&bad);
                    pairs.filter(|(s, b)| **s >= cut && **b == want).count() as f64
                };
                above(true) / bads - above(false) / goods
            })
            .fold(0.0, f64::max);
        let performance = accumulate(&scores, &bad).performance(DEFAULT_CONFIDENCE);
        assert!((performance.ks - brute).abs() < 1e-12, "n={n}");
        assert!(performance.ks_interval.contains(performance.ks));
    }
}

#[test]
fn merged_days_equal_one_window() {
    let mut generator = Generator::seeded(17);
    let mut whole = ScoreAccumulator::new();
    let mut days = [ScoreAccumulator::new(), ScoreAccumulator::new()];
    for _ in 0..2_000 {
        let probability = generator.uniform();
        let approved = generator.uniform() > probability;
        let outcome = (generator.uniform() < 0.7).then(|| generator.uniform() < probability);
        whole.record(probability, approved, outcome);
        let day = usize::from(generator.uniform() < 0.5);
        days[day].record(probability, approved, outcome);
    }
    let [mut first, second] = days;
    first.merge(&second);
    assert_eq!(first, whole);
    assert_eq!(first.performance(0.9), whole.performance(0.9));
}

#[test]
fn rates_and_calibration() {
    let mut accumulator = ScoreAccumulator::new();
    for i in 0..1_000u32 {
        let probability = f64::from(i) / 1_000.0;
        let approved = i % 4 != 0;
        // Orders come true at their probability: every k-th of each hundred is bad.
        let bad = (i % 100) < i / 10;
        let outcome = (i % 2 == 0).then_some(bad);
        accumulator.record(probability, approved, outcome);
    }
    accumulator.record(f64::NAN, false, Some(true));
    let performance = accumulator.performance(DEFAULT_CONFIDENCE);
    assert_eq!((performance.orders, performance.approved), (1_001, 750));
    assert!((performance.approval_rate - 750.0 / 1_001.0).abs() < 1e-15);
    assert_eq!(
        performance.approval_rate_interval,
        wilson_interval(750, 1_001, DEFAULT_CONFIDENCE)
    );
    // Outcomes on even orders, approvals on orders not divisible by 4: i ≡ 2 (mod 4).
    assert_eq!(performance.matured_approved, 250);
    assert_eq!(performance.goods + performance.bads, 500);
    let rows = &performance.calibration;
    assert_eq!(rows.len(), CALIBRATION_GROUPS);
    assert_eq!(rows.iter().map(|r| r.orders).sum::<u64>(), 500);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.orders, 50);
        assert!((row.from - i as f64 / 10.0).abs() < 1e-12);
        assert!((row.mean_probability - (i as f64 / 10.0 + 0.0495)).abs() < 1e-12);
        assert!(row.bad_share_interval.contains(row.bad_share));
    }
}

#[test]
fn one_outcome_has_nothing_to_rank() {
    let empty = ScoreAccumulator::new().performance(DEFAULT_CONFIDENCE);
    assert_eq!((empty.auc, empty.ks, empty.approval_rate), (0.5, 0.0, 0.0));
    assert_eq!(empty.auc_interval, Interval::UNKNOWN);
    assert_eq!(empty.bad_rate_interval, Interval::UNKNOWN);
    assert!(empty.calibration.is_empty());
    let only_good = accumulate(&[0.1, 0.7], &[false, false]).performance(DEFAULT_CONFIDENCE);
    assert_eq!((only_good.auc, only_good.ks), (0.5, 0.0));
    assert_eq!(only_good.ks_interval, Interval::UNKNOWN);
    assert_eq!(
        delong_paired(&[0.1, 0.7], &[0.2, 0.3], &[false, false]),
        None
    );
    assert_eq!(delong_paired(&[0.1], &[0.2, 0.3], &[false, true]), None);
}

/// Every pair ranked right: DeLong's variance is 0, so Hoeffding's bound gives the interval.
#[test]
fn perfect_separation_still_has_an_interval() {
    let scores: Vec<f64> = (0..40).map(|i| f64::from(i) / 40.0).collect();
    let bad: Vec<bool> = (0..40).map(|i| i >= 30).collect();
    let performance = accumulate(&scores, &bad).performance(DEFAULT_CONFIDENCE);
    assert_eq!(
        (performance.auc, performance.auc_standard_error),
        (1.0, 0.0)
    );
    let half = ((2.0f64 / 0.05).ln() / 20.0).sqrt();
    assert!((performance.auc_interval.low - (1.0 - half)).abs() < 1e-12);
    assert_eq!(performance.auc_interval.high, 1.0);
    assert_eq!(performance.ks, 1.0);
}

#[test]
fn stored_form_keeps_only_bins_with_outcomes() {
    let mut accumulator = ScoreAccumulator::new();
    accumulator.record(0.25, true, Some(false));
    accumulator.record(0.2501, false, Some(true));
    accumulator.record(1.0, false, None);
    accumulator.record(1.0, true, Some(true));
    let json = serde_json::to_string(&accumulator).unwrap_or_default();
    assert_eq!(
        json,
        r#"{"orders":4,"approved":2,"approved_good":1,"approved_bad":1,"bins":[[250,1,1],[999,0,1]]}"#
    );
    let back: Result<ScoreAccumulator, _> = serde_json::from_str(&json);
    assert_eq!(back.ok(), Some(accumulator));
    let out_of_range = json.replace("999", "1000");
    assert!(serde_json::from_str::<ScoreAccumulator>(&out_of_range).is_err());
}

#[test]
fn paired_test_of_the_same_model_finds_no_difference() {
    let mut generator = Generator::seeded(19);
    let (scores, bad) = tied_sample(&mut generator, 500);
    let same = delong_paired(&scores, &scores, &bad);
    assert!(same.is_some_and(|p| p.difference == 0.0 && p.z == 0.0 && p.p_value == 1.0));
}

#[test]
fn paired_test_finds_the_better_model() {
    let mut generator = Generator::seeded(23);
    let n = 1_000;
    let bad: Vec<bool> = (0..n).map(|_| generator.uniform() < 0.2).collect();
    let signal: Vec<f64> = bad.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
    // The champion sees the outcome through noise of 1; the challenger through noise of 2.
    let champion: Vec<f64> = signal.iter().map(|s| s + generator.normal()).collect();
    let challenger: Vec<f64> = signal
        .iter()
        .map(|s| s + 2.0 * generator.normal())
        .collect();
    let Some(comparison) = delong_paired(&champion, &challenger, &bad) else {
        panic!("both outcomes are present");
    };
    eprintln!("paired DeLong: {comparison:?}");
    assert!(comparison.difference > 0.0 && comparison.p_value < 0.01);
    let reversed = delong_paired(&challenger, &champion, &bad);
    assert!(reversed.is_some_and(|r| r.z == -comparison.z && r.p_value == comparison.p_value));
}
