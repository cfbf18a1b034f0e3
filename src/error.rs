//! The one public error type.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use crate::wire;

/// Everything that can go wrong in simplep2p. Each variant says whether
/// retrying the same call can help.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The group is not an IPv4 multicast address (224.0.0.0/4).
    /// Retrying does not help: pass another group.
    BadGroup(Ipv4Addr),
    /// The IPv6 group is not a multicast address of link-local scope.
    /// Retrying does not help: pass another group.
    BadGroup6(Ipv6Addr),
    /// The kernel has no route for multicast on the chosen interface.
    /// Retrying does not help: name an interface, e.g. 127.0.0.1.
    NoMulticastRoute,
    /// The interface is not an address of this host.
    /// Retrying does not help: pass one of this host's addresses.
    BadInterface(Ipv4Addr),
    /// The interfaces asked for cannot be served: a name or address that
    /// is not this host's, one that is not a name or an address, or
    /// nothing usable at all. The text says what exists and what to pass.
    Interface(String),
    /// Another program holds the port without sharing it.
    /// Retrying helps only once that program has exited.
    PortInUse(u16),
    /// Port 0 was given: peers meet on a fixed port.
    /// Retrying does not help: pass a port in 1..=65535.
    BadPort,
    /// A multicast TTL over 255.
    /// Retrying does not help: pass 0 to 255 (1 stays on the segment).
    BadTtl(u32),
    /// An application queue capacity outside 1..=65,536.
    /// Retrying does not help: pass one in range.
    BadQueueCapacity(usize),
    /// An answer rate that is negative, not a number, or whose burst is
    /// under 1. Retrying does not help: pass a rate of 0 or more, a burst of 1 or more.
    BadRate,
    /// The peer was started with the original's protocol turned off
    /// ([`Config::legacy`](crate::Config::legacy)), so it cannot speak it.
    /// Retrying does not help: start a peer with it on.
    LegacyOff,
    /// The peer name is longer than [`wire::MAX_NAME`] bytes.
    /// Retrying does not help: shorten it.
    NameTooLong(usize),
    /// The message is longer than [`wire::MAX_MESSAGE`] bytes; nothing was sent.
    /// Retrying does not help: split it.
    MessageTooLarge(usize),
    /// The text cannot be sent in the original's protocol whole: it must be
    /// one word of printable ASCII. Retrying does not help: change the text.
    NotLegacyText,
    /// The peer's helper threads have stopped, so no message can arrive.
    /// Retrying does not help: start a new peer.
    Closed,
    /// A heartbeat interval outside 10 ms to one hour. Retrying does not
    /// help: pass one in range, or turn heartbeats off.
    BadHeartbeat(std::time::Duration),
    /// A key is not 64 hex digits. Retrying does not help: use a key that
    /// `simplep2p keygen` printed.
    BadKey,
    /// A key file cannot be used; `problem` says why, never what it holds.
    /// Retrying helps once the file is fixed.
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// More than two keys were given (current and next), or none at all.
    /// Retrying does not help: give one or two.
    TooManyKeys(usize),
    /// A key was given to a build without the `crypto` feature. Retrying
    /// does not help: rebuild simplep2p with the feature (on by default).
    NoCrypto,
    /// The original's protocol was asked for under a key: it cannot be
    /// authenticated. Retrying does not help: drop one of the two.
    LegacyWithKey,
    /// A helper thread could not be started. Retrying may help once the
    /// system has more resources.
    Thread(io::Error),
    /// Any other socket failure; `op` names the call that failed.
    /// Retrying may help if the cause was transient.
    Io {
        /// What was being done, e.g. "bind the group socket".
        op: &'static str,
        /// The system's error.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadGroup(g) => write!(
                f,
                "group {g} is not an IPv4 multicast address: pass one in 224.0.0.0/4, e.g. 239.255.0.1"
            ),
            Error::BadGroup6(g) => write!(
                f,
                "IPv6 group {g} is not a multicast address of link-local scope: pass one in ffX2::/16, e.g. ff02::114"
            ),
            Error::NoMulticastRoute => f.write_str(
                "no route for multicast: pass --interface 127.0.0.1 to stay on this host, or add a multicast route",
            ),
            Error::Interface(text) => f.write_str(text),
            Error::BadInterface(a) => write!(
                f,
                "interface {a} is not an address of this host: pass one of its addresses, or 0.0.0.0"
            ),
            Error::PortInUse(p) => write!(
                f,
                "port {p} is held by a program that does not share it: stop it or pass another --port"
            ),
            Error::BadPort => f.write_str(
                "port 0 is not allowed: peers meet on a fixed port, pass one between 1 and 65535",
            ),
            Error::BadTtl(t) => {
                write!(f, "TTL {t} is out of range: pass 0 to 255 (1 stays on this segment)")
            }
            Error::BadQueueCapacity(n) => write!(
                f,
                "queue capacity {n} is out of range: pass 1 to {}",
                crate::config::MAX_QUEUE_CAPACITY
            ),
            Error::BadRate => f.write_str(
                "answer rates must be 0 or more a second, with a burst of at least 1",
            ),
            Error::LegacyOff => f.write_str(
                "this peer was started with the original's protocol turned off: start one with it on",
            ),
            Error::NameTooLong(n) => {
                write!(f, "peer name of {n} bytes is too long: the limit is {} bytes", wire::MAX_NAME)
            }
            Error::MessageTooLarge(n) => write!(
                f,
                "message of {n} bytes is over the {}-byte limit; nothing was sent: split it",
                wire::MAX_MESSAGE
            ),
            Error::NotLegacyText => f.write_str(
                "legacy messages must be one word of printable ASCII (the original keeps only the first word): remove spaces and non-ASCII",
            ),
            Error::Closed =>
 f.write_str("the peer has shut down: start a new one"),
            Error::BadHeartbeat(d) => write!(
                f,
                "heartbeat interval of {} ms is out of range: pass 10 to 3600000 ms, or 0 for none",
                d.as_millis()
            ),
            Error::BadKey => f.write_str(
                "that is not a key: a key is 64 hex digits, as 'simplep2p keygen' prints",
            ),
            Error::KeyFile { path, problem } => write!(f, "key file {}{problem}", path.display()),
            Error::TooManyKeys(0) => f.write_str("no key was given"),
            Error::TooManyKeys(n) => write!(
                f,
                "{n} keys given: a peer takes at most two (current and next), from one key file or two"
            ),
            Error::NoCrypto => f.write_str(
                "this simplep2p was built without group keys: rebuild it with the \"crypto\" feature (on by default)",
            ),
            Error::LegacyWithKey => f.write_str(
                "the original's protocol cannot be authenticated, so it is off under a key: drop --legacy or the key",
            ),
            Error::Thread(e) => write!(f, "could not start a helper thread: {e}"),
            Error::Io { op, source } => write!(f, "could not {op}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Thread(e)
            | Error::Io { source: e, .. }
            | Error::KeyFile { problem: KeyProblem::Unreadable(e), .. } => Some(e),
            _ => None,
        }
    }
}

/// What is wrong with a key file ([`Error::KeyFile`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyProblem {
    /// It cannot be opened or read.
    Unreadable(io::Error),
    /// It is a directory or some other non-file.
    NotAFile,
    /// Users other than its owner may read or write it (its mode).
    OpenToOthers(u32),
    /// It holds no key line.
    NoKey,
    /// This line (from 1) is neither a key, blank, nor a `#` comment.
    BadLine(usize),
    /// It is far larger than a key file.
    TooLarge,
}

impl fmt::Display for KeyProblem {
    /// Follows the path in [`Error::KeyFile`]'s message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Unreadable(e) => write!(
                f,
                ": cannot read it ({e}): make one with 'simplep2p keygen --out PATH', or check the path"
            ),
            KeyProblem::NotAFile => f.write_str(" is not a file: pass the key file itself"),
            KeyProblem::OpenToOthers(mode) => write!(
                f,
                " may be read or written by other users (mode {mode:04o}): run 'chmod 600' on it"
            ),
            KeyProblem::NoKey => f.write_str(
                " holds no key: it needs one or two lines of 64 hex digits, as 'simplep2p keygen' prints",
            ),
            KeyProblem::BadLine(n) => write!(
                f,
                ": line {n} is not a key: each key line is 64 hex digits, as 'simplep2p keygen' prints"
            ),
            KeyProblem::TooLarge => f.write_str(
                " is not a key file (over 4 KiB): it needs one or two lines of 64 hex digits",
            ),
        }
    }
}

/// Only our own frames are encoded, so only their two checked fields can fail.
impl From<wire::WireError> for Error {
    fn from(e: wire::WireError) -> Self {
        match e {
            wire::WireError::NameTooLong(n) => Error::NameTooLong(n),
            wire::WireError::MessageTooLarge(n) => Error::MessageTooLarge(n),
            other => Error::Io { op: "encode a datagram", source: io::Error::other(other) },
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { op, source }
}
