//! The clock's tests: grids, deadlines, and actors driven by either timer.

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
    // The precise timer's finest grid: 37 us apart, about three deadlines per wakeup.
    let precise = Grid::precise(t0, Duration::ZERO);
    let mut woken: Vec<Instant> = deadlines.iter().map(|&at| precise.round_up(at)).collect();
    woken.dedup();
    assert_eq!(woken.len(), 370, "100 us steps over 37 ms");
    for &at in &deadlines {
        let woken = precise.round_up(at);
        assert!(woken >= at && woken - at < PRECISE_STEP);
    }
    let quarter = Grid::precise(t0, Duration::from_micros(250));
    assert_eq!(
        quarter.round_up(t0 + Duration::from_micros(1)),
        t0 + Duration::from_micros(250),
        "a precise grid coarser than its finest step is kept"
    );
}

#[test]
fn timer_resolution_picks_the_precise_timer_below_the_runtime_tick() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    for (resolution, precise) in [
        (Duration::ZERO, PRECISE_AVAILABLE),
        (Duration::from_micros(250), PRECISE_AVAILABLE),
        (RUNTIME_TICK, false),
        (ms(10), false),
    ] {
        let grid = Grid::for_resolution(t0, resolution);
        assert_eq!(grid.precise, precise, "{resolution:?}");
    }
    // The default is whatever a scenario without the key gets: it must be the precise one.
    assert_eq!(
        Grid::for_resolution(t0, crate::client::DEFAULT_TIMER_RESOLUTION).precise,
        PRECISE_AVAILABLE
    );
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
        ctx.spawn(Clock::new(&self.deadlines));
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

/// Runs a system until an actor stops it, with a watchdog thread: a lost wakeup would hang
/// here, so the run is bounded.
fn run_system(start: impl FnOnce() + 'static) {
    let system = actix_rt::System::new();
    system.block_on(async move { start() });
    let watchdog = System::current();
    let guard = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        watchdog.stop();
    });
    system.run().expect("system runs");
    drop(guard);
}

/// `fires` deadlines `period` apart re-armed from inside the clock, on `grid`'s timer.
fn ticks(grid: fn(Instant) -> Grid, period: Duration, fires: usize) -> Vec<(Instant, Instant)> {
    let fired = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = fired.clone();
    run_system(move || {
        Ticker {
            deadlines: Deadlines::new(grid(Instant::now())),
            period,
            fires,
            fired: seen,
        }
        .start();
    });
    fired.take()
}

#[test]
fn a_timer_re_armed_while_the_clock_fires_fires_again_on_schedule() {
    let period = Duration::from_millis(5);
    let runtime_sleep: fn(Instant) -> Grid = |t0| Grid::new(t0, Duration::ZERO);
    let precise: fn(Instant) -> Grid = |t0| Grid::precise(t0, Duration::ZERO);
    for (name, grid) in [("runtime sleep", runtime_sleep), ("precise", precise)] {
        let fired = ticks(grid, period, 20);
        assert_eq!(fired.len(), 20, "{name}: every re-armed deadline fired");
        for (i, &(due, at)) in fired.iter().enumerate() {
            assert!(at >= due, "{name}: fire {i} before its deadline");
            if i > 0 {
                assert_eq!(due - fired[i - 1].0, period, "{name}: the schedule is kept");
            }
        }
    }
}

/// `clients` actors on one thread, all due at the same instants (deadlines on the precise
/// grid), stopping after a different number of fires each; records every fire.
#[test]
#[cfg(target_os = "linux")]
fn many_clocks_share_one_precise_timer_and_leave_it_when_they_stop() {
    let fired = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let clients = 50;
    let period = Duration::from_millis(3);
    let seen = fired.clone();
    let stopped = std::rc::Rc::new(std::cell::Cell::new(0));
    let stopped_seen = stopped.clone();
    let queued = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let queued_seen = queued.clone();
    run_system(move || {
        let t0 = Instant::now();
        for i in 0..clients {
            Flock {
                deadlines: Deadlines::new(Grid::precise(t0, Duration::ZERO)),
                first: t0 + period,
                period,
                fires: 5 + i % 5,
                fired: seen.clone(),
                stopped: stopped_seen.clone(),
                queued: queued_seen.clone(),
                clients,
            }
            .start();
        }
    });
    let fired = fired.borrow();
    let expected: usize = (0..clients).map(|i| 5 + i % 5).sum();
    assert_eq!(fired.len(), expected, "every deadline of every clock fired");
    assert!(
        fired.iter().all(|&(due, at)| at >= due),
        "none before it was due"
    );
    assert_eq!(stopped.get(), clients);
    let queued = queued.borrow();
    assert_eq!(queued.len(), clients);
    for (stopped_before, &entries) in queued.iter().enumerate() {
        assert!(
            entries <= clients - stopped_before,
            "{entries} entries with {} clocks live: one entry per clock, none left \
             behind by a stopped one",
            clients - stopped_before
        );
    }
    assert!(
        queued.iter().any(|&entries| entries > 1),
        "the clocks were queued: {queued:?}"
    );
}

/// One of a flock of actors with the same schedule; the last to stop stops the system.
struct Flock {
    deadlines: Deadlines,
    first: Instant,
    period: Duration,
    fires: usize,
    fired: std::rc::Rc<std::cell::RefCell<Vec<(Instant, Instant)>>>,
    stopped: std::rc::Rc<std::cell::Cell<usize>>,
    /// The timer's entries as each clock stops.
    queued: std::rc::Rc<std::cell::RefCell<Vec<usize>>>,
    clients: usize,
}

impl Actor for Flock {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.spawn(Clock::new(&self.deadlines));
        self.deadlines.set(Timer::Heartbeat, self.first);
        // A later timer besides: one entry per clock all the same.
        self.deadlines
            .set(Timer::Ack, self.first + self.period * 100);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.queued
            .borrow_mut()
            .push(timerfd::queued_on_this_thread());
        self.stopped.set(self.stopped.get() + 1);
        if self.stopped.get() == self.clients {
            System::current().stop();
        }
    }
}

impl Clocked for Flock {
    fn deadlines(&mut self) -> &mut Deadlines {
        &mut self.deadlines
    }

    fn on_clock(&mut self, now: Instant, ctx: &mut actix::Context<Self>) {
        let Some(due) = self.deadlines.take_due(Timer::Heartbeat, now) else {
            return;
        };
        self.fired.borrow_mut().push((due, now));
        self.fires -= 1;
        if self.fires > 0 {
            self.deadlines.set(Timer::Heartbeat, due + self.period);
        } else {
            ctx.stop();
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

/// Outside any runtime (actix polls an actor once more while its arbiter's runtime drops it)
/// a clock is made and polled without a timer, for either grid, and never fires.
#[test]
fn a_clock_made_outside_a_runtime_has_no_timer_and_does_not_panic() {
    let t0 = Instant::now();
    for resolution in [Duration::ZERO, Duration::from_millis(10)] {
        let deadlines = Deadlines::new(Grid::for_resolution(t0, resolution));
        let clock = Clock::new(&deadlines);
        assert!(matches!(clock.wait, Wait::Stopped), "{resolution:?}");
        assert!(matches!(Clock::sleep(), Wait::Stopped));
    }
}
