//! The sealed layout: a datagram under a group key (PROTOCOL.md, "Sealed
//! datagrams").
//!
//! ```text
//! 0      4                       28                     n-16     n
//! +------+-----------------------+----------------------+--------+
//! | SP2S | nonce (24)            | ciphertext of the    | tag    |
//! |      | sealed_at | salt | ctr| open datagram        | (16)   |
//! +------+-----------------------+----------------------+--------+
//! ```
//!
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`), the four magic
//! bytes as associated data. The nonce is 8 bytes of sealing time
//! (microseconds since the Unix epoch, big-endian), 8 random bytes drawn
//! once per peer, and an 8-byte counter: unique without a syscall per
//! datagram, and carrying, authenticated, the time that replay checks need.

/// First four bytes of every sealed datagram.
pub const SEALED_MAGIC: [u8; 4] = *b"SP2S";
/// Length of the nonce.
pub const NONCE_LEN: usize = 24;
/// Length of the authentication tag.
pub const TAG_LEN: usize = 16;
/// What sealing adds to a datagram: magic, nonce and tag.
pub const OVERHEAD: usize = SEALED_MAGIC.len() + NONCE_LEN + TAG_LEN;
/// Length of a key, in bytes.
pub const KEY_LEN: usize = 32;

/// Whether `buf` claims to be sealed (opening it is what proves it).
pub fn is_sealed(buf: &[u8]) -> bool {
    buf.starts_with(&SEALED_MAGIC)
}

/// The nonce's three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nonce {
    /// When it was sealed, in microseconds since the Unix epoch.
    pub sealed_at_us: u64,
    /// Drawn at random once per peer.
    pub salt: u64,
    /// Counts the peer's datagrams.
    pub counter: u64,
}

impl Nonce {
    /// The 24 bytes on the wire.
    pub fn to_bytes(self) -> [u8; NONCE_LEN] {
        let mut out = [0u8; NONCE_LEN];
        out[..8].copy_from_slice(&self.sealed_at_us.to_be_bytes());
        out[8..16].copy_from_slice(&self.salt.to_be_bytes());
        out[16..].copy_from_slice(&self.counter.to_be_bytes());
        out
    }

    /// Reads the 24 bytes on the wire.
    pub fn from_bytes(b: &[u8; NONCE_LEN]) -> Nonce {
        let word = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or_default());
        Nonce { sealed_at_us: word(0), salt: word(8), counter: word(16) }
    }
}

#[cfg(feature = "crypto")]
pub use self::aead::{Cipher, open, seal};

#[cfg(feature = "crypto")]
mod aead {
    use chacha20poly1305::aead::{AeadInOut, KeyInit};
    use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

    use super::{KEY_LEN, NONCE_LEN, Nonce, OVERHEAD, SEALED_MAGIC, TAG_LEN};

    /// One key, ready to seal and open.
    #[derive(Clone)]
    pub struct Cipher(XChaCha20Poly1305);

    impl std::fmt::Debug for Cipher {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Cipher(..)")
        }
    }

    impl Cipher {
        /// The cipher for a 32-byte key.
        pub fn new(key: &[u8; KEY_LEN]) -> Cipher {
            Cipher(XChaCha20Poly1305::new(key.into()))
        }
    }

    /// Seals `plain` into `out` (cleared first), allocating only if `out`
    /// is too small for it.
    pub fn seal(cipher: &Cipher, nonce: Nonce, plain: &[u8], out: &mut Vec<u8>) {
        let nonce = nonce.to_bytes();
        out.clear();
        out.reserve(plain.len() + OVERHEAD);
        out.extend_from_slice(&SEALED_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let start = SEALED_MAGIC.len() + NONCE_LEN;
        // Fails only for a plaintext over 256 GiB.
        let tag = cipher
            .0
            .encrypt_inout_detached(&XNonce::from(nonce), &SEALED_MAGIC, (&mut out[start..]).into())
            .unwrap_or_default();
        out.extend_from_slice(&tag);
    }

    /// Opens `buf` in place with the first of `ciphers` that authenticates
    /// it: the open datagram and its nonce, or `None` for anything that
    /// is not sealed under one of them.
    pub fn open<'a>(ciphers: &[Cipher], buf: &'a mut [u8]) -> Option<(&'a [u8], Nonce)> {
        if buf.len() < OVERHEAD || !super::is_sealed(buf) {
            return None;
        }
        let start = SEALED_MAGIC.len() + NONCE_LEN;
        let end = buf.len() - TAG_LEN;
        let nonce: [u8; NONCE_LEN] = buf[SEALED_MAGIC.len()..start].try_into().ok()?;
        let tag = Tag::try_from(&buf[end..]).ok()?;
        let xnonce = XNonce::from(nonce);
        // The tag is checked before anything is decrypted, so a failed
        // attempt leaves the bytes as they were for the next key.
        let opened = ciphers.iter().any(|c| {
            c.0.decrypt_inout_detached(&xnonce, &SEALED_MAGIC, (&mut buf[start..end]).into(), &tag)
                .is_ok()
        });
        opened.then(|| (&buf[start..end] as &[u8], Nonce::from_bytes(&nonce)))
    }
}

#[cfg(all(test, feature = "crypto"))]
mod tests {
    use super::*;

    fn nonce() -> Nonce {
        Nonce { sealed_at_us: 1_700_000_000_000_000, salt: 0x0102_0304_0506_0708, counter: 9 }
    }

    #[test]
    fn seal_then_open_gives_the_datagram_and_nonce_back() {
        let cipher = Cipher::new(&[7; 32]);
        let mut sealed = Vec::new();
        seal(&cipher, nonce(), b"SP2P hello", &mut sealed);
        assert_eq!(sealed.len(), 10 + OVERHEAD);
        assert!(is_sealed(&sealed));
        let (plain, n) = open(&[cipher], &mut sealed).unwrap();
        assert_eq!(plain, b"SP2P hello");
        assert_eq!(n, nonce());
    }

    /// The bytes of the `text` block in PROTOCOL.md's sealed section.
    fn protocol_vector() -> Vec<u8> {
        let doc = include_str!("../../PROTOCOL.md");
        let section = &doc[doc.find("## Sealed datagrams").expect("a sealed section")..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
        let block = section.split("```text").nth(1).expect("a test vector");
        let block = &block[..block.find("```").expect("its end")];
        let hex = |t: &&str| t.len() == 2 && t.chars().all(|c| c.is_ascii_hexdigit());
        block
            .lines()
            .flat_map(|line| line.split_whitespace().take_while(hex))
            .map(|t| u8::from_str_radix(t, 16).unwrap())
            .collect()
    }

    #[test]
    fn protocol_md_test_vector_is_what_seal_produces() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let sender = uuid::Uuid::parse_str("6ba7b810-9dad-41d1-80b4-00c04fd430c8").unwrap();
        let body = crate::wire::Body::Message { timing: None, name: "a", payload: b"hi" };
        let message = crate::wire::Frame { flags: 0, sender, id: 7, body }.to_vec().unwrap();
        // 2026-11-25 16:00:00 UTC; checked against PyCryptodome's XChaCha20-Poly1305.
        let nonce =
            Nonce { sealed_at_us: 1_795_622_400_000_000, salt: 0x0123_4567_89ab_cdef, counter: 1 };
        let mut sealed = Vec::new();
        seal(&Cipher::new(&key), nonce, &message, &mut sealed);
        assert_eq!(sealed, protocol_vector());
        let (open_bytes, n) = open(&[Cipher::new(&key)], &mut sealed).unwrap();
        assert_eq!((open_bytes, n), (&message[..], nonce));
    }

    #[test]
    fn any_changed_byte_or_another_key_fails_and_the_second_key_opens() {
        let (a, b) = (Cipher::new(&[1; 32]), Cipher::new(&[2; 32]));
        let mut sealed = Vec::new();
        seal(&a, nonce(), b"payload", &mut sealed);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert!(open(std::slice::from_ref(&a), &mut bad).is_none(), "byte {i}");
        }
        assert!(open(std::slice::from_ref(&b), &mut sealed.clone()).is_none());
        assert!(open(&[b, a], &mut sealed).is_some());
        assert!(open(&[Cipher::new(&[1; 32])], &mut [0u8; OVERHEAD - 1]).is_none());
    }
}
