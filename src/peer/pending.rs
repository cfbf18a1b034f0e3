//! Operations in flight: which discovery or send waits for which answers.
//!
//! Each operation registers a [`Route`] and gets its own event channel, so
//! concurrent operations never wait for each other; the I/O thread looks
//! the route up for every reply or ack and pass it on. The lock is held
//! only for that look-up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::PeerInfo;
use super::lock;
use super::stats::{Counters, bump};
use crate::error::{Error, Result};

/// Events held for one operation; more are dropped and counted (the
/// operation probes or retransmits again, so nothing is lost for good).
/// The channel grows as it fills: a preallocated one this deep would keep
/// ~380 KiB resident.
pub(crate) const EVENT_QUEUE: usize = 4096;
/// How long, from its start, an operation polls for answers before it
/// blocks: on a LAN or loopback the first answer is usually that close,
/// and waking a blocked thread costs more than the wait. Measured on a
/// 2-core VM: a send to one `recv` took ~145 us p50 with 50 us of polling
/// (the answer came at ~60 us, after it, so a wake-up was paid), ~60 us
/// with 150 us. The poll yields the CPU between looks.
const SPIN: Duration = Duration::from_micros(150);

/// What the I/O thread tells an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A peer answered the probe, from an address it has proven.
    Reply(PeerInfo),
    /// A peer answered the probe from an address it has yet to prove: it
    /// counts once [`Event::Proven`] says it has.
    ReplyUnproven(PeerInfo),
    /// This peer acknowledged the message, from this proven address (`None`
    /// in the original's protocol, whose answers go to the group).
    Ack(Uuid, Option<SocketAddr>),
    /// An ack from an address that has not proven itself yet: it counts
    /// only once the address does.
    AckUnproven(Uuid, SocketAddr),
    /// This peer said goodbye, from this address.
    Gone(Uuid, SocketAddr),
    /// This peer proved that it receives what is sent to this address.
    Proven(Uuid, SocketAddr),
    /// Our own peer was closed: the operation ends with [`Error::Closed`](crate::Error::Closed).
    Closed,
}

/// A fresh probe or message id: 64 random bits from the OS, so that a
/// forger who does not see the probe or message cannot guess what its
/// answers must carry. Never 0, which goodbyes carry.
pub(crate) fn fresh_id() -> Result<u64> {
    loop {
        let id = getrandom::u64().map_err(|e| Error::Io {
            op: "draw a random id",
            source: std::io::Error::other(e.to_string()),
        })?;
        if id != 0 {
            return Ok(id);
        }
    }
}

/// Which answers an operation takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Native replies and acks that carry this id.
    Native(u64),
    /// The original's `discovered` answers to this peer.
    LegacyDiscover,
    /// The original's `response` answers that echo this text.
    LegacySend(String),
}

#[derive(Debug)]
struct Entry {
    route: Route,
    tx: Sender<Event>,
    /// Events sent and not yet taken: the cap on the channel.
    queued: Arc<AtomicUsize>,
}

/// The table of operations in flight.
/// Ids of ended operations remembered, so that an honest answer arriving
/// just after its operation ended is not taken for a forgery.
pub(crate) const RECENT: usize = 256;

#[derive(Debug)]
pub(crate) struct Pending {
    /// Ids of the last [`RECENT`] operations to end.
    recent: Mutex<std::collections::VecDeque<u64>>,
    /// `None` once closed: no operation starts after that.
    ops: Mutex<Option<HashMap<u64, Entry>>>,
    counters: Arc<Counters>,
}

impl Pending {
    pub fn new(counters: Arc<Counters>) -> Pending {
        Pending { recent: Mutex::default(), ops: Mutex::new(Some(HashMap::new())), counters }
    }

    /// Registers an operation under `key` (its probe or message id); its
    /// answers flow from here until the subscription is dropped.
    ///
    /// # Errors
    /// [`Error::Closed`] once the peer is closed.
    pub fn register(&self, key: u64, route: Route) -> Result<Subscription<'_>> {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let entry = Entry { route, tx, queued: Arc::clone(&queued) };
        let tx = entry.tx.clone();
        lock(&self.ops).as_mut().ok_or(Error::Closed)?.insert(key, entry);
        let spin_until = Instant::now() + SPIN;
        let also = std::cell::Cell::new(None);
        Ok(Subscription { pending: self, key, also, tx, rx, queued, spin_until })
    }

    /// Ends every operation in flight with [`Event::Closed`] and refuses new
    /// ones. The event bypasses the cap: it must arrive.
    pub fn close(&self) {
        if let Some(ops) = lock(&self.ops).take() {
            for entry in ops.values() {
                let _ = entry.tx.send(Event::Closed);
                entry.queued.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// A native reply or ack for operation `id`, if one waits for it; the
    /// event is built only then, so unsolicited answers cost no allocation.
    /// Whether one did.
    pub fn native(&self, id: u64, event: impl FnOnce() -> Event) -> bool {
        let ops = lock(&self.ops);
        let entry = ops.as_ref().and_then(|ops| ops.get(&id));
        let Some(entry) = entry.filter(|e| e.route == Route::Native(id)) else { return false };
        self.notify(entry, event());
        true
    }

    /// Whether an operation with this id ended lately: an answer to it is
    /// late, not forged.
    pub fn ended_lately(&self, id: u64) -> bool {
        lock(&self.recent).contains(&id)
    }

    fn ended(&self, ids: impl IntoIterator<Item = u64>) {
        let mut recent = lock(&self.recent);
        for id in ids {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(id);
        }
    }

    /// Whether a native operation with this id is in flight.
    pub fn waits_for(&self, id: u64) -> bool {
        lock(&self.ops)
            .as_ref()
            .and_then(|ops| ops.get(&id))
            .is_some_and(|e| e.route == Route::Native(id))
    }

    /// A legacy answer, to every operation whose route `wants` it.
    pub fn legacy(&self, wants: impl Fn(&Route) -> bool, event: impl Fn() -> Event) {
        for entry in lock(&self.ops).iter().flat_map(|o| o.values()).filter(|e| wants(&e.route)) {
            self.notify(entry, event());
        }
    }

    /// News for every operation in flight: a goodbye, a proven address.
    pub fn everyone(&self, event: Event) {
        for entry in lock(&self.ops).iter().flat_map(|o| o.values()) {
            self.notify(entry, event.clone());
        }
    }

    fn notify(&self, entry: &Entry, event: Event) {
        if entry.queued.fetch_add(1, Ordering::AcqRel) >= EVENT_QUEUE {
            entry.queued.fetch_sub(1, Ordering::AcqRel);
            bump(&self.counters.events_dropped);
        } else if entry.tx.send(event).is_err() {
            entry.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One operation's answers; dropping it unregisters the operation.
#[derive(Debug)]
pub(crate) struct Subscription<'a> {
    pending: &'a Pending,
    key: u64,
    /// A second key whose native answers come here too.
    also: std::cell::Cell<Option<u64>>,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    queued: Arc<AtomicUsize>,
    /// Polling ends here; after it, waits block.
    spin_until: Instant,
}

impl Subscription<'_> {
    /// Takes native answers to `key` too (one key at most): a send probes
    /// again, under its own probe id, for targets that have yet to prove
    /// their address.
    ///
    /// # Errors
    /// [`Error::Closed`] once the peer is closed.
    pub fn also(&self, key: u64) -> Result<()> {
        let entry = Entry {
            route: Route::Native(key),
            tx: self.tx.clone(),
            queued: Arc::clone(&self.queued),
        };
        lock(&self.pending.ops).as_mut().ok_or(Error::Closed)?.insert(key, entry);
        if let Some(old) = self.also.replace(Some(key))
            && let Some(ops) = lock(&self.pending.ops).as_mut()
        {
            ops.remove(&old);
        }
        Ok(())
    }

    /// The next event, or `None` once `until` has passed. In the first
    /// microseconds of an operation it polls, yielding the CPU between polls
    /// so that on a busy core the I/O thread with the answer gets to run;
    /// after that it blocks, leaving the CPU to the peers.
    pub fn next_event(&self, until: Instant) -> Option<Event> {
        loop {
            match self.rx.try_recv() {
                Ok(event) => return Some(self.taken(event)),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= self.spin_until || now >= until {
                break;
            }
            thread::yield_now();
        }
        let event = self.rx.recv_timeout(until.saturating_duration_since(Instant::now()));
        event.ok().map(|e| self.taken(e))
    }

    fn taken(&self, event: Event) -> Event {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        event
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        if let Some(ops) = lock(&self.pending.ops).as_mut() {
            ops.remove(&self.key);
            if let Some(also) = self.also.get() {
                ops.remove(&also);
            }
        }
        self.pending.ended(std::iter::once(self.key).chain(self.also.get()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerInfo {
        PeerInfo {
            id: Uuid::from_bytes([n; 16]),
            addr: "127.0.0.1:9".parse().unwrap(),
            name: String::new(),
        }
    }

    #[test]
    fn answers_reach_only_the_operation_they_are_for() {
        let pending = Pending::new(Arc::default());
        let (a, b) = (fresh_id().unwrap(), fresh_id().unwrap());
        let sub_a = pending.register(a, Route::Native(a)).unwrap();
        let sub_b = pending.register(b, Route::Native(b)).unwrap();
        pending.native(b, || Event::Reply(peer(2)));
        pending.native(99, || Event::Reply(peer(3))); // no such operation
        let now = Instant::now();
        assert_eq!(sub_a.next_event(now), None);
        assert_eq!(sub_b.next_event(now), Some(Event::Reply(peer(2))));
        let gone = Event::Gone(peer(1).id, peer(1).addr);
        pending.everyone(gone.clone());
        assert_eq!(sub_a.next_event(now), Some(gone.clone()));
        assert_eq!(sub_b.next_event(now), Some(gone));
        drop(sub_a);
        pending.native(a, || Event::Ack(peer(1).id, None)); // ended: nobody to tell
        assert!(lock(&pending.ops).as_ref().unwrap().get(&a).is_none());
    }

    #[test]
    fn legacy_answers_go_by_route() {
        let pending = Pending::new(Arc::default());
        let send = pending.register(1, Route::LegacySend("hi".into())).unwrap();
        let other = pending.register(2, Route::LegacySend("yo".into())).unwrap();
        let wants = |r: &Route| *r == Route::LegacySend("hi".into());
        pending.legacy(wants, || Event::Ack(peer(1).id, None));
        let now = Instant::now();
        assert_eq!(send.next_event(now), Some(Event::Ack(peer(1).id, None)));
        assert_eq!(other.next_event(now), None);
    }

    #[test]
    fn close_ends_every_operation_even_a_flooded_one_and_refuses_new_ones() {
        let pending = Pending::new(Arc::default());
        let sub = pending.register(1, Route::Native(1)).unwrap();
        for _ in 0..EVENT_QUEUE + 1 {
            pending.native(1, || Event::Ack(Uuid::nil(), None));
        }
        pending.close();
        let far = Instant::now() + Duration::from_secs(60);
        let last = std::iter::from_fn(|| sub.next_event(far)).take(EVENT_QUEUE + 1).last();
        assert_eq!(last, Some(Event::Closed));
        assert!(matches!(pending.register(2, Route::Native(2)), Err(Error::Closed)));
    }

    #[test]
    fn a_flooded_operation_drops_and_counts_past_its_cap() {
        let counters = Arc::new(Counters::default());
        let pending = Pending::new(Arc::clone(&counters));
        let sub = pending.register(1, Route::Native(1)).unwrap();
        for _ in 0..EVENT_QUEUE + 10 {
            pending.native(1, || Event::Ack(Uuid::nil(), None));
        }
        assert_eq!(counters.snapshot().events_dropped, 10);
        assert!(sub.next_event(Instant::now()).is_some());
    }
}
