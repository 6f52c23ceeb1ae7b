//! The pending deadlines of one thread's clocks, earliest first, for the precise timer
//! (`timerfd.rs`): each clock owns one slot, holding its deadline and its waker, for as long as
//! it lives; arming again replaces the slot's entry. The slots and the heap are reused, so a
//! clock re-armed every heartbeat allocates nothing once the thread has seen its most clocks.
//!
//! The heap is an indexed binary min-heap on `(deadline, slot)` (the slot number breaks ties,
//! so equal deadlines keep a fixed order): each slot knows its place in it, so replacing or
//! removing an entry is O(log n) without a search.

use std::task::Waker;
use std::time::Instant;

/// A clock's place in the queue, from [`DeadlineQueue::register`].
pub type Slot = u32;

/// A slot that is not in the heap.
const NOT_QUEUED: u32 = u32::MAX;

#[derive(Debug, Default)]
struct Entry {
    /// Index of this slot's `(deadline, slot)` in `heap`, or `NOT_QUEUED`.
    heap_index: u32,
    /// Kept across firings: a clock's waker seldom changes, so re-arming clones nothing.
    waker: Option<Waker>,
}

#[derive(Debug, Default)]
pub struct DeadlineQueue {
    entries: Vec<Entry>,
    /// Released slots, reused before `entries` grows.
    free: Vec<Slot>,
    heap: Vec<(Instant, Slot)>,
}

impl DeadlineQueue {
    /// A slot for a new clock (a released one if any), not armed.
    pub fn register(&mut self) -> Slot {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        self.entries.push(Entry {
            heap_index: NOT_QUEUED,
            waker: None,
        });
        // The entries of one thread's clients: far below u32::MAX.
        (self.entries.len() - 1) as Slot
    }

    /// Gives `slot` back (its clock is gone), removing its entry.
    pub fn release(&mut self, slot: Slot) {
        self.cancel(slot);
        self.entries[slot as usize].waker = None;
        self.free.push(slot);
    }

    /// Sets `slot`'s deadline, replacing the one it had, and the waker to wake at it.
    pub fn arm(&mut self, slot: Slot, deadline: Instant, waker: &Waker) {
        let entry = &mut self.entries[slot as usize];
        if !entry.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            entry.waker = Some(waker.clone());
        }
        let index = entry.heap_index;
        if index == NOT_QUEUED {
            self.heap.push((deadline, slot));
            let last = self.heap.len() - 1;
            self.entries[slot as usize].heap_index = last as u32;
            self.sift_up(last);
        } else {
            let index = index as usize;
            let earlier = (deadline, slot) < self.heap[index];
            self.heap[index].0 = deadline;
            if earlier {
                self.sift_up(index);
            } else {
                self.sift_down(index);
            }
        }
    }

    /// Removes `slot`'s entry, if it has one.
    pub fn cancel(&mut self, slot: Slot) {
        let index = self.entries[slot as usize].heap_index;
        if index != NOT_QUEUED {
            self.remove_at(index as usize);
        }
    }

    /// The earliest deadline queued.
    pub fn earliest(&self) -> Option<Instant> {
        self.heap.first().map(|&(at, _)| at)
    }

    /// Removes every entry due at `now` and wakes its clock; returns how many.
    pub fn wake_due(&mut self, now: Instant) -> usize {
        let mut woken = 0;
        while let Some(&(at, slot)) = self.heap.first()
            && at <= now
        {
            self.remove_at(0);
            if let Some(waker) = &self.entries[slot as usize].waker {
                // Schedules the clock's task; nothing runs inside this call.
                waker.wake_by_ref();
            }
            woken += 1;
        }
        woken
    }

    /// Removes every entry and wakes its clock.
    pub fn wake_all(&mut self) {
        for (_, slot) in self.heap.drain(..) {
            let entry = &mut self.entries[slot as usize];
            entry.heap_index = NOT_QUEUED;
            if let Some(waker) = &entry.waker {
                waker.wake_by_ref();
            }
        }
    }

    /// `slot` has a deadline queued.
    pub fn is_queued(&self, slot: Slot) -> bool {
        self.entries[slot as usize].heap_index != NOT_QUEUED
    }

    /// Deadlines queued.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Slots in use or free: what the queue holds memory for.
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.entries.len()
    }

    fn remove_at(&mut self, index: usize) {
        let (_, slot) = self.heap.swap_remove(index);
        self.entries[slot as usize].heap_index = NOT_QUEUED;
        if index < self.heap.len() {
            self.entries[self.heap[index].1 as usize].heap_index = index as u32;
            // The entry moved here from the end may belong above or below.
            let index = self.sift_up(index);
            self.sift_down(index);
        }
    }

    /// Moves the entry at `index` up while it is earlier than its parent; returns where it ends.
    fn sift_up(&mut self, mut index: usize) -> usize {
        while index > 0 {
            let parent = (index - 1) / 2;
            if self.heap[index] >= self.heap[parent] {
                break;
            }
            self.swap(index, parent);
            index = parent;
        }
        index
    }

    fn sift_down(&mut self, mut index: usize) {
        loop {
            let left = 2 * index + 1;
            if left >= self.heap.len() {
                return;
            }
            let right = left + 1;
            let child = if right < self.heap.len() && self.heap[right] < self.heap[left] {
                right
            } else {
                left
            };
            if self.heap[index] <= self.heap[child] {
                return;
            }
            self.swap(index, child);
            index = child;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.entries[self.heap[a].1 as usize].heap_index = a as u32;
        self.entries[self.heap[b].1 as usize].heap_index = b as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A waker that counts its wakes.
    struct Counting(AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counting() -> (Arc<Counting>, Waker) {
        let counter = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }

    fn wakes(counter: &Counting) -> usize {
        counter.0.load(Ordering::Relaxed)
    }

    /// Checks the heap property and that every slot knows its place.
    fn check(q: &DeadlineQueue) {
        for (i, &(at, slot)) in q.heap.iter().enumerate() {
            assert_eq!(q.entries[slot as usize].heap_index as usize, i);
            if i > 0 {
                assert!(q.heap[(i - 1) / 2] <= (at, slot), "heap order at {i}");
            }
        }
        let queued = q
            .entries
            .iter()
            .filter(|e| e.heap_index != NOT_QUEUED)
            .count();
        assert_eq!(queued, q.heap.len());
    }

    #[test]
    fn deadlines_come_out_earliest_first_whatever_order_they_were_armed_in() {
        let t0 = Instant::now();
        let mut q = DeadlineQueue::default();
        let (counter, waker) = counting();
        // 1,000 clocks armed in a scrambled order (37 is coprime with 1,000).
        let slots: Vec<Slot> = (0..1000).map(|_| q.register()).collect();
        for i in 0..1000u64 {
            let k = (i * 37) % 1000;
            q.arm(slots[k as usize], t0 + Duration::from_micros(k), &waker);
        }
        check(&q);
        let mut previous = None;
        for k in 0..1000u64 {
            let at = q.earliest().expect("queued");
            assert_eq!(at, t0 + Duration::from_micros(k));
            assert!(previous < Some(at));
            previous = Some(at);
            assert_eq!(q.wake_due(at), 1, "one deadline at {k} us");
            check(&q);
        }
        assert_eq!(wakes(&counter), 1000);
        assert_eq!(q.earliest(), None);
        assert_eq!(q.wake_due(t0 + Duration::from_secs(1)), 0);
    }

    #[test]
    fn arming_a_clock_again_replaces_its_entry() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = DeadlineQueue::default();
        let (early_counter, early) = counting();
        let (late_counter, late) = counting();
        let a = q.register();
        let b = q.register();
        q.arm(a, t0 + ms(10), &early);
        q.arm(b, t0 + ms(20), &late);
        // Later, then earlier than the other: one entry each time.
        q.arm(a, t0 + ms(30), &early);
        check(&q);
        assert_eq!(q.len(), 2);
        assert_eq!(q.earliest(), Some(t0 + ms(20)));
        q.arm(a, t0 + ms(5), &early);
        check(&q);
        assert_eq!(q.len(), 2);
        assert_eq!(q.earliest(), Some(t0 + ms(5)));
        assert_eq!(q.wake_due(t0 + ms(10)), 1, "the old 10 ms entry is gone");
        assert_eq!(wakes(&early_counter), 1);
        assert_eq!(q.wake_due(t0 + ms(30)), 1, "the old 30 ms entry is gone");
        assert_eq!(wakes(&late_counter), 1);
        assert_eq!(wakes(&early_counter), 1);
        // A cancelled entry wakes no one.
        q.arm(a, t0 + ms(40), &early);
        q.cancel(a);
        q.cancel(a);
        assert_eq!(q.wake_due(t0 + ms(50)), 0);
        assert_eq!(wakes(&early_counter), 1);
    }

    #[test]
    fn many_clocks_with_one_deadline_are_all_woken_together() {
        let t0 = Instant::now();
        let at = t0 + Duration::from_millis(7);
        let mut q = DeadlineQueue::default();
        let (counter, waker) = counting();
        let slots: Vec<Slot> = (0..500).map(|_| q.register()).collect();
        for &slot in &slots {
            q.arm(slot, at, &waker);
        }
        // One later deadline that must stay.
        let later = q.register();
        q.arm(later, at + Duration::from_nanos(1), &waker);
        check(&q);
        assert_eq!(q.earliest(), Some(at));
        assert_eq!(q.wake_due(at - Duration::from_nanos(1)), 0, "not yet due");
        assert_eq!(q.wake_due(at), 500);
        assert_eq!(wakes(&counter), 500);
        assert_eq!(q.earliest(), Some(at + Duration::from_nanos(1)));
        check(&q);
    }

    #[test]
    fn a_released_slot_takes_its_entry_along_and_is_reused() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = DeadlineQueue::default();
        let (counter, waker) = counting();
        let slots: Vec<Slot> = (0..10).map(|_| q.register()).collect();
        for (i, &slot) in slots.iter().enumerate() {
            q.arm(slot, t0 + ms(i as u64), &waker);
        }
        // Drop the earliest, one in the middle and the last.
        for i in [0, 4, 9] {
            q.release(slots[i]);
            check(&q);
        }
        assert_eq!(q.len(), 7);
        assert_eq!(q.earliest(), Some(t0 + ms(1)));
        assert_eq!(q.wake_due(t0 + ms(100)), 7);
        assert_eq!(wakes(&counter), 7, "no released clock woken");
        let reused: Vec<Slot> = (0..3).map(|_| q.register()).collect();
        let mut reused_sorted = reused.clone();
        reused_sorted.sort_unstable();
        assert_eq!(reused_sorted, vec![slots[0], slots[4], slots[9]]);
        assert_eq!(q.slots(), 10, "no new slot while a released one is free");
        assert_eq!(q.register(), 10, "then the queue grows");
    }

    #[test]
    fn re_arming_every_clock_many_times_allocates_nothing_new() {
        let t0 = Instant::now();
        let mut q = DeadlineQueue::default();
        let (_counter, waker) = counting();
        let slots: Vec<Slot> = (0..200).map(|_| q.register()).collect();
        let arm_all = |q: &mut DeadlineQueue, round: u64| {
            for (i, &slot) in slots.iter().enumerate() {
                let at = t0 + Duration::from_micros(round * 1000 + (i as u64 * 7919) % 1000);
                q.arm(slot, at, &waker);
            }
        };
        // Clients come and go: released slots serve the new ones (the same slot numbers).
        let churn = |q: &mut DeadlineQueue| {
            for &slot in &slots[..100] {
                q.release(slot);
            }
            for _ in 0..100 {
                q.register();
            }
        };
        arm_all(&mut q, 0);
        churn(&mut q);
        let capacity = (q.entries.capacity(), q.heap.capacity(), q.free.capacity());
        for round in 1..=50u64 {
            // Fire half of them, re-arm all (a clock re-arms whether it fired or not).
            q.wake_due(t0 + Duration::from_micros(round * 1000 - 500));
            arm_all(&mut q, round);
            check(&q);
            assert_eq!(q.len(), 200);
            churn(&mut q);
            assert_eq!(q.len(), 100, "released entries are gone");
            arm_all(&mut q, round);
        }
        assert_eq!(q.slots(), 200);
        assert_eq!(
            (q.entries.capacity(), q.heap.capacity(), q.free.capacity()),
            capacity,
            "the slots and the heap are reused"
        );
    }
}
