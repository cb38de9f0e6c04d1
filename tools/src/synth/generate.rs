//! The generator: customers with a hidden profile (size, risk and its drift), then their credit
//! limits and bureau reports over time, then orders whose outcome the hidden rule decides from
//! the facts as of each order.

use super::documents;
use super::random::{chance, normal, pick, poisson, sigmoid, uniform};
use super::rule::{self, OrderFacts};
use super::wire::{
    BureauReport, CountAndTotal, CountOnly, CreditLimit, Customer, CustomerAttributes, Date,
    Fraction, Money, Negatives, Order, OrderAttributes, Outcome, PaymentHabits,
    SupplierRelationships, Timestamp,
};
use chrono::NaiveDate;
use rand::Rng;
use rand::SeedableRng;
use rand::distributions::{Distribution, WeightedIndex};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// The end of the synthetic history (exclusive), fixed so that the output never depends on when
/// it is generated: orders and bureau reports fall in the [`HISTORY_DAYS`] before it.
pub(super) const ANCHOR: (i32, u32, u32) = (2026, 10, 1);
pub(super) const HISTORY_DAYS: i64 = 730;
/// The share of optional fields left out at random (unknown to the model).
const MISSING: f64 = 0.03;
const DAY: i64 = 86_400;

pub(super) fn anchor() -> NaiveDate {
    let (y, m, d) = ANCHOR;
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn window_start_day() -> i64 {
    days_since_epoch(anchor()) - HISTORY_DAYS
}

fn days_since_epoch(date: NaiveDate) -> i64 {
    (date - NaiveDate::default()).num_days()
}

fn date_of_day(day: i64) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(day)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    Retail,
    Wholesale,
    Industry,
    Services,
    Agro,
}

impl Segment {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Segment::Retail => "retail",
            Segment::Wholesale => "wholesale",
            Segment::Industry => "industry",
            Segment::Services => "services",
            Segment::Agro => "agro",
        }
    }

    fn product_lines(self) -> [&'static str; 3] {
        match self {
            Segment::Retail => ["consumer-goods", "apparel", "electronics"],
            Segment::Wholesale => ["bulk-food", "consumer-goods", "electronics"],
            Segment::Industry => ["raw-materials", "machinery", "spare-parts"],
            Segment::Services => ["supplies", "equipment", "software"],
            Segment::Agro => ["fertilizers", "seeds", "machinery"],
        }
    }
}

/// Business customers by state: SP first, then the South/Southeast, then the rest.
const STATES: [(&str, u32); 27] = [
    ("SP", 300),
    ("MG", 110),
    ("RJ", 90),
    ("PR", 70),
    ("RS", 70),
    ("SC", 60),
    ("BA", 40),
    ("GO", 35),
    ("PE", 30),
    ("CE", 25),
    ("ES", 20),
    ("DF", 20),
    ("MT", 20),
    ("MS", 15),
    ("PA", 15),
    ("AM", 10),
    ("MA", 10),
    ("RN", 8),
    ("PB", 8),
    ("AL", 6),
    ("PI", 6),
    ("RO", 6),
    ("SE", 5),
    ("TO", 4),
    ("AC", 2),
    ("AP", 2),
    ("RR", 2),
];

/// What the generator knows of a customer and never writes.
#[derive(Debug, Clone)]
struct Profile {
    segment: Segment,
    is_person: bool,
    /// Age at the start of the history (companies are founded before it).
    age_years: f64,
    /// Founding day (days since the epoch); people have none written.
    founded_day: i64,
    /// Standard-normal-ish size: employees, limits and order volume grow with it.
    size: f64,
    /// Latent risk (about standard normal, plus a troubled minority) at the window start...
    risk: f64,
    /// ...and how much it drifts over the two years.
    risk_drift: f64,
    base_limit: Money,
}

impl Profile {
    fn risk_at(&self, day: i64) -> f64 {
        self.risk + self.risk_drift * (day - window_start_day()) as f64 / HISTORY_DAYS as f64
    }
}

/// Everything generated; limits and reports are grouped by customer (index as in `customers`)
/// and sorted by date within a customer; orders are sorted by issue time.
#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    pub customers: Vec<Customer>,
    pub credit_limits: Vec<Vec<CreditLimit>>,
    pub bureau_reports: Vec<Vec<BureauReport>>,
    pub orders: Vec<Order>,
}

impl Dataset {
    pub(crate) fn credit_limit_count(&self) -> usize {
        self.credit_limits.iter().map(Vec::len).sum()
    }

    pub(crate) fn bureau_report_count(&self) -> usize {
        self.bureau_reports.iter().map(Vec::len).sum()
    }

    pub(crate) fn blocked_count(&self) -> usize {
        self.orders
            .iter()
            .filter(|o| o.outcome == Outcome::Blocked)
            .count()
    }
}

/// One independent random stream per purpose, so that e.g. `--orders` does not change the
/// customers generated for the same seed.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

pub(crate) fn generate(customers: usize, orders: usize, seed: u64) -> anyhow::Result<Dataset> {
    anyhow::ensure!(
        customers > 0 || orders == 0,
        "orders need at least one customer"
    );
    let mut rng = stream(seed, 1);
    let mut seen_documents = HashSet::with_capacity(customers);
    let (written, profiles): (Vec<Customer>, Vec<Profile>) = (0..customers)
        .map(|i| customer(&mut rng, i, &mut seen_documents))
        .unzip();

    let mut rng = stream(seed, 2);
    let credit_limits: Vec<Vec<CreditLimit>> = written
        .iter()
        .zip(&profiles)
        .map(|(c, p)| credit_limits(&mut rng, &c.id, p))
        .collect();

    let mut rng = stream(seed, 3);
    let bureau_reports: Vec<Vec<BureauReport>> = written
        .iter()
        .zip(&profiles)
        .map(|(c, p)| bureau_reports(&mut rng, &c.id, p))
        .collect();

    let mut rng = stream(seed, 4);
    let orders = if orders == 0 {
        Vec::new()
    } else {
        generate_orders(
            &mut rng,
            orders,
            &written,
            &profiles,
            &credit_limits,
            &bureau_reports,
        )?
    };
    Ok(Dataset {
        customers: written,
        credit_limits,
        bureau_reports,
        orders,
    })
}

/// `Some(value)` but for [`MISSING`] of the time.
fn maybe<T>(rng: &mut impl Rng, value: T) -> Option<T> {
    (!chance(rng, MISSING)).then_some(value)
}

fn round_to(cents: f64, step_reais: i64) -> Money {
    let step = step_reais * 100;
    Money(((cents / step as f64).round() as i64).max(1) * step)
}

fn customer(rng: &mut impl Rng, index: usize, seen: &mut HashSet<String>) -> (Customer, Profile) {
    use Segment::*;
    let is_person = chance(rng, 0.12);
    let segment = if is_person {
        pick(rng, &[(Agro, 50), (Services, 25), (Retail, 25)])
    } else {
        pick(
            rng,
            &[
                (Retail, 32),
                (Wholesale, 20),
                (Industry, 16),
                (Services, 22),
                (Agro, 10),
            ],
        )
    };
    let mei = !is_person
        && chance(
            rng,
            match segment {
                Wholesale | Industry => 0.05,
                _ => 0.25,
            },
        );
    let age_years = if is_person {
        uniform(rng, 2.0, 30.0)
    } else if mei {
        // MEI exists since mid-2009 (ages are at the start of the history, 2024-10-01).
        uniform(rng, 0.1, 14.5)
    } else {
        match pick(rng, &[(0, 60), (1, 30), (2, 10)]) {
            0 => uniform(rng, 0.1, 15.0),
            1 => uniform(rng, 15.0, 35.0),
            _ => uniform(rng, 35.0, 65.0),
        }
    };
    let segment_size = match segment {
        Industry => 0.6,
        Wholesale => 0.5,
        Agro => 0.3,
        Retail => 0.0,
        Services => -0.1,
    };
    let mut size = normal(rng) + segment_size + 0.015 * age_years.min(30.0);
    if mei || is_person {
        size = size.min(-0.5);
    }
    let employees = if is_person {
        None
    } else if mei {
        Some(rng.gen_range(0..=1))
    } else {
        Some((1.8 + 1.1 * size).exp().round().clamp(1.0, 20_000.0) as u32)
    };
    let simples = mei
        || (!is_person
            && chance(
                rng,
                match employees.unwrap_or(0) {
                    0..=20 => 0.7,
                    21..=100 => 0.35,
                    _ => 0.05,
                },
            ));
    let final_consumer = if is_person {
        chance(rng, 0.85)
    } else {
        chance(
            rng,
            match segment {
                Services => 0.5,
                Agro => 0.3,
                Industry => 0.2,
                Retail => 0.05,
                Wholesale => 0.02,
            },
        )
    };
    let has_guarantee = chance(rng, 0.12 + 0.2 * sigmoid(size));
    let troubled = chance(rng, 0.12);
    let risk = normal(rng)
        + if age_years < 2.0 { 0.5 } else { 0.0 }
        + if mei { 0.2 } else { 0.0 }
        + if is_person { 0.15 } else { 0.0 }
        + match segment {
            Agro => 0.15,
            Retail => 0.1,
            Industry => -0.1,
            _ => 0.0,
        }
        + if troubled { 1.6 } else { 0.0 };
    let risk_drift = 0.4 * normal(rng);
    let base_reais = if is_person {
        6_000.0 * (0.6 * normal(rng)).exp() * if segment == Agro { 2.5 } else { 1.0 }
    } else if mei {
        4_000.0 * (0.4 * normal(rng)).exp()
    } else {
        let multiplier = match segment {
            Industry => 1.6,
            Wholesale => 1.5,
            Agro => 1.3,
            Retail => 0.9,
            Services => 0.8,
        };
        20_000.0 * (0.9 * size).exp() * multiplier
    } * (-0.2 * risk).exp();
    let base_limit = round_to(base_reais * 100.0, 500);

    let document = loop {
        let candidate = if is_person {
            documents::random_cpf(rng)
        } else {
            documents::random_cnpj(rng)
        };
        if seen.insert(candidate.clone()) {
            break candidate;
        }
    };
    // Every company exists before the history starts: no order predates its customer.
    let founded_day = window_start_day() - (age_years * 365.25) as i64;
    let founded_on = (!is_person).then(|| Date(date_of_day(founded_day)));
    let state_table: &[(&'static str, u32)] = if segment == Agro {
        &[
            ("MT", 30),
            ("GO", 20),
            ("PR", 20),
            ("MS", 15),
            ("RS", 15),
            ("MG", 15),
            ("SP", 15),
            ("BA", 8),
            ("TO", 4),
            ("MA", 3),
            ("PI", 3),
            ("RO", 3),
            ("SC", 5),
        ]
    } else {
        &STATES
    };
    let state = pick(rng, state_table);

    let written = Customer {
        id: format!("C{:06}", index + 1),
        document: maybe(rng, document),
        simples_nacional: maybe(rng, simples),
        mei: maybe(rng, mei),
        final_consumer: maybe(rng, final_consumer),
        founded_on: founded_on.and_then(|d| maybe(rng, d)),
        state: maybe(rng, state),
        attributes: CustomerAttributes {
            segment: maybe(rng, segment.as_str()),
            employees: employees.and_then(|e| maybe(rng, e)),
            has_guarantee: maybe(rng, has_guarantee),
        },
    };
    let profile = Profile {
        segment,
        is_person,
        age_years,
        founded_day,
        size,
        risk,
        risk_drift,
        base_limit,
    };
    (written, profile)
}

fn credit_limits(rng: &mut impl Rng, customer_id: &str, p: &Profile) -> Vec<CreditLimit> {
    let n = pick(rng, &[(1, 40), (2, 35), (3, 25)]);
    let start = window_start_day();
    let end = days_since_epoch(anchor());
    let mut day = if chance(rng, 0.85) {
        start - rng.gen_range(30..1000)
    } else {
        start + rng.gen_range(0..600)
    };
    if !p.is_person {
        // No limit before the company existed.
        day = day.max(p.founded_day + 30);
    }
    let mut amount = p.base_limit;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if day >= end {
            break;
        }
        out.push(CreditLimit {
            customer_id: customer_id.to_owned(),
            limit: amount,
            valid_from: Date(date_of_day(day)),
        });
        day += rng.gen_range(90..400);
        // Limits grow for good customers and are cut for the ones whose risk grew.
        let factor = (0.15 * normal(rng) + 0.08 - 0.12 * p.risk_at(day)).exp();
        amount = round_to(amount.0 as f64 * factor, 500);
    }
    out
}

/// A customer's open negative records of one kind (their values), carried from report to
/// report: each is settled with some probability, new ones arrive at a rate set by the risk.
#[derive(Debug, Default)]
struct OpenRecords(Vec<i64>);

impl OpenRecords {
    fn evolve(&mut self, rng: &mut impl Rng, rate: f64, first: bool, size: f64) {
        const KEEP: f64 = 0.75;
        self.0.retain(|_| chance(rng, KEEP));
        // At the first report, draw the steady state of "keep KEEP, add `rate`".
        let arriving = poisson(rng, if first { rate / (1.0 - KEEP) } else { rate });
        for _ in 0..arriving {
            let reais = 1_500.0 * (0.9 * normal(rng) + 0.3 * size).exp();
            self.0.push((reais * 100.0).round().max(5_000.0) as i64);
        }
    }

    fn summary(&self) -> CountAndTotal {
        CountAndTotal {
            count: self.0.len() as u32,
            total: Money(self.0.iter().sum()),
        }
    }
}

fn bureau_reports(rng: &mut impl Rng, customer_id: &str, p: &Profile) -> Vec<BureauReport> {
    let n = pick(rng, &[(1, 15), (2, 20), (3, 20), (4, 18), (5, 15), (6, 12)]);
    let start = window_start_day() * DAY;
    let mut times: Vec<i64> = (0..n)
        .map(|i| {
            let day = if i == 0 && chance(rng, 0.7) {
                rng.gen_range(0..120)
            } else {
                rng.gen_range(0..HISTORY_DAYS)
            };
            start + day * DAY + rng.gen_range(6 * 3600..22 * 3600)
        })
        .collect();
    times.sort_unstable();
    // A report is keyed by customer and time: never two at the same second.
    for i in 1..times.len() {
        times[i] = times[i].max(times[i - 1] + 1);
    }

    let mut pefin = OpenRecords::default();
    let mut refin = OpenRecords::default();
    let mut overdue = OpenRecords::default();
    let mut bankrupt = false;
    let mut participation = false;
    times
        .iter()
        .enumerate()
        .map(|(i, &at)| {
            let first = i == 0;
            let r = p.risk_at(at / DAY) + 0.25 * normal(rng);
            let rate = 0.4 * (1.3 * (r - 1.8)).exp();
            pefin.evolve(rng, rate, first, p.size);
            refin.evolve(rng, 0.5 * rate, first, p.size);
            overdue.evolve(rng, 0.4 * rate, first, p.size);
            if !p.is_person {
                bankrupt |= chance(rng, 0.001 + 0.04 * sigmoid(3.0 * (r - 2.5)));
            }
            participation |= chance(rng, 0.002 + 0.03 * sigmoid(3.0 * (r - 2.2)));
            let negatives = Negatives {
                pefin: pefin.summary(),
                refin: refin.summary(),
                overdue_debts: overdue.summary(),
                bankruptcy: CountOnly {
                    count: u32::from(bankrupt),
                },
                bounced_cheques: CountOnly {
                    count: poisson(rng, 0.25 * (r - 1.5).exp()),
                },
                represented_cheques: CountOnly {
                    count: poisson(rng, 0.12 * (r - 1.5).exp()),
                },
                bankruptcy_participation: CountOnly {
                    count: u32::from(participation),
                },
            };
            let records = negatives.pefin.count + negatives.refin.count;
            let score = 720.0 - 130.0 * r - 20.0 * f64::from(records.min(6)) + 45.0 * normal(rng);
            let score = score.round().clamp(0.0, 1000.0) as u32;
            let inquiries = poisson(rng, 1.2 + 1.5 * r.max(0.0));
            let habits = payment_habits(rng, r, p);
            let suppliers = supplier_relationships(rng, r, p, at / DAY);
            BureauReport {
                customer_id: customer_id.to_owned(),
                queried_at: Timestamp(at),
                inquiries: maybe(rng, inquiries),
                score: chance(rng, 0.88).then_some(score),
                payment_habits: chance(rng, 0.9).then_some(habits),
                supplier_relationships: chance(rng, 0.9).then_some(suppliers),
                negatives: chance(rng, 0.95).then_some(negatives),
            }
        })
        .collect()
}

/// Shares in units of 1/10 000 whose written sum never exceeds 1.0.
fn payment_habits(rng: &mut impl Rng, r: f64, p: &Profile) -> PaymentHabits {
    let late = sigmoid(-2.3 + 1.1 * r + 0.3 * normal(rng));
    let cash_scale = if p.is_person || p.segment == Segment::Retail {
        2.0
    } else {
        1.0
    };
    let cash = (uniform(rng, 0.0, 0.12) * cash_scale).min(1.0 - late);
    let unknown = uniform(rng, 0.0, 0.03);
    let weights = [
        1.0,
        (0.6 + 0.25 * r).max(0.05),
        (0.3 + 0.3 * r).max(0.05),
        (0.1 + 0.4 * r).max(0.02),
    ];
    let total: f64 = weights.iter().sum();
    let units = |x: f64| (x * 10_000.0).floor().clamp(0.0, 10_000.0) as u16;
    let late_parts = weights.map(|w| units(late * w / total));
    let cash = units(cash);
    let taken: u16 = late_parts.iter().sum::<u16>() + cash + units(unknown);
    let mut habits = PaymentHabits {
        on_time: Fraction(10_000u16.saturating_sub(taken)),
        cash: Fraction(cash),
        late_8_15: Fraction(late_parts[0]),
        late_16_30: Fraction(late_parts[1]),
        late_31_60: Fraction(late_parts[2]),
        late_over_60: Fraction(late_parts[3]),
    };
    // Integer units sum to at most 10 000; make sure the decimals a reader adds do too.
    while habits.float_sum() > 1.0 && habits.on_time.0 > 0 {
        habits.on_time.0 -= 1;
    }
    habits
}

fn supplier_relationships(
    rng: &mut impl Rng,
    r: f64,
    p: &Profile,
    day: i64,
) -> SupplierRelationships {
    let scale = (0.3 * p.size).exp().max(0.3);
    let age = p.age_years + (day - window_start_day()) as f64 / 365.25;
    let mut bucket = |mean: f64, min_age: f64| {
        if age >= min_age {
            poisson(rng, mean * scale)
        } else {
            0
        }
    };
    SupplierRelationships {
        m0_6: bucket(0.8, 0.0),
        m6_12: bucket(0.8, 0.5),
        y1_3: bucket(1.5, 1.0),
        y3_5: bucket(1.0, 3.0),
        y5_10: bucket(1.0, 5.0),
        y10_plus: bucket(0.8, 10.0),
        inactive: bucket(0.5 + 0.5 * r.max(0.0), 0.0),
    }
}

fn generate_orders(
    rng: &mut impl Rng,
    count: usize,
    customers: &[Customer],
    profiles: &[Profile],
    limits: &[Vec<CreditLimit>],
    reports: &[Vec<BureauReport>],
) -> anyhow::Result<Vec<Order>> {
    let weights = WeightedIndex::new(profiles.iter().map(|p| (0.6 * p.size).exp()))?;
    let start = window_start_day() * DAY;
    let mut orders: Vec<Order> = (0..count)
        .map(|_| {
            let ci = weights.sample(rng);
            let (customer, profile) = (&customers[ci], &profiles[ci]);
            let issued_at = Timestamp(
                start + rng.gen_range(0..HISTORY_DAYS) * DAY + rng.gen_range(7 * 3600..20 * 3600),
            );
            let limit = rule::as_of(&limits[ci], Date(issued_at.date()), |l| l.valid_from);
            let report = rule::as_of(&reports[ci], issued_at, |r| r.queried_at);
            let reference = limit.map_or(profile.base_limit, |l| l.limit);
            let ratio = (0.18f64.ln() + 0.9 * normal(rng)).exp().clamp(0.003, 3.0);
            let amount = Money(((reference.0 as f64 * ratio).round() as i64).max(5_000));
            let term = if profile.segment == Segment::Agro {
                pick(rng, &[(0, 5), (30, 15), (60, 30), (90, 40), (28, 10)])
            } else {
                pick(
                    rng,
                    &[
                        (0, 10),
                        (15, 10),
                        (28, 18),
                        (30, 25),
                        (45, 12),
                        (60, 15),
                        (90, 10),
                    ],
                )
            };
            let installments = if term == 0 {
                1
            } else {
                pick(
                    rng,
                    &[
                        (1, 40),
                        (2, 15),
                        (3, 15),
                        (4, 6),
                        (5, 4),
                        (6, 8),
                        (8, 3),
                        (10, 4),
                        (12, 5),
                    ],
                )
            };
            let channel = pick(rng, &[("sales-rep", 50), ("e-commerce", 30), ("phone", 20)]);
            let lines = profile.segment.product_lines();
            let product_line = lines[rng.gen_range(0..lines.len())];
            let attributes = OrderAttributes {
                channel: maybe(rng, channel),
                product_line: maybe(rng, product_line),
            };
            let payment_term_days = maybe(rng, term);
            let z = rule::blocked_log_odds(
                customer,
                limit,
                report,
                OrderFacts {
                    amount,
                    payment_term_days,
                    channel: attributes.channel,
                },
            );
            let outcome = if chance(rng, sigmoid(z)) {
                Outcome::Blocked
            } else {
                Outcome::Approved
            };
            Order {
                id: String::new(),
                customer_id: customer.id.clone(),
                issued_at,
                amount,
                payment_term_days,
                installments: maybe(rng, installments),
                attributes,
                outcome,
            }
        })
        .collect();
    orders.sort_by_key(|o| o.issued_at);
    for (i, order) in orders.iter_mut().enumerate() {
        order.id = format!("O{:07}", i + 1);
    }
    Ok(orders)
}
