//! The outcome report a company produces to the outcomes topic: one report of
//! `POST /v1/outcomes`, read by the same rules ([`ReportRecord`]).

use crate::WireRecord;
use crate::schemas;
use aval_core::FieldErrors;
use aval_core::outcome::{OutcomeKind, OutcomeReport, OverrideDirection, ReportRecord};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeReportRecord {
    pub request_id: Option<String>,
    pub order_id: Option<String>,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    pub kind: OutcomeKindWire,
    pub days_late: Option<i32>,
    pub direction: Option<OverrideDirectionWire>,
    pub reason_code: Option<String>,
}

impl WireRecord for OutcomeReportRecord {
    const SCHEMA: &'static schemas::RecordSchema = &schemas::OUTCOME_REPORT;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKindWire {
    PaidOnTime,
    PaidLate,
    Defaulted,
    WrittenOff,
    Override,
}

impl OutcomeKindWire {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKindWire::PaidOnTime => "paid_on_time",
            OutcomeKindWire::PaidLate => "paid_late",
            OutcomeKindWire::Defaulted => "defaulted",
            OutcomeKindWire::WrittenOff => "written_off",
            OutcomeKindWire::Override => "override",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideDirectionWire {
    ApprovedRejection,
    BlockedApproval,
}

impl From<OverrideDirection> for OverrideDirectionWire {
    fn from(direction: OverrideDirection) -> Self {
        match direction {
            OverrideDirection::ApprovedRejection => OverrideDirectionWire::ApprovedRejection,
            OverrideDirection::BlockedApproval => OverrideDirectionWire::BlockedApproval,
        }
    }
}

impl OverrideDirectionWire {
    pub fn as_str(self) -> &'static str {
        OverrideDirection::from(self).as_str()
    }
}

impl From<OverrideDirectionWire> for OverrideDirection {
    fn from(direction: OverrideDirectionWire) -> Self {
        match direction {
            OverrideDirectionWire::ApprovedRejection => OverrideDirection::ApprovedRejection,
            OverrideDirectionWire::BlockedApproval => OverrideDirection::BlockedApproval,
        }
    }
}

impl OutcomeReportRecord {
    /// The report by the rules of `POST /v1/outcomes`, every problem named by its field.
    pub fn checked(&self, now: DateTime<Utc>) -> Result<OutcomeReport, FieldErrors> {
        ReportRecord {
            request_id: self.request_id.as_deref(),
            order_id: self.order_id.as_deref(),
            occurred_at_millis: self.occurred_at,
            kind: self.kind.as_str(),
            days_late: self.days_late,
            direction: self.direction.map(OverrideDirectionWire::as_str),
            reason_code: self.reason_code.as_deref(),
        }
        .checked(now)
    }

    /// The record of a checked report, for producers and tests.
    pub fn of(report: &OutcomeReport) -> Self {
        use aval_core::outcome::DecisionRef;
        let (request_id, order_id) = match &report.decision {
            DecisionRef::RequestId(id) => (Some(id.clone()), None),
            DecisionRef::OrderId(id) => (None, Some(id.clone())),
        };
        let (kind, days_late, direction, reason_code) = match &report.kind {
            OutcomeKind::PaidOnTime => (OutcomeKindWire::PaidOnTime, None, None, None),
            OutcomeKind::PaidLate { days_late } => (
                OutcomeKindWire::PaidLate,
                i32::try_from(*days_late).ok(),
                None,
                None,
            ),
            OutcomeKind::Defaulted => (OutcomeKindWire::Defaulted, None, None, None),
            OutcomeKind::WrittenOff => (OutcomeKindWire::WrittenOff, None, None, None),
            OutcomeKind::Override {
                direction,
                reason_code,
            } => (
                OutcomeKindWire::Override,
                None,
                Some((*direction).into()),
                Some(reason_code.clone()),
            ),
        };
        Self {
            request_id,
            order_id,
            occurred_at: report.occurred_at.timestamp_millis(),
            kind,
            days_late,
            direction,
            reason_code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aval_core::outcome::DecisionRef;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
            .single()
            .expect("a time")
    }

    #[test]
    fn every_kind_goes_to_the_wire_and_back() {
        let kinds = [
            OutcomeKind::PaidOnTime,
            OutcomeKind::PaidLate { days_late: 31 },
            OutcomeKind::Defaulted,
            OutcomeKind::WrittenOff,
            OutcomeKind::Override {
                direction: OverrideDirection::BlockedApproval,
                reason_code: "fraud-suspected".to_owned(),
            },
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let report = OutcomeReport {
                decision: if i % 2 == 0 {
                    DecisionRef::OrderId(format!("A-{i}"))
                } else {
                    DecisionRef::RequestId(format!("r-{i}"))
                },
                occurred_at: now() - chrono::TimeDelta::days(3),
                kind,
            };
            assert_eq!(OutcomeReportRecord::of(&report).checked(now()), Ok(report));
        }
    }

    #[test]
    fn a_record_is_refused_by_the_rules_of_the_api_with_its_fields_named() {
        let record = OutcomeReportRecord {
            request_id: Some("r-1".to_owned()),
            order_id: Some("A-1".to_owned()),
            occurred_at: (now() + chrono::TimeDelta::days(3)).timestamp_millis(),
            kind: OutcomeKindWire::Defaulted,
            days_late: Some(0),
            direction: None,
            reason_code: None,
        };
        let errors = record.checked(now()).expect_err("refused");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["order_id", "occurred_at", "days_late"]);
        let late = OutcomeReportRecord {
            request_id: None,
            kind: OutcomeKindWire::PaidLate,
            occurred_at: now().timestamp_millis(),
            days_late: Some(4000),
            ..record.clone()
        };
        let errors = late.checked(now()).expect_err("refused");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors.iter().next().expect("one").field, "days_late");
        let overridden = OutcomeReportRecord {
            request_id: None,
            kind: OutcomeKindWire::Override,
            occurred_at: now().timestamp_millis(),
            days_late: None,
            direction: None,
            reason_code: Some(" padded".to_owned()),
            ..record
        };
        let errors = overridden.checked(now()).expect_err("refused");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["direction", "reason_code"]);
    }
}
