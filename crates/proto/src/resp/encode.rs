//! Encoding: frames and commands into RESP bytes, written into a `BytesMut` (the connection
//! only flushes).
//!
//! RESP3-only types are downgraded for RESP2 connections as Redis does (table in `frame.rs`).
//! Doubles are formatted as Redis 7.0 does, C's `%.17g` (see [`format_double`]); integers and
//! lengths go through `itoa`.
//!
//! Simple strings and errors are one line on the wire: a `\r` or `\n` in them is written as a
//! space, as Redis does for formatted error texts, so a reply can never break the stream.

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::{Frame, Protocol};

/// Appends the encoding of `frame` for a connection speaking `proto`.
pub fn encode(frame: &Frame, proto: Protocol, out: &mut BytesMut) {
    let resp3 = proto == Protocol::Resp3;
    match frame {
        Frame::Simple(s) => put_line(out, b'+', s),
        Frame::Error(e) => put_line(out, b'-', e),
        Frame::Integer(n) => put_int_line(out, b':', *n),
        Frame::Bulk(b) => put_bulk(out, b),
        Frame::Null if resp3 => out.put_slice(b"_\r\n"),
        Frame::Null => out.put_slice(b"$-1\r\n"),
        Frame::NullArray if resp3 => out.put_slice(b"_\r\n"),
        Frame::NullArray => out.put_slice(b"*-1\r\n"),
        Frame::Array(items) => put_aggregate(out, b'*', items, proto),
        Frame::Double(d) => {
            let mut buf = DoubleBuf::new();
            let text = buf.format(*d);
            if resp3 {
                out.reserve(text.len() + 3);
                out.put_u8(b',');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            } else {
                put_bulk(out, text);
            }
        }
        Frame::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::Boolean(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Frame::Map(pairs) => {
            if resp3 {
                put_len_line(out, b'%', pairs.len());
            } else {
                put_len_line(out, b'*', pairs.len() * 2);
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Frame::Set(items) => put_aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
        Frame::Push(items) => put_aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
        Frame::BigNumber(n) if resp3 => put_line(out, b'(', n),
        Frame::BigNumber(n) => put_bulk(out, n),
        Frame::Verbatim { format, text } if resp3 => {
            put_len_line(out, b'=', text.len() + 4);
            out.reserve(text.len() + 6);
            out.put_slice(format);
            out.put_u8(b':');
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
        Frame::Verbatim { text, .. } => put_bulk(out, text),
    }
}

/// Appends a command as a RESP array of bulk strings, `*N\r\n$len\r\narg\r\n...`: the form
/// of the replication stream and of AOF files.
pub fn encode_command<A: AsRef<[u8]>>(argv: &[A], out: &mut BytesMut) {
    put_len_line(out, b'*', argv.len());
    for arg in argv {
        put_bulk(out, arg.as_ref());
    }
}

/// A double as Redis 7.0 replies it in RESP2 (the bulk payload) and RESP3 (after `,`): C's
/// `%.17g`, with `inf`, `-inf`, and `nan`/`-nan` as glibc prints them.
///
/// | value                     | text                        |
/// |---------------------------|-----------------------------|
/// | 0.1                       | `0.10000000000000001`       |
/// | 1.5, 3                    | `1.5`, `3`                  |
/// | 1e16, 1e17                | `10000000000000000`, `1e+17`|
/// | 1e20                      | `1e+20`                     |
/// | 1e-5                      | `1.0000000000000001e-05`    |
/// | 1/3                       | `0.33333333333333331`       |
/// | f64::MAX                  | `1.7976931348623157e+308`   |
/// | -0.0                      | `-0`                        |
pub fn format_double(d: f64) -> Bytes {
    let mut buf = DoubleBuf::new();
    Bytes::copy_from_slice(buf.format(d))
}

/// A stack buffer for one formatted double (`%.17g` needs at most 24 bytes).
struct DoubleBuf {
    text: [u8; 32],
}

impl DoubleBuf {
    fn new() -> DoubleBuf {
        DoubleBuf { text: [0; 32] }
    }

    fn format(&mut self, d: f64) -> &[u8] {
        let len = format_g17(d, &mut self.text);
        &self.text[..len]
    }
}

/// Writes C's `printf("%.17g", d)` into `out`, returning its length.
///
/// `%.17g` takes 17 significant digits, correctly rounded (ties to even, which Rust's exact
/// formatting also does); writes `d.ddde±XX` when the decimal exponent is below -4 or at
/// least 17, plain digits otherwise; and drops trailing zeros and a trailing point.
fn format_g17(d: f64, out: &mut [u8; 32]) -> usize {
    let mut w = Writer { out, len: 0 };
    if d.is_nan() {
        w.put(if d.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return w.len;
    }
    if d.is_infinite() {
        w.put(if d > 0.0 { b"inf" } else { b"-inf" });
        return w.len;
    }
    if d.is_sign_negative() {
        w.put(b"-");
    }
    let abs = d.abs();
    if abs == 0.0 {
        w.put(b"0");
        return w.len;
    }
    // Rust's `{:.16e}` gives the 17 significant digits, e.g. "1.0000000000000001e-1".
    let mut sci = [0u8; 32];
    let sci_len = {
        use std::io::Write;
        let mut cursor = std::io::Cursor::new(&mut sci[..]);
        // 17 digits, a point, and "e-324" at most: always fits in 32 bytes.
        if write!(cursor, "{abs:.16e}").is_err() {
            return w.len;
        }
        cursor.position() as usize
    };
    let sci = &sci[..sci_len];
    let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
    let mut digits = [0u8; 17];
    let mut n_digits = 0;
    for &b in &sci[..e_at] {
        if b.is_ascii_digit() && n_digits < digits.len() {
            digits[n_digits] = b;
            n_digits += 1;
        }
    }
    let exp: i32 = std::str::from_utf8(&sci[(e_at + 1).min(sci.len())..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Significant digits without trailing zeros (at least one remains: abs != 0).
    let mut sig = n_digits;
    while sig > 1 && digits[sig - 1] == b'0' {
        sig -= 1;
    }
    let digits = &digits[..sig];
    if !(-4..17).contains(&exp) {
        w.put(&digits[..1]);
        if digits.len() > 1 {
            w.put(b".");
            w.put(&digits[1..]);
        }
        w.put(if exp < 0 { b"e-" } else { b"e+" });
        let e = exp.unsigned_abs();
        if e < 10 {
            w.put(b"0");
        }
        let mut ebuf = itoa::Buffer::new();
        w.put(ebuf.format(e).as_bytes());
    } else if exp >= 0 {
        // exp in 0..17: the point falls inside or after the 17 digits.
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            w.put(digits);
            for _ in digits.len()..int_len {
                w.put(b"0");
            }
        } else {
            w.put(&digits[..int_len]);
            w.put(b".");
            w.put(&digits[int_len..]);
        }
    } else {
        // exp in -4..0: "0.", then -exp-1 zeros, then the digits.
        w.put(b"0.");
        for _ in 0..(-exp - 1) {
            w.put(b"0");
        }
        w.put(digits);
    }
    w.len
}

struct Writer<'a> {
    out: &'a mut [u8; 32],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.out.len());
        let n = end - self.len;
        self.out[self.len..end].copy_from_slice(&bytes[..n]);
        self.len = end;
    }
}

fn put_aggregate(out: &mut BytesMut, prefix: u8, items: &[Frame], proto: Protocol) {
    put_len_line(out, prefix, items.len());
    for item in items {
        encode(item, proto, out);
    }
}

fn put_bulk(out: &mut BytesMut, payload: &[u8]) {
    put_len_line(out, b'$', payload.len());
    out.reserve(payload.len() + 2);
    out.put_slice(payload);
    out.put_slice(b"\r\n");
}

fn put_len_line(out: &mut BytesMut, prefix: u8, len: usize) {
    let mut buf = itoa::Buffer::new();
    put_line_raw(out, prefix, buf.format(len).as_bytes());
}

fn put_int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut buf = itoa::Buffer::new();
    put_line_raw(out, prefix, buf.format(n).as_bytes());
}

fn put_line_raw(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// A one-line reply; CR and LF inside become spaces.
fn put_line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    if memchr::memchr2(b'\r', b'\n', text).is_none() {
        put_line_raw(out, prefix, text);
        return;
    }
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    out.extend(
        text.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(frame: &Frame, proto: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(frame, proto, &mut out);
        out.to_vec()
    }

    /// Captured from redis-server 7.0.15: `ZADD z <v> m` then `ZSCORE z m` over RESP2 and,
    /// after `HELLO 3`, RESP3.
    #[test]
    fn doubles_match_redis_zscore() {
        let table: &[(f64, &str)] = &[
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (3.0, "3"),
            (1e20, "1e+20"),
            (1.797_693_134_862_315_7e308, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (1.0 / 3.0, "0.33333333333333331"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (123_456_789_012_345_678.0, "1.2345678901234568e+17"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (2.5e-310, "2.5000000000000171e-310"),
            // 1 + 2^-17 = 1.00000762939453125 exactly: a tie, rounded to even.
            (1.0 + 1.0 / 131_072.0, "1.0000076293945312"),
            (5e-324, "4.9406564584124654e-324"),
            (-1.5e-7, "-1.4999999999999999e-07"),
            (100.0, "100"),
            (1e15, "1000000000000000"),
            (12345.678, "12345.678"),
            (1.1 + 0.0, "1.1000000000000001"),
            (f64::NAN, "nan"),
        ];
        for &(value, text) in table {
            assert_eq!(format_double(value), text.as_bytes(), "value {value:e}");
            let resp2 = format!("${}\r\n{}\r\n", text.len(), text);
            assert_eq!(
                enc(&Frame::Double(value), Protocol::Resp2),
                resp2.as_bytes()
            );
            let resp3 = format!(",{text}\r\n");
            assert_eq!(
                enc(&Frame::Double(value), Protocol::Resp3),
                resp3.as_bytes()
            );
        }
    }

    #[test]
    fn g17_matches_a_reference_on_many_values() {
        // Random bit patterns cover subnormals, huge and tiny exponents; the reference is
        // Rust's exact scientific formatting re-read as a number: every %.17g output must
        // parse back to the same double (17 digits round-trip) and use at most 17 digits.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        for _ in 0..20_000 {
            let d = f64::from_bits(rng.gen());
            if !d.is_finite() {
                continue;
            }
            let text = format_double(d);
            let s = std::str::from_utf8(&text).unwrap();
            assert_eq!(s.parse::<f64>().unwrap(), d, "{s}");
            let mantissa = s.split('e').next().unwrap();
            let significant = mantissa
                .bytes()
                .filter(u8::is_ascii_digit)
                .skip_while(|&b| b == b'0');
            assert!(significant.count() <= 17, "{s}");
        }
    }

    #[test]
    fn downgrade_table() {
        use Protocol::{Resp2, Resp3};
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        let table: Vec<(Frame, &str, &str)> = vec![
            (Frame::OK, "+OK\r\n", "+OK\r\n"),
            (Frame::error("ERR x"), "-ERR x\r\n", "-ERR x\r\n"),
            (Frame::Integer(-42), ":-42\r\n", ":-42\r\n"),
            (
                Frame::Integer(i64::MIN),
                ":-9223372036854775808\r\n",
                ":-9223372036854775808\r\n",
            ),
            (Frame::bulk(b("hi")), "$2\r\nhi\r\n", "$2\r\nhi\r\n"),
            (Frame::bulk(b("")), "$0\r\n\r\n", "$0\r\n\r\n"),
            (Frame::Null, "$-1\r\n", "_\r\n"),
            (Frame::NullArray, "*-1\r\n", "_\r\n"),
            (Frame::Array(vec![]), "*0\r\n", "*0\r\n"),
            (Frame::Boolean(true), ":1\r\n", "#t\r\n"),
            (Frame::Boolean(false), ":0\r\n", "#f\r\n"),
            (
                Frame::Map(vec![(Frame::bulk(b("k")), Frame::Integer(1))]),
                "*2\r\n$1\r\nk\r\n:1\r\n",
                "%1\r\n$1\r\nk\r\n:1\r\n",
            ),
            (
                Frame::Set(vec![Frame::Integer(1)]),
                "*1\r\n:1\r\n",
                "~1\r\n:1\r\n",
            ),
            (
                Frame::Push(vec![Frame::bulk(b("message"))]),
                "*1\r\n$7\r\nmessage\r\n",
                ">1\r\n$7\r\nmessage\r\n",
            ),
            (Frame::BigNumber(b("-123")), "$4\r\n-123\r\n", "(-123\r\n"),
            (
                Frame::Verbatim {
                    format: *b"txt",
                    text: b("hello"),
                },
                "$5\r\nhello\r\n",
                "=9\r\ntxt:hello\r\n",
            ),
            (Frame::simple("a\r\nb"), "+a  b\r\n", "+a  b\r\n"),
            (Frame::error("ERR a\nb"), "-ERR a b\r\n", "-ERR a b\r\n"),
        ];
        for (frame, resp2, resp3) in &table {
            assert_eq!(enc(frame, Resp2), resp2.as_bytes(), "{frame:?} in RESP2");
            assert_eq!(enc(frame, Resp3), resp3.as_bytes(), "{frame:?} in RESP3");
        }
    }

    #[test]
    fn encode_command_is_multibulk() {
        let mut out = BytesMut::new();
        encode_command(&["SET", "k", ""], &mut out);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        let mut out = BytesMut::new();
        encode_command::<&[u8]>(&[], &mut out);
        assert_eq!(&out[..], b"*0\r\n");
        let argv = vec![Bytes::from_static(b"PING")];
        let mut out = BytesMut::new();
        encode_command(&argv, &mut out);
        assert_eq!(out, enc(&Frame::command(&argv), Protocol::Resp2));
    }
}
