//! The client against a tiny scripted HTTP(S) server: what goes on the wire, and how answers
//! and failures come back.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hush_client::{Client, ClientConfig, ClientError, InitRequest, Method};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the scripted server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

type Responder = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

struct FakeServer {
    address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    /// Serves plain HTTP, answering each request with `respond`.
    async fn start(respond: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Self {
        Self::start_inner(Arc::new(respond), None).await
    }

    /// Serves HTTPS with the test certificate from `fixtures/`.
    async fn start_tls(respond: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Self {
        Self::start_inner(Arc::new(respond), Some(tls_acceptor())).await
    }

    /// Serves HTTPS with `cert` and its key.
    async fn start_with_cert(cert: &SelfSigned) -> Self {
        let respond: Responder = Arc::new(|_: &Seen| ok(json!({"sealed": false})));
        Self::start_inner(respond, Some(acceptor_for(cert))).await
    }

    async fn start_inner(respond: Responder, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_by_server = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let respond = respond.clone();
                let seen = seen_by_server.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            // Handshake failures are what some tests provoke: nothing to serve.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_one(stream, respond, seen).await;
                            }
                        }
                        None => serve_one(stream, respond, seen).await,
                    }
                });
            }
        });
        FakeServer {
            address: format!("{scheme}://127.0.0.1:{port}"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn client(&self, token: Option<&str>) -> Client {
        Client::new(ClientConfig {
            address: self.address.clone(),
            token: token.map(str::to_owned),
            ..ClientConfig::default()
        })
        .unwrap()
    }
}

async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    respond: Responder,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if buf[0] == 0x16 {
            // A TLS ClientHello sent to this plain HTTP server: answer like real servers do,
            // with a plain-text 400, which the client's TLS layer cannot parse.
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
                .await;
            return;
        }
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string(),
    };
    let (status, body) = respond(&request);
    seen.lock().unwrap().push(request);
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A self-signed certificate and its key, generated for a test.
struct SelfSigned {
    der: rustls_pki_types::CertificateDer<'static>,
    pem: String,
    key: Vec<u8>,
}

fn self_signed(names: &[&str], ca: bool, expired: bool) -> SelfSigned {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.self_signed(&key).unwrap();
    SelfSigned {
        der: cert.der().clone(),
        pem: cert.pem(),
        key: key.serialize_der(),
    }
}

fn acceptor_for(cert: &SelfSigned) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der.clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(cert.key.clone().into()),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A client of `server` whose CA file holds `pems`.
fn client_trusting(server: &FakeServer, pems: &[&str]) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, pems.concat()).unwrap();
    let client = Client::new(ClientConfig {
        address: server.address.clone(),
        ca_cert: Some(path),
        ..ClientConfig::default()
    })
    .unwrap();
    (dir, client)
}

fn ok(body: Value) -> (u16, String) {
    (200, body.to_string())
}

#[tokio::test]
async fn requests_carry_token_and_vault_request_headers() {
    let server = FakeServer::start(|_| ok(json!({"data": {"a": 1}}))).await;
    let client = server.client(Some("hvs.test-token"));
    let answer = client.read("secret/app").await.unwrap();
    assert_eq!(answer, Some(json!({"data": {"a": 1}})));

    let seen = server.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/v1/secret/app");
    assert_eq!(seen[0].header("x-vault-token"), Some("hvs.test-token"));
    assert_eq!(seen[0].header("x-vault-request"), Some("true"));
}

#[tokio::test]
async fn no_token_header_without_a_token() {
    let server = FakeServer::start(|_| ok(json!({}))).await;
    server.client(None).read("sys/mounts").await.unwrap();
    assert_eq!(server.seen()[0].header("x-vault-token"), None);
}

#[tokio::test]
async fn list_write_delete_and_generic_request_use_the_right_methods() {
    let server = FakeServer::start(|seen| match seen.method.as_str() {
        "DELETE" => (204, String::new()),
        _ => ok(json!({"data": {"keys": ["a", "b/"]}})),
    })
    .await;
    let client = server.client(Some("t"));

    let listed = client.list("secret/metadata/").await.unwrap().unwrap();
    assert_eq!(listed["data"]["keys"][1], "b/");
    client
        .write("secret/data/app", json!({"data": {"k": "v"}}))
        .await
        .unwrap();
    assert_eq!(client.delete("secret/data/app").await.unwrap(), None);
    client
        .request(Method::PATCH, "/sys/x", Some(json!({"y": true})))
        .await
        .unwrap();

    let seen = server.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["LIST", "PUT", "DELETE", "PATCH"]);
    assert_eq!(seen[0].path, "/v1/secret/metadata/");
    assert_eq!(seen[1].json(), json!({"data": {"k": "v"}}));
    assert_eq!(seen[1].header("content-type"), Some("application/json"));
    assert_eq!(seen[3].path, "/v1/sys/x");
}

#[tokio::test]
async fn patch_sends_a_json_merge_patch() {
    let server = FakeServer::start(|_| ok(json!({"data": {"version": 2}}))).await;
    let answer = server
        .client(Some("t"))
        .patch("secret/data/app", json!({"data": {"k": null}}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["data"]["version"], 2);
    let seen = server.seen();
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(seen[0].path, "/v1/secret/data/app");
    assert_eq!(
        seen[0].header("content-type"),
        Some("application/merge-patch+json")
    );
    assert_eq!(seen[0].json(), json!({"data": {"k": null}}));
}

#[tokio::test]
async fn api_errors_name_the_path_without_the_query() {
    let server =
        FakeServer::start(|_| (403, json!({"errors": ["permission denied"]}).to_string())).await;
    let err = server
        .client(Some("t"))
        .read("/secret/data/app?version=3")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "permission denied (HTTP 403) on secret/data/app"
    );
}

#[tokio::test]
async fn api_errors_carry_status_and_messages() {
    let server =
        FakeServer::start(|_| (403, json!({"errors": ["permission denied"]}).to_string())).await;
    let err = server
        .client(Some("t"))
        .write("sys/seal", json!({}))
        .await
        .unwrap_err();
    match &err {
        ClientError::Api {
            status,
            errors,
            path,
        } => {
            assert_eq!(*status, 403);
            assert_eq!(errors, &["permission denied".to_owned()]);
            assert_eq!(path, "sys/seal");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(err.to_string(), "permission denied (HTTP 403) on sys/seal");
}

#[tokio::test]
async fn non_json_error_bodies_are_quoted() {
    let server = FakeServer::start(|_| (502, "<html>Bad Gateway</html>".to_owned())).await;
    let err = server.client(None).read("sys/mounts").await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert!(err.to_string().contains("Bad Gateway"), "{err}");
}

#[tokio::test]
async fn read_and_list_treat_a_plain_404_as_absent() {
    let server = FakeServer::start(|seen| {
        if seen.path.ends_with("deleted") {
            (
                404,
                json!({"data": {"data": null, "metadata": {"version": 2}}}).to_string(),
            )
        } else if seen.path.ends_with("forbidden") {
            (404, json!({"errors": ["no handler for route"]}).to_string())
        } else {
            (404, json!({"errors": []}).to_string())
        }
    })
    .await;
    let client = server.client(Some("t"));
    assert_eq!(client.read("secret/data/missing").await.unwrap(), None);
    assert_eq!(client.list("secret/metadata/missing").await.unwrap(), None);
    let deleted = client.read("secret/data/deleted").await.unwrap().unwrap();
    assert_eq!(deleted["data"]["metadata"]["version"], 2);
    let err = client.read("nomount/forbidden").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    // The generic request does not second-guess a 404.
    let err = client
        .request(Method::GET, "secret/data/missing", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn invalid_json_is_reported_with_the_url() {
    let server = FakeServer::start(|_| (200, "this is not json".to_owned())).await;
    let err = server.client(None).seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidJson { status: 200, .. }));
    let text = err.to_string();
    assert!(text.contains("/v1/sys/seal-status"), "{text}");
    assert!(text.contains("not the expected JSON"), "{text}");
}

#[tokio::test]
async fn health_reports_state_statuses_instead_of_failing() {
    for status in [200u16, 429, 473, 501, 503] {
        let server = FakeServer::start(move |_| {
            (
                status,
                json!({"initialized": status != 501, "sealed": status == 503,
                       "standby": status == 429, "version": "0.1.0"})
                .to_string(),
            )
        })
        .await;
        let health = server.client(None).health().await.unwrap();
        assert_eq!(health.status, status);
        assert_eq!(health.body.sealed, status == 503);
        assert_eq!(health.body.initialized, status != 501);
        assert_eq!(health.body.standby, status == 429);
        assert_eq!(server.seen()[0].path, "/v1/sys/health");
    }
    let server = FakeServer::start(|_| (500, json!({"errors": ["boom"]}).to_string())).await;
    let err = server.client(None).health().await.unwrap_err();
    assert_eq!(err.to_string(), "boom (HTTP 500) on sys/health");
}

#[tokio::test]
async fn sys_calls_send_vault_shaped_bodies() {
    let server = FakeServer::start(|seen| match seen.path.as_str() {
        "/v1/sys/init" => ok(json!({
            "keys": ["aa", "bb"], "keys_base64": ["qg==", "uw=="], "root_token": "hvs.root"
        })),
        "/v1/sys/seal" => (204, String::new()),
        _ => ok(json!({
            "type": "shamir", "initialized": true, "sealed": true, "t": 2, "n": 3,
            "progress": 1, "nonce": "n-1", "version": "0.1.0"
        })),
    })
    .await;
    let client = server.client(Some("root"));

    let init = client
        .init(&InitRequest {
            secret_shares: 3,
            secret_threshold: 2,
            recovery_shares: None,
            recovery_threshold: None,
        })
        .await
        .unwrap();
    assert_eq!(init.keys_base64, ["qg==", "uw=="]);
    assert_eq!(init.root_token, "hvs.root");

    let status = client.unseal("qg==").await.unwrap();
    assert_eq!((status.t, status.n, status.progress), (2, 3, 1));
    assert_eq!(status.nonce, "n-1");
    client.unseal_reset().await.unwrap();
    let status = client.seal_status().await.unwrap();
    assert!(status.sealed);
    client.seal().await.unwrap();

    let seen = server.seen();
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(
        seen[0].json(),
        json!({"secret_shares": 3, "secret_threshold": 2})
    );
    assert_eq!(seen[1].path, "/v1/sys/unseal");
    assert_eq!(seen[1].json(), json!({"key": "qg=="}));
    assert_eq!(seen[2].json(), json!({"reset": true}));
    assert_eq!(
        (seen[3].method.as_str(), seen[3].path.as_str()),
        ("GET", "/v1/sys/seal-status")
    );
    assert_eq!(
        (seen[4].method.as_str(), seen[4].path.as_str()),
        ("PUT", "/v1/sys/seal")
    );
}

#[tokio::test]
async fn connection_refused_names_the_address_and_the_fix() {
    // Bind then drop a listener to get a port where, almost certainly, nothing listens.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let address = format!("http://127.0.0.1:{port}");
    let client = Client::new(ClientConfig {
        address: address.clone(),
        ..ClientConfig::default()
    })
    .unwrap();
    let err = client.seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "could not connect to hush at {address}: connection refused."
        )),
        "{text}"
    );
    assert!(
        text.contains("--address, HUSH_ADDR or VAULT_ADDR"),
        "{text}"
    );
}

#[tokio::test]
async fn tls_with_the_configured_ca_succeeds() {
    let server = FakeServer::start_tls(|_| ok(json!({"sealed": false}))).await;
    let client = Client::new(ClientConfig {
        address: server.address.clone(),
        ca_cert: Some(fixture("ca.pem")),
        ..ClientConfig::default()
    })
    .unwrap();
    assert!(!client.seal_status().await.unwrap().sealed);
}

#[tokio::test]
async fn tls_without_the_ca_fails_with_advice() {
    let server = FakeServer::start_tls(|_| ok(json!({"sealed": false}))).await;
    let err = server.client(None).seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&server.address), "{text}");
    assert!(text.contains("HUSH_CACERT"), "{text}");
}

#[tokio::test]
async fn tls_with_the_wrong_ca_names_the_ca_file() {
    let server = FakeServer::start_tls(|_| ok(json!({"sealed": false}))).await;
    let client = Client::new(ClientConfig {
        address: server.address.clone(),
        ca_cert: Some(fixture("other-ca.pem")),
        ..ClientConfig::default()
    })
    .unwrap();
    let err = client.seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("other-ca.pem"), "{err}");
}

#[tokio::test]
async fn tls_skip_verify_accepts_any_certificate() {
    let server = FakeServer::start_tls(|_| ok(json!({"sealed": true}))).await;
    let client = Client::new(ClientConfig {
        address: server.address.clone(),
        skip_verify: true,
        ..ClientConfig::default()
    })
    .unwrap();
    assert!(client.seal_status().await.unwrap().sealed);
}

#[tokio::test]
async fn https_to_a_plain_http_server_suggests_http() {
    let server = FakeServer::start(|_| ok(json!({}))).await;
    let address = server.address.replace("http://", "https://");
    let client = Client::new(ClientConfig {
        address,
        skip_verify: true,
        ..ClientConfig::default()
    })
    .unwrap();
    let err = client.seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("http://"), "{err}");
}

#[tokio::test]
async fn a_self_signed_certificate_in_the_ca_file_is_trusted_exactly() {
    // A self-signed certificate that says it is a CA (what `openssl req -x509` makes), and one
    // that does not: both are trusted when the CA file holds exactly that certificate, as curl
    // and the vault CLI trust them.
    for ca in [true, false] {
        let cert = self_signed(&["127.0.0.1", "localhost"], ca, false);
        let server = FakeServer::start_with_cert(&cert).await;
        let other = self_signed(&["127.0.0.1"], true, false);
        let (_dir, client) = client_trusting(&server, &[&other.pem, &cert.pem]);
        let status = client.seal_status().await;
        assert!(status.is_ok(), "ca={ca}: {status:?}");
    }
}

#[tokio::test]
async fn a_trusted_self_signed_certificate_still_needs_the_right_name_and_dates() {
    // Another self-signed certificate in the file proves nothing about this one.
    let cert = self_signed(&["127.0.0.1"], true, false);
    let server = FakeServer::start_with_cert(&cert).await;
    let other = self_signed(&["127.0.0.1"], true, false);
    let (_dir, client) = client_trusting(&server, &[&other.pem]);
    let err = client.seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");

    // The exact certificate, but for another name.
    let cert = self_signed(&["hush.example.com"], true, false);
    let server = FakeServer::start_with_cert(&cert).await;
    let (_dir, client) = client_trusting(&server, &[&cert.pem]);
    let err = client.seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");

    // The exact certificate, expired.
    let cert = self_signed(&["127.0.0.1"], true, true);
    let server = FakeServer::start_with_cert(&cert).await;
    let (_dir, client) = client_trusting(&server, &[&cert.pem]);
    let err = client.seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn http_to_a_tls_listener_suggests_https() {
    let server = FakeServer::start_tls(|_| ok(json!({}))).await;
    let address = server.address.replace("https://", "http://");
    let client = Client::new(ClientConfig {
        address: address.clone(),
        ..ClientConfig::default()
    })
    .unwrap();
    let err = client.seal_status().await.unwrap_err();
    assert!(matches!(err, ClientError::PlainHttpToTls { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&server.address), "{text}");
    assert!(!text.contains("invalid HTTP version"), "{text}");
}
