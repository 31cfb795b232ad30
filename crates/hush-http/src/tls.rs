//! TLS for listeners: rustls with TLS 1.2 and 1.3, optional client certificate verification.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use hush_config::{ListenerConfig, TlsVersion};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read certificate file {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a valid PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!(
            "{} contains no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

/// Builds the rustls configuration of a TLS listener.
pub fn server_config(l: &ListenerConfig) -> anyhow::Result<Arc<ServerConfig>> {
    let cert_file = l.tls_cert_file.as_deref().ok_or_else(|| {
        anyhow!(
            "listener {} needs tls_cert_file (or tls_disable = true)",
            l.address
        )
    })?;
    let key_file = l.tls_key_file.as_deref().ok_or_else(|| {
        anyhow!(
            "listener {} needs tls_key_file (or tls_disable = true)",
            l.address
        )
    })?;
    let certs = read_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        anyhow!(
            "cannot read a private key from {}: {e} (expected a PEM PKCS#8, PKCS#1 or SEC1 key)",
            key_file.display()
        )
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
        .with_context(|| format!("cannot enable TLS versions {min} to {max}"))?;
    let builder = match &l.tls_client_ca_file {
        Some(ca_file) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca_file)? {
                roots
                    .add(c)
                    .with_context(|| format!("invalid CA certificate in {}", ca_file.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if l.tls_require_and_verify_client_cert {
                verifier.build()
            } else {
                verifier.allow_unauthenticated().build()
            }
            .context("cannot build the client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).with_context(|| {
        format!(
            "the key in {} does not match the certificate in {}",
            key_file.display(),
            cert_file.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
