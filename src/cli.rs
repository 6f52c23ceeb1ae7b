//! Command-line interface (clap derive).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "wschaos", version, about = "WebSocket load and chaos tester")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario file and write its report.
    Run {
        /// The scenario (YAML).
        file: PathBuf,
        /// Report directory [default: reports/<name>-<UTC timestamp>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the embedded echo server standalone (prints its address on the first line).
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// 0 picks a free port.
        #[arg(long, default_value_t = 9001)]
        port: u16,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
}
