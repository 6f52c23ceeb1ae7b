//! `junit.xml`: one test suite for the run, one test case per threshold, so CI shows each
//! pass/fail criterion; a failed threshold is a failure carrying the measured value.

use std::io;
use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::Report;

/// The JUnit XML for a report.
pub fn render(report: &Report) -> io::Result<String> {
    let name = format!("wschaos.{}", report.scenario.name);
    let mut suite = TestSuite::new(name.as_str());
    suite.set_time(Duration::from_secs_f64(report.elapsed_s.max(0.0)));
    suite.add_properties([
        Property::new("seed", report.scenario.seed.to_string()),
        Property::new("clients", report.scenario.clients.to_string()),
        Property::new("target", report.scenario.target.as_str()),
        Property::new("interrupted", report.interrupted.to_string()),
    ]);
    for result in &report.thresholds {
        let status = if result.passed {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(format!(
                    "measured {}, threshold {}",
                    result.measured_display, result.expr
                ))
                .set_type("threshold");
            status
        };
        let mut case = TestCase::new(result.expr.as_str(), status);
        case.set_classname(name.as_str());
        case.add_property(Property::new("measured", result.measured.to_string()));
        suite.add_test_case(case);
    }
    let mut junit = quick_junit::Report::new("wschaos");
    junit.add_test_suite(suite);
    junit.to_string().map_err(io::Error::other)
}

pub fn write_junit(report: &Report, dir: &Path) -> io::Result<()> {
    super::atomic::write_atomically(&dir.join("junit.xml"), render(report)?.as_bytes())
}
