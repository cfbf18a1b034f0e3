//! The original SimpleP2P's protocol behind one seam: its datagrams become
//! the same queued messages and operation events as ours, and it is
//! answered as it expects, every answer multicast to the group where its
//! peers listen. [`Config::legacy`](crate::Config::legacy) turns it off.

use std::net::SocketAddr;

use super::inbox::Ack;
use super::pending::{Event, Route};
use super::stats::bump;
use super::{Core, Message, PeerInfo};
use crate::error::{Error, Result};
use crate::wire::MAX_MESSAGE;
use crate::wire::legacy::{self, Legacy};

/// One datagram that is not ours (bad magic): the original's, or garbage.
pub(super) fn handle(core: &Core, buf: &[u8], src: SocketAddr) {
    let Ok(datagram) = legacy::decode(buf) else {
        return bump(&core.counters.malformed);
    };
    let me = core.id;
    let answer = |datagram: &Legacy<'_>| {
        let _ = core.transport.send(&legacy::encode(datagram), core.transport.group());
    };
    match datagram {
        Legacy::Discover { asker } if asker != me && core.receiver && !core.off_link(src) => {
            // Its answer goes to the whole group (93 answers for one
            // discover in a group of 93): bounded like a probe's.
            if core.limiter.allow(src, std::time::Instant::now()) {
                answer(&Legacy::Discovered { asker, peer: me });
            } else {
                bump(&core.counters.rate_limited);
            }
        }
        Legacy::Message { sender, text }
            if sender != me && core.receiver && !core.off_link(src) =>
        {
            let msg = || Message {
                sender,
                addr: src,
                name: String::new(),
                data: text.as_bytes().to_vec(),
                sent_at: None,
                deadline: None,
                received_at: std::time::SystemTime::now(),
            };
            let bytes = legacy::encode(&Legacy::Response { sender, peer: me, text });
            let ack = Ack { bytes, to: core.transport.group() };
            // No message id to dedupe on: each copy is a new message.
            super::dispatch::accept(core, None, msg, ack);
        }
        Legacy::Discovered { asker, peer } if asker == me && peer != me => {
            let event = || Event::Reply(PeerInfo { id: peer, addr: src, name: String::new() });
            core.pending.legacy(|r| *r == Route::LegacyDiscover, event);
        }
        Legacy::Response { sender, peer, text } if sender == me && peer != me => {
            let echoes = |r: &Route| matches!(r, Route::LegacySend(t) if t == text);
            core.pending.legacy(echoes, || Event::Ack(peer, None));
        }
        _ => {} // our own datagrams, or answers to another asker
    }
}

/// The probe: `discover <me>`.
pub(super) fn probe(core: &Core) -> Result<Vec<u8>> {
    enabled(core)?;
    Ok(legacy::encode(&Legacy::Discover { asker: core.id }))
}

/// The message `message <me> <text>`, once `text` is checked: the original
/// keeps only the first word, so anything else is refused, not cut.
pub(super) fn message(core: &Core, text: &str) -> Result<Vec<u8>> {
    check_text(text.as_bytes())?;
    enabled(core)?;
    Ok(legacy::encode(&Legacy::Message { sender: core.id, text }))
}

/// What may be sent in the original's protocol, whole.
///
/// # Errors
/// [`Error::NotLegacyText`] unless one word of printable ASCII;
/// [`Error::MessageTooLarge`] over [`MAX_MESSAGE`].
pub(crate) fn check_text(text: &[u8]) -> Result<()> {
    if !legacy::is_legacy_text(text) {
        return Err(Error::NotLegacyText);
    }
    if text.len() > MAX_MESSAGE {
        return Err(Error::MessageTooLarge(text.len()));
    }
    Ok(())
}

fn enabled(core: &Core) -> Result<()> {
    if core.legacy { Ok(()) } else { Err(Error::LegacyOff) }
}
