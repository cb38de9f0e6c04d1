//! The JSON body extractor of every endpoint: like axum's `Json`, but its rejections are
//! problem documents naming the offending field path.

use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(Problem::unsupported_media_type());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(unreadable)?;
        parse(&bytes).map(JsonBody)
    }
}

/// The problem of a body that could not be read: over the limit, or cut off.
pub(crate) fn unreadable(rejection: BytesRejection) -> Problem {
    match rejection {
        BytesRejection::FailedToBufferBody(inner)
            if inner.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            Problem::too_large(crate::BODY_LIMIT_BYTES)
        }
        other => Problem::malformed("", other.body_text()),
    }
}

/// Parses with the path of the first error (`items[3].amount`), which serde_json alone loses.
/// Every body the API takes is a JSON object: anything else is refused before serde, which
/// would otherwise read a struct from an array of its fields in order (`[null, null]`).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err(Problem::malformed("", "the body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        // "." is the root and "?" a position serde could not name: both mean the body as a whole.
        let field = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        Problem::malformed(&field, reason(e.inner()))
    })?;
    deserializer
        .end()
        .map_err(|e| Problem::malformed("", e.to_string()))?;
    Ok(value)
}

/// serde_json's words, except for a lone surrogate (`"\ud800"`, valid JSON text but no
/// character, so no Rust string can hold it), which it calls an "end of hex escape".
fn reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let surrogate = ["lone leading surrogate", "unexpected end of hex escape"]
        .iter()
        .any(|code| text.starts_with(code));
    if surrogate {
        format!(
            "contains a lone surrogate escape (\\uD800 to \\uDFFF outside a pair), which is not a character, at line {} column {}",
            error.line(),
            error.column()
        )
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Debug, Deserialize)]
    struct Upload {
        #[allow(dead_code)]
        items: Vec<Value>,
    }

    async fn refusal(body: &'static str) -> Problem {
        let request = Request::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("request");
        match JsonBody::<Upload>::from_request(request, &()).await {
            Ok(_) => panic!("{body} was accepted"),
            Err(problem) => problem,
        }
    }

    /// A lone surrogate cannot become a Rust string, so it never reaches the validators: the
    /// parser's refusal must be a 400 naming where it is, not a 5xx.
    #[tokio::test]
    async fn a_lone_surrogate_is_a_400_naming_its_field_and_position() {
        for body in [
            r#"{"items": [{"id": "C\ud800"}]}"#,
            r#"{"items": [{"id": "C\udc00x"}]}"#,
            r#"{"items": [{"id": "C\ud800\u0041"}]}"#,
        ] {
            let problem = refusal(body).await;
            assert_eq!(problem.status(), StatusCode::BAD_REQUEST, "{body}");
            let json = serde_json::to_value(&problem).expect("json");
            assert_eq!(json["errors"][0]["field"], "items[0].id", "{json}");
            let reason = json["errors"][0]["reason"].as_str().unwrap_or_default();
            assert!(
                reason.starts_with("contains a lone surrogate escape")
                    && reason.contains("at line 1 column"),
                "{reason}"
            );
        }
    }
}
