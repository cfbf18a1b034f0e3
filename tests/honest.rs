//! Answers that are true: silence is not absence, a message for some peers
//! reaches only them, and a closed peer's operations end at once.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{DEADLINE, config, free_port, raw_member};
use simplep2p::wire::{self, Body, Frame};
use simplep2p::{Error, Peer, PeerInfo, Uuid};

/// A hand-made peer that answers the first probe only once `late` has
/// passed since it arrived (a peer that was paused, not absent), then
/// proves its address when challenged, as every peer does.
fn late_answerer(port: u16, late: Duration) -> (Uuid, thread::JoinHandle<()>) {
    let member = raw_member(port);
    let unicast = common::raw_socket();
    let id = Uuid::new_v4();
    let handle = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        loop {
            let (n, src) = member.recv_from(&mut buf).expect("a probe");
            let Ok(Frame { id: probe, body: Body::Probe { .. }, .. }) = wire::decode(&buf[..n])
            else {
                continue;
            };
            // The pause being simulated, not a wait for an event.
            thread::sleep(late);
            let body = Body::ProbeReply { addr: unicast.local_addr().unwrap(), name: "late" };
            let reply = Frame { flags: 0, sender: id, id: probe, body }.to_vec().unwrap();
            unicast.send_to(&reply, src).unwrap();
            break;
        }
        common::prove(&unicast, id);
    });
    (id, handle)
}

#[test]
fn discovery_without_expect_waits_past_the_quiet_window_for_a_first_answer() {
    let port = free_port();
    let (id, answerer) = late_answerer(port, Duration::from_millis(150));
    let me = Peer::start(config(port)).unwrap();
    let found = me.discover_within(None, DEADLINE).unwrap();
    answerer.join().unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), [id]);
}

#[test]
fn the_cli_finds_a_paused_peer_and_takes_quiet_from_the_command_line() {
    let port = free_port();
    let (id, answerer) = late_answerer(port, Duration::from_millis(150));
    let (code, out, err) = common::run(port, &["peers", "--quiet", "20", "--timeout", "5000"]);
    answerer.join().unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&id.to_string()) && out.ends_with("1 peer\n"), "{out}");
}

fn three(port: u16) -> (Peer, Peer, Peer) {
    let start = |name: &str| Peer::start(config(port).name(name)).unwrap();
    (start("alice"), start("bob"), start("carol"))
}

fn info(peer: &Peer) -> PeerInfo {
    PeerInfo { id: peer.id(), addr: peer.local_addr(), name: peer.name().into() }
}

#[test]
fn send_to_one_peer_is_delivered_by_it_alone() {
    let port = free_port();
    let (alice, bob, carol) = three(port);
    assert_eq!(alice.discover(Some(2)).unwrap().len(), 2);
    let report = alice.send_to(b"private to bob", &[info(&bob)], DEADLINE).unwrap();
    assert_eq!(report.acked, [info(&bob)]);
    assert_eq!(bob.recv().unwrap().data, b"private to bob");
    // Both go from alice's one socket: had carol been sent the first, it
    // would be in her queue before the second.
    let report = alice.send_to(b"for carol", &[info(&carol)], DEADLINE).unwrap();
    assert!(report.all_acked());
    assert_eq!(carol.recv().unwrap().data, b"for carol");
    assert_eq!(carol.try_recv().unwrap(), None);
}

#[test]
fn a_first_send_with_nobody_known_discovers_instead_of_reporting_0_of_0() {
    let port = free_port();
    let (alice, bob, carol) = three(port);
    let report = alice.send(b"hello").unwrap();
    assert_eq!(report.acked.len(), 2, "{report:?}");
    assert!(report.all_acked());
    assert_eq!(bob.recv().unwrap().data, b"hello");
    assert_eq!(carol.recv().unwrap().data, b"hello");
    assert_eq!(alice.known_peers().len(), 2);
}

/// A target that never answers: a socket nobody reads.
fn silent_target() -> (std::net::UdpSocket, PeerInfo) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let info = PeerInfo { id: Uuid::new_v4(), addr: sock.local_addr().unwrap(), name: "".into() };
    (sock, info)
}

#[test]
fn close_ends_a_send_and_a_discovery_in_flight_with_closed() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let (_sock, target) = silent_target();
    let long = Duration::from_secs(60);
    let (send, discover) = thread::scope(|s| {
        let send = s.spawn(|| me.send_to(b"x", std::slice::from_ref(&target), long));
        let discover = s.spawn(|| me.discover_within(Some(5), long));
        // Let both start: each has sent its first datagram by then.
        common::eventually("both operations sent", || me.stats().datagrams_out >= 2);
        let closed = Instant::now();
        me.close();
        let results = (send.join().unwrap(), discover.join().unwrap());
        assert!(closed.elapsed() < long / 4, "ended by the close, not the timeout");
        results
    });
    assert!(matches!(send, Err(Error::Closed)), "{send:?}");
    assert!(matches!(discover, Err(Error::Closed)), "{discover:?}");
    // And a closed peer starts nothing and sends nothing more.
    let sent = me.stats().datagrams_out;
    assert!(matches!(me.discover_within(None, long), Err(Error::Closed)));
    assert!(matches!(me.send_to(b"y", &[target], long), Err(Error::Closed)));
    assert_eq!(me.stats().datagrams_out, sent);
}

#[test]
fn a_message_read_after_its_sender_gave_up_says_so() {
    let port = free_port();
    let receiver = Peer::start(config(port)).unwrap();
    let raw = common::raw_socket();
    let now_ms = |back: u64| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        now.as_millis() as u64 - back
    };
    for (id, sent_at_ms, late) in [(1, now_ms(10_000), true), (2, now_ms(0), false)] {
        let timing = Some(wire::Timing { sent_at_ms, wait_ms: 1000 });
        let body = Body::Message { timing, name: "", payload: b"t" };
        let bytes = Frame { flags: 0, sender: Uuid::new_v4(), id, body }.to_vec().unwrap();
        raw.send_to(&bytes, receiver.local_addr()).unwrap();
        let msg = receiver.recv_timeout(DEADLINE).unwrap().expect("delivered all the same");
        assert_eq!(msg.is_late(), late, "{msg:?}");
        assert!(msg.sent_at.is_some() && msg.deadline.is_some());
    }
    // Our own sends carry their timing.
    let sender = Peer::start(config(port)).unwrap();
    sender.send_to(b"now", &[info(&receiver)], DEADLINE).unwrap();
    let msg = receiver.recv_timeout(DEADLINE).unwrap().unwrap();
    assert!(!msg.is_late());
    assert!(msg.deadline.unwrap() > msg.sent_at.unwrap());
}

#[test]
fn with_ack_on_recv_a_message_is_acknowledged_only_once_taken() {
    let port = free_port();
    let bob = Peer::start(config(port).ack_on_recv(true)).unwrap();
    let alice = Peer::start(config(port)).unwrap();
    let short = Duration::from_millis(300);
    let report = alice.send_to(b"one", &[info(&bob)], short).unwrap();
    assert!(report.acked.is_empty(), "queued is not taken: {report:?}");
    assert_eq!(bob.recv().unwrap().data, b"one");
    // Taken while the send still waits: acknowledged.
    let report = thread::scope(|s| {
        let send = s.spawn(|| alice.send_to(b"two", &[info(&bob)], DEADLINE));
        assert_eq!(bob.recv().unwrap().data, b"two");
        send.join().unwrap().unwrap()
    });
    assert!(report.all_acked(), "{report:?}");
}

#[test]
fn a_discovery_that_falls_short_says_when_older_peers_were_heard() {
    let port = free_port();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (code, _, err) = thread::scope(|s| {
        s.spawn(|| {
            // A version-1 probe, as a wave-1 peer multicasts it.
            let raw = common::raw_socket();
            let mut v1 = Frame { flags: 0, sender: Uuid::new_v4(), id: 1, body: Body::Goodbye }
                .to_vec()
                .unwrap();
            v1[4] = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                raw.send_to(&v1, common::group(port)).unwrap();
                thread::sleep(Duration::from_millis(5)); // a steady trickle, not a wait
            }
        });
        let result = common::run(port, &["peers", "--expect", "1", "--timeout", "500"]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    });
    assert_eq!(code, 1);
    assert!(err.contains("from an older simplep2p (protocol version 1) were dropped"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn recv_json_says_how_old_a_message_is_and_whether_it_is_late() {
    let port = free_port();
    let receiver = common::RecvProcess::start(port, &["--json", "--count", "1"]);
    let (code, out, _) = common::run(port, &["send", "x", "--expect", "1", "--timeout", "5000"]);
    assert_eq!(code, 0, "{out}");
    let (_, line) = receiver.wait_output();
    assert!(line.contains("\"late\":false"), "{line}");
    let age = line.split("\"age_ms\":").nth(1).and_then(|r| r.split(',').next()).unwrap();
    assert!(age.parse::<f64>().is_ok(), "{line}");
}

#[test]
fn no_legacy_turns_the_original_protocol_off() {
    let port = free_port();
    let (code, _, err) = common::run(port, &["--no-legacy", "peers", "--legacy"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("original's protocol turned off"), "{err}");
    // A recv started with it drops the original's discover unanswered.
    let receiver = common::RecvProcess::start(port, &["--no-legacy", "--stats"]);
    let (code, out, _) = common::run(port, &["peers", "--legacy", "--timeout", "300"]);
    assert_eq!(code, 1, "{out}");
    drop(receiver);
}
