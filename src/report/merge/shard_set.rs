//! Which reports may be merged: shards of one run (same scenario hash, or for older reports the
//! same name, seed, duration and clients), each shard once, all of them unless a partial merge
//! is asked for. Every refusal names the report it is about.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::MergeError;
use crate::report::Report;
use crate::shards::Shard;

/// The shards a merge covers: how many the run had and which of them are absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coverage {
    /// The run's shard count (0: the reports are not shards, e.g. whole runs).
    pub count: u32,
    pub missing: Vec<u32>,
}

/// Checks that `reports` are shards of one run and says which are missing (an error unless
/// `allow_partial`).
pub fn check(reports: &[(PathBuf, Report)], allow_partial: bool) -> Result<Coverage, MergeError> {
    let Some((first_path, first)) = reports.first() else {
        return Err(MergeError::Empty);
    };
    for (path, report) in &reports[1..] {
        if let Some(what) = difference(first, report) {
            return Err(MergeError::OtherRun {
                path: path.clone(),
                other: first_path.clone(),
                what,
            });
        }
    }
    let shards: Vec<(&Path, Option<Shard>)> = reports
        .iter()
        .map(|(path, report)| Ok((path.as_path(), shard_of(path, report)?)))
        .collect::<Result<_, MergeError>>()?;
    let Some(count) = shards.iter().find_map(|(_, s)| s.map(|s| s.count)) else {
        // Whole runs (no shard field): nothing to pair up.
        return Ok(Coverage::default());
    };
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for (path, shard) in &shards {
        let Some(shard) = shard else {
            return Err(MergeError::OtherRun {
                path: path.to_path_buf(),
                other: first_path.clone(),
                what: format!("it is a whole run, not one of {count} shards"),
            });
        };
        if shard.count != count {
            return Err(MergeError::OtherRun {
                path: path.to_path_buf(),
                other: first_path.clone(),
                what: format!(
                    "shard {}/{}, the run has {count} shards",
                    shard.index, shard.count
                ),
            });
        }
        if let Some(other) = seen.insert(shard.index, path) {
            return Err(MergeError::Duplicate {
                path: path.to_path_buf(),
                other: other.to_path_buf(),
                shard: format!("{}/{count}", shard.index),
            });
        }
    }
    let missing: Vec<u32> = (0..count).filter(|i| !seen.contains_key(i)).collect();
    if !missing.is_empty() && !allow_partial {
        return Err(MergeError::Missing {
            count,
            missing: list(&missing),
        });
    }
    Ok(Coverage { count, missing })
}

/// `0, 2, 3`.
pub fn list(indexes: &[u32]) -> String {
    indexes
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn shard_of(path: &Path, report: &Report) -> Result<Option<Shard>, MergeError> {
    report
        .shard
        .as_deref()
        .map(|label| {
            label.parse().map_err(|reason| MergeError::OtherRun {
                path: path.to_path_buf(),
                other: path.to_path_buf(),
                what: format!("its shard field {label:?} is not i/n: {reason}"),
            })
        })
        .transpose()
}

/// How `b` is not of the same run as `a`, if it is not.
fn difference(a: &Report, b: &Report) -> Option<String> {
    let (sa, sb) = (&a.scenario, &b.scenario);
    if sa.name != sb.name {
        return Some(format!("scenario {:?}, not {:?}", sb.name, sa.name));
    }
    if sa.seed != sb.seed {
        return Some(format!("seed {}, not {}", sb.seed, sa.seed));
    }
    if sa.duration_s != sb.duration_s || sa.clients != sb.clients {
        return Some(format!(
            "{} clients over {}s, not {} over {}s",
            sb.clients, sb.duration_s, sa.clients, sa.duration_s
        ));
    }
    match (&a.scenario_hash, &b.scenario_hash) {
        (Some(x), Some(y)) if x != y => Some(format!(
            "scenario hash {y}, not {x}: another version of the scenario file"
        )),
        _ => None,
    }
}
