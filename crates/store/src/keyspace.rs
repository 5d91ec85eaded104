//! The keyspace: `databases` numbered [`Db`]s, each a map from [`Key`] to [`Entry`].
//!
//! ## Expiry and roles
//!
//! Every lookup goes through [`Keyspace::lookup`], which applies the rules of the node's
//! [`ExpireMode`] (set by the node before each command):
//!
//! - `Primary`: a logically expired key is deleted on access, and its deletion is recorded in
//!   [`Keyspace::expired`] so the caller can propagate a `DEL` (replicas and AOF never expire
//!   keys on their own).
//! - `ReplicaClient`: a normal client on a replica; an expired key is *hidden* (reads see
//!   nothing) but not deleted: only the primary's `DEL` removes it.
//! - `ReplicaApply`: the primary's stream being applied; expiry is ignored entirely, so a
//!   command from the primary acts on exactly the data the primary had.
//!
//! ## Map layout
//!
//! A [`DenseMap`] keeps entries in one dense index space, which gives O(1) random sampling
//! (active expire, eviction, `RANDOMKEY`) and a SCAN cursor that survives deletions: the
//! cursor walks indices downwards, and `swap_remove` only ever moves the *last* (already
//! visited) entry into the hole, so an element present for the whole scan is returned at
//! least once. `dense_map.rs` says why it is not an `IndexMap` (memory per key).

use bytes::Bytes;
use rand::Rng;

use crate::config::StoreConfig;
use crate::dense_map::DenseMap;
use crate::glob::glob_match;
use crate::key::Key;
use crate::notify::{self, Event};
use crate::value::{StrEncoding, Value};

pub type KeyMap = DenseMap<Entry>;

/// The keys of a database that carry a TTL, with their absolute expire time (Unix ms).
///
/// The expire times live here and not in [`Entry`] (as Redis keeps them in a second dict):
/// most keys have none, and 8 bytes per entry is 5% of a small string key.
pub type ExpireMap = DenseMap<i64>;

/// One key's value and metadata. Its expire time, if any, is in [`Db::expires`].
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// LRU clock (seconds, wrapping) or LFU (16-bit minutes << 8 | 8-bit log counter),
    /// depending on `maxmemory-policy`, as Redis stores in `robj.lru`.
    pub access: u32,
    /// For strings: how the value was built (decides `OBJECT ENCODING`, see [`StrEncoding`]).
    pub str_encoding: StrEncoding,
    /// Whether [`Db::expires`] holds a time for this key, so that a lookup of a key without
    /// one (the common case) costs one hash probe, not two. Kept by [`Db`]'s methods only.
    has_ttl: bool,
}

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry {
            value,
            access: 0,
            str_encoding: StrEncoding::Auto,
            has_ttl: false,
        }
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding_name(&self, cfg: &StoreConfig) -> &'static str {
        match &self.value {
            Value::Str(s) => crate::value::string_encoding_as(s, self.str_encoding),
            v => v.encoding_name(cfg),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireMode {
    #[default]
    Primary,
    ReplicaClient,
    ReplicaApply,
}

#[derive(Debug, Default, Clone)]
pub struct Db {
    pub map: KeyMap,
    /// Keys that carry a TTL (sampled by the active expire cycle and `volatile-*` eviction).
    pub expires: ExpireMap,
    /// Where the active expire cycle resumes (see `expire.rs`).
    pub expire_cursor: usize,
    /// Running `avg_ttl` estimate for `INFO keyspace`.
    pub avg_ttl: i64,
}

impl Db {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// The expire time of `entry`, stored under `key` (no expiry logic).
    pub fn expire_of(&self, key: &[u8], entry: &Entry) -> Option<i64> {
        self.expire_if(key, entry.has_ttl)
    }

    /// The expire time of `key` when its entry says it has one (`has_ttl`).
    fn expire_if(&self, key: &[u8], has_ttl: bool) -> Option<i64> {
        if has_ttl {
            self.expires.get(key).copied()
        } else {
            None
        }
    }

    /// The entry of `key` and its expire time (no expiry logic).
    pub fn get_with_expire(&self, key: &[u8]) -> Option<(&Entry, Option<i64>)> {
        let e = self.map.get(key)?;
        Some((e, self.expire_of(key, e)))
    }

    /// Every key with its entry and expire time, in map order.
    pub fn iter_with_expire(&self) -> impl Iterator<Item = (&Key, &Entry, Option<i64>)> + '_ {
        self.map
            .iter()
            .map(|(k, e)| (k, e, self.expire_of(k.as_slice(), e)))
    }

    /// Removes a key without any expiry logic. Returns the entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.take(key).map(|(e, _)| e)
    }

    /// Removes a key without any expiry logic. Returns the entry and its expire time.
    pub fn take(&mut self, key: &[u8]) -> Option<(Entry, Option<i64>)> {
        let e = self.map.swap_remove(key)?;
        let at = if e.has_ttl {
            self.expires.swap_remove(key)
        } else {
            None
        };
        Some((e, at))
    }

    /// Inserts or replaces an entry, with the expire time `at` (`None`: no TTL).
    /// Stores `entry` at `key` with expiry `at`; returns the key's position in `map` and,
    /// if it replaced an entry, that entry's expire time (which may have passed).
    pub fn put(
        &mut self,
        key: &[u8],
        mut entry: Entry,
        at: Option<i64>,
    ) -> (usize, Option<Option<i64>>) {
        entry.has_ttl = at.is_some();
        // One hash and probe for both cases (this is SET's hot path).
        let (i, old) = self.map.insert_full(key, entry);
        let had_ttl = old.as_ref().is_some_and(|old| old.has_ttl);
        let old_at = old.map(|_| {
            if had_ttl {
                self.expires.get(key).copied()
            } else {
                None
            }
        });
        self.store_expire(key, at, had_ttl);
        (i, old_at)
    }

    /// Makes `expires` say `at` for `key`, which had a time there if `had` is set.
    fn store_expire(&mut self, key: &[u8], at: Option<i64>, had: bool) {
        match at {
            Some(at) => {
                self.expires.insert(key, at);
            }
            None if had => {
                self.expires.swap_remove(key);
            }
            None => {}
        }
    }

    /// Inserts a key that must not exist yet (loading a file); `Err` gives the entry back.
    pub fn put_new(&mut self, key: &[u8], mut entry: Entry, at: Option<i64>) -> Result<(), Entry> {
        entry.has_ttl = at.is_some();
        self.map.try_insert_new(key, entry)?;
        if let Some(at) = at {
            self.expires.insert(key, at);
        }
        Ok(())
    }

    /// Sets or clears (`None`) the expiry of an existing key. Returns false if no such key.
    pub fn set_expire(&mut self, key: &[u8], at: Option<i64>) -> bool {
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        let had = std::mem::replace(&mut e.has_ttl, at.is_some());
        self.store_expire(key, at, had);
        true
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.expires.clear();
        self.expire_cursor = 0;
        self.avg_ttl = 0;
    }

    /// One SCAN step. `cursor` 0 starts a scan; the returned cursor is 0 when it is done.
    /// Cursor `c > 0` means "the next index to visit is `c - 1`" (indices go downwards, see the
    /// module doc). `filter` is applied to keys already chosen, as Redis applies MATCH/TYPE
    /// after sampling, so a step may return fewer than `count` keys.
    pub fn scan_step(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let len = self.map.len();
        let mut next = if cursor == 0 || cursor as usize > len {
            len
        } else {
            cursor as usize
        };
        let mut out = Vec::with_capacity(count.min(1024));
        let mut visited = 0;
        while next > 0 && visited < count.max(1) {
            let (k, _) = self.map.get_index(next - 1).expect("index < len");
            out.push(k.to_bytes());
            next -= 1;
            visited += 1;
        }
        (next as u64, out)
    }

    /// `KEYS pattern` over the whole database (without expiry filtering; the caller hides
    /// expired keys).
    pub fn keys_matching(&self, pattern: &[u8]) -> Vec<Bytes> {
        let all = pattern == b"*";
        self.map
            .keys()
            .filter(|k| all || glob_match(pattern, k.as_slice()))
            .map(Key::to_bytes)
            .collect()
    }

    pub fn random_index(&self, rng: &mut impl Rng) -> Option<usize> {
        (!self.map.is_empty()).then(|| rng.gen_range(0..self.map.len()))
    }
}

/// The whole dataset plus what commands need to know about the node while they run.
#[derive(Debug)]
pub struct Keyspace {
    pub dbs: Vec<Db>,
    pub cfg: StoreConfig,
    /// Current time for this command (Unix ms). Set by the node before each command so one
    /// command sees one instant.
    pub now_ms: i64,
    pub mode: ExpireMode,
    /// Keys deleted by lazy or active expiry since the caller last drained this: the caller
    /// propagates a `DEL` for each (db, key).
    pub expired: Vec<(usize, Bytes)>,
    /// Keyspace notifications raised since the caller last drained this (see `notify.rs`).
    pub events: Vec<Event>,
    /// Whether lookups are reads as Redis's `lookupKeyRead` makes them. The node sets it for
    /// each command (counted for read-only ones); a command changes it around lookups that
    /// Redis makes otherwise (see [`Ctx::reading`](crate::cmd::Ctx::reading)).
    pub reads: Reads,
    /// Counters for INFO stats.
    pub stats: KeyspaceStats,
    /// LRU clock in seconds, refreshed by the node.
    pub lru_clock: u32,
}

/// How lookups count, as Redis's lookup flags decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Writes (`lookupKeyWrite`) and internal lookups: not counted.
    No,
    /// `lookupKeyRead`: a live key is a keyspace hit; a missing one is a miss and raises
    /// `keymiss`.
    Counted,
    /// OBJECT's lookup (`LOOKUP_NONOTIFY`): counted, but a miss raises nothing.
    CountedQuietly,
}

#[derive(Debug, Default, Clone)]
pub struct KeyspaceStats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
}

impl Keyspace {
    pub fn new(cfg: StoreConfig) -> Keyspace {
        Keyspace {
            dbs: (0..cfg.databases).map(|_| Db::default()).collect(),
            cfg,
            now_ms: 0,
            mode: ExpireMode::Primary,
            expired: Vec::new(),
            events: Vec::new(),
            reads: Reads::No,
            stats: KeyspaceStats::default(),
            lru_clock: 0,
        }
    }

    /// Raises the keyspace notification `name` (of `class`) for `key` in `db`, if
    /// `notify-keyspace-events` asks for it.
    pub fn notify(&mut self, class: u32, name: &'static str, db: usize, key: &[u8]) {
        if notify::wanted(self.cfg.notify_keyspace_events, class) {
            self.events.push(Event {
                name,
                db,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    pub fn db(&self, db: usize) -> &Db {
        &self.dbs[db]
    }

    pub fn db_mut(&mut self, db: usize) -> &mut Db {
        &mut self.dbs[db]
    }

    /// Is a key with expire time `at` logically expired now?
    fn is_expired(&self, at: Option<i64>) -> bool {
        at.is_some_and(|at| at <= self.now_ms) && self.mode != ExpireMode::ReplicaApply
    }

    /// Whether `entry` (stored under `key` in `db`) is logically expired now.
    fn entry_expired(&self, db: usize, key: &[u8], entry: &Entry) -> bool {
        self.is_expired(self.dbs[db].expire_of(key, entry))
    }

    /// Looks a key up applying the expiry rules of [`ExpireMode`], and touches its access
    /// clock. Returns `None` for a missing or (logically) expired key.
    pub fn lookup(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let i = self.lookup_index(db, key)?;
        self.dbs[db].map.get_index_mut(i).map(|(_, e)| e)
    }

    /// [`lookup`](Self::lookup) giving the key's position in its database's map.
    fn lookup_index(&mut self, db: usize, key: &[u8]) -> Option<usize> {
        // Hash once; the second access below is by index.
        let Some((i, e)) = self.dbs[db].map.get_full(key) else {
            self.count_read(db, key, false);
            return None;
        };
        if self.entry_expired(db, key, e) {
            if self.mode == ExpireMode::Primary {
                self.delete_expired(db, key);
            }
            self.count_read(db, key, false);
            return None;
        }
        self.count_read(db, key, true);
        let clock = self.lru_clock;
        let lfu = self.cfg.maxmemory_policy.is_lfu();
        let (log_factor, decay) = (self.cfg.lfu_log_factor, self.cfg.lfu_decay_time);
        let (_, e) = self.dbs[db].map.get_index_mut(i)?;
        e.access = if lfu {
            crate::evict::lfu_touch(e.access, clock, log_factor, decay)
        } else {
            clock
        };
        Some(i)
    }

    /// Like [`lookup`](Self::lookup) but returns the value only.
    pub fn get(&mut self, db: usize, key: &[u8]) -> Option<&mut Value> {
        self.lookup(db, key).map(|e| &mut e.value)
    }

    /// Whether the key exists (after expiry rules), without touching its access clock.
    pub fn exists(&mut self, db: usize, key: &[u8]) -> bool {
        let Some(e) = self.dbs[db].map.get(key) else {
            self.count_read(db, key, false);
            return false;
        };
        if self.entry_expired(db, key, e) {
            if self.mode == ExpireMode::Primary {
                self.delete_expired(db, key);
            }
            self.count_read(db, key, false);
            return false;
        }
        self.count_read(db, key, true);
        true
    }

    /// Counts a lookup made as a read (see [`Reads`]).
    fn count_read(&mut self, db: usize, key: &[u8], found: bool) {
        match (self.reads, found) {
            (Reads::No, _) => {}
            (_, true) => self.stats.keyspace_hits += 1,
            (reads, false) => {
                self.stats.keyspace_misses += 1;
                if reads == Reads::Counted {
                    self.notify(notify::KEY_MISS, "keymiss", db, key);
                }
            }
        }
    }

    /// Removes an expired key and records it for propagation.
    pub fn delete_expired(&mut self, db: usize, key: &[u8]) {
        if self.dbs[db].remove(key).is_some() {
            self.note_expired(db, key);
        }
    }

    /// The bookkeeping of a key that expired: the counter, the DEL to propagate, the event.
    fn note_expired(&mut self, db: usize, key: &[u8]) {
        self.stats.expired_keys += 1;
        self.expired.push((db, Bytes::copy_from_slice(key)));
        self.notify(notify::EXPIRED, "expired", db, key);
    }

    /// Stores `value` under `key`, discarding any old value and its TTL (what `SET` does).
    pub fn set(&mut self, db: usize, key: &[u8], value: Value) {
        self.set_at(db, key, value);
    }

    /// [`set`](Self::set), returning the key's position.
    fn set_at(&mut self, db: usize, key: &[u8], value: Value) -> usize {
        let mut e = Entry::new(value);
        e.access = self.new_access();
        self.put_entry(db, key, e, None)
    }

    /// Stores a whole entry (expiring at `at`) at `key`, as a command does: a key that did
    /// not live raises `new` (RENAME, MOVE and COPY store entries this way too).
    pub fn put_entry(&mut self, db: usize, key: &[u8], entry: Entry, at: Option<i64>) -> usize {
        let (i, replaced) = self.dbs[db].put(key, entry, at);
        self.after_put(db, key, replaced);
        i
    }

    /// What storing a whole new value at `key` raises, given the expire time of the entry
    /// it replaced (`None`: there was none): a replaced entry that had logically expired
    /// counts as expired first (as Redis's lookup before the write would have found), and
    /// a key that did not live is `new`.
    fn after_put(&mut self, db: usize, key: &[u8], replaced: Option<Option<i64>>) {
        let expired =
            replaced.is_some_and(|at| self.is_expired(at)) && self.mode == ExpireMode::Primary;
        if expired {
            self.note_expired(db, key);
        }
        if replaced.is_none() || expired {
            self.notify(notify::NEW, "new", db, key);
        }
    }

    /// The live value at `key` and whether it was there; a missing (or expired) key is first
    /// set to `make()` as [`set`](Self::set) would. One probe when the key exists: the path
    /// of every write that adds to a collection (HSET, ZADD, LPUSH...).
    pub fn get_or_insert_with(
        &mut self,
        db: usize,
        key: &[u8],
        make: impl FnOnce() -> Value,
    ) -> (&mut Value, bool) {
        let (i, existed) = match self.lookup_index(db, key) {
            Some(i) => (i, true),
            None => (self.set_at(db, key, make()), false),
        };
        let (_, e) = self.dbs[db]
            .map
            .get_index_mut(i)
            .expect("a position just looked up or stored");
        (&mut e.value, existed)
    }

    /// Stores `value` under `key`, keeping the old TTL if the key existed (and was live).
    pub fn set_keep_ttl(&mut self, db: usize, key: &[u8], value: Value) {
        let has_ttl = self.lookup(db, key).is_some_and(|e| e.has_ttl);
        let ttl = self.dbs[db].expire_if(key, has_ttl);
        let mut e = Entry::new(value);
        e.access = self.new_access();
        self.put_entry(db, key, e, ttl);
    }

    /// Deletes a key if it exists (after expiry rules). Returns whether it was deleted.
    pub fn delete(&mut self, db: usize, key: &[u8]) -> bool {
        if !self.exists(db, key) {
            return false;
        }
        self.dbs[db].remove(key).is_some()
    }

    /// Remaining TTL in ms: `None` if the key does not exist, `Some(None)` if it has no TTL.
    pub fn ttl_ms(&mut self, db: usize, key: &[u8]) -> Option<Option<i64>> {
        let now = self.now_ms;
        let has_ttl = self.lookup(db, key)?.has_ttl;
        let at = self.dbs[db].expire_if(key, has_ttl);
        Some(at.map(|at| (at - now).max(0)))
    }

    /// Number of keys, as `DBSIZE` reports it (includes not-yet-collected expired keys).
    pub fn dbsize(&self, db: usize) -> usize {
        self.dbs[db].len()
    }

    /// The initial access clock for a new entry: the LRU clock, or the LFU initial counter.
    pub fn new_access(&self) -> u32 {
        if self.cfg.maxmemory_policy.is_lfu() {
            crate::evict::lfu_initial(self.lru_clock)
        } else {
            self.lru_clock
        }
    }

    /// Replaces the whole dataset (used after a successful load or a full sync).
    pub fn replace_dbs(&mut self, dbs: Vec<Db>) {
        self.dbs = dbs;
    }

    pub fn flush_all(&mut self) {
        for db in &mut self.dbs {
            db.clear();
        }
    }

    /// A random live key of `db`, trying a bounded number of samples as Redis's `RANDOMKEY`
    /// does; expired keys met on the way are handled by the expiry rules.
    pub fn random_key(&mut self, db: usize, rng: &mut impl Rng) -> Option<Bytes> {
        for _ in 0..100 {
            let i = self.dbs[db].random_index(rng)?;
            let (k, e) = self.dbs[db].map.get_index(i)?;
            let key = k.to_bytes();
            if !self.entry_expired(db, &key, e) {
                return Some(key);
            }
            if self.mode == ExpireMode::Primary {
                self.delete_expired(db, &key);
            } else {
                // Replicas cannot delete: return the (hidden) key as Redis does after
                // a bounded number of tries.
                return Some(key);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks() -> Keyspace {
        let mut k = Keyspace::new(StoreConfig::default());
        k.now_ms = 1_000;
        k
    }

    #[test]
    fn primary_deletes_expired_on_access_and_records_it() {
        let mut k = ks();
        k.set(0, b"a", Value::Str(Bytes::from_static(b"1")));
        k.db_mut(0).set_expire(b"a", Some(1_500));
        assert!(k.exists(0, b"a"));
        k.now_ms = 1_500;
        assert!(!k.exists(0, b"a"));
        assert_eq!(k.expired, vec![(0, Bytes::from_static(b"a"))]);
        assert_eq!(k.db(0).len(), 0);
        assert_eq!(k.db(0).expires_len(), 0);
    }

    #[test]
    fn replica_hides_but_keeps_expired_keys_and_apply_sees_them() {
        let mut k = ks();
        k.set(0, b"a", Value::Str(Bytes::from_static(b"1")));
        k.db_mut(0).set_expire(b"a", Some(500));
        k.mode = ExpireMode::ReplicaClient;
        assert!(k.get(0, b"a").is_none());
        assert_eq!(k.db(0).len(), 1);
        k.mode = ExpireMode::ReplicaApply;
        assert!(k.get(0, b"a").is_some());
        assert!(k.expired.is_empty());
    }

    #[test]
    fn get_or_insert_with_keeps_live_values_and_replaces_missing_or_expired_ones() {
        let s = |v: &'static [u8]| Value::Str(Bytes::from_static(v));
        let mut k = ks();
        let (v, existed) = k.get_or_insert_with(0, b"a", || s(b"new"));
        assert!(!existed);
        assert!(matches!(v, Value::Str(b) if b == "new"));
        let (v, existed) = k.get_or_insert_with(0, b"a", || s(b"other"));
        assert!(existed);
        assert!(matches!(v, Value::Str(b) if b == "new"));

        // An expired key counts as missing: deleted (and recorded), then created without
        // its old TTL.
        k.db_mut(0).set_expire(b"a", Some(1_500));
        k.now_ms = 2_000;
        let (v, existed) = k.get_or_insert_with(0, b"a", || s(b"fresh"));
        assert!(!existed);
        assert!(matches!(v, Value::Str(b) if b == "fresh"));
        assert_eq!(k.expired, vec![(0, Bytes::from_static(b"a"))]);
        assert_eq!(k.db(0).expires_len(), 0);
        assert_eq!(k.ttl_ms(0, b"a"), Some(None));

        // A replica's client view hides an expired key without deleting it; the new value
        // replaces it in place.
        k.db_mut(0).set_expire(b"a", Some(1_000));
        k.mode = ExpireMode::ReplicaClient;
        let (_, existed) = k.get_or_insert_with(0, b"a", || s(b"again"));
        assert!(!existed);
        assert_eq!(k.db(0).len(), 1);
        assert_eq!(k.db(0).expires_len(), 0);
    }
    #[test]
    fn scan_returns_every_stable_key_despite_deletions() {
        let mut k = ks();
        for i in 0..100 {
            k.set(0, format!("k{i}").as_bytes(), Value::Str(Bytes::new()));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            let (next, keys) = k.db(0).scan_step(cursor, 7);
            seen.extend(keys);
            // Delete some keys that are not part of the "stable" set (k0..k49 stay).
            for j in 50 + steps * 3..50 + steps * 3 + 3 {
                k.db_mut(0).remove(format!("k{j}").as_bytes());
            }
            steps += 1;
            cursor = next;
            if cursor == 0 || steps > 1000 {
                break;
            }
        }
        for i in 0..50 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missing");
        }
    }

    #[test]
    fn set_keep_ttl_keeps_expiry() {
        let mut k = ks();
        k.set(0, b"a", Value::Str(Bytes::new()));
        k.db_mut(0).set_expire(b"a", Some(5_000));
        k.set_keep_ttl(0, b"a", Value::Str(Bytes::from_static(b"x")));
        assert_eq!(k.ttl_ms(0, b"a"), Some(Some(4_000)));
        k.set(0, b"a", Value::Str(Bytes::new()));
        assert_eq!(k.ttl_ms(0, b"a"), Some(None));
        assert_eq!(k.db(0).expires_len(), 0);
    }
}
