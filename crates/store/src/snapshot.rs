//! The keyspace in RDB form, both ways: [`save`] writes every database through an
//! [`RdbWriter`], [`Loader`] (or [`load`]) rebuilds fresh databases from an RDB stream, and
//! [`dump_value`] / [`restore_value`] do the same for one value (`DUMP` / `RESTORE`).
//!
//! ## Saving: the encodings Redis 7.0 writes
//!
//! Redis writes a value in the RDB form of its *in-memory* encoding, so we do the same:
//!
//! | value                | in memory  | RDB type              |
//! |----------------------|------------|-----------------------|
//! | string               | any        | 0 (int / LZF / raw)   |
//! | list                 | quicklist  | 18 (listpack nodes)   |
//! | set                  | intset     | 11                    |
//! | set                  | hashtable  | 2                     |
//! | sorted set           | listpack   | 17 (sorted by score)  |
//! | sorted set           | skiplist   | 5 (highest first)     |
//! | hash                 | listpack   | 16 (insertion order)  |
//! | hash                 | hashtable  | 4                     |
//!
//! Per key: the absolute expire time, then `IDLE` seconds under an LRU `maxmemory-policy`
//! (`allkeys-lru`, `volatile-lru`) or the decayed `FREQ` counter under an LFU one, exactly
//! the metadata Redis writes. Empty databases get no SELECTDB; RESIZEDB carries the key and
//! expire counts.
//!
//! ## Loading
//!
//! A [`Loader`] reads items in steps (so a caller on the keyspace thread can serve `-LOADING`
//! between steps) into a *fresh* `Vec<Db>`; the caller swaps it in only after
//! [`Loader::step`] reported the end of the file, i.e. after the checksum matched. Nothing
//! of a partial or corrupt file ever reaches the live dataset.
//!
//! Like Redis's loader, it:
//! 1. rebuilds each value with the encoding the *loading* config picks from the data
//!    (a type-4 hash of 3 fields becomes a listpack, an intset of 600 members a hashtable);
//! 2. drops keys already expired when loading as a primary (`expire < now`), and keeps them
//!    on a replica (the primary's `DEL` will follow);
//! 3. applies `IDLE` when the policy is not LFU, `FREQ` when it is;
//! 4. skips empty collections, refuses a key twice in one database and a database number
//!    at or above `databases`.
//!
//! Aux fields come back in [`RdbAux`] (`repl-id`, `repl-offset`, `repl-stream-db`, ...).
//!
//! ## Deviations
//!
//! - Key order inside a database is our map's order, not Redis's dict order (the order of
//!   keys in an RDB file carries no meaning).

use std::io::{BufRead, Write};

use bytes::Bytes;
use ferrokv_proto::rdb::{
    dump_payload, parse_dump_payload, Checksum, KeyMeta, RdbError, RdbValue, RdbWriter,
    ValueEncoding, WriterOptions,
};

use crate::config::{EvictionPolicy, StoreConfig};
use crate::evict::{access_with_freq, access_with_idle, lfu_decayed, lfu_initial, lru_idle_secs};
use crate::keyspace::{Db, Entry, Keyspace};
use crate::value::{share_str, HashValue, ListValue, SetValue, Value, ZSetValue};
use decode::{Decoder, Item, Source};

/// Items a [`load`] call reads between two progress reports.
const LOAD_STEP_ITEMS: usize = 1024;

// ---- saving --------------------------------------------------------------------------------

/// What [`save`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveStats {
    /// Keys written (all databases).
    pub keys: u64,
    /// Keys written with an expire time.
    pub expires: u64,
    /// Bytes written, checksum included.
    pub bytes: u64,
}

/// Writes the whole keyspace as an RDB file into `out` (header and aux fields from `opts`,
/// then every non-empty database, then EOF and checksum). Returns `out` and what was written.
///
/// LRU idle times and LFU counters are computed against `ks.lru_clock`, which the caller
/// sets to the current time (seconds) first.
pub fn save<W: Write>(
    ks: &Keyspace,
    out: W,
    opts: &WriterOptions,
) -> Result<(W, SaveStats), RdbError> {
    let mut w = RdbWriter::new(out, opts)?;
    let mut stats = SaveStats::default();
    let meta_of = MetaPolicy::new(&ks.cfg, ks.lru_clock);
    for (index, db) in ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        w.select_db(index as u64, db.len() as u64, db.expires_len() as u64)?;
        for (key, entry, expire) in db.iter_with_expire() {
            let meta = meta_of.meta(entry, expire);
            write_value(&mut w, key.as_slice(), &meta, &entry.value)?;
            stats.keys += 1;
            stats.expires += u64::from(meta.expire_ms.is_some());
            key_save_delay(opts.key_save_delay_us, stats.keys);
        }
    }
    // `finish` adds the EOF opcode and the 8-byte checksum.
    stats.bytes = w.offset() + 1 + 8;
    let out = w.finish()?;
    Ok((out, stats))
}

/// `rdb-key-save-delay` after the `n`th key (see [`WriterOptions::key_save_delay_us`]);
/// the AOF rewrite's RESP base applies it too, as Redis does. A negative `-d` sleeps 1 µs
/// on every `d`th key; Redis 7.0 (`debugDelay`) sleeps 1 µs with probability `1/d`, the
/// same average, made deterministic here so that tests pacing a save are repeatable.
pub fn key_save_delay(delay_us: i64, n: u64) {
    let us = key_save_sleep_us(delay_us, n);
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

/// The microseconds [`key_save_delay`] sleeps after the `n`th key (counting from 1).
fn key_save_sleep_us(delay_us: i64, n: u64) -> u64 {
    match delay_us {
        0 => 0,
        d if d > 0 => d.unsigned_abs(),
        d if n.is_multiple_of(d.unsigned_abs()) => 1,
        _ => 0,
    }
}

/// Which per-key metadata the policy makes Redis write.
struct MetaPolicy {
    lru: bool,
    lfu: bool,
    clock: u32,
    decay: u32,
}

impl MetaPolicy {
    fn new(cfg: &StoreConfig, clock: u32) -> MetaPolicy {
        let p = cfg.maxmemory_policy;
        MetaPolicy {
            lru: matches!(p, EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru),
            lfu: p.is_lfu(),
            clock,
            decay: cfg.lfu_decay_time,
        }
    }

    fn meta(&self, e: &Entry, expire_ms: Option<i64>) -> KeyMeta {
        KeyMeta {
            expire_ms,
            lru_idle: self
                .lru
                .then(|| u64::from(lru_idle_secs(e.access, self.clock))),
            lfu_freq: self
                .lfu
                .then(|| lfu_decayed(e.access, self.clock, self.decay).min(255) as u8),
        }
    }
}

/// Writes one key in the RDB form of its in-memory encoding (see the module table).
fn write_value<W: Write>(
    w: &mut RdbWriter<W>,
    key: &[u8],
    meta: &KeyMeta,
    value: &Value,
) -> Result<(), RdbError> {
    match value {
        Value::Str(s) => w.write_string(key, meta, s),
        Value::List(l) => {
            let items: Vec<&[u8]> = l.iter().collect();
            w.write_list(key, meta, items.iter())
        }
        Value::Set(s) => match s.intset() {
            Some(ints) => w.write_set_intset(key, meta, &ints.to_vec()),
            None => {
                let members: Vec<Bytes> = s.iter_bytes().collect();
                w.write_set(key, meta, members.iter())
            }
        },
        Value::ZSet(z) => {
            let (skiplist, entries) = zset_entries(z);
            if skiplist {
                w.write_zset_skiplist(key, meta, entries)
            } else {
                w.write_zset_listpack(key, meta, entries)
            }
        }
        Value::Hash(h) => {
            let pairs: Vec<(&[u8], &[u8])> = h.iter().collect();
            if hash_is_listpack(h) {
                w.write_hash_listpack(key, meta, pairs)
            } else {
                w.write_hash(key, meta, pairs)
            }
        }
    }
}

fn hash_is_listpack(h: &HashValue) -> bool {
    h.encoding_name() == "listpack"
}

/// A sorted set's entries in the order its RDB type wants them, and whether that type is the
/// skiplist one (type 5: highest (score, member) first, as Redis walks its skiplist from the
/// tail) or the listpack one (type 17: lowest first).
fn zset_entries(z: &ZSetValue) -> (bool, Vec<(&[u8], f64)>) {
    let skiplist = z.encoding_name() == "skiplist";
    let entries = if skiplist {
        z.iter_from(z.len().saturating_sub(1), true).collect()
    } else {
        z.iter().collect()
    };
    (skiplist, entries)
}

// ---- one value: DUMP / RESTORE -------------------------------------------------------------

/// The plain RDB form of `value` and the encoding Redis would write it in.
pub fn to_rdb(value: &Value) -> (RdbValue, ValueEncoding) {
    match value {
        Value::Str(s) => (RdbValue::String(share_str(s, ..)), ValueEncoding::String),
        Value::List(l) => (
            RdbValue::List(l.iter().map(Bytes::copy_from_slice).collect()),
            ValueEncoding::ListQuicklist2,
        ),
        Value::Set(s) => {
            let enc = if s.intset().is_some() {
                ValueEncoding::SetIntset
            } else {
                ValueEncoding::SetHashtable
            };
            (RdbValue::Set(s.iter_bytes().collect()), enc)
        }
        Value::ZSet(z) => {
            let (skiplist, entries) = zset_entries(z);
            let enc = if skiplist {
                ValueEncoding::ZsetSkiplist
            } else {
                ValueEncoding::ZsetListpack
            };
            (
                RdbValue::SortedSet(
                    entries
                        .into_iter()
                        .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                        .collect(),
                ),
                enc,
            )
        }
        Value::Hash(h) => {
            let enc = if hash_is_listpack(h) {
                ValueEncoding::HashListpack
            } else {
                ValueEncoding::HashHashtable
            };
            (
                RdbValue::Hash(
                    h.iter()
                        .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
                        .collect(),
                ),
                enc,
            )
        }
    }
}

/// The `DUMP` payload of `value` (type byte, body, RDB version, CRC-64).
pub fn dump_value(value: &Value, compression: bool) -> Result<Bytes, RdbError> {
    let (rdb, enc) = to_rdb(value);
    dump_payload(&rdb, enc, compression)
}

/// Why a `RESTORE` payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The footer (RDB version or CRC-64) is wrong: "DUMP payload version or checksum are wrong".
    #[error("DUMP payload version or checksum are wrong")]
    Footer(#[source] RdbError),
    /// The body does not decode, or holds an empty collection: "Bad data format".
    #[error("Bad data format")]
    BadData(#[source] Option<RdbError>),
}

/// Decodes a `RESTORE` payload into a value with the encoding `cfg` picks for its data.
pub fn restore_value(payload: &[u8], cfg: &StoreConfig) -> Result<Value, RestoreError> {
    let rdb = parse_dump_payload(payload).map_err(|e| {
        if e.is_dump_footer_error() {
            RestoreError::Footer(e)
        } else {
            RestoreError::BadData(Some(e))
        }
    })?;
    from_rdb(rdb, cfg).ok_or(RestoreError::BadData(None))
}

/// Builds a keyspace value from its RDB form with the encoding `cfg` picks for the data, as
/// Redis's loader does. Returns `None` for an empty collection (Redis skips those).
///
/// Elements of collections are copied out of the buffers they were decoded from (a listpack
/// node is shared by all its elements), so a value holds exactly its own bytes.
pub fn from_rdb(value: RdbValue, cfg: &StoreConfig) -> Option<Value> {
    if value.is_empty_collection() {
        return None;
    }
    let own = |b: Bytes| Bytes::copy_from_slice(&b);
    Some(match value {
        RdbValue::String(s) => Value::Str(s),
        // Elements are copied into the list's own storage.
        RdbValue::List(items) => Value::List(Box::new(ListValue::from_items(items))),
        RdbValue::Set(members) => {
            Value::Set(SetValue::from_members(members.into_iter().map(own), cfg))
        }
        RdbValue::SortedSet(entries) => Value::ZSet(ZSetValue::from_pairs(
            entries.into_iter().map(|(m, s)| (own(m), s)),
            cfg,
        )),
        // Fields and values are copied into the hash's own storage.
        RdbValue::Hash(pairs) => Value::Hash(HashValue::from_pairs(pairs, cfg)),
    })
}

// ---- loading -------------------------------------------------------------------------------

/// How to load a file.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The config of the node loading the file: `databases`, encoding thresholds, the
    /// `maxmemory-policy` that decides whether `IDLE` or `FREQ` is applied.
    pub cfg: StoreConfig,
    /// Unix ms: keys with `expire < now_ms` are dropped when `drop_expired` is set.
    pub now_ms: i64,
    /// True when loading as a primary (Redis drops keys already expired then); false on a
    /// replica or for an AOF base, which keep them.
    pub drop_expired: bool,
}

impl LoadOptions {
    /// Loading as a primary at `now_ms` with `cfg`.
    pub fn primary(cfg: StoreConfig, now_ms: i64) -> LoadOptions {
        LoadOptions {
            cfg,
            now_ms,
            drop_expired: true,
        }
    }
}

/// Aux fields of a loaded file. Unknown aux fields are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdbAux {
    pub redis_ver: Option<String>,
    pub redis_bits: Option<i64>,
    /// `ctime`: when the file was created (Unix seconds).
    pub ctime: Option<i64>,
    /// `used-mem`: the writer's memory use in bytes.
    pub used_mem: Option<i64>,
    pub repl_stream_db: Option<i64>,
    pub repl_id: Option<Bytes>,
    pub repl_offset: Option<i64>,
    /// `aof-base` (or the older `aof-preamble`) was 1.
    pub aof_base: bool,
    pub other: Vec<(Bytes, Bytes)>,
}

impl RdbAux {
    fn set(&mut self, key: Bytes, value: Bytes) {
        let int = || {
            std::str::from_utf8(&value)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        };
        match &key[..] {
            b"redis-ver" => self.redis_ver = Some(String::from_utf8_lossy(&value).into_owned()),
            b"redis-bits" => self.redis_bits = int(),
            b"ctime" => self.ctime = int(),
            b"used-mem" => self.used_mem = int(),
            b"repl-stream-db" => self.repl_stream_db = int(),
            b"repl-id" => self.repl_id = Some(value),
            b"repl-offset" => self.repl_offset = int(),
            b"aof-base" | b"aof-preamble" => self.aof_base = int().is_some_and(|v| v != 0),
            _ => self.other.push((key, value)),
        }
    }
}

/// How far a load got (for INFO `loading_*` fields and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadProgress {
    /// Bytes of the file read so far.
    pub bytes: u64,
    /// Keys stored so far.
    pub keys: u64,
}

/// A completely loaded file: the new databases and what the file said about itself.
#[derive(Debug)]
pub struct Loaded {
    /// One [`Db`] per configured database, ready for [`Keyspace::replace_dbs`].
    pub dbs: Vec<Db>,
    pub aux: RdbAux,
    /// The file's RDB version.
    pub version: u16,
    pub checksum: Checksum,
    /// Keys stored.
    pub keys_loaded: u64,
    /// Keys dropped because they were already expired.
    pub keys_expired: u64,
    /// Empty collections skipped.
    pub empty_skipped: u64,
    /// Bytes read (the file's size when it was read to the end).
    pub bytes: u64,
}

/// Why a file could not be loaded. Every variant carries the byte offset it is about.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Rdb(#[from] RdbError),
    #[error("database {db} at offset {offset} is out of range: the server is configured with {databases} databases")]
    DbOutOfRange {
        offset: u64,
        db: u64,
        databases: usize,
    },
    #[error(
        "duplicated key '{}' in DB {db} at offset {offset}",
        String::from_utf8_lossy(key)
    )]
    DuplicateKey { offset: u64, db: usize, key: Bytes },
    #[error("the RDB decoding thread stopped unexpectedly after offset {offset}")]
    DecoderStopped { offset: u64 },
}

impl LoadError {
    /// The byte offset of the problem in the file.
    pub fn offset(&self) -> u64 {
        match self {
            LoadError::Rdb(e) => e.offset(),
            LoadError::DbOutOfRange { offset, .. }
            | LoadError::DuplicateKey { offset, .. }
            | LoadError::DecoderStopped { offset } => *offset,
        }
    }
}

/// Whether the file is finished after a [`Loader::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More items remain.
    More,
    /// EOF and checksum were read: call [`Loader::finish`].
    Done,
}

/// Loads an RDB stream into fresh databases, a bounded number of items per [`step`](Self::step).
pub struct Loader<R> {
    source: Source<R>,
    version: u16,
    /// Bytes of the file decoded and stored so far.
    offset: u64,
    /// Encoding thresholds for the values built.
    cfg: StoreConfig,
    dbs: Vec<Db>,
    db: usize,
    aux: RdbAux,
    checksum: Option<Checksum>,
    keys_loaded: u64,
    keys_expired: u64,
    empty_skipped: u64,
    /// Applies IDLE / FREQ as Redis's `objectSetLRUOrLFU` does.
    lfu: bool,
    clock: u32,
}

impl<R: BufRead> Loader<R> {
    /// Reads the signature; fails on a file that is not RDB version 1 to 10. Decodes on the
    /// caller's thread (see [`Loader::threaded`]).
    pub fn new(input: R, opts: LoadOptions) -> Result<Loader<R>, LoadError> {
        let decoder = Decoder::new(input, opts.clone())?;
        let version = decoder.version();
        Ok(Loader::with_source(Source::inline(decoder), version, opts))
    }

    fn with_source(source: Source<R>, version: u16, opts: LoadOptions) -> Loader<R> {
        let dbs = (0..opts.cfg.databases.max(1))
            .map(|_| Db::default())
            .collect();
        let lfu = opts.cfg.maxmemory_policy.is_lfu();
        let clock = (opts.now_ms / 1000) as u32;
        Loader {
            source,
            version,
            offset: 0,
            cfg: opts.cfg,
            dbs,
            db: 0,
            aux: RdbAux::default(),
            checksum: None,
            keys_loaded: 0,
            keys_expired: 0,
            empty_skipped: 0,
            lfu,
            clock,
        }
    }

    /// The file's RDB version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Aux fields read so far (they come first in files Redis writes).
    pub fn aux(&self) -> &RdbAux {
        &self.aux
    }

    pub fn progress(&self) -> LoadProgress {
        LoadProgress {
            bytes: self.offset,
            keys: self.keys_loaded,
        }
    }

    /// Stores about `max_items` items (aux fields, database switches, keys): at least one
    /// batch of the decoder's.
    pub fn step(&mut self, max_items: usize) -> Result<Step, LoadError> {
        let mut stored = 0;
        while self.checksum.is_none() && stored < max_items.max(1) {
            let batch = self.source.next(max_items.max(1) - stored)?;
            stored += batch.items.len();
            for item in batch.items {
                self.apply(item)?;
            }
            self.offset = batch.offset;
        }
        Ok(match self.checksum {
            Some(_) => Step::Done,
            None => Step::More,
        })
    }

    fn apply(&mut self, item: Item) -> Result<(), LoadError> {
        match item {
            Item::Aux { key, value } => self.aux.set(key, value),
            Item::SelectDb { db, at } => {
                if db >= self.dbs.len() as u64 {
                    return Err(LoadError::DbOutOfRange {
                        offset: at,
                        db,
                        databases: self.dbs.len(),
                    });
                }
                self.db = db as usize;
            }
            Item::ResizeDb {
                db_size,
                expires_size,
            } => {
                let d = &mut self.dbs[self.db];
                // A hint only: bounded so a hostile file cannot make us allocate.
                d.map.reserve((db_size as usize).min(1 << 20));
                d.expires.reserve((expires_size as usize).min(1 << 20));
            }
            Item::Key {
                at,
                key,
                value,
                meta,
            } => self.store(at, key, value, meta)?,
            Item::Expired => self.keys_expired += 1,
            Item::Eof(checksum) => self.checksum = Some(checksum),
        }
        Ok(())
    }

    fn store(
        &mut self,
        at: u64,
        key: Bytes,
        value: RdbValue,
        meta: KeyMeta,
    ) -> Result<(), LoadError> {
        let Some(value) = from_rdb(value, &self.cfg) else {
            self.empty_skipped += 1;
            return Ok(());
        };
        let mut entry = Entry::new(value);
        entry.access = self.access(&meta);
        // One hash lookup per key: this is the hot path of a load.
        if self.dbs[self.db]
            .put_new(&key, entry, meta.expire_ms)
            .is_err()
        {
            return Err(LoadError::DuplicateKey {
                offset: at,
                db: self.db,
                key,
            });
        }
        self.keys_loaded += 1;
        Ok(())
    }

    /// The access clock of a loaded key: FREQ under an LFU policy, IDLE otherwise, else the
    /// value a new key gets.
    fn access(&self, meta: &KeyMeta) -> u32 {
        let fresh = if self.lfu {
            lfu_initial(self.clock)
        } else {
            self.clock
        };
        match (self.lfu, meta.lfu_freq, meta.lru_idle) {
            (true, Some(freq), _) => access_with_freq(self.clock, freq),
            (false, _, Some(idle)) => access_with_idle(self.clock, idle),
            _ => fresh,
        }
    }

    /// The loaded databases and counters. Call after [`step`](Self::step) returned
    /// [`Step::Done`]; before that it fails (the file is not complete).
    pub fn finish(self) -> Result<Loaded, LoadError> {
        let bytes = self.offset;
        let Some(checksum) = self.checksum else {
            return Err(RdbError::Truncated {
                offset: bytes,
                expected: "the rest of the file",
            }
            .into());
        };
        Ok(Loaded {
            dbs: self.dbs,
            aux: self.aux,
            version: self.version,
            checksum,
            keys_loaded: self.keys_loaded,
            keys_expired: self.keys_expired,
            empty_skipped: self.empty_skipped,
            bytes,
        })
    }
}

impl<R: BufRead + Send + 'static> Loader<R> {
    /// Like [`Loader::new`], but decodes on a thread of its own while the caller's thread
    /// stores (see `snapshot/decode.rs`): what the server uses for files.
    pub fn threaded(input: R, opts: LoadOptions) -> Result<Loader<R>, LoadError> {
        let decoder = Decoder::new(input, opts.clone())?;
        let version = decoder.version();
        Ok(Loader::with_source(Source::spawn(decoder)?, version, opts))
    }
}

/// Loads a whole RDB file, decoding on a second thread ([`Loader::threaded`]).
pub fn load_file(file: std::fs::File, opts: LoadOptions) -> Result<Loaded, LoadError> {
    let mut loader = Loader::threaded(std::io::BufReader::with_capacity(1 << 16, file), opts)?;
    while loader.step(LOAD_STEP_ITEMS)? == Step::More {}
    loader.finish()
}

/// Loads a whole RDB stream, calling `progress` after every batch of items.
pub fn load<R: BufRead>(
    input: R,
    opts: LoadOptions,
    mut progress: impl FnMut(LoadProgress),
) -> Result<Loaded, LoadError> {
    let mut loader = Loader::new(input, opts)?;
    while loader.step(LOAD_STEP_ITEMS)? == Step::More {
        progress(loader.progress());
    }
    progress(loader.progress());
    loader.finish()
}

mod decode;
#[cfg(test)]
mod tests;
