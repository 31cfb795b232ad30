//! `hush token create|lookup|renew|revoke|capabilities`, on the token auth method's endpoints.

use std::io;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use hush_client::{Client, Method};
use serde_json::{json, Map, Value};

use super::{parse_pairs, print_secret, stdout_error, success, FormatArgs, OutputArgs, UsageError};
use crate::cli::Format;
use crate::duration::Seconds;
use crate::output;

/// The subcommands of `hush token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token (a child of the current token unless --orphan)
    Create(CreateArgs),
    /// Show a token's properties (the current token when none is given)
    Lookup(LookupArgs),
    /// Extend a token's lease (the current token when none is given)
    Renew(RenewArgs),
    /// Revoke a token and, unless --mode orphan, all its children
    Revoke(RevokeArgs),
    /// Show what a token may do on a path: [TOKEN] PATH
    Capabilities(CapabilitiesArgs),
}

/// Kinds of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenType {
    /// Stored, renewable, revocable, may have children
    Service,
    /// Lightweight, not stored, cannot be renewed or have children
    Batch,
}

/// Options of `hush token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Policy to attach; repeat or separate with commas
    #[arg(long = "policy", value_name = "NAME", value_delimiter = ',')]
    pub policies: Vec<String>,

    /// Initial time to live (e.g. 1h, 30m, 3600)
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<Seconds>,

    /// Lifetime the token can never be renewed beyond
    #[arg(long, value_name = "DURATION")]
    pub explicit_max_ttl: Option<Seconds>,

    /// Make a periodic token: renewable forever, each renewal for this long
    #[arg(long, value_name = "DURATION")]
    pub period: Option<Seconds>,

    /// Number of uses after which the token is revoked (0: unlimited)
    #[arg(long, visible_alias = "use-limit", value_name = "N")]
    pub num_uses: Option<u64>,

    /// Whether the token can be renewed (--renewable=false to forbid)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub renewable: Option<bool>,

    /// Create a token without a parent, not revoked with the current token
    #[arg(long, conflicts_with = "role")]
    pub orphan: bool,

    /// Name shown in audit logs and lookups
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,

    /// Metadata key=value to attach; repeatable
    #[arg(long, value_name = "K=V")]
    pub metadata: Vec<String>,

    /// Create the token from this token role
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,

    /// The token's value, instead of a random one (root only)
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// Do not attach the default policy
    #[arg(long)]
    pub no_default_policy: bool,

    /// Kind of token
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub token_type: Option<TokenType>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `hush token lookup`.
#[derive(Debug, Args)]
pub struct LookupArgs {
    /// Token to look up (or its accessor with --accessor); the current token when omitted
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,

    /// The argument is an accessor, not a token
    #[arg(long, requires = "token")]
    pub accessor: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `hush token renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Token to renew (or its accessor with --accessor); the current token when omitted
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,

    /// Requested extension of the lease, from now (the server may grant less)
    #[arg(long, short = 'i', value_name = "DURATION")]
    pub increment: Option<Seconds>,

    /// The argument is an accessor, not a token
    #[arg(long, requires = "token")]
    pub accessor: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How `hush token revoke` revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RevokeMode {
    /// Revoke only the token; its children become orphans
    Orphan,
    /// Revoke every token created under the auth path given as argument (needs sudo)
    Path,
}

/// Options of `hush token revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Token to revoke (an accessor with --accessor, an auth path with --mode path)
    #[arg(value_name = "TOKEN", required_unless_present = "self_")]
    pub token: Option<String>,

    /// Revoke the current token
    #[arg(long = "self", id = "self_", conflicts_with_all = ["token", "accessor", "mode"])]
    pub self_: bool,

    /// The argument is an accessor, not a token
    #[arg(long, conflicts_with = "mode")]
    pub accessor: bool,

    /// Revoke only the token (orphan), or all tokens under an auth path (path)
    #[arg(long, value_enum)]
    pub mode: Option<RevokeMode>,
}

/// Options of `hush token capabilities`.
#[derive(Debug, Args)]
pub struct CapabilitiesArgs {
    /// [TOKEN] PATH: the token (or accessor, with --accessor) is the current one when omitted
    #[arg(value_name = "ARGS", num_args = 1..=2, required = true)]
    pub args: Vec<String>,

    /// The token argument is an accessor
    #[arg(long)]
    pub accessor: bool,

    #[command(flatten)]
    pub format: FormatArgs,
}

/// Runs a `hush token` subcommand.
pub async fn run(client: Client, command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create(args) => create(&client, args).await,
        TokenCommand::Lookup(args) => lookup(&client, args).await,
        TokenCommand::Renew(args) => renew(&client, args).await,
        TokenCommand::Revoke(args) => revoke(&client, args).await,
        TokenCommand::Capabilities(args) => capabilities(&client, args).await,
    }
}

/// The body of `auth/token/create` for the given options.
fn create_body(args: &CreateArgs) -> Result<Map<String, Value>, UsageError> {
    let mut body = Map::new();
    if !args.policies.is_empty() {
        body.insert("policies".into(), json!(args.policies));
    }
    for (key, value) in [
        ("ttl", args.ttl),
        ("explicit_max_ttl", args.explicit_max_ttl),
        ("period", args.period),
    ] {
        if let Some(value) = value {
            body.insert(key.into(), json!(value.wire()));
        }
    }
    if let Some(n) = args.num_uses {
        body.insert("num_uses".into(), json!(n));
    }
    if let Some(renewable) = args.renewable {
        body.insert("renewable".into(), json!(renewable));
    }
    if let Some(name) = &args.display_name {
        body.insert("display_name".into(), json!(name));
    }
    if !args.metadata.is_empty() {
        body.insert(
            "meta".into(),
            Value::Object(parse_pairs(&args.metadata, "metadata")?),
        );
    }
    if let Some(id) = &args.id {
        body.insert("id".into(), json!(id));
    }
    if args.no_default_policy {
        body.insert("no_default_policy".into(), json!(true));
    }
    if let Some(kind) = args.token_type {
        let name = match kind {
            TokenType::Service => "service",
            TokenType::Batch => "batch",
        };
        body.insert("type".into(), json!(name));
    }
    Ok(body)
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let body = create_body(&args)?;
    let path = if args.orphan {
        "auth/token/create-orphan".to_owned()
    } else if let Some(role) = &args.role {
        format!("auth/token/create/{}", role.trim_matches('/'))
    } else {
        "auth/token/create".to_owned()
    };
    let response = client
        .request(Method::POST, &path, Some(Value::Object(body)))
        .await?
        .unwrap_or(Value::Null);
    // Creating a token is asking for it: it is printed.
    print_secret(&response, &args.output, true)
}

/// Rejects an empty token argument (`"$TOKEN"` of an unset variable): sent as is, the server
/// would take it to mean the caller's own token.
fn check_token_arg(arg: &Option<String>) -> Result<(), UsageError> {
    match arg {
        Some(token) if token.trim().is_empty() => Err(UsageError::new(
            "the token argument is empty; give a token (or an accessor with --accessor), or \
             leave the argument out to use the current token",
        )),
        _ => Ok(()),
    }
}

async fn lookup(client: &Client, args: LookupArgs) -> anyhow::Result<ExitCode> {
    check_token_arg(&args.token)?;
    let response = match (&args.token, args.accessor) {
        (None, _) => {
            client
                .request(Method::GET, "auth/token/lookup-self", None)
                .await?
        }
        (Some(accessor), true) => {
            client
                .request(
                    Method::POST,
                    "auth/token/lookup-accessor",
                    Some(json!({ "accessor": accessor })),
                )
                .await?
        }
        (Some(token), false) => {
            client
                .request(
                    Method::POST,
                    "auth/token/lookup",
                    Some(json!({ "token": token })),
                )
                .await?
        }
    };
    print_secret(&response.unwrap_or(Value::Null), &args.output, true)
}

async fn renew(client: &Client, args: RenewArgs) -> anyhow::Result<ExitCode> {
    let mut body = Map::new();
    if let Some(increment) = args.increment {
        body.insert("increment".into(), json!(increment.wire()));
    }
    check_token_arg(&args.token)?;
    let path = match (&args.token, args.accessor) {
        (None, _) => "auth/token/renew-self",
        (Some(accessor), true) => {
            body.insert("accessor".into(), json!(accessor));
            "auth/token/renew-accessor"
        }
        (Some(token), false) => {
            body.insert("token".into(), json!(token));
            "auth/token/renew"
        }
    };
    let response = client
        .request(Method::POST, path, Some(Value::Object(body)))
        .await?
        .unwrap_or(Value::Null);
    // Renewing by token or for oneself: the caller knows the token already.
    let show_token = !args.accessor;
    print_secret(&response, &args.output, show_token)
}

async fn revoke(client: &Client, args: RevokeArgs) -> anyhow::Result<ExitCode> {
    if args.self_ {
        client
            .request(Method::POST, "auth/token/revoke-self", None)
            .await?;
        return success("Success! Revoked token (if it existed)");
    }
    check_token_arg(&args.token)?;
    let Some(token) = args.token else {
        return Err(UsageError::new(
            "give the token to revoke (or its accessor with --accessor), or --self",
        )
        .into());
    };
    match (args.accessor, args.mode) {
        (true, _) => {
            client
                .request(
                    Method::POST,
                    "auth/token/revoke-accessor",
                    Some(json!({ "accessor": token })),
                )
                .await?;
        }
        (false, Some(RevokeMode::Orphan)) => {
            client
                .request(
                    Method::POST,
                    "auth/token/revoke-orphan",
                    Some(json!({ "token": token })),
                )
                .await?;
        }
        (false, Some(RevokeMode::Path)) => {
            let prefix = token.trim_matches('/');
            client
                .request(
                    Method::PUT,
                    &format!("sys/leases/revoke-prefix/{prefix}"),
                    None,
                )
                .await?;
        }
        (false, None) => {
            client
                .request(
                    Method::POST,
                    "auth/token/revoke",
                    Some(json!({ "token": token })),
                )
                .await?;
        }
    }
    success("Success! Revoked token (if it existed)")
}

async fn capabilities(client: &Client, args: CapabilitiesArgs) -> anyhow::Result<ExitCode> {
    let (token, path) = match args.args.as_slice() {
        [path] => (None, path.as_str()),
        [token, path] => {
            check_token_arg(&Some(token.clone()))?;
            (Some(token.as_str()), path.as_str())
        }
        _ => {
            return Err(UsageError::new("give PATH, or TOKEN and PATH").into());
        }
    };
    let path = path.trim_start_matches('/');
    let (endpoint, body) = match (token, args.accessor) {
        (None, true) => {
            return Err(UsageError::new(
                "--accessor needs the accessor before the path: ACCESSOR PATH",
            )
            .into())
        }
        (None, false) => ("sys/capabilities-self", json!({ "paths": [path] })),
        (Some(accessor), true) => (
            "sys/capabilities-accessor",
            json!({ "accessor": accessor, "paths": [path] }),
        ),
        (Some(token), false) => (
            "sys/capabilities",
            json!({ "token": token, "paths": [path] }),
        ),
    };
    let response = client
        .request(Method::POST, endpoint, Some(body))
        .await?
        .unwrap_or(Value::Null);
    let capabilities = capabilities_of(&response, path);
    match args.format.format {
        Format::Table => super::say(capabilities.join(", "))?,
        structured => {
            output::write_structured(&mut io::stdout().lock(), &json!(capabilities), structured)
                .map_err(stdout_error)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The sorted capabilities on `path` from a `sys/capabilities*` answer, which lists them per
/// path and, for a single path, also as `capabilities`.
fn capabilities_of(response: &Value, path: &str) -> Vec<String> {
    let data = response.get("data").unwrap_or(response);
    let list = data
        .get(path)
        .or_else(|| data.get("capabilities"))
        .and_then(Value::as_array);
    let mut caps: Vec<String> = list
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    caps.sort();
    caps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn create_args(line: &[&str]) -> CreateArgs {
        let mut argv = vec!["hush", "token", "create"];
        argv.extend_from_slice(line);
        match Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Token {
                command: TokenCommand::Create(args),
            } => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn create_body_has_vault_field_names() {
        let args = create_args(&[
            "--policy=a,b",
            "--policy",
            "c",
            "--ttl",
            "1h",
            "--period=30m",
            "--use-limit",
            "3",
            "--renewable=false",
            "--metadata",
            "team=x",
            "--type",
            "batch",
            "--no-default-policy",
        ]);
        let body = Value::Object(create_body(&args).unwrap());
        assert_eq!(
            body,
            json!({"policies": ["a", "b", "c"], "ttl": "3600s", "period": "1800s",
                   "num_uses": 3, "renewable": false, "meta": {"team": "x"}, "type": "batch",
                   "no_default_policy": true})
        );
        let args = create_args(&["--renewable"]);
        assert_eq!(create_body(&args).unwrap()["renewable"], json!(true));
    }

    #[test]
    fn renewable_takes_no_separate_value() {
        // `--renewable false` would be ambiguous with a positional; only `=false` sets it.
        let err = Cli::try_parse_from(["hush", "token", "create", "--renewable", "false"]);
        assert!(err.is_err());
    }

    #[test]
    fn capabilities_from_either_shape() {
        let response = json!({"data": {"secret/x": ["update", "read"], "capabilities": ["x"]}});
        assert_eq!(capabilities_of(&response, "secret/x"), ["read", "update"]);
        let response = json!({"data": {"capabilities": ["deny"]}});
        assert_eq!(capabilities_of(&response, "secret/y"), ["deny"]);
    }
}
