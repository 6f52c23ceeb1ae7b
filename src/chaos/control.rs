//! Switching the proxy's faults on and off while connections are live, and its counters.
//!
//! The active fault list sits behind a lock that the hot path never takes: each connection keeps
//! its own filtered copy and compares one generation number per read, re-reading the list only
//! after a change. A change also wakes every connection through its own `Notify`s, so paused or
//! idle connections react within a scheduler tick.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;

use super::toxics::{Fate, FrameInfo, Toxic};
use super::{Direction, ProxyFault, Victims};
use rand::rngs::SmallRng;

/// Shared by the proxy and whoever steers it (the coordinator, the CLI); `Send + Sync`.
#[derive(Debug, Default)]
pub struct ProxyControl {
    generation: AtomicU64,
    faults: RwLock<Vec<ActiveFault>>,
    connections: Mutex<Registry>,
    pub(super) counters: Counters,
}

#[derive(Debug)]
struct ActiveFault {
    id: usize,
    toxic: Arc<dyn Toxic>,
    victims: Victims,
}

impl ProxyControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts fault `id` (an existing fault with the same id is replaced) on the connections of
    /// `victims`, live ones included.
    pub fn activate(&self, id: usize, fault: ProxyFault, victims: Victims) {
        let active = ActiveFault {
            id,
            toxic: fault.toxic(),
            victims,
        };
        self.change(|faults| {
            faults.retain(|f| f.id != id);
            faults.push(active);
        });
    }

    /// Ends fault `id`; unknown ids are ignored. Frames it already delayed keep their time.
    pub fn deactivate(&self, id: usize) {
        self.change(|faults| faults.retain(|f| f.id != id));
    }

    pub fn stats(&self) -> ProxyStats {
        self.counters.snapshot()
    }

    fn change(&self, edit: impl FnOnce(&mut Vec<ActiveFault>)) {
        edit(&mut self.faults.write().unwrap_or_else(PoisonError::into_inner));
        self.generation.fetch_add(1, Ordering::Release);
        for wakeups in self.registry().slots.iter().flatten() {
            wakeups.wake();
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Signs a new connection up for wake-ups on every fault change, until the registration is
    /// dropped.
    pub(super) fn register(&self) -> Registration<'_> {
        let wakeups = Arc::new(Wakeups::default());
        let key = self.registry().insert(wakeups.clone());
        Registration {
            control: self,
            key,
            wakeups,
        }
    }
}

/// The live connections' wake-ups. A closed connection leaves at once and its slot is reused:
/// entries left behind until a later sweep were small allocations from every reconnect storm
/// scattered over the heap, keeping pages resident that were otherwise free.
#[derive(Debug, Default)]
struct Registry {
    slots: Vec<Option<Arc<Wakeups>>>,
    free: Vec<usize>,
}

impl Registry {
    fn insert(&mut self, wakeups: Arc<Wakeups>) -> usize {
        match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(wakeups);
                key
            }
            None => {
                self.slots.push(Some(wakeups));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, key: usize) {
        if let Some(slot) = self.slots.get_mut(key)
            && slot.take().is_some()
        {
            self.free.push(key);
        }
    }

    #[cfg(test)]
    fn live(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

/// A connection's place in the registry; leaving it when dropped.
pub(super) struct Registration<'a> {
    control: &'a ProxyControl,
    key: usize,
    wakeups: Arc<Wakeups>,
}

impl Deref for Registration<'_> {
    type Target = Wakeups;

    fn deref(&self) -> &Wakeups {
        &self.wakeups
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.control.registry().remove(self.key);
    }
}

/// One connection's wake-ups: one `Notify` per task part that waits, so none steals another's.
#[derive(Debug, Default)]
pub(super) struct Wakeups {
    pub upstream: Notify,
    pub downstream: Notify,
    pub watchdog: Notify,
}

impl Wakeups {
    fn wake(&self) {
        self.upstream.notify_one();
        self.downstream.notify_one();
        self.watchdog.notify_one();
    }
}

/// The faults that apply to one connection, refreshed when the generation moves.
#[derive(Debug)]
pub(super) struct Applied {
    client: Option<u32>,
    generation: Option<u64>,
    toxics: Vec<Arc<dyn Toxic>>,
}

impl Applied {
    pub fn new(client: Option<u32>) -> Self {
        Self {
            client,
            generation: None,
            toxics: Vec::new(),
        }
    }

    /// Re-reads the fault list if it changed since the last call; true if it did.
    pub fn refresh(&mut self, control: &ProxyControl) -> bool {
        let generation = control.generation.load(Ordering::Acquire);
        if self.generation == Some(generation) {
            return false;
        }
        let faults = control
            .faults
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        self.toxics.clear();
        self.toxics.extend(
            faults
                .iter()
                .filter(|f| f.victims.includes(self.client))
                .map(|f| f.toxic.clone()),
        );
        self.generation = Some(generation);
        true
    }

    pub fn is_empty(&self) -> bool {
        self.toxics.is_empty()
    }

    pub fn frame(&self, way: Direction, frame: &FrameInfo, rng: &mut SmallRng) -> Fate {
        let mut fate = Fate::default();
        for toxic in &self.toxics {
            toxic.frame(way, frame, &mut fate, rng);
        }
        fate
    }

    pub fn paused(&self) -> bool {
        self.toxics.iter().any(|t| t.pauses())
    }

    /// The tightest cap of all bandwidth faults.
    pub fn bytes_per_s(&self, way: Direction) -> Option<u64> {
        self.toxics.iter().filter_map(|t| t.bytes_per_s(way)).min()
    }

    /// The shortest idle limit of all idle-timeout faults.
    pub fn idle_limit(&self) -> Option<Duration> {
        self.toxics.iter().filter_map(|t| t.idle_limit()).min()
    }
}

/// What the proxy did, as counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    pub connections_accepted: u64,
    /// Client connections open right now.
    pub connections_open: u64,
    /// Frames from clients to the server (forwarded or dropped).
    pub frames_upstream: u64,
    /// Frames from the server to clients (forwarded or dropped).
    pub frames_downstream: u64,
    /// Frames swallowed by a fault (acks dropped included).
    pub frames_dropped: u64,
    pub acks_delayed: u64,
    pub acks_dropped: u64,
    /// Connections closed for a frame over the size limit.
    pub oversized_frames: u64,
    /// Connections closed for a request head that was too long or cut short.
    pub bad_requests: u64,
    /// Connections closed for an upstream response head that was too long or cut short.
    pub bad_responses: u64,
    /// Connections closed by an idle timeout.
    pub idle_cuts: u64,
    /// Connections whose client left while a partition held them before the upstream dial.
    pub abandoned_in_partition: u64,
    pub upstream_connect_failures: u64,
    /// Connections closed because one side took no bytes for the send timeout.
    pub send_timeouts: u64,
}

/// The live counters behind [`ProxyStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub connections_accepted: AtomicU64,
    pub connections_open: AtomicU64,
    pub frames_upstream: AtomicU64,
    pub frames_downstream: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub acks_delayed: AtomicU64,
    pub acks_dropped: AtomicU64,
    pub oversized_frames: AtomicU64,
    pub bad_requests: AtomicU64,
    pub bad_responses: AtomicU64,
    pub idle_cuts: AtomicU64,
    pub abandoned_in_partition: AtomicU64,
    pub upstream_connect_failures: AtomicU64,
    pub send_timeouts: AtomicU64,
}

/// Adds `n` to a counter (skipping the atomic when there is nothing to add).
pub(super) fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Counters {
    fn snapshot(&self) -> ProxyStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyStats {
            connections_accepted: get(&self.connections_accepted),
            connections_open: get(&self.connections_open),
            frames_upstream: get(&self.frames_upstream),
            frames_downstream: get(&self.frames_downstream),
            frames_dropped: get(&self.frames_dropped),
            acks_delayed: get(&self.acks_delayed),
            acks_dropped: get(&self.acks_dropped),
            oversized_frames: get(&self.oversized_frames),
            bad_requests: get(&self.bad_requests),
            bad_responses: get(&self.bad_responses),
            idle_cuts: get(&self.idle_cuts),
            abandoned_in_partition: get(&self.abandoned_in_partition),
            upstream_connect_failures: get(&self.upstream_connect_failures),
            send_timeouts: get(&self.send_timeouts),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::chaos::toxics::{DropAcks, IdleTimeout, Partition};

    #[test]
    fn connections_see_only_faults_that_pick_them_and_only_after_a_change() {
        let control = ProxyControl::new();
        let mut victim = Applied::new(Some(3));
        let mut bystander = Applied::new(Some(4));
        let mut anonymous = Applied::new(None);
        assert!(victim.refresh(&control));
        assert!(!victim.refresh(&control));

        let ids = Victims::Clients(Arc::new(HashSet::from([3])));
        control.activate(1, ProxyFault::Partition(Partition), ids);
        control.activate(
            2,
            ProxyFault::IdleTimeout(IdleTimeout {
                idle: Duration::from_secs(5),
            }),
            Victims::All,
        );
        for applied in [&mut victim, &mut bystander, &mut anonymous] {
            assert!(applied.refresh(&control));
            assert_eq!(applied.idle_limit(), Some(Duration::from_secs(5)));
        }
        assert!(victim.paused());
        assert!(!bystander.paused() && !anonymous.paused());

        control.deactivate(1);
        assert!(victim.refresh(&control));
        assert!(!victim.paused());
        control.deactivate(99);
    }

    #[test]
    fn a_closed_connection_leaves_the_registry_at_once_and_its_slot_is_reused() {
        let control = ProxyControl::new();
        let first = control.register();
        let second = control.register();
        assert_eq!(control.registry().live(), 2);
        drop(first);
        assert_eq!(control.registry().live(), 1);
        let third = control.register();
        assert_eq!(
            control.registry().slots.len(),
            2,
            "the freed slot is taken again"
        );
        drop((second, third));
        assert_eq!(control.registry().live(), 0);
    }

    #[test]
    fn a_change_wakes_every_live_connection() {
        let control = ProxyControl::new();
        let live = control.register();
        drop(control.register());
        control.activate(0, ProxyFault::DropAcks(DropAcks), Victims::All);
        // The permit is stored: `notified()` completes at once.
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        for notify in [&live.upstream, &live.downstream, &live.watchdog] {
            let notified = std::pin::pin!(notify.notified());
            assert!(notified.poll(&mut cx).is_ready());
        }
        let registered = control.registry().live();
        assert_eq!(registered, 1, "the dropped connection is forgotten");
    }
}
