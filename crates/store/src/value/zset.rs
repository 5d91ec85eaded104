//! Sorted set values: a `listpack` (small: members sorted by (score, member)) that converts to
//! a `skiplist` (member -> score map plus an ordered index) once it has more than
//! `zset-max-listpack-entries` members or a member longer than `zset-max-listpack-value`.

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct ZSetValue {
    /// Sorted by (score, member).
    pub listpack: Vec<(Bytes, f64)>,
}

impl ZSetValue {
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }

    pub fn len(&self) -> usize {
        self.listpack.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
