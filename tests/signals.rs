//! `close_on_termination` in the library: a signal closes the peer, and the
//! peer can then be dropped at once. In a test binary of its own, since the
//! handler is the process's.

mod common;

use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{DEADLINE, config, free_port};
use simplep2p::Peer;

#[test]
fn a_peer_closed_by_a_signal_drops_at_once_every_time() {
    // The close the signal asks for runs on the I/O thread, which then
    // stops itself: it must see its own stop, not wait in poll for a
    // datagram that may never come.
    for round in 0..10 {
        // Beating every 10 ms, so that datagrams (its own, looped back) are
        // often read in the same round as the close, its goodbye among them.
        let beat = Some(Duration::from_millis(10));
        let peer = Peer::start(config(free_port()).heartbeat(beat)).unwrap();
        let guard = simplep2p::close_on_termination(&peer).unwrap();
        let me = std::process::id().to_string();
        assert!(Command::new("kill").args(["-INT", &me]).status().unwrap().success());
        assert!(peer.wait_closed(Some(DEADLINE)), "round {round}: the signal closed nothing");
        assert!(guard.terminated());
        drop(guard);
        let (dropped, done) = mpsc::channel();
        thread::spawn(move || {
            drop(peer);
            let _ = dropped.send(());
        });
        let waited = done.recv_timeout(Duration::from_secs(5));
        assert!(waited.is_ok(), "round {round}: dropping the closed peer hung");
    }
}
