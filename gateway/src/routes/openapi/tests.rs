//! The generated document against the code: every call of the router documented once, refs
//! resolve, security on all but the public calls, examples that pass the real validation,
//! schemas that match the serde shapes, and limits and patterns that are the code's.

use super::{api, document, document_text};
use crate::routes::audit::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::routes::datasets::MAX_IDEMPOTENCY_KEY_CHARS;
use crate::routes::decisions::{BatchBody, DecisionBody, MAX_BATCH_ORDERS};
use crate::routes::models::{COMPARED_VERSIONS, RetrainBody};
use aval_core::FieldErrors;
use aval_core::company::{MAX_EMAIL_CHARS, MAX_NAME_CHARS, RegistrationRequest};
use aval_core::ingest::{
    ItemKind, MAX_ATTRIBUTE_NAME_CHARS, MAX_ATTRIBUTE_TEXT_CHARS, MAX_ATTRIBUTES, MAX_BATCH_ITEMS,
    MAX_FORMATTED_CHARS, MAX_ID_CHARS, MAX_MONEY_CENTS, MAX_PAYMENT_TERM_DAYS, MAX_SCORE, UFS,
    parse_money, validate_batch, validate_counts, validate_credit_limit, validate_customer,
    validate_order,
};
use aval_core::model::{
    CandidateScore, Comparison, Evaluation, Learner, MIN_COMPARED_PER_OUTCOME, ModelMetrics,
    ScoreBin, Split,
};
use aval_core::text;
use aval_topics::records::{DecisionOutcomeWire, DecisionRecord, ReasonWire};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The calls that need no token.
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/v1/companies"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document as served.
fn doc() -> Value {
    serde_json::from_str(document_text()).expect("the document is valid JSON")
}

fn at<'v>(doc: &'v Value, pointer: &str) -> &'v Value {
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("{pointer} is missing from openapi.json"))
}

/// Every (method, path) the router serves, read back from its registrations: `crate::routes`
/// registers each handler at the path and methods of its `#[utoipa::path]`, and every route of
/// lib.rs is registered so (`no_route_bypasses_the_document`). `/v1/datasets/{id}/{kind}`
/// stands for one path per item kind.
fn expected_operations() -> BTreeSet<(String, String)> {
    let registered = serde_json::to_value(crate::routes(None).into_openapi())
        .expect("the registrations serialise");
    documented_operations(&registered)
        .into_iter()
        .flat_map(|(method, path)| {
            let paths: Vec<String> = if path.contains("{kind}") {
                ItemKind::ALL
                    .iter()
                    .map(|k| path.replace("{kind}", k.path_segment()))
                    .collect()
            } else {
                vec![path.clone()]
            };
            paths.into_iter().map(move |p| (method.clone(), p))
        })
        .collect()
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = at(doc, "/paths").as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            METHODS
                .iter()
                .filter(|m| item.contains_key(**m))
                .map(move |m| ((*m).to_owned(), path.clone()))
        })
        .collect()
}

/// The operation object of `method path` (path with `~1` for `/`, as JSON pointers want).
fn operation<'v>(doc: &'v Value, method: &str, path: &str) -> &'v Value {
    at(doc, &format!("/paths/{}/{method}", path.replace('/', "~1")))
}

#[test]
fn it_is_openapi_3_1() {
    let doc = doc();
    let version = at(&doc, "/openapi").as_str().expect("openapi is a string");
    assert!(version.starts_with("3.1"), "openapi is {version}");
    assert!(at(&doc, "/info/title").is_string());
    assert!(at(&doc, "/info/version").is_string());
}

/// The router's routes are all registered with `routes!` (which documents them); a bare
/// `.route(...)` in lib.rs would serve a call the document does not name. The console's page
/// and files (console.rs) are not calls of the API.
#[test]
fn no_route_bypasses_the_document() {
    let lib = include_str!("../../lib.rs");
    assert!(
        !lib.contains(".route("),
        "gateway/src/lib.rs registers a route without routes!(): document it with #[utoipa::path]"
    );
    assert!(lib.contains("routes!(routes::datasets::upload)"));
    assert_eq!(super::UPLOAD_ROUTE, "/v1/datasets/{id}/{kind}");
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let expected = expected_operations();
    let documented = documented_operations(&doc());
    let missing: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty(),
        "routes of gateway/src/lib.rs missing from openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json documents calls the router does not serve: {extra:?}"
    );
    assert_eq!(
        expected.len(),
        51,
        "46 routes, the upload one serving 4 kinds"
    );
}

#[test]
fn every_ref_points_at_something() {
    fn walk(node: &Value, doc: &Value, refs: &mut usize, broken: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(target) = map.get("$ref") {
                    *refs += 1;
                    let target = target.as_str().unwrap_or_default();
                    let resolves = target
                        .strip_prefix('#')
                        .is_some_and(|pointer| doc.pointer(pointer).is_some());
                    if !target.starts_with("#/components/") || !resolves {
                        broken.push(target.to_owned());
                    }
                }
                for value in map.values() {
                    walk(value, doc, refs, broken);
                }
            }
            Value::Array(values) => {
                for value in values {
                    walk(value, doc, refs, broken);
                }
            }
            _ => {}
        }
    }
    let doc = doc();
    let (mut refs, mut broken) = (0, Vec::new());
    walk(&doc, &doc, &mut refs, &mut broken);
    assert!(refs > 50, "only {refs} $refs: is the walk broken?");
    assert!(broken.is_empty(), "$refs to no component: {broken:?}");
}

#[test]
fn security_applies_to_all_but_the_public_calls() {
    let doc = doc();
    assert_eq!(at(&doc, "/security"), &json!([{"bearerAuth": []}]));
    assert_eq!(
        at(&doc, "/components/securitySchemes/bearerAuth/scheme"),
        "bearer"
    );
    for (method, path) in expected_operations() {
        let op = operation(&doc, &method, &path);
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        if public {
            assert_eq!(op.get("security"), Some(&json!([])), "{method} {path}");
        } else {
            assert_eq!(
                op.get("security"),
                None,
                "{method} {path} overrides security"
            );
            assert!(
                op.pointer("/responses/401").is_some(),
                "{method} {path} needs a token but documents no 401"
            );
        }
    }
}

#[test]
fn operation_ids_are_unique() {
    let doc = doc();
    let mut seen = BTreeSet::new();
    for (method, path) in expected_operations() {
        let id = operation(&doc, &method, &path)["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_owned();
        assert!(seen.insert(id.clone()), "operationId {id} is used twice");
    }
}

/// A decision request body as `routes::decisions` checks it: its shape, then the handler's
/// own checks under `prefix`.
fn decision_errors(body: &Value, prefix: &str, now: DateTime<Utc>) -> FieldErrors {
    let mut errors = FieldErrors::default();
    match crate::json::parse::<DecisionBody>(body.to_string().as_bytes()) {
        Err(problem) => errors.push(prefix, format!("not a decision request: {problem:?}")),
        Ok(body) => {
            crate::routes::decisions::check(&body, prefix, now, &mut errors);
        }
    }
    errors
}

/// The request examples are what a client copies first: each must pass the real rules.
#[test]
fn request_examples_pass_the_real_validation() {
    let doc = doc();
    let example = |path: &str| {
        operation(&doc, "post", path)
            .pointer("/requestBody/content/application~1json/example")
            .unwrap_or_else(|| panic!("POST {path} has no request example"))
            .clone()
    };
    for kind in ItemKind::ALL {
        let path = format!("/v1/datasets/{{id}}/{}", kind.path_segment());
        let body = example(&path);
        let items = body["items"].as_array().expect("items is an array");
        if let Err(errors) = validate_batch(kind, items, chrono::Utc::now()) {
            panic!("the example of POST {path} is refused: {errors}");
        }
    }
    let completion = example("/v1/datasets/{id}/complete");
    if let Err(errors) = validate_counts(&completion["counts"]) {
        panic!("the completion example is refused: {errors}");
    }
    let registration: RegistrationRequest =
        serde_json::from_value(example("/v1/companies")).expect("registration shape");
    if let Err(errors) = registration.validate() {
        panic!("the registration example is refused: {errors}");
    }
    let retrain = example("/v1/models/retrain").to_string();
    if let Err(problem) = crate::json::parse::<RetrainBody>(retrain.as_bytes()) {
        panic!("the retrain example is refused: {problem:?}");
    }

    let now = chrono::Utc::now();
    let decision = example("/v1/decisions");
    let errors = decision_errors(&decision, "", now);
    assert!(
        errors.is_empty(),
        "the decision example is refused: {errors}"
    );
    for part in ["customer", "credit_limit", "bureau_report"] {
        assert!(
            decision[part].is_object(),
            "the decision example shows {part}"
        );
    }

    let batch = example("/v1/decisions/batch");
    if let Err(problem) = crate::json::parse::<BatchBody>(batch.to_string().as_bytes()) {
        panic!("the batch decision example is refused: {problem:?}");
    }
    let orders = batch["orders"].as_array().expect("orders is an array");
    assert!(orders.len() <= MAX_BATCH_ORDERS);
    let mut forms = BTreeSet::new();
    for (i, entry) in orders.iter().enumerate() {
        // As the handler reads an entry: a decision request if it has `order`, else the order.
        let body = if entry.get("order").is_some() {
            forms.insert("request");
            entry.clone()
        } else {
            forms.insert("order");
            json!({ "order": entry })
        };
        let errors = decision_errors(&body, &format!("orders[{i}]."), now);
        assert!(
            errors.is_empty(),
            "the batch decision example is refused: {errors}"
        );
    }
    assert_eq!(
        forms,
        BTreeSet::from(["order", "request"]),
        "the batch example shows both forms of an entry"
    );
}

/// The decision schemas name exactly the fields the gateway writes (`routes::decisions`
/// shows a `DecisionRecord` without `company_id`, its amount in BRL, plus nothing else),
/// and the examples are decisions the scorer could make.
#[test]
fn decision_schemas_match_the_code() {
    let doc = doc();
    let schema = |name: &str| at(&doc, &format!("/components/schemas/{name}")).clone();
    let keys = |value: &Value| -> BTreeSet<String> {
        value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };
    let required = |value: &Value| -> BTreeSet<String> {
        value["required"]
            .as_array()
            .expect("required is an array")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let record = DecisionRecord {
        request_id: "r".into(),
        company_id: "c".into(),
        order_id: "O1".into(),
        decision: DecisionOutcomeWire::Approved,
        probability: 0.1,
        threshold: 0.5,
        model_version: 1,
        reasons: Vec::new(),
        max_approvable_amount_cents: None,
        repeat: false,
        decided_at: 0,
        timings_us: Default::default(),
        policy: None,
        arm: None,
    };
    let shown: BTreeSet<String> = keys(&json!(record))
        .into_iter()
        .filter(|k| k != "company_id")
        .map(|k| k.strip_suffix("_cents").map_or(k.clone(), str::to_owned))
        .collect();
    let decision = schema("Decision");
    assert_eq!(keys(&decision["properties"]), shown, "Decision properties");
    assert_eq!(
        required(&decision),
        shown,
        "Decision: every field is written"
    );
    assert_eq!(
        decision["properties"]["decision"]["enum"],
        json!([
            DecisionOutcomeWire::Approved,
            DecisionOutcomeWire::Rejected,
            DecisionOutcomeWire::Review
        ])
    );
    let reason = json!(ReasonWire {
        feature: "f".into(),
        value: None,
        contribution: 0.0,
        sentence: "s".into(),
    });
    let reason_schema = schema("Reason");
    assert_eq!(keys(&reason_schema["properties"]), keys(&reason), "Reason");
    assert_eq!(required(&reason_schema), keys(&reason), "Reason required");

    let ok = |method: &str, path: &str| {
        operation(&doc, method, path)
            .pointer("/responses/200/content/application~1json/example")
            .unwrap_or_else(|| panic!("{method} {path} has no 200 example"))
            .clone()
    };
    let single = ok("post", "/v1/decisions");
    let batch = ok("post", "/v1/decisions/batch");
    let results = batch["decisions"].as_array().expect("decisions");
    let mut decisions = vec![single];
    for result in results {
        let status = result["status"].as_u64().expect("a status");
        if status == 200 {
            assert_eq!(
                keys(result),
                BTreeSet::from(["status".into(), "decision".into()])
            );
            decisions.push(result["decision"].clone());
        } else {
            assert_eq!(
                keys(result),
                BTreeSet::from(["status".into(), "problem".into()])
            );
            assert_eq!(result["problem"]["status"], json!(status));
        }
    }
    for decision in decisions {
        assert_eq!(keys(&decision), shown, "a decision example: {decision}");
        let p = decision["probability"].as_f64().expect("probability");
        let t = decision["threshold"].as_f64().expect("threshold");
        // `Model::blocks`: rejected at or above the threshold.
        let rejected = p >= t;
        assert_eq!(
            decision["decision"],
            if rejected { "rejected" } else { "approved" }
        );
        if !rejected {
            assert!(decision["max_approvable_amount"].is_null());
        }
        for reason in decision["reasons"].as_array().expect("reasons") {
            assert_eq!(keys(reason), keys(&reason_schema["properties"]));
        }
        assert!(
            decision["timings_us"].get("gateway").is_some(),
            "the gateway adds its own timing"
        );
    }
}

/// `value` read as a `T` and written back is `value` again: no field missing, none extra.
fn round_trips<T: DeserializeOwned + Serialize>(value: &Value, what: &str) -> T {
    let parsed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{what} is not the shape of the code: {e}"));
    assert_eq!(
        &serde_json::to_value(&parsed).expect("serialises"),
        value,
        "{what} has fields the code does not write"
    );
    parsed
}

fn evaluation_adds_up(evaluation: &Evaluation, what: &str) {
    assert_eq!(
        evaluation.confusion.total(),
        evaluation.examples as u64,
        "{what}: the confusion matrix covers the examples"
    );
}

/// The examples of a shed request and of a changed repeat have the members the code
/// writes, with the type and title it gives them.
#[test]
fn shed_and_conflict_examples_are_what_the_code_writes() {
    use crate::problem::{FirstDecision, Problem};
    let doc = doc();
    let example = |response: &str, pointer: &str| {
        doc.pointer(&format!(
            "/components/responses/{response}/content/application~1problem+json{pointer}"
        ))
        .unwrap_or_else(|| panic!("{response} has no {pointer}"))
        .clone()
    };
    let written = [
        (
            example("DecisionUnavailable", "/examples/overloaded/value"),
            Problem::overloaded("decisions_per_company", "shed", 1),
        ),
        (
            example("TooManyBatches", "/example"),
            Problem::too_many_requests("uploads_per_company", "shed", 1),
        ),
        (
            example("DecisionConflict", "/examples/changed_repeat/value"),
            Problem::order_conflict(
                "changed",
                FirstDecision {
                    request_id: "r".into(),
                    order_id: "O2".into(),
                    decision: "approved",
                    decided_at: DateTime::from_timestamp_millis(0),
                },
            ),
        ),
    ];
    for (documented, problem) in written {
        let code = serde_json::to_value(&problem).expect("a problem serializes");
        let keys = |v: &Value| -> BTreeSet<String> {
            v.as_object().expect("an object").keys().cloned().collect()
        };
        assert_eq!(keys(&documented), keys(&code), "{documented}");
        for member in ["type", "title", "status", "limit"] {
            assert_eq!(documented.get(member), code.get(member), "{member}");
        }
        if let Some(first) = code.get("first_decision") {
            assert_eq!(keys(&documented["first_decision"]), keys(first));
        }
    }
}

/// The model examples are the serde shapes of the core types, and agree with each other.
#[test]
fn model_examples_are_what_the_code_writes() {
    let doc = doc();
    let response = |method: &str, path: &str, status: &str| {
        operation(&doc, method, path)
            .pointer(&format!(
                "/responses/{status}/content/application~1json/example"
            ))
            .unwrap_or_else(|| panic!("{method} {path} has no {status} example"))
            .clone()
    };
    let detail = response("get", "/v1/models/{version}", "200");
    let metrics: ModelMetrics = round_trips(&detail["metrics"], "the model's metrics");
    evaluation_adds_up(&metrics.holdout, "the model's holdout");
    assert_eq!(metrics.holdout.examples, metrics.holdout_examples);
    assert_eq!(detail["threshold"], json!(metrics.threshold));
    assert_eq!(detail["learner"], json!(metrics.chosen));
    let shares: f64 = metrics.feature_importance.iter().map(|(_, v)| v).sum();
    assert!(
        (shares - 1.0).abs() < 1e-9,
        "feature shares sum to {shares}"
    );
    let curves = metrics.holdout_curves.expect("the example has curves");
    let c = metrics.holdout.confusion;
    let binned = |f: fn(&ScoreBin) -> u64| curves.score_distribution.iter().map(f).sum::<u64>();
    assert_eq!(
        binned(|b| b.approved),
        c.approved_predicted_approved + c.approved_predicted_blocked
    );
    assert_eq!(
        binned(|b| b.blocked),
        c.blocked_predicted_approved + c.blocked_predicted_blocked
    );
    let calibrated: u64 = curves.calibration.iter().map(|b| b.examples).sum();
    assert_eq!(calibrated, metrics.holdout.examples as u64);
    assert_eq!(curves.roc.first(), Some(&[0.0, 0.0]));
    assert_eq!(curves.roc.last(), Some(&[1.0, 1.0]));

    let list = response("get", "/v1/models", "200");
    let models = list["models"].as_array().expect("models");
    let summary = models
        .iter()
        .find(|m| m["version"] == detail["version"])
        .expect("the detailed version is listed");
    for key in ["accuracy", "roc_auc", "ks", "examples"] {
        assert_eq!(
            summary["holdout"][key], detail["metrics"]["holdout"][key],
            "{key}"
        );
    }
    let active: Vec<&Value> = models.iter().filter(|m| m["active"] == true).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["version"], list["active_version"]);

    let comparison: Comparison = round_trips(
        &response("get", "/v1/models/compare", "200"),
        "the comparison",
    );
    assert_eq!(
        comparison.approved + comparison.blocked,
        comparison.examples
    );
    for entry in &comparison.versions {
        evaluation_adds_up(&entry.evaluation, "a compared evaluation");
        assert_eq!(entry.evaluation.examples, comparison.examples);
        assert_eq!(
            entry.evaluation.confusion.blocked_predicted_approved
                + entry.evaluation.confusion.blocked_predicted_blocked,
            comparison.blocked as u64
        );
        assert!(entry.trained_on <= comparison.excluded);
    }
}

/// The model schemas name exactly the fields and values the core types write.
#[test]
fn model_schemas_match_the_code() {
    let doc = doc();
    let schema = |name: &str| at(&doc, &format!("/components/schemas/{name}")).clone();
    let learners: Vec<Value> = Learner::ALL.iter().map(|l| json!(l)).collect();
    assert_eq!(schema("Learner")["enum"], json!(learners));
    assert_eq!(
        schema("Split")["enum"],
        json!([Split::TimeOrdered, Split::StratifiedRandom])
    );
    let keys = |value: &Value| -> BTreeSet<String> {
        value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };
    let names = |value: &Value| -> BTreeSet<String> {
        value
            .as_array()
            .expect("an array")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let metrics = operation(&doc, "get", "/v1/models/{version}")
        .pointer("/responses/200/content/application~1json/example/metrics")
        .expect("a model example")
        .clone();
    let metrics: ModelMetrics = round_trips(&metrics, "the model's metrics");
    let failed = CandidateScore {
        failure: Some("random forest could not be fitted".to_owned()),
        ..metrics.candidates[0].clone()
    };
    let comparison = operation(&doc, "get", "/v1/models/compare")
        .pointer("/responses/200/content/application~1json/example")
        .expect("a comparison example")
        .clone();
    let comparison: Comparison = round_trips(&comparison, "the comparison");
    let written = [
        ("ModelComparison", json!(comparison)),
        ("ComparedVersion", json!(comparison.versions[0])),
        ("ModelMetrics", json!(metrics)),
        ("Evaluation", json!(metrics.holdout)),
        ("Confusion", json!(metrics.holdout.confusion)),
        ("CandidateScore", json!(failed)),
        ("HoldoutCurves", json!(metrics.holdout_curves)),
        (
            "ScoreBin",
            json!(
                metrics
                    .holdout_curves
                    .as_ref()
                    .map(|c| c.score_distribution[0])
            ),
        ),
        (
            "CalibrationBin",
            json!(metrics.holdout_curves.as_ref().map(|c| c.calibration[0])),
        ),
    ];
    for (name, value) in written {
        let schema = schema(name);
        assert_eq!(
            keys(&schema["properties"]),
            keys(&value),
            "{name} properties"
        );
        let optional: BTreeSet<String> = keys(&value)
            .difference(&names(&schema["required"]))
            .cloned()
            .collect();
        let expected: BTreeSet<String> = match name {
            "CandidateScore" => BTreeSet::from(["failure".to_owned()]),
            // Not recorded for versions trained before the curves were.
            "ModelMetrics" => BTreeSet::from(["holdout_curves".to_owned()]),
            _ => BTreeSet::new(),
        };
        assert_eq!(
            optional, expected,
            "{name}: fields always written are required"
        );
    }
}

/// The limits the document states are the ones the code enforces.
#[test]
fn limits_match_the_code() {
    let doc = doc();
    let schema =
        |name: &str, rest: &str| at(&doc, &format!("/components/schemas/{name}{rest}")).clone();
    for batch in [
        "CustomerBatch",
        "OrderBatch",
        "CreditLimitBatch",
        "BureauReportBatch",
    ] {
        assert_eq!(
            schema(batch, "/properties/items/maxItems"),
            json!(MAX_BATCH_ITEMS),
            "{batch}"
        );
    }
    assert_eq!(
        schema("DecisionBatch", "/properties/orders/maxItems"),
        json!(MAX_BATCH_ORDERS)
    );
    assert_eq!(
        schema("DecisionBatchResult", "/properties/decisions/maxItems"),
        json!(MAX_BATCH_ORDERS)
    );
    // A literal of the derive (`#[schema(max_items = ...)]` takes no expression).
    assert_eq!(
        schema("Decision", "/properties/reasons/maxItems"),
        json!(aval_core::decision::TOP_REASONS)
    );
    assert_eq!(schema("Id", "/maxLength"), json!(MAX_ID_CHARS));
    assert_eq!(
        schema("BureauReport", "/properties/score/maximum"),
        json!(MAX_SCORE)
    );
    assert_eq!(
        schema("Order", "/properties/payment_term_days/maximum"),
        json!(MAX_PAYMENT_TERM_DAYS)
    );
    assert_eq!(
        schema("Attributes", "/maxProperties"),
        json!(MAX_ATTRIBUTES)
    );
    assert_eq!(
        schema("Attributes", "/propertyNames/pattern"),
        json!(format!("^[a-z0-9_]{{1,{MAX_ATTRIBUTE_NAME_CHARS}}}$"))
    );
    assert_eq!(
        schema("AttributeValue", "/oneOf/1/maxLength"),
        json!(MAX_ATTRIBUTE_TEXT_CHARS)
    );
    assert_eq!(
        schema("Money", "/oneOf/0/maximum"),
        json!(MAX_MONEY_CENTS / 100)
    );
    assert_eq!(
        schema("RegistrationRequest", "/properties/name/maxLength"),
        json!(MAX_NAME_CHARS)
    );
    let description = at(&doc, "/info/description").as_str().unwrap_or_default();
    assert!(
        description.contains(&crate::BODY_LIMIT_BYTES.to_string()),
        "info.description should state the body limit of {} bytes",
        crate::BODY_LIMIT_BYTES
    );
}

/// The parameter `name` of an operation.
fn parameter<'v>(operation: &'v Value, name: &str) -> &'v Value {
    operation["parameters"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name}"))
}

/// A pattern of the document as a JSON Schema validator applies it: found anywhere in the
/// string unless the pattern anchors itself.
fn pattern(doc: &Value, pointer: &str) -> regex_lite::Regex {
    let text = at(doc, pointer).as_str().expect("a pattern is a string");
    regex_lite::Regex::new(text).unwrap_or_else(|e| panic!("{pointer} does not compile: {e}"))
}

/// `^(?:[Aa][Cc]|...)$`: the state codes in any case (ECMA-262 has no inline `(?i)`).
fn state_pattern() -> String {
    let any_case = |code: &str| -> String {
        code.chars()
            .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
            .collect()
    };
    let codes: Vec<String> = UFS.iter().map(|code| any_case(code)).collect();
    format!("^(?:{})$", codes.join("|"))
}

/// What JSON Schema can say, the document says, and exactly what the validators take:
/// the same strings pass the pattern and the code. A fuzzer generating from the document
/// (scripts/fuzz) then finds no valid request refused and no invalid one taken.
#[test]
fn patterns_take_what_the_validators_take() {
    let doc = doc();
    let now = Utc::now();
    let money = pattern(&doc, "/components/schemas/Money/oneOf/1/pattern");
    for text in [
        "0",
        "00",
        "-0",
        "-0.00",
        "-0.01",
        "-1",
        "1",
        "1.5",
        "1.50",
        "1.500",
        "1.505",
        "1.",
        ".5",
        "+1",
        "1e3",
        "1,5",
        " 1",
        "1 ",
        "",
        "007.5",
        "9999999999999.99",
        "10000000000000",
        "10000000000000.00",
        "10000000000000.000",
        "10000000000000.01",
        "010000000000000",
        "99999999999999",
        "0009999999999999",
        "１２",
    ] {
        assert_eq!(
            money.is_match(text),
            parse_money(&json!(text)).is_ok(),
            "Money {text:?}"
        );
    }
    let money_number = at(&doc, "/components/schemas/Money/oneOf/0");
    assert_eq!(
        money_number["multipleOf"],
        json!(0.01),
        "two decimals at most"
    );
    assert_eq!(money_number["minimum"], json!(0));

    let state = pattern(
        &doc,
        "/components/schemas/Customer/properties/state/pattern",
    );
    assert_eq!(state.as_str(), state_pattern());
    let customer = |field: &str, value: &str| {
        let mut item = json!({"id": "C1"});
        item[field] = json!(value);
        validate_customer(&item, "", now)
    };
    for text in ["SP", "sp", "Df", "XX", "S", "SPX", "São Paulo", ""] {
        assert_eq!(
            state.is_match(text),
            customer("state", text).is_ok(),
            "{text:?}"
        );
    }

    // Check digits are beyond a pattern: it takes every shape the code takes, and what it
    // takes beyond that fails on the digits alone.
    let document = pattern(
        &doc,
        "/components/schemas/Customer/properties/document/pattern",
    );
    for text in [
        "11222333000181",
        "11.222.333/0001-81",
        "529.982.247-25",
        "52998224725",
        "-11222333000181-",
        "11222333000182",
        "00000000000",
        "1122233300018",
        "112223330001811",
        "",
        "...",
        "11 222 333 0001 81",
        "5299822472a",
    ] {
        match customer("document", text) {
            Ok(_) => assert!(document.is_match(text), "document {text:?} is taken"),
            Err(errors) if document.is_match(text) => {
                let reason = &errors.iter().next().expect("an error").reason;
                assert!(
                    reason.contains("check digits") || reason.contains("all its digits"),
                    "document {text:?} refused for its shape: {reason}"
                );
            }
            Err(_) => {}
        }
    }

    let upload = operation(&doc, "post", "/v1/datasets/{id}/customers");
    let key = parameter(upload, "Idempotency-Key")["schema"]["pattern"]
        .as_str()
        .map(regex_lite::Regex::new)
        .expect("a pattern")
        .expect("the Idempotency-Key pattern compiles");
    for text in [
        "a",
        "A-1_b.c:d",
        &"k".repeat(100),
        &"k".repeat(101),
        "a b",
        "a/b",
        "ção",
        "",
    ] {
        let mut headers = axum::http::HeaderMap::new();
        let value = axum::http::HeaderValue::from_bytes(text.as_bytes()).expect("a header value");
        headers.insert("idempotency-key", value);
        assert_eq!(
            key.is_match(text),
            crate::routes::datasets::sent_idempotency_key(&headers).is_ok(),
            "Idempotency-Key {text:?}"
        );
    }

    // Dates: the pattern holds the lower bound (the upper one moves with the clock).
    let date = pattern(&doc, "/components/schemas/Date/pattern");
    let instant = pattern(&doc, "/components/schemas/Timestamp/pattern");
    for text in [
        "1899-12-31",
        "1900-01-01",
        "0099-01-01",
        "2024-02-29",
        "1950-06-01T10:00:00Z",
        "1899-12-31T23:59:59Z",
        "2000-01-01T00:00:00-03:00",
    ] {
        let limit = json!({"customer_id": "C1", "limit": 1, "valid_from": text});
        let order = json!({"id": "O1", "customer_id": "C1", "issued_at": text, "amount": 1});
        assert_eq!(
            date.is_match(text),
            validate_credit_limit(&limit, "", now).is_ok(),
            "date {text:?}"
        );
        assert_eq!(
            instant.is_match(text),
            validate_order(&order, "", now).is_ok(),
            "instant {text:?}"
        );
    }

    // The email pattern is the code's rule except the local part's 64 characters, which it
    // keeps by shape (no look-ahead in a pattern a generator can draw from): everything it
    // takes is taken, and the everyday addresses it leaves out are none.
    let email = pattern(
        &doc,
        "/components/schemas/RegistrationRequest/properties/email/pattern",
    );
    let registers = |address: &str| {
        RegistrationRequest {
            name: Some("Acme".to_owned()),
            email: Some(address.to_owned()),
        }
        .validate()
        .is_ok()
    };
    for address in [
        "a@b.co",
        "first.last+tag@sub.example.com.br",
        "x_y@a-b.io",
        "credito@ACME.COM.BR",
        "o'brien@example.org",
        &format!("{}@example.com", "a".repeat(64)),
    ] {
        assert!(email.is_match(address), "{address} matches");
        assert!(registers(address), "{address} registers");
    }
    for address in [
        "",
        "plain",
        "@b.co",
        "a@",
        "a@b",
        "a@@b.co",
        ".a@b.co",
        "a.@b.co",
        "a..b@c.co",
        "a b@c.co",
        "a@-b.co",
        "a@b-.co",
        "a@b..co",
        "a@b.c0",
        "a@b.c",
        "a@[10.0.0.1]",
        "\"q\"@b.co",
        &format!("{}@example.com", "a".repeat(65)),
    ] {
        assert!(!email.is_match(address), "{address:?} does not match");
        assert!(!registers(address), "{address:?} does not register");
    }
}

/// The character rules of strings are aval_core::text's own patterns (its tests check each
/// takes exactly what its check takes), and every string has the code's maximum length.
#[test]
fn text_rules_are_the_code_s() {
    let doc = doc();
    let schema = |rest: &str| at(&doc, &format!("/components/schemas/{rest}")).clone();
    assert_eq!(schema("Id/pattern"), json!(text::id_pattern()));
    assert_eq!(
        schema("RegistrationRequest/properties/name/pattern"),
        json!(text::name_pattern())
    );
    assert_eq!(
        schema("AttributeValue/oneOf/1/pattern"),
        json!(text::text_pattern())
    );
    assert_eq!(
        schema("RegistrationRequest/properties/email/maxLength"),
        json!(MAX_EMAIL_CHARS)
    );
    for formatted in [
        "Money/oneOf/1/maxLength",
        "Date/maxLength",
        "Timestamp/maxLength",
        "Customer/properties/document/maxLength",
    ] {
        assert_eq!(schema(formatted), json!(MAX_FORMATTED_CHARS), "{formatted}");
    }
}

/// Every number limit of the document is the code's constant.
#[test]
fn number_limits_match_the_code() {
    let doc = doc();
    let schema = |rest: &str| at(&doc, &format!("/components/schemas/{rest}")).clone();
    let u32_max = json!(u32::MAX);
    assert_eq!(schema("Count/maximum"), u32_max);
    assert_eq!(schema("Order/properties/installments/maximum"), u32_max);
    for kind in ItemKind::ALL {
        assert_eq!(
            schema(&format!("Counts/properties/{}/maximum", kind.as_str())),
            u32_max,
            "{kind:?}"
        );
    }
    let version = json!(crate::routes::decisions::MAX_MODEL_VERSION);
    assert_eq!(
        schema("DecisionRequest/properties/model_version/maximum"),
        version
    );
    for (method, path) in [
        ("get", "/v1/models/{version}"),
        ("post", "/v1/models/{version}/activate"),
    ] {
        let op = operation(&doc, method, path);
        assert_eq!(
            parameter(op, "version")["schema"]["maximum"],
            version,
            "{method} {path}"
        );
    }
    let compare = operation(&doc, "get", "/v1/models/compare");
    let versions = &compare["parameters"][0]["schema"];
    assert_eq!(versions["minItems"], json!(COMPARED_VERSIONS.start()));
    assert_eq!(versions["maxItems"], json!(COMPARED_VERSIONS.end()));
    assert_eq!(versions["uniqueItems"], json!(true));
    let compared = at(&doc, "/components/schemas/ModelComparison/properties");
    for outcome in ["approved", "blocked"] {
        assert_eq!(
            compared[outcome]["minimum"],
            json!(MIN_COMPARED_PER_OUTCOME),
            "{outcome}"
        );
    }
    assert_eq!(
        compared["examples"]["minimum"],
        json!(2 * MIN_COMPARED_PER_OUTCOME)
    );
    let least = format!("fewer than {MIN_COMPARED_PER_OUTCOME} of either outcome");
    for text in [
        &compare["description"],
        &compare["responses"]["409"]["description"],
    ] {
        assert!(
            text.as_str().is_some_and(|t| t.contains(&least)),
            "the comparison's minimum is stated: {text}"
        );
    }
    let audit = &operation(&doc, "get", "/v1/audit")["parameters"];
    assert_eq!(audit[0]["schema"]["maximum"], json!(MAX_LIMIT));
    assert_eq!(audit[0]["schema"]["default"], json!(DEFAULT_LIMIT));
    assert_eq!(audit[1]["schema"]["maximum"], json!(i64::MAX));
    let upload = operation(&doc, "post", "/v1/datasets/{id}/orders");
    let upload_key = &parameter(upload, "Idempotency-Key")["schema"];
    let retrain = operation(&doc, "post", "/v1/models/retrain");
    let retrain_key = &parameter(retrain, "Idempotency-Key")["schema"];
    assert_eq!(upload_key["maxLength"], json!(MAX_IDEMPOTENCY_KEY_CHARS));
    assert_eq!(
        retrain_key, upload_key,
        "one rule for every Idempotency-Key"
    );
}

#[tokio::test]
async fn it_is_served_as_json() {
    let response = document().await.into_response();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    assert_eq!(body, document_text().as_bytes());
}

/// `gateway/openapi.json` is the served document, kept for review (a change to the API shows
/// in the diff). `AVAL_WRITE_OPENAPI=1 cargo test -p aval-gateway committed_copy` writes it.
#[test]
fn the_committed_copy_is_the_served_document() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var_os("AVAL_WRITE_OPENAPI").is_some() {
        std::fs::write(path, document_text()).expect("gateway/openapi.json is writable");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == document_text(),
        "gateway/openapi.json is not the document the gateway serves; write it again with \
         `AVAL_WRITE_OPENAPI=1 cargo test -p aval-gateway committed_copy` and review the diff"
    );
}

/// The document is made from the registrations without a state: the same as `api()` each time.
#[test]
fn the_document_is_the_code_s() {
    assert_eq!(
        serde_json::to_value(api()).expect("serialises"),
        doc(),
        "made twice, the same"
    );
}

/// The outcome schemas state the rules of `aval_core::outcome`: one closed variant per kind,
/// exactly one identifier, and the code's limits.
#[test]
fn outcome_schemas_match_the_code() {
    use aval_core::outcome::{
        DAYS_PAST_DUE, MAX_DAYS_LATE, MAX_REASON_CODE_CHARS, MAX_REPORTS, OutcomeKind, WITHIN_DAYS,
    };
    let doc = doc();
    let schema = |rest: &str| at(&doc, &format!("/components/schemas/{rest}")).clone();
    assert_eq!(
        schema("OutcomeBatch/properties/reports/maxItems"),
        json!(MAX_REPORTS)
    );
    let variants = schema("OutcomeReport/oneOf");
    let variants = variants.as_array().expect("a oneOf");
    let kinds: Vec<Value> = variants
        .iter()
        .map(|v| v["properties"]["kind"]["enum"][0].clone())
        .collect();
    assert_eq!(kinds, OutcomeKind::NAMES.map(|k| json!(k)).to_vec());
    for variant in variants {
        assert_eq!(variant["additionalProperties"], json!(false), "{variant}");
        assert_eq!(
            variant["oneOf"],
            json!([{"required": ["request_id"]}, {"required": ["order_id"]}])
        );
    }
    assert_eq!(
        variants[1]["properties"]["days_late"]["maximum"],
        json!(MAX_DAYS_LATE)
    );
    let reason_code = &variants[4]["properties"]["reason_code"];
    assert_eq!(reason_code["maxLength"], json!(MAX_REASON_CODE_CHARS));
    assert_eq!(reason_code["pattern"], json!(text::id_pattern()));
    for name in ["OutcomeDefinition", "OutcomeDefinitionRequest"] {
        let definition = schema(&format!("{name}/properties"));
        assert_eq!(
            definition["days_past_due"]["minimum"],
            json!(DAYS_PAST_DUE.start())
        );
        assert_eq!(
            definition["days_past_due"]["maximum"],
            json!(DAYS_PAST_DUE.end())
        );
        assert_eq!(
            definition["within_days"]["minimum"],
            json!(WITHIN_DAYS.start())
        );
        assert_eq!(
            definition["within_days"]["maximum"],
            json!(WITHIN_DAYS.end())
        );
    }
    assert_eq!(
        schema("OutcomeDefinitionRequest/required"),
        json!(["days_past_due", "within_days"])
    );
}
