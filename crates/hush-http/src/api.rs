//! The Vault wire format: HTTP request → logical request, logical response → HTTP response.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request as HttpRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use hush_core::logical::{AuthResponse, WrapInfo};
use hush_core::{Core, CoreError, Operation, Request, Response};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Largest accepted request body, as in Vault.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The client's socket address, inserted by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Builds the axum router: everything under `/v1/` goes to the core's pipeline.
pub fn router(core: Arc<Core>) -> axum::Router {
    axum::Router::new()
        .route("/v1/{*path}", axum::routing::any(handle))
        .fallback(not_found)
        .with_state(core)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error_response(
        StatusCode::NOT_FOUND,
        &format!(
            "no handler for {}: the API lives under /v1/ (for example /v1/sys/health)",
            req.uri().path()
        ),
    )
}

/// A `{"errors": [...]}` body.
pub fn error_response(status: StatusCode, message: &str) -> HttpResponse {
    // Vault answers a plain "nothing here" 404 with an empty list.
    if message.is_empty() {
        return json_response(status, &json!({ "errors": [] }));
    }
    json_response(status, &json!({ "errors": [message] }))
}

fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn operation(method: &Method, list_query: bool) -> Option<Operation> {
    Some(match method.as_str() {
        "GET" | "HEAD" if list_query => Operation::List,
        "GET" | "HEAD" => Operation::Read,
        "LIST" => Operation::List,
        "PUT" | "POST" => Operation::Update,
        "PATCH" => Operation::Patch,
        "DELETE" => Operation::Delete,
        _ => return None,
    })
}

fn token_from(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
        let t = t.trim();
        if !t.is_empty() {
            return Some(t.to_string());
        }
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = auth.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() {
        Some(rest.trim().to_string())
    } else {
        None
    }
}

fn parse_query(query: &str) -> (Map<String, Value>, bool) {
    let mut data = Map::new();
    let mut list = false;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "list" {
            list = matches!(v.as_ref(), "true" | "1" | "t" | "True" | "TRUE");
            continue;
        }
        data.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    (data, list)
}

fn parse_body(bytes: &Bytes) -> Result<Map<String, Value>, String> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(other) => Err(format!(
            "the request body must be a JSON object, got {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "something else",
            }
        )),
        Err(e) => Err(format!("failed to parse JSON input: {e}")),
    }
}

async fn handle(State(core): State<Arc<Core>>, req: HttpRequest) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let head = parts.method == Method::HEAD;
    let (query_data, list_query) = parse_query(parts.uri.query().unwrap_or(""));
    let Some(op) = operation(&parts.method, list_query) else {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "unsupported HTTP method {}: use GET, LIST, PUT, POST, PATCH, DELETE or HEAD",
                parts.method
            ),
        );
    };
    let path = parts
        .uri
        .path()
        .strip_prefix("/v1/")
        .unwrap_or_default()
        .to_string();
    let path = match percent_decode(&path) {
        Some(p) => p,
        None => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "the request path is not valid UTF-8 after percent-decoding",
            )
        }
    };

    if op == Operation::Patch {
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct
            .to_ascii_lowercase()
            .starts_with("application/merge-patch+json")
        {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!(
                    "PATCH requires Content-Type of application/merge-patch+json, got \"{ct}\""
                ),
            );
        }
    }
    // A snapshot to restore is the body itself, not JSON, and may be larger than any request.
    if matches!(
        path.as_str(),
        "sys/storage/raft/snapshot" | "sys/storage/raft/snapshot-force"
    ) && matches!(op, Operation::Update | Operation::Create)
    {
        return restore_snapshot(&core, body).await;
    }
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body ({} bytes, from Content-Length) is larger than the limit of \
                 {MAX_BODY_BYTES} bytes (32 MiB)",
                declared.unwrap_or_default()
            ),
        );
    }
    let data = if matches!(op, Operation::Update | Operation::Patch | Operation::Create) {
        let read = axum::body::to_bytes(body, MAX_BODY_BYTES);
        let read_timeout = parts
            .extensions
            .get::<crate::serve::ReadTimeout>()
            .map(|t| t.0)
            .filter(|t| !t.is_zero());
        let read = match read_timeout {
            None => read.await,
            Some(limit) => match tokio::time::timeout(limit, read).await {
                Ok(r) => r,
                Err(_) => {
                    return error_response(
                        StatusCode::REQUEST_TIMEOUT,
                        &format!(
                            "the request body did not arrive within {} s (the listener's \
                             http_read_timeout)",
                            limit.as_secs_f64()
                        ),
                    )
                }
            },
        };
        let bytes = match read {
            Ok(b) => b,
            Err(_) => {
                return error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!(
                        "the request body is larger than the limit of {MAX_BODY_BYTES} bytes \
                         (32 MiB)"
                    ),
                )
            }
        };
        match parse_body(&bytes) {
            Ok(m) => m,
            Err(msg) => return error_response(StatusCode::BAD_REQUEST, &msg),
        }
    } else {
        query_data
    };

    let wrap_ttl = match parts
        .headers
        .get("x-vault-wrap-ttl")
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => None,
        Some(v) => match hush_config::duration::parse_duration(v) {
            Ok(d) => Some(d),
            Err(e) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid X-Vault-Wrap-TTL header: {e}"),
                )
            }
        },
    };

    // Prometheus scrapers ask with an Accept header rather than a query parameter.
    let mut data = data;
    if path == "sys/metrics" && op == Operation::Read && !data.contains_key("format") {
        let accept = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("application/openmetrics-text") {
            data.insert("format".into(), Value::String("prometheus".into()));
        }
    }
    // A listener with `unauthenticated_metrics_access` serves the metrics without a token, and,
    // as in Vault, without an audit entry: a scraper every few seconds is not an access to
    // record.
    if path == "sys/metrics"
        && op == Operation::Read
        && parts
            .extensions
            .get::<crate::serve::UnauthenticatedMetrics>()
            .is_some()
    {
        let format = data.get("format").and_then(Value::as_str).unwrap_or("");
        let mut resp = match hush_core::sys::metrics::render(&core, format).await {
            Ok(r) => success(r, ""),
            Err(e) => failure(e),
        };
        if head {
            *resp.body_mut() = Body::empty();
        }
        return resp;
    }

    // `GET <path>?help=1` asks for the path's help (Vault's `path-help`).
    let help = op == Operation::Read
        && matches!(
            data.get("help").and_then(Value::as_str),
            Some("1" | "true" | "t" | "True" | "TRUE")
        );
    if help {
        data.remove("help");
    }
    let mut lreq = Request::new(op, path);
    lreq.help = help;
    lreq.data = data;
    lreq.token = token_from(&parts.headers);
    lreq.client_addr = parts.extensions.get::<ClientAddr>().map(|a| a.0.ip());
    lreq.wrap_ttl = wrap_ttl;
    let request_id = lreq.id.clone();

    let result = core.handle(lreq).await;
    let mut resp = match result {
        Ok(r) => success(r, &request_id),
        Err(e) => failure(e),
    };
    if head {
        *resp.body_mut() = Body::empty();
    }
    resp
}

/// The largest snapshot a restore reads into memory.
const MAX_SNAPSHOT_BYTES: usize = 4 << 30;

/// `POST sys/storage/raft/snapshot`: restores a snapshot into a new server. Like `sys/init`,
/// it needs no token: a server that was never initialized holds nothing, and whoever reaches it
/// first could initialize it anyway. An initialized server refuses (its storage is replaced only
/// offline, with the server stopped).
async fn restore_snapshot(core: &Core, body: Body) -> HttpResponse {
    let bytes =
        match axum::body::to_bytes(body, MAX_SNAPSHOT_BYTES).await {
            Ok(b) => b,
            Err(_) => return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the snapshot is larger than 4 GiB, or its upload broke off; restore it offline \
                 with `hush operator snapshot restore -config FILE SNAPSHOT`",
            ),
        };
    match core.restore_new(&bytes).await {
        Ok(header) => {
            tracing::info!(
                cluster_id = %header.cluster_id,
                taken = %header.created_time,
                "restored a snapshot into this new server; unseal it with the original keys"
            );
            json_response(
                StatusCode::OK,
                &json!({
                    "data": {
                        "cluster_id": header.cluster_id,
                        "cluster_name": header.cluster_name,
                        "created_time": header.created_time,
                        "entries": header.entries,
                        "sealed": core.is_sealed(),
                    },
                    "warnings": Value::Null,
                }),
            )
        }
        Err(e) => failure(e),
    }
}

fn percent_decode(path: &str) -> Option<String> {
    if !path.contains('%') {
        return Some(path.to_string());
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hexpair = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            match u8::from_str_radix(hexpair, 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            }
        } else {
            out.push(bytes[i]);
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn failure(e: CoreError) -> HttpResponse {
    let retry_after = match &e {
        CoreError::RateLimited { retry_after, .. } => Some(*retry_after),
        _ => None,
    };
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match &e {
        CoreError::PermissionDenied { detail } | CoreError::TokenRejected { detail, .. } => {
            tracing::debug!(detail = %detail, "permission denied");
        }
        CoreError::Crypto(_) | CoreError::Storage(_) | CoreError::Internal(_) => {
            tracing::error!(error = %e, "request failed");
        }
        CoreError::Upstream(_) => {
            tracing::warn!(error = %e, "a service the request needed failed");
        }
        _ => {}
    }
    let mut resp = match &e {
        // One message, as Vault's (its "permission denied" and "invalid token" joined): clients
        // match on "permission denied", people read the rest.
        CoreError::TokenRejected { reason, .. } => {
            error_response(status, &format!("permission denied: {reason}"))
        }
        _ => error_response(status, &e.to_string()),
    };
    if let Some(secs) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

fn success(r: Response, request_id: &str) -> HttpResponse {
    let status = r
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    if let Some(raw) = &r.raw {
        return json_response(status, raw);
    }
    if let Some((content_type, body)) = r.body {
        let mut resp = (status, body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return resp;
    }
    if r.is_empty() && r.status.is_none() {
        return StatusCode::NO_CONTENT.into_response();
    }
    // Serialized straight from the response (no `Value` copy of `data`): this is every
    // secret read's answer. Fields in sorted order, as a `Value` map would give them.
    let body = Envelope {
        auth: r.auth.as_ref(),
        data: r.data.as_ref(),
        lease_duration: r.lease_duration.unwrap_or(0),
        lease_id: r.lease_id.as_deref().unwrap_or_default(),
        mount_type: r.mount_type.as_deref().unwrap_or_default(),
        renewable: r.renewable,
        request_id,
        warnings: (!r.warnings.is_empty()).then_some(&r.warnings[..]),
        wrap_info: r.wrap_info.as_ref(),
    };
    if r.data_at_top_level {
        // Rare (a few sys endpoints): the data's keys are repeated at the top level.
        let mut value = serde_json::to_value(&body).unwrap_or(Value::Null);
        if let (Some(data), Some(obj)) = (&r.data, value.as_object_mut()) {
            for (k, v) in data {
                // The envelope's own fields win: a mount named "data" must not replace `data`.
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        return json_response(status, &value);
    }
    json_response(status, &body)
}

/// Vault's response envelope.
#[derive(Serialize)]
struct Envelope<'a> {
    auth: Option<&'a AuthResponse>,
    data: Option<&'a Map<String, Value>>,
    lease_duration: u64,
    lease_id: &'a str,
    mount_type: &'a str,
    renewable: bool,
    request_id: &'a str,
    warnings: Option<&'a [String]>,
    wrap_info: Option<&'a WrapInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_vault_token() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(token_from(&h).as_deref(), Some("abc"));
        h.insert("x-vault-token", HeaderValue::from_static("xyz"));
        assert_eq!(token_from(&h).as_deref(), Some("xyz"));
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(token_from(&h), None);
    }

    #[test]
    fn list_query_and_methods() {
        let (d, list) = parse_query("list=true&version=3");
        assert!(list);
        assert_eq!(d.get("version"), Some(&json!("3")));
        assert_eq!(operation(&Method::GET, true), Some(Operation::List));
        let list_method = Method::from_bytes(b"LIST").unwrap();
        assert_eq!(operation(&list_method, false), Some(Operation::List));
        assert_eq!(operation(&Method::POST, false), Some(Operation::Update));
        assert_eq!(operation(&Method::OPTIONS, false), None);
    }

    #[test]
    fn bodies() {
        assert!(parse_body(&Bytes::from_static(b"")).unwrap().is_empty());
        assert!(parse_body(&Bytes::from_static(b"[1]")).is_err());
        let e = parse_body(&Bytes::from_static(b"{bad")).unwrap_err();
        assert!(e.contains("failed to parse JSON"), "{e}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("a%2").as_deref(), Some("a%2"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%ff"), None);
    }
}
