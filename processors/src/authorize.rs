//! Who sent a record. Records the gateway produces are sealed: they name the company and token
//! id it authenticated, with an HMAC over those and the record's bytes (see
//! [`aval_core::token`]). Records produced straight to Kafka carry the company's token in an
//! `authorization` header, which is verified here and never copied onward. Either way the
//! token id's access (company active, token not revoked) is checked against the database, so
//! Kafka is no back door around authentication.

use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::token::{SEAL_HEADER, SENDER_HEADER, TokenKeys};
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
    let (company, jti) = match sender(message, tokens) {
        Ok(sender) => sender,
        Err(reason) => return Ok(Authorization::Refused(reason)),
    };
    Ok(judge(store.access(company, jti).await?))
}

/// The (company, token id) that sent the record: from the gateway's seal when the record is
/// sealed, else from its token, when the token's signature, algorithm and expiry check out;
/// else why it is refused. The database check follows ([`judge`]).
pub(crate) fn sender(message: &impl Message, tokens: &TokenKeys) -> Result<(Uuid, Uuid), String> {
    if let Some(seal) = header(message, SEAL_HEADER) {
        let sender = header(message, SENDER_HEADER).unwrap_or_default();
        let payload = message.payload().unwrap_or_default();
        return tokens
            .unseal(sender, seal, payload)
            .map_err(|e| e.to_string());
    }
    let Some(value) = header(message, AUTHORIZATION_HEADER) else {
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

/// How the record came: `http` when the gateway sealed it (checked first, as [`sender`]
/// does), `kafka` when the company's own producer sent it with its token.
pub(crate) fn channel(message: &impl Message) -> &'static str {
    if header(message, SEAL_HEADER).is_some() {
        "http"
    } else {
        "kafka"
    }
}

fn header<'m>(message: &'m impl Message, name: &str) -> Option<&'m [u8]> {
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(name))
            .and_then(|h| h.value)
    })
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
/// the record's seal or token names the company (a record without either belongs to nobody we
/// can tell).
pub(crate) fn dead_letter_event(
    message: &impl Message,
    tokens: &TokenKeys,
    processor: &str,
    reason: &str,
) -> Option<AuditEvent> {
    let (company, _) = sender(message, tokens).ok()?;
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
    event.event_id = position_id(&DEAD_LETTER_NAMESPACE, message);
    Some(event)
}

/// An id fixed by where the record sits (topic, partition, offset), in `namespace`: the id of
/// an event derived from the record, so a redelivery derives the same one.
pub(crate) fn position_id(namespace: &Uuid, message: &impl Message) -> Uuid {
    Uuid::new_v5(
        namespace,
        format!(
            "{}\u{1f}{}\u{1f}{}",
            message.topic(),
            message.partition(),
            message.offset()
        )
        .as_bytes(),
    )
}
