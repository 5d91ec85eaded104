//! List values, packed like Redis 7.0's quicklist: a deque of chunks, each one buffer of up
//! to 8 KB holding elements back to back (the size of a quicklist node under the default
//! `list-max-listpack-size -2`). An element costs its bytes plus a length before and after
//! them (one byte each up to 127 bytes), so both ends can be read, pushed and popped in
//! place: about 5 bytes for a 3-byte element, where one slot per element cost 24 and more.
//! Ends are O(1) (amortised); an index walks whole chunks by their counts, then entries
//! inside one chunk.
//!
//! Each chunk keeps free room before its first element (what popping the head leaves, or
//! headroom reserved when pushing at the head), so neither end moves the other elements
//! except when a buffer is regrown.
//!
//! The list never stays empty in the keyspace: the command that pops the last element
//! deletes the key (`Ctx::delete_if_empty`).

use std::collections::VecDeque;

use bytes::Bytes;

use super::packed::{entry_at, entry_before, entry_len, write_entry, Entries};
use crate::config::StoreConfig;

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

/// Bytes a chunk may hold before a push starts a new one (a single larger element still
/// gets a chunk of its own).
const CHUNK_BYTES: usize = 8192;

#[derive(Debug, Clone, Default)]
pub struct ListValue {
    chunks: VecDeque<Chunk>,
    len: usize,
}

/// One packed run of elements: `buf[head..]` holds `count` entries, each a LEB128 length,
/// the bytes, then the same LEB128 bytes in reverse order (read backwards from the end).
#[derive(Debug, Clone, Default)]
struct Chunk {
    buf: Vec<u8>,
    head: usize,
    count: usize,
}

/// The capacity a chunk buffer of capacity `cap` grows to when it must hold `want` bytes:
/// a quarter more (at least 16 bytes), never past a full chunk unless one element needs it.
/// Pushes copy each byte a bounded number of times, and a buffer carries at most a quarter
/// of slack (doubling would leave up to half of a small list's buffer unused).
fn grown(cap: usize, want: usize) -> usize {
    want.max((cap + (cap / 4).max(16)).min(CHUNK_BYTES))
}

impl Chunk {
    fn live_len(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Whether an entry of `size` bytes belongs in this chunk rather than a new one.
    fn takes(&self, size: usize) -> bool {
        self.count == 0 || self.live_len() + size <= CHUNK_BYTES
    }

    fn iter(&self) -> Entries<'_> {
        Entries {
            buf: &self.buf,
            front: self.head,
            back: self.buf.len(),
        }
    }

    fn push_back(&mut self, s: &[u8]) {
        let size = entry_len(s);
        if self.head > 0 && self.buf.len() + size > self.buf.capacity() {
            // Reuse the room at the front before growing the buffer.
            self.buf.drain(..self.head);
            self.head = 0;
        }
        let want = self.buf.len() + size;
        if want > self.buf.capacity() {
            self.buf
                .reserve_exact(grown(self.buf.capacity(), want) - self.buf.len());
        }
        let at = self.buf.len();
        self.buf.resize(at + size, 0);
        write_entry(&mut self.buf[at..], &[s]);
        self.count += 1;
    }

    fn push_front(&mut self, s: &[u8]) {
        let size = entry_len(s);
        if self.head < size {
            // Regrow with headroom (see `grown`).
            let live = self.live_len();
            let cap = grown(live, live + size);
            let mut buf = vec![0; cap];
            buf[cap - live..].copy_from_slice(&self.buf[self.head..]);
            self.buf = buf;
            self.head = cap - live;
        }
        self.head -= size;
        let at = self.head;
        write_entry(&mut self.buf[at..at + size], &[s]);
        self.count += 1;
    }

    fn pop_front(&mut self) -> Bytes {
        let (body, body_end, next) = entry_at(&self.buf, self.head);
        let out = Bytes::copy_from_slice(&self.buf[body..body_end]);
        self.head = next;
        self.count -= 1;
        out
    }

    fn pop_back(&mut self) -> Bytes {
        let (start, body, body_end) = entry_before(&self.buf, self.buf.len());
        let out = Bytes::copy_from_slice(&self.buf[body..body_end]);
        self.buf.truncate(start);
        self.count -= 1;
        out
    }

    /// Byte offset where the entry with in-chunk index `i` (0..=count) starts.
    fn offset_of(&self, i: usize) -> usize {
        let mut pos = self.head;
        for _ in 0..i {
            pos = entry_at(&self.buf, pos).2;
        }
        pos
    }

    /// Replaces the bytes `[from, to)` of the buffer with `s`'s entry.
    fn splice(&mut self, from: usize, to: usize, s: &[u8]) {
        let mut entry = vec![0; entry_len(s)];
        write_entry(&mut entry, &[s]);
        self.buf.splice(from..to, entry);
    }

    /// Splits off the second half of the entries as a new chunk (after an insert made this
    /// one too big).
    fn split(&mut self) -> Chunk {
        let keep = self.count / 2;
        let at = self.offset_of(keep);
        let tail = Chunk {
            buf: self.buf[at..].to_vec(),
            head: 0,
            count: self.count - keep,
        };
        self.buf.truncate(at);
        self.count = keep;
        tail
    }
}

/// Elements of a list (or of a range of it), from either end.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    chunks: &'a VecDeque<Chunk>,
    front: (usize, Entries<'a>),
    back: (usize, Entries<'a>),
    /// Elements not yet yielded from either end: the front and the back never meet
    /// because each stops when this reaches zero.
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(item) = self.front.1.next() {
                self.left -= 1;
                return Some(item);
            }
            self.front.0 += 1;
            self.front.1 = self.chunks[self.front.0].iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(item) = self.back.1.next_back() {
                self.left -= 1;
                return Some(item);
            }
            self.back.0 -= 1;
            self.back.1 = self.chunks[self.back.0].iter();
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl ListValue {
    pub fn new() -> ListValue {
        ListValue::default()
    }

    /// A list holding `items` in order (head first), e.g. when loading an RDB.
    /// A list holding `items` in order (head first), e.g. when loading an RDB: full chunks,
    /// each allocated once at its exact size.
    pub fn from_items<T: AsRef<[u8]>>(items: impl IntoIterator<Item = T>) -> ListValue {
        let items: Vec<T> = items.into_iter().collect();
        let mut list = ListValue::new();
        let mut start = 0;
        while start < items.len() {
            // The items that fill this chunk (at least one, however large).
            let (mut end, mut bytes) = (start, 0);
            while end < items.len() {
                let size = entry_len(items[end].as_ref());
                if end > start && bytes + size > CHUNK_BYTES {
                    break;
                }
                bytes += size;
                end += 1;
            }
            let mut buf = vec![0; bytes];
            let mut at = 0;
            for item in &items[start..end] {
                let size = entry_len(item.as_ref());
                write_entry(&mut buf[at..at + size], &[item.as_ref()]);
                at += size;
            }
            list.new_chunk();
            list.chunks.push_back(Chunk {
                buf,
                head: 0,
                count: end - start,
            });
            list.len += end - start;
            start = end;
        }
        list
    }

    pub fn encoding_name(&self, _cfg: &StoreConfig) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated for the elements and the chunk table (MEMORY USAGE).
    pub fn allocated_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.iter().map(|c| c.buf.capacity()).sum::<usize>()
    }

    /// Elements from head to tail.
    pub fn iter(&self) -> Iter<'_> {
        if self.is_empty() {
            return self.empty_iter();
        }
        let last = self.chunks.len() - 1;
        Iter {
            chunks: &self.chunks,
            front: (0, self.chunks[0].iter()),
            back: (last, self.chunks[last].iter()),
            left: self.len,
        }
    }

    fn empty_iter(&self) -> Iter<'_> {
        let none = Entries {
            buf: &[],
            front: 0,
            back: 0,
        };
        Iter {
            chunks: &self.chunks,
            front: (0, none.clone()),
            back: (0, none),
            left: 0,
        }
    }

    /// Elements at positions `start..=end` (as [`ListValue::range`] returns them).
    pub fn iter_range(&self, start: usize, end: usize) -> Iter<'_> {
        if start > end || end >= self.len {
            return self.empty_iter();
        }
        let (cs, is) = self.locate(start);
        let (ce, ie) = self.locate(end);
        let (first, last) = (&self.chunks[cs], &self.chunks[ce]);
        Iter {
            chunks: &self.chunks,
            front: (
                cs,
                Entries {
                    buf: &first.buf,
                    front: first.offset_of(is),
                    back: first.buf.len(),
                },
            ),
            back: (
                ce,
                Entries {
                    buf: &last.buf,
                    front: last.head,
                    back: last.offset_of(ie + 1),
                },
            ),
            left: end - start + 1,
        }
    }

    /// The chunk holding position `pos` (< len) and the index inside it, walking from the
    /// nearer end.
    fn locate(&self, pos: usize) -> (usize, usize) {
        if pos < self.len / 2 {
            let mut i = pos;
            for (ci, c) in self.chunks.iter().enumerate() {
                if i < c.count {
                    return (ci, i);
                }
                i -= c.count;
            }
        } else {
            let mut from_tail = self.len - 1 - pos;
            for (ci, c) in self.chunks.iter().enumerate().rev() {
                if from_tail < c.count {
                    return (ci, c.count - 1 - from_tail);
                }
                from_tail -= c.count;
            }
        }
        unreachable!("position {pos} beyond the list's {} elements", self.len)
    }

    pub fn push(&mut self, end: End, item: &[u8]) {
        let size = entry_len(item);
        match end {
            End::Left => {
                if !self.chunks.front().is_some_and(|c| c.takes(size)) {
                    self.new_chunk();
                    self.chunks.push_front(Chunk::default());
                }
                self.chunks[0].push_front(item);
            }
            End::Right => {
                if !self.chunks.back().is_some_and(|c| c.takes(size)) {
                    self.new_chunk();
                    self.chunks.push_back(Chunk::default());
                }
                let last = self.chunks.len() - 1;
                self.chunks[last].push_back(item);
            }
        }
        self.len += 1;
    }

    /// Makes room for one more chunk: exactly one for the first (most lists fit in one
    /// chunk, and the deque would otherwise allocate room for four), doubling after that.
    fn new_chunk(&mut self) {
        if self.chunks.capacity() == 0 {
            self.chunks.reserve_exact(1);
        }
    }

    /// Removes an element from `end`; the reply's copy of it.
    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let (chunk, item) = match end {
            End::Left => {
                let c = self.chunks.front_mut()?;
                let item = c.pop_front();
                (c.count, item)
            }
            End::Right => {
                let c = self.chunks.back_mut()?;
                let item = c.pop_back();
                (c.count, item)
            }
        };
        if chunk == 0 {
            match end {
                End::Left => self.chunks.pop_front(),
                End::Right => self.chunks.pop_back(),
            };
        }
        self.len -= 1;
        Some(item)
    }

    /// Element at a Redis index (negative counts from the tail), if in range.
    pub fn get(&self, index: i64) -> Option<&[u8]> {
        let pos = self.resolve(index)?;
        self.iter_range(pos, pos).next()
    }

    /// Replaces the element at position `pos` (< len).
    pub fn set(&mut self, pos: usize, item: &[u8]) {
        let (ci, i) = self.locate(pos);
        let c = &mut self.chunks[ci];
        let from = c.offset_of(i);
        let to = entry_at(&c.buf, from).2;
        c.splice(from, to, item);
    }

    /// Inserts `item` so that it ends up at position `pos` (0..=len).
    pub fn insert(&mut self, pos: usize, item: &[u8]) {
        if pos == 0 || pos == self.len {
            let end = if pos == 0 { End::Left } else { End::Right };
            return self.push(end, item);
        }
        let (ci, i) = self.locate(pos);
        let c = &mut self.chunks[ci];
        let at = c.offset_of(i);
        c.splice(at, at, item);
        c.count += 1;
        if c.live_len() > CHUNK_BYTES && c.count > 1 {
            let tail = c.split();
            self.chunks.insert(ci + 1, tail);
        }
        self.len += 1;
    }

    /// Removes the elements for which `doomed(position, element)` is true (positions as
    /// before the call, visited head to tail); the number removed.
    pub fn remove_where(&mut self, mut doomed: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut pos = 0;
        let mut removed = 0;
        for c in self.chunks.iter_mut() {
            let mut kept = Vec::new();
            let mut any = false;
            let mut count = 0;
            let mut at = c.head;
            while at < c.buf.len() {
                let (body, body_end, next) = entry_at(&c.buf, at);
                if doomed(pos, &c.buf[body..body_end]) {
                    any = true;
                } else {
                    kept.extend_from_slice(&c.buf[at..next]);
                    count += 1;
                }
                pos += 1;
                at = next;
            }
            if any {
                removed += c.count - count;
                *c = Chunk {
                    buf: kept,
                    head: 0,
                    count,
                };
            }
        }
        self.chunks.retain(|c| c.count > 0);
        self.len -= removed;
        removed
    }

    /// Keeps only positions `start..=end` (both < len); `None` empties the list (LTRIM).
    pub fn keep_range(&mut self, range: Option<(usize, usize)>) {
        let Some((start, end)) = range else {
            self.chunks.clear();
            self.len = 0;
            return;
        };
        self.drop_from(End::Right, self.len - 1 - end);
        self.drop_from(End::Left, start);
        self.len = end - start + 1;
    }

    /// Drops `n` elements at `end` (whole chunks, then part of the boundary chunk); leaves
    /// `len` to the caller.
    fn drop_from(&mut self, end: End, mut n: usize) {
        while n > 0 {
            let chunk = match end {
                End::Left => self.chunks.front_mut(),
                End::Right => self.chunks.back_mut(),
            };
            let Some(c) = chunk else {
                break;
            };
            if c.count <= n {
                n -= c.count;
                match end {
                    End::Left => self.chunks.pop_front(),
                    End::Right => self.chunks.pop_back(),
                };
                continue;
            }
            match end {
                End::Left => c.head = c.offset_of(n),
                End::Right => {
                    let at = c.offset_of(c.count - n);
                    c.buf.truncate(at);
                }
            }
            c.count -= n;
            n = 0;
        }
    }

    /// Turns a Redis index (negative counts from the tail) into a position, if in range.
    pub fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The positions `[start, end]` that `LRANGE start end` covers, Redis's clamping rules
    /// applied (negative indices from the tail, out-of-range ends clamped, empty when
    /// `start > end` after that). Returns `None` for an empty range.
    pub fn range(&self, start: i64, end: i64) -> Option<(usize, usize)> {
        let len = self.len as i64;
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
    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        RemoveEqual(Vec<u8>, usize),
        Keep(i64, i64),
        Range(i64, i64),
        Get(i64),
    }

    /// Elements from a small alphabet (so removals match), of lengths that cross the
    /// one/two-byte length prefix and, now and then, a whole chunk.
    fn element() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            8 => (0u8..4, 0usize..300).prop_map(|(c, n)| vec![b'a' + c; n]),
            1 => (0u8..2).prop_map(|c| vec![b'x' + c; CHUNK_BYTES + 10]),
        ]
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            10 => (any::<bool>(), element()).prop_map(|(l, e)| Op::Push(l, e)),
            3 => any::<bool>().prop_map(Op::Pop),
            1 => (any::<usize>(), element()).prop_map(|(i, e)| Op::Set(i, e)),
            2 => (any::<usize>(), element()).prop_map(|(i, e)| Op::Insert(i, e)),
            1 => (element(), 0usize..4).prop_map(|(e, n)| Op::RemoveEqual(e, n)),
            1 => (-200i64..200, -200i64..200).prop_map(|(a, b)| Op::Keep(a, b)),
            2 => (-200i64..200, -200i64..200).prop_map(|(a, b)| Op::Range(a, b)),
            2 => (-200i64..200).prop_map(Op::Get),
        ]
    }

    fn check(
        l: &ListValue,
        m: &VecDeque<Vec<u8>>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        proptest::prop_assert_eq!(l.len(), m.len());
        proptest::prop_assert!(l.iter().eq(m.iter().map(|v| &v[..])));
        proptest::prop_assert!(l.iter().rev().eq(m.iter().rev().map(|v| &v[..])));
        proptest::prop_assert!(l.chunks.iter().all(|c| c.count > 0));
        proptest::prop_assert_eq!(l.chunks.iter().map(|c| c.count).sum::<usize>(), m.len());
        // Mixed ends meet exactly once.
        let mut it = l.iter();
        let mut seen = Vec::new();
        let mut back = Vec::new();
        for step in 0.. {
            let next = if step % 3 == 0 {
                it.next_back().map(|v| (true, v))
            } else {
                it.next().map(|v| (false, v))
            };
            match next {
                Some((true, v)) => back.push(v),
                Some((false, v)) => seen.push(v),
                None => break,
            }
        }
        seen.extend(back.into_iter().rev());
        proptest::prop_assert!(seen.into_iter().eq(m.iter().map(|v| &v[..])));
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(200))]
        #[test]
        fn matches_a_deque(ops in proptest::collection::vec(op(), 0..250)) {
            let mut l = ListValue::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push(left, e) => {
                        l.push(if left { End::Left } else { End::Right }, &e);
                        if left { m.push_front(e) } else { m.push_back(e) }
                    }
                    Op::Pop(left) => {
                        let got = l.pop(if left { End::Left } else { End::Right });
                        let want = if left { m.pop_front() } else { m.pop_back() };
                        proptest::prop_assert_eq!(got.map(|b| b.to_vec()), want);
                    }
                    Op::Set(i, e) if !m.is_empty() => {
                        let i = i % m.len();
                        l.set(i, &e);
                        m[i] = e;
                    }
                    Op::Insert(i, e) => {
                        let i = i % (m.len() + 1);
                        l.insert(i, &e);
                        m.insert(i, e);
                    }
                    Op::RemoveEqual(e, limit) => {
                        let mut matched = 0;
                        let removed = l.remove_where(|_, v| {
                            let drop = v == &e[..] && (limit == 0 || matched < limit);
                            matched += drop as usize;
                            drop
                        });
                        let before = m.len();
                        let mut matched = 0;
                        m.retain(|v| {
                            let drop = *v == e && (limit == 0 || matched < limit);
                            matched += drop as usize;
                            !drop
                        });
                        proptest::prop_assert_eq!(removed, before - m.len());
                    }
                    Op::Keep(a, b) => {
                        let r = l.range(a, b);
                        l.keep_range(r);
                        match r {
                            Some((s, e)) => {
                                m.truncate(e + 1);
                                m.drain(..s);
                            }
                            None => m.clear(),
                        }
                    }
                    Op::Range(a, b) => {
                        let got: Vec<&[u8]> = match l.range(a, b) {
                            Some((s, e)) => l.iter_range(s, e).collect(),
                            None => Vec::new(),
                        };
                        let want: Vec<&[u8]> = match l.range(a, b) {
                            Some((s, e)) => m.range(s..=e).map(|v| &v[..]).collect(),
                            None => Vec::new(),
                        };
                        proptest::prop_assert_eq!(got, want);
                        if let Some((s, e)) = l.range(a, b) {
                            let got: Vec<&[u8]> = l.iter_range(s, e).rev().collect();
                            let want: Vec<&[u8]> = m.range(s..=e).rev().map(|v| &v[..]).collect();
                            proptest::prop_assert_eq!(got, want);
                        }
                    }
                    Op::Get(i) => {
                        let want = l.resolve(i).map(|p| &m[p][..]);
                        proptest::prop_assert_eq!(l.get(i), want);
                    }
                    Op::Set(..) => {}
                }
                check(&l, &m)?;
            }
            // A clone (COPY, the fork-free snapshot paths) reads the same, and so does the
            // same content built in one go (RDB load).
            check(&l.clone(), &m)?;
            check(&ListValue::from_items(m.iter()), &m)?;
        }
    }

    #[test]
    fn packs_small_elements() {
        let mut l = ListValue::new();
        for _ in 0..100_000 {
            l.push(End::Left, b"xxx");
        }
        // 5 bytes per element (a length before and after), in full chunks.
        let per = l.allocated_bytes() as f64 / 100_000.0;
        assert!(per < 5.5, "{per} bytes per element");
        for _ in 0..100_000 {
            l.push(End::Right, b"yyy");
        }
        let per = l.allocated_bytes() as f64 / 200_000.0;
        assert!(per < 5.5, "{per} bytes per element");
        assert_eq!(l.get(99_999).unwrap(), b"xxx");
        assert_eq!(l.get(100_000).unwrap(), b"yyy");
    }
}
