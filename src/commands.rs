//! What each subcommand does, and the exit code it maps to.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::chaos::{AckMatcher, ProxyConfig, ProxyControl, ProxyFault, Victims};
use crate::cli::{Cli, Command};
use crate::report::print_summary;
use crate::run::{RunError, RunOptions, run};
use crate::scenario::{self, ScenarioError};
use crate::server::EmbeddedServer;

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
    #[error("{0}")]
    Proxy(String),
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
        } => {
            let scenario = scenario::load(&file)?;
            let finished = run(scenario, &RunOptions { out, seed })?;
            if !quiet {
                print_summary(&finished.report);
                println!("\nreport: {}", finished.dir.join("report.json").display());
            }
            Ok(if finished.report.interrupted {
                exit::INTERRUPTED
            } else {
                exit::OK
            })
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
        Command::Proxy {
            listen,
            upstream,
            faults,
            ack_text,
            max_frame,
            seed,
        } => {
            let ack = ack_text.map_or(AckMatcher::Pong, |text| AckMatcher::Text(text.into()));
            proxy(listen, &upstream, faults, ack, max_frame, seed)
        }
    }
}

fn serve(addr: SocketAddr, workers: usize) -> Result<u8, Error> {
    actix_rt::System::new().block_on(async move {
        let server = EmbeddedServer::start(addr, workers)
            .map_err(|err| Error::Serve(format!("cannot listen on {addr}: {err}")))?;
        println!("{}", server.addr());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        Ok(exit::OK)
    })
}

fn proxy(
    listen: SocketAddr,
    upstream: &str,
    faults: Vec<ProxyFault>,
    ack: AckMatcher,
    max_frame: u64,
    seed: u64,
) -> Result<u8, Error> {
    let url =
        scenario::parse_ws_url(upstream).map_err(|e| Error::Proxy(format!("--upstream: {e}")))?;
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
            max_frame,
            seed,
        };
        let proxy = crate::chaos::spawn(listen, config, control.clone())
            .map_err(|err| Error::Proxy(format!("cannot listen on {listen}: {err}")))?;
        println!("{}", proxy.addr());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        drop(proxy);
        eprintln!("{:?}", control.stats());
        Ok(exit::OK)
    })
}
