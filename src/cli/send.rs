//! The `send` command: discover the peers, send them a message and report
//! who acknowledged it.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use argh::FromArgs;
use simplep2p::wire;
use simplep2p::{Config, Peer, PeerInfo, SendReport};

use super::output::{peer_json, peer_line};
use super::{
    EXIT_FAIL, EXIT_OK, Failure, check_expect, check_quiet, check_timeout, print_result, usage,
};

#[derive(FromArgs, Debug)]
/// Discover the peers, send them a message and wait until every one has
/// acknowledged it. Prints PASS or FAIL with counts and time, and a
/// `missing` line for each peer that did not acknowledge.
#[argh(subcommand, name = "send", help_triggers("-h", "--help"))]
#[argh(note = "Exit codes: 0 at least one peer (with --expect N, N) found, and all
acknowledged; 1 not so; 2 bad arguments or set-up error: nothing was
sent; 3 it passed, but standard output is closed.")]
#[argh(note = "Global options may also follow the command: see 'simplep2p --help'.")]
pub(super) struct SendArgs {
    /// the message: any text up to 16384 bytes
    #[argh(positional)]
    message: Option<String>,

    /// read the message from standard input instead, byte-exact (for
    /// binary data or text with newlines)
    #[argh(switch)]
    stdin: bool,

    /// stop discovering once this many peers answer (without it, after the
    /// --quiet window), and fail with fewer
    #[argh(option)]
    expect: Option<usize>,

    /// give up after this many milliseconds in all, of which discovery may
    /// take three quarters (default 1000)
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
    /// peers (simplep2p peers answer it too); the message must be one word
    /// of printable ASCII
    #[argh(switch)]
    legacy: bool,
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

pub(super) fn send(config: Config, cmd: &SendArgs) -> Result<i32, Failure> {
    check_expect(cmd.expect)?;
    let timeout = check_timeout(cmd.timeout)?;
    let data = read_message(cmd)?;
    // Refused before any socket is opened: nothing is sent.
    simplep2p::check_message(&data, cmd.legacy)?;
    let start = Instant::now();
    let peer = Peer::start(config.quiet_window(check_quiet(cmd.quiet)?))?;
    let report = peer.discover_and_send(&data, cmd.expect, timeout, cmd.legacy)?;
    let found = report.acked.len() + report.missing.len();
    let elapsed = start.elapsed();
    let enough = report.acked.len() >= cmd.expect.unwrap_or(1);
    let pass = report.all_acked() && enough;
    let text = if cmd.json {
        send_json(pass, &report, found, cmd.expect, elapsed)
    } else {
        send_text(pass, &report, found, cmd.expect, elapsed)
    };
    print_result(&text, if pass { EXIT_OK } else { EXIT_FAIL })
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

#[cfg(test)]
mod tests {
    use super::*;

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
