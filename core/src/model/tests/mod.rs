//! Model tests on a synthetic portfolio with a known rule, and on real public credit data.

mod columns;
mod compare;
mod german;
mod large;
mod learners;
mod progress;
mod rules;

use crate::ingest::items::{
    AttributeValue, BureauReport, Cents, CreditLimit, Customer, NegativeRecord, Negatives, Order,
    Outcome,
};
use crate::model::{TrainingExample, examples};
use chrono::{Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEGMENTS: [&str; 4] = ["retail", "industry", "services", "construction"];

/// A company's upload: customers, credit limits, bureau reports, orders.
pub(super) type Dataset = (
    Vec<Customer>,
    Vec<CreditLimit>,
    Vec<BureauReport>,
    Vec<Order>,
);

/// Examples of [`synthetic_dataset`].
pub(super) fn synthetic(orders: usize, seed: u64) -> Vec<TrainingExample> {
    let (customers, limits, reports, orders) = synthetic_dataset(orders, seed);
    examples(&customers, &limits, &reports, &orders)
}

/// `orders` orders of a portfolio where PEFIN records, amount ÷ limit, a low score and the
/// construction segment raise the risk.
pub(super) fn synthetic_dataset(orders: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = Utc
        .with_ymd_and_hms(2024, 1, 1, 9, 0, 0)
        .single()
        .expect("a valid date");
    let customers_n = (orders / 5).max(1);
    let mut customers = Vec::new();
    let mut limits = Vec::new();
    let mut reports = Vec::new();
    let mut risk = Vec::new();
    for c in 0..customers_n {
        let id = format!("C{c}");
        let segment = SEGMENTS[rng.gen_range(0..SEGMENTS.len())];
        let pefin: u32 = if rng.gen_bool(0.3) {
            rng.gen_range(1..5)
        } else {
            0
        };
        let score: i32 = rng.gen_range(300..900);
        customers.push(Customer {
            id: id.clone(),
            document: None,
            simples_nacional: Some(rng.gen_bool(0.5)),
            mei: None,
            final_consumer: None,
            founded_on: None,
            state: Some(if rng.gen_bool(0.5) { "SP" } else { "MG" }.into()),
            attributes: [("segment".to_owned(), AttributeValue::Text(segment.into()))].into(),
        });
        let limit = rng.gen_range(10_000..100_000i64);
        limits.push(CreditLimit {
            customer_id: id.clone(),
            limit: Cents(limit * 100),
            valid_from: start.date_naive(),
        });
        reports.push(BureauReport {
            customer_id: id,
            queried_at: start,
            inquiries: Some(rng.gen_range(0..10)),
            score: Some(score),
            payment_habits: None,
            supplier_relationships: None,
            negatives: Some(Negatives {
                pefin: Some(NegativeRecord {
                    count: Some(pefin),
                    total: None,
                }),
                ..Negatives::default()
            }),
        });
        let segment_risk = if segment == "construction" { 1.0 } else { 0.0 };
        risk.push((
            limit,
            -1.0 + 0.9 * f64::from(pefin) - 0.006 * f64::from(score - 600) + segment_risk,
        ));
    }
    let mut all_orders = Vec::new();
    for k in 0..orders {
        let c = rng.gen_range(0..customers_n);
        let (limit, base) = risk[c];
        let amount = rng.gen_range(1_000..(limit * 12 / 10));
        let logit = base + 2.5 * (amount as f64 / limit as f64 - 0.5);
        let blocked = rng.gen_bool(1.0 / (1.0 + (-logit).exp()));
        all_orders.push(Order {
            id: format!("O{k}"),
            customer_id: format!("C{c}"),
            issued_at: start + Duration::hours(k as i64 + 1),
            amount: Cents(amount * 100),
            payment_term_days: Some(*[30, 60, 90].get(rng.gen_range(0..3)).unwrap_or(&30)),
            installments: Some(rng.gen_range(1..4)),
            attributes: Default::default(),
            outcome: Some(if blocked {
                Outcome::Blocked
            } else {
                Outcome::Approved
            }),
        });
    }
    (customers, limits, reports, all_orders)
}
