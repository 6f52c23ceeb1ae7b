//! The per-second take: every arbiter's metrics since the last take, merged into the totals,
//! a timeline point (with the tool's own CPU share, and the target's CPU and memory when it is
//! sampled) and a heartbeat RTT interval, and the progress line it feeds.

use actix::prelude::*;
use futures_util::future::join_all;
use tokio::sync::oneshot;

use super::Coordinator;
use crate::metrics::{self, Metrics};
use crate::progress::Progress;
use crate::report::{RttInterval, TimelinePoint};
use crate::target::ManagedTarget;

impl Coordinator {
    /// Takes every arbiter's metrics since the last take and merges them into the totals (and
    /// into the window open when the take was issued).
    pub(super) fn collect(
        &mut self,
        ctx: &mut Context<Self>,
        then: fn(&mut Self, Metrics, &mut Context<Self>),
    ) {
        let window = self.issue_window_take();
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
                    act.window_take_back(window, &second, ctx);
                    then(act, second, ctx);
                }),
        );
    }

    pub(super) fn on_second(&mut self, mut second: Metrics, _ctx: &mut Context<Self>) {
        // What a window's boundary took since the last second belongs to this one too.
        second.add(&std::mem::take(&mut self.carried));
        let now_s = self.elapsed_s();
        let mut point = TimelinePoint::new(now_s, &self.totals.counters, &second);
        point.planned_clients = u64::from(self.live_here);
        point.tool_cpu_share = self.cpu.share_since_last();
        if let Some(meter) = &mut self.target_meter {
            // While a kill or restart has the target out, the meter goes by what it knew.
            let root = self.target.as_ref().and_then(ManagedTarget::root_pid);
            if let Some(sample) = meter.sample(root) {
                point.target_cpu_share = sample.cpu_share;
                point.target_rss_kib = Some(sample.rss_kib);
            }
        }
        let start_s = self.rtt_intervals.end_s();
        if !self
            .faults
            .iter()
            .any(|f| f.ended_s.is_none_or(|end| end >= start_s))
        {
            // A fault can stall sends without the tool being busy: only fault-free seconds
            // judge the tool's send lag.
            for lag in [
                &second.hist.send_lag_heartbeat,
                &second.hist.send_lag_message,
            ]
            .into_iter()
            .flatten()
            {
                let _ = metrics::slot(&mut self.send_lag_fault_free).add(lag);
            }
        }
        self.rtt_intervals.push(RttInterval::of(
            second.hist.heartbeat_rtt.as_ref(),
            start_s,
            now_s - start_s,
        ));
        self.report_progress(&point, now_s, start_s);
        self.timeline.push(point);
    }

    /// Sends this second's progress (faults active since `start_s`), if anyone listens.
    fn report_progress(&mut self, point: &TimelinePoint, now_s: f64, start_s: f64) {
        let Some(tx) = &self.progress else { return };
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
}
