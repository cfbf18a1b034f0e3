//! The `simplep2p` command line: global arguments, exit codes and failures.
//! Each command lives in its own file under `cli/`.
//!
//! stdout carries data (messages, results, peer lists); stderr carries
//! diagnostics and the `ready` line scripts wait for.

mod output;
mod peers;
mod recv;
mod send;

use std::ffi::OsString;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

use argh::FromArgs;
use simplep2p::{Config, DEFAULT_GROUP, DEFAULT_PORT};

use self::peers::PeersArgs;
use self::recv::RecvArgs;
use self::send::SendArgs;

/// Success: every peer acknowledged, or the listing or receiving finished.
pub const EXIT_OK: i32 = 0;
/// The network answered but not as hoped: no peer found, or one did not acknowledge.
pub const EXIT_FAIL: i32 = 1;
/// Bad arguments or a network set-up error: nothing was tried.
pub const EXIT_USAGE: i32 = 2;
/// The operation succeeded but its result could not be written (standard
/// output closed): a script must not take this for a failed send and retry.
/// A failed operation still exits 1, so the precedence is 2, 1, 3, 0.
pub const EXIT_OUTPUT: i32 = 3;

#[derive(FromArgs, Debug)]
/// Find the programs on this network segment and exchange messages with them
/// over UDP multicast, with no server. Exit codes: 0 success, 1 no peer or
/// not every peer acknowledged, 2 bad arguments or network set-up error,
/// 3 standard output closed after the operation succeeded (a failed one
/// still exits 1).
struct Args {
    /// multicast group to join (default 239.255.0.1)
    #[argh(option, default = "DEFAULT_GROUP")]
    group: Ipv4Addr,

    /// UDP port of the group (default 30001)
    #[argh(option, default = "DEFAULT_PORT")]
    port: u16,

    /// address of the interface to use; 127.0.0.1 keeps all traffic on this
    /// host (default 0.0.0.0: the kernel's choice)
    #[argh(option, default = "Ipv4Addr::UNSPECIFIED")]
    interface: Ipv4Addr,

    /// multicast time-to-live; 1 stays on this segment (default 1)
    #[argh(option, default = "1")]
    ttl: u32,

    /// a name other peers see, at most 64 bytes (default none)
    #[argh(option, default = "String::new()")]
    name: String,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,

    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    Recv(RecvArgs),
    Send(SendArgs),
    Peers(PeersArgs),
}

/// Runs the command line in `argv` and returns the exit code.
pub fn run(argv: Vec<OsString>) -> i32 {
    let args = match parse(argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.version {
        return print_or_exit_3(&format!("simplep2p {}\n", env!("CARGO_PKG_VERSION")));
    }
    let Some(command) = &args.command else {
        diag("no command given: run 'simplep2p --help' for the commands");
        return EXIT_USAGE;
    };
    let config = Config::default()
        .group(args.group)
        .port(args.port)
        .interface(args.interface)
        .ttl(args.ttl)
        .name(args.name.as_str());
    // The library's one check, so the CLI refuses what Rust, C and Python do.
    if let Err(e) = config.validate() {
        diag(e);
        return EXIT_USAGE;
    }
    let result = match command {
        Command::Recv(cmd) => recv::recv(config, cmd),
        Command::Send(cmd) => send::send(config, cmd),
        Command::Peers(cmd) => peers::peers(config, cmd),
    };
    result.unwrap_or_else(|e| {
        diag(&e);
        e.code
    })
}

/// One diagnostic line on stderr. If stderr itself is gone there is no one
/// left to tell, and the exit code still says what happened.
fn diag(message: impl std::fmt::Display) {
    let _ = writeln!(io::stderr(), "simplep2p: {message}");
}

fn parse(argv: Vec<OsString>) -> Result<Args, i32> {
    let mut strings = Vec::with_capacity(argv.len());
    for arg in argv {
        match arg.into_string() {
            Ok(s) => strings.push(s),
            Err(bad) => {
                diag(format_args!(
                    "argument {:?} is not UTF-8: pass binary messages on standard input with 'send --stdin'",
                    bad.to_string_lossy()
                ));
                return Err(EXIT_USAGE);
            }
        }
    }
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    Args::from_args(&["simplep2p"], &rest).map_err(|exit| match exit.status {
        Ok(()) => print_or_exit_3(&exit.output),
        Err(()) => {
            diag(format_args!("{}\nRun 'simplep2p --help' for usage.", exit.output.trim_end()));
            EXIT_USAGE
        }
    })
}

/// Prints help or the version: exit 0, or 3 if standard output is closed.
fn print_or_exit_3(text: &str) -> i32 {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            diag(output_error(&e));
            EXIT_OUTPUT
        }
    }
}

/// Writes a command's result and returns `code`, the operation's verdict.
/// If standard output fails, a failed operation still exits with its own
/// code (1): exit 3 says only "it worked, but you were not told".
fn print_result(text: &str, code: i32) -> Result<i32, Failure> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| {
        let (verdict, code) =
            if code == EXIT_OK { ("succeeded", EXIT_OUTPUT) } else { ("failed", code) };
        Failure {
            message: format!(
                "{}: the command {verdict} but its result was not printed",
                output_error(&e)
            ),
            code,
        }
    })?;
    Ok(code)
}

fn output_error(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::BrokenPipe {
        "standard output closed".into()
    } else {
        format!("could not write to standard output: {e}")
    }
}

/// A failure to report on stderr, with the exit code it ends in.
#[derive(Debug)]
struct Failure {
    message: String,
    code: i32,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<simplep2p::Error> for Failure {
    fn from(e: simplep2p::Error) -> Self {
        // Set-up and argument errors are usage errors; a socket failure in
        // the middle of a run is too, since nothing was learned about peers.
        Failure { message: e.to_string(), code: EXIT_USAGE }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure { message: message.into(), code: EXIT_USAGE }
}

/// Output that cannot be written (a closed pipe) ends the command with its
/// own code: the operation itself succeeded, or it would have failed first.
fn write_failed(e: io::Error) -> Failure {
    Failure { message: output_error(&e), code: EXIT_OUTPUT }
}

fn check_expect(expect: Option<usize>) -> Result<(), Failure> {
    match expect {
        Some(0) => Err(usage("--expect must be at least 1")),
        _ => Ok(()),
    }
}

fn check_quiet(ms: u64) -> Result<Duration, Failure> {
    if ms == 0 {
        return Err(usage("--quiet must be at least 1 millisecond"));
    }
    Ok(Duration::from_millis(ms))
}

fn check_timeout(ms: u64) -> Result<Duration, Failure> {
    if ms == 0 {
        return Err(usage("--timeout must be at least 1 millisecond"));
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("simplep2p").chain(args.iter().copied()).map(OsString::from).collect()
    }

    #[test]
    fn bad_arguments_exit_2() {
        assert_eq!(parse(argv(&["--port", "x", "peers"])).unwrap_err(), EXIT_USAGE);
        assert_eq!(parse(argv(&["send", "a", "b"])).unwrap_err(), EXIT_USAGE);
        assert_eq!(parse(argv(&["--group", "not-an-ip", "peers"])).unwrap_err(), EXIT_USAGE);
    }
}
