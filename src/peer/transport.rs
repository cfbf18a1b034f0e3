//! Every socket a peer owns, and the threads that read them.
//!
//! Two sockets today: the group socket, bound to group:port and shared with
//! every peer on the host, and the unicast socket that sends everything and
//! takes the answers. One I/O thread waits on both (and on a wake-up pair)
//! in `poll(2)`, so an idle peer uses no CPU, and hands each datagram to a
//! [`Handler`]. Nothing here knows what a datagram means. The peer's
//! timers have a thread of their own (`heartbeat`), so a delivery handler
//! that blocks this one never stops a heartbeat.

use std::io;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::interfaces::{self, Chosen, Family, Selector};
use super::keyring::Keyring;
use super::lock;
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

/// What the wake-up pair carries: a byte per request. Any byte wakes the
/// thread; CLOSE also asks it to close the peer (STOP's work is done by
/// the `stopped` flag, which the thread reads after every wake).
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
    /// A signal handler (through the [`Closer`]) or a broken descriptor
    /// asks the peer to close.
    fn on_shutdown(&self);
}

/// The sockets of one peer.
#[derive(Debug)]
pub(crate) struct Transport {
    group: SocketAddr,
    group_sock: UdpSocket,
    unicast_sock: UdpSocket,
    /// The address the unicast socket is bound to, when the user gave one.
    bound: Option<Ipv4Addr>,
    port: u16,
    /// What the user asked to serve and not to serve.
    want: Vec<Selector>,
    exclude: Vec<Selector>,
    /// The interfaces served now: joined on the group socket, and where
    /// each multicast goes out. Locked for each multicast (one socket
    /// option per interface, then the send).
    served: Mutex<Vec<Served>>,
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

/// An interface a peer serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Its name, e.g. `eth0`.
    pub name: String,
    /// Its index (`if_nametoindex`).
    pub index: u32,
    /// The address this peer uses there.
    pub addr: Ipv4Addr,
}

type Served = InterfaceInfo;

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
        let (want, exclude) = config.selectors()?;
        let all = interfaces::enumerate().map_err(crate::error::io("list the interfaces"))?;
        let selection = interfaces::select(&all, &want, &exclude, Family::V4Only)
            .map_err(|e| Error::Interface(e.to_string()))?;
        let group_sock = net::group_socket(config)?;
        // One address given: bound to it, as the original did.
        let bound = match &want[..] {
            [Selector::V4(addr)] => Some(*addr),
            _ => None,
        };
        let unicast_sock = net::unicast_socket(config, bound)?;
        let port =
            unicast_sock.local_addr().map_err(crate::error::io("read the socket address"))?.port();
        let (wake_rx, wake_tx) =
            UnixStream::pair().map_err(crate::error::io("make a wake-up pair"))?;
        for end in [&wake_rx, &wake_tx] {
            end.set_nonblocking(true).map_err(crate::error::io("make a wake-up pair"))?;
        }
        let transport = Transport {
            group: SocketAddr::from((config.group, config.port)),
            group_sock,
            unicast_sock,
            bound,
            port,
            want,
            exclude,
            served: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            wake_rx,
            wake_tx,
            finished: AtomicBool::new(false),
            keys,
            counters,
        };
        // One interface that cannot be joined (gone this moment) is no reason
        // to serve none of the others.
        let joined = transport.serve(&selection.chosen);
        if let (Err((name, e)), true) = (joined, transport.served().is_empty()) {
            return Err(join_error(&name, e));
        }
        if transport.served().is_empty() {
            return Err(Error::Interface(format!(
                "no interface to serve has an IPv4 address up now: {}",
                interfaces::hint(&all, Family::V4Only)
            )));
        }
        Ok(transport)
    }

    /// Serves exactly `chosen` (those with an IPv4 address) from now on:
    /// joins the group on the new ones and leaves it on those gone.
    ///
    /// # Errors
    /// The first interface that could not be joined, and why; the others
    /// are served all the same.
    fn serve(&self, chosen: &[Chosen]) -> std::result::Result<(), (String, io::Error)> {
        let next: Vec<Served> = chosen
            .iter()
            .filter_map(|c| {
                let addr = *c.v4.first()?;
                Some(Served { name: c.name.clone(), index: c.index, addr })
            })
            .collect();
        let mut served = lock(&self.served);
        let mut failed = None;
        for gone in served.iter().filter(|s| !next.iter().any(|n| n.index == s.index)) {
            let _ = net::join(&self.group_sock, self.group_ip(), gone.index, false);
        }
        let mut kept = Vec::with_capacity(next.len());
        for n in next {
            if !served.iter().any(|s| s.index == n.index)
                && let Err(e) = net::join(&self.group_sock, self.group_ip(), n.index, true)
            {
                bump(&self.counters.io_errors);
                failed.get_or_insert((n.name.clone(), e));
                continue;
            }
            kept.push(n);
        }
        // One interface: its multicast address is set once, not per send.
        if let [only] = kept.as_slice() {
            let _ = net::multicast_from(&self.unicast_sock, only.addr);
        }
        *served = kept;
        failed.map_or(Ok(()), Err)
    }

    /// Looks at the host's interfaces again and serves what the user's
    /// choice selects now; whether that changed anything.
    pub fn refresh(&self) -> bool {
        let Ok(all) = interfaces::enumerate() else {
            bump(&self.counters.io_errors);
            return false;
        };
        let selection = interfaces::reselect(&all, &self.want, &self.exclude, Family::V4Only);
        let before = self.served();
        let _ = self.serve(&selection.chosen);
        before != self.served()
    }

    /// The interfaces served now.
    pub fn served(&self) -> Vec<InterfaceInfo> {
        lock(&self.served).clone()
    }

    fn group_ip(&self) -> Ipv4Addr {
        match self.group.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The group address and port.
    pub fn group(&self) -> SocketAddr {
        self.group
    }

    /// Where this peer takes unicast traffic: the address it was given,
    /// or that of the one interface it serves; with several, 0.0.0.0 (each
    /// peer sees the address on its own segment, where our datagrams come
    /// from).
    pub fn local_addr(&self) -> SocketAddr {
        let ip = self.bound.or_else(|| match lock(&self.served).as_slice() {
            [only] => Some(only.addr),
            _ => None,
        });
        SocketAddr::from((ip.unwrap_or(Ipv4Addr::UNSPECIFIED), self.port))
    }

    /// Sends one datagram to one address, counting it. A stopped transport
    /// sends nothing more.
    pub fn send(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        if self.finished.load(Ordering::Acquire) {
            return Err(io::ErrorKind::NotConnected.into());
        }
        // To the group (the original's answers and acks): on every
        // interface served, never on whichever the last multicast left set.
        if to == self.group {
            return self.multicast_even_if_finished(bytes).map_err(|_| io::ErrorKind::Other.into());
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

    /// Sends one datagram to the group on every interface served, with the
    /// error a user can act on if it went out on none.
    pub fn multicast(&self, bytes: &[u8]) -> Result<()> {
        if self.finished.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.multicast_even_if_finished(bytes)
    }

    fn multicast_even_if_finished(&self, bytes: &[u8]) -> Result<()> {
        let served = lock(&self.served);
        let mut result = Err(Error::Interface(
            "no interface to serve is up now: wait for one, or check --interface".into(),
        ));
        for s in served.iter() {
            if served.len() > 1 && net::multicast_from(&self.unicast_sock, s.addr).is_err() {
                bump(&self.counters.io_errors);
                continue;
            }
            match self.send_even_if_finished(bytes, self.group) {
                Ok(()) => result = Ok(()),
                Err(e) if result.is_err() => result = Err(net::send_error(e)),
                Err(_) => {}
            }
        }
        result
    }

    /// Finishes the transport and multicasts `bytes` (the goodbye, if it
    /// could be encoded) as the last datagram it ever sends: no answer or
    /// retransmission follows it.
    pub fn last_multicast(&self, bytes: Option<&[u8]>) {
        if !self.finished.swap(true, Ordering::AcqRel)
            && let Some(bytes) = bytes
        {
            let _ = self.multicast_even_if_finished(bytes);
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

/// The I/O thread: wait for a datagram or a wake-up; hand over what came;
/// until the transport stops.
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
    loop {
        // Before every wait: a stop asked for by what this thread just did
        // (a signal's close, a handler's leave) wrote its byte to the pair
        // and this thread may have read it already.
        if transport.stopped.load(Ordering::Acquire) {
            return;
        }
        match poller.wait(None) {
            Ok(()) => {}
            // A descriptor closed under us: a bug, and no way to go on.
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
                bump(&transport.counters.io_errors);
                handler.on_shutdown();
                return;
            }
            // Out of memory for the moment, say: counted, and tried again.
            Err(_) => {
                bump(&transport.counters.io_errors);
                continue;
            }
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

/// An interface that could not be joined, as an error a user can act on.
fn join_error(name: &str, e: io::Error) -> Error {
    Error::Interface(format!("could not join the group on interface {name}: {e}"))
}
