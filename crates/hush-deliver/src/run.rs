//! `hush run`: start a program with secrets in its environment.
//!
//! ```text
//! hush run --path secret/app --path secret/app/prod -- ./server --port 8080
//! hush run --path secret/infra/aws --tf-vars -- tofu apply
//! ```
//!
//! **Names.** Each key becomes a variable named after it (see [`crate::names`] for `--prefix`,
//! `--tf-vars` and `--sanitize-names`). Values that are not JSON strings are passed as compact
//! JSON.
//!
//! **Environment.** The child inherits hush's environment, or with `--reset-env` only the
//! minimal set [`RESET_ENV_KEEP`] (`PATH`, `HOME`, `USER`, `LOGNAME`, `LANG`, `LC_ALL`,
//! `LC_CTYPE`, `TERM`, `TMPDIR`, `SHELL`, `TZ`, each only when set). A secret whose variable is
//! already set there is an error naming it, unless `--override` is given. After a login with
//! `--auth-method`, `HUSH_SECRET_ID` is not passed on to the child.
//!
//! **The child.** It is started directly (`execve`, no shell), or with `--shell` as
//! `sh -c "CMD ARGS..."`. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to hush are forwarded to it.
//! When hush runs in the foreground of a terminal, Ctrl-C and Ctrl-\ reach the child directly
//! (the terminal signals the whole foreground process group), so hush does not send SIGINT or
//! SIGQUIT a second time (programs such as OpenTofu abort without cleanup on a second
//! interrupt). hush exits with the child's exit code, or 128 + the signal number when the child
//! was killed by a signal. Secret values are passed in memory only, never written to disk.
//!
//! **`--redact`.** The child's standard output and error go through a [`Redactor`] that
//! replaces every secret value of 4 bytes or more with `[REDACTED]`, also across reads.
//!
//! **`--watch`.** The secrets are read again every `--interval` (default 30s). When a value
//! changes, hush prints `hush: secrets changed (KEY1, KEY2); restarting` (names only) to
//! standard error, sends the child SIGTERM, then SIGKILL if it has not exited after `--grace`
//! (default 10s), and starts it again with the new environment. A failed refresh is reported
//! and the child keeps running. When the child exits by itself, hush exits with its code.
//! The token stays valid for as long as hush watches: it is renewed once a third of its TTL is
//! left, and when it cannot be renewed any more (its maximum TTL), hush logs in again with
//! `--auth-method` if it was given one. Only the sources without a lease are read again:
//! reading `database/creds/app` creates a new database user each time.
//!
//! **Leases.** A `--path` whose answer comes under a lease (dynamic credentials such as
//! `database/creds/app`) is followed while the child runs, with or without `--watch`: the
//! lease is renewed at about two thirds of its TTL; once it cannot be extended (its maximum
//! TTL, or the renewal is refused) new credentials are fetched before it expires, the child is
//! restarted with them as `--watch` restarts it (SIGTERM, `--grace`, SIGKILL), and the old
//! lease is revoked once the old child is gone. When hush exits it revokes the leases it
//! obtained, unless `--keep-leases` is given (then they end at their TTL). The schedule is in
//! [`crate::lease`]. Failed requests are retried with backoff and reported on standard error,
//! with paths and key names, never values. The token is kept valid as with `--watch`, since
//! the server revokes a token's leases with it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hush_client::{ClientConfig, ClientError};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal as unix_signal, SignalKind};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::auth::AuthArgs;
use crate::conn::Conn;
#[cfg(feature = "cli")]
use crate::duration::parse_duration;
use crate::error::DeliverError;
use crate::lease::{self, Held, Step};
use crate::names::{self, NameRules};
use crate::redact::Redactor;
use crate::source::{self, LeaseInfo, PathRead, SourceArgs};

/// The variables `--reset-env` keeps from hush's environment (when they are set).
pub const RESET_ENV_KEEP: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR", "SHELL",
    "TZ",
];

/// How long to keep copying a child's output after it exited: a background process it left
/// behind may hold the pipe open forever.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Arguments of `hush run`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(
    feature = "cli",
    command(
        after_help = "With --reset-env the child keeps only PATH, HOME, USER, LOGNAME, LANG, \
    LC_ALL, LC_CTYPE, TERM, TMPDIR, SHELL and TZ from hush's environment.\n\
    Exit status: the child's, or 128 + N when it was killed by signal N."
    )
)]
pub struct RunArgs {
    /// Which secrets to deliver.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub source: SourceArgs,

    /// Put STR in front of every variable name
    #[cfg_attr(
        feature = "cli",
        arg(
            help_heading = "Names and environment",
            long,
            value_name = "STR",
            default_value = "",
            hide_default_value = true
        )
    )]
    pub prefix: String,

    /// Name the variables `TF_VAR_<key>`, for OpenTofu/Terraform input variables
    #[cfg_attr(feature = "cli", arg(help_heading = "Names and environment", long))]
    pub tf_vars: bool,

    /// Map keys that are not valid variable names to valid ones (keeps the case; characters
    /// other than letters, digits and _ become _; a leading digit gets a _ in front)
    #[cfg_attr(feature = "cli", arg(help_heading = "Names and environment", long))]
    pub sanitize_names: bool,

    /// Start from a minimal environment (PATH, HOME, USER, LOGNAME, LANG, LC_ALL, LC_CTYPE,
    /// TERM, TMPDIR, SHELL, TZ) instead of inheriting hush's
    #[cfg_attr(feature = "cli", arg(help_heading = "Names and environment", long))]
    pub reset_env: bool,

    /// Let secrets replace variables that are already set (otherwise that is an error)
    #[cfg_attr(
        feature = "cli",
        arg(help_heading = "Names and environment", long = "override")
    )]
    pub override_env: bool,

    /// Run the command with `sh -c` (the arguments joined with spaces)
    #[cfg_attr(feature = "cli", arg(help_heading = "Child process", long))]
    pub shell: bool,

    /// Replace secret values (4 bytes or longer) in the child's output with `[REDACTED]`
    #[cfg_attr(feature = "cli", arg(help_heading = "Child process", long))]
    pub redact: bool,

    /// Restart the child when a secret changes
    #[cfg_attr(feature = "cli", arg(help_heading = "Child process", long))]
    pub watch: bool,

    /// With --watch: how often to read the secrets again
    #[cfg_attr(feature = "cli", arg(help_heading = "Child process", long, value_name = "DUR", default_value = "30s", value_parser = parse_duration))]
    pub interval: Duration,

    /// With --watch, and when new dynamic credentials replace old ones: how long the child may
    /// take to exit after SIGTERM before it is killed
    #[cfg_attr(feature = "cli", arg(help_heading = "Child process", long, value_name = "DUR", default_value = "10s", value_parser = parse_duration))]
    pub grace: Duration,

    /// Leave the leases of dynamic credentials (database/creds/...) to expire at their TTL
    /// when hush exits, instead of revoking them (also the replaced ones)
    #[cfg_attr(feature = "cli", arg(help_heading = "Child process", long))]
    pub keep_leases: bool,

    /// How to log in.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub auth: AuthArgs,

    /// The command to run, after `--`
    #[cfg_attr(feature = "cli", arg(last = true, required = true, value_name = "CMD"))]
    pub command: Vec<OsString>,
}

/// The environment of one child: every variable, and the secret part by name (for change
/// detection and redaction).
pub struct ChildEnv {
    /// All variables to set.
    pub vars: BTreeMap<OsString, OsString>,
    /// The secret variables: name to value.
    pub secrets: BTreeMap<String, Zeroizing<String>>,
}

impl Drop for ChildEnv {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStringExt;
        use zeroize::Zeroize;
        // The values include the secrets; wipe them rather than leave them in freed memory.
        for (_, value) in std::mem::take(&mut self.vars) {
            value.into_vec().zeroize();
        }
    }
}

impl std::fmt::Debug for ChildEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildEnv")
            .field("vars", &self.vars.len())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The exit code for a finished process: its code, or 128 + the signal that killed it.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        // Neither exited nor killed cannot happen for a reaped process; report a failure.
        (None, None) => 1,
    }
}

/// The variables of hush's own environment the child starts from.
pub fn base_env(reset: bool) -> BTreeMap<OsString, OsString> {
    std::env::vars_os()
        .filter(|(name, _)| !reset || RESET_ENV_KEEP.iter().any(|keep| name == keep))
        .collect()
}

/// Builds the child's environment from `base` and the secrets, enforcing the clash rule.
pub fn build_env(
    base: &BTreeMap<OsString, OsString>,
    set: &source::SecretSet,
    rules: &NameRules,
    override_env: bool,
) -> Result<ChildEnv, DeliverError> {
    let vars = names::env_vars(set, rules)?;
    let mut env = ChildEnv {
        vars: base.clone(),
        secrets: BTreeMap::new(),
    };
    for var in vars {
        if var.value.as_str().contains('\0') {
            return Err(DeliverError::NulInValue {
                key: var.key.to_owned(),
                path: var.origin.to_owned(),
            });
        }
        let name = OsString::from(&var.name);
        if base.contains_key(&name) && !override_env {
            return Err(DeliverError::EnvClash {
                name: var.name.clone(),
                key: var.key.to_owned(),
                path: var.origin.to_owned(),
            });
        }
        env.vars
            .insert(name, OsString::from(var.value.as_str().to_owned()));
        env.secrets
            .insert(var.name, Zeroizing::new(var.value.as_str().to_owned()));
    }
    Ok(env)
}

/// Names of the secret variables that differ between two environments (added, removed or
/// changed), sorted.
pub fn changed_names(
    old: &BTreeMap<String, Zeroizing<String>>,
    new: &BTreeMap<String, Zeroizing<String>>,
) -> Vec<String> {
    let mut names: Vec<String> = old
        .iter()
        .filter(|(k, v)| !new.get(*k).is_some_and(|n| source::secret_eq(n, v)))
        .map(|(k, _)| k.clone())
        .chain(new.keys().filter(|k| !old.contains_key(*k)).cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The naming rules the arguments ask for.
fn name_rules(args: &RunArgs) -> NameRules {
    NameRules {
        prefix: args.prefix.clone(),
        tf_vars: args.tf_vars,
        sanitize: args.sanitize_names,
    }
}

/// Builds the environment from the reads of the `--path`s, in order.
fn env_of<'a>(
    args: &RunArgs,
    base: &BTreeMap<OsString, OsString>,
    reads: impl IntoIterator<Item = &'a PathRead>,
) -> Result<ChildEnv, DeliverError> {
    let set = source::merge(reads, &args.source)?;
    build_env(base, &set, &name_rules(args), args.override_env)
}

/// A running child and the tasks copying its output through the redactor.
struct Running {
    child: Child,
    copies: Vec<JoinHandle<()>>,
}

fn spawn(args: &RunArgs, env: &ChildEnv) -> Result<Running, DeliverError> {
    let mut command = if args.shell {
        let line = args
            .command
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = Command::new("sh");
        c.arg("-c").arg(line);
        c
    } else {
        let mut c = Command::new(&args.command[0]);
        c.args(&args.command[1..]);
        c
    };
    command.env_clear().envs(&env.vars).stdin(Stdio::inherit());
    if args.redact {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    }
    let program = if args.shell {
        "sh".to_owned()
    } else {
        args.command[0].to_string_lossy().into_owned()
    };
    let mut child = command
        .spawn()
        .map_err(|source| DeliverError::Spawn { program, source })?;
    let mut copies = Vec::new();
    if args.redact {
        let secrets: Vec<&str> = env.secrets.values().map(|v| v.as_str()).collect();
        if let Some(out) = child.stdout.take() {
            let input = out
                .into_owned_fd()
                .map_err(|e| DeliverError::io("read", "the child's output", e))?;
            let redactor = Redactor::new(secrets.iter().copied());
            copies.push(tokio::task::spawn_blocking(move || {
                copy_redacted(File::from(input), std::io::stdout(), redactor)
            }));
        }
        if let Some(err) = child.stderr.take() {
            let input = err
                .into_owned_fd()
                .map_err(|e| DeliverError::io("read", "the child's error output", e))?;
            let redactor = Redactor::new(secrets.iter().copied());
            copies.push(tokio::task::spawn_blocking(move || {
                copy_redacted(File::from(input), std::io::stderr(), redactor)
            }));
        }
    }
    Ok(Running { child, copies })
}

/// Copies `input` to `output` through `redactor`, flushing after every read so that output
/// is not delayed. Blocking I/O on a thread of its own: a slow reader of hush's output then
/// holds up only this copy, never the runtime.
fn copy_redacted<R: Read, W: Write>(mut input: R, mut output: W, mut redactor: Redactor) {
    let mut buf = vec![0u8; 8192];
    let mut out = Vec::with_capacity(8192);
    let mut output_ok = true;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        out.clear();
        redactor.push(&buf[..n], &mut out);
        if output_ok && !out.is_empty() {
            // When nobody reads hush's output any more, keep draining the pipe anyway so
            // that the child does not block on it.
            output_ok = output.write_all(&out).and_then(|()| output.flush()).is_ok();
        }
    }
    out.clear();
    redactor.finish(&mut out);
    if output_ok {
        let _ = output.write_all(&out).and_then(|()| output.flush());
    }
}

impl Running {
    fn signal(&self, sig: Signal) {
        // `id()` is None once the child has been reaped, so a recycled pid is never signalled.
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = signal::kill(Pid::from_raw(pid), sig);
        }
    }

    /// Waits for the output copies to finish after the child exited.
    async fn drain(&mut self) {
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        for copy in self.copies.drain(..) {
            // A copy still blocked after the limit is left to end with the process.
            let _ = tokio::time::timeout_at(deadline, copy).await;
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; waits for the child to be gone.
    async fn stop(&mut self, grace: Duration) {
        self.signal(Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.signal(Signal::SIGKILL);
            let _ = self.child.wait().await;
        }
        self.drain().await;
    }
}

/// Whether hush is in the foreground process group of its controlling terminal, i.e. whether
/// a Ctrl-C typed there reaches the child (same group) without hush's help. Read from
/// `/proc/self/stat` (fields `pgrp`, `tty_nr` and `tpgid`); false where that is unavailable.
fn terminal_foreground() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return false;
    };
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid.
    match (fields.get(2), fields.get(4), fields.get(5)) {
        (Some(pgrp), Some(tty), Some(tpgid)) => *tty != "0" && pgrp == tpgid,
        _ => false,
    }
}

/// The signals hush forwards.
struct Forwarded {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Forwarded {
    fn install() -> Result<Forwarded, DeliverError> {
        let listen = |kind: SignalKind, name: &str| {
            unix_signal(kind).map_err(|e| DeliverError::io("listen for", name.to_owned(), e))
        };
        Ok(Forwarded {
            int: listen(SignalKind::interrupt(), "SIGINT")?,
            term: listen(SignalKind::terminate(), "SIGTERM")?,
            hup: listen(SignalKind::hangup(), "SIGHUP")?,
            quit: listen(SignalKind::quit(), "SIGQUIT")?,
        })
    }

    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.hup.recv() => Signal::SIGHUP,
            _ = self.quit.recv() => Signal::SIGQUIT,
        }
    }
}

/// Checks the arguments that need no server.
fn validate(args: &RunArgs) -> Result<(), DeliverError> {
    source::validate(&args.source)?;
    match args.command.first() {
        Some(program) if !program.is_empty() => Ok(()),
        _ => Err(DeliverError::Usage(
            "no command to run: give it after --, e.g. hush run --path secret/app -- env"
                .to_owned(),
        )),
    }
}

/// Runs `hush run`; returns the exit code hush should exit with.
pub async fn run(args: RunArgs, client_cfg: ClientConfig) -> Result<i32, DeliverError> {
    validate(&args)?;
    let conn = Conn::connect(client_cfg, &args.auth).await?;
    let mut base = base_env(args.reset_env);
    if args.auth.auth_method.is_some() {
        // The secret ID logged hush in; the child has no business with it.
        base.remove(std::ffi::OsStr::new("HUSH_SECRET_ID"));
    }
    let mut session = Session {
        args,
        conn,
        base,
        sources: Vec::new(),
        retired: Vec::new(),
        token_next: None,
        token_failures: 0,
    };
    let outcome = session.serve().await;
    // Whatever ended the run (the child exited, or an error before or after it started), the
    // leases obtained for it are released: nothing else uses those credentials.
    session.release().await;
    outcome
}

/// One `--path` being delivered: what its last read gave, and the lease held for it.
struct Source {
    /// The path as given on the command line, to read it again.
    raw: String,
    /// The last read that the child's environment was built from (or will be, on a restart).
    read: PathRead,
    /// The lease of that read, with its schedule; `None` for static secrets (KV).
    held: Option<Held>,
}

/// New secrets to restart the child with.
struct Replacement {
    /// The environment with them.
    env: ChildEnv,
    /// What to tell on standard error (paths and names, never values).
    message: String,
}

/// The state of one `hush run`: the sources, the leases it holds, and the token's upkeep.
struct Session {
    args: RunArgs,
    conn: Conn,
    base: BTreeMap<OsString, OsString>,
    sources: Vec<Source>,
    /// Leases replaced by newer ones, revoked once the child that used them is gone: (path,
    /// lease).
    retired: Vec<(String, LeaseInfo)>,
    /// When to see to the token next, while leases are held (they die with it).
    token_next: Option<Instant>,
    /// Failed attempts in a row to keep the token, for the backoff.
    token_failures: u32,
}

/// Whether a failed request may succeed if tried again later: the server could not be reached,
/// was too slow, or had a problem of its own. Anything else it answered (refused, not found,
/// not allowed) will not change by waiting.
fn transient(err: &ClientError) -> bool {
    match err {
        ClientError::Connect { .. } | ClientError::Timeout { .. } | ClientError::Request { .. } => {
            true
        }
        ClientError::Api { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

/// A duration for messages, to a tenth of a second.
fn shown(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A sleep until `at`, or a long one for a branch that is disabled anyway (`select!` builds
/// the future of a disabled branch too).
fn sleep_until(at: Option<Instant>) -> tokio::time::Sleep {
    let at = at.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
    tokio::time::sleep_until(tokio::time::Instant::from_std(at))
}

impl Session {
    /// Reads the sources, starts the child and keeps it supplied until it exits.
    async fn serve(&mut self) -> Result<i32, DeliverError> {
        for raw in self.args.source.paths.clone() {
            let read = source::read_path(&self.conn, &self.args.source, &raw).await?;
            let held = read
                .lease
                .clone()
                .map(|l| Held::new(l, Instant::now(), lease::jitter()));
            // Kept as soon as it is read, so that a failure reading a later path still
            // releases this one's lease.
            self.sources.push(Source { raw, read, held });
        }
        let mut env = env_of(&self.args, &self.base, self.sources.iter().map(|s| &s.read))?;

        // Listening before the child starts, so that no signal falls between the two.
        let mut signals = Forwarded::install()?;
        let mut running = spawn(&self.args, &env)?;
        let interval = self.args.interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        // Once hush was asked to stop, a secret change must not start a new child.
        let mut stopping = false;
        loop {
            let lease_at = self.next_lease();
            if lease_at.is_none() {
                self.token_next = None;
            } else if self.token_next.is_none() {
                self.token_next = self.conn.token_check_in().map(|d| Instant::now() + d);
            }
            let token_at = self.token_next;
            let replacement = tokio::select! {
                status = running.child.wait() => {
                    let status = status
                        .map_err(|e| DeliverError::io("wait for", "the child process", e))?;
                    running.drain().await;
                    return Ok(exit_code(status));
                }
                sig = signals.recv() => {
                    let keyboard = matches!(sig, Signal::SIGINT | Signal::SIGQUIT);
                    if !(keyboard && terminal_foreground()) {
                        running.signal(sig);
                    }
                    // SIGHUP conventionally means "reload"; the others mean "stop".
                    stopping |= sig != Signal::SIGHUP;
                    None
                }
                _ = ticker.tick(), if self.args.watch && !stopping => {
                    if let Err(err) = self.conn.keep_token(interval).await {
                        eprintln!("hush: {err}");
                    }
                    match self.refresh_static(&env).await {
                        Ok(found) => found,
                        Err(err) => {
                            eprintln!(
                                "hush: could not refresh the secrets, the child keeps running: {err}"
                            );
                            None
                        }
                    }
                }
                _ = sleep_until(lease_at), if lease_at.is_some() => {
                    self.lease_step(&env, stopping).await
                }
                _ = sleep_until(token_at), if token_at.is_some() => {
                    self.token_step().await;
                    None
                }
            };
            let Some(replacement) = replacement else {
                continue;
            };
            if stopping {
                continue;
            }
            eprintln!("{}", replacement.message);
            running.stop(self.args.grace).await;
            env = replacement.env;
            running = spawn(&self.args, &env)?;
            // The child that used the replaced credentials is gone.
            self.revoke_retired().await;
        }
    }

    /// When the next lease needs attention, if hush holds any.
    fn next_lease(&self) -> Option<Instant> {
        self.sources
            .iter()
            .filter_map(|s| s.held.as_ref().map(|h| h.next))
            .min()
    }

    /// `--watch`: reads the static sources again (never the leased ones: each read of
    /// `database/creds/...` creates a new user) and returns the new environment when a value
    /// changed.
    async fn refresh_static(
        &mut self,
        env: &ChildEnv,
    ) -> Result<Option<Replacement>, DeliverError> {
        for i in 0..self.sources.len() {
            if self.sources[i].held.is_some() {
                continue;
            }
            let read =
                source::read_path(&self.conn, &self.args.source, &self.sources[i].raw).await?;
            let source = &mut self.sources[i];
            // A path that answers under a lease now is followed from now on (and no longer
            // read on every interval).
            source.held = read
                .lease
                .clone()
                .map(|l| Held::new(l, Instant::now(), lease::jitter()));
            source.read = read;
        }
        let fresh = env_of(&self.args, &self.base, self.sources.iter().map(|s| &s.read))?;
        let changed = changed_names(&env.secrets, &fresh.secrets);
        if changed.is_empty() {
            return Ok(None);
        }
        Ok(Some(Replacement {
            env: fresh,
            message: format!("hush: secrets changed ({}); restarting", changed.join(", ")),
        }))
    }

    /// Renews or replaces the leases that are due; returns new credentials to restart the
    /// child with.
    async fn lease_step(&mut self, env: &ChildEnv, stopping: bool) -> Option<Replacement> {
        let now = Instant::now();
        for i in 0..self.sources.len() {
            let Some(held) = &mut self.sources[i].held else {
                continue;
            };
            if held.next > now {
                continue;
            }
            match held.step {
                Step::Renew => self.renew(i).await,
                Step::Refetch if stopping => {
                    // The child is on its way out: new credentials would start nothing.
                    held.next = now + Duration::from_secs(86_400);
                }
                Step::Refetch => {
                    if let Some(replacement) = self.refetch(i, env).await {
                        return Some(replacement);
                    }
                }
            }
        }
        None
    }

    /// `PUT sys/leases/renew` for the lease of source `i`, asking for its full duration again.
    async fn renew(&mut self, i: usize) {
        let source = &mut self.sources[i];
        let Some(held) = &mut source.held else {
            return;
        };
        let path = &source.read.path;
        let api = "sys/leases/renew";
        let body = serde_json::json!({
            "lease_id": held.lease.id,
            "increment": held.lease.duration.as_secs(),
        });
        // The expiry is counted from before the request: the server's is a little later.
        let sent = Instant::now();
        match self.conn.write(api, body).await {
            Ok(answer) => {
                let granted = answer
                    .as_ref()
                    .and_then(|a| a.get("lease_duration"))
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                if !held.renewed(Duration::from_secs(granted), sent, lease::jitter()) {
                    eprintln!(
                        "hush: the lease of {path} cannot be extended any more (its maximum TTL \
                         is near: {granted}s granted of the {}s asked); fetching new credentials \
                         in {}",
                        held.lease.duration.as_secs(),
                        shown(held.next.saturating_duration_since(Instant::now()))
                    );
                }
            }
            Err(err) if transient(&err) => {
                let now = Instant::now();
                let wait = held.failed(now, lease::jitter());
                let err = scrub(&self.conn.error(path, api, "update", err), &held.lease);
                eprintln!(
                    "hush: could not renew the lease of {path} (attempt {}, next in {}; the \
                     credentials expire in {}): {err}",
                    held.failures,
                    shown(wait),
                    shown(held.remaining(now))
                );
                report_expiry(path, held, now);
            }
            Err(err) => {
                let now = Instant::now();
                held.refused(now, lease::jitter());
                let err = scrub(&self.conn.error(path, api, "update", err), &held.lease);
                eprintln!(
                    "hush: the server refused to renew the lease of {path}: {err}; fetching new \
                     credentials in {}",
                    shown(held.next.saturating_duration_since(now))
                );
                report_expiry(path, held, now);
            }
        }
    }

    /// Reads source `i` again for new credentials. Returns them when they differ from the
    /// child's; the old lease is then retired (revoked after the restart).
    async fn refetch(&mut self, i: usize, env: &ChildEnv) -> Option<Replacement> {
        let raw = self.sources[i].raw.clone();
        let outcome = source::read_path(&self.conn, &self.args.source, &raw).await;
        let now = Instant::now();
        let read = match outcome {
            Ok(read) => read,
            Err(err) => {
                let source = &mut self.sources[i];
                if let Some(held) = &mut source.held {
                    let wait = held.failed(now, lease::jitter());
                    eprintln!(
                        "hush: could not fetch new credentials from {} (attempt {}, next in {}; \
                         the current ones expire in {}): {err}",
                        source.read.path,
                        held.failures,
                        shown(wait),
                        shown(held.remaining(now))
                    );
                    report_expiry(&source.read.path, held, now);
                }
                return None;
            }
        };
        let fresh = env_of(
            &self.args,
            &self.base,
            self.sources
                .iter()
                .enumerate()
                .map(|(j, s)| if j == i { &read } else { &s.read }),
        );
        let fresh = match fresh {
            Ok(fresh) => fresh,
            Err(err) => {
                // The new answer cannot make an environment (a key went missing): give its
                // lease back at once, keep the child on the old one and try again later.
                if let Some(new_lease) = &read.lease {
                    self.revoke(&read.path, new_lease).await;
                }
                let source = &mut self.sources[i];
                if let Some(held) = &mut source.held {
                    let wait = held.failed(now, lease::jitter());
                    eprintln!(
                        "hush: the new credentials from {} cannot be delivered (next attempt in \
                         {}): {err}",
                        source.read.path,
                        shown(wait)
                    );
                    report_expiry(&source.read.path, held, now);
                }
                return None;
            }
        };
        let held = read
            .lease
            .clone()
            .map(|l| Held::new(l, Instant::now(), lease::jitter()));
        let message = format!(
            "hush: new credentials from {} ({}); restarting",
            read.path,
            changed_names(&env.secrets, &fresh.secrets).join(", ")
        );
        let old = std::mem::replace(&mut self.sources[i], Source { raw, read, held });
        if changed_names(&env.secrets, &fresh.secrets).is_empty() {
            // The same credentials under a new lease: the old lease may guard the very
            // credential the child uses, so it is left to expire rather than revoked.
            return None;
        }
        // An old lease that has already run out needs no revocation: the server ended it.
        if let Some(old_held) = old.held.filter(|h| !h.expired(Instant::now())) {
            self.retired.push((old.read.path, old_held.lease));
        }
        Some(Replacement {
            env: fresh,
            message,
        })
    }

    /// Keeps the token valid while leases are held: the server revokes a token's leases when
    /// the token ends.
    async fn token_step(&mut self) {
        match self.conn.keep_token(Duration::ZERO).await {
            Ok(()) => {
                self.token_failures = 0;
                self.token_next = self.conn.token_check_in().map(|d| Instant::now() + d);
            }
            Err(err) => {
                self.token_failures = self.token_failures.saturating_add(1);
                let wait = lease::retry_delay(self.token_failures, None, lease::jitter());
                eprintln!(
                    "hush: {err} (the server revokes the leases of the dynamic credentials with \
                     the token; next attempt in {})",
                    shown(wait)
                );
                self.token_next = Some(Instant::now() + wait);
            }
        }
    }

    /// `PUT sys/leases/revoke` for one lease, unless `--keep-leases`; a failure is reported
    /// (the lease then ends at its TTL).
    async fn revoke(&self, path: &str, lease: &LeaseInfo) {
        if self.args.keep_leases {
            return;
        }
        let api = "sys/leases/revoke";
        let body = serde_json::json!({ "lease_id": lease.id });
        if let Err(err) = self.conn.write(api, body).await {
            // Gone already (ended by the server, or by an operator): what was wanted.
            if err.status() == Some(400) && err.to_string().contains("not found") {
                return;
            }
            let err = self.conn.error(path, api, "update", err);
            eprintln!(
                "hush: could not revoke the lease of {path}: {}. It ends by itself at its TTL \
                 ({}s from its last renewal); an operator can find it with `hush lease list \
                 {path}` and revoke it",
                scrub(&err, lease),
                lease.duration.as_secs()
            );
        }
    }

    /// Revokes the leases replaced by newer ones.
    async fn revoke_retired(&mut self) {
        for (path, lease) in std::mem::take(&mut self.retired) {
            self.revoke(&path, &lease).await;
        }
    }

    /// At the end of the run: revokes every lease obtained for it (see `--keep-leases`).
    async fn release(&mut self) {
        self.revoke_retired().await;
        let now = Instant::now();
        let held: Vec<(String, LeaseInfo)> = self
            .sources
            .iter_mut()
            .filter_map(|s| s.held.take().map(|h| (s, h)))
            // One that ran out was ended by the server already.
            .filter(|(_, h)| !h.expired(now))
            .map(|(s, h)| (s.read.path.clone(), h.lease))
            .collect();
        for (path, lease) in held {
            self.revoke(&path, &lease).await;
        }
    }
}

/// The text of `err` without the lease ID, which the server's messages may quote: whoever
/// holds a lease ID can renew or revoke the credentials (with a token allowed to), so Vault
/// treats lease IDs as sensitive, and so does hush's output.
fn scrub(err: &dyn std::fmt::Display, lease: &LeaseInfo) -> String {
    let text = err.to_string();
    if lease.id.is_empty() {
        return text;
    }
    text.replace(&lease.id, "<lease ID>")
}

/// Says once, clearly, that a lease ran out with no replacement: the child's credentials no
/// longer work.
fn report_expiry(path: &str, held: &mut Held, now: Instant) {
    if held.expired(now) && !held.expiry_reported {
        held.expiry_reported = true;
        eprintln!(
            "hush: the lease of {path} has EXPIRED and no new credentials could be fetched: the \
             credentials the child has from {path} no longer work. hush keeps trying and \
             restarts the child when it gets new ones"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Secret, SecretSet, SecretValue};

    fn set(pairs: &[(&str, &str)]) -> SecretSet {
        SecretSet {
            entries: pairs
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        Secret {
                            value: SecretValue::string(*v),
                            origin: "secret/app".into(),
                        },
                    )
                })
                .collect(),
        }
    }

    fn base(pairs: &[(&str, &str)]) -> BTreeMap<OsString, OsString> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn clash_needs_override() {
        let b = base(&[("HOME", "/root"), ("API_KEY", "old")]);
        let s = set(&[("API_KEY", "new")]);
        let err = build_env(&b, &s, &NameRules::default(), false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("API_KEY") && text.contains("--override"),
            "{text}"
        );
        assert!(!text.contains("new"), "no value in the message: {text}");
        let env = build_env(&b, &s, &NameRules::default(), true).unwrap();
        assert_eq!(env.vars[&OsString::from("API_KEY")], "new");
        assert_eq!(env.vars[&OsString::from("HOME")], "/root");
    }

    #[test]
    fn nul_bytes_are_refused() {
        let err = build_env(
            &base(&[]),
            &set(&[("K", "a\0b")]),
            &NameRules::default(),
            false,
        )
        .unwrap_err();
        assert!(matches!(err, DeliverError::NulInValue { .. }));
    }

    #[test]
    fn changes_by_name() {
        let old: BTreeMap<String, Zeroizing<String>> = [
            ("A".to_owned(), Zeroizing::new("1".to_owned())),
            ("B".to_owned(), Zeroizing::new("2".to_owned())),
            ("C".to_owned(), Zeroizing::new("3".to_owned())),
        ]
        .into_iter()
        .collect();
        let mut new = old.clone();
        new.insert("B".into(), Zeroizing::new("two".into()));
        new.remove("C");
        new.insert("D".into(), Zeroizing::new("4".into()));
        assert_eq!(changed_names(&old, &new), ["B", "C", "D"]);
        assert!(changed_names(&old, &old).is_empty());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }

    #[test]
    fn reset_env_keeps_only_the_minimal_set() {
        let env = base_env(true);
        assert!(env
            .keys()
            .all(|k| RESET_ENV_KEEP.iter().any(|keep| k == keep)));
    }
}
