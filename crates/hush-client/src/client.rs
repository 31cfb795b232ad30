//! The HTTP client itself: one generic request method and typed `sys/` calls on top.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::config::ClientConfig;
use crate::error::{explain_tls_error, find_tls_error, ClientError};
use crate::sys::{
    Health, HealthResponse, InitRequest, InitResponse, LeaderResponse, SealStatus, UnsealRequest,
};

/// Header carrying the client token.
const TOKEN_HEADER: &str = "x-vault-token";
/// Header most Vault clients send; servers use it as a CSRF guard for browser-less callers.
const REQUEST_HEADER: &str = "x-vault-request";
/// Asks the server to wrap the answer in a single-use token that lives this long.
const WRAP_TTL_HEADER: &str = "x-vault-wrap-ttl";
/// Content type of KV v2's `PATCH` requests, which Vault insists on (JSON merge patch, RFC 7396).
const MERGE_PATCH: &str = "application/merge-patch+json";

/// Statuses with which `sys/health` reports a state rather than a failure (Vault's defaults).
const HEALTH_STATUSES: [u16; 7] = [200, 429, 472, 473, 474, 501, 503];

/// The `LIST` method Vault uses for listing keys.
pub fn list_method() -> Method {
    // Infallible: "LIST" consists only of uppercase ASCII letters, which are valid HTTP token
    // characters, so `from_bytes` cannot reject it.
    Method::from_bytes(b"LIST").expect("LIST is a valid HTTP method token")
}

/// A client of one hush (or Vault) server.
///
/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Base URL with a trailing slash, so that joining `v1/...` keeps any path prefix.
    base: Url,
    address: String,
    token: Option<Zeroizing<String>>,
    ca_cert: Option<std::path::PathBuf>,
    timeout: Duration,
    /// Sent as `X-Vault-Wrap-TTL` with every request when set.
    wrap_ttl: Option<HeaderValue>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_cert", &self.ca_cert)
            .field("timeout", &self.timeout)
            .field("wrap_ttl", &self.wrap_ttl)
            .finish()
    }
}

/// A response before it is judged a success or failure.
struct RawResponse {
    status: StatusCode,
    url: String,
    /// The request path, without query string, for error messages.
    path: String,
    /// Zeroized on drop: bodies can carry tokens and keys.
    body: Zeroizing<Vec<u8>>,
}

impl RawResponse {
    /// Parses the body as JSON; an empty body (204, or a 200 with nothing) is `None`.
    fn json<T: DeserializeOwned>(&self) -> Result<Option<T>, ClientError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|source| ClientError::InvalidJson {
                url: self.url.clone(),
                status: self.status.as_u16(),
                source,
            })
    }

    /// Like [`RawResponse::json`], but an empty body is an error: the caller needs data.
    fn json_required<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        match self.json()? {
            Some(value) => Ok(value),
            None => Err(ClientError::InvalidJson {
                url: self.url.clone(),
                status: self.status.as_u16(),
                source: serde::de::Error::custom("the body is empty"),
            }),
        }
    }

    /// Turns an unsuccessful answer into [`ClientError::Api`], reading Vault's `errors` list
    /// when the body has one and a short excerpt of the body otherwise (e.g. a proxy's page).
    fn api_error(&self) -> ClientError {
        let status = self.status.as_u16();
        let errors = match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => match map.get("errors") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            },
            Ok(_) => Vec::new(),
            Err(_) => {
                let text = String::from_utf8_lossy(&self.body);
                let text = text.trim();
                if text.is_empty() {
                    Vec::new()
                } else {
                    vec![text.chars().take(200).collect()]
                }
            }
        };
        ClientError::Api {
            status,
            errors,
            path: self.path.clone(),
        }
    }

    /// Whether a 404 is "nothing here" (Vault's `{"errors":[]}`) rather than a real error.
    fn is_plain_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
            && matches!(self.api_error(), ClientError::Api { ref errors, .. } if errors.is_empty())
    }
}

impl Client {
    /// Builds a client; fails if the address is not an http(s) URL or the CA file is unusable.
    ///
    /// The token is moved into a zeroizing buffer.
    pub fn new(mut config: ClientConfig) -> Result<Client, ClientError> {
        let base = parse_address(&config.address)?;

        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_HEADER, HeaderValue::from_static("true"));

        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .user_agent(concat!("hush-client/", env!("CARGO_PKG_VERSION")));

        if config.skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        } else if let Some(path) = &config.ca_cert {
            // Like Vault, a configured CA replaces the system roots rather than adding to them:
            // the server is expected to present a certificate from that CA.
            builder = builder.tls_backend_preconfigured(load_ca_file(path)?);
        }

        let http = builder.build().map_err(|source| match &config.ca_cert {
            Some(path) if !config.skip_verify => ClientError::CaCertInvalid {
                path: path.clone(),
                reason: crate::error::summarize_cause(&source),
            },
            _ => ClientError::Build { source },
        })?;

        Ok(Client {
            http,
            base,
            address: config.address.clone(),
            token: config.token.take().map(Zeroizing::new),
            ca_cert: config.ca_cert.take(),
            timeout: config.timeout,
            wrap_ttl: None,
        })
    }

    /// Shorthand for [`ClientConfig::from_env`] followed by [`Client::new`].
    pub fn from_env(address_flag: Option<String>) -> Result<Client, ClientError> {
        Client::new(ClientConfig::from_env(address_flag)?)
    }

    /// The server address this client talks to, as configured.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether a token will be sent with requests.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Asks the server to wrap every later answer in a response-wrapping token that lives
    /// `ttl` (a Vault duration such as `60s`, `5m`, or a number of seconds); `None` stops
    /// wrapping. The server answers with `wrap_info` instead of the data.
    pub fn set_wrap_ttl(&mut self, ttl: Option<&str>) -> Result<(), ClientError> {
        self.wrap_ttl = match ttl.map(str::trim) {
            None => None,
            Some(text) => {
                let valid =
                    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
                // Only ASCII letters, digits and dots get here, all valid in a header value.
                let value = HeaderValue::from_str(text).ok().filter(|_| valid);
                Some(value.ok_or_else(|| ClientError::InvalidWrapTtl {
                    value: text.to_owned(),
                })?)
            }
        };
        Ok(())
    }

    /// The response-wrapping TTL sent with requests, if any.
    pub fn wrap_ttl(&self) -> Option<&str> {
        self.wrap_ttl.as_ref().and_then(|v| v.to_str().ok())
    }

    /// Replaces the token sent with requests (`None` sends none), e.g. after a login.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token.map(Zeroizing::new);
    }

    /// Sends `method` to `/v1/<path>` with an optional JSON body and returns the JSON answer,
    /// or `None` when the server answered without a body (e.g. 204).
    ///
    /// `path` may carry a query string (`secret/data/app?version=2`). Any status outside
    /// 2xx is returned as [`ClientError::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, ClientError> {
        let body = body.map(|b| encode_json(&b)).transpose()?;
        let raw = self.send(method, path, body).await?;
        if !raw.status.is_success() {
            return Err(raw.api_error());
        }
        raw.json()
    }

    /// Sends a JSON merge patch (RFC 7396) to `path` with `PATCH`, as KV v2's `data/` and
    /// `metadata/` endpoints expect (Vault rejects other content types with 415).
    pub async fn patch(&self, path: &str, body: Value) -> Result<Option<Value>, ClientError> {
        let body = encode_json(&body)?;
        let raw = self
            .send_with(Method::PATCH, path, Some((body, MERGE_PATCH)))
            .await?;
        if !raw.status.is_success() {
            return Err(raw.api_error());
        }
        raw.json()
    }

    /// Reads `path` (GET). A plain 404 is `Ok(None)`; a 404 that still carries data (KV v2
    /// answers a deleted version that way, with its metadata) is returned as data.
    pub async fn read(&self, path: &str) -> Result<Option<Value>, ClientError> {
        self.read_like(Method::GET, path).await
    }

    /// Reads `path` as [`Self::read`] does, never wrapped: for the requests a command makes
    /// for itself before the one the user asked for (the KV mount lookup), whose answers a
    /// `wrap_ttl` must not hide.
    pub async fn read_unwrapped(&self, path: &str) -> Result<Option<Value>, ClientError> {
        if self.wrap_ttl.is_none() {
            return self.read(path).await;
        }
        let mut plain = self.clone();
        plain.wrap_ttl = None;
        plain.read(path).await
    }

    /// Lists keys under `path` (the `LIST` method). A plain 404 (nothing there) is `Ok(None)`.
    pub async fn list(&self, path: &str) -> Result<Option<Value>, ClientError> {
        self.read_like(list_method(), path).await
    }

    /// Writes `body` to `path` (PUT, which Vault treats like POST).
    pub async fn write(&self, path: &str, body: Value) -> Result<Option<Value>, ClientError> {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// Reads `path` (GET) whose answer is not JSON (a snapshot): the body as it came.
    pub async fn read_bytes(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let raw = self.send(Method::GET, path, None).await?;
        if !raw.status.is_success() {
            return Err(raw.api_error());
        }
        Ok(raw.body)
    }

    /// Sends `body` as it is (`application/octet-stream`) to `path` with POST, and returns
    /// the JSON answer.
    pub async fn write_bytes(
        &self,
        path: &str,
        body: Zeroizing<Vec<u8>>,
    ) -> Result<Option<Value>, ClientError> {
        let raw = self
            .send_with(Method::POST, path, Some((body, "application/octet-stream")))
            .await?;
        if !raw.status.is_success() {
            return Err(raw.api_error());
        }
        raw.json()
    }

    /// Deletes `path`.
    pub async fn delete(&self, path: &str) -> Result<Option<Value>, ClientError> {
        self.request(Method::DELETE, path, None).await
    }

    /// `GET sys/health`. Never fails because of the status codes health uses to encode state
    /// (standby, sealed, not initialized...): those come back in [`Health::status`].
    pub async fn health(&self) -> Result<Health, ClientError> {
        let raw = self.send(Method::GET, "sys/health", None).await?;
        let status = raw.status.as_u16();
        if !HEALTH_STATUSES.contains(&status) {
            return Err(raw.api_error());
        }
        let body: HealthResponse = raw.json()?.unwrap_or_default();
        Ok(Health { status, body })
    }

    /// `GET sys/seal-status`.
    pub async fn seal_status(&self) -> Result<SealStatus, ClientError> {
        self.typed(Method::GET, "sys/seal-status", None).await
    }

    /// `GET sys/leader`: whether HA is enabled and who the active node is.
    pub async fn leader(&self) -> Result<LeaderResponse, ClientError> {
        self.typed(Method::GET, "sys/leader", None).await
    }

    /// `GET sys/init`: whether the server has been initialized.
    pub async fn init_status(&self) -> Result<bool, ClientError> {
        #[derive(serde::Deserialize)]
        struct InitStatus {
            #[serde(default)]
            initialized: bool,
        }
        let status: InitStatus = self.typed(Method::GET, "sys/init", None).await?;
        Ok(status.initialized)
    }

    /// `PUT sys/init`: initializes the server and returns the key shares and root token.
    pub async fn init(&self, request: &InitRequest) -> Result<InitResponse, ClientError> {
        let body = encode_json(request)?;
        self.typed(Method::PUT, "sys/init", Some(body)).await
    }

    /// `PUT sys/unseal` with one key share; returns the seal status after it.
    pub async fn unseal(&self, key: &str) -> Result<SealStatus, ClientError> {
        let body = encode_json(&UnsealRequest {
            key: Some(key),
            reset: false,
        })?;
        self.typed(Method::PUT, "sys/unseal", Some(body)).await
    }

    /// `PUT sys/unseal` with `reset`: discards the shares supplied so far.
    pub async fn unseal_reset(&self) -> Result<SealStatus, ClientError> {
        let body = encode_json(&UnsealRequest {
            key: None,
            reset: true,
        })?;
        self.typed(Method::PUT, "sys/unseal", Some(body)).await
    }

    /// `PUT sys/seal`: seals the server. Needs a token allowed to seal (e.g. root).
    pub async fn seal(&self) -> Result<(), ClientError> {
        let raw = self.send(Method::PUT, "sys/seal", None).await?;
        if !raw.status.is_success() {
            return Err(raw.api_error());
        }
        Ok(())
    }

    async fn read_like(&self, method: Method, path: &str) -> Result<Option<Value>, ClientError> {
        let raw = self.send(method, path, None).await?;
        if raw.status.is_success() {
            return raw.json();
        }
        if raw.status == StatusCode::NOT_FOUND && raw.is_plain_not_found() {
            // A body with data but no errors is a meaningful answer (KV v2 deleted version).
            return match raw.json::<Value>() {
                Ok(Some(value)) if value.get("data").is_some_and(|d| !d.is_null()) => {
                    Ok(Some(value))
                }
                _ => Ok(None),
            };
        }
        Err(raw.api_error())
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<T, ClientError> {
        let raw = self.send(method, path, body).await?;
        if !raw.status.is_success() {
            return Err(raw.api_error());
        }
        raw.json_required()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<RawResponse, ClientError> {
        self.send_with(method, path, body.map(|b| (b, "application/json")))
            .await
    }

    /// Sends a request whose body (if any) has the given content type.
    async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<(Zeroizing<Vec<u8>>, &'static str)>,
    ) -> Result<RawResponse, ClientError> {
        let url = self.url_for(path)?;
        let mut request = self.http.request(method, url.clone());
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(token).map_err(|_| ClientError::InvalidEnv {
                name: "HUSH_TOKEN / VAULT_TOKEN / ~/.hush-token".to_owned(),
                value: "<redacted>".to_owned(),
                expected: "a token of visible ASCII characters".to_owned(),
            })?;
            // Keeps the token out of reqwest's and hyper's debug output.
            value.set_sensitive(true);
            request = request.header(TOKEN_HEADER, value);
        }
        if let Some(ttl) = &self.wrap_ttl {
            request = request.header(WRAP_TTL_HEADER, ttl.clone());
        }
        if let Some((body, content_type)) = body {
            // The copy handed to reqwest cannot be zeroized; ours is, when `body` drops.
            request = request
                .header(CONTENT_TYPE, content_type)
                .body(body.to_vec());
        }

        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&url, e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&url, e))?;
        let path = path.trim_start_matches('/');
        Ok(RawResponse {
            status,
            url: url.to_string(),
            path: path.split('?').next().unwrap_or(path).to_owned(),
            body: Zeroizing::new(Vec::from(bytes)),
        })
    }

    fn url_for(&self, path: &str) -> Result<Url, ClientError> {
        // Concatenated rather than `Url::join`ed: join would read a path like `a:b` as a URL
        // of its own and resolve `..` segments, neither of which a caller means.
        let full = format!("{}v1/{}", self.base, path.trim_start_matches('/'));
        Url::parse(&full).map_err(|e| ClientError::InvalidAddress {
            address: full.clone(),
            reason: e.to_string(),
        })
    }

    fn transport_error(&self, url: &Url, err: reqwest::Error) -> ClientError {
        if err.is_timeout() {
            return ClientError::Timeout {
                address: self.address.clone(),
                timeout: self.timeout,
            };
        }
        if let Some(tls) = find_tls_error(&err) {
            return ClientError::Tls {
                address: self.address.clone(),
                detail: explain_tls_error(tls, self.ca_cert.as_deref()),
            };
        }
        if url.scheme() == "http" && answered_in_tls(&err) {
            return ClientError::PlainHttpToTls {
                address: self.address.clone(),
                https: self.address.replacen("http://", "https://", 1),
            };
        }
        if err.is_connect() {
            return ClientError::Connect {
                address: self.address.clone(),
                source: err,
            };
        }
        ClientError::Request {
            url: url.to_string(),
            source: err,
        }
    }
}

/// Whether a plain-HTTP request failed because the answer was a TLS record: hyper reads the
/// record's first bytes (`0x15 0x03`, an alert) as a status line with a bad HTTP version.
fn answered_in_tls(err: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.to_string().contains("invalid HTTP version") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Serializes a request body into a buffer that is zeroized when dropped.
fn encode_json<T: Serialize + ?Sized>(value: &T) -> Result<Zeroizing<Vec<u8>>, ClientError> {
    let mut buf = Zeroizing::new(Vec::new());
    // Writing JSON into a Vec cannot fail for I/O reasons; it fails only for values serde_json
    // cannot represent (e.g. maps with non-string keys), which is the caller's bug to hear about.
    serde_json::to_writer(&mut *buf, value).map_err(|source| ClientError::EncodeBody { source })?;
    Ok(buf)
}

/// Validates the configured address and normalizes it to end with `/`.
fn parse_address(address: &str) -> Result<Url, ClientError> {
    let invalid = |reason: String| ClientError::InvalidAddress {
        address: address.to_owned(),
        reason,
    };
    let address_text = address.trim();
    // Without this check "localhost:8200" would parse as a URL with the scheme "localhost".
    if !address_text.contains("://") {
        return Err(invalid("it must start with http:// or https://".to_owned()));
    }
    let mut url = Url::parse(address_text).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(invalid(format!(
                "the scheme must be http or https, not \"{other}\""
            )))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "it must not have a query string or fragment".to_owned(),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Reads a PEM bundle, naming the file in every error.
fn load_ca_file(path: &Path) -> Result<rustls::ClientConfig, ClientError> {
    let pem = std::fs::read(path).map_err(|source| ClientError::CaCertRead {
        path: path.to_owned(),
        source,
    })?;
    crate::tls::parse_pem_certificates(&pem)
        .and_then(crate::tls::ca_file_config)
        .map_err(|reason| ClientError::CaCertInvalid {
            path: path.to_owned(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_ttl_is_validated_and_can_be_cleared() {
        let mut client = Client::new(ClientConfig::default()).unwrap();
        assert_eq!(client.wrap_ttl(), None);
        client.set_wrap_ttl(Some("5m")).unwrap();
        assert_eq!(client.wrap_ttl(), Some("5m"));
        for bad in ["", "5 m", "1h-", "x;y"] {
            let err = client.set_wrap_ttl(Some(bad)).unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidWrapTtl { .. }),
                "{bad}: {err}"
            );
        }
        client.set_wrap_ttl(None).unwrap();
        assert_eq!(client.wrap_ttl(), None);
    }

    #[test]
    fn addresses_are_validated_and_normalized() {
        assert_eq!(
            parse_address("http://127.0.0.1:8200").unwrap().as_str(),
            "http://127.0.0.1:8200/"
        );
        assert_eq!(
            parse_address("https://example.com/prefix")
                .unwrap()
                .as_str(),
            "https://example.com/prefix/"
        );
        for bad in [
            "127.0.0.1:8200",
            "localhost:8200",
            "ftp://x",
            "unix:///tmp/sock",
            "http://",
            "",
        ] {
            let err = parse_address(bad).unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidAddress { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("HUSH_ADDR"), "{err}");
        }
    }

    #[test]
    fn urls_join_under_v1_keeping_prefix_and_query() {
        let client = Client::new(ClientConfig {
            address: "http://h:1/prefix".into(),
            ..ClientConfig::default()
        })
        .unwrap();
        assert_eq!(
            client.url_for("/secret/data/a?version=2").unwrap().as_str(),
            "http://h:1/prefix/v1/secret/data/a?version=2"
        );
    }

    #[test]
    fn list_method_is_literal_list() {
        assert_eq!(list_method().as_str(), "LIST");
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = Client::new(ClientConfig {
            ca_cert: Some(missing.clone()),
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert!(matches!(err, ClientError::CaCertRead { .. }), "{err}");
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let err = Client::new(ClientConfig {
            ca_cert: Some(garbage),
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert!(matches!(err, ClientError::CaCertInvalid { .. }), "{err}");
        assert!(err.to_string().contains("garbage.pem"), "{err}");
    }

    #[test]
    fn debug_redacts_the_token() {
        let client = Client::new(ClientConfig {
            token: Some("hvs.topsecret".into()),
            ..ClientConfig::default()
        })
        .unwrap();
        let text = format!("{client:?}");
        assert!(!text.contains("topsecret"), "{text}");
        assert!(client.has_token());
    }
}
