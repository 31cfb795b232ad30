//! `hush lease renew|revoke|lookup|list`: the leases of secrets that engines issued, as
//! `vault lease ...` handles them.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use hush_client::{list_method, Client, Method};
use serde_json::{json, Value};

use super::{keys_of, print_keys, print_secret, success, FormatArgs, OutputArgs};

/// What `hush lease` does.
#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Extend a lease (by -increment, else by its TTL, never past its maximum)
    Renew {
        /// The lease id
        lease_id: String,
        /// The TTL asked for from now (Go duration or seconds)
        #[arg(long)]
        increment: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Revoke a lease now, or (-prefix) every lease below a prefix
    Revoke(RevokeArgs),
    /// Show a lease: when it was issued and expires, whether it renews
    Lookup {
        /// The lease id
        lease_id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List the lease ids below a prefix (e.g. database/creds/app)
    List {
        /// The prefix
        prefix: String,
        #[command(flatten)]
        format: FormatArgs,
    },
}

/// `hush lease revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The lease id, or with -prefix the prefix
    pub lease_id: String,
    /// Revoke every lease below the given prefix (needs sudo)
    #[arg(long)]
    pub prefix: bool,
    /// With -prefix: remove the leases even where the secret cannot be revoked (needs sudo)
    #[arg(long)]
    pub force: bool,
}

/// Runs a lease command.
pub async fn run(client: Client, command: LeaseCommand) -> anyhow::Result<ExitCode> {
    match command {
        LeaseCommand::Renew {
            lease_id,
            increment,
            output,
        } => {
            let mut body = json!({ "lease_id": lease_id });
            if let Some(i) = increment {
                body["increment"] = Value::String(i);
            }
            let answer = client
                .request(Method::PUT, "sys/leases/renew", Some(body))
                .await?
                .unwrap_or(Value::Null);
            print_secret(&answer, &output, false)
        }
        LeaseCommand::Revoke(args) => {
            let path = match (args.prefix, args.force) {
                (_, true) if !args.prefix => {
                    anyhow::bail!(
                        "-force applies with -prefix: hush lease revoke -prefix -force PREFIX"
                    )
                }
                (true, true) => format!("sys/leases/revoke-force/{}", args.lease_id),
                (true, false) => format!("sys/leases/revoke-prefix/{}", args.lease_id),
                (false, _) => "sys/leases/revoke".to_string(),
            };
            let body = (!args.prefix).then(|| json!({ "lease_id": args.lease_id }));
            client.request(Method::PUT, &path, body).await?;
            success(format_args!(
                "Success! Revoked lease{}: {}",
                if args.prefix { "s below" } else { "" },
                args.lease_id
            ))
        }
        LeaseCommand::Lookup { lease_id, output } => {
            let answer = client
                .request(
                    Method::PUT,
                    "sys/leases/lookup",
                    Some(json!({ "lease_id": lease_id })),
                )
                .await?
                .unwrap_or(Value::Null);
            print_secret(&answer, &output, false)
        }
        LeaseCommand::List { prefix, format } => {
            let path = format!("sys/leases/lookup/{}", prefix.trim_matches('/'));
            match client.request(list_method(), &path, None).await {
                Ok(Some(answer)) => print_keys(&keys_of(&answer), format.format),
                Ok(None) => success(format_args!("No leases below {prefix}")),
                Err(e) if e.status() == Some(404) => {
                    success(format_args!("No leases below {prefix}"))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
