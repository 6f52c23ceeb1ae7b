//! `wschaos run --procs N`: N child processes of this executable started exactly as the pods
//! of an Indexed Job are (`--shards N` with `JOB_COMPLETION_INDEX=i` in the environment, a
//! common `--start-at` a moment ahead), each with its report in `shard-<i>`, waited for and
//! merged by the same code as `wschaos merge`. A stop signal to this process is passed on to
//! every shard, so each ends early and writes its report, and the merge is marked interrupted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use time::OffsetDateTime;

use super::ShardError;
use super::start::{INDEX_VAR, rfc3339};
use crate::cpu::available_cores;
use crate::report::{MergeOptions, Report, merge, read_all};
use crate::signals::{StopSignal, StopSignals};

/// How often the shards are checked for having exited.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How far ahead of now the shards' common start is set (without `--start-at`): time for each
/// to start its process and its target. One that needs longer joins late and says so.
const START_AHEAD: Duration = Duration::from_millis(1500);

/// The shards' merged report, and the signal that stopped the run early, if one did.
pub struct Merged {
    pub report: Report,
    pub stopped_by: Option<StopSignal>,
}

/// Runs `procs` shards of `file` as child processes with reports in `dir/shard-<i>` and
/// returns their merge (the caller checks thresholds and writes it). `seed` must be fixed so all
/// shards agree on the run.
/// `ignore_kernel_limits` is passed on to every shard. The shards start together at `start_at`,
/// or a moment from now. Each runs `threads` client threads, by default its share of the
/// cores (at least one).
pub fn run_procs(
    file: &Path,
    procs: u32,
    seed: u64,
    dir: &Path,
    ignore_kernel_limits: bool,
    start_at: Option<OffsetDateTime>,
    threads: Option<u32>,
) -> Result<Merged, ShardError> {
    let start_at = start_at.unwrap_or_else(|| OffsetDateTime::now_utc() + START_AHEAD);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ShardError::Spawn { index: 0, source })?;
    let stopped_by = runtime.block_on(async {
        // Listening before the shards start: a signal from now on reaches them through here.
        let signals =
            StopSignals::listen().map_err(|source| ShardError::Spawn { index: 0, source })?;
        let shared = SharedArgs {
            seed,
            start_at,
            ignore_kernel_limits,
            threads: threads.unwrap_or_else(|| threads_per_shard(available_cores(), procs)),
        };
        let mut shards = Shards::start(file, procs, dir, &shared)?;
        shards.wait_all(signals).await
    })?;
    let paths: Vec<PathBuf> = (0..procs).map(|i| dir.join(format!("shard-{i}"))).collect();
    Ok(Merged {
        report: merge(&read_all(&paths)?, MergeOptions::default())?,
        stopped_by,
    })
}

/// What every shard is given alike.
struct SharedArgs {
    seed: u64,
    start_at: OffsetDateTime,
    ignore_kernel_limits: bool,
    threads: u32,
}

/// Client threads for each of `procs` shards on `cores` cores: the processes already spread
/// the load, and a thread with more clients wakes fewer times per client.
fn threads_per_shard(cores: u32, procs: u32) -> u32 {
    (cores / procs.max(1)).max(1)
}

/// The running shard processes; dropping it kills those still running.
struct Shards(Vec<(u32, Child)>);

impl Shards {
    fn start(file: &Path, procs: u32, dir: &Path, shared: &SharedArgs) -> Result<Self, ShardError> {
        use std::os::unix::process::CommandExt;
        let exe =
            std::env::current_exe().map_err(|source| ShardError::Spawn { index: 0, source })?;
        let mut shards = Shards(Vec::new());
        for index in 0..procs {
            // Each shard in its own process group: a terminal's Ctrl-C (or a signal to this
            // group) reaches only this process, which passes it on once to every shard. A
            // shard that got it twice would take the second as "quit now" and write no report.
            // The index comes as an Indexed Job gives it to its pods: in the environment.
            let mut command = Command::new(&exe);
            command
                .arg("run")
                .arg(file)
                .arg("--shards")
                .arg(procs.to_string())
                .env(INDEX_VAR, index.to_string())
                .arg("--start-at")
                .arg(rfc3339(shared.start_at))
                .arg("--seed")
                .arg(shared.seed.to_string())
                .arg("--out")
                .arg(dir.join(format!("shard-{index}")))
                .arg("--quiet")
                .arg("--threads")
                .arg(shared.threads.to_string())
                .stdin(Stdio::null())
                .process_group(0);
            if shared.ignore_kernel_limits {
                command.arg("--ignore-kernel-limits");
            }
            crate::signals::die_with_parent(&mut command);
            let child = command
                .spawn()
                .map_err(|source| ShardError::Spawn { index, source })?;
            shards.0.push((index, child));
        }
        Ok(shards)
    }

    /// Sends `signal` to every shard still running.
    fn signal_all(&mut self, signal: StopSignal) {
        for (_, child) in &mut self.0 {
            if let Ok(None) = child.try_wait() {
                // SAFETY: kill(2) on a child's pid (not yet reaped, so not reused); no memory
                // effects.
                unsafe {
                    libc::kill(child.id() as i32, signal.number());
                }
            }
        }
    }

    /// Waits for every shard. The first stop signal is passed on to the shards (each ends early
    /// and writes its report) and the wait goes on; a second one is passed on too (the shards
    /// quit at once) and ends this process with its exit code.
    async fn wait_all(
        &mut self,
        mut signals: StopSignals,
    ) -> Result<Option<StopSignal>, ShardError> {
        let mut stopped_by = None;
        let mut pending: Vec<usize> = (0..self.0.len()).collect();
        while !pending.is_empty() {
            tokio::select! {
                signal = signals.recv() => {
                    if stopped_by.is_some() {
                        // The shards quit at once too, each taking its own target down.
                        self.signal_all(signal);
                        std::process::exit(i32::from(signal.exit_code()));
                    }
                    eprintln!(
                        "interrupted by {0}: the shards close their clients and write their \
                         reports ({0} again to quit now)",
                        signal.name()
                    );
                    stopped_by = Some(signal);
                    self.signal_all(signal);
                }
                _ = tokio::time::sleep(POLL_EVERY) => {}
            }
            let mut failed = None;
            pending.retain(|&i| {
                let (index, child) = &mut self.0[i];
                match child.try_wait() {
                    Ok(Some(status)) => {
                        // 0 ok, 1 thresholds, 128 + signal stopped early: the report exists.
                        let stopped = status.code().is_some_and(StopSignal::is_exit_code);
                        if !(matches!(status.code(), Some(0 | 1)) || stopped) {
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
                return Err(err);
            }
        }
        Ok(stopped_by)
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::threads_per_shard;

    #[test]
    fn each_shard_gets_its_share_of_the_cores_and_at_least_one_thread() {
        assert_eq!(threads_per_shard(2, 1), 2);
        assert_eq!(threads_per_shard(2, 2), 1);
        assert_eq!(threads_per_shard(2, 56), 1);
        assert_eq!(threads_per_shard(16, 4), 4);
        assert_eq!(threads_per_shard(16, 5), 3);
        assert_eq!(threads_per_shard(1, 0), 1);
    }
}
