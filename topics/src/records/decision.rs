//! The decision records: a request to decide one order, the decision (for downstream systems
//! and inside the reply), and the reply to the requester. Nested items reuse the ingest
//! record's wire types, as the `.avsc` files name the same `aval.Order` etc.

use crate::WireRecord;
use crate::records::{BureauReportWire, CreditLimitWire, CustomerWire, OrderWire};
use crate::schemas;
use aval_core::FieldErrors;
use aval_core::decision::{Decision, DecisionTimings, PolicyApplied, Reason, Verdict};
use aval_core::experiment::Arm;
use aval_core::ingest::{OrderToDecide, facts_about_the_order, validate_item};
use aval_core::policy::Band;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// Header naming the gateway instance that waits for the reply; the scorer copies it onto the
/// reply so every gateway can ignore replies meant for another.
pub const REPLY_INSTANCE_HEADER: &str = "aval.reply_instance";

/// Header naming the partition of the replies topic the waiting gateway reads (a decimal
/// number); the scorer produces the reply there, so each gateway reads its own partition
/// rather than every reply. Without it (a company's own producer), the reply is keyed by
/// request id.
pub const REPLY_PARTITION_HEADER: &str = "aval.reply_partition";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRequestRecord {
    pub request_id: String,
    pub company_id: String,
    pub order: OrderWire,
    pub customer: Option<CustomerWire>,
    pub credit_limit: Option<CreditLimitWire>,
    pub bureau_report: Option<BureauReportWire>,
    pub model_version: Option<i32>,
    /// `en` or `pt-BR`.
    pub language: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub requested_at: i64,
}

impl WireRecord for DecisionRequestRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::DECISION_REQUEST;
}

/// What a decision request asks about: the order, and the facts given with it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionItemsWire {
    pub order: OrderWire,
    pub customer: Option<CustomerWire>,
    pub credit_limit: Option<CreditLimitWire>,
    pub bureau_report: Option<BureauReportWire>,
}

impl DecisionItemsWire {
    /// Every item by the rules of an upload, with the paths of an HTTP decision body
    /// (`order.amount`, `customer.document`), and each fact given checked to be about the
    /// order's customer ([`facts_about_the_order`]; here on the ids as sent, so a producer
    /// hears of a fact about another customer even when that fact or the order is invalid).
    pub fn checked(self, now: DateTime<Utc>) -> Result<OrderToDecide, FieldErrors> {
        let mut foreign = FieldErrors::default();
        facts_about_the_order(
            &self.order.customer_id,
            self.customer.as_ref().map(|c| c.id.as_str()),
            self.credit_limit.as_ref().map(|l| l.customer_id.as_str()),
            self.bureau_report.as_ref().map(|r| r.customer_id.as_str()),
            "",
            &mut foreign,
        );
        let mut errors = FieldErrors::default();
        let order = keep(&mut errors, validate_item(self.order, "order", now));
        let customer = self
            .customer
            .and_then(|c| keep(&mut errors, validate_item(c, "customer", now)));
        let credit_limit = self
            .credit_limit
            .and_then(|l| keep(&mut errors, validate_item(l, "credit_limit", now)));
        let bureau_report = self
            .bureau_report
            .and_then(|r| keep(&mut errors, validate_item(r, "bureau_report", now)));
        errors.append(foreign);
        match order {
            Some(order) if errors.is_empty() => Ok(OrderToDecide::new(
                order,
                customer,
                credit_limit,
                bureau_report,
            )),
            _ => Err(errors),
        }
    }
}

/// The item, or its errors added to `errors`.
fn keep<T>(errors: &mut FieldErrors, checked: Result<T, FieldErrors>) -> Option<T> {
    checked.map_err(|e| errors.append(e)).ok()
}

impl TryFrom<DecisionItemsWire> for OrderToDecide {
    type Error = FieldErrors;

    fn try_from(items: DecisionItemsWire) -> Result<Self, FieldErrors> {
        items.checked(Utc::now())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcomeWire {
    Approved,
    Rejected,
    /// The company's policy sends the order to a person.
    Review,
}

impl DecisionOutcomeWire {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionOutcomeWire::Approved => "approved",
            DecisionOutcomeWire::Rejected => "rejected",
            DecisionOutcomeWire::Review => "review",
        }
    }
}

/// One factor behind the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Reason))]
pub struct ReasonWire {
    /// The model's feature.
    #[cfg_attr(feature = "openapi", schema(examples("bureau.negatives.pefin.count")))]
    pub feature: String,
    /// The feature's value for this order, as text; null when it was unknown (missing).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub value: Option<String>,
    /// How much it moved the risk, in log-odds: positive raised it, negative lowered it.
    pub contribution: f64,
    /// The factor in words, in the language of `Accept-Language`.
    #[cfg_attr(
        feature = "openapi",
        schema(examples(
            "3 PEFIN records raised the risk",
            "3 registros de PEFIN aumentaram o risco"
        ))
    )]
    pub sentence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub request_id: String,
    pub company_id: String,
    pub order_id: String,
    pub decision: DecisionOutcomeWire,
    pub probability: f64,
    pub threshold: f64,
    pub model_version: i32,
    pub reasons: Vec<ReasonWire>,
    pub max_approvable_amount_cents: Option<i64>,
    pub repeat: bool,
    pub decided_at: i64,
    /// Microseconds per stage (`features`, `model`, `reasons`, `total`, ...).
    pub timings_us: HashMap<String, i64>,
    /// `None` when the company has no policy.
    pub policy: Option<PolicyAppliedWire>,
    /// `None` for a test of a named version.
    pub arm: Option<Arm>,
}

/// How the company's decision policy decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PolicyApplied))]
pub struct PolicyAppliedWire {
    /// The policy version in force.
    pub version: i32,
    /// The step that decided: `rule` (a hard rule fired), `approve` (below the cut-off),
    /// `refer` (in a refer band) or `reject` (at or above the cut-off).
    pub band: Band,
    /// The ids of the rules that fired, in the policy's order.
    pub rules_fired: Vec<String>,
}

impl From<PolicyApplied> for PolicyAppliedWire {
    fn from(applied: PolicyApplied) -> Self {
        Self {
            version: applied.version,
            band: applied.band,
            rules_fired: applied.rules_fired,
        }
    }
}

impl WireRecord for DecisionRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::DECISION;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatusWire {
    Decided,
    Invalid,
    NoModel,
    Failed,
    /// The order id was decided before for other content; `decision` is that first decision.
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrorWire {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionReplyRecord {
    pub request_id: String,
    pub company_id: String,
    pub status: ReplyStatusWire,
    pub decision: Option<DecisionRecord>,
    pub errors: Vec<FieldErrorWire>,
    pub message: Option<String>,
}

impl WireRecord for DecisionReplyRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::DECISION_REPLY;
}

/// What a decision record says beyond the decision itself: whose request it answers, about
/// which order, with which model version, and when.
#[derive(Debug, Clone)]
pub struct DecisionContext {
    pub request_id: String,
    pub company_id: String,
    pub order_id: String,
    pub model_version: i32,
    pub decided_at: DateTime<Utc>,
    /// `None` for a test of a named version.
    pub arm: Option<Arm>,
}

impl DecisionRecord {
    /// The record of a domain decision: the one place a decision takes its wire shape.
    pub fn new(context: DecisionContext, decision: Decision) -> Self {
        Self {
            request_id: context.request_id,
            company_id: context.company_id,
            order_id: context.order_id,
            decision: decision.verdict.into(),
            probability: decision.probability,
            threshold: decision.threshold,
            model_version: context.model_version,
            reasons: decision.reasons.into_iter().map(ReasonWire::from).collect(),
            max_approvable_amount_cents: decision.max_approvable_amount.map(|c| c.0),
            repeat: false,
            decided_at: context.decided_at.timestamp_millis(),
            timings_us: timings_us(&decision.timings),
            policy: decision.policy.map(PolicyAppliedWire::from),
            arm: context.arm,
        }
    }
}

/// Whole microseconds, saturating.
fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn timings_us(timings: &DecisionTimings) -> HashMap<String, i64> {
    let mut phases = HashMap::with_capacity(8);
    phases.insert("features".to_owned(), micros(timings.features));
    phases.insert("model".to_owned(), micros(timings.model));
    phases.insert("reasons".to_owned(), micros(timings.reasons));
    if let Some(searched) = timings.max_amount {
        phases.insert("max_amount".to_owned(), micros(searched));
    }
    phases.insert("decide".to_owned(), micros(timings.decide));
    phases
}

impl From<Verdict> for DecisionOutcomeWire {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Approved => DecisionOutcomeWire::Approved,
            Verdict::Rejected => DecisionOutcomeWire::Rejected,
            Verdict::Review => DecisionOutcomeWire::Review,
        }
    }
}

impl From<Reason> for ReasonWire {
    fn from(reason: Reason) -> Self {
        Self {
            feature: reason.feature,
            value: reason.value,
            contribution: reason.contribution,
            sentence: reason.sentence,
        }
    }
}

impl FieldErrorWire {
    pub fn all(errors: &aval_core::FieldErrors) -> Vec<FieldErrorWire> {
        errors
            .iter()
            .map(|e| FieldErrorWire {
                field: e.field.clone(),
                reason: e.reason.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes and decodes through the composed schema without a registry: a field out of
    /// place or of the wrong type fails here, not on the broker.
    fn round_trip<R: WireRecord + PartialEq + std::fmt::Debug>(record: &R) {
        let schema = R::SCHEMA.parsed().expect("schema");
        let value = apache_avro::to_value(record).expect("to value");
        let value = value.resolve(schema).expect("matches the schema");
        assert!(value.validate(schema), "valid for the schema");
        let back: R = apache_avro::from_value(&value).expect("from value");
        assert_eq!(&back, record);
    }

    fn decision_record() -> DecisionRecord {
        DecisionRecord {
            request_id: "r1".into(),
            company_id: "c1".into(),
            order_id: "O1".into(),
            decision: DecisionOutcomeWire::Rejected,
            probability: 0.7,
            threshold: 0.5,
            model_version: 2,
            reasons: vec![ReasonWire {
                feature: "pefin_count".into(),
                value: Some("3".into()),
                contribution: 0.4,
                sentence: "3 PEFIN records raised the risk".into(),
            }],
            max_approvable_amount_cents: Some(120_000),
            repeat: false,
            decided_at: 1_700_000_000_000,
            timings_us: HashMap::from([("total".to_owned(), 120)]),
            policy: Some(PolicyAppliedWire {
                version: 3,
                band: Band::Reject,
                rules_fired: vec!["over-limit".into()],
            }),
            arm: Some(Arm::Challenger),
        }
    }

    #[test]
    fn a_decision_request_s_items_are_checked_like_an_http_body() {
        let now = DateTime::from_timestamp_millis(1_718_452_800_000).expect("2024-06-15");
        let order = OrderWire {
            id: "O1".into(),
            customer_id: "C1".into(),
            issued_at: 1_709_640_000_000,
            amount_cents: 150_000,
            payment_term_days: Some(30),
            installments: None,
            attributes: HashMap::new(),
            outcome: None,
        };
        let customer = |id: &str, state: &str| CustomerWire {
            id: id.into(),
            document: None,
            simples_nacional: None,
            mei: None,
            final_consumer: None,
            founded_on: None,
            state: Some(state.into()),
            attributes: HashMap::new(),
        };
        let limit = |customer_id: &str| CreditLimitWire {
            customer_id: customer_id.into(),
            limit_cents: 5_000_000,
            valid_from: 19_000,
        };
        // Every item is reported for itself, and every fact about another customer as such.
        let errors = DecisionItemsWire {
            order: order.clone(),
            customer: Some(customer("C2", "XX")),
            credit_limit: Some(limit("C2")),
            bureau_report: None,
        }
        .checked(now)
        .expect_err("invalid");
        assert_eq!(
            errors.to_string(),
            "customer.state: must be a Brazilian state code (UF) like SP or RJ; \
             customer.id: must be the order's customer_id; \
             credit_limit.customer_id: must be the order's customer_id"
        );
        let valid = DecisionItemsWire {
            order,
            customer: Some(customer("C1", "sp")),
            credit_limit: Some(limit("C1")),
            bureau_report: None,
        }
        .checked(now)
        .expect("valid");
        assert_eq!(valid.order.amount.0, 150_000);
        assert_eq!(
            valid.given.customer.and_then(|c| c.state),
            Some("SP".to_owned())
        );
        assert_eq!(valid.given.credit_limits.len(), 1);
    }

    #[test]
    fn a_domain_decision_takes_its_wire_shape() {
        use aval_core::ingest::items::Cents;
        let ms = Duration::from_millis;
        let decision = Decision {
            verdict: Verdict::Rejected,
            probability: 0.7,
            threshold: 0.5,
            reasons: vec![Reason {
                feature: "pefin_count".into(),
                value: Some("3".into()),
                contribution: 0.4,
                sentence: "3 PEFIN records raised the risk".into(),
            }],
            max_approvable_amount: Some(Cents(120_000)),
            policy: Some(PolicyApplied {
                version: 3,
                band: Band::Reject,
                rules_fired: vec!["over-limit".into()],
            }),
            drift_values: vec![3.0],
            timings: DecisionTimings {
                features: ms(1),
                model: ms(2),
                reasons: ms(3),
                max_amount: Some(ms(4)),
                decide: ms(10),
            },
        };
        let context = DecisionContext {
            request_id: "r1".into(),
            company_id: "c1".into(),
            order_id: "O1".into(),
            model_version: 2,
            decided_at: DateTime::from_timestamp_millis(1_700_000_000_000).expect("an instant"),
            arm: Some(Arm::Challenger),
        };
        let mut expected = decision_record();
        expected.timings_us = HashMap::from(
            [
                ("features", 1_000),
                ("model", 2_000),
                ("reasons", 3_000),
                ("max_amount", 4_000),
                ("decide", 10_000),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        assert_eq!(
            DecisionRecord::new(context.clone(), decision.clone()),
            expected
        );

        let approved = Decision {
            verdict: Verdict::Approved,
            max_approvable_amount: None,
            timings: DecisionTimings {
                max_amount: None,
                ..decision.timings
            },
            ..decision
        };
        let record = DecisionRecord::new(context.clone(), approved.clone());
        assert_eq!(record.decision, DecisionOutcomeWire::Approved);
        let referred = Decision {
            verdict: Verdict::Review,
            policy: None,
            ..approved.clone()
        };
        let referred = DecisionRecord::new(context, referred);
        assert_eq!(referred.decision, DecisionOutcomeWire::Review);
        assert_eq!(referred.policy, None);
        assert_eq!(record.max_approvable_amount_cents, None);
        assert!(
            !record.timings_us.contains_key("max_amount"),
            "searched only on a rejection"
        );
    }

    #[test]
    fn every_decision_record_round_trips() {
        round_trip(&DecisionRequestRecord {
            request_id: "r1".into(),
            company_id: "c1".into(),
            order: OrderWire {
                id: "O1".into(),
                customer_id: "C1".into(),
                issued_at: 1_700_000_000_000,
                amount_cents: 150_000,
                payment_term_days: Some(30),
                installments: None,
                attributes: HashMap::new(),
                outcome: None,
            },
            customer: None,
            credit_limit: Some(CreditLimitWire {
                customer_id: "C1".into(),
                limit_cents: 5_000_000,
                valid_from: 19_000,
            }),
            bureau_report: None,
            model_version: Some(1),
            language: "pt-BR".into(),
            requested_at: 1_700_000_000_000,
        });
        round_trip(&decision_record());
        round_trip(&DecisionReplyRecord {
            request_id: "r1".into(),
            company_id: "c1".into(),
            status: ReplyStatusWire::Conflict,
            decision: Some(decision_record()),
            errors: Vec::new(),
            message: Some("order O1 was decided before with other content".into()),
        });
        round_trip(&DecisionReplyRecord {
            request_id: "r1".into(),
            company_id: "c1".into(),
            status: ReplyStatusWire::Decided,
            decision: Some(decision_record()),
            errors: vec![FieldErrorWire {
                field: "order.amount".into(),
                reason: "required".into(),
            }],
            message: None,
        });
    }

    /// A reply status added by a later version reads as `failed` here, instead of making the
    /// whole reply undecodable (and its request time out).
    #[test]
    fn a_reply_status_this_build_does_not_know_reads_as_failed() {
        use apache_avro::types::Value;
        let reader = DecisionReplyRecord::SCHEMA.parsed().expect("schema");
        let newer = DecisionReplyRecord::SCHEMA
            .json()
            .expect("schema")
            .replace(r#""conflict"]"#, r#""conflict","from_the_future"]"#);
        let writer = apache_avro::Schema::parse_str(&newer).expect("a newer schema");
        let reply = DecisionReplyRecord {
            request_id: "r1".into(),
            company_id: "c1".into(),
            status: ReplyStatusWire::Decided,
            decision: None,
            errors: Vec::new(),
            message: None,
        };
        let Value::Record(mut fields) = apache_avro::to_value(&reply).expect("to value") else {
            panic!("a record");
        };
        for (name, value) in &mut fields {
            if name == "status" {
                *value = Value::Enum(5, "from_the_future".into());
            }
        }
        let written = Value::Record(fields)
            .resolve(&writer)
            .expect("the newer schema's");
        let read = written
            .resolve(reader)
            .expect("resolves to this build's schema");
        let back: DecisionReplyRecord = apache_avro::from_value(&read).expect("from value");
        assert_eq!(back.status, ReplyStatusWire::Failed);
    }
}
