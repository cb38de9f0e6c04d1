//! The analyst console: `GET /` is its page and `GET /console/{path}` its scripts, styles and
//! vendored chart library. The files are those of `gateway/console/`, built into the binary
//! (build.rs), so every gateway serves the console offline and in step with its API. The page
//! calls the API like any client, with the company token from the browser's session storage.

use crate::problem::Problem;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/console_files.rs"));
}

/// Only this origin's scripts, styles and API; no inline script, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// Where the console's files come from.
#[derive(Debug, Clone, Default)]
pub struct Console {
    /// `None`: the files built into the binary. `Some`: read from this folder at each request
    /// (`AVAL_CONSOLE_DIR`), for working on the console without rebuilding the gateway.
    dir: Option<Arc<PathBuf>>,
}

impl Console {
    /// The files built into the binary.
    pub fn embedded() -> Self {
        Self { dir: None }
    }

    /// The files of `dir`, read at each request.
    pub fn from_dir(dir: PathBuf) -> Self {
        Self {
            dir: Some(Arc::new(dir)),
        }
    }

    async fn file(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        match &self.dir {
            None => embedded::FILES
                .binary_search_by(|(name, _)| (*name).cmp(path))
                .ok()
                .map(|i| Cow::Borrowed(embedded::FILES[i].1)),
            Some(dir) => tokio::fs::read(dir.join(path)).await.ok().map(Cow::Owned),
        }
    }
}

/// The page and its files; the router's fallback answers everything else.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(console: Console) -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/console/{*path}", get(asset))
        .with_state(console)
}

async fn page(State(console): State<Console>, headers: HeaderMap) -> Response {
    serve(&console, "index.html", &headers).await
}

async fn asset(
    State(console): State<Console>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    // Names are plain relative paths: nothing may climb out of the folder.
    let plain = path
        .split('/')
        .all(|part| !part.is_empty() && part != ".." && part != "." && !part.contains('\\'));
    if !plain {
        return Problem::not_found("no such console file").into_response();
    }
    serve(&console, &path, &headers).await
}

async fn serve(console: &Console, path: &str, headers: &HeaderMap) -> Response {
    let (Some(bytes), Some(content_type)) = (console.file(path).await, content_type(path)) else {
        return Problem::not_found("no such console file").into_response();
    };
    let etag = etag(&bytes);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            bytes.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    // Revalidated at each load (a 304 when unchanged), so a new gateway's console is used at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Files of other kinds are not served, even when present.
fn content_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

fn etag(bytes: &[u8]) -> String {
    // SipHash with fixed keys: the same bytes give the same tag in every gateway of a build.
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    fn folder() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aval-console-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("js")).expect("temp dir");
        std::fs::write(dir.join("index.html"), "<!doctype html><title>aval</title>").expect("w");
        std::fs::write(dir.join("js/main.js"), "export {};").expect("w");
        std::fs::write(dir.join("notes.exe"), "MZ").expect("w");
        dir
    }

    async fn get(router: &Router, uri: &str, etag: Option<&str>) -> Response {
        let mut request = Request::get(uri);
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        router
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    #[tokio::test]
    async fn serves_the_page_and_its_files_with_their_type_and_policy() {
        let router: Router = routes(Console::from_dir(folder()));
        let page = get(&router, "/", None).await;
        assert_eq!(page.status(), 200);
        let h = page.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("ascii")
                .contains("script-src 'self';")
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let etag = h[header::ETAG].to_str().expect("ascii").to_owned();
        let body = to_bytes(page.into_body(), 1 << 20).await.expect("body");
        assert!(body.starts_with(b"<!doctype html>"));
        assert_eq!(get(&router, "/", Some(&etag)).await.status(), 304);

        let script = get(&router, "/console/js/main.js", None).await;
        assert_eq!(script.status(), 200);
        assert_eq!(
            script.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn refuses_unknown_kinds_missing_files_and_paths_that_climb() {
        let router: Router = routes(Console::from_dir(folder().join("js")));
        for uri in [
            "/console/notes.exe",
            "/console/missing.js",
            "/console/../index.html",
            "/console/%2e%2e/index.html",
            "/console/js//main.js",
        ] {
            assert_eq!(get(&router, uri, None).await.status(), 404, "{uri}");
        }
    }

    #[test]
    fn the_built_in_files_are_sorted_and_include_the_page() {
        let names: Vec<&str> = embedded::FILES.iter().map(|(n, _)| *n).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        assert!(names.contains(&"index.html"), "{names:?}");
        assert!(names.iter().all(|n| content_type(n).is_some()), "{names:?}");
    }
}
