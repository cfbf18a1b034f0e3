//! A peer driven from an application's own event loop: `poll(2)` on
//! `Peer::fd` and `Events::fd`, then `try_recv` and `try_next`.

mod common;

use std::os::fd::{AsRawFd as _, BorrowedFd};
use std::time::{Duration, Instant};

use common::{DEADLINE, config, free_port};
use simplep2p::{Error, MemberEvent, Peer};

/// Which of `fds` are readable within `timeout` (zero: now).
fn poll(fds: &[BorrowedFd<'_>], timeout: Duration) -> Vec<bool> {
    let mut set: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap();
    // SAFETY: `set` holds `set.len()` valid pollfd for the length of the call.
    let n = unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, ms) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    set.iter().map(|p| p.revents & libc::POLLIN != 0).collect()
}

#[test]
fn one_poll_loop_takes_messages_and_events_as_they_come() {
    let port = free_port();
    let a = Peer::start(config(port).name("a")).unwrap();
    let events = a.events();
    let fds = [a.fd().unwrap(), events.fd().unwrap()];
    assert_eq!(poll(&fds, Duration::ZERO), [false, false], "nothing waits yet");

    let b = Peer::start(config(port).name("b")).unwrap();
    // a's own threads acknowledge it; the loop below only takes it.
    assert!(b.send(b"hi").unwrap().all_acked());

    let (mut messages, mut joined) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + DEADLINE;
    while messages.is_empty() || joined.is_empty() {
        let left = deadline.checked_duration_since(Instant::now()).expect("no wake-up in time");
        let ready = poll(&fds, left);
        if ready[0] {
            while let Some(m) = a.try_recv().unwrap() {
                messages.push(m.data);
            }
        }
        if ready[1] {
            while let Some(e) = events.try_next() {
                if let MemberEvent::Joined(m, _) = e {
                    joined.push(m.name);
                }
            }
        }
    }
    assert_eq!((messages, joined), (vec![b"hi".to_vec()], vec!["b".to_string()]));
    // Taken: readable again only with something to take (a loaded machine
    // may bring a suspicion).
    let ready = poll(&fds, Duration::ZERO);
    assert!(!ready[0] || a.try_recv().unwrap().is_some(), "the message fd over an empty queue");
    assert!(!ready[1] || events.try_next().is_some(), "the events fd over an empty queue");

    let b_id = b.id();
    drop(b);
    let left = loop {
        assert!(poll(&fds[1..], DEADLINE)[0], "b's goodbye did not wake the loop");
        if let Some(MemberEvent::Left(m, _)) = events.try_next() {
            break m;
        }
    };
    assert_eq!(left.id, b_id);

    // Closed: both readable for good, and each read says so.
    a.close();
    assert_eq!(poll(&fds, DEADLINE), [true, true]);
    assert!(matches!(a.try_recv(), Err(Error::Closed)));
    assert_eq!(events.try_next(), None);
    assert!(events.is_closed());
    assert_eq!(poll(&fds, Duration::ZERO), [true, true]);
}

#[test]
fn each_subscription_has_its_own_fd_and_the_peer_one_for_messages() {
    let port = free_port();
    let a = Peer::start(config(port)).unwrap();
    let (first, second) = (a.events(), a.events());
    let fds = [a.fd().unwrap(), first.fd().unwrap(), second.fd().unwrap()];
    assert_eq!(a.fd().unwrap().as_raw_fd(), fds[0].as_raw_fd(), "the same one each call");
    let b = Peer::start(config(port)).unwrap();
    assert!(poll(&fds[1..2], DEADLINE)[0]);
    assert!(poll(&fds[2..], DEADLINE)[0]);
    // Reading one subscription leaves the other ringing.
    while first.try_next().is_some() {}
    let ready = poll(&fds, Duration::ZERO);
    assert!(!ready[1] || first.try_next().is_some());
    assert!(ready[2]);
    assert!(!ready[0] || a.try_recv().unwrap().is_some(), "no message was sent");
    drop(b);
}
