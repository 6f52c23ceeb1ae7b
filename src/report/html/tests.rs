//! The page as a whole: escaping, a capacity search's header, thresholds and chart, and where
//! the time charts end for a run that stopped early.

use super::svg::{BOTTOM, HEIGHT, RIGHT, TOP, WIDTH};
use super::{esc, render};
use crate::capacity::report::tests::search;
use crate::report::{Report, RunRecord, ScenarioInfo, StageInfo};

fn report(scenario: ScenarioInfo, elapsed_s: f64) -> Report {
    let mut report = Report::new(
        scenario,
        "2024-01-01T00:00:00Z".into(),
        RunRecord::default(),
        None,
    );
    report.elapsed_s = elapsed_s;
    report
}

/// The report of a search planned up to 9500 clients (665s) that stopped after its third step,
/// 105s in, as `wschaos capacity` writes it.
fn capacity_report() -> Report {
    let search = search(2);
    let mut scenario = ScenarioInfo::for_test("capacity", 9500, 665.0);
    scenario.target = "embedded".into();
    scenario.stages = search
        .plan
        .counts
        .iter()
        .flat_map(|to| {
            [
                StageInfo::Ramp {
                    to: *to,
                    over_s: 5.0,
                },
                StageInfo::Hold { hold_s: 30.0 },
            ]
        })
        .collect();
    let mut report = report(scenario, 105.0);
    report.capacity = Some(search);
    report
}

/// The `<svg>` under the `<h2>` titled `title`.
fn chart<'a>(html: &'a str, title: &str) -> &'a str {
    let heading = format!("<h2>{title}</h2>");
    let after = &html[html
        .find(&heading)
        .unwrap_or_else(|| panic!("{heading}: {html}"))..];
    let start = after
        .find("<svg")
        .unwrap_or_else(|| panic!("a chart: {after}"));
    let end = after.find("</svg>").unwrap_or(after.len());
    &after[start..end]
}

/// Every `<text>` element: its opening tag and its content.
fn texts(svg: &str) -> Vec<(&str, &str)> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let (tag, after) = rest.split_once('>')?;
            let (content, _) = after.split_once("</text>")?;
            Some((tag, content))
        })
        .collect()
}

/// The number in `name="…"` of a tag.
fn attribute(tag: &str, name: &str) -> f64 {
    let key = format!(" {name}=\"");
    let value = tag
        .split(&key)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{name} in {tag}"));
    value.parse().unwrap_or_else(|_| panic!("{name} in {tag}"))
}

/// The time axis's labels (`20s`, `2m`), in seconds.
fn time_labels(svg: &str) -> Vec<f64> {
    texts(svg)
        .into_iter()
        .filter_map(|(_, text)| match text.strip_suffix('s') {
            Some(seconds) => seconds.parse().ok(),
            None => text
                .strip_suffix('m')
                .and_then(|m| m.parse::<f64>().ok())
                .map(|m| m * 60.0),
        })
        .collect()
}

/// The x of every point of every polyline.
fn polyline_xs(svg: &str) -> Vec<f64> {
    svg.split("<polyline points=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .flat_map(|points| points.split(' '))
        .filter_map(|point| point.split(',').next()?.parse().ok())
        .collect()
}

#[test]
fn escaping() {
    assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    assert_eq!(esc("it's"), "it&#39;s");
    assert_eq!(
        esc("ws://httpbin/"),
        "ws://httpbin/",
        "plain text stays as it is"
    );
}

#[test]
fn a_capacity_header_says_what_was_planned_and_what_ran() {
    let html = render(&capacity_report());
    assert!(
        html.contains(
            "<p class=\"meta\">capacity search against embedded: steps from 500 clients, +500 a \
             step, up to 9500 planned (19 steps of 5s ramp and 30s hold); stopped after step 3 \
             (1500 clients) at 105.0s &middot; seed 7"
        ),
        "{html}"
    );
    assert!(!html.contains("9500 clients against"), "{html}");
}

#[test]
fn a_capacity_report_says_its_thresholds_were_judged_per_step() {
    let html = render(&capacity_report());
    assert!(!html.contains("No thresholds were set"), "{html}");
    assert!(
        html.contains(
            "Judged per step, each over its own ramp and hold, not over the whole run (see the \
             step table under Capacity above): <code>connect.failures == 0</code>, \
             <code>heartbeat_rtt.p99 &lt; 100ms</code>.</p>"
        ),
        "{html}"
    );
    // An ordinary run without thresholds still says so.
    let plain = render(&report(ScenarioInfo::for_test("plain", 3, 2.0), 2.0));
    assert!(plain.contains("No thresholds were set."), "{plain}");
}

#[test]
fn the_capacity_chart_shows_sub_millisecond_rtts_and_a_100ms_limit_both_on_a_log_axis() {
    let html = render(&capacity_report());
    let svg = chart(&html, "Capacity: heartbeat RTT p99 per step");
    assert!(svg.contains("(log scale)"), "{svg}");
    let bottom = HEIGHT - BOTTOM;
    let circles: Vec<f64> = svg
        .split("<circle")
        .skip(1)
        .map(|tag| attribute(tag, "cy"))
        .collect();
    assert_eq!(circles.len(), 3, "{svg}");
    // On a linear axis up to the limit, 350us would lie within a unit of the bottom.
    for cy in circles {
        assert!(cy < bottom - 20.0 && cy > TOP, "{cy}: {svg}");
    }
    let limit = svg
        .split("<line")
        .find(|tag| tag.contains("stroke-dasharray") && tag.contains("#d62728"))
        .unwrap_or_else(|| panic!("the threshold's line: {svg}"));
    let y = attribute(limit, "y1");
    assert!((TOP..=bottom).contains(&y), "{y}: {svg}");
    let labels: Vec<&str> = texts(svg).into_iter().map(|(_, text)| text).collect();
    assert!(
        labels.contains(&"100us") && labels.contains(&"100ms"),
        "{labels:?}"
    );
}

#[test]
fn the_capacity_charts_marks_keep_their_labels_inside_the_plot() {
    let html = render(&capacity_report());
    let svg = chart(&html, "Capacity: heartbeat RTT p99 per step");
    let mut marks = 0;
    for (tag, text) in texts(svg) {
        if !(text.starts_with("capacity ") || text.starts_with("first failure ")) {
            continue;
        }
        marks += 1;
        let x = attribute(tag, "x");
        let width = 8.5 * text.len() as f64;
        let (from, to) = if tag.contains("text-anchor=\"end\"") {
            (x - width, x)
        } else {
            (x, x + width)
        };
        assert!(
            from >= super::svg::LEFT && to <= WIDTH - RIGHT,
            "{text} from {from} to {to}: {svg}"
        );
    }
    assert_eq!(marks, 2, "{svg}");
}

#[test]
fn the_time_charts_of_a_search_end_where_it_stopped() {
    let html = render(&capacity_report());
    let svg = chart(&html, "Clients connected");
    let labels = time_labels(svg);
    assert!(labels.contains(&100.0), "{labels:?}");
    assert!(labels.iter().all(|t| *t <= 105.0), "{labels:?}");
    let edge = WIDTH - RIGHT;
    let xs = polyline_xs(svg);
    assert!(
        !xs.is_empty() && xs.iter().all(|x| *x <= edge + 0.05),
        "{xs:?}"
    );
    // The axis is scaled to the 1500 clients planned by then, not the 9500 of the plan.
    let counts: Vec<f64> = texts(svg)
        .into_iter()
        .filter_map(|(_, text)| text.parse().ok())
        .collect();
    assert!(counts.iter().all(|n| *n <= 2000.0), "{counts:?}");
    assert!(
        counts.contains(&1500.0) || counts.contains(&2000.0),
        "{counts:?}"
    );
    for title in [
        "Heartbeat RTT per second",
        "Disconnects and reconnects per second",
    ] {
        let labels = time_labels(chart(&html, title));
        assert!(labels.iter().all(|t| *t <= 105.0), "{title}: {labels:?}");
    }
}

#[test]
fn the_time_charts_of_an_interrupted_run_end_at_its_elapsed_time() {
    let mut scenario = ScenarioInfo::for_test("staged", 20, 60.0);
    scenario.stages = vec![
        StageInfo::Ramp {
            to: 20,
            over_s: 10.0,
        },
        StageInfo::Hold { hold_s: 50.0 },
    ];
    let mut interrupted = report(scenario.clone(), 12.3);
    interrupted.interrupted = true;
    let html = render(&interrupted);
    let labels = time_labels(chart(&html, "Clients connected"));
    assert!(labels.contains(&10.0), "{labels:?}");
    assert!(labels.iter().all(|t| *t <= 12.3), "{labels:?}");

    // A run that went the whole way keeps its planned duration on the axis.
    let html = render(&report(scenario, 59.9));
    let labels = time_labels(chart(&html, "Clients connected"));
    assert!(labels.contains(&60.0), "{labels:?}");
}
