//! simplep2p: find the other programs on a local network and exchange
//! messages with them over UDP multicast, with no server.
//!
//! # Map
//!
//! Each file owns one concern. Data flows one way: socket → decode →
//! dispatch → inbox / operations / peer list → caller.
//!
//! | file | owns | runs on |
//! |---|---|---|
//! | `peer.rs` | the [`Peer`] façade: start, close, discover, send, recv; public types | caller |
//! | `peer/transport.rs` | every socket; send to the group or one address; the I/O thread's loop; stop | I/O |
//! | `peer/net.rs` | socket set-up, errno → [`Error`], the non-blocking read | I/O, caller |
//! | `peer/dispatch.rs` | one decoded datagram → inbox, pending operation, member table; answers probes, acks messages | I/O |
//! | `peer/legacy.rs` | the original SimpleP2P's protocol behind one seam, with a switch ([`Config::legacy`]) | I/O |
//! | `peer/heartbeat.rs` | the timers: heartbeats, the member table's checks, key-file and interface checks | timers |
//! | `peer/membership.rs` | the live member table: joins, suspicion, pings, losses (a state machine told the time) | I/O, timers |
//! | `peer/events.rs` | member events to each subscriber's bounded queue | I/O, caller |
//! | `peer/ops.rs` | discovery and send as state machines (no sockets, no clock reads) and their driver | caller |
//! | `peer/pending.rs` | operations in flight: id → its own event channel | both |
//! | `peer/inbox.rs` | the application queue, dedupe, close | all |
//! | `peer/bell.rs` | the file descriptor for event loops, readable while a queue has something | all |
//! | `peer/members.rs` | the peers the last discovery found, less goodbyes | both |
//! | `peer/addresses.rs` | which addresses proved they receive there (challenge and proof) | both |
//! | `peer/limit.rs` | how often probes and challenges are answered (token buckets) | I/O |
//! | `peer/keys.rs`, `peer/keyring.rs`, `peer/replay.rs` | group keys and their files; sealing and opening; the replay window | I/O, caller |
//! | `peer/interfaces.rs` | the host's interfaces and which of them a peer serves (default rule, names, addresses, exclusions) | caller, timers |
//! | `peer/stats.rs` | counters, declared once | all |
//! | `wire.rs`, `wire/legacy.rs`, `wire/sealed.rs` | the bytes of both protocols and of a sealed datagram; no I/O | all |
//! | `config.rs`, `error.rs` | settings and their one validation; the error type | caller |
//! | `ffi.rs`, `ffi/signal.rs`, `ffi/poll.rs`, `ffi/ifaddrs.rs`, `ffi/pktinfo.rs` | the C ABI, SIGINT/SIGTERM handling, `poll(2)`, the host's interface list, sending from a chosen IPv6 address: the only `unsafe` | caller, signal, I/O, timers |
//!
//! A peer has two threads: the I/O thread (`simplep2p-io`) and the timers
//! (`simplep2p-timers`), which never wait on the application, so a
//! delivery handler that blocks the first stops no heartbeat. One
//! datagram's path: the I/O thread waits in `poll`
//! on both sockets (and a wake-up pair) until a datagram or a timer is
//! due, reads it with `net::read`, and opens it if the peer has a key;
//! `dispatch` decodes it once (falling back to `legacy` for the original's
//! text) and drops what is malformed, our own, off-link, or an answer on
//! the wrong socket. A probe is answered (within `limit`'s rate) and a
//! message queued in the inbox and acknowledged (or handed to a delivery
//! handler, on this thread, and acknowledged once it has it), whether or not the
//! application is calling `recv`; a reply, ack or proof is looked up in
//! `pending` and passed to the operation that waits for it, whose state
//! machine in `ops` decides what to send next, and a message goes to an
//! address only once `addresses` says it has proven itself. Whatever a
//! member sends feeds `membership`; a goodbye from a peer's own address
//! leaves the member table, `members` and every pending operation.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use simplep2p::{Config, Peer};
//!
//! # let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
//! // Interface 127.0.0.1 keeps every datagram on this host.
//! let config = Config::default().interface(Ipv4Addr::LOCALHOST).port(port);
//! let alice = Peer::start(config.clone().name("alice"))?;
//! let bob = Peer::start(config.name("bob"))?;
//!
//! let found = alice.discover(Some(1))?;
//! assert_eq!(found[0].name, "bob");
//! let report = alice.send(b"hello there")?;
//! assert!(report.all_acked());
//! let msg = bob.recv()?;
//! assert_eq!(msg.data, b"hello there");
//! assert_eq!(msg.sender, alice.id());
//! # Ok::<(), simplep2p::Error>(())
//! ```
// Only `ffi`, where the C ABI and the signal handler live, allows unsafe.
#![deny(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

// Built and tested on Linux only: IP_MULTICAST_ALL, /proc/net/route,
// /sys/class/net, errno's location and getifaddrs are used as Linux has
// them. Elsewhere the build stops here rather than half-working.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "simplep2p supports Linux only so far (it relies on IP_MULTICAST_ALL, /proc/net/route and \
     /sys/class/net); build it on Linux"
);

mod config;
mod error;
mod ffi;
mod peer;
pub mod wire;

pub use config::{
    Config, DEFAULT_GROUP, DEFAULT_GROUP6, DEFAULT_HEARTBEAT, DEFAULT_PORT, KEY_FILE_ENV,
    MAX_HEARTBEAT, MAX_QUEUE_CAPACITY, MIN_HEARTBEAT,
};
pub use error::{Error, KeyProblem, Result};
pub use ffi::{SignalGuard, close_on_termination, hold_termination_signals};
pub use peer::{
    DEDUPE_WINDOW, EVENT_QUEUE, Events, Family, InterfaceInfo, KEY_FILE_CHECK, Key, MAX_INTERFACES,
    MAX_KEYS, MAX_MEMBER_ADDRS, MAX_MEMBERS, MAX_PEERS, MAX_REPLAY_ENTRIES, Member, MemberEvent,
    Message, Peer, PeerInfo, REPLAY_WINDOW, Rate, SendReport, Stats, Verdict, check_message,
    read_key_file,
};
pub use uuid::Uuid;

/// The README's examples, run as doc tests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
