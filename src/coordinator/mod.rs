//! The coordinator actor: starts and stops clients as the stages plan, across one arbiter per
//! core, applies the fault timeline, takes every arbiter's metrics each second, and at the end
//! closes every client, drains, and hands back the totals.
//!
//! One file per job: `lifecycle` (stages, end, drain, finish, interrupt), `live` (who the
//! stages keep live), `faults` (applying the timeline), `collect` (the per-second take of
//! metrics and the progress it feeds).

mod collect;
mod faults;
mod lifecycle;
mod live;
mod windows;

pub use lifecycle::Interrupt;
use live::LiveIds;
pub use windows::{ClosedWindow, Judge, Judgement, WindowPlan};

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use actix::prelude::*;
use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::oneshot;

use crate::chaos::ProxyControl;
use crate::client::{Client, ClientConfig};
use crate::cpu::CpuMeter;
use crate::metrics::Metrics;
use crate::progress::Progress;
use crate::report::{FaultRecord, IntervalSpill, RunRecord, TimelinePoint};
use crate::scenario::Scenario;
use crate::scenario::stages::StageCursor;
use crate::shards::Shard;
use crate::target::ManagedTarget;
use crate::target::cost::TargetMeter;

/// The shortest sleep between two walks of the stages (arrivals spawned, departures stopped).
const SPAWN_TICK: Duration = Duration::from_millis(10);
/// How often metrics are taken from the arbiters.
const COLLECT_EVERY: Duration = Duration::from_secs(1);

/// What a finished run hands back.
pub struct Outcome {
    pub record: RunRecord,
    /// The managed target, handed back so its counts can be read and it can be stopped.
    pub target: Option<ManagedTarget>,
    /// Kills that did not take the target down (its port stayed open): the run did not
    /// measure what it meant to.
    pub target_failures: Vec<String>,
}

pub struct Coordinator {
    scenario: Arc<Scenario>,
    client_cfg: Arc<ClientConfig>,
    arbiters: Vec<ArbiterHandle>,
    /// This shard's clients, in arrival order.
    clients: Vec<Addr<Client>>,
    /// Clients of the whole run that have arrived so far (this shard's and others'), stopped
    /// ones included: the next arrival's id.
    arrived: u32,
    /// How far the stages have been followed.
    plan: StageCursor,
    /// The wake for the next change of the stages (`None`: none left).
    spawner: Option<SpawnHandle>,
    /// The whole run's clients that are planned to be live (not stopped by a down-stage).
    live: LiveIds,
    /// This shard's clients that are planned to be live now.
    live_here: u32,
    shard: Shard,
    /// Taken out while a kill or revive is in progress.
    target: Option<ManagedTarget>,
    target_failures: Vec<String>,
    proxy: Option<Arc<ProxyControl>>,
    rng: SmallRng,
    started: Instant,
    totals: Metrics,
    timeline: Vec<TimelinePoint>,
    /// Each second's heartbeat RTT histogram, compact, for the interval log (on disk while
    /// the run goes).
    rtt_intervals: IntervalSpill,
    /// The tool's own CPU use, read each second.
    cpu: CpuMeter,
    /// The target's own CPU and memory, read each second, when its processes can be sampled.
    target_meter: Option<TargetMeter>,
    /// Send lag of the seconds without a fault on, for the self-diagnosis.
    send_lag_fault_free: Option<Histogram<u64>>,
    /// Where each second's progress goes (the terminal bar), if anywhere.
    progress: Option<Sender<Progress>>,
    faults: Vec<FaultRecord>,
    /// Proxy faults switched on and not yet off.
    active: Vec<usize>,
    ending: bool,
    drain_deadline: Instant,
    interrupted: bool,
    timers: Vec<SpawnHandle>,
    done: Option<oneshot::Sender<Outcome>>,
    /// Spans of the run judged as they close (a capacity search's steps), if any.
    windows: Option<windows::Windows>,
    /// Metrics a window's boundary took since the last second, for the next second's point.
    carried: Metrics,
    /// How long after the run's start (`--start-at`) this process got to start it: the
    /// clients' clock is that much ahead, and the faults and the end come that much sooner.
    joined_late: Duration,
}

impl Coordinator {
    pub fn new(
        scenario: Arc<Scenario>,
        client_cfg: Arc<ClientConfig>,
        arbiters: Vec<ArbiterHandle>,
        target: Option<ManagedTarget>,
        proxy: Option<Arc<ProxyControl>>,
        shard: Shard,
        done: oneshot::Sender<Outcome>,
    ) -> Self {
        let rng = SmallRng::seed_from_u64(scenario.seed ^ 0xC00D_1A70);
        Self {
            clients: Vec::with_capacity(shard.size_of(scenario.clients.count)),
            arrived: 0,
            plan: StageCursor::default(),
            spawner: None,
            live: LiveIds::default(),
            live_here: 0,
            shard,
            scenario,
            client_cfg,
            arbiters,
            target,
            target_failures: Vec::new(),
            proxy,
            rng,
            started: Instant::now(),
            totals: Metrics::default(),
            timeline: Vec::new(),
            rtt_intervals: IntervalSpill::default(),
            cpu: CpuMeter::start(),
            target_meter: None,
            send_lag_fault_free: None,
            progress: None,
            faults: Vec::new(),
            active: Vec::new(),
            ending: false,
            drain_deadline: Instant::now(),
            interrupted: false,
            timers: Vec::new(),
            done: Some(done),
            windows: None,
            carried: Metrics::default(),
            joined_late: Duration::ZERO,
        }
    }

    /// This process joins a run that started `by` ago (`run --start-at`, late).
    pub fn joined_late(mut self, by: Duration) -> Self {
        self.joined_late = by;
        self
    }

    /// Sends each second's progress to `tx` (dropped once the run is over).
    pub fn with_progress(mut self, tx: Option<Sender<Progress>>) -> Self {
        self.progress = tx;
        self
    }

    /// Gathers the metrics of `plan`'s windows apart and hands each to its judge as it closes.
    pub fn with_windows(mut self, plan: Option<WindowPlan>) -> Self {
        self.windows = plan.map(windows::Windows::new);
        self
    }

    /// Samples the target's processes each second with `meter`.
    pub fn with_target_meter(mut self, meter: Option<TargetMeter>) -> Self {
        self.target_meter = meter;
        self
    }

    fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Attempt windows count from the clients' epoch; so do fault times.
        self.started = self.client_cfg.started;
        self.cpu = CpuMeter::start();
        self.spawn_due(ctx);
        let collector =
            ctx.run_interval(COLLECT_EVERY, |act, ctx| act.collect(ctx, Self::on_second));
        self.timers.push(collector);
        // A process that joined a run late (`--start-at` passed) applies the faults already
        // due at once.
        for (index, fault) in self.scenario.faults.clone().into_iter().enumerate() {
            let after = fault.at.saturating_sub(self.joined_late);
            let timer = ctx.run_later(after, move |act, ctx| act.apply(index, fault, ctx));
            self.timers.push(timer);
        }
        let duration = self.scenario.duration;
        let boundaries = self
            .windows
            .as_ref()
            .map(|w| w.timed_ends(duration))
            .unwrap_or_default();
        for (index, end) in boundaries {
            // On the clients' clock, as the stages are: a window ends where its stage does.
            let after = end.saturating_sub(self.started.elapsed());
            let timer = ctx.run_later(after, move |act, ctx| act.window_boundary(index, ctx));
            self.timers.push(timer);
        }
        ctx.run_later(duration.saturating_sub(self.joined_late), |act, ctx| {
            act.end(ctx)
        });
    }
}
