//! Outgoing HTTPS for the Kubernetes and JWT methods: clients that trust exactly the configured
//! CA (or the system roots when none is configured), with timeouts, no redirects and a bound on
//! response sizes.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Largest response body read from an external service. JWKS documents, discovery documents
/// and TokenReviews are a few KiB; anything this big is a misconfigured URL.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// What can go wrong talking to an external service. Messages name the URL and the cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The configured CA bundle is not usable.
    #[error("{field} is not a usable PEM CA bundle: {reason}")]
    BadCa {
        /// The config field the bundle came from.
        field: String,
        /// Why.
        reason: String,
    },
    /// The server could not be reached or the TLS handshake failed.
    #[error("could not reach {url}: {cause}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The error chain.
        cause: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        /// The URL called.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The body is not what was expected.
    #[error("{url} sent a response that could not be read: {reason}")]
    BadBody {
        /// The URL called.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Checks that `pem` holds at least one certificate; `field` names the config field.
pub(crate) fn check_ca_pem(field: &str, pem: &str) -> Result<(), HttpError> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        cert.map_err(|e| HttpError::BadCa {
            field: field.to_string(),
            reason: match e {
                // The parser's own text for these lists the block's bytes as numbers.
                rustls_pki_types::pem::Error::MissingSectionEnd { .. } => {
                    "a \"-----BEGIN CERTIFICATE-----\" block has no matching \"-----END \
                     CERTIFICATE-----\" line (line breaks must be real newlines, not the two \
                     characters \\n)"
                        .to_string()
                }
                rustls_pki_types::pem::Error::Base64Decode(_) => {
                    "a certificate block's body is not valid base64".to_string()
                }
                other => other.to_string(),
            },
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(HttpError::BadCa {
            field: field.to_string(),
            reason: "no \"-----BEGIN CERTIFICATE-----\" block found".into(),
        });
    }
    Ok(())
}

/// The full error chain of an error, so that "connection refused" or "invalid peer certificate"
/// reaches the operator instead of only reqwest's outer "error sending request".
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

/// Clients by CA bundle. Building a rustls configuration parses the CA and (without one) loads
/// the system roots, which is too slow to repeat on every login.
pub(crate) struct Clients {
    timeout: Duration,
    cache: Mutex<HashMap<[u8; 32], reqwest::Client>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Clients {
    /// An empty cache; every client gets `timeout`.
    pub(crate) fn new(timeout: Duration) -> Self {
        Clients {
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A client trusting only `ca_pem` (or the system roots when it is empty).
    pub(crate) fn get(&self, field: &str, ca_pem: &str) -> Result<reqwest::Client, HttpError> {
        let key = hush_crypto::hash::sha256(ca_pem.as_bytes());
        if let Some(c) = self.cache.lock().get(&key) {
            return Ok(c.clone());
        }
        let bad = |reason: String| HttpError::BadCa {
            field: field.to_string(),
            reason,
        };
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            // A redirect would carry the bearer token to wherever it points.
            .redirect(reqwest::redirect::Policy::none());
        if !ca_pem.trim().is_empty() {
            check_ca_pem(field, ca_pem)?;
            let certs = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
                .map_err(|e| bad(chain(&e)))?;
            builder = builder.tls_certs_only(certs);
        }
        let client = builder.build().map_err(|e| bad(chain(&e)))?;
        let mut cache = self.cache.lock();
        // A handful of CAs per mount is normal; many means configs keep changing, so start over
        // rather than grow without bound.
        if cache.len() >= 16 {
            cache.clear();
        }
        cache.insert(key, client.clone());
        Ok(client)
    }
}

/// Reads a response body of at most [`MAX_BODY`] bytes as JSON, turning error statuses into
/// [`HttpError::Status`].
pub(crate) async fn read_json(
    url: &str,
    mut resp: reqwest::Response,
) -> Result<serde_json::Value, HttpError> {
    let status = resp.status();
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(HttpError::BadBody {
                        url: url.to_string(),
                        reason: format!("the body is larger than {MAX_BODY} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(HttpError::Unreachable {
                    url: url.to_string(),
                    cause: chain(&e),
                })
            }
        }
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let snippet: String = text.chars().take(300).collect();
        return Err(HttpError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            body: snippet.trim().to_string(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| HttpError::BadBody {
        url: url.to_string(),
        reason: format!("not JSON: {e}"),
    })
}

/// GETs a JSON document.
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: &str,
) -> Result<serde_json::Value, HttpError> {
    let resp = client
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| HttpError::Unreachable {
            url: url.to_string(),
            cause: chain(&e),
        })?;
    read_json(url, resp).await
}
