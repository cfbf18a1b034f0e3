//! The CLI's answers can be trusted: exit 3 only for output lost after a
//! success.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use common::{BIN, DEADLINE, RecvProcess, TIMEOUT, TIMEOUT_MS, config, free_port};
use simplep2p::Peer;

/// A pipe whose read end is closed before the child starts, so its first
/// write to standard output fails (EPIPE) however fast it is.
fn closed_stdout() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

/// Runs `simplep2p <net> <args>` with standard output closed: (exit code, stderr).
fn run_output_closed(port: u16, args: &[&str]) -> (i32, String) {
    let child = Command::new(BIN)
        .args(common::net_args(port))
        .args(args)
        .stdin(Stdio::null())
        .stdout(closed_stdout())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::with_watchdog(child.id(), || child.wait_with_output().unwrap());
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn one_line(err: &str) -> &str {
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("simplep2p: ") && err.ends_with('\n'), "{err:?}");
    err.trim_end()
}

#[test]
fn output_closed_exits_3_after_a_success_and_1_after_a_failure() {
    let port = free_port();
    let procs: Vec<RecvProcess> = (0..3).map(|_| RecvProcess::start(port, &[])).collect();

    let (code, err) =
        run_output_closed(port, &["send", "hi", "--expect", "3", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 3, "all three acknowledged, only the report was lost: {err}");
    assert!(one_line(&err).starts_with("simplep2p: standard output closed: "), "{err}");
    // The failed operation's 1 wins over the lost output's 3.
    let (code, err) =
        run_output_closed(port, &["send", "more", "--expect", "4", "--timeout", "1000"]);
    assert_eq!(code, 1, "{err}");
    one_line(&err);

    let (code, err) = run_output_closed(port, &["peers", "--expect", "3", "--timeout", TIMEOUT_MS]);
    assert_eq!(code, 3, "{err}");
    one_line(&err);
    let (code, err) = run_output_closed(port, &["peers", "--expect", "4", "--timeout", "1000"]);
    assert_eq!(code, 1, "{err}");
    one_line(&err);

    for args in [&["--help"][..], &["send", "--help"], &["--version"]] {
        let (code, err) = run_output_closed(port, args);
        assert_eq!(code, 3, "{args:?}: {err}");
        assert_eq!(one_line(&err), "simplep2p: standard output closed", "{args:?}");
    }
    // Both sends reached every peer: exit 3 was the truth.
    for p in procs {
        let printed = p.stop_after_lines(2);
        let lines: Vec<&str> = printed.lines().collect();
        assert!(lines.len() == 2 && lines[0].ends_with(" hi"), "{printed}");
        assert!(lines[1].ends_with(" more"), "{printed}");
    }
}

#[test]
fn recv_with_output_closed_acknowledges_nothing_leaves_and_exits_3() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(common::net_args(port))
        .arg("recv")
        .stdout(closed_stdout())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = rx.recv_timeout(DEADLINE).unwrap();
    assert!(ready.starts_with("simplep2p: ready: "), "{ready}");
    let me = Peer::start(config(port)).unwrap();
    let found = me.discover(Some(1)).unwrap();
    let report = me.send_to(b"lost", &found, TIMEOUT).unwrap();
    assert!(report.acked.is_empty(), "a line that was not written is not acknowledged");
    let status = common::with_watchdog(child.id(), || child.wait().unwrap());
    assert_eq!(status.code(), Some(3));
    let last = rx.recv_timeout(DEADLINE).unwrap();
    assert!(last.starts_with("simplep2p: standard output closed: left the group"), "{last}");
}
