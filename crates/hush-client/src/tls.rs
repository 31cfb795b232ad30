//! Server-certificate checks against a CA file (`--ca-cert`, `HUSH_CACERT`, `VAULT_CACERT`).
//!
//! The file's certificates are the only roots, as in Vault. One case more is accepted, as curl
//! and the vault CLI accept it: a server certificate that is byte for byte one of the file's
//! certificates (a self-signed certificate trusted directly). WebPKI alone refuses such a
//! certificate when it says it is a CA (`CaUsedAsEndEntity`) or names no issuer in the file;
//! trusting it exactly is what the operator meant by putting it there. Its validity period and
//! its names are still checked, and the handshake still proves the server holds its key.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

/// Verifies with the CA file's certificates as roots, or as exact pins.
#[derive(Debug)]
struct CaFileVerifier {
    roots: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let err = match self.roots.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(err) => err,
        };
        if !self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return Err(err);
        }
        // WebPKI checks the validity period before anything about issuers or CA flags, so any
        // other error means the period is fine; an expired pin stays refused.
        if let Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. }
            | CertificateError::BadEncoding
            | CertificateError::Revoked,
        ) = err
        {
            return Err(err);
        }
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.roots.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.roots.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.roots.supported_verify_schemes()
    }
}

/// The certificates of a PEM file's contents; an error names what is wrong.
pub(crate) fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("it is not a valid PEM certificate file ({e})"))?;
    if certs.is_empty() {
        return Err("it contains no PEM certificate".to_owned());
    }
    Ok(certs)
}

/// A TLS client configuration that trusts `certs` (a CA file's certificates) as described in
/// the module documentation, speaking HTTP/2 or HTTP/1.1.
pub(crate) fn ca_file_config(
    certs: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err("none of its certificates can be parsed as an X.509 certificate".to_owned());
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("its certificates cannot be used as roots ({e})"))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(|e| format!("no TLS version is available ({e})"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CaFileVerifier {
            roots: verifier,
            pinned: certs,
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
