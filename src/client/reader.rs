//! Reading the server's frames from a socket, with the shared frame decoder (`frame_codec`: limits
//! on the header, reserved bits, UTF-8).

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::ws::Frame;
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, Chain, ReadHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::FramedRead;

pub use crate::frame_codec::{FrameCodec, ReadError};

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
    FramedRead::with_capacity(input, FrameCodec::client(max_frame), capacity)
}
