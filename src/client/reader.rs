//! Reading the server's frames: actix-http's codec, with the checks it makes too late, wrongly or
//! not at all made here. The codec compares a frame's length with its limit only once the whole
//! payload is buffered, so a server declaring a 2^62-byte frame would have the client buffer
//! whatever it streams; here the declared length is checked as soon as the header is in. The
//! codec reports reserved bits as an I/O error (they are the server's protocol error), and does
//! not check that text frames are UTF-8. When permessage-deflate was negotiated, a data frame
//! with RSV1 set is inflated here (RSV1 cleared before the codec, which refuses reserved bits),
//! its inflated size held to the same limit.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, Chain, ReadHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::{Decoder, FramedRead};

use super::deflate::{InflateError, Inflater, RSV1};

/// The frames of one socket read side. The socket is read after what came in with the upgrade
/// response, so frames sent right behind the 101 are decoded at once (`FramedRead` would wait
/// for the socket's next bytes before decoding a buffer it was handed).
pub type Frames<R> = FramedRead<Chain<std::io::Cursor<Bytes>, R>, FrameCodec>;

/// The read side of a connection: a stream of the server's frames, from plain TCP or TLS.
pub enum FrameReader {
    Plain(Frames<OwnedReadHalf>),
    Tls(Frames<ReadHalf<TlsStream<TcpStream>>>),
}

impl Stream for FrameReader {
    type Item = Result<Frame, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            FrameReader::Plain(frames) => Pin::new(frames).poll_next(cx),
            FrameReader::Tls(frames) => Pin::new(frames).poll_next(cx),
        }
    }
}

/// Reads `leftover` (bytes after the upgrade response), then `socket`, with at first
/// `capacity` bytes of buffer; `inflater` when permessage-deflate was negotiated.
pub fn frame_reader<R: AsyncRead>(
    leftover: Bytes,
    socket: R,
    max_frame: usize,
    capacity: usize,
    inflater: Option<Inflater>,
) -> Frames<R> {
    let input = std::io::Cursor::new(leftover).chain(socket);
    let mut codec = FrameCodec::new(max_frame);
    codec.inflater = inflater.map(Box::new);
    codec.read_capacity = capacity;
    FramedRead::with_capacity(input, codec, capacity)
}

/// Why reading from a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("read: {0}")]
    Io(#[from] io::Error),
    #[error("invalid frame: {0}")]
    Protocol(ProtocolError),
    #[error("frame of {declared} bytes declared, over the limit")]
    TooBig { declared: u64 },
    #[error("reserved bits set, and no extension was negotiated")]
    ReservedBits,
    #[error("text frame is not UTF-8")]
    InvalidUtf8,
    #[error("compressed message inflates past the {limit}-byte limit")]
    InflatedTooBig { limit: usize },
    #[error("compressed message is not deflate data: {0}")]
    Inflate(String),
    #[error(
        "RSV1 on a control or continuation frame (permessage-deflate marks a message's first frame only)"
    )]
    MisplacedRsv1,
}

impl ReadError {
    /// The close code the client sends before dropping the connection, if the RFC has one.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            ReadError::TooBig { .. } | ReadError::InflatedTooBig { .. } => Some(1009),
            ReadError::InvalidUtf8 => Some(1007),
            _ => None,
        }
    }

    /// The close code that tells the peer why its input ended the connection: 1009 too big,
    /// 1007 not UTF-8, 1002 any other protocol error; `None` when the connection itself failed
    /// (there is no one left to tell).
    pub fn close_code_for_peer(&self) -> Option<u16> {
        match self {
            ReadError::Io(_) => None,
            other => other.close_code().or(Some(1002)),
        }
    }
}

/// The client-side frame decoder: limits checked on the header, then actix-http's codec, then
/// permessage-deflate's inflater for compressed frames.
pub struct FrameCodec {
    codec: Codec,
    max_frame: usize,
    /// Present only on a connection that negotiated permessage-deflate.
    inflater: Option<Box<Inflater>>,
    /// The frame at the front of the buffer had RSV1, cleared for the codec.
    compressed: bool,
    /// The read buffer's capacity, given back to each read once the buffer is empty (0: not
    /// managed).
    read_capacity: usize,
}

impl FrameCodec {
    pub fn new(max_frame: usize) -> Self {
        Self {
            codec: Codec::new().client_mode().max_size(max_frame),
            max_frame,
            inflater: None,
            compressed: false,
            read_capacity: 0,
        }
    }

    /// The embedded server's decoder of its clients' frames (masked; an unmasked one is a
    /// protocol error); no extension, so any reserved bit is one too.
    pub fn server(max_frame: usize) -> Self {
        Self {
            codec: Codec::new().max_size(max_frame),
            ..Self::new(max_frame)
        }
    }

    /// A frame with RSV1: only the first frame of a text or binary message of a connection
    /// that negotiated permessage-deflate may carry it. Cleared in `src` for the codec.
    fn take_rsv1(&mut self, src: &mut BytesMut) -> Result<(), ReadError> {
        let Some(first) = src.first_mut() else {
            return Ok(());
        };
        if *first & RESERVED_BITS == 0 {
            return Ok(());
        }
        if *first & RESERVED_BITS != RSV1 || self.inflater.is_none() {
            return Err(ReadError::ReservedBits);
        }
        if !matches!(*first & OPCODE, TEXT | BINARY) {
            return Err(ReadError::MisplacedRsv1);
        }
        *first &= !RSV1;
        self.compressed = true;
        Ok(())
    }

    /// Inflates a decoded frame when its message is compressed; other frames pass.
    fn inflate(&mut self, frame: Frame, compressed: bool) -> Result<Frame, ReadError> {
        let Some(inflater) = self.inflater.as_deref_mut() else {
            return Ok(frame);
        };
        let limit = self.max_frame;
        let in_message = inflater.in_message;
        let mut inflate = |payload: &Bytes, first, last| {
            inflater
                .inflate(payload, first, last)
                .map_err(|err| match err {
                    InflateError::TooBig => ReadError::InflatedTooBig { limit },
                    InflateError::Corrupt(why) => ReadError::Inflate(why),
                })
        };
        Ok(match frame {
            Frame::Text(p) if compressed => Frame::Text(inflate(&p, true, true)?),
            Frame::Binary(p) if compressed => Frame::Binary(inflate(&p, true, true)?),
            Frame::Continuation(Item::FirstText(p)) if compressed => {
                Frame::Continuation(Item::FirstText(inflate(&p, true, false)?))
            }
            Frame::Continuation(Item::FirstBinary(p)) if compressed => {
                Frame::Continuation(Item::FirstBinary(inflate(&p, true, false)?))
            }
            Frame::Continuation(Item::Continue(p)) if in_message => {
                Frame::Continuation(Item::Continue(inflate(&p, false, false)?))
            }
            Frame::Continuation(Item::Last(p)) if in_message => {
                Frame::Continuation(Item::Last(inflate(&p, false, true)?))
            }
            other => other,
        })
    }
}

/// RSV1, RSV2 and RSV3 of a frame's first byte.
const RESERVED_BITS: u8 = 0b0111_0000;
/// The opcode bits of a frame's first byte, and the two opcodes a compressed message starts with.
const OPCODE: u8 = 0x0f;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;

/// The payload length a frame header declares, once the header holds it.
fn declared_len(src: &[u8]) -> Option<u64> {
    match *src.get(1)? & 0x7f {
        126 => Some(u64::from(u16::from_be_bytes(
            src.get(2..4)?.try_into().ok()?,
        ))),
        127 => Some(u64::from_be_bytes(src.get(2..10)?.try_into().ok()?)),
        n => Some(u64::from(n)),
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = ReadError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ReadError> {
        if src.is_empty() {
            // Each frame's payload was split off the front of the buffer and is gone by now:
            // take the whole buffer back for the next read. (Left shrinking, a read would
            // every few frames fill what is left, and a full read is followed by one more
            // that finds nothing: a wasted syscall.) No allocation while the buffer is ours.
            src.reserve(self.read_capacity);
        }
        self.take_rsv1(src)?;
        if let Some(declared) = declared_len(src)
            && declared > self.max_frame as u64
        {
            return Err(ReadError::TooBig { declared });
        }
        let frame = match self.codec.decode(src) {
            Ok(Some(frame)) => frame,
            // A partial frame keeps its RSV1 mark for the next call.
            Ok(None) => return Ok(None),
            Err(ProtocolError::Io(err)) => return Err(ReadError::Io(err)),
            Err(err) => return Err(ReadError::Protocol(err)),
        };
        let compressed = std::mem::take(&mut self.compressed);
        match self.inflate(frame, compressed)? {
            Frame::Text(text) if std::str::from_utf8(&text).is_err() => Err(ReadError::InvalidUtf8),
            frame => Ok(Some(frame)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_declared_over_the_limit_fails_on_its_header_alone() {
        let mut codec = FrameCodec::new(1024);
        let mut header = BytesMut::from(&[0x81, 127][..]);
        header.extend_from_slice(&(1u64 << 62).to_be_bytes());
        assert!(matches!(
            codec.decode(&mut header),
            Err(ReadError::TooBig { declared }) if declared == 1 << 62
        ));
        let mut medium = BytesMut::from(&[0x82, 126, 0x04, 0x01][..]); // 1025 bytes
        assert!(matches!(
            codec.decode(&mut medium),
            Err(ReadError::TooBig { declared: 1025 })
        ));
    }

    #[test]
    fn reserved_bits_and_text_that_is_not_utf8_are_protocol_errors() {
        let mut codec = FrameCodec::new(1024);
        let mut rsv1 = BytesMut::from(&[0xC1, 2, b'h', b'i'][..]);
        assert!(matches!(
            codec.decode(&mut rsv1),
            Err(ReadError::ReservedBits)
        ));
        let mut bad_text = BytesMut::from(&[0x81, 2, 0xff, 0xfe][..]);
        assert!(matches!(
            codec.decode(&mut bad_text),
            Err(ReadError::InvalidUtf8)
        ));
        let mut binary = BytesMut::from(&[0x82, 2, 0xff, 0xfe][..]);
        assert!(matches!(
            codec.decode(&mut binary),
            Ok(Some(Frame::Binary(_)))
        ));
    }

    #[test]
    fn once_a_frame_is_gone_the_next_read_gets_the_whole_buffer_back_without_a_new_allocation() {
        let mut codec = FrameCodec::new(1024);
        codec.read_capacity = 64;
        let mut buffer = BytesMut::with_capacity(64);
        let start = buffer.as_ptr();
        for i in 0..20u8 {
            // What a read puts in: one 20-byte text frame.
            let frame = frame(0x81, &[b'a' + i; 18]);
            assert!(
                buffer.capacity() - buffer.len() >= frame.len(),
                "room for frame {i}"
            );
            buffer.extend_from_slice(&frame);
            let Ok(Some(Frame::Text(text))) = codec.decode(&mut buffer) else {
                panic!("frame {i} decoded");
            };
            assert_eq!(text.len(), 18);
            drop(text);
            // The stream polls again: nothing buffered, so the codec asks for more.
            assert!(matches!(codec.decode(&mut buffer), Ok(None)));
            assert!(
                buffer.capacity() >= 64,
                "after frame {i}: {}",
                buffer.capacity()
            );
            assert_eq!(
                buffer.as_ptr(),
                start,
                "the same allocation, from its start"
            );
        }
    }

    #[test]
    fn frames_within_the_limit_decode_and_partial_headers_wait() {
        let mut codec = FrameCodec::new(1024);
        let mut partial = BytesMut::from(&[0x81, 127, 0][..]);
        assert!(matches!(codec.decode(&mut partial), Ok(None)));
        let mut text = BytesMut::from(&[0x81, 2, b'h', b'i'][..]);
        assert!(matches!(codec.decode(&mut text), Ok(Some(Frame::Text(t))) if &t[..] == b"hi"));
    }

    #[test]
    fn the_server_side_takes_masked_frames_only_and_says_which_close_code_fits() {
        let mut codec = FrameCodec::server(1024);
        let mut masked = BytesMut::new();
        actix_http::ws::Parser::write_message(
            &mut masked,
            b"hi",
            actix_http::ws::OpCode::Text,
            true,
            true,
        );
        assert!(matches!(codec.decode(&mut masked), Ok(Some(Frame::Text(t))) if &t[..] == b"hi"));
        let mut bare = BytesMut::from(&[0x81, 2, b'h', b'i'][..]);
        let err = codec.decode(&mut bare).expect_err("unmasked");
        assert!(matches!(err, ReadError::Protocol(_)), "{err}");
        assert_eq!(err.close_code_for_peer(), Some(1002));
        let too_big = ReadError::TooBig { declared: 2048 };
        assert_eq!(too_big.close_code_for_peer(), Some(1009));
        assert_eq!(ReadError::InvalidUtf8.close_code_for_peer(), Some(1007));
        assert_eq!(ReadError::ReservedBits.close_code_for_peer(), Some(1002));
        let gone = ReadError::Io(io::ErrorKind::ConnectionReset.into());
        assert_eq!(gone.close_code_for_peer(), None);
    }

    /// A codec that negotiated permessage-deflate, and a compressor like the server's.
    fn deflating(limit: usize) -> (FrameCodec, crate::client::deflate::Deflater) {
        let mut codec = FrameCodec::new(limit);
        codec.inflater = Some(Box::new(Inflater::new(limit)));
        let negotiated = crate::client::deflate::Negotiated::default();
        (codec, crate::client::deflate::Deflater::new(&negotiated))
    }

    /// An unmasked frame: `first` is the FIN/RSV/opcode byte; payload under 126 bytes.
    fn frame(first: u8, payload: &[u8]) -> BytesMut {
        let mut out = BytesMut::from(&[first, payload.len() as u8][..]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn with_deflate_negotiated_an_rsv1_message_is_inflated_even_when_it_arrives_in_pieces() {
        let (mut codec, mut deflater) = deflating(1024);
        let hello = deflater
            .compress(b"hello hello hello")
            .expect("compressed")
            .to_vec();
        let whole = frame(0xC1, &hello);
        let mut partial = BytesMut::from(&whole[..3]);
        assert!(matches!(codec.decode(&mut partial), Ok(None)));
        partial.extend_from_slice(&whole[3..]);
        assert!(matches!(
            codec.decode(&mut partial),
            Ok(Some(Frame::Text(t))) if &t[..] == b"hello hello hello"
        ));
        // Uncompressed messages stay allowed, and the window carries over to the next one.
        let mut plain = frame(0x82, b"raw");
        assert!(matches!(codec.decode(&mut plain), Ok(Some(Frame::Binary(b))) if &b[..] == b"raw"));
        let again = deflater
            .compress(b"hello hello hello")
            .expect("compressed")
            .to_vec();
        let mut again = frame(0xC1, &again);
        assert!(matches!(
            codec.decode(&mut again),
            Ok(Some(Frame::Text(t))) if &t[..] == b"hello hello hello"
        ));
    }

    #[test]
    fn a_fragmented_compressed_message_carries_rsv1_on_its_first_frame_only() {
        let (mut codec, mut deflater) = deflating(1024);
        let message = deflater
            .compress(b"fragmented fragmented")
            .expect("compressed")
            .to_vec();
        let (a, b) = message.split_at(message.len() / 2);
        let mut first = frame(0x41, a); // text, RSV1, no FIN
        let Ok(Some(Frame::Continuation(Item::FirstText(start)))) = codec.decode(&mut first) else {
            panic!("a first fragment");
        };
        let mut last = frame(0x80, b); // continuation, FIN
        let Ok(Some(Frame::Continuation(Item::Last(end)))) = codec.decode(&mut last) else {
            panic!("a last fragment");
        };
        assert_eq!([&start[..], &end[..]].concat(), b"fragmented fragmented");
        let mut rsv1_continuation = frame(0xC0, b"x");
        assert!(matches!(
            codec.decode(&mut rsv1_continuation),
            Err(ReadError::MisplacedRsv1)
        ));
    }

    #[test]
    fn with_deflate_rsv1_on_a_control_frame_and_rsv2_stay_protocol_errors() {
        let (mut codec, _) = deflating(1024);
        let mut ping = frame(0xC9, b"p");
        assert!(matches!(
            codec.decode(&mut ping),
            Err(ReadError::MisplacedRsv1)
        ));
        let (mut codec, _) = deflating(1024);
        let mut rsv2 = frame(0xA1, b"x");
        assert!(matches!(
            codec.decode(&mut rsv2),
            Err(ReadError::ReservedBits)
        ));
        let (mut codec, _) = deflating(1024);
        let mut garbage = frame(0xC2, &[0xff, 0xff, 0xff]);
        assert!(matches!(
            codec.decode(&mut garbage),
            Err(ReadError::Inflate(_))
        ));
    }

    #[test]
    fn a_small_frame_inflating_past_the_limit_closes_1009() {
        let (mut codec, mut deflater) = deflating(4096);
        let bomb = deflater
            .compress(&[b'a'; 100_000])
            .expect("compressed")
            .to_vec();
        assert!(bomb.len() < 126, "{} bytes", bomb.len());
        let mut small = frame(0xC2, &bomb);
        let err = codec.decode(&mut small).expect_err("over the limit");
        assert!(matches!(err, ReadError::InflatedTooBig { limit: 4096 }));
        assert_eq!(err.close_code(), Some(1009));
    }
}
