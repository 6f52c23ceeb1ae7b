//! Shared test helpers: scenario builders and a run wrapper here; the real binary in `cli`, a
//! scriptable WebSocket test server in `server`, servers that break the protocol (and raw-TCP
//! servers a test scripts itself) in `hostile`, certificates for TLS tests in `pki`.
//! Every socket is on 127.0.0.1.

pub mod child_server;
pub mod cli;
pub mod hostile;
pub mod pki;
pub mod server;

pub use cli::*;
pub use server::*;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wschaos::client::Endpoint;
use wschaos::run::{Finished, RunOptions, run};
use wschaos::scenario::*;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A scenario with small, fast settings; tests change what they exercise.
pub fn scenario(url: TargetUrl, count: u32, duration: Duration) -> Scenario {
    Scenario {
        name: "test".into(),
        seed: 7,
        duration,
        target: target(url),
        clients: Clients {
            count,
            stages: vec![Stage::Ramp {
                to: count,
                over: Duration::ZERO,
            }],
            connect_timeout: ms(2000),
            heartbeat: Heartbeat {
                mode: HeartbeatMode::Ping,
                interval: ms(200),
                timeout: ms(400),
                max_missed: 1,
                reset_on: ResetOn::Ack,
            },
            reconnect: Reconnect {
                backoff: BackoffPolicy::Fixed,
                initial: ms(100),
                max: ms(1000),
                multiplier: 2.0,
                jitter: Jitter::None,
                max_attempts: 0,
            },
            messages: None,
            tcp_keepalive: None,
            send_buffer_bytes: wschaos::client::DEFAULT_SEND_BUFFER,
            send_timeout: wschaos::client::DEFAULT_SEND_TIMEOUT,
            timer_resolution: wschaos::client::DEFAULT_TIMER_RESOLUTION,
            source_ips: Vec::new(),
            on_open: Vec::new(),
            stream: None,
            compression: Compression::None,
        },
        faults: Vec::new(),
        thresholds: Vec::new(),
    }
}

/// A fault at `at_ms` with no window, on every client.
pub fn fault(at_ms: u64, kind: FaultKind) -> Fault {
    Fault {
        at: ms(at_ms),
        duration: None,
        fraction: 1.0,
        kind,
    }
}

/// A windowed fault on `fraction` of the clients.
pub fn window(at_ms: u64, duration_ms: u64, fraction: f64, kind: FaultKind) -> Fault {
    Fault {
        at: ms(at_ms),
        duration: Some(ms(duration_ms)),
        fraction,
        kind,
    }
}

pub fn kill(downtime_ms: u64) -> FaultKind {
    FaultKind::ServerKill {
        downtime: ms(downtime_ms),
        signal: KillSignal::Kill,
    }
}

pub fn text_heartbeat(payload: &str, ack: &str) -> HeartbeatMode {
    HeartbeatMode::Text {
        payload: payload.into(),
        ack: ack.into(),
    }
}

/// A target with no extra headers, subprotocols or command.
pub fn target(url: TargetUrl) -> Target {
    Target {
        url,
        headers: Vec::new(),
        subprotocols: Vec::new(),
        command: None,
        tls: None,
        push: None,
        max_conns: None,
        protocol: wschaos::scenario::Protocol::Raw,
    }
}

pub fn ws_url(addr: SocketAddr) -> TargetUrl {
    TargetUrl::Ws(WsUrl {
        host: addr.ip().to_string(),
        port: addr.port(),
        path: "/".into(),
    })
}

/// Runs a scenario with the report written to a temporary directory (gone afterwards).
pub fn run_scenario(scenario: Scenario) -> Finished {
    let dir = tempfile::tempdir().expect("temp dir");
    let finished = run_scenario_in(scenario, dir.path(), RunOptions::default());
    assert!(finished.dir.join("report.json").exists());
    finished
}

/// Runs a scenario with `options`, the report written to `dir/report`.
pub fn run_scenario_in(scenario: Scenario, dir: &Path, mut options: RunOptions) -> Finished {
    options.out = Some(dir.join("report"));
    run(scenario, &options).expect("run succeeds")
}

/// What a client dials for `ws://addr/`, frames up to `max_frame` bytes.
pub fn endpoint(addr: SocketAddr, max_frame: usize) -> Endpoint {
    let url = WsUrl {
        host: addr.ip().to_string(),
        port: addr.port(),
        path: "/".into(),
    };
    Endpoint::new(&url, addr, &target(TargetUrl::Ws(url.clone())), max_frame)
}

/// A JSON file read back (a report.json).
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read JSON file")).expect("valid JSON")
}

/// The five files every report directory holds.
pub const REPORT_FILES: [&str; 5] = [
    "report.json",
    "summary.md",
    "report.html",
    "heartbeat_rtt.hlog",
    "junit.xml",
];

/// Fails unless `dir` holds every one of the five report files.
pub fn assert_report_files(dir: &Path) {
    for name in REPORT_FILES {
        assert!(
            dir.join(name).is_file(),
            "{name} missing in {}",
            dir.display()
        );
    }
}

/// Writes a scenario file into `dir` and returns its path.
pub fn scenario_file(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, yaml).expect("write scenario");
    file
}

/// A scenario file `NAME.yaml` in `dir`: `count` clients on the embedded server for `duration`
/// (as written in a file, `1500ms`), heartbeats every 200 ms, and `extra` YAML lines after them.
pub fn embedded_scenario_file(
    dir: &Path,
    name: &str,
    duration: &str,
    count: u32,
    extra: &str,
) -> PathBuf {
    let yaml = format!(
        "name: {name}\nduration: {duration}\ntarget: {{url: embedded}}\n\
         clients: {{count: {count}, heartbeat: {{interval: 200ms, timeout: 400ms}}}}\n{extra}"
    );
    scenario_file(dir, &format!("{name}.yaml"), &yaml)
}

/// A one-second scenario file, `tiny.yaml` in `dir`: `count` clients on the embedded server.
pub fn tiny_scenario_file(dir: &Path, count: u32) -> PathBuf {
    embedded_scenario_file(dir, "tiny", "1s", count, "seed: 1\n")
}

/// A loopback port nothing listens on.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}
