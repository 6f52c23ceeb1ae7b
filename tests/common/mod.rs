//! Shared test helpers: scenario builders, a run wrapper, and a scriptable WebSocket test server
//! that records what it sees. Every socket is on 127.0.0.1.
#![allow(dead_code)] // each test file uses a different subset

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_ws::{CloseCode, CloseReason, Message};
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
        target: Target {
            url,
            headers: Vec::new(),
            subprotocols: Vec::new(),
            command: None,
        },
        clients: Clients {
            count,
            ramp: Duration::ZERO,
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
            source_ips: Vec::new(),
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
pub fn run_scenario_in(
    scenario: Scenario,
    dir: &std::path::Path,
    mut options: RunOptions,
) -> Finished {
    options.out = Some(dir.join("report"));
    run(scenario, &options).expect("run succeeds")
}

/// The five files every report directory holds.
pub const REPORT_FILES: [&str; 5] = [
    "report.json",
    "summary.md",
    "report.html",
    "heartbeat_rtt.hlog",
    "junit.xml",
];

/// Writes a scenario file into `dir` and returns its path.
pub fn scenario_file(dir: &std::path::Path, name: &str, yaml: &str) -> std::path::PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, yaml).expect("write scenario");
    file
}

/// The real binary.
pub fn wschaos() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_wschaos"))
}

/// A loopback port nothing listens on.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

/// How the test server treats heartbeats (a Ping, or a text frame equal to `HEARTBEAT`).
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Answer only the first N heartbeats of each connection, then stay silent.
    pub ack_first: Option<u32>,
    /// Answer only every Nth heartbeat (1 = all; 0 counts as 1).
    pub ack_every: u32,
    /// Send a non-ack text frame this often.
    pub chatter: Option<Duration>,
    /// Send a close frame `close_code` this long after the upgrade, then drop the socket...
    pub close_after: Option<Duration>,
    pub close_code: u16,
    /// ...on the first this-many connections (0 = all).
    pub close_connections: usize,
}

pub const HEARTBEAT: &str = "hb";
pub const ACK: &str = "hb-ack";
pub const CHATTER: &str = "news";

/// What the test server saw on one connection.
#[derive(Debug, Clone)]
pub struct ConnLog {
    /// The client's address as the server saw it.
    pub peer: Option<SocketAddr>,
    pub opened: Instant,
    pub heartbeats: Vec<Instant>,
    pub ended: Option<Instant>,
    /// Close code of a close frame the client sent.
    pub client_close: Option<u16>,
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<ConnLog>>>,
}

/// A scriptable server on its own thread and actix system.
pub struct TestServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<ConnLog>>>,
}

impl TestServer {
    pub fn start(behaviour: Behaviour) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            behaviour,
            log: log.clone(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(shared.clone()))
                        .default_service(web::to(handle))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run()
                .await
            })
        });
        Self { addr, log }
    }

    pub fn url(&self) -> TargetUrl {
        ws_url(self.addr)
    }

    pub fn connections(&self) -> Vec<ConnLog> {
        self.log.lock().expect("log").clone()
    }
}

async fn handle(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<Shared>,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut stream) = actix_ws::handle(&req, body)?;
    let index = {
        let mut log = shared.log.lock().expect("log");
        log.push(ConnLog {
            peer: req.peer_addr(),
            opened: Instant::now(),
            heartbeats: Vec::new(),
            ended: None,
            client_close: None,
        });
        log.len() - 1
    };
    let b = shared.behaviour.clone();
    let log = shared.log.clone();
    actix_rt::spawn(async move {
        let mut chatter = tokio::time::interval(b.chatter.unwrap_or(Duration::from_secs(3600)));
        chatter.tick().await;
        let close_at = b
            .close_after
            .filter(|_| b.close_connections == 0 || index < b.close_connections)
            .map(|after| (tokio::time::Instant::now() + after, b.close_code));
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        let close_sleep = tokio::time::sleep_until(close_at.map_or(far, |(t, _)| t));
        tokio::pin!(close_sleep);
        let mut seen: u32 = 0;
        loop {
            tokio::select! {
                msg = stream.recv() => {
                    let Some(Ok(msg)) = msg else { break };
                    let heartbeat = match &msg {
                        Message::Ping(_) => true,
                        Message::Text(t) => &t[..] == HEARTBEAT,
                        _ => false,
                    };
                    if heartbeat {
                        seen += 1;
                        log.lock().expect("log")[index].heartbeats.push(Instant::now());
                        let within_first = b.ack_first.is_none_or(|n| seen <= n);
                        let every = b.ack_every.max(1);
                        if within_first && seen.is_multiple_of(every) {
                            let sent = match msg {
                                Message::Ping(p) => session.pong(&p).await,
                                _ => session.text(ACK).await,
                            };
                            if sent.is_err() { break; }
                        }
                        continue;
                    }
                    let echoed = match msg {
                        Message::Close(reason) => {
                            log.lock().expect("log")[index].client_close =
                                reason.map(|r| u16::from(r.code));
                            let _ = session.close(None).await;
                            break;
                        }
                        Message::Text(t) => session.text(t).await,
                        Message::Binary(d) => session.binary(d).await,
                        _ => Ok(()),
                    };
                    if echoed.is_err() {
                        break;
                    }
                }
                _ = chatter.tick(), if b.chatter.is_some() => {
                    if session.text(CHATTER).await.is_err() { break; }
                }
                _ = &mut close_sleep, if close_at.is_some() => {
                    let code = close_at.map_or(1000, |(_, c)| c);
                    let reason = CloseReason { code: CloseCode::from(code), description: None };
                    let _ = session.close(Some(reason)).await;
                    break;
                }
            }
        }
        log.lock().expect("log")[index].ended = Some(Instant::now());
    });
    Ok(response)
}
