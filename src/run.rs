//! One `wschaos run`: set up (file limit, embedded server, target address, one arbiter per
//! core), let the coordinator run the scenario, then write the report.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::chaos::process::TargetProcess;
use crate::chaos::{ProxyConfig, ProxyControl, RunningProxy};
use crate::client::{ClientConfig, Endpoint};
use crate::coordinator::{Coordinator, Interrupt, ManagedTarget, Outcome, Shard, ack_matcher};
use crate::progress::Progress;
use crate::report::{Report, ScenarioInfo, Threshold, threshold};
use crate::scenario::{Scenario, TargetUrl, WsUrl};
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
    /// Runs only this share of the clients (`--shard i/n`).
    pub shard: Option<Shard>,
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
    let shard = options.shard.unwrap_or(Shard::WHOLE);
    raise_file_limit(shard.size_of(scenario.clients.count) as u32);
    actix_rt::System::new().block_on(run_in_system(scenario, options.clone()))
}

/// Raises the soft descriptor limit to the hard one; warns when `needed` sockets will not fit.
/// (Each client needs one descriptor, two when the embedded server runs in-process.)
pub fn raise_file_limit(needed: u32) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < u64::from(needed) + 64 => {
            tracing::warn!("file descriptor limit is {limit}: {needed} connections may not all fit")
        }
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
    let dir = options
        .out
        .clone()
        .unwrap_or_else(|| report_dir_at(&scenario.name, started_at));
    std::fs::create_dir_all(&dir).map_err(|source| RunError::Report {
        dir: dir.clone(),
        source,
    })?;

    let (target, url) = start_target(&scenario, &dir).await?;
    let upstream = match &target {
        Some(ManagedTarget::Embedded(server)) => server.addr(),
        _ => resolve(&url).await?,
    };
    let needs_proxy = scenario.faults.iter().any(|f| f.kind.needs_proxy());
    // Kept alive until the run ends; dropping it closes the proxy.
    let running_proxy = if needs_proxy {
        Some(start_proxy(&scenario, upstream)?)
    } else {
        None
    };
    let connect_to = running_proxy
        .as_ref()
        .map_or(upstream, |(proxy, _)| proxy.addr());
    let proxy = running_proxy.as_ref().map(|(_, control)| control.clone());

    let max_frame = scenario
        .clients
        .messages
        .as_ref()
        .map_or(DEFAULT_MAX_FRAME, |m| {
            (m.size + 1024).max(DEFAULT_MAX_FRAME)
        });
    let client_cfg = ClientConfig {
        endpoint: Endpoint::new(&url, connect_to, &scenario.target, max_frame),
        connect_timeout: scenario.clients.connect_timeout,
        heartbeat: scenario.clients.heartbeat.clone(),
        reconnect: scenario.clients.reconnect.clone(),
        messages: scenario.clients.messages.clone(),
        source_ips: scenario.clients.source_ips.clone(),
        close_grace: CLOSE_GRACE,
        seed: scenario.seed,
        started: Instant::now(),
        identify: proxy.is_some(),
        tcp_keepalive: scenario.clients.tcp_keepalive,
        send_buffer: crate::client::DEFAULT_SEND_BUFFER,
        send_timeout: crate::client::DEFAULT_SEND_TIMEOUT,
    }
    .shared();

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
    let handles = arbiters.iter().map(Arbiter::handle).collect();
    let scenario = Arc::new(scenario);
    let (done_tx, done_rx) = oneshot::channel();
    let coordinator = Coordinator::new(
        scenario.clone(),
        client_cfg,
        handles,
        target,
        proxy,
        options.shard.unwrap_or(Shard::WHOLE),
        done_tx,
    )
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
    report.shard = options.shard.map(|s| format!("{}/{}", s.index, s.count));
    report.evaluate(&thresholds);
    let writing = Instant::now();
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

/// Starts the target wschaos manages (the embedded server, or `target.command`), if any, and
/// returns it with the URL clients use.
async fn start_target(
    scenario: &Scenario,
    dir: &Path,
) -> Result<(Option<ManagedTarget>, WsUrl), RunError> {
    match (&scenario.target.url, &scenario.target.command) {
        (TargetUrl::Embedded, _) => {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let server = EmbeddedServer::start(loopback, 1).map_err(|err| {
                RunError::Setup(format!("cannot start the embedded server: {err}"))
            })?;
            let url = WsUrl {
                host: "127.0.0.1".into(),
                port: server.addr().port(),
                path: "/".into(),
            };
            Ok((Some(ManagedTarget::Embedded(server)), url))
        }
        (TargetUrl::Ws(url), Some(command)) => {
            let addr = resolve(url).await?;
            let process = TargetProcess::start(command.clone(), addr, dir)
                .await
                .map_err(RunError::Setup)?;
            Ok((Some(ManagedTarget::Process(process)), url.clone()))
        }
        (TargetUrl::Ws(url), None) => Ok((None, url.clone())),
    }
}

async fn resolve(url: &WsUrl) -> Result<SocketAddr, RunError> {
    url.resolve()
        .await
        .ok_or_else(|| RunError::Setup(format!("cannot resolve the address of {url}")))
}

/// Puts the chaos proxy between clients and `upstream` (on this thread) for the run's faults.
fn start_proxy(
    scenario: &Scenario,
    upstream: SocketAddr,
) -> Result<(RunningProxy, Arc<ProxyControl>), RunError> {
    let control = Arc::new(ProxyControl::new());
    let config = ProxyConfig {
        ack: ack_matcher(&scenario.clients.heartbeat.mode),
        seed: scenario.seed,
        ..ProxyConfig::new(upstream)
    };
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let proxy = crate::chaos::spawn(loopback, config, control.clone())
        .map_err(|err| RunError::Setup(format!("cannot start the chaos proxy: {err}")))?;
    Ok((proxy, control))
}

/// First Ctrl-C: a clean early end (the report is still written). Second: exit at once.
async fn watch_ctrl_c(coordinator: Addr<Coordinator>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("interrupted: closing clients and writing the report (Ctrl-C again to quit now)");
    coordinator.do_send(Interrupt);
    if tokio::signal::ctrl_c().await.is_ok() {
        crate::chaos::process::kill_all_now();
        std::process::exit(130);
    }
}

async fn build_report(
    scenario: &Scenario,
    url: &WsUrl,
    started_at: time::OffsetDateTime,
    outcome: Outcome,
) -> Report {
    let server_counts = match outcome.target {
        Some(ManagedTarget::Embedded(mut server)) => {
            let counts = server.stats().counts();
            server.kill().await;
            Some(counts)
        }
        // Dropping a target process kills its process group.
        Some(ManagedTarget::Process(_)) | None => None,
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

/// `reports/<name>-<UTC timestamp>` for a run starting now.
pub fn default_report_dir(name: &str) -> PathBuf {
    report_dir_at(name, time::OffsetDateTime::now_utc())
}

fn report_dir_at(name: &str, started_at: time::OffsetDateTime) -> PathBuf {
    let stamp = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = started_at.format(&stamp).unwrap_or_default();
    PathBuf::from("reports").join(format!("{name}-{stamp}"))
}
