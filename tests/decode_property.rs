//! Property test of both decoders over random and mutated datagrams,
//! std-only: a seeded PRNG, the seed printed (set SIMPLEP2P_SEED to replay).
//!
//! The properties: no input panics; a native datagram that decodes
//! re-encodes to exactly the same bytes; a legacy datagram that decodes
//! re-encodes to text that decodes to the same datagram (legacy text
//! tolerates any run of whitespace and either case of hex, so its bytes
//! are not unique).

use simplep2p::Uuid;
use simplep2p::wire::legacy::{self, Legacy};
use simplep2p::wire::{self, Body, Frame, HEADER_LEN, Timing};

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
}

fn valid_native(rng: &mut Rng, name: &str, payload: &[u8]) -> Vec<u8> {
    let body = match rng.below(5) {
        0 => Body::Probe { padding: rng.below(100) as u16 },
        1 => Body::ProbeReply { addr: ([127, 0, 0, 1], rng.next() as u16).into(), name },
        2 => {
            let timing = (rng.below(2) == 0)
                .then(|| Timing { sent_at_ms: rng.next(), wait_ms: rng.next() as u32 });
            Body::Message { timing, name, payload }
        }
        3 => Body::Ack,
        _ => Body::Goodbye,
    };
    Frame { flags: 0, sender: rng.uuid(), id: rng.next(), body }.to_vec().unwrap()
}

fn valid_legacy(rng: &mut Rng) -> Vec<u8> {
    let (a, b) = (rng.uuid(), rng.uuid());
    let d = match rng.below(4) {
        0 => Legacy::Discover { asker: a },
        1 => Legacy::Discovered { asker: a, peer: b },
        2 => Legacy::Message { sender: a, text: "hello_there" },
        _ => Legacy::Response { sender: a, peer: b, text: "x" },
    };
    legacy::encode(&d)
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
            let c = [b' ', b'\t', b'\n', b'A', b'-', b'g', 0xff][rng.below(7)];
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
    let seed =
        std::env::var("SIMPLEP2P_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026);
    println!("seed {seed} (replay with SIMPLEP2P_SEED={seed})");
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
            assert_eq!(legacy::decode(&legacy::encode(&text)), Ok(text), "seed {seed}");
        }
    }
    println!("native valid {native_ok}, legacy valid {legacy_ok}, native rejected {rejected}");
    // Every class was exercised: some inputs stayed valid, most did not.
    assert!(native_ok > 50_000 && legacy_ok > 20_000 && rejected > 300_000);
}
