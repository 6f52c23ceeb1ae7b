//! A client's one timer. The actor keeps its deadlines (next heartbeat, ack timeout, next
//! message, reconnect, close grace, send stall, `on_open` answer) as plain `Instant`s; a single
//! `Clock` future per actor sleeps until the earliest one and hands control back. Arming or
//! disarming a timer is an assignment: nothing is spawned, boxed or cancelled per heartbeat, and
//! the actor has one timer-wheel entry.
//!
//! The clock wakes on a grid of `timer_resolution` (counted from the run's start): timers due
//! within one step fire together, so a coarse grid means fewer wakeups for the runtime, the
//! kernel and the target, and burstier traffic. The deadlines themselves stay exact: a
//! heartbeat or message knows when it was due, and its send lag counts from then.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::time::Sleep;

/// The timers a client has, in the order due ones are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The heartbeat timeout (a miss when it fires).
    Ack,
    /// The next heartbeat to send.
    Heartbeat,
    /// The next open-loop application message.
    Message,
    /// The end of a backoff delay.
    Reconnect,
    /// The end of a manual close's grace period.
    Close,
    /// The end of a dropped connection's wait for the server's close frame.
    Linger,
    /// Bytes have been queued and the socket has taken none of them since this long ago, minus
    /// `send_timeout`.
    SendStuck,
    /// The end of the wait for the server's answer to an `on_open` item (`expect.within`).
    Answer,
}

const TIMERS: usize = 8;

/// The runtime's own timer granularity: tokio fires a sleep in the first millisecond tick at
/// or after its deadline, and every timer of that tick in one wakeup. A grid this fine or finer
/// adds nothing, so it is not applied (rounding to a second grid offset from tokio's would only
/// add lag).
pub const RUNTIME_TICK: Duration = Duration::from_millis(1);

/// The wake-up grid: deadlines are rounded up to `origin + k * step`.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    origin: Instant,
    /// `None`: no rounding beyond the runtime's tick.
    step_ns: Option<u128>,
}

impl Grid {
    pub fn new(origin: Instant, resolution: Duration) -> Self {
        Self {
            origin,
            step_ns: (resolution > RUNTIME_TICK).then_some(resolution.as_nanos()),
        }
    }

    /// `at`, moved forward to the next grid point (unchanged on a fine grid).
    pub fn round_up(&self, at: Instant) -> Instant {
        let Some(step) = self.step_ns else {
            return at;
        };
        let since = at.saturating_duration_since(self.origin).as_nanos();
        let steps = since.div_ceil(step);
        // A run is at most 365 days: nanoseconds since its start fit in u64.
        self.origin + Duration::from_nanos((steps * step) as u64)
    }
}

/// The deadlines of one actor, and what its clock needs to know about them.
#[derive(Debug)]
pub struct Deadlines {
    at: [Option<Instant>; TIMERS],
    grid: Grid,
    /// What the clock's sleep is set to.
    armed: Option<Instant>,
    /// The clock is running the actor's due timers: it re-reads the deadlines when they
    /// return, so setting one meanwhile needs no wakeup (which would poll the whole actor
    /// once more for nothing, once per heartbeat).
    firing: bool,
    /// Wakes the actor so its clock re-reads the deadlines.
    waker: Option<Waker>,
}

impl Deadlines {
    pub fn new(grid: Grid) -> Self {
        Self {
            at: [None; TIMERS],
            grid,
            armed: None,
            firing: false,
            waker: None,
        }
    }

    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer as usize] = Some(at);
        if !self.firing
            && self
                .armed
                .is_none_or(|armed| self.grid.round_up(at) < armed)
            && let Some(waker) = &self.waker
        {
            waker.wake_by_ref();
        }
    }

    /// Disarms `timer`. (The clock may still wake once for it; it then finds nothing due.)
    pub fn clear(&mut self, timer: Timer) {
        self.at[timer as usize] = None;
    }

    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer as usize]
    }

    /// Disarms and returns `timer`'s deadline if it is due at `now`.
    pub fn take_due(&mut self, timer: Timer, now: Instant) -> Option<Instant> {
        let slot = &mut self.at[timer as usize];
        if slot.is_some_and(|at| at <= now) {
            slot.take()
        } else {
            None
        }
    }

    /// When the clock should wake: the earliest deadline on the grid. Rounding up is monotonic,
    /// so every deadline at or before that grid point is due when it wakes.
    fn next(&self) -> Option<Instant> {
        self.at
            .iter()
            .flatten()
            .min()
            .map(|&at| self.grid.round_up(at))
    }
}

/// An actor driven by a [`Clock`].
pub trait Clocked: Actor<Context = actix::Context<Self>> {
    fn deadlines(&mut self) -> &mut Deadlines;
    /// Called when at least one deadline is due at `now`.
    fn on_clock(&mut self, now: Instant, ctx: &mut actix::Context<Self>);
}

/// The future that sleeps until the actor's earliest deadline. Spawn one per actor, once.
pub struct Clock {
    sleep: Pin<Box<Sleep>>,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Clocked> ActorFuture<A> for Clock {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut A,
        ctx: &mut actix::Context<A>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let d = act.deadlines();
            if !d.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                d.waker = Some(cx.waker().clone());
            }
            let Some(next) = d.next() else {
                d.armed = None;
                return Poll::Pending;
            };
            if d.armed != Some(next) {
                this.sleep.as_mut().reset(next.into());
                d.armed = Some(next);
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let d = act.deadlines();
            d.armed = None;
            d.firing = true;
            act.on_clock(Instant::now(), ctx);
            act.deadlines().firing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn take_due_takes_only_what_is_due() {
        let t0 = Instant::now();
        let mut d = Deadlines::new(Grid::new(t0, Duration::ZERO));
        d.set(Timer::Ack, t0 + Duration::from_millis(10));
        d.set(Timer::Heartbeat, t0 + Duration::from_millis(5));
        assert_eq!(d.next(), Some(t0 + Duration::from_millis(5)));
        assert_eq!(d.take_due(Timer::Ack, t0 + Duration::from_millis(6)), None);
        assert!(
            d.take_due(Timer::Heartbeat, t0 + Duration::from_millis(6))
                .is_some()
        );
        assert_eq!(d.get(Timer::Heartbeat), None);
        d.clear(Timer::Ack);
        assert_eq!(d.next(), None);
    }

    /// Distinct wake-up instants of `deadlines` on a grid of `resolution`.
    fn wakeups(t0: Instant, resolution: Duration, deadlines: &[Instant]) -> usize {
        let grid = Grid::new(t0, resolution);
        let mut woken: Vec<Instant> = deadlines.iter().map(|&at| grid.round_up(at)).collect();
        woken.sort_unstable();
        woken.dedup();
        woken.len()
    }

    #[test]
    fn a_coarse_grid_gathers_deadlines_into_fewer_wakeups_never_before_they_are_due() {
        let t0 = Instant::now();
        // 1,000 deadlines 37 us apart: 37 ms of them.
        let deadlines: Vec<Instant> = (0..1000u64)
            .map(|i| t0 + Duration::from_micros(37 * i + 1))
            .collect();
        let exact = wakeups(t0, Duration::ZERO, &deadlines);
        let fine = wakeups(t0, RUNTIME_TICK, &deadlines);
        let coarse = wakeups(t0, Duration::from_millis(10), &deadlines);
        assert_eq!(exact, 1000, "0: every deadline is its own");
        assert_eq!(fine, exact, "the runtime's own tick adds no grid");
        assert_eq!(coarse, 4, "10 ms steps over 37 ms");
        let grid = Grid::new(t0, Duration::from_millis(10));
        for &at in &deadlines {
            let woken = grid.round_up(at);
            assert!(woken >= at && woken - at < Duration::from_millis(10));
            assert_eq!((woken - t0).as_nanos() % 10_000_000, 0, "on the grid");
        }
        let on_point = t0 + Duration::from_millis(20);
        assert_eq!(grid.round_up(on_point), on_point, "a grid point stays put");
    }

    /// A waker that counts its wakes.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn setting_a_deadline_wakes_the_clock_only_when_it_is_earlier_and_the_clock_is_not_firing() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let counter = std::sync::Arc::new(Counting(0.into()));
        let wakes = || counter.0.load(std::sync::atomic::Ordering::Relaxed);
        let mut d = Deadlines::new(Grid::new(t0, Duration::ZERO));
        d.waker = Some(Waker::from(counter.clone()));
        d.armed = Some(t0 + ms(10));
        d.set(Timer::Ack, t0 + ms(20));
        assert_eq!(wakes(), 0, "later than the sleep: nothing to do");
        d.set(Timer::Heartbeat, t0 + ms(5));
        assert_eq!(wakes(), 1, "earlier than the sleep: the clock must re-arm");
        // While the clock runs the due timers it re-reads the deadlines afterwards.
        d.armed = None;
        d.firing = true;
        d.set(Timer::Heartbeat, t0 + ms(1005));
        d.set(Timer::Ack, t0 + ms(5005));
        assert_eq!(wakes(), 1, "no wakeup from inside the clock");
        assert_eq!(d.next(), Some(t0 + ms(1005)));
        d.firing = false;
        d.set(Timer::Message, t0 + ms(3));
        assert_eq!(wakes(), 2, "outside the clock, an unarmed clock is woken");
    }

    /// An actor whose only work is a timer re-armed from inside the clock, `period` apart,
    /// `fires` times; records when each was due and when it fired.
    struct Ticker {
        deadlines: Deadlines,
        period: Duration,
        fires: usize,
        fired: std::rc::Rc<std::cell::RefCell<Vec<(Instant, Instant)>>>,
    }

    impl Actor for Ticker {
        type Context = actix::Context<Self>;

        fn started(&mut self, ctx: &mut Self::Context) {
            ctx.spawn(Clock::new());
            let first = Instant::now() + self.period;
            self.deadlines.set(Timer::Heartbeat, first);
        }
    }

    impl Clocked for Ticker {
        fn deadlines(&mut self) -> &mut Deadlines {
            &mut self.deadlines
        }

        fn on_clock(&mut self, now: Instant, ctx: &mut actix::Context<Self>) {
            let Some(due) = self.deadlines.take_due(Timer::Heartbeat, now) else {
                return;
            };
            let mut fired = self.fired.borrow_mut();
            fired.push((due, now));
            if fired.len() < self.fires {
                self.deadlines.set(Timer::Heartbeat, due + self.period);
            } else {
                ctx.stop();
                System::current().stop();
            }
        }
    }

    #[test]
    fn a_timer_re_armed_while_the_clock_fires_fires_again_on_schedule() {
        let fired = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = fired.clone();
        let period = Duration::from_millis(5);
        let system = actix_rt::System::new();
        system.block_on(async move {
            let started = Instant::now();
            Ticker {
                deadlines: Deadlines::new(Grid::new(started, Duration::ZERO)),
                period,
                fires: 20,
                fired: seen,
            }
            .start();
        });
        // Bounded: the actor stops the system after 20 fires (100 ms); a lost wakeup would
        // hang here, so the run is given a watchdog thread.
        let watchdog = System::current();
        let guard = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(10));
            watchdog.stop();
        });
        system.run().expect("system runs");
        drop(guard);
        let fired = fired.borrow();
        assert_eq!(fired.len(), 20, "every re-armed deadline fired");
        for (i, &(due, at)) in fired.iter().enumerate() {
            assert!(at >= due, "fire {i} before its deadline");
            if i > 0 {
                assert_eq!(due - fired[i - 1].0, period, "the schedule is kept");
            }
        }
    }

    #[test]
    fn the_clock_wakes_at_the_earliest_deadline_on_the_grid_and_finds_it_due() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Deadlines::new(Grid::new(t0, ms(10)));
        let heartbeat = t0 + ms(3);
        d.set(Timer::Heartbeat, heartbeat);
        d.set(Timer::Message, t0 + ms(7));
        d.set(Timer::Ack, t0 + ms(12));
        let wake = d.next().expect("armed");
        assert_eq!(wake, t0 + ms(10));
        assert_eq!(
            d.take_due(Timer::Heartbeat, wake),
            Some(heartbeat),
            "the exact due time"
        );
        assert!(d.take_due(Timer::Message, wake).is_some());
        assert_eq!(d.take_due(Timer::Ack, wake), None);
        assert_eq!(d.next(), Some(t0 + ms(20)));
    }
}
