//! `clients.on_open`: the frames a client sends on every new connection before its first
//! heartbeat (authentication, subscriptions), each optionally waiting for the server's answer.
//! Text frames are templates with `{{client_id}}` and `{{conn}}` filled in per connection;
//! binary frames (`binary_hex`) are sent exactly as written, nothing substituted: a placeholder
//! in hex digits could only be spliced into the decoded bytes, which would change their length
//! under any length-prefixed binary format.

use std::fmt::Write;
use std::time::Duration;

/// Most items in `clients.on_open`.
pub const MAX_ON_OPEN_ITEMS: usize = 32;
/// Largest payload of one item (and longest `text_contains`), in bytes as written (text) or
/// decoded (binary).
pub const MAX_ON_OPEN_BYTES: usize = 64 << 10;
/// `expect.within` unless the item says otherwise.
pub const DEFAULT_EXPECT_WITHIN: Duration = Duration::from_secs(5);

/// One frame sent after the connection opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnOpenItem {
    pub frame: OnOpenFrame,
    /// The answer the server must send before the next item (and the first heartbeat) goes out.
    pub expect: Option<Expect>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnOpenFrame {
    Text(Template),
    /// Sent as written.
    Binary(Vec<u8>),
}

/// An awaited answer: a text frame containing `text_contains` (matched as written) within
/// `within` of the item being sent, or the connection is lost as `handshake_rejected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub text_contains: String,
    pub within: Duration,
}

impl Expect {
    /// Whether `frame` (a text frame's payload) is the answer.
    pub fn answered_by(&self, text: &[u8]) -> bool {
        let needle = self.text_contains.as_bytes();
        text.windows(needle.len()).any(|w| w == needle)
    }
}

/// A text with placeholders, split once at validation so a connection only fills them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// `{{client_id}}`: the client's number, from 0.
    ClientId,
    /// `{{conn}}`: the connection's number within its client, 1 for the first.
    Conn,
}

/// The placeholders a template knows, as written.
pub const PLACEHOLDERS: [&str; 2] = ["{{client_id}}", "{{conn}}"];

impl Template {
    /// Splits `text` at its placeholders. Every `{{` must open a known one (so a typo such as
    /// `{{client}}` is an error rather than sent verbatim); the error names the first bad one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start..];
            let piece = if after.starts_with(PLACEHOLDERS[0]) {
                (Piece::ClientId, PLACEHOLDERS[0].len())
            } else if after.starts_with(PLACEHOLDERS[1]) {
                (Piece::Conn, PLACEHOLDERS[1].len())
            } else {
                let shown: String = after.chars().take(20).collect();
                return Err(format!(
                    "unknown placeholder at {shown:?}; the known ones are {{{{client_id}}}} \
                     and {{{{conn}}}}"
                ));
            };
            if start > 0 {
                pieces.push(Piece::Literal(rest[..start].to_string()));
            }
            pieces.push(piece.0);
            rest = &after[piece.1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_string()));
        }
        Ok(Self { pieces })
    }

    /// Writes the text for `client_id`'s connection number `conn` into `out` (cleared first).
    pub fn render(&self, client_id: u32, conn: u64, out: &mut String) {
        out.clear();
        for piece in &self.pieces {
            // Writing into a String cannot fail.
            let _ = match piece {
                Piece::Literal(text) => out.write_str(text),
                Piece::ClientId => write!(out, "{client_id}"),
                Piece::Conn => write!(out, "{conn}"),
            };
        }
    }
}

/// Decodes hex digits (either case; spaces and line breaks between them are ignored) into bytes.
/// The error says what was wrong, without the key path.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    for c in text.chars() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let Some(digit) = c.to_digit(16) else {
            return Err(format!(
                "expected hex digits (0-9, a-f; sent as written, no placeholders), found {c:?}"
            ));
        };
        // A hex digit is below 16.
        let digit = digit as u8;
        match high.take() {
            None => high = Some(digit),
            Some(h) => bytes.push(h << 4 | digit),
        }
    }
    if high.is_some() {
        return Err("expected an even number of hex digits (two per byte)".into());
    }
    if bytes.is_empty() {
        return Err("expected at least one byte of hex digits".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(template: &str, client_id: u32, conn: u64) -> String {
        let mut out = String::from("left over");
        Template::parse(template)
            .expect("a valid template")
            .render(client_id, conn, &mut out);
        out
    }

    #[test]
    fn placeholders_are_filled_in_wherever_they_stand_and_everything_else_is_kept() {
        assert_eq!(
            rendered(r#"{"op":"auth","id":{{client_id}},"n":{{conn}}}"#, 7, 2),
            r#"{"op":"auth","id":7,"n":2}"#
        );
        assert_eq!(rendered("{{client_id}}{{conn}}", 41, 1), "411");
        assert_eq!(rendered("plain } { }}", 0, 1), "plain } { }}");
        assert_eq!(rendered("{{conn}}-{{conn}}", 3, 12), "12-12");
        assert_eq!(
            rendered("é{{client_id}}é", 4_000_000_000, 1),
            "é4000000000é"
        );
    }

    #[test]
    fn an_unknown_placeholder_is_an_error_naming_it() {
        for bad in ["{{client}}", "a {{ conn }}", "{{CONN}}", "{{client_id}} {{"] {
            let err = Template::parse(bad).expect_err(bad);
            assert!(err.starts_with("unknown placeholder at \"{{"), "{err}");
            assert!(err.ends_with("{{client_id}} and {{conn}}"), "{err}");
        }
    }

    #[test]
    fn hex_decodes_in_either_case_with_spaces_between_bytes() {
        assert_eq!(decode_hex("00ff7F").expect("hex"), vec![0x00, 0xff, 0x7f]);
        assert_eq!(
            decode_hex("de ad\nBE EF").expect("hex"),
            vec![0xde, 0xad, 0xbe, 0xef]
        );
        assert!(decode_hex("abc").expect_err("odd").contains("even number"));
        assert!(decode_hex("zz").expect_err("not hex").contains("found 'z'"));
        assert!(
            decode_hex("{{conn}}")
                .expect_err("braces")
                .contains("no placeholders")
        );
        assert!(
            decode_hex(" ")
                .expect_err("empty")
                .contains("at least one byte")
        );
    }

    #[test]
    fn an_answer_is_a_text_containing_the_expected_part() {
        let expect = Expect {
            text_contains: "\"ok\":true".into(),
            within: DEFAULT_EXPECT_WITHIN,
        };
        assert!(expect.answered_by(br#"{"op":"auth","ok":true}"#));
        assert!(expect.answered_by(br#""ok":true"#));
        assert!(!expect.answered_by(br#"{"ok":false}"#));
        assert!(!expect.answered_by(b"ok"));
    }
}
