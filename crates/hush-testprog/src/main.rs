//! A small program the delivery tests run as a child of `hush run`.
//!
//! Usage: `hush-testprog STEP [+ STEP ...]`, where the steps run in order:
//!
//! | step | what it does |
//! |---|---|
//! | `env` | prints every environment variable as `NAME=VALUE`, sorted by name |
//! | `pid` | prints `pid=N`, its process ID |
//! | `printenv NAME...` | prints `NAME=VALUE` for each name (`NAME unset` when it is not set) |
//! | `echo [--stderr] TEXT` | prints TEXT and a newline |
//! | `echo-split [--stderr] TEXT1 TEXT2` | writes TEXT1, flushes, sleeps 50 ms, writes TEXT2 and a newline |
//! | `exit N` | exits with code N |
//! | `sleep SECS` | sleeps (fractions allowed) |
//! | `wait-signal` | prints `ready`, waits for SIGTERM/SIGINT/SIGHUP/SIGQUIT, prints `got TERM` (etc.) and exits 0 |
//! | `ignore-term` | prints `ready`, ignores SIGTERM (blocks it) and sleeps until killed |
//! | `kill-self SIG` | raises SIG (TERM, INT, KILL, HUP, QUIT, USR1 or a number) on itself |
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use nix::sys::signal::{raise, SigSet, Signal};

fn out(stderr: bool, text: &[u8]) {
    // Errors writing to a closed pipe are not this program's business: the test will notice.
    if stderr {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(text);
        let _ = e.flush();
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(text);
        let _ = o.flush();
    }
}

fn signal_by_name(name: &str) -> Option<Signal> {
    let name = name.trim_start_matches("SIG").to_ascii_uppercase();
    match name.as_str() {
        "TERM" => Some(Signal::SIGTERM),
        "INT" => Some(Signal::SIGINT),
        "KILL" => Some(Signal::SIGKILL),
        "HUP" => Some(Signal::SIGHUP),
        "QUIT" => Some(Signal::SIGQUIT),
        "USR1" => Some(Signal::SIGUSR1),
        number => number
            .parse::<i32>()
            .ok()
            .and_then(|n| Signal::try_from(n).ok()),
    }
}

fn short_name(sig: Signal) -> &'static str {
    sig.as_str().trim_start_matches("SIG")
}

/// Runs one step; `Some(code)` ends the program.
fn step(args: &[String]) -> Result<Option<u8>, String> {
    let (name, rest) = args.split_first().ok_or("empty step")?;
    let stderr = rest.first().map(String::as_str) == Some("--stderr");
    let rest = if stderr { &rest[1..] } else { rest };
    match name.as_str() {
        "env" => {
            let mut vars: Vec<(String, String)> = std::env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect();
            vars.sort();
            let mut text = String::new();
            for (k, v) in vars {
                text.push_str(&format!("{k}={v}\n"));
            }
            out(false, text.as_bytes());
        }
        "pid" => out(false, format!("pid={}\n", std::process::id()).as_bytes()),
        "printenv" => {
            let mut text = String::new();
            for n in rest {
                match std::env::var_os(n) {
                    Some(v) => text.push_str(&format!("{n}={}\n", v.to_string_lossy())),
                    None => text.push_str(&format!("{n} unset\n")),
                }
            }
            out(false, text.as_bytes());
        }
        "echo" => out(stderr, format!("{}\n", rest.join(" ")).as_bytes()),
        "echo-split" => {
            let [first, second] = rest else {
                return Err("echo-split needs TEXT1 TEXT2".into());
            };
            out(stderr, first.as_bytes());
            std::thread::sleep(Duration::from_millis(50));
            out(stderr, format!("{second}\n").as_bytes());
        }
        "exit" => {
            let code = rest
                .first()
                .and_then(|c| c.parse::<u8>().ok())
                .ok_or("exit needs a code 0-255")?;
            return Ok(Some(code));
        }
        "sleep" => {
            let secs = rest
                .first()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| *s >= 0.0)
                .ok_or("sleep needs seconds")?;
            std::thread::sleep(Duration::from_secs_f64(secs));
        }
        "wait-signal" => {
            let mut set = SigSet::empty();
            for sig in [
                Signal::SIGTERM,
                Signal::SIGINT,
                Signal::SIGHUP,
                Signal::SIGQUIT,
            ] {
                set.add(sig);
            }
            // Blocked signals stay pending until sigwait takes them: no handler is needed.
            set.thread_block()
                .map_err(|e| format!("block signals: {e}"))?;
            out(false, b"ready\n");
            let sig = set.wait().map_err(|e| format!("wait for a signal: {e}"))?;
            out(false, format!("got {}\n", short_name(sig)).as_bytes());
            return Ok(Some(0));
        }
        "ignore-term" => {
            let mut set = SigSet::empty();
            set.add(Signal::SIGTERM);
            set.thread_block()
                .map_err(|e| format!("block SIGTERM: {e}"))?;
            out(false, b"ready\n");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "kill-self" => {
            let sig = rest
                .first()
                .and_then(|s| signal_by_name(s))
                .ok_or("kill-self needs a signal name or number")?;
            raise(sig).map_err(|e| format!("raise {sig}: {e}"))?;
            // A signal whose default action is not to terminate (or is blocked) lands here.
            std::thread::sleep(Duration::from_secs(5));
        }
        other => return Err(format!("unknown step {other}")),
    }
    Ok(None)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: hush-testprog STEP [ARGS...] [+ STEP [ARGS...]]...");
        return ExitCode::from(2);
    }
    for group in args.split(|a| a == "+") {
        match step(group) {
            Ok(None) => {}
            Ok(Some(code)) => return ExitCode::from(code),
            Err(err) => {
                eprintln!("hush-testprog: {err}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
