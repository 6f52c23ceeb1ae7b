//! Server-pushed streams: `clients.stream` says where a pushed message carries its sequence
//! number and send time (a `Place`), `target.push` makes the embedded server push such messages.
//! A place is read straight from a frame's bytes (no JSON value is built per frame): a JSON
//! pointer to a top-level field (`/seq`) of a text frame holding a JSON object, or eight bytes
//! (`bytes 0..8`, a big-endian u64) of a binary frame.

/// Where a pushed message carries one of its numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A top-level field of a JSON object in a text frame, holding an unsigned integer. The key
    /// is kept decoded (`~1` -> `/`, `~0` -> `~`) and compared with the raw key bytes of the
    /// frame, so it must not need JSON escaping (checked at validation).
    JsonField(String),
    /// Bytes `offset..offset + 8` of a binary frame, a big-endian u64.
    Bytes(usize),
}

/// `clients.stream`: how a client follows the messages a server pushes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub seq: Place,
    /// Microseconds since the UNIX epoch when the server sent the message (`push_latency`).
    pub sent_at: Option<Place>,
    /// On a reconnect, `?<resume_param>=<last sequence seen>` is added to the url, so a server
    /// that can resume replays what the client missed.
    pub resume_param: Option<String>,
}

/// `target.push` (embedded server only): sequenced, timestamped JSON to every connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// Messages per second on the stream (every connection gets each one).
    pub rate_per_s: f64,
    /// Bytes per message at least (a `pad` field fills it up).
    pub size: usize,
    /// A connection that asks with `?since=<seq>` gets the messages after `seq` first.
    pub resume: bool,
}

/// The query parameter the embedded server reads the last sequence from (`?since=<seq>`).
pub const EMBEDDED_RESUME_PARAM: &str = "since";
/// Fastest push rate of the embedded server: it runs one timer tick per message.
pub const MAX_PUSH_RATE_PER_S: f64 = 1000.0;
/// Bytes per pushed message (the client's frame limit is raised to fit).
pub const PUSH_SIZE: std::ops::RangeInclusive<u64> = 16..=65_536;
/// `target.push.size` unless the scenario says otherwise.
pub const DEFAULT_PUSH_SIZE: u64 = 64;

impl Push {
    /// The push mode of `wschaos serve --push-rate RATE --push-size SIZE [--push-resume]`,
    /// checked as the scenario's `target.push` is. The error says what was expected.
    pub fn from_flags(rate: &str, size: u64, resume: bool) -> Result<Push, String> {
        let rate_per_s =
            super::validate::push_rate(rate).map_err(|m| format!("--push-rate: {m}"))?;
        if !PUSH_SIZE.contains(&size) {
            return Err(format!(
                "--push-size: expected a whole number of bytes from {} to {}, found {size}",
                PUSH_SIZE.start(),
                PUSH_SIZE.end()
            ));
        }
        Ok(Push {
            rate_per_s,
            // PUSH_SIZE fits in usize on every supported platform.
            size: usize::try_from(size).unwrap_or(usize::MAX),
            resume,
        })
    }

    /// Time between two messages of the stream.
    pub fn period(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(1.0 / self.rate_per_s)
    }
}

impl Place {
    /// Parses `/field` or `bytes N..M` (M = N + 8). The error says what was expected, without
    /// the key path.
    pub fn parse(text: &str) -> Result<Place, String> {
        let expected = || {
            format!(
                "expected a JSON pointer to a top-level field like /seq, or bytes N..N+8 (a \
                 big-endian u64 of a binary frame) like bytes 0..8, found {}",
                super::value::quoted(text)
            )
        };
        let text = text.trim();
        if let Some(range) = text.strip_prefix("bytes") {
            let (start, end) = range.trim().split_once("..").ok_or_else(expected)?;
            let (Ok(start), Ok(end)) = (start.trim().parse::<usize>(), end.trim().parse::<usize>())
            else {
                return Err(expected());
            };
            if end.checked_sub(start) != Some(8) {
                return Err(format!(
                    "expected a range of exactly 8 bytes (a big-endian u64) like bytes {start}..{}, \
                     found {}",
                    start.saturating_add(8),
                    super::value::quoted(text)
                ));
            }
            return Ok(Place::Bytes(start));
        }
        let Some(token) = text.strip_prefix('/') else {
            return Err(expected());
        };
        if token.contains('/') {
            return Err(format!(
                "expected a pointer to a top-level field (one /name), found {}; nested fields \
                 are not read",
                super::value::quoted(text)
            ));
        }
        let key = decode_pointer_token(token).ok_or_else(expected)?;
        if key.is_empty() || key.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
            return Err(format!(
                "expected a field name without quotes, backslashes or control characters, \
                 found {}",
                super::value::quoted(text)
            ));
        }
        Ok(Place::JsonField(key))
    }

    /// Whether this place is read from text frames (JSON) rather than binary ones.
    pub fn in_text(&self) -> bool {
        matches!(self, Place::JsonField(_))
    }

    /// The number at this place of a data frame's payload (`text`: a text frame), or `None`
    /// when the frame is of the other kind or does not hold one there.
    pub fn read(&self, text: bool, payload: &[u8]) -> Option<u64> {
        match self {
            Place::JsonField(key) if text => top_level_u64(payload, key.as_bytes()),
            Place::Bytes(offset) if !text => {
                let bytes = payload.get(*offset..offset.checked_add(8)?)?;
                Some(u64::from_be_bytes(bytes.try_into().ok()?))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::JsonField(key) => write!(f, "/{}", key.replace('~', "~0").replace('/', "~1")),
            Place::Bytes(offset) => write!(f, "bytes {offset}..{}", offset + 8),
        }
    }
}

/// A JSON pointer token decoded (RFC 6901: `~1` is `/`, `~0` is `~`, any other `~` is bad).
fn decode_pointer_token(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return None,
        }
    }
    Some(out)
}

/// The unsigned integer value of the top-level field `key` of the JSON object in `json`, found
/// by scanning (strings skipped with their escapes, nesting counted), without building a value.
/// `None` when the text is no object, has no such field at the top level, or its value is not
/// an unsigned integer that fits a u64.
pub(crate) fn top_level_u64(json: &[u8], key: &[u8]) -> Option<u64> {
    let mut i = skip_whitespace(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    // Depth 1 is the object itself; a key is a string at depth 1 after `{` or `,`.
    let mut depth = 1usize;
    let mut expect_key = true;
    while i < json.len() {
        match json[i] {
            b'"' => {
                let end = string_end(json, i)?;
                if depth == 1 && expect_key {
                    let is_key = &json[i + 1..end] == key;
                    let colon = skip_whitespace(json, end + 1);
                    if json.get(colon) != Some(&b':') {
                        return None;
                    }
                    if is_key {
                        return unsigned(json, skip_whitespace(json, colon + 1));
                    }
                    expect_key = false;
                    i = colon + 1;
                    continue;
                }
                i = end + 1;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return None;
                }
            }
            b',' if depth == 1 => expect_key = true,
            _ => {}
        }
        i += 1;
    }
    None
}

pub(crate) fn skip_whitespace(json: &[u8], mut i: usize) -> usize {
    while json
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The index of the quote closing the string that opens at `start`.
pub(crate) fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The unsigned integer starting at `i`, which must end the value (no fraction or exponent).
fn unsigned(json: &[u8], i: usize) -> Option<u64> {
    let digits = json[i.min(json.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    if matches!(json.get(i + digits), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let mut value: u64 = 0;
    for b in &json[i..i + digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str) -> Place {
        Place::JsonField(key.into())
    }

    #[test]
    fn a_top_level_integer_field_is_read_wherever_it_stands_and_nested_ones_are_skipped() {
        let seq = field("seq");
        let read = |json: &str| seq.read(true, json.as_bytes());
        assert_eq!(read(r#"{"seq":42}"#), Some(42));
        assert_eq!(
            read(r#" { "a" : "x\"seq\":1" , "seq" : 7 , "b":2}"#),
            Some(7)
        );
        assert_eq!(
            read(r#"{"inner":{"seq":1},"list":[{"seq":2}],"seq":3}"#),
            Some(3)
        );
        assert_eq!(read(r#"{"inner":{"seq":1}}"#), None);
        assert_eq!(read(r#"{"seq":18446744073709551615}"#), Some(u64::MAX));
        for bad in [
            r#"{"seq":18446744073709551616}"#,
            r#"{"seq":-1}"#,
            r#"{"seq":1.5}"#,
            r#"{"seq":1e3}"#,
            r#"{"seq":"1"}"#,
            r#"{"seq":}"#,
            r#"{"seq""#,
            r#"["seq",1]"#,
            r#"{"sequence":1}"#,
            "",
            "{",
            "not json",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
        assert_eq!(
            seq.read(false, br#"{"seq":1}"#),
            None,
            "JSON is read in text frames"
        );
    }

    #[test]
    fn eight_bytes_of_a_binary_frame_are_a_big_endian_u64() {
        let mut frame = 5u64.to_be_bytes().to_vec();
        frame.extend_from_slice(&9u64.to_be_bytes());
        assert_eq!(Place::Bytes(0).read(false, &frame), Some(5));
        assert_eq!(Place::Bytes(8).read(false, &frame), Some(9));
        assert_eq!(Place::Bytes(9).read(false, &frame), None, "short frame");
        assert_eq!(Place::Bytes(usize::MAX).read(false, &frame), None);
        assert_eq!(
            Place::Bytes(0).read(true, &frame),
            None,
            "bytes are read in binary frames"
        );
    }

    #[test]
    fn places_parse_from_pointers_and_byte_ranges_and_print_back() {
        assert_eq!(Place::parse("/seq"), Ok(field("seq")));
        assert_eq!(Place::parse("/a~1b~0c"), Ok(field("a/b~c")));
        assert_eq!(Place::parse("bytes 8..16"), Ok(Place::Bytes(8)));
        assert_eq!(Place::parse(" bytes 0 .. 8 "), Ok(Place::Bytes(0)));
        for text in ["/seq", "/a~1b~0c", "bytes 8..16"] {
            assert_eq!(
                Place::parse(text).map(|p| p.to_string()),
                Ok(text.to_string())
            );
        }
        for bad in [
            "seq",
            "",
            "/",
            "/a~2",
            "bytes",
            "bytes 0-8",
            "bytes x..8",
            "/a\"b",
        ] {
            assert!(Place::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Place::parse("bytes 0..4")
                .expect_err("4 bytes")
                .contains("exactly 8 bytes")
        );
        assert!(
            Place::parse("/a/b")
                .expect_err("nested")
                .contains("top-level")
        );
    }
}
