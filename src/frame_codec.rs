//! The WebSocket frame decoder both ends use: actix-http's codec, with the checks it makes too
//! late, wrongly or not at all made here. The codec compares a frame's length with its limit only
//! once the whole payload is buffered, so a peer declaring a 2^62-byte frame would have us buffer
//! whatever it streams; here the declared length is checked as soon as the header is in. The
//! codec reports reserved bits as an I/O error (they are the peer's protocol error), and does not
//! check that text frames are UTF-8. The client decodes the server's frames
//! (`FrameCodec::client`), the embedded server its clients' (`FrameCodec::server`).

use std::io;

use actix_http::ws::{Codec, Frame, ProtocolError};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

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

    /// The close code that tells the peer why its input ended the connection: 1009 too big,
    /// 1007 not UTF-8, 1002 any other protocol error; `None` when the connection itself failed
    /// (there is no one left to tell).
    pub fn close_code_for_peer(&self) -> Option<u16> {
        match self {
            ReadError::Io(_) => None,
            ReadError::Protocol(_) | ReadError::ReservedBits => Some(1002),
            other => other.close_code(),
        }
    }
}

/// The frame decoder: limits checked on the header, then actix-http's codec.
pub struct FrameCodec {
    codec: Codec,
    max_frame: usize,
}

impl FrameCodec {
    /// Decodes a server's frames (unmasked; a masked one is a protocol error).
    pub fn client(max_frame: usize) -> Self {
        Self {
            codec: Codec::new().client_mode().max_size(max_frame),
            max_frame,
        }
    }

    /// Decodes a client's frames (masked; an unmasked one is a protocol error).
    pub fn server(max_frame: usize) -> Self {
        Self {
            codec: Codec::new().max_size(max_frame),
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
        let mut codec = FrameCodec::client(1024);
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
        let mut codec = FrameCodec::client(1024);
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

    #[test]
    fn frames_within_the_limit_decode_and_partial_headers_wait() {
        let mut codec = FrameCodec::client(1024);
        let mut partial = BytesMut::from(&[0x81, 127, 0][..]);
        assert!(matches!(codec.decode(&mut partial), Ok(None)));
        let mut text = BytesMut::from(&[0x81, 2, b'h', b'i'][..]);
        assert!(matches!(codec.decode(&mut text), Ok(Some(Frame::Text(t))) if &t[..] == b"hi"));
    }
}
