//! The coordinator actor: spawns the clients over the ramp across one arbiter per core, applies
//! the fault timeline, takes every arbiter's metrics each second, and at the end closes every
//! client, drains, and hands back the totals.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::join_all;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::oneshot;

use crate::chaos::process::TargetProcess;
use crate::chaos::{AckMatcher, ProxyControl, Victims};
use crate::client::{Client, ClientConfig, DropConnection, FaultEnded, FaultStarted, Stop};
use crate::metrics::{self, Metrics};
use crate::progress::Progress;
use crate::report::{FaultRecord, RttInterval, RunRecord, TimelinePoint};
use crate::scenario::{Fault, FaultKind, HeartbeatMode, KillSignal, Scenario};
use crate::server::EmbeddedServer;

/// The server `server_kill` acts on.
pub enum ManagedTarget {
    Embedded(EmbeddedServer),
    Process(TargetProcess),
}

impl ManagedTarget {
    async fn kill(&mut self, signal: KillSignal) {
        match self {
            ManagedTarget::Embedded(server) => server.kill().await,
            ManagedTarget::Process(process) => process.kill(signal).await,
        }
    }

    async fn revive(&mut self) -> Result<(), String> {
        match self {
            ManagedTarget::Embedded(server) => server
                .restart()
                .map_err(|e| format!("the embedded server could not listen again: {e}")),
            ManagedTarget::Process(process) => process.revive().await,
        }
    }

    /// Connections the server holds right now, where it can tell.
    fn open_connections(&self) -> Option<u64> {
        match self {
            ManagedTarget::Embedded(server) => Some(server.stats().counts().open),
            ManagedTarget::Process(_) => None,
        }
    }
}

/// How the proxy recognises acks for this scenario's heartbeat.
pub fn ack_matcher(mode: &HeartbeatMode) -> AckMatcher {
    match mode {
        HeartbeatMode::Ping => AckMatcher::Pong,
        HeartbeatMode::Text { ack, .. } => AckMatcher::Text(bytes::Bytes::from(ack.clone())),
        HeartbeatMode::None => AckMatcher::Nothing,
    }
}

/// How often due arrivals are spawned during the ramp.
const SPAWN_TICK: Duration = Duration::from_millis(10);
/// How often metrics are taken from the arbiters.
const COLLECT_EVERY: Duration = Duration::from_secs(1);
/// Extra time after the close grace for clients to finish before the run stops waiting.
const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// Which clients this process runs: client ids `index`, `index + count`, ... (`--shard i/n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn owns(self, client: u32) -> bool {
        client % self.count == self.index
    }

    /// Position of an owned client in this shard's arrival order.
    pub fn local_index(self, client: u32) -> usize {
        (client / self.count) as usize
    }

    /// How many of `total` clients this shard runs.
    pub fn size_of(self, total: u32) -> usize {
        (total / self.count + u32::from(self.index < total % self.count)) as usize
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `i/n` with 0 <= i < n.
    fn from_str(s: &str) -> Result<Self, String> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Shard { index, count }),
            _ => Err(format!(
                "expected i/n with 0 <= i < n, like 0/4, found {s:?}"
            )),
        }
    }
}

/// What a finished run hands back.
pub struct Outcome {
    pub record: RunRecord,
    /// The managed target, handed back so its counts can be read and it can be stopped.
    pub target: Option<ManagedTarget>,
}

/// Ends the run early (Ctrl-C): arrivals and faults stop, clients close, the report is written.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Interrupt;

pub struct Coordinator {
    scenario: Arc<Scenario>,
    client_cfg: Arc<ClientConfig>,
    arbiters: Vec<ArbiterHandle>,
    /// This shard's clients, in arrival order.
    clients: Vec<Addr<Client>>,
    /// Clients of the whole run that have arrived so far (this shard's and others').
    arrived: u32,
    shard: Shard,
    /// Taken out while a kill or revive is in progress.
    target: Option<ManagedTarget>,
    proxy: Option<Arc<ProxyControl>>,
    rng: SmallRng,
    started: Instant,
    totals: Metrics,
    timeline: Vec<TimelinePoint>,
    /// Each second's heartbeat RTT histogram, compact, for the interval log.
    rtt_intervals: Vec<RttInterval>,
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
            shard,
            scenario,
            client_cfg,
            arbiters,
            target,
            proxy,
            rng,
            started: Instant::now(),
            totals: Metrics::default(),
            timeline: Vec::new(),
            rtt_intervals: Vec::new(),
            progress: None,
            faults: Vec::new(),
            active: Vec::new(),
            ending: false,
            drain_deadline: Instant::now(),
            interrupted: false,
            timers: Vec::new(),
            done: Some(done),
        }
    }

    /// Sends each second's progress to `tx` (dropped once the run is over).
    pub fn with_progress(mut self, tx: Option<Sender<Progress>>) -> Self {
        self.progress = tx;
        self
    }

    fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Spawns the arrivals that are due: client i arrives at `ramp * i / count` (only this
    /// shard's clients: i, i + n, ...).
    fn spawn_due(&mut self) {
        if self.ending {
            return;
        }
        let count = self.scenario.clients.count;
        let ramp = self.scenario.clients.ramp;
        let due = if ramp.is_zero() {
            count
        } else {
            let share = self.started.elapsed().as_secs_f64() / ramp.as_secs_f64();
            ((share * f64::from(count)).floor() as u32 + 1).min(count)
        };
        while self.arrived < due {
            let id = self.arrived;
            self.arrived += 1;
            if !self.shard.owns(id) {
                continue;
            }
            let arbiter = &self.arbiters[self.clients.len() % self.arbiters.len()];
            let cfg = self.client_cfg.clone();
            self.clients
                .push(Client::start_in_arbiter(arbiter, move |_| {
                    Client::new(id, cfg)
                }));
        }
    }

    /// Chooses the clients a fault touches: each arrived client with probability `fraction`.
    /// Every shard draws for every client, so all shards agree on the victims.
    fn choose(&mut self, fraction: f64) -> Vec<u32> {
        let all = 0..self.arrived;
        let chosen: Vec<u32> = if fraction >= 1.0 {
            all.collect()
        } else {
            all.filter(|_| self.rng.random_bool(fraction.clamp(0.0, 1.0)))
                .collect()
        };
        chosen
            .into_iter()
            .filter(|id| self.shard.owns(*id))
            .collect()
    }

    fn client(&self, id: u32) -> Option<&Addr<Client>> {
        self.clients.get(self.shard.local_index(id))
    }

    /// Sends a fault event to the clients it touches.
    fn tell<M>(&self, victims: &[u32], msg: M)
    where
        M: Message<Result = ()> + Copy + Send + 'static,
        Client: Handler<M>,
    {
        for id in victims {
            if let Some(client) = self.client(*id) {
                client.do_send(msg);
            }
        }
    }

    fn apply(&mut self, index: usize, fault: Fault, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        let now = Instant::now();
        let victims = self.choose(fault.fraction);
        let record =
            FaultRecord::started(index, fault.kind.name(), self.elapsed_s(), victims.len());
        if self.faults.len() <= index {
            self.faults.resize_with(index + 1, || record.clone());
        }
        self.faults[index] = record;
        let started = FaultStarted {
            fault: index,
            at: now,
        };
        match fault.kind {
            FaultKind::ServerKill { downtime, signal } => {
                let Some(mut target) = self.target.take() else {
                    tracing::warn!(
                        "server_kill at {:?}: the target is not under wschaos' control right now",
                        fault.at
                    );
                    return;
                };
                self.faults[index].connections_cut = target.open_connections().unwrap_or(0);
                // Every client must know of the fault before its socket can die of it.
                let notices: Vec<_> = victims
                    .iter()
                    .filter_map(|id| self.client(*id))
                    .map(|client| client.send(started))
                    .collect();
                let kill = async move {
                    join_all(notices).await;
                    target.kill(signal).await;
                    target
                };
                ctx.spawn(kill.into_actor(self).map(move |target, act, ctx| {
                    act.target = Some(target);
                    let revive =
                        ctx.run_later(downtime, move |act, ctx| act.revive(index, victims, ctx));
                    act.timers.push(revive);
                }));
            }
            FaultKind::Drop { mode } => {
                self.faults[index].ended_s = Some(self.faults[index].started_s);
                let sends: Vec<_> = victims
                    .iter()
                    .filter_map(|id| self.client(*id))
                    .map(|client| {
                        client.send(DropConnection {
                            mode,
                            fault: index,
                            at: now,
                        })
                    })
                    .collect();
                ctx.spawn(
                    join_all(sends)
                        .into_actor(self)
                        .map(move |replies, act, _| {
                            act.faults[index].connections_cut = replies
                                .into_iter()
                                .filter(|r| matches!(r, Ok(true)))
                                .count()
                                as u64;
                        }),
                );
            }
            FaultKind::Proxy(proxy_fault) => {
                let Some(proxy) = self.proxy.as_ref() else {
                    tracing::warn!(
                        "{} at {:?}: no chaos proxy in place",
                        proxy_fault.name(),
                        fault.at
                    );
                    return;
                };
                let set = if fault.fraction >= 1.0 {
                    Victims::All
                } else {
                    Victims::Clients(Arc::new(victims.iter().copied().collect::<HashSet<u32>>()))
                };
                proxy.activate(index, proxy_fault, set);
                self.tell(&victims, started);
                self.active.push(index);
                let length = fault.duration.unwrap_or_default();
                let end = ctx.run_later(length, move |act, _| act.end_proxy_fault(index, &victims));
                self.timers.push(end);
            }
        }
    }

    fn end_proxy_fault(&mut self, index: usize, victims: &[u32]) {
        if let Some(proxy) = &self.proxy {
            proxy.deactivate(index);
        }
        self.active.retain(|i| *i != index);
        self.tell(victims, FaultEnded { fault: index });
        self.faults[index].ended_s = Some(self.elapsed_s());
    }

    /// The end of a server_kill's downtime: the target comes back.
    fn revive(&mut self, index: usize, victims: Vec<u32>, ctx: &mut Context<Self>) {
        let Some(mut target) = self.target.take() else {
            return;
        };
        let revive = async move {
            let result = target.revive().await;
            (target, result)
        };
        ctx.spawn(
            revive
                .into_actor(self)
                .map(move |(target, result), act, _| {
                    act.target = Some(target);
                    if let Err(err) = result {
                        tracing::error!("after server_kill: {err}");
                    }
                    act.faults[index].ended_s = Some(act.elapsed_s());
                    act.tell(&victims, FaultEnded { fault: index });
                }),
        );
    }

    /// Takes every arbiter's metrics since the last take and merges them into the totals.
    fn collect(
        &mut self,
        ctx: &mut Context<Self>,
        then: fn(&mut Self, Metrics, &mut Context<Self>),
    ) {
        let takes = self.arbiters.iter().map(|arbiter| {
            let (tx, rx) = oneshot::channel();
            let sent = arbiter.spawn_fn(move || {
                let _ = tx.send(metrics::take_local());
            });
            async move {
                if sent {
                    rx.await.unwrap_or_default()
                } else {
                    Metrics::default()
                }
            }
        });
        ctx.spawn(
            join_all(takes)
                .into_actor(self)
                .map(move |shares, act, ctx| {
                    let mut second = Metrics::default();
                    for share in &shares {
                        second.add(share);
                    }
                    act.totals.add(&second);
                    then(act, second, ctx);
                }),
        );
    }

    fn on_second(&mut self, second: Metrics, _ctx: &mut Context<Self>) {
        let now_s = self.elapsed_s();
        let point = TimelinePoint::new(now_s, &self.totals.counters, &second);
        let start_s = self.rtt_intervals.last().map_or(0.0, RttInterval::end_s);
        self.rtt_intervals.push(RttInterval::of(
            second.hist.heartbeat_rtt.as_ref(),
            start_s,
            now_s - start_s,
        ));
        if let Some(tx) = &self.progress {
            let progress = Progress {
                elapsed_s: now_s,
                duration_s: self.scenario.duration.as_secs_f64(),
                connected: point.connected,
                clients: self.scenario.clients.count,
                reconnects: self.totals.counters.reconnects,
                heartbeat_rtt_p99_us: point.heartbeat_rtt_p99_us,
                active_faults: self
                    .faults
                    .iter()
                    .filter(|f| f.ended_s.is_none_or(|end| end >= start_s))
                    .map(|f| f.kind.clone())
                    .collect(),
            };
            if tx.send(progress).is_err() {
                self.progress = None;
            }
        }
        self.timeline.push(point);
    }

    /// The scenario's end (or an interrupt): manual close for every client, then drain.
    fn end(&mut self, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        self.ending = true;
        for handle in self.timers.drain(..) {
            ctx.cancel_future(handle);
        }
        // Heal what the proxy still holds so the clients' close frames get through.
        if let Some(proxy) = &self.proxy {
            for index in self.active.drain(..) {
                proxy.deactivate(index);
            }
        }
        for client in &self.clients {
            client.do_send(Stop);
        }
        self.drain_deadline = Instant::now() + self.client_cfg.close_grace + DRAIN_SLACK;
        ctx.run_interval(Duration::from_millis(100), |act, ctx| {
            act.collect(ctx, Self::on_drain)
        });
    }

    fn on_drain(&mut self, _: Metrics, ctx: &mut Context<Self>) {
        let all_stopped = self.totals.counters.clients_stopped >= self.clients.len() as u64;
        if all_stopped || Instant::now() >= self.drain_deadline {
            self.finish(ctx);
        }
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        let Some(done) = self.done.take() else { return };
        for record in &mut self.faults {
            if let Some(share) = self.totals.faults.get(record.index) {
                record.complete(share, &self.totals.attempts);
            }
        }
        let all_connected_s = self
            .totals
            .last_first_open
            .filter(|_| self.totals.counters.clients_connected >= self.clients.len() as u64)
            .map(|t| t.saturating_duration_since(self.started).as_secs_f64());
        let outcome = Outcome {
            record: RunRecord {
                totals: std::mem::take(&mut self.totals),
                timeline: std::mem::take(&mut self.timeline),
                heartbeat_rtt_intervals: std::mem::take(&mut self.rtt_intervals),
                faults: std::mem::take(&mut self.faults),
                elapsed_s: self.elapsed_s(),
                all_connected_s,
                interrupted: self.interrupted,
            },
            target: self.target.take(),
        };
        self.progress = None;
        let _ = done.send(outcome);
        ctx.stop();
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Attempt windows count from the clients' epoch; so do fault times.
        self.started = self.client_cfg.started;
        self.spawn_due();
        let spawner = ctx.run_interval(SPAWN_TICK, |act, _| act.spawn_due());
        self.timers.push(spawner);
        let collector =
            ctx.run_interval(COLLECT_EVERY, |act, ctx| act.collect(ctx, Self::on_second));
        self.timers.push(collector);
        for (index, fault) in self.scenario.faults.clone().into_iter().enumerate() {
            let timer = ctx.run_later(fault.at, move |act, ctx| act.apply(index, fault, ctx));
            self.timers.push(timer);
        }
        let duration = self.scenario.duration;
        ctx.run_later(duration, |act, ctx| act.end(ctx));
    }
}

impl Handler<Interrupt> for Coordinator {
    type Result = ();

    fn handle(&mut self, _: Interrupt, ctx: &mut Self::Context) {
        if !self.ending {
            self.interrupted = true;
            self.end(ctx);
        }
    }
}
