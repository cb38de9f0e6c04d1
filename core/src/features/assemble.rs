use super::{CustomerFacts, FeatureValue, NEGATIVE_KINDS, RawFeatures};
use crate::ingest::items::{
    AttributeValue, Attributes, BureauReport, Cents, CreditLimit, Customer, NegativeRecord,
    Negatives, Order, Outcome,
};
use crate::ingest::{DocumentKind, document_kind};

/// Features of `order` as of `order.issued_at`: only facts dated at or before it, and only the
/// customer's orders issued strictly before it, ever count.
pub fn assemble(order: &Order, facts: &CustomerFacts) -> RawFeatures {
    let mine = |customer_id: &str| customer_id == order.customer_id;
    let customer = facts.customer.as_ref().filter(|c| mine(&c.id));
    let limit = latest_limit(
        order,
        facts.credit_limits.iter().filter(|l| mine(&l.customer_id)),
    );
    let report = latest_report(
        order,
        facts.bureau_reports.iter().filter(|r| mine(&r.customer_id)),
    );
    let history = History::scan(order, facts.orders.iter().filter(|o| mine(&o.customer_id)));
    build(order, customer, limit, report, &history)
}

/// Sets the features that depend on the order's amount (the only ones), as if the order were
/// for `amount`: what the largest approvable amount is searched over, without assembling the
/// rest again. `limit.total` must already be in `features`.
pub fn reprice(features: &mut RawFeatures, amount: Cents) {
    let amount = brl(amount);
    let ratio = features
        .get("limit.total")
        .as_number()
        .filter(|total| *total > 0.0)
        .map(|total| amount / total);
    features.insert("terms.amount", FeatureValue::number(amount));
    features.insert("terms.amount_to_limit", opt_number(ratio));
}

/// The credit limit in force on the order's date; of two from the same day, the later listed.
pub(crate) fn latest_limit<'a>(
    order: &Order,
    limits: impl Iterator<Item = &'a CreditLimit>,
) -> Option<&'a CreditLimit> {
    let day = order.issued_at.date_naive();
    limits
        .filter(|l| l.valid_from <= day)
        .max_by_key(|l| l.valid_from)
}

/// The newest bureau report queried at or before the order, never a later one.
pub(crate) fn latest_report<'a>(
    order: &Order,
    reports: impl Iterator<Item = &'a BureauReport>,
) -> Option<&'a BureauReport> {
    reports
        .filter(|r| r.queried_at <= order.issued_at)
        .max_by_key(|r| r.queried_at)
}

/// What the customer's earlier orders add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct History {
    orders: u64,
    amount_cents: i128,
    with_outcome: u64,
    blocked: u64,
}

impl History {
    /// Orders issued strictly before `order` (same instant does not count), other than itself.
    pub(crate) fn scan<'a>(order: &Order, orders: impl Iterator<Item = &'a Order>) -> Self {
        let mut history = History::default();
        for earlier in orders.filter(|o| o.issued_at < order.issued_at && o.id != order.id) {
            history.add(earlier);
        }
        history
    }

    pub(crate) fn add(&mut self, order: &Order) {
        self.orders += 1;
        self.amount_cents += i128::from(order.amount.0);
        if let Some(outcome) = order.outcome {
            self.with_outcome += 1;
            self.blocked += u64::from(outcome == Outcome::Blocked);
        }
    }

    pub(crate) fn minus(mut self, other: &History) -> Self {
        self.orders -= other.orders;
        self.amount_cents -= other.amount_cents;
        self.with_outcome -= other.with_outcome;
        self.blocked -= other.blocked;
        self
    }
}

fn brl(cents: Cents) -> f64 {
    cents.0 as f64 / 100.0
}

fn opt_number<T: Into<f64>>(value: Option<T>) -> FeatureValue {
    value.map_or(FeatureValue::Missing, |v| FeatureValue::number(v.into()))
}

fn flag(value: Option<bool>) -> FeatureValue {
    opt_number(value.map(|b| if b { 1.0 } else { 0.0 }))
}

/// A sum over the parts that are known; missing only when none is.
fn known_sum(parts: impl IntoIterator<Item = Option<f64>>) -> FeatureValue {
    let known: Vec<f64> = parts.into_iter().flatten().collect();
    if known.is_empty() {
        FeatureValue::Missing
    } else {
        FeatureValue::number(known.iter().sum())
    }
}

pub(crate) fn build(
    order: &Order,
    customer: Option<&Customer>,
    limit: Option<&CreditLimit>,
    report: Option<&BureauReport>,
    history: &History,
) -> RawFeatures {
    let mut f = RawFeatures::default();
    let day = order.issued_at.date_naive();

    f.insert(
        "profile.simples_nacional",
        flag(customer.and_then(|c| c.simples_nacional)),
    );
    f.insert("profile.mei", flag(customer.and_then(|c| c.mei)));
    f.insert(
        "profile.final_consumer",
        flag(customer.and_then(|c| c.final_consumer)),
    );
    let category = |s: Option<&str>| {
        s.map_or(FeatureValue::Missing, |s| {
            FeatureValue::Category(s.to_owned())
        })
    };
    f.insert(
        "profile.state",
        category(customer.and_then(|c| c.state.as_deref())),
    );
    let document = customer
        .and_then(|c| c.document.as_deref())
        .and_then(document_kind)
        .map(|kind| match kind {
            DocumentKind::Cnpj => "cnpj",
            DocumentKind::Cpf => "cpf",
        });
    f.insert("profile.document", category(document));
    let age = customer
        .and_then(|c| c.founded_on)
        .map(|founded| (day - founded).num_days() as f64 / 365.25);
    f.insert("profile.age_years", opt_number(age));

    f.insert("limit.total", opt_number(limit.map(|l| brl(l.limit))));
    reprice(&mut f, order.amount);
    f.insert(
        "terms.payment_term_days",
        opt_number(order.payment_term_days),
    );
    f.insert("terms.installments", opt_number(order.installments));

    bureau(&mut f, order, report);

    f.insert(
        "history.orders",
        FeatureValue::number(history.orders as f64),
    );
    f.insert(
        "history.amount",
        FeatureValue::number(history.amount_cents as f64 / 100.0),
    );
    let share =
        (history.with_outcome > 0).then(|| history.blocked as f64 / history.with_outcome as f64);
    f.insert("history.blocked_share", opt_number(share));

    if let Some(customer) = customer {
        attributes(&mut f, "customer", &customer.attributes);
    }
    attributes(&mut f, "order", &order.attributes);
    f
}

fn bureau(f: &mut RawFeatures, order: &Order, report: Option<&BureauReport>) {
    let age = report.map(|r| (order.issued_at - r.queried_at).num_seconds() as f64 / 86_400.0);
    f.insert("bureau.age_days", opt_number(age));
    f.insert("bureau.score", opt_number(report.and_then(|r| r.score)));
    f.insert(
        "bureau.inquiries",
        opt_number(report.and_then(|r| r.inquiries)),
    );

    let habits = report
        .and_then(|r| r.payment_habits.clone())
        .unwrap_or_default();
    let late = [
        habits.late_8_15,
        habits.late_16_30,
        habits.late_31_60,
        habits.late_over_60,
    ];
    f.insert("bureau.on_time", opt_number(habits.on_time));
    f.insert("bureau.cash", opt_number(habits.cash));
    for (name, share) in ["late_8_15", "late_16_30", "late_31_60", "late_over_60"]
        .iter()
        .zip(late)
    {
        f.insert(format!("bureau.{name}"), opt_number(share));
    }
    f.insert("bureau.late_share", known_sum(late));

    let s = report
        .and_then(|r| r.supplier_relationships.clone())
        .unwrap_or_default();
    let suppliers = [
        ("m0_6", s.m0_6),
        ("m6_12", s.m6_12),
        ("y1_3", s.y1_3),
        ("y3_5", s.y3_5),
        ("y5_10", s.y5_10),
        ("y10_plus", s.y10_plus),
        ("inactive", s.inactive),
    ];
    for (name, count) in suppliers {
        f.insert(format!("bureau.suppliers.{name}"), opt_number(count));
    }

    let negatives = report.and_then(|r| r.negatives.as_ref());
    let mut counts = Vec::new();
    let mut totals = Vec::new();
    for kind in NEGATIVE_KINDS {
        let record = negatives.and_then(|n| negative(n, kind));
        let count = record.and_then(|r| r.count).map(f64::from);
        // No records of a kind means they are worth nothing, even when no total was given.
        let total = record
            .and_then(|r| r.total.map(brl))
            .or_else(|| (count == Some(0.0)).then_some(0.0));
        f.insert(format!("bureau.negatives.{kind}.count"), opt_number(count));
        f.insert(format!("bureau.negatives.{kind}.total"), opt_number(total));
        counts.push(count);
        totals.push(total);
    }
    f.insert("bureau.negatives.count", known_sum(counts));
    f.insert("bureau.negatives.value", known_sum(totals));
}

fn negative<'a>(negatives: &'a Negatives, kind: &str) -> Option<&'a NegativeRecord> {
    match kind {
        "pefin" => negatives.pefin.as_ref(),
        "refin" => negatives.refin.as_ref(),
        "overdue_debts" => negatives.overdue_debts.as_ref(),
        "bankruptcy" => negatives.bankruptcy.as_ref(),
        "bounced_cheques" => negatives.bounced_cheques.as_ref(),
        "represented_cheques" => negatives.represented_cheques.as_ref(),
        "bankruptcy_participation" => negatives.bankruptcy_participation.as_ref(),
        _ => None,
    }
}

fn attributes(f: &mut RawFeatures, prefix: &str, attributes: &Attributes) {
    for (key, value) in attributes {
        let value = match value {
            AttributeValue::Number(n) => FeatureValue::number(*n),
            AttributeValue::Text(text) => FeatureValue::Category(text.clone()),
            AttributeValue::Flag(b) => FeatureValue::Number(if *b { 1.0 } else { 0.0 }),
        };
        f.insert(format!("{prefix}.{key}"), value);
    }
}
