//! Memory accounting: what the engine's state costs an allocator, for
//! [`crate::AlertEngine::approx_bytes`], and how its long-lived vectors grow.

use oxmon_core::SeriesKey;

/// Bytes a heap block of `bytes` takes from an allocator like glibc's
/// malloc: 8 bytes of header, 16-byte granules, 32 bytes at least.
pub(crate) fn heap_block(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        ((bytes + 8).div_ceil(16) * 16).max(32)
    }
}

/// Heap bytes of a hash table's buckets and control bytes (not of what its
/// entries point to).
pub(crate) fn table_bytes<K, V, S>(map: &std::collections::HashMap<K, V, S>) -> usize {
    let cap = map.capacity();
    if cap == 0 {
        return 0;
    }
    // hashbrown: capacity is buckets - 1 below 8 buckets, 7/8 of them above.
    let buckets = if cap < 8 { cap + 1 } else { cap / 7 * 8 };
    heap_block(buckets * size_of::<(K, V)>() + buckets + 16)
}

/// Heap bytes of a key held as a [`SeriesKey`] (the labels' own storage
/// estimated as one block of string pairs).
pub(crate) fn key_bytes(key: &SeriesKey) -> usize {
    heap_block(key.agent_id.capacity())
        + heap_block(key.metric.capacity())
        + heap_block(key.labels.len() * 2 * size_of::<String>())
        + key
            .labels
            .iter()
            .map(|(k, v)| heap_block(k.len()) + heap_block(v.len()))
            .sum::<usize>()
}

/// Grows a vector of long-lived entries by a quarter rather than doubling.
pub(crate) fn reserve_quarter<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact(v.len() / 4 + 16);
    }
}
