//! Request and response types of the `sys/` endpoints used to operate a server.
//!
//! Field names follow Vault's wire format. Every response field is optional on the wire
//! (`#[serde(default)]`, and `null` reads as the default) so the same types work against hush,
//! Vault and OpenBao, whatever version adds or drops a field.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Reads `null` as the type's default: some servers send `null` rather than omitting a field.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Body of `GET sys/health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthResponse {
    /// Whether the server has been initialized.
    #[serde(deserialize_with = "nullable")]
    pub initialized: bool,
    /// Whether the server is sealed.
    #[serde(deserialize_with = "nullable")]
    pub sealed: bool,
    /// Whether this node is a standby.
    #[serde(deserialize_with = "nullable")]
    pub standby: bool,
    /// Whether this node is a performance standby (Vault Enterprise).
    #[serde(deserialize_with = "nullable")]
    pub performance_standby: bool,
    /// Performance replication mode, e.g. `disabled`.
    #[serde(deserialize_with = "nullable")]
    pub replication_performance_mode: String,
    /// DR replication mode, e.g. `disabled`.
    #[serde(deserialize_with = "nullable")]
    pub replication_dr_mode: String,
    /// Server clock, seconds since the Unix epoch.
    #[serde(deserialize_with = "nullable")]
    pub server_time_utc: i64,
    /// Server version.
    #[serde(deserialize_with = "nullable")]
    pub version: String,
    /// Cluster name, when unsealed.
    pub cluster_name: Option<String>,
    /// Cluster ID, when unsealed.
    pub cluster_id: Option<String>,
}

/// The answer of `sys/health`: the state is encoded in the HTTP status as much as in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// HTTP status: 200 active, 429 standby, 472 DR secondary, 473 performance standby,
    /// 501 not initialized, 503 sealed (Vault's defaults).
    pub status: u16,
    /// The parsed body.
    pub body: HealthResponse,
}

/// Body of `GET sys/seal-status`, also returned by `sys/unseal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SealStatus {
    /// Seal type: `shamir`, or the auto-unseal type (e.g. `static`, `transit`, `awskms`).
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub seal_type: String,
    /// Whether the server has been initialized.
    #[serde(deserialize_with = "nullable")]
    pub initialized: bool,
    /// Whether the server is sealed.
    #[serde(deserialize_with = "nullable")]
    pub sealed: bool,
    /// Key threshold: how many shares unseal (or, with `recovery_seal`, authorize).
    #[serde(deserialize_with = "nullable")]
    pub t: u32,
    /// Total number of key shares.
    #[serde(deserialize_with = "nullable")]
    pub n: u32,
    /// Shares supplied so far in the current unseal attempt.
    #[serde(deserialize_with = "nullable")]
    pub progress: u32,
    /// Identifies the current unseal attempt; empty when none is under way.
    #[serde(deserialize_with = "nullable")]
    pub nonce: String,
    /// Server version.
    #[serde(deserialize_with = "nullable")]
    pub version: String,
    /// Build date of the server, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
    /// Whether a seal migration is in progress.
    #[serde(deserialize_with = "nullable")]
    pub migration: bool,
    /// Whether `t`/`n` describe recovery keys (auto-unseal) rather than unseal keys.
    #[serde(deserialize_with = "nullable")]
    pub recovery_seal: bool,
    /// Storage backend type, e.g. `sqlite` or `inmem`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    /// Cluster name, when unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster ID, when unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

/// Body of `GET sys/leader`: high-availability state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeaderResponse {
    /// Whether the storage backend supports HA (several servers, one active).
    #[serde(deserialize_with = "nullable")]
    pub ha_enabled: bool,
    /// Whether the answering node is the active one.
    #[serde(deserialize_with = "nullable")]
    pub is_self: bool,
    /// When the active node became active (RFC 3339), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_time: Option<String>,
    /// API address of the active node.
    #[serde(deserialize_with = "nullable")]
    pub leader_address: String,
    /// Cluster address of the active node.
    #[serde(deserialize_with = "nullable")]
    pub leader_cluster_address: String,
}

/// Body of `PUT sys/init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitRequest {
    /// Number of unseal key shares to create.
    pub secret_shares: u32,
    /// Number of shares needed to unseal.
    pub secret_threshold: u32,
    /// Number of recovery key shares (auto-unseal seals only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_shares: Option<u32>,
    /// Number of recovery shares needed to authorize operations (auto-unseal seals only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<u32>,
}

impl Default for InitRequest {
    /// Five shares, three needed: the Vault CLI's defaults.
    fn default() -> Self {
        InitRequest {
            secret_shares: 5,
            secret_threshold: 3,
            recovery_shares: None,
            recovery_threshold: None,
        }
    }
}

/// Body of the answer to `PUT sys/init`: the key shares and the root token.
///
/// This is the most sensitive answer the server ever gives: `Debug` shows only counts, and the
/// keys and token are zeroized when the value is dropped.
// Defaults are per field: a struct-level default would move fields out of a `Drop` type.
#[derive(Clone, Default, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct InitResponse {
    /// Unseal key shares, hex-encoded.
    #[serde(default, deserialize_with = "nullable")]
    pub keys: Vec<String>,
    /// The same unseal key shares, base64-encoded (what the Vault CLI prints).
    #[serde(default, deserialize_with = "nullable")]
    pub keys_base64: Vec<String>,
    /// Recovery key shares, hex-encoded (auto-unseal seals).
    #[serde(default, deserialize_with = "nullable")]
    pub recovery_keys: Vec<String>,
    /// Recovery key shares, base64-encoded.
    #[serde(default, deserialize_with = "nullable")]
    pub recovery_keys_base64: Vec<String>,
    /// The initial root token.
    #[serde(default, deserialize_with = "nullable")]
    pub root_token: String,
}

impl fmt::Debug for InitResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitResponse")
            .field("keys", &format_args!("<{} redacted>", self.keys.len()))
            .field(
                "keys_base64",
                &format_args!("<{} redacted>", self.keys_base64.len()),
            )
            .field(
                "recovery_keys",
                &format_args!("<{} redacted>", self.recovery_keys.len()),
            )
            .field(
                "recovery_keys_base64",
                &format_args!("<{} redacted>", self.recovery_keys_base64.len()),
            )
            .field("root_token", &"<redacted>")
            .finish()
    }
}

/// Body of `PUT sys/unseal`. Borrowed so the key is never copied into a longer-lived value.
#[derive(Serialize)]
pub(crate) struct UnsealRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_status_accepts_vault_shapes_with_nulls_and_extras() {
        let json = r#"{
            "type": "shamir", "initialized": true, "sealed": true, "t": 3, "n": 5,
            "progress": 1, "nonce": null, "version": "1.15.2", "build_date": "2023-11-06T11:33:28Z",
            "migration": false, "recovery_seal": false, "storage_type": "raft",
            "some_future_field": {"x": 1}
        }"#;
        let status: SealStatus = serde_json::from_str(json).unwrap();
        assert_eq!(status.seal_type, "shamir");
        assert_eq!((status.t, status.n, status.progress), (3, 5, 1));
        assert_eq!(status.nonce, "");
        assert_eq!(status.storage_type.as_deref(), Some("raft"));
        assert_eq!(status.cluster_name, None);

        let minimal: SealStatus = serde_json::from_str(r#"{"sealed": false}"#).unwrap();
        assert!(!minimal.sealed);
        assert_eq!(minimal.seal_type, "");
    }

    #[test]
    fn seal_status_serializes_with_vault_field_names() {
        let status = SealStatus {
            seal_type: "shamir".into(),
            ..SealStatus::default()
        };
        let value = serde_json::to_value(&status).unwrap();
        assert_eq!(value["type"], "shamir");
        assert!(value.get("cluster_name").is_none());
    }

    #[test]
    fn init_request_omits_unset_recovery_fields() {
        let body = serde_json::to_value(InitRequest::default()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"secret_shares": 5, "secret_threshold": 3})
        );
        let body = serde_json::to_value(InitRequest {
            recovery_shares: Some(1),
            recovery_threshold: Some(1),
            ..InitRequest::default()
        })
        .unwrap();
        assert_eq!(body["recovery_shares"], 1);
        assert_eq!(body["recovery_threshold"], 1);
    }

    #[test]
    fn init_response_debug_redacts_secrets() {
        let resp: InitResponse = serde_json::from_str(
            r#"{"keys": ["abcd"], "keys_base64": ["q80="], "root_token": "hvs.secret",
                "recovery_keys": null}"#,
        )
        .unwrap();
        assert_eq!(resp.keys_base64, vec!["q80=".to_owned()]);
        assert!(resp.recovery_keys.is_empty());
        let text = format!("{resp:?}");
        assert!(
            !text.contains("hvs.secret") && !text.contains("abcd"),
            "{text}"
        );
        assert!(text.contains("<1 redacted>"), "{text}");
    }

    #[test]
    fn unseal_request_shapes() {
        let body = serde_json::to_value(UnsealRequest {
            key: Some("k"),
            reset: false,
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"key": "k"}));
        let body = serde_json::to_value(UnsealRequest {
            key: None,
            reset: true,
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"reset": true}));
    }
}
