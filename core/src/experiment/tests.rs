use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng as StdRng;

fn with_challengers(challengers: &[(i32, f64)]) -> ExperimentInForce {
    ExperimentInForce {
        version: 1,
        experiment: Experiment {
            challengers: challengers
                .iter()
                .map(|&(version, share)| Challenger { version, share })
                .collect(),
            ..Experiment::default()
        },
        probation: None,
    }
}

#[test]
fn the_split_gives_each_challenger_its_share_within_half_a_point() {
    let company = Uuid::from_u128(0x5eed);
    let experiment = with_challengers(&[(2, 0.05), (3, 0.20)]);
    let mut counts = std::collections::HashMap::new();
    for i in 0..10_000 {
        let (version, _) = experiment.serving(company, &format!("C{i:05}"), 1);
        *counts.entry(version).or_insert(0_u32) += 1;
    }
    let share = |v: i32| f64::from(counts.get(&v).copied().unwrap_or(0)) / 10_000.0;
    assert!((share(2) - 0.05).abs() <= 0.005, "{counts:?}");
    assert!((share(3) - 0.20).abs() <= 0.005, "{counts:?}");
    assert!((share(1) - 0.75).abs() <= 0.005, "{counts:?}");
}

#[test]
fn a_customer_keeps_its_arm_and_growing_a_share_moves_no_one_out() {
    let company = Uuid::from_u128(7);
    let small = with_challengers(&[(2, 0.05)]);
    let large = with_challengers(&[(2, 0.10)]);
    for i in 0..2_000 {
        let customer = format!("K{i}");
        let first = small.serving(company, &customer, 1);
        assert_eq!(first, small.serving(company, &customer, 1));
        if first.1 == Arm::Challenger {
            assert_eq!(large.serving(company, &customer, 1), (2, Arm::Challenger));
        }
    }
    // Another company splits its customers apart.
    let other = Uuid::from_u128(8);
    let differ = (0..2_000)
        .filter(|i| bucket(company, &format!("K{i}")) != bucket(other, &format!("K{i}")))
        .count();
    assert!(differ > 1_990, "{differ}");
}

#[test]
fn versions_beside_the_serving_one_include_the_champion_and_a_live_probation() {
    let at = Utc::now();
    let mut experiment = with_challengers(&[(2, 0.05)]);
    experiment.experiment.shadows = vec![3, 2];
    assert_eq!(experiment.scoring_beside(1, 1, at), vec![2, 3]);
    assert_eq!(experiment.scoring_beside(1, 2, at), vec![1, 3]);
    experiment.probation = Some(Probation {
        champion: 1,
        previous: 4,
        since: at,
        until: at + chrono::Duration::days(1),
    });
    assert_eq!(experiment.scoring_beside(1, 1, at), vec![2, 3, 4]);
    assert_eq!(
        experiment.scoring_beside(1, 1, at + chrono::Duration::days(2)),
        vec![2, 3]
    );
}

#[test]
fn an_experiment_is_checked_against_the_company_versions() {
    let versions: HashSet<i32> = [1, 2, 3, 4].into();
    let experiment = Experiment {
        challengers: vec![
            Challenger {
                version: 1,
                share: 0.05,
            },
            Challenger {
                version: 9,
                share: 0.6,
            },
            Challenger {
                version: 2,
                share: f64::NAN,
            },
        ],
        shadows: vec![2, 2],
        guardrail: Guardrail {
            max_approval_rate_drop: 1.5,
            min_decisions: 3,
            ..Guardrail::default()
        },
    };
    let errors = experiment.check(1, &versions).expect_err("refused");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for field in [
        "challengers[0].version",
        "challengers[1].version",
        "challengers[1].share",
        "challengers[2].share",
        "shadows[1]",
        "guardrail.max_approval_rate_drop",
        "guardrail.min_decisions",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let fine = Experiment {
        challengers: vec![Challenger {
            version: 2,
            share: 0.3,
        }],
        shadows: vec![3, 4],
        guardrail: Guardrail::default(),
    };
    assert_eq!(fine.check(1, &versions), Ok(()));
    let too_much = Experiment {
        challengers: vec![
            Challenger {
                version: 2,
                share: 0.3,
            },
            Challenger {
                version: 3,
                share: 0.3,
            },
        ],
        ..Experiment::default()
    };
    let errors = too_much.check(1, &versions).expect_err("over half");
    assert!(
        errors.iter().any(|e| e.field == "challengers"),
        "{errors:?}"
    );
}

/// Orders whose badness follows a hidden risk; each version sees it through its own noise.
fn window(
    orders: usize,
    noise_reference: f64,
    noise_arm: f64,
    arm_serves: f64,
    seed: u64,
) -> PairWindow {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut window = PairWindow::default();
    for _ in 0..orders {
        let risk: f64 = rng.r#gen();
        let bad = rng.r#gen::<f64>() < risk * 0.6;
        let score = |noise: f64, rng: &mut StdRng| {
            (risk + noise * (rng.r#gen::<f64>() - 0.5)).clamp(0.0, 1.0)
        };
        let reference = score(noise_reference, &mut rng);
        let arm = score(noise_arm, &mut rng);
        let served_by_arm = rng.r#gen::<f64>() < arm_serves;
        window.add(&PairedOrder {
            reference: ArmScore {
                probability: reference,
                approved: reference < 0.5,
            },
            arm: ArmScore {
                probability: arm,
                approved: arm < 0.5,
            },
            served_by_arm,
            served_by_reference: !served_by_arm,
            bad: Some(bad),
        });
    }
    window
}

#[test]
fn a_sharper_challenger_is_found_better_once_each_arm_has_matured() {
    let compared = window(60_000, 1.2, 0.2, 0.1, 1).compare();
    assert!(compared.served_by_arm.matured >= MIN_MATURED_PER_ARM);
    let auc = compared.auc.expect("both outcomes");
    assert!(auc.auc_a > auc.auc_b, "{auc:?}");
    assert_eq!(
        compared.verdict,
        Some(ComparisonVerdict::Better),
        "{compared:?}"
    );
    let equal = compared.bad_rate_at_equal_approval.expect("equal approval");
    assert!(equal.arm_bad_rate < equal.reference_bad_rate, "{equal:?}");
    assert!(compared.psi.expect("psi") > 0.0);
    // The other way round, it is worse.
    let worse = window(60_000, 0.2, 1.2, 0.1, 2).compare();
    assert_eq!(worse.verdict, Some(ComparisonVerdict::Worse), "{worse:?}");
}

#[test]
fn no_verdict_before_each_arm_has_its_matured_decisions() {
    // 20,000 orders of which a challenger serves 5 %: about 1,000 of its own.
    let compared = window(20_000, 1.2, 0.2, 0.05, 3).compare();
    assert!(compared.served_by_arm.matured < MIN_MATURED_PER_ARM);
    assert_eq!(compared.verdict, None);
    let pending = compared.verdict_pending.expect("why");
    assert!(pending.contains("2500"), "{pending}");
    assert!(compared.auc.is_some(), "the figures are shown all the same");
}

#[test]
fn identical_versions_show_no_difference_and_no_drift_between_them() {
    let compared = window(30_000, 0.5, 0.5, 0.5, 4).compare();
    assert_eq!(
        compared.verdict,
        Some(ComparisonVerdict::NoDifference),
        "{compared:?}"
    );
    assert!(compared.psi.expect("psi") < 0.01, "{compared:?}");
}

#[test]
fn a_guardrail_breaches_on_evidence_not_on_chance() {
    let guardrail = Guardrail {
        max_approval_rate_drop: 0.05,
        min_decisions: 200,
        ..Guardrail::default()
    };
    let mut rng = StdRng::seed_from_u64(5);
    let mut served = |reference_rate: f64, arm_rate: f64, n: usize| {
        let mut window = PairWindow::default();
        for _ in 0..n {
            let u: f64 = rng.r#gen();
            window.add(&PairedOrder {
                reference: ArmScore {
                    probability: u,
                    approved: u < reference_rate,
                },
                arm: ArmScore {
                    probability: u,
                    approved: u < arm_rate,
                },
                served_by_arm: true,
                served_by_reference: false,
                bad: None,
            });
        }
        window.compare()
    };
    // Twenty points fewer approvals over 1,000 orders: a breach.
    let breach = guardrail.breach(&served(0.6, 0.4, 1_000)).expect("breach");
    assert_eq!(breach.limit, "max_approval_rate_drop");
    // The same drop over fewer orders than the guardrail waits for: nothing yet.
    assert_eq!(guardrail.breach(&served(0.6, 0.4, 150)), None);
    // A drop within the limit: nothing.
    assert_eq!(guardrail.breach(&served(0.6, 0.58, 5_000)), None);
    // A floor on approval.
    let floor = Guardrail {
        min_approval_rate: Some(0.9),
        ..guardrail.clone()
    };
    let breach = floor
        .breach(&served(0.6, 0.6, 1_000))
        .expect("below the floor");
    assert_eq!(breach.limit, "min_approval_rate");
}
