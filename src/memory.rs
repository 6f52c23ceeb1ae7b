//! Gives the memory a reconnect storm freed back to the OS. glibc keeps freed chunks for reuse;
//! when thousands of connections close at once (a server kill, a drop, the end of a partition)
//! their buffers leave holes in the heaps that the reconnected connections do not fill exactly,
//! and the resident size steps up at every storm while the live heap stays the same (measured
//! with `mallinfo2` in the soak: live flat, free space +12 MB after two storms). `malloc_trim`
//! returns the free pages. It walks every heap under its lock (1-4 ms at 100 MB here), so it
//! runs on a thread of its own, once per storm after the storm is over, never on the hot path.

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

/// Starts the thread that trims after storms (once per process; a no-op where the C library is
/// not glibc).
pub fn return_freed_memory_after_storms() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
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
