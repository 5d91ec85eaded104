//! `Listpack`: a sequence of byte strings packed back to back in one buffer, each a LEB128
//! length then its bytes. Small hashes keep their field/value pairs in one (see `hash.rs`),
//! as Redis keeps them in its listpack: two to three bytes of overhead per pair instead of a
//! slot per string, and one allocation for the whole value. Lookups are linear, which is what
//! the `hash-max-listpack-*` limits bound.
//!
//! The layout is ferrokv's own (RDB files carry Redis's listpack format, written by
//! `ferrokv_proto::rdb`); only the idea is shared.

use std::ops::Range;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
    count: usize,
}

/// One string of a [`Listpack`] and where its entry (length prefix included) lies.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub bytes: &'a [u8],
    pub span: (usize, usize),
}

/// The strings of a [`Listpack`] in order.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.left == 0 {
            return None;
        }
        let start = self.pos;
        let (len, body) = read_len(self.buf, start);
        let end = body + len;
        self.pos = end;
        self.left -= 1;
        Some(Entry {
            bytes: &self.buf[body..end],
            span: (start, end),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Entries<'_> {}

/// Decodes the length prefix at `pos`: (length, where the bytes start). The buffer is only
/// ever written by [`put`], so the prefix is well formed.
fn read_len(buf: &[u8], pos: usize) -> (usize, usize) {
    let (len, body) = super::packed::read_varint(buf, pos);
    (len as usize, body)
}

/// `s` as an entry: its length (LEB128) then its bytes.
fn put(out: &mut Vec<u8>, s: &[u8]) {
    let mut len = s.len();
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(s);
}

fn encoded(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    put(&mut v, s);
    v
}

impl Listpack {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes held (for memory estimates).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn entries(&self) -> Entries<'_> {
        Entries {
            buf: &self.buf,
            pos: 0,
            left: self.count,
        }
    }

    /// Appends strings at the end, growing the buffer by exactly what they take.
    pub fn push(&mut self, strings: &[&[u8]]) {
        let more: usize = strings.iter().map(|s| s.len() + 2).sum();
        self.buf.reserve_exact(more);
        for s in strings {
            put(&mut self.buf, s);
        }
        self.count += strings.len();
    }

    /// Replaces the entry spanning `span` (from [`Entry::span`]) with `s`.
    pub fn replace(&mut self, span: (usize, usize), s: &[u8]) {
        self.buf.splice(span.0..span.1, encoded(s));
    }

    /// Removes the `n` consecutive entries spanning `bytes` (the first entry's start to the
    /// last one's end).
    pub fn remove(&mut self, bytes: Range<usize>, n: usize) {
        self.buf.drain(bytes);
        self.count -= n;
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_of_every_size_round_trip() {
        let mut lp = Listpack::default();
        let strings: Vec<Vec<u8>> = [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000]
            .iter()
            .map(|&n| vec![b'x'; n])
            .collect();
        let refs: Vec<&[u8]> = strings.iter().map(|s| &s[..]).collect();
        lp.push(&refs);
        let got: Vec<&[u8]> = lp.entries().map(|e| e.bytes).collect();
        assert_eq!(got, refs);
        // A 1-byte prefix below 128, two below 16,384.
        assert_eq!(
            lp.bytes(),
            strings.iter().map(|s| s.len()).sum::<usize>() + 1 + 1 + 1 + 2 + 2 + 2 + 3 + 3
        );
    }

    proptest! {
        /// Pushes, replacements and removals give what the same operations on a vector of
        /// strings give.
        #[test]
        fn behaves_like_a_vector(ops in proptest::collection::vec(
            (0u8..3, any::<u16>(), proptest::collection::vec(any::<u8>(), 0..200)),
            0..60,
        )) {
            let mut lp = Listpack::default();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for (op, at, s) in ops {
                match (op, model.len()) {
                    (0, _) | (_, 0) => {
                        lp.push(&[&s]);
                        model.push(s);
                    }
                    (1, n) => {
                        let i = at as usize % n;
                        let span = lp.entries().nth(i).unwrap().span;
                        lp.replace(span, &s);
                        model[i] = s;
                    }
                    (_, n) => {
                        let i = at as usize % n;
                        let e = lp.entries().nth(i).unwrap();
                        lp.remove(e.span.0..e.span.1, 1);
                        model.remove(i);
                    }
                }
                let got: Vec<Vec<u8>> = lp.entries().map(|e| e.bytes.to_vec()).collect();
                prop_assert_eq!(&got, &model);
                prop_assert_eq!(lp.len(), model.len());
            }
        }
    }
}
