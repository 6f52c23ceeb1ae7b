//! `server_kill`: the target dies without close frames and comes back after `downtime`. Knobs:
//! `downtime` (default 5s, above zero) and `signal` (`kill`, `term` or `stop`; anything but
//! `kill` needs a `target.command`).

use std::time::Duration;

use super::FaultKind;
use crate::scenario::knobs::{FaultKindInfo, Knobs, Timeline};
use crate::scenario::model::{Target, TargetUrl};
use crate::scenario::value::{Invalid, PositiveDur, Word};

pub const INFO: FaultKindInfo = FaultKindInfo {
    name: "server_kill",
    timeline: Timeline::Moment,
    knobs: &["downtime", "signal"],
};

const DEFAULT_DOWNTIME: Duration = Duration::from_secs(5);

/// How `server_kill` treats an external target process (`target.command`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSignal {
    /// SIGKILL, restart after `downtime`.
    Kill,
    /// SIGTERM, restart after `downtime`.
    Term,
    /// SIGSTOP, SIGCONT after `downtime`: the server freezes with every socket open.
    Stop,
}

impl Word for KillSignal {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("kill", Self::Kill),
        ("term", Self::Term),
        ("stop", Self::Stop),
    ];
}

/// A `server_kill` of `target`: only a server wschaos starts itself can be killed.
pub fn from_knobs(knobs: &mut Knobs<'_>, target: &Target) -> Result<FaultKind, Invalid> {
    let downtime = knobs
        .optional::<PositiveDur>("downtime")?
        .map_or(DEFAULT_DOWNTIME, |d| d.0);
    let signal_given = knobs.at("signal").is_some();
    let signal_error = knobs.error(
        "signal",
        "the embedded server can only be killed; signals need target.command",
    );
    let signal = knobs.optional("signal")?.unwrap_or(KillSignal::Kill);
    match (&target.url, &target.command) {
        (TargetUrl::Embedded, _) if signal != KillSignal::Kill && signal_given => {
            return Err(signal_error);
        }
        (TargetUrl::Ws(url) | TargetUrl::Wss(url), None) => {
            return Err(knobs.error(
                "kind",
                format!(
                    "server_kill needs a server wschaos controls: target.url: embedded, or \
                     target.command to start the server at {url}"
                ),
            ));
        }
        _ => {}
    }
    Ok(FaultKind::ServerKill { downtime, signal })
}
