//! The reconnect storm after a server kill: full jitter spreads it, no jitter concentrates it
//! (the seeds' fixed 4 s reconnect timer).

use crate::common::*;
use wschaos::report::Storm;
use wschaos::scenario::*;

fn storm(jitter: Jitter) -> Storm {
    let mut s = scenario(TargetUrl::Embedded, 1000, ms(6000));
    s.clients.stages = vec![Stage::Ramp {
        to: s.clients.count,
        over: ms(300),
    }];
    s.clients.heartbeat.interval = ms(1000);
    s.clients.heartbeat.timeout = ms(2000);
    s.clients.reconnect = Reconnect {
        backoff: BackoffPolicy::Exponential,
        initial: ms(2000),
        max: ms(2000),
        multiplier: 2.0,
        jitter,
        max_attempts: 0,
    };
    s.faults = vec![fault(1000, kill(100))];
    let report = run_scenario(s).report;
    let kill = &report.faults[0];
    assert_eq!(kill.noticed, 1000, "{kill:?}");
    assert_eq!(kill.reopened, 1000, "{kill:?}");
    kill.storm.clone().expect("storm measured")
}

#[test]
fn full_jitter_spreads_the_storm_and_no_jitter_concentrates_it() {
    let spread = storm(Jitter::Full);
    assert!(
        f64::from(spread.peak_per_100ms) <= 3.0 * spread.mean_per_100ms,
        "full jitter: {spread:?}"
    );
    let burst = storm(Jitter::None);
    eprintln!("full jitter: {spread:?}\nno jitter: {burst:?}");
    assert!(
        f64::from(burst.peak_per_100ms) >= 10.0 * burst.mean_per_100ms,
        "no jitter: {burst:?}"
    );
}
