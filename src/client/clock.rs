//! A client's one timer. The actor keeps its deadlines (next heartbeat, ack timeout, next
//! message, reconnect, close grace, send stall) as plain `Instant`s; a single `Clock` future per actor sleeps
//! until the earliest one and hands control back. Arming or disarming a timer is an assignment:
//! nothing is spawned, boxed or cancelled per heartbeat, and the actor has one timer-wheel entry.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

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
}

const TIMERS: usize = 7;

/// The deadlines of one actor, and what its clock needs to know about them.
#[derive(Debug, Default)]
pub struct Deadlines {
    at: [Option<Instant>; TIMERS],
    /// What the clock's sleep is set to.
    armed: Option<Instant>,
    /// Wakes the actor so its clock re-reads the deadlines.
    waker: Option<Waker>,
}

impl Deadlines {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer as usize] = Some(at);
        if self.armed.is_none_or(|armed| at < armed)
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

    fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
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
            act.deadlines().armed = None;
            act.on_clock(Instant::now(), ctx);
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
        let mut d = Deadlines::default();
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
}
