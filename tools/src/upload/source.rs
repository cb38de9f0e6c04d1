//! Reading a folder of exports into batches: for each kind `<kind>.jsonl` or `<kind>.csv`, every
//! item kept as compact JSON text together with the file line it starts on, so that an error
//! the gateway reports for `items[3]` of batch 17 maps back to `file:line`.
//!
//! CSV: a header row with the JSON field names, nested fields flattened with dots
//! (`payment_habits.on_time`, `negatives.pefin.count`, `attributes.segment`); an empty cell is an
//! absent field; a cell that is a JSON number becomes a number, `true`/`false` a boolean, and
//! anything else a string — except ids, documents, dates, states, outcomes and money, which
//! always stay the exact text of the cell (a document `01234567000189` must keep its zero, and
//! `"1500.10"` must not become a float). Comma or semicolon separated (detected from the header),
//! UTF-8 with or without a byte-order mark.

use super::Kind;
use anyhow::{Context, bail};
use serde_json::{Map, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Items per request: the gateway's maximum.
pub(super) const BATCH_SIZE: usize = 500;
/// How many unreadable lines a file may have before reading stops.
const MAX_LOCAL_ERRORS: usize = 10;

/// One kind's items, read from one file.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Source {
    pub kind: Kind,
    pub path: PathBuf,
    /// Each item as compact JSON text (an object).
    pub items: Vec<String>,
    /// The 1-based line each item starts on.
    pub lines: Vec<u64>,
}

impl Source {
    pub(super) fn file_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    pub(super) fn batch_count(&self) -> usize {
        self.items.len().div_ceil(BATCH_SIZE)
    }

    fn batch_range(&self, batch: usize) -> std::ops::Range<usize> {
        let start = (batch * BATCH_SIZE).min(self.items.len());
        start..(start + BATCH_SIZE).min(self.items.len())
    }

    pub(super) fn batch_len(&self, batch: usize) -> usize {
        self.batch_range(batch).len()
    }

    /// The request body of one batch: `{"items":[...]}`.
    pub(super) fn body(&self, batch: usize) -> String {
        let items = &self.items[self.batch_range(batch)];
        let mut body = String::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 12);
        body.push_str(r#"{"items":["#);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(item);
        }
        body.push_str("]}");
        body
    }

    /// The file line of item `item` of batch `batch`: for a file without blank lines (nor cells
    /// spanning lines) `batch × 500 + item + 1`, plus one for a CSV header.
    pub(super) fn line_of(&self, batch: usize, item: usize) -> Option<u64> {
        if item >= BATCH_SIZE {
            return None;
        }
        self.lines.get(batch * BATCH_SIZE + item).copied()
    }

    /// The first and last line of a batch.
    pub(super) fn line_span(&self, batch: usize) -> Option<(u64, u64)> {
        let range = self.batch_range(batch);
        Some((
            *self.lines.get(range.start)?,
            *self.lines.get(range.end.checked_sub(1)?)?,
        ))
    }
}

/// Every kind found in `dir`, in upload order. Two files for one kind, or none at all, is an
/// error; so is a line that is not a JSON object (listing the first few, with their lines).
pub(super) fn read_dir(dir: &Path) -> anyhow::Result<Vec<Source>> {
    anyhow::ensure!(dir.is_dir(), "{} is not a folder", dir.display());
    let mut sources = Vec::new();
    for kind in Kind::UPLOAD_ORDER {
        let jsonl = dir.join(format!("{}.jsonl", kind.as_str()));
        let csv = dir.join(format!("{}.csv", kind.as_str()));
        let source = match (jsonl.is_file(), csv.is_file()) {
            (true, true) => bail!(
                "both {} and {} exist: keep one",
                jsonl.display(),
                csv.display()
            ),
            (true, false) => read_jsonl_file(kind, &jsonl)?,
            (false, true) => read_csv_file(kind, &csv)?,
            (false, false) => continue,
        };
        sources.push(source);
    }
    if sources.is_empty() {
        bail!(
            "nothing to upload in {}: expected customers, credit_limits, bureau_reports and/or orders as .jsonl or .csv",
            dir.display()
        );
    }
    Ok(sources)
}

fn local_errors(path: &Path, errors: &[(u64, String)]) -> anyhow::Error {
    let name = path.display();
    let list: Vec<String> = errors
        .iter()
        .map(|(line, e)| format!("  {name}:{line}: {e}"))
        .collect();
    anyhow::anyhow!(
        "{name} has lines that cannot be sent (fix them and re-run):\n{}",
        list.join("\n")
    )
}

fn read_jsonl_file(kind: Kind, path: &Path) -> anyhow::Result<Source> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    read_jsonl(kind, path, std::io::BufReader::with_capacity(1 << 16, file))
}

/// One JSON object per line; blank lines are skipped (and still counted).
pub(super) fn read_jsonl(
    kind: Kind,
    path: &Path,
    mut reader: impl BufRead,
) -> anyhow::Result<Source> {
    let mut source = Source {
        kind,
        path: path.to_owned(),
        items: Vec::new(),
        lines: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut buffer = Vec::new();
    let mut line = 0u64;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            break;
        }
        line += 1;
        let bytes = if line == 1 {
            buffer.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buffer)
        } else {
            &buffer
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.trim(),
            Err(_) => {
                errors.push((line, "not UTF-8".to_owned()));
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        match check_object(text) {
            Ok(()) => {
                source.items.push(text.to_owned());
                source.lines.push(line);
            }
            Err(e) => errors.push((line, e)),
        }
        if errors.len() >= MAX_LOCAL_ERRORS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(source)
    } else {
        Err(local_errors(path, &errors))
    }
}

fn check_object(text: &str) -> Result<(), String> {
    if !text.starts_with('{') {
        return Err("not a JSON object".to_owned());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| format!("not valid JSON: {e}"))
}

fn read_csv_file(kind: Kind, path: &Path) -> anyhow::Result<Source> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_csv(kind, path, &bytes)
}

/// How a cell's text becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// Always the cell's text.
    Text,
    /// A JSON number if it is one, `true`/`false` as a boolean, else the text.
    Auto,
}

const TEXT_FIELDS: [&str; 11] = [
    "id",
    "customer_id",
    "document",
    "state",
    "founded_on",
    "valid_from",
    "queried_at",
    "issued_at",
    "outcome",
    "limit",
    "amount",
];

fn cell_type(path: &[String]) -> Cell {
    match path {
        [field] if TEXT_FIELDS.contains(&field.as_str()) => Cell::Text,
        [negatives, _, total] if negatives == "negatives" && total == "total" => Cell::Text,
        _ => Cell::Auto,
    }
}

fn cell_value(cell: Cell, text: &str) -> Value {
    if cell == Cell::Auto {
        if let Ok(number) = serde_json::from_str::<serde_json::Number>(text) {
            return Value::Number(number);
        }
        if text.eq_ignore_ascii_case("true") {
            return Value::Bool(true);
        }
        if text.eq_ignore_ascii_case("false") {
            return Value::Bool(false);
        }
    }
    Value::String(text.to_owned())
}

/// The dotted header names as paths, refusing empty names, duplicates and a name that is both a
/// field and a group (`attributes` and `attributes.segment`).
fn header_paths(headers: &csv::StringRecord) -> Result<Vec<Vec<String>>, String> {
    let paths: Vec<Vec<String>> = headers
        .iter()
        .map(|h| h.trim().split('.').map(str::to_owned).collect())
        .collect();
    for (i, path) in paths.iter().enumerate() {
        let name = path.join(".");
        if path.iter().any(String::is_empty) {
            return Err(format!("column {} has an invalid name {name:?}", i + 1));
        }
        for other in &paths[..i] {
            if other == path {
                return Err(format!("column {name:?} appears twice"));
            }
            let (short, long) = if other.len() < path.len() {
                (other, path)
            } else {
                (path, other)
            };
            if long.starts_with(short) {
                return Err(format!(
                    "columns {:?} and {:?} conflict: one is a group of the other",
                    short.join("."),
                    long.join(".")
                ));
            }
        }
    }
    Ok(paths)
}

fn insert(object: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            object.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let child = object
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert(child, rest, value);
            }
        }
    }
}

/// Comma unless the header has more semicolons than commas (spreadsheets set to pt-BR).
fn delimiter(bytes: &[u8]) -> u8 {
    let header = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |c: u8| header.iter().filter(|&&b| b == c).count();
    if count(b';') > count(b',') {
        b';'
    } else {
        b','
    }
}

pub(super) fn read_csv(kind: Kind, path: &Path, bytes: &[u8]) -> anyhow::Result<Source> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(bytes))
        .has_headers(true)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .with_context(|| format!("cannot read the header row of {}", path.display()))?
        .clone();
    let paths = header_paths(&headers).map_err(|e| anyhow::anyhow!("{}:1: {e}", path.display()))?;
    let cells: Vec<Cell> = paths.iter().map(|p| cell_type(p)).collect();
    let mut source = Source {
        kind,
        path: path.to_owned(),
        items: Vec::new(),
        lines: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                if record.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                let mut object = Map::new();
                for ((path, cell), text) in paths.iter().zip(&cells).zip(record.iter()) {
                    let text = text.trim();
                    if !text.is_empty() {
                        insert(&mut object, path, cell_value(*cell, text));
                    }
                }
                source
                    .items
                    .push(serde_json::to_string(&Value::Object(object))?);
                source.lines.push(line);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("{len} cells where the header has {expected_len}"),
                    csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_owned(),
                    _ => e.to_string(),
                };
                let fatal = e.is_io_error();
                errors.push((line, reason));
                if fatal || errors.len() >= MAX_LOCAL_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(source)
    } else {
        Err(local_errors(path, &errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::{BTreeMap, BTreeSet};

    fn jsonl(text: &str) -> anyhow::Result<Source> {
        read_jsonl(
            Kind::Customers,
            Path::new("customers.jsonl"),
            text.as_bytes(),
        )
    }

    fn csv(kind: Kind, text: &str) -> anyhow::Result<Source> {
        read_csv(kind, Path::new("x.csv"), text.as_bytes())
    }

    fn items(source: &Source) -> Vec<Value> {
        source
            .items
            .iter()
            .map(|i| serde_json::from_str(i).expect("json"))
            .collect()
    }

    #[test]
    fn batches_hold_at_most_500_items_and_map_back_to_lines() -> anyhow::Result<()> {
        let text: String = (1..=1203)
            .map(|i| format!("{{\"id\":\"C{i}\"}}\n"))
            .collect();
        let source = jsonl(&text)?;
        assert_eq!(source.batch_count(), 3);
        assert_eq!(
            (0..3).map(|b| source.batch_len(b)).collect::<Vec<_>>(),
            [500, 500, 203]
        );
        // batch × 500 + item + 1
        assert_eq!(source.line_of(0, 0), Some(1));
        assert_eq!(source.line_of(2, 3), Some(1004));
        assert_eq!(source.line_of(2, 203), None);
        assert_eq!(source.line_span(1), Some((501, 1000)));
        let body: Value = serde_json::from_str(&source.body(2))?;
        assert_eq!(body["items"].as_array().map(Vec::len), Some(203));
        assert_eq!(body["items"][3], json!({"id": "C1004"}));

        let text: String = std::iter::once("id\n".to_owned())
            .chain((1..=1203).map(|i| format!("C{i}\n")))
            .collect();
        let source = csv(Kind::Customers, &text)?;
        // + 1 for the header.
        assert_eq!(source.line_of(2, 3), Some(1005));
        assert_eq!(items(&source)[1003], json!({"id": "C1004"}));
        Ok(())
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() -> anyhow::Result<()> {
        let source = jsonl("\u{feff}{\"id\":\"C1\"}\r\n\n  \n{\"id\":\"C2\"}\n")?;
        assert_eq!(source.items, [r#"{"id":"C1"}"#, r#"{"id":"C2"}"#]);
        assert_eq!(source.lines, [1, 4]);
        Ok(())
    }

    #[test]
    fn lines_that_are_not_json_objects_are_listed_with_their_line() {
        let error = jsonl("{\"id\":\"C1\"}\n{\"id\":\n[1]\n{\"id\":\"C4\"} x\n")
            .expect_err("bad lines")
            .to_string();
        assert!(
            error.contains("customers.jsonl:2: not valid JSON"),
            "{error}"
        );
        assert!(
            error.contains("customers.jsonl:3: not a JSON object"),
            "{error}"
        );
        assert!(
            error.contains("customers.jsonl:4: not valid JSON"),
            "{error}"
        );
        assert!(!error.contains("customers.jsonl:1:"), "{error}");
    }

    #[test]
    fn csv_columns_are_unflattened_into_the_nested_shape() -> anyhow::Result<()> {
        let text = "customer_id,queried_at,inquiries,score,payment_habits.on_time,payment_habits.late_over_60,\
supplier_relationships.m0_6,negatives.pefin.count,negatives.pefin.total,negatives.bankruptcy.count,attributes.segment\n\
7,2024-03-01T10:00:00Z,4,650,0.80,0.0,1,1,1200.50,0,retail\n\
C2,2024-03-02T10:00:00Z,,,,,,,,,\n";
        let source = csv(Kind::BureauReports, text)?;
        assert_eq!(
            items(&source),
            [
                json!({
                    "customer_id": "7", "queried_at": "2024-03-01T10:00:00Z", "inquiries": 4,
                    "score": 650,
                    "payment_habits": {"on_time": 0.8, "late_over_60": 0.0},
                    "supplier_relationships": {"m0_6": 1},
                    "negatives": {"pefin": {"count": 1, "total": "1200.50"},
                                  "bankruptcy": {"count": 0}},
                    "attributes": {"segment": "retail"}
                }),
                json!({"customer_id": "C2", "queried_at": "2024-03-02T10:00:00Z"}),
            ]
        );
        assert_eq!(source.lines, [2, 3]);
        Ok(())
    }

    #[test]
    fn csv_cells_keep_their_type() -> anyhow::Result<()> {
        let text = "\u{feff}id;document;simples_nacional;founded_on;attributes.employees;attributes.region;attributes.code;attributes.vip\n\
C1;01234567000189;TRUE;2010-05-01;12;\"Sul; interior\";007;false\n";
        let source = csv(Kind::Customers, text)?;
        assert_eq!(
            items(&source),
            [json!({
                "id": "C1", "document": "01234567000189", "simples_nacional": true,
                "founded_on": "2010-05-01",
                "attributes": {"employees": 12, "region": "Sul; interior", "code": "007",
                               "vip": false}
            })]
        );
        let orders = csv(
            Kind::Orders,
            "id,customer_id,amount,payment_term_days,attributes.ratio\nO1,C1,15000.00,30,1e-3\n",
        )?;
        assert_eq!(
            items(&orders),
            [
                json!({"id": "O1", "customer_id": "C1", "amount": "15000.00",
                    "payment_term_days": 30, "attributes": {"ratio": 0.001}})
            ]
        );
        Ok(())
    }

    #[test]
    fn bad_csv_headers_and_rows_are_refused_with_their_line() {
        let conflict = csv(
            Kind::Customers,
            "id,attributes,attributes.segment\nC1,x,y\n",
        )
        .expect_err("conflict")
        .to_string();
        assert!(conflict.contains("conflict"), "{conflict}");
        let duplicate = csv(Kind::Customers, "id,id\nC1,C2\n")
            .expect_err("duplicate")
            .to_string();
        assert!(duplicate.contains("twice"), "{duplicate}");
        let ragged = csv(Kind::Customers, "id,state\nC1,SP\nC2\nC3,RJ\n")
            .expect_err("ragged")
            .to_string();
        assert!(
            ragged.contains("x.csv:3: 1 cells where the header has 2"),
            "{ragged}"
        );
    }

    fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    flatten(&path, value, out);
                }
            }
            Value::String(text) => {
                out.insert(prefix.to_owned(), text.clone());
            }
            other => {
                out.insert(prefix.to_owned(), other.to_string());
            }
        }
    }

    /// Every synthetic item, written as a flattened CSV row and read back, is the same JSON.
    #[test]
    fn csv_exports_of_every_kind_read_back_as_the_json_shape() -> anyhow::Result<()> {
        let data = crate::synth::generate(300, 1_000, 21)?;
        let as_values = |items: Vec<String>| -> Vec<Value> {
            items
                .iter()
                .map(|i| serde_json::from_str(i).expect("json"))
                .collect()
        };
        let kinds: [(Kind, Vec<String>); 4] = [
            (Kind::Customers, data.customers.iter().map(json).collect()),
            (
                Kind::CreditLimits,
                data.credit_limits.iter().flatten().map(json).collect(),
            ),
            (
                Kind::BureauReports,
                data.bureau_reports.iter().flatten().map(json).collect(),
            ),
            (Kind::Orders, data.orders.iter().map(json).collect()),
        ];
        for (kind, texts) in kinds {
            let values = as_values(texts);
            let rows: Vec<BTreeMap<String, String>> = values
                .iter()
                .map(|v| {
                    let mut row = BTreeMap::new();
                    flatten("", v, &mut row);
                    row
                })
                .collect();
            let columns: BTreeSet<&String> = rows.iter().flat_map(|r| r.keys()).collect();
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(&columns)?;
            for row in &rows {
                writer.write_record(
                    columns
                        .iter()
                        .map(|c| row.get(*c).map_or("", String::as_str)),
                )?;
            }
            let bytes = writer.into_inner()?;
            let read = read_csv(kind, Path::new("export.csv"), &bytes)?;
            let read = items(&read);
            assert_eq!(read.len(), values.len(), "{kind:?}");
            for (read, written) in read.iter().zip(&values) {
                // An empty group has no cell to stand in: it reads back absent.
                let mut written = written.clone();
                if written["attributes"] == json!({}) {
                    written.as_object_mut().map(|o| o.remove("attributes"));
                }
                assert_eq!(read, &written, "{kind:?}");
            }
        }
        Ok(())
    }

    fn json<T: serde::Serialize>(item: &T) -> String {
        serde_json::to_string(item).expect("serializes")
    }

    #[test]
    fn a_folder_is_read_in_upload_order_and_ambiguity_is_refused() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("aval-source-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        assert!(read_dir(&dir).is_err());
        std::fs::write(dir.join("orders.csv"), "id,customer_id\nO1,C1\n")?;
        std::fs::write(dir.join("customers.jsonl"), "{\"id\":\"C1\"}\n")?;
        let kinds: Vec<Kind> = read_dir(&dir)?.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [Kind::Customers, Kind::Orders]);
        std::fs::write(dir.join("orders.jsonl"), "{\"id\":\"O1\"}\n")?;
        assert!(read_dir(&dir).is_err());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
