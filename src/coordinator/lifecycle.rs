//! The run's life: arrivals and departures over the stages, the end (at the scenario's duration or on an
//! interrupt), the drain while clients close, and the outcome handed back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{Coordinator, Outcome, SPAWN_TICK};
use crate::client::{Client, Stop};
use crate::metrics::Metrics;
use crate::report::{RunRecord, ToolRecord};
use crate::scenario::stages::Change;
use crate::target::cost::TargetMeter;

/// Extra time after the close grace for clients to finish before the run stops waiting.
const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// Ends the run early (Ctrl-C): arrivals and faults stop, clients close, the report is written.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Interrupt;

impl Coordinator {
    /// Follows the stages up to now: each arrival gets the next id (clients i, i + n, ... are
    /// this shard's), each departure is a manual close of the most recent arrival still live
    /// (if it is this shard's). An up-stage after a down-stage brings new ids; a stopped
    /// client is never started again.
    /// Then sleeps until the next change is due, at least `SPAWN_TICK` (arrivals of a fast
    /// ramp go in batches), through a hold, and for good after the last stage: an idle process
    /// of a sharded run does not wake a hundred times a second for nothing.
    pub(super) fn spawn_due(&mut self, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        let scenario = Arc::clone(&self.scenario);
        let elapsed = self.started.elapsed();
        let mut plan = std::mem::take(&mut self.plan);
        plan.advance(&scenario.clients.stages, elapsed, |change| match change {
            Change::Up(arrivals) => (0..arrivals).for_each(|_| self.arrive()),
            Change::Down(departures) => (0..departures).for_each(|_| self.depart()),
        });
        let next = plan.next_change(&scenario.clients.stages);
        self.plan = plan;
        self.spawner = next.map(|at| {
            let after = at.saturating_sub(self.started.elapsed()).max(SPAWN_TICK);
            ctx.run_later(after, |act, ctx| act.spawn_due(ctx))
        });
    }

    fn arrive(&mut self) {
        let id = self.arrived;
        self.arrived += 1;
        self.live.push(id);
        if !self.shard.owns(id) {
            return;
        }
        self.live_here += 1;
        let arbiter = &self.arbiters[self.clients.len() % self.arbiters.len()];
        let cfg = self.client_cfg.clone();
        self.clients
            .push(Client::start_in_arbiter(arbiter, move |_| {
                Client::new(id, cfg)
            }));
    }

    fn depart(&mut self) {
        let Some(id) = self.live.pop() else { return };
        if self.shard.owns(id)
            && let Some(client) = self.clients.get(self.shard.local_index(id))
        {
            self.live_here = self.live_here.saturating_sub(1);
            client.do_send(Stop);
        }
    }

    /// The scenario's end (or an interrupt): manual close for every client, then drain.
    pub(super) fn end(&mut self, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        self.ending = true;
        for handle in self.timers.drain(..).chain(self.spawner.take()) {
            ctx.cancel_future(handle);
        }
        if !self.interrupted {
            self.close_window_at_end(ctx);
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
        let follows_stream = self.scenario.clients.stream.is_some();
        let untouched = crate::metrics::FaultShare::default();
        for record in &mut self.faults {
            // A fault no client of this shard recorded still gets its (empty) histograms, so
            // a merge adds every shard's instead of falling back to percentiles.
            let share = self.totals.faults.get(record.index).unwrap_or(&untouched);
            record.complete(share, &self.totals.attempts, follows_stream);
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
                heartbeat_rtt_intervals: std::mem::take(&mut self.rtt_intervals).into_intervals(),
                faults: std::mem::take(&mut self.faults),
                elapsed_s: self.elapsed_s(),
                all_connected_s,
                interrupted: self.interrupted,
                tool: ToolRecord {
                    cores: self.cpu.cores(),
                    cpu_s: self.cpu.used_s(),
                    send_lag_fault_free: self.send_lag_fault_free.take(),
                    timer_resolution: self.scenario.clients.timer_resolution,
                },
                target: self.target_meter.as_ref().map(TargetMeter::record),
            },
            target: self.target.take(),
            target_failures: std::mem::take(&mut self.target_failures),
        };
        self.progress = None;
        let _ = done.send(outcome);
        ctx.stop();
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
