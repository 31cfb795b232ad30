//! `hush template`: rendering a configuration file that contains secrets, the file half of what
//! Vault Agent and consul-template do.
//!
//! The template is [minijinja](https://docs.rs/minijinja) (Jinja2) text with:
//! * `secret(path)`: the key/value map of the secret at `path` (KV v2 `data.data` or KV v1
//!   `data`), e.g. `{{ secret("secret/app/db").password }}`. A missing key is an error naming
//!   it; test for optional keys with `"key" in secret(path)` or read them with
//!   `secret(path).get("key", "default")`.
//! * filters `to_json` (JSON text of any value), `base64` (standard base64 of a string) and
//!   `b64decode` (the reverse; the result must be UTF-8).
//!
//! Undefined values are errors (strict mode), so a typo never renders as an empty string. The
//! newline after a block tag (`{% ... %}`) is removed (`trim_blocks`, as in Ansible), so control
//! lines leave no blank lines behind.
//! A syntax error names its line. The output is written atomically with mode 0600: a new file
//! in the same directory, flushed and renamed over the old one, so a program reading it sees
//! the old or the new content, never half of it.
//!
//! With `--watch`, the secrets are read again every `--interval`; when the rendered text
//! changes, the file is replaced and `--exec CMD` (run with `sh -c`) is started, e.g. to make
//! a server reload its configuration. `--exec` also runs after the first render. A failed
//! re-render keeps the previous file and is reported; hush keeps watching until it receives
//! SIGINT or SIGTERM. The token is kept valid meanwhile, as `hush run --watch` does.
//!
//! `secret(path)` also reads paths of other engines (`database/creds/app`). Their leases are
//! not followed here: a single render leaves its lease to end at its TTL, and `--watch` refuses
//! such a path (re-rendering would create new credentials every interval); `hush run` is the
//! command that renews and replaces them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hush_client::ClientConfig;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value};
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use crate::auth::AuthArgs;
use crate::conn::Conn;
#[cfg(feature = "cli")]
use crate::duration::parse_duration;
use crate::error::DeliverError;
use crate::outfile;
use crate::source::{self, LeaseInfo, ReadOutcome};

/// Arguments of `hush template`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct TemplateArgs {
    /// The template file
    #[cfg_attr(
        feature = "cli",
        arg(short = 'i', long = "input", value_name = "TEMPLATE")
    )]
    pub input: PathBuf,

    /// The file to write (atomically, mode 0600)
    #[cfg_attr(
        feature = "cli",
        arg(short = 'o', long = "output", value_name = "FILE")
    )]
    pub output: PathBuf,

    /// Keep running: render again whenever a secret changes
    #[cfg_attr(feature = "cli", arg(long))]
    pub watch: bool,

    /// With --watch: how often to read the secrets again
    #[cfg_attr(feature = "cli", arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration))]
    pub interval: Duration,

    /// Run this command (with sh -c) after each render that changed the file
    #[cfg_attr(feature = "cli", arg(long, value_name = "CMD"))]
    pub exec: Option<String>,

    /// How to log in.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub auth: AuthArgs,
}

/// The map `secret(path)` returns; remembers which key a template asked for in vain, so that
/// the error can name it.
#[derive(Debug)]
struct SecretMap {
    path: String,
    data: BTreeMap<String, Value>,
    missing: Arc<Mutex<Option<(String, String)>>>,
}

impl Object for SecretMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let found = self.data.get(name).cloned();
        if found.is_none() {
            if let Ok(mut missing) = self.missing.lock() {
                *missing = Some((self.path.clone(), name.to_owned()));
            }
        }
        found
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.data.keys().map(|k| Value::from(k.as_str())).collect())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match (method, args) {
            ("get", [key]) => Ok(key
                .as_str()
                .and_then(|k| self.data.get(k).cloned())
                .unwrap_or(Value::from(()))),
            ("get", [key, default]) => Ok(key
                .as_str()
                .and_then(|k| self.data.get(k).cloned())
                .unwrap_or_else(|| default.clone())),
            ("keys", []) => Ok(Value::from(
                self.data
                    .keys()
                    .map(|k| Value::from(k.as_str()))
                    .collect::<Vec<_>>(),
            )),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a secret has the methods get(key[, default]) and keys(), not {method}"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        // Printing a whole secret map by accident would be surprising; show only its keys.
        write!(f, "<secret {} with keys:", self.path)?;
        for key in self.data.keys() {
            write!(f, " {key}")?;
        }
        f.write_str(">")
    }
}

/// A compiled template and what rendering it needs.
pub struct Renderer {
    name: String,
    source: Arc<Zeroizing<String>>,
    conn: Conn,
    /// The paths whose answers came under a lease (dynamic credentials), with the lease, from
    /// the renders so far; `--watch` refuses them (see [`template`]).
    leased: Arc<Mutex<Vec<(String, LeaseInfo)>>>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("name", &self.name)
            .finish()
    }
}

fn to_json(value: Value) -> Result<String, Error> {
    serde_json::to_string(&value).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("to_json: the value cannot be written as JSON: {e}"),
        )
    })
}

fn base64_encode(value: Value) -> Result<String, Error> {
    let engine = base64::engine::general_purpose::STANDARD;
    if let Some(bytes) = value.as_bytes() {
        return Ok(engine.encode(bytes));
    }
    Ok(engine.encode(value.to_string()))
}

fn base64_decode(value: Value) -> Result<String, Error> {
    let text = value.as_str().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            "b64decode: the value is not a string",
        )
    })?;
    let text = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("b64decode: the value is not base64: {e}"),
            )
        })?;
    String::from_utf8(bytes).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            "b64decode: the decoded bytes are not UTF-8 text",
        )
    })
}

/// An environment with the filters but no `secret()` yet (enough to check syntax).
fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Configuration files are not HTML: no autoescaping, and the trailing newline is kept.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    // As in Ansible: the newline after a `{% ... %}` tag is dropped, so control lines do not
    // leave blank lines in the generated file.
    env.set_trim_blocks(true);
    env.add_filter("to_json", to_json);
    env.add_filter("base64", base64_encode);
    env.add_filter("b64decode", base64_decode);
    env
}

/// Turns a minijinja error into one naming the template file and line.
fn template_error(
    name: &str,
    source: &str,
    err: &Error,
    missing: Option<(String, String)>,
) -> DeliverError {
    let excerpt = err
        .range()
        .and_then(|r| source.get(r))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let message = match (err.kind(), missing) {
        (ErrorKind::UndefinedError, Some((path, key)))
            if excerpt.as_deref().is_none_or(|e| e.contains(key.as_str())) =>
        {
            format!(
                "the secret {path} has no key \"{key}\" (test optional keys with \
                 `\"{key}\" in secret(...)` or use .get(\"{key}\", default))"
            )
        }
        (ErrorKind::UndefinedError, _) => match &excerpt {
            Some(expr) => format!("{expr} is undefined"),
            None => "a value is undefined".to_owned(),
        },
        (ErrorKind::SyntaxError, _) => format!(
            "syntax error: {}",
            err.detail().unwrap_or("the template is malformed")
        ),
        _ => {
            let mut text = err
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string());
            if let Some(expr) = excerpt {
                text.push_str(&format!(" (in {expr})"));
            }
            text
        }
    };
    DeliverError::Template {
        file: name.to_owned(),
        line: err.line().unwrap_or(0),
        message,
    }
}

/// Checks the template's syntax without reading any secret.
pub fn check_syntax(name: &str, source: &str) -> Result<(), DeliverError> {
    let mut env = base_env();
    env.add_template(name, source)
        .map_err(|e| template_error(name, source, &e, None))
}

impl Renderer {
    /// Reads and compiles the template at `path`; a syntax error is reported with its line.
    pub fn load(path: &std::path::Path, conn: Conn) -> Result<Renderer, DeliverError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| DeliverError::io("read the template", path, e))?;
        let name = path.display().to_string();
        check_syntax(&name, &source)?;
        Ok(Renderer {
            name,
            source: Arc::new(Zeroizing::new(source)),
            conn,
            leased: Arc::default(),
        })
    }

    /// Renders the template, reading each secret it uses once.
    pub async fn render(&self) -> Result<Zeroizing<String>, DeliverError> {
        let name = self.name.clone();
        let source = Arc::clone(&self.source);
        let conn = self.conn.clone();
        let handle = Handle::current();
        let leased = Arc::clone(&self.leased);
        // minijinja calls `secret()` synchronously; rendering on a blocking thread lets the
        // function wait for the HTTP request on the runtime without stalling it.
        tokio::task::spawn_blocking(move || render_blocking(&name, &source, conn, handle, leased))
            .await
            .map_err(|e| DeliverError::Template {
                file: self.name.clone(),
                line: 0,
                message: format!("rendering stopped unexpectedly: {e}"),
            })?
    }

    /// Takes the leases the renders so far came under.
    fn take_leased(&self) -> Vec<(String, LeaseInfo)> {
        self.leased
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

fn render_blocking(
    name: &str,
    source: &str,
    conn: Conn,
    handle: Handle,
    leased: Arc<Mutex<Vec<(String, LeaseInfo)>>>,
) -> Result<Zeroizing<String>, DeliverError> {
    render_with(name, source, move |path| {
        let (data, lease) = handle
            .block_on(read_for_template(&conn, path))
            .map_err(|e| e.to_string())?;
        if let (Some(lease), Ok(mut held)) = (lease, leased.lock()) {
            held.push((path.to_owned(), lease));
        }
        Ok(data)
    })
}

/// Renders `source` with `secret(path)` answered by `lookup` (called once per path; its error
/// text becomes the template error). The server-backed renderer and the fuzz harness share it.
pub fn render_with<F>(
    name: &str,
    source: &str,
    lookup: F,
) -> Result<Zeroizing<String>, DeliverError>
where
    F: Fn(&str) -> Result<BTreeMap<String, Value>, String> + Send + Sync + 'static,
{
    let missing: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let cache: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
    let mut env = base_env();
    let fn_missing = Arc::clone(&missing);
    env.add_function("secret", move |path: String| -> Result<Value, Error> {
        if let Some(found) = cache.lock().ok().and_then(|c| c.get(&path).cloned()) {
            return Ok(found);
        }
        let data = lookup(&path).map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
        let value = Value::from_object(SecretMap {
            path: path.clone(),
            data,
            missing: Arc::clone(&fn_missing),
        });
        if let Ok(mut c) = cache.lock() {
            c.insert(path, value.clone());
        }
        Ok(value)
    });
    env.add_template(name, source)
        .map_err(|e| template_error(name, source, &e, None))?;
    let template = env
        .get_template(name)
        .map_err(|e| template_error(name, source, &e, None))?;
    template.render(()).map(Zeroizing::new).map_err(|e| {
        let key = missing.lock().ok().and_then(|m| m.clone());
        template_error(name, source, &e, key)
    })
}

/// Reads a secret for `secret(path)`: values as template values (strings stay strings, other
/// JSON keeps its structure), and the lease the answer came under, if any.
async fn read_for_template(
    conn: &Conn,
    path: &str,
) -> Result<(BTreeMap<String, Value>, Option<LeaseInfo>), DeliverError> {
    let kv = source::resolve(conn, path).await?;
    match source::read_secret(conn, &kv, None).await? {
        ReadOutcome::Found { data, lease, .. } => Ok((
            data.into_iter()
                .map(|(k, v)| {
                    let value = if v.is_json() {
                        Value::from_serialize(v.to_json())
                    } else {
                        Value::from(v.as_str())
                    };
                    (k, value)
                })
                .collect(),
            lease,
        )),
        ReadOutcome::Missing => Err(DeliverError::TemplateSecretNotFound { path: kv.display() }),
        ReadOutcome::Deleted { version } => Err(DeliverError::VersionDeleted {
            path: kv.display(),
            version,
        }),
    }
}

/// Runs `--exec CMD` with `sh -c` and waits for it; returns its exit code (128+signal when it
/// was killed).
async fn run_exec(cmd: &str) -> Result<i32, DeliverError> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .await
        .map_err(|source| DeliverError::Spawn {
            program: "sh (for --exec)".to_owned(),
            source,
        })?;
    Ok(crate::run::exit_code(status))
}

/// Runs `hush template`.
pub async fn template(args: TemplateArgs, client_cfg: ClientConfig) -> Result<(), DeliverError> {
    // The template is checked before anything is sent to the server.
    let source = std::fs::read_to_string(&args.input)
        .map_err(|e| DeliverError::io("read the template", &args.input, e))?;
    check_syntax(&args.input.display().to_string(), &source)?;
    let conn = Conn::connect(client_cfg, &args.auth).await?;
    let mut renderer = Renderer::load(&args.input, conn)?;

    let mut last = renderer.render().await?;
    let leased = renderer.take_leased();
    if args.watch && !leased.is_empty() {
        // Every render reads each secret again, and every read of dynamic credentials creates
        // new ones (a database user per --interval): refuse before writing anything, and give
        // back what this render obtained.
        for (_, lease) in &leased {
            let body = serde_json::json!({ "lease_id": lease.id });
            if let Err(err) = renderer.conn.write("sys/leases/revoke", body).await {
                eprintln!(
                    "hush: could not revoke a lease this render obtained ({}); it ends at its TTL",
                    renderer
                        .conn
                        .error("sys/leases/revoke", "sys/leases/revoke", "update", err)
                );
            }
        }
        let paths: Vec<&str> = leased.iter().map(|(p, _)| p.as_str()).collect();
        return Err(DeliverError::Usage(format!(
            "{} answered with dynamic credentials under a lease, which hush template --watch \
             does not follow: each render would create new ones. Render without --watch (the \
             lease then ends at its TTL), or give the credentials to the program with hush run \
             --path, which renews and replaces them",
            paths.join(", ")
        )));
    }
    outfile::replace_atomically(&args.output, last.as_bytes())?;
    if let Some(cmd) = &args.exec {
        let code = run_exec(cmd).await?;
        if code != 0 && !args.watch {
            return Err(DeliverError::Usage(format!(
                "the --exec command failed with exit code {code}"
            )));
        }
        if code != 0 {
            eprintln!("hush: the --exec command failed with exit code {code}");
        }
    }
    if !args.watch {
        return Ok(());
    }

    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| DeliverError::io("listen for", "SIGINT", e))?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| DeliverError::io("listen for", "SIGTERM", e))?;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
        if let Err(err) = renderer.conn.keep_token(args.interval).await {
            eprintln!("hush: {err}");
        }
        let rendered = match renderer.render().await {
            Ok(text) => text,
            Err(err) => {
                eprintln!("hush: could not render again, keeping the previous file: {err}");
                continue;
            }
        };
        if source::secret_eq(&rendered, &last) {
            continue;
        }
        if let Err(err) = outfile::replace_atomically(&args.output, rendered.as_bytes()) {
            eprintln!("hush: {err}");
            continue;
        }
        last = rendered;
        eprintln!("hush: secrets changed; wrote {}", args.output.display());
        if let Some(cmd) = &args.exec {
            match run_exec(cmd).await {
                Ok(0) => {}
                Ok(code) => eprintln!("hush: the --exec command failed with exit code {code}"),
                Err(err) => eprintln!("hush: {err}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_line() {
        let err = check_syntax("t.tmpl", "line one\n{{ secret(\"a\").b \n{% endfor %}\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("template t.tmpl, line "), "{err}");
        assert!(err.contains("syntax error"), "{err}");
        assert!(check_syntax("ok.tmpl", "{{ 1 | to_json }}").is_ok());
    }

    #[test]
    fn filters() {
        let env = base_env();
        let render = |src: &str| env.render_str(src, ()).unwrap();
        assert_eq!(render(r#"{{ "héllo" | base64 }}"#), "aMOpbGxv");
        assert_eq!(render(r#"{{ "aMOpbGxv" | b64decode }}"#), "héllo");
        assert_eq!(
            render(r#"{{ {"a": [1, "x"]} | to_json }}"#),
            r#"{"a":[1,"x"]}"#
        );
        assert!(env.render_str(r#"{{ "!!" | b64decode }}"#, ()).is_err());
    }

    #[test]
    fn secret_maps_name_missing_keys_and_support_get_and_in() {
        let missing: Arc<Mutex<Option<(String, String)>>> = Arc::default();
        let map = Value::from_object(SecretMap {
            path: "secret/app".into(),
            data: [("user".to_owned(), Value::from("u"))]
                .into_iter()
                .collect(),
            missing: Arc::clone(&missing),
        });
        let env = base_env();
        let ok = env
            .render_str(
                r#"{{ s.user }} {{ "pw" in s }} {{ s.get("pw", "d") }} {{ s.keys() | join(",") }}"#,
                minijinja::context! { s => map.clone() },
            )
            .unwrap();
        assert_eq!(ok, "u False d user");
        let source = "a\n{{ s.password }}\n";
        let mut env2 = base_env();
        env2.add_template("t", source).unwrap();
        let err = env2
            .get_template("t")
            .unwrap()
            .render(minijinja::context! { s => map })
            .unwrap_err();
        let key = missing.lock().unwrap().clone();
        let text = template_error("t", source, &err, key).to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("\"password\""), "{text}");
        assert!(text.contains("secret/app"), "{text}");
    }

    #[tokio::test]
    async fn secret_lookups_do_not_stall_a_current_thread_runtime() {
        // `secret()` waits on the runtime from a blocking thread; on a current-thread runtime
        // that only works while the main thread drives I/O and timers, which the retries use.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let config = ClientConfig {
            address: format!("http://127.0.0.1:{port}"),
            ..ClientConfig::default()
        };
        let conn = Conn::connect(config, &AuthArgs::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tmpl");
        std::fs::write(&path, "{{ secret(\"secret/x\").y }}").unwrap();
        let renderer = Renderer::load(&path, conn).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(30), renderer.render())
            .await
            .expect("rendering finished")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3 attempts") && err.contains("line 1"),
            "{err}"
        );
    }
}
