//! The embedded server's worker threads. Each runs its own single-threaded runtime, accepts from
//! the shared listening socket and serves the connections it accepted as local tasks (one task
//! per connection, nothing shared between workers but the counters). Stopping a worker drops its
//! runtime with every task in it: connections end at once, without close frames, and the
//! listening socket closes with the last worker.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use super::ServerStats;
use super::conn_limit::ConnLimit;
use super::push::{PushStream, PushWorker};
use super::session;

/// Pause after a failed accept (out of descriptors, say) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// The running workers of one listen.
pub struct Workers {
    /// Dropping a sender stops its worker.
    stops: Vec<oneshot::Sender<()>>,
    /// Each resolves once its worker's runtime, connections and listener are gone.
    stopped: Vec<oneshot::Receiver<()>>,
}

impl Workers {
    /// Starts `count` workers accepting from `listener`.
    pub fn start(
        listener: std::net::TcpListener,
        count: usize,
        tls: Option<TlsAcceptor>,
        push: Option<Arc<PushStream>>,
        limit: Option<Arc<ConnLimit>>,
        stats: &Arc<ServerStats>,
    ) -> io::Result<Self> {
        let mut workers = Self {
            stops: Vec::new(),
            stopped: Vec::new(),
        };
        for index in 0..count.max(1) {
            let listener = listener.try_clone()?;
            let (stop, stop_rx) = oneshot::channel();
            let (stopped_tx, stopped) = oneshot::channel();
            let (tls, push, stats) = (tls.clone(), push.clone(), stats.clone());
            let limit = limit.clone();
            std::thread::Builder::new()
                .name(format!("wschaos-serve-{index}"))
                .spawn(move || {
                    run(listener, stop_rx, tls, push, limit, stats);
                    let _ = stopped_tx.send(());
                })?;
            workers.stops.push(stop);
            workers.stopped.push(stopped);
        }
        Ok(workers)
    }

    /// Stops every worker and waits until their connections and the listener are closed.
    pub async fn stop(self) {
        drop(self.stops);
        for stopped in self.stopped {
            let _ = stopped.await;
        }
    }
}

/// One worker thread: accepts and serves until `stop` fires (or its sender is dropped).
fn run(
    listener: std::net::TcpListener,
    stop: oneshot::Receiver<()>,
    tls: Option<TlsAcceptor>,
    push: Option<Arc<PushStream>>,
    limit: Option<Arc<ConnLimit>>,
    stats: Arc<ServerStats>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::warn!(%err, "embedded server worker: no runtime");
            return;
        }
    };
    let connections = tokio::task::LocalSet::new();
    connections.block_on(&runtime, async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(%err, "embedded server worker: cannot listen");
                return;
            }
        };
        // Each worker its own connections and push timer.
        let push = push.map(|stream| PushWorker::new(stream, stats.clone()));
        tokio::select! {
            _ = stop => {}
            () = accept_loop(&listener, tls, push, limit, stats) => {}
        }
    });
    // Every connection task goes with the local set, before the runtime its sockets belong to.
    drop(connections);
    drop(runtime);
}

async fn accept_loop(
    listener: &TcpListener,
    tls: Option<TlsAcceptor>,
    push: Option<std::rc::Rc<PushWorker>>,
    limit: Option<Arc<ConnLimit>>,
    stats: Arc<ServerStats>,
) {
    loop {
        match listener.accept().await {
            Ok((tcp, _peer)) => {
                let served =
                    session::serve(tcp, tls.clone(), push.clone(), limit.clone(), stats.clone());
                tokio::task::spawn_local(served);
            }
            Err(err) => {
                tracing::debug!(%err, "embedded server: accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

/// A listening socket on `addr` (SO_REUSEADDR, so a restart rebinds at once; SO_REUSEPORT with
/// `reuse_port`, so several processes can share the port).
pub fn listener(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
