//! The library API with several in-process peers on loopback.

mod common;

use std::collections::HashSet;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use common::{
    ABSENT_TIMEOUT, DEADLINE, config, eventually, free_port, group, raw_member, raw_socket,
};
use simplep2p::wire::{self, Body, Frame};
use simplep2p::{Error, Peer, Uuid};

fn peers(port: u16, n: usize) -> Vec<Peer> {
    (0..n).map(|i| Peer::start(config(port).name(format!("p{i}"))).unwrap()).collect()
}

#[test]
fn discovery_with_expect_returns_once_all_answered_and_never_counts_itself() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let others = peers(port, 5);
    let timeout = Duration::from_secs(60);
    let start = Instant::now();
    let found = me.discover_within(Some(5), timeout).unwrap();
    let took = start.elapsed();
    let ids: HashSet<Uuid> = found.iter().map(|p| p.id).collect();
    let want: HashSet<Uuid> = others.iter().map(Peer::id).collect();
    assert_eq!(ids, want);
    assert!(!ids.contains(&me.id()));
    // It returned when the five had answered, not at its timeout (a
    // generous deadline, not a measure of speed).
    assert!(took < Duration::from_secs(5), "discovery took {took:?} of its {timeout:?}");
    assert_eq!(found.iter().find(|p| p.id == others[2].id()).unwrap().name, "p2");
}

#[test]
fn discovery_without_expect_ends_after_the_quiet_window() {
    let port = free_port();
    // A window long enough for every peer to answer on a busy machine, and
    // a timeout much longer still, so that which one ended it is plain.
    let quiet = Duration::from_secs(1);
    let timeout = Duration::from_secs(60);
    let me = Peer::start(config(port).quiet_window(quiet)).unwrap();
    let _others = peers(port, 3);
    let start = Instant::now();
    let found = me.discover_within(None, timeout).unwrap();
    let took = start.elapsed();
    assert_eq!(found.len(), 3);
    assert!(took >= quiet, "returned before the quiet window: {took:?}");
    assert!(took < quiet + Duration::from_secs(10), "quiet window ignored: {took:?}");
}

#[test]
fn a_lone_peer_finds_nobody_and_hears_nothing_of_its_own() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    assert!(me.discover(None).unwrap().is_empty());
    let report = me.send(b"anyone?").unwrap();
    assert!(report.acked.is_empty() && report.missing.is_empty());
    assert!(!report.all_acked());
    assert_eq!(me.try_recv().unwrap(), None);
}

#[test]
fn send_reaches_every_peer_byte_exact_and_once() {
    let port = free_port();
    let me = Peer::start(config(port).name("sender")).unwrap();
    let others = peers(port, 4);
    me.discover(Some(4)).unwrap();
    let mut data = b"hello there\nsecond line\t\xe2\x9c\x93 ".to_vec();
    data.extend(0u8..=255);
    let report = me.send(&data).unwrap();
    assert!(report.all_acked(), "{report:?}");
    assert_eq!(report.acked.len(), 4);
    for p in &others {
        let msg = p.recv_timeout(DEADLINE).unwrap().expect("message arrives");
        assert_eq!(msg.data, data);
        assert_eq!(msg.sender, me.id());
        assert_eq!(msg.name, "sender");
        assert_eq!(msg.addr.port(), me.local_addr().port());
        assert_eq!(p.try_recv().unwrap(), None, "delivered twice");
    }
    assert_eq!(me.try_recv().unwrap(), None, "the sender received its own message");
}

#[test]
fn oversize_message_is_refused_before_anything_is_sent() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let _other = peers(port, 1);
    me.discover(Some(1)).unwrap();
    let sent = me.stats().datagrams_out;
    let err = me.send(&vec![0u8; wire::MAX_MESSAGE + 1]).unwrap_err();
    assert!(matches!(err, Error::MessageTooLarge(n) if n == wire::MAX_MESSAGE + 1));
    assert!(err.to_string().contains("nothing was sent"));
    assert_eq!(me.stats().datagrams_out, sent);
    assert!(me.send(&vec![0u8; wire::MAX_MESSAGE]).unwrap().all_acked());
}

#[test]
fn a_retransmitted_message_is_delivered_once_and_acknowledged_every_time() {
    let port = free_port();
    let receiver = Peer::start(config(port)).unwrap();
    let raw = raw_socket();
    let sender = Uuid::new_v4();
    let frame = Frame {
        flags: 0,
        sender,
        id: 42,
        body: Body::Message { timing: None, name: "raw", payload: b"once" },
    };
    let bytes = frame.to_vec().unwrap();
    // The first copy by multicast, then two retransmissions by unicast.
    raw.send_to(&bytes, group(port)).unwrap();
    raw.send_to(&bytes, receiver.local_addr()).unwrap();
    raw.send_to(&bytes, receiver.local_addr()).unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        let (n, _) = raw.recv_from(&mut buf).expect("an ack for every copy");
        let ack = wire::decode(&buf[..n]).unwrap();
        assert_eq!((ack.id, ack.sender, ack.body), (42, receiver.id(), Body::Ack));
    }
    let msg = receiver.recv_timeout(DEADLINE).unwrap().expect("the message is queued");
    assert_eq!((msg.sender, msg.data.as_slice(), msg.name.as_str()), (sender, &b"once"[..], "raw"));
    assert_eq!(receiver.try_recv().unwrap(), None);
    assert_eq!(receiver.stats().duplicates, 2);
}

#[test]
fn a_full_queue_refuses_and_does_not_acknowledge() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let slow = Peer::start(config(port).queue_capacity(1)).unwrap();
    me.discover(Some(1)).unwrap();
    let first = me.send(b"one").unwrap();
    assert!(first.all_acked());
    let resent = me.stats().retransmissions;
    let second = me.send_to(b"two", &me.known_peers(), ABSENT_TIMEOUT).unwrap();
    assert_eq!(second.missing.len(), 1, "a full queue must not acknowledge");
    // Every copy of "two" (the multicast one and each retransmission) is
    // refused; wait until `slow` has read them all, or a late one would
    // take the room that "one" leaves below, and "three" would find the
    // queue full.
    let copies = 1 + me.stats().retransmissions - resent;
    eventually("slow refuses every copy of the second message", || {
        slow.stats().queue_full >= copies
    });
    assert_eq!(slow.recv_timeout(DEADLINE).unwrap().expect("the first message").data, b"one");
    // Room again: the next send is acknowledged.
    assert!(me.send(b"three").unwrap().all_acked());
}

#[test]
fn dropping_a_peer_returns_and_others_forget_it() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let mut others = peers(port, 2);
    me.discover(Some(2)).unwrap();
    let leaving = others.pop().unwrap();
    let leaving_id = leaving.id();
    let start = Instant::now();
    drop(leaving);
    let took = start.elapsed();
    // A deadline against a hang, not a measure of speed (that is make bench).
    assert!(took < Duration::from_secs(5), "drop took {took:?}");

    // The goodbye arrives on me's helper thread.
    eventually("me forgets the peer that left", || {
        me.known_peers().iter().all(|p| p.id != leaving_id)
    });
    // Waits out a timeout for a second peer, so that the one that left
    // would be found if it still answered.
    let found = me.discover_within(Some(2), ABSENT_TIMEOUT).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, others[0].id());
}

#[test]
fn a_peer_that_vanishes_is_reported_missing_within_the_timeout() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let stays = Peer::start(config(port)).unwrap();
    let found = me.discover(Some(1)).unwrap();
    // A target that proves its address (echoes challenges) but never
    // acknowledges: a peer that died after discovery, its port reused.
    let ghost_sock = raw_socket();
    let ghost = simplep2p::PeerInfo {
        id: Uuid::new_v4(),
        addr: ghost_sock.local_addr().unwrap(),
        name: String::new(),
    };
    let echo = ghost_sock.try_clone().unwrap();
    echo.set_read_timeout(Some(ABSENT_TIMEOUT)).unwrap();
    let ghost_id = ghost.id;
    let echoer = std::thread::spawn(move || {
        let mut buf = [0u8; 70_000];
        while let Ok((n, src)) = echo.recv_from(&mut buf) {
            if let Ok(Frame { id, body: Body::Challenge, .. }) = wire::decode(&buf[..n]) {
                let proof = Frame { flags: 0, sender: ghost_id, id, body: Body::Proof };
                echo.send_to(&proof.to_vec().unwrap(), src).unwrap();
            }
        }
    });
    let targets = [found[0].clone(), ghost.clone()];
    let start = Instant::now();
    let report = me.send_to(b"hi", &targets, ABSENT_TIMEOUT).unwrap();
    let took = start.elapsed();
    assert_eq!(report.acked.iter().map(|p| p.id).collect::<Vec<_>>(), [stays.id()]);
    assert_eq!(report.missing, [ghost]);
    // It waited for the ghost until the timeout, and then returned (a
    // generous deadline against a hang, not a measure of speed).
    assert!(took >= ABSENT_TIMEOUT, "returned before its timeout: {took:?}");
    assert!(took < ABSENT_TIMEOUT + Duration::from_secs(5), "the send hung: {took:?}");
    assert!(me.stats().retransmissions >= 2, "missing peers get the message again");
    echoer.join().unwrap();
}

#[test]
fn malformed_datagrams_are_counted_and_ignored() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let victim = Peer::start(config(port)).unwrap();
    let raw = raw_socket();
    let good = Frame { flags: 0, sender: Uuid::new_v4(), id: 1, body: Body::Ack }.to_vec().unwrap();
    let mut lying = good.clone();
    lying[33] = 200;
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        b"SP2".to_vec(),
        b"discover".to_vec(),
        good[..20].to_vec(),
        lying,
        vec![0xff; 65_000],
        [&good[..], b"trailing"].concat(),
    ];
    for g in &garbage {
        raw.send_to(g, victim.local_addr()).unwrap();
    }
    // Still answers discovery and acknowledges messages afterwards.
    assert_eq!(me.discover(Some(1)).unwrap()[0].id, victim.id());
    assert!(me.send(b"still alive").unwrap().all_acked());
    let msg = victim.recv_timeout(DEADLINE).unwrap().expect("the message is queued");
    assert_eq!(msg.data, b"still alive");
    // The garbage went to the unicast socket, whose thread may still be
    // reading it.
    eventually("every garbage datagram is counted", || {
        victim.stats().malformed >= garbage.len() as u64
    });
    assert_eq!(victim.stats().malformed, garbage.len() as u64);
}

#[test]
fn probes_too_small_for_the_reply_are_not_answered() {
    let port = free_port();
    let victim = Peer::start(config(port).name("x".repeat(wire::MAX_NAME))).unwrap();
    let raw = raw_socket();
    let small = Frame { flags: 0, sender: Uuid::new_v4(), id: 9, body: Body::Probe { padding: 0 } };
    raw.send_to(&small.to_vec().unwrap(), group(port)).unwrap();
    let full =
        Frame { body: Body::Probe { padding: wire::MAX_REPLY_BODY as u16 }, ..small.clone() };
    let full = full.to_vec().unwrap();
    raw.send_to(&full, group(port)).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = raw.recv_from(&mut buf).expect("the padded probe is answered");
    assert!(n <= full.len());
    assert!(matches!(wire::decode(&buf[..n]).unwrap().body, Body::ProbeReply { .. }));
    // The group socket's thread takes the probes in order: it had refused
    // the small one before it answered the padded one, so an answer to the
    // small one would have come first, and the count is already up.
    assert_eq!(victim.stats().probes_refused, 1);
    raw.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    assert!(raw.recv_from(&mut buf).is_err(), "the small probe was answered too");
}

#[test]
fn set_up_errors_say_what_to_do() {
    let port = free_port();
    let err = Peer::start(config(port).group(Ipv4Addr::new(10, 0, 0, 1))).unwrap_err();
    assert!(matches!(err, Error::BadGroup(_)), "{err}");
    assert!(err.to_string().contains("224.0.0.0/4"));

    // 203.0.113.254 (TEST-NET-3) is no address of this host; nothing is
    // sent, and the error lists the addresses there are.
    let err = Peer::start(config(port).interface(Ipv4Addr::new(203, 0, 113, 254))).unwrap_err();
    assert!(matches!(err, Error::Interface(_)), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("no interface has address 203.0.113.254; addresses here: "), "{text}");
    assert!(text.contains("127.0.0.1 (lo)"), "{text}");
    // A name, likewise.
    let err = Peer::start(config(port).interfaces(["sp2p-none0"])).unwrap_err();
    assert!(err.to_string().starts_with("no interface named 'sp2p-none0'; this host has: "));

    let err = Peer::start(config(port).name("n".repeat(wire::MAX_NAME + 1))).unwrap_err();
    assert!(matches!(err, Error::NameTooLong(_)), "{err}");

    // A socket that holds the group's port without SO_REUSEADDR.
    let holder = UdpSocket::bind((simplep2p::DEFAULT_GROUP, 0)).unwrap();
    let held = holder.local_addr().unwrap().port();
    let err = Peer::start(config(held)).unwrap_err();
    assert!(matches!(err, Error::PortInUse(p) if p == held), "{err}");
    assert!(err.to_string().contains("--port"));
}

#[test]
fn concurrent_sends_from_two_threads_do_not_steal_each_others_acks() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let _others = peers(port, 3);
    me.discover(Some(3)).unwrap();
    std::thread::scope(|s| {
        let a =
            s.spawn(|| (0..20).all(|i| me.send(format!("a{i}").as_bytes()).unwrap().all_acked()));
        let b =
            s.spawn(|| (0..20).all(|i| me.send(format!("b{i}").as_bytes()).unwrap().all_acked()));
        assert!(a.join().unwrap() && b.join().unwrap());
    });
}

#[test]
fn a_lost_probe_is_repeated_and_a_double_answer_counted_once() {
    let port = free_port();
    let member = raw_member(port);
    let me = Peer::start(config(port)).unwrap();
    let member_id = Uuid::new_v4();
    let answerer = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let reply_sock = raw_socket();
        // The first probe is "lost": ignored. The second is answered twice.
        for round in 0..2 {
            let (n, src) = common::recv_skipping_heartbeats(&member, &mut buf);
            let probe = wire::decode(&buf[..n]).unwrap();
            assert!(matches!(probe.body, Body::Probe { .. }));
            if round == 1 {
                let addr = reply_sock.local_addr().unwrap();
                let body = Body::ProbeReply { addr, name: "raw" };
                let reply = Frame { flags: 0, sender: member_id, id: probe.id, body };
                let bytes = reply.to_vec().unwrap();
                reply_sock.send_to(&bytes, src).unwrap();
                reply_sock.send_to(&bytes, src).unwrap();
                common::prove(&reply_sock, member_id);
            }
        }
    });
    // Waits out a timeout for a second peer, so that a double answer
    // counted twice would show.
    let found = me.discover_within(Some(2), ABSENT_TIMEOUT).unwrap();
    answerer.join().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].id, found[0].name.as_str()), (member_id, "raw"));
}

#[test]
fn close_from_another_thread_ends_a_blocked_recv_after_the_queue() {
    let port = free_port();
    let me = Peer::start(config(port)).unwrap();
    let other = Peer::start(config(port)).unwrap();
    me.discover(Some(1)).unwrap();
    assert!(me.send(b"queued").unwrap().all_acked());
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let first = other.recv().unwrap();
            let second = other.recv();
            (first, second)
        });
        // The reader is blocked or about to be; closing must end it either way.
        other.close();
        let (first, second) = reader.join().unwrap();
        assert_eq!(first.data, b"queued");
        assert!(matches!(second, Err(Error::Closed)));
    });
    assert!(matches!(other.recv_timeout(Duration::from_millis(1)), Err(Error::Closed)));
    // The goodbye went out: `me` forgets it.
    eventually("me forgets the closed peer", || me.known_peers().is_empty());
}
