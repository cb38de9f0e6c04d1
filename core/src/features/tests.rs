use super::*;
use crate::ingest::items::{
    AttributeValue, Cents, NegativeRecord, Negatives, Outcome, PaymentHabits,
};
use crate::model::examples;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, day, hour, 0, 0)
        .single()
        .expect("a valid date")
}

fn customer() -> Customer {
    Customer {
        id: "C1".into(),
        document: Some("11222333000181".into()),
        simples_nacional: Some(true),
        mei: None,
        final_consumer: Some(false),
        founded_on: NaiveDate::from_ymd_opt(2014, 3, 10),
        state: Some("SP".into()),
        attributes: [
            ("segment".to_owned(), AttributeValue::Text("retail".into())),
            ("employees".to_owned(), AttributeValue::Number(12.0)),
            ("exporter".to_owned(), AttributeValue::Flag(true)),
        ]
        .into(),
    }
}

fn limit(day: u32, reais: i64) -> CreditLimit {
    CreditLimit {
        customer_id: "C1".into(),
        limit: Cents(reais * 100),
        valid_from: NaiveDate::from_ymd_opt(2024, 3, day).expect("a valid date"),
    }
}

fn report(when: DateTime<Utc>, pefin: u32, score: i32) -> BureauReport {
    BureauReport {
        customer_id: "C1".into(),
        queried_at: when,
        inquiries: Some(4),
        score: Some(score),
        payment_habits: Some(PaymentHabits {
            on_time: Some(0.8),
            late_8_15: Some(0.1),
            late_16_30: Some(0.05),
            ..PaymentHabits::default()
        }),
        supplier_relationships: None,
        negatives: Some(Negatives {
            pefin: Some(NegativeRecord {
                count: Some(pefin),
                total: Some(Cents(120_000)),
            }),
            bankruptcy: Some(NegativeRecord {
                count: Some(0),
                total: None,
            }),
            ..Negatives::default()
        }),
    }
}

fn order(id: &str, when: DateTime<Utc>, reais: i64, outcome: Option<Outcome>) -> Order {
    Order {
        id: id.into(),
        customer_id: "C1".into(),
        issued_at: when,
        amount: Cents(reais * 100),
        payment_term_days: Some(30),
        installments: None,
        attributes: [(
            "channel".to_owned(),
            AttributeValue::Text("sales_rep".into()),
        )]
        .into(),
        outcome,
    }
}

fn number(f: &RawFeatures, name: &str) -> f64 {
    f.get(name)
        .as_number()
        .unwrap_or_else(|| panic!("{name} should be a number: {f:?}"))
}

#[test]
fn facts_known_at_the_order_and_only_those() {
    let target = order("O3", at(10, 12), 15_000, Some(Outcome::Approved));
    let known = CustomerFacts {
        customer: Some(customer()),
        credit_limits: vec![limit(1, 50_000), limit(10, 30_000)],
        bureau_reports: vec![report(at(2, 9), 1, 650), report(at(10, 12), 2, 600)],
        orders: vec![
            order("O1", at(3, 9), 1_000, Some(Outcome::Blocked)),
            order("O2", at(4, 9), 3_000, Some(Outcome::Approved)),
            order("O0", at(5, 9), 500, None),
            target.clone(),
        ],
    };
    let f = assemble(&target, &known);
    assert_eq!(
        number(&f, "limit.total"),
        30_000.0,
        "a limit valid from the order's day counts"
    );
    assert_eq!(number(&f, "terms.amount_to_limit"), 0.5);
    assert_eq!(
        number(&f, "bureau.score"),
        600.0,
        "a report queried at the same instant counts"
    );
    assert_eq!(number(&f, "bureau.negatives.pefin.count"), 2.0);
    assert_eq!(number(&f, "bureau.negatives.pefin.total"), 1_200.0);
    assert_eq!(
        number(&f, "bureau.negatives.bankruptcy.total"),
        0.0,
        "no records are worth 0"
    );
    assert_eq!(
        f.get("bureau.negatives.refin.count"),
        &FeatureValue::Missing
    );
    assert_eq!(number(&f, "bureau.negatives.count"), 2.0);
    assert!((number(&f, "bureau.late_share") - 0.15).abs() < 1e-12);
    assert_eq!(
        number(&f, "history.orders"),
        3.0,
        "this order is not its own history"
    );
    assert_eq!(number(&f, "history.amount"), 4_500.0);
    assert_eq!(
        number(&f, "history.blocked_share"),
        0.5,
        "orders without outcome are not counted"
    );
    assert!((number(&f, "profile.age_years") - 10.0).abs() < 0.01);
    assert_eq!(f.get("profile.state"), &FeatureValue::Category("SP".into()));
    assert_eq!(
        f.get("profile.document"),
        &FeatureValue::Category("cnpj".into())
    );
    assert_eq!(
        f.get("profile.mei"),
        &FeatureValue::Missing,
        "unknown stays missing"
    );
    assert_eq!(number(&f, "profile.simples_nacional"), 1.0);
    assert_eq!(
        f.get("customer.segment"),
        &FeatureValue::Category("retail".into())
    );
    assert_eq!(number(&f, "customer.exporter"), 1.0);
    assert_eq!(
        f.get("order.channel"),
        &FeatureValue::Category("sales_rep".into())
    );
    assert_eq!(f.get("terms.installments"), &FeatureValue::Missing);

    // What happens later, or to other customers, never reaches back.
    let mut later = known.clone();
    later.credit_limits.push(limit(11, 1_000));
    later
        .bureau_reports
        .push(report(at(10, 12) + Duration::seconds(1), 9, 100));
    later
        .orders
        .push(order("O4", at(10, 12), 99_000, Some(Outcome::Blocked)));
    later
        .orders
        .push(order("O5", at(20, 9), 99_000, Some(Outcome::Blocked)));
    let mut stranger = order("X1", at(1, 9), 99_000, Some(Outcome::Blocked));
    stranger.customer_id = "C2".into();
    later.orders.push(stranger);
    let mut other_limit = limit(2, 1);
    other_limit.customer_id = "C2".into();
    later.credit_limits.push(other_limit);
    assert_eq!(assemble(&target, &later), f);
}

#[test]
fn repricing_is_assembling_at_another_amount() {
    let with_limit = CustomerFacts {
        customer: Some(customer()),
        credit_limits: vec![limit(1, 50_000)],
        bureau_reports: vec![report(at(2, 9), 1, 650)],
        orders: vec![order("O1", at(3, 9), 1_000, Some(Outcome::Blocked))],
    };
    for facts in [with_limit, CustomerFacts::default()] {
        let asked = order("O2", at(10, 12), 15_000, None);
        let mut repriced = assemble(&asked, &facts);
        for cents in [1, 123_456, 900_000_000] {
            reprice(&mut repriced, Cents(cents));
            let mut cheaper = asked.clone();
            cheaper.amount = Cents(cents);
            assert_eq!(repriced, assemble(&cheaper, &facts), "{cents} cents");
        }
    }
}

#[test]
fn nothing_known_gives_missing_not_zero() {
    let lone = order("O1", at(10, 12), 100, None);
    let f = assemble(&lone, &CustomerFacts::default());
    for name in [
        "limit.total",
        "terms.amount_to_limit",
        "bureau.score",
        "bureau.late_share",
        "bureau.negatives.count",
        "profile.age_years",
        "history.blocked_share",
    ] {
        assert_eq!(f.get(name), &FeatureValue::Missing, "{name}");
    }
    assert_eq!(number(&f, "history.orders"), 0.0);
    assert_eq!(number(&f, "terms.amount"), 100.0);
}

#[test]
fn training_examples_match_assembly_order_by_order() {
    // Several orders share instants and one id repeats, the cases the incremental history
    // must get exactly as `assemble` does.
    let mut orders = Vec::new();
    for k in 0..40u32 {
        let outcome = match k % 3 {
            0 => Some(Outcome::Blocked),
            1 => Some(Outcome::Approved),
            _ => None,
        };
        let id = if k == 30 {
            "O5".to_owned()
        } else {
            format!("O{k}")
        };
        let mut o = order(
            &id,
            at(1 + k / 4, 8 + k % 2),
            1_000 + i64::from(k) * 37,
            outcome,
        );
        if k % 7 == 0 {
            o.customer_id = "C2".into();
        }
        orders.push(o);
    }
    let limits = vec![limit(3, 20_000), limit(6, 40_000)];
    let reports = vec![report(at(2, 8), 0, 700), report(at(5, 9), 3, 500)];
    let mut other = customer();
    other.id = "C2".into();
    let customers = vec![customer(), other];
    let built = examples(&customers, &limits, &reports, &orders);
    let labelled: Vec<&Order> = orders.iter().filter(|o| o.outcome.is_some()).collect();
    assert_eq!(built.len(), labelled.len());
    for (example, order) in built.iter().zip(labelled) {
        let facts = CustomerFacts {
            customer: customers
                .iter()
                .find(|c| c.id == order.customer_id)
                .cloned(),
            credit_limits: limits.clone(),
            bureau_reports: reports.clone(),
            orders: orders.clone(),
        };
        assert_eq!(example.order_id, order.id);
        assert_eq!(example.blocked, order.outcome == Some(Outcome::Blocked));
        assert_eq!(
            example.features,
            assemble(order, &facts),
            "order {}",
            order.id
        );
    }
}

#[test]
fn feature_values_travel_as_plain_json() {
    let f = RawFeatures(
        [
            ("a".to_owned(), FeatureValue::Number(3.0)),
            ("b".to_owned(), FeatureValue::Category("x".into())),
            ("c".to_owned(), FeatureValue::Missing),
        ]
        .into(),
    );
    let json = serde_json::to_string(&f).expect("serialises");
    assert_eq!(json, r#"{"a":3.0,"b":"x","c":null}"#);
    let back: RawFeatures = serde_json::from_str(r#"{"a":3,"b":"x","c":null}"#).expect("parses");
    assert_eq!(back, f);
    assert_eq!(FeatureValue::number(f64::NAN), FeatureValue::Missing);
}

#[test]
fn known_directions() {
    assert_eq!(
        direction("bureau.negatives.pefin.count"),
        Some(Direction::RaisesRisk)
    );
    assert_eq!(
        direction("bureau.late_over_60"),
        Some(Direction::RaisesRisk)
    );
    assert_eq!(direction("bureau.inquiries"), Some(Direction::RaisesRisk));
    assert_eq!(
        direction("terms.amount_to_limit"),
        Some(Direction::RaisesRisk)
    );
    assert_eq!(direction("bureau.score"), Some(Direction::LowersRisk));
    assert_eq!(direction("terms.amount"), None);
    assert_eq!(direction("customer.late_payments"), None);
}
