//! `report.json`: the whole `Report`, pretty-printed (schema in README "Report fields").

use std::io;
use std::path::Path;

use super::Report;

pub fn write_json(report: &Report, dir: &Path) -> io::Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    super::atomic::write_atomically(&dir.join("report.json"), (json + "\n").as_bytes())
}

/// What `run --json` prints: the report, and for a shard its `heartbeat_rtt.hlog` text inside
/// (`heartbeat_rtt_hlog`), so the printed document alone merges exactly (a pod's log is all
/// `kubectl logs` gives back).
pub fn json_for_stdout(report: &Report) -> Result<String, String> {
    let mut value = serde_json::to_value(report).map_err(|e| e.to_string())?;
    if report.shard.is_some()
        && !report.heartbeat_rtt_intervals.is_empty()
        && let Some(fields) = value.as_object_mut()
    {
        let hlog = super::hlog::render(report).map_err(|e| e.to_string())?;
        let text = String::from_utf8(hlog).map_err(|e| e.to_string())?;
        fields.insert("heartbeat_rtt_hlog".into(), text.into());
    }
    serde_json::to_string_pretty(&value).map_err(|e| e.to_string())
}
