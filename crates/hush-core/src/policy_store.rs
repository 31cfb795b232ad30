//! Stored ACL policies and the cache of compiled policy sets. A request looks up its token's
//! compiled ACL by policy set: no policy is re-read or re-parsed on the hot path. Any policy
//! change clears the compiled cache, so the next request sees it.

use std::collections::HashMap;
use std::sync::Arc;

use hush_policy::{Acl, Policy, DEFAULT_POLICY};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::view::View;

/// The policy of wrapping tokens: they can unwrap and look up themselves, nothing else.
pub const WRAPPING_POLICY: &str = "response-wrapping";

/// The text of [`WRAPPING_POLICY`].
pub const WRAPPING_POLICY_TEXT: &str = r#"
path "sys/wrapping/unwrap" { capabilities = ["update"] }
path "sys/wrapping/lookup" { capabilities = ["update", "read"] }
"#;

/// What is stored for each policy: its name and the text as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// The policy's name (lowercase).
    pub name: String,
    /// The policy text (HCL or JSON), as the client sent it.
    pub policy: String,
}

/// The policy store of an unsealed core (below `sys/policy/` in the barrier).
pub struct PolicyStore {
    view: View,
    parsed: RwLock<HashMap<String, Arc<Policy>>>,
    compiled: RwLock<HashMap<Vec<String>, Arc<Acl>>>,
    root: Arc<Acl>,
    wrapping: Arc<Acl>,
}

impl PolicyStore {
    /// Opens the store and makes sure the built-in `default` policy exists.
    pub async fn open(view: View) -> Result<Self> {
        let store = PolicyStore {
            view,
            parsed: RwLock::new(HashMap::new()),
            compiled: RwLock::new(HashMap::new()),
            root: Arc::new(Acl::root()),
            wrapping: Arc::new(Acl::new(&[&hush_policy::parse(
                WRAPPING_POLICY,
                WRAPPING_POLICY_TEXT,
            )
            .map_err(|e| CoreError::Internal(format!("built-in wrapping policy: {e}")))?])),
        };
        if store.view.get("default").await?.is_none() {
            store
                .view
                .put_json(
                    "default",
                    &StoredPolicy {
                        name: "default".into(),
                        policy: DEFAULT_POLICY.into(),
                    },
                )
                .await?;
        }
        Ok(store)
    }

    /// Normalizes and validates a policy name (lowercase, as Vault does).
    pub fn name(name: &str) -> Result<String> {
        hush_policy::normalize_name(name).map_err(|e| CoreError::bad(e.to_string()))
    }

    /// Reads a stored policy. `root` has no text.
    pub async fn get(&self, name: &str) -> Result<Option<StoredPolicy>> {
        let name = Self::name(name)?;
        if name == "root" {
            return Ok(Some(StoredPolicy {
                name,
                policy: String::new(),
            }));
        }
        self.view.get_json(&name).await
    }

    /// Writes a policy after parsing it; a malformed policy changes nothing.
    pub async fn put(&self, name: &str, text: &str) -> Result<()> {
        let name = Self::name(name)?;
        if name == "root" || name == WRAPPING_POLICY {
            return Err(CoreError::bad(format!(
                "the {name} policy cannot be changed"
            )));
        }
        let parsed = hush_policy::parse(&name, text)
            .map_err(|e| CoreError::bad(format!("failed to parse policy \"{name}\": {e}")))?;
        self.view
            .put_json(
                &name,
                &StoredPolicy {
                    name: name.clone(),
                    policy: text.to_string(),
                },
            )
            .await?;
        self.parsed.write().insert(name, Arc::new(parsed));
        self.compiled.write().clear();
        Ok(())
    }

    /// Deletes a policy. `root` and `default` cannot be deleted.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let name = Self::name(name)?;
        if name == "root" || name == "default" || name == WRAPPING_POLICY {
            return Err(CoreError::bad(format!(
                "the {name} policy cannot be deleted"
            )));
        }
        self.view.delete(&name).await?;
        self.parsed.write().remove(&name);
        self.compiled.write().clear();
        Ok(())
    }

    /// All policy names, sorted, including `root`.
    pub async fn list(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .view
            .list("")
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.push("root".into());
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn parsed(&self, name: &str) -> Result<Option<Arc<Policy>>> {
        if let Some(p) = self.parsed.read().get(name).cloned() {
            return Ok(Some(p));
        }
        let Some(stored) = self.view.get_json::<StoredPolicy>(name).await? else {
            return Ok(None);
        };
        let parsed = hush_policy::parse(name, &stored.policy).map_err(|e| {
            CoreError::Internal(format!(
                "the stored policy \"{name}\" no longer parses: {e}"
            ))
        })?;
        let parsed = Arc::new(parsed);
        self.parsed.write().insert(name.to_string(), parsed.clone());
        Ok(Some(parsed))
    }

    /// The compiled ACL of a set of policies. Unknown names grant nothing (as in Vault).
    pub async fn acl(&self, policies: &[String]) -> Result<Arc<Acl>> {
        if policies.iter().any(|p| p == "root") {
            return Ok(self.root.clone());
        }
        if policies == [WRAPPING_POLICY] {
            return Ok(self.wrapping.clone());
        }
        if let Some(acl) = self.compiled.read().get(policies).cloned() {
            return Ok(acl);
        }
        let mut loaded = Vec::new();
        for name in policies {
            if let Some(p) = self.parsed(name).await? {
                loaded.push(p);
            }
        }
        let refs: Vec<&Policy> = loaded.iter().map(|p| p.as_ref()).collect();
        let acl = Arc::new(Acl::new(&refs));
        self.compiled.write().insert(policies.to_vec(), acl.clone());
        Ok(acl)
    }
}
