//! Helpers: a real `hush server --dev` per test, the delivery commands run as real processes
//! (the `hush-deliver` example, which wires the entry points as the `hush` binary does), and
//! the `hush-testprog` child program.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hush_client::{Client, ClientConfig, Method};
use serde_json::Value;

use hush_testkit::{binary, target_dir};
pub use hush_testkit::{free_port, ROOT_TOKEN as ROOT};

/// The child program.
pub fn testprog() -> PathBuf {
    binary(
        "HUSH_TESTPROG_BIN",
        target_dir().join("hush-testprog"),
        "cargo build -p hush-testprog",
    )
}

/// The driver running the delivery commands.
pub fn driver() -> PathBuf {
    binary(
        "HUSH_DELIVER_BIN",
        target_dir().join("examples").join("hush-deliver"),
        "cargo build -p hush-deliver --examples",
    )
}

pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(fut)
}

/// A `hush server --dev` (the test kit's), killed on drop.
pub struct Server {
    /// Kept for its lifetime: dropping it stops the server.
    _server: hush_testkit::DevServer,
    pub addr: String,
}

impl Server {
    pub fn start() -> Server {
        let server = hush_testkit::DevServer::start();
        let addr = server.address.clone();
        Server {
            _server: server,
            addr,
        }
    }

    pub fn client(&self, token: Option<&str>) -> Client {
        Client::new(ClientConfig {
            address: self.addr.clone(),
            token: token.map(str::to_owned),
            timeout: Duration::from_secs(10),
            ..ClientConfig::default()
        })
        .expect("client")
    }

    /// Sends a request as root; panics on failure.
    pub fn api(&self, method: Method, path: &str, body: Option<Value>) -> Option<Value> {
        block_on(self.client(Some(ROOT)).request(method, path, body))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Writes a KV v2 secret at `secret/<rel>`.
    pub fn put(&self, rel: &str, data: Value) {
        self.api(
            Method::PUT,
            &format!("secret/data/{rel}"),
            Some(serde_json::json!({ "data": data })),
        );
    }

    /// Reads the data of the KV v2 secret `secret/<rel>`.
    pub fn get(&self, rel: &str) -> Option<Value> {
        block_on(self.client(Some(ROOT)).read(&format!("secret/data/{rel}")))
            .expect("read")
            .and_then(|v| v.pointer("/data/data").cloned())
    }

    /// Mounts a KV v1 engine at `path`.
    pub fn mount_kv1(&self, path: &str) {
        self.api(
            Method::POST,
            &format!("sys/mounts/{path}"),
            Some(serde_json::json!({"type": "kv", "options": {"version": "1"}})),
        );
    }

    /// Creates a token with a policy allowing only `rules`.
    pub fn token_with_policy(&self, name: &str, rules: &str) -> String {
        self.api(
            Method::PUT,
            &format!("sys/policies/acl/{name}"),
            Some(serde_json::json!({ "policy": rules })),
        );
        let answer = self
            .api(
                Method::POST,
                "auth/token/create",
                Some(serde_json::json!({ "policies": [name] })),
            )
            .expect("token answer");
        answer["auth"]["client_token"]
            .as_str()
            .expect("client_token")
            .to_owned()
    }

    /// A delivery command against this server, as root.
    pub fn cmd(&self, args: &[&str]) -> Deliver {
        Deliver::new(&self.addr).args(args)
    }
}

/// A delivery command: `hush-deliver ARGS` with a clean environment.
pub struct Deliver {
    command: Command,
    stdin: Option<Vec<u8>>,
    _home: tempfile::TempDir,
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Deliver {
    pub fn new(addr: &str) -> Deliver {
        let home = tempfile::tempdir().expect("home");
        let mut command = Command::new(driver());
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy();
            let proxy = text.to_ascii_lowercase().ends_with("_proxy");
            if text.starts_with("HUSH_") || text.starts_with("VAULT_") || proxy {
                command.env_remove(&name);
            }
        }
        command
            .env("HUSH_ADDR", addr)
            .env("HUSH_TOKEN", ROOT)
            .env("HOME", home.path())
            .current_dir(home.path());
        Deliver {
            command,
            stdin: None,
            _home: home,
        }
    }

    pub fn args(mut self, args: &[&str]) -> Deliver {
        self.command.args(args);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Deliver {
        self.command.arg(arg);
        self
    }

    /// Appends `-- hush-testprog STEPS...`.
    pub fn child(self, steps: &[&str]) -> Deliver {
        let mut d = self.arg("--").arg(testprog());
        for s in steps {
            d = d.arg(s);
        }
        d
    }

    pub fn env(mut self, name: &str, value: &str) -> Deliver {
        self.command.env(name, value);
        self
    }

    pub fn env_remove(mut self, name: &str) -> Deliver {
        self.command.env_remove(name);
        self
    }

    pub fn token(self, token: &str) -> Deliver {
        self.env("HUSH_TOKEN", token)
    }

    pub fn stdin(mut self, input: &str) -> Deliver {
        self.stdin = Some(input.as_bytes().to_vec());
        self
    }

    pub fn run(mut self) -> Out {
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("start hush-deliver");
        let input = self.stdin.take().unwrap_or_default();
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().expect("wait");
        let _ = writer.join();
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts the command in its own process group (so that signals sent to the test's
    /// terminal do not reach it), with output lines delivered over channels.
    pub fn spawn(mut self) -> Running {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = self.command.spawn().expect("start hush-deliver");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Running {
            child,
            stdout,
            stderr,
            seen_out: Vec::new(),
            seen_err: Vec::new(),
            _home: self._home,
        }
    }
}

fn lines<R: std::io::Read + Send + 'static>(r: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A delivery command running in the background.
pub struct Running {
    pub child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    pub seen_out: Vec<String>,
    pub seen_err: Vec<String>,
    _home: tempfile::TempDir,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn wait_line(
        rx: &mpsc::Receiver<String>,
        seen: &mut Vec<String>,
        want: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(want);
                    seen.push(line);
                    if hit {
                        return Ok(());
                    }
                }
                Err(_) => return Err(format!("no line containing {want:?}; saw {seen:?}")),
            }
        }
    }

    /// Waits for a stdout line containing `want` and returns it.
    pub fn expect_out(&mut self, want: &str, timeout: Duration) -> String {
        if let Err(e) = Self::wait_line(&self.stdout, &mut self.seen_out, want, timeout) {
            let err: Vec<String> = self.stderr.try_iter().collect();
            panic!("stdout: {e}\nstderr: {err:?}");
        }
        self.seen_out.last().cloned().unwrap_or_default()
    }

    /// Waits for a stderr line containing `want`.
    pub fn expect_err(&mut self, want: &str, timeout: Duration) {
        if let Err(e) = Self::wait_line(&self.stderr, &mut self.seen_err, want, timeout) {
            let out: Vec<String> = self.stdout.try_iter().collect();
            panic!("stderr: {e}\nstdout: {out:?}");
        }
    }

    /// Sends `sig` to the command (hush, not its child).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).expect("kill");
    }

    /// Waits for the command to exit; returns its exit code.
    pub fn wait(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Collect what is left for assertions.
                thread::sleep(Duration::from_millis(50));
                self.seen_out.extend(self.stdout.try_iter());
                self.seen_err.extend(self.stderr.try_iter());
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                panic!(
                    "did not exit within {timeout:?}; stdout {:?} stderr {:?}",
                    self.seen_out, self.seen_err
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The whole process group: hush and the children it started, which would otherwise
        // outlive a failed test.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }
}

/// Parses `NAME=VALUE` lines.
pub fn env_lines(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
