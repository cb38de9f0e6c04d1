//! `POST /v1/decisions` and `/v1/decisions/batch`: validate, produce a decision request with a
//! fresh correlation id and this instance's id, and wait (with a deadline) for the scorer's
//! reply routed back to this instance.

use crate::auth::{Authenticated, publish_sealed};
use crate::json::JsonBody;
use crate::problem::{FirstDecision, Problem};
use crate::routes::openapi::{examples, params, responses};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::experiment::Arm;
use aval_core::ingest::{
    Cents, facts_about_the_order, validate_bureau_report, validate_credit_limit, validate_customer,
    validate_order, whole_number_in,
};
use aval_core::reasons::Language;
use aval_topics::records::{
    BureauReportWire, CreditLimitWire, CustomerWire, DecisionOutcomeWire, DecisionRecord,
    DecisionReplyRecord, DecisionRequestRecord, OrderWire, PolicyAppliedWire, ReasonWire,
    ReplyStatusWire,
};
use aval_topics::{TopicRole, keys};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Instant;
use uuid::Uuid;

/// Largest batch of orders decided in one call.
pub(crate) const MAX_BATCH_ORDERS: usize = 500;

/// Model versions are numbered in an `INTEGER` column.
pub(crate) const MAX_MODEL_VERSION: u32 = i32::MAX as u32;

/// An order to decide, with facts about its customer to use instead of the stored ones. Only
/// `order` is required; any other field may be absent or null. Each fact must be about the
/// order's customer (its `id` or `customer_id` is the order's `customer_id`).
// The parts are JSON values: `check` reads each by the upload rules, which report every bad
// field where serde would stop at the first.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = DecisionRequest)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    #[schema(schema_with = schema::order)]
    order: Value,
    /// The customer, instead of the stored one.
    #[schema(schema_with = schema::customer)]
    customer: Option<Value>,
    /// The customer's credit limit, instead of the stored ones.
    #[schema(schema_with = schema::credit_limit)]
    credit_limit: Option<Value>,
    /// A bureau report on the customer, instead of the stored ones.
    #[schema(schema_with = schema::bureau_report)]
    bureau_report: Option<Value>,
    /// Read as a whole number by the rules of the items (`2.0` is 2), not by serde.
    #[schema(schema_with = schema::model_version)]
    model_version: Option<Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = DecisionBatch)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    /// Each a decision body (`{order, customer?, ...}`) or just the order.
    #[schema(schema_with = schema::orders)]
    orders: Vec<Value>,
}

/// A decision as the API shows it: the scorer's record without the company (the token's), its
/// amount in BRL, and the gateway's own timing added.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Decision)]
pub(crate) struct DecisionView {
    /// The decision request's id; a repeat carries the first request's.
    #[schema(format = Uuid)]
    request_id: String,
    #[schema(schema_with = schema::order_id)]
    order_id: String,
    #[schema(inline)]
    decision: DecisionOutcomeWire,
    /// The model's probability that the order should be blocked.
    #[schema(minimum = 0, maximum = 1)]
    probability: f64,
    /// The cut-off: a probability at or above it rejects the order (the company's policy's,
    /// else the model's own threshold).
    #[schema(minimum = 0, maximum = 1)]
    threshold: f64,
    /// The version that decided.
    #[schema(minimum = 1)]
    model_version: i32,
    /// Up to 5 factors, the strongest first; under a policy up to 4, the rules that fired
    /// first (a rule's `contribution` is 0: it is not a factor of the model).
    #[schema(max_items = 5)]
    reasons: Vec<ReasonWire>,
    /// For a rejected order, the largest amount (BRL, two decimals) the model would approve
    /// with every other fact equal; null when approved, or when no amount would be.
    #[schema(required = true, pattern = r"^[0-9]+\.[0-9]{2}$")]
    max_approvable_amount: Option<String>,
    /// True when this order id was decided before: this is that first decision.
    repeat: bool,
    #[schema(required = true)]
    decided_at: Option<DateTime<Utc>>,
    /// Microseconds per stage: the scorer's (`features`, `model`, `reasons`, `max_amount`,
    /// `decide`, `stored_facts`, `scorer`, `since_request`) and `gateway`, the whole wait in the
    /// gateway. A repeat has the first decision's scorer timings.
    timings_us: HashMap<String, i64>,
    /// How the company's decision policy decided; null when it has none.
    #[schema(required = true)]
    policy: Option<PolicyAppliedWire>,
    /// Which arm of the company's experiment decided: `champion` (its active version) or
    /// `challenger` (`model_version` names which); null for a test of a named version.
    #[schema(required = true)]
    arm: Option<Arm>,
}

/// One entry's answer in a batch: `status` 200 and its decision, or the status and problem
/// `POST /v1/decisions` would have answered.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum DecisionResult {
    Decided { status: u16, decision: DecisionView },
    Refused { status: u16, problem: Problem },
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DecisionBatchResult {
    /// One result per entry of `orders`, in the same order.
    #[schema(schema_with = schema::results)]
    decisions: Vec<DecisionResult>,
}

/// One checked request, ready to produce.
#[derive(Debug)]
pub(crate) struct Checked {
    order: OrderWire,
    customer: Option<CustomerWire>,
    credit_limit: Option<CreditLimitWire>,
    bureau_report: Option<BureauReportWire>,
    model_version: Option<i32>,
}

fn merge(errors: &mut FieldErrors, more: &FieldErrors) {
    for e in more.iter() {
        errors.push(e.field.clone(), e.reason.clone());
    }
}

/// The upload validators, with paths under `prefix`; each fact must be about the order's
/// customer.
pub(crate) fn check(
    body: &DecisionBody,
    prefix: &str,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) -> Option<Checked> {
    let at = |field: &str| format!("{prefix}{field}");
    let order = validate_order(&body.order, &at("order"), now)
        .map_err(|e| merge(errors, &e))
        .ok();
    let customer = body.customer.as_ref().and_then(|v| {
        validate_customer(v, &at("customer"), now)
            .map_err(|e| merge(errors, &e))
            .ok()
    });
    let limit = body.credit_limit.as_ref().and_then(|v| {
        validate_credit_limit(v, &at("credit_limit"), now)
            .map_err(|e| merge(errors, &e))
            .ok()
    });
    let report = body.bureau_report.as_ref().and_then(|v| {
        validate_bureau_report(v, &at("bureau_report"), now)
            .map_err(|e| merge(errors, &e))
            .ok()
    });
    let model_version = match body.model_version.as_ref().filter(|v| !v.is_null()) {
        None => None,
        Some(v) => match whole_number_in(v, 1, MAX_MODEL_VERSION) {
            Ok(version) => i32::try_from(version).ok(),
            Err(_) => {
                errors.push(
                    at("model_version"),
                    format!("must be a model version (1 to {MAX_MODEL_VERSION})"),
                );
                None
            }
        },
    };
    let order = order?;
    facts_about_the_order(
        &order.customer_id,
        customer.as_ref().map(|c| c.id.as_str()),
        limit.as_ref().map(|l| l.customer_id.as_str()),
        report.as_ref().map(|r| r.customer_id.as_str()),
        prefix,
        errors,
    );
    Some(Checked {
        order: OrderWire::from(&order),
        customer: customer.as_ref().map(CustomerWire::from),
        credit_limit: limit.as_ref().map(CreditLimitWire::from),
        bureau_report: report.as_ref().map(BureauReportWire::from),
        model_version,
    })
}

fn language(headers: &HeaderMap) -> Language {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Language::English, Language::from_accept_language)
}

/// The decision as the API shows it.
fn view(decision: DecisionRecord, gateway_us: i64) -> DecisionView {
    let mut timings = decision.timings_us;
    timings.insert("gateway".to_owned(), gateway_us);
    DecisionView {
        request_id: decision.request_id,
        order_id: decision.order_id,
        decision: decision.decision,
        probability: decision.probability,
        threshold: decision.threshold,
        model_version: decision.model_version,
        reasons: decision.reasons,
        max_approvable_amount: decision
            .max_approvable_amount_cents
            .map(|cents| Cents(cents).to_string()),
        repeat: decision.repeat,
        decided_at: DateTime::from_timestamp_millis(decision.decided_at),
        timings_us: timings,
        policy: decision.policy,
        arm: decision.arm,
    }
}

/// A recorded decision as the API shows it: as first answered, without the `gateway` timing
/// (no call waited for it).
pub(crate) fn recorded_view(decision: DecisionRecord) -> DecisionView {
    let mut view = view(decision, 0);
    view.timings_us.remove("gateway");
    view
}

/// The reply as a response body, or the problem it stands for.
fn answer(reply: DecisionReplyRecord, started: Instant) -> Result<DecisionView, Problem> {
    let message = reply.message.clone().unwrap_or_default();
    match (reply.status, reply.decision) {
        (ReplyStatusWire::Decided, Some(decision)) => Ok(view(
            decision,
            i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        )),
        (ReplyStatusWire::NoModel, _) => Err(Problem::no_model(message)),
        (ReplyStatusWire::Conflict, Some(first)) => Err(Problem::order_conflict(
            message,
            FirstDecision {
                request_id: first.request_id,
                order_id: first.order_id,
                decision: first.decision.as_str(),
                decided_at: DateTime::from_timestamp_millis(first.decided_at),
            },
        )),
        (ReplyStatusWire::Invalid, _) => {
            let mut errors = FieldErrors::default();
            for e in reply.errors {
                errors.push(e.field, e.reason);
            }
            Err(Problem::invalid(errors))
        }
        _ => Err(Problem::failed(if message.is_empty() {
            "the scorer could not decide".to_owned()
        } else {
            message
        })),
    }
}

/// Produces one request and waits for its reply.
async fn ask(
    state: &AppState,
    auth: &Authenticated,
    checked: Checked,
    language: Language,
) -> Result<DecisionView, Problem> {
    let started = Instant::now();
    let replies_topic = state.catalogue.topic(TopicRole::DecisionReplies);
    state.replies.start(replies_topic).await.map_err(|e| {
        tracing::error!(error = %e, "cannot read decision replies");
        Problem::unavailable("cannot receive decisions right now; retry")
    })?;
    let company = auth.company.id.to_string();
    let request = DecisionRequestRecord {
        request_id: Uuid::new_v4().to_string(),
        company_id: company.clone(),
        order: checked.order,
        customer: checked.customer,
        credit_limit: checked.credit_limit,
        bureau_report: checked.bureau_report,
        model_version: checked.model_version,
        language: language.tag().to_owned(),
        requested_at: Utc::now().timestamp_millis(),
    };
    // Registered before producing: the reply may come back before `publish` returns.
    let pending = state.replies.expect(&request.request_id, &company);
    publish_sealed(
        state,
        auth,
        state.catalogue.topic(TopicRole::DecisionRequests),
        None,
        &keys::spread_key(&company, &request.order.customer_id),
        &request,
        &state.replies.reply_headers(),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "cannot produce a decision request");
        Problem::unavailable("cannot queue the decision request; retry")
    })?;
    let reply = pending.reply().await.map_err(|e| {
        Problem::timeout(format!(
            "no decision for order {} within the deadline ({e}); the scorer may be down or busy. Retrying with the same order id is safe: a decision made meanwhile is returned as a repeat",
            request.order.id
        ))
    })?;
    metrics::histogram!("aval_decision_seconds").record(started.elapsed().as_secs_f64());
    answer(reply, started)
}

/// `POST /v1/decisions`.
#[utoipa::path(
    post,
    path = "/v1/decisions",
    tag = "decisions",
    operation_id = "decideOrder",
    summary = "Decide an order",
    description = "Approves or rejects one order with the company's active model (or the version named in `model_version`), and says why: the top reasons, each as a sentence in the language of `Accept-Language`, and, for a rejected order, the largest amount the model would approve with every other fact equal. The order and any facts sent with it are checked by the same rules as an upload (422 lists every bad field, by path like `order.amount`); the facts must be about the order's customer. Facts sent replace the stored facts of their kind for this decision only; facts not sent are the stored ones. Nothing sent is stored, except the decision itself.\n\nDecided once per order id: without `model_version`, the decision is recorded, and the same order id asked again gets that first decision back, with `repeat` true (whatever the body). With `model_version`, the order is decided by that version as a what-if, never recorded and never a repeat. The gateway waits for the scorer up to a deadline (2 s by default): past it, 504. Retrying after a 504 is safe.",
    params(params::AcceptLanguage),
    request_body(content = DecisionBody, content_type = "application/json", example = examples::decide_order_request),
    responses(
        (status = 200, description = "Decided (or, with `repeat` true, decided before).", content_type = "application/json", body = DecisionView, example = examples::decide_order_200),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::DecisionConflict),
        (status = 413, response = responses::BodyTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, description = "Some fields of the order or of its facts break the rules, a fact is about another customer, or `model_version` is below 1. `errors` lists every one, by path.", content_type = "application/problem+json", body = Problem, example = examples::decide_order_422),
        (status = 500, response = responses::DecisionFailed),
        (status = 503, response = responses::DecisionUnavailable),
        (status = 504, response = responses::DecisionTimeout),
    )
)]
pub(crate) async fn decide(
    auth: Authenticated,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<DecisionView>, Problem> {
    let mut errors = FieldErrors::default();
    let checked = check(&body, "", Utc::now(), &mut errors);
    let checked = match checked {
        Some(checked) if errors.is_empty() => checked,
        _ => {
            let refused = Refused::of(&body.order, errors.iter().map(|e| e.field.as_str()));
            audit_refused(&state, &auth, &[refused]).await?;
            return Err(Problem::invalid(errors));
        }
    };
    ask(&state, &auth, checked, language(&headers))
        .await
        .map(Json)
}

/// `POST /v1/decisions/batch`: every order checked first (422 lists all bad fields), then all
/// asked at once; each answer is a decision or the problem for that order.
#[utoipa::path(
    post,
    path = "/v1/decisions/batch",
    tag = "decisions",
    operation_id = "decideOrders",
    summary = "Decide a batch of orders",
    description = "Up to 500 orders, each decided as by `POST /v1/decisions`. Each entry of `orders` is a decision request (`{order, customer?, credit_limit?, bureau_report?, model_version?}`, told apart by its `order` field) or just the order. Every entry is checked first: if any is bad, 422 lists every bad field of every entry (as `orders[1].order.amount`, also for an entry sent as just the order) and nothing is decided. Otherwise all are asked at once and the answer, 200, holds one result per entry, in the same order: a decision, or the problem (409, 422, 500, 503, 504) that `POST /v1/decisions` would have answered for it. An empty `orders` gets an empty `decisions`.",
    params(params::AcceptLanguage),
    request_body(content = BatchBody, content_type = "application/json", example = examples::decide_orders_request),
    responses(
        (status = 200, description = "Every entry answered, in the order sent. Look at each result's `status`: the call succeeds even when some entries could not be decided.", content_type = "application/json", body = DecisionBatchResult, example = examples::decide_orders_200),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 413, description = "The body is over 4 MiB (type `/problems/too-large`), or `orders` holds more than 500 entries (type `/problems/too-many-items`, `errors` names `orders`). Split the batch.", content_type = "application/problem+json", body = Problem, example = examples::decide_orders_413),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, description = "Some entries break the rules. `errors` lists every bad field of every entry, by path; an entry that is neither an order nor a decision request (such as a `model_version` that is not an integer) is named as a whole (`orders[2]`). Nothing is decided.", content_type = "application/problem+json", body = Problem, example = examples::decide_orders_422),
        (status = 503, response = responses::DecisionUnavailable),
    )
)]
pub(crate) async fn decide_batch(
    auth: Authenticated,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<BatchBody>,
) -> Result<Json<DecisionBatchResult>, Problem> {
    if body.orders.len() > MAX_BATCH_ORDERS {
        return Err(Problem::too_many(
            "orders",
            body.orders.len(),
            MAX_BATCH_ORDERS,
        ));
    }
    let now = Utc::now();
    let mut errors = FieldErrors::default();
    if body.orders.is_empty() {
        errors.push(
            "orders",
            format!("must hold 1 to {MAX_BATCH_ORDERS} orders"),
        );
    }
    // The same order twice in one batch would race itself to be the first decision.
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, item) in body.orders.iter().enumerate() {
        let id = item
            .get("order")
            .unwrap_or(item)
            .get("id")
            .and_then(Value::as_str);
        if let Some(id) = id {
            if let Some(first) = seen.get(id) {
                errors.push(
                    format!("orders[{i}].order.id"),
                    format!("duplicates orders[{first}]"),
                );
            } else {
                seen.insert(id.to_owned(), i);
            }
        }
    }
    let orders: Vec<Value> = body
        .orders
        .iter()
        .map(|item| item.get("order").unwrap_or(item).clone())
        .collect();
    let mut checked = Vec::with_capacity(body.orders.len());
    for (i, item) in body.orders.into_iter().enumerate() {
        let prefix = format!("orders[{i}].");
        let item = if item.get("order").is_some() {
            item
        } else {
            json!({"order": item})
        };
        match crate::json::parse::<DecisionBody>(item.to_string().as_bytes()) {
            Ok(item) => checked.push(check(&item, &prefix, now, &mut errors)),
            Err(_) => errors.push(format!("orders[{i}]"), "must be an order or {order, customer?, credit_limit?, bureau_report?, model_version?}"),
        }
    }
    if !errors.is_empty() {
        audit_refused(&state, &auth, &Refused::per_entry(&orders, &errors)).await?;
        return Err(Problem::invalid(errors));
    }
    let language = language(&headers);
    let asked = checked
        .into_iter()
        .flatten()
        .map(|c| ask(&state, &auth, c, language));
    let decisions = futures::future::join_all(asked)
        .await
        .into_iter()
        .map(|answer| match answer {
            Ok(decision) => DecisionResult::Decided {
                status: 200,
                decision,
            },
            Err(problem) => DecisionResult::Refused {
                status: problem.status().as_u16(),
                problem,
            },
        })
        .collect();
    Ok(Json(DecisionBatchResult { decisions }))
}

/// A decision request the gateway refused itself, as its audit event tells it.
#[derive(Debug)]
struct Refused {
    order_id: String,
    customer_id: String,
    /// The bad fields' paths.
    fields: Vec<String>,
}

impl Refused {
    /// Whatever ids the order names, valid or not: the log says what was asked.
    fn of<'a>(order: &Value, fields: impl Iterator<Item = &'a str>) -> Self {
        let text = |key: &str| {
            order
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            order_id: text("id"),
            customer_id: text("customer_id"),
            fields: fields.map(str::to_owned).collect(),
        }
    }

    /// One per entry of a batch with a bad field (`orders[i]...`); an error naming the batch
    /// as a whole (`orders`) is about no entry.
    fn per_entry(orders: &[Value], errors: &FieldErrors) -> Vec<Self> {
        let mut by_entry: std::collections::BTreeMap<usize, Vec<&str>> = Default::default();
        for error in errors.iter() {
            let entry = error
                .field
                .strip_prefix("orders[")
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(index, _)| index.parse::<usize>().ok());
            if let Some(entry) = entry {
                by_entry.entry(entry).or_default().push(&error.field);
            }
        }
        by_entry
            .into_iter()
            .filter_map(|(i, fields)| {
                let order = orders.get(i)?;
                Some(Self::of(order, fields.into_iter()))
            })
            .collect()
    }
}

/// Audits requests refused before reaching the scorer (`decision.refused`, status `invalid`),
/// as the scorer audits those it refuses; awaited, so no refusal is answered unaudited.
async fn audit_refused(
    state: &AppState,
    auth: &Authenticated,
    refused: &[Refused],
) -> Result<(), Problem> {
    let now = Utc::now();
    let company = auth.company.id;
    let published = refused.iter().map(|refused| {
        let event = AuditEvent::new(company, AuditKind::DecisionRefused, auth.actor(), now)
            .with_detail("request_id", Uuid::new_v4().to_string())
            .with_detail("order_id", refused.order_id.clone())
            .with_detail("customer_id", refused.customer_id.clone())
            .with_detail("channel", "http")
            .with_detail("status", "invalid")
            .with_detail("reason", refused.fields.join(","));
        async move {
            state
                .publisher
                .publish_audit(&state.catalogue, &event)
                .await
        }
    });
    futures::future::try_join_all(published)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot publish decision.refused");
            Problem::unavailable("the audit log is unavailable; retry")
        })?;
    Ok(())
}

/// The API document's schemas of what `check` reads from JSON values (the upload rules, by
/// `aval_core::ingest::schema`), and of a batch's results.
mod schema {
    use super::{DecisionResult, MAX_BATCH_ORDERS, MAX_MODEL_VERSION};
    use aval_core::ingest::schema::{nullable_with, reference};
    use std::borrow::Cow;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{
        ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
    };
    use utoipa::{PartialSchema, ToSchema};

    pub(super) fn order() -> RefOr<Schema> {
        reference("Order")
    }

    pub(super) fn order_id() -> RefOr<Schema> {
        reference("Id")
    }

    pub(super) fn customer() -> Schema {
        nullable_with("Customer", Some("The customer, instead of the stored one."))
    }

    pub(super) fn credit_limit() -> Schema {
        nullable_with(
            "CreditLimit",
            Some("The customer's credit limit, instead of the stored ones."),
        )
    }

    pub(super) fn bureau_report() -> Schema {
        nullable_with(
            "BureauReport",
            Some("A bureau report on the customer, instead of the stored ones."),
        )
    }

    pub(super) fn model_version() -> Schema {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
            .minimum(Some(1))
            .maximum(Some(MAX_MODEL_VERSION))
            .description(Some(
                "Decide with this model version instead of the active one: a what-if, not \
                 recorded and never a repeat. Absent or null: the active version.",
            ))
            .into()
    }

    pub(super) fn orders() -> Schema {
        ArrayBuilder::new()
            .items(
                OneOfBuilder::new()
                    .item(reference("DecisionRequest"))
                    .item(reference("Order")),
            )
            .min_items(Some(1))
            .max_items(Some(MAX_BATCH_ORDERS))
            .description(Some(format!(
                "Up to {MAX_BATCH_ORDERS} entries, each a decision request or just the order (an \
                 object without an `order` field)."
            )))
            .into()
    }

    pub(super) fn results() -> Schema {
        ArrayBuilder::new()
            .items(reference("DecisionResult"))
            .max_items(Some(MAX_BATCH_ORDERS))
            .description(Some("One result per entry of `orders`, in the same order."))
            .into()
    }

    /// The statuses of an entry `ask` could not decide: the problems of `answer`, and 503 when
    /// the request could not be queued.
    const REFUSED: [u16; 5] = [409, 422, 500, 503, 504];

    impl PartialSchema for DecisionResult {
        fn schema() -> RefOr<Schema> {
            let status = |values: &[u16]| {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some(values.iter().copied()))
            };
            OneOfBuilder::new()
                .description(Some(
                    "One entry's answer: `status` 200 and its decision, or the status and \
                     problem `POST /v1/decisions` would have answered.",
                ))
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("status", status(&[200]))
                        .property("decision", reference("Decision"))
                        .required("status")
                        .required("decision"),
                )
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("status", status(&REFUSED))
                        .property("problem", reference("Problem"))
                        .required("status")
                        .required("problem"),
                )
                .into()
        }
    }

    impl ToSchema for DecisionResult {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("DecisionResult")
        }
    }
}
