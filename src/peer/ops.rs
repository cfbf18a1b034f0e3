//! Discovery and send as state machines, free of sockets and clocks.
//!
//! A machine is told the time: [`Machine::on_timer`] with "now" (it answers
//! with datagrams to send), [`Machine::on_event`] with each answer, and
//! [`Machine::next_wake`] says when it next needs the clock, or `None`
//! once it is done. [`drive`] runs one against the real clock and sockets;
//! the tests below run them against a made-up clock, in microseconds.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::pending::{Event, Subscription};
use super::{PeerInfo, SendReport};
use crate::error::{Error, Result};

/// First gap before a probe or message is sent again.
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(10);
/// Longest gap between repeats: short enough that a one-second timeout
/// still gets about twenty tries through a lossy network.
pub(crate) const MAX_RETRY: Duration = Duration::from_millis(50);
/// Peers one discovery (and so the default send target set) holds at most.
pub const MAX_PEERS: usize = 4096;

/// `start + timeout`, or a century on for a timeout too large to add
/// (`Duration::MAX` means "no timeout" to a caller, not a panic).
pub(crate) fn after(start: Instant, timeout: Duration) -> Instant {
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    start.checked_add(timeout.min(century)).unwrap_or(start)
}

/// A datagram an operation wants sent: its own probe or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// To the group. Failing to send it fails the operation.
    Multicast,
    /// The first copy, to one target of a targeted send. A failure is only
    /// counted: the target stays unacknowledged and is sent to again.
    Unicast(Uuid, SocketAddr),
    /// Again, to one peer that has not answered. A failure is only counted.
    Resend(Uuid, SocketAddr),
}

/// How a send reaches its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// To the whole group just discovered: one multicast, then unicast
    /// again to those that have not acknowledged.
    Group,
    /// To these peers only: unicast to each, then again to those that have
    /// not acknowledged. Others in the group never receive it.
    Targets,
    /// The original's protocol: one multicast, never repeated, since its
    /// peers cannot tell a copy from a new message.
    Legacy,
}

/// A discovery or send, told the time and the answers.
pub(crate) trait Machine {
    /// The clock says `now`; push what to send into `out`.
    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>);
    /// An answer arrived at `now`.
    fn on_event(&mut self, event: Event, now: Instant);
    /// When to call [`Machine::on_timer`] next; `None` once done.
    fn next_wake(&self) -> Option<Instant>;
}

/// Runs `machine` to its end against the real clock, taking answers from
/// `answers` and sending through `send`.
///
/// # Errors
/// The first error `send` returns for an [`Action::Multicast`].
pub(crate) fn drive(
    machine: &mut impl Machine,
    answers: &Subscription<'_>,
    mut send: impl FnMut(Action) -> Result<()>,
) -> Result<()> {
    let mut actions = Vec::new();
    loop {
        machine.on_timer(Instant::now(), &mut actions);
        for action in actions.drain(..) {
            match action {
                Action::Multicast => send(action)?,
                Action::Unicast(..) | Action::Resend(..) => {
                    let _ = send(action);
                }
            }
        }
        let Some(wake) = machine.next_wake() else { return Ok(()) };
        match answers.next_event(wake) {
            Some(Event::Closed) => return Err(Error::Closed),
            Some(event) => machine.on_event(event, Instant::now()),
            None => {}
        }
    }
}

/// When to repeat a probe or message: after 10 ms, then doubling up to 50 ms.
#[derive(Debug, Clone, Copy)]
struct Retry {
    at: Instant,
    gap: Duration,
}

impl Retry {
    fn new(start: Instant) -> Self {
        Retry { at: start + FIRST_RETRY, gap: FIRST_RETRY }
    }

    fn next(&mut self, now: Instant) {
        self.gap = (self.gap * 2).min(MAX_RETRY);
        self.at = now + self.gap;
    }
}

/// Distinct peers in arrival order, capped at [`MAX_PEERS`]. The id set
/// keeps a flood of answers from costing more than a hash look-up each.
#[derive(Debug, Default)]
struct PeerSet {
    ids: HashSet<Uuid>,
    list: Vec<PeerInfo>,
}

impl PeerSet {
    /// Adds a peer; false if it was known already or the set is full.
    fn add(&mut self, peer: PeerInfo) -> bool {
        if self.list.len() >= MAX_PEERS || !self.ids.insert(peer.id) {
            return false;
        }
        self.list.push(peer);
        true
    }

    fn remove(&mut self, id: &Uuid) -> Option<PeerInfo> {
        if !self.ids.remove(id) {
            return None;
        }
        let index = self.list.iter().position(|p| p.id == *id)?;
        Some(self.list.remove(index))
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether `id` is here with address `addr`: answers about a peer
    /// count only from where that peer answered.
    fn at(&self, id: &Uuid, addr: SocketAddr) -> bool {
        self.ids.contains(id) && self.list.iter().any(|p| p.id == *id && p.addr == addr)
    }
}

/// A discovery: probe, repeat with backoff, collect distinct answers.
///
/// With `expect`, it ends once that many peers answered or at the deadline:
/// the caller knows whom to wait for, and silence on a lossy network is no
/// proof of absence. Without, it ends once no new peer has answered for the
/// quiet window since the last new answer, or at the deadline; with no
/// answer at all it waits for the deadline, since a peer that is merely
/// slow (paused, swapped out, on a loaded core) is not absent.
#[derive(Debug)]
pub(crate) struct Discovery {
    expect: Option<usize>,
    deadline: Instant,
    quiet: Duration,
    /// When the last new peer answered; `None` until one has.
    last_new: Option<Instant>,
    retry: Retry,
    probed: bool,
    done: bool,
    found: PeerSet,
    /// Replied from an address not yet proven: found once it is.
    waiting: PeerSet,
}

impl Discovery {
    pub fn new(now: Instant, timeout: Duration, expect: Option<usize>, quiet: Duration) -> Self {
        Discovery {
            expect,
            deadline: after(now, timeout),
            quiet,
            last_new: None,
            retry: Retry::new(now),
            probed: false,
            done: false,
            found: PeerSet::default(),
            waiting: PeerSet::default(),
        }
    }

    fn end(&self) -> Instant {
        match (self.expect, self.last_new) {
            (None, Some(last)) => self.deadline.min(last + self.quiet),
            _ => self.deadline,
        }
    }

    fn enough(&self) -> bool {
        self.expect.is_some_and(|n| self.found.list.len() >= n)
    }

    /// The peers found, in the order they answered.
    pub fn finish(self) -> Vec<PeerInfo> {
        self.found.list
    }
}

impl Machine for Discovery {
    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.done || self.enough() || now >= self.end() {
            self.done = true;
        } else if !self.probed {
            self.probed = true;
            out.push(Action::Multicast);
        } else if now >= self.retry.at {
            out.push(Action::Multicast);
            self.retry.next(now);
        }
    }

    fn on_event(&mut self, event: Event, now: Instant) {
        if self.done {
            return; // an answer after the end changes nothing
        }
        match event {
            Event::Reply(peer) => {
                if self.found.add(peer) {
                    self.last_new = Some(now);
                }
            }
            Event::ReplyUnproven(peer) => {
                self.waiting.add(peer);
            }
            Event::Proven(who, at) => {
                if self.waiting.at(&who, at)
                    && let Some(peer) = self.waiting.remove(&who)
                {
                    self.on_event(Event::Reply(peer), now);
                }
            }
            Event::Gone(who, from) => {
                if self.found.at(&who, from) {
                    self.found.remove(&who);
                }
                if self.waiting.at(&who, from) {
                    self.waiting.remove(&who);
                }
            }
            Event::Ack(..) | Event::AckUnproven(..) | Event::Closed => {}
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        if self.done || self.enough() {
            return None;
        }
        Some(if self.probed { self.end().min(self.retry.at) } else { self.deadline })
    }
}

/// A send: the message multicast once, then unicast with backoff to each
/// target that has not acknowledged, until all have or the deadline.
///
/// A target that says goodbye is not sent to again, but its ack may still
/// be in flight (it went out before the goodbye, to another of our
/// sockets), so it is awaited for [`FIRST_RETRY`] more.
#[derive(Debug)]
pub(crate) struct SendOp {
    start: Instant,
    deadline: Instant,
    reach: Reach,
    retry: Retry,
    sent: bool,
    done: bool,
    pending: PeerSet,
    leaving: PeerSet,
    settle: Instant,
    acked: Vec<PeerInfo>,
    /// Targets proven since the last look, to send to at once.
    due: Vec<(Uuid, SocketAddr)>,
    /// Acks from addresses not yet proven, counted once they are. At most
    /// one per target, so bounded by the targets.
    held: Vec<(Uuid, SocketAddr)>,
    end: Instant,
}

impl SendOp {
    pub fn new(now: Instant, timeout: Duration, targets: &[PeerInfo], reach: Reach) -> Self {
        let mut pending = PeerSet::default();
        for t in targets {
            pending.add(t.clone());
        }
        SendOp {
            start: now,
            deadline: after(now, timeout),
            reach,
            retry: Retry::new(now),
            sent: false,
            done: false,
            pending,
            leaving: PeerSet::default(),
            settle: now,
            acked: Vec::new(),
            due: Vec::new(),
            held: Vec::new(),
            end: now,
        }
    }

    fn resends(&self) -> bool {
        self.reach != Reach::Legacy
    }

    /// Every target accounted for with no clock needed: all acked.
    fn complete(&self) -> bool {
        self.sent && self.pending.is_empty() && self.leaving.is_empty()
    }

    /// Who acknowledged and who did not, as of the end.
    pub fn finish(self, id: u64) -> SendReport {
        let mut missing = self.pending.list;
        missing.extend(self.leaving.list);
        SendReport { id, acked: self.acked, missing, elapsed: self.end - self.start }
    }
}

impl Machine for SendOp {
    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.done {
            return;
        }
        if !self.sent {
            self.sent = true;
            match self.reach {
                Reach::Group | Reach::Legacy => out.push(Action::Multicast),
                Reach::Targets => {
                    out.extend(self.pending.list.iter().map(|p| Action::Unicast(p.id, p.addr)));
                }
            }
            return;
        }
        let settled = self.leaving.is_empty() || now >= self.settle;
        if now >= self.deadline || (self.pending.is_empty() && settled) {
            self.done = true;
            self.end = now;
            return;
        }
        // Targets whose address just proved itself: their copy went nowhere
        // (it waits for the proof), so they are sent to now.
        for (id, addr) in self.due.drain(..) {
            if self.pending.at(&id, addr) {
                out.push(Action::Resend(id, addr));
            }
        }
        if self.resends() && !self.pending.is_empty() && now >= self.retry.at {
            out.extend(self.pending.list.iter().map(|p| Action::Resend(p.id, p.addr)));
            self.retry.next(now);
        }
    }

    fn on_event(&mut self, event: Event, now: Instant) {
        if self.done {
            return;
        }
        match event {
            Event::Ack(from, src) => {
                // A native ack counts only from the target's own address.
                let ours = |set: &PeerSet| src.is_none_or(|a| set.at(&from, a));
                let who = if ours(&self.pending) {
                    self.pending.remove(&from)
                } else if ours(&self.leaving) {
                    self.leaving.remove(&from)
                } else {
                    None
                };
                self.acked.extend(who);
                if self.complete() {
                    self.done = true;
                    self.end = now;
                }
            }
            Event::Gone(who, from) => {
                if self.pending.at(&who, from)
                    && let Some(p) = self.pending.remove(&who)
                {
                    self.leaving.add(p);
                    self.settle = now + FIRST_RETRY;
                }
            }
            Event::AckUnproven(from, at) => {
                if self.pending.at(&from, at) && !self.held.contains(&(from, at)) {
                    self.held.push((from, at));
                }
            }
            Event::Proven(who, addr) => {
                // An ack held for this peer at this address counts now.
                if let Some(i) = self.held.iter().position(|&h| h == (who, addr)) {
                    self.held.remove(i);
                    self.on_event(Event::Ack(who, Some(addr)), now);
                }
                // A targeted send's copy waited for this proof: send it now.
                // (A group send's first copy went by multicast already.)
                let waiting = self.pending.at(&who, addr);
                if self.reach == Reach::Targets && waiting && !self.due.contains(&(who, addr)) {
                    self.due.push((who, addr));
                }
            }
            Event::Reply(_) | Event::ReplyUnproven(_) | Event::Closed => {}
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        if !self.sent || !self.due.is_empty() {
            return Some(self.start); // at once
        }
        let mut wake = self.deadline;
        if self.resends() && !self.pending.is_empty() {
            wake = wake.min(self.retry.at);
        }
        if !self.leaving.is_empty() {
            wake = wake.min(self.settle);
        }
        if self.pending.is_empty() && self.leaving.is_empty() {
            wake = self.start; // nothing to wait for: end at the next look
        }
        Some(wake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn peer(n: u8) -> PeerInfo {
        PeerInfo {
            id: Uuid::from_bytes([n; 16]),
            addr: SocketAddr::from(([127, 0, 0, 1], 4000 + u16::from(n))),
            name: format!("p{n}"),
        }
    }

    /// Steps `m` on a made-up clock to `until`, waking where it asks,
    /// and returns when each batch of datagrams went out (ms after `t0`).
    fn run_until(m: &mut impl Machine, t0: Instant, until: Duration) -> Vec<(u64, Vec<Action>)> {
        let mut log = Vec::new();
        let mut now = t0;
        for _ in 0..10_000 {
            if now > t0 + until {
                break;
            }
            let mut out = Vec::new();
            m.on_timer(now, &mut out);
            if !out.is_empty() {
                log.push(((now - t0).as_millis() as u64, out));
            }
            match m.next_wake() {
                Some(wake) => now = now.max(wake), // a wake in the past: look again now
                None => return log,
            }
        }
        assert!(now > t0 + until, "the machine asked for the clock 10,000 times at one instant");
        log
    }

    #[test]
    fn a_probe_lost_twice_is_repeated_and_the_third_is_answered() {
        let t0 = Instant::now();
        let mut d = Discovery::new(t0, 1000 * MS, Some(1), 50 * MS);
        let log = run_until(&mut d, t0, 35 * MS);
        let times: Vec<u64> = log.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [0, 10, 30], "first probe, then 10 and 20 ms later");
        d.on_event(Event::Reply(peer(1)), t0 + 31 * MS);
        assert_eq!(d.next_wake(), None);
        assert_eq!(d.finish(), [peer(1)]);
    }

    #[test]
    fn retransmission_backs_off_from_10_ms_doubling_to_50() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 300 * MS, &[peer(1), peer(2)], Reach::Group);
        let log = run_until(&mut s, t0, 300 * MS);
        let times: Vec<u64> = log.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [0, 10, 30, 70, 120, 170, 220, 270]);
        assert_eq!(log[0].1, [Action::Multicast]);
        assert_eq!(
            log[1].1,
            [Action::Resend(peer(1).id, peer(1).addr), Action::Resend(peer(2).id, peer(2).addr)]
        );
        let report = s.finish(7);
        assert!(report.acked.is_empty());
        assert_eq!(report.missing, [peer(1), peer(2)]);
        assert_eq!(report.elapsed, 300 * MS);
    }

    #[test]
    fn only_the_unacknowledged_are_sent_again() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 1000 * MS, &[peer(1), peer(2)], Reach::Group);
        run_until(&mut s, t0, Duration::ZERO);
        s.on_event(Event::Ack(peer(1).id, Some(peer(1).addr)), t0 + MS);
        let log = run_until(&mut s, t0 + MS, 10 * MS);
        assert_eq!(log, [(9, vec![Action::Resend(peer(2).id, peer(2).addr)])]);
        s.on_event(Event::Ack(peer(2).id, Some(peer(2).addr)), t0 + 12 * MS);
        assert_eq!(s.next_wake(), None);
        let report = s.finish(1);
        assert_eq!(report.acked, [peer(1), peer(2)]);
        assert_eq!(report.elapsed, 12 * MS);
    }

    #[test]
    fn the_timeout_with_nobody_answering_ends_empty_at_the_deadline() {
        let t0 = Instant::now();
        let mut d = Discovery::new(t0, 200 * MS, Some(3), 50 * MS);
        let log = run_until(&mut d, t0, 10_000 * MS);
        assert_eq!(log.len(), 1 + 5, "the probe, then repeats at 10, 30, 70, 120, 170 ms");
        assert_eq!(d.next_wake(), None);
        assert!(d.finish().is_empty());
    }

    #[test]
    fn without_expect_discovery_ends_after_the_quiet_window() {
        let t0 = Instant::now();
        let mut d = Discovery::new(t0, 1000 * MS, None, 50 * MS);
        run_until(&mut d, t0, Duration::ZERO);
        d.on_event(Event::Reply(peer(1)), t0 + 20 * MS);
        d.on_event(Event::Reply(peer(1)), t0 + 40 * MS); // the same peer: not new
        run_until(&mut d, t0 + 20 * MS, 1000 * MS);
        assert_eq!(d.next_wake(), None);
        // Ended at 20 + 50 ms: a later answer is not counted.
        d.on_event(Event::Reply(peer(2)), t0 + 71 * MS);
        assert_eq!(d.finish(), [peer(1)]);
    }

    #[test]
    fn with_nobody_answering_the_quiet_window_never_starts_and_the_timeout_ends_it() {
        let t0 = Instant::now();
        let mut d = Discovery::new(t0, 1000 * MS, None, 50 * MS);
        run_until(&mut d, t0, 500 * MS);
        assert!(d.next_wake().is_some(), "silence is not absence: still waiting at 500 ms");
        // A peer paused for a while answers late, and is found.
        d.on_event(Event::Reply(peer(1)), t0 + 510 * MS);
        run_until(&mut d, t0 + 510 * MS, 49 * MS);
        assert!(d.next_wake().is_some(), "within the quiet window of its answer");
        run_until(&mut d, t0 + 559 * MS, 2 * MS);
        assert_eq!(d.next_wake(), None, "ended 50 ms after the last new answer");
        assert_eq!(d.finish(), [peer(1)]);
    }

    #[test]
    fn each_new_answer_restarts_the_quiet_window() {
        let t0 = Instant::now();
        let mut d = Discovery::new(t0, 1000 * MS, None, 50 * MS);
        run_until(&mut d, t0, Duration::ZERO);
        d.on_event(Event::Reply(peer(1)), t0 + 10 * MS);
        run_until(&mut d, t0 + 10 * MS, 40 * MS);
        d.on_event(Event::Reply(peer(2)), t0 + 50 * MS);
        run_until(&mut d, t0 + 50 * MS, 45 * MS);
        assert!(d.next_wake().is_some(), "at 95 ms, 45 ms after the second answer");
        run_until(&mut d, t0 + 95 * MS, 10 * MS);
        assert_eq!(d.finish(), [peer(1), peer(2)]);
    }

    #[test]
    fn a_replier_is_found_only_once_its_address_is_proven() {
        let t0 = Instant::now();
        let mut d = Discovery::new(t0, 1000 * MS, Some(1), 50 * MS);
        run_until(&mut d, t0, Duration::ZERO);
        d.on_event(Event::ReplyUnproven(peer(1)), t0 + MS);
        d.on_event(Event::Proven(peer(1).id, peer(9).addr), t0 + MS); // elsewhere
        assert!(d.next_wake().is_some(), "not proven yet");
        d.on_event(Event::Proven(peer(1).id, peer(1).addr), t0 + 2 * MS);
        assert_eq!(d.next_wake(), None);
        assert_eq!(d.finish(), [peer(1)]);
    }

    #[test]
    fn a_peer_that_says_goodbye_during_discovery_is_dropped() {
        let t0 = Instant::now();
        let mut d = Discovery::new(t0, 1000 * MS, Some(2), 50 * MS);
        run_until(&mut d, t0, Duration::ZERO);
        d.on_event(Event::Reply(peer(1)), t0 + MS);
        d.on_event(Event::Gone(peer(1).id, peer(1).addr), t0 + 2 * MS);
        d.on_event(Event::Reply(peer(2)), t0 + 3 * MS);
        assert!(d.next_wake().is_some(), "one of two: still waiting");
    }

    #[test]
    fn an_ack_after_a_goodbye_still_counts_within_the_settle_time() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 1000 * MS, &[peer(1), peer(2)], Reach::Group);
        run_until(&mut s, t0, Duration::ZERO);
        s.on_event(Event::Gone(peer(1).id, peer(1).addr), t0 + MS);
        s.on_event(Event::Ack(peer(2).id, Some(peer(2).addr)), t0 + MS);
        assert_eq!(s.next_wake(), Some(t0 + 11 * MS), "waits for the leaver's ack");
        s.on_event(Event::Ack(peer(1).id, Some(peer(1).addr)), t0 + 2 * MS);
        assert_eq!(s.next_wake(), None);
        let report = s.finish(1);
        assert_eq!(report.acked, [peer(2), peer(1)]);
        assert!(report.missing.is_empty());
    }

    #[test]
    fn a_goodbye_with_no_ack_is_missing_once_the_settle_time_passes() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 1000 * MS, &[peer(1)], Reach::Group);
        run_until(&mut s, t0, Duration::ZERO);
        s.on_event(Event::Gone(peer(1).id, peer(1).addr), t0 + MS);
        let log = run_until(&mut s, t0 + MS, 1000 * MS);
        assert!(log.is_empty(), "a peer that left is not sent to again");
        let report = s.finish(1);
        assert_eq!(report.missing, [peer(1)]);
        assert_eq!(report.elapsed, 11 * MS);
    }

    #[test]
    fn a_targeted_send_goes_to_each_target_and_never_to_the_group() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 25 * MS, &[peer(1), peer(2)], Reach::Targets);
        let log = run_until(&mut s, t0, 25 * MS);
        let to_both = vec![
            Action::Unicast(peer(1).id, peer(1).addr),
            Action::Unicast(peer(2).id, peer(2).addr),
        ];
        assert_eq!(log[0], (0, to_both));
        assert_eq!(
            log[1],
            (
                10,
                vec![
                    Action::Resend(peer(1).id, peer(1).addr),
                    Action::Resend(peer(2).id, peer(2).addr)
                ]
            )
        );
        assert!(log.iter().all(|(_, a)| !a.contains(&Action::Multicast)));
    }

    #[test]
    fn answers_about_a_target_count_only_from_its_own_address() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 1000 * MS, &[peer(1)], Reach::Targets);
        run_until(&mut s, t0, Duration::ZERO);
        let elsewhere = peer(9).addr;
        s.on_event(Event::Gone(peer(1).id, elsewhere), t0 + MS);
        s.on_event(Event::Ack(peer(1).id, Some(elsewhere)), t0 + MS);
        assert!(s.next_wake().is_some(), "a forged ack and goodbye change nothing");
        s.on_event(Event::Ack(peer(1).id, Some(peer(1).addr)), t0 + 2 * MS);
        assert_eq!(s.finish(1).acked, [peer(1)]);
    }

    #[test]
    fn a_goodbye_from_the_target_never_makes_a_pass() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 1000 * MS, &[peer(1)], Reach::Targets);
        run_until(&mut s, t0, Duration::ZERO);
        s.on_event(Event::Gone(peer(1).id, peer(1).addr), t0 + MS);
        run_until(&mut s, t0 + MS, 1000 * MS);
        let report = s.finish(1);
        assert!(!report.all_acked() && report.missing == [peer(1)], "{report:?}");
    }

    #[test]
    fn a_target_whose_address_proves_itself_is_sent_to_at_once() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 1000 * MS, &[peer(1)], Reach::Targets);
        run_until(&mut s, t0, Duration::ZERO);
        s.on_event(Event::Proven(peer(1).id, peer(1).addr), t0 + MS);
        s.on_event(Event::Proven(peer(2).id, peer(2).addr), t0 + MS); // not a target
        assert_eq!(s.next_wake(), Some(t0), "at once");
        let mut out = Vec::new();
        s.on_timer(t0 + MS, &mut out);
        assert_eq!(out, [Action::Resend(peer(1).id, peer(1).addr)]);
    }

    #[test]
    fn an_ack_from_an_unproven_address_counts_only_once_it_is_proven() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 1000 * MS, &[peer(1)], Reach::Group);
        run_until(&mut s, t0, Duration::ZERO);
        s.on_event(Event::AckUnproven(peer(1).id, peer(1).addr), t0 + MS);
        assert!(s.next_wake().is_some(), "not yet");
        s.on_event(Event::Proven(peer(1).id, peer(1).addr), t0 + 2 * MS);
        assert_eq!(s.next_wake(), None);
        let report = s.finish(1);
        assert_eq!(report.acked, [peer(1)]);
        assert_eq!(report.elapsed, 2 * MS);
    }

    #[test]
    fn a_legacy_send_is_never_repeated() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 100 * MS, &[peer(1)], Reach::Legacy);
        let log = run_until(&mut s, t0, 100 * MS);
        assert_eq!(log, [(0, vec![Action::Multicast])]);
    }

    #[test]
    fn a_send_with_no_targets_ends_after_its_one_multicast() {
        let t0 = Instant::now();
        let mut s = SendOp::new(t0, 100 * MS, &[], Reach::Group);
        let log = run_until(&mut s, t0, 100 * MS);
        assert_eq!(log, [(0, vec![Action::Multicast])]);
        assert_eq!(s.finish(1).elapsed, Duration::ZERO);
    }
}
