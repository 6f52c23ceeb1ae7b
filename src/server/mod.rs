//! The embedded target: an echo server on tokio, written for the memory of many idle
//! connections (an idle one holds a task and its socket, no buffer; actix-web's HTTP/1 dispatcher
//! kept 16 KiB of buffers per connection). It echoes text and binary messages (a fragmented one
//! whole, once reassembled), answers Pings with Pongs and a close frame with a close frame, on any
//! path; input it cannot take ends the session with a close code saying why. It can be killed
//! abruptly (connections dropped, no close frames) and restarted on the same address, which is
//! how `server_kill` works on an embedded target. With a certificate it serves TLS (rustls), the
//! same certificate again after a restart. With a push mode it also pushes a sequenced stream to
//! every connection (`push.rs`). With a connection limit it answers the upgrades past it with 503
//! (`conn_limit.rs`). `worker.rs` runs the threads and the accept loop, `handshake.rs` answers the
//! upgrade request, `session.rs` serves one connection.

pub mod conn_limit;
mod handshake;
mod push;
mod session;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsAcceptor;

use crate::scenario::Push;
use crate::tls::ServerIdentity;
use conn_limit::{ConnLimit, Slot};
use push::PushStream;
use worker::Workers;

/// Largest frame the server accepts (the scenario's message size is capped below this).
pub const MAX_FRAME: usize = 2 * 1024 * 1024;
/// Largest message the server reassembles from fragments; a longer one ends the session with
/// close code 1009 (too big), as a frame over `MAX_FRAME` does.
pub const MAX_MESSAGE: usize = MAX_FRAME;

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
    refused_full: AtomicU64,
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
    /// Push mode: messages pushed (replays included), counted when a connection takes them
    /// for its socket: what a connection that ended first never sent is not counted.
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
    /// Upgrades answered 503 because the connection limit (`--max-conns`, `target.max_conns`)
    /// was reached; 0 without a limit.
    #[serde(default)]
    pub refused_full: u64,
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
            refused_full: self.refused_full.load(Ordering::Relaxed),
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

/// Counts a session as open for as long as its task lives (also when a kill drops the task), and
/// holds its slot under the connection limit for as long.
struct OpenSession {
    stats: Arc<ServerStats>,
    _slot: Option<Slot>,
}

impl OpenSession {
    fn new(stats: Arc<ServerStats>, slot: Option<Slot>) -> Self {
        bump(&stats.open);
        Self { stats, _slot: slot }
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running (or killed) embedded server: worker threads of its own, so it serves whichever
/// runtime its owner runs on. Dropping it stops it.
pub struct EmbeddedServer {
    addr: SocketAddr,
    workers: usize,
    /// Share the port with other processes (SO_REUSEPORT): `serve --procs N`.
    reuse_port: bool,
    running: Option<Workers>,
    stats: Arc<ServerStats>,
    /// Serves TLS with this configuration (kept for restarts: the same certificate after a
    /// kill, so clients that trust it reconnect).
    tls: Option<TlsAcceptor>,
    /// The certificate presented, for the clients of a run to trust.
    certificate: Option<CertificateDer<'static>>,
    /// The stream pushed to every connection (kept across restarts: its numbering goes on).
    push: Option<Arc<PushStream>>,
    /// The most connections held at once, if limited.
    limit: Option<Arc<ConnLimit>>,
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
        Self::start_limited(addr, workers, reuse_port, tls, push, None)
    }

    /// Like `start_with`; with `limit`, holds at most that many connections at once and
    /// answers the upgrades past it with 503.
    pub fn start_limited(
        addr: SocketAddr,
        workers: usize,
        reuse_port: bool,
        tls: Option<&ServerIdentity>,
        push: Option<&Push>,
        limit: Option<Arc<ConnLimit>>,
    ) -> io::Result<Self> {
        let (config, certificate) = match tls {
            None => (None, None),
            Some(identity) => (
                Some(TlsAcceptor::from(Arc::new(
                    identity.server_config().map_err(io::Error::other)?,
                ))),
                identity.certs.first().cloned(),
            ),
        };
        let mut server = Self {
            addr,
            workers: workers.max(1),
            reuse_port,
            running: None,
            stats: Arc::default(),
            tls: config,
            certificate,
            push: push.map(PushStream::new),
            limit,
        };
        server.listen()?;
        Ok(server)
    }

    /// The certificate it presents, when it serves TLS.
    pub fn certificate(&self) -> Option<&CertificateDer<'static>> {
        self.certificate.as_ref()
    }

    fn listen(&mut self) -> io::Result<()> {
        let listener = worker::listener(self.addr, self.reuse_port)?;
        // Port 0 resolves to a real port once; restarts rebind that same port.
        self.addr = listener.local_addr()?;
        let workers = Workers::start(
            listener,
            self.workers,
            self.tls.clone(),
            self.push.clone(),
            self.limit.clone(),
            &self.stats,
        )?;
        self.running = Some(workers);
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// Stops at once: every connection is dropped without a close frame; returns once they
    /// and the listening socket are closed.
    pub async fn kill(&mut self) {
        if let Some(workers) = self.running.take() {
            workers.stop().await;
        }
    }

    /// Listens again on the same address after a kill.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.running.is_none() {
            self.listen()?;
        }
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}
