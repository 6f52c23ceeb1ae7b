//! `clients.stages`: the client count follows the stages up and down, a down-stage closes the
//! latest arrivals manually (close 1000, no reconnect, no disconnect cause), an up-stage after
//! it brings new clients, and the report's timeline carries the planned count.

use crate::common::*;
use wschaos::report::{Report, StageInfo};
use wschaos::scenario::*;

/// The timeline's (planned, connected) pairs, second by second.
fn planned_and_connected(report: &Report) -> Vec<(u64, u64)> {
    report
        .timeline
        .iter()
        .map(|p| (p.planned_clients, p.connected))
        .collect()
}

#[test]
fn clients_ramp_up_hold_and_a_down_stage_closes_the_latest_manually() {
    let server = TestServer::start(Behaviour::default());
    // From the file format, so the YAML reaches the engine as written; the url is the server's.
    let mut s = parse(
        "name: stages\ntarget: {url: embedded}\n\
         clients:\n  heartbeat: {interval: 200ms, timeout: 400ms}\n  stages:\n    \
         - {to: 20, over: 1s}\n    - {hold: 1500ms}\n    - {to: 5, over: 500ms}\n    \
         - {hold: 1500ms}\n",
        "stages.yaml",
    )
    .expect("valid scenario");
    s.target.url = server.url();
    assert_eq!(s.clients.count, 20);
    assert_eq!(s.duration, ms(4500), "no duration: the stages' total");
    let report = run_scenario(s).report;

    let seconds = planned_and_connected(&report);
    // Second 2 is inside the hold at 20 (1 s to 2.5 s), second 4 after the down-stage to 5
    // (2.5 s to 3 s): half a second from every change, so the sample cannot straddle one.
    assert!(seconds.len() >= 4, "{seconds:?}");
    assert_eq!(seconds[1], (20, 20), "{seconds:?}");
    assert_eq!(seconds[3], (5, 5), "{seconds:?}");
    assert!(seconds.iter().all(|&(_, c)| c <= 20), "{seconds:?}");

    let c = &report.counters;
    assert_eq!(c.clients_connected, 20);
    assert_eq!(c.reconnects, 0, "{c:?}");
    assert_eq!(c.disconnects(), 0, "a down-stage is no disconnect: {c:?}");
    // 15 by the down-stage, 5 at the end: all manual, all answered by the server.
    assert_eq!(c.closed_manually, 20);
    assert_eq!(c.clients_stopped, 20);

    std::thread::sleep(ms(300)); // a reconnect would show up here
    let mut conns = server.connections();
    assert_eq!(conns.len(), 20, "no client came back");
    assert!(
        conns.iter().all(|c| c.client_close == Some(1000)),
        "{conns:?}"
    );
    // The down-stage took the 15 latest arrivals: the 5 first ones ended after all of them.
    conns.sort_by_key(|c| c.opened);
    let ended = |c: &ConnLog| c.ended.expect("every connection ended");
    let first_five_end = conns[..5].iter().map(ended).min().expect("five");
    let others_end = conns[5..].iter().map(ended).max().expect("fifteen");
    assert!(first_five_end > others_end, "{conns:?}");

    assert_eq!(
        report.scenario.stages,
        [
            StageInfo::Ramp {
                to: 20,
                over_s: 1.0
            },
            StageInfo::Hold { hold_s: 1.5 },
            StageInfo::Ramp { to: 5, over_s: 0.5 },
            StageInfo::Hold { hold_s: 1.5 },
        ]
    );
}

#[test]
fn an_up_stage_after_a_down_stage_starts_new_clients_and_faults_touch_only_live_ones() {
    let server = TestServer::start(Behaviour::default());
    let mut s = scenario(server.url(), 10, ms(3500));
    let at_once = |to| Stage::Ramp { to, over: ms(0) };
    s.clients.stages = vec![
        at_once(10),
        Stage::Hold(ms(1500)),
        at_once(3),
        Stage::Hold(ms(1000)),
        at_once(8),
    ];
    // While 3 clients are planned: a drop of every client cuts those 3, not the 7 stopped.
    s.faults = vec![fault(
        2000,
        FaultKind::Drop {
            mode: DropMode::Close,
        },
    )];
    let report = run_scenario(s).report;

    let seconds = planned_and_connected(&report);
    assert!(seconds.len() >= 3, "{seconds:?}");
    assert_eq!(seconds[0], (10, 10), "{seconds:?}");
    assert_eq!(seconds[2], (8, 8), "{seconds:?}");
    assert_eq!(seconds[1].0, 3, "{seconds:?}");

    let c = &report.counters;
    // 10 first, then 5 new ones (3 of the first stay): never a stopped one again.
    assert_eq!(c.clients_connected, 15, "{c:?}");
    assert_eq!(report.faults[0].clients_targeted, 3, "{:?}", report.faults);
    assert_eq!(c.disconnects_dropped, 3, "{c:?}");
    assert_eq!(c.disconnects(), 3, "{c:?}");
    assert_eq!(c.reconnects, 3, "{c:?}");
    // 7 by the down-stage, 8 at the end.
    assert_eq!(c.closed_manually, 15, "{c:?}");

    let conns = server.connections();
    // 15 clients plus the 3 reconnects after the drop.
    assert_eq!(conns.len(), 18, "{conns:?}");
    assert_eq!(
        conns
            .iter()
            .filter(|c| c.client_close == Some(1000))
            .count(),
        15,
        "{conns:?}"
    );
    assert_eq!(
        conns
            .iter()
            .filter(|c| c.client_close == Some(1001))
            .count(),
        3,
        "{conns:?}"
    );
}

#[test]
fn a_bad_stage_in_a_file_fails_check_with_its_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario_file(
        dir.path(),
        "bad.yaml",
        "name: bad\ntarget: {url: embedded}\nclients:\n  stages:\n    - {to: 5, over: 1s}\n    \
         - {hold: 1s, to: 3}\n",
    );
    let out = wschaos()
        .arg("check")
        .arg(&file)
        .output()
        .expect("run wschaos");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:6:22: clients.stages[1]: expected {{to: N, over: DURATION}} or {{hold: DURATION}}, \
             not `hold` with `to`",
            file.display()
        )),
        "{stderr}"
    );
}
