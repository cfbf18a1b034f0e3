//! Property tests of both codecs, both directions, std-only: a seeded PRNG,
//! the seed printed (set SIMPLEP2P_SEED to replay).
//!
//! Values to bytes: for random frames and legacy datagrams, valid or not
//! (unknown and misplaced flags, padding, names, payloads and text around
//! and past their limits, scoped IPv6 addresses, bad legacy words), the
//! encoder succeeds exactly when a plain writer's bytes for the same value
//! decode back to it, and then writes those bytes.
//!
//! Bytes to values: for random and mutated datagrams, no input panics; a
//! native datagram that decodes re-encodes to exactly the same bytes; a
//! legacy datagram that decodes re-encodes (and so can be answered) to text
//! that decodes to the same datagram (legacy text tolerates any run of
//! whitespace and either case of hex, so its bytes are not unique).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use simplep2p::Uuid;
use simplep2p::wire::legacy::{self, Legacy};
use simplep2p::wire::{
    self, Body, FLAG_TIMED, Frame, HEADER_LEN, MAX_DATAGRAM, MAX_MESSAGE, MAX_NAME, Timing,
};

/// SplitMix64: small, fast and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Up to `max` random bytes.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn uuid(&mut self) -> Uuid {
        Uuid::from_u64_pair(self.next(), self.next())
    }

    /// A length near `limit` (either side of it) or anywhere up to `max`.
    fn len_around(&mut self, limit: usize, max: usize) -> usize {
        match self.below(4) {
            0 | 1 => self.below(limit.min(64) + 1),
            2 => (limit + self.below(5)).saturating_sub(2),
            _ => self.below(max + 1),
        }
    }

    /// One word of printable ASCII, the legacy text alphabet.
    fn word(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from(b'!' + self.below(94) as u8)).collect()
    }
}

fn seed() -> u64 {
    let seed =
        std::env::var("SIMPLEP2P_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026);
    println!("seed {seed} (replay with SIMPLEP2P_SEED={seed})");
    seed
}

/// The error's variant name, to count which refusals were exercised.
fn variant(e: &impl Debug) -> String {
    let s = format!("{e:?}");
    s.split(['(', ' ', '{']).next().unwrap_or_default().to_owned()
}

fn valid_native(rng: &mut Rng, name: &str, payload: &[u8]) -> Vec<u8> {
    let body = match rng.below(7) {
        0 => Body::Probe { padding: rng.below(100) as u16 },
        1 => Body::ProbeReply { addr: ([127, 0, 0, 1], rng.next() as u16).into(), name },
        2 => {
            let timing = (rng.below(2) == 0)
                .then(|| Timing { sent_at_ms: rng.next(), wait_ms: rng.next() as u32 });
            Body::Message { timing, name, payload }
        }
        3 => Body::Ack,
        4 => Body::Goodbye,
        5 => Body::Challenge,
        _ => Body::Proof,
    };
    let flags = if rng.below(4) == 0 { rng.next() as u16 & 0xff00 } else { 0 };
    Frame { flags, sender: rng.uuid(), id: rng.next(), body }.to_vec().unwrap()
}

fn valid_legacy(rng: &mut Rng) -> Vec<u8> {
    let (a, b) = (rng.uuid(), rng.uuid());
    let len = 1 + rng.below(12);
    let text = rng.word(len);
    let d = match rng.below(4) {
        0 => Legacy::Discover { asker: a },
        1 => Legacy::Discovered { asker: a, peer: b },
        2 => Legacy::Message { sender: a, text: &text },
        _ => Legacy::Response { sender: a, peer: b, text: &text },
    };
    legacy::try_encode(&d).unwrap()
}

/// One datagram of a randomly chosen class.
fn datagram(rng: &mut Rng) -> Vec<u8> {
    let name = ["", "n", "peer-name"][rng.below(3)];
    let payload = rng.bytes(64);
    let mut d =
        if rng.below(3) == 0 { valid_legacy(rng) } else { valid_native(rng, name, &payload) };
    match rng.below(9) {
        0 => d = rng.bytes(120), // noise
        1 => {
            // bit flips
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(d.len().max(1));
                if let Some(b) = d.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        2 => d.truncate(rng.below(d.len() + 1)),
        3 => {
            let extra = rng.bytes(16);
            d.push(0);
            d.extend(extra);
        }
        4 if d.len() >= HEADER_LEN => {
            // a body length that lies
            let lie = rng.next() as u16;
            d[32..34].copy_from_slice(&lie.to_be_bytes());
        }
        5 if d.len() >= HEADER_LEN => d[4] = rng.next() as u8, // version
        6 if d.len() >= HEADER_LEN => d[5] = rng.next() as u8, // kind
        7 => {
            // legacy-looking edits: whitespace, case, a replaced character
            let i = rng.below(d.len().max(1));
            let c = [b' ', b'\t', b'\n', b'\x0b', b'A', b'-', b'g', 0xff][rng.below(8)];
            if i < d.len() && rng.below(2) == 0 {
                d[i] = c;
            } else {
                d.insert(i.min(d.len()), c);
            }
        }
        _ => {} // left valid
    }
    d
}

#[test]
fn a_million_datagrams_never_panic_and_valid_ones_round_trip() {
    let seed = seed();
    let mut rng = Rng(seed);
    let (mut native_ok, mut legacy_ok, mut rejected) = (0u32, 0u32, 0u32);
    for _ in 0..1_000_000 {
        let d = datagram(&mut rng);
        match wire::decode(&d) {
            Ok(frame) => {
                native_ok += 1;
                assert_eq!(frame.to_vec().unwrap(), d, "seed {seed}: re-encoding differs");
            }
            Err(_) => rejected += 1,
        }
        if let Ok(text) = legacy::decode(&d) {
            legacy_ok += 1;
            let again = legacy::try_encode(&text);
            let again = again.unwrap_or_else(|e| panic!("seed {seed}: {text:?} decoded: {e}"));
            assert_eq!(legacy::decode(&again), Ok(text), "seed {seed}");
            // A peer answers a message by echoing its text: that must encode too.
            if let Legacy::Message { sender, text } = text {
                let echo = Legacy::Response { sender, peer: sender, text };
                assert!(legacy::try_encode(&echo).is_ok(), "seed {seed}: {echo:?}");
            }
        }
    }
    println!("native valid {native_ok}, legacy valid {legacy_ok}, native rejected {rejected}");
    // Every class was exercised: some inputs stayed valid, most did not.
    assert!(native_ok > 50_000 && legacy_ok > 20_000 && rejected > 300_000);
}

/// The layout of PROTOCOL.md written without a single check: name lengths
/// and the body length wrap as a careless encoder's would.
fn raw_native(f: &Frame<'_>) -> Vec<u8> {
    let mut body = Vec::new();
    let mut timed = false;
    match &f.body {
        Body::Probe { padding } => body.resize(usize::from(*padding), 0),
        Body::ProbeReply { addr, name } => {
            match addr.ip() {
                IpAddr::V4(ip) => body.extend([4].iter().chain(&ip.octets())),
                IpAddr::V6(ip) => body.extend([6].iter().chain(&ip.octets())),
            }
            body.extend(addr.port().to_be_bytes());
            body.push(name.len() as u8);
            body.extend(name.as_bytes());
        }
        Body::Message { timing, name, payload } => {
            if let Some(t) = timing {
                timed = true;
                body.extend(t.sent_at_ms.to_be_bytes());
                body.extend(t.wait_ms.to_be_bytes());
            }
            body.push(name.len() as u8);
            body.extend(name.as_bytes());
            body.extend(*payload);
        }
        _ => {}
    }
    let mut d = b"SP2P".to_vec();
    d.extend([wire::VERSION, f.body.kind() as u8]);
    // The encoder sets the timed flag for a timing; callers need not.
    d.extend((f.flags | if timed { FLAG_TIMED } else { 0 }).to_be_bytes());
    d.extend(f.sender.as_bytes());
    d.extend(f.id.to_be_bytes());
    d.extend((body.len() as u16).to_be_bytes());
    d.extend(body);
    d
}

/// A name of about `len` bytes, with 2- and 3-byte characters in it.
fn name(rng: &mut Rng, len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push(['a', '\u{e9}', '\u{20ac}'][rng.below(3)]);
    }
    s
}

fn flags(rng: &mut Rng) -> u16 {
    match rng.below(6) {
        0 | 1 => 0,
        2 => rng.next() as u16 & 0xff00, // may-ignore
        3 => FLAG_TIMED,                 // on every kind
        4 => 1 << rng.below(8),          // one must-understand bit
        _ => rng.next() as u16,          // anything
    }
}

#[test]
fn a_frame_encodes_exactly_when_its_bytes_decode_back_to_it() {
    let seed = seed();
    let mut rng = Rng(seed);
    let pool: Vec<u8> = (0..MAX_MESSAGE + 64).map(|_| rng.next() as u8).collect();
    let (mut encoded, mut refused) = (0u32, BTreeMap::<String, u32>::new());
    for _ in 0..100_000 {
        let name_len = if rng.below(20) == 0 { 250 + rng.below(10) } else { MAX_NAME + 1 };
        let len = rng.len_around(MAX_NAME, name_len);
        let name = name(&mut rng, len);
        let payload = &pool[..rng.len_around(MAX_MESSAGE, pool.len())];
        let addr = if rng.below(2) == 0 {
            SocketAddr::from(((rng.next() as u32).to_be_bytes(), rng.next() as u16))
        } else {
            let (flow, scope) = match rng.below(4) {
                0 => (rng.next() as u32, 0),
                1 => (0, rng.next() as u32),
                _ => (0, 0),
            };
            let ip = u128::from(rng.next()) << 64 | u128::from(rng.next());
            SocketAddrV6::new(ip.into(), rng.next() as u16, flow, scope).into()
        };
        let timing = (rng.below(2) == 0)
            .then(|| Timing { sent_at_ms: rng.next(), wait_ms: rng.next() as u32 });
        let padding = rng.len_around(MAX_DATAGRAM - HEADER_LEN, usize::from(u16::MAX)) as u16;
        let body = match rng.below(7) {
            0 => Body::Probe { padding },
            1 => Body::ProbeReply { addr, name: &name },
            2 => Body::Message { timing, name: &name, payload },
            3 => Body::Ack,
            4 => Body::Goodbye,
            5 => Body::Challenge,
            _ => Body::Proof,
        };
        let f = Frame { flags: flags(&mut rng), sender: rng.uuid(), id: rng.next(), body };

        let raw = raw_native(&f);
        let timed = matches!(f.body, Body::Message { timing: Some(_), .. });
        let want = Frame { flags: f.flags | if timed { FLAG_TIMED } else { 0 }, ..f.clone() };
        let decodes_back = wire::decode(&raw).as_ref() == Ok(&want);
        match f.to_vec() {
            Ok(bytes) => {
                encoded += 1;
                assert!(decodes_back, "seed {seed}: encoded but does not decode back: {f:?}");
                assert!(bytes == raw, "seed {seed}: encoded other bytes than the layout: {f:?}");
            }
            Err(e) => {
                *refused.entry(variant(&e)).or_default() += 1;
                assert!(!decodes_back, "seed {seed}: refused ({e}) but would decode: {f:?}");
            }
        }
    }
    println!("native frames encoded {encoded}, refused {refused:?}");
    assert!(encoded > 25_000, "too few valid frames");
    for e in ["UnknownFlags", "TooLong", "NameTooLong", "MessageTooLarge", "AddressNotEncodable"] {
        assert!(refused.get(e).copied().unwrap_or(0) > 500, "{e} hardly exercised");
    }
}

#[test]
fn a_legacy_datagram_encodes_exactly_when_its_text_decodes_back_to_it() {
    let seed = seed();
    let mut rng = Rng(seed);
    let pool = rng.word(MAX_MESSAGE + 64);
    let (mut encoded, mut refused) = (0u32, BTreeMap::<String, u32>::new());
    for _ in 0..100_000 {
        let mut text = pool[..rng.len_around(MAX_MESSAGE, pool.len())].to_owned();
        match rng.below(6) {
            0 => {} // as it is
            1 => {
                // a byte the original would split on or could not print
                let c = [' ', '\t', '\n', '\r', '\x0b', '\x0c', '\0', '\x7f', '\u{e9}', '\u{a0}']
                    [rng.below(10)];
                text.insert(rng.below(text.len() + 1), c);
            }
            2 => text.clear(),
            _ => text.truncate(rng.below(20)),
        }
        let (a, b) = (rng.uuid(), rng.uuid());
        let d = match rng.below(4) {
            0 => Legacy::Discover { asker: a },
            1 => Legacy::Discovered { asker: a, peer: b },
            2 => Legacy::Message { sender: a, text: &text },
            _ => Legacy::Response { sender: a, peer: b, text: &text },
        };
        let raw = match d {
            Legacy::Discover { asker } => format!("discover {asker}"),
            Legacy::Discovered { asker, peer } => format!("discovered {asker} {peer}"),
            Legacy::Message { sender, text } => format!("message {sender} {text}"),
            Legacy::Response { sender, peer, text } => format!("response {sender}  {peer} {text}"),
        }
        .into_bytes();
        let decodes_back = legacy::decode(&raw) == Ok(d);
        match legacy::try_encode(&d) {
            Ok(bytes) => {
                encoded += 1;
                assert!(decodes_back, "seed {seed}: encoded but does not decode back: {d:?}");
                assert!(bytes == raw, "seed {seed}: encoded other text than the original's");
                assert!(legacy::encode(&d) == bytes, "seed {seed}: encode and try_encode differ");
            }
            Err(e) => {
                *refused.entry(variant(&e)).or_default() += 1;
                assert!(!decodes_back, "seed {seed}: refused ({e}) but would decode: {d:?}");
            }
        }
    }
    println!("legacy datagrams encoded {encoded}, refused {refused:?}");
    assert!(encoded > 25_000, "too few valid datagrams");
    for e in ["BadText", "TextTooLong"] {
        assert!(refused.get(e).copied().unwrap_or(0) > 500, "{e} hardly exercised");
    }
}
