//! A company's extra facts about an item: on the wire, a map of names to a union of a number,
//! a text and a flag.

use aval_core::ingest::checks::{self, Checks};
use aval_core::ingest::items::{AttributeValue, Attributes};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttributeValueWire {
    pub number: Option<f64>,
    pub text: Option<String>,
    pub flag: Option<bool>,
}

pub(super) fn to_wire(attributes: &Attributes) -> HashMap<String, AttributeValueWire> {
    attributes
        .iter()
        .map(|(key, value)| {
            let wire = match value {
                AttributeValue::Number(n) => AttributeValueWire {
                    number: Some(*n),
                    ..Default::default()
                },
                AttributeValue::Text(t) => AttributeValueWire {
                    text: Some(t.clone()),
                    ..Default::default()
                },
                AttributeValue::Flag(f) => AttributeValueWire {
                    flag: Some(*f),
                    ..Default::default()
                },
            };
            (key.clone(), wire)
        })
        .collect()
}

pub(super) fn from_wire(
    wire: HashMap<String, AttributeValueWire>,
    c: &mut Checks<'_>,
) -> Attributes {
    // Sorted, so errors come in the same order as from JSON (whose objects are sorted).
    let mut entries: Vec<(String, Result<AttributeValue, String>)> = wire
        .into_iter()
        .map(|(key, value)| (key, attribute_value(value)))
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    c.attributes("attributes", entries.into_iter())
}

fn attribute_value(wire: AttributeValueWire) -> Result<AttributeValue, String> {
    match wire {
        AttributeValueWire {
            number: Some(n),
            text: None,
            flag: None,
        } => checks::attribute_number(n),
        AttributeValueWire {
            number: None,
            text: Some(text),
            flag: None,
        } => checks::attribute_text(text),
        AttributeValueWire {
            number: None,
            text: None,
            flag: Some(flag),
        } => Ok(AttributeValue::Flag(flag)),
        _ => Err("must be exactly one of a number, a text and a flag".to_owned()),
    }
}
