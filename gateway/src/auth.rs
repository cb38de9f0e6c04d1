//! The authentication extractor: every route but registration and health takes
//! [`Authenticated`], which verifies the bearer token (see [`aval_core::token`]) and asks the
//! store whether the company is still active and the token not withdrawn (the store remembers
//! granted tokens while it hears of every withdrawal, so most requests skip the database).

use crate::problem::Problem;
use crate::state::AppState;
use aval_store::companies::{Access, Company};
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

pub use aval_core::token::{Claims, IssuedToken, TokenError, TokenKeys};

/// The company a request acts for. Every route but registration and health takes this
/// extractor, so no handler can forget to authenticate, and the company always comes from the
/// token, never from the body.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub company: Company,
    pub jti: Uuid,
}

impl Authenticated {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("company:{}", self.company.id)
    }
}

/// The caller's `Authorization` header as sent, for records the gateway produces: processors
/// check the token again, so Kafka is no back door around it.
pub(crate) fn forwarded_authorization(headers: &axum::http::HeaderMap) -> &[u8] {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default()
}

impl<S> FromRequestParts<S> for Authenticated
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Checked once per request: `authenticate` may have done it already.
        if let Some(auth) = parts.extensions.get::<Authenticated>() {
            return Ok(auth.clone());
        }
        let state = AppState::from_ref(state);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be: Bearer <token>")
            })?;
        let (company_id, jti) = state
            .tokens
            .verify(token)
            .map_err(|e| Problem::unauthorized(e.to_string()))?;
        match state.store.access(company_id, jti).await {
            Ok(Access::Granted(company)) => Ok(Authenticated { company, jti }),
            Ok(Access::UnknownCompany) => {
                Err(Problem::unauthorized("the token's company does not exist"))
            }
            Ok(Access::CompanyDeactivated) => Err(Problem::forbidden("the company is deactivated")),
            Ok(Access::TokenRevoked) => Err(Problem::forbidden("the token has been revoked")),
            Err(e) => {
                tracing::error!(error = %e, "cannot check token access");
                Err(Problem::unavailable(
                    "cannot check the token right now; retry",
                ))
            }
        }
    }
}

/// Authenticates before the handler, for layers that need the company (admission control);
/// the handler's extractor then reuses the result instead of checking the token again.
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match Authenticated::from_request_parts(&mut parts, &state).await {
        Ok(auth) => {
            parts.extensions.insert(auth);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(problem) => problem.into_response(),
    }
}
