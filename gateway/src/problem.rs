//! Every error the API returns is an RFC 9457 `application/problem+json` document; validation
//! failures list each field path and reason.

use aval_core::FieldErrors;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "FieldErrors::is_empty")]
    errors: FieldErrors,
    #[serde(skip)]
    www_authenticate: bool,
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
            errors: FieldErrors::default(),
            www_authenticate: false,
        }
    }

    /// The body is well-formed JSON but breaks the rules.
    pub fn invalid(errors: FieldErrors) -> Self {
        let detail = format!("{} invalid field(s): {errors}", errors.len());
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "/problems/invalid-request",
                "Invalid request",
                detail,
            )
        }
    }

    /// The body is not the JSON this endpoint takes.
    pub fn malformed(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut errors = FieldErrors::default();
        errors.push(field, reason.clone());
        Self {
            errors,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "/problems/malformed-body",
                "Malformed body",
                reason,
            )
        }
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
        let mut errors = FieldErrors::default();
        errors.push(
            "items",
            format!("a batch holds at most {limit} items; this one has {items}"),
        );
        Self {
            errors,
            ..Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "/problems/too-many-items",
                "Too many items",
                format!("a batch holds at most {limit} items; split this one of {items}"),
            )
        }
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
        let mut errors = FieldErrors::default();
        errors.push(field, reason.clone());
        Self {
            errors,
            ..Self::new(
                StatusCode::CONFLICT,
                "/problems/conflict",
                "Conflict",
                reason,
            )
        }
    }

    /// The request is well formed but conflicts with the state of what each field names.
    pub fn conflicts(errors: FieldErrors) -> Self {
        let detail = format!("{} conflicting field(s): {errors}", errors.len());
        Self {
            errors,
            ..Self::new(
                StatusCode::CONFLICT,
                "/problems/conflict",
                "Conflict",
                detail,
            )
        }
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

    /// The company has no model to decide with (yet, or not that version).
    pub fn no_model(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "/problems/no-model",
            "No model",
            detail,
        )
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
        let mut problem = Self::too_many_items(items, limit);
        problem.errors = FieldErrors::default();
        problem.errors.push(
            field,
            format!("at most {limit} per request; this one has {items}"),
        );
        problem
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
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}
