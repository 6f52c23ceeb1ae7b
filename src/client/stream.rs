//! Following a server-pushed stream: each pushed frame's sequence number (where
//! `clients.stream` says) is checked against what the connection saw so far — gaps, duplicates,
//! reorderings — and the first one after a reconnect against the last one before the loss
//! (messages missed across the outage). A connection keeps two integers; a client carries its
//! last sequence number across reconnects (and sends it in the reconnect url when the scenario
//! asks).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::scenario::Stream;

/// How many sequence numbers below the highest a connection remembers (one bit each).
const WINDOW: u64 = 64;

/// What one connection saw of the stream.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamConn {
    highest: Option<u64>,
    /// Bit i: sequence number `highest - 1 - i` arrived.
    below: u64,
}

/// What a sequence number was, against what the connection saw before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The connection's first.
    First,
    /// One more than the highest.
    Next,
    /// Higher than the highest by more than one: this many are missing in between.
    Gap(u64),
    /// Seen already (or too far below the highest to tell).
    Duplicate,
    /// Below the highest and not seen before: it came late.
    Reordered,
}

impl StreamConn {
    pub fn observe(&mut self, seq: u64) -> Seen {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            return Seen::First;
        };
        if seq > highest {
            let ahead = seq - highest;
            // The old highest becomes bit `ahead - 1`.
            self.below = match ahead {
                1..64 => (self.below << ahead) | 1 << (ahead - 1),
                64 => 1 << 63,
                _ => 0,
            };
            self.highest = Some(seq);
            return if ahead == 1 {
                Seen::Next
            } else {
                Seen::Gap(ahead - 1)
            };
        }
        if seq == highest {
            return Seen::Duplicate;
        }
        let back = highest - 1 - seq;
        if back >= WINDOW || self.below & (1 << back) != 0 {
            return Seen::Duplicate;
        }
        self.below |= 1 << back;
        Seen::Reordered
    }

    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

/// What a client carries from one connection to the next.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamCarry {
    /// The highest sequence number of the client's latest connection that had one.
    pub last: Option<u64>,
    /// The fault that cost the connection before this one, until the first pushed message
    /// after the reconnect says how many were missed.
    pub fault: Option<usize>,
}

/// One pushed frame, as the tally counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    pub seen: Option<Seen>,
    /// Missed across the outage before this connection, and the fault that caused it.
    pub missed_across: Option<(u64, Option<usize>)>,
    /// Received - `sent_at`, in microseconds (0 when the server's clock is ahead).
    pub latency_us: Option<u64>,
    /// The sequence number or the `sent_at` was not where `clients.stream` says.
    pub unparsed: bool,
}

/// Reads a pushed frame (`text`: a text frame) as `stream` says and accounts for it on the
/// connection and the client.
pub fn follow(
    stream: &Stream,
    conn: &mut StreamConn,
    carry: &mut StreamCarry,
    text: bool,
    payload: &[u8],
) -> Followed {
    let seq = stream.seq.read(text, payload);
    let sent_at = stream.sent_at.as_ref().map(|p| p.read(text, payload));
    let latency_us = sent_at
        .flatten()
        .map(|sent| now_unix_us().saturating_sub(sent));
    let unparsed = seq.is_none() || matches!(sent_at, Some(None));
    let Some(seq) = seq else {
        return Followed {
            seen: None,
            missed_across: None,
            latency_us,
            unparsed,
        };
    };
    let seen = conn.observe(seq);
    let missed_across = match (seen, carry.last) {
        // A first sequence at or below the last one (replayed, or a server that started over)
        // missed nothing.
        (Seen::First, Some(last)) => Some((
            seq.saturating_sub(last.saturating_add(1)),
            carry.fault.take(),
        )),
        _ => None,
    };
    carry.last = conn.highest();
    Followed {
        seen: Some(seen),
        missed_across,
        latency_us,
        unparsed,
    }
}

/// Microseconds since the UNIX epoch on this machine's clock (0 if it is set before 1970).
pub fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Place;

    fn seen_all(seqs: &[u64]) -> Vec<Seen> {
        let mut conn = StreamConn::default();
        seqs.iter().map(|s| conn.observe(*s)).collect()
    }

    #[test]
    fn in_order_gaps_duplicates_and_late_arrivals_are_told_apart() {
        use Seen::*;
        assert_eq!(seen_all(&[5, 6, 7]), [First, Next, Next]);
        assert_eq!(
            seen_all(&[1, 4, 3, 2, 3, 4, 5]),
            [
                First,
                Gap(2),
                Reordered,
                Reordered,
                Duplicate,
                Duplicate,
                Next
            ]
        );
        assert_eq!(
            seen_all(&[10, 10, 9, 9]),
            [First, Duplicate, Reordered, Duplicate]
        );
        // A jump of exactly 64 keeps the old highest in the window; beyond it nothing is known.
        assert_eq!(
            seen_all(&[0, 64, 0, 1]),
            [First, Gap(63), Duplicate, Reordered]
        );
        assert_eq!(seen_all(&[0, 65, 0]), [First, Gap(64), Duplicate]);
        assert_eq!(seen_all(&[100, 200, 150]), [First, Gap(99), Reordered]);
        assert_eq!(
            seen_all(&[100, 200, 120]),
            [First, Gap(99), Duplicate],
            "too old to tell"
        );
        assert_eq!(seen_all(&[u64::MAX - 1, u64::MAX]), [First, Next]);
    }

    #[test]
    fn the_first_message_after_a_reconnect_counts_what_was_missed_since_the_last_one() {
        let stream = Stream {
            seq: Place::JsonField("seq".into()),
            sent_at: Some(Place::JsonField("sent_at".into())),
            resume_param: None,
        };
        let mut carry = StreamCarry::default();
        let mut first = StreamConn::default();
        let push = |conn: &mut StreamConn, carry: &mut StreamCarry, json: &str| {
            follow(&stream, conn, carry, true, json.as_bytes())
        };
        let now = now_unix_us();
        let one = push(
            &mut first,
            &mut carry,
            &format!(r#"{{"seq":3,"sent_at":{}}}"#, now - 1500),
        );
        assert_eq!(one.seen, Some(Seen::First));
        assert_eq!(one.missed_across, None, "no connection before");
        assert!(one.latency_us.is_some_and(|l| l >= 1500), "{one:?}");
        push(&mut first, &mut carry, r#"{"seq":4,"sent_at":1}"#);
        assert_eq!(carry.last, Some(4));

        carry.fault = Some(2);
        let mut second = StreamConn::default();
        let after = push(&mut second, &mut carry, r#"{"seq":11,"sent_at":1}"#);
        assert_eq!(
            after.missed_across,
            Some((6, Some(2))),
            "5..=10 missed, fault 2 cost them"
        );
        assert_eq!(carry.fault, None);
        let next = push(&mut second, &mut carry, r#"{"seq":12,"sent_at":1}"#);
        assert_eq!(next.missed_across, None);

        let mut resumed = StreamConn::default();
        let replay = push(&mut resumed, &mut carry, r#"{"seq":13,"sent_at":1}"#);
        assert_eq!(
            replay.missed_across,
            Some((0, None)),
            "resumed right after the last"
        );
        let mut restarted = StreamConn::default();
        let over = push(&mut restarted, &mut carry, r#"{"seq":1,"sent_at":1}"#);
        assert_eq!(
            over.missed_across,
            Some((0, None)),
            "a stream that started over"
        );

        let bad = push(&mut restarted, &mut carry, r#"{"sent_at":1}"#);
        assert!(bad.unparsed && bad.seen.is_none());
        let no_time = push(&mut restarted, &mut carry, r#"{"seq":2}"#);
        assert!(no_time.unparsed, "sent_at missing");
        assert_eq!(no_time.seen, Some(Seen::Next), "the sequence still counts");
        let binary = follow(&stream, &mut restarted, &mut carry, false, b"{\"seq\":3}");
        assert!(binary.unparsed, "JSON places are read in text frames only");
    }
}
