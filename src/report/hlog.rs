//! `heartbeat_rtt.hlog`: the heartbeat RTT histogram of every second as an HdrHistogram interval
//! log (V2 + DEFLATE, log format 1.3), readable by HdrHistogram's log tools and by the
//! `hdrhistogram` crate's `serialization::interval_log` reader. Values are microseconds.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::Report;

/// One interval of heartbeat RTTs, kept compact (V2 + DEFLATE bytes, a few hundred bytes
/// instead of a ~190 KB histogram) until the log is written.
#[derive(Debug, Clone, PartialEq)]
pub struct RttInterval {
    /// Seconds since the run started.
    pub start_s: f64,
    pub duration_s: f64,
    /// The interval's histogram, HdrHistogram V2 + DEFLATE.
    pub v2: Vec<u8>,
}

impl RttInterval {
    /// The interval of `h` (`None`: nothing recorded in it).
    pub fn of(h: Option<&Histogram<u64>>, start_s: f64, duration_s: f64) -> Self {
        let empty;
        let h = match h {
            Some(h) => h,
            None => {
                empty = crate::metrics::histogram();
                &empty
            }
        };
        let mut v2 = Vec::new();
        // Serialising into a Vec cannot fail for a valid histogram.
        let _ = V2DeflateSerializer::new().serialize(h, &mut v2);
        Self {
            start_s,
            duration_s: duration_s.max(0.0),
            v2,
        }
    }

    pub fn end_s(&self) -> f64 {
        self.start_s + self.duration_s
    }

    /// The interval's histogram (`None` only if the bytes were damaged).
    pub fn histogram(&self) -> Option<Histogram<u64>> {
        Deserializer::new().deserialize(&mut &self.v2[..]).ok()
    }
}

/// A run's intervals as they come, one a second: their bytes (a few hundred to a few thousand
/// each, several MB over an hour) wait in an unlinked temporary file, so a soak's memory does not
/// grow with its length; only a small index stays in memory. If the file cannot be made or
/// written, the intervals stay in memory instead: nothing is lost.
#[derive(Debug, Default)]
pub struct IntervalSpill {
    /// Created at the first interval; kept after a failed write for the intervals before it.
    file: Option<File>,
    /// No file could be made, or a write failed: the intervals from then on are `Kept`.
    failed: bool,
    written: u64,
    slots: Vec<Slot>,
    end_s: f64,
}

#[derive(Debug)]
enum Slot {
    Spilled {
        start_s: f64,
        duration_s: f64,
        offset: u64,
        len: usize,
    },
    Kept(RttInterval),
}

impl IntervalSpill {
    /// Where the last interval ended (0 before the first).
    pub fn end_s(&self) -> f64 {
        self.end_s
    }

    pub fn push(&mut self, interval: RttInterval) {
        self.end_s = interval.end_s();
        if !self.failed && self.file.is_none() {
            self.file = tempfile::tempfile()
                .inspect_err(|err| {
                    tracing::warn!("RTT intervals kept in memory (no temporary file: {err})");
                })
                .ok();
            self.failed = self.file.is_none();
        }
        if let Some(file) = self.file.as_mut().filter(|_| !self.failed) {
            match file.write_all(&interval.v2) {
                Ok(()) => {
                    self.slots.push(Slot::Spilled {
                        start_s: interval.start_s,
                        duration_s: interval.duration_s,
                        offset: self.written,
                        len: interval.v2.len(),
                    });
                    self.written += interval.v2.len() as u64;
                    return;
                }
                Err(err) => {
                    // A partial write leaves bytes past `written` that no slot points at.
                    tracing::warn!("RTT intervals kept in memory from now on ({err})");
                    self.failed = true;
                }
            }
        }
        self.slots.push(Slot::Kept(interval));
    }

    /// Every interval, in order, read back from the file (an interval that cannot be read back
    /// is left out with a warning: the log is an extra, the report's totals do not depend on it).
    pub fn into_intervals(self) -> Vec<RttInterval> {
        let mut intervals = Vec::with_capacity(self.slots.len());
        for slot in self.slots {
            match slot {
                Slot::Kept(interval) => intervals.push(interval),
                Slot::Spilled {
                    start_s,
                    duration_s,
                    offset,
                    len,
                } => {
                    let mut v2 = vec![0; len];
                    let read = match &self.file {
                        Some(file) => file.read_exact_at(&mut v2, offset),
                        None => Err(io::Error::other("the temporary file is gone")),
                    };
                    match read {
                        Ok(()) => intervals.push(RttInterval {
                            start_s,
                            duration_s,
                            v2,
                        }),
                        Err(err) => tracing::warn!(
                            "the RTT interval at {start_s:.0}s is left out of the log ({err})"
                        ),
                    }
                }
            }
        }
        intervals
    }
}

/// The recorded intervals plus, when the totals hold more than they add up to (the drain after
/// the run's end collects metrics too), one final interval with the rest, up to `elapsed_s`.
pub fn complete_intervals(
    mut intervals: Vec<RttInterval>,
    totals: Option<&Histogram<u64>>,
    elapsed_s: f64,
) -> Vec<RttInterval> {
    let Some(totals) = totals else {
        return intervals;
    };
    let mut merged = totals.clone();
    merged.reset();
    for h in intervals.iter().filter_map(RttInterval::histogram) {
        let _ = merged.add(&h);
    }
    if totals.len() > merged.len() {
        let mut rest = totals.clone();
        if rest.subtract(&merged).is_ok() {
            let start_s = intervals.last().map_or(0.0, RttInterval::end_s);
            intervals.push(RttInterval::of(Some(&rest), start_s, elapsed_s - start_s));
        }
    }
    intervals
}

/// The log's text.
pub fn render(report: &Report) -> io::Result<Vec<u8>> {
    let start = time::OffsetDateTime::parse(
        &report.started_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_or(0.0, |t| t.unix_timestamp_nanos() as f64 / 1e9);
    let mut header = String::new();
    let _ = writeln!(header, "#[Histogram log format version 1.3]");
    let _ = writeln!(
        header,
        "#[StartTime: {start:.3} (seconds since epoch), {}]",
        report.started_at
    );
    let _ = writeln!(header, "#[BaseTime: {start:.3} (seconds since epoch)]");
    let _ = writeln!(
        header,
        "#wschaos {}: heartbeat RTT in microseconds, one interval per second",
        report.scenario.name
    );
    let _ = writeln!(
        header,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    );
    let mut out = header.into_bytes();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new().begin_log_with(&mut out, &mut serializer)?;
    for interval in &report.heartbeat_rtt_intervals {
        let Some(h) = interval.histogram() else {
            continue;
        };
        writer
            .write_histogram(
                &h,
                Duration::from_secs_f64(interval.start_s.max(0.0)),
                Duration::from_secs_f64(interval.duration_s),
                None,
            )
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(out)
}

/// The intervals of a log [`render`] wrote (times relative to its base time), or why it is not
/// one.
pub fn parse(text: &[u8]) -> Result<Vec<RttInterval>, String> {
    use base64::Engine;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut intervals = Vec::new();
    for entry in IntervalLogIterator::new(text) {
        let entry = entry.map_err(|e| format!("not an HdrHistogram interval log: {e:?}"))?;
        let LogEntry::Interval(interval) = entry else {
            continue;
        };
        let start_s = interval.start_timestamp().as_secs_f64();
        let v2 = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| format!("the interval at {start_s:.3}s: {e}"))?;
        let parsed = RttInterval {
            start_s,
            duration_s: interval.duration().as_secs_f64(),
            v2,
        };
        if parsed.histogram().is_none() {
            return Err(format!(
                "the interval at {start_s:.3}s is not a valid histogram"
            ));
        }
        intervals.push(parsed);
    }
    Ok(intervals)
}

pub fn write_hlog(report: &Report, dir: &Path) -> io::Result<()> {
    super::atomic::write_atomically(&dir.join("heartbeat_rtt.hlog"), &render(report)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for v in values {
            h.record(*v).expect("in range");
        }
        h
    }

    #[test]
    fn spilled_intervals_come_back_whole_and_in_order() {
        let intervals: Vec<RttInterval> = (0..50u64)
            .map(|i| RttInterval::of(Some(&hist(&[100 + i, 7000 * (i + 1)])), i as f64, 1.0))
            .collect();
        let mut spill = IntervalSpill::default();
        assert_eq!(spill.end_s(), 0.0);
        for (i, interval) in intervals.iter().enumerate() {
            if i == 30 {
                // From here on as after a failed write: kept in memory, order unchanged.
                spill.failed = true;
            }
            spill.push(interval.clone());
        }
        assert_eq!(spill.end_s(), 50.0);
        assert!(matches!(spill.slots[29], Slot::Spilled { .. }));
        assert!(matches!(spill.slots[30], Slot::Kept(_)));
        assert_eq!(
            spill.written as usize,
            intervals[..30].iter().map(|i| i.v2.len()).sum::<usize>()
        );
        let back = spill.into_intervals();
        assert_eq!(back, intervals);
        assert_eq!(
            back[7].histogram().expect("decodes").max(),
            hist(&[56_000]).max()
        );
    }

    #[test]
    fn a_written_log_parses_back_into_its_intervals() {
        let mut report = Report::new(
            super::super::ScenarioInfo::for_test("log", 1, 2.0),
            "2024-01-01T00:00:00Z".into(),
            super::super::RunRecord::default(),
            None,
        );
        report.heartbeat_rtt_intervals = vec![
            RttInterval::of(Some(&hist(&[100, 200])), 0.0, 1.0),
            RttInterval::of(Some(&hist(&[])), 1.0, 1.0),
            RttInterval::of(Some(&hist(&[300])), 2.0, 0.25),
        ];
        let back = parse(&render(&report).expect("render")).expect("parse");
        assert_eq!(back.len(), 3);
        for (a, b) in back.iter().zip(&report.heartbeat_rtt_intervals) {
            assert_eq!(a.start_s, b.start_s);
            assert_eq!(a.duration_s, b.duration_s);
            assert_eq!(a.histogram(), b.histogram());
        }
        assert!(parse(b"1.0,1.0,5.0,notbase64!!\n").is_err());
    }

    #[test]
    fn the_rest_of_the_totals_becomes_a_final_interval() {
        let intervals = vec![
            RttInterval::of(Some(&hist(&[100, 200])), 0.0, 1.0),
            RttInterval::of(Some(&hist(&[300])), 1.0, 1.0),
        ];
        let totals = hist(&[100, 200, 300, 5000, 6000]);
        let all = complete_intervals(intervals, Some(&totals), 2.4);
        assert_eq!(all.len(), 3);
        let last = &all[2];
        assert_eq!(last.start_s, 2.0);
        assert!((last.duration_s - 0.4).abs() < 1e-9);
        let rest = last.histogram().expect("decodes");
        assert_eq!(rest.len(), 2);
        assert_eq!(rest.max(), totals.max());

        let same = complete_intervals(all.clone(), Some(&totals), 2.4);
        assert_eq!(same, all, "nothing left over: no extra interval");
    }
}
