//! Ziplist and zipmap blobs: the compact encodings of older RDB versions (types 9, 10, 12, 13,
//! and the nodes of type 14). Read-only: Redis 7.0 still loads them but never writes them.
//!
//! ```text
//! ziplist: zlbytes:u32 LE | zltail:u32 LE | zllen:u16 LE (65535 = unknown) | entry* | 0xFF
//!   entry = prevlen (1 byte < 254, or 0xFE + u32 LE) | encoding | data
//!   00LLLLLL str len<64 | 01LLLLLL LLLLLLLL str 14-bit BE | 10xxxxxx + u32 BE str
//!   0xC0 i16 | 0xD0 i32 | 0xE0 i64 | 0xF0 i24 | 0xFE i8 (all LE) | 0xF1..=0xFD immediate 0..12
//!
//! zipmap:  zmlen:u8 (254+ = unknown) | { len key | len free:u8 value free-bytes }* | 0xFF
//!   len = 1 byte < 254, or 0xFE + u32 LE
//! ```

use std::ops::Range;

use super::error::BlobError;
use super::listpack::Entry;

const HEADER: usize = 10;
const END: u8 = 0xFF;

/// Calls `f` for every entry of a ziplist after checking the header, the tail offset, every
/// prevlen and the count. Returns the number of entries.
pub fn for_each(
    blob: &[u8],
    mut f: impl FnMut(Entry) -> Result<(), BlobError>,
) -> Result<usize, BlobError> {
    if blob.len() < HEADER + 1 {
        return Err(BlobError::new(
            0,
            "a 10-byte ziplist header and an end byte",
        ));
    }
    let zlbytes = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if zlbytes != blob.len() {
        return Err(BlobError::new(0, "a zlbytes header equal to the blob size"));
    }
    let zltail = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    let zllen = u16::from_le_bytes([blob[8], blob[9]]);
    let end = blob.len() - 1;
    if blob[end] != END {
        return Err(BlobError::new(end, "the 0xFF end byte last"));
    }
    let body = &blob[..end];
    let mut p = HEADER;
    let mut prev_size = 0usize;
    let mut last_start = HEADER;
    let mut n = 0usize;
    while p < end {
        let start = p;
        let err = |expected| BlobError::new(start, expected);
        let (prevlen, pl_size) = match body[p] {
            0xFE => {
                let b = body.get(p + 1..p + 5).ok_or(err("a 5-byte prevlen"))?;
                (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
            }
            0xFF => return Err(err("the end byte only at the end of the ziplist")),
            b => (usize::from(b), 1),
        };
        if prevlen != prev_size {
            return Err(err("a prevlen equal to the previous entry's size"));
        }
        p += pl_size;
        let e = *body.get(p).ok_or(err("an entry encoding byte"))?;
        let need = |k: usize| {
            body.get(p..p.saturating_add(k))
                .ok_or(err("entry data inside the ziplist"))
        };
        let (entry, size) = match e >> 6 {
            0 => {
                let len = usize::from(e & 0x3F);
                need(1 + len)?;
                (Entry::Str(p + 1..p + 1 + len), 1 + len)
            }
            1 => {
                let h = need(2)?;
                let len = (usize::from(h[0] & 0x3F) << 8) | usize::from(h[1]);
                need(2 + len)?;
                (Entry::Str(p + 2..p + 2 + len), 2 + len)
            }
            2 => {
                let h = need(5)?;
                let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
                need(5usize.saturating_add(len))?;
                (Entry::Str(p + 5..p + 5 + len), 5 + len)
            }
            _ => match e {
                0xC0 => {
                    let h = need(3)?;
                    (Entry::Int(i16::from_le_bytes([h[1], h[2]]).into()), 3)
                }
                0xD0 => {
                    let h = need(5)?;
                    (
                        Entry::Int(i32::from_le_bytes([h[1], h[2], h[3], h[4]]).into()),
                        5,
                    )
                }
                0xE0 => {
                    let h = need(9)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&h[1..9]);
                    (Entry::Int(i64::from_le_bytes(a)), 9)
                }
                0xF0 => {
                    let h = need(4)?;
                    (
                        Entry::Int((i32::from_le_bytes([0, h[1], h[2], h[3]]) >> 8).into()),
                        4,
                    )
                }
                0xFE => {
                    let h = need(2)?;
                    (Entry::Int((h[1] as i8).into()), 2)
                }
                0xF1..=0xFD => (Entry::Int(i64::from(e & 0x0F) - 1), 1),
                _ => return Err(BlobError::new(p, "a valid ziplist entry encoding")),
            },
        };
        f(entry)?;
        n += 1;
        p += size;
        prev_size = p - start;
        last_start = start;
    }
    if zltail != last_start {
        return Err(BlobError::new(
            4,
            "a zltail header pointing at the last entry",
        ));
    }
    if zllen != u16::MAX && usize::from(zllen) != n {
        return Err(BlobError::new(
            8,
            "a zllen header equal to the number of entries",
        ));
    }
    Ok(n)
}

/// A zipmap (field, value) as ranges of the blob.
pub type ZipmapPair = (Range<usize>, Range<usize>);

/// Parses a zipmap into (field, value) ranges of `blob`, checking the count when it is known.
pub fn parse_zipmap(blob: &[u8]) -> Result<Vec<ZipmapPair>, BlobError> {
    let Some(&zmlen) = blob.first() else {
        return Err(BlobError::new(0, "a zipmap length byte"));
    };
    let mut out = Vec::with_capacity(usize::from(zmlen).min(254));
    let mut p = 1;
    let read_len = |p: &mut usize| -> Result<Option<usize>, BlobError> {
        let at = *p;
        match blob.get(at) {
            None => Err(BlobError::new(at, "a zipmap length")),
            Some(&END) => Ok(None),
            Some(&0xFE) => {
                let b = blob
                    .get(at + 1..at + 5)
                    .ok_or(BlobError::new(at, "a 5-byte zipmap length"))?;
                *p += 5;
                Ok(Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize))
            }
            Some(&b) => {
                *p += 1;
                Ok(Some(usize::from(b)))
            }
        }
    };
    loop {
        let Some(klen) = read_len(&mut p)? else {
            if p + 1 != blob.len() {
                return Err(BlobError::new(p, "the zipmap end byte last"));
            }
            break;
        };
        let key = p..p.saturating_add(klen);
        if key.end > blob.len() {
            return Err(BlobError::new(p, "a zipmap key inside the blob"));
        }
        p = key.end;
        let Some(vlen) = read_len(&mut p)? else {
            return Err(BlobError::new(p, "a zipmap value length"));
        };
        let free = usize::from(*blob.get(p).ok_or(BlobError::new(p, "a zipmap free byte"))?);
        p += 1;
        let value = p..p.saturating_add(vlen);
        if value.end.saturating_add(free) > blob.len() {
            return Err(BlobError::new(p, "a zipmap value inside the blob"));
        }
        p = value.end + free;
        out.push((key, value));
    }
    if zmlen < 254 && usize::from(zmlen) != out.len() {
        return Err(BlobError::new(
            0,
            "a zipmap length equal to the number of pairs",
        ));
    }
    Ok(out)
}

/// Test-only writers of the legacy blobs, to feed the reader.
#[cfg(test)]
pub mod build {
    use crate::rdb::num::canonical_i64;

    /// A ziplist with Redis's encodings (integers where canonical, smallest width).
    pub fn ziplist(items: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; 10];
        let mut prev = 0usize;
        let mut last = 10usize;
        for item in items {
            let start = out.len();
            last = start;
            if prev < 254 {
                out.push(prev as u8);
            } else {
                out.push(0xFE);
                out.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match canonical_i64(item) {
                Some(v @ 0..=12) => out.push(0xF1 + v as u8),
                Some(v) if i8::try_from(v).is_ok() => out.extend_from_slice(&[0xFE, v as u8]),
                Some(v) if i16::try_from(v).is_ok() => {
                    out.push(0xC0);
                    out.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                    out.push(0xF0);
                    out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                Some(v) if i32::try_from(v).is_ok() => {
                    out.push(0xD0);
                    out.extend_from_slice(&(v as i32).to_le_bytes());
                }
                Some(v) => {
                    out.push(0xE0);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                None => {
                    let len = item.len();
                    if len < 64 {
                        out.push(len as u8);
                    } else if len < 16384 {
                        out.push(0x40 | (len >> 8) as u8);
                        out.push(len as u8);
                    } else {
                        out.push(0x80);
                        out.extend_from_slice(&(len as u32).to_be_bytes());
                    }
                    out.extend_from_slice(item);
                }
            }
            prev = out.len() - start;
        }
        out.push(0xFF);
        let total = out.len() as u32;
        out[0..4].copy_from_slice(&total.to_le_bytes());
        out[4..8].copy_from_slice(&(last as u32).to_le_bytes());
        out[8..10].copy_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
        out
    }

    /// A zipmap, with one byte of free space after every value.
    pub fn zipmap(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = vec![pairs.len().min(254) as u8];
        let len = |out: &mut Vec<u8>, l: usize| {
            if l < 254 {
                out.push(l as u8);
            } else {
                out.push(0xFE);
                out.extend_from_slice(&(l as u32).to_le_bytes());
            }
        };
        for (k, v) in pairs {
            len(&mut out, k.len());
            out.extend_from_slice(k);
            len(&mut out, v.len());
            out.push(1);
            out.extend_from_slice(v);
            out.push(0);
        }
        out.push(0xFF);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn every_encoding_roundtrips() {
        let big = vec![b'b'; 300];
        let huge = vec![b'h'; 17_000];
        let items: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"0",
            b"12",
            b"13",
            b"-1",
            b"-128",
            b"200",
            b"-30000",
            b"8000000",
            b"-8388608",
            b"2000000000",
            b"9223372036854775807",
            b"-0",
            b"007",
            &big,
            &huge,
            b"x",
        ];
        let zl = build::ziplist(&items);
        assert_eq!(
            decode(&zl).unwrap(),
            items.iter().map(|i| i.to_vec()).collect::<Vec<_>>()
        );
        assert_eq!(decode(&build::ziplist(&[])).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn hand_made_ziplist_decodes() {
        // ["a", 5] : zlbytes 15, zltail 13, zllen 2, [00 01 'a'] [03 F6] FF
        let zl = [
            15, 0, 0, 0, 13, 0, 0, 0, 2, 0, 0x00, 0x01, b'a', 0x03, 0xF6, 0xFF,
        ];
        let mut zl = zl.to_vec();
        zl[0] = zl.len() as u8;
        assert_eq!(decode(&zl).unwrap(), vec![b"a".to_vec(), b"5".to_vec()]);
    }

    #[test]
    fn corrupt_ziplists_are_rejected() {
        let good = build::ziplist(&[b"a", b"hello", b"300"]);
        assert!(decode(&good).is_ok());
        for (i, delta) in [(0usize, 1u8), (4, 1), (8, 1), (10, 1), (13, 3)] {
            let mut bad = good.clone();
            bad[i] = bad[i].wrapping_add(delta);
            assert!(decode(&bad).is_err(), "byte {i}");
        }
        let mut bad_enc = good.clone();
        bad_enc[11] = 0xC1;
        assert!(decode(&bad_enc).is_err());
    }

    #[test]
    fn zipmaps_parse() {
        let long = vec![b'v'; 300];
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"f", b"v"), (b"k2", &long), (b"", b"")];
        let zm = build::zipmap(&pairs);
        let parsed = parse_zipmap(&zm).unwrap();
        let back: Vec<(&[u8], &[u8])> = parsed
            .iter()
            .map(|(k, v)| (&zm[k.clone()], &zm[v.clone()]))
            .collect();
        assert_eq!(back, pairs);
        let mut bad_count = zm.clone();
        bad_count[0] = 2;
        assert!(parse_zipmap(&bad_count).is_err());
        assert!(parse_zipmap(&zm[..zm.len() - 1]).is_err());
        assert!(parse_zipmap(&[0, 0xFF, 0]).is_err());
    }

    proptest! {
        #[test]
        fn ziplist_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode(&blob);
        }

        #[test]
        fn zipmap_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_zipmap(&blob);
        }

        #[test]
        fn ziplist_roundtrips(items in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..300)], 0..40)) {
            let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
            prop_assert_eq!(decode(&build::ziplist(&refs)).unwrap(), items);
        }
    }
}
