//! Company tokens: HS256 JWTs issued at registration (and by `POST /v1/companies/me/tokens`)
//! and verified by the gateway and by every processor that takes records straight from
//! Kafka. Verification pins the algorithm (so `alg: none` or an algorithm confusion is refused
//! before any key is used) and requires `exp`, `iss` and `sub`; whether the company is still
//! active and the token not revoked is the caller's question.
//!
//! Keys: one signing key and any number of verification keys (the signing key among them),
//! each named by a `kid` derived from its secret ([`kid_of`]: a hash prefix, which says
//! nothing of the secret). Tokens carry the `kid` of the key that signed them; a token with
//! a `kid` is verified with that key only, a token without one (issued before keys had
//! names) with each verification key. Rotating the signing key adds a key and keeps the old
//! ones verifying, so nobody is logged out; [`TokenKeys::replace`] swaps the set in a running
//! process. Key material never appears in `Debug` output or errors.
//!
//! Records the gateway produces carry no token: a token in a record header is a bearer
//! credential for anyone who can read the topic. They carry the sender the gateway
//! authenticated (company and token id) and a seal, an HMAC over the sender and the record's
//! bytes under a key derived from the signing key's secret, so every process that verifies
//! tokens can verify seals, and a seal vouches for nothing but the record it came with. A
//! seal is checked against every verification key's seal key: records sealed just before a
//! rotation are still in flight after it.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

const ISSUER: &str = "aval";

/// The record header naming the sender the gateway authenticated: `<company id> <token id>`.
pub const SENDER_HEADER: &str = "aval-sender";
/// The record header with the seal over the sender and the record's bytes (hex).
pub const SEAL_HEADER: &str = "aval-seal";
/// Keeps the seal key apart from the token key derived from the same secret.
const SEAL_KEY_LABEL: &[u8] = b"aval record seal v1";
/// Keeps the key id apart from anything else computed from the secret.
const KID_LABEL: &[u8] = b"aval jwt kid v1";
/// The shortest secret accepted, configured or generated.
pub const MIN_SECRET_BYTES: usize = 32;
/// The length of a generated secret.
pub const GENERATED_SECRET_BYTES: usize = 32;

type HmacSha256 = Hmac<sha2::Sha256>;

/// A key's secret: never shown (`Debug` prints `<redacted>`), read only through
/// [`KeySecret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret(Vec<u8>);

impl KeySecret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// A fresh random secret from the operating system's generator.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = vec![0; GENERATED_SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The key id of this secret (see [`kid_of`]).
    pub fn kid(&self) -> String {
        kid_of(&self.0)
    }
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A key's id: the first 8 bytes of SHA-256 over a label and the secret, in hex (16
/// characters). Every process derives the same id from the same secret, and the id reveals
/// nothing usable of a secret of 32 random bytes.
pub fn kid_of(secret: &[u8]) -> String {
    let mut hash = sha2::Sha256::new();
    hash.update(KID_LABEL);
    hash.update(secret);
    hex::encode(&hash.finalize()[..8])
}

/// One key: what it signs and verifies with, and the seal key derived from it.
struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    seal_key: [u8; 32],
}

impl Key {
    fn new(secret: &KeySecret) -> Self {
        let mut derive =
            HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes any key length");
        derive.update(SEAL_KEY_LABEL);
        Self {
            kid: secret.kid(),
            encoding: EncodingKey::from_secret(secret.expose()),
            decoding: DecodingKey::from_secret(secret.expose()),
            seal_key: derive.finalize().into_bytes().into(),
        }
    }
}

/// The keys in use: the one that signs, and every one that verifies (the signing key too).
struct KeySet {
    signing: Arc<Key>,
    verifying: HashMap<String, Arc<Key>>,
}

impl KeySet {
    fn new(signing: &KeySecret, verifying: &[KeySecret]) -> Self {
        let signing = Arc::new(Key::new(signing));
        let mut set: HashMap<String, Arc<Key>> = verifying
            .iter()
            .map(|secret| {
                let key = Key::new(secret);
                (key.kid.clone(), Arc::new(key))
            })
            .collect();
        set.insert(signing.kid.clone(), signing.clone());
        Self {
            signing,
            verifying: set,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The company id.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
}

/// Signs and verifies tokens, and seals records, with a set of keys that can be replaced while
/// the process runs.
pub struct TokenKeys {
    keys: RwLock<Arc<KeySet>>,
    validation: Validation,
    ttl: Duration,
    /// Called when a token names a key this process does not know: the key set may be stale.
    on_unknown_key: RwLock<Option<Arc<dyn Fn() + Send + Sync>>>,
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
            .field("signing_kid", &self.signing_kid())
            .field("verifying_kids", &self.verifying_kids())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A token that was issued: the string for the client, and its identity for revocation.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: Uuid,
    pub kid: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused (all are 401: the client must get a new token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    /// Signed with a key this process does not know (yet, or ever).
    #[error("the token is not valid: its key (kid) is unknown")]
    UnknownKey,
}

impl TokenKeys {
    /// One key, signing and verifying: a configured secret, or a test's.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self::with_keys(&KeySecret::new(secret), &[], ttl)
    }

    /// `signing` signs; it and each of `verifying` verify.
    pub fn with_keys(signing: &KeySecret, verifying: &[KeySecret], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;
        Self {
            keys: RwLock::new(Arc::new(KeySet::new(signing, verifying))),
            validation,
            ttl,
            on_unknown_key: RwLock::new(None),
        }
    }

    /// Uses these keys from now on (a rotation, heard of while running).
    pub fn replace(&self, signing: &KeySecret, verifying: &[KeySecret]) {
        let set = Arc::new(KeySet::new(signing, verifying));
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = set;
    }

    /// Calls `hook` whenever a token names an unknown key, so the caller can read the key set
    /// again (rate-limited by the caller).
    pub fn on_unknown_key(&self, hook: impl Fn() + Send + Sync + 'static) {
        *self
            .on_unknown_key
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(hook));
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The id of the key that signs new tokens.
    pub fn signing_kid(&self) -> String {
        self.current().signing.kid.clone()
    }

    /// The ids of every key that verifies, sorted.
    pub fn verifying_kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.current().verifying.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// The headers that vouch that `company`, with token `jti`, sent `payload`: sealed with
    /// the signing key's seal key.
    pub fn seal(&self, company: Uuid, jti: Uuid, payload: &[u8]) -> Sealed {
        let sender = format!("{company} {jti}");
        let key = self.current().signing.clone();
        let seal = hex::encode(seal_mac(&key, &sender, payload).finalize().into_bytes());
        Sealed { sender, seal }
    }

    /// The (company, token id) a sealed record's headers name, when its seal matches its bytes
    /// under any verification key's seal key.
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
        let keys = self.current();
        // The signing key first: nearly every record is sealed with it.
        let matches = |key: &Key| seal_mac(key, sender, payload).verify_slice(&seal).is_ok();
        if matches(&keys.signing)
            || keys
                .verifying
                .values()
                .any(|key| key.kid != keys.signing.kid && matches(key))
        {
            Ok((company, jti))
        } else {
            Err(SealError::Mismatch)
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
        let key = self.current().signing.clone();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)?;
        Ok(IssuedToken {
            token,
            jti,
            kid: key.kid.clone(),
            issued_at: now,
            expires_at,
        })
    }

    /// Checks signature, algorithm, issuer and expiry; returns (company id, jti).
    pub fn verify(&self, token: &str) -> Result<(Uuid, Uuid), TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let keys = self.current();
        let data = match header.kid {
            Some(kid) => {
                let Some(key) = keys.verifying.get(&kid) else {
                    let hook = self
                        .on_unknown_key
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    if let Some(hook) = hook {
                        hook();
                    }
                    return Err(TokenError::UnknownKey);
                };
                decode(token, key, &self.validation)?
            }
            // Issued before tokens named their key: each key is tried, the signing key first.
            None => {
                let mut result = decode(token, &keys.signing, &self.validation);
                for key in keys.verifying.values() {
                    if !matches!(result, Err(TokenError::Invalid(_))) {
                        break;
                    }
                    if key.kid != keys.signing.kid {
                        result = decode(token, key, &self.validation);
                    }
                }
                result?
            }
        };
        let company = Uuid::parse_str(&data.sub)
            .map_err(|_| TokenError::Invalid("sub is not a company id".to_owned()))?;
        let jti = Uuid::parse_str(&data.jti)
            .map_err(|_| TokenError::Invalid("jti is not a token id".to_owned()))?;
        Ok((company, jti))
    }
}

fn decode(token: &str, key: &Key, validation: &Validation) -> Result<Claims, TokenError> {
    jsonwebtoken::decode::<Claims>(token, &key.decoding, validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid(e.to_string()),
        })
}

fn seal_mac(key: &Key, sender: &str, payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(&key.seal_key).expect("a 32-byte key");
    // The sender is text without the separator, so (sender, payload) splits one way only.
    mac.update(sender.as_bytes());
    mac.update(&[0x1f]);
    mac.update(payload);
    mac
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
        // It names a key this installation does not have.
        assert_eq!(keys().verify(&forged.token), Err(TokenError::UnknownKey));
    }

    fn secret(byte: u8) -> KeySecret {
        KeySecret::new(vec![byte; 32])
    }

    #[test]
    fn tokens_name_their_key_and_the_kid_is_derived_from_the_secret() {
        let keys = keys();
        let issued = keys.issue(Uuid::new_v4(), Utc::now()).expect("issue");
        let header = jsonwebtoken::decode_header(&issued.token).expect("header");
        assert_eq!(header.kid.as_deref(), Some(issued.kid.as_str()));
        assert_eq!(issued.kid, kid_of(b"0123456789abcdef0123456789abcdef"));
        assert_eq!(issued.kid.len(), 16);
        assert_ne!(kid_of(&[1; 32]), kid_of(&[2; 32]));
        assert_ne!(KeySecret::generate(), KeySecret::generate());
        assert_eq!(KeySecret::generate().expose().len(), GENERATED_SECRET_BYTES);
    }

    #[test]
    fn a_rotation_keeps_old_tokens_and_seals_valid_and_signs_with_the_new_key() {
        let ttl = Duration::days(1);
        let (old, new) = (secret(1), secret(2));
        let keys = TokenKeys::with_keys(&old, &[], ttl);
        let company = Uuid::new_v4();
        let before = keys.issue(company, Utc::now()).expect("issue");
        let sealed = keys.seal(company, before.jti, b"bytes");
        keys.replace(&new, std::slice::from_ref(&old));
        assert_eq!(keys.signing_kid(), new.kid());
        assert_eq!(keys.verify(&before.token), Ok((company, before.jti)));
        let after = keys.issue(company, Utc::now()).expect("issue");
        assert_eq!(after.kid, new.kid());
        assert_eq!(keys.verify(&after.token), Ok((company, after.jti)));
        // A record sealed before the rotation is still in flight after it.
        let unseal = |keys: &TokenKeys, sealed: &Sealed| {
            keys.unseal(sealed.sender.as_bytes(), sealed.seal.as_bytes(), b"bytes")
        };
        assert_eq!(unseal(&keys, &sealed), Ok((company, before.jti)));
        let resealed = keys.seal(company, after.jti, b"bytes");
        assert_ne!(resealed.seal, keys.seal(company, after.jti, b"other").seal);
        // A process that knows only the old key does not know the new one's tokens or seals,
        // and a process with only the new key no longer takes the old key's.
        let old_only = TokenKeys::with_keys(&old, &[], ttl);
        assert_eq!(old_only.verify(&after.token), Err(TokenError::UnknownKey));
        assert_eq!(unseal(&old_only, &resealed), Err(SealError::Mismatch));
        let new_only = TokenKeys::with_keys(&new, &[], ttl);
        assert_eq!(new_only.verify(&before.token), Err(TokenError::UnknownKey));
        assert_eq!(unseal(&new_only, &sealed), Err(SealError::Mismatch));
    }

    #[test]
    fn an_unknown_kid_calls_the_hook_and_a_forged_kid_is_refused() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let keys = keys();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        keys.on_unknown_key(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let other = TokenKeys::with_keys(&secret(9), &[], Duration::days(1));
        let unknown = other.issue(Uuid::new_v4(), Utc::now()).expect("issue");
        assert_eq!(keys.verify(&unknown.token), Err(TokenError::UnknownKey));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Another key's signature under this key's kid: refused, no hook.
        let claims = Claims {
            sub: Uuid::new_v4().to_string(),
            iat: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 60,
            jti: Uuid::new_v4().to_string(),
            iss: ISSUER.to_owned(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys.signing_kid());
        let forged = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&[9; 32]))
            .expect("sign");
        assert!(matches!(keys.verify(&forged), Err(TokenError::Invalid(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn tokens_without_a_kid_verify_with_any_verification_key() {
        let (old, new) = (secret(1), secret(2));
        let company = Uuid::new_v4();
        let claims = Claims {
            sub: company.to_string(),
            iat: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 60,
            jti: Uuid::new_v4().to_string(),
            iss: ISSUER.to_owned(),
        };
        let legacy = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(old.expose()),
        )
        .expect("sign");
        let keys = TokenKeys::with_keys(&new, std::slice::from_ref(&old), Duration::days(1));
        assert!(keys.verify(&legacy).is_ok());
        let new_only = TokenKeys::with_keys(&new, &[], Duration::days(1));
        assert!(matches!(
            new_only.verify(&legacy),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let secret = KeySecret::new(b"a-very-secret-secret-of-32-bytes".to_vec());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        let keys = TokenKeys::with_keys(&secret, &[], Duration::days(1));
        let shown = format!("{keys:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains(&secret.kid()), "{shown}");
    }
}
