//! Which addresses have proven that they receive what is sent there.
//!
//! An address in a datagram's source is only a claim: anyone can forge it.
//! Before a message (up to 16 KiB, sent again until acknowledged) goes to
//! an address, the address echoes an unpredictable token sent to it (a
//! challenge, one round trip, usually done while discovery is still
//! running). Until then an address gets at most three times the bytes it
//! has sent us (QUIC's anti-amplification rule), which pays for the
//! challenges and nothing else. This stops a blind forger, who never sees
//! the token; one who can read the segment's traffic can still answer for
//! an address (a group key, issue 10, closes that).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::lock;

/// Addresses remembered at once; past it the least recently heard one that
/// has not proven itself is forgotten first.
pub const MAX_ADDRESSES: usize = 4096;
/// The multiple of what an address sent us that may go to it unproven.
const ALLOWANCE: u64 = 3;
/// A challenge unanswered for this long may be sent again.
const CHALLENGE_AGAIN: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
pub(crate) struct Addresses {
    table: Mutex<HashMap<SocketAddr, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Bytes it may still be sent before it proves itself.
    allowance: u64,
    /// The peer that proved it receives here (the proof's sender): another
    /// UUID claiming this address has proven nothing.
    owner: Option<Uuid>,
    /// The tokens of the last two challenges (a proof of the one before
    /// the last may still be on its way), and when the last went out.
    tokens: [u64; 2],
    challenged: Option<Instant>,
    heard: Instant,
}

/// What an echoed token proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// It answers a challenge in flight: the address is proven now.
    New,
    /// The address was proven for this peer already: a late echo of an
    /// earlier challenge, or a recorded proof sent again. Not forged, but
    /// news to no one: it must not count as a sign of life.
    Known,
    /// It answers nothing: forged.
    Unknown,
}

/// Why no challenge went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoChallenge {
    /// The address has proven itself already.
    Proven,
    /// One went out moments ago; its proof may be on the way.
    InFlight,
    /// The allowance is spent: the address must send us more first.
    Spent,
    /// No token could be drawn.
    NoToken,
}

impl Addresses {
    /// `bytes` arrived from `addr`: it may be sent three times as much.
    pub fn heard(&self, addr: SocketAddr, bytes: usize, now: Instant) {
        let mut table = lock(&self.table);
        if !table.contains_key(&addr) && table.len() >= MAX_ADDRESSES {
            evict(&mut table);
        }
        let entry = table.entry(addr).or_insert(Entry {
            allowance: 0,
            owner: None,
            tokens: [0; 2],
            challenged: None,
            heard: now,
        });
        entry.allowance = entry.allowance.saturating_add(ALLOWANCE * bytes as u64);
        entry.heard = now;
    }

    /// Whether `who` proved that it receives at `addr`.
    pub fn is_proven(&self, addr: SocketAddr, who: Uuid) -> bool {
        lock(&self.table).get(&addr).is_some_and(|e| e.owner == Some(who))
    }

    /// The token of a challenge of `len` bytes to send `addr`, where `who`
    /// says it is, drawn from
    /// `fresh`, if one is due (none in flight, or the last one old) and its
    /// allowance pays. An address never heard from (one the application
    /// named) starts with three challenges' worth: nothing anyone sent made
    /// us send them.
    pub fn challenge(
        &self,
        addr: SocketAddr,
        who: Uuid,
        len: usize,
        now: Instant,
        fresh: impl FnOnce() -> Option<u64>,
    ) -> Result<u64, NoChallenge> {
        let mut table = lock(&self.table);
        if !table.contains_key(&addr) && table.len() >= MAX_ADDRESSES {
            evict(&mut table);
        }
        let entry = table.entry(addr).or_insert(Entry {
            allowance: ALLOWANCE * len as u64,
            owner: None,
            tokens: [0; 2],
            challenged: None,
            heard: now,
        });
        // Another peer proven here (one that restarted on the port, or a
        // forger's claim) is no proof for `who`: challenged all the same,
        // within the allowance, and the proof's sender decides.
        if entry.owner == Some(who) {
            return Err(NoChallenge::Proven);
        }
        if entry.challenged.is_some_and(|at| now < at + CHALLENGE_AGAIN) {
            return Err(NoChallenge::InFlight);
        }
        if entry.allowance < len as u64 {
            return Err(NoChallenge::Spent);
        }
        let token = fresh().ok_or(NoChallenge::NoToken)?;
        entry.allowance -= len as u64;
        entry.tokens = [token, entry.tokens[0]];
        entry.challenged = Some(now);
        Ok(token)
    }

    /// `token` came back from `addr`, echoed by `who`. If it answers our
    /// challenge, `who` is then the one peer proven at `addr`.
    pub fn prove(&self, addr: SocketAddr, token: u64, who: Uuid) -> Proof {
        let mut table = lock(&self.table);
        match table.get_mut(&addr) {
            // 0 is never a token: an unused slot proves nothing.
            Some(e) if token != 0 && e.tokens.contains(&token) => {
                e.owner = Some(who);
                e.tokens = [0; 2];
                Proof::New
            }
            Some(e) if e.owner == Some(who) => Proof::Known,
            _ => Proof::Unknown,
        }
    }
}

/// Forgets the least recently heard unproven address (or, if all have
/// proven themselves, the least recently heard of all).
fn evict(table: &mut HashMap<SocketAddr, Entry>) {
    let victim =
        table.iter().min_by_key(|(_, e)| (e.owner.is_some(), e.heard)).map(|(addr, _)| *addr);
    if let Some(addr) = victim {
        table.remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    const WHO: Uuid = Uuid::from_bytes([7; 16]);

    #[test]
    fn an_address_is_proven_only_by_the_token_it_was_sent() {
        let book = Addresses::default();
        let t0 = Instant::now();
        book.heard(addr(1), 42, t0);
        assert_eq!(book.challenge(addr(1), WHO, 34, t0, || Some(7)), Ok(7));
        assert_eq!(book.prove(addr(1), 8, WHO), Proof::Unknown, "a guess");
        assert_eq!(book.prove(addr(2), 7, WHO), Proof::Unknown, "from elsewhere");
        assert!(!book.is_proven(addr(1), WHO));
        assert_eq!(book.prove(addr(1), 7, WHO), Proof::New);
        assert!(book.is_proven(addr(1), WHO));
        assert_eq!(book.prove(addr(1), 7, WHO), Proof::Known, "the same proof again");
        assert!(!book.is_proven(addr(1), Uuid::nil()), "another peer claiming the address");
    }

    #[test]
    fn an_unproven_address_gets_at_most_three_times_what_it_sent() {
        let book = Addresses::default();
        let t0 = Instant::now();
        book.heard(addr(1), 42, t0);
        let mut sent = 0;
        for i in 0..100 {
            if book.challenge(addr(1), WHO, 34, t0 + CHALLENGE_AGAIN * i as u32, || Some(i)).is_ok()
            {
                sent += 34;
            }
        }
        assert!(sent <= 3 * 42, "{sent} bytes for 42");
        assert_eq!(sent, 102);
    }

    #[test]
    fn a_late_proof_of_the_challenge_before_the_last_still_counts() {
        let book = Addresses::default();
        let t0 = Instant::now();
        book.heard(addr(1), 100, t0);
        assert_eq!(book.challenge(addr(1), WHO, 34, t0, || Some(1)), Ok(1));
        let again = t0 + CHALLENGE_AGAIN;
        assert_eq!(book.challenge(addr(1), WHO, 34, again, || Some(2)), Ok(2));
        assert_eq!(book.prove(addr(1), 1, WHO), Proof::New);
        assert_eq!(book.prove(addr(1), 2, WHO), Proof::Known, "the last one, later");
        assert_eq!(book.challenge(addr(1), WHO, 34, again, || Some(3)), Err(NoChallenge::Proven));
    }

    #[test]
    fn an_address_never_heard_from_gets_three_challenges_and_no_more() {
        let book = Addresses::default();
        let t0 = Instant::now();
        let sent = (0..10u32)
            .filter(|&i| {
                book.challenge(addr(1), WHO, 34, t0 + CHALLENGE_AGAIN * i, || Some(i.into()))
                    .is_ok()
            })
            .count();
        assert_eq!(sent, 3);
    }

    #[test]
    fn the_table_is_capped_and_keeps_the_proven() {
        let book = Addresses::default();
        let t0 = Instant::now();
        book.heard(addr(0), 42, t0);
        assert!(
            book.challenge(addr(0), WHO, 34, t0, || Some(1)).is_ok()
                && book.prove(addr(0), 1, WHO) == Proof::New
        );
        for p in 1..=MAX_ADDRESSES as u16 + 10 {
            book.heard(addr(p), 42, t0 + Duration::from_micros(p.into()));
        }
        assert_eq!(lock(&book.table).len(), MAX_ADDRESSES);
        assert!(book.is_proven(addr(0), WHO));
    }
}
