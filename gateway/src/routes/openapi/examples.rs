//! The document's examples, one JSON file each beside this module: what a client copies
//! first, so the tests run each through the code's own validation or serde shapes.

use serde_json::Value;

/// A file of `examples/`; the tests parse every one, so a broken file fails there first.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("an example is not JSON: {e}"))
}

pub(crate) fn activate_model_200() -> Value {
    parse(include_str!("examples/activate_model_200.json"))
}

pub(crate) fn list_audit_events_200() -> Value {
    parse(include_str!("examples/list_audit_events_200.json"))
}

pub(crate) fn verify_audit_log_200() -> Value {
    parse(include_str!("examples/verify_audit_log_200.json"))
}

pub(crate) fn compare_models_200() -> Value {
    parse(include_str!("examples/compare_models_200.json"))
}

pub(crate) fn compare_models_409() -> Value {
    parse(include_str!("examples/compare_models_409.json"))
}

pub(crate) fn compare_models_422() -> Value {
    parse(include_str!("examples/compare_models_422.json"))
}

pub(crate) fn complete_dataset_request() -> Value {
    parse(include_str!("examples/complete_dataset_request.json"))
}

pub(crate) fn decide_order_200() -> Value {
    parse(include_str!("examples/decide_order_200.json"))
}

pub(crate) fn override_report_200() -> Value {
    parse(include_str!("examples/override_report_200.json"))
}

pub(crate) fn review_request() -> Value {
    parse(include_str!("examples/review_request.json"))
}

pub(crate) fn review_201() -> Value {
    parse(include_str!("examples/review_201.json"))
}

pub(crate) fn list_reviews_200() -> Value {
    parse(include_str!("examples/list_reviews_200.json"))
}

pub(crate) fn policy_200() -> Value {
    parse(include_str!("examples/policy_200.json"))
}

pub(crate) fn policy_request() -> Value {
    parse(include_str!("examples/policy_request.json"))
}

pub(crate) fn replay_request() -> Value {
    parse(include_str!("examples/replay_request.json"))
}

pub(crate) fn replay_200() -> Value {
    parse(include_str!("examples/replay_200.json"))
}

pub(crate) fn drift_200() -> Value {
    parse(include_str!("examples/drift_200.json"))
}

pub(crate) fn live_performance_200() -> Value {
    parse(include_str!("examples/live_performance_200.json"))
}

pub(crate) fn decision_activity_200() -> Value {
    parse(include_str!("examples/decision_activity_200.json"))
}

pub(crate) fn list_decisions_200() -> Value {
    parse(include_str!("examples/list_decisions_200.json"))
}

pub(crate) fn get_decision_200() -> Value {
    parse(include_str!("examples/get_decision_200.json"))
}

/// Not JSON: the body is the file itself.
pub(crate) fn export_decisions_csv() -> Value {
    Value::String(include_str!("examples/export_decisions.csv").to_owned())
}

/// JSON lines: the body is the file itself.
pub(crate) fn export_decisions_jsonl() -> Value {
    Value::String(include_str!("examples/export_decisions.jsonl").to_owned())
}

pub(crate) fn decide_order_422() -> Value {
    parse(include_str!("examples/decide_order_422.json"))
}

pub(crate) fn decide_order_request() -> Value {
    parse(include_str!("examples/decide_order_request.json"))
}

pub(crate) fn decide_orders_200() -> Value {
    parse(include_str!("examples/decide_orders_200.json"))
}

pub(crate) fn decide_orders_413() -> Value {
    parse(include_str!("examples/decide_orders_413.json"))
}

pub(crate) fn decide_orders_422() -> Value {
    parse(include_str!("examples/decide_orders_422.json"))
}

pub(crate) fn decide_orders_request() -> Value {
    parse(include_str!("examples/decide_orders_request.json"))
}

pub(crate) fn get_model_200() -> Value {
    parse(include_str!("examples/get_model_200.json"))
}

pub(crate) fn list_models_200() -> Value {
    parse(include_str!("examples/list_models_200.json"))
}

pub(crate) fn readyz_200() -> Value {
    parse(include_str!("examples/readyz_200.json"))
}

pub(crate) fn readyz_503() -> Value {
    parse(include_str!("examples/readyz_503.json"))
}

pub(crate) fn register_company_request() -> Value {
    parse(include_str!("examples/register_company_request.json"))
}

pub(crate) fn retrain_model_202() -> Value {
    parse(include_str!("examples/retrain_model_202.json"))
}

pub(crate) fn retrain_model_409() -> Value {
    parse(include_str!("examples/retrain_model_409.json"))
}

pub(crate) fn retrain_model_422() -> Value {
    parse(include_str!("examples/retrain_model_422.json"))
}

pub(crate) fn retrain_model_request() -> Value {
    parse(include_str!("examples/retrain_model_request.json"))
}

pub(crate) fn upload_bureau_reports_request() -> Value {
    parse(include_str!("examples/upload_bureau_reports_request.json"))
}

pub(crate) fn upload_credit_limits_request() -> Value {
    parse(include_str!("examples/upload_credit_limits_request.json"))
}

pub(crate) fn upload_customers_request() -> Value {
    parse(include_str!("examples/upload_customers_request.json"))
}

pub(crate) fn upload_orders_request() -> Value {
    parse(include_str!("examples/upload_orders_request.json"))
}

pub(crate) fn list_datasets_200() -> Value {
    parse(include_str!("examples/list_datasets_200.json"))
}

pub(crate) fn list_training_runs_200() -> Value {
    parse(include_str!("examples/list_training_runs_200.json"))
}

pub(crate) fn list_page_422() -> Value {
    parse(include_str!("examples/list_page_422.json"))
}

pub(crate) fn report_outcomes_request() -> Value {
    parse(include_str!("examples/report_outcomes_request.json"))
}

pub(crate) fn report_outcomes_200() -> Value {
    parse(include_str!("examples/report_outcomes_200.json"))
}

pub(crate) fn report_outcomes_422() -> Value {
    parse(include_str!("examples/report_outcomes_422.json"))
}

pub(crate) fn list_outcomes_200() -> Value {
    parse(include_str!("examples/list_outcomes_200.json"))
}

pub(crate) fn outcome_definition_200() -> Value {
    parse(include_str!("examples/outcome_definition_200.json"))
}
