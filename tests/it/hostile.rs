//! Hostile servers (`common::hostile`, one misbehaviour each), first against the client, then
//! behind the chaos proxy. Against the client: a run ends on time, every client stops, the
//! cause is counted under its exact name, and memory stays bounded (a case must not grow this
//! process's peak by `MEMORY_BOUND`; the cases that stream most also run in a child process,
//! measured alone). Behind the proxy: the proxy neither crashes nor wedges (every connection it
//! held closes, and a fresh client through it still gets its echo) and stays small too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::hostile::*;
use crate::common::*;
use wschaos::chaos::{ProxyConfig, ProxyControl, ProxyStats};
use wschaos::metrics::Counters;
use wschaos::report::Report;
use wschaos::scenario::*;

const CLIENTS: u32 = 2;
const DURATION_MS: u64 = 1500;
/// How long past its duration a run may take.
const LATE_BY_AT_MOST: Duration = Duration::from_secs(3);
/// What a case may add to a process's peak resident memory. The tests share one process and
/// run in parallel, so this is generous; a client that buffered a streamed payload would pass
/// it within a second.
const MEMORY_BOUND: u64 = 256 << 20;
/// Cases run at once by `each`.
const AT_ONCE: usize = 4;

/// Runs `check` on every case, `AT_ONCE` at a time; a failure in any fails the test.
fn each<T: Copy + Send + Sync>(cases: &[T], check: impl Fn(T) + Sync) {
    for batch in cases.chunks(AT_ONCE) {
        std::thread::scope(|scope| {
            for case in batch {
                scope.spawn(|| check(*case));
            }
        });
    }
}

/// This process's memory now; `grew_less_than_bound` after the case compares.
struct MemoryWatch(Memory);

impl MemoryWatch {
    fn start() -> Self {
        Self(memory("self").expect("/proc/self/status"))
    }

    fn grew_less_than_bound(self, what: &str) {
        let after = memory("self").expect("/proc/self/status");
        let peak = after.peak.saturating_sub(self.0.peak);
        let now = after.now.saturating_sub(self.0.now);
        assert!(
            peak < MEMORY_BOUND && now < MEMORY_BOUND,
            "{what}: memory grew by {} MiB at peak, {} MiB now",
            peak >> 20,
            now >> 20
        );
    }
}

/// Runs `s` and checks what holds for every hostile case: on time, every client stopped, the
/// server dialled, memory bounded.
fn run_case(server: &HostileServer, s: Scenario, what: &str) -> Report {
    let (duration, clients) = (s.duration, s.clients.count);
    let memory = MemoryWatch::start();
    let started = Instant::now();
    let report = run_scenario(s).report;
    let took = started.elapsed();
    assert!(
        took < duration + LATE_BY_AT_MOST,
        "{what}: the run took {took:?}"
    );
    assert_eq!(
        report.counters.clients_stopped,
        u64::from(clients),
        "{what}: every client stopped: {:?}",
        report.counters
    );
    assert!(server.accepted() >= 1, "{what}: never dialled");
    memory.grew_less_than_bound(what);
    report
}

/// Two clients with short heartbeats and reconnects.
fn two_clients(url: TargetUrl) -> Scenario {
    let mut s = scenario(url, CLIENTS, ms(DURATION_MS));
    s.clients.connect_timeout = ms(500);
    s.clients.heartbeat.interval = ms(200);
    s.clients.heartbeat.timeout = ms(300);
    s.clients.reconnect.initial = ms(100);
    s
}

/// Runs two clients against `behaviour`.
fn run_against(behaviour: Hostile) -> Report {
    let server = HostileServer::start(behaviour);
    run_case(
        &server,
        two_clients(server.url()),
        &format!("{behaviour:?}"),
    )
}

/// One client without heartbeats that reconnects only after 5 s (one connection to look at);
/// returns the report and what the server saw on that connection.
fn run_one(behaviour: Hostile, duration_ms: u64) -> (Report, Seen) {
    let server = HostileServer::start(behaviour);
    let mut s = scenario(server.url(), 1, ms(duration_ms));
    s.clients.heartbeat.mode = HeartbeatMode::None;
    s.clients.reconnect.initial = ms(5000);
    s.clients.reconnect.max = ms(5000);
    let report = run_case(&server, s, &format!("{behaviour:?}"));
    std::thread::sleep(ms(200));
    let seen = server.seen().first().cloned().unwrap_or_default();
    (report, seen)
}

#[test]
fn a_failed_upgrade_is_a_connect_failure() {
    each(
        &[
            Hostile::NoUpgrade,
            Hostile::Ok200,
            Hostile::WrongAccept,
            Hostile::NoConnectionUpgrade,
        ],
        |behaviour| {
            let c = run_against(behaviour).counters;
            assert_eq!(c.clients_connected, 0, "{behaviour:?}: {c:?}");
            assert!(c.connect_failures >= 2, "{behaviour:?}: {c:?}");
        },
    );
}

#[test]
fn a_broken_frame_is_a_protocol_error() {
    each(
        &[
            Hostile::GarbageAfterUpgrade,
            Hostile::MaskedFrame,
            Hostile::ReservedOpcode,
            Hostile::FragmentedControl,
            Hostile::ReservedBit,
            Hostile::InvalidUtf8,
            Hostile::EndlessFrame,
            Hostile::OversizedFrame,
        ],
        |behaviour| {
            let c = run_against(behaviour).counters;
            assert!(c.clients_connected >= 1, "{behaviour:?}: {c:?}");
            assert!(c.disconnects_protocol_error >= 1, "{behaviour:?}: {c:?}");
            assert_eq!(
                c.disconnects_protocol_error,
                c.disconnects(),
                "{behaviour:?}: nothing else: {c:?}"
            );
        },
    );
}

#[test]
fn a_server_that_never_answers_is_a_heartbeat_timeout_even_while_it_floods_pings() {
    each(&[Hostile::IgnoresPings, Hostile::PingFlood], |behaviour| {
        let c = run_against(behaviour).counters;
        assert!(c.clients_connected >= 1, "{behaviour:?}: {c:?}");
        assert_eq!(c.heartbeat_acks, 0, "{behaviour:?}: {c:?}");
        assert!(c.disconnects_heartbeat_timeout >= 1, "{behaviour:?}: {c:?}");
    });
}

/// Close codes a server may send (RFC 6455 §7.4 and IANA's registry), and ones it may not.
const VALID_CLOSE_CODES: [u16; 16] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
];
const INVALID_CLOSE_CODES: [u16; 10] = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535];

#[test]
fn a_valid_close_code_is_counted_under_its_code() {
    each(&VALID_CLOSE_CODES, |code| {
        let report = run_against(Hostile::CloseCode(code));
        let c = &report.counters;
        assert!(c.disconnects_close_frame >= 1, "{code}: {c:?}");
        assert_eq!(
            report.close_codes.get(&code.to_string()).copied(),
            Some(c.disconnects_close_frame),
            "{code}: {:?}",
            report.close_codes
        );
    });
}

#[test]
fn an_invalid_close_code_is_a_protocol_error() {
    each(&INVALID_CLOSE_CODES, |code| {
        let c = run_against(Hostile::CloseCode(code)).counters;
        assert!(c.disconnects_protocol_error >= 1, "{code}: {c:?}");
        assert_eq!(c.disconnects_close_frame, 0, "{code}: {c:?}");
    });
}

#[test]
fn a_reset_mid_frame_is_an_io_error() {
    let c = run_against(Hostile::ResetMidFrame).counters;
    assert!(c.clients_connected >= 1, "{c:?}");
    assert!(c.disconnects_io_error >= 1, "{c:?}");
}

#[test]
fn a_frame_declared_at_2_to_the_62_bytes_is_refused_on_its_header_with_1009() {
    let started = Instant::now();
    let (report, seen) = run_one(Hostile::EndlessFrame, 1500);
    let c = &report.counters;
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    assert_eq!(c.disconnects(), 1, "{c:?}");
    assert!(started.elapsed() < ms(5000), "took {:?}", started.elapsed());
    assert_eq!(seen.close, Some(Some(1009)), "{seen:?}");
    assert!(
        seen.written < 64 << 20,
        "the client kept reading the payload: {seen:?}"
    );
}

#[test]
fn a_16_mib_frame_over_the_frame_limit_is_refused_on_its_header_with_1009() {
    let (report, seen) = run_one(Hostile::OversizedFrame, 1000);
    let c = &report.counters;
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    assert_eq!(c.disconnects(), 1, "{c:?}");
    assert_eq!(seen.close, Some(Some(1009)), "{seen:?}");
    assert!(seen.written < OVERSIZED, "the client read it all: {seen:?}");
}

#[test]
fn a_frame_with_a_reserved_bit_set_is_a_protocol_error_not_an_io_error() {
    let (report, _) = run_one(Hostile::ReservedBit, 800);
    let c = &report.counters;
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    assert_eq!(c.disconnects_io_error, 0, "{c:?}");
}

#[test]
fn a_text_frame_that_is_not_utf8_closes_1007_as_a_protocol_error() {
    let (report, seen) = run_one(Hostile::InvalidUtf8, 800);
    let c = &report.counters;
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    assert_eq!(c.disconnects(), 1, "{c:?}");
    assert_eq!(seen.close, Some(Some(1007)), "{seen:?}");
}

const MESSAGE_SIZE: usize = 65536;

/// `count` clients sending 64 KiB messages 100 times a second, no heartbeats.
fn flooding(url: TargetUrl, count: u32, duration_ms: u64) -> Scenario {
    let mut s = scenario(url, count, ms(duration_ms));
    s.clients.heartbeat.mode = HeartbeatMode::None;
    s.clients.messages = Some(Messages {
        rate: MessageRate::PerSecond(100.0),
        size: MESSAGE_SIZE,
    });
    s
}

#[test]
fn a_server_that_never_reads_fills_only_send_buffer_per_connection_and_the_rest_is_dropped() {
    let server = HostileServer::start(Hostile::NeverReads);
    let c = run_case(&server, flooding(server.url(), 20, 2000), "NeverReads").counters;
    assert!(c.messages_dropped_backpressure > 0, "{c:?}");
    // What one connection can hold: the kernel's send buffer (at most 4 MiB here), the server's
    // 4 KiB and our own send_buffer (1 MiB) plus the message that crossed it. Unbounded, every
    // one of the ~200 messages per client would have been queued.
    let per_connection = (5 << 20) / MESSAGE_SIZE as u64 + 2;
    assert!(
        c.messages_sent <= 20 * per_connection,
        "{} messages queued: {c:?}",
        c.messages_sent
    );
    assert_eq!(c.connects, 20, "{c:?}");
}

#[test]
fn a_connection_whose_socket_takes_nothing_for_send_timeout_is_dead_and_reconnects() {
    use wschaos::client::{Client, ClientConfig, Endpoint, Stop};
    use wschaos::metrics::take_local;

    let server = HostileServer::start(Hostile::NeverReads);
    let TargetUrl::Ws(url) = server.url() else {
        unreachable!("a hostile server has a ws:// url")
    };
    let s = scenario(server.url(), 1, ms(2000));
    let cfg = ClientConfig {
        endpoint: Endpoint::new(&url, server.addr(), &s.target, 1 << 16),
        connect_timeout: ms(1000),
        heartbeat: Heartbeat {
            mode: HeartbeatMode::None,
            ..s.clients.heartbeat.clone()
        },
        reconnect: s.clients.reconnect.clone(),
        messages: Some(Messages {
            rate: MessageRate::PerSecond(100.0),
            size: MESSAGE_SIZE,
        }),
        source_ips: Vec::new(),
        close_grace: ms(100),
        seed: 1,
        started: Instant::now(),
        identify: false,
        tcp_keepalive: None,
        send_buffer: 1 << 20,
        send_timeout: ms(300),
        timer_resolution: wschaos::client::DEFAULT_TIMER_RESOLUTION,
        on_open: Vec::new(),
        stream: None,
        app: wschaos::client::AppProtocol::Raw,
    }
    .shared();
    let counters = actix_rt::System::new().block_on(async move {
        use actix::Actor;
        take_local();
        let client = Client::new(0, cfg).start();
        tokio::time::sleep(ms(1500)).await;
        let _ = client.send(Stop).await;
        tokio::time::sleep(ms(300)).await;
        take_local().counters
    });
    let c = &counters;
    assert!(c.disconnects_send_timeout >= 1, "{c:?}");
    assert_eq!(c.disconnects(), c.disconnects_send_timeout, "{c:?}");
    assert!(c.connects >= 2, "reconnected after the send timeout: {c:?}");
    assert!(server.accepted() >= 2);
}

/// A scenario file's text against a never-reading server: 5 clients without heartbeats sending
/// 64 KiB messages at 100/s for 2 s, reconnecting only after 5 s, plus `extra` client keys.
fn never_read_scenario(server: &HostileServer, extra: &str) -> Scenario {
    let yaml = format!(
        "name: send-limits\nduration: 2s\ntarget:\n  url: \"ws://{}/\"\nclients:\n  count: 5\n  \
         heartbeat: {{mode: none}}\n  reconnect: {{backoff: fixed, initial: 5s, max: 5s}}\n  \
         messages: {{rate: 100/s, size: {MESSAGE_SIZE}}}\n{extra}",
        server.addr()
    );
    parse(&yaml, "send-limits.yaml").expect("a valid scenario")
}

#[test]
fn send_buffer_from_the_scenario_file_reaches_the_clients() {
    let default = run_scenario(never_read_scenario(
        &HostileServer::start(Hostile::NeverReads),
        "",
    ))
    .report
    .counters;
    let small = run_scenario(never_read_scenario(
        &HostileServer::start(Hostile::NeverReads),
        "  send_buffer: 64KiB\n",
    ))
    .report
    .counters;
    assert_eq!(default.connects, 5, "{default:?}");
    assert_eq!(small.connects, 5, "{small:?}");
    assert!(small.messages_dropped_backpressure > 0, "{small:?}");
    // Both runs hold the same kernel buffers; only the client's own queue differs (1 MiB
    // against 64 KiB, 15 messages of 64 KiB per connection).
    assert!(
        small.messages_sent + 5 * 8 <= default.messages_sent,
        "64 KiB queue sent {} messages, the 1 MiB default {}",
        small.messages_sent,
        default.messages_sent
    );
}

#[test]
fn send_timeout_from_the_scenario_file_reaches_the_clients() {
    let default = run_scenario(never_read_scenario(
        &HostileServer::start(Hostile::NeverReads),
        "",
    ))
    .report
    .counters;
    let dir = tempfile::tempdir().expect("temp dir");
    let finished = run_scenario_in(
        never_read_scenario(
            &HostileServer::start(Hostile::NeverReads),
            "  send_timeout: 300ms\n",
        ),
        dir.path(),
        wschaos::run::RunOptions::default(),
    );
    let short = &finished.report.counters;
    // The 10 s default never fires in a 2 s run; 300 ms fires on every stuck connection.
    assert_eq!(default.disconnects_send_timeout, 0, "{default:?}");
    assert!(short.disconnects_send_timeout >= 1, "{short:?}");
    assert_eq!(
        short.disconnects(),
        short.disconnects_send_timeout,
        "{short:?}"
    );

    // The cause reaches the report files: its row in summary.md, the chart legend and the
    // counters of report.html, and the per-second timeline of report.json.
    let n = short.disconnects_send_timeout;
    let read = |name: &str| std::fs::read_to_string(finished.dir.join(name)).expect(name);
    let markdown = read("summary.md");
    assert!(
        markdown.contains(&format!(
            "| send timeout (the socket took no bytes) | {n} |"
        )),
        "{markdown}"
    );
    let html = read("report.html");
    assert!(html.contains(">send timeout</text>"), "{html}");
    assert!(
        html.contains(&format!(
            "<tr><td>disconnects_send_timeout</td><td>{n}</td></tr>"
        )),
        "{html}"
    );
    let per_second: u64 = finished
        .report
        .timeline
        .iter()
        .filter_map(|p| p.disconnects_by_cause.count("disconnects_send_timeout"))
        .sum();
    assert_eq!(per_second, n);
}

/// `wschaos run` in a child process against `behaviour`: its own peak memory (read from /proc
/// while it runs) and its report's counters.
fn run_in_child(behaviour: Hostile) -> (u64, Counters) {
    let server = HostileServer::start(behaviour);
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "name: hostile\nseed: 1\nduration: 1500ms\ntarget: {{url: \"ws://{}/\"}}\n\
         clients: {{count: 2, heartbeat: {{interval: 200ms, timeout: 300ms}},\n  \
         reconnect: {{backoff: fixed, initial: 100ms, jitter: none}}}}\n",
        server.addr()
    );
    let file = scenario_file(dir.path(), "hostile.yaml", &yaml);
    let out = dir.path().join("out");
    let mut child = run_command(&file, &out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start wschaos run");
    let (peak, ok) = peak_memory_until_exit(&mut child, ms(1500) + LATE_BY_AT_MOST);
    assert!(ok, "{behaviour:?}: the run failed");
    let report: Report = serde_json::from_value(read_json(&out.join("report.json")))
        .expect("a report.json wschaos reads");
    (peak, report.counters)
}

#[test]
fn a_client_process_stays_small_while_a_server_streams_a_huge_frame_at_it() {
    each(
        &[Hostile::EndlessFrame, Hostile::OversizedFrame],
        |behaviour| {
            let (peak, c) = run_in_child(behaviour);
            assert!(
                peak < MEMORY_BOUND,
                "{behaviour:?}: peak {} MiB",
                peak >> 20
            );
            assert!(c.disconnects_protocol_error >= 1, "{behaviour:?}: {c:?}");
            assert_eq!(c.disconnects(), c.disconnects_protocol_error, "{c:?}");
        },
    );
}

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
