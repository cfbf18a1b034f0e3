//! This peer's timers: its heartbeats (a few quickly at start, so one lost
//! announcement hides nobody, then one per interval), the member table's
//! suspicions, pings and losses, the look at its key files and at the
//! host's interfaces. They run on a thread of their own
//! ([`Core::run_timers`]), so a delivery handler that blocks the I/O thread
//! never stops this peer's heartbeats; while it blocks, this peer is deaf
//! and suspects nobody.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::keyring::KEY_FILE_CHECK;
use super::membership::{PAUSE_GRACE, Ping};
use super::pending::fresh_id;
use super::{Core, lock};
use crate::wire::Body;
use std::sync::PoisonError;

/// When the first heartbeats go out after start: the announcement.
const ANNOUNCE: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(10),
    Duration::from_millis(40),
    Duration::from_millis(100),
];

/// How often the host's interfaces are looked at again: well inside the 5 s
/// in which one that comes, goes or changes address must be followed.
pub const INTERFACE_CHECK: Duration = Duration::from_secs(2);

/// When each timer is next due: the timer thread's alone, so that none of
/// its work (an interface list, a key file) is done under a lock.
#[derive(Debug, Default)]
struct Schedule {
    start: Option<Instant>,
    announced: usize,
    beat: Option<Instant>,
    keys: Option<Instant>,
    interfaces: Option<Instant>,
}

/// What other threads tell the timer thread.
#[derive(Debug, Default)]
struct Due {
    /// When the timer thread is to run next.
    planned: Option<Instant>,
    /// Run now, whatever was planned.
    poked: bool,
    /// The peer closed: the timer thread ends.
    stopped: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Pacer {
    due: Mutex<Due>,
    /// Wakes the timer thread: a poke, a nearer deadline, the stop.
    wake: Condvar,
    /// This peer's heartbeat count: only goes up.
    count: AtomicU64,
}

impl Pacer {
    /// The next heartbeat count.
    pub fn next_count(&self) -> u64 {
        self.count.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Runs the timers now.
    pub fn poke(&self) {
        lock(&self.due).poked = true;
        self.wake.notify_one();
    }

    /// Ends the timer thread.
    pub fn stop(&self) {
        lock(&self.due).stopped = true;
        self.wake.notify_one();
    }
}

impl Core {
    /// The timer thread: runs what is due, then sleeps until the next
    /// deadline, a poke or the stop.
    pub(super) fn run_timers(&self) {
        let mut schedule = Schedule::default();
        loop {
            self.on_tick(&mut schedule, Instant::now());
            let mut due = lock(&self.pacer.due);
            loop {
                if due.stopped {
                    return;
                }
                if std::mem::take(&mut due.poked) {
                    break;
                }
                let Some(at) = due.planned else {
                    due = self.pacer.wake.wait(due).unwrap_or_else(PoisonError::into_inner);
                    continue;
                };
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                due = self
                    .pacer
                    .wake
                    .wait_timeout(due, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }

    /// Runs every timer due at `now` (calling it early does no harm) and
    /// plans the next run.
    fn on_tick(&self, due: &mut Schedule, now: Instant) {
        // Woken this late, the whole process was paused.
        let planned = lock(&self.pacer.due).planned;
        if let Some(late) = planned.and_then(|p| now.checked_duration_since(p))
            && late > PAUSE_GRACE
        {
            lock(&self.table).resumed(late);
        }
        if let Some(interval) = self.heartbeat
            && due.beat.is_none_or(|b| now >= b)
        {
            let start = *due.start.get_or_insert(now);
            if self.receiver {
                beat(self, interval, None);
            }
            due.announced += 1;
            due.beat = Some(match ANNOUNCE.get(due.announced) {
                Some(offset) => start + *offset,
                // From this beat, not the schedule: a paused process does
                // not fire a burst to catch up.
                None => now + interval,
            });
        }
        if let Some(keys) = self.transport.keys()
            && keys.watches_files()
            && due.keys.is_none_or(|k| now >= k)
        {
            if due.keys.is_some() {
                keys.refresh();
            }
            due.keys = Some(now + KEY_FILE_CHECK);
        }
        if due.interfaces.is_none_or(|at| now >= at) {
            // A new interface hears this peer at once, not at the next beat.
            if due.interfaces.is_some()
                && self.transport.refresh()
                && let Some(interval) = self.heartbeat
                && self.receiver
            {
                beat(self, interval, None);
            }
            due.interfaces = Some(now + INTERFACE_CHECK);
        }
        // Deaf (the I/O thread in the delivery handler) for a while: no one
        // is suspected or lost for silence this peer could not hear; the
        // handler's return pokes the timers.
        let deaf = lock(&self.deaf_since).is_some_and(|t| now.duration_since(t) > PAUSE_GRACE);
        let mut pings = Vec::new();
        if !deaf {
            let mut table = lock(&self.table);
            let mut changes = Vec::new();
            table.on_timer(now, || fresh_id().ok(), &mut pings, &mut changes);
            // Published under the table's lock: see Core::update_table.
            self.hub.publish(&mut changes);
        }
        for Ping { to, token } in pings {
            if let Some(bytes) = self.encode_or_count(&self.frame(token, Body::Ping)) {
                let _ = self.transport.send(&bytes, to);
            }
        }
        let mut next = lock(&self.pacer.due);
        // The table's deadline read now, under the lock Core::reschedule
        // takes, so that a change meanwhile that brought it nearer counts.
        let wake = if deaf { None } else { lock(&self.table).next_wake() };
        next.planned = [due.beat, due.keys, due.interfaces, wake].into_iter().flatten().min();
    }

    /// The member table changed: if it now needs the clock sooner than the
    /// timer thread planned, wake it.
    pub(super) fn reschedule(&self) {
        let Some(wake) = lock(&self.table).next_wake() else { return };
        let mut due = lock(&self.pacer.due);
        if due.planned.is_none_or(|p| wake < p) {
            due.planned = Some(wake);
            self.pacer.wake.notify_one();
        }
    }
}

/// Sends one heartbeat: to the group, or to `to` only (a newcomer, so it
/// learns of this peer at once instead of at the next beat).
pub(super) fn beat(core: &Core, interval: Duration, to: Option<std::net::SocketAddr>) {
    let interval_ms = u32::try_from(interval.as_millis()).unwrap_or(u32::MAX);
    let body = Body::Heartbeat { interval_ms, name: &core.name };
    let Some(bytes) = core.encode_or_count(&core.frame(core.pacer.next_count(), body)) else {
        return;
    };
    // A failed beat is counted (io_errors) and the next one tries again.
    match to {
        Some(addr) => drop(core.transport.send(&bytes, addr)),
        None => drop(core.transport.multicast(&bytes)),
    }
}
