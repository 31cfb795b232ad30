//! The records KV v2 keeps in its storage view, their keys, and how they render on the wire.
//! See the module documentation of [`crate::kv`] for the layout.

use std::collections::BTreeMap;
use std::time::Duration;

use hush_config::duration::format_duration;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::DEFAULT_MAX_VERSIONS;

/// The key of the mount-wide settings.
pub(crate) const CONFIG_KEY: &str = "config";

/// The folder holding one metadata record per secret.
pub(crate) const METADATA_PREFIX: &str = "metadata/";

/// The key of a secret's metadata record.
pub(crate) fn metadata_key(path: &str) -> String {
    format!("{METADATA_PREFIX}{path}")
}

/// The key of one version's data.
pub(crate) fn version_key(path: &str, version: u64) -> String {
    format!("versions/{path}/{version}")
}

/// What Vault reports for a disabled mount-wide `delete_version_after` (it stores -1s).
const DISABLED_DELETE_VERSION_AFTER: &str = "-1s";

/// The mount-wide settings (`<mount>/config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Config {
    /// Versions kept per secret; 0 means the default of [`DEFAULT_MAX_VERSIONS`].
    #[serde(default)]
    pub max_versions: u32,
    /// Whether every write must carry `options.cas`.
    #[serde(default)]
    pub cas_required: bool,
    /// Lifetime of new versions in nanoseconds; 0 means not set.
    #[serde(default)]
    pub delete_version_after: u64,
    /// Set by a negative `delete_version_after`: no version ever gets a deadline, whatever the
    /// secrets' own settings say.
    #[serde(default)]
    pub delete_version_after_disabled: bool,
}

impl Config {
    /// The body of `GET <mount>/config`.
    pub(crate) fn to_response(&self) -> Map<String, Value> {
        let dva = if self.delete_version_after_disabled {
            DISABLED_DELETE_VERSION_AFTER.to_string()
        } else {
            format_nanos(self.delete_version_after)
        };
        let mut m = Map::new();
        m.insert("cas_required".into(), json!(self.cas_required));
        m.insert("delete_version_after".into(), json!(dva));
        m.insert("max_versions".into(), json!(self.max_versions));
        m
    }
}

/// What is known about one version of a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct VersionMeta {
    /// Unix nanoseconds of the write that created it.
    pub created_time: i64,
    /// Unix nanoseconds from which the version counts as deleted: set by a soft delete (to the
    /// time of the delete) or at creation by `delete_version_after` (to a future time).
    #[serde(default, skip_serializing_if = "is_default")]
    pub deletion_time: Option<i64>,
    /// Whether its data was destroyed (permanently removed).
    #[serde(default, skip_serializing_if = "is_default")]
    pub destroyed: bool,
}

impl VersionMeta {
    /// Whether the version is soft-deleted or expired at `now`.
    pub(crate) fn is_deleted(&self, now: i64) -> bool {
        self.deletion_time.is_some_and(|t| t <= now)
    }

    /// Whether its data can be read at `now`.
    pub(crate) fn is_live(&self, now: i64) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }

    /// The per-version fields of the metadata endpoint.
    fn to_response(&self) -> Value {
        json!({
            "created_time": format_time(self.created_time),
            "deletion_time": self.deletion_time.map(format_time).unwrap_or_default(),
            "destroyed": self.destroyed,
        })
    }
}

/// Everything about one secret except its versions' data (`metadata/<path>`).
///
/// Fields at their default are left out when stored, and read back as the default: with ten
/// versions the record then stays under SQLite's inline payload limit (about 1,000 bytes on a
/// 4 KiB page), so updating it rewrites one page instead of a page plus an overflow page, and
/// it decodes faster. Records written in full by earlier versions read the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyMeta {
    /// Unix nanoseconds of the first write (of data or metadata).
    pub created_time: i64,
    /// Unix nanoseconds of the newest version (or of the metadata's creation).
    pub updated_time: i64,
    /// The newest version number; 0 before the first data write.
    #[serde(default)]
    pub current_version: u64,
    /// Vault's sliding-window marker: versions below it were pruned. Stays 0 until the first
    /// prune, as in Vault.
    #[serde(default, skip_serializing_if = "is_default")]
    pub oldest_version: u64,
    /// Versions kept for this secret; 0 means the mount's setting.
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_versions: u32,
    /// Whether writes to this secret must carry `options.cas`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cas_required: bool,
    /// Lifetime of new versions in nanoseconds; 0 means the mount's setting.
    #[serde(default, skip_serializing_if = "is_default")]
    pub delete_version_after: u64,
    /// User-provided description; None until set (rendered as null, like Vault).
    #[serde(default, skip_serializing_if = "is_default")]
    pub custom_metadata: Option<BTreeMap<String, String>>,
    /// Every version still known, by number.
    #[serde(default)]
    pub versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMeta {
    /// Metadata for a secret first touched at `now`.
    pub(crate) fn new(now: i64) -> Self {
        KeyMeta {
            created_time: now,
            updated_time: now,
            current_version: 0,
            oldest_version: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            versions: BTreeMap::new(),
        }
    }

    /// The number of versions to keep: the secret's own setting, else the mount's, else 10.
    pub(crate) fn effective_max_versions(&self, config: &Config) -> u64 {
        let n = if self.max_versions > 0 {
            self.max_versions
        } else if config.max_versions > 0 {
            config.max_versions
        } else {
            DEFAULT_MAX_VERSIONS
        };
        u64::from(n)
    }

    /// When a version created at `created` stops being readable: created plus the smaller of
    /// the mount's and the secret's non-zero `delete_version_after`; None if neither is set or
    /// the mount disabled the feature.
    pub(crate) fn deletion_deadline(&self, created: i64, config: &Config) -> Option<i64> {
        if config.delete_version_after_disabled {
            return None;
        }
        let after = match (config.delete_version_after, self.delete_version_after) {
            (0, 0) => return None,
            (0, own) => own,
            (mount, 0) => mount,
            (mount, own) => mount.min(own),
        };
        // Durations above i64::MAX nanoseconds cannot be parsed, and a deadline beyond the
        // representable range simply means "never" in practice.
        Some(created.saturating_add(i64::try_from(after).unwrap_or(i64::MAX)))
    }

    /// Adds the next version and slides the window of kept versions. Returns the new version's
    /// number and the versions dropped from the window, whose data must be removed from
    /// storage in the same transaction.
    pub(crate) fn add_version(&mut self, vm: VersionMeta, config: &Config) -> (u64, Vec<u64>) {
        self.current_version += 1;
        let version = self.current_version;
        self.updated_time = vm.created_time;
        self.versions.insert(version, vm);

        let max = self.effective_max_versions(config);
        let mut pruned = Vec::new();
        if self.current_version - self.oldest_version >= max {
            let cutoff = self.current_version - max;
            pruned = self.versions.range(..=cutoff).map(|(n, _)| *n).collect();
            for n in &pruned {
                self.versions.remove(n);
            }
            self.oldest_version = cutoff + 1;
        }
        (version, pruned)
    }

    /// `custom_metadata` as the wire shows it: an object, or null when never set.
    pub(crate) fn custom_metadata_value(&self) -> Value {
        match &self.custom_metadata {
            Some(m) => json!(m),
            None => Value::Null,
        }
    }

    /// The flat description of one version returned by writes, patches and reads
    /// (`created_time, custom_metadata, deletion_time, destroyed, version`).
    pub(crate) fn version_summary(&self, version: u64, vm: &VersionMeta) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("created_time".into(), json!(format_time(vm.created_time)));
        m.insert("custom_metadata".into(), self.custom_metadata_value());
        m.insert(
            "deletion_time".into(),
            json!(vm.deletion_time.map(format_time).unwrap_or_default()),
        );
        m.insert("destroyed".into(), json!(vm.destroyed));
        m.insert("version".into(), json!(version));
        m
    }

    /// The body of `GET <mount>/metadata/<path>`.
    pub(crate) fn to_response(&self) -> Map<String, Value> {
        let versions: Map<String, Value> = self
            .versions
            .iter()
            .map(|(n, vm)| (n.to_string(), vm.to_response()))
            .collect();
        let mut m = Map::new();
        m.insert("cas_required".into(), json!(self.cas_required));
        m.insert("created_time".into(), json!(format_time(self.created_time)));
        m.insert("current_version".into(), json!(self.current_version));
        m.insert("custom_metadata".into(), self.custom_metadata_value());
        m.insert(
            "delete_version_after".into(),
            json!(format_nanos(self.delete_version_after)),
        );
        m.insert("max_versions".into(), json!(self.max_versions));
        m.insert("oldest_version".into(), json!(self.oldest_version));
        m.insert("updated_time".into(), json!(format_time(self.updated_time)));
        m.insert("versions".into(), Value::Object(versions));
        m
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A duration in nanoseconds as Go prints it ("0s", "3h25m19s").
pub(crate) fn format_nanos(nanos: u64) -> String {
    format_duration(Duration::from_nanos(nanos))
}

/// Unix nanoseconds as Go's RFC 3339 with nanoseconds in UTC: up to nine fractional digits with
/// trailing zeros dropped (`2018-03-22T02:24:06.945319214Z`, `2018-03-22T02:24:06.9Z`,
/// `2018-03-22T02:24:06Z`).
pub(crate) fn format_time(nanos: i64) -> String {
    hush_config::time::rfc3339_go(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_metadata_leaves_out_defaults_and_reads_full_records() {
        let t = 1_795_412_345_678_901_234;
        let mut meta = KeyMeta::new(t);
        for v in 131..=140 {
            meta.versions.insert(
                v,
                VersionMeta {
                    created_time: t + 1_000_000 * i64::try_from(v).unwrap_or_default(),
                    deletion_time: None,
                    destroyed: false,
                },
            );
        }
        meta.current_version = 140;
        meta.oldest_version = 131;
        let stored = serde_json::to_vec(&meta).expect("encode");
        // Ten versions stay well under SQLite's ~1,000-byte inline payload, after the ~28
        // bytes of sealing and the ~70-byte key.
        assert!(stored.len() < 600, "{} bytes", stored.len());
        let text = String::from_utf8_lossy(&stored);
        assert!(!text.contains("destroyed") && !text.contains("deletion_time"));
        let back: KeyMeta = serde_json::from_slice(&stored).expect("decode");
        assert_eq!(back.versions, meta.versions);
        assert_eq!(back.current_version, 140);
        assert_eq!(back.oldest_version, 131);

        // A record written in full, as earlier releases did, reads the same.
        let full = serde_json::json!({
            "created_time": t, "updated_time": t, "current_version": 2, "oldest_version": 0,
            "max_versions": 0, "cas_required": false, "delete_version_after": 0,
            "custom_metadata": null,
            "versions": {
                "1": {"created_time": t, "deletion_time": null, "destroyed": false},
                "2": {"created_time": t, "deletion_time": t, "destroyed": true}
            }
        });
        let old: KeyMeta = serde_json::from_value(full).expect("decode full record");
        assert_eq!(old.versions[&1].deletion_time, None);
        assert!(old.versions[&2].destroyed);
        assert_eq!(old.versions[&2].deletion_time, Some(t));
        assert!(old.custom_metadata.is_none());
        // Non-default fields are kept.
        let again: KeyMeta =
            serde_json::from_slice(&serde_json::to_vec(&old).expect("encode")).expect("decode");
        assert_eq!(again.versions, old.versions);
    }

    #[test]
    fn times_render_like_go() {
        // 2018-03-22T02:24:06.945319214Z
        let t = 1_521_685_446_945_319_214;
        assert_eq!(format_time(t), "2018-03-22T02:24:06.945319214Z");
        assert_eq!(
            format_time(1_521_685_446_900_000_000),
            "2018-03-22T02:24:06.9Z"
        );
        assert_eq!(
            format_time(1_521_685_446_000_000_000),
            "2018-03-22T02:24:06Z"
        );
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn keys_of_different_secrets_never_collide() {
        assert_eq!(version_key("a", 1), "versions/a/1");
        assert_eq!(version_key("a/1", 1), "versions/a/1/1");
        assert_ne!(version_key("a", 11), version_key("a/1", 1));
        assert_eq!(metadata_key("app/db"), "metadata/app/db");
    }

    fn vm(t: i64) -> VersionMeta {
        VersionMeta {
            created_time: t,
            deletion_time: None,
            destroyed: false,
        }
    }

    #[test]
    fn window_slides_like_vault() {
        let config = Config {
            max_versions: 3,
            ..Config::default()
        };
        let mut meta = KeyMeta::new(0);
        let mut all_pruned = Vec::new();
        for i in 1..=5 {
            let (v, pruned) = meta.add_version(vm(i), &config);
            assert_eq!(v, i as u64);
            all_pruned.extend(pruned);
        }
        assert_eq!(all_pruned, vec![1, 2]);
        assert_eq!(
            meta.versions.keys().copied().collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(meta.oldest_version, 3);
        assert_eq!(meta.current_version, 5);

        // The secret's own setting wins over the mount's; lowering it prunes several at once.
        meta.max_versions = 1;
        let (_, pruned) = meta.add_version(vm(6), &config);
        assert_eq!(pruned, vec![3, 4, 5]);
        assert_eq!(meta.versions.keys().copied().collect::<Vec<_>>(), vec![6]);
        assert_eq!(meta.oldest_version, 6);
    }

    #[test]
    fn default_window_is_ten() {
        let mut meta = KeyMeta::new(0);
        for i in 1..=10 {
            meta.add_version(vm(i), &Config::default());
        }
        assert_eq!(meta.versions.len(), 10);
        let (_, pruned) = meta.add_version(vm(11), &Config::default());
        assert_eq!(pruned, vec![1]);
    }

    #[test]
    fn deadline_uses_smaller_setting() {
        let mut meta = KeyMeta::new(0);
        let mut config = Config::default();
        assert_eq!(meta.deletion_deadline(100, &config), None);
        config.delete_version_after = 50;
        assert_eq!(meta.deletion_deadline(100, &config), Some(150));
        meta.delete_version_after = 20;
        assert_eq!(meta.deletion_deadline(100, &config), Some(120));
        meta.delete_version_after = 80;
        assert_eq!(meta.deletion_deadline(100, &config), Some(150));
        config.delete_version_after = 0;
        assert_eq!(meta.deletion_deadline(100, &config), Some(180));
        config.delete_version_after_disabled = true;
        assert_eq!(meta.deletion_deadline(100, &config), None);
    }

    #[test]
    fn config_renders_disabled_like_vault() {
        let mut c = Config {
            delete_version_after: 3_600_000_000_000 * 3,
            ..Config::default()
        };
        assert_eq!(c.to_response()["delete_version_after"], json!("3h0m0s"));
        c.delete_version_after_disabled = true;
        assert_eq!(c.to_response()["delete_version_after"], json!("-1s"));
        assert_eq!(
            Config::default().to_response()["delete_version_after"],
            json!("0s")
        );
    }
}
