//! `aval synth`: a realistic synthetic dataset (customers, credit limits, bureau reports and
//! orders with their outcome) as JSON lines, one file per kind, in the shapes of the HTTP API.
//!
//! Deterministic: the same arguments give byte-identical files, and nothing depends on the
//! clock (the history is the two years before a fixed anchor date). The outcome of every order
//! comes from a hidden risk rule over the facts as of the order (see [`rule`]), which is what a
//! good model trained on this data should recover.

mod documents;
mod generate;
mod random;
mod rule;
mod wire;

use anyhow::Context;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub(crate) use generate::{Dataset, generate};

/// What to generate, and where to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub customers: usize,
    /// Spread over the two years before the fixed anchor date.
    pub orders: usize,
    /// The same seed gives the same files.
    pub seed: u64,
    /// The folder of the four files (created when missing; the files are replaced).
    pub out: PathBuf,
}

/// The file of each kind, in the order they are written.
const FILES: [&str; 4] = [
    "customers.jsonl",
    "credit_limits.jsonl",
    "bureau_reports.jsonl",
    "orders.jsonl",
];

/// Generates the dataset, writes its four files, and tells `out` what was written.
pub fn run(options: &Options, out: &mut dyn Write) -> anyhow::Result<()> {
    let dataset = generate(options.customers, options.orders, options.seed)?;
    write_dataset(&dataset, &options.out)?;
    writeln!(out, "{}", summary(&dataset, &options.out))?;
    Ok(())
}

fn summary(dataset: &Dataset, out: &Path) -> String {
    let blocked = dataset.blocked_count();
    let share = if dataset.orders.is_empty() {
        0.0
    } else {
        100.0 * blocked as f64 / dataset.orders.len() as f64
    };
    format!(
        "synth: {} customers, {} credit limits, {} bureau reports, {} orders ({blocked} blocked, {share:.1}%) in {}",
        dataset.customers.len(),
        dataset.credit_limit_count(),
        dataset.bureau_report_count(),
        dataset.orders.len(),
        out.display()
    )
}

fn write_dataset(dataset: &Dataset, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let [customers, limits, reports, orders] = FILES.map(|name| dir.join(name));
    write_file(&customers, dataset.customers.iter())?;
    write_file(&limits, dataset.credit_limits.iter().flatten())?;
    write_file(&reports, dataset.bureau_reports.iter().flatten())?;
    write_file(&orders, dataset.orders.iter())?;
    Ok(())
}

fn write_file<'a, T: Serialize + 'a>(
    path: &Path,
    items: impl Iterator<Item = &'a T>,
) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    write_lines(&mut out, items).with_context(|| format!("cannot write {}", path.display()))?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One JSON object per line.
fn write_lines<'a, T: Serialize + 'a>(
    out: &mut impl Write,
    items: impl Iterator<Item = &'a T>,
) -> anyhow::Result<()> {
    for item in items {
        serde_json::to_writer(&mut *out, item)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::HashSet;

    fn lines(items: impl Iterator<Item = impl Serialize>) -> Vec<Value> {
        let items: Vec<_> = items.collect();
        let mut out = Vec::new();
        write_lines(&mut out, items.iter()).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aval-synth-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn is_money(v: &Value) -> bool {
        v.as_str().is_some_and(|s| {
            let (whole, cents) = s.split_once('.').unwrap_or(("", ""));
            !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && cents.len() == 2
                && cents.bytes().all(|b| b.is_ascii_digit())
        })
    }

    fn is_date(v: &Value) -> bool {
        v.as_str()
            .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
    }

    fn is_timestamp(v: &Value) -> bool {
        v.as_str()
            .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
    }

    #[test]
    fn the_same_arguments_give_byte_identical_files() -> anyhow::Result<()> {
        let (a, b, c) = (temp_dir("a"), temp_dir("b"), temp_dir("c"));
        write_dataset(&generate(300, 3_000, 9)?, &a)?;
        write_dataset(&generate(300, 3_000, 9)?, &b)?;
        write_dataset(&generate(300, 3_000, 10)?, &c)?;
        for name in FILES {
            let first = std::fs::read(a.join(name))?;
            assert!(!first.is_empty(), "{name}");
            assert_eq!(first, std::fs::read(b.join(name))?, "{name}");
            assert_ne!(first, std::fs::read(c.join(name))?, "{name}");
        }
        for dir in [a, b, c] {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
    }

    #[test]
    fn more_orders_keep_the_same_customers() -> anyhow::Result<()> {
        let small = generate(200, 100, 3)?;
        let large = generate(200, 5_000, 3)?;
        assert_eq!(small.customers, large.customers);
        assert_eq!(small.bureau_reports, large.bureau_reports);
        Ok(())
    }

    #[test]
    fn every_line_has_the_documented_shape() -> anyhow::Result<()> {
        let data = generate(500, 5_000, 1)?;
        for c in lines(data.customers.iter()) {
            assert!(
                c["id"].as_str().is_some_and(|id| id.starts_with('C')),
                "{c}"
            );
            assert!(c["attributes"].is_object(), "{c}");
            if let Some(d) = c.get("founded_on") {
                assert!(is_date(d), "{c}");
            }
            if let Some(s) = c.get("state") {
                assert_eq!(s.as_str().map(str::len), Some(2), "{c}");
            }
            if c.get("mei") == Some(&Value::Bool(true)) {
                assert_ne!(c.get("simples_nacional"), Some(&Value::Bool(false)), "{c}");
            }
        }
        for l in lines(data.credit_limits.iter().flatten()) {
            assert!(l["customer_id"].is_string() && is_money(&l["limit"]), "{l}");
            assert!(is_date(&l["valid_from"]), "{l}");
        }
        for r in lines(data.bureau_reports.iter().flatten()) {
            assert!(
                r["customer_id"].is_string() && is_timestamp(&r["queried_at"]),
                "{r}"
            );
            if let Some(score) = r.get("score") {
                assert!(score.as_u64().is_some_and(|s| s <= 1000), "{r}");
            }
            if let Some(habits) = r.get("payment_habits") {
                let fields = [
                    "on_time",
                    "cash",
                    "late_8_15",
                    "late_16_30",
                    "late_31_60",
                    "late_over_60",
                ];
                let mut sum = 0.0;
                for f in fields {
                    let v = habits[f].as_f64().expect("a fraction");
                    assert!((0.0..=1.0).contains(&v), "{r}");
                    assert_eq!((v * 10_000.0).round() / 10_000.0, v, "4 decimals: {r}");
                    sum += v;
                }
                assert!(sum <= 1.0, "sum {sum}: {r}");
            }
            if let Some(s) = r.get("supplier_relationships") {
                for f in [
                    "m0_6", "m6_12", "y1_3", "y3_5", "y5_10", "y10_plus", "inactive",
                ] {
                    assert!(s[f].is_u64(), "{r}");
                }
            }
            if let Some(n) = r.get("negatives") {
                for f in ["pefin", "refin", "overdue_debts"] {
                    assert!(n[f]["count"].is_u64() && is_money(&n[f]["total"]), "{r}");
                }
                for f in [
                    "bankruptcy",
                    "bounced_cheques",
                    "represented_cheques",
                    "bankruptcy_participation",
                ] {
                    assert!(n[f]["count"].is_u64() && n[f].get("total").is_none(), "{r}");
                }
            }
        }
        for o in lines(data.orders.iter()) {
            assert!(
                o["id"].as_str().is_some_and(|id| id.starts_with('O')),
                "{o}"
            );
            assert!(
                o["customer_id"].is_string() && is_timestamp(&o["issued_at"]),
                "{o}"
            );
            assert!(is_money(&o["amount"]), "{o}");
            assert!(
                ["approved", "blocked"].contains(&o["outcome"].as_str().unwrap_or("")),
                "{o}"
            );
            if let Some(n) = o.get("installments") {
                assert!(n.as_u64().is_some_and(|n| (1..=12).contains(&n)), "{o}");
            }
        }
        Ok(())
    }

    #[test]
    fn documents_are_valid_and_unique() -> anyhow::Result<()> {
        let data = generate(3_000, 0, 5)?;
        let mut seen = HashSet::new();
        let (mut cnpj, mut cpf) = (0, 0);
        for c in &data.customers {
            let Some(doc) = &c.document else { continue };
            match doc.len() {
                14 => {
                    assert!(aval_core::ingest::is_valid_cnpj(doc), "{doc}");
                    cnpj += 1;
                }
                11 => {
                    assert!(aval_core::ingest::is_valid_cpf(doc), "{doc}");
                    cpf += 1;
                }
                _ => panic!("not a document: {doc}"),
            }
            assert!(seen.insert(doc.clone()), "duplicate {doc}");
        }
        assert!(cnpj > 4 * cpf && cpf > 0, "{cnpj} CNPJ, {cpf} CPF");
        Ok(())
    }

    #[test]
    fn everything_refers_to_a_known_customer_and_time_stays_in_the_window() -> anyhow::Result<()> {
        let data = generate(400, 4_000, 2)?;
        let ids: HashSet<&str> = data.customers.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), data.customers.len());
        let limits = data.credit_limits.iter().flatten();
        assert!(limits.clone().all(|l| ids.contains(l.customer_id.as_str())));
        let reports = data.bureau_reports.iter().flatten();
        assert!(
            reports
                .clone()
                .all(|r| ids.contains(r.customer_id.as_str()))
        );
        assert!(
            data.orders
                .iter()
                .all(|o| ids.contains(o.customer_id.as_str()))
        );
        for per_customer in &data.credit_limits {
            assert!((1..=3).contains(&per_customer.len()));
            assert!(
                per_customer
                    .windows(2)
                    .all(|w| w[0].valid_from < w[1].valid_from)
            );
        }
        for per_customer in &data.bureau_reports {
            assert!((1..=6).contains(&per_customer.len()));
            assert!(
                per_customer
                    .windows(2)
                    .all(|w| w[0].queried_at < w[1].queried_at)
            );
        }
        let anchor = generate::anchor();
        let first = anchor - chrono::Duration::days(generate::HISTORY_DAYS);
        for o in &data.orders {
            assert!(o.issued_at.date() >= first && o.issued_at.date() < anchor);
        }
        for r in reports {
            assert!(r.queried_at.date() >= first && r.queried_at.date() < anchor);
        }
        let order_ids: HashSet<&str> = data.orders.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(order_ids.len(), data.orders.len());
        Ok(())
    }

    #[test]
    fn the_ingest_validator_accepts_every_item() -> anyhow::Result<()> {
        use aval_core::ingest::{ItemKind, validate_batch};
        let data = generate(700, 3_000, 13)?;
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")?.to_utc();
        let check = |kind: ItemKind, values: Vec<Value>| {
            for chunk in values.chunks(500) {
                if let Err(errors) = validate_batch(kind, chunk, now) {
                    panic!("{kind:?}: {errors}");
                }
            }
        };
        check(ItemKind::Customers, lines(data.customers.iter()));
        check(
            ItemKind::CreditLimits,
            lines(data.credit_limits.iter().flatten()),
        );
        check(
            ItemKind::BureauReports,
            lines(data.bureau_reports.iter().flatten()),
        );
        check(ItemKind::Orders, lines(data.orders.iter()));
        Ok(())
    }

    #[test]
    fn both_outcomes_appear_in_a_sane_share() -> anyhow::Result<()> {
        let data = generate(2_000, 20_000, 11)?;
        let share = data.blocked_count() as f64 / data.orders.len() as f64;
        assert!((0.12..=0.33).contains(&share), "blocked share {share}");
        Ok(())
    }

    #[test]
    fn risky_customers_keep_their_negatives() -> anyhow::Result<()> {
        // Among customers with at least two reports with negatives, one with records in its
        // first report has records in its last far more often than one without.
        let data = generate(4_000, 0, 8)?;
        let has = |r: &wire::BureauReport| r.negatives.is_some_and(|n| n.pefin.count > 0);
        let (mut with, mut with_kept, mut without, mut without_got) = (0, 0, 0, 0);
        for reports in &data.bureau_reports {
            let known: Vec<_> = reports.iter().filter(|r| r.negatives.is_some()).collect();
            if let [first, .., last] = known.as_slice() {
                if has(first) {
                    with += 1;
                    with_kept += usize::from(has(last));
                } else {
                    without += 1;
                    without_got += usize::from(has(last));
                }
            }
        }
        let kept = with_kept as f64 / with as f64;
        let got = without_got as f64 / without as f64;
        assert!(kept > 2.0 * got, "kept {kept}, got {got}");
        Ok(())
    }

    #[test]
    fn the_hidden_rule_is_visible_in_the_data() -> anyhow::Result<()> {
        // Orders whose as-of report shows PEFIN records are blocked more often.
        let data = generate(2_000, 20_000, 4)?;
        let index: std::collections::HashMap<&str, usize> = data
            .customers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let (mut dirty, mut dirty_blocked, mut clean, mut clean_blocked) = (0, 0, 0, 0);
        for o in &data.orders {
            let reports = &data.bureau_reports[index[o.customer_id.as_str()]];
            let report = rule::as_of(reports, o.issued_at, |r| r.queried_at);
            let Some(n) = report.and_then(|r| r.negatives) else {
                continue;
            };
            let blocked = usize::from(o.outcome == wire::Outcome::Blocked);
            if n.pefin.count > 0 {
                dirty += 1;
                dirty_blocked += blocked;
            } else {
                clean += 1;
                clean_blocked += blocked;
            }
        }
        let dirty_share = dirty_blocked as f64 / dirty as f64;
        let clean_share = clean_blocked as f64 / clean as f64;
        assert!(
            dirty_share > 1.5 * clean_share,
            "{dirty_share} vs {clean_share}"
        );
        Ok(())
    }
}
