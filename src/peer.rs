//! A running peer: its sockets, helper threads, discovery, send and receive.

mod net;
mod op;
mod stats;
mod worker;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use uuid::Uuid;

use self::op::{FIRST_RETRY, Mode, Op, Retry};
pub use self::stats::Stats;
pub(crate) use self::worker::lock;
pub use self::worker::{DEDUPE_WINDOW, MAX_PEERS};
use self::worker::{Delivery, Event, PeerSet, Shared};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::wire::legacy::{self, Legacy};
use crate::wire::{self, Body};

/// Another peer in the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its UUID, new every time it starts.
    pub id: Uuid,
    /// Where it takes unicast traffic.
    pub addr: SocketAddr,
    /// Its name, possibly empty.
    pub name: String,
}

/// A message from another peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sender's UUID.
    pub sender: Uuid,
    /// The address it was sent from (the sender's unicast socket).
    pub addr: SocketAddr,
    /// The sender's name, possibly empty.
    pub name: String,
    /// The bytes, exactly as sent.
    pub data: Vec<u8>,
}

/// What became of one [`Peer::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// The message id receivers saw.
    pub id: u64,
    /// Peers that acknowledged: the message is in their queue.
    pub acked: Vec<PeerInfo>,
    /// Peers that did not acknowledge in time, or said goodbye meanwhile.
    pub missing: Vec<PeerInfo>,
    /// From the first datagram to the last acknowledgement (or the timeout).
    pub elapsed: Duration,
}

impl SendReport {
    /// True when there was at least one target and every one acknowledged.
    pub fn all_acked(&self) -> bool {
        !self.acked.is_empty() && self.missing.is_empty()
    }
}

/// A member of a multicast group: it answers probes and acknowledges
/// messages on two helper threads from [`Peer::start`] until it is dropped.
///
/// Dropping it multicasts a goodbye, wakes and joins both threads, and
/// closes its sockets.
#[derive(Debug)]
pub struct Peer {
    shared: Arc<Shared>,
    /// Held for the whole of one discovery or send, so they never interleave.
    events: Mutex<Receiver<Event>>,
    next_id: AtomicU64,
    timeouts: Timeouts,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    discover: Duration,
    quiet: Duration,
    send: Duration,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("id", &self.id).field("group", &self.group).finish()
    }
}

impl Peer {
    /// Opens the sockets, joins the group and starts the helper threads.
    ///
    /// # Errors
    /// [`Error::BadGroup`], [`Error::NoMulticastRoute`],
    /// [`Error::BadInterface`], [`Error::PortInUse`], [`Error::NameTooLong`],
    /// [`Error::Thread`], or [`Error::Io`] for any other socket failure.
    pub fn start(config: Config) -> Result<Peer> {
        if config.name.len() > wire::MAX_NAME {
            return Err(Error::NameTooLong(config.name.len()));
        }
        let group_sock = net::group_socket(&config)?;
        let uni_sock = net::unicast_socket(&config)?;
        let uni_addr =
            uni_sock.local_addr().map_err(crate::error::io("read the socket address"))?;
        let (events_tx, events) = mpsc::channel();
        let timeouts = Timeouts {
            discover: config.discover_timeout,
            quiet: config.quiet_window,
            send: config.send_timeout,
        };
        let shared = Arc::new(Shared {
            id: Uuid::new_v4(),
            name: config.name,
            group: SocketAddr::from((config.group, config.port)),
            group_sock,
            uni_sock,
            uni_addr,
            stop: Default::default(),
            active: AtomicU64::new(0),
            legacy_active: AtomicU64::new(0),
            legacy_text: Default::default(),
            counters: Default::default(),
            events: events_tx,
            queued: AtomicUsize::new(0),
            delivery: Mutex::new(Delivery {
                dedupe: Default::default(),
                queue: VecDeque::new(),
                capacity: config.queue_capacity,
                closed: false,
            }),
            arrived: Condvar::new(),
            known: Default::default(),
        });
        let mut peer = Peer {
            shared,
            events: Mutex::new(events),
            next_id: AtomicU64::new(1),
            timeouts,
            threads: Vec::with_capacity(2),
        };
        for (name, group) in [("simplep2p-group", true), ("simplep2p-unicast", false)] {
            let shared = Arc::clone(&peer.shared);
            let handle = thread::Builder::new()
                .name(name.into())
                .spawn(move || worker::run(shared, group))
                .map_err(Error::Thread)?; // Drop stops the thread already started
            peer.threads.push(handle);
        }
        Ok(peer)
    }

    /// This peer's UUID.
    pub fn id(&self) -> Uuid {
        self.shared.id
    }

    /// This peer's name, possibly empty.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The group address and port this peer joined.
    pub fn group(&self) -> SocketAddr {
        self.shared.group
    }

    /// The address of this peer's unicast socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.uni_addr
    }

    /// The peers found by the last discovery, less those that said goodbye.
    pub fn known_peers(&self) -> Vec<PeerInfo> {
        lock(&self.shared.known).clone()
    }

    /// A snapshot of this peer's counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Finds the other peers in the group, waiting at most the configured
    /// discovery timeout; see [`Peer::discover_within`].
    ///
    /// # Errors
    /// As [`Peer::discover_within`].
    pub fn discover(&self, expect: Option<usize>) -> Result<Vec<PeerInfo>> {
        self.discover_within(expect, self.timeouts.discover)
    }

    /// Multicasts a probe and collects the distinct peers that answer.
    ///
    /// Returns as soon as `expect` peers have answered (or `timeout` has
    /// passed), or, with no `expect`, once no new peer has answered for the
    /// quiet window (or `timeout` has passed). The probe is
    /// repeated with backoff meanwhile, so one lost datagram hides no peer.
    /// The result becomes the default target set of [`Peer::send`].
    ///
    /// # Errors
    /// [`Error::NoMulticastRoute`] or [`Error::Io`] if the probe cannot be sent.
    pub fn discover_within(
        &self,
        expect: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<PeerInfo>> {
        let id = self.next_id();
        let probe = self.shared.encode(id, Body::Probe { padding: wire::MAX_REPLY_BODY as u16 });
        let found = self.discover_op(Mode::Native, id, &probe, expect, timeout)?;
        *lock(&self.shared.known) = found.clone();
        Ok(found)
    }

    /// Discovery in the original SimpleP2P's protocol: multicasts
    /// `discover <self>` and counts the distinct `discovered <self> <B>`
    /// answers, from original peers and simplep2p peers alike. Returns as
    /// [`Peer::discover_within`] does. A peer's address is the one its answer
    /// came from (an original peer takes no unicast traffic there).
    ///
    /// # Errors
    /// As [`Peer::discover_within`].
    pub fn discover_legacy(
        &self,
        expect: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<PeerInfo>> {
        let probe = legacy::encode(&Legacy::Discover { asker: self.shared.id });
        self.discover_op(Mode::Legacy, self.next_id(), &probe, expect, timeout)
    }

    fn discover_op(
        &self,
        mode: Mode,
        id: u64,
        probe: &[u8],
        expect: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<PeerInfo>> {
        let start = Instant::now();
        let deadline = op::after(start, timeout);
        let op = self.begin(mode, id, None);
        let mut found = PeerSet::default();
        let mut last_new = start;
        let mut retry = Retry::new(start);
        op.multicast(probe)?;
        loop {
            if expect.is_some_and(|n| found.len() >= n) {
                break;
            }
            let now = Instant::now();
            // With a target count the caller knows whom to wait for, and
            // silence on a lossy network is no proof of absence; without
            // one, silence is the only way to know everyone has answered.
            let end = match expect {
                Some(_) => deadline,
                None => deadline.min(last_new + self.timeouts.quiet),
            };
            if now >= end {
                break;
            }
            match op.next_event(end.min(retry.at)) {
                Some(Event::Reply { id: got, peer }) if got == id => {
                    if found.add(peer) {
                        last_new = Instant::now();
                    }
                }
                Some(Event::Gone { who }) => {
                    found.remove(&who);
                }
                Some(_) => {}
                None => {
                    if Instant::now() >= retry.at {
                        op.multicast(probe)?;
                        retry.next();
                    }
                }
            }
        }
        Ok(found.into_vec())
    }

    /// Sends `data` to the peers of the last discovery and waits at most the
    /// configured send timeout; see [`Peer::send_to`].
    ///
    /// # Errors
    /// As [`Peer::send_to`].
    pub fn send(&self, data: &[u8]) -> Result<SendReport> {
        let targets = self.known_peers();
        self.send_to(data, &targets, self.timeouts.send)
    }

    /// Multicasts `data` once, then sends it again, unicast with backoff, to
    /// each target that has not acknowledged, until all have or `timeout`
    /// passes. A target that says goodbye meanwhile is reported missing.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`] before anything is sent;
    /// [`Error::NoMulticastRoute`] or [`Error::Io`] if the first copy
    /// cannot be sent.
    pub fn send_to(
        &self,
        data: &[u8],
        targets: &[PeerInfo],
        timeout: Duration,
    ) -> Result<SendReport> {
        if data.len() > wire::MAX_MESSAGE {
            return Err(Error::MessageTooLarge(data.len()));
        }
        let id = self.next_id();
        let msg = self.shared.encode(id, Body::Message { name: &self.shared.name, payload: data });
        self.send_op(self.begin(Mode::Native, id, None), id, &msg, targets, timeout)
    }

    /// A send in the original SimpleP2P's protocol: multicasts
    /// `message <self> <text>` once and counts the distinct
    /// `response <self> <B> <text>` answers from `targets`. Not sent again:
    /// original peers cannot tell a copy from a new message.
    ///
    /// # Errors
    /// [`Error::NotLegacyText`] unless `text` is one word of printable ASCII
    /// (the original keeps only the first word); then as [`Peer::send_to`].
    pub fn send_legacy(
        &self,
        text: &str,
        targets: &[PeerInfo],
        timeout: Duration,
    ) -> Result<SendReport> {
        if !legacy::is_legacy_text(text.as_bytes()) {
            return Err(Error::NotLegacyText);
        }
        if text.len() > wire::MAX_MESSAGE {
            return Err(Error::MessageTooLarge(text.len()));
        }
        let msg = legacy::encode(&Legacy::Message { sender: self.shared.id, text });
        let id = self.next_id();
        // The text a response must echo is set before responses are let in.
        self.send_op(self.begin(Mode::Legacy, id, Some(text)), id, &msg, targets, timeout)
    }

    fn send_op(
        &self,
        op: Op<'_>,
        id: u64,
        msg: &[u8],
        targets: &[PeerInfo],
        timeout: Duration,
    ) -> Result<SendReport> {
        let start = Instant::now();
        let deadline = op::after(start, timeout);
        let mut pending = PeerSet::default();
        for t in targets {
            pending.add(t.clone());
        }
        let mut acked = Vec::new();
        // Targets that said goodbye: not sent to again, but their ack may
        // still be in flight (it went out before the goodbye, to another of
        // our sockets), so it is awaited until `settle`.
        let mut leaving = PeerSet::default();
        let mut settle = start;
        let mut retry = Retry::new(start);
        op.multicast(msg)?;
        loop {
            let now = Instant::now();
            let settled = leaving.len() == 0 || now >= settle;
            if now >= deadline || (pending.len() == 0 && settled) {
                break;
            }
            let resend = op.mode() == Mode::Native && pending.len() > 0;
            let mut wake = deadline;
            if resend {
                wake = wake.min(retry.at);
            }
            if leaving.len() > 0 && settle > now {
                wake = wake.min(settle);
            }
            match op.next_event(wake) {
                Some(Event::Ack { id: got, from }) if got == id => {
                    acked.extend(pending.remove(&from).or_else(|| leaving.remove(&from)))
                }
                Some(Event::Gone { who }) => {
                    if let Some(p) = pending.remove(&who) {
                        leaving.add(p);
                        settle = Instant::now() + FIRST_RETRY;
                    }
                }
                Some(_) => {}
                None => {
                    if resend && Instant::now() >= retry.at {
                        for p in pending.iter() {
                            if self.shared.send(msg, p.addr).is_ok() {
                                stats::bump(&self.shared.counters.retransmissions);
                            }
                        }
                        retry.next();
                    }
                }
            }
        }
        let elapsed = start.elapsed();
        drop(op);
        let mut missing = pending.into_vec();
        missing.extend(leaving.into_vec());
        Ok(SendReport { id, acked, missing, elapsed })
    }

    /// Leaves the group now, from any thread: multicasts a goodbye, stops
    /// the helper threads and ends the queue, so that a `recv` blocked in
    /// another thread returns the messages already queued and then
    /// [`Error::Closed`]. Nothing is received after it, so discovery finds
    /// no one and sends are not acknowledged: drop the peer. Dropping it
    /// closes it too.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Waits for the next message.
    ///
    /// # Errors
    /// [`Error::Closed`] once the peer is closed and its queue is empty.
    pub fn recv(&self) -> Result<Message> {
        loop {
            if let Some(m) = self.next_message(None)? {
                return Ok(m);
            }
        }
    }

    /// Waits at most `timeout` for the next message; `Ok(None)` on timeout.
    ///
    /// # Errors
    /// [`Error::Closed`] once the peer is closed and its queue is empty.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Message>> {
        self.next_message(Some(op::after(Instant::now(), timeout)))
    }

    /// The next message if one is waiting; never blocks.
    ///
    /// # Errors
    /// [`Error::Closed`] once the peer is closed and its queue is empty.
    pub fn try_recv(&self) -> Result<Option<Message>> {
        self.next_message(Some(Instant::now()))
    }

    fn next_message(&self, deadline: Option<Instant>) -> Result<Option<Message>> {
        let mut delivery = lock(&self.shared.delivery);
        loop {
            if let Some(m) = delivery.queue.pop_front() {
                return Ok(Some(m));
            }
            if delivery.closed {
                return Err(Error::Closed);
            }
            let arrived = &self.shared.arrived;
            delivery = match deadline {
                None => arrived.wait(delivery).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    arrived.wait_timeout(delivery, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }

    /// Starts an operation: takes the event queue, so that operations never
    /// interleave, and lets the helpers pass on events for `id`.
    fn begin(&self, mode: Mode, id: u64, legacy_text: Option<&str>) -> Op<'_> {
        Op::begin(&self.shared, lock(&self.events), mode, id, legacy_text)
    }
}

/// The group socket's descriptor, for one purpose: shutting down its read
/// side (`shutdown(fd, SHUT_RD)`, which is async-signal-safe) makes the
/// peer close itself as [`Peer::close`] does. This is how a signal handler
/// stops a peer; see [`crate::ffi::close_on_termination`].
impl AsRawFd for Peer {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.shared.group_sock.as_raw_fd()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.shared.close();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
