//! The `sys/` backend: a backend on the path framework like any engine, mounted by the core at
//! `sys/`. Its handlers reach the core's services through [`Ctx`]; one file per area.
//!
//! The endpoints that answer while sealed (`sys/init`, `sys/seal-status`, `sys/unseal`,
//! `sys/health`, `sys/leader`) are in the table too (for help and OpenAPI), and are served by
//! [`seal::handle_unauthenticated`] before the seal check, as in Vault.

mod audit;
mod internal;
mod leases;
mod locked_users;
pub mod metrics;
mod mounts;
pub(crate) mod password;
mod policy;
mod quotas;
pub mod seal;
mod wrapping;

use std::borrow::Cow;
use std::sync::OnceLock;

use async_trait::async_trait;

use crate::core::RekeyTarget;
use crate::engine::{EngineRequest, LogicalBackend};
use crate::error::Result;
use crate::framework::{Field, FieldType, Handler, PathSpec, PathTable, Paths};
use crate::logical::{Operation, Response};

pub(crate) use crate::ctx::run;

/// The `sys/` backend.
#[derive(Debug, Default)]
pub struct SystemBackend;

type Spec = PathSpec<SystemBackend>;

use FieldType::{Any, Bool, Strings};

fn s(name: &'static str, description: &'static str) -> Field {
    Field::new(name, FieldType::String, description)
}

fn a(name: &'static str, description: &'static str) -> Field {
    Field::new(name, Any, description)
}

const MOUNT_FIELDS: &[Field] = &[
    Field::new("type", FieldType::String, "The engine or auth method type."),
    Field::new("description", FieldType::String, "Free text."),
    Field::new("config", Any, "Tunables (as for the mount's tune path)."),
    Field::new("options", Any, "Engine options, e.g. {\"version\": \"2\"}."),
    Field::new("local", Bool, "Not replicated (reported only)."),
    Field::new("seal_wrap", Bool, "Seal wrapping (reported only)."),
    Field::new("external_entropy_access", Bool, "Accepted and ignored."),
    Field::new("plugin_name", FieldType::String, "Accepted and ignored."),
    Field::new("plugin_version", FieldType::String, "Accepted and ignored."),
];

const TUNE_FIELDS: &[Field] = &[
    Field::new(
        "default_lease_ttl",
        Any,
        "Default TTL: a duration or seconds; \"system\" for the server's.",
    ),
    Field::new(
        "max_lease_ttl",
        Any,
        "Maximum TTL: a duration or seconds; \"system\" for the server's.",
    ),
    Field::new("force_no_cache", Bool, "Accepted and reported."),
    Field::new("description", FieldType::String, "Free text."),
    Field::new("options", Any, "Engine options."),
    Field::new(
        "audit_non_hmac_request_keys",
        Strings,
        "Request keys the audit log records in clear.",
    ),
    Field::new(
        "audit_non_hmac_response_keys",
        Strings,
        "Response keys the audit log records in clear.",
    ),
    Field::new(
        "passthrough_request_headers",
        Strings,
        "Request headers passed to the engine.",
    ),
    Field::new(
        "listing_visibility",
        FieldType::String,
        "\"unauth\" or \"hidden\".",
    ),
    Field::new(
        "user_lockout_config",
        Any,
        "Lockout settings of an auth method (nested form).",
    ),
    Field::new(
        "user_lockout_threshold",
        Any,
        "Failed logins before a lockout.",
    ),
    Field::new("user_lockout_duration", Any, "How long a lockout lasts."),
    Field::new(
        "user_lockout_counter_reset",
        Any,
        "When the failure count resets.",
    ),
    Field::new("user_lockout_disable", Any, "Turns the lockout off."),
];

const REKEY_INIT_FIELDS: &[Field] = &[
    Field::new("secret_shares", Any, "New shares to make."),
    Field::new("secret_threshold", Any, "New shares needed."),
    Field::new("pgp_keys", Any, "Not supported."),
    Field::new("backup", Any, "Not supported."),
    Field::new("require_verification", Any, "Not supported."),
];

const REKEY_UPDATE_FIELDS: &[Field] = &[
    Field::new("key", Any, "A current key share, hex or base64."),
    Field::new("nonce", Any, "The rekey's nonce."),
];

const TOKEN_FIELD: &[Field] = &[Field::new(
    "token",
    Any,
    "The wrapping token (else the request's).",
)];

fn specs() -> Vec<Spec> {
    use Operation::{Delete, List, Read, Update};
    let mut specs =
        vec![
        Spec::new("init", "Whether the server is initialized; initializes it.")
            .op(Read, "Whether the server is initialized.", |_, req, _| {
                run(req, |ctx| seal::init_status(ctx.core))
            })
            .op(Update, "Initialize the server.", |_, req, _| {
                run(req, |ctx| seal::init(ctx.core, &ctx.req.data))
            })
            .fields(&[
                a("secret_shares", "Unseal key shares to make (Shamir seal)."),
                a("secret_threshold", "Shares needed to unseal (Shamir seal)."),
                a("recovery_shares", "Recovery key shares (static seal)."),
                a(
                    "recovery_threshold",
                    "Recovery shares needed (static seal).",
                ),
                a("pgp_keys", "Not supported."),
                a("root_token_pgp_key", "Not supported."),
                a("recovery_pgp_keys", "Not supported."),
                a("stored_shares", "Accepted and ignored."),
            ])
            .unauthenticated(),
        Spec::new("seal-status", "The seal state.")
            .op(Read, "Read the seal state.", |_, req, _| {
                run(req, |ctx| async { Ok(seal::seal_status(ctx.core)) })
            })
            .unauthenticated(),
        Spec::new("unseal", "Enter an unseal key share.")
            .op(Update, "Enter a key share.", |_, req, _| {
                run(req, |ctx| seal::unseal(ctx.core, &ctx.req.data))
            })
            .fields(&[
                a("key", "An unseal key share, hex or base64."),
                Field::new("reset", Bool, "Forget the shares entered so far."),
                Field::new("migrate", Bool, "Not supported."),
            ])
            .unauthenticated(),
        Spec::new("health", "Health of the server, as status codes.")
            .op(Read, "Read the health.", |_, req, _| {
                run(req, |ctx| async { seal::health(ctx.core, &ctx.req.data) })
            })
            .fields(&[
                a("activecode", "Status code when active."),
                a("standbycode", "Status code when standby."),
                a(
                    "performancestandbycode",
                    "Status code when a performance standby.",
                ),
                a("sealedcode", "Status code when sealed."),
                a("uninitcode", "Status code when not initialized."),
                Field::new("standbyok", Bool, "Answer the active code on standbys."),
                Field::new(
                    "perfstandbyok",
                    Bool,
                    "Answer the active code on performance standbys.",
                ),
            ])
            .unauthenticated(),
        Spec::new("leader", "High-availability state.")
            .op(Read, "Read the leader.", |_, req, _| {
                run(req, |ctx| async { Ok(seal::leader(ctx.core)) })
            })
            .unauthenticated(),
        Spec::new(
            "generate-root/attempt",
            "A root token generation from key shares: its status, start, cancel.",
        )
        .op(Read, "The attempt in progress.", |_, req, _| {
            run(req, |ctx| async { seal::generate_root_status(ctx.core) })
        })
        .op(Update, "Start an attempt.", |_, req, _| {
            run(req, |ctx| async {
                seal::generate_root_init(ctx.core, &ctx.req.data)
            })
        })
        .op(Delete, "Cancel the attempt.", |_, req, _| {
            run(req, |ctx| async { seal::generate_root_cancel(ctx.core) })
        })
        .fields(&[
            a(
                "otp",
                "A one-time pad of otp_length characters (else the server makes one).",
            ),
            a("pgp_key", "Not supported."),
        ])
        .unauthenticated(),
        Spec::new(
            "generate-root/update",
            "Enter a key share for the root token generation.",
        )
        .op(Update, "Enter a key share.", |_, req, _| {
            run(req, |ctx| {
                seal::generate_root_update(ctx.core, &ctx.req.data)
            })
        })
        .fields(REKEY_UPDATE_FIELDS)
        .unauthenticated(),
        Spec::new("step-down", "Give up leadership (HA).")
            .op(Update, "Step down.", |_, req, _| {
                run(req, |_| async { seal::step_down() })
            })
            .sudo(),
        Spec::new("seal", "Seal the server.")
            .op(Update, "Seal.", |_, req, _| run(req, seal::seal))
            .sudo(),
        Spec::new("key-status", "The barrier key's term and use.").op(
            Read,
            "Read the key status.",
            |_, req, _| run(req, seal::key_status),
        ),
        Spec::new("rotate", "Rotate the barrier key.")
            .op(Update, "Rotate.", |_, req, _| run(req, seal::rotate))
            .sudo(),
        Spec::new("mounts", "The mounted secrets engines.").op(
            Read,
            "List the secrets engines.",
            |_, req, _| run(req, |ctx| async { Ok(mounts::list(ctx, false)) }),
        ),
        Spec::new("mounts/{path*}/tune", "A secrets engine's tunables.")
            .op(Read, "Read the tunables.", |_, req, c| {
                run(req, move |ctx| mounts::tune(ctx, c.get("path"), false))
            })
            .op(Update, "Tune.", |_, req, c| {
                run(req, move |ctx| mounts::tune(ctx, c.get("path"), false))
            })
            .fields(TUNE_FIELDS),
        Spec::new("mounts/{path*}", "A secrets engine.")
            .op(Read, "Read a mount.", |_, req, c| {
                run(req, move |ctx| {
                    mounts::mount_path(ctx, c.get("path"), false)
                })
            })
            .op(Update, "Enable a secrets engine.", |_, req, c| {
                run(req, move |ctx| {
                    mounts::mount_path(ctx, c.get("path"), false)
                })
            })
            .op(Delete, "Disable a secrets engine.", |_, req, c| {
                run(req, move |ctx| {
                    mounts::mount_path(ctx, c.get("path"), false)
                })
            })
            .fields(MOUNT_FIELDS),
        Spec::new("auth", "The enabled auth methods.").op(
            Read,
            "List the auth methods.",
            |_, req, _| run(req, |ctx| async { Ok(mounts::list(ctx, true)) }),
        ),
        Spec::new("auth/{path*}/tune", "An auth method's tunables.")
            .op(Read, "Read the tunables.", |_, req, c| {
                run(req, move |ctx| mounts::tune(ctx, c.get("path"), true))
            })
            .op(Update, "Tune.", |_, req, c| {
                run(req, move |ctx| mounts::tune(ctx, c.get("path"), true))
            })
            .fields(TUNE_FIELDS)
            .sudo_writes(),
        Spec::new("auth/{path*}", "An auth method.")
            .op(Read, "Read an auth method.", |_, req, c| {
                run(req, move |ctx| mounts::mount_path(ctx, c.get("path"), true))
            })
            .op(Update, "Enable an auth method.", |_, req, c| {
                run(req, move |ctx| mounts::mount_path(ctx, c.get("path"), true))
            })
            .op(
                Delete,
                "Disable an auth method (its tokens are revoked).",
                |_, req, c| run(req, move |ctx| mounts::mount_path(ctx, c.get("path"), true)),
            )
            .fields(MOUNT_FIELDS)
            .sudo_writes(),
        Spec::new("remount", "Move a mount.")
            .op(Update, "Move a mount.", |_, req, _| {
                run(req, mounts::remount)
            })
            .fields(&[
                s("from", "The mount path to move."),
                s("to", "The new mount path."),
            ])
            .sudo(),
        Spec::new(
            "remount/status/{migration_id}",
            "The state of a move (moves finish at once).",
        )
        .op(Read, "Read a move's state.", |_, req, c| {
            run(req, move |ctx| async move {
                mounts::remount_status(ctx, c.get("migration_id"))
            })
        }),
        Spec::new("policies/password", "The password policies.").op(
            List,
            "List the password policies.",
            |_, req, _| run(req, |ctx| password::list(ctx)),
        ),
        Spec::new(
            "policies/password/{name}",
            "A password policy: the length of generated passwords and the characters they hold.",
        )
        .op(Read, "Read a password policy.", |_, req, c| {
            run(req, move |ctx| password::policy(ctx, c.get("name")))
        })
        .op(Update, "Write a password policy.", |_, req, c| {
            run(req, move |ctx| password::policy(ctx, c.get("name")))
        })
        .op(Delete, "Delete a password policy.", |_, req, c| {
            run(req, move |ctx| password::policy(ctx, c.get("name")))
        })
        .fields(&[s(
            "policy",
            "The policy in HCL: length and rule \"charset\" blocks.",
        )]),
        Spec::new(
            "policies/password/{name}/generate",
            "A new password from a password policy.",
        )
        .op(Read, "Generate a password.", |_, req, c| {
            run(req, move |ctx| password::generate_from(ctx, c.get("name")))
        }),
        policy_list("policy", "The ACL policies (Vault's older path).", true),
        policy_one("policy/{name}", "An ACL policy (Vault's older path).", true),
        policy_list("policies/acl", "The ACL policies.", false),
        policy_one("policies/acl/{name}", "An ACL policy.", false),
        Spec::new("capabilities", "A token's capabilities on paths.")
            .op(Update, "Report capabilities.", |_, req, _| {
                run(req, |ctx| policy::capabilities(ctx, policy::Whose::Token))
            })
            .fields(CAPABILITY_FIELDS),
        Spec::new(
            "capabilities-self",
            "The request token's capabilities on paths.",
        )
        .op(Update, "Report capabilities.", |_, req, _| {
            run(req, |ctx| policy::capabilities(ctx, policy::Whose::Caller))
        })
        .fields(CAPABILITY_FIELDS),
        Spec::new(
            "capabilities-accessor",
            "The capabilities, on paths, of the token with an accessor.",
        )
        .op(Update, "Report capabilities.", |_, req, _| {
            run(req, |ctx| {
                policy::capabilities(ctx, policy::Whose::Accessor)
            })
        })
        .fields(CAPABILITY_FIELDS),
        Spec::new("audit", "The enabled audit devices.")
            .op(Read, "List the audit devices.", |_, req, _| {
                run(req, |ctx| async { Ok(audit::list(ctx.un)) })
            })
            .sudo(),
        Spec::new("audit/{path*}", "An audit device.")
            .op(Update, "Enable an audit device.", |_, req, c| {
                run(req, move |ctx| audit::enable(ctx, c.get("path")))
            })
            .op(Delete, "Disable an audit device.", |_, req, c| {
                run(req, move |ctx| audit::disable(ctx, c.get("path")))
            })
            .fields(&[
                s("type", "The device type: \"file\"."),
                s("description", "Free text."),
                a(
                    "options",
                    "Device options: file_path (a path or \"stdout\"), fsync, ...",
                ),
                a("local", "Not replicated (reported only)."),
            ])
            .sudo(),
        Spec::new(
            "audit-hash/{path*}",
            "HMAC a string with an audit device's salt.",
        )
        .op(Update, "Hash a string.", |_, req, c| {
            run(req, move |ctx| audit::hash(ctx, c.get("path")))
        })
        .fields(&[a("input", "The string to hash.")]),
        Spec::new(
            "audit-head/{path*}",
            "The chain head of an audit device's log.",
        )
        .op(Read, "Read the chain head.", |_, req, c| {
            run(
                req,
                move |ctx| async move { audit::head(ctx, c.get("path")) },
            )
        })
        .sudo(),
        Spec::new("quotas/config", "Settings of the rate-limit quotas.")
            .op(Read, "Read the settings.", |_, req, _| {
                run(req, quotas::read_config)
            })
            .op(Update, "Write the settings.", |_, req, _| {
                run(req, quotas::write_config)
            })
            .fields(&[
                Field::new(
                    "rate_limit_exempt_paths",
                    Strings,
                    "Paths no quota applies to.",
                ),
                Field::new(
                    "enable_rate_limit_audit_logging",
                    Bool,
                    "Audit requests refused by a quota.",
                ),
                Field::new(
                    "enable_rate_limit_response_headers",
                    Bool,
                    "Send the rate-limit headers.",
                ),
            ]),
        Spec::new("quotas/rate-limit", "The rate-limit quotas.").op(
            List,
            "List the quotas.",
            |_, req, _| run(req, quotas::list),
        ),
        Spec::new("quotas/rate-limit/{name}", "A rate-limit quota.")
            .op(Read, "Read a quota.", |_, req, c| {
                run(req, move |ctx| quotas::read(ctx, c.get("name")))
            })
            .op(Update, "Write a quota.", |_, req, c| {
                run(req, move |ctx| quotas::write(ctx, c.get("name")))
            })
            .op(Delete, "Delete a quota.", |_, req, c| {
                run(req, move |ctx| quotas::delete(ctx, c.get("name")))
            })
            .fields(&[
                a("rate", "Requests allowed per interval (at least 1)."),
                a(
                    "interval",
                    "The interval: a duration or seconds (default 1s).",
                ),
                a(
                    "block_interval",
                    "How long a client over the rate is refused.",
                ),
                a(
                    "path",
                    "The path (mount or prefix) the quota applies to; empty for all.",
                ),
                a("type", "Accepted: \"rate-limit\"."),
                a("role", "Accepted and ignored."),
                a("inheritable", "Accepted and ignored."),
            ]),
        Spec::new("locked-users", "Users locked out after failed logins.")
            .op(Read, "List locked users.", |_, req, _| {
                run(req, locked_users::list)
            })
            .sudo(),
        Spec::new(
            "locked-users/{mount_accessor}/unlock/{alias*}",
            "Unlock a user.",
        )
        .op(Update, "Unlock a user.", |_, req, c| {
            run(req, move |ctx| {
                locked_users::unlock(ctx, c.get("mount_accessor"), c.get("alias"))
            })
        })
        .sudo(),
        revoke_prefix(
            "leases/revoke-prefix/{prefix*}",
            "Revoke every lease (token) created below a prefix.",
        ),
        Spec::new(
            "leases/revoke-force/{prefix*}",
            "Remove every lease below a prefix, revoking what can be revoked.",
        )
        .op(Update, "Revoke by prefix, regardless of errors.", |_, req, c| {
            run(req, move |ctx| leases::revoke_force(ctx, c.get("prefix")))
        })
        .sudo(),
        Spec::new("leases/lookup", "A lease: its times and whether it renews.")
            .op(Update, "Look up a lease.", |_, req, _| run(req, leases::lookup))
            .fields(LEASE_FIELDS),
        Spec::new("leases/lookup/{prefix**}", "The leases below a prefix.").op(
            List,
            "List lease ids.",
            |_, req, c| run(req, move |ctx| leases::list(ctx, c.get("prefix"))),
        ),
        lease_op("leases/renew", "Renew a lease.", false),
        lease_op("leases/renew/{lease_id*}", "Renew a lease.", false),
        lease_op("renew", "Renew a lease (older path).", false),
        lease_op("renew/{lease_id*}", "Renew a lease (older path).", false),
        lease_op("leases/revoke", "Revoke a lease.", true),
        lease_op("leases/revoke/{lease_id*}", "Revoke a lease.", true),
        lease_op("revoke", "Revoke a lease (older path).", true),
        lease_op("revoke/{lease_id*}", "Revoke a lease (older path).", true),
        Spec::new(
            "leases/tidy",
            "Clean up the lease index of tokens that no longer exist.",
        )
        .op(Update, "Tidy the leases.", |_, req, _| run(req, leases::tidy)),
        revoke_prefix(
            "revoke-prefix/{prefix*}",
            "Revoke every lease (token) created below a prefix (older path).",
        ),
        Spec::new(
            "wrapping/wrap",
            "Wrap the request body in a single-use token.",
        )
        .op(Update, "Wrap data.", |_, req, _| {
            run(req, wrapping::wrap_data)
        })
        .any_fields()
        .wraps_itself(),
        Spec::new(
            "wrapping/lookup",
            "What a wrapping token holds, without using it.",
        )
        .op(Read, "Look up a wrapping token.", |_, req, _| {
            run(req, wrapping::lookup)
        })
        .op(Update, "Look up a wrapping token.", |_, req, _| {
            run(req, wrapping::lookup)
        })
        .fields(TOKEN_FIELD)
        .unauthenticated()
        .wraps_itself(),
        Spec::new(
            "wrapping/unwrap",
            "Use a wrapping token: return what it wraps.",
        )
        .op(Update, "Unwrap.", |_, req, _| {
            run(req, |ctx| wrapping::unwrap(ctx, false))
        })
        .fields(TOKEN_FIELD)
        .wraps_itself(),
        Spec::new(
            "wrapping/rewrap",
            "Move wrapped data into a new wrapping token.",
        )
        .op(Update, "Rewrap.", |_, req, _| {
            run(req, |ctx| wrapping::unwrap(ctx, true))
        })
        .fields(TOKEN_FIELD)
        .wraps_itself(),
        Spec::new(
            "internal/ui/mounts",
            "The mounts the token can see (for UIs).",
        )
        .op(Read, "List visible mounts.", |_, req, _| {
            run(req, |ctx| async { Ok(internal::ui_mounts(ctx)) })
        })
        .acl_exempt(),
        Spec::new(
            "internal/ui/mounts/{path*}",
            "One mount the token can see (for UIs).",
        )
        .op(Read, "Read a visible mount.", |_, req, c| {
            run(req, move |ctx| async move {
                internal::ui_mount(ctx, c.get("path"))
            })
        })
        .acl_exempt(),
        Spec::new(
            "storage/raft/snapshot",
            "A snapshot of the whole store: an encrypted, consistent copy taken while serving \
             (GET; sudo). POST a snapshot here to restore it into a new server.",
        )
        .op(Read, "Take a snapshot.", |_, req, _| {
            run(req, |ctx| async {
                let file = ctx.core.snapshot().await?;
                Ok(Response::bytes("application/octet-stream", file))
            })
        })
        .sudo(),
        Spec::new("metrics", "The server's metrics (Vault's names).")
            .op(
                Read,
                "Read the metrics: JSON, or Prometheus text with format=prometheus.",
                |_, req, _| {
                    run(req, |ctx| async {
                        let format = ctx
                            .req
                            .data
                            .get("format")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("");
                        metrics::render(ctx.core, format).await
                    })
                },
            )
            .fields(&[Field::new(
                "format",
                FieldType::String,
                "\"prometheus\" for Prometheus text; empty or \"json\" for JSON.",
            )]),
        Spec::new(
            "internal/ui/resultant-acl",
            "The caller's policies merged into one ACL (for UIs).",
        )
        .op(Read, "Read the resultant ACL.", |_, req, _| {
            run(req, |ctx| async { internal::resultant_acl(ctx) })
        }),
        Spec::new(
            "internal/specs/openapi",
            "An OpenAPI 3 document of the paths the token can reach.",
        )
        .op(Read, "Read the OpenAPI document.", |_, req, _| {
            run(req, |ctx| async { Ok(internal::openapi(ctx)) })
        }),
    ];
    // The unseal shares, and the recovery shares of an auto-unseal seal.
    specs.extend(rekey_specs("rekey"));
    specs.extend(rekey_specs("rekey-recovery-key"));
    specs
}

/// Which shares the rekey path `rel` (below `sys/`) replaces.
fn rekey_target(rel: &str) -> RekeyTarget {
    if rel.starts_with("rekey-recovery-key/") {
        RekeyTarget::Recovery
    } else {
        RekeyTarget::Unseal
    }
}

/// `<prefix>/init` and `<prefix>/update` of a rekey (`rekey` for the unseal shares,
/// `rekey-recovery-key` for the recovery shares: the handlers tell them apart by the path).
fn rekey_specs(prefix: &'static str) -> [Spec; 2] {
    use Operation::{Delete, Read, Update};
    [
        Spec::new(
            format!("{prefix}/init"),
            "A rekey of the key shares: its status, start, cancel.",
        )
        .op(Read, "The rekey in progress.", |_, req, _| {
            run(req, |ctx| async {
                seal::rekey_status(ctx.core, rekey_target(ctx.rel))
            })
        })
        .op(Update, "Start a rekey.", |_, req, _| {
            run(req, |ctx| async {
                seal::rekey_init(ctx.core, rekey_target(ctx.rel), &ctx.req.data)
            })
        })
        .op(Delete, "Cancel the rekey.", |_, req, _| {
            run(req, |ctx| async {
                seal::rekey_cancel(ctx.core, rekey_target(ctx.rel))
            })
        })
        .fields(REKEY_INIT_FIELDS)
        .unauthenticated(),
        Spec::new(
            format!("{prefix}/update"),
            "Enter a current key share for the rekey.",
        )
        .op(Update, "Enter a key share.", |_, req, _| {
            run(req, |ctx| {
                seal::rekey_update(ctx.core, rekey_target(ctx.rel), &ctx.req.data)
            })
        })
        .fields(REKEY_UPDATE_FIELDS)
        .unauthenticated(),
    ]
}

/// `revoke-prefix`, under its current and its older name.
const LEASE_FIELDS: &[Field] = &[
    Field::new("lease_id", FieldType::String, "The lease's id."),
    Field::new(
        "increment",
        FieldType::Duration,
        "Renewal: the TTL asked for from now.",
    ),
    Field::new(
        "sync",
        Bool,
        "Revocation: accepted; revocation is always synchronous.",
    ),
];

/// Renew (`revoke` false) or revoke a lease named in the body or the path.
fn lease_op(pattern: &'static str, help: &'static str, revoke: bool) -> Spec {
    let op: Handler<SystemBackend> = if revoke {
        |_, req, c| run(req, move |ctx| leases::revoke(ctx, Some(c.get("lease_id"))))
    } else {
        |_, req, c| run(req, move |ctx| leases::renew(ctx, Some(c.get("lease_id"))))
    };
    Spec::new(pattern, help)
        .op(Operation::Update, help, op)
        .fields(LEASE_FIELDS)
}

fn revoke_prefix(pattern: &'static str, help: &'static str) -> Spec {
    Spec::new(pattern, help)
        .op(Operation::Update, "Revoke by prefix.", |_, req, c| {
            run(req, move |ctx| leases::revoke_prefix(ctx, c.get("prefix")))
        })
        .fields(&[Field::new(
            "sync",
            Bool,
            "Accepted: revocation is always synchronous.",
        )])
        .sudo()
}

/// A policy listing; `legacy` is Vault's older `sys/policy` shape.
fn policy_list(pattern: &'static str, help: &'static str, legacy: bool) -> Spec {
    let list: Handler<SystemBackend> = if legacy {
        |_, req, _| run(req, |ctx| policy::list(ctx, true))
    } else {
        |_, req, _| run(req, |ctx| policy::list(ctx, false))
    };
    Spec::new(pattern, help)
        .op(Operation::Read, "List the policies.", list)
        .op(Operation::List, "List the policies.", list)
}

/// One policy: read, write, delete; `legacy` is Vault's older `sys/policy/<name>` shape.
fn policy_one(pattern: &'static str, help: &'static str, legacy: bool) -> Spec {
    let one: Handler<SystemBackend> = if legacy {
        |_, req, c| run(req, move |ctx| policy::policy(ctx, c.get("name"), true))
    } else {
        |_, req, c| run(req, move |ctx| policy::policy(ctx, c.get("name"), false))
    };
    Spec::new(pattern, help)
        .op(Operation::Read, "Read a policy.", one)
        .op(Operation::Update, "Write a policy.", one)
        .op(Operation::Delete, "Delete a policy.", one)
        .fields(&[
            s("policy", "The policy text, HCL or JSON."),
            s("rules", "The same as 'policy'."),
        ])
}

const CAPABILITY_FIELDS: &[Field] = &[
    Field::new("paths", Strings, "The paths to report on."),
    Field::new(
        "path",
        FieldType::String,
        "One path to report on (older form).",
    ),
    Field::new("token", FieldType::String, "The token (capabilities)."),
    Field::new(
        "accessor",
        FieldType::String,
        "The token's accessor (capabilities-accessor).",
    ),
];

fn paths() -> &'static Paths<SystemBackend> {
    static PATHS: OnceLock<Paths<SystemBackend>> = OnceLock::new();
    PATHS.get_or_init(|| Paths::new("sys/", "", specs()))
}

/// Whether a `sys/` path is one a root token may use with every audit device broken: those
/// that list, enable and disable audit devices.
pub(crate) fn repairs_audit(rel: &str) -> bool {
    rel == "audit" || rel.starts_with("audit/")
}

#[async_trait]
impl LogicalBackend for SystemBackend {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        paths().handle(self, req).await
    }

    async fn exists(&self, req: &EngineRequest<'_>) -> Result<bool> {
        let rel = req.path;
        if let Some(name) = rel
            .strip_prefix("policies/acl/")
            .or_else(|| rel.strip_prefix("policy/"))
        {
            return Ok(req.ctx()?.un.policies.get(name).await?.is_some());
        }
        Ok(true)
    }

    /// Policy names lower-cased as Vault does; policy, quota and mount-path names checked
    /// against the one naming rule.
    fn canonical_path<'a>(&self, rel: Cow<'a, str>) -> Result<Cow<'a, str>> {
        use crate::canonical::{mount_path_after, name_after};
        let rel = name_after(rel, "policies/acl/", "policy", true)?;
        let rel = name_after(rel, "policy/", "policy", true)?;
        let rel = name_after(rel, "policies/password/", "password policy", false)?;
        let rel = name_after(rel, "quotas/rate-limit/", "quota", false)?;
        let rel = mount_path_after(rel, "mounts/")?;
        let rel = mount_path_after(rel, "auth/")?;
        mount_path_after(rel, "audit/")
    }

    fn paths(&self) -> Option<&dyn PathTable> {
        Some(paths())
    }

    /// A wrapping token in a path segment is HMAC'd even on paths hush does not serve, so a
    /// client that puts one there does not leave it in the log.
    fn credential_in_path(&self, rel: &str) -> Option<usize> {
        crate::canonical::credential_after(
            rel,
            &["wrapping/unwrap/", "wrapping/lookup/", "wrapping/rewrap/"],
        )
    }

    /// Every `sys/` request's audit entry is written before it runs.
    fn changes_nothing(&self, _path: &str, _operation: Operation) -> bool {
        false
    }
}
