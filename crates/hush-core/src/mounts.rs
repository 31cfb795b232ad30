//! The mount tables (secrets engines and auth methods) and the router that finds, for a request
//! path, the longest mounted prefix. Routing reads an immutable snapshot, so the hot path takes no
//! lock; changes build a new snapshot and persist the table first.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::engine::{LogicalBackend, MountEntry, Registry};
use crate::error::{CoreError, Result};
use crate::token::random_string;
use crate::view::View;

/// A mounted engine: its entry, its instance and its storage.
pub struct Mounted {
    /// The table entry.
    pub entry: MountEntry,
    /// The engine instance.
    pub backend: Arc<dyn LogicalBackend>,
    /// The engine's storage (`logical/<uuid>/` or `auth/<uuid>/`).
    pub view: View,
    /// The full routing prefix, e.g. `secret/` or `auth/userpass/`.
    pub route: String,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredTable {
    entries: Vec<MountEntry>,
}

/// Which of the two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Secrets engines, routed at their path.
    Secrets,
    /// Auth methods, routed at `auth/<path>`.
    Auth,
}

impl TableKind {
    fn storage_key(self) -> &'static str {
        match self {
            TableKind::Secrets => "core/mounts",
            TableKind::Auth => "core/auth",
        }
    }
    fn route_prefix(self) -> &'static str {
        match self {
            TableKind::Secrets => "",
            TableKind::Auth => "auth/",
        }
    }
    fn view_prefix(self) -> &'static str {
        match self {
            TableKind::Secrets => "logical/",
            TableKind::Auth => "auth/",
        }
    }
}

/// Paths that cannot be mounted over, because the core serves them.
const RESERVED: &[&str] = &["sys/", "auth/", "cubbyhole/", "identity/", "audit/"];

/// One mount table.
pub struct MountTable {
    kind: TableKind,
    root: View,
    registry: Registry,
    routes: ArcSwap<Vec<Arc<Mounted>>>,
    change: tokio::sync::Mutex<()>,
}

/// Normalizes a mount path: no leading slash, exactly one trailing slash.
pub fn normalize_path(path: &str) -> Result<String> {
    let p = path.trim().trim_matches('/');
    if p.is_empty() {
        return Err(CoreError::bad(
            "the mount path is empty: give a path such as \"secret\"",
        ));
    }
    if p.split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(CoreError::bad(format!(
            "invalid mount path \"{path}\": segments may not be empty, \".\" or \"..\""
        )));
    }
    if p.contains(['*', '+', '?', '#', '%', ' ']) {
        return Err(CoreError::bad(format!(
            "invalid mount path \"{path}\": it may not contain '*', '+', '?', '#', '%' or spaces"
        )));
    }
    Ok(format!("{p}/"))
}

impl MountTable {
    /// Loads a table from the barrier and instantiates its engines.
    pub async fn load(kind: TableKind, root: View, registry: Registry) -> Result<Self> {
        let stored: StoredTable = root.get_json(kind.storage_key()).await?.unwrap_or_default();
        let table = MountTable {
            kind,
            root,
            registry,
            routes: ArcSwap::from_pointee(Vec::new()),
            change: tokio::sync::Mutex::new(()),
        };
        let mut routes = Vec::new();
        for entry in stored.entries {
            routes.push(table.instantiate(entry)?);
        }
        table.publish(routes);
        Ok(table)
    }

    fn instantiate(&self, entry: MountEntry) -> Result<Arc<Mounted>> {
        let backend = self.registry.create(&entry)?;
        let view = self
            .root
            .sub(&format!("{}{}/", self.kind.view_prefix(), entry.uuid));
        let route = format!("{}{}", self.kind.route_prefix(), entry.path);
        Ok(Arc::new(Mounted {
            entry,
            backend,
            view,
            route,
        }))
    }

    fn publish(&self, mut routes: Vec<Arc<Mounted>>) {
        // Longest prefix first, so the first match is the most specific mount.
        routes.sort_by(|a, b| {
            b.route
                .len()
                .cmp(&a.route.len())
                .then(a.route.cmp(&b.route))
        });
        self.routes.store(Arc::new(routes));
    }

    async fn persist(&self, routes: &[Arc<Mounted>]) -> Result<()> {
        let mut entries: Vec<MountEntry> = routes.iter().map(|m| m.entry.clone()).collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        self.root
            .put_json(self.kind.storage_key(), &StoredTable { entries })
            .await
    }

    /// The mounts, sorted by path.
    pub fn list(&self) -> Vec<Arc<Mounted>> {
        let mut v: Vec<_> = self.routes.load().iter().cloned().collect();
        v.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
        v
    }

    /// The engines this table mounts, with their mount rules.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The type names this table can mount.
    pub fn kinds(&self) -> Vec<String> {
        self.registry.kinds()
    }

    /// Finds the mount for a full request path; returns it and the path relative to it.
    pub fn route<'p>(&self, path: &'p str) -> Option<(Arc<Mounted>, &'p str)> {
        let routes = self.routes.load();
        for m in routes.iter() {
            if let Some(rel) = path.strip_prefix(m.route.as_str()) {
                return Some((m.clone(), rel));
            }
            // `secret` (no trailing slash) addresses the mount itself.
            if path.len() + 1 == m.route.len() && m.route.starts_with(path) {
                return Some((m.clone(), ""));
            }
        }
        None
    }

    /// Finds a mount by its exact path (`secret/`).
    pub fn get(&self, path: &str) -> Option<Arc<Mounted>> {
        self.routes
            .load()
            .iter()
            .find(|m| m.entry.path == path)
            .cloned()
    }

    /// Mounts a new engine.
    pub async fn mount(&self, mut entry: MountEntry) -> Result<MountEntry> {
        let _guard = self.change.lock().await;
        self.registry.normalize(&mut entry);
        entry.path = normalize_path(&entry.path)?;
        if self.kind == TableKind::Secrets && RESERVED.iter().any(|r| entry.path.starts_with(r)) {
            return Err(CoreError::bad(format!(
                "cannot mount at \"{}\": the paths sys/, auth/, cubbyhole/, identity/ and audit/ \
                 are reserved",
                entry.path
            )));
        }
        let current = self.routes.load_full();
        for m in current.iter() {
            if m.entry.path.starts_with(&entry.path) || entry.path.starts_with(&m.entry.path) {
                return Err(CoreError::bad(format!(
                    "cannot mount at \"{}\": it overlaps the existing mount \"{}\" ({})",
                    entry.path, m.entry.path, m.entry.kind
                )));
            }
        }
        entry.uuid = uuid::Uuid::new_v4().to_string();
        entry.accessor = format!(
            "{}_{}",
            entry.kind.replace('-', "_"),
            random_string(8)?.to_lowercase()
        );
        entry.created_time = crate::time::now_unix();
        let mounted = self.instantiate(entry.clone())?;
        let mut routes: Vec<_> = current.iter().cloned().collect();
        routes.push(mounted);
        self.persist(&routes).await?;
        self.publish(routes);
        Ok(entry)
    }

    /// Unmounts an engine and deletes its data.
    pub async fn unmount(&self, path: &str) -> Result<MountEntry> {
        let _guard = self.change.lock().await;
        let path = normalize_path(path)?;
        let current = self.routes.load_full();
        let Some(m) = current.iter().find(|m| m.entry.path == path).cloned() else {
            return Err(CoreError::bad(format!("no mount at \"{path}\" to disable")));
        };
        let routes: Vec<_> = current
            .iter()
            .filter(|x| x.entry.path != path)
            .cloned()
            .collect();
        // Stop routing first and persist, then delete: a crash in between leaves orphaned
        // ciphertext, never a mount whose data is half gone.
        self.persist(&routes).await?;
        self.publish(routes);
        m.view.delete_tree("").await?;
        Ok(m.entry.clone())
    }

    /// The mount with this accessor, if it is in the table.
    pub fn by_accessor(&self, accessor: &str) -> Option<Arc<Mounted>> {
        self.routes
            .load()
            .iter()
            .find(|m| m.entry.accessor == accessor)
            .cloned()
    }

    /// Moves a mount to another path, keeping its data (its storage is keyed by uuid).
    pub async fn remount(&self, from: &str, to: &str) -> Result<()> {
        let _guard = self.change.lock().await;
        let from = normalize_path(from)?;
        let to = normalize_path(to)?;
        let current = self.routes.load_full();
        let Some(m) = current.iter().find(|m| m.entry.path == from).cloned() else {
            return Err(CoreError::bad(format!("no mount at \"{from}\" to move")));
        };
        if self.kind == TableKind::Secrets && RESERVED.iter().any(|r| to.starts_with(r)) {
            return Err(CoreError::bad(format!(
                "cannot move a mount to the reserved path \"{to}\""
            )));
        }
        for x in current.iter() {
            if x.entry.path != from
                && (x.entry.path.starts_with(&to) || to.starts_with(&x.entry.path))
            {
                return Err(CoreError::bad(format!(
                    "cannot move to \"{to}\": it overlaps the existing mount \"{}\"",
                    x.entry.path
                )));
            }
        }
        let mut entry = m.entry.clone();
        entry.path = to;
        let moved = self.instantiate(entry)?;
        let mut routes: Vec<_> = current
            .iter()
            .filter(|x| x.entry.path != from)
            .cloned()
            .collect();
        routes.push(moved);
        self.persist(&routes).await?;
        self.publish(routes);
        Ok(())
    }

    /// Changes a mount's entry (tune) with `f`, then persists and re-instantiates it.
    pub async fn update<F>(&self, path: &str, f: F) -> Result<MountEntry>
    where
        F: FnOnce(&mut MountEntry) -> Result<()>,
    {
        let _guard = self.change.lock().await;
        let path = normalize_path(path)?;
        let current = self.routes.load_full();
        let Some(m) = current.iter().find(|m| m.entry.path == path).cloned() else {
            return Err(CoreError::bad(format!("no mount at \"{path}\"")));
        };
        let mut entry = m.entry.clone();
        f(&mut entry)?;
        // A tune that leaves the type and options alone keeps the backend instance: requests in
        // flight hold its locks (a KV check-and-set, the last use of a secret ID), and a new
        // instance would not see them. Backends read the rest of the entry per request.
        let updated = if entry.kind == m.entry.kind && entry.options == m.entry.options {
            Arc::new(Mounted {
                entry: entry.clone(),
                backend: Arc::clone(&m.backend),
                view: m.view.clone(),
                route: m.route.clone(),
            })
        } else {
            self.instantiate(entry.clone())?
        };
        let routes: Vec<_> = current
            .iter()
            .map(|x| {
                if x.entry.path == path {
                    updated.clone()
                } else {
                    x.clone()
                }
            })
            .collect();
        self.persist(&routes).await?;
        self.publish(routes);
        Ok(entry)
    }
}

/// Options given when mounting, as `sys/mounts/:path` receives them.
pub fn options_from_json(v: Option<&serde_json::Value>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(m)) => {
            for (k, v) in m {
                let s = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Null => continue,
                    other => {
                        return Err(CoreError::bad(format!(
                            "option \"{k}\" must be a string, got {other}"
                        )))
                    }
                };
                out.insert(k.clone(), s);
            }
        }
        Some(other) => {
            return Err(CoreError::bad(format!(
                "'options' must be an object of strings, got {other}"
            )))
        }
    }
    Ok(out)
}
