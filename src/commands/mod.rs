//! What each subcommand does, and the exit code it maps to.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;

use crate::chaos::AckMatcher;
use crate::cli::{Cli, Command};
use crate::kernel_limits;
use crate::progress::TerminalProgress;
use crate::report::compare::{self, CompareError};
use crate::report::{MergeOptions, Report, Threshold, render_summary};
use crate::run::{RunError, RunOptions, default_report_dir, run_unwritten};
use crate::scenario::{self, Push, ScenarioError};
use crate::shards::{ShardError, merge_dirs, run_procs};
use crate::signals::StopSignal;

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
            threads,
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
                threads,
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
            socketio,
            max_frame,
            send_timeout,
            seed,
        } => {
            let ack = match ack_text {
                _ if socketio => AckMatcher::engine_io_ping(),
                Some(text) => AckMatcher::Text(text.into()),
                None => AckMatcher::Pong,
            };
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
            options.threads,
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

mod servers;

use servers::{ProxyLimits, ServeOptions, proxy, serve};
