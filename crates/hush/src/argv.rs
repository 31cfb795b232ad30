//! Accepts the vault CLI's single-dash long options (`-address=...`, `-key-shares 5`, `-dev`).
//!
//! Go's flag package, which the vault CLI uses, takes long options with one dash. Scripts written
//! for vault should work with hush unchanged, so before clap sees the command line, every
//! `-name` or `-name=value` whose `name` is a long option of the command being parsed becomes
//! `--name...`. Anything else (short options like `-h`, values like `-` or `key=-`, arguments
//! after a bare `--`) is left alone.

use std::collections::HashMap;
use std::ffi::OsString;

use clap::Command;

/// Long options of one command (including global ones propagated into it): name -> whether the
/// option takes a value.
struct Scope<'a> {
    command: &'a Command,
    longs: HashMap<&'a str, bool>,
    shorts: Vec<char>,
}

impl<'a> Scope<'a> {
    fn new(command: &'a Command) -> Self {
        let longs = command
            .get_arguments()
            .flat_map(|arg| {
                // An option whose value must be attached (`--renewable=false`) never takes the
                // next argument as its value.
                let takes_value = arg.get_action().takes_values() && !arg.is_require_equals_set();
                arg.get_long_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .map(move |name| (name, takes_value))
            })
            .collect();
        let shorts = command
            .get_arguments()
            .flat_map(|arg| arg.get_short_and_visible_aliases().into_iter().flatten())
            .collect();
        Scope {
            command,
            longs,
            shorts,
        }
    }

    fn subcommand(&self, name: &str) -> Option<&'a Command> {
        self.command
            .get_subcommands()
            .find(|sub| sub.get_name() == name || sub.get_all_aliases().any(|a| a == name))
    }
}

/// Rewrites Vault-style single-dash long options in `args` (the first element being the program
/// name) to clap's double-dash form.
///
/// `command` must have been built (`Command::build`) so that global and generated options
/// (`--help`, `--version`) are visible in every subcommand.
pub fn rewrite_single_dash(command: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let mut scope = Scope::new(command);
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    // The program name is never an option.
    if let Some(program) = iter.next() {
        out.push(program);
    }
    // Whether the previous argument was an option that takes its value as the next argument;
    // that value is passed through untouched even if it starts with a dash.
    let mut value_expected = false;
    let mut rest_verbatim = false;

    for arg in iter {
        if rest_verbatim || std::mem::take(&mut value_expected) {
            out.push(arg);
            continue;
        }
        // Non-UTF-8 arguments cannot be option names clap knows; pass them on as they are.
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            rest_verbatim = true;
            out.push(arg);
            continue;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline_value) = split_option(long);
            value_expected = !inline_value && scope.longs.get(name).copied().unwrap_or(false);
            out.push(arg);
            continue;
        }
        if let Some(single) = text.strip_prefix('-') {
            let (name, inline_value) = split_option(single);
            // One-letter names stay short options (`-h`, `-V`), as in clap.
            if name.chars().count() > 1 {
                if let Some(&takes_value) = scope.longs.get(name) {
                    value_expected = !inline_value && takes_value;
                    out.push(OsString::from(format!("-{text}")));
                    continue;
                }
                // A Vault-style option this command does not have (`-versoin=1`): as `--name`
                // clap answers "unexpected argument" with the closest real option, where `-v...`
                // would be read as a cluster of short options and blamed on `-v`.
                if looks_like_option_name(name) && !name.chars().all(|c| scope.shorts.contains(&c))
                {
                    out.push(OsString::from(format!("-{text}")));
                    continue;
                }
            }
            out.push(arg);
            continue;
        }
        // A bare word that names a subcommand selects that subcommand's options from here on.
        if let Some(sub) = scope.subcommand(text) {
            scope = Scope::new(sub);
        }
        out.push(arg);
    }
    out
}

/// Whether `name` could be a mistyped long option: a letter, then letters, digits, `-` or `_`
/// (never a negative number or a lone value).
fn looks_like_option_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Splits `name=value` into the name and whether a value was attached.
fn split_option(option: &str) -> (&str, bool) {
    match option.split_once('=') {
        Some((name, _)) => (name, true),
        None => (option, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> Command {
        let mut cmd = Command::new("hush")
            .version("1.0")
            .arg(
                Arg::new("address")
                    .long("address")
                    .global(true)
                    .action(ArgAction::Set),
            )
            .subcommand(
                Command::new("server")
                    .arg(Arg::new("dev").long("dev").action(ArgAction::SetTrue))
                    .arg(
                        Arg::new("dev-root-token-id")
                            .long("dev-root-token-id")
                            .action(ArgAction::Set),
                    ),
            )
            .subcommand(
                Command::new("init")
                    .arg(
                        Arg::new("key-shares")
                            .long("key-shares")
                            .action(ArgAction::Set),
                    )
                    .arg(Arg::new("format").long("format").action(ArgAction::Set)),
            )
            .subcommand(
                Command::new("unseal")
                    .arg(Arg::new("key"))
                    .arg(Arg::new("reset").long("reset").action(ArgAction::SetTrue)),
            )
            .subcommand(
                Command::new("create").arg(
                    Arg::new("renewable")
                        .long("renewable")
                        .num_args(0..=1)
                        .require_equals(true)
                        .action(ArgAction::Set),
                ),
            );
        cmd.build();
        cmd
    }

    fn rewrite(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        rewrite_single_dash(&command(), args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_options_become_double_dash() {
        assert_eq!(
            rewrite(&["hush", "init", "-key-shares=5", "-format", "json"]),
            ["hush", "init", "--key-shares=5", "--format", "json"]
        );
        assert_eq!(
            rewrite(&["hush", "server", "-dev", "-dev-root-token-id=root"]),
            ["hush", "server", "--dev", "--dev-root-token-id=root"]
        );
    }

    #[test]
    fn global_options_are_known_before_and_after_the_subcommand() {
        assert_eq!(
            rewrite(&[
                "hush",
                "-address=http://x:1",
                "unseal",
                "-address",
                "http://y:2"
            ]),
            [
                "hush",
                "--address=http://x:1",
                "unseal",
                "--address",
                "http://y:2"
            ]
        );
    }

    #[test]
    fn unknown_long_names_become_double_dash_for_clap_to_reject() {
        // `-dev` belongs to `server`, not to `init`, and `-versoin` is nobody's: as `--name`,
        // clap rejects them naming the closest real option instead of blaming `-d` or `-v`.
        assert_eq!(
            rewrite(&["hush", "init", "-dev"]),
            ["hush", "init", "--dev"]
        );
        assert_eq!(
            rewrite(&["hush", "-key-shares=5", "init", "-versoin=1"]),
            ["hush", "--key-shares=5", "init", "--versoin=1"]
        );
    }

    #[test]
    fn short_options_numbers_and_unknown_single_letters_stay() {
        assert_eq!(
            rewrite(&["hush", "-h", "init", "-V", "-x", "-5", "-5m", "-hh"]),
            ["hush", "-h", "init", "-V", "-x", "-5", "-5m", "-hh"]
        );
        assert_eq!(rewrite(&["hush", "-help"]), ["hush", "--help"]);
        assert_eq!(rewrite(&["hush", "-version"]), ["hush", "--version"]);
    }

    #[test]
    fn values_are_not_options() {
        assert_eq!(
            rewrite(&["hush", "unseal", "key=-", "-"]),
            ["hush", "unseal", "key=-", "-"]
        );
        // The value of an option is passed through even when it looks like an option.
        assert_eq!(
            rewrite(&["hush", "server", "-dev-root-token-id", "-dev"]),
            ["hush", "server", "--dev-root-token-id", "-dev"]
        );
        assert_eq!(
            rewrite(&["hush", "server", "--dev-root-token-id", "-dev", "-dev"]),
            ["hush", "server", "--dev-root-token-id", "-dev", "--dev"]
        );
        // A flag takes no value, so what follows is parsed normally.
        assert_eq!(
            rewrite(&["hush", "unseal", "-reset", "-address=a"]),
            ["hush", "unseal", "--reset", "--address=a"]
        );
    }

    #[test]
    fn an_option_needing_an_attached_value_does_not_swallow_the_next_one() {
        assert_eq!(
            rewrite(&["hush", "create", "-renewable", "-address=x"]),
            ["hush", "create", "--renewable", "--address=x"]
        );
        assert_eq!(
            rewrite(&["hush", "create", "-renewable=false", "-address", "x"]),
            ["hush", "create", "--renewable=false", "--address", "x"]
        );
    }

    #[test]
    fn nothing_is_rewritten_after_a_double_dash() {
        assert_eq!(
            rewrite(&["hush", "unseal", "-reset", "--", "-reset", "-address=x"]),
            ["hush", "unseal", "--reset", "--", "-reset", "-address=x"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments_pass_through() {
        use std::os::unix::ffi::OsStringExt;
        let weird = OsString::from_vec(vec![b'-', 0xff, 0xfe]);
        let args = vec![OsString::from("hush"), weird.clone()];
        assert_eq!(rewrite_single_dash(&command(), args)[1], weird);
    }
}
