//! The allocator, chosen so a long run's resident size stays flat.
//!
//! With glibc's malloc the resident size grew at every reconnect a fault caused, while the live
//! heap stayed level: in a 5,000-client run with six `stop_acking` faults (each making 250
//! clients reconnect for 30 s) the chaos proxy's heap grew about 1 MB per fault and never gave
//! it back (`malloc_stats`: in use +0.1 MB, heap size +1 MB): fragmentation, most likely the
//! small objects of connections that come and go left on pages that then hold a few live ones
//! each, and freed larger chunks split for small requests so the next connection's larger
//! objects need fresh memory. Trimming after storms (`malloc_trim`) returned only whole free
//! pages. jemalloc keeps each size class in its own slabs, so a closed connection's memory is
//! what the next one reuses: the same run stays within about 1.5% after the first fault.
//!
//! Options (read before `main`): a background thread returns freed memory to the kernel
//! `dirty_decay_ms` after it was freed, even while every other thread sleeps, so the size after
//! a storm falls back within seconds; no "muzzy" stage keeps freed pages counted in between.

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's `malloc_conf` (a C string pointer), under the name of this build's prefixed
/// jemalloc.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: ConfString =
    ConfString(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// A pointer to a static C string, shareable between threads (it is never written).
#[cfg(target_os = "linux")]
#[repr(transparent)]
struct ConfString(*const std::ffi::c_char);

// SAFETY: the pointer is to an immutable static string.
#[cfg(target_os = "linux")]
unsafe impl Sync for ConfString {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// jemalloc reads the options above: its background thread runs in this process.
    #[test]
    fn the_background_thread_that_returns_freed_memory_runs() {
        // Enough allocation to make jemalloc initialise and start its thread.
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
        drop(blocks);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let names: Vec<String> = std::fs::read_dir("/proc/self/task")
                .expect("own tasks")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .collect();
            if names.iter().any(|name| name.starts_with("jemalloc_bg_thd")) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "threads: {names:?}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
