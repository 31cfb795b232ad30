//! `hush audit enable|disable|list|verify`: audit devices, and checking a log's hash chain.
//!
//! `verify` works offline on the file. Offline, a log whose last lines were cut off still looks
//! intact; the server keeps the head of each device's chain inside its barrier, and
//! `--device PATH` (or `--head SEQ:HASH`, copied from `hush read sys/audit-head/PATH`) makes
//! such a cut visible.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use hush_audit::{ChainHead, Problem, VerifyReport};
use hush_client::{Client, Method};
use serde_json::{json, Map, Value};

use super::secrets::mounts_of;
use super::{
    mount_display, parse_pairs, say, stdout_error, success, trim_path, warn, with_client,
    FormatArgs, UsageError, EXIT_USAGE,
};
use crate::cli::{ConnectionArgs, Format};
use crate::output;

/// The subcommands of `hush audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Enable an audit device: TYPE [K=V...], e.g. file file_path=/var/log/hush_audit.log,
    /// socket address=127.0.0.1:9090 socket_type=tcp, syslog tag=vault facility=AUTH
    Enable(EnableArgs),
    /// Disable an audit device
    Disable(PathArgs),
    /// List the enabled audit devices (exit code 2 when there is none)
    List(ListArgs),
    /// Check an audit log's hash chain (exit code 0 intact, 1 tampered, 2 unreadable)
    Verify(VerifyArgs),
}

/// Options of `hush audit enable`.
#[derive(Debug, Args)]
pub struct EnableArgs {
    /// Device type (file, socket, syslog)
    #[arg(value_name = "TYPE")]
    pub device_type: String,

    /// Device options as key=value, e.g. file_path=/var/log/hush_audit.log (file);
    /// address=HOST:PORT socket_type=tcp|udp|unix write_timeout=2s (socket);
    /// facility=AUTH tag=vault socket_path=/dev/log (syslog); hmac_accessor, log_raw (all)
    #[arg(value_name = "K=V")]
    pub options: Vec<String>,

    /// Where to enable the device [default: the type name]
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// Human-friendly description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Do not replicate the device to other clusters
    #[arg(long)]
    pub local: bool,
}

/// A device path.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// Device path, e.g. file/
    pub path: String,
}

/// Options of `hush audit list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also show replication and options
    #[arg(long)]
    pub detailed: bool,

    #[command(flatten)]
    pub format: FormatArgs,
}

/// Options of `hush audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The audit log file
    pub file: PathBuf,

    /// The head the log must reach, as SEQ:HASH (catches lines cut off the end)
    #[arg(long, value_name = "SEQ:HASH", conflicts_with = "device")]
    pub head: Option<ChainHead>,

    /// Ask the server for the head of this audit device (e.g. file/) and check against it
    #[arg(long, value_name = "PATH")]
    pub device: Option<String>,

    #[command(flatten)]
    pub format: FormatArgs,
}

/// Runs a `hush audit` subcommand; `verify` without `--device` needs no server.
pub fn run(connection: &ConnectionArgs, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(args) => match args.device.clone() {
            None => verify_file(&args, None, false),
            Some(device) => with_client(connection, |client| async move {
                let head = device_head(&client, &device, &args.file).await?;
                verify_file(&args, Some(head), true)
            }),
        },
        AuditCommand::Enable(args) => with_client(connection, |client| enable(client, args)),
        AuditCommand::Disable(args) => with_client(connection, |client| async move {
            let path = trim_path(&args.path);
            client.delete(&format!("sys/audit/{path}")).await?;
            success(format_args!(
                "Success! Disabled audit device (if it was enabled) at: {}",
                mount_display(path)
            ))
        }),
        AuditCommand::List(args) => with_client(connection, |client| list(client, args)),
    }
}

async fn enable(client: Client, args: EnableArgs) -> anyhow::Result<ExitCode> {
    let options = parse_pairs(&args.options, "device option")?;
    let device_type = args.device_type.trim();
    let path = trim_path(args.path.as_deref().unwrap_or(device_type));
    if path.is_empty() {
        return Err(UsageError::new("the device path is empty; give one with --path").into());
    }
    let mut body = json!({ "type": device_type, "options": options });
    if let Some(description) = &args.description {
        body["description"] = json!(description);
    }
    if args.local {
        body["local"] = json!(true);
    }
    client
        .request(Method::PUT, &format!("sys/audit/{path}"), Some(body))
        .await?;
    success(format_args!(
        "Success! Enabled the {device_type} audit device at: {}",
        mount_display(path)
    ))
}

/// Device options as the vault CLI lists them: `key=value` pairs separated by spaces.
fn options_cell(device: &Value) -> String {
    let Some(options) = device.get("options").and_then(Value::as_object) else {
        return String::new();
    };
    let mut pairs: Vec<String> = options
        .iter()
        .map(|(k, v)| format!("{k}={}", output::go_value(v)))
        .collect();
    pairs.sort();
    pairs.join(" ")
}

async fn list(client: Client, args: ListArgs) -> anyhow::Result<ExitCode> {
    let response = client
        .request(Method::GET, "sys/audit", None)
        .await?
        .unwrap_or(Value::Null);
    let devices = mounts_of(&response);
    let mut out = io::stdout().lock();
    match args.format.format {
        Format::Table => {
            if devices.is_empty() {
                say("No audit devices are enabled.")?;
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            let field = |d: &Value, key: &str| d.get(key).map(output::go_value).unwrap_or_default();
            let rows: Vec<Vec<String>> = devices
                .iter()
                .map(|(path, d)| {
                    let mut row = vec![path.clone(), field(d, "type"), field(d, "description")];
                    if args.detailed {
                        let local = d.get("local").and_then(Value::as_bool).unwrap_or(false);
                        row.push(if local { "local" } else { "replicated" }.to_owned());
                        row.push(options_cell(d));
                    }
                    row
                })
                .collect();
            let headers: &[&str] = if args.detailed {
                &["Path", "Type", "Description", "Replication", "Options"]
            } else {
                &["Path", "Type", "Description"]
            };
            output::write_columns(&mut out, headers, &rows).map_err(stdout_error)?;
        }
        structured => {
            let map: Map<String, Value> = devices.into_iter().collect();
            output::write_structured(&mut out, &Value::Object(map), structured)
                .map_err(stdout_error)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Fetches a device's chain head from `sys/audit-head/<device>`.
///
/// This must happen before the file is read: the request is itself audited, so the head it
/// returns is already in the file by the time the answer arrives.
async fn device_head(client: &Client, device: &str, file: &Path) -> anyhow::Result<ChainHead> {
    let device = trim_path(device);
    let path = format!("sys/audit-head/{device}");
    let response = client.read(&path).await?.ok_or_else(|| {
        anyhow!(
            "the server has no audit device at {}; see `hush audit list` for the enabled ones",
            mount_display(device)
        )
    })?;
    let data = response.get("data").unwrap_or(&response);
    let head = match data.get("head").and_then(Value::as_str) {
        Some(text) => text.parse::<ChainHead>().ok(),
        None => None,
    };
    let head = head.or_else(|| {
        let seq = data.get("seq")?.as_u64()?;
        let hash = data.get("hash")?.as_str()?;
        format!("{seq}:{hash}").parse().ok()
    });
    let head = head.ok_or_else(|| {
        anyhow!("the server's answer on {path} holds no chain head (seq and hash)")
    })?;
    if let Some(logged_to) = data.get("file_path").and_then(Value::as_str) {
        let same = match (Path::new(logged_to).canonicalize(), file.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => true,
        };
        if !same {
            warn(format_args!(
                "Warning: the device {} writes to {logged_to}, not to {}; the file is checked \
                 against that device's head anyway (right for a rotated copy of its log)",
                mount_display(device),
                file.display()
            ));
        }
    }
    Ok(head)
}

/// Length of the part of `file` that ends with its last newline: a live log may have a line
/// being written at its end, which is not a sign of tampering.
fn complete_length(file: &mut File) -> io::Result<u64> {
    const CHUNK: u64 = 8192;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let size = usize::try_from(end - start).unwrap_or(buf.len());
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..size])?;
        if let Some(pos) = buf[..size].iter().rposition(|&b| b == b'\n') {
            file.seek(SeekFrom::Start(0))?;
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(0)
}

/// Verifies the file against an optional head and prints the verdict.
///
/// `live` (the head came from the server) ignores an incomplete last line: it is most likely
/// being written right now. Anything cut before the head is still caught, because the complete
/// lines must reach it.
fn verify_file(
    args: &VerifyArgs,
    device_head: Option<ChainHead>,
    live: bool,
) -> anyhow::Result<ExitCode> {
    let head = device_head.or_else(|| args.head.clone());
    let shown = args.file.display();
    let unreadable = |e: io::Error| {
        warn(format_args!(
            "Error: could not read the audit log {shown}: {e}"
        ));
        Ok(ExitCode::from(EXIT_USAGE))
    };
    let mut file = match File::open(&args.file) {
        Ok(file) => file,
        Err(e) => return unreadable(e),
    };
    let (report, ignored_tail) = if live {
        let total = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return unreadable(e),
        };
        let complete = match complete_length(&mut file) {
            Ok(n) => n,
            Err(e) => return unreadable(e),
        };
        let reader = BufReader::new(file.take(complete));
        (hush_audit::verify(reader, head.as_ref()), total > complete)
    } else {
        (
            hush_audit::verify(BufReader::new(file), head.as_ref()),
            false,
        )
    };
    if report.kind == Some(Problem::ReadError) {
        warn(format_args!(
            "Error: could not read the audit log {shown}: {}",
            report.problem.as_deref().unwrap_or("read error")
        ));
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    if ignored_tail && report.ok {
        warn("Note: the last line is incomplete (still being written) and was not checked.");
    }
    print_report(&report, head.as_ref(), args.format.format)?;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The one-line verdict: `OK: N lines, chain intact (seq A..B)` or `TAMPERED: line L: why`.
fn verdict(report: &VerifyReport) -> String {
    if !report.ok {
        let line = report
            .first_bad_line
            .map(|l| l.to_string())
            .unwrap_or_else(|| "?".to_owned());
        let problem = report.problem.as_deref().unwrap_or("the chain is broken");
        return format!("TAMPERED: line {line}: {problem}");
    }
    match (report.first_seq, &report.last) {
        (Some(_), Some(last)) if report.segments > 1 => format!(
            "OK: {} lines, chain intact: {} device chains, each linked to the one before (the \
             last at seq {})",
            report.lines, report.segments, last.seq
        ),
        (Some(first), Some(last)) => format!(
            "OK: {} lines, chain intact (seq {first}..{})",
            report.lines, last.seq
        ),
        _ => format!("OK: {} lines, chain intact (empty log)", report.lines),
    }
}

fn print_report(
    report: &VerifyReport,
    head: Option<&ChainHead>,
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            say(verdict(report))?;
            if let (true, Some(head)) = (report.ok, head) {
                say(format_args!(
                    "The log reaches the expected head (seq {}).",
                    head.seq
                ))?;
            }
            Ok(())
        }
        structured => {
            let value = json!({
                "ok": report.ok,
                "lines": report.lines,
                "first_seq": report.first_seq,
                "last": report.last.as_ref().map(|h| json!({"seq": h.seq, "hash": h.hash})),
                "device": report.device,
                "segments": report.segments,
                "first_bad_line": report.first_bad_line,
                "problem": report.problem,
                "expected_head": head.map(|h| h.to_string()),
            });
            output::write_structured(&mut io::stdout().lock(), &value, structured)
                .map_err(stdout_error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn complete_length_stops_after_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut text = "x".repeat(10_000);
        text.push('\n');
        text.push_str(&"y".repeat(9_000));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let mut file = File::open(&path).unwrap();
        assert_eq!(complete_length(&mut file).unwrap(), 10_001);
        std::fs::write(&path, "no newline").unwrap();
        assert_eq!(complete_length(&mut File::open(&path).unwrap()).unwrap(), 0);
        std::fs::write(&path, "a\nb\n").unwrap();
        assert_eq!(complete_length(&mut File::open(&path).unwrap()).unwrap(), 4);
    }

    #[test]
    fn verdicts() {
        let ok = VerifyReport {
            ok: true,
            lines: 3,
            first_bad_line: None,
            problem: None,
            kind: None,
            last: Some(ChainHead {
                seq: 3,
                hash: "ab".into(),
            }),
            first_seq: Some(1),
            device: Some("d".into()),
            segments: 1,
        };
        assert_eq!(verdict(&ok), "OK: 3 lines, chain intact (seq 1..3)");
        let continued = VerifyReport {
            segments: 2,
            ..ok.clone()
        };
        assert_eq!(
            verdict(&continued),
            "OK: 3 lines, chain intact: 2 device chains, each linked to the one before (the last \
             at seq 3)"
        );
        let bad = VerifyReport {
            ok: false,
            first_bad_line: Some(2),
            problem: Some("line 2 does not chain".into()),
            ..ok
        };
        assert_eq!(verdict(&bad), "TAMPERED: line 2: line 2 does not chain");
    }

    #[test]
    fn options_are_listed_as_pairs() {
        let device = json!({"options": {"file_path": "/x", "hmac_accessor": "false"}});
        assert_eq!(options_cell(&device), "file_path=/x hmac_accessor=false");
    }
}
