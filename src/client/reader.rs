//! Reading the server's frames: actix-http's codec, with the checks it makes too late, wrongly or
//! not at all made here. The codec compares a frame's length with its limit only once the whole
//! payload is buffered, so a server declaring a 2^62-byte frame would have the client buffer
//! whatever it streams; here the declared length is checked as soon as the header is in. The
//! codec reports reserved bits as an I/O error (they are the server's protocol error), and does
//! not check that text frames are UTF-8.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::ws::{Codec, Frame, ProtocolError};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, Chain, ReadHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::{Decoder, FramedRead};

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
/// `capacity` bytes of buffer.
pub fn frame_reader<R: AsyncRead>(
    leftover: Bytes,
    socket: R,
    max_frame: usize,
    capacity: usize,
) -> Frames<R> {
    let input = std::io::Cursor::new(leftover).chain(socket);
    FramedRead::with_capacity(input, FrameCodec::new(max_frame), capacity)
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
}

impl ReadError {
    /// The close code the client sends before dropping the connection, if the RFC has one.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            ReadError::TooBig { .. } => Some(1009),
            ReadError::InvalidUtf8 => Some(1007),
            _ => None,
        }
    }
}

/// The client-side frame decoder: limits checked on the header, then actix-http's codec.
pub struct FrameCodec {
    codec: Codec,
    max_frame: usize,
}

impl FrameCodec {
    pub fn new(max_frame: usize) -> Self {
        Self {
            codec: Codec::new().client_mode().max_size(max_frame),
            max_frame,
        }
    }
}

/// RSV1, RSV2 and RSV3 of a frame's first byte.
const RESERVED_BITS: u8 = 0b0111_0000;

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
        if src.first().is_some_and(|b| b & RESERVED_BITS != 0) {
            return Err(ReadError::ReservedBits);
        }
        if let Some(declared) = declared_len(src)
            && declared > self.max_frame as u64
        {
            return Err(ReadError::TooBig { declared });
        }
        match self.codec.decode(src) {
            Ok(Some(Frame::Text(text))) if std::str::from_utf8(&text).is_err() => {
                Err(ReadError::InvalidUtf8)
            }
            Ok(frame) => Ok(frame),
            Err(ProtocolError::Io(err)) => Err(ReadError::Io(err)),
            Err(err) => Err(ReadError::Protocol(err)),
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
    fn frames_within_the_limit_decode_and_partial_headers_wait() {
        let mut codec = FrameCodec::new(1024);
        let mut partial = BytesMut::from(&[0x81, 127, 0][..]);
        assert!(matches!(codec.decode(&mut partial), Ok(None)));
        let mut text = BytesMut::from(&[0x81, 2, b'h', b'i'][..]);
        assert!(matches!(codec.decode(&mut text), Ok(Some(Frame::Text(t))) if &t[..] == b"hi"));
    }
}
