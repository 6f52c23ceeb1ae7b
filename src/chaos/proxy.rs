//! The chaos proxy: a TCP proxy that reads each client's upgrade request head (noting its
//! `X-Wschaos-Client` id), forwards it and the server's answer untouched, then walks WebSocket
//! frames both ways so faults can act on single frames (`pump.rs`), while `ProxyControl` switches
//! faults on and off. A refused upgrade is piped as raw bytes. An end of stream on one side is
//! passed on as a FIN, so a server dying behind the proxy looks the same to its clients. A side
//! that takes no bytes for `send_timeout` while some wait for it closes the whole connection.
//! Towards a `wss://` target the proxy speaks TLS (`upstream.rs`); its clients speak plain ws.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep_until, timeout};

use super::control::{Applied, ProxyControl, add};
use super::pump::{Activity, Pump, PumpError, Shared, later};
use super::upstream::{DialError, Relayed, Upstream, UpstreamTls, dial};
use super::{AckMatcher, CLIENT_ID_HEADER, Direction};

/// Longest request or response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Giving up on an upstream that does not accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit on a frame's declared payload.
pub const DEFAULT_MAX_FRAME: u64 = 16 * 1024 * 1024;
/// Default for how long one direction may have bytes waiting that its peer does not take.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// What a client gets when the upstream cannot be reached.
const BAD_GATEWAY: &[u8] =
    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where every connection is forwarded.
    pub upstream: SocketAddr,
    /// How heartbeat acks from the server are recognised.
    pub ack: AckMatcher,
    /// Largest declared frame payload; a bigger one closes its connection.
    pub max_frame: u64,
    /// Seeds the jitter and loss draws (connection `n` draws from `seed` and `n`).
    pub seed: u64,
    /// A direction whose peer takes no bytes for this long while some are due closes the
    /// connection, both sides (a peer that never reads, or one that left while it was full).
    pub send_timeout: Duration,
    /// TLS towards the upstream (a `wss://` target); none: plain TCP.
    pub tls: Option<UpstreamTls>,
}

impl ProxyConfig {
    /// Pongs are acks, frames up to 16 MiB, seed 0, a 10 s send timeout.
    pub fn new(upstream: SocketAddr) -> Self {
        Self {
            upstream,
            ack: AckMatcher::Pong,
            max_frame: DEFAULT_MAX_FRAME,
            seed: 0,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            tls: None,
        }
    }
}

/// A proxy running as a task of the current tokio runtime; dropping it stops the proxy and
/// closes every connection it holds.
#[derive(Debug)]
pub struct RunningProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningProxy {
    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `listen` (port 0: an ephemeral port) and serves on the current runtime (an actix
/// arbiter or system is one). Must be called from within a tokio runtime.
pub fn spawn(
    listen: SocketAddr,
    config: ProxyConfig,
    control: Arc<ProxyControl>,
) -> io::Result<RunningProxy> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(listen),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&listen.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    let listener = TcpListener::from_std(socket.into())?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, config, control));
    Ok(RunningProxy { addr, task })
}

/// Accepts and proxies connections until the future is dropped (which closes them all).
pub async fn serve(listener: TcpListener, config: ProxyConfig, control: Arc<ProxyControl>) {
    let config = Arc::new(config);
    let mut connections = JoinSet::new();
    let mut index: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    index += 1;
                    add(&control.counters.connections_accepted, 1);
                    connections.spawn(handle(stream, index, config.clone(), control.clone()));
                }
                Err(err) => {
                    // Out of descriptors, usually: let some connections end first.
                    tracing::warn!(%err, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("bad request head: {0}")]
    BadRequest(&'static str),
    #[error("bad response head: {0}")]
    BadResponse(&'static str),
    #[error("cannot connect upstream: {0}")]
    Connect(DialError),
    #[error(transparent)]
    Pump(#[from] PumpError),
}

impl From<io::Error> for ConnError {
    fn from(err: io::Error) -> Self {
        ConnError::Pump(PumpError::Io(err))
    }
}

async fn handle(
    client: TcpStream,
    index: u64,
    config: Arc<ProxyConfig>,
    control: Arc<ProxyControl>,
) {
    let counters = &control.counters;
    add(&counters.connections_open, 1);
    let ended = connection(client, index, &config, &control).await;
    counters
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    crate::memory::churned();
    let Err(err) = ended else {
        return;
    };
    tracing::debug!(index, %err, "proxied connection closed");
    let counter = match err {
        ConnError::BadRequest(_) => &counters.bad_requests,
        ConnError::BadResponse(_) => &counters.bad_responses,
        ConnError::Connect(_) => &counters.upstream_connect_failures,
        ConnError::Pump(PumpError::TooLarge(_)) => &counters.oversized_frames,
        ConnError::Pump(PumpError::SendTimeout(_)) => &counters.send_timeouts,
        // Resets and broken pipes: the peers' doing (a server kill, a client drop).
        ConnError::Pump(PumpError::Io(_)) => return,
    };
    add(counter, 1);
}

/// One client connection from its first byte to its close.
async fn connection(
    mut client: TcpStream,
    index: u64,
    config: &ProxyConfig,
    control: &ProxyControl,
) -> Result<(), ConnError> {
    client.set_nodelay(true)?;
    let (request, mut client_bytes) = read_head(&mut client)
        .await
        .map_err(ConnError::BadRequest)?;
    let client_id = client_id(&request);
    let wakeups = control.register();

    // A victim's new connection hangs here, its head read, while a partition lasts. A client
    // that gives up meanwhile is let go at once: a long partition would otherwise pile up one
    // hanging connection per reconnect attempt.
    let mut applied = Applied::new(client_id);
    loop {
        applied.refresh(control);
        if !applied.paused() {
            break;
        }
        tokio::select! {
            () = wakeups.watchdog.notified() => {}
            read = read_more(&mut client, &mut client_bytes) => match read {
                Ok(0) | Err(_) => {
                    add(&control.counters.abandoned_in_partition, 1);
                    return Ok(());
                }
                Ok(_) if client_bytes.len() > MAX_HEAD => {
                    return Err(ConnError::BadRequest("sent over 16 KiB before the upgrade"));
                }
                Ok(_) => {}
            },
        }
    }

    let dialed = timeout(CONNECT_TIMEOUT, dial(config.upstream, config.tls.as_ref())).await;
    let server = match dialed {
        Ok(Ok(server)) => server,
        Ok(Err(err)) => return Err(refuse(&mut client, err).await),
        Err(_) => {
            let err = DialError::Connect(io::ErrorKind::TimedOut.into());
            return Err(refuse(&mut client, err).await);
        }
    };
    let opened = Opened {
        index,
        client_id,
        request,
        client_bytes,
    };
    match server {
        Upstream::Plain(server) => relay(client, server, opened, config, control, &wakeups).await,
        Upstream::Tls(server) => relay(client, server, opened, config, control, &wakeups).await,
    }
}

/// What `connection` knows once the upstream is reached.
struct Opened {
    index: u64,
    client_id: Option<u32>,
    request: BytesMut,
    /// Bytes the client sent after its request head.
    client_bytes: BytesMut,
}

/// Forwards the request head and the answer, then runs both directions until they end.
async fn relay<S: Relayed>(
    mut client: TcpStream,
    mut server: S,
    opened: Opened,
    config: &ProxyConfig,
    control: &ProxyControl,
    wakeups: &super::control::Wakeups,
) -> Result<(), ConnError> {
    let Opened {
        index,
        client_id,
        request,
        client_bytes,
    } = opened;
    server.write_all(&request).await?;
    server.flush().await?;
    drop(request); // heads are not kept for the connection's life
    let (response, server_bytes) = read_head(&mut server)
        .await
        .map_err(ConnError::BadResponse)?;
    client.write_all(&response).await?;
    let upgraded = status(&response) == Some(&b"101"[..]);
    drop(response);

    let activity = Activity::new();
    let shared = Shared {
        control,
        client: client_id,
        ack: &config.ack,
        max_frame: config.max_frame,
        send_timeout: config.send_timeout,
        activity: &activity,
    };
    let seed = config.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.halves();
    let up = Pump::new(
        Direction::Upstream,
        &shared,
        &wakeups.upstream,
        upgraded,
        client_bytes,
        SmallRng::seed_from_u64(seed),
    )
    .run(client_read, server_write);
    let down = Pump::new(
        Direction::Downstream,
        &shared,
        &wakeups.downstream,
        upgraded,
        server_bytes,
        SmallRng::seed_from_u64(!seed),
    )
    .run(server_read, client_write);
    let idle = watchdog(control, client_id, &wakeups.watchdog, &activity);
    tokio::pin!(up, down, idle);
    let (mut up_done, mut down_done) = (false, false);
    // A direction that ends cleanly has passed its FIN on; the other one carries on until its
    // own end. An error, or an idle cut, drops both (each write half sends a FIN as it drops).
    while !(up_done && down_done) {
        tokio::select! {
            ended = &mut up, if !up_done => {
                ended?;
                up_done = true;
            }
            ended = &mut down, if !down_done => {
                ended?;
                down_done = true;
            }
            () = &mut idle => {
                add(&control.counters.idle_cuts, 1);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Tells the client the upstream is unreachable, and closes.
async fn refuse(client: &mut TcpStream, err: DialError) -> ConnError {
    let _ = client.write_all(BAD_GATEWAY).await;
    let _ = client.shutdown().await;
    ConnError::Connect(err)
}

/// Reads an HTTP head (through the blank line); returns it and any bytes that followed.
async fn read_head(
    stream: &mut (impl AsyncRead + Unpin),
) -> Result<(BytesMut, BytesMut), &'static str> {
    let mut buf = BytesMut::with_capacity(1024);
    let mut searched: usize = 0;
    loop {
        let from = searched.saturating_sub(3);
        if let Some(at) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            // The bytes that followed get their own buffer (usually none: no allocation), so
            // the head's buffer is freed as soon as the head is forwarded, instead of living on
            // as the connection's read buffer.
            let end = from + at + 4;
            let after = BytesMut::from(&buf[end..]);
            buf.truncate(end);
            return Ok((buf, after));
        }
        searched = buf.len();
        if buf.len() >= MAX_HEAD {
            return Err("longer than 16 KiB");
        }
        buf.reserve(1024);
        let room = MAX_HEAD - buf.len();
        match (&mut *stream).take(room as u64).read_buf(&mut buf).await {
            Ok(0) => return Err("connection closed before the end of the head"),
            Ok(_) => {}
            Err(_) => return Err("read error"),
        }
    }
}

/// Reads what the client sends after its head (nothing, from a client that waits for the 101:
/// the read ends when it leaves).
async fn read_more(client: &mut TcpStream, bytes: &mut BytesMut) -> io::Result<usize> {
    bytes.reserve(256);
    client.read_buf(bytes).await
}

/// The status code of a response head.
fn status(head: &[u8]) -> Option<&[u8]> {
    head.split(|b| *b == b' ' || *b == b'\r').nth(1)
}

/// The `X-Wschaos-Client` id of a request head, if it carries a valid one.
fn client_id(head: &[u8]) -> Option<u32> {
    head.split(|b| *b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|b| *b == b':')?;
        let (name, value) = line.split_at(colon);
        if !name.eq_ignore_ascii_case(CLIENT_ID_HEADER.as_bytes()) {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
}

/// Returns when the connection has been silent (while an idle timeout applies to it) for
/// longer than the limit. Silence is counted from the last byte, or from when the limit began
/// to apply if that is later; a partition suspends it.
async fn watchdog(control: &ProxyControl, client: Option<u32>, wake: &Notify, activity: &Activity) {
    let mut applied = Applied::new(client);
    let mut since: Option<Instant> = None;
    loop {
        applied.refresh(control);
        let Some(idle) = applied.idle_limit().filter(|_| !applied.paused()) else {
            since = None;
            wake.notified().await;
            continue;
        };
        let now = Instant::now();
        let started = *since.get_or_insert(now);
        let deadline = later(activity.last().max(started), idle);
        if deadline <= now {
            return;
        }
        tokio::select! {
            () = wake.notified() => {}
            () = sleep_until(deadline) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_id_header_is_found_in_any_case_and_otherwise_absent() {
        let head = |extra: &str| {
            format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}Upgrade: websocket\r\n\r\n").into_bytes()
        };
        assert_eq!(client_id(&head("X-Wschaos-Client: 42\r\n")), Some(42));
        assert_eq!(client_id(&head("x-wschaos-client:7\r\n")), Some(7));
        assert_eq!(client_id(&head("")), None);
        assert_eq!(client_id(&head("X-Wschaos-Client: -1\r\n")), None);
        assert_eq!(client_id(&head("X-Wschaos-Clientele: 1\r\n")), None);
    }

    #[test]
    fn the_status_code_is_the_second_word() {
        assert_eq!(
            status(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Some(&b"101"[..])
        );
        assert_eq!(status(b"HTTP/1.1 101\r\n\r\n"), Some(&b"101"[..]));
        assert_eq!(status(b"HTTP/1.1 404 Not Found\r\n\r\n"), Some(&b"404"[..]));
    }
}
