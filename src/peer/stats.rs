//! Counters a peer keeps about its traffic.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a peer's counters, from [`Peer::stats`](crate::Peer::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams read from either socket.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Datagrams dropped because they could not be decoded (ours or foreign).
    pub malformed: u64,
    /// Messages that arrived again and were acknowledged but not delivered twice.
    pub duplicates: u64,
    /// Messages sent again, unicast, to peers that had not acknowledged.
    pub retransmissions: u64,
    /// Messages refused, unacknowledged, because the application queue was full.
    pub queue_full: u64,
    /// Probes left unanswered because the reply would have been larger.
    pub probes_refused: u64,
    /// Sends or reads that failed at the socket.
    pub io_errors: u64,
    /// Replies and acks dropped because the discovery or send waiting for
    /// them had 4,096 unread already (it probes or sends again).
    pub events_dropped: u64,
}

impl Stats {
    /// Every counter with its name, in a fixed order, for printing.
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("datagrams_in", self.datagrams_in),
            ("datagrams_out", self.datagrams_out),
            ("malformed", self.malformed),
            ("duplicates", self.duplicates),
            ("retransmissions", self.retransmissions),
            ("queue_full", self.queue_full),
            ("probes_refused", self.probes_refused),
            ("io_errors", self.io_errors),
            ("events_dropped", self.events_dropped),
        ]
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub malformed: AtomicU64,
    pub duplicates: AtomicU64,
    pub retransmissions: AtomicU64,
    pub queue_full: AtomicU64,
    pub probes_refused: AtomicU64,
    pub io_errors: AtomicU64,
    pub events_dropped: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            datagrams_in: get(&self.datagrams_in),
            datagrams_out: get(&self.datagrams_out),
            malformed: get(&self.malformed),
            duplicates: get(&self.duplicates),
            retransmissions: get(&self.retransmissions),
            queue_full: get(&self.queue_full),
            probes_refused: get(&self.probes_refused),
            io_errors: get(&self.io_errors),
            events_dropped: get(&self.events_dropped),
        }
    }
}
