//! Interop with the original C++ SimpleP2P, against an emulator of its peer
//! (`tests/legacy/original_peer.py`) run as background processes.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    DEADLINE, RecvProcess, TIMEOUT, TIMEOUT_MS, config, free_port, group, raw_socket, run,
    with_watchdog,
};
use simplep2p::wire::legacy::{self, Legacy};
use simplep2p::{Peer, Uuid};

/// A quiet window long enough for every peer to answer on a busy machine.
const QUIET: Duration = Duration::from_secs(1);

fn originals(port: u16, n: usize) -> Vec<RecvProcess> {
    (0..n).map(|_| RecvProcess::original(port)).collect()
}

fn ours(port: u16, n: usize) -> Vec<RecvProcess> {
    (0..n).map(|_| RecvProcess::start(port, &[])).collect()
}

/// The emulated original sender, with a 5 s timeout: (exit code, stdout).
fn original_send(port: u16, text: &str, expect: usize) -> (i32, String) {
    let child = Command::new("python3")
        .arg(common::original_peer_script())
        .args(["send", text, "--port", &port.to_string(), "--expect", &expect.to_string()])
        .args(["--timeout", &TIMEOUT.as_secs_f64().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the emulated original sender");
    let out = with_watchdog(child.id(), || child.wait_with_output().unwrap());
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn send_legacy_drives_five_original_peers() {
    let port = free_port();
    let peers = originals(port, 5);
    let (code, out, err) =
        run(port, &["send", "--legacy", "hello_there", "--expect", "5", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("PASS 5/5 peers acknowledged in "), "{out}");
    let (code, out, _) =
        run(port, &["peers", "--legacy", "--expect", "5", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("5 peers\n"), "{out}");
    for p in peers {
        let uuid = p.uuid.clone();
        assert!(out.contains(&uuid), "{uuid} not listed in {out}");
        assert_eq!(p.stop_after_lines(1), "hello_there\n");
    }
}

#[test]
fn an_original_sender_finds_and_hears_five_simplep2p_peers() {
    let port = free_port();
    let peers = ours(port, 5);
    let (code, out) = original_send(port, "hello_there", 5);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "discovered 5 responded 5\nPASS\n");
    for p in peers {
        let printed = p.stop_after_lines(1);
        let (sender, text) = printed.trim_end().split_once(' ').expect("one message line");
        assert_eq!(text, "hello_there");
        assert_eq!(sender.len(), 36, "sender is the original's UUID: {sender}");
    }
}

#[test]
fn mixed_groups_count_everyone_once_in_both_directions() {
    let port = free_port();
    let old = originals(port, 3);
    let new = ours(port, 3);
    // A legacy send counts originals and simplep2p peers alike.
    let (code, out, _) =
        run(port, &["send", "--legacy", "mixed", "--expect", "6", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("PASS 6/6 "), "{out}");
    // Without an expected count, the quiet window ends it and still nobody
    // is counted twice. (A peer of our own: the CLI's window is 50 ms, which
    // a busy machine can let pass before anyone answers. This is what
    // `send --legacy` without --expect does.)
    {
        let me = Peer::start(config(port).quiet_window(QUIET)).unwrap();
        let found = me.discover_legacy(None, Duration::from_secs(60)).unwrap();
        assert_eq!(found.len(), 6, "{found:?}");
        let report = me.send_legacy("again", &found, TIMEOUT).unwrap();
        assert!(report.all_acked() && report.acked.len() == 6, "{report:?}");
    } // `me` leaves, so that the original sender below counts the six alone.
    // An original sender counts all six too.
    let (code, out) = original_send(port, "from_old", 6);
    assert_eq!((code, out.as_str()), (0, "discovered 6 responded 6\nPASS\n"));
    // A native send is not confused by the legacy chatter: only ours answer.
    let me = Peer::start(config(port).quiet_window(QUIET)).unwrap();
    let found = me.discover(None).unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    let report = me.send(b"native only").unwrap();
    assert!(report.all_acked() && report.acked.len() == 3, "{report:?}");
    for p in old {
        assert_eq!(p.stop_after_lines(3), "mixed\nagain\nfrom_old\n");
    }

    for p in new {
        let printed = p.stop_after_lines(4);
        let texts: Vec<&str> = printed.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(texts, ["mixed", "again", "from_old", "native only"]);
    }
}

#[test]
fn legacy_text_that_the_original_would_cut_is_refused() {
    let port = free_port();
    for text in ["two words", "caf\u{e9}", "tab\there"] {
        let (code, out, err) = run(port, &["send", "--legacy", text]);
        assert_eq!(code, 2, "{text:?}: {out}");
        assert!(err.contains("one word of printable ASCII"), "{err}");
    }
}

#[test]
fn malformed_legacy_text_is_counted_and_the_peer_keeps_answering() {
    let port = free_port();
    let victim = Peer::start(config(port)).unwrap();
    let me = Peer::start(config(port)).unwrap();
    let raw = raw_socket();
    let a = Uuid::new_v4().to_string();
    let junk: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"   ".to_vec(),
        b"discover".to_vec(),
        b"discover not-a-uuid".to_vec(),
        format!("discover {a} extra").into_bytes(),
        format!("discover {}", a.replace('-', "")).into_bytes(),
        format!("message {a}").into_bytes(),
        format!("message {a} two words").into_bytes(),
        format!("response {a} {a}").into_bytes(),
        b"discovered x y".to_vec(),
        b"\xff\xfe discover".to_vec(),
        vec![b'a'; 64 * 1024 - 100],
        b"hello".to_vec(),
    ];
    for j in &junk {
        raw.send_to(j, group(port)).unwrap();
    }
    // Afterwards it still answers both protocols.
    let found = me.discover_legacy(Some(1), TIMEOUT).unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), [victim.id()]);
    let report = me.send_legacy("still_ok", &found, TIMEOUT).unwrap();
    assert!(report.all_acked(), "{report:?}");
    let msg = victim.recv_timeout(DEADLINE).unwrap().expect("the legacy message is queued");
    assert_eq!(msg.data, b"still_ok");
    assert_eq!(me.discover(Some(1)).unwrap()[0].id, victim.id());
    assert!(me.send(b"native too").unwrap().all_acked());
    let msg = victim.recv_timeout(DEADLINE).unwrap().expect("the native message is queued");
    assert_eq!(msg.data, b"native too");
    // Every junk datagram reached both peers on the group socket.
    assert_eq!(victim.stats().malformed, junk.len() as u64);
    assert_eq!(victim.try_recv().unwrap(), None, "junk was delivered");
}

#[test]
fn legacy_answers_are_what_the_original_expects() {
    let port = free_port();
    let victim = Peer::start(config(port)).unwrap();
    let (mut child, _) = {
        // A listener on the group, as an original peer has.
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(LISTEN_ONCE).arg(port.to_string());
        common::spawn_ready(cmd, "ready")
    };
    let asker = Uuid::new_v4();
    let raw = raw_socket();
    raw.send_to(&legacy::encode(&Legacy::Discover { asker }), group(port)).unwrap();
    let out = with_watchdog(child.id(), || {
        let mut s = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut s).unwrap();
        s
    });
    let _ = child.wait();
    assert_eq!(out.trim_end(), format!("discovered {asker} {}", victim.id()));
}

/// Python: join the group on loopback, print the first `discovered` datagram.
const LISTEN_ONCE: &str = r#"
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("239.255.0.1", port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("239.255.0.1") + socket.inet_aton("127.0.0.1"))
print("ready", file=sys.stderr, flush=True)
while True:
    data = s.recv(65536).decode()
    if data.startswith("discovered "):
        print(data, flush=True)
        break
"#;
