//! `hush operator rekey`: replace the unseal (or recovery) key shares, as `vault operator rekey`
//! does: `-init` starts a rekey with the new share count and threshold, each holder of a current
//! share then enters theirs, and the last one gets the new shares.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use hush_client::{Client, Method};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{say, stdout_error, success, FormatArgs};
use crate::cli::Format;
use crate::output;

/// Which key shares a rekey replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RekeyTarget {
    /// The unseal key shares (Shamir seal).
    Barrier,
    /// The recovery key shares (auto-unseal seals such as the static seal).
    Recovery,
}

/// Options of `hush operator rekey`.
#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// Start a rekey (with --key-shares and --key-threshold)
    #[arg(long, conflicts_with_all = ["cancel", "status"])]
    pub init: bool,

    /// Cancel the rekey in progress
    #[arg(long, conflicts_with = "status")]
    pub cancel: bool,

    /// Show the rekey in progress
    #[arg(long)]
    pub status: bool,

    /// Number of new key shares
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub key_shares: u32,

    /// Number of new key shares needed
    #[arg(long, value_name = "T", default_value_t = 3)]
    pub key_threshold: u32,

    /// Which shares to replace: barrier (unseal keys) or recovery (recovery keys)
    #[arg(long, value_enum, default_value_t = RekeyTarget::Barrier)]
    pub target: RekeyTarget,

    /// The rekey's nonce [default: the one the server reports]
    #[arg(long, value_name = "NONCE")]
    pub nonce: Option<String>,

    /// A current key share; prompted for (without echo) when omitted, read from standard input
    /// when "-"
    #[arg(value_name = "KEY")]
    pub key: Option<String>,

    #[command(flatten)]
    pub format: FormatArgs,
}

fn base(target: RekeyTarget) -> &'static str {
    match target {
        RekeyTarget::Barrier => "sys/rekey",
        RekeyTarget::Recovery => "sys/rekey-recovery-key",
    }
}

/// Runs `hush operator rekey`; `key` is the share already read (for an update).
pub async fn rekey(
    client: Client,
    args: RekeyArgs,
    key: Option<Zeroizing<String>>,
) -> anyhow::Result<ExitCode> {
    let base = base(args.target);
    let format = args.format.format;
    if args.cancel {
        client
            .request(Method::DELETE, &format!("{base}/init"), None)
            .await?;
        return success("Success! Canceled rekeying (if it was started)");
    }
    if args.status {
        let status = client
            .request(Method::GET, &format!("{base}/init"), None)
            .await?
            .unwrap_or(Value::Null);
        return print_status(&status, format);
    }
    if args.init {
        let status = client
            .request(
                Method::PUT,
                &format!("{base}/init"),
                Some(json!({
                    "secret_shares": args.key_shares,
                    "secret_threshold": args.key_threshold,
                })),
            )
            .await?
            .unwrap_or(Value::Null);
        return print_status(&status, format);
    }
    let nonce = match args.nonce {
        Some(nonce) => nonce,
        None => current_nonce(&client, &format!("{base}/init"))
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no rekey is in progress: start one with `hush operator rekey -init \
                     -key-shares=N -key-threshold=T`"
                )
            })?,
    };
    let key = key.unwrap_or_default();
    // The client encodes the body into a buffer it zeroizes; this Value lives only for the call.
    let answer = client
        .request(
            Method::PUT,
            &format!("{base}/update"),
            Some(json!({ "key": key.as_str(), "nonce": nonce })),
        )
        .await?
        .unwrap_or(Value::Null);
    if answer.get("complete").and_then(Value::as_bool) != Some(true) {
        return print_status(&answer, format);
    }
    if format != Format::Table {
        return print_structured(&answer, format);
    }
    let keys: Vec<&str> = answer
        .get("keys_base64")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        say(format_args!("Key {}: {k}", i + 1))?;
    }
    say(format_args!(
        "\nOperation nonce: {}\n\nThe key shares were replaced: the old shares no longer work. \
         Give each new share to a different trusted person and keep them apart.",
        answer
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The nonce of the attempt `status_path` reports, if one is under way.
async fn current_nonce(client: &Client, status_path: &str) -> anyhow::Result<Option<String>> {
    let status = client
        .request(Method::GET, status_path, None)
        .await?
        .unwrap_or(Value::Null);
    Ok(status
        .get("nonce")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned))
}

/// Prints an answer as JSON or YAML.
fn print_structured(answer: &Value, format: Format) -> anyhow::Result<ExitCode> {
    output::write_structured(&mut std::io::stdout().lock(), answer, format)
        .map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

fn print_status(status: &Value, format: Format) -> anyhow::Result<ExitCode> {
    if format != Format::Table {
        return print_structured(status, format);
    }
    let text = |k: &str| status.get(k).map(output::go_value).unwrap_or_default();
    let rows = vec![
        ("Nonce", text("nonce")),
        ("Started", text("started")),
        (
            "Rekey Progress",
            format!("{}/{}", text("progress"), text("required")),
        ),
        ("New Shares", text("n")),
        ("New Threshold", text("t")),
        ("Verification Required", text("verification_required")),
    ];
    output::write_table(&mut std::io::stdout().lock(), &rows).map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

/// Options of `hush operator generate-root`.
#[derive(Debug, Args)]
pub struct GenerateRootArgs {
    /// Start an attempt (the server makes the one-time pad and prints it once)
    #[arg(long, conflicts_with_all = ["cancel", "status", "decode"])]
    pub init: bool,

    /// Cancel the attempt in progress
    #[arg(long, conflicts_with_all = ["status", "decode"])]
    pub cancel: bool,

    /// Show the attempt in progress
    #[arg(long, conflicts_with = "decode")]
    pub status: bool,

    /// Decode an encoded root token with --otp (no server needed)
    #[arg(long, value_name = "ENCODED", requires = "otp")]
    pub decode: Option<String>,

    /// The one-time pad printed by --init
    #[arg(long, value_name = "OTP")]
    pub otp: Option<String>,

    /// The attempt's nonce [default: the one the server reports]
    #[arg(long, value_name = "NONCE")]
    pub nonce: Option<String>,

    /// A key share (unseal key, or recovery key on an auto-unseal seal); prompted for (without
    /// echo) when omitted, read from standard input when "-"
    #[arg(value_name = "KEY")]
    pub key: Option<String>,

    #[command(flatten)]
    pub format: FormatArgs,
}

impl GenerateRootArgs {
    /// Whether this run enters a key share.
    pub fn enters_a_share(&self) -> bool {
        !(self.init || self.cancel || self.status || self.decode.is_some())
    }
}

/// The root token in `encoded` (base64, with or without padding), XOR'd with `otp`.
pub fn decode_root_token(encoded: &str, otp: &str) -> anyhow::Result<Zeroizing<String>> {
    use base64::Engine as _;
    let encoded = encoded.trim();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|e| anyhow::anyhow!("the encoded token is not base64 ({e})"))?;
    if bytes.len() != otp.len() {
        anyhow::bail!(
            "the encoded token is {} bytes but the one-time pad is {} characters: use the pad \
             that `hush operator generate-root -init` printed for this attempt",
            bytes.len(),
            otp.len()
        );
    }
    let token: Vec<u8> = bytes
        .iter()
        .zip(otp.as_bytes())
        .map(|(b, o)| b ^ o)
        .collect();
    String::from_utf8(token)
        .map(Zeroizing::new)
        .map_err(|_| anyhow::anyhow!("the one-time pad does not decode this token"))
}

/// Runs `hush operator generate-root`; `key` is the share already read (for an update).
pub async fn generate_root(
    client: Client,
    args: GenerateRootArgs,
    key: Option<Zeroizing<String>>,
) -> anyhow::Result<ExitCode> {
    let format = args.format.format;
    let attempt = "sys/generate-root/attempt";
    if args.cancel {
        client.request(Method::DELETE, attempt, None).await?;
        return success("Success! Root token generation canceled (if it was started)");
    }
    if args.status || args.init {
        let (method, body) = if args.init {
            let body = match &args.otp {
                Some(otp) => json!({ "otp": otp }),
                None => json!({}),
            };
            (Method::PUT, Some(body))
        } else {
            (Method::GET, None)
        };
        let status = client
            .request(method, attempt, body)
            .await?
            .unwrap_or(Value::Null);
        return print_root_status(&status, format);
    }
    let nonce = match args.nonce {
        Some(nonce) => nonce,
        None => current_nonce(&client, attempt).await?.ok_or_else(|| {
            anyhow::anyhow!(
                "no root token generation is in progress: start one with `hush operator \
                 generate-root -init`"
            )
        })?,
    };
    let key = key.unwrap_or_default();
    let answer = client
        .request(
            Method::PUT,
            "sys/generate-root/update",
            Some(json!({ "key": key.as_str(), "nonce": nonce })),
        )
        .await?
        .unwrap_or(Value::Null);
    print_root_status(&answer, format)
}

fn print_root_status(status: &Value, format: Format) -> anyhow::Result<ExitCode> {
    if format != Format::Table {
        return print_structured(status, format);
    }
    let text = |k: &str| status.get(k).map(output::go_value).unwrap_or_default();
    let mut rows = vec![
        ("Nonce", text("nonce")),
        ("Started", text("started")),
        (
            "Progress",
            format!("{}/{}", text("progress"), text("required")),
        ),
        ("Complete", text("complete")),
    ];
    if !text("otp").is_empty() {
        rows.push(("OTP", text("otp")));
        rows.push(("OTP Length", text("otp_length")));
    }
    if !text("encoded_token").is_empty() {
        rows.push(("Encoded Token", text("encoded_token")));
    }
    output::write_table(&mut std::io::stdout().lock(), &rows).map_err(stdout_error)?;
    if !text("encoded_token").is_empty() {
        say("\nDecode it with: hush operator generate-root -decode=ENCODED_TOKEN -otp=OTP")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `hush operator step-down`: `PUT sys/step-down`.
pub async fn step_down(client: Client) -> anyhow::Result<ExitCode> {
    let answer = client.request(Method::PUT, "sys/step-down", None).await?;
    if let Some(answer) = &answer {
        output::write_warnings(&mut std::io::stderr().lock(), answer).map_err(stdout_error)?;
    }
    success(format_args!("Success! Stepped down: {}", client.address()))
}

/// `hush operator snapshot save|restore`.
#[derive(Debug, clap::Subcommand)]
pub enum SnapshotCommand {
    /// Write an encrypted, consistent snapshot of the whole store to FILE (created 0600), taken
    /// while the server serves; needs a token with sudo on sys/storage/raft/snapshot
    Save {
        /// Where to write the snapshot (an existing file is not overwritten)
        file: std::path::PathBuf,
    },
    /// Restore a snapshot into a new server (over the API), or, with -config, into the storage
    /// of a stopped server; the restored server unseals with the keys of the one the snapshot
    /// was taken of
    Restore {
        /// The snapshot file
        file: std::path::PathBuf,
        /// Restore offline into the storage this server configuration names (the server must be
        /// stopped)
        #[arg(long = "config", value_name = "PATH")]
        config: Vec<std::path::PathBuf>,
        /// With -config: replace the data of a storage that is already initialized
        #[arg(long)]
        force: bool,
    },
}

/// Runs a snapshot command.
pub fn snapshot(
    connection: &crate::cli::ConnectionArgs,
    command: SnapshotCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        SnapshotCommand::Save { file } => super::with_client(connection, |client| async move {
            let bytes = client.read_bytes("sys/storage/raft/snapshot").await?;
            write_new_private(&file, &bytes)?;
            success(format_args!(
                "Success! Snapshot of {} written to {} ({} bytes)",
                client.address(),
                file.display(),
                bytes.len()
            ))
        }),
        SnapshotCommand::Restore {
            file,
            config,
            force,
        } => {
            let bytes = Zeroizing::new(std::fs::read(&file).map_err(|e| {
                anyhow::anyhow!("cannot read the snapshot {}: {e}", file.display())
            })?);
            if config.is_empty() {
                if force {
                    anyhow::bail!(
                        "-force applies to an offline restore only: add -config with the \
                         server's configuration (and stop the server)"
                    );
                }
                return super::with_client(connection, |client| async move {
                    let answer = client
                        .write_bytes("sys/storage/raft/snapshot", bytes)
                        .await?;
                    let taken = answer
                        .as_ref()
                        .and_then(|a| a["data"]["created_time"].as_str())
                        .unwrap_or("?")
                        .to_string();
                    success(format_args!(
                        "Success! Restored the snapshot taken {taken} into {}; unseal it with the \
                         original unseal keys",
                        client.address()
                    ))
                });
            }
            let header = super::block_on(crate::server::restore_offline(&config, &bytes, force))??;
            success(format_args!(
                "Success! Restored the snapshot of cluster {} taken {} ({} entries) into the \
                 stopped server's storage; start it and unseal it with the original unseal keys",
                header.cluster_id, header.created_time, header.entries
            ))
        }
    }
}

/// Creates `path` with mode 0600 (never replacing a file) and writes `bytes`.
fn write_new_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot create {}: {e} (an existing file is never overwritten: choose a new \
                 name)",
                path.display()
            )
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
