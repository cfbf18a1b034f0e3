//! Every socket a peer owns, and the threads that read them.
//!
//! Two sockets today: the group socket, bound to group:port and shared with
//! every peer on the host, and the unicast socket that sends everything and
//! takes the answers. One I/O thread waits on both (and on a wake-up pair)
//! in `poll(2)`, so an idle peer uses no CPU, hands each datagram to a
//! [`Handler`] and runs the peer's timers when they are due. Nothing here
//! knows what a datagram means, and no application code runs on that
//! thread: a delivery handler has a thread of its own, so a handler that
//! blocks never holds up a heartbeat or an answer.

use std::io;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::keyring::Keyring;
use super::net::{self, Read};
use super::stats::{Counters, bump};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ffi::Poller;
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

/// Datagrams read from one socket before the other is looked at.
const BATCH: usize = 16;

/// What the wake-up pair carries: a byte per request.
const POKE: u8 = b'p';
const CLOSE: u8 = b'c';
const STOP: u8 = b's';

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

/// What the I/O thread hands datagrams to.
pub(crate) trait Handler: Send + Sync + 'static {
    /// The transport whose sockets the I/O thread reads.
    fn transport(&self) -> &Transport;
    /// One datagram from `src`, opened if the peer has a key (`sealed`
    /// is then its nonce); must never panic on any input.
    fn on_datagram(&self, buf: &[u8], src: SocketAddr, via: Via, sealed: Option<Nonce>);
    /// A read side was shut down by someone other than [`Transport::stop`]
    /// (a signal handler): the peer is asked to close.
    fn on_shutdown(&self);
    /// The peer's timers, run by the I/O thread between reads: runs what
    /// is due at `now`, and says when to be called next (`None`: only when
    /// poked).
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
    /// Set by [`Transport::stop`] before it wakes the I/O thread.
    stopped: AtomicBool,
    /// A byte written to `wake_tx` wakes the I/O thread, which reads it
    /// from `wake_rx`; a Unix socket pair, so no firewall rule or loss can
    /// swallow it. Both ends non-blocking: a full pair is already readable.
    wake_rx: UnixStream,
    wake_tx: UnixStream,
    /// Set by [`Transport::last_multicast`]: nothing is sent after it.
    finished: AtomicBool,
    /// With a group key, every datagram in and out goes through it.
    keys: Option<Arc<Keyring>>,
    counters: Arc<Counters>,
}

/// A request to close a peer that a signal handler can make: `byte`
/// written to `fd` (`write(2)` is async-signal-safe) wakes the I/O thread,
/// which closes the peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closer {
    pub fd: RawFd,
    pub byte: u8,
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
        let (wake_rx, wake_tx) =
            UnixStream::pair().map_err(crate::error::io("make a wake-up pair"))?;
        for end in [&wake_rx, &wake_tx] {
            end.set_nonblocking(true).map_err(crate::error::io("make a wake-up pair"))?;
        }
        Ok(Transport {
            group: SocketAddr::from((config.group, config.port)),
            group_sock,
            unicast_sock,
            local,
            stopped: AtomicBool::new(false),
            wake_rx,
            wake_tx,
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
        Closer { fd: self.wake_tx.as_raw_fd(), byte: CLOSE }
    }

    /// Stops the I/O thread, once.
    pub fn stop(&self) {
        if !self.stopped.swap(true, Ordering::AcqRel) {
            self.wake(STOP);
        }
    }

    /// Wakes the I/O thread so that it runs the timers now (they need the
    /// clock sooner than it planned).
    pub fn poke(&self) {
        self.wake(POKE);
    }

    fn wake(&self, byte: u8) {
        // WouldBlock: the pair is full, so the thread is woken anyway.
        let _ = (&self.wake_tx).write(&[byte]);
    }

    /// The keys, if the peer has any.
    pub fn keys(&self) -> Option<&Keyring> {
        self.keys.as_deref()
    }

    /// Starts the I/O thread.
    ///
    /// # Errors
    /// [`Error::Thread`].
    pub fn spawn_io<H: Handler>(handler: &Arc<H>) -> Result<JoinHandle<()>> {
        let handler = Arc::clone(handler);
        thread::Builder::new()
            .name("simplep2p-io".into())
            .spawn(move || io_loop(&*handler))
            .map_err(Error::Thread)
    }
}

/// The I/O thread: wait for a datagram, a wake-up or the next timer; hand
/// over what came; until the transport stops.
fn io_loop<H: Handler>(handler: &H) {
    const WAKE: usize = 0;
    let transport = handler.transport();
    let socks = [(&transport.group_sock, Via::Group), (&transport.unicast_sock, Via::Unicast)];
    let mut poller = Poller::new(&[
        transport.wake_rx.as_fd(),
        transport.group_sock.as_fd(),
        transport.unicast_sock.as_fd(),
    ]);
    let mut buf = vec![0u8; RECV_BUF];
    // The timers run first: a starting peer's first heartbeat goes out now.
    let mut tick = Some(Instant::now());
    loop {
        let now = Instant::now();
        if tick.is_some_and(|t| now >= t) {
            tick = handler.on_tick(now);
        }
        let timeout = tick.map(|t| t.saturating_duration_since(Instant::now()));
        if poller.wait(timeout).is_err() {
            // Only a descriptor closed under us: a bug, and no way to go on.
            bump(&transport.counters.io_errors);
            handler.on_shutdown();
            return;
        }
        if transport.stopped.load(Ordering::Acquire) {
            return;
        }
        if poller.ready(WAKE) {
            let mut bytes = [0u8; 64];
            while let Ok(n @ 1..) = (&transport.wake_rx).read(&mut bytes) {
                if bytes[..n].contains(&CLOSE) {
                    handler.on_shutdown();
                }
                if bytes[..n].contains(&POKE) {
                    tick = Some(Instant::now());
                }
            }
        }
        for (i, (sock, via)) in socks.iter().enumerate() {
            if !poller.ready(WAKE + 1 + i) {
                continue;
            }
            // A few at a time from each, so neither waits on the other.
            for _ in 0..BATCH {
                match net::read(sock, &mut buf) {
                    Read::Datagram(n, src) => {
                        bump(&transport.counters.datagrams_in);
                        // Nothing looks at a datagram that does not open.
                        let buf = &mut buf[..n];
                        match &transport.keys {
                            Some(keys) => match keys.open(buf) {
                                Some((open, nonce)) => {
                                    handler.on_datagram(open, src, *via, Some(nonce));
                                }
                                None => bump(&transport.counters.auth_failed),
                            },
                            // Sealed for a group this peer has no key to.
                            None if sealed::is_sealed(buf) => bump(&transport.counters.auth_failed),
                            None => handler.on_datagram(buf, src, *via, None),
                        }
                    }
                    Read::Failed => bump(&transport.counters.io_errors),
                    Read::Empty => break,
                }
            }
        }
    }
}
