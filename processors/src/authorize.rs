//! Records produced straight to Kafka carry the company's token in an `authorization` header;
//! the gateway forwards the caller's. Every processor that takes company data checks it the
//! same way, so Kafka is no back door around authentication.

use aval_core::token::TokenKeys;
use aval_store::Store;
use aval_store::companies::Access;
use rdkafka::Message;
use rdkafka::message::Headers;
use uuid::Uuid;

pub const AUTHORIZATION_HEADER: &str = "authorization";

#[derive(Debug)]
pub(crate) enum Authorization {
    Company(Uuid),
    /// The record must be dead-lettered for this reason.
    Refused(String),
}

/// Checks the record's token: signature, algorithm, expiry, then whether the company is active
/// and the token not revoked. `Err` only when the database could not answer (retry).
pub(crate) async fn authorize(
    message: &impl Message,
    tokens: &TokenKeys,
    store: &Store,
) -> Result<Authorization, aval_store::StoreError> {
    let header = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(AUTHORIZATION_HEADER))
            .and_then(|h| h.value)
    });
    let Some(value) = header else {
        return Ok(Authorization::Refused(
            "no authorization header: send the company's token as `Bearer <token>`".to_owned(),
        ));
    };
    let Ok(text) = std::str::from_utf8(value) else {
        return Ok(Authorization::Refused(
            "the authorization header is not text".to_owned(),
        ));
    };
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .unwrap_or(text)
        .trim();
    let (company, jti) = match tokens.verify(token) {
        Ok(claims) => claims,
        Err(e) => return Ok(Authorization::Refused(format!("token refused: {e}"))),
    };
    Ok(match store.access(company, jti).await? {
        Access::Granted(company) => Authorization::Company(company.id),
        Access::UnknownCompany => {
            Authorization::Refused("token refused: its company does not exist".to_owned())
        }
        Access::CompanyDeactivated => {
            Authorization::Refused("the company is deactivated".to_owned())
        }
        Access::TokenRevoked => Authorization::Refused("the token has been revoked".to_owned()),
    })
}
