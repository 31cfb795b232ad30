//! Reading request fields the way Vault does (strings for numbers and booleans, comma-separated
//! strings for lists), plus small helpers the methods share. Every error is a 400 that names the
//! field and says what it should look like.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use hush_core::engine::{EngineRequest, MountEntry};
use hush_core::error::{CoreError, Result};
use hush_core::framework::{Captures, Field, Handler, HandlerFuture, PathSpec};
use hush_core::logical::{Operation, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// A login's metadata as an identity alias holds it: the string values, numbers and booleans
/// as text.
pub(crate) fn string_values(metadata: &Map<String, Value>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                _ => return None,
            };
            Some((k.clone(), text))
        })
        .collect()
}

/// Whether the request carries `field` with a non-null value.
pub(crate) fn has(data: &Map<String, Value>, field: &str) -> bool {
    hush_core::fields::has(data, field)
}

/// An optional string field.
pub(crate) fn opt_str(data: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    hush_core::fields::string(data, field)
}

/// An optional boolean field.
pub(crate) fn opt_bool(data: &Map<String, Value>, field: &str) -> Result<Option<bool>> {
    hush_core::fields::bool(data, field)
}

/// An optional whole number of 0 or more.
pub(crate) fn opt_u64(data: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    hush_core::fields::u64(data, field)
}

/// An optional TTL: a Go duration string ("1h30m") or whole seconds. "" means 0.
pub(crate) fn opt_ttl(data: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    hush_core::fields::seconds(data, field)
}

/// An optional number of seconds that may be negative (the JWT leeways use -1 for "off"): an
/// integer, or a duration string optionally preceded by '-'.
pub(crate) fn opt_signed_secs(data: &Map<String, Value>, field: &str) -> Result<Option<i64>> {
    let bad = |v: &Value| {
        CoreError::bad(format!(
            "'{field}' must be a number of seconds (e.g. 60, or -1 to turn the check off) or a \
             duration such as \"2m\", got {v}"
        ))
    };
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| bad(v)),
        Some(v @ Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(Some(0));
            }
            if let Ok(n) = s.parse::<i64>() {
                return Ok(Some(n));
            }
            let (neg, rest) = match s.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, s),
            };
            let d = hush_config::duration::parse_duration(rest).map_err(|_| bad(v))?;
            let secs = i64::try_from(d.as_secs()).map_err(|_| bad(v))?;
            Ok(Some(if neg { -secs } else { secs }))
        }
        Some(v) => Err(bad(v)),
    }
}

/// An optional list of strings: a JSON list or a comma-separated string.
pub(crate) fn opt_list(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    hush_core::fields::strings(data, field)
}

/// An optional list of CIDR blocks, each validated.
pub(crate) fn opt_cidrs(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    let Some(list) = opt_list(data, field)? else {
        return Ok(None);
    };
    for block in &list {
        hush_core::cidr::Cidr::parse(block)
            .map_err(|e| CoreError::bad(format!("'{field}': {e}")))?;
    }
    Ok(Some(list))
}

/// An optional object whose values are all strings (a JSON-encoded string of such an object is
/// accepted too, as Vault does for AppRole metadata).
pub(crate) fn opt_string_map(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<BTreeMap<String, String>>> {
    hush_core::fields::string_map(data, field)
}

/// A name for people of the kind of a JSON value.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    hush_core::fields::kind(v)
}

/// Checks a user or role name taken from the path: the core's one naming rule.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<()> {
    hush_core::canonical::check_name(kind, name)
}

/// The prefix Vault puts in front of a login's display name: the mount path with '/' as '-'
/// (`userpass/` -> `userpass`).
pub(crate) fn display_name(mount: &MountEntry, name: &str) -> String {
    let prefix = mount.path.trim_end_matches('/').replace('/', "-");
    if name.is_empty() {
        prefix
    } else {
        format!("{prefix}-{name}")
    }
}

/// The route of the mount for messages, e.g. `auth/userpass/`.
pub(crate) fn mount_route(mount: &MountEntry) -> String {
    format!("auth/{}", mount.path)
}

/// A LIST response, or Vault's empty 404 when there is nothing.
pub(crate) fn list_response(keys: Vec<String>) -> Response {
    if keys.is_empty() {
        return not_found();
    }
    let mut data = Map::new();
    data.insert("keys".into(), json!(keys));
    Response::data(data)
}

/// Vault's 404 for a read of something that does not exist: `{"errors": []}`.
pub(crate) fn not_found() -> Response {
    Response::raw(404, json!({ "errors": [] }))
}

/// The storage key of a role under a method's view.
pub(crate) fn role_key(name: &str) -> String {
    format!("role/{name}")
}

/// Read, create/update and delete of `role/<name>` for a method whose roles are stored as JSON:
/// `data` renders a role for a read, `apply` merges the request's fields into the stored role
/// (or a new one) and validates the result.
pub(crate) async fn role_crud<R: Serialize + DeserializeOwned>(
    req: &EngineRequest<'_>,
    path: &str,
    name: &str,
    data: fn(&R) -> Map<String, Value>,
    apply: fn(Option<R>, &Map<String, Value>) -> Result<R>,
    warnings: fn(&R) -> Vec<String>,
) -> Result<Response> {
    check_name("role", name)?;
    let key = role_key(name);
    match req.operation {
        Operation::Read => match req.view.get_json::<R>(&key).await? {
            Some(r) => Ok(Response::data(data(&r))),
            None => Ok(not_found()),
        },
        Operation::Create | Operation::Update => {
            let existing = req.view.get_json::<R>(&key).await?;
            let role = apply(existing, req.data)?;
            req.view.put_json(&key, &role).await?;
            let mut resp = Response::no_content();
            resp.warnings = warnings(&role);
            Ok(resp)
        }
        Operation::Delete => {
            req.view.delete(&key).await?;
            Ok(Response::no_content())
        }
        // The table routes only the operations it declares.
        op => Err(hush_core::framework::unsupported(path, op)),
    }
}

/// A role stored as JSON under `role/<name>`, with its read form and its update rule.
pub(crate) trait StoredRole: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The role as a read returns it.
    fn data(&self) -> Map<String, Value>;
    /// Merges a request's fields into the stored role (or a new one) and validates the result.
    fn apply(existing: Option<Self>, data: &Map<String, Value>) -> Result<Self>;
    /// What a write answers besides storing the role: settings that are allowed but risky.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

fn role_handler<'a, B, R: StoredRole>(
    _: &'a B,
    req: &'a EngineRequest<'a>,
    c: &'a Captures,
) -> HandlerFuture<'a> {
    Box::pin(role_crud::<R>(
        req,
        req.path,
        c.get("name"),
        R::data,
        R::apply,
        R::warnings,
    ))
}

/// The `role` (list) and `role/{name}` (read, write, delete) paths of a method whose roles are
/// [`StoredRole`]s; `fields` are the role's fields.
pub(crate) fn role_paths<B: 'static, R: StoredRole>(
    synopsis: &'static str,
    fields: &[Field],
) -> [PathSpec<B>; 2] {
    let crud: Handler<B> = role_handler::<B, R>;
    [
        PathSpec::new("role", "The roles of this method.").op(
            Operation::List,
            "List the roles.",
            |_, req, _| Box::pin(async move { Ok(list_response(req.view.list("role/").await?)) }),
        ),
        PathSpec::new("role/{name}", synopsis)
            .op(Operation::Read, "Read a role.", crud)
            .op(Operation::Update, "Create or update a role.", crud)
            .op(Operation::Delete, "Delete a role.", crud)
            .fields(fields),
    ]
}

/// `LogicalBackend::exists` for methods whose only existence-checked paths are `role/<name>`.
pub(crate) async fn role_exists(req: &EngineRequest<'_>) -> Result<bool> {
    let path = req.path.trim_end_matches('/');
    match path.strip_prefix("role/") {
        Some(name) if !name.contains('/') => Ok(req.view.get(&role_key(name)).await?.is_some()),
        _ => Ok(true),
    }
}

/// Unix time now, in nanoseconds.
pub(crate) fn now_nanos() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Formats Unix nanoseconds like Go's RFC 3339 with nanoseconds; 0 is Go's zero time, which is
/// what Vault shows for "never".
pub(crate) fn rfc3339_nanos(nanos: i64) -> String {
    if nanos == 0 {
        return "0001-01-01T00:00:00Z".to_string();
    }
    DateTime::<Utc>::from_timestamp_nanos(nanos).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A random identifier in UUID form (Vault's role IDs, secret IDs and accessors look like this).
pub(crate) fn random_uuid() -> Result<String> {
    let mut b = hush_crypto::random_bytes(16)?;
    // Version 4, RFC 4122 variant: the bits random UUIDs carry, so tools that parse them agree.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Checks the client address against CIDR blocks for a login; `what` names the list in the
/// message.
pub(crate) fn check_login_cidrs(
    blocks: &[String],
    addr: Option<std::net::IpAddr>,
    what: &str,
) -> Result<()> {
    if hush_core::cidr::allowed(blocks, addr) {
        return Ok(());
    }
    let from = addr.map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
    Err(CoreError::InvalidCredentials(format!(
        "login from {from} is not allowed by {what} ({})",
        blocks.join(", ")
    )))
}

/// Whether every block of `inner` lies inside some block of `outer` (an empty `outer` allows
/// anything).
pub(crate) fn cidrs_subset(inner: &[String], outer: &[String]) -> bool {
    if outer.is_empty() {
        return true;
    }
    inner.iter().all(|i| {
        let Some((addr, prefix)) = split_cidr(i) else {
            return false;
        };
        outer.iter().any(|o| {
            let (Some((_, oprefix)), Ok(block)) = (split_cidr(o), hush_core::cidr::Cidr::parse(o))
            else {
                return false;
            };
            oprefix <= prefix && block.contains(addr)
        })
    })
}

fn split_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let s = s.trim();
    match s.split_once('/') {
        Some((a, p)) => Some((a.parse().ok()?, p.parse().ok()?)),
        None => {
            let a: std::net::IpAddr = s.parse().ok()?;
            Some((a, if a.is_ipv4() { 32 } else { 128 }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ttls_and_numbers() {
        let d = hush_core::logical::map(json!({
            "a": "x, y,,z", "b": ["p", "q"], "t": "1h", "n": "5", "s": "-1", "s2": "2m",
            "bad": "x1"
        }));
        assert_eq!(opt_list(&d, "a").unwrap().unwrap(), ["x", "y", "z"]);
        assert_eq!(opt_list(&d, "b").unwrap().unwrap(), ["p", "q"]);
        assert_eq!(opt_ttl(&d, "t").unwrap(), Some(3600));
        assert_eq!(opt_u64(&d, "n").unwrap(), Some(5));
        assert_eq!(opt_signed_secs(&d, "s").unwrap(), Some(-1));
        assert_eq!(opt_signed_secs(&d, "s2").unwrap(), Some(120));
        let e = opt_ttl(&d, "bad").unwrap_err();
        assert!(e.to_string().contains("'bad'"), "{e}");
        assert!(opt_u64(&d, "a").is_err());
        assert_eq!(opt_ttl(&d, "missing").unwrap(), None);
    }

    #[test]
    fn string_maps_from_objects_and_json_strings() {
        let d = hush_core::logical::map(json!({
            "m": "{\"tag\": \"prod\"}", "o": {"k": "v"}, "bad": {"k": 1}, "junk": "nope"
        }));
        assert_eq!(opt_string_map(&d, "m").unwrap().unwrap()["tag"], "prod");
        assert_eq!(opt_string_map(&d, "o").unwrap().unwrap()["k"], "v");
        assert!(opt_string_map(&d, "bad").is_err());
        assert!(opt_string_map(&d, "junk").is_err());
    }

    #[test]
    fn cidr_subsets() {
        let outer = vec!["10.0.0.0/8".to_string()];
        assert!(cidrs_subset(&["10.1.0.0/16".into()], &outer));
        assert!(cidrs_subset(&["10.1.2.3".into()], &outer));
        assert!(!cidrs_subset(&["0.0.0.0/0".into()], &outer));
        assert!(!cidrs_subset(&["192.168.0.0/16".into()], &outer));
        assert!(cidrs_subset(&["192.168.0.0/16".into()], &[]));
    }

    #[test]
    fn uuids_and_times() {
        let u = random_uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(rfc3339_nanos(0), "0001-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(1_500_000_000),
            "1970-01-01T00:00:01.500000000Z"
        );
    }
}
