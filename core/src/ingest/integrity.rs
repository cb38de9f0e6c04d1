//! The checks a dataset passes once its completion marker arrives and every announced batch
//! has been stored: whatever a single batch could not see. Each problem reads as a sentence to
//! the company, because it is what `GET /v1/datasets/{id}` shows as the rejection reason.

use super::items::{Counts, ItemKind};
use std::fmt;

/// How many offending ids a reason lists; the count says how many there are in all.
pub const MAX_EXAMPLES: usize = 5;

/// A count of offending rows with a few of their ids, as the database reports them cheaply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    pub count: u64,
    /// At most [`MAX_EXAMPLES`] are shown, whatever the length.
    pub examples: Vec<String>,
}

impl Sample {
    pub fn new(count: u64, examples: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            count,
            examples: examples.into_iter().map(Into::into).collect(),
        }
    }
}

/// What the database knows about a stored dataset, beyond the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasetFacts {
    /// Orders whose `customer_id` is no customer of the dataset; examples are order ids.
    pub orphan_orders: Sample,
    /// Credit limits of customers not in the dataset; examples are those customer ids.
    pub orphan_credit_limits: Sample,
    /// Bureau reports of customers not in the dataset; examples are those customer ids.
    pub orphan_bureau_reports: Sample,
    pub approved_orders: u64,
    pub blocked_orders: u64,
    /// Items whose key (id; customer and date for limits and reports) arrived in more than
    /// one batch, per kind; examples are the keys as text.
    pub duplicates: Duplicates,
    /// Batches refused at validation, per kind: they explain a count that falls short.
    pub rejected_batches: Counts,
}

/// Keys sent by more than one batch of a dataset, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Duplicates {
    pub customers: Sample,
    pub orders: Sample,
    pub credit_limits: Sample,
    pub bureau_reports: Sample,
}

impl Duplicates {
    pub fn get(&self, kind: ItemKind) -> &Sample {
        match kind {
            ItemKind::Customers => &self.customers,
            ItemKind::Orders => &self.orders,
            ItemKind::CreditLimits => &self.credit_limits,
            ItemKind::BureauReports => &self.bureau_reports,
        }
    }
}

/// One reason a dataset cannot be trained on. `Display` gives the sentence for the company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityProblem {
    CountMismatch {
        kind: ItemKind,
        announced: u64,
        stored: u64,
        rejected_batches: u64,
    },
    /// Items of `kind` that point at customers the dataset does not hold.
    Orphans {
        kind: ItemKind,
        sample: Sample,
    },
    /// Keys of `kind` sent in more than one batch.
    Duplicates {
        kind: ItemKind,
        sample: Sample,
    },
    NoOrders,
    /// A model needs examples of both outcomes to learn the difference.
    OneOutcome {
        approved: u64,
        blocked: u64,
    },
    /// Orders with no outcome teach nothing and would shrink the data silently.
    MissingOutcomes {
        count: u64,
    },
}

/// Every reason the dataset must be rejected; empty when it is ready for training.
pub fn check_integrity(
    announced: &Counts,
    stored: &Counts,
    facts: &DatasetFacts,
) -> Vec<IntegrityProblem> {
    let mut problems = Vec::new();
    for kind in ItemKind::ALL {
        let (a, s) = (announced.get(kind), stored.get(kind));
        if a != s {
            problems.push(IntegrityProblem::CountMismatch {
                kind,
                announced: a,
                stored: s,
                rejected_batches: facts.rejected_batches.get(kind),
            });
        }
    }
    for (kind, sample) in [
        (ItemKind::Orders, &facts.orphan_orders),
        (ItemKind::CreditLimits, &facts.orphan_credit_limits),
        (ItemKind::BureauReports, &facts.orphan_bureau_reports),
    ] {
        if sample.count > 0 {
            problems.push(IntegrityProblem::Orphans {
                kind,
                sample: sample.clone(),
            });
        }
    }
    for kind in ItemKind::ALL {
        let sample = facts.duplicates.get(kind);
        if sample.count > 0 {
            problems.push(IntegrityProblem::Duplicates {
                kind,
                sample: sample.clone(),
            });
        }
    }
    let (approved, blocked) = (facts.approved_orders, facts.blocked_orders);
    if stored.orders == 0 {
        problems.push(IntegrityProblem::NoOrders);
    } else {
        if approved == 0 || blocked == 0 {
            problems.push(IntegrityProblem::OneOutcome { approved, blocked });
        }
        let missing = stored
            .orders
            .saturating_sub(approved.saturating_add(blocked));
        if missing > 0 {
            problems.push(IntegrityProblem::MissingOutcomes { count: missing });
        }
    }
    problems
}

impl fmt::Display for IntegrityProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntegrityProblem::CountMismatch {
                kind,
                announced,
                stored,
                rejected_batches,
            } => {
                let verb = if *stored == 1 { "was" } else { "were" };
                write!(
                    f,
                    "announced {} but {stored} {verb} stored",
                    counted(*announced, *kind)
                )?;
                if *rejected_batches > 0 {
                    let (batches, verb) = if *rejected_batches == 1 {
                        ("batch", "was")
                    } else {
                        ("batches", "were")
                    };
                    write!(
                        f,
                        " ({rejected_batches} {batches} of {} {verb} rejected)",
                        noun(*kind, 2)
                    )?;
                }
                Ok(())
            }
            IntegrityProblem::Orphans { kind, sample } => {
                let verb = if sample.count == 1 { "refers" } else { "refer" };
                write!(
                    f,
                    "{} {verb} to customers not in the dataset",
                    counted(sample.count, *kind)
                )?;
                examples(f, sample)
            }
            IntegrityProblem::Duplicates { kind, sample } => {
                let what = match kind {
                    ItemKind::Customers => "customer id",
                    ItemKind::Orders => "order id",
                    ItemKind::CreditLimits => "credit limit (customer and valid_from)",
                    ItemKind::BureauReports => "bureau report (customer and queried_at)",
                };
                let (what, verb) = if sample.count == 1 {
                    (what.to_owned(), "was")
                } else {
                    (plural_of_head(what), "were")
                };
                write!(
                    f,
                    "{} {what} {verb} sent in more than one batch",
                    sample.count
                )?;
                examples(f, sample)
            }
            IntegrityProblem::NoOrders => {
                f.write_str("the dataset holds no orders, so there is nothing to learn from")
            }
            IntegrityProblem::OneOutcome { approved, blocked } => {
                f.write_str("the orders must hold both outcomes: ")?;
                match (approved, blocked) {
                    (0, 0) => f.write_str("0 approved and 0 blocked"),
                    (0, _) => f.write_str("0 approved"),
                    _ => f.write_str("0 blocked"),
                }
            }
            IntegrityProblem::MissingOutcomes { count } => {
                let (has, what) = if *count == 1 {
                    ("has", "order")
                } else {
                    ("have", "orders")
                };
                write!(
                    f,
                    "{count} {what} {has} no outcome; every order of a training dataset \
                     needs \"approved\" or \"blocked\""
                )
            }
        }
    }
}

/// `3 orders`, `1 credit limit`.
fn counted(n: u64, kind: ItemKind) -> String {
    format!("{n} {}", noun(kind, n))
}

fn noun(kind: ItemKind, n: u64) -> &'static str {
    match (kind, n == 1) {
        (ItemKind::Customers, true) => "customer",
        (ItemKind::Customers, false) => "customers",
        (ItemKind::Orders, true) => "order",
        (ItemKind::Orders, false) => "orders",
        (ItemKind::CreditLimits, true) => "credit limit",
        (ItemKind::CreditLimits, false) => "credit limits",
        (ItemKind::BureauReports, true) => "bureau report",
        (ItemKind::BureauReports, false) => "bureau reports",
    }
}

/// `credit limit (customer ...)` → `credit limits (customer ...)`.
fn plural_of_head(what: &str) -> String {
    match what.split_once(" (") {
        Some((head, rest)) => format!("{head}s ({rest}"),
        None => format!("{what}s"),
    }
}

/// `: O7, O9, O12`, then ` and 4 more` when the count exceeds what is listed; nothing when
/// the database gave no examples.
fn examples(f: &mut fmt::Formatter<'_>, sample: &Sample) -> fmt::Result {
    let shown: Vec<&str> = sample
        .examples
        .iter()
        .take(MAX_EXAMPLES)
        .map(String::as_str)
        .collect();
    if shown.is_empty() {
        return Ok(());
    }
    write!(f, ": {}", shown.join(", "))?;
    let rest = sample.count.saturating_sub(shown.len() as u64);
    if rest > 0 {
        write!(f, " and {rest} more")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(customers: u64, orders: u64, credit_limits: u64, bureau_reports: u64) -> Counts {
        Counts {
            customers,
            orders,
            credit_limits,
            bureau_reports,
        }
    }

    fn healthy() -> DatasetFacts {
        DatasetFacts {
            approved_orders: 900,
            blocked_orders: 100,
            ..DatasetFacts::default()
        }
    }

    fn reasons(announced: Counts, stored: Counts, facts: &DatasetFacts) -> Vec<String> {
        check_integrity(&announced, &stored, facts)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_consistent_dataset_has_no_problems() {
        let c = counts(100, 1000, 100, 250);
        assert!(check_integrity(&c, &c, &healthy()).is_empty());
    }

    #[test]
    fn counts_must_match_exactly() {
        let mut facts = healthy();
        facts.approved_orders = 898;
        facts.rejected_batches.add(ItemKind::Orders, 1);
        assert_eq!(
            reasons(counts(100, 1000, 1, 0), counts(101, 998, 0, 0), &facts),
            vec![
                "announced 100 customers but 101 were stored",
                "announced 1000 orders but 998 were stored (1 batch of orders was rejected)",
                "announced 1 credit limit but 0 were stored",
            ]
        );
        assert_eq!(
            reasons(counts(0, 1000, 2, 0), counts(0, 1000, 1, 0), &healthy()),
            vec!["announced 2 credit limits but 1 was stored"]
        );
    }

    #[test]
    fn orphans_are_named() {
        let mut facts = healthy();
        facts.orphan_orders = Sample::new(3, ["O7", "O9", "O12"]);
        facts.orphan_credit_limits = Sample::new(1, ["C77"]);
        facts.orphan_bureau_reports = Sample::new(9, ["C1", "C2", "C3", "C4", "C5", "C6"]);
        let c = counts(10, 1000, 10, 10);
        assert_eq!(
            reasons(c, c, &facts),
            vec![
                "3 orders refer to customers not in the dataset: O7, O9, O12",
                "1 credit limit refers to customers not in the dataset: C77",
                "9 bureau reports refer to customers not in the dataset: C1, C2, C3, C4, C5 \
                 and 4 more",
            ]
        );
    }

    #[test]
    fn duplicates_across_batches_are_named() {
        let mut facts = healthy();
        facts.duplicates.orders = Sample::new(2, ["O1", "O2"]);
        facts.duplicates.customers = Sample::new(1, ["C1"]);
        facts.duplicates.credit_limits = Sample::new(4, Vec::<String>::new());
        let c = counts(10, 1000, 10, 10);
        assert_eq!(
            reasons(c, c, &facts),
            vec![
                "1 customer id was sent in more than one batch: C1",
                "2 order ids were sent in more than one batch: O1, O2",
                "4 credit limits (customer and valid_from) were sent in more than one batch",
            ]
        );
    }

    #[test]
    fn orders_must_hold_both_outcomes() {
        let c = counts(10, 1000, 0, 0);
        let mut facts = healthy();
        facts.approved_orders = 1000;
        facts.blocked_orders = 0;
        assert_eq!(
            reasons(c, c, &facts),
            vec!["the orders must hold both outcomes: 0 blocked"]
        );
        facts.approved_orders = 0;
        facts.blocked_orders = 0;
        assert_eq!(
            reasons(c, c, &facts),
            vec![
                "the orders must hold both outcomes: 0 approved and 0 blocked",
                "1000 orders have no outcome; every order of a training dataset needs \
                 \"approved\" or \"blocked\"",
            ]
        );
        facts.approved_orders = 500;
        facts.blocked_orders = 499;
        assert_eq!(
            reasons(c, c, &facts),
            vec![
                "1 order has no outcome; every order of a training dataset needs \
                 \"approved\" or \"blocked\""
            ]
        );
    }

    #[test]
    fn an_empty_dataset_has_nothing_to_learn() {
        let c = counts(0, 0, 0, 0);
        assert_eq!(
            check_integrity(&c, &c, &DatasetFacts::default()),
            vec![IntegrityProblem::NoOrders]
        );
    }
}
