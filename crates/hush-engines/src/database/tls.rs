//! TLS to the database for the PostgreSQL plugin: rustls (aws-lc-rs, as everywhere in hush)
//! behind tokio-postgres' `MakeTlsConnect`, with libpq's three strengths of checking.
//!
//! - [`Verify::Nothing`]: encrypt, trust any certificate (`sslmode=prefer` and `require`, as
//!   libpq does: they protect against listening, not against a server in the middle);
//! - [`Verify::Chain`]: the certificate must chain to a trusted root, whatever name it has
//!   (`verify-ca`);
//! - [`Verify::Full`]: the chain, and the host name of the connection URL in the certificate
//!   (`verify-full`).
//!
//! The handshake signatures are checked in every mode, so a server must hold the key of the
//! certificate it shows.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing (encryption only).
    Nothing,
    /// That it chains to a trusted root.
    Chain,
    /// The chain and the host name.
    Full,
}

/// The certificates of PEM text; `what` names the source in errors (a file name or a field).
pub fn pem_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not PEM certificate text ({e})"))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The private key of PEM text (PKCS#8, PKCS#1 or SEC1); `what` names the source in errors.
/// The error never quotes the text.
pub fn pem_private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|_| format!("{what} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"))
}

/// A client certificate and its key.
pub struct Identity {
    /// The certificate chain, the client's own first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
}

/// The rustls client configuration for `verify`, trusting `roots` (or, when `roots` is empty,
/// the operating system's trust store), presenting `identity` when the server asks for one.
pub fn client_config(
    verify: Verify,
    roots: Vec<CertificateDer<'static>>,
    identity: Option<Identity>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut store = RootCertStore::empty();
    if verify != Verify::Nothing {
        let from_system = roots.is_empty();
        let certs = if from_system {
            // What pgx (Vault's driver) does without sslrootcert: the system's roots.
            rustls_native_certs::load_native_certs().certs
        } else {
            roots
        };
        let (added, _) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(if from_system {
                "the system's trust store has no usable CA certificate: give the CA in \
                 sslrootcert=<file>"
                    .into()
            } else {
                "none of the CA certificates can be parsed as X.509".into()
            });
        }
    }
    let store = Arc::new(store);
    let webpki = if verify == Verify::Full {
        Some(
            WebPkiServerVerifier::builder_with_provider(store.clone(), provider.clone())
                .build()
                .map_err(|e| format!("the CA certificates cannot be used as roots ({e})"))?,
        )
    } else {
        None
    };
    let verifier = Arc::new(Verifier {
        verify,
        roots: store,
        webpki,
        provider: provider.clone(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(|e| format!("no TLS version is available ({e})"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain, id.key)
            .map_err(|e| format!("the client certificate and key cannot be used ({e})"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The server-certificate check of one [`Verify`] mode.
#[derive(Debug)]
struct Verifier {
    verify: Verify,
    roots: Arc<RootCertStore>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match (self.verify, &self.webpki) {
            (Verify::Full, Some(webpki)) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            // A Full verifier is always built with its WebPKI verifier: refuse rather than
            // check less, should that ever not hold.
            (Verify::Full, None) => Err(Error::General("no verifier for verify-full".into())),
            (Verify::Chain, _) => {
                let cert = ParsedCertificate::try_from(end_entity)?;
                verify_server_cert_signed_by_trust_anchor(
                    &cert,
                    &self.roots,
                    intermediates,
                    now,
                    self.provider.signature_verification_algorithms.all,
                )?;
                Ok(ServerCertVerified::assertion())
            }
            (Verify::Nothing, _) => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// tokio-postgres' TLS hook: one [`PgTlsConnect`] per host of the connection URL.
#[derive(Clone)]
pub struct PgTls {
    config: Arc<rustls::ClientConfig>,
}

impl PgTls {
    /// Connections with `config`.
    pub fn new(config: Arc<rustls::ClientConfig>) -> Self {
        PgTls { config }
    }
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = PgTlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<PgTlsConnect> {
        // A Unix socket has no host name; TLS is never started on one (the server says no),
        // so the missing name only matters, as an error, if it ever is.
        Ok(PgTlsConnect {
            config: self.config.clone(),
            name: ServerName::try_from(domain.to_string()).ok(),
            domain: domain.to_string(),
        })
    }
}

/// The TLS handshake towards one host.
pub struct PgTlsConnect {
    config: Arc<rustls::ClientConfig>,
    name: Option<ServerName<'static>>,
    domain: String,
}

impl<S> TlsConnect<S> for PgTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self.name.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("\"{}\" is not a host name TLS can check", self.domain),
                )
            })?;
            let stream = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(PgTlsStream(stream))
        })
    }
}

/// A TLS connection to the server.
pub struct PgTlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for PgTlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding (tokio-postgres' default is to prefer it, not require
        // it); the certificate checks above are what bind the session to the server.
        ChannelBinding::none()
    }
}

/// The message of a failed TLS connection, with what to do about it when the certificate did
/// not verify.
pub fn explain(message: &str) -> String {
    if message.contains("invalid peer certificate") || message.contains("UnknownIssuer") {
        format!(
            "{message}: the server's TLS certificate did not verify against the trusted CA \
             (check sslrootcert / tls_ca, or the host name in the URL for verify-full)"
        )
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_errors_name_the_source_and_never_the_text() {
        let e = pem_certificates(b"not pem", "sslrootcert /x").unwrap_err();
        assert!(e.contains("sslrootcert /x"), "{e}");
        let e = pem_private_key(b"secret-ish text", "sslkey /k").unwrap_err();
        assert!(e.contains("sslkey /k") && !e.contains("secret-ish"), "{e}");
    }

    #[test]
    fn every_mode_builds() {
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let pem = ca.cert.pem();
        let roots = pem_certificates(pem.as_bytes(), "ca").unwrap();
        for v in [Verify::Nothing, Verify::Chain, Verify::Full] {
            assert!(client_config(v, roots.clone(), None).is_ok());
        }
    }
}
