//! `wschaos run --procs N`: N child processes of this executable, each `--shard i/N` with its
//! report in `shard-<i>`, waited for and merged.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::ShardError;
use crate::report::{Report, merge, read_report};

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
    let reports = (0..procs)
        .map(|i| {
            let path = dir.join(format!("shard-{i}"));
            read_report(&path).map(|r| (path, r))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(merge(&reports)?)
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
