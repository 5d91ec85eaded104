//! `DenseMap`: the map behind every database (key -> entry), its set of keys with a TTL, and
//! the hashtable encodings of hashes, sets and sorted sets (`value/`), whose fields and
//! members are [`Key`]s too.
//!
//! It keeps what the keyspace needs from `IndexMap` (entries in one dense index space, so
//! sampling a random key is O(1) and a SCAN cursor survives deletions, see `keyspace.rs`) and
//! drops what costs memory at millions of keys:
//!
//! - **No stored hash.** The index is a `hashbrown::HashTable<u32>` of positions: 5 bytes a
//!   bucket instead of `IndexMap`'s 9, and no 8-byte hash beside every entry. The price is
//!   rehashing the keys when the table grows or an entry moves, which is cheap for short keys.
//! - **Fixed-size chunks instead of one growing vector.** Entries live in chunks of
//!   [`CHUNK`] slots; growing never copies the existing entries, so there is no pause to move
//!   hundreds of megabytes, no transient doubling of memory, and no freed old vector left in
//!   the allocator's dirty pages (which count in RSS). It also means a fork child and its
//!   parent share every chunk the parent does not write after the fork.
//!
//! Positions are `u32`: four billion keys per database is far beyond what fits in memory
//! (each entry is tens of bytes).
//!
//! Removal is `swap_remove`: the last entry moves into the hole, exactly as `IndexMap`'s,
//! which is the property the SCAN cursor relies on.

use hashbrown::hash_table::{Entry as TableEntry, HashTable};

use crate::key::Key;

/// Slots per chunk (a power of two, so a position splits with a shift and a mask).
pub const CHUNK_BITS: u32 = 12;
pub const CHUNK: usize = 1 << CHUNK_BITS;

/// The entries of a [`DenseMap`] in position order.
pub type Entries<'a, V> = std::iter::Flatten<std::slice::Iter<'a, Vec<(Key, V)>>>;

#[derive(Clone)]
pub struct DenseMap<V> {
    index: HashTable<u32>,
    /// Every chunk but the last holds exactly [`CHUNK`] entries.
    chunks: Vec<Vec<(Key, V)>>,
    /// An emptied last chunk kept for the next growth, so a size that goes back and forth
    /// over a chunk boundary does not allocate and free a chunk each time.
    spare: Option<Vec<(Key, V)>>,
    len: usize,
    hasher: ahash::RandomState,
}

impl<V: std::fmt::Debug> std::fmt::Debug for DenseMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> Default for DenseMap<V> {
    fn default() -> Self {
        Self::empty()
    }
}

/// Where position `i` lives: (chunk, offset).
fn split(i: usize) -> (usize, usize) {
    (i >> CHUNK_BITS, i & (CHUNK - 1))
}

/// The key at position `i` (a free function so that closures given to the index can borrow
/// the chunks while the index itself is borrowed mutably).
fn key_at<V>(chunks: &[Vec<(Key, V)>], i: u32) -> &[u8] {
    let (c, o) = split(i as usize);
    chunks[c][o].0.as_slice()
}

impl<V> DenseMap<V> {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of the structure around the entries: the index (a `u32` and a control byte
    /// per bucket), unused entry slots, the chunk table and the spare chunk (INFO
    /// `used_memory_overhead`, like Redis's dict buckets and entries).
    pub fn overhead_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(Key, V)>();
        let slots: usize = self.chunks.iter().map(Vec::capacity).sum();
        self.index.capacity() * (std::mem::size_of::<u32>() + 1)
            + (slots - self.len) * slot
            + self.chunks.capacity() * std::mem::size_of::<Vec<(Key, V)>>()
            + self.spare.as_ref().map_or(0, |c| c.capacity() * slot)
    }

    /// All bytes the map holds in place (entries included, not what they point to).
    pub fn allocated_bytes(&self) -> usize {
        self.overhead_bytes() + self.len * std::mem::size_of::<(Key, V)>()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn slot(&self, i: usize) -> &(Key, V) {
        let (c, o) = split(i);
        &self.chunks[c][o]
    }

    fn slot_mut(&mut self, i: usize) -> &mut (Key, V) {
        let (c, o) = split(i);
        &mut self.chunks[c][o]
    }

    /// The position of `key`, if present.
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        let h = self.hash(key);
        self.index
            .find(h, |&i| self.slot(i as usize).0.as_slice() == key)
            .map(|&i| i as usize)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_index_of(key).map(|i| &self.slot(i).1)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.get_index_of(key)?;
        Some(&mut self.slot_mut(i).1)
    }

    /// Position and value of `key`, if present.
    pub fn get_full(&self, key: &[u8]) -> Option<(usize, &V)> {
        let i = self.get_index_of(key)?;
        Some((i, &self.slot(i).1))
    }

    pub fn get_index(&self, i: usize) -> Option<(&Key, &V)> {
        (i < self.len).then(|| {
            let (k, v) = self.slot(i);
            (k, v)
        })
    }

    pub fn get_index_mut(&mut self, i: usize) -> Option<(&Key, &mut V)> {
        (i < self.len).then(|| {
            let (k, v) = self.slot_mut(i);
            (&*k, v)
        })
    }

    /// Inserts or replaces. Returns the position and the replaced value, if any.
    pub fn insert_full(&mut self, key: &[u8], value: V) -> (usize, Option<V>) {
        match self.find_or_claim(key) {
            Ok(i) => (i, Some(std::mem::replace(&mut self.slot_mut(i).1, value))),
            Err(i) => {
                self.push_slot(Key::new(key), value);
                (i, None)
            }
        }
    }

    /// Inserts or replaces; returns the replaced value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        self.insert_full(key, value).1
    }

    /// Inserts a key known to be absent, or returns `Err(value)` if it is present (loading
    /// a file, where a duplicate key is an error).
    pub fn try_insert_new(&mut self, key: &[u8], value: V) -> Result<usize, V> {
        match self.find_or_claim(key) {
            Ok(_) => Err(value),
            Err(i) => {
                self.push_slot(Key::new(key), value);
                Ok(i)
            }
        }
    }

    /// One hash and probe: `Ok(position)` of `key`, or `Err(position)` for a new key whose
    /// index bucket now points at the next slot, which the caller must push at once.
    fn find_or_claim(&mut self, key: &[u8]) -> Result<usize, usize> {
        let h = self.hash(key);
        let Self {
            index,
            chunks,
            hasher,
            len,
            ..
        } = self;
        match index.entry(
            h,
            |&i| key_at(chunks, i) == key,
            |&i| hasher.hash_one(key_at(chunks, i)),
        ) {
            TableEntry::Occupied(o) => Ok(*o.get() as usize),
            TableEntry::Vacant(v) => {
                let pos = u32::try_from(*len).expect("fewer than 2^32 keys in a database");
                v.insert(pos);
                Err(*len)
            }
        }
    }

    fn push_slot(&mut self, key: Key, value: V) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push((key, value)),
            _ => {
                let mut chunk = self.spare.take().unwrap_or_else(|| {
                    if self.chunks.is_empty() {
                        // The first chunk grows as a normal vector: most databases (and
                        // most TTL sets) are small.
                        Vec::new()
                    } else {
                        Vec::with_capacity(CHUNK)
                    }
                });
                chunk.push((key, value));
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// Removes `key`, moving the last entry into its position. Returns the removed value.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        self.swap_remove_full(key).map(|(_, _, v)| v)
    }

    /// Removes `key` like [`swap_remove`](Self::swap_remove); returns its position, the key
    /// and the value.
    pub fn swap_remove_full(&mut self, key: &[u8]) -> Option<(usize, Key, V)> {
        let h = self.hash(key);
        let Self { index, chunks, .. } = self;
        let found = index.find_entry(h, |&i| key_at(chunks, i) == key).ok()?;
        let (i, _) = found.remove();
        let (k, v) = self.fill_hole(i as usize);
        Some((i as usize, k, v))
    }

    /// Removes the entry at position `i` (random eviction: SPOP), moving the last entry into
    /// its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(Key, V)> {
        if i >= self.len {
            return None;
        }
        let h = self.hash(self.slot(i).0.as_slice());
        self.index
            .find_entry(h, |&j| j as usize == i)
            .expect("every position is indexed")
            .remove();
        Some(self.fill_hole(i))
    }

    /// Moves the last entry into position `i`, whose index bucket was just removed, and
    /// returns what was there.
    fn fill_hole(&mut self, i: usize) -> (Key, V) {
        let last = self.len - 1;
        if i != last {
            // The last entry is about to move to `i`: repoint its index bucket.
            let moved = self.hash(self.slot(last).0.as_slice());
            let bucket = self
                .index
                .find_mut(moved, |&j| j as usize == last)
                .expect("every position is indexed");
            *bucket = i as u32;
        }
        let kv = self.pop_last();
        if i == last {
            kv
        } else {
            std::mem::replace(self.slot_mut(i), kv)
        }
    }

    /// Takes the last entry out of its chunk (the index is the caller's business).
    fn pop_last(&mut self) -> (Key, V) {
        let chunk = self.chunks.last_mut().expect("not empty");
        let kv = chunk.pop().expect("the last chunk is never empty");
        if chunk.is_empty() {
            let empty = self.chunks.pop().expect("just used");
            if !self.chunks.is_empty() {
                self.spare = Some(empty);
            }
        }
        self.len -= 1;
        kv
    }

    /// Makes room for `additional` more keys in the index (the entries grow chunk by chunk
    /// and need no reservation).
    pub fn reserve(&mut self, additional: usize) {
        let Self {
            index,
            chunks,
            hasher,
            ..
        } = self;
        index.reserve(additional, |&j| hasher.hash_one(key_at(chunks, j)));
    }

    pub fn clear(&mut self) {
        *self = Self {
            hasher: self.hasher.clone(),
            ..Self::empty()
        };
    }

    fn empty() -> Self {
        DenseMap {
            index: HashTable::new(),
            chunks: Vec::new(),
            spare: None,
            len: 0,
            hasher: ahash::RandomState::new(),
        }
    }

    /// Entries in position order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &V)> + '_ {
        self.entries().map(|(k, v)| (k, v))
    }

    /// [`iter`](Self::iter) as a nameable type, for iterators that wrap it.
    pub fn entries(&self) -> Entries<'_, V> {
        self.chunks.iter().flatten()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

impl<V> IntoIterator for DenseMap<V> {
    type Item = (Key, V);
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<(Key, V)>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.into_iter().flatten()
    }
}

impl<'a, V> IntoIterator for &'a DenseMap<V> {
    type Item = (&'a Key, &'a V);
    type IntoIter = std::iter::Map<
        std::iter::Flatten<std::slice::Iter<'a, Vec<(Key, V)>>>,
        fn(&'a (Key, V)) -> (&'a Key, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        let pair: fn(&'a (Key, V)) -> (&'a Key, &'a V) = |(k, v)| (k, v);
        self.chunks.iter().flatten().map(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn key(i: usize) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    /// Every key maps to its position and positions are dense.
    fn check(m: &DenseMap<u64>, model: &HashMap<Vec<u8>, u64>) {
        assert_eq!(m.len(), model.len());
        for (k, v) in model {
            let (i, got) = m.get_full(k).expect("present");
            assert_eq!(got, v);
            assert_eq!(m.get_index(i).unwrap().0.as_slice(), &k[..]);
        }
        assert!(m.get_index(m.len()).is_none());
        assert_eq!(m.iter().count(), model.len());
        if m.len() > CHUNK {
            assert!(m.chunks[..m.chunks.len() - 1]
                .iter()
                .all(|c| c.len() == CHUNK));
        }
    }

    #[test]
    fn grows_across_chunks_and_shrinks_back() {
        let mut m = DenseMap::default();
        let mut model = HashMap::new();
        let n = CHUNK * 3 + 17;
        for i in 0..n {
            assert_eq!(m.insert(&key(i), i as u64), None);
            model.insert(key(i), i as u64);
        }
        check(&m, &model);
        assert_eq!(m.chunks.len(), 4);
        assert_eq!(m.insert(&key(5), 500), Some(5));
        model.insert(key(5), 500);
        for i in (0..n).step_by(2) {
            assert_eq!(m.swap_remove(&key(i)), model.remove(&key(i)));
        }
        check(&m, &model);
        for i in (1..n).step_by(2) {
            assert!(m.swap_remove(&key(i)).is_some());
        }
        assert!(m.is_empty());
        assert!(m.chunks.is_empty());
        assert_eq!(m.swap_remove(b"nope"), None);
    }

    #[test]
    fn swap_remove_moves_only_the_last_entry() {
        let mut m = DenseMap::default();
        for i in 0..10 {
            m.insert(&key(i), ());
        }
        let (pos, k, ()) = m.swap_remove_full(&key(3)).unwrap();
        assert_eq!((pos, k.as_slice()), (3, &key(3)[..]));
        assert_eq!(m.get_index(3).unwrap().0.as_slice(), &key(9)[..]);
        for i in [0, 1, 2, 4, 5, 6, 7, 8] {
            assert_eq!(m.get_index_of(&key(i)), Some(i));
        }
    }

    #[test]
    fn try_insert_new_refuses_duplicates() {
        let mut m = DenseMap::default();
        assert_eq!(m.try_insert_new(b"a", 1), Ok(0));
        assert_eq!(m.try_insert_new(b"a", 2), Err(2));
        assert_eq!(m.get(b"a"), Some(&1));
    }

    #[test]
    fn a_size_oscillating_at_a_chunk_boundary_reuses_the_spare_chunk() {
        let mut m = DenseMap::default();
        for i in 0..CHUNK {
            m.insert(&key(i), ());
        }
        for round in 0..3 {
            m.insert(b"extra", ());
            assert_eq!(m.chunks.len(), 2, "round {round}");
            m.swap_remove(b"extra");
            assert_eq!(m.chunks.len(), 1);
            assert!(m.spare.is_some());
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u64),
        Remove(u16),
        RemoveAt(u16),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<u16>(), any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => any::<u16>().prop_map(Op::Remove),
            1 => any::<u16>().prop_map(Op::RemoveAt),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec(op(), 0..3000)) {
            let mut m = DenseMap::default();
            let mut model = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = key(k as usize % 6000);
                        prop_assert_eq!(m.insert(&k, v), model.insert(k, v));
                    }
                    Op::Remove(k) => {
                        let k = key(k as usize % 6000);
                        prop_assert_eq!(m.swap_remove(&k), model.remove(&k));
                    }
                    Op::RemoveAt(i) => {
                        let i = i as usize % (m.len() + 1);
                        let want = m.get_index(i).map(|(k, v)| (k.as_slice().to_vec(), *v));
                        let got = m.swap_remove_index(i).map(|(k, v)| (k.as_slice().to_vec(), v));
                        prop_assert_eq!(&got, &want);
                        if let Some((k, _)) = got {
                            model.remove(&k);
                        }
                    }
                    Op::Clear => {
                        m.clear();
                        model.clear();
                    }
                }
            }
            check(&m, &model);
        }
    }
}
