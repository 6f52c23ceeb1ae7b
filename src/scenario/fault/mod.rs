//! Faults on a scenario's timeline: the model (`Fault`, `FaultKind`) and the list of every fault
//! kind a scenario may name. Each kind has one home that holds its name, knobs, defaults and
//! checks: `server_kill` and `drop` here, the proxy faults in `chaos::toxics`.

pub mod drop;
pub mod server_kill;

use std::time::Duration;

pub use drop::DropMode;
pub use server_kill::KillSignal;

use super::knobs::FaultKindInfo;
use crate::chaos::ProxyFault;

/// One fault on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Offset from the start of the run.
    pub at: Duration,
    /// How long a windowed fault stays active (`None` for `drop` and `server_kill`, whose own
    /// fields say how long they last).
    pub duration: Option<Duration>,
    /// Share of the connected clients it applies to, chosen with the scenario's seed (1.0 for
    /// fleet-wide faults such as `server_kill`).
    pub fraction: f64,
    pub kind: FaultKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// The target dies without close frames and comes back after `downtime`.
    ServerKill {
        downtime: Duration,
        signal: KillSignal,
    },
    /// The chosen clients lose their connection and reconnect.
    Drop { mode: DropMode },
    /// Applied by the chaos proxy to the chosen clients' connections for `duration` (see
    /// `ProxyFault::KINDS`).
    Proxy(ProxyFault),
}

impl FaultKind {
    /// The name used in scenario files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::ServerKill { .. } => server_kill::INFO.name,
            FaultKind::Drop { .. } => drop::INFO.name,
            FaultKind::Proxy(fault) => fault.name(),
        }
    }

    /// True for the faults the chaos proxy applies (the proxy then sits between clients and
    /// target for the whole run).
    pub fn needs_proxy(&self) -> bool {
        matches!(self, FaultKind::Proxy(_))
    }
}

/// Every fault kind a scenario may name, in the order messages list them.
pub fn kinds() -> impl Iterator<Item = &'static FaultKindInfo> {
    [&server_kill::INFO, &drop::INFO]
        .into_iter()
        .chain(ProxyFault::KINDS.iter())
}
