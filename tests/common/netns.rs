//! Private network namespaces (`unshare -n`) for tests that need more
//! than loopback offers: a default interface that is safe to use (inside
//! one only loopback exists), and nftables rules that drop datagrams.
//!
//! Without root, `unshare` or nftables these tests print why and pass,
//! unless SIMPLEP2P_REQUIRE_NETNS=1 (as in CI), which turns the skip into
//! a failure. A namespace made by `unshare -n` dies with its last process,
//! rules and all: nothing is left behind on the host.

use std::process::{Command, Output, Stdio};

/// Set in the copy of a test that runs inside the namespace.
const INSIDE: &str = "SIMPLEP2P_INSIDE_NETNS";

/// Why namespaces (and nftables) cannot be used here, if they cannot.
fn unavailable(need_nft: bool) -> Option<String> {
    let probe = Command::new("unshare").args(["-n", "true"]).output();
    match &probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Some(format!("unshare -n: {}", String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => return Some(format!("unshare: {e}")),
    }
    if need_nft && Command::new("nft").arg("--version").output().is_err() {
        return Some("nft is not installed (apt-get install nftables)".into());
    }
    None
}

/// True (after saying why) when the test must be skipped; fails instead
/// under SIMPLEP2P_REQUIRE_NETNS=1.
pub fn skip(need_nft: bool) -> bool {
    let Some(why) = unavailable(need_nft) else { return false };
    assert!(
        std::env::var_os("SIMPLEP2P_REQUIRE_NETNS").is_none_or(|v| v != "1"),
        "SIMPLEP2P_REQUIRE_NETNS=1 but {why}"
    );
    eprintln!("skipped: {why}; run as root with nftables installed to test");
    true
}

/// Runs `script` under `sh` in a new network namespace with loopback up;
/// `None` (after saying why) when namespaces are not available here.
pub fn in_netns(script: &str) -> Option<Output> {
    if skip(false) {
        return None;
    }
    let full = format!("ip link set lo up && {script}");
    Some(Command::new("unshare").args(["-n", "sh", "-c", &full]).output().expect("run unshare"))
}

/// In the test process: runs test `name` of this binary again inside a new
/// network namespace (loopback up) and checks that it passed there. Returns
/// true in the copy inside, which then runs the body.
pub fn inside_netns(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    if skip(true) {
        return false;
    }
    let exe = std::env::current_exe().unwrap();
    let script = r#"ip link set lo up && exec "$0" --exact "$1" --nocapture --test-threads=1"#;
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .arg(exe)
        .arg(name)
        .env(INSIDE, "1")
        .output()
        .expect("run unshare");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed inside the namespace");
    let ran = String::from_utf8_lossy(&out.stdout).contains("1 passed");
    assert!(ran, "{name} did not run inside the namespace");
    false
}

/// Loads nftables rules (only ever inside a private namespace).
pub fn nft(rules: &str) {
    assert!(std::env::var_os(INSIDE).is_some(), "nft outside a private namespace");
    let mut child =
        Command::new("nft").args(["-f", "-"]).stdin(Stdio::piped()).spawn().expect("run nft");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), rules.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "nft rejected:\n{rules}");
}

/// Drops `percent`% of UDP datagrams at random as they arrive (on loopback
/// every datagram, each way, arrives once; a multicast once for all its
/// receivers). In table `loss`.
pub fn random_udp_loss(percent: u32) {
    nft(&format!(
        "table inet loss {{\n chain input {{\n type filter hook input priority 0; policy accept;\n \
         meta l4proto udp numgen random mod 100 < {percent} drop\n }}\n}}\n"
    ));
}

/// Drops every datagram from or to UDP `port` as it arrives: a peer whose
/// unicast socket that is hears no answer and is heard by nobody (its
/// multicasts leave from that socket too). In table `table`, which
/// `nft("delete table inet <table>")` takes away again.
pub fn cut_port(table: &str, port: u16) {
    nft(&format!(
        "table inet {table} {{\n chain input {{\n type filter hook input priority 0; policy accept;\n \
         udp sport {port} drop\n udp dport {port} drop\n }}\n}}\n"
    ));
}
