//! Number <-> text rules the format depends on: which strings count as integers (and may be
//! stored in integer form), and how Redis 7.0 turns a sorted-set score into text for a listpack.

/// Parses `s` as an `i64` only if it is the canonical decimal form of that integer: what Redis's
/// `string2ll` accepts (1 to 20 bytes, optional `-`, no `+`, no leading zeros, no spaces, and
/// not `-0`). Such strings round-trip exactly through the integer encodings.
pub fn canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
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
    if neg {
        if v > 1u64 << 63 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Formats a score the way Redis 7.0's `d2string` does before storing it in a listpack:
/// `inf`/`-inf`, `0`/`-0`, integral values below 2^52 in magnitude as integers, anything else
/// as C's `%.17g`. Callers reject NaN before this (zsets never hold NaN).
pub fn format_score(d: f64) -> String {
    if d.is_infinite() {
        return if d < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let min = -4_503_599_627_370_495.0;
    let max = 4_503_599_627_370_496.0;
    if d > min && d < max && d == (d as i64) as f64 {
        return (d as i64).to_string();
    }
    format_g17(d)
}

/// C's `printf("%.17g", d)` for a finite, non-zero `d`.
fn format_g17(d: f64) -> String {
    const P: i32 = 17;
    // `{:.16e}` rounds correctly to 17 significant digits, like glibc: "d.dddddddddddddddde<X>".
    let sci = format!("{:.16e}", d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if !(-4..P).contains(&x) {
        // Scientific: first digit, fraction without trailing zeros, exponent of 2+ digits.
        out.push(digits[0] as char);
        let frac = trim_zeros(&digits[1..]);
        if !frac.is_empty() {
            out.push('.');
            out.extend(frac.iter().map(|&b| b as char));
        }
        out.push('e');
        out.push(if x < 0 { '-' } else { '+' });
        let ax = x.unsigned_abs();
        if ax < 10 {
            out.push('0');
        }
        out.push_str(&ax.to_string());
    } else if x >= 0 {
        let int_len = x as usize + 1;
        out.extend(digits[..int_len].iter().map(|&b| b as char));
        let frac = trim_zeros(&digits[int_len..]);
        if !frac.is_empty() {
            out.push('.');
            out.extend(frac.iter().map(|&b| b as char));
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-x - 1) {
            out.push('0');
        }
        out.extend(trim_zeros(&digits).iter().map(|&b| b as char));
    }
    out
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let end = d.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1);
    &d[..end]
}

/// Parses a score stored as text (listpack/ziplist entry or legacy type-3 value), as `strtod`
/// would for the forms Redis writes: decimal, exponent, `inf`, `-inf`. NaN gives `None`.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = text.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_integers() {
        let yes: &[(&[u8], i64)] = &[
            (b"0", 0),
            (b"1", 1),
            (b"-1", -1),
            (b"12345", 12345),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for (s, v) in yes {
            assert_eq!(canonical_i64(s), Some(*v), "{}", String::from_utf8_lossy(s));
        }
        let no: &[&[u8]] = &[
            b"",
            b"-",
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
            b"123456789012345678901",
            b"1a",
        ];
        for s in no {
            assert_eq!(canonical_i64(s), None, "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn scores_format_like_redis_7_0() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (2.0, "2"),
            (-3.0, "-3"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.1, "0.10000000000000001"),
            (1e20, "1e+20"),
            (1e-5, "1.0000000000000001e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (3.14158, "3.1415799999999998"),
            (4503599627370496.0, "4503599627370496"),
            (1e16, "10000000000000000"),
            (0.0001, "0.0001"),
            (-2.5e-300, "-2.5e-300"),
        ];
        for (d, s) in cases {
            assert_eq!(format_score(*d), *s, "{d:e}");
        }
    }

    proptest! {
        #[test]
        fn integers_roundtrip_as_text(v in any::<i64>()) {
            prop_assert_eq!(canonical_i64(v.to_string().as_bytes()), Some(v));
        }

        #[test]
        fn scores_roundtrip_as_text(d in any::<f64>().prop_filter("no NaN", |d| !d.is_nan())) {
            let s = format_score(d);
            let back = parse_score(s.as_bytes()).unwrap();
            prop_assert_eq!(back.to_bits(), d.to_bits(), "{}", s);
        }
    }
}
