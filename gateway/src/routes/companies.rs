//! `POST /v1/companies` (pre-registration, no token) and `GET /v1/companies/me`; the
//! company's tokens are in `tokens.rs`.

use crate::auth::Authenticated;
use crate::json::JsonBody;
use crate::problem::Problem;
use crate::routes::openapi::{examples, responses};
use crate::state::AppState;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::company::RegistrationRequest;
use aval_store::StoreError;
use aval_store::companies::{Company, NewToken};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Registration)]
pub(crate) struct Registered {
    company_id: Uuid,
    /// The bearer token (a JWT).
    token: String,
    token_expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Company)]
pub(crate) struct CompanyView {
    company_id: Uuid,
    name: String,
    #[schema(format = Email)]
    email: String,
    registered_at: DateTime<Utc>,
}

impl From<Company> for CompanyView {
    fn from(c: Company) -> Self {
        Self {
            company_id: c.id,
            name: c.name,
            email: c.email,
            registered_at: c.registered_at,
        }
    }
}

/// The company row is committed only after the `company.registered` audit event is on Kafka:
/// a company either exists with its audit trail or does not exist.
#[utoipa::path(
    post,
    path = "/v1/companies",
    tag = "companies",
    operation_id = "registerCompany",
    summary = "Register a company",
    description = "Pre-registration: creates the company and returns its first token. Needs no token. The company exists only once its `company.registered` audit event is on the audit topic; if that fails nothing is registered (503).",
    security(),
    request_body(content = RegistrationRequest, content_type = "application/json", example = examples::register_company_request),
    responses(
        (status = 201, description = "Registered. Keep the token: it is shown only here.", content_type = "application/json", body = Registered, headers(("Location" = String, description = "Always `/v1/companies/me`."))),
        (status = 400, response = responses::MalformedBody),
        (status = 409, description = "A company with this email is already registered (`errors` names `email`).", content_type = "application/problem+json", body = Problem),
        (status = 413, response = responses::BodyTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<RegistrationRequest>,
) -> Result<Response, Problem> {
    let registration = request.validate().map_err(Problem::invalid)?;
    let now = Utc::now();
    let pending = match state.store.begin_registration(&registration, now).await {
        Ok(pending) => pending,
        Err(StoreError::Conflict { .. }) => {
            return Err(Problem::conflict(
                "email",
                "a company with this email is already registered",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store registration");
            return Err(Problem::unavailable("cannot register right now; retry"));
        }
    };
    let company_id = pending.value.id;
    let event = AuditEvent::new(
        company_id,
        AuditKind::CompanyRegistered,
        format!("company:{company_id}"),
        now,
    )
    .with_detail("name", registration.name.clone());
    if let Err(e) = state
        .publisher
        .publish_audit(&state.catalogue, &event)
        .await
    {
        tracing::error!(error = %e, "cannot publish company.registered; registration rolled back");
        return Err(Problem::unavailable(
            "the audit log is unavailable; nothing was registered, retry",
        ));
    }
    let issued = state.tokens.issue(company_id, now).map_err(|e| {
        tracing::error!(error = %e, "cannot sign token");
        Problem::unavailable("cannot issue a token right now; retry")
    })?;
    let mut pending = pending;
    pending
        .record_token(&NewToken {
            jti: issued.jti,
            company_id,
            kid: &issued.kid,
            label: "",
            issued_at: issued.issued_at,
            expires_at: issued.expires_at,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot record the registration's token");
            Problem::unavailable("cannot register right now; retry")
        })?;
    pending.commit().await.map_err(|e| {
        tracing::error!(error = %e, "cannot commit registration");
        Problem::unavailable("cannot register right now; retry")
    })?;
    tracing::info!(%company_id, "company registered");
    let body = Registered {
        company_id,
        token: issued.token,
        token_expires_at: issued.expires_at,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, "/v1/companies/me")],
        Json(body),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/companies/me",
    tag = "companies",
    operation_id = "getOwnCompany",
    summary = "The token's company",
    responses(
        (status = 200, description = "The company the token belongs to.", content_type = "application/json", body = CompanyView),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn me(auth: Authenticated) -> Json<CompanyView> {
    Json(auth.company.into())
}
