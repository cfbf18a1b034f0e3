//! One discovery or send in progress: which protocol it speaks, how it
//! waits for answers, and when it repeats itself.

use std::sync::MutexGuard;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use super::net;
use super::worker::{Event, Shared, lock};
use crate::error::Result;

/// How long, from its start, an operation polls for answers before it blocks.
const SPIN: Duration = Duration::from_micros(50);
/// First gap before a probe or message is sent again.
pub(super) const FIRST_RETRY: Duration = Duration::from_millis(10);
/// Longest gap between repeats: short enough that a one-second timeout
/// still gets about twenty tries through a lossy network.
const MAX_RETRY: Duration = Duration::from_millis(50);

/// `start + timeout`, or a century on for a timeout too large to add
/// (`Duration::MAX` means "no timeout" to a caller, not a panic).
pub(super) fn after(start: Instant, timeout: Duration) -> Instant {
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    start.checked_add(timeout.min(century)).unwrap_or(start)
}

/// Which protocol an operation speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Native,
    Legacy,
}

impl Mode {
    /// Where the helpers look up the id of the operation in progress.
    fn slot(self, shared: &Shared) -> &AtomicU64 {
        match self {
            Mode::Native => &shared.active,
            Mode::Legacy => &shared.legacy_active,
        }
    }
}

/// A discovery or send in progress; dropping it ends it.
pub(super) struct Op<'a> {
    shared: &'a Shared,
    mode: Mode,
    events: MutexGuard<'a, Receiver<Event>>,
    /// Polling for events ends here; after it, waits block.
    spin_until: Instant,
}

impl<'a> Op<'a> {
    /// Starts an operation on the event queue `events` (held until it
    /// ends): drops what earlier operations left in it, sets the text a
    /// legacy response must echo, and only then lets the helper threads
    /// pass on events for `id` in `mode`'s protocol.
    pub(super) fn begin(
        shared: &'a Shared,
        events: MutexGuard<'a, Receiver<Event>>,
        mode: Mode,
        id: u64,
        legacy_text: Option<&str>,
    ) -> Op<'a> {
        while events.try_recv().is_ok() {
            shared.queued.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(text) = legacy_text {
            *lock(&shared.legacy_text) = text.to_owned();
        }
        mode.slot(shared).store(id, Ordering::Release);
        Op { shared, mode, events, spin_until: Instant::now() + SPIN }
    }

    /// The next event, or `None` once `until` has passed. In the first
    /// microseconds of an operation it polls, yielding the CPU between
    /// polls: on a LAN or loopback the first answer is usually that close,
    /// and waking a blocked thread costs more than the wait (measured in
    /// `make bench`). After that it blocks, leaving the CPU to the peers.
    pub(super) fn mode(&self) -> Mode {
        self.mode
    }

    pub(super) fn next_event(&self, until: Instant) -> Option<Event> {
        let spin_end = self.spin_until;
        loop {
            match self.events.try_recv() {
                Ok(event) => return Some(self.taken(event)),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= spin_end || now >= until {
                break;
            }
            // Yield rather than spin, so that on a busy core the helper
            // thread that will hand us the answer gets to run.
            thread::yield_now();
        }
        let event = self.events.recv_timeout(until.saturating_duration_since(Instant::now()));
        event.ok().map(|e| self.taken(e))
    }

    fn taken(&self, event: Event) -> Event {
        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        event
    }

    pub(super) fn multicast(&self, bytes: &[u8]) -> Result<()> {
        self.shared.send(bytes, self.shared.group).map_err(net::send_error)
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        self.mode.slot(self.shared).store(0, Ordering::Release);
    }
}

/// When to repeat a probe or message: 10 ms, then doubling up to 50 ms.
pub(super) struct Retry {
    pub(super) at: Instant,
    gap: Duration,
}

impl Retry {
    pub(super) fn new(start: Instant) -> Self {
        Retry { at: start + FIRST_RETRY, gap: FIRST_RETRY }
    }

    pub(super) fn next(&mut self) {
        self.gap = (self.gap * 2).min(MAX_RETRY);
        self.at = Instant::now() + self.gap;
    }
}
