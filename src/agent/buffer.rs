//! The agent's bounded buffer of batches waiting for the server.

use std::collections::VecDeque;

use oxmon_core::MetricBatch;

/// Batches waiting to be sent, oldest first, at most `capacity` of them.
///
/// When full, adding a batch drops the oldest one (the newest data is worth
/// more to an operator coming back from an outage) and counts it.
#[derive(Debug)]
pub struct BatchBuffer {
    queue: VecDeque<MetricBatch>,
    capacity: usize,
    dropped: u64,
}

impl BatchBuffer {
    /// An empty buffer holding at most `capacity` batches (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            queue: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            dropped: 0,
        }
    }

    /// Adds the newest batch. Returns the batch dropped to make room, if any.
    pub fn push(&mut self, batch: MetricBatch) -> Option<MetricBatch> {
        let evicted = if self.queue.len() >= self.capacity {
            self.dropped += 1;
            self.queue.pop_front()
        } else {
            None
        };
        self.queue.push_back(batch);
        evicted
    }

    /// Puts back a batch taken with [`BatchBuffer::pop`] whose send failed,
    /// as the oldest. If the buffer filled up meanwhile, that batch is the
    /// oldest of all and is the one dropped: it is returned.
    pub fn requeue(&mut self, batch: MetricBatch) -> Option<MetricBatch> {
        if self.queue.len() >= self.capacity {
            self.dropped += 1;
            Some(batch)
        } else {
            self.queue.push_front(batch);
            None
        }
    }

    /// Takes the oldest batch.
    pub fn pop(&mut self) -> Option<MetricBatch> {
        self.queue.pop_front()
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no batch is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The most batches it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Batches dropped so far because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The waiting batches, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &MetricBatch> {
        self.queue.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: u32) -> MetricBatch {
        MetricBatch {
            agent_id: "a".into(),
            batch_id: Some(format!("b{n}")),
            timestamp_ms: i64::from(n),
            samples: Vec::new(),
        }
    }

    fn ids(b: &BatchBuffer) -> Vec<String> {
        b.iter().filter_map(|b| b.batch_id.clone()).collect()
    }

    #[test]
    fn overflow_keeps_the_newest_and_counts_the_dropped() {
        let mut b = BatchBuffer::new(3);
        for n in 0..3 {
            assert!(b.push(batch(n)).is_none());
        }
        for n in 3..8 {
            let evicted = b.push(batch(n)).expect("full");
            assert_eq!(evicted.batch_id, Some(format!("b{}", n - 3)));
        }
        assert_eq!(ids(&b), ["b5", "b6", "b7"]);
        assert_eq!((b.len(), b.capacity(), b.dropped()), (3, 3, 5));
    }

    #[test]
    fn a_failed_send_goes_back_first_unless_the_buffer_filled_meanwhile() {
        let mut b = BatchBuffer::new(2);
        b.push(batch(0));
        b.push(batch(1));
        let in_flight = b.pop().expect("one waiting");
        assert!(b.requeue(in_flight).is_none());
        assert_eq!(ids(&b), ["b0", "b1"]);
        let in_flight = b.pop().expect("one waiting");
        b.push(batch(2));
        let dropped = b.requeue(in_flight).expect("full: the oldest goes");
        assert_eq!(dropped.batch_id.as_deref(), Some("b0"));
        assert_eq!(
            (ids(&b), b.dropped()),
            (vec!["b1".to_owned(), "b2".to_owned()], 1)
        );
    }

    #[test]
    fn capacity_is_at_least_one() {
        let mut b = BatchBuffer::new(0);
        b.push(batch(0));
        b.push(batch(1));
        assert_eq!(ids(&b), ["b1"]);
        assert!(b.pop().is_some() && b.pop().is_none() && b.is_empty());
    }
}
