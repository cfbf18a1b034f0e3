//! The `recv` command: run a peer and print the messages it receives.
//!
//! A message is acknowledged only once its line is written and flushed to
//! standard output, so a sender's PASS means "printed", not "received and
//! perhaps lost at exit". The peer's I/O thread writes the line itself (no
//! hand-off to another thread on the way); while a full pipe blocks it, the
//! peer's heartbeats go on from its timer thread.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argh::FromArgs;
use simplep2p::{Config, Message, Peer, Verdict};

use super::output::{escape, interfaces, message_json};
use super::{EXIT_OK, EXIT_OUTPUT, EXIT_USAGE, Failure, diag, write_failed};

#[derive(FromArgs, Debug)]
/// Run a peer: print one line per message, `<sender-uuid> <message>`, and
/// acknowledge the message once its line is written.
#[argh(subcommand, name = "recv", help_triggers("-h", "--help"))]
#[argh(note = "One message is one line, for any reader. Backslash, newline, tab and
CR are written \\\\, \\n, \\t, \\r; bytes that are not UTF-8 and these
characters as \\xNN, one per UTF-8 byte: control characters (U+0000-U+001F,
U+007F-U+009F, among them NEL U+0085), line and paragraph separators
(U+2028, U+2029), bidirectional controls (U+061C, U+200E, U+200F,
U+202A-U+202E, U+2066-U+2069) and invisible characters (U+200B-U+200D,
U+2060-U+2064, U+FEFF). With --json the same characters are written
\\uNNNN, and hex holds the exact bytes. Names are escaped the same way.")]
#[argh(note = "A ready line on stderr says it listens. SIGINT, SIGTERM and SIGHUP
make it leave the group (a goodbye) and exit 0.")]
#[argh(note = "Exit codes: 0 after --count messages, or on a signal; 2 set-up error;
3 standard output closed: it left the group and acknowledged no more.")]
#[argh(note = "Global options may also follow the command: see 'simplep2p --help'.")]
pub(super) struct RecvArgs {
    /// exit 0 after printing this many messages, acknowledging exactly
    /// those (default: run until a signal)
    #[argh(option)]
    count: Option<u64>,

    /// print one JSON object per message: sender, address, name, message
    /// (the text, or null if not UTF-8), hex (the exact bytes), age_ms (our
    /// clock at reading minus the sender's at sending) and late (read after
    /// the sender stopped waiting, so it reported a FAIL)
    #[argh(switch)]
    json: bool,

    /// on exit, print the peer's counters (datagrams in and out, malformed
    /// dropped, duplicates, retransmissions, queue-full refusals; with keys,
    /// datagrams that failed authentication, replays, stale ones, key file
    /// reloads and errors): one line on stderr, or with --json a
    /// {"stats":...} object on stdout
    #[argh(switch)]
    stats: bool,
}

/// How often the main thread looks for a signal that the I/O thread could
/// not act on because it was blocked writing to a full pipe. A signal
/// normally closes the peer at once through that thread.
const SIGNAL_FALLBACK: Duration = Duration::from_millis(200);

/// What the I/O thread's writes and the main thread share.
#[derive(Debug, Default)]
struct Printed {
    lines: u64,
    /// Standard output failed: nothing more is printed or acknowledged.
    closed: bool,
}

fn line(msg: &Message, json: bool) -> String {
    if json { message_json(msg) } else { format!("{} {}", msg.sender, escape(&msg.data)) }
}

pub(super) fn recv(config: Config, cmd: &RecvArgs) -> Result<i32, Failure> {
    let printed = Arc::new(Mutex::new(Printed::default()));
    let shared = Arc::clone(&printed);
    let (count, json) = (cmd.count, cmd.json);
    let sealed = if config.has_key() { ", sealed with a group key" } else { "" };
    // A SIGTERM while the peer starts must still end in a goodbye.
    simplep2p::hold_termination_signals().map_err(|e| Failure {
        message: format!("could not set up signal handling: {e}"),
        code: EXIT_USAGE,
    })?;
    let peer = Peer::start_with_handler(config, move |msg| {
        let mut printed = shared.lock().unwrap_or_else(PoisonError::into_inner);
        if printed.closed || count.is_some_and(|n| printed.lines >= n) {
            return Verdict::Leave;
        }
        let mut out = io::stdout().lock();
        if writeln!(out, "{}", line(msg, json)).and_then(|()| out.flush()).is_err() {
            printed.closed = true;
            return Verdict::Leave;
        }
        printed.lines += 1;
        if count == Some(printed.lines) { Verdict::AckAndLeave } else { Verdict::Ack }
    })?;
    let signals = simplep2p::close_on_termination(&peer).map_err(|e| Failure {
        message: format!("could not set up signal handling: {e}"),
        code: EXIT_USAGE,
    })?;
    let name = if peer.name().is_empty() {
        String::new()
    } else {
        format!(" ({})", escape(peer.name().as_bytes()))
    };
    let interfaces = interfaces(&peer.interfaces());
    diag(format_args!(
        // Tests and scripts read the uuid after "peer " and the address
        // after the last "unicast ": both stay where they are.
        "ready: peer {}{name} on group {}, {interfaces}{sealed}, unicast {}",
        peer.id(),
        super::output::groups(&peer.groups()),
        peer.local_addr()
    ));
    if count == Some(0) {
        peer.close();
    }
    while !peer.wait_closed(Some(SIGNAL_FALLBACK)) {
        if signals.terminated() {
            peer.close(); // the goodbye goes out even if a writer is stuck
        }
    }
    // A writer stuck on a full pipe still holds the output: leave it be.
    let free = printed.try_lock().map(|p| !p.closed).ok();
    let code = if free == Some(false) { EXIT_OUTPUT } else { EXIT_OK };
    if cmd.stats {
        let named = peer.stats().named();
        if cmd.json && free == Some(true) {
            let fields: Vec<String> = named.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let mut out = io::stdout().lock();
            writeln!(out, "{{\"stats\":{{{}}}}}", fields.join(",")).map_err(write_failed)?;
        } else {
            let fields: Vec<String> = named.iter().map(|(k, v)| format!("{k}={v}")).collect();
            diag(format_args!("stats: {}", fields.join(" ")));
        }
    }
    if code == EXIT_OUTPUT {
        diag("standard output closed: left the group and acknowledged no more messages");
    }
    drop(signals);
    // The peer is closed: its goodbye is out. Joining its I/O thread could
    // wait for ever on a write to a full pipe, so the process exits without
    // dropping it.
    std::mem::forget(peer);
    Ok(code)
}
