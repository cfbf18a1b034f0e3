//! Counters a peer keeps about its traffic, declared once: the public
//! snapshot, the atomic counters and the printed names all come from the
//! list in `counters!` below, so a new counter is one line.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// A snapshot of a peer's counters, from [`Peer::stats`](crate::Peer::stats).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Stats {
            $($(#[doc = $doc])+ pub $name: u64,)+
        }

        impl Stats {
            /// How many counters there are.
            pub const COUNT: usize = [$(stringify!($name)),+].len();

            /// Every counter with its name, in a fixed order, for printing.
            pub fn named(&self) -> [(&'static str, u64); Self::COUNT] {
                [$((stringify!($name), self.$name)),+]
            }
        }

        /// The live counters, bumped by any thread.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub $name: AtomicU64,)+
        }

        impl Counters {
            pub fn snapshot(&self) -> Stats {
                Stats { $($name: self.$name.load(Ordering::Relaxed),)+ }
            }
        }
    };
}

counters! {
    /// Datagrams read from either socket.
    datagrams_in,
    /// Datagrams sent.
    datagrams_out,
    /// Datagrams dropped because they could not be decoded (ours or foreign).
    malformed,
    /// Messages that arrived again and were acknowledged but not delivered twice.
    duplicates,
    /// Messages sent again, unicast, to peers that had not acknowledged.
    retransmissions,
    /// Messages refused, unacknowledged, because the application queue was full.
    queue_full,
    /// Probes left unanswered because the reply would have been larger.
    probes_refused,
    /// Sends or reads that failed at the socket.
    io_errors,
    /// Replies and acks dropped because the discovery or send waiting for
    /// them had 4,096 unread already (it probes or sends again).
    events_dropped,
    /// Datagrams of an older simplep2p protocol version, dropped.
    old_version,
    /// Answers dropped as forged: a reply or ack on the group socket, a
    /// goodbye or proof from an address its peer did not answer from.
    forged,
    /// Probes and messages ignored because, with TTL 1, their source is on
    /// no subnet directly connected to this host.
    off_link,
    /// Probes, challenges and legacy discoveries left unanswered because
    /// their source (or all sources together) was over its answer rate.
    rate_limited,
    /// Datagrams dropped unread because they did not open under this
    /// peer's key (or were sealed and this peer has none): another group,
    /// a wrong key, or a forgery.
    auth_failed,
    /// Sealed datagrams dropped because their nonce was seen already: replays.
    replayed,
    /// Sealed datagrams dropped because they were sealed outside the clock
    /// window, or before this peer started: replays, or clocks that disagree.
    stale,
    /// Times a changed key file was read and its keys put in use.
    key_reloads,
    /// Times a changed key file could not be used (the keys stayed as they were).
    key_errors,
    /// Member events dropped because a subscriber's queue was full (it is
    /// told how many with its next event).
    member_events_dropped,
    /// Members refused because the member table was full (4,096).
    members_full,
    /// Heartbeats ignored because their count was not above the last one
    /// seen from that member: copies, or replays.
    stale_heartbeats,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_declaration_order() {
        let counters = Counters::default();
        bump(&counters.malformed);
        let named = counters.snapshot().named();
        assert_eq!(named[0], ("datagrams_in", 0));
        assert_eq!(named[2], ("malformed", 1));
        assert_eq!(named.len(), Stats::COUNT);
    }
}
