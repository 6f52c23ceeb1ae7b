//! The run's life: arrivals over the ramp, the end (at the scenario's duration or on an
//! interrupt), the drain while clients close, and the outcome handed back.

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{Coordinator, Outcome};
use crate::client::{Client, Stop};
use crate::metrics::Metrics;
use crate::report::{RunRecord, ToolRecord};

/// Extra time after the close grace for clients to finish before the run stops waiting.
const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// Ends the run early (Ctrl-C): arrivals and faults stop, clients close, the report is written.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Interrupt;

impl Coordinator {
    /// Spawns the arrivals that are due: client i arrives at `ramp * i / count` (only this
    /// shard's clients: i, i + n, ...).
    pub(super) fn spawn_due(&mut self) {
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

    /// The scenario's end (or an interrupt): manual close for every client, then drain.
    pub(super) fn end(&mut self, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        self.ending = true;
        for handle in self.timers.drain(..) {
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
        for record in &mut self.faults {
            if let Some(share) = self.totals.faults.get(record.index) {
                record.complete(share, &self.totals.attempts, follows_stream);
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
