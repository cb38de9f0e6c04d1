//! Records produced straight to Kafka carry the company's token in an `authorization` header;
//! the gateway forwards the caller's. Every processor that takes company data checks it the
//! same way, so Kafka is no back door around authentication.

use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::token::TokenKeys;
use aval_store::Store;
use aval_store::companies::Access;
use chrono::{DateTime, Utc};
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
    let (company, jti) = match token_claims(message, tokens) {
        Ok(claims) => claims,
        Err(reason) => return Ok(Authorization::Refused(reason)),
    };
    Ok(judge(store.access(company, jti).await?))
}

/// The (company, token id) the record's token carries, when its signature, algorithm and
/// expiry check out; else why it is refused. The database check follows ([`judge`]).
pub(crate) fn token_claims(
    message: &impl Message,
    tokens: &TokenKeys,
) -> Result<(Uuid, Uuid), String> {
    let header = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(AUTHORIZATION_HEADER))
            .and_then(|h| h.value)
    });
    let Some(value) = header else {
        return Err(
            "no authorization header: send the company's token as `Bearer <token>`".to_owned(),
        );
    };
    let Ok(text) = std::str::from_utf8(value) else {
        return Err("the authorization header is not text".to_owned());
    };
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .unwrap_or(text)
        .trim();
    tokens
        .verify(token)
        .map_err(|e| format!("token refused: {e}"))
}

/// What the database says of a token with valid claims.
pub(crate) fn judge(access: Access) -> Authorization {
    match access {
        Access::Granted(company) => Authorization::Company(company.id),
        Access::UnknownCompany => {
            Authorization::Refused("token refused: its company does not exist".to_owned())
        }
        Access::CompanyDeactivated => {
            Authorization::Refused("the company is deactivated".to_owned())
        }
        Access::TokenRevoked => Authorization::Refused("the token has been revoked".to_owned()),
    }
}

/// Names the ids of dead-letter events, fixed by where the record sits, so a repeat of the
/// dead-lettering repeats the same event.
const DEAD_LETTER_NAMESPACE: Uuid = Uuid::from_u128(0x6176_616c_2d64_6561_642d_6c65_7474_6572);

/// The audit event telling a record's company that `processor` dead-lettered the record, when
/// the record's token names the company (a record without a valid token belongs to nobody we
/// can tell).
pub(crate) fn dead_letter_event(
    message: &impl Message,
    tokens: &TokenKeys,
    processor: &str,
    reason: &str,
) -> Option<AuditEvent> {
    let (company, _) = token_claims(message, tokens).ok()?;
    let at = message
        .timestamp()
        .to_millis()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    let mut event = AuditEvent::new(
        company,
        AuditKind::RecordDeadLettered,
        format!("system:{processor}"),
        at,
    )
    .with_detail("topic", message.topic())
    .with_detail("partition", message.partition().to_string())
    .with_detail("offset", message.offset().to_string())
    .with_detail("reason", reason);
    event.event_id = Uuid::new_v5(
        &DEAD_LETTER_NAMESPACE,
        format!(
            "{}\u{1f}{}\u{1f}{}",
            message.topic(),
            message.partition(),
            message.offset()
        )
        .as_bytes(),
    );
    Some(event)
}
