//! The embedded target: an actix-web + actix-ws echo server. It echoes text and binary messages
//! (a fragmented one whole, once reassembled), answers Pings with Pongs and a close frame with a
//! close frame, on any path; input it cannot take ends the session with a close code saying why.
//! It can be killed abruptly (connections dropped, no close frames) and restarted on the same
//! address, which is how `server_kill` works on an embedded target. With a certificate it serves
//! TLS (actix-web's rustls acceptor), the same certificate again after a restart. With a push
//! mode it also pushes a sequenced stream to every connection (`push.rs`).

mod push;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::scenario::Push;
use crate::tls::ServerIdentity;
use push::{PushStream, PushWorker};

/// Largest frame the server accepts (the scenario's message size is capped below this).
pub const MAX_FRAME: usize = 2 * 1024 * 1024;
/// Largest message the server reassembles from fragments; a longer one ends the session with
/// close code 1009 (too big), as a frame over `MAX_FRAME` does.
pub const MAX_MESSAGE: usize = MAX_FRAME;
/// What actix-ws's error says when a fragmented message passes the reassembly bound.
const OVER_MESSAGE_BOUND: &str = "maximum continuation size";

/// What the server saw, counted independently of the clients' own figures.
#[derive(Debug, Default)]
pub struct ServerStats {
    upgrades: AtomicU64,
    close_frames: AtomicU64,
    echoed: AtomicU64,
    pongs: AtomicU64,
    open: AtomicU64,
    pushed: AtomicU64,
    push_replayed: AtomicU64,
    push_missed: AtomicU64,
    tls_full: AtomicU64,
    tls_resumed: AtomicU64,
}

/// A snapshot of [`ServerStats`] for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCounts {
    /// WebSocket upgrades accepted.
    pub upgrades: u64,
    /// Close frames received from clients.
    pub close_frames: u64,
    /// Text and binary frames echoed.
    pub echoed: u64,
    /// Pings answered.
    pub pongs: u64,
    /// WebSocket connections open right now.
    pub open: u64,
    /// Push mode: messages pushed (replays included).
    #[serde(default)]
    pub pushed: u64,
    /// Push mode: of those, messages replayed to connections that asked with `?since=`.
    #[serde(default)]
    pub push_replayed: u64,
    /// Push mode: on the first message to each connection that asked with `?since=<seq>`, the
    /// messages between `seq` and it: what the client missed, as the server counts it.
    #[serde(default)]
    pub push_missed: u64,
    /// TLS handshakes completed in full (certificate sent and signed); 0 without TLS.
    #[serde(default)]
    pub tls_full: u64,
    /// TLS handshakes that resumed an earlier session; 0 without TLS.
    #[serde(default)]
    pub tls_resumed: u64,
}

impl ServerStats {
    pub fn counts(&self) -> ServerCounts {
        ServerCounts {
            upgrades: self.upgrades.load(Ordering::Relaxed),
            close_frames: self.close_frames.load(Ordering::Relaxed),
            echoed: self.echoed.load(Ordering::Relaxed),
            pongs: self.pongs.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            pushed: self.pushed.load(Ordering::Relaxed),
            push_replayed: self.push_replayed.load(Ordering::Relaxed),
            push_missed: self.push_missed.load(Ordering::Relaxed),
            tls_full: self.tls_full.load(Ordering::Relaxed),
            tls_resumed: self.tls_resumed.load(Ordering::Relaxed),
        }
    }
}

fn bump(counter: &AtomicU64) {
    bump_by(counter, 1);
}

fn bump_by(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Counts a session as open for as long as its task lives (also when a kill drops the task).
struct OpenSession(Arc<ServerStats>);

impl OpenSession {
    fn new(stats: Arc<ServerStats>) -> Self {
        bump(&stats.open);
        Self(stats)
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        crate::memory::churned();
    }
}

/// A running (or killed) embedded server. Must be used inside an actix system.
pub struct EmbeddedServer {
    addr: SocketAddr,
    workers: usize,
    /// Share the port with other processes (SO_REUSEPORT): `serve --procs N`.
    reuse_port: bool,
    handle: Option<ServerHandle>,
    stats: Arc<ServerStats>,
    /// Serves TLS with this configuration (kept for restarts: the same certificate after a
    /// kill, so clients that trust it reconnect).
    tls: Option<rustls::ServerConfig>,
    /// The certificate presented, for the clients of a run to trust.
    certificate: Option<CertificateDer<'static>>,
    /// The stream pushed to every connection (kept across restarts: its numbering goes on).
    push: Option<Arc<PushStream>>,
}

impl EmbeddedServer {
    /// Binds `addr` (port 0: an ephemeral port) and starts serving.
    pub fn start(addr: SocketAddr, workers: usize) -> io::Result<Self> {
        Self::start_shared(addr, workers, false)
    }

    /// Like `start`; with `reuse_port` several processes can listen on the same port and the
    /// kernel spreads connections over them (each process has its own descriptor limit).
    pub fn start_shared(addr: SocketAddr, workers: usize, reuse_port: bool) -> io::Result<Self> {
        Self::start_with(addr, workers, reuse_port, None, None)
    }

    /// Like `start_shared`; with `tls`, serves TLS (wss://) presenting that identity; with
    /// `push`, pushes that stream to every connection.
    pub fn start_with(
        addr: SocketAddr,
        workers: usize,
        reuse_port: bool,
        tls: Option<&ServerIdentity>,
        push: Option<&Push>,
    ) -> io::Result<Self> {
        let (config, certificate) = match tls {
            None => (None, None),
            Some(identity) => (
                Some(identity.server_config().map_err(io::Error::other)?),
                identity.certs.first().cloned(),
            ),
        };
        let mut server = Self {
            addr,
            workers: workers.max(1),
            reuse_port,
            handle: None,
            stats: Arc::default(),
            tls: config,
            certificate,
            push: push.map(PushStream::new),
        };
        server.listen()?;
        Ok(server)
    }

    /// The certificate it presents, when it serves TLS.
    pub fn certificate(&self) -> Option<&CertificateDer<'static>> {
        self.certificate.as_ref()
    }

    fn listen(&mut self) -> io::Result<()> {
        let stats = self.stats.clone();
        let push = self.push.clone();
        let handshakes = self.stats.clone();
        let http = HttpServer::new(move || {
            let app = App::new().app_data(web::Data::from(stats.clone()));
            // Each worker its own connections and timer.
            let app = match &push {
                Some(stream) => app.app_data(PushWorker::new(stream.clone(), stats.clone())),
                None => app,
            };
            app.default_service(web::to(echo))
        })
        .workers(self.workers)
        .backlog(4096)
        .max_connections(100_000)
        .disable_signals()
        .on_connect(move |connection, _| on_connect(connection, &handshakes));
        let http = match (self.reuse_port, self.tls.clone()) {
            (true, None) => http.listen(shared_listener(self.addr)?)?,
            (false, None) => http.bind(self.addr)?,
            (true, Some(tls)) => http.listen_rustls_0_23(shared_listener(self.addr)?, tls)?,
            (false, Some(tls)) => http.bind_rustls_0_23(self.addr, tls)?,
        };
        // Port 0 resolves to a real port once; restarts rebind that same port.
        if let Some(bound) = http.addrs().first() {
            self.addr = *bound;
        }
        let running = http.run();
        self.handle = Some(running.handle());
        actix_rt::spawn(running);
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// Stops at once: every connection is dropped without a close frame.
    pub async fn kill(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop(false).await;
        }
    }

    /// Listens again on the same address after a kill.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.handle.is_none() {
            self.listen()?;
        }
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.handle.is_some()
    }
}

/// Every accepted connection, its TLS handshake done: TCP_NODELAY, and the handshake counted as
/// full or resumed. actix sets TCP_NODELAY on plain connections but not under its TLS acceptor,
/// where Nagle then holds the 101 behind the client's delayed ACK (~40 ms per upgrade).
fn on_connect(connection: &dyn std::any::Any, stats: &ServerStats) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    use actix_web::rt::net::TcpStream;
    let tls = connection.downcast_ref::<TlsStream<TcpStream>>();
    if let Some(kind) = tls.and_then(|tls| tls.get_ref().1.handshake_kind()) {
        match kind {
            rustls::HandshakeKind::Resumed => bump(&stats.tls_resumed),
            rustls::HandshakeKind::Full | rustls::HandshakeKind::FullWithHelloRetryRequest => {
                bump(&stats.tls_full)
            }
        }
    }
    let tcp = match tls {
        Some(tls) => Some(tls.get_ref().0),
        None => connection.downcast_ref::<TcpStream>(),
    };
    if let Some(tcp) = tcp
        && let Err(err) = tcp.set_nodelay(true)
    {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
}

/// A listening socket with SO_REUSEADDR and SO_REUSEPORT.
fn shared_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

async fn echo(
    req: HttpRequest,
    body: web::Payload,
    stats: web::Data<ServerStats>,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    bump(&stats.upgrades);
    // A message sent in fragments is echoed whole, once its last fragment is in.
    let mut stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE);
    if let Some(push) = req.app_data::<std::rc::Rc<PushWorker>>() {
        push.follow(&req, &session);
    }
    let stats = stats.into_inner();
    let open = OpenSession::new(stats.clone());
    actix_rt::spawn(async move {
        let _open = open;
        while let Some(received) = stream.recv().await {
            let msg = match received {
                Ok(msg) => msg,
                Err(error) => {
                    if let Some(code) = close_code_for(&error) {
                        let _ = session.close(Some(CloseReason::from(code))).await;
                    }
                    return;
                }
            };
            let sent = match msg {
                AggregatedMessage::Ping(payload) => {
                    bump(&stats.pongs);
                    session.pong(&payload).await
                }
                AggregatedMessage::Text(text) => {
                    bump(&stats.echoed);
                    session.text(text).await
                }
                AggregatedMessage::Binary(data) => {
                    bump(&stats.echoed);
                    session.binary(data).await
                }
                AggregatedMessage::Close(reason) => {
                    bump(&stats.close_frames);
                    let _ = session.close(reason).await;
                    return;
                }
                AggregatedMessage::Pong(_) => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Ok(response)
}

/// The close code that tells the client why its input ended the session; `None` when the
/// connection itself failed (a kill, a reset), which must stay an abrupt end without a close frame.
fn close_code_for(error: &ProtocolError) -> Option<CloseCode> {
    match error {
        ProtocolError::Overflow => Some(CloseCode::Size),
        // actix-ws reports the reassembly bound only as an I/O error with this text.
        ProtocolError::Io(e) if e.to_string().contains(OVER_MESSAGE_BOUND) => Some(CloseCode::Size),
        // A text message that is not UTF-8.
        ProtocolError::Io(e) if e.kind() == io::ErrorKind::InvalidData => Some(CloseCode::Invalid),
        ProtocolError::Io(_) => None,
        _ => Some(CloseCode::Protocol),
    }
}
