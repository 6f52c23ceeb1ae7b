//! Synthetic shard reports for `bench/merge_cost.py`: N report directories of one run, each as
//! a shard of C clients over D seconds would write it (report.json, summary.md, report.html,
//! heartbeat_rtt.hlog, junit.xml), made with the library's own report code so the formats are
//! the real ones. Each shard: clients connect over the first 10 s, heartbeat every 5 s (C/5
//! RTTs a second, log-normal around 400 us with a tail), a server kill at 20% of the run (every
//! client detects it in about a second and is back within 0.5-3 s), a drop of 10% at 70%.
//!
//! Usage: synth_shards OUT_DIR SHARDS CLIENTS_PER_SHARD DURATION_S — writes OUT_DIR/shard-<i>.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use wschaos::metrics::{self, AttemptSeries, FaultShare, Metrics};
use wschaos::report::{FaultRecord, Report, RttInterval, RunRecord, ScenarioInfo, TimelinePoint};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: synth_shards OUT_DIR SHARDS CLIENTS_PER_SHARD DURATION_S";
    let [out, shards, clients, duration_s] = args.as_slice() else {
        return Err(usage.into());
    };
    let number = |s: &str| s.parse::<u32>().map_err(|_| usage.to_string());
    let (shards, clients, duration_s) = (number(shards)?, number(clients)?, number(duration_s)?);
    let started_at = "2025-06-01T12:00:00Z";
    let took = Instant::now();
    for index in 0..shards {
        let dir = PathBuf::from(out).join(format!("shard-{index}"));
        let mut report = shard(index, shards, clients, duration_s, started_at);
        report.shard = Some(format!("{index}/{shards}"));
        report.scenario_hash = Some("synthetic".into());
        report
            .write_all(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    eprintln!(
        "{shards} shards of {clients} clients over {duration_s}s written in {:.1}s",
        took.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A log-normal-ish latency in microseconds around `median_us`, with a rare 20x tail.
fn latency_us(rng: &mut SmallRng, median_us: f64) -> Duration {
    let normal: f64 = (0..6).map(|_| rng.random::<f64>()).sum::<f64>() - 3.0;
    let tail = if rng.random::<f64>() < 0.001 {
        20.0
    } else {
        1.0
    };
    Duration::from_micros((median_us * (0.5 * normal).exp() * tail).max(1.0) as u64)
}

fn shard(index: u32, shards: u32, clients: u32, duration_s: u32, started_at: &str) -> Report {
    let mut rng = SmallRng::seed_from_u64(u64::from(index));
    let mut totals = Metrics::default();
    let mut timeline = Vec::new();
    let mut intervals = Vec::new();
    let kill_s = duration_s / 5;
    let drop_s = duration_s * 7 / 10;
    let mut kill = FaultShare::default();
    let mut drop = FaultShare::default();
    let mut attempts = AttemptSeries::default();
    for second in 1..=duration_s {
        let mut this = Metrics::default();
        let arriving = if second <= 10 { clients / 10 } else { 0 };
        for _ in 0..arriving {
            this.counters.clients_started += 1;
            this.counters.clients_connected += 1;
            this.counters.connects += 1;
            metrics::record_us(&mut this.hist.connect_time, latency_us(&mut rng, 2_000.0));
        }
        for (at_s, share, fraction) in [(kill_s, &mut kill, 1.0), (drop_s, &mut drop, 0.1)] {
            if second != at_s + 1 {
                continue;
            }
            let hit = (f64::from(clients) * fraction) as u32;
            for _ in 0..hit {
                share.noticed += 1;
                share.reopened += 1;
                this.counters.disconnects_io_error += 1;
                this.counters.reconnects += 1;
                this.counters.connects += 1;
                let detection = latency_us(&mut rng, 900_000.0);
                let reopen = detection + Duration::from_millis(rng.random_range(500..3000));
                metrics::record_us(&mut share.detection, detection);
                metrics::record_us(&mut share.reopen, reopen);
                metrics::record_us(&mut this.hist.detection, detection);
                metrics::record_us(&mut this.hist.reconnect_time, reopen - detection);
                let tries = rng.random_range(1..4u64);
                metrics::slot(&mut share.attempts).saturating_record(tries);
                metrics::slot(&mut this.hist.reconnect_attempts).saturating_record(tries);
                let window = ((f64::from(at_s) + reopen.as_secs_f64()) * 10.0) as usize;
                attempts.bump(window);
            }
        }
        let acks = clients / 5;
        this.counters.heartbeats_sent += u64::from(acks);
        this.counters.heartbeat_acks += u64::from(acks);
        for _ in 0..acks {
            metrics::record_us(&mut this.hist.heartbeat_rtt, latency_us(&mut rng, 400.0));
        }
        totals.add(&this);
        let t_s = f64::from(second);
        let mut point = TimelinePoint::new(t_s, &totals.counters, &this);
        point.planned_clients = u64::from(clients.min(second * clients / 10));
        point.tool_cpu_share = Some(0.2 + rng.random::<f64>() * 0.1);
        timeline.push(point);
        intervals.push(RttInterval::of(
            this.hist.heartbeat_rtt.as_ref(),
            t_s - 1.0,
            1.0,
        ));
    }
    totals.attempts = attempts;
    let mut faults = Vec::new();
    for (i, (kind, at_s, share)) in [("server_kill", kill_s, &kill), ("drop", drop_s, &drop)]
        .into_iter()
        .enumerate()
    {
        let mut record = FaultRecord::started(i, kind, f64::from(at_s), clients as usize);
        record.ended_s = Some(f64::from(at_s) + 3.0);
        record.complete(share, &totals.attempts, false);
        faults.push(record);
    }
    let info = ScenarioInfo {
        name: "merge-cost".into(),
        seed: 1,
        duration_s: f64::from(duration_s),
        clients: clients * shards,
        target: "ws://127.0.0.1:9001/".into(),
        tls_insecure: false,
        compression_offered: false,
        stages: Vec::new(),
        protocol: "raw".into(),
    };
    let record = RunRecord {
        totals,
        timeline,
        faults,
        heartbeat_rtt_intervals: intervals,
        elapsed_s: f64::from(duration_s) + 0.5,
        all_connected_s: Some(10.0),
        interrupted: false,
        tool: wschaos::report::ToolRecord {
            cores: 2,
            cpu_s: Some(f64::from(duration_s) * 0.25),
            send_lag_fault_free: None,
            timer_resolution: Duration::from_millis(1),
        },
        target: None,
    };
    Report::new(info, started_at.into(), record, None)
}
