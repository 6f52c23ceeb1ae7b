//! Servers that complete the upgrade by hand and then misbehave: the client must stay bounded in
//! memory and time, close with the RFC's code, and count the right cause.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::common::raw::*;
use crate::common::*;
use wschaos::report::Report;
use wschaos::scenario::*;

/// One client without heartbeats that reconnects only after 5 s (one connection to look at).
fn one_connection(url: TargetUrl, duration_ms: u64) -> Scenario {
    let mut s = scenario(url, 1, ms(duration_ms));
    s.clients.heartbeat.mode = HeartbeatMode::None;
    s.clients.reconnect.initial = ms(5000);
    s.clients.reconnect.max = ms(5000);
    s
}

/// What the server saw of the client on the misbehaving connection.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// Close code of the client's close frame, if one came.
    close: Option<Option<u16>>,
    /// Payload bytes the server managed to write before the client let go.
    written: u64,
}

/// Upgrades, then lets `misbehave` write to the socket while another thread records the
/// client's close frame.
fn hostile(
    misbehave: impl Fn(&mut TcpStream, &Mutex<Seen>) + Send + Sync + 'static,
) -> (raw::RawServer, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    let server = RawServer::start(move |mut stream, index| {
        if !upgrade(&mut stream) || index > 0 {
            return;
        }
        if let Ok(mut reading) = stream.try_clone() {
            let log = log.clone();
            std::thread::spawn(move || {
                while let Some((op, payload)) = read_frame(&mut reading) {
                    if op == 0x8 {
                        log.lock().expect("seen").close = Some(close_code(&payload));
                        return;
                    }
                }
            });
        }
        misbehave(&mut stream, &log);
    });
    (server, seen)
}

fn run_against(server: &RawServer, duration_ms: u64) -> (Report, std::time::Duration) {
    let started = Instant::now();
    let report = run_scenario(one_connection(server.url(), duration_ms)).report;
    (report, started.elapsed())
}

#[test]
fn a_frame_declared_at_2_to_the_62_bytes_is_refused_on_its_header_with_1009() {
    const CHUNK: usize = 64 * 1024;
    const MAX_STREAMED: u64 = 256 << 20;
    let (server, seen) = hostile(|stream, seen| {
        let mut header = vec![0x81, 127];
        header.extend_from_slice(&(1u64 << 62).to_be_bytes());
        if stream.write_all(&header).is_err() {
            return;
        }
        let chunk = vec![b'x'; CHUNK];
        let mut written = 0;
        while written < MAX_STREAMED && stream.write_all(&chunk).is_ok() {
            written += CHUNK as u64;
        }
        seen.lock().expect("seen").written = written;
    });
    let (report, took) = run_against(&server, 1500);
    let c = &report.counters;
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    assert_eq!(c.disconnects(), 1, "{c:?}");
    assert!(took < ms(5000), "the run took {took:?}");
    std::thread::sleep(ms(200));
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(seen.close, Some(Some(1009)), "{seen:?}");
    assert!(
        seen.written < 64 << 20,
        "the client kept reading the payload: {seen:?}"
    );
}

/// The first connection gets `frame` right after the upgrade; returns the report and what the
/// server saw.
fn one_frame(frame_bytes: Vec<u8>) -> (Report, Seen) {
    let (server, seen) = hostile(move |stream, _| {
        let _ = stream.write_all(&frame_bytes);
        std::thread::sleep(ms(1500));
    });
    let (report, _) = run_against(&server, 800);
    std::thread::sleep(ms(200));
    let seen = seen.lock().expect("seen").clone();
    (report, seen)
}

#[test]
fn a_frame_with_a_reserved_bit_set_is_a_protocol_error_not_an_io_error() {
    let (report, _) = one_frame(frame(0xC1, b"hi")); // FIN + RSV1 + text, nothing negotiated
    let c = &report.counters;
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    assert_eq!(c.disconnects_io_error, 0, "{c:?}");
}

#[test]
fn a_text_frame_that_is_not_utf8_closes_1007_as_a_protocol_error() {
    let (report, seen) = one_frame(frame(0x81, &[b'h', 0xff, 0xfe]));
    let c = &report.counters;
    assert_eq!(c.disconnects_protocol_error, 1, "{c:?}");
    assert_eq!(c.disconnects(), 1, "{c:?}");
    assert_eq!(seen.close, Some(Some(1007)), "{seen:?}");
}

/// A server whose sockets take (almost) nothing: a 4 KiB receive buffer (no autotuning) and a
/// script that completes the upgrade and never reads again.
fn never_reads() -> RawServer {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    socket.listen(64).expect("listen");
    RawServer::start_on(TcpListener::from(socket), |mut stream, _| {
        if upgrade(&mut stream) {
            std::thread::sleep(ms(6000));
        }
    })
}

const MESSAGE_SIZE: usize = 65536;

#[test]
fn a_server_that_never_reads_fills_only_send_buffer_per_connection_and_the_rest_is_dropped() {
    let server = never_reads();
    let mut s = scenario(server.url(), 20, ms(2000));
    s.clients.heartbeat.mode = HeartbeatMode::None;
    s.clients.messages = Some(Messages {
        rate: MessageRate::PerSecond(100.0),
        size: MESSAGE_SIZE,
    });
    let c = run_scenario(s).report.counters;
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

    let server = never_reads();
    let TargetUrl::Ws(url) = server.url() else {
        unreachable!("a raw server has a ws:// url")
    };
    let s = scenario(server.url(), 1, ms(2000));
    let cfg = ClientConfig {
        endpoint: Endpoint::new(&url, server.addr, &s.target, 1 << 16),
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
    assert!(server.accepted().len() >= 2);
}

/// A scenario file's text against a never-reading server: 5 clients without heartbeats sending
/// 64 KiB messages at 100/s for 2 s, reconnecting only after 5 s, plus `extra` client keys.
fn never_read_scenario(server: &RawServer, extra: &str) -> Scenario {
    let yaml = format!(
        "name: send-limits\nduration: 2s\ntarget:\n  url: \"ws://{}/\"\nclients:\n  count: 5\n  \
         heartbeat: {{mode: none}}\n  reconnect: {{backoff: fixed, initial: 5s, max: 5s}}\n  \
         messages: {{rate: 100/s, size: {MESSAGE_SIZE}}}\n{extra}",
        server.addr
    );
    parse(&yaml, "send-limits.yaml").expect("a valid scenario")
}

#[test]
fn send_buffer_from_the_scenario_file_reaches_the_clients() {
    let default = run_scenario(never_read_scenario(&never_reads(), ""))
        .report
        .counters;
    let small = run_scenario(never_read_scenario(
        &never_reads(),
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
    let default = run_scenario(never_read_scenario(&never_reads(), ""))
        .report
        .counters;
    let dir = tempfile::tempdir().expect("temp dir");
    let finished = run_scenario_in(
        never_read_scenario(&never_reads(), "  send_timeout: 300ms\n"),
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
