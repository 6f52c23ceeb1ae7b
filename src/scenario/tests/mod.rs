//! Scenario parsing: the model a valid file becomes, defaults, and the errors of invalid ones.

use std::time::Duration;

use super::*;

mod errors;
mod errors_clients;
mod graphql_ws;
mod open_and_stream;
mod socketio;
mod stages;
mod target;
use crate::chaos::toxics::{
    Bandwidth, DelayAcks, DropAcks, FrameLoss, IdleTimeout, Latency, Partition,
};

/// A full scenario using every top-level key (the example the file format is documented with).
const FULL: &str = r#"name: flaky
seed: 42                      # replayable randomness; --seed overrides
duration: 60s
target:
  url: embedded               # or ws://host:port/path, wss://...
  # command: "node server.js" # external server the tool starts, kills and restarts
  # headers: {Authorization: "Bearer x"}
  # subprotocols: [chat]
clients:
  count: 2000
  ramp: 10s                   # arrivals spread evenly over ramp
  heartbeat: {mode: text, payload: "Heartbeat", ack: "Heartbeat", interval: 5s, timeout: 10s,
          max_missed: 1, reset_on: ack}
  reconnect: {backoff: exponential, initial: 500ms, max: 30s, multiplier: 2, jitter: full, max_attempts: 0}
  messages: {rate: 1/s, size: 64}   # or rate: closed (closed loop)
faults:
  - {kind: server_kill, at: 20s, downtime: 5s}
  - {kind: drop, at: 30s, fraction: 0.1, mode: reset}
thresholds: ["heartbeat_rtt.p99 < 50ms", "reconnect.success_rate >= 99.9%", "reconnect_time.p99 < 35s"]
"#;

/// The smallest valid scenario; error tests append to it or replace one of its lines.
pub(super) const MINIMAL: &str = "name: t
duration: 60s
target:
  url: embedded
clients:
  count: 10
";

fn ok(text: &str) -> Scenario {
    match parse(text, "s.yaml") {
        Ok(s) => s,
        Err(e) => panic!("expected a scenario, got: {e}"),
    }
}

pub(super) fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn full_scenario_parses_into_the_model() {
    let expected = Scenario {
        name: "flaky".into(),
        seed: 42,
        duration: secs(60),
        target: Target {
            url: TargetUrl::Embedded,
            headers: vec![],
            subprotocols: vec![],
            command: None,
            tls: None,
            push: None,
            max_conns: None,
            protocol: Protocol::Raw,
        },
        clients: Clients {
            count: 2000,
            stages: vec![Stage::Ramp {
                to: 2000,
                over: secs(10),
            }],
            connect_timeout: secs(10),
            heartbeat: Heartbeat {
                mode: HeartbeatMode::Text {
                    payload: "Heartbeat".into(),
                    ack: "Heartbeat".into(),
                },
                interval: secs(5),
                timeout: secs(10),
                max_missed: 1,
                reset_on: ResetOn::Ack,
            },
            reconnect: Reconnect {
                backoff: BackoffPolicy::Exponential,
                initial: Duration::from_millis(500),
                max: secs(30),
                multiplier: 2.0,
                jitter: Jitter::Full,
                max_attempts: 0,
            },
            messages: Some(Messages {
                rate: MessageRate::PerSecond(1.0),
                size: 64,
            }),
            tcp_keepalive: None,
            send_buffer_bytes: crate::client::DEFAULT_SEND_BUFFER,
            send_timeout: crate::client::DEFAULT_SEND_TIMEOUT,
            timer_resolution: crate::client::DEFAULT_TIMER_RESOLUTION,
            source_ips: vec![],
            on_open: vec![],
            stream: None,
            compression: Compression::None,
        },
        faults: vec![
            Fault {
                at: secs(20),
                duration: None,
                fraction: 1.0,
                kind: FaultKind::ServerKill {
                    downtime: secs(5),
                    signal: KillSignal::Kill,
                },
            },
            Fault {
                at: secs(30),
                duration: None,
                fraction: 0.1,
                kind: FaultKind::Drop {
                    mode: DropMode::Reset,
                },
            },
        ],
        thresholds: vec![
            "heartbeat_rtt.p99 < 50ms".into(),
            "reconnect.success_rate >= 99.9%".into(),
            "reconnect_time.p99 < 35s".into(),
        ],
    };
    assert_eq!(ok(FULL), expected);
}

#[test]
fn defaults() {
    let s = ok(MINIMAL);
    assert_eq!(s.name, "t");
    assert_eq!(s.duration, secs(60));
    assert_eq!(s.target.url, TargetUrl::Embedded);
    assert!(s.target.headers.is_empty());
    assert!(s.target.subprotocols.is_empty());
    assert_eq!(
        s.clients,
        Clients {
            count: 10,
            stages: vec![Stage::Ramp {
                to: 10,
                over: Duration::ZERO,
            }],
            connect_timeout: secs(10),
            heartbeat: Heartbeat {
                mode: HeartbeatMode::Ping,
                interval: secs(5),
                timeout: secs(10),
                max_missed: 1,
                reset_on: ResetOn::Ack,
            },
            reconnect: Reconnect {
                backoff: BackoffPolicy::Exponential,
                initial: Duration::from_millis(500),
                max: secs(30),
                multiplier: 2.0,
                jitter: Jitter::Full,
                max_attempts: 0,
            },
            messages: None,
            tcp_keepalive: None,
            send_buffer_bytes: crate::client::DEFAULT_SEND_BUFFER,
            send_timeout: crate::client::DEFAULT_SEND_TIMEOUT,
            timer_resolution: crate::client::DEFAULT_TIMER_RESOLUTION,
            source_ips: vec![],
            on_open: vec![],
            stream: None,
            compression: Compression::None,
        }
    );
    assert!(s.faults.is_empty());
    assert!(s.thresholds.is_empty());
}

#[test]
fn absent_seed_is_random() {
    // Two draws of a random u64 colliding is (practically) impossible.
    let seeds: Vec<u64> = (0..3).map(|_| ok(MINIMAL).seed).collect();
    assert!(seeds[0] != seeds[1] || seeds[1] != seeds[2]);
}

#[test]
fn block_defaults() {
    let s = ok(&with(
        "  heartbeat: {mode: text}
  reconnect: {backoff: decorrelated}
  messages: {rate: closed}
faults:
  - {kind: server_kill, at: 5s}
  - {kind: drop, at: 1s, fraction: 0.5}
",
    ));
    assert_eq!(
        s.clients.heartbeat.mode,
        HeartbeatMode::Text {
            payload: "Heartbeat".into(),
            ack: "Heartbeat".into()
        }
    );
    assert_eq!(s.clients.reconnect.backoff, BackoffPolicy::Decorrelated);
    assert_eq!(s.clients.reconnect.jitter, Jitter::None);
    assert_eq!(
        s.clients.messages,
        Some(Messages {
            rate: MessageRate::Closed,
            size: 64
        })
    );
    // Sorted by `at`.
    assert_eq!(
        s.faults,
        vec![
            Fault {
                at: secs(1),
                duration: None,
                fraction: 0.5,
                kind: FaultKind::Drop {
                    mode: DropMode::Close
                }
            },
            Fault {
                at: secs(5),
                duration: None,
                fraction: 1.0,
                kind: FaultKind::ServerKill {
                    downtime: secs(5),
                    signal: KillSignal::Kill,
                }
            },
        ]
    );
}

#[test]
fn ack_defaults_to_payload() {
    let s = ok(&with("  heartbeat: {mode: text, payload: ping!}\n"));
    assert_eq!(
        s.clients.heartbeat.mode,
        HeartbeatMode::Text {
            payload: "ping!".into(),
            ack: "ping!".into()
        }
    );
}

#[test]
fn faults_sort_stably() {
    let s = ok(&with(
        "faults:
  - {kind: drop, at: 10s, fraction: 0.3}
  - {kind: server_kill, at: 2s}
  - {kind: drop, at: 10s, fraction: 0.1}
",
    ));
    let order: Vec<_> = s
        .faults
        .iter()
        .map(|f| match f.kind {
            FaultKind::Drop { .. } => f.fraction,
            _ => 0.0,
        })
        .collect();
    assert_eq!(order, vec![0.0, 0.3, 0.1]);
}

#[test]
fn message_rates() {
    let rate = |r: &str| {
        ok(&with(&format!("  messages: {{rate: {r}}}\n")))
            .clients
            .messages
            .map(|m| m.rate)
    };
    assert_eq!(rate("1/s"), Some(MessageRate::PerSecond(1.0)));
    assert_eq!(rate("0.5/s"), Some(MessageRate::PerSecond(0.5)));
    assert_eq!(rate("30/m"), Some(MessageRate::PerSecond(0.5)));
    assert_eq!(rate("closed"), Some(MessageRate::Closed));
}

// ---- Errors: one test per class, exact line and column ------------------------------------

#[test]
fn proxy_faults_parse_with_defaults() {
    let s = ok(&with(
        "faults:
  - {kind: delay_pongs, at: 5s, duration: 10s, delay: 2s, jitter: 500ms, fraction: 0.2}
  - {kind: partition, at: 20s, duration: 8s, fraction: 0.05}
  - {kind: latency, at: 30s, duration: 5s, latency: 50ms, direction: downstream}
  - {kind: bandwidth, at: 31s, duration: 5s, bytes_per_s: 1000}
  - {kind: frame_loss, at: 32s, duration: 5s, probability: 0.1, direction: upstream}
  - {kind: idle_timeout, at: 33s, duration: 5s, idle: 1s}
  - {kind: stop_acking, at: 34s, duration: 5s}
",
    ));
    let f = &s.faults;
    assert_eq!(
        f[0],
        Fault {
            at: secs(5),
            duration: Some(secs(10)),
            fraction: 0.2,
            kind: FaultKind::Proxy(ProxyFault::DelayAcks(DelayAcks {
                delay: secs(2),
                jitter: Duration::from_millis(500)
            })),
        }
    );
    assert_eq!(
        f[1].kind,
        FaultKind::Proxy(ProxyFault::Partition(Partition))
    );
    assert_eq!(f[1].fraction, 0.05);
    assert_eq!(
        f[2].kind,
        FaultKind::Proxy(ProxyFault::Latency(Latency {
            direction: Direction::Downstream,
            latency: Duration::from_millis(50),
            jitter: Duration::ZERO
        }))
    );
    assert_eq!(f[2].fraction, 1.0, "fraction defaults to every client");
    assert_eq!(
        f[3].kind,
        FaultKind::Proxy(ProxyFault::Bandwidth(Bandwidth {
            direction: Direction::Both,
            bytes_per_s: 1000
        }))
    );
    assert_eq!(
        f[4].kind,
        FaultKind::Proxy(ProxyFault::FrameLoss(FrameLoss {
            direction: Direction::Upstream,
            probability: 0.1
        }))
    );
    assert_eq!(
        f[5].kind,
        FaultKind::Proxy(ProxyFault::IdleTimeout(IdleTimeout { idle: secs(1) }))
    );
    assert_eq!(f[6].kind, FaultKind::Proxy(ProxyFault::DropAcks(DropAcks)));
    assert!(f.iter().all(|f| f.kind.needs_proxy()));
}

#[test]
fn server_kill_of_a_managed_server_takes_a_signal() {
    let text = with("faults:\n  - {kind: server_kill, at: 10s, signal: stop}\n");
    let external = text.replace("url: embedded", "url: ws://127.0.0.1:9001/");

    let managed = external.replace(
        "url: ws://127.0.0.1:9001/",
        "url: ws://127.0.0.1:9001/\n  command: [wschaos, serve, --port, \"9001\"]",
    );
    let s = ok(&managed);
    assert_eq!(
        s.target.command,
        Some(TargetCommand::Argv(vec![
            "wschaos".into(),
            "serve".into(),
            "--port".into(),
            "9001".into()
        ]))
    );
    assert!(matches!(
        s.faults[0].kind,
        FaultKind::ServerKill {
            signal: KillSignal::Stop,
            ..
        }
    ));
}

#[test]
fn keepalive_and_source_ips_parse() {
    let s = ok(&with(
        "  tcp_keepalive: {idle: 5s, interval: 1s, count: 3}\n",
    ));
    // The kernel's largest values are accepted.
    let largest = ok(&with(
        "  tcp_keepalive: {idle: 32767s, interval: 32767s, count: 127}\n",
    ));
    let s2 = ok(&with("  source_ips: [127.0.0.2, 127.0.0.3]\n"));
    assert_eq!(s2.clients.source_ips.len(), 2);
    assert_eq!(
        largest.clients.tcp_keepalive,
        Some(TcpKeepalive {
            idle: secs(32767),
            interval: secs(32767),
            count: 127
        })
    );
    assert_eq!(
        s.clients.tcp_keepalive,
        Some(TcpKeepalive {
            idle: secs(5),
            interval: secs(1),
            count: 3
        })
    );
}

#[test]
fn compression_is_off_unless_deflate_is_asked_for() {
    assert_eq!(ok(MINIMAL).clients.compression, Compression::None);
    let off = ok(&with("  compression: none\n"));
    assert_eq!(off.clients.compression, Compression::None);
    let on = ok(&with("  compression: deflate\n"));
    assert_eq!(on.clients.compression, Compression::Deflate);
}

#[test]
fn decorrelated_backoff_takes_jitter_none() {
    // An explicit `none` is fine.
    let s = ok(&with(
        "  reconnect:\n    backoff: decorrelated\n    jitter: none\n",
    ));
    assert_eq!(s.clients.reconnect.jitter, Jitter::None);
}

#[test]
fn display_format() {
    let e = parse(
        &with("  heartbeat:\n    interval: 0s\n"),
        "scenarios/x.yaml",
    )
    .err()
    .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(
            "scenarios/x.yaml:8:15: clients.heartbeat.interval: expected a duration greater \
             than zero like 500ms, 5s or 2m, found \"0s\""
        )
    );
}

#[test]
fn truncated_input_never_panics() {
    let boundaries: Vec<usize> = FULL
        .char_indices()
        .map(|(i, _)| i)
        .chain([FULL.len()])
        .collect();
    // Every 13th character boundary gives a few dozen prefixes that end mid-key, mid-value,
    // mid-flow-mapping and mid-comment; the line ends are added on top.
    let mut cuts: Vec<usize> = boundaries.iter().copied().step_by(13).collect();
    cuts.extend(FULL.match_indices('\n').map(|(i, _)| i));
    cuts.push(FULL.len());
    assert!(cuts.len() > 36, "only {} prefixes", cuts.len());
    for cut in cuts {
        let prefix = &FULL[..cut];
        let result = std::panic::catch_unwind(|| parse(prefix, "t.yaml"));
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(ScenarioError::Invalid { line, column, .. })) => {
                assert!(line >= 1 && column >= 1, "prefix {prefix:?}");
            }
            Ok(Err(other)) => panic!("prefix {prefix:?}: unexpected error {other}"),
            Err(_) => panic!("parse panicked on prefix {prefix:?}"),
        }
    }
    // The whole file parses; so do these damaged inputs, each without panicking.
    for junk in [
        "\u{0}",
        "- a\n- b\n",
        "name: [",
        "&a [*a]",
        "a: *nope",
        "!!binary name: x",
        "name: x\n---\nname: y\n",
        "clients: {count: 18446744073709551616}",
    ] {
        assert!(parse(junk, "j.yaml").is_err(), "{junk:?}");
    }
}

#[test]
fn shipped_scenarios_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut count = 0;
    let entries = std::fs::read_dir(&dir).expect("scenarios/ exists");
    for entry in entries {
        let path = entry.expect("readable directory entry").path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            if let Err(e) = super::load(&path) {
                panic!("{e}");
            }
            count += 1;
        }
    }
    assert!(
        count >= 2,
        "expected basic.yaml and flaky.yaml in {}",
        dir.display()
    );
}

#[test]
fn timer_resolution_takes_zero_up_to_100ms() {
    for (written, resolution) in [
        ("0s", Duration::ZERO),
        ("250us", Duration::from_micros(250)),
        ("10ms", Duration::from_millis(10)),
        ("100ms", Duration::from_millis(100)),
    ] {
        let s = ok(&with(&format!("  timer_resolution: {written}\n")));
        assert_eq!(s.clients.timer_resolution, resolution, "{written}");
    }
}

#[test]
fn send_limits_parse_in_bytes_or_binary_units() {
    let s = ok(&with("  send_buffer: 64KiB\n  send_timeout: 2s\n"));
    assert_eq!(s.clients.send_buffer_bytes, 64 * 1024);
    assert_eq!(s.clients.send_timeout, secs(2));
    for (written, bytes) in [
        ("1024", 1024),
        ("\"1 MiB\"", 1 << 20),
        ("1GiB", 1 << 30),
        ("4096", 4096),
    ] {
        let s = ok(&with(&format!("  send_buffer: {written}\n")));
        assert_eq!(s.clients.send_buffer_bytes, bytes, "{written}");
    }
}
