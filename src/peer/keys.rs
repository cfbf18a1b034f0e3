//! Group keys: what a key is, where a peer's keys come from (given inline
//! or read from key files), and the keyring it seals and opens every
//! datagram with, re-read when a key file changes.
//!
//! A key never appears in `Debug`, `Display` or an error: only
//! [`Key::to_hex`] reveals it.

#![cfg_attr(not(feature = "crypto"), allow(dead_code))] // only a keyring reads keys

use std::fmt;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, KeyProblem, Result};
use crate::wire::sealed::KEY_LEN;

/// Most keys a peer holds: the current one, which seals, and the next (or
/// previous) one, which also opens, so that a group can change keys
/// without a moment in which two of its peers cannot hear each other.
pub const MAX_KEYS: usize = 2;
/// Largest key file read; a key line is 65 bytes, so this leaves room for
/// comments and refuses a file that is plainly something else.
const MAX_KEY_FILE: u64 = 4096;

/// A group key: 256 random bits. Every peer holding it seals and opens the
/// group's datagrams with it; see [`Config::key`](crate::Config::key).
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// A fresh key from the operating system's random source.
    ///
    /// # Errors
    /// [`Error::Io`] if the system has no random source.
    pub fn generate() -> Result<Key> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| Error::Io {
            op: "draw a random key",
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Key(bytes))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// The key as the one line of 64 lowercase hex digits a key file
    /// holds. This is the secret: it is the only way a key is ever shown.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl FromStr for Key {
    type Err = Error;

    /// Reads 64 hex digits (either case), with surrounding blanks allowed.
    fn from_str(s: &str) -> Result<Key> {
        parse_hex(s.trim()).ok_or(Error::BadKey)
    }
}

fn parse_hex(s: &str) -> Option<Key> {
    let digits = s.as_bytes();
    if digits.len() != 2 * KEY_LEN {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16);
    let mut out = [0u8; KEY_LEN];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = u8::try_from(nibble(pair[0])? << 4 | nibble(pair[1])?).ok()?;
    }
    Some(Key(out))
}

/// Where one of a peer's keys comes from, in the order they were given.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    Inline(Key),
    /// A key file, re-read when it changes.
    File(PathBuf),
}

/// Reads a key file: one or two keys, one per line; blank lines and lines
/// starting with `#` are skipped. Refused, as ssh refuses a private key,
/// when anyone but its owner may read or write it.
///
/// # Errors
/// [`Error::KeyFile`], saying what is wrong and never what the file holds.
pub fn read_key_file(path: &Path) -> Result<Vec<Key>> {
    let problem = |problem| Error::KeyFile { path: path.to_owned(), problem };
    let meta = std::fs::metadata(path).map_err(|e| problem(KeyProblem::Unreadable(e)))?;
    if !meta.is_file() {
        return Err(problem(KeyProblem::NotAFile));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(problem(KeyProblem::OpenToOthers(meta.mode() & 0o777)));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_string(&mut text))
        .map_err(|e| problem(KeyProblem::Unreadable(e)))?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(problem(KeyProblem::TooLarge));
    }
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(parse_hex(line).ok_or(problem(KeyProblem::BadLine(n + 1)))?);
    }
    match keys.len() {
        0 => Err(problem(KeyProblem::NoKey)),
        n if n > MAX_KEYS => Err(Error::TooManyKeys(n)),
        _ => Ok(keys),
    }
}

/// Every key of `sources`, in order.
pub(crate) fn load(sources: &[KeySource]) -> Result<Vec<Key>> {
    let mut keys = Vec::new();
    for source in sources {
        match source {
            KeySource::Inline(key) => keys.push(key.clone()),
            KeySource::File(path) => keys.extend(read_key_file(path)?),
        }
    }
    if keys.len() > MAX_KEYS {
        return Err(Error::TooManyKeys(keys.len()));
    }
    Ok(keys)
}

/// What a key file looked like when last read: a change to any of these
/// means it is read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    mode: u32,
}

/// The stamps of `sources`' files (`None` for a file that cannot be read).
pub(crate) fn stamps(sources: &[KeySource]) -> Vec<Option<Stamp>> {
    let files = sources.iter().filter_map(|s| match s {
        KeySource::File(p) => Some(p),
        KeySource::Inline(_) => None,
    });
    files
        .map(|p| {
            std::fs::metadata(p).ok().map(|m| Stamp {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
                mode: m.mode(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sp2p-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn hex_round_trip_and_debug_hides_the_key() {
        let key = Key::generate().unwrap();
        let hex = key.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex.parse::<Key>().unwrap(), key);
        assert_eq!(hex.to_uppercase().parse::<Key>().unwrap(), key);
        assert_eq!(format!("{key:?}"), "Key(..)");
        assert!("abc".parse::<Key>().is_err());
        assert!("g".repeat(64).parse::<Key>().is_err());
        assert!("é".repeat(32).parse::<Key>().is_err());
    }

    #[test]
    fn key_files_are_read_and_refused_as_documented() {
        let dir = tempdir("files");
        let (a, b) = (Key::generate().unwrap(), Key::generate().unwrap());
        let two = format!("# rotation\n{}\n\n{}\n", a.to_hex(), b.to_hex());
        let ok = write(&dir, "ok", &two, 0o600);
        assert_eq!(read_key_file(&ok).unwrap(), vec![a.clone(), b.clone()]);

        let err = |p: &Path| read_key_file(p).unwrap_err().to_string();
        let open = write(&dir, "open", &two, 0o644);
        assert!(err(&open).contains("chmod 600"), "{}", err(&open));
        let three = write(&dir, "three", &format!("{two}{}\n", a.to_hex()), 0o600);
        assert!(err(&three).contains("at most two"));
        let bad = write(&dir, "bad", &format!("{}\nnot a key\n", a.to_hex()), 0o600);
        assert!(err(&bad).contains("line 2"));
        assert!(!err(&bad).contains(&a.to_hex()), "an error never shows a key");
        let empty = write(&dir, "empty", "# nothing\n", 0o600);
        assert!(err(&empty).contains("no key"));
        assert!(err(&dir.join("missing")).contains("keygen"));
        assert!(err(&dir).contains("not a file"));
        let big = write(&dir, "big", &"#".repeat(5000), 0o600);
        assert!(err(&big).contains("not a key file"));

        let sources = [KeySource::Inline(b.clone()), KeySource::File(ok.clone())];
        assert!(matches!(load(&sources), Err(Error::TooManyKeys(3))));
        let sources =
            [KeySource::Inline(b.clone()), KeySource::File(write(&dir, "one", &a.to_hex(), 0o400))];
        assert_eq!(load(&sources).unwrap(), vec![b, a]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
