//! One direction of a proxied connection: read bytes, find frame boundaries, let the active
//! toxics decide each frame's fate, and write the bytes out when they are due.
//!
//! Bytes are read into one buffer per direction and leave it as `Bytes` slices of that buffer
//! (no copy); consecutive frames with the same release time leave as one slice, so a read of
//! several frames is one write. Two lanes feed the writer: `ordered` (everything, in arrival
//! order) and `held` (acks taken out of line by `DelayAcks`); a held frame only goes out between
//! two frames of the ordered lane.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use rand::rngs::SmallRng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::{Duration, Instant, sleep_until};

use super::control::{Applied, ProxyControl, add};
use super::frame::{FrameHeader, FrameSplitter, FrameTooLarge};
use super::read_room::ReadRoom;
use super::toxics::{Fate, FrameInfo, TokenBucket};
use super::upstream::Outlet;
use super::{AckMatcher, Direction};

/// Reading stops while this many bytes wait to be written (a slow peer, a delay, a cap).
const MAX_QUEUED: usize = 1 << 20;
/// Largest possible ack a pump waits for in full before deciding about it.
const MAX_WHOLE: u64 = 64 * 1024;
/// The furthest a fault can push a release time back: "never" for any run, yet small enough to
/// add to an `Instant` without overflow, however many faults stack their delays.
const NEVER: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `at + by`, with `by` clamped to [`NEVER`]: no delay a fault asks for can panic.
pub(super) fn later(at: Instant, by: Duration) -> Instant {
    // Thirty years past a monotonic clock's reading does not overflow; `at` is the fallback
    // only if it somehow did.
    at.checked_add(by.min(NEVER)).unwrap_or(at)
}

/// Why a direction stopped other than by a clean end of stream.
#[derive(Debug, thiserror::Error)]
pub(super) enum PumpError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    TooLarge(#[from] FrameTooLarge),
    /// The peer took no byte for the whole send timeout while some were due.
    #[error("the peer took no bytes for {0:?}")]
    SendTimeout(Duration),
}

/// When the connection last carried a byte either way (shared by both pumps and the watchdog).
#[derive(Debug)]
pub(super) struct Activity {
    epoch: Instant,
    last_us: AtomicU64,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_us: AtomicU64::new(0),
        }
    }

    fn touch(&self, now: Instant) {
        let us = now.saturating_duration_since(self.epoch).as_micros();
        self.last_us
            .store(u64::try_from(us).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn last(&self) -> Instant {
        self.epoch + Duration::from_micros(self.last_us.load(Ordering::Relaxed))
    }
}

/// What a pump borrows from its connection.
pub(super) struct Shared<'a> {
    pub control: &'a ProxyControl,
    pub client: Option<u32>,
    pub ack: &'a AckMatcher,
    pub max_frame: u64,
    /// How long a direction may have bytes due that its peer does not take.
    pub send_timeout: Duration,
    pub activity: &'a Activity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Ordered,
    Held,
}

#[derive(Debug)]
struct Chunk {
    bytes: Bytes,
    release: Instant,
    /// The chunk ends a frame (a held chunk always does).
    frame_end: bool,
}

/// Bytes waiting for their release time.
#[derive(Debug, Default)]
struct Outbox {
    ordered: VecDeque<Chunk>,
    held: VecDeque<Chunk>,
    /// Latest release per lane: a later chunk of a lane never leaves before an earlier one.
    last_ordered: Option<Instant>,
    last_held: Option<Instant>,
    /// A lane whose frame is partly written: nothing else may go on the wire until it ends.
    writing: Option<Lane>,
    queued: usize,
}

impl Outbox {
    fn push(&mut self, lane: Lane, bytes: Bytes, not_before: Instant, frame_end: bool) {
        let (queue, last) = match lane {
            Lane::Ordered => (&mut self.ordered, &mut self.last_ordered),
            Lane::Held => (&mut self.held, &mut self.last_held),
        };
        let release = last.map_or(not_before, |last| last.max(not_before));
        *last = Some(release);
        self.queued += bytes.len();
        queue.push_back(Chunk {
            bytes,
            release,
            frame_end,
        });
    }

    fn queue(&self, lane: Lane) -> &VecDeque<Chunk> {
        match lane {
            Lane::Ordered => &self.ordered,
            Lane::Held => &self.held,
        }
    }

    /// The lane to write from next and when its front chunk is due.
    fn next(&self) -> Option<(Lane, Instant)> {
        let front = |lane| self.queue(lane).front().map(|c| (lane, c.release));
        if let Some(lane) = self.writing {
            return front(lane);
        }
        match (front(Lane::Ordered), front(Lane::Held)) {
            (Some(o), Some(h)) => Some(if h.1 < o.1 { h } else { o }),
            (o, h) => o.or(h),
        }
    }

    fn front(&self, lane: Lane) -> &[u8] {
        self.queue(lane).front().map_or(&[], |c| &c.bytes)
    }

    fn advance(&mut self, lane: Lane, written: usize) {
        let queue = match lane {
            Lane::Ordered => &mut self.ordered,
            Lane::Held => &mut self.held,
        };
        let Some(chunk) = queue.front_mut() else {
            return;
        };
        chunk.bytes.advance(written);
        self.queued -= written;
        if chunk.bytes.is_empty() {
            self.writing = (!chunk.frame_end).then_some(lane);
            queue.pop_front();
        } else {
            self.writing = Some(lane);
        }
    }

    /// Forgets held acks not yet started: at the end of the stream they are overtaken by the
    /// FIN like any frame that is not an ack.
    fn discard_held(&mut self) {
        let keep = usize::from(self.writing == Some(Lane::Held));
        for chunk in self.held.drain(keep.min(self.held.len())..) {
            self.queued -= chunk.bytes.len();
        }
    }

    fn is_empty(&self) -> bool {
        self.ordered.is_empty() && self.held.is_empty()
    }
}

/// Counts kept locally and added to the shared counters once per read.
#[derive(Debug, Default)]
struct Counts {
    frames: u64,
    dropped: u64,
    acks_delayed: u64,
    acks_dropped: u64,
}

/// What to do next on the write side.
enum Step {
    Write(Lane, usize),
    WaitUntil(Instant),
    Nothing,
}

pub(super) struct Pump<'a> {
    way: Direction,
    shared: &'a Shared<'a>,
    wake: &'a Notify,
    /// False after an upgrade the server refused: bytes are piped without looking at frames.
    framed: bool,
    splitter: FrameSplitter,
    buf: BytesMut,
    read_room: ReadRoom,
    outbox: Outbox,
    applied: Applied,
    bucket: Option<TokenBucket>,
    rng: SmallRng,
    /// The fate of the frame whose bytes are arriving.
    fate: Fate,
    counts: Counts,
    /// Since when bytes have been due but the socket took none (None while it takes them).
    stalled_since: Option<Instant>,
    /// A TLS writer holds records the socket has not taken yet: flush them.
    unflushed: bool,
}

impl<'a> Pump<'a> {
    pub fn new(
        way: Direction,
        shared: &'a Shared<'a>,
        wake: &'a Notify,
        framed: bool,
        first_bytes: BytesMut,
        rng: SmallRng,
    ) -> Self {
        Self {
            way,
            shared,
            wake,
            framed,
            splitter: FrameSplitter::new(shared.max_frame),
            buf: first_bytes,
            read_room: ReadRoom::new(),
            outbox: Outbox::default(),
            applied: Applied::new(shared.client),
            bucket: None,
            rng,
            fate: Fate::default(),
            counts: Counts::default(),
            stalled_since: None,
            unflushed: false,
        }
    }

    /// Moves bytes until the reader's end of stream (then shuts the writer down: the FIN
    /// travels on) or an error.
    pub async fn run<W: Outlet>(
        mut self,
        mut reader: impl AsyncRead + Unpin,
        mut writer: W,
    ) -> Result<(), PumpError> {
        self.refresh(Instant::now());
        if !self.buf.is_empty() {
            self.take_in(Instant::now())?;
        }
        let mut eof = false;
        loop {
            let now = Instant::now();
            self.refresh(now);
            if self.applied.paused() {
                // A partition holds bytes on purpose: that is no stall.
                self.stalled_since = None;
                self.wake.notified().await;
                continue;
            }
            self.write_due(&mut writer, now)?;
            if eof && self.outbox.is_empty() {
                writer.shutdown().await?;
                return Ok(());
            }
            let step = self.step(now);
            // Bytes still due after `write_due`: the socket is full. A peer that takes nothing
            // for the send timeout (it never reads, or it is gone and its FIN cannot be seen
            // behind the bytes that wait) ends the connection.
            let flush = W::BUFFERS && self.unflushed;
            let stuck_at = if flush || matches!(step, Step::Write(..)) {
                let since = *self.stalled_since.get_or_insert(now);
                Some(later(since, self.shared.send_timeout))
            } else {
                self.stalled_since = None;
                None
            };
            let read = !eof && self.outbox.queued < MAX_QUEUED;
            let room = if read {
                self.read_room.prepare(&mut self.buf)
            } else {
                0
            };
            let (lane, len, due) = match step {
                Step::Write(lane, len) => (lane, len, None),
                Step::WaitUntil(at) => (Lane::Ordered, 0, Some(at)),
                Step::Nothing => (Lane::Ordered, 0, None),
            };
            let front = &self.outbox.front(lane)[..len];
            tokio::select! {
                biased;
                () = self.wake.notified() => {}
                written = async {
                    if len > 0 {
                        writer.write(front).await.map(Some)
                    } else {
                        // Nothing else due: push out what a TLS writer still holds.
                        writer.flush().await.map(|()| None)
                    }
                }, if len > 0 || flush => match written? {
                    Some(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                    Some(written) => self.wrote::<W>(lane, written, Instant::now()),
                    None => {
                        self.unflushed = false;
                        self.stalled_since = None;
                    }
                },
                got = reader.read_buf(&mut self.buf), if read => {
                    let now = Instant::now();
                    let got = got?;
                    self.read_room.after_read(got, room);
                    if got == 0 {
                        eof = true;
                        self.flush_partial(now);
                        self.outbox.discard_held();
                    } else {
                        self.shared.activity.touch(now);
                        self.take_in(now)?;
                    }
                }
                () = sleep_until(due.unwrap_or(now)), if due.is_some() => {}
                () = sleep_until(stuck_at.unwrap_or(now)), if stuck_at.is_some() => {
                    return Err(PumpError::SendTimeout(self.shared.send_timeout));
                }
            }
        }
    }

    /// Writes what is due without waiting, until the socket is full or nothing is due.
    fn write_due<W: Outlet>(&mut self, writer: &mut W, now: Instant) -> io::Result<()> {
        while let Step::Write(lane, len) = self.step(now) {
            match writer.write_now(&self.outbox.front(lane)[..len]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.wrote::<W>(lane, written, now),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    fn wrote<W: Outlet>(&mut self, lane: Lane, written: usize, now: Instant) {
        self.stalled_since = None;
        self.unflushed = W::BUFFERS;
        self.outbox.advance(lane, written);
        if let Some(bucket) = &mut self.bucket {
            bucket.spend(written);
        }
        self.shared.activity.touch(now);
    }

    /// Picks up fault changes: the toxics, and the token bucket of a bandwidth cap.
    fn refresh(&mut self, now: Instant) {
        if !self.applied.refresh(self.shared.control) {
            return;
        }
        let rate = self.applied.bytes_per_s(self.way);
        if rate != self.bucket.as_ref().map(TokenBucket::bytes_per_s) {
            self.bucket = rate.map(|rate| TokenBucket::new(rate, now));
        }
    }

    fn step(&mut self, now: Instant) -> Step {
        let Some((lane, release)) = self.outbox.next() else {
            return Step::Nothing;
        };
        if release > now {
            return Step::WaitUntil(release);
        }
        let want = self.outbox.front(lane).len();
        match self.bucket.as_mut().map(|b| b.allow(now, want)) {
            None => Step::Write(lane, want),
            Some(Ok(allowed)) => Step::Write(lane, allowed),
            Some(Err(at)) => Step::WaitUntil(at),
        }
    }

    /// Queues what was just read: frame by frame, merging neighbours that leave together.
    fn take_in(&mut self, now: Instant) -> Result<(), FrameTooLarge> {
        if !self.framed {
            self.flush_partial(now);
            return Ok(());
        }
        let (way, ack) = (self.way, self.shared.ack);
        let wants_whole = |h: &FrameHeader| {
            way == Direction::Downstream && ack.candidate(h) && h.frame_len() <= MAX_WHOLE
        };
        // Bytes at the front of `buf` that pass together, released at `run_release`.
        let mut run = 0;
        let mut run_end = true;
        let mut run_release = now;
        loop {
            let rest = &self.buf[run..];
            let Some(seg) = self.splitter.next(rest, wants_whole)? else {
                break;
            };
            if seg.first {
                let is_ack = way == Direction::Downstream
                    && seg.last
                    && ack.matches(&seg.header, &rest[..seg.len]);
                self.fate = self.decide(FrameInfo {
                    header: seg.header,
                    is_ack,
                });
                if !seg.last {
                    // Only a whole frame can be taken out of line.
                    if let Some(hold) = self.fate.hold.take() {
                        self.fate.delay = self.fate.delay.saturating_add(hold);
                    }
                }
            }
            let fate = self.fate;
            let ordered_release = later(now, fate.delay);
            let joins_run = !fate.drop && fate.hold.is_none() && ordered_release == run_release;
            if joins_run {
                run += seg.len;
                run_end = seg.last;
                continue;
            }
            self.queue_run(&mut run, run_release, run_end);
            if fate.drop {
                self.buf.advance(seg.len);
            } else if let Some(hold) = fate.hold {
                let bytes = self.buf.split_to(seg.len).freeze();
                self.outbox
                    .push(Lane::Held, bytes, later(ordered_release, hold), true);
            } else {
                run = seg.len;
                run_end = seg.last;
                run_release = ordered_release;
            }
        }
        self.queue_run(&mut run, run_release, run_end);
        self.flush_counts();
        Ok(())
    }

    /// The toxics' verdict on a frame that just started, counted.
    fn decide(&mut self, frame: FrameInfo) -> Fate {
        self.counts.frames += 1;
        if self.applied.is_empty() {
            return Fate::default();
        }
        let fate = self.applied.frame(self.way, &frame, &mut self.rng);
        if fate.drop {
            self.counts.dropped += 1;
            self.counts.acks_dropped += u64::from(frame.is_ack);
        } else if fate.hold.is_some() && frame.is_ack {
            self.counts.acks_delayed += 1;
        }
        fate
    }

    fn queue_run(&mut self, run: &mut usize, release: Instant, frame_end: bool) {
        if *run > 0 {
            let bytes = self.buf.split_to(*run).freeze();
            self.outbox.push(Lane::Ordered, bytes, release, frame_end);
            *run = 0;
        }
    }

    /// Queues whatever is buffered as it is (raw piping, or a partial frame at end of stream).
    fn flush_partial(&mut self, now: Instant) {
        if !self.buf.is_empty() {
            let bytes = self.buf.split().freeze();
            self.outbox.push(Lane::Ordered, bytes, now, true);
        }
    }

    fn flush_counts(&mut self) {
        let counters = &self.shared.control.counters;
        let frames = match self.way {
            Direction::Upstream => &counters.frames_upstream,
            _ => &counters.frames_downstream,
        };
        let counts = std::mem::take(&mut self.counts);
        add(frames, counts.frames);
        add(&counters.frames_dropped, counts.dropped);
        add(&counters.acks_delayed, counts.acks_delayed);
        add(&counters.acks_dropped, counts.acks_dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(outbox: &mut Outbox, lane: Lane, text: &'static [u8], at: Instant, end: bool) {
        outbox.push(lane, Bytes::from_static(text), at, end);
    }

    #[test]
    fn a_held_ack_waits_for_the_frame_on_the_wire_and_is_overtaken_otherwise() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut outbox = Outbox::default();
        chunk(&mut outbox, Lane::Held, b"ack", t0 + ms(5), true);
        chunk(&mut outbox, Lane::Ordered, b"head", t0, false);
        chunk(&mut outbox, Lane::Ordered, b"tail", t0 + ms(10), true);
        chunk(&mut outbox, Lane::Ordered, b"next", t0 + ms(1), true);

        // The ordered frame starts first; its release times never go backwards.
        assert_eq!(outbox.next(), Some((Lane::Ordered, t0)));
        outbox.advance(Lane::Ordered, 4);
        // Mid-frame: the ack (due earlier) must wait for the tail.
        assert_eq!(outbox.next(), Some((Lane::Ordered, t0 + ms(10))));
        outbox.advance(Lane::Ordered, 2);
        assert_eq!(outbox.next(), Some((Lane::Ordered, t0 + ms(10))));
        outbox.advance(Lane::Ordered, 2);
        // Between frames: the ack (t0+5) goes before `next` (pushed back to t0+10).
        assert_eq!(outbox.next(), Some((Lane::Held, t0 + ms(5))));
        outbox.advance(Lane::Held, 3);
        assert_eq!(outbox.next(), Some((Lane::Ordered, t0 + ms(10))));
        assert_eq!(outbox.front(Lane::Ordered), b"next");
        outbox.advance(Lane::Ordered, 4);
        assert!(outbox.is_empty());
        assert_eq!(outbox.queued, 0);
    }

    #[test]
    fn stacked_delays_of_any_size_clamp_to_never_instead_of_panicking() {
        use crate::chaos::toxics::{DelayAcks, Latency};
        use crate::chaos::{ProxyFault, Victims};
        use rand::SeedableRng;

        let control = ProxyControl::new();
        let latency = Latency {
            direction: Direction::Both,
            latency: Duration::MAX,
            jitter: Duration::ZERO,
        };
        control.activate(0, ProxyFault::Latency(latency), Victims::All);
        control.activate(1, ProxyFault::Latency(latency), Victims::All);
        let delay = DelayAcks {
            delay: Duration::MAX,
            jitter: Duration::from_secs(1),
        };
        control.activate(2, ProxyFault::DelayAcks(delay), Victims::All);
        let activity = Activity::new();
        let shared = Shared {
            control: &control,
            client: None,
            ack: &AckMatcher::Pong,
            max_frame: 1 << 20,
            send_timeout: Duration::from_secs(10),
            activity: &activity,
        };
        let wake = Notify::new();
        // A pong (an ack: held and delayed), a whole text frame, and the start of a long one.
        let mut bytes = BytesMut::from(&[0x8A, 0x00, 0x81, 0x02, b'h', b'i'][..]);
        bytes.extend_from_slice(&[0x82, 126, 0x10, 0x00, 1, 2, 3]);
        let mut pump = Pump::new(
            Direction::Downstream,
            &shared,
            &wake,
            true,
            BytesMut::new(),
            SmallRng::seed_from_u64(1),
        );
        let now = Instant::now();
        pump.refresh(now);
        pump.buf = bytes;
        pump.take_in(now).expect("frames within the limit");
        let (_, release) = pump.outbox.next().expect("bytes queued");
        assert!(release >= now + NEVER, "{:?}", release - now);
        assert!(matches!(pump.step(now), Step::WaitUntil(_)));
        assert_eq!(pump.outbox.queued, 13);
        assert_eq!(later(now, Duration::MAX), now + NEVER);
    }

    #[test]
    fn discarding_held_acks_keeps_one_half_written() {
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        chunk(&mut outbox, Lane::Held, b"ack1", t0, true);
        chunk(&mut outbox, Lane::Held, b"ack2", t0, true);
        outbox.advance(Lane::Held, 1);
        outbox.discard_held();
        assert_eq!(outbox.front(Lane::Held), b"ck1");
        assert_eq!(outbox.queued, 3);
        outbox.advance(Lane::Held, 3);
        outbox.discard_held();
        assert!(outbox.is_empty());
    }
}
