//! The application queue: messages waiting for `recv`, the memory of
//! recent ones that drops duplicates, when each is acknowledged, and the
//! close that ends it all.
//!
//! One lock guards all of it, and every acknowledgement and the goodbye
//! are sent under that lock: a peer never says goodbye between accepting a
//! message and acknowledging it, and never acknowledges after its goodbye.
//!
//! When a message is acknowledged depends on the peer's [`AckWhen`]:
//! on arrival (it is in the queue), when the application takes it from
//! `recv`, or when a delivery handler says it has it.
//!
//! A [`Bell`] attached to it is lit while a message waits or the inbox is
//! closed: what `Peer::fd` reports.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use uuid::Uuid;

use super::bell::{Bell, Light};
use super::{Message, lock};
use crate::error::{Error, Result};

/// How many (sender, message id) pairs a peer remembers to drop duplicates.
/// A copy that arrives after 4,096 newer messages is delivered again.
pub const DEDUPE_WINDOW: usize = 4096;

/// (sender, message id): what a duplicate has in common with the original.
pub(crate) type Key = (Uuid, u64);

/// An acknowledgement ready to go: its datagram and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub bytes: Vec<u8>,
    pub to: SocketAddr,
}

/// When a message is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckWhen {
    /// As soon as it is in the queue.
    Queued,
    /// When the application takes it from `recv`.
    Taken,
}

/// What became of one [`Inbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// New and queued.
    Queued,
    /// Seen before and acknowledged: acknowledged again, not queued.
    Duplicate,
    /// Seen before and waiting to be taken: dropped, not acknowledged yet.
    Held,
    /// The queue is full: neither queued nor acknowledged.
    Full,
    /// The peer is closed: neither queued nor acknowledged.
    Closed,
}

/// What a delivery handler may do with a new message ([`Inbox::begin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Begin {
    /// New: hand it over, then call [`Inbox::finish`].
    Fresh,
    /// Seen before and still being handled: drop this copy.
    Held,
    /// Seen before and acknowledged: `ack` was sent again.
    Acked,
    Closed,
}

#[derive(Debug)]
pub(crate) struct Inbox {
    state: Mutex<State>,
    /// Signalled when a message is queued or the inbox closes.
    arrived: Condvar,
    /// Signalled when the inbox closes; apart from `arrived`, so that a
    /// waiter for the close never takes a message's wake-up from a reader.
    closed: Condvar,
    when: AckWhen,
}

#[derive(Debug)]
struct State {
    seen: Seen,
    /// At most `capacity` long.
    queue: VecDeque<Queued>,
    capacity: usize,
    /// Set once by [`Inbox::close`]: nothing more is queued or acknowledged.
    closed: bool,
    /// On while a message waits or the inbox is closed.
    light: Light,
}

impl State {
    fn relight(&mut self) {
        let on = !self.queue.is_empty() || self.closed;
        self.light.set(on);
    }
}

impl Inbox {
    pub fn new(capacity: usize, when: AckWhen) -> Inbox {
        let state = State {
            seen: Seen::default(),
            queue: VecDeque::new(),
            capacity,
            closed: false,
            light: Light::default(),
        };
        Inbox { state: Mutex::new(state), arrived: Condvar::new(), closed: Condvar::new(), when }
    }

    /// Queues a message unless `key` was seen recently (a message with no
    /// key, the original's, is always new). `send` is called under the lock
    /// with `ack` when it is due, and told whether this copy is a
    /// duplicate: at once for [`AckWhen::Queued`] or a copy of an
    /// acknowledged message, else when the message is taken.
    pub fn push(
        &self,
        key: Option<Key>,
        msg: impl FnOnce() -> Message,
        ack: Ack,
        send: impl FnOnce(&Ack, bool),
    ) -> Pushed {
        let mut state = lock(&self.state);
        if state.closed {
            return Pushed::Closed;
        }
        if let Some(acked) = key.and_then(|k| state.seen.get(&k)) {
            if !acked {
                return Pushed::Held;
            }
            send(&ack, true);
            return Pushed::Duplicate;
        }
        if state.queue.len() >= state.capacity {
            return Pushed::Full;
        }
        let now = self.when == AckWhen::Queued;
        if let Some(k) = key {
            state.seen.insert(k, now);
        }
        let owed = if now {
            send(&ack, false);
            None
        } else {
            Some(ack)
        };
        state.queue.push_back(Queued { msg: msg(), owed, key });
        state.relight();
        drop(state);
        self.arrived.notify_one();
        Pushed::Queued
    }

    /// The next message, waiting until `deadline` (`None`: for ever);
    /// `Ok(None)` once the deadline has passed. An ack it still owes goes
    /// to `send` under the lock, unless the peer is closed.
    pub fn pop(
        &self,
        deadline: Option<Instant>,
        send: impl FnOnce(&Ack),
    ) -> Result<Option<Message>> {
        let mut state = lock(&self.state);
        loop {
            if let Some(Queued { msg, owed, key }) = state.queue.pop_front() {
                state.relight();
                if let Some(ack) = owed.filter(|_| !state.closed) {
                    if let Some(k) = key {
                        state.seen.insert(k, true);
                    }
                    send(&ack);
                }
                return Ok(Some(msg));
            }
            if state.closed {
                return Err(Error::Closed);
            }
            state = match deadline {
                None => self.arrived.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    let woken = self.arrived.wait_timeout(state, left);
                    woken.unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }

    /// For a delivery handler: whether this copy is new. A new one is held
    /// (its copies dropped) until [`Inbox::finish`].
    pub fn begin(&self, key: Option<Key>, ack: &Ack, send: impl FnOnce(&Ack)) -> Begin {
        let mut state = lock(&self.state);
        if state.closed {
            return Begin::Closed;
        }
        match key.and_then(|k| state.seen.get(&k)) {
            Some(true) => {
                send(ack);
                Begin::Acked
            }
            Some(false) => Begin::Held,
            None => {
                if let Some(k) = key {
                    state.seen.insert(k, false);
                }
                Begin::Fresh
            }
        }
    }

    /// For a delivery handler: it has the message (`taken`) or refused it.
    /// A taken one is acknowledged unless the peer closed meanwhile; a
    /// refused one is forgotten, so that a copy may be offered again.
    pub fn finish(&self, key: Option<Key>, taken: bool, ack: &Ack, send: impl FnOnce(&Ack)) {
        let mut state = lock(&self.state);
        match key {
            Some(k) if taken => state.seen.insert(k, true),
            Some(k) => state.seen.forget(&k),
            None => {}
        }
        if taken && !state.closed {
            send(ack);
        }
    }

    /// Closes the inbox, once, running `goodbye` under the lock; false if it
    /// was closed already. Readers get what is queued, then [`Error::Closed`].
    pub fn close(&self, goodbye: impl FnOnce()) -> bool {
        let mut state = lock(&self.state);
        if state.closed {
            return false;
        }
        state.closed = true;
        state.relight();
        goodbye();
        drop(state);
        self.arrived.notify_all();
        self.closed.notify_all();
        true
    }

    /// Lights `bell` while a message waits or the inbox is closed.
    pub fn attach(&self, bell: &Arc<Bell>) {
        lock(&self.state).light.attach(bell);
    }

    /// Waits until the inbox is closed, at most until `deadline`; whether it is.
    pub fn wait_closed(&self, deadline: Option<Instant>) -> bool {
        let mut state = lock(&self.state);
        while !state.closed {
            state = match deadline {
                None => self.closed.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    let woken = self.closed.wait_timeout(state, left);
                    woken.unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
        true
    }
}

/// A queued message, with the ack it still owes and the key to mark.
#[derive(Debug)]
struct Queued {
    msg: Message,
    owed: Option<Ack>,
    key: Option<Key>,
}

/// A bounded memory of recent messages and whether each was acknowledged.
#[derive(Debug, Default)]
struct Seen {
    acked: HashMap<Key, bool>,
    order: VecDeque<Key>,
}

impl Seen {
    fn get(&self, key: &Key) -> Option<bool> {
        self.acked.get(key).copied()
    }

    fn insert(&mut self, key: Key, acked: bool) {
        if self.acked.insert(key, acked).is_some() {
            return; // known already: only its state changed
        }
        if self.order.len() == DEDUPE_WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.acked.remove(&old);
        }
        self.order.push_back(key);
    }

    fn forget(&mut self, key: &Key) {
        self.acked.remove(key);
        self.order.retain(|k| k != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(data: &[u8]) -> Message {
        Message {
            sender: Uuid::nil(),
            addr: "127.0.0.1:9".parse().unwrap(),
            name: String::new(),
            data: data.to_vec(),
            sent_at: None,
            deadline: None,
            received_at: std::time::SystemTime::now(),
        }
    }

    fn ack(n: u8) -> Ack {
        Ack { bytes: vec![n], to: "127.0.0.1:9".parse().unwrap() }
    }

    fn now() -> Option<Instant> {
        Some(Instant::now())
    }

    #[test]
    fn acked_on_arrival_a_duplicate_is_acknowledged_again_not_queued() {
        let inbox = Inbox::new(4, AckWhen::Queued);
        let mut sent = Vec::new();
        let key = Some((Uuid::nil(), 7));
        assert_eq!(
            inbox.push(key, || msg(b"a"), ack(1), |a, _| sent.push(a.clone())),
            Pushed::Queued
        );
        assert_eq!(
            inbox.push(key, || msg(b"a"), ack(2), |a, _| sent.push(a.clone())),
            Pushed::Duplicate
        );
        assert_eq!(sent, [ack(1), ack(2)]);
        assert_eq!(inbox.pop(now(), |_| panic!("owes nothing")).unwrap().unwrap().data, b"a");
        assert_eq!(inbox.pop(now(), |_| {}).unwrap(), None);
    }

    #[test]
    fn acked_when_taken_nothing_is_acknowledged_until_recv_takes_it() {
        let inbox = Inbox::new(4, AckWhen::Taken);
        let key = Some((Uuid::nil(), 7));
        inbox.push(key, || msg(b"a"), ack(1), |_, _| panic!("not yet"));
        // A copy while it waits in the queue: not acknowledged either.
        assert_eq!(inbox.push(key, || msg(b"a"), ack(2), |_, _| panic!("not yet")), Pushed::Held);
        let mut sent = Vec::new();
        assert_eq!(inbox.pop(now(), |a| sent.push(a.clone())).unwrap().unwrap().data, b"a");
        assert_eq!(sent, [ack(1)]);
        // Taken: a late copy is acknowledged again.
        inbox.push(key, || msg(b"a"), ack(3), |a, _| sent.push(a.clone()));
        assert_eq!(sent, [ack(1), ack(3)]);
    }

    #[test]
    fn after_close_a_queued_message_is_still_read_but_never_acknowledged() {
        let inbox = Inbox::new(4, AckWhen::Taken);
        inbox.push(None, || msg(b"a"), ack(1), |_, _| {});
        assert!(inbox.close(|| {}));
        assert_eq!(inbox.pop(None, |_| panic!("after goodbye")).unwrap().unwrap().data, b"a");
        assert!(matches!(inbox.pop(None, |_| {}), Err(Error::Closed)));
    }

    #[test]
    fn a_full_queue_neither_queues_nor_acknowledges() {
        let inbox = Inbox::new(1, AckWhen::Queued);
        assert_eq!(inbox.push(None, || msg(b"a"), ack(1), |_, _| {}), Pushed::Queued);
        assert_eq!(inbox.push(None, || msg(b"b"), ack(2), |_, _| panic!("full")), Pushed::Full);
    }

    #[test]
    fn close_says_goodbye_once_and_refuses_what_comes_after() {
        let inbox = Inbox::new(4, AckWhen::Queued);
        let mut goodbyes = 0;
        assert!(inbox.close(|| goodbyes += 1));
        assert!(!inbox.close(|| goodbyes += 1));
        assert_eq!(goodbyes, 1);
        assert!(inbox.wait_closed(None));
        assert_eq!(inbox.push(None, || msg(b"b"), ack(1), |_, _| panic!("acked")), Pushed::Closed);
    }

    #[test]
    fn a_handler_holds_copies_until_it_finishes_and_a_refusal_is_forgotten() {
        let inbox = Inbox::new(4, AckWhen::Queued);
        let key = Some((Uuid::nil(), 1));
        assert_eq!(inbox.begin(key, &ack(1), |_| panic!()), Begin::Fresh);
        assert_eq!(inbox.begin(key, &ack(1), |_| panic!()), Begin::Held);
        inbox.finish(key, false, &ack(1), |_| panic!("refused"));
        assert_eq!(inbox.begin(key, &ack(1), |_| panic!()), Begin::Fresh);
        let mut sent = 0;
        inbox.finish(key, true, &ack(1), |_| sent += 1);
        assert_eq!(inbox.begin(key, &ack(1), |_| sent += 1), Begin::Acked);
        assert_eq!(sent, 2);
    }

    #[test]
    fn a_handler_that_finishes_after_close_does_not_acknowledge() {
        let inbox = Inbox::new(4, AckWhen::Queued);
        assert_eq!(inbox.begin(None, &ack(1), |_| {}), Begin::Fresh);
        inbox.close(|| {});
        inbox.finish(None, true, &ack(1), |_| panic!("after goodbye"));
    }

    #[test]
    fn a_waiter_for_the_close_never_takes_a_readers_wake_up() {
        let inbox = Inbox::new(4, AckWhen::Queued);
        std::thread::scope(|s| {
            s.spawn(|| inbox.wait_closed(None));
            let reader = s.spawn(|| inbox.pop(None, |_| {}));
            // Whichever waits first, the message must reach the reader.
            std::thread::sleep(std::time::Duration::from_millis(20)); // both asleep
            inbox.push(None, || msg(b"a"), ack(1), |_, _| {});
            assert_eq!(reader.join().unwrap().unwrap().unwrap().data, b"a");
            inbox.close(|| {});
        });
    }

    #[test]
    fn an_attached_bell_rings_while_a_message_waits_and_for_good_once_closed() {
        use crate::peer::bell::tests::readable;
        let inbox = Inbox::new(4, AckWhen::Queued);
        let bell = Arc::new(Bell::new().unwrap());
        inbox.push(None, || msg(b"a"), ack(1), |_, _| {});
        inbox.attach(&bell); // after the message came: rings all the same
        assert!(readable(bell.fd()));
        inbox.push(None, || msg(b"b"), ack(2), |_, _| {});
        inbox.pop(now(), |_| {}).unwrap().unwrap();
        assert!(readable(bell.fd()), "b still waits");
        inbox.pop(now(), |_| {}).unwrap().unwrap();
        assert!(!readable(bell.fd()));
        assert_eq!(inbox.pop(now(), |_| {}).unwrap(), None);
        assert!(!readable(bell.fd()));
        inbox.close(|| {});
        assert!(readable(bell.fd()));
        assert!(matches!(inbox.pop(now(), |_| {}), Err(Error::Closed)));
        assert!(readable(bell.fd()), "closed for good");
    }

    #[test]
    fn the_dedupe_window_forgets_the_oldest() {
        let mut seen = Seen::default();
        for id in 0..=DEDUPE_WINDOW as u64 {
            seen.insert((Uuid::nil(), id), true);
        }
        assert_eq!(seen.get(&(Uuid::nil(), 0)), None);
        assert_eq!(seen.get(&(Uuid::nil(), 1)), Some(true));
        assert_eq!(seen.order.len(), DEDUPE_WINDOW);
    }
}
