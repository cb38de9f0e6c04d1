//! Query parameters that several listings read by the same rule: a time range, a text id, and
//! no parameter but those known.

use aval_core::FieldErrors;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The longest id a filter takes (a request id, an order or customer id).
pub(crate) const MAX_ID_CHARS: usize = 100;

/// The RFC 3339 instant in `field`, if given.
pub(crate) fn instant(
    params: &HashMap<String, String>,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<DateTime<Utc>> {
    let value = params.get(field)?;
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(
                field,
                "must be an RFC 3339 date-time, like 2026-12-01T00:00:00Z",
            );
            None
        }
    }
}

/// `from` and `to` read, and `from` before `to` when both are given.
pub(crate) fn range(
    params: &HashMap<String, String>,
    errors: &mut FieldErrors,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let from = instant(params, "from", errors);
    let to = instant(params, "to", errors);
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        errors.push("to", "must be later than from");
    }
    (from, to)
}

/// `as_of`: the instant outcomes are read as of, `now` when not given; never later than now.
pub(crate) fn as_of(
    params: &HashMap<String, String>,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> DateTime<Utc> {
    match instant(params, "as_of", errors) {
        Some(at) if at > now => {
            errors.push(
                "as_of",
                "must not be in the future: what is known now is as of now",
            );
            now
        }
        Some(at) => at,
        None => now,
    }
}

/// A non-empty text of at most [`MAX_ID_CHARS`] characters.
pub(crate) fn id_param(
    params: &HashMap<String, String>,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<String> {
    let value = params.get(field)?;
    if value.is_empty() || value.chars().count() > MAX_ID_CHARS {
        errors.push(field, format!("must be 1 to {MAX_ID_CHARS} characters"));
        return None;
    }
    Some(value.clone())
}

/// The window a report reads: `to` defaults to `until` (or `from`, when later), `from` to
/// `span` before `to`.
pub(crate) fn window_until(
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    until: DateTime<Utc>,
    span: chrono::Duration,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let to = to.unwrap_or_else(|| from.map_or(until, |from| from.max(until)));
    (from.unwrap_or(to - span), to)
}

/// The optional `model_version`: a version number, from 1.
pub(crate) fn model_version(
    params: &HashMap<String, String>,
    errors: &mut FieldErrors,
) -> Option<i32> {
    match params.get("model_version").map(|v| v.parse::<i32>()) {
        None => None,
        Some(Ok(version)) if version >= 1 => Some(version),
        Some(_) => {
            errors.push("model_version", "must be an integer from 1 to 2147483647");
            None
        }
    }
}

/// Refuses every parameter but `known`, naming each.
pub(crate) fn refuse_unknown(
    params: &HashMap<String, String>,
    known: &[&str],
    errors: &mut FieldErrors,
) {
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
}
