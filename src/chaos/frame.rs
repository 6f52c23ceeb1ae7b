//! WebSocket frame boundaries in a byte stream (RFC 6455 §5.2), for a proxy that forwards bytes
//! unchanged: `FrameSplitter` tells which leading bytes of a buffer belong to the current frame,
//! without copying or buffering payloads, so frames of any size stream through while a fault
//! can still act on one opcode.

use super::{AckMatcher, GRAPHQL_WS_PONG_MAX};

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// Largest payload length a frame may declare (RFC 6455 §5.2: the top bit of a 64-bit length
/// is 0). Whatever the configured limit, header plus payload then fits in a `u64`.
pub const MAX_DECLARED_PAYLOAD: u64 = i64::MAX as u64;

/// The fixed part of a frame: everything before the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub opcode: u8,
    /// Client-to-server frames carry a masking key.
    pub mask: Option<[u8; 4]>,
    /// 2 to 14 bytes.
    pub header_len: usize,
    pub payload_len: u64,
}

/// A frame the proxy refuses to forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame declares a {declared}-byte payload, over the {limit}-byte limit")]
pub struct FrameTooLarge {
    pub declared: u64,
    pub limit: u64,
}

impl FrameHeader {
    /// Reads a header from the start of `buf`: `Ok(None)` when more bytes are needed. A payload
    /// length over `max_payload` (or over `MAX_DECLARED_PAYLOAD`) is an error (nothing of that
    /// size is ever allocated).
    pub fn parse(buf: &[u8], max_payload: u64) -> Result<Option<Self>, FrameTooLarge> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        let masked = second & 0x80 != 0;
        let (payload_len, len_bytes) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 2),
                None => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (u64::from_be_bytes(b), 8),
                None => return Ok(None),
            },
            short => (u64::from(short), 0),
        };
        let limit = max_payload.min(MAX_DECLARED_PAYLOAD);
        if payload_len > limit {
            return Err(FrameTooLarge {
                declared: payload_len,
                limit,
            });
        }
        let mut header_len = 2 + len_bytes;
        let mask = if masked {
            let Some(key) = buf
                .get(header_len..header_len + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
            else {
                return Ok(None);
            };
            header_len += 4;
            Some(key)
        } else {
            None
        };
        Ok(Some(Self {
            fin: first & 0x80 != 0,
            opcode: first & 0x0F,
            mask,
            header_len,
            payload_len,
        }))
    }

    /// Header plus payload, in bytes.
    pub fn frame_len(&self) -> u64 {
        self.header_len as u64 + self.payload_len
    }

    /// Text, binary and continuation frames.
    pub fn is_data(&self) -> bool {
        matches!(self.opcode, CONTINUATION | TEXT | BINARY)
    }
}

/// Where the next bytes of a buffer belong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub header: FrameHeader,
    /// Bytes at the front of the buffer that belong to this frame.
    pub len: usize,
    /// The segment starts with the frame's header.
    pub first: bool,
    /// The segment ends the frame.
    pub last: bool,
}

/// Walks a byte stream frame by frame. The caller owns the buffer: after each `next` it removes
/// (forwards or drops) `segment.len` bytes from the front before calling `next` again.
#[derive(Debug)]
pub struct FrameSplitter {
    max_payload: u64,
    /// The frame being streamed and how many of its bytes are still to come.
    current: Option<(FrameHeader, u64)>,
}

impl FrameSplitter {
    pub fn new(max_payload: u64) -> Self {
        Self {
            max_payload,
            current: None,
        }
    }

    /// The next segment at the front of `buf`, or `None` when `buf` holds no complete header.
    /// A frame for which `whole` returns true (a small frame whose payload the caller wants to
    /// inspect) is returned only once all of it is in `buf`, as one segment.
    pub fn next(
        &mut self,
        buf: &[u8],
        whole: impl Fn(&FrameHeader) -> bool,
    ) -> Result<Option<Segment>, FrameTooLarge> {
        if buf.is_empty() {
            return Ok(None);
        }
        let (header, remaining, first) = match self.current {
            Some((header, remaining)) => (header, remaining, false),
            None => {
                let Some(header) = FrameHeader::parse(buf, self.max_payload)? else {
                    return Ok(None);
                };
                let frame_len = header.frame_len();
                if whole(&header) && (buf.len() as u64) < frame_len {
                    return Ok(None);
                }
                (header, frame_len, true)
            }
        };
        // `remaining` is at most `MAX_DECLARED_PAYLOAD` + 14, and the min fits in usize
        // whenever it is smaller than `buf.len()`.
        let len = remaining.min(buf.len() as u64) as usize;
        let left = remaining - len as u64;
        self.current = (left > 0).then_some((header, left));
        Ok(Some(Segment {
            header,
            len,
            first,
            last: left == 0,
        }))
    }

    /// True between frames (no frame partly seen).
    pub fn at_boundary(&self) -> bool {
        self.current.is_none()
    }
}

impl AckMatcher {
    /// Whether a frame with this header could be an ack (its payload decides for text acks).
    pub fn candidate(&self, header: &FrameHeader) -> bool {
        match self {
            AckMatcher::Pong => header.opcode == PONG,
            AckMatcher::Text(ack) => {
                header.opcode == TEXT && header.fin && header.payload_len == ack.len() as u64
            }
            AckMatcher::GraphqlWsPong => {
                header.opcode == TEXT && header.fin && header.payload_len <= GRAPHQL_WS_PONG_MAX
            }
            AckMatcher::Nothing => false,
        }
    }

    /// Whether a whole frame (header included, as on the wire) is an ack.
    pub fn matches(&self, header: &FrameHeader, frame: &[u8]) -> bool {
        if !self.candidate(header) {
            return false;
        }
        let Some(payload) = frame.get(header.header_len..) else {
            return false;
        };
        let ack = match self {
            AckMatcher::Text(ack) => ack,
            // A server's frames are not masked; a masked one comes from a client.
            AckMatcher::GraphqlWsPong => {
                return header.mask.is_none() && crate::client::graphql_ws::is_pong(payload);
            }
            AckMatcher::Pong | AckMatcher::Nothing => return true,
        };
        let mask = header.mask.unwrap_or([0; 4]);
        payload.len() == ack.len()
            && payload
                .iter()
                .zip(ack.iter())
                .enumerate()
                .all(|(i, (byte, want))| byte ^ mask[i % 4] == *want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Buf, Bytes, BytesMut};

    /// Encodes one frame (masked with a fixed key when `masked`).
    fn frame(opcode: u8, fin: bool, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n <= 0xFFFF => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x12, 0x34, 0x56, 0x78];
        if masked {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// (opcode, payload length) of each frame in `stream`, and the stream itself.
    fn stream(big: bool) -> (Vec<u8>, Vec<(u8, u64)>) {
        let mut sizes = vec![0, 1, 125, 126];
        if big {
            sizes.extend([65535, 65536, 70000]);
        }
        let mut bytes = Vec::new();
        let mut frames = Vec::new();
        for (i, size) in sizes.into_iter().enumerate() {
            let payload: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
            for (opcode, masked) in [(TEXT, true), (BINARY, false)] {
                bytes.extend(frame(opcode, true, &payload, masked));
                frames.push((opcode, size as u64));
            }
        }
        for (opcode, payload) in [(PING, &b"12345678"[..]), (PONG, b"12345678"), (CLOSE, b"")] {
            for masked in [true, false] {
                bytes.extend(frame(opcode, true, payload, masked));
                frames.push((opcode, payload.len() as u64));
            }
        }
        bytes.extend(frame(TEXT, false, b"frag", true));
        bytes.extend(frame(CONTINUATION, true, b"ment", true));
        frames.extend([(TEXT, 4), (CONTINUATION, 4)]);
        (bytes, frames)
    }

    /// Feeds `reads` through a splitter as the proxy does: returns the forwarded bytes and the
    /// frames seen. Pongs are inspected whole, like acks.
    fn pump(reads: impl Iterator<Item = Bytes>) -> (Vec<u8>, Vec<(u8, u64)>) {
        let mut splitter = FrameSplitter::new(1 << 20);
        let mut buf = BytesMut::new();
        let (mut out, mut frames) = (Vec::new(), Vec::new());
        for read in reads {
            buf.extend_from_slice(&read);
            while let Some(seg) = splitter
                .next(&buf, |h| AckMatcher::Pong.candidate(h))
                .expect("no oversized frame")
            {
                if seg.first {
                    frames.push((seg.header.opcode, seg.header.payload_len));
                }
                if seg.header.opcode == PONG {
                    assert!(seg.first && seg.last, "a pong comes whole");
                    assert!(AckMatcher::Pong.matches(&seg.header, &buf[..seg.len]));
                }
                out.extend_from_slice(&buf[..seg.len]);
                buf.advance(seg.len);
            }
        }
        assert!(buf.is_empty() && splitter.at_boundary());
        (out, frames)
    }

    #[test]
    fn one_byte_reads_and_one_big_read_forward_every_byte_and_see_every_frame() {
        let (bytes, expected) = stream(true);
        let one_read = pump(std::iter::once(Bytes::from(bytes.clone())));
        assert_eq!(one_read.0, bytes);
        assert_eq!(one_read.1, expected);
        let byte_reads = pump(bytes.iter().map(|b| Bytes::copy_from_slice(&[*b])));
        assert_eq!(byte_reads.0, bytes);
        assert_eq!(byte_reads.1, expected);
    }

    #[test]
    fn a_split_at_any_byte_forwards_every_byte_and_sees_every_frame() {
        let (bytes, expected) = stream(false);
        let bytes = Bytes::from(bytes);
        for at in 0..=bytes.len() {
            let reads = [bytes.slice(..at), bytes.slice(at..)];
            let (out, frames) = pump(reads.into_iter());
            assert_eq!(out, bytes, "split at {at}");
            assert_eq!(frames, expected, "split at {at}");
        }
    }

    #[test]
    fn extended_lengths_decode() {
        for (len, header_len) in [(125, 2), (126, 4), (65535, 4), (65536, 10), (70000, 10)] {
            let bytes = frame(BINARY, true, &vec![0; len], false);
            let header = FrameHeader::parse(&bytes, u64::MAX)
                .expect("within limit")
                .expect("complete");
            assert_eq!(header.payload_len, len as u64);
            assert_eq!(header.header_len, header_len);
            assert_eq!(header.frame_len(), bytes.len() as u64);
        }
    }

    #[test]
    fn an_oversized_declared_length_is_an_error_not_an_allocation() {
        // 2^63 declared, no payload following.
        let mut bytes = vec![0x82, 0xFF];
        bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        let mut splitter = FrameSplitter::new(16 << 20);
        assert_eq!(
            splitter.next(&bytes, |_| true),
            Err(FrameTooLarge {
                declared: 1 << 63,
                limit: 16 << 20
            })
        );
        let just_over = frame(BINARY, true, &[0; 11], false);
        assert!(FrameHeader::parse(&just_over, 10).is_err());
        assert!(FrameHeader::parse(&just_over, 11).is_ok());
    }

    #[test]
    fn a_length_with_the_top_bit_set_is_refused_whatever_the_limit() {
        // Found by the `frames` fuzz target: with `--max-frame` near u64::MAX, header plus
        // declared length overflowed (a panic in debug builds, a wrong boundary in release).
        let mut bytes = vec![0xD5, 0xFF];
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        bytes.extend_from_slice(&[1, 0, 0x61, 1]);
        let mut splitter = FrameSplitter::new(u64::MAX);
        assert_eq!(
            splitter.next(&bytes, |_| false),
            Err(FrameTooLarge {
                declared: u64::MAX,
                limit: MAX_DECLARED_PAYLOAD
            })
        );
        let mut largest = vec![0x82, 0x7F];
        largest.extend_from_slice(&MAX_DECLARED_PAYLOAD.to_be_bytes());
        let header = FrameHeader::parse(&largest, u64::MAX)
            .expect("within the limit")
            .expect("complete");
        assert_eq!(header.frame_len(), MAX_DECLARED_PAYLOAD + 10);
        let mut top_bit = vec![0x82, 0x7F];
        top_bit.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert!(
            FrameHeader::parse(&top_bit, u64::MAX).is_err(),
            "2^63 is refused"
        );
    }

    #[test]
    fn text_acks_match_by_unmasked_payload() {
        let ack = AckMatcher::Text(Bytes::from_static(b"hb-ack"));
        for masked in [false, true] {
            let yes = frame(TEXT, true, b"hb-ack", masked);
            let no = frame(TEXT, true, b"hb-ACK", masked);
            let h = |b: &[u8]| FrameHeader::parse(b, 1024).ok().flatten().expect("header");
            assert!(ack.matches(&h(&yes), &yes));
            assert!(!ack.matches(&h(&no), &no));
        }
        let pong = frame(PONG, true, b"", false);
        let header = FrameHeader::parse(&pong, 1024)
            .ok()
            .flatten()
            .expect("header");
        assert!(!ack.candidate(&header));
        assert!(AckMatcher::Pong.matches(&header, &pong));
        assert!(!AckMatcher::Nothing.candidate(&header));
    }
}
