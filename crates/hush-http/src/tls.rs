//! TLS for listeners: rustls with TLS 1.2 and 1.3, optional client certificate verification.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hush_config::{ListenerConfig, TlsVersion};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a listener's TLS configuration cannot be built; each names the file or setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A TLS listener without its certificate or key file.
    #[error("listener {address} needs {setting} (or tls_disable = true)")]
    Missing {
        /// The listener's address.
        address: String,
        /// `tls_cert_file` or `tls_key_file`.
        setting: &'static str,
    },
    /// A certificate file that cannot be read or parsed.
    #[error("cannot read certificate file {}: {detail}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A certificate file with no certificate in it.
    #[error("{} contains no PEM certificate (expected -----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A key file without a usable key.
    #[error(
        "cannot read a private key from {}: {detail} (expected a PEM PKCS#8, PKCS#1 or SEC1 key)",
        path.display()
    )]
    Key {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A setting rustls refuses (versions, client CA, the key and certificate pair).
    #[error("{what}: {source}")]
    Rustls {
        /// What was being set up.
        what: String,
        /// rustls' reason.
        source: rustls::Error,
    },
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |e: &dyn std::fmt::Display| TlsError::Certificate {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&format!("not a valid PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn rustls_err(what: String) -> impl FnOnce(rustls::Error) -> TlsError {
    move |source| TlsError::Rustls { what, source }
}

/// Builds the rustls configuration of a TLS listener.
///
/// # Errors
///
/// A [`TlsError`] naming the file or setting to fix.
pub fn server_config(l: &ListenerConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let missing = |setting| TlsError::Missing {
        address: l.address.clone(),
        setting,
    };
    let cert_file = l
        .tls_cert_file
        .as_deref()
        .ok_or_else(|| missing("tls_cert_file"))?;
    let key_file = l
        .tls_key_file
        .as_deref()
        .ok_or_else(|| missing("tls_key_file"))?;
    let certs = read_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::Key {
        path: key_file.to_owned(),
        detail: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // tls_min_version / tls_max_version narrow the default of TLS 1.2 and 1.3.
    let min = l.tls_min_version.unwrap_or(TlsVersion::Tls12);
    let max = l.tls_max_version.unwrap_or(TlsVersion::Tls13);
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= TlsVersion::Tls13 && max >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(rustls_err(format!(
            "cannot enable TLS versions {min} to {max}"
        )))?;
    let builder = match &l.tls_client_ca_file {
        Some(ca_file) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca_file)? {
                roots.add(c).map_err(rustls_err(format!(
                    "invalid CA certificate in {}",
                    ca_file.display()
                )))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if l.tls_require_and_verify_client_cert {
                verifier.build()
            } else {
                verifier.allow_unauthenticated().build()
            }
            .map_err(|e| TlsError::Rustls {
                what: "cannot build the client certificate verifier".into(),
                source: rustls::Error::General(e.to_string()),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(rustls_err(format!(
            "the key in {} does not match the certificate in {}",
            key_file.display(),
            cert_file.display()
        )))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
