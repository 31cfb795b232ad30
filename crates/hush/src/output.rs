//! How results are printed: Vault-style Key/Value tables, and JSON with Vault's field names so
//! that scripts parsing `vault ... -format=json` keep working.

use std::io::{self, Write};

use hush_client::{InitRequest, InitResponse, LeaderResponse, SealStatus};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::Format;
use crate::duration;
use crate::yaml;

/// Shown wherever a value is unknown or does not apply, as Vault does.
const NOT_APPLICABLE: &str = "n/a";

/// Space between table columns, as in the vault CLI.
const GAP: usize = 4;

/// Writes a two-column table with a `Key`/`Value` header.
pub fn write_table<K: AsRef<str>>(out: &mut dyn Write, rows: &[(K, String)]) -> io::Result<()> {
    let width = rows
        .iter()
        .map(|(key, _)| key.as_ref().chars().count())
        .chain(["Key".len()])
        .max()
        .unwrap_or(0)
        + GAP;
    writeln!(out, "{:<width$}Value", "Key")?;
    writeln!(out, "{:<width$}-----", "---")?;
    for (key, value) in rows {
        writeln!(out, "{:<width$}{value}", key.as_ref())?;
    }
    Ok(())
}

/// Writes a table with the given column headers, each underlined with dashes; the last column
/// is not padded.
pub fn write_columns(
    out: &mut dyn Write,
    headers: &[&str],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let pad = width + GAP - cell.chars().count();
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text
    };
    let dashes: Vec<String> = headers.iter().map(|h| "-".repeat(h.len())).collect();
    writeln!(out, "{}", line(headers.to_vec()))?;
    writeln!(out, "{}", line(dashes.iter().map(String::as_str).collect()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Renders a value as Go's `%v` does, which is how the vault CLI shows values in tables and
/// `-field` output: strings bare, `null` as `<nil>`, lists as `[a b]`, maps as `map[k:v]`.
pub fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// A string list as Go's `%q` shows it (`["default" "root"]`), the vault CLI's form for
/// policy lists.
fn go_quoted_list(value: Option<&Value>) -> String {
    let items: Vec<String> = value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => format!("{s:?}"),
                    other => format!("{:?}", go_value(other)),
                })
                .collect()
        })
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

/// A value as shown in a Key/Value table: durations (by field name) in human form, empty
/// strings as `n/a`, everything else as [`go_value`].
pub fn table_value(key: &str, value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => NOT_APPLICABLE.to_owned(),
        Value::Number(n) if duration::looks_like_duration(key) => match n.as_u64() {
            Some(secs) => duration::human(secs),
            None => n.to_string(),
        },
        other => go_value(other),
    }
}

/// The rows of a JSON object, sorted by key, formatted with [`table_value`].
pub fn map_rows(map: &Map<String, Value>) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = map
        .iter()
        .map(|(k, v)| (k.clone(), table_value(k, v)))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// The rows the vault CLI prints for a response ("secret"): lease information, then the token
/// fields when the response carries `auth`, then `data`.
///
/// `show_token` decides whether the `token` row (the new client token) is included.
pub fn secret_rows(response: &Value, show_token: bool) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let lease_duration = response
        .get("lease_duration")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if lease_duration > 0 {
        match response.get("lease_id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => {
                rows.push(("lease_id".to_owned(), id.to_owned()));
                rows.push(("lease_duration".to_owned(), duration::human(lease_duration)));
                let renewable = response.get("renewable").and_then(Value::as_bool);
                rows.push((
                    "lease_renewable".to_owned(),
                    renewable.unwrap_or(false).to_string(),
                ));
            }
            // Leases without an id (KV v1 with a TTL) are a hint how often to re-read.
            _ => rows.push((
                "refresh_interval".to_owned(),
                duration::human(lease_duration),
            )),
        }
    }
    // A wrapped answer carries only the wrapping token; it is the point of asking, so it is
    // always shown.
    if let Some(wrap) = response.get("wrap_info").filter(|w| w.is_object()) {
        let text = |key: &str| wrap.get(key).map(go_value).unwrap_or_default();
        rows.push(("wrapping_token".to_owned(), text("token")));
        rows.push(("wrapping_accessor".to_owned(), text("accessor")));
        let ttl = wrap.get("ttl").and_then(Value::as_u64).unwrap_or(0);
        rows.push(("wrapping_token_ttl".to_owned(), duration::human(ttl)));
        rows.push((
            "wrapping_token_creation_time".to_owned(),
            text("creation_time"),
        ));
        rows.push((
            "wrapping_token_creation_path".to_owned(),
            text("creation_path"),
        ));
    }
    if let Some(auth) = response.get("auth").filter(|a| a.is_object()) {
        let text = |key: &str| auth.get(key).map(go_value).unwrap_or_default();
        if show_token {
            rows.push(("token".to_owned(), text("client_token")));
        }
        rows.push(("token_accessor".to_owned(), text("accessor")));
        let duration = match auth.get("lease_duration").and_then(Value::as_u64) {
            // A token without a TTL (root) never expires.
            Some(0) | None => "∞".to_owned(),
            Some(secs) => duration::human(secs),
        };
        rows.push(("token_duration".to_owned(), duration));
        let renewable = auth.get("renewable").and_then(Value::as_bool);
        rows.push((
            "token_renewable".to_owned(),
            renewable.unwrap_or(false).to_string(),
        ));
        for key in ["token_policies", "identity_policies", "policies"] {
            rows.push((key.to_owned(), go_quoted_list(auth.get(key))));
        }
        if let Some(meta) = auth.get("metadata").and_then(Value::as_object) {
            let mut meta: Vec<_> = meta.iter().collect();
            meta.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in meta {
                rows.push((format!("token_meta_{k}"), go_value(v)));
            }
        }
    }
    if let Some(data) = response.get("data").and_then(Value::as_object) {
        rows.extend(map_rows(data));
    }
    rows
}

/// The value `-field` picks from a response: a token field when it carries `auth`, a lease
/// field, or a key of `data`.
pub fn secret_field(response: &Value, field: &str) -> Option<Value> {
    if let Some(wrap) = response.get("wrap_info").filter(|w| w.is_object()) {
        let wrap_key = match field {
            "wrapping_token" => Some("token"),
            "wrapping_accessor" => Some("accessor"),
            "wrapping_token_ttl" => Some("ttl"),
            "wrapping_token_creation_time" => Some("creation_time"),
            "wrapping_token_creation_path" => Some("creation_path"),
            _ => None,
        };
        if let Some(key) = wrap_key {
            return wrap.get(key).cloned();
        }
    }
    if let Some(auth) = response.get("auth").filter(|a| a.is_object()) {
        let auth_key = match field {
            "token" => Some("client_token"),
            "token_accessor" => Some("accessor"),
            "token_renewable" => Some("renewable"),
            "token_policies" | "identity_policies" | "policies" => Some(field),
            _ => None,
        };
        if let Some(key) = auth_key {
            return auth.get(key).cloned();
        }
        if field == "token_duration" {
            let secs = auth.get("lease_duration").and_then(Value::as_u64)?;
            return Some(Value::String(duration::human(secs)));
        }
        if let Some(meta) = field.strip_prefix("token_meta_") {
            return auth.get("metadata")?.get(meta).cloned();
        }
    }
    match field {
        "lease_id" => return response.get("lease_id").cloned(),
        "lease_renewable" => return response.get("renewable").cloned(),
        "lease_duration" | "refresh_interval" => {
            let secs = response.get("lease_duration").and_then(Value::as_u64)?;
            return Some(Value::String(duration::human(secs)));
        }
        _ => {}
    }
    response.get("data")?.get(field).cloned()
}

/// Writes one value picked with `-field`: bare for tables (with a newline only on a terminal,
/// so that `$(hush kv get -field=password ...)` and pipes get the exact value), or as a JSON or
/// YAML document.
pub fn write_field(
    out: &mut dyn Write,
    value: &Value,
    format: Format,
    terminal: bool,
) -> io::Result<()> {
    match format {
        Format::Table => {
            write!(out, "{}", go_value(value))?;
            if terminal {
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Json | Format::Yaml => write_structured(out, value, format),
    }
}

/// Writes a value as a JSON or YAML document. Tables are the caller's business; asked for one
/// here, this writes JSON.
pub fn write_structured(out: &mut dyn Write, value: &Value, format: Format) -> io::Result<()> {
    match format {
        Format::Yaml => out.write_all(yaml::to_yaml(value).as_bytes()),
        Format::Json | Format::Table => {
            serde_json::to_writer_pretty(&mut *out, value)?;
            writeln!(out)
        }
    }
}

/// A title framed with `=` signs about `width` wide, as the vault CLI heads sections
/// (`== Secret Path ==`).
pub fn section_header(title: &str, width: usize) -> String {
    let mut signs = width.saturating_sub(title.chars().count() + 2);
    if signs == 0 {
        signs = 4;
    }
    if !signs.is_multiple_of(2) {
        signs += 1;
    }
    let side = "=".repeat(signs / 2);
    format!("{side} {title} {side}")
}

/// The header of a Key/Value table of `rows`: as wide as its longest row.
pub fn table_header<K: AsRef<str>>(title: &str, rows: &[(K, String)]) -> String {
    let widest = rows
        .iter()
        .map(|(k, v)| k.as_ref().chars().count() + v.chars().count())
        .max()
        .unwrap_or(0);
    // 4 for the gap between the columns and 5 for "Value".
    section_header(title, widest + GAP + 5)
}

/// Writes `== Title ==` followed by a path on its own line, then a blank line.
pub fn write_path_section(out: &mut dyn Write, title: &str, path: &str) -> io::Result<()> {
    writeln!(out, "{}", section_header(title, path.chars().count()))?;
    writeln!(out, "{path}")?;
    writeln!(out)
}

/// The server's warnings, if any, as the vault CLI prints them (to standard error).
pub fn write_warnings(err: &mut dyn Write, response: &Value) -> io::Result<()> {
    let Some(warnings) = response.get("warnings").and_then(Value::as_array) else {
        return Ok(());
    };
    if warnings.is_empty() {
        return Ok(());
    }
    writeln!(
        err,
        "WARNING! The following warnings were returned from hush:"
    )?;
    for warning in warnings {
        writeln!(err, "  * {}", go_value(warning))?;
    }
    Ok(())
}

fn or_na(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => NOT_APPLICABLE.to_owned(),
    }
}

/// The rows of `hush status` (and of `hush unseal`'s answer).
///
/// `leader` is `None` when the server could not say whether HA is enabled (e.g. while sealed).
pub fn seal_status_rows(
    status: &SealStatus,
    leader: Option<&LeaderResponse>,
) -> Vec<(&'static str, String)> {
    let mut rows = vec![("Seal Type", or_na(Some(&status.seal_type)))];
    if status.recovery_seal {
        // With auto-unseal, t/n describe the recovery keys, which are always Shamir shares.
        rows.push(("Recovery Seal Type", "shamir".to_owned()));
    }
    rows.push(("Initialized", status.initialized.to_string()));
    rows.push(("Sealed", status.sealed.to_string()));
    let shares_label = if status.recovery_seal {
        "Total Recovery Shares"
    } else {
        "Total Shares"
    };
    rows.push((shares_label, status.n.to_string()));
    rows.push(("Threshold", status.t.to_string()));
    // As the vault CLI: an unseal in progress is shown only while sealed.
    if status.sealed {
        rows.push((
            "Unseal Progress",
            format!("{}/{}", status.progress, status.t),
        ));
        rows.push(("Unseal Nonce", or_na(Some(&status.nonce))));
    }
    if status.migration {
        rows.push(("Seal Migration in Progress", "true".to_owned()));
    }
    rows.push(("Version", or_na(Some(&status.version))));
    if let Some(date) = status.build_date.as_deref().filter(|d| !d.is_empty()) {
        rows.push(("Build Date", date.to_owned()));
    }
    rows.push(("Storage Type", or_na(status.storage_type.as_deref())));
    rows.push(("Cluster Name", or_na(status.cluster_name.as_deref())));
    rows.push(("Cluster ID", or_na(status.cluster_id.as_deref())));
    match leader {
        Some(leader) => {
            rows.push(("HA Enabled", leader.ha_enabled.to_string()));
            if leader.ha_enabled {
                rows.push(("HA Cluster", or_na(Some(&leader.leader_cluster_address))));
                let mode = if leader.is_self { "active" } else { "standby" };
                rows.push(("HA Mode", mode.to_owned()));
                if leader.is_self {
                    if let Some(since) = leader.active_time.as_deref() {
                        rows.push(("Active Since", since.to_owned()));
                    }
                }
            }
        }
        None => rows.push(("HA Enabled", NOT_APPLICABLE.to_owned())),
    }
    rows
}

/// The JSON of `hush status -format=json`: the seal status plus the HA fields, as Vault prints.
pub fn seal_status_json(status: &SealStatus, leader: Option<&LeaderResponse>) -> Value {
    let mut value = serde_json::to_value(status).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        match leader {
            Some(leader) => {
                map.insert("ha_enabled".into(), leader.ha_enabled.into());
                if leader.ha_enabled {
                    map.insert("is_self".into(), leader.is_self.into());
                    map.insert(
                        "leader_address".into(),
                        leader.leader_address.clone().into(),
                    );
                    map.insert(
                        "leader_cluster_address".into(),
                        leader.leader_cluster_address.clone().into(),
                    );
                    if let Some(since) = &leader.active_time {
                        map.insert("active_time".into(), since.clone().into());
                    }
                }
            }
            None => {
                map.insert("ha_enabled".into(), Value::Null);
            }
        }
    }
    value
}

/// Writes a status in the chosen format.
pub fn write_seal_status(
    out: &mut dyn Write,
    status: &SealStatus,
    leader: Option<&LeaderResponse>,
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Table => write_table(out, &seal_status_rows(status, leader)),
        structured => write_structured(out, &seal_status_json(status, leader), structured),
    }
}

/// `vault operator init -format=json`'s shape, borrowed from the response so the keys are not
/// copied into yet another buffer.
#[derive(Serialize)]
struct InitJson<'a> {
    unseal_keys_b64: &'a [String],
    unseal_keys_hex: &'a [String],
    unseal_shares: u32,
    unseal_threshold: u32,
    recovery_keys_b64: &'a [String],
    recovery_keys_hex: &'a [String],
    recovery_keys_shares: u32,
    recovery_keys_threshold: u32,
    root_token: &'a str,
}

/// Writes the result of `hush init` as JSON (or YAML) with the vault CLI's field names.
pub fn write_init_json(
    out: &mut dyn Write,
    request: &InitRequest,
    response: &InitResponse,
    format: Format,
) -> io::Result<()> {
    let json = InitJson {
        unseal_keys_b64: &response.keys_base64,
        unseal_keys_hex: &response.keys,
        unseal_shares: request.secret_shares,
        unseal_threshold: request.secret_threshold,
        recovery_keys_b64: &response.recovery_keys_base64,
        recovery_keys_hex: &response.recovery_keys,
        recovery_keys_shares: request.recovery_shares.unwrap_or(0),
        recovery_keys_threshold: request.recovery_threshold.unwrap_or(0),
        root_token: &response.root_token,
    };
    if format == Format::Yaml {
        let value = serde_json::to_value(&json).map_err(io::Error::other)?;
        let text = zeroize::Zeroizing::new(yaml::to_yaml(&value));
        return out.write_all(text.as_bytes());
    }
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}

/// Writes the result of `hush init` for a human: the keys, the root token and what to do next.
///
/// `threshold` is how many shares the server says it needs (from the seal status after init),
/// falling back to what was asked for.
pub fn write_init_table(
    out: &mut dyn Write,
    response: &InitResponse,
    threshold: u32,
) -> io::Result<()> {
    // Vault's CLI prints base64 shares; hex is a fallback for servers that send only hex.
    let pick = |b64: &'_ [String], hex: &'_ [String]| -> Vec<String> {
        if b64.is_empty() {
            hex.to_vec()
        } else {
            b64.to_vec()
        }
    };
    let unseal_keys = zeroize::Zeroizing::new(pick(&response.keys_base64, &response.keys));
    let recovery_keys = zeroize::Zeroizing::new(pick(
        &response.recovery_keys_base64,
        &response.recovery_keys,
    ));

    for (i, key) in unseal_keys.iter().enumerate() {
        writeln!(out, "Unseal Key {}: {key}", i + 1)?;
    }
    for (i, key) in recovery_keys.iter().enumerate() {
        writeln!(out, "Recovery Key {}: {key}", i + 1)?;
    }
    writeln!(out)?;
    writeln!(out, "Initial Root Token: {}", response.root_token)?;
    writeln!(out)?;

    if recovery_keys.is_empty() {
        let shares = unseal_keys.len();
        writeln!(
            out,
            "hush is initialized with {shares} key shares and a key threshold of {threshold}.\n\
             Give each key share to a different trusted person and keep them apart. Whenever\n\
             hush restarts or is sealed, {threshold} of these shares are needed to unseal it.\n\
             \n\
             hush does not keep the root key. If fewer than {threshold} shares survive, the data\n\
             can never be decrypted again.\n\
             \n\
             Use the root token only to set up authentication and policies, then revoke it."
        )
    } else {
        let shares = recovery_keys.len();
        writeln!(
            out,
            "hush is initialized with {shares} recovery key shares and a threshold of {threshold}.\n\
             The seal unseals hush automatically; recovery keys cannot unseal it, but\n\
             {threshold} of them are needed for sensitive operations such as generating a new\n\
             root token. Give each share to a different trusted person.\n\
             \n\
             Use the root token only to set up authentication and policies, then revoke it."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(rows: &[(&str, String)]) -> String {
        let mut out = Vec::new();
        write_table(&mut out, rows).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn sealed_status() -> SealStatus {
        SealStatus {
            seal_type: "shamir".into(),
            initialized: true,
            sealed: true,
            t: 3,
            n: 5,
            progress: 1,
            nonce: "abc".into(),
            version: "0.1.0".into(),
            storage_type: Some("sqlite".into()),
            ..SealStatus::default()
        }
    }

    #[test]
    fn tables_align_values_after_the_longest_key() {
        let text = render(&[("A", "1".into()), ("Longer Key", "2".into())]);
        assert_eq!(
            text,
            "Key           Value\n---           -----\nA             1\nLonger Key    2\n"
        );
    }

    #[test]
    fn status_rows_follow_vault_status() {
        let text = render(&seal_status_rows(&sealed_status(), None));
        let keys: Vec<&str> = text
            .lines()
            .skip(2)
            .map(|l| l.split("  ").next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "Seal Type",
                "Initialized",
                "Sealed",
                "Total Shares",
                "Threshold",
                "Unseal Progress",
                "Unseal Nonce",
                "Version",
                "Storage Type",
                "Cluster Name",
                "Cluster ID",
                "HA Enabled"
            ]
        );
        assert!(text.contains("Unseal Progress    1/3\n"), "{text}");
        assert!(text.contains("Cluster Name       n/a\n"), "{text}");
        assert!(text.contains("HA Enabled         n/a\n"), "{text}");
    }

    #[test]
    fn status_rows_show_recovery_shares_and_ha() {
        let status = SealStatus {
            seal_type: "static".into(),
            recovery_seal: true,
            sealed: false,
            ..sealed_status()
        };
        let leader = LeaderResponse {
            ha_enabled: true,
            is_self: true,
            leader_cluster_address: "https://10.0.0.1:8201".into(),
            ..LeaderResponse::default()
        };
        let rows = seal_status_rows(&status, Some(&leader));
        let get = |k: &str| {
            rows.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("Recovery Seal Type"), Some("shamir"));
        assert_eq!(get("Total Recovery Shares"), Some("5"));
        assert_eq!(get("Total Shares"), None);
        // Unsealed: no unseal progress to show.
        assert_eq!(get("Unseal Progress"), None);
        assert_eq!(get("Unseal Nonce"), None);
        assert_eq!(get("HA Enabled"), Some("true"));
        assert_eq!(get("HA Mode"), Some("active"));
        assert_eq!(get("HA Cluster"), Some("https://10.0.0.1:8201"));
    }

    #[test]
    fn status_json_has_vault_fields() {
        let leader = LeaderResponse::default();
        let value = seal_status_json(&sealed_status(), Some(&leader));
        assert_eq!(value["type"], "shamir");
        assert_eq!(value["sealed"], true);
        assert_eq!(value["t"], 3);
        assert_eq!(value["ha_enabled"], false);
        let value = seal_status_json(&sealed_status(), None);
        assert!(value["ha_enabled"].is_null());
    }

    fn init_response(json: Value) -> InitResponse {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn init_table_prints_base64_keys_and_root_token() {
        let response = init_response(serde_json::json!({
            "keys": ["0a", "0b"], "keys_base64": ["Cg==", "Cw=="], "root_token": "hvs.root"
        }));
        let mut out = Vec::new();
        write_init_table(&mut out, &response, 2).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("Unseal Key 1: Cg==\nUnseal Key 2: Cw==\n\n"),
            "{text}"
        );
        assert!(text.contains("Initial Root Token: hvs.root\n"), "{text}");
        assert!(
            text.contains("2 key shares and a key threshold of 2"),
            "{text}"
        );
        assert!(!text.contains("Recovery Key"), "{text}");
    }

    #[test]
    fn init_table_prints_recovery_keys_for_auto_unseal() {
        let response = init_response(serde_json::json!({
            "recovery_keys": ["0a"], "recovery_keys_base64": ["Cg=="], "root_token": "hvs.root"
        }));
        let mut out = Vec::new();
        write_init_table(&mut out, &response, 1).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Recovery Key 1: Cg==\n"), "{text}");
        assert!(!text.contains("Unseal Key"), "{text}");
        assert!(text.contains("1 recovery key shares"), "{text}");
    }

    #[test]
    fn init_json_uses_vault_cli_field_names() {
        let response = init_response(serde_json::json!({
            "keys": ["0a"], "keys_base64": ["Cg=="], "root_token": "hvs.root"
        }));
        let request = InitRequest {
            secret_shares: 1,
            secret_threshold: 1,
            ..InitRequest::default()
        };
        let mut out = Vec::new();
        write_init_json(&mut out, &request, &response, Format::Json).unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["unseal_keys_b64"][0], "Cg==");
        assert_eq!(value["unseal_keys_hex"][0], "0a");
        assert_eq!(value["unseal_shares"], 1);
        assert_eq!(value["root_token"], "hvs.root");
        assert_eq!(value["recovery_keys_b64"], serde_json::json!([]));
    }
}
