//! What both decoders share: Redis's integer syntax, finding a line end under a size limit
//! without rescanning, and assembling a bulk payload as its bytes arrive.
//!
//! All positions are relative to the front of the caller's buffer, which always starts at the
//! first byte of the element being parsed (decoders consume as they go).

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtoError;

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest header or inline line (64 KiB).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;
/// Redis's `PROTO_MBULK_BIG_ARG`: bulks at least this long are assembled in their own buffer.
pub const BIG_ARG: usize = 32 * 1024;
/// The most a big bulk's buffer is given before its bytes arrive.
pub const BULK_PREALLOC_CAP: usize = 1024 * 1024;
/// The most spare room a decoder asks of the read buffer while a big bulk streams in.
const READ_HINT_CAP: usize = 64 * 1024;

/// Parses a signed decimal exactly as Redis's `string2ll`: no sign but `-`, no leading zeros,
/// no spaces, at most 20 bytes, within `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE is 21 in Redis: 20 bytes is the longest input it looks at.
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -(i64::MIN) is one more than i64::MAX.
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(v).ok()
    }
}

/// Where a line ends, remembering how far previous calls scanned.
///
/// Redis's rule for header lines: the line ends at the first `needle` (which must be followed
/// by at least one more byte); with no `needle` among more than `limit` buffered bytes the
/// stream is dead. To be independent of how reads are split we apply the limit to the
/// position of the `needle` too: a line of more than `limit` bytes is refused even when its
/// terminator arrived in the same read (Redis refuses it when the bytes come one at a time).
#[derive(Debug, Default)]
pub struct LineScan {
    scanned: usize,
}

impl LineScan {
    /// Returns the index of `needle` in `buf` (a whole line is there), `Ok(None)` to wait, or
    /// `too_long` when no `needle` can come within `limit` bytes.
    ///
    /// With `need_next`, the byte after `needle` must be buffered too (Redis skips it
    /// unchecked after `\r`).
    pub fn find(
        &mut self,
        buf: &[u8],
        needle: u8,
        need_next: bool,
        limit: usize,
        too_long: ProtoError,
    ) -> Result<Option<usize>, ProtoError> {
        let window = buf.len().min(limit.saturating_add(1));
        let from = self.scanned.min(window);
        match memchr::memchr(needle, &buf[from..window]) {
            Some(rel) => {
                let at = from + rel;
                if need_next && at + 1 >= buf.len() {
                    self.scanned = at;
                    return Ok(None);
                }
                self.scanned = 0;
                Ok(Some(at))
            }
            None if buf.len() > limit => Err(too_long),
            None => {
                self.scanned = window;
                Ok(None)
            }
        }
    }

    pub fn reset(&mut self) {
        self.scanned = 0;
    }
}

/// A bulk payload of known length being received: `len` bytes, then a 2-byte trailer.
///
/// Small payloads wait in the read buffer and are copied out whole (a copy, not a slice of the
/// read buffer, so a stored 3-byte key never pins a 64 KiB read buffer). Payloads of
/// `big_arg` bytes or more move into their own buffer as they arrive: it starts at
/// `min(len, 1 MiB)` once the first payload byte is there and grows with the data, never past
/// `len`, and becomes the `Bytes` without another copy.
#[derive(Debug)]
pub struct BulkBody {
    len: usize,
    big: Option<Vec<u8>>,
}

/// What to do with the two bytes after a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailer {
    /// Skip them unchecked, as Redis's request parser does (`*1\r\n$4\r\nPINGxx` is a PING).
    Skip,
    /// They must be `\r\n`.
    Crlf,
}

impl BulkBody {
    pub fn new(len: usize, big_arg: usize) -> BulkBody {
        BulkBody {
            len,
            big: (len >= big_arg).then(Vec::new),
        }
    }

    /// Bytes of the payload already moved out of the read buffer.
    pub fn held(&self) -> usize {
        self.big.as_ref().map_or(0, Vec::len)
    }

    /// Heap bytes this body owns (tests bound it against the input size).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.big.as_ref().map_or(0, Vec::capacity)
    }

    /// Takes what it can from `buf`; returns the payload once it and its trailer are consumed.
    /// `wire` grows by every byte consumed.
    pub fn poll(
        &mut self,
        buf: &mut BytesMut,
        wire: &mut usize,
        trailer: Trailer,
    ) -> Result<Option<Bytes>, ProtoError> {
        let len = self.len;
        let Some(big) = self.big.as_mut() else {
            // `len + 2` cannot overflow: len is below `big_arg`.
            if buf.len() < len + 2 {
                return Ok(None);
            }
            check_trailer(&buf[len..len + 2], trailer)?;
            let payload = Bytes::copy_from_slice(&buf[..len]);
            buf.advance(len + 2);
            *wire += len + 2;
            return Ok(Some(payload));
        };
        let missing = len - big.len();
        if missing > 0 && !buf.is_empty() {
            let take = missing.min(buf.len());
            if big.capacity() - big.len() < take {
                let target = len.min((big.capacity() * 2).max(big.len() + take));
                let target = target.max(len.min(BULK_PREALLOC_CAP));
                big.reserve_exact(target - big.len());
            }
            big.extend_from_slice(&buf[..take]);
            buf.advance(take);
            *wire += take;
        }
        if big.len() < len || buf.len() < 2 {
            // Ask for room so the next read can bring a large chunk of what is missing.
            let want = (len - big.len() + 2).min(READ_HINT_CAP);
            if buf.capacity() - buf.len() < want {
                buf.reserve(want);
            }
            return Ok(None);
        }
        check_trailer(&buf[..2], trailer)?;
        buf.advance(2);
        *wire += 2;
        Ok(Some(Bytes::from(std::mem::take(big))))
    }
}

fn check_trailer(two: &[u8], trailer: Trailer) -> Result<(), ProtoError> {
    match trailer {
        Trailer::Crlf if two != b"\r\n" => Err(ProtoError::ExpectedCrlf),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_follows_string2ll() {
        let table: &[(&[u8], Option<i64>)] = &[
            (b"0", Some(0)),
            (b"1", Some(1)),
            (b"-1", Some(-1)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"18446744073709551616", None),
            (b"00000000000000000004", None),
            (b"01", None),
            (b"-0", None),
            (b"+1", None),
            (b"", None),
            (b"-", None),
            (b" 1", None),
            (b"1 ", None),
            (b"1x", None),
            (b"123456789012345678901", None),
        ];
        for (input, want) in table {
            assert_eq!(
                parse_i64(input),
                *want,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn line_scan_resumes_and_limits() {
        let mut scan = LineScan::default();
        let err = ProtoError::TooBigBulkCount;
        assert_eq!(scan.find(b"$12", b'\r', true, 8, err.clone()), Ok(None));
        assert_eq!(scan.scanned, 3);
        assert_eq!(scan.find(b"$123\r", b'\r', true, 8, err.clone()), Ok(None));
        assert_eq!(scan.scanned, 4);
        assert_eq!(
            scan.find(b"$123\r\n", b'\r', true, 8, err.clone()),
            Ok(Some(4))
        );
        assert_eq!(scan.scanned, 0);
        // 8 bytes without CR: still waiting; 9: dead.
        assert_eq!(
            scan.find(b"$1234567", b'\r', true, 8, err.clone()),
            Ok(None)
        );
        assert_eq!(
            scan.find(b"$12345678", b'\r', true, 8, err.clone()),
            Err(err.clone())
        );
        scan.reset();
        // CR at index 8 is fine, at index 9 is too far even when it is buffered.
        assert_eq!(
            scan.find(b"$1234567\r\n", b'\r', true, 8, err.clone()),
            Ok(Some(8))
        );
        assert_eq!(
            scan.find(b"$12345678\r\n", b'\r', true, 8, err.clone()),
            Err(err)
        );
    }

    #[test]
    fn big_body_grows_with_data_not_with_length() {
        let mut body = BulkBody::new(10_000_000, 16);
        let mut buf = BytesMut::from(&b"abc"[..]);
        let mut wire = 0;
        assert_eq!(body.poll(&mut buf, &mut wire, Trailer::Skip), Ok(None));
        assert_eq!(body.held(), 3);
        assert_eq!(wire, 3);
        assert!(body.capacity() <= BULK_PREALLOC_CAP);
    }

    #[test]
    fn big_body_ends_exact_size() {
        let len = 3 * BULK_PREALLOC_CAP + 17;
        let mut input = vec![b'z'; len];
        input.extend_from_slice(b"\r\n");
        let mut body = BulkBody::new(len, 16);
        let mut wire = 0;
        let mut buf = BytesMut::new();
        let mut out = None;
        for chunk in input.chunks(100_000) {
            assert!(out.is_none());
            buf.extend_from_slice(chunk);
            out = body.poll(&mut buf, &mut wire, Trailer::Crlf).unwrap();
            assert!(body.capacity() <= len);
        }
        let payload = out.expect("whole payload fed");
        assert_eq!(payload.len(), len);
        assert_eq!(wire, len + 2);
        assert!(buf.is_empty());
    }

    #[test]
    fn crlf_trailer_is_checked_only_when_asked() {
        let mut wire = 0;
        let mut buf = BytesMut::from(&b"abcXY"[..]);
        let got = BulkBody::new(3, 16).poll(&mut buf, &mut wire, Trailer::Skip);
        assert_eq!(got, Ok(Some(Bytes::from_static(b"abc"))));
        let mut buf = BytesMut::from(&b"abcXY"[..]);
        let got = BulkBody::new(3, 16).poll(&mut buf, &mut wire, Trailer::Crlf);
        assert_eq!(got, Err(ProtoError::ExpectedCrlf));
    }
}
