//! The format layer's value model and the choice of on-disk encoding.

use bytes::Bytes;

use super::consts::types;
use super::num::canonical_i64;

/// A decoded value: every on-disk encoding of a type becomes the same plain form. Integers
/// stored in integer encodings come back as their decimal strings.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    String(Bytes),
    /// Elements from head to tail.
    List(Vec<Bytes>),
    /// Members in file order (unique).
    Set(Vec<Bytes>),
    /// (member, score) in file order (members unique, no NaN scores).
    SortedSet(Vec<(Bytes, f64)>),
    /// (field, value) in file order (fields unique).
    Hash(Vec<(Bytes, Bytes)>),
}

impl RdbValue {
    /// Returns the Redis type name (`TYPE` reply) of the value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::String(_) => "string",
            Self::List(_) => "list",
            Self::Set(_) => "set",
            Self::SortedSet(_) => "zset",
            Self::Hash(_) => "hash",
        }
    }

    /// Returns true for a collection without elements (Redis never writes those).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Self::String(_) => false,
            Self::List(v) | Self::Set(v) => v.is_empty(),
            Self::SortedSet(v) => v.is_empty(),
            Self::Hash(v) => v.is_empty(),
        }
    }

    /// Returns the encoding Redis 7.0 would write for this value if it had just been built
    /// with commands under `limits` (the `*-max-*` config values).
    pub fn redis_encoding(&self, limits: &EncodingLimits) -> ValueEncoding {
        match self {
            Self::String(_) => ValueEncoding::String,
            Self::List(_) => ValueEncoding::ListQuicklist2,
            Self::Set(m) => {
                if m.len() <= limits.set_max_intset_entries
                    && m.iter().all(|s| canonical_i64(s).is_some())
                {
                    ValueEncoding::SetIntset
                } else {
                    ValueEncoding::SetHashtable
                }
            }
            Self::SortedSet(e) => {
                if e.len() <= limits.zset_max_listpack_entries
                    && e.iter()
                        .all(|(m, _)| m.len() <= limits.zset_max_listpack_value)
                {
                    ValueEncoding::ZsetListpack
                } else {
                    ValueEncoding::ZsetSkiplist
                }
            }
            Self::Hash(e) => {
                if e.len() <= limits.hash_max_listpack_entries
                    && e.iter().all(|(f, v)| {
                        f.len() <= limits.hash_max_listpack_value
                            && v.len() <= limits.hash_max_listpack_value
                    })
                {
                    ValueEncoding::HashListpack
                } else {
                    ValueEncoding::HashHashtable
                }
            }
        }
    }
}

/// The on-disk encodings Redis 7.0 writes, one per RDB object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueEncoding {
    /// Type 0: raw, integer or LZF string.
    String,
    /// Type 18: quicklist of listpack nodes of at most 8 KB (`list-max-listpack-size -2`).
    ListQuicklist2,
    /// Type 11: intset (members must all be canonical integers).
    SetIntset,
    /// Type 2: plain member list.
    SetHashtable,
    /// Type 17: listpack of member, score pairs sorted by (score, member).
    ZsetListpack,
    /// Type 5: member + binary double pairs, highest score first as Redis writes them.
    ZsetSkiplist,
    /// Type 16: listpack of field, value pairs.
    HashListpack,
    /// Type 4: plain field, value list.
    HashHashtable,
}

impl ValueEncoding {
    /// Returns the RDB object type byte of this encoding.
    pub fn type_byte(self) -> u8 {
        match self {
            Self::String => types::STRING,
            Self::ListQuicklist2 => types::LIST_QUICKLIST_2,
            Self::SetIntset => types::SET_INTSET,
            Self::SetHashtable => types::SET,
            Self::ZsetListpack => types::ZSET_LISTPACK,
            Self::ZsetSkiplist => types::ZSET_2,
            Self::HashListpack => types::HASH_LISTPACK,
            Self::HashHashtable => types::HASH,
        }
    }
}

/// Redis's compact-encoding limits (config names `set-max-intset-entries`,
/// `zset-max-listpack-entries`, ...), defaulting to Redis 7.0.15's defaults as `CONFIG GET`
/// shows them (note `hash-max-listpack-entries` is 512, not 128 like the zset limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingLimits {
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        Self {
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn encodings_follow_redis_defaults() {
        let l = EncodingLimits::default();
        let ints = RdbValue::Set((0..512).map(|i| b(&i.to_string())).collect());
        assert_eq!(ints.redis_encoding(&l), ValueEncoding::SetIntset);
        let many = RdbValue::Set((0..513).map(|i| b(&i.to_string())).collect());
        assert_eq!(many.redis_encoding(&l), ValueEncoding::SetHashtable);
        let non_canonical = RdbValue::Set(vec![b("1"), b("01")]);
        assert_eq!(
            non_canonical.redis_encoding(&l),
            ValueEncoding::SetHashtable
        );
        let small_zset = RdbValue::SortedSet(vec![(b("a"), 1.0)]);
        assert_eq!(small_zset.redis_encoding(&l), ValueEncoding::ZsetListpack);
        let long_member = RdbValue::SortedSet(vec![(Bytes::from(vec![b'm'; 65]), 1.0)]);
        assert_eq!(long_member.redis_encoding(&l), ValueEncoding::ZsetSkiplist);
        let hash = RdbValue::Hash((0..512).map(|i| (b(&i.to_string()), b("v"))).collect());
        assert_eq!(hash.redis_encoding(&l), ValueEncoding::HashListpack);
        let hash = RdbValue::Hash((0..513).map(|i| (b(&i.to_string()), b("v"))).collect());
        assert_eq!(hash.redis_encoding(&l), ValueEncoding::HashHashtable);
        let long_value = RdbValue::Hash(vec![(b("f"), Bytes::from(vec![b'v'; 65]))]);
        assert_eq!(long_value.redis_encoding(&l), ValueEncoding::HashHashtable);
        assert_eq!(
            RdbValue::List(vec![]).redis_encoding(&l),
            ValueEncoding::ListQuicklist2
        );
    }
}
