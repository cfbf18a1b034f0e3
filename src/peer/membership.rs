//! The live member table: who is in the group now, fed by everything this
//! peer hears from members at proven addresses, and the schedule that
//! decides when a silent member is suspected, pinged and declared lost.
//!
//! A state machine told the time, like [`super::ops`]: the peer's timers
//! (on their own thread) call [`Table::on_timer`] and send the pings it asks
//! for, and what the peer hears is reported as it comes. Lost is decided only by this
//! peer's own exchanges with the member (its heartbeats, and pongs to our
//! pings), never by another peer's word.
//!
//! Schedule, for a member that says it beats every `I`: silent for
//! `I + I/5`, it is suspected and pinged (unicast) every `I/10` (10 to
//! 100 ms) until it answers; silent for `3 I`, it is lost. See the README
//! ("Membership") for what that gives under loss.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use super::PeerInfo;

/// Most members a table holds; beyond it new ones are refused (counted).
pub const MAX_MEMBERS: usize = 4096;
/// Most peers heard from but not yet proven, awaiting their proof.
const MAX_CANDIDATES: usize = 256;
/// Pings remembered per member, so that a late pong still counts.
const PINGS_KEPT: usize = 8;
/// Addresses kept per member ([`Member::addrs`]): IPv4 and IPv6 on each
/// of two segments.
pub const MAX_MEMBER_ADDRS: usize = 4;
/// The heartbeat intervals a member may announce; outside, clamped.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// A member of the group, as this peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its UUID, new every time it starts.
    pub id: Uuid,
    /// Where it takes unicast traffic (proven: it echoed a token sent there).
    pub addr: SocketAddr,
    /// Every address it was heard at lately and proved it receives at,
    /// `addr` first: a peer on several segments shared with this one, or
    /// heard over IPv4 and IPv6, has one per segment and family. At most
    /// [`MAX_MEMBER_ADDRS`]; an address silent for two of its intervals is
    /// dropped. A change to this list alone raises no event.
    pub addrs: Vec<SocketAddr>,
    /// Its name, possibly empty.
    pub name: String,
    /// When this peer first heard it.
    pub first_heard: SystemTime,
    /// When this peer last heard it.
    pub last_heard: SystemTime,
    /// How often it says it sends heartbeats (`None`: none heard yet, or
    /// it sends none; it is then checked quietly, see [`Peer::members`]).
    ///
    /// [`Peer::members`]: crate::Peer::members
    pub heartbeat: Option<Duration>,
    /// Whether it has been silent long enough to be asked directly.
    pub suspected: bool,
}

impl Member {
    /// As a send target.
    pub fn info(&self) -> PeerInfo {
        PeerInfo { id: self.id, addr: self.addr, name: self.name.clone() }
    }
}

/// What happened to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Joined,
    Left,
    Lost,
    Suspected,
    /// A suspected member answered or was heard: the suspicion is refuted.
    Alive,
    /// Its name or address changed.
    Updated,
}

/// A ping the timers should send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ping {
    pub to: SocketAddr,
    pub token: u64,
}

/// What became of a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// It counted.
    Counted,
    /// Its count was not above the last one's: a copy or a replay, ignored.
    Stale,
    /// A copy from an address of its sender's not proven yet (the same
    /// beat over the other family, say): the caller challenges it, and
    /// [`Table::proven`] adds it to the member's addresses.
    StaleUnproven,
    /// From an address not proven for its sender: the caller challenges it,
    /// and [`Table::proven`] admits it once the proof is back.
    Unproven,
    /// The table is full.
    Full,
}

#[derive(Debug)]
struct Entry {
    member: Member,
    heard: Instant,
    /// The highest heartbeat count seen.
    count: u64,
    next_ping: Instant,
    pings: [u64; PINGS_KEPT],
    next_slot: usize,
    /// Being pinged: silent past its suspicion deadline.
    asking: bool,
    /// When its address was last heard from. A member heard at two
    /// addresses (a host on two segments shared with this one) keeps the
    /// first while it is alive, so its address does not flap.
    addr_heard: Instant,
    /// Its other proven addresses, and when each was last heard.
    others: Vec<(SocketAddr, Instant)>,
}

#[derive(Debug)]
struct Candidate {
    addr: SocketAddr,
    name: String,
    count: u64,
    heartbeat: Option<Duration>,
    at: Instant,
}

/// How late the timer may run before this peer counts itself as having
/// been paused (SIGSTOP, a suspended VM, a starved thread).
pub(crate) const PAUSE_GRACE: Duration = Duration::from_millis(250);

/// The table, with the changes it made for the caller to publish.
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// The schedule for a member that announced no interval (found by
    /// discovery before its first heartbeat, or one that sends none):
    /// this peer's own interval, checked quietly, with pings and no
    /// Suspected event, so that a member that died before its first
    /// heartbeat is not kept for ever. `None` (heartbeats off here): such
    /// members are never checked.
    quiet: Option<Duration>,
    entries: HashMap<Uuid, Entry>,
    candidates: HashMap<Uuid, Candidate>,
    /// Members gone (lost: their last count; left: for good), so that a
    /// replayed old heartbeat does not bring them back. Oldest forgotten
    /// first, past [`MAX_MEMBERS`].
    departed: HashMap<Uuid, u64>,
    departed_order: VecDeque<Uuid>,
}

/// The deadlines of a member that beats every `interval`.
fn suspect_after(interval: Duration) -> Duration {
    interval + interval / 5
}
fn lost_after(interval: Duration) -> Duration {
    interval * 3
}
fn ping_every(interval: Duration) -> Duration {
    (interval / 10).clamp(Duration::from_millis(10), Duration::from_millis(100))
}

/// A member's announced interval, clamped to what the schedule supports.
pub(crate) fn interval_from_ms(ms: u32) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(ms.into()).clamp(MIN_INTERVAL, MAX_INTERVAL))
}

pub(crate) type Changes = Vec<(Change, Member)>;

impl Table {
    /// A table for a peer that beats every `quiet` (see [`Table::quiet`]).
    pub fn new(quiet: Option<Duration>) -> Table {
        Table { quiet, ..Table::default() }
    }

    /// A sign of life from `who` at `addr`: a reply, an ack, a message.
    /// Counts only for a member already in the table, at its address (a
    /// move is proven through a heartbeat and [`Table::proven`]).
    pub fn heard(
        &mut self,
        who: Uuid,
        addr: SocketAddr,
        now: Instant,
        wall: SystemTime,
        changes: &mut Changes,
    ) {
        if let Some(e) = self.entries.get_mut(&who)
            && e.member.addr == addr
        {
            refresh(e, addr, None, now, wall, changes);
        }
    }

    /// A peer a discovery found (proven): joins if new.
    pub fn found(
        &mut self,
        peer: &PeerInfo,
        now: Instant,
        wall: SystemTime,
        changes: &mut Changes,
    ) -> bool {
        if let Some(e) = self.entries.get_mut(&peer.id) {
            refresh(e, peer.addr, Some(&peer.name), now, wall, changes);
            return true;
        }
        self.join(peer.id, peer.addr, peer.name.clone(), 0, None, now, wall, changes)
    }

    /// A heartbeat numbered `count` from `who` at `addr`.
    #[allow(clippy::too_many_arguments)]
    pub fn heartbeat(
        &mut self,
        who: Uuid,
        addr: SocketAddr,
        name: &str,
        count: u64,
        heartbeat: Option<Duration>,
        proven: bool,
        now: Instant,
        wall: SystemTime,
        changes: &mut Changes,
    ) -> Beat {
        if let Some(e) = self.entries.get_mut(&who) {
            if count < e.count {
                return Beat::Stale; // a replay, or long delayed
            }
            if count == e.count {
                // The same beat over another segment or family, arrived
                // second: that address still works.
                if addr == e.member.addr {
                    e.addr_heard = e.addr_heard.max(now);
                } else if proven {
                    note_other(e, addr, now);
                } else {
                    self.remember(who, addr, name, count, heartbeat, now);
                    return Beat::StaleUnproven;
                }
                return Beat::Stale;
            }
            if addr != e.member.addr && !proven {
                self.remember(who, addr, name, count, heartbeat, now);
                return Beat::Unproven;
            }
            e.count = count;
            e.member.heartbeat = heartbeat;
            refresh(e, addr, Some(name), now, wall, changes);
            return Beat::Counted;
        }
        if self.departed.get(&who).is_some_and(|&last| count <= last) {
            return Beat::Stale;
        }
        if !proven {
            self.remember(who, addr, name, count, heartbeat, now);
            return Beat::Unproven;
        }
        if self.join(who, addr, name.to_owned(), count, heartbeat, now, wall, changes) {
            Beat::Counted
        } else {
            Beat::Full
        }
    }

    fn remember(
        &mut self,
        who: Uuid,
        addr: SocketAddr,
        name: &str,
        count: u64,
        heartbeat: Option<Duration>,
        at: Instant,
    ) {
        if self.candidates.len() >= MAX_CANDIDATES && !self.candidates.contains_key(&who) {
            let oldest = self.candidates.iter().min_by_key(|(_, c)| c.at).map(|(id, _)| *id);
            if let Some(id) = oldest {
                self.candidates.remove(&id);
            }
        }
        let name = name.to_owned();
        self.candidates.insert(who, Candidate { addr, name, count, heartbeat, at });
    }

    /// `who` proved it receives at `addr`: a candidate heard there joins
    /// (or a member moves there).
    pub fn proven(
        &mut self,
        who: Uuid,
        addr: SocketAddr,
        now: Instant,
        wall: SystemTime,
        changes: &mut Changes,
    ) -> bool {
        // Only the candidate heard at this address: a proof for another
        // (the other family's copy) must not throw this one away.
        if self.candidates.get(&who).is_none_or(|c| c.addr != addr) {
            return false;
        }
        let Some(c) = self.candidates.remove(&who) else { return false };
        if let Some(e) = self.entries.get_mut(&who) {
            e.count = e.count.max(c.count);
            refresh(e, addr, Some(&c.name), now, wall, changes);
            return true;
        }
        self.join(who, addr, c.name, c.count, c.heartbeat, now, wall, changes)
    }

    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        who: Uuid,
        addr: SocketAddr,
        name: String,
        count: u64,
        heartbeat: Option<Duration>,
        now: Instant,
        wall: SystemTime,
        changes: &mut Changes,
    ) -> bool {
        if self.entries.len() >= MAX_MEMBERS {
            return false;
        }
        let member = Member {
            id: who,
            addr,
            name,
            first_heard: wall,
            last_heard: wall,
            heartbeat,
            suspected: false,
            addrs: vec![addr],
        };
        changes.push((Change::Joined, member.clone()));
        let entry = Entry {
            member,
            heard: now,
            count,
            next_ping: now,
            pings: [0; PINGS_KEPT],
            next_slot: 0,
            asking: false,
            addr_heard: now,
            others: Vec::new(),
        };
        self.entries.insert(who, entry);
        true
    }

    /// A goodbye from `who` at `from`: it leaves, if that is one of its
    /// addresses. False (a forgery) when it is known at others only.
    pub fn left(&mut self, who: Uuid, from: SocketAddr, changes: &mut Changes) -> bool {
        self.candidates.remove(&who);
        match self.entries.get(&who) {
            Some(e) if !e.member.addrs.contains(&from) => false,
            Some(_) => {
                if let Some(e) = self.entries.remove(&who) {
                    self.depart(who, u64::MAX);
                    changes.push((Change::Left, e.member));
                }
                true
            }
            None => true,
        }
    }

    /// A pong: counts only as the answer to one of our recent pings to
    /// that member, from one of its proven addresses.
    pub fn pong(
        &mut self,
        who: Uuid,
        token: u64,
        from: SocketAddr,
        now: Instant,
        wall: SystemTime,
        changes: &mut Changes,
    ) -> bool {
        let Some(e) = self.entries.get_mut(&who) else { return false };
        // From any address it proved: a host answers from the address it
        // uses on the link, which may be its other one.
        let Some(slot) = e.pings.iter().position(|&t| t == token) else { return false };
        if !e.member.addrs.contains(&from) || token == 0 {
            return false;
        }
        // Used up: a recorded pong, replayed, answers nothing.
        e.pings[slot] = 0;
        refresh(e, from, None, now, wall, changes);
        true
    }

    /// The clock says `now`: suspects, pings (tokens from `fresh`) and
    /// declares lost as the schedule says.
    pub fn on_timer(
        &mut self,
        now: Instant,
        mut fresh: impl FnMut() -> Option<u64>,
        pings: &mut Vec<Ping>,
        changes: &mut Changes,
    ) {
        let mut lost = Vec::new();
        for (id, e) in &mut self.entries {
            let Some(interval) = e.member.heartbeat.or(self.quiet) else { continue };
            let silent = now.saturating_duration_since(e.heard);
            if silent >= lost_after(interval) {
                lost.push(*id);
                continue;
            }
            if silent < suspect_after(interval) {
                continue;
            }
            if !e.asking {
                e.asking = true;
                e.next_ping = now;
                if e.member.heartbeat.is_some() {
                    e.member.suspected = true;
                    changes.push((Change::Suspected, e.member.clone()));
                }
            }
            if now >= e.next_ping {
                if let Some(token) = fresh() {
                    e.pings[e.next_slot] = token;
                    e.next_slot = (e.next_slot + 1) % PINGS_KEPT;
                    pings.push(Ping { to: e.member.addr, token });
                }
                e.next_ping = now + ping_every(interval);
            }
        }
        for id in lost {
            if let Some(e) = self.entries.remove(&id) {
                self.depart(id, e.count);
                changes.push((Change::Lost, e.member));
            }
        }
        let stale = now.checked_sub(MAX_INTERVAL);
        self.candidates.retain(|_, c| stale.is_none_or(|s| c.at > s));
    }

    fn depart(&mut self, who: Uuid, count: u64) {
        if self.departed.insert(who, count).is_none() {
            self.departed_order.push_back(who);
        }
        while self.departed_order.len() > MAX_MEMBERS {
            if let Some(old) = self.departed_order.pop_front() {
                self.departed.remove(&old);
            }
        }
    }

    /// This peer's timer ran `late` after it should have (more than
    /// [`PAUSE_GRACE`]): the peer was paused. Silence only counts while it
    /// was awake to hear, so its members get the time back, and a resumed
    /// peer pings them instead of declaring them all lost before it has
    /// even read what they sent meanwhile.
    pub fn resumed(&mut self, late: Duration) {
        for e in self.entries.values_mut() {
            e.heard += late;
        }
    }

    /// When [`Table::on_timer`] next has something to do.
    pub fn next_wake(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| {
                let interval = e.member.heartbeat.or(self.quiet)?;
                Some(if e.asking {
                    e.next_ping.min(e.heard + lost_after(interval))
                } else {
                    e.heard + suspect_after(interval)
                })
            })
            .min()
    }

    /// The member with this id.
    pub fn member(&self, id: Uuid) -> Option<Member> {
        self.entries.get(&id).map(|e| e.member.clone())
    }

    /// Every member, in no particular order.
    pub fn snapshot(&self) -> Vec<Member> {
        self.entries.values().map(|e| e.member.clone()).collect()
    }
}

/// Heard from `e` at `now`: no longer suspected, maybe renamed or moved.
/// How long a member's address may be silent, while it is heard at another,
/// before the other becomes its address: two of its intervals (this
/// peer's default for one that announced none).
fn address_kept(member: &Member) -> Duration {
    member.heartbeat.unwrap_or(crate::DEFAULT_HEARTBEAT).saturating_mul(2)
}

/// `addr`, proven for `e`'s member but not its address, was heard `now`.
fn note_other(e: &mut Entry, addr: SocketAddr, now: Instant) {
    let full = e.others.len() + 1 >= MAX_MEMBER_ADDRS;
    match e.others.iter_mut().find(|(a, _)| *a == addr) {
        Some((_, at)) => *at = (*at).max(now),
        None if !full => e.others.push((addr, now)),
        None => {
            // Full: the one heard least lately makes room.
            if let Some(oldest) = e.others.iter_mut().min_by_key(|(_, at)| *at) {
                *oldest = (addr, now);
            }
        }
    }
    list_addrs(e, now);
}

/// Drops the other addresses silent too long and lists the rest in
/// `Member::addrs`, in the order first heard.
fn list_addrs(e: &mut Entry, now: Instant) {
    let kept = address_kept(&e.member);
    e.others.retain(|(_, at)| now.saturating_duration_since(*at) <= kept);
    e.member.addrs.clear();
    e.member.addrs.push(e.member.addr);
    e.member.addrs.extend(e.others.iter().map(|(a, _)| *a));
}

fn refresh(
    e: &mut Entry,
    addr: SocketAddr,
    name: Option<&str>,
    now: Instant,
    wall: SystemTime,
    changes: &mut Changes,
) {
    e.heard = e.heard.max(now);
    e.member.last_heard = wall;
    let mut updated = false;
    if e.member.addr == addr {
        e.addr_heard = e.addr_heard.max(now);
    } else if now.saturating_duration_since(e.addr_heard) > address_kept(&e.member) {
        // Its address has been silent while another was heard: it moved
        // (the old one, silent that long, is not listed any more).
        e.others.retain(|(a, _)| *a != addr);
        e.member.addr = addr;
        e.addr_heard = now;
        updated = true;
    } else {
        note_other(e, addr, now);
    }
    list_addrs(e, now);
    if let Some(name) = name
        && e.member.name != name
    {
        e.member.name = name.to_owned();
        updated = true;
    }
    e.asking = false;
    // Updated first: an Alive event that carries the new address must not
    // come before the event that says it changed.
    let was_suspected = std::mem::replace(&mut e.member.suspected, false);
    if updated {
        changes.push((Change::Updated, e.member.clone()));
    }
    if was_suspected {
        changes.push((Change::Alive, e.member.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    struct World {
        table: Table,
        t0: Instant,
        wall: SystemTime,
        changes: Changes,
        pings: Vec<Ping>,
        next_token: u64,
    }

    impl World {
        fn new() -> World {
            World {
                table: Table::default(),
                t0: Instant::now(),
                wall: SystemTime::UNIX_EPOCH,
                changes: Vec::new(),
                pings: Vec::new(),
                next_token: 1,
            }
        }
        fn at(&self, t: Duration) -> Instant {
            self.t0 + t
        }
        /// A proven heartbeat from `from`, at `t`.
        fn beat_from(&mut self, from: SocketAddr, t: Duration, who: Uuid, count: u64) -> Beat {
            let now = self.at(t);
            let c = &mut self.changes;
            self.table.heartbeat(who, from, "m", count, Some(SEC), true, now, self.wall, c)
        }
        fn beat(&mut self, t: Duration, who: Uuid, count: u64, proven: bool) -> Beat {
            let now = self.at(t);
            self.table.heartbeat(
                who,
                addr(1),
                "m",
                count,
                Some(SEC),
                proven,
                now,
                self.wall,
                &mut self.changes,
            )
        }
        fn tick(&mut self, t: Duration) {
            let now = self.at(t);
            let tokens = &mut self.next_token;
            let fresh = || {
                *tokens += 1;
                Some(*tokens)
            };
            self.table.on_timer(now, fresh, &mut self.pings, &mut self.changes);
        }
        /// Runs the timer at every wake up to `t`.
        fn run_until(&mut self, t: Duration) {
            while let Some(wake) = self.table.next_wake() {
                if wake > self.at(t) {
                    break;
                }
                let at = wake.saturating_duration_since(self.t0);
                self.tick(at);
            }
            self.tick(t);
        }
        fn kinds(&mut self) -> Vec<Change> {
            self.changes.drain(..).map(|(c, _)| c).collect()
        }
    }

    #[test]
    fn an_unproven_heartbeat_waits_for_the_proof_then_joins() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        assert_eq!(w.beat(ms(0), who, 1, false), Beat::Unproven);
        assert!(w.kinds().is_empty());
        assert!(
            !w.table.proven(who, addr(2), w.at(ms(1)), w.wall, &mut w.changes),
            "wrong address"
        );
        w.beat(ms(0), who, 1, false);
        assert!(w.table.proven(who, addr(1), w.at(ms(1)), w.wall, &mut w.changes));
        assert_eq!(w.kinds(), [Change::Joined]);
        assert_eq!(w.table.snapshot()[0].name, "m");
    }

    #[test]
    fn a_member_heard_at_two_addresses_keeps_the_first_until_it_falls_silent() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        w.beat(ms(0), who, 1, true);
        assert_eq!(w.kinds(), [Change::Joined]);
        // Every beat comes over both segments, the other copy first now and
        // then: no flapping between the two.
        for n in 2..10u64 {
            w.beat_from(addr(2), ms(n * 1000), who, n);
            w.beat(ms(n * 1000), who, n, true);
        }
        assert!(w.kinds().is_empty(), "no Updated while the first address is heard");
        assert_eq!(w.table.snapshot()[0].addr, addr(1));
        // The first falls silent (that segment went): after two intervals
        // the other is its address.
        for n in 10..13u64 {
            w.beat_from(addr(2), ms(n * 1000), who, n);
        }
        assert_eq!(w.kinds(), [Change::Updated]);
        assert_eq!(w.table.snapshot()[0].addr, addr(2));
    }

    #[test]
    fn a_dual_stack_member_is_one_member_listing_both_addresses_once_proven() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        let v6: SocketAddr = "[fe80::1%2]:4000".parse().unwrap();
        w.beat(ms(0), who, 1, true);
        // The same beat over IPv6, from an address not proven yet: a
        // challenge, then the proof lists it; still one member, no event.
        let now = w.at(ms(1));
        let c = &mut w.changes;
        let copy = w.table.heartbeat(who, v6, "m", 1, Some(SEC), false, now, w.wall, c);
        assert_eq!(copy, Beat::StaleUnproven);
        assert!(w.table.proven(who, v6, w.at(ms(2)), w.wall, &mut w.changes));
        assert_eq!(w.kinds(), [Change::Joined]);
        let member = &w.table.snapshot()[0];
        assert_eq!((member.addr, member.addrs.clone()), (addr(1), vec![addr(1), v6]));
        // Its IPv6 copies keep the address listed; once they stop, it goes
        // after two intervals.
        for n in 2..4u64 {
            w.beat(ms(n * 1000), who, n, true);
            assert_eq!(w.beat_from(v6, ms(n * 1000 + 1), who, n), Beat::Stale);
        }
        assert_eq!(w.table.snapshot()[0].addrs, [addr(1), v6]);
        for n in 4..7u64 {
            w.beat(ms(n * 1000), who, n, true);
        }
        assert_eq!(w.table.snapshot()[0].addrs, [addr(1)]);
        // A goodbye over either family it proved is its own.
        w.beat_from(v6, ms(7000), who, 7);
        assert!(w.table.left(who, v6, &mut w.changes));
        assert!(w.kinds().ends_with(&[Change::Left]));
    }

    #[test]
    fn only_the_current_beat_keeps_another_address_listed_and_either_proof_admits() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        let v6: SocketAddr = "[fe80::1%2]:4000".parse().unwrap();
        // A newcomer's two copies, both unproven: the second is the
        // candidate; a proof for the first is no loss of it.
        assert_eq!(w.beat(ms(0), who, 1, false), Beat::Unproven);
        let now = w.at(ms(1));
        let c = &mut w.changes;
        assert_eq!(
            w.table.heartbeat(who, v6, "m", 1, Some(SEC), false, now, w.wall, c),
            Beat::Unproven
        );
        assert!(!w.table.proven(who, addr(1), w.at(ms(2)), w.wall, &mut w.changes));
        assert!(w.table.proven(who, v6, w.at(ms(3)), w.wall, &mut w.changes));
        assert_eq!(w.kinds(), [Change::Joined]);
        // An old count from a proven address is a replay: nothing listed.
        w.beat_from(v6, ms(1000), who, 5);
        assert_eq!(w.beat_from(addr(2), ms(1001), who, 4), Beat::Stale);
        assert_eq!(w.table.snapshot()[0].addrs, [v6]);
    }

    #[test]
    fn the_addresses_listed_are_capped() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        w.beat(ms(0), who, 1, true);
        for port in 2..10 {
            w.beat_from(addr(port), ms(u64::from(port)), who, 1);
        }
        let addrs = &w.table.snapshot()[0].addrs;
        assert_eq!(addrs.len(), MAX_MEMBER_ADDRS);
        // Its address first; the newest in place of the one heard least lately.
        assert_eq!(addrs[0], addr(1));
        assert!(addrs.contains(&addr(9)) && !addrs.contains(&addr(2)), "{addrs:?}");
    }

    #[test]
    fn old_or_repeated_heartbeat_counts_mean_nothing() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        assert_eq!(w.beat(ms(0), who, 5, true), Beat::Counted);
        assert_eq!(w.beat(ms(900), who, 5, true), Beat::Stale);
        assert_eq!(w.beat(ms(900), who, 4, true), Beat::Stale);
        // A replayed old heartbeat does not delay the loss.
        w.run_until(ms(2999));
        assert!(w.kinds().contains(&Change::Suspected));
        w.beat(ms(2999), who, 5, true);
        w.run_until(ms(3000));
        assert_eq!(w.kinds(), [Change::Lost]);
    }

    #[test]
    fn a_silent_member_is_suspected_pinged_every_100ms_and_lost_at_three_intervals() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        w.beat(ms(0), who, 1, true);
        w.kinds();
        w.run_until(ms(1199));
        assert!(w.kinds().is_empty(), "not suspected before 1.2 intervals");
        w.run_until(ms(1200));
        assert_eq!(w.kinds(), [Change::Suspected]);
        w.run_until(ms(2999));
        // Pings at 1.2 s, 1.3 s, ... 2.9 s.
        assert_eq!(w.pings.len(), 18, "{:?}", w.pings.len());
        assert!(w.table.snapshot()[0].suspected);
        w.run_until(ms(3000));
        assert_eq!(w.kinds(), [Change::Lost]);
        assert!(w.table.snapshot().is_empty());
        assert_eq!(w.table.next_wake(), None);
    }

    #[test]
    fn a_pong_to_any_recent_ping_refutes_the_suspicion_but_a_made_up_one_does_not() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        w.beat(ms(0), who, 1, true);
        w.run_until(ms(1500));
        let first = w.pings[0].token;
        w.kinds();
        let now = w.at(ms(1500));
        assert!(!w.table.pong(who, 999_999, addr(1), now, w.wall, &mut w.changes));
        assert!(!w.table.pong(who, first, addr(2), now, w.wall, &mut w.changes), "wrong address");
        assert!(
            w.table.pong(who, first, addr(1), now, w.wall, &mut w.changes),
            "a late pong counts"
        );
        assert_eq!(w.kinds(), [Change::Alive]);
        // The same pong again (replayed) answers nothing.
        assert!(!w.table.pong(who, first, addr(1), now, w.wall, &mut w.changes), "used up");
        // Heard at 1.5 s: lost no earlier than 4.5 s.
        w.run_until(ms(4499));
        assert_eq!(w.kinds(), [Change::Suspected]);
        w.run_until(ms(4500));
        assert_eq!(w.kinds(), [Change::Lost]);
    }

    #[test]
    fn a_heartbeat_refutes_and_a_goodbye_only_from_its_address_removes() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        w.beat(ms(0), who, 1, true);
        w.run_until(ms(1300));
        w.beat(ms(1300), who, 2, true);
        assert_eq!(w.kinds(), [Change::Joined, Change::Suspected, Change::Alive]);
        assert!(!w.table.left(who, addr(9), &mut w.changes));
        assert!(w.table.left(who, addr(1), &mut w.changes));
        assert_eq!(w.kinds(), [Change::Left]);
    }

    #[test]
    fn after_a_pause_members_are_asked_before_they_are_lost() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        w.beat(ms(0), who, 1, true);
        w.tick(ms(0));
        w.kinds();
        // Planned to wake at 1.2 s, but stopped until 10 s.
        w.table.resumed(ms(10_000 - 1_200));
        w.tick(ms(10_000));
        assert_eq!(w.kinds(), [Change::Suspected], "asked, not lost");
        assert_eq!(w.pings.len(), 1);
        let token = w.pings[0].token;
        assert!(w.table.pong(who, token, addr(1), w.at(ms(10_010)), w.wall, &mut w.changes));
        assert_eq!(w.kinds(), [Change::Alive]);
        // Silent from then on, it is lost at the usual pace.
        w.run_until(ms(13_009));
        assert_eq!(w.kinds(), [Change::Suspected]);
        w.run_until(ms(13_010));
        assert_eq!(w.kinds(), [Change::Lost]);
    }

    #[test]
    fn a_replayed_heartbeat_does_not_bring_back_a_lost_or_departed_member() {
        let mut w = World::new();
        let (lost, gone) = (Uuid::from_u128(1), Uuid::from_u128(2));
        w.beat(ms(0), lost, 7, true);
        w.beat(ms(0), gone, 3, true);
        assert!(w.table.left(gone, addr(1), &mut w.changes));
        w.run_until(ms(3000));
        assert_eq!(
            w.kinds(),
            [Change::Joined, Change::Joined, Change::Left, Change::Suspected, Change::Lost]
        );
        assert_eq!(w.beat(ms(3001), lost, 7, true), Beat::Stale);
        assert_eq!(w.beat(ms(3001), gone, 1000, true), Beat::Stale);
        // The lost one, resumed, beats on from where it was: back.
        assert_eq!(w.beat(ms(3002), lost, 8, true), Beat::Counted);
        assert_eq!(w.kinds(), [Change::Joined]);
    }

    #[test]
    fn with_heartbeats_off_here_members_without_heartbeats_are_never_checked() {
        let mut w = World::new();
        let peer = PeerInfo { id: Uuid::from_u128(3), addr: addr(3), name: "d".into() };
        assert!(w.table.found(&peer, w.at(ms(0)), w.wall, &mut w.changes));
        assert_eq!(w.table.next_wake(), None);
        w.run_until(ms(100_000));
        assert_eq!(w.kinds(), [Change::Joined]);
    }

    #[test]
    fn a_member_found_before_any_heartbeat_is_checked_quietly_on_our_schedule() {
        let mut w = World::new();
        w.table = Table::new(Some(SEC));
        let peer = PeerInfo { id: Uuid::from_u128(3), addr: addr(3), name: "d".into() };
        w.table.found(&peer, w.at(ms(0)), w.wall, &mut w.changes);
        // Silent: pinged from 1.2 s with no Suspected event; answering
        // keeps it without an Alive one either.
        w.run_until(ms(1200));
        assert_eq!(w.kinds(), [Change::Joined]);
        let token = w.pings.last().unwrap().token;
        assert!(w.table.pong(peer.id, token, addr(3), w.at(ms(1210)), w.wall, &mut w.changes));
        assert!(w.kinds().is_empty());
        assert!(!w.table.snapshot()[0].suspected);
        // Dead before its first heartbeat: lost three intervals on.
        w.run_until(ms(4209));
        assert!(w.kinds().is_empty());
        w.run_until(ms(4210));
        assert_eq!(w.kinds(), [Change::Lost]);
    }

    #[test]
    fn a_fast_member_is_lost_within_a_second_at_250ms() {
        let mut w = World::new();
        let who = Uuid::from_u128(1);
        let q = ms(250);
        w.table.heartbeat(who, addr(1), "", 1, Some(q), true, w.at(ms(0)), w.wall, &mut w.changes);
        w.run_until(ms(749));
        assert!(w.kinds().ends_with(&[Change::Suspected]));
        assert!(w.pings.len() >= 15, "a ping every 25 ms: {}", w.pings.len());
        w.run_until(ms(750));
        assert_eq!(w.kinds(), [Change::Lost]);
    }

    #[test]
    fn the_table_and_the_candidates_are_capped() {
        let mut w = World::new();
        for i in 0..(MAX_CANDIDATES as u128 + 50) {
            w.beat(ms(0), Uuid::from_u128(i + 1), 1, false);
        }
        assert_eq!(w.table.candidates.len(), MAX_CANDIDATES);
        for i in 0..(MAX_MEMBERS as u128) {
            assert_eq!(w.beat(ms(0), Uuid::from_u128(10_000 + i), 1, true), Beat::Counted);
        }
        assert_eq!(w.beat(ms(0), Uuid::from_u128(1), 1, true), Beat::Full);
    }
}
