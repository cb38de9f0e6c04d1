//! Training examples: one per order with an outcome, its features assembled as of its issue
//! time with the same code decisions use ([`crate::features::assemble`]).

use crate::features::{History, RawFeatures, build, latest_limit, latest_report};
use crate::ingest::items::{BureauReport, CreditLimit, Customer, Order, Outcome};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingExample {
    pub order_id: String,
    pub issued_at: DateTime<Utc>,
    pub features: RawFeatures,
    pub blocked: bool,
}

#[derive(Default)]
struct Group<'a> {
    limits: Vec<&'a CreditLimit>,
    reports: Vec<&'a BureauReport>,
    orders: Vec<(usize, &'a Order)>,
}

/// Groups the dataset by customer and assembles one example per order with an outcome, in the
/// order the orders were given. Same features as `assemble(order, facts)` with all of the
/// customer's facts; the history of earlier orders is accumulated once per customer instead of
/// rescanned per order, so a million orders stay linear.
pub fn examples(
    customers: &[Customer],
    credit_limits: &[CreditLimit],
    bureau_reports: &[BureauReport],
    orders: &[Order],
) -> Vec<TrainingExample> {
    let mut out: Vec<(usize, TrainingExample)> = Vec::new();
    for_each_example(
        customers,
        credit_limits,
        bureau_reports,
        orders,
        |i, example| {
            out.push((i, example));
        },
    );
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, e)| e).collect()
}

/// The same examples as [`examples`], handed one at a time with the index of their order in
/// `orders`, in no particular order: for callers that cannot hold them all (each is a few KB).
pub fn for_each_example(
    customers: &[Customer],
    credit_limits: &[CreditLimit],
    bureau_reports: &[BureauReport],
    orders: &[Order],
    visit: impl FnMut(usize, TrainingExample),
) {
    visit_part(
        customers,
        credit_limits,
        bureau_reports,
        orders,
        None,
        visit,
    );
}

/// The same examples as [`for_each_example`], shared among threads, one per visitor: each
/// customer's examples go to visitor [`part_of`]`(customer id, visitors.len())`. Assembling
/// is most of the work and customers are independent of each other.
pub(crate) fn for_each_example_in_parts<V: FnMut(usize, TrainingExample) + Send>(
    customers: &[Customer],
    credit_limits: &[CreditLimit],
    bureau_reports: &[BureauReport],
    orders: &[Order],
    visitors: &mut [V],
) {
    let parts = visitors.len();
    std::thread::scope(|scope| {
        for (part, visit) in visitors.iter_mut().enumerate() {
            scope.spawn(move || {
                let only = Some((part, parts));
                visit_part(
                    customers,
                    credit_limits,
                    bureau_reports,
                    orders,
                    only,
                    visit,
                );
            });
        }
    });
}

/// Which of `parts` a customer's examples go to: any fixed spread will do (FNV-1a).
pub(crate) fn part_of(customer_id: &str, parts: usize) -> usize {
    let hash = customer_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % parts.max(1) as u64) as usize
}

/// The examples of the customers in `only` (part, of parts), or of all.
fn visit_part(
    customers: &[Customer],
    credit_limits: &[CreditLimit],
    bureau_reports: &[BureauReport],
    orders: &[Order],
    only: Option<(usize, usize)>,
    mut visit: impl FnMut(usize, TrainingExample),
) {
    let mine =
        |customer_id: &str| only.is_none_or(|(part, parts)| part_of(customer_id, parts) == part);
    let by_id: HashMap<&str, &Customer> = customers
        .iter()
        .filter(|c| mine(&c.id))
        .map(|c| (c.id.as_str(), c))
        .collect();
    let mut groups: HashMap<&str, Group<'_>> = HashMap::new();
    for limit in credit_limits.iter().filter(|l| mine(&l.customer_id)) {
        groups
            .entry(&limit.customer_id)
            .or_default()
            .limits
            .push(limit);
    }
    for report in bureau_reports.iter().filter(|r| mine(&r.customer_id)) {
        groups
            .entry(&report.customer_id)
            .or_default()
            .reports
            .push(report);
    }
    for (i, order) in orders.iter().enumerate() {
        if !mine(&order.customer_id) {
            continue;
        }
        groups
            .entry(&order.customer_id)
            .or_default()
            .orders
            .push((i, order));
    }

    for (customer_id, mut group) in groups {
        let customer = by_id.get(customer_id).copied();
        // Stable: among equal times the given order decides, as in `assemble`.
        group.orders.sort_by_key(|(_, o)| o.issued_at);
        let mut before = History::default();
        // Earlier orders that share an id with a later one must not count for it.
        let mut by_order_id: HashMap<&str, History> = HashMap::new();
        let mut start = 0;
        while start < group.orders.len() {
            let at = group.orders[start].1.issued_at;
            let end = start
                + group.orders[start..]
                    .iter()
                    .take_while(|(_, o)| o.issued_at == at)
                    .count();
            for &(i, order) in &group.orders[start..end] {
                let Some(outcome) = order.outcome else {
                    continue;
                };
                let same_id = by_order_id
                    .get(order.id.as_str())
                    .copied()
                    .unwrap_or_default();
                let history = before.minus(&same_id);
                let limit = latest_limit(order, group.limits.iter().copied());
                let report = latest_report(order, group.reports.iter().copied());
                let features = build(order, customer, limit, report, &history);
                visit(
                    i,
                    TrainingExample {
                        order_id: order.id.clone(),
                        issued_at: order.issued_at,
                        features,
                        blocked: outcome == Outcome::Blocked,
                    },
                );
            }
            for &(_, order) in &group.orders[start..end] {
                before.add(order);
                by_order_id.entry(order.id.as_str()).or_default().add(order);
            }
            start = end;
        }
    }
}
