//! A company's training data as compact columns: what a training holds instead of one domain
//! struct per item. Customer ids and text values are interned (`u32`), order ids laid end to
//! end in one string, attributes kept as (name, value) cells in one array, bureau reports as
//! fixed arrays. At ten million orders the domain structs took about 800 bytes an order
//! (mostly each order's attribute map); these take about 90.
//!
//! Examples are assembled from the columns one customer at a time: that customer's items
//! become domain items again, briefly, so features go through the one `features::build` that
//! decisions use too.

use crate::ingest::items::{
    AttributeValue, Attributes, BureauReport, Cents, CreditLimit, Customer, NegativeRecord,
    Negatives, Order, Outcome, PaymentHabits, SupplierRelationships,
};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;

/// Strings laid end to end: one allocation for millions of ids.
#[derive(Debug, Clone, Default)]
struct Strings {
    text: String,
    ends: Vec<usize>,
}

impl Strings {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Each distinct string once, numbered in order of first appearance.
#[derive(Debug, Default)]
struct Interner {
    strings: Strings,
    index: HashMap<Box<str>, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        self.strings.push(s);
        self.index.insert(s.into(), i);
        i
    }
}

/// An attribute's value, its text interned.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Number(f64),
    Text(u32),
    Flag(bool),
}

/// A customer without its id (the slot is the id) and with its attributes as cells.
#[derive(Debug, Clone)]
struct CustomerFields {
    document: Option<Box<str>>,
    simples_nacional: Option<bool>,
    mei: Option<bool>,
    final_consumer: Option<bool>,
    founded_on: Option<NaiveDate>,
    state: Option<u32>,
    attributes: Box<[(u32, Cell)]>,
}

/// A bureau report as fixed arrays: NaN, `u32::MAX` and `i64::MIN` stand for "not given"
/// (none can be a validated value), and `present` has one bit per optional group: payment
/// habits, supplier relationships, negatives, then each kind of negative record.
#[derive(Debug, Clone)]
struct Report {
    customer: u32,
    queried_at: DateTime<Utc>,
    inquiries: Option<u32>,
    score: Option<i32>,
    present: u16,
    habits: [f64; 6],
    suppliers: [u32; 7],
    negative_counts: [u32; 7],
    negative_totals: [i64; 7],
}

const HABITS: u16 = 1;
const SUPPLIERS: u16 = 2;
const NEGATIVES: u16 = 4;
const FIRST_NEGATIVE: u16 = 8;

fn pack_f64(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}
fn unpack_f64(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}
fn pack_u32(v: Option<u32>) -> u32 {
    v.unwrap_or(u32::MAX)
}
fn unpack_u32(v: u32) -> Option<u32> {
    (v != u32::MAX).then_some(v)
}

impl Report {
    fn new(customer: u32, r: &BureauReport) -> Report {
        let mut present = 0;
        let mut habits = [f64::NAN; 6];
        if let Some(h) = &r.payment_habits {
            present |= HABITS;
            habits = [
                h.on_time,
                h.cash,
                h.late_8_15,
                h.late_16_30,
                h.late_31_60,
                h.late_over_60,
            ]
            .map(pack_f64);
        }
        let mut suppliers = [u32::MAX; 7];
        if let Some(s) = &r.supplier_relationships {
            present |= SUPPLIERS;
            suppliers = [
                s.m0_6, s.m6_12, s.y1_3, s.y3_5, s.y5_10, s.y10_plus, s.inactive,
            ]
            .map(pack_u32);
        }
        let mut negative_counts = [u32::MAX; 7];
        let mut negative_totals = [i64::MIN; 7];
        if let Some(n) = &r.negatives {
            present |= NEGATIVES;
            for (k, record) in n.records().into_iter().enumerate() {
                if let Some(record) = record {
                    present |= FIRST_NEGATIVE << k;
                    negative_counts[k] = pack_u32(record.count);
                    negative_totals[k] = record.total.map_or(i64::MIN, |c| c.0);
                }
            }
        }
        Report {
            customer,
            queried_at: r.queried_at,
            inquiries: r.inquiries,
            score: r.score,
            present,
            habits,
            suppliers,
            negative_counts,
            negative_totals,
        }
    }

    fn item(&self, customer_id: &str) -> BureauReport {
        let h = self.habits.map(unpack_f64);
        let s = self.suppliers.map(unpack_u32);
        let record = |k: usize| {
            (self.present & (FIRST_NEGATIVE << k) != 0).then(|| NegativeRecord {
                count: unpack_u32(self.negative_counts[k]),
                total: (self.negative_totals[k] != i64::MIN)
                    .then(|| Cents(self.negative_totals[k])),
            })
        };
        BureauReport {
            customer_id: customer_id.to_owned(),
            queried_at: self.queried_at,
            inquiries: self.inquiries,
            score: self.score,
            payment_habits: (self.present & HABITS != 0).then(|| PaymentHabits {
                on_time: h[0],
                cash: h[1],
                late_8_15: h[2],
                late_16_30: h[3],
                late_31_60: h[4],
                late_over_60: h[5],
            }),
            supplier_relationships: (self.present & SUPPLIERS != 0).then(|| {
                SupplierRelationships {
                    m0_6: s[0],
                    m6_12: s[1],
                    y1_3: s[2],
                    y3_5: s[3],
                    y5_10: s[4],
                    y10_plus: s[5],
                    inactive: s[6],
                }
            }),
            negatives: (self.present & NEGATIVES != 0).then(|| Negatives {
                pefin: record(0),
                refin: record(1),
                overdue_debts: record(2),
                bankruptcy: record(3),
                bounced_cheques: record(4),
                represented_cheques: record(5),
                bankruptcy_participation: record(6),
            }),
        }
    }
}

/// One order's fields, borrowed: what a reader streaming rows hands over without building an
/// [`Order`].
#[derive(Debug, Clone, Copy)]
pub struct OrderFields<'a> {
    pub id: &'a str,
    pub customer_id: &'a str,
    pub issued_at: DateTime<Utc>,
    pub amount: Cents,
    pub payment_term_days: Option<u32>,
    pub installments: Option<u32>,
    pub attributes: &'a Attributes,
    pub outcome: Option<Outcome>,
}

impl<'a> From<&'a Order> for OrderFields<'a> {
    fn from(o: &'a Order) -> Self {
        OrderFields {
            id: &o.id,
            customer_id: &o.customer_id,
            issued_at: o.issued_at,
            amount: o.amount,
            payment_term_days: o.payment_term_days,
            installments: o.installments,
            attributes: &o.attributes,
            outcome: o.outcome,
        }
    }
}

/// The orders, one entry per order in each column.
#[derive(Debug, Default)]
struct Orders {
    ids: Strings,
    customer: Vec<u32>,
    issued_at: Vec<DateTime<Utc>>,
    amount: Vec<Cents>,
    payment_term_days: Vec<Option<u32>>,
    installments: Vec<Option<u32>>,
    outcome: Vec<Option<Outcome>>,
    /// Where each order's attribute cells end in `cells`.
    attribute_ends: Vec<u32>,
    cells: Vec<(u32, Cell)>,
}

impl Orders {
    fn attributes(&self, i: usize) -> &[(u32, Cell)] {
        let start = if i == 0 {
            0
        } else {
            self.attribute_ends[i - 1] as usize
        };
        &self.cells[start..self.attribute_ends[i] as usize]
    }

    fn len(&self) -> usize {
        self.customer.len()
    }

    /// The orders at `keep`, in that order.
    fn gather(&self, keep: &[u32]) -> Orders {
        let mut out = Orders::default();
        for &i in keep {
            let i = i as usize;
            out.ids.push(self.ids.get(i));
            out.customer.push(self.customer[i]);
            out.issued_at.push(self.issued_at[i]);
            out.amount.push(self.amount[i]);
            out.payment_term_days.push(self.payment_term_days[i]);
            out.installments.push(self.installments[i]);
            out.outcome.push(self.outcome[i]);
            out.cells.extend_from_slice(self.attributes(i));
            out.attribute_ends
                .push(u32::try_from(out.cells.len()).unwrap_or(u32::MAX));
        }
        out
    }
}

/// A company's items as columns, grouped by customer (see the module's documentation). Built
/// by [`ColumnsBuilder`], or from domain items by [`TrainingColumns::from_items`].
#[derive(Debug)]
pub struct TrainingColumns {
    customer_ids: Strings,
    customers: Vec<Option<CustomerFields>>,
    names: Strings,
    texts: Strings,
    /// Credit limits and reports in the order given, each kind stably sorted by customer, with
    /// where each customer's run starts (one more entry than customers).
    limits: Vec<(u32, NaiveDate, Cents)>,
    limit_starts: Vec<u32>,
    reports: Vec<Report>,
    report_starts: Vec<u32>,
    orders: Orders,
    /// Order indices by customer, then issue time, then the order given.
    by_customer: Vec<u32>,
    order_starts: Vec<u32>,
}

/// One customer's items, as domain items again, and its orders' indices by issue time.
pub(crate) struct CustomerItems<'a> {
    pub(crate) customer: Option<Customer>,
    pub(crate) limits: Vec<CreditLimit>,
    pub(crate) reports: Vec<BureauReport>,
    pub(crate) orders: &'a [u32],
}

impl TrainingColumns {
    /// The items as given, none merged (the same examples as the slices would give).
    pub fn from_items(
        customers: &[Customer],
        credit_limits: &[CreditLimit],
        bureau_reports: &[BureauReport],
        orders: &[Order],
    ) -> TrainingColumns {
        let mut builder = ColumnsBuilder::as_given();
        for c in customers {
            builder.push_customer(c);
        }
        for l in credit_limits {
            builder.push_credit_limit(l);
        }
        for r in bureau_reports {
            builder.push_bureau_report(r);
        }
        for o in orders {
            builder.push_order(o.into());
        }
        builder.finish()
    }

    pub fn orders(&self) -> usize {
        self.orders.len()
    }

    pub fn customers(&self) -> usize {
        self.customer_ids.len()
    }

    pub fn credit_limits(&self) -> usize {
        self.limits.len()
    }

    pub fn bureau_reports(&self) -> usize {
        self.reports.len()
    }

    pub fn order_id(&self, i: usize) -> &str {
        self.orders.ids.get(i)
    }

    pub fn order_customer_id(&self, i: usize) -> &str {
        self.customer_ids.get(self.orders.customer[i] as usize)
    }

    pub fn order_issued_at(&self, i: usize) -> DateTime<Utc> {
        self.orders.issued_at[i]
    }

    pub fn order_outcome(&self, i: usize) -> Option<Outcome> {
        self.orders.outcome[i]
    }

    /// Order `i` as a domain item (its id and customer id included).
    pub fn order(&self, i: usize) -> Order {
        Order {
            id: self.order_id(i).to_owned(),
            customer_id: self.order_customer_id(i).to_owned(),
            ..self.order_terms(i)
        }
    }

    /// Order `i` without its ids (empty): what features read of it.
    pub(crate) fn order_terms(&self, i: usize) -> Order {
        Order {
            id: String::new(),
            customer_id: String::new(),
            issued_at: self.orders.issued_at[i],
            amount: self.orders.amount[i],
            payment_term_days: self.orders.payment_term_days[i],
            installments: self.orders.installments[i],
            attributes: self.attributes(self.orders.attributes(i)),
            outcome: self.orders.outcome[i],
        }
    }

    fn attributes(&self, cells: &[(u32, Cell)]) -> Attributes {
        cells
            .iter()
            .map(|&(name, cell)| {
                let value = match cell {
                    Cell::Number(n) => AttributeValue::Number(n),
                    Cell::Text(t) => AttributeValue::Text(self.texts.get(t as usize).to_owned()),
                    Cell::Flag(b) => AttributeValue::Flag(b),
                };
                (self.names.get(name as usize).to_owned(), value)
            })
            .collect()
    }

    /// Customer slot `c`'s items, when `keep` takes its id.
    pub(crate) fn customer_items_if(
        &self,
        c: usize,
        keep: impl Fn(&str) -> bool,
    ) -> Option<CustomerItems<'_>> {
        let customer_id = self.customer_ids.get(c);
        if !keep(customer_id) {
            return None;
        }
        let run = |starts: &[u32]| starts[c] as usize..starts[c + 1] as usize;
        let customer = self.customers[c].as_ref().map(|f| Customer {
            id: customer_id.to_owned(),
            document: f.document.as_deref().map(str::to_owned),
            simples_nacional: f.simples_nacional,
            mei: f.mei,
            final_consumer: f.final_consumer,
            founded_on: f.founded_on,
            state: f.state.map(|s| self.texts.get(s as usize).to_owned()),
            attributes: self.attributes(&f.attributes),
        });
        let limits = self.limits[run(&self.limit_starts)]
            .iter()
            .map(|&(_, valid_from, limit)| CreditLimit {
                customer_id: customer_id.to_owned(),
                limit,
                valid_from,
            })
            .collect();
        let reports = self.reports[run(&self.report_starts)]
            .iter()
            .map(|r| r.item(customer_id))
            .collect();
        Some(CustomerItems {
            customer,
            limits,
            reports,
            orders: &self.by_customer[run(&self.order_starts)],
        })
    }
}

/// Builds [`TrainingColumns`] one item at a time, so a reader can stream rows into it.
#[derive(Debug, Default)]
pub struct ColumnsBuilder {
    merge: bool,
    customer_ids: Interner,
    customers: Vec<Option<CustomerFields>>,
    names: Interner,
    texts: Interner,
    limits: Vec<(u32, NaiveDate, Cents)>,
    reports: Vec<Report>,
    orders: Orders,
}

impl ColumnsBuilder {
    /// Items as given: an order listed twice is two orders.
    pub fn as_given() -> Self {
        ColumnsBuilder::default()
    }

    /// Items pushed oldest dataset first, a later item replacing an earlier one with the same
    /// key, in the earlier one's place (a re-upload corrects history): customers and orders by
    /// id. Credit limits by (customer, valid from) and reports by (customer, queried at) need
    /// no merging: features take the last listed of those sharing a date, which is the later
    /// dataset's.
    pub fn merging() -> Self {
        ColumnsBuilder {
            merge: true,
            ..ColumnsBuilder::default()
        }
    }

    fn customer_slot(&mut self, id: &str) -> u32 {
        let slot = self.customer_ids.intern(id);
        if self.customers.len() <= slot as usize {
            self.customers.resize(slot as usize + 1, None);
        }
        slot
    }

    fn cells(&mut self, attributes: &Attributes) -> Vec<(u32, Cell)> {
        attributes
            .iter()
            .map(|(name, value)| {
                let cell = match value {
                    AttributeValue::Number(n) => Cell::Number(*n),
                    AttributeValue::Text(t) => Cell::Text(self.texts.intern(t)),
                    AttributeValue::Flag(b) => Cell::Flag(*b),
                };
                (self.names.intern(name), cell)
            })
            .collect()
    }

    /// The last customer pushed with an id is the one kept.
    pub fn push_customer(&mut self, c: &Customer) {
        let slot = self.customer_slot(&c.id);
        let state = c.state.as_deref().map(|s| self.texts.intern(s));
        let attributes = self.cells(&c.attributes).into_boxed_slice();
        self.customers[slot as usize] = Some(CustomerFields {
            document: c.document.as_deref().map(Box::from),
            simples_nacional: c.simples_nacional,
            mei: c.mei,
            final_consumer: c.final_consumer,
            founded_on: c.founded_on,
            state,
            attributes,
        });
    }

    pub fn push_credit_limit(&mut self, l: &CreditLimit) {
        let slot = self.customer_slot(&l.customer_id);
        self.limits.push((slot, l.valid_from, l.limit));
    }

    pub fn push_bureau_report(&mut self, r: &BureauReport) {
        let slot = self.customer_slot(&r.customer_id);
        self.reports.push(Report::new(slot, r));
    }

    pub fn push_order(&mut self, o: OrderFields<'_>) {
        let slot = self.customer_slot(o.customer_id);
        let cells = self.cells(o.attributes);
        let orders = &mut self.orders;
        orders.ids.push(o.id);
        orders.customer.push(slot);
        orders.issued_at.push(o.issued_at);
        orders.amount.push(o.amount);
        orders.payment_term_days.push(o.payment_term_days);
        orders.installments.push(o.installments);
        orders.outcome.push(o.outcome);
        orders.cells.extend(cells);
        orders
            .attribute_ends
            .push(u32::try_from(orders.cells.len()).unwrap_or(u32::MAX));
    }

    pub fn orders(&self) -> usize {
        self.orders.len()
    }

    pub fn finish(self) -> TrainingColumns {
        let ColumnsBuilder {
            merge,
            customer_ids,
            mut customers,
            names,
            texts,
            mut limits,
            mut reports,
            mut orders,
        } = self;
        let count = customer_ids.strings.len();
        customers.resize(count, None);
        if merge {
            orders = merged(orders);
        }
        let starts = |keys: &mut dyn Iterator<Item = u32>| {
            let mut starts = vec![0_u32; count + 1];
            for key in keys {
                starts[key as usize + 1] += 1;
            }
            for c in 0..count {
                starts[c + 1] += starts[c];
            }
            starts
        };
        limits.sort_by_key(|l| l.0);
        let limit_starts = starts(&mut limits.iter().map(|l| l.0));
        reports.sort_by_key(|r| r.customer);
        let report_starts = starts(&mut reports.iter().map(|r| r.customer));
        let mut by_customer: Vec<u32> =
            (0..u32::try_from(orders.len()).unwrap_or(u32::MAX)).collect();
        by_customer.sort_by_key(|&i| (orders.customer[i as usize], orders.issued_at[i as usize]));
        let order_starts = starts(&mut orders.customer.iter().copied());
        TrainingColumns {
            customer_ids: customer_ids.strings,
            customers,
            names: names.strings,
            texts: texts.strings,
            limits,
            limit_starts,
            reports,
            report_starts,
            orders,
            by_customer,
            order_starts,
        }
    }
}

/// The last order pushed with each id, in the place of the first (as `merge` in the store
/// did for whole items).
fn merged(orders: Orders) -> Orders {
    let n = u32::try_from(orders.len()).unwrap_or(u32::MAX);
    let mut by_id: Vec<u32> = (0..n).collect();
    // Stable: among equal ids, pushed order.
    by_id.sort_by(|&a, &b| orders.ids.get(a as usize).cmp(orders.ids.get(b as usize)));
    let mut kept: Vec<(u32, u32)> = Vec::with_capacity(by_id.len());
    let mut start = 0;
    while start < by_id.len() {
        let id = orders.ids.get(by_id[start] as usize);
        let mut end = start + 1;
        while end < by_id.len() && orders.ids.get(by_id[end] as usize) == id {
            end += 1;
        }
        kept.push((by_id[start], by_id[end - 1]));
        start = end;
    }
    if kept.len() == by_id.len() {
        return orders;
    }
    drop(by_id);
    kept.sort_unstable_by_key(|&(first, _)| first);
    let keep: Vec<u32> = kept.into_iter().map(|(_, last)| last).collect();
    orders.gather(&keep)
}
