//! Heartbeat bookkeeping for one connection: sequence numbers, send times of unanswered
//! heartbeats (a small fixed ring, no allocation), and the consecutive-miss count.
//! The actor owns the timers; this type only decides what a send, an ack or a timeout means.

use std::time::{Duration, Instant};

/// Unanswered heartbeats remembered for RTT; older ones are forgotten (their ack yields no RTT).
const RING: usize = 4;

#[derive(Debug)]
pub struct HeartbeatState {
    next_seq: u64,
    /// `(seq, sent_at)` of unanswered heartbeats; `seq == u64::MAX` marks an empty slot.
    unanswered: [(u64, Instant); RING],
    missed: u32,
    max_missed: u32,
}

impl HeartbeatState {
    pub fn new(max_missed: u32, now: Instant) -> Self {
        Self {
            next_seq: 0,
            unanswered: [(u64::MAX, now); RING],
            missed: 0,
            max_missed: max_missed.max(1),
        }
    }

    /// Records a heartbeat sent now and returns its sequence number.
    pub fn sent(&mut self, now: Instant) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unanswered[(seq % RING as u64) as usize] = (seq, now);
        seq
    }

    /// An ack for `seq` (ping mode), or, in text mode (`None`), for the latest heartbeat: a text
    /// ack carries no sequence number and servers answer in order, so the older unanswered ones
    /// will not be answered any more and are forgotten. (Exact while acks come back within one
    /// interval; use ping mode to measure longer delays.) Returns the round-trip time if the
    /// heartbeat was still remembered.
    pub fn acked(&mut self, seq: Option<u64>, now: Instant) -> Option<Duration> {
        let slot = match seq {
            Some(seq) => self.unanswered.iter().position(|(s, _)| *s == seq)?,
            None => {
                let (slot, _) = self
                    .unanswered
                    .iter()
                    .enumerate()
                    .filter(|(_, (s, _))| *s != u64::MAX)
                    .max_by_key(|(_, (s, _))| *s)?;
                let sent_at = self.unanswered[slot].1;
                self.unanswered = [(u64::MAX, sent_at); RING];
                return Some(now.saturating_duration_since(sent_at));
            }
        };
        let sent_at = self.unanswered[slot].1;
        self.unanswered[slot].0 = u64::MAX;
        Some(now.saturating_duration_since(sent_at))
    }

    /// The connection showed life (ack, or any frame with `reset_on: any`): misses start over.
    pub fn reset(&mut self) {
        self.missed = 0;
    }

    /// The armed timeout fired. Returns true when this miss declares the connection dead.
    pub fn missed(&mut self) -> bool {
        self.missed += 1;
        self.missed >= self.max_missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_is_ack_time_minus_send_time_by_sequence() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(1, t0);
        let a = hb.sent(t0);
        let b = hb.sent(t0 + Duration::from_millis(100));
        assert_eq!(
            hb.acked(Some(b), t0 + Duration::from_millis(130)),
            Some(Duration::from_millis(30))
        );
        assert_eq!(
            hb.acked(Some(a), t0 + Duration::from_millis(150)),
            Some(Duration::from_millis(150))
        );
        assert_eq!(
            hb.acked(Some(a), t0 + Duration::from_millis(160)),
            None,
            "an ack counts once"
        );
    }

    #[test]
    fn a_text_ack_answers_the_latest_heartbeat_and_settles_the_older_ones() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut hb = HeartbeatState::new(1, t0);
        hb.sent(t0); // its ack is lost
        hb.sent(t0 + ms(10));
        assert_eq!(hb.acked(None, t0 + ms(20)), Some(ms(10)));
        assert_eq!(hb.acked(None, t0 + ms(20)), None, "nothing left to answer");
    }

    #[test]
    fn max_missed_counts_consecutive_misses_and_reset_clears_them() {
        let mut hb = HeartbeatState::new(3, Instant::now());
        assert!(!hb.missed());
        assert!(!hb.missed());
        hb.reset();
        assert!(!hb.missed());
        assert!(!hb.missed());
        assert!(hb.missed(), "third consecutive miss is fatal");
    }

    #[test]
    fn a_lost_text_ack_does_not_inflate_later_rtts() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut hb = HeartbeatState::new(3, t0);
        hb.sent(t0); // lost
        hb.sent(t0 + ms(200));
        assert_eq!(hb.acked(None, t0 + ms(205)), Some(ms(5)));
        hb.sent(t0 + ms(400));
        assert_eq!(hb.acked(None, t0 + ms(403)), Some(ms(3)));
    }

    #[test]
    fn ring_forgets_the_oldest() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(1, t0);
        let first = hb.sent(t0);
        for _ in 0..RING {
            hb.sent(t0);
        }
        assert_eq!(hb.acked(Some(first), t0), None);
    }
}
