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
    /// When a delivery handler, on its own thread, says it has it
    /// ([`Inbox::next_for_handler`], then [`Inbox::finish`]).
    Handled,
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
    fn relight(&mut self, when: AckWhen) {
        // A handler's queue is not the application's to take.
        let waiting = !self.queue.is_empty() && when != AckWhen::Handled;
        self.light.set(waiting || self.closed);
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
        state.relight(self.when);
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
                state.relight(self.when);
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

    /// For the delivery handler's thread: the next message queued for it,
    /// with its key and the ack it owes, waiting as long as it takes;
    /// `None` once the inbox is closed (what is still queued then is
    /// never acknowledged, as after a goodbye nothing is).
    pub fn next_for_handler(&self) -> Option<(Message, Option<Key>, Ack)> {
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return None;
            }
            if let Some(Queued { msg, owed: Some(ack), key }) = state.queue.pop_front() {
                state.relight(self.when);
                return Some((msg, key, ack));
            }
            state = self.arrived.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// For the delivery handler: it has the message (`taken`) or refused it.
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
        state.relight(self.when);
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
        let inbox = Inbox::new(4, AckWhen::Handled);
        let key = Some((Uuid::nil(), 1));
        let push = |sent: &mut Vec<bool>| {
            inbox.push(key, || msg(b"a"), ack(1), |_, duplicate| sent.push(duplicate))
        };
        let mut sent = Vec::new();
        assert_eq!(push(&mut sent), Pushed::Queued);
        assert_eq!(push(&mut sent), Pushed::Held);
        let (m, k, a) = inbox.next_for_handler().unwrap();
        assert_eq!((m.data.as_slice(), k), (&b"a"[..], key));
        assert_eq!(push(&mut sent), Pushed::Held, "still being handled");
        inbox.finish(k, false, &a, |_| panic!("refused"));
        assert_eq!(push(&mut sent), Pushed::Queued, "a refused one may be offered again");
        let (_, k, a) = inbox.next_for_handler().unwrap();
        let mut acked = 0;
        inbox.finish(k, true, &a, |_| acked += 1);
        assert_eq!(push(&mut sent), Pushed::Duplicate);
        assert_eq!((acked, sent), (1, vec![true]));
    }

    #[test]
    fn a_handler_queue_never_lights_the_bell_and_ends_at_the_close() {
        use crate::peer::bell::tests::readable;
        let inbox = Inbox::new(1, AckWhen::Handled);
        let bell = Arc::new(Bell::new().unwrap());
        inbox.attach(&bell);
        inbox.push(None, || msg(b"a"), ack(1), |_, _| panic!("acked before handled"));
        assert!(!readable(bell.fd()), "not the application's to take");
        let full = inbox.push(None, || msg(b"b"), ack(2), |_, _| panic!());
        assert_eq!(full, Pushed::Full);
        let (_, key, ack) = inbox.next_for_handler().unwrap();
        inbox.close(|| {});
        inbox.finish(key, true, &ack, |_| panic!("after goodbye"));
        assert!(inbox.next_for_handler().is_none());
        assert!(readable(bell.fd()));
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
