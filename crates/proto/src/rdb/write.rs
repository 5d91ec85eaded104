//! Writing RDB files and DUMP payloads.
//!
//! [`RdbWriter`] streams a file into any `Write`: bytes go through a 64 KB buffer, and the
//! CRC-64 is updated once per flushed chunk, so small fields cost no per-call overhead.
//!
//! A file, as [`RdbWriter`] produces it:
//! 1. `new`: `REDIS0010`, aux `redis-ver`, `redis-bits`, `ctime`, `used-mem`, then
//!    `repl-stream-db`, `repl-id`, `repl-offset` when replication info is given, then `aof-base`.
//! 2. per database: `select_db` (SELECTDB + RESIZEDB), then one `write_*` call per key:
//!    `[EXPIRETIME_MS ms] [IDLE secs] [FREQ counter] type key value`.
//! 3. `finish`: EOF (0xFF) and the CRC-64 of every preceding byte, or 8 zero bytes when the
//!    checksum is disabled (`rdbchecksum no`).
//!
//! Strings are written as Redis writes them: integer form when the string is the canonical
//! decimal of a 32-bit integer, else LZF when compression is on, the string is longer than 20
//! bytes and compression saves at least 4 bytes, else raw. Listpack, intset and quicklist node
//! blobs go through the same rule.

use std::cmp::Ordering;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::consts::{container, enc, len as lenc, opcode, MAGIC, RDB_VERSION, REDIS_VER};
use super::crc::Crc64;
use super::error::RdbError;
use super::listpack;
use super::lzf;
use super::num::{canonical_i64, format_score};
use super::value::{RdbValue, ValueEncoding};
use super::{consts::types, intset};

const BUF_CAP: usize = 64 * 1024;
/// `list-max-listpack-size -2`: quicklist nodes of at most 8 KB.
const QUICKLIST_NODE_BYTES: usize = 8192;
/// Elements this large get a PLAIN node of their own (Redis's packed threshold, 1 GB).
const PLAIN_THRESHOLD: usize = 1 << 30;
/// Strings longer than this are candidates for LZF (Redis: `len > 20`).
const LZF_MIN_LEN: usize = 20;
/// Compression must save at least this many bytes to be used.
const LZF_MIN_SAVING: usize = 4;

/// Per-key metadata written before the type byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyMeta {
    /// Absolute expire time in Unix milliseconds (EXPIRETIME_MS).
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (IDLE; Redis writes it under an LRU maxmemory-policy).
    pub lru_idle: Option<u64>,
    /// LFU counter (FREQ; Redis writes it under an LFU maxmemory-policy).
    pub lfu_freq: Option<u8>,
}

/// Replication aux fields (`repl-stream-db`, `repl-id`, `repl-offset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplAux {
    /// The database the replication stream currently selects.
    pub stream_db: u32,
    /// The 40-hex-character replication id.
    pub repl_id: Bytes,
    /// The replication offset the snapshot corresponds to.
    pub offset: i64,
}

/// What [`RdbWriter::new`] writes in the header and how it encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when it pays.
    pub compression: bool,
    /// `rdbchecksum`: write the CRC-64 trailer (else 8 zero bytes).
    pub checksum: bool,
    /// `ctime` aux field: creation time in Unix seconds.
    pub ctime: i64,
    /// `used-mem` aux field in bytes.
    pub used_mem: u64,
    /// Replication aux fields, written only when present (Redis: when it has a backlog or a
    /// primary; never in an AOF base).
    pub repl: Option<ReplAux>,
    /// `aof-base` aux field: true when the file is an AOF base (RDB preamble).
    pub aof_base: bool,
    /// Not a format option: `rdb-key-save-delay`, microseconds the saving loop sleeps after
    /// each key (a testing aid that makes saves slow, as in Redis); `-N` sleeps 1 µs after
    /// every Nth key.
    pub key_save_delay_us: i64,
}

impl Default for WriterOptions {
    /// Redis's defaults: compression and checksum on, `ctime` now, no replication info.
    fn default() -> Self {
        let ctime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self {
            compression: true,
            checksum: true,
            ctime,
            used_mem: 0,
            repl: None,
            aof_base: false,
            key_save_delay_us: 0,
        }
    }
}

/// Buffered output that counts bytes and keeps the running CRC of everything flushed.
struct Out<W: Write> {
    inner: W,
    buf: Vec<u8>,
    crc: Crc64,
    flushed: u64,
}

impl<W: Write> Out<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(BUF_CAP),
            crc: Crc64::new(),
            flushed: 0,
        }
    }

    fn offset(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    fn io(&self, source: std::io::Error) -> RdbError {
        RdbError::Io {
            offset: self.offset(),
            source,
        }
    }

    fn flush_buf(&mut self) -> Result<(), RdbError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.crc.update(&self.buf);
        if let Err(e) = self.inner.write_all(&self.buf) {
            return Err(self.io(e));
        }
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> Result<(), RdbError> {
        if self.buf.len() + b.len() > BUF_CAP {
            self.flush_buf()?;
            if b.len() >= BUF_CAP {
                self.crc.update(b);
                if let Err(e) = self.inner.write_all(b) {
                    return Err(self.io(e));
                }
                self.flushed += b.len() as u64;
                return Ok(());
            }
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }

    fn byte(&mut self, b: u8) -> Result<(), RdbError> {
        self.put(&[b])
    }
}

/// Value encoding on top of [`Out`], with scratch buffers reused between keys.
struct Encoder<W: Write> {
    out: Out<W>,
    compression: bool,
    blob: Vec<u8>,
    lzf: lzf::Compressor,
    lzf_out: Vec<u8>,
    ints: Vec<i64>,
}

impl<W: Write> Encoder<W> {
    fn new(inner: W, compression: bool) -> Self {
        Self {
            out: Out::new(inner),
            compression,
            blob: Vec::new(),
            lzf: lzf::Compressor::default(),
            lzf_out: Vec::new(),
            ints: Vec::new(),
        }
    }

    fn unencodable(&self, what: &'static str, reason: &'static str) -> RdbError {
        RdbError::Unencodable {
            offset: self.out.offset(),
            what,
            reason,
        }
    }

    /// Writes an RDB length in its smallest form.
    fn len(&mut self, n: u64) -> Result<(), RdbError> {
        if n < 1 << 6 {
            self.out.byte(n as u8)
        } else if n < 1 << 14 {
            self.out
                .put(&[(lenc::BITS_14 << 6) | (n >> 8) as u8, n as u8])
        } else if let Ok(n32) = u32::try_from(n) {
            self.out.byte(lenc::BITS_32)?;
            self.out.put(&n32.to_be_bytes())
        } else {
            self.out.byte(lenc::BITS_64)?;
            self.out.put(&n.to_be_bytes())
        }
    }

    /// Writes an RDB string: integer form, LZF or raw (see the module doc).
    fn string(&mut self, s: &[u8]) -> Result<(), RdbError> {
        if s.len() <= 11 {
            if let Some(v) = canonical_i64(s) {
                let special = lenc::ENCVAL << 6;
                if let Ok(v) = i8::try_from(v) {
                    return self.out.put(&[special | enc::INT8, v as u8]);
                } else if let Ok(v) = i16::try_from(v) {
                    let b = v.to_le_bytes();
                    return self.out.put(&[special | enc::INT16, b[0], b[1]]);
                } else if let Ok(v) = i32::try_from(v) {
                    let b = v.to_le_bytes();
                    return self
                        .out
                        .put(&[special | enc::INT32, b[0], b[1], b[2], b[3]]);
                }
            }
        }
        if self.compression && s.len() > LZF_MIN_LEN {
            let max = s.len() - LZF_MIN_SAVING;
            if self.lzf.compress(s, &mut self.lzf_out, max) {
                self.out.byte((lenc::ENCVAL << 6) | enc::LZF)?;
                self.len(self.lzf_out.len() as u64)?;
                self.len(s.len() as u64)?;
                let Self { out, lzf_out, .. } = self;
                return out.put(lzf_out);
            }
        }
        self.len(s.len() as u64)?;
        self.out.put(s)
    }

    /// Writes the scratch blob as a string.
    fn blob_string(&mut self) -> Result<(), RdbError> {
        let blob = std::mem::take(&mut self.blob);
        let r = self.string(&blob);
        self.blob = blob;
        r
    }

    fn header(&mut self, key: &[u8], meta: &KeyMeta, type_byte: u8) -> Result<(), RdbError> {
        if let Some(ms) = meta.expire_ms {
            self.out.byte(opcode::EXPIRETIME_MS)?;
            self.out.put(&ms.to_le_bytes())?;
        }
        if let Some(idle) = meta.lru_idle {
            self.out.byte(opcode::IDLE)?;
            self.len(idle)?;
        }
        if let Some(freq) = meta.lfu_freq {
            self.out.put(&[opcode::FREQ, freq])?;
        }
        self.out.byte(type_byte)?;
        self.string(key)
    }

    /// Type 18 body: node count, then per node a container (PACKED listpack of at most 8 KB,
    /// or PLAIN for a 1 GB+ element) and its blob. Two passes over `items`: count, then write.
    fn list_body<I>(&mut self, items: I) -> Result<(), RdbError>
    where
        I: Iterator + Clone,
        I::Item: AsRef<[u8]>,
    {
        let mut splitter = NodeSplitter::default();
        let mut nodes = 0u64;
        for item in items.clone() {
            if splitter.place(item.as_ref().len(), || listpack::entry_size(item.as_ref()))
                != Place::SameNode
            {
                nodes += 1;
            }
        }
        if nodes == 0 {
            return Err(self.unencodable("list", "Redis never writes empty collections"));
        }
        self.len(nodes)?;
        let mut splitter = NodeSplitter::default();
        let mut blob = std::mem::take(&mut self.blob);
        let mut lp = listpack::Builder::new(&mut blob);
        let mut written = 0u64;
        let mut result = Ok(());
        for item in items {
            let item = item.as_ref();
            let place = splitter.place(item.len(), || listpack::entry_size(item));
            if place != Place::SameNode && !lp.is_empty() {
                result = self.packed_node(lp);
                written += 1;
                lp = listpack::Builder::new(&mut blob);
            }
            if result.is_err() {
                break;
            }
            match place {
                Place::Plain => {
                    result = self.len(container::PLAIN).and_then(|()| self.string(item));
                    written += 1;
                }
                Place::NewNode | Place::SameNode => lp.push(item),
            }
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() && !lp.is_empty() {
            result = self.packed_node(lp);
            written += 1;
        }
        self.blob = blob;
        result?;
        if written != nodes {
            return Err(self.unencodable("list", "the items changed between the two passes"));
        }
        Ok(())
    }

    fn packed_node(&mut self, lp: listpack::Builder<'_>) -> Result<(), RdbError> {
        self.len(container::PACKED)?;
        self.listpack_string(lp, "list node")
    }

    /// Finishes `lp` and writes it as a string.
    fn listpack_string(
        &mut self,
        lp: listpack::Builder<'_>,
        what: &'static str,
    ) -> Result<(), RdbError> {
        match lp.finish() {
            Ok(blob) => self.string(blob),
            Err(reason) => Err(self.unencodable(what, reason)),
        }
    }

    /// Type 11 body: `members` sorted and deduplicated into an intset blob.
    fn intset_body(&mut self, members: &[i64]) -> Result<(), RdbError> {
        if members.is_empty() {
            return Err(self.unencodable("set", "Redis never writes empty collections"));
        }
        let mut ints = std::mem::take(&mut self.ints);
        ints.clear();
        ints.extend_from_slice(members);
        ints.sort_unstable();
        ints.dedup();
        intset::write(&ints, &mut self.blob);
        self.ints = ints;
        self.blob_string()
    }

    /// Types 2 and 1 body: count, then each string.
    fn strings_body<I>(&mut self, items: I, what: &'static str) -> Result<(), RdbError>
    where
        I: ExactSizeIterator,
        I::Item: AsRef<[u8]>,
    {
        if items.len() == 0 {
            return Err(self.unencodable(what, "Redis never writes empty collections"));
        }
        self.len(items.len() as u64)?;
        for item in items {
            self.string(item.as_ref())?;
        }
        Ok(())
    }

    /// Type 17 body: a listpack of member, score sorted by (score, member).
    fn zset_listpack_body(&mut self, mut entries: Vec<(&[u8], f64)>) -> Result<(), RdbError> {
        if entries.is_empty() {
            return Err(self.unencodable("zset", "Redis never writes empty collections"));
        }
        if entries.iter().any(|(_, s)| s.is_nan()) {
            return Err(self.unencodable("zset", "a score is NaN"));
        }
        entries.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.0.cmp(b.0))
        });
        let mut blob = std::mem::take(&mut self.blob);
        let mut lp = listpack::Builder::new(&mut blob);
        for (member, score) in entries {
            lp.push(member);
            lp.push(format_score(score).as_bytes());
        }
        let r = self.listpack_string(lp, "zset listpack");
        self.blob = blob;
        r
    }

    /// Type 5 body: count, then member and 8-byte LE score, in the given order.
    fn zset_skiplist_body<I, M>(&mut self, entries: I) -> Result<(), RdbError>
    where
        I: ExactSizeIterator<Item = (M, f64)>,
        M: AsRef<[u8]>,
    {
        if entries.len() == 0 {
            return Err(self.unencodable("zset", "Redis never writes empty collections"));
        }
        self.len(entries.len() as u64)?;
        for (member, score) in entries {
            if score.is_nan() {
                return Err(self.unencodable("zset", "a score is NaN"));
            }
            self.string(member.as_ref())?;
            self.out.put(&score.to_le_bytes())?;
        }
        Ok(())
    }

    /// Type 16 body: a listpack of field, value.
    fn hash_listpack_body<I, F, V>(&mut self, pairs: I) -> Result<(), RdbError>
    where
        I: Iterator<Item = (F, V)>,
        F: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut blob = std::mem::take(&mut self.blob);
        let mut lp = listpack::Builder::new(&mut blob);
        for (f, v) in pairs {
            lp.push(f.as_ref());
            lp.push(v.as_ref());
        }
        let r = if lp.is_empty() {
            Err(self.unencodable("hash", "Redis never writes empty collections"))
        } else {
            self.listpack_string(lp, "hash listpack")
        };
        self.blob = blob;
        r
    }

    /// Type 4 body: count, then field and value strings.
    fn hash_body<I, F, V>(&mut self, pairs: I) -> Result<(), RdbError>
    where
        I: ExactSizeIterator<Item = (F, V)>,
        F: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if pairs.len() == 0 {
            return Err(self.unencodable("hash", "Redis never writes empty collections"));
        }
        self.len(pairs.len() as u64)?;
        for (f, v) in pairs {
            self.string(f.as_ref())?;
            self.string(v.as_ref())?;
        }
        Ok(())
    }

    /// Type byte + body of `value` in `encoding`.
    fn value(&mut self, value: &RdbValue, encoding: ValueEncoding) -> Result<(), RdbError> {
        self.check_match(value, encoding)?;
        self.out.byte(encoding.type_byte())?;
        self.value_body(value, encoding)
    }

    fn check_match(&self, value: &RdbValue, encoding: ValueEncoding) -> Result<(), RdbError> {
        use ValueEncoding as E;
        let ok = matches!(
            (value, encoding),
            (RdbValue::String(_), E::String)
                | (RdbValue::List(_), E::ListQuicklist2)
                | (RdbValue::Set(_), E::SetIntset | E::SetHashtable)
                | (RdbValue::SortedSet(_), E::ZsetListpack | E::ZsetSkiplist)
                | (RdbValue::Hash(_), E::HashListpack | E::HashHashtable)
        );
        if ok {
            Ok(())
        } else {
            Err(self.unencodable(value.type_name(), "the encoding is for another type"))
        }
    }

    fn value_body(&mut self, value: &RdbValue, encoding: ValueEncoding) -> Result<(), RdbError> {
        use ValueEncoding as E;
        match (value, encoding) {
            (RdbValue::String(s), _) => self.string(s),
            (RdbValue::List(items), _) => self.list_body(items.iter()),
            (RdbValue::Set(members), E::SetIntset) => {
                let mut ints = Vec::with_capacity(members.len());
                for m in members {
                    match canonical_i64(m) {
                        Some(v) => ints.push(v),
                        None => {
                            return Err(self.unencodable("intset", "a member is not an integer"))
                        }
                    }
                }
                self.intset_body(&ints)
            }
            (RdbValue::Set(members), _) => self.strings_body(members.iter(), "set"),
            (RdbValue::SortedSet(entries), E::ZsetListpack) => {
                self.zset_listpack_body(entries.iter().map(|(m, s)| (m.as_ref(), *s)).collect())
            }
            (RdbValue::SortedSet(entries), _) => {
                // Redis writes skiplists from the tail: highest score (then member) first.
                let mut sorted: Vec<(&[u8], f64)> =
                    entries.iter().map(|(m, s)| (m.as_ref(), *s)).collect();
                sorted.sort_by(|a, b| {
                    b.1.partial_cmp(&a.1)
                        .unwrap_or(Ordering::Equal)
                        .then_with(|| b.0.cmp(a.0))
                });
                self.zset_skiplist_body(sorted.into_iter())
            }
            (RdbValue::Hash(pairs), E::HashListpack) => {
                self.hash_listpack_body(pairs.iter().map(|(f, v)| (f, v)))
            }
            (RdbValue::Hash(pairs), _) => self.hash_body(pairs.iter().map(|(f, v)| (f, v))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Plain,
    NewNode,
    SameNode,
}

/// Decides where the next list element goes: the open node while its listpack stays within
/// 8 KB, else a new node; elements of 1 GB and more get a PLAIN node of their own.
#[derive(Default)]
struct NodeSplitter {
    /// Listpack size of the open node (header + entries + end byte); 0 when none is open.
    open_bytes: usize,
}

impl NodeSplitter {
    fn place(&mut self, len: usize, entry_size: impl FnOnce() -> usize) -> Place {
        if len >= PLAIN_THRESHOLD {
            self.open_bytes = 0;
            return Place::Plain;
        }
        let es = entry_size();
        if self.open_bytes != 0 && self.open_bytes + es <= QUICKLIST_NODE_BYTES {
            self.open_bytes += es;
            Place::SameNode
        } else {
            self.open_bytes = 7 + es;
            Place::NewNode
        }
    }
}

/// Streams an RDB file into `W`. See the module doc for the order of calls.
pub struct RdbWriter<W: Write> {
    enc: Encoder<W>,
    checksum: bool,
}

impl<W: Write> RdbWriter<W> {
    /// Writes the magic and the aux fields Redis 7.0 writes, in its order.
    pub fn new(inner: W, opts: &WriterOptions) -> Result<Self, RdbError> {
        let mut w = Self {
            enc: Encoder::new(inner, opts.compression),
            checksum: opts.checksum,
        };
        w.enc.out.put(MAGIC)?;
        w.enc.out.put(format!("{RDB_VERSION:04}").as_bytes())?;
        w.write_aux(b"redis-ver", REDIS_VER.as_bytes())?;
        w.write_aux(b"redis-bits", b"64")?;
        w.write_aux(b"ctime", opts.ctime.to_string().as_bytes())?;
        w.write_aux(b"used-mem", opts.used_mem.to_string().as_bytes())?;
        if let Some(repl) = &opts.repl {
            w.write_aux(b"repl-stream-db", repl.stream_db.to_string().as_bytes())?;
            w.write_aux(b"repl-id", &repl.repl_id)?;
            w.write_aux(b"repl-offset", repl.offset.to_string().as_bytes())?;
        }
        w.write_aux(b"aof-base", if opts.aof_base { b"1" } else { b"0" })?;
        Ok(w)
    }

    /// Writes one more aux field (AUX opcode, key, value).
    pub fn write_aux(&mut self, key: &[u8], value: &[u8]) -> Result<(), RdbError> {
        self.enc.out.byte(opcode::AUX)?;
        self.enc.string(key)?;
        self.enc.string(value)
    }

    /// Starts database `db`: SELECTDB, then RESIZEDB with the key and expire counts.
    pub fn select_db(&mut self, db: u64, db_size: u64, expires_size: u64) -> Result<(), RdbError> {
        self.enc.out.byte(opcode::SELECTDB)?;
        self.enc.len(db)?;
        self.enc.out.byte(opcode::RESIZEDB)?;
        self.enc.len(db_size)?;
        self.enc.len(expires_size)
    }

    /// Returns the number of bytes written so far (the offset of the next byte).
    pub fn offset(&self) -> u64 {
        self.enc.out.offset()
    }

    /// Writes `value` under `key` in the chosen encoding.
    pub fn write_entry(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        value: &RdbValue,
        encoding: ValueEncoding,
    ) -> Result<(), RdbError> {
        self.enc.check_match(value, encoding)?;
        self.enc.header(key, meta, encoding.type_byte())?;
        self.enc.value_body(value, encoding)
    }

    /// Writes a string (type 0).
    pub fn write_string(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        value: &[u8],
    ) -> Result<(), RdbError> {
        self.enc.header(key, meta, types::STRING)?;
        self.enc.string(value)
    }

    /// Writes a list as a quicklist of listpacks (type 18), head to tail. The iterator is
    /// walked twice (node count first), so it must yield the same items both times.
    pub fn write_list<I>(&mut self, key: &[u8], meta: &KeyMeta, items: I) -> Result<(), RdbError>
    where
        I: IntoIterator,
        I::IntoIter: Clone,
        I::Item: AsRef<[u8]>,
    {
        self.enc.header(key, meta, types::LIST_QUICKLIST_2)?;
        self.enc.list_body(items.into_iter())
    }

    /// Writes a set of integers as an intset (type 11); any order, duplicates are dropped.
    pub fn write_set_intset(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        members: &[i64],
    ) -> Result<(), RdbError> {
        self.enc.header(key, meta, types::SET_INTSET)?;
        self.enc.intset_body(members)
    }

    /// Writes a set as a plain member list (type 2); members must be unique.
    pub fn write_set<I>(&mut self, key: &[u8], meta: &KeyMeta, members: I) -> Result<(), RdbError>
    where
        I: IntoIterator,
        I::IntoIter: ExactSizeIterator,
        I::Item: AsRef<[u8]>,
    {
        self.enc.header(key, meta, types::SET)?;
        self.enc.strings_body(members.into_iter(), "set")
    }

    /// Writes a sorted set as a listpack (type 17); entries are sorted here by (score, member).
    pub fn write_zset_listpack<I, M>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        entries: I,
    ) -> Result<(), RdbError>
    where
        I: IntoIterator<Item = (M, f64)>,
        M: AsRef<[u8]>,
    {
        let owned: Vec<(M, f64)> = entries.into_iter().collect();
        self.enc.header(key, meta, types::ZSET_LISTPACK)?;
        self.enc
            .zset_listpack_body(owned.iter().map(|(m, s)| (m.as_ref(), *s)).collect())
    }

    /// Writes a sorted set as member + binary double pairs (type 5) in the given order. Redis
    /// writes the highest score first (then the highest member), which makes its loader's
    /// skiplist inserts O(1); pass the entries that way for the fastest load.
    pub fn write_zset_skiplist<I, M>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        entries: I,
    ) -> Result<(), RdbError>
    where
        I: IntoIterator<Item = (M, f64)>,
        I::IntoIter: ExactSizeIterator,
        M: AsRef<[u8]>,
    {
        self.enc.header(key, meta, types::ZSET_2)?;
        self.enc.zset_skiplist_body(entries.into_iter())
    }

    /// Writes a hash as a listpack (type 16); fields must be unique.
    pub fn write_hash_listpack<I, F, V>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        pairs: I,
    ) -> Result<(), RdbError>
    where
        I: IntoIterator<Item = (F, V)>,
        F: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.enc.header(key, meta, types::HASH_LISTPACK)?;
        self.enc.hash_listpack_body(pairs.into_iter())
    }

    /// Writes a hash as a plain field/value list (type 4); fields must be unique.
    pub fn write_hash<I, F, V>(
        &mut self,
        key: &[u8],
        meta: &KeyMeta,
        pairs: I,
    ) -> Result<(), RdbError>
    where
        I: IntoIterator<Item = (F, V)>,
        I::IntoIter: ExactSizeIterator,
        F: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.enc.header(key, meta, types::HASH)?;
        self.enc.hash_body(pairs.into_iter())
    }

    /// Writes EOF and the checksum, flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W, RdbError> {
        self.enc.out.byte(opcode::EOF)?;
        self.enc.out.flush_buf()?;
        let crc = if self.checksum {
            self.enc.out.crc.value()
        } else {
            0
        };
        self.enc.out.put(&crc.to_le_bytes())?;
        self.enc.out.flush_buf()?;
        let mut out = self.enc.out;
        if let Err(source) = out.inner.flush() {
            return Err(RdbError::Io {
                offset: out.flushed,
                source,
            });
        }
        Ok(out.inner)
    }
}

/// Builds a DUMP payload: type byte + value body, RDB version (2 bytes LE), and the CRC-64 of
/// all preceding bytes (8 bytes LE). `compression` is Redis's `rdbcompression`.
pub fn dump_payload(
    value: &RdbValue,
    encoding: ValueEncoding,
    compression: bool,
) -> Result<Bytes, RdbError> {
    let mut enc = Encoder::new(Vec::new(), compression);
    enc.value(value, encoding)?;
    enc.out.put(&RDB_VERSION.to_le_bytes())?;
    enc.out.flush_buf()?;
    let crc = enc.out.crc.value();
    let mut bytes = enc.out.inner;
    bytes.extend_from_slice(&crc.to_le_bytes());
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_splitter_follows_the_8kb_rule_and_plain_threshold() {
        let mut s = NodeSplitter::default();
        assert_eq!(s.place(10, || 4000), Place::NewNode);
        assert_eq!(s.place(10, || 4000), Place::SameNode); // 7 + 8000 = 8007
        assert_eq!(s.place(10, || 185), Place::SameNode); // 8192: still fits
        assert_eq!(s.place(10, || 1), Place::NewNode); // 8193 would not
        assert_eq!(s.place(PLAIN_THRESHOLD, || unreachable!()), Place::Plain);
        assert_eq!(s.place(10, || 3), Place::NewNode);
        assert_eq!(s.place(10, || 9000), Place::NewNode); // too big for any node: alone
        assert_eq!(s.place(10, || 3), Place::NewNode);
    }

    #[test]
    fn string_forms_follow_redis_rules() {
        let enc = |s: &[u8], compression: bool| {
            let mut e = Encoder::new(Vec::new(), compression);
            e.string(s).unwrap();
            e.out.flush_buf().unwrap();
            e.out.inner
        };
        assert_eq!(enc(b"0", true), [0xC0, 0]);
        assert_eq!(enc(b"-129", true), [0xC1, 0x7F, 0xFF]);
        assert_eq!(enc(b"2147483647", true), [0xC2, 0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(enc(b"2147483648", true), b"\x0A2147483648");
        assert_eq!(enc(b"-0", true), b"\x02-0");
        assert_eq!(enc(b"+1", true), b"\x02+1");
        // 20 bytes: never compressed; 21 compressible bytes: compressed; incompressible: raw.
        assert_eq!(enc(&[b'a'; 20], true)[0], 20);
        assert_eq!(enc(&[b'a'; 21], true)[0], 0xC3);
        assert_eq!(enc(&[b'a'; 21], false)[0], 21);
        let random: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        assert_eq!(enc(&random, true)[0], 64);
        // Lengths: 6-bit, 14-bit big-endian, 32-bit big-endian.
        assert_eq!(enc(&[b'x'; 63], false)[0], 63);
        assert_eq!(enc(&[b'x'; 300], false)[..2], [0x41, 0x2C]);
        assert_eq!(
            enc(&vec![b'x'; 20_000], false)[..5],
            [0x80, 0, 0, 0x4E, 0x20]
        );
    }
}
