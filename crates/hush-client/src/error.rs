//! The one error type of the client, with messages that say what went wrong and how to fix it.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// Everything that can go wrong while configuring the client or talking to the server.
///
/// Every message is complete on its own: callers can print it with `{}` and need not walk the
/// `source()` chain (which is still there for programmatic inspection).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with a non-success status and (usually) an `errors` list.
    #[error("{} (HTTP {status}) on {path}", describe_api_errors(*status, errors))]
    Api {
        /// The HTTP status code.
        status: u16,
        /// The server's `errors` array, possibly empty.
        errors: Vec<String>,
        /// The request path under `/v1/`, without its query string (which is not shown because
        /// a caller may have put something there that should not end up in a log).
        path: String,
    },

    /// No TCP connection could be made to the server.
    #[error(
        "could not connect to hush at {address}: {}. Is the server running? \
         Set the address with --address, HUSH_ADDR or VAULT_ADDR",
        summarize_cause(source)
    )]
    Connect {
        /// The configured server address.
        address: String,
        /// The underlying transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The TLS handshake failed (untrusted certificate, wrong host name, plain HTTP server...).
    #[error("TLS connection to {address} failed: {detail}")]
    Tls {
        /// The configured server address.
        address: String,
        /// What failed and what to do about it.
        detail: String,
    },

    /// The address says `http://` but the server answered in TLS.
    #[error(
        "hush at {address} answered in TLS, not plain HTTP: its listener uses HTTPS. Use \
         {https} as the address (--address, HUSH_ADDR or VAULT_ADDR)"
    )]
    PlainHttpToTls {
        /// The configured server address.
        address: String,
        /// The same address with `https://`.
        https: String,
    },

    /// The server did not answer within the configured timeout.
    #[error(
        "hush at {address} did not answer within {}s. Is the address right and the server \
         healthy? Raise the limit with HUSH_CLIENT_TIMEOUT (e.g. 120s)",
        timeout.as_secs_f64()
    )]
    Timeout {
        /// The configured server address.
        address: String,
        /// The timeout that expired.
        timeout: Duration,
    },

    /// Any other failure while sending the request or reading the response.
    #[error("request to {url} failed: {}", summarize_cause(source))]
    Request {
        /// The URL that was requested.
        url: String,
        /// The underlying transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The server answered with a body that is not the JSON this client expected.
    #[error(
        "the server answered {url} (HTTP {status}) with a body that is not the expected JSON: \
         {source}. Does the address point at a hush or Vault server?"
    )]
    InvalidJson {
        /// The URL that was requested.
        url: String,
        /// The HTTP status of the response.
        status: u16,
        /// What the JSON parser complained about.
        #[source]
        source: serde_json::Error,
    },

    /// A request body could not be encoded as JSON.
    #[error("could not encode the request body as JSON: {source}")]
    EncodeBody {
        /// What the encoder complained about.
        #[source]
        source: serde_json::Error,
    },

    /// The server address is not a usable http(s) URL.
    #[error(
        "invalid server address \"{address}\": {reason}. Use a URL such as \
         https://hush.example.com:8200 (set it with --address, HUSH_ADDR or VAULT_ADDR)"
    )]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The CA certificate file could not be read.
    #[error(
        "could not read the CA certificate file {}: {source}. Check the path given with \
         --ca-cert, HUSH_CACERT or VAULT_CACERT",
        path.display()
    )]
    CaCertRead {
        /// The CA file path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The CA certificate file was read but holds no usable certificate.
    #[error(
        "the CA certificate file {} is not usable: {reason}. It must contain one or more PEM \
         certificates (-----BEGIN CERTIFICATE-----)",
        path.display()
    )]
    CaCertInvalid {
        /// The CA file path.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },

    /// The token helper file could not be written (after a login).
    #[error(
        "could not save the token to {}: {source}. Check that the directory exists and is \
         writable, or pass --no-store and set HUSH_TOKEN instead",
        path.display()
    )]
    TokenFileWrite {
        /// The token file path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The token helper file exists but could not be read.
    #[error(
        "could not read the token file {}: {source}. Fix its permissions, delete it, or set \
         HUSH_TOKEN",
        path.display()
    )]
    TokenFile {
        /// The token file path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// A response-wrapping TTL that is not a duration.
    #[error(
        "invalid wrap TTL \"{value}\": give a duration such as 60s, 5m or 1h, or a number of \
         seconds"
    )]
    InvalidWrapTtl {
        /// The rejected value.
        value: String,
    },

    /// An environment variable holds a value that cannot be understood.
    #[error("invalid value \"{value}\" in the environment variable {name}: expected {expected}")]
    InvalidEnv {
        /// The variable name.
        name: String,
        /// The offending value (never a secret: only non-secret variables are validated).
        value: String,
        /// What would have been accepted.
        expected: String,
    },

    /// The HTTP client could not be built from the configuration.
    #[error("could not set up the HTTP client: {}", summarize_cause(source))]
    Build {
        /// The builder error.
        #[source]
        source: reqwest::Error,
    },
}

/// Why the server refused a token (see [`ClientError::token_rejection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// The request carried no token.
    Missing,
    /// The token is unknown, expired or revoked (or was issued by another server).
    Invalid,
}

impl ClientError {
    /// The server's own messages if this is an error answer from the server, joined with `; `
    /// (or the status's reason phrase when the server sent none).
    pub fn server_message(&self) -> Option<String> {
        match self {
            ClientError::Api { status, errors, .. } => Some(describe_api_errors(*status, errors)),
            _ => None,
        }
    }

    /// Whether this is a 403 about the token itself rather than its policies: hush says
    /// "no token was given" or "invalid token" after "permission denied", and Vault says
    /// "invalid token" among its errors.
    pub fn token_rejection(&self) -> Option<TokenRejection> {
        let ClientError::Api {
            status: 403,
            errors,
            ..
        } = self
        else {
            return None;
        };
        errors.iter().find_map(|e| {
            if e.contains("invalid token") {
                Some(TokenRejection::Invalid)
            } else if e.contains("no token was given") {
                Some(TokenRejection::Missing)
            } else {
                None
            }
        })
    }

    /// The HTTP status if this is an error answer from the server.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::InvalidJson { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// Joins the server's messages, or falls back to the status's reason phrase so that the message
/// is never empty (Vault answers a plain 404 with `{"errors":[]}`).
fn describe_api_errors(status: u16, errors: &[String]) -> String {
    let messages: Vec<&str> = errors
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .collect();
    if !messages.is_empty() {
        return messages.join("; ");
    }
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| r.to_ascii_lowercase())
        .unwrap_or_else(|| "no error message".to_owned())
}

/// Finds the most useful short description of a transport error.
///
/// reqwest's own message ("error sending request for url (...)") says nothing about the cause;
/// the innermost error of the chain does ("Connection refused"), so use that, shortened for the
/// common socket errors.
pub(crate) fn summarize_cause(err: &reqwest::Error) -> String {
    let chain = error_chain(err);
    for e in &chain {
        if let Some(short) = e.downcast_ref::<io::Error>().and_then(short_io_message) {
            return short.to_owned();
        }
    }
    chain
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| err.to_string())
}

/// Every error in the chain, outermost first, including the ones wrapped inside `io::Error`s:
/// `io::Error::source()` skips the error it wraps (hyper and rustls nest errors that way), so
/// those are unwrapped by hand.
fn error_chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        chain.push(e);
        current = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    chain
}

fn short_io_message(err: &io::Error) -> Option<&'static str> {
    use io::ErrorKind::*;
    Some(match err.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset by the server",
        ConnectionAborted => "connection aborted",
        TimedOut => "connection timed out",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        AddrNotAvailable => "address not available",
        _ => return None,
    })
}

/// The rustls error somewhere in a transport error's chain, if the failure was a TLS one.
pub(crate) fn find_tls_error(err: &reqwest::Error) -> Option<&rustls::Error> {
    error_chain(err)
        .into_iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())
}

/// Explains a TLS failure and what to change, naming the CA file when one is configured.
pub(crate) fn explain_tls_error(tls: &rustls::Error, ca_cert: Option<&std::path::Path>) -> String {
    use rustls::{CertificateError, Error as E};
    let ca_hint = match ca_cert {
        Some(path) => format!(
            "the certificate was checked against the CA in {}; make sure that file holds the CA \
             that signed the server's certificate",
            path.display()
        ),
        None => "if the server uses a private CA, point --ca-cert, HUSH_CACERT or VAULT_CACERT \
                 at its PEM file (HUSH_SKIP_VERIFY=true disables verification; for testing only)"
            .to_owned(),
    };
    match tls {
        E::InvalidCertificate(CertificateError::NotValidForName)
        | E::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "{tls}. The server's certificate does not name the host in the address; connect \
             with a host name the certificate covers"
        ),
        E::InvalidCertificate(CertificateError::Expired)
        | E::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            format!("{tls}. The server's certificate has expired; renew it")
        }
        E::InvalidCertificate(_) => format!("{tls}. {ca_hint}"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            format!("{tls}. Is the server serving plain HTTP? If so, use an http:// address")
        }
        _ => format!("{tls}. {ca_hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_display_joins_messages() {
        let err = ClientError::Api {
            status: 403,
            errors: vec!["permission denied".to_owned()],
            path: "secret/data/app".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "permission denied (HTTP 403) on secret/data/app"
        );
        assert_eq!(err.server_message().as_deref(), Some("permission denied"));
        let err = ClientError::Api {
            status: 400,
            errors: vec!["one".to_owned(), " two ".to_owned()],
            path: "sys/x".to_owned(),
        };
        assert_eq!(err.to_string(), "one; two (HTTP 400) on sys/x");
    }

    #[test]
    fn api_error_without_messages_uses_reason_phrase() {
        let err = ClientError::Api {
            status: 404,
            errors: vec![],
            path: "secret/x".to_owned(),
        };
        assert_eq!(err.to_string(), "not found (HTTP 404) on secret/x");
        assert_eq!(err.status(), Some(404));
        let err = ClientError::Api {
            status: 599,
            errors: vec![String::new()],
            path: "x".to_owned(),
        };
        assert_eq!(err.to_string(), "no error message (HTTP 599) on x");
    }

    #[test]
    fn tls_explanations_name_the_ca_file() {
        let err = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let text = explain_tls_error(&err, Some(std::path::Path::new("/etc/hush/ca.pem")));
        assert!(text.contains("/etc/hush/ca.pem"), "{text}");
        let text = explain_tls_error(&err, None);
        assert!(text.contains("HUSH_CACERT"), "{text}");
    }
}
