//! Reading secrets, shared by `hush run` and `hush export`.
//!
//! A path such as `secret/app/db` is resolved to its mount and KV version with
//! `GET sys/internal/ui/mounts/<path>` (`data.options.version == "2"` means KV v2; a 403 or 404
//! there means the token may not see the mount table, and the path is treated as KV v1, as the
//! vault CLI does). KV v2 secrets are read from `<mount>/data/<rest>`, KV v1 secrets from the path
//! itself.
//!
//! A path on a mount of another engine (its `type` is neither `kv` nor `generic`), such as
//! `database/creds/app`, is read as `vault read` reads it: `GET <path>`, whose `data` fields
//! (`username`, `password`) are the keys. Such an answer may come under a lease (a non-empty
//! `lease_id` with a `lease_duration`): [`LeaseInfo`] records it, for `hush run` to renew and
//! replace ([`crate::lease`]), as Vault Agent, envconsul and consul-template do with the same
//! kind of path.
//!
//! Several `--path`s are read in order and merged: a key in a later path overrides the same key
//! in an earlier one. With `--recursive`, a path is also a folder: the secret at the path (if
//! any) and every secret below it are read, and a key that two of them define is an error (no
//! order between sub-secrets would be obvious). `--flatten-json` replaces a value that is a JSON
//! object by its top-level keys. `--only`/`--except` then pick keys by name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::conn::Conn;
use crate::error::DeliverError;
use hush_client::ClientError;

/// Upper bound on the secrets one `--recursive` path may expand to, so that a mistaken
/// `--path secret --recursive` on a large mount fails clearly instead of reading everything.
pub const MAX_RECURSIVE_SECRETS: usize = 10_000;

/// Which secrets to read.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "Secrets"))]
pub struct SourceArgs {
    /// Secret path to read: a KV v1 or v2 secret (secret/app), or any path another engine
    /// serves on a read (database/creds/app: dynamic credentials, renewed while `hush run`
    /// runs). Repeatable: keys of later paths override the same keys of earlier ones
    #[cfg_attr(
        feature = "cli",
        arg(long = "path", value_name = "PATH", required = true)
    )]
    pub paths: Vec<String>,

    /// Also read every secret below each path (a key defined by two of them is an error)
    #[cfg_attr(feature = "cli", arg(long))]
    pub recursive: bool,

    /// Read this KV v2 version instead of the latest (only with a single --path)
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub version: Option<u64>,

    /// Deliver only these keys (comma-separated, repeatable)
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "KEY,...", value_delimiter = ',')
    )]
    pub only: Vec<String>,

    /// Leave these keys out (comma-separated, repeatable)
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "KEY,...", value_delimiter = ',')
    )]
    pub except: Vec<String>,

    /// Replace a value that is a JSON object by one entry per top-level key of the object
    #[cfg_attr(feature = "cli", arg(long))]
    pub flatten_json: bool,
}

/// A secret value: the text delivered (to an environment variable or file), zeroized on drop.
///
/// KV values are JSON. A string is delivered as it is; any other JSON value (number, boolean,
/// object, array, null) is delivered as its compact JSON text, and remembered as JSON so that
/// JSON and YAML exports keep its type.
#[derive(Clone)]
pub struct SecretValue {
    text: Zeroizing<String>,
    json: bool,
}

/// Whether two secret texts are equal, in time that depends only on their lengths.
pub fn secret_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json && secret_eq(&self.text, &other.text)
    }
}

impl Eq for SecretValue {}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl SecretValue {
    /// A string value.
    pub fn string(text: impl Into<String>) -> SecretValue {
        SecretValue {
            text: Zeroizing::new(text.into()),
            json: false,
        }
    }

    /// A value from a KV answer; the string is moved, not copied.
    pub fn from_json(value: Value) -> SecretValue {
        match value {
            Value::String(text) => SecretValue::string(text),
            other => SecretValue {
                text: Zeroizing::new(other.to_string()),
                json: true,
            },
        }
    }

    /// The text to deliver.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the value is a JSON value other than a string.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The value as JSON again (a string, or the parsed non-string value).
    pub fn to_json(&self) -> Value {
        if self.json {
            // The text was produced by serde_json from a Value, so it parses back; should it
            // not, the text itself is the most faithful thing left to deliver.
            serde_json::from_str(&self.text)
                .unwrap_or_else(|_| Value::String(self.text.to_string()))
        } else {
            Value::String(self.text.to_string())
        }
    }

    /// The top-level entries when the value is a JSON object, either stored as one or as a
    /// string holding one (cloud secret stores often keep one JSON document per secret).
    pub fn json_object(&self) -> Option<Map<String, Value>> {
        if !self.text.trim_start().starts_with('{') {
            return None;
        }
        match serde_json::from_str::<Value>(&self.text) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }
}

/// A secret delivered under a key, with the path it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// The value.
    pub value: SecretValue,
    /// Where it was read, as the user wrote the path (for error messages; never a value).
    pub origin: String,
}

/// The secrets to deliver, by key, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretSet {
    /// Key to secret.
    pub entries: BTreeMap<String, Secret>,
}

/// A path resolved to its mount and, on KV, its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvPath {
    /// The mount, without slashes (e.g. `secret`).
    pub mount: String,
    /// The path inside the mount, without leading or trailing slashes (may be empty).
    pub rel: String,
    /// Whether the mount is KV version 2.
    pub v2: bool,
    /// The engine type of a mount that is not KV (`database`), read as a plain `GET` of the
    /// path; `None` for KV (and for a mount the token may not look up, read as KV v1).
    pub engine: Option<String>,
}

impl KvPath {
    /// The path as a user writes it: `mount/rel`.
    pub fn display(&self) -> String {
        join(&[&self.mount, &self.rel])
    }

    /// The API path to read or write the secret (`mount/data/rel` on KV v2).
    pub fn data_path(&self) -> String {
        if self.v2 && self.engine.is_none() {
            join(&[&self.mount, "data", &self.rel])
        } else {
            self.display()
        }
    }

    /// The API path to list the folder (`mount/metadata/rel/` on KV v2).
    pub fn list_path(&self) -> String {
        let base = if self.v2 {
            join(&[&self.mount, "metadata", &self.rel])
        } else {
            self.display()
        };
        format!("{base}/")
    }

    /// The path of `name` inside this one (a sub-secret or sub-folder).
    pub fn child(&self, name: &str) -> KvPath {
        KvPath {
            mount: self.mount.clone(),
            rel: join(&[&self.rel, name]),
            v2: self.v2,
            engine: self.engine.clone(),
        }
    }
}

/// Joins path segments with `/`, dropping empty ones and stray slashes.
pub(crate) fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// The lease a secret was issued under: what `sys/leases/renew` and `sys/leases/revoke` need.
///
/// Only an answer with a non-empty `lease_id` and a `lease_duration` above zero has one: KV v1
/// answers carry a `lease_duration` (a refresh hint) with an empty `lease_id`, and those are
/// not leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The lease ID (`database/creds/app/<id>`); not a credential, but the handle to renew or
    /// revoke it with.
    pub id: String,
    /// How long the secret is valid from when it was issued.
    pub duration: Duration,
    /// Whether the server accepts renewals of it.
    pub renewable: bool,
}

impl LeaseInfo {
    /// The lease of a read's answer, if it has one.
    pub fn of_answer(answer: &Value) -> Option<LeaseInfo> {
        let id = answer.get("lease_id").and_then(Value::as_str)?.trim();
        let seconds = answer.get("lease_duration").and_then(Value::as_u64)?;
        if id.is_empty() || seconds == 0 {
            return None;
        }
        Some(LeaseInfo {
            id: id.to_owned(),
            duration: Duration::from_secs(seconds),
            renewable: answer
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// What reading one secret found.
#[derive(Debug)]
pub enum ReadOutcome {
    /// The secret's keys and, on KV v2, the version read.
    Found {
        /// Key to value.
        data: BTreeMap<String, SecretValue>,
        /// The KV v2 version (None on KV v1).
        version: Option<u64>,
        /// The lease the answer came under (dynamic credentials); None for KV.
        lease: Option<LeaseInfo>,
    },
    /// Nothing is stored there.
    Missing,
    /// KV v2: the version exists but is deleted or destroyed.
    Deleted {
        /// That version.
        version: u64,
    },
}

/// Finds the mount and KV version of `path`.
pub async fn resolve(conn: &Conn, path: &str) -> Result<KvPath, DeliverError> {
    let path = path.trim().trim_matches('/');
    if path.is_empty() {
        return Err(DeliverError::Usage(
            "an empty --path was given: name a secret such as secret/app".to_owned(),
        ));
    }
    let probe = format!("sys/internal/ui/mounts/{path}");
    let info = match conn.read(&probe).await {
        Ok(answer) => answer,
        // No right to see the mount table, or no mount there: treat it as KV v1, as the vault
        // CLI does; reading the secret will then report what is really wrong.
        Err(ClientError::Api {
            status: 403 | 404, ..
        }) => None,
        Err(err) => return Err(conn.error(path, &probe, "read", err)),
    };
    let data = info.as_ref().and_then(|i| i.get("data"));
    let v2 = data
        .and_then(|d| d.pointer("/options/version"))
        .and_then(Value::as_str)
        == Some("2");
    // `generic` is Vault's old name of KV version 1; an empty type is a server that does not
    // say, read as KV as before.
    let engine = data
        .and_then(|d| d.get("type"))
        .and_then(Value::as_str)
        .filter(|t| !matches!(*t, "" | "kv" | "generic"))
        .map(str::to_owned);
    let mount = match data.and_then(|d| d.get("path")).and_then(Value::as_str) {
        Some(found) if !found.trim_matches('/').is_empty() => found.trim_matches('/').to_owned(),
        _ => path.split('/').next().unwrap_or(path).to_owned(),
    };
    let rel = path
        .strip_prefix(mount.as_str())
        .unwrap_or(path)
        .trim_matches('/')
        .to_owned();
    Ok(KvPath {
        mount,
        rel,
        v2,
        engine,
    })
}

/// Reads one secret (a given KV v2 version, or the latest).
pub async fn read_secret(
    conn: &Conn,
    path: &KvPath,
    version: Option<u64>,
) -> Result<ReadOutcome, DeliverError> {
    let shown = path.display();
    if let (Some(_), Some(engine)) = (version, &path.engine) {
        return Err(DeliverError::Usage(format!(
            "--version was given but {shown} is on a {engine} mount, not KV version 2; only KV \
             version 2 keeps versions: leave --version out"
        )));
    }
    if version.is_some() && !path.v2 {
        return Err(DeliverError::Usage(format!(
            "--version was given but {shown} is on a KV version 1 mount, which keeps no \
             versions; leave --version out"
        )));
    }
    let api = path.data_path();
    let request = match version {
        Some(v) => format!("{api}?version={v}"),
        None => api.clone(),
    };
    let answer = match conn.read(&request).await {
        Ok(Some(answer)) => answer,
        Ok(None) => return Ok(ReadOutcome::Missing),
        Err(err) => return Err(conn.error(&shown, &api, "read", err)),
    };
    let unexpected = |reason: &str| DeliverError::UnexpectedAnswer {
        path: shown.clone(),
        reason: reason.to_owned(),
    };
    let lease = LeaseInfo::of_answer(&answer);
    // Taken apart by value so that the secret strings are moved, not copied.
    let Some(Value::Object(mut top)) = (match answer {
        Value::Object(mut answer) => answer.remove("data"),
        _ => None,
    }) else {
        return Err(unexpected("it has no \"data\" object"));
    };
    let (data, version) = if path.v2 && path.engine.is_none() {
        let version = top
            .get("metadata")
            .and_then(|m| m.get("version"))
            .and_then(Value::as_u64);
        match top.remove("data") {
            Some(Value::Object(map)) => (map, version),
            Some(Value::Null) | None => {
                return Ok(ReadOutcome::Deleted {
                    version: version.unwrap_or(0),
                })
            }
            Some(_) => return Err(unexpected("\"data.data\" is not an object")),
        }
    } else {
        (top, None)
    };
    let data = data
        .into_iter()
        .map(|(k, v)| (k, SecretValue::from_json(v)))
        .collect();
    Ok(ReadOutcome::Found {
        data,
        version,
        lease,
    })
}

/// Lists the entries of a folder: names of secrets, and of sub-folders ending in `/`.
pub async fn list_folder(conn: &Conn, path: &KvPath) -> Result<Vec<String>, DeliverError> {
    let api = path.list_path();
    let answer = conn
        .list(&api)
        .await
        .map_err(|err| conn.error(&path.display(), &api, "list", err))?;
    let keys = answer
        .as_ref()
        .and_then(|a| a.pointer("/data/keys"))
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Ok(keys)
}

/// Reads a path as a secret, failing on anything but a non-empty secret; returns its keys and
/// the lease it came under, if any.
async fn read_required(
    conn: &Conn,
    path: &KvPath,
    version: Option<u64>,
) -> Result<(BTreeMap<String, SecretValue>, Option<LeaseInfo>), DeliverError> {
    let shown = path.display();
    match read_secret(conn, path, version).await? {
        ReadOutcome::Found { data, .. } if data.is_empty() => {
            Err(DeliverError::EmptySecret { path: shown })
        }
        ReadOutcome::Found { data, lease, .. } => Ok((data, lease)),
        ReadOutcome::Missing => match version {
            // The secret may well exist; the version does not.
            Some(version) => Err(DeliverError::NoSuchVersion {
                path: shown,
                version,
            }),
            None => Err(DeliverError::NotFound { path: shown }),
        },
        ReadOutcome::Deleted { version } => Err(DeliverError::VersionDeleted {
            path: shown,
            version,
        }),
    }
}

/// Reads the secret at `path` (if any) and every secret below it, in path order.
async fn read_recursive(
    conn: &Conn,
    path: &KvPath,
) -> Result<Vec<(String, BTreeMap<String, SecretValue>)>, DeliverError> {
    let mut found = Vec::new();
    let mut secret_paths = Vec::new();
    if !path.rel.is_empty() {
        secret_paths.push(path.clone());
    }
    let mut folders = vec![path.clone()];
    while let Some(folder) = folders.pop() {
        let mut entries = list_folder(conn, &folder).await?;
        entries.sort();
        // Reversed so that popping visits folders in order.
        for entry in entries.iter().rev() {
            if let Some(name) = entry.strip_suffix('/') {
                folders.push(folder.child(name));
            }
        }
        for entry in entries.iter().filter(|e| !e.ends_with('/')) {
            secret_paths.push(folder.child(entry));
        }
        if secret_paths.len() > MAX_RECURSIVE_SECRETS {
            return Err(DeliverError::Usage(format!(
                "{} holds more than {MAX_RECURSIVE_SECRETS} secrets: narrow --path",
                path.display()
            )));
        }
    }
    secret_paths.sort_by(|a, b| a.rel.cmp(&b.rel));
    secret_paths.dedup();
    for secret in secret_paths {
        match read_secret(conn, &secret, None).await? {
            ReadOutcome::Found { data, .. } if data.is_empty() => {
                return Err(DeliverError::EmptySecret {
                    path: secret.display(),
                })
            }
            ReadOutcome::Found { data, .. } => found.push((secret.display(), data)),
            // A listed secret whose latest version is deleted is not there any more; the
            // path itself not being a secret is normal for a folder.
            ReadOutcome::Missing | ReadOutcome::Deleted { .. } => {}
        }
    }
    if found.is_empty() {
        return Err(DeliverError::NotFound {
            path: path.display(),
        });
    }
    Ok(found)
}

/// Replaces JSON-object values by their top-level entries. A flattened key that is also a key
/// of the secret (or of another flattened object) is an error naming both places.
pub fn flatten_json(
    origin: &str,
    data: BTreeMap<String, SecretValue>,
) -> Result<BTreeMap<String, Secret>, DeliverError> {
    let mut out: BTreeMap<String, Secret> = BTreeMap::new();
    let mut whence: BTreeMap<String, String> = BTreeMap::new();
    let mut insert = |key: String, value: SecretValue, from: String| {
        if let Some(first) = whence.get(&key) {
            return Err(DeliverError::DuplicateKey {
                key,
                first: first.clone(),
                second: from,
            });
        }
        whence.insert(key.clone(), from);
        out.insert(
            key,
            Secret {
                value,
                origin: origin.to_owned(),
            },
        );
        Ok(())
    };
    for (key, value) in data {
        match value.json_object() {
            Some(object) => {
                for (inner, v) in object {
                    let from = format!("{origin} (in the JSON of \"{key}\")");
                    insert(inner, SecretValue::from_json(v), from)?;
                }
            }
            None => insert(key, value, origin.to_owned())?,
        }
    }
    Ok(out)
}

fn plain(origin: &str, data: BTreeMap<String, SecretValue>) -> BTreeMap<String, Secret> {
    data.into_iter()
        .map(|(k, value)| {
            (
                k,
                Secret {
                    value,
                    origin: origin.to_owned(),
                },
            )
        })
        .collect()
}

/// Checks option combinations before anything is read.
pub fn validate(args: &SourceArgs) -> Result<(), DeliverError> {
    if args.paths.is_empty() {
        return Err(DeliverError::Usage(
            "no --path given: name at least one secret, e.g. --path secret/app".to_owned(),
        ));
    }
    if args.version.is_some() && (args.paths.len() > 1 || args.recursive) {
        return Err(DeliverError::Usage(
            "--version applies to a single secret: give exactly one --path and no --recursive"
                .to_owned(),
        ));
    }
    if args.version == Some(0) {
        return Err(DeliverError::Usage(
            "--version 0 does not exist: versions start at 1".to_owned(),
        ));
    }
    for key in args.only.iter().chain(&args.except) {
        if key.trim().is_empty() {
            return Err(DeliverError::Usage(
                "--only/--except contains an empty key name".to_owned(),
            ));
        }
    }
    Ok(())
}

/// What one `--path` delivered: its keys (after `--flatten-json`) and, for dynamic
/// credentials, the lease they came under.
#[derive(Debug, Clone)]
pub struct PathRead {
    /// The path as resolved (`mount/rel`), for messages.
    pub path: String,
    /// Key to secret (with `--recursive`, of every secret below the path).
    pub entries: BTreeMap<String, Secret>,
    /// The lease of the answer; `None` for KV and other answers without one.
    pub lease: Option<LeaseInfo>,
}

/// Reads the one `--path` `raw` as `args` asks (recursively, a version, flattened).
pub async fn read_path(
    conn: &Conn,
    args: &SourceArgs,
    raw: &str,
) -> Result<PathRead, DeliverError> {
    let path = resolve(conn, raw).await?;
    let (secrets, lease) = if args.recursive {
        if let Some(engine) = &path.engine {
            // Listing a dynamic engine's paths reads nothing useful (database/creds/ lists
            // nothing) and reading each entry would create a credential per entry.
            return Err(DeliverError::Usage(format!(
                "--recursive reads KV folders, but {} is on a {engine} mount: give each of its \
                 secrets its own --path, without --recursive",
                path.display()
            )));
        }
        (read_recursive(conn, &path).await?, None)
    } else {
        let (data, lease) = read_required(conn, &path, args.version).await?;
        (vec![(path.display(), data)], lease)
    };
    let mut entries: BTreeMap<String, Secret> = BTreeMap::new();
    for (origin, data) in secrets {
        let these = if args.flatten_json {
            flatten_json(&origin, data)?
        } else {
            plain(&origin, data)
        };
        for (key, secret) in these {
            if let Some(first) = entries.get(&key) {
                return Err(DeliverError::DuplicateKey {
                    key,
                    first: first.origin.clone(),
                    second: secret.origin,
                });
            }
            entries.insert(key, secret);
        }
    }
    Ok(PathRead {
        path: path.display(),
        entries,
        lease,
    })
}

/// Merges the reads of the `--path`s, in order (a key of a later path overrides the same key
/// of an earlier one), then applies `--only` and `--except`.
pub fn merge<'a>(
    reads: impl IntoIterator<Item = &'a PathRead>,
    args: &SourceArgs,
) -> Result<SecretSet, DeliverError> {
    let mut merged: BTreeMap<String, Secret> = BTreeMap::new();
    for read in reads {
        merged.extend(
            read.entries
                .iter()
                .map(|(k, secret)| (k.clone(), secret.clone())),
        );
    }
    select(&mut merged, &args.only, &args.except)?;
    Ok(SecretSet { entries: merged })
}

/// Reads all the secrets `args` names and merges them. A lease an answer came under is not
/// followed here (see [`read_path`] for callers that keep it); it ends at its TTL.
pub async fn load(conn: &Conn, args: &SourceArgs) -> Result<SecretSet, DeliverError> {
    validate(args)?;
    let mut reads = Vec::with_capacity(args.paths.len());
    for raw in &args.paths {
        reads.push(read_path(conn, args, raw).await?);
    }
    merge(&reads, args)
}

/// Applies `--only` and `--except`; a key named there that no path has is an error (a typo
/// would otherwise silently deliver nothing, or everything).
pub fn select(
    entries: &mut BTreeMap<String, Secret>,
    only: &[String],
    except: &[String],
) -> Result<(), DeliverError> {
    let known: BTreeSet<String> = entries.keys().cloned().collect();
    for key in only.iter().chain(except) {
        if !known.contains(key.trim()) {
            let have = known.iter().cloned().collect::<Vec<_>>().join(", ");
            return Err(DeliverError::Usage(format!(
                "the key \"{}\" named in --only/--except is in none of the paths (they have: \
                 {have})",
                key.trim()
            )));
        }
    }
    if !only.is_empty() {
        let keep: BTreeSet<&str> = only.iter().map(|k| k.trim()).collect();
        entries.retain(|k, _| keep.contains(k.as_str()));
    }
    for key in except {
        entries.remove(key.trim());
    }
    if entries.is_empty() {
        return Err(DeliverError::Usage(
            "--only/--except left no key to deliver".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, Value)]) -> BTreeMap<String, SecretValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretValue::from_json(v.clone())))
            .collect()
    }

    #[test]
    fn paths_for_both_versions() {
        let v2 = KvPath {
            mount: "secret".into(),
            rel: "app/db".into(),
            v2: true,
            engine: None,
        };
        assert_eq!(v2.display(), "secret/app/db");
        assert_eq!(v2.data_path(), "secret/data/app/db");
        assert_eq!(v2.list_path(), "secret/metadata/app/db/");
        let v1 = KvPath {
            mount: "kv".into(),
            rel: String::new(),
            v2: false,
            engine: None,
        };
        assert_eq!(v1.data_path(), "kv");
        assert_eq!(v1.list_path(), "kv/");
        assert_eq!(v1.child("x").display(), "kv/x");
    }

    #[test]
    fn values_keep_their_json_type() {
        let s = SecretValue::from_json(Value::from("text"));
        assert!(!s.is_json());
        assert_eq!(s.as_str(), "text");
        let n = SecretValue::from_json(serde_json::json!(5432));
        assert!(n.is_json());
        assert_eq!(n.as_str(), "5432");
        assert_eq!(n.to_json(), serde_json::json!(5432));
        assert_eq!(format!("{s:?}"), "SecretValue(<redacted>)");
    }

    #[test]
    fn flatten_objects_and_json_strings() {
        let d = data(&[
            (
                "aws",
                serde_json::json!({"access_key": "AK", "secret_key": "SK"}),
            ),
            ("db", Value::from(r#"{"user": "u", "port": 5432}"#)),
            ("plain", Value::from("p")),
            ("list", Value::from("[1, 2]")),
        ]);
        let out = flatten_json("secret/app", d).unwrap();
        let keys: Vec<_> = out.keys().cloned().collect();
        assert_eq!(
            keys,
            ["access_key", "list", "plain", "port", "secret_key", "user"]
        );
        assert_eq!(out["port"].value.as_str(), "5432");
        assert_eq!(out["list"].value.as_str(), "[1, 2]");
    }

    #[test]
    fn flatten_clash_names_both_places() {
        let d = data(&[
            ("user", Value::from("x")),
            ("db", serde_json::json!({"user": "y"})),
        ]);
        let err = flatten_json("secret/app", d).unwrap_err().to_string();
        assert!(err.contains("\"user\""), "{err}");
        assert!(err.contains("\"db\""), "{err}");
    }

    #[test]
    fn select_only_except_and_typos() {
        let mut entries = plain(
            "p",
            data(&[
                ("A", Value::from("1")),
                ("B", Value::from("2")),
                ("C", Value::from("3")),
            ]),
        );
        select(&mut entries, &["A".into(), "B".into()], &["B".into()]).unwrap();
        assert_eq!(entries.keys().collect::<Vec<_>>(), ["A"]);
        let err = select(&mut entries, &["Z".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("\"Z\""), "{err}");
        let err = select(&mut entries, &[], &["A".into()]).unwrap_err();
        assert!(err.to_string().contains("no key"), "{err}");
    }

    #[test]
    fn version_needs_a_single_path() {
        let args = SourceArgs {
            paths: vec!["a".into(), "b".into()],
            version: Some(2),
            ..SourceArgs::default()
        };
        assert!(validate(&args)
            .unwrap_err()
            .to_string()
            .contains("--version"));
    }
}
