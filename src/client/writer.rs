//! The write side of a connection: frames encoded (masked, compressed when permessage-deflate
//! was negotiated) into one buffer and written without waiting; only a full socket makes the
//! actor wait for writability. Plain TCP writes straight to the socket's half; TLS through
//! rustls's buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_http::ws::{CloseReason, OpCode, Parser};
use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_rustls::client::TlsStream;

use super::deflate::{Deflater, Negotiated, RSV1};

/// The socket's write half: plain TCP, or TLS (rustls encrypts into its own buffer, written
/// out to the same socket).
#[derive(Debug)]
pub enum WriteSide {
    Plain(OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

impl WriteSide {
    /// Waits until more can be written: the socket is writable again (plain), or rustls has
    /// handed everything it holds to the socket (TLS).
    pub async fn writable(&mut self) -> io::Result<()> {
        match self {
            WriteSide::Plain(half) => half.writable().await,
            WriteSide::Tls(half) => {
                std::future::poll_fn(|cx| Pin::new(&mut *half).poll_flush(cx)).await
            }
        }
    }
}

/// Writes `buf` into a TLS half without waiting: rustls takes the bytes into its buffer and
/// writes what the socket takes. `Ok(false)`: rustls still holds bytes the socket did not take.
fn try_flush_tls(
    half: &mut tokio::io::WriteHalf<TlsStream<TcpStream>>,
    buf: &mut BytesMut,
) -> io::Result<bool> {
    // Polled without a waker: a `Pending` only means "not now"; `WriteSide::writable` waits.
    let mut cx = Context::from_waker(Waker::noop());
    while !buf.is_empty() {
        match Pin::new(&mut *half).poll_write(&mut cx, buf) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Ok(false),
        }
    }
    match Pin::new(half).poll_flush(&mut cx) {
        Poll::Ready(Ok(())) => Ok(true),
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => Ok(false),
    }
}

/// The write side of a connection: frames are encoded (masked) into `buf` and written at once;
/// only when the socket is full does the actor wait for writability (see `take_half`).
#[derive(Debug)]
pub struct Writer {
    half: Option<WriteSide>,
    buf: BytesMut,
    fd: i32,
    /// Present only on a connection that negotiated permessage-deflate.
    deflater: Option<Box<Deflater>>,
}

impl Writer {
    pub(super) fn new(half: WriteSide, fd: i32, deflate: Option<&Negotiated>) -> Self {
        Self {
            half: Some(half),
            buf: BytesMut::with_capacity(64),
            fd,
            deflater: deflate.map(|n| Box::new(Deflater::new(n))),
        }
    }

    /// Queues one whole message or control frame; text and binary go out compressed (RSV1
    /// set) when the connection negotiated permessage-deflate. Control frames never are.
    pub fn queue(&mut self, op: OpCode, payload: &[u8]) {
        if let (Some(deflater), OpCode::Text | OpCode::Binary) = (self.deflater.as_deref_mut(), op)
            && let Some(compressed) = deflater.compress(payload)
        {
            let start = self.buf.len();
            Parser::write_message(&mut self.buf, compressed, op, true, true);
            self.buf[start] |= RSV1;
            return;
        }
        Parser::write_message(&mut self.buf, payload, op, true, true);
    }

    /// Whether the connection negotiated permessage-deflate.
    pub fn deflate_negotiated(&self) -> bool {
        self.deflater.is_some()
    }

    pub fn queue_close(&mut self, reason: Option<CloseReason>) {
        Parser::write_close(&mut self.buf, reason, true);
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn queued(&self) -> usize {
        self.buf.len()
    }

    /// Writes what is buffered without blocking. `Ok(true)`: all written; `Ok(false)`: the
    /// socket is full or the half is out waiting for writability.
    pub fn try_flush(&mut self) -> io::Result<bool> {
        let half = match &mut self.half {
            None => return Ok(false),
            Some(WriteSide::Tls(half)) => return try_flush_tls(half, &mut self.buf),
            Some(WriteSide::Plain(half)) => half,
        };
        while !self.buf.is_empty() {
            match half.try_write(&self.buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    // `advance`, not `split_to`: splitting makes the buffer shared (an allocation,
                    // then a reference count per write).
                    self.buf.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Lends the socket's write half to a future that waits for writability.
    pub fn take_half(&mut self) -> Option<WriteSide> {
        self.half.take()
    }

    pub fn put_half(&mut self, half: WriteSide) {
        self.half = Some(half);
    }

    /// Lends the connection's socket to `f`, to read its options.
    pub fn with_socket<R>(&self, f: impl FnOnce(socket2::SockRef<'_>) -> R) -> R {
        // SAFETY: `fd` belongs to the stream whose halves this writer and its reader own; the
        // borrow ends before `self` can be dropped.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        f(socket2::SockRef::from(&fd))
    }

    /// Makes the coming close an RST instead of a FIN (SO_LINGER 0) and skips the write
    /// shutdown, so the peer sees a reset with no close frame.
    pub fn reset_on_close(&mut self) {
        // SAFETY: `fd` belongs to the stream whose halves this writer and its reader still own;
        // it is open for as long as `self` lives.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
        // A TLS half never shuts the socket down on its own; dropping it is enough.
        if let Some(WriteSide::Plain(half)) = self.half.take() {
            half.forget();
        }
    }
}
