//! Packed entries: byte strings back to back in one buffer, each written as a LEB128 length,
//! the bytes, then the same LEB128 bytes in reverse order, so the buffer reads from either
//! end (Redis's listpack idea: a length before an entry and a "backlen" after it). List
//! chunks (`list.rs`) and small sorted sets (`zset.rs`) keep their elements so: one byte of
//! length on each side up to 127 bytes, no allocation or slot per element.
//!
//! Buffers are only ever written by [`write_entry`], so readers trust the lengths.

/// Bytes of the LEB128 form of `n`.
fn varint_len(mut n: usize) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

/// The LEB128 number at `pos`: (its value, where the bytes after it start).
pub fn read_varint(buf: &[u8], mut pos: usize) -> (u64, usize) {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let b = buf[pos];
        pos += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (n, pos);
        }
        shift += 7;
    }
}

/// Size of the entry whose body is `parts` concatenated.
pub fn entry_len_of(parts: &[&[u8]]) -> usize {
    let body: usize = parts.iter().map(|p| p.len()).sum();
    body + 2 * varint_len(body)
}

/// Size of the entry for `s`.
pub fn entry_len(s: &[u8]) -> usize {
    entry_len_of(&[s])
}

/// Writes the entry whose body is `parts` concatenated into `out`, which is exactly
/// [`entry_len_of`] bytes.
pub fn write_entry(out: &mut [u8], parts: &[&[u8]]) {
    let body: usize = parts.iter().map(|p| p.len()).sum();
    let k = varint_len(body);
    let mut n = body;
    for i in 0..k {
        let b = (n & 0x7f) as u8 | if i + 1 < k { 0x80 } else { 0 };
        out[i] = b;
        out[out.len() - 1 - i] = b;
        n >>= 7;
    }
    let mut at = k;
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
}

/// The entry starting at `pos`: (where its body starts, where it ends, where the next
/// entry starts).
pub fn entry_at(buf: &[u8], pos: usize) -> (usize, usize, usize) {
    let (len, p) = read_varint(buf, pos);
    let len = len as usize;
    let k = p - pos;
    (p, p + len, p + len + k)
}

/// The entry ending at `end`: (where it starts, where its body starts, where it ends).
pub fn entry_before(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let (mut len, mut shift, mut p) = (0usize, 0, end);
    loop {
        p -= 1;
        let b = buf[p];
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let k = end - p;
    let body_end = p;
    (body_end - len - k, body_end - len, body_end)
}

/// The bodies of the entries between two byte offsets of a buffer, from either end.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    pub buf: &'a [u8],
    pub front: usize,
    pub back: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        (self.front < self.back).then(|| {
            let (body, body_end, next) = entry_at(self.buf, self.front);
            self.front = next;
            &self.buf[body..body_end]
        })
    }
}

impl DoubleEndedIterator for Entries<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            let (start, body, body_end) = entry_before(self.buf, self.back);
            self.back = start;
            &self.buf[body..body_end]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_from_both_ends() {
        let bodies: Vec<Vec<u8>> = [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000]
            .iter()
            .map(|&n| vec![b'a' + (n % 26) as u8; n])
            .collect();
        let mut buf = Vec::new();
        for b in &bodies {
            let at = buf.len();
            buf.resize(at + entry_len(b), 0);
            write_entry(&mut buf[at..], &[b]);
        }
        let all = Entries {
            buf: &buf,
            front: 0,
            back: buf.len(),
        };
        assert!(all.clone().eq(bodies.iter().map(|b| &b[..])));
        assert!(all.rev().eq(bodies.iter().rev().map(|b| &b[..])));
        // A body given in parts is their concatenation.
        let mut one = vec![0; entry_len_of(&[b"ab", b"", b"cde"])];
        write_entry(&mut one, &[b"ab", b"", b"cde"]);
        assert_eq!(one, b"\x05abcde\x05");
    }
}
