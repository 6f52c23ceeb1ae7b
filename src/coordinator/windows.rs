//! Windows: consecutive spans of a run (the steps of a capacity search) whose metrics are
//! gathered apart from the run's totals and handed, each as it closes, to a judge that may end
//! the run there.
//!
//! A window's metrics are exactly what the arbiters recorded between its boundaries: at each
//! boundary the coordinator takes the arbiters' metrics once more (besides the per-second
//! take), and every take counts towards the window that was open when it was issued. A window
//! closes once its boundary take and every take issued before it have come back, whatever
//! order they come back in.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use hdrhistogram::Histogram;

use super::Coordinator;
use crate::metrics::{self, Metrics};
use crate::report::{FaultRecord, TimelinePoint, ToolRecord};

/// What the judge says of a closed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Continue,
    /// End the run now (clients close, the report is written; not an interrupt).
    Stop,
}

/// The judge: called once per closed window, in order, on the coordinator's thread.
pub type Judge = Box<dyn FnMut(ClosedWindow) -> Judgement>;

/// The windows of a run and who judges them.
pub struct WindowPlan {
    /// Where each window ends, since the run's start, in increasing order: window k spans
    /// `ends[k - 1]..ends[k]` (the first from the start). A window ending at or after the
    /// scenario's duration closes when the run reaches it.
    pub ends: Vec<Duration>,
    pub judge: Judge,
}

/// One window, closed: what the run recorded in it.
#[derive(Debug)]
pub struct ClosedWindow {
    pub index: usize,
    /// Seconds since the run started.
    pub start_s: f64,
    pub end_s: f64,
    /// Everything recorded between the window's boundaries.
    pub metrics: Metrics,
    /// The run's per-second points taken inside the window.
    pub timeline: Vec<TimelinePoint>,
    /// Faults that were on during the window.
    pub faults: Vec<FaultRecord>,
    /// The tool in the window: its CPU seconds, and its send lag when no fault was on.
    pub tool: ToolRecord,
    /// Connections open when the window closed.
    pub open_connections: u64,
}

/// The coordinator's side of a [`WindowPlan`].
pub(super) struct Windows {
    ends: Vec<Duration>,
    judge: Judge,
    /// The window takes are counted towards now (`ends.len()`: past the last).
    current: usize,
    /// Windows with takes still out or not yet at their boundary.
    open: BTreeMap<usize, OpenWindow>,
    /// The judge said stop: no window is judged any more.
    stopped: bool,
}

struct OpenWindow {
    metrics: Metrics,
    /// Takes issued in this window not yet back.
    takes_out: u32,
    /// Seconds since the start and the tool's CPU seconds, at its start...
    start: (f64, Option<f64>),
    /// ...and at its boundary, once there.
    end: Option<(f64, Option<f64>)>,
}

impl OpenWindow {
    fn starting(at: (f64, Option<f64>)) -> Self {
        Self {
            metrics: Metrics::default(),
            takes_out: 0,
            start: at,
            end: None,
        }
    }
}

impl Windows {
    pub(super) fn new(plan: WindowPlan) -> Self {
        let mut open = BTreeMap::new();
        if !plan.ends.is_empty() {
            open.insert(0, OpenWindow::starting((0.0, Some(0.0))));
        }
        Self {
            ends: plan.ends,
            judge: plan.judge,
            current: 0,
            open,
            stopped: false,
        }
    }

    /// Boundaries before `duration`, fired by timers (later ones close at the run's end).
    pub(super) fn timed_ends(&self, duration: Duration) -> Vec<(usize, Duration)> {
        self.ends
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, end)| *end < duration)
            .collect()
    }

    /// A take is being issued: the window it counts towards (`None`: no window is open).
    fn issue(&mut self) -> Option<usize> {
        if self.stopped {
            return None;
        }
        let window = self.open.get_mut(&self.current)?;
        window.takes_out += 1;
        Some(self.current)
    }
}

impl Coordinator {
    /// The window a take issued now counts towards.
    pub(super) fn issue_window_take(&mut self) -> Option<usize> {
        self.windows.as_mut().and_then(Windows::issue)
    }

    /// A take issued in window `tag` came back with `metrics`.
    pub(super) fn window_take_back(
        &mut self,
        tag: Option<usize>,
        metrics: &Metrics,
        ctx: &mut Context<Self>,
    ) {
        let Some(tag) = tag else { return };
        let Some(windows) = self.windows.as_mut() else {
            return;
        };
        let Some(window) = windows.open.get_mut(&tag) else {
            return;
        };
        window.metrics.add(metrics);
        window.takes_out = window.takes_out.saturating_sub(1);
        self.close_finished_windows(ctx);
    }

    /// Window `index` reaches its boundary: one more take closes it.
    pub(super) fn window_boundary(&mut self, index: usize, ctx: &mut Context<Self>) {
        let now = (self.elapsed_s(), self.cpu.used_s());
        let Some(windows) = self.windows.as_mut() else {
            return;
        };
        if windows.stopped || windows.current != index {
            return;
        }
        if let Some(window) = windows.open.get_mut(&index) {
            window.end = Some(now);
        }
        // The boundary take counts towards this window; takes after it to the next.
        self.collect(ctx, Self::on_boundary_take);
        if let Some(windows) = self.windows.as_mut() {
            windows.current = index + 1;
            if index + 1 < windows.ends.len() {
                windows.open.insert(index + 1, OpenWindow::starting(now));
            }
        }
    }

    /// At the run's end (not an interrupt, not a stop): closes the open window when its
    /// boundary is the end.
    pub(super) fn close_window_at_end(&mut self, ctx: &mut Context<Self>) {
        let duration = self.scenario.duration;
        let Some(windows) = self.windows.as_ref() else {
            return;
        };
        let index = windows.current;
        if !windows.stopped && windows.ends.get(index).is_some_and(|end| *end >= duration) {
            self.window_boundary(index, ctx);
        }
    }

    /// The boundary take's metrics also belong to the run's next second.
    fn on_boundary_take(&mut self, second: Metrics, _ctx: &mut Context<Self>) {
        self.carried.add(&second);
    }

    /// Hands every window whose takes are all back, in order, to the judge.
    fn close_finished_windows(&mut self, ctx: &mut Context<Self>) {
        loop {
            let Some(windows) = self.windows.as_mut() else {
                return;
            };
            let Some(first) = windows.open.first_entry() else {
                return;
            };
            if first.get().end.is_none() || first.get().takes_out > 0 {
                return;
            }
            let index = *first.key();
            let window = first.remove();
            if windows.stopped {
                continue;
            }
            let closed = self.closed_window(index, window);
            let Some(windows) = self.windows.as_mut() else {
                return;
            };
            if (windows.judge)(closed) == Judgement::Stop {
                windows.stopped = true;
                windows.open.clear();
                self.end(ctx);
            }
        }
    }

    fn closed_window(&self, index: usize, window: OpenWindow) -> ClosedWindow {
        let (start_s, cpu_start_s) = window.start;
        let (end_s, cpu_end_s) = window.end.unwrap_or((self.elapsed_s(), None));
        let faults: Vec<FaultRecord> = self
            .faults
            .iter()
            .filter(|f| f.started_s < end_s && f.ended_s.is_none_or(|end| end > start_s))
            .cloned()
            .collect();
        // A fault can stall sends without the tool being busy: a window with one on does not
        // judge the tool's send lag.
        let send_lag_fault_free = if faults.is_empty() {
            send_lag(&window.metrics)
        } else {
            None
        };
        ClosedWindow {
            index,
            start_s,
            end_s,
            // A second ending just after the boundary is mostly the window's.
            timeline: self
                .timeline
                .iter()
                .filter(|p| p.t_s > start_s + 0.5 && p.t_s <= end_s + 0.5)
                .cloned()
                .collect(),
            faults,
            tool: ToolRecord {
                cores: self.cpu.cores(),
                cpu_s: cpu_end_s.zip(cpu_start_s).map(|(end, start)| end - start),
                send_lag_fault_free,
                timer_resolution: self.scenario.clients.timer_resolution,
            },
            open_connections: self.totals.counters.open_connections(),
            metrics: window.metrics,
        }
    }
}

/// Heartbeat and message send lag together.
fn send_lag(metrics: &Metrics) -> Option<Histogram<u64>> {
    let mut merged = None;
    for lag in [
        &metrics.hist.send_lag_heartbeat,
        &metrics.hist.send_lag_message,
    ]
    .into_iter()
    .flatten()
    {
        let _ = metrics::slot(&mut merged).add(lag);
    }
    merged
}
