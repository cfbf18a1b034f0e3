//! What `recv`'s acknowledgement means: the line was written and flushed.
//! So nothing acknowledged is lost at exit, nothing is acknowledged after
//! standard output closes, and a signal always ends in a goodbye.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::thread;

use common::{RecvProcess, free_port, raw_member, run, spawn_ready, with_watchdog};
use simplep2p::wire::{self, Body};

const TIMEOUT_MS: &str = "3000";

#[test]
fn recv_count_2_acknowledges_exactly_the_two_it_prints() {
    let port = free_port();
    let receiver = RecvProcess::start(port, &["--count", "2"]);
    let results: Vec<(String, i32, String)> = thread::scope(|s| {
        let senders: Vec<_> = (0..4)
            .map(|i| {
                s.spawn(move || {
                    let text = format!("m{i}");
                    let (code, out, _) =
                        run(port, &["send", &text, "--expect", "1", "--timeout", TIMEOUT_MS]);
                    (text, code, out)
                })
            })
            .collect();
        senders.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (code, out) = receiver.wait_output();
    assert_eq!(code, 0);
    let printed: Vec<&str> = out.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(printed.len(), 2, "{out}");
    let passed: Vec<&str> = results
        .iter()
        .filter(|(_, code, out)| *code == 0 && out.starts_with("PASS 1/1"))
        .map(|(text, ..)| text.as_str())
        .collect();
    let mut want = printed.clone();
    want.sort();
    let mut got = passed.clone();
    got.sort();
    assert_eq!(got, want, "PASS exactly for the printed ones: {results:?}");
}

#[test]
fn when_stdout_closes_recv_acknowledges_nothing_more_leaves_and_exits_3() {
    let port = free_port();
    let mut cmd = Command::new(common::BIN);
    cmd.args(common::net_args(port)).arg("recv");
    let (mut child, _) = spawn_ready(cmd, "simplep2p: ready: ");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (code, out, _) = run(port, &["send", "first", "--expect", "1", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 0, "{out}");
    let line = with_watchdog(child.id(), || lines.next().unwrap().unwrap());
    assert!(line.ends_with(" first"), "{line}");
    drop(lines); // as `head -1` does after its line
    let (code, out, _) = run(port, &["send", "second", "--expect", "1", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 1, "not printed, so not acknowledged: {out}");
    let status = with_watchdog(child.id(), || child.wait().unwrap());
    assert_eq!(status.code(), Some(3));
}

/// Reads the group until the goodbye of `uuid` arrives.
fn await_goodbye(member: &std::net::UdpSocket, uuid: &str) {
    let mut buf = [0u8; 70_000];
    loop {
        let (n, _) = member.recv_from(&mut buf).expect("a goodbye within the deadline");
        if let Ok(frame) = wire::decode(&buf[..n])
            && frame.body == Body::Goodbye
            && frame.sender.to_string() == uuid
        {
            return;
        }
    }
}

#[test]
fn sighup_makes_recv_leave_with_a_goodbye_and_exit_0() {
    let port = free_port();
    let member = raw_member(port);
    let mut receiver = RecvProcess::start(port, &[]);
    let pid = receiver.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    await_goodbye(&member, &receiver.uuid);
    let status = with_watchdog(receiver.child.id(), || receiver.child.wait().unwrap());
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_recv_blocked_on_a_full_pipe_still_leaves_on_sigterm() {
    let port = free_port();
    let member = raw_member(port);
    // Its stdout is a pipe nobody reads: it fills, and the writer blocks.
    let receiver = RecvProcess::start(port, &[]);
    let big = "x".repeat(simplep2p::wire::MAX_MESSAGE);
    let mut blocked = false;
    for _ in 0..64 {
        let (code, ..) = run(port, &["send", &big, "--expect", "1", "--timeout", "1000"]);
        if code == 1 {
            blocked = true; // not written, so not acknowledged
            break;
        }
    }
    assert!(blocked, "the pipe never filled");
    let pid = receiver.child.id();
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    await_goodbye(&member, &receiver.uuid);
    let mut receiver = receiver;
    let status = with_watchdog(pid, || receiver.child.wait().unwrap());
    assert_eq!(status.code(), Some(0), "left on the signal, not killed by the watchdog");
}
