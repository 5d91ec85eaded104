//! Hash values: a `listpack` (small: an insertion-ordered vector of field/value pairs) that
//! converts to a `hashtable` once it has more than `hash-max-listpack-entries` fields or a
//! field or value longer than `hash-max-listpack-value` bytes. Like Redis, a hash never
//! converts back when it shrinks.
//!
//! The listpack keeps Redis's order (new fields appended, updates in place, deletions close
//! the gap), so `HGETALL`/`HSCAN`/`HRANDFIELD` on small hashes reply in exactly Redis's
//! order. The hashtable is a [`DenseMap`], the keyspace's own map: O(1) random sampling for
//! `HRANDFIELD` and an `HSCAN` cursor that survives deletions (see [`HashValue::scan`]).
//!
//! A listpack-encoded hash is one [`Listpack`] buffer, fields and values alternating (two or
//! three bytes of overhead per pair). A hashtable stores fields and values as [`Key`]s: up to
//! 22 bytes inline in the pair (no allocation), longer ones boxed, so a field of a large hash
//! costs its 48-byte pair plus a 5-byte index bucket, and an update of a short value writes
//! it in place.

use super::listpack::{self, Listpack};
use crate::config::StoreConfig;
use crate::dense_map::{DenseMap, Entries};
use crate::key::Key;

/// A hashtable-encoded hash: field -> value.
pub type HashTable = DenseMap<Key>;

/// A (field, value) pair as readers see it.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

#[derive(Debug, Clone)]
pub enum HashValue {
    /// Field, value, field, value...
    Listpack(Listpack),
    /// Boxed: the table is 120 bytes, and most hashes are small, so a listpack hash costs
    /// 32 bytes plus its buffer instead of the larger variant's size.
    Table(Box<HashTable>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Listpack::default())
    }
}

/// Iterator over a hash's (field, value) pairs, in the order `HGETALL` replies.
pub enum HashIter<'a> {
    Listpack(listpack::Entries<'a>),
    Table(Entries<'a, Key>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(it) => Some((it.next()?.bytes, it.next()?.bytes)),
            HashIter::Table(it) => it.next().map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            HashIter::Listpack(it) => (it.len() / 2, Some(it.len() / 2)),
            HashIter::Table(it) => it.size_hint(),
        }
    }
}

/// The (field, value) entries of a listpack-encoded hash.
fn pairs(lp: &Listpack) -> impl Iterator<Item = (listpack::Entry<'_>, listpack::Entry<'_>)> {
    let mut entries = lp.entries();
    std::iter::from_fn(move || Some((entries.next()?, entries.next()?)))
}

/// The entries of `field` in a listpack-encoded hash.
fn find<'a>(lp: &'a Listpack, field: &[u8]) -> Option<(listpack::Entry<'a>, listpack::Entry<'a>)> {
    pairs(lp).find(|(f, _)| f.bytes == field)
}

impl HashValue {
    pub fn new() -> HashValue {
        HashValue::default()
    }

    /// Builds a hash from loaded pairs (RDB, RESTORE), choosing the encoding as Redis does
    /// on load: `listpack` if there are at most `hash-max-listpack-entries` pairs and no
    /// field or value is longer than `hash-max-listpack-value`, else `hashtable`.
    /// A repeated field keeps its first position and its last value (callers that must
    /// reject duplicates, as Redis's loader does, check `len()` against the input count).
    pub fn from_pairs<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        pairs: Vec<(F, V)>,
        cfg: &StoreConfig,
    ) -> HashValue {
        let small = pairs.len() <= cfg.hash_max_listpack_entries
            && pairs.iter().all(|(f, v)| {
                f.as_ref().len() <= cfg.hash_max_listpack_value
                    && v.as_ref().len() <= cfg.hash_max_listpack_value
            });
        let mut h = if small {
            HashValue::Listpack(Listpack::default())
        } else {
            let mut map = HashTable::default();
            map.reserve(pairs.len());
            HashValue::Table(Box::new(map))
        };
        for (f, v) in &pairs {
            h.store(f.as_ref(), v.as_ref());
        }
        h
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (field, value) pairs in `HGETALL` order (insertion order for a listpack).
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            HashValue::Listpack(lp) => HashIter::Listpack(lp.entries()),
            HashValue::Table(m) => HashIter::Table(m.entries()),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(lp) => find(lp, field).map(|(_, v)| v.bytes),
            HashValue::Table(m) => m.get(field).map(Key::as_slice),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// The pair at position `i` of [`iter`](Self::iter) order (random sampling).
    pub fn get_index(&self, i: usize) -> Option<Pair<'_>> {
        match self {
            HashValue::Listpack(lp) => pairs(lp).nth(i).map(|(f, v)| (f.bytes, v.bytes)),
            HashValue::Table(m) => m.get_index(i).map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    /// Converts a listpack to a hashtable if any of `lens` (lengths of fields/values about
    /// to be written) exceeds `hash-max-listpack-value` (Redis's `hashTypeTryConversion`).
    pub fn convert_for_lengths(
        &mut self,
        lens: impl IntoIterator<Item = usize>,
        cfg: &StoreConfig,
    ) {
        if matches!(self, HashValue::Listpack(_))
            && lens.into_iter().any(|l| l > cfg.hash_max_listpack_value)
        {
            self.convert_to_table();
        }
    }

    /// Sets `field` to `value`. Returns true if the field is new. Converts to a hashtable
    /// when the field or value is too long for a listpack, or when the hash grows past
    /// `hash-max-listpack-entries`.
    pub fn set(&mut self, field: &[u8], value: &[u8], cfg: &StoreConfig) -> bool {
        self.convert_for_lengths([field.len(), value.len()], cfg);
        let new = self.store(field, value);
        if matches!(self, HashValue::Listpack(lp) if lp.len() / 2 > cfg.hash_max_listpack_entries) {
            self.convert_to_table();
        }
        new
    }

    /// Sets `field` in the current encoding; true if the field is new.
    fn store(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => {
                if let Some((_, v)) = find(lp, field) {
                    if v.bytes != value {
                        let span = v.span;
                        lp.replace(span, value);
                    }
                    return false;
                }
                lp.push(&[field, value]);
                true
            }
            HashValue::Table(m) => m.insert(field, Key::new(value)).is_none(),
        }
    }

    /// Removes `field`. Returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => match find(lp, field) {
                Some((f, v)) => {
                    let bytes = f.span.0..v.span.1;
                    lp.remove(bytes, 2);
                    true
                }
                None => false,
            },
            // swap_remove only moves the last entry, which a running HSCAN (walking indices
            // downwards) has already returned.
            HashValue::Table(m) => m.swap_remove(field).is_some(),
        }
    }

    pub fn convert_to_table(&mut self) {
        if let HashValue::Listpack(lp) = self {
            let mut map = HashTable::default();
            map.reserve(lp.len() / 2);
            for (f, v) in pairs(lp) {
                map.insert(f.bytes, Key::new(v.bytes));
            }
            *self = HashValue::Table(Box::new(map));
        }
    }

    /// One `HSCAN` step visiting at most `count` fields; returns the next cursor (0 when
    /// done) and the pairs visited. A listpack is returned whole with cursor 0, as Redis
    /// does. For a hashtable, cursor `c > 0` means "the next index to visit is `c - 1`":
    /// indices are walked downwards, so deletions (which only move the last, already
    /// visited entry) never hide an entry present for the whole scan.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Pair<'_>>) {
        match self {
            HashValue::Listpack(_) => (0, self.iter().collect()),
            HashValue::Table(m) => {
                let len = m.len();
                let mut next = if cursor == 0 || cursor > len as u64 {
                    len
                } else {
                    cursor as usize
                };
                let mut out = Vec::with_capacity(count.clamp(1, 1024));
                while next > 0 && out.len() < count.max(1) {
                    if let Some((f, v)) = m.get_index(next - 1) {
                        out.push((f.as_slice(), v.as_slice()));
                    }
                    next -= 1;
                }
                (next as u64, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> &[u8] {
        s.as_bytes()
    }

    fn cfg(entries: usize, value: usize) -> StoreConfig {
        StoreConfig {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..StoreConfig::default()
        }
    }

    /// What a hash must hold after a sequence of writes: Redis's rules spelled out on a
    /// vector (listpack: updates in place, removal closes the gap; hashtable: removal moves
    /// the last pair into the hole; conversion keeps the order and is one-way).
    #[derive(Default)]
    struct Model {
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
        table: bool,
    }

    impl Model {
        fn set(&mut self, f: &[u8], v: &[u8], c: &StoreConfig) -> bool {
            if f.len() > c.hash_max_listpack_value || v.len() > c.hash_max_listpack_value {
                self.table = true;
            }
            let new = match self.pairs.iter_mut().find(|(mf, _)| mf == f) {
                Some(slot) => {
                    slot.1 = v.to_vec();
                    false
                }
                None => {
                    self.pairs.push((f.to_vec(), v.to_vec()));
                    true
                }
            };
            if self.pairs.len() > c.hash_max_listpack_entries {
                self.table = true;
            }
            new
        }

        fn remove(&mut self, f: &[u8]) -> bool {
            let Some(i) = self.pairs.iter().position(|(mf, _)| mf == f) else {
                return false;
            };
            if self.table {
                self.pairs.swap_remove(i);
            } else {
                self.pairs.remove(i);
            }
            true
        }
    }

    proptest::proptest! {
        /// Sets and removals of short and long fields and values (crossing both thresholds
        /// and the 22-byte inline limit) give the model's replies, order and encoding.
        #[test]
        fn matches_the_model(ops in proptest::collection::vec(
            (proptest::bool::weighted(0.7), 0u8..12, 0usize..30),
            0..200,
        )) {
            let c = cfg(6, 20);
            let (mut h, mut m) = (HashValue::new(), Model::default());
            for (set, f, vlen) in ops {
                let field = if f == 11 { vec![b'F'; 25] } else { vec![b'a' + f] };
                let value = vec![b'v'; vlen];
                if set {
                    proptest::prop_assert_eq!(h.set(&field, &value, &c), m.set(&field, &value, &c));
                } else {
                    proptest::prop_assert_eq!(h.remove(&field), m.remove(&field));
                }
                proptest::prop_assert_eq!(h.encoding_name() == "hashtable", m.table);
                let got: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                proptest::prop_assert_eq!(&got, &m.pairs);
                for (i, (f, v)) in m.pairs.iter().enumerate() {
                    proptest::prop_assert_eq!(h.get(f), Some(&v[..]));
                    proptest::prop_assert_eq!(h.get_index(i), Some((&f[..], &v[..])));
                }
                proptest::prop_assert_eq!(h.len(), m.pairs.len());
            }
        }
    }

    #[test]
    fn listpack_keeps_insertion_order_and_updates_in_place() {
        let c = StoreConfig::default();
        let mut h = HashValue::new();
        assert!(h.set(b("a"), b("1"), &c));
        assert!(h.set(b("b"), b("2"), &c));
        assert!(!h.set(b("a"), b("3"), &c));
        assert!(h.set(b("c"), b("4"), &c));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(pairs, vec![(b("a"), b("3")), (b("c"), b("4"))]);
        assert_eq!(h.encoding_name(), "listpack");
    }

    #[test]
    fn converts_on_entries_and_length() {
        let c = cfg(2, 4);
        let mut h = HashValue::new();
        h.set(b("a"), b("1"), &c);
        h.set(b("b"), b("1234"), &c);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b("c"), b("1"), &c);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 3);

        let mut h = HashValue::new();
        h.set(b("a"), b("12345"), &c);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"12345"[..]));

        let mut h = HashValue::new();
        h.set(b("abcde"), b("1"), &c);
        assert_eq!(h.encoding_name(), "hashtable");
    }

    #[test]
    fn from_pairs_picks_encoding_like_load() {
        let c = cfg(2, 4);
        let h = HashValue::from_pairs(vec![(b("a"), b("1")), (b("b"), b("2"))], &c);
        assert_eq!(h.encoding_name(), "listpack");
        let h = HashValue::from_pairs(
            vec![(b("a"), b("1")), (b("b"), b("2")), (b("c"), b("3"))],
            &c,
        );
        assert_eq!(h.encoding_name(), "hashtable");
        let h = HashValue::from_pairs(vec![(b("a"), b("12345"))], &c);
        assert_eq!(h.encoding_name(), "hashtable");
        let h = HashValue::from_pairs(vec![(b("a"), b("1")), (b("a"), b("2"))], &c);
        assert_eq!(h.len(), 1);
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
    }

    #[test]
    fn table_scan_sees_every_stable_field_despite_deletions() {
        let c = cfg(1, 64);
        let mut h = HashValue::new();
        for i in 0..100 {
            h.set(b(&format!("f{i}")), b("v"), &c);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        for step in 0..1000 {
            let (next, pairs) = h.scan(cursor, 7);
            seen.extend(pairs.into_iter().map(|(f, _)| f.to_vec()));
            for j in 50 + step * 3..50 + step * 3 + 3 {
                h.remove(format!("f{j}").as_bytes());
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..50 {
            assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missing");
        }
    }

    #[test]
    fn listpack_scan_is_whole() {
        let c = StoreConfig::default();
        let mut h = HashValue::new();
        for i in 0..20 {
            h.set(b(&format!("f{i}")), b("v"), &c);
        }
        let (cursor, pairs) = h.scan(0, 1);
        assert_eq!(cursor, 0);
        assert_eq!(pairs.len(), 20);
    }
}
