//! `simplep2p watch` against real `recv` processes, and the global
//! `--heartbeat` option: who is listed at start, then joined, left and
//! lost lines as they happen, the JSON form, and the exit on a signal.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread;
use std::time::{Instant, SystemTime};

use common::{BIN, DEADLINE, RecvProcess, TIMEOUT_MS, free_port, net_args, spawn_ready};

const READY: &str = "simplep2p: ready: watching group ";

/// A `simplep2p watch` process, seen ready (its list printed), and the
/// lines it has printed so far.
struct Watch {
    child: Child,
    uuid: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    /// Starts `simplep2p <net> <global> watch <extra>`, with the discovery
    /// at start given [`TIMEOUT_MS`] if `members` are there (it ends once
    /// they have answered, so a long timeout costs nothing), else 100 ms.
    fn start(port: u16, global: &[&str], members: bool, extra: &[&str]) -> Watch {
        let timeout = if members { TIMEOUT_MS } else { "100" };
        let mut cmd = Command::new(BIN);
        cmd.args(net_args(port)).args(global).args(["watch", "--timeout", timeout]).args(extra);
        let (mut child, ready) = spawn_ready(cmd, READY);
        let uuid = ready.split_once("as peer ").expect("a uuid").1[..36].to_string();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, uuid, lines, seen: Vec::new() }
    }

    /// Waits (at most [`DEADLINE`]) for a line that starts with `prefix`,
    /// keeping every line read on the way.
    fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!("no line {prefix:?} within {DEADLINE:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Every line it printed, once it has exited.
    fn all_lines(&mut self) -> &[String] {
        self.seen.extend(self.lines.iter());
        &self.seen
    }

    /// Sends `signal` and waits (at most [`DEADLINE`]) for the exit code.
    fn stop(&mut self, signal: &str) -> i32 {
        signal_to(&self.child, signal);
        let pid = self.child.id();
        let status = common::with_watchdog(pid, || self.child.wait().unwrap());
        status.code().unwrap_or(-1)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal_to(child: &Child, signal: &str) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
}

/// Stops a recv as a user does: SIGTERM, so it says goodbye.
fn terminate(mut recv: RecvProcess) {
    signal_to(&recv.child, "-TERM");
    let pid = recv.child.id();
    let status = common::with_watchdog(pid, || recv.child.wait().unwrap());
    assert_eq!(status.code(), Some(0));
}

/// The value of `"key":` in a one-line JSON object of plain values: a
/// string's text without its quotes, or a number as written.
fn field<'a>(json: &'a str, key: &str) -> &'a str {
    let at = json.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key} in {json}"));
    let rest = &json[at + key.len() + 3..];
    match rest.strip_prefix('"') {
        Some(s) => &s[..s.find('"').unwrap()],
        None => &rest[..rest.find([',', '}']).unwrap()],
    }
}

#[test]
fn watch_lists_a_member_then_reports_joined_and_left() {
    let port = free_port();
    let first = RecvProcess::start(port, &["--name", "first"]);
    let mut watch = Watch::start(port, &[], true, &[]);
    let line = watch.expect("member ");
    assert!(line.starts_with(&format!("member {} 127.0.0.1:", first.uuid)), "{line}");
    assert!(line.ends_with(" first"), "{line}");

    let later = RecvProcess::start(port, &["--name", "later"]);
    let later_id = later.uuid.clone();
    let line = watch.expect(&format!("joined {later_id} "));
    assert!(line.ends_with(" later"), "{line}");
    terminate(later);
    watch.expect(&format!("left {later_id} "));
    let first_id = first.uuid.clone();
    terminate(first);
    watch.expect(&format!("left {first_id} "));

    assert_eq!(watch.stop("-TERM"), 0);
    // Listed at start, so its own Joined event is not printed again.
    let lines = watch.all_lines();
    assert!(!lines.iter().any(|l| l.starts_with(&format!("joined {first_id}"))), "{lines:?}");
}

#[test]
fn a_killed_member_is_reported_lost() {
    let port = free_port();
    // Both at 200 ms: the member's interval sets its deadline (lost 600 ms
    // after its last heartbeat); watch's only turns its checking on.
    let mut watch = Watch::start(port, &["--heartbeat", "200"], false, &[]);
    // Started after watch, so it joins by a heartbeat, which tells watch
    // its interval (a member known only from discovery has none yet).
    let mut victim = RecvProcess::start(port, &["--heartbeat", "200"]);
    let id = victim.uuid.clone();
    watch.expect(&format!("joined {id} "));
    victim.child.kill().unwrap(); // SIGKILL: no goodbye
    let _ = victim.child.wait();
    // Lost is due 3 intervals after the last heartbeat (600 ms, about
    // 850 ms from the kill at most). The deadline is DEADLINE (10 s)
    // instead: on a loaded 2-core machine watch's threads may be
    // scheduled late, and a wake more than 250 ms late is taken for a
    // paused process and gives the member its silence back. The test is
    // that Lost comes, with no goodbye, not how fast (make bench).
    watch.expect(&format!("lost {id} "));
    assert_eq!(watch.stop("-INT"), 0);
    let lines = watch.all_lines();
    assert!(!lines.iter().any(|l| l.starts_with(&format!("left {id}"))), "{lines:?}");
}

#[test]
fn json_lines_carry_event_id_address_name_and_time() {
    let port = free_port();
    let first = RecvProcess::start(port, &["--name", "kitchen"]);
    let mut watch = Watch::start(port, &[], true, &["--json"]);
    let listed = watch.expect("{\"event\":\"member\"");
    // After the list, the ready line's facts, for programs.
    let ready = watch.expect("{\"event\":\"ready\"");
    assert_eq!(field(&ready, "id"), watch.uuid);
    let served = r#""interfaces":[{"name":"lo","index":1,"addresses":["127.0.0.1"]}]"#;
    assert!(ready.contains(served), "{ready}");
    let later = RecvProcess::start(port, &["--name", "hall"]);
    let joined = watch.expect(&format!("{{\"event\":\"joined\",\"id\":\"{}\"", later.uuid));
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis();
    for (line, who, name) in [(&listed, &first, "kitchen"), (&joined, &later, "hall")] {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        assert_eq!(field(line, "id"), who.uuid);
        assert_eq!(field(line, "name"), name);
        let addr: SocketAddr = field(line, "address").parse().unwrap();
        assert_eq!(addr.ip().to_string(), "127.0.0.1");
        let time: u128 = field(line, "time").parse().unwrap();
        assert!(time <= now && now - time < DEADLINE.as_millis() * 2, "{time} vs {now}");
    }
    assert_eq!(watch.stop("-TERM"), 0);
}

#[test]
fn a_member_without_heartbeats_is_listed_and_seen_to_leave() {
    let port = free_port();
    let quiet = RecvProcess::start(port, &["--heartbeat", "0"]);
    let id = quiet.uuid.clone();
    let mut watch = Watch::start(port, &[], true, &[]);
    watch.expect(&format!("member {id} "));
    terminate(quiet);
    watch.expect(&format!("left {id} "));
}

#[test]
fn watch_exits_0_on_sigint_sigterm_and_sighup_after_its_goodbye() {
    use simplep2p::wire::{self, Body};
    for signal in ["-INT", "-TERM", "-HUP"] {
        let port = free_port();
        let member = common::raw_member(port);
        let mut watch = Watch::start(port, &[], false, &[]);
        assert_eq!(watch.stop(signal), 0, "{signal}");
        let mut buf = [0u8; 70_000];
        loop {
            let (n, _) = member.recv_from(&mut buf).expect("watch's goodbye");
            if let Ok(f) = wire::decode(&buf[..n])
                && matches!(f.body, Body::Goodbye)
                && f.sender.to_string() == watch.uuid
            {
                break;
            }
        }
    }
}

#[test]
fn a_watcher_is_never_counted_by_send() {
    let port = free_port();
    let _watch = Watch::start(port, &[], false, &[]);
    let (code, out, _) = common::run(port, &["send", "hi", "--expect", "1", "--timeout", "500"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn heartbeat_out_of_range_exits_2_with_one_line() {
    let port = free_port();
    for args in [
        &["--heartbeat", "5", "watch"][..],
        &["watch", "--heartbeat", "99999999"],
        &["recv", "--heartbeat", "9"],
        &["--heartbeat", "-1", "recv"],
    ] {
        let (code, out, err) = common::run(port, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("simplep2p: ") && err.contains("heartbeat"), "{err}");
    }
    // In range, and off, are taken (the error is about the peers, not it).
    for value in ["10", "0", "3600000"] {
        let (code, _, err) = common::run(port, &["peers", "--heartbeat", value, "--timeout", "1"]);
        assert_eq!(code, 1, "--heartbeat {value}: {err}");
    }
}
