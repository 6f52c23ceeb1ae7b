//! Reading a `report.json` back into a typed `Report`: the one reader `compare` and `merge`
//! share. Every error names the file and says what is wrong with it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{Report, SCHEMA_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read: not found (give a report directory or its report.json)")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a wschaos report.json: invalid JSON: {source}")]
    NotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: not a wschaos report.json: {what}")]
    NotAReport { path: PathBuf, what: String },
    #[error("{path}: report schema_version {found}, this wschaos reads {SCHEMA_VERSION}")]
    UnsupportedVersion { path: PathBuf, found: u64 },
}

impl Report {
    /// Reads a report: `path` is a report directory or a `report.json` file. The schema
    /// version is checked before the fields, so a report of another version says so.
    pub fn read(path: &Path) -> Result<Report, ReadError> {
        let file = if path.is_dir() {
            path.join("report.json")
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ReadError::NotFound { path: file.clone() }
            } else {
                ReadError::Io {
                    path: file.clone(),
                    source,
                }
            }
        })?;
        let json: Value = serde_json::from_slice(&bytes).map_err(|source| ReadError::NotJson {
            path: file.clone(),
            source,
        })?;
        let not_a_report = |what: String| ReadError::NotAReport {
            path: file.clone(),
            what,
        };
        if !json.is_object() {
            return Err(not_a_report("not a JSON object".into()));
        }
        match json.get("schema_version").map(Value::as_u64) {
            None => return Err(not_a_report("no schema_version".into())),
            Some(None) => return Err(not_a_report("schema_version is not a number".into())),
            Some(Some(found)) if found != u64::from(SCHEMA_VERSION) => {
                return Err(ReadError::UnsupportedVersion { path: file, found });
            }
            Some(Some(_)) => {}
        }
        Report::deserialize(json).map_err(|e| not_a_report(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RunRecord, ScenarioInfo};
    use super::*;

    fn report() -> Report {
        let scenario = ScenarioInfo::for_test("read-back", 3, 2.0);
        let mut report = Report::new(
            scenario,
            "2024-01-01T00:00:00Z".into(),
            RunRecord::default(),
            None,
        );
        report.counters.connects = 5;
        report
    }

    fn error(path: &Path) -> String {
        match Report::read(path) {
            Ok(_) => panic!("{} read as a report", path.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reads_back_what_was_written_from_a_directory_or_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let written = report();
        super::super::write_json(&written, dir.path()).expect("write");
        for path in [dir.path().to_path_buf(), dir.path().join("report.json")] {
            let read = Report::read(&path).expect("a report");
            assert_eq!(read.counters, written.counters);
            assert_eq!(read.scenario.name, "read-back");
            assert_eq!(read.histograms, written.histograms);
        }
    }

    #[test]
    fn each_kind_of_bad_input_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nowhere");
        let message = error(&missing);
        assert!(
            message.contains("nowhere") && message.contains("not found"),
            "{message}"
        );

        let file = dir.path().join("x.json");
        let cases = [
            ("hello", "invalid JSON"),
            ("[1, 2]", "not a JSON object"),
            (r#"{"name": "x"}"#, "no schema_version"),
            (
                r#"{"schema_version": "1"}"#,
                "schema_version is not a number",
            ),
            (
                r#"{"schema_version": 99}"#,
                "schema_version 99, this wschaos reads 1",
            ),
            (r#"{"schema_version": 1}"#, "missing field"),
        ];
        for (text, expected) in cases {
            std::fs::write(&file, text).expect("write");
            let message = error(&file);
            assert!(
                message.starts_with(&file.display().to_string()),
                "{message}"
            );
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
