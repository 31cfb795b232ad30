//! How results are printed: Vault-style Key/Value tables, and JSON with Vault's field names so
//! that scripts parsing `vault ... -format=json` keep working.

use std::io::{self, Write};

use hush_client::{InitRequest, InitResponse, LeaderResponse, SealStatus};
use serde::Serialize;
use serde_json::Value;

/// Shown wherever a value is unknown or does not apply, as Vault does.
const NOT_APPLICABLE: &str = "n/a";

/// Writes a two-column table with a `Key`/`Value` header.
pub fn write_table(out: &mut dyn Write, rows: &[(&str, String)]) -> io::Result<()> {
    let width = rows
        .iter()
        .map(|(key, _)| key.len())
        .chain(["Key".len()])
        .max()
        .unwrap_or(0)
        + 4;
    writeln!(out, "{:<width$}Value", "Key")?;
    writeln!(out, "{:<width$}-----", "---")?;
    for (key, value) in rows {
        writeln!(out, "{key:<width$}{value}")?;
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
    rows.push((
        "Unseal Progress",
        format!("{}/{}", status.progress, status.t),
    ));
    rows.push(("Unseal Nonce", or_na(Some(&status.nonce))));
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
    json: bool,
) -> io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &seal_status_json(status, leader))?;
        writeln!(out)
    } else {
        write_table(out, &seal_status_rows(status, leader))
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

/// Writes the result of `hush init` as JSON with the vault CLI's field names.
pub fn write_init_json(
    out: &mut dyn Write,
    request: &InitRequest,
    response: &InitResponse,
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
        write_init_json(&mut out, &request, &response).unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["unseal_keys_b64"][0], "Cg==");
        assert_eq!(value["unseal_keys_hex"][0], "0a");
        assert_eq!(value["unseal_shares"], 1);
        assert_eq!(value["root_token"], "hvs.root");
        assert_eq!(value["recovery_keys_b64"], serde_json::json!([]));
    }
}
