//! The embedded server's push mode (`target.push`, `serve --push-rate`): one stream of
//! sequenced, timestamped JSON messages sent to every connection.
//!
//! The stream is a function of time: message `n` (from 1) is due `n` periods after the server
//! first started, and carries `{"seq":n,"sent_at":<due time, microseconds since the UNIX
//! epoch>,"pad":"..."}`. So every worker numbers it the same way without talking to the others,
//! the numbering goes on across a kill and restart (the messages due while the server was down
//! are what a reconnecting client missed), and any message can be made again for a replay: a
//! connection that asks with `?since=<seq>` while `resume` is on gets the messages after `seq`
//! first (at most `MAX_REPLAY` of them).
//!
//! One timer per server worker drives all of its connections (no task per connection): each
//! tick encodes into every connection's `Outbox` the messages it is due, as far as the outbox
//! takes them (`OUTBOX_LIMIT`), and wakes its task to write them; the rest goes at the next
//! tick, so a slow connection falls behind (and its `push_latency` shows it) rather than
//! stalling the others.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::task::Waker;

use actix_http::ws::{OpCode, Parser};
use bytes::BytesMut;

use super::session::shrink;
use super::{ServerStats, bump_by};
use crate::scenario::Push;
use crate::scenario::stream::EMBEDDED_RESUME_PARAM;

/// Most messages replayed to one connection; older ones are a gap it sees.
pub const MAX_REPLAY: u64 = 65_536;

/// The stream every worker pushes, shared by the workers and kept across restarts.
#[derive(Debug)]
pub struct PushStream {
    period: Duration,
    size: usize,
    resume: bool,
    /// Message n is due at `epoch + n * period`.
    epoch: Instant,
    epoch_unix_us: u64,
}

impl PushStream {
    pub fn new(push: &Push) -> Arc<Self> {
        Arc::new(Self {
            period: push.period().max(Duration::from_micros(1)),
            size: push.size,
            resume: push.resume,
            epoch: Instant::now(),
            epoch_unix_us: crate::client::now_unix_us(),
        })
    }

    /// The highest sequence number due by `now` (0: none yet).
    fn current(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(elapsed / self.period.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    fn offset(&self, seq: u64) -> Duration {
        let nanos = self.period.as_nanos().saturating_mul(u128::from(seq));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn due(&self, seq: u64) -> Instant {
        self.epoch + self.offset(seq)
    }

    /// Message `seq` as sent: JSON padded to `size` bytes (longer if its numbers need it).
    fn message(&self, seq: u64) -> String {
        let sent_at = self
            .epoch_unix_us
            .saturating_add(u64::try_from(self.offset(seq).as_micros()).unwrap_or(u64::MAX));
        let head = format!(r#"{{"seq":{seq},"sent_at":{sent_at},"pad":""#);
        let pad = self.size.saturating_sub(head.len() + 2);
        let mut text = String::with_capacity(head.len() + pad + 2);
        text.push_str(&head);
        text.extend(std::iter::repeat_n('.', pad));
        text.push_str("\"}");
        text
    }
}

/// Frames queued for one connection by the push timer, taken by the connection's task (shared
/// by the two on one worker thread: no lock).
#[derive(Default)]
pub struct Outbox {
    frames: RefCell<BytesMut>,
    /// Messages in `frames`: counted as pushed only once the connection's task takes them for
    /// its socket (a connection that ends first never sends them).
    messages: Cell<u64>,
    /// The connection's task, to wake when frames are queued.
    waker: RefCell<Option<Waker>>,
}

/// Bytes an outbox holds at most; a tick stops at it (the rest goes at the next tick).
const OUTBOX_LIMIT: usize = 64 * 1024;

impl Outbox {
    /// Moves the queued frames onto the end of `out`; remembers `waker` for the next ones.
    /// Returns how many messages moved.
    pub fn take_into(&self, out: &mut BytesMut, waker: &Waker) -> u64 {
        let mut frames = self.frames.borrow_mut();
        if !frames.is_empty() {
            out.extend_from_slice(&frames);
            frames.clear();
            shrink(&mut frames);
        }
        let mut slot = self.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
        self.messages.take()
    }

    /// Queues a text frame unless the outbox is full.
    fn push_text(&self, text: &str) -> bool {
        let mut frames = self.frames.borrow_mut();
        if frames.len() >= OUTBOX_LIMIT {
            return false;
        }
        Parser::write_message(&mut frames, text, OpCode::Text, true, false);
        self.messages.set(self.messages.get() + 1);
        true
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.borrow().as_ref() {
            waker.wake_by_ref();
        }
    }
}

/// One worker's connections and its timer (per worker thread: no lock).
pub struct PushWorker {
    stream: Arc<PushStream>,
    stats: Arc<ServerStats>,
    followers: RefCell<Vec<Follower>>,
    timer_started: Cell<bool>,
}

struct Follower {
    /// Shared with the connection's task; when the task is gone, so is the follower.
    outbox: Rc<Outbox>,
    /// The next sequence number it gets.
    next: u64,
    /// Sequence numbers up to this one are replays (`?since=`).
    replay_until: u64,
    /// `?since=` it asked with, until its first message says how many it missed.
    asked_since: Option<u64>,
}

impl PushWorker {
    pub fn new(stream: Arc<PushStream>, stats: Arc<ServerStats>) -> Rc<Self> {
        Rc::new(Self {
            stream,
            stats,
            followers: RefCell::new(Vec::new()),
            timer_started: Cell::new(false),
        })
    }

    /// A new connection (its request's `query`) follows the stream from the next message (or,
    /// with `resume` and `?since=<seq>`, from `seq + 1`); returns the outbox its task takes the
    /// frames from. Starts the worker's timer on first use.
    pub fn follow(self: &Rc<Self>, query: &str) -> Rc<Outbox> {
        let since = since_of(query);
        let current = self.stream.current(Instant::now());
        let next = match since {
            Some(since) if self.stream.resume => since
                .saturating_add(1)
                .max(current.saturating_sub(MAX_REPLAY - 1)),
            _ => current + 1,
        };
        let outbox = Rc::new(Outbox::default());
        self.followers.borrow_mut().push(Follower {
            outbox: outbox.clone(),
            next,
            replay_until: current,
            asked_since: since,
        });
        if !self.timer_started.replace(true) {
            tokio::task::spawn_local(self.clone().tick_forever());
        }
        outbox
    }

    async fn tick_forever(self: Rc<Self>) {
        loop {
            let next = self.stream.current(Instant::now()) + 1;
            let due = tokio::time::Instant::from_std(self.stream.due(next));
            tokio::time::sleep_until(due).await;
            self.tick(Instant::now());
        }
    }

    /// Queues for every follower what it is due by `now`, as far as its outbox takes it.
    fn tick(&self, now: Instant) {
        let current = self.stream.current(now);
        let mut latest: Option<String> = None;
        let (mut pushed, mut replayed, mut missed) = (0, 0, 0);
        self.followers.borrow_mut().retain_mut(|f| {
            // Only the follower list holds it: the connection has ended.
            if Rc::strong_count(&f.outbox) == 1 {
                return false;
            }
            let before = pushed;
            while f.next <= current {
                let queued = if f.next == current {
                    let text = latest.get_or_insert_with(|| self.stream.message(current));
                    f.outbox.push_text(text)
                } else {
                    f.outbox.push_text(&self.stream.message(f.next))
                };
                if !queued {
                    // The outbox is full: the rest at the next tick.
                    break;
                }
                if let Some(since) = f.asked_since.take() {
                    missed += f.next.saturating_sub(since.saturating_add(1));
                }
                pushed += 1;
                replayed += u64::from(f.next <= f.replay_until);
                f.next += 1;
            }
            if pushed > before {
                f.outbox.wake();
            }
            true
        });
        bump_by(&self.stats.push_replayed, replayed);
        bump_by(&self.stats.push_missed, missed);
    }
}

/// The `since` parameter of a request's query, if it holds a number.
fn since_of(query: &str) -> Option<u64> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == EMBEDDED_RESUME_PARAM)
        .and_then(|(_, value)| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(rate_per_s: f64, size: usize) -> Arc<PushStream> {
        PushStream::new(&Push {
            rate_per_s,
            size,
            resume: false,
        })
    }

    #[test]
    fn messages_are_json_padded_to_size_with_their_due_time() {
        let s = stream(10.0, 64);
        let m = s.message(3);
        assert_eq!(m.len(), 64, "{m}");
        let v: serde_json::Value = serde_json::from_str(&m).expect("JSON");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["sent_at"].as_u64(), Some(s.epoch_unix_us + 300_000));
        let tight = stream(10.0, 16).message(u64::MAX);
        assert!(
            serde_json::from_str::<serde_json::Value>(&tight).is_ok(),
            "{tight}"
        );
    }

    #[test]
    fn the_sequence_follows_time_from_the_first_start() {
        let s = stream(100.0, 64);
        assert_eq!(s.current(s.epoch), 0);
        assert_eq!(s.current(s.epoch + Duration::from_millis(25)), 2);
        assert_eq!(s.current(s.due(7)), 7);
        assert_eq!(
            s.current(s.epoch - Duration::from_millis(1).min(s.epoch.elapsed())),
            0
        );
    }

    #[test]
    fn since_is_read_from_the_query() {
        assert_eq!(since_of("since=41"), Some(41));
        assert_eq!(since_of("a=1&since=7&b"), Some(7));
        assert_eq!(since_of("since=x"), None);
        assert_eq!(since_of("sincere=1"), None);
        assert_eq!(since_of(""), None);
    }
}
