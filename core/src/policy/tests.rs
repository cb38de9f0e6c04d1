use super::*;
use crate::decision::Verdict;
use crate::features::{FeatureValue, RawFeatures};
use crate::model::{Encoding, FeatureColumn, FeatureSpec, ScoreBin};
use serde_json::json;

fn spec() -> FeatureSpec {
    let column = |name: &str, encoding| FeatureColumn {
        name: name.to_owned(),
        encoding,
        direction: None,
    };
    FeatureSpec {
        features: vec![
            column("bureau.negatives.bankruptcy.count", Encoding::Number),
            column("terms.amount_to_limit", Encoding::Number),
            column(
                "order.channel",
                Encoding::Category {
                    levels: vec!["b2b".into(), "phone".into(), "web".into()],
                },
            ),
        ],
    }
}

fn policy(value: serde_json::Value) -> Policy {
    serde_json::from_value(value).expect("a policy")
}

/// A bankruptcy rejects; more than three times the limit goes to review; web orders go to
/// review; the cut at 0.5 with a refer band just below it.
fn sample() -> Policy {
    policy(json!({
        "rules": [
            {"id": "bankruptcy", "feature": "bureau.negatives.bankruptcy.count", "operator": "above", "value": 0,
             "action": "reject",
             "reason": {"en": "A bankruptcy is on the customer's bureau record", "pt-BR": "Há falência no registro do cliente no birô"}},
            {"id": "over-limit", "feature": "terms.amount_to_limit", "operator": "above", "value": 3,
             "action": "review",
             "reason": {"en": "The order is over three times the credit limit", "pt-BR": "O pedido passa de três vezes o limite de crédito"}},
            {"id": "web", "feature": "order.channel", "operator": "in", "levels": ["web"],
             "action": "review",
             "reason": {"en": "Orders placed on the web shop are checked by hand", "pt-BR": "Pedidos feitos na loja virtual são conferidos à mão"}}
        ],
        "cutoff": {"kind": "probability", "probability": 0.5},
        "refer_bands": [{"from": 0.4, "to": 0.5}]
    }))
}

fn order(bankruptcies: f64, to_limit: f64, channel: Option<&str>) -> RawFeatures {
    let mut features = RawFeatures::default();
    features.insert(
        "bureau.negatives.bankruptcy.count",
        FeatureValue::number(bankruptcies),
    );
    features.insert("terms.amount_to_limit", FeatureValue::number(to_limit));
    if let Some(channel) = channel {
        features.insert("order.channel", FeatureValue::Category(channel.to_owned()));
    }
    features
}

fn fields(errors: crate::FieldErrors) -> Vec<String> {
    let mut fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
    fields.sort();
    fields
}

#[test]
fn a_sound_policy_passes_and_reads_back_as_written() {
    let sample = sample();
    assert_eq!(sample.check(&spec()), Ok(()));
    let text = serde_json::to_value(&sample).expect("json");
    assert_eq!(policy(text), sample);
    assert_eq!(Policy::default().check(&spec()), Ok(()));
}

#[test]
fn unknown_features_and_levels_and_mismatched_operators_are_refused() {
    let mut bad = sample();
    bad.rules[0].feature = "bureau.bankrupt".into();
    bad.rules[1].condition = Condition::In {
        levels: vec!["x".into()],
    };
    bad.rules[2].condition = Condition::In {
        levels: vec!["web".into(), "fax".into()],
    };
    let errors = bad.check(&spec()).expect_err("refused");
    assert_eq!(
        fields(errors),
        [
            "rules[0].feature",
            "rules[1].operator",
            "rules[2].levels[1]"
        ]
    );
    let mut numeric = sample();
    numeric.rules[2].condition = Condition::Above { value: 1.0 };
    numeric.rules[0].condition = Condition::Above {
        value: f64::INFINITY,
    };
    assert_eq!(
        fields(numeric.check(&spec()).expect_err("refused")),
        ["rules[0].value", "rules[2].operator"]
    );
}

#[test]
fn vague_short_and_repeated_reasons_are_refused() {
    let mut bad = sample();
    bad.rules[0].reason.en = "Internal credit policy decision".into();
    bad.rules[0].reason.pt_br = "Reprovado".into();
    bad.rules[1].reason.pt_br = "Decisão da política interna de risco".into();
    bad.rules[2].reason.en = bad.rules[1].reason.en.to_uppercase();
    let errors = bad.check(&spec()).expect_err("refused");
    assert_eq!(
        fields(errors),
        [
            "rules[0].reason.en",
            "rules[0].reason.pt-BR",
            "rules[1].reason.pt-BR",
            "rules[2].reason.en"
        ]
    );
}

#[test]
fn ids_cutoffs_and_bands_are_checked() {
    let mut bad = sample();
    bad.rules[1].id = "bankruptcy".into();
    bad.rules[2].id = "Web Orders".into();
    bad.cutoff = Cutoff::ApprovalRate { approval_rate: 1.0 };
    bad.refer_bands = vec![
        ReferBand { from: 0.3, to: 0.5 },
        ReferBand {
            from: 0.45,
            to: 0.6,
        },
        ReferBand { from: 0.7, to: 0.7 },
    ];
    let errors = bad.check(&spec()).expect_err("refused");
    assert_eq!(
        fields(errors),
        [
            "cutoff.approval_rate",
            "refer_bands[1]",
            "refer_bands[2]",
            "rules[1].id",
            "rules[2].id"
        ]
    );
    bad = sample();
    bad.cutoff = Cutoff::ExpectedCost {
        bad_approval_cost: 0.0,
        lost_sale_cost: f64::NAN,
    };
    assert_eq!(
        fields(bad.check(&spec()).expect_err("refused")),
        ["cutoff.bad_approval_cost", "cutoff.lost_sale_cost"]
    );
}

#[test]
fn unknown_fields_are_refused_when_read() {
    let read: Result<Policy, _> = serde_json::from_value(json!({"rules": [], "cut_off": {}}));
    assert!(read.is_err());
}

#[test]
fn rules_then_bands_then_the_cutoff_decide() {
    let policy = sample();
    let judge = |features: &RawFeatures, p: f64| policy.judge(features, p, 0.5);
    // A reject rule wins over a review rule, whatever the probability.
    let both = judge(&order(1.0, 5.0, Some("web")), 0.01);
    assert_eq!((both.verdict, both.band), (Verdict::Rejected, Band::Rule));
    assert_eq!(both.rules_fired, [0, 1, 2]);
    let review = judge(&order(0.0, 5.0, Some("b2b")), 0.01);
    assert_eq!((review.verdict, review.band), (Verdict::Review, Band::Rule));
    assert_eq!(review.rules_fired, [1]);
    let referred = judge(&order(0.0, 1.0, Some("b2b")), 0.45);
    assert_eq!(
        (referred.verdict, referred.band),
        (Verdict::Review, Band::Refer)
    );
    assert!(referred.rules_fired.is_empty());
    let approved = judge(&order(0.0, 1.0, Some("b2b")), 0.39);
    assert_eq!(
        (approved.verdict, approved.band),
        (Verdict::Approved, Band::Approve)
    );
    let rejected = judge(&order(0.0, 1.0, None), 0.5);
    assert_eq!(
        (rejected.verdict, rejected.band),
        (Verdict::Rejected, Band::Reject)
    );
}

#[test]
fn a_rejection_names_its_reject_rules_first() {
    let mut policy = sample();
    // The review rules first in the policy, the reject rule last.
    policy.rules.rotate_left(1);
    let judged = policy.judge(&order(1.0, 5.0, Some("web")), 0.01, 0.5);
    assert_eq!(judged.verdict, Verdict::Rejected);
    assert_eq!(judged.rules_fired, [0, 1, 2]);
    assert_eq!(policy.decisive_first(&judged), [2, 0, 1]);
    let review = policy.judge(&order(0.0, 5.0, Some("web")), 0.01, 0.5);
    assert_eq!(policy.decisive_first(&review), [0, 1]);
}

#[test]
fn a_missing_value_meets_only_missing() {
    let mut policy = sample();
    policy.rules.truncate(1);
    let mut features = RawFeatures::default();
    features.insert("terms.amount_to_limit", FeatureValue::number(1.0));
    assert!(policy.judge(&features, 0.1, 0.5).rules_fired.is_empty());
    policy.rules[0].condition = Condition::Missing;
    assert_eq!(policy.judge(&features, 0.1, 0.5).rules_fired, [0]);
    policy.rules[0].feature = "order.channel".into();
    policy.rules[0].condition = Condition::NotIn {
        levels: vec!["web".into()],
    };
    assert!(
        policy.judge(&features, 0.1, 0.5).rules_fired.is_empty(),
        "missing is not compared"
    );
}

#[test]
fn stored_values_judge_as_the_live_features_did() {
    let policy = sample();
    let spec = spec();
    for (bankruptcies, to_limit, channel, p) in [
        (0.0, 1.0, Some("web"), 0.1),
        (2.0, 0.5, Some("phone"), 0.1),
        (0.0, 4.0, None, 0.45),
        (0.0, 0.5, Some("unseen"), 0.7),
        (0.0, 0.5, Some("b2b"), 0.2),
    ] {
        let live = order(bankruptcies, to_limit, channel);
        let values = spec.drift_values(&live);
        let stored = StoredValues {
            spec: &spec,
            values: &values,
        };
        assert_eq!(
            policy.judge(&stored, p, 0.5),
            policy.judge(&live, p, 0.5),
            "{live:?}"
        );
    }
}

#[test]
fn cutoffs_are_probabilities() {
    let cost = Cutoff::ExpectedCost {
        bad_approval_cost: 900.0,
        lost_sale_cost: 100.0,
    };
    // Approving at p costs p × 900, rejecting (1 − p) × 100: equal at p = 0.1.
    let cut = cost.probability(0.3, None);
    assert!((cut * 900.0 - (1.0 - cut) * 100.0).abs() < 1e-9, "{cut}");
    let huge = Cutoff::ExpectedCost {
        bad_approval_cost: 1e308,
        lost_sale_cost: 1e308,
    };
    assert!(
        (huge.probability(0.3, None) - 0.5).abs() < 1e-12,
        "no overflow"
    );
    assert!((Cutoff::Model.probability(0.3, None) - 0.3).abs() < 1e-12);
    let fixed = Cutoff::Probability { probability: 0.42 };
    assert!((fixed.probability(0.3, None) - 0.42).abs() < 1e-12);
    let rate = Cutoff::ApprovalRate { approval_rate: 0.7 };
    assert!(
        (rate.probability(0.3, None) - 0.3).abs() < 1e-12,
        "no holdout: the model's"
    );

    // 100 holdout orders: 60 in [0, 0.05), 20 in [0.05, 0.1), 20 in [0.5, 0.55).
    let bin = |from: f64, count: u64| ScoreBin {
        from,
        to: from + 0.05,
        approved: count,
        blocked: 0,
    };
    let bins = [bin(0.0, 60), bin(0.05, 20), bin(0.5, 20)];
    let quantile = |share| holdout_quantile(&bins, share).expect("orders");
    assert!((quantile(0.6) - 0.05).abs() < 1e-12);
    assert!((quantile(0.7) - 0.075).abs() < 1e-12);
    assert!((quantile(0.9) - 0.525).abs() < 1e-12);
    assert_eq!(holdout_quantile(&[bin(0.0, 0)], 0.5), None);
    assert!((rate.probability(0.3, Some(&bins)) - 0.075).abs() < 1e-12);
}

#[test]
fn a_replay_counts_what_would_change() {
    let policy = sample();
    let spec = spec();
    let rows = [
        (order(1.0, 1.0, Some("b2b")), Verdict::Approved, 0.1),
        (order(0.0, 1.0, Some("b2b")), Verdict::Approved, 0.1),
        (order(0.0, 1.0, Some("b2b")), Verdict::Approved, 0.45),
        (order(0.0, 1.0, Some("b2b")), Verdict::Rejected, 0.6),
    ];
    let values: Vec<Vec<f64>> = rows.iter().map(|(f, _, _)| spec.drift_values(f)).collect();
    let mut summary = ReplaySummary::default();
    for (i, ((_, verdict, p), values)) in rows.iter().zip(&values).enumerate() {
        let id = format!("r{i}");
        summary.add(
            &policy,
            0.5,
            &PastDecision {
                request_id: &id,
                order_id: &id,
                verdict: *verdict,
                probability: *p,
                values: StoredValues {
                    spec: &spec,
                    values,
                },
            },
        );
    }
    summary.left_out();
    assert_eq!(summary.decisions, 4);
    assert_eq!(summary.without_values, 1);
    assert_eq!(summary.changed, 2);
    assert_eq!(
        summary.after,
        VerdictCounts {
            approved: 1,
            rejected: 2,
            review: 1
        }
    );
    assert_eq!(summary.rules_fired["bankruptcy"], 1);
    assert_eq!(summary.bands[&Band::Refer], 1);
    let changed: Vec<(&str, Verdict)> = summary
        .examples
        .iter()
        .map(|c| (c.request_id.as_str(), c.after))
        .collect();
    assert_eq!(
        changed,
        [("r0", Verdict::Rejected), ("r2", Verdict::Review)]
    );
    let unchanged: u64 = summary
        .transitions
        .iter()
        .filter(|t| t.from == t.to)
        .map(|t| t.decisions)
        .sum();
    assert_eq!(unchanged, 2);
}
