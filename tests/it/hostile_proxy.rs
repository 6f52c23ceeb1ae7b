//! Hostile servers (`common::hostile`) behind the chaos proxy: each is counted by the clients
//! as it would be without the proxy, the proxy neither crashes nor wedges (every connection it
//! held closes, and a fresh client through it still gets its echo), and it stays small.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::hostile::{CLIENTS, MEMORY_BOUND, MemoryWatch, each, flooding, run_case, two_clients};
use crate::common::hostile::*;
use crate::common::*;
use wschaos::chaos::{ProxyConfig, ProxyControl, ProxyStats};
use wschaos::report::Report;

/// The in-process proxy on a thread of its own (runs are blocking calls with their own
/// runtime); stops when dropped.
struct ProxyThread {
    addr: SocketAddr,
    control: Arc<ProxyControl>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ProxyThread {
    fn start(upstream: SocketAddr, send_timeout: Duration) -> Self {
        let control = Arc::new(ProxyControl::new());
        let config = ProxyConfig {
            send_timeout,
            ..ProxyConfig::new(upstream)
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tell, addr) = std::sync::mpsc::channel();
        let shared = control.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
                let proxy = wschaos::chaos::spawn(loopback, config, shared).expect("proxy");
                let _ = tell.send(proxy.addr());
                let _ = stopped.await;
            });
        });
        let addr = addr.recv_timeout(ms(5000)).expect("the proxy listens");
        Self {
            addr,
            control,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stats(&self) -> ProxyStats {
        self.control.stats()
    }

    /// Whether every connection the proxy held has closed (within 5 s).
    fn settles(&self) -> bool {
        eventually(ms(5000), || self.stats().connections_open == 0)
    }
}

impl Drop for ProxyThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The send timeout of the proxies in these tests.
const PROXY_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// How a run through the proxy must be counted by its clients.
#[derive(Debug, Clone, Copy)]
enum Cause {
    ConnectFailure,
    ProtocolError,
    HeartbeatTimeout,
    CloseFrame(u16),
    /// The proxy let go of the client: an end of stream or a reset, nothing else.
    ProxyCut,
}

impl Cause {
    fn check(self, report: &Report, what: &str) {
        let c = &report.counters;
        match self {
            Cause::ConnectFailure => {
                assert_eq!(c.clients_connected, 0, "{what}: {c:?}");
                assert!(c.connect_failures >= 2, "{what}: {c:?}");
            }
            Cause::ProtocolError => {
                assert!(c.disconnects_protocol_error >= 1, "{what}: {c:?}");
                assert_eq!(
                    c.disconnects(),
                    c.disconnects_protocol_error,
                    "{what}: {c:?}"
                );
            }
            Cause::HeartbeatTimeout => {
                assert!(c.disconnects_heartbeat_timeout >= 1, "{what}: {c:?}");
                assert_eq!(c.heartbeat_acks, 0, "{what}: {c:?}");
            }
            Cause::CloseFrame(code) => {
                assert!(c.disconnects_close_frame >= 1, "{what}: {c:?}");
                assert_eq!(
                    report.close_codes.get(&code.to_string()).copied(),
                    Some(c.disconnects_close_frame),
                    "{what}: {:?}",
                    report.close_codes
                );
            }
            Cause::ProxyCut => {
                let cut = c.disconnects_server_gone + c.disconnects_io_error;
                assert!(cut >= 1, "{what}: {c:?}");
                assert_eq!(c.disconnects(), cut, "{what}: {c:?}");
            }
        }
    }
}

/// A proxy counter a case must raise.
type ProxyCounter = fn(&ProxyStats) -> u64;

/// Two clients through a fresh proxy to `behaviour`: counted as `cause`, the proxy's
/// `counter` raised, then every proxied connection closes, a fresh client through the same
/// proxy (the server healed) gets its echo, and memory stayed bounded.
fn through_proxy(behaviour: Hostile, cause: Cause, counter: Option<(&str, ProxyCounter)>) {
    let what = format!("{behaviour:?} behind the proxy");
    let server = HostileServer::start(behaviour);
    let proxy = ProxyThread::start(server.addr(), PROXY_SEND_TIMEOUT);
    let s = match behaviour {
        Hostile::NeverReads => flooding(ws_url(proxy.addr), CLIENTS, 3000),
        _ => two_clients(ws_url(proxy.addr)),
    };
    let memory = MemoryWatch::start();
    let report = run_case(&server, s, &what);
    cause.check(&report, &what);
    if let Some((name, counter)) = counter {
        assert!(
            counter(&proxy.stats()) >= 1,
            "{what}: {name}: {:?}",
            proxy.stats()
        );
    }
    assert!(proxy.settles(), "{what}: still open: {:?}", proxy.stats());
    server.heal();
    assert!(echoes(proxy.addr), "{what}: no echo through the proxy");
    assert!(proxy.settles(), "{what}: the echo stays open");
    memory.grew_less_than_bound(&what);
}

#[test]
fn behind_the_proxy_every_hostile_server_is_counted_and_leaves_the_proxy_working() {
    let oversized: ProxyCounter = |s| s.oversized_frames;
    let bad_response: ProxyCounter = |s| s.bad_responses;
    let send_timeout: ProxyCounter = |s| s.send_timeouts;
    let cases = [
        (
            Hostile::NoUpgrade,
            Cause::ConnectFailure,
            Some(("bad_responses", bad_response)),
        ),
        (Hostile::Ok200, Cause::ConnectFailure, None),
        (Hostile::WrongAccept, Cause::ConnectFailure, None),
        (Hostile::NoConnectionUpgrade, Cause::ConnectFailure, None),
        (Hostile::GarbageAfterUpgrade, Cause::ProtocolError, None),
        // Over the proxy's limit: refused on the header, the connection cut.
        (
            Hostile::EndlessFrame,
            Cause::ProxyCut,
            Some(("oversized_frames", oversized)),
        ),
        // Exactly the proxy's limit: streamed through, refused by the client.
        (Hostile::OversizedFrame, Cause::ProtocolError, None),
        (Hostile::MaskedFrame, Cause::ProtocolError, None),
        (Hostile::ReservedOpcode, Cause::ProtocolError, None),
        (Hostile::FragmentedControl, Cause::ProtocolError, None),
        (Hostile::ReservedBit, Cause::ProtocolError, None),
        (Hostile::InvalidUtf8, Cause::ProtocolError, None),
        (Hostile::PingFlood, Cause::HeartbeatTimeout, None),
        (Hostile::IgnoresPings, Cause::HeartbeatTimeout, None),
        (Hostile::CloseCode(1000), Cause::CloseFrame(1000), None),
        (Hostile::CloseCode(4999), Cause::CloseFrame(4999), None),
        (Hostile::CloseCode(1005), Cause::ProtocolError, None),
        (Hostile::CloseCode(5000), Cause::ProtocolError, None),
        (Hostile::ResetMidFrame, Cause::ProxyCut, None),
        // The upstream takes nothing: the proxy's send timeout cuts the connection.
        (
            Hostile::NeverReads,
            Cause::ProxyCut,
            Some(("send_timeouts", send_timeout)),
        ),
    ];
    each(&cases, |(behaviour, cause, counter)| {
        through_proxy(behaviour, cause, counter);
    });
}

#[test]
fn a_proxy_connection_whose_upstream_never_reads_closes_after_the_send_timeout() {
    use std::io::{ErrorKind, Write};

    let server = HostileServer::start(Hostile::NeverReads);
    let proxy = ProxyThread::start(server.addr(), ms(500));
    let mut client = std::net::TcpStream::connect(proxy.addr).expect("connect");
    client
        .write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("request");
    // Frames until nothing more is taken (every buffer on the way is full), then leave.
    client.set_nonblocking(true).expect("nonblocking");
    let frame = client_frame(0x82, &[7; 125]);
    let deadline = Instant::now() + ms(3000);
    let mut stuck_since: Option<Instant> = None;
    while Instant::now() < deadline && stuck_since.is_none_or(|t| t.elapsed() < ms(200)) {
        match client.write(&frame) {
            Ok(_) => stuck_since = None,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                stuck_since.get_or_insert_with(Instant::now);
                std::thread::sleep(ms(5));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(stuck_since.is_some(), "the proxy kept taking bytes");
    assert_eq!(proxy.stats().connections_open, 1);
    drop(client);
    assert!(proxy.settles(), "still open: {:?}", proxy.stats());
    assert_eq!(proxy.stats().send_timeouts, 1, "{:?}", proxy.stats());
}

/// The real `wschaos proxy` in front of `behaviour`, two runs through it: its peak memory.
fn proxy_process_peak(behaviour: Hostile) -> u64 {
    let server = HostileServer::start(behaviour);
    let upstream = format!("ws://{}", server.addr());
    let (proxy, proxy_addr) = start(&["proxy", "--listen", "127.0.0.1:0", "--upstream", &upstream]);
    let pid = proxy.0.id().to_string();
    for _ in 0..2 {
        let report = run_scenario(two_clients(ws_url(proxy_addr))).report;
        assert!(report.counters.clients_connected >= 1, "{behaviour:?}");
    }
    let peak = memory(&pid).expect("the proxy is alive").peak;
    server.heal();
    assert!(
        echoes(proxy_addr),
        "{behaviour:?}: no echo through the proxy"
    );
    peak
}

#[test]
fn a_proxy_process_stays_small_while_a_server_streams_a_huge_frame_through_it() {
    each(
        &[Hostile::EndlessFrame, Hostile::OversizedFrame],
        |behaviour| {
            let peak = proxy_process_peak(behaviour);
            assert!(
                peak < MEMORY_BOUND,
                "{behaviour:?}: peak {} MiB",
                peak >> 20
            );
        },
    );
}
