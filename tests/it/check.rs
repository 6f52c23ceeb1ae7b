//! `wschaos check`: every shipped scenario validates; a broken copy fails with file:line:col.

use std::path::Path;

use crate::common::wschaos;

#[test]
fn every_shipped_scenario_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2);
    for file in files {
        let out = wschaos()
            .arg("check")
            .arg(&file)
            .output()
            .expect("run wschaos");
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_broken_copy_fails_with_file_line_column_and_exit_2() {
    let original =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/flaky.yaml"))
            .expect("flaky.yaml");
    let cases = [
        // (replace, with, expected line, expected message fragment)
        ("at: 43s", "at: 90s", "past the scenario duration"),
        (
            "fraction: 0.1",
            "fraction: 1.5",
            "expected a number from 0.0 to 1.0",
        ),
        ("interval: 2s", "interval: 0s", "greater than zero"),
        ("count: 2000", "cuont: 2000", "unknown field `cuont`"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for (from, to, message) in cases {
        assert!(
            original.contains(from),
            "flaky.yaml no longer contains {from:?}"
        );
        let broken = original.replacen(from, to, 1);
        let line = broken
            .lines()
            .position(|l| l.contains(to))
            .expect("replaced line")
            + 1;
        let column = broken
            .lines()
            .nth(line - 1)
            .and_then(|l| l.find(to))
            .expect("column")
            + 1;
        let path = dir.path().join("broken.yaml");
        std::fs::write(&path, &broken).expect("write");

        let out = wschaos()
            .arg("check")
            .arg(&path)
            .output()
            .expect("run wschaos");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {stderr}");
        let prefix = format!("{}:{line}:", path.display());
        assert!(
            stderr.contains(&prefix),
            "{to}: expected {prefix} in {stderr}"
        );
        // The column points into the replaced text (at the key or at its value).
        let col: usize = stderr
            .split(&prefix)
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .and_then(|c| c.parse().ok())
            .expect("a column");
        assert!(
            (column..column + to.len()).contains(&col),
            "{to}: column {col} outside {column}..{}: {stderr}",
            column + to.len()
        );
        assert!(stderr.contains(message), "{to}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn run_with_a_bad_scenario_exits_2_before_starting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "name: x\nduration: 1s\n").expect("write");
    let out = wschaos()
        .arg("run")
        .arg(&path)
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml:"));
}
