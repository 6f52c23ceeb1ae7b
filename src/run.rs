//! One `wschaos run`: set up (file limit, embedded server, target address, one arbiter per
//! core), let the coordinator run the scenario, then write the report.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::client::{ClientConfig, Endpoint};
use crate::coordinator::{Coordinator, Interrupt, Outcome};
use crate::progress::Progress;
use crate::report::{Report, ScenarioInfo, Threshold, threshold};
use crate::scenario::{FaultKind, Scenario, TargetUrl, WsUrl};
use crate::server::EmbeddedServer;

/// How long a manual close waits for the server's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Largest frame a client accepts when the scenario sends no big messages.
const DEFAULT_MAX_FRAME: usize = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Report directory; default `reports/<name>-<UTC timestamp>`.
    pub out: Option<PathBuf>,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Checked after the scenario's own thresholds (`--threshold`).
    pub thresholds: Vec<Threshold>,
    /// Receives one `Progress` per second of the run (the terminal bar).
    pub progress: Option<Sender<Progress>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run could not start: bad target, no address, a fault the target cannot take.
    #[error("{0}")]
    Setup(String),
    #[error("cannot write the report to {dir}: {source}")]
    Report {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// A finished run: its report and where it was written.
pub struct Finished {
    pub report: Report,
    pub dir: PathBuf,
}

/// Runs a scenario to its end (or to Ctrl-C) and writes the report. Starts its own actix system.
pub fn run(mut scenario: Scenario, options: &RunOptions) -> Result<Finished, RunError> {
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    raise_file_limit(scenario.clients.count);
    actix_rt::System::new().block_on(run_in_system(scenario, options.clone()))
}

/// Each client needs one descriptor (two when the embedded server runs in-process).
fn raise_file_limit(clients: u32) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < u64::from(clients) + 64 => tracing::warn!(
            "file descriptor limit is {limit}: {clients} clients may not all connect"
        ),
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "cannot raise the file descriptor limit"),
    }
}

async fn run_in_system(scenario: Scenario, options: RunOptions) -> Result<Finished, RunError> {
    let mut thresholds = threshold::parse_all(&scenario.thresholds).map_err(|(i, err)| {
        RunError::Setup(format!(
            "threshold {:?}: {err} (at offset {})",
            scenario.thresholds[i], err.offset
        ))
    })?;
    thresholds.extend(options.thresholds.iter().cloned());
    let started_at = time::OffsetDateTime::now_utc();
    let (server, url) = match &scenario.target.url {
        TargetUrl::Embedded => {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let server = EmbeddedServer::start(loopback, 1).map_err(|err| {
                RunError::Setup(format!("cannot start the embedded server: {err}"))
            })?;
            let url = WsUrl {
                host: "127.0.0.1".into(),
                port: server.addr().port(),
                path: "/".into(),
            };
            (Some(server), url)
        }
        TargetUrl::Ws(url) => (None, url.clone()),
    };
    if server.is_none()
        && let Some(fault) = scenario
            .faults
            .iter()
            .find(|f| matches!(f.kind, FaultKind::ServerKill { .. }))
    {
        return Err(RunError::Setup(format!(
            "the server_kill fault at {:?} needs `target: {{url: embedded}}`: wschaos cannot kill {url}",
            fault.at
        )));
    }
    // IPv6 hosts are kept bracketed for the Host header; the resolver wants them bare.
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    let addr = tokio::net::lookup_host((host, url.port))
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| RunError::Setup(format!("cannot resolve the address of {url}")))?;

    let max_frame = scenario
        .clients
        .messages
        .as_ref()
        .map_or(DEFAULT_MAX_FRAME, |m| {
            (m.size + 1024).max(DEFAULT_MAX_FRAME)
        });
    let client_cfg = ClientConfig {
        endpoint: Endpoint::new(&url, addr, &scenario.target, max_frame),
        connect_timeout: scenario.clients.connect_timeout,
        heartbeat: scenario.clients.heartbeat.clone(),
        reconnect: scenario.clients.reconnect.clone(),
        messages: scenario.clients.messages.clone(),
        source_ips: Vec::new(),
        close_grace: CLOSE_GRACE,
        seed: scenario.seed,
    }
    .shared();

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
    let handles = arbiters.iter().map(Arbiter::handle).collect();
    let scenario = Arc::new(scenario);
    let (done_tx, done_rx) = oneshot::channel();
    let coordinator = Coordinator::new(scenario.clone(), client_cfg, handles, server, done_tx)
        .with_progress(options.progress.clone())
        .start();
    actix_rt::spawn(watch_ctrl_c(coordinator));

    let outcome = done_rx
        .await
        .map_err(|_| RunError::Setup("the coordinator stopped without a result".into()))?;
    for arbiter in &arbiters {
        arbiter.stop();
    }
    let mut report = build_report(&scenario, &url, started_at, outcome).await;
    report.evaluate(&thresholds);
    let dir = options
        .out
        .clone()
        .unwrap_or_else(|| default_report_dir(&scenario.name, started_at));
    let writing = std::time::Instant::now();
    report.write_all(&dir).map_err(|source| RunError::Report {
        dir: dir.clone(),
        source,
    })?;
    tracing::info!(
        took_ms = writing.elapsed().as_millis() as u64,
        dir = %dir.display(),
        "report written"
    );
    Ok(Finished { report, dir })
}

/// First Ctrl-C: a clean early end (the report is still written). Second: exit at once.
async fn watch_ctrl_c(coordinator: Addr<Coordinator>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("interrupted: closing clients and writing the report (Ctrl-C again to quit now)");
    coordinator.do_send(Interrupt);
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

async fn build_report(
    scenario: &Scenario,
    url: &WsUrl,
    started_at: time::OffsetDateTime,
    outcome: Outcome,
) -> Report {
    let server_counts = match outcome.server {
        Some(mut server) => {
            let counts = server.stats().counts();
            server.kill().await;
            Some(counts)
        }
        None => None,
    };
    let target = match scenario.target.url {
        TargetUrl::Embedded => format!("embedded ({url})"),
        TargetUrl::Ws(_) => url.to_string(),
    };
    let info = ScenarioInfo {
        name: scenario.name.clone(),
        seed: scenario.seed,
        duration_s: scenario.duration.as_secs_f64(),
        clients: scenario.clients.count,
        target,
    };
    let rfc3339 = started_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Report::new(info, rfc3339, outcome.record, server_counts)
}

fn default_report_dir(name: &str, started_at: time::OffsetDateTime) -> PathBuf {
    let stamp = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = started_at.format(&stamp).unwrap_or_default();
    PathBuf::from("reports").join(format!("{name}-{stamp}"))
}
