//! The keys a running peer seals and opens with, re-read when its key files
//! change (checked every [`KEY_FILE_CHECK`] by the peer's timers), so that a
//! group changes keys without restarting anyone (README, "Changing a group's
//! key").
//!
//! Without the `crypto` feature there is no keyring: [`Keyring::new`]
//! refuses a key with an error naming the feature.

/// How often a peer looks at its key files: a changed file is in use
/// within this much (plus the time to read it).
pub const KEY_FILE_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

#[cfg(feature = "crypto")]
pub(crate) use self::real::Keyring;

#[cfg(not(feature = "crypto"))]
pub(crate) use self::none::Keyring;

#[cfg(feature = "crypto")]
mod real {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, RwLock};
    use std::time::SystemTime;

    use super::super::keys::{self, KeySource, Stamp};
    use super::super::lock;
    use super::super::replay::unix_us;
    use super::super::stats::{Counters, bump};
    use crate::error::{Error, Result};
    use crate::wire::sealed::{self, Cipher, Nonce};

    /// One peer's keys: the first seals, any opens.
    #[derive(Debug)]
    pub(crate) struct Keyring {
        sources: Vec<KeySource>,
        ciphers: RwLock<Arc<[Cipher]>>,
        /// The key files as last read, to notice a change.
        stamps: Mutex<Vec<Option<Stamp>>>,
        /// The nonce's random middle, drawn once.
        salt: u64,
        counter: AtomicU64,
        counters: Arc<Counters>,
    }

    impl Keyring {
        /// Reads the keys of `sources`; `None` when there are none.
        pub fn new(sources: &[KeySource], counters: Arc<Counters>) -> Result<Option<Keyring>> {
            if sources.is_empty() {
                return Ok(None);
            }
            let stamps = keys::stamps(sources);
            let ciphers = ciphers(sources)?;
            let salt = getrandom::u64().map_err(|e| Error::Io {
                op: "draw a random nonce salt",
                source: std::io::Error::other(e.to_string()),
            })?;
            Ok(Some(Keyring {
                sources: sources.to_vec(),
                ciphers: RwLock::new(ciphers),
                stamps: Mutex::new(stamps),
                salt,
                counter: AtomicU64::new(0),
                counters,
            }))
        }

        /// Seals `plain` into `out` with the first key.
        pub fn seal(&self, plain: &[u8], out: &mut Vec<u8>) {
            let nonce = Nonce {
                sealed_at_us: unix_us(SystemTime::now()),
                salt: self.salt,
                counter: self.counter.fetch_add(1, Ordering::Relaxed),
            };
            let ciphers = self.ciphers.read().unwrap_or_else(|e| e.into_inner());
            sealed::seal(&ciphers[0], nonce, plain, out);
        }

        /// Opens `buf` in place with any of the keys.
        pub fn open<'a>(&self, buf: &'a mut [u8]) -> Option<(&'a [u8], Nonce)> {
            let ciphers = Arc::clone(&self.ciphers.read().unwrap_or_else(|e| e.into_inner()));
            sealed::open(&ciphers, buf)
        }

        /// Re-reads the key files if any changed since last read; a file
        /// that cannot be used leaves the keys as they were (`key_errors`).
        pub fn refresh(&self) {
            let now = keys::stamps(&self.sources);
            {
                let mut seen = lock(&self.stamps);
                if *seen == now {
                    return;
                }
                *seen = now;
            }
            match ciphers(&self.sources) {
                Ok(c) => {
                    *self.ciphers.write().unwrap_or_else(|e| e.into_inner()) = c;
                    bump(&self.counters.key_reloads);
                }
                Err(_) => bump(&self.counters.key_errors),
            }
        }

        /// Whether any key came from a file, to be looked at again.
        pub fn watches_files(&self) -> bool {
            self.sources.iter().any(|s| matches!(s, KeySource::File(_)))
        }
    }

    fn ciphers(sources: &[KeySource]) -> Result<Arc<[Cipher]>> {
        let keys = keys::load(sources)?;
        if keys.is_empty() {
            return Err(Error::TooManyKeys(0));
        }
        Ok(keys.iter().map(|k| Cipher::new(k.bytes())).collect())
    }
}

#[cfg(not(feature = "crypto"))]
mod none {
    use std::sync::Arc;

    use super::super::keys::KeySource;
    use super::super::stats::Counters;
    use crate::error::{Error, Result};
    use crate::wire::sealed::Nonce;

    /// No keyring can exist in a build without cryptography.
    #[derive(Debug)]
    pub(crate) enum Keyring {}

    impl Keyring {
        pub fn new(sources: &[KeySource], _: Arc<Counters>) -> Result<Option<Keyring>> {
            if sources.is_empty() { Ok(None) } else { Err(Error::NoCrypto) }
        }
        pub fn seal(&self, _: &[u8], _: &mut Vec<u8>) {
            match *self {}
        }
        pub fn open<'a>(&self, _: &'a mut [u8]) -> Option<(&'a [u8], Nonce)> {
            match *self {}
        }
        pub fn watches_files(&self) -> bool {
            match *self {}
        }
        pub fn refresh(&self) {
            match *self {}
        }
    }
}
