//! Shared harness of the fuzz targets: one tokio runtime per process, and the request-script
//! format of the `api` target.
//!
//! A request script is text: requests separated by a line `===`. Each request is a request
//! line `METHOD /v1/path?query`, optional header lines `Name: value`, a blank line and the
//! body. A request without an `X-Vault-Token` header is sent with the dev root token `root`,
//! so that the fuzzer reaches the handlers behind the ACL as well as the ACL itself.
#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use tower::ServiceExt as _;

/// The process's runtime (current-thread: one input runs at a time).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Requests per input: enough to create an object and use it, small enough that one input
/// stays fast.
const MAX_REQUESTS: usize = 16;

/// One request of a script.
struct Scripted {
    method: Method,
    uri: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

fn parse_request(text: &str) -> Option<Scripted> {
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b),
        None => (text, ""),
    };
    let mut lines = head.lines();
    let (method, uri) = lines.next()?.trim().split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.push((
            HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            HeaderValue::from_str(value.trim()).ok()?,
        ));
    }
    Some(Scripted {
        method,
        uri: uri.trim().to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    })
}

/// Runs a request script against a fresh dev-mode core (in memory, every engine and auth
/// method of the server registered) through the HTTP router, as a client would.
///
/// Panics (which libFuzzer reports) when a request panics the server or is answered with 500:
/// in-memory storage never fails, so an internal error is a bug in a handler.
pub fn run_api_script(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let requests: Vec<Scripted> = text
        .split("\n===\n")
        .take(MAX_REQUESTS)
        .filter_map(parse_request)
        .collect();
    if requests.is_empty() {
        return;
    }
    runtime().block_on(async move {
        let storage: Arc<dyn hush_storage::Backend> = Arc::new(hush_storage::MemoryBackend::new());
        let config = hush_core::CoreConfig {
            engines: {
                let mut r = hush_core::engine::Registry::new();
                hush_engines::register(&mut r);
                r
            },
            auth_methods: {
                let mut r = hush_core::engine::Registry::new();
                hush_auth::register(&mut r);
                r
            },
            ..hush_core::CoreConfig::default()
        };
        let core = hush_core::Core::new(storage, config)
            .await
            .expect("a core over memory");
        core.init_dev(Some("root")).await.expect("dev init");
        let app = hush_http::api::router(core.clone());
        for r in requests {
            let mut builder = Request::builder().method(r.method).uri(r.uri.as_str());
            let has_token = r
                .headers
                .iter()
                .any(|(n, _)| n.as_str().eq_ignore_ascii_case("x-vault-token"));
            for (n, v) in r.headers {
                builder = builder.header(n, v);
            }
            if !has_token {
                builder = builder.header("x-vault-token", "root");
            }
            let Ok(mut req) = builder.body(Body::from(r.body)) else {
                continue;
            };
            req.extensions_mut()
                .insert(hush_http::api::ClientAddr(std::net::SocketAddr::from((
                    [127, 0, 0, 1],
                    40000,
                ))));
            let resp = app
                .clone()
                .oneshot(req)
                .await
                .expect("the router is infallible");
            if resp.status() == StatusCode::INTERNAL_SERVER_ERROR {
                let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                panic!(
                    "{} {} answered 500: {}",
                    "request",
                    r.uri,
                    String::from_utf8_lossy(&body)
                );
            }
        }
        core.shutdown().await;
    });
}
