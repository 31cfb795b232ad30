//! Stored ACL policies and the cache of compiled policy sets. A request looks up its token's
//! compiled ACL by policy set: no policy is re-read or re-parsed on the hot path. Any policy
//! change clears the compiled cache, so the next request sees it.
//!
//! A set holding `{{identity...}}` templates compiles differently for each caller with an
//! entity: those ACLs are cached per set and per [`TemplateSource::cache_key`] (the entity and
//! the identity store's version, so an identity change is seen at once), in a cache of bounded
//! size. A caller without an entity gets the set's one ACL, in which templated rules grant
//! nothing.

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

/// What `{{identity...}}` templates are filled in with: one caller's identity.
pub trait TemplateSource: Send + Sync {
    /// Equal for two callers exactly when every template fills in the same for both (the
    /// entity's id and the version of the identity data it was read from).
    fn cache_key(&self) -> &str;
    /// The value of a template parameter (`identity.entity.id`, ...), or `None` when the
    /// caller has none: the rule is then left out of the caller's ACL.
    fn value(&self, param: &str) -> Option<String>;
}

/// How many per-identity ACLs are kept before the cache starts over.
const RENDERED_MAX: usize = 4096;

/// A compiled policy set, and whether it holds templates (then a caller with an entity needs
/// its own ACL).
struct Compiled {
    acl: Arc<Acl>,
    templated: bool,
}

/// Per-identity ACLs of templated sets: identity key, then policy set.
type Rendered = HashMap<String, HashMap<Vec<String>, Arc<Acl>>>;

/// The policy store of an unsealed core (below `sys/policy/` in the barrier).
pub struct PolicyStore {
    view: View,
    parsed: RwLock<HashMap<String, Arc<Policy>>>,
    compiled: RwLock<HashMap<Vec<String>, Compiled>>,
    rendered: RwLock<Rendered>,
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
            rendered: RwLock::new(HashMap::new()),
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
        self.forget_compiled();
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
        self.forget_compiled();
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

    fn forget_compiled(&self) {
        self.compiled.write().clear();
        self.rendered.write().clear();
    }

    async fn load(&self, policies: &[String]) -> Result<Vec<Arc<Policy>>> {
        let mut loaded = Vec::with_capacity(policies.len());
        for name in policies {
            if let Some(p) = self.parsed(name).await? {
                loaded.push(p);
            }
        }
        Ok(loaded)
    }

    /// The compiled ACL of a set of policies for a caller without an entity: templated rules
    /// grant nothing. Unknown names grant nothing (as in Vault).
    pub async fn acl(&self, policies: &[String]) -> Result<Arc<Acl>> {
        Ok(self.compiled(policies).await?.0)
    }

    /// The set's ACL without identity, and whether the set holds templates.
    async fn compiled(&self, policies: &[String]) -> Result<(Arc<Acl>, bool)> {
        if policies.iter().any(|p| p == "root") {
            return Ok((self.root.clone(), false));
        }
        if policies == [WRAPPING_POLICY] {
            return Ok((self.wrapping.clone(), false));
        }
        if let Some(c) = self.compiled.read().get(policies) {
            return Ok((c.acl.clone(), c.templated));
        }
        let loaded = self.load(policies).await?;
        let templated = loaded.iter().any(|p| p.is_templated());
        let refs: Vec<&Policy> = loaded.iter().map(|p| p.as_ref()).collect();
        let acl = Arc::new(Acl::new(&refs));
        self.compiled.write().insert(
            policies.to_vec(),
            Compiled {
                acl: acl.clone(),
                templated,
            },
        );
        Ok((acl, templated))
    }

    /// The compiled ACL of a set of policies for a caller, with `{{identity...}}` templates
    /// filled in from `identity` (none: as [`Self::acl`]). A rule whose template the caller
    /// cannot fill in is left out, as in Vault.
    pub async fn acl_for(
        &self,
        policies: &[String],
        identity: Option<&dyn TemplateSource>,
    ) -> Result<Arc<Acl>> {
        let (plain, templated) = self.compiled(policies).await?;
        let Some(who) = identity.filter(|_| templated) else {
            return Ok(plain);
        };
        if let Some(acl) = self
            .rendered
            .read()
            .get(who.cache_key())
            .and_then(|sets| sets.get(policies))
        {
            return Ok(acl.clone());
        }
        let loaded = self.load(policies).await?;
        let filled: Vec<Policy> = loaded
            .iter()
            .map(|p| p.render(|param| who.value(param)))
            .collect();
        let refs: Vec<&Policy> = filled.iter().collect();
        let acl = Arc::new(Acl::new(&refs));
        let mut rendered = self.rendered.write();
        // Keys of superseded identity versions are never asked for again; starting over
        // bounds them without tracking which are stale.
        if rendered.len() >= RENDERED_MAX {
            rendered.clear();
        }
        rendered
            .entry(who.cache_key().to_owned())
            .or_default()
            .insert(policies.to_vec(), acl.clone());
        Ok(acl)
    }
}
