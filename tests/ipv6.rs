//! IPv6 (issue 14), in emulated LANs (`common::segments`): IPv6-only hosts
//! find, message and watch each other at their link-local addresses; on a
//! segment mixing IPv4-only, IPv6-only and dual-stack hosts everyone finds
//! whoever shares a family with it, a dual-stack peer (heard over both
//! families) once; `--ipv4-only` and `--ipv6-only` keep to one family, and
//! `--ipv6-only` where there is no IPv6 (and `--ipv4-only` where there is
//! no IPv4) is a set-up error; the original's
//! text protocol is answered over IPv4 only, and a peer named one IPv4
//! address has no IPv6 socket at all.
//!
//! Safety: every peer runs inside the lab's network namespaces, whose
//! addresses exist only there; nothing here touches the machine's own
//! network. Without root or `ip` these tests print why and pass, unless
//! SIMPLEP2P_REQUIRE_NETNS=1.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Output};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use common::segments::{Host, Lab, Stack};
use common::{ABSENT_TIMEOUT, BIN, DEADLINE, TIMEOUT_MS, spawn_ready, with_watchdog};

/// A peer found: its uuid and the address it was heard at.
type Found = (String, SocketAddr);

/// A `simplep2p recv` in a lab host, seen ready.
struct Recv {
    child: Child,
    id: String,
    ready: String,
}

impl Recv {
    /// `simplep2p --port P <global> recv` in `host`, once it is ready.
    fn start(host: &Host<'_>, port: u16, global: &[&str]) -> Recv {
        const READY: &str = "simplep2p: ready: peer ";
        let port = port.to_string();
        let args = [&["--port", &port][..], global, &["recv"]].concat();
        let (child, ready) = spawn_ready(host.cmd(BIN, args), READY);
        let id = ready[READY.len()..][..36].to_string();
        Recv { child, id, ready }
    }

    /// Stops it as a user does (SIGTERM, so it says goodbye); it must
    /// exit 0.
    fn stop(mut self) {
        let code = terminate(&mut self.child);
        assert_eq!(code, 0, "recv {} on SIGTERM", self.id);
    }
}

impl Drop for Recv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `simplep2p watch` in a lab host, and the lines it printed so far.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    /// Starts a watch in `host` while nobody is there yet, so that every
    /// member to come is a `joined` line.
    fn start(host: &Host<'_>, port: u16) -> Watch {
        let port = port.to_string();
        let args = ["--port", &port, "watch", "--timeout", "100"];
        let (mut child, _) = spawn_ready(host.cmd(BIN, args), "simplep2p: ready: watching ");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines, seen: Vec::new() }
    }

    /// The first line that starts with `prefix`, waiting (at most
    /// [`DEADLINE`]) for it if it has not come yet. Lines read on the way
    /// are kept: events about several members come in any order.
    fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(line) = self.seen.iter().find(|l| l.starts_with(prefix)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line {prefix:?} within {DEADLINE:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Stops it with SIGTERM (it must exit 0); every line it printed.
    fn stop(mut self) -> Vec<String> {
        assert_eq!(terminate(&mut self.child), 0, "watch on SIGTERM");
        self.seen.extend(self.lines.iter());
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM and waits (at most [`DEADLINE`]) for the exit code.
fn terminate(child: &mut Child) -> i32 {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = with_watchdog(child.id(), || child.wait().unwrap());
    status.code().unwrap_or(-1)
}

/// `simplep2p --port P <args>` in `host`, to the end.
fn run(host: &Host<'_>, port: u16, args: &[&str]) -> Output {
    host.simplep2p(port, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The peers `peers --json` lists (run with `global` options before the
/// command and `args` after it), sorted by uuid.
fn peers(host: &Host<'_>, port: u16, global: &[&str], args: &[&str]) -> Vec<Found> {
    let out = run(host, port, &[global, &["peers", "--json"], args].concat());
    let stdout = text(&out.stdout);
    let listed = stdout.split_once("\"peers\":[").map_or("", |(_, p)| p);
    // Each {"id":"…","address":"…",…}; an IPv6 address has colons, so
    // the value runs to its closing quote.
    let value = |s: &str, key: &str| {
        let rest = &s[s.find(&format!("\"{key}\":\""))? + key.len() + 4..];
        Some(rest[..rest.find('"')?].to_string())
    };
    let mut found: Vec<Found> = listed
        .split("{\"id\":")
        .skip(1)
        .map(|entry| {
            let entry = format!("{{\"id\":{entry}");
            let id = value(&entry, "id").expect("an id");
            let addr = value(&entry, "address").expect("an address");
            (id, addr.parse().unwrap_or_else(|e| panic!("address {addr:?}: {e}")))
        })
        .collect();
    found.sort();
    found
}

/// Checks that `host` finds exactly the peers `want` (each once), with
/// `global` options: all of them soon, then nobody else in a whole
/// window spent waiting for one more. What it found.
fn exactly(host: &Host<'_>, port: u16, global: &[&str], want: &[&Recv]) -> Vec<Found> {
    let mut ids: Vec<&str> = want.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    let listed = |found: &[Found]| found.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    let n = want.len().to_string();
    let found = peers(host, port, global, &["--expect", &n, "--timeout", TIMEOUT_MS]);
    assert_eq!(listed(&found), ids, "{} {global:?}: all of them, each once", host.name());
    let more = (want.len() + 1).to_string();
    let window = ABSENT_TIMEOUT.as_millis().to_string();
    let found = peers(host, port, global, &["--expect", &more, "--timeout", &window]);
    assert_eq!(listed(&found), ids, "{} {global:?}: nobody else, nobody twice", host.name());
    found
}

/// Where `found` has the peer `who`.
fn addr_of(found: &[Found], who: &Recv) -> SocketAddr {
    found.iter().find(|(id, _)| *id == who.id).map(|(_, a)| *a).expect("it was found")
}

/// The address in a watch line `<event> <uuid> <address> [name]`.
fn watched_addr(line: &str) -> SocketAddr {
    let word = line.split_whitespace().nth(2).unwrap_or_else(|| panic!("no address: {line}"));
    word.parse().unwrap_or_else(|e| panic!("address in {line:?}: {e}"))
}

/// Checks that `addr` is `of`'s eth0 link-local address, scoped to
/// `seen_by`'s eth0 (where it was heard).
fn is_link_local_of(addr: SocketAddr, of: &Host<'_>, seen_by: &Host<'_>) {
    let SocketAddr::V6(v6) = addr else { panic!("{addr} is not IPv6 ({})", of.name()) };
    assert_eq!(*v6.ip(), of.link_local("eth0"), "{addr}: {}'s link-local", of.name());
    assert_eq!(v6.scope_id(), seen_by.ifindex("eth0"), "{addr}: {}'s eth0", seen_by.name());
}

fn ipv4(addr: SocketAddr) -> IpAddr {
    assert!(addr.is_ipv4(), "{addr} is not IPv4");
    addr.ip()
}

/// One segment with four hosts, each on it as eth0: `d1` and `d2` dual
/// stack (10.77.1.1, .2, and a link-local address), `v4` IPv4-only
/// (10.77.1.4), `v6` IPv6-only (a link-local address alone).
fn mixed(lab: &Lab) -> [Host<'_>; 4] {
    let a = lab.segment("a");
    let hosts = [
        lab.host("d1"),
        lab.host("d2"),
        lab.host_with("v4", Stack::V4Only),
        lab.host_with("v6", Stack::V6Only),
    ];
    let v4 = [Some("10.77.1.1/24"), Some("10.77.1.2/24"), Some("10.77.1.4/24"), None];
    for (h, v4) in hosts.iter().zip(v4) {
        assert_eq!(lab.attach(h, &a, v4, None), "eth0");
    }
    hosts
}

#[test]
fn ipv6_only_hosts_find_message_and_watch_each_other() {
    const PORT: u16 = 47_741;
    let Some(lab) = Lab::new("v6only") else { return };
    let a = lab.segment("a");
    let [h0, h1, h2] = ["h0", "h1", "h2"].map(|n| lab.host_with(n, Stack::V6Only));
    // No address given: the link-local one appears by itself.
    for h in [&h0, &h1, &h2] {
        assert_eq!(lab.attach(h, &a, None, None), "eth0");
    }
    let mut watch = Watch::start(&h0, PORT);
    let r1 = Recv::start(&h1, PORT, &[]);
    let r2 = Recv::start(&h2, PORT, &[]);
    // Served: eth0, at its link-local address alone.
    for (r, h) in [(&r1, &h1), (&r2, &h2)] {
        let served = format!(", interface eth0 ({}), ", h.link_local("eth0"));
        assert!(r.ready.contains(&served), "{}", r.ready);
    }

    let found = exactly(&h0, PORT, &[], &[&r1, &r2]);
    is_link_local_of(addr_of(&found, &r1), &h1, &h0);
    is_link_local_of(addr_of(&found, &r2), &h2, &h0);
    let out = run(&h0, PORT, &["send", "hello", "--expect", "2", "--timeout", TIMEOUT_MS]);
    assert!(text(&out.stdout).starts_with("PASS 2/2"), "{}", text(&out.stdout));

    // Both joined the watch, at their link-local addresses; one leaves.
    for (r, h) in [(&r1, &h1), (&r2, &h2)] {
        is_link_local_of(watched_addr(&watch.expect(&format!("joined {} ", r.id))), h, &h0);
    }
    let id2 = r2.id.clone();
    r2.stop();
    is_link_local_of(watched_addr(&watch.expect(&format!("left {id2} "))), &h2, &h0);
    let lines = watch.stop();
    for id in [&r1.id, &id2] {
        let joined = lines.iter().filter(|l| l.starts_with(&format!("joined {id} "))).count();
        assert_eq!(joined, 1, "{id} joined once: {lines:?}");
    }
}

#[test]
fn a_mixed_segment_meets_over_either_family_and_dual_hosts_count_once() {
    const PORT: u16 = 47_742;
    let Some(lab) = Lab::new("v6mixed") else { return };
    let [d1, d2, v4, v6] = mixed(&lab);
    let mut watch = Watch::start(&d1, PORT);
    let rd2 = Recv::start(&d2, PORT, &[]);
    let r4 = Recv::start(&v4, PORT, &[]);
    let r6 = Recv::start(&v6, PORT, &[]);
    let dual = format!(", interface eth0 (10.77.1.2, {}), ", d2.link_local("eth0"));
    assert!(rd2.ready.contains(&dual), "{}", rd2.ready);
    assert!(r4.ready.contains(", interface eth0 (10.77.1.4), "), "{}", r4.ready);

    // From a dual host: all three, the dual one once; each family's own at
    // its address in that family.
    let found = exactly(&d1, PORT, &[], &[&rd2, &r4, &r6]);
    assert_eq!(ipv4(addr_of(&found, &r4)).to_string(), "10.77.1.4");
    is_link_local_of(addr_of(&found, &r6), &v6, &d1);
    let both = addr_of(&found, &rd2);
    if both.is_ipv4() {
        assert_eq!(both.ip().to_string(), "10.77.1.2");
    } else {
        is_link_local_of(both, &d2, &d1);
    }
    let args = ["send", "hello", "--json", "--expect", "3", "--timeout", TIMEOUT_MS];
    let json = text(&run(&d1, PORT, &args).stdout);
    assert!(json.starts_with(r#"{"result":"PASS","acknowledged":3,"peers":3,"#), "{json}");
    // Both of eth0's addresses are served, in one interface entry.
    let served = format!(
        r#""interfaces":[{{"name":"eth0","index":{},"addresses":["10.77.1.1","{}"]}}]"#,
        d1.ifindex("eth0"),
        d1.link_local("eth0")
    );
    assert!(json.contains(&served), "{json}");

    // Each host of one family finds the dual hosts (and the recv on its
    // own host), never the other family's host.
    let rd1 = Recv::start(&d1, PORT, &[]);
    let found = exactly(&v4, PORT, &[], &[&rd1, &rd2, &r4]);
    assert_eq!(ipv4(addr_of(&found, &rd1)).to_string(), "10.77.1.1");
    assert_eq!(ipv4(addr_of(&found, &rd2)).to_string(), "10.77.1.2");
    let found = exactly(&v6, PORT, &[], &[&rd1, &rd2, &r6]);
    is_link_local_of(addr_of(&found, &rd1), &d1, &v6);
    is_link_local_of(addr_of(&found, &rd2), &d2, &v6);

    // The watch, running throughout while d2 beat over both families:
    // each of the three joined once, and its address never flapped.
    for r in [&rd2, &r4, &r6] {
        watch.expect(&format!("joined {} ", r.id));
    }
    let lines = watch.stop();
    for r in [&rd2, &r4, &r6] {
        let about: Vec<&String> = lines.iter().filter(|l| l.contains(&r.id)).collect();
        assert_eq!(about.len(), 1, "{} once, joined, never updated: {lines:?}", r.id);
        assert!(about[0].starts_with("joined "), "{lines:?}");
    }
}

#[test]
fn ipv4_only_and_ipv6_only_keep_to_their_family() {
    const PORT: u16 = 47_743;
    let Some(lab) = Lab::new("v6family") else { return };
    let [d1, d2, v4, v6] = mixed(&lab);
    let rd2 = Recv::start(&d2, PORT, &[]);
    let r4 = Recv::start(&v4, PORT, &[]);
    let r6 = Recv::start(&v6, PORT, &[]);

    let found = exactly(&d1, PORT, &["--ipv4-only"], &[&rd2, &r4]);
    assert_eq!(ipv4(addr_of(&found, &rd2)).to_string(), "10.77.1.2");
    assert_eq!(ipv4(addr_of(&found, &r4)).to_string(), "10.77.1.4");
    let found = exactly(&d1, PORT, &["--ipv6-only"], &[&rd2, &r6]);
    is_link_local_of(addr_of(&found, &rd2), &d2, &d1);
    is_link_local_of(addr_of(&found, &r6), &v6, &d1);
}

#[test]
fn ipv6_only_without_ipv6_is_a_set_up_error() {
    const PORT: u16 = 47_744;
    let Some(lab) = Lab::new("v6none") else { return };
    let a = lab.segment("a");
    let v4 = lab.host_with("v4", Stack::V4Only);
    lab.attach(&v4, &a, Some("10.77.1.4/24"), None);
    for args in [&["--ipv6-only", "peers", "--timeout", "100"][..], &["--ipv6-only", "recv"]] {
        let out = run(&v4, PORT, args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("simplep2p: "), "{stderr}");
        // About the missing family, not the option itself.
        let about = stderr.replace("--ipv6-only", "").to_lowercase();
        assert!(about.contains("ipv6") && !about.contains("unrecognized"), "{stderr}");
    }
    // The other family's option is taken there: nobody found, no error.
    let out = run(&v4, PORT, &["--ipv4-only", "peers", "--timeout", "100"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // And the mirror: --ipv4-only on an IPv6-only host is an error too,
    // not a peer that quietly stays on loopback.
    let v6 = lab.host_with("v6", Stack::V6Only);
    lab.attach(&v6, &a, None, None);
    let out = run(&v6, PORT, &["--ipv4-only", "peers", "--timeout", "100"]);
    let stderr = text(&out.stderr);
    assert_eq!((out.status.code(), stderr.lines().count()), (Some(2), 1), "{stderr}");
    assert!(stderr.contains("no interface up has an IPv4 address"), "{stderr}");
}

/// Asks with the original's `discover` over `family` (`4` to
/// 239.255.0.1, `6` to `[ff02::114%eth0]`) from `host`, and listens on
/// the IPv4 group, where the original's answers go, for a deadline; the
/// number of `discovered` answers heard (stopping at the first). A
/// script, so that the question is exactly the original's.
fn original_discover_answers(host: &Host<'_>, port: u16, family: &str, wait: &str) -> usize {
    const SCRIPT: &str = r#"
import socket, struct, sys, time, uuid
port, family, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
index = socket.if_nametoindex("eth0")
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
rx.bind(("239.255.0.1", port))
rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
              struct.pack("4s4si", socket.inet_aton("239.255.0.1"), socket.inet_aton("0.0.0.0"), index))
question = f"discover {uuid.uuid4()}".encode()
if family == "6":
    tx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    tx.sendto(question, ("ff02::114", port, 0, index))
else:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, struct.pack("4s4si", socket.inet_aton("0.0.0.0"), socket.inet_aton("0.0.0.0"), index))
    tx.sendto(question, ("239.255.0.1", port))
end = time.monotonic() + wait
while time.monotonic() < end:
    rx.settimeout(max(end - time.monotonic(), 0.001))
    try:
        data = rx.recv(2048)
    except socket.timeout:
        break
    if data.startswith(b"discovered "):
        print("discovered")
        break
"#;
    let port = port.to_string();
    let out = host.cmd("python3", ["-c", SCRIPT, &port, family, wait]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().count()
}

#[test]
fn the_original_protocol_is_answered_over_ipv4_only() {
    const PORT: u16 = 47_745;
    let Some(lab) = Lab::new("v6legacy") else { return };
    let [d1, d2, _, _] = mixed(&lab);
    let _r = Recv::start(&d2, PORT, &[]);
    // Over IPv4 the original's question is answered (so the listener
    // works); over IPv6 it is not: its answer would go to the IPv4 group
    // on every interface, a multicast drawn by one datagram of another
    // family.
    let deadline = DEADLINE.as_secs().to_string();
    assert_eq!(original_discover_answers(&d1, PORT, "4", &deadline), 1);
    let window = ABSENT_TIMEOUT.as_secs_f64().to_string();
    assert_eq!(original_discover_answers(&d1, PORT, "6", &window), 0);
}

#[test]
fn a_peer_given_one_ipv4_address_has_no_ipv6_socket() {
    const PORT: u16 = 47_746;
    let Some(lab) = Lab::new("v6pinned") else { return };
    let [_, d2, _, _] = mixed(&lab);
    let _r = Recv::start(&d2, PORT, &["--interface", "10.77.1.2"]);
    // Its namespace has no other process: any UDP socket over IPv6 would
    // be this peer's, and would take unicast from interfaces and
    // addresses it was told not to serve.
    let udp6 = d2.cmd("cat", ["/proc/net/udp6"]).output().unwrap();
    let sockets = text(&udp6.stdout).lines().skip(1).count();
    assert_eq!(sockets, 0, "{}", text(&udp6.stdout));
}

#[test]
fn a_second_link_local_address_moves_a_member_once_without_losing_it() {
    const PORT: u16 = 47_747;
    let Some(lab) = Lab::new("v6second") else { return };
    let a = lab.segment("a");
    let [h0, h1] = ["h0", "h1"].map(|n| lab.host_with(n, Stack::V6Only));
    for h in [&h0, &h1] {
        assert_eq!(lab.attach(h, &a, None, None), "eth0");
    }
    let mut watch = Watch::start(&h0, PORT);
    let r1 = Recv::start(&h1, PORT, &[]);
    watch.expect(&format!("joined {} ", r1.id));
    // Linux takes an fe80::/10 address outside fe80::/64, which no other
    // host has a route to: not used. A second one in fe80::/64 is listed
    // first, so the peer moves to it: everything it sends on the link
    // comes from there (a multicast's source and an answer's would
    // otherwise differ), and its watchers see one update, no suspicion.
    h1.add_addr("eth0", "fe80:1111:2222:3333::7777/64");
    h1.add_addr("eth0", "fe80::66/64");
    let moved = watch.expect(&format!("updated {} ", r1.id));
    assert_eq!(watched_addr(&moved).ip().to_string(), "fe80::66", "{moved}");
    // Beats from the new address go on being heard: still one member.
    let found = exactly(&h0, PORT, &[], &[&r1]);
    assert_eq!(addr_of(&found, &r1).ip().to_string(), "fe80::66");
    let lines = watch.stop();
    let bad = ["suspected", "lost", "left"].map(|e| format!("{e} {} ", r1.id));
    assert!(!lines.iter().any(|l| bad.iter().any(|b| l.starts_with(b))), "{lines:?}");
}
