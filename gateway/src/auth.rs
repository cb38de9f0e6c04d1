//! The authentication extractor: every route but registration and health takes
//! [`Authenticated`], which verifies the bearer token (see [`aval_core::token`]) and asks the
//! store whether the company is still active and the token not withdrawn (the store remembers
//! granted tokens while it hears of every withdrawal, so most requests skip the database).

use crate::problem::Problem;
use crate::state::AppState;
use aval_core::token::{SEAL_HEADER, SENDER_HEADER};
use aval_store::companies::{Access, Company};
use aval_topics::publisher::Delivered;
use aval_topics::{TopicSpec, TopicsError, WireRecord};
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

/// Produces `record` to `topic` on the caller's behalf under `key` (one of its company's,
/// [`aval_topics::keys`]), to `partition` when one is named, else to the key's; sealed (see
/// [`aval_core::token`]): the headers name the company and token id the gateway authenticated
/// and carry the seal over the encoded bytes; the caller's token itself stays here.
/// Processors check the seal and the token id's access again, so Kafka is no back door.
pub(crate) async fn publish_sealed<R: WireRecord>(
    state: &AppState,
    auth: &Authenticated,
    topic: &TopicSpec,
    partition: Option<i32>,
    key: &str,
    record: &R,
    extra_headers: &[(&str, &[u8])],
) -> Result<Delivered, TopicsError> {
    let publisher = state.publisher_for(topic);
    let payload = publisher.codec().encode(topic, record).await?;
    let sealed = state.tokens.seal(auth.company.id, auth.jti, &payload);
    let mut headers: Vec<(&str, &[u8])> = vec![
        (SENDER_HEADER, sealed.sender.as_bytes()),
        (SEAL_HEADER, sealed.seal.as_bytes()),
    ];
    headers.extend_from_slice(extra_headers);
    publisher
        .publish_raw_to(
            &topic.name,
            partition,
            Some(key.as_bytes()),
            &payload,
            &headers,
        )
        .await
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
