//! The one harness every crate's integration tests start hush with: the binaries under test
//! (found beside the test executable, or named by an environment variable), a free port, and a
//! real `hush server --dev` child in a clean environment of its own, killed when dropped. The
//! Python suite mirrors it in `tests/python/conftest.py`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs::File;
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

/// A `hush server --dev` on a free port with root token [`ROOT_TOKEN`], in a scrubbed
/// environment with its own home and temporary directory; killed and reaped when dropped.
pub struct DevServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The server's directory (its home; a place for audit logs and other files).
    pub dir: tempfile::TempDir,
}

impl DevServer {
    /// Starts the `hush` binary of [`hush_bin`].
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

    fn try_start(bin: &Path) -> Option<DevServer> {
        let listen = format!("127.0.0.1:{}", free_port());
        let dir = tempfile::tempdir().expect("temp dir");
        let log = File::create(dir.path().join("server.log")).expect("server log file");
        let mut command = Command::new(bin);
        command.args([
            "server",
            "--dev",
            "--dev-root-token-id",
            ROOT_TOKEN,
            "--dev-listen-address",
            &listen,
        ]);
        scrub(&mut command);
        let mut child = command
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log file"))
            .stderr(log)
            .spawn()
            .expect("start hush server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            // An early exit is most likely a port taken in between: try another.
            if child.try_wait().expect("poll hush server").is_some() {
                return None;
            }
            if unsealed(&listen) {
                return Some(DevServer {
                    child,
                    address: format!("http://{listen}"),
                    dir,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        panic!("hush server --dev did not come up on {listen} within 30s:\n{log}");
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

impl Drop for DevServer {
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
