//! The recent points of a series in one ring of bytes, delta-encoded, read
//! by cursors: the windows of a series' rules share it, and it costs what
//! its points carry rather than 16 bytes each.
//!
//! A point is a header byte, then what it does not hold: the change of the
//! time step (delta of delta), then the bytes of the value's bits XOR the
//! previous value's that are not zero at either end. The header's high
//! nibble is the change of step when it is within 7 ms (a timer's jitter),
//! else 15 and a zigzag varint follows; its low nibble is 0 for a repeated
//! value, 1 to 8 for the usual XOR that reaches the last byte (how many
//! leading zero bytes, plus one), 10 to 15 for a single byte with zero bytes
//! on both sides (round numbers), 9 for anything else, with the layout in the
//! next byte. Lossless: a point reads back exactly as it was written. A
//! sample every 10 s whose value moves in its low bits takes 4 to 9 bytes; a
//! repeated value at a steady step, 1.
//!
//! Windows hold [`Cursor`]s: the state of the decoder after their oldest
//! point, which is that point. A window moves forward by decoding the next
//! point; the bytes before every window's cursor are dropped (the ring's
//! start moves, nothing is copied), and the ring grows only as far as the
//! windows need, whatever the series' interval.

use oxmon_core::Point;

/// The longest encoding of a point: header, 10-byte varint, layout byte, 8
/// value bytes.
pub(crate) const MAX_POINT_BYTES: usize = 20;

/// Step code (high nibble): a zigzag varint follows.
const STEP_VARINT: u8 = 15;
/// Value code (low nibble): the value repeats.
const VALUE_SAME: u8 = 0;
/// Value code: a layout byte follows (leading zero bytes | (length - 1) << 3).
const VALUE_LAYOUT: u8 = 9;
/// Value codes from here: one byte, after `code - VALUE_ONE_BYTE` zero bytes.
const VALUE_ONE_BYTE: u8 = 10;

/// A decoded point and where the next one starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Stream offset of the next point's encoding.
    pos: usize,
    /// The point's timestamp (ms).
    ts: i64,
    /// Its distance from the previous point (ms), for delta-of-delta coding.
    step: i64,
    /// Its value, as bits.
    bits: u64,
}

impl Cursor {
    /// The point's timestamp (ms).
    pub(crate) fn ts(&self) -> i64 {
        self.ts
    }

    /// The point's value.
    pub(crate) fn value(&self) -> f64 {
        f64::from_bits(self.bits)
    }

    /// The point.
    pub(crate) fn point(&self) -> Point {
        Point {
            timestamp_ms: self.ts,
            value: self.value(),
        }
    }

    /// Where the next point starts (the bytes before it are no longer needed
    /// by this cursor).
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
}

/// Points in time order, encoded; see the module docs. A ring of bytes:
/// cursor positions are offsets into the stream of every byte ever written,
/// so dropping old bytes moves nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    ring: Box<[u8]>,
    /// Where in `ring` the byte at stream offset `base` is.
    head: usize,
    /// Stream offset of the oldest byte held.
    base: usize,
    /// The encoder's state: the newest point.
    newest: Cursor,
}

impl History {
    /// The newest point (meaningful once a point was pushed).
    pub(crate) fn newest(&self) -> Cursor {
        self.newest
    }

    /// Bytes held (the ring's capacity).
    pub(crate) fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Bytes of points held: from the oldest kept to the newest.
    pub(crate) fn live(&self) -> usize {
        self.newest.pos - self.base
    }

    fn at(&self, pos: usize) -> usize {
        let i = self.head + (pos - self.base);
        if i >= self.ring.len() {
            i - self.ring.len()
        } else {
            i
        }
    }

    /// Appends a point and returns it; its timestamp should be later than the
    /// newest's (any value reads back, but steps then cost more bytes).
    #[inline]
    pub(crate) fn push(&mut self, ts: i64, value: f64) -> Cursor {
        let prev = self.newest;
        let step = ts.wrapping_sub(prev.ts);
        let dod = step.wrapping_sub(prev.step);
        let bits = value.to_bits();
        let x = bits ^ prev.bits;
        let mut enc = [0u8; MAX_POINT_BYTES];
        let mut n = 1;
        let step_code = if (-7..=7).contains(&dod) {
            zigzag(dod) as u8
        } else {
            n += write_varint(&mut enc[1..11], zigzag(dod));
            STEP_VARINT
        };
        let value_code = if x == 0 {
            VALUE_SAME
        } else {
            // x != 0, so lz + tz <= 7 and 1 <= len <= 8.
            let lz = x.leading_zeros() / 8;
            let tz = x.trailing_zeros() / 8;
            let len = (8 - lz - tz) as usize;
            let code = match (tz, len) {
                (0, _) => 1 + lz as u8,
                (_, 1) if lz <= 5 => VALUE_ONE_BYTE + lz as u8,
                _ => {
                    enc[n] = lz as u8 | (((len - 1) as u8) << 3);
                    n += 1;
                    VALUE_LAYOUT
                }
            };
            enc[n..n + len].copy_from_slice(&(x >> (8 * tz)).to_le_bytes()[..len]);
            n += len;
            code
        };
        enc[0] = (step_code << 4) | value_code;
        let live = self.live();
        if self.ring.len() - live < MAX_POINT_BYTES {
            self.relayout(live + live / 8 + 2 * MAX_POINT_BYTES);
        }
        // There is room for the longest point: write all of `enc` (the bytes
        // past `n` land in free space) with a fixed-size copy.
        let at = self.at(self.newest.pos);
        match self.ring.get_mut(at..at + MAX_POINT_BYTES) {
            Some(dst) => dst.copy_from_slice(&enc),
            None => {
                let len = self.ring.len();
                for (i, &b) in enc[..n].iter().enumerate() {
                    self.ring[(at + i) % len] = b;
                }
            }
        }
        let newest = Cursor {
            pos: self.newest.pos + n,
            ts,
            step,
            bits,
        };
        self.newest = newest;
        newest
    }

    /// The point after `c`; `None` when `c` is the newest. `c` must be a
    /// point still held (at or after the position passed to
    /// [`reserve`](Self::reserve)).
    #[inline(always)]
    pub(crate) fn next(&self, c: &Cursor) -> Option<Cursor> {
        if c.pos >= self.newest.pos {
            return None;
        }
        let at = self.at(c.pos);
        let mut gathered = [0u8; MAX_POINT_BYTES];
        let buf: &[u8] = match self.ring.get(at..at + MAX_POINT_BYTES) {
            Some(b) => b,
            None => {
                // The point wraps around the end of the ring (bytes past
                // the point are stale and not read).
                for (i, b) in gathered.iter_mut().enumerate() {
                    *b = self.ring[(at + i) % self.ring.len()];
                }
                &gathered
            }
        };
        let head = buf[0];
        let mut i = 1;
        let step_code = head >> 4;
        let dod = if step_code == STEP_VARINT {
            let (z, n) = read_varint(&buf[1..11]);
            i += n;
            unzigzag(z)
        } else {
            unzigzag(u64::from(step_code))
        };
        let step = c.step.wrapping_add(dod);
        let mut bits = c.bits;
        let value_code = head & 15;
        if value_code != VALUE_SAME {
            let (lz, len) = match value_code {
                1..=8 => (usize::from(value_code - 1), usize::from(9 - value_code)),
                VALUE_LAYOUT => {
                    let layout = buf[i];
                    i += 1;
                    (usize::from(layout & 7), usize::from((layout >> 3) & 7) + 1)
                }
                _ => (usize::from(value_code - VALUE_ONE_BYTE), 1),
            };
            let tz = 8 - lz - len;
            // i <= 12, so the 8 bytes from i are within the 20 read: load
            // them whole and keep the point's `len`.
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[i..i + 8]);
            let raw = u64::from_le_bytes(b) & (u64::MAX >> (8 * (8 - len)));
            i += len;
            bits ^= raw << (8 * tz);
        }
        Some(Cursor {
            pos: c.pos + i,
            ts: c.ts.wrapping_add(step),
            step,
            bits,
        })
    }

    /// Makes room for one more point. The bytes before `keep_from` (the
    /// earliest cursor position any window still needs) are dropped, which
    /// moves nothing. When the ring is full it grows to a sixteenth more than
    /// it holds, or to `expected` bytes if more (what the windows will hold
    /// once they span their length, as the caller estimates it: few moves
    /// while a window fills, none once it is full). When the ring is more
    /// than twice what that calls for, it shrinks.
    pub(crate) fn reserve(&mut self, keep_from: usize, expected: impl FnOnce(&Self) -> usize) {
        let keep = keep_from.clamp(self.base, self.newest.pos);
        if keep > self.base {
            self.head = self.at(keep);
            self.base = keep;
        }
        let live = self.live();
        let cap = self.ring.len();
        let full = cap - live < MAX_POINT_BYTES;
        let least = live + live / 16 + 2 * MAX_POINT_BYTES;
        if full || cap > 2 * least + 64 {
            let want = least.max(expected(self) + 2 * MAX_POINT_BYTES);
            if full || cap > 2 * want + 64 {
                self.relayout(want);
            }
        }
    }

    /// Moves the held bytes to the start of a ring of `cap` bytes.
    fn relayout(&mut self, cap: usize) {
        let live = self.live();
        let mut ring = vec![0u8; cap.max(live + MAX_POINT_BYTES)].into_boxed_slice();
        let first = live.min(self.ring.len() - self.head);
        ring[..first].copy_from_slice(&self.ring[self.head..self.head + first]);
        ring[first..live].copy_from_slice(&self.ring[..live - first]);
        self.ring = ring;
        self.head = 0;
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// LEB128; returns the bytes written (at most 10).
fn write_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

/// LEB128; returns the value and the bytes read.
fn read_varint(buf: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    (v, buf.len().min(10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(h: &History, first: Cursor) -> Vec<(i64, u64)> {
        let mut out = vec![(first.ts, first.bits)];
        let mut c = first;
        while let Some(n) = h.next(&c) {
            out.push((n.ts, n.bits));
            c = n;
        }
        out
    }

    #[test]
    fn steady_points_cost_what_changes() {
        let mut h = History::default();
        let t0 = 1_767_225_600_000;
        h.push(t0, 50.0);
        let first = h.newest();
        let mut sizes = Vec::new();
        for (ts, v) in [
            (t0 + 10_000, 50.0),
            (t0 + 20_000, 50.0),
            (t0 + 30_005, 51.0),
            (t0 + 40_005, 51.25),
        ] {
            let before = h.live();
            h.push(ts, v);
            sizes.push(h.live() - before);
        }
        // The first step (10 s, after the first point's t0 from 0): header +
        // 6-byte varint, once; then the same step and value: the header alone;
        // 5 ms later and 50 -> 51 (one byte of the value's bits differs, zero
        // bytes around it): 2 bytes; 51 -> 51.25 with the step back to 10 s: 2
        // bytes.
        assert_eq!(sizes, [7, 1, 2, 2]);
        assert_eq!(
            read_all(&h, first),
            [
                (t0, 50f64.to_bits()),
                (t0 + 10_000, 50f64.to_bits()),
                (t0 + 20_000, 50f64.to_bits()),
                (t0 + 30_005, 51f64.to_bits()),
                (t0 + 40_005, 51.25f64.to_bits())
            ]
        );
    }

    #[test]
    fn reserve_drops_what_no_cursor_needs_and_fits_the_ring_to_it() {
        let mut h = History::default();
        for i in 0..10_000i64 {
            h.reserve(0, |_| 0);
            h.push(i * 10_000, i as f64 * 0.1);
        }
        assert!(h.live() > 50_000, "{}", h.live());
        assert!(h.capacity() <= h.live() + h.live() / 8 + 2 * MAX_POINT_BYTES);
        // Keep only the newest 100 bytes' worth of points: the ring shrinks.
        let mut keep = Cursor::default();
        let mut c = keep;
        while let Some(n) = h.next(&c) {
            if h.newest().pos() - n.pos() < 100 {
                keep = n;
                break;
            }
            c = n;
        }
        if keep == Cursor::default() {
            keep = h.newest();
        }
        h.reserve(keep.pos(), |_| 0);
        assert!(h.live() < 100);
        assert!(h.capacity() < 300, "{}", h.capacity());
        assert_eq!(
            read_all(&h, keep).last(),
            Some(&(h.newest().ts(), h.newest().bits))
        );
        // An expected size is reserved when the ring fills.
        let mut h = History::default();
        h.push(0, 1.0);
        assert!(h.capacity() < 100);
        while h.capacity() - h.live() >= MAX_POINT_BYTES {
            h.push(h.newest().ts() + 1, 1.0);
        }
        h.reserve(0, |_| 1_000);
        assert_eq!(h.capacity(), 1_000 + 2 * MAX_POINT_BYTES);
    }

    proptest! {
        /// Whatever the timestamps and values (NaN payloads and infinities
        /// included), the points read back bit for bit while the ring drops,
        /// wraps, grows and shrinks.
        #[test]
        fn points_read_back_exactly(
            start in any::<i64>(),
            steps in prop::collection::vec(prop_oneof![Just(10_000i64), 9_990i64..10_010, any::<i64>()], 1..300),
            values in prop::collection::vec(prop_oneof![Just(42.5f64), -100.0f64..100.0, (-1000i32..1000).prop_map(f64::from), any::<f64>()], 300),
            advance_every in 1usize..5,
            expected in prop_oneof![Just(0usize), 0usize..5_000],
        ) {
            let mut h = History::default();
            let mut written = Vec::new();
            let mut ts = start;
            let mut front: Option<Cursor> = None;
            let mut front_index = 0;
            for (i, &step) in steps.iter().enumerate() {
                ts = ts.wrapping_add(step);
                if i % 7 != 3 {
                    h.reserve(front.map_or(h.newest().pos(), |c| c.pos()), |_| expected);
                }
                h.push(ts, values[i]);
                written.push((ts, values[i].to_bits()));
                let f = *front.get_or_insert(h.newest());
                prop_assert_eq!(read_all(&h, f), &written[front_index..]);
                // Move the front forward now and then, sometimes by several points.
                if i % advance_every == 0 {
                    for _ in 0..(i % 3) {
                        if let Some(n) = h.next(front.as_ref().unwrap()) {
                            front = Some(n);
                            front_index += 1;
                        }
                    }
                }
            }
        }
    }
}
