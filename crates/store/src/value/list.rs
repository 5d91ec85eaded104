//! List values. Redis 7.0 always reports lists as `quicklist` (a linked list of listpack
//! nodes); ferrokv keeps a `VecDeque` of elements, which gives the same O(1) ends and O(n)
//! middle operations. Elements are [`Key`]s: up to 22 bytes in place (no allocation), longer
//! ones boxed.
//!
//! The list never stays empty in the keyspace: the command that pops the last element
//! deletes the key (`Ctx::delete_if_empty`).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::config::StoreConfig;
use crate::key::Key;

/// Which end of a list a command works on (`LEFT`/`RIGHT`, head/tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    /// Parses `LEFT` / `RIGHT` (ASCII case-insensitive).
    pub fn parse(b: &[u8]) -> Option<End> {
        if b.eq_ignore_ascii_case(b"left") {
            Some(End::Left)
        } else if b.eq_ignore_ascii_case(b"right") {
            Some(End::Right)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListValue {
    pub items: VecDeque<Key>,
}

impl ListValue {
    pub fn new() -> ListValue {
        ListValue::default()
    }

    /// A list holding `items` in order (head first), e.g. when loading an RDB.
    pub fn from_items<T: AsRef<[u8]>>(items: impl IntoIterator<Item = T>) -> ListValue {
        ListValue {
            items: items.into_iter().map(|i| Key::new(i.as_ref())).collect(),
        }
    }

    pub fn encoding_name(&self, _cfg: &StoreConfig) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Elements from head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(Key::as_slice)
    }

    pub fn push(&mut self, end: End, item: &[u8]) {
        let item = Key::new(item);
        match end {
            End::Left => self.items.push_front(item),
            End::Right => self.items.push_back(item),
        }
    }

    /// Removes an element from `end`; the reply's copy of it.
    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let item = match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }?;
        Some(Bytes::copy_from_slice(item.as_slice()))
    }

    /// Element at a Redis index (negative counts from the tail), if in range.
    pub fn get(&self, index: i64) -> Option<&[u8]> {
        self.resolve(index)
            .and_then(|i| self.items.get(i))
            .map(Key::as_slice)
    }

    /// Turns a Redis index (negative counts from the tail) into a position, if in range.
    pub fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The positions `[start, end]` that `LRANGE start end` covers, Redis's clamping rules
    /// applied (negative indices from the tail, out-of-range ends clamped, empty when
    /// `start > end` after that). Returns `None` for an empty range.
    pub fn range(&self, start: i64, end: i64) -> Option<(usize, usize)> {
        let len = self.items.len() as i64;
        let mut start = if start < 0 { len + start } else { start };
        let mut end = if end < 0 { len + end } else { end };
        if start < 0 {
            start = 0;
        }
        if start > end || start >= len {
            return None;
        }
        if end >= len {
            end = len - 1;
        }
        Some((start as usize, end as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> ListValue {
        ListValue::from_items(items.iter().map(|s| s.as_bytes()))
    }

    #[test]
    fn range_clamps_like_redis() {
        let l = list(&["a", "b", "c", "d"]);
        for (start, end, want) in [
            (0, -1, Some((0, 3))),
            (-100, 100, Some((0, 3))),
            (1, 2, Some((1, 2))),
            (2, 1, None),
            (4, 10, None),
            (-1, -1, Some((3, 3))),
            (i64::MIN, i64::MAX, Some((0, 3))),
            (0, i64::MIN, None),
        ] {
            assert_eq!(l.range(start, end), want, "{start} {end}");
        }
        assert_eq!(list(&[]).range(0, -1), None);
    }

    #[test]
    fn index_resolution() {
        let l = list(&["a", "b"]);
        assert_eq!(l.get(0).unwrap(), b"a");
        assert_eq!(l.get(-1).unwrap(), b"b");
        assert_eq!(l.get(-2).unwrap(), b"a");
        assert!(l.get(-3).is_none());
        assert!(l.get(2).is_none());
        assert!(l.get(i64::MIN).is_none());
        assert!(l.get(i64::MAX).is_none());
    }

    #[test]
    fn ends() {
        let mut l = ListValue::new();
        l.push(End::Left, b"b");
        l.push(End::Left, b"a");
        l.push(End::Right, b"c");
        assert_eq!(l.iter().collect::<Vec<_>>(), [b"a", b"b", b"c"]);
        assert_eq!(l.pop(End::Right).unwrap(), "c");
        assert_eq!(l.pop(End::Left).unwrap(), "a");
        assert_eq!(l.len(), 1);
        assert_eq!(End::parse(b"LeFt"), Some(End::Left));
        assert_eq!(End::parse(b"middle"), None);
    }
}
