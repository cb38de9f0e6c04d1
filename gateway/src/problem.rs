//! Every error the API returns is an RFC 9457 `application/problem+json` document; validation
//! failures list each field path and reason, up to [`MAX_LISTED_ERRORS`], and count them all.

use aval_core::{FieldError, FieldErrors};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Most field errors one answer lists. A client fixes a payload from the first ones; listing
/// all of a 500-item batch made a 200 KB body answer 5.6 MB. `error_count` says how many
/// there were.
pub const MAX_LISTED_ERRORS: usize = 100;

/// The `WWW-Authenticate` of every 401.
pub(crate) const BEARER_CHALLENGE: &str = "Bearer error=\"invalid_token\"";

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    /// The first [`MAX_LISTED_ERRORS`] field errors, when the problem is about fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    /// Every field error, listed or not; present exactly when `errors` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_count: Option<usize>,
    /// For an order decided before with other content: that first decision (`request_id`,
    /// `decided_at`, `decision`), an extension member as RFC 9457 allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    first_decision: Option<Box<FirstDecision>>,
    /// For a request shed under load: which limit, and when to retry.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    shed: Option<Box<Shed>>,
    #[serde(skip)]
    www_authenticate: bool,
}

/// The decision that stands for an order id re-sent with other content.
#[derive(Debug, Serialize)]
pub struct FirstDecision {
    pub request_id: String,
    pub order_id: String,
    pub decision: &'static str,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a request was refused at once under load.
#[derive(Debug, Serialize)]
struct Shed {
    /// Which in-flight limit (`decisions`, `decisions_per_company`, `uploads_per_company`).
    limit: &'static str,
    /// Seconds for the `Retry-After` header.
    #[serde(skip)]
    retry_after: u32,
}

impl Problem {
    fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            error_count: None,
            first_decision: None,
            shed: None,
            www_authenticate: false,
        }
    }

    /// The same problem, about these fields: the first [`MAX_LISTED_ERRORS`] listed, all
    /// counted.
    fn with_errors(self, errors: &FieldErrors) -> Self {
        Self {
            errors: errors.iter().take(MAX_LISTED_ERRORS).cloned().collect(),
            error_count: Some(errors.len()).filter(|&n| n > 0),
            ..self
        }
    }

    /// The same problem, about one field.
    fn with_error(self, field: &str, reason: impl Into<String>) -> Self {
        self.with_errors(&FieldError::new(field, reason).into())
    }

    /// The body is well-formed JSON but breaks the rules. The detail is one line: the fields
    /// are in `errors`, said once.
    pub fn invalid(errors: FieldErrors) -> Self {
        let count = errors.len();
        let detail = if count > MAX_LISTED_ERRORS {
            format!("{count} invalid field(s); the first {MAX_LISTED_ERRORS} are listed in errors")
        } else {
            format!("{count} invalid field(s), listed in errors")
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/problems/invalid-request",
            "Invalid request",
            detail,
        )
        .with_errors(&errors)
    }

    /// The body is not the JSON this endpoint takes.
    pub fn malformed(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "/problems/malformed-body",
            "Malformed body",
            reason.clone(),
        )
        .with_error(field, reason)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "/problems/unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        )
    }

    pub fn too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "/problems/too-large",
            "Request body too large",
            format!("the body exceeds the limit of {limit_bytes} bytes"),
        )
    }

    /// A batch over the item limit: refused before any validation.
    pub fn too_many_items(items: usize, limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "/problems/too-many-items",
            "Too many items",
            format!("a batch holds at most {limit} items; split this one of {items}"),
        )
        .with_error(
            "items",
            format!("a batch holds at most {limit} items; this one has {items}"),
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            www_authenticate: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "/problems/unauthorized",
                "Unauthorized",
                detail,
            )
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "/problems/forbidden",
            "Forbidden",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "/problems/not-found",
            "Not found",
            detail,
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "/problems/method-not-allowed",
            "Method not allowed",
            "this endpoint does not take that method; see /openapi.json",
        )
    }

    pub fn conflict(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(
            StatusCode::CONFLICT,
            "/problems/conflict",
            "Conflict",
            reason.clone(),
        )
        .with_error(field, reason)
    }

    /// The request is well formed but conflicts with the state of what each field names.
    pub fn conflicts(errors: FieldErrors) -> Self {
        let detail = format!("{} conflicting field(s), listed in errors", errors.len());
        Self::new(
            StatusCode::CONFLICT,
            "/problems/conflict",
            "Conflict",
            detail,
        )
        .with_errors(&errors)
    }

    /// A dependency (Kafka, the registry, the database) failed; the client may retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "/problems/unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// Too much in flight: refused at once, to be retried after `retry_after` seconds.
    pub fn overloaded(limit: &'static str, detail: impl Into<String>, retry_after: u32) -> Self {
        Self {
            shed: Some(Box::new(Shed { limit, retry_after })),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "/problems/overloaded",
                "Overloaded",
                detail,
            )
        }
    }

    /// The company has too much in flight: refused at once, to be retried after `retry_after`
    /// seconds.
    pub fn too_many_requests(
        limit: &'static str,
        detail: impl Into<String>,
        retry_after: u32,
    ) -> Self {
        Self {
            shed: Some(Box::new(Shed { limit, retry_after })),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "/problems/too-many-requests",
                "Too many requests",
                detail,
            )
        }
    }

    /// The company has no model to decide with (yet, or not that version).
    pub fn no_model(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "/problems/no-model",
            "No model",
            detail,
        )
    }

    /// The order id was decided before for other content: names that first decision.
    pub fn order_conflict(detail: impl Into<String>, first_decision: FirstDecision) -> Self {
        Self {
            first_decision: Some(Box::new(first_decision)),
            ..Self::new(
                StatusCode::CONFLICT,
                "/problems/order-conflict",
                "Order decided before with other content",
                detail,
            )
        }
    }

    /// The scorer did not answer in time; the request may still be decided (a retry with the
    /// same order id returns that decision).
    pub fn timeout(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "/problems/decision-timeout",
            "Decision timed out",
            detail,
        )
    }

    /// The scorer answered that it could not decide (a fault of aval, not of the request).
    pub fn failed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "/problems/decision-failed",
            "Decision failed",
            detail,
        )
    }

    /// Too many items under `field`: refused before any validation.
    pub fn too_many(field: &str, items: usize, limit: usize) -> Self {
        Self::too_many_items(items, limit).with_error(
            field,
            format!("at most {limit} per request; this one has {items}"),
        )
    }

    /// A dependency failed while serving a request: logs the cause for operators and tells
    /// the client what could not be done and that a retry may work.
    pub fn dependency_failed(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::unavailable(format!("{context}; retry"))
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let challenge = self.www_authenticate;
        let retry_after = self.shed.as_ref().map(|shed| shed.retry_after);
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BEARER_CHALLENGE),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_request_lists_the_first_hundred_errors_once_and_counts_them_all() {
        let mut errors = FieldErrors::default();
        for i in 0..5_000 {
            errors.push(
                format!("items[{}].amount", i / 10),
                "must be a number or a decimal string like \"1200.50\"",
            );
        }
        let body = serde_json::to_string(&Problem::invalid(errors)).expect("json");
        assert!(body.len() < 30_000, "{} bytes", body.len());
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            json["errors"].as_array().map(Vec::len),
            Some(MAX_LISTED_ERRORS)
        );
        assert_eq!(json["error_count"], 5_000);
        assert_eq!(
            json["detail"],
            "5000 invalid field(s); the first 100 are listed in errors"
        );
        assert_eq!(json["errors"][0]["field"], "items[0].amount");
    }

    #[test]
    fn a_few_errors_are_all_listed_and_counted() {
        let mut errors = FieldErrors::default();
        errors.push("name", "is required");
        errors.push("email", "is required");
        let json = serde_json::to_value(Problem::invalid(errors)).expect("json");
        assert_eq!(json["error_count"], 2);
        assert_eq!(json["errors"].as_array().map(Vec::len), Some(2));
        assert_eq!(json["detail"], "2 invalid field(s), listed in errors");
        let one =
            serde_json::to_value(Problem::malformed("items", "must be an array")).expect("json");
        assert_eq!(one["error_count"], 1);
        let none = serde_json::to_value(Problem::not_found("no such dataset")).expect("json");
        assert!(none.get("errors").is_none() && none.get("error_count").is_none());
    }
}

/// The API document's schema of a problem: its members as `Problem` writes them, each extension
/// member with the one kind of problem that has it.
mod schema {
    use super::{MAX_LISTED_ERRORS, Problem};
    use serde_json::json;
    use std::borrow::Cow;
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
    use utoipa::openapi::{KnownFormat, Ref, RefOr, SchemaFormat};
    use utoipa::{PartialSchema, ToSchema};

    /// Every `type` this API answers with.
    pub(crate) const TYPES: [&str; 17] = [
        "/problems/malformed-body",
        "/problems/invalid-request",
        "/problems/unsupported-media-type",
        "/problems/too-large",
        "/problems/too-many-items",
        "/problems/unauthorized",
        "/problems/forbidden",
        "/problems/not-found",
        "/problems/method-not-allowed",
        "/problems/conflict",
        "/problems/unavailable",
        "/problems/no-model",
        "/problems/decision-timeout",
        "/problems/decision-failed",
        "/problems/order-conflict",
        "/problems/overloaded",
        "/problems/too-many-requests",
    ];

    /// The in-flight limits a shed request names (`crate::admission`).
    const LIMITS: [&str; 3] = ["decisions", "decisions_per_company", "uploads_per_company"];

    fn string(description: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    }

    fn first_decision() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "For an order id decided before with other content (409 \
                 `/problems/order-conflict`): the decision that stands. Absent otherwise.",
            ))
            .property("request_id", ObjectBuilder::new().schema_type(Type::String))
            .property("order_id", ObjectBuilder::new().schema_type(Type::String))
            .property(
                "decision",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["approved", "rejected", "review"])),
            )
            .property(
                "decided_at",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .required("request_id")
            .required("order_id")
            .required("decision")
            .required("decided_at")
    }

    impl PartialSchema for Problem {
        fn schema() -> RefOr<Schema> {
            let kind = ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("uri-reference".to_owned())))
                .description(Some("The kind of problem, a relative URI."))
                .examples(TYPES.map(|t| json!(t)));
            let errors = ArrayBuilder::new()
                .items(RefOr::Ref(Ref::from_schema_name("FieldError")))
                .max_items(Some(MAX_LISTED_ERRORS))
                .description(Some(format!(
                    "The fields at fault, when the problem is about fields (400, 409, 422, and \
                     413 for too many items): at most the first {MAX_LISTED_ERRORS}; \
                     `error_count` has how many there are in all. Absent otherwise."
                )));
            let error_count = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .description(Some(format!(
                    "How many fields are at fault in all, also those beyond the first \
                     {MAX_LISTED_ERRORS} listed in `errors`. Present exactly when `errors` is."
                )));
            let limit = string(
                "For a request shed under load (503 `/problems/overloaded`, 429 \
                 `/problems/too-many-requests`): which in-flight limit was full. Absent \
                 otherwise.",
            )
            .enum_values(Some(LIMITS));
            RefOr::T(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("An RFC 9457 problem document."))
                    .property("type", kind)
                    .property("title", string("A short, fixed summary of the type."))
                    .property(
                        "status",
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .description(Some("The HTTP status code.")),
                    )
                    .property(
                        "detail",
                        string(
                            "What went wrong this time, on one line; a summary when many \
                             fields are at fault.",
                        ),
                    )
                    .property("errors", errors)
                    .property("error_count", error_count)
                    .property("limit", limit)
                    .property("first_decision", first_decision())
                    .required("type")
                    .required("title")
                    .required("status")
                    .required("detail")
                    .into(),
            )
        }
    }

    impl ToSchema for Problem {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("Problem")
        }

        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((
                "FieldError".to_owned(),
                <aval_core::FieldError as PartialSchema>::schema(),
            ));
        }
    }
}
