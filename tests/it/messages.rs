//! Application messages: open and closed loop echo RTT, and loss when a connection dies.

use crate::common::*;
use wschaos::scenario::*;

#[test]
fn open_loop_messages_are_echoed_and_timed() {
    let mut s = scenario(TargetUrl::Embedded, 10, ms(1500));
    s.clients.messages = Some(Messages {
        rate: MessageRate::PerSecond(20.0),
        size: 64,
    });
    let report = run_scenario(s).report;
    let c = &report.counters;
    assert!(c.messages_sent >= 10 * 20, "{c:?}");
    // The manual close still counts echoes that arrive before the server's close frame.
    assert_eq!(c.messages_received, c.messages_sent, "{c:?}");
    assert_eq!(report.histograms["message_rtt"].count, c.messages_received);
    assert_eq!(c.messages_lost, 0);
}

#[test]
fn closed_loop_loses_exactly_the_one_message_in_flight_per_reset_connection() {
    let mut s = scenario(TargetUrl::Embedded, 10, ms(1500));
    s.clients.messages = Some(Messages {
        rate: MessageRate::Closed,
        size: 32,
    });
    s.faults = vec![fault(
        700,
        FaultKind::Drop {
            mode: DropMode::Reset,
        },
    )];
    let report = run_scenario(s).report;
    let c = &report.counters;
    assert!(
        c.messages_received > 100,
        "a closed loop runs as fast as echoes come back: {c:?}"
    );
    assert_eq!(report.faults[0].connections_cut, 10);
    assert_eq!(c.messages_lost, 10, "{c:?}");
}
