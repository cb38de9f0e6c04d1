//! The Avro schemas, one `.avsc` per record type in `schemas/`, embedded at build time.
//!
//! A record that uses another top-level record (an `IngestRecord` holding `aval.Customer`s)
//! names it instead of repeating it, so each type has exactly one definition. The registry
//! wants self-contained schemas, so [`RecordSchema::json`] inlines each named type at its
//! first use — the same thing Avro's Java IDL compiler does.

use crate::TopicsError;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::OnceLock;

/// One record type of the wire.
#[derive(Debug)]
pub struct RecordSchema {
    /// Full Avro name, e.g. `aval.AuditEvent`.
    pub name: &'static str,
    pub file: &'static str,
    source: &'static str,
    composed: OnceLock<Result<(String, apache_avro::Schema), String>>,
}

macro_rules! schema {
    ($ident:ident, $name:literal, $file:literal) => {
        pub static $ident: RecordSchema = RecordSchema {
            name: $name,
            file: $file,
            source: include_str!(concat!("../../schemas/", $file)),
            composed: OnceLock::new(),
        };
    };
}

schema!(
    ATTRIBUTE_VALUE,
    "aval.AttributeValue",
    "attribute_value.avsc"
);
schema!(CUSTOMER, "aval.Customer", "customer.avsc");
schema!(CREDIT_LIMIT, "aval.CreditLimit", "credit_limit.avsc");
schema!(BUREAU_REPORT, "aval.BureauReport", "bureau_report.avsc");
schema!(ORDER, "aval.Order", "order.avsc");
schema!(INGEST_RECORD, "aval.IngestRecord", "ingest_record.avsc");
schema!(
    TRAINING_REQUEST,
    "aval.TrainingRequest",
    "training_request.avsc"
);
schema!(
    MODEL_ACTIVATION,
    "aval.ModelActivation",
    "model_activation.avsc"
);
schema!(
    DECISION_REQUEST,
    "aval.DecisionRequest",
    "decision_request.avsc"
);
schema!(DECISION, "aval.Decision", "decision.avsc");
schema!(DECISION_REPLY, "aval.DecisionReply", "decision_reply.avsc");
schema!(AUDIT_EVENT, "aval.AuditEvent", "audit_event.avsc");
schema!(AUDIT_HEAD, "aval.AuditHead", "audit_head.avsc");
schema!(OUTCOME_REPORT, "aval.OutcomeReport", "outcome_report.avsc");
schema!(
    DRIFTED_FEATURE,
    "aval.DriftedFeature",
    "drifted_feature.avsc"
);
schema!(DRIFT_ALERT, "aval.DriftAlert", "drift_alert.avsc");

/// Every schema file, so a test can check each one parses and composes.
pub static ALL: [&RecordSchema; 16] = [
    &ATTRIBUTE_VALUE,
    &CUSTOMER,
    &CREDIT_LIMIT,
    &BUREAU_REPORT,
    &ORDER,
    &INGEST_RECORD,
    &TRAINING_REQUEST,
    &MODEL_ACTIVATION,
    &DECISION_REQUEST,
    &DECISION,
    &DECISION_REPLY,
    &AUDIT_EVENT,
    &AUDIT_HEAD,
    &OUTCOME_REPORT,
    &DRIFTED_FEATURE,
    &DRIFT_ALERT,
];

impl RecordSchema {
    /// The self-contained schema text, as registered.
    pub fn json(&self) -> Result<&str, TopicsError> {
        self.composed().map(|(json, _)| json.as_str())
    }

    /// The parsed schema, used as the reader schema when decoding.
    pub fn parsed(&self) -> Result<&apache_avro::Schema, TopicsError> {
        self.composed().map(|(_, schema)| schema)
    }

    fn composed(&self) -> Result<&(String, apache_avro::Schema), TopicsError> {
        self.composed
            .get_or_init(|| {
                let mut root: Value =
                    serde_json::from_str(self.source).map_err(|e| format!("not JSON: {e}"))?;
                let mut defined = HashSet::from([self.name.to_owned()]);
                inline_references(&mut root, &mut defined)?;
                let json = root.to_string();
                let parsed = apache_avro::Schema::parse_str(&json).map_err(|e| e.to_string())?;
                Ok((json, parsed))
            })
            .as_ref()
            .map_err(|message| TopicsError::Schema {
                file: self.file,
                message: message.clone(),
            })
    }
}

fn top_level(name: &str) -> Option<&'static RecordSchema> {
    ALL.iter().copied().find(|s| s.name == name)
}

/// Replaces the first reference to each top-level record type with its definition; later
/// references stay names, as Avro requires.
fn inline_references(node: &mut Value, defined: &mut HashSet<String>) -> Result<(), String> {
    match node {
        Value::String(name) => {
            if let Some(schema) = top_level(name)
                && defined.insert(name.clone())
            {
                let mut definition: Value = serde_json::from_str(schema.source)
                    .map_err(|e| format!("{} is not JSON: {e}", schema.file))?;
                inline_references(&mut definition, defined)?;
                *node = definition;
            }
        }
        Value::Array(items) => {
            for item in items {
                inline_references(item, defined)?;
            }
        }
        Value::Object(fields) => {
            // Only positions that hold a type can hold a reference.
            for key in ["type", "items", "values", "fields"] {
                if let Some(child) = fields.get_mut(key) {
                    inline_references(child, defined)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_composes_and_parses() {
        for schema in ALL {
            let json = schema
                .json()
                .unwrap_or_else(|e| panic!("{}: {e}", schema.file));
            let parsed = schema.parsed().expect("parsed");
            assert_eq!(
                crate::schemas::tests::full_name(parsed),
                schema.name,
                "{} declares another name",
                schema.file
            );
            assert!(!json.contains("\"aval.Customer\"") || schema.name != "aval.IngestRecord");
        }
    }

    #[test]
    fn shared_types_are_inlined_once() {
        let json = DECISION_REQUEST.json().expect("composes");
        // Customer and its AttributeValue map are defined once, later uses are references.
        assert_eq!(json.matches("\"name\":\"AttributeValue\"").count(), 1);
        assert_eq!(json.matches("\"name\":\"Customer\"").count(), 1);
    }

    pub(super) fn full_name(schema: &apache_avro::Schema) -> String {
        match schema {
            apache_avro::Schema::Record(r) => r.name.fullname(None),
            other => format!("{other:?}"),
        }
    }
}
