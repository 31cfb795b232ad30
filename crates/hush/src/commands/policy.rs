//! `hush policy write|read|list|delete|fmt`: ACL policies under `sys/policies/acl/`.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hush_client::Client;
use serde_json::{json, Value};

use super::{
    is_not_found, keys_of, print_keys, stdout_error, success, warn, FormatArgs, UsageError,
    EXIT_USAGE,
};
use crate::cli::Format;
use crate::output;

/// The subcommands of `hush policy`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Upload a policy: NAME FILE (or - for standard input)
    Write(WriteArgs),
    /// Print a policy's text
    Read(ReadArgs),
    /// List the policy names
    List(FormatArgs),
    /// Delete a policy
    Delete(NameArgs),
    /// Rewrite a policy file in canonical HCL formatting (offline)
    Fmt(FmtArgs),
}

/// Options of `hush policy write`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Name of the policy
    pub name: String,
    /// File with the policy in HCL or JSON, or - to read it from standard input
    pub file: String,
}

/// Options of `hush policy read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Name of the policy
    pub name: String,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// A policy name.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// Name of the policy
    pub name: String,
}

/// Options of `hush policy fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Policy file to format in place
    pub file: PathBuf,
}

/// Runs `hush policy fmt`, which needs no server.
pub fn fmt(args: &FmtArgs) -> anyhow::Result<ExitCode> {
    let shown = args.file.display();
    let text = match fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(e) => {
            warn(format_args!(
                "Error: could not read the policy file {shown}: {e}"
            ));
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let name = args
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("policy");
    let policy = match hush_policy::parse(name, &text) {
        Ok(policy) => policy,
        Err(e) => {
            warn(format_args!("Error formatting policy {shown}: {e}"));
            return Ok(ExitCode::FAILURE);
        }
    };
    replace_file(&args.file, policy.to_hcl().as_bytes())
        .map_err(|e| anyhow::anyhow!("could not write the formatted policy to {shown}: {e}"))?;
    success(format_args!("Success! Formatted policy: {shown}"))
}

/// Replaces a file's contents atomically (new file in the same directory, then rename), keeping
/// its permissions.
fn replace_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let permissions = fs::metadata(path)?.permissions();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".hush-fmt-{}", std::process::id()));
    let temp = dir.join(name);
    let result = fs::write(&temp, contents)
        .and_then(|()| fs::set_permissions(&temp, permissions))
        .and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        // Best effort: the rename error is the one to report.
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Runs a `hush policy` subcommand that talks to the server.
pub async fn run(client: Client, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Write(args) => write(&client, args).await,
        PolicyCommand::Read(args) => read(&client, args).await,
        PolicyCommand::List(args) => {
            let response = client.list("sys/policies/acl").await?;
            let names = response.map(|r| keys_of(&r)).unwrap_or_default();
            if args.format != Format::Table {
                return print_keys(&names, args.format);
            }
            // Like `vault policy list`: one name per line, no header, easy to loop over.
            let mut out = io::stdout().lock();
            for name in &names {
                writeln!(out, "{}", output::go_value(name)).map_err(stdout_error)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Delete(args) => {
            client
                .delete(&format!("sys/policies/acl/{}", args.name))
                .await?;
            success(format_args!("Success! Deleted policy: {}", args.name))
        }
        PolicyCommand::Fmt(args) => fmt(&args),
    }
}

async fn write(client: &Client, args: WriteArgs) -> anyhow::Result<ExitCode> {
    let text = if args.file == "-" {
        let mut text = String::new();
        io::stdin().read_to_string(&mut text).map_err(|e| {
            UsageError::new(format!(
                "could not read the policy from standard input: {e}"
            ))
        })?;
        text
    } else {
        fs::read_to_string(&args.file).map_err(|e| {
            UsageError::new(format!("could not read the policy file {}: {e}", args.file))
        })?
    };
    client
        .write(
            &format!("sys/policies/acl/{}", args.name),
            json!({ "policy": text }),
        )
        .await?;
    success(format_args!("Success! Uploaded policy: {}", args.name))
}

async fn read(client: &Client, args: ReadArgs) -> anyhow::Result<ExitCode> {
    // Any 404 means there is no such policy, whether or not the server explains it.
    let response = match client
        .read(&format!("sys/policies/acl/{}", args.name))
        .await
    {
        Ok(response) => response,
        Err(err) if is_not_found(&err) => None,
        Err(err) => return Err(err.into()),
    };
    let Some(response) = response else {
        warn(format_args!("No policy named: {}", args.name));
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    match args.format.format {
        Format::Table => {
            let text = response
                .pointer("/data/policy")
                .and_then(Value::as_str)
                .unwrap_or_default();
            super::say(text.trim())?;
        }
        structured => output::write_structured(&mut io::stdout().lock(), &response, structured)
            .map_err(stdout_error)?,
    }
    Ok(ExitCode::SUCCESS)
}
