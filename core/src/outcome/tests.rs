use super::*;
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 instant")
}

fn now() -> DateTime<Utc> {
    at("2026-12-05T12:00:00Z")
}

fn fields(errors: &FieldErrors) -> Vec<String> {
    errors.iter().map(|e| e.field.clone()).collect()
}

#[test]
fn every_kind_reads_by_request_id_or_order_id() {
    let reports = read_reports(
        &[
            json!({"request_id": "r-1", "occurred_at": "2026-11-01T10:00:00-03:00", "kind": "paid_on_time"}),
            json!({"order_id": "A-2", "occurred_at": "2026-11-02", "kind": "paid_late", "days_late": 12}),
            json!({"order_id": "A-3", "occurred_at": "2026-11-03T00:00:00Z", "kind": "defaulted"}),
            json!({"order_id": "A-4", "occurred_at": "2026-11-04T00:00:00Z", "kind": "written_off"}),
            json!({"order_id": "A-5", "occurred_at": "2026-11-05T00:00:00Z", "kind": "override",
                   "direction": "approved_rejection", "reason_code": "manual-review"}),
        ],
        now(),
    )
    .expect("valid");
    assert_eq!(
        reports[0].decision,
        DecisionRef::RequestId("r-1".to_owned())
    );
    assert_eq!(reports[0].occurred_at, at("2026-11-01T13:00:00Z"));
    assert_eq!(reports[1].decision, DecisionRef::OrderId("A-2".to_owned()));
    assert_eq!(reports[1].occurred_at, at("2026-11-02T00:00:00Z"));
    assert_eq!(reports[1].kind, OutcomeKind::PaidLate { days_late: 12 });
    assert_eq!(reports[2].kind, OutcomeKind::Defaulted);
    assert_eq!(reports[3].kind, OutcomeKind::WrittenOff);
    assert_eq!(
        reports[4].kind,
        OutcomeKind::Override {
            direction: OverrideDirection::ApprovedRejection,
            reason_code: "manual-review".to_owned()
        }
    );
    let families: Vec<KindFamily> = reports.iter().map(|r| r.kind.family()).collect();
    assert_eq!(
        families,
        [
            KindFamily::Repayment,
            KindFamily::Repayment,
            KindFamily::Repayment,
            KindFamily::Repayment,
            KindFamily::Override
        ]
    );
}

#[test]
fn every_problem_of_every_report_is_named_by_its_index() {
    let errors = read_reports(
        &[
            json!({"occurred_at": "2026-11-01T00:00:00Z", "kind": "paid_on_time"}),
            json!({"request_id": "r", "order_id": "A", "occurred_at": "2026-11-01T00:00:00Z", "kind": "defaulted"}),
            json!({"order_id": " A", "occurred_at": "yesterday", "kind": "paid_late", "days_late": 0}),
            json!({"order_id": "A", "occurred_at": "2027-01-01T00:00:00Z", "kind": "paid_on_time", "days_late": 3}),
            json!({"order_id": "A", "occurred_at": "2026-11-01T00:00:00Z", "kind": "override", "direction": "sideways", "reason_code": "a\u{202E}b"}),
            json!({"order_id": "A", "occurred_at": "2026-11-01T00:00:00Z", "kind": "paid"}),
            json!({"order_id": "A", "occurred_at": "2026-11-01T00:00:00Z", "kind": "paid_late", "note": "x"}),
            json!("A"),
        ],
        now(),
    )
    .expect_err("all bad");
    assert_eq!(
        fields(&errors),
        [
            "reports[0].order_id",
            "reports[1].order_id",
            "reports[2].order_id",
            "reports[2].occurred_at",
            "reports[2].days_late",
            "reports[3].occurred_at",
            "reports[3].days_late",
            "reports[4].direction",
            "reports[4].reason_code",
            "reports[5].kind",
            "reports[6].note",
            "reports[6].days_late",
            "reports[7]",
        ]
    );
    assert!(
        errors.iter().any(|e| e.reason.contains("not both")),
        "{errors}"
    );
}

#[test]
fn a_batch_holds_one_to_five_hundred_reports() {
    let report =
        json!({"order_id": "A", "occurred_at": "2026-11-01T00:00:00Z", "kind": "defaulted"});
    assert_eq!(
        fields(&read_reports(&[], now()).expect_err("empty")),
        ["reports"]
    );
    assert_eq!(
        read_reports(&vec![report.clone(); MAX_REPORTS], now())
            .expect("full")
            .len(),
        MAX_REPORTS
    );
    assert!(read_reports(&vec![report; MAX_REPORTS + 1], now()).is_err());
}

#[test]
fn reason_codes_follow_the_rule_of_ids() {
    let code = read_reason_code;
    assert!(code("manual-review").is_ok());
    assert!(code(&"x".repeat(MAX_REASON_CODE_CHARS)).is_ok());
    assert!(code(&"x".repeat(MAX_REASON_CODE_CHARS + 1)).is_err());
    for bad in ["", " padded", "line\nbreak", "bell\u{7}", "rtl\u{202E}"] {
        assert!(code(bad).is_err(), "{bad:?}");
    }
    let report = json!({"order_id": "A-1", "occurred_at": "2026-01-01", "kind": "override",
                        "direction": "blocked_approval", "reason_code": 7});
    let errors = read_reports(&[report], now()).expect_err("a number is no code");
    assert_eq!(
        errors.to_string(),
        "reports[0].reason_code: must be a string"
    );
}

#[test]
fn the_same_order_and_family_twice_in_a_batch_is_named() {
    let report = |decision: DecisionRef, kind: OutcomeKind| OutcomeReport {
        decision,
        occurred_at: now(),
        kind,
    };
    let overridden = OutcomeKind::Override {
        direction: OverrideDirection::BlockedApproval,
        reason_code: "fraud".to_owned(),
    };
    let reports = [
        report(
            DecisionRef::OrderId("A".to_owned()),
            OutcomeKind::PaidOnTime,
        ),
        report(DecisionRef::OrderId("A".to_owned()), overridden),
        report(DecisionRef::OrderId("B".to_owned()), OutcomeKind::Defaulted),
        report(
            DecisionRef::RequestId("r-a".to_owned()),
            OutcomeKind::Defaulted,
        ),
    ];
    // The request id r-a is order A's decision: its repayment twice.
    let errors = repeated_in_batch(&reports, &["A", "A", "B", "A"]);
    assert_eq!(fields(&errors), ["reports[3].request_id"]);
    assert!(
        errors.iter().all(|e| e.reason.contains("reports[0]")),
        "{errors}"
    );
    assert!(repeated_in_batch(&reports[..3], &["A", "A", "B"]).is_empty());
}

#[test]
fn details_are_stored_and_read_back() {
    for kind in [
        OutcomeKind::PaidOnTime,
        OutcomeKind::PaidLate { days_late: 45 },
        OutcomeKind::Defaulted,
        OutcomeKind::WrittenOff,
        OutcomeKind::Override {
            direction: OverrideDirection::BlockedApproval,
            reason_code: "fraud-suspected".to_owned(),
        },
    ] {
        assert_eq!(
            OutcomeKind::from_stored(kind.name(), &kind.details()),
            Some(kind.clone())
        );
    }
    assert_eq!(OutcomeKind::from_stored("paid_late", &json!({})), None);
    assert_eq!(OutcomeKind::from_stored("lost", &json!({})), None);
}

#[test]
fn a_definition_is_read_within_its_ranges() {
    assert_eq!(
        read_definition(&json!(60), &json!(120)),
        Ok(BadDefinition {
            days_past_due: 60,
            within_days: 120
        })
    );
    assert_eq!(
        BadDefinition::default(),
        BadDefinition {
            days_past_due: 90,
            within_days: 180
        }
    );
    let refused =
        |days: Value, within: Value| fields(&read_definition(&days, &within).expect_err("refused"));
    assert_eq!(refused(json!(0), json!(180)), ["days_past_due"]);
    assert_eq!(refused(json!(90), json!(29)), ["within_days"]);
    assert_eq!(refused(json!(90), json!(1096)), ["within_days"]);
    assert_eq!(
        refused(json!(91.5), json!("180")),
        ["days_past_due", "within_days"]
    );
    assert_eq!(
        refused(Value::Null, Value::Null),
        ["days_past_due", "within_days"]
    );
    // A window shorter than the lateness that makes an order bad could never find one.
    assert_eq!(refused(json!(120), json!(60)), ["within_days"]);
    assert!(read_definition(&json!(DAYS_PAST_DUE.end()), &json!(WITHIN_DAYS.end())).is_ok());
}

#[test]
fn a_decision_matures_after_the_window() {
    let definition = BadDefinition::default();
    let decided = at("2026-01-01T00:00:00Z");
    let defaulted = (&OutcomeKind::Defaulted, at("2026-02-01T00:00:00Z"));
    let day_before = at("2026-06-29T23:59:59Z");
    let matured = at("2026-06-30T00:00:00Z");
    assert_eq!(
        judge(definition, decided, day_before, Some(defaulted)),
        Maturity::Immature
    );
    assert!(!Maturity::Immature.is_matured());
    let judged = judge(definition, decided, matured, Some(defaulted));
    assert_eq!(judged, Maturity::Bad);
    assert!(judged.is_matured() && judged.is_bad());
}

#[test]
fn bad_good_and_unknown_by_the_definition() {
    let definition = BadDefinition {
        days_past_due: 60,
        within_days: 90,
    };
    let decided = at("2026-01-01T00:00:00Z");
    let as_of = at("2026-12-01T00:00:00Z");
    let inside = at("2026-03-01T00:00:00Z");
    let after = at("2026-05-01T00:00:00Z");
    let judged = |kind: OutcomeKind, when: DateTime<Utc>| {
        judge(definition, decided, as_of, Some((&kind, when)))
    };
    assert_eq!(judged(OutcomeKind::PaidOnTime, inside), Maturity::Good);
    assert_eq!(
        judged(OutcomeKind::PaidLate { days_late: 59 }, inside),
        Maturity::Good
    );
    assert_eq!(
        judged(OutcomeKind::PaidLate { days_late: 60 }, inside),
        Maturity::Bad
    );
    assert_eq!(
        judged(OutcomeKind::PaidLate { days_late: 200 }, after),
        Maturity::Good
    );
    assert_eq!(judged(OutcomeKind::Defaulted, inside), Maturity::Bad);
    assert_eq!(judged(OutcomeKind::WrittenOff, inside), Maturity::Bad);
    // Clear of the bad event for the whole window.
    assert_eq!(judged(OutcomeKind::Defaulted, after), Maturity::Good);
    // The window's last instant is inside it.
    assert_eq!(
        judged(OutcomeKind::Defaulted, at("2026-04-01T00:00:00Z")),
        Maturity::Bad
    );
    assert_eq!(judge(definition, decided, as_of, None), Maturity::Unknown);
    let overridden = OutcomeKind::Override {
        direction: OverrideDirection::ApprovedRejection,
        reason_code: "vip".to_owned(),
    };
    assert_eq!(judged(overridden, inside), Maturity::Unknown);
    assert!(!Maturity::Unknown.is_bad() && Maturity::Unknown.is_matured());
}
