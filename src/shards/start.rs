//! Starting shards together: `--start-at RFC3339` (or `--start-in 30s`) names the instant every
//! shard's clock counts from, so processes started at different moments (the pods of a Job) share
//! one timeline; `--shards N` takes this process's index from `JOB_COMPLETION_INDEX`, as a
//! Kubernetes Indexed Job sets it.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Shard;

/// The environment variable an Indexed Job sets to each pod's index (0..completions).
pub const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// `--shards N`: shard `JOB_COMPLETION_INDEX` of `count` (`index`: that variable's value, if
/// set).
pub fn shard_of_index(count: u32, index: Option<&str>) -> Result<Shard, String> {
    let Some(text) = index else {
        return Err(format!(
            "--shards {count}: {INDEX_VAR} is not set (a Kubernetes Indexed Job sets it to the \
             pod's index; set it to 0..{} by hand, or use --shard i/n)",
            count.saturating_sub(1)
        ));
    };
    match text.trim().parse::<u32>() {
        Ok(index) if index < count => Ok(Shard { index, count }),
        Ok(index) => Err(format!(
            "--shards {count}: {INDEX_VAR}={index} is out of range (0..{})",
            count - 1
        )),
        Err(_) => Err(format!(
            "--shards {count}: {INDEX_VAR}={text:?} is not a shard index (0..{})",
            count.saturating_sub(1)
        )),
    }
}

/// `--shards N` from this process's environment.
pub fn shard_from_env(count: u32) -> Result<Shard, String> {
    let value = std::env::var_os(INDEX_VAR).map(|v| v.to_string_lossy().into_owned());
    shard_of_index(count, value.as_deref())
}

/// A `--start-at` value: an RFC 3339 instant, like 2025-06-01T12:00:00Z.
pub fn parse_start_at(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|e| {
        format!("expected an RFC 3339 instant like 2025-06-01T12:00:00Z, found {text:?}: {e}")
    })
}

/// A `--start-in` value: a duration from now, like 30s.
pub fn parse_start_in(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("expected a duration like 30s, found {text:?}: {e}"))
}

/// The instant as the report and `--start-at` write it.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Where this process stands against the common start: how long to wait for it, or how late
/// it is (`now` past `at`).
pub fn lateness(at: OffsetDateTime, now: OffsetDateTime) -> Result<Duration, Duration> {
    let ahead = at - now;
    if ahead.is_negative() {
        Err(Duration::try_from(-ahead).unwrap_or_default())
    } else {
        Ok(Duration::try_from(ahead).unwrap_or_default())
    }
}

/// FNV-1a over the scenario as read (seed included): the same file and flags in every shard
/// give the same hash; `merge` refuses reports whose hashes differ.
pub fn scenario_hash(scenario: &crate::scenario::Scenario) -> String {
    let text = format!("{scenario:?}");
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_comes_from_the_variable_and_must_be_in_range() {
        assert_eq!(
            shard_of_index(4, Some("2")),
            Ok(Shard { index: 2, count: 4 })
        );
        for (value, expected) in [
            (None, "is not set"),
            (Some("4"), "out of range (0..3)"),
            (Some("-1"), "is not a shard index"),
            (Some("two"), "is not a shard index"),
            (Some(""), "is not a shard index"),
        ] {
            let err = shard_of_index(4, value).expect_err("refused");
            assert!(err.contains(INDEX_VAR) && err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_start_ahead_waits_and_one_behind_is_late() {
        let at = parse_start_at("2025-06-01T12:00:00Z").expect("instant");
        let before = parse_start_at("2025-06-01T11:59:58.5Z").expect("instant");
        assert_eq!(lateness(at, before), Ok(Duration::from_millis(1500)));
        assert_eq!(lateness(before, at), Err(Duration::from_millis(1500)));
        assert!(parse_start_at("tomorrow").is_err());
        assert_eq!(parse_start_in("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_start_in("soon").is_err());
        assert_eq!(rfc3339(at), "2025-06-01T12:00:00Z");
    }
}
