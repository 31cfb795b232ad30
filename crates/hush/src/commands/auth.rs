//! `hush auth enable|disable|list|tune`: managing auth method mounts (`sys/auth`).

use std::io;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hush_client::{Client, Method};
use serde_json::{json, Map, Value};

use super::{mount_display, stdout_error, success, trim_path, FormatArgs};
use crate::cli::Format;
use crate::duration::{human, Seconds};
use crate::output;

/// The subcommands of `hush auth`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Enable an auth method (userpass, approle, kubernetes, jwt...) at a path
    Enable(EnableArgs),
    /// Disable the auth method at a path, revoking the tokens it issued
    Disable(DisableArgs),
    /// List the enabled auth methods
    List(ListArgs),
    /// Change the lease TTLs and lockout settings of an auth method
    Tune(TuneArgs),
}

/// Options of `hush auth enable`.
#[derive(Debug, Args)]
pub struct EnableArgs {
    /// The auth method type, e.g. userpass, approle, kubernetes, jwt
    #[arg(value_name = "TYPE")]
    pub method_type: String,

    /// Where to mount it [default: the type's name]
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// A human-readable description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

/// Options of `hush auth disable`.
#[derive(Debug, Args)]
pub struct DisableArgs {
    /// The path the method is mounted at
    pub path: String,
}

/// Options of `hush auth list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show TTLs, options and UUIDs too
    #[arg(long)]
    pub detailed: bool,

    #[command(flatten)]
    pub format: FormatArgs,
}

/// Options of `hush auth tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The path the method is mounted at
    pub path: String,

    /// Default lease TTL of the tokens it issues (e.g. 1h)
    #[arg(long, value_name = "DURATION")]
    pub default_lease_ttl: Option<Seconds>,

    /// Maximum lease TTL of the tokens it issues
    #[arg(long, value_name = "DURATION")]
    pub max_lease_ttl: Option<Seconds>,

    /// Failed logins after which a user is locked out
    #[arg(long, value_name = "N")]
    pub user_lockout_threshold: Option<u64>,

    /// How long a locked-out user stays locked out
    #[arg(long, value_name = "DURATION")]
    pub user_lockout_duration: Option<Seconds>,

    /// Time after which the failed-login counter resets
    #[arg(long, value_name = "DURATION")]
    pub user_lockout_counter_reset_duration: Option<Seconds>,

    /// Turn user lockout off for this method
    #[arg(long)]
    pub user_lockout_disable: bool,

    /// A new description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

/// Runs a `hush auth` command.
pub async fn run(client: Client, command: AuthCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuthCommand::Enable(args) => {
            let path = trim_path(args.path.as_deref().unwrap_or(&args.method_type)).to_owned();
            let mut body = json!({ "type": args.method_type });
            if let Some(description) = args.description {
                body["description"] = json!(description);
            }
            client.write(&format!("sys/auth/{path}"), body).await?;
            success(format_args!(
                "Success! Enabled {} auth method at: {}",
                args.method_type,
                mount_display(&path)
            ))
        }
        AuthCommand::Disable(args) => {
            let path = trim_path(&args.path);
            client.delete(&format!("sys/auth/{path}")).await?;
            success(format_args!(
                "Success! Disabled the auth method (if it existed) at: {}",
                mount_display(path)
            ))
        }
        AuthCommand::List(args) => list(&client, args).await,
        AuthCommand::Tune(args) => {
            let path = trim_path(&args.path).to_owned();
            let body = tune_body(&args);
            client.write(&format!("sys/auth/{path}/tune"), body).await?;
            success(format_args!(
                "Success! Tuned the auth method at: {}",
                mount_display(&path)
            ))
        }
    }
}

/// The body of `sys/auth/<path>/tune` as the vault CLI sends it: TTLs at the top level,
/// lockout settings in `user_lockout_config`, only what was given.
fn tune_body(args: &TuneArgs) -> Value {
    let mut body = Map::new();
    if let Some(ttl) = args.default_lease_ttl {
        body.insert("default_lease_ttl".into(), json!(ttl.wire()));
    }
    if let Some(ttl) = args.max_lease_ttl {
        body.insert("max_lease_ttl".into(), json!(ttl.wire()));
    }
    if let Some(description) = &args.description {
        body.insert("description".into(), json!(description));
    }
    let mut lockout = Map::new();
    if let Some(threshold) = args.user_lockout_threshold {
        lockout.insert("lockout_threshold".into(), json!(threshold.to_string()));
    }
    if let Some(duration) = args.user_lockout_duration {
        lockout.insert("lockout_duration".into(), json!(duration.wire()));
    }
    if let Some(reset) = args.user_lockout_counter_reset_duration {
        lockout.insert("lockout_counter_reset_duration".into(), json!(reset.wire()));
    }
    if args.user_lockout_disable {
        lockout.insert("lockout_disable".into(), json!(true));
    }
    if !lockout.is_empty() {
        body.insert("user_lockout_config".into(), Value::Object(lockout));
    }
    Value::Object(body)
}

/// The mounts of a `sys/auth` answer (Vault puts them at the top level and under `data`).
fn mounts_of(response: &Value) -> Vec<(String, Value)> {
    let source = response
        .get("data")
        .filter(|d| d.is_object())
        .unwrap_or(response);
    let mut mounts: Vec<(String, Value)> = source
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| k.ends_with('/') && v.is_object())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    mounts.sort_by(|a, b| a.0.cmp(&b.0));
    mounts
}

async fn list(client: &Client, args: ListArgs) -> anyhow::Result<ExitCode> {
    let response = client
        .request(Method::GET, "sys/auth", None)
        .await?
        .unwrap_or(Value::Null);
    let mounts = mounts_of(&response);
    let mut out = io::stdout().lock();
    match args.format.format {
        Format::Table => {
            let text = |v: &Value, key: &str| v.get(key).map(output::go_value).unwrap_or_default();
            let ttl = |v: &Value, key: &str| match v.pointer(&format!("/config/{key}")) {
                Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s > 0) => {
                    human(n.as_u64().unwrap_or(0))
                }
                _ => "system".to_owned(),
            };
            let (headers, rows): (&[&str], Vec<Vec<String>>) = if args.detailed {
                (
                    &[
                        "Path",
                        "Plugin",
                        "Accessor",
                        "Default TTL",
                        "Max TTL",
                        "Description",
                        "UUID",
                    ],
                    mounts
                        .iter()
                        .map(|(path, m)| {
                            vec![
                                path.clone(),
                                text(m, "type"),
                                text(m, "accessor"),
                                ttl(m, "default_lease_ttl"),
                                ttl(m, "max_lease_ttl"),
                                text(m, "description"),
                                text(m, "uuid"),
                            ]
                        })
                        .collect(),
                )
            } else {
                (
                    &["Path", "Type", "Accessor", "Description"],
                    mounts
                        .iter()
                        .map(|(path, m)| {
                            vec![
                                path.clone(),
                                text(m, "type"),
                                text(m, "accessor"),
                                text(m, "description"),
                            ]
                        })
                        .collect(),
                )
            };
            output::write_columns(&mut out, headers, &rows).map_err(stdout_error)?;
        }
        structured => {
            let map: Map<String, Value> = mounts.into_iter().collect();
            output::write_structured(&mut out, &Value::Object(map), structured)
                .map_err(stdout_error)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tune_sends_lockout_settings_in_user_lockout_config() {
        let args = TuneArgs {
            path: "userpass".into(),
            default_lease_ttl: Some(Seconds(3600)),
            max_lease_ttl: None,
            user_lockout_threshold: Some(3),
            user_lockout_duration: Some(Seconds(600)),
            user_lockout_counter_reset_duration: None,
            user_lockout_disable: false,
            description: None,
        };
        assert_eq!(
            tune_body(&args),
            json!({
                "default_lease_ttl": "3600s",
                "user_lockout_config": {"lockout_threshold": "3", "lockout_duration": "600s"}
            })
        );
    }

    #[test]
    fn mounts_are_read_from_data_and_sorted() {
        let response = json!({"data": {"userpass/": {"type": "userpass"}, "token/": {"type": "token"}},
                              "request_id": "x"});
        let names: Vec<String> = mounts_of(&response).into_iter().map(|m| m.0).collect();
        assert_eq!(names, ["token/", "userpass/"]);
    }
}
