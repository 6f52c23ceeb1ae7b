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

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Connections closed and connect attempts failed in this process (the churn that fragments).
static CHURN: AtomicU64 = AtomicU64::new(0);

/// Churn since the last trim that makes a storm worth trimming after.
const STORM: u64 = 256;
/// A second with at most this much churn means the storm is over.
const CALM_PER_S: u64 = 16;

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
                    if watch.second(CHURN.load(Ordering::Relaxed)) {
                        trim();
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::debug!(%err, "no memory trimming thread");
        }
    });
}

/// Decides, one second at a time, when a storm has passed.
#[derive(Debug, Default)]
struct StormWatch {
    last_total: u64,
    since_trim: u64,
}

impl StormWatch {
    /// Takes the churn counter's value at the end of a second; true when it is time to trim.
    fn second(&mut self, total: u64) -> bool {
        let this_second = total.saturating_sub(self.last_total);
        self.last_total = total;
        self.since_trim += this_second;
        if self.since_trim >= STORM && this_second <= CALM_PER_S {
            self.since_trim = 0;
            return true;
        }
        false
    }
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
            if watch.second(total) {
                trims.push(second);
            }
        }
        assert_eq!(trims, vec![5], "after the storm, at the first calm second");
        // Slow churn adds up to a storm's worth over time: trimmed once it does.
        let mut slow = Vec::new();
        for second in 0..40 {
            total += 10;
            if watch.second(total) {
                slow.push(second);
            }
        }
        // 6 left over after the storm's trim, then 250 more at 10 a second.
        assert_eq!(slow, vec![24]);
    }
}
