//! The connection loop: plain TCP or TLS, HTTP/1.1 and HTTP/2, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::api::ClientAddr;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's headers (Vault's `http_read_header_timeout`
/// default): a connection trickling a byte at a time is dropped instead of held forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The least time between two "accept failed" warnings, so that running out of file
/// descriptors is reported without flooding the log.
const ACCEPT_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (TLS when `tls` is given) until `shutdown` flips to true, then lets
/// in-flight requests finish. Public so benchmarks can measure the bare stack.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut last_warning: Option<std::time::Instant> = None;
    let mut failures = 0u64;
    loop {
        let (stream, addr) = tokio::select! {
            res = listener.accept() => match res {
                Ok(conn) => conn,
                Err(e) => {
                    // Running out of file descriptors must not end the loop; back off briefly.
                    failures += 1;
                    if last_warning.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_INTERVAL) {
                        tracing::warn!(
                            error = %e,
                            failures,
                            "accept failed (too many open connections or files?); retrying"
                        );
                        last_warning = Some(std::time::Instant::now());
                        failures = 0;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's header timer starts with the first byte: a client that connects and
            // sends nothing is dropped here.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await,
                Ok(Ok(1..))
            ) {
                tracing::debug!(client = %addr, "connection sent nothing; closed");
                return;
            }
            let Some(acceptor) = acceptor else {
                return serve_http(stream, app, addr, watcher).await;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve_http(tls, app, addr, watcher).await,
                Ok(Err(e)) => {
                    tracing::debug!(client = %addr, error = %e, "TLS handshake failed");
                }
                Err(_) => tracing::debug!(client = %addr, "TLS handshake timed out"),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy after 30s and were closed");
    }
}

/// Serves HTTP/1.1 and HTTP/2 on one accepted (and, for TLS, handshaken) connection until it
/// ends or the graceful shutdown finishes it.
async fn serve_http<I>(io: I, app: axum::Router, addr: SocketAddr, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = builder()
        .serve_connection_with_upgrades(TokioIo::new(io), service(app, addr))
        .into_owned();
    let _ = watcher.watch(conn).await;
}

fn builder() -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    b.http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(60)))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

fn service(
    app: axum::Router,
    addr: SocketAddr,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
            hyper::Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone,
> {
    let svc = app.map_request(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ClientAddr(addr));
        req.map(axum::body::Body::new)
    });
    hyper_util::service::TowerToHyperService::new(svc)
}
