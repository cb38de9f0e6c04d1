//! Cursor paging of the lists that run newest first by (a time, an id): `limit`, `cursor` and
//! a `status` filter, read by one rule. The cursor is opaque to clients: it names the last item
//! of the page before, and is only ever handed back.

use aval_core::FieldErrors;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub(crate) const DEFAULT_LIMIT: i64 = 20;
pub(crate) const MAX_LIMIT: i64 = 100;
const PARAMETERS: [&str; 3] = ["limit", "cursor", "status"];

/// Where a page ends: the time and id of its last item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) at: DateTime<Utc>,
    pub(crate) id: String,
}

impl Cursor {
    /// Microseconds (the database's precision) and the id, as hex.
    pub(crate) fn encode(&self) -> String {
        hex::encode(format!("{}/{}", self.at.timestamp_micros(), self.id))
    }

    pub(crate) fn decode(text: &str) -> Option<Cursor> {
        let bytes = hex::decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('/')?;
        let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        (!id.is_empty()).then(|| Cursor {
            at,
            id: id.to_owned(),
        })
    }
}

/// One page's request: at most `limit` items after `cursor`, of `status` when given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageRequest<S> {
    pub(crate) limit: i64,
    pub(crate) cursor: Option<Cursor>,
    pub(crate) status: Option<S>,
}

/// Reads the query: every bad value and unknown parameter is named. `status` is read by
/// `parse_status`, which lists the statuses in its error; `id_ok` says whether a cursor's id
/// is one of the list's ids.
pub(crate) fn page_request<S>(
    params: &HashMap<String, String>,
    parse_status: impl Fn(&str) -> Option<S>,
    statuses: &[&str],
    id_ok: impl Fn(&str) -> bool,
) -> Result<PageRequest<S>, FieldErrors> {
    let mut errors = FieldErrors::default();
    for key in params.keys().filter(|k| !PARAMETERS.contains(&k.as_str())) {
        errors.push(
            key.as_str(),
            "unknown parameter; use limit, cursor and status",
        );
    }
    let limit = read_limit(params, &mut errors);
    let cursor = read_cursor(params, id_ok, &mut errors);
    let status = match params.get("status") {
        None => None,
        Some(text) => match parse_status(text) {
            Some(status) => Some(status),
            None => {
                errors.push("status", format!("must be one of {}", statuses.join(", ")));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PageRequest {
        limit,
        cursor,
        status,
    })
}

/// `limit` and `cursor` of a list without statuses, whose own filters `filters` the caller
/// reads: every bad value and every other parameter is added to `errors`.
pub(crate) fn filtered_page(
    params: &HashMap<String, String>,
    filters: &[&str],
    id_ok: impl Fn(&str) -> bool,
    errors: &mut FieldErrors,
) -> (i64, Option<Cursor>) {
    let mut known = vec!["limit", "cursor"];
    known.extend_from_slice(filters);
    let mut unknown: Vec<&String> = params
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    unknown.sort();
    for key in unknown {
        errors.push(
            key.as_str(),
            format!("unknown parameter; use {}", known.join(", ")),
        );
    }
    (
        read_limit(params, errors),
        read_cursor(params, id_ok, errors),
    )
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent (or bad, with the error noted).
fn read_limit(params: &HashMap<String, String>, errors: &mut FieldErrors) -> i64 {
    match params.get("limit").map(|v| v.parse::<i64>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            errors.push("limit", format!("must be an integer from 1 to {MAX_LIMIT}"));
            DEFAULT_LIMIT
        }
    }
}

/// `cursor`: one this list gave, whose id `id_ok` takes.
fn read_cursor(
    params: &HashMap<String, String>,
    id_ok: impl Fn(&str) -> bool,
    errors: &mut FieldErrors,
) -> Option<Cursor> {
    let text = params.get("cursor")?;
    let cursor = Cursor::decode(text).filter(|c| id_ok(&c.id));
    if cursor.is_none() {
        errors.push(
            "cursor",
            "is not a cursor this list gave; pass `next_cursor` of the previous page as it came",
        );
    }
    cursor
}

/// Cuts a fetch of `limit + 1` items to the page, with the cursor of the next page when there
/// is one (the extra item proves it).
pub(crate) fn cut<T>(
    mut items: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() <= limit {
        return (items, None);
    }
    items.truncate(limit);
    let next = items.last().map(|last| key(last).encode());
    (items, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn read(pairs: &[(&str, &str)]) -> Result<PageRequest<String>, FieldErrors> {
        page_request(
            &query(pairs),
            |s| (s == "ready").then(|| s.to_owned()),
            &["ready"],
            |id| id != "bad",
        )
    }

    #[test]
    fn a_cursor_reads_back_to_the_microsecond() {
        let at = DateTime::from_timestamp_micros(1_764_700_000_123_456).expect("time");
        let cursor = Cursor {
            at,
            id: "0b6f3c1e-8d2a-4c57-9a43-1f2e3d4c5b6a".to_owned(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for junk in ["", "zz", &hex::encode("no-slash"), &hex::encode("12/")] {
            assert_eq!(Cursor::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn defaults_and_every_bad_value_named() {
        let page = read(&[]).expect("defaults");
        assert_eq!((page.limit, page.cursor, page.status), (20, None, None));
        let errors = read(&[
            ("limit", "0"),
            ("cursor", "nonsense"),
            ("status", "done"),
            ("sort", "asc"),
        ])
        .expect_err("all bad");
        let fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
        for field in ["limit", "cursor", "status", "sort"] {
            assert!(fields.contains(&field.to_owned()), "{field}: {fields:?}");
        }
        let bad_id = Cursor {
            at: Utc::now(),
            id: "bad".to_owned(),
        };
        assert!(read(&[("cursor", &bad_id.encode())]).is_err());
        assert!(read(&[("limit", "101")]).is_err());
        assert_eq!(read(&[("limit", "100")]).expect("max").limit, 100);
    }

    /// The documented 422 is what the code writes for the same query.
    #[test]
    fn the_documented_refusal_is_written_by_this_code() {
        let errors = read(&[("limit", "0"), ("cursor", "zz")]).expect_err("refused");
        let written = serde_json::to_value(crate::problem::Problem::invalid(errors))
            .expect("a problem serializes");
        let documented = crate::routes::openapi::examples::list_page_422();
        for member in ["type", "title", "status", "detail"] {
            assert_eq!(written[member], documented[member], "{member}");
        }
        let fields = |v: &serde_json::Value| {
            let mut pairs: Vec<String> = v["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .map(|e| format!("{}: {}", e["field"], e["reason"]))
                .collect();
            pairs.sort();
            pairs
        };
        assert_eq!(fields(&written), fields(&documented));
    }

    #[test]
    fn a_filtered_list_takes_its_filters_and_names_the_rest() {
        let mut errors = FieldErrors::default();
        let (limit, cursor) = filtered_page(
            &query(&[("order_id", "A-1"), ("limit", "5")]),
            &["order_id"],
            |_| true,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors}");
        assert_eq!((limit, cursor), (5, None));
        filtered_page(
            &query(&[("status", "ready"), ("limit", "x"), ("cursor", "zz")]),
            &["order_id"],
            |_| true,
            &mut errors,
        );
        let fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
        assert_eq!(fields, ["status", "limit", "cursor"]);
        assert!(
            errors
                .iter()
                .next()
                .is_some_and(|e| e.reason.contains("order_id"))
        );
    }

    #[test]
    fn the_extra_item_gives_the_next_cursor() {
        let key = |n: &i64| Cursor {
            at: DateTime::from_timestamp_micros(*n).expect("time"),
            id: n.to_string(),
        };
        assert_eq!(cut(vec![3, 2], 2, key), (vec![3, 2], None));
        let (page, next) = cut(vec![3, 2, 1], 2, key);
        assert_eq!(page, vec![3, 2]);
        assert_eq!(next.and_then(|n| Cursor::decode(&n)), Some(key(&2)));
    }
}
