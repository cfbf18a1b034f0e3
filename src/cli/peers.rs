//! The `peers` command, and the discovery `send` shares with it.

use std::time::{Duration, Instant};

use argh::FromArgs;
use simplep2p::{Config, Peer, PeerInfo};

use super::output::{interfaces_json, peer_json, peer_line};
use super::{
    EXIT_FAIL, EXIT_OK, Failure, check_expect, check_quiet, check_timeout, explain_shortfall,
    legacy_with_key, print_result,
};

#[derive(FromArgs, Debug)]
/// Discover the peers and list them, one per line: uuid, address, name
/// (escaped as recv escapes messages); then the count.
#[argh(subcommand, name = "peers", help_triggers("-h", "--help"))]
#[argh(note = "Exit codes: 0 at least one peer (with --expect N, N) found; 1 fewer;
2 bad arguments or set-up error; 3 found, but standard output is closed.")]
#[argh(note = "Global options may also follow the command: see 'simplep2p --help'.")]
pub(super) struct PeersArgs {
    /// stop once this many peers answer, and fail with fewer
    #[argh(option)]
    expect: Option<usize>,

    /// give up after this many milliseconds (default 1000)
    #[argh(option, default = "1000")]
    timeout: u64,

    /// without --expect, stop once no new peer has answered for this many
    /// milliseconds since the last new answer (default 50); with no answer
    /// at all, discovery waits for --timeout
    #[argh(option, default = "50")]
    quiet: u64,

    /// print the result as one JSON object
    #[argh(switch)]
    json: bool,

    /// speak the original C++ SimpleP2P's protocol, to drive a group of its
    /// peers (simplep2p peers answer it too). Not with a key: it cannot be
    /// authenticated
    #[argh(switch)]
    legacy: bool,
}

pub(super) fn peers(config: Config, cmd: &PeersArgs) -> Result<i32, Failure> {
    check_expect(cmd.expect)?;
    let timeout = check_timeout(cmd.timeout)?;
    if cmd.legacy && config.has_key() {
        return Err(legacy_with_key());
    }
    let keyed = config.has_key();
    let start = Instant::now();
    // Not a receiver: another sender must never count this process.
    let config = config.receiver(false).quiet_window(check_quiet(cmd.quiet)?);
    let peer = Peer::start(config)?;
    let found = discover(&peer, cmd.legacy, cmd.expect, timeout)?;
    let elapsed = start.elapsed();
    let ok = found.len() >= cmd.expect.unwrap_or(1);
    if !ok {
        explain_shortfall(&peer, keyed);
    }
    let text = if cmd.json {
        let list: Vec<String> = found.iter().map(peer_json).collect();
        format!(
            "{{\"count\":{},\"elapsed_ms\":{:.3},\"interfaces\":{},\"peers\":[{}]}}\n",
            found.len(),
            elapsed.as_secs_f64() * 1e3,
            interfaces_json(&peer.interfaces()),
            list.join(",")
        )
    } else {
        let mut text: String = found.iter().map(|p| peer_line(p) + "\n").collect();
        let s = if found.len() == 1 { "" } else { "s" };
        text += &format!("{} peer{s}\n", found.len());
        text
    };
    print_result(&text, if ok { EXIT_OK } else { EXIT_FAIL })
}

/// Discovers in the C++ protocol or ours, as `--legacy` asks.
pub(super) fn discover(
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
