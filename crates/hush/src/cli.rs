//! The command line, as clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::audit::AuditCommand;
use crate::commands::auth::AuthCommand;
use crate::commands::generic;
use crate::commands::kv::KvCommand;
use crate::commands::login::LoginArgs;
use crate::commands::policy::PolicyCommand;
use crate::commands::secrets::SecretsCommand;
use crate::commands::token::TokenCommand;

/// hush: a self-hosted secrets manager that speaks Vault's HTTP API.
///
/// Options also accept Vault's single-dash spelling (-address=..., -key-shares=5), so scripts
/// written for the vault CLI keep working.
#[derive(Debug, Parser)]
#[command(name = "hush", version)]
pub struct Cli {
    /// Where to find the server; shared by all client commands.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Help heading of the connection options, which every subcommand accepts; a heading keeps them
/// apart from the subcommand's own options.
pub const CONNECTION: &str = "Connection options (client commands)";

/// How client commands reach the server.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Address of the hush server [default: $HUSH_ADDR, else $VAULT_ADDR, else
    /// http://127.0.0.1:8200]
    #[arg(long, global = true, value_name = "ADDR", help_heading = CONNECTION)]
    pub address: Option<String>,

    /// PEM file of the CA that signed the server's certificate [default: $HUSH_CACERT, else
    /// $VAULT_CACERT]
    #[arg(long, global = true, value_name = "FILE", help_heading = CONNECTION)]
    pub ca_cert: Option<PathBuf>,

    /// Do not verify the server's TLS certificate (for testing only; also $HUSH_SKIP_VERIFY)
    #[arg(long, global = true, help_heading = CONNECTION)]
    pub tls_skip_verify: bool,

    /// Wrap the answer in a single-use token that lives this long (e.g. 60s, 5m) and print the
    /// wrapping token instead; `hush unwrap` reads the answer [default: $VAULT_WRAP_TTL]
    #[arg(long, global = true, value_name = "DURATION", env = "VAULT_WRAP_TTL", help_heading = CONNECTION)]
    pub wrap_ttl: Option<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hush server
    Server(ServerArgs),
    /// Show the seal status (exit code 0: unsealed, 2: sealed, 1: error)
    Status(StatusArgs),
    /// Initialize a new server: create the unseal keys and the root token
    Init(InitArgs),
    /// Supply one unseal key share
    Unseal(UnsealArgs),
    /// Seal the server (needs a token allowed to seal)
    Seal,
    /// Print the version of this hush binary
    Version,
    /// Authenticate and save the token in ~/.hush-token for later commands
    Login(LoginArgs),
    /// Enable, disable, list and tune auth methods
    Auth {
        /// The auth command.
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Read the answer a response-wrapping token holds (sys/wrapping/unwrap)
    Unwrap(generic::UnwrapArgs),
    /// Describe an API path: what it is for, its operations and fields
    PathHelp(generic::PathHelpArgs),
    /// Print what the CLI uses (`hush print token`)
    Print {
        /// What to print.
        #[command(subcommand)]
        command: PrintCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run a command with secrets in its environment
    Run(hush_deliver::run::RunArgs),
    /// Print secrets as dotenv, JSON, YAML, tfvars or a Kubernetes Secret
    Export(hush_deliver::export::ExportArgs),
    /// Write secrets from dotenv, JSON or YAML files to the server
    Import(hush_deliver::import::ImportArgs),
    /// Render a template with secrets into a file
    Template(hush_deliver::template::TemplateArgs),
    /// Rotate a KV v2 secret now, or show its rotation (hush rotate status PATH)
    Rotate(crate::commands::rotate::RotateArgs),
    /// Renew, revoke, look up and list the leases of issued secrets
    Lease {
        /// The lease command.
        #[command(subcommand)]
        command: crate::commands::lease::LeaseCommand,
    },
    /// Create, inspect, renew and revoke tokens
    Token {
        /// The token command.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage ACL policies
    Policy {
        /// The policy command.
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Mount, tune, move and unmount secrets engines
    Secrets {
        /// The secrets command.
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Manage audit devices and verify audit logs
    Audit {
        /// The audit command.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Read and write secrets in the key/value engine (versions 1 and 2)
    Kv {
        /// The kv command.
        #[command(subcommand)]
        command: KvCommand,
    },
    /// Read any API path (exit code 2 when there is nothing)
    Read(generic::ReadArgs),
    /// Write data to any API path
    Write(generic::WriteArgs),
    /// Delete any API path
    Delete(generic::DeleteArgs),
    /// List the keys under any API path (exit code 2 when there is nothing)
    List(generic::ListArgs),
    /// Vault's spelling of init, unseal and seal (`vault operator init`), for existing scripts
    #[command(hide = true)]
    Operator {
        /// The operator command.
        #[command(subcommand)]
        command: OperatorCommand,
    },
}

/// The subcommands of `hush operator`, mirroring `vault operator`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Same as `hush init`
    Init(InitArgs),
    /// Same as `hush unseal`
    Unseal(UnsealArgs),
    /// Same as `hush seal`
    Seal,
    /// Replace the unseal (or recovery) key shares
    Rekey(crate::commands::operator::RekeyArgs),
    /// Make a new root token from a quorum of key shares
    GenerateRoot(crate::commands::operator::GenerateRootArgs),
    /// Ask the active server to give up leadership (HA)
    StepDown,
    /// Save or restore a snapshot of the whole store
    Snapshot {
        #[command(subcommand)]
        command: crate::commands::operator::SnapshotCommand,
    },
}

/// What `hush print` prints.
#[derive(Debug, Subcommand)]
pub enum PrintCommand {
    /// The token the CLI sends (HUSH_TOKEN, VAULT_TOKEN or ~/.hush-token)
    Token,
}

/// Options of `hush server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Development mode: in-memory storage, initialized and unsealed at start. Never for real
    /// secrets
    #[arg(long)]
    pub dev: bool,

    /// Root token to create in development mode
    #[arg(long, value_name = "ID")]
    pub dev_root_token_id: Option<String>,

    /// Address the development server listens on [default: 127.0.0.1:8200]
    #[arg(long, value_name = "ADDR")]
    pub dev_listen_address: Option<String>,

    /// Configuration file (HCL or JSON); repeat to merge several, in order
    #[arg(long = "config", value_name = "FILE")]
    pub config_files: Vec<PathBuf>,

    /// Directory of the embedded SQLite database, when no configuration names a storage
    #[arg(long, env = "HUSH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log level (trace, debug, info, warn, error); overrides the configuration file
    #[arg(long, env = "HUSH_LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned, human-readable text.
    Table,
    /// JSON, for scripts.
    Json,
    /// YAML, for people and scripts.
    Yaml,
}

/// Options of `hush status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Options of `hush init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Number of unseal key shares to create (Shamir seal) [default: 5]
    #[arg(long, value_name = "N")]
    pub key_shares: Option<u32>,

    /// Number of key shares needed to unseal (Shamir seal) [default: 3]
    #[arg(long, value_name = "T")]
    pub key_threshold: Option<u32>,

    /// Number of recovery key shares (auto-unseal seals, e.g. a static key) [default: 5]
    #[arg(long, value_name = "N")]
    pub recovery_shares: Option<u32>,

    /// Number of recovery key shares needed to authorize operations (auto-unseal seals)
    /// [default: 3]
    #[arg(long, value_name = "T")]
    pub recovery_threshold: Option<u32>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Options of `hush unseal`.
#[derive(Debug, Args)]
pub struct UnsealArgs {
    /// An unseal key share; prompted for (without echo) when omitted, read from standard input
    /// when "-"
    #[arg(value_name = "KEY")]
    pub key: Option<String>,

    /// Discard the key shares supplied so far and start over
    #[arg(long, conflicts_with = "key")]
    pub reset: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_vault_cli() {
        let cli = Cli::try_parse_from(["hush", "init"]).unwrap();
        match cli.command {
            Command::Init(args) => {
                // Five shares, three needed, of whichever keys the seal makes.
                let shamir = crate::init_request(&args, false);
                assert_eq!((shamir.secret_shares, shamir.secret_threshold), (5, 3));
                assert_eq!(shamir.recovery_shares, None);
                let auto = crate::init_request(&args, true);
                assert_eq!((auto.secret_shares, auto.secret_threshold), (0, 0));
                assert_eq!(
                    (auto.recovery_shares, auto.recovery_threshold),
                    (Some(5), Some(3))
                );
                assert_eq!(args.format, Format::Table);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn unseal_reset_conflicts_with_a_key() {
        let err = Cli::try_parse_from(["hush", "unseal", "--reset", "abc"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn global_address_is_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from(["hush", "status", "--address", "http://h:1"]).unwrap();
        assert_eq!(cli.connection.address.as_deref(), Some("http://h:1"));
    }
}
