//! The helper threads' side: reading datagrams and answering them.
//!
//! Both helper threads run [`run`] on their own socket and share one
//! [`Shared`]. They answer probes and acknowledge messages on their own,
//! whether or not the application is calling `recv`, and hand replies and
//! acks to the operation in progress (if any) through a bounded channel.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use socket2::SockRef;
use uuid::Uuid;

use super::stats::{Counters, bump};
use super::{Message, PeerInfo};
use crate::wire::legacy::{self, Legacy};
use crate::wire::{self, Body, Frame, WireError};

/// How many (sender, message id) pairs a peer remembers to drop duplicates.
/// A copy that arrives after 4,096 newer messages is delivered again.
pub const DEDUPE_WINDOW: usize = 4096;
/// Events held for the operation in progress; more are dropped (and the
/// operation retransmits or probes again). The queue grows as it fills:
/// a preallocated channel this deep would keep ~380 KiB resident in every
/// idle peer.
pub(crate) const EVENT_QUEUE: usize = 4096;
/// Peers one discovery (and so the default send target set) holds at most.
pub const MAX_PEERS: usize = 4096;
/// Receive buffer: one byte more than the largest valid datagram of either
/// protocol. A longer datagram is cut to this, and the decoders reject the
/// cut one by its length (a header that claims more, or legacy text over
/// its limit), so no special case is needed here.
const RECV_BUF: usize = 1 + if wire::MAX_DATAGRAM > legacy::MAX_LEGACY_DATAGRAM {
    wire::MAX_DATAGRAM
} else {
    legacy::MAX_LEGACY_DATAGRAM
};

/// What the helper threads tell the operation in progress.
#[derive(Debug)]
pub(crate) enum Event {
    /// A peer answered probe `id`.
    Reply { id: u64, peer: PeerInfo },
    /// `from` acknowledged message `id`.
    Ack { id: u64, from: Uuid },
    /// `who` said goodbye.
    Gone { who: Uuid },
}

/// State the peer's handle and its helper threads share.
pub(crate) struct Shared {
    pub id: Uuid,
    pub name: String,
    pub group: SocketAddr,
    pub group_sock: UdpSocket,
    pub uni_sock: UdpSocket,
    /// The unicast socket's address, as advertised in probe replies.
    pub uni_addr: SocketAddr,
    pub stop: AtomicBool,
    /// Id of the discovery or send in progress; 0 when none.
    pub active: AtomicU64,
    /// Id of the legacy-protocol discovery or send in progress; 0 when none.
    pub legacy_active: AtomicU64,
    /// The text of the legacy send in progress: a response must echo it.
    pub legacy_text: Mutex<String>,
    pub counters: Counters,
    pub events: Sender<Event>,
    /// Events sent and not yet taken: the cap on `events`.
    pub queued: AtomicUsize,
    pub delivery: Mutex<Delivery>,
    /// Signalled when a message is queued or the peer closes.
    pub arrived: Condvar,
    /// The peers found by the last discovery, less those that said goodbye.
    pub known: Mutex<Vec<PeerInfo>>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Sends one datagram from the unicast socket, counting it.
    pub fn send(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        let res = self.uni_sock.send_to(bytes, to).map(drop);
        match &res {
            Ok(()) => bump(&self.counters.datagrams_out),
            Err(_) => bump(&self.counters.io_errors),
        }
        res
    }

    fn frame<'a>(&self, id: u64, body: Body<'a>) -> Frame<'a> {
        Frame { flags: 0, sender: self.id, id, body }
    }

    pub fn encode(&self, id: u64, body: Body<'_>) -> Vec<u8> {
        // Every frame built here has a checked name and payload.
        self.frame(id, body).to_vec().unwrap_or_default()
    }

    fn notify(&self, event: Event) {
        // A full queue means the operation is already swamped; it probes or
        // retransmits again, so dropping here loses nothing for good.
        if self.queued.fetch_add(1, Ordering::AcqRel) >= EVENT_QUEUE {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            bump(&self.counters.events_dropped);
        } else if self.events.send(event).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Handles one datagram from `src`. Never panics on any input.
    pub fn handle(&self, buf: &[u8], src: SocketAddr) {
        bump(&self.counters.datagrams_in);
        let frame = match wire::decode(buf) {
            Ok(frame) => frame,
            Err(WireError::BadMagic) => match legacy::decode(buf) {
                Ok(datagram) => return self.handle_legacy(datagram, src),
                Err(_) => return bump(&self.counters.malformed),
            },
            Err(_) => return bump(&self.counters.malformed),
        };
        if frame.sender == self.id {
            return; // our own multicast, looped back
        }
        match frame.body {
            Body::Probe { .. } => self.answer_probe(&frame, buf.len(), src),
            Body::ProbeReply { addr, name } => {
                if self.active.load(Ordering::Acquire) == frame.id {
                    let addr = if addr.ip().is_unspecified() {
                        SocketAddr::new(src.ip(), addr.port())
                    } else {
                        addr
                    };
                    let peer = PeerInfo { id: frame.sender, addr, name: name.to_owned() };
                    self.notify(Event::Reply { id: frame.id, peer });
                }
            }
            Body::Message { name, payload } => self.deliver(&frame, name, payload, src),
            Body::Ack => {
                if self.active.load(Ordering::Acquire) == frame.id {
                    self.notify(Event::Ack { id: frame.id, from: frame.sender });
                }
            }
            Body::Goodbye => {
                lock(&self.known).retain(|p| p.id != frame.sender);
                let busy = self.active.load(Ordering::Acquire) != 0
                    || self.legacy_active.load(Ordering::Acquire) != 0;
                if busy {
                    self.notify(Event::Gone { who: frame.sender });
                }
            }
        }
    }

    /// Answers the original SimpleP2P's peers as they expect: every answer
    /// multicast to the group, where they listen.
    fn handle_legacy(&self, datagram: Legacy<'_>, src: SocketAddr) {
        let me = self.id;
        match datagram {
            Legacy::Discover { asker } if asker != me => {
                let answer = Legacy::Discovered { asker, peer: me };
                let _ = self.send(&legacy::encode(&answer), self.group);
            }
            Legacy::Message { sender, text } if sender != me => {
                let msg = Message {
                    sender,
                    addr: src,
                    name: String::new(),
                    data: text.as_bytes().to_vec(),
                };
                // No message id to dedupe on: each copy is a new message.
                let mut delivery = lock(&self.delivery);
                if self.queue(&mut delivery, msg) {
                    let answer = Legacy::Response { sender, peer: me, text };
                    let _ = self.send(&legacy::encode(&answer), self.group);
                    drop(delivery);
                    self.arrived.notify_one();
                }
            }
            Legacy::Discovered { asker, peer } if asker == me && peer != me => {
                let id = self.legacy_active.load(Ordering::Acquire);
                if id != 0 {
                    let peer = PeerInfo { id: peer, addr: src, name: String::new() };
                    self.notify(Event::Reply { id, peer });
                }
            }
            Legacy::Response { sender, peer, text } if sender == me && peer != me => {
                let id = self.legacy_active.load(Ordering::Acquire);
                if id != 0 && *lock(&self.legacy_text) == text {
                    self.notify(Event::Ack { id, from: peer });
                }
            }
            _ => {} // our own datagrams, or answers to another asker
        }
    }

    fn answer_probe(&self, probe: &Frame<'_>, probe_len: usize, src: SocketAddr) {
        let reply =
            self.frame(probe.id, Body::ProbeReply { addr: self.uni_addr, name: &self.name });
        // No amplification: a reply never outgrows the probe that asked.
        if reply.encoded_len() > probe_len {
            bump(&self.counters.probes_refused);
            return;
        }
        if let Ok(bytes) = reply.to_vec() {
            let _ = self.send(&bytes, src);
        }
    }

    /// Queues a message once and acknowledges every copy that is, or
    /// already was, in the queue. The ack goes out under the delivery lock,
    /// and so does the goodbye ([`Shared::close`]): a peer never says
    /// goodbye between queueing a message and acknowledging it. The reader
    /// is woken only after the ack is out, so that it does not delay it.
    fn deliver(&self, frame: &Frame<'_>, name: &str, payload: &[u8], src: SocketAddr) {
        let key = (frame.sender, frame.id);
        let mut delivery = lock(&self.delivery);
        let fresh = !delivery.dedupe.contains(&key);
        if fresh {
            let msg = Message {
                sender: frame.sender,
                addr: src,
                name: name.to_owned(),
                data: payload.to_vec(),
            };
            if !self.queue(&mut delivery, msg) {
                return;
            }
            delivery.dedupe.insert(key);
        } else {
            bump(&self.counters.duplicates);
        }
        let _ = self.send(&self.encode(frame.id, Body::Ack), src);
        drop(delivery);
        if fresh {
            self.arrived.notify_one();
        }
    }

    /// Puts `msg` in the application queue; false (and counted) when it is
    /// full, false when the peer is closed.
    fn queue(&self, delivery: &mut Delivery, msg: Message) -> bool {
        if delivery.closed {
            return false;
        }
        if delivery.queue.len() >= delivery.capacity {
            bump(&self.counters.queue_full);
            return false;
        }
        delivery.queue.push_back(msg);
        true
    }

    /// Leaves the group, once: multicasts the goodbye (after any ack in
    /// progress), closes the application queue so that a blocked `recv`
    /// returns, and wakes the helper threads so that they exit.
    pub fn close(&self) {
        let mut delivery = lock(&self.delivery);
        if delivery.closed {
            return;
        }
        delivery.closed = true;
        self.stop.store(true, Ordering::Release);
        let _ = self.send(&self.encode(0, Body::Goodbye), self.group);
        // Wakes the blocked reads at once, with no datagram that could be
        // lost: on Linux, shutting down the read side of a UDP socket makes
        // a blocked read return.
        for sock in [&self.group_sock, &self.uni_sock] {
            let _ = SockRef::from(sock).shutdown(std::net::Shutdown::Read);
        }
        drop(delivery);
        self.arrived.notify_all();
    }
}

/// What the helper threads deliver into, under one lock.
pub(crate) struct Delivery {
    pub dedupe: Dedupe,
    /// The application queue, at most `capacity` long.
    pub queue: VecDeque<Message>,
    pub capacity: usize,
    /// Set once by [`Shared::close`]: nothing more is queued.
    pub closed: bool,
}

/// A bounded memory of recently delivered messages.
#[derive(Default)]
pub(crate) struct Dedupe {
    seen: HashSet<(Uuid, u64)>,
    order: VecDeque<(Uuid, u64)>,
}

impl Dedupe {
    fn contains(&self, key: &(Uuid, u64)) -> bool {
        self.seen.contains(key)
    }

    fn insert(&mut self, key: (Uuid, u64)) {
        if self.order.len() == DEDUPE_WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(key);
        self.order.push_back(key);
    }
}

/// A helper thread's loop: read, handle, until the peer stops.
///
/// [`Shared::close`] shuts the read sides down to wake this loop; a read
/// side shut down by anyone else (a signal handler, through
/// [`Peer`](crate::Peer)'s `AsRawFd`) is a request to close.
pub(crate) fn run(shared: Arc<Shared>, group: bool) {
    let sock = if group { &shared.group_sock } else { &shared.uni_sock };
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        let read = crate::ffi::recv_from(sock, &mut buf);
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        match read {
            Ok((n, Some(src))) => shared.handle(&buf[..n], src),
            Ok((_, None)) => {
                shared.close();
                return;
            }
            // ICMP errors from earlier sends, interrupted reads: carry on.
            Err(_) => bump(&shared.counters.io_errors),
        }
    }
}

/// Distinct peers in arrival order, capped at [`MAX_PEERS`].
#[derive(Default)]
pub(crate) struct PeerSet {
    by_id: HashMap<Uuid, usize>,
    list: Vec<PeerInfo>,
}

impl PeerSet {
    /// Adds a peer; false if it was known already or the set is full.
    pub fn add(&mut self, peer: PeerInfo) -> bool {
        if self.by_id.contains_key(&peer.id) || self.list.len() >= MAX_PEERS {
            return false;
        }
        self.by_id.insert(peer.id, self.list.len());
        self.list.push(peer);
        true
    }

    pub fn remove(&mut self, id: &Uuid) -> Option<PeerInfo> {
        let index = self.by_id.remove(id)?;
        let peer = self.list.remove(index);
        for i in self.by_id.values_mut() {
            if *i > index {
                *i -= 1;
            }
        }
        Some(peer)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PeerInfo> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn into_vec(self) -> Vec<PeerInfo> {
        self.list
    }
}
