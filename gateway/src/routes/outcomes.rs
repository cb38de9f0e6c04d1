//! `/v1/outcomes`: a company reports what happened to the orders aval decided (repaid on time
//! or late, defaulted, written off, or overridden by an analyst), reads them back beside their
//! decisions, and sets its definition of a bad order. The rules are `aval_core::outcome`'s;
//! storage and the upsert are `aval_store::outcomes`. Each accepted batch and each definition
//! change is committed only once its audit event is on Kafka, as the tokens' changes are.

use crate::auth::Authenticated;
use crate::json::JsonBody;
use crate::problem::Problem;
use crate::routes::decision_history::SummaryView;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::paging::{self, Cursor};
use crate::routes::query::id_param;
use crate::routes::tokens::audit;
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::outcome::{
    BadDefinition, DecisionRef, KindFamily, MAX_REPORTS, OutcomeKind, read_definition,
    read_reports, repeated_in_batch,
};
use aval_store::outcomes::{DecisionKey, NewOutcome, OutcomePosition, StoredOutcome};
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// What `POST /v1/outcomes` takes. Each report is read by `aval_core::outcome::read_reports`,
/// which names every problem of every report, where serde would stop at the first.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = OutcomeBatch)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportBody {
    #[schema(schema_with = schema::reports)]
    reports: Vec<Value>,
}

/// What a batch did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OutcomeReceipt)]
pub(crate) struct ReportReceipt {
    /// Reports in the batch.
    #[schema(schema_with = schema::report_count)]
    reports: usize,
    /// Reports stored: a first outcome of its order and family, or one that replaced an
    /// earlier.
    #[schema(minimum = 0)]
    stored: u64,
    /// Reports that changed nothing: the stored outcome is this one, or occurred later.
    #[schema(minimum = 0)]
    unchanged: u64,
}

/// An outcome as listed, with the decision it belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Outcome)]
pub(crate) struct OutcomeView {
    #[schema(examples("A-1"))]
    order_id: String,
    #[schema(schema_with = schema::family)]
    family: &'static str,
    #[schema(schema_with = schema::kind)]
    kind: &'static str,
    /// Days after the due date the order was paid; `paid_late` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::days_late)]
    days_late: Option<u32>,
    /// Which way the analyst overrode the decision; `override` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::direction)]
    direction: Option<&'static str>,
    /// The company's code for why; `override` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::reason_code)]
    reason_code: Option<String>,
    /// When it happened, as the company reported it.
    occurred_at: DateTime<Utc>,
    /// When aval stored this outcome (the report that set it).
    reported_at: DateTime<Utc>,
    /// The decision on the order.
    decision: SummaryView,
}

impl From<StoredOutcome> for OutcomeView {
    fn from(o: StoredOutcome) -> Self {
        let (days_late, direction, reason_code) = match &o.kind {
            OutcomeKind::PaidLate { days_late } => (Some(*days_late), None, None),
            OutcomeKind::Override {
                direction,
                reason_code,
            } => (None, Some(direction.as_str()), Some(reason_code.clone())),
            OutcomeKind::PaidOnTime | OutcomeKind::Defaulted | OutcomeKind::WrittenOff => {
                (None, None, None)
            }
        };
        Self {
            order_id: o.decision.order_id.clone(),
            family: o.kind.family().as_str(),
            kind: o.kind.name(),
            days_late,
            direction,
            reason_code,
            occurred_at: o.occurred_at,
            reported_at: o.reported_at,
            decision: SummaryView::from(o.decision),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OutcomePage {
    /// Newest decision first; an order's repayment before its override.
    outcomes: Vec<OutcomeView>,
    /// Pass as `cursor`, with the same `order_id`, for the next page. Absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    next_cursor: Option<String>,
}

/// The company's definition of a bad order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OutcomeDefinition)]
pub(crate) struct DefinitionView {
    #[schema(schema_with = schema::days_past_due)]
    days_past_due: u32,
    #[schema(schema_with = schema::within_days)]
    within_days: u32,
}

impl From<BadDefinition> for DefinitionView {
    fn from(d: BadDefinition) -> Self {
        Self {
            days_past_due: d.days_past_due,
            within_days: d.within_days,
        }
    }
}

/// What `PUT /v1/outcomes/definition` takes: both fields, read as whole numbers by
/// `aval_core::outcome::read_definition` (`90.0` is 90), every problem named.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = OutcomeDefinitionRequest)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefinitionBody {
    #[serde(default)]
    #[schema(schema_with = schema::days_past_due, required = true)]
    days_past_due: Value,
    #[serde(default)]
    #[schema(schema_with = schema::within_days, required = true)]
    within_days: Value,
}

/// The listing's cursor id: the family, then the order id (which may hold any character).
fn cursor_id(family: KindFamily, order_id: &str) -> String {
    format!("{}:{order_id}", family.as_str())
}

/// The family and order id of a cursor id, when it is one [`cursor_id`] wrote.
fn read_cursor_id(id: &str) -> Option<(KindFamily, &str)> {
    let (family, order_id) = id.split_once(':')?;
    let family = KindFamily::from_name(family)?;
    (!order_id.is_empty()).then_some((family, order_id))
}

fn position(cursor: &Cursor) -> Option<OutcomePosition> {
    let (family, order_id) = read_cursor_id(&cursor.id)?;
    Some(OutcomePosition {
        decided_at: cursor.at,
        order_id: order_id.to_owned(),
        family,
    })
}

#[utoipa::path(
    post,
    path = "/v1/outcomes",
    tag = "outcomes",
    operation_id = "reportOutcomes",
    summary = "Report what happened to decided orders",
    description = "A batch of 1 to 500 outcome reports, each about one order aval decided for the company, named by the decision's `request_id` or by the company's `order_id` (exactly one), with `occurred_at` (when it happened, RFC 3339, at most a day ahead) and a `kind`: `paid_on_time`; `paid_late` with `days_late` (1 to 3650); `defaulted`; `written_off`; or `override` with `direction` (`approved_rejection`: aval rejected and an analyst approved; `blocked_approval`: the reverse) and `reason_code`. A field of another kind is refused.\n\nAn order keeps one outcome per family, its repayment (the four repayment kinds) and its override, side by side. A report is an idempotent upsert: it replaces the stored outcome of its family when it occurred later, or at the same instant with other content (a correction); the same report again, or one that occurred earlier, changes nothing and counts as `unchanged`. Two reports of one batch about the same order and family are refused.\n\nThe batch is checked whole and stored whole, or not at all: a report naming no decision of the company (an unknown id, or another company's: the same answer) gets 422 naming each such report by index (`reports[3].order_id`). An accepted batch is audited (`outcomes.reported`, with the counts) and stored only once its audit event is on the audit topic; if that fails nothing is stored (503).",
    request_body(content = ReportBody, content_type = "application/json", example = examples::report_outcomes_request),
    responses(
        (status = 200, description = "Stored: how many reports changed an outcome and how many changed nothing.", content_type = "application/json", body = ReportReceipt, example = examples::report_outcomes_200),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 413, description = "The body is over the size limit (type `/problems/too-large`), or `reports` holds more than 500 reports (type `/problems/too-many-items`, `errors` names `reports`). Split the batch.", content_type = "application/problem+json", body = Problem),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, description = "Some reports break the rules, name no decision of this company (unknown, or another company's), or repeat an order and family of an earlier report of the batch: `errors` names each by its index and field (`reports[3].order_id`). Nothing of the batch is stored.", content_type = "application/problem+json", body = Problem, example = examples::report_outcomes_422),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn report(
    auth: Authenticated,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ReportBody>,
) -> Result<Json<ReportReceipt>, Problem> {
    if body.reports.len() > MAX_REPORTS {
        return Err(Problem::too_many(
            "reports",
            body.reports.len(),
            MAX_REPORTS,
        ));
    }
    let now = Utc::now();
    let reports = read_reports(&body.reports, now).map_err(Problem::invalid)?;
    let company_id = auth.company.id;
    let refs: Vec<DecisionRef> = reports.iter().map(|r| r.decision.clone()).collect();
    let resolved = state
        .store
        .resolve_decisions(company_id, &refs)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the decisions", e))?;
    let mut unknown = FieldErrors::default();
    let mut keys: Vec<&DecisionKey> = Vec::with_capacity(resolved.len());
    for (i, (report, key)) in reports.iter().zip(&resolved).enumerate() {
        match key {
            Some(key) => keys.push(key),
            None => unknown.push(
                format!("reports[{i}].{}", report.decision.field()),
                "names no decision of this company; report outcomes of orders aval decided",
            ),
        }
    }
    if !unknown.is_empty() {
        return Err(Problem::invalid(unknown));
    }
    let orders: Vec<&str> = keys.iter().map(|k| k.order_id.as_str()).collect();
    let repeated = repeated_in_batch(&reports, &orders);
    if !repeated.is_empty() {
        return Err(Problem::invalid(repeated));
    }
    let outcomes: Vec<NewOutcome<'_>> = reports
        .iter()
        .zip(&keys)
        .map(|(report, key)| NewOutcome {
            decision: key,
            kind: &report.kind,
            occurred_at: report.occurred_at,
        })
        .collect();
    let failed = |e| Problem::dependency_failed("cannot store the outcomes", e);
    let pending = state
        .store
        .begin_outcomes(company_id, &outcomes, now)
        .await
        .map_err(failed)?;
    let total = reports.len() as u64;
    let stored = pending.value;
    let unchanged = total.saturating_sub(stored);
    let event = AuditEvent::new(company_id, AuditKind::OutcomesReported, auth.actor(), now)
        .with_detail("reports", total.to_string())
        .with_detail("stored", stored.to_string())
        .with_detail("unchanged", unchanged.to_string());
    audit(&state, &event, "nothing was stored").await?;
    pending.commit().await.map_err(failed)?;
    tracing::info!(%company_id, reports = total, stored, "outcomes reported");
    Ok(Json(ReportReceipt {
        reports: reports.len(),
        stored,
        unchanged,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/outcomes",
    tag = "outcomes",
    operation_id = "listOutcomes",
    summary = "The company's outcomes, with their decisions",
    description = "Every outcome the company reported, as it now stands (the latest of its family), each with the decision on its order: newest decision first, then by order id, an order's `repayment` before its `override`. `order_id` narrows the list to one order. Paging: pass `next_cursor` as `cursor`, with the same `order_id`; the order is the decisions', which no report changes, so a replaced outcome keeps its place and none is shown twice. Any other query parameter, or a bad value, is refused (422, naming the field).",
    params(params::OutcomeListing),
    responses(
        (status = 200, description = "One page of outcomes; `outcomes` is empty when there are none.", content_type = "application/json", body = OutcomePage, example = examples::list_outcomes_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<OutcomePage>, Problem> {
    let mut errors = FieldErrors::default();
    let (limit, cursor) = paging::filtered_page(
        &params,
        &["order_id"],
        |id| read_cursor_id(id).is_some(),
        &mut errors,
    );
    let order_id = id_param(&params, "order_id", &mut errors);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let after = cursor.as_ref().and_then(position);
    let outcomes = state
        .store
        .outcomes_page(
            auth.company.id,
            order_id.as_deref(),
            after.as_ref(),
            limit + 1,
        )
        .await
        .map_err(|e| Problem::dependency_failed("cannot list the outcomes", e))?;
    let (outcomes, next_cursor) = paging::cut(outcomes, limit, |o| Cursor {
        at: o.decision.decided_at,
        id: cursor_id(o.kind.family(), &o.decision.order_id),
    });
    Ok(Json(OutcomePage {
        outcomes: outcomes.into_iter().map(OutcomeView::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/outcomes/definition",
    tag = "outcomes",
    operation_id = "getOutcomeDefinition",
    summary = "The company's definition of a bad order",
    description = "An order is bad when it defaulted, was written off, or was paid `days_past_due` or more days late, within `within_days` days of its decision. A decision has matured once `within_days` days have passed since it; a matured decision without a repayment outcome is unknown, left out of bad rates. A company that never set one has the default: 90 days past due within 180 days.",
    responses(
        (status = 200, description = "The definition in force.", content_type = "application/json", body = DefinitionView, example = examples::outcome_definition_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn definition(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<DefinitionView>, Problem> {
    let definition = state
        .store
        .outcome_definition(auth.company.id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the definition", e))?;
    Ok(Json(definition.into()))
}

#[utoipa::path(
    put,
    path = "/v1/outcomes/definition",
    tag = "outcomes",
    operation_id = "setOutcomeDefinition",
    summary = "Set the company's definition of a bad order",
    description = "Replaces the definition: `days_past_due` (1 to 360) and `within_days` (30 to 1095, at least `days_past_due`), both required. A change is audited (`outcomes.definition_changed`, with the values before and after) and stored only once its audit event is on the audit topic (else 503, nothing changed); setting the definition in force again changes nothing and is not audited.",
    request_body(content = DefinitionBody, content_type = "application/json", example = examples::outcome_definition_200),
    responses(
        (status = 200, description = "The definition now in force.", content_type = "application/json", body = DefinitionView, example = examples::outcome_definition_200),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 413, response = responses::BodyTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn set_definition(
    auth: Authenticated,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DefinitionBody>,
) -> Result<Json<DefinitionView>, Problem> {
    let definition =
        read_definition(&body.days_past_due, &body.within_days).map_err(Problem::invalid)?;
    let company_id = auth.company.id;
    let now = Utc::now();
    let failed = |e| Problem::dependency_failed("cannot set the definition", e);
    let pending = state
        .store
        .begin_outcome_definition(company_id, definition, now)
        .await
        .map_err(failed)?;
    let change = pending.value;
    if change.changed {
        let event = AuditEvent::new(
            company_id,
            AuditKind::OutcomeDefinitionChanged,
            auth.actor(),
            now,
        )
        .with_detail("days_past_due", definition.days_past_due.to_string())
        .with_detail("within_days", definition.within_days.to_string())
        .with_detail(
            "previous_days_past_due",
            change.previous.days_past_due.to_string(),
        )
        .with_detail(
            "previous_within_days",
            change.previous.within_days.to_string(),
        );
        audit(&state, &event, "nothing was changed").await?;
    }
    pending.commit().await.map_err(failed)?;
    Ok(Json(definition.into()))
}

/// The schemas the derive cannot state: each report kind as its own closed object (so the
/// document takes exactly what `read_reports` takes), and limits from the code's constants.
mod schema {
    use aval_core::ingest::schema::reference;
    use aval_core::outcome::{
        DAYS_PAST_DUE, KindFamily, MAX_DAYS_LATE, MAX_REASON_CODE_CHARS, MAX_REPORTS, OutcomeKind,
        OverrideDirection, WITHIN_DAYS,
    };
    use aval_core::text;
    use serde_json::json;
    use std::borrow::Cow;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::schema::{
        AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
    };
    use utoipa::{PartialSchema, ToSchema};

    pub(super) fn reports() -> Schema {
        ArrayBuilder::new()
            .items(reference("OutcomeReport"))
            .min_items(Some(1))
            .max_items(Some(MAX_REPORTS))
            .description(Some(format!(
                "1 to {MAX_REPORTS} reports, no two about the same order and family."
            )))
            .into()
    }

    pub(super) fn report_count() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_REPORTS))
            .into()
    }

    pub(super) fn family() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "`repayment` (paid_on_time, paid_late, defaulted, written_off) or `override`.",
            ))
            .enum_values(Some(KindFamily::ALL.map(KindFamily::as_str)))
            .into()
    }

    pub(super) fn kind() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(OutcomeKind::NAMES))
            .into()
    }

    fn days_late_builder() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_DAYS_LATE))
    }

    pub(super) fn days_late() -> Schema {
        days_late_builder().into()
    }

    fn direction_builder() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(OverrideDirection::ALL.map(OverrideDirection::as_str)))
    }

    pub(super) fn direction() -> Schema {
        direction_builder().into()
    }

    fn reason_code_builder() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "The company's short code for why: 1 to {MAX_REASON_CODE_CHARS} characters, \
                 one line, by the rule of ids."
            )))
            .min_length(Some(1))
            .max_length(Some(MAX_REASON_CODE_CHARS))
            .pattern(Some(text::id_pattern()))
            .examples([json!("manual-review")])
    }

    pub(super) fn reason_code() -> Schema {
        reason_code_builder().into()
    }

    pub(super) fn days_past_due() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(*DAYS_PAST_DUE.start()))
            .maximum(Some(*DAYS_PAST_DUE.end()))
            .description(Some(
                "Days past due that make an order bad (a `paid_late` report with at least this \
                 many `days_late`).",
            ))
            .into()
    }

    pub(super) fn within_days() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(*WITHIN_DAYS.start()))
            .maximum(Some(*WITHIN_DAYS.end()))
            .description(Some(
                "The window after each decision, in days: the bad event must happen within it, \
                 and a decision matures when it has passed. At least `days_past_due`.",
            ))
            .into()
    }

    /// One kind's report: the identifiers, `occurred_at`, `kind` and the kind's own fields,
    /// nothing else; exactly one of `request_id` and `order_id`.
    fn variant(kind: &str, description: &str, own: Vec<(&str, ObjectBuilder)>) -> ObjectBuilder {
        let mut exactly_one = Extensions::default();
        exactly_one.insert(
            "oneOf".to_owned(),
            json!([{"required": ["request_id"]}, {"required": ["order_id"]}]),
        );
        let mut builder = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some(kind))
            .description(Some(description))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .property("request_id", reference("Id"))
            .property("order_id", reference("Id"))
            .property("occurred_at", reference("Timestamp"))
            .property(
                "kind",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([kind])),
            )
            .required("occurred_at")
            .required("kind")
            .extensions(Some(exactly_one));
        for (name, schema) in own {
            builder = builder.property(name, schema).required(name);
        }
        builder
    }

    /// Names the report schema, a `oneOf` of [`variant`]s.
    #[derive(Debug)]
    pub(crate) struct OutcomeReport;

    impl PartialSchema for OutcomeReport {
        fn schema() -> RefOr<Schema> {
            OneOfBuilder::new()
                .description(Some(
                    "One outcome of a decided order, named by the decision's `request_id` or the \
                     company's `order_id` (exactly one), with when it happened and its kind.",
                ))
                .item(variant("paid_on_time", "Paid by its due date.", Vec::new()))
                .item(variant(
                    "paid_late",
                    "Paid, `days_late` days after its due date.",
                    vec![("days_late", days_late_builder())],
                ))
                .item(variant("defaulted", "Not paid: in default.", Vec::new()))
                .item(variant("written_off", "Given up as lost.", Vec::new()))
                .item(variant(
                    "override",
                    "An analyst overrode the decision: approved what aval rejected \
                     (`approved_rejection`) or blocked what it approved (`blocked_approval`).",
                    vec![
                        ("direction", direction_builder()),
                        ("reason_code", reason_code_builder()),
                    ],
                ))
                .into()
        }
    }

    impl ToSchema for OutcomeReport {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("OutcomeReport")
        }
    }
}

pub(crate) use schema::OutcomeReport;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_examples_pass_the_real_rules() {
        let request = examples::report_outcomes_request();
        let reports = request["reports"].as_array().expect("reports");
        let read = read_reports(reports, Utc::now()).expect("the example is valid");
        assert_eq!(read.len(), reports.len());
        let definition = examples::outcome_definition_200();
        assert!(read_definition(&definition["days_past_due"], &definition["within_days"]).is_ok());
        let receipt = examples::report_outcomes_200();
        assert_eq!(
            receipt["reports"].as_u64(),
            Some(reports.len() as u64),
            "{receipt}"
        );
    }

    #[test]
    fn a_cursor_names_its_family_and_order() {
        let at = Utc::now();
        for family in KindFamily::ALL {
            let cursor = Cursor {
                at,
                id: cursor_id(family, "A:1/2"),
            };
            let read =
                position(&Cursor::decode(&cursor.encode()).expect("decodes")).expect("a position");
            assert_eq!(read.family, family);
            assert_eq!(read.order_id, "A:1/2");
        }
        for bad in ["A-1", "repayment:", "lost:A-1"] {
            let cursor = Cursor {
                at,
                id: bad.to_owned(),
            };
            assert_eq!(position(&cursor), None, "{bad}");
        }
    }
}
