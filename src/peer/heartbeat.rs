//! The members thread: sends this peer's heartbeats (a few quickly at
//! start, so one lost announcement hides nobody, then one per interval),
//! and runs the member table's timers: suspicion, pings, losses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::membership::{PAUSE_GRACE, Ping};
use super::pending::fresh_id;
use super::{Core, lock};
use crate::error::{Error, Result};
use crate::wire::Body;

/// When the first heartbeats go out after start: the announcement.
const ANNOUNCE: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(10),
    Duration::from_millis(40),
    Duration::from_millis(100),
];

/// Wakes and stops the members thread.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    stopped: Mutex<bool>,
    wake: Condvar,
    /// This peer's heartbeat count: only goes up.
    count: AtomicU64,
}

impl Pacer {
    /// Something changed the table's next deadline.
    pub fn poke(&self) {
        self.wake.notify_all();
    }

    pub fn stop(&self) {
        *lock(&self.stopped) = true;
        self.wake.notify_all();
    }

    /// The next heartbeat count.
    pub fn next_count(&self) -> u64 {
        self.count.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Starts the members thread if heartbeats are on.
pub(crate) fn spawn(core: &Arc<Core>) -> Result<Option<JoinHandle<()>>> {
    let Some(interval) = core.heartbeat else { return Ok(None) };
    let core = Arc::clone(core);
    thread::Builder::new()
        .name("simplep2p-members".into())
        .spawn(move || run(&core, interval))
        .map(Some)
        .map_err(Error::Thread)
}

fn run(core: &Core, interval: Duration) {
    let start = Instant::now();
    let mut announced = 0;
    let mut next_beat = start;
    let (mut pings, mut changes) = (Vec::new(), Vec::new());
    loop {
        let now = Instant::now();
        if now >= next_beat {
            if core.receiver {
                beat(core, interval, None);
            }
            announced += 1;
            next_beat = match ANNOUNCE.get(announced) {
                Some(offset) => start + *offset,
                // From the last beat, not the schedule: a paused process
                // does not fire a burst to catch up.
                None => now + interval,
            };
        }
        let wake = {
            let mut table = lock(&core.table);
            table.on_timer(now, || fresh_id().ok(), &mut pings, &mut changes);
            // Published under the table's lock: see Core::update_table.
            core.hub.publish(&mut changes);
            table.next_wake()
        };
        for Ping { to, token } in pings.drain(..) {
            if let Some(bytes) = core.encode_or_count(&core.frame(token, Body::Ping)) {
                let _ = core.transport.send(&bytes, to);
            }
        }
        let until = wake.map_or(next_beat, |w| w.min(next_beat));
        let stopped = lock(&core.pacer.stopped);
        if *stopped {
            return;
        }
        let left = until.saturating_duration_since(Instant::now());
        let stopped =
            core.pacer.wake.wait_timeout(stopped, left).unwrap_or_else(|e| e.into_inner()).0;
        if *stopped {
            return;
        }
        drop(stopped);
        // Woken this late, the whole process was paused.
        if let Some(late) = Instant::now().checked_duration_since(until)
            && late > PAUSE_GRACE
        {
            lock(&core.table).resumed(late);
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
