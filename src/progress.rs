//! Live progress: what the coordinator reports once a second (`Progress`, sent down a channel
//! given in `RunOptions`) and its terminal consumer, an indicatif bar. The bar only reads the
//! channel; nothing in the run waits on it.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::human_us;

/// One second of a run, as the coordinator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub elapsed_s: f64,
    pub duration_s: f64,
    /// Connections open now.
    pub connected: u64,
    /// The scenario's client count.
    pub clients: u32,
    /// Reconnects since the start.
    pub reconnects: u64,
    /// Heartbeat RTT p99 over the last second (0 when there was no ack).
    pub heartbeat_rtt_p99_us: u64,
    /// Kinds of the faults in force during the last second.
    pub active_faults: Vec<String>,
}

impl Progress {
    /// One line for people: `connected 1990/2000  reconnects 12  rtt p99 1.2ms  faults: drop`
    /// (`rtt p99 -` when no heartbeat was acknowledged in the last second).
    pub fn line(&self) -> String {
        let faults = if self.active_faults.is_empty() {
            "none".to_string()
        } else {
            self.active_faults.join(", ")
        };
        let rtt = match self.heartbeat_rtt_p99_us {
            0 => "-".to_string(),
            us => human_us(us),
        };
        format!(
            "connected {}/{}  reconnects {}  rtt p99 {rtt}  faults: {faults}",
            self.connected, self.clients, self.reconnects
        )
    }
}

/// The terminal progress bar: feed it through the sender, then `finish` it.
pub struct TerminalProgress {
    handle: JoinHandle<()>,
}

impl TerminalProgress {
    /// Starts the bar on stdout for a run of `duration`; returns the sender for `RunOptions`.
    pub fn start(duration: Duration) -> (Sender<Progress>, Self) {
        let (tx, rx) = channel();
        let bar = ProgressBar::with_draw_target(
            Some(duration.as_secs().max(1)),
            ProgressDrawTarget::stdout(),
        );
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {pos:>4}/{len}s [{bar:30}] {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        let handle = std::thread::spawn(move || show(&bar, &rx));
        (tx, Self { handle })
    }

    /// Waits for the bar to clear itself (once every sender is gone).
    pub fn finish(self) {
        let _ = self.handle.join();
    }
}

fn show(bar: &ProgressBar, rx: &Receiver<Progress>) {
    for progress in rx {
        bar.set_position(progress.elapsed_s.min(progress.duration_s) as u64);
        bar.set_message(progress.line());
    }
    bar.finish_and_clear();
}
