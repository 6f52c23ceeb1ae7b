//! The precise timer (Linux): one `timerfd` per thread, so per arbiter, shared by the clocks of
//! that thread's clients. The runtime's own timer fires a sleep in the first 1 ms tick after its
//! deadline; a timerfd armed at an absolute CLOCK_MONOTONIC instant fires within microseconds
//! of it. Each clock keeps one entry in the thread's [`DeadlineQueue`]; the timerfd is armed at
//! the earliest, and when it fires a driver task wakes every clock whose deadline has passed and
//! arms it again for the next one.
//!
//! Syscalls are the cost: the timerfd is re-armed only when the earliest deadline becomes
//! earlier than what it is set to (a clock re-arming for its next heartbeat a second away
//! changes nothing), and after each firing; deadlines on a shared grid (`PRECISE_STEP`, from the
//! run's start) within one step share a firing. Nothing here is shared across threads: the queue sits behind a
//! `RefCell`, reached through a thread-local.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::task::Waker;
use std::time::Instant;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::deadline_queue::{DeadlineQueue, Slot};

thread_local! {
    /// This thread's timer, made by its first precise clock; cleared when its driver task goes
    /// (the runtime it was registered with is shutting down).
    static TIMER: RefCell<Option<Rc<Timer>>> = const { RefCell::new(None) };
}

struct Timer {
    fd: AsyncFd<OwnedFd>,
    queue: RefCell<DeadlineQueue>,
    /// The instant the timerfd is set to; `None`: disarmed, or fired and not yet read.
    armed: Cell<Option<Instant>>,
    /// An `Instant` and the CLOCK_MONOTONIC nanoseconds read just after it: deadlines are
    /// converted from here, so a conversion errs late by the gap between the reads, never early.
    origin: Instant,
    origin_monotonic_ns: u128,
    /// False once the driver task is gone: its clocks fall back to the runtime's sleep.
    alive: Cell<bool>,
}

impl Timer {
    fn create() -> io::Result<Self> {
        // SAFETY: plain syscall; a valid descriptor is owned below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned open by `timerfd_create` and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let origin = Instant::now();
        let origin_monotonic_ns = monotonic_ns()?;
        // SAFETY: the `OwnedFd` is a valid descriptor, owned by the `AsyncFd` from here on and
        // neither replaced nor closed while it is registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(Self {
            fd,
            queue: RefCell::new(DeadlineQueue::default()),
            armed: Cell::new(None),
            origin,
            origin_monotonic_ns,
            alive: Cell::new(true),
        })
    }

    /// Arms the timerfd for the queue's earliest deadline if that is earlier than what it is set
    /// to. A later one is left: the firing finds nothing due and arms for the right one, which
    /// costs one wakeup where re-arming now would cost a syscall on a path taken far more often.
    fn sync(&self) {
        let Some(earliest) = self.queue.borrow().earliest() else {
            return;
        };
        if self.armed.get().is_some_and(|armed| armed <= earliest) {
            return;
        }
        match self.set(earliest) {
            Ok(()) => self.armed.set(Some(earliest)),
            // Cannot happen with a valid descriptor and value; should it, the next firing or
            // arming tries again, and the clock is woken on its next event meanwhile.
            Err(err) => tracing::warn!(%err, "timerfd_settime failed"),
        }
    }

    /// `timerfd_settime` at `at` (absolute: no clock read here). An instant already past fires
    /// at once.
    fn set(&self, at: Instant) -> io::Result<()> {
        let ns = self.origin_monotonic_ns + at.saturating_duration_since(self.origin).as_nanos();
        // Zero would disarm: the smallest instant that is not.
        let ns = ns.max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                // CLOCK_MONOTONIC counts from boot: seconds fit time_t.
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: a valid descriptor and itimerspec; the old value is not asked for.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The timerfd fired: wakes the clocks due and arms for the next.
    fn fired(&self) {
        self.armed.set(None);
        self.queue.borrow_mut().wake_due(Instant::now());
        self.sync();
    }

    /// Waits for the timerfd to fire, for as long as the runtime runs.
    async fn drive(self: Rc<Self>) {
        loop {
            let mut ready = match self.fd.readable().await {
                Ok(ready) => ready,
                Err(err) => {
                    tracing::warn!(%err, "precise timer: the timerfd cannot be polled");
                    return;
                }
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer from a valid descriptor.
            let read = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            // Read or not, the readiness seen is spent: a later expiry is a new edge.
            ready.clear_ready();
            if read < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::WouldBlock {
                    tracing::warn!(%err, "precise timer: reading the timerfd failed");
                    return;
                }
            }
            self.fired();
        }
    }
}

/// Marks the timer dead and lets its clocks know when the driver task goes (the runtime drops
/// it on shutdown; it also returns on an error it cannot get past).
struct DriverGone(Rc<Timer>);

impl Drop for DriverGone {
    fn drop(&mut self) {
        self.0.alive.set(false);
        // Woken, each clock sees the timer dead and takes the runtime's sleep instead.
        if let Ok(mut queue) = self.0.queue.try_borrow_mut() {
            queue.wake_all();
        }
        // During thread teardown the thread-local may already be gone: nothing to clear then.
        let _ = TIMER.try_with(|slot| {
            if let Ok(mut slot) = slot.try_borrow_mut()
                && slot.as_ref().is_some_and(|t| Rc::ptr_eq(t, &self.0))
            {
                *slot = None;
            }
        });
    }
}

fn monotonic_ns() -> io::Result<u128> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128)
}

/// This thread's timer, made (with its driver task) on first use. Must be called from a task
/// of a local task set (an actix arbiter or system).
fn current() -> io::Result<Rc<Timer>> {
    if let Some(timer) = TIMER.with_borrow(|t| t.clone())
        && timer.alive.get()
    {
        return Ok(timer);
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other("no async runtime on this thread"));
    }
    let timer = Rc::new(Timer::create()?);
    let gone = DriverGone(timer.clone());
    let driver = timer.clone();
    tokio::task::spawn_local(async move {
        // Moved in, so it drops with the task even if the task is never polled.
        let _gone = gone;
        driver.drive().await;
    });
    TIMER.set(Some(timer.clone()));
    Ok(timer)
}

/// A clock's entry in its thread's precise timer: at most one deadline at a time, removed when
/// the clock goes.
pub struct Entry {
    timer: Rc<Timer>,
    slot: Slot,
}

impl Entry {
    /// An entry in this thread's timer (made on first use: a timerfd is one descriptor per
    /// thread, so this fails only when descriptors run out).
    pub fn new() -> io::Result<Self> {
        let timer = current()?;
        let slot = timer.queue.borrow_mut().register();
        Ok(Self { timer, slot })
    }

    /// Wakes `waker` at `at`, replacing the entry's deadline.
    pub fn arm(&self, at: Instant, waker: &Waker) {
        self.timer.queue.borrow_mut().arm(self.slot, at, waker);
        self.timer.sync();
    }

    /// Removes the entry's deadline.
    pub fn cancel(&self) {
        self.timer.queue.borrow_mut().cancel(self.slot);
    }

    /// The entry has a deadline not yet reached (the timer removes it when it wakes the clock).
    pub fn pending(&self) -> bool {
        self.timer.queue.borrow().is_queued(self.slot)
    }

    /// False once the timer's driver is gone: the clock must wait some other way.
    pub fn alive(&self) -> bool {
        self.timer.alive.get()
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.timer.queue.borrow_mut().release(self.slot);
    }
}

/// Deadlines the timer of this thread holds (for tests).
#[cfg(test)]
pub fn queued_on_this_thread() -> usize {
    TIMER.with_borrow(|t| t.as_ref().map_or(0, |t| t.queue.borrow().len()))
}
