//! Member events to every subscriber: each [`Events`] has a queue of its
//! own, bounded, so a slow or absent reader never blocks the peer; what it
//! misses is counted and told to it as [`MemberEvent::Lagged`].
//! Each may have a file descriptor for event loops ([`Events::fd`]).

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use super::bell::{Bell, LazyBell, Light};
use super::lock;
use super::membership::{Change, Member};
use super::stats::{Counters, bump};
use crate::error::Result;

/// Events one subscriber may have unread; beyond it they are dropped.
pub const EVENT_QUEUE: usize = 1024;

/// Something that happened to the group, with when this peer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberEvent {
    /// A new member, heard from a proven address.
    Joined(Member, SystemTime),
    /// A member said goodbye.
    Left(Member, SystemTime),
    /// A member stopped beating and did not answer direct pings for three
    /// of its heartbeat intervals.
    Lost(Member, SystemTime),
    /// A member missed a heartbeat and is being pinged.
    Suspected(Member, SystemTime),
    /// A suspected member answered: it is not lost.
    Alive(Member, SystemTime),
    /// A member's name or address changed.
    Updated(Member, SystemTime),
    /// This many events were dropped because this subscriber read too
    /// slowly: re-read [`Peer::members`](crate::Peer::members).
    Lagged(u64),
}

impl MemberEvent {
    fn new(change: Change, member: Member, at: SystemTime) -> MemberEvent {
        match change {
            Change::Joined => MemberEvent::Joined(member, at),
            Change::Left => MemberEvent::Left(member, at),
            Change::Lost => MemberEvent::Lost(member, at),
            Change::Suspected => MemberEvent::Suspected(member, at),
            Change::Alive => MemberEvent::Alive(member, at),
            Change::Updated => MemberEvent::Updated(member, at),
        }
    }

    /// The member it is about (`None` for [`MemberEvent::Lagged`]).
    pub fn member(&self) -> Option<&Member> {
        match self {
            MemberEvent::Joined(m, _)
            | MemberEvent::Left(m, _)
            | MemberEvent::Lost(m, _)
            | MemberEvent::Suspected(m, _)
            | MemberEvent::Alive(m, _)
            | MemberEvent::Updated(m, _) => Some(m),
            MemberEvent::Lagged(_) => None,
        }
    }

    /// Its name in lower case, as the CLI prints it: `joined`, `left`, ...
    pub fn name(&self) -> &'static str {
        match self {
            MemberEvent::Joined(..) => "joined",
            MemberEvent::Left(..) => "left",
            MemberEvent::Lost(..) => "lost",
            MemberEvent::Suspected(..) => "suspected",
            MemberEvent::Alive(..) => "alive",
            MemberEvent::Updated(..) => "updated",
            MemberEvent::Lagged(_) => "lagged",
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<MemberEvent>,
    dropped: u64,
    closed: bool,
    /// On while there is something to read, or the peer is closed.
    light: Light,
}

impl Queue {
    fn relight(&mut self) {
        let on = !self.events.is_empty() || self.dropped > 0 || self.closed;
        self.light.set(on);
    }
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// One subscriber's events, from [`Peer::events`](crate::Peer::events).
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct Events {
    shared: Arc<Shared>,
    bell: LazyBell,
}

impl Events {
    /// The next event, waiting at most `timeout` (`None`: until the peer
    /// closes). `None` on timeout, or once the peer is closed and every
    /// event has been read.
    pub fn next_timeout(&self, timeout: Option<Duration>) -> Option<MemberEvent> {
        let deadline = timeout.map(|t| super::ops::after(Instant::now(), t));
        let mut q = lock(&self.shared.queue);
        loop {
            if q.dropped > 0 {
                let lagged = MemberEvent::Lagged(std::mem::take(&mut q.dropped));
                q.relight();
                return Some(lagged);
            }
            if let Some(e) = q.events.pop_front() {
                q.relight();
                return Some(e);
            }
            if q.closed {
                return None;
            }
            q = match deadline {
                None => self.shared.ready.wait(q).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.shared.ready.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// The next event if one is waiting; never blocks.
    pub fn try_next(&self) -> Option<MemberEvent> {
        self.next_timeout(Some(Duration::ZERO))
    }

    /// Whether the peer has closed (events already queued can still be read).
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.queue).closed
    }

    /// A file descriptor for event loops (`poll`, `epoll`, Python's
    /// `loop.add_reader`): readable exactly while an event waits for
    /// [`Events::try_next`], and for good once the peer is closed (then
    /// [`Events::is_closed`] is true: stop watching it). Read nothing from
    /// it; take the events with `try_next` until it returns `None`, which
    /// makes it unreadable again unless more arrived meanwhile.
    ///
    /// Each subscription has its own, made on the first call (a Unix
    /// socket pair: two file descriptors) and closed when the subscription
    /// is dropped; messages have [`Peer::fd`](crate::Peer::fd).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the process has no file
    /// descriptors left.
    pub fn fd(&self) -> Result<BorrowedFd<'_>> {
        let bell = self.bell.get(|b| lock(&self.shared.queue).light.attach(b))?;
        Ok(bell.fd())
    }

    /// Rings `bell` (another queue's too) instead of a bell of its own,
    /// unless [`Events::fd`] made one already.
    pub(crate) fn share_bell(&self, bell: &Arc<Bell>) {
        if self.bell.share(bell) {
            lock(&self.shared.queue).light.attach(bell);
        }
    }
}

impl Iterator for Events {
    type Item = MemberEvent;

    /// Blocks for the next event; ends once the peer is closed.
    fn next(&mut self) -> Option<MemberEvent> {
        self.next_timeout(None)
    }
}

/// Every live subscriber of one peer.
#[derive(Debug)]
pub(crate) struct Hub {
    subscribers: Mutex<Vec<Weak<Shared>>>,
    closed: Mutex<bool>,
    counters: Arc<Counters>,
}

impl Hub {
    pub fn new(counters: Arc<Counters>) -> Hub {
        Hub { subscribers: Mutex::new(Vec::new()), closed: Mutex::new(false), counters }
    }

    pub fn subscribe(&self) -> Events {
        let shared = Arc::new(Shared::default());
        // Held until it is listed, so that a close meanwhile reaches it.
        let closed = lock(&self.closed);
        {
            let mut q = lock(&shared.queue);
            q.closed = *closed;
            q.relight();
        }
        lock(&self.subscribers).push(Arc::downgrade(&shared));
        drop(closed);
        Events { shared, bell: LazyBell::default() }
    }

    /// Hands each change to every subscriber, dropping (and counting) what
    /// a full queue cannot take.
    pub fn publish(&self, changes: &mut Vec<(Change, Member)>) {
        if changes.is_empty() {
            return;
        }
        let at = SystemTime::now();
        let mut subs = lock(&self.subscribers);
        subs.retain(|w| w.strong_count() > 0);
        for (change, member) in changes.drain(..) {
            let event = MemberEvent::new(change, member, at);
            for sub in subs.iter().filter_map(Weak::upgrade) {
                let mut q = lock(&sub.queue);
                if q.events.len() >= EVENT_QUEUE {
                    q.dropped += 1;
                    bump(&self.counters.member_events_dropped);
                } else {
                    q.events.push_back(event.clone());
                }
                q.light.set(true);
                drop(q);
                sub.ready.notify_all();
            }
        }
    }

    /// The peer closed: readers get what is queued, then the end.
    pub fn close(&self) {
        *lock(&self.closed) = true;
        for sub in lock(&self.subscribers).iter().filter_map(Weak::upgrade) {
            let mut q = lock(&sub.queue);
            q.closed = true;
            q.light.set(true);
            drop(q);
            sub.ready.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use uuid::Uuid;

    use super::*;

    fn member(n: u128) -> Member {
        Member {
            id: Uuid::from_u128(n),
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], 1))],
            name: String::new(),
            first_heard: SystemTime::UNIX_EPOCH,
            last_heard: SystemTime::UNIX_EPOCH,
            heartbeat: None,
            suspected: false,
        }
    }

    #[test]
    fn every_subscriber_gets_every_event_and_a_slow_one_is_told_what_it_missed() {
        let hub = Hub::new(Arc::default());
        let fast = hub.subscribe();
        let slow = hub.subscribe();
        for i in 0..(EVENT_QUEUE as u128 + 10) {
            hub.publish(&mut vec![(Change::Joined, member(i))]);
            assert!(
                matches!(fast.try_next(), Some(MemberEvent::Joined(m, _)) if m.id == Uuid::from_u128(i))
            );
        }
        assert_eq!(slow.try_next(), Some(MemberEvent::Lagged(10)));
        assert!(
            matches!(slow.try_next(), Some(MemberEvent::Joined(m, _)) if m.id == Uuid::from_u128(0))
        );
        hub.close();
        assert_eq!(fast.next_timeout(None), None);
        assert_eq!(slow.count(), EVENT_QUEUE - 1);
        assert!(hub.subscribe().is_closed());
    }

    #[test]
    fn the_fd_is_readable_while_an_event_or_a_lag_waits_and_once_closed() {
        use crate::peer::bell::tests::readable;
        let hub = Hub::new(Arc::default());
        let events = hub.subscribe();
        let fd = events.fd().unwrap();
        assert!(!readable(fd));
        for i in 0..=EVENT_QUEUE as u128 {
            hub.publish(&mut vec![(Change::Joined, member(i))]);
        }
        assert!(readable(fd));
        assert_eq!(events.try_next(), Some(MemberEvent::Lagged(1)));
        for _ in 1..EVENT_QUEUE {
            assert!(events.try_next().is_some());
            assert!(readable(fd), "more wait");
        }
        assert!(events.try_next().is_some());
        assert!(!readable(fd));
        // A shared bell is ignored once it has its own.
        let other = Arc::new(super::super::Bell::new().unwrap());
        events.share_bell(&other);
        hub.publish(&mut vec![(Change::Left, member(0))]);
        assert!(readable(events.fd().unwrap()) && !readable(other.fd()));
        events.try_next();
        hub.close();
        assert!(readable(fd));
        assert_eq!(events.try_next(), None);
        assert!(readable(fd), "closed for good");
    }

    #[test]
    fn a_dropped_subscriber_is_forgotten() {
        let hub = Hub::new(Arc::default());
        drop(hub.subscribe());
        hub.publish(&mut vec![(Change::Lost, member(1))]);
        assert!(lock(&hub.subscribers).is_empty());
    }
}
