//! Attacks on keyed peers, on loopback. The attacker does not hold the
//! group key, but sends every forged datagram of `attacks.rs`, and records
//! every datagram on the segment (a packet socket on `lo`) to send it again
//! at any time: to the group and to each peer's unicast address, from the
//! attacker's own socket and from the source address it was recorded with
//! (a raw socket, as an attacker on the segment can). Each test says what
//! the attacker replays and asserts what it gets: nothing delivered twice,
//! no send that should FAIL made to PASS, no live peer hidden, no dead peer
//! made to look alive, no answer drawn.
//!
//! The test itself holds the key (as the group's owner): it opens the
//! recording to pick the datagrams worth replaying and to check that the
//! recording holds them, and it runs a hand-made keyed peer where a real
//! one cannot do what the test needs (say goodbye and stay).
//!
//! Recording and spoofing need CAP_NET_RAW. As root (CI) the tests run
//! here; otherwise each runs again in a new user and network namespace
//! (`unshare -r -n`, loopback only), and fails, saying why, if it cannot.
//! The rotation and key-file tests need neither.
#![cfg(feature = "crypto")] // sealing by hand needs the cipher

mod common;
#[path = "keyed_attacks/segment.rs"]
mod segment;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use common::{ABSENT_TIMEOUT, DEADLINE, TIMEOUT, eventually, free_port, group, raw_member};

/// These tests count every datagram a peer sends, so their peers do not
/// beat: replayed heartbeats have tests of their own (tests/membership.rs).
fn config(port: u16) -> simplep2p::Config {
    common::config(port).heartbeat(None)
}
use segment::{Datagram, Recorder, Spoofer};
use simplep2p::wire::legacy::{self, Legacy};
use simplep2p::wire::sealed::{self, Cipher, Nonce};
use simplep2p::wire::{self, Body, Frame, Kind, MAX_REPLY_BODY};
use simplep2p::{
    DEDUPE_WINDOW, Key, MAX_QUEUE_CAPACITY, Peer, PeerInfo, REPLAY_WINDOW, Stats, Uuid,
};

/// Set in the copy of a test that runs inside a user namespace.
const INSIDE: &str = "SIMPLEP2P_KEYED_ATTACKS_INSIDE";
/// Tells [`helper_peer`] what to run: "PORT KEYFILE".
const HELPER: &str = "SIMPLEP2P_KEYED_HELPER";

fn info(peer: &Peer) -> PeerInfo {
    PeerInfo { id: peer.id(), addr: peer.local_addr(), name: peer.name().into() }
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("an IPv6 address on loopback v4: {a}"),
    }
}

fn random_id() -> u64 {
    getrandom::u64().unwrap()
}

/// A fresh directory for key files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sp2p-keyed-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// The group's owner: holds the key, seals and opens by hand.

/// A datagram of the group, opened.
#[derive(Debug, Clone)]
struct Opened {
    kind: Kind,
    sender: Uuid,
    id: u64,
    payload: Vec<u8>,
}

/// The group key in the test's hands.
struct Hand {
    cipher: Cipher,
    salt: u64,
    counter: AtomicU64,
}

/// A fresh group key, as a [`Key`] for peers and a [`Hand`] for the test.
fn group_key() -> (Key, Arc<Hand>) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    (Key::from_bytes(bytes), Arc::new(Hand::new(bytes)))
}

impl Hand {
    fn new(key: [u8; 32]) -> Hand {
        Hand { cipher: Cipher::new(&key), salt: random_id(), counter: AtomicU64::new(0) }
    }

    /// `frame`, sealed now, as a peer holding the key would.
    fn seal(&self, frame: &Frame<'_>) -> Vec<u8> {
        let sealed_at_us = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_micros()
            .try_into()
            .unwrap();
        let nonce = Nonce {
            sealed_at_us,
            salt: self.salt,
            counter: self.counter.fetch_add(1, Ordering::Relaxed),
        };
        let mut out = Vec::new();
        sealed::seal(&self.cipher, nonce, &frame.to_vec().unwrap(), &mut out);
        out
    }

    fn open(&self, bytes: &[u8]) -> Option<Opened> {
        let mut buf = bytes.to_vec();
        let (plain, _) = sealed::open(std::slice::from_ref(&self.cipher), &mut buf)?;
        let frame = wire::decode(plain).ok()?;
        let payload = match &frame.body {
            Body::Message { payload, .. } => payload.to_vec(),
            _ => Vec::new(),
        };
        Some(Opened { kind: frame.body.kind(), sender: frame.sender, id: frame.id, payload })
    }

    /// The recorded datagrams of `kind` sent by `sender`.
    fn pick(&self, recorded: &[Datagram], kind: Kind, sender: Uuid) -> Vec<Datagram> {
        let of = |d: &&Datagram| {
            self.open(&d.bytes).is_some_and(|o| o.kind == kind && o.sender == sender)
        };
        recorded.iter().filter(of).cloned().collect()
    }
}

// ---------------------------------------------------------------------------
// The attacker.

/// Records the segment and sends what it recorded again; also has a
/// socket of its own, where any answer to it would arrive.
struct Attacker {
    recorder: Recorder,
    spoofer: Spoofer,
    sock: UdpSocket,
}

impl Attacker {
    /// The attacker, in the process that runs the test's body: this one if
    /// it may record the segment, else a copy of test `name` run inside a
    /// new user and network namespace (`None` here, once it has passed).
    fn new(name: &str) -> Option<Attacker> {
        let tools = Recorder::start().and_then(|r| Ok((r, Spoofer::open()?)));
        match tools {
            Ok((recorder, spoofer)) => {
                let sock = common::raw_socket();
                sock.set_nonblocking(true).unwrap();
                Some(Attacker { recorder, spoofer, sock })
            }
            Err(why) => {
                assert!(
                    std::env::var_os(INSIDE).is_none(),
                    "cannot record the segment even as root of a user namespace: {why}"
                );
                run_in_namespace(name, &why);
                None
            }
        }
    }

    /// Records what goes to or comes from `addr`'s port from now on.
    fn watch(&self, addr: SocketAddr) {
        self.recorder.watch(addr.port());
    }

    /// Waits (see [`eventually`]) until the recording satisfies `enough`
    /// (the recorder reads the segment on its own thread), and returns it.
    fn recorded_once(&self, what: &str, enough: impl Fn(&[Datagram]) -> bool) -> Vec<Datagram> {
        eventually(what, || enough(&self.recorder.recorded()));
        self.recorder.recorded()
    }

    /// Sends `d` again to `to`, twice: from the address it was recorded
    /// coming from, and from the attacker's own socket. Returns 2.
    fn replay(&self, d: &Datagram, to: SocketAddr) -> u64 {
        self.spoofer.send(&d.bytes, d.src, v4(to)).unwrap();
        self.sock.send_to(&d.bytes, to).unwrap();
        2
    }

    /// Replays each of `ds` to each of `to`; the datagrams sent.
    fn replay_all(&self, ds: &[Datagram], to: &[SocketAddr]) -> u64 {
        ds.iter().flat_map(|d| to.iter().map(move |&t| self.replay(d, t))).sum()
    }

    /// Asserts that nothing was sent to the attacker's own socket.
    fn heard_nothing(&self) {
        let mut buf = [0u8; 2048];
        match self.sock.recv_from(&mut buf) {
            Ok((n, from)) => panic!("the attacker was answered: {n} bytes from {from}"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
        }
    }
}

/// Runs test `name` of this binary again in a new user and network
/// namespace, where it may open packet and raw sockets, and checks that
/// it passed there.
fn run_in_namespace(name: &str, why: &std::io::Error) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "sh", "-c"])
        .arg(r#"ip link set lo up && exec "$0" "$@""#)
        .arg(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output();
    let out = out.unwrap_or_else(|e| {
        panic!(
            "recording the segment needs CAP_NET_RAW ({why}) and unshare failed ({e}): run as root"
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "recording the segment needs CAP_NET_RAW ({why}): run as root, or allow unprivileged user \
         namespaces; the copy in a namespace failed:\n{stdout}{stderr}"
    );
    // A name that matched no test would pass having run nothing.
    assert!(stdout.contains(&format!("test {name} ... ok")), "{stdout}{stderr}");
}

/// Waits until `done` holds for `peer`'s counters, then until they stop
/// moving (see [`quiet`]); returns them.
fn await_stats(peer: &Peer, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
    eventually(what, || done(&peer.stats()));
    quiet(peer)
}

/// Waits until `peer` has counted every datagram the recording shows it
/// sent (the recorder may see one before its sender counts it), so that a
/// snapshot of its counters taken then is settled.
fn settled(peer: &Peer, recorded: &[Datagram]) {
    let from = v4(peer.local_addr());
    let sent = recorded.iter().filter(|d| d.src == from).count() as u64;
    eventually("the peer counted what it sent", || peer.stats().datagrams_out >= sent);
}

/// `peer`'s counters once they have stopped moving, for a snapshot that no
/// late bump from earlier traffic changes: a datagram read is counted
/// before it is opened and what that opening leads to is counted after,
/// and what a peer sends is counted just after the send returns.
fn quiet(peer: &Peer) -> Stats {
    let mut last = peer.stats();
    let deadline = Instant::now() + DEADLINE;
    loop {
        thread::sleep(Duration::from_millis(50));
        let now = peer.stats();
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "{} never went quiet: {now:?}", peer.name());
        last = now;
    }
}

/// As [`quiet`], once `peer` has counted all it sent in `recorded`.
fn settle(peer: &Peer, recorded: &[Datagram]) -> Stats {
    settled(peer, recorded);
    quiet(peer)
}

/// Every counter of `after` but `except` equals `before`'s.
fn unchanged_but(before: &Stats, after: &Stats, except: &[&str]) {
    for ((name, b), (_, a)) in before.named().iter().zip(after.named()) {
        if !except.contains(name) {
            assert_eq!(*b, a, "{name} changed: before {before:?}, after {after:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Peers the test runs by hand.

/// A keyed group member written by hand: it answers probes, challenges and
/// messages as a peer does, and can say goodbye and stay, which no real
/// peer does: the only way to have a live peer's own goodbye to replay.
struct HandPeer {
    id: Uuid,
    unicast: UdpSocket,
    hand: Arc<Hand>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl HandPeer {
    fn start(port: u16, hand: &Arc<Hand>, name: &'static str) -> HandPeer {
        let id = Uuid::new_v4();
        let unicast = common::raw_socket();
        let stop = Arc::new(AtomicBool::new(false));
        let member = raw_member(port);
        let mut threads = Vec::new();
        for sock in [member, unicast.try_clone().unwrap()] {
            let (hand, stop) = (Arc::clone(hand), Arc::clone(&stop));
            let from = unicast.try_clone().unwrap();
            threads.push(thread::spawn(move || {
                sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                let me = from.local_addr().unwrap();
                let mut buf = vec![0u8; 1 << 16];
                while !stop.load(Ordering::Acquire) {
                    let Ok((n, src)) = sock.recv_from(&mut buf) else { continue };
                    let Some(got) = hand.open(&buf[..n]) else { continue };
                    let body = match got.kind {
                        Kind::Probe => Body::ProbeReply { addr: me, name },
                        Kind::Challenge => Body::Proof,
                        Kind::Message => Body::Ack,
                        _ => continue,
                    };
                    let answer = Frame { flags: 0, sender: id, id: got.id, body };
                    let _ = from.send_to(&hand.seal(&answer), src);
                }
            }));
        }
        HandPeer { id, unicast, hand: Arc::clone(hand), stop, threads }
    }

    fn info(&self) -> PeerInfo {
        PeerInfo { id: self.id, addr: self.unicast.local_addr().unwrap(), name: "hand".into() }
    }

    /// Says goodbye to the group, from its own address, and stays.
    fn goodbye(&self, port: u16) {
        let bye = Frame { flags: 0, sender: self.id, id: 0, body: Body::Goodbye };
        self.unicast.send_to(&self.hand.seal(&bye), group(port)).unwrap();
    }
}

impl Drop for HandPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A real peer in a process of its own (this test binary, running
/// [`helper_peer`]), so that it can die without a goodbye.
struct Doomed {
    child: Child,
    info: PeerInfo,
}

impl Doomed {
    fn start(port: u16, key_file: &Path) -> Doomed {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["helper_peer", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(HELPER, format!("{port} {}", key_file.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest prints "test helper_peer ... " on the same line.
                if let Some((_, rest)) = line.split_once("helper-ready ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let ready = rx.recv_timeout(DEADLINE).expect("the helper peer's ready line");
        let (id, addr) = ready.split_once(' ').unwrap();
        let info = PeerInfo {
            id: id.parse().unwrap(),
            addr: addr.parse().unwrap(),
            name: "doomed".into(),
        };
        Doomed { child, info }
    }

    /// SIGKILL: it sends nothing more, not even a goodbye.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Doomed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Not a test: the peer [`Doomed`] runs in a process of its own. Lives
/// until killed, or until its parent closes its stdin.
#[test]
#[ignore = "a peer other tests start in a process of its own, to kill it"]
fn helper_peer() {
    let Some(spec) = std::env::var_os(HELPER) else { return };
    let spec = spec.into_string().unwrap();
    let (port, file) = spec.split_once(' ').unwrap();
    let peer = Peer::start(config(port.parse().unwrap()).key_file(file).name("doomed")).unwrap();
    println!("helper-ready {} {}", peer.id(), peer.local_addr());
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

// ---------------------------------------------------------------------------
// Forgery without the key.

/// Every kind of datagram an attacker without the key can make, about the
/// peers of `victims` (their UUIDs, as if leaked: sealed traffic hides
/// them): each open kind of issue 9 with guessed ids, an old-version one,
/// the original's four, bytes that only look sealed, one sealed under
/// another key, and one of the group's own sealed datagrams with a byte
/// changed.
fn forgeries(victims: &[Uuid], from: SocketAddr, hand: &Hand) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |what: &str, bytes: Vec<u8>| out.push((what.to_string(), bytes));
    for &who in victims {
        let frame = |id, body| Frame { flags: 0, sender: who, id, body }.to_vec().unwrap();
        let padding = MAX_REPLY_BODY as u16;
        add("probe", frame(random_id(), Body::Probe { padding }));
        add("reply", frame(random_id(), Body::ProbeReply { addr: from, name: "ghost" }));
        add("ack", frame(random_id(), Body::Ack));
        add("goodbye", frame(0, Body::Goodbye));
        let msg = Body::Message { timing: None, name: "", payload: b"forged" };
        add("message", frame(random_id(), msg));
        add("challenge", frame(random_id(), Body::Challenge));
        add("proof", frame(random_id(), Body::Proof));
        let mut v1 = frame(random_id(), Body::Probe { padding });
        v1[4] = 1; // the version byte
        add("version 1", v1);
        let other = Uuid::new_v4();
        add("legacy discover", legacy::encode(&Legacy::Discover { asker: who }));
        add("legacy discovered", legacy::encode(&Legacy::Discovered { asker: who, peer: other }));
        add("legacy message", legacy::encode(&Legacy::Message { sender: who, text: "forged" }));
        let response = Legacy::Response { sender: who, peer: other, text: "forged" };
        add("legacy response", legacy::encode(&response));
        let mut looks_sealed = sealed::SEALED_MAGIC.to_vec();
        looks_sealed.extend((0..80).map(|_| random_id() as u8));
        add("sealed-looking noise", looks_sealed);
        let msg = Body::Message { timing: None, name: "", payload: b"forged" };
        let goodbye = Frame { flags: 0, sender: who, id: 0, body: Body::Goodbye };
        let (_, other_group) = group_key();
        add("sealed under another key", other_group.seal(&goodbye));
        let mut tampered = hand.seal(&Frame { flags: 0, sender: who, id: random_id(), body: msg });
        let last = tampered.len() - 20;
        tampered[last] ^= 1;
        add("the group's own, one byte changed", tampered);
    }
    out
}

/// Forged datagrams of every kind, none sealed under the group key, to the
/// group and to each keyed peer's unicast socket: each is counted
/// `auth_failed` and nothing else happens. No peer sends a single datagram
/// (so the attacker's socket hears nothing), nothing is delivered, the
/// forged goodbyes hide no one, and sends still PASS.
#[test]
fn forged_datagrams_of_every_kind_are_dropped_unread_and_unanswered() {
    let port = free_port();
    let (key, hand) = group_key();
    let peers: Vec<Peer> = ["a", "b", "c"]
        .iter()
        .map(|n| Peer::start(config(port).key(key.clone()).name(*n)).unwrap())
        .collect();
    let (a, others) = (&peers[0], &peers[1..]);
    let targets: Vec<PeerInfo> = others.iter().map(info).collect();
    let found: HashSet<Uuid> =
        a.discover_within(Some(2), TIMEOUT).unwrap().iter().map(|p| p.id).collect();
    assert_eq!(found, targets.iter().map(|p| p.id).collect());
    assert!(a.send_to(b"before", &targets, TIMEOUT).unwrap().all_acked());
    for p in others {
        assert_eq!(p.recv_timeout(TIMEOUT).unwrap().unwrap().data, b"before");
    }

    let attacker = common::raw_socket();
    attacker.set_nonblocking(true).unwrap();
    let ids: Vec<Uuid> = peers.iter().map(Peer::id).collect();
    let forged = forgeries(&ids, attacker.local_addr().unwrap(), &hand);
    let before: Vec<Stats> = peers.iter().map(quiet).collect();
    let mut to: Vec<SocketAddr> = vec![group(port)];
    to.extend(peers.iter().map(Peer::local_addr));
    for (_, bytes) in &forged {
        for &t in &to {
            attacker.send_to(bytes, t).unwrap();
        }
    }
    // Each peer gets every forgery twice: on the group and at its address.
    let each = 2 * forged.len() as u64;
    for (p, b) in peers.iter().zip(&before) {
        let after =
            await_stats(p, "every forgery counted", |s| s.auth_failed >= b.auth_failed + each);
        assert_eq!(after.datagrams_in - b.datagrams_in, each, "{}: {after:?}", p.name());
        assert_eq!(after.auth_failed - b.auth_failed, each, "{}: {after:?}", p.name());
        // Not a datagram sent, nothing else counted (forged, malformed...).
        unchanged_but(b, &after, &["datagrams_in", "auth_failed"]);
        assert!(p.try_recv().unwrap().is_none(), "{} delivered a forgery", p.name());
    }
    let mut buf = [0u8; 2048];
    let heard = attacker.recv_from(&mut buf);
    assert!(heard.is_err(), "the attacker was answered: {heard:?}");
    let kinds: Vec<&str> =
        forged.iter().take(forged.len() / ids.len()).map(|(k, _)| k.as_str()).collect();
    eprintln!(
        "forged {} kinds x {} senders, each counted auth_failed: {kinds:?}",
        kinds.len(),
        ids.len()
    );

    // The forged goodbyes hid no one.
    assert_eq!(a.known_peers().len(), 2);
    let report = a.send_to(b"after", &targets, TIMEOUT).unwrap();
    assert!(report.all_acked(), "{report:?}");
    let found = a.discover_within(Some(2), TIMEOUT).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
}

// ---------------------------------------------------------------------------
// Replays.

/// A sender's probes and challenges, recorded while it found a receiver,
/// are replayed to the group and to the receiver's address: the receiver
/// answers none (it has seen their nonces: `replayed`). After it restarts
/// on the same port, it answers none either (sealed before it started:
/// `stale`), however fresh it is: the attacker's socket hears nothing and
/// the new receiver has sent nothing at all. It still answers a real probe.
#[test]
fn replayed_probes_and_challenges_are_not_answered_before_or_after_a_restart() {
    let Some(attacker) =
        Attacker::new("replayed_probes_and_challenges_are_not_answered_before_or_after_a_restart")
    else {
        return;
    };
    let port = free_port();
    attacker.watch(group(port));
    let (key, hand) = group_key();
    let a = Peer::start(config(port).key(key.clone()).name("a").receiver(false)).unwrap();
    let b = Peer::start(config(port).key(key.clone()).name("b")).unwrap();
    attacker.watch(a.local_addr());
    attacker.watch(b.local_addr());
    assert_eq!(a.discover_within(Some(1), TIMEOUT).unwrap(), [info(&b)]);

    let recorded = attacker.recorded_once("a's probe and challenge recorded", |r| {
        !hand.pick(r, Kind::Probe, a.id()).is_empty()
            && !hand.pick(r, Kind::Challenge, a.id()).is_empty()
            && !hand.pick(r, Kind::Proof, b.id()).is_empty()
    });
    let mut asks = hand.pick(&recorded, Kind::Probe, a.id());
    asks.extend(hand.pick(&recorded, Kind::Challenge, a.id()));

    // The receiver as it was: it has seen every one of them.
    let before = settle(&b, &recorded);
    let sent = attacker.replay_all(&asks, &[group(port), b.local_addr()]);
    let after = await_stats(&b, "b counted every replay", |s| {
        s.replayed + s.stale >= before.replayed + before.stale + sent
    });
    assert_eq!(after.replayed - before.replayed, sent, "{after:?}");
    unchanged_but(&before, &after, &["datagrams_in", "replayed"]);

    // Restarted on the same port: a peer that has seen nothing.
    drop(b);
    let b2 = Peer::start(config(port).key(key).name("b2")).unwrap();
    attacker.watch(b2.local_addr());
    let sent = attacker.replay_all(&asks, &[group(port), b2.local_addr()]);
    let stats = await_stats(&b2, "b2 counted every replay", |s| s.replayed + s.stale >= sent);
    assert_eq!(stats.stale, sent, "{stats:?}");
    // And everything else the segment carried: answers for no one.
    let everything = attacker.recorder.recorded();
    let more = attacker.replay_all(&everything, &[group(port), b2.local_addr()]);
    let stats =
        await_stats(&b2, "b2 read every replay", |s| s.datagrams_in >= stats.datagrams_in + more);
    assert_eq!(stats.datagrams_out, 0, "b2 answered a replay: {stats:?}");
    assert!(b2.try_recv().unwrap().is_none());
    attacker.heard_nothing();
    eprintln!(
        "{} probes and challenges, then {} datagrams, replayed to a restarted peer: {stats:?}",
        asks.len(),
        everything.len()
    );
    // It is alive and well.
    assert_eq!(a.discover_within(Some(1), TIMEOUT).unwrap(), [info(&b2)]);
}

/// Takes every message waiting at `peer` into `into`, by payload.
fn drain(peer: &Peer, into: &mut HashMap<Vec<u8>, usize>) {
    while let Some(m) = peer.try_recv().unwrap() {
        *into.entry(m.data).or_default() += 1;
    }
}

/// Replays `copies` to the group and to `victim`'s address and checks that
/// each was refused as a replay, unanswered and undelivered; returns how
/// many were refused as `(replayed, stale)`.
fn replay_refused(
    attacker: &Attacker,
    copies: &[Datagram],
    victim: &Peer,
    what: &str,
) -> (u64, u64) {
    let before = settle(victim, &attacker.recorder.recorded());
    let sent = attacker.replay_all(copies, &[victim.group(), victim.local_addr()]);
    let after = await_stats(victim, what, |s| {
        s.replayed + s.stale >= before.replayed + before.stale + sent
    });
    let (replayed, stale) = (after.replayed - before.replayed, after.stale - before.stale);
    assert_eq!(replayed + stale, sent, "{what}: {after:?}");
    unchanged_but(&before, &after, &["datagrams_in", "replayed", "stale"]);
    assert!(victim.try_recv().unwrap().is_none(), "{what}: a replay was delivered");
    eprintln!("{what}: {sent} copies, {replayed} replayed, {stale} stale");
    (replayed, stale)
}

/// A message, sent to one peer and to the group, is recorded and replayed
/// (every copy, to the group and to the receiver, from the sender's address
/// and the attacker's): at once, a second later, after more than
/// [`DEDUPE_WINDOW`] other messages (which would have flushed it from the
/// dedupe window; the replay table makes that irrelevant), and to a new
/// receiver on the same port. It is never delivered a second time, nor
/// acknowledged: refused as `replayed`, or `stale` once sealed before the
/// receiver started.
#[test]
fn a_recorded_message_replayed_is_never_delivered_twice() {
    let Some(attacker) = Attacker::new("a_recorded_message_replayed_is_never_delivered_twice")
    else {
        return;
    };
    let port = free_port();
    attacker.watch(group(port));
    let (key, hand) = group_key();
    let a = Peer::start(config(port).key(key.clone()).name("a").receiver(false)).unwrap();
    let receiver = || config(port).key(key.clone()).queue_capacity(MAX_QUEUE_CAPACITY);
    let b = Peer::start(receiver().name("b")).unwrap();
    attacker.watch(a.local_addr());
    attacker.watch(b.local_addr());
    let to_b = [info(&b)];
    assert_eq!(a.discover_within(Some(1), TIMEOUT).unwrap(), to_b);
    let sent_at = Instant::now();
    assert!(a.send_to(b"once, to b", &to_b, TIMEOUT).unwrap().all_acked());
    assert!(a.send_group(b"once, to all", TIMEOUT).unwrap().all_acked());
    let mut delivered = HashMap::new();
    drain(&b, &mut delivered);
    let originals = [b"once, to b".to_vec(), b"once, to all".to_vec()];
    let recorded = attacker.recorded_once("both messages recorded", |r| {
        let seen: HashSet<Vec<u8>> =
            r.iter().filter_map(|d| hand.open(&d.bytes)).map(|o| o.payload).collect();
        originals.iter().all(|m| seen.contains(m))
    });
    let copies = hand.pick(&recorded, Kind::Message, a.id());

    let (replayed, _) = replay_refused(&attacker, &copies, &b, "replayed at once");
    assert!(replayed > 0);
    // The scenario is "a second later": the wait is the attack, not a
    // wait for an event.
    thread::sleep(Duration::from_secs(1).saturating_sub(sent_at.elapsed()));
    replay_refused(&attacker, &copies, &b, "replayed a second later");

    // More than the dedupe window of other messages, from a few threads.
    let flush = DEDUPE_WINDOW + 1;
    let started = Instant::now();
    thread::scope(|s| {
        for t in 0..4 {
            let (a, to_b) = (&a, &to_b);
            s.spawn(move || {
                for i in (t..flush).step_by(4) {
                    let report = a.send_to(format!("other {i}").as_bytes(), to_b, TIMEOUT).unwrap();
                    assert!(report.all_acked(), "{report:?}");
                }
            });
        }
    });
    eprintln!("{flush} other messages in {:?}", started.elapsed());
    drain(&b, &mut delivered);
    assert_eq!(delivered.len(), flush + 2);
    replay_refused(&attacker, &copies, &b, "replayed after the dedupe window");

    // A new receiver on the same port: it remembers nothing.
    drop(b);
    let b2 = Peer::start(receiver().name("b2")).unwrap();
    attacker.watch(b2.local_addr());
    let (_, stale) = replay_refused(&attacker, &copies, &b2, "replayed to a restarted receiver");
    assert!(stale > 0);
    assert_eq!(b2.stats().datagrams_out, 0);
    attacker.heard_nothing();
    assert!(delivered.values().all(|&n| n == 1), "delivered twice");
    for m in &originals {
        assert_eq!(delivered.get(m), Some(&1));
    }
}

/// A message replayed once the replay window is over: the receiver has
/// forgotten its nonce by then, and refuses it by its sealing time alone
/// (`stale`), unanswered and undelivered. Takes the window, 10 s.
#[test]
fn a_message_replayed_after_the_replay_window_is_stale() {
    let Some(attacker) = Attacker::new("a_message_replayed_after_the_replay_window_is_stale")
    else {
        return;
    };
    let port = free_port();
    attacker.watch(group(port));
    let (key, hand) = group_key();
    let a = Peer::start(config(port).key(key.clone()).name("a").receiver(false)).unwrap();
    let b = Peer::start(config(port).key(key).name("b")).unwrap();
    attacker.watch(a.local_addr());
    attacker.watch(b.local_addr());
    let to_b = [info(&b)];
    assert_eq!(a.discover_within(Some(1), TIMEOUT).unwrap(), to_b);
    let sent_at = Instant::now();
    assert!(a.send_group(b"once", TIMEOUT).unwrap().all_acked());
    assert_eq!(b.recv_timeout(TIMEOUT).unwrap().unwrap().data, b"once");
    let recorded = attacker
        .recorded_once("the message recorded", |r| !hand.pick(r, Kind::Message, a.id()).is_empty());
    let copies = hand.pick(&recorded, Kind::Message, a.id());
    // The scenario is "after the window": the wait is the attack.
    thread::sleep((REPLAY_WINDOW + Duration::from_secs(1)).saturating_sub(sent_at.elapsed()));
    let (replayed, stale) = replay_refused(&attacker, &copies, &b, "replayed after the window");
    assert_eq!((replayed, stale), (0, 4 * copies.len() as u64));
    attacker.heard_nothing();
}

/// Replays `recorded`, over and over until dropped, to the group and to
/// each of `to`, from each datagram's recorded source and from the
/// attacker's socket: the attacker trying every old answer while
/// operations run.
struct ReplayLoop {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    thread: Option<JoinHandle<u64>>,
}

impl ReplayLoop {
    fn start(attacker: &Arc<Attacker>, recorded: Vec<Datagram>, to: Vec<SocketAddr>) -> ReplayLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let (attacker, stop2, rounds2) =
            (Arc::clone(attacker), Arc::clone(&stop), Arc::clone(&rounds));
        let thread = thread::spawn(move || {
            let mut sent = 0;
            while !stop2.load(Ordering::Acquire) {
                for d in &recorded {
                    sent += to.iter().map(|&t| attacker.replay(d, t)).sum::<u64>();
                    // Paced, not a wait: this test is about what replays
                    // count for; a flood at full speed (tests/attacks.rs
                    // has those) would only starve the live peer on a
                    // loaded machine and make its honest ack late.
                    thread::sleep(Duration::from_micros(200));
                }
                rounds2.fetch_add(1, Ordering::AcqRel);
            }
            sent
        });
        ReplayLoop { stop, rounds, thread: Some(thread) }
    }

    fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Acquire)
    }

    /// Runs `op` (which asserts what it gets) again and again until a
    /// whole round of replays has run while it did, so that every
    /// recorded datagram was tried on it.
    fn during(&self, mut op: impl FnMut()) {
        let first = self.rounds();
        let deadline = Instant::now() + DEADLINE;
        loop {
            op();
            if self.rounds() >= first + 2 {
                return;
            }
            assert!(Instant::now() < deadline, "the replays stalled");
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for ReplayLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn ids(peers: &[PeerInfo]) -> HashSet<Uuid> {
    peers.iter().map(|p| p.id).collect()
}

/// Two peers die after answering a sender's discoveries and sends, one
/// killed (no goodbye), one closed (goodbye). Everything recorded,
/// their replies, proofs and acks included, is replayed over and over, from
/// their own addresses too, while the sender sends to them and discovers
/// again: each send is acknowledged by the live peer only (FAIL, the dead
/// ones missing), discovery finds the live one only, and the live one
/// delivers each message once.
#[test]
fn replayed_answers_of_dead_peers_count_for_nothing() {
    let Some(attacker) = Attacker::new("replayed_answers_of_dead_peers_count_for_nothing") else {
        return;
    };
    let attacker = Arc::new(attacker);
    let port = free_port();
    attacker.watch(group(port));
    let dir = TempDir::new("dead");
    let (key, hand) = group_key();
    let key_file = common::key_file(&dir.0, "doomed", &[&key]);
    let a = Peer::start(config(port).key(key.clone()).name("a").receiver(false)).unwrap();
    let live = Peer::start(config(port).key(key.clone()).name("live")).unwrap();
    let closed = Peer::start(config(port).key(key).name("closed")).unwrap();
    let killed = Doomed::start(port, &key_file);
    for addr in [a.local_addr(), live.local_addr(), closed.local_addr(), killed.info.addr] {
        attacker.watch(addr);
    }
    let everyone = vec![info(&live), info(&closed), killed.info.clone()];
    let found = a.discover_within(Some(3), TIMEOUT).unwrap();
    assert_eq!(ids(&found), ids(&everyone));
    for i in 0..3 {
        let report = a.send_to(format!("to each {i}").as_bytes(), &everyone, TIMEOUT).unwrap();
        assert!(report.all_acked(), "{report:?}");
        let report = a.send_group(format!("to all {i}").as_bytes(), TIMEOUT).unwrap();
        assert!(report.all_acked(), "{report:?}");
    }
    let recorded = attacker.recorded_once("the dead peers' answers recorded", |r| {
        [closed.id(), killed.info.id].iter().all(|&who| {
            [Kind::ProbeReply, Kind::Proof, Kind::Ack]
                .iter()
                .all(|&k| !hand.pick(r, k, who).is_empty())
        })
    });
    killed.kill();
    let closed_info = info(&closed);
    drop(closed);
    eventually("a hears the closed peer's goodbye", || {
        !a.known_peers().iter().any(|p| p.id == closed_info.id)
    });

    let mut delivered = HashMap::new();
    drain(&live, &mut delivered);
    let replays = ReplayLoop::start(
        &attacker,
        recorded.clone(),
        vec![group(port), a.local_addr(), live.local_addr()],
    );
    let mut sends = 0;
    replays.during(|| {
        sends += 1;
        let msg = format!("to each, after {sends}");
        let report = a.send_to(msg.as_bytes(), &everyone, ABSENT_TIMEOUT).unwrap();
        assert_eq!(report.acked, [info(&live)], "{report:?}");
        assert_eq!(ids(&report.missing), ids(&everyone[1..]), "{report:?}");
    });
    // The killed peer is still in the list (it never said goodbye).
    replays.during(|| {
        sends += 1;
        let report = a.send_group(format!("to all, after {sends}").as_bytes(), ABSENT_TIMEOUT);
        let report = report.unwrap();
        assert_eq!(report.acked, [info(&live)], "{report:?}");
        assert_eq!(ids(&report.missing), ids(&everyone[2..]), "{report:?}");
    });
    replays.during(|| {
        let found = a.discover_within(Some(3), ABSENT_TIMEOUT).unwrap();
        assert_eq!(found, [info(&live)]);
    });
    let sent = replays.stop();
    drain(&live, &mut delivered);
    assert!(delivered.values().all(|&n| n == 1), "delivered twice: {delivered:?}");
    assert_eq!(delivered.len(), 6 + sends, "{delivered:?}");
    let stats = a.stats();
    eprintln!("{} recorded datagrams replayed {sent} times: {stats:?}", recorded.len());
    attacker.heard_nothing();
}

/// A peer that proved its address and then died: its recorded proof,
/// replayed from its address while a send waits for it, must not count as
/// a sign of life. The send FAILs, and sends its message there no faster
/// than its own backoff. (Before the fix each proof it read drew the whole
/// message at once, up to 16 KiB for a ~100-byte replay: 200 resends of
/// 1 KiB in one second here, 6,000 without a key.)
#[test]
fn a_replayed_proof_of_a_dead_peer_draws_nothing() {
    let Some(attacker) = Attacker::new("a_replayed_proof_of_a_dead_peer_draws_nothing") else {
        return;
    };
    let port = free_port();
    attacker.watch(group(port));
    let (key, hand) = group_key();
    let a = Peer::start(config(port).key(key.clone()).name("a").receiver(false)).unwrap();
    let b = Peer::start(config(port).key(key).name("b")).unwrap();
    attacker.watch(a.local_addr());
    attacker.watch(b.local_addr());
    let to_b = [info(&b)];
    assert_eq!(a.discover_within(Some(1), TIMEOUT).unwrap(), to_b);
    let recorded = attacker
        .recorded_once("b's proof recorded", |r| !hand.pick(r, Kind::Proof, b.id()).is_empty());
    let proof = hand.pick(&recorded, Kind::Proof, b.id()).remove(0);
    drop(b);
    // Heard before the send begins, or the goodbye would end it early.
    eventually("a hears b's goodbye", || a.known_peers().is_empty());

    proofs_draw_nothing(&attacker, &a, &to_b[0], |_| proof.bytes.clone());
}

/// While `a` sends a 1 KiB message to `dead` for [`ABSENT_TIMEOUT`], the
/// datagrams `proof` makes are sent to it from `dead`'s address as fast as
/// the attacker can: the send FAILs, with no more retransmissions than its
/// backoff makes. Sends again until `a` read enough proofs during one to
/// tell (a loaded machine may leave the attacker or `a` little CPU).
fn proofs_draw_nothing(
    attacker: &Attacker,
    a: &Peer,
    dead: &PeerInfo,
    proof: impl Fn(u64) -> Vec<u8> + Sync,
) {
    // The backoff repeats after 10, 30 and 70 ms, then every 50 ms at
    // most often (sooner never; later on a busy machine).
    let backoff = 3 + (ABSENT_TIMEOUT.as_millis() / 50) as u64 + 1;
    // Before the fix each proof read drew a resend (or as many as the
    // sender could seal): a few times the backoff's worth tells.
    let enough = 4 * backoff;
    let deadline = Instant::now() + 2 * DEADLINE;
    loop {
        let before = a.stats();
        let done = AtomicBool::new(false);
        let (report, sent) = thread::scope(|s| {
            let flood = s.spawn(|| {
                let mut n = 0u64;
                while !done.load(Ordering::Acquire) {
                    attacker.spoofer.send(&proof(n), v4(dead.addr), v4(a.local_addr())).unwrap();
                    n += 1;
                }
                n
            });
            // 1 KiB: enough to amplify, cheap to seal, so that before the
            // fix the resends were bounded by the proofs, not by the CPU.
            let message = [0xab; 1024];
            let report = a.send_to(&message, std::slice::from_ref(dead), ABSENT_TIMEOUT);
            done.store(true, Ordering::Release);
            (report.unwrap(), flood.join().unwrap())
        });
        let after = a.stats();
        let resent = after.retransmissions - before.retransmissions;
        // Nothing else comes to a meanwhile.
        let read = after.datagrams_in - before.datagrams_in;
        eprintln!(
            "{sent} proofs sent, {read} read in a 1 s send to a dead peer: {resent} resends; {after:?}"
        );
        assert!(report.acked.is_empty(), "{report:?}");
        assert!(resent <= backoff, "{resent} retransmissions for {read} proofs read");
        if read >= enough {
            return;
        }
        assert!(Instant::now() < deadline, "too few proofs read ({read}) to tell");
    }
}

/// A live peer's own goodbye, replayed, hides it from no one. Real peers
/// say goodbye only as they leave, so the live peer here is a hand-made
/// keyed one that says goodbye and stays (as if it had come back). Its
/// goodbye is honoured once; replayed to the group and to the sender, from
/// its own address and the attacker's, it is refused (`replayed`), and so
/// it is by a sender that restarted since (`stale`): sends to it still
/// PASS and discovery finds it, also while everything recorded is replayed
/// over and over.
#[test]
fn a_replayed_goodbye_hides_no_live_peer() {
    let Some(attacker) = Attacker::new("a_replayed_goodbye_hides_no_live_peer") else {
        return;
    };
    let attacker = Arc::new(attacker);
    let port = free_port();
    attacker.watch(group(port));
    let (key, hand) = group_key();
    let start_a = || Peer::start(config(port).key(key.clone()).name("a").receiver(false)).unwrap();
    let a = start_a();
    let b = Peer::start(config(port).key(key.clone()).name("b")).unwrap();
    let h = HandPeer::start(port, &hand, "hand");
    for addr in [a.local_addr(), b.local_addr(), h.info().addr] {
        attacker.watch(addr);
    }
    let both = [info(&b), h.info()];
    let check = |a: &Peer, what: &str| {
        let report = a.send_to(what.as_bytes(), &both, TIMEOUT).unwrap();
        assert!(report.all_acked(), "{what}: {report:?}");
        let found = a.discover_within(Some(2), TIMEOUT).unwrap();
        assert_eq!(ids(&found), ids(&both), "{what}");
    };
    check(&a, "before the goodbye");

    // Its goodbye is honoured, once; it answers the next discovery.
    h.goodbye(port);
    eventually("a forgets it", || !a.known_peers().iter().any(|p| p.id == h.id));
    check(&a, "after the goodbye");
    let recorded = attacker
        .recorded_once("the goodbye recorded", |r| !hand.pick(r, Kind::Goodbye, h.id).is_empty());
    let bye = hand.pick(&recorded, Kind::Goodbye, h.id);

    let (replayed, stale) = replay_refused(&attacker, &bye, &a, "its goodbye replayed");
    assert_eq!((replayed, stale), (4, 0));
    assert!(a.known_peers().iter().any(|p| p.id == h.id), "a replay hid it");
    check(&a, "after the replayed goodbye");

    let everything = attacker.recorder.recorded();
    let replays = ReplayLoop::start(
        &attacker,
        everything.clone(),
        vec![group(port), a.local_addr(), b.local_addr()],
    );
    replays.during(|| check(&a, "while everything is replayed"));
    drop(replays);

    // A sender that restarted has seen nothing, and refuses it all the same.
    drop(a);
    let a2 = start_a();
    attacker.watch(a2.local_addr());
    check(&a2, "a restarted sender");
    let (replayed, stale) = replay_refused(&attacker, &bye, &a2, "its goodbye, to a new sender");
    assert_eq!((replayed, stale), (0, 4));
    assert_eq!(ids(&a2.known_peers()), ids(&both), "a replay hid it");
    check(&a2, "a restarted sender, after the replayed goodbye");
    eprintln!("{} recorded datagrams replayed: {:?}", everything.len(), a2.stats());
}

/// What [`a_replayed_proof_of_a_dead_peer_draws_nothing`] shows under a
/// key holds without one, where a forger on the segment needs no
/// recording: a proof under the dead peer's UUID (seen in the clear) from
/// its address, with any token.
#[test]
fn a_forged_proof_from_a_dead_peers_address_draws_nothing_without_a_key() {
    let Some(attacker) =
        Attacker::new("a_forged_proof_from_a_dead_peers_address_draws_nothing_without_a_key")
    else {
        return;
    };
    let port = free_port();
    let a = Peer::start(config(port).name("a").receiver(false)).unwrap();
    let b = Peer::start(config(port).name("b")).unwrap();
    let to_b = [info(&b)];
    assert_eq!(a.discover_within(Some(1), TIMEOUT).unwrap(), to_b);
    drop(b);
    eventually("a hears b's goodbye", || a.known_peers().is_empty());
    let forge = |_| Frame { flags: 0, sender: to_b[0].id, id: random_id(), body: Body::Proof };
    proofs_draw_nothing(&attacker, &a, &to_b[0], |n| forge(n).to_vec().unwrap());
}

// ---------------------------------------------------------------------------
// Rotation and key files.

/// Writes `text` as key file `name` in `dir` with `mode`, by renaming a
/// new file over it (as [`common::key_file`] does, any mode).
fn write_key_file(dir: &Path, name: &str, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// Sends from each of `peers` to all the others, `label` as the message;
/// every send must PASS.
fn every_peer_sends(peers: &[Peer], label: &str) {
    for (i, p) in peers.iter().enumerate() {
        let others: Vec<PeerInfo> =
            peers.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, q)| info(q)).collect();
        let report = p.send_to(format!("{label}, from {i}").as_bytes(), &others, TIMEOUT).unwrap();
        assert!(report.all_acked(), "{label}, from {}: {report:?}", p.name());
    }
}

/// A group of three changes keys with no restart and no failed send: every
/// peer's key file goes K1, then K1+K2, then K2+K1, then K2. Each step is
/// taken one peer at a time, and after each peer reloads (its
/// `key_reloads` rises) every peer sends to the other two, so sends run in
/// every mixed state; meanwhile each peer also sends to the others in a
/// loop, through the reloads themselves. Every send PASSes, no key file is
/// refused, and each peer keeps its UUID. A peer that still has only K1
/// afterwards is no longer in the group.
#[test]
fn rotation_across_three_peers_fails_no_send() {
    let port = free_port();
    let dir = TempDir::new("rotation");
    let (k1, k2) = (Key::generate().unwrap(), Key::generate().unwrap());
    let names = ["p0", "p1", "p2"];
    let files: Vec<PathBuf> = names.iter().map(|n| common::key_file(&dir.0, n, &[&k1])).collect();
    let peers: Vec<Peer> = files
        .iter()
        .zip(names)
        .map(|(f, n)| Peer::start(config(port).key_file(f).name(n)).unwrap())
        .collect();
    let uuids: Vec<Uuid> = peers.iter().map(Peer::id).collect();
    every_peer_sends(&peers, "with K1");

    let steps: [&[&Key]; 3] = [&[&k1, &k2], &[&k2, &k1], &[&k2]];
    let rotating = AtomicBool::new(true);
    let failures = Mutex::new(Vec::new());
    let background = AtomicU64::new(0);
    thread::scope(|s| {
        // Each peer takes what it is sent, so that no queue fills.
        for p in &peers {
            s.spawn(|| {
                while rotating.load(Ordering::Acquire) {
                    let _ = p.recv_timeout(Duration::from_millis(20));
                }
            });
        }
        // Each peer sends to the others in a loop, through the reloads.
        for (i, p) in peers.iter().enumerate() {
            let others: Vec<PeerInfo> =
                peers.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, q)| info(q)).collect();
            let (rotating, failures, background) = (&rotating, &failures, &background);
            s.spawn(move || {
                while rotating.load(Ordering::Acquire) {
                    let report = p.send_to(b"meanwhile", &others, TIMEOUT).unwrap();
                    if !report.all_acked() {
                        failures.lock().unwrap().push(format!("{}: {report:?}", p.name()));
                    }
                    background.fetch_add(1, Ordering::AcqRel);
                    thread::sleep(Duration::from_millis(5));
                }
            });
        }
        for (step, keys) in steps.iter().enumerate() {
            for (i, p) in peers.iter().enumerate() {
                common::key_file(&dir.0, names[i], keys);
                let reloads = step as u64 + 1;
                eventually("the peer reloads its key file", || p.stats().key_reloads >= reloads);
                every_peer_sends(&peers, &format!("step {}, {} of 3 reloaded", step + 1, i + 1));
            }
        }
        rotating.store(false, Ordering::Release);
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "sends failed during the rotation: {failures:#?}");
    let sends = background.load(Ordering::Acquire);
    assert!(sends >= 3 * steps.len() as u64, "only {sends} sends ran through the reloads");
    eprintln!("rotation: {sends} sends through the reloads, and 9 rounds between them, all PASS");

    for (p, id) in peers.iter().zip(&uuids) {
        assert_eq!(p.id(), *id);
        let stats = p.stats();
        assert_eq!((stats.key_reloads, stats.key_errors), (3, 0), "{}: {stats:?}", p.name());
        let found = p.discover_within(Some(2), TIMEOUT).unwrap();
        let expected: HashSet<Uuid> = uuids.iter().copied().filter(|u| u != id).collect();
        assert_eq!(ids(&found), expected);
    }
    every_peer_sends(&peers, "with K2");

    // A peer left with K1 alone (one the group rotated away from) is out.
    let former = Peer::start(config(port).key(k1).name("former")).unwrap();
    let found = former.discover_within(Some(1), ABSENT_TIMEOUT).unwrap();
    assert!(found.is_empty(), "{found:?}");
    let report = former.send_to(b"still here?", &[info(&peers[0])], ABSENT_TIMEOUT).unwrap();
    assert!(report.acked.is_empty(), "{report:?}");
    eventually("the group drops what the former peer seals", || {
        peers.iter().all(|p| p.stats().auth_failed > 0)
    });
}

/// A key file that changes into one that cannot be used (not a key, open
/// to other users, three keys, gone) leaves the peer's keys as they were:
/// each change is counted in `key_errors` and sends still PASS both ways.
/// A usable file again is taken (`key_reloads`).
#[test]
fn an_unusable_key_file_keeps_the_old_keys() {
    let port = free_port();
    let dir = TempDir::new("unusable");
    let (key, other) = (Key::generate().unwrap(), Key::generate().unwrap());
    let file = common::key_file(&dir.0, "p", &[&key]);
    let watched = Peer::start(config(port).key_file(&file).name("watched")).unwrap();
    let inline = Peer::start(config(port).key(key.clone()).name("inline")).unwrap();
    let pair = [watched, inline];
    every_peer_sends(&pair, "before");

    let line = |k: &Key| k.to_hex() + "\n";
    // Each would change the keys if taken: `other` is not the group's.
    // `None`: the file is removed.
    let three = line(&other) + &line(&key) + &line(&key);
    let changes = [
        ("not a key", Some(("not a key\n".to_string(), 0o600))),
        ("mode 0644", Some((line(&other), 0o644))),
        ("three keys", Some((three, 0o600))),
        ("removed", None),
    ];
    for (n, (what, change)) in changes.into_iter().enumerate() {
        match change {
            Some((text, mode)) => write_key_file(&dir.0, "p", &text, mode),
            None => std::fs::remove_file(&file).unwrap(),
        }
        let errors = n as u64 + 1;
        eventually(what, || pair[0].stats().key_errors >= errors);
        every_peer_sends(&pair, what);
    }
    let stats = pair[0].stats();
    assert_eq!((stats.key_reloads, stats.key_errors), (0, 4), "{stats:?}");

    // Usable again, with the mode mended: taken.
    write_key_file(&dir.0, "p", &line(&key), 0o644);
    eventually("the open file refused", || pair[0].stats().key_errors >= 5);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    eventually("the mended file taken", || pair[0].stats().key_reloads >= 1);
    every_peer_sends(&pair, "mended");
    let stats = pair[0].stats();
    assert_eq!((stats.key_reloads, stats.key_errors), (1, 5), "{stats:?}");
}
