//! One connection of the embedded server, from accept to end: TLS (when served), the upgrade,
//! then the echo loop. Text and binary messages are echoed (a fragmented one whole, once its last
//! fragment is in, up to `MAX_MESSAGE`), Pings answered with Pongs, a close frame with the same
//! close frame; input it cannot take ends the connection with a close code saying why (1009 too
//! big, 1007 text that is not UTF-8, 1002 any other protocol error).
//!
//! Memory: the whole connection is one task and an idle one holds no buffer. Bytes are read into
//! the worker thread's scratch buffer and copied into the connection's own buffer only to be
//! decoded; a buffer that grew past `KEEP_BUFFER` for a large message is freed once empty, a
//! smaller one stays for the next message (no allocation per heartbeat).

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_http::ws::{CloseCode, CloseReason, Frame, Item, OpCode, Parser};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::codec::Decoder;

use super::conn_limit::{self, ConnLimit};
use super::handshake::{self, Request};
use super::push::{Outbox, PushWorker};
use super::{MAX_FRAME, MAX_MESSAGE, OpenSession, ServerStats, bump};
use crate::client::reader::FrameCodec;

/// Time for the TLS handshake and the request head together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to hand a last close frame (or a refusal) to the peer and see it hang up, before the
/// connection is dropped anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Most bytes one read takes: the size of each worker thread's scratch buffer.
const SCRATCH_BYTES: usize = 16 * 1024;
/// A connection buffer larger than this is freed once empty; a smaller one is kept for reuse.
const KEEP_BUFFER: usize = 4 * 1024;
/// Echoes waiting for the socket beyond which the connection stops reading: a peer that does not
/// take its echoes is not read from either.
const OUT_LIMIT: usize = 64 * 1024;

thread_local! {
    /// Every connection of a worker reads through this one buffer.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_BYTES]);
}

/// A connection's socket: plain TCP, or TLS over it (boxed: rustls's state is large and only
/// TLS connections pay for it).
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Reads what the socket has (at most the scratch buffer's size) onto the end of `into`; `Ok(0)`
/// at the end of the stream.
fn poll_read_into(
    stream: &mut Stream,
    cx: &mut Context<'_>,
    into: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let mut buf = ReadBuf::new(scratch);
        ready!(Pin::new(stream).poll_read(cx, &mut buf))?;
        into.extend_from_slice(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    })
}

async fn read_into(stream: &mut Stream, into: &mut BytesMut) -> io::Result<usize> {
    poll_fn(|cx| poll_read_into(stream, cx, into)).await
}

/// Frees a buffer that is empty and holds more than is worth keeping.
pub fn shrink(buf: &mut BytesMut) {
    // After frames are split off or written, `capacity()` counts only what is left behind them;
    // `holds_more_than` asks about the whole allocation.
    if buf.is_empty() && holds_more_than(buf, KEEP_BUFFER) {
        *buf = BytesMut::new();
    }
}

/// Whether `buf` owns an allocation larger than `bytes` (taking back room behind consumed
/// bytes when it is empty and alone on it).
fn holds_more_than(buf: &mut BytesMut, bytes: usize) -> bool {
    buf.capacity() > bytes || buf.try_reclaim(bytes + 1)
}

/// Serves one accepted connection until it ends (or its worker stops, dropping it: then no
/// close frame is sent).
pub async fn serve(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    push: Option<Rc<PushWorker>>,
    limit: Option<Arc<ConnLimit>>,
    stats: Arc<ServerStats>,
) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
    // Boxed, and gone once done: a task is as large as its largest state, and the TLS handshake's
    // (rustls's whole state inline) would otherwise stay with every connection for its life.
    let Some(mut session) = Box::pin(upgrade(tcp, tls, push, limit, stats)).await else {
        return;
    };
    if poll_fn(|cx| session.poll_echo(cx)).await == End::Closing {
        let Session { stream, out, .. } = &mut session;
        let _ = timeout(CLOSE_TIMEOUT, Box::pin(hang_up(stream, out))).await;
    }
}

/// TLS (when served) and the upgrade: the session when the request asked for a WebSocket and
/// got its 101; `None` when it was refused (a bad request, or every slot under `limit` taken) or
/// the peer failed or took too long.
async fn upgrade(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    push: Option<Rc<PushWorker>>,
    limit: Option<Arc<ConnLimit>>,
    stats: Arc<ServerStats>,
) -> Option<Session> {
    let mut read = BytesMut::new();
    let (mut stream, request) = timeout(HANDSHAKE_TIMEOUT, open(tcp, tls, &stats, &mut read))
        .await
        .ok()?
        .ok()?;
    let mut out = BytesMut::new();
    let (head_len, accept, query, slot) = match request {
        Request::Upgrade {
            head_len,
            accept,
            query,
        } => match limit.as_ref().map(ConnLimit::try_take) {
            None => (head_len, accept, query, None),
            Some(Some(slot)) => (head_len, accept, query, Some(slot)),
            Some(None) => {
                bump(&stats.refused_full);
                return refuse(stream, out, conn_limit::FULL).await;
            }
        },
        Request::Refused(status) => return refuse(stream, out, status).await,
        // `open` reads until the head is complete.
        Request::Partial => return None,
    };
    handshake::write_switching(&mut out, &accept);
    bump(&stats.upgrades);
    let open = OpenSession::new(stats.clone(), slot);
    stream.write_all(&out).await.ok()?;
    // Frames sent right behind the request stay in `read`; an idle connection keeps no buffer.
    read.advance(head_len);
    if read.is_empty() {
        read = BytesMut::new();
    }
    let outbox = push.map(|push| push.follow(query.as_deref().unwrap_or_default()));
    Some(Session {
        stream,
        read,
        out: BytesMut::new(),
        codec: FrameCodec::server(MAX_FRAME),
        message: None,
        outbox,
        stats,
        _open: open,
    })
}

/// Answers with `status` (and `Connection: close`), then hangs up.
async fn refuse(mut stream: Stream, mut out: BytesMut, status: &str) -> Option<Session> {
    handshake::write_refusal(&mut out, status);
    let _ = timeout(CLOSE_TIMEOUT, hang_up(&mut stream, &mut out)).await;
    None
}

/// TLS (when served; its handshake counted as full or resumed), then the request head: the
/// stream and what the head asks for.
async fn open(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    stats: &ServerStats,
    read: &mut BytesMut,
) -> io::Result<(Stream, Request)> {
    let mut stream = match tls {
        None => Stream::Plain(tcp),
        Some(acceptor) => {
            let tls = acceptor.accept(tcp).await?;
            match tls.get_ref().1.handshake_kind() {
                Some(rustls::HandshakeKind::Resumed) => bump(&stats.tls_resumed),
                Some(_) => bump(&stats.tls_full),
                None => {}
            }
            Stream::Tls(Box::new(tls))
        }
    };
    loop {
        if read_into(&mut stream, read).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match handshake::read_request(read) {
            Request::Partial => {}
            request => return Ok((stream, request)),
        }
    }
}

/// Writes what is left in `out`, shuts the write side down (FIN; close_notify under TLS), then
/// reads and drops whatever the peer still sends until it hangs up too, so unread input does not
/// turn the close into a reset that could destroy the last frame before the peer reads it.
async fn hang_up(stream: &mut Stream, out: &mut BytesMut) {
    if stream.write_all(out).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    out.clear();
    let mut discard = BytesMut::new();
    while let Ok(1..) = read_into(stream, &mut discard).await {
        discard.clear();
    }
}

/// How the echo loop ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The peer hung up or the socket failed: nothing more to send.
    Gone,
    /// A close frame is queued in `out`: send it, then hang up.
    Closing,
}

/// An upgraded connection.
struct Session {
    stream: Stream,
    /// Bytes read and not yet decoded.
    read: BytesMut,
    /// Frames encoded and not yet taken by the socket.
    out: BytesMut,
    codec: FrameCodec,
    /// A fragmented message being reassembled: its opcode and the payload so far.
    message: Option<(OpCode, BytesMut)>,
    /// Push mode: what the worker's timer queued for this connection.
    outbox: Option<Rc<Outbox>>,
    stats: Arc<ServerStats>,
    _open: OpenSession,
}

impl Session {
    /// Writes, decodes and reads until the connection ends or nothing can move.
    fn poll_echo(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        loop {
            if let Some(outbox) = &self.outbox {
                let taken = outbox.take_into(&mut self.out, cx.waker());
                super::bump_by(&self.stats.pushed, taken);
            }
            if let Poll::Ready(Err(_)) = self.poll_write_out(cx) {
                return Poll::Ready(End::Gone);
            }
            shrink(&mut self.out);
            if self.out.len() > OUT_LIMIT {
                // Woken when the socket takes more.
                return Poll::Pending;
            }
            let mut decoded = false;
            while self.out.len() <= OUT_LIMIT {
                match self.codec.decode(&mut self.read) {
                    Ok(Some(frame)) => {
                        decoded = true;
                        if let Err(reason) = self.handle(frame) {
                            Parser::write_close(&mut self.out, reason, false);
                            return Poll::Ready(End::Closing);
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        return match err.close_code_for_peer() {
                            Some(code) => {
                                let reason = CloseReason::from(CloseCode::from(code));
                                Parser::write_close(&mut self.out, Some(reason), false);
                                Poll::Ready(End::Closing)
                            }
                            None => Poll::Ready(End::Gone),
                        };
                    }
                }
            }
            if decoded {
                // Send what they produced before reading more.
                continue;
            }
            shrink(&mut self.read);
            match ready!(poll_read_into(&mut self.stream, cx, &mut self.read)) {
                Ok(1..) => {}
                Ok(0) | Err(_) => return Poll::Ready(End::Gone),
            }
        }
    }

    /// Hands `out` to the socket as far as it takes it.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
        // TLS holds records until flushed; plain TCP has nothing to flush.
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Answers one frame. `Err(reason)`: the connection closes, with that close frame.
    fn handle(&mut self, frame: Frame) -> Result<(), Option<CloseReason>> {
        let refuse = |code: CloseCode| Some(CloseReason::from(code));
        match frame {
            Frame::Text(text) => self.echo(OpCode::Text, &text),
            Frame::Binary(data) => self.echo(OpCode::Binary, &data),
            Frame::Continuation(Item::FirstText(part)) => {
                self.message = Some((OpCode::Text, BytesMut::from(&part[..])));
            }
            Frame::Continuation(Item::FirstBinary(part)) => {
                self.message = Some((OpCode::Binary, BytesMut::from(&part[..])));
            }
            Frame::Continuation(Item::Continue(part)) => self.append(&part).map_err(refuse)?,
            Frame::Continuation(Item::Last(part)) => {
                self.append(&part).map_err(refuse)?;
                // The codec only passes a last fragment after a first one.
                let (op, message) = self.message.take().ok_or(refuse(CloseCode::Protocol))?;
                if op == OpCode::Text && std::str::from_utf8(&message).is_err() {
                    return Err(refuse(CloseCode::Invalid));
                }
                self.echo(op, &message);
            }
            Frame::Ping(payload) => {
                bump(&self.stats.pongs);
                Parser::write_message(&mut self.out, &payload, OpCode::Pong, true, false);
            }
            Frame::Pong(_) => {}
            Frame::Close(reason) => {
                bump(&self.stats.close_frames);
                // The same close frame back, then the end.
                return Err(reason);
            }
        }
        Ok(())
    }

    /// Adds a fragment to the message being reassembled, within `MAX_MESSAGE`.
    fn append(&mut self, part: &[u8]) -> Result<(), CloseCode> {
        let (_, message) = self.message.as_mut().ok_or(CloseCode::Protocol)?;
        if message.len() + part.len() > MAX_MESSAGE {
            return Err(CloseCode::Size);
        }
        message.extend_from_slice(part);
        Ok(())
    }

    fn echo(&mut self, op: OpCode, payload: &[u8]) {
        bump(&self.stats.echoed);
        Parser::write_message(&mut self.out, payload, op, true, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on a fresh runtime with a loopback connection: (client side, server side).
    fn with_connection<F: Future<Output = ()>>(test: impl FnOnce(TcpStream, TcpStream) -> F) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("listen");
            let addr = listener.local_addr().expect("address");
            let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
            let (tcp, _) = accepted.expect("accept");
            test(client.expect("connect"), tcp).await;
        });
    }

    /// What an idle connection costs is mostly its task, and a task is as large as its future.
    #[test]
    fn a_connection_task_stays_small_whatever_the_handshake_needs() {
        with_connection(|_client, tcp| async move {
            let identity = crate::tls::ServerIdentity::self_signed().expect("identity");
            let tls = TlsAcceptor::from(Arc::new(identity.server_config().expect("config")));
            let task = serve(tcp, Some(tls), None, None, Arc::default());
            assert!(
                std::mem::size_of_val(&task) <= 512,
                "{} bytes",
                std::mem::size_of_val(&task)
            );
        });
    }

    /// After a large message the connection's buffers go back to small: memory follows what it
    /// holds now, not the largest message it ever saw.
    #[test]
    fn buffers_grown_for_a_large_message_are_freed_once_it_is_echoed() {
        with_connection(|mut client, tcp| async move {
            let mut session = Session {
                stream: Stream::Plain(tcp),
                read: BytesMut::new(),
                out: BytesMut::new(),
                codec: FrameCodec::server(MAX_FRAME),
                message: None,
                outbox: None,
                stats: Arc::default(),
                _open: OpenSession::new(Arc::default(), None),
            };
            let payload = vec![7u8; 1 << 20];
            let mut frame = BytesMut::new();
            Parser::write_message(&mut frame, &payload, OpCode::Binary, true, true);
            let exchange = async {
                use tokio::io::AsyncReadExt;
                let (mut rx, mut tx) = client.split();
                let send = tx.write_all(&frame);
                let mut echo = BytesMut::new();
                let receive = async {
                    while Parser::parse(&mut echo.clone(), false, MAX_FRAME)
                        .expect("a valid frame")
                        .is_none()
                    {
                        assert!(rx.read_buf(&mut echo).await.expect("read") > 0);
                    }
                };
                let (sent, ()) = tokio::join!(send, receive);
                sent.expect("write");
            };
            tokio::select! {
                end = poll_fn(|cx| session.poll_echo(cx)) => panic!("session ended: {end:?}"),
                done = timeout(Duration::from_secs(10), exchange) => done.expect("in time"),
            }
            let mut cx = Context::from_waker(std::task::Waker::noop());
            assert!(session.poll_echo(&mut cx).is_pending());
            assert_eq!(
                session
                    .stats
                    .echoed
                    .load(std::sync::atomic::Ordering::Relaxed),
                1
            );
            assert!(!holds_more_than(&mut session.read, KEEP_BUFFER));
            assert!(!holds_more_than(&mut session.out, KEEP_BUFFER));
        });
    }
}
