//! The `identity/` backend's path table and handlers: Vault's entity, entity-alias, group,
//! group-alias and lookup endpoints, with Vault's fields and answers.

use std::borrow::Cow;
use std::sync::OnceLock;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::store::{
    AliasFields, Entity, EntityAlias, EntityFields, EntityTarget, Group, GroupAlias,
    GroupAliasFields, GroupFields, GroupKind, GroupTarget, Meta, State, MAX_GROUP_MEMBERS,
};
use crate::ctx::{run, Ctx};
use crate::engine::{EngineRequest, LogicalBackend};
use crate::error::{CoreError, Result};
use crate::fields;
use crate::framework::{Field, FieldType, PathSpec, PathTable, Paths};
use crate::logical::{map, Operation, Response};
use crate::time::rfc3339;

/// The `identity/` backend (its state is the core's identity store).
pub struct IdentityBackend;

type Spec = PathSpec<IdentityBackend>;

/// Vault's limits on metadata (its custom-metadata limits, applied to every metadata map).
const MAX_META_PAIRS: usize = 64;
const MAX_META_KEY: usize = 128;
const MAX_META_VALUE: usize = 512;
/// The longest alias name accepted (usernames, role IDs, JWT subjects, service accounts).
pub(crate) const MAX_ALIAS_NAME: usize = 1024;
/// The most entity IDs one batch delete takes.
const MAX_BATCH: usize = 10_000;

const ENTITY_FIELDS: &[Field] = &[
    Field::new(
        "name",
        FieldType::String,
        "Name of the entity (letters, digits, '_', '-', '.', '@'); generated when left out.",
    ),
    Field::new(
        "id",
        FieldType::String,
        "ID of an existing entity to update.",
    ),
    Field::new(
        "metadata",
        FieldType::Any,
        "Metadata: a map of strings (or a list of key=value strings).",
    ),
    Field::new(
        "policies",
        FieldType::Strings,
        "Policies granted to every token of the entity.",
    ),
    Field::new(
        "disabled",
        FieldType::Bool,
        "Whether the entity's tokens are refused (they are not revoked).",
    ),
];

const ALIAS_FIELDS: &[Field] = &[
    Field::new(
        "name",
        FieldType::String,
        "The alias name: the entity's name in the auth method (a username, a role ID).",
    ),
    Field::new(
        "id",
        FieldType::String,
        "ID of an existing alias to update.",
    ),
    Field::new(
        "canonical_id",
        FieldType::String,
        "The entity the alias belongs to; a new entity is created when left out.",
    ),
    Field::new(
        "entity_id",
        FieldType::String,
        "The older name of canonical_id.",
    ),
    Field::new(
        "mount_accessor",
        FieldType::String,
        "Accessor of the auth method the alias belongs to.",
    ),
    Field::new(
        "custom_metadata",
        FieldType::Any,
        "Metadata set by operators: a map of strings.",
    ),
];

const GROUP_FIELDS: &[Field] = &[
    Field::new("name", FieldType::String, "Name of the group."),
    Field::new(
        "id",
        FieldType::String,
        "ID of an existing group to update.",
    ),
    Field::new(
        "type",
        FieldType::String,
        "\"internal\" (members listed here, the default) or \"external\" (members from an \
         auth method's groups).",
    ),
    Field::new(
        "metadata",
        FieldType::Any,
        "Metadata: a map of strings (or a list of key=value strings).",
    ),
    Field::new(
        "policies",
        FieldType::Strings,
        "Policies granted to the group's members.",
    ),
    Field::new(
        "member_entity_ids",
        FieldType::Strings,
        "Member entities (internal groups).",
    ),
    Field::new(
        "member_group_ids",
        FieldType::Strings,
        "Member groups, whose members inherit this group's policies (internal groups).",
    ),
];

const GROUP_ALIAS_FIELDS: &[Field] = &[
    Field::new(
        "name",
        FieldType::String,
        "The group's name in the auth method (a JWT groups-claim value).",
    ),
    Field::new(
        "id",
        FieldType::String,
        "ID of an existing group alias to update.",
    ),
    Field::new(
        "mount_accessor",
        FieldType::String,
        "Accessor of the auth method the alias belongs to.",
    ),
    Field::new(
        "canonical_id",
        FieldType::String,
        "The external group; a new one is created when left out.",
    ),
];

const LOOKUP_FIELDS: &[Field] = &[
    Field::new("name", FieldType::String, "Name to look up."),
    Field::new("id", FieldType::String, "ID to look up."),
    Field::new("alias_id", FieldType::String, "ID of an alias."),
    Field::new(
        "alias_name",
        FieldType::String,
        "Name of an alias (with alias_mount_accessor).",
    ),
    Field::new(
        "alias_mount_accessor",
        FieldType::String,
        "Mount accessor of the alias (with alias_name).",
    ),
];

const BATCH_FIELDS: &[Field] = &[Field::new(
    "entity_ids",
    FieldType::Strings,
    "The entities to delete.",
)];

fn specs() -> Vec<Spec> {
    use Operation::{Delete, List, Read, Update};
    vec![
        Spec::new(
            "entity",
            "Create an entity, or update one named by `id` or `name`.",
        )
        .op(Update, "Create or update an entity.", |_, req, _| {
            run(req, entity_create)
        })
        .fields(ENTITY_FIELDS),
        Spec::new("entity/id", "The entities, by id.").op(List, "List entity IDs.", |_, req, _| {
            run(req, |ctx| list_entities(ctx, false))
        }),
        Spec::new("entity/id/{id}", "An entity, by id.")
            .op(Read, "Read an entity.", |_, req, c| {
                run(req, move |ctx| entity_by_id(ctx, c.get("id")))
            })
            .op(Update, "Update an entity.", |_, req, c| {
                run(req, move |ctx| entity_by_id(ctx, c.get("id")))
            })
            .op(
                Delete,
                "Delete an entity, its aliases and its group memberships.",
                |_, req, c| run(req, move |ctx| entity_by_id(ctx, c.get("id"))),
            )
            .fields(&ENTITY_FIELDS[..1])
            .fields(&ENTITY_FIELDS[2..]),
        Spec::new("entity/name", "The entities, by name.").op(
            List,
            "List entity names.",
            |_, req, _| run(req, |ctx| list_entities(ctx, true)),
        ),
        Spec::new("entity/name/{name}", "An entity, by name.")
            .op(Read, "Read an entity.", |_, req, c| {
                run(req, move |ctx| entity_by_name(ctx, c.get("name")))
            })
            .op(
                Update,
                "Create or update the entity of this name.",
                |_, req, c| run(req, move |ctx| entity_by_name(ctx, c.get("name"))),
            )
            .op(
                Delete,
                "Delete an entity, its aliases and its group memberships.",
                |_, req, c| run(req, move |ctx| entity_by_name(ctx, c.get("name"))),
            )
            .fields(&ENTITY_FIELDS[2..]),
        Spec::new("entity/batch-delete", "Delete several entities at once.")
            .op(Update, "Delete entities.", |_, req, _| {
                run(req, entity_batch_delete)
            })
            .fields(BATCH_FIELDS),
        Spec::new(
            "entity-alias",
            "Create an entity alias, or update one named by `id` or by (mount_accessor, name).",
        )
        .op(Update, "Create or update an entity alias.", |_, req, _| {
            run(req, |ctx| alias_write(ctx, None))
        })
        .fields(ALIAS_FIELDS),
        Spec::new("entity-alias/id", "The entity aliases, by id.").op(
            List,
            "List entity alias IDs.",
            |_, req, _| run(req, list_aliases),
        ),
        Spec::new("entity-alias/id/{id}", "An entity alias, by id.")
            .op(Read, "Read an entity alias.", |_, req, c| {
                run(req, move |ctx| alias_by_id(ctx, c.get("id")))
            })
            .op(Update, "Update an entity alias.", |_, req, c| {
                run(req, move |ctx| alias_by_id(ctx, c.get("id")))
            })
            .op(Delete, "Delete an entity alias.", |_, req, c| {
                run(req, move |ctx| alias_by_id(ctx, c.get("id")))
            })
            .fields(&ALIAS_FIELDS[..1])
            .fields(&ALIAS_FIELDS[2..]),
        Spec::new(
            "group",
            "Create a group, or update one named by `id` or `name`.",
        )
        .op(Update, "Create or update a group.", |_, req, _| {
            run(req, group_create)
        })
        .fields(GROUP_FIELDS),
        Spec::new("group/id", "The groups, by id.").op(List, "List group IDs.", |_, req, _| {
            run(req, |ctx| list_groups(ctx, false))
        }),
        Spec::new("group/id/{id}", "A group, by id.")
            .op(Read, "Read a group.", |_, req, c| {
                run(req, move |ctx| group_by_id(ctx, c.get("id")))
            })
            .op(Update, "Update a group.", |_, req, c| {
                run(req, move |ctx| group_by_id(ctx, c.get("id")))
            })
            .op(Delete, "Delete a group and its alias.", |_, req, c| {
                run(req, move |ctx| group_by_id(ctx, c.get("id")))
            })
            .fields(&GROUP_FIELDS[..1])
            .fields(&GROUP_FIELDS[2..]),
        Spec::new("group/name", "The groups, by name.").op(
            List,
            "List group names.",
            |_, req, _| run(req, |ctx| list_groups(ctx, true)),
        ),
        Spec::new("group/name/{name}", "A group, by name.")
            .op(Read, "Read a group.", |_, req, c| {
                run(req, move |ctx| group_by_name(ctx, c.get("name")))
            })
            .op(
                Update,
                "Create or update the group of this name.",
                |_, req, c| run(req, move |ctx| group_by_name(ctx, c.get("name"))),
            )
            .op(Delete, "Delete a group and its alias.", |_, req, c| {
                run(req, move |ctx| group_by_name(ctx, c.get("name")))
            })
            .fields(&GROUP_FIELDS[2..]),
        Spec::new(
            "group-alias",
            "Create a group alias (external groups only), or update one named by `id`.",
        )
        .op(Update, "Create or update a group alias.", |_, req, _| {
            run(req, |ctx| group_alias_write(ctx, None))
        })
        .fields(GROUP_ALIAS_FIELDS),
        Spec::new("group-alias/id", "The group aliases, by id.").op(
            List,
            "List group alias IDs.",
            |_, req, _| run(req, list_group_aliases),
        ),
        Spec::new("group-alias/id/{id}", "A group alias, by id.")
            .op(Read, "Read a group alias.", |_, req, c| {
                run(req, move |ctx| group_alias_by_id(ctx, c.get("id")))
            })
            .op(Update, "Update a group alias.", |_, req, c| {
                run(req, move |ctx| group_alias_by_id(ctx, c.get("id")))
            })
            .op(Delete, "Delete a group alias.", |_, req, c| {
                run(req, move |ctx| group_alias_by_id(ctx, c.get("id")))
            })
            .fields(&GROUP_ALIAS_FIELDS[..1])
            .fields(&GROUP_ALIAS_FIELDS[2..]),
        Spec::new(
            "lookup/entity",
            "Find an entity by name, id, alias_id, or alias_name with alias_mount_accessor.",
        )
        .op(Update, "Look up an entity.", |_, req, _| {
            run(req, |ctx| lookup(ctx, false))
        })
        .fields(LOOKUP_FIELDS),
        Spec::new(
            "lookup/group",
            "Find a group by name, id, alias_id, or alias_name with alias_mount_accessor.",
        )
        .op(Update, "Look up a group.", |_, req, _| {
            run(req, |ctx| lookup(ctx, true))
        })
        .fields(LOOKUP_FIELDS),
    ]
}

fn paths() -> &'static Paths<IdentityBackend> {
    static PATHS: OnceLock<Paths<IdentityBackend>> = OnceLock::new();
    PATHS.get_or_init(|| Paths::new("the identity store", "", specs()))
}

#[async_trait]
impl LogicalBackend for IdentityBackend {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        paths().handle(self, req).await
    }

    /// Entity and group names in paths follow the one naming rule (case-sensitive).
    fn canonical_path<'a>(&self, rel: Cow<'a, str>) -> Result<Cow<'a, str>> {
        let rel = crate::canonical::name_after(rel, "entity/name/", "entity", false)?;
        crate::canonical::name_after(rel, "group/name/", "group", false)
    }

    fn paths(&self) -> Option<&dyn PathTable> {
        Some(paths())
    }
}

// ---- field readers -------------------------------------------------------------------------

fn not_found() -> CoreError {
    CoreError::NotFound(String::new())
}

/// An optional string field; an empty string counts as absent, as Vault's `GetOk` reads it.
fn opt(data: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    Ok(fields::string(data, field)?.filter(|s| !s.is_empty()))
}

fn opt_name(data: &Map<String, Value>, field: &str, kind: &str) -> Result<Option<String>> {
    let name = opt(data, field)?;
    if let Some(n) = &name {
        crate::canonical::check_name(kind, n)?;
    }
    Ok(name)
}

/// An alias name: anything the auth method may call a user (a JWT subject, a Kubernetes
/// `namespace/name`), but not empty, not huge and without control characters.
pub(crate) fn check_alias_name(name: &str) -> Result<()> {
    if name.len() > MAX_ALIAS_NAME {
        return Err(CoreError::bad(format!(
            "the alias name is too long ({} bytes): at most {MAX_ALIAS_NAME}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::bad(
            "the alias name may not contain control characters",
        ));
    }
    Ok(())
}

fn opt_alias_name(data: &Map<String, Value>) -> Result<Option<String>> {
    let name = opt(data, "name")?;
    if let Some(n) = &name {
        check_alias_name(n)?;
    }
    Ok(name)
}

/// A metadata map: an object of strings (or that object as JSON text), or Vault's key=value
/// strings (a list, or one comma-separated string), within Vault's limits.
fn metadata(data: &Map<String, Value>, field: &str) -> Result<Option<Meta>> {
    let pairs = |items: &mut dyn Iterator<Item = &str>| -> Result<Meta> {
        let mut out = Meta::new();
        for item in items {
            let Some((k, v)) = item.split_once('=') else {
                return Err(CoreError::bad(format!(
                    "'{field}': \"{}\" is not a key=value pair",
                    item.chars().take(64).collect::<String>()
                )));
            };
            out.insert(k.trim().to_owned(), v.to_owned());
        }
        Ok(out)
    };
    let meta = match fields::get(data, field) {
        None => return Ok(None),
        Some(Value::Array(items)) => {
            let mut strs = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => strs.push(s.as_str()),
                    other => {
                        return Err(fields::invalid(
                            field,
                            "a map of strings or a list of key=value strings",
                            other,
                        ))
                    }
                }
            }
            pairs(&mut strs.into_iter())?
        }
        Some(Value::String(s)) if !s.trim().is_empty() && !s.trim_start().starts_with('{') => {
            pairs(&mut s.split(',').map(str::trim).filter(|p| !p.is_empty()))?
        }
        Some(_) => fields::string_map(data, field)?.unwrap_or_default(),
    };
    check_metadata(field, &meta)?;
    Ok(Some(meta))
}

fn check_metadata(field: &str, meta: &Meta) -> Result<()> {
    if meta.len() > MAX_META_PAIRS {
        return Err(CoreError::bad(format!(
            "'{field}' has {} keys: at most {MAX_META_PAIRS}",
            meta.len()
        )));
    }
    for (k, v) in meta {
        if k.is_empty() || k.len() > MAX_META_KEY || k.chars().any(char::is_control) {
            return Err(CoreError::bad(format!(
                "'{field}': keys must be 1 to {MAX_META_KEY} bytes without control characters"
            )));
        }
        if v.len() > MAX_META_VALUE {
            return Err(CoreError::bad(format!(
                "'{field}': the value of \"{k}\" is {} bytes: at most {MAX_META_VALUE}",
                v.len()
            )));
        }
    }
    Ok(())
}

/// Policy names for an entity or group: valid names, lower-cased, sorted, once each; never
/// `root`, which Vault refuses through identity too.
fn policies(data: &Map<String, Value>) -> Result<Option<Vec<String>>> {
    let Some(list) = fields::strings(data, "policies")? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let name = crate::policy_store::PolicyStore::name(&p)?;
        if name == "root" {
            return Err(CoreError::bad(
                "policies cannot contain root: the root policy is only for root tokens",
            ));
        }
        out.push(name);
    }
    out.sort();
    out.dedup();
    Ok(Some(out))
}

/// A list of ids, sorted and deduplicated.
fn ids(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    Ok(fields::strings(data, field)?.map(|mut v| {
        v.sort();
        v.dedup();
        v
    }))
}

fn group_kind(data: &Map<String, Value>) -> Result<Option<GroupKind>> {
    match opt(data, "type")?.as_deref() {
        None => Ok(None),
        Some("internal") => Ok(Some(GroupKind::Internal)),
        Some("external") => Ok(Some(GroupKind::External)),
        Some(other) => Err(CoreError::bad(format!(
            "invalid group type \"{}\": use \"internal\" or \"external\"",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

/// Checks that an accessor belongs to an enabled auth method.
fn check_accessor(ctx: &Ctx<'_>, accessor: &str) -> Result<()> {
    if ctx.un.auth.by_accessor(accessor).is_none() {
        return Err(CoreError::bad(format!(
            "invalid mount accessor \"{}\": no enabled auth method has it (GET sys/auth lists \
             each method's accessor)",
            accessor.chars().take(128).collect::<String>()
        )));
    }
    Ok(())
}

fn opt_accessor(ctx: &Ctx<'_>, field: &str) -> Result<Option<String>> {
    let acc = opt(&ctx.req.data, field)?;
    if let Some(a) = &acc {
        check_accessor(ctx, a)?;
    }
    Ok(acc)
}

// ---- answers -------------------------------------------------------------------------------

/// The auth mount of an accessor: its path (`auth/userpass/`) and type.
fn mount_fields(ctx: &Ctx<'_>, accessor: &str, out: &mut Map<String, Value>) {
    if let Some(m) = ctx.un.auth.by_accessor(accessor) {
        out.insert("mount_path".into(), json!(m.route));
        out.insert("mount_type".into(), json!(m.entry.kind));
    }
}

fn meta_json(m: &Meta) -> Value {
    if m.is_empty() {
        Value::Null
    } else {
        json!(m)
    }
}

fn alias_json(ctx: &Ctx<'_>, a: &EntityAlias) -> Map<String, Value> {
    let mut out = map(json!({
        "id": a.id,
        "canonical_id": a.canonical_id,
        "mount_accessor": a.mount_accessor,
        "name": a.name,
        "metadata": meta_json(&a.metadata),
        "custom_metadata": meta_json(&a.custom_metadata),
        "merged_from_canonical_ids": Value::Null,
        "namespace_id": "root",
        "local": false,
        "creation_time": rfc3339(a.creation_time),
        "last_update_time": rfc3339(a.last_update_time),
    }));
    mount_fields(ctx, &a.mount_accessor, &mut out);
    out
}

fn entity_json(ctx: &Ctx<'_>, st: &State, e: &Entity) -> Map<String, Value> {
    let aliases: Vec<Value> = st
        .aliases_of(&e.id)
        .into_iter()
        .map(|a| Value::Object(alias_json(ctx, a)))
        .collect();
    let (direct, inherited) = st.groups_of(&e.id);
    let all: Vec<&String> = direct.iter().chain(&inherited).collect();
    map(json!({
        "id": e.id,
        "name": e.name,
        "metadata": meta_json(&e.metadata),
        "policies": e.policies,
        "disabled": e.disabled,
        "namespace_id": "root",
        "creation_time": rfc3339(e.creation_time),
        "last_update_time": rfc3339(e.last_update_time),
        "aliases": aliases,
        "direct_group_ids": direct,
        "inherited_group_ids": inherited,
        "group_ids": all,
        "merged_entity_ids": Value::Null,
        "bucket_key": "",
    }))
}

fn group_alias_json(ctx: &Ctx<'_>, a: &GroupAlias) -> Map<String, Value> {
    let mut out = map(json!({
        "id": a.id,
        "canonical_id": a.canonical_id,
        "mount_accessor": a.mount_accessor,
        "name": a.name,
        "metadata": Value::Null,
        "merged_from_canonical_ids": Value::Null,
        "namespace_id": "root",
        "creation_time": rfc3339(a.creation_time),
        "last_update_time": rfc3339(a.last_update_time),
    }));
    mount_fields(ctx, &a.mount_accessor, &mut out);
    out
}

fn group_json(ctx: &Ctx<'_>, st: &State, g: &Group) -> Map<String, Value> {
    let alias = st
        .alias_of_group(&g.id)
        .map(|a| Value::Object(group_alias_json(ctx, a)))
        .unwrap_or_else(|| json!({}));
    let list = |v: &[String]| {
        if v.is_empty() {
            Value::Null
        } else {
            json!(v)
        }
    };
    map(json!({
        "id": g.id,
        "name": g.name,
        "type": g.kind.as_str(),
        "policies": g.policies,
        "metadata": meta_json(&g.metadata),
        "member_entity_ids": g.member_entity_ids,
        "member_group_ids": list(&g.member_group_ids),
        "parent_group_ids": list(&st.parents_of(&g.id)),
        "alias": alias,
        "namespace_id": "root",
        "creation_time": rfc3339(g.creation_time),
        "last_update_time": rfc3339(g.last_update_time),
        "modify_index": g.modify_index,
    }))
}

/// A LIST answer: 404 with no keys, as Vault answers an empty list.
fn keys(mut keys: Vec<String>, key_info: Option<Map<String, Value>>) -> Result<Response> {
    if keys.is_empty() {
        return Err(not_found());
    }
    keys.sort();
    let mut data = map(json!({ "keys": keys }));
    if let Some(info) = key_info {
        data.insert("key_info".into(), Value::Object(info));
    }
    Ok(Response::data(data))
}

fn ids_answer(id: &str, canonical_id: &str) -> Response {
    Response::data(map(json!({ "id": id, "canonical_id": canonical_id })))
}

// ---- entities ------------------------------------------------------------------------------

fn entity_fields(ctx: &Ctx<'_>, with_name: bool) -> Result<EntityFields> {
    let data = &ctx.req.data;
    Ok(EntityFields {
        name: if with_name {
            opt_name(data, "name", "entity")?
        } else {
            None
        },
        metadata: metadata(data, "metadata")?,
        policies: policies(data)?,
        disabled: fields::bool(data, "disabled")?,
    })
}

/// The answer to an entity write: the new entity's id and name, or 204 for an update.
fn entity_written(created: Option<Entity>) -> Response {
    match created {
        Some(e) => Response::data(map(json!({
            "id": e.id,
            "name": e.name,
            "aliases": Value::Null,
        }))),
        None => Response::no_content(),
    }
}

async fn entity_create(ctx: &Ctx<'_>) -> Result<Response> {
    let target = match opt(&ctx.req.data, "id")? {
        Some(id) => EntityTarget::Id(id),
        None => EntityTarget::Body,
    };
    let created = ctx
        .un
        .identity
        .write_entity(target, entity_fields(ctx, true)?)
        .await?;
    Ok(entity_written(created))
}

async fn entity_by_id(ctx: &Ctx<'_>, id: &str) -> Result<Response> {
    let store = &ctx.un.identity;
    match ctx.req.operation {
        Operation::Read => store.read(|st| match st.entity(id) {
            Some(e) => Ok(Response::data(entity_json(ctx, st, e))),
            None => Err(not_found()),
        }),
        Operation::Delete => {
            store.delete_entities(&[id.to_owned()]).await?;
            Ok(Response::no_content())
        }
        _ => {
            let fields = entity_fields(ctx, true)?;
            let created = store
                .write_entity(EntityTarget::Id(id.to_owned()), fields)
                .await?;
            Ok(entity_written(created))
        }
    }
}

async fn entity_by_name(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    let store = &ctx.un.identity;
    match ctx.req.operation {
        Operation::Read => store.read(|st| match st.entity_by_name(name) {
            Some(e) => Ok(Response::data(entity_json(ctx, st, e))),
            None => Err(not_found()),
        }),
        Operation::Delete => {
            if let Some(id) = store.read(|st| st.entity_by_name(name).map(|e| e.id.clone())) {
                store.delete_entities(&[id]).await?;
            }
            Ok(Response::no_content())
        }
        _ => {
            let fields = entity_fields(ctx, false)?;
            let created = store
                .write_entity(EntityTarget::Name(name.to_owned()), fields)
                .await?;
            Ok(entity_written(created))
        }
    }
}

async fn list_entities(ctx: &Ctx<'_>, by_name: bool) -> Result<Response> {
    ctx.un.identity.read(|st| {
        if by_name {
            return keys(st.entities().map(|e| e.name.clone()).collect(), None);
        }
        let mut info = Map::new();
        for e in st.entities() {
            let aliases: Vec<Value> = st
                .aliases_of(&e.id)
                .into_iter()
                .map(|a| {
                    let mut out = map(json!({
                        "id": a.id,
                        "canonical_id": a.canonical_id,
                        "mount_accessor": a.mount_accessor,
                        "name": a.name,
                        "custom_metadata": meta_json(&a.custom_metadata),
                    }));
                    mount_fields(ctx, &a.mount_accessor, &mut out);
                    Value::Object(out)
                })
                .collect();
            info.insert(e.id.clone(), json!({ "name": e.name, "aliases": aliases }));
        }
        keys(st.entities().map(|e| e.id.clone()).collect(), Some(info))
    })
}

async fn entity_batch_delete(ctx: &Ctx<'_>) -> Result<Response> {
    let ids = fields::strings(&ctx.req.data, "entity_ids")?.unwrap_or_default();
    if ids.is_empty() {
        return Err(CoreError::bad(
            "'entity_ids' is required: the IDs of the entities to delete",
        ));
    }
    if ids.len() > MAX_BATCH {
        return Err(CoreError::bad(format!(
            "'entity_ids' lists {} entities: at most {MAX_BATCH} per request",
            ids.len()
        )));
    }
    ctx.un.identity.delete_entities(&ids).await?;
    Ok(Response::no_content())
}

// ---- entity aliases ------------------------------------------------------------------------

fn alias_fields(ctx: &Ctx<'_>) -> Result<AliasFields> {
    let data = &ctx.req.data;
    let canonical_id = match opt(data, "canonical_id")? {
        Some(id) => Some(id),
        None => opt(data, "entity_id")?,
    };
    Ok(AliasFields {
        name: opt_alias_name(data)?,
        mount_accessor: opt_accessor(ctx, "mount_accessor")?,
        canonical_id,
        custom_metadata: metadata(data, "custom_metadata")?,
    })
}

async fn alias_write(ctx: &Ctx<'_>, id: Option<&str>) -> Result<Response> {
    let body_id = opt(&ctx.req.data, "id")?;
    let id = id.or(body_id.as_deref());
    let a = ctx.un.identity.write_alias(id, alias_fields(ctx)?).await?;
    Ok(ids_answer(&a.id, &a.canonical_id))
}

async fn alias_by_id(ctx: &Ctx<'_>, id: &str) -> Result<Response> {
    let store = &ctx.un.identity;
    match ctx.req.operation {
        Operation::Read => store.read(|st| match st.alias(id) {
            Some(a) => Ok(Response::data(alias_json(ctx, a))),
            None => Err(not_found()),
        }),
        Operation::Delete => {
            store.delete_alias(id).await?;
            Ok(Response::no_content())
        }
        _ => alias_write(ctx, Some(id)).await,
    }
}

async fn list_aliases(ctx: &Ctx<'_>) -> Result<Response> {
    ctx.un.identity.read(|st| {
        let mut info = Map::new();
        for a in st.aliases() {
            let mut out = map(json!({
                "canonical_id": a.canonical_id,
                "custom_metadata": meta_json(&a.custom_metadata),
                "local": false,
                "mount_accessor": a.mount_accessor,
                "name": a.name,
            }));
            mount_fields(ctx, &a.mount_accessor, &mut out);
            info.insert(a.id.clone(), Value::Object(out));
        }
        keys(st.aliases().map(|a| a.id.clone()).collect(), Some(info))
    })
}

// ---- groups --------------------------------------------------------------------------------

fn group_fields(ctx: &Ctx<'_>, with_name: bool) -> Result<GroupFields> {
    let data = &ctx.req.data;
    let member_entity_ids = ids(data, "member_entity_ids")?;
    if member_entity_ids
        .as_ref()
        .is_some_and(|m| m.len() > MAX_GROUP_MEMBERS)
    {
        return Err(CoreError::bad(format!(
            "member entity IDs exceeding the limit of {MAX_GROUP_MEMBERS}: nest groups \
             (member_group_ids) for larger memberships"
        )));
    }
    Ok(GroupFields {
        name: if with_name {
            opt_name(data, "name", "group")?
        } else {
            None
        },
        kind: group_kind(data)?,
        policies: policies(data)?,
        metadata: metadata(data, "metadata")?,
        member_entity_ids,
        member_group_ids: ids(data, "member_group_ids")?,
    })
}

fn group_written(created: Option<Group>) -> Response {
    match created {
        Some(g) => Response::data(map(json!({ "id": g.id, "name": g.name }))),
        None => Response::no_content(),
    }
}

async fn group_create(ctx: &Ctx<'_>) -> Result<Response> {
    let data = &ctx.req.data;
    let fields = group_fields(ctx, true)?;
    // As in Vault: an id names the group to update; else a name names it (created when
    // missing).
    let target = match (opt(data, "id")?, &fields.name) {
        (Some(id), _) => GroupTarget::Id(id),
        (None, Some(name)) => GroupTarget::Name(name.clone()),
        (None, None) => GroupTarget::Body,
    };
    let created = ctx.un.identity.write_group(target, fields).await?;
    Ok(group_written(created))
}

async fn group_by_id(ctx: &Ctx<'_>, id: &str) -> Result<Response> {
    let store = &ctx.un.identity;
    match ctx.req.operation {
        Operation::Read => store.read(|st| match st.group(id) {
            Some(g) => Ok(Response::data(group_json(ctx, st, g))),
            None => Err(not_found()),
        }),
        Operation::Delete => {
            store.delete_group(id).await?;
            Ok(Response::no_content())
        }
        _ => {
            let fields = group_fields(ctx, true)?;
            let created = store
                .write_group(GroupTarget::Id(id.to_owned()), fields)
                .await?;
            Ok(group_written(created))
        }
    }
}

async fn group_by_name(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    let store = &ctx.un.identity;
    match ctx.req.operation {
        Operation::Read => store.read(|st| match st.group_by_name(name) {
            Some(g) => Ok(Response::data(group_json(ctx, st, g))),
            None => Err(not_found()),
        }),
        Operation::Delete => {
            if let Some(id) = store.read(|st| st.group_by_name(name).map(|g| g.id.clone())) {
                store.delete_group(&id).await?;
            }
            Ok(Response::no_content())
        }
        _ => {
            let fields = group_fields(ctx, false)?;
            let created = store
                .write_group(GroupTarget::Name(name.to_owned()), fields)
                .await?;
            Ok(group_written(created))
        }
    }
}

async fn list_groups(ctx: &Ctx<'_>, by_name: bool) -> Result<Response> {
    ctx.un.identity.read(|st| {
        if by_name {
            return keys(st.groups().map(|g| g.name.clone()).collect(), None);
        }
        let mut info = Map::new();
        for g in st.groups() {
            info.insert(
                g.id.clone(),
                json!({
                    "name": g.name,
                    "num_member_entities": g.member_entity_ids.len(),
                    "num_parent_groups": st.parents_of(&g.id).len(),
                }),
            );
        }
        keys(st.groups().map(|g| g.id.clone()).collect(), Some(info))
    })
}

// ---- group aliases -------------------------------------------------------------------------

async fn group_alias_write(ctx: &Ctx<'_>, id: Option<&str>) -> Result<Response> {
    let data = &ctx.req.data;
    let body_id = opt(data, "id")?;
    let id = id.or(body_id.as_deref());
    let fields = GroupAliasFields {
        name: opt_alias_name(data)?,
        mount_accessor: opt_accessor(ctx, "mount_accessor")?,
        canonical_id: opt(data, "canonical_id")?,
    };
    let a = ctx.un.identity.write_group_alias(id, fields).await?;
    Ok(ids_answer(&a.id, &a.canonical_id))
}

async fn group_alias_by_id(ctx: &Ctx<'_>, id: &str) -> Result<Response> {
    let store = &ctx.un.identity;
    match ctx.req.operation {
        Operation::Read => store.read(|st| match st.group_alias(id) {
            Some(a) => Ok(Response::data(group_alias_json(ctx, a))),
            None => Err(not_found()),
        }),
        Operation::Delete => {
            store.delete_group_alias(id).await?;
            Ok(Response::no_content())
        }
        _ => group_alias_write(ctx, Some(id)).await,
    }
}

async fn list_group_aliases(ctx: &Ctx<'_>) -> Result<Response> {
    ctx.un.identity.read(|st| {
        let mut info = Map::new();
        for a in st.group_aliases() {
            let mut out = map(json!({
                "canonical_id": a.canonical_id,
                "mount_accessor": a.mount_accessor,
                "name": a.name,
            }));
            mount_fields(ctx, &a.mount_accessor, &mut out);
            info.insert(a.id.clone(), Value::Object(out));
        }
        keys(
            st.group_aliases().map(|a| a.id.clone()).collect(),
            Some(info),
        )
    })
}

// ---- lookups -------------------------------------------------------------------------------

/// What a lookup asks for: exactly one criterion (the alias name and mount accessor count as
/// one, and need each other).
enum Criterion {
    Id(String),
    Name(String),
    AliasId(String),
    AliasName(String, String),
}

fn criterion(data: &Map<String, Value>) -> Result<Criterion> {
    let id = opt(data, "id")?;
    let name = opt(data, "name")?;
    let alias_id = opt(data, "alias_id")?;
    let alias_name = opt(data, "alias_name")?;
    let alias_acc = opt(data, "alias_mount_accessor")?;
    let given = [id.is_some(), name.is_some(), alias_id.is_some()]
        .into_iter()
        .filter(|g| *g)
        .count()
        + usize::from(alias_name.is_some() || alias_acc.is_some());
    const WHICH: &str = "give exactly one of 'id', 'name', 'alias_id', or 'alias_name' with \
                         'alias_mount_accessor'";
    match given {
        0 => {
            return Err(CoreError::bad(format!(
                "query parameter not supplied: {WHICH}"
            )))
        }
        1 => {}
        _ => return Err(CoreError::bad(format!("query parameter conflict: {WHICH}"))),
    }
    Ok(match (id, name, alias_id, alias_name, alias_acc) {
        (Some(id), ..) => Criterion::Id(id),
        (_, Some(name), ..) => Criterion::Name(name),
        (_, _, Some(alias_id), ..) => Criterion::AliasId(alias_id),
        (_, _, _, Some(n), Some(acc)) => Criterion::AliasName(n, acc),
        _ => {
            return Err(CoreError::bad(
                "both 'alias_name' and 'alias_mount_accessor' need to be set",
            ))
        }
    })
}

async fn lookup(ctx: &Ctx<'_>, groups: bool) -> Result<Response> {
    let c = criterion(&ctx.req.data)?;
    let found = ctx.un.identity.read(|st| {
        if groups {
            let g = match &c {
                Criterion::Id(id) => st.group(id),
                Criterion::Name(name) => st.group_by_name(name),
                Criterion::AliasId(id) => {
                    st.group_alias(id).and_then(|a| st.group(&a.canonical_id))
                }
                Criterion::AliasName(n, acc) => st
                    .group_alias_by_key(acc, n)
                    .and_then(|a| st.group(&a.canonical_id)),
            };
            g.map(|g| group_json(ctx, st, g))
        } else {
            let e = match &c {
                Criterion::Id(id) => st.entity(id),
                Criterion::Name(name) => st.entity_by_name(name),
                Criterion::AliasId(id) => st.alias(id).and_then(|a| st.entity(&a.canonical_id)),
                Criterion::AliasName(n, acc) => st
                    .alias_by_key(acc, n)
                    .and_then(|a| st.entity(&a.canonical_id)),
            };
            e.map(|e| entity_json(ctx, st, e))
        }
    });
    // Nothing found is Vault's 204, not an error.
    Ok(found.map_or_else(Response::no_content, Response::data))
}
