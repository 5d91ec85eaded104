//! Floats as Redis reads them: `strtod` over the whole argument (decimal, exponent and C99 hex
//! forms, `inf`/`infinity` in any case), NaN refused, and, for values (`getDoubleFromObject`),
//! overflow to ±inf or underflow to 0 refused (`ERANGE`). Range bounds (`zslParseRange`) are
//! looser: leading spaces and the empty string (0) are accepted.

/// `strtod` over the whole of `s` (no leading space): the value and whether it over- or
/// underflowed (`ERANGE`). `None` if `s` is not entirely a number or is NaN.
pub(crate) fn strtod_whole(s: &[u8]) -> Option<(f64, bool)> {
    match small_integer(s) {
        Some(v) => Some((v, false)),
        None => strtod_general(s),
    }
}

/// The common case of [`strtod_whole`] without its general parser: an optional sign and 1 to
/// 15 decimal digits, a value that `f64` holds exactly (below 2^53), so converting the
/// integer gives the very double `strtod` returns (`-0` included).
fn small_integer(s: &[u8]) -> Option<f64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut n = 0u64;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    let v = n as f64;
    Some(if neg { -v } else { v })
}

/// [`strtod_whole`] for every form.
fn strtod_general(s: &[u8]) -> Option<(f64, bool)> {
    let text = std::str::from_utf8(s).ok()?;
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (v, inf_literal, nonzero_digits) = if lower == "inf" || lower == "infinity" {
        (f64::INFINITY, true, true)
    } else if let Some(hex) = lower.strip_prefix("0x") {
        let (v, nz) = parse_hex_float(hex)?;
        (v, false, nz)
    } else {
        // Rust's parser takes the decimal forms strtod takes; it also takes "nan" and
        // "inf" spellings, handled or rejected here, and signs, which we stripped.
        if !lower
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'-' | b'+'))
            || lower.starts_with(['-', '+'])
        {
            return None;
        }
        let v: f64 = lower.parse().ok()?;
        let mantissa = lower.split('e').next().unwrap_or("");
        (
            v,
            false,
            mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)),
        )
    };
    if v.is_nan() {
        return None;
    }
    let erange = (v.is_infinite() && !inf_literal) || (v == 0.0 && nonzero_digits);
    Some((if neg { -v } else { v }, erange))
}

/// The part of a C99 hex float after `0x`: hex digits, an optional fraction, an optional
/// binary exponent `p[+-]digits`. Returns the value and whether any digit was non-zero.
fn parse_hex_float(s: &str) -> Option<(f64, bool)> {
    let (mant, exp) = match s.find('p') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int_part, frac_part) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0f64;
    let mut nonzero = false;
    for c in int_part.chars() {
        let d = c.to_digit(16)?;
        nonzero |= d != 0;
        v = v * 16.0 + d as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        let d = c.to_digit(16)?;
        nonzero |= d != 0;
        v += d as f64 * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let e: i32 = e.parse().unwrap_or(if e.starts_with('-') {
            i32::MIN
        } else {
            i32::MAX
        });
        if v != 0.0 {
            v *= 2f64.powi(e.clamp(-2000, 2000));
        }
    }
    Some((v, nonzero))
}

/// A score, increment or weight as Redis's `getDoubleFromObject` reads it: the whole string
/// is a `strtod` number, no leading space, not NaN, no overflow to ±inf and no underflow to 0.
pub fn parse_score(b: &[u8]) -> Option<f64> {
    match b.first() {
        None => None,
        Some(c) if c.is_ascii_whitespace() || *c == 0x0b => None,
        _ => match strtod_whole(b)? {
            (_, true) => None,
            (v, false) => Some(v),
        },
    }
}

/// A range bound as `zslParseRange` reads it: plain `strtod` (leading spaces allowed, the
/// empty string is 0, overflow allowed), NaN rejected.
pub(crate) fn parse_range_number(b: &[u8]) -> Option<f64> {
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b
        .iter()
        .position(|c| !(c.is_ascii_whitespace() || *c == 0x0b))?;
    strtod_whole(&b[start..]).map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_integer_fast_path_edges() {
        let neg_zero = strtod_whole(b"-0").unwrap();
        assert!(neg_zero.0 == 0.0 && neg_zero.0.is_sign_negative() && !neg_zero.1);
        assert_eq!(strtod_whole(b"+7"), Some((7.0, false)));
        assert_eq!(strtod_whole(b"007"), Some((7.0, false)));
        assert_eq!(
            strtod_whole(b"999999999999999"),
            Some((999_999_999_999_999.0, false))
        );
        // 16 digits and other forms go through the general parser.
        assert_eq!(small_integer(b"1234567890123456"), None);
        assert_eq!(
            strtod_whole(b"1234567890123456"),
            Some((1_234_567_890_123_456.0, false))
        );
        for bad in [&b""[..], b"-", b"+", b"1a", b"--1", b" 1", b"1 "] {
            assert_eq!(small_integer(bad), None, "{bad:?}");
            assert_eq!(strtod_whole(bad), None, "{bad:?}");
        }
    }

    proptest! {
        /// The integer fast path gives exactly what the general parser gives.
        #[test]
        fn small_integer_matches_general_parser(sign in "[-+]?", digits in "[0-9]{1,15}") {
            let text = format!("{sign}{digits}");
            let fast = small_integer(text.as_bytes()).map(f64::to_bits);
            let general = strtod_general(text.as_bytes()).map(|(v, e)| {
                assert!(!e);
                v.to_bits()
            });
            prop_assert_eq!(fast, general);
        }
    }
}
