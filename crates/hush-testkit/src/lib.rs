//! The one harness every crate's integration tests start hush with: the binaries under test
//! (found beside the test executable, or named by an environment variable), a free port, and a
//! real `hush server` child in a clean environment of its own, killed when dropped: in dev mode
//! ([`DevServer`]), or on an embedded SQLite file, over plain HTTP or TLS with a certificate
//! from a fresh CA, initialized and unsealed ([`Server::builder`]). The Python suite mirrors it
//! in `tests/python/conftest.py`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The root token of every dev server started here.
pub const ROOT_TOKEN: &str = "root";

/// `<target>/debug`, found from the running test executable (`<target>/debug/deps/<test>-*`).
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_owned()))
        .unwrap_or_else(|| PathBuf::from("target/debug"))
}

/// A binary the tests need: `$var` when set, else `default`; panics with the command that
/// builds it when it is missing.
pub fn binary(var: &str, default: PathBuf, build: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        path.is_file(),
        "{} is missing: run `{build}` first (or set {var})",
        path.display()
    );
    path
}

/// The `hush` binary: `$HUSH_BIN`, else the one cargo built beside the test.
pub fn hush_bin() -> PathBuf {
    binary("HUSH_BIN", target_dir().join("hush"), "cargo build -p hush")
}

/// A port free on 127.0.0.1 when asked (a server may still lose it to a race:
/// [`DevServer::start`] then tries another).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// Removes every variable that could point a hush process somewhere else: `HUSH_*`,
/// `VAULT_*` and proxies (which would send requests for 127.0.0.1 elsewhere).
pub fn scrub(command: &mut Command) {
    for (name, _) in std::env::vars() {
        let proxy = name.to_ascii_lowercase().ends_with("_proxy");
        if name.starts_with("HUSH_") || name.starts_with("VAULT_") || proxy {
            command.env_remove(name);
        }
    }
}

/// A `hush server --dev`: a [`Server`] started with [`Server::start`].
pub type DevServer = Server;

/// A `hush server` on a free port, in a scrubbed environment with its own home and temporary
/// directory; killed and reaped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`, or `https://...` with TLS.
    pub address: String,
    /// The server's directory (its home; a place for audit logs and other files).
    pub dir: tempfile::TempDir,
    /// The root token ([`ROOT_TOKEN`] in dev mode; the one `hush init` created otherwise).
    pub root_token: String,
    /// The unseal key shares (base64; none in dev mode).
    pub unseal_keys: Vec<String>,
    /// The PEM file of the CA that signed the server's certificate (TLS only).
    pub ca_cert: Option<PathBuf>,
    bin: PathBuf,
    /// `--config FILE` for a configured server; `None` in dev mode.
    config: Option<PathBuf>,
}

/// How a [`Server`] is started: dev mode, or a configuration file the builder writes.
#[derive(Debug, Default, Clone)]
pub struct ServerBuilder {
    sqlite: bool,
    tls: bool,
    extra: String,
    bin: Option<PathBuf>,
}

impl ServerBuilder {
    /// Stores data in an embedded SQLite file in the server's directory (`data/hush.db`),
    /// initializes the server with one key share and unseals it.
    pub fn sqlite(mut self) -> Self {
        self.sqlite = true;
        self
    }

    /// Serves TLS with a certificate for 127.0.0.1 and localhost from a fresh CA
    /// ([`Server::ca_cert`]). Implies [`Self::sqlite`]: dev mode listens on plain HTTP.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self.sqlite = true;
        self
    }

    /// Appends `hcl` to the configuration file (audit, seal, telemetry stanzas).
    pub fn config(mut self, hcl: &str) -> Self {
        self.extra.push_str(hcl);
        self.extra.push('\n');
        self
    }

    /// Runs `bin` instead of [`hush_bin`].
    pub fn binary(mut self, bin: &Path) -> Self {
        self.bin = Some(bin.to_owned());
        self
    }

    /// Starts the server and waits until it answers unsealed.
    pub fn start(self) -> Server {
        let bin = self.bin.clone().unwrap_or_else(hush_bin);
        if !self.sqlite {
            return Server::start_binary(&bin);
        }
        for _ in 0..5 {
            if let Some(server) = self.try_start(&bin) {
                return server;
            }
        }
        panic!("could not start a configured hush server on a free port");
    }

    fn try_start(&self, bin: &Path) -> Option<Server> {
        let dir = tempfile::tempdir().expect("temp dir");
        let listen = format!("127.0.0.1:{}", free_port());
        let (scheme, listener, ca_cert) = if self.tls {
            let tls = write_tls_files(dir.path());
            let listener = format!(
                "tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"",
                tls.cert.display(),
                tls.key.display()
            );
            ("https", listener, Some(tls.ca))
        } else {
            ("http", "tls_disable = true".to_owned(), None)
        };
        let config = dir.path().join("hush.hcl");
        std::fs::write(
            &config,
            format!(
                "storage \"sqlite\" {{ path = \"{}\" }}\n\
                 listener \"tcp\" {{\n  address = \"{listen}\"\n  {listener}\n}}\n\
                 disable_mlock = true\n{}",
                dir.path().join("data").join("hush.db").display(),
                self.extra
            ),
        )
        .expect("write hush.hcl");
        let mut server = Server {
            child: spawn_server(bin, &["--config".as_ref(), config.as_os_str()], dir.path()),
            address: format!("{scheme}://{listen}"),
            dir,
            root_token: String::new(),
            unseal_keys: Vec::new(),
            ca_cert,
            bin: bin.to_owned(),
            config: Some(config),
        };
        if !server.wait_listening() {
            return None;
        }
        let init = server.cli(&[
            "operator",
            "init",
            "--key-shares",
            "1",
            "--key-threshold",
            "1",
            "--format",
            "json",
        ]);
        let keys = json_field(&init, "unseal_keys_b64");
        server.unseal_keys = keys
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|k| k.trim().trim_matches('"').to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        server.root_token = json_field(&init, "root_token").trim_matches('"').to_owned();
        server.unseal();
        Some(server)
    }
}

/// The PEM files of a fresh CA and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TlsFiles {
    /// The CA's certificate.
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's private key (mode 0600).
    pub key: PathBuf,
}

/// Writes [`TlsFiles`] into `dir` (`ca.pem`, `server.pem`, `server-key.pem`).
pub fn write_tls_files(dir: &Path) -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hush test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server certificate parameters")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    std::fs::write(&files.ca, ca.pem()).expect("write ca.pem");
    std::fs::write(&files.cert, cert.pem()).expect("write server.pem");
    write_private(&files.key, key.serialize_pem().as_bytes());
    files
}

/// Creates `path` with mode 0600 and writes `bytes`.
fn write_private(path: &Path, bytes: &[u8]) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write a private file");
}

/// The raw JSON text of top-level field `name` in `json` (a string, or an array of strings),
/// enough for `hush operator init`'s answer without a JSON parser.
fn json_field(json: &str, name: &str) -> String {
    let key = format!("\"{name}\":");
    let start = json
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        + key.len();
    let rest = json[start..].trim_start();
    let end = if rest.starts_with('[') {
        rest.find(']').map(|i| i + 1)
    } else {
        rest[1..].find('"').map(|i| i + 2)
    };
    rest[..end.unwrap_or_else(|| panic!("{name} is cut short in {json}"))].to_owned()
}

fn spawn_server(bin: &Path, args: &[&std::ffi::OsStr], dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("server log file");
    let mut command = Command::new(bin);
    command.arg("server").args(args);
    scrub(&mut command);
    command
        .env("HOME", dir)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("server log file"))
        .stderr(log)
        .spawn()
        .expect("start hush server")
}

impl Server {
    /// A builder for a configured server (SQLite, TLS).
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Starts the `hush` binary of [`hush_bin`] in dev mode.
    pub fn start() -> DevServer {
        DevServer::start_binary(&hush_bin())
    }

    /// Starts `bin` as the server, and waits until it answers unsealed.
    pub fn start_binary(bin: &Path) -> DevServer {
        for _ in 0..5 {
            if let Some(server) = DevServer::try_start(bin) {
                return server;
            }
        }
        panic!("could not start hush server --dev on a free port");
    }

    fn try_start(bin: &Path) -> Option<Server> {
        let listen = format!("127.0.0.1:{}", free_port());
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server {
            child: spawn_server(
                bin,
                &[
                    "--dev".as_ref(),
                    "--dev-root-token-id".as_ref(),
                    ROOT_TOKEN.as_ref(),
                    "--dev-listen-address".as_ref(),
                    listen.as_ref(),
                ],
                dir.path(),
            ),
            address: format!("http://{listen}"),
            dir,
            root_token: ROOT_TOKEN.to_owned(),
            unseal_keys: Vec::new(),
            ca_cert: None,
            bin: bin.to_owned(),
            config: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            // An early exit is most likely a port taken in between: try another.
            if server.exited() {
                return None;
            }
            if unsealed(&listen) {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "hush server --dev did not come up on {listen} within 30s:\n{}",
            server.log()
        );
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().expect("poll hush server").is_some()
    }

    /// `host:port` of the listener.
    fn listen(&self) -> &str {
        self.address
            .split_once("://")
            .map_or(self.address.as_str(), |(_, a)| a)
    }

    /// Waits until the listener accepts connections; false if the process exited first (a
    /// port taken in between).
    fn wait_listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.exited() {
                return false;
            }
            if TcpStream::connect(self.listen()).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "hush server did not listen on {} within 30s:\n{}",
            self.listen(),
            self.log()
        );
    }

    /// Runs the `hush` CLI against this server (address, CA and root token set) and returns
    /// its standard output; panics with its output if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new(&self.bin);
        command.args(args);
        scrub(&mut command);
        command
            .env("HOME", self.dir.path())
            .env("HUSH_ADDR", &self.address)
            .stdin(Stdio::null());
        if !self.root_token.is_empty() {
            command.env("HUSH_TOKEN", &self.root_token);
        }
        if let Some(ca) = &self.ca_cert {
            command.env("HUSH_CACERT", ca);
        }
        let out = command.output().expect("run hush");
        assert!(
            out.status.success(),
            "hush {} failed: {}{}\nserver log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Unseals the server with [`Self::unseal_keys`] (a no-op in dev mode).
    pub fn unseal(&self) {
        for key in &self.unseal_keys {
            self.cli(&["operator", "unseal", key]);
        }
    }

    /// Kills the server (SIGKILL, nothing flushed on the way out) and starts it again on the
    /// same configuration, address and data, unsealed. Dev mode keeps nothing, so only a
    /// configured server restarts.
    pub fn restart(&mut self) {
        let config = self
            .config
            .clone()
            .expect("a dev server keeps nothing to restart with: use Server::builder().sqlite()");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.child = spawn_server(
                &self.bin,
                &["--config".as_ref(), config.as_os_str()],
                self.dir.path(),
            );
            if self.wait_listening() {
                break;
            }
            // The old process's port may linger for a moment.
            assert!(
                Instant::now() < deadline,
                "hush server did not restart:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.unseal();
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A path inside the server's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a server answers on `listen` and reports itself unsealed.
fn unsealed(listen: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(listen) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /v1/sys/seal-status HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") && response.contains("\"sealed\":false")
}

#[cfg(test)]
mod tests {
    #[test]
    fn binary_names_the_build_command_when_missing() {
        let missing = std::panic::catch_unwind(|| {
            super::binary(
                "HUSH_TESTKIT_UNSET_VARIABLE",
                "/nonexistent/hush".into(),
                "cargo build -p hush",
            )
        })
        .unwrap_err();
        let text = missing
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(text.contains("cargo build -p hush"), "{text}");
    }
}
