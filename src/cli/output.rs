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
    // Two clocks: negative when the receiver's runs behind the sender's.
    let age = m.sent_at.map_or("null".to_string(), |sent| {
        let ms = match m.received_at.duration_since(sent) {
            Ok(d) => d.as_secs_f64() * 1e3,
            Err(e) => -e.duration().as_secs_f64() * 1e3,
        };
        format!("{ms:.3}")
    });
    let late = if m.deadline.is_some() { m.is_late().to_string() } else { "null".into() };
    format!(
        "{{\"sender\":\"{}\",\"address\":\"{}\",\"name\":{},\"message\":{text},\"hex\":\"{hex}\",\"age_ms\":{age},\"late\":{late}}}",
        m.sender,
        m.addr,
        json_string(&m.name)
    )
}

/// Characters never printed raw, in text or JSON: besides the control
/// characters (C0, DEL and C1, which holds NEL, U+0085), those some reader
/// takes for a line break (Python's `splitlines`, JavaScript, editors), or
/// that reorder or hide the text around them, so that a line cannot pass
/// for two, or a name for another.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // line and paragraph separators
            '\u{2028}' | '\u{2029}'
            // bidirectional marks, embeddings, overrides and isolates
            | '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            // zero-width and invisible characters, byte order mark
            | '\u{200b}'..='\u{200d}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// Printable text as it is; hidden characters (see [`hidden`]) and bytes
/// that are not UTF-8 as `\xNN` escapes of their bytes, so one message is
/// always one line and the escapes undo to the exact bytes.
pub(super) fn escape(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if hidden(c) => {
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

/// A path on one line, escaped as messages are.
pub(super) fn shown(path: &std::path::Path) -> String {
    escape(path.as_os_str().as_encoded_bytes())
}

/// A JSON string with the same characters escaped as in text (`\u2028`),
/// so that a reader splitting on any line break still sees one object.
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
            c if hidden(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The groups a peer meets on, for its ready line: "239.255.0.1:30001
/// and [ff02::114]:30001".
pub(super) fn groups(groups: &[std::net::SocketAddr]) -> String {
    groups.iter().map(ToString::to_string).collect::<Vec<_>>().join(" and ")
}

/// A JSON array of strings, from values whose text needs no escaping
/// (addresses): `["10.77.1.1:4000","[fe80::1%2]:4000"]`.
pub(super) fn json_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let quoted: Vec<String> = items.into_iter().map(|a| format!("\"{a}\"")).collect();
    format!("[{}]", quoted.join(","))
}

/// The addresses a peer uses on one interface, IPv4's first.
fn addresses(i: &simplep2p::InterfaceInfo) -> Vec<String> {
    let v4 = i.ipv4.map(|a| a.to_string());
    v4.into_iter().chain(i.ipv6.map(|a| a.to_string())).collect()
}

/// The interfaces a peer serves, for its ready line: "interface lo
/// (127.0.0.1)", "interfaces eth0 (10.77.1.1, fe80::1), eth1 (10.77.2.1)".
pub(super) fn interfaces(served: &[simplep2p::InterfaceInfo]) -> String {
    let each: Vec<String> =
        served.iter().map(|i| format!("{} ({})", i.name, addresses(i).join(", "))).collect();
    match each.len() {
        0 => "no interface up yet".to_owned(),
        1 => format!("interface {}", each[0]),
        _ => format!("interfaces {}", each.join(", ")),
    }
}

/// The interfaces a peer serves, for `--json`:
/// `[{"name":"eth0","index":2,"addresses":["10.77.1.1","fe80::1"]}]`.
pub(super) fn interfaces_json(served: &[simplep2p::InterfaceInfo]) -> String {
    let each: Vec<String> = served
        .iter()
        .map(|i| {
            let name = json_string(&i.name);
            let addrs = json_list(addresses(i));
            format!("{{\"name\":{name},\"index\":{},\"addresses\":{addrs}}}", i.index)
        })
        .collect();
    format!("[{}]", each.join(","))
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

    #[test]
    fn line_breaks_bidi_and_invisible_characters_are_escaped() {
        assert_eq!(escape("a\u{2028}b\u{85}c".as_bytes()), "a\\xe2\\x80\\xa8b\\xc2\\x85c");
        assert_eq!(
            escape("\u{202e}\u{2066}\u{200b}\u{feff}".as_bytes()),
            "\\xe2\\x80\\xae\\xe2\\x81\\xa6\\xe2\\x80\\x8b\\xef\\xbb\\xbf"
        );
        assert_eq!(
            json_string("a\u{2029}\u{85}\u{200f}\u{2060}\u{7f}"),
            "\"a\\u2029\\u0085\\u200f\\u2060\\u007f\""
        );
        // Visible text around them is left alone.
        assert_eq!(escape("日本 ✓ é".as_bytes()), "日本 ✓ é");
    }
}
