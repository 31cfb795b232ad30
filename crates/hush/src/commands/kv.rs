//! `hush kv ...`: the key/value secrets engine, both versions, as the vault CLI drives it.
//!
//! A path is `MOUNT/PATH` (`secret/app/db`), or `PATH` with `--mount`. Which mount a path is in,
//! and whether it is KV version 1 or 2, comes from `GET sys/internal/ui/mounts/<path>`; when
//! that is refused (403) or unknown (404), the path is treated as KV v1 below its first segment,
//! like the vault CLI does. Version 2 puts `data/`, `metadata/`, `delete/`, `undelete/` and
//! `destroy/` between the mount and the secret's path.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use hush_client::{Client, ClientError};
use serde_json::{json, Map, Value};

use super::{
    is_not_found, keys_of, no_value, parse_data, parse_pairs, print_field, print_keys,
    print_secret, stdout_error, success, warn, FormatArgs, OutputArgs, UsageError, EXIT_USAGE,
};
use crate::cli::Format;
use crate::duration::Seconds;
use crate::output;

/// The subcommands of `hush kv`.
#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Write a secret (a new version on KV v2): PATH K=V...
    Put(PutArgs),
    /// Read a secret (the latest version, or --version N)
    Get(GetArgs),
    /// Change some keys of a secret, keeping the others (KV v2): PATH K=V...
    Patch(PatchArgs),
    /// List the keys under a path
    List(ListArgs),
    /// Delete a secret (KV v2: soft-delete the latest version, or --versions)
    Delete(DeleteArgs),
    /// Restore soft-deleted versions (KV v2)
    Undelete(VersionsArgs),
    /// Permanently destroy versions' data (KV v2)
    Destroy(VersionsArgs),
    /// Make an old version the current one, as a new version (KV v2)
    Rollback(RollbackArgs),
    /// A secret's metadata and version settings (KV v2)
    Metadata {
        /// The metadata command.
        #[command(subcommand)]
        command: MetadataCommand,
    },
}

/// The subcommands of `hush kv metadata`.
#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Show a secret's metadata and versions
    Get(MetadataGetArgs),
    /// Set a secret's metadata (only the options given are changed)
    Put(MetadataPutArgs),
    /// Change some of a secret's metadata with a merge patch
    Patch(MetadataPutArgs),
    /// Delete a secret with all its versions and metadata
    Delete(Target),
}

/// Which secret: a path, and optionally its mount.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Mount of the KV engine; PATH is then relative to it [default: found from PATH]
    #[arg(long, value_name = "MOUNT")]
    pub mount: Option<String>,

    /// The secret: MOUNT/PATH (e.g. secret/app/db), or PATH with --mount
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// Options of `hush kv put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub target: Target,

    /// Data: key=value, key=@file, key=- (standard input), or - / @file.json for a JSON object
    #[arg(value_name = "K=V", required = true)]
    pub data: Vec<String>,

    /// Write only if the secret's current version is N (0: only if it does not exist)
    #[arg(long, value_name = "N")]
    pub cas: Option<u64>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `hush kv get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub target: Target,

    /// Read this version instead of the latest (KV v2)
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How `kv patch` changes a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatchMethod {
    /// An HTTP PATCH (JSON merge patch); needs the patch capability
    Patch,
    /// Read the secret, change it locally, write it back (check-and-set on the version read)
    Rw,
}

/// Options of `hush kv patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    #[command(flatten)]
    pub target: Target,

    /// Data to change: key=value, key=@file, key=-
    #[arg(value_name = "K=V")]
    pub data: Vec<String>,

    /// Remove this key from the secret; repeatable
    #[arg(long, value_name = "KEY")]
    pub remove_data: Vec<String>,

    /// Patch only if the secret's current version is N
    #[arg(long, value_name = "N")]
    pub cas: Option<u64>,

    /// How to patch [default: patch, falling back to rw when PATCH is denied]
    #[arg(long, value_enum)]
    pub method: Option<PatchMethod>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `hush kv list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub target: Target,

    #[command(flatten)]
    pub format: FormatArgs,
}

/// Options of `hush kv delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub target: Target,

    /// Soft-delete these versions instead of the latest (KV v2): 1,2 or repeated
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    pub versions: Vec<u64>,
}

/// Options of `hush kv undelete` and `hush kv destroy`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    #[command(flatten)]
    pub target: Target,

    /// The versions: 1,2 or repeated
    #[arg(long, value_name = "N,...", value_delimiter = ',', required = true)]
    pub versions: Vec<u64>,
}

/// Options of `hush kv rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: Target,

    /// The version whose data becomes current again
    #[arg(long, value_name = "N", required = true)]
    pub version: u64,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `hush kv metadata get`.
#[derive(Debug, Args)]
pub struct MetadataGetArgs {
    #[command(flatten)]
    pub target: Target,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `hush kv metadata put` and `patch`.
#[derive(Debug, Args)]
pub struct MetadataPutArgs {
    #[command(flatten)]
    pub target: Target,

    /// Number of versions to keep (0: the mount's setting)
    #[arg(long, value_name = "N")]
    pub max_versions: Option<u64>,

    /// Require --cas on every write of this secret (--cas-required=false to lift)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub cas_required: Option<bool>,

    /// Soft-delete each version this long after it is written (0s: never)
    #[arg(long, value_name = "DURATION")]
    pub delete_version_after: Option<Seconds>,

    /// Custom metadata key=value; repeatable (replaces all custom metadata on put)
    #[arg(long, value_name = "K=V")]
    pub custom_metadata: Vec<String>,
}

/// A secret's location once its mount and KV version are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvPath {
    /// Mount path, without slashes at either end.
    pub mount: String,
    /// Path of the secret inside the mount, without slashes at either end (may be empty).
    pub rel: String,
    /// Whether the mount is KV version 2.
    pub v2: bool,
}

impl KvPath {
    /// The API path of this secret under a KV v2 section (`data`, `metadata`, ...).
    pub fn v2_path(&self, section: &str) -> String {
        join(&[&self.mount, section, &self.rel])
    }

    /// The API path of this secret on KV v1: the mount and the path.
    pub fn v1_path(&self) -> String {
        join(&[&self.mount, &self.rel])
    }

    fn require_v2(&self, what: &str) -> Result<(), UsageError> {
        if self.v2 {
            return Ok(());
        }
        Err(UsageError::new(format!(
            "{what} needs KV version 2, but {}/ is KV version 1. Upgrade the mount with \
             `hush secrets tune --options version=2 {}`",
            self.mount, self.mount
        )))
    }

    fn require_secret(&self) -> Result<(), UsageError> {
        if self.rel.is_empty() {
            return Err(UsageError::new(format!(
                "no secret named: give the path of a secret inside {}/, e.g. {}/app/config",
                self.mount, self.mount
            )));
        }
        Ok(())
    }
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Finds the mount and KV version of a target.
pub async fn resolve(client: &Client, target: &Target) -> anyhow::Result<KvPath> {
    let path = target.path.trim_matches('/');
    let (probe, mount_flag) = match &target.mount {
        Some(mount) => {
            let mount = mount.trim_matches('/');
            if mount.is_empty() {
                bail!(UsageError::new(
                    "--mount is empty; give the KV mount, e.g. --mount secret"
                ));
            }
            (mount.to_owned(), Some(mount.to_owned()))
        }
        None => {
            if path.is_empty() {
                bail!(UsageError::new(
                    "the path is empty; give MOUNT/PATH, e.g. secret/app"
                ));
            }
            (path.to_owned(), None)
        }
    };
    let mount_info = match client
        .read_unwrapped(&format!("sys/internal/ui/mounts/{probe}"))
        .await
    {
        Ok(answer) => answer,
        // No access to the mount table, or no such mount: assume KV v1 as the vault CLI does;
        // the request itself will then say what is wrong.
        Err(ClientError::Api {
            status: 403 | 404, ..
        }) => None,
        // The lookup is the command's own: name the path the user gave, not the lookup's.
        Err(err @ ClientError::Api { .. }) => bail!(
            "could not look up the KV mount of {path}: {} (HTTP {})",
            err.server_message().unwrap_or_default(),
            err.status().unwrap_or_default()
        ),
        Err(err) => return Err(err.into()),
    };
    let data = mount_info.as_ref().and_then(|m| m.get("data"));
    let v2 = data
        .and_then(|d| d.pointer("/options/version"))
        .and_then(Value::as_str)
        == Some("2");
    let mount = match (
        mount_flag,
        data.and_then(|d| d.get("path")).and_then(Value::as_str),
    ) {
        (Some(flag), _) => flag,
        (None, Some(found)) if !found.trim_matches('/').is_empty() => {
            found.trim_matches('/').to_owned()
        }
        (None, _) => path.split('/').next().unwrap_or(path).to_owned(),
    };
    let rel = if target.mount.is_some() {
        path.to_owned()
    } else {
        path.strip_prefix(mount.as_str())
            .unwrap_or(path)
            .trim_matches('/')
            .to_owned()
    };
    Ok(KvPath { mount, rel, v2 })
}

/// Runs a `hush kv` subcommand.
pub async fn run(client: Client, command: KvCommand) -> anyhow::Result<ExitCode> {
    match command {
        KvCommand::Put(args) => put(&client, args).await,
        KvCommand::Get(args) => get(&client, args).await,
        KvCommand::Patch(args) => patch(&client, args).await,
        KvCommand::List(args) => list(&client, args).await,
        KvCommand::Delete(args) => delete(&client, args).await,
        KvCommand::Undelete(args) => versions_op(&client, args, "undelete").await,
        KvCommand::Destroy(args) => versions_op(&client, args, "destroy").await,
        KvCommand::Rollback(args) => rollback(&client, args).await,
        KvCommand::Metadata { command } => metadata(&client, command).await,
    }
}

/// Prints a KV v2 answer: the path, the version metadata and (for reads) the data.
///
/// `metadata` and `data` are the answer's parts; `data` is `None` after a write and `Null` for
/// a deleted or destroyed version.
fn write_v2_table(
    out: &mut dyn Write,
    path: &str,
    metadata: Option<&Value>,
    data: Option<&Value>,
) -> io::Result<()> {
    output::write_path_section(out, "Secret Path", path)?;
    if let Some(Value::Object(metadata)) = metadata {
        let rows = output::map_rows(metadata);
        writeln!(out, "{}", output::table_header("Metadata", &rows))?;
        output::write_table(out, &rows)?;
    }
    if let Some(Value::Object(data)) = data {
        let rows = output::map_rows(data);
        writeln!(out)?;
        writeln!(out, "{}", output::table_header("Data", &rows))?;
        output::write_table(out, &rows)?;
    }
    Ok(())
}

/// Prints the answer to a KV v2 write (`put`, `patch`, `rollback`).
/// The server's check-and-set refusals speak of the API's `{"options": {"cas": N}}`; on the
/// command line that is `-cas=N`.
fn cas_in_cli_terms(err: ClientError) -> anyhow::Error {
    match (&err, err.server_message()) {
        (ClientError::Api { status, path, .. }, Some(message))
            if message.contains("check-and-set parameter") =>
        {
            anyhow::anyhow!(
                "{} (HTTP {status}) on {path}. With hush kv put, pass -cas=N (N: the secret's \
                 current version, 0 if it does not exist yet; hush kv metadata get shows it)",
                message.replace("send {\"options\": {\"cas\": N}}", "pass -cas=N")
            )
        }
        _ => err.into(),
    }
}

/// Whether `response` is a wrapped answer (`-wrap-ttl`): it holds only the wrapping token.
fn is_wrapped(response: &Value) -> bool {
    response.get("wrap_info").is_some_and(Value::is_object)
}

fn print_v2_write(
    path: &str,
    response: &Value,
    output_args: &OutputArgs,
) -> anyhow::Result<ExitCode> {
    if output_args.field.is_some() || output_args.format != Format::Table || is_wrapped(response) {
        return print_secret(response, output_args, true);
    }
    write_v2_table(&mut io::stdout().lock(), path, response.get("data"), None)
        .map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

async fn put(client: &Client, args: PutArgs) -> anyhow::Result<ExitCode> {
    let kv = resolve(client, &args.target).await?;
    kv.require_secret()?;
    let data = parse_data(&args.data)?;
    if data.is_empty() {
        bail!(UsageError::new(
            "no data to write: give key=value pairs (or - for a JSON object on standard input)"
        ));
    }
    if !kv.v2 {
        if args.cas.is_some() {
            kv.require_v2("--cas")?;
        }
        let path = kv.v1_path();
        let response = client.write(&path, Value::Object(data)).await?;
        return match response {
            Some(response) if response.get("data").is_some_and(|d| !d.is_null()) => {
                print_secret(&response, &args.output, true)
            }
            _ => success(format_args!("Success! Data written to: {path}")),
        };
    }
    let path = kv.v2_path("data");
    let mut body = json!({ "data": data });
    if let Some(cas) = args.cas {
        body["options"] = json!({ "cas": cas });
    }
    let response = client
        .write(&path, body)
        .await
        .map_err(cas_in_cli_terms)?
        .unwrap_or(Value::Null);
    print_v2_write(&path, &response, &args.output)
}

async fn get(client: &Client, args: GetArgs) -> anyhow::Result<ExitCode> {
    let kv = resolve(client, &args.target).await?;
    kv.require_secret()?;
    if !kv.v2 {
        if args.version.is_some() {
            kv.require_v2("--version")?;
        }
        let path = kv.v1_path();
        let Some(response) = client.read(&path).await? else {
            return no_value(&path);
        };
        return print_secret(&response, &args.output, true);
    }
    let path = kv.v2_path("data");
    let query = match args.version {
        Some(version) => format!("{path}?version={version}"),
        None => path.clone(),
    };
    let Some(response) = client.read(&query).await? else {
        return no_value(&path);
    };
    if is_wrapped(&response) {
        return print_secret(&response, &args.output, true);
    }
    let secret_data = response.pointer("/data/data").filter(|d| !d.is_null());
    if let Some(field) = &args.output.field {
        let Some(secret_data) = secret_data else {
            warn(format_args!("No data found at {path}"));
            return Ok(ExitCode::from(EXIT_USAGE));
        };
        return print_field(secret_data.get(field).cloned(), field, args.output.format);
    }
    if args.output.format != Format::Table {
        return print_secret(&response, &args.output, true);
    }
    write_v2_table(
        &mut io::stdout().lock(),
        &path,
        response.pointer("/data/metadata"),
        secret_data,
    )
    .map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

async fn patch(client: &Client, args: PatchArgs) -> anyhow::Result<ExitCode> {
    let kv = resolve(client, &args.target).await?;
    kv.require_secret()?;
    kv.require_v2("kv patch")?;
    let data = parse_data(&args.data)?;
    if data.is_empty() && args.remove_data.is_empty() {
        bail!(UsageError::new(
            "nothing to patch: give key=value pairs to set, or --remove-data KEY"
        ));
    }
    let path = kv.v2_path("data");
    let mut merge = data.clone();
    for key in &args.remove_data {
        // In a merge patch, null removes the key.
        merge.insert(key.clone(), Value::Null);
    }
    let mut body = json!({ "data": merge });
    if let Some(cas) = args.cas {
        body["options"] = json!({ "cas": cas });
    }
    let response = match args.method {
        Some(PatchMethod::Rw) => {
            return read_then_write(client, &path, data, &args).await;
        }
        method => match client.patch(&path, body).await {
            Ok(response) => response.unwrap_or(Value::Null),
            Err(err) if is_not_found(&err) => return no_value(&path),
            // Without the patch capability a token may still read and update: do that, as the
            // vault CLI does, unless PATCH was asked for explicitly.
            Err(ClientError::Api { status: 403, .. }) if method.is_none() => {
                return read_then_write(client, &path, data, &args).await;
            }
            Err(ClientError::Api { status: 405, .. }) => bail!(
                "the server does not support PATCH on {path}; use --method rw to read, change \
                 and write the secret instead"
            ),
            Err(err) => return Err(err.into()),
        },
    };
    print_v2_write(&path, &response, &args.output)
}

/// `kv patch --method rw`: reads the latest version, changes it, and writes it back only if
/// nobody wrote in between (check-and-set on the version read, unless `--cas` says otherwise).
async fn read_then_write(
    client: &Client,
    path: &str,
    changes: Map<String, Value>,
    args: &PatchArgs,
) -> anyhow::Result<ExitCode> {
    let Some(current) = client.read_unwrapped(path).await? else {
        return no_value(path);
    };
    let Some(Value::Object(mut data)) = current.pointer("/data/data").cloned() else {
        return no_value(path);
    };
    let version = current
        .pointer("/data/metadata/version")
        .and_then(Value::as_u64);
    data.extend(changes);
    for key in &args.remove_data {
        data.remove(key);
    }
    let mut body = json!({ "data": data });
    if let Some(cas) = args.cas.or(version) {
        body["options"] = json!({ "cas": cas });
    }
    let response = client.write(path, body).await?.unwrap_or(Value::Null);
    print_v2_write(path, &response, &args.output)
}

async fn list(client: &Client, args: ListArgs) -> anyhow::Result<ExitCode> {
    let kv = resolve(client, &args.target).await?;
    let path = if kv.v2 {
        kv.v2_path("metadata")
    } else {
        kv.v1_path()
    };
    let path = format!("{path}/");
    match client.list(&path).await? {
        Some(response) => print_keys(&keys_of(&response), args.format.format),
        None => no_value(&path),
    }
}

async fn delete(client: &Client, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let kv = resolve(client, &args.target).await?;
    kv.require_secret()?;
    if !kv.v2 {
        if !args.versions.is_empty() {
            kv.require_v2("--versions")?;
        }
        let path = kv.v1_path();
        client.delete(&path).await?;
        return success(format_args!(
            "Success! Data deleted (if it existed) at: {path}"
        ));
    }
    if args.versions.is_empty() {
        let path = kv.v2_path("data");
        client.delete(&path).await?;
        return success(format_args!(
            "Success! Data deleted (if it existed) at: {path}"
        ));
    }
    let path = kv.v2_path("delete");
    client
        .write(&path, json!({ "versions": args.versions }))
        .await?;
    success(format_args!(
        "Success! Data deleted (if it existed) at: {path}"
    ))
}

async fn versions_op(
    client: &Client,
    args: VersionsArgs,
    section: &str,
) -> anyhow::Result<ExitCode> {
    let kv = resolve(client, &args.target).await?;
    kv.require_secret()?;
    kv.require_v2(&format!("kv {section}"))?;
    let path = kv.v2_path(section);
    client
        .write(&path, json!({ "versions": args.versions }))
        .await?;
    success(format_args!("Success! Data written to: {path}"))
}

async fn rollback(client: &Client, args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let kv = resolve(client, &args.target).await?;
    kv.require_secret()?;
    kv.require_v2("kv rollback")?;
    let metadata_path = kv.v2_path("metadata");
    let Some(metadata) = client.read_unwrapped(&metadata_path).await? else {
        return no_value(&metadata_path);
    };
    let current = metadata
        .pointer("/data/current_version")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let target = args.version;
    if metadata
        .pointer(&format!("/data/versions/{target}"))
        .is_none()
    {
        bail!(UsageError::new(format!(
            "version {target} of {} does not exist (or is no longer kept); see \
             `hush kv metadata get {}/{}`",
            kv.v2_path("data"),
            kv.mount,
            kv.rel
        )));
    }
    if target == current {
        warn(format_args!(
            "Version {target} is already the current version of {}; nothing to do.",
            kv.v2_path("data")
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let data_path = kv.v2_path("data");
    let old = client
        .read(&format!("{data_path}?version={target}"))
        .await?;
    let Some(Value::Object(data)) = old.and_then(|o| o.pointer("/data/data").cloned()) else {
        bail!(
            "version {target} of {data_path} has been deleted or destroyed; undelete it first \
             (`hush kv undelete --versions {target} ...`) if it was only deleted"
        );
    };
    let body = json!({ "data": data, "options": { "cas": current } });
    let response = client.write(&data_path, body).await?.unwrap_or(Value::Null);
    print_v2_write(&data_path, &response, &args.output)
}

/// The body of `metadata put|patch` from its options.
fn metadata_body(args: &MetadataPutArgs) -> Result<Map<String, Value>, UsageError> {
    let mut body = Map::new();
    if let Some(n) = args.max_versions {
        body.insert("max_versions".into(), json!(n));
    }
    if let Some(required) = args.cas_required {
        body.insert("cas_required".into(), json!(required));
    }
    if let Some(after) = args.delete_version_after {
        body.insert("delete_version_after".into(), json!(after.wire()));
    }
    if !args.custom_metadata.is_empty() {
        body.insert(
            "custom_metadata".into(),
            Value::Object(parse_pairs(&args.custom_metadata, "custom metadata")?),
        );
    }
    Ok(body)
}

async fn metadata(client: &Client, command: MetadataCommand) -> anyhow::Result<ExitCode> {
    match command {
        MetadataCommand::Get(args) => {
            let kv = resolve(client, &args.target).await?;
            kv.require_secret()?;
            kv.require_v2("kv metadata")?;
            let path = kv.v2_path("metadata");
            let Some(response) = client.read(&path).await? else {
                return no_value(&path);
            };
            if args.output.field.is_some() || args.output.format != Format::Table {
                return print_secret(&response, &args.output, true);
            }
            write_metadata_table(&mut io::stdout().lock(), &path, &response)
                .map_err(stdout_error)?;
            Ok(ExitCode::SUCCESS)
        }
        MetadataCommand::Put(args) => metadata_write(client, args, false).await,
        MetadataCommand::Patch(args) => metadata_write(client, args, true).await,
        MetadataCommand::Delete(target) => {
            let kv = resolve(client, &target).await?;
            kv.require_secret()?;
            kv.require_v2("kv metadata")?;
            let path = kv.v2_path("metadata");
            client.delete(&path).await?;
            success(format_args!(
                "Success! Data deleted (if it existed) at: {path}"
            ))
        }
    }
}

async fn metadata_write(
    client: &Client,
    args: MetadataPutArgs,
    as_patch: bool,
) -> anyhow::Result<ExitCode> {
    let kv = resolve(client, &args.target).await?;
    kv.require_secret()?;
    kv.require_v2("kv metadata")?;
    let path = kv.v2_path("metadata");
    let body = Value::Object(metadata_body(&args)?);
    let result = if as_patch {
        client.patch(&path, body).await
    } else {
        client.write(&path, body).await
    };
    match result {
        Ok(_) => success(format_args!("Success! Data written to: {path}")),
        Err(err) if as_patch && is_not_found(&err) => no_value(&path),
        Err(err) => Err(err.into()),
    }
}

/// `kv metadata get` as a table: the secret's settings, then one section per version.
fn write_metadata_table(out: &mut dyn Write, path: &str, response: &Value) -> io::Result<()> {
    output::write_path_section(out, "Metadata Path", path)?;
    let Some(data) = response.get("data").and_then(Value::as_object) else {
        return Ok(());
    };
    let mut settings = data.clone();
    let versions = settings.remove("versions");
    let rows = output::map_rows(&settings);
    writeln!(out, "{}", output::table_header("Metadata", &rows))?;
    output::write_table(out, &rows)?;
    if let Some(Value::Object(versions)) = versions {
        let mut numbered: Vec<(u64, &Value)> = versions
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|n| (n, v)))
            .collect();
        numbered.sort_by_key(|(n, _)| *n);
        for (number, version) in numbered {
            if let Value::Object(fields) = version {
                let rows = output::map_rows(fields);
                writeln!(out)?;
                writeln!(
                    out,
                    "{}",
                    output::table_header(&format!("Version {number}"), &rows)
                )?;
                output::write_table(out, &rows)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_per_version() {
        let kv = KvPath {
            mount: "team/kv".into(),
            rel: "app/db".into(),
            v2: true,
        };
        assert_eq!(kv.v2_path("data"), "team/kv/data/app/db");
        assert_eq!(kv.v2_path("metadata"), "team/kv/metadata/app/db");
        assert_eq!(kv.v1_path(), "team/kv/app/db");
        let root = KvPath {
            rel: String::new(),
            ..kv.clone()
        };
        assert_eq!(root.v2_path("metadata"), "team/kv/metadata");
        assert!(root.require_secret().is_err());
        let v1 = KvPath { v2: false, ..kv };
        let err = v1.require_v2("kv patch").unwrap_err();
        assert!(err.to_string().contains("version=2"), "{err}");
    }

    #[test]
    fn metadata_body_only_has_what_was_given() {
        let args = MetadataPutArgs {
            target: Target {
                mount: None,
                path: "secret/x".into(),
            },
            max_versions: Some(3),
            cas_required: None,
            delete_version_after: Some(Seconds(3600)),
            custom_metadata: vec!["owner=ops".into()],
        };
        assert_eq!(
            Value::Object(metadata_body(&args).unwrap()),
            json!({"max_versions": 3, "delete_version_after": "3600s",
                   "custom_metadata": {"owner": "ops"}})
        );
    }

    #[test]
    fn v2_tables_show_path_metadata_and_data() {
        let mut out = Vec::new();
        write_v2_table(
            &mut out,
            "secret/data/creds",
            Some(&json!({"version": 2, "deletion_time": "", "custom_metadata": null})),
            Some(&json!({"password": "pw"})),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("== Secret Path ==\nsecret/data/creds\n\n"),
            "{text}"
        );
        assert!(text.contains("deletion_time      n/a\n"), "{text}");
        assert!(text.contains("custom_metadata    <nil>\n"), "{text}");
        assert!(
            text.contains(" Data =======\nKey         Value\n"),
            "{text}"
        );
        assert!(text.ends_with("password    pw\n"), "{text}");
    }
}
