//! `clients.stages`: what valid stages become in the model (and the run's duration when the
//! file leaves it to them), and the error table's rows for every bad form.

use std::time::Duration;

use super::errors::{Case, Says, case, exactly, replacing};
use super::{MINIMAL, ok, secs};
use crate::scenario::Stage;

/// A scenario whose clients are `stages_yaml` (the list's lines, from line 7 on).
fn staged(duration: &str, stages_yaml: &str) -> String {
    format!("name: t\n{duration}target:\n  url: embedded\nclients:\n  stages:\n{stages_yaml}")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn stages_parse_in_order_and_the_peak_is_the_client_count() {
    let s = ok(&staged(
        "duration: 10s\n",
        "    - {to: 1000, over: 3s}\n    - {hold: 2s}\n    - {to: 200, over: 500ms}\n    \
         - {to: 0, over: 0s}\n",
    ));
    assert_eq!(
        s.clients.stages,
        [
            Stage::Ramp {
                to: 1000,
                over: secs(3),
            },
            Stage::Hold(secs(2)),
            Stage::Ramp {
                to: 200,
                over: ms(500),
            },
            Stage::Ramp {
                to: 0,
                over: Duration::ZERO,
            },
        ]
    );
    assert_eq!(s.clients.count, 1000);
    assert_eq!(s.duration, secs(10));
}

#[test]
fn without_a_duration_the_run_lasts_as_long_as_the_stages() {
    let s = ok(&staged("", "    - {to: 5, over: 1s}\n    - {hold: 1m}\n"));
    assert_eq!(s.duration, secs(61));
    assert_eq!(s.clients.count, 5);
    // Equal to the duration is fine (the last change of a stage is due before its end).
    let s = ok(&staged(
        "duration: 61s\n",
        "    - {to: 5, over: 1s}\n    - {hold: 1m}\n",
    ));
    assert_eq!(s.duration, secs(61));
}

#[test]
fn count_and_ramp_are_one_stage() {
    let s = ok(&format!("{MINIMAL}  ramp: 5s\n"));
    assert_eq!(
        s.clients.stages,
        [Stage::Ramp {
            to: 10,
            over: secs(5),
        }]
    );
    assert_eq!(s.clients.count, 10);
}

pub(super) fn rows() -> Vec<Case> {
    let one = "    - {to: 5, over: 1s}\n";
    vec![
        case(
            format!("{MINIMAL}  stages:\n{one}"),
            (6, 10),
            exactly("clients.count: give either count (with ramp) or stages, not both"),
        ),
        case(
            format!("{}  ramp: 5s\n", staged("duration: 60s\n", one)),
            (8, 9),
            exactly(
                "clients.ramp: only used with count; with stages, ramp with a stage like \
                 {to: 100, over: 10s}",
            ),
        ),
        case(
            replacing("  count: 10\n", "  connect_timeout: 5s\n"),
            (6, 3),
            exactly("missing field `count`"),
        ),
        case(
            replacing("duration: 60s\n", ""),
            (1, 1),
            exactly("missing field `duration`"),
        ),
        case(
            replacing("  count: 10\n", "  stages: []\n"),
            (6, 11),
            exactly("clients.stages: expected at least one stage, found none"),
        ),
        case(
            staged("duration: 60s\n", "    - {to: 5, over: 1s, colour: red}\n"),
            (7, 25),
            exactly("unknown field `colour`, expected one of to, over, hold"),
        ),
        case(
            staged("duration: 60s\n", "    - {to: 1000001, over: 1s}\n"),
            (7, 12),
            exactly(
                "clients.stages[0].to: expected a whole number from 0 to 1000000, found 1000001",
            ),
        ),
        case(
            staged("duration: 60s\n", "    - {to: -1, over: 1s}\n"),
            (7, 12),
            Says::Contains("u64"),
        ),
        case(
            staged("duration: 60s\n", "    - {to: 5}\n"),
            (7, 7),
            exactly("clients.stages[0]: missing field `over` (with `to`)"),
        ),
        case(
            staged("duration: 60s\n", "    - {over: 5s}\n"),
            (7, 7),
            exactly("clients.stages[0]: missing field `to` (with `over`)"),
        ),
        case(
            staged(
                "duration: 60s\n",
                &format!("{one}    - {{hold: 1s, to: 5}}\n"),
            ),
            (8, 22),
            exactly(
                "clients.stages[1]: expected {to: N, over: DURATION} or {hold: DURATION}, not \
                 `hold` with `to`",
            ),
        ),
        case(
            staged("duration: 60s\n", &format!("{one}    - {{}}\n")),
            (8, 7),
            exactly(
                "clients.stages[1]: expected {to: N, over: DURATION} or {hold: DURATION}, found {}",
            ),
        ),
        case(
            staged("duration: 60s\n", &format!("{one}    - {{hold: 0s}}\n")),
            (8, 14),
            exactly(
                "clients.stages[1].hold: expected a duration greater than zero like 500ms, 5s \
                 or 2m, found \"0s\"",
            ),
        ),
        case(
            staged("duration: 60s\n", "    - {to: 5, over: 1x}\n"),
            (7, 21),
            exactly(
                "clients.stages[0].over: expected a duration like 0s, 500ms, 5s or 2m, found \
                 \"1x\"",
            ),
        ),
        case(
            staged(
                "duration: 60s\n",
                "    - {to: 0, over: 1s}\n    - {hold: 1s}\n",
            ),
            (7, 5),
            exactly(
                "clients.stages: expected a stage with `to` of at least 1 (no client would \
                 ever run)",
            ),
        ),
        case(
            staged(
                "duration: 60s\n",
                "    - {to: 5, over: 50s}\n    - {hold: 20s}\n",
            ),
            (7, 5),
            exactly(
                "clients.stages: the stages take 1m 10s, longer than the scenario duration \
                 \"60s\"",
            ),
        ),
        case(
            staged("", "    - {to: 5, over: 0s}\n"),
            (6, 5),
            Says::StartsWith(
                "clients.stages: the stages take 0s; without a duration the run lasts as long \
                 as the stages",
            ),
        ),
    ]
}
