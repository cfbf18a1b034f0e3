//! A running peer: the façade over the concerns its sub-modules own.
//!
//! [`Peer`] starts and stops the rest and runs discovery and send on the
//! caller's thread; everything the I/O thread hears starts in
//! [`dispatch`], and its timers in [`heartbeat`]. See the crate docs for the map.

mod addresses;
mod bell;
mod dispatch;
mod events;
mod heartbeat;
mod inbox;
mod interfaces;
mod keyring;
mod keys;
mod legacy;
mod limit;
mod members;
mod membership;
mod net;
mod ops;
mod pending;
mod replay;
mod stats;
mod transport;

use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use self::addresses::{Addresses, NoChallenge};
use self::bell::LazyBell;
pub(crate) use self::bell::{Bell, Light};
use self::events::Hub;
pub use self::events::{EVENT_QUEUE, Events, MemberEvent};
use self::heartbeat::Pacer;
pub(crate) use self::inbox::AckWhen;
pub use self::inbox::DEDUPE_WINDOW;
use self::inbox::Inbox;
pub(crate) use self::interfaces::Selector;
pub use self::interfaces::{Family, MAX_INTERFACES};
pub use self::keyring::KEY_FILE_CHECK;
use self::keyring::Keyring;
pub(crate) use self::keys::KeySource;
pub use self::keys::{Key, MAX_KEYS, read_key_file};
use self::limit::Limiter;
pub use self::limit::Rate;
use self::members::Members;
use self::membership::Table;
pub use self::membership::{MAX_MEMBER_ADDRS, MAX_MEMBERS, Member};
pub use self::ops::MAX_PEERS;
use self::ops::{Action, Discovery, Reach, SendOp};
use self::pending::{Pending, Route, fresh_id};
use self::replay::Replay;
pub use self::replay::{MAX_REPLAY_ENTRIES, REPLAY_WINDOW};
pub use self::stats::Stats;
use self::stats::{Counters, bump};
pub(crate) use self::transport::Closer;
pub use self::transport::InterfaceInfo;
use self::transport::Transport;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::wire::{self, Body, Frame};

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
    /// When the sender sent it, by the sender's clock (`None` from the
    /// original's protocol, which does not say).
    pub sent_at: Option<SystemTime>,
    /// When the sender stops waiting for acknowledgements, by its clock.
    pub deadline: Option<SystemTime>,
    /// When this peer read it from its socket, by this peer's clock.
    pub received_at: SystemTime,
}

impl Message {
    /// Whether it was read after its sender had stopped waiting, so that the
    /// sender reported it unacknowledged (FAIL): this peer was paused, say.
    /// Compares two clocks, so it is only as right as they agree (on one
    /// host, exactly).
    pub fn is_late(&self) -> bool {
        self.deadline.is_some_and(|d| self.received_at > d)
    }
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

/// A member of a multicast group: it answers probes, acknowledges messages
/// and keeps its member table on its I/O thread, and beats on its timer
/// thread, from [`Peer::start`] until it is dropped.
///
/// Dropping it multicasts a goodbye, wakes and joins its threads, and
/// closes its sockets.
#[derive(Debug)]
pub struct Peer {
    core: Arc<Core>,
    timeouts: Timeouts,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    discover: Duration,
    quiet: Duration,
    send: Duration,
}

/// What the peer's threads and the caller share: one field per concern.
#[derive(Debug)]
struct Core {
    /// Who this peer is.
    id: Uuid,
    name: String,
    /// Whether the original's protocol is spoken.
    legacy: bool,
    /// Whether probes are answered and messages taken ([`Config::receiver`]).
    receiver: bool,
    transport: Transport,
    pending: Pending,
    /// Which addresses have proven they receive there.
    addresses: Addresses,
    /// How often probes and challenges are answered.
    limiter: Limiter,
    /// With TTL 1, the subnets a probe or message may come from.
    on_link: Option<net::OnLink>,
    inbox: Inbox,
    /// Readable while a message waits ([`Peer::fd`]); made when first asked.
    bell: LazyBell,
    /// Where messages go instead of the inbox, if the application said so.
    sink: Option<Sink>,
    members: Members,
    /// Under a key, the nonces of fresh datagrams that ask something.
    replay: Mutex<Replay>,
    /// The live member table, its subscribers and its thread.
    table: Mutex<Table>,
    hub: Hub,
    pacer: Pacer,
    /// Since when the I/O thread has been in the delivery handler, deaf.
    deaf_since: Mutex<Option<Instant>>,
    /// This peer's heartbeat interval; `None`: off.
    heartbeat: Option<Duration>,
    started: Instant,
    counters: Arc<Counters>,
}

/// What a delivery handler ([`Peer::start_with_handler`]) did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// It has the message: acknowledge it.
    Ack,
    /// It has the message and takes no more: acknowledge it, then leave
    /// the group (as [`Peer::close`] does).
    AckAndLeave,
    /// It could not take the message (its output closed, say): do not
    /// acknowledge it, and leave the group, so that the sender learns at
    /// once that this peer is gone rather than waiting for its timeout.
    Leave,
}

/// The application's delivery handler, called one message at a time on the
/// I/O thread, as the message arrives. While it blocks (a full pipe) the
/// peer reads nothing, but its timers, on their own thread, still send its
/// heartbeats, and it holds nobody's silence meanwhile against them.
struct Sink {
    handler: Box<dyn Fn(&Message) -> Verdict + Send + Sync>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink(..)")
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    fn frame<'a>(&self, id: u64, body: Body<'a>) -> Frame<'a> {
        Frame { flags: 0, sender: self.id, id, body }
    }

    /// Encodes one of our own frames; a failure is a bad argument
    /// (name or payload), never an empty datagram on the wire.
    fn encode(&self, id: u64, body: Body<'_>) -> Result<Vec<u8>> {
        self.frame(id, body).to_vec().map_err(Error::from)
    }

    /// As [`Core::encode`], for answers the I/O thread sends: a frame
    /// that cannot be encoded is counted and not sent.
    fn encode_or_count(&self, frame: &Frame<'_>) -> Option<Vec<u8>> {
        let bytes = frame.to_vec().ok();
        if bytes.is_none() {
            bump(&self.counters.io_errors);
        }
        bytes
    }

    /// Runs `handler` (the application's, on the I/O thread), marking this
    /// peer deaf meanwhile: the timers hold no silence heard while it ran
    /// against anyone, and a member's time comes back when it returns.
    /// A handler that panics is taken to refuse the message and leave
    /// (counted in `io_errors`): the peer closes with a goodbye rather than
    /// live on deaf, beating but never acknowledging.
    fn deaf_while(&self, handler: impl FnOnce() -> Verdict) -> Verdict {
        let start = Instant::now();
        *lock(&self.deaf_since) = Some(start);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(handler))
            .unwrap_or_else(|_| {
                bump(&self.counters.io_errors);
                Verdict::Leave
            });
        *lock(&self.deaf_since) = None;
        let deaf = start.elapsed();
        if deaf > membership::PAUSE_GRACE {
            lock(&self.table).resumed(deaf);
            self.pacer.poke();
        }
        result
    }

    /// Leaves the group, once: the goodbye goes out under the inbox lock
    /// (after any ack in progress, before none) as the transport's last
    /// datagram, then the threads stop and operations end.
    fn close(&self) {
        let goodbye = self.encode(0, Body::Goodbye).ok();
        self.inbox.close(|| self.transport.last_multicast(goodbye.as_deref()));
        self.transport.stop();
        self.pacer.stop();
        self.pending.close();
        self.hub.close();
    }

    /// Changes the member table through `f` (given the time, by both
    /// clocks) and publishes what changed before the table is unlocked, so
    /// that every subscriber sees a member's events in the order they
    /// happened; then, if anything changed, wakes the timers if they are
    /// now due sooner.
    fn update_table<R>(
        &self,
        f: impl FnOnce(&mut Table, Instant, SystemTime, &mut membership::Changes) -> R,
    ) -> R {
        let mut changes = Vec::new();
        let (result, changed) = {
            let mut table = lock(&self.table);
            let result = f(&mut table, Instant::now(), SystemTime::now(), &mut changes);
            let changed = !changes.is_empty();
            self.hub.publish(&mut changes);
            (result, changed)
        };
        // Only a change can bring a deadline nearer (a heartbeat that
        // merely refreshes a member moves its deadline later).
        if changed {
            self.reschedule();
        }
        result
    }

    /// Whether the live table can stand in for a discovery: heartbeats on
    /// and running for two intervals, so every live member has beaten.
    fn warm(&self) -> bool {
        self.heartbeat.is_some_and(|i| self.started.elapsed() >= i * 2)
    }
}

impl Peer {
    /// Checks the configuration, opens the sockets, joins the group and
    /// starts its I/O and timer threads.
    ///
    /// # Errors
    /// Any error of [`Config::validate`]; [`Error::BadGroup`],
    /// [`Error::Interface`] (a name or address not on this host, listing
    /// those that are, or no interface up), [`Error::BadInterface`],
    /// [`Error::PortInUse`], [`Error::Thread`], or [`Error::Io`] for any
    /// other socket failure.
    pub fn start(config: Config) -> Result<Peer> {
        Peer::start_inner(config, None)
    }

    /// Starts a peer whose messages go to `handler` instead of to `recv`:
    /// it runs on the peer's I/O thread as each message arrives, one at a
    /// time, and a message is acknowledged only when it returns
    /// [`Verdict::Ack`] or [`Verdict::AckAndLeave`]. While it runs, the peer
    /// reads nothing (probes, pings and messages wait in the sockets), but
    /// its heartbeats go on from the timer thread, and no member is taken
    /// for lost for the silence meanwhile. `recv` then only waits for the
    /// peer to close. This is how the CLI's `recv` acknowledges a message
    /// only once its line is written.
    ///
    /// # Errors
    /// As [`Peer::start`].
    pub fn start_with_handler(
        config: Config,
        handler: impl Fn(&Message) -> Verdict + Send + Sync + 'static,
    ) -> Result<Peer> {
        let sink = Sink { handler: Box::new(handler) };
        Peer::start_inner(config, Some(sink))
    }

    fn start_inner(config: Config, sink: Option<Sink>) -> Result<Peer> {
        config.validate()?;
        let start_us = replay::unix_us(SystemTime::now());
        let counters = Arc::new(Counters::default());
        let keys = Keyring::new(&config.keys, Arc::clone(&counters))?.map(Arc::new);
        let transport = Transport::open(&config, keys, Arc::clone(&counters))?;
        let core = Arc::new(Core {
            id: Uuid::new_v4(),
            legacy: config.legacy_on(),
            receiver: config.receiver,
            transport,
            pending: Pending::new(Arc::clone(&counters)),
            addresses: Addresses::default(),
            limiter: Limiter::new(config.answer_rate, config.answer_rate_total),
            on_link: (config.ttl <= 1).then(net::OnLink::new),
            inbox: Inbox::new(config.queue_capacity, config.ack_when),
            bell: LazyBell::default(),
            sink,
            members: Members::default(),
            replay: Mutex::new(Replay::new(start_us)),
            table: Mutex::new(Table::new(config.heartbeat)),
            hub: Hub::new(Arc::clone(&counters)),
            pacer: Pacer::default(),
            deaf_since: Mutex::new(None),
            heartbeat: config.heartbeat,
            started: Instant::now(),
            counters,
            name: config.name,
        });
        let timeouts = Timeouts {
            discover: config.discover_timeout,
            quiet: config.quiet_window,
            send: config.send_timeout,
        };
        let mut peer = Peer { core, timeouts, threads: Vec::with_capacity(2) };
        // On failure, Drop stops and joins the threads already started.
        peer.threads.push(Transport::spawn_io(&peer.core)?);
        let core = Arc::clone(&peer.core);
        let timers = thread::Builder::new()
            .name("simplep2p-timers".into())
            .spawn(move || core.run_timers())
            .map_err(Error::Thread)?;
        peer.threads.push(timers);
        Ok(peer)
    }

    /// This peer's UUID.
    pub fn id(&self) -> Uuid {
        self.core.id
    }

    /// This peer's name, possibly empty.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The IPv4 group address and port ([`Config::group`]), whether or
    /// not IPv4 is served; see [`Peer::groups`].
    pub fn group(&self) -> SocketAddr {
        self.core.transport.group()
    }

    /// The groups this peer meets on now: the IPv4 group if some
    /// interface serves IPv4, the IPv6 group (`[ff02::114]:30001` by
    /// default) if some serves IPv6 ([`Config::family`], and which
    /// interfaces have addresses of which family).
    pub fn groups(&self) -> Vec<SocketAddr> {
        self.core.transport.groups()
    }

    /// Where this peer takes unicast traffic: the address it was given,
    /// or that of the one interface it serves; serving several, 0.0.0.0
    /// and the port (each peer reaches it at its address on that peer's
    /// own segment). IPv4's when it serves IPv4; IPv6's (`[::]:port`)
    /// when it serves only IPv6. Both are at the same port when it was
    /// free in both families.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.transport.local_addr()
    }

    /// The interfaces this peer serves now (joined to the group on, and
    /// multicasting on), with the address it uses on each. It follows
    /// interfaces that come, go or change address within 5 s.
    pub fn interfaces(&self) -> Vec<InterfaceInfo> {
        self.core.transport.served()
    }

    /// The default targets of [`Peer::send`]: once the live table is warm
    /// (heartbeats on, and this peer started two intervals ago) and not
    /// empty, its members, suspected ones included; before that, the peers
    /// found by the last discovery, less those that said goodbye.
    pub fn known_peers(&self) -> Vec<PeerInfo> {
        if self.core.warm() {
            let live: Vec<PeerInfo> =
                lock(&self.core.table).snapshot().iter().map(Member::info).collect();
            if !live.is_empty() {
                return live;
            }
        }
        self.core.members.snapshot()
    }

    /// Every member of the live table: heard lately from a proven address
    /// (by heartbeat, discovery or traffic), not lost and not gone. A
    /// member that announced no heartbeat interval (found by discovery
    /// before its first heartbeat, or one with heartbeats off) is checked
    /// on this peer's own interval, quietly: pinged when silent, with no
    /// Suspected or Alive event, and lost if it does not answer. With
    /// heartbeats off here, no member is ever checked or lost.
    pub fn members(&self) -> Vec<Member> {
        lock(&self.core.table).snapshot()
    }

    /// The member with this id, if it is one: one lookup, not a copy of
    /// the table (the C ABI asks for one member's addresses at a time).
    pub(crate) fn member(&self, id: Uuid) -> Option<Member> {
        lock(&self.core.table).member(id)
    }

    /// A new subscription to member events (joined, left, lost, ...):
    /// each call gets a queue of its own, so several parts of a program
    /// can watch. Holds at most [`EVENT_QUEUE`] unread events; beyond it
    /// they are dropped and the next one read is [`MemberEvent::Lagged`].
    ///
    /// It sees what happens from this call on, and a peer meets the others
    /// within a millisecond of [`Peer::start`]: subscribe first, then read
    /// [`Peer::members`] for those met before (one met in between shows up
    /// in both), as `simplep2p watch` does.
    pub fn events(&self) -> Events {
        self.core.hub.subscribe()
    }

    /// A file descriptor for event loops (`poll`, `epoll`, Python's
    /// `loop.add_reader`): readable exactly while a message waits for
    /// [`Peer::try_recv`], and for good once the peer is closed (then
    /// `try_recv` returns [`Error::Closed`]: stop watching it). Read
    /// nothing from it; take the messages with `try_recv` until it returns
    /// `Ok(None)`, which makes it unreadable again unless more arrived
    /// meanwhile. The peer keeps running its own threads: the descriptor
    /// only says when there is something to take.
    ///
    /// It covers messages only. Member events have one per subscription,
    /// [`Events::fd`]: watch both. (The C ABI's `sp2p_fd` covers both.)
    /// Made on the first call (a Unix socket pair: two file descriptors),
    /// closed when the peer is dropped. With a delivery handler
    /// ([`Peer::start_with_handler`]) no message is ever queued, so it
    /// becomes readable only at the close.
    ///
    /// # Errors
    /// [`Error::Io`] if the process has no file descriptors left.
    pub fn fd(&self) -> Result<BorrowedFd<'_>> {
        Ok(self.bell()?.fd())
    }

    /// The bell behind [`Peer::fd`], for others to share.
    pub(crate) fn bell(&self) -> Result<&Arc<Bell>> {
        self.core.bell.get(|b| self.core.inbox.attach(b))
    }

    /// A snapshot of this peer's counters.
    pub fn stats(&self) -> Stats {
        self.core.counters.snapshot()
    }

    /// What a signal handler needs to close this peer.
    pub(crate) fn closer(&self) -> Closer {
        self.core.transport.closer()
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
        let id = fresh_id()?;
        let probe = self.core.encode(id, Body::Probe { padding: wire::MAX_REPLY_BODY as u16 })?;
        let found = self.discover_op(Route::Native(id), id, &probe, expect, timeout)?;
        self.core.members.set(found.clone());
        self.core.update_table(|table, now, wall, changes| {
            for peer in &found {
                table.found(peer, now, wall, changes);
            }
        });
        Ok(found)
    }

    /// Discovery in the original SimpleP2P's protocol: multicasts
    /// `discover <self>` and counts the distinct `discovered <self> <B>`
    /// answers, from original peers and simplep2p peers alike. Returns as
    /// [`Peer::discover_within`] does. A peer's address is the one its answer
    /// came from (an original peer takes no unicast traffic there).
    ///
    /// # Errors
    /// [`Error::LegacyOff`] if the peer does not speak it; then as
    /// [`Peer::discover_within`].
    pub fn discover_legacy(
        &self,
        expect: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<PeerInfo>> {
        let probe = legacy::probe(&self.core)?;
        let key = fresh_id()?;
        self.discover_op(Route::LegacyDiscover, key, &probe, expect, timeout)
    }

    fn discover_op(
        &self,
        route: Route,
        key: u64,
        probe: &[u8],
        expect: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<PeerInfo>> {
        let answers = self.core.pending.register(key, route)?;
        let mut discovery = Discovery::new(Instant::now(), timeout, expect, self.timeouts.quiet);
        ops::drive(&mut discovery, &answers, |_| self.core.transport.multicast(probe))?;
        Ok(discovery.finish())
    }

    /// Sends `data` to the peers of the last discovery and waits at most the
    /// configured send timeout; see [`Peer::send_within`].
    ///
    /// # Errors
    /// As [`Peer::send_within`].
    pub fn send(&self, data: &[u8]) -> Result<SendReport> {
        self.send_within(data, self.timeouts.send)
    }

    /// Sends `data` to the peers of the last discovery, as [`Peer::send_to`]
    /// does. With none known yet it discovers first, as
    /// [`Peer::discover_and_send`] does, so that a first send is never
    /// "0 of 0" while the group receives it.
    ///
    /// # Errors
    /// As [`Peer::send_to`] and [`Peer::discover_and_send`].
    pub fn send_within(&self, data: &[u8], timeout: Duration) -> Result<SendReport> {
        let targets = self.known_peers();
        if targets.is_empty() {
            return self.discover_and_send(data, None, timeout, false);
        }
        self.send_to(data, &targets, timeout)
    }

    /// Sends `data` to the whole group by multicast, once, then again,
    /// unicast, to each peer of the last discovery that has not
    /// acknowledged; the report counts those peers. Cheaper than
    /// [`Peer::send_within`] for many peers (one datagram instead of one
    /// each), but every member of the group may deliver it, counted or not
    /// (one that joined since the last discovery, say): use it for "to
    /// everyone", and [`Peer::send_to`] for "to these only". With no peer
    /// known yet it discovers first, as [`Peer::discover_and_send`] does.
    ///
    /// # Errors
    /// As [`Peer::send_to`] and [`Peer::discover_and_send`].
    pub fn send_group(&self, data: &[u8], timeout: Duration) -> Result<SendReport> {
        let targets = self.known_peers();
        if targets.is_empty() {
            return self.discover_and_send(data, None, timeout, false);
        }
        self.send_native(data, &targets, timeout, Reach::Group)
    }

    /// Sends `data` to `targets` only: unicast to each, then again with
    /// backoff to each that has not acknowledged, until all have or
    /// `timeout` passes. Other peers in the group never receive it (though
    /// without a key anyone on the segment can read the bytes). A target
    /// that says goodbye meanwhile is reported missing.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`] before anything is sent; [`Error::Closed`]
    /// if the peer is or gets closed.
    pub fn send_to(
        &self,
        data: &[u8],
        targets: &[PeerInfo],
        timeout: Duration,
    ) -> Result<SendReport> {
        self.send_native(data, targets, timeout, Reach::Targets)
    }

    fn send_native(
        &self,
        data: &[u8],
        targets: &[PeerInfo],
        timeout: Duration,
        reach: Reach,
    ) -> Result<SendReport> {
        check_message(data, false)?;
        let id = fresh_id()?;
        let timing = Some(wire::Timing {
            sent_at_ms: unix_ms(SystemTime::now()),
            wait_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        });
        let body = Body::Message { timing, name: &self.core.name, payload: data };
        let msg = self.core.encode(id, body)?;
        self.send_op(Route::Native(id), id, &msg, targets, timeout, reach)
    }

    /// A send in the original SimpleP2P's protocol: multicasts
    /// `message <self> <text>` once and counts the distinct
    /// `response <self> <B> <text>` answers from `targets`. Not sent again:
    /// original peers cannot tell a copy from a new message.
    ///
    /// # Errors
    /// [`Error::NotLegacyText`] unless `text` is one word of printable ASCII
    /// (the original keeps only the first word); [`Error::LegacyOff`] if
    /// the peer does not speak it; then as [`Peer::send_to`].
    pub fn send_legacy(
        &self,
        text: &str,
        targets: &[PeerInfo],
        timeout: Duration,
    ) -> Result<SendReport> {
        let msg = legacy::message(&self.core, text)?;
        let id = fresh_id()?;
        // Registered before the message goes out, so no response is missed.
        self.send_op(Route::LegacySend(text.to_owned()), id, &msg, targets, timeout, Reach::Legacy)
    }

    fn send_op(
        &self,
        route: Route,
        id: u64,
        msg: &[u8],
        targets: &[PeerInfo],
        timeout: Duration,
        reach: Reach,
    ) -> Result<SendReport> {
        let answers = self.core.pending.register(id, route)?;
        // Its own probe, drawn only if a target must prove its address again.
        let mut probe: Option<Vec<u8>> = None;
        let mut probed: Option<Instant> = None;
        let mut send = SendOp::new(Instant::now(), timeout, targets, reach);
        let core = &self.core;
        ops::drive(&mut send, &answers, |action| match action {
            Action::Multicast => core.transport.multicast(msg),
            // A message goes to an address only once its peer has proven it
            // receives there; until then the address is challenged, and the
            // proof brings the operation back to send (Event::Proven). When
            // lost challenges have spent its allowance, a probe asks every
            // peer to answer again, and each answer pays for a challenge.
            Action::Unicast(who, to) | Action::Resend(who, to)
                if !core.addresses.is_proven(to, who) =>
            {
                let now = Instant::now();
                let spent = dispatch::challenge(core, to, who, now) == Err(NoChallenge::Spent);
                if spent && probed.is_none_or(|at| now >= at + ops::FIRST_RETRY) {
                    probed = Some(now);
                    if probe.is_none() {
                        let probe_id = fresh_id()?;
                        answers.also(probe_id)?;
                        let padding = wire::MAX_REPLY_BODY as u16;
                        probe = Some(core.encode(probe_id, Body::Probe { padding })?);
                    }
                    if let Some(bytes) = &probe {
                        let _ = core.transport.multicast(bytes);
                    }
                }
                Ok(())
            }
            Action::Unicast(_, to) => {
                core.transport.send(msg, to).map_err(crate::error::io("send"))
            }
            Action::Resend(_, to) => {
                core.transport.send(msg, to).map_err(crate::error::io("send again"))?;
                bump(&core.counters.retransmissions);
                Ok(())
            }
        })?;
        Ok(send.finish(id))
    }

    /// Discovers, then sends to the whole group: the CLI's `send`.
    /// Discovery may take three quarters of `timeout`, so that the message
    /// still reaches the peers found when fewer than `expect` answer; the
    /// send takes what is left. The message is multicast once, then sent
    /// again, unicast, to each peer found that has not acknowledged; the
    /// report counts the peers found. With nobody found, nothing is sent and
    /// the report is empty.
    ///
    /// # Errors
    /// As [`check_message`] before anything is sent; then as
    /// [`Peer::discover_within`] and [`Peer::send_to`], or their legacy
    /// forms when `legacy` is set.
    pub fn discover_and_send(
        &self,
        data: &[u8],
        expect: Option<usize>,
        timeout: Duration,
        legacy: bool,
    ) -> Result<SendReport> {
        check_message(data, legacy)?;
        let start = Instant::now();
        let discovery = timeout - timeout / 4;
        let found = if legacy {
            self.discover_legacy(expect, discovery)?
        } else {
            self.discover_within(expect, discovery)?
        };
        if found.is_empty() {
            let elapsed = start.elapsed();
            return Ok(SendReport { id: 0, acked: vec![], missing: vec![], elapsed });
        }
        let left = timeout.saturating_sub(start.elapsed());
        if legacy {
            // Checked above: legacy text is printable ASCII.
            self.send_legacy(&String::from_utf8_lossy(data), &found, left)
        } else {
            self.send_native(data, &found, left, Reach::Group)
        }
    }

    /// Leaves the group now, from any thread: multicasts a goodbye, stops
    /// its threads and ends the queue, so that a `recv` blocked in
    /// another thread returns the messages already queued and then
    /// [`Error::Closed`]. Nothing is received after it, so discovery finds
    /// no one and sends are not acknowledged: drop the peer. Dropping it
    /// closes it too.
    pub fn close(&self) {
        self.core.close();
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
        self.next_message(Some(ops::after(Instant::now(), timeout)))
    }

    /// The next message if one is waiting; never blocks.
    ///
    /// # Errors
    /// [`Error::Closed`] once the peer is closed and its queue is empty.
    pub fn try_recv(&self) -> Result<Option<Message>> {
        self.next_message(Some(Instant::now()))
    }

    /// Takes the next message, sending the ack it still owes if the peer
    /// acknowledges on `recv` ([`Config::ack_on_recv`]). With a delivery
    /// handler there is none to take: it only waits for the close.
    fn next_message(&self, deadline: Option<Instant>) -> Result<Option<Message>> {
        if self.core.sink.is_some() {
            return if self.core.inbox.wait_closed(deadline) {
                Err(Error::Closed)
            } else {
                Ok(None)
            };
        }
        self.core.inbox.pop(deadline, |ack| {
            let _ = self.core.transport.send(&ack.bytes, ack.to);
        })
    }

    /// Waits until the peer is closed (by [`Peer::close`], a delivery
    /// handler, or a signal through [`close_on_termination`](crate::close_on_termination)),
    /// at most `timeout` (`None`: for ever). Returns whether it is closed.
    pub fn wait_closed(&self, timeout: Option<Duration>) -> bool {
        self.core.inbox.wait_closed(timeout.map(|t| ops::after(Instant::now(), t)))
    }
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    let ms = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// Whether `data` can be sent, checked before any socket is opened: at most
/// [`wire::MAX_MESSAGE`] bytes, and for the original's protocol
/// (`legacy`) one word of printable ASCII.
///
/// # Errors
/// [`Error::MessageTooLarge`] or [`Error::NotLegacyText`].
pub fn check_message(data: &[u8], legacy: bool) -> Result<()> {
    if legacy {
        return legacy::check_text(data);
    }
    if data.len() > wire::MAX_MESSAGE {
        return Err(Error::MessageTooLarge(data.len()));
    }
    Ok(())
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.core.close();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
