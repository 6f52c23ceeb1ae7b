//! Per-fault figures: who a fault touched, who noticed and how fast, how long until they were
//! back, and the shape of the reconnect storm it caused.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::metrics::{ATTEMPT_WINDOW, AttemptSeries, FaultShare};

/// A fault as it was applied, and what it did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultRecord {
    /// Position on the scenario's (sorted) fault timeline.
    pub index: usize,
    pub kind: String,
    /// Seconds since the run started.
    pub started_s: f64,
    pub ended_s: Option<f64>,
    /// Clients the fault was aimed at (chosen with the scenario seed).
    pub clients_targeted: u64,
    /// `drop`: open connections it cut. `server_kill` of the embedded server: connections the
    /// server held when it died. Otherwise 0.
    pub connections_cut: u64,
    /// Targeted clients whose connection died while the fault was on them.
    pub noticed: u64,
    /// Of those, the ones that were open again before the run ended.
    pub reopened: u64,
    pub messages_lost: u64,
    /// With `clients.stream`: pushed messages the clients it cost a connection missed across
    /// the outage (absent when the run follows no stream, and in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_missed: Option<u64>,
    /// Fault start -> client declares its connection dead, microseconds.
    pub detection_us: Option<Percentiles>,
    /// Fault start -> 50% / 99% / 100% of the clients that noticed were open again.
    pub recovery_us: Option<Recovery>,
    /// Connect attempts a client needed to get back.
    pub reconnect_attempts: Option<Percentiles>,
    /// Connection attempts (all clients) per 100 ms from the fault's start until the last
    /// client that noticed was back.
    pub storm: Option<Storm>,
    /// The histograms behind `detection_us`, `recovery_us` and `reconnect_attempts`, for an
    /// exact merge of shards (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<FaultHistograms>,
}

/// A fault's histograms, each HdrHistogram V2 + DEFLATE, base64 (as a report histogram's
/// `hdr`); absent where nothing was recorded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FaultHistograms {
    /// Fault start -> the client declared its connection dead, microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<String>,
    /// Fault start -> the client was open again, microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopen: Option<String>,
    /// Connect attempts each client needed to get back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    fn of(h: Option<&Histogram<u64>>) -> Option<Self> {
        let h = h.filter(|h| !h.is_empty())?;
        Some(Self {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
            mean: h.mean(),
        })
    }
}

/// Time from the fault's start until a share of the clients that noticed were open again;
/// `None` where that share never made it back.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Recovery {
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub all: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Storm {
    pub window_s: f64,
    pub attempts: u64,
    pub peak_per_100ms: u32,
    pub mean_per_100ms: f64,
    /// Attempts in each 100 ms window of `window_s`, in order, for an exact merge of shards
    /// (absent in older reports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_100ms: Vec<u32>,
}

/// Column titles of the per-fault table (terminal, Markdown, HTML), matching [`FaultRecord::cells`].
pub const FAULT_COLUMNS: [&str; 13] = [
    "fault",
    "at",
    "ended",
    "touched",
    "cut",
    "noticed",
    "back",
    "detect p50",
    "detect p99",
    "back 50%",
    "back 99%",
    "back 100%",
    "missed in outage",
];

/// Last column: the reconnect storm.
pub const STORM_COLUMN: &str = "storm peak/mean per 100ms";

impl FaultRecord {
    /// The fault as table cells for people, in [`FAULT_COLUMNS`] order plus the storm.
    pub fn cells(&self) -> [String; 14] {
        let us = |v: Option<u64>| v.map_or_else(|| "-".to_string(), super::human_us);
        let rec = self.recovery_us;
        [
            self.kind.clone(),
            format!("{:.1}s", self.started_s),
            self.ended_s.map_or("-".to_string(), |e| format!("{e:.1}s")),
            self.clients_targeted.to_string(),
            self.connections_cut.to_string(),
            self.noticed.to_string(),
            self.reopened.to_string(),
            us(self.detection_us.map(|d| d.p50)),
            us(self.detection_us.map(|d| d.p99)),
            us(rec.and_then(|r| r.p50)),
            us(rec.and_then(|r| r.p99)),
            us(rec.and_then(|r| r.all)),
            self.push_missed
                .map_or_else(|| "-".to_string(), |n| n.to_string()),
            self.storm.as_ref().map_or_else(
                || "-".to_string(),
                |s| format!("{}/{:.0}", s.peak_per_100ms, s.mean_per_100ms),
            ),
        ]
    }

    pub fn started(index: usize, kind: &str, started_s: f64, targeted: usize) -> Self {
        Self {
            index,
            kind: kind.to_string(),
            started_s,
            ended_s: None,
            clients_targeted: targeted as u64,
            connections_cut: 0,
            noticed: 0,
            reopened: 0,
            messages_lost: 0,
            push_missed: None,
            detection_us: None,
            recovery_us: None,
            reconnect_attempts: None,
            storm: None,
            histograms: None,
        }
    }

    /// Fills in what the clients reported about this fault (`follows_stream`: the clients
    /// followed a pushed stream, so what they missed across the outage counts).
    pub fn complete(&mut self, share: &FaultShare, attempts: &AttemptSeries, follows_stream: bool) {
        self.push_missed = follows_stream.then_some(share.push_missed);
        self.noticed = share.noticed;
        self.reopened = share.reopened;
        self.messages_lost = share.messages_lost;
        let encode = |h: &Option<Histogram<u64>>| {
            h.as_ref()
                .filter(|h| !h.is_empty())
                .map(super::encode_histogram)
        };
        self.histograms = Some(FaultHistograms {
            detection: encode(&share.detection),
            reopen: encode(&share.reopen),
            attempts: encode(&share.attempts),
        });
        self.summarise(
            share.detection.as_ref(),
            share.reopen.as_ref(),
            share.attempts.as_ref(),
        );
        let Some(reopen) = share.reopen.as_ref().filter(|h| !h.is_empty()) else {
            return;
        };
        let window = ATTEMPT_WINDOW.as_secs_f64();
        let first = (self.started_s / window) as usize;
        let last = ((self.started_s + reopen.max() as f64 / 1e6) / window) as usize;
        let counts: Vec<u32> = (first..=last).map(|w| attempts.at(w)).collect();
        self.storm = Some(Storm::of(counts));
    }

    /// The percentiles of the fault's histograms (`noticed` and `reopened` already set): what a
    /// run and a merge of shards both say.
    pub fn summarise(
        &mut self,
        detection: Option<&Histogram<u64>>,
        reopen: Option<&Histogram<u64>>,
        attempts: Option<&Histogram<u64>>,
    ) {
        self.detection_us = Percentiles::of(detection);
        self.reconnect_attempts = Percentiles::of(attempts);
        self.recovery_us = None;
        let Some(reopen) = reopen.filter(|h| !h.is_empty()) else {
            return;
        };
        // Shares of the clients that noticed, not only of those that came back.
        let at_share = |share_of_noticed: f64| {
            let needed = (share_of_noticed * self.noticed as f64).ceil() as u64;
            (needed <= self.reopened && needed > 0)
                .then(|| reopen.value_at_quantile((needed as f64 / self.reopened as f64).min(1.0)))
        };
        self.recovery_us = Some(Recovery {
            p50: at_share(0.5),
            p99: at_share(0.99),
            all: at_share(1.0),
        });
    }
}

impl Storm {
    /// The storm of these 100 ms windows' attempt counts (at least one window).
    pub fn of(per_100ms: Vec<u32>) -> Self {
        let window = ATTEMPT_WINDOW.as_secs_f64();
        let windows = per_100ms.len().max(1);
        let total: u64 = per_100ms.iter().map(|n| u64::from(*n)).sum();
        Self {
            window_s: windows as f64 * window,
            attempts: total,
            peak_per_100ms: per_100ms.iter().copied().max().unwrap_or(0),
            mean_per_100ms: total as f64 / windows as f64,
            per_100ms,
        }
    }
}
