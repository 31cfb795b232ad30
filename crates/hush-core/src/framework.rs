//! The path framework: a backend declares its paths as a table (the shape of Vault's
//! `framework.Path`), and the framework matches requests, answers for operations and paths the
//! table lacks, checks the declared fields with [`crate::fields`]' rules, warns about fields it
//! does not know (as Vault does), and answers the [`LogicalBackend`](crate::engine::LogicalBackend)
//! questions the pipeline asks (sudo, unauthenticated, changes nothing, credential segments)
//! from the same table. It also describes the table as OpenAPI 3 paths.
//!
//! A pattern is `/`-separated segments: literals, `{name}` (one segment) or `{name*}` (the rest
//! of the path, slashes included; last only).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Map, Value};

use crate::engine::EngineRequest;
use crate::error::{CoreError, Result};
use crate::fields;
use crate::logical::{Operation, Response};

/// What a handler returns.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Response>> + Send + 'a>>;

/// A handler: the backend, the request, and the path's named segments.
pub type Handler<B> = for<'a> fn(&'a B, &'a EngineRequest<'a>, &'a Captures) -> HandlerFuture<'a>;

/// Advice for a 405, built from the request (it may name the mount and path).
pub type Hint = fn(&EngineRequest<'_>) -> String;

/// The named segments of a matched path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Captures(Vec<(String, String)>);

impl Captures {
    /// The segment named `name` (empty if the pattern has none of that name).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// How a field's value is read (see [`crate::fields`] for each rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// [`fields::bool`].
    Bool,
    /// [`fields::string`].
    String,
    /// [`fields::u64`].
    Int,
    /// [`fields::duration`].
    Duration,
    /// [`fields::strings`].
    Strings,
    /// [`fields::cidrs`].
    Cidrs,
    /// [`fields::string_map`].
    StringMap,
    /// Any JSON value; the handler reads it.
    Any,
}

impl FieldType {
    fn check(self, data: &Map<String, Value>, name: &str) -> Result<()> {
        match self {
            FieldType::Bool => fields::bool(data, name).map(drop),
            FieldType::String => fields::string(data, name).map(drop),
            FieldType::Int => fields::u64(data, name).map(drop),
            FieldType::Duration => fields::duration(data, name).map(drop),
            FieldType::Strings => fields::strings(data, name).map(drop),
            FieldType::Cidrs => fields::cidrs(data, name).map(drop),
            FieldType::StringMap => fields::string_map(data, name).map(drop),
            FieldType::Any => Ok(()),
        }
    }

    fn schema(self) -> Value {
        match self {
            FieldType::Bool => json!({"type": "boolean"}),
            FieldType::String => json!({"type": "string"}),
            FieldType::Int => json!({"type": "integer", "minimum": 0}),
            FieldType::Duration => json!({"type": "string", "format": "duration"}),
            FieldType::Strings | FieldType::Cidrs => {
                json!({"type": "array", "items": {"type": "string"}})
            }
            FieldType::StringMap => {
                json!({"type": "object", "additionalProperties": {"type": "string"}})
            }
            FieldType::Any => json!({}),
        }
    }
}

/// A request field a path reads.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name in the body or query.
    pub name: &'static str,
    /// How it is read.
    pub ty: FieldType,
    /// What it means, for help and OpenAPI.
    pub description: &'static str,
}

impl Field {
    /// A field.
    pub const fn new(name: &'static str, ty: FieldType, description: &'static str) -> Field {
        Field {
            name,
            ty,
            description,
        }
    }
}

/// One operation of a path.
pub struct Op<B> {
    /// The operation. `Update` serves `Create` too (and the reverse), as in Vault.
    pub operation: Operation,
    /// What runs.
    pub handler: Handler<B>,
    /// One line for help and OpenAPI.
    pub summary: &'static str,
}

/// One segment of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// Matches itself.
    Literal(String),
    /// `{name}`: one non-empty segment.
    One(String),
    /// `{name*}`: the rest, less the literals that follow; not empty.
    Rest(String),
    /// `{name**}`: the rest, possibly empty (last only).
    RestOrEmpty(String),
}

impl Seg {
    fn parse(seg: &str) -> Seg {
        let named = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match named {
            Some(n) if n.ends_with("**") => Seg::RestOrEmpty(n.trim_end_matches('*').to_owned()),
            Some(n) if n.ends_with('*') => Seg::Rest(n.trim_end_matches('*').to_owned()),
            Some(n) => Seg::One(n.to_owned()),
            None => Seg::Literal(seg.to_owned()),
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Seg::Literal(_) => None,
            Seg::One(n) | Seg::Rest(n) | Seg::RestOrEmpty(n) => Some(n),
        }
    }
}

/// One path of a backend.
pub struct PathSpec<B> {
    /// The pattern, relative to the mount.
    pub pattern: Cow<'static, str>,
    /// The pattern's segments, parsed once: every request matches against them several times
    /// (sudo, audit, the handler), so matching must not parse or allocate.
    segs: Vec<Seg>,
    /// The operations it supports.
    pub ops: Vec<Op<B>>,
    /// The fields its operations read.
    pub fields: Vec<Field>,
    /// Callable without a token (logins).
    pub unauthenticated: bool,
    /// Needs the `sudo` capability.
    pub sudo: bool,
    /// Needs `sudo` only for operations other than reads and lists.
    pub sudo_writes: bool,
    /// Served without an ACL check: the handler decides what the token may see (the UI's
    /// mount listing).
    pub acl_exempt: bool,
    /// Any field is the handler's (stored data: `sys/wrapping/wrap`, KV secrets): no unknown-field
    /// warning.
    pub any_fields: bool,
    /// The handler wraps its own response (`sys/wrapping/*`); a `wrap_ttl` is not applied
    /// again by the pipeline.
    pub wraps_itself: bool,
    /// Reads and lists change nothing (see
    /// [`LogicalBackend::changes_nothing`](crate::engine::LogicalBackend::changes_nothing)).
    pub reads_change_nothing: bool,
    /// The named segment that is a credential (HMAC'd in audit entries).
    pub credential: Option<&'static str>,
    /// Advice added to the 405 for an operation the path does not take ("to list secrets,
    /// LIST metadata/").
    pub hints: Vec<(Operation, Hint)>,
    /// What the path is for, for help and OpenAPI.
    pub synopsis: &'static str,
}

impl<B> PathSpec<B> {
    /// A path with no operations yet; reads change nothing by default.
    pub fn new(pattern: impl Into<Cow<'static, str>>, synopsis: &'static str) -> Self {
        let pattern = pattern.into();
        PathSpec {
            segs: pattern.split('/').map(Seg::parse).collect(),
            pattern,
            ops: Vec::new(),
            fields: Vec::new(),
            unauthenticated: false,
            sudo: false,
            sudo_writes: false,
            acl_exempt: false,
            wraps_itself: false,
            any_fields: false,
            reads_change_nothing: true,
            credential: None,
            hints: Vec::new(),
            synopsis,
        }
    }

    /// Adds an operation.
    pub fn op(mut self, operation: Operation, summary: &'static str, handler: Handler<B>) -> Self {
        self.ops.push(Op {
            operation,
            handler,
            summary,
        });
        self
    }

    /// Adds fields.
    pub fn fields(mut self, fields: &[Field]) -> Self {
        self.fields.extend_from_slice(fields);
        self
    }

    /// Marks the path as callable without a token.
    pub fn unauthenticated(mut self) -> Self {
        self.unauthenticated = true;
        self
    }

    /// Marks the path as needing `sudo`.
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    /// Marks the path as needing `sudo` for every operation but reads and lists.
    pub fn sudo_writes(mut self) -> Self {
        self.sudo_writes = true;
        self
    }

    /// Serves the path without an ACL check (the handler filters by the token's policies).
    pub fn acl_exempt(mut self) -> Self {
        self.acl_exempt = true;
        self
    }

    /// Takes any field: the body is the handler's data (no unknown-field warning).
    pub fn any_fields(mut self) -> Self {
        self.any_fields = true;
        self
    }

    /// Marks the path as wrapping its own responses.
    pub fn wraps_itself(mut self) -> Self {
        self.wraps_itself = true;
        self
    }

    /// Marks a named segment as a credential.
    pub fn credential(mut self, segment: &'static str) -> Self {
        self.credential = Some(segment);
        self
    }

    /// Adds advice to the 405 answered for `operation`, which this path does not take.
    pub fn hint(mut self, operation: Operation, advice: Hint) -> Self {
        self.hints.push((operation, advice));
        self
    }

    /// Reads of this path have effects (they issue or consume something).
    pub fn reads_have_effects(mut self) -> Self {
        self.reads_change_nothing = false;
        self
    }

    /// This path as one OpenAPI 3 path item under `prefix`: its key and the item.
    fn openapi_item(&self, prefix: &str) -> (String, Value) {
        let mut item = Map::new();
        let params: Vec<Value> = self
            .pattern
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name.trim_end_matches('*'), "in": "path", "required": true,
                       "schema": {"type": "string"}})
            })
            .collect();
        if !params.is_empty() {
            item.insert("parameters".into(), Value::Array(params));
        }
        item.insert("description".into(), json!(self.synopsis));
        if self.sudo || self.sudo_writes {
            item.insert("x-vault-sudo".into(), json!(true));
        }
        if self.unauthenticated {
            item.insert("x-vault-unauthenticated".into(), json!(true));
        }
        if self.find_op(Operation::Create).is_some() {
            item.insert("x-vault-createSupported".into(), json!(true));
        }
        let properties: Map<String, Value> = self
            .fields
            .iter()
            .map(|f| {
                let mut schema = f.ty.schema();
                if let Some(o) = schema.as_object_mut() {
                    o.insert("description".into(), json!(f.description));
                }
                (f.name.to_owned(), schema)
            })
            .collect();
        for op in &self.ops {
            let (method, extra) = match op.operation {
                Operation::Read => ("get", None),
                Operation::List => (
                    "get",
                    Some(json!([{"name": "list", "in": "query", "required": true,
                                 "schema": {"type": "string", "enum": ["true"]}}])),
                ),
                Operation::Create | Operation::Update => ("post", None),
                Operation::Patch => ("patch", None),
                Operation::Delete => ("delete", None),
            };
            if item.contains_key(method) {
                continue;
            }
            let mut o = json!({
                "summary": op.summary,
                "responses": {"200": {"description": "OK"}, "204": {"description": "empty body"}},
            });
            if let Some(extra) = extra {
                o["parameters"] = extra;
            }
            if matches!(method, "post" | "patch") && !properties.is_empty() {
                o["requestBody"] = json!({"content": {"application/json": {"schema": {
                    "type": "object", "properties": properties.clone()}}}});
            }
            item.insert(method.into(), o);
        }
        let reads = self.ops.iter().any(|o| o.operation == Operation::Read);
        let lists = self.ops.iter().any(|o| o.operation == Operation::List);
        if let (true, true, Some(get)) = (reads, lists, item.get_mut("get")) {
            // GET serves both a read and a list: `?list=true` picks the list, as in
            // Vault's document.
            get["parameters"] = json!([{"name": "list", "in": "query", "required": false,
                "description": "Return a list if `true`.", "schema": {"type": "string"}}]);
        }
        let template = self.pattern.replace("**}", "}").replace("*}", "}");
        (format!("/{prefix}{template}"), Value::Object(item))
    }

    fn find_op(&self, op: Operation) -> Option<&Op<B>> {
        let alias = match op {
            Operation::Create => Some(Operation::Update),
            Operation::Update => Some(Operation::Create),
            _ => None,
        };
        self.ops
            .iter()
            .find(|o| o.operation == op)
            .or_else(|| alias.and_then(|a| self.ops.iter().find(|o| o.operation == a)))
    }

    fn allowed(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for o in &self.ops {
            let name = method_name(o.operation);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        join_words(&names)
    }

    /// Matches `path`; returns the named segments. A `{name*}` segment takes the rest of the
    /// path, less the literal segments that follow it in the pattern (`mounts/{path*}/tune`);
    /// a final `{name**}` takes the rest even when it is empty.
    fn matches(&self, path: &str) -> Option<Captures> {
        let mut caps = Vec::new();
        self.match_with(path, &mut |name, value| {
            caps.push((name.to_owned(), value.to_owned()))
        })
        .then_some(Captures(caps))
    }

    /// Whether `path` matches, telling `capture` each named segment; allocates nothing.
    fn match_with(&self, path: &str, capture: &mut dyn FnMut(&str, &str)) -> bool {
        let mut rest = Some(path);
        for (i, seg) in self.segs.iter().enumerate() {
            if let Seg::RestOrEmpty(name) = seg {
                // The rest, possibly empty: `metadata/{path**}` serves `metadata/` too.
                if i + 1 != self.segs.len() {
                    return false;
                }
                capture(name, rest.unwrap_or(""));
                return true;
            }
            let Some(here) = rest else {
                return false;
            };
            if let Seg::Rest(name) = seg {
                let mut value = here;
                for lit in self.segs[i + 1..].iter().rev() {
                    let Seg::Literal(lit) = lit else {
                        return false;
                    };
                    match value
                        .strip_suffix(lit.as_str())
                        .and_then(|v| v.strip_suffix('/'))
                    {
                        Some(v) => value = v,
                        None => return false,
                    }
                }
                if value.is_empty() {
                    return false;
                }
                capture(name, value);
                return true;
            }
            let (head, tail) = match here.split_once('/') {
                Some((h, t)) => (h, Some(t)),
                None => (here, None),
            };
            match seg {
                Seg::One(name) if !head.is_empty() => capture(name, head),
                Seg::Literal(lit) if lit == head => {}
                _ => return false,
            }
            rest = tail;
        }
        rest.is_none()
    }

    /// Where in `path` the credential segment starts, if this path has one.
    fn credential_at(&self, path: &str) -> Option<usize> {
        let name = self.credential?;
        let mut offset = 0;
        for (seg, part) in self.segs.iter().zip(path.split('/')) {
            if seg.name() == Some(name) {
                return Some(offset);
            }
            offset += part.len() + 1;
        }
        None
    }
}

/// The HTTP method(s) of an operation, as messages name them.
fn method_name(op: Operation) -> &'static str {
    match op {
        Operation::Read => "GET",
        Operation::List => "LIST",
        Operation::Create | Operation::Update => "POST/PUT",
        Operation::Patch => "PATCH",
        Operation::Delete => "DELETE",
    }
}

fn join_words(items: &[&str]) -> String {
    match items {
        [] => "nothing".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The 405 for `op` on `route_path` (the request path, mount included), which accepts
/// `allowed` ("GET and POST/PUT"): the one wording every backend answers with.
pub fn unsupported_operation(route_path: &str, op: Operation, allowed: &str) -> CoreError {
    CoreError::UnsupportedOperation(format!(
        "unsupported operation {} on \"{route_path}\": this path accepts {allowed}",
        method_name(op)
    ))
}

/// The answer for an operation a handler serving several does not take: the table routes
/// only declared operations, so this is a handler's last arm.
pub fn unsupported(path: &str, op: Operation) -> CoreError {
    CoreError::UnsupportedOperation(format!(
        "unsupported operation {} on \"{path}\"",
        op.as_str()
    ))
}

/// How many paths a 404 names before it points at the OpenAPI document.
const MAX_NAMED: usize = 12;

/// A backend's path table.
pub struct Paths<B> {
    /// What the backend is, for messages ("this auth method", "this secrets engine").
    pub what: &'static str,
    /// What precedes the mount path in request paths: `auth/` for auth methods, `` for
    /// secrets engines.
    pub route_prefix: &'static str,
    specs: Vec<PathSpec<B>>,
    not_found: Option<fn(&EngineRequest<'_>) -> CoreError>,
}

impl<B> Paths<B> {
    /// A table; `what` names the backend in messages, `route_prefix` is `auth/` for auth
    /// methods and empty for secrets engines.
    pub fn new(what: &'static str, route_prefix: &'static str, specs: Vec<PathSpec<B>>) -> Self {
        Paths {
            what,
            route_prefix,
            specs,
            not_found: None,
        }
    }

    /// Replaces the 404 for a path no spec matches (KV v2 answers Vault's "Invalid path for a
    /// versioned K/V secrets engine", which clients recognize).
    pub fn with_not_found(mut self, answer: fn(&EngineRequest<'_>) -> CoreError) -> Self {
        self.not_found = Some(answer);
        self
    }

    /// The path specs, in declaration order.
    pub fn specs(&self) -> &[PathSpec<B>] {
        &self.specs
    }

    /// The spec serving `path`, with its named segments (for the handler).
    fn find(&self, path: &str) -> Option<(&PathSpec<B>, Captures)> {
        let path = path.trim_end_matches('/');
        self.specs
            .iter()
            .find_map(|s| s.matches(path).map(|c| (s, c)))
    }

    /// The spec serving `path`, for the questions the pipeline asks before the handler runs:
    /// the same match as [`Self::find`], without building the captures.
    fn spec_for(&self, path: &str) -> Option<&PathSpec<B>> {
        let path = path.trim_end_matches('/');
        self.specs
            .iter()
            .find(|s| s.match_with(path, &mut |_, _| {}))
    }

    /// Runs the request: finds its path and operation (or answers why not), checks the declared
    /// fields, runs the handler, and adds a warning naming fields nobody reads.
    pub async fn handle(&self, backend: &B, req: &EngineRequest<'_>) -> Result<Response> {
        let route = format!("{}{}", self.route_prefix, req.mount.path);
        let Some((spec, caps)) = self.find(req.path) else {
            if let Some(answer) = self.not_found {
                return Err(answer(req));
            }
            let mut known: Vec<&str> = self.specs.iter().map(|s| s.pattern.as_ref()).collect();
            if known.len() > MAX_NAMED {
                known.truncate(MAX_NAMED);
                known.push("more (see sys/internal/specs/openapi)");
            }
            return Err(CoreError::NotFound(format!(
                "no handler for route \"{route}{}\": {} serves {}",
                req.path.trim_end_matches('/'),
                self.what,
                join_words(&known)
            )));
        };
        let Some(op) = spec.find_op(req.operation) else {
            let hint = spec
                .hints
                .iter()
                .find(|(o, _)| *o == req.operation)
                .map_or(String::new(), |(_, h)| format!("; {}", h(req)));
            return Err(unsupported_operation(
                &format!("{route}{}", req.path.trim_end_matches('/')),
                req.operation,
                &format!("{}{hint}", spec.allowed()),
            ));
        };
        for f in &spec.fields {
            f.ty.check(req.data, f.name)?;
        }
        let mut unknown: Vec<&str> = req
            .data
            .keys()
            .map(String::as_str)
            .filter(|k| !spec.any_fields && !spec.fields.iter().any(|f| f.name == *k))
            .collect();
        unknown.sort_unstable();
        let mut resp = (op.handler)(backend, req, &caps).await?;
        if !unknown.is_empty() && !matches!(req.operation, Operation::Read | Operation::List) {
            resp.warnings.push(format!(
                "Endpoint ignored these unrecognized parameters: [{}]",
                unknown.join(" ")
            ));
        }
        Ok(resp)
    }

    /// The operations the spec serving `path` accepts, as messages name them ("GET and
    /// POST/PUT"), if a spec serves it.
    pub fn allowed_for(&self, path: &str) -> Option<String> {
        self.spec_for(path).map(PathSpec::allowed)
    }

    /// The pattern of the spec that serves `path`, if any.
    pub fn pattern_for(&self, path: &str) -> Option<&str> {
        self.spec_for(path).map(|s| s.pattern.as_ref())
    }

    /// Whether `path` is callable without a token.
    pub fn is_unauthenticated(&self, path: &str) -> bool {
        self.spec_for(path).is_some_and(|s| s.unauthenticated)
    }

    /// Whether `op` on `path` needs `sudo`.
    pub fn requires_sudo(&self, path: &str, op: Operation) -> bool {
        self.spec_for(path).is_some_and(|s| {
            s.sudo || s.sudo_writes && !matches!(op, Operation::Read | Operation::List)
        })
    }

    /// Whether `path` is served without an ACL check.
    pub fn is_acl_exempt(&self, path: &str) -> bool {
        self.spec_for(path).is_some_and(|s| s.acl_exempt)
    }

    /// Whether `path` wraps its own responses.
    pub fn wraps_itself(&self, path: &str) -> bool {
        self.spec_for(path).is_some_and(|s| s.wraps_itself)
    }

    /// Whether `op` on `path` changes nothing.
    pub fn changes_nothing(&self, path: &str, op: Operation) -> bool {
        matches!(op, Operation::Read | Operation::List)
            && self.spec_for(path).is_some_and(|s| s.reads_change_nothing)
    }

    /// Where in `path` a credential starts, if its path declares one.
    pub fn credential_in_path(&self, path: &str) -> Option<usize> {
        self.spec_for(path)?.credential_at(path)
    }

    /// The table as OpenAPI 3 path items under `prefix` (the mount's route, e.g.
    /// `auth/userpass/`).
    pub fn openapi(&self, prefix: &str) -> Map<String, Value> {
        self.specs
            .iter()
            .map(|spec| spec.openapi_item(prefix))
            .collect()
    }

    /// Vault's `?help=1` answer for `path`: the path's description, operations and fields as
    /// text and as its OpenAPI item; for a path no spec serves, every path of the backend.
    pub fn help(&self, prefix: &str, path: &str) -> Value {
        let (text, paths) = match self.find(path) {
            Some((spec, _)) => {
                let mut text = format!("## DESCRIPTION\n\n{}\n\n## OPERATIONS\n\n", spec.synopsis);
                for op in &spec.ops {
                    text.push_str(&format!(
                        "    {}\n        {}\n\n",
                        method_name(op.operation),
                        op.summary
                    ));
                }
                if !spec.fields.is_empty() {
                    text.push_str("## PARAMETERS\n\n");
                    for f in &spec.fields {
                        let schema = f.ty.schema();
                        let ty = schema.get("type").and_then(Value::as_str).unwrap_or("any");
                        text.push_str(&format!(
                            "    {} ({ty})\n        {}\n\n",
                            f.name, f.description
                        ));
                    }
                }
                let (key, item) = spec.openapi_item(prefix);
                let mut paths = Map::new();
                paths.insert(key, item);
                (text, paths)
            }
            None => {
                let mut text = format!(
                    "## DESCRIPTION\n\n{} at {prefix}\n\n## PATHS\n\nThe following paths are \
                     supported. Ask for help on any path matching a pattern below.\n\n",
                    self.what
                );
                for spec in &self.specs {
                    text.push_str(&format!(
                        "    {}\n        {}\n\n",
                        spec.pattern, spec.synopsis
                    ));
                }
                (text, self.openapi(prefix))
            }
        };
        json!({
            "help": text,
            "openapi": {"openapi": "3.0.2", "info": {"title": "hush API", "version": "1"}, "paths": paths},
            "see_also": null,
        })
    }
}

/// What the pipeline asks of a backend's path table, whatever the backend's type: the answers
/// [`LogicalBackend`](crate::engine::LogicalBackend)'s defaults give for a backend that returns
/// its table from [`LogicalBackend::paths`](crate::engine::LogicalBackend::paths).
pub trait PathTable: Send + Sync {
    /// See [`Paths::is_unauthenticated`].
    fn is_unauthenticated(&self, path: &str) -> bool;
    /// See [`Paths::requires_sudo`].
    fn requires_sudo(&self, path: &str, op: Operation) -> bool;
    /// See [`Paths::changes_nothing`].
    fn changes_nothing(&self, path: &str, op: Operation) -> bool;
    /// See [`Paths::credential_in_path`].
    fn credential_in_path(&self, path: &str) -> Option<usize>;
    /// See [`Paths::is_acl_exempt`].
    fn is_acl_exempt(&self, path: &str) -> bool;
    /// See [`Paths::wraps_itself`].
    fn wraps_itself(&self, path: &str) -> bool;
    /// See [`Paths::openapi`].
    fn openapi(&self, prefix: &str) -> Map<String, Value>;
    /// See [`Paths::help`].
    fn help(&self, prefix: &str, path: &str) -> Value;
}

impl<B: Send + Sync> PathTable for Paths<B> {
    fn is_unauthenticated(&self, path: &str) -> bool {
        Paths::is_unauthenticated(self, path)
    }
    fn requires_sudo(&self, path: &str, op: Operation) -> bool {
        Paths::requires_sudo(self, path, op)
    }
    fn changes_nothing(&self, path: &str, op: Operation) -> bool {
        Paths::changes_nothing(self, path, op)
    }
    fn credential_in_path(&self, path: &str) -> Option<usize> {
        Paths::credential_in_path(self, path)
    }
    fn is_acl_exempt(&self, path: &str) -> bool {
        Paths::is_acl_exempt(self, path)
    }
    fn wraps_itself(&self, path: &str) -> bool {
        Paths::wraps_itself(self, path)
    }
    fn openapi(&self, prefix: &str) -> Map<String, Value> {
        Paths::openapi(self, prefix)
    }
    fn help(&self, prefix: &str, path: &str) -> Value {
        Paths::help(self, prefix, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct B;

    fn ok<'a>(_: &'a B, _: &'a EngineRequest<'a>, _: &'a Captures) -> HandlerFuture<'a> {
        Box::pin(async { Ok(Response::no_content()) })
    }

    fn table() -> Paths<B> {
        Paths::new(
            "this test backend",
            "auth/",
            vec![
                PathSpec::new("users", "list").op(Operation::List, "list", ok),
                PathSpec::new("users/{name}", "a user")
                    .op(Operation::Read, "read", ok)
                    .op(Operation::Update, "write", ok)
                    .fields(&[Field::new("password", FieldType::String, "the password")]),
                PathSpec::new("users/{name}/password", "change").op(Operation::Update, "set", ok),
                PathSpec::new("login/{name}", "log in")
                    .op(Operation::Update, "log in", ok)
                    .unauthenticated()
                    .reads_have_effects(),
                PathSpec::new("lookup/{token*}", "look up")
                    .op(Operation::Read, "look up", ok)
                    .credential("token")
                    .sudo(),
            ],
        )
    }

    #[test]
    fn patterns_match_segments_and_rests() {
        let t = table();
        let (s, c) = t.find("users/alice").unwrap();
        assert_eq!(
            (s.pattern.as_ref(), c.get("name")),
            ("users/{name}", "alice")
        );
        assert_eq!(
            t.find("users/alice/password").unwrap().0.pattern,
            "users/{name}/password"
        );
        assert_eq!(t.find("users/").unwrap().0.pattern, "users");
        assert!(t.find("users/alice/other").is_none());
        assert!(t.find("nothing").is_none());
        let (s, c) = t.find("lookup/a/b/c").unwrap();
        assert_eq!(
            (s.pattern.as_ref(), c.get("token")),
            ("lookup/{token*}", "a/b/c")
        );
        assert!(t.find("lookup").is_none());
    }

    #[test]
    fn flags_come_from_the_table() {
        let t = table();
        assert!(t.is_unauthenticated("login/bob"));
        assert!(!t.is_unauthenticated("users/bob"));
        assert!(t.requires_sudo("lookup/x", Operation::Read));
        assert!(t.changes_nothing("users/bob", Operation::Read));
        assert!(!t.changes_nothing("users/bob", Operation::Update));
        assert!(!t.changes_nothing("login/bob", Operation::Read));
        assert_eq!(t.credential_in_path("lookup/s.abc"), Some(7));
        assert_eq!(t.credential_in_path("users/bob"), None);
    }

    #[test]
    fn allowed_operations_are_named() {
        let t = table();
        assert_eq!(t.find("users/x").unwrap().0.allowed(), "GET and POST/PUT");
        assert_eq!(t.find("users").unwrap().0.allowed(), "LIST");
        let spec = t.find("users/x").unwrap().0;
        assert!(spec.find_op(Operation::Create).is_some());
        assert!(spec.find_op(Operation::Delete).is_none());
    }

    #[test]
    fn openapi_lists_every_path_and_operation() {
        let doc = table().openapi("auth/test/");
        assert_eq!(doc.len(), 5);
        let user = &doc["/auth/test/users/{name}"];
        assert!(user.get("get").is_some() && user.get("post").is_some());
        assert_eq!(
            user["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
                ["password"]["type"],
            "string"
        );
        assert_eq!(user["parameters"][0]["name"], "name");
        assert_eq!(
            doc["/auth/test/users"]["get"]["parameters"][0]["name"],
            "list"
        );
    }
}
