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

/// Audit options of a device, mirroring Vault's. (The keys a mount keeps in clear come with each
/// request: see [`HmacdData::skip`].)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HmacOptions {
    /// Vault's `log_raw`: write everything in clear text (tokens and secrets included). Only for
    /// debugging on a throw-away server.
    pub log_raw: bool,
    /// Vault's `hmac_accessor` (default true): HMAC token accessors as well as tokens.
    pub hmac_accessor: bool,
}

impl Default for HmacOptions {
    fn default() -> Self {
        Self {
            log_raw: false,
            hmac_accessor: true,
        }
    }
}

/// HMACs the `client_token` and (when `accessor`) `accessor` fields of an auth object (a
/// login's `response.auth`), as Vault does.
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
/// Empty strings stay empty, so "no token" remains visible.
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
/// HMAC'd (object values and array items at any depth; keys, numbers, booleans and nulls are
/// kept, as in Vault), except under the top-level keys in `skip` (the mount's
/// `audit_non_hmac_request_keys` / `audit_non_hmac_response_keys`), without copying the data.
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

/// Every string in `value`, at any depth, HMAC'd when serialized.
pub struct AllHmacd<'a> {
    /// The value as given.
    pub value: &'a Value,
    /// The device's salt.
    pub salt: &'a Salt,
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

    /// The rule written out plainly: every string below `skip`-less top-level keys HMAC'd.
    fn reference(v: &Value, salt: &Salt, skip: &[String], top: bool) -> Value {
        match v {
            Value::String(s) => json!(salt.hmac(s)),
            Value::Array(items) => items
                .iter()
                .map(|i| reference(i, salt, skip, false))
                .collect(),
            Value::Object(map) => map
                .iter()
                .map(|(k, child)| {
                    let kept = top && skip.contains(k);
                    let out = if kept {
                        child.clone()
                    } else {
                        reference(child, salt, skip, false)
                    };
                    (k.clone(), out)
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            other => other.clone(),
        }
    }

    #[test]
    fn streaming_hmac_matches_the_rule() {
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
        assert_eq!(streamed, reference(&data, &salt, &skip, true));
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
