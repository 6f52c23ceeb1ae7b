//! Whether this host's kernel can hold a run, checked before any client connects: descriptors
//! (per process and on the host), local ports per source address, TCP memory, the listen queue
//! and connection tracking. A limit the run cannot fit in is a setup error naming the sysctl,
//! its value, what the run needs and the command that raises it; a limit it may strain is a
//! warning. A run of a million clients that would fail at client 28,233 fails here instead.

mod proc;

pub use proc::{Conntrack, Kernel};

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::scenario::{Scenario, Stage, TargetUrl};
use crate::shards::Shard;

/// Descriptors a process keeps besides its connections (listeners, files, the runtime's).
const SPARE_DESCRIPTORS: u64 = 64;
/// Past half of the port range, connect(2) searches for a free port slowly: it tries the
/// ports of one parity first (the other is kept for bind) and checks each taken one against the
/// established connections, so every connect walks thousands of them (a 500,000-client run here
/// spent most of its CPU in `__inet_check_established` at 22,700 clients per address). Warned
/// once for all the sources that fill more than half (`crowded`: what connects from each, the
/// ports it takes, the source), not refused: the run works, its connects cost more.
fn past_half_the_range(
    range: u64,
    crowded: &[(String, u64, PortSource)],
    total_bound: u64,
) -> Option<String> {
    let (from, taken, source) = crowded.iter().rev().max_by_key(|(_, taken, _)| *taken)?;
    let (advice, need) = match source {
        PortSource::Bound(_) => (
            "spread the clients over more clients.source_ips",
            total_bound,
        ),
        PortSource::Kernel { .. } => ("set clients.source_ips to loopback addresses", *taken),
    };
    let others = match crowded.len() {
        1 => String::new(),
        n => format!(" (and {} more source addresses past half)", n - 1),
    };
    Some(format!(
        "{from}, {taken} of its {range} ports{others}: past half the range the kernel's \
         connect(2) walks the taken ports for a free one, so connects slow down as it fills; \
         {advice} (at least {} for {need})",
        need.div_ceil((range / 2).max(1))
    ))
}

/// The widest ephemeral port range `ip_local_port_range` takes (1024-65535).
const WIDEST_PORT_RANGE: u64 = 65535 - 1024 + 1;
/// A socket holding any unread or unacknowledged data is charged at least one page of
/// `tcp_mem`; an idle one is charged none.
const TCP_PAGE_BYTES: u64 = 4096;

/// Where a group of clients takes its local ports from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PortSource {
    /// A `clients.source_ips` address: every connection from it binds a port of its own.
    Bound(IpAddr),
    /// The kernel's choice of address: a port is only taken towards the same destination
    /// (unknown: the clients' own embedded targets, one per shard).
    Kernel { destination: Option<SocketAddr> },
}

/// How a run is laid out: enough to work out what it asks of the kernel.
#[derive(Debug, Clone)]
pub struct Layout<'a> {
    /// "this run", "shard 2/8": who needs it, in messages.
    pub scope: String,
    pub clients: u32,
    /// The span `clients` would arrive over at the steepest arrival rate of the run (zero: all
    /// at once).
    pub ramp: Duration,
    pub source_ips: &'a [IpAddr],
    /// The clients this check is for: the whole run, or one shard's.
    pub shard: Shard,
    /// Processes the clients are spread over (`--procs`); 1 for a shard's own check.
    pub processes: u32,
    /// The target runs in each client process.
    pub embedded: bool,
    /// An in-process chaos proxy relays every connection (two more descriptors each).
    pub proxy: bool,
    /// Where the clients connect (the proxy when there is one), when known.
    pub destination: Option<SocketAddr>,
    /// The target listens on this host (its sockets count here too).
    pub target_on_host: bool,
}

/// What a run needs of the kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Needs {
    pub scope: String,
    pub processes: u32,
    /// Clients in the largest process.
    pub clients_per_process: u64,
    pub descriptors_per_process: u64,
    pub descriptors_on_host: u64,
    /// TCP connections (conntrack entries): client to proxy and proxy to target count apart.
    pub connections: u64,
    /// Sockets on this host (both ends of a loopback connection).
    pub sockets_on_host: u64,
    /// Clients per source of local ports.
    pub ports: Vec<(PortSource, u64)>,
    /// Clients arriving at a listener on this host in 100 ms, when it is on this host.
    pub arrivals_per_100ms: Option<u64>,
}

/// The span `count` clients would take to arrive at the steepest rate of `stages`: a ramp of n
/// arrivals over `over` comes at `n / over`, a zero-length one of n is taken as n in one
/// 100 ms step (the span the listener check counts in).
fn arrival_span(stages: &[Stage], count: u32) -> Duration {
    const STEP: Duration = Duration::from_millis(100);
    let mut from = 0u32;
    let mut span: Option<Duration> = None;
    for stage in stages {
        let Stage::Ramp { to, over } = *stage else {
            continue;
        };
        let arrivals = to.saturating_sub(from);
        from = to;
        if arrivals == 0 {
            continue;
        }
        if over.is_zero() && arrivals >= count {
            return Duration::ZERO;
        }
        let per = if over.is_zero() { STEP } else { over };
        let equivalent = per.mul_f64(f64::from(count) / f64::from(arrivals));
        span = Some(span.map_or(equivalent, |s| s.min(equivalent)));
    }
    span.unwrap_or(Duration::ZERO)
}

impl<'a> Layout<'a> {
    /// The layout of `scenario`'s clients of `shard` over `processes` processes. `destination`
    /// (where the clients connect) and `target_on_host` are what is known of the target so far.
    pub fn of(
        scenario: &'a Scenario,
        shard: Shard,
        processes: u32,
        destination: Option<SocketAddr>,
        target_on_host: bool,
    ) -> Self {
        let scope = if shard == Shard::WHOLE {
            "this run".to_string()
        } else {
            format!("shard {}/{}", shard.index, shard.count)
        };
        Layout {
            scope,
            clients: scenario.clients.count,
            ramp: arrival_span(&scenario.clients.stages, scenario.clients.count),
            source_ips: &scenario.clients.source_ips,
            shard,
            processes,
            embedded: matches!(scenario.target.url, TargetUrl::Embedded),
            proxy: scenario.faults.iter().any(|f| f.kind.needs_proxy()),
            destination,
            target_on_host,
        }
    }

    /// The layout of a whole run over `processes` processes, before any target started: the
    /// destination is known when the target's host is an IP address and no proxy is between.
    pub fn of_whole_run(scenario: &'a Scenario, processes: u32) -> Self {
        let address = match &scenario.target.url {
            TargetUrl::Embedded => None,
            TargetUrl::Ws(url) | TargetUrl::Wss(url) => url
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, url.port)),
        };
        let on_host = match &scenario.target.url {
            TargetUrl::Embedded => true,
            TargetUrl::Ws(url) | TargetUrl::Wss(url) => {
                url.host == "localhost" || address.is_some_and(|a| a.ip().is_loopback())
            }
        };
        let mut layout = Layout::of(scenario, Shard::WHOLE, processes, address, on_host);
        if layout.proxy {
            layout.destination = None;
        }
        layout
    }

    pub fn needs(&self) -> Needs {
        let processes = self.processes.max(1);
        let owned: Vec<u32> = (0..self.clients).filter(|&c| self.shard.owns(c)).collect();
        let total = owned.len() as u64;
        let per_process = Shard {
            index: 0,
            count: processes,
        }
        .size_of(owned.len() as u32) as u64;
        let proxy = u64::from(self.proxy);
        let in_process_per_client = 1 + 2 * proxy + u64::from(self.embedded);
        let target_sockets = u64::from(self.embedded || self.target_on_host);
        let sockets_per_client = 1 + 2 * proxy + target_sockets;
        // With an embedded target every process connects to its own; otherwise all to one.
        let per_destination = if self.embedded { per_process } else { total };
        let mut ports: Vec<(PortSource, u64)> = if self.source_ips.is_empty() {
            vec![(
                PortSource::Kernel {
                    destination: self.destination,
                },
                per_destination,
            )]
        } else {
            let mut counts = vec![0u64; self.source_ips.len()];
            for &client in &owned {
                counts[client as usize % self.source_ips.len()] += 1;
            }
            self.source_ips
                .iter()
                .map(|&ip| PortSource::Bound(ip))
                .zip(counts)
                .collect()
        };
        if self.proxy {
            // The proxy's own connections to the target, from the kernel's choice of address.
            ports.push((PortSource::Kernel { destination: None }, per_process));
        }
        let listener_arrivals = if self.embedded { per_process } else { total };
        let arrivals_per_100ms = (self.embedded || self.target_on_host).then(|| {
            if self.ramp.is_zero() {
                listener_arrivals
            } else {
                let per_s = listener_arrivals as f64 / self.ramp.as_secs_f64();
                (per_s / 10.0).ceil() as u64
            }
        });
        Needs {
            scope: self.scope.clone(),
            processes,
            clients_per_process: per_process,
            descriptors_per_process: per_process * in_process_per_client + SPARE_DESCRIPTORS,
            descriptors_on_host: total * sockets_per_client
                + u64::from(processes) * SPARE_DESCRIPTORS,
            connections: total * (1 + proxy),
            sockets_on_host: total * sockets_per_client,
            ports,
            arrivals_per_100ms,
        }
    }
}

/// The outcome of a check: limits the run cannot fit in, and limits it may strain.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    pub refusals: Vec<String>,
    pub warnings: Vec<String>,
}

impl Verdict {
    /// The refusals as one setup error, or the warnings to show.
    pub fn into_result(self, scope: &str) -> Result<Vec<String>, String> {
        if self.refusals.is_empty() {
            return Ok(self.warnings);
        }
        let mut text =
            format!("this host's kernel cannot hold {scope} (checked before connecting anything):");
        for refusal in &self.refusals {
            text.push_str("\n  - ");
            text.push_str(refusal);
        }
        Err(text)
    }
}

/// Compares what a run needs with what the kernel allows.
pub fn check(needs: &Needs, kernel: &Kernel) -> Verdict {
    let mut verdict = Verdict::default();
    let scope = &needs.scope;
    let per_process = needs.descriptors_per_process;
    let procs_needed = |limit: u64| {
        let per_client =
            (per_process - SPARE_DESCRIPTORS).max(1) / needs.clients_per_process.max(1);
        let clients_that_fit = limit.saturating_sub(SPARE_DESCRIPTORS) / per_client.max(1);
        let all_clients = needs.clients_per_process * u64::from(needs.processes);
        all_clients.div_ceil(clients_that_fit.max(1))
    };
    if let Some(nr_open) = kernel.nr_open
        && per_process > nr_open
    {
        verdict.refusals.push(format!(
            "fs.nr_open is {nr_open}: one process of {scope} needs {per_process} descriptors \
             ({} clients in it); raise it with `sysctl -w fs.nr_open={per_process}` or spread \
             the clients with `--procs {}`",
            needs.clients_per_process,
            procs_needed(nr_open)
        ));
    } else if let Some(hard) = kernel.nofile_hard
        && per_process > hard
    {
        verdict.refusals.push(format!(
            "the descriptor limit (RLIMIT_NOFILE, `ulimit -Hn`) is {hard}: one process of \
             {scope} needs {per_process} descriptors ({} clients in it); raise it before the \
             run with `ulimit -Hn {per_process} && ulimit -n {per_process}` (as root, at most \
             fs.nr_open{}) or spread the clients with `--procs {}`",
            needs.clients_per_process,
            kernel.nr_open.map_or(String::new(), |n| format!(" = {n}")),
            procs_needed(hard)
        ));
    }
    if let Some(file_max) = kernel.file_max {
        let open = kernel.files_open.unwrap_or(0);
        let free = file_max.saturating_sub(open);
        if needs.descriptors_on_host > free {
            let raise_to = (open + needs.descriptors_on_host) * 11 / 10;
            verdict.refusals.push(format!(
                "fs.file-max is {file_max} with {open} files open: {scope} needs {} more \
                 descriptors on this host; raise it with `sysctl -w fs.file-max={raise_to}`",
                needs.descriptors_on_host
            ));
        }
    }
    if let Some((low, high)) = kernel.port_range {
        let range = u64::from(high - low + 1);
        let total_clients: u64 = needs
            .ports
            .iter()
            .filter(|(s, _)| matches!(s, PortSource::Bound(_)))
            .map(|(_, n)| n)
            .sum();
        let mut crowded: Vec<(String, u64, PortSource)> = Vec::new();
        for (i, &(source, clients)) in needs.ports.iter().enumerate() {
            let in_use = kernel.ports_in_use.get(i).copied().unwrap_or(0);
            let free = range.saturating_sub(in_use);
            let from = match source {
                PortSource::Bound(ip) => format!("{clients} clients connect from {ip}"),
                PortSource::Kernel {
                    destination: Some(d),
                } => format!("{clients} connections go to {d} from one address"),
                PortSource::Kernel { destination: None } => {
                    format!("{clients} connections go to one destination from one address")
                }
            };
            if clients <= free {
                if clients + in_use > range / 2 {
                    crowded.push((from, clients + in_use, source));
                }
                continue;
            }
            let spread = match source {
                _ if free == 0 => "every port of the range is taken: wait for those connections \
                                   to close, or connect from other clients.source_ips"
                    .to_string(),
                PortSource::Bound(_) => format!(
                    "spread the clients over more clients.source_ips (at least {} for {} \
                     clients)",
                    total_clients.div_ceil(free.max(1)),
                    total_clients
                ),
                PortSource::Kernel { .. } => format!(
                    "set clients.source_ips to at least {} loopback addresses (127.0.0.2, \
                     127.0.0.3, ...)",
                    clients.div_ceil(free.max(1))
                ),
            };
            let raise = if clients + in_use <= WIDEST_PORT_RANGE {
                "raise it with `sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"` or "
            } else {
                ""
            };
            verdict.refusals.push(format!(
                "net.ipv4.ip_local_port_range is {low} {high} ({range} ports per source address \
                 and destination): {from}, {in_use} of those ports already in use; {raise}{spread}"
            ));
        }
        if let Some(warning) = past_half_the_range(range, &crowded, total_clients) {
            verdict.warnings.push(format!(
                "net.ipv4.ip_local_port_range is {low} {high}: {warning}"
            ));
        }
    }
    if let Some(conntrack) = kernel.conntrack {
        let free = conntrack.max.saturating_sub(conntrack.count);
        if needs.connections > free {
            let raise_to = (conntrack.count + needs.connections) * 11 / 10;
            let text = format!(
                "net.netfilter.nf_conntrack_max is {} with {} tracked: {scope} makes {} \
                 connections, and a full table drops new ones; raise it with `sysctl -w \
                 net.netfilter.nf_conntrack_max={raise_to}`",
                conntrack.max, conntrack.count, needs.connections
            );
            if conntrack.count > 0 {
                verdict.refusals.push(text);
            } else {
                // Loaded but tracking nothing yet: this network namespace may not track at all.
                verdict
                    .warnings
                    .push(format!("{text} (if this host tracks these connections)"));
            }
        }
    }
    if let Some([_, _, high]) = kernel.tcp_mem_pages
        && needs.sockets_on_host > high
    {
        verdict.warnings.push(format!(
            "net.ipv4.tcp_mem allows {high} pages ({} MiB) for TCP buffers: {scope} has {} \
             sockets on this host, and each one holding unread or unacknowledged data takes at \
             least a page (a rough minimum; idle sockets take none); if more than {high} are \
             busy at once the kernel drops data; raise it with `sysctl -w \
             net.ipv4.tcp_mem=\"{} {} {}\"`",
            (high * TCP_PAGE_BYTES) >> 20,
            needs.sockets_on_host,
            needs.sockets_on_host / 2,
            needs.sockets_on_host * 3 / 4,
            needs.sockets_on_host
        ));
    }
    if let (Some(somaxconn), Some(arrivals)) = (kernel.somaxconn, needs.arrivals_per_100ms)
        && arrivals > somaxconn
    {
        verdict.warnings.push(format!(
            "net.core.somaxconn is {somaxconn}: about {arrivals} clients of {scope} arrive at a \
             listener on this host per 100 ms; if it stops accepting that long its queue \
             overflows and those connects are retried after a second; raise it with `sysctl -w \
             net.core.somaxconn={arrivals}` or lengthen clients.ramp (or the stages)"
        ));
    }
    verdict
}

/// Checks `layout` against the kernel's limits and shows the warnings; the refusals are the
/// setup error, or (`ignore`) warnings too.
pub fn enforce(layout: &Layout, ignore: bool) -> Result<(), String> {
    let warnings = match preflight(layout) {
        Ok(warnings) => warnings,
        Err(refused) if ignore => vec![format!(
            "{refused}\n(--ignore-kernel-limits: running anyway)"
        )],
        Err(refused) => return Err(refused),
    };
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(())
}

/// Reads the kernel's limits from /proc and checks `layout` against them: the warnings to show,
/// or the setup error.
pub fn preflight(layout: &Layout) -> Result<Vec<String>, String> {
    preflight_in(Path::new("/proc"), layout)
}

/// [`preflight`] against the /proc tree at `proc_root`.
pub fn preflight_in(proc_root: &Path, layout: &Layout) -> Result<Vec<String>, String> {
    let needs = layout.needs();
    let sources: Vec<PortSource> = needs.ports.iter().map(|(s, _)| *s).collect();
    let kernel = Kernel::read(proc_root, &sources);
    check(&needs, &kernel).into_result(&needs.scope)
}

#[cfg(test)]
mod tests;
