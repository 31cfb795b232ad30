//! `hush login`: authenticate, then keep the token in `~/.hush-token` for later commands.
//!
//! Logging in is two steps that do not depend on each other: an auth method turns what the user
//! gives (a token today; a username and password, a role and secret ID, a JWT later) into a
//! verified token ([`LoginOutcome`]), and the command stores and reports that token the same
//! way whatever the method. A new method adds a [`LoginMethod`] variant, a [`Credentials`]
//! variant read by [`LoginMethod::credentials`], and a branch in [`authenticate`] that posts to
//! `auth/<path>/login` and hands the answer to [`LoginOutcome::from_answer`].

use std::io::{self, BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::{Args, ValueEnum};
use hush_client::{store_token, token_file_path, Client, ClientError, Method};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{print_secret, say, trim_path, warn, with_client, OutputArgs, UsageError};
use crate::cli::{ConnectionArgs, Format};

/// Options of `hush login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// For the token method: the token, or token=TOKEN (prompted for without echo when
    /// omitted; read from standard input when "-"). For the others, key=value pairs:
    /// userpass username=NAME [password=...]; approle role_id=... secret_id=...; kubernetes
    /// role=... [jwt=@FILE]; jwt role=... jwt=TOKEN|@FILE
    #[arg(value_name = "TOKEN|K=V")]
    pub args: Vec<String>,

    /// How to authenticate
    #[arg(long, value_enum, default_value_t = LoginMethod::Token)]
    pub method: LoginMethod,

    /// Where the auth method is mounted [default: the method's name]
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// Do not save the token in ~/.hush-token; print it instead, to be used with HUSH_TOKEN
    #[arg(long)]
    pub no_store: bool,

    /// Print nothing on success
    #[arg(long)]
    pub no_print: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// The auth methods `hush login` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginMethod {
    /// An existing token, checked with auth/token/lookup-self
    Token,
    /// A username and password
    Userpass,
    /// An AppRole role ID and secret ID
    Approle,
    /// A Kubernetes service account token
    Kubernetes,
    /// A signed JWT
    Jwt,
}

/// Where Kubernetes mounts a pod's service account token.
const KUBERNETES_JWT_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// What the user gave to authenticate with, read before connecting so that a prompt is not
/// cut short by a slow server.
pub enum Credentials {
    /// A token to verify and keep.
    Token(Zeroizing<String>),
    /// A body to POST to `auth/<mount>/<path_suffix>`, holding secrets.
    Login {
        /// The path under the mount: `login`, or `login/<username>` for userpass.
        path_suffix: String,
        /// The JSON body (password, secret_id or jwt inside).
        body: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::Login { path_suffix, .. } => {
                write!(
                    f,
                    "Login {{ path_suffix: {path_suffix:?}, body: <redacted> }}"
                )
            }
        }
    }
}

impl LoginMethod {
    /// Reads this method's credentials from the arguments, standard input or a prompt.
    pub fn credentials(self, args: &[String]) -> anyhow::Result<Credentials> {
        match self {
            LoginMethod::Token => {
                let given = match args {
                    [] => None,
                    [one] => Some(one.strip_prefix("token=").unwrap_or(one).to_owned()),
                    _ => {
                        return Err(UsageError::new(
                            "the token method takes one argument, the token (or token=TOKEN, \
                             or - to read it from standard input)",
                        )
                        .into())
                    }
                };
                Ok(Credentials::Token(read_token(given)?))
            }
            LoginMethod::Userpass => {
                let mut pairs = login_pairs(args, self)?;
                let username = take_required(&mut pairs, "username", self)?;
                let password = match pairs.remove("password") {
                    Some(p) => p,
                    None => Zeroizing::new(
                        rpassword::prompt_password("Password (will be hidden): ").map_err(|e| {
                            anyhow!(
                                "could not read the password from the terminal: {e}. Pass                                  password=... (or password=@FILE)"
                            )
                        })?,
                    ),
                };
                pairs.insert("password".into(), password);
                login_credentials(format!("login/{}", username.as_str()), pairs)
            }
            LoginMethod::Approle => {
                let pairs = login_pairs(args, self)?;
                for required in ["role_id", "secret_id"] {
                    if !pairs.contains_key(required) {
                        return Err(missing(required, self).into());
                    }
                }
                login_credentials("login".into(), pairs)
            }
            LoginMethod::Kubernetes | LoginMethod::Jwt => {
                let mut pairs = login_pairs(args, self)?;
                if !pairs.contains_key("role") {
                    return Err(missing("role", self).into());
                }
                if !pairs.contains_key("jwt") {
                    if self == LoginMethod::Jwt {
                        return Err(missing("jwt", self).into());
                    }
                    pairs.insert("jwt".into(), read_file_value(KUBERNETES_JWT_FILE)?);
                }
                login_credentials("login".into(), pairs)
            }
        }
    }

    /// The method's name, which is also its default mount path.
    fn name(self) -> &'static str {
        match self {
            LoginMethod::Token => "token",
            LoginMethod::Userpass => "userpass",
            LoginMethod::Approle => "approle",
            LoginMethod::Kubernetes => "kubernetes",
            LoginMethod::Jwt => "jwt",
        }
    }
}

/// Login arguments by key; values are secret (passwords, secret IDs, JWTs).
type Pairs = std::collections::BTreeMap<String, Zeroizing<String>>;

/// Parses `key=value` login arguments; `key=@FILE` reads the value from a file (trimmed), so
/// a JWT or secret ID need not appear on the command line.
fn login_pairs(args: &[String], method: LoginMethod) -> anyhow::Result<Pairs> {
    let mut pairs = Pairs::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(UsageError::new(format!(
                "the {} method takes key=value arguments; \"{}\" is not one",
                method.name(),
                arg.split('=').next().unwrap_or_default()
            ))
            .into());
        };
        let value = match value.strip_prefix('@') {
            Some(file) => read_file_value(file)?,
            None => Zeroizing::new(value.to_owned()),
        };
        pairs.insert(key.to_owned(), value);
    }
    Ok(pairs)
}

fn read_file_value(file: &str) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
        UsageError::new(format!(
            "could not read {file}: {e}. Give the value directly, or a readable file with              key=@FILE"
        ))
    })?);
    Ok(Zeroizing::new(text.trim().to_owned()))
}

fn missing(key: &str, method: LoginMethod) -> UsageError {
    UsageError::new(format!(
        "the {} method needs {key}=...: add it to the command line",
        method.name()
    ))
}

fn take_required(
    pairs: &mut Pairs,
    key: &str,
    method: LoginMethod,
) -> anyhow::Result<Zeroizing<String>> {
    pairs
        .remove(key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(key, method).into())
}

fn login_credentials(path_suffix: String, pairs: Pairs) -> anyhow::Result<Credentials> {
    let body: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
        .collect();
    let body = Zeroizing::new(Value::Object(body).to_string());
    Ok(Credentials::Login { path_suffix, body })
}

/// Gets the token from the argument, standard input (`-`, or when stdin is not a terminal)
/// or a prompt that does not echo.
fn read_token(arg: Option<String>) -> anyhow::Result<Zeroizing<String>> {
    let token = match arg {
        Some(token) if token != "-" => Zeroizing::new(token),
        Some(_) => read_stdin_line()?,
        None if !io::stdin().is_terminal() => read_stdin_line()?,
        None => Zeroizing::new(
            rpassword::prompt_password("Token (will be hidden): ").map_err(|e| {
                anyhow!(
                    "could not read the token from the terminal: {e}. Pass the token as an \
                     argument, or \"-\" to read it from standard input"
                )
            })?,
        ),
    };
    let trimmed = Zeroizing::new(token.trim().to_owned());
    if trimmed.is_empty() {
        return Err(UsageError::new(
            "the token is empty. Give it as an argument, \"-\" to read it from standard input, \
             or nothing to be prompted for it",
        )
        .into());
    }
    Ok(trimmed)
}

fn read_stdin_line() -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow!("could not read the token from standard input: {e}"))?;
    Ok(line)
}

/// A verified token and what the server says about it.
pub struct LoginOutcome {
    /// The client token to use from now on.
    token: Zeroizing<String>,
    /// The server's whole answer (request_id, warnings, ...), as the vault CLI prints it, with
    /// an `auth` object (accessor, policies, lease_duration, renewable, metadata) that no
    /// longer holds the client token.
    answer: Value,
}

impl LoginOutcome {
    /// Builds the outcome from a login answer (`auth/<method>/login`), whose `auth` object
    /// carries `client_token`.
    pub fn from_answer(mut answer: Value) -> anyhow::Result<LoginOutcome> {
        let token = answer
            .get_mut("auth")
            .and_then(Value::as_object_mut)
            .and_then(|a| a.remove("client_token"))
            .and_then(|t| t.as_str().map(str::to_owned))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("the server's login answer carries no client token"))?;
        Ok(LoginOutcome {
            token: Zeroizing::new(token),
            answer,
        })
    }

    /// The answer printed for `--format json|yaml` and used by `--field`.
    fn response(&self, with_token: bool) -> Value {
        let mut answer = self.answer.clone();
        if with_token {
            if let Some(map) = answer.get_mut("auth").and_then(Value::as_object_mut) {
                map.insert("client_token".into(), Value::String(self.token.to_string()));
            }
        }
        answer
    }
}

/// Checks the credentials with the server and returns the token to keep.
pub async fn authenticate(
    client: &mut Client,
    mount: &str,
    credentials: Credentials,
) -> anyhow::Result<LoginOutcome> {
    match credentials {
        Credentials::Token(token) => {
            client.set_token(Some(token.to_string()));
            let answer = match client
                .request(Method::GET, "auth/token/lookup-self", None)
                .await
            {
                Ok(answer) => answer.unwrap_or(Value::Null),
                Err(err @ ClientError::Api { status: 403, .. }) => {
                    bail!("the server rejected the token: it is wrong, expired or revoked ({err})")
                }
                Err(err) => return Err(err.into()),
            };
            let data = answer.get("data").cloned().unwrap_or(Value::Null);
            let policies = data.get("policies").cloned().unwrap_or(json!([]));
            let auth = json!({
                "client_token": token.as_str(),
                "accessor": data.get("accessor").cloned().unwrap_or(json!("")),
                "policies": policies,
                "token_policies": policies,
                "identity_policies": data.get("identity_policies").cloned().unwrap_or(json!([])),
                "metadata": data.get("meta").cloned().unwrap_or(Value::Null),
                "lease_duration": data.get("ttl").cloned().unwrap_or(json!(0)),
                "renewable": data.get("renewable").cloned().unwrap_or(json!(false)),
            });
            // Shaped as a login answer, as `vault login TOKEN` prints it.
            LoginOutcome::from_answer(json!({
                "request_id": answer.get("request_id").cloned().unwrap_or(json!("")),
                "lease_id": "",
                "lease_duration": 0,
                "renewable": false,
                "data": null,
                "warnings": answer.get("warnings").cloned().unwrap_or(Value::Null),
                "auth": auth,
            }))
        }
        Credentials::Login { path_suffix, body } => {
            let mount = trim_path(mount);
            let path = format!("auth/{mount}/{path_suffix}");
            // A stale token must not be sent along: logins need none.
            client.set_token(None);
            let body: Value = serde_json::from_str(&body)
                .map_err(|e| anyhow!("could not encode the login request: {e}"))?;
            let answer = match client.write(&path, body).await {
                Ok(answer) => answer.unwrap_or(Value::Null),
                Err(
                    err @ ClientError::Api {
                        status: 400 | 403, ..
                    },
                ) => {
                    bail!("the server rejected the login at {path}: {err}")
                }
                Err(err) => return Err(err.into()),
            };
            LoginOutcome::from_answer(answer)
        }
    }
}

/// Runs `hush login`.
pub fn run(connection: &ConnectionArgs, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let credentials = args.method.credentials(&args.args)?;
    with_client(connection, |mut client| async move {
        let mount = args.path.as_deref().unwrap_or(args.method.name());
        let outcome = authenticate(&mut client, mount, credentials).await?;
        finish(outcome, &args)
    })
}

/// Stores the token (unless `--no-store`) and reports the login.
fn finish(outcome: LoginOutcome, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let stored = if args.no_store {
        None
    } else {
        let path = token_file_path().ok_or_else(|| {
            anyhow!(
                "cannot save the token: no home directory is known (HOME is not set). Use \
                 --no-store and set HUSH_TOKEN instead"
            )
        })?;
        store_token(&path, &outcome.token)?;
        for name in ["HUSH_TOKEN", "VAULT_TOKEN"] {
            if std::env::var(name).is_ok_and(|v| !v.trim().is_empty()) {
                warn(format_args!(
                    "WARNING! The {name} environment variable is set. It takes precedence over \
                     the token saved by this command; unset it to use the new token."
                ));
                break;
            }
        }
        Some(path)
    };
    if args.no_print {
        return Ok(ExitCode::SUCCESS);
    }
    // The token is shown only when it was not saved: then the user needs it, and with
    // --field token, which asks for it by name.
    let show_token = stored.is_none() || args.output.field.as_deref() == Some("token");
    let response = outcome.response(show_token);
    if args.output.field.is_some() || args.output.format != Format::Table {
        return print_secret(&response, &args.output, show_token);
    }
    say("Success! You are now authenticated.")?;
    match &stored {
        Some(path) => say(format_args!(
            "The token was saved to {}; later hush commands use it.\n",
            path.display()
        ))?,
        None => say(
            "The token was not saved (--no-store): set HUSH_TOKEN to use it in later commands.\n",
        )?,
    }
    print_secret(&response, &args.output, show_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login_body(method: LoginMethod, args: &[&str]) -> (String, Value) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        match method.credentials(&args).unwrap() {
            Credentials::Login { path_suffix, body } => {
                (path_suffix, serde_json::from_str(&body).unwrap())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn method_arguments_become_login_requests() {
        let (path, body) = login_body(LoginMethod::Userpass, &["username=al", "password=pw"]);
        assert_eq!(path, "login/al");
        assert_eq!(body, json!({"password": "pw"}));
        let (path, body) = login_body(LoginMethod::Approle, &["role_id=r", "secret_id=s"]);
        assert_eq!(path, "login");
        assert_eq!(body, json!({"role_id": "r", "secret_id": "s"}));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwt");
        std::fs::write(&file, "eyJ.x.y\n").unwrap();
        let jwt_arg = format!("jwt=@{}", file.display());
        let (_, body) = login_body(LoginMethod::Jwt, &["role=dev", &jwt_arg]);
        assert_eq!(body, json!({"role": "dev", "jwt": "eyJ.x.y"}));
    }

    #[test]
    fn missing_or_malformed_method_arguments_are_usage_errors() {
        for (method, args) in [
            (LoginMethod::Approle, vec!["role_id=r".to_string()]),
            (LoginMethod::Jwt, vec!["role=r".to_string()]),
            (LoginMethod::Userpass, vec!["password=p".to_string()]),
            (LoginMethod::Userpass, vec!["alice".to_string()]),
        ] {
            let err = method.credentials(&args).unwrap_err();
            assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");
        }
        let creds = LoginMethod::Approle
            .credentials(&["role_id=r".into(), "secret_id=topsecret".into()])
            .unwrap();
        assert!(!format!("{creds:?}").contains("topsecret"));
    }

    #[test]
    fn token_arguments() {
        let Credentials::Token(t) = LoginMethod::Token
            .credentials(&["token=abc".into()])
            .unwrap()
        else {
            panic!("not a token")
        };
        assert_eq!(t.as_str(), "abc");
        let Credentials::Token(t) = LoginMethod::Token.credentials(&[" xyz ".into()]).unwrap()
        else {
            panic!("not a token")
        };
        assert_eq!(t.as_str(), "xyz");
        let err = LoginMethod::Token
            .credentials(&["a".into(), "b".into()])
            .unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");
    }

    #[test]
    fn outcome_from_a_login_answer_keeps_the_token_apart() {
        let outcome = LoginOutcome::from_answer(json!({
            "request_id": "r1", "warnings": ["w"],
            "auth": {"client_token": "hvs.secret", "accessor": "acc", "policies": ["default"]}
        }))
        .unwrap();
        assert_eq!(outcome.token.as_str(), "hvs.secret");
        assert!(outcome.answer["auth"].get("client_token").is_none());
        assert_eq!(outcome.response(true)["auth"]["client_token"], "hvs.secret");
        // The whole answer is printed, as the vault CLI prints it.
        assert_eq!(outcome.response(false)["request_id"], "r1");
        assert_eq!(outcome.response(false)["warnings"], json!(["w"]));
        assert!(outcome.response(false)["auth"]
            .get("client_token")
            .is_none());
        assert!(LoginOutcome::from_answer(json!({"auth": {"accessor": "a"}})).is_err());
        assert!(LoginOutcome::from_answer(json!({})).is_err());
    }
}
