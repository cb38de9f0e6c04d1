//! Company (tenant) pre-registration rules.

use crate::FieldErrors;
use crate::text::{self, TextKind};
use serde::{Deserialize, Serialize};

/// Longest company name, before trimming.
pub const MAX_NAME_CHARS: usize = 200;
/// RFC 5321 limits: 64 for the local part, 254 for the whole address (before trimming).
pub const MAX_EMAIL_CHARS: usize = 254;
const MAX_LOCAL_PART_CHARS: usize = 64;

/// What a client sends to register. Unknown fields are refused so a typo never goes unnoticed.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// Optional for serde only: a missing name is reported with every other bad field (422).
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = openapi::name, required = true)
    )]
    pub name: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = openapi::email, required = true)
    )]
    pub email: Option<String>,
}

/// A registration that passed every rule: name trimmed, email trimmed and lower-cased (mail
/// providers treat addresses case-insensitively, so uniqueness must too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    pub name: String,
    pub email: String,
}

impl RegistrationRequest {
    pub fn validate(self) -> Result<Registration, FieldErrors> {
        let mut errors = FieldErrors::default();
        // Characters and lengths are checked before trimming, on what the client sent.
        let name = self.name.as_deref().map(str::trim).unwrap_or_default();
        match self.name.as_deref() {
            None => errors.push("name", "is required"),
            Some(raw) => {
                if let Err(reason) = text::check(raw, TextKind::Identifier, MAX_NAME_CHARS) {
                    errors.push("name", reason);
                } else if name.is_empty() {
                    errors.push("name", "must not be empty");
                }
            }
        }
        let email = self
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .unwrap_or_default();
        match self.email.as_deref() {
            None => errors.push("email", "is required"),
            Some(raw) => {
                let checked = text::check(raw, TextKind::Value, MAX_EMAIL_CHARS)
                    .and_then(|()| check_email(&email).map_err(str::to_owned));
                if let Err(reason) = checked {
                    errors.push("email", reason);
                }
            }
        }
        errors.into_result(Registration {
            name: name.to_owned(),
            email,
        })
    }
}

/// A deliberately conservative address check: one `@`, a dot-atom local part and a domain of
/// at least two DNS labels. Quoted local parts and IP-literal domains are valid in RFC 5322 but
/// are not used by businesses, and accepting them would only widen what reaches a mail system.
fn check_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() {
        return Err("must not be empty");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must contain an @");
    };
    if domain.contains('@') {
        return Err("must contain exactly one @");
    }
    let local_ok = !local.is_empty()
        && local.len() <= MAX_LOCAL_PART_CHARS
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok {
        return Err("has an invalid part before the @");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()) && tld.len() >= 2);
    if !domain_ok {
        return Err("has an invalid domain after the @");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: Option<&str>, email: Option<&str>) -> RegistrationRequest {
        RegistrationRequest {
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
        }
    }

    #[test]
    fn accepts_and_normalises_a_good_registration() {
        let ok = request(Some("  Acme Ltda "), Some(" Credit@ACME.com.br "))
            .validate()
            .expect("valid");
        assert_eq!(ok.name, "Acme Ltda");
        assert_eq!(ok.email, "credit@acme.com.br");
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let errors = request(None, Some("nope")).validate().expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email"]);
    }

    #[test]
    fn name_limits() {
        assert!(request(Some("   "), Some("a@b.co")).validate().is_err());
        assert!(
            request(Some(&"x".repeat(200)), Some("a@b.co"))
                .validate()
                .is_ok()
        );
        assert!(
            request(Some(&"x".repeat(201)), Some("a@b.co"))
                .validate()
                .is_err()
        );
        assert!(request(Some("a\u{0}b"), Some("a@b.co")).validate().is_err());
    }

    fn name_reason(name: &str) -> Option<String> {
        let errors = request(Some(name), Some("a@b.co")).validate().err()?;
        errors
            .iter()
            .next()
            .map(|e| format!("{}: {}", e.field, e.reason))
    }

    #[test]
    fn names_refuse_controls_line_breaks_and_format_characters() {
        assert_eq!(name_reason("Distribuidora São João Ltda"), None);
        assert_eq!(
            name_reason("Acme\u{0}"),
            Some("name: contains a control character (U+0000) at position 4".to_owned())
        );
        assert_eq!(
            name_reason("Acme\u{9F}"),
            Some("name: contains a control character (U+009F) at position 4".to_owned())
        );
        assert_eq!(
            name_reason("Acme\tLtda"),
            Some("name: contains a tab or line break (U+0009) at position 4".to_owned())
        );
        assert_eq!(
            name_reason("Acme Ltda\n"),
            Some("name: contains a tab or line break (U+000A) at position 9".to_owned())
        );
        assert_eq!(
            name_reason("São\u{202E}adtL"),
            Some(
                "name: contains an invisible format character, not allowed in ids and names, \
                 (U+202E) at position 3"
                    .to_owned()
            )
        );
        assert!(name_reason("Ac\u{200B}me").is_some());
        assert!(name_reason("Acme\u{E0041}").is_some());
    }

    #[test]
    fn emails_refuse_controls_before_their_shape_is_read() {
        let errors = request(Some("Acme"), Some("a\u{7F}@b.co"))
            .validate()
            .expect_err("invalid");
        let reasons: Vec<_> = errors.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["contains a control character (U+007F) at position 1"]
        );
        let long = format!("{}@b.co", "a".repeat(MAX_EMAIL_CHARS));
        assert!(request(Some("Acme"), Some(&long)).validate().is_err());
    }

    #[test]
    fn email_shapes() {
        for good in ["a@b.co", "first.last+tag@sub.example.com.br", "x_y@a-b.io"] {
            assert!(check_email(good).is_ok(), "{good} should pass");
        }
        for bad in [
            "",
            "plain",
            "@b.co",
            "a@",
            "a@b",
            "a@@b.co",
            "a@b@c.co",
            ".a@b.co",
            "a.@b.co",
            "a..b@c.co",
            "a b@c.co",
            "a@-b.co",
            "a@b-.co",
            "a@b..co",
            "a@b.c0",
            "a@b.c",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?} should fail");
        }
        let long_local = format!("{}@b.co", "a".repeat(65));
        assert!(check_email(&long_local).is_err());
    }
}

/// The API document's schemas of a registration's fields, by the rules of `validate`.
#[cfg(feature = "openapi")]
mod openapi {
    use super::{MAX_EMAIL_CHARS, MAX_LOCAL_PART_CHARS, MAX_NAME_CHARS};
    use crate::text;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

    pub(super) fn name() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_NAME_CHARS))
            .description(Some(format!(
                "The company's name: at most {MAX_NAME_CHARS} characters as sent, one line, no \
                 control characters, no invisible format characters (zero-width, bidi \
                 overrides), and not blank (stored trimmed)."
            )))
            .pattern(Some(text::name_pattern()))
            .into()
    }

    /// The dot-atom local part, then two or more DNS labels, the last of letters. A pattern a
    /// generator can draw from has no look-ahead, so the local part's 64 characters are kept
    /// by shape: any length with no dot, or up to two dots within 21 + 2 x 21 characters.
    pub(super) fn email_pattern() -> String {
        let atom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
        let domain = "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}";
        format!(
            "^{atom}{{1,{MAX_LOCAL_PART_CHARS}}}@{domain}$|^{atom}{{1,21}}(?:\\.{atom}{{1,20}}){{1,2}}@{domain}$"
        )
    }

    pub(super) fn email() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(MAX_EMAIL_CHARS))
            .pattern(Some(email_pattern()))
            .description(Some(format!(
                "Contact address, unique per company, compared trimmed and lower-cased. A plain \
                 address: a dot-atom of at most {MAX_LOCAL_PART_CHARS} characters before the @ \
                 (letters, digits and ! # $ % & ' * + - / = ? ^ _ ` {{ | }} ~, dots only between \
                 them), and a domain of at least two labels of letters, digits and inner \
                 hyphens, at most 63 characters each, the last one of letters only. No quoted \
                 local part, no IP domain. (The pattern admits local parts of up to two dots; \
                 more dots are taken too, within the {MAX_LOCAL_PART_CHARS} characters.)"
            )))
            .into()
    }
}
