//! The tool's own CPU use: this process's CPU time (user + system, every thread: the clients'
//! arbiters, the coordinator, and the embedded target and chaos proxy when they run in-process)
//! and the cores it may use, so each second of a run can say how close to saturation it was.

use std::time::{Duration, Instant};

/// CPU time this process has used so far (user + system), or `None` where the OS cannot say.
pub fn process_cpu_time() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer it is given and nothing else.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and it started zeroed).
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

/// Cores this process may run on (CPU affinity and cgroup quota taken into account).
pub fn available_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Measures the process's CPU use between successive readings.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    cores: u32,
    started_cpu: Option<Duration>,
    last: Option<(Instant, Duration)>,
}

impl CpuMeter {
    /// Starts measuring now.
    pub fn start() -> Self {
        let cpu = process_cpu_time();
        Self {
            cores: available_cores(),
            started_cpu: cpu,
            last: cpu.map(|cpu| (Instant::now(), cpu)),
        }
    }

    pub fn cores(&self) -> u32 {
        self.cores
    }

    /// The share of the available cores used since the last reading (1.0: every core busy the
    /// whole time), or `None` when the CPU time cannot be read.
    pub fn share_since_last(&mut self) -> Option<f64> {
        let now = Instant::now();
        let cpu = process_cpu_time()?;
        let (then, cpu_then) = self.last.replace((now, cpu))?;
        let wall = now.saturating_duration_since(then).as_secs_f64();
        if wall <= 0.0 {
            return None;
        }
        let used = cpu.saturating_sub(cpu_then).as_secs_f64();
        Some(used / (wall * f64::from(self.cores)))
    }

    /// CPU seconds used since [`CpuMeter::start`].
    pub fn used_s(&self) -> Option<f64> {
        Some(
            process_cpu_time()?
                .saturating_sub(self.started_cpu?)
                .as_secs_f64(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_as_cpu_time_and_a_share() {
        let mut meter = CpuMeter::start();
        assert!(meter.cores() >= 1);
        let spin_until = Instant::now() + Duration::from_millis(30);
        let mut x = 0u64;
        while Instant::now() < spin_until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let share = meter.share_since_last().expect("getrusage works on Linux");
        assert!(share > 0.0, "{share}");
        assert!(meter.used_s().expect("cpu time") > 0.0);
    }
}
