//! Salted HMAC of audit values, as Vault's audit devices do it.

use std::fmt;

use hush_crypto::hash::HmacKey;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The prefix Vault puts in front of every HMAC'd value; log consumers and `sys/audit-hash`
/// users rely on it.
pub const HMAC_PREFIX: &str = "hmac-sha256:";

/// A per-device HMAC-SHA256 key. [`Salt::hmac`] yields `"hmac-sha256:<hex>"` exactly as Vault's
/// audit devices (and its `sys/audit-hash` endpoint) do.
///
/// The bytes are wiped when the salt is dropped and never shown by `Debug`: anyone holding the
/// salt can confirm guesses of any HMAC'd secret offline.
pub struct Salt {
    /// Prepared once: every request HMACs several values, and re-deriving the padded key
    /// states each time cost more than the HMAC itself.
    key: HmacKey,
    len: usize,
}

impl Salt {
    /// Wraps salt bytes generated (and persisted inside the barrier) by the caller; the bytes
    /// passed in are wiped once the key is prepared.
    pub fn new(bytes: Vec<u8>) -> Self {
        let bytes = Zeroizing::new(bytes);
        Self {
            key: HmacKey::new(&bytes),
            len: bytes.len(),
        }
    }

    /// HMAC-SHA256 of `s` under this salt, formatted `"hmac-sha256:<lowercase hex>"`.
    pub fn hmac(&self, s: &str) -> String {
        let tag = self.key.sign(s.as_bytes());
        let mut out = String::with_capacity(HMAC_PREFIX.len() + 64);
        out.push_str(HMAC_PREFIX);
        hush_crypto::hash::push_hex(&mut out, &tag);
        out
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Salt")
            .field("len", &self.len)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// Replaces every string inside `value` with `salt.hmac(string)`: object values and array items,
/// recursively. Object keys are kept (they are field names, and Vault keeps them too). Numbers,
/// booleans and nulls are kept.
///
/// Subtrees under the top-level keys of `value` named in `skip` are left untouched; this is how
/// Vault's `audit_non_hmac_request_keys` / `audit_non_hmac_response_keys` mount options work (they
/// name keys of the request or response `data` object). When `value` is not an object, `skip` has
/// no effect.
pub fn hmac_strings(value: &mut Value, salt: &Salt, skip: &[String]) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if !skip.iter().any(|s| s == key) {
                    hmac_all(child, salt);
                }
            }
        }
        other => hmac_all(other, salt),
    }
}

fn hmac_all(value: &mut Value, salt: &Salt) {
    match value {
        Value::String(s) => *s = salt.hmac(s),
        Value::Array(items) => items.iter_mut().for_each(|v| hmac_all(v, salt)),
        Value::Object(map) => map.values_mut().for_each(|v| hmac_all(v, salt)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Audit options of a device and of the mount a request went to, mirroring Vault's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HmacOptions {
    /// Vault's `log_raw`: write everything in clear text (tokens and secrets included). Only for
    /// debugging on a throw-away server.
    pub log_raw: bool,
    /// Vault's `hmac_accessor` (default true): HMAC token accessors as well as tokens.
    pub hmac_accessor: bool,
    /// The mount's `audit_non_hmac_request_keys`: top-level keys of `request.data` kept in clear.
    pub non_hmac_request_keys: Vec<String>,
    /// The mount's `audit_non_hmac_response_keys`: top-level keys of `response.data` kept in clear.
    pub non_hmac_response_keys: Vec<String>,
}

impl Default for HmacOptions {
    fn default() -> Self {
        Self {
            log_raw: false,
            hmac_accessor: true,
            non_hmac_request_keys: Vec::new(),
            non_hmac_response_keys: Vec::new(),
        }
    }
}

/// HMACs the sensitive fields of a Vault-format entry in place, following Vault's rules:
///
/// - `auth.client_token`, `request.client_token`, `response.auth.client_token`,
///   `response.wrap_info.token`: always;
/// - `auth.accessor`, `request.client_token_accessor`, `response.auth.accessor`,
///   `response.wrap_info.accessor`, `response.wrap_info.wrapped_accessor`: when `hmac_accessor`;
/// - every string in `request.data` and `response.data` (see [`hmac_strings`]), except under the
///   mount's non-HMAC keys.
///
/// Other fields (time, type, ids, paths, operation, policies, error...) stay in clear, as in
/// Vault, so the log stays searchable. Empty token strings stay empty (an absent token is not a
/// secret). With `log_raw` nothing is changed.
pub fn hmac_entry(entry: &mut Value, salt: &Salt, opts: &HmacOptions) {
    if opts.log_raw {
        return;
    }
    let accessor = opts.hmac_accessor;
    hmac_auth(entry.get_mut("auth"), salt, accessor);
    if let Some(req) = entry.get_mut("request") {
        hmac_field(req, "client_token", salt, true);
        hmac_field(req, "client_token_accessor", salt, accessor);
        if let Some(data) = req.get_mut("data") {
            hmac_strings(data, salt, &opts.non_hmac_request_keys);
        }
    }
    if let Some(resp) = entry.get_mut("response") {
        hmac_auth(resp.get_mut("auth"), salt, accessor);
        if let Some(data) = resp.get_mut("data") {
            hmac_strings(data, salt, &opts.non_hmac_response_keys);
        }
        if let Some(wrap) = resp.get_mut("wrap_info") {
            hmac_field(wrap, "token", salt, true);
            hmac_field(wrap, "accessor", salt, accessor);
            hmac_field(wrap, "wrapped_accessor", salt, accessor);
        }
    }
}

/// HMACs the `client_token` and (when `accessor`) `accessor` fields of an auth object, as
/// [`hmac_entry`] does for the `auth` blocks of an entry.
pub fn hmac_auth(auth: Option<&mut Value>, salt: &Salt, accessor: bool) {
    if let Some(auth) = auth {
        hmac_field(auth, "client_token", salt, true);
        hmac_field(auth, "accessor", salt, accessor);
    }
}

fn hmac_field(parent: &mut Value, key: &str, salt: &Salt, enabled: bool) {
    if !enabled {
        return;
    }
    if let Some(Value::String(s)) = parent.get_mut(key) {
        if !s.is_empty() {
            *s = salt.hmac(s);
        }
    }
}

/// A string that serializes as its HMAC under `salt` (`None`: as itself, for `log_raw`).
/// Empty strings stay empty, as [`hmac_entry`] leaves them, so "no token" remains visible.
pub struct Hmacd<'a> {
    /// The plaintext.
    pub value: &'a str,
    /// The device's salt, or `None` when it logs raw values.
    pub salt: Option<&'a Salt>,
}

impl Serialize for Hmacd<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self.salt {
            Some(salt) if !self.value.is_empty() => ser.serialize_str(&salt.hmac(self.value)),
            _ => ser.serialize_str(self.value),
        }
    }
}

/// A request's or response's `data` object that serializes with every string inside it
/// HMAC'd, except under the top-level keys in `skip` (Vault's `audit_non_hmac_*_keys`): the
/// output [`hmac_strings`] gives, without copying the data first.
pub struct HmacdData<'a> {
    /// The data as the request or response carries it.
    pub data: &'a Map<String, Value>,
    /// The device's salt, or `None` when it logs raw values.
    pub salt: Option<&'a Salt>,
    /// Top-level keys whose values are logged as they are.
    pub skip: &'a [String],
}

impl Serialize for HmacdData<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let Some(salt) = self.salt else {
            return self.data.serialize(ser);
        };
        let mut map = ser.serialize_map(Some(self.data.len()))?;
        for (key, value) in self.data {
            if self.skip.iter().any(|s| s == key) {
                map.serialize_entry(key, value)?;
            } else {
                map.serialize_entry(key, &AllHmacd { value, salt })?;
            }
        }
        map.end()
    }
}

/// Every string in `value`, at any depth, HMAC'd.
struct AllHmacd<'a> {
    value: &'a Value,
    salt: &'a Salt,
}

impl Serialize for AllHmacd<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let salt = self.salt;
        match self.value {
            Value::String(s) => ser.serialize_str(&salt.hmac(s)),
            Value::Array(items) => {
                let mut seq = ser.serialize_seq(Some(items.len()))?;
                for value in items {
                    seq.serialize_element(&AllHmacd { value, salt })?;
                }
                seq.end()
            }
            Value::Object(obj) => {
                let mut map = ser.serialize_map(Some(obj.len()))?;
                for (key, value) in obj {
                    map.serialize_entry(key, &AllHmacd { value, salt })?;
                }
                map.end()
            }
            other => other.serialize(ser),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hmac_matches_hmac_sha256_hex_with_prefix() {
        // RFC 4231 test case 2, formatted the way Vault formats audit HMACs.
        let salt = Salt::new(b"Jefe".to_vec());
        assert_eq!(
            salt.hmac("what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn debug_redacts_salt() {
        let salt = Salt::new(b"very-secret-salt".to_vec());
        let shown = format!("{salt:?}");
        assert!(!shown.contains("very-secret-salt"), "{shown}");
        assert!(
            !shown.contains(&hex::encode(b"very-secret-salt")),
            "{shown}"
        );
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn hmac_entry_follows_vault_fields() {
        let salt = Salt::new(b"s".to_vec());
        let mut e = json!({
            "time": "2024-01-01T00:00:00Z", "type": "response",
            "auth": {"client_token": "hvs.tok", "accessor": "acc", "policies": ["root"]},
            "request": {"id": "rid", "path": "secret/data/x", "client_token": "hvs.tok",
                        "client_token_accessor": "acc", "data": {"password": "p", "ttl": 3, "cn": "a"}},
            "response": {"data": {"value": "v", "serial": "s1"},
                         "wrap_info": {"token": "wt", "accessor": "wa", "ttl": 60}},
            "error": ""
        });
        let opts = HmacOptions {
            non_hmac_request_keys: vec!["cn".into()],
            non_hmac_response_keys: vec!["serial".into()],
            ..HmacOptions::default()
        };
        hmac_entry(&mut e, &salt, &opts);
        assert_eq!(e["auth"]["client_token"], salt.hmac("hvs.tok"));
        assert_eq!(e["auth"]["accessor"], salt.hmac("acc"));
        assert_eq!(e["auth"]["policies"], json!(["root"]));
        assert_eq!(e["request"]["client_token"], salt.hmac("hvs.tok"));
        assert_eq!(e["request"]["client_token_accessor"], salt.hmac("acc"));
        assert_eq!(e["request"]["path"], "secret/data/x");
        assert_eq!(e["request"]["id"], "rid");
        assert_eq!(e["request"]["data"]["password"], salt.hmac("p"));
        assert_eq!(e["request"]["data"]["ttl"], 3);
        assert_eq!(e["request"]["data"]["cn"], "a");
        assert_eq!(e["response"]["data"]["value"], salt.hmac("v"));
        assert_eq!(e["response"]["data"]["serial"], "s1");
        assert_eq!(e["response"]["wrap_info"]["token"], salt.hmac("wt"));
        assert_eq!(e["response"]["wrap_info"]["accessor"], salt.hmac("wa"));
        assert_eq!(e["time"], "2024-01-01T00:00:00Z");
        assert_eq!(e["error"], "");
    }

    #[test]
    fn hmac_entry_respects_hmac_accessor_and_log_raw() {
        let salt = Salt::new(b"s".to_vec());
        let original = json!({"auth": {"client_token": "t", "accessor": "a"},
                              "request": {"client_token": "", "data": {"k": "v"}}});
        let mut e = original.clone();
        let opts = HmacOptions {
            hmac_accessor: false,
            ..HmacOptions::default()
        };
        hmac_entry(&mut e, &salt, &opts);
        assert_eq!(e["auth"]["client_token"], salt.hmac("t"));
        assert_eq!(e["auth"]["accessor"], "a");
        assert_eq!(e["request"]["client_token"], "");
        assert_eq!(e["request"]["data"]["k"], salt.hmac("v"));

        let mut raw = original.clone();
        let opts = HmacOptions {
            log_raw: true,
            ..HmacOptions::default()
        };
        hmac_entry(&mut raw, &salt, &opts);
        assert_eq!(raw, original);
    }

    #[test]
    fn streaming_hmac_matches_hmac_strings() {
        let salt = Salt::new(b"device salt".to_vec());
        let data = json!({
            "password": "hunter2",
            "empty": "",
            "keep": "plain",
            "nested": {"list": ["a", 1, {"b": "c"}], "n": null, "t": true},
        });
        let Value::Object(map) = &data else {
            unreachable!("a JSON object literal")
        };
        let skip = vec!["keep".to_owned()];
        let streamed = serde_json::to_value(HmacdData {
            data: map,
            salt: Some(&salt),
            skip: &skip,
        })
        .unwrap();
        let mut expected = data.clone();
        hmac_strings(&mut expected, &salt, &skip);
        assert_eq!(streamed, expected);
        assert_eq!(streamed["keep"], "plain");
        let raw = serde_json::to_value(HmacdData {
            data: map,
            salt: None,
            skip: &[],
        })
        .unwrap();
        assert_eq!(raw, data);
        let token = serde_json::to_value(Hmacd {
            value: "hvs.token",
            salt: Some(&salt),
        })
        .unwrap();
        assert_eq!(token, salt.hmac("hvs.token"));
        let none = serde_json::to_value(Hmacd {
            value: "",
            salt: Some(&salt),
        })
        .unwrap();
        assert_eq!(none, "");
    }
}
