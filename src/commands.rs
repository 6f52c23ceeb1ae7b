//! What each subcommand does, and the exit code it maps to.

use std::io::Write;
use std::net::SocketAddr;

use crate::cli::{Cli, Command};
use crate::report::print_summary;
use crate::run::{RunError, RunOptions, default_report_dir, run};
use crate::scenario::{self, ScenarioError};
use crate::server::EmbeddedServer;
use crate::shards::{ShardError, merge_dirs, run_procs};

/// Exit codes: 0 ok, 1 a threshold failed, 2 bad input or setup error, 130 interrupted.
pub mod exit {
    pub const OK: u8 = 0;
    pub const BAD_INPUT: u8 = 2;
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
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        exit::BAD_INPUT
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
            procs,
        } => {
            let scenario = scenario::load(&file)?;
            let (report, dir) = match procs {
                Some(procs) if procs > 1 => {
                    let seed = seed.unwrap_or(scenario.seed);
                    let dir = out.unwrap_or_else(|| default_report_dir(&scenario.name));
                    (run_procs(&file, procs, seed, &dir)?, dir)
                }
                _ => {
                    let finished = run(scenario, &RunOptions { out, seed, shard })?;
                    (finished.report, finished.dir)
                }
            };
            if !quiet {
                print_summary(&report);
                println!("\nreport: {}", dir.join("report.json").display());
            }
            Ok(if report.interrupted {
                exit::INTERRUPTED
            } else {
                exit::OK
            })
        }
        Command::Merge { reports, out } => {
            let merged = merge_dirs(&reports, &out)?;
            print_summary(&merged);
            println!("\nreport: {}", out.join("report.json").display());
            Ok(exit::OK)
        }
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
        } => serve(SocketAddr::new(host, port), workers),
    }
}

fn serve(addr: SocketAddr, workers: usize) -> Result<u8, Error> {
    crate::run::raise_file_limit(0);
    actix_rt::System::new().block_on(async move {
        let server = EmbeddedServer::start(addr, workers)
            .map_err(|err| Error::Serve(format!("cannot listen on {addr}: {err}")))?;
        println!("{}", server.addr());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        Ok(exit::OK)
    })
}
