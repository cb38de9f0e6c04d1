//! A decision request's items checked by the same validators as an upload, so a request
//! produced straight to Kafka passes exactly the rules an HTTP one does.

use aval_core::FieldErrors;
use aval_core::features::CustomerFacts;
use aval_core::ingest::items::Order;
use aval_core::ingest::{
    validate_bureau_report, validate_credit_limit, validate_customer, validate_order,
};
use aval_topics::records::DecisionRequestRecord;
use chrono::{DateTime, Utc};

/// The item, or its errors added to `errors`.
fn keep<T>(errors: &mut FieldErrors, result: Result<T, FieldErrors>) -> Option<T> {
    match result {
        Ok(item) => Some(item),
        Err(e) => {
            for error in e.iter() {
                errors.push(error.field.clone(), error.reason.clone());
            }
            None
        }
    }
}

/// Every item of the request checked by the same validators as an upload, with its path, and
/// each fact must be about the order's customer (assembly would silently ignore it otherwise).
pub(super) fn validate(
    request: &DecisionRequestRecord,
    now: DateTime<Utc>,
) -> Result<(Order, CustomerFacts), FieldErrors> {
    let mut errors = FieldErrors::default();
    let order = keep(
        &mut errors,
        validate_order(&request.order.to_json(), "order", now),
    );
    let customer = request.customer.as_ref().and_then(|c| {
        keep(
            &mut errors,
            validate_customer(&c.to_json(), "customer", now),
        )
    });
    let limit = request.credit_limit.as_ref().and_then(|l| {
        keep(
            &mut errors,
            validate_credit_limit(&l.to_json(), "credit_limit", now),
        )
    });
    let report = request.bureau_report.as_ref().and_then(|r| {
        keep(
            &mut errors,
            validate_bureau_report(&r.to_json(), "bureau_report", now),
        )
    });
    let customer_id = &request.order.customer_id;
    let mut foreign = |path: &str, id: &str| {
        if id != customer_id {
            errors.push(path, "must be the order's customer_id");
        }
    };
    if let Some(c) = &request.customer {
        foreign("customer.id", &c.id);
    }
    if let Some(l) = &request.credit_limit {
        foreign("credit_limit.customer_id", &l.customer_id);
    }
    if let Some(r) = &request.bureau_report {
        foreign("bureau_report.customer_id", &r.customer_id);
    }
    match order {
        Some(order) if errors.is_empty() => Ok((
            order,
            CustomerFacts {
                customer,
                credit_limits: limit.into_iter().collect(),
                bureau_reports: report.into_iter().collect(),
                orders: Vec::new(),
            },
        )),
        _ => Err(errors),
    }
}
