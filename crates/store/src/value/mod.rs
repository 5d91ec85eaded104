//! Values held by the keyspace, one variant per Redis type, each with the compact encodings
//! Redis 7.0 uses (they decide `OBJECT ENCODING`, RDB layout and memory use).
//!
//! | type   | small encoding            | large encoding | switch (config)                     |
//! |--------|---------------------------|----------------|-------------------------------------|
//! | string | `int` / `embstr` (<= 44 B)| `raw`          | value shape                         |
//! | list   | `quicklist` (always, 7.0) |                |                                     |
//! | hash   | `listpack`                | `hashtable`    | hash-max-listpack-entries / -value  |
//! | set    | `intset`                  | `hashtable`    | set-max-intset-entries, non-integer |
//! | zset   | `listpack`                | `skiplist`     | zset-max-listpack-entries / -value  |
//!
//! A collection only ever grows into its large encoding; like Redis, it does not convert back
//! when it shrinks (except on load/RESTORE, which picks the encoding from the data).
//! Empty collections never stay in the keyspace: the command that empties one deletes the key.

pub mod hash;
pub mod intset;
pub mod list;
pub mod listpack;
pub mod packed;
pub mod scorepack;
pub mod set;
pub mod zset;

use bytes::Bytes;

pub use hash::HashValue;
pub use list::ListValue;
pub use set::SetValue;
pub use zset::ZSetValue;

use crate::config::StoreConfig;

/// The decimal text of `n`, as a string value or reply holds it.
pub fn int_bytes(n: i64) -> Bytes {
    let mut buf = itoa::Buffer::new();
    Bytes::copy_from_slice(buf.format(n).as_bytes())
}

/// Shortest stored string that a reply shares instead of copying (Redis's reply chunk).
const SHARE_MIN: usize = 16 * 1024;

/// The bytes `range` of a stored string, for a reply or any other owner outside the keyspace.
///
/// A stored string is a `Bytes` built from a `Vec`, and the first `clone` (or `slice`) of such
/// a `Bytes` allocates a shared header that then stays with the value for good: a GET would
/// add 32 bytes to every key it ever read (1M keys read once: +32 MB RSS, measured). So a
/// short string is copied, as Redis copies it into the output buffer; a long one is shared,
/// where the header is noise next to the copy it saves.
pub fn share_str(s: &Bytes, range: impl std::ops::RangeBounds<usize>) -> Bytes {
    let part = &s[(range.start_bound().cloned(), range.end_bound().cloned())];
    if part.len() < SHARE_MIN {
        Bytes::copy_from_slice(part)
    } else {
        s.slice_ref(part)
    }
}

/// Makes room for `additional` more elements in a compact encoding's vector (intset,
/// sorted-set listpack), growing it by at least a quarter instead of doubling: these vectors are small and
/// many, so doubling's slack (a 10-member sorted set held room for 16) is the memory that
/// matters, while a quarter still keeps inserts amortised O(1).
pub(crate) fn reserve_small<T>(v: &mut Vec<T>, additional: usize) {
    if v.len() + additional > v.capacity() {
        v.reserve_exact(additional.max(v.capacity() / 4));
    }
}

/// Largest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

/// A key's value. Hashes, sets and sorted sets sit in place (each is at most 32 bytes, and
/// a small one is just its compact buffer); a list's chunk deque is boxed. Every keyspace
/// slot holds one, so its size is the per-key cost of the whole store: see the assertion.
#[derive(Debug, Clone)]
pub enum Value {
    Str(Bytes),
    List(Box<ListValue>),
    Hash(HashValue),
    Set(SetValue),
    ZSet(ZSetValue),
}

const _: () = assert!(std::mem::size_of::<Value>() == 40);

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding_name(&self, cfg: &StoreConfig) -> &'static str {
        match self {
            Value::Str(s) => string_encoding(s),
            Value::List(l) => l.encoding_name(cfg),
            Value::Hash(h) => h.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
        }
    }
}

/// How a string value was built, when that (and not only its bytes) decides its
/// `OBJECT ENCODING`, as in Redis where the object's encoding is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrEncoding {
    /// From the bytes (`int`, `embstr`, `raw`): what SET and loading do.
    #[default]
    Auto,
    /// Never `int` (`embstr` up to 44 bytes, else `raw`): INCRBYFLOAT's result.
    NoInt,
    /// Always `raw`: a string modified in place (APPEND, SETRANGE, SETBIT).
    Raw,
}

/// `OBJECT ENCODING` of the string `s` built as `how` says.
pub fn string_encoding_as(s: &[u8], how: StrEncoding) -> &'static str {
    match how {
        StrEncoding::Auto => string_encoding(s),
        StrEncoding::NoInt if s.len() <= EMBSTR_MAX => "embstr",
        StrEncoding::NoInt | StrEncoding::Raw => "raw",
    }
}

/// `int` when the string is the canonical form of an i64 (what `string2ll` accepts and
/// `ll2string` gives back), `embstr` up to 44 bytes, else `raw`.
pub fn string_encoding(s: &[u8]) -> &'static str {
    if s.len() <= 20 && parse_canonical_i64(s).is_some() {
        "int"
    } else if s.len() <= EMBSTR_MAX {
        "embstr"
    } else {
        "raw"
    }
}

/// Parses `s` as an i64 only if it is written exactly as Redis would print it: no sign on
/// zero, no leading zeros, no `+`, no spaces.
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = (d - b'0') as i64;
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// Memory estimate for `MEMORY USAGE`, in the spirit of Redis's `objectComputeSize`: the
/// fixed cost of the value plus the size of its elements in ferrokv's layout, extrapolated
/// from the first `samples` elements (0 = all of them) for collections.
pub fn approx_memory(value: &Value, samples: usize) -> usize {
    use crate::key::{Key, INLINE_CAP};
    /// A list element, field, member or small value stored as a [`Key`]: in place up to 22
    /// bytes, boxed beyond.
    fn stored(len: usize) -> usize {
        std::mem::size_of::<Key>() + if len > INLINE_CAP { len } else { 0 }
    }
    /// One bucket of a `DenseMap` index: a `u32` position and a control byte.
    const BUCKET: usize = 5;
    /// A sorted-set tree node beside its member: score, two links, subtree size, priority.
    const TREE_NODE: usize = 8 + 4 * 4;
    fn extrapolate<I: Iterator<Item = usize>>(sizes: I, len: usize, samples: usize) -> usize {
        let take = if samples == 0 { len } else { samples.min(len) };
        let (mut n, mut sum) = (0usize, 0usize);
        for s in sizes.take(take) {
            n += 1;
            sum += s;
        }
        (sum * len).checked_div(n).unwrap_or(0)
    }
    let base = std::mem::size_of::<Value>() + 16;
    base + match value {
        Value::Str(s) => s.len(),
        Value::List(l) => l.allocated_bytes(),
        Value::Hash(h) => {
            let listpack = h.encoding_name() == "listpack";
            extrapolate(
                h.iter().map(|(f, v)| match listpack {
                    // Both strings packed with a one- or two-byte length each.
                    true => f.len() + v.len() + 2,
                    false => stored(f.len()) + stored(v.len()) + BUCKET,
                }),
                h.len(),
                samples,
            )
        }
        Value::Set(s) => match s.intset() {
            Some(ints) => ints.allocated_bytes(),
            None => extrapolate(
                s.iter_bytes().map(|m| stored(m.len()) + BUCKET),
                s.len(),
                samples,
            ),
        },
        Value::ZSet(ZSetValue::Listpack(pack)) => pack.allocated_bytes(),
        Value::ZSet(z) => extrapolate(
            // The member map's copy and the tree node's.
            z.iter()
                .map(|(m, _)| 2 * stored(m.len()) + 8 + BUCKET + TREE_NODE),
            z.len(),
            samples,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers() {
        for (s, want) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("01", None),
            ("-0", None),
            ("+1", None),
            (" 1", None),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(parse_canonical_i64(s.as_bytes()), want, "{s}");
        }
    }

    #[test]
    fn string_encodings() {
        assert_eq!(string_encoding(b"123"), "int");
        assert_eq!(string_encoding(b"0123"), "embstr");
        assert_eq!(string_encoding(&[b'a'; 44]), "embstr");
        assert_eq!(string_encoding(&[b'a'; 45]), "raw");
    }

    #[test]
    fn memory_estimate_follows_the_layout() {
        let cfg = crate::config::StoreConfig::default();
        let mut h = HashValue::new();
        for i in 0..1000 {
            h.set(format!("field:{i}").as_bytes(), b"v", &cfg);
        }
        assert_eq!(h.encoding_name(), "hashtable");
        let base = std::mem::size_of::<Value>() + 16;
        // Two inline Keys and an index bucket per pair.
        assert_eq!(approx_memory(&Value::Hash(h.clone()), 0), base + 1000 * 53);
        // A long value adds its own bytes; sampling extrapolates.
        let mut long = HashValue::new();
        for i in 0..200 {
            long.set(format!("f{i}").as_bytes(), &[b'x'; 100], &cfg);
        }
        assert_eq!(
            approx_memory(&Value::Hash(long.clone()), 5),
            approx_memory(&Value::Hash(long), 0)
        );
        let ints = SetValue::from_members((0..10).map(int_bytes), &cfg);
        // Ten members below 2^15: two bytes each.
        assert_eq!(approx_memory(&Value::Set(ints), 0), base + 20);
    }

    #[test]
    fn share_str_copies_short_ranges_and_shares_long_ones() {
        let short = Bytes::from(b"hello world".to_vec());
        let out = share_str(&short, 6..);
        assert_eq!(&out[..], b"world");
        assert_ne!(out.as_ptr(), short[6..].as_ptr(), "a short range is a copy");
        assert_eq!(&share_str(&short, ..=4)[..], b"hello");
        assert_eq!(&share_str(&short, ..)[..], &short[..]);
        assert!(share_str(&short, 3..3).is_empty());

        let long = Bytes::from(vec![7u8; SHARE_MIN + 10]);
        let all = share_str(&long, ..);
        assert_eq!(all.as_ptr(), long.as_ptr(), "a long string is shared");
        assert_eq!(all.len(), long.len());
        let tail = share_str(&long, 9..);
        assert_eq!(tail.len(), SHARE_MIN + 1);
        assert_eq!(tail.as_ptr(), long[9..].as_ptr());
        let head = share_str(&long, ..SHARE_MIN - 1);
        assert_ne!(
            head.as_ptr(),
            long.as_ptr(),
            "a short range of a long string is a copy"
        );
    }
}
