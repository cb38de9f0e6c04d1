//! Company tokens: HS256 JWTs issued at registration and verified by the gateway and by every
//! processor that takes records straight from Kafka. Verification pins the algorithm (so
//! `alg: none` or an algorithm confusion is refused before any key is used) and requires
//! `exp`, `iss` and `sub`; whether the company is still active is the caller's question.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "aval";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The company id.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
}

/// Signs and verifies tokens with one shared secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
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
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
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
