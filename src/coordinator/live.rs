//! The clients of the whole run that are planned to be live, in arrival order: every shard
//! keeps the same list (it follows the same stages), so all agree on who a down-stage stops
//! and who a fault may touch. Ids only grow, so the list is a few ranges (one per up-stage
//! after a down-stage), not one entry per client.

use std::ops::Range;

#[derive(Debug, Default)]
pub(super) struct LiveIds {
    /// Ascending, disjoint, none empty.
    ranges: Vec<Range<u32>>,
}

impl LiveIds {
    /// `id` arrived; it is higher than every id before it.
    pub(super) fn push(&mut self, id: u32) {
        match self.ranges.last_mut() {
            Some(last) if last.end == id => last.end += 1,
            _ => self.ranges.push(id..id + 1),
        }
    }

    /// Takes out the most recent arrival still live.
    pub(super) fn pop(&mut self) -> Option<u32> {
        let last = self.ranges.last_mut()?;
        last.end -= 1;
        let id = last.end;
        if last.start == last.end {
            self.ranges.pop();
        }
        Some(id)
    }

    pub(super) fn contains(&self, id: u32) -> bool {
        let after = self.ranges.partition_point(|r| r.end <= id);
        self.ranges.get(after).is_some_and(|r| r.contains(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::LiveIds;

    #[test]
    fn pops_the_latest_and_keeps_gaps_after_a_down_and_up() {
        let mut live = LiveIds::default();
        for id in 0..10 {
            live.push(id);
        }
        assert_eq!(
            (0..3).map(|_| live.pop()).collect::<Vec<_>>(),
            [Some(9), Some(8), Some(7)]
        );
        for id in 10..12 {
            live.push(id);
        }
        let ids: Vec<u32> = (0..15).filter(|&id| live.contains(id)).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6, 10, 11]);
        assert_eq!(live.pop(), Some(11));
        assert_eq!(live.pop(), Some(10));
        assert_eq!(live.pop(), Some(6));
        for _ in 0..6 {
            assert!(live.pop().is_some());
        }
        assert_eq!(live.pop(), None);
        assert!(!live.contains(0));
    }
}
