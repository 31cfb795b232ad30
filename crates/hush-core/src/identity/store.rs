//! The identity store: entities, their aliases, groups and group aliases.
//!
//! Every record lives inside the barrier below `sys/identity/` (`entity/<id>`, `alias/<id>`,
//! `group/<id>`, `group-alias/<id>`), one JSON value each. At unseal the whole store is read
//! into memory, where it is indexed by name, by (mount accessor, alias name) and by
//! membership, as Vault keeps its identity store in memory: every request of a token with an
//! entity asks which groups and policies that entity has, and the answer must not cost a
//! storage read.
//!
//! Writes are serialized by one lock: a write reads the current state, decides the records it
//! changes (or refuses with a 400 that says why), stores them in one transaction, and only
//! then applies them to memory and moves the store's version on. So two requests can never
//! both create the entity of one alias, and what memory holds is always what storage holds.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::policy_store::TemplateSource;
use crate::time::now_unix;
use crate::view::{View, ViewOp};

const ENTITY_PREFIX: &str = "entity/";
const ALIAS_PREFIX: &str = "alias/";
const GROUP_PREFIX: &str = "group/";
const GROUP_ALIAS_PREFIX: &str = "group-alias/";

/// Vault's limit on the entities a group lists explicitly.
pub const MAX_GROUP_MEMBERS: usize = 512;

/// How many resolved identities are cached before the cache starts over.
const RESOLVED_MAX: usize = 16384;

/// A string map as identity records hold it (metadata).
pub type Meta = BTreeMap<String, String>;

/// An entity: one person or machine, whatever auth methods it logs in with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// A UUID.
    pub id: String,
    /// Unique; [`crate::canonical::check_name`]'s rule.
    pub name: String,
    /// Free-form metadata (templated policies can read it).
    #[serde(default)]
    pub metadata: Meta,
    /// Policies granted to every token of the entity.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Tokens of a disabled entity are refused (not revoked).
    #[serde(default)]
    pub disabled: bool,
    /// Unix seconds.
    pub creation_time: i64,
    /// Unix seconds.
    pub last_update_time: i64,
}

/// An entity alias: the entity's name in one auth method (a username, a role ID, a JWT
/// subject), unique per (mount accessor, name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityAlias {
    /// A UUID.
    pub id: String,
    /// The entity's id.
    pub canonical_id: String,
    /// The auth mount's accessor.
    pub mount_accessor: String,
    /// The name the auth method gives.
    pub name: String,
    /// Set by the auth method at each login (AppRole: the role and secret ID metadata).
    #[serde(default)]
    pub metadata: Meta,
    /// Set by operators through the API.
    #[serde(default)]
    pub custom_metadata: Meta,
    /// Unix seconds.
    pub creation_time: i64,
    /// Unix seconds.
    pub last_update_time: i64,
}

/// How a group gets its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    /// Members are listed explicitly (entities and groups).
    Internal,
    /// Members are the entities whose logins carry the group's alias (a JWT groups claim).
    External,
}

impl GroupKind {
    /// Vault's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Internal => "internal",
            GroupKind::External => "external",
        }
    }
}

/// A group of entities (and, for internal groups, of other groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// A UUID.
    pub id: String,
    /// Unique; [`crate::canonical::check_name`]'s rule.
    pub name: String,
    /// Internal or external.
    #[serde(rename = "type")]
    pub kind: GroupKind,
    /// Policies granted to every member (and to the members of member groups).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// Member entities: listed by operators (internal), or joined at login (external).
    #[serde(default)]
    pub member_entity_ids: Vec<String>,
    /// Member groups, whose members inherit this group's policies (internal only).
    #[serde(default)]
    pub member_group_ids: Vec<String>,
    /// Unix seconds.
    pub creation_time: i64,
    /// Unix seconds.
    pub last_update_time: i64,
    /// Counts the group's changes, as Vault reports it.
    #[serde(default)]
    pub modify_index: u64,
}

/// A group alias: an external group's name in one auth method (a JWT groups-claim value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupAlias {
    /// A UUID.
    pub id: String,
    /// The group's id.
    pub canonical_id: String,
    /// The auth mount's accessor.
    pub mount_accessor: String,
    /// The name, as the auth method reports group membership.
    pub name: String,
    /// Unix seconds.
    pub creation_time: i64,
    /// Unix seconds.
    pub last_update_time: i64,
}

/// One record written or removed by a write.
#[derive(Debug, Clone)]
enum Change {
    Entity(Entity),
    EntityGone(String),
    Alias(EntityAlias),
    AliasGone(String),
    Group(Group),
    GroupGone(String),
    GroupAlias(GroupAlias),
    GroupAliasGone(String),
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v)
        .map_err(|e| CoreError::Internal(format!("could not encode an identity record: {e}")))
}

impl Change {
    fn op(&self) -> Result<ViewOp> {
        Ok(match self {
            Change::Entity(e) => ViewOp::Put(format!("{ENTITY_PREFIX}{}", e.id), encode(e)?),
            Change::EntityGone(id) => ViewOp::Delete(format!("{ENTITY_PREFIX}{id}")),
            Change::Alias(a) => ViewOp::Put(format!("{ALIAS_PREFIX}{}", a.id), encode(a)?),
            Change::AliasGone(id) => ViewOp::Delete(format!("{ALIAS_PREFIX}{id}")),
            Change::Group(g) => ViewOp::Put(format!("{GROUP_PREFIX}{}", g.id), encode(g)?),
            Change::GroupGone(id) => ViewOp::Delete(format!("{GROUP_PREFIX}{id}")),
            Change::GroupAlias(a) => {
                ViewOp::Put(format!("{GROUP_ALIAS_PREFIX}{}", a.id), encode(a)?)
            }
            Change::GroupAliasGone(id) => ViewOp::Delete(format!("{GROUP_ALIAS_PREFIX}{id}")),
        })
    }
}

/// Removes `key` from `index` only when it still points at `id` (a write may hand a name
/// from one record to another).
fn unindex<K: std::hash::Hash + Eq>(index: &mut HashMap<K, String>, key: &K, id: &str) {
    if index.get(key).is_some_and(|v| v == id) {
        index.remove(key);
    }
}

fn unlink(links: &mut HashMap<String, BTreeSet<String>>, from: &str, to: &str) {
    if let Some(set) = links.get_mut(from) {
        set.remove(to);
        if set.is_empty() {
            links.remove(from);
        }
    }
}

fn link(links: &mut HashMap<String, BTreeSet<String>>, from: &str, to: &str) {
    links
        .entry(from.to_owned())
        .or_default()
        .insert(to.to_owned());
}

/// The identity store in memory, with its indexes. Read under the store's lock; changed only
/// through [`State::apply`].
#[derive(Default)]
pub struct State {
    entities: HashMap<String, Entity>,
    entity_names: HashMap<String, String>,
    aliases: HashMap<String, EntityAlias>,
    /// (mount accessor, alias name) -> alias id.
    alias_keys: HashMap<(String, String), String>,
    /// Entity id -> its alias ids.
    entity_aliases: HashMap<String, BTreeSet<String>>,
    groups: HashMap<String, Group>,
    group_names: HashMap<String, String>,
    group_aliases: HashMap<String, GroupAlias>,
    /// (mount accessor, alias name) -> group alias id.
    group_alias_keys: HashMap<(String, String), String>,
    /// Group id -> its alias id.
    group_alias_of: HashMap<String, String>,
    /// Entity id -> the groups that list it as a member.
    entity_groups: HashMap<String, BTreeSet<String>>,
    /// Group id -> the groups that list it as a member group.
    group_parents: HashMap<String, BTreeSet<String>>,
}

impl State {
    fn apply(&mut self, change: Change) {
        match change {
            Change::Entity(e) => {
                self.forget_entity(&e.id);
                self.entity_names.insert(e.name.clone(), e.id.clone());
                self.entities.insert(e.id.clone(), e);
            }
            Change::EntityGone(id) => self.forget_entity(&id),
            Change::Alias(a) => {
                self.forget_alias(&a.id);
                self.alias_keys
                    .insert((a.mount_accessor.clone(), a.name.clone()), a.id.clone());
                link(&mut self.entity_aliases, &a.canonical_id, &a.id);
                self.aliases.insert(a.id.clone(), a);
            }
            Change::AliasGone(id) => self.forget_alias(&id),
            Change::Group(g) => {
                self.forget_group(&g.id);
                self.group_names.insert(g.name.clone(), g.id.clone());
                for m in &g.member_entity_ids {
                    link(&mut self.entity_groups, m, &g.id);
                }
                for c in &g.member_group_ids {
                    link(&mut self.group_parents, c, &g.id);
                }
                self.groups.insert(g.id.clone(), g);
            }
            Change::GroupGone(id) => self.forget_group(&id),
            Change::GroupAlias(a) => {
                self.forget_group_alias(&a.id);
                self.group_alias_keys
                    .insert((a.mount_accessor.clone(), a.name.clone()), a.id.clone());
                self.group_alias_of
                    .insert(a.canonical_id.clone(), a.id.clone());
                self.group_aliases.insert(a.id.clone(), a);
            }
            Change::GroupAliasGone(id) => self.forget_group_alias(&id),
        }
    }

    fn forget_entity(&mut self, id: &str) {
        if let Some(old) = self.entities.remove(id) {
            unindex(&mut self.entity_names, &old.name, id);
        }
    }

    fn forget_alias(&mut self, id: &str) {
        if let Some(old) = self.aliases.remove(id) {
            unindex(
                &mut self.alias_keys,
                &(old.mount_accessor.clone(), old.name.clone()),
                id,
            );
            unlink(&mut self.entity_aliases, &old.canonical_id, id);
        }
    }

    fn forget_group(&mut self, id: &str) {
        if let Some(old) = self.groups.remove(id) {
            unindex(&mut self.group_names, &old.name, id);
            for m in &old.member_entity_ids {
                unlink(&mut self.entity_groups, m, id);
            }
            for c in &old.member_group_ids {
                unlink(&mut self.group_parents, c, id);
            }
        }
    }

    fn forget_group_alias(&mut self, id: &str) {
        if let Some(old) = self.group_aliases.remove(id) {
            unindex(
                &mut self.group_alias_keys,
                &(old.mount_accessor.clone(), old.name.clone()),
                id,
            );
            unindex(&mut self.group_alias_of, &old.canonical_id, id);
        }
    }

    /// An entity by id.
    pub fn entity(&self, id: &str) -> Option<&Entity> {
        self.entities.get(id)
    }

    /// An entity by name.
    pub fn entity_by_name(&self, name: &str) -> Option<&Entity> {
        self.entity_names
            .get(name)
            .and_then(|id| self.entities.get(id))
    }

    /// Every entity, in no particular order.
    pub fn entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities.values()
    }

    /// An entity alias by id.
    pub fn alias(&self, id: &str) -> Option<&EntityAlias> {
        self.aliases.get(id)
    }

    /// The entity alias of (mount accessor, name).
    pub fn alias_by_key(&self, accessor: &str, name: &str) -> Option<&EntityAlias> {
        self.alias_keys
            .get(&(accessor.to_owned(), name.to_owned()))
            .and_then(|id| self.aliases.get(id))
    }

    /// Every entity alias.
    pub fn aliases(&self) -> impl Iterator<Item = &EntityAlias> {
        self.aliases.values()
    }

    /// The aliases of an entity, sorted by id.
    pub fn aliases_of(&self, entity_id: &str) -> Vec<&EntityAlias> {
        self.entity_aliases
            .get(entity_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.aliases.get(id))
            .collect()
    }

    /// A group by id.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// A group by name.
    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.group_names
            .get(name)
            .and_then(|id| self.groups.get(id))
    }

    /// Every group.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// A group alias by id.
    pub fn group_alias(&self, id: &str) -> Option<&GroupAlias> {
        self.group_aliases.get(id)
    }

    /// The group alias of (mount accessor, name).
    pub fn group_alias_by_key(&self, accessor: &str, name: &str) -> Option<&GroupAlias> {
        self.group_alias_keys
            .get(&(accessor.to_owned(), name.to_owned()))
            .and_then(|id| self.group_aliases.get(id))
    }

    /// The alias of a group.
    pub fn alias_of_group(&self, group_id: &str) -> Option<&GroupAlias> {
        self.group_alias_of
            .get(group_id)
            .and_then(|id| self.group_aliases.get(id))
    }

    /// Every group alias.
    pub fn group_aliases(&self) -> impl Iterator<Item = &GroupAlias> {
        self.group_aliases.values()
    }

    /// The groups that list `group_id` as a member group, sorted.
    pub fn parents_of(&self, group_id: &str) -> Vec<String> {
        self.group_parents
            .get(group_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The groups of an entity: those listing it (direct), then those reached from them
    /// through member-group links (inherited), each once, sorted within each part.
    pub fn groups_of(&self, entity_id: &str) -> (Vec<String>, Vec<String>) {
        let direct: Vec<String> = self
            .entity_groups
            .get(entity_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let mut seen: BTreeSet<String> = direct.iter().cloned().collect();
        let mut inherited = BTreeSet::new();
        let mut queue: VecDeque<String> = direct.iter().cloned().collect();
        // Writes refuse cycles, but a walk over stored data must end whatever it holds.
        while let Some(g) = queue.pop_front() {
            for parent in self.group_parents.get(&g).into_iter().flatten() {
                if seen.insert(parent.clone()) {
                    inherited.insert(parent.clone());
                    queue.push_back(parent.clone());
                }
            }
        }
        (direct, inherited.into_iter().collect())
    }

    /// Whether `target` is `from` or a member group of it, at any depth.
    fn reaches(&self, from: &str, target: &str) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(g) = stack.pop() {
            if g == target {
                return true;
            }
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(group) = self.groups.get(&g) {
                stack.extend(group.member_group_ids.iter().cloned());
            }
        }
        false
    }
}

/// An entity as one request sees it: the entity, its aliases and groups, and the policies
/// they grant. Cached per entity until the next identity write.
pub struct Resolved {
    /// The entity.
    pub entity: Entity,
    /// Its aliases.
    pub aliases: Vec<EntityAlias>,
    /// Its groups, direct and inherited: id, name and metadata.
    pub groups: Vec<(String, String, Meta)>,
    /// The entity's policies and those of all its groups: sorted, without duplicates.
    pub policies: Vec<String>,
    /// The store version this was read at.
    generation: u64,
    /// `<entity id>@<generation>`: templates fill in the same for equal keys.
    key: String,
}

impl TemplateSource for Resolved {
    fn cache_key(&self) -> &str {
        &self.key
    }

    fn value(&self, param: &str) -> Option<String> {
        let nonempty = |s: &String| (!s.is_empty()).then(|| s.clone());
        let rest = param.strip_prefix("identity.")?;
        if let Some(e) = rest.strip_prefix("entity.") {
            match e {
                "id" => return nonempty(&self.entity.id),
                "name" => return nonempty(&self.entity.name),
                _ => {}
            }
            if let Some(key) = e.strip_prefix("metadata.") {
                return self.entity.metadata.get(key).and_then(nonempty);
            }
            let (accessor, field) = e.strip_prefix("aliases.")?.split_once('.')?;
            let alias = self.aliases.iter().find(|a| a.mount_accessor == accessor)?;
            return match field {
                "id" => nonempty(&alias.id),
                "name" => nonempty(&alias.name),
                _ => {
                    if let Some(key) = field.strip_prefix("metadata.") {
                        alias.metadata.get(key).and_then(nonempty)
                    } else {
                        let key = field.strip_prefix("custom_metadata.")?;
                        alias.custom_metadata.get(key).and_then(nonempty)
                    }
                }
            };
        }
        let groups = rest.strip_prefix("groups.")?;
        if let Some(g) = groups.strip_prefix("ids.") {
            let (id, field) = g.split_once('.')?;
            let (_, name, meta) = self.groups.iter().find(|(gid, _, _)| gid == id)?;
            return match field {
                "name" => nonempty(name),
                _ => meta
                    .get(field.strip_prefix("metadata.")?)
                    .and_then(nonempty),
            };
        }
        let (name, field) = groups.strip_prefix("names.")?.split_once('.')?;
        let (id, _, meta) = self.groups.iter().find(|(_, n, _)| n == name)?;
        match field {
            "id" => nonempty(id),
            _ => meta
                .get(field.strip_prefix("metadata.")?)
                .and_then(nonempty),
        }
    }
}

/// The alias a login names (see [`crate::logical::LoginAlias`]), checked.
pub struct LoginIdentity<'a> {
    /// The auth mount's accessor.
    pub accessor: &'a str,
    /// The alias name.
    pub name: &'a str,
    /// The alias metadata the method sets.
    pub metadata: &'a Meta,
    /// The group-alias names the login proves membership of (None: the method does not
    /// report groups, and external memberships stay as they are).
    pub groups: Option<&'a [String]>,
}

/// The identity store of an unsealed core.
pub struct IdentityStore {
    view: View,
    state: RwLock<State>,
    writes: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    resolved: RwLock<HashMap<String, Arc<Resolved>>>,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl IdentityStore {
    /// Opens the store below `view` (the barrier's `sys/identity/`) and reads it into memory.
    pub async fn open(view: View) -> Result<Self> {
        let mut state = State::default();
        for name in view.list(ENTITY_PREFIX).await? {
            if let Some(e) = view
                .get_json::<Entity>(&format!("{ENTITY_PREFIX}{name}"))
                .await?
            {
                state.apply(Change::Entity(e));
            }
        }
        for name in view.list(ALIAS_PREFIX).await? {
            if let Some(a) = view
                .get_json::<EntityAlias>(&format!("{ALIAS_PREFIX}{name}"))
                .await?
            {
                state.apply(Change::Alias(a));
            }
        }
        for name in view.list(GROUP_PREFIX).await? {
            if let Some(g) = view
                .get_json::<Group>(&format!("{GROUP_PREFIX}{name}"))
                .await?
            {
                state.apply(Change::Group(g));
            }
        }
        for name in view.list(GROUP_ALIAS_PREFIX).await? {
            if let Some(a) = view
                .get_json::<GroupAlias>(&format!("{GROUP_ALIAS_PREFIX}{name}"))
                .await?
            {
                state.apply(Change::GroupAlias(a));
            }
        }
        Ok(IdentityStore {
            view,
            state: RwLock::new(state),
            writes: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            resolved: RwLock::new(HashMap::new()),
        })
    }

    /// Runs `f` on the current state (reads never wait for storage).
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.read())
    }

    /// The version of the store: moves on with every write.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// One write: `decide` looks at the state and returns the records to change (or a
    /// refusal) and the answer; the changes are stored in one transaction, then applied.
    async fn write<T>(&self, decide: impl FnOnce(&State) -> Result<(Vec<Change>, T)>) -> Result<T> {
        let _one_at_a_time = self.writes.lock().await;
        let (changes, out) = decide(&self.state.read())?;
        if changes.is_empty() {
            return Ok(out);
        }
        let ops = changes.iter().map(Change::op).collect::<Result<Vec<_>>>()?;
        self.view.transaction(ops).await?;
        {
            let mut state = self.state.write();
            for c in changes {
                state.apply(c);
            }
            // Moved on while the new state is locked: a resolution that reads the state
            // also reads the version it belongs to.
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.resolved.write().clear();
        Ok(out)
    }

    /// The entity `entity_id` as a request sees it, or `None` when it does not exist.
    pub fn resolve(&self, entity_id: &str) -> Option<Arc<Resolved>> {
        let current = self.generation();
        if let Some(r) = self.resolved.read().get(entity_id) {
            if r.generation == current {
                return Some(r.clone());
            }
        }
        let resolved = {
            let state = self.state.read();
            let generation = self.generation();
            let entity = state.entity(entity_id)?.clone();
            let aliases = state.aliases_of(entity_id).into_iter().cloned().collect();
            let (direct, inherited) = state.groups_of(entity_id);
            let mut policies = entity.policies.clone();
            let mut groups = Vec::new();
            for id in direct.iter().chain(&inherited) {
                if let Some(g) = state.group(id) {
                    policies.extend(g.policies.iter().cloned());
                    groups.push((g.id.clone(), g.name.clone(), g.metadata.clone()));
                }
            }
            policies.sort();
            policies.dedup();
            // Granted by nothing else, so never through identity (writes refuse it too).
            policies.retain(|p| p != "root");
            Arc::new(Resolved {
                key: format!("{entity_id}@{generation}"),
                entity,
                aliases,
                groups,
                policies,
                generation,
            })
        };
        let mut cache = self.resolved.write();
        if cache.len() >= RESOLVED_MAX {
            cache.clear();
        }
        cache.insert(entity_id.to_owned(), resolved.clone());
        Some(resolved)
    }

    // ---- entities --------------------------------------------------------------------------

    /// Creates or updates an entity. `target` names the entity to update (by id: it must
    /// exist; by name: created when missing); without one, `fields.name` finds an entity to
    /// update, or a new one is made. Returns the entity when it was created.
    pub async fn write_entity(
        &self,
        target: EntityTarget,
        fields: EntityFields,
    ) -> Result<Option<Entity>> {
        self.write(|st| {
            let now = now_unix();
            let mut entity =
                match &target {
                    EntityTarget::Id(id) => Some(st.entity(id).cloned().ok_or_else(|| {
                        CoreError::bad(format!("entity not found from ID \"{id}\""))
                    })?),
                    EntityTarget::Name(name) => st.entity_by_name(name).cloned(),
                    EntityTarget::Body => None,
                };
            let name = match &target {
                EntityTarget::Name(name) => Some(name.clone()),
                _ => fields.name.clone(),
            };
            if let Some(name) = &name {
                match (st.entity_by_name(name), &entity) {
                    (None, _) => {}
                    (Some(by_name), None) => entity = Some(by_name.clone()),
                    (Some(by_name), Some(e)) if by_name.id == e.id => {}
                    (Some(_), Some(_)) => {
                        return Err(CoreError::bad(format!(
                            "entity name \"{name}\" is already in use by another entity"
                        )))
                    }
                }
            }
            let created = entity.is_none();
            let mut e = match entity {
                Some(e) => e,
                None => Entity {
                    id: new_id(),
                    name: match &name {
                        Some(n) => n.clone(),
                        None => free_entity_name(st)?,
                    },
                    metadata: Meta::new(),
                    policies: Vec::new(),
                    disabled: false,
                    creation_time: now,
                    last_update_time: now,
                },
            };
            if let Some(n) = name {
                e.name = n;
            }
            if let Some(p) = fields.policies {
                e.policies = p;
            }
            if let Some(m) = fields.metadata {
                e.metadata = m;
            }
            if let Some(d) = fields.disabled {
                e.disabled = d;
            }
            e.last_update_time = now;
            let out = created.then(|| e.clone());
            Ok((vec![Change::Entity(e)], out))
        })
        .await
    }

    /// Deletes entities (with their aliases, and from the groups that list them). Unknown ids
    /// are skipped. Returns how many were deleted.
    pub async fn delete_entities(&self, ids: &[String]) -> Result<usize> {
        // Bounded transactions, however long the list.
        let mut deleted = 0;
        for chunk in ids.chunks(64) {
            deleted += self
                .write(|st| {
                    let mut changes = Vec::new();
                    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
                    let mut n = 0;
                    for id in chunk {
                        if st.entity(id).is_none() {
                            continue;
                        }
                        n += 1;
                        for a in st.aliases_of(id) {
                            changes.push(Change::AliasGone(a.id.clone()));
                        }
                        for gid in st.entity_groups.get(id.as_str()).into_iter().flatten() {
                            let Some(g) =
                                groups.get(gid).cloned().or_else(|| st.group(gid).cloned())
                            else {
                                continue;
                            };
                            let mut g = g;
                            g.member_entity_ids.retain(|m| m != id);
                            touch_group(&mut g);
                            groups.insert(gid.clone(), g);
                        }
                        changes.push(Change::EntityGone(id.clone()));
                    }
                    changes.extend(groups.into_values().map(Change::Group));
                    Ok((changes, n))
                })
                .await?;
        }
        Ok(deleted)
    }

    // ---- entity aliases --------------------------------------------------------------------

    /// Creates or updates an entity alias (Vault's rules: one alias per (mount accessor, name),
    /// and per entity at most one alias of each mount). `id` names the alias to update; without
    /// it, (mount accessor, name) finds one, or a new one is made (with a new entity when no
    /// `canonical_id` is given). The mount accessor must already be checked. Returns the alias.
    pub async fn write_alias(&self, id: Option<&str>, fields: AliasFields) -> Result<EntityAlias> {
        self.write(|st| {
            let now = now_unix();
            let existing = match id {
                Some(id) => Some(st.alias(id).cloned().ok_or_else(|| {
                    CoreError::bad(format!(
                        "invalid alias ID provided: no entity alias \"{id}\""
                    ))
                })?),
                None => match (&fields.mount_accessor, &fields.name) {
                    (Some(acc), Some(name)) => st.alias_by_key(acc, name).cloned(),
                    _ => None,
                },
            };
            let mut changes = Vec::new();
            let mut alias = match existing {
                Some(a) => a,
                None => {
                    let name = fields.name.clone().ok_or_else(|| {
                        CoreError::bad("'name' is required: the alias name in the auth method")
                    })?;
                    let accessor = fields.mount_accessor.clone().ok_or_else(|| {
                        CoreError::bad(
                            "'mount_accessor' is required: the accessor of the auth method the \
                             alias belongs to (GET sys/auth lists them)",
                        )
                    })?;
                    let canonical_id = match &fields.canonical_id {
                        Some(cid) => {
                            if st.entity(cid).is_none() {
                                return Err(CoreError::bad(format!(
                                    "invalid canonical ID: no entity \"{cid}\""
                                )));
                            }
                            cid.clone()
                        }
                        None => {
                            let e = Entity {
                                id: new_id(),
                                name: free_entity_name(st)?,
                                metadata: Meta::new(),
                                policies: Vec::new(),
                                disabled: false,
                                creation_time: now,
                                last_update_time: now,
                            };
                            let id = e.id.clone();
                            changes.push(Change::Entity(e));
                            id
                        }
                    };
                    if let Some(other) = st
                        .aliases_of(&canonical_id)
                        .into_iter()
                        .find(|a| a.mount_accessor == accessor)
                    {
                        return Err(CoreError::bad(format!(
                            "alias already exists for requested entity and mount accessor: the \
                             entity has alias \"{}\" ({}) on {accessor}; an entity has at most \
                             one alias per auth method",
                            other.name, other.id
                        )));
                    }
                    let a = EntityAlias {
                        id: new_id(),
                        canonical_id,
                        mount_accessor: accessor,
                        name,
                        metadata: Meta::new(),
                        custom_metadata: fields.custom_metadata.clone().unwrap_or_default(),
                        creation_time: now,
                        last_update_time: now,
                    };
                    changes.push(Change::Alias(a.clone()));
                    return Ok((changes, a));
                }
            };
            let old = alias.clone();
            if let Some(n) = &fields.name {
                alias.name = n.clone();
            }
            if let Some(acc) = &fields.mount_accessor {
                alias.mount_accessor = acc.clone();
            }
            if let Some(cm) = &fields.custom_metadata {
                alias.custom_metadata = cm.clone();
            }
            if let Some(cid) = &fields.canonical_id {
                if st.entity(cid).is_none() {
                    return Err(CoreError::bad(format!(
                        "given 'canonical_id' is not associated with an entity: no entity \
                         \"{cid}\""
                    )));
                }
                alias.canonical_id = cid.clone();
            }
            if (&alias.mount_accessor, &alias.name) != (&old.mount_accessor, &old.name)
                && st
                    .alias_by_key(&alias.mount_accessor, &alias.name)
                    .is_some_and(|a| a.id != alias.id)
            {
                return Err(CoreError::bad(format!(
                    "alias with combination of mount accessor and name already exists: \"{}\" \
                     on {}",
                    alias.name, alias.mount_accessor
                )));
            }
            if (&alias.canonical_id, &alias.mount_accessor)
                != (&old.canonical_id, &old.mount_accessor)
            {
                if let Some(other) = st
                    .aliases_of(&alias.canonical_id)
                    .into_iter()
                    .find(|a| a.mount_accessor == alias.mount_accessor && a.id != alias.id)
                {
                    return Err(CoreError::bad(format!(
                        "the entity already has an alias for the mount accessor {} (\"{}\", \
                         {}); an entity has at most one alias per auth method",
                        alias.mount_accessor, other.name, other.id
                    )));
                }
            }
            if alias == old {
                return Ok((Vec::new(), alias));
            }
            alias.last_update_time = now;
            Ok((vec![Change::Alias(alias.clone())], alias))
        })
        .await
    }

    /// Deletes an entity alias (the entity stays). Returns whether it existed.
    pub async fn delete_alias(&self, id: &str) -> Result<bool> {
        self.write(|st| {
            Ok(match st.alias(id) {
                Some(a) => (vec![Change::AliasGone(a.id.clone())], true),
                None => (Vec::new(), false),
            })
        })
        .await
    }

    // ---- groups ----------------------------------------------------------------------------

    /// Creates or updates a group (Vault's rules: the type is fixed once set; external groups
    /// list no members; member ids must exist; no group may contain itself, at any depth).
    /// Returns the group when it was created.
    pub async fn write_group(
        &self,
        target: GroupTarget,
        fields: GroupFields,
    ) -> Result<Option<Group>> {
        self.write(|st| {
            let now = now_unix();
            let existing = match &target {
                GroupTarget::Id(id) => Some(st.group(id).cloned().ok_or_else(|| {
                    CoreError::bad(format!("invalid group ID: no group \"{id}\""))
                })?),
                GroupTarget::Name(name) => st.group_by_name(name).cloned(),
                GroupTarget::Body => None,
            };
            let name = match &target {
                GroupTarget::Name(name) => Some(name.clone()),
                _ => fields.name.clone(),
            };
            let created = existing.is_none();
            let mut g = match existing {
                Some(g) => g,
                None => Group {
                    id: new_id(),
                    name: match &name {
                        Some(n) => n.clone(),
                        None => free_group_name(st)?,
                    },
                    kind: fields.kind.unwrap_or(GroupKind::Internal),
                    policies: Vec::new(),
                    metadata: Meta::new(),
                    member_entity_ids: Vec::new(),
                    member_group_ids: Vec::new(),
                    creation_time: now,
                    last_update_time: now,
                    modify_index: 0,
                },
            };
            if let Some(kind) = fields.kind {
                if kind != g.kind {
                    return Err(CoreError::bad(format!(
                        "group type cannot be changed: the group \"{}\" is {}",
                        g.name,
                        g.kind.as_str()
                    )));
                }
            }
            if let Some(n) = name {
                if st.group_by_name(&n).is_some_and(|other| other.id != g.id) {
                    return Err(CoreError::bad(format!(
                        "group name \"{n}\" is already in use by another group"
                    )));
                }
                g.name = n;
            }
            if let Some(p) = fields.policies {
                g.policies = p;
            }
            if let Some(m) = fields.metadata {
                g.metadata = m;
            }
            if let Some(members) = fields.member_entity_ids {
                if g.kind == GroupKind::External {
                    return Err(CoreError::bad(
                        "member entities can't be set manually for external groups: their \
                         members are the entities whose logins carry the group's alias",
                    ));
                }
                if let Some(bad) = members.iter().find(|m| st.entity(m).is_none()) {
                    return Err(CoreError::bad(format!(
                        "invalid member entity ID \"{bad}\": no such entity"
                    )));
                }
                g.member_entity_ids = members;
            }
            if let Some(members) = fields.member_group_ids {
                if g.kind == GroupKind::External {
                    return Err(CoreError::bad(
                        "member groups can't be set for external groups",
                    ));
                }
                for m in &members {
                    if st.group(m).is_none() {
                        return Err(CoreError::bad(format!(
                            "invalid member group ID \"{m}\": no such group"
                        )));
                    }
                    if *m == g.id || st.reaches(m, &g.id) {
                        return Err(CoreError::bad(format!(
                            "cyclic relationship detected for member group ID \"{m}\": the \
                             group \"{}\" would contain itself",
                            g.name
                        )));
                    }
                }
                g.member_group_ids = members;
            }
            if !created && st.group(&g.id).is_some_and(|old| *old == g) {
                return Ok((Vec::new(), None));
            }
            touch_group(&mut g);
            g.last_update_time = now;
            let out = created.then(|| g.clone());
            Ok((vec![Change::Group(g)], out))
        })
        .await
    }

    /// Deletes a group, its alias, and its place in the groups that list it. Returns whether
    /// it existed.
    pub async fn delete_group(&self, id: &str) -> Result<bool> {
        self.write(|st| {
            if st.group(id).is_none() {
                return Ok((Vec::new(), false));
            }
            let mut changes = Vec::new();
            if let Some(a) = st.alias_of_group(id) {
                changes.push(Change::GroupAliasGone(a.id.clone()));
            }
            for pid in st.parents_of(id) {
                if let Some(p) = st.group(&pid) {
                    let mut p = p.clone();
                    p.member_group_ids.retain(|m| m != id);
                    touch_group(&mut p);
                    changes.push(Change::Group(p));
                }
            }
            changes.push(Change::GroupGone(id.to_owned()));
            Ok((changes, true))
        })
        .await
    }

    // ---- group aliases ---------------------------------------------------------------------

    /// Creates or updates a group alias, which only external groups have (one each). Without
    /// a `canonical_id`, a new external group is made for it, as in Vault. The mount accessor
    /// must already be checked.
    pub async fn write_group_alias(
        &self,
        id: Option<&str>,
        fields: GroupAliasFields,
    ) -> Result<GroupAlias> {
        self.write(|st| {
            let now = now_unix();
            let existing = match id {
                Some(id) => Some(st.group_alias(id).cloned().ok_or_else(|| {
                    CoreError::bad(format!("invalid group alias ID: no group alias \"{id}\""))
                })?),
                None => None,
            };
            let mut changes = Vec::new();
            if let Some(cid) = &fields.canonical_id {
                match st.group(cid) {
                    None => {
                        return Err(CoreError::bad(format!(
                            "invalid group ID given in 'canonical_id': no group \"{cid}\""
                        )))
                    }
                    Some(g) if g.kind != GroupKind::External => {
                        return Err(CoreError::bad(format!(
                            "alias can't be set on an internal group: \"{}\" is internal; \
                             group aliases map an auth method's groups to external groups",
                            g.name
                        )))
                    }
                    Some(_) => {}
                }
            }
            let mut alias = match existing {
                Some(a) => a,
                None => {
                    let name = fields.name.clone().ok_or_else(|| {
                        CoreError::bad(
                            "'name' is required: the group's name in the auth method (a \
                             groups-claim value)",
                        )
                    })?;
                    let accessor = fields.mount_accessor.clone().ok_or_else(|| {
                        CoreError::bad(
                            "'mount_accessor' is required: the accessor of the auth method the \
                             alias belongs to (GET sys/auth lists them)",
                        )
                    })?;
                    let canonical_id = match &fields.canonical_id {
                        Some(cid) => cid.clone(),
                        None => {
                            let g = Group {
                                id: new_id(),
                                name: free_group_name(st)?,
                                kind: GroupKind::External,
                                policies: Vec::new(),
                                metadata: Meta::new(),
                                member_entity_ids: Vec::new(),
                                member_group_ids: Vec::new(),
                                creation_time: now,
                                last_update_time: now,
                                modify_index: 1,
                            };
                            let id = g.id.clone();
                            changes.push(Change::Group(g));
                            id
                        }
                    };
                    GroupAlias {
                        id: new_id(),
                        canonical_id,
                        mount_accessor: accessor,
                        name,
                        creation_time: now,
                        last_update_time: now,
                    }
                }
            };
            let old = (id.is_some()).then(|| alias.clone());
            if let Some(n) = &fields.name {
                alias.name = n.clone();
            }
            if let Some(acc) = &fields.mount_accessor {
                alias.mount_accessor = acc.clone();
            }
            if let Some(cid) = &fields.canonical_id {
                alias.canonical_id = cid.clone();
            }
            if st
                .group_alias_by_key(&alias.mount_accessor, &alias.name)
                .is_some_and(|a| a.id != alias.id)
            {
                return Err(CoreError::bad(format!(
                    "combination of mount and group alias name is already in use: \"{}\" on {}",
                    alias.name, alias.mount_accessor
                )));
            }
            if let Some(other) = st
                .alias_of_group(&alias.canonical_id)
                .filter(|a| a.id != alias.id)
            {
                return Err(CoreError::bad(format!(
                    "the group already has an alias (\"{}\", {}): a group has one alias; update \
                     or delete that one",
                    other.name, other.id
                )));
            }
            if old.as_ref() == Some(&alias) {
                return Ok((Vec::new(), alias));
            }
            alias.last_update_time = now;
            changes.push(Change::GroupAlias(alias.clone()));
            Ok((changes, alias))
        })
        .await
    }

    /// Deletes a group alias (the group stays). Returns whether it existed.
    pub async fn delete_group_alias(&self, id: &str) -> Result<bool> {
        self.write(|st| {
            Ok(match st.group_alias(id) {
                Some(a) => (vec![Change::GroupAliasGone(a.id.clone())], true),
                None => (Vec::new(), false),
            })
        })
        .await
    }

    // ---- logins and mounts -----------------------------------------------------------------

    /// The entity of a login: the alias (mount accessor, name) is found or created (with a
    /// new entity named `entity_<random>`, as Vault names them), its metadata brought up to
    /// date, and, when the login reports groups, the entity's external groups of this mount
    /// made exactly those whose alias it names. Returns the entity's id; nothing is written
    /// when nothing changed.
    pub async fn login(&self, who: &LoginIdentity<'_>) -> Result<String> {
        let up_to_date = self.read(|st| {
            let alias = st.alias_by_key(who.accessor, who.name)?;
            if alias.metadata != *who.metadata {
                return None;
            }
            let entity = alias.canonical_id.clone();
            match who.groups {
                Some(names) => external_changes(st, &entity, who.accessor, names, 0)
                    .is_empty()
                    .then_some(entity),
                None => Some(entity),
            }
        });
        if let Some(entity) = up_to_date {
            return Ok(entity);
        }
        self.write(|st| {
            let now = now_unix();
            let mut changes = Vec::new();
            let entity = match st.alias_by_key(who.accessor, who.name) {
                Some(a) => {
                    if a.metadata != *who.metadata {
                        let mut a = a.clone();
                        a.metadata = who.metadata.clone();
                        a.last_update_time = now;
                        changes.push(Change::Alias(a));
                    }
                    a.canonical_id.clone()
                }
                None => {
                    let e = Entity {
                        id: new_id(),
                        name: free_entity_name(st)?,
                        metadata: Meta::new(),
                        policies: Vec::new(),
                        disabled: false,
                        creation_time: now,
                        last_update_time: now,
                    };
                    let id = e.id.clone();
                    changes.push(Change::Entity(e));
                    changes.push(Change::Alias(EntityAlias {
                        id: new_id(),
                        canonical_id: id.clone(),
                        mount_accessor: who.accessor.to_owned(),
                        name: who.name.to_owned(),
                        metadata: who.metadata.clone(),
                        custom_metadata: Meta::new(),
                        creation_time: now,
                        last_update_time: now,
                    }));
                    id
                }
            };
            if let Some(names) = who.groups {
                changes.extend(external_changes(st, &entity, who.accessor, names, now));
            }
            Ok((changes, entity))
        })
        .await
    }

    /// Forgets an auth mount that was disabled: its entity and group aliases are deleted, and
    /// entities leave the external groups those group aliases put them in. Entities stay.
    pub async fn forget_mount(&self, accessor: &str) -> Result<()> {
        self.write(|st| {
            let now = now_unix();
            let mut changes: Vec<Change> = st
                .aliases()
                .filter(|a| a.mount_accessor == accessor)
                .map(|a| Change::AliasGone(a.id.clone()))
                .collect();
            for a in st.group_aliases().filter(|a| a.mount_accessor == accessor) {
                changes.push(Change::GroupAliasGone(a.id.clone()));
                if let Some(g) = st.group(&a.canonical_id) {
                    if g.kind == GroupKind::External && !g.member_entity_ids.is_empty() {
                        let mut g = g.clone();
                        g.member_entity_ids.clear();
                        g.last_update_time = now;
                        touch_group(&mut g);
                        changes.push(Change::Group(g));
                    }
                }
            }
            Ok((changes, ()))
        })
        .await
    }
}

/// Where [`IdentityStore::write_entity`] looks for the entity to update.
pub enum EntityTarget {
    /// `identity/entity`: by the `name` field, else a new entity.
    Body,
    /// `identity/entity/id/:id`: this entity, which must exist.
    Id(String),
    /// `identity/entity/name/:name`: the entity of this name, created when missing.
    Name(String),
}

/// Where [`IdentityStore::write_group`] looks for the group to update.
pub enum GroupTarget {
    /// `identity/group` without `id` or `name`: a new group.
    Body,
    /// By id (`identity/group/id/:id`, or `id` in the body): it must exist.
    Id(String),
    /// By name (`identity/group/name/:name`, or `name` in the body): created when missing.
    Name(String),
}

/// The fields of an entity write; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct EntityFields {
    /// New name (checked).
    pub name: Option<String>,
    /// Metadata, replaced whole.
    pub metadata: Option<Meta>,
    /// Policies (checked, cleaned).
    pub policies: Option<Vec<String>>,
    /// Disabled flag.
    pub disabled: Option<bool>,
}

/// The fields of an entity-alias write.
#[derive(Debug, Default)]
pub struct AliasFields {
    /// Alias name.
    pub name: Option<String>,
    /// Auth mount accessor (checked against the auth table).
    pub mount_accessor: Option<String>,
    /// The entity the alias belongs to.
    pub canonical_id: Option<String>,
    /// Operator metadata, replaced whole.
    pub custom_metadata: Option<Meta>,
}

/// The fields of a group write.
#[derive(Debug, Default)]
pub struct GroupFields {
    /// Name (checked).
    pub name: Option<String>,
    /// Internal or external.
    pub kind: Option<GroupKind>,
    /// Policies (checked, cleaned).
    pub policies: Option<Vec<String>>,
    /// Metadata, replaced whole.
    pub metadata: Option<Meta>,
    /// Member entities, replaced whole (deduplicated).
    pub member_entity_ids: Option<Vec<String>>,
    /// Member groups, replaced whole (deduplicated).
    pub member_group_ids: Option<Vec<String>>,
}

/// The fields of a group-alias write.
#[derive(Debug, Default)]
pub struct GroupAliasFields {
    /// Alias name.
    pub name: Option<String>,
    /// Auth mount accessor (checked against the auth table).
    pub mount_accessor: Option<String>,
    /// The external group.
    pub canonical_id: Option<String>,
}

fn touch_group(g: &mut Group) {
    g.modify_index = g.modify_index.saturating_add(1);
}

/// A fresh `entity_<8 random characters>` name, as Vault makes them.
fn free_entity_name(st: &State) -> Result<String> {
    free_name(|n| st.entity_by_name(n).is_some(), "entity")
}

/// A fresh `group_<8 random characters>` name.
fn free_group_name(st: &State) -> Result<String> {
    free_name(|n| st.group_by_name(n).is_some(), "group")
}

fn free_name(taken: impl Fn(&str) -> bool, kind: &str) -> Result<String> {
    for _ in 0..16 {
        let name = format!("{kind}_{}", crate::token::random_string(8)?);
        if !taken(&name) {
            return Ok(name);
        }
    }
    Err(CoreError::Internal(format!(
        "could not find a free {kind} name"
    )))
}

/// The group records that make the entity's external groups of mount `accessor` exactly
/// those whose alias on that mount is one of `names` (Vault's refresh of external group
/// memberships at login). External groups of other mounts are left alone.
fn external_changes(
    st: &State,
    entity: &str,
    accessor: &str,
    names: &[String],
    now: i64,
) -> Vec<Change> {
    let wanted: BTreeSet<&str> = names
        .iter()
        .filter_map(|n| st.group_alias_by_key(accessor, n))
        .filter(|a| {
            st.group(&a.canonical_id)
                .is_some_and(|g| g.kind == GroupKind::External)
        })
        .map(|a| a.canonical_id.as_str())
        .collect();
    let mut changes = Vec::new();
    for gid in &wanted {
        if let Some(g) = st.group(gid) {
            if !g.member_entity_ids.iter().any(|m| m == entity) {
                let mut g = g.clone();
                g.member_entity_ids.push(entity.to_owned());
                g.last_update_time = now;
                touch_group(&mut g);
                changes.push(Change::Group(g));
            }
        }
    }
    for gid in st.entity_groups.get(entity).into_iter().flatten() {
        let Some(g) = st.group(gid) else { continue };
        let this_mount = st
            .alias_of_group(gid)
            .is_some_and(|a| a.mount_accessor == accessor);
        if g.kind == GroupKind::External && this_mount && !wanted.contains(gid.as_str()) {
            let mut g = g.clone();
            g.member_entity_ids.retain(|m| m != entity);
            g.last_update_time = now;
            touch_group(&mut g);
            changes.push(Change::Group(g));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(id: &str, name: &str) -> Entity {
        Entity {
            id: id.into(),
            name: name.into(),
            metadata: Meta::new(),
            policies: vec![format!("{name}-p")],
            disabled: false,
            creation_time: 0,
            last_update_time: 0,
        }
    }

    fn group(id: &str, members: &[&str], groups: &[&str]) -> Group {
        Group {
            id: id.into(),
            name: format!("n-{id}"),
            kind: GroupKind::Internal,
            policies: vec![format!("{id}-p")],
            metadata: Meta::new(),
            member_entity_ids: members.iter().map(|s| s.to_string()).collect(),
            member_group_ids: groups.iter().map(|s| s.to_string()).collect(),
            creation_time: 0,
            last_update_time: 0,
            modify_index: 0,
        }
    }

    #[test]
    fn indexes_follow_every_change() {
        let mut st = State::default();
        st.apply(Change::Entity(entity("e1", "alice")));
        st.apply(Change::Entity(entity("e2", "bob")));
        assert_eq!(
            st.entity_by_name("alice").map(|e| e.id.as_str()),
            Some("e1")
        );
        // A rename hands the old name back.
        st.apply(Change::Entity(entity("e1", "carol")));
        assert!(st.entity_by_name("alice").is_none());
        assert_eq!(
            st.entity_by_name("carol").map(|e| e.id.as_str()),
            Some("e1")
        );

        st.apply(Change::Group(group("g1", &["e1"], &[])));
        st.apply(Change::Group(group("g2", &[], &["g1"])));
        st.apply(Change::Group(group("g3", &[], &["g2"])));
        assert_eq!(
            st.groups_of("e1"),
            (
                vec!["g1".to_string()],
                vec!["g2".to_string(), "g3".to_string()]
            )
        );
        assert!(st.reaches("g3", "g1"));
        assert!(!st.reaches("g1", "g3"));
        // Leaving g1 leaves everything inherited through it.
        st.apply(Change::Group(group("g1", &[], &[])));
        assert_eq!(st.groups_of("e1"), (vec![], vec![]));
        st.apply(Change::GroupGone("g2".into()));
        assert!(st.parents_of("g1").is_empty());
    }

    #[test]
    fn group_walks_end_on_stored_cycles() {
        let mut st = State::default();
        st.apply(Change::Entity(entity("e1", "alice")));
        st.apply(Change::Group(group("a", &["e1"], &["b"])));
        st.apply(Change::Group(group("b", &[], &["a"])));
        let (direct, inherited) = st.groups_of("e1");
        assert_eq!(direct, ["a"]);
        assert_eq!(inherited, ["b"]);
        assert!(st.reaches("a", "b") && st.reaches("b", "a"));
    }

    #[test]
    fn template_values_come_from_the_resolved_identity() {
        let mut e = entity("e1", "alice");
        e.metadata.insert("team".into(), "payments".into());
        e.metadata.insert("empty".into(), String::new());
        let r = Resolved {
            entity: e,
            aliases: vec![EntityAlias {
                id: "a1".into(),
                canonical_id: "e1".into(),
                mount_accessor: "userpass_x".into(),
                name: "al".into(),
                metadata: Meta::from([("k".to_string(), "v".to_string())]),
                custom_metadata: Meta::from([("c".to_string(), "w".to_string())]),
                creation_time: 0,
                last_update_time: 0,
            }],
            groups: vec![(
                "g1".into(),
                "ops".into(),
                Meta::from([("site".to_string(), "eu".to_string())]),
            )],
            policies: vec![],
            generation: 0,
            key: "e1@0".into(),
        };
        let v = |p: &str| r.value(p);
        assert_eq!(v("identity.entity.id").as_deref(), Some("e1"));
        assert_eq!(v("identity.entity.name").as_deref(), Some("alice"));
        assert_eq!(
            v("identity.entity.metadata.team").as_deref(),
            Some("payments")
        );
        assert_eq!(v("identity.entity.metadata.empty"), None);
        assert_eq!(v("identity.entity.metadata.missing"), None);
        assert_eq!(
            v("identity.entity.aliases.userpass_x.id").as_deref(),
            Some("a1")
        );
        assert_eq!(
            v("identity.entity.aliases.userpass_x.name").as_deref(),
            Some("al")
        );
        assert_eq!(
            v("identity.entity.aliases.userpass_x.metadata.k").as_deref(),
            Some("v")
        );
        assert_eq!(
            v("identity.entity.aliases.userpass_x.custom_metadata.c").as_deref(),
            Some("w")
        );
        assert_eq!(v("identity.entity.aliases.other.name"), None);
        assert_eq!(v("identity.groups.ids.g1.name").as_deref(), Some("ops"));
        assert_eq!(
            v("identity.groups.ids.g1.metadata.site").as_deref(),
            Some("eu")
        );
        assert_eq!(v("identity.groups.names.ops.id").as_deref(), Some("g1"));
        assert_eq!(
            v("identity.groups.names.ops.metadata.site").as_deref(),
            Some("eu")
        );
        assert_eq!(v("identity.groups.names.dev.id"), None);
        assert_eq!(v("identity.groups.ids.g1.id"), None);
    }
}
