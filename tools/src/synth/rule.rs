//! The HIDDEN RISK RULE: the ground truth that decides each synthetic order's outcome, and so
//! what a good model trained on the synthetic data should recover.
//!
//! It only reads facts the dataset itself holds, as they stand AT THE ORDER'S ISSUE TIME: the
//! customer's written fields (a field left out of the file counts as unknown here too), the
//! latest credit limit with `valid_from <= issued_at` (by date) and the latest bureau report
//! with `queried_at <= issued_at`; never a later one.
//!
//! ```text
//! z = INTERCEPT (−3.1)
//!   + 0.80·ln(1 + pefin.count) + 0.60·ln(1 + refin.count) + 0.70·ln(1 + overdue_debts.count)
//!   + 0.15·ln(1 + (pefin.total + refin.total + overdue_debts.total) / 1000 BRL)
//!   + 2.00·[bankruptcy.count + bankruptcy_participation.count > 0]
//!   + 0.40·min(bounced_cheques.count + represented_cheques.count, 3)
//!   + 1.00·late_8_15 + 3.00·(late_16_30 + late_31_60) + 5.00·late_over_60
//!   − 0.006·(score − 600)                        (0 when the score is unknown)
//!   + 1.50·ln(1 + amount/limit) + 2.00·max(0, amount/limit − 1)
//!   + 0.015·max(0, payment_term_days − 30)
//!   + segment: agro +0.30, retail +0.20, services +0.10, wholesale 0, industry −0.20
//!   − 0.60·[has_guarantee]
//!   + 0.30·[channel = e-commerce]
//!   + 1.20·[no credit limit as of the order]     (and then no amount/limit terms)
//!   + 0.70·[no bureau report as of the order]    (and then no bureau terms)
//! p(blocked) = 1 / (1 + e^(−z));   blocked  ⇔  u < p,  u ~ Uniform(0, 1) drawn per order
//! ```
//! Unknown facts inside a report (no payment habits, no negatives) contribute 0.

use super::wire::{BureauReport, CreditLimit, Customer, Money};

/// Chosen so that about a fifth of the orders are blocked with the generator's distributions.
pub(super) const INTERCEPT: f64 = -3.1;

/// The order facts the rule reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct OrderFacts<'a> {
    pub amount: Money,
    pub payment_term_days: Option<u32>,
    pub channel: Option<&'a str>,
}

/// The log-odds of `blocked` for an order with these as-of facts.
pub(super) fn blocked_log_odds(
    customer: &Customer,
    limit: Option<&CreditLimit>,
    report: Option<&BureauReport>,
    order: OrderFacts<'_>,
) -> f64 {
    let mut z = INTERCEPT;

    match report {
        None => z += 0.70,
        Some(report) => {
            if let Some(n) = &report.negatives {
                z += 0.80 * f64::from(n.pefin.count).ln_1p()
                    + 0.60 * f64::from(n.refin.count).ln_1p()
                    + 0.70 * f64::from(n.overdue_debts.count).ln_1p();
                let total = Money(n.pefin.total.0 + n.refin.total.0 + n.overdue_debts.total.0);
                z += 0.15 * (total.reais() / 1000.0).ln_1p();
                if n.bankruptcy.count + n.bankruptcy_participation.count > 0 {
                    z += 2.00;
                }
                z += 0.40
                    * f64::from((n.bounced_cheques.count + n.represented_cheques.count).min(3));
            }
            if let Some(h) = &report.payment_habits {
                z += 1.00 * h.late_8_15.value()
                    + 3.00 * (h.late_16_30.value() + h.late_31_60.value())
                    + 5.00 * h.late_over_60.value();
            }
            if let Some(score) = report.score {
                z -= 0.006 * (f64::from(score) - 600.0);
            }
        }
    }

    match limit {
        Some(limit) if limit.limit.0 > 0 => {
            let ratio = order.amount.reais() / limit.limit.reais();
            z += 1.50 * ratio.ln_1p() + 2.00 * (ratio - 1.0).max(0.0);
        }
        _ => z += 1.20,
    }

    if let Some(term) = order.payment_term_days {
        z += 0.015 * f64::from(term.saturating_sub(30));
    }
    z += match customer.attributes.segment {
        Some("agro") => 0.30,
        Some("retail") => 0.20,
        Some("services") => 0.10,
        Some("industry") => -0.20,
        _ => 0.0,
    };
    if customer.attributes.has_guarantee == Some(true) {
        z -= 0.60;
    }
    if order.channel == Some("e-commerce") {
        z += 0.30;
    }
    z
}

/// The latest item dated at or before `at`, from items sorted by date.
pub(super) fn as_of<T, K: Ord>(sorted: &[T], at: K, date: impl Fn(&T) -> K) -> Option<&T> {
    let after = sorted.partition_point(|item| date(item) <= at);
    after.checked_sub(1).map(|i| &sorted[i])
}

#[cfg(test)]
mod tests {
    use super::super::wire::*;
    use super::*;

    fn customer() -> Customer {
        Customer {
            id: "C1".into(),
            document: None,
            simples_nacional: None,
            mei: None,
            final_consumer: None,
            founded_on: None,
            state: None,
            attributes: CustomerAttributes::default(),
        }
    }

    fn report(pefin: u32, score: Option<u32>) -> BureauReport {
        let negatives = Negatives {
            pefin: CountAndTotal {
                count: pefin,
                total: Money(i64::from(pefin) * 150_000),
            },
            ..Negatives::default()
        };
        BureauReport {
            customer_id: "C1".into(),
            queried_at: Timestamp(0),
            inquiries: None,
            score,
            payment_habits: None,
            supplier_relationships: None,
            negatives: Some(negatives),
        }
    }

    #[test]
    fn negatives_low_scores_and_large_amounts_raise_the_risk() {
        let c = customer();
        let date = Date(chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"));
        let limit = CreditLimit {
            customer_id: "C1".into(),
            limit: Money(1_000_000),
            valid_from: date,
        };
        let order = |cents| OrderFacts {
            amount: Money(cents),
            payment_term_days: Some(30),
            channel: None,
        };
        let clean = blocked_log_odds(
            &c,
            Some(&limit),
            Some(&report(0, Some(800))),
            order(100_000),
        );
        let pefin = blocked_log_odds(
            &c,
            Some(&limit),
            Some(&report(3, Some(800))),
            order(100_000),
        );
        let low_score = blocked_log_odds(
            &c,
            Some(&limit),
            Some(&report(0, Some(300))),
            order(100_000),
        );
        let big = blocked_log_odds(
            &c,
            Some(&limit),
            Some(&report(0, Some(800))),
            order(2_000_000),
        );
        let no_limit = blocked_log_odds(&c, None, Some(&report(0, Some(800))), order(100_000));
        assert!(pefin > clean && low_score > clean && big > clean && no_limit > clean);
    }

    #[test]
    fn as_of_never_looks_into_the_future() {
        let dated = [1, 5, 9];
        assert_eq!(as_of(&dated, 0, |d| *d), None);
        assert_eq!(as_of(&dated, 1, |d| *d), Some(&1));
        assert_eq!(as_of(&dated, 8, |d| *d), Some(&5));
        assert_eq!(as_of(&dated, 100, |d| *d), Some(&9));
    }
}
