mod common;
use common::*;
use wschaos::scenario::*;

#[test]
fn smoke_embedded_with_kill_and_drop() {
    let mut s = scenario(TargetUrl::Embedded, 200, ms(4000));
    s.faults = vec![
        Fault {
            at: ms(1000),
            kind: FaultKind::ServerKill { downtime: ms(500) },
        },
        Fault {
            at: ms(2500),
            kind: FaultKind::Drop {
                fraction: 0.5,
                mode: DropMode::Reset,
            },
        },
    ];
    let f = run_scenario(s);
    println!(
        "{}",
        serde_json::to_string_pretty(&f.report.counters).unwrap()
    );
    println!("{:?}", f.report.faults);
    println!("{:?}", f.report.server);
}
