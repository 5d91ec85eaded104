//! LZF compression as liblzf (and so Redis) reads and writes it: no header, a sequence of
//! control bytes, each starting a literal run or a back-reference.
//!
//! ```text
//! 000LLLLL  <L+1 literal bytes>                 literal run of 1..=32 bytes
//! LLLooooo  oooooooo                            back-reference, L in 1..=6: copy L+2 bytes
//! 111ooooo  LLLLLLLL  oooooooo                  back-reference, copy 7+L+2 bytes (9..=264)
//! ```
//! The offset is `((ctrl & 0x1F) << 8 | low) + 1` bytes back from the current output end
//! (1..=8192); the copy is byte by byte, so it may overlap its own output (a run).
//!
//! The compressor here is our own: a single-probe hash table over 3-byte prefixes. Its output
//! need not equal liblzf's, only decode to the same bytes with liblzf's decoder.

use super::error::BlobError;

const MAX_LITERAL: usize = 32;
const MAX_OFFSET: usize = 1 << 13;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 7 + 255 + 2;

/// Largest expansion of a valid stream: a 3-byte back-reference yields 264 bytes.
pub const MAX_RATIO: u64 = 88;

/// Reusable state for [`compress`]: the match table, kept between calls to avoid reallocating.
#[derive(Debug, Default)]
pub struct Compressor {
    table: Vec<u32>,
}

impl Compressor {
    /// Compresses `input` into `out` (cleared first). Returns `false`, leaving `out` in an
    /// unspecified state, when the result would be longer than `max_out` bytes.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>, max_out: usize) -> bool {
        out.clear();
        let n = input.len();
        if n == 0 {
            return true;
        }
        if n >= u32::MAX as usize {
            return false;
        }
        // Table size proportional to the input (clearing 64 KB for a 30-byte string is waste).
        let bits = (usize::BITS - n.next_power_of_two().leading_zeros()).clamp(8, 14);
        let mask = (1usize << bits) - 1;
        self.table.clear();
        self.table.resize(1 << bits, 0);

        let mut lit_start = 0;
        let mut i = 0;
        while i + MIN_MATCH <= n {
            let h = hash(&input[i..i + 3], bits) & mask;
            let cand = self.table[h] as usize;
            self.table[h] = (i + 1) as u32;
            if cand != 0 {
                let r = cand - 1;
                let off = i - r;
                if off <= MAX_OFFSET && input[r..r + 3] == input[i..i + 3] {
                    let max_len = MAX_MATCH.min(n - i);
                    let mut len = MIN_MATCH;
                    while len < max_len && input[r + len] == input[i + len] {
                        len += 1;
                    }
                    emit_literals(out, &input[lit_start..i]);
                    let l = len - 2;
                    let o = off - 1;
                    if l < 7 {
                        out.push(((l << 5) | (o >> 8)) as u8);
                    } else {
                        out.push(((7 << 5) | (o >> 8)) as u8);
                        out.push((l - 7) as u8);
                    }
                    out.push((o & 0xFF) as u8);
                    if out.len() > max_out {
                        return false;
                    }
                    // Remember the position just before the match end, so runs keep matching.
                    let last = i + len - 1;
                    if last + MIN_MATCH <= n {
                        let h = hash(&input[last..last + 3], bits) & mask;
                        self.table[h] = (last + 1) as u32;
                    }
                    i += len;
                    lit_start = i;
                    continue;
                }
            }
            i += 1;
            if out.len() + (i - lit_start) > max_out {
                return false;
            }
        }
        emit_literals(out, &input[lit_start..]);
        out.len() <= max_out
    }
}

fn hash(b: &[u8], bits: u32) -> usize {
    let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
    (v.wrapping_mul(2_654_435_761) >> (32 - bits)) as usize
}

fn emit_literals(out: &mut Vec<u8>, mut lit: &[u8]) {
    while !lit.is_empty() {
        let take = lit.len().min(MAX_LITERAL);
        out.push((take - 1) as u8);
        out.extend_from_slice(&lit[..take]);
        lit = &lit[take..];
    }
}

/// Decompresses `input`, which must produce exactly `out_len` bytes. `out_len` must already be
/// checked against `input.len() * MAX_RATIO` by the caller (it is allocated up front).
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, BlobError> {
    let mut out = Vec::with_capacity(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            if ip + len > input.len() {
                return Err(BlobError::new(ip, "literal run within the compressed data"));
            }
            if out.len() + len > out_len {
                return Err(BlobError::new(
                    ip,
                    "output no longer than the declared length",
                ));
            }
            out.extend_from_slice(&input[ip..ip + len]);
            ip += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                let Some(&extra) = input.get(ip) else {
                    return Err(BlobError::new(ip, "back-reference length byte"));
                };
                len += extra as usize;
                ip += 1;
            }
            let Some(&low) = input.get(ip) else {
                return Err(BlobError::new(ip, "back-reference offset byte"));
            };
            ip += 1;
            let off = (((ctrl & 0x1F) << 8) | low as usize) + 1;
            let len = len + 2;
            if off > out.len() {
                return Err(BlobError::new(ip - 1, "back-reference inside the output"));
            }
            if out.len() + len > out_len {
                return Err(BlobError::new(
                    ip - 1,
                    "output no longer than the declared length",
                ));
            }
            let start = out.len() - off;
            if off >= len {
                out.extend_from_within(start..start + len);
            } else {
                for k in 0..len {
                    let b = out[start + k];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != out_len {
        return Err(BlobError::new(
            input.len(),
            "as many output bytes as the declared length",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut c = Compressor::default();
        let mut out = Vec::new();
        assert!(c.compress(data, &mut out, usize::MAX));
        assert_eq!(decompress(&out, data.len()).unwrap(), data);
        out
    }

    #[test]
    fn decodes_redis_output() {
        // CAPTURED from Redis 7.0 for 100 × "a": C3 09 40 64 | 01 61 61 E0 57 00 01 61 61
        let compressed = [0x01, 0x61, 0x61, 0xE0, 0x57, 0x00, 0x01, 0x61, 0x61];
        assert_eq!(decompress(&compressed, 100).unwrap(), vec![b'a'; 100]);
    }

    #[test]
    fn runs_compress_well() {
        let out = roundtrip(&[b'a'; 100]);
        assert!(out.len() < 10, "{out:?}");
        let out = roundtrip(&[7u8; 100_000]);
        assert!(out.len() < 2000);
    }

    #[test]
    fn limit_is_respected() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut c = Compressor::default();
        let mut out = Vec::new();
        assert!(!c.compress(&data, &mut out, data.len() - 4));
    }

    #[test]
    fn bad_streams_are_errors() {
        let cases: &[(&[u8], usize)] = &[
            (&[0x05, 1, 2], 6),             // literal past the input
            (&[0x20, 0x00], 3),             // back-reference before the start
            (&[0x00, b'a', 0xE0], 10),      // missing length byte
            (&[0x00, b'a', 0x20], 3),       // missing offset byte
            (&[0x00, b'a', 0x20, 0x00], 2), // output longer than declared
            (&[0x01, b'a', b'b'], 3),       // output shorter than declared
        ];
        for (input, len) in cases {
            assert!(decompress(input, *len).is_err(), "{input:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn roundtrips(data in proptest::collection::vec(prop_oneof![Just(b'x'), Just(b'y'), any::<u8>()], 0..5000)) {
            roundtrip(&data);
        }

        #[test]
        fn decompress_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), len in 0usize..2000) {
            let _ = decompress(&data, len);
        }
    }
}
