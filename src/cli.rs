//! The `simplep2p` command line: global arguments, exit codes and failures.
//! Each command lives in its own file under `cli/`.
//!
//! stdout carries data (messages, results, peer lists); stderr carries
//! diagnostics and the `ready` line scripts wait for.

mod keygen;
mod output;
mod peers;
mod recv;
mod send;
mod watch;

use std::ffi::OsString;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use simplep2p::{
    Config, DEFAULT_GROUP, DEFAULT_GROUP6, DEFAULT_PORT, Family, KEY_FILE_ENV, MAX_KEYS,
    REPLAY_WINDOW,
};

use self::keygen::KeygenArgs;
use self::output::{escape, shown};
use self::peers::PeersArgs;
use self::recv::RecvArgs;
use self::send::SendArgs;
use self::watch::WatchArgs;

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

/// The options of every command, which may come before or after its name.
const GLOBAL_OPTIONS: [&str; 9] = [
    "--group",
    "--group6",
    "--port",
    "--interface",
    "--exclude-interface",
    "--ttl",
    "--name",
    "--key-file",
    "--heartbeat",
];
/// Global switches (no value), moved to the front the same way.
const GLOBAL_SWITCHES: [&str; 3] = ["--no-legacy", "--ipv4-only", "--ipv6-only"];
/// What asks for help before a command's name (`simplep2p help send`).
const HELP: [&str; 3] = ["-h", "--help", "help"];

#[derive(FromArgs, Debug)]
/// Find the programs on this network segment and exchange messages with them
/// over UDP multicast, with no server.
#[argh(help_triggers("-h", "--help"))]
#[argh(note = "The options above may also follow the command, as in
simplep2p send --interface 127.0.0.1 hello.")]
#[argh(note = "Exit codes, the same for every command:
  0  success
  1  no peer found, or not every peer acknowledged
  2  bad arguments or network set-up error: nothing was sent
  3  the operation succeeded, but standard output is closed so its result
     was not printed (a failed operation still exits 1)")]
#[argh(note = "Group keys: 'simplep2p keygen --out PATH' writes a new key file, mode
0600. Peers given the same file (--key-file PATH, or the environment
variable SIMPLEP2P_KEY_FILE=PATH) seal every datagram with its key:
programs without it can neither see nor affect them, and the original's
protocol (--legacy) is off. A key file that other users may read is
refused: 'chmod 600' it. To change keys, edit the files as 'simplep2p
keygen --help' says: running peers pick a change up within a second.")]
#[argh(note = "Heartbeats: recv multicasts one every --heartbeat MS (default 1000,
0 for none). A member silent for 3 of its intervals, that answers no
direct ping meanwhile either, is lost: 'simplep2p watch' prints it, about
3 s after a crash at the default. A recv with --heartbeat 0 is never
reported lost, only seen to leave.")]
struct Args {
    /// IPv4 multicast group to join (default 239.255.0.1)
    #[argh(option, default = "DEFAULT_GROUP")]
    group: Ipv4Addr,

    /// IPv6 multicast group to join, of link-local scope (default
    /// ff02::114)
    #[argh(option, default = "DEFAULT_GROUP6")]
    group6: Ipv6Addr,

    /// serve IPv4 only. Default: IPv4 and IPv6, each on every interface
    /// with an address of it (IPv6: a link-local one); a peer heard over
    /// both is one peer. Loopback is IPv4 only
    #[argh(switch)]
    ipv4_only: bool,

    /// serve IPv6 only (not on loopback, where Linux has no IPv6
    /// multicast)
    #[argh(switch)]
    ipv6_only: bool,

    /// UDP port of the group (default 30001)
    #[argh(option, default = "DEFAULT_PORT")]
    port: u16,

    /// an interface to serve, by name (eth0, lo) or by an address it holds
    /// (then used there: 10.0.0.5, fe80::1%eth0); may be given several
    /// times. 127.0.0.1 keeps all traffic on this host. Default: every
    /// interface that is up with multicast and an address, not a bridge
    /// port (loopback only if there is nothing else), followed as they come
    /// and go
    #[argh(option)]
    interface: Vec<String>,

    /// an interface never to serve, by name or address; may be given
    /// several times
    #[argh(option)]
    exclude_interface: Vec<String>,

    /// multicast time-to-live; 1 stays on this segment (default 1)
    #[argh(option, default = "1")]
    ttl: u32,

    /// a name other peers see, at most 64 bytes (default none)
    #[argh(option, default = "String::new()")]
    name: String,

    /// do not speak the original C++ SimpleP2P's text protocol: its
    /// datagrams are dropped (counted as malformed) and never answered.
    /// Under a key it is off anyway
    #[argh(switch)]
    no_legacy: bool,

    /// a group key file, as 'simplep2p keygen --out PATH' writes (mode
    /// 0600): every datagram is sealed with its key, and only peers with
    /// the key see this one. May be given twice (at most two keys in all).
    /// Default: the file $SIMPLEP2P_KEY_FILE names, if set
    #[argh(option)]
    key_file: Vec<PathBuf>,

    /// how often recv tells the group it is alive, in milliseconds: 10 to
    /// 3600000, or 0 for never (default 1000). Its watchers report it lost
    /// after 3 intervals of silence; with 0, it is never reported lost,
    /// only seen to leave. send, peers and watch send none
    #[argh(option, default = "1000")]
    heartbeat: u64,

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
    Keygen(KeygenArgs),
    Watch(WatchArgs),
}

/// Runs the command line in `argv` and returns the exit code.
pub fn run(argv: Vec<OsString>) -> i32 {
    let args = match parse(argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.version {
        return print_or_exit_3(&version());
    }
    let Some(command) = &args.command else {
        diag("no command given: run 'simplep2p --help' for the commands");
        return EXIT_USAGE;
    };
    let result = match command {
        Command::Keygen(_) if !args.key_file.is_empty() => Err(usage(
            "keygen makes a new key and reads none: write it to a new file with 'keygen --out PATH', not --key-file",
        )),
        Command::Keygen(cmd) => keygen::keygen(cmd),
        command => configure(&args).and_then(|config| match command {
            Command::Recv(cmd) => recv::recv(config, cmd),
            Command::Send(cmd) => send::send(config, cmd),
            Command::Peers(cmd) => peers::peers(config, cmd),
            Command::Watch(cmd) => watch::watch(config, cmd, args.heartbeat != 0),
            Command::Keygen(_) => unreachable!("keygen needs no configuration"),
        }),
    };
    result.unwrap_or_else(|e| {
        diag(&e);
        e.code
    })
}

/// The address families `--ipv4-only` and `--ipv6-only` leave.
fn family(args: &Args) -> Result<Family, Failure> {
    match (args.ipv4_only, args.ipv6_only) {
        (false, false) => Ok(Family::Both),
        (true, false) => Ok(Family::V4Only),
        (false, true) => Ok(Family::V6Only),
        (true, true) => Err(Failure {
            message:
                "--ipv4-only and --ipv6-only exclude each other: give one, or neither for both"
                    .into(),
            code: EXIT_USAGE,
        }),
    }
}

/// The peer's configuration from the global options, checked, with its key
/// files read once so that a bad one is refused before any socket opens.
fn configure(args: &Args) -> Result<Config, Failure> {
    let mut config = Config::default()
        .group(args.group)
        .group6(args.group6)
        .family(family(args)?)
        .port(args.port)
        .interfaces(args.interface.iter().cloned())
        .exclude_interfaces(args.exclude_interface.iter().cloned())
        .ttl(args.ttl)
        .name(args.name.as_str())
        .heartbeat((args.heartbeat != 0).then(|| Duration::from_millis(args.heartbeat)));
    // Left unset, it is on without a key and off with one.
    if args.no_legacy {
        config = config.legacy(false);
    }
    let files = key_files(args);
    for file in &files {
        config = config.key_file(&file.path);
    }
    // The library's one check, so the CLI refuses what Rust, C and Python do.
    config.validate()?;
    let mut keys = 0;
    for file in &files {
        keys += simplep2p::read_key_file(&file.path).map_err(|e| key_failure(e, file))?.len();
    }
    if keys > MAX_KEYS {
        return Err(simplep2p::Error::TooManyKeys(keys).into());
    }
    Ok(config)
}

/// A key file to use, and whether the environment named it.
struct KeyFile {
    path: PathBuf,
    from_env: bool,
}

/// `--key-file`s as given or else, as `Config::key_file_from_env` does,
/// the file `SIMPLEP2P_KEY_FILE` names if it is set and not empty.
fn key_files(args: &Args) -> Vec<KeyFile> {
    if !args.key_file.is_empty() {
        return args
            .key_file
            .iter()
            .map(|p| KeyFile { path: p.clone(), from_env: false })
            .collect();
    }
    match std::env::var_os(KEY_FILE_ENV) {
        Some(path) if !path.is_empty() => vec![KeyFile { path: path.into(), from_env: true }],
        _ => vec![],
    }
}

/// A key file's error as one line (the path escaped), saying where the
/// path came from when it was not on the command line.
fn key_failure(e: simplep2p::Error, file: &KeyFile) -> Failure {
    let simplep2p::Error::KeyFile { path, problem } = e else { return e.into() };
    let from = if file.from_env { format!(" (from {KEY_FILE_ENV})") } else { String::new() };
    usage(format!("key file {}{from}{problem}", shown(&path)))
}

/// One diagnostic line on stderr. If stderr itself is gone there is no one
/// left to tell, and the exit code still says what happened.
fn diag(message: impl std::fmt::Display) {
    let _ = writeln!(io::stderr(), "simplep2p: {message}");
}

/// When fewer peers answered than hoped, says on stderr what was heard
/// but could not count: older peers, forged answers, datagrams that did
/// not open (another key, or none) or were sealed too far from our clock.
fn explain_shortfall(peer: &simplep2p::Peer, keyed: bool) {
    let stats = peer.stats();
    if stats.auth_failed > 0 {
        let (n, s) = (stats.auth_failed, plural(stats.auth_failed));
        let why = if keyed {
            "peers with another key, or none, are invisible"
        } else {
            "this run has no key, and some peer seals with one"
        };
        diag(format_args!("{n} datagram{s} failed authentication: check --key-file ({why})"));
    }
    if stats.stale > 0 {
        let (n, s) = (stats.stale, plural(stats.stale));
        diag(format_args!(
            "{n} datagram{s} sealed outside the ±{} s clock window were dropped: check that the peers' clocks agree (NTP)",
            REPLAY_WINDOW.as_secs()
        ));
    }
    if stats.old_version > 0 {
        diag(format_args!(
            "{} datagrams from an older simplep2p (protocol version 1) were dropped: upgrade those peers",
            stats.old_version
        ));
    }
    if stats.forged > 0 {
        diag(format_args!(
            "{} answers were dropped as forged (wrong socket, address or id): see `recv --stats` on the peers",
            stats.forged
        ));
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn parse(argv: Vec<OsString>) -> Result<Args, i32> {
    let mut strings = Vec::with_capacity(argv.len());
    for arg in argv {
        match arg.into_string() {
            Ok(s) => strings.push(s),
            Err(bad) => {
                diag(format_args!(
                    "argument {} is not UTF-8: pass binary messages on standard input with 'send --stdin'",
                    escape(bad.as_encoded_bytes())
                ));
                return Err(EXIT_USAGE);
            }
        }
    }
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    let line = globals_first(&rest).map_err(|message| {
        diag(message);
        EXIT_USAGE
    })?;
    Args::from_args(&["simplep2p"], &line.args).map_err(|exit| match exit.status {
        Ok(()) => print_or_exit_3(&exit.output),
        Err(()) => {
            diag(parse_error(&exit.output, line.command));
            EXIT_USAGE
        }
    })
}

/// A command line with the global options moved in front of the command,
/// where argh takes them.
#[derive(Debug, PartialEq)]
struct Line<'a> {
    args: Vec<&'a str>,
    /// The command's name, if one was given, for pointing at its --help.
    command: Option<&'a str>,
}

/// Moves each global option and its value, wherever it is, to the front, so
/// `send --port 5000 x` means `--port 5000 send x`, and a request for help
/// before the command to after it, so `help send` means `send --help`.
/// Nothing after `--` is moved: that is a message.
fn globals_first<'a>(args: &[&'a str]) -> Result<Line<'a>, String> {
    let (mut globals, mut rest) = (Vec::new(), Vec::new());
    let (mut command, mut help) = (None, false);
    let mut it = args.iter().copied();
    while let Some(arg) = it.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(it.by_ref());
        } else if GLOBAL_OPTIONS.contains(&arg) {
            let Some(value) = it.next() else {
                return Err(format!(
                    "option {arg} needs a value: run 'simplep2p --help' for what it takes"
                ));
            };
            globals.extend([arg, value]);
        } else if GLOBAL_SWITCHES.contains(&arg) {
            globals.push(arg);
        } else if command.is_none() && HELP.contains(&arg) {
            // Left there, argh would hand the command the word `help`, and
            // `send` would send it.
            help = true;
        } else {
            // Top-level options are all switches, so the first word that is
            // not an option names the command.
            if command.is_none() && !arg.starts_with('-') {
                command = Some(arg);
                if help {
                    rest.extend([arg, "--help"]);
                    continue;
                }
            }
            rest.push(arg);
        }
    }
    if help && command.is_none() {
        rest.push("--help");
    }
    globals.extend(rest);
    Ok(Line { args: globals, command })
}

/// argh's error, as one line that says what to type instead.
fn parse_error(argh: &str, command: Option<&str>) -> String {
    let known = command.filter(|c| ["recv", "send", "peers", "keygen", "watch"].contains(c));
    let help = known.map_or("simplep2p --help".to_string(), |c| format!("simplep2p {c} --help"));
    let argh = argh.trim_end();
    if let Some(arg) = argh.strip_prefix("Unrecognized argument: ") {
        let arg = escape(arg.as_bytes());
        return if arg.starts_with('-') {
            format!("unrecognized argument {arg}: run '{help}' for the options")
        } else if known.is_none() {
            format!("unknown command {arg}: run 'simplep2p --help' for the commands")
        } else if known == Some("send") {
            format!("unexpected argument {arg}: quote a message that has spaces, or run '{help}'")
        } else {
            format!("unexpected argument {arg}: run '{help}' for the usage")
        };
    }
    if let Some(rest) = argh.strip_prefix("No value provided for option '") {
        let option = escape(rest.trim_end_matches("'.").as_bytes());
        return format!("option {option} needs a value: run '{help}' for what it takes");
    }
    if let Some((option, value, reason)) = bad_value(argh) {
        let help = if GLOBAL_OPTIONS.contains(&option) { "simplep2p --help" } else { &help };
        let value = escape(value.as_bytes());
        return match (option, reason) {
            (_, "duplicate values provided") => format!("{option} given twice: give it once"),
            _ => format!("{option} {value}: {reason}: run '{help}' for what it takes"),
        };
    }
    if argh.starts_with("Trailing arguments are not allowed after") {
        return format!("--help takes no other arguments: run '{help}'");
    }
    // A form this version of argh does not produce: still one line.
    let words: Vec<&str> = argh.lines().map(|l| l.trim().trim_end_matches([':', '.'])).collect();
    let words = escape(words.join("; ").as_bytes());
    let mut chars = words.chars();
    let first = chars.next().map(|c| c.to_lowercase().to_string()).unwrap_or_default();
    format!("{first}{}: run '{help}'", chars.as_str())
}

/// The option, value and reason of argh's "Error parsing option '--x' with
/// value 'v': reason".
fn bad_value(argh: &str) -> Option<(&str, &str, &str)> {
    let rest = argh.strip_prefix("Error parsing option '")?;
    let (option, rest) = rest.split_once("' with value '")?;
    // The value is the user's and may hold anything; the reason is ours.
    let (value, reason) = rest.rsplit_once("': ")?;
    Some((option, value, reason))
}

/// `--version`: the release, then the protocols it speaks, so that two
/// hosts' binaries can be told apart when they do not hear each other.
fn version() -> String {
    let sealed = if cfg!(feature = "crypto") {
        format!(
            "sealed {} (XChaCha20-Poly1305, with --key-file)",
            String::from_utf8_lossy(&simplep2p::wire::sealed::SEALED_MAGIC)
        )
    } else {
        "no sealed datagrams (built without the crypto feature)".to_owned()
    };
    format!(
        "simplep2p {}\nprotocols: simplep2p {} version {}; {sealed}; the original SimpleP2P's text (without a key)\n",
        env!("CARGO_PKG_VERSION"),
        String::from_utf8_lossy(&simplep2p::wire::MAGIC),
        simplep2p::wire::VERSION,
    )
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
        let message = match e {
            // A path may hold a line break: escaped, the error stays one line.
            simplep2p::Error::KeyFile { path, problem } => {
                format!("key file {}{problem}", shown(&path))
            }
            e => e.to_string(),
        };
        Failure { message, code: EXIT_USAGE }
    }
}

/// `--legacy` under a key: refused before anything is sent.
fn legacy_with_key() -> Failure {
    usage(format!("--legacy: {}", simplep2p::Error::LegacyWithKey))
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

    #[test]
    fn help_before_the_command_asks_for_its_help_and_after_send_is_a_message() {
        for asks in HELP {
            let line = globals_first(&[asks, "--port", "5", "send", "x"]).unwrap();
            assert_eq!(line.args, ["--port", "5", "send", "--help", "x"]);
            assert_eq!(globals_first(&[asks]).unwrap().args, ["--help"]);
        }
        // Through argh, not `parse`, which would print the help.
        let line = globals_first(&["--help", "send"]).unwrap();
        let help = Args::from_args(&["simplep2p"], &line.args).unwrap_err();
        assert!(help.status.is_ok() && help.output.starts_with("Usage: simplep2p send"));
        assert!(parse(argv(&["send", "help"])).is_ok());
        assert!(parse(argv(&["send", "--", "-h"])).is_ok());
    }

    #[test]
    fn global_options_move_in_front_but_nothing_after_double_dash() {
        let line = globals_first(&["send", "--port", "5", "x", "--", "--name", "y"]).unwrap();
        assert_eq!(line.args, ["--port", "5", "send", "x", "--", "--name", "y"]);
        assert_eq!(line.command, Some("send"));
        assert_eq!(globals_first(&["-V"]).unwrap().command, None);
        assert!(globals_first(&["peers", "--name"]).unwrap_err().contains("--name needs a value"));
    }

    #[test]
    fn key_file_is_global_and_may_be_given_twice() {
        let line = globals_first(&["send", "--key-file", "a", "x", "--key-file", "b"]).unwrap();
        assert_eq!(line.args, ["--key-file", "a", "--key-file", "b", "send", "x"]);
        let args = Args::from_args(&["simplep2p"], &line.args).unwrap();
        assert_eq!(args.key_file, [PathBuf::from("a"), PathBuf::from("b")]);
        assert!(matches!(args.command, Some(Command::Send(_))));
    }

    #[test]
    fn heartbeat_is_global_and_its_range_is_the_librarys() {
        let line = globals_first(&["watch", "--json", "--heartbeat", "200"]).unwrap();
        assert_eq!(line.args, ["--heartbeat", "200", "watch", "--json"]);
        let args = Args::from_args(&["simplep2p"], &line.args).unwrap();
        assert_eq!(args.heartbeat, 200);
        assert!(configure(&args).is_ok());
        for (ms, ok) in [(0, true), (10, true), (3_600_000, true), (9, false), (3_600_001, false)] {
            let args = Args::from_args(&["simplep2p"], &["--heartbeat", &ms.to_string(), "recv"]);
            let failure = configure(&args.unwrap()).err();
            assert_eq!(failure.is_none(), ok, "{ms}: {failure:?}");
            assert!(failure.is_none_or(|f| f.code == EXIT_USAGE && !f.message.contains('\n')));
        }
    }

    #[test]
    fn an_unforeseen_argh_error_is_still_one_line() {
        let line = parse_error("Required options not provided:\n    --x\n", Some("send"));
        assert_eq!(line, "required options not provided; --x: run 'simplep2p send --help'");
        let line = parse_error("Unrecognized argument: a\nb\n", None);
        assert!(!line.contains('\n'), "{line}");
    }
}
