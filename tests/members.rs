//! The live member table and its events, with in-process peers and
//! hand-made members on loopback.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{DEADLINE, config, free_port, raw_socket};
use simplep2p::wire::{self, Body, Frame};
use simplep2p::{Config, Events, MemberEvent, Peer, Uuid};

/// Heartbeats fast enough that a loss shows within a test, slow enough
/// that a loaded machine keeps up.
const BEAT: Duration = Duration::from_millis(200);

fn beating(port: u16) -> Config {
    config(port).heartbeat(Some(BEAT))
}

/// The next event that is not a suspicion or its refutation (which a busy
/// machine may cause without anything being wrong), within [`DEADLINE`].
fn next_settled(events: &Events) -> MemberEvent {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.next_timeout(Some(left)) {
            Some(MemberEvent::Suspected(..) | MemberEvent::Alive(..)) => continue,
            Some(e) => return e,
            None => panic!("no event within {DEADLINE:?}"),
        }
    }
}

#[test]
fn a_starting_peer_is_joined_by_everyone_and_its_goodbye_is_left() {
    let port = free_port();
    let a = Peer::start(beating(port).name("a")).unwrap();
    let events = a.events();
    let b = Peer::start(beating(port).name("b")).unwrap();
    match next_settled(&events) {
        MemberEvent::Joined(m, _) => assert_eq!((m.id, m.name.as_str()), (b.id(), "b")),
        other => panic!("expected b to join: {other:?}"),
    }
    // b learns of a from a's answer to its announcement, not a beat later.
    let b_events = b.events();
    common::eventually("b has a in its table", || b.members().iter().any(|m| m.id == a.id()));
    let b_id = b.id();
    drop(b);
    match next_settled(&events) {
        MemberEvent::Left(m, _) => assert_eq!(m.id, b_id),
        other => panic!("expected b to leave: {other:?}"),
    }
    assert!(a.members().is_empty());
    drop(b_events);
}

/// A hand-made member: beats every [`BEAT`] until told to stop, answering
/// challenges and pings, so that "dies" can be made exact.
struct Beater {
    id: Uuid,
    sock: UdpSocket,
    count: u64,
}

impl Beater {
    fn new() -> Beater {
        Beater { id: Uuid::new_v4(), sock: raw_socket(), count: 0 }
    }

    fn beat(&mut self, port: u16) {
        self.count += 1;
        let body = Body::Heartbeat { interval_ms: BEAT.as_millis() as u32, name: "raw" };
        let frame = Frame { flags: 0, sender: self.id, id: self.count, body };
        self.sock.send_to(&frame.to_vec().unwrap(), common::group(port)).unwrap();
    }

    /// Answers challenges and pings for `for_how_long`.
    fn answer(&self, for_how_long: Duration) {
        let end = Instant::now() + for_how_long;
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            self.sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let Ok((n, src)) = self.sock.recv_from(&mut buf) else { continue };
            let Ok(asked) = wire::decode(&buf[..n]) else { continue };
            let body = match asked.body {
                Body::Challenge => Body::Proof,
                Body::Ping => Body::Pong,
                _ => continue,
            };
            let answer = Frame { flags: 0, sender: self.id, id: asked.id, body };
            self.sock.send_to(&answer.to_vec().unwrap(), src).unwrap();
        }
    }
}

#[test]
fn a_member_that_falls_silent_is_suspected_pinged_and_lost() {
    let port = free_port();
    let a = Peer::start(beating(port)).unwrap();
    let events = a.events();
    let mut raw = Beater::new();
    raw.beat(port);
    raw.answer(Duration::from_millis(300));
    match next_settled(&events) {
        MemberEvent::Joined(m, _) => assert_eq!(m.id, raw.id),
        other => panic!("expected the raw member to join: {other:?}"),
    }
    // It stops beating but answers pings: suspected, then alive again.
    let suspected = events.next_timeout(Some(DEADLINE));
    assert!(matches!(suspected, Some(MemberEvent::Suspected(..))), "{suspected:?}");
    raw.answer(BEAT);
    let alive = events.next_timeout(Some(DEADLINE));
    let Some(MemberEvent::Alive(_, heard_at)) = alive else { panic!("{alive:?}") };
    // Now it is dead: no beats, no answers. Lost three intervals after it
    // was last heard (its pong, when it was seen alive): never sooner than
    // that, however late this thread runs.
    let lost_at = match next_settled(&events) {
        MemberEvent::Lost(m, at) => {
            assert_eq!(m.id, raw.id);
            at
        }
        other => panic!("expected the raw member to be lost: {other:?}"),
    };
    let took = lost_at.duration_since(heard_at).unwrap_or_default();
    assert!(took >= BEAT * 2, "lost too early, {took:?} after it was last heard");
    assert!(a.members().is_empty());
    assert!(a.stats().datagrams_out > 0);
}

#[test]
fn a_replayed_or_repeated_heartbeat_means_nothing() {
    let port = free_port();
    let a = Peer::start(beating(port)).unwrap();
    let events = a.events();
    let mut raw = Beater::new();
    raw.beat(port);
    raw.answer(Duration::from_millis(300));
    assert!(matches!(next_settled(&events), MemberEvent::Joined(..)));
    // The same count again, over and over: the member is still lost.
    let frame = Frame {
        flags: 0,
        sender: raw.id,
        id: raw.count,
        body: Body::Heartbeat { interval_ms: BEAT.as_millis() as u32, name: "raw" },
    };
    let bytes = frame.to_vec().unwrap();
    let replayer = raw_socket();
    let deadline = Instant::now() + DEADLINE;
    loop {
        raw.sock.send_to(&bytes, common::group(port)).unwrap();
        match events.next_timeout(Some(Duration::from_millis(50))) {
            Some(MemberEvent::Lost(m, _)) if m.id == raw.id => break,
            _ => assert!(Instant::now() < deadline, "never lost"),
        }
    }
    assert!(a.stats().stale_heartbeats > 0);
    drop(replayer);
}

#[test]
fn with_heartbeats_off_nobody_is_lost_and_no_heartbeat_goes_out() {
    let port = free_port();
    let quiet = config(port).heartbeat(None);
    let a = Peer::start(quiet.clone()).unwrap();
    let b = Peer::start(quiet).unwrap();
    a.discover(Some(1)).unwrap();
    let members = a.members();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].id, b.id());
    assert_eq!(members[0].heartbeat, None);
    // Nothing but the discovery went out of b: answers, no beats.
    let events = a.events();
    assert!(events.next_timeout(Some(Duration::from_millis(300))).is_none());
    assert_eq!(a.members().len(), 1);
}

#[test]
fn a_warm_peer_sends_to_its_members_without_discovering() {
    let port = free_port();
    let a = Peer::start(beating(port)).unwrap();
    let b = Peer::start(beating(port)).unwrap();
    common::eventually("a has b in its live table", || a.members().len() == 1);
    common::eventually("a is warm", || a.known_peers().len() == 1);
    let report = a.send_within(b"hi", common::TIMEOUT).unwrap();
    assert!(report.all_acked(), "{report:?}");
    assert_eq!(report.acked[0].id, b.id());
    assert_eq!(b.recv_timeout(common::TIMEOUT).unwrap().unwrap().data, b"hi");
}

#[test]
fn every_subscriber_sees_every_event_and_events_end_when_the_peer_closes() {
    let port = free_port();
    let a = Peer::start(beating(port)).unwrap();
    let (one, two) = (a.events(), a.events());
    let b = Peer::start(beating(port)).unwrap();
    for events in [&one, &two] {
        assert!(matches!(next_settled(events), MemberEvent::Joined(m, _) if m.id == b.id()));
    }
    a.close();
    assert_eq!(one.next_timeout(Some(DEADLINE)), None);
    assert!(one.is_closed());
}

#[test]
fn a_recv_signalled_the_moment_it_is_seen_still_says_goodbye() {
    // A peer is heard within a millisecond of starting, before the CLI has
    // reached its signal set-up: the signal must wait for it, not kill the
    // process before its goodbye.
    let port = free_port();
    let observer = Peer::start(beating(port)).unwrap();
    let events = observer.events();
    for _ in 0..10 {
        let mut child = std::process::Command::new(common::BIN)
            .args(common::net_args(port))
            .arg("recv")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let joined = match next_settled(&events) {
            MemberEvent::Joined(m, _) => m.id,
            other => panic!("expected a join: {other:?}"),
        };
        let pid = child.id().to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        match next_settled(&events) {
            MemberEvent::Left(m, _) => assert_eq!(m.id, joined),
            other => panic!("expected its goodbye, got {other:?}"),
        }
        assert!(child.wait().unwrap().success());
    }
}
