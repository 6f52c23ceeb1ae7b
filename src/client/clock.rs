//! A client's one timer. The actor keeps its deadlines (next heartbeat, ack timeout, next
//! message, reconnect, close grace, send stall, `on_open` answer) as plain `Instant`s; a single
//! `Clock` future per actor sleeps until the earliest one and hands control back. Arming or
//! disarming a timer is an assignment: nothing is spawned, boxed or cancelled per heartbeat, and
//! the actor has one timer entry.
//!
//! How the clock waits depends on `timer_resolution`. Below the runtime's 1 ms tick (on Linux)
//! it takes the precise timer (`clock/timerfd.rs`: one timerfd per arbiter thread) and wakes
//! within microseconds of a deadline; at 1 ms or coarser it takes the runtime's sleep, which
//! fires in the first millisecond tick after the deadline. Either way the clock wakes on a grid
//! (counted from the run's start): timers due within one step fire together, so a coarse grid
//! means fewer wakeups for the runtime, the kernel and the target, and burstier traffic. The
//! deadlines themselves stay exact: a heartbeat or message knows when it was due, and its send
//! lag counts from then.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::time::Sleep;

#[cfg(any(target_os = "linux", test))]
mod deadline_queue;
#[cfg(target_os = "linux")]
mod timerfd;

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

/// The finest grid of the precise timer. Deadlines within one step share a wakeup: at 19,000
/// clients heartbeating each second a thread sees a deadline every 100 us or so, and waking for
/// each alone would cost a sleep and a wakeup (about 10 us of CPU here) apiece; rounding up to
/// 100 us gathers them while keeping a send well under a millisecond late.
pub const PRECISE_STEP: Duration = Duration::from_micros(100);

/// The precise timer exists on this platform (elsewhere every grid takes the runtime's sleep).
const PRECISE_AVAILABLE: bool = cfg!(target_os = "linux");

/// The wake-up grid: deadlines are rounded up to `origin + k * step`.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    origin: Instant,
    /// `None`: no rounding beyond the timer's own.
    step_ns: Option<u128>,
    /// Wait with the precise timer rather than the runtime's sleep.
    precise: bool,
}

impl Grid {
    /// The grid of `timer_resolution`: the precise timer on a grid of at least `PRECISE_STEP`
    /// below the runtime's tick (where the platform has it), the runtime's sleep otherwise.
    pub fn for_resolution(origin: Instant, resolution: Duration) -> Self {
        if PRECISE_AVAILABLE && resolution < RUNTIME_TICK {
            Self::precise(origin, resolution)
        } else {
            Self::new(origin, resolution)
        }
    }

    /// The runtime's sleep, on a grid of `resolution` when that is coarser than its tick.
    pub fn new(origin: Instant, resolution: Duration) -> Self {
        Self {
            origin,
            step_ns: (resolution > RUNTIME_TICK).then_some(resolution.as_nanos()),
            precise: false,
        }
    }

    /// The precise timer, on a grid of `resolution` but no finer than `PRECISE_STEP`.
    fn precise(origin: Instant, resolution: Duration) -> Self {
        Self {
            origin,
            step_ns: Some(resolution.max(PRECISE_STEP).as_nanos()),
            precise: true,
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
    wait: Wait,
}

/// How a clock waits for its deadline.
enum Wait {
    Sleep(Pin<Box<Sleep>>),
    #[cfg(target_os = "linux")]
    Precise(timerfd::Entry),
    /// No runtime, so no timer: actix polls an actor once more as its arbiter's runtime drops
    /// it (a client still waiting to start when an interrupt stops the arbiters). The actor is
    /// going away and nothing is due any more.
    Stopped,
}

impl Clock {
    /// The clock of the actor with `deadlines`, waiting the way their grid says. Made on the
    /// actor's thread (its precise timer is that thread's).
    pub fn new(deadlines: &Deadlines) -> Self {
        let wait = if deadlines.grid.precise {
            Self::precise()
        } else {
            Self::sleep()
        };
        Self { wait }
    }

    fn sleep() -> Wait {
        if no_runtime() {
            return Wait::Stopped;
        }
        Wait::Sleep(Box::pin(tokio::time::sleep_until(
            tokio::time::Instant::now(),
        )))
    }

    /// The precise timer's entry, or the runtime's sleep if the timer cannot be had.
    #[cfg(target_os = "linux")]
    fn precise() -> Wait {
        if no_runtime() {
            return Wait::Stopped;
        }
        match timerfd::Entry::new() {
            Ok(entry) => Wait::Precise(entry),
            Err(err) => {
                warn_precise_unavailable_once(&err);
                Self::sleep()
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn precise() -> Wait {
        Self::sleep()
    }
}

/// Outside a runtime neither timer can be made (see `Wait::Stopped`).
fn no_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_err()
}

#[cfg(target_os = "linux")]
fn warn_precise_unavailable_once(err: &std::io::Error) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            %err,
            "the precise timer is unavailable: timers fire on the runtime's 1 ms tick"
        );
    });
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
            let new_waker = !d.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
            if new_waker {
                d.waker = Some(cx.waker().clone());
            }
            let Some(next) = d.next() else {
                d.armed = None;
                #[cfg(target_os = "linux")]
                if let Wait::Precise(entry) = &this.wait {
                    entry.cancel();
                }
                return Poll::Pending;
            };
            let now = match &mut this.wait {
                Wait::Stopped => return Poll::Pending,
                Wait::Sleep(sleep) => {
                    if d.armed != Some(next) {
                        sleep.as_mut().reset(next.into());
                        d.armed = Some(next);
                    }
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    Instant::now()
                }
                #[cfg(target_os = "linux")]
                Wait::Precise(entry) => {
                    if !entry.alive() {
                        // The arbiter's runtime is going away, or its timer failed.
                        this.wait = Self::sleep();
                        d.armed = None;
                        continue;
                    }
                    // Still queued: not due yet (the timer takes the entry out as it wakes
                    // the clock), so no clock read on the actor's other events.
                    if d.armed == Some(next) && !new_waker && entry.pending() {
                        return Poll::Pending;
                    }
                    let now = Instant::now();
                    if next > now {
                        entry.arm(next, cx.waker());
                        d.armed = Some(next);
                        return Poll::Pending;
                    }
                    now
                }
            };
            let d = act.deadlines();
            d.armed = None;
            d.firing = true;
            act.on_clock(now, ctx);
            act.deadlines().firing = false;
        }
    }
}

#[cfg(test)]
mod tests;
