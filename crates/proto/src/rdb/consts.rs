//! Byte values of the RDB format: magic, versions, opcodes, object types and the length and
//! string encodings, named as in `shared/reference/rdb.md`.
//!
//! ```text
//! "REDIS" "0010"  { opcode ... }*  0xFF  crc64 (8 bytes LE, RDB >= 5)
//! ```

/// The first five bytes of every RDB file, followed by four ASCII digits of version.
pub const MAGIC: &[u8; 5] = b"REDIS";
/// The version this crate writes (what Redis 7.0 writes) and the newest one it reads.
pub const RDB_VERSION: u16 = 10;
/// The oldest version loaders accept.
pub const MIN_RDB_VERSION: u16 = 1;
/// Files of this version and later end with an 8-byte CRC-64 after the EOF opcode.
pub const CHECKSUM_SINCE_VERSION: u16 = 5;

/// Opcodes: bytes that appear where an object type could and mean something else.
pub mod opcode {
    /// 7.4 cluster slot info; not valid in a version-10 file.
    pub const SLOT_INFO: u8 = 0xF4;
    /// A Function library: one string with the whole library source.
    pub const FUNCTION2: u8 = 0xF5;
    /// 7.0 release-candidate function format (name, engine, description, code).
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    /// Module auxiliary data.
    pub const MODULE_AUX: u8 = 0xF7;
    /// LRU idle time of the next key, in seconds (a length).
    pub const IDLE: u8 = 0xF8;
    /// LFU counter of the next key (one byte).
    pub const FREQ: u8 = 0xF9;
    /// Auxiliary field: two strings, key and value.
    pub const AUX: u8 = 0xFA;
    /// Hash table size hints: two lengths, keys and keys with an expire.
    pub const RESIZEDB: u8 = 0xFB;
    /// Absolute expire time of the next key in Unix milliseconds (8 bytes LE, signed).
    pub const EXPIRETIME_MS: u8 = 0xFC;
    /// Absolute expire time of the next key in Unix seconds (4 bytes LE, legacy).
    pub const EXPIRETIME: u8 = 0xFD;
    /// Switch database: one length.
    pub const SELECTDB: u8 = 0xFE;
    /// End of file; the checksum follows.
    pub const EOF: u8 = 0xFF;
}

/// Object type bytes (the byte before the key).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Quicklist-2 node containers.
pub mod container {
    /// The node blob is one raw element (Redis 7.0 uses it for elements of 1 GB and more).
    pub const PLAIN: u64 = 1;
    /// The node blob is a listpack.
    pub const PACKED: u64 = 2;
}

/// Length encoding: the two top bits of the first byte.
pub mod len {
    pub const BITS_6: u8 = 0;
    pub const BITS_14: u8 = 1;
    /// `0x80` + 4 bytes big-endian; `0x81` + 8 bytes big-endian.
    pub const BITS_32: u8 = 0x80;
    pub const BITS_64: u8 = 0x81;
    /// `11xxxxxx`: a special string encoding, low 6 bits say which.
    pub const ENCVAL: u8 = 3;
}

/// Special string encodings (low 6 bits after `11`).
pub mod enc {
    pub const INT8: u8 = 0;
    pub const INT16: u8 = 1;
    pub const INT32: u8 = 2;
    pub const LZF: u8 = 3;
}

/// Legacy (type 3) ASCII double markers.
pub mod legacy_double {
    pub const NAN: u8 = 253;
    pub const POS_INF: u8 = 254;
    pub const NEG_INF: u8 = 255;
}

/// `redis-ver` written in the aux fields: the version whose file format we produce.
pub const REDIS_VER: &str = "7.0.15";

/// Name of an object type as `redis-check-rdb` prints it, or `None` for an unknown byte.
pub fn type_name(byte: u8) -> Option<&'static str> {
    use types::*;
    Some(match byte {
        STRING => "string",
        LIST => "list-linked",
        SET => "set-hashtable",
        ZSET => "zset-v1",
        HASH => "hash-hashtable",
        ZSET_2 => "zset-v2",
        MODULE_PRE_GA => "module-pre-release",
        MODULE_2 => "module-value",
        HASH_ZIPMAP => "hash-zipmap",
        LIST_ZIPLIST => "list-ziplist",
        SET_INTSET => "set-intset",
        ZSET_ZIPLIST => "zset-ziplist",
        HASH_ZIPLIST => "hash-ziplist",
        LIST_QUICKLIST => "quicklist",
        STREAM_LISTPACKS => "stream",
        HASH_LISTPACK => "hash-listpack",
        ZSET_LISTPACK => "zset-listpack",
        LIST_QUICKLIST_2 => "quicklist-v2",
        STREAM_LISTPACKS_2 => "stream-v2",
        SET_LISTPACK => "set-listpack",
        STREAM_LISTPACKS_3 => "stream-v3",
        _ => return None,
    })
}
