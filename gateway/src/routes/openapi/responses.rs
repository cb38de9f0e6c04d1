//! The responses many operations share, by name (`#/components/responses/...`): each problem
//! a family of calls answers the same way, with its wording and examples.

use crate::BODY_LIMIT_BYTES;
use crate::problem::MAX_LISTED_ERRORS;
use crate::routes::datasets::MAX_IDEMPOTENCY_KEY_CHARS;
use aval_core::ingest::MAX_BATCH_ITEMS;
use serde_json::{Value, json};
use utoipa::ToResponse;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

const MIB: usize = 1024 * 1024;

/// `4 MiB (4194304 bytes)`: the body limit, as the descriptions state it.
pub(crate) fn body_limit() -> String {
    format!("{} MiB ({BODY_LIMIT_BYTES} bytes)", BODY_LIMIT_BYTES / MIB)
}

/// A shared response in the making.
struct Shared {
    response: ResponseBuilder,
    content_type: &'static str,
    content: ContentBuilder,
}

/// An RFC 9457 problem, as every error of the API is.
fn problem(description: impl Into<String>) -> Shared {
    json_of(description, "application/problem+json", "Problem")
}

/// A JSON body of the schema `schema`.
fn json(description: impl Into<String>, schema: &str) -> Shared {
    json_of(description, "application/json", schema)
}

fn json_of(description: impl Into<String>, content_type: &'static str, schema: &str) -> Shared {
    Shared {
        response: ResponseBuilder::new().description(description),
        content_type,
        content: ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))),
    }
}

impl Shared {
    fn example(mut self, value: Value) -> Self {
        self.content = self.content.example(Some(value));
        self
    }

    fn named(mut self, name: &str, summary: &str, value: Value) -> Self {
        let example = ExampleBuilder::new().summary(summary).value(Some(value));
        self.content = self.content.examples_from_iter([(name, example)]);
        self
    }

    /// `WWW-Authenticate` of a 401, always the same.
    fn header_www_authenticate(mut self) -> Self {
        let value = crate::problem::BEARER_CHALLENGE;
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([value]));
        let header = HeaderBuilder::new()
            .schema(schema)
            .description(Some(format!("Always `{value}`.")));
        self.response = self.response.header("WWW-Authenticate", header.build());
        self
    }

    /// `Retry-After` of a request shed under load.
    fn header_retry_after(mut self) -> Self {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9]+$"))
            .examples([json!("1")]);
        let header = HeaderBuilder::new()
            .schema(schema)
            .description(Some("Seconds to wait before retrying."));
        self.response = self.response.header("Retry-After", header.build());
        self
    }

    fn build(self) -> RefOr<Response> {
        let content = self.content.build();
        RefOr::T(self.response.content(self.content_type, content).build())
    }
}

/// A unit type per shared response, named as its component.
macro_rules! response {
    ($name:ident, $shared:expr) => {
        #[derive(Debug)]
        pub(crate) struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), $shared.build())
            }
        }
    };
}

response!(MalformedBody, {
    problem("The body is not valid JSON, is not the shape this endpoint takes (a value of the wrong type, a missing or unknown top-level field), or cannot be read. `errors` has one entry naming the field (empty for the body as a whole).")
        .example(json!({"type": "/problems/malformed-body", "title": "Malformed body", "status": 400, "detail": "unknown field `company`, expected `name` or `email` at line 1 column 40", "errors": [{"field": "company", "reason": "unknown field `company`, expected `name` or `email` at line 1 column 40"}]}))
});

response!(MalformedBatch, {
    problem(format!(
        "The body is not valid JSON, has no `items` array, has a top-level field other than `items`, or the `Idempotency-Key` header is not 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters of A-Z a-z 0-9 - _ . : (then `errors` names `Idempotency-Key`)."
    ))
});

response!(Unauthorized, {
    problem("No token, or a token that is malformed, forged, expired, of another issuer or algorithm, or of an unknown company.")
        .example(json!({"type": "/problems/unauthorized", "title": "Unauthorized", "status": 401, "detail": "send Authorization: Bearer <token>"}))
        .header_www_authenticate()
});

response!(Forbidden, {
    problem("The token was revoked, or its company deactivated.")
});

response!(DatasetNotFound, {
    problem("No such dataset for this company.")
        .example(json!({"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "no such dataset"}))
});

response!(ModelNotFound, {
    problem("No such model version for this company.")
        .example(json!({"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "no model version 7"}))
});

response!(PolicyNotFound, {
    problem("The company has saved no decision policy: the active model's own threshold decides.")
        .example(json!({"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "the company has no decision policy: the active model's own threshold decides"}))
});

response!(DecisionNotFound, {
    problem("No decision recorded under this request id for this company.")
        .example(json!({"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "no decision with request id 3f2b8c1d-6a4e-4f0b-9c7d-2e1a5b6c7d8e"}))
});

response!(DatasetClosed, {
    problem(
        "The dataset is no longer `receiving` (it was completed) and takes no more batches (`errors` names `dataset`).",
    )
});

response!(BodyTooLarge, {
    problem(format!("The body is over {}.", body_limit()))
});

response!(BatchTooLarge, {
    problem(format!(
        "The body is over {} MiB (type `/problems/too-large`), or `items` holds more than {MAX_BATCH_ITEMS} items (type `/problems/too-many-items`, `errors` names `items`). Split the batch.",
        BODY_LIMIT_BYTES / MIB
    ))
});

response!(UnsupportedMediaType, {
    problem("The body is not sent as `application/json` (or `application/*+json`).")
});

response!(InvalidRequest, {
    problem(format!("Well-formed, but some fields break the rules. `errors` lists them, the first {MAX_LISTED_ERRORS}, and `error_count` how many there are in all."))
        .example(json!({"type": "/problems/invalid-request", "title": "Invalid request", "status": 422, "detail": "1 invalid field(s): email: must contain an @", "errors": [{"field": "email", "reason": "must contain an @"}], "error_count": 1}))
});

response!(InvalidBatch, {
    problem(format!("Some items break the rules, or `items` is empty: `errors` lists the problems of the items by path (`items[3].document`), the first {MAX_LISTED_ERRORS} of them, and `error_count` how many there are in all. Or the `Idempotency-Key` was used before for this dataset with another item kind or another body (`errors` names `Idempotency-Key`): a repeat must be byte for byte the batch first sent under that key, and a new batch needs a new key. Nothing of the batch is stored."))
        .named("invalid_items", "Items break the rules", json!({"type": "/problems/invalid-request", "title": "Invalid request", "status": 422, "detail": "2 invalid field(s), the first: items[0].document: check digits do not match", "errors": [{"field": "items[0].document", "reason": "check digits do not match"}, {"field": "items[1].id", "reason": "duplicates items[0].id"}], "error_count": 2}))
        .named("key_reused", "The Idempotency-Key names another batch", json!({"type": "/problems/invalid-request", "title": "Invalid request", "status": 422, "detail": "1 invalid field(s), the first: Idempotency-Key: was used for another batch of this dataset (another kind or body); use a new key for a new batch", "errors": [{"field": "Idempotency-Key", "reason": "was used for another batch of this dataset (another kind or body); use a new key for a new batch"}], "error_count": 1}))
});

response!(BatchAccepted, {
    json(
        "The batch passed every check and is queued for storage. Storage is asynchronous: `GET /v1/datasets/{id}` shows it in `counts` once processed.",
        "BatchReceipt",
    )
});

response!(Unavailable, {
    problem("A dependency (Kafka, the database) failed. Nothing was done; retry.")
});

response!(NoModel, {
    problem("The company has no active model yet (train one by uploading and completing a dataset, or activate a version), or no model version `model_version`.")
        .example(json!({"type": "/problems/no-model", "title": "No model", "status": 409, "detail": "the company has no active model yet: upload a dataset and let it train, or activate a version"}))
});

response!(NoDriftReference, {
    problem("The company has no active model and no `model_version` was named (type `/problems/no-model`), or the version was trained before aval kept training distributions with each version (type `/problems/conflict`, `errors` names `model_version`): retrain to monitor its drift.")
        .example(json!({"type": "/problems/conflict", "title": "Conflict", "status": 409, "detail": "model version 1 was trained before training distributions were kept: retrain to monitor its drift", "errors": [{"field": "model_version", "reason": "model version 1 was trained before training distributions were kept: retrain to monitor its drift"}]}))
});

response!(DecisionFailed, {
    problem("The scorer answered that it could not decide, such as a model it cannot load. A fault of aval, not of the request.")
        .example(json!({"type": "/problems/decision-failed", "title": "Decision failed", "status": 500, "detail": "the scorer could not decide"}))
});

response!(DecisionUnavailable, {
    problem("Either a dependency (Kafka, the database) failed, so the decision request could not be queued or the gateway cannot receive decisions (type `/problems/unavailable`); or the gateway is at its limit of decisions in flight, for all companies (`AVAL_MAX_INFLIGHT_DECISIONS`) or for this one (`AVAL_MAX_INFLIGHT_DECISIONS_PER_COMPANY`), and sheds this request at once instead of queueing it (type `/problems/overloaded`, `limit` says which): then `Retry-After` says when to try again. Nothing was decided; retry. A batch counts as its orders (at most the per-company limit) and is refused whole.")
        .named("overloaded", "Shed: too many decisions in flight", json!({"type": "/problems/overloaded", "title": "Overloaded", "status": 503, "detail": "this company has 8 decisions in flight, its limit (AVAL_MAX_INFLIGHT_DECISIONS_PER_COMPANY); retry after 1 s", "limit": "decisions_per_company"}))
        .named("dependency", "A dependency failed", json!({"type": "/problems/unavailable", "title": "Service unavailable", "status": 503, "detail": "cannot queue the decision request; retry"}))
        .header_retry_after()
});

response!(DecisionTimeout, {
    problem("No decision within the gateway's deadline: the scorer may be down or busy. The request may still be decided; retrying with the same order id is safe (a decision made meanwhile comes back with `repeat` true).")
        .example(json!({"type": "/problems/decision-timeout", "title": "Decision timed out", "status": 504, "detail": "no decision for order O2 within the deadline (no reply within 2s); the scorer may be down or busy. Retrying with the same order id is safe: a decision made meanwhile is returned as a repeat"}))
});

response!(TooManyBatches, {
    problem("The company has as many upload batches in flight at this gateway as it may (`AVAL_MAX_INFLIGHT_UPLOADS_PER_COMPANY`); this one was refused at once, nothing of it stored. `Retry-After` says when to try again.")
        .example(json!({"type": "/problems/too-many-requests", "title": "Too many requests", "status": 429, "detail": "this company has 8 upload batches in flight, its limit (AVAL_MAX_INFLIGHT_UPLOADS_PER_COMPANY); retry after 1 s", "limit": "uploads_per_company"}))
        .header_retry_after()
});

response!(DecisionConflict, {
    problem("The company has no active model yet (train one by uploading and completing a dataset, or activate a version), or no model version `model_version` (type `/problems/no-model`); or the order id was decided before with other content (another amount, customer, dates, terms or attributes): the first decision stands and `first_decision` names it (type `/problems/order-conflict`). Send a changed order under a new id; the same order sent again unchanged gets the first decision with `repeat` true.")
        .named("no_model", "No model to decide with", json!({"type": "/problems/no-model", "title": "No model", "status": 409, "detail": "the company has no active model yet: upload a dataset and complete it to train one"}))
        .named("changed_repeat", "The order id was decided with other content", json!({"type": "/problems/order-conflict", "title": "Order decided before with other content", "status": 409, "detail": "order O2 was decided before with other content; the first decision stands: send a changed order under a new id", "first_decision": {"request_id": "3f2b8c1d-6a4e-4f0b-9c7d-2e1a5b6c7d8e", "order_id": "O2", "decision": "approved", "decided_at": "2026-11-27T14:03:11.482Z"}}))
});
