//! One inbound datagram to where it belongs: decoded once, then a probe is
//! answered, a message queued and acknowledged, a reply or ack handed to
//! the operation waiting for it, a goodbye taken off the peer list, a
//! challenge echoed and a proof recorded. The original's datagrams take
//! the same paths through [`super::legacy`].
//!
//! Trust: a reply or ack counts only if it came to the unicast socket
//! (where answers to our own datagrams go) carrying the unpredictable id of
//! an operation in flight; an ack only from the address its peer answered
//! from, a goodbye from that or another address the peer proved (its other
//! family). Probes and challenges are answered at a bounded rate.
//! The original's text protocol is IPv4 only: over IPv6 it is malformed.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use super::addresses::{NoChallenge, Proof};
use super::inbox::{Ack, Begin, Key, Pushed};
use super::membership::{self, Beat, Table};
use super::pending::Event;
use super::replay::{Refused, unix_us};
use super::stats::bump;
use super::transport::{Handler, Transport, Via};
use super::{Core, Message, PeerInfo, Verdict, heartbeat, legacy, lock};
use crate::wire::sealed::Nonce;
use crate::wire::{self, Body, Frame, Timing, WireError};

impl Handler for Core {
    fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Never panics on any input: every field is checked by the decoders.
    fn on_datagram(&self, buf: &[u8], src: SocketAddr, via: Via, sealed: Option<Nonce>) {
        let frame = match wire::decode(buf) {
            Ok(frame) => frame,
            // Over IPv4 only, as the original spoke it: its answers go to the
            // IPv4 group, which an IPv6 asker may not even be on.
            Err(WireError::BadMagic) if self.legacy && src.is_ipv4() => {
                return legacy::handle(self, buf, src);
            }
            Err(WireError::UnsupportedVersion(v)) if v < wire::VERSION => {
                return bump(&self.counters.old_version);
            }
            Err(_) => return bump(&self.counters.malformed),
        };
        if frame.sender == self.id {
            return; // our own multicast, looped back
        }
        if let Some(nonce) = sealed
            && asks_unprompted(&frame.body)
            && let Err(refused) = lock(&self.replay).check(nonce, unix_us(SystemTime::now()))
        {
            return bump(match refused {
                Refused::Stale => &self.counters.stale,
                Refused::Replayed => &self.counters.replayed,
            });
        }
        let asks = matches!(
            frame.body,
            Body::Probe { .. }
                | Body::Message { .. }
                | Body::Challenge
                | Body::Heartbeat { .. }
                | Body::Ping
        );
        if asks && self.off_link(src) {
            return;
        }
        // Answers, and challenges (only ever sent to one address), come to
        // the unicast socket: one multicast challenge must not draw a proof
        // from every peer.
        let unicast_only = matches!(
            frame.body,
            Body::ProbeReply { .. }
                | Body::Ack
                | Body::Proof
                | Body::Challenge
                | Body::Ping
                | Body::Pong
        );
        if unicast_only && via != Via::Unicast {
            return bump(&self.counters.forged); // answers come to the unicast socket
        }
        match frame.body {
            Body::Probe { .. } if self.receiver => answer_probe(self, &frame, buf.len(), src),
            Body::Message { timing, name, payload } if self.receiver => {
                deliver(self, &frame, timing, name, payload, src);
            }
            Body::Probe { .. } | Body::Message { .. } => {} // not a receiver
            Body::ProbeReply { name, .. } => on_reply(self, &frame, name, buf.len(), src),
            Body::Ack => {
                let proven = self.addresses.is_proven(src, frame.sender);
                let ack = || {
                    if proven {
                        Event::Ack(frame.sender, Some(src))
                    } else {
                        Event::AckUnproven(frame.sender, src)
                    }
                };
                if self.pending.native(frame.id, ack) {
                    if proven {
                        self.heard(frame.sender, src);
                    }
                } else if !self.pending.ended_lately(frame.id) {
                    bump(&self.counters.forged);
                }
            }
            Body::Goodbye => {
                let in_table = self.update_table(|t, _, _, c| t.left(frame.sender, src, c));
                // From any address it proved, as a dual-stack peer's goodbye
                // comes over each family.
                let proven = self.addresses.is_proven(src, frame.sender);
                if !self.members.remove(frame.sender, src, proven) || !in_table {
                    bump(&self.counters.forged);
                }
                // Operations check the address against their own targets.
                self.pending.everyone(Event::Gone(frame.sender, src));
            }
            Body::Challenge if self.receiver => answer_challenge(self, &frame, src),
            Body::Challenge => {} // nobody has a reason to challenge a non-receiver
            Body::Proof => match self.addresses.prove(src, frame.id, frame.sender) {
                Proof::New => {
                    self.pending.everyone(Event::Proven(frame.sender, src));
                    self.update_table(|t, now, wall, c| t.proven(frame.sender, src, now, wall, c));
                }
                // Operations heard of it when it was new; telling them again
                // would make a send resend at once, for every copy of a
                // proof replayed from a dead peer's address.
                Proof::Known => {}
                Proof::Unknown => bump(&self.counters.forged),
            },
            Body::Heartbeat { interval_ms, name } => {
                on_heartbeat(self, &frame, interval_ms, name, buf.len(), src);
            }
            Body::Ping if self.receiver => answer_ping(self, &frame, src),
            Body::Ping => {}
            Body::Pong => {
                let pong = |t: &mut Table, now, wall, c: &mut _| {
                    t.pong(frame.sender, frame.id, src, now, wall, c)
                };
                if !self.update_table(pong) {
                    bump(&self.counters.forged);
                }
            }
        }
    }

    fn on_shutdown(&self) {
        self.close();
    }
}

/// The kinds whose meaning does not hang on an id this peer drew, so that
/// under a key a replayed copy must be refused by its nonce; see
/// [`super::replay`].
fn asks_unprompted(body: &Body<'_>) -> bool {
    match body {
        Body::Probe { .. }
        | Body::Message { .. }
        | Body::Goodbye
        | Body::Challenge
        | Body::Heartbeat { .. }
        | Body::Ping => true,
        Body::ProbeReply { .. } | Body::Ack | Body::Proof | Body::Pong => false,
    }
}

impl Core {
    /// A sign of life from a member at a proven address.
    fn heard(&self, who: Uuid, addr: SocketAddr) {
        self.update_table(|t, now, wall, c| t.heard(who, addr, now, wall, c));
    }

    /// With TTL 1 a real peer is on the link: true (and counted) for a
    /// source that is not.
    pub(super) fn off_link(&self, src: SocketAddr) -> bool {
        let off = self.on_link.as_ref().is_some_and(|l| !l.contains(src.ip()));
        if off {
            bump(&self.counters.off_link);
        }
        off
    }
}

fn answer_probe(core: &Core, probe: &Frame<'_>, probe_len: usize, src: SocketAddr) {
    let addr = core.transport.local_addr_for(src);
    let reply = core.frame(probe.id, Body::ProbeReply { addr, name: &core.name });
    // No amplification: a reply never outgrows the probe that asked.
    if reply.encoded_len() > probe_len {
        return bump(&core.counters.probes_refused);
    }
    if !core.limiter.allow(src, Instant::now()) {
        return bump(&core.counters.rate_limited);
    }
    if let Some(bytes) = core.encode_or_count(&reply) {
        let _ = core.transport.send(&bytes, src);
    }
}

/// Where the reply came from, not the address it claims, is the peer's
/// address: replies leave from the unicast socket, and a claim could point
/// anywhere. A replier counts once it has proven that it receives there:
/// an address not proven yet for this peer is challenged at once, and the
/// discovery counts the peer when the proof comes back (one round trip,
/// once; later discoveries find it proven).
fn on_reply(core: &Core, frame: &Frame<'_>, name: &str, len: usize, src: SocketAddr) {
    if !core.pending.waits_for(frame.id) {
        if !core.pending.ended_lately(frame.id) {
            bump(&core.counters.forged); // no discovery asked for it
        }
        return;
    }
    let peer = PeerInfo { id: frame.sender, addr: src, name: name.to_owned() };
    if core.addresses.is_proven(src, frame.sender) {
        core.heard(frame.sender, src);
        core.pending.native(frame.id, || Event::Reply(peer));
        return;
    }
    let now = Instant::now();
    core.addresses.heard(src, len, now);
    let _ = challenge(core, src, frame.sender, now);
    core.pending.native(frame.id, || Event::ReplyUnproven(peer));
}

/// Sends `addr` a challenge, if one is due and its allowance pays for it;
/// why not, if not.
pub(super) fn challenge(
    core: &Core,
    addr: SocketAddr,
    who: Uuid,
    now: Instant,
) -> Result<(), NoChallenge> {
    let len = core.frame(0, Body::Challenge).encoded_len();
    let fresh = || super::pending::fresh_id().ok();
    let token = core.addresses.challenge(addr, who, len, now, fresh)?;
    if let Some(bytes) = core.encode_or_count(&core.frame(token, Body::Challenge)) {
        let _ = core.transport.send(&bytes, addr);
    }
    Ok(())
}

/// Echoes a challenge's token to where it came from: the same size, so no
/// amplification, and rate-limited like a probe against reflection.
fn answer_challenge(core: &Core, frame: &Frame<'_>, src: SocketAddr) {
    if !core.limiter.allow(src, Instant::now()) {
        return bump(&core.counters.rate_limited);
    }
    if let Some(bytes) = core.encode_or_count(&core.frame(frame.id, Body::Proof)) {
        let _ = core.transport.send(&bytes, src);
    }
}

/// A heartbeat counts from a proven address; from another, the address is
/// challenged, and the member joins when the proof comes back. A newcomer
/// is also sent this peer's own heartbeat, so that it learns of this peer
/// at once rather than at the next beat.
fn on_heartbeat(
    core: &Core,
    frame: &Frame<'_>,
    interval_ms: u32,
    name: &str,
    len: usize,
    src: SocketAddr,
) {
    let proven = core.addresses.is_proven(src, frame.sender);
    let interval = membership::interval_from_ms(interval_ms);
    let (who, count) = (frame.sender, frame.id);
    let beat = core.update_table(|t, now, wall, c| {
        t.heartbeat(who, src, name, count, interval, proven, now, wall, c)
    });
    let now = Instant::now();
    match beat {
        Beat::Counted => {}
        Beat::Stale => bump(&core.counters.stale_heartbeats),
        // The other family's copy, say: worth one challenge, so that the
        // member's addresses list it once proven.
        Beat::StaleUnproven => {
            bump(&core.counters.stale_heartbeats);
            core.addresses.heard(src, len, now);
            let _ = challenge(core, src, frame.sender, now);
        }
        Beat::Full => bump(&core.counters.members_full),
        Beat::Unproven => {
            core.addresses.heard(src, len, now);
            let challenged = challenge(core, src, frame.sender, now).is_ok();
            if challenged
                && core.receiver
                && let Some(mine) = core.heartbeat
                && core.limiter.allow(src, now)
            {
                heartbeat::beat(core, mine, Some(src));
            }
        }
    }
}

/// Echoes a ping's token: the same size, rate-limited like a challenge.
fn answer_ping(core: &Core, frame: &Frame<'_>, src: SocketAddr) {
    if !core.limiter.allow(src, Instant::now()) {
        return bump(&core.counters.rate_limited);
    }
    if let Some(bytes) = core.encode_or_count(&core.frame(frame.id, Body::Pong)) {
        let _ = core.transport.send(&bytes, src);
    }
}

/// Queues a message once, or hands it to the delivery handler, and
/// acknowledges it when it is due; see [`super::inbox`].
fn deliver(
    core: &Core,
    frame: &Frame<'_>,
    timing: Option<Timing>,
    name: &str,
    payload: &[u8],
    src: SocketAddr,
) {
    let received_at = SystemTime::now();
    let at = |ms: u64| SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms));
    let msg = || Message {
        sender: frame.sender,
        addr: src,
        name: name.to_owned(),
        data: payload.to_vec(),
        sent_at: timing.and_then(|t| at(t.sent_at_ms)),
        deadline: timing.and_then(|t| at(t.sent_at_ms.saturating_add(t.wait_ms.into()))),
        received_at,
    };
    core.heard(frame.sender, src);
    let Some(bytes) = core.encode_or_count(&core.frame(frame.id, Body::Ack)) else { return };
    accept(core, Some((frame.sender, frame.id)), msg, Ack { bytes, to: src });
}

/// Takes in one message of either protocol, whose acknowledgement is `ack`.
pub(super) fn accept(core: &Core, key: Option<Key>, msg: impl FnOnce() -> Message, ack: Ack) {
    let send = |a: &Ack| {
        let _ = core.transport.send(&a.bytes, a.to);
    };
    // Copies of a message already acknowledged are acknowledged again at a
    // bounded rate: a sender repeats itself ~20 times a second, while a
    // flood of copies from a spoofed source would reflect off every peer.
    let again = |a: &Ack| {
        if core.limiter.allow(a.to, Instant::now()) {
            send(a);
        } else {
            bump(&core.counters.rate_limited);
        }
    };
    let Some(sink) = &core.sink else {
        let pushed = core.inbox.push(key, msg, ack, |a, duplicate| {
            if duplicate {
                bump(&core.counters.duplicates); // before the ack is out
                again(a);
            } else {
                send(a);
            }
        });
        match pushed {
            Pushed::Full => bump(&core.counters.queue_full),
            Pushed::Held => bump(&core.counters.duplicates),
            Pushed::Queued | Pushed::Duplicate | Pushed::Closed => {}
        }
        return;
    };
    let again_counted = |a: &Ack| {
        bump(&core.counters.duplicates);
        again(a);
    };
    match core.inbox.begin(key, &ack, again_counted) {
        Begin::Fresh => {
            // Inline on the I/O thread: no hand-off to another thread per
            // message. While it runs this peer hears nothing (its timers
            // still beat), so silence meanwhile is not held against others.
            let verdict = core.deaf_while(|| (sink.handler)(&msg()));
            core.inbox.finish(key, verdict != Verdict::Leave, &ack, send);
            if verdict != Verdict::Ack {
                core.close();
            }
        }
        Begin::Held => bump(&core.counters.duplicates),
        Begin::Acked | Begin::Closed => {}
    }
}
