//! The socket and syslog audit devices: the same chained lines as a file, sent one entry per
//! write over one connection that is re-established when it breaks.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixDatagram, UnixStream};

use crate::chain::{build_line, line_hash, ChainHead};
use crate::error::AuditError;
use crate::sink::check_serialized;
use crate::syslog::{self, Facility, UnsupportedValue, DEFAULT_SYSLOG_PATHS, SEVERITY_INFO};

/// The `socket_type` of a socket device: the kinds of Go's `net.Dial` that Vault's socket
/// device accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// TCP over IPv4 or IPv6 (the default).
    Tcp,
    /// TCP over IPv4 only.
    Tcp4,
    /// TCP over IPv6 only.
    Tcp6,
    /// UDP over IPv4 or IPv6: one datagram per entry.
    Udp,
    /// UDP over IPv4 only.
    Udp4,
    /// UDP over IPv6 only.
    Udp6,
    /// A unix stream socket; the address is its path.
    Unix,
    /// A unix datagram socket; the address is its path.
    Unixgram,
}

const SOCKET_TYPES: [(&str, SocketType); 8] = [
    ("tcp", SocketType::Tcp),
    ("tcp4", SocketType::Tcp4),
    ("tcp6", SocketType::Tcp6),
    ("udp", SocketType::Udp),
    ("udp4", SocketType::Udp4),
    ("udp6", SocketType::Udp6),
    ("unix", SocketType::Unix),
    ("unixgram", SocketType::Unixgram),
];

impl SocketType {
    /// True for the unix kinds, whose address is a path.
    pub fn is_unix(self) -> bool {
        matches!(self, Self::Unix | Self::Unixgram)
    }

    /// True for the datagram kinds: every entry is one datagram, which has a size limit.
    pub fn is_datagram(self) -> bool {
        matches!(self, Self::Udp | Self::Udp4 | Self::Udp6 | Self::Unixgram)
    }

    /// Whether an IP address of this family may be used (`tcp4` takes IPv4 only, ...).
    fn takes(self, addr: &std::net::SocketAddr) -> bool {
        match self {
            Self::Tcp4 | Self::Udp4 => addr.is_ipv4(),
            Self::Tcp6 | Self::Udp6 => addr.is_ipv6(),
            _ => true,
        }
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = SOCKET_TYPES
            .iter()
            .find(|(_, t)| t == self)
            .map_or("?", |(name, _)| name);
        f.write_str(name)
    }
}

impl FromStr for SocketType {
    type Err = UnsupportedValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        SOCKET_TYPES
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                UnsupportedValue::new(
                    "socket_type",
                    s,
                    "tcp, udp or unix (or tcp4, tcp6, udp4, udp6, unixgram)",
                )
            })
    }
}

/// Where a [`NetSink`] sends its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A socket device: each line followed by a newline.
    Socket {
        /// The kind of socket.
        kind: SocketType,
        /// `host:port` for TCP and UDP, a path for the unix kinds.
        address: String,
    },
    /// The local syslog daemon: each line as the message of one RFC 3164-style frame.
    Syslog {
        /// The facility of every message (severity is INFO).
        facility: Facility,
        /// The tag (program name) of every message.
        tag: String,
        /// The daemon's socket; `None` tries [`DEFAULT_SYSLOG_PATHS`].
        socket_path: Option<PathBuf>,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket { kind, address } => write!(f, "{kind} address {address}"),
            Self::Syslog {
                socket_path: Some(p),
                ..
            } => write!(f, "the syslog socket {}", p.display()),
            Self::Syslog { .. } => write!(f, "the syslog socket (tried {DEFAULT_SYSLOG_PATHS:?})"),
        }
    }
}

impl Target {
    /// What to check when connecting fails.
    fn hint(&self) -> &'static str {
        match self {
            Self::Socket { kind, .. } if kind.is_unix() => {
                "check that the receiver is listening on that socket path, or correct `address` \
                 and `socket_type`"
            }
            Self::Socket { .. } => {
                "check that the receiver is listening there, or correct `address` and \
                 `socket_type`"
            }
            Self::Syslog {
                socket_path: Some(_),
                ..
            } => "check that the syslog daemon listens on that path, or correct `socket_path`",
            Self::Syslog { .. } => {
                "check that a syslog daemon is running, or name its socket with `socket_path`"
            }
        }
    }
}

/// One open connection.
enum Conn {
    Tcp(TcpStream),
    Udp(UdpSocket),
    Unix(UnixStream),
    UnixDgram(UnixDatagram),
}

impl Conn {
    /// Sends one whole payload: a stream write, or one datagram.
    async fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let sent = match self {
            Self::Tcp(s) => return s.write_all(payload).await,
            Self::Unix(s) => return s.write_all(payload).await,
            Self::Udp(s) => s.send(payload).await?,
            Self::UnixDgram(s) => s.send(payload).await?,
        };
        if sent == payload.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "only {sent} of {} bytes went out in the datagram",
                    payload.len()
                ),
            ))
        }
    }

    /// True when the peer of a stream connection has closed it or reset it. Receivers of an
    /// audit stream send nothing, so a readable socket means an end of file or an error: a
    /// line written into it would be acknowledged by the kernel and lost.
    fn peer_gone(&self) -> bool {
        let fd: RawFd = match self {
            Self::Tcp(s) => s.as_raw_fd(),
            Self::Unix(s) => s.as_raw_fd(),
            Self::Udp(_) | Self::UnixDgram(_) => return false,
        };
        let flags = nix::sys::socket::MsgFlags::MSG_DONTWAIT;
        let mut scratch = [0u8; 512];
        // Whatever a receiver does send is read and dropped, a bounded amount per line.
        for _ in 0..64 {
            match nix::sys::socket::recv(fd, &mut scratch, flags) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(nix::errno::Errno::EAGAIN) => return false,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return true,
            }
        }
        false
    }
}

/// Connects to a socket target: every resolved address in turn, as Go's `net.Dial` does.
async fn connect_socket(kind: SocketType, address: &str) -> io::Result<Conn> {
    match kind {
        SocketType::Unix => return Ok(Conn::Unix(UnixStream::connect(address).await?)),
        SocketType::Unixgram => return Ok(Conn::UnixDgram(unix_datagram(Path::new(address))?)),
        _ => {}
    }
    let mut last = None;
    let addrs = tokio::net::lookup_host(address).await?;
    for addr in addrs.filter(|a| kind.takes(a)) {
        let attempt = if kind.is_datagram() {
            let local = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            match UdpSocket::bind(local).await {
                Ok(s) => s.connect(addr).await.map(|()| Conn::Udp(s)),
                Err(e) => Err(e),
            }
        } else {
            TcpStream::connect(addr).await.map(|s| {
                // Audit lines are complete when written; Nagle would only delay them.
                let _ = s.set_nodelay(true);
                Conn::Tcp(s)
            })
        };
        match attempt {
            Ok(conn) => return Ok(conn),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("\"{address}\" resolves to no address usable with socket_type {kind}"),
        )
    }))
}

fn unix_datagram(path: &Path) -> io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    Ok(s)
}

/// Connects to the syslog daemon as Go's `log/syslog` does: a datagram socket at each path,
/// then a stream socket at each.
async fn connect_syslog(socket_path: Option<&Path>) -> io::Result<Conn> {
    let paths: Vec<&Path> = match socket_path {
        Some(p) => vec![p],
        None => DEFAULT_SYSLOG_PATHS.iter().map(Path::new).collect(),
    };
    let mut first_err = None;
    for p in &paths {
        match unix_datagram(p) {
            Ok(s) => return Ok(Conn::UnixDgram(s)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    for p in &paths {
        if let Ok(s) = UnixStream::connect(p).await {
            return Ok(Conn::Unix(s));
        }
    }
    Err(first_err.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound)))
}

async fn connect(target: &Target) -> io::Result<Conn> {
    match target {
        Target::Socket { kind, address } => connect_socket(*kind, address).await,
        Target::Syslog { socket_path, .. } => connect_syslog(socket_path.as_deref()).await,
    }
}

/// True for the errors that say a datagram was too large; reconnecting cannot help.
fn too_large(e: &io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::EMSGSIZE as i32)
}

struct State {
    conn: Option<Conn>,
    head: ChainHead,
    closed: bool,
    /// Reused for each line and payload, so a steady stream allocates nothing.
    line: Vec<u8>,
    payload: Vec<u8>,
}

/// A hash-chained audit device writing Vault-format JSON lines to a TCP, UDP or unix socket,
/// or to the local syslog daemon.
///
/// Each line is built exactly as [`crate::FileSink`] builds it (the `hush_chain` field first,
/// `prev` the hash of the previous line), so a captured stream verifies with [`crate::verify`].
/// One entry is one write: a line and a newline on a socket, one frame per message to syslog.
/// Writes are serialized (the chain's order is the stream's order). A write that fails or
/// that does not finish within the write timeout drops the connection; the next write
/// reconnects first. The head only moves for a line that was handed to the kernel, so a failed
/// entry leaves no gap; an entry lost after that (a receiver that died with it unread, a UDP
/// datagram dropped) shows as a gap to [`crate::verify`].
pub struct NetSink {
    device: String,
    /// What errors call the device (its path, e.g. `socket/`).
    name: String,
    device_json: String,
    target: Target,
    write_timeout: Duration,
    state: tokio::sync::Mutex<State>,
    /// A copy of `state.head` for readers that must not wait for a write in progress.
    head: Mutex<ChainHead>,
}

impl fmt::Debug for NetSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetSink")
            .field("device", &self.device)
            .field("target", &self.target)
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl NetSink {
    /// Connects to `target` within `write_timeout` and continues the chain of `device_id` from
    /// `head` (the head the server recorded; `None` for a new device). `name` is what errors
    /// call the device (its path). Fails when the connection cannot be made, as Vault refuses
    /// a socket device it cannot reach.
    pub async fn open(
        target: Target,
        device_id: &str,
        name: &str,
        head: Option<ChainHead>,
        write_timeout: Duration,
    ) -> Result<NetSink, AuditError> {
        let head = head.unwrap_or_else(ChainHead::genesis);
        if head.seq == u64::MAX {
            return Err(AuditError::SeqExhausted {
                path: target.to_string(),
            });
        }
        let conn = match tokio::time::timeout(write_timeout, connect(&target)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(source)) => return Err(connect_error(name, &target, source)),
            Err(_) => {
                return Err(connect_error(
                    name,
                    &target,
                    timed_out("connecting", write_timeout),
                ))
            }
        };
        Ok(NetSink {
            device: device_id.to_owned(),
            name: name.to_owned(),
            device_json: serde_json::to_string(device_id).map_err(AuditError::Encode)?,
            target,
            write_timeout,
            state: tokio::sync::Mutex::new(State {
                conn: Some(conn),
                head: head.clone(),
                closed: false,
                line: Vec::new(),
                payload: Vec::new(),
            }),
            head: Mutex::new(head),
        })
    }

    /// Chains one serialized entry (compact JSON of an object without a top-level
    /// `hush_chain` key, as for [`crate::FileSink::append_serialized`]) and sends it; returns
    /// the new head once the kernel has the whole line.
    pub async fn append_serialized(&self, bytes: Vec<u8>) -> Result<ChainHead, AuditError> {
        check_serialized(&bytes)?;
        let mut guard = self.state.lock().await;
        let st = &mut *guard;
        if st.closed {
            return Err(AuditError::Closed {
                device: self.name.clone(),
            });
        }
        let seq = st.head.seq.saturating_add(1);
        st.line.clear();
        build_line(&mut st.line, &bytes, seq, &st.head.hash, &self.device_json);
        let head = ChainHead {
            seq,
            hash: line_hash(&st.line),
        };
        st.payload.clear();
        match &self.target {
            Target::Socket { .. } => {
                st.payload.extend_from_slice(&st.line);
                st.payload.push(b'\n');
            }
            Target::Syslog { facility, tag, .. } => syslog::frame(
                &mut st.payload,
                facility.priority(SEVERITY_INFO),
                &syslog::timestamp(),
                tag,
                std::process::id(),
                &st.line,
            ),
        }
        // The connection is out of the state while in use: if this future is dropped in the
        // middle of a write, the half-written connection goes with it and the next line starts
        // on a new one instead of after a partial line.
        let conn = st.conn.take().filter(|c| !c.peer_gone());
        let sent = tokio::time::timeout(
            self.write_timeout,
            send_with_reconnect(&self.target, conn, &st.payload),
        )
        .await;
        match sent {
            Ok(Ok(conn)) => {
                st.conn = Some(conn);
                st.head = head.clone();
                *lock(&self.head) = head.clone();
                Ok(head)
            }
            Ok(Err(failure)) => Err(self.send_error(failure, st.payload.len())),
            Err(_) => Err(self.send_error(
                Failure::Send(timed_out("sending", self.write_timeout)),
                st.payload.len(),
            )),
        }
    }

    fn send_error(&self, failure: Failure, bytes: usize) -> AuditError {
        match failure {
            Failure::Connect(source) => connect_error(&self.name, &self.target, source),
            Failure::Send(source) if too_large(&source) => AuditError::TooLarge {
                device: self.name.clone(),
                target: self.target.to_string(),
                bytes,
            },
            Failure::Send(source) => AuditError::Send {
                device: self.name.clone(),
                target: self.target.to_string(),
                source,
            },
        }
    }

    /// The head of the last line sent (the open head before any).
    pub fn head(&self) -> ChainHead {
        lock(&self.head).clone()
    }

    /// The device id this sink chains under.
    pub fn device_id(&self) -> &str {
        &self.device
    }

    /// Where the lines go.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Waits for a write in progress, then closes the connection; later appends fail with
    /// [`AuditError::Closed`].
    pub async fn close(&self) {
        let mut st = self.state.lock().await;
        st.closed = true;
        if let Some(Conn::Tcp(mut s)) = st.conn.take() {
            // A clean end of stream, so the receiver knows the last line is complete; a
            // receiver that is gone has nothing to be told.
            let _ = tokio::time::timeout(self.write_timeout, s.shutdown()).await;
        }
    }
}

/// Why a send failed: the reconnect, or the write itself.
enum Failure {
    Connect(io::Error),
    Send(io::Error),
}

/// Writes `payload` on `conn` (when there is one); on a missing or failed connection,
/// reconnects once and writes it there. Returns the connection that took the line.
async fn send_with_reconnect(
    target: &Target,
    conn: Option<Conn>,
    payload: &[u8],
) -> Result<Conn, Failure> {
    if let Some(mut conn) = conn {
        match conn.send(payload).await {
            Ok(()) => return Ok(conn),
            // The same datagram is as large on a new connection.
            Err(e) if too_large(&e) => return Err(Failure::Send(e)),
            Err(e) => {
                tracing::warn!(
                    target_addr = %target,
                    error = %e,
                    "audit device connection broke; reconnecting"
                );
            }
        }
    }
    let mut conn = connect(target).await.map_err(Failure::Connect)?;
    conn.send(payload).await.map_err(Failure::Send)?;
    Ok(conn)
}

fn timed_out(what: &str, after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} took longer than write_timeout ({after:?})"),
    )
}

fn connect_error(name: &str, target: &Target, source: io::Error) -> AuditError {
    AuditError::Connect {
        device: name.to_owned(),
        target: target.to_string(),
        hint: target.hint(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify;
    use tokio::io::AsyncBufReadExt;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn socket_types_parse_and_refuse_with_advice() {
        assert_eq!("TCP".parse::<SocketType>().unwrap(), SocketType::Tcp);
        assert_eq!(
            "unixgram".parse::<SocketType>().unwrap(),
            SocketType::Unixgram
        );
        for (name, t) in SOCKET_TYPES {
            assert_eq!(t.to_string(), name);
        }
        let err = "foo".parse::<SocketType>().unwrap_err().to_string();
        assert!(
            err.starts_with("socket_type \"foo\" is not supported: use tcp, udp or unix"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn tcp_lines_verify_and_survive_a_reconnect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let target = Target::Socket {
            kind: SocketType::Tcp,
            address: address.clone(),
        };
        let sink = NetSink::open(target, "dev-1", "dev-1/", None, SECOND)
            .await
            .unwrap();
        let (first, _) = listener.accept().await.unwrap();
        sink.append_serialized(br#"{"type":"request"}"#.to_vec())
            .await
            .unwrap();
        let mut lines = tokio::io::BufReader::new(first).lines();
        let one = lines.next_line().await.unwrap().unwrap();
        // The receiver goes away: the next entry goes out on a new connection.
        drop(lines);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let head = sink
            .append_serialized(br#"{"type":"response"}"#.to_vec())
            .await
            .unwrap();
        assert_eq!(head.seq, 2);
        let (second, _) = listener.accept().await.unwrap();
        let mut lines = tokio::io::BufReader::new(second).lines();
        let two = lines.next_line().await.unwrap().unwrap();
        let log = format!("{one}\n{two}\n");
        let report = verify(log.as_bytes(), Some(&head));
        assert!(report.ok, "{report:?}");
        assert_eq!(report.lines, 2);
    }

    #[tokio::test]
    async fn a_receiver_that_stays_away_fails_the_write_and_keeps_the_head() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let target = Target::Socket {
            kind: SocketType::Tcp,
            address,
        };
        let sink = NetSink::open(target, "dev-2", "dev-2/", None, SECOND)
            .await
            .unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        drop(conn);
        drop(listener);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let err = sink
            .append_serialized(b"{}".to_vec())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot connect") && err.contains("tcp address"),
            "{err}"
        );
        assert_eq!(sink.head(), ChainHead::genesis());
    }

    #[tokio::test]
    async fn unreachable_targets_are_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::Socket {
            kind: SocketType::Unix,
            address: dir.path().join("nobody.sock").display().to_string(),
        };
        let err = NetSink::open(target, "d", "d/", None, SECOND)
            .await
            .unwrap_err();
        assert!(matches!(err, AuditError::Connect { .. }), "{err}");
        let target = Target::Syslog {
            facility: Facility::Auth,
            tag: "vault".into(),
            socket_path: Some(dir.path().join("log")),
        };
        let err = NetSink::open(target, "d", "d/", None, SECOND)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("socket_path"), "{err}");
    }

    #[tokio::test]
    async fn syslog_frames_carry_the_chained_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let daemon = UnixDatagram::bind(&path).unwrap();
        let target = Target::Syslog {
            facility: Facility::Local(0),
            tag: "vault".into(),
            socket_path: Some(path),
        };
        let head = ChainHead {
            seq: 41,
            hash: line_hash(b"earlier"),
        };
        let sink = NetSink::open(target, "dev-3", "dev-3/", Some(head.clone()), SECOND)
            .await
            .unwrap();
        let new = sink
            .append_serialized(br#"{"type":"request"}"#.to_vec())
            .await
            .unwrap();
        assert_eq!(new.seq, 42);
        let mut buf = vec![0u8; 4096];
        let n = daemon.recv(&mut buf).await.unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        let prefix = format!("vault[{}]: ", std::process::id());
        assert!(msg.starts_with("<134>"), "{msg}");
        let (_, line) = msg.split_once(&prefix).unwrap();
        let line = line.strip_suffix('\n').unwrap();
        assert_eq!(line_hash(line.as_bytes()), new.hash);
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["hush_chain"]["seq"], 42);
        assert_eq!(v["hush_chain"]["prev"], head.hash.as_str());
        assert_eq!(v["type"], "request");
    }

    #[tokio::test]
    async fn oversized_datagrams_are_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let _daemon = UnixDatagram::bind(&path).unwrap();
        let target = Target::Socket {
            kind: SocketType::Unixgram,
            address: path.display().to_string(),
        };
        let sink = NetSink::open(target, "dev-4", "dev-4/", None, SECOND)
            .await
            .unwrap();
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(8 * 1024 * 1024));
        let err = sink.append_serialized(big.into_bytes()).await.unwrap_err();
        assert!(matches!(err, AuditError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("one datagram"), "{err}");
        assert_eq!(sink.head(), ChainHead::genesis());
    }
}
