//! The application queue: messages waiting for `recv`, the memory of
//! recent ones that drops duplicates, and the close that ends both.
//!
//! One lock guards all of it, and the caller's acknowledgement and goodbye
//! are sent under that lock: a peer never says goodbye between queueing a
//! message and acknowledging it, and never acknowledges after its goodbye.

use std::collections::{HashSet, VecDeque};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use uuid::Uuid;

use super::{Message, lock};
use crate::error::{Error, Result};

/// How many (sender, message id) pairs a peer remembers to drop duplicates.
/// A copy that arrives after 4,096 newer messages is delivered again.
pub const DEDUPE_WINDOW: usize = 4096;

/// What became of one [`Inbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// New, queued and acknowledged.
    Queued,
    /// Seen before: acknowledged again, not queued.
    Duplicate,
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
}

#[derive(Debug)]
struct State {
    dedupe: Dedupe,
    /// At most `capacity` long.
    queue: VecDeque<Message>,
    capacity: usize,
    /// Set once by [`Inbox::close`]: nothing more is queued.
    closed: bool,
}

impl Inbox {
    pub fn new(capacity: usize) -> Inbox {
        let state =
            State { dedupe: Dedupe::default(), queue: VecDeque::new(), capacity, closed: false };
        Inbox { state: Mutex::new(state), arrived: Condvar::new() }
    }

    /// Queues `msg` unless `key` (sender, message id) was queued recently,
    /// and runs `ack` under the lock when it is queued or a duplicate, told
    /// which (so that what is counted is counted before the ack is out). A
    /// message with no key (the original's protocol has no ids) is always
    /// new. The reader is woken only after `ack`, so that it does not delay it.
    pub fn push(
        &self,
        key: Option<(Uuid, u64)>,
        msg: impl FnOnce() -> Message,
        ack: impl FnOnce(Pushed),
    ) -> Pushed {
        let mut state = lock(&self.state);
        if state.closed {
            return Pushed::Closed;
        }
        if key.is_some_and(|k| state.dedupe.contains(&k)) {
            ack(Pushed::Duplicate);
            return Pushed::Duplicate;
        }
        if state.queue.len() >= state.capacity {
            return Pushed::Full;
        }
        state.queue.push_back(msg());
        if let Some(k) = key {
            state.dedupe.insert(k);
        }
        ack(Pushed::Queued);
        drop(state);
        self.arrived.notify_one();
        Pushed::Queued
    }

    /// Closes the inbox, once, running `goodbye` under the lock; false if it
    /// was closed already. Readers get what is queued, then [`Error::Closed`].
    pub fn close(&self, goodbye: impl FnOnce()) -> bool {
        let mut state = lock(&self.state);
        if state.closed {
            return false;
        }
        state.closed = true;
        goodbye();
        drop(state);
        self.arrived.notify_all();
        true
    }

    /// The next message, waiting until `deadline` (`None`: for ever);
    /// `Ok(None)` once the deadline has passed.
    pub fn pop(&self, deadline: Option<Instant>) -> Result<Option<Message>> {
        let mut state = lock(&self.state);
        loop {
            if let Some(m) = state.queue.pop_front() {
                return Ok(Some(m));
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
}

/// A bounded memory of recently queued messages.
#[derive(Debug, Default)]
struct Dedupe {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(data: &[u8]) -> Message {
        Message {
            sender: Uuid::nil(),
            addr: "127.0.0.1:9".parse().unwrap(),
            name: String::new(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn a_duplicate_is_acknowledged_not_queued() {
        let inbox = Inbox::new(4);
        let mut acks = 0;
        let key = Some((Uuid::nil(), 7));
        assert_eq!(inbox.push(key, || msg(b"a"), |_| acks += 1), Pushed::Queued);
        assert_eq!(inbox.push(key, || msg(b"a"), |_| acks += 1), Pushed::Duplicate);
        assert_eq!(acks, 2);
        assert_eq!(inbox.pop(Some(Instant::now())).unwrap().unwrap().data, b"a");
        assert_eq!(inbox.pop(Some(Instant::now())).unwrap(), None);
    }

    #[test]
    fn a_full_queue_neither_queues_nor_acknowledges() {
        let inbox = Inbox::new(1);
        assert_eq!(inbox.push(None, || msg(b"a"), |_| {}), Pushed::Queued);
        let mut acked = false;
        assert_eq!(inbox.push(None, || msg(b"b"), |_| acked = true), Pushed::Full);
        assert!(!acked);
    }

    #[test]
    fn close_says_goodbye_once_then_drains_then_ends() {
        let inbox = Inbox::new(4);
        inbox.push(None, || msg(b"a"), |_| {});
        let mut goodbyes = 0;
        assert!(inbox.close(|| goodbyes += 1));
        assert!(!inbox.close(|| goodbyes += 1));
        assert_eq!(goodbyes, 1);
        assert_eq!(inbox.push(None, || msg(b"b"), |_| panic!("acked")), Pushed::Closed);
        assert_eq!(inbox.pop(None).unwrap().unwrap().data, b"a");
        assert!(matches!(inbox.pop(None), Err(Error::Closed)));
    }

    #[test]
    fn the_dedupe_window_forgets_the_oldest() {
        let mut d = Dedupe::default();
        for id in 0..=DEDUPE_WINDOW as u64 {
            d.insert((Uuid::nil(), id));
        }
        assert!(!d.contains(&(Uuid::nil(), 0)));
        assert!(d.contains(&(Uuid::nil(), 1)));
        assert_eq!(d.order.len(), DEDUPE_WINDOW);
    }
}
