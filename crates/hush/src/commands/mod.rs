//! The client commands that act on a running server, one module per command group, and what
//! they share: connecting, printing responses, and exit codes.
//!
//! Exit codes follow the vault CLI: 0 success, 1 error, 2 usage error or "no value found".

pub mod audit;
pub mod auth;
pub mod generic;
pub mod kv;
pub mod lease;
pub mod login;
pub mod operator;
pub mod policy;
pub mod rotate;
pub mod secrets;
pub mod token;

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::Args;
use hush_client::{Client, ClientConfig, ClientError};
use serde_json::{Map, Value};

use crate::cli::{ConnectionArgs, Format};
use crate::output;

/// Exit code for usage errors and for reads that found nothing, as in the vault CLI.
pub const EXIT_USAGE: u8 = 2;

/// A command called the wrong way, noticed after clap accepted the command line (a malformed
/// `key=value`, an unreadable input file, a flag that does not apply to this KV version).
/// `main` exits with [`EXIT_USAGE`] for it, as for clap's own usage errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(String);

impl UsageError {
    /// An error with a message that says what was wrong and how to call the command instead.
    pub fn new(message: impl Into<String>) -> Self {
        UsageError(message.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The client configuration the flags and environment describe.
pub fn client_config(connection: &ConnectionArgs) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::from_env(connection.address.clone())?;
    if let Some(ca_cert) = &connection.ca_cert {
        config.ca_cert = Some(ca_cert.clone());
    }
    if connection.tls_skip_verify {
        config.skip_verify = true;
    }
    Ok(config)
}

/// Runs an async command that needs no client on a single-threaded runtime.
pub fn block_on<Fut>(future: Fut) -> anyhow::Result<Fut::Output>
where
    Fut: std::future::Future,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Builds a client from the flags and environment and runs one async command with it.
pub fn with_client<F, Fut>(connection: &ConnectionArgs, command: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let mut client = Client::new(client_config(connection)?)?;
    client.set_wrap_ttl(connection.wrap_ttl.as_deref())?;
    // One request at a time: a single-threaded runtime is all the CLI needs.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(command(client))
}

/// The error for a failed write to standard output (a closed pipe, a full disk).
pub fn stdout_error(err: io::Error) -> anyhow::Error {
    anyhow!("could not write to standard output: {err}")
}

/// Prints a line to standard output.
pub fn say(text: impl fmt::Display) -> anyhow::Result<()> {
    writeln!(io::stdout().lock(), "{text}").map_err(stdout_error)
}

/// Prints a success message and exits 0.
pub fn success(text: impl fmt::Display) -> anyhow::Result<ExitCode> {
    say(text)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a warning to standard error. Nothing sensible is left to do if stderr is gone.
pub fn warn(text: impl fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// "No value found at PATH" on standard error, and exit code 2: the vault CLI's answer to a read
/// of nothing, which scripts test for.
pub fn no_value(path: &str) -> anyhow::Result<ExitCode> {
    warn(format_args!("No value found at {path}"));
    Ok(ExitCode::from(EXIT_USAGE))
}

/// Whether an error is the server's 404.
pub fn is_not_found(err: &ClientError) -> bool {
    err.status() == Some(404)
}

/// `--format` for commands that print something but have no single value to pick.
#[derive(Debug, Clone, Args)]
pub struct FormatArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `--format` and `--field` for commands that print a server response.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Print only this field: its bare value with table output (no newline unless standard
    /// output is a terminal), or as a JSON/YAML document
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,
}

/// Prints one field of a response, or says it is not there (exit 1, as the vault CLI).
pub fn print_field(value: Option<Value>, field: &str, format: Format) -> anyhow::Result<ExitCode> {
    let Some(value) = value else {
        warn(format_args!("Field \"{field}\" not present in secret"));
        return Ok(ExitCode::FAILURE);
    };
    let stdout = io::stdout();
    let terminal = stdout.is_terminal();
    output::write_field(&mut stdout.lock(), &value, format, terminal).map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a response as the vault CLI prints a secret: one field, a JSON/YAML document of the
/// whole response, or a Key/Value table (lease, token and data rows) followed by the server's
/// warnings on standard error.
///
/// `show_token` controls whether a new client token appears in the table and documents; a
/// `--field token` always shows it, since it was asked for by name.
pub fn print_secret(
    response: &Value,
    output_args: &OutputArgs,
    show_token: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(field) = &output_args.field {
        return print_field(
            output::secret_field(response, field),
            field,
            output_args.format,
        );
    }
    let mut out = io::stdout().lock();
    match output_args.format {
        Format::Table => {
            let rows = output::secret_rows(response, show_token);
            if !rows.is_empty() {
                output::write_table(&mut out, &rows).map_err(stdout_error)?;
            }
            // A closed stderr must not turn a successful command into a failure.
            let _ = output::write_warnings(&mut io::stderr().lock(), response);
        }
        structured => {
            let shown = if show_token {
                std::borrow::Cow::Borrowed(response)
            } else {
                std::borrow::Cow::Owned(without_client_token(response))
            };
            output::write_structured(&mut out, &shown, structured).map_err(stdout_error)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A copy of a response without `auth.client_token`.
fn without_client_token(response: &Value) -> Value {
    let mut copy = response.clone();
    if let Some(auth) = copy.get_mut("auth").and_then(Value::as_object_mut) {
        auth.remove("client_token");
    }
    copy
}

/// Prints a list of keys: a `Keys` column, or a JSON/YAML list.
pub fn print_keys(keys: &[Value], format: Format) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = keys.iter().map(|k| vec![output::go_value(k)]).collect();
            output::write_columns(&mut out, &["Keys"], &rows).map_err(stdout_error)?;
        }
        structured => {
            output::write_structured(&mut out, &Value::Array(keys.to_vec()), structured)
                .map_err(stdout_error)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `data.keys` of a LIST answer.
pub fn keys_of(response: &Value) -> Vec<Value> {
    response
        .pointer("/data/keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Parses `key=value` data arguments, reading standard input if one of them asks for it.
pub fn parse_data(args: &[String]) -> Result<Map<String, Value>, UsageError> {
    crate::kvdata::parse(args, &mut io::stdin().lock())
}

/// Parses `key=value` pairs whose values are plain strings (metadata, mount options); no
/// files or standard input.
pub fn parse_pairs(pairs: &[String], what: &str) -> Result<Map<String, Value>, UsageError> {
    let mut map = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(UsageError::new(format!(
                "invalid {what} \"{pair}\": expected key=value"
            )));
        };
        if key.is_empty() {
            return Err(UsageError::new(format!(
                "invalid {what} \"{pair}\": the key before \"=\" is empty"
            )));
        }
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    Ok(map)
}

/// A mount or API path as given by a user, without leading and trailing slashes.
pub fn trim_path(path: &str) -> &str {
    path.trim_matches('/')
}

/// A mount path as the vault CLI prints it: with one trailing slash.
pub fn mount_display(path: &str) -> String {
    format!("{}/", trim_path(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_parse_and_reject_malformed_ones() {
        let map = parse_pairs(&["a=1".into(), "b=x=y".into()], "metadata").unwrap();
        assert_eq!(Value::Object(map), json!({"a": "1", "b": "x=y"}));
        let err = parse_pairs(&["nope".into()], "metadata").unwrap_err();
        assert!(err.to_string().contains("key=value"), "{err}");
        assert!(parse_pairs(&["=v".into()], "option").is_err());
    }

    #[test]
    fn client_token_is_removed_when_not_to_be_shown() {
        let response = json!({"auth": {"client_token": "hvs.x", "accessor": "a"}});
        let shown = without_client_token(&response);
        assert_eq!(shown, json!({"auth": {"accessor": "a"}}));
    }

    #[test]
    fn paths_are_trimmed_and_mounts_end_in_a_slash() {
        assert_eq!(trim_path("/secret/app/"), "secret/app");
        assert_eq!(mount_display("secret"), "secret/");
        assert_eq!(mount_display("secret/"), "secret/");
    }
}
