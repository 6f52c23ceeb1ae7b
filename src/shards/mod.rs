//! Past one process: a shard runs clients i, i+n, ... of a scenario (`--shard i/n`, or
//! `--shards N` with the index from `JOB_COMPLETION_INDEX`), from a common instant
//! (`--start-at`, `start`); `wschaos run --procs N` runs N shard processes of itself exactly as
//! the pods of a Kubernetes Indexed Job would run, and merges their reports (`procs`);
//! `wschaos merge` does the merge alone (for shards that ran elsewhere).

mod procs;
pub mod start;

pub use procs::{Merged, run_procs};

use std::path::PathBuf;

use crate::report::{MergeError, MergeOptions, Report, merge, read_all};

/// Which clients this process runs: client ids `index`, `index + count`, ... (`--shard i/n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn owns(self, client: u32) -> bool {
        client % self.count == self.index
    }

    /// Position of an owned client in this shard's arrival order.
    pub fn local_index(self, client: u32) -> usize {
        (client / self.count) as usize
    }

    /// How many of `total` clients this shard runs.
    pub fn size_of(self, total: u32) -> usize {
        (total / self.count + u32::from(self.index < total % self.count)) as usize
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `i/n` with 0 <= i < n.
    fn from_str(s: &str) -> Result<Self, String> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Shard { index, count }),
            _ => Err(format!(
                "expected i/n with 0 <= i < n, like 0/4, found {s:?}"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("cannot start shard {index}: {source}")]
    Spawn { index: u32, source: std::io::Error },
    #[error("shard {index} failed (exit code {code:?}); its output is above")]
    Failed { index: u32, code: Option<i32> },
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// `--shards N` without a usable `JOB_COMPLETION_INDEX`.
    #[error("{0}")]
    Index(String),
}

/// `wschaos merge`: reads shard reports and merges them.
pub fn merge_dirs(inputs: &[PathBuf], options: MergeOptions) -> Result<Report, ShardError> {
    Ok(merge(&read_all(inputs)?, options)?)
}
