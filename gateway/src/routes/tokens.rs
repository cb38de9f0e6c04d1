//! `/v1/companies/me/tokens`: a company lists, issues and revokes its own tokens. Every
//! token issued is recorded (its claims and label, never the string), each issue and
//! revocation is audited (`token.issued`, `token.revoked`) and, like registration, committed
//! only once its audit event is on Kafka. Another company's tokens are never shown: an
//! unknown token id and another company's get the same 404.

use crate::auth::Authenticated;
use crate::json::JsonBody;
use crate::problem::Problem;
use crate::routes::openapi::{params, responses};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::text::{self, TextKind};
use aval_store::StoreError;
use aval_store::companies::{NewToken, Revocation, TokenRecord};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest token label, before trimming.
pub(crate) const MAX_LABEL_CHARS: usize = 100;

/// A token as listed: never the token string, which is shown once, when issued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Token)]
pub(crate) struct TokenView {
    /// The token's id (its `jti` claim).
    jti: Uuid,
    /// The label the company gave it; empty for none (a registration's token).
    label: String,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// When it was revoked; null while it works.
    revoked_at: Option<DateTime<Utc>>,
    /// Whether this is the token of this request.
    current: bool,
}

impl TokenView {
    fn new(record: TokenRecord, current: Uuid) -> Self {
        Self {
            current: record.jti == current,
            jti: record.jti,
            label: record.label,
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TokenList {
    /// Newest first, revoked ones included. Tokens issued before aval recorded tokens are
    /// not listed (they can still be revoked by id).
    tokens: Vec<TokenView>,
}

/// What `POST /v1/companies/me/tokens` takes. Unknown fields are refused.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// A name for the token, to tell it apart in the list: up to 100 characters, trimmed, none
    /// of them a control, line-break or invisible format character.
    #[schema(schema_with = label_schema)]
    label: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = IssuedToken)]
pub(crate) struct IssuedView {
    jti: Uuid,
    /// The bearer token (a JWT). Shown only here: keep it.
    token: String,
    label: String,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(
    get,
    path = "/v1/companies/me/tokens",
    tag = "companies",
    operation_id = "listOwnTokens",
    summary = "The company's tokens",
    description = "Every token issued to the company (at registration and by `POST /v1/companies/me/tokens`), newest first, revoked ones included; never the token strings. `current` marks the token of this request.",
    responses(
        (status = 200, description = "The tokens.", content_type = "application/json", body = TokenList),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<TokenList>, Problem> {
    let tokens = state
        .store
        .tokens(auth.company.id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot list the tokens", e))?;
    Ok(Json(TokenList {
        tokens: tokens
            .into_iter()
            .map(|record| TokenView::new(record, auth.jti))
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/companies/me/tokens",
    tag = "companies",
    operation_id = "issueOwnToken",
    summary = "Issue a new token",
    description = "Issues another token for the company, valid like the registration's (the installation's token lifetime). The token string is in this answer only. Recorded only once its `token.issued` audit event is on the audit topic; if that fails nothing is issued (503).",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Issued. Keep the token: it is shown only here.", content_type = "application/json", body = IssuedView),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 413, response = responses::BodyTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn issue(
    auth: Authenticated,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<Response, Problem> {
    let label = label(request.label.as_deref()).map_err(Problem::invalid)?;
    let company_id = auth.company.id;
    let now = Utc::now();
    let issued = state.tokens.issue(company_id, now).map_err(|e| {
        tracing::error!(error = %e, "cannot sign token");
        Problem::unavailable("cannot issue a token right now; retry")
    })?;
    let pending = state
        .store
        .begin_token(&NewToken {
            jti: issued.jti,
            company_id,
            kid: &issued.kid,
            label: &label,
            issued_at: issued.issued_at,
            expires_at: issued.expires_at,
        })
        .await
        .map_err(|e| Problem::dependency_failed("cannot issue a token", e))?;
    let event = AuditEvent::new(company_id, AuditKind::TokenIssued, auth.actor(), now)
        .with_detail("jti", issued.jti.to_string())
        .with_detail("label", label.clone());
    audit(&state, &event, "nothing was issued").await?;
    pending
        .commit()
        .await
        .map_err(|e| Problem::dependency_failed("cannot issue a token", e))?;
    tracing::info!(%company_id, jti = %issued.jti, "token issued");
    let body = IssuedView {
        jti: issued.jti,
        token: issued.token,
        label,
        issued_at: issued.issued_at,
        expires_at: issued.expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/companies/me/tokens/{jti}",
    tag = "companies",
    operation_id = "revokeOwnToken",
    summary = "Revoke a token",
    description = "The token is refused (403) from now on, at every process within moments. Revoking the token of this very request is allowed (the answer is its last). Revoking a revoked token again changes nothing and answers 204 too. Recorded only once its `token.revoked` audit event is on the audit topic; if that fails nothing is revoked (503). Takes no body.",
    params(params::TokenId),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, description = "No such token for this company: not a UUID, unknown, or another company's.", content_type = "application/problem+json", body = Problem),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn revoke(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(jti): Path<String>,
) -> Result<StatusCode, Problem> {
    let not_found = || Problem::not_found("no such token");
    let jti = Uuid::parse_str(&jti).map_err(|_| not_found())?;
    let company_id = auth.company.id;
    let now = Utc::now();
    let pending = match state
        .store
        .begin_revocation(
            company_id,
            jti,
            jti == auth.jti,
            "revoked by the company",
            now,
        )
        .await
    {
        Ok(pending) => pending,
        Err(StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(Problem::dependency_failed("cannot revoke the token", e)),
    };
    if pending.value == Revocation::Revoked {
        let event = AuditEvent::new(company_id, AuditKind::TokenRevoked, auth.actor(), now)
            .with_detail("jti", jti.to_string());
        audit(&state, &event, "nothing was revoked").await?;
    }
    pending
        .commit()
        .await
        .map_err(|e| Problem::dependency_failed("cannot revoke the token", e))?;
    // Refused at once here; other processes hear the database's notification.
    state.store.forget_access(company_id);
    tracing::info!(%company_id, %jti, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}

fn label_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(MAX_LABEL_CHARS))
        .pattern(Some(text::label_pattern()))
        .description(Some(
            "A name for the token, to tell it apart in the list: up to 100 characters, trimmed, \
             none of them a control, line-break or invisible format character.",
        ))
        .examples(["nightly upload job"])
        .build()
}

/// The label, trimmed, after the text rules every identifier follows.
fn label(raw: Option<&str>) -> Result<String, FieldErrors> {
    let mut errors = FieldErrors::default();
    if let Some(raw) = raw
        && let Err(reason) = text::check(raw, TextKind::Identifier, MAX_LABEL_CHARS)
    {
        errors.push("label", reason);
    }
    errors.into_result(raw.map(str::trim).unwrap_or_default().to_owned())
}

/// Puts `event` on the audit topic; `undone` says what the 503 leaves undone. Every change
/// committed only once audited goes through here.
pub(crate) async fn audit(
    state: &AppState,
    event: &AuditEvent,
    undone: &str,
) -> Result<(), Problem> {
    state
        .publisher
        .publish_audit(&state.catalogue, event)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, kind = %event.kind, "cannot publish the audit event");
            Problem::unavailable(format!("the audit log is unavailable; {undone}, retry"))
        })?;
    Ok(())
}
