//! The audit event of each answered decision request: approved, rejected, repeated (answered
//! with the order's first decision) or refused (no model, invalid, conflict, failed).

use aval_core::audit::{AuditEvent, AuditKind};
use aval_topics::records::{DecisionRecord, DecisionReplyRecord, ReplyStatusWire};
use chrono::{DateTime, Utc};
use rdkafka::Message;
use uuid::Uuid;

/// Names the ids of decision audit events, fixed by where the request record sits, so a
/// redelivered batch repeats its events instead of adding some (the audit processor drops an
/// id stored already).
const DECISION_NAMESPACE: Uuid = Uuid::from_u128(0x6176_616c_2d64_6563_6973_696f_6e73_0001);

/// Longest `reason` kept: the audit log holds facts, not whole messages.
const MAX_REASON_CHARS: usize = 200;

/// What a request's audit event needs besides its reply.
#[derive(Debug, Clone)]
pub(crate) struct AuditMark {
    pub(crate) event_id: Uuid,
    /// `http` or `kafka` ([`crate::authorize::channel`]).
    pub(crate) channel: &'static str,
    /// As sent, checked or not: an invalid request is audited with what it named.
    pub(crate) order_id: String,
    pub(crate) customer_id: String,
    /// A test of a named model version rather than the order's decision.
    pub(crate) version_requested: bool,
    /// When the request was answered (its decision's time, when decided).
    pub(crate) at: DateTime<Utc>,
}

impl AuditMark {
    pub(crate) fn event_id(message: &impl Message) -> Uuid {
        Uuid::new_v5(
            &DECISION_NAMESPACE,
            format!(
                "{}\u{1f}{}\u{1f}{}",
                message.topic(),
                message.partition(),
                message.offset()
            )
            .as_bytes(),
        )
    }
}

/// The event for `reply`, sent to the company `company`.
pub(crate) fn decision_event(
    company: Uuid,
    mark: &AuditMark,
    reply: &DecisionReplyRecord,
) -> AuditEvent {
    let decision = reply.decision.as_ref();
    let (kind, refusal) = match (reply.status, decision) {
        (ReplyStatusWire::Decided, Some(d)) if d.repeat => (AuditKind::DecisionRepeated, None),
        (ReplyStatusWire::Decided, Some(d)) => match d.decision {
            aval_topics::records::DecisionOutcomeWire::Approved => {
                (AuditKind::DecisionApproved, None)
            }
            aval_topics::records::DecisionOutcomeWire::Rejected => {
                (AuditKind::DecisionRejected, None)
            }
            aval_topics::records::DecisionOutcomeWire::Review => {
                (AuditKind::DecisionReferred, None)
            }
        },
        (ReplyStatusWire::Decided, None) => (AuditKind::DecisionRefused, Some("failed")),
        (ReplyStatusWire::NoModel, _) => (AuditKind::DecisionRefused, Some("no_model")),
        (ReplyStatusWire::Invalid, _) => (AuditKind::DecisionRefused, Some("invalid")),
        (ReplyStatusWire::Conflict, _) => (AuditKind::DecisionRefused, Some("conflict")),
        (ReplyStatusWire::Failed, _) => (AuditKind::DecisionRefused, Some("failed")),
    };
    let mut event = AuditEvent::new(company, kind, format!("company:{company}"), mark.at)
        .with_detail("request_id", reply.request_id.clone())
        .with_detail("order_id", mark.order_id.clone())
        .with_detail("customer_id", mark.customer_id.clone())
        .with_detail("channel", mark.channel);
    event.event_id = mark.event_id;
    if mark.version_requested {
        event = event.with_detail("version_requested", "true");
    }
    if let Some(decision) = decision {
        event = with_decision(event, decision);
    }
    if let Some(status) = refusal {
        event = event
            .with_detail("status", status)
            .with_detail("reason", reason(reply));
    }
    event
}

/// The decision's facts; for a repeat or a conflict, the order's first decision, whose request
/// is named apart from this one.
fn with_decision(mut event: AuditEvent, decision: &DecisionRecord) -> AuditEvent {
    if decision.repeat {
        event = event.with_detail("first_request_id", decision.request_id.clone());
    }
    event = event
        .with_detail("decision", decision.decision.as_str())
        .with_detail("probability", decision.probability.to_string())
        .with_detail("threshold", decision.threshold.to_string())
        .with_detail("model_version", decision.model_version.to_string());
    if let Some(arm) = decision.arm {
        event = event.with_detail("arm", arm.as_str());
    }
    if let Some(policy) = &decision.policy {
        event = event
            .with_detail("policy_version", policy.version.to_string())
            .with_detail("band", policy.band.as_str())
            .with_detail("rules_fired", policy.rules_fired.join(","));
    }
    event
}

/// Why a request was refused: the field paths of an invalid one, else the reply's message.
fn reason(reply: &DecisionReplyRecord) -> String {
    let text = if reply.status == ReplyStatusWire::Invalid && !reply.errors.is_empty() {
        reply
            .errors
            .iter()
            .map(|e| e.field.as_str())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        reply.message.clone().unwrap_or_default()
    };
    text.chars().take(MAX_REASON_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aval_topics::records::{DecisionOutcomeWire, FieldErrorWire};
    use std::collections::HashMap;

    fn mark() -> AuditMark {
        AuditMark {
            event_id: Uuid::from_u128(7),
            channel: "kafka",
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            version_requested: false,
            at: DateTime::from_timestamp_millis(1_764_000_000_000).unwrap_or_default(),
        }
    }

    fn reply(status: ReplyStatusWire, decision: Option<DecisionRecord>) -> DecisionReplyRecord {
        DecisionReplyRecord {
            request_id: "r-2".into(),
            company_id: Uuid::nil().to_string(),
            status,
            decision,
            errors: Vec::new(),
            message: Some("the company has no active model yet".into()),
        }
    }

    fn decided(outcome: DecisionOutcomeWire, repeat: bool) -> DecisionRecord {
        DecisionRecord {
            request_id: if repeat { "r-1" } else { "r-2" }.into(),
            company_id: Uuid::nil().to_string(),
            order_id: "o-1".into(),
            decision: outcome,
            probability: 0.25,
            threshold: 0.5,
            model_version: 3,
            reasons: Vec::new(),
            max_approvable_amount_cents: None,
            repeat,
            decided_at: 1_764_000_000_000,
            timings_us: HashMap::new(),
            policy: None,
            arm: Some(aval_core::experiment::Arm::Challenger),
        }
    }

    #[test]
    fn a_decision_carries_its_facts_under_the_record_s_event_id() {
        let approved = Some(decided(DecisionOutcomeWire::Approved, false));
        let event = decision_event(
            Uuid::nil(),
            &mark(),
            &reply(ReplyStatusWire::Decided, approved),
        );
        assert_eq!(event.kind, "decision.approved");
        assert_eq!(event.event_id, Uuid::from_u128(7));
        assert_eq!(event.actor, format!("company:{}", Uuid::nil()));
        for (key, value) in [
            ("request_id", "r-2"),
            ("order_id", "o-1"),
            ("customer_id", "c-1"),
            ("decision", "approved"),
            ("probability", "0.25"),
            ("threshold", "0.5"),
            ("model_version", "3"),
            ("arm", "challenger"),
            ("channel", "kafka"),
        ] {
            assert_eq!(
                event.details.get(key).map(String::as_str),
                Some(value),
                "{key}"
            );
        }
        assert!(!event.details.contains_key("status"));
        assert!(!event.details.contains_key("version_requested"));
    }

    #[test]
    fn a_repeat_names_the_first_request_and_a_test_of_a_version_is_marked() {
        let first = Some(decided(DecisionOutcomeWire::Rejected, true));
        let mut tested = mark();
        tested.version_requested = true;
        let event = decision_event(
            Uuid::nil(),
            &tested,
            &reply(ReplyStatusWire::Decided, first),
        );
        assert_eq!(event.kind, "decision.repeated");
        assert_eq!(event.details["request_id"], "r-2");
        assert_eq!(event.details["first_request_id"], "r-1");
        assert_eq!(event.details["decision"], "rejected");
        assert_eq!(event.details["version_requested"], "true");
    }

    #[test]
    fn refusals_say_which_and_why() {
        let event = decision_event(Uuid::nil(), &mark(), &reply(ReplyStatusWire::NoModel, None));
        assert_eq!(event.kind, "decision.refused");
        assert_eq!(event.details["status"], "no_model");
        assert!(event.details["reason"].contains("no active model"));

        let mut invalid = reply(ReplyStatusWire::Invalid, None);
        invalid.errors = vec![
            FieldErrorWire {
                field: "order.amount".into(),
                reason: "must be positive".into(),
            },
            FieldErrorWire {
                field: "customer.id".into(),
                reason: "must be the order's customer".into(),
            },
        ];
        let event = decision_event(Uuid::nil(), &mark(), &invalid);
        assert_eq!(event.details["status"], "invalid");
        assert_eq!(event.details["reason"], "order.amount,customer.id");

        let first = Some(decided(DecisionOutcomeWire::Approved, true));
        let mut conflict = reply(ReplyStatusWire::Conflict, first);
        conflict.message = Some("x".repeat(500));
        let event = decision_event(Uuid::nil(), &mark(), &conflict);
        assert_eq!(event.details["status"], "conflict");
        assert_eq!(event.details["first_request_id"], "r-1");
        assert_eq!(event.details["reason"].chars().count(), MAX_REASON_CHARS);
    }
}
