//! How a [`Peer`](crate::Peer) is set up: every default in one place.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::peer::{AckWhen, Family, Key, KeySource, MAX_INTERFACES, Rate, Selector};
use crate::wire;

/// Settings for [`Peer::start`](crate::Peer::start). Build with the setters:
///
/// ```
/// use std::net::Ipv4Addr;
/// let config = simplep2p::Config::default().interface(Ipv4Addr::LOCALHOST).name("printer");
/// assert_eq!(config.port_number(), 30001);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) group: Ipv4Addr,
    pub(crate) group6: Ipv6Addr,
    pub(crate) family: Family,
    pub(crate) port: u16,
    /// Which interfaces to serve, by name or address, as given; empty:
    /// the default rule (see [`Config::interfaces`]).
    pub(crate) interfaces: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) ttl: u32,
    pub(crate) name: String,
    pub(crate) discover_timeout: Duration,
    pub(crate) quiet_window: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) queue_capacity: usize,
    /// `None`: on without a key, off with one.
    pub(crate) legacy: Option<bool>,
    pub(crate) keys: Vec<KeySource>,
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) ack_when: AckWhen,
    pub(crate) receiver: bool,
    pub(crate) answer_rate: Rate,
    pub(crate) answer_rate_total: Rate,
}

/// The original SimpleP2P's group, so both can share a network.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 0, 1);
/// The IPv6 group: link-local scope, so it never leaves the segment,
/// and `ff0X::114`, which IANA lists for private experiments, as
/// 239.255.0.0/16 is for IPv4.
pub const DEFAULT_GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x114);
/// The original SimpleP2P's port.
pub const DEFAULT_PORT: u16 = 30001;
/// How often a peer beats unless told otherwise ([`Config::heartbeat`]).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
/// The shortest heartbeat interval.
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(10);
/// The longest heartbeat interval.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);
/// The environment variable naming a key file ([`Config::key_file_from_env`]).
pub const KEY_FILE_ENV: &str = "SIMPLEP2P_KEY_FILE";
/// Largest application queue a peer may be given.
pub const MAX_QUEUE_CAPACITY: usize = 65_536;

impl Default for Config {
    fn default() -> Self {
        Config {
            group: DEFAULT_GROUP,
            group6: DEFAULT_GROUP6,
            family: Family::Both,
            port: DEFAULT_PORT,
            interfaces: Vec::new(),
            exclude: Vec::new(),
            ttl: 1,
            name: String::new(),
            discover_timeout: Duration::from_secs(1),
            quiet_window: Duration::from_millis(50),
            send_timeout: Duration::from_secs(1),
            queue_capacity: 256,
            legacy: None,
            keys: Vec::new(),
            heartbeat: Some(DEFAULT_HEARTBEAT),
            ack_when: AckWhen::Queued,
            receiver: true,
            answer_rate: Rate { per_second: 2000.0, burst: 500.0 },
            answer_rate_total: Rate { per_second: 20_000.0, burst: 2000.0 },
        }
    }
}

impl Config {
    /// The multicast group. Defaults to 239.255.0.1.
    pub fn group(mut self, group: Ipv4Addr) -> Self {
        self.group = group;
        self
    }

    /// The IPv6 multicast group, of link-local scope (`ff02::/16`, or
    /// any `ffX2::` group). Defaults to ff02::114. Peers meet on both
    /// groups, at the same port, unless [`Config::family`] says one.
    pub fn group6(mut self, group: Ipv6Addr) -> Self {
        self.group6 = group;
        self
    }

    /// Which address families to serve. Defaults to both: each interface
    /// chosen is served over IPv4 if it has an IPv4 address and over IPv6
    /// if it has a link-local one, and a peer heard over both is one
    /// member. Loopback is IPv4 only (Linux routes no IPv6 multicast
    /// there).
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self
    }

    /// The UDP port of the group. Defaults to 30001.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves only the interface that holds this address, using it there,
    /// over IPv4 only; 127.0.0.1 keeps all traffic on this host. 0.0.0.0 goes back to the
    /// default, every interface ([`Config::interfaces`]). Replaces what was
    /// chosen before.
    pub fn interface(mut self, interface: Ipv4Addr) -> Self {
        self.interfaces.clear();
        if !interface.is_unspecified() {
            self.interfaces.push(interface.to_string());
        }
        self
    }

    /// Serves exactly these interfaces, each given by name (`eth0`, `lo`:
    /// in every family it has an address of) or by an address it holds
    /// (`10.0.0.5`, `fe80::1%eth0`: then that address, in its family).
    /// Replaces what was chosen before. Empty, the default: every
    /// interface that is up and running, carries the MULTICAST flag, has
    /// an address (IPv4, or IPv6 link-local; see [`Config::family`]) and
    /// is not a bridge port (its bridge is served),
    /// at most [`MAX_INTERFACES`]; loopback only when no other qualifies
    /// (in a network namespace of its own, say). Interfaces that come,
    /// go or change address are followed within 5 s.
    pub fn interfaces<S: Into<String>>(mut self, interfaces: impl IntoIterator<Item = S>) -> Self {
        self.interfaces = interfaces.into_iter().map(Into::into).collect();
        self
    }

    /// Never serves these interfaces, by name or by an address they hold,
    /// whatever [`Config::interfaces`] says. One that does not exist (yet)
    /// is no error.
    pub fn exclude_interfaces<S: Into<String>>(
        mut self,
        interfaces: impl IntoIterator<Item = S>,
    ) -> Self {
        self.exclude = interfaces.into_iter().map(Into::into).collect();
        self
    }

    /// The interfaces chosen, as given.
    pub(crate) fn interface_list(&self) -> &[String] {
        &self.interfaces
    }

    /// The interfaces chosen and excluded, parsed.
    pub(crate) fn selectors(&self) -> Result<(Vec<Selector>, Vec<Selector>)> {
        let parse = |list: &[String]| -> Result<Vec<Selector>> {
            list.iter()
                .map(|s| s.parse::<Selector>().map_err(|e| Error::Interface(e.to_string())))
                .collect()
        };
        Ok((parse(&self.interfaces)?, parse(&self.exclude)?))
    }

    /// Multicast time-to-live: 1 stays on the local segment. Defaults to 1.
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// A name shown to other peers, at most 64 bytes. Defaults to empty.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Longest a discovery waits. Defaults to 1 s.
    pub fn discover_timeout(mut self, timeout: Duration) -> Self {
        self.discover_timeout = timeout;
        self
    }

    /// Discovery ends once no new peer has answered for this long.
    /// Defaults to 50 ms.
    pub fn quiet_window(mut self, window: Duration) -> Self {
        self.quiet_window = window;
        self
    }

    /// Longest a send waits for acknowledgements. Defaults to 1 s.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Messages held for the application before new ones are refused (and
    /// not acknowledged), 1..=65,536. Defaults to 256, which with 16 KiB
    /// messages bounds the queue at 4 MiB.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Whether to speak the original SimpleP2P's text protocol beside ours:
    /// answer its peers, and allow [`Peer::discover_legacy`] and
    /// [`Peer::send_legacy`](crate::Peer::send_legacy). Defaults to on
    /// without a key and off with one (it cannot be authenticated; asking
    /// for it under a key is [`Error::LegacyWithKey`]); off, its datagrams
    /// are counted as malformed and dropped.
    ///
    /// [`Peer::discover_legacy`]: crate::Peer::discover_legacy
    pub fn legacy(mut self, on: bool) -> Self {
        self.legacy = Some(on);
        self
    }

    /// Adds a group key: with one, every datagram is sealed
    /// (XChaCha20-Poly1305) and only peers holding the key see or affect
    /// this one. At most two keys in all, from here and [`Config::key_file`];
    /// the first seals and either opens (for changing keys: README,
    /// "Changing a group's key"). Needs the `crypto` feature.
    pub fn key(mut self, key: Key) -> Self {
        self.keys.push(KeySource::Inline(key));
        self
    }

    /// Adds the keys of a key file (one or two lines of 64 hex digits, as
    /// `simplep2p keygen` writes; mode 0600 or stricter), re-read within
    /// a second of changing while the peer runs. May be given twice.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keys.push(KeySource::File(path.into()));
        self
    }

    /// Adds the key file named by the environment variable
    /// `SIMPLEP2P_KEY_FILE`, if it is set and not empty, as the CLI and
    /// the C and Python bindings do.
    pub fn key_file_from_env(self) -> Self {
        match std::env::var_os(KEY_FILE_ENV) {
            Some(path) if !path.is_empty() => self.key_file(path),
            _ => self,
        }
    }

    /// How often this peer tells the group it is alive, and so how quickly
    /// others notice it is gone: silent for one interval and a fifth it is
    /// pinged directly, silent for three it is reported lost
    /// ([`Peer::events`](crate::Peer::events)). Defaults to 1 s; 10 ms to
    /// one hour. `None` turns heartbeats off, for minimal systems: no
    /// heartbeat goes out, the member table is fed only by discovery and
    /// traffic, and no member is ever reported lost (only leaving).
    pub fn heartbeat(mut self, interval: Option<Duration>) -> Self {
        self.heartbeat = interval;
        self
    }

    /// Whether any key was given.
    pub fn has_key(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whether the original's protocol will be spoken.
    pub(crate) fn legacy_on(&self) -> bool {
        self.legacy.unwrap_or(self.keys.is_empty())
    }

    /// When this peer acknowledges a message. Off (the default), as soon as
    /// it is in the queue: a PASS means every target has it queued. On,
    /// only when the application takes it with `recv`, `recv_timeout` or
    /// `try_recv`: a PASS means every target's application has it, and a
    /// message still queued when the peer closes was never acknowledged.
    /// Copies that arrive while it waits are dropped, not acknowledged.
    pub fn ack_on_recv(mut self, on: bool) -> Self {
        self.ack_when = if on { AckWhen::Taken } else { AckWhen::Queued };
        self
    }

    /// Whether this peer is a receiver: found by discovery, and taking and
    /// acknowledging messages. Defaults to on. Off for a peer that only
    /// discovers and sends, like the CLI's `send` and `peers`: it answers
    /// no probe and takes no message, so no other sender mistakes it for a
    /// receiver and gets a PASS for a message that left with it.
    pub fn receiver(mut self, on: bool) -> Self {
        self.receiver = on;
        self
    }

    /// How often probes, challenges and the original's discoveries are
    /// answered: `per_source` for each source address, `total` for all
    /// together, so that a flood from one address or from many spoofed ones
    /// yields a bounded rate of answers. Refusals are counted
    /// (`rate_limited`). Defaults: 2,000 a second per source (bursts of
    /// 500), 20,000 in total (bursts of 2,000): far above what discovery
    /// needs (a probe, repeated at most 20 times a second while it waits).
    pub fn answer_rate(mut self, per_source: Rate, total: Rate) -> Self {
        self.answer_rate = per_source;
        self.answer_rate_total = total;
        self
    }

    /// Checks every setting that can be wrong before anything is opened;
    /// [`Peer::start`](crate::Peer::start) calls it, and so do the CLI and
    /// the C and Python bindings, so all four refuse the same things.
    ///
    /// # Errors
    /// [`Error::BadPort`] for port 0 (peers meet on a fixed port),
    /// [`Error::BadTtl`] over 255, [`Error::NameTooLong`] over
    /// [`wire::MAX_NAME`] bytes, [`Error::BadQueueCapacity`] outside
    /// 1..=[`MAX_QUEUE_CAPACITY`], [`Error::BadGroup`] outside 224.0.0.0/4,
    /// [`Error::LegacyWithKey`], [`Error::NoCrypto`] for a key in a build
    /// without the `crypto` feature, [`Error::TooManyKeys`],
    /// [`Error::BadHeartbeat`] outside 10 ms to one hour. Key files are
    /// read by [`Peer::start`](crate::Peer::start).
    pub fn validate(&self) -> Result<()> {
        if self.port == 0 {
            return Err(Error::BadPort);
        }
        if self.ttl > 255 {
            return Err(Error::BadTtl(self.ttl));
        }
        if self.name.len() > wire::MAX_NAME {
            return Err(Error::NameTooLong(self.name.len()));
        }
        if !(1..=MAX_QUEUE_CAPACITY).contains(&self.queue_capacity) {
            return Err(Error::BadQueueCapacity(self.queue_capacity));
        }
        for rate in [self.answer_rate, self.answer_rate_total] {
            if !(rate.per_second >= 0.0 && rate.burst >= 1.0) {
                return Err(Error::BadRate);
            }
        }
        if !self.group.is_multicast() {
            return Err(Error::BadGroup(self.group));
        }
        // Checked even when only IPv4 is served: a bad value is refused the
        // same way from Rust, the CLI, C and Python (whose setters check it).
        if !is_link_scope_multicast(self.group6) {
            return Err(Error::BadGroup6(self.group6));
        }
        if self.has_key() && self.legacy == Some(true) {
            return Err(Error::LegacyWithKey);
        }
        if self.has_key() && !cfg!(feature = "crypto") {
            return Err(Error::NoCrypto);
        }
        self.selectors()?;
        if self.interfaces.len() > MAX_INTERFACES {
            return Err(Error::Interface(format!(
                "{} interfaces named, but at most {MAX_INTERFACES} are served: name fewer",
                self.interfaces.len()
            )));
        }
        if let Some(i) = self.heartbeat
            && !(MIN_HEARTBEAT..=MAX_HEARTBEAT).contains(&i)
        {
            return Err(Error::BadHeartbeat(i));
        }
        if self.keys.len() > crate::peer::MAX_KEYS {
            return Err(Error::TooManyKeys(self.keys.len()));
        }
        Ok(())
    }

    /// The configured group port.
    pub fn port_number(&self) -> u16 {
        self.port
    }
}

/// A multicast address of link-local scope (`ffX2::/16`): sent with the
/// interface's index as its scope id, so the kernel needs no per-send
/// socket option to pick the interface, and never routed off the link.
fn is_link_scope_multicast(group: Ipv6Addr) -> bool {
    let first = group.segments()[0];
    first >> 8 == 0xff && first & 0xf == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_refuses_what_cannot_work_and_says_the_range() {
        let ok = Config::default();
        assert!(ok.validate().is_ok());
        assert!(ok.clone().ttl(0).validate().is_ok());
        assert!(ok.clone().ttl(255).validate().is_ok());
        let err = |c: Config| c.validate().unwrap_err().to_string();
        assert!(err(ok.clone().port(0)).contains("1 and 65535"));
        assert!(err(ok.clone().ttl(256)).contains("0 to 255"));
        assert!(err(ok.clone().name("x".repeat(65))).contains("64 bytes"));
        assert!(err(ok.clone().queue_capacity(0)).contains("65536"));
        assert!(err(ok.clone().queue_capacity(MAX_QUEUE_CAPACITY + 1)).contains("65536"));
        assert!(err(ok.clone().group(Ipv4Addr::LOCALHOST)).contains("224.0.0.0/4"));
        assert!(ok.clone().group6("ff12::1".parse().unwrap()).validate().is_ok());
        assert!(err(ok.clone().group6("ff05::114".parse().unwrap())).contains("ffX2::/16"));
        assert!(err(ok.clone().group6(Ipv6Addr::LOCALHOST)).contains("ffX2::/16"));
        assert!(err(ok.group6(Ipv6Addr::LOCALHOST).family(Family::V4Only)).contains("ffX2::/16"));
    }
}
