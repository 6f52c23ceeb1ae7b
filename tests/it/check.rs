//! `wschaos check`: every shipped scenario validates; a broken copy fails with file:line:col.

use std::path::Path;

use crate::common::{exits, refused, wschaos};

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
        exits(wschaos().arg("check").arg(&file), 0);
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

        let stderr = check_fails(&path);
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
    }
}

#[test]
fn run_with_a_bad_scenario_exits_2_before_starting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "name: x\nduration: 1s\n").expect("write");
    let stderr = refused(wschaos().arg("run").arg(&path));
    assert!(stderr.contains("bad.yaml:"), "{stderr}");
}

/// Runs `wschaos check PATH`, expects exit code 2 without a panic and returns stderr.
fn check_fails(path: &Path) -> String {
    refused(wschaos().arg("check").arg(path))
}

#[test]
fn invalid_utf8_is_placed_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("latin1.yaml");
    // Line 3, after four characters (one of them two bytes of UTF-8): the Latin-1 byte 0xE9.
    std::fs::write(&path, b"name: t\nduration: 60s\n# \xc3\xa9t\xe9\n").expect("write");
    let stderr = check_fails(&path);
    assert!(
        stderr.contains(&format!(
            "{}:3:5: invalid UTF-8: a scenario file must be UTF-8 text",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_file_past_one_mebibyte_is_refused_unread() {
    let stderr = check_fails(Path::new("/dev/zero"));
    assert!(
        stderr.contains("/dev/zero: larger than 1048576 bytes; a scenario file is at most 1 MiB"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.yaml");
    let mut text = "# padding\n".repeat(104_858);
    text.push_str("name: t\n");
    std::fs::write(&path, &text).expect("write");
    assert!(text.len() > 1024 * 1024);
    let stderr = check_fails(&path);
    assert!(stderr.contains("larger than 1048576 bytes"), "{stderr}");
}

#[test]
fn a_huge_bad_value_is_cut_in_the_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("long.yaml");
    let name = "a/".repeat(200_000);
    std::fs::write(
        &path,
        format!(
            "name: \"{name}\"\nduration: 60s\ntarget: {{url: embedded}}\nclients: {{count: 1}}\n"
        ),
    )
    .expect("write");
    let stderr = check_fails(&path);
    assert!(stderr.contains(":1:7: name: expected a name"), "{stderr}");
    assert!(
        stderr.contains(&format!("found \"{}\"...", "a/".repeat(40))),
        "{stderr}"
    );
    assert!(stderr.len() < 1_000, "{} bytes on stderr", stderr.len());

    // A long unknown key (YAML allows 1024 characters), reported by the YAML library.
    let key = "k".repeat(1_000);
    std::fs::write(&path, format!("name: t\n{key}: 1\n")).expect("write");
    let stderr = check_fails(&path);
    assert!(stderr.contains("unknown field"), "{stderr}");
    assert!(stderr.len() < 600, "{} bytes on stderr", stderr.len());
}
