//! The `hush` binary: `hush server` and the command-line client.
//!
//! This crate only wires things together: the server lives in `hush-http`, the HTTP client in
//! `hush-client`. Errors are printed as `Error: <message>` with exit code 1; usage errors come
//! from clap with exit code 2.
#![forbid(unsafe_code)]

mod argv;
mod cli;
mod commands;
mod duration;
mod kvdata;
mod output;
mod server;
mod yaml;

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{CommandFactory, FromArgMatches};
use hush_client::{Client, ClientError, InitRequest};
use zeroize::Zeroizing;

use cli::{Cli, Command, Format, InitArgs, OperatorCommand, ServerArgs, StatusArgs};
use commands::policy::PolicyCommand;
use commands::{
    audit, auth, block_on, client_config, generic, kv, login, policy, secrets, stdout_error, token,
    with_client, UsageError, EXIT_USAGE,
};

// glibc's allocator serializes concurrent requests on its arena locks and fragments under the
// server's many short-lived allocations; mimalloc keeps per-thread heaps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Vault's exit code for `status` on a sealed server, which scripts test for.
const EXIT_SEALED: u8 = 2;

fn main() -> ExitCode {
    let mut command = Cli::command();
    // Building resolves global and generated options (--help, --version) in every subcommand,
    // which the single-dash rewriting needs to see.
    hide_client_options_of_server(&mut command);
    command.build();
    let args = argv::rewrite_single_dash(&command, std::env::args_os().collect());

    let cli = match command.try_get_matches_from_mut(args).and_then(|matches| {
        refuse_ignored_server_options(&mut command, &matches)?;
        Cli::from_arg_matches(&matches)
    }) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version requests are "errors" too, with exit code 0 and stdout output.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };

    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // Nothing sensible is left to do if even stderr is gone.
            let _ = writeln!(io::stderr(), "Error: {}", render_error(&err));
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The connection options are global so that every client command takes them anywhere on the
/// line; `hush server` uses none of them, so its help does not list them. A subcommand that
/// already has an argument keeps its own when globals are propagated (at build), so the server
/// gets hidden copies first.
fn hide_client_options_of_server(command: &mut clap::Command) {
    let hidden: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter(|a| a.get_help_heading() == Some(cli::CONNECTION))
        .map(|a| a.clone().hide(true))
        .collect();
    *command = std::mem::take(command).mut_subcommand("server", |server| server.args(hidden));
}

/// Refuses a server option given on the command line that the rest of the line makes
/// meaningless, rather than ignoring it: `--dev` keeps everything in memory, so a
/// `--data-dir` would silently hold nothing.
fn refuse_ignored_server_options(
    command: &mut clap::Command,
    matches: &clap::ArgMatches,
) -> Result<(), clap::Error> {
    let Some(("server", server)) = matches.subcommand() else {
        return Ok(());
    };
    let dev = server.try_get_one::<bool>("dev").ok().flatten() == Some(&true);
    let data_dir = server.value_source("data_dir") == Some(clap::parser::ValueSource::CommandLine);
    if dev && data_dir {
        return Err(command.error(
            clap::error::ErrorKind::ArgumentConflict,
            "--data-dir has no effect with --dev: a dev server keeps everything in memory. Drop \
             --dev to keep data in that directory, or drop --data-dir",
        ));
    }
    Ok(())
}

/// Joins an error and its causes with `: `, stopping at a [`ClientError`], whose message
/// already explains its cause (its sources are transport internals, noise to a user).
fn render_error(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !message.is_empty() {
            if message.contains(&text) {
                continue;
            }
            message.push_str(": ");
        }
        message.push_str(&text);
        if cause.is::<ClientError>() {
            break;
        }
    }
    message
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Server(args) => run_server(args),
        Command::Version => {
            writeln!(io::stdout(), "hush v{}", env!("CARGO_PKG_VERSION"))
                .context("could not write to standard output")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => with_client(&cli.connection, |client| status(client, args)),
        Command::Init(args)
        | Command::Operator {
            command: OperatorCommand::Init(args),
        } => with_client(&cli.connection, |client| init(client, args)),
        Command::Unseal(args)
        | Command::Operator {
            command: OperatorCommand::Unseal(args),
        } => {
            // The key is read before connecting, so a prompt is not cut short by a slow server.
            let key = if args.reset {
                None
            } else {
                Some(read_unseal_key(args.key)?)
            };
            with_client(&cli.connection, |client| unseal(client, key, args.format))
        }
        Command::Seal
        | Command::Operator {
            command: OperatorCommand::Seal,
        } => with_client(&cli.connection, seal),
        Command::Operator {
            command: OperatorCommand::Rekey(args),
        } => {
            // Only an update enters a share; it is read before connecting, as for unseal.
            let key = if args.init || args.cancel || args.status {
                None
            } else {
                Some(read_unseal_key(args.key.clone())?)
            };
            with_client(&cli.connection, |client| {
                commands::operator::rekey(client, args, key)
            })
        }
        Command::Operator {
            command: OperatorCommand::GenerateRoot(args),
        } => {
            if let (Some(encoded), Some(otp)) = (&args.decode, &args.otp) {
                let token = commands::operator::decode_root_token(encoded, otp)?;
                writeln!(io::stdout(), "{}", token.as_str()).map_err(commands::stdout_error)?;
                return Ok(ExitCode::SUCCESS);
            }
            let key = if args.enters_a_share() {
                Some(read_unseal_key(args.key.clone())?)
            } else {
                None
            };
            with_client(&cli.connection, |client| {
                commands::operator::generate_root(client, args, key)
            })
        }
        Command::Login(args) => login::run(&cli.connection, args),
        Command::Rotate(args) => with_client(&cli.connection, |client| {
            commands::rotate::run(client, args)
        }),
        Command::Lease { command } => with_client(&cli.connection, |client| {
            commands::lease::run(client, command)
        }),
        Command::Auth { command } => {
            with_client(&cli.connection, |client| auth::run(client, command))
        }
        Command::Unwrap(args) => {
            with_client(&cli.connection, |client| generic::unwrap(client, args))
        }
        Command::PathHelp(args) => {
            with_client(&cli.connection, |client| generic::path_help(client, args))
        }
        Command::Print {
            command: cli::PrintCommand::Token,
        } => generic::print_token(&client_config(&cli.connection)?),
        Command::Completion { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "hush", &mut io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator {
            command: OperatorCommand::StepDown,
        } => with_client(&cli.connection, commands::operator::step_down),
        Command::Operator {
            command: OperatorCommand::Snapshot { command },
        } => commands::operator::snapshot(&cli.connection, command),
        Command::Run(args) => {
            let config = client_config(&cli.connection)?;
            let code = block_on(hush_deliver::run::run(args, config))??;
            // The child's code is passed on; one outside 0..=255 cannot be, so it counts as
            // a failure.
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        Command::Export(args) => {
            let config = client_config(&cli.connection)?;
            block_on(hush_deliver::export::export(args, config))??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => {
            let config = client_config(&cli.connection)?;
            block_on(hush_deliver::import::import(args, config))??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Template(args) => {
            let config = client_config(&cli.connection)?;
            block_on(hush_deliver::template::template(args, config))??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { command } => {
            with_client(&cli.connection, |client| token::run(client, command))
        }
        // Formatting a policy file needs no server.
        Command::Policy {
            command: PolicyCommand::Fmt(args),
        } => policy::fmt(&args),
        Command::Policy { command } => {
            with_client(&cli.connection, |client| policy::run(client, command))
        }
        Command::Secrets { command } => {
            with_client(&cli.connection, |client| secrets::run(client, command))
        }
        Command::Audit { command } => audit::run(&cli.connection, command),
        Command::Kv { command } => with_client(&cli.connection, |client| kv::run(client, command)),
        Command::Read(args) => with_client(&cli.connection, |client| generic::read(client, args)),
        Command::Write(args) => with_client(&cli.connection, |client| generic::write(client, args)),
        Command::Delete(args) => {
            with_client(&cli.connection, |client| generic::delete(client, args))
        }
        Command::List(args) => with_client(&cli.connection, |client| generic::list(client, args)),
    }
}

fn run_server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let options = server::ServerOptions {
        dev: args.dev,
        dev_root_token_id: args.dev_root_token_id,
        dev_listen_address: args.dev_listen_address,
        config_files: args.config_files,
        data_dir: args.data_dir,
        log_level: args.log_level,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(server::run(options))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a seal status with HA details, asking `sys/leader` for the latter. A server that cannot
/// answer that (sealed, or without the endpoint) still gets its status printed.
async fn print_status(
    client: &Client,
    status: &hush_client::SealStatus,
    format: Format,
) -> anyhow::Result<()> {
    let leader = client.leader().await.ok();
    let mut out = io::stdout().lock();
    output::write_seal_status(&mut out, status, leader.as_ref(), format).map_err(stdout_error)
}

async fn status(client: Client, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let status = client.seal_status().await?;
    print_status(&client, &status, args.format).await?;
    Ok(if status.sealed {
        ExitCode::from(EXIT_SEALED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn init(client: Client, args: InitArgs) -> anyhow::Result<ExitCode> {
    // As `vault operator init`: the seal decides which counts apply, so the defaults follow
    // the seal type the server reports; counts given explicitly go to the server as they are,
    // which refuses the ones its seal cannot use, saying which apply.
    let recovery_seal = client.seal_status().await?.recovery_seal;
    let request = init_request(&args, recovery_seal);
    let response = client.init(&request).await?;
    let mut out = io::stdout().lock();
    match args.format {
        Format::Json | Format::Yaml => {
            output::write_init_json(&mut out, &request, &response, args.format)
        }
        Format::Table => {
            // The server may adjust what was asked for (auto-unseal seals); its status says
            // what it really needs. If it cannot be asked, the request is the best guess.
            let requested = if response.recovery_keys.is_empty() {
                request.secret_threshold
            } else {
                request
                    .recovery_threshold
                    .unwrap_or(request.secret_threshold)
            };
            let threshold = match client.seal_status().await {
                Ok(status) if status.t > 0 => status.t,
                _ => requested,
            };
            output::write_init_table(&mut out, &response, threshold)
        }
    }
    .map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

/// The `sys/init` request for `args` on a server whose seal is (`recovery_seal`) or is not an
/// auto-unseal seal: five shares and a threshold of three of whichever keys it creates.
fn init_request(args: &InitArgs, recovery_seal: bool) -> InitRequest {
    if recovery_seal {
        let shares = args.recovery_shares.unwrap_or(5);
        InitRequest {
            secret_shares: args.key_shares.unwrap_or(0),
            secret_threshold: args.key_threshold.unwrap_or(0),
            recovery_shares: Some(shares),
            // One share needs one; otherwise three, or all of them when fewer are made.
            recovery_threshold: Some(args.recovery_threshold.unwrap_or(if shares <= 1 {
                1
            } else {
                shares.min(3)
            })),
        }
    } else {
        InitRequest {
            secret_shares: args.key_shares.unwrap_or(5),
            secret_threshold: args.key_threshold.unwrap_or(3),
            recovery_shares: args.recovery_shares,
            recovery_threshold: args.recovery_threshold,
        }
    }
}

/// Gets the unseal key from the argument, standard input (`-`, or when stdin is not a terminal)
/// or a prompt that does not echo.
fn read_unseal_key(arg: Option<String>) -> anyhow::Result<Zeroizing<String>> {
    let key = match arg {
        Some(key) if key != "-" => Zeroizing::new(key),
        Some(_) => read_stdin_line()?,
        None if !io::stdin().is_terminal() => read_stdin_line()?,
        None => Zeroizing::new(
            rpassword::prompt_password("Unseal Key (will be hidden): ").map_err(|e| {
                anyhow!(
                    "could not read the unseal key from the terminal: {e}. Pass the key as an \
                     argument, or \"-\" to read it from standard input"
                )
            })?,
        ),
    };
    let trimmed = Zeroizing::new(key.trim().to_owned());
    if trimmed.is_empty() {
        bail!(
            "the unseal key is empty. Give one key share as an argument, \"-\" to read it from \
             standard input, or nothing to be prompted for it"
        );
    }
    Ok(trimmed)
}

fn read_stdin_line() -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow!("could not read the unseal key from standard input: {e}"))?;
    Ok(line)
}

async fn unseal(
    client: Client,
    key: Option<Zeroizing<String>>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let status = match key {
        Some(key) => client.unseal(&key).await?,
        None => client.unseal_reset().await?,
    };
    print_status(&client, &status, format).await?;
    Ok(ExitCode::SUCCESS)
}

async fn seal(client: Client) -> anyhow::Result<ExitCode> {
    if !client.has_token() {
        bail!(
            "sealing needs a token allowed to seal (e.g. the root token). Set HUSH_TOKEN or \
             VAULT_TOKEN, or put the token in ~/.hush-token"
        );
    }
    client.seal().await?;
    writeln!(io::stdout(), "Success! hush is sealed.").map_err(stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_errors_include_context_but_not_transport_internals() {
        let io_err = io::Error::new(io::ErrorKind::AddrInUse, "address in use");
        let err = anyhow::Error::new(io_err).context("could not listen on 127.0.0.1:8200");
        assert_eq!(
            render_error(&err),
            "could not listen on 127.0.0.1:8200: address in use"
        );

        let api = ClientError::Api {
            status: 403,
            errors: vec!["permission denied".into()],
            path: "sys/seal".into(),
        };
        let err = anyhow::Error::new(api).context("sealing");
        assert_eq!(
            render_error(&err),
            "sealing: permission denied (HTTP 403) on sys/seal"
        );
    }

    #[test]
    fn repeated_messages_are_not_printed_twice() {
        let io_err = io::Error::other("disk full");
        let err = anyhow::Error::new(io_err).context("write failed: disk full");
        assert_eq!(render_error(&err), "write failed: disk full");
    }
}
