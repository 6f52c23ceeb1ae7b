//! One `wschaos run`, wired: raise the file limit, start the managed target and the chaos proxy
//! if the scenario needs them, one arbiter per core, let the coordinator run the scenario, then
//! stop the target and write the report.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::client::{ClientConfig, Endpoint};
use crate::coordinator::{Coordinator, Interrupt, Outcome, WindowPlan};
use crate::kernel_limits;
use crate::progress::Progress;
use crate::report::{Report, ScenarioInfo, Threshold, threshold};
use crate::scenario::{Compression, Scenario, TargetUrl, WsUrl};
use crate::shards::Shard;
use crate::signals::{StopSignal, StopSignals};
use crate::target::cost::{self, Sampled, TargetMeter};
use crate::target::{self, ManagedTarget};
use crate::tls::ClientTls;

/// Said at the start and in every summary of a run with `target.tls.insecure: true`.
pub const INSECURE_WARNING: &str =
    "WARNING: target.tls.insecure: true: the server's certificate is not verified";

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
    /// Run even when the kernel's limits cannot hold it (`--ignore-kernel-limits`).
    pub ignore_kernel_limits: bool,
    /// Sample this process tree as the target (`--target-pid`), instead of a `target.command`.
    pub target_pid: Option<i32>,
    /// Start the clients at this instant (`--start-at`): the run's clock counts from it.
    pub start_at: Option<time::OffsetDateTime>,
    /// Client threads (`--threads`); `None`: one per core this process may use.
    pub threads: Option<u32>,
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
    /// A `server_kill` left the target's port open: the report is written but does not
    /// measure the kill it meant to.
    #[error(
        "the report is written to {dir}, but the target was not under control: {}",
        failures.join("; ")
    )]
    TargetNotKilled { dir: PathBuf, failures: Vec<String> },
    /// A stop signal came while the target was starting: there is no run to report.
    #[error("stopped by {} before the run started", .0.name())]
    Stopped(StopSignal),
}

/// A finished run: its report and where it was written.
pub struct Finished {
    pub report: Report,
    pub dir: PathBuf,
    /// The signal that ended the run early, if one did.
    pub stopped_by: Option<StopSignal>,
    /// `server_kill`s that left the target's port open (reported by [`Finished::write`]).
    pub target_failures: Vec<String>,
}

impl Finished {
    /// Writes every report file into `dir`; then, if a `server_kill` left the target's port
    /// open, says so as an error (the report is written either way).
    pub fn write(&self) -> Result<(), RunError> {
        let writing = Instant::now();
        self.report
            .write_all(&self.dir)
            .map_err(|source| RunError::Report {
                dir: self.dir.clone(),
                source,
            })?;
        tracing::info!(
            took_ms = writing.elapsed().as_millis() as u64,
            dir = %self.dir.display(),
            "report written"
        );
        if !self.target_failures.is_empty() {
            return Err(RunError::TargetNotKilled {
                dir: self.dir.clone(),
                failures: self.target_failures.clone(),
            });
        }
        Ok(())
    }
}

/// Runs a scenario to its end (or to a stop signal: SIGINT, SIGTERM, SIGHUP) and writes the
/// report. Starts its own actix system.
pub fn run(scenario: Scenario, options: &RunOptions) -> Result<Finished, RunError> {
    let finished = run_unwritten(scenario, options)?;
    finished.write()?;
    Ok(finished)
}

/// Runs a scenario like [`run`] but leaves the report files to the caller
/// ([`Finished::write`]), so it can show the outcome even when they cannot be written.
pub fn run_unwritten(scenario: Scenario, options: &RunOptions) -> Result<Finished, RunError> {
    run_windowed(scenario, options, None)
}

/// Runs a scenario like [`run_unwritten`], handing each window of `windows` to its judge as it
/// closes (the judge may end the run early; that is no interrupt).
pub fn run_windowed(
    mut scenario: Scenario,
    options: &RunOptions,
    windows: Option<WindowPlan>,
) -> Result<Finished, RunError> {
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    let shard = options.shard.unwrap_or(Shard::WHOLE);
    crate::fd_limit::raise(shard.size_of(scenario.clients.count) as u32);
    actix_rt::System::new().block_on(run_in_system(scenario, options.clone(), windows))
}

async fn run_in_system(
    scenario: Scenario,
    options: RunOptions,
    windows: Option<WindowPlan>,
) -> Result<Finished, RunError> {
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

    // Listening from before the target starts: from here on a stop signal still stops it.
    let mut signals = StopSignals::listen()
        .map_err(|err| RunError::Setup(format!("cannot listen for signals: {err}")))?;
    let (target, url) = tokio::select! {
        started = ManagedTarget::start(&scenario, &dir) => started.map_err(RunError::Setup)?,
        // Dropping the half-started target kills it.
        signal = signals.recv() => return Err(RunError::Stopped(signal)),
    };
    let upstream = match &target {
        Some(ManagedTarget::Embedded(server)) => server.addr(),
        _ => target::resolve(&url).await.map_err(RunError::Setup)?,
    };
    let tls = match &scenario.target.tls {
        None => None,
        Some(settings) => {
            // The embedded server's certificate, made at its start, is the only one trusted.
            let embedded_root = match &target {
                Some(ManagedTarget::Embedded(server)) => server.certificate(),
                _ => None,
            };
            let tls =
                ClientTls::new(settings, &url.host, embedded_root).map_err(RunError::Setup)?;
            if settings.insecure {
                eprintln!("{INSECURE_WARNING}");
            }
            Some(tls)
        }
    };
    let needs_proxy = scenario.faults.iter().any(|f| f.kind.needs_proxy());
    // Kept alive until the run ends; dropping it closes the proxy.
    let running_proxy = if needs_proxy {
        let proxy = crate::chaos::start_for_run(&scenario, upstream, tls.as_ref())
            .map_err(|err| RunError::Setup(format!("cannot start the chaos proxy: {err}")))?;
        Some(proxy)
    } else {
        None
    };
    let connect_to = running_proxy
        .as_ref()
        .map_or(upstream, |(proxy, _)| proxy.addr());
    let proxy = running_proxy.as_ref().map(|(_, control)| control.clone());
    crate::client::check_socket_options(
        connect_to,
        &scenario.clients.source_ips,
        scenario.clients.tcp_keepalive,
    )
    .map_err(RunError::Setup)?;
    let shard = options.shard.unwrap_or(Shard::WHOLE);
    let target_on_host =
        matches!(target, Some(ManagedTarget::Embedded(_))) || upstream.ip().is_loopback();
    let layout = kernel_limits::Layout::of(&scenario, shard, 1, Some(connect_to), target_on_host);
    kernel_limits::enforce(&layout, options.ignore_kernel_limits).map_err(RunError::Setup)?;

    // Room for the biggest message the clients send (echoed back) or the embedded server
    // pushes.
    let biggest = [
        scenario.clients.messages.as_ref().map(|m| m.size),
        scenario.target.push.as_ref().map(|p| p.size),
    ];
    let max_frame = biggest
        .into_iter()
        .flatten()
        .fold(DEFAULT_MAX_FRAME, |max, size| max.max(size + 1024));
    let endpoint = match tls {
        None => Endpoint::new(&url, connect_to, &scenario.target, max_frame),
        Some(tls) => {
            let mut endpoint =
                Endpoint::with_tls(&url, connect_to, &scenario.target, max_frame, tls);
            if running_proxy.is_some() {
                // The proxy speaks TLS to the target; the clients speak plain ws to it (with
                // the target's Host header all the same).
                endpoint.tls = None;
            }
            endpoint
        }
    };
    let mut endpoint = endpoint;
    endpoint.resume_param = scenario
        .clients
        .stream
        .as_ref()
        .and_then(|s| s.resume_param.clone());
    let endpoint = match scenario.clients.compression {
        Compression::None => endpoint,
        Compression::Deflate => endpoint.offering_deflate(),
    };
    // Everything is set up: wait for the common start, if there is one.
    let (started_at, clock_start, joined_late_s) = match options.start_at {
        None => (started_at, Instant::now(), None),
        Some(at) => wait_for_start(at, &mut signals).await?,
    };
    let client_cfg = ClientConfig {
        endpoint,
        connect_timeout: scenario.clients.connect_timeout,
        heartbeat: scenario.clients.heartbeat.clone(),
        reconnect: scenario.clients.reconnect.clone(),
        messages: scenario.clients.messages.clone(),
        source_ips: scenario.clients.source_ips.clone(),
        close_grace: CLOSE_GRACE,
        seed: scenario.seed,
        started: clock_start,
        identify: proxy.is_some(),
        tcp_keepalive: scenario.clients.tcp_keepalive,
        send_buffer: scenario.clients.send_buffer_bytes,
        send_timeout: scenario.clients.send_timeout,
        timer_resolution: scenario.clients.timer_resolution,
        on_open: scenario.clients.on_open.clone(),
        stream: scenario.clients.stream.clone(),
        app: crate::client::AppProtocol::of(&scenario.target.protocol),
    }
    .shared();
    let scenario_hash = crate::shards::start::scenario_hash(&scenario);

    let threads = options.threads.unwrap_or_else(crate::cpu::available_cores);
    let arbiters: Vec<Arbiter> = (0..threads.max(1)).map(|_| Arbiter::new()).collect();
    let handles = arbiters.iter().map(Arbiter::handle).collect();
    let target_meter = target_meter(options.target_pid, target.as_ref())?;
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
    .with_windows(windows)
    .with_target_meter(target_meter)
    .joined_late(Duration::from_secs_f64(joined_late_s.unwrap_or(0.0)))
    .start();
    let stopped_by = Rc::new(Cell::new(None));
    actix_rt::spawn(watch_signals(signals, coordinator, stopped_by.clone()));

    let mut outcome = done_rx
        .await
        .map_err(|_| RunError::Setup("the coordinator stopped without a result".into()))?;
    for arbiter in &arbiters {
        arbiter.stop();
    }
    let target_failures = std::mem::take(&mut outcome.target_failures);
    let mut report = build_report(&scenario, &url, started_at, outcome).await;
    report.shard = options.shard.map(|s| format!("{}/{}", s.index, s.count));
    report.scenario_hash = Some(scenario_hash);
    report.joined_late_s = joined_late_s;
    report.evaluate(&thresholds);
    Ok(Finished {
        report,
        dir,
        stopped_by: stopped_by.get(),
        target_failures,
    })
}

/// Waits until `at` (a stop signal meanwhile ends the run before it starts). Returns the run's
/// start (`at`), the clock's start on this process's monotonic clock (in the past when this
/// process is late), and how late it is, if it is.
async fn wait_for_start(
    at: time::OffsetDateTime,
    signals: &mut StopSignals,
) -> Result<(time::OffsetDateTime, Instant, Option<f64>), RunError> {
    use crate::shards::start::{lateness, rfc3339};
    let late = match lateness(at, time::OffsetDateTime::now_utc()) {
        Ok(ahead) => {
            tokio::select! {
                () = tokio::time::sleep(ahead) => {}
                signal = signals.recv() => return Err(RunError::Stopped(signal)),
            }
            None
        }
        Err(late) => {
            tracing::warn!(
                "joining late: the run started at {} ({:.1}s ago)",
                rfc3339(at),
                late.as_secs_f64()
            );
            Some(late)
        }
    };
    // The sleep ends on the monotonic clock; what is left over (a few ms) counts as well.
    let behind = lateness(at, time::OffsetDateTime::now_utc()).err();
    let now = Instant::now();
    let clock_start = behind.and_then(|b| now.checked_sub(b)).unwrap_or(now);
    Ok((at, clock_start, late.map(|l| l.as_secs_f64())))
}

/// What to sample of the target's own cost: the `--target-pid` tree, else a `target.command`'s
/// processes; nothing for the embedded server (it runs inside wschaos) or an external target
/// without `--target-pid`.
fn target_meter(
    target_pid: Option<i32>,
    target: Option<&ManagedTarget>,
) -> Result<Option<TargetMeter>, RunError> {
    let sampled = match target_pid {
        Some(pid) if !cost::is_alive(pid) => {
            return Err(RunError::Setup(format!(
                "--target-pid {pid}: no such process (or not one this user can read)"
            )));
        }
        Some(root) => Some(Sampled::Tree { root }),
        None => target.and_then(ManagedTarget::sampled),
    };
    let root = target.and_then(ManagedTarget::root_pid);
    Ok(sampled.map(|sampled| TargetMeter::start(sampled, root)))
}

/// The first stop signal: a clean early end (the report is still written). A second: exit at
/// once, taking the target down.
async fn watch_signals(
    mut signals: StopSignals,
    coordinator: Addr<Coordinator>,
    stopped_by: Rc<Cell<Option<StopSignal>>>,
) {
    let first = signals.recv().await;
    stopped_by.set(Some(first));
    eprintln!(
        "interrupted by {0}: closing clients and writing the report ({0} again to quit now)",
        first.name()
    );
    coordinator.do_send(Interrupt);
    let second = signals.recv().await;
    target::process::kill_all_now();
    std::process::exit(i32::from(second.exit_code()));
}

async fn build_report(
    scenario: &Scenario,
    url: &WsUrl,
    started_at: time::OffsetDateTime,
    outcome: Outcome,
) -> Report {
    let server_counts = match outcome.target {
        Some(target) => target.stop().await,
        None => None,
    };
    let tls = scenario.target.tls.is_some();
    let target = match scenario.target.url {
        TargetUrl::Embedded => format!("embedded ({})", url.to_string_with_tls(tls)),
        TargetUrl::Ws(_) | TargetUrl::Wss(_) => url.to_string_with_tls(tls),
    };
    let info = ScenarioInfo {
        name: scenario.name.clone(),
        seed: scenario.seed,
        duration_s: scenario.duration.as_secs_f64(),
        clients: scenario.clients.count,
        target,
        tls_insecure: scenario.target.tls.as_ref().is_some_and(|t| t.insecure),
        compression_offered: scenario.clients.compression == Compression::Deflate,
        stages: crate::report::StageInfo::of(&scenario.clients.stages),
        protocol: scenario.target.protocol.name().into(),
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
