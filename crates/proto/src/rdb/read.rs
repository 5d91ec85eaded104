//! Reading RDB files and DUMP payloads.
//!
//! [`RdbReader`] pulls bytes from a `BufRead` without copying them into a second buffer: it
//! walks the reader's current buffer with its own cursor and calls `consume` only when the
//! buffer is used up (updating the CRC over the whole chunk at once). So it never reads past
//! the checksum, and `into_inner` hands back a reader positioned right after the file — what a
//! replica needs when the replication stream follows the RDB payload on the same socket.
//!
//! Allocation is driven by bytes that actually arrive: a string's buffer grows as its bytes are
//! read, element counts pre-reserve at most [`MAX_RESERVE`] slots, and an LZF original length
//! is accepted only if the compressed bytes could produce it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, ErrorKind, Read};

use bytes::Bytes;

use super::consts::{
    container, enc, legacy_double, len as lenc, opcode, type_name, types, CHECKSUM_SINCE_VERSION,
    MAGIC, MIN_RDB_VERSION, RDB_VERSION,
};
use super::crc::{crc64, Crc64};
use super::error::{BlobError, RdbError};
use super::listpack::{self, Entry};
use super::num::parse_score;
use super::value::RdbValue;
use super::write::KeyMeta;
use super::{intset, lzf, ziplist};

/// Most slots reserved up front from an element count read from the input.
const MAX_RESERVE: usize = 1024;
/// Most bytes reserved up front for a string before its bytes arrive.
const MAX_STRING_RESERVE: usize = 1 << 16;

/// One step of an RDB file.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbItem {
    /// An aux field (`redis-ver`, `repl-id`, ...); unknown keys are passed on, not rejected.
    Aux { key: Bytes, value: Bytes },
    /// SELECTDB: the following keys belong to database `n`.
    SelectDb(u64),
    /// RESIZEDB: size hints for the current database.
    ResizeDb { db_size: u64, expires_size: u64 },
    /// One key with its value and metadata.
    Entry(RdbEntry),
    /// End of file, after the checksum was checked.
    Eof(Checksum),
}

/// A key read from the file. Strings inside `value` may share the blob they were decoded from
/// (a listpack node); copy them if only a few are kept for long.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbEntry {
    pub key: Bytes,
    pub value: RdbValue,
    /// Expire time and LRU/LFU metadata that preceded the key.
    pub meta: KeyMeta,
    /// The object type byte it was stored with (e.g. 18 for a quicklist-2 list).
    pub rdb_type: u8,
}

/// What the trailer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// The stored CRC-64 matched the data.
    Verified(u64),
    /// The stored value was 0: written with `rdbchecksum no`, nothing to check.
    Disabled,
    /// RDB versions before 5 have no trailer.
    Absent,
}

/// The byte source: a `BufRead` plus our cursor into its current buffer, the byte offset and
/// the running CRC of consumed bytes.
struct Input<R> {
    inner: R,
    /// Bytes of the reader's current buffer we have used but not yet `consume`d.
    pos: usize,
    /// Bytes `consume`d so far.
    consumed: u64,
    crc: Crc64,
    crc_on: bool,
}

impl<R: BufRead> Input<R> {
    fn new(inner: R, crc_on: bool) -> Self {
        Self {
            inner,
            pos: 0,
            consumed: 0,
            crc: Crc64::new(),
            crc_on,
        }
    }

    fn offset(&self) -> u64 {
        self.consumed + self.pos as u64
    }

    fn io(&self, source: std::io::Error) -> RdbError {
        RdbError::Io {
            offset: self.offset(),
            source,
        }
    }

    fn fill(&mut self) -> Result<usize, RdbError> {
        loop {
            match self.inner.fill_buf() {
                Ok(buf) => return Ok(buf.len()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    /// Hands the used part of the current buffer back to the reader (CRC first).
    fn commit(&mut self) -> Result<(), RdbError> {
        if self.pos == 0 {
            return Ok(());
        }
        let len = self.fill()?;
        if self.pos > len {
            return Err(self.io(std::io::Error::other(
                "BufRead buffer shrank without consume",
            )));
        }
        if self.crc_on {
            let (pos, offset) = (self.pos, self.offset());
            let Self { inner, crc, .. } = self;
            let buf = inner
                .fill_buf()
                .map_err(|source| RdbError::Io { offset, source })?;
            crc.update(buf.get(..pos).unwrap_or_default());
        }
        self.inner.consume(self.pos);
        self.consumed += self.pos as u64;
        self.pos = 0;
        Ok(())
    }

    /// Returns how many unread bytes the current buffer has, reading more if it has none.
    /// 0 means end of input.
    fn available(&mut self) -> Result<usize, RdbError> {
        let len = self.fill()?;
        if self.pos < len {
            return Ok(len - self.pos);
        }
        if self.pos > len {
            return Err(self.io(std::io::Error::other(
                "BufRead buffer shrank without consume",
            )));
        }
        self.commit()?;
        self.fill()
    }

    /// Returns `len` bytes of the reader's current buffer starting at `from`. The reader
    /// already returned them (no read happens); a `BufRead` that shrinks its buffer without
    /// `consume` gets an error instead of a panic.
    fn buffered(&mut self, from: usize, len: usize) -> Result<&[u8], RdbError> {
        let offset = self.offset();
        let buf = self
            .inner
            .fill_buf()
            .map_err(|source| RdbError::Io { offset, source })?;
        buf.get(from..from + len).ok_or_else(|| RdbError::Io {
            offset,
            source: std::io::Error::other("BufRead buffer shrank without consume"),
        })
    }

    /// Copies up to `max` unread bytes into `out`; returns how many (0 at end of input).
    fn take_into(&mut self, out: &mut Vec<u8>, max: usize) -> Result<usize, RdbError> {
        let avail = self.available()?;
        let n = avail.min(max);
        if n > 0 {
            let pos = self.pos;
            out.extend_from_slice(self.buffered(pos, n)?);
            self.pos += n;
        }
        Ok(n)
    }

    fn u8(&mut self, expected: &'static str) -> Result<u8, RdbError> {
        Ok(self.array::<1>(expected)?[0])
    }

    fn array<const N: usize>(&mut self, expected: &'static str) -> Result<[u8; N], RdbError> {
        let mut a = [0u8; N];
        if self.available()? >= N {
            let pos = self.pos;
            a.copy_from_slice(self.buffered(pos, N)?);
            self.pos += N;
            return Ok(a);
        }
        let mut v = Vec::with_capacity(N);
        while v.len() < N {
            let want = N - v.len();
            if self.take_into(&mut v, want)? == 0 {
                return Err(RdbError::Truncated {
                    offset: self.offset(),
                    expected,
                });
            }
        }
        a.copy_from_slice(&v);
        Ok(a)
    }

    /// Reads exactly `n` bytes; the buffer grows only as bytes arrive.
    fn bytes(&mut self, n: u64, expected: &'static str) -> Result<Vec<u8>, RdbError> {
        let Ok(n) = usize::try_from(n) else {
            return Err(RdbError::Invalid {
                offset: self.offset(),
                expected: "a length that fits in memory",
            });
        };
        let mut v = Vec::with_capacity(n.min(MAX_STRING_RESERVE));
        while v.len() < n {
            let want = n - v.len();
            if self.take_into(&mut v, want)? == 0 {
                return Err(RdbError::Truncated {
                    offset: self.offset(),
                    expected,
                });
            }
        }
        Ok(v)
    }

    /// Reads a length or a special string-encoding marker.
    fn len_or_enc(&mut self, expected: &'static str) -> Result<Len, RdbError> {
        let at = self.offset();
        let b = self.u8(expected)?;
        Ok(match b >> 6 {
            lenc::BITS_6 => Len::Plain(u64::from(b & 0x3F)),
            lenc::BITS_14 => {
                let lo = self.u8(expected)?;
                Len::Plain((u64::from(b & 0x3F) << 8) | u64::from(lo))
            }
            lenc::ENCVAL => Len::Special(b & 0x3F),
            _ => match b {
                lenc::BITS_32 => Len::Plain(u64::from(u32::from_be_bytes(self.array(expected)?))),
                lenc::BITS_64 => Len::Plain(u64::from_be_bytes(self.array(expected)?)),
                _ => {
                    return Err(RdbError::Invalid {
                        offset: at,
                        expected: "a length encoding (10xxxxxx must be 0x80 or 0x81)",
                    })
                }
            },
        })
    }

    fn len(&mut self, expected: &'static str) -> Result<u64, RdbError> {
        let at = self.offset();
        match self.len_or_enc(expected)? {
            Len::Plain(n) => Ok(n),
            Len::Special(_) => Err(RdbError::Invalid {
                offset: at,
                expected,
            }),
        }
    }

    /// Reads an RDB string (raw, integer-encoded or LZF).
    fn string(&mut self, expected: &'static str) -> Result<Bytes, RdbError> {
        let at = self.offset();
        match self.len_or_enc(expected)? {
            Len::Plain(n) => Ok(Bytes::from(self.bytes(n, expected)?)),
            Len::Special(enc::INT8) => Ok(Bytes::from((self.u8(expected)? as i8).to_string())),
            Len::Special(enc::INT16) => Ok(Bytes::from(
                i16::from_le_bytes(self.array(expected)?).to_string(),
            )),
            Len::Special(enc::INT32) => Ok(Bytes::from(
                i32::from_le_bytes(self.array(expected)?).to_string(),
            )),
            Len::Special(enc::LZF) => {
                let clen = self.len("the compressed length of an LZF string")?;
                let len_at = self.offset();
                let ulen = self.len("the original length of an LZF string")?;
                if ulen > clen.saturating_mul(lzf::MAX_RATIO) {
                    return Err(RdbError::Invalid {
                        offset: len_at,
                        expected: "an LZF original length the compressed data can produce",
                    });
                }
                let data_at = self.offset();
                let data = self.bytes(clen, "LZF-compressed bytes")?;
                let ulen = ulen as usize; // <= clen * 88, and clen bytes are in memory
                lzf::decompress(&data, ulen)
                    .map(Bytes::from)
                    .map_err(|e| blob_error(data_at, "LZF data", e))
            }
            Len::Special(_) => Err(RdbError::Invalid {
                offset: at,
                expected: "a string encoding (int8, int16, int32 or LZF)",
            }),
        }
    }

    /// Reads one value of object type `t` (whose type byte was at `at`).
    fn value(&mut self, t: u8, at: u64) -> Result<RdbValue, RdbError> {
        match t {
            types::STRING => Ok(RdbValue::String(self.string("a string value")?)),
            types::LIST => {
                let n = self.len("the number of list elements")?;
                let mut items = Vec::with_capacity(reserve(n));
                for _ in 0..n {
                    items.push(self.string("a list element")?);
                }
                Ok(RdbValue::List(items))
            }
            types::SET => {
                let n = self.len("the number of set members")?;
                let mut items = Vec::with_capacity(reserve(n));
                for _ in 0..n {
                    items.push(self.string("a set member")?);
                }
                unique(items.iter(), at, "set members without duplicates")?;
                Ok(RdbValue::Set(items))
            }
            types::ZSET | types::ZSET_2 => {
                let n = self.len("the number of sorted set members")?;
                let mut items = Vec::with_capacity(reserve(n));
                for _ in 0..n {
                    let member = self.string("a sorted set member")?;
                    let score_at = self.offset();
                    let score = if t == types::ZSET {
                        self.legacy_double()?
                    } else {
                        f64::from_le_bytes(self.array("an 8-byte score")?)
                    };
                    if score.is_nan() {
                        return Err(RdbError::Invalid {
                            offset: score_at,
                            expected: "a score that is not NaN",
                        });
                    }
                    items.push((member, score));
                }
                unique(
                    items.iter().map(|(m, _)| m),
                    at,
                    "sorted set members without duplicates",
                )?;
                Ok(RdbValue::SortedSet(items))
            }
            types::HASH => {
                let n = self.len("the number of hash fields")?;
                let mut items = Vec::with_capacity(reserve(n));
                for _ in 0..n {
                    let field = self.string("a hash field")?;
                    let value = self.string("a hash value")?;
                    items.push((field, value));
                }
                unique(
                    items.iter().map(|(f, _)| f),
                    at,
                    "hash fields without duplicates",
                )?;
                Ok(RdbValue::Hash(items))
            }
            types::HASH_ZIPMAP => {
                let (blob_at, blob) = self.blob("a zipmap")?;
                let ranges =
                    ziplist::parse_zipmap(&blob).map_err(|e| blob_error(blob_at, "zipmap", e))?;
                let pairs: Vec<(Bytes, Bytes)> = ranges
                    .into_iter()
                    .map(|(k, v)| (blob.slice(k), blob.slice(v)))
                    .collect();
                unique(
                    pairs.iter().map(|(f, _)| f),
                    at,
                    "hash fields without duplicates",
                )?;
                Ok(RdbValue::Hash(pairs))
            }
            types::LIST_ZIPLIST => {
                let mut items = Vec::new();
                self.ziplist_into(&mut items)?;
                Ok(RdbValue::List(items))
            }
            types::SET_INTSET => {
                let (blob_at, blob) = self.blob("an intset")?;
                let ints = intset::parse(&blob).map_err(|e| blob_error(blob_at, "intset", e))?;
                Ok(RdbValue::Set(
                    ints.into_iter()
                        .map(|v| Bytes::from(v.to_string()))
                        .collect(),
                ))
            }
            types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
                let mut flat = Vec::new();
                let blob_at = self.offset();
                if t == types::ZSET_ZIPLIST {
                    self.ziplist_into(&mut flat)?;
                } else {
                    self.listpack_into(&mut flat, "zset listpack")?;
                }
                let pairs = zset_pairs(flat, blob_at, at)?;
                Ok(RdbValue::SortedSet(pairs))
            }
            types::HASH_ZIPLIST | types::HASH_LISTPACK => {
                let mut flat = Vec::new();
                let blob_at = self.offset();
                if t == types::HASH_ZIPLIST {
                    self.ziplist_into(&mut flat)?;
                } else {
                    self.listpack_into(&mut flat, "hash listpack")?;
                }
                let pairs = pairs(flat, blob_at)?;
                unique(
                    pairs.iter().map(|(f, _)| f),
                    at,
                    "hash fields without duplicates",
                )?;
                Ok(RdbValue::Hash(pairs))
            }
            types::LIST_QUICKLIST => {
                let n = self.len("the number of quicklist nodes")?;
                let mut items = Vec::new();
                for _ in 0..n {
                    self.ziplist_into(&mut items)?;
                }
                Ok(RdbValue::List(items))
            }
            types::LIST_QUICKLIST_2 => {
                let n = self.len("the number of quicklist nodes")?;
                let mut items = Vec::new();
                for _ in 0..n {
                    let c_at = self.offset();
                    match self.len("a quicklist node container")? {
                        container::PLAIN => items.push(self.string("a plain quicklist node")?),
                        container::PACKED => {
                            self.listpack_into(&mut items, "quicklist node listpack")?
                        }
                        _ => {
                            return Err(RdbError::Invalid {
                                offset: c_at,
                                expected: "a quicklist container of 1 (plain) or 2 (packed)",
                            })
                        }
                    }
                }
                Ok(RdbValue::List(items))
            }
            _ => Err(refused(t, at).unwrap_or(RdbError::UnknownType {
                offset: at,
                byte: t,
            })),
        }
    }

    fn legacy_double(&mut self) -> Result<f64, RdbError> {
        let at = self.offset();
        match self.u8("the length of a text score")? {
            legacy_double::NAN => Ok(f64::NAN),
            legacy_double::POS_INF => Ok(f64::INFINITY),
            legacy_double::NEG_INF => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.bytes(u64::from(n), "a text score")?;
                parse_score(&text).ok_or(RdbError::Invalid {
                    offset: at,
                    expected: "a decimal score",
                })
            }
        }
    }

    /// Reads a string holding a blob; returns its offset and bytes.
    fn blob(&mut self, expected: &'static str) -> Result<(u64, Bytes), RdbError> {
        let at = self.offset();
        Ok((at, self.string(expected)?))
    }

    fn ziplist_into(&mut self, out: &mut Vec<Bytes>) -> Result<(), RdbError> {
        let (at, blob) = self.blob("a ziplist")?;
        ziplist::for_each(&blob, |e| {
            out.push(entry_bytes(&blob, e));
            Ok(())
        })
        .map_err(|e| blob_error(at, "ziplist", e))?;
        Ok(())
    }

    fn listpack_into(&mut self, out: &mut Vec<Bytes>, what: &'static str) -> Result<(), RdbError> {
        let (at, blob) = self.blob(what)?;
        listpack::for_each(&blob, |e| {
            out.push(entry_bytes(&blob, e));
            Ok(())
        })
        .map_err(|e| blob_error(at, what, e))?;
        Ok(())
    }
}

/// The error for object types this crate knows but does not decode (their bodies are not
/// read, so nothing after them can be trusted).
fn refused(t: u8, at: u64) -> Option<RdbError> {
    let what = match t {
        types::MODULE_PRE_GA | types::MODULE_2 => "a module value",
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
            "a stream"
        }
        types::SET_LISTPACK => "a set listpack (RDB 11, Redis 7.2)",
        _ => return None,
    };
    Some(RdbError::Unsupported {
        offset: at,
        byte: t,
        what,
    })
}

enum Len {
    Plain(u64),
    Special(u8),
}

fn reserve(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX).min(MAX_RESERVE)
}

fn blob_error(offset: u64, encoding: &'static str, e: BlobError) -> RdbError {
    RdbError::Blob {
        offset,
        encoding,
        at: e.at,
        expected: e.expected,
    }
}

fn entry_bytes(blob: &Bytes, e: Entry) -> Bytes {
    match e {
        Entry::Int(v) => Bytes::from(v.to_string()),
        Entry::Str(r) => blob.slice(r),
    }
}

/// Fails when two items are equal. The set uses std's keyed SipHash, so crafted input cannot
/// force collisions (RESTORE payloads come from clients).
fn unique<'a>(
    items: impl ExactSizeIterator<Item = &'a Bytes>,
    offset: u64,
    expected: &'static str,
) -> Result<(), RdbError> {
    if items.len() < 2 {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(items.len());
    for item in items {
        if !seen.insert(item.as_ref()) {
            return Err(RdbError::Invalid { offset, expected });
        }
    }
    Ok(())
}

fn pairs(flat: Vec<Bytes>, blob_at: u64) -> Result<Vec<(Bytes, Bytes)>, RdbError> {
    if flat.len() & 1 == 1 {
        return Err(RdbError::Invalid {
            offset: blob_at,
            expected: "an even number of entries (pairs)",
        });
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn zset_pairs(flat: Vec<Bytes>, blob_at: u64, at: u64) -> Result<Vec<(Bytes, f64)>, RdbError> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    for (member, score) in pairs(flat, blob_at)? {
        let Some(score) = parse_score(&score) else {
            return Err(RdbError::Invalid {
                offset: blob_at,
                expected: "a decimal score that is not NaN",
            });
        };
        out.push((member, score));
    }
    unique(
        out.iter().map(|(m, _)| m),
        at,
        "sorted set members without duplicates",
    )?;
    Ok(out)
}

/// Streams the items of an RDB file. Create with [`RdbReader::new`], then call
/// [`next_item`](Self::next_item) (or iterate) until `Eof`.
pub struct RdbReader<R> {
    input: Input<R>,
    version: u16,
    pending: KeyMeta,
    done: bool,
}

impl<R: Read> RdbReader<BufReader<R>> {
    /// Wraps a plain `Read` in a 64 KB `BufReader`.
    pub fn from_read(inner: R) -> Result<Self, RdbError> {
        RdbReader::new(BufReader::with_capacity(64 * 1024, inner))
    }
}

impl<R: BufRead> RdbReader<R> {
    /// Reads and checks the magic and version (1 to 10).
    pub fn new(inner: R) -> Result<Self, RdbError> {
        let mut input = Input::new(inner, true);
        let head: [u8; 9] = input.array("the 9-byte signature REDIS0010")?;
        if &head[..5] != MAGIC {
            return Err(RdbError::BadMagic { offset: 0 });
        }
        if !head[5..].iter().all(u8::is_ascii_digit) {
            return Err(RdbError::BadMagic { offset: 5 });
        }
        let version = head[5..]
            .iter()
            .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        if version < u32::from(MIN_RDB_VERSION) || version > u32::from(RDB_VERSION) {
            return Err(RdbError::UnsupportedVersion { offset: 5, version });
        }
        Ok(Self {
            input,
            version: version as u16,
            pending: KeyMeta::default(),
            done: false,
        })
    }

    /// Returns the file's RDB version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Returns the offset of the next byte to read.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// Returns the next item, `Ok(None)` after `Eof` or after an error.
    pub fn next_item(&mut self) -> Result<Option<RdbItem>, RdbError> {
        if self.done {
            return Ok(None);
        }
        let item = self.read_item();
        if !matches!(
            item,
            Ok(RdbItem::Aux { .. }
                | RdbItem::SelectDb(_)
                | RdbItem::ResizeDb { .. }
                | RdbItem::Entry(_))
        ) {
            self.done = true;
        }
        item.map(Some)
    }

    /// Returns the inner reader, positioned after the last byte read (after the checksum once
    /// `Eof` was returned).
    pub fn into_inner(mut self) -> R {
        let _ = self.input.commit();
        self.input.inner
    }

    fn read_item(&mut self) -> Result<RdbItem, RdbError> {
        loop {
            let at = self.input.offset();
            let b = self.input.u8("an opcode or object type")?;
            match b {
                opcode::AUX => {
                    let key = self.input.string("an aux field key")?;
                    let value = self.input.string("an aux field value")?;
                    return Ok(RdbItem::Aux { key, value });
                }
                opcode::SELECTDB => {
                    return Ok(RdbItem::SelectDb(self.input.len("a database number")?));
                }
                opcode::RESIZEDB => {
                    let db_size = self.input.len("the RESIZEDB key count")?;
                    let expires_size = self.input.len("the RESIZEDB expire count")?;
                    return Ok(RdbItem::ResizeDb {
                        db_size,
                        expires_size,
                    });
                }
                opcode::EXPIRETIME_MS => {
                    let ms = i64::from_le_bytes(self.input.array("an 8-byte expire time")?);
                    self.pending.expire_ms = Some(ms);
                }
                opcode::EXPIRETIME => {
                    let secs = i32::from_le_bytes(self.input.array("a 4-byte expire time")?);
                    self.pending.expire_ms = Some(i64::from(secs) * 1000);
                }
                opcode::IDLE => self.pending.lru_idle = Some(self.input.len("an LRU idle time")?),
                opcode::FREQ => self.pending.lfu_freq = Some(self.input.u8("an LFU counter")?),
                opcode::MODULE_AUX => {
                    return Err(RdbError::Unsupported {
                        offset: at,
                        byte: b,
                        what: "module aux data",
                    })
                }
                opcode::FUNCTION2 | opcode::FUNCTION_PRE_GA => {
                    return Err(RdbError::Unsupported {
                        offset: at,
                        byte: b,
                        what: "a function library",
                    })
                }
                opcode::SLOT_INFO => {
                    return Err(RdbError::Unsupported {
                        offset: at,
                        byte: b,
                        what: "cluster slot info (RDB 12)",
                    })
                }
                opcode::EOF => return self.read_checksum(),
                t if type_name(t).is_none() => {
                    return Err(RdbError::UnknownType {
                        offset: at,
                        byte: t,
                    })
                }
                t => {
                    // Refuse before reading the key: these bodies cannot be skipped.
                    if let Some(e) = refused(t, at) {
                        return Err(e);
                    }
                    let key = self.input.string("a key")?;
                    let value = self.input.value(t, at)?;
                    let meta = std::mem::take(&mut self.pending);
                    return Ok(RdbItem::Entry(RdbEntry {
                        key,
                        value,
                        meta,
                        rdb_type: t,
                    }));
                }
            }
        }
    }

    fn read_checksum(&mut self) -> Result<RdbItem, RdbError> {
        self.input.commit()?;
        if self.version < CHECKSUM_SINCE_VERSION {
            return Ok(RdbItem::Eof(Checksum::Absent));
        }
        let computed = self.input.crc.value();
        self.input.crc_on = false;
        let at = self.input.offset();
        let stored = u64::from_le_bytes(self.input.array("the 8-byte checksum")?);
        self.input.commit()?;
        if stored == 0 {
            Ok(RdbItem::Eof(Checksum::Disabled))
        } else if stored != computed {
            Err(RdbError::Checksum {
                offset: at,
                stored,
                computed,
            })
        } else {
            Ok(RdbItem::Eof(Checksum::Verified(stored)))
        }
    }
}

impl<R: BufRead> Iterator for RdbReader<R> {
    type Item = Result<RdbItem, RdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

/// Parses a DUMP payload (as RESTORE receives it): checks the footer (RDB version at most 10,
/// CRC-64 of everything before the CRC) and decodes the one value, which must fill the body.
pub fn parse_dump_payload(payload: &[u8]) -> Result<RdbValue, RdbError> {
    let len = payload.len();
    if len < 10 {
        return Err(RdbError::DumpTooShort { len });
    }
    let body_end = len - 10;
    let version = u16::from_le_bytes([payload[body_end], payload[body_end + 1]]);
    if version > RDB_VERSION {
        return Err(RdbError::DumpVersion {
            offset: body_end as u64,
            version,
        });
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&payload[len - 8..]);
    let stored = u64::from_le_bytes(stored);
    let computed = crc64(&payload[..len - 8]);
    if stored != computed {
        return Err(RdbError::DumpChecksum {
            offset: (len - 8) as u64,
            stored,
            computed,
        });
    }
    let mut input = Input::new(&payload[..body_end], false);
    let t = input.u8("an object type")?;
    if type_name(t).is_none() {
        return Err(RdbError::UnknownType { offset: 0, byte: t });
    }
    let value = input.value(t, 0)?;
    if input.offset() != body_end as u64 {
        return Err(RdbError::Invalid {
            offset: input.offset(),
            expected: "the end of the value before the footer",
        });
    }
    Ok(value)
}
