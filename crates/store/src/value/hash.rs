//! Hash values: a `listpack` (small: an insertion-ordered vector of field/value pairs) that
//! converts to a `hashtable` once it has more than `hash-max-listpack-entries` fields or a
//! field or value longer than `hash-max-listpack-value` bytes. Like Redis, a hash never
//! converts back when it shrinks.
//!
//! The listpack keeps Redis's order (new fields appended, updates in place, deletions close
//! the gap), so `HGETALL`/`HSCAN`/`HRANDFIELD` on small hashes reply in exactly Redis's
//! order. The hashtable is an `IndexMap`: O(1) random sampling for `HRANDFIELD` and an
//! `HSCAN` cursor that survives deletions (see [`HashValue::scan`]).

use bytes::Bytes;
use indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};
use indexmap::IndexMap;

use crate::config::StoreConfig;

pub type HashTable = IndexMap<Bytes, Bytes, ahash::RandomState>;

#[derive(Debug, Clone)]
pub enum HashValue {
    Listpack(Vec<(Bytes, Bytes)>),
    Table(HashTable),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Vec::new())
    }
}

/// Iterator over a hash's (field, value) pairs, in the order `HGETALL` replies.
pub enum HashIter<'a> {
    Listpack(std::slice::Iter<'a, (Bytes, Bytes)>),
    Table(indexmap::map::Iter<'a, Bytes, Bytes>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a Bytes, &'a Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(it) => it.next().map(|(f, v)| (f, v)),
            HashIter::Table(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            HashIter::Listpack(it) => it.size_hint(),
            HashIter::Table(it) => it.size_hint(),
        }
    }
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
    pub fn from_pairs(pairs: Vec<(Bytes, Bytes)>, cfg: &StoreConfig) -> HashValue {
        let small = pairs.len() <= cfg.hash_max_listpack_entries
            && pairs.iter().all(|(f, v)| {
                f.len() <= cfg.hash_max_listpack_value && v.len() <= cfg.hash_max_listpack_value
            });
        if small {
            let mut out: Vec<(Bytes, Bytes)> = Vec::with_capacity(pairs.len());
            for (f, v) in pairs {
                match out.iter_mut().find(|(of, _)| *of == f) {
                    Some(slot) => slot.1 = v,
                    None => out.push((f, v)),
                }
            }
            HashValue::Listpack(out)
        } else {
            let mut map = HashTable::with_capacity_and_hasher(pairs.len(), Default::default());
            map.extend(pairs);
            HashValue::Table(map)
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(v) => v.len(),
            HashValue::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (field, value) pairs in `HGETALL` order (insertion order for a listpack).
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            HashValue::Listpack(v) => HashIter::Listpack(v.iter()),
            HashValue::Table(m) => HashIter::Table(m.iter()),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        match self {
            HashValue::Listpack(v) => v.iter().find(|(f, _)| f[..] == *field).map(|(_, v)| v),
            HashValue::Table(m) => m.get(field),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// The pair at position `i` of [`iter`](Self::iter) order (random sampling).
    pub fn get_index(&self, i: usize) -> Option<(&Bytes, &Bytes)> {
        match self {
            HashValue::Listpack(v) => v.get(i).map(|(f, v)| (f, v)),
            HashValue::Table(m) => m.get_index(i),
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
    pub fn set(&mut self, field: Bytes, value: Bytes, cfg: &StoreConfig) -> bool {
        self.convert_for_lengths([field.len(), value.len()], cfg);
        match self {
            HashValue::Listpack(v) => {
                if let Some(slot) = v.iter_mut().find(|(f, _)| *f == field) {
                    slot.1 = value;
                    return false;
                }
                v.push((field, value));
                if v.len() > cfg.hash_max_listpack_entries {
                    self.convert_to_table();
                }
                true
            }
            HashValue::Table(m) => m.insert(field, value).is_none(),
        }
    }

    /// [`set`](Self::set) for borrowed arguments, copying only what gets stored: an existing
    /// field keeps its key and gets a copy of `value`, and one hash of `field` serves both
    /// the lookup and the insertion of a new field. Returns true if the field is new.
    pub fn set_copied(&mut self, field: &[u8], value: &[u8], cfg: &StoreConfig) -> bool {
        self.convert_for_lengths([field.len(), value.len()], cfg);
        match self {
            HashValue::Listpack(v) => {
                if let Some(slot) = v.iter_mut().find(|(f, _)| f[..] == *field) {
                    slot.1 = Bytes::copy_from_slice(value);
                    return false;
                }
                v.push((Bytes::copy_from_slice(field), Bytes::copy_from_slice(value)));
                if v.len() > cfg.hash_max_listpack_entries {
                    self.convert_to_table();
                }
                true
            }
            HashValue::Table(m) => {
                let hash = m.hasher().hash_one(field);
                match m.raw_entry_mut_v1().from_key_hashed_nocheck(hash, field) {
                    RawEntryMut::Occupied(mut e) => {
                        *e.get_mut() = Bytes::copy_from_slice(value);
                        false
                    }
                    RawEntryMut::Vacant(e) => {
                        e.insert_hashed_nocheck(
                            hash,
                            Bytes::copy_from_slice(field),
                            Bytes::copy_from_slice(value),
                        );
                        true
                    }
                }
            }
        }
    }

    /// Removes `field`. Returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(v) => match v.iter().position(|(f, _)| f[..] == *field) {
                Some(i) => {
                    v.remove(i);
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
        if let HashValue::Listpack(v) = self {
            let mut map = HashTable::with_capacity_and_hasher(v.len(), Default::default());
            map.extend(std::mem::take(v));
            *self = HashValue::Table(map);
        }
    }

    /// One `HSCAN` step visiting at most `count` fields; returns the next cursor (0 when
    /// done) and the pairs visited. A listpack is returned whole with cursor 0, as Redis
    /// does. For a hashtable, cursor `c > 0` means "the next index to visit is `c - 1`":
    /// indices are walked downwards, so deletions (which only move the last, already
    /// visited entry) never hide an entry present for the whole scan.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Bytes, &Bytes)>) {
        match self {
            HashValue::Listpack(v) => (0, v.iter().map(|(f, v)| (f, v)).collect()),
            HashValue::Table(m) => {
                let len = m.len();
                let mut next = if cursor == 0 || cursor > len as u64 {
                    len
                } else {
                    cursor as usize
                };
                let mut out = Vec::with_capacity(count.clamp(1, 1024));
                while next > 0 && out.len() < count.max(1) {
                    if let Some(pair) = m.get_index(next - 1) {
                        out.push(pair);
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

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn cfg(entries: usize, value: usize) -> StoreConfig {
        StoreConfig {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..StoreConfig::default()
        }
    }

    #[test]
    fn set_copied_matches_set_on_both_encodings() {
        // Small limits so that the sequence crosses the entries and length thresholds.
        let c = cfg(3, 4);
        let ops: &[(&str, &str)] = &[
            ("a", "1"),
            ("b", "2"),
            ("a", "3"),
            ("c", "4"),
            ("d", "5"),
            ("b", "6"),
            ("long-field", "7"),
            ("a", "long-value"),
            ("e", "8"),
        ];
        let (mut owned, mut copied) = (HashValue::new(), HashValue::new());
        for (f, v) in ops {
            assert_eq!(
                owned.set(b(f), b(v), &c),
                copied.set_copied(f.as_bytes(), v.as_bytes(), &c),
                "{f}={v}"
            );
            assert_eq!(owned.encoding_name(), copied.encoding_name());
            let a: Vec<_> = owned.iter().collect();
            let b: Vec<_> = copied.iter().collect();
            assert_eq!(a, b);
        }
        assert_eq!(copied.encoding_name(), "hashtable");
        assert_eq!(copied.get(b"a"), Some(&b("long-value")));
        assert_eq!(copied.len(), 6);

        let mut small = HashValue::new();
        assert!(small.set_copied(b"x", b"1", &c));
        assert!(!small.set_copied(b"x", b"2", &c));
        assert_eq!(small.encoding_name(), "listpack");
        assert_eq!(small.get(b"x"), Some(&b("2")));
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
        let pairs: Vec<_> = h.iter().map(|(f, v)| (f.clone(), v.clone())).collect();
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
        assert_eq!(h.get(b"a").unwrap(), "12345");

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
        assert_eq!(h.get(b"a").unwrap(), "2");
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
            seen.extend(pairs.into_iter().map(|(f, _)| f.clone()));
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
