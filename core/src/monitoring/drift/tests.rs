//! Bins, PSI and thresholds on small cases worked by hand; then, on synthetic portfolios, how
//! often a report alarms when nothing moved and whether it catches a feature that did.

use super::super::stats::wilson_interval;
use super::super::synthetic::{FEATURES, Generator, Portfolio};
use super::*;
use std::time::Instant;

#[test]
fn bins_follow_the_reference_quantiles() {
    let values: Vec<f64> = (0..100).map(f64::from).collect();
    let bins = Bins::learn(&values, DEFAULT_BINS);
    let edges: Vec<f64> = (1..10).map(|i| f64::from(i * 10)).collect();
    assert_eq!(bins.edges(), edges.as_slice());
    assert_eq!(bins.cells(), 11);
    assert_eq!(bins.index(-1.0), 0);
    assert_eq!(bins.index(9.9), 0);
    assert_eq!(bins.index(10.0), 1);
    assert_eq!(bins.index(1e9), 9);
    assert_eq!(bins.index(f64::NAN), 10);
    assert_eq!(
        bins.count(&values).counts(),
        &[10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 0]
    );
}

#[test]
fn discrete_and_constant_features_get_fewer_bins() {
    let discrete: Vec<f64> = (0..1000).map(|i| f64::from(i % 3)).collect();
    assert_eq!(Bins::learn(&discrete, DEFAULT_BINS).edges(), &[1.0, 2.0]);
    let constant = Bins::learn(&[4.0; 50], DEFAULT_BINS);
    assert!(constant.edges().is_empty());
    let report = FeatureDrift::test(
        Compared {
            name: "constant",
            reference: &constant.count(&[4.0; 50]),
            window: &constant.count(&[4.0; 3]),
        },
        DEFAULT_ALPHA,
    );
    assert_eq!(
        report.map(|r| (r.bins, r.psi, r.drifting)),
        Ok((1, 0.0, false))
    );
    assert!(Bins::learn(&[f64::NAN; 3], DEFAULT_BINS).edges().is_empty());
}

#[test]
fn psi_is_finite_with_empty_cells_and_ignores_cells_empty_in_both() {
    // By hand: three cells with data, so shares (20.5, 20.5, 0.5)/41.5 against
    // (0.5, 20.5, 20.5)/41.5; the middle cell adds nothing.
    let (p, q): (f64, f64) = (20.5 / 41.5, 0.5 / 41.5);
    let expected = 2.0 * (p - q) * (p / q).ln();
    assert!((psi(&[20, 20, 0, 0], &[0, 20, 20, 0]) - expected).abs() < 1e-12);
    assert_eq!(psi_and_cells(&[20, 20, 0, 0], &[0, 20, 20, 0]).1, 3);
    assert_eq!(psi(&[5, 7, 9], &[5, 7, 9]), 0.0);
    // Symmetric; and the smoothing weighs less in the larger sample, so equal shares of
    // different totals are close but not 0.
    assert!((psi(&[30, 10], &[600, 200]) - psi(&[600, 200], &[30, 10])).abs() < 1e-15);
    assert!(psi(&[30, 10], &[600, 200]) < 0.001);
}

#[test]
fn histograms_of_days_add_up_to_the_window() {
    let bins = Bins::learn(&[1.0, 2.0, 3.0, 4.0], 4);
    let mut monday = bins.count(&[1.0, f64::NAN]);
    let tuesday = bins.count(&[4.0, 2.5]);
    assert_eq!(monday.merge(&tuesday), Ok(()));
    assert_eq!(monday, bins.count(&[1.0, f64::NAN, 4.0, 2.5]));
    let other = Histogram::from(vec![1, 2]);
    assert_eq!(
        monday.merge(&other),
        Err(ShapeMismatch { left: 5, right: 2 })
    );
    monday.add(&bins, 3.0);
    assert_eq!(monday.total(), 5);
}

#[test]
fn thresholds_shrink_with_the_samples() {
    // χ²_9(0.99) = 21.666: (1/100 + 1/10,000)·21.666.
    let small = psi_threshold(10, 100, 10_000, 0.01);
    assert!((small - 0.0101 * 21.665_994_333_461_92).abs() < 1e-12);
    assert!(psi_threshold(10, 100_000, 100_000, 0.01) < small / 100.0);
    assert_eq!(psi_threshold(1, 100, 100, 0.01), 0.0);
    assert_eq!(psi_threshold(10, 0, 100, 0.01), 0.0);
}

/// The drift report of `window` against `reference`, bins learnt from the reference.
fn report(reference: &Portfolio, window: &Portfolio) -> DriftReport {
    fn columns(p: &Portfolio) -> [&[f64]; 4] {
        [&p.score, &p.normal, &p.lognormal, &p.discrete]
    }
    let histograms: Vec<(Histogram, Histogram)> = columns(reference)
        .iter()
        .zip(columns(window))
        .map(|(r, w)| {
            let bins = Bins::learn(r, DEFAULT_BINS);
            (bins.count(r), bins.count(w))
        })
        .collect();
    let names = std::iter::once("score").chain(FEATURES);
    let compared: Vec<Compared<'_>> = names
        .zip(&histograms)
        .map(|(name, (reference, window))| Compared {
            name,
            reference,
            window,
        })
        .collect();
    match DriftReport::compute(compared[0], &compared[1..], DEFAULT_ALPHA) {
        Ok(report) => report,
        Err(e) => panic!("histograms from the same bins: {e}"),
    }
}

/// Windows drawn like the training sample: the share of reports suggesting retraining is
/// at most α. With a few hundred repetitions the observed share itself varies by about
/// ±0.5 %, so the test asserts that α is not below the 99 % Wilson interval of the
/// observed rate, per size and over all sizes pooled.
#[test]
fn false_alarms_stay_within_alpha() {
    let started = Instant::now();
    let cases: [(usize, usize, u32); 5] = [
        (100, 10_000, 400),
        (1_000, 10_000, 400),
        (10_000, 10_000, 400),
        (100_000, 10_000, 200),
        (100_000, 100_000, 100),
    ];
    let (mut all_alarms, mut all_reports) = (0, 0);
    for (i, &(n, m, repetitions)) in cases.iter().enumerate() {
        let mut generator = Generator::seeded(1_000 + i as u64);
        let mut alarms = 0u64;
        let mut feature_alarms = [0u32; 4];
        for _ in 0..repetitions {
            let reference = generator.draw(m, 0.0);
            let window = generator.draw(n, 0.0);
            let report = report(&reference, &window);
            alarms += u64::from(report.retrain_suggested);
            let tests = std::iter::once(&report.score).chain(&report.features);
            for (count, test) in feature_alarms.iter_mut().zip(tests) {
                *count += u32::from(test.drifting);
            }
        }
        let interval = wilson_interval(alarms, repetitions.into(), 0.99);
        eprintln!(
            "false alarms n={n} m={m}: {alarms}/{repetitions} = {:.2} % (99 % CI {:.2}–{:.2} %); \
             by test [score, normal, lognormal, discrete]: {feature_alarms:?}",
            100.0 * alarms as f64 / f64::from(repetitions),
            100.0 * interval.low,
            100.0 * interval.high,
        );
        assert!(
            interval.low <= DEFAULT_ALPHA,
            "n={n}, m={m}: {alarms}/{repetitions}"
        );
        all_alarms += alarms;
        all_reports += u64::from(repetitions);
    }
    let pooled = wilson_interval(all_alarms, all_reports, 0.99);
    eprintln!(
        "false alarms pooled: {all_alarms}/{all_reports} (99 % CI {:.2}–{:.2} %) in {:.1?}",
        100.0 * pooled.low,
        100.0 * pooled.high,
        started.elapsed()
    );
    assert!(pooled.low <= DEFAULT_ALPHA);
}

/// A shift of half a standard deviation in one feature is caught, and named first.
#[test]
fn a_shifted_feature_is_caught_and_named() {
    let started = Instant::now();
    let repetitions = 200u32;
    for (i, n) in [1_000, 10_000].into_iter().enumerate() {
        let mut generator = Generator::seeded(2_000 + i as u64);
        let (mut flagged, mut first) = (0u32, 0u32);
        for _ in 0..repetitions {
            let reference = generator.draw(10_000, 0.0);
            let window = generator.draw(n, 0.5);
            let report = report(&reference, &window);
            flagged += u32::from(report.features[0].drifting);
            let top = report.top_drifting(3);
            first += u32::from(top.first().is_some_and(|f| f.name == "normal"));
        }
        let (flagged_rate, first_rate) = (
            f64::from(flagged) / f64::from(repetitions),
            f64::from(first) / f64::from(repetitions),
        );
        eprintln!(
            "power n={n} m=10000, shift 0.5σ: flagged {flagged}/{repetitions}, \
             top drifting {first}/{repetitions}"
        );
        assert!(flagged_rate >= 0.95 && first_rate >= 0.95);
    }
    eprintln!("power tests in {:.1?}", started.elapsed());
}
