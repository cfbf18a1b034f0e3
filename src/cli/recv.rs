//! The `recv` command: run a peer and print the messages it receives.

use std::io::{self, Write};

use argh::FromArgs;
use simplep2p::{Config, Peer};

use super::output::{escape, message_json};
use super::{EXIT_OK, EXIT_USAGE, Failure, write_failed};

#[derive(FromArgs, Debug)]
/// Run a peer: answer discovery, acknowledge messages and print one line per
/// message, `<sender-uuid> <message>` with non-printable bytes escaped as
/// \n, \t, \r, \\ or \xNN. Prints a `ready` line on stderr once it listens.
#[argh(subcommand, name = "recv")]
pub(super) struct RecvArgs {
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

pub(super) fn recv(config: Config, cmd: &RecvArgs) -> Result<i32, Failure> {
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
