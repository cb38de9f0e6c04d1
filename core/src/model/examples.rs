//! Training examples: one per order with an outcome, its features assembled as of its issue
//! time with the same code decisions use ([`crate::features::assemble`]).

use super::columns::TrainingColumns;
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
    let columns = TrainingColumns::from_items(customers, credit_limits, bureau_reports, orders);
    let mut out: Vec<(usize, TrainingExample)> = Vec::new();
    for_each_example(&columns, |i, example| {
        out.push((i, example));
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, e)| e).collect()
}

/// The same examples as [`examples`], from columns, handed one at a time with the index of
/// their order in the columns, in no particular order: for callers that cannot hold them all
/// (each is a few KB).
pub fn for_each_example(columns: &TrainingColumns, visit: impl FnMut(usize, TrainingExample)) {
    visit_part(columns, None, visit);
}

/// The same examples as [`for_each_example`], shared among threads, one per visitor: each
/// customer's examples go to visitor [`part_of`]`(customer id, visitors.len())`. Assembling
/// is most of the work and customers are independent of each other.
pub(crate) fn for_each_example_in_parts<V: FnMut(usize, TrainingExample) + Send>(
    columns: &TrainingColumns,
    visitors: &mut [V],
) {
    let parts = visitors.len();
    std::thread::scope(|scope| {
        for (part, visit) in visitors.iter_mut().enumerate() {
            scope.spawn(move || visit_part(columns, Some((part, parts)), visit));
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

/// The examples of the customers in `only` (part, of parts), or of all: one customer at a
/// time, its items made domain items again for as long as its orders take.
fn visit_part(
    columns: &TrainingColumns,
    only: Option<(usize, usize)>,
    mut visit: impl FnMut(usize, TrainingExample),
) {
    for c in 0..columns.customers() {
        let items = columns.customer_items_if(c, |id| {
            only.is_none_or(|(part, parts)| part_of(id, parts) == part)
        });
        let Some(items) = items else {
            continue;
        };
        let customer = items.customer.as_ref();
        let mut before = History::default();
        // Earlier orders that share an id with a later one must not count for it.
        let mut by_order_id: HashMap<&str, History> = HashMap::new();
        let mut start = 0;
        let orders = items.orders;
        while start < orders.len() {
            let at = columns.order_issued_at(orders[start] as usize);
            let end = start
                + orders[start..]
                    .iter()
                    .take_while(|&&i| columns.order_issued_at(i as usize) == at)
                    .count();
            let group: Vec<(usize, Order)> = orders[start..end]
                .iter()
                .map(|&i| (i as usize, columns.order_terms(i as usize)))
                .collect();
            for (i, order) in &group {
                let Some(outcome) = order.outcome else {
                    continue;
                };
                let order_id = columns.order_id(*i);
                let same_id = by_order_id.get(order_id).copied().unwrap_or_default();
                let history = before.minus(&same_id);
                let limit = latest_limit(order, items.limits.iter());
                let report = latest_report(order, items.reports.iter());
                let features = build(order, customer, limit, report, &history);
                visit(
                    *i,
                    TrainingExample {
                        order_id: order_id.to_owned(),
                        issued_at: order.issued_at,
                        features,
                        blocked: outcome == Outcome::Blocked,
                    },
                );
            }
            for (i, order) in &group {
                before.add(order);
                by_order_id
                    .entry(columns.order_id(*i))
                    .or_default()
                    .add(order);
            }
            start = end;
        }
    }
}
