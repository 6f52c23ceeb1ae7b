//! What each subcommand does, and the exit code it maps to.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::chaos::{AckMatcher, ProxyConfig, ProxyControl, ProxyFault, UpstreamTls, Victims};
use crate::cli::{Cli, Command};
use crate::kernel_limits;
use crate::progress::TerminalProgress;
use crate::report::compare::{self, CompareError};
use crate::report::{MergeOptions, Report, Threshold, render_summary};
use crate::run::{RunError, RunOptions, default_report_dir, run_unwritten};
use crate::scenario::{self, Push, ScenarioError};
use crate::server::EmbeddedServer;
use crate::server::conn_limit::ConnLimit;
use crate::shards::{ShardError, merge_dirs, run_procs};
use crate::signals::StopSignal;
use crate::tls::ClientTls;

/// Exit codes: 0 ok, 1 a threshold failed (or `compare` found a regression), 2 bad input or
/// setup error, 3 `capacity` reached the tool's own limit before the target's, 128 + the
/// signal's number when a signal ended the run early: 130 for SIGINT (Ctrl-C), 143 for SIGTERM,
/// 129 for SIGHUP; the report is written and marked interrupted.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    /// `capacity`: the tool ran out (descriptors, ports, CPU) before the target did.
    pub const TOOL_LIMIT: u8 = 3;
    /// Interrupted, when no signal is known (a merge of interrupted shards): as for SIGINT.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{0}")]
    Serve(String),
    #[error(transparent)]
    Shards(#[from] ShardError),
    #[error("{0}")]
    Threshold(String),
    #[error(transparent)]
    Compare(#[from] CompareError),
    #[error("cannot print the report: {0}")]
    Output(String),
    #[error("{0}")]
    Proxy(String),
    #[error(transparent)]
    Capacity(#[from] crate::capacity::CapacityError),
    #[error(transparent)]
    K8s(#[from] crate::k8s::K8sError),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Run(RunError::Stopped(signal))
            | Error::Capacity(crate::capacity::CapacityError::Run(RunError::Stopped(signal))) => {
                signal.exit_code()
            }
            _ => exit::BAD_INPUT,
        }
    }
}

/// Runs the command and returns the process exit code.
pub fn execute(cli: Cli) -> Result<u8, Error> {
    if matches!(
        cli.command,
        Command::Run { .. }
            | Command::Capacity { .. }
            | Command::Serve { .. }
            | Command::Proxy { .. }
    ) {
        crate::memory::return_freed_memory_after_storms();
    }
    match cli.command {
        Command::Run {
            file,
            out,
            seed,
            quiet,
            shard,
            shards,
            procs,
            start_at,
            start_in,
            thresholds,
            json,
            ignore_kernel_limits,
            target_pid,
        } => run_command(
            &file,
            RunOptions {
                out,
                seed,
                shard: match shards {
                    Some(count) => Some(
                        crate::shards::start::shard_from_env(count).map_err(ShardError::Index)?,
                    ),
                    None => shard,
                },
                ignore_kernel_limits,
                target_pid,
                start_at: start_at
                    .or_else(|| start_in.map(|d| time::OffsetDateTime::now_utc() + d)),
                ..RunOptions::default()
            },
            procs,
            quiet,
            &thresholds,
            json,
        ),
        Command::Capacity { file, options } => Ok(crate::capacity::search(&file, &options)?.code),
        Command::Merge {
            reports,
            out,
            thresholds,
            allow_partial,
            json,
            quiet,
        } => {
            let mut merged = merge_dirs(&reports, MergeOptions { allow_partial })?;
            // The shards' own thresholds (the scenario's and their --threshold), then the new.
            let mut exprs: Vec<String> = merged.thresholds.iter().map(|t| t.expr.clone()).collect();
            for expr in thresholds {
                if !exprs.contains(&expr) {
                    exprs.push(expr);
                }
            }
            let thresholds = parse_thresholds(&exprs)?;
            finish_report(&mut merged, &out, &thresholds, None, quiet, json)
        }
        Command::K8s { file, options } => {
            crate::k8s::command(&file, &options)?;
            Ok(exit::OK)
        }
        Command::Compare {
            base,
            new,
            tolerance,
            min_delta,
        } => compare_command(&base, &new, &tolerance, &min_delta),
        Command::Check { files } => {
            for file in &files {
                let scenario = scenario::load(file)?;
                println!(
                    "{}: ok ({}: {} clients, {:?}, {} faults)",
                    file.display(),
                    scenario.name,
                    scenario.clients.count,
                    scenario.duration,
                    scenario.faults.len()
                );
            }
            Ok(exit::OK)
        }
        Command::Serve {
            host,
            port,
            workers,
            procs,
            reuse_port,
            max_conns,
            conn_limit_fd,
            tls_cert,
            tls_key,
            push_rate,
            push_size,
            push_resume,
        } => {
            let tls = tls_cert.zip(tls_key);
            let push = push_rate
                .map(|rate| Push::from_flags(&rate, push_size, push_resume))
                .transpose()
                .map_err(Error::Serve)?;
            if push.is_some() && procs > 1 {
                return Err(Error::Serve(
                    "--push-rate works with --procs 1: each process would number its own stream"
                        .into(),
                ));
            }
            let options = ServeOptions {
                workers,
                procs,
                reuse_port,
                limit: max_conns.map(|max| (max, conn_limit_fd)),
                tls: tls
                    .as_ref()
                    .map(|(cert, key)| (cert.as_path(), key.as_path())),
                push,
            };
            serve(SocketAddr::new(host, port), &options)
        }
        Command::Proxy {
            listen,
            upstream,
            ca_file,
            insecure,
            server_name,
            client_cert,
            client_key,
            faults,
            ack_text,
            max_frame,
            send_timeout,
            seed,
        } => {
            let ack = ack_text.map_or(AckMatcher::Pong, |text| AckMatcher::Text(text.into()));
            let limits = ProxyLimits {
                max_frame,
                send_timeout,
            };
            let tls = scenario::TargetTls {
                ca_file,
                client_identity: client_cert.zip(client_key).map(|(cert_file, key_file)| {
                    scenario::ClientIdentity {
                        cert_file,
                        key_file,
                    }
                }),
                server_name,
                insecure,
                resume: true,
            };
            proxy(listen, &upstream, &tls, faults, ack, limits, seed)
        }
    }
}

/// `--threshold` expressions, with errors that name the flag and the offset.
fn parse_thresholds(exprs: &[String]) -> Result<Vec<Threshold>, Error> {
    exprs
        .iter()
        .map(|expr| {
            Threshold::parse(expr).map_err(|err| {
                Error::Threshold(format!(
                    "--threshold {expr:?}: at offset {}: {err}",
                    err.offset
                ))
            })
        })
        .collect()
}

fn run_command(
    file: &Path,
    mut options: RunOptions,
    procs: Option<u32>,
    quiet: bool,
    exprs: &[String],
    json: bool,
) -> Result<u8, Error> {
    let scenario = scenario::load(file)?;
    options.thresholds = parse_thresholds(exprs)?;
    if let Some(procs) = procs.filter(|p| *p > 1) {
        // The scenario's thresholds were checked when it loaded.
        let mut thresholds = parse_thresholds(&scenario.thresholds)?;
        thresholds.append(&mut options.thresholds);
        // The whole run before any shard starts; each shard checks its own share again.
        let layout = kernel_limits::Layout::of_whole_run(&scenario, procs);
        kernel_limits::enforce(&layout, options.ignore_kernel_limits).map_err(RunError::Setup)?;
        let seed = options.seed.unwrap_or(scenario.seed);
        let dir = options
            .out
            .unwrap_or_else(|| default_report_dir(&scenario.name));
        let mut merged = run_procs(
            file,
            procs,
            seed,
            &dir,
            options.ignore_kernel_limits,
            options.start_at,
        )?;
        return finish_report(
            &mut merged.report,
            &dir,
            &thresholds,
            merged.stopped_by,
            quiet,
            json,
        );
    }
    let show_progress = !quiet && !json && std::io::stdout().is_terminal();
    let bar = if show_progress {
        let (tx, bar) = TerminalProgress::start(scenario.duration);
        options.progress = Some(tx);
        Some(bar)
    } else {
        None
    };
    let result = run_unwritten(scenario, &options);
    drop(options);
    if let Some(bar) = bar {
        bar.finish();
    }
    let finished = result?;
    // The outcome first: a report that cannot be written (full disk) still gets shown.
    let code = print_outcome(
        &finished.report,
        &finished.dir,
        finished.stopped_by,
        quiet,
        json,
    )?;
    finished.write()?;
    Ok(code)
}

/// Checks thresholds on a report assembled here (merged shards), writes it, prints it.
fn finish_report(
    report: &mut Report,
    dir: &Path,
    thresholds: &[Threshold],
    stopped_by: Option<StopSignal>,
    quiet: bool,
    json: bool,
) -> Result<u8, Error> {
    report.evaluate(thresholds);
    // The outcome first: a report that cannot be written (full disk) still gets shown.
    let code = print_outcome(report, dir, stopped_by, quiet, json)?;
    report.write_all(dir).map_err(|source| RunError::Report {
        dir: dir.to_path_buf(),
        source,
    })?;
    Ok(code)
}

/// Prints the summary (or the JSON) and maps the outcome to the exit code (a run a signal
/// stopped early: 128 + the signal's number).
fn print_outcome(
    report: &Report,
    dir: &Path,
    stopped_by: Option<StopSignal>,
    quiet: bool,
    json: bool,
) -> Result<u8, Error> {
    if json {
        let text = crate::report::json_for_stdout(report).map_err(Error::Output)?;
        println!("{text}");
        if !quiet {
            eprint!("{}", render_summary(report));
            eprintln!("\nreport: {}", dir.display());
        }
    } else if !quiet {
        print!("{}", render_summary(report));
        println!("\nreport: {}", dir.display());
    }
    Ok(if report.interrupted {
        stopped_by.map_or(exit::INTERRUPTED, StopSignal::exit_code)
    } else if report.thresholds_hold() {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn compare_command(base: &Path, new: &Path, tolerance: &str, min_delta: &str) -> Result<u8, Error> {
    let limits = compare::Limits {
        tolerance: compare::parse_tolerance(tolerance)?,
        min_delta_us: compare::parse_min_delta(min_delta)?,
    };
    let base_report = Report::read(base).map_err(CompareError::Read)?;
    let new_report = Report::read(new).map_err(CompareError::Read)?;
    print!(
        "{}",
        compare::preamble(base, &base_report, new, &new_report)
    );
    let comparison = compare::compare(&base_report, &new_report, limits);
    print!("{}", comparison.render());
    Ok(if comparison.regressions().next().is_some() {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// `wschaos serve`'s options besides the address.
struct ServeOptions<'a> {
    workers: usize,
    procs: u32,
    reuse_port: bool,
    /// `--max-conns` and, in the extra processes of --procs, the shared count's descriptor.
    limit: Option<(u64, Option<i32>)>,
    /// Certificate chain and key files (PEM): serve wss://.
    tls: Option<(&'a Path, &'a Path)>,
    /// `--push-rate`: push a stream to every connection.
    push: Option<Push>,
}

fn serve(addr: SocketAddr, options: &ServeOptions<'_>) -> Result<u8, Error> {
    let ServeOptions {
        workers,
        procs,
        reuse_port,
        limit,
        tls,
        push,
    } = options;
    let (workers, procs, reuse_port, tls) = (*workers, *procs, *reuse_port, *tls);
    let identity = tls
        .map(|(cert, key)| crate::tls::ServerIdentity::from_files(cert, key))
        .transpose()
        .map_err(Error::Serve)?;
    let limit = conn_limit(*limit, procs)?;
    crate::fd_limit::raise(0);
    actix_rt::System::new().block_on(async move {
        let shared = reuse_port || procs > 1;
        let server = EmbeddedServer::start_limited(
            addr,
            workers,
            shared,
            identity.as_ref(),
            push.as_ref(),
            limit.clone(),
        )
        .map_err(|err| Error::Serve(format!("cannot listen on {addr}: {err}")))?;
        // The extra processes of --procs (started with the hidden --reuse-port) leave the
        // warning to their parent.
        if procs > 1 || !reuse_port {
            warn_if_reachable("wschaos serve", server.addr());
        }
        // The others bind the port this one got (port 0 resolves here).
        let _siblings = (1..procs)
            .map(|_| Sibling::start(server.addr(), workers, tls, limit.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        println!("{}", server.addr());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        // What this process served (not its --procs siblings), for a benchmark to read.
        if let Ok(counts) = serde_json::to_string(&server.stats().counts()) {
            eprintln!("served {counts}");
        }
        Ok(exit::OK)
    })
}

/// `--max-conns`: a count of this process alone, one the --procs siblings share (created here),
/// or, in a sibling, the one it inherited.
fn conn_limit(
    limit: Option<(u64, Option<i32>)>,
    procs: u32,
) -> Result<Option<Arc<ConnLimit>>, Error> {
    let limit = match limit {
        None => return Ok(None),
        Some((max, Some(fd))) => ConnLimit::attach(max, fd),
        Some((max, None)) if procs > 1 => ConnLimit::shared(max),
        Some((max, None)) => Ok(ConnLimit::local(max)),
    };
    limit
        .map(|limit| Some(Arc::new(limit)))
        .map_err(|err| Error::Serve(format!("cannot set up --max-conns: {err}")))
}

/// Says on stderr when a standalone server listens where other machines can reach it.
fn warn_if_reachable(server: &str, addr: SocketAddr) {
    if let Some(warning) = exposure_warning(server, addr) {
        eprintln!("{warning}");
    }
}

/// The warning for a listen address outside loopback (127.0.0.0/8, ::1, or ::ffff:127.x.y.z);
/// none for loopback.
fn exposure_warning(server: &str, addr: SocketAddr) -> Option<String> {
    if addr.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "warning: {server} listens on {addr}, which is reachable from other machines; \
         wschaos's servers are meant for loopback testing (the default, 127.0.0.1)"
    ))
}

/// One more `wschaos serve` process on the same port; it dies with this one.
struct Sibling(std::process::Child);

impl Sibling {
    fn start(
        addr: SocketAddr,
        workers: usize,
        tls: Option<(&Path, &Path)>,
        limit: Option<&ConnLimit>,
    ) -> Result<Self, Error> {
        let exe = std::env::current_exe()
            .map_err(|e| Error::Serve(format!("cannot find this executable: {e}")))?;
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["serve", "--reuse-port", "--host"])
            .arg(addr.ip().to_string())
            .arg("--port")
            .arg(addr.port().to_string())
            .arg("--workers")
            .arg(workers.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some(limit) = limit {
            cmd.arg("--max-conns").arg(limit.max().to_string());
            // The descriptor is inheritable; the sibling maps the same count.
            if let Some(fd) = limit.shared_fd() {
                cmd.arg("--conn-limit-fd").arg(fd.to_string());
            }
        }
        crate::signals::die_with_parent(&mut cmd);
        cmd.spawn()
            .map(Sibling)
            .map_err(|e| Error::Serve(format!("cannot start another serve process: {e}")))
    }
}

impl Drop for Sibling {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wschaos proxy`'s per-connection limits.
struct ProxyLimits {
    max_frame: u64,
    send_timeout: std::time::Duration,
}

fn proxy(
    listen: SocketAddr,
    upstream: &str,
    tls: &scenario::TargetTls,
    faults: Vec<ProxyFault>,
    ack: AckMatcher,
    limits: ProxyLimits,
    seed: u64,
) -> Result<u8, Error> {
    let (wss, url) = scenario::parse_upstream_url(upstream)
        .map_err(|e| Error::Proxy(format!("--upstream: {e}")))?;
    let tls = if wss {
        let client = ClientTls::new(tls, &url.host, None).map_err(Error::Proxy)?;
        if tls.insecure {
            eprintln!("WARNING: --insecure: the upstream's certificate is not verified");
        }
        Some(UpstreamTls {
            connector: client.proxy_connector(),
            server_name: client.server_name.clone(),
        })
    } else {
        let given = tls.ca_file.is_some()
            || tls.insecure
            || tls.server_name.is_some()
            || tls.client_identity.is_some();
        if given {
            return Err(Error::Proxy(
                "--ca-file, --insecure, --server-name and --client-cert are for a wss:// \
                 --upstream"
                    .into(),
            ));
        }
        None
    };
    actix_rt::System::new().block_on(async move {
        let upstream = url
            .resolve()
            .await
            .ok_or_else(|| Error::Proxy(format!("cannot resolve the address of {url}")))?;
        let control = Arc::new(ProxyControl::new());
        for (id, fault) in faults.into_iter().enumerate() {
            control.activate(id, fault, Victims::All);
        }
        let config = ProxyConfig {
            upstream,
            ack,
            max_frame: limits.max_frame,
            seed,
            send_timeout: limits.send_timeout,
            tls,
        };
        let proxy = crate::chaos::spawn(listen, config, control.clone())
            .map_err(|err| Error::Proxy(format!("cannot listen on {listen}: {err}")))?;
        warn_if_reachable("wschaos proxy", proxy.addr());
        println!("{}", proxy.addr());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        drop(proxy);
        eprintln!("{:?}", control.stats());
        Ok(exit::OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_outside_loopback_get_the_warning() {
        for loopback in [
            "127.0.0.1:9001",
            "127.8.9.10:1",
            "[::1]:9001",
            "[::ffff:127.0.0.1]:80",
        ] {
            let addr: SocketAddr = loopback.parse().expect("address");
            assert_eq!(exposure_warning("wschaos serve", addr), None, "{addr}");
        }
        for exposed in [
            "0.0.0.0:9001",
            "[::]:9001",
            "10.0.0.1:9001",
            "192.168.1.2:9001",
            "[2001:db8::1]:9001",
            "[::ffff:10.0.0.1]:9001",
        ] {
            let addr: SocketAddr = exposed.parse().expect("address");
            let warning = exposure_warning("wschaos proxy", addr).expect("a warning");
            assert!(
                warning.starts_with(&format!("warning: wschaos proxy listens on {addr}, ")),
                "{warning}"
            );
            assert!(
                warning.contains("reachable from other machines"),
                "{warning}"
            );
            assert!(warning.contains("meant for loopback testing"), "{warning}");
        }
    }
}
