//! The target's own cost, sampled once a second: the CPU share and resident memory of its
//! processes (a `target.command`'s, found like `procfs::members` finds them, or the tree under
//! `run --target-pid`). One read of `/proc/<pid>/stat` per process per sample (it holds CPU
//! ticks, start time and resident pages); the list of processes is looked up again (a scan of
//! /proc) only every few seconds, when the command's own process changed (a restart) or when one
//! of them is gone. The embedded server is not sampled: it runs inside wschaos, so its CPU and
//! memory are part of the tool's own figures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::procfs::{self, ProcessStat, read_stat};
use crate::report::TargetRecord;

/// How often the list of the target's processes is looked up again without a reason to.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Whose processes are sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sampled {
    /// A `target.command`'s processes, by the marker in their environment.
    Command { marker: String },
    /// `run --target-pid`: this process and its descendants.
    Tree { root: i32 },
}

impl Sampled {
    /// How the report names it.
    pub fn describe(&self) -> String {
        match self {
            Sampled::Command { .. } => "target.command".into(),
            Sampled::Tree { root } => format!("--target-pid {root}"),
        }
    }
}

/// One second's reading of the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetSample {
    /// CPU used since the last sample, as a share of the machine's cores (0..1); `None` for
    /// the first.
    pub cpu_share: Option<f64>,
    /// Resident memory of all its processes together.
    pub rss_kib: u64,
}

/// Whether `pid` is a live process (not a zombie) this user can see.
pub fn is_alive(pid: i32) -> bool {
    pid > 0 && read_stat(pid).is_some_and(|stat| !stat.zombie)
}

/// Samples a target's processes; keeps what it needs between samples.
#[derive(Debug)]
pub struct TargetMeter {
    sampled: Sampled,
    /// The command's own process when last looked up (it changes on a restart).
    root: Option<i32>,
    members: Vec<i32>,
    looked_up: Instant,
    /// Each live process's CPU ticks at the last sample, by (pid, start time).
    last_ticks: HashMap<(i32, u64), u64>,
    last_at: Instant,
    /// CPU seconds counted since the meter started.
    cpu_s: f64,
    ticks_per_s: f64,
    page_kib: u64,
    cores: u32,
}

impl TargetMeter {
    /// Starts measuring now: CPU used before this moment is not counted. `root` is the
    /// command's own process, when there is one.
    pub fn start(sampled: Sampled, root: Option<i32>) -> Self {
        // SAFETY: sysconf only reads a configuration value.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let mut meter = Self {
            sampled,
            root,
            members: Vec::new(),
            looked_up: Instant::now(),
            last_ticks: HashMap::new(),
            last_at: Instant::now(),
            cpu_s: 0.0,
            ticks_per_s: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_kib: if page > 0 { page as u64 / 1024 } else { 4 },
            cores: crate::cpu::available_cores(),
        };
        meter.look_up(root);
        let readings = meter.read_members();
        meter.last_ticks = readings
            .into_iter()
            .map(|(key, s)| (key, s.cpu_ticks))
            .collect();
        meter
    }

    pub fn sampled(&self) -> &Sampled {
        &self.sampled
    }

    /// CPU seconds the target used since the meter started (as far as the samples saw).
    pub fn cpu_s(&self) -> f64 {
        self.cpu_s
    }

    /// What the report keeps besides the timeline's samples.
    pub fn record(&self) -> TargetRecord {
        TargetRecord {
            sampled: self.sampled.describe(),
            cpu_s: self.cpu_s,
        }
    }

    fn look_up(&mut self, root: Option<i32>) {
        self.root = root;
        self.members = match &self.sampled {
            Sampled::Command { marker } => procfs::members(root, marker),
            Sampled::Tree { root } => procfs::tree(*root),
        };
        self.looked_up = Instant::now();
    }

    /// Each listed process that is still there and not a zombie, keyed by (pid, start time).
    fn read_members(&self) -> Vec<((i32, u64), ProcessStat)> {
        self.members
            .iter()
            .filter_map(|&pid| {
                let stat = read_stat(pid)?;
                (!stat.zombie).then_some(((pid, stat.started), stat))
            })
            .collect()
    }

    /// Reads the target now; `root` is the command's own process as its handle knows it now
    /// (`None` while it is out for a kill or restart). `None` when none of its processes is
    /// left: the samples stop while the target is down.
    pub fn sample(&mut self, root: Option<i32>) -> Option<TargetSample> {
        let restarted = root.is_some() && root != self.root;
        if restarted || self.looked_up.elapsed() >= REFRESH_EVERY {
            self.look_up(root.or(self.root));
        }
        let mut readings = self.read_members();
        if readings.len() < self.members.len() {
            // One is gone (killed, exited, or a zombie): whoever is left, or came instead.
            self.look_up(root.or(self.root));
            readings = self.read_members();
        }
        let now = Instant::now();
        let wall_s = now.saturating_duration_since(self.last_at).as_secs_f64();
        self.last_at = now;
        let mut ticks = 0;
        for (key, stat) in &readings {
            // A process that was not there at the last sample started since: all its CPU is
            // the target's during the run.
            let before = self.last_ticks.get(key).copied().unwrap_or(0);
            ticks += stat.cpu_ticks.saturating_sub(before);
        }
        self.last_ticks = readings
            .iter()
            .map(|(key, stat)| (*key, stat.cpu_ticks))
            .collect();
        if readings.is_empty() {
            return None;
        }
        let used_s = ticks as f64 / self.ticks_per_s;
        self.cpu_s += used_s;
        Some(TargetSample {
            cpu_share: (wall_s > 0.0).then(|| used_s / (wall_s * f64::from(self.cores))),
            rss_kib: readings
                .iter()
                .map(|(_, stat)| stat.rss_pages * self.page_kib)
                .sum(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::procfs::parse_stat;

    #[test]
    fn a_stat_line_gives_cpu_ticks_start_and_resident_pages() {
        // proc(5): utime 14, stime 15, starttime 22, rss 24; a comm with spaces and a ')'.
        let line = "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    70 30 0 0 20 0 3 0 123456 104857600 2560 18446744073709551615 0 0";
        assert_eq!(
            parse_stat(line),
            Some(ProcessStat {
                ppid: 1,
                started: 123_456,
                cpu_ticks: 100,
                rss_pages: 2560,
                zombie: false,
            })
        );
        assert!(parse_stat(&line.replace(") S ", ") Z ")).is_some_and(|s| s.zombie));
        assert_eq!(parse_stat("4242 (cut short) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
    }

    #[test]
    fn a_busy_child_shows_cpu_and_memory_and_its_samples_stop_once_it_is_gone() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("start a busy shell");
        let pid = child.id() as i32;
        let mut meter = TargetMeter::start(Sampled::Tree { root: pid }, None);
        std::thread::sleep(Duration::from_millis(300));
        let sample = meter.sample(None).expect("a sample of a live process");
        assert!(sample.rss_kib > 0, "{sample:?}");
        assert!(sample.cpu_share.is_some_and(|s| s > 0.0), "{sample:?}");
        assert!(meter.cpu_s() > 0.0);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(meter.sample(None), None, "no process left, no sample");
        assert_eq!(meter.sampled().describe(), format!("--target-pid {pid}"));
    }
}
