//! Outcomes: what happened to an order aval decided, as the company reports it, and the
//! company's definition of a bad order, which says when a decision has matured and whether it
//! went bad. Pure: reading and checking reports, and judging one decision as of a given time.
//!
//! An order has at most two outcomes, one per [`KindFamily`]: its repayment (paid on time,
//! paid late, defaulted, written off) and an analyst's override of the decision. Each family is
//! kept apart, so an override never hides how the order was repaid. Within a family a report
//! replaces the stored one when it occurred later, or at the same instant with other content (a
//! correction); an earlier report, or the same one again, changes nothing. So reports may
//! arrive in any order, and any number of times, and the outcome stored is the latest known.

use crate::FieldErrors;
use crate::ingest::checks;
use crate::ingest::whole_number_in;
use crate::text::{self, TextKind};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::RangeInclusive;

/// Most reports one request takes, as every batch of the API.
pub const MAX_REPORTS: usize = 500;

/// Longest `reason_code` of an override.
pub const MAX_REASON_CODE_CHARS: usize = 64;

/// Most days an order can be reported late: ten years, as the longest payment term.
pub const MAX_DAYS_LATE: u32 = 3650;

/// The days past due that make an order bad, by the definition.
pub const DAYS_PAST_DUE: RangeInclusive<u32> = 1..=360;

/// The window after the decision in which the bad event must happen, in days.
pub const WITHIN_DAYS: RangeInclusive<u32> = 30..=1095;

/// The fields a report may have.
const REPORT_FIELDS: [&str; 7] = [
    "request_id",
    "order_id",
    "occurred_at",
    "kind",
    "days_late",
    "direction",
    "reason_code",
];

/// Which of an order's two outcomes a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KindFamily {
    /// How the order was paid, or not.
    Repayment,
    /// An analyst overrode the decision.
    Override,
}

impl KindFamily {
    pub const ALL: [KindFamily; 2] = [KindFamily::Repayment, KindFamily::Override];

    pub fn as_str(self) -> &'static str {
        match self {
            KindFamily::Repayment => "repayment",
            KindFamily::Override => "override",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// Which way an analyst overrode a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideDirection {
    /// aval rejected the order and the analyst approved it.
    ApprovedRejection,
    /// aval approved the order and the analyst blocked it.
    BlockedApproval,
}

impl OverrideDirection {
    pub const ALL: [OverrideDirection; 2] = [
        OverrideDirection::ApprovedRejection,
        OverrideDirection::BlockedApproval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OverrideDirection::ApprovedRejection => "approved_rejection",
            OverrideDirection::BlockedApproval => "blocked_approval",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// What happened to the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    PaidOnTime,
    /// Paid, `days_late` days (at least 1) after it was due.
    PaidLate {
        days_late: u32,
    },
    Defaulted,
    WrittenOff,
    Override {
        direction: OverrideDirection,
        /// The company's own short code for why (`manual-review`).
        reason_code: String,
    },
}

impl OutcomeKind {
    /// Every kind's name, as the API writes it.
    pub const NAMES: [&'static str; 5] = [
        "paid_on_time",
        "paid_late",
        "defaulted",
        "written_off",
        "override",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            OutcomeKind::PaidOnTime => "paid_on_time",
            OutcomeKind::PaidLate { .. } => "paid_late",
            OutcomeKind::Defaulted => "defaulted",
            OutcomeKind::WrittenOff => "written_off",
            OutcomeKind::Override { .. } => "override",
        }
    }

    pub fn family(&self) -> KindFamily {
        match self {
            OutcomeKind::Override { .. } => KindFamily::Override,
            _ => KindFamily::Repayment,
        }
    }

    /// The kind's own facts, as stored beside its name (an empty object for none).
    pub fn details(&self) -> Value {
        let mut details = Map::new();
        match self {
            OutcomeKind::PaidLate { days_late } => {
                details.insert("days_late".to_owned(), Value::from(*days_late));
            }
            OutcomeKind::Override {
                direction,
                reason_code,
            } => {
                details.insert("direction".to_owned(), Value::from(direction.as_str()));
                details.insert("reason_code".to_owned(), Value::from(reason_code.as_str()));
            }
            OutcomeKind::PaidOnTime | OutcomeKind::Defaulted | OutcomeKind::WrittenOff => {}
        }
        Value::Object(details)
    }

    /// The kind from its stored name and details; `None` when they do not make one.
    pub fn from_stored(name: &str, details: &Value) -> Option<Self> {
        match name {
            "paid_on_time" => Some(OutcomeKind::PaidOnTime),
            "paid_late" => {
                let days = details.get("days_late")?.as_u64()?;
                Some(OutcomeKind::PaidLate {
                    days_late: u32::try_from(days).ok()?,
                })
            }
            "defaulted" => Some(OutcomeKind::Defaulted),
            "written_off" => Some(OutcomeKind::WrittenOff),
            "override" => Some(OutcomeKind::Override {
                direction: OverrideDirection::from_name(details.get("direction")?.as_str()?)?,
                reason_code: details.get("reason_code")?.as_str()?.to_owned(),
            }),
            _ => None,
        }
    }
}

/// How a report names its decision: the decision's request id, or the company's order id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DecisionRef {
    RequestId(String),
    OrderId(String),
}

impl DecisionRef {
    /// The report's field that named it.
    pub fn field(&self) -> &'static str {
        match self {
            DecisionRef::RequestId(_) => "request_id",
            DecisionRef::OrderId(_) => "order_id",
        }
    }
}

/// One outcome as a company reports it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeReport {
    pub decision: DecisionRef,
    /// When it happened (the company's event time, not when it was reported).
    pub occurred_at: DateTime<Utc>,
    pub kind: OutcomeKind,
}

/// Reads a batch of reports (`reports[i]`), every problem of every report named; `now` bounds
/// `occurred_at` (at most a day ahead, as every instant a company sends). The batch must hold
/// 1 to [`MAX_REPORTS`]; the caller refuses a larger one before reading it.
pub fn read_reports(
    reports: &[Value],
    now: DateTime<Utc>,
) -> Result<Vec<OutcomeReport>, FieldErrors> {
    let mut errors = FieldErrors::default();
    if reports.is_empty() || reports.len() > MAX_REPORTS {
        errors.push("reports", format!("must hold 1 to {MAX_REPORTS} reports"));
    }
    let read: Vec<Option<OutcomeReport>> = reports
        .iter()
        .enumerate()
        .map(|(i, report)| read_report(report, &format!("reports[{i}]"), now, &mut errors))
        .collect();
    let read = read.into_iter().collect::<Option<Vec<_>>>();
    match read {
        Some(read) if errors.is_empty() => Ok(read),
        _ => Err(errors),
    }
}

fn read_report(
    value: &Value,
    path: &str,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> Option<OutcomeReport> {
    let Value::Object(map) = value else {
        errors.push(path, "must be an object");
        return None;
    };
    check_fields(&JsonReport(map), path, now, errors)
}

/// One report as a typed record carries it (the outcomes topic's Avro record), read by the
/// same rules as a JSON report: fields of another kind refused, ids and codes by the rule of
/// ids, `occurred_at` at most a day ahead.
#[derive(Debug, Clone, Copy)]
pub struct ReportRecord<'a> {
    pub request_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    /// Milliseconds since the Unix epoch, UTC.
    pub occurred_at_millis: i64,
    /// One of [`OutcomeKind::NAMES`].
    pub kind: &'a str,
    pub days_late: Option<i32>,
    pub direction: Option<&'a str>,
    pub reason_code: Option<&'a str>,
}

impl ReportRecord<'_> {
    /// The report, or every problem named by its field (`order_id`, `days_late`).
    pub fn checked(&self, now: DateTime<Utc>) -> Result<OutcomeReport, FieldErrors> {
        let mut errors = FieldErrors::default();
        match check_fields(self, "", now, &mut errors) {
            Some(report) if errors.is_empty() => Ok(report),
            _ => Err(errors),
        }
    }
}

/// A report's fields as sent, whatever carried them, so one set of rules reads them all.
/// `text`, `whole` and `instant` are asked only of fields that are present.
trait ReportFields {
    /// Fields that are no report's (a typed record has none).
    fn unknown(&self) -> Vec<String>;
    fn has(&self, key: &str) -> bool;
    fn text(&self, key: &str) -> Result<&str, String>;
    fn whole(&self, key: &str, min: u32, max: u32) -> Result<u32, String>;
    fn instant(&self, key: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String>;
}

struct JsonReport<'a>(&'a Map<String, Value>);

impl ReportFields for JsonReport<'_> {
    fn unknown(&self) -> Vec<String> {
        self.0
            .keys()
            .filter(|key| !REPORT_FIELDS.contains(&key.as_str()))
            .cloned()
            .collect()
    }

    fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn text(&self, key: &str) -> Result<&str, String> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| "must be a string".to_owned())
    }

    fn whole(&self, key: &str, min: u32, max: u32) -> Result<u32, String> {
        whole_number_in(self.0.get(key).unwrap_or(&Value::Null), min, max)
    }

    fn instant(&self, key: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        crate::ingest::dates::timestamp(self.0.get(key).unwrap_or(&Value::Null), now)
    }
}

impl ReportFields for ReportRecord<'_> {
    fn unknown(&self) -> Vec<String> {
        Vec::new()
    }

    fn has(&self, key: &str) -> bool {
        match key {
            "request_id" => self.request_id.is_some(),
            "order_id" => self.order_id.is_some(),
            "days_late" => self.days_late.is_some(),
            "direction" => self.direction.is_some(),
            "reason_code" => self.reason_code.is_some(),
            _ => true,
        }
    }

    fn text(&self, key: &str) -> Result<&str, String> {
        let text = match key {
            "request_id" => self.request_id,
            "order_id" => self.order_id,
            "kind" => Some(self.kind),
            "direction" => self.direction,
            "reason_code" => self.reason_code,
            _ => None,
        };
        text.ok_or_else(|| "must be a string".to_owned())
    }

    fn whole(&self, _key: &str, min: u32, max: u32) -> Result<u32, String> {
        let days = self
            .days_late
            .ok_or_else(|| "must be an integer".to_owned())?;
        checks::bounded(i128::from(days), min, max)
    }

    fn instant(&self, _key: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        let at = DateTime::from_timestamp_millis(self.occurred_at_millis)
            .ok_or_else(|| "is out of range".to_owned())?;
        checks::instant(at, now)
    }
}

fn check_fields(
    fields: &impl ReportFields,
    path: &str,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> Option<OutcomeReport> {
    let before = errors.len();
    let field = |key: &str| field_path(path, key);
    for key in fields.unknown() {
        errors.push(
            field(&text::shown(&key)),
            format!("unknown field (known fields: {})", REPORT_FIELDS.join(", ")),
        );
    }
    let decision = match (fields.has("request_id"), fields.has("order_id")) {
        (true, true) => {
            errors.push(
                field("order_id"),
                "name the decision by request_id or by order_id, not both",
            );
            None
        }
        (false, false) => {
            errors.push(
                field("order_id"),
                "is required (or request_id): the decision the outcome is about",
            );
            None
        }
        (true, false) => checked(id_text(fields, "request_id"), &field("request_id"), errors)
            .map(DecisionRef::RequestId),
        (false, true) => checked(id_text(fields, "order_id"), &field("order_id"), errors)
            .map(DecisionRef::OrderId),
    };
    let occurred_at = if fields.has("occurred_at") {
        checked(
            fields.instant("occurred_at", now),
            &field("occurred_at"),
            errors,
        )
    } else {
        errors.push(field("occurred_at"), "is required");
        None
    };
    let kind = read_kind(fields, path, errors);
    let report = OutcomeReport {
        decision: decision?,
        occurred_at: occurred_at?,
        kind: kind?,
    };
    (errors.len() == before).then_some(report)
}

/// `path.key`, or `key` alone for a report read on its own.
fn field_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The kind and the fields that belong to it; a field of another kind is refused, so a typo
/// in `kind` never drops a fact silently.
fn read_kind(
    fields: &impl ReportFields,
    path: &str,
    errors: &mut FieldErrors,
) -> Option<OutcomeKind> {
    let field = |key: &str| field_path(path, key);
    if !fields.has("kind") {
        errors.push(field("kind"), "is required");
        return None;
    }
    let Some(name) = fields
        .text("kind")
        .ok()
        .filter(|name| OutcomeKind::NAMES.contains(name))
    else {
        errors.push(
            field("kind"),
            format!("must be one of {}", OutcomeKind::NAMES.join(", ")),
        );
        return None;
    };
    let own: &[&str] = match name {
        "paid_late" => &["days_late"],
        "override" => &["direction", "reason_code"],
        _ => &[],
    };
    for other in ["days_late", "direction", "reason_code"] {
        if fields.has(other) && !own.contains(&other) {
            errors.push(field(other), format!("does not belong to a {name} report"));
        }
    }
    let required = |key: &str, errors: &mut FieldErrors| {
        let present = fields.has(key);
        if !present {
            errors.push(field(key), format!("is required for a {name} report"));
        }
        present
    };
    match name {
        "paid_on_time" => Some(OutcomeKind::PaidOnTime),
        "defaulted" => Some(OutcomeKind::Defaulted),
        "written_off" => Some(OutcomeKind::WrittenOff),
        "paid_late" => {
            if !required("days_late", errors) {
                return None;
            }
            let days_late = checked(
                fields.whole("days_late", 1, MAX_DAYS_LATE),
                &field("days_late"),
                errors,
            )?;
            Some(OutcomeKind::PaidLate { days_late })
        }
        _ => {
            let direction = required("direction", errors)
                .then(|| {
                    let read = fields
                        .text("direction")
                        .ok()
                        .and_then(OverrideDirection::from_name)
                        .ok_or_else(|| {
                            format!(
                                "must be one of {}",
                                OverrideDirection::ALL
                                    .map(OverrideDirection::as_str)
                                    .join(", ")
                            )
                        });
                    checked(read, &field("direction"), errors)
                })
                .flatten();
            let reason_code = required("reason_code", errors)
                .then(|| {
                    checked(
                        fields.text("reason_code").and_then(read_reason_code),
                        &field("reason_code"),
                        errors,
                    )
                })
                .flatten();
            Some(OutcomeKind::Override {
                direction: direction?,
                reason_code: reason_code?,
            })
        }
    }
}

fn checked<T>(read: Result<T, String>, field: &str, errors: &mut FieldErrors) -> Option<T> {
    read.map_err(|reason| errors.push(field, reason)).ok()
}

/// A request or order id, by the rule of every id a company sends.
fn id_text(fields: &impl ReportFields, key: &str) -> Result<String, String> {
    let id = fields.text(key)?;
    checks::id(id)?;
    Ok(id.to_owned())
}

/// A short code, one line, by the rule of ids: it is shown to analysts and filtered on.
fn read_reason_code(code: &str) -> Result<String, String> {
    if code.is_empty() {
        return Err("must not be empty".to_owned());
    }
    text::check(code, TextKind::Identifier, MAX_REASON_CODE_CHARS)?;
    if code.trim() != code {
        return Err("has leading or trailing whitespace".to_owned());
    }
    Ok(code.to_owned())
}

/// Reports of one batch that name the same order and family: the batch would contradict itself
/// (which is the later?), so each repeat is named with the index it repeats. `orders[i]` is the
/// order report `i` resolved to.
pub fn repeated_in_batch(reports: &[OutcomeReport], orders: &[&str]) -> FieldErrors {
    let mut errors = FieldErrors::default();
    let mut first = HashMap::new();
    for (i, (report, order)) in reports.iter().zip(orders).enumerate() {
        match first.entry((*order, report.kind.family())) {
            Entry::Vacant(entry) => {
                entry.insert(i);
            }
            Entry::Occupied(entry) => errors.push(
                format!("reports[{i}].{}", report.decision.field()),
                format!(
                    "names the same order's {} outcome as reports[{}]; send one report per \
                     order and kind family",
                    report.kind.family().as_str(),
                    entry.get()
                ),
            ),
        }
    }
    errors
}

/// The company's definition of a bad order: `days_past_due` days late or worse, or defaulted or
/// written off, within `within_days` days of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadDefinition {
    pub days_past_due: u32,
    pub within_days: u32,
}

impl Default for BadDefinition {
    /// The common definition of credit scoring: 90 days past due within 180 days.
    fn default() -> Self {
        Self {
            days_past_due: 90,
            within_days: 180,
        }
    }
}

/// Reads a definition from the values sent as `days_past_due` and `within_days` (JSON `null`
/// for one not sent: both are required), every problem named.
pub fn read_definition(
    days_past_due: &Value,
    within_days: &Value,
) -> Result<BadDefinition, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut bounded = |key: &str, value: &Value, range: &RangeInclusive<u32>| {
        if value.is_null() {
            errors.push(key, "is required");
            return None;
        }
        checked(
            whole_number_in(value, *range.start(), *range.end()),
            key,
            &mut errors,
        )
    };
    let days_past_due = bounded("days_past_due", days_past_due, &DAYS_PAST_DUE);
    let within_days = bounded("within_days", within_days, &WITHIN_DAYS);
    if let (Some(days), Some(within)) = (days_past_due, within_days)
        && within < days
    {
        errors.push(
            "within_days",
            format!(
                "must be at least days_past_due ({days}): no order is that many days late sooner"
            ),
        );
    }
    match (days_past_due, within_days) {
        (Some(days_past_due), Some(within_days)) if errors.is_empty() => Ok(BadDefinition {
            days_past_due,
            within_days,
        }),
        _ => Err(errors),
    }
}

/// Where a decision stands, as of a time, by a definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maturity {
    /// Fewer than `within_days` days since the decision: too early to tell; left out of every
    /// rate.
    Immature,
    /// Matured without a repayment outcome: nobody said how it went. Left out of bad rates
    /// rather than counted good: a company that reports only its defaults would otherwise
    /// look better the less it reported.
    Unknown,
    Good,
    Bad,
}

impl Maturity {
    pub fn is_matured(self) -> bool {
        self != Maturity::Immature
    }

    pub fn is_bad(self) -> bool {
        self == Maturity::Bad
    }
}

/// What a model version learns to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TrainingLabel {
    /// The company's own decision on each uploaded order (its `outcome`, approved or blocked):
    /// the version learns to decide as the company did.
    #[default]
    CompanyDecision,
    /// How the orders aval decided were repaid, by the company's definition of a bad order:
    /// uploaded orders that aval decided and whose decision has matured with a repayment
    /// outcome, a bad one as blocked, a good one as approved. The version learns to predict
    /// repayment rather than the company's past decisions.
    Outcomes,
}

impl TrainingLabel {
    pub const ALL: [TrainingLabel; 2] = [TrainingLabel::CompanyDecision, TrainingLabel::Outcomes];

    pub fn as_str(self) -> &'static str {
        match self {
            TrainingLabel::CompanyDecision => "company_decision",
            TrainingLabel::Outcomes => "outcomes",
        }
    }

    pub fn parse(text: &str) -> Option<TrainingLabel> {
        Self::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

/// The label an order carries under [`TrainingLabel::Outcomes`]: blocked when its decision went
/// bad, approved when it was repaid, `None` while immature or unknown (left out of training).
pub fn repayment_label(maturity: Maturity) -> Option<crate::ingest::items::Outcome> {
    use crate::ingest::items::Outcome;
    match maturity {
        Maturity::Bad => Some(Outcome::Blocked),
        Maturity::Good => Some(Outcome::Approved),
        Maturity::Immature | Maturity::Unknown => None,
    }
}

/// Judges a decision taken at `decided_at`, as of `as_of`, by its repayment outcome (`None`
/// when none was reported; an override says nothing of repayment and is not passed here).
///
/// It has matured once `within_days` days have passed since the decision. A matured decision is
/// bad when it defaulted, was written off, or was paid `days_past_due` or more days late, and
/// that happened within the window; paid on time, paid less late, or a bad event only after the
/// window (it stayed clear of it for the whole window) is good; no outcome is unknown. An
/// outcome reported after `as_of` is the caller's to leave out.
pub fn judge(
    definition: BadDefinition,
    decided_at: DateTime<Utc>,
    as_of: DateTime<Utc>,
    repayment: Option<(&OutcomeKind, DateTime<Utc>)>,
) -> Maturity {
    let window = TimeDelta::days(i64::from(definition.within_days));
    let Some(window_end) = decided_at.checked_add_signed(window) else {
        return Maturity::Immature;
    };
    if as_of < window_end {
        return Maturity::Immature;
    }
    let Some((kind, occurred_at)) = repayment else {
        return Maturity::Unknown;
    };
    let in_window = occurred_at <= window_end;
    let bad = match kind {
        // Not a repayment outcome: says nothing of how the order was paid.
        OutcomeKind::Override { .. } => return Maturity::Unknown,
        OutcomeKind::PaidOnTime => false,
        OutcomeKind::PaidLate { days_late } => *days_late >= definition.days_past_due && in_window,
        OutcomeKind::Defaulted | OutcomeKind::WrittenOff => in_window,
    };
    if bad { Maturity::Bad } else { Maturity::Good }
}

pub mod overrides;

#[cfg(test)]
mod tests;
