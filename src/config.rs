//! How a [`Peer`](crate::Peer) is set up: every default in one place.

use std::net::Ipv4Addr;
use std::time::Duration;

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
    pub(crate) port: u16,
    pub(crate) interface: Ipv4Addr,
    pub(crate) ttl: u32,
    pub(crate) name: String,
    pub(crate) discover_timeout: Duration,
    pub(crate) quiet_window: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) queue_capacity: usize,
}

/// The original SimpleP2P's group, so both can share a network.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 0, 1);
/// The original SimpleP2P's port.
pub const DEFAULT_PORT: u16 = 30001;
/// Largest application queue a peer may be given.
pub const MAX_QUEUE_CAPACITY: usize = 65_536;

impl Default for Config {
    fn default() -> Self {
        Config {
            group: DEFAULT_GROUP,
            port: DEFAULT_PORT,
            interface: Ipv4Addr::UNSPECIFIED,
            ttl: 1,
            name: String::new(),
            discover_timeout: Duration::from_secs(1),
            quiet_window: Duration::from_millis(50),
            send_timeout: Duration::from_secs(1),
            queue_capacity: 256,
        }
    }
}

impl Config {
    /// The multicast group. Defaults to 239.255.0.1.
    pub fn group(mut self, group: Ipv4Addr) -> Self {
        self.group = group;
        self
    }

    /// The UDP port of the group. Defaults to 30001.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The address of the interface to use; 127.0.0.1 keeps all traffic on
    /// this host. Defaults to 0.0.0.0, the kernel's choice.
    pub fn interface(mut self, interface: Ipv4Addr) -> Self {
        self.interface = interface;
        self
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
    /// not acknowledged). Clamped to 1..=65,536. Defaults to 256, which with
    /// 16 KiB messages bounds the queue at 4 MiB.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.clamp(1, MAX_QUEUE_CAPACITY);
        self
    }

    /// The configured group port.
    pub fn port_number(&self) -> u16 {
        self.port
    }
}
