//! The coordinator actor: spawns the clients over the ramp across one arbiter per core, applies
//! the fault timeline, takes every arbiter's metrics each second, and at the end closes every
//! client, drains, and hands back the totals.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::join_all;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::oneshot;

use crate::client::{Client, ClientConfig, DropConnection, FaultStarted, Stop};
use crate::metrics::{self, Metrics};
use crate::progress::Progress;
use crate::report::{FaultRecord, RttInterval, RunRecord, TimelinePoint};
use crate::scenario::{Fault, FaultKind, Scenario};
use crate::server::EmbeddedServer;

/// How often due arrivals are spawned during the ramp.
const SPAWN_TICK: Duration = Duration::from_millis(10);
/// How often metrics are taken from the arbiters.
const COLLECT_EVERY: Duration = Duration::from_secs(1);
/// Extra time after the close grace for clients to finish before the run stops waiting.
const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// What a finished run hands back.
pub struct Outcome {
    pub record: RunRecord,
    /// The embedded server, handed back so its counts can be read and it can be stopped.
    pub server: Option<EmbeddedServer>,
}

/// Ends the run early (Ctrl-C): arrivals and faults stop, clients close, the report is written.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Interrupt;

pub struct Coordinator {
    scenario: Arc<Scenario>,
    client_cfg: Arc<ClientConfig>,
    arbiters: Vec<ArbiterHandle>,
    clients: Vec<Addr<Client>>,
    server: Option<EmbeddedServer>,
    rng: SmallRng,
    started: Instant,
    totals: Metrics,
    timeline: Vec<TimelinePoint>,
    /// Each second's heartbeat RTT histogram, compact, for the interval log.
    rtt_intervals: Vec<RttInterval>,
    /// Where each second's progress goes (the terminal bar), if anywhere.
    progress: Option<Sender<Progress>>,
    faults: Vec<FaultRecord>,
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
        server: Option<EmbeddedServer>,
        done: oneshot::Sender<Outcome>,
    ) -> Self {
        let rng = SmallRng::seed_from_u64(scenario.seed ^ 0xC00D_1A70);
        Self {
            clients: Vec::with_capacity(scenario.clients.count as usize),
            scenario,
            client_cfg,
            arbiters,
            server,
            rng,
            started: Instant::now(),
            totals: Metrics::default(),
            timeline: Vec::new(),
            rtt_intervals: Vec::new(),
            progress: None,
            faults: Vec::new(),
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

    /// Spawns the arrivals that are due: client i arrives at `ramp * i / count`.
    fn spawn_due(&mut self) {
        if self.ending {
            return;
        }
        let count = self.scenario.clients.count as usize;
        let ramp = self.scenario.clients.ramp;
        let due = if ramp.is_zero() {
            count
        } else {
            let share = self.started.elapsed().as_secs_f64() / ramp.as_secs_f64();
            ((share * count as f64).floor() as usize + 1).min(count)
        };
        while self.clients.len() < due {
            let id = self.clients.len() as u32;
            let arbiter = &self.arbiters[id as usize % self.arbiters.len()];
            let cfg = self.client_cfg.clone();
            self.clients
                .push(Client::start_in_arbiter(arbiter, move |_| {
                    Client::new(id, cfg)
                }));
        }
    }

    fn apply(&mut self, fault: Fault, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        let now = Instant::now();
        let started_s = self.elapsed_s();
        match fault.kind {
            FaultKind::ServerKill { downtime } => {
                let Some(mut server) = self.server.take() else {
                    tracing::warn!("server_kill at {:?}: no embedded server to kill", fault.at);
                    return;
                };
                for client in &self.clients {
                    client.do_send(FaultStarted { at: now });
                }
                let index = self.faults.len();
                self.faults.push(FaultRecord {
                    kind: fault.kind.name(),
                    started_s,
                    ended_s: None,
                    clients_targeted: self.clients.len() as u64,
                    connections_cut: server.stats().counts().open,
                });
                let kill = async move {
                    server.kill().await;
                    server
                };
                ctx.spawn(kill.into_actor(self).map(move |server, act, ctx| {
                    act.server = Some(server);
                    let restart = ctx.run_later(downtime, move |act, _| {
                        if let Some(server) = act.server.as_mut()
                            && let Err(err) = server.restart()
                        {
                            tracing::error!(%err, "embedded server could not rebind after server_kill");
                        }
                        let ended = act.elapsed_s();
                        act.faults[index].ended_s = Some(ended);
                    });
                    act.timers.push(restart);
                }));
            }
            FaultKind::Drop { fraction, mode } => {
                let victims: Vec<Addr<Client>> = self
                    .clients
                    .iter()
                    .filter(|_| self.rng.random_bool(fraction))
                    .cloned()
                    .collect();
                let index = self.faults.len();
                self.faults.push(FaultRecord {
                    kind: fault.kind.name(),
                    started_s,
                    ended_s: Some(started_s),
                    clients_targeted: victims.len() as u64,
                    connections_cut: 0,
                });
                let sends = victims.into_iter().map(move |client| {
                    client.send(DropConnection {
                        mode,
                        fault_started: now,
                    })
                });
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
        }
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
            &second.hist.heartbeat_rtt,
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
                    .map(|f| f.kind)
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
        let outcome = Outcome {
            record: RunRecord {
                totals: std::mem::take(&mut self.totals),
                timeline: std::mem::take(&mut self.timeline),
                heartbeat_rtt_intervals: std::mem::take(&mut self.rtt_intervals),
                faults: std::mem::take(&mut self.faults),
                elapsed_s: self.elapsed_s(),
                interrupted: self.interrupted,
            },
            server: self.server.take(),
        };
        self.progress = None;
        let _ = done.send(outcome);
        ctx.stop();
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.started = Instant::now();
        self.spawn_due();
        let spawner = ctx.run_interval(SPAWN_TICK, |act, _| act.spawn_due());
        self.timers.push(spawner);
        let collector =
            ctx.run_interval(COLLECT_EVERY, |act, ctx| act.collect(ctx, Self::on_second));
        self.timers.push(collector);
        for fault in self.scenario.faults.clone() {
            let timer = ctx.run_later(fault.at, move |act, ctx| act.apply(fault, ctx));
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
