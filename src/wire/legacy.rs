//! The original C++ SimpleP2P's text datagrams, for interop with its peers.
//!
//! ASCII words separated by whitespace; UUIDs in the 36-character
//! hyphenated form. The four datagrams:
//!
//! ```text
//! discover <A>                   A asks who is there
//! discovered <A> <B>             B answers A
//! message <A> <text>             A sends a one-word message
//! response <A> <B> <text>        B answers A's message (the original writes
//!                                two spaces before <B>: any run of
//!                                whitespace separates fields)
//! ```
//!
//! Every one is multicast to the group: original peers listen nowhere else.
//! Like [`decode`](super::decode), [`decode`] never panics. Text is one word
//! of printable ASCII of at most [`MAX_MESSAGE`](super::MAX_MESSAGE) bytes
//! both ways: [`try_encode`] refuses what [`decode`] would, and whatever
//! decodes encodes again, so a message can always be answered.

use std::fmt;

use uuid::Uuid;

/// Longest legacy datagram accepted: a response carrying the largest
/// message, with room to spare. The original had no limit.
pub const MAX_LEGACY_DATAGRAM: usize = 128 + super::MAX_MESSAGE;

/// A decoded legacy datagram; the text borrows from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy<'a> {
    /// `discover <asker>`.
    Discover {
        /// Who asks.
        asker: Uuid,
    },
    /// `discovered <asker> <peer>`.
    Discovered {
        /// Who asked.
        asker: Uuid,
        /// Who answers.
        peer: Uuid,
    },
    /// `message <sender> <text>`.
    Message {
        /// Who sends.
        sender: Uuid,
        /// One word of printable ASCII.
        text: &'a str,
    },
    /// `response <sender> <peer> <text>`.
    Response {
        /// Who sent the message.
        sender: Uuid,
        /// Who answers.
        peer: Uuid,
        /// The message's text, echoed.
        text: &'a str,
    },
}

/// One way a legacy datagram can be malformed. Retrying never helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegacyError {
    /// Longer than [`MAX_LEGACY_DATAGRAM`].
    TooLong(usize),
    /// Not UTF-8 (the original only sends ASCII).
    NotText,
    /// No words at all.
    Empty,
    /// A first word other than the four verbs: not a legacy datagram.
    UnknownVerb,
    /// Fewer words than the verb needs; names the first missing field.
    MissingField(&'static str),
    /// A field that is not a hyphenated UUID; names it.
    BadUuid(&'static str),
    /// More words than the verb takes.
    ExtraFields,
    /// Text that is not one word of printable ASCII (see [`is_legacy_text`]).
    BadText,
    /// Text longer than [`MAX_MESSAGE`](super::MAX_MESSAGE).
    TextTooLong(usize),
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyError::TooLong(n) => {
                write!(f, "legacy datagram of {n} bytes, limit {MAX_LEGACY_DATAGRAM}")
            }
            LegacyError::NotText => f.write_str("legacy datagram is not text"),
            LegacyError::Empty => f.write_str("empty legacy datagram"),
            LegacyError::UnknownVerb => f.write_str("not a legacy datagram (unknown verb)"),
            LegacyError::MissingField(name) => write!(f, "legacy datagram lacks its {name}"),
            LegacyError::BadUuid(name) => write!(f, "legacy {name} is not a UUID"),
            LegacyError::ExtraFields => f.write_str("legacy datagram has extra fields"),
            LegacyError::BadText => f.write_str("legacy text is not one word of printable ASCII"),
            LegacyError::TextTooLong(n) => {
                write!(f, "legacy text of {n} bytes, limit {}", super::MAX_MESSAGE)
            }
        }
    }
}

impl std::error::Error for LegacyError {}

/// True for text the original can carry whole: one non-empty word of
/// printable ASCII (it splits on whitespace and keeps the first word).
pub fn is_legacy_text(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(u8::is_ascii_graphic)
}

/// Decodes one legacy datagram. Never panics.
pub fn decode(buf: &[u8]) -> Result<Legacy<'_>, LegacyError> {
    if buf.len() > MAX_LEGACY_DATAGRAM {
        return Err(LegacyError::TooLong(buf.len()));
    }
    let text = std::str::from_utf8(buf).map_err(|_| LegacyError::NotText)?;
    let mut words = text.split_ascii_whitespace();
    let verb = words.next().ok_or(LegacyError::Empty)?;
    let mut next = |name| words.next().ok_or(LegacyError::MissingField(name));
    let uuid = |word: &str, name| parse_uuid(word).ok_or(LegacyError::BadUuid(name));
    let decoded = match verb {
        "discover" => Legacy::Discover { asker: uuid(next("asker")?, "asker")? },
        "discovered" => {
            let asker = uuid(next("asker")?, "asker")?;
            Legacy::Discovered { asker, peer: uuid(next("peer")?, "peer")? }
        }
        "message" => {
            let sender = uuid(next("sender")?, "sender")?;
            Legacy::Message { sender, text: checked_text(next("text")?)? }
        }
        "response" => {
            let sender = uuid(next("sender")?, "sender")?;
            let peer = uuid(next("peer")?, "peer")?;
            Legacy::Response { sender, peer, text: checked_text(next("text")?)? }
        }
        _ => return Err(LegacyError::UnknownVerb),
    };
    if next("").is_ok() {
        return Err(LegacyError::ExtraFields);
    }
    Ok(decoded)
}

/// Only the hyphenated form the original writes (36 characters).
fn parse_uuid(word: &str) -> Option<Uuid> {
    if word.len() != 36 {
        return None;
    }
    Uuid::try_parse(word).ok()
}

/// `text` if the original carries it whole and our answer to it fits.
fn checked_text(text: &str) -> Result<&str, LegacyError> {
    if !is_legacy_text(text.as_bytes()) {
        return Err(LegacyError::BadText);
    }
    if text.len() > super::MAX_MESSAGE {
        return Err(LegacyError::TextTooLong(text.len()));
    }
    Ok(text)
}

/// Longest encoding: a response with the longest text.
const MAX_ENCODED: usize = "response ".len() + 36 + 2 + 36 + 1 + super::MAX_MESSAGE;
const _: () = assert!(MAX_ENCODED <= MAX_LEGACY_DATAGRAM, "an answer must decode");

/// The datagram's text, as the original writes it (two spaces before the
/// responder in a response).
///
/// # Errors
/// [`LegacyError::BadText`] or [`LegacyError::TextTooLong`] for text that
/// [`decode`] would refuse.
pub fn try_encode(datagram: &Legacy<'_>) -> Result<Vec<u8>, LegacyError> {
    if let Legacy::Message { text, .. } | Legacy::Response { text, .. } = datagram {
        checked_text(text)?;
    }
    let text = match datagram {
        Legacy::Discover { asker } => format!("discover {}", asker.hyphenated()),
        Legacy::Discovered { asker, peer } => {
            format!("discovered {} {}", asker.hyphenated(), peer.hyphenated())
        }
        Legacy::Message { sender, text } => format!("message {} {text}", sender.hyphenated()),
        Legacy::Response { sender, peer, text } => {
            format!("response {}  {} {text}", sender.hyphenated(), peer.hyphenated())
        }
    };
    Ok(text.into_bytes())
}

/// [`try_encode`], for a datagram known to be valid: one without text, one
/// whose text passed [`is_legacy_text`] and the [`MAX_MESSAGE`](super::MAX_MESSAGE)
/// limit, or one built from what [`decode`] returned.
///
/// # Panics
/// On text [`try_encode`] refuses: better than sending text that the
/// original would cut short and our own peers would drop.
pub fn encode(datagram: &Legacy<'_>) -> Vec<u8> {
    try_encode(datagram).expect("legacy text was checked before encoding")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";
    const B: &str = "0f9547f9-4ad1-4d51-a567-5703d126714c";

    fn a() -> Uuid {
        Uuid::parse_str(A).unwrap()
    }
    fn b() -> Uuid {
        Uuid::parse_str(B).unwrap()
    }

    #[test]
    fn parse_each_verb() {
        assert_eq!(decode(format!("discover {A}").as_bytes()), Ok(Legacy::Discover { asker: a() }));
        assert_eq!(
            decode(format!("discovered {A} {B}").as_bytes()),
            Ok(Legacy::Discovered { asker: a(), peer: b() })
        );
        assert_eq!(
            decode(format!("message {A} hello_there").as_bytes()),
            Ok(Legacy::Message { sender: a(), text: "hello_there" })
        );
        assert_eq!(
            decode(format!("response {A}  {B} hello_there\n").as_bytes()),
            Ok(Legacy::Response { sender: a(), peer: b(), text: "hello_there" })
        );
    }

    #[test]
    fn encode_writes_what_the_original_writes() {
        let r = Legacy::Response { sender: a(), peer: b(), text: "hi" };
        assert_eq!(encode(&r), format!("response {A}  {B} hi").into_bytes());
        for d in [
            Legacy::Discover { asker: a() },
            Legacy::Discovered { asker: a(), peer: b() },
            Legacy::Message { sender: a(), text: "x" },
            r,
        ] {
            assert_eq!(decode(&encode(&d)), Ok(d));
        }
    }

    #[test]
    fn malformed_text_is_a_typed_error() {
        let cases: &[(&[u8], LegacyError)] = &[
            (b"", LegacyError::Empty),
            (b"  \n", LegacyError::Empty),
            (b"hello", LegacyError::UnknownVerb),
            (b"discover", LegacyError::MissingField("asker")),
            (b"discover not-a-uuid", LegacyError::BadUuid("asker")),
            (b"\xff\xfe", LegacyError::NotText),
        ];
        for (input, want) in cases {
            assert_eq!(decode(input), Err(*want), "{input:?}");
        }
        let extra = format!("discover {A} {B}");
        assert_eq!(decode(extra.as_bytes()), Err(LegacyError::ExtraFields));
        let no_text = format!("message {A}");
        assert_eq!(decode(no_text.as_bytes()), Err(LegacyError::MissingField("text")));
        let simple = format!("discover {}", a().simple());
        assert_eq!(decode(simple.as_bytes()), Err(LegacyError::BadUuid("asker")));
        let huge = vec![b'a'; 64 * 1024];
        assert_eq!(decode(&huge), Err(LegacyError::TooLong(64 * 1024)));
    }

    #[test]
    fn text_decode_refuses_is_not_encoded() {
        let long = "x".repeat(crate::wire::MAX_MESSAGE + 1);
        let cases = [
            ("hello there", LegacyError::BadText),
            ("", LegacyError::BadText),
            ("tab\t", LegacyError::BadText),
            ("vt\x0b", LegacyError::BadText),
            ("nul\0", LegacyError::BadText),
            ("caf\u{e9}", LegacyError::BadText),
            (&long, LegacyError::TextTooLong(long.len())),
        ];
        for (text, want) in cases {
            let m = Legacy::Message { sender: a(), text };
            let r = Legacy::Response { sender: a(), peer: b(), text };
            assert_eq!(try_encode(&m), Err(want), "{text:?}");
            assert_eq!(try_encode(&r), Err(want), "{text:?}");
        }
        let longest = &long[1..];
        let r = Legacy::Response { sender: a(), peer: b(), text: longest };
        assert_eq!(decode(&try_encode(&r).unwrap()), Ok(r));
    }

    #[test]
    fn decode_refuses_text_it_could_not_answer() {
        // Neither ASCII whitespace (so one word) nor printable.
        for text in ["vt\x0bx", "del\x7f", "nul\0", "caf\u{e9}"] {
            let d = format!("message {A} {text}");
            assert_eq!(decode(d.as_bytes()), Err(LegacyError::BadText), "{text:?}");
        }
        let long = "x".repeat(crate::wire::MAX_MESSAGE + 1);
        let d = format!("response {A}  {B} {long}");
        assert_eq!(decode(d.as_bytes()), Err(LegacyError::TextTooLong(long.len())));
    }

    #[test]
    #[should_panic(expected = "legacy text was checked")]
    fn encode_panics_rather_than_send_what_no_peer_reads() {
        encode(&Legacy::Message { sender: a(), text: "two words" });
    }

    #[test]
    fn legacy_text_is_one_printable_word() {
        assert!(is_legacy_text(b"hello_there"));
        assert!(!is_legacy_text(b""));
        assert!(!is_legacy_text(b"hello there"));
        assert!(!is_legacy_text("caf\u{e9}".as_bytes()));
        assert!(!is_legacy_text(b"tab\t"));
    }
}
