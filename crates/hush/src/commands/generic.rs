//! `hush read|write|delete|list PATH`: any API path, as `vault read` and friends.

use std::process::ExitCode;

use clap::Args;
use hush_client::Client;
use serde_json::Value;

use super::{
    keys_of, no_value, parse_data, print_keys, print_secret, success, FormatArgs, OutputArgs,
    UsageError,
};

/// Options of `hush read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// API path, e.g. secret/data/app or sys/mounts
    pub path: String,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `hush write`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// API path, e.g. auth/token/create
    pub path: String,

    /// Data: key=value, key=@file, key=- (standard input), or - / @file.json for a JSON object
    #[arg(value_name = "K=V")]
    pub data: Vec<String>,

    /// Write even without data
    #[arg(short = 'f', long)]
    pub force: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `hush delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// API path
    pub path: String,
}

/// Options of `hush list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// API path, e.g. secret/metadata/
    pub path: String,

    #[command(flatten)]
    pub format: FormatArgs,
}

fn api_path(path: &str) -> &str {
    path.trim_start_matches('/')
}

/// Runs `hush read`.
pub async fn read(client: Client, args: ReadArgs) -> anyhow::Result<ExitCode> {
    let path = api_path(&args.path);
    match client.read(path).await? {
        Some(response) => print_secret(&response, &args.output, true),
        None => no_value(path),
    }
}

/// Runs `hush write`.
pub async fn write(client: Client, args: WriteArgs) -> anyhow::Result<ExitCode> {
    let path = api_path(&args.path);
    let data = parse_data(&args.data)?;
    if data.is_empty() && !args.force {
        return Err(UsageError::new(
            "no data to write: give key=value pairs, or --force (-f) to write without data",
        )
        .into());
    }
    let response = client.write(path, Value::Object(data)).await?;
    let has_content = |r: &Value| {
        ["data", "auth", "wrap_info"]
            .iter()
            .any(|k| r.get(k).is_some_and(|v| !v.is_null()))
    };
    match response {
        // What a write returns (a new token, a generated credential) was asked for by writing.
        Some(response) if has_content(&response) => print_secret(&response, &args.output, true),
        _ => success(format_args!("Success! Data written to: {path}")),
    }
}

/// Runs `hush delete`.
pub async fn delete(client: Client, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let path = api_path(&args.path);
    client.delete(path).await?;
    success(format_args!(
        "Success! Data deleted (if it existed) at: {path}"
    ))
}

/// Runs `hush list`.
pub async fn list(client: Client, args: ListArgs) -> anyhow::Result<ExitCode> {
    let path = api_path(&args.path);
    match client.list(path).await? {
        Some(response) => print_keys(&keys_of(&response), args.format.format),
        None => no_value(path),
    }
}

/// Options of `hush unwrap`.
#[derive(Debug, Args)]
pub struct UnwrapArgs {
    /// The wrapping token; without it, the token the client uses is the wrapping token
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `hush unwrap`.
pub async fn unwrap(mut client: Client, args: UnwrapArgs) -> anyhow::Result<ExitCode> {
    // As the vault CLI does, a wrapping token given on the command line is sent as the request's
    // own token: it authorizes its own unwrapping, so no other login is needed.
    match args.token.as_deref().map(str::trim) {
        Some(token) if !token.is_empty() => client.set_token(Some(token.to_string())),
        Some(_) => {
            return Err(UsageError::new(
                "the wrapping token is empty: give the token, or nothing to unwrap the token the \
                 client uses (HUSH_TOKEN, VAULT_TOKEN or ~/.hush-token)",
            )
            .into())
        }
        None => {}
    }
    match client
        .write("sys/wrapping/unwrap", serde_json::json!({}))
        .await?
    {
        // The unwrapped answer is what was wrapped: secrets and tokens included, as asked.
        Some(response) => print_secret(&response, &args.output, true),
        None => no_value("sys/wrapping/unwrap"),
    }
}

/// Options of `hush path-help`.
#[derive(Debug, Args)]
pub struct PathHelpArgs {
    /// The API path to describe, e.g. secret/data/app or sys/mounts
    #[arg(value_name = "PATH")]
    pub path: String,

    #[command(flatten)]
    pub format: crate::commands::FormatArgs,
}

/// `hush path-help PATH`: what the path is for, its operations and fields (Vault's `?help=1`,
/// answered from the backend's path table).
pub async fn path_help(client: Client, args: PathHelpArgs) -> anyhow::Result<ExitCode> {
    let path = args.path.trim().trim_matches('/');
    if path.is_empty() {
        return Err(UsageError::new("give an API path, e.g. hush path-help sys/mounts").into());
    }
    let path = path.strip_prefix("v1/").unwrap_or(path);
    let answer = client
        .request(hush_client::Method::GET, &format!("{path}?help=1"), None)
        .await?
        .unwrap_or(Value::Null);
    if args.format.format != crate::cli::Format::Table {
        crate::output::write_structured(&mut std::io::stdout().lock(), &answer, args.format.format)
            .map_err(crate::commands::stdout_error)?;
        return Ok(ExitCode::SUCCESS);
    }
    match answer.get("help").and_then(Value::as_str) {
        Some(text) => crate::commands::say(text.trim_end())?,
        None => anyhow::bail!("the server sent no help for {path}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `hush print token`: the token the CLI would send (HUSH_TOKEN, else VAULT_TOKEN, else the
/// file `hush login` writes), as `vault print token` does.
pub fn print_token(config: &hush_client::ClientConfig) -> anyhow::Result<ExitCode> {
    match config.token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            crate::commands::say(token)?;
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!(
            "no token: set HUSH_TOKEN (or VAULT_TOKEN), or run `hush login` to save one in \
             ~/.hush-token"
        ),
    }
}
