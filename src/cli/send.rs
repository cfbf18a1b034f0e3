//! The `send` command: discover the peers, send them a message and report
//! who acknowledged it.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use argh::FromArgs;
use simplep2p::wire;
use simplep2p::{Config, Peer, PeerInfo, SendReport, Uuid};

use super::output::{escape, interfaces_json, peer_json, peer_line};
use super::{
    EXIT_FAIL, EXIT_OK, Failure, check_expect, check_quiet, check_timeout, explain_shortfall,
    legacy_with_key, print_result, usage,
};

/// What `send` sends when given no message, as the original's CLI did.
const DEFAULT_MESSAGE: &[u8] = b"hello";

#[derive(FromArgs, Debug)]
/// Discover the peers, send them a message and wait until every one has
/// acknowledged it. Prints PASS or FAIL with counts and time, and a
/// `missing` line for each peer that did not acknowledge.
#[argh(subcommand, name = "send", help_triggers("-h", "--help"))]
#[argh(note = "With --to, only the targets receive the message. Discovery ends once
every target has answered (for a name, after the --quiet window). A uuid
that did not answer is listed as missing, with no address (exit 1); a
name that matches no peer, or several, is refused (exit 2), with the
peers it could mean.")]
#[argh(note = "Exit codes: 0 at least one peer (with --expect N, N; with --to, every
target) found, and all acknowledged; 1 not so; 2 bad arguments or set-up
error: nothing was sent; 3 it passed, but standard output is closed.")]
#[argh(note = "Global options may also follow the command: see 'simplep2p --help'.")]
pub(super) struct SendArgs {
    /// the message: any text up to 16384 bytes (default "hello", as the
    /// original simplep2p-cli sent)
    #[argh(positional)]
    message: Option<String>,

    /// read the message from standard input instead, byte-exact (for
    /// binary data or text with newlines)
    #[argh(switch)]
    stdin: bool,

    /// send only to this peer, by uuid or exact name; repeat for more.
    /// Other peers never receive it
    #[argh(option)]
    to: Vec<String>,

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
    /// of printable ASCII. Not with a key: it cannot be authenticated
    #[argh(switch)]
    legacy: bool,
}

/// A `--to` target as given: a uuid, or else a name.
#[derive(Debug, Clone, PartialEq)]
enum Wanted {
    Id(Uuid),
    Name(String),
}

impl Wanted {
    fn parse(to: &str) -> Result<Wanted, Failure> {
        if to.is_empty() {
            return Err(usage("--to needs a peer's uuid or name"));
        }
        Ok(Uuid::try_parse(to).map_or_else(|_| Wanted::Name(to.to_owned()), Wanted::Id))
    }

    fn matches(&self, p: &PeerInfo) -> bool {
        match self {
            Wanted::Id(id) => p.id == *id,
            Wanted::Name(name) => p.name == *name,
        }
    }
}

/// What became of a send: the targets are those acknowledged, those that
/// did not, and `--to` uuids that did not answer discovery.
#[derive(Debug, Default)]
struct Outcome {
    acked: Vec<PeerInfo>,
    missing: Vec<PeerInfo>,
    not_found: Vec<Uuid>,
}

impl Outcome {
    fn targets(&self) -> usize {
        self.acked.len() + self.missing.len() + self.not_found.len()
    }
}

impl From<SendReport> for Outcome {
    fn from(r: SendReport) -> Self {
        Outcome { acked: r.acked, missing: r.missing, not_found: vec![] }
    }
}

fn read_message(cmd: &SendArgs) -> Result<Vec<u8>, Failure> {
    match (&cmd.message, cmd.stdin) {
        (Some(text), false) => return Ok(text.as_bytes().to_vec()),
        (None, true) => {}
        (Some(_), true) => {
            return Err(usage("give the message as an argument or --stdin, not both"));
        }
        // The original's `simplep2p-cli send` took none and sent this.
        (None, false) => return Ok(DEFAULT_MESSAGE.to_vec()),
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
    let wanted = cmd.to.iter().map(|t| Wanted::parse(t)).collect::<Result<Vec<_>, _>>()?;
    if cmd.legacy && config.has_key() {
        return Err(legacy_with_key());
    }
    if !wanted.is_empty() && cmd.legacy {
        return Err(usage("--to cannot be used with --legacy: original peers take no unicast"));
    }
    if !wanted.is_empty() && cmd.expect.is_some() {
        return Err(usage(
            "give --to or --expect, not both: with --to, every target must acknowledge",
        ));
    }
    let data = read_message(cmd)?;
    // Refused before any socket is opened: nothing is sent.
    simplep2p::check_message(&data, cmd.legacy)?;
    let start = Instant::now();
    let keyed = config.has_key();
    // Not a receiver: another sender must never count this process.
    let config = config.receiver(false).quiet_window(check_quiet(cmd.quiet)?);
    let peer = Peer::start(config)?;
    let outcome = if wanted.is_empty() {
        peer.discover_and_send(&data, cmd.expect, timeout, cmd.legacy)?.into()
    } else {
        send_to(&peer, &data, &wanted, timeout)?
    };
    let elapsed = start.elapsed();
    let enough = outcome.acked.len() >= cmd.expect.unwrap_or(1);
    let pass = enough && outcome.missing.is_empty() && outcome.not_found.is_empty();
    if !pass {
        explain_shortfall(&peer, keyed);
    }
    let text = if cmd.json {
        send_json(pass, &outcome, cmd.expect, elapsed, &interfaces_json(&peer.interfaces()))
    } else {
        send_text(pass, &outcome, cmd.expect, elapsed)
    };
    print_result(&text, if pass { EXIT_OK } else { EXIT_FAIL })
}

/// `--to`: discovers until every target has answered (within three
/// quarters of `timeout`, as a group send does), resolves the names, then
/// sends to the targets alone in what is left.
fn send_to(
    peer: &Peer,
    data: &[u8],
    wanted: &[Wanted],
    timeout: Duration,
) -> Result<Outcome, Failure> {
    let start = Instant::now();
    let found = discover_targets(peer, wanted, timeout - timeout / 4)?;
    let mut targets: Vec<PeerInfo> = Vec::new();
    let mut not_found: Vec<Uuid> = Vec::new();
    for w in wanted {
        let matched: Vec<&PeerInfo> = found.iter().filter(|p| w.matches(p)).collect();
        let target = match (w, matched.as_slice()) {
            (_, [one]) => *one,
            (Wanted::Id(id), _) => {
                if !not_found.contains(id) {
                    not_found.push(*id);
                }
                continue;
            }
            (Wanted::Name(name), []) => return Err(unknown_name(name, &found)),
            (Wanted::Name(name), many) => return Err(ambiguous_name(name, many)),
        };
        // `--to bob --to <bob's uuid>` is one target.
        if !targets.iter().any(|t| t.id == target.id) {
            targets.push(target.clone());
        }
    }
    let mut outcome = if targets.is_empty() {
        Outcome::default()
    } else {
        peer.send_to(data, &targets, timeout.saturating_sub(start.elapsed()))?.into()
    };
    outcome.not_found = not_found;
    Ok(outcome)
}

/// Discovers again and again, each time until the quiet window passes,
/// until every target has answered or `budget` is spent. Each round waits
/// for silence, so a name is matched against all the peers there are; a
/// round that missed a slow target is followed by another.
fn discover_targets(
    peer: &Peer,
    wanted: &[Wanted],
    budget: Duration,
) -> simplep2p::Result<Vec<PeerInfo>> {
    let deadline = Instant::now().checked_add(budget);
    let mut found: Vec<PeerInfo> = Vec::new();
    loop {
        let left = deadline.map_or(budget, |d| d.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return Ok(found);
        }
        for p in peer.discover_within(None, left)? {
            match found.iter_mut().find(|f| f.id == p.id) {
                Some(known) => *known = p,
                None => found.push(p),
            }
        }
        if wanted.iter().all(|w| found.iter().any(|p| w.matches(p))) {
            return Ok(found);
        }
    }
}

/// The peers a name could have meant, as `<uuid> <name>`, for one line.
fn candidates(peers: &[&PeerInfo]) -> String {
    let list: Vec<String> = peers
        .iter()
        .map(|p| {
            if p.name.is_empty() {
                p.id.to_string()
            } else {
                format!("{} {}", p.id, escape(p.name.as_bytes()))
            }
        })
        .collect();
    list.join(", ")
}

fn unknown_name(name: &str, found: &[PeerInfo]) -> Failure {
    let name = escape(name.as_bytes());
    if found.is_empty() {
        return usage(format!(
            "no peer named '{name}' answered, nor any other: start it, or check --group, --port and --interface"
        ));
    }
    let all: Vec<&PeerInfo> = found.iter().collect();
    usage(format!(
        "no peer is named '{name}': pass --to one of the peers found: {}",
        candidates(&all)
    ))
}

fn ambiguous_name(name: &str, matched: &[&PeerInfo]) -> Failure {
    usage(format!(
        "{} peers are named '{}': pass --to one of their uuids: {}",
        matched.len(),
        escape(name.as_bytes()),
        candidates(matched)
    ))
}

fn send_text(pass: bool, outcome: &Outcome, expect: Option<usize>, elapsed: Duration) -> String {
    let verdict = if pass { "PASS" } else { "FAIL" };
    let ms = elapsed.as_secs_f64() * 1e3;
    let targets = outcome.targets();
    let mut text = if targets == 0 {
        format!("{verdict} no peers found in {ms:.1} ms")
    } else {
        format!("{verdict} {}/{targets} peers acknowledged in {ms:.1} ms", outcome.acked.len())
    };
    if let Some(n) = expect.filter(|&n| targets < n) {
        text += &format!(" (expected {n})");
    }
    text.push('\n');
    for p in &outcome.missing {
        text += &format!("missing {}\n", peer_line(p));
    }
    // No address: it never answered.
    for id in &outcome.not_found {
        text += &format!("missing {id}\n");
    }
    text
}

fn send_json(
    pass: bool,
    outcome: &Outcome,
    expect: Option<usize>,
    elapsed: Duration,
    interfaces: &str,
) -> String {
    let list = |peers: &[PeerInfo]| peers.iter().map(peer_json).collect::<Vec<_>>();
    let mut missing = list(&outcome.missing);
    missing.extend(
        outcome
            .not_found
            .iter()
            .map(|id| format!("{{\"id\":\"{id}\",\"address\":null,\"name\":null}}")),
    );
    format!(
        "{{\"result\":\"{}\",\"acknowledged\":{},\"peers\":{},\"expected\":{},\"elapsed_ms\":{:.3},\"interfaces\":{interfaces},\"acked\":[{}],\"missing\":[{}]}}\n",
        if pass { "PASS" } else { "FAIL" },
        outcome.acked.len(),
        outcome.targets(),
        expect.map_or("null".to_string(), |n| n.to_string()),
        elapsed.as_secs_f64() * 1e3,
        list(&outcome.acked).join(","),
        missing.join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> PeerInfo {
        PeerInfo { id: Uuid::new_v4(), addr: "127.0.0.1:9".parse().unwrap(), name: name.into() }
    }

    #[test]
    fn send_text_names_the_missing() {
        let p =
            PeerInfo { id: Uuid::nil(), addr: "127.0.0.1:9".parse().unwrap(), name: "b".into() };
        let outcome = Outcome { missing: vec![p], ..Outcome::default() };
        let text = send_text(false, &outcome, Some(2), Duration::from_micros(1500));
        assert_eq!(
            text,
            "FAIL 0/1 peers acknowledged in 1.5 ms (expected 2)\nmissing 00000000-0000-0000-0000-000000000000 127.0.0.1:9 b\n"
        );
    }

    #[test]
    fn a_to_uuid_that_never_answered_is_missing_with_no_address() {
        let outcome =
            Outcome { acked: vec![info("a")], not_found: vec![Uuid::nil()], ..Outcome::default() };
        let text = send_text(false, &outcome, None, Duration::from_millis(2));
        assert_eq!(
            text,
            "FAIL 1/2 peers acknowledged in 2.0 ms\nmissing 00000000-0000-0000-0000-000000000000\n"
        );
        let json = send_json(false, &outcome, None, Duration::from_millis(2), "[]");
        assert!(json.contains("\"peers\":2,"), "{json}");
        assert!(
            json.ends_with("\"missing\":[{\"id\":\"00000000-0000-0000-0000-000000000000\",\"address\":null,\"name\":null}]}\n"),
            "{json}"
        );
    }

    #[test]
    fn to_is_a_uuid_when_it_parses_as_one_and_a_name_otherwise() {
        let id = Uuid::new_v4();
        assert_eq!(Wanted::parse(&id.to_string()).unwrap(), Wanted::Id(id));
        assert_eq!(Wanted::parse("bob").unwrap(), Wanted::Name("bob".into()));
        assert!(Wanted::parse("").is_err());
    }

    #[test]
    fn name_errors_are_one_line_listing_the_candidates() {
        let (a, b) = (info("bob"), info("line\u{2028}break"));
        let e = unknown_name("carol", &[a.clone(), b.clone()]);
        assert_eq!(e.code, super::super::EXIT_USAGE);
        assert!(
            e.message.contains(&format!("{} bob, {} line\\xe2\\x80\\xa8break", a.id, b.id)),
            "{e}"
        );
        let e = ambiguous_name("bob", &[&a, &a]);
        assert!(e.message.starts_with("2 peers are named 'bob': "), "{e}");
        assert!(!unknown_name("x\ny", &[]).message.contains('\n'));
    }
}
