//! Tests that need a private network namespace (`unshare -n`): inside one
//! only loopback exists, so running a peer on the default interface is safe
//! there, and it is how the no-route error is reached.
//!
//! Without root or `unshare` these tests print why and pass, unless
//! SIMPLEP2P_REQUIRE_NETNS=1 (as in CI), which turns the skip into a
//! failure (see `common::netns`).

mod common;

use std::process::Command;

use common::netns::{cut_port, in_netns, inside_netns, random_udp_loss, skip};
use common::{ABSENT_TIMEOUT, TIMEOUT, TIMEOUT_MS, config, free_port};
use simplep2p::Peer;

#[test]
fn with_no_interface_up_the_error_says_what_to_do_with_exit_2() {
    let script = format!("ip link set lo down && exec {} peers", common::BIN);
    let Some(out) = in_netns(&script) else { return };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "simplep2p: no interface is up with an address multicast can use: this host has no network interface up: bring one up (ip link set NAME up)"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn by_default_a_host_with_only_loopback_serves_loopback_without_a_route() {
    let bin = common::BIN;
    let err = std::env::temp_dir().join(format!("simplep2p-netns-lo-{}.err", std::process::id()));
    let err = err.display();
    let script = format!(
        "timeout 10 {bin} recv --count 1 >/dev/null 2>{err} & \
         n=0; until grep -q ready {err}; do n=$((n+1)); [ $n -lt 1000 ] || exit 9; sleep 0.01; done; \
         grep -o 'interface lo (127.0.0.1), unicast 127.0.0.1:' {err}; \
         {bin} send hi --expect 1 --timeout {TIMEOUT_MS}; wait; rm -f {err}"
    );
    let Some(out) = in_netns(&script) else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.starts_with("interface lo (127.0.0.1), unicast 127.0.0.1:\nPASS 1/1"),
        "{stdout}"
    );
}

#[test]
fn interface_127_0_0_1_works_without_any_route() {
    let bin = common::BIN;
    let err = std::env::temp_dir().join(format!("simplep2p-netns-{}.err", std::process::id()));
    let err = err.display();
    // Waits (at most 10 s) for the receiver's ready line before sending.
    let script = format!(
        "timeout 10 {bin} --interface 127.0.0.1 recv --count 1 >/dev/null 2>{err} & \
         n=0; until grep -q ready {err}; do n=$((n+1)); [ $n -lt 1000 ] || exit 9; sleep 0.01; done; \
         {bin} --interface 127.0.0.1 send hi --expect 1 --timeout {TIMEOUT_MS}; wait; rm -f {err}"
    );

    let Some(out) = in_netns(&script) else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.starts_with("PASS 1/1"), "{stdout}");
}

#[test]
fn by_default_the_one_real_interface_is_served_and_every_address_shown_is_real() {
    // A veth with an address that exists only in this namespace and no
    // route at all: the default rule serves it (loopback has no MULTICAST
    // flag), nobody names it. IPv6 is off here, or the veth's other end
    // would be served too, for its link-local address (tests/ipv6.rs).
    let bin = common::BIN;
    let pid = std::env::temp_dir().join(format!("simplep2p-netns-{}.pid", std::process::id()));
    let pid = pid.display();
    let script = format!(
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && \
         ip link add sp0 type veth peer name sp1 && ip addr add 10.77.0.1/24 dev sp0 && \
         ip link set sp1 up && ip link set sp0 up && \
         ({bin} recv 2>&1 >/dev/null & echo $! > {pid}) | (read ready; echo \"$ready\"; \
         {bin} peers --expect 1 --timeout {TIMEOUT_MS}; \
         {bin} peers --legacy --expect 1 --timeout {TIMEOUT_MS}; kill $(cat {pid}); rm {pid})"
    );
    let Some(out) = in_netns(&script) else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 5, "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(lines[0].contains(", interface sp0 (10.77.0.1), unicast 10.77.0.1:"), "{stdout}");
    for line in [lines[1], lines[3]] {
        assert!(line.contains(" 10.77.0.1:"), "native and legacy agree: {stdout}");
    }
    assert!(!stdout.contains("0.0.0.0"), "{stdout}");
}

#[test]
fn a_peer_pinned_to_one_segment_is_silent_on_the_other_and_off_link_sources_get_nothing() {
    if skip(false) {
        return;
    }
    let script = format!("{}/tests/netns/segments.sh", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .args([&script, common::BIN, &free_port().to_string()])
        .output()
        .expect("run segments.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let section = |from: &str, to: &str| {
        let start = stdout.find(from).unwrap_or_else(|| panic!("no {from:?} in {stdout}"));
        let rest = &stdout[start..];
        rest[..rest.find(to).unwrap_or(rest.len())].to_string()
    };
    let a = section("A sees:", "B sees:");
    let b = section("B sees:", "B from off-link sees:");
    let off = section("B from off-link sees:", "\n\n");
    assert!(a.contains("pinned-a") && !a.contains("pinned-b") && a.contains("1 peer"), "{stdout}");
    assert!(b.contains("pinned-b") && !b.contains("pinned-a") && b.contains("1 peer"), "{stdout}");
    assert!(off.contains("0 peers"), "{stdout}");
}

#[test]
fn at_30_percent_loss_every_send_is_acknowledged_and_delivered_once_in_order() {
    if !inside_netns("at_30_percent_loss_every_send_is_acknowledged_and_delivered_once_in_order") {
        return;
    }
    random_udp_loss(30);
    let port = free_port();
    let receivers: Vec<Peer> = (0..5).map(|_| Peer::start(config(port)).unwrap()).collect();
    let sender = Peer::start(config(port)).unwrap();
    // Discovery finds all five every time, within its timeout. (Timeouts of
    // 5 s give each datagram about 100 tries, which a busy machine's delays
    // may cut to dozens: at 40, a miss at 30% loss is ~1e-11. They cost
    // nothing when everyone answers sooner.)
    for round in 0..20 {
        let found = sender.discover_within(Some(5), TIMEOUT).unwrap();
        assert_eq!(found.len(), 5, "discovery round {round} found {}", found.len());
    }
    let targets = sender.known_peers();
    for i in 0..100 {
        let report = sender.send_to(format!("m{i}").as_bytes(), &targets, TIMEOUT).unwrap();
        assert!(report.all_acked(), "send {i}: missing {:?}", report.missing);
    }
    let stats = sender.stats();
    println!("sender at 30% loss: {stats:?}");
    assert!(stats.retransmissions > 0, "no loss happened");
    let want: Vec<Vec<u8>> = (0..100).map(|i| format!("m{i}").into_bytes()).collect();
    for r in &receivers {
        let mut got = Vec::new();
        while let Some(m) = r.try_recv().unwrap() {
            got.push(m.data);
        }
        assert_eq!(got, want, "each message exactly once, in order");
    }
}

#[test]
fn at_100_percent_loss_towards_one_peer_it_alone_is_missing_every_time() {
    if !inside_netns("at_100_percent_loss_towards_one_peer_it_alone_is_missing_every_time") {
        return;
    }
    let port = free_port();
    let receivers: Vec<Peer> = (0..5).map(|_| Peer::start(config(port)).unwrap()).collect();
    let sender = Peer::start(config(port)).unwrap();
    assert_eq!(sender.discover(Some(5)).unwrap().len(), 5);
    let victim = &receivers[2];
    let vport = victim.local_addr().port();
    // Everything to and from the victim's own socket is lost.
    cut_port("cut", vport);
    let targets = sender.known_peers();
    // Every send waits out its timeout for the victim; the other four must
    // acknowledge within it, which on a busy machine needs more than 100 ms.
    for i in 0..20 {
        let report = sender.send_to(format!("m{i}").as_bytes(), &targets, ABSENT_TIMEOUT).unwrap();
        assert_eq!(
            report.missing.iter().map(|p| p.id).collect::<Vec<_>>(),
            [victim.id()],
            "send {i}"
        );
        assert_eq!(report.acked.len(), 4, "send {i}");
    }
}
