//! The target wschaos manages, if any: the embedded echo server, or the `target.command`
//! process (`process`). Started before the run, killed and revived by `server_kill`, stopped
//! when the run is over.

pub mod cost;
pub mod process;
mod procfs;

use std::net::SocketAddr;
use std::path::Path;

use crate::scenario::{KillSignal, Scenario, TargetUrl, WsUrl};
use crate::server::conn_limit::ConnLimit;
use crate::server::{EmbeddedServer, ServerCounts};
use crate::tls::ServerIdentity;
use cost::Sampled;
use process::TargetProcess;

/// The server `server_kill` acts on.
pub enum ManagedTarget {
    Embedded(EmbeddedServer),
    Process(TargetProcess),
}

impl ManagedTarget {
    /// Starts the target the scenario asks wschaos to manage (the embedded server, or
    /// `target.command` with its output in `log_dir`), if any, and returns it with the URL
    /// clients use.
    pub async fn start(
        scenario: &Scenario,
        log_dir: &Path,
    ) -> Result<(Option<ManagedTarget>, WsUrl), String> {
        match (&scenario.target.url, &scenario.target.command) {
            (TargetUrl::Embedded, _) => {
                let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
                // With `tls:`, a certificate made now; the run's clients trust it alone.
                let identity = match scenario.target.tls {
                    Some(_) => Some(ServerIdentity::self_signed()?),
                    None => None,
                };
                let limit = scenario
                    .target
                    .max_conns
                    .map(|max| std::sync::Arc::new(ConnLimit::local(max)));
                let server = EmbeddedServer::start_limited(
                    loopback,
                    1,
                    false,
                    identity.as_ref(),
                    scenario.target.push.as_ref(),
                    limit,
                )
                .map_err(|err| format!("cannot start the embedded server: {err}"))?;
                let url = WsUrl {
                    host: "127.0.0.1".into(),
                    port: server.addr().port(),
                    path: "/".into(),
                };
                Ok((Some(ManagedTarget::Embedded(server)), url))
            }
            (TargetUrl::Ws(url) | TargetUrl::Wss(url), Some(command)) => {
                let addr = resolve(url).await?;
                let process = TargetProcess::start(command.clone(), addr, log_dir).await?;
                Ok((Some(ManagedTarget::Process(process)), url.clone()))
            }
            (TargetUrl::Ws(url) | TargetUrl::Wss(url), None) => Ok((None, url.clone())),
        }
    }

    /// The `server_kill` blow; fails if the target's port is still open afterwards.
    pub async fn kill(&mut self, signal: KillSignal) -> Result<(), String> {
        match self {
            ManagedTarget::Embedded(server) => {
                server.kill().await;
                Ok(())
            }
            ManagedTarget::Process(process) => process.kill(signal).await,
        }
    }

    pub async fn revive(&mut self) -> Result<(), String> {
        match self {
            ManagedTarget::Embedded(server) => server
                .restart()
                .map_err(|e| format!("the embedded server could not listen again: {e}")),
            ManagedTarget::Process(process) => process.revive().await,
        }
    }

    /// What to sample of the target's own cost: a command's processes; `None` for the embedded
    /// server (it runs inside wschaos).
    pub fn sampled(&self) -> Option<Sampled> {
        match self {
            ManagedTarget::Embedded(_) => None,
            ManagedTarget::Process(process) => Some(Sampled::Command {
                marker: process.marker().to_string(),
            }),
        }
    }

    /// The command's own process right now, if it runs one.
    pub fn root_pid(&self) -> Option<i32> {
        match self {
            ManagedTarget::Embedded(_) => None,
            ManagedTarget::Process(process) => process.pid().map(|pid| pid as i32),
        }
    }

    /// Connections the server holds right now, where it can tell.
    pub fn open_connections(&self) -> Option<u64> {
        match self {
            ManagedTarget::Embedded(server) => Some(server.stats().counts().open),
            ManagedTarget::Process(_) => None,
        }
    }

    /// Stops the target at the end of the run; hands back what the embedded server counted.
    pub async fn stop(self) -> Option<ServerCounts> {
        match self {
            ManagedTarget::Embedded(mut server) => {
                let counts = server.stats().counts();
                server.kill().await;
                Some(counts)
            }
            // Dropping a target process kills its process group.
            ManagedTarget::Process(_) => None,
        }
    }
}

/// The address of a target URL.
pub async fn resolve(url: &WsUrl) -> Result<SocketAddr, String> {
    url.resolve()
        .await
        .ok_or_else(|| format!("cannot resolve the address of {url}"))
}
