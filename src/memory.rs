//! Keeps a long run's resident size flat. Two things made it step up at every reconnect storm
//! while the live heap stayed level (glibc's `malloc_stats` in the soak: in use flat, the main
//! heap's size +7 MB over four storms):
//!
//! - The per-second metrics merge allocates and frees histograms of ~190 KB. glibc raises its
//!   mmap threshold to the size of the first such block freed, so from then on they came from
//!   the heap, and the small objects of a storm's connections split their free space: the next
//!   second's histograms no longer fit and the heap grew. A fixed threshold keeps every block
//!   of 128 KiB or more in its own mapping, returned on free.
//! - When thousands of connections close at once (a server kill, a drop, the end of a
//!   partition), their freed chunks leave whole free pages that glibc keeps. `malloc_trim`
//!   returns them. It walks every heap under its lock (1-4 ms at 100 MB here), so it runs on a
//!   thread of its own, once per storm after the storm is over, never on the hot path.
//! - Faults without churn free memory too (a latency or partition window's queued frames, a
//!   partition's held connections), and no storm follows to trim it: in a 12-minute soak the
//!   last trim of the run returned 8 MB that had sat free since such windows. So the resident
//!   size is also watched, and a growth of a few percent over the last trimmed size is trimmed
//!   in a calm second, at most once per `GROWTH_TRIM_EVERY`.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Connections closed and connect attempts failed in this process (the churn that fragments).
static CHURN: AtomicU64 = AtomicU64::new(0);

/// Churn since the last trim that makes a storm worth trimming after.
const STORM: u64 = 256;
/// A second with at most this much churn means the storm is over.
const CALM_PER_S: u64 = 16;
/// Resident growth over the size after the last trim that is worth a trim: 3%, at least 2 MiB.
const GROWTH_PERCENT: u64 = 3;
const GROWTH_MIN_KIB: u64 = 2 * 1024;
/// At most one growth-triggered trim this often (a ramp grows the live heap every second).
const GROWTH_TRIM_EVERY: u64 = 30;

/// A connection closed or an attempt failed (a relaxed add; once per connection, not per
/// message).
pub fn churned() {
    CHURN.fetch_add(1, Ordering::Relaxed);
}

/// Fixes the mmap threshold and starts the thread that trims after storms (once per process; a
/// no-op where the C library is not glibc).
pub fn return_freed_memory_after_storms() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        fix_mmap_threshold();
        let spawned = std::thread::Builder::new()
            .name("wschaos-trim".into())
            .spawn(|| {
                let mut watch = StormWatch::default();
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    if watch.second(CHURN.load(Ordering::Relaxed), resident_kib()) {
                        trim();
                        watch.trimmed(resident_kib());
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::debug!(%err, "no memory trimming thread");
        }
    });
}

/// Decides, one second at a time, when a storm has passed or freed memory has piled up.
#[derive(Debug, Default)]
struct StormWatch {
    last_total: u64,
    since_trim: u64,
    /// Resident size right after the last trim (the lowest seen since, if it fell).
    trimmed_kib: Option<u64>,
    seconds_since_growth_trim: u64,
}

impl StormWatch {
    /// Takes the churn counter's value and the resident size (if known) at the end of a second;
    /// true when it is time to trim.
    fn second(&mut self, total: u64, resident_kib: Option<u64>) -> bool {
        let this_second = total.saturating_sub(self.last_total);
        self.last_total = total;
        self.since_trim += this_second;
        self.seconds_since_growth_trim += 1;
        let calm = this_second <= CALM_PER_S;
        if self.since_trim >= STORM && calm {
            self.since_trim = 0;
            return true;
        }
        let Some(now) = resident_kib else {
            return false;
        };
        let base = *self.trimmed_kib.get_or_insert(now);
        if now < base {
            self.trimmed_kib = Some(now);
            return false;
        }
        let grown = now - base >= (base * GROWTH_PERCENT / 100).max(GROWTH_MIN_KIB);
        if grown && calm && self.seconds_since_growth_trim >= GROWTH_TRIM_EVERY {
            self.seconds_since_growth_trim = 0;
            return true;
        }
        false
    }

    /// The resident size after a trim: the base later growth is measured from.
    fn trimmed(&mut self, resident_kib: Option<u64>) {
        if resident_kib.is_some() {
            self.trimmed_kib = resident_kib;
        }
    }
}

/// This process's resident size from /proc (None where there is no /proc).
fn resident_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()? / 1024)
}

/// Blocks of this size or more get their own mapping (glibc's initial threshold, kept fixed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; setting it turns the dynamic threshold off.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) } != 1 {
        tracing::debug!("mallopt(M_MMAP_THRESHOLD) refused");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_mmap_threshold() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointers and only works on the allocator's own state.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_a_storm_has_calmed_down_and_not_before() {
        let mut watch = StormWatch::default();
        let mut total = 0;
        let mut trims = Vec::new();
        // Quiet seconds, then a storm of three busy seconds, then calm.
        for (second, churn) in [5, 3, 200, 400, 100, 10, 2, 0, 4].into_iter().enumerate() {
            total += churn;
            if watch.second(total, None) {
                trims.push(second);
            }
        }
        assert_eq!(trims, vec![5], "after the storm, at the first calm second");
        // Slow churn adds up to a storm's worth over time: trimmed once it does.
        let mut slow = Vec::new();
        for second in 0..40 {
            total += 10;
            if watch.second(total, None) {
                slow.push(second);
            }
        }
        // 6 left over after the storm's trim, then 250 more at 10 a second.
        assert_eq!(slow, vec![24]);
    }

    #[test]
    fn trims_when_resident_size_grows_a_few_percent_in_calm_seconds_at_most_every_30_s() {
        let mut watch = StormWatch::default();
        let mut trims = Vec::new();
        // 100 MiB, then 1 MiB more a second with no churn: 3 MiB (3%) is reached at second 3,
        // but the first growth trim waits for 30 seconds since the watch started.
        for second in 0..40u64 {
            let resident = 100 * 1024 + second * 1024;
            if watch.second(0, Some(resident)) {
                trims.push(second);
                // The trim gave back 5 MiB.
                watch.trimmed(Some(resident - 5 * 1024));
            }
        }
        assert_eq!(trims, vec![29]);
        // Growth during a storm waits for calm.
        let mut watch = StormWatch::default();
        assert!(!watch.second(0, Some(100 * 1024)));
        watch.seconds_since_growth_trim = GROWTH_TRIM_EVERY;
        assert!(!watch.second(100, Some(110 * 1024)), "busy second");
        assert!(watch.second(100, Some(110 * 1024)), "calm again");
        // A fall lowers the base: growth counts from the lowest size.
        let mut watch = StormWatch {
            seconds_since_growth_trim: GROWTH_TRIM_EVERY,
            ..StormWatch::default()
        };
        assert!(!watch.second(0, Some(100 * 1024)));
        assert!(!watch.second(0, Some(80 * 1024)));
        assert!(watch.second(0, Some(83 * 1024)), "3 MiB over 80 MiB");
    }

    #[test]
    fn reads_its_own_resident_size() {
        let kib = resident_kib().expect("/proc/self/statm on Linux");
        assert!(kib > 0);
    }
}
