//! Set values: an `intset` (sorted `i64`s) while every member is a canonical integer and
//! there are at most `set-max-intset-entries` of them, else a `hashtable`.

use std::collections::HashSet;

use bytes::Bytes;

pub type FastSet<T> = HashSet<T, ahash::RandomState>;

#[derive(Debug, Clone)]
pub enum SetValue {
    Intset(Vec<i64>),
    Table(FastSet<Bytes>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Intset(Vec::new())
    }
}

impl SetValue {
    pub fn encoding_name(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
