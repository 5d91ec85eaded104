//! The RDB file format, version 10 as Redis 7.0 writes it (see `shared/reference/rdb.md`).
//!
//! This module is a pure format layer: it knows bytes and its own value model
//! ([`RdbValue`]), never the keyspace. The store converts in both directions.
//!
//! # Reading
//!
//! [`RdbReader`] decodes a file from any `BufRead` (or any `Read` through
//! [`RdbReader::from_read`]) one [`RdbItem`] at a time: aux fields, database switches, resize
//! hints, keys with their expire/LRU/LFU metadata, and finally `Eof` once the CRC-64 trailer is
//! verified. Only one value is in memory at a time. Every encoding versions 1 to 10 can hold
//! for strings, lists, sets, sorted sets and hashes is decoded into the plain [`RdbValue`]
//! form; streams, module values, module aux data and function libraries are refused with an
//! error that names them and their offset.
//!
//! # Writing
//!
//! [`RdbWriter`] writes `REDIS0010`, the aux fields Redis 7.0 writes, then the keys, and
//! `finish` adds the EOF opcode and checksum. The caller chooses each value's on-disk encoding
//! the way Redis chooses from its in-memory encoding ([`ValueEncoding`],
//! [`RdbValue::redis_encoding`]), or calls a typed method (`write_list`, `write_set_intset`,
//! ...) that takes iterators over borrowed data.
//!
//! # DUMP / RESTORE
//!
//! [`dump_payload`] and [`parse_dump_payload`]: one value (type byte + body) followed by the
//! RDB version (2 bytes LE) and the CRC-64 of everything before it (8 bytes LE).
//!
//! # Bad input
//!
//! Every error is an [`RdbError`] carrying the byte offset. Lengths read from the input never
//! size an allocation by themselves: buffers grow as bytes actually arrive, counts pre-reserve
//! at most a small bound, and LZF output is capped by the largest ratio the format allows.
//!
//! # Deviations
//!
//! - Empty collections are decoded as empty values (Redis's loader skips them with a warning);
//!   the store decides to skip them. The writer refuses to write them.
//! - Duplicate set members, hash fields and sorted-set members are errors in every encoding,
//!   not only under `sanitize-dump-payload yes`, so the store can build maps without checking.

mod consts;
mod crc;
mod error;
mod intset;
mod listpack;
mod lzf;
mod num;
mod read;
mod value;
mod write;
mod ziplist;

#[cfg(test)]
mod tests;

pub use consts::{type_name, RDB_VERSION, REDIS_VER};
pub use crc::{crc64, Crc64};
pub use error::RdbError;
pub use read::{parse_dump_payload, Checksum, RdbEntry, RdbItem, RdbReader};
pub use value::{EncodingLimits, RdbValue, ValueEncoding};
pub use write::{dump_payload, KeyMeta, RdbWriter, ReplAux, WriterOptions};
