//! Hostile servers (`common::hostile`, one misbehaviour each) against the client (behind the
//! chaos proxy: `hostile_proxy.rs`). A run ends on time, every client stops, the cause is
//! counted under its exact name, and memory stays bounded (a case must not grow this
//! process's peak by `MEMORY_BOUND`; the cases that stream most also run in a child process,
//! measured alone).

use std::time::{Duration, Instant};

use crate::common::hostile::*;
use crate::common::*;
use wschaos::metrics::Counters;
use wschaos::report::Report;
use wschaos::scenario::*;

pub(super) const CLIENTS: u32 = 2;
const DURATION_MS: u64 = 1500;
/// How long past its duration a run may take.
const LATE_BY_AT_MOST: Duration = Duration::from_secs(3);
/// What a case may add to a process's peak resident memory. The tests share one process and
/// run in parallel, so this is generous; a client that buffered a streamed payload would pass
/// it within a second.
pub(super) const MEMORY_BOUND: u64 = 256 << 20;
/// Cases run at once by `each`.
const AT_ONCE: usize = 4;

/// Runs `check` on every case, `AT_ONCE` at a time; a failure in any fails the test.
pub(super) fn each<T: Copy + Send + Sync>(cases: &[T], check: impl Fn(T) + Sync) {
    for batch in cases.chunks(AT_ONCE) {
        std::thread::scope(|scope| {
            for case in batch {
                scope.spawn(|| check(*case));
            }
        });
    }
}

/// This process's memory now; `grew_less_than_bound` after the case compares.
pub(super) struct MemoryWatch(Memory);

impl MemoryWatch {
    pub(super) fn start() -> Self {
        Self(memory("self").expect("/proc/self/status"))
    }

    pub(super) fn grew_less_than_bound(self, what: &str) {
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
pub(super) fn run_case(server: &HostileServer, s: Scenario, what: &str) -> Report {
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
pub(super) fn two_clients(url: TargetUrl) -> Scenario {
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
pub(super) fn flooding(url: TargetUrl, count: u32, duration_ms: u64) -> Scenario {
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
