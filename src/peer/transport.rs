//! Every socket a peer owns, and the threads that read them.
//!
//! Per family: group sockets, bound to group:port and shared with every
//! peer on the host (IPv4: one, joined on each interface served; IPv6: one
//! per interface), and a unicast socket that sends everything and takes
//! the answers. One I/O thread waits on all of them (and on a wake-up
//! pair) in `poll(2)`, so an idle peer uses no CPU, and hands each
//! datagram to a [`Handler`]. Nothing here knows what a datagram means. The peer's
//! timers have a thread of their own (`heartbeat`), so a delivery handler
//! that blocks this one never stops a heartbeat.

use std::io;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
/// The IPv6 group sockets changed: wait on the new set.
const WAKE: u8 = b'w';

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
    /// The IPv4 group and port; IPv4's sockets are `None` when only IPv6 is
    /// served.
    group: SocketAddrV4,
    group_sock: Option<UdpSocket>,
    unicast_sock: Option<UdpSocket>,
    /// The IPv6 group (the same port); `unicast6` is `None` when only
    /// IPv4 is served, or the host has no IPv6. The IPv6 group sockets,
    /// one per interface, are in `served`.
    group6: Ipv6Addr,
    unicast6: Option<UdpSocket>,
    /// The address each unicast socket is bound to, when the user gave one.
    bound: Option<Ipv4Addr>,
    /// With its scope id, the interface's index.
    bound6: Option<(Ipv6Addr, u32)>,
    port: u16,
    port6: u16,
    family: Family,
    /// What the user asked to serve and not to serve.
    want: Vec<Selector>,
    exclude: Vec<Selector>,
    /// The interfaces served now: joined on the group sockets, and where
    /// each multicast goes out. Locked for each multicast (IPv4: one
    /// socket option per interface, then the send).
    served: Mutex<Vec<Served>>,
    /// Bumped when the IPv6 group sockets change, for the I/O thread to
    /// wait on the new set.
    sockets_changed: AtomicU64,
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
    /// Its index (`if_nametoindex`), the scope id of its link-local
    /// addresses.
    pub index: u32,
    /// The IPv4 address this peer uses there, if it serves IPv4 there.
    pub ipv4: Option<Ipv4Addr>,
    /// The IPv6 address (link-local, unless one was named) this peer uses
    /// there, if it serves IPv6 there.
    pub ipv6: Option<Ipv6Addr>,
}

#[derive(Debug)]
struct Served {
    info: InterfaceInfo,
    /// The interface's IPv6 group socket, while it serves IPv6; shared
    /// with the I/O thread, which waits on it.
    group6: Option<Arc<UdpSocket>>,
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
        let (want, exclude) = config.selectors()?;
        // Addresses named, all of one family: the other is never served,
        // and gets no sockets.
        let only = |v4: bool| {
            !want.is_empty()
                && want.iter().all(|s| matches!(s, Selector::V4(_)) == v4 && s.is_address())
        };
        let family = match config.family {
            Family::Both if only(true) => Family::V4Only,
            Family::Both if only(false) => Family::V6Only,
            family => family,
        };
        let all = interfaces::enumerate().map_err(crate::error::io("list the interfaces"))?;
        let selection = interfaces::select(&all, &want, &exclude, family)
            .map_err(|e| Error::Interface(e.to_string()))?;
        let (group_sock, unicast_sock, bound) = if family.v4() {
            // One address given: bound to it, as the original did.
            let bound = match &want[..] {
                [Selector::V4(addr)] => Some(*addr),
                _ => None,
            };
            (Some(net::group_socket(config)?), Some(net::unicast_socket(config, bound)?), bound)
        } else {
            (None, None, None)
        };
        let port = port_of(unicast_sock.as_ref())?;
        // One IPv6 address given: bound to it, within its interface.
        let bind6 = match (&want[..], &selection.chosen[..]) {
            ([Selector::V6(..)], [only]) => only.v6.first().copied(),
            _ => None,
        };
        let unicast6 = if family.v6() {
            match net::unicast6_socket(config, bind6, port) {
                Ok(sock) => Some(sock),
                // No IPv6 in this kernel: serve IPv4, as asked by default.
                // Anything else (out of descriptors, say) is an error.
                Err(e)
                    if family == Family::Both && e.raw_os_error() == Some(libc::EAFNOSUPPORT) =>
                {
                    None
                }
                Err(e) => return Err(Error::Io { op: "open the IPv6 unicast socket", source: e }),
            }
        } else {
            None
        };
        let port6 = port_of(unicast6.as_ref())?;
        let (wake_rx, wake_tx) =
            UnixStream::pair().map_err(crate::error::io("make a wake-up pair"))?;
        for end in [&wake_rx, &wake_tx] {
            end.set_nonblocking(true).map_err(crate::error::io("make a wake-up pair"))?;
        }
        let transport = Transport {
            group: SocketAddrV4::new(config.group, config.port),
            group_sock,
            unicast_sock,
            group6: config.group6,
            unicast6,
            bound,
            bound6: bind6,
            port,
            port6,
            family,
            want,
            exclude,
            served: Mutex::new(Vec::new()),
            sockets_changed: AtomicU64::new(0),
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
            let what = match family {
                Family::Both => "an IPv4 or IPv6 link-local address",
                Family::V4Only => "an IPv4 address",
                Family::V6Only => "an IPv6 link-local address (loopback has none)",
            };
            return Err(Error::Interface(format!(
                "no interface to serve has {what} up now: {}",
                interfaces::hint(&all, family)
            )));
        }
        Ok(transport)
    }

    /// Serves exactly `chosen` (those with an address of a family served)
    /// from now on: joins the groups on the new ones and leaves them on
    /// those gone.
    ///
    /// # Errors
    /// The first interface that could not be joined, and why; the others
    /// are served all the same.
    fn serve(&self, chosen: &[Chosen]) -> std::result::Result<(), (String, io::Error)> {
        let mut served = lock(&self.served);
        let mut failed = None;
        let mut fail = |name: &str, e: io::Error| {
            bump(&self.counters.io_errors);
            failed.get_or_insert((name.to_owned(), e));
        };
        let group_ip = *self.group.ip();
        let mut next = Vec::with_capacity(chosen.len());
        let mut changed = false;
        for c in chosen {
            let before = served.iter().position(|s| s.info.index == c.index);
            let old = before.map(|at| &served[at]);
            let mut ipv4 = c.v4.first().copied().filter(|_| self.group_sock.is_some());
            if let (Some(sock), Some(_), None) =
                (&self.group_sock, ipv4, old.and_then(|o| o.info.ipv4))
                && let Err(e) = net::join(sock, group_ip, c.index, true)
            {
                fail(&c.name, e);
                ipv4 = None;
            }
            let ipv6 = c.v6.first().map(|(ip, _)| *ip).filter(|_| self.unicast6.is_some());
            let group6 = match (ipv6, old.and_then(|o| o.group6.clone())) {
                (None, _) => None,
                (Some(_), Some(kept)) => Some(kept),
                (Some(_), None) => {
                    match net::group6_socket(self.group6, self.group.port(), c.index) {
                        Ok(sock) => Some(Arc::new(sock)),
                        Err(e) => {
                            fail(&c.name, e);
                            None
                        }
                    }
                }
            };
            changed |= group6.is_some() != old.is_some_and(|o| o.group6.is_some());
            let info = InterfaceInfo {
                name: c.name.clone(),
                index: c.index,
                ipv4,
                ipv6: group6.as_ref().and(ipv6),
            };
            if info.ipv4.is_some() || info.ipv6.is_some() {
                next.push(Served { info, group6 });
            }
        }
        for gone in served.iter() {
            let kept = next.iter().find(|n| n.info.index == gone.info.index);
            if let (Some(sock), Some(_), None) =
                (&self.group_sock, gone.info.ipv4, kept.and_then(|k| k.info.ipv4))
            {
                let _ = net::join(sock, group_ip, gone.info.index, false);
            }
            changed |= gone.group6.is_some() && kept.is_none_or(|k| k.group6.is_none());
        }
        // One IPv4 interface: its multicast address is set once, not per send.
        let v4: Vec<Ipv4Addr> = next.iter().filter_map(|s| s.info.ipv4).collect();
        if let ([only], Some(sock)) = (v4.as_slice(), &self.unicast_sock) {
            let _ = net::multicast_from(sock, *only);
        }
        *served = next;
        drop(served);
        if changed {
            self.sockets_changed.fetch_add(1, Ordering::AcqRel);
            self.wake(WAKE);
        }
        failed.map_or(Ok(()), Err)
    }

    /// Looks at the host's interfaces again and serves what the user's
    /// choice selects now; whether that changed anything.
    pub fn refresh(&self) -> bool {
        let Ok(all) = interfaces::enumerate() else {
            bump(&self.counters.io_errors);
            return false;
        };
        let selection = interfaces::reselect(&all, &self.want, &self.exclude, self.family);
        let before = self.served();
        let _ = self.serve(&selection.chosen);
        before != self.served()
    }

    /// The interfaces served now.
    pub fn served(&self) -> Vec<InterfaceInfo> {
        lock(&self.served).iter().map(|s| s.info.clone()).collect()
    }

    /// The IPv6 group sockets now, for the I/O thread.
    fn group6_sockets(&self) -> Vec<Arc<UdpSocket>> {
        lock(&self.served).iter().filter_map(|s| s.group6.clone()).collect()
    }

    /// The IPv4 group and port.
    pub fn group(&self) -> SocketAddr {
        self.group.into()
    }

    /// The groups this peer meets on now: IPv4's if some interface serves
    /// IPv4, IPv6's if some serves IPv6.
    pub fn groups(&self) -> Vec<SocketAddr> {
        let served = lock(&self.served);
        let mut groups = Vec::new();
        if served.iter().any(|s| s.info.ipv4.is_some()) {
            groups.push(self.group.into());
        }
        if served.iter().any(|s| s.info.ipv6.is_some()) {
            groups.push(SocketAddr::from((self.group6, self.group.port())));
        }
        groups
    }

    /// Where this peer takes unicast traffic: the address it was given,
    /// or that of the one interface it serves; with several, 0.0.0.0 (each
    /// peer sees the address on its own segment, where our datagrams come
    /// from). IPv4's when it serves IPv4, else IPv6's.
    pub fn local_addr(&self) -> SocketAddr {
        let serves_v4 = lock(&self.served).iter().any(|s| s.info.ipv4.is_some());
        // IPv6's where there is no IPv4 to serve, now (an IPv6-only host).
        if self.unicast6.is_some() && (self.unicast_sock.is_none() || !serves_v4) {
            let (ip, scope) = self.bound6.unwrap_or((Ipv6Addr::UNSPECIFIED, 0));
            return SocketAddrV6::new(ip, self.port6, 0, scope).into();
        }
        self.local_v4().into()
    }

    /// The IPv4 unicast address: the one given, or that of the one
    /// interface serving IPv4; with several, 0.0.0.0.
    fn local_v4(&self) -> SocketAddrV4 {
        let served = lock(&self.served);
        let mut v4 = served.iter().filter_map(|s| s.info.ipv4);
        let only = match (v4.next(), v4.next()) {
            (Some(ip), None) => Some(ip),
            _ => None,
        };
        SocketAddrV4::new(self.bound.or(only).unwrap_or(Ipv4Addr::UNSPECIFIED), self.port)
    }

    /// Where this peer takes unicast traffic in `to`'s family, as a probe
    /// reply states it: no scope id, which means nothing to another host.
    pub fn local_addr_for(&self, to: SocketAddr) -> SocketAddr {
        match to {
            SocketAddr::V4(_) => self.local_v4().into(),
            SocketAddr::V6(_) => {
                let ip = self.bound6.map_or(Ipv6Addr::UNSPECIFIED, |(ip, _)| ip);
                SocketAddr::from((ip, self.port6))
            }
        }
    }

    /// Sends one datagram to one address, counting it. A stopped transport
    /// sends nothing more.
    pub fn send(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        if self.finished.load(Ordering::Acquire) {
            return Err(io::ErrorKind::NotConnected.into());
        }
        // To the IPv4 group (the original's answers and acks): on every
        // interface served, never on whichever the last multicast left set.
        if to == SocketAddr::V4(self.group) {
            return self
                .multicast_even_if_finished(bytes, false)
                .map_err(|_| io::ErrorKind::Other.into());
        }
        let from = match to {
            SocketAddr::V6(to) => self.source6(to.scope_id()),
            SocketAddr::V4(_) => None,
        };
        self.send_even_if_finished(bytes, to, from)
    }

    /// The address this peer uses on the interface with this index (an
    /// IPv6 destination's scope id), to send from.
    fn source6(&self, index: u32) -> Option<Ipv6Addr> {
        if index == 0 {
            return None;
        }
        lock(&self.served).iter().find(|s| s.info.index == index)?.info.ipv6
    }

    /// Sends to `to`, over IPv6 from `from` if given, so that a peer's
    /// datagrams on one link all come from the address the others proved
    /// (see `ffi::send_from`); if that address has just gone, from
    /// whichever the kernel picks.
    fn send_even_if_finished(
        &self,
        bytes: &[u8],
        to: SocketAddr,
        from: Option<Ipv6Addr>,
    ) -> io::Result<()> {
        let sock = match to {
            SocketAddr::V4(_) => self.unicast_sock.as_ref(),
            SocketAddr::V6(_) => self.unicast6.as_ref(),
        };
        let Some(sock) = sock else {
            // A family this peer does not serve: nothing can have come from
            // there, so only a caller's mistake gets here.
            bump(&self.counters.io_errors);
            return Err(io::ErrorKind::AddrNotAvailable.into());
        };
        let send = |out: &[u8]| match (to, from) {
            (SocketAddr::V6(to6), Some(from)) => {
                match crate::ffi::send_from(sock, out, to6, from) {
                    // The address cannot be used (just removed, or a duplicate
                    // the kernel refused): counted, and sent from whichever the
                    // kernel picks rather than not at all. Nothing went out.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EINVAL | libc::EADDRNOTAVAIL | libc::ENODEV)
                        ) =>
                    {
                        bump(&self.counters.io_errors);
                        sock.send_to(out, to).map(drop)
                    }
                    other => other.map(drop),
                }
            }
            _ => sock.send_to(out, to).map(drop),
        };
        let res = match &self.keys {
            None => send(bytes),
            Some(keys) => SEALED.with_borrow_mut(|out| {
                keys.seal(bytes, out);
                send(out)
            }),
        };
        match &res {
            Ok(()) => bump(&self.counters.datagrams_out),
            Err(_) => bump(&self.counters.io_errors),
        }
        res
    }

    /// Sends one datagram to the groups on every interface served, with
    /// the error a user can act on if it went out on none.
    pub fn multicast(&self, bytes: &[u8]) -> Result<()> {
        if self.finished.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.multicast_even_if_finished(bytes, true)
    }

    /// To IPv4's group on each interface that serves IPv4, and, with `v6`,
    /// to IPv6's on each that serves IPv6: each copy sealed on its own, so
    /// that a receiver that hears both does not take one for a replay.
    fn multicast_even_if_finished(&self, bytes: &[u8], v6: bool) -> Result<()> {
        let served = lock(&self.served);
        let mut result = Err(Error::Interface(
            "no interface to serve is up now: wait for one, or check --interface".into(),
        ));
        let mut sent = |r: io::Result<()>| match r {
            Ok(()) => result = Ok(()),
            Err(e) if result.is_err() => result = Err(net::send_error(e)),
            Err(_) => {}
        };
        let v4_count = served.iter().filter(|s| s.info.ipv4.is_some()).count();
        for s in served.iter() {
            if let (Some(ip), Some(sock)) = (s.info.ipv4, &self.unicast_sock) {
                if v4_count > 1 && net::multicast_from(sock, ip).is_err() {
                    bump(&self.counters.io_errors);
                } else {
                    sent(self.send_even_if_finished(bytes, self.group.into(), None));
                }
            }
            if v6 && s.info.ipv6.is_some() {
                let to = SocketAddrV6::new(self.group6, self.group.port(), 0, s.info.index);
                sent(self.send_even_if_finished(bytes, to.into(), s.info.ipv6));
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
            let _ = self.multicast_even_if_finished(bytes, true);
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
    let transport = handler.transport();
    let fixed: Vec<(&UdpSocket, Via)> = [
        (transport.group_sock.as_ref(), Via::Group),
        (transport.unicast_sock.as_ref(), Via::Unicast),
        (transport.unicast6.as_ref(), Via::Unicast),
    ]
    .into_iter()
    .filter_map(|(sock, via)| Some((sock?, via)))
    .collect();
    // The IPv6 group sockets come and go with interfaces: the set is read
    // again, and the poller rebuilt, when `sockets_changed` moves.
    let mut seen = None;
    let mut group6: Vec<Arc<UdpSocket>> = Vec::new();
    let mut poller = Poller::new(&[]);
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        // Before every wait: a stop asked for by what this thread just did
        // (a signal's close, a handler's leave) wrote its byte to the pair
        // and this thread may have read it already.
        if transport.stopped.load(Ordering::Acquire) {
            return;
        }
        let now = transport.sockets_changed.load(Ordering::Acquire);
        if seen != Some(now) {
            seen = Some(now);
            group6 = transport.group6_sockets();
            let mut fds = vec![transport.wake_rx.as_fd()];
            fds.extend(fixed.iter().map(|(sock, _)| sock.as_fd()));
            fds.extend(group6.iter().map(|sock| sock.as_fd()));
            poller = Poller::new(&fds);
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
        if poller.ready(0) {
            let mut bytes = [0u8; 64];
            while let Ok(n @ 1..) = (&transport.wake_rx).read(&mut bytes) {
                if bytes[..n].contains(&CLOSE) {
                    handler.on_shutdown();
                }
            }
        }
        let socks = fixed.iter().copied().chain(group6.iter().map(|s| (&**s, Via::Group)));
        for (i, (sock, via)) in socks.enumerate() {
            if poller.ready(1 + i) {
                read_batch(handler, sock, via, &mut buf);
            }
        }
    }
}

/// A few datagrams from one socket, so that no socket waits on another.
fn read_batch<H: Handler>(handler: &H, sock: &UdpSocket, via: Via, buf: &mut [u8]) {
    let transport = handler.transport();
    for _ in 0..BATCH {
        match net::read(sock, buf) {
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
            Read::Failed => bump(&transport.counters.io_errors),
            Read::Empty => break,
        }
    }
}

/// The port a socket is bound to; 0 for none.
fn port_of(sock: Option<&UdpSocket>) -> Result<u16> {
    sock.map_or(Ok(0), |s| {
        s.local_addr().map(|a| a.port()).map_err(crate::error::io("read the socket address"))
    })
}

/// An interface that could not be joined, as an error a user can act on.
fn join_error(name: &str, e: io::Error) -> Error {
    Error::Interface(format!("could not join the group on interface {name}: {e}"))
}
