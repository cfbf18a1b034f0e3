//! Serving several interfaces, in emulated LANs (`common::segments`: a
//! network namespace per host and per switch, addresses that exist only
//! there): a host on two segments serves both by default, `--interface`
//! and `--exclude-interface` limit it, and interfaces that come later, go
//! down or come back are followed within the documented 5 s.
//!
//! Without root or `ip` these tests print why and pass, unless
//! SIMPLEP2P_REQUIRE_NETNS=1.

mod common;

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use common::segments::{Host, Lab, Stack};
use common::{BIN, DEADLINE, spawn_ready, with_watchdog};

/// How long a peer may take to follow an interface that came, went or
/// changed: the README's bound.
const FOLLOW: Duration = Duration::from_secs(5);

/// A `recv` in `host` with `args` before the command, once it is ready:
/// the process and its ready line.
fn recv(host: &Host<'_>, port: u16, args: &[&str]) -> (Child, String) {
    let port = port.to_string();
    let mut all = vec!["--port", &port];
    all.extend_from_slice(args);
    all.push("recv");
    spawn_ready(host.cmd(BIN, &all), "simplep2p: ready: peer ")
}

/// `simplep2p --port P <args>` in `host`, to the end (under a watchdog).
fn run(host: &Host<'_>, port: u16, args: &[&str]) -> Output {
    host.simplep2p(port, args)
}

/// The addresses (without port) of the peers `peers --json` lists, run
/// with `global` options before the command and `args` after it.
fn peers(host: &Host<'_>, port: u16, global: &[&str], args: &[&str]) -> Vec<String> {
    let out = run(host, port, &[global, &["peers", "--json"], args].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let listed = stdout.split_once("\"peers\":").map_or("", |(_, p)| p);
    let mut addrs: Vec<String> = listed
        .split("\"address\":\"")
        .skip(1)
        .filter_map(|rest| Some(rest[..rest.find(':')?].to_string()))
        .collect();
    addrs.sort();
    addrs
}

/// Two segments, `a` (10.77.1.0/24) and `b` (10.77.2.0/24), and a host on
/// both, `h0` (.1 on each), with two hosts on each: h1 and h2 on a (.2,
/// .3), h3 and h4 on b (.2, .3).
fn two_segments(lab: &Lab) -> (Host<'_>, [Host<'_>; 4]) {
    let (a, b) = (lab.segment("a"), lab.segment("b"));
    let h0 = lab.host_with("h0", Stack::V4Only);
    assert_eq!(lab.attach(&h0, &a, Some("10.77.1.1/24"), None), "eth0");
    assert_eq!(lab.attach(&h0, &b, Some("10.77.2.1/24"), None), "eth1");
    let hosts = ["h1", "h2", "h3", "h4"].map(|n| lab.host_with(n, Stack::V4Only));
    for (i, h) in hosts.iter().enumerate() {
        let (seg, net) = if i < 2 { (&a, 1) } else { (&b, 2) };
        lab.attach(h, seg, Some(&format!("10.77.{net}.{}/24", i % 2 + 2)), None);
    }
    (h0, hosts)
}

#[test]
fn a_host_on_two_segments_serves_both_by_default() {
    const PORT: u16 = 47_721;
    let Some(lab) = Lab::new("ifaces") else { return };
    let (h0, hosts) = two_segments(&lab);
    let mut recvs: Vec<Child> = hosts.iter().map(|h| recv(h, PORT, &[]).0).collect();
    // It finds the two on each segment, each at its own address.
    let found = peers(&h0, PORT, &[], &["--expect", "4"]);
    assert_eq!(found, ["10.77.1.2", "10.77.1.3", "10.77.2.2", "10.77.2.3"]);
    // --json names the interfaces served, with their addresses.
    let out = run(&h0, PORT, &["peers", "--json", "--expect", "4"]);
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains(r#"{"name":"eth0","index":"#), "{json}");
    assert!(json.contains(r#""addresses":["10.77.1.1"]},{"name":"eth1","index":"#), "{json}");
    assert!(json.contains(r#""addresses":["10.77.2.1"]}],"peers":"#), "{json}");
    // A message reaches all four.
    let out = run(&h0, PORT, &["send", "hello", "--expect", "4"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("PASS 4/4"));
    // Its own recv names both interfaces, and each side sees it at its
    // address on that side's segment.
    let (mut r0, ready) = recv(&h0, PORT, &[]);
    assert!(ready.contains(", interfaces eth0 (10.77.1.1), eth1 (10.77.2.1), "), "{ready}");
    // (The recv on the asking host answers too.)
    let from_a = peers(&hosts[0], PORT, &[], &["--expect", "3"]);
    assert_eq!(from_a, ["10.77.1.1", "10.77.1.2", "10.77.1.3"], "h1: h0 and a's, nobody on b");
    let from_b = peers(&hosts[2], PORT, &[], &["--expect", "3"]);
    assert_eq!(from_b, ["10.77.2.1", "10.77.2.2", "10.77.2.3"], "h3: h0 and b's, nobody on a");
    for r in recvs.iter_mut().chain([&mut r0]) {
        let _ = r.kill();
        let _ = r.wait();
    }
}

#[test]
fn by_name_or_address_a_peer_serves_only_what_it_is_given() {
    const PORT: u16 = 47_722;
    let Some(lab) = Lab::new("ifchoice") else { return };
    let (h0, hosts) = two_segments(&lab);
    let mut recvs: Vec<Child> = hosts.iter().map(|h| recv(h, PORT, &[]).0).collect();
    // Each run waits its whole (short) timeout for more than it may find.
    let short = ["--timeout", "300"];
    let by_name = peers(&h0, PORT, &["--interface", "eth0"], &short);
    assert_eq!(by_name, ["10.77.1.2", "10.77.1.3"]);
    let by_addr = peers(&h0, PORT, &["--interface", "10.77.2.1"], &short);
    assert_eq!(by_addr, ["10.77.2.2", "10.77.2.3"]);
    let excluded = peers(&h0, PORT, &["--exclude-interface", "eth1"], &short);
    assert_eq!(excluded, ["10.77.1.2", "10.77.1.3"]);
    // An excluded interface hears nothing: h0's recv is absent from b.
    let (mut r0, ready) = recv(&h0, PORT, &["--exclude-interface", "10.77.2.1"]);
    assert!(ready.contains(", interface eth0 (10.77.1.1), unicast 10.77.1.1:"), "{ready}");
    // (The recv on the asking host answers too.)
    assert_eq!(peers(&hosts[2], PORT, &[], &short), ["10.77.2.2", "10.77.2.3"]);
    let from_a = peers(&hosts[0], PORT, &[], &short);
    assert_eq!(from_a, ["10.77.1.1", "10.77.1.2", "10.77.1.3"]);
    for r in recvs.iter_mut().chain([&mut r0]) {
        let _ = r.kill();
        let _ = r.wait();
    }
}

/// Runs `peers` from `host` until it lists exactly `want`, for at most
/// `within`; how long that took.
fn until_peers(host: &Host<'_>, port: u16, want: &[&str], within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let found = peers(host, port, &[], &["--timeout", "300"]);
        if found == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "after {within:?} {} sees {found:?}", host.name());
    }
}

#[test]
fn interfaces_that_come_go_and_come_back_are_followed() {
    const PORT: u16 = 47_723;
    let Some(lab) = Lab::new("ifmove") else { return };
    let (a, b) = (lab.segment("a"), lab.segment("b"));
    let h0 = lab.host_with("h0", Stack::V4Only);
    let h1 = lab.host_with("h1", Stack::V4Only);
    let h2 = lab.host_with("h2", Stack::V4Only);
    lab.attach(&h0, &a, Some("10.77.1.1/24"), None);
    lab.attach(&h1, &a, Some("10.77.1.2/24"), None);
    lab.attach(&h2, &b, Some("10.77.2.2/24"), None);
    let (mut r0, ready) = recv(&h0, PORT, &[]);
    assert!(ready.contains(", interface eth0 (10.77.1.1), "), "{ready}");
    assert_eq!(peers(&h2, PORT, &[], &["--timeout", "300"]), Vec::<String>::new());
    // An interface that comes after the start.
    assert_eq!(lab.attach(&h0, &b, Some("10.77.2.1/24"), None), "eth1");
    followed(until_peers(&h2, PORT, &["10.77.2.1"], FOLLOW + DEADLINE));
    // Its address taken away: no longer served (it could not answer).
    h0.del_addr("eth1", "10.77.2.1/24");
    followed(until_peers(&h2, PORT, &[], FOLLOW + DEADLINE));
    h0.add_addr("eth1", "10.77.2.1/24");
    followed(until_peers(&h2, PORT, &["10.77.2.1"], FOLLOW + DEADLINE));
    // Down, then up again.
    h0.link_down("eth1");
    h0.link_up("eth1");
    followed(until_peers(&h2, PORT, &["10.77.2.1"], FOLLOW + DEADLINE));
    // Segment a was served throughout.
    assert_eq!(peers(&h1, PORT, &[], &["--expect", "1"]), ["10.77.1.1"]);
    let _ = r0.kill();
    let _ = r0.wait();
}

/// A change followed within the bound, with room for the `peers` runs
/// that saw it on a loaded machine.
fn followed(took: Duration) {
    assert!(took <= FOLLOW + Duration::from_secs(2), "followed only after {took:?}");
}

#[test]
fn the_original_interoperates_on_default_settings() {
    const PORT: u16 = 47_724;
    let Some(lab) = Lab::new("iforig") else { return };
    let a = lab.segment("a");
    let (h0, h1) = (lab.host_with("h0", Stack::V4Only), lab.host_with("h1", Stack::V4Only));
    lab.attach(&h0, &a, Some("10.77.1.1/24"), None);
    lab.attach(&h1, &a, Some("10.77.1.2/24"), None);
    // The original joins where the kernel's route says: give h1 one.
    h1.default_route("eth0");
    let script = common::original_peer_script();
    let port = PORT.to_string();
    let original = ["--port", &port, "--kernel-interface"];
    // Ours sends to the original (with --legacy, as the README says)...
    let (mut waiting, _) =
        spawn_ready(h1.cmd("python3", [&script[..], "wait"].iter().chain(&original)), "ready ");
    let out = run(&h0, PORT, &["send", "hello_there", "--expect", "1", "--legacy"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("PASS 1/1"));
    let _ = waiting.kill();
    let _ = waiting.wait();
    // ...and the original to ours.
    let (mut r0, _) = recv(&h0, PORT, &[]);
    let args: Vec<&str> = [&script[..], "send"].into_iter().chain(original).collect();
    let out = h1.cmd("python3", &args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("discovered 1 responded 1\nPASS"), "{stdout}");
    let _ = r0.kill();
    let _ = r0.wait();
}

#[test]
fn two_hosts_on_the_same_two_segments_see_each_other_once_at_a_steady_address() {
    const PORT: u16 = 47_725;
    let Some(lab) = Lab::new("iftwice") else { return };
    let (a, b) = (lab.segment("a"), lab.segment("b"));
    let (h0, h1) = (lab.host_with("h0", Stack::V4Only), lab.host_with("h1", Stack::V4Only));
    lab.attach(&h0, &a, Some("10.77.1.1/24"), None);
    lab.attach(&h0, &b, Some("10.77.2.1/24"), None);
    lab.attach(&h1, &a, Some("10.77.1.2/24"), None);
    lab.attach(&h1, &b, Some("10.77.2.2/24"), None);
    // h0 beats every 100 ms over both segments; h1 hears each beat twice.
    let (mut r0, ready) = recv(&h0, PORT, &["--heartbeat", "100"]);
    let id = &ready["simplep2p: ready: peer ".len()..][..36];
    let port = PORT.to_string();
    let watch = h1.cmd(BIN, ["--port", &port, "watch", "--json", "--timeout", "300"]);
    let (watch, _) = spawn_ready(watch, "simplep2p: ready: watching ");
    // A window of twenty of its beats, each over both segments, from when
    // the watch is ready: what is looked for is the absence of an event,
    // so it takes the whole window.
    std::thread::sleep(Duration::from_secs(2));
    let pid = watch.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = with_watchdog(watch.id(), || watch.wait_with_output().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let about: Vec<&str> = stdout.lines().filter(|l| l.contains(id)).collect();
    assert_eq!(about.len(), 1, "h0 once, listed or joined, and never updated: {stdout}");
    let _ = r0.kill();
    let _ = r0.wait();
}
