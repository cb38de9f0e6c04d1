//! A company's extra facts about customers and orders. They become model features by name, so
//! names are kept to identifiers and values to scalars the feature builder can encode.

use super::checks;
use super::items::{AttributeValue, Attributes};
use crate::FieldErrors;
use serde_json::Value;

/// Most attributes one item may carry.
pub const MAX_ATTRIBUTES: usize = 50;
/// Longest attribute name (`a-z`, `0-9`, `_`).
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 40;
/// Longest text value of an attribute.
pub const MAX_ATTRIBUTE_TEXT_CHARS: usize = 200;

/// Every bad key and value is reported ([`checks::attributes`]); `None` only when `value` is
/// not an object.
pub(super) fn attributes(
    value: &Value,
    path: &str,
    errors: &mut FieldErrors,
) -> Option<Attributes> {
    let Value::Object(map) = value else {
        errors.push(
            path,
            "must be an object of names to numbers, strings or booleans",
        );
        return None;
    };
    let entries = map
        .iter()
        .map(|(key, value)| (key.clone(), attribute_value(value)));
    Some(checks::attributes(entries, path, errors))
}

fn attribute_value(value: &Value) -> Result<AttributeValue, String> {
    match value {
        Value::Number(n) => checks::attribute_number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => checks::attribute_text(s.clone()),
        Value::Bool(b) => Ok(AttributeValue::Flag(*b)),
        // An unknown value is expressed by leaving the attribute out; null would be ambiguous
        // between "unknown" and a category called null.
        Value::Null => Err(
            "must be a number, a string or a boolean, not null (omit the attribute when unknown)"
                .to_owned(),
        ),
        Value::Array(_) | Value::Object(_) => {
            Err("must be a number, a string or a boolean, not a list or an object".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalar_values_with_identifier_names_pass() {
        let mut errors = FieldErrors::default();
        let attrs = attributes(
            &json!({"segment": "retail", "employees": 12, "exporter": true, "x_1": 0.5}),
            "a",
            &mut errors,
        )
        .expect("an object");
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(attrs["segment"], AttributeValue::Text("retail".to_owned()));
        assert_eq!(attrs["employees"], AttributeValue::Number(12.0));
        assert_eq!(attrs["exporter"], AttributeValue::Flag(true));
    }

    #[test]
    fn every_bad_key_and_value_is_reported() {
        let mut errors = FieldErrors::default();
        let long_name = "n".repeat(MAX_ATTRIBUTE_NAME_CHARS + 1);
        let mut value = json!({
            "Segment": "retail",
            "": 1,
            "nested": {"a": 1},
            "list": [1],
            "gone": null,
            "essay": "x".repeat(MAX_ATTRIBUTE_TEXT_CHARS + 1),
        });
        value[long_name.as_str()] = json!(1);
        attributes(&value, "p", &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for expected in ["p.Segment", "p.", "p.nested", "p.list", "p.gone", "p.essay"] {
            assert!(fields.contains(&expected), "{expected} in {fields:?}");
        }
        assert!(fields.contains(&format!("p.{long_name}").as_str()));
    }

    #[test]
    fn text_values_refuse_controls_and_line_breaks_but_keep_format_characters() {
        let mut errors = FieldErrors::default();
        let attrs = attributes(
            &json!({"nul": "a\u{0}b", "tab": "a\tb", "bidi": "\u{200F}شركة", "ok": "São João"}),
            "p",
            &mut errors,
        )
        .expect("an object");
        let reasons: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "p.nul",
                    "contains a control character (U+0000) at position 1"
                ),
                (
                    "p.tab",
                    "contains a tab or line break (U+0009) at position 1"
                ),
            ]
        );
        assert_eq!(attrs["ok"], AttributeValue::Text("São João".to_owned()));
        assert!(attrs.contains_key("bidi"));
    }

    #[test]
    fn a_bad_name_is_quoted_harmlessly_in_its_path() {
        let mut errors = FieldErrors::default();
        attributes(&json!({"a\u{202E}b\u{0}": 1}), "p", &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["p.a\\u{202E}b\\u{0000}"]);
    }

    #[test]
    fn too_many_attributes() {
        let map: serde_json::Map<String, Value> = (0..=MAX_ATTRIBUTES)
            .map(|i| (format!("a{i}"), json!(i)))
            .collect();
        let mut errors = FieldErrors::default();
        attributes(&Value::Object(map), "p", &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors.iter().next().map(|e| e.field.as_str()), Some("p"));
    }
}
