//! Datagram encoding and decoding: bytes in, frames out, and back.
//!
//! In scope: the layout of every datagram simplep2p sends, and checked
//! parsing of untrusted bytes. Out of scope: sockets, threads and clocks.
//! `PROTOCOL.md` documents the layout byte by byte.
//!
//! Contract: [`decode`] never panics on any input. It returns a [`Frame`]
//! that borrows from the datagram, or a [`WireError`] naming what is wrong.
//! A decoded frame re-encodes to exactly the bytes it came from, and
//! [`Frame::encode`] refuses every frame whose bytes would not decode back
//! to it: nothing we encode is malformed to a peer of the same version.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use uuid::Uuid;

pub mod legacy;
pub mod sealed;

/// The first four bytes of every simplep2p datagram: ASCII `SP2P`.
pub const MAGIC: [u8; 4] = *b"SP2P";
/// The only version this implementation speaks. Version 1 (wave 1) had
/// counter ids and no address proof; its datagrams are dropped and counted.
pub const VERSION: u8 = 2;
/// Largest message payload, in bytes.
///
/// 16 KiB: a datagram this size is 12 Ethernet fragments, few enough that
/// retransmission still gets it through a lossy LAN, and it leaves about
/// 49 KB of the 65,507-byte UDP limit for future header extensions (topic,
/// authentication tag) without lowering the limit users rely on.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Largest peer name, in bytes of UTF-8.
pub const MAX_NAME: usize = 64;
/// Flag bits a receiver must understand: a datagram with an unknown one
/// set is dropped. Bits outside this mask may be ignored by a receiver.
pub const FLAGS_MUST_UNDERSTAND: u16 = 0x00ff;
/// Must-understand flag: a message whose body starts with a [`Timing`].
/// Peers that predate it drop such messages rather than misread them.
pub const FLAG_TIMED: u16 = 0x0001;
/// Flag bits this version understands.
pub const FLAGS_KNOWN: u16 = FLAG_TIMED;
/// Length of a [`Timing`] on the wire.
pub const TIMING_LEN: usize = 8 + 4;

mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const KIND: usize = 5;
    pub const FLAGS: Range<usize> = 6..8;
    pub const SENDER: Range<usize> = 8..24;
    pub const ID: Range<usize> = 24..32;
    pub const BODY_LEN: Range<usize> = 32..34;
}

/// Length of the fixed header that starts every datagram.
pub const HEADER_LEN: usize = field::BODY_LEN.end;
/// Largest probe-reply body: family, IPv6 address, port, name length, name.
pub const MAX_REPLY_BODY: usize = 1 + 16 + 2 + 1 + MAX_NAME;
/// Size of a probe once padded so that no reply can be larger than it.
pub const PROBE_LEN: usize = HEADER_LEN + MAX_REPLY_BODY;
/// Largest datagram this version produces or accepts. Only a probe's
/// padding could otherwise go past it; it stays well under UDP's 65,507-byte
/// payload limit, and receive buffers are sized from it.
pub const MAX_DATAGRAM: usize = HEADER_LEN + TIMING_LEN + 1 + MAX_NAME + MAX_MESSAGE;

/// When a message was sent and how long its sender waits for acks, by the
/// sender's clock: a receiver can tell a message that arrives after its
/// sender gave up (a paused receiver, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Milliseconds since the Unix epoch when the first copy was sent.
    pub sent_at_ms: u64,
    /// Milliseconds after `sent_at_ms` that the sender stops waiting.
    pub wait_ms: u32,
}

/// What a datagram is for; the byte at offset 5. Grows with the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// "Who is there?", multicast to the group.
    Probe = 1,
    /// "I am", unicast back to the prober.
    ProbeReply = 2,
    /// Application data, multicast (or unicast when retransmitted).
    Message = 3,
    /// "Message id N is in my queue", unicast back to the sender.
    Ack = 4,
    /// "I am leaving", multicast.
    Goodbye = 5,
    /// "Do you receive at this address?", unicast; the id is a fresh token.
    Challenge = 6,
    /// "I do": the challenge's token, echoed to where it came from.
    Proof = 7,
    /// "I am still here", multicast every heartbeat interval (and a few
    /// times at start); the id counts up, so an old one means nothing.
    Heartbeat = 8,
    /// "Are you still there?", unicast to a member suspected lost; the id
    /// is a fresh token.
    Ping = 9,
    /// "I am": the ping's token, echoed to where it came from.
    Pong = 10,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Probe,
            2 => Kind::ProbeReply,
            3 => Kind::Message,
            4 => Kind::Ack,
            5 => Kind::Goodbye,
            6 => Kind::Challenge,
            7 => Kind::Proof,
            8 => Kind::Heartbeat,
            9 => Kind::Ping,
            10 => Kind::Pong,
            _ => return None,
        })
    }
}

/// A decoded datagram. Strings and payloads borrow from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Flag bits as received: may-ignore bits, and [`FLAG_TIMED`] on a timed
    /// message. On encode, [`FLAG_TIMED`] follows the body: set for a
    /// timing, refused without one.
    pub flags: u16,
    /// The UUID of the peer that sent it.
    pub sender: Uuid,
    /// Probe id (probe and reply) or message id (message and ack); 0 for goodbye.
    pub id: u64,
    /// What the datagram carries.
    pub body: Body<'a>,
}

/// The kind-specific part of a [`Frame`]. Grows with the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body<'a> {
    /// A probe, padded with `padding` zero bytes.
    Probe {
        /// Number of zero bytes after the header.
        padding: u16,
    },
    /// An answer to a probe.
    ProbeReply {
        /// Where the replying peer takes unicast traffic (an unspecified IP
        /// means "the address this datagram came from").
        addr: SocketAddr,
        /// The replying peer's name, possibly empty.
        name: &'a str,
    },
    /// Application data.
    Message {
        /// When it was sent and until when its sender waits; sent with
        /// [`FLAG_TIMED`].
        timing: Option<Timing>,
        /// The sender's name, possibly empty.
        name: &'a str,
        /// The message bytes, at most [`MAX_MESSAGE`].
        payload: &'a [u8],
    },
    /// Acknowledges the message whose id is the frame's id.
    Ack,
    /// The sender is leaving the group.
    Goodbye,
    /// Asks the receiver to echo the frame's id (a token) in a [`Body::Proof`].
    Challenge,
    /// Echoes the token of a [`Body::Challenge`] in the frame's id.
    Proof,
    /// The sender is alive; the frame's id is its heartbeat count, which
    /// only goes up while it runs.
    Heartbeat {
        /// How often the sender beats, in milliseconds (0: it does not,
        /// this one is a one-off announcement).
        interval_ms: u32,
        /// The sender's name, possibly empty.
        name: &'a str,
    },
    /// Asks the receiver to echo the frame's id (a token) in a [`Body::Pong`].
    Ping,
    /// Echoes the token of a [`Body::Ping`] in the frame's id.
    Pong,
}

impl Body<'_> {
    /// The kind byte this body is sent with.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Probe { .. } => Kind::Probe,
            Body::ProbeReply { .. } => Kind::ProbeReply,
            Body::Message { .. } => Kind::Message,
            Body::Ack => Kind::Ack,
            Body::Goodbye => Kind::Goodbye,
            Body::Challenge => Kind::Challenge,
            Body::Proof => Kind::Proof,
            Body::Heartbeat { .. } => Kind::Heartbeat,
            Body::Ping => Kind::Ping,
            Body::Pong => Kind::Pong,
        }
    }
}

/// One way a datagram can be malformed. Retrying never helps: the bytes are wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than the fixed header.
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// Longer than [`MAX_DATAGRAM`] (only a probe's padding can make one).
    TooLong {
        /// Bytes in the datagram.
        len: usize,
    },
    /// Does not start with `SP2P`: not ours.
    BadMagic,
    /// A version this implementation does not speak.
    UnsupportedVersion(u8),
    /// A kind byte this version does not know.
    UnknownKind(u8),
    /// A must-understand flag this version does not know, or
    /// [`FLAG_TIMED`] on anything but a timed message.
    UnknownFlags(u16),
    /// The header claims more body bytes than arrived.
    BodyTruncated {
        /// Body length in the header.
        declared: usize,
        /// Body bytes present.
        available: usize,
    },
    /// Bytes after the body the header declares.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A field inside the body runs past its end.
    FieldTruncated(&'static str),
    /// An address family other than 4 or 6.
    BadAddressFamily(u8),
    /// A name longer than [`MAX_NAME`].
    NameTooLong(usize),
    /// A name that is not UTF-8.
    NameNotUtf8,
    /// Probe padding that is not all zero.
    NonZeroPadding,
    /// A message payload longer than [`MAX_MESSAGE`].
    MessageTooLarge(usize),
    /// A body on a kind that carries none, or extra bytes after a reply.
    UnexpectedBody {
        /// The kind that should have had no (more) body.
        kind: Kind,
        /// The unexpected bytes.
        len: usize,
    },
    /// Encode only: an IPv6 reply address with a flow label or scope id,
    /// which the wire does not carry (it would arrive without them).
    AddressNotEncodable(SocketAddr),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort { len } => {
                write!(f, "datagram too short: {len} bytes, header is {HEADER_LEN}")
            }
            WireError::TooLong { len } => {
                write!(f, "datagram of {len} bytes, limit {MAX_DATAGRAM}")
            }
            WireError::BadMagic => f.write_str("not a simplep2p datagram (bad magic)"),
            WireError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            WireError::UnknownKind(k) => write!(f, "unknown datagram kind {k}"),
            WireError::UnknownFlags(x) => {
                write!(f, "required flags {x:#06x} unknown or not valid on this kind")
            }
            WireError::BodyTruncated { declared, available } => {
                write!(f, "body truncated: header says {declared} bytes, {available} present")
            }
            WireError::TrailingBytes { extra } => write!(f, "{extra} bytes after the body"),
            WireError::FieldTruncated(name) => write!(f, "field {name} runs past the body"),
            WireError::BadAddressFamily(x) => write!(f, "unknown address family {x}"),
            WireError::NameTooLong(n) => write!(f, "name of {n} bytes, limit {MAX_NAME}"),
            WireError::NameNotUtf8 => f.write_str("name is not UTF-8"),
            WireError::NonZeroPadding => f.write_str("probe padding is not zero"),
            WireError::MessageTooLarge(n) => {
                write!(f, "message of {n} bytes, limit {MAX_MESSAGE}")
            }
            WireError::UnexpectedBody { kind, len } => {
                write!(f, "{len} unexpected body bytes on {kind:?}")
            }
            WireError::AddressNotEncodable(addr) => {
                write!(f, "address {addr} has a flow label or scope id the wire cannot carry")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// Decodes one datagram. Never panics; see the module contract.
pub fn decode(buf: &[u8]) -> Result<Frame<'_>, WireError> {
    // A short prefix of our magic is "too short", anything else foreign.
    let seen = buf.len().min(field::MAGIC.end);
    if buf[..seen] != MAGIC[..seen] {
        return Err(WireError::BadMagic);
    }
    if buf.len() < HEADER_LEN {
        return Err(WireError::TooShort { len: buf.len() });
    }
    if buf[field::VERSION] != VERSION {
        return Err(WireError::UnsupportedVersion(buf[field::VERSION]));
    }
    // After magic and version: long legacy text still reads as foreign,
    // and an old version as old.
    if buf.len() > MAX_DATAGRAM {
        return Err(WireError::TooLong { len: buf.len() });
    }
    let kind = Kind::from_byte(buf[field::KIND]).ok_or(WireError::UnknownKind(buf[field::KIND]))?;
    let flags = u16::from_be_bytes([buf[field::FLAGS.start], buf[field::FLAGS.start + 1]]);
    let unknown = flags & FLAGS_MUST_UNDERSTAND & !FLAGS_KNOWN;
    if unknown != 0 {
        return Err(WireError::UnknownFlags(unknown));
    }
    let mut sender = [0u8; 16];
    sender.copy_from_slice(&buf[field::SENDER]);
    let mut id = [0u8; 8];
    id.copy_from_slice(&buf[field::ID]);
    let declared = usize::from(u16::from_be_bytes([
        buf[field::BODY_LEN.start],
        buf[field::BODY_LEN.start + 1],
    ]));
    let rest = &buf[HEADER_LEN..];
    if declared > rest.len() {
        return Err(WireError::BodyTruncated { declared, available: rest.len() });
    }
    if declared < rest.len() {
        return Err(WireError::TrailingBytes { extra: rest.len() - declared });
    }
    Ok(Frame {
        flags,
        sender: Uuid::from_bytes(sender),
        id: u64::from_be_bytes(id),
        body: decode_body(kind, flags, rest)?,
    })
}

fn decode_body(kind: Kind, flags: u16, body: &[u8]) -> Result<Body<'_>, WireError> {
    let timed = flags & FLAG_TIMED != 0;
    if timed && kind != Kind::Message {
        return Err(WireError::UnknownFlags(FLAG_TIMED)); // not a flag this kind takes
    }
    let mut r = Reader(body);
    let decoded = match kind {
        Kind::Probe => {
            if body.iter().any(|&b| b != 0) {
                return Err(WireError::NonZeroPadding);
            }
            // The header's u16 length field bounds this, so it cannot truncate.
            let padding = u16::try_from(body.len()).unwrap_or(u16::MAX);
            r.0 = &[];
            Body::Probe { padding }
        }
        Kind::ProbeReply => {
            let ip = match r.u8("family")? {
                4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>("ipv4 address")?)),
                6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>("ipv6 address")?)),
                other => return Err(WireError::BadAddressFamily(other)),
            };
            let port = u16::from_be_bytes(r.array::<2>("port")?);
            let name = r.name()?;
            Body::ProbeReply { addr: SocketAddr::new(ip, port), name }
        }
        Kind::Message => {
            let timing = if timed {
                let sent_at_ms = u64::from_be_bytes(r.array::<8>("sent at")?);
                let wait_ms = u32::from_be_bytes(r.array::<4>("wait")?);
                Some(Timing { sent_at_ms, wait_ms })
            } else {
                None
            };
            let name = r.name()?;
            let payload = std::mem::take(&mut r.0);
            if payload.len() > MAX_MESSAGE {
                return Err(WireError::MessageTooLarge(payload.len()));
            }
            Body::Message { timing, name, payload }
        }
        Kind::Ack => Body::Ack,
        Kind::Goodbye => Body::Goodbye,
        Kind::Challenge => Body::Challenge,
        Kind::Proof => Body::Proof,
        Kind::Heartbeat => {
            let interval_ms = u32::from_be_bytes(r.array::<4>("interval")?);
            Body::Heartbeat { interval_ms, name: r.name()? }
        }
        Kind::Ping => Body::Ping,
        Kind::Pong => Body::Pong,
    };
    if !r.0.is_empty() {
        return Err(WireError::UnexpectedBody { kind, len: r.0.len() });
    }
    Ok(decoded)
}

/// A cursor over a body that checks every length before it slices.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::FieldTruncated(field));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn name(&mut self) -> Result<&'a str, WireError> {
        let len = usize::from(self.u8("name length")?);
        if len > MAX_NAME {
            return Err(WireError::NameTooLong(len));
        }
        std::str::from_utf8(self.take(len, "name")?).map_err(|_| WireError::NameNotUtf8)
    }
}

impl Frame<'_> {
    /// Bytes [`Frame::encode`] will append.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body_len()
    }

    fn body_len(&self) -> usize {
        match &self.body {
            Body::Probe { padding } => usize::from(*padding),
            Body::ProbeReply { addr, name } => {
                let ip = if addr.is_ipv4() { 4 } else { 16 };
                1 + ip + 2 + 1 + name.len()
            }
            Body::Message { timing, name, payload } => {
                timing.map_or(0, |_| TIMING_LEN) + 1 + name.len() + payload.len()
            }
            Body::Heartbeat { name, .. } => 4 + 1 + name.len(),
            Body::Ack | Body::Goodbye | Body::Challenge | Body::Proof | Body::Ping | Body::Pong => {
                0
            }
        }
    }

    /// Appends the datagram to `out`.
    ///
    /// # Errors
    /// Whatever [`decode`] would refuse in the bytes, or could not give back
    /// as this frame; nothing is appended then:
    /// [`WireError::NameTooLong`] or [`WireError::MessageTooLarge`] when a
    /// field is over its limit; [`WireError::UnknownFlags`] for an unknown
    /// must-understand flag, or [`FLAG_TIMED`] without a timing;
    /// [`WireError::TooLong`] for probe padding past [`MAX_DATAGRAM`];
    /// [`WireError::AddressNotEncodable`] for an IPv6 reply address with a
    /// flow label or scope id.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let flags = self.checked_flags()?;
        match &self.body {
            Body::ProbeReply { name, .. }
            | Body::Message { name, .. }
            | Body::Heartbeat { name, .. }
                if name.len() > MAX_NAME =>
            {
                return Err(WireError::NameTooLong(name.len()));
            }
            Body::Message { payload, .. } if payload.len() > MAX_MESSAGE => {
                return Err(WireError::MessageTooLarge(payload.len()));
            }
            Body::ProbeReply { addr: SocketAddr::V6(a), .. }
                if a.flowinfo() != 0 || a.scope_id() != 0 =>
            {
                return Err(WireError::AddressNotEncodable(SocketAddr::V6(*a)));
            }
            _ => {}
        }
        if self.encoded_len() > MAX_DATAGRAM {
            return Err(WireError::TooLong { len: self.encoded_len() });
        }
        // Checked above: every body fits the u16 length field.
        let body_len = u16::try_from(self.body_len()).unwrap_or(u16::MAX);
        out.reserve(self.encoded_len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.body.kind() as u8);
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(self.sender.as_bytes());
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&body_len.to_be_bytes());
        match &self.body {
            Body::Probe { padding } => out.resize(out.len() + usize::from(*padding), 0),
            Body::ProbeReply { addr, name } => {
                match addr.ip() {
                    IpAddr::V4(ip) => {
                        out.push(4);
                        out.extend_from_slice(&ip.octets());
                    }
                    IpAddr::V6(ip) => {
                        out.push(6);
                        out.extend_from_slice(&ip.octets());
                    }
                }
                out.extend_from_slice(&addr.port().to_be_bytes());
                push_name(out, name);
            }
            Body::Message { timing, name, payload } => {
                if let Some(t) = timing {
                    out.extend_from_slice(&t.sent_at_ms.to_be_bytes());
                    out.extend_from_slice(&t.wait_ms.to_be_bytes());
                }
                push_name(out, name);
                out.extend_from_slice(payload);
            }
            Body::Heartbeat { interval_ms, name } => {
                out.extend_from_slice(&interval_ms.to_be_bytes());
                push_name(out, name);
            }
            Body::Ack | Body::Goodbye | Body::Challenge | Body::Proof | Body::Ping | Body::Pong => {
            }
        }
        Ok(())
    }

    /// The flags to send: [`FLAG_TIMED`] exactly when the body has a timing
    /// (callers need not set it), and no must-understand bit decode refuses.
    fn checked_flags(&self) -> Result<u16, WireError> {
        let unknown = self.flags & FLAGS_MUST_UNDERSTAND & !FLAGS_KNOWN;
        if unknown != 0 {
            return Err(WireError::UnknownFlags(unknown));
        }
        let timed = matches!(self.body, Body::Message { timing: Some(_), .. });
        if self.flags & FLAG_TIMED != 0 && !timed {
            return Err(WireError::UnknownFlags(FLAG_TIMED));
        }
        Ok(self.flags | if timed { FLAG_TIMED } else { 0 })
    }

    /// Encodes into a new buffer; see [`Frame::encode`].
    ///
    /// # Errors
    /// As [`Frame::encode`].
    pub fn to_vec(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
    }
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    // Callers checked name.len() <= MAX_NAME, which fits a u8.
    out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(name.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENDER: Uuid = Uuid::from_bytes([
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x41, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ]);

    /// A message "hi" from SENDER, id 7, name "a": the example in PROTOCOL.md.
    static MESSAGE_BYTES: [u8; 38] = [
        0x53, 0x50, 0x32, 0x50, // magic "SP2P"
        0x02, 0x03, 0x00, 0x00, // version 2, kind 3 (message), flags 0
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x41, 0xd1, // sender
        0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // id 7
        0x00, 0x04, // body length 4
        0x01, b'a', b'h', b'i', // name "a", payload "hi"
    ];

    /// Sent at 2026-11-25 16:00:00 UTC, waiting one second.
    const TIMING: Timing = Timing { sent_at_ms: 1_795_622_400_000, wait_ms: 1000 };

    /// The same message, timed: the second example in PROTOCOL.md.
    static TIMED_BYTES: [u8; 50] = [
        0x53, 0x50, 0x32, 0x50, // magic "SP2P"
        0x02, 0x03, 0x00, 0x01, // version 2, kind 3 (message), flags 0x0001 (timed)
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x41, 0xd1, // sender
        0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // id 7
        0x00, 0x10, // body length 16
        0x00, 0x00, 0x01, 0xa2, 0x13, 0x6f, 0x70, 0x00, // sent at (ms since 1970)
        0x00, 0x00, 0x03, 0xe8, // wait 1000 ms
        0x01, b'a', b'h', b'i', // name "a", payload "hi"
    ];

    /// A heartbeat from SENDER, its 42nd, every 1,000 ms, name "a": the
    /// third example in PROTOCOL.md.
    static HEARTBEAT_BYTES: [u8; 40] = [
        0x53, 0x50, 0x32, 0x50, // magic "SP2P"
        0x02, 0x08, 0x00, 0x00, // version 2, kind 8 (heartbeat), flags 0
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x41, 0xd1, // sender
        0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // count 42
        0x00, 0x06, // body length 6
        0x00, 0x00, 0x03, 0xe8, // interval 1000 ms
        0x01, b'a', // name "a"
    ];

    #[test]
    fn heartbeat_fixture_both_ways() {
        let beat = Frame { id: 42, ..frame(Body::Heartbeat { interval_ms: 1000, name: "a" }) };
        assert_eq!(beat.to_vec().unwrap(), HEARTBEAT_BYTES);
        assert_eq!(decode(&HEARTBEAT_BYTES).unwrap(), beat);
    }

    /// The hex of each `text` block in PROTOCOL.md's Example section.
    fn protocol_examples() -> Vec<Vec<u8>> {
        let doc = include_str!("../PROTOCOL.md");
        let example = &doc[doc.find("## Example").expect("an Example section")..];
        example
            .split("```text")
            .skip(1)
            .map(|block| {
                let block = &block[..block.find("```").unwrap_or(block.len())];
                let hex = |t: &&str| t.len() == 2 && t.chars().all(|c| c.is_ascii_hexdigit());
                block
                    .lines()
                    .flat_map(|line| line.split_whitespace().take_while(hex))
                    .map(|t| u8::from_str_radix(t, 16).unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn protocol_md_shows_the_bytes_the_code_sends() {
        assert_eq!(
            protocol_examples(),
            [MESSAGE_BYTES.to_vec(), TIMED_BYTES.to_vec(), HEARTBEAT_BYTES.to_vec()]
        );
    }

    #[test]
    fn timed_fixture_both_ways() {
        let timed = Body::Message { timing: Some(TIMING), name: "a", payload: b"hi" };
        assert_eq!(frame(timed.clone()).to_vec().unwrap(), TIMED_BYTES);
        assert_eq!(decode(&TIMED_BYTES).unwrap(), Frame { flags: FLAG_TIMED, ..frame(timed) });
    }

    #[test]
    fn the_timed_flag_on_another_kind_is_refused() {
        let mut ack = frame(Body::Ack).to_vec().unwrap();
        ack[7] = 0x01;
        assert_eq!(decode(&ack), Err(WireError::UnknownFlags(FLAG_TIMED)));
    }

    fn frame(body: Body<'_>) -> Frame<'_> {
        Frame { flags: 0, sender: SENDER, id: 7, body }
    }

    fn every_kind() -> Vec<Frame<'static>> {
        vec![
            frame(Body::Probe { padding: MAX_REPLY_BODY as u16 }),
            frame(Body::Probe { padding: 0 }),
            frame(Body::ProbeReply { addr: "127.0.0.1:4000".parse().unwrap(), name: "alice" }),
            frame(Body::ProbeReply { addr: "[::1]:4000".parse().unwrap(), name: "" }),
            frame(Body::Message { timing: None, name: "", payload: b"hello there\n\xff\x00" }),
            Frame {
                flags: FLAG_TIMED,
                ..frame(Body::Message { timing: Some(TIMING), name: "t", payload: b"x" })
            },
            Frame {
                flags: FLAG_TIMED,
                ..frame(Body::Message {
                    timing: Some(TIMING),
                    name: "n",
                    payload: &[0xab; MAX_MESSAGE],
                })
            },
            frame(Body::Ack),
            frame(Body::Goodbye),
            frame(Body::Challenge),
            frame(Body::Proof),
            frame(Body::Heartbeat { interval_ms: 1000, name: "beater" }),
            frame(Body::Heartbeat { interval_ms: 0, name: "" }),
            frame(Body::Ping),
            frame(Body::Pong),
        ]
    }

    #[test]
    fn deconstruct_fixture() {
        let f = decode(&MESSAGE_BYTES).unwrap();
        assert_eq!(f, frame(Body::Message { timing: None, name: "a", payload: b"hi" }));
    }

    #[test]
    fn construct_fixture() {
        let bytes =
            frame(Body::Message { timing: None, name: "a", payload: b"hi" }).to_vec().unwrap();
        assert_eq!(bytes, MESSAGE_BYTES);
    }

    #[test]
    fn round_trip_every_kind() {
        for f in every_kind() {
            let bytes = f.to_vec().unwrap();
            assert_eq!(bytes.len(), f.encoded_len());
            assert_eq!(decode(&bytes).unwrap(), f);
        }
    }

    #[test]
    fn no_reply_outgrows_a_probe() {
        let name = "x".repeat(MAX_NAME);
        let reply = frame(Body::ProbeReply { addr: "[::1]:1".parse().unwrap(), name: &name });
        assert_eq!(reply.encoded_len(), PROBE_LEN);
    }

    #[test]
    fn may_ignore_flags_are_kept() {
        let mut bytes = MESSAGE_BYTES;
        bytes[6] = 0x80;
        let f = decode(&bytes).unwrap();
        assert_eq!(f.flags, 0x8000);
        assert_eq!(f.to_vec().unwrap(), bytes);
    }

    #[test]
    fn too_short() {
        assert_eq!(decode(&MESSAGE_BYTES[..HEADER_LEN - 1]), Err(WireError::TooShort { len: 33 }));
        assert_eq!(decode(b"SP"), Err(WireError::TooShort { len: 2 }));
        assert_eq!(decode(b""), Err(WireError::TooShort { len: 0 }));
    }

    #[test]
    fn bad_magic() {
        assert_eq!(decode(b"discover 6ba7b810"), Err(WireError::BadMagic));
        assert_eq!(decode(b"x"), Err(WireError::BadMagic));
    }

    #[test]
    fn unsupported_version() {
        let mut bytes = MESSAGE_BYTES;
        for version in [1, 3] {
            bytes[4] = version;
            assert_eq!(decode(&bytes), Err(WireError::UnsupportedVersion(version)));
        }
    }

    #[test]
    fn unknown_kind() {
        let mut bytes = MESSAGE_BYTES;
        bytes[5] = 11;
        assert_eq!(decode(&bytes), Err(WireError::UnknownKind(11)));
    }

    #[test]
    fn unknown_flags() {
        let mut bytes = MESSAGE_BYTES;
        bytes[7] = 0x02;
        assert_eq!(decode(&bytes), Err(WireError::UnknownFlags(2)));
        // Timed, but the body is too short to hold the timing.
        bytes[7] = 0x01;
        assert_eq!(decode(&bytes), Err(WireError::FieldTruncated("sent at")));
    }

    #[test]
    fn body_length_that_lies_long() {
        let mut bytes = MESSAGE_BYTES;
        bytes[33] = 5;
        assert_eq!(decode(&bytes), Err(WireError::BodyTruncated { declared: 5, available: 4 }));
    }

    #[test]
    fn trailing_bytes() {
        let mut bytes = MESSAGE_BYTES.to_vec();
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(WireError::TrailingBytes { extra: 1 }));
    }

    #[test]
    fn name_length_that_lies() {
        let mut bytes = MESSAGE_BYTES;
        bytes[34] = 9;
        assert_eq!(decode(&bytes), Err(WireError::FieldTruncated("name")));
    }

    #[test]
    fn name_too_long() {
        let mut bytes = MESSAGE_BYTES;
        bytes[34] = MAX_NAME as u8 + 1;
        assert_eq!(decode(&bytes), Err(WireError::NameTooLong(MAX_NAME + 1)));
    }

    #[test]
    fn name_not_utf8() {
        let mut bytes = MESSAGE_BYTES;
        bytes[35] = 0xff;
        assert_eq!(decode(&bytes), Err(WireError::NameNotUtf8));
    }

    #[test]
    fn bad_address_family() {
        let mut bytes = frame(Body::ProbeReply { addr: "1.2.3.4:5".parse().unwrap(), name: "" })
            .to_vec()
            .unwrap();
        bytes[HEADER_LEN] = 5;
        assert_eq!(decode(&bytes), Err(WireError::BadAddressFamily(5)));
    }

    #[test]
    fn reply_cut_inside_address() {
        let mut bytes = frame(Body::ProbeReply { addr: "1.2.3.4:5".parse().unwrap(), name: "" })
            .to_vec()
            .unwrap();
        bytes.truncate(HEADER_LEN + 3);
        bytes[33] = 3;
        assert_eq!(decode(&bytes), Err(WireError::FieldTruncated("ipv4 address")));
    }

    #[test]
    fn reply_with_extra_bytes() {
        let mut bytes = frame(Body::ProbeReply { addr: "1.2.3.4:5".parse().unwrap(), name: "" })
            .to_vec()
            .unwrap();
        bytes.push(1);
        bytes[33] += 1;
        assert_eq!(
            decode(&bytes),
            Err(WireError::UnexpectedBody { kind: Kind::ProbeReply, len: 1 })
        );
    }

    #[test]
    fn nonzero_padding() {
        let mut bytes = frame(Body::Probe { padding: 4 }).to_vec().unwrap();
        bytes[HEADER_LEN + 2] = 1;
        assert_eq!(decode(&bytes), Err(WireError::NonZeroPadding));
    }

    #[test]
    fn ack_with_body() {
        let mut bytes = frame(Body::Ack).to_vec().unwrap();
        bytes.extend_from_slice(&[1, 2]);
        bytes[33] = 2;
        assert_eq!(decode(&bytes), Err(WireError::UnexpectedBody { kind: Kind::Ack, len: 2 }));
    }

    #[test]
    fn oversize_message() {
        let payload = vec![0u8; MAX_MESSAGE + 1];
        let f = frame(Body::Message { timing: None, name: "", payload: &payload });
        assert_eq!(f.to_vec(), Err(WireError::MessageTooLarge(MAX_MESSAGE + 1)));
        // And a peer that sends one anyway is refused on decode.
        let mut bytes = frame(Body::Message { timing: None, name: "", payload: &payload[1..] })
            .to_vec()
            .unwrap();
        bytes.push(0);
        let len = (bytes.len() - HEADER_LEN) as u16;
        bytes[32..34].copy_from_slice(&len.to_be_bytes());
        assert_eq!(decode(&bytes), Err(WireError::MessageTooLarge(MAX_MESSAGE + 1)));
    }

    #[test]
    fn encode_refuses_unknown_must_understand_flags() {
        for bit in (1..8).map(|i| 1u16 << i) {
            let f = Frame { flags: bit, ..frame(Body::Ack) };
            assert_eq!(f.to_vec(), Err(WireError::UnknownFlags(bit)));
        }
        // May-ignore bits go out as they are.
        let f = Frame { flags: 0xff00, ..frame(Body::Ack) };
        assert_eq!(decode(&f.to_vec().unwrap()), Ok(f));
    }

    #[test]
    fn encode_refuses_the_timed_flag_without_a_timing() {
        for f in every_kind() {
            let timed = matches!(f.body, Body::Message { timing: Some(_), .. });
            let f = Frame { flags: FLAG_TIMED, ..f };
            if timed {
                assert_eq!(decode(&f.to_vec().unwrap()), Ok(f));
            } else {
                assert_eq!(f.to_vec(), Err(WireError::UnknownFlags(FLAG_TIMED)), "{f:?}");
            }
        }
    }

    #[test]
    fn probe_padding_stops_at_the_datagram_limit() {
        let most = (MAX_DATAGRAM - HEADER_LEN) as u16;
        let f = frame(Body::Probe { padding: most });
        let bytes = f.to_vec().unwrap();
        assert_eq!(bytes.len(), MAX_DATAGRAM);
        assert_eq!(decode(&bytes), Ok(f));
        for padding in [most + 1, u16::MAX] {
            let len = HEADER_LEN + usize::from(padding);
            let f = frame(Body::Probe { padding });
            assert_eq!(f.to_vec(), Err(WireError::TooLong { len }));
            // A peer that sends one anyway is refused on decode.
            let mut bytes = frame(Body::Probe { padding: 0 }).to_vec().unwrap();
            bytes[32..34].copy_from_slice(&padding.to_be_bytes());
            bytes.resize(len, 0);
            assert_eq!(decode(&bytes), Err(WireError::TooLong { len }));
        }
        // Not ours, however long: still foreign, for the legacy decoder.
        assert_eq!(decode(&[b'm'; MAX_DATAGRAM + 1]), Err(WireError::BadMagic));
    }

    #[test]
    fn encode_refuses_what_an_ipv6_address_would_lose() {
        let scoped = "[fe80::1%2]:5".parse().unwrap();
        let f = frame(Body::ProbeReply { addr: scoped, name: "" });
        assert_eq!(f.to_vec(), Err(WireError::AddressNotEncodable(scoped)));
        let flow = std::net::SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5, 9, 0).into();
        let f = frame(Body::ProbeReply { addr: flow, name: "" });
        assert_eq!(f.to_vec(), Err(WireError::AddressNotEncodable(flow)));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for f in every_kind() {
            let bytes = f.to_vec().unwrap();
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "{:?} cut at {cut}", f.body.kind());
            }
        }
    }
}
