//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`) through the same property
//! checks the fuzz targets run, so the default test suite (stable, no libFuzzer) keeps every
//! input the fuzzers found interesting, crash regressions included.

use std::path::Path;

#[path = "../../fuzz/checks.rs"]
mod checks;

/// Runs `check` on each file of `fuzz/corpus/<target>`; a panic names the file.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target}: {} fails its check", file.display());
        }
    }
}

#[test]
fn scenario_corpus() {
    replay("scenario", checks::scenario);
}

#[test]
fn fault_spec_corpus() {
    replay("fault_spec", checks::fault_spec);
}

#[test]
fn threshold_corpus() {
    replay("threshold", checks::threshold);
}

#[test]
fn frames_corpus() {
    replay("frames", checks::frames);
}

#[test]
fn upgrade_response_corpus() {
    replay("upgrade_response", checks::upgrade_response);
}
