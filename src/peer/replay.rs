//! Which sealed datagrams are fresh: under a group key, a recorded datagram
//! sent again must never count a second time.
//!
//! Only datagrams that ask something of this peer are checked: probes,
//! messages, goodbyes and challenges. Answers (replies, acks, proofs)
//! count only when they carry the unpredictable id of an operation this
//! peer has in flight, which no recording made before it began can hold.
//!
//! The rule, with `W` = [`REPLAY_WINDOW`] and the sealing time from the
//! authenticated nonce: a datagram is fresh when it was sealed within `W`
//! of this peer's clock, not before this peer started (a restarted peer
//! remembers nothing, so nothing from before its start can be new to it),
//! and its nonce has not been seen. Nonces are remembered for `W`, at most
//! [`MAX_REPLAY_ENTRIES`]; when the table is full the oldest is forgotten
//! and everything sealed up to it is refused from then on, so eviction
//! never lets a replay through: under heavy traffic it narrows the window
//! instead (a sender whose clock lags by more than the table covers is
//! refused, counted `stale`).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::wire::sealed::Nonce;

/// How far a sealing time may be from this peer's clock: peers' clocks
/// must agree within this (NTP does, by far).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(10);
/// Most nonces remembered (24 bytes each, about 2 MiB in all at most).
pub const MAX_REPLAY_ENTRIES: usize = 65_536;

/// Microseconds since the Unix epoch (0 for a clock set before it).
pub(crate) fn unix_us(t: SystemTime) -> u64 {
    let us = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_micros();
    u64::try_from(us).unwrap_or(u64::MAX)
}

/// Why a sealed datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Sealed outside the window, before this peer started, or before the
    /// oldest nonce the table had to forget.
    Stale,
    /// Its nonce was seen already.
    Replayed,
}

/// The nonces seen within the window.
#[derive(Debug)]
pub(crate) struct Replay {
    seen: BTreeSet<Nonce>,
    /// Nothing sealed before this peer started is fresh.
    start_us: u64,
    /// The newest nonce forgotten because the table was full.
    forgotten: Option<Nonce>,
    window_us: u64,
    cap: usize,
}

impl Replay {
    pub fn new(start_us: u64) -> Replay {
        Replay::with_limits(start_us, REPLAY_WINDOW, MAX_REPLAY_ENTRIES)
    }

    fn with_limits(start_us: u64, window: Duration, cap: usize) -> Replay {
        let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        Replay { seen: BTreeSet::new(), start_us, forgotten: None, window_us, cap }
    }

    /// Checks `nonce` at `now_us` and, if fresh, remembers it.
    pub fn check(&mut self, nonce: Nonce, now_us: u64) -> Result<(), Refused> {
        let at = nonce.sealed_at_us;
        let oldest = now_us.saturating_sub(self.window_us);
        if at < oldest || at > now_us.saturating_add(self.window_us) || at < self.start_us {
            return Err(Refused::Stale);
        }
        if self.forgotten.is_some_and(|f| nonce <= f) {
            return Err(Refused::Stale);
        }
        // Sorted by sealing time first: what fell out of the window is at
        // the front, and is refused as stale without being remembered.
        while self.seen.first().is_some_and(|n| n.sealed_at_us < oldest) {
            self.seen.pop_first();
        }
        if !self.seen.insert(nonce) {
            return Err(Refused::Replayed);
        }
        if self.seen.len() > self.cap {
            self.forgotten = self.seen.pop_first();
        }
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000; // one second, in microseconds
    const START: u64 = 1_000 * S;

    fn nonce(at: u64, counter: u64) -> Nonce {
        Nonce { sealed_at_us: at, salt: 7, counter }
    }

    #[test]
    fn a_nonce_counts_once_and_only_inside_the_window() {
        let mut r = Replay::new(START);
        let now = START + 60 * S;
        assert_eq!(r.check(nonce(now, 1), now), Ok(()));
        assert_eq!(r.check(nonce(now, 1), now + S), Err(Refused::Replayed));
        // A second later, after the dedupe window: still refused.
        assert_eq!(r.check(nonce(now, 1), now + 9 * S), Err(Refused::Replayed));
        // Once out of the window it is stale, whatever the table holds.
        assert_eq!(r.check(nonce(now, 1), now + 11 * S), Err(Refused::Stale));
        assert_eq!(r.check(nonce(now + 20 * S, 2), now), Err(Refused::Stale));
        assert_eq!(r.check(nonce(now - 5 * S, 3), now), Ok(()), "a lagging clock within W");
        assert_eq!(r.check(nonce(now + 5 * S, 4), now), Ok(()), "a leading clock within W");
    }

    #[test]
    fn nothing_sealed_before_this_peer_started_is_fresh() {
        // As if recorded just before a restart and replayed just after.
        let mut r = Replay::new(START);
        assert_eq!(r.check(nonce(START - 1, 1), START + 1), Err(Refused::Stale));
        assert_eq!(r.check(nonce(START, 2), START + 1), Ok(()));
    }

    #[test]
    fn old_entries_leave_with_the_window() {
        let mut r = Replay::new(START);
        for i in 0..100 {
            r.check(nonce(START + i, i), START + i).unwrap();
        }
        assert_eq!(r.len(), 100);
        let later = START + 30 * S;
        r.check(nonce(later, 1000), later).unwrap();
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn a_full_table_forgets_the_oldest_and_refuses_everything_up_to_it() {
        let mut r = Replay::with_limits(START, REPLAY_WINDOW, 4);
        let now = START + 60 * S;
        for i in 0..6 {
            r.check(nonce(now + i, i), now + i).unwrap();
        }
        assert_eq!(r.len(), 4);
        // The two forgotten ones cannot come back, nor anything older...
        assert_eq!(r.check(nonce(now, 0), now + 10), Err(Refused::Stale));
        assert_eq!(r.check(nonce(now + 1, 1), now + 10), Err(Refused::Stale));
        assert_eq!(r.check(nonce(now - S, 9), now + 10), Err(Refused::Stale));
        // ...the remembered ones are still replays, and newer ones fresh.
        assert_eq!(r.check(nonce(now + 2, 2), now + 10), Err(Refused::Replayed));
        assert_eq!(r.check(nonce(now + 10, 10), now + 10), Ok(()));
    }
}
