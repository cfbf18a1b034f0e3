//! The `watch` command: list the group's members, then print what happens
//! to them, one line per event as it happens.
//!
//! The main thread only waits for the peer to close (a signal, or the
//! printer after standard output failed); all output is written by a
//! printer thread, so a writer stuck on a full pipe cannot keep a signal
//! from ending the process.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, SystemTime};

use argh::FromArgs;
use simplep2p::{Config, Events, Member, MemberEvent, Peer, Uuid};

use super::output::{json_string, peer_line};
use super::{EXIT_OK, EXIT_OUTPUT, EXIT_USAGE, Failure, check_quiet, check_timeout, diag};

/// How long, after the peer closed, the printer may take to write the
/// events still queued. Only a reader that stopped reading makes it wait
/// that long; its lines are lost either way.
const DRAIN: Duration = Duration::from_secs(1);

#[derive(FromArgs, Debug)]
/// Watch the group: list its members, then print one line per change as it
/// happens (flushed), until a signal.
#[argh(subcommand, name = "watch", help_triggers("-h", "--help"))]
#[argh(note = "Lines: '<event> <uuid> <address> [name]' (the name escaped as recv
escapes messages), or 'lagged N'. First one 'member' line per member a
discovery at start finds (its own Joined events are not printed again),
then as they happen:
  joined     a new member, heard from an address it proved is its own
  left       it said goodbye (stopped with a signal, or closed)
  suspected  it missed a heartbeat and is being pinged directly
  alive      a suspected member answered: it was not lost
  lost       silent, and no answer to pings, for 3 of its heartbeat
             intervals: killed, hung, or cut off (3 s at the default 1 s)
  updated    its name or address changed
  lagged N   N events were missed because the output was read too slowly;
             'member' lines for everyone in the group now follow
With --json, one object per line: event, id, address, addresses (every
address it proved and was heard at lately: one per segment and family),
name and time (Unix milliseconds when this peer saw it); lagged has
dropped instead of the member's fields.")]
#[argh(note = "Heartbeats: each recv multicasts one every --heartbeat MS (default
1000). A member started with --heartbeat 0 sends none, so it is never
suspected or lost, only seen to leave. 'watch --heartbeat 0' turns off
the checking itself: then nobody is ever reported lost. Any other value
turns it on, and each member's own interval sets its deadlines. watch
sends no heartbeats itself. A member found only by the discovery at
start is checked from its first heartbeat on.")]
#[argh(note = "watch is not a receiver: it answers no discovery and takes no message,
so 'send --expect N' never counts it. After the list, a ready line on
stderr says how many members it found. SIGINT, SIGTERM and SIGHUP make it
leave the group (a goodbye) and exit 0.")]
#[argh(note = "Exit codes: 0 on a signal; 2 set-up error; 3 standard output closed
(it left the group).")]
#[argh(note = "Global options may also follow the command: see 'simplep2p --help'.")]
pub(super) struct WatchArgs {
    /// print one JSON object per line
    #[argh(switch)]
    json: bool,

    /// give up the discovery at start after this many milliseconds
    /// (default 1000); with nobody there, the list waits this long
    #[argh(option, default = "1000")]
    timeout: u64,

    /// end the discovery at start once no new member has answered for this
    /// many milliseconds (default 50)
    #[argh(option, default = "50")]
    quiet: u64,
}

pub(super) fn watch(config: Config, cmd: &WatchArgs, heartbeats: bool) -> Result<i32, Failure> {
    let timeout = check_timeout(cmd.timeout)?;
    let sealed = if config.has_key() { ", sealed with a group key" } else { "" };
    // Not a receiver: no sender may count an observer, and it does not beat.
    let config = config.receiver(false).quiet_window(check_quiet(cmd.quiet)?);
    // A SIGTERM while the peer starts must still end in a goodbye.
    simplep2p::hold_termination_signals().map_err(|e| Failure {
        message: format!("could not set up signal handling: {e}"),
        code: EXIT_USAGE,
    })?;
    let peer = Arc::new(Peer::start(config)?);
    let signals = simplep2p::close_on_termination(&peer).map_err(|e| Failure {
        message: format!("could not set up signal handling: {e}"),
        code: EXIT_USAGE,
    })?;
    // Subscribed before the discovery: whatever changes after the list
    // is taken is still queued.
    let events = peer.events();
    match peer.discover_within(None, timeout) {
        Ok(_) => {}
        // A signal during the discovery: nothing to list.
        Err(simplep2p::Error::Closed) => return Ok(EXIT_OK),
        Err(e) => return Err(e.into()),
    }
    let interfaces = super::output::interfaces(&peer.interfaces());
    let checks = if heartbeats { "" } else { " (--heartbeat 0: nobody is reported lost)" };
    let ready = Ready {
        head: format!(
            // Tests read the uuid after "as peer ".
            "ready: watching group {}, {interfaces}{sealed}, as peer {} unicast {}",
            super::output::groups(&peer.groups()),
            peer.id(),
            peer.local_addr()
        ),
        tail: checks,
    };
    let (done, finished) = mpsc::channel();
    let printer = Arc::clone(&peer);
    let json = cmd.json;
    thread::Builder::new()
        .name("simplep2p-watch".into())
        .spawn(move || {
            let result = print(&printer, &events, Lines::new(json), &ready);
            if result.is_err() {
                printer.close(); // leave: nobody reads what we see
            }
            let _ = done.send(result);
        })
        .map_err(|e| Failure {
            message: format!("could not start a thread: {e}"),
            code: EXIT_USAGE,
        })?;
    // A signal closes the peer through its I/O thread; so does the
    // printer when standard output fails. Either ends the events.
    peer.wait_closed(None);
    let code = match finished.recv_timeout(DRAIN) {
        Ok(Err(e)) => {
            diag(format_args!("{}: left the group", super::output_error(&e)));
            EXIT_OUTPUT
        }
        // Printed everything, or stuck on a pipe nobody reads.
        Ok(Ok(())) | Err(_) => EXIT_OK,
    };
    drop(signals);
    Ok(code)
}

/// The ready line, around the count of members listed.
struct Ready {
    head: String,
    tail: &'static str,
}

/// The list, the ready line, then the events until the peer closes.
fn print(peer: &Peer, events: &Events, mut lines: Lines, ready: &Ready) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let members = peer.members();
    write!(out, "{}", lines.members(&members, SystemTime::now()))?;
    out.flush()?;
    let s = if members.len() == 1 { "" } else { "s" };
    let (head, n, tail) = (&ready.head, members.len(), ready.tail);
    diag(format_args!("{head}; {n} member{s} listed, events follow{tail}"));
    if lines.json {
        // The ready line's facts, for a program: after the list, before
        // the events.
        let interfaces = super::output::interfaces_json(&peer.interfaces());
        let groups = peer.groups();
        writeln!(
            out,
            "{{\"event\":\"ready\",\"id\":\"{}\",\"group\":\"{}\",\"groups\":{},\"interfaces\":{interfaces},\"unicast\":\"{}\"}}",
            peer.id(),
            groups.first().copied().unwrap_or(peer.group()),
            super::output::json_list(&groups),
            peer.local_addr()
        )?;
        out.flush()?;
    }
    while let Some(event) = events.next_timeout(None) {
        let text = match event {
            MemberEvent::Lagged(n) => {
                // What is still queued is older than the list that follows.
                while events.try_next().is_some() {}
                lines.lagged(n, &peer.members(), SystemTime::now())
            }
            event => lines.event(&event),
        };
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

/// Turns the member list and the events into lines, printing each member's
/// arrival once: a listed member's own Joined event is skipped.
#[derive(Debug)]
struct Lines {
    json: bool,
    /// Listed members whose Joined event may still be queued.
    listed: HashSet<Uuid>,
}

impl Lines {
    fn new(json: bool) -> Lines {
        Lines { json, listed: HashSet::new() }
    }

    /// A `member` line for each of `members`.
    fn members(&mut self, members: &[Member], at: SystemTime) -> String {
        self.listed = members.iter().map(|m| m.id).collect();
        members.iter().map(|m| self.line("member", m, at)).collect()
    }

    /// The line of one event; empty for the Joined of a listed member.
    fn event(&mut self, event: &MemberEvent) -> String {
        let (member, at) = match event {
            MemberEvent::Joined(m, _) if self.listed.remove(&m.id) => return String::new(),
            MemberEvent::Left(m, at) | MemberEvent::Lost(m, at) => {
                // Gone: if it comes back (SIGCONT), its Joined is news.
                self.listed.remove(&m.id);
                (m, at)
            }
            MemberEvent::Joined(m, at)
            | MemberEvent::Suspected(m, at)
            | MemberEvent::Alive(m, at)
            | MemberEvent::Updated(m, at) => (m, at),
            MemberEvent::Lagged(n) => return self.lagged(*n, &[], SystemTime::now()),
            // A kind this version does not know: still one line.
            other => {
                let Some(m) = other.member() else { return String::new() };
                return self.line(other.name(), m, SystemTime::now());
            }
        };
        self.line(event.name(), member, *at)
    }

    /// `lagged N`, then the members now, since what was missed is unknown.
    fn lagged(&mut self, dropped: u64, members: &[Member], at: SystemTime) -> String {
        let head = if self.json {
            format!("{{\"event\":\"lagged\",\"dropped\":{dropped},\"time\":{}}}\n", unix_ms(at))
        } else {
            format!("lagged {dropped}\n")
        };
        head + &self.members(members, at)
    }

    fn line(&self, event: &str, m: &Member, at: SystemTime) -> String {
        if self.json {
            format!(
                "{{\"event\":\"{event}\",\"id\":\"{}\",\"address\":\"{}\",\"addresses\":{},\"name\":{},\"time\":{}}}\n",
                m.id,
                m.addr,
                super::output::json_list(&m.addrs),
                json_string(&m.name),
                unix_ms(at)
            )
        } else {
            format!("{event} {}\n", peer_line(&m.info()))
        }
    }
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis()
}

#[cfg(test)]
mod tests {
    use super::super::output::escape;
    use super::*;

    fn member(n: u8, name: &str) -> Member {
        Member {
            id: Uuid::from_bytes([n; 16]),
            addr: ([127, 0, 0, 1], 4000 + u16::from(n)).into(),
            addrs: vec![([127, 0, 0, 1], 4000 + u16::from(n)).into()],
            name: name.into(),
            first_heard: SystemTime::UNIX_EPOCH,
            last_heard: SystemTime::UNIX_EPOCH,
            heartbeat: None,
            suspected: false,
        }
    }

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn a_listed_member_joins_once_and_again_after_it_was_lost() {
        let (a, b) = (member(1, "a b"), member(2, ""));
        let mut lines = Lines::new(false);
        assert_eq!(
            lines.members(std::slice::from_ref(&a), at(0)),
            "member 01010101-0101-0101-0101-010101010101 127.0.0.1:4001 a b\n"
        );
        assert_eq!(lines.event(&MemberEvent::Joined(a.clone(), at(1))), "");
        assert_eq!(
            lines.event(&MemberEvent::Joined(b.clone(), at(2))),
            "joined 02020202-0202-0202-0202-020202020202 127.0.0.1:4002\n"
        );
        assert!(lines.event(&MemberEvent::Lost(a.clone(), at(3))).starts_with("lost 0101"));
        assert!(lines.event(&MemberEvent::Joined(a, at(4))).starts_with("joined 0101"));
    }

    #[test]
    fn json_lines_carry_the_event_member_and_time() {
        let mut lines = Lines::new(true);
        let line = lines.event(&MemberEvent::Left(member(3, "x\"\n"), at(1_700_000_000_123)));
        assert_eq!(
            line,
            "{\"event\":\"left\",\"id\":\"03030303-0303-0303-0303-030303030303\",\"address\":\"127.0.0.1:4003\",\"addresses\":[\"127.0.0.1:4003\"],\"name\":\"x\\\"\\n\",\"time\":1700000000123}\n"
        );
        let lagged = lines.lagged(5, &[member(4, "")], at(7));
        let mut it = lagged.lines();
        assert_eq!(it.next(), Some("{\"event\":\"lagged\",\"dropped\":5,\"time\":7}"));
        assert!(it.next().unwrap().starts_with("{\"event\":\"member\""));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn names_are_escaped_as_recv_escapes_them() {
        let mut lines = Lines::new(false);
        let line = lines.event(&MemberEvent::Updated(member(5, "a\u{2028}b"), at(0)));
        assert!(line.ends_with(&format!(" {}\n", escape("a\u{2028}b".as_bytes()))), "{line}");
        assert_eq!(line.matches('\n').count(), 1);
    }
}
