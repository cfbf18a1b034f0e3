//! simplep2p: find the other programs on a local network and exchange
//! messages with them over UDP multicast, with no server.
//!
//! ```text
//!  application thread          helper threads (one per socket)
//!  ------------------          -------------------------------
//!  Peer::discover ──probe──▶ group      simplep2p-group:   reads group:port,
//!  Peer::send ───message──▶ group      answers probes, acks messages
//!        ▲                              simplep2p-unicast: reads the unicast
//!        └──── replies, acks ◀──────── socket (replies, acks, retransmits)
//!  Peer::recv ◀──────── bounded queue ◀──── both
//! ```
//!
//! A [`Peer`] owns two sockets: the group socket, bound to the group's port
//! and shared with every other peer on the host, and a unicast socket that
//! sends everything and takes the answers. Each has one helper thread that
//! sleeps in a blocking read, so an idle peer uses no CPU.
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

mod config;
mod error;
pub mod ffi;
mod peer;
pub mod wire;

pub use config::{Config, DEFAULT_GROUP, DEFAULT_PORT, MAX_QUEUE_CAPACITY};
pub use error::{Error, Result};
pub use ffi::{SignalGuard, close_on_termination};
pub use peer::{DEDUPE_WINDOW, MAX_PEERS, Message, Peer, PeerInfo, SendReport, Stats};
pub use uuid::Uuid;

/// The README's examples, run as doc tests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
