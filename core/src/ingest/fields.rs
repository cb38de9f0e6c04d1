//! Reading a JSON object field by field. serde's derive stops at the first bad field; a
//! company uploading 500 items wants every problem of every item in one answer, so items are
//! walked by hand and each field that fails adds a `FieldError` and reads as absent.

use super::checks;
use crate::FieldErrors;
use crate::text;
use serde_json::{Map, Value};

/// Longest id a company may use for a customer or an order.
pub const MAX_ID_CHARS: usize = 100;

/// Longest string of a fixed format (dates, instants, amounts, documents, states, outcomes).
/// The longest valid one is an RFC 3339 instant with nanoseconds and an offset (35
/// characters); anything much longer is refused before it is parsed.
pub const MAX_FORMATTED_CHARS: usize = 64;

/// The 27 federative units (26 states and the Federal District).
pub const UFS: [&str; 27] = [
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR",
    "PE", "PI", "RJ", "RN", "RS", "SC", "SP", "SE", "TO", "RO", "RR",
];

/// `items[3]` + `document` → `items[3].document`; an empty prefix is the root.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// One JSON object under validation, known to be an object, its unknown keys already reported.
#[derive(Debug)]
pub(super) struct Fields<'v> {
    path: String,
    map: &'v Map<String, Value>,
}

impl<'v> Fields<'v> {
    /// `None` (with the error recorded) when `value` is not an object.
    pub(super) fn open(
        value: &'v Value,
        path: &str,
        known: &[&str],
        errors: &mut FieldErrors,
    ) -> Option<Self> {
        let Value::Object(map) = value else {
            errors.push(path, "must be an object");
            return None;
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                // Naming the known fields turns `customerId` into a one-look fix.
                errors.push(
                    join(path, &text::shown(key)),
                    format!("unknown field (known fields: {})", known.join(", ")),
                );
            }
        }
        Some(Self {
            path: path.to_owned(),
            map,
        })
    }

    pub(super) fn path(&self) -> &str {
        &self.path
    }

    pub(super) fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// JSON `null` counts as absent: many serialisers write every optional field.
    fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn required<T>(
        &self,
        key: &str,
        errors: &mut FieldErrors,
        read: impl FnOnce(&'v Value) -> Result<T, String>,
    ) -> Option<T> {
        let Some(value) = self.get(key) else {
            errors.push(self.path_of(key), "is required");
            return None;
        };
        self.optional_value(key, value, errors, read)
    }

    pub(super) fn optional<T>(
        &self,
        key: &str,
        errors: &mut FieldErrors,
        read: impl FnOnce(&'v Value) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.get(key)?;
        self.optional_value(key, value, errors, read)
    }

    /// For a part that reports its own errors under its own path (nested objects, attributes).
    pub(super) fn nested<T>(
        &self,
        key: &str,
        errors: &mut FieldErrors,
        read: impl FnOnce(&'v Value, &str, &mut FieldErrors) -> Option<T>,
    ) -> Option<T> {
        let value = self.get(key)?;
        read(value, &self.path_of(key), errors)
    }

    fn optional_value<T>(
        &self,
        key: &str,
        value: &'v Value,
        errors: &mut FieldErrors,
        read: impl FnOnce(&'v Value) -> Result<T, String>,
    ) -> Option<T> {
        match read(value) {
            Ok(v) => Some(v),
            Err(reason) => {
                errors.push(self.path_of(key), reason);
                None
            }
        }
    }
}

/// A customer or order key ([`checks::id`]).
pub(super) fn id(value: &Value) -> Result<String, String> {
    let id = any_string(value)?;
    checks::id(id)?;
    Ok(id.to_owned())
}

/// A string of a fixed format ([`checks::formatted`]), before its format is checked.
pub(super) fn string(value: &Value) -> Result<&str, String> {
    let formatted = any_string(value)?;
    checks::formatted(formatted)?;
    Ok(formatted)
}

fn any_string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_owned())
}

pub(super) fn boolean(value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| "must be true or false".to_owned())
}

/// A JSON number that is a whole number, however it is written: JSON, and JSON Schema's
/// `integer`, make no difference between `3`, `3.0` and `3e0`, so neither does aval. `None`
/// for a fraction or anything but a number. Saturates far beyond any range checked here.
fn whole_number(value: &Value) -> Option<i128> {
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(v) = n.as_i64() {
        return Some(v.into());
    }
    if let Some(v) = n.as_u64() {
        return Some(v.into());
    }
    let v = n.as_f64()?;
    // `as` saturates, and a float this far out is out of every range anyway.
    (v.is_finite() && v.fract() == 0.0).then_some(v as i128)
}

/// A non-negative whole number within `u32` ([`checks::count`]); `1.5` and `"1"` are
/// refused, not coerced.
pub(super) fn count(value: &Value) -> Result<u32, String> {
    checks::count(integer(value)?)
}

/// A whole number in `min..=max` ([`checks::bounded`]).
pub fn bounded(value: &Value, min: u32, max: u32) -> Result<u32, String> {
    checks::bounded(integer(value)?, min, max)
}

pub(super) fn integer(value: &Value) -> Result<i128, String> {
    whole_number(value).ok_or_else(|| "must be an integer".to_owned())
}

/// A share in `0..=1` ([`checks::share`]).
pub(super) fn fraction(value: &Value) -> Result<f64, String> {
    checks::share(value.as_f64().unwrap_or(f64::NAN))
}

pub(super) fn state(value: &Value) -> Result<String, String> {
    checks::state(any_string(value)?)
}

pub(super) fn document(value: &Value) -> Result<String, String> {
    checks::document(any_string(value)?)
}

pub(super) fn outcome(value: &Value) -> Result<super::items::Outcome, String> {
    use super::items::Outcome;
    match string(value)? {
        "approved" => Ok(Outcome::Approved),
        "blocked" => Ok(Outcome::Blocked),
        _ => Err("must be \"approved\" or \"blocked\"".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids() {
        assert_eq!(id(&json!("C1")), Ok("C1".to_owned()));
        assert_eq!(id(&json!("cliente-ção 7")), Ok("cliente-ção 7".to_owned()));
        assert!(id(&json!("x".repeat(MAX_ID_CHARS))).is_ok());
        assert!(id(&json!("x".repeat(MAX_ID_CHARS + 1))).is_err());
        assert!(id(&json!("")).is_err());
        assert!(id(&json!(" C1")).is_err());
        assert!(id(&json!("C\n1")).is_err());
        assert!(id(&json!(1)).is_err());
        assert_eq!(
            id(&json!("C\u{202E}1")),
            Err("contains an invisible format character, not allowed in ids and names, (U+202E) at position 1".to_owned())
        );
    }

    #[test]
    fn formatted_strings_are_bounded_and_free_of_controls() {
        assert_eq!(string(&json!("2024-01-31")), Ok("2024-01-31"));
        assert_eq!(
            string(&json!("2024-01-31\u{0}")),
            Err("contains a control character (U+0000) at position 10".to_owned())
        );
        assert!(string(&json!("1".repeat(MAX_FORMATTED_CHARS))).is_ok());
        assert_eq!(
            string(&json!("1".repeat(MAX_FORMATTED_CHARS + 1))),
            Err(format!(
                "is longer than {MAX_FORMATTED_CHARS} characters (it has {})",
                MAX_FORMATTED_CHARS + 1
            ))
        );
    }

    #[test]
    fn counts() {
        assert_eq!(count(&json!(0)), Ok(0));
        assert_eq!(count(&json!(u32::MAX)), Ok(u32::MAX));
        assert!(count(&json!(u64::from(u32::MAX) + 1)).is_err());
        assert_eq!(count(&json!(-1)), Err("must not be negative".to_owned()));
        assert_eq!(count(&json!(1.5)), Err("must be an integer".to_owned()));
        assert_eq!(count(&json!(1.0)), Ok(1));
        assert_eq!(
            count(&serde_json::from_str::<Value>("3e2").expect("json")),
            Ok(300)
        );
        assert_eq!(count(&json!(-0.0)), Ok(0));
        assert_eq!(
            count(&json!(7e34)),
            Err(format!("must be at most {}", u32::MAX))
        );
        assert_eq!(count(&json!("1")), Err("must be an integer".to_owned()));
        assert_eq!(
            bounded(&json!(1001), 0, 1000),
            Err("must be between 0 and 1000".to_owned())
        );
        assert_eq!(
            bounded(&json!(-5), 0, 1000),
            Err("must be between 0 and 1000".to_owned())
        );
        assert_eq!(bounded(&json!(650), 0, 1000), Ok(650));
        assert_eq!(bounded(&json!(650.0), 0, 1000), Ok(650));
        assert_eq!(
            bounded(&json!(650.5), 0, 1000),
            Err("must be an integer".to_owned())
        );
        assert_eq!(
            bounded(&json!(1e300), 1, u32::MAX),
            Err(format!("must be at most {}", u32::MAX))
        );
    }

    #[test]
    fn fractions_and_states() {
        assert_eq!(fraction(&json!(0)), Ok(0.0));
        assert_eq!(fraction(&json!(1)), Ok(1.0));
        assert!(fraction(&json!(80)).is_err());
        assert!(fraction(&json!(-0.1)).is_err());
        assert!(fraction(&json!("0.5")).is_err());
        assert_eq!(state(&json!("sp")), Ok("SP".to_owned()));
        assert_eq!(state(&json!("Df")), Ok("DF".to_owned()));
        assert!(state(&json!("XX")).is_err());
        assert!(state(&json!("São Paulo")).is_err());
        assert_eq!(UFS.len(), 27);
    }
}
