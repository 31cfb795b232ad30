//! `hush secrets enable|disable|list|tune|move`: secrets engine mounts under `sys/mounts`.

use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, Subcommand};
use hush_client::{Client, Method};
use serde_json::{json, Map, Value};

use super::{mount_display, parse_pairs, say, stdout_error, success, trim_path, FormatArgs};
use crate::cli::Format;
use crate::duration::{self, Seconds};
use crate::output;

/// How long `secrets move` waits for the server to finish a move before giving up watching.
const MOVE_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between two looks at a move's progress.
const MOVE_POLL: Duration = Duration::from_millis(200);

/// The subcommands of `hush secrets`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Mount a secrets engine: TYPE (kv, kv-v2, ...)
    Enable(EnableArgs),
    /// Unmount a secrets engine, deleting all its data
    Disable(PathArgs),
    /// List the mounted secrets engines
    List(ListArgs),
    /// Change a mount's settings
    Tune(TuneArgs),
    /// Move a mount to another path, with its data: SRC DST
    Move(MoveArgs),
}

/// Options of `hush secrets enable`.
#[derive(Debug, Args)]
pub struct EnableArgs {
    /// Engine type; kv-v2 means kv with --version 2
    #[arg(value_name = "TYPE")]
    pub engine: String,

    /// Where to mount it [default: the type name]
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// Human-friendly description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Engine version (2 for KV v2)
    #[arg(long, value_name = "N")]
    pub version: Option<u32>,

    /// Default lease TTL of secrets from this mount
    #[arg(long, value_name = "DURATION")]
    pub default_lease_ttl: Option<Seconds>,

    /// Maximum lease TTL of secrets from this mount
    #[arg(long, value_name = "DURATION")]
    pub max_lease_ttl: Option<Seconds>,

    /// Engine option key=value; repeatable
    #[arg(long = "options", value_name = "K=V")]
    pub options: Vec<String>,

    /// Do not replicate the mount to other clusters
    #[arg(long)]
    pub local: bool,
}

/// A mount path.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// Mount path, e.g. secret/
    pub path: String,
}

/// Options of `hush secrets list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show TTLs, options, UUIDs and more
    #[arg(long)]
    pub detailed: bool,

    #[command(flatten)]
    pub format: FormatArgs,
}

/// Options of `hush secrets tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Mount path, e.g. secret/
    pub path: String,

    /// Default lease TTL of secrets from this mount
    #[arg(long, value_name = "DURATION")]
    pub default_lease_ttl: Option<Seconds>,

    /// Maximum lease TTL of secrets from this mount
    #[arg(long, value_name = "DURATION")]
    pub max_lease_ttl: Option<Seconds>,

    /// Human-friendly description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Engine option key=value (e.g. version=2 upgrades KV v1 to v2); repeatable
    #[arg(long = "options", value_name = "K=V")]
    pub options: Vec<String>,
}

/// Options of `hush secrets move`.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// Current mount path
    pub source: String,
    /// New mount path
    pub destination: String,
}

/// Runs a `hush secrets` subcommand.
pub async fn run(client: Client, command: SecretsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretsCommand::Enable(args) => enable(&client, args).await,
        SecretsCommand::Disable(args) => {
            let path = trim_path(&args.path);
            client.delete(&format!("sys/mounts/{path}")).await?;
            success(format_args!(
                "Success! Disabled the secrets engine (if it existed) at: {}",
                mount_display(path)
            ))
        }
        SecretsCommand::List(args) => list(&client, args).await,
        SecretsCommand::Tune(args) => tune(&client, args).await,
        SecretsCommand::Move(args) => move_mount(&client, args).await,
    }
}

/// The body of `POST sys/mounts/<path>`, and the path, for `secrets enable`.
fn enable_request(args: &EnableArgs) -> anyhow::Result<(String, Value)> {
    let mut engine = args.engine.trim().to_owned();
    let mut options = parse_pairs(&args.options, "option")?;
    // The mount path comes from the type as typed (`secrets enable kv-v2` mounts at kv-v2/),
    // before kv-v2 is turned into what the API knows.
    let path = trim_path(args.path.as_deref().unwrap_or(&engine)).to_owned();
    if engine == "kv-v2" {
        engine = "kv".to_owned();
        options.insert("version".into(), json!("2"));
    }
    if let Some(version) = args.version {
        options.insert("version".into(), json!(version.to_string()));
    }
    if path.is_empty() {
        bail!(super::UsageError::new(
            "the mount path is empty; give one with --path"
        ));
    }
    let mut config = Map::new();
    if let Some(ttl) = args.default_lease_ttl {
        config.insert("default_lease_ttl".into(), json!(ttl.wire()));
    }
    if let Some(ttl) = args.max_lease_ttl {
        config.insert("max_lease_ttl".into(), json!(ttl.wire()));
    }
    let mut body = json!({ "type": engine, "config": config });
    if let Some(description) = &args.description {
        body["description"] = json!(description);
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    if args.local {
        body["local"] = json!(true);
    }
    Ok((path, body))
}

async fn enable(client: &Client, args: EnableArgs) -> anyhow::Result<ExitCode> {
    let (path, body) = enable_request(&args)?;
    // Named as the user typed it: `kv-v2` is sent as type `kv` with version 2.
    let engine = args.engine.clone();
    client
        .request(Method::POST, &format!("sys/mounts/{path}"), Some(body))
        .await?;
    success(format_args!(
        "Success! Enabled the {engine} secrets engine at: {}",
        mount_display(&path)
    ))
}

/// The mounts of a `sys/mounts` (or `sys/auth`, `sys/audit`) answer, sorted by path.
pub fn mounts_of(response: &Value) -> Vec<(String, Value)> {
    let data = response
        .get("data")
        .filter(|d| d.is_object())
        .unwrap_or(response);
    let mut mounts: Vec<(String, Value)> = data
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(_, v)| v.get("type").is_some())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    mounts.sort_by(|a, b| a.0.cmp(&b.0));
    mounts
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .map(output::go_value)
        .unwrap_or_default()
}

/// A mount TTL cell: `system` for "use the system default" (0).
fn ttl_cell(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer).and_then(Value::as_u64) {
        Some(0) | None => "system".to_owned(),
        Some(secs) => duration::human(secs),
    }
}

fn list_rows(mounts: &[(String, Value)], detailed: bool) -> Vec<Vec<String>> {
    mounts
        .iter()
        .map(|(path, m)| {
            if !detailed {
                return vec![
                    path.clone(),
                    text(m, "/type"),
                    text(m, "/accessor"),
                    text(m, "/description"),
                ];
            }
            let options = match m.get("options") {
                Some(Value::Object(o)) if !o.is_empty() => {
                    output::go_value(&Value::Object(o.clone()))
                }
                _ => "n/a".to_owned(),
            };
            let local = m.get("local").and_then(Value::as_bool).unwrap_or(false);
            vec![
                path.clone(),
                text(m, "/type"),
                text(m, "/accessor"),
                ttl_cell(m, "/config/default_lease_ttl"),
                ttl_cell(m, "/config/max_lease_ttl"),
                text(m, "/config/force_no_cache"),
                if local { "local" } else { "replicated" }.to_owned(),
                text(m, "/seal_wrap"),
                options,
                text(m, "/description"),
                text(m, "/uuid"),
            ]
        })
        .collect()
}

async fn list(client: &Client, args: ListArgs) -> anyhow::Result<ExitCode> {
    let response = client
        .request(Method::GET, "sys/mounts", None)
        .await?
        .unwrap_or(Value::Null);
    let mounts = mounts_of(&response);
    let mut out = io::stdout().lock();
    match args.format.format {
        Format::Table => {
            let headers: &[&str] = if args.detailed {
                &[
                    "Path",
                    "Plugin",
                    "Accessor",
                    "Default TTL",
                    "Max TTL",
                    "Force No Cache",
                    "Replication",
                    "Seal Wrap",
                    "Options",
                    "Description",
                    "UUID",
                ]
            } else {
                &["Path", "Type", "Accessor", "Description"]
            };
            output::write_columns(&mut out, headers, &list_rows(&mounts, args.detailed))
                .map_err(stdout_error)?;
        }
        structured => {
            let map: Map<String, Value> = mounts.into_iter().collect();
            output::write_structured(&mut out, &Value::Object(map), structured)
                .map_err(stdout_error)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn tune(client: &Client, args: TuneArgs) -> anyhow::Result<ExitCode> {
    let path = trim_path(&args.path);
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
    let options = parse_pairs(&args.options, "option")?;
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    client
        .request(
            Method::POST,
            &format!("sys/mounts/{path}/tune"),
            Some(Value::Object(body)),
        )
        .await?;
    success(format_args!(
        "Success! Tuned the secrets engine at: {}",
        mount_display(path)
    ))
}

async fn move_mount(client: &Client, args: MoveArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = (trim_path(&args.source), trim_path(&args.destination));
    let response = client
        .request(
            Method::POST,
            "sys/remount",
            Some(json!({ "from": from, "to": to })),
        )
        .await?;
    let (src, dst) = (mount_display(from), mount_display(to));
    let migration = response
        .as_ref()
        .and_then(|r| r.pointer("/data/migration_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Servers that move synchronously answer without a migration to watch.
    let Some(id) = migration else {
        return success(format_args!("Success! Moved secrets engine {src} to {dst}"));
    };
    say(format_args!(
        "Started moving secrets engine {src} to {dst}, with migration ID {id}"
    ))?;
    let started = Instant::now();
    loop {
        let status = client
            .request(Method::GET, &format!("sys/remount/status/{id}"), None)
            .await?;
        let state = status
            .as_ref()
            .and_then(|s| s.pointer("/data/migration_info/status"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match state.as_str() {
            "success" => {
                return success(format_args!(
                    "Success! Finished moving secrets engine {src} to {dst}, with migration ID {id}"
                ))
            }
            "failure" => bail!(
                "moving the secrets engine {src} to {dst} failed (migration ID {id}); see the \
                 server log for the reason"
            ),
            _ => {}
        }
        if started.elapsed() > MOVE_TIMEOUT {
            bail!(
                "moving {src} to {dst} has not finished after {}s (migration ID {id}); check \
                 later with `hush read sys/remount/status/{id}`",
                MOVE_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(MOVE_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(engine: &str) -> EnableArgs {
        EnableArgs {
            engine: engine.into(),
            path: None,
            description: None,
            version: None,
            default_lease_ttl: None,
            max_lease_ttl: None,
            options: vec![],
            local: false,
        }
    }

    #[test]
    fn kv_v2_is_kv_version_2_mounted_at_kv_v2() {
        let (path, body) = enable_request(&args("kv-v2")).unwrap();
        assert_eq!(path, "kv-v2");
        assert_eq!(body["type"], "kv");
        assert_eq!(body["options"]["version"], "2");
    }

    #[test]
    fn enable_body_carries_config_and_version() {
        let mut a = args("kv");
        a.path = Some("/team/kv/".into());
        a.version = Some(2);
        a.default_lease_ttl = Some(Seconds(60));
        a.description = Some("d".into());
        let (path, body) = enable_request(&a).unwrap();
        assert_eq!(path, "team/kv");
        assert_eq!(
            body,
            json!({"type": "kv", "config": {"default_lease_ttl": "60s"}, "description": "d",
                   "options": {"version": "2"}})
        );
    }

    #[test]
    fn mounts_are_read_from_data_and_sorted() {
        let response = json!({
            "data": {"sys/": {"type": "system"}, "kv/": {"type": "kv", "options": {"version": "2"},
                     "config": {"default_lease_ttl": 3600}}},
            "request_id": "x"
        });
        let mounts = mounts_of(&response);
        let paths: Vec<&str> = mounts.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["kv/", "sys/"]);
        let rows = list_rows(&mounts, true);
        assert_eq!(rows[0][3], "1h");
        assert_eq!(rows[0][4], "system");
        assert_eq!(rows[0][8], "map[version:2]");
    }
}
