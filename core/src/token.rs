//! Company tokens: HS256 JWTs issued at registration and verified by the gateway and by every
//! processor that takes records straight from Kafka. Verification pins the algorithm (so
//! `alg: none` or an algorithm confusion is refused before any key is used) and requires
//! `exp`, `iss` and `sub`; whether the company is still active is the caller's question.
//!
//! Records the gateway produces carry no token: a token in a record header is a bearer
//! credential for anyone who can read the topic. They carry the sender the gateway
//! authenticated (company and token id) and a seal, an HMAC over the sender and the record's
//! bytes under a key derived from the token secret, so every process that verifies tokens can
//! verify seals, and a seal vouches for nothing but the record it came with.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "aval";

/// The record header naming the sender the gateway authenticated: `<company id> <token id>`.
pub const SENDER_HEADER: &str = "aval-sender";
/// The record header with the seal over the sender and the record's bytes (hex).
pub const SEAL_HEADER: &str = "aval-seal";
/// Keeps the seal key apart from the token key derived from the same secret.
const SEAL_KEY_LABEL: &[u8] = b"aval record seal v1";

type HmacSha256 = Hmac<sha2::Sha256>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The company id.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
}

/// Signs and verifies tokens, and seals records, with one shared secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    seal_key: [u8; 32],
}

/// The headers of a sealed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub sender: String,
    pub seal: String,
}

/// Why a sealed record is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the {SENDER_HEADER} header must be `<company id> <token id>`")]
    Sender,
    #[error(
        "the {SEAL_HEADER} header does not match the record: only aval's gateway seals records"
    )]
    Mismatch,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A token that was issued: the string for the client, and its identity for revocation.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused (all are 401: the client must get a new token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;
        let mut derive = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        derive.update(SEAL_KEY_LABEL);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            seal_key: derive.finalize().into_bytes().into(),
        }
    }

    /// The headers that vouch that `company`, with token `jti`, sent `payload`.
    pub fn seal(&self, company: Uuid, jti: Uuid, payload: &[u8]) -> Sealed {
        let sender = format!("{company} {jti}");
        let seal = hex::encode(self.seal_mac(&sender, payload).finalize().into_bytes());
        Sealed { sender, seal }
    }

    /// The (company, token id) a sealed record's headers name, when its seal matches its bytes.
    pub fn unseal(
        &self,
        sender: &[u8],
        seal: &[u8],
        payload: &[u8],
    ) -> Result<(Uuid, Uuid), SealError> {
        let sender = std::str::from_utf8(sender).map_err(|_| SealError::Sender)?;
        let (company, jti) = sender
            .split_once(' ')
            .and_then(|(c, j)| Some((Uuid::parse_str(c).ok()?, Uuid::parse_str(j).ok()?)))
            .ok_or(SealError::Sender)?;
        let seal = hex::decode(seal).map_err(|_| SealError::Mismatch)?;
        self.seal_mac(sender, payload)
            .verify_slice(&seal)
            .map_err(|_| SealError::Mismatch)?;
        Ok((company, jti))
    }

    fn seal_mac(&self, sender: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.seal_key).expect("a 32-byte key");
        // The sender is text without the separator, so (sender, payload) splits one way only.
        mac.update(sender.as_bytes());
        mac.update(&[0x1f]);
        mac.update(payload);
        mac
    }

    pub fn issue(
        &self,
        company_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let jti = Uuid::new_v4();
        let expires_at = now + self.ttl;
        let claims = Claims {
            sub: company_id.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: jti.to_string(),
            iss: ISSUER.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken {
            token,
            jti,
            expires_at,
        })
    }

    /// Checks signature, algorithm, issuer and expiry; returns (company id, jti).
    pub fn verify(&self, token: &str) -> Result<(Uuid, Uuid), TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })?;
        let company = Uuid::parse_str(&data.claims.sub)
            .map_err(|_| TokenError::Invalid("sub is not a company id".to_owned()))?;
        let jti = Uuid::parse_str(&data.claims.jti)
            .map_err(|_| TokenError::Invalid("jti is not a token id".to_owned()))?;
        Ok((company, jti))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", Duration::days(1))
    }

    #[test]
    fn issued_tokens_verify_to_their_company() {
        let company = Uuid::new_v4();
        let issued = keys().issue(company, Utc::now()).expect("issue");
        assert_eq!(keys().verify(&issued.token), Ok((company, issued.jti)));
    }

    #[test]
    fn a_seal_vouches_for_its_sender_and_bytes_only() {
        let (company, jti) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = keys().seal(company, jti, b"record bytes");
        let unseal = |sender: &str, seal: &str, payload: &[u8]| {
            keys().unseal(sender.as_bytes(), seal.as_bytes(), payload)
        };
        assert_eq!(
            unseal(&sealed.sender, &sealed.seal, b"record bytes"),
            Ok((company, jti))
        );
        assert_eq!(
            unseal(&sealed.sender, &sealed.seal, b"other bytes"),
            Err(SealError::Mismatch)
        );
        let other_sender = format!("{} {jti}", Uuid::new_v4());
        assert_eq!(
            unseal(&other_sender, &sealed.seal, b"record bytes"),
            Err(SealError::Mismatch)
        );
        assert_eq!(
            unseal("not a sender", &sealed.seal, b"record bytes"),
            Err(SealError::Sender)
        );
        let other_keys = TokenKeys::new(b"another-secret-another-secret-!!", Duration::days(1));
        let forged = other_keys.seal(company, jti, b"record bytes");
        assert_eq!(
            unseal(&forged.sender, &forged.seal, b"record bytes"),
            Err(SealError::Mismatch)
        );
        // The seal key is not the token key: a token's signature is no seal.
        let token = keys().issue(company, Utc::now()).expect("issue").token;
        let signature = token.rsplit('.').next().expect("signature");
        assert_eq!(
            unseal(&sealed.sender, signature, b"record bytes"),
            Err(SealError::Mismatch)
        );
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let old = keys()
            .issue(Uuid::new_v4(), Utc::now() - Duration::days(2))
            .expect("issue");
        assert_eq!(keys().verify(&old.token), Err(TokenError::Expired));
        let other = TokenKeys::new(b"another-secret-another-secret-!!", Duration::days(1));
        let forged = other.issue(Uuid::new_v4(), Utc::now()).expect("issue");
        assert!(matches!(
            keys().verify(&forged.token),
            Err(TokenError::Invalid(_))
        ));
    }
}
