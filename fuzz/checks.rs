//! The properties the fuzz targets check, one function per target. Each takes the raw fuzz
//! input and panics when a property fails. The fuzz targets (`fuzz_targets/*.rs`) and the
//! default test suite's corpus replay (`tests/it/fuzz_corpus.rs`) both include this file, so a
//! corpus file is checked the same way with and without libFuzzer.

use std::time::{Duration, Instant};

use actix_http::ws::hash_key;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use wschaos::chaos::frame::{self, FrameHeader, FrameSplitter, FrameTooLarge};
use wschaos::chaos::toxics::{Fate, FrameInfo, TokenBucket};
use wschaos::chaos::{Direction, ProxyFault};
use wschaos::client::connection::parse_upgrade_response;
use wschaos::report::threshold::Threshold;
use wschaos::scenario::{self, MAX_FILE_BYTES, ScenarioError};

/// The file name scenario errors must start with.
const SCENARIO_FILE: &str = "fuzz.yaml";
/// The longest duration a fault may carry: the proxy adds it to `Instant::now()`.
const MAX_FAULT_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Scenario bytes through `scenario::from_bytes` (size cap, UTF-8, YAML, validation): never a
/// panic; an error is `fuzz.yaml:LINE:COL: message` with the line inside the text.
pub fn scenario(data: &[u8]) {
    let err = match scenario::from_bytes(data, SCENARIO_FILE) {
        Ok(_) => return,
        Err(ScenarioError::TooLarge { .. }) => {
            assert!(
                data.len() as u64 > MAX_FILE_BYTES,
                "TooLarge for {} bytes",
                data.len()
            );
            return;
        }
        Err(err) => err,
    };
    let message = err.to_string();
    let position = message
        .strip_prefix(SCENARIO_FILE)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| {
            let (line, rest) = rest.split_once(':')?;
            let (column, rest) = rest.split_once(':')?;
            Some((
                line.parse::<usize>().ok()?,
                column.parse::<usize>().ok()?,
                rest,
            ))
        });
    let Some((line, column, rest)) = position else {
        panic!("error without FILE:LINE:COL: {message:?}");
    };
    assert!(line >= 1 && column >= 1, "{message:?}");
    assert!(
        rest.starts_with(' ') && rest.len() > 1,
        "no message: {message:?}"
    );
    // YAML breaks lines at \n, \r\n and a lone \r; an error may point just past the last line.
    let breaks = data
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count();
    assert!(
        line <= breaks + 2,
        "line {line} of {breaks} line breaks: {message:?}"
    );
}

/// A `--fault` spec: never a panic; an accepted fault's durations are at most 365 days and
/// every delay, hold and idle limit its toxic produces can be added to an `Instant`.
pub fn fault_spec(data: &[u8]) {
    let Ok(spec) = std::str::from_utf8(data) else {
        return;
    };
    let fault = match spec.parse::<ProxyFault>() {
        Ok(fault) => fault,
        Err(message) => {
            assert!(!message.is_empty(), "empty error for {spec:?}");
            return;
        }
    };
    let durations: &[Duration] = match &fault {
        ProxyFault::DelayAcks(f) => &[f.delay, f.jitter],
        ProxyFault::Latency(f) => &[f.latency, f.jitter],
        ProxyFault::IdleTimeout(f) => &[f.idle],
        ProxyFault::FrameLoss(f) => {
            assert!((0.0..=1.0).contains(&f.probability), "{spec:?}: {fault:?}");
            &[]
        }
        ProxyFault::Bandwidth(f) => {
            assert!(f.bytes_per_s >= 1, "{spec:?}: {fault:?}");
            &[]
        }
        ProxyFault::DropAcks(_) | ProxyFault::Partition(_) => &[],
    };
    let now = Instant::now();
    for duration in durations {
        assert!(*duration <= MAX_FAULT_DURATION, "{spec:?}: {fault:?}");
        assert!(now.checked_add(*duration).is_some(), "{spec:?}: {fault:?}");
    }

    let toxic = fault.toxic();
    let mut rng = SmallRng::seed_from_u64(data.len() as u64);
    for way in [Direction::Upstream, Direction::Downstream] {
        for opcode in [0x0, 0x1, 0x2, 0x8, 0x9, 0xA] {
            for is_ack in [false, true] {
                let info = FrameInfo {
                    header: FrameHeader {
                        fin: true,
                        opcode,
                        mask: None,
                        header_len: 2,
                        payload_len: 0,
                    },
                    is_ack,
                };
                let mut fate = Fate::default();
                toxic.frame(way, &info, &mut fate, &mut rng);
                let due = now
                    .checked_add(fate.delay)
                    .and_then(|at| at.checked_add(fate.hold.unwrap_or_default()));
                assert!(due.is_some(), "{spec:?}: {fate:?}");
            }
        }
        if let Some(rate) = toxic.bytes_per_s(way) {
            let now = tokio::time::Instant::now();
            let mut bucket = TokenBucket::new(rate, now);
            let want = 1 << 20;
            let allowed = bucket.allow(now, want);
            assert!(
                matches!(allowed, Ok(n) if (1..=want).contains(&n)),
                "{spec:?}"
            );
            bucket.spend(allowed.unwrap_or(0));
            // Whatever the bucket says, it answers without a panic (a wait or a size).
            let _ = bucket.allow(now, want);
        }
    }
    if let Some(idle) = toxic.idle_limit() {
        assert!(now.checked_add(idle).is_some(), "{spec:?}");
    }
}

/// A `--threshold` expression: never a panic; an error's offset is inside the expression (or
/// at its end) and on a char boundary; an accepted one has a finite limit and parses again from
/// its own `expr` to the same threshold.
pub fn threshold(data: &[u8]) {
    let Ok(expr) = std::str::from_utf8(data) else {
        return;
    };
    match Threshold::parse(expr) {
        Ok(threshold) => {
            assert!(threshold.limit.is_finite(), "{expr:?}: {threshold:?}");
            assert_eq!(
                Threshold::parse(&threshold.expr),
                Ok(threshold.clone()),
                "{expr:?}"
            );
        }
        Err(err) => {
            assert!(err.offset <= expr.len(), "{expr:?}: offset {}", err.offset);
            assert!(
                expr.is_char_boundary(err.offset),
                "{expr:?}: offset {}",
                err.offset
            );
            assert!(!err.message.is_empty(), "{expr:?}");
        }
    }
}

/// The proxy's frame splitter. The input is read twice: as a recipe for well-formed frames
/// (any opcode and flags, masked or not, lengths in 7, 16 or 64 bits, non-minimal encodings
/// too) cut into reads of fuzzer-chosen sizes, and as raw bytes on the wire. For every cut the
/// bytes forwarded are the bytes read, and frames start and end where an independent decoder
/// says; an oversized length is refused at the same frame whatever the cut.
pub fn frames(data: &[u8]) {
    let mut input = Input(data);
    let control = input.byte();
    let whole = WHOLE[usize::from(control >> 6)];

    let (stream, built, reads) = build_frames(&mut input);
    let max_payload = [
        built.iter().map(|h| h.payload_len).max().unwrap_or(0),
        1 << 20,
        u64::MAX,
    ][usize::from(control & 3) % 3];
    let expected = decode(&stream, max_payload, whole);
    let headers: Vec<FrameHeader> = expected.frames.iter().map(|(_, h)| *h).collect();
    assert_eq!(headers, built, "the decoder reads back the frames built");
    assert_eq!(expected.end, End::Complete);
    for cut in cuts(stream.len(), &reads) {
        assert_eq!(
            pump(&stream, &cut, max_payload, whole),
            expected,
            "reads {cut:?}"
        );
    }

    let raw_limit =
        [0, 125, 65_535, 1 << 20, u64::MAX - 14, u64::MAX][usize::from(control & 7) % 6];
    let expected = decode(data, raw_limit, whole);
    for cut in cuts(data.len(), &reads) {
        assert_eq!(
            pump(data, &cut, raw_limit, whole),
            expected,
            "raw, reads {cut:?}"
        );
    }
}

/// The client's upgrade-response check. The input is the `Sec-WebSocket-Key` (its first 24
/// bytes) and the response; `$ACCEPT` in the response stands for the right accept value, so the
/// fuzzer can reach the accepting path. Never a panic; a response accepted has a 101 status,
/// `Upgrade: websocket`, `Connection: upgrade` and the accept value for this key, is accepted
/// the same with more bytes after it, and not for another key. permessage-deflate counts as
/// offered, so the fuzzer reaches the reading of `Sec-WebSocket-Extensions` too.
pub fn upgrade_response(data: &[u8]) {
    let split = data.len().min(24);
    let (key, response) = data.split_at(split);
    let accept = hash_key(key);
    let response = replace_all(response, b"$ACCEPT", &accept);
    let head_len = match parse_upgrade_response(&response, key, true) {
        Ok(Some(upgraded)) => upgraded.head_len,
        Ok(None) => {
            assert!(
                response.len() <= 16 * 1024,
                "{} bytes and still waiting",
                response.len()
            );
            return;
        }
        Err(_) => return,
    };
    assert!(head_len <= response.len());
    let head = &response[..head_len];
    let shown = String::from_utf8_lossy(head);
    assert!(
        head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n"),
        "{shown:?}"
    );
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    // Like httparse, skip empty lines before the status line.
    let status = lines.find(|line| !line.is_empty()).unwrap_or_default();
    let mut words = status.split(|&b| b == b' ').filter(|w| !w.is_empty());
    assert!(
        words.next().is_some_and(|v| v.starts_with(b"HTTP/1.")),
        "{shown:?}"
    );
    assert_eq!(words.next(), Some(&b"101"[..]), "{shown:?}");
    let headers: Vec<(&[u8], &[u8])> = lines
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some((&line[..colon], line[colon + 1..].trim_ascii()))
        })
        .collect();
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| *v)
    };
    assert!(
        named("upgrade").any(|v| v.eq_ignore_ascii_case(b"websocket")),
        "{shown:?}"
    );
    assert!(
        named("connection").any(|v| v
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))),
        "{shown:?}"
    );
    assert!(
        named("sec-websocket-accept").any(|v| v == &accept[..]),
        "{shown:?}"
    );

    let mut longer = response.clone();
    longer.extend_from_slice(b"\x81\x05hello");
    assert_eq!(
        parse_upgrade_response(&longer, key, true)
            .ok()
            .map(|u| u.map(|u| u.head_len)),
        Some(Some(head_len)),
        "{shown:?}"
    );
    let mut other_key = key.to_vec();
    other_key.push(b'x');
    assert!(
        parse_upgrade_response(&response, &other_key, true).is_err(),
        "{shown:?}"
    );
    assert!(
        !matches!(
            parse_upgrade_response(&response[..head_len - 1], key, true),
            Ok(Some(_))
        ),
        "{shown:?}"
    );
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            out.extend_from_slice(with);
            rest = &rest[needle.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// Which frames the caller wants whole (as the proxy does for acks), chosen by the input.
type Whole = fn(&FrameHeader) -> bool;
const WHOLE: [Whole; 4] = [
    |_| false,
    |h| h.opcode == frame::PONG,
    |h| h.opcode == frame::TEXT && h.fin && h.payload_len <= 125,
    |_| true,
];

/// The fuzz input read front to back; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        first
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

/// Encodes frames as the input describes them: per frame a first byte (FIN, RSV, opcode, taken
/// as is), a byte of mask bit and length form, a length byte, the masking key and the payload.
/// What is left of the input gives the read sizes.
fn build_frames(input: &mut Input<'_>) -> (Vec<u8>, Vec<FrameHeader>, Vec<u8>) {
    const BIG: [usize; 8] = [125, 126, 127, 65_535, 65_536, 65_537, 70_000, 0];
    let count = usize::from(input.byte() % 16);
    let mut stream = Vec::new();
    let mut headers = Vec::new();
    let mut big_frames = 0;
    for _ in 0..count {
        let first = input.byte();
        let form = input.byte();
        let length = input.byte();
        let masked = form & 0x80 != 0;
        // 0: shortest encoding, 1: always 16 bits, 2: always 64 bits, 3: a size at an edge.
        let (payload_len, width) = match (form >> 5) & 3 {
            0 => (usize::from(length), 0),
            1 => (usize::from(length), 2),
            2 => (usize::from(length), 8),
            _ if big_frames < 2 => {
                big_frames += 1;
                (BIG[usize::from(length & 7)], 0)
            }
            _ => (usize::from(length & 0x7F), 0),
        };
        let width = match width {
            0 if payload_len < 126 => 0,
            0 if payload_len <= 0xFFFF => 2,
            0 => 8,
            w => w,
        };
        let start = stream.len();
        stream.push(first);
        let mask_bit = if masked { 0x80 } else { 0 };
        match width {
            0 => stream.push(mask_bit | payload_len as u8),
            2 => {
                stream.push(mask_bit | 126);
                stream.extend_from_slice(&(payload_len as u16).to_be_bytes());
            }
            _ => {
                stream.push(mask_bit | 127);
                stream.extend_from_slice(&(payload_len as u64).to_be_bytes());
            }
        }
        let mask = masked.then(|| {
            let mut key = [0; 4];
            key.iter_mut().for_each(|k| *k = input.byte());
            stream.extend_from_slice(&key);
            key
        });
        let header_len = stream.len() - start;
        let given = input.bytes(payload_len);
        stream.extend_from_slice(given);
        stream.extend((given.len()..payload_len).map(|i| i as u8));
        headers.push(FrameHeader {
            fin: first & 0x80 != 0,
            opcode: first & 0x0F,
            mask,
            header_len,
            payload_len: payload_len as u64,
        });
    }
    (stream, headers, input.0.to_vec())
}

/// The read sizes to try: all at once, one byte at a time (for short streams), and the sizes
/// the input gives (1 to 256 bytes each, repeated until the stream is read).
fn cuts(len: usize, reads: &[u8]) -> Vec<Vec<usize>> {
    let mut cuts = vec![vec![len]];
    if len <= 4096 {
        cuts.push(vec![1; len]);
    }
    if !reads.is_empty() {
        let mut cut = Vec::new();
        let mut total = 0;
        for size in reads.iter().cycle().map(|&b| usize::from(b) + 1) {
            if total >= len {
                break;
            }
            cut.push(size.min(len - total));
            total += size;
        }
        cuts.push(cut);
    }
    cuts
}

/// What a pass over a stream saw: every frame's offset and header, the bytes forwarded, and
/// how it ended.
#[derive(Debug, PartialEq)]
struct Seen {
    frames: Vec<(usize, FrameHeader)>,
    forwarded: usize,
    end: End,
}

#[derive(Debug, PartialEq)]
enum End {
    /// Every byte forwarded, at a frame boundary.
    Complete,
    /// The stream stops inside a frame (`forwarded` says where).
    Partial { at_boundary: bool },
    /// A frame declared more than the limit.
    TooLarge(FrameTooLarge),
}

/// An independent reading of `stream` (RFC 6455 §5.2), as the splitter should see it.
fn decode(stream: &[u8], max_payload: u64, whole: Whole) -> Seen {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = &stream[at..];
        if rest.is_empty() {
            return Seen {
                frames,
                forwarded: at,
                end: End::Complete,
            };
        }
        let partial = |frames, forwarded| Seen {
            frames,
            forwarded,
            end: End::Partial {
                at_boundary: forwarded == at,
            },
        };
        if rest.len() < 2 {
            return partial(frames, at);
        }
        let (declared, width) = match rest[1] & 0x7F {
            126 if rest.len() >= 4 => (u64::from(u16::from_be_bytes([rest[2], rest[3]])), 2),
            127 if rest.len() >= 10 => {
                let mut bytes = [0; 8];
                bytes.copy_from_slice(&rest[2..10]);
                (u64::from_be_bytes(bytes), 8)
            }
            126 | 127 => return partial(frames, at),
            short => (u64::from(short), 0),
        };
        // RFC 6455 §5.2: a 64-bit length has its top bit clear.
        let limit = max_payload.min(i64::MAX as u64);
        if declared > limit {
            let end = End::TooLarge(FrameTooLarge { declared, limit });
            return Seen {
                frames,
                forwarded: at,
                end,
            };
        }
        let masked = rest[1] & 0x80 != 0;
        let header_len = 2 + width + if masked { 4 } else { 0 };
        if rest.len() < header_len {
            return partial(frames, at);
        }
        let header = FrameHeader {
            fin: rest[0] & 0x80 != 0,
            opcode: rest[0] & 0x0F,
            mask: masked.then(|| {
                let mut key = [0; 4];
                key.copy_from_slice(&rest[2 + width..header_len]);
                key
            }),
            header_len,
            payload_len: declared,
        };
        // u128: a length near u64::MAX plus the header must not wrap here.
        let frame_len = header_len as u128 + u128::from(declared);
        if (rest.len() as u128) < frame_len {
            if whole(&header) {
                return partial(frames, at);
            }
            frames.push((at, header));
            return Seen {
                frames,
                forwarded: stream.len(),
                end: End::Partial { at_boundary: false },
            };
        }
        frames.push((at, header));
        at += frame_len as usize;
    }
}

/// Feeds `stream` to a splitter in reads of `cut` sizes, forwarding segments as the proxy's
/// pump does, and checks each segment against the bytes and the frame it belongs to.
fn pump(stream: &[u8], cut: &[usize], max_payload: u64, whole: Whole) -> Seen {
    let mut splitter = FrameSplitter::new(max_payload);
    let mut buf: Vec<u8> = Vec::new();
    let mut read = 0;
    let mut forwarded = 0;
    let mut frames: Vec<(usize, FrameHeader)> = Vec::new();
    let mut in_frame = false;
    for &size in cut {
        buf.extend_from_slice(&stream[read..read + size]);
        read += size;
        loop {
            let segment = match splitter.next(&buf, whole) {
                Ok(Some(segment)) => segment,
                Ok(None) => break,
                Err(too_large) => {
                    assert!(!in_frame, "too large in the middle of a frame");
                    return Seen {
                        frames,
                        forwarded,
                        end: End::TooLarge(too_large),
                    };
                }
            };
            assert!(segment.len >= 1 && segment.len <= buf.len(), "{segment:?}");
            assert_eq!(segment.first, !in_frame, "{segment:?}");
            if segment.first {
                frames.push((forwarded, segment.header));
            } else {
                assert_eq!(Some(segment.header), frames.last().map(|f| f.1));
            }
            if segment.first && whole(&segment.header) {
                assert!(
                    segment.last,
                    "a frame wanted whole comes whole: {segment:?}"
                );
            }
            assert_eq!(
                &buf[..segment.len],
                &stream[forwarded..forwarded + segment.len]
            );
            forwarded += segment.len;
            buf.drain(..segment.len);
            in_frame = !segment.last;
            assert_eq!(splitter.at_boundary(), segment.last);
        }
    }
    assert_eq!(forwarded + buf.len(), stream.len());
    let end = if buf.is_empty() && !in_frame {
        End::Complete
    } else {
        End::Partial {
            at_boundary: splitter.at_boundary(),
        }
    };
    Seen {
        frames,
        forwarded,
        end,
    }
}
