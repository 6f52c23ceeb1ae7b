//! The proxy's side towards the target: a plain TCP connection, or TLS over it for a `wss://`
//! target (the clients still speak plain ws to the proxy, so every fault sees frames). The two
//! kinds of stream split into halves the pumps read and write.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How the proxy speaks TLS to its upstream: one connector for all its connections (with
/// resumption, one session cache shared by them) and the name the certificate is checked for.
#[derive(Clone)]
pub struct UpstreamTls {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// A connection to the upstream, TCP_NODELAY set, TLS handshake done if there is one.
pub(super) enum Upstream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Why the upstream could not be reached.
#[derive(Debug, thiserror::Error)]
pub(super) enum DialError {
    #[error("{0}")]
    Connect(io::Error),
    #[error("TLS: {0}")]
    Tls(io::Error),
}

/// Connects to `addr`, then the TLS handshake with `tls` if given.
pub(super) async fn dial(
    addr: SocketAddr,
    tls: Option<&UpstreamTls>,
) -> Result<Upstream, DialError> {
    let stream = TcpStream::connect(addr).await.map_err(DialError::Connect)?;
    stream.set_nodelay(true).map_err(DialError::Connect)?;
    let Some(tls) = tls else {
        return Ok(Upstream::Plain(stream));
    };
    let stream = tls
        .connector
        .connect(tls.server_name.clone(), stream)
        .await
        .map_err(DialError::Tls)?;
    Ok(Upstream::Tls(Box::new(stream)))
}

/// A stream the proxy relays: it splits into a read half and an [`Outlet`].
pub(super) trait Relayed: AsyncRead + AsyncWrite + Unpin + Sized {
    type Read: AsyncRead + Unpin;
    type Write: Outlet;
    fn halves(self) -> (Self::Read, Self::Write);
}

impl Relayed for TcpStream {
    type Read = OwnedReadHalf;
    type Write = OwnedWriteHalf;
    fn halves(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        self.into_split()
    }
}

impl Relayed for Box<TlsStream<TcpStream>> {
    type Read = ReadHalf<Self>;
    type Write = WriteHalf<Self>;
    fn halves(self) -> (Self::Read, Self::Write) {
        // Both halves are polled from the one task of their connection: the lock between
        // them is never contended.
        tokio::io::split(self)
    }
}

/// A write half a pump can write to without waiting.
pub(super) trait Outlet: AsyncWrite + Unpin {
    /// Whether bytes a write took can still wait inside the writer (TLS records rustls holds
    /// until the socket takes them): then the pump flushes after writing.
    const BUFFERS: bool;

    /// Writes what can be written now; `WouldBlock` when nothing can.
    fn write_now(&mut self, buf: &[u8]) -> io::Result<usize>;
}

impl Outlet for OwnedWriteHalf {
    const BUFFERS: bool = false;

    fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.try_write(buf)
    }
}

impl Outlet for WriteHalf<Box<TlsStream<TcpStream>>> {
    const BUFFERS: bool = true;

    fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Polled without a waker: `Pending` only means "not now"; the pump then waits on a
        // real write.
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(self).poll_write(&mut cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}
