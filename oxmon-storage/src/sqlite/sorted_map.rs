//! [`SortedMap`]: a map sorted by key that is a vector while small and a
//! B-tree beyond, the shape of the in-memory index's per-agent maps.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Entries up to which a [`SortedMap`] stays a vector.
pub(crate) const SMALL: usize = 64;

/// A map sorted by key: a vector of pairs up to [`SMALL`] entries (compact,
/// cache-friendly), a B-tree beyond (O(log n) inserts in any order).
#[derive(Debug)]
pub(crate) enum SortedMap<K, V> {
    /// At most [`SMALL`] entries, sorted by key.
    Small(Vec<(K, V)>),
    /// More than [`SMALL`] entries (boxed: the enum stays the size of a
    /// vector, as the vector's capacity leaves room for the tag).
    #[allow(clippy::box_collection)] // on purpose: 24 bytes per entry, not 32
    Large(Box<BTreeMap<K, V>>),
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap::Small(Vec::new())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    pub(crate) fn len(&self) -> usize {
        match self {
            SortedMap::Small(v) => v.len(),
            SortedMap::Large(m) => m.len(),
        }
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            SortedMap::Small(v) => v
                .binary_search_by(|(k, _)| k.borrow().cmp(key))
                .ok()
                .map(|i| &v[i].1),
            SortedMap::Large(m) => m.get(key),
        }
    }

    /// The value of `key`, inserted (`make_key`, `make_value`) when missing;
    /// and whether it was inserted.
    pub(crate) fn get_or_insert<Q>(
        &mut self,
        key: &Q,
        make_key: impl FnOnce() -> K,
        make_value: impl FnOnce() -> V,
    ) -> (&mut V, bool)
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if let SortedMap::Small(v) = self
            && v.len() >= SMALL
            && v.binary_search_by(|(k, _)| k.borrow().cmp(key)).is_err()
        {
            *self = SortedMap::Large(Box::new(std::mem::take(v).into_iter().collect()));
        }
        match self {
            SortedMap::Small(v) => match v.binary_search_by(|(k, _)| k.borrow().cmp(key)) {
                Ok(i) => (&mut v[i].1, false),
                Err(i) => {
                    v.insert(i, (make_key(), make_value()));
                    (&mut v[i].1, true)
                }
            },
            SortedMap::Large(m) => {
                // Two lookups only when the key is new: `entry` would need an owned key.
                if m.contains_key(key) {
                    (m.get_mut(key).expect("just found"), false)
                } else {
                    (m.entry(make_key()).or_insert_with(make_value), true)
                }
            }
        }
    }

    /// The entries from `start` on, in key order.
    pub(crate) fn range_from<'a, Q>(
        &'a self,
        start: Bound<&Q>,
    ) -> impl Iterator<Item = (&'a K, &'a V)> + 'a
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let (small, large) = match self {
            SortedMap::Small(v) => {
                let i = match start {
                    Bound::Included(q) => v.partition_point(|(k, _)| k.borrow() < q),
                    Bound::Excluded(q) => v.partition_point(|(k, _)| k.borrow() <= q),
                    Bound::Unbounded => 0,
                };
                (Some(v[i..].iter().map(|(k, v)| (k, v))), None)
            }
            SortedMap::Large(m) => (None, Some(m.range::<Q, _>((start, Bound::Unbounded)))),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// The entries after skipping `n`, in key order (O(1) to skip while small).
    pub(crate) fn skip(&self, n: usize) -> impl Iterator<Item = (&K, &V)> {
        let (small, large) = match self {
            SortedMap::Small(v) => (Some(v[n.min(v.len())..].iter().map(|(k, v)| (k, v))), None),
            SortedMap::Large(m) => (None, Some(m.iter().skip(n))),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use oxmon_core::{Labels, Point};

    use super::*;

    #[test]
    fn sorted_map_stays_sorted_across_the_switch_to_a_tree() {
        for order in [false, true] {
            let mut m: SortedMap<String, usize> = SortedMap::default();
            let n = SMALL * 3;
            for i in 0..n {
                let k = format!("{:04}", if order { n - 1 - i } else { (i * 37) % n });
                let (_, created) = m.get_or_insert(k.as_str(), || k.clone(), || i);
                assert!(created);
                let (_, again) = m.get_or_insert(k.as_str(), || k.clone(), || 0);
                assert!(!again);
            }
            assert!(matches!(m, SortedMap::Large(_)));
            assert_eq!(m.len(), n);
            let keys: Vec<&String> = m.skip(0).map(|(k, _)| k).collect();
            assert!(keys.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(m.skip(n - 2).count(), 2);
            assert_eq!(
                m.range_from(Bound::Excluded("0010"))
                    .next()
                    .map(|(k, _)| k.as_str()),
                Some("0011")
            );
            assert_eq!(
                m.range_from(Bound::Included("0010"))
                    .next()
                    .map(|(k, _)| k.as_str()),
                Some("0010")
            );
        }
        let mut small: SortedMap<String, usize> = SortedMap::default();
        for k in ["b", "d", "a"] {
            small.get_or_insert(k, || k.to_owned(), || 0);
        }
        assert!(matches!(small, SortedMap::Small(_)));
        let from_c: Vec<&str> = small
            .range_from(Bound::Included("c"))
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(from_c, ["d"]);
        assert_eq!(small.skip(5).count(), 0);
    }

    #[test]
    fn a_sorted_map_costs_no_more_than_the_vector_it_replaces() {
        use std::mem::size_of;
        assert_eq!(
            size_of::<SortedMap<Labels, Point>>(),
            size_of::<Vec<(Labels, Point)>>()
        );
        assert_eq!(
            size_of::<SortedMap<String, SortedMap<Labels, Point>>>(),
            size_of::<Vec<(String, Vec<(Labels, Point)>)>>()
        );
    }
}
