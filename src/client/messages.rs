//! Application messages: each carries its sequence number (16 hex digits, then `.` padding to
//! `size`), the server echoes it, and what is unanswered when a connection dies counts as lost.

use std::collections::VecDeque;
use std::time::Instant;

const SEQ_DIGITS: usize = 16;

#[derive(Debug)]
pub struct MessageState {
    next_seq: u64,
    /// `(seq, sent_at)` awaiting their echo, oldest first.
    in_flight: VecDeque<(u64, Instant)>,
    /// The payload, reused for every message: only the sequence digits change.
    payload: Vec<u8>,
}

impl MessageState {
    pub fn new(size: usize) -> Self {
        Self {
            next_seq: 0,
            in_flight: VecDeque::new(),
            payload: vec![b'.'; size.max(SEQ_DIGITS)],
        }
    }

    /// Stamps the next sequence number into the payload, remembers `sent_at`, returns the payload.
    pub fn next(&mut self, sent_at: Instant) -> &[u8] {
        let seq = self.next_seq;
        self.next_seq += 1;
        let hex = b"0123456789abcdef";
        for (i, byte) in self.payload[..SEQ_DIGITS].iter_mut().enumerate() {
            *byte = hex[((seq >> ((SEQ_DIGITS - 1 - i) * 4)) & 0xf) as usize];
        }
        self.in_flight.push_back((seq, sent_at));
        &self.payload
    }

    /// The sequence number the next message gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// If `frame` is the echo of one of our messages, forgets it and returns its send time.
    pub fn echoed(&mut self, frame: &[u8]) -> Option<Instant> {
        if frame.len() != self.payload.len() {
            return None;
        }
        let digits = std::str::from_utf8(frame.get(..SEQ_DIGITS)?).ok()?;
        let seq = u64::from_str_radix(digits, 16).ok()?;
        self.answered(seq)
    }

    /// If message `seq` is in flight, forgets it and returns its send time (an answer that
    /// names the message by its number, like a Socket.IO ack id).
    pub fn answered(&mut self, seq: u64) -> Option<Instant> {
        let pos = self.in_flight.iter().position(|(s, _)| *s == seq)?;
        self.in_flight.remove(pos).map(|(_, sent_at)| sent_at)
    }

    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The connection died: everything unanswered is lost. Returns how many.
    pub fn lose_in_flight(&mut self) -> u64 {
        let lost = self.in_flight.len() as u64;
        self.in_flight.clear();
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_matches_by_sequence_and_counts_once() {
        let t0 = Instant::now();
        let mut m = MessageState::new(32);
        let first = m.next(t0).to_vec();
        let second = m.next(t0).to_vec();
        assert_eq!(first.len(), 32);
        assert_eq!(&first[..16], b"0000000000000000");
        assert_eq!(&second[..16], b"0000000000000001");
        assert_eq!(m.echoed(&second), Some(t0));
        assert_eq!(m.echoed(&second), None);
        assert_eq!(m.echoed(b"Heartbeat"), None);
        assert_eq!(m.next_seq(), 2);
        assert_eq!(m.answered(0), Some(t0), "by number, as an ack id names it");
        assert_eq!(m.answered(0), None);
        m.next(t0);
        assert_eq!(m.lose_in_flight(), 1);
        assert_eq!(m.in_flight(), 0);
    }
}
