//! `target.protocol: socketio` against real third-party servers: Node's `socket.io` 4.x
//! (`tests/socketio/server.js`) and python-socketio on aiohttp (`tests/socketio/server.py`),
//! each started by its test as a child process that prints its port and pid, a line per closed
//! session and, on SIGUSR2, the pings it sent and the pongs it got. Skipped, with a note, where
//! `node` and `tests/socketio/node_modules` (`npm ci --prefix tests/socketio`) or `python3` with
//! python-socketio and aiohttp are missing. Also: Socket.IO clients against `wschaos serve`
//! (no Socket.IO at all) and raw clients against a Socket.IO server.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::child_server::{ChildServer, node_missing_in, node_project};
use crate::common::*;
use wschaos::report::Report;
use wschaos::scenario::parse;

/// The Node server's heartbeat (its defaults, passed explicitly): a ping every 300 ms, 200 ms
/// for each pong.
const NODE_PING_INTERVAL_MS: u64 = 300;
const NODE_PING_TIMEOUT_MS: u64 = 200;
/// How much later than pingInterval + pingTimeout a client may declare the server dead.
const DETECTION_SLACK_MS: u64 = 100;

fn socketio_dir() -> PathBuf {
    node_project("socketio")
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A Socket.IO server child process, killed when dropped.
struct SioServer {
    child: ChildServer,
    pid: i32,
}

impl SioServer {
    /// `node server.js ARGS`; `None` (after a printed note) where it cannot run.
    fn node(test: &str, args: &[&str]) -> Option<Self> {
        if let Some(why) = node_missing_in("socketio", "socket.io") {
            eprintln!("SKIPPED socketio::{test}: {why}");
            return None;
        }
        let mut command = Command::new("node");
        command.arg(socketio_dir().join("server.js")).args(args);
        Some(Self::start(command))
    }

    /// `python3 server.py ARGS`; `None` (after a printed note) where it cannot run.
    fn python(test: &str, args: &[&str]) -> Option<Self> {
        if !succeeds(Command::new("python3").args(["-c", "import socketio, aiohttp"])) {
            eprintln!(
                "SKIPPED socketio::{test}: python3 with python-socketio and aiohttp is missing \
                 (pip install python-socketio aiohttp)"
            );
            return None;
        }
        let mut command = Command::new("python3");
        command.arg(socketio_dir().join("server.py")).args(args);
        Some(Self::start(command))
    }

    fn start(command: Command) -> Self {
        let child = ChildServer::start(command);
        let pid = child
            .lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the pid line")
            .trim()
            .parse()
            .expect("a pid on the second line");
        Self { child, pid }
    }

    fn yaml(&self, count: u32, duration: &str, target: &str, clients: &str) -> String {
        format!(
            "name: sio\nduration: {duration}\ntarget:\n  url: ws://127.0.0.1:{}\n  \
             protocol: socketio\n{target}clients:\n  count: {count}\n  connect_timeout: 2s\n  \
             reconnect: {{backoff: fixed, initial: 100ms, jitter: none}}\n{clients}",
            self.child.port
        )
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child process, still running (it is killed on drop).
        assert_eq!(unsafe { libc::kill(self.pid, signal) }, 0);
    }

    /// Lines printed until one starts with `last` (included), at most 10 s.
    fn lines_until(&self, last: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.child.lines.recv_timeout(left) else {
                break;
            };
            let done = line.starts_with(last);
            lines.push(line);
            if done {
                return lines;
            }
        }
        panic!("no line starting with {last:?} within 10 s; printed {lines:?}");
    }

    /// Pings the server sent and pongs it received so far (and the lines printed before).
    fn stats(&self) -> (u64, u64, Vec<String>) {
        self.signal(libc::SIGUSR2);
        let mut lines = self.lines_until("stats ");
        let stats = lines.pop().unwrap_or_default();
        let json: serde_json::Value =
            serde_json::from_str(stats.trim_start_matches("stats ")).expect("stats JSON");
        let count = |key: &str| json[key].as_u64().expect("a count");
        (count("pings"), count("pongs"), lines)
    }
}

fn run_yaml(yaml: &str) -> Report {
    let scenario = parse(yaml, "socketio.yaml").expect("a valid scenario");
    run_scenario(scenario).report
}

fn ms_of(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Every client stays connected, answers every ping (the server got a pong for each ping it
/// sent, but those still in flight), and its acked events give message round trips. Returns
/// the lines the server printed meanwhile.
fn stays_connected_and_answers_every_ping(
    server: &SioServer,
    report: &Report,
    clients: u64,
    ping_interval_ms: u64,
) -> Vec<String> {
    let c = &report.counters;
    let h = &report.histograms;
    assert_eq!(c.clients_connected, clients, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert_eq!(c.disconnects(), 0, "{c:?}");
    let duration_ms = report.elapsed_s * 1000.0;
    let expected_each = duration_ms / (ping_interval_ms as f64 + 50.0);
    assert!(
        c.socketio_pings as f64 >= clients as f64 * (expected_each - 2.0),
        "{} pings for {clients} clients in {duration_ms} ms",
        c.socketio_pings
    );
    let (pings, pongs, printed) = server.stats();
    assert!(
        pongs <= pings && pings <= pongs + clients,
        "server: {pings} pings, {pongs} pongs"
    );
    assert!(
        pongs <= c.socketio_pings && c.socketio_pings <= pongs + clients,
        "server got {pongs} pongs, clients answered {} pings",
        c.socketio_pings
    );
    // Every pong written, and soon.
    let answer = &h["send_lag_heartbeat"];
    assert_eq!(answer.count, c.socketio_pings, "{answer:?}");
    assert!(answer.p99 < 50_000, "pong answer time {answer:?}");
    let interval = &h["socketio_ping_gap"];
    assert!(interval.count >= c.socketio_pings - clients, "{interval:?}");
    let interval_ms = ping_interval_ms * 1000;
    assert!(
        (interval_ms..interval_ms + 100_000).contains(&interval.p50),
        "observed ping interval {interval:?}"
    );
    assert!(c.messages_received > 0, "{c:?}");
    assert!(c.messages_received + clients >= c.messages_sent, "{c:?}");
    assert_eq!(h["message_rtt"].count, c.messages_received);
    eprintln!(
        "observed: ping interval p50 {:.1} ms p99 {:.1} ms; pong answer p50 {:.3} ms p99 {:.3} ms; \
         event ack RTT p50 {:.2} ms p99 {:.2} ms; {} pings, server {pings} pings {pongs} pongs",
        ms_of(interval.p50),
        ms_of(interval.p99),
        ms_of(answer.p50),
        ms_of(answer.p99),
        ms_of(h["message_rtt"].p50),
        ms_of(h["message_rtt"].p99),
        c.socketio_pings,
    );
    printed
}

#[test]
fn node_socketio_clients_stay_connected_answer_every_ping_and_get_acks_and_pushes() {
    let Some(server) = SioServer::node(
        "node_socketio_clients_stay_connected_answer_every_ping_and_get_acks_and_pushes",
        &[
            "--ping-interval",
            "300",
            "--ping-timeout",
            "200",
            "--push-interval",
            "100",
        ],
    ) else {
        return;
    };
    let yaml = server.yaml(
        4,
        "3s",
        "",
        "  messages: {rate: 5/s, size: 32}\n  stream: {seq: /seq, sent_at: /sent_at}\n",
    );
    let report = run_yaml(&yaml);
    let printed =
        stays_connected_and_answers_every_ping(&server, &report, 4, NODE_PING_INTERVAL_MS);
    let c = &report.counters;
    assert!(c.push_received >= 4 * 15, "{c:?}");
    assert_eq!(
        [c.push_gaps, c.push_duplicates, c.push_unparsed],
        [0, 0, 0],
        "{c:?}"
    );
    assert_eq!(report.histograms["push_latency"].count, c.push_received);
    let summary = wschaos::report::render_summary(&report);
    let line = format!(
        "heartbeat server pings {}, each answered  dead (no ping within pingInterval + \
         pingTimeout) 0\nsocketio  connect errors 0  server disconnects 0\n",
        c.socketio_pings
    );
    assert!(summary.contains(&line), "{summary}");
    // The end of the run: each client left the namespace (`41`) before its close frame.
    let left: Vec<&String> = printed.iter().filter(|l| l.starts_with("left ")).collect();
    assert_eq!(left.len(), 4, "{printed:?}");
    assert!(
        left.iter()
            .all(|l| *l == "left client_namespace_disconnect"),
        "{left:?}"
    );
}

#[test]
fn delay_pongs_holds_the_node_servers_pings_so_its_ping_interval_grows_by_the_delay() {
    let Some(server) = SioServer::node(
        "delay_pongs_holds_the_node_servers_pings_so_its_ping_interval_grows_by_the_delay",
        &["--ping-interval", "300", "--ping-timeout", "200"],
    ) else {
        return;
    };
    let yaml = server.yaml(
        3,
        "2500ms",
        "",
        "faults:\n  - {kind: delay_pongs, at: 0s, duration: 2500ms, delay: 120ms}\n",
    );
    let report = run_yaml(&yaml);
    let c = &report.counters;
    assert_eq!(
        c.disconnects(),
        0,
        "120 ms is inside the server's 200 ms: {c:?}"
    );
    // The server times its next ping from the pong, which comes 120 ms later than it would.
    let interval = &report.histograms["socketio_ping_gap"];
    assert!(
        ((300 + 120) * 1000..(300 + 120 + 80) * 1000).contains(&interval.p50),
        "{interval:?}"
    );
    assert!(
        report.histograms["send_lag_heartbeat"].p99 < 50_000,
        "pongs leave at once"
    );
    eprintln!(
        "observed: delay_pongs 120 ms: ping interval p50 {:.1} ms",
        ms_of(interval.p50)
    );
}

#[test]
fn the_standalone_proxy_with_socketio_drops_the_servers_pings() {
    let Some(server) = SioServer::node(
        "the_standalone_proxy_with_socketio_drops_the_servers_pings",
        &["--ping-interval", "300", "--ping-timeout", "200"],
    ) else {
        return;
    };
    let upstream = format!("ws://127.0.0.1:{}", server.child.port);
    let (_proxy, addr) = start(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--socketio",
        "--fault",
        "stop_acking",
    ]);
    let yaml = server.yaml(2, "1500ms", "", "").replace(
        &format!("127.0.0.1:{}", server.child.port),
        &addr.to_string(),
    );
    let c = run_yaml(&yaml).counters;
    assert_eq!(c.socketio_pings, 0, "every ping dropped: {c:?}");
    assert!(c.connects >= 2 && c.disconnects() >= 2, "{c:?}");
}

#[test]
fn python_socketio_clients_stay_connected_and_answer_every_ping() {
    let Some(server) = SioServer::python(
        "python_socketio_clients_stay_connected_and_answer_every_ping",
        &["--ping-interval", "1000", "--ping-timeout", "500"],
    ) else {
        return;
    };
    let yaml = server.yaml(3, "3500ms", "", "  messages: {rate: 5/s, size: 32}\n");
    let report = run_yaml(&yaml);
    stays_connected_and_answers_every_ping(&server, &report, 3, 1000);
}

#[test]
fn when_the_node_server_stops_pinging_every_client_detects_it_in_time_and_reconnects() {
    let Some(server) = SioServer::node(
        "when_the_node_server_stops_pinging_every_client_detects_it_in_time_and_reconnects",
        &["--ping-interval", "300", "--ping-timeout", "200"],
    ) else {
        return;
    };
    let yaml = server.yaml(4, "2500ms", "", "");
    let report = std::thread::scope(|scope| {
        let run = scope.spawn(|| run_yaml(&yaml));
        std::thread::sleep(ms(1000));
        server.signal(libc::SIGUSR1);
        run.join().expect("the run")
    });
    let lines = server.lines_until("stopped-pinging");
    assert_eq!(lines.last().map(String::as_str), Some("stopped-pinging 4"));
    // Each stopped session: the client dropped it (`transport close`) within pingInterval +
    // pingTimeout (+ slack) of the last ping the server sent.
    let (_, _, closed) = server.stats();
    let since_last_ping: Vec<u64> = closed
        .iter()
        .filter_map(|l| l.strip_prefix("closed transport_close "))
        .filter_map(|l| l.strip_suffix(" stopped"))
        .map(|ms| ms.parse().expect("milliseconds"))
        .collect();
    let limit = NODE_PING_INTERVAL_MS + NODE_PING_TIMEOUT_MS + DETECTION_SLACK_MS;
    assert_eq!(since_last_ping.len(), 4, "{closed:?}");
    for since in &since_last_ping {
        assert!(
            (NODE_PING_INTERVAL_MS + NODE_PING_TIMEOUT_MS - 50..=limit).contains(since),
            "a client dropped its session {since} ms after the last ping ({closed:?})"
        );
    }
    eprintln!("observed: sessions dropped {since_last_ping:?} ms after the server's last ping");
    let c = &report.counters;
    assert_eq!(c.disconnects_heartbeat_timeout, 4, "{c:?}");
    assert_eq!(c.disconnects(), 4, "{c:?}");
    assert_eq!(c.reconnects, 4, "{c:?}");
    assert_eq!(c.heartbeat_misses, 4, "{c:?}");
}

#[test]
fn stop_acking_through_the_proxy_is_detected_within_ping_interval_plus_timeout() {
    let Some(server) = SioServer::node(
        "stop_acking_through_the_proxy_is_detected_within_ping_interval_plus_timeout",
        &["--ping-interval", "300", "--ping-timeout", "200"],
    ) else {
        return;
    };
    let yaml = server.yaml(
        4,
        "3s",
        "",
        "faults:\n  - {kind: stop_acking, at: 1s, duration: 1s}\n",
    );
    let report = run_yaml(&yaml);
    let fault = &report.faults[0];
    assert_eq!(fault.noticed, 4, "{fault:?}");
    assert_eq!(fault.reopened, 4, "{fault:?}");
    let detection = fault.detection_us.expect("detection figures");
    let limit_us = (NODE_PING_INTERVAL_MS + NODE_PING_TIMEOUT_MS + DETECTION_SLACK_MS) * 1000;
    assert!(detection.max <= limit_us, "{detection:?}");
    let c = &report.counters;
    // The dropped pings: either the client's deadline fired, or the server (no pong in its
    // pingTimeout) closed the session first.
    assert!(
        c.disconnects_heartbeat_timeout + c.disconnects_close_frame + c.disconnects_server_gone
            >= 4,
        "{c:?}"
    );
    eprintln!(
        "observed: stop_acking detection p50 {:.1} ms max {:.1} ms (pingInterval + pingTimeout \
         = {} ms); heartbeat timeouts {}, close frames {}",
        ms_of(detection.p50),
        ms_of(detection.max),
        NODE_PING_INTERVAL_MS + NODE_PING_TIMEOUT_MS,
        c.disconnects_heartbeat_timeout,
        c.disconnects_close_frame,
    );
}

#[test]
fn a_namespace_that_refuses_the_connect_is_a_counted_error_and_auth_lets_clients_in() {
    let Some(server) = SioServer::node(
        "a_namespace_that_refuses_the_connect_is_a_counted_error_and_auth_lets_clients_in",
        &[],
    ) else {
        return;
    };
    let refused = run_yaml(&server.yaml(
        2,
        "1s",
        "  socketio: {namespace: /private}\n",
        "  messages: {rate: 5/s, size: 32}\n",
    ));
    let c = &refused.counters;
    assert!(c.socketio_connect_errors >= 2, "{c:?}");
    assert_eq!(
        c.disconnects_handshake_rejected, c.socketio_connect_errors,
        "{c:?}"
    );
    assert_eq!(c.disconnects(), c.socketio_connect_errors, "{c:?}");
    assert_eq!(c.messages_sent, 0, "never established: {c:?}");

    let admitted = run_yaml(&server.yaml(
        2,
        "1s",
        "  socketio: {namespace: /private, auth: {token: secret}}\n",
        "  messages: {rate: 5/s, size: 32}\n",
    ));
    let c = &admitted.counters;
    assert_eq!(c.disconnects(), 0, "{c:?}");
    assert_eq!(c.socketio_connect_errors, 0, "{c:?}");
    assert!(c.messages_received > 0, "acks in the namespace: {c:?}");
}

#[test]
fn socketio_clients_against_wschaos_serve_fail_as_protocol_errors_and_back_off() {
    let (_serve, addr) = start(&["serve", "--port", "0"]);
    let yaml = format!(
        "name: sio\nduration: 1500ms\ntarget:\n  url: ws://{addr}\n  protocol: socketio\n\
         clients:\n  count: 2\n  connect_timeout: 300ms\n  \
         reconnect: {{backoff: fixed, initial: 200ms, jitter: none}}\n  \
         messages: {{rate: 5/s, size: 32}}\n"
    );
    let c = run_yaml(&yaml).counters;
    // Each connection opens (the upgrade works), waits connect_timeout for the open packet
    // that never comes, and is a protocol error; then the backoff, then the next one.
    assert!(c.disconnects_protocol_error >= 2, "{c:?}");
    assert_eq!(c.disconnects(), c.disconnects_protocol_error, "{c:?}");
    assert!(
        c.connects <= 2 * 4,
        "one attempt per 300 ms + 200 ms at most: {c:?}"
    );
    assert_eq!([c.messages_sent, c.socketio_pings], [0, 0], "{c:?}");
}

#[test]
fn raw_clients_against_a_socketio_server_see_its_packets_as_pushes_and_are_closed() {
    let Some(server) = SioServer::node(
        "raw_clients_against_a_socketio_server_see_its_packets_as_pushes_and_are_closed",
        &["--ping-interval", "300", "--ping-timeout", "200"],
    ) else {
        return;
    };
    let yaml = format!(
        "name: raw\nduration: 1500ms\ntarget:\n  url: ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket\n\
         clients:\n  count: 2\n  heartbeat: {{mode: ping, interval: 200ms, timeout: 1s}}\n  \
         reconnect: {{backoff: fixed, initial: 100ms, jitter: none}}\n",
        server.child.port
    );
    let c = run_yaml(&yaml).counters;
    // The open packet and the pings are text frames a raw client only counts; the WebSocket
    // pings are answered (the ws library does); the pings go unanswered, so the server closes
    // each session after pingInterval + pingTimeout.
    assert!(c.push_received >= 2 * 2, "{c:?}");
    assert!(c.heartbeat_acks > 0, "{c:?}");
    assert!(c.disconnects() >= 2, "{c:?}");
    assert_eq!(
        c.disconnects(),
        c.disconnects_close_frame + c.disconnects_server_gone,
        "{c:?}"
    );
    assert_eq!(c.socketio_pings, 0, "{c:?}");
}
