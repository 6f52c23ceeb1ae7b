//! `report.json`: the whole `Report`, pretty-printed (schema in README "Report fields").

use std::io;
use std::path::Path;

use super::Report;

pub fn write_json(report: &Report, dir: &Path) -> io::Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    super::atomic::write_atomically(&dir.join("report.json"), (json + "\n").as_bytes())
}
