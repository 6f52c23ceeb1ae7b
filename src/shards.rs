//! Past one process: `wschaos run --procs N` runs N copies of itself, each `--shard i/N`
//! (clients i, i+N, ...), and merges their reports; `wschaos merge` does the merge alone (for
//! shards that ran elsewhere, e.g. the pods of a Kubernetes Indexed Job).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::report::{MergeError, Report, merge, read_all};

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("cannot start shard {index}: {source}")]
    Spawn { index: u32, source: std::io::Error },
    #[error("shard {index} failed (exit code {code:?}); its output is above")]
    Failed { index: u32, code: Option<i32> },
    #[error(transparent)]
    Merge(#[from] MergeError),
}

/// Runs `procs` shards of `file` as child processes with reports in `dir/shard-<i>` and
/// returns their merge (the caller checks thresholds and writes it). `seed` must be fixed so all
/// shards agree on the run.
pub fn run_procs(file: &Path, procs: u32, seed: u64, dir: &Path) -> Result<Report, ShardError> {
    let exe = std::env::current_exe().map_err(|source| ShardError::Spawn { index: 0, source })?;
    let mut children: Vec<(u32, Child)> = Vec::new();
    for index in 0..procs {
        let child = Command::new(&exe)
            .arg("run")
            .arg(file)
            .arg("--shard")
            .arg(format!("{index}/{procs}"))
            .arg("--seed")
            .arg(seed.to_string())
            .arg("--out")
            .arg(dir.join(format!("shard-{index}")))
            .arg("--quiet")
            .stdin(Stdio::null())
            .spawn()
            .map_err(|source| ShardError::Spawn { index, source });
        match child {
            Ok(child) => children.push((index, child)),
            Err(err) => {
                for (_, mut started) in children {
                    let _ = started.kill();
                    let _ = started.wait();
                }
                return Err(err);
            }
        }
    }
    wait_all(&mut children)?;
    let paths: Vec<PathBuf> = (0..procs).map(|i| dir.join(format!("shard-{i}"))).collect();
    Ok(merge(&read_all(&paths)?)?)
}

/// Waits for every shard. Ctrl-C reaches the children too (same process group): each ends its
/// run early and writes its report, and this process keeps waiting for them.
fn wait_all(children: &mut [(u32, Child)]) -> Result<(), ShardError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ShardError::Spawn { index: 0, source })?;
    runtime.block_on(async {
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        let mut pending: Vec<usize> = (0..children.len()).collect();
        while !pending.is_empty() {
            tokio::select! {
                _ = &mut ctrl_c => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            let mut failed = None;
            pending.retain(|&i| {
                let (index, child) = &mut children[i];
                match child.try_wait() {
                    Ok(Some(status)) => {
                        // 0 ok, 1 thresholds, 130 interrupted: the report exists either way.
                        if !matches!(status.code(), Some(0 | 1 | 130)) {
                            failed = Some(ShardError::Failed {
                                index: *index,
                                code: status.code(),
                            });
                        }
                        false
                    }
                    Ok(None) => true,
                    Err(_) => false,
                }
            });
            if let Some(err) = failed {
                for (_, child) in children.iter_mut() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(err);
            }
        }
        Ok(())
    })
}

/// `wschaos merge`: reads shard reports and merges them.
pub fn merge_dirs(inputs: &[PathBuf]) -> Result<Report, ShardError> {
    Ok(merge(&read_all(inputs)?)?)
}
