//! The agent's bounded buffer of batches waiting for the server.

use std::collections::VecDeque;

use oxmon_core::MetricBatch;

use oxmon_core::pack::PackedBatch;

/// Batches waiting to be sent, oldest first, at most `capacity` of them.
///
/// When full, adding a batch drops the oldest one (the newest data is worth
/// more to an operator coming back from an outage) and counts it.
///
/// Batches are held packed (about 45 bytes a sample instead of about 550
/// as `Sample` values), so a full buffer of 1000 collections stays near
/// 1.5 MiB; [`BatchBuffer::pop`] gives each back exactly as it was pushed.
#[derive(Debug)]
pub struct BatchBuffer {
    queue: VecDeque<PackedBatch>,
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
            self.queue.pop_front().and_then(|p| p.unpack())
        } else {
            None
        };
        self.queue.push_back(PackedBatch::pack(&batch));
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
            self.queue.push_front(PackedBatch::pack(&batch));
            None
        }
    }

    /// Takes the oldest batch.
    pub fn pop(&mut self) -> Option<MetricBatch> {
        // Unpacking cannot fail for bytes packed here; a batch that did would
        // be skipped rather than sent wrong.
        while let Some(p) = self.queue.pop_front() {
            if let Some(batch) = p.unpack() {
                return Some(batch);
            }
        }
        None
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

    /// The ids of the waiting batches, oldest first.
    pub fn batch_ids(&self) -> impl Iterator<Item = Option<&str>> {
        self.queue.iter().map(PackedBatch::batch_id)
    }

    /// Samples in the waiting batches.
    pub fn samples(&self) -> usize {
        self.queue.iter().map(PackedBatch::samples).sum()
    }

    /// Approximate heap memory held by the waiting batches, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.queue
            .iter()
            .map(PackedBatch::heap_bytes)
            .sum::<usize>()
            + self.queue.capacity() * std::mem::size_of::<PackedBatch>()
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::{Labels, Sample};

    use super::*;

    fn batch(n: u32) -> MetricBatch {
        let ts = 1_767_225_600_000 + i64::from(n) * 10_000;
        let labels = Labels::new().with("interface", "eth0");
        MetricBatch {
            agent_id: "a".into(),
            batch_id: Some(format!("b{n}")),
            timestamp_ms: ts,
            samples: vec![
                Sample::new("cpu.usage", Labels::new(), ts, f64::from(n)),
                Sample::new("network.bytes_recv", labels, ts, 0.1 + 0.2),
            ],
        }
    }

    fn ids(b: &BatchBuffer) -> Vec<String> {
        b.batch_ids().flatten().map(str::to_owned).collect()
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
        assert_eq!(b.samples(), 6);
        assert_eq!(b.pop(), Some(batch(5)), "a batch comes back as it went in");
    }

    #[test]
    fn a_full_default_buffer_stays_small() {
        let mut b = BatchBuffer::new(1000);
        for n in 0..1000 {
            let mut full = batch(n);
            // About what one collection of a small host is: 30 samples.
            let one = full.samples[1].clone();
            full.samples.extend(std::iter::repeat_n(one, 28));
            b.push(full);
        }
        let bytes = b.heap_bytes();
        assert!(bytes < 2 * 1024 * 1024, "{bytes} bytes for 1000 batches");
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
