//! The German credit data (1,000 applicants, 30% bad) mapped onto customers and orders.
//! `AVAL_FULL_TRAINING=1` trains with the production settings instead of the quick ones.

use crate::ingest::items::{AttributeValue, Cents, Customer, Order, Outcome};
use crate::model::{TrainingOptions, examples, train};
use chrono::{Duration, TimeZone, Utc};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// In the repository (see its README for the source and licence).
const DATA: &str = "../data/german_credit.csv";

/// Column -> (attribute key, belongs to the customer rather than the order).
const COLUMNS: [(&str, &str, bool); 19] = [
    (
        "status_of_existing_checking_account",
        "checking_account",
        true,
    ),
    ("credit_history", "credit_history", true),
    ("purpose", "purpose", false),
    ("savings_account_and_bonds", "savings", true),
    ("present_employment_since", "employment_since", true),
    (
        "installment_rate_in_percentage_of_disposable_income",
        "installment_rate",
        false,
    ),
    ("personal_status_and_sex", "personal_status", true),
    ("other_debtors_or_guarantors", "other_debtors", false),
    ("present_residence_since", "residence_since", true),
    ("property", "property", true),
    ("age_in_years", "age", true),
    ("other_installment_plans", "other_installment_plans", true),
    ("housing", "housing", true),
    (
        "number_of_existing_credits_at_this_bank",
        "existing_credits",
        true,
    ),
    ("job", "job", true),
    (
        "number_of_people_being_liable_to_provide_maintenance_for",
        "dependents",
        true,
    ),
    ("telephone", "telephone", true),
    ("foreign_worker", "foreign_worker", true),
    ("duration_in_month", "duration_months", false),
];

fn attribute(value: &str) -> AttributeValue {
    value.trim().parse::<f64>().map_or_else(
        |_| AttributeValue::Text(value.trim().to_owned()),
        AttributeValue::Number,
    )
}

fn german() -> (Vec<Customer>, Vec<Order>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DATA);
    let mut reader = csv::Reader::from_path(&path).expect("the German credit data is in data/");
    let headers = reader.headers().expect("a header row").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let start = Utc
        .with_ymd_and_hms(2020, 1, 1, 10, 0, 0)
        .single()
        .expect("a valid date");
    let (mut customers, mut orders) = (Vec::new(), Vec::new());
    for (i, record) in reader.records().enumerate() {
        let record = record.expect("a well-formed row");
        let field = |name: &str| record.get(column(name)).unwrap_or_default();
        let (mut personal, mut deal) = (BTreeMap::new(), BTreeMap::new());
        for (name, key, personal_column) in COLUMNS {
            let target = if personal_column {
                &mut personal
            } else {
                &mut deal
            };
            target.insert(key.to_owned(), attribute(field(name)));
        }
        let months: u32 = field("duration_in_month").parse().expect("a duration");
        let amount: i64 = field("credit_amount").parse().expect("an amount");
        customers.push(Customer {
            id: format!("C{i}"),
            document: None,
            simples_nacional: None,
            mei: None,
            final_consumer: None,
            founded_on: None,
            state: None,
            attributes: personal,
        });
        orders.push(Order {
            id: format!("O{i}"),
            customer_id: format!("C{i}"),
            issued_at: start + Duration::days(i as i64),
            amount: Cents(amount * 100),
            payment_term_days: Some(months * 30),
            installments: Some(months),
            attributes: deal,
            outcome: Some(match field("creditability") {
                "bad" => Outcome::Blocked,
                _ => Outcome::Approved,
            }),
        });
    }
    (customers, orders)
}

#[test]
fn german_credit_trains_a_useful_model() {
    let (customers, orders) = german();
    assert_eq!(orders.len(), 1_000);
    let data = examples(&customers, &[], &[], &orders);
    assert_eq!(data.iter().filter(|e| e.blocked).count(), 300);
    let options = if std::env::var_os("AVAL_FULL_TRAINING").is_some() {
        TrainingOptions::default()
    } else {
        TrainingOptions::quick()
    };
    let started = Instant::now();
    let model = train(&data, &options).expect("German credit trains");
    let elapsed = started.elapsed();
    let m = &model.metrics;
    eprintln!(
        "German credit: trained in {elapsed:.2?}, chosen {}",
        m.chosen
    );
    for c in &m.candidates {
        eprintln!(
            "  {:<20} validation AUC {:.4}  holdout AUC {:.4}  {:.2}s",
            c.learner.as_str(),
            c.validation_auc,
            c.holdout_auc,
            c.seconds
        );
    }
    eprintln!("  holdout: {:?}", m.holdout);
    eprintln!("  top features: {:?}", &m.feature_importance[..5]);
    eprintln!("  monotonicity: {:?}", m.monotonicity_violations);
    assert_eq!((m.training_examples, m.holdout_examples), (800, 200));
    assert!(
        m.holdout.roc_auc >= 0.70,
        "holdout AUC {}",
        m.holdout.roc_auc
    );
    for c in &m.candidates {
        assert!(c.failure.is_none(), "{c:?}");
        assert!(c.validation_auc > 0.6, "{c:?}");
    }
}
