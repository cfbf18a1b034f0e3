//! Every socket a peer owns, and the threads that read them.
//!
//! Two sockets today: the group socket, bound to group:port and shared with
//! every peer on the host, and the unicast socket that sends everything and
//! takes the answers. Each has one reader thread that sleeps in a blocking
//! read, so an idle peer uses no CPU, and hands each datagram to a
//! [`Handler`]. Nothing here knows what a datagram means.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::keyring::Keyring;
use super::net::{self, Read};
use super::stats::{Counters, bump};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::wire::sealed::{self, Nonce};
use crate::wire::{self, legacy};

/// Receive buffer: one byte more than the largest valid datagram of either
/// protocol, sealed. A longer datagram is cut to this, and opening or the
/// decoders reject the cut one by its length, so no special case is
/// needed here.
const RECV_BUF: usize = 1
    + sealed::OVERHEAD
    + if wire::MAX_DATAGRAM > legacy::MAX_LEGACY_DATAGRAM {
        wire::MAX_DATAGRAM
    } else {
        legacy::MAX_LEGACY_DATAGRAM
    };

/// The byte of the datagram that wakes the unicast reader for its timers.
const POKE: u8 = 0x70;
/// How far the unicast socket's read timeout may be from the next timer
/// before it is set again.
const TICK_SLACK: Duration = Duration::from_millis(5);

thread_local! {
    /// Where a datagram is sealed before it is sent: one per sending
    /// thread, so sealing allocates nothing once it has grown.
    static SEALED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Which socket a datagram came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// The group socket: multicast, or anything sent to group:port.
    Group,
    /// The unicast socket: answers to what this peer sent.
    Unicast,
}

/// What the reader threads hand datagrams to.
pub(crate) trait Handler: Send + Sync + 'static {
    /// The transport whose sockets the readers read.
    fn transport(&self) -> &Transport;
    /// One datagram from `src`, opened if the peer has a key (`sealed`
    /// is then its nonce); must never panic on any input.
    fn on_datagram(&self, buf: &[u8], src: SocketAddr, via: Via, sealed: Option<Nonce>);
    /// A read side was shut down by someone other than [`Transport::stop`]
    /// (a signal handler): the peer is asked to close.
    fn on_shutdown(&self);
    /// The peer's timers, run by the unicast reader between reads: runs
    /// what is due at `now`, and says when to be called next.
    fn on_tick(&self, now: Instant) -> Option<Instant>;
}

/// The sockets of one peer.
#[derive(Debug)]
pub(crate) struct Transport {
    group: SocketAddr,
    group_sock: UdpSocket,
    unicast_sock: UdpSocket,
    /// The unicast socket's address, with the interface's address rather
    /// than 0.0.0.0 when the kernel chose the interface.
    local: SocketAddr,
    /// Set by [`Transport::stop`] before it wakes the readers.
    stopped: AtomicBool,
    /// The unicast socket's own address, for its wake-up datagram.
    wake: SocketAddrV4,
    /// Set by [`Transport::last_multicast`]: nothing is sent after it.
    finished: AtomicBool,
    /// With a group key, every datagram in and out goes through it.
    keys: Option<Arc<Keyring>>,
    counters: Arc<Counters>,
}

/// A request to close a peer that a signal handler can make: shutting down
/// the group socket's read side (`shutdown(2)` is async-signal-safe) wakes
/// its reader, and an empty datagram from the unicast socket to itself
/// (`sendto(2)` is too) wakes the other, so that one reader busy in a
/// delivery handler does not delay the close.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closer {
    pub group_fd: RawFd,
    pub unicast_fd: RawFd,
    /// Where the unicast socket takes its wake-up datagram.
    pub wake: SocketAddrV4,
}

impl Transport {
    /// Opens and joins, with errors a user can act on.
    pub fn open(
        config: &Config,
        keys: Option<Arc<Keyring>>,
        counters: Arc<Counters>,
    ) -> Result<Transport> {
        let group_sock = net::group_socket(config)?;
        let unicast_sock = net::unicast_socket(config)?;
        let bound =
            unicast_sock.local_addr().map_err(crate::error::io("read the socket address"))?;
        let local = SocketAddr::new(net::source_ip(config), bound.port());
        // Bound to 0.0.0.0, the socket takes loopback traffic too.
        let own =
            if config.interface.is_unspecified() { Ipv4Addr::LOCALHOST } else { config.interface };
        let wake = SocketAddrV4::new(own, bound.port());
        Ok(Transport {
            group: SocketAddr::from((config.group, config.port)),
            group_sock,
            unicast_sock,
            local,
            stopped: AtomicBool::new(false),
            wake,
            finished: AtomicBool::new(false),
            keys,
            counters,
        })
    }

    /// The group address and port.
    pub fn group(&self) -> SocketAddr {
        self.group
    }

    /// Where this peer takes unicast traffic, as others see it.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one datagram to one address, counting it. A stopped transport
    /// sends nothing more.
    pub fn send(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        if self.finished.load(Ordering::Acquire) {
            return Err(io::ErrorKind::NotConnected.into());
        }
        self.send_even_if_finished(bytes, to)
    }

    fn send_even_if_finished(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        let res = match &self.keys {
            None => self.unicast_sock.send_to(bytes, to).map(drop),
            Some(keys) => SEALED.with_borrow_mut(|out| {
                keys.seal(bytes, out);
                self.unicast_sock.send_to(out, to).map(drop)
            }),
        };
        match &res {
            Ok(()) => bump(&self.counters.datagrams_out),
            Err(_) => bump(&self.counters.io_errors),
        }
        res
    }

    /// Sends one datagram to the group, with the error a user can act on.
    pub fn multicast(&self, bytes: &[u8]) -> Result<()> {
        if self.finished.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.send(bytes, self.group).map_err(net::send_error)
    }

    /// Finishes the transport and multicasts `bytes` (the goodbye, if it
    /// could be encoded) as the last datagram it ever sends: no answer or
    /// retransmission follows it.
    pub fn last_multicast(&self, bytes: Option<&[u8]>) {
        if !self.finished.swap(true, Ordering::AcqRel)
            && let Some(bytes) = bytes
        {
            let _ = self.send_even_if_finished(bytes, self.group);
        }
    }

    /// The handle a signal handler uses to ask for a close.
    pub fn closer(&self) -> Closer {
        Closer {
            group_fd: self.group_sock.as_raw_fd(),
            unicast_fd: self.unicast_sock.as_raw_fd(),
            wake: self.wake,
        }
    }

    /// Stops the readers, once: shutting down the group socket's read side
    /// makes its blocked read return (Linux), and an empty datagram from
    /// the unicast socket to itself wakes the other. The unicast socket is
    /// never shut down, so its reader can use std's one-call `recv_from`
    /// (see [`net::read_unicast`]).
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = SockRef::from(&self.group_sock).shutdown(std::net::Shutdown::Read);
        let _ = self.unicast_sock.send_to(&[], self.wake);
    }

    /// Wakes the unicast reader so that it runs its timers now (they need
    /// the clock sooner than it planned): a one-byte datagram to itself.
    pub fn poke(&self) {
        let _ = self.unicast_sock.send_to(&[POKE], self.wake);
    }

    /// The keys, if the peer has any.
    pub fn keys(&self) -> Option<&Keyring> {
        self.keys.as_deref()
    }

    /// Starts one reader thread per socket.
    ///
    /// # Errors
    /// [`Error::Thread`]; threads already started are the caller's to join
    /// after [`Transport::stop`].
    pub fn spawn_readers<H: Handler>(
        handler: &Arc<H>,
        threads: &mut Vec<JoinHandle<()>>,
    ) -> Result<()> {
        for (name, group) in [("simplep2p-group", true), ("simplep2p-unicast", false)] {
            let handler = Arc::clone(handler);
            let handle = thread::Builder::new()
                .name(name.into())
                .spawn(move || read_loop(&*handler, group))
                .map_err(Error::Thread)?;
            threads.push(handle);
        }
        Ok(())
    }
}

/// A reader thread: read, hand over, until the transport stops.
fn read_loop<H: Handler>(handler: &H, group: bool) {
    let transport = handler.transport();
    let (sock, via) = if group {
        (&transport.group_sock, Via::Group)
    } else {
        (&transport.unicast_sock, Via::Unicast)
    };
    let mut buf = vec![0u8; RECV_BUF];
    // The unicast reader also runs the timers: first at once, then when
    // they ask, never sleeping past UNICAST_IDLE (the stop flag's check).
    let mut tick = (!group).then(Instant::now);
    let mut timeout = net::UNICAST_IDLE;
    loop {
        // Timers first: a starting peer's first heartbeat goes out now,
        // not after a first read's timeout.
        if let Some(t) = tick
            && Instant::now() >= t
        {
            tick = Some(
                handler
                    .on_tick(Instant::now())
                    .unwrap_or_else(|| Instant::now() + net::UNICAST_IDLE),
            );
        }
        if !group {
            let want = tick.map_or(net::UNICAST_IDLE, |t| {
                t.saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), net::UNICAST_IDLE)
            });
            // A syscall only when the timeout set would be off by more
            // than the slack: under traffic, not once per datagram.
            if want.abs_diff(timeout) > TICK_SLACK && sock.set_read_timeout(Some(want)).is_ok() {
                timeout = want;
            }
        }
        let read =
            if group { net::read(sock, &mut buf) } else { net::read_unicast(sock, &mut buf) };
        if transport.stopped.load(Ordering::Acquire) {
            return;
        }
        match read {
            // Our own empty datagram: a signal handler asks for a close.
            Read::Datagram(0, src) if !group && src == SocketAddr::V4(transport.wake) => {
                handler.on_shutdown();
                return;
            }
            // Our own poke: the timers are due sooner.
            Read::Datagram(1, src)
                if !group && src == SocketAddr::V4(transport.wake) && buf[0] == POKE =>
            {
                tick = Some(Instant::now());
            }
            Read::Datagram(n, src) => {
                bump(&transport.counters.datagrams_in);
                // Nothing looks at a datagram that does not open.
                let buf = &mut buf[..n];
                match &transport.keys {
                    Some(keys) => match keys.open(buf) {
                        Some((open, nonce)) => handler.on_datagram(open, src, via, Some(nonce)),
                        None => bump(&transport.counters.auth_failed),
                    },
                    // Sealed for a group this peer has no key to.
                    None if sealed::is_sealed(buf) => bump(&transport.counters.auth_failed),
                    None => handler.on_datagram(buf, src, via, None),
                }
            }
            Read::Shutdown => {
                handler.on_shutdown();
                return;
            }
            Read::Failed => bump(&transport.counters.io_errors),
            Read::Idle => {}
        }
    }
}
