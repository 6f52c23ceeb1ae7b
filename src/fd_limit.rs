//! The process's file descriptor limit: every connection needs a descriptor, and the default
//! soft limit (often 1024) is far below what a run of thousands of clients needs.

/// Raises the soft descriptor limit to the hard one; warns when `needed` sockets will not fit.
/// (Each client needs one descriptor, two when the embedded server runs in-process.)
pub fn raise(needed: u32) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < u64::from(needed) + 64 => {
            tracing::warn!("file descriptor limit is {limit}: {needed} connections may not all fit")
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "cannot raise the file descriptor limit"),
    }
}
