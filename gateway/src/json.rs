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
            .map_err(|e| match e {
                BytesRejection::FailedToBufferBody(inner)
                    if inner.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    Problem::too_large(crate::BODY_LIMIT_BYTES)
                }
                other => Problem::malformed("", other.body_text()),
            })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses with the path of the first error (`items[3].amount`), which serde_json alone loses.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        // "." is the root and "?" a position serde could not name: both mean the body as a whole.
        let field = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        Problem::malformed(&field, e.inner().to_string())
    })?;
    deserializer
        .end()
        .map_err(|e| Problem::malformed("", e.to_string()))?;
    Ok(value)
}
