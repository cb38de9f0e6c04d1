//! `POST /v1/decisions` and `/v1/decisions/batch`: validate, produce a decision request with a
//! fresh correlation id and this instance's id, and wait (with a deadline) for the scorer's
//! reply routed back to this instance.

use crate::auth::{Authenticated, publish_sealed};
use crate::json::JsonBody;
use crate::problem::{FirstDecision, Problem};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::ingest::{
    Cents, facts_about_the_order, validate_bureau_report, validate_credit_limit, validate_customer,
    validate_order, whole_number_in,
};
use aval_core::reasons::Language;
use aval_topics::TopicRole;
use aval_topics::records::{
    BureauReportWire, CreditLimitWire, CustomerWire, DecisionRecord, DecisionReplyRecord,
    DecisionRequestRecord, OrderWire, REPLY_INSTANCE_HEADER, ReplyStatusWire,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Instant;
use uuid::Uuid;

/// Largest batch of orders decided in one call.
pub(crate) const MAX_BATCH_ORDERS: usize = 500;

/// Model versions are numbered in an `INTEGER` column.
pub(crate) const MAX_MODEL_VERSION: u32 = i32::MAX as u32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    order: Value,
    customer: Option<Value>,
    credit_limit: Option<Value>,
    bureau_report: Option<Value>,
    /// Read as a whole number by the rules of the items (`2.0` is 2), not by serde.
    model_version: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    /// Each a decision body (`{order, customer?, ...}`) or just the order.
    orders: Vec<Value>,
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
fn view(decision: &DecisionRecord, gateway_us: i64) -> Value {
    let mut timings = decision.timings_us.clone();
    timings.insert("gateway".to_owned(), gateway_us);
    json!({
        "request_id": decision.request_id,
        "order_id": decision.order_id,
        "decision": decision.decision.as_str(),
        "probability": decision.probability,
        "threshold": decision.threshold,
        "model_version": decision.model_version,
        "reasons": decision.reasons.iter().map(|r| json!({
            "feature": r.feature, "value": r.value, "contribution": r.contribution, "sentence": r.sentence,
        })).collect::<Vec<_>>(),
        "max_approvable_amount": decision
            .max_approvable_amount_cents
            .map(|cents| Cents(cents).to_string()),
        "repeat": decision.repeat,
        "decided_at": DateTime::from_timestamp_millis(decision.decided_at),
        "timings_us": timings,
    })
}

/// The reply as a response body, or the problem it stands for.
fn answer(reply: DecisionReplyRecord, started: Instant) -> Result<Value, Problem> {
    let message = reply.message.clone().unwrap_or_default();
    match (reply.status, reply.decision) {
        (ReplyStatusWire::Decided, Some(decision)) => Ok(view(
            &decision,
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
) -> Result<Value, Problem> {
    let started = Instant::now();
    let replies_topic = &state.catalogue.topic(TopicRole::DecisionReplies).name;
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
        &request,
        &[(REPLY_INSTANCE_HEADER, state.replies.instance().as_bytes())],
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
pub(crate) async fn decide(
    auth: Authenticated,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Json<Value>, Problem> {
    let mut errors = FieldErrors::default();
    let checked = check(&body, "", Utc::now(), &mut errors);
    let checked = match checked {
        Some(checked) if errors.is_empty() => checked,
        _ => return Err(Problem::invalid(errors)),
    };
    ask(&state, &auth, checked, language(&headers))
        .await
        .map(Json)
}

/// `POST /v1/decisions/batch`: every order checked first (422 lists all bad fields), then all
/// asked at once; each answer is a decision or the problem for that order.
pub(crate) async fn decide_batch(
    auth: Authenticated,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<BatchBody>,
) -> Result<Json<Value>, Problem> {
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
        return Err(Problem::invalid(errors));
    }
    let language = language(&headers);
    let asked = checked
        .into_iter()
        .flatten()
        .map(|c| ask(&state, &auth, c, language));
    let answers: Vec<Value> = futures::future::join_all(asked)
        .await
        .into_iter()
        .map(|answer| match answer {
            Ok(decision) => json!({"status": 200, "decision": decision}),
            Err(problem) => json!({"status": problem.status().as_u16(), "problem": problem}),
        })
        .collect();
    Ok(Json(json!({"decisions": answers})))
}
