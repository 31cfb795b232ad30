//! The connection loop: plain TCP or TLS, HTTP/1.1 and HTTP/2, timeouts, a connection cap,
//! graceful shutdown.

use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::http::{header, HeaderValue, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Sleep;
use tower::ServiceExt;

use crate::api::ClientAddr;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The least time between two warnings about refused connections, so that running out of
/// file descriptors (or connection slots) is reported without flooding the log.
const ACCEPT_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Connections accepted over a listener's cap, for health checks only: a load balancer can
/// still see that the server is alive, and learns that it is full.
pub const HEALTH_HEADROOM: usize = 16;

/// How long a connection over the cap may take to send its request: a health check asks at
/// once, and a client that only holds the connection must not keep the headroom full.
const HEADROOM_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The paths a connection over the cap may still use.
const HEALTH_PATHS: &[&str] = &["/v1/sys/health", "/v1/sys/seal-status", "/v1/sys/leader"];

/// A listener's limits; Vault's listener keys where Vault has them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `http_read_header_timeout`: first byte and request headers (zero: none).
    pub header_read_timeout: Duration,
    /// `http_read_timeout`: a request's body (zero: none).
    pub read_timeout: Duration,
    /// `http_write_timeout`: how long a write to the client may stall (zero: none).
    pub write_timeout: Duration,
    /// `http_idle_timeout`: how long a connection may stay silent (zero: none).
    pub idle_timeout: Duration,
    /// Connections served at once; [`HEALTH_HEADROOM`] more are served for health checks only.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: hush_config::DEFAULT_HTTP_READ_HEADER_TIMEOUT,
            read_timeout: hush_config::DEFAULT_HTTP_READ_TIMEOUT,
            write_timeout: Duration::ZERO,
            idle_timeout: hush_config::DEFAULT_HTTP_IDLE_TIMEOUT,
            max_connections: 4096,
        }
    }
}

/// The time a request's body may take to arrive, handed to the API handler with the request.
#[derive(Debug, Clone, Copy)]
pub struct ReadTimeout(pub Duration);

/// How a listener serves.
#[derive(Clone, Default)]
pub struct ServeOptions {
    /// The TLS configuration (none: plain HTTP). Swapped on SIGHUP to load renewed
    /// certificates; each new connection uses the current one.
    pub tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    /// Timeouts and the connection cap.
    pub limits: Limits,
    /// Vault's `x_forwarded_for_*`: the client address from a trusted proxy's header.
    pub forwarded_for: Option<Arc<hush_config::ForwardedFor>>,
    /// Serve `sys/metrics` without a token (the listener's `telemetry` stanza).
    pub unauthenticated_metrics: bool,
}

/// Marks a request that arrived on a listener serving `sys/metrics` without a token.
#[derive(Debug, Clone, Copy)]
pub struct UnauthenticatedMetrics;

/// Serves `app` on `listener` until `shutdown` flips to true, then lets in-flight requests
/// finish. Public so benchmarks can measure the bare stack.
pub async fn serve(
    listener: TcpListener,
    opts: ServeOptions,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let limits = opts.limits;
    let open = Arc::new(AtomicUsize::new(0));
    let mut last_warning: Option<std::time::Instant> = None;
    let mut failures = 0u64;
    let mut warn = |what: &str, error: Option<&io::Error>| {
        failures += 1;
        if last_warning.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_INTERVAL) {
            match error {
                Some(e) => tracing::warn!(error = %e, failures, "{what}"),
                None => tracing::warn!(failures, limit = limits.max_connections, "{what}"),
            }
            last_warning = Some(std::time::Instant::now());
            failures = 0;
        }
    };
    loop {
        let (stream, addr) = tokio::select! {
            res = listener.accept() => match res {
                Ok(conn) => conn,
                Err(e) => {
                    // Running out of file descriptors must not end the loop; back off briefly.
                    warn("accept failed (too many open connections or files?); retrying", Some(&e));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let slot = Slot::take(&open);
        let health_only = slot.count > limits.max_connections;
        if slot.count > limits.max_connections + HEALTH_HEADROOM {
            // Closing at once frees the descriptor; the client sees a reset, not a hang.
            warn(
                "connection refused: the listener serves max_connections already, and its \
                 headroom for health checks is in use too",
                None,
            );
            continue;
        }
        if health_only {
            warn(
                "listener at max_connections: a new connection is served for health checks \
                 only (503 otherwise)",
                None,
            );
        }
        let mut limits = limits;
        if health_only {
            limits.header_read_timeout = match limits.header_read_timeout {
                t if t.is_zero() => HEADROOM_HEADER_TIMEOUT,
                t => t.min(HEADROOM_HEADER_TIMEOUT),
            };
        }
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let forwarded_for = opts.forwarded_for.clone();
        let unauthenticated_metrics = opts.unauthenticated_metrics;
        let tls = opts.tls.as_ref().map(|t| t.load_full());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            // hyper's header timer starts with the first byte: a client that connects and
            // sends nothing is dropped here.
            let mut first = [0u8; 1];
            let peek = stream.peek(&mut first);
            let first_byte = if limits.header_read_timeout.is_zero() {
                peek.await.ok()
            } else {
                tokio::time::timeout(limits.header_read_timeout, peek)
                    .await
                    .ok()
                    .and_then(Result::ok)
            };
            if !matches!(first_byte, Some(1..)) {
                tracing::debug!(client = %addr, "connection sent nothing; closed");
                return;
            }
            let conn = Conn {
                app,
                addr,
                limits,
                health_only,
                forwarded_for,
                unauthenticated_metrics,
            };
            let stream = Timed::new(stream, limits);
            let Some(tls) = tls else {
                return conn.serve(stream, watcher).await;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => conn.serve(tls, watcher).await,
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

/// One open connection counted against the cap; released when dropped.
struct Slot {
    open: Arc<AtomicUsize>,
    /// Open connections, this one included.
    count: usize,
}

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        let count = open.fetch_add(1, Ordering::AcqRel) + 1;
        Slot {
            open: Arc::clone(open),
            count,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What serving one accepted connection needs.
struct Conn {
    app: axum::Router,
    addr: SocketAddr,
    limits: Limits,
    health_only: bool,
    forwarded_for: Option<Arc<hush_config::ForwardedFor>>,
    unauthenticated_metrics: bool,
}

impl Conn {
    /// Serves HTTP/1.1 and HTTP/2 on the (for TLS, handshaken) connection until it ends or the
    /// graceful shutdown finishes it.
    async fn serve<I>(self, io: I, watcher: Watcher)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut b = Builder::new(TokioExecutor::new());
        let mut h1 = b.http1();
        h1.timer(hyper_util::rt::TokioTimer::new());
        if !self.limits.header_read_timeout.is_zero() {
            h1.header_read_timeout(self.limits.header_read_timeout);
        }
        // A connection over the cap answers one request and closes.
        h1.keep_alive(!self.health_only);
        b.http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(60)))
            .keep_alive_timeout(Duration::from_secs(20));
        let conn = b
            .serve_connection_with_upgrades(TokioIo::new(io), self.service())
            .into_owned();
        let _ = watcher.watch(conn).await;
    }

    fn service(
        self,
    ) -> hyper_util::service::TowerToHyperService<
        impl tower::Service<
                hyper::Request<Incoming>,
                Response = axum::response::Response,
                Error = std::convert::Infallible,
                Future = impl Send,
            > + Clone,
    > {
        let Conn {
            app,
            addr,
            limits,
            health_only,
            forwarded_for,
            unauthenticated_metrics,
        } = self;
        let svc = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
            let app = app.clone();
            let forwarded_for = forwarded_for.clone();
            async move {
                if health_only && !HEALTH_PATHS.contains(&req.uri().path()) {
                    return Ok(over_capacity(limits.max_connections));
                }
                let client = match forwarded_for.as_deref() {
                    None => addr,
                    Some(ff) => match forwarded_client(ff, addr, req.headers()) {
                        Ok(client) => client,
                        Err(why) => {
                            return Ok(crate::api::error_response(StatusCode::BAD_REQUEST, &why))
                        }
                    },
                };
                req.extensions_mut().insert(ClientAddr(client));
                req.extensions_mut()
                    .insert(ReadTimeout(limits.read_timeout));
                if unauthenticated_metrics {
                    req.extensions_mut().insert(UnauthenticatedMetrics);
                }
                app.oneshot(req.map(axum::body::Body::new)).await
            }
        });
        hyper_util::service::TowerToHyperService::new(svc)
    }
}

/// The client address of a request on a listener with `x_forwarded_for_*` set, as Vault
/// decides it: the header is required (unless `reject_not_present` is off), only the
/// authorized proxies may send it (others are refused, or their header ignored), and the
/// address is the last of the list after skipping `hop_skips` from its end. The port stays
/// the connection's.
fn forwarded_client(
    ff: &hush_config::ForwardedFor,
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
) -> Result<SocketAddr, String> {
    let values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        if !ff.reject_not_present {
            return Ok(peer);
        }
        return Err(
            "missing X-Forwarded-For header: this listener takes requests only through \
                    its proxies (x_forwarded_for_reject_not_present = true)"
                .to_owned(),
        );
    }
    if !ff.authorized_addrs.iter().any(|c| c.contains(peer.ip())) {
        if !ff.reject_not_authorized {
            return Ok(peer);
        }
        return Err(format!(
            "client address {} is not authorized to send X-Forwarded-For on this listener \
             (x_forwarded_for_authorized_addrs); send the request without the header or through \
             an authorized proxy",
            peer.ip()
        ));
    }
    let skips = usize::try_from(ff.hop_skips).unwrap_or(usize::MAX);
    let Some(index) = values
        .len()
        .checked_sub(1)
        .and_then(|i| i.checked_sub(skips))
    else {
        return Err(format!(
            "malformed X-Forwarded-For: hops to skip ({skips}) would skip before the earliest \
             address of the chain ({} addresses)",
            values.len()
        ));
    };
    let value = values[index];
    let ip = value
        .parse::<std::net::IpAddr>()
        .or_else(|_| value.parse::<SocketAddr>().map(|a| a.ip()))
        .map_err(|_| {
            format!(
                "malformed X-Forwarded-For: {:?} is not an IP address",
                value.chars().take(64).collect::<String>()
            )
        })?;
    Ok(SocketAddr::new(ip, peer.port()))
}

/// The answer on a connection over the cap to anything but a health check.
fn over_capacity(limit: usize) -> axum::response::Response {
    let mut resp = crate::api::error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "the server has too many open connections (max_connections = {limit} on this \
             listener): retry shortly, reuse connections, or raise max_connections"
        ),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A connection with an idle timeout (no byte arrives for `idle`) and a write timeout (a write
/// that cannot proceed for `write`, because the client stopped reading). Either ends the
/// connection with `TimedOut`.
struct Timed<I> {
    io: I,
    idle: Duration,
    write: Duration,
    read_timer: Option<Pin<Box<Sleep>>>,
    read_armed: bool,
    write_timer: Option<Pin<Box<Sleep>>>,
    write_armed: bool,
}

impl<I> Timed<I> {
    fn new(io: I, limits: Limits) -> Self {
        Timed {
            io,
            idle: limits.idle_timeout,
            write: limits.write_timeout,
            read_timer: None,
            read_armed: false,
            write_timer: None,
            write_armed: false,
        }
    }
}

/// Polls a timer that starts when an operation first returns `Pending` and is disarmed when it
/// completes; `Err` once it has expired.
fn poll_stall(
    timer: &mut Option<Pin<Box<Sleep>>>,
    armed: &mut bool,
    limit: Duration,
    pending: bool,
    cx: &mut Context<'_>,
    what: &str,
) -> io::Result<()> {
    if limit.is_zero() {
        return Ok(());
    }
    if !pending {
        *armed = false;
        return Ok(());
    }
    if !*armed {
        let deadline = tokio::time::Instant::now() + limit;
        match timer {
            Some(t) => t.as_mut().reset(deadline),
            None => *timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        *armed = true;
    }
    let expired = timer
        .as_mut()
        .is_some_and(|t| t.as_mut().poll(cx).is_ready());
    if expired {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} for {limit:?}: connection closed"),
        ))
    } else {
        Ok(())
    }
}

impl<I> Timed<I> {
    /// A write's result, or `TimedOut` once writes have stalled for the write timeout.
    fn write_stalled(
        &mut self,
        r: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match poll_stall(
            &mut self.write_timer,
            &mut self.write_armed,
            self.write,
            r.is_pending(),
            cx,
            "the client read nothing (http_write_timeout)",
        ) {
            Err(e) => Poll::Ready(Err(e)),
            Ok(()) => r,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Timed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        let t = poll_stall(
            &mut this.read_timer,
            &mut this.read_armed,
            this.idle,
            r.is_pending(),
            cx,
            "the client sent nothing (http_idle_timeout)",
        );
        match t {
            Err(e) => Poll::Ready(Err(e)),
            Ok(()) => r,
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Timed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.write_stalled(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.write_stalled(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
