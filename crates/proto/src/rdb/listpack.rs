//! Listpack blobs (hash/zset listpacks, quicklist-2 nodes): strict parsing and writing.
//!
//! ```text
//! total_bytes:u32 LE | num_elements:u16 LE (65535 = count by scanning) | entry* | 0xFF
//! entry = encoding+data | backlen (size of encoding+data, minimal 7-bit groups)
//!
//! 0xxxxxxx               uint 0..127             110xxxxx yyyyyyyy  int13 (two's complement)
//! 10LLLLLL <L bytes>     string, len < 64         1110LLLL LLLLLLLL  string, len < 4096
//! 0xF0 <u32 LE> <bytes>  string, len >= 4096      0xF1/F2/F3/F4      int16/24/32/64 LE
//! ```
//! The parser checks what `redis-check-rdb`'s deep sanitization checks: the header equals the
//! blob size, every entry stays inside the blob, every backlen has the exact minimal bytes, the
//! end byte is last, and the element count matches (unless 65535). The writer produces exactly
//! that, and stores canonical integers in integer form as Redis does.

use std::ops::Range;

use super::error::BlobError;
use super::num::canonical_i64;

const HEADER: usize = 6;
const END: u8 = 0xFF;
const UNKNOWN_COUNT: u16 = u16::MAX;

/// One decoded entry of a listpack or ziplist; strings are ranges into the blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Int(i64),
    Str(Range<usize>),
}

/// Number of backlen bytes for an entry whose encoding+data is `l` bytes.
fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

/// Encodes the backlen of `l`: high 7-bit group first with bit 7 clear, the rest with it set.
/// Returns the bytes and how many of them are used.
fn encode_backlen(l: usize) -> ([u8; 5], usize) {
    let n = backlen_size(l);
    let mut out = [0u8; 5];
    for (k, i) in (0..n).rev().enumerate() {
        let group = ((l >> (7 * i)) & 0x7F) as u8;
        out[k] = if k == 0 { group } else { group | 0x80 };
    }
    (out, n)
}

fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let (bytes, n) = encode_backlen(l);
    out.extend_from_slice(&bytes[..n]);
}

/// Calls `f` for every entry of `blob` in order; returns the number of entries.
pub fn for_each(
    blob: &[u8],
    mut f: impl FnMut(Entry) -> Result<(), BlobError>,
) -> Result<usize, BlobError> {
    if blob.len() < HEADER + 1 {
        return Err(BlobError::new(
            0,
            "a 6-byte listpack header and an end byte",
        ));
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if total != blob.len() {
        return Err(BlobError::new(
            0,
            "a total-bytes header equal to the blob size",
        ));
    }
    let count = u16::from_le_bytes([blob[4], blob[5]]);
    let end = blob.len() - 1;
    if blob[end] != END {
        return Err(BlobError::new(end, "the 0xFF end byte last"));
    }
    let mut p = HEADER;
    let mut n = 0usize;
    while p < end {
        let (entry, size) = decode_entry(&blob[..end], p)?;
        let (backlen, bl) = encode_backlen(size);
        if p + size + bl > end {
            return Err(BlobError::new(p, "an entry backlen inside the listpack"));
        }
        if blob[p + size..p + size + bl] != backlen[..bl] {
            return Err(BlobError::new(
                p + size,
                "an entry backlen equal to the entry size",
            ));
        }
        f(entry)?;
        n += 1;
        p += size + bl;
    }
    if count != UNKNOWN_COUNT && usize::from(count) != n {
        return Err(BlobError::new(
            4,
            "an element count equal to the number of entries",
        ));
    }
    Ok(n)
}

/// Decodes the entry at `p` (encoding + data, without backlen) inside `body` (blob without the
/// end byte). Returns the entry and its size.
fn decode_entry(body: &[u8], p: usize) -> Result<(Entry, usize), BlobError> {
    let need = |k: usize| -> Result<&[u8], BlobError> {
        body.get(p..p.saturating_add(k))
            .ok_or(BlobError::new(p, "a listpack entry inside the blob"))
    };
    let b = body[p];
    let (entry, size) = match b {
        0x00..=0x7F => (Entry::Int(i64::from(b)), 1),
        0x80..=0xBF => {
            let len = usize::from(b & 0x3F);
            need(1 + len)?;
            (Entry::Str(p + 1..p + 1 + len), 1 + len)
        }
        0xC0..=0xDF => {
            let h = need(2)?;
            let u = (i64::from(h[0] & 0x1F) << 8) | i64::from(h[1]);
            let v = if u >= 1 << 12 { u - (1 << 13) } else { u };
            (Entry::Int(v), 2)
        }
        0xE0..=0xEF => {
            let h = need(2)?;
            let len = (usize::from(h[0] & 0x0F) << 8) | usize::from(h[1]);
            need(2 + len)?;
            (Entry::Str(p + 2..p + 2 + len), 2 + len)
        }
        0xF0 => {
            let h = need(5)?;
            let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
            need(5usize.saturating_add(len))?;
            (Entry::Str(p + 5..p + 5 + len), 5 + len)
        }
        0xF1 => {
            let h = need(3)?;
            (Entry::Int(i64::from(i16::from_le_bytes([h[1], h[2]]))), 3)
        }
        0xF2 => {
            let h = need(4)?;
            let v = i32::from_le_bytes([0, h[1], h[2], h[3]]) >> 8;
            (Entry::Int(i64::from(v)), 4)
        }
        0xF3 => {
            let h = need(5)?;
            (
                Entry::Int(i64::from(i32::from_le_bytes([h[1], h[2], h[3], h[4]]))),
                5,
            )
        }
        0xF4 => {
            let h = need(9)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(&h[1..9]);
            (Entry::Int(i64::from_le_bytes(a)), 9)
        }
        0xF5..=0xFE => return Err(BlobError::new(p, "a valid listpack entry encoding")),
        0xFF => {
            return Err(BlobError::new(
                p,
                "the end byte only at the end of the listpack",
            ))
        }
    };
    Ok((entry, size))
}

/// Size of `item` as a listpack entry, including its backlen.
pub fn entry_size(item: &[u8]) -> usize {
    let l = match canonical_i64(item) {
        Some(v) => int_size(v),
        None => str_header_size(item.len()) + item.len(),
    };
    l + backlen_size(l)
}

fn int_size(v: i64) -> usize {
    match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        _ if i32::try_from(v).is_ok() => 5,
        _ => 9,
    }
}

fn str_header_size(len: usize) -> usize {
    if len < 64 {
        1
    } else if len < 4096 {
        2
    } else {
        5
    }
}

/// Builds one listpack into a caller-owned buffer (reused between keys).
pub struct Builder<'a> {
    buf: &'a mut Vec<u8>,
    count: usize,
    /// A string of 4 GB or more was pushed (it cannot be encoded); `finish` fails.
    oversize: bool,
}

impl<'a> Builder<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(&[0; HEADER]);
        Self {
            buf,
            count: 0,
            oversize: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a string, in integer form when it is a canonical integer.
    pub fn push(&mut self, item: &[u8]) {
        match canonical_i64(item) {
            Some(v) => self.push_int(v),
            None => self.push_str(item),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut *self.buf;
        match int_size(v) {
            1 => b.push(v as u8),
            2 => {
                let u = (v as u64) & 0x1FFF;
                b.push(0xC0 | (u >> 8) as u8);
                b.push(u as u8);
            }
            3 => {
                b.push(0xF1);
                b.extend_from_slice(&(v as i16).to_le_bytes());
            }
            4 => {
                b.push(0xF2);
                b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            5 => {
                b.push(0xF3);
                b.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                b.push(0xF4);
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let l = self.buf.len() - start;
        push_backlen(self.buf, l);
        self.count += 1;
    }

    /// Appends a string in string form. Strings of 4 GB and more cannot be listpack entries;
    /// callers route them elsewhere (quicklist PLAIN nodes, hashtable encodings).
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if u32::try_from(len).is_err() {
            self.oversize = true;
            return;
        }
        let b = &mut *self.buf;
        if len < 64 {
            b.push(0x80 | len as u8);
        } else if len < 4096 {
            b.push(0xE0 | (len >> 8) as u8);
            b.push(len as u8);
        } else {
            b.push(0xF0);
            b.extend_from_slice(&(len as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        let l = self.buf.len() - start;
        push_backlen(self.buf, l);
        self.count += 1;
    }

    /// Writes the end byte and header. Fails when the listpack exceeds the 32-bit size field.
    pub fn finish(self) -> Result<&'a [u8], &'static str> {
        if self.oversize {
            return Err("a listpack entry must be smaller than 4 GB");
        }
        self.buf.push(END);
        let total =
            u32::try_from(self.buf.len()).map_err(|_| "a listpack must be smaller than 4 GB")?;
        let count = u16::try_from(self.count).unwrap_or(UNKNOWN_COUNT);
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        Ok(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(items: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf);
        for i in items {
            b.push(i);
        }
        b.finish().unwrap().to_vec()
    }

    fn decode(blob: &[u8]) -> Result<Vec<Vec<u8>>, BlobError> {
        let mut out = Vec::new();
        for_each(blob, |e| {
            out.push(match e {
                Entry::Int(v) => v.to_string().into_bytes(),
                Entry::Str(r) => blob[r].to_vec(),
            });
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn matches_captured_redis_bytes() {
        // rpush mylist a b c 1 2
        let lp = build(&[b"a", b"b", b"c", b"1", b"2"]);
        assert_eq!(
            lp,
            [0x14, 0, 0, 0, 5, 0, 0x81, b'a', 2, 0x81, b'b', 2, 0x81, b'c', 2, 1, 1, 2, 1, 0xFF]
        );
        // zset {a:1.5, b:2}
        let lp = build(&[b"a", b"1.5", b"b", b"2"]);
        assert_eq!(
            lp,
            [
                0x14, 0, 0, 0, 4, 0, 0x81, b'a', 2, 0x83, b'1', b'.', b'5', 4, 0x81, b'b', 2, 2, 1,
                0xFF
            ]
        );
        assert_eq!(build(&[]), [7, 0, 0, 0, 0, 0, 0xFF]);
    }

    #[test]
    fn every_size_class_roundtrips() {
        let long_a = vec![b'x'; 63];
        let long_b = vec![b'y'; 64];
        let long_c = vec![b'z'; 4095];
        let long_d = vec![b'w'; 4096];
        let long_e = vec![b'v'; 20_000];
        let ints: Vec<String> = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ]
        .iter()
        .map(|v| v.to_string())
        .collect();
        let mut items: Vec<&[u8]> = vec![
            b"", b"-0", b"01", &long_a, &long_b, &long_c, &long_d, &long_e,
        ];
        items.extend(ints.iter().map(|s| s.as_bytes()));
        let lp = build(&items);
        let back = decode(&lp).unwrap();
        assert_eq!(back, items.iter().map(|i| i.to_vec()).collect::<Vec<_>>());
        for (item, expect) in items.iter().zip([2, 4, 4, 65, 67, 4099]) {
            assert_eq!(entry_size(item), expect);
        }
    }

    #[test]
    fn corrupt_listpacks_are_rejected() {
        let good = build(&[b"a", b"hello", b"300"]);
        assert!(decode(&good).is_ok());
        let mut bad_total = good.clone();
        bad_total[0] += 1;
        let mut bad_count = good.clone();
        bad_count[4] = 2;
        let mut bad_backlen = good.clone();
        bad_backlen[8] = 3;
        let mut no_end = good.clone();
        *no_end.last_mut().unwrap() = 0;
        let mut bad_enc = good.clone();
        bad_enc[6] = 0xF5;
        let mut long_str = good.clone();
        long_str[6] = 0xBF;
        for (name, blob) in [
            ("total", bad_total),
            ("count", bad_count),
            ("backlen", bad_backlen),
            ("end", no_end),
            ("encoding", bad_enc),
            ("length", long_str),
            ("short", vec![1, 2, 3]),
        ] {
            assert!(decode(&blob).is_err(), "{name}");
        }
        // Unknown count (65535) is accepted and counted by scanning.
        let mut unknown = good.clone();
        unknown[4] = 0xFF;
        unknown[5] = 0xFF;
        assert_eq!(decode(&unknown).unwrap().len(), 3);
    }

    #[test]
    fn non_minimal_backlen_is_rejected() {
        // "a" with a 2-byte backlen (0x00 0x82) instead of 0x02.
        let blob = [11, 0, 0, 0, 1, 0, 0x81, b'a', 0x00, 0x82, 0xFF];
        assert!(decode(&blob).is_err());
    }

    proptest! {
        #[test]
        fn roundtrips(items in proptest::collection::vec(
            prop_oneof![
                any::<i64>().prop_map(|v| v.to_string().into_bytes()),
                proptest::collection::vec(any::<u8>(), 0..200),
                (0usize..5000).prop_map(|n| vec![b'q'; n]),
            ], 0..50)) {
            let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
            let lp = build(&refs);
            let size: usize = refs.iter().map(|i| entry_size(i)).sum();
            prop_assert_eq!(lp.len(), size + 7);
            prop_assert_eq!(decode(&lp).unwrap(), items);
        }

        #[test]
        fn never_panics(blob in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode(&blob);
        }
    }
}
