//! Real faults on loopback: killed peers and senders, floods of garbage and
//! of made-up peers, measured in the peer's own process (/proc).

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    ABSENT_TIMEOUT, RecvProcess, config, cpu_ticks, free_port, group, kernel_drops, net_args,
    peak_rss_kib, raw_member, raw_socket, spawn_ready, wait_drained,
};
use simplep2p::wire::{self, Body, Frame};
use simplep2p::{Peer, Uuid};

/// Starts `recv --stats --json`; returns it and its unicast address.
fn stats_recv(port: u16) -> (std::process::Child, SocketAddr) {
    let mut cmd = Command::new(common::BIN);
    cmd.args(net_args(port)).args(["recv", "--stats", "--json"]);
    let (child, ready) = spawn_ready(cmd, "simplep2p: ready: peer ");
    let unicast = ready.rsplit_once("unicast ").unwrap().1.parse().unwrap();
    (child, unicast)
}

/// Stops a `recv --stats --json` with SIGTERM and returns its stats line.
fn stop_for_stats(mut child: std::process::Child) -> String {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = common::with_watchdog(child.id(), || {
        let mut s = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut s).unwrap();
        s
    });
    assert_eq!(child.wait().unwrap().code(), Some(0));
    out.lines().find(|l| l.starts_with("{\"stats\":")).expect("a stats line").to_string()
}

fn stat(line: &str, name: &str) -> u64 {
    let at = line.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
    line[at..].split([',', '}']).next().unwrap().parse().unwrap()
}

/// Garbage of every class the decoder must survive, `n` datagrams.
fn garbage(n: usize) -> impl Iterator<Item = Vec<u8>> {
    let valid =
        Frame { flags: 0, sender: Uuid::new_v4(), id: 1, body: Body::Ack }.to_vec().unwrap();
    let uuid = Uuid::new_v4().to_string();
    (0..n).map(move |i| {
        let mut d = valid.clone();
        match i % 8 {
            0 => d = (0..(i % 90) as u8).collect(), // noise
            1 => d[5] = 99,                         // unknown kind
            2 => d[4] = 7,                          // unknown version
            3 => d[33] = 50,                        // a body length that lies
            4 => d.truncate(i % 33),                // cut short
            5 => d = format!("discover {}", &uuid[..35]).into_bytes(), // bad legacy UUID
            6 => d = format!("message {uuid} two words").into_bytes(), // extra fields
            _ => d.extend_from_slice(b"trailing"),
        }
        d
    })
}

#[test]
fn a_flood_of_garbage_is_counted_and_the_peer_stays_correct_small_and_idle() {
    const FLOOD: usize = 100_000;
    let port = free_port();
    let (child, unicast) = stats_recv(port);
    let pid = child.id();
    let raw = raw_socket();
    for (i, d) in garbage(FLOOD).enumerate() {
        // Half to the group, half straight to the unicast socket.
        let to = if i % 2 == 0 { group(port) } else { unicast };
        raw.send_to(&d, to).unwrap();
    }
    wait_drained(pid);
    let drops = kernel_drops(pid);
    // Afterwards it still answers discovery and acknowledges.
    let me = Peer::start(config(port)).unwrap();
    assert_eq!(me.discover(Some(1)).unwrap().len(), 1);
    let report = me.send(b"after the flood").unwrap();
    assert!(report.all_acked(), "{report:?}");
    // CPU back to idle: no tick of CPU over a quarter of a second.
    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_millis(250)); // an observation window, not a wait for an event
    let busy = cpu_ticks(pid) - before;
    let peak = peak_rss_kib(pid);
    let line = stop_for_stats(child);
    let malformed = stat(&line, "malformed");
    println!(
        "malformed {malformed}, dropped by the kernel {drops}, peak RSS {peak} KiB, idle ticks {busy}"
    );
    // Every garbage datagram was either read and counted, or dropped by the
    // kernel for a full buffer (also counted, there). The kernel's count may
    // also hold the peer's own heartbeats, looped back into a full buffer
    // during the flood: at most what it sent.
    let own = stat(&line, "datagrams_out");
    let accounted = malformed + drops;
    assert!((FLOOD as u64..=FLOOD as u64 + own).contains(&accounted), "{accounted}: {line}");
    assert!(malformed > 0);
    assert!(busy <= 1, "still busy after the flood: {busy} ticks in 250 ms");
    assert!(peak < 8 * 1024, "peak RSS {peak} KiB, bound 8 MiB");
}

#[test]
fn a_million_made_up_peers_leave_memory_bounded_and_behaviour_correct() {
    const FLOOD: u64 = 1_000_000;
    let port = free_port();
    let mut cmd = Command::new(common::BIN);
    cmd.args(net_args(port)).arg("recv");
    let (mut child, ready) = spawn_ready(cmd, "simplep2p: ready: peer ");
    let mut out = child.stdout.take().unwrap();
    thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let unicast: SocketAddr = ready.rsplit_once("unicast ").unwrap().1.parse().unwrap();
    let raw = raw_socket();
    let mut buf = Vec::with_capacity(128);
    for i in 0..FLOOD {
        // Messages (delivered and remembered for dedupe), acks and replies
        // (for no operation), each from a UUID never seen before.
        let body = match i % 3 {
            0 => Body::Message { timing: None, name: "ghost", payload: b"boo" },
            1 => Body::Ack,
            _ => Body::ProbeReply { addr: unicast, name: "ghost" },
        };
        buf.clear();
        Frame { flags: 0, sender: Uuid::from_u64_pair(i, !i), id: i, body }
            .encode(&mut buf)
            .unwrap();
        let to = if i % 2 == 0 { group(port) } else { unicast };
        raw.send_to(&buf, to).unwrap();
    }
    let me = Peer::start(config(port)).unwrap();
    let found = me.discover(Some(1)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].addr, unicast);
    assert!(me.send(b"still me").unwrap().all_acked());
    let peak = peak_rss_kib(child.id());
    println!("peak RSS after {FLOOD} datagrams from made-up peers: {peak} KiB");
    assert!(peak < 16 * 1024, "peak RSS {peak} KiB, bound 16 MiB");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A group member that answers probes (and proves its address) but never
/// acknowledges a message, so that a sender keeps sending to it until its
/// timeout.
fn silent_member(port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let sock = raw_member(port);
    let reply_sock = raw_socket();
    // Reads give up this often to look at `stop`.
    for s in [&sock, &reply_sock] {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    let me = Uuid::new_v4();
    let proofs = {
        let (sock, stop) = (reply_sock.try_clone().unwrap(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut buf = [0u8; 70_000];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, src)) = sock.recv_from(&mut buf) else { continue };
                if let Ok(Frame { id, body: Body::Challenge, .. }) = wire::decode(&buf[..n]) {
                    let proof = Frame { flags: 0, sender: me, id, body: Body::Proof };
                    let _ = sock.send_to(&proof.to_vec().unwrap(), src);
                }
            }
        })
    };
    thread::spawn(move || {
        let addr = reply_sock.local_addr().unwrap();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, src)) = sock.recv_from(&mut buf) else { continue };
            if let Ok(Frame { id, body: Body::Probe { .. }, .. }) = wire::decode(&buf[..n]) {
                let body = Body::ProbeReply { addr, name: "silent" };
                let reply = Frame { flags: 0, sender: me, id, body }.to_vec().unwrap();
                let _ = reply_sock.send_to(&reply, src);
            }
        }
        proofs.join().unwrap();
    })
}

/// A child process that is killed when dropped, so that a failing test
/// leaves none behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_sender_killed_mid_send_leaves_receivers_healthy() {
    use std::io::BufRead;
    let port = free_port();
    let mut receivers: Vec<RecvProcess> = (0..3).map(|_| RecvProcess::start(port, &[])).collect();
    let mut lines: Vec<_> = receivers
        .iter_mut()
        .map(|r| std::io::BufReader::new(r.child.stdout.take().unwrap()).lines())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let silent = silent_member(port, Arc::clone(&stop));
    // The silent member never acknowledges, so the send keeps sending to it
    // until its 60 s timeout: it is killed in the middle of that, however
    // long a busy machine takes to get the message to the receivers.
    let mut sender = KillOnDrop(
        Command::new(common::BIN)
            .args(net_args(port))
            .args(["send", "interrupted", "--expect", "4", "--timeout", "60000"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for (r, l) in receivers.iter().zip(&mut lines) {
        // Every real receiver has the message: the sender is past delivery.
        let line = common::with_watchdog(r.child.id(), || l.next().unwrap().unwrap());
        assert!(line.ends_with(" interrupted"), "{line}");
    }
    sender.0.kill().unwrap(); // SIGKILL: no goodbye, mid-retransmission
    sender.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    silent.join().unwrap();
    // The receivers are healthy: found, acknowledging, delivering once.
    let me = Peer::start(config(port)).unwrap();
    assert_eq!(me.discover(Some(3)).unwrap().len(), 3);
    assert!(me.send(b"after").unwrap().all_acked());
    for (r, l) in receivers.iter().zip(&mut lines) {
        let line = common::with_watchdog(r.child.id(), || l.next().unwrap().unwrap());
        assert!(line.ends_with(" after"), "a duplicate or nothing: {line}");
    }
}

#[test]
fn peers_killed_during_sends_are_reported_missing_and_a_restart_is_found() {
    let port = free_port();
    let mut procs: Vec<RecvProcess> = (0..5).map(|_| RecvProcess::start(port, &[])).collect();
    for p in &mut procs {
        // Read what they print, however many sends run before the kills land.
        let mut out = p.child.stdout.take().unwrap();
        thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    }
    let me = Peer::start(config(port)).unwrap();
    assert_eq!(me.discover(Some(5)).unwrap().len(), 5);
    let targets = me.known_peers();
    // Live peers get this long to acknowledge, and each send after the
    // kills waits it out for the dead ones.
    let timeout = ABSENT_TIMEOUT;
    let (killed_tx, killed_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let victims: Vec<RecvProcess> = procs.drain(..2).collect();
    let victim_ids: Vec<String> = victims.iter().map(|v| v.uuid.clone()).collect();
    thread::scope(|s| {
        // Kill two peers with SIGKILL while the sends run.
        s.spawn(move || {
            go_rx.recv().unwrap();
            for mut v in victims {
                v.child.kill().unwrap();
                v.child.wait().unwrap();
            }
            killed_tx.send(()).unwrap();
        });
        // Sends until three have run wholly after the kills.
        let deadline = Instant::now() + common::DEADLINE;
        let mut after_kill = 0;
        let mut i = 0;
        while after_kill < 3 {
            let done = killed_rx.try_recv().is_ok() || after_kill > 0;
            assert!(done || Instant::now() < deadline, "the kills never landed during the run");
            let start = Instant::now();
            let report = me.send_to(format!("m{i}").as_bytes(), &targets, timeout).unwrap();
            if i == 5 {
                go_tx.send(()).unwrap();
            }
            // A deadline against a hang, not a measure of speed.
            let took = start.elapsed();
            assert!(took < timeout + Duration::from_secs(5), "send {i} hung: {took:?}");
            assert!(report.acked.len() >= 3, "send {i}: {report:?}");
            if done {
                after_kill += 1;
                let mut missing: Vec<String> =
                    report.missing.iter().map(|p| p.id.to_string()).collect();
                missing.sort();
                let mut want = victim_ids.clone();
                want.sort();
                assert_eq!(missing, want, "send {i}");
            }
            i += 1;
        }
    });
    // A restarted peer has a new UUID and is found by the next discovery.
    let restarted = RecvProcess::start(port, &[]);
    let found: Vec<String> =
        me.discover(Some(4)).unwrap().iter().map(|p| p.id.to_string()).collect();
    assert_eq!(found.len(), 4);
    assert!(found.contains(&restarted.uuid));
    assert!(victim_ids.iter().all(|v| !found.contains(v)));
}
