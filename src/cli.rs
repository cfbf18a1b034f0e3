//! The `simplep2p` command line: argument parsing, output and exit codes.
//!
//! stdout carries data (messages, results, peer lists); stderr carries
//! diagnostics and the `ready` line scripts wait for.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use argh::FromArgs;
use simplep2p::wire::{self, legacy};
use simplep2p::{Config, DEFAULT_GROUP, DEFAULT_PORT, Message, Peer, PeerInfo, SendReport};

/// Success: every peer acknowledged, or the listing or receiving finished.
pub const EXIT_OK: i32 = 0;
/// The network answered but not as hoped: no peer found, or one did not acknowledge.
pub const EXIT_FAIL: i32 = 1;
/// Bad arguments or a network set-up error: nothing was tried.
pub const EXIT_USAGE: i32 = 2;

#[derive(FromArgs, Debug)]
/// Find the programs on this network segment and exchange messages with them
/// over UDP multicast, with no server. Exit codes: 0 success, 1 no peer or
/// not every peer acknowledged, 2 bad arguments or network set-up error.
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

#[derive(FromArgs, Debug)]
/// Run a peer: answer discovery, acknowledge messages and print one line per
/// message, `<sender-uuid> <message>` with non-printable bytes escaped as
/// \n, \t, \r, \\ or \xNN. Prints a `ready` line on stderr once it listens.
#[argh(subcommand, name = "recv")]
struct RecvArgs {
    /// exit 0 after this many messages (default: run until killed)
    #[argh(option)]
    count: Option<u64>,

    /// print one JSON object per message: sender, address, name, message
    /// (the text, or null if not UTF-8) and hex (the exact bytes)
    #[argh(switch)]
    json: bool,

    /// on exit, print the peer's counters (datagrams in and out, malformed
    /// dropped, duplicates, retransmissions, queue-full refusals): one line
    /// on stderr, or with --json a {"stats":...} object on stdout
    #[argh(switch)]
    stats: bool,
}

#[derive(FromArgs, Debug)]
/// Discover the peers, send them a message and wait until every one has
/// acknowledged it. Prints PASS or FAIL with counts and time, and the peers
/// that did not acknowledge. Exits 0 only if at least one peer (with
/// --expect N, at least N) was found and all acknowledged.
#[argh(subcommand, name = "send")]
struct SendArgs {
    /// the message: any text up to 16384 bytes
    #[argh(positional)]
    message: Option<String>,

    /// read the message from standard input instead, byte-exact (for
    /// binary data or text with newlines)
    #[argh(switch)]
    stdin: bool,

    /// stop discovering once this many peers answer (without it, once none
    /// new has answered for 50 ms), and fail with fewer
    #[argh(option)]
    expect: Option<usize>,

    /// give up after this many milliseconds in all, of which discovery may
    /// take three quarters (default 1000)
    #[argh(option, default = "1000")]
    timeout: u64,

    /// print the result as one JSON object
    #[argh(switch)]
    json: bool,

    /// speak the original C++ SimpleP2P's protocol, to drive a group of its
    /// peers (simplep2p peers answer it too); the message must be one word
    /// of printable ASCII
    #[argh(switch)]
    legacy: bool,
}

#[derive(FromArgs, Debug)]
/// Discover the peers and list them, one per line: uuid, address, name;
/// then the count. Exits 1 if none (with --expect N, fewer than N) answered.
#[argh(subcommand, name = "peers")]
struct PeersArgs {
    /// stop once this many peers answer, and fail with fewer
    #[argh(option)]
    expect: Option<usize>,

    /// give up after this many milliseconds (default 1000)
    #[argh(option, default = "1000")]
    timeout: u64,

    /// print the result as one JSON object
    #[argh(switch)]
    json: bool,

    /// speak the original C++ SimpleP2P's protocol, to drive a group of its
    /// peers (simplep2p peers answer it too)
    #[argh(switch)]
    legacy: bool,
}

/// Runs the command line in `argv` and returns the exit code.
pub fn run(argv: Vec<OsString>) -> i32 {
    let args = match parse(argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.version {
        println!("simplep2p {}", env!("CARGO_PKG_VERSION"));
        return EXIT_OK;
    }
    if args.port == 0 {
        eprintln!("simplep2p: --port must be between 1 and 65535: peers meet on a fixed port");
        return EXIT_USAGE;
    }
    let Some(command) = &args.command else {
        eprintln!("simplep2p: no command given: run 'simplep2p --help' for the commands");
        return EXIT_USAGE;
    };
    let config = Config::default()
        .group(args.group)
        .port(args.port)
        .interface(args.interface)
        .ttl(args.ttl)
        .name(args.name.as_str());
    let result = match command {
        Command::Recv(cmd) => recv(config, cmd),
        Command::Send(cmd) => send(config, cmd),
        Command::Peers(cmd) => peers(config, cmd),
    };
    result.unwrap_or_else(|e| {
        eprintln!("simplep2p: {e}");
        e.code
    })
}

fn parse(argv: Vec<OsString>) -> Result<Args, i32> {
    let mut strings = Vec::with_capacity(argv.len());
    for arg in argv {
        match arg.into_string() {
            Ok(s) => strings.push(s),
            Err(bad) => {
                eprintln!(
                    "simplep2p: argument {:?} is not UTF-8: pass binary messages on standard input with 'send --stdin'",
                    bad.to_string_lossy()
                );
                return Err(EXIT_USAGE);
            }
        }
    }
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    Args::from_args(&["simplep2p"], &rest).map_err(|exit| match exit.status {
        Ok(()) => {
            println!("{}", exit.output);
            EXIT_OK
        }
        Err(()) => {
            eprintln!("simplep2p: {}\nRun 'simplep2p --help' for usage.", exit.output.trim_end());
            EXIT_USAGE
        }
    })
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

/// Output that cannot be written (a closed pipe) ends the command with exit 1.
fn write_failed(_: io::Error) -> Failure {
    Failure { message: "standard output closed".into(), code: EXIT_FAIL }
}

fn check_expect(expect: Option<usize>) -> Result<(), Failure> {
    match expect {
        Some(0) => Err(usage("--expect must be at least 1")),
        _ => Ok(()),
    }
}

fn check_timeout(ms: u64) -> Result<Duration, Failure> {
    if ms == 0 {
        return Err(usage("--timeout must be at least 1 millisecond"));
    }
    Ok(Duration::from_millis(ms))
}

fn recv(config: Config, cmd: &RecvArgs) -> Result<i32, Failure> {
    let peer = Peer::start(config)?;
    // SIGINT and SIGTERM close the peer (goodbye, threads stopped), which
    // ends the loop below: a clean exit 0 rather than a kill.
    let _signals = simplep2p::close_on_termination(&peer).map_err(|e| Failure {
        message: format!("could not set up signal handling: {e}"),
        code: EXIT_USAGE,
    })?;
    let name = if peer.name().is_empty() {
        String::new()
    } else {
        format!(" ({})", escape(peer.name().as_bytes()))
    };
    eprintln!(
        "simplep2p: ready: peer {}{name} on group {}, unicast {}",
        peer.id(),
        peer.group(),
        peer.local_addr()
    );
    let stdout = io::stdout();
    let mut seen = 0u64;
    while cmd.count.is_none_or(|n| seen < n) {
        let msg = match peer.recv() {
            Ok(msg) => msg,
            Err(simplep2p::Error::Closed) => break, // a signal closed the peer
            Err(e) => return Err(e.into()),
        };

        let mut out = stdout.lock();
        let line = if cmd.json {
            message_json(&msg)
        } else {
            format!("{} {}", msg.sender, escape(&msg.data))
        };
        writeln!(out, "{line}").and_then(|()| out.flush()).map_err(write_failed)?;
        seen += 1;
    }
    if cmd.stats {
        let named = peer.stats().named();
        if cmd.json {
            let fields: Vec<String> = named.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let mut out = stdout.lock();
            writeln!(out, "{{\"stats\":{{{}}}}}", fields.join(",")).map_err(write_failed)?;
        } else {
            let fields: Vec<String> = named.iter().map(|(k, v)| format!("{k}={v}")).collect();
            eprintln!("simplep2p: stats: {}", fields.join(" "));
        }
    }
    Ok(EXIT_OK)
}

fn read_message(cmd: &SendArgs) -> Result<Vec<u8>, Failure> {
    match (&cmd.message, cmd.stdin) {
        (Some(text), false) => return Ok(text.as_bytes().to_vec()),
        (None, true) => {}
        (Some(_), true) => {
            return Err(usage("give the message as an argument or --stdin, not both"));
        }
        (None, false) => return Err(usage("no message: give it as an argument, or pass --stdin")),
    }
    let mut data = Vec::new();
    // Read one byte past the limit to tell "too large" from "exactly at it".
    io::stdin()
        .take(wire::MAX_MESSAGE as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| usage(format!("could not read the message from standard input: {e}")))?;
    Ok(data)
}

fn send(config: Config, cmd: &SendArgs) -> Result<i32, Failure> {
    check_expect(cmd.expect)?;
    let timeout = check_timeout(cmd.timeout)?;
    let data = read_message(cmd)?;
    if data.len() > wire::MAX_MESSAGE {
        return Err(usage(format!(
            "message is over the {}-byte limit; nothing was sent",
            wire::MAX_MESSAGE
        )));
    }
    if cmd.legacy && !legacy::is_legacy_text(&data) {
        return Err(simplep2p::Error::NotLegacyText.into());
    }
    let start = Instant::now();
    let peer = Peer::start(config)?;
    // Discovery may take three quarters of the budget, so that the message
    // still reaches the peers found when fewer than --expect answer.
    let found = discover(&peer, cmd.legacy, cmd.expect, timeout - timeout / 4)?;
    let left = timeout.saturating_sub(start.elapsed());
    let report = if found.is_empty() {
        SendReport { id: 0, acked: vec![], missing: vec![], elapsed: Duration::ZERO }
    } else if cmd.legacy {
        // Checked above: legacy text is printable ASCII.
        peer.send_legacy(&String::from_utf8_lossy(&data), &found, left)?
    } else {
        peer.send_to(&data, &found, left)?
    };
    let elapsed = start.elapsed();
    let enough = report.acked.len() >= cmd.expect.unwrap_or(1);
    let pass = report.all_acked() && enough;
    let mut out = io::stdout().lock();
    let text = if cmd.json {
        send_json(pass, &report, found.len(), cmd.expect, elapsed)
    } else {
        send_text(pass, &report, found.len(), cmd.expect, elapsed)
    };
    write!(out, "{text}").and_then(|()| out.flush()).map_err(write_failed)?;
    Ok(if pass { EXIT_OK } else { EXIT_FAIL })
}

fn send_text(
    pass: bool,
    report: &SendReport,
    found: usize,
    expect: Option<usize>,
    elapsed: Duration,
) -> String {
    let verdict = if pass { "PASS" } else { "FAIL" };
    let ms = elapsed.as_secs_f64() * 1e3;
    let mut text = if found == 0 {
        format!("{verdict} no peers found in {ms:.1} ms")
    } else {
        format!("{verdict} {}/{found} peers acknowledged in {ms:.1} ms", report.acked.len())
    };
    if let Some(n) = expect.filter(|&n| found < n) {
        text += &format!(" (expected {n})");
    }
    text.push('\n');
    for p in &report.missing {
        text += &format!("missing {}\n", peer_line(p));
    }
    text
}

fn send_json(
    pass: bool,
    report: &SendReport,
    found: usize,
    expect: Option<usize>,
    elapsed: Duration,
) -> String {
    let list = |peers: &[PeerInfo]| peers.iter().map(peer_json).collect::<Vec<_>>().join(",");
    format!(
        "{{\"result\":\"{}\",\"acknowledged\":{},\"peers\":{found},\"expected\":{},\"elapsed_ms\":{:.3},\"acked\":[{}],\"missing\":[{}]}}\n",
        if pass { "PASS" } else { "FAIL" },
        report.acked.len(),
        expect.map_or("null".to_string(), |n| n.to_string()),
        elapsed.as_secs_f64() * 1e3,
        list(&report.acked),
        list(&report.missing),
    )
}

fn peers(config: Config, cmd: &PeersArgs) -> Result<i32, Failure> {
    check_expect(cmd.expect)?;
    let timeout = check_timeout(cmd.timeout)?;
    let start = Instant::now();
    let peer = Peer::start(config)?;
    let found = discover(&peer, cmd.legacy, cmd.expect, timeout)?;
    let elapsed = start.elapsed();
    let ok = found.len() >= cmd.expect.unwrap_or(1);
    let text = if cmd.json {
        let list: Vec<String> = found.iter().map(peer_json).collect();
        format!(
            "{{\"count\":{},\"elapsed_ms\":{:.3},\"peers\":[{}]}}\n",
            found.len(),
            elapsed.as_secs_f64() * 1e3,
            list.join(",")
        )
    } else {
        let mut text: String = found.iter().map(|p| peer_line(p) + "\n").collect();
        let s = if found.len() == 1 { "" } else { "s" };
        text += &format!("{} peer{s}\n", found.len());
        text
    };
    let mut out = io::stdout().lock();
    write!(out, "{text}").and_then(|()| out.flush()).map_err(write_failed)?;
    Ok(if ok { EXIT_OK } else { EXIT_FAIL })
}

fn discover(
    peer: &Peer,
    legacy: bool,
    expect: Option<usize>,
    timeout: Duration,
) -> simplep2p::Result<Vec<PeerInfo>> {
    if legacy {
        peer.discover_legacy(expect, timeout)
    } else {
        peer.discover_within(expect, timeout)
    }
}

fn peer_line(p: &PeerInfo) -> String {
    if p.name.is_empty() {
        format!("{} {}", p.id, p.addr)
    } else {
        format!("{} {} {}", p.id, p.addr, escape(p.name.as_bytes()))
    }
}

fn peer_json(p: &PeerInfo) -> String {
    format!("{{\"id\":\"{}\",\"address\":\"{}\",\"name\":{}}}", p.id, p.addr, json_string(&p.name))
}

fn message_json(m: &Message) -> String {
    let text = std::str::from_utf8(&m.data).map_or("null".to_string(), json_string);
    let hex: String = m.data.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{{\"sender\":\"{}\",\"address\":\"{}\",\"name\":{},\"message\":{text},\"hex\":\"{hex}\"}}",
        m.sender,
        m.addr,
        json_string(&m.name)
    )
}

/// Printable text as it is; control characters and bytes that are not
/// UTF-8 as escapes, so one message is always one line.
pub fn escape(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_text_and_escapes_the_rest() {
        assert_eq!(escape(b"hello there"), "hello there");
        assert_eq!(escape("héllo ✓".as_bytes()), "héllo ✓");
        assert_eq!(escape(b"a\nb\tc\\d\r"), "a\\nb\\tc\\\\d\\r");
        assert_eq!(escape(b"\x00\xff\x7f"), "\\x00\\xff\\x7f");
    }

    #[test]
    fn json_string_escapes_quotes_and_controls() {
        assert_eq!(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

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
    fn send_text_names_the_missing() {
        let p = PeerInfo {
            id: simplep2p::Uuid::nil(),
            addr: "127.0.0.1:9".parse().unwrap(),
            name: "b".into(),
        };
        let report = SendReport { id: 1, acked: vec![], missing: vec![p], elapsed: Duration::ZERO };
        let text = send_text(false, &report, 1, Some(2), Duration::from_micros(1500));
        assert_eq!(
            text,
            "FAIL 0/1 peers acknowledged in 1.5 ms (expected 2)\nmissing 00000000-0000-0000-0000-000000000000 127.0.0.1:9 b\n"
        );
    }
}
