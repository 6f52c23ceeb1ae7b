//! Threshold parsing and evaluation: every accepted and refused form, with offsets.

use super::*;

fn ok(expr: &str) -> Threshold {
    match Threshold::parse(expr) {
        Ok(t) => t,
        Err(e) => panic!("{expr}: {e} at {}", e.offset),
    }
}

fn bad(expr: &str) -> (usize, String) {
    match Threshold::parse(expr) {
        Ok(t) => panic!("{expr} parsed as {t:?}"),
        Err(e) => (e.offset, e.message),
    }
}

#[test]
fn every_histogram_of_a_run_can_be_named() {
    for (name, _) in crate::metrics::Histograms::default().named() {
        let t = ok(&format!("{name}.count > 0"));
        assert_eq!(
            t.metric,
            Metric::Histogram {
                histogram: name,
                stat: "count"
            }
        );
    }
    assert_eq!(ok("send_lag_heartbeat.p99 < 1ms").limit, 1_000.0);
    assert_eq!(ok("send_lag_message.max <= 2ms").limit, 2_000.0);
}

#[test]
fn parses_every_form() {
    let t = ok("heartbeat_rtt.p99 < 50ms");
    assert_eq!(
        t.metric,
        Metric::Histogram {
            histogram: "heartbeat_rtt",
            stat: "p99"
        }
    );
    assert_eq!((t.op, t.limit), (Op::Lt, 50_000.0));
    assert_eq!(ok("reconnect_time.p99.9<=1.5s").limit, 1_500_000.0);
    assert_eq!(ok("detection.max >= 2m").limit, 120e6);
    assert_eq!(ok("message_rtt.mean != 10us").op, Op::Ne);
    assert_eq!(ok("connect_time.count > 10").limit, 10.0);
    assert_eq!(ok("reconnect_attempts.p99 <= 3").limit, 3.0);
    assert_eq!(ok("reconnect.success_rate >= 99.9%").limit, 0.999);
    assert_eq!(ok("heartbeat.delivered_ratio > 0.99").limit, 0.99);
    let gave_up = ok("clients.gave_up == 0");
    assert_eq!(gave_up.metric, Metric::Counter("gave_up"));
    assert_eq!(
        ok("counters.disconnects_dropped < 5").metric,
        Metric::Counter("disconnects_dropped")
    );
    assert_eq!(ok("  messages.lost == 0  ").expr, "messages.lost == 0");
    // Counts: whole numbers up to u64::MAX, a `.0` fraction allowed; other metrics keep
    // their fractions.
    assert_eq!(ok("clients.gave_up <= 2.0").limit, 2.0);
    assert_eq!(
        ok("counters.messages_sent <= 18446744073709551615").limit,
        u64::MAX as f64
    );
    assert_eq!(ok("reconnect_attempts.mean < 1.5").limit, 1.5);
    assert_eq!(ok("reconnect_attempts.p99 <= 2.5").limit, 2.5);
    assert_eq!(ok("disconnects < 3").metric, Metric::Counter("disconnects"));
}

#[test]
fn counters_are_measured_by_name() {
    let scenario = super::super::ScenarioInfo::for_test("t", 1, 1.0);
    let mut report = Report::new(scenario, String::new(), Default::default(), None);
    report.counters.gave_up = 4;
    report.counters.disconnects_dropped = 2;
    report.counters.disconnects_io_error = 3;
    assert_eq!(ok("clients.gave_up == 4").measure(&report), 4.0);
    assert_eq!(ok("counters.disconnects_dropped < 5").measure(&report), 2.0);
    assert_eq!(ok("disconnects < 5").measure(&report), 5.0);
    // Every alias names a real counter, and every counter is reachable as counters.NAME.
    for (alias, field) in COUNTER_ALIASES {
        assert!(Counters::NAMES.contains(field), "{alias} -> {field}");
    }
    for name in Counters::NAMES {
        assert_eq!(
            ok(&format!("counters.{name} >= 0")).metric,
            Metric::Counter(name)
        );
    }
}

#[test]
fn pushed_stream_figures_are_named_by_alias_and_push_latency_is_a_time() {
    let scenario = super::super::ScenarioInfo::for_test("t", 1, 1.0);
    let mut report = Report::new(scenario, String::new(), Default::default(), None);
    report.counters.push_missed_across_outage = 12;
    report.counters.push_gaps = 3;
    report.counters.push_received = 40;
    assert_eq!(ok("push.missed_across_outage == 12").measure(&report), 12.0);
    assert_eq!(ok("push.gaps == 3").measure(&report), 3.0);
    assert_eq!(ok("push.received > 0").measure(&report), 40.0);
    assert_eq!(
        ok("push_latency.p99 < 50ms").metric,
        Metric::Histogram {
            histogram: "push_latency",
            stat: "p99"
        }
    );
    assert!(
        Threshold::parse("push_latency.p99 < 50").is_err(),
        "a time needs a unit"
    );
}

#[test]
fn the_tools_own_figures_are_measured_from_the_load_generator_verdict() {
    let scenario = super::super::ScenarioInfo::for_test("t", 1, 1.0);
    let mut report = Report::new(scenario, String::new(), Default::default(), None);
    let calm = report
        .load_generator
        .clone()
        .expect("every new report has a verdict");
    assert!(!calm.saturated);
    assert!(ok("tool.saturated == 0").evaluate(&report).passed);
    report.load_generator = Some(crate::report::LoadGenerator {
        saturated: true,
        cpu_max_share: Some(0.97),
        send_lag_p99_us: 12_000,
        ..calm
    });
    let saturated = ok("tool.saturated == 0").evaluate(&report);
    assert!(!saturated.passed);
    assert_eq!(saturated.measured_display, "1");
    let cpu = ok("tool.cpu_max < 90%");
    assert_eq!(cpu.limit, 0.9);
    assert!(!cpu.evaluate(&report).passed);
    assert_eq!(ok("tool.send_lag_p99 < 10ms").measure(&report), 12_000.0);
    report.load_generator = None;
    assert_eq!(ok("tool.saturated == 0").measure(&report), 0.0);
    let (at, message) = bad("tool.cpu < 90%");
    assert_eq!(at, 5);
    assert!(message.contains("tool.cpu_max"), "{message}");
    assert_eq!(bad("tool.saturated == 0.5").0, 18);
    assert_eq!(bad("tool.send_lag_p99 < 5").0, 20);
}

#[test]
fn target_figures_judge_the_target_section_and_fail_without_it() {
    let scenario = crate::report::ScenarioInfo::for_test("t", 1, 1.0);
    let mut report = Report::new(scenario, String::new(), Default::default(), None);
    let per_conn = ok("target.rss_per_conn_kib < 20");
    let missing = per_conn.evaluate(&report);
    assert!(!missing.passed, "a figure not measured does not pass");
    assert!(missing.measured_display.starts_with("n/a"), "{missing:?}");
    report.target = Some(crate::report::TargetCost {
        sampled: "target.command".into(),
        samples: 10,
        peak_rss_kib: 50_000,
        cpu_s: 1.5,
        rss_per_conn_kib: Some(12.5),
        rss_base_kib: Some(30_000.0),
        connected_spread: 1000,
        cpu_per_heartbeat_us: Some(80.0),
    });
    let judged = per_conn.evaluate(&report);
    assert!(judged.passed);
    assert_eq!(judged.measured_display, "12.50");
    assert!(
        !ok("target.cpu_per_heartbeat_us < 50")
            .evaluate(&report)
            .passed
    );
    assert_eq!(
        ok("target.cpu_per_heartbeat_us < 50").measure(&report),
        80.0
    );
    let (at, message) = bad("target.rss < 20");
    assert_eq!(at, 7);
    assert!(message.contains("target.rss_per_conn_kib"), "{message}");
}

#[test]
fn errors_point_at_the_bad_token() {
    assert_eq!(bad("heartbeat_rt.p99 < 5ms").0, 0);
    let (at, message) = bad("heartbeat_rtt.p98 < 5ms");
    assert_eq!(at, 14);
    assert!(message.contains("unknown statistic \"p98\""), "{message}");
    let (at, message) = bad("counters.nope == 0");
    assert_eq!(at, 9);
    assert!(message.contains("gave_up"), "{message}");
    let (at, message) = bad("heartbeat_rtt.p99 =< 5ms");
    assert_eq!(at, 18);
    assert!(message.contains("\"=<\""), "{message}");
    assert_eq!(bad("heartbeat_rtt.p99 5ms").0, 18);
    let (at, message) = bad("heartbeat_rtt.p99 < 50");
    assert_eq!(at, 20);
    assert!(message.contains("add a unit"), "{message}");
    assert_eq!(bad("heartbeat_rtt.p99 < 50 ms").0, 22);
    assert_eq!(bad("heartbeat_rtt.p99 < 50h").0, 22);
    assert_eq!(bad("heartbeat_rtt.p99 < fast").0, 20);
    assert_eq!(bad("clients.gave_up == 0ms").0, 20);
    assert_eq!(bad("reconnect.success_rate >= 99.9").0, 26);
    assert_eq!(bad("reconnect.success_rate >= 120%").0, 26);
    let (at, message) = bad("clients.gave_up == 0.5");
    assert_eq!(at, 19);
    assert!(message.contains("a whole number, found 0.5"), "{message}");
    assert_eq!(bad("counters.connects < .5").0, 20);
    assert_eq!(bad("disconnects <= 2.25").0, 15);
    assert_eq!(bad("connect_time.count > 10.5").0, 21);
    let (at, message) = bad("messages.lost < 18446744073709551616");
    assert_eq!(at, 16);
    assert!(message.contains("below 2^64"), "{message}");
    assert_eq!(bad("counters.gave_up < 99999999999999999999.0").0, 19);
    assert_eq!(bad("").0, 0);
    assert_eq!(bad("< 5ms").0, 0);
}
