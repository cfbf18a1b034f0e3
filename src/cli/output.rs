//! How peers and messages are printed: escaped text and JSON.

use simplep2p::{Message, PeerInfo};

pub(super) fn peer_line(p: &PeerInfo) -> String {
    if p.name.is_empty() {
        format!("{} {}", p.id, p.addr)
    } else {
        format!("{} {} {}", p.id, p.addr, escape(p.name.as_bytes()))
    }
}

pub(super) fn peer_json(p: &PeerInfo) -> String {
    format!("{{\"id\":\"{}\",\"address\":\"{}\",\"name\":{}}}", p.id, p.addr, json_string(&p.name))
}

pub(super) fn message_json(m: &Message) -> String {
    let text = std::str::from_utf8(&m.data).map_or("null".to_string(), json_string);
    let hex: String = m.data.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{{\"sender\":\"{}\",\"address\":\"{}\",\"name\":{},\"message\":{text},\"hex\":\"{hex}\"}}",
        m.sender,
        m.addr,
        json_string(&m.name)
    )
}

/// Printable text as it is; control characters and bytes that are not
/// UTF-8 as escapes, so one message is always one line.
pub(super) fn escape(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

pub(super) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_text_and_escapes_the_rest() {
        assert_eq!(escape(b"hello there"), "hello there");
        assert_eq!(escape("héllo ✓".as_bytes()), "héllo ✓");
        assert_eq!(escape(b"a\nb\tc\\d\r"), "a\\nb\\tc\\\\d\\r");
        assert_eq!(escape(b"\x00\xff\x7f"), "\\x00\\xff\\x7f");
    }

    #[test]
    fn json_string_escapes_quotes_and_controls() {
        assert_eq!(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
