//! Intset blobs (type 11 sets of integers).
//!
//! ```text
//! encoding:u32 LE (2, 4 or 8 bytes per element) | length:u32 LE | length × signed LE integers
//! ```
//! Elements are strictly ascending (so unique); the blob size is exactly `8 + length × encoding`.
//! Writers use the smallest width that fits every element, as Redis does.

use super::error::BlobError;

const HEADER: usize = 8;

/// Parses and validates an intset, returning its elements in ascending order.
pub fn parse(blob: &[u8]) -> Result<Vec<i64>, BlobError> {
    if blob.len() < HEADER {
        return Err(BlobError::new(0, "an 8-byte intset header"));
    }
    let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(BlobError::new(0, "an intset encoding of 2, 4 or 8"));
    }
    let len = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if len.checked_mul(width) != Some(blob.len() - HEADER) {
        return Err(BlobError::new(4, "an intset length matching the blob size"));
    }
    let mut out = Vec::with_capacity(len);
    for (i, chunk) in blob[HEADER..].chunks_exact(width).enumerate() {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([chunk[0], chunk[1]])),
            4 => i64::from(i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
            _ => {
                let mut a = [0u8; 8];
                a.copy_from_slice(chunk);
                i64::from_le_bytes(a)
            }
        };
        if out.last().is_some_and(|&prev| prev >= v) {
            return Err(BlobError::new(
                HEADER + i * width,
                "intset elements in strictly ascending order",
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// Writes `sorted` (strictly ascending, checked by the caller) as an intset into `out`.
pub fn write(sorted: &[i64], out: &mut Vec<u8>) {
    let (lo, hi) = (
        sorted.first().copied().unwrap_or(0),
        sorted.last().copied().unwrap_or(0),
    );
    let fits = |min: i64, max: i64| lo >= min && hi <= max;
    let width: usize = if fits(i16::MIN.into(), i16::MAX.into()) {
        2
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        4
    } else {
        8
    };
    out.clear();
    out.reserve(HEADER + sorted.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_captured_redis_bytes() {
        let mut out = Vec::new();
        write(&[1, 100_000], &mut out);
        assert_eq!(
            out,
            [4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0xa0, 0x86, 0x01, 0x00]
        );
        write(&[1, 3, 5], &mut out);
        assert_eq!(out, [2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 3, 0, 5, 0]);
        assert_eq!(parse(&out).unwrap(), [1, 3, 5]);
    }

    #[test]
    fn corrupt_intsets_are_rejected() {
        let cases: &[&[u8]] = &[
            &[2, 0, 0, 0, 1, 0, 0],                // short header
            &[3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0],    // bad width
            &[2, 0, 0, 0, 2, 0, 0, 0, 1, 0],       // length vs size
            &[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 0], // descending
            &[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 5, 0], // duplicate
            &[2, 0, 0, 0, 1, 0, 0, 0, 5, 0, 5],    // trailing byte
        ];
        for c in cases {
            assert!(parse(c).is_err(), "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn roundtrips(mut v in proptest::collection::vec(prop_oneof![any::<i16>().prop_map(i64::from), any::<i32>().prop_map(i64::from), any::<i64>()], 1..300)) {
            v.sort_unstable();
            v.dedup();
            let mut out = Vec::new();
            write(&v, &mut out);
            prop_assert_eq!(parse(&out).unwrap(), v);
        }

        #[test]
        fn never_panics(blob in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse(&blob);
        }
    }
}
