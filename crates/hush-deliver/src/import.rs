//! `hush import`: moving `.env`, JSON and YAML files into hush.
//!
//! All files are read and checked before anything is written; a file that is not valid in its
//! format stops the import with nothing written. Keys of later files override the same keys of
//! earlier ones. The keys are merged into the secret at `--path`: keys already there and not in
//! the files are kept. With `--nested`, a nested mapping becomes a secret at a sub-path
//! (`{"db": {"user": ...}}` imported to `secret/app` writes `secret/app/db`); without it, a
//! nested mapping is stored as one JSON value.
//!
//! For each key the difference is printed (`+ KEY (new)`, `~ KEY (changed)`, `= KEY
//! (unchanged)`, never a value), then a summary. `--dry-run` stops there. Writes to KV v2 use
//! check-and-set with the version that was read (0 for a new secret), so a secret changed by
//! someone else in between is reported, not overwritten. KV v1 has no check-and-set.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use hush_client::{ClientConfig, ClientError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};

use crate::auth::AuthArgs;
use crate::conn::Conn;
use crate::error::DeliverError;
use crate::parse::{self, InputFormat, Node, Tree};
use crate::source::{self, join, KvPath, ReadOutcome, SecretValue};

/// Above this many keys, a progress bar is shown (on a terminal).
const PROGRESS_KEYS: usize = 50;

/// Arguments of `hush import`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct ImportArgs {
    /// The secret to import into, e.g. secret/app (KV v1 or v2)
    #[cfg_attr(feature = "cli", arg(long, value_name = "PATH"))]
    pub path: String,

    /// Files to import (.env, .json, .yaml/.yml; `-` reads standard input and needs --format)
    #[cfg_attr(feature = "cli", arg(value_name = "FILE", required = true))]
    pub files: Vec<PathBuf>,

    /// Format of the files, instead of guessing it from their names
    #[cfg_attr(feature = "cli", arg(long, value_enum, value_name = "FORMAT"))]
    pub format: Option<InputFormat>,

    /// Import nested mappings (JSON objects, YAML mappings) into sub-paths
    #[cfg_attr(feature = "cli", arg(long))]
    pub nested: bool,

    /// Show what would change, without writing anything
    #[cfg_attr(feature = "cli", arg(long))]
    pub dry_run: bool,

    /// How to log in.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub auth: AuthArgs,
}

/// What happens to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Not in the secret yet.
    New,
    /// In the secret with another value.
    Changed,
    /// In the secret with the same value.
    Unchanged,
}

/// The keys to import, by relative sub-path ("" for `--path` itself).
pub type Plan = BTreeMap<String, BTreeMap<String, SecretValue>>;

/// Reads and merges the files into a plan. Nothing is sent anywhere.
pub fn plan(args: &ImportArgs) -> Result<Plan, DeliverError> {
    let mut plan = Plan::new();
    for file in &args.files {
        let name = file.display().to_string();
        let format = match args.format {
            Some(f) => f,
            None => InputFormat::from_file_name(&name).ok_or_else(|| {
                DeliverError::Usage(format!(
                    "cannot tell the format of {name} from its name: pass --format dotenv, \
                     json or yaml"
                ))
            })?,
        };
        let text = read_input(file)?;
        let tree = parse::parse(&name, &text, format)?;
        add_tree(&mut plan, "", tree, args.nested, &name)?;
    }
    plan.retain(|_, keys| !keys.is_empty());
    if plan.is_empty() {
        return Err(DeliverError::Usage(
            "the files hold no key to import".to_owned(),
        ));
    }
    Ok(plan)
}

fn read_input(file: &PathBuf) -> Result<zeroize::Zeroizing<String>, DeliverError> {
    let mut text = zeroize::Zeroizing::new(String::new());
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| DeliverError::io("read", "standard input", e))?;
    } else {
        let mut f =
            std::fs::File::open(file).map_err(|e| DeliverError::io("read", file.clone(), e))?;
        f.read_to_string(&mut text).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                DeliverError::InvalidFile {
                    file: file.display().to_string(),
                    message: "it is not UTF-8 text".to_owned(),
                }
            } else {
                DeliverError::io("read", file.clone(), e)
            }
        })?;
    }
    Ok(text)
}

fn add_tree(
    plan: &mut Plan,
    rel: &str,
    tree: Tree,
    nested: bool,
    file: &str,
) -> Result<(), DeliverError> {
    plan.entry(rel.to_owned()).or_default();
    for (key, node) in tree {
        if key.is_empty() {
            return Err(DeliverError::InvalidFile {
                file: file.to_owned(),
                message: format!(
                    "an empty key{}: every key needs a name",
                    if rel.is_empty() {
                        String::new()
                    } else {
                        format!(" under {rel}")
                    }
                ),
            });
        }
        match node {
            Node::Map(inner) if nested => {
                if key.contains('/') || key == "." || key == ".." {
                    return Err(DeliverError::InvalidFile {
                        file: file.to_owned(),
                        message: format!(
                            "the key \"{key}\" cannot be a path segment with --nested (no /, . \
                             or ..): rename it"
                        ),
                    });
                }
                add_tree(plan, &join(&[rel, &key]), inner, nested, file)?;
            }
            node => {
                let value = match node {
                    Node::Value(v) => v,
                    map => SecretValue::from_json(map.to_json()),
                };
                plan.entry(rel.to_owned()).or_default().insert(key, value);
            }
        }
    }
    Ok(())
}

/// One secret to write: where, what is there now, and the result of merging.
struct Target {
    path: KvPath,
    /// The version read (KV v2), for check-and-set: 0 when the secret does not exist.
    cas: Option<u64>,
    /// What is stored now.
    current: BTreeMap<String, SecretValue>,
    /// The keys from the files, with what happens to each.
    changes: Vec<(String, SecretValue, Change)>,
}

impl Target {
    fn needs_write(&self) -> bool {
        self.changes.iter().any(|(_, _, c)| *c != Change::Unchanged)
    }
}

/// Compares an imported value with the stored one.
pub fn classify(current: Option<&SecretValue>, new: &SecretValue) -> Change {
    match current {
        None => Change::New,
        Some(old) if old == new => Change::Unchanged,
        Some(_) => Change::Changed,
    }
}

/// Runs `hush import`.
pub async fn import(args: ImportArgs, client_cfg: ClientConfig) -> Result<(), DeliverError> {
    let plan = plan(&args)?;
    let conn = Conn::connect(client_cfg, &args.auth).await?;
    let base = source::resolve(&conn, &args.path).await?;

    // Read everything first: a refusal or a broken secret stops the import before any write.
    let mut targets = Vec::new();
    for (rel, keys) in plan {
        let path = base.child(&rel);
        let (current, cas) = match source::read_secret(&conn, &path, None).await? {
            ReadOutcome::Found { data, version, .. } => (data, version.or(Some(0))),
            ReadOutcome::Missing => (BTreeMap::new(), Some(0)),
            // The latest version is deleted: writing creates the next one, so check-and-set
            // is against the deleted version's number.
            ReadOutcome::Deleted { version } => (BTreeMap::new(), Some(version)),
        };
        let cas = if path.v2 { cas } else { None };
        let changes = keys
            .into_iter()
            .map(|(k, v)| {
                let change = classify(current.get(&k), &v);
                (k, v, change)
            })
            .collect();
        targets.push(Target {
            path,
            cas,
            current,
            changes,
        });
    }

    let mut report = String::new();
    let (mut created, mut updated, mut unchanged) = (0usize, 0usize, 0usize);
    for target in &targets {
        report.push_str(&target.path.display());
        report.push('\n');
        for (key, _, change) in &target.changes {
            let line = match change {
                Change::New => {
                    created += 1;
                    format!("  + {key} (new)\n")
                }
                Change::Changed => {
                    updated += 1;
                    format!("  ~ {key} (changed)\n")
                }
                Change::Unchanged => {
                    unchanged += 1;
                    format!("  = {key} (unchanged)\n")
                }
            };
            report.push_str(&line);
        }
    }
    print_stdout(&report)?;

    if args.dry_run {
        print_stdout(&format!(
            "dry run, nothing written: would create {created}, update {updated}, leave \
             {unchanged} unchanged\n"
        ))?;
        return Ok(());
    }

    let key_count: usize = targets.iter().map(|t| t.changes.len()).sum();
    let progress = progress_bar(args.files.len() > 1 || key_count > PROGRESS_KEYS, key_count);
    if targets.iter().any(|t| !t.path.v2 && t.needs_write()) {
        progress.suspend(|| {
            eprintln!(
                "hush: note: {} is on a KV version 1 mount, which has no check-and-set; a \
                 concurrent change would be overwritten",
                base.display()
            )
        });
    }
    for target in &targets {
        if target.needs_write() {
            write_target(&conn, target).await?;
        }
        progress.inc(target.changes.len() as u64);
    }
    progress.finish_and_clear();
    print_stdout(&format!(
        "created {created}, updated {updated}, unchanged {unchanged}\n"
    ))?;
    Ok(())
}

fn print_stdout(text: &str) -> Result<(), DeliverError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| DeliverError::io("write", "standard output", e))
}

fn progress_bar(wanted: bool, len: usize) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("importing {bar:30} {pos}/{len} keys") {
        bar.set_style(style);
    }
    bar
}

/// Writes the merged secret, with check-and-set on KV v2.
async fn write_target(conn: &Conn, target: &Target) -> Result<(), DeliverError> {
    let mut data = Map::new();
    for (k, v) in &target.current {
        data.insert(k.clone(), v.to_json());
    }
    for (k, v, _) in &target.changes {
        data.insert(k.clone(), v.to_json());
    }
    let api = target.path.data_path();
    let body = match target.cas {
        Some(cas) => json!({ "data": Value::Object(data), "options": { "cas": cas } }),
        None => Value::Object(data),
    };
    let shown = target.path.display();
    match conn.write(&api, body).await {
        Ok(_) => Ok(()),
        Err(ClientError::Api {
            status: 400,
            errors,
            ..
        }) if errors.iter().any(|e| e.contains("check-and-set")) => {
            Err(DeliverError::CasConflict {
                path: shown,
                detail: errors.join("; "),
            })
        }
        Err(err) => Err(conn.error(&shown, &api, "create/update", err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(files: Vec<PathBuf>, nested: bool) -> ImportArgs {
        ImportArgs {
            path: "secret/app".into(),
            files,
            format: None,
            nested,
            dry_run: false,
            auth: AuthArgs::default(),
        }
    }

    #[test]
    fn plan_merges_files_and_nests() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.env");
        let b = dir.path().join("b.json");
        std::fs::write(&a, "X=1\nY=2\n").unwrap();
        std::fs::write(&b, r#"{"Y": "3", "db": {"user": "u", "deep": {"k": "v"}}}"#).unwrap();
        let p = plan(&args(vec![a.clone(), b.clone()], true)).unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["", "db", "db/deep"]);
        assert_eq!(p[""]["Y"].as_str(), "3");
        assert_eq!(p["db"]["user"].as_str(), "u");

        let p = plan(&args(vec![b], false)).unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), [""]);
        assert!(p[""]["db"].is_json());
    }

    #[test]
    fn unknown_extension_needs_format() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secrets.txt");
        std::fs::write(&f, "A=1\n").unwrap();
        let err = plan(&args(vec![f], false)).unwrap_err().to_string();
        assert!(err.contains("--format"), "{err}");
    }

    #[test]
    fn classify_changes() {
        let a = SecretValue::string("1");
        let n = SecretValue::from_json(serde_json::json!(1));
        assert_eq!(classify(None, &a), Change::New);
        assert_eq!(classify(Some(&a), &a), Change::Unchanged);
        assert_eq!(classify(Some(&n), &a), Change::Changed);
    }
}
