//! `Key`: how a key is stored inside the keyspace.
//!
//! Keys are binary. Most keys are short (`user:1000`, `key:000000012345`), so a key of up to
//! [`INLINE_CAP`] bytes lives inline in the map's entry and costs no allocation; a longer one
//! is a boxed slice. The type is 24 bytes either way, which matters at millions of keys
//! (memory per key is a benchmark target against real Redis).
//!
//! `Key` hashes and compares as the `[u8]` it holds, so maps keyed by `Key` are looked up
//! with a plain `&[u8]` (`Borrow<[u8]>`).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

/// Longest key stored without an allocation.
pub const INLINE_CAP: usize = 22;

#[derive(Clone)]
pub enum Key {
    Inline { len: u8, buf: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..bytes.len()].copy_from_slice(bytes);
            Key::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Key::Heap(bytes.into())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_slice())
    }
}

impl Default for Key {
    /// The empty key.
    fn default() -> Key {
        Key::new(b"")
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Key {
        Key::new(b)
    }
}

impl From<&Bytes> for Key {
    fn from(b: &Bytes) -> Key {
        Key::new(b)
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like `[u8]` so that `Borrow<[u8]>` lookups find the entry.
        self.as_slice().hash(state)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn key_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }

    #[test]
    fn inline_and_heap_keys_are_found_by_slice() {
        let mut m = HashMap::new();
        let short = b"user:1".to_vec();
        let long = vec![b'x'; 100];
        let exact = vec![b'y'; INLINE_CAP];
        for k in [&short, &long, &exact] {
            m.insert(Key::new(k), k.len());
        }
        for k in [&short, &long, &exact] {
            assert_eq!(m.get(k.as_slice()), Some(&k.len()));
            assert_eq!(Key::new(k).as_slice(), k.as_slice());
        }
        assert!(matches!(Key::new(&exact), Key::Inline { .. }));
        assert!(matches!(Key::new(&long), Key::Heap(_)));
        assert_eq!(m.get(&b""[..]), None);
    }
}
