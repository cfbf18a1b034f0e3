//! Tests that need a private network namespace (`unshare -n`): inside one
//! only loopback exists, so running a peer on the default interface is safe
//! there, and it is how the no-route error is reached.
//!
//! Without root or `unshare` these tests print why and pass, unless
//! SIMPLEP2P_REQUIRE_NETNS=1 (as in CI), which turns the skip into a failure.

mod common;

use std::process::Command;

/// Runs `script` under `sh` in a new network namespace with loopback up;
/// `None` (after saying why) when namespaces are not available here.
fn in_netns(script: &str) -> Option<std::process::Output> {
    let probe = Command::new("unshare").args(["-n", "true"]).output();
    let usable = matches!(&probe, Ok(o) if o.status.success());
    if !usable {
        let why = match probe {
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            std::env::var_os("SIMPLEP2P_REQUIRE_NETNS").is_none_or(|v| v != "1"),
            "SIMPLEP2P_REQUIRE_NETNS=1 but unshare -n is not usable: {why}"
        );
        eprintln!("skipped: unshare -n is not usable here ({why}); run as root to test");
        return None;
    }
    let full = format!("ip link set lo up && {script}");
    Some(Command::new("unshare").args(["-n", "sh", "-c", &full]).output().expect("run unshare"))
}

#[test]
fn no_multicast_route_is_a_clear_error_with_exit_2() {
    let script = format!("exec {} peers", common::BIN);
    let Some(out) = in_netns(&script) else { return };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "simplep2p: no route for multicast: pass --interface 127.0.0.1 to stay on this host, or add a multicast route"
    );
    assert!(out.stdout.is_empty());
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
         {bin} --interface 127.0.0.1 send hi --expect 1; wait; rm -f {err}"
    );

    let Some(out) = in_netns(&script) else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.starts_with("PASS 1/1"), "{stdout}");
}
