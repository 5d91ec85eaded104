//! Redis's `long double` arithmetic (x87 80-bit extended precision on x86-64), emulated in
//! software so `INCRBYFLOAT` (string.rs) and `HINCRBYFLOAT` (hash.rs) store byte-identical
//! results; blocking commands' timeouts are parsed and scaled with it too (`cmd/mod.rs`), as
//! Redis does.
//!
//! Redis parses operands with `strtold` (correctly rounded to a 64-bit significand), adds
//! them in extended precision (round to nearest, ties to even), and stores the result with
//! `%.17Lf`, trailing zeros removed. An `f64` version differs on everyday inputs:
//! `1.5 + 0.1` is `1.6000000000000000888` in f64 (printed `1.60000000000000009`) but
//! `1.6` in long double. So this module implements exactly those three steps:
//!
//! - [`LongDouble::parse`]: Redis's `string2ld` — decimal, hex (`0x1p3`) and `inf` forms,
//!   no leading space, whole string consumed, NaN and out-of-range (overflow, underflow to
//!   zero) rejected, at most 5119 bytes.
//! - `+` ([`std::ops::Add`]): one correctly rounded addition; overflow gives
//!   [`LongDouble::Inf`], `inf + -inf` gives [`LongDouble::Nan`], as in C.
//! - [`LongDouble::format_human`]: `ld2string(..., LD_STR_HUMAN)`.
//!
//! The commands differ only in which checks they make and their error texts (HINCRBYFLOAT
//! rejects an infinite increment up front with `value is NaN or Infinity`, INCRBYFLOAT only
//! checks the sum), so those checks stay in the handlers.
//!
//! Values are `mant * 2^exp` with a 64-bit `mant`; exact big-integer arithmetic is used only
//! while parsing and printing (bounded: inputs are at most 5119 bytes and exponents are
//! range-checked before any big number is built).

use bytes::Bytes;
use std::cmp::Ordering;

/// Redis's `MAX_LONG_DOUBLE_CHARS`: `string2ld` rejects inputs this long or longer.
const MAX_CHARS: usize = 5 * 1024;
/// Binary exponent of the top bit of the largest finite extended value.
const MAX_TOP_EXP: i64 = 16383;
/// Binary exponent of the lowest bit of the smallest subnormal extended value.
const MIN_LSB_EXP: i64 = -16445;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LongDouble {
    /// `mant * 2^exp` (`mant == 0` is a signed zero).
    Finite {
        neg: bool,
        mant: u64,
        exp: i64,
    },
    Inf {
        neg: bool,
    },
    Nan,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble::Finite {
        neg: false,
        mant: 0,
        exp: 0,
    };

    pub fn is_finite(&self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }

    /// Parses like Redis's `string2ld`; `None` where Redis reports "not a valid float".
    pub fn parse(b: &[u8]) -> Option<LongDouble> {
        if b.is_empty() || b.len() >= MAX_CHARS || is_c_space(b[0]) {
            return None;
        }
        let (neg, rest) = match b[0] {
            b'-' => (true, &b[1..]),
            b'+' => (false, &b[1..]),
            _ => (false, b),
        };
        if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Inf { neg });
        }
        let parsed = if rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
            parse_hex(neg, &rest[2..])?
        } else {
            parse_decimal(neg, rest)?
        };
        Some(parsed)
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    /// `self + other`, correctly rounded to extended precision.
    fn add(self, other: LongDouble) -> LongDouble {
        use LongDouble::*;
        match (self, other) {
            (Nan, _) | (_, Nan) => Nan,
            (Inf { neg: a }, Inf { neg: b }) => {
                if a == b {
                    self
                } else {
                    Nan
                }
            }
            (Inf { .. }, _) => self,
            (_, Inf { .. }) => other,
            (
                Finite {
                    neg: an,
                    mant: am,
                    exp: ae,
                },
                Finite {
                    neg: bn,
                    mant: bm,
                    exp: be,
                },
            ) => add_finite((an, am, ae), (bn, bm, be)),
        }
    }
}

impl LongDouble {
    /// `self * k` for a small integer `k`, correctly rounded (C's `ld * 1000.0`).
    pub fn mul_small(self, k: u64) -> LongDouble {
        match self {
            LongDouble::Finite { neg, mant, exp } => {
                // Exact product (at most 128 bits), rounded once.
                round_pack(neg, mant as u128 * k as u128, exp, false)
            }
            LongDouble::Inf { .. } if k == 0 => LongDouble::Nan,
            other => other,
        }
    }

    /// C's `(long long)` conversion on x86-64: truncation toward zero; NaN, the infinities
    /// and values out of range give `i64::MIN` (the "integer indefinite" value).
    pub fn to_i64_trunc(&self) -> i64 {
        let LongDouble::Finite { neg, mant, exp } = *self else {
            return i64::MIN;
        };
        let magnitude = if exp >= 0 {
            (exp < 64 && mant.leading_zeros() as i64 >= exp).then(|| mant << exp)
        } else if exp <= -64 {
            Some(0)
        } else {
            Some(mant >> -exp)
        };
        match (magnitude, neg) {
            (Some(m), false) if m <= i64::MAX as u64 => m as i64,
            // -2^63 itself is representable.
            (Some(m), true) if m <= 1 << 63 => (m as i64).wrapping_neg(),
            _ => i64::MIN,
        }
    }

    pub fn format_human(&self) -> Bytes {
        let (neg, mant, exp) = match *self {
            LongDouble::Nan => return Bytes::from_static(b"nan"),
            LongDouble::Inf { neg: false } => return Bytes::from_static(b"inf"),
            LongDouble::Inf { neg: true } => return Bytes::from_static(b"-inf"),
            LongDouble::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        // X = round_half_even(|value| * 10^17): the digits of "%.17Lf" without the dot.
        let digits = if mant == 0 {
            "0".to_string()
        } else if exp >= 0 {
            let mut n = Big::from_u64(mant).shl(exp as u64);
            n.mul_pow10(17);
            n.to_decimal()
        } else {
            let n = mant as u128 * 100_000_000_000_000_000u128; // < 2^121
            let s = (-exp) as u64;
            let q = if s >= 128 {
                0 // n < 2^121 <= half of 2^s: rounds to zero
            } else {
                let q = n >> s;
                let rem = n - (q << s);
                let half = 1u128 << (s - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            q.to_string()
        };
        let digits = format!("{digits:0>18}");
        let (int, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut out = String::with_capacity(digits.len() + 2);
        if neg {
            out.push('-');
        }
        out.push_str(int);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        if out == "-0" {
            out = "0".to_string();
        }
        Bytes::from(out)
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses `[+-]digits` (at least one digit) to the end of `b`, saturating at ±10^9.
fn parse_exponent(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = (v * 10 + (d - b'0') as i64).min(1_000_000_000);
    }
    Some(if neg { -v } else { v })
}

/// Splits `int[.frac][<marker>exp]` with `is_digit` digits; `None` unless the whole
/// input is consumed and there is at least one digit.
fn split_number(b: &[u8], is_digit: fn(&u8) -> bool, marker: u8) -> Option<(&[u8], &[u8], i64)> {
    let int_end = b.iter().position(|c| !is_digit(c)).unwrap_or(b.len());
    let (int, mut rest) = b.split_at(int_end);
    let mut frac: &[u8] = &[];
    if rest.first() == Some(&b'.') {
        let r = &rest[1..];
        let end = r.iter().position(|c| !is_digit(c)).unwrap_or(r.len());
        frac = &r[..end];
        rest = &r[end..];
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let exp = match rest.first() {
        None => 0,
        Some(c) if c | 0x20 == marker => parse_exponent(&rest[1..])?,
        Some(_) => return None,
    };
    Some((int, frac, exp))
}

fn parse_decimal(neg: bool, b: &[u8]) -> Option<LongDouble> {
    let (int, frac, exp10) = split_number(b, u8::is_ascii_digit, b'e')?;
    let mut digits: Vec<u8> = int.iter().chain(frac).copied().collect();
    let mut e = exp10 - frac.len() as i64;
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..lead);
    while digits.last() == Some(&b'0') {
        digits.pop();
        e += 1;
    }
    if digits.is_empty() {
        return Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let nd = digits.len() as i64;
    // The value is in [10^(nd+e-1), 10^(nd+e)); the extended range is about
    // [3.6e-4951, 1.19e4932], so these bounds only reject what strtold reports as
    // ERANGE (overflow, or underflow to zero) and keep the big numbers small.
    if nd + e - 1 > 4933 || nd + e < -4952 {
        return None;
    }
    let d = Big::from_digits(&digits, 10);
    let (sig, shift, sticky) = if e >= 0 {
        let mut n = d;
        n.mul_pow10(e as u64);
        n.top128()
    } else {
        let mut p = Big::from_u64(1);
        p.mul_pow10((-e) as u64);
        // Scale so the quotient has 120-121 bits, then divide with a sticky remainder.
        let s = d.bitlen() as i64 - p.bitlen() as i64 - 120;
        let (a, b) = if s < 0 {
            (d.shl((-s) as u64), p)
        } else {
            (d, p.shl(s as u64))
        };
        let (q, rem) = a.div_small_quotient(&b);
        (q, s, rem)
    };
    finish(round_pack(neg, sig, shift, sticky))
}

fn parse_hex(neg: bool, b: &[u8]) -> Option<LongDouble> {
    let (int, frac, exp2) = split_number(b, u8::is_ascii_hexdigit, b'p')?;
    let digits: Vec<u8> = int.iter().chain(frac).copied().collect();
    let h = Big::from_digits(&digits, 16);
    if h.is_zero() {
        return Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let e = exp2 - 4 * frac.len() as i64;
    let top = e + h.bitlen() as i64 - 1;
    if !(MIN_LSB_EXP - 2..=MAX_TOP_EXP + 1).contains(&top) {
        return None;
    }
    let (sig, shift, sticky) = h.top128();
    finish(round_pack(neg, sig, e + shift, sticky))
}

/// strtold's ERANGE cases that `string2ld` rejects: overflow and underflow to zero
/// (only called for non-zero inputs).
fn finish(v: LongDouble) -> Option<LongDouble> {
    match v {
        LongDouble::Finite { mant, .. } if mant != 0 => Some(v),
        _ => None,
    }
}

/// Rounds `sig * 2^exp` (plus a non-zero remainder below bit 0 if `sticky`) to
/// extended precision: 64 significant bits, ties to even, subnormals below 2^-16382,
/// infinity above the largest finite value. Callers pass either an exact `sig` or one
/// with at least 66 significant bits, so `sticky` never sits next to the round bit.
fn round_pack(neg: bool, sig: u128, exp: i64, sticky: bool) -> LongDouble {
    if sig == 0 {
        return LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        };
    }
    let bitlen = 128 - sig.leading_zeros() as i64;
    let top = exp + bitlen - 1;
    let mut lsb = (top - 63).max(MIN_LSB_EXP);
    let shift = lsb - exp;
    let mut q: u128 = if shift <= 0 {
        sig << (-shift) as u32
    } else if shift > 128 {
        0
    } else {
        let q = if shift == 128 { 0 } else { sig >> shift };
        let rem = if shift == 128 {
            sig
        } else {
            sig - (q << shift)
        };
        let half = 1u128 << (shift - 1);
        let up = rem > half || (rem == half && (sticky || q & 1 == 1));
        q + up as u128
    };
    if q >> 64 != 0 {
        q >>= 1;
        lsb += 1;
    }
    if q == 0 {
        return LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        };
    }
    let top = lsb + (128 - q.leading_zeros() as i64) - 1;
    if top > MAX_TOP_EXP {
        return LongDouble::Inf { neg };
    }
    LongDouble::Finite {
        neg,
        mant: q as u64,
        exp: lsb,
    }
}

type Parts = (bool, u64, i64);

fn add_finite(a: Parts, b: Parts) -> LongDouble {
    let norm = |(n, m, e): Parts| -> Parts {
        let lz = m.leading_zeros();
        (n, m << lz, e - lz as i64)
    };
    match (a.1 == 0, b.1 == 0) {
        (true, true) => {
            return LongDouble::Finite {
                neg: a.0 && b.0,
                mant: 0,
                exp: 0,
            }
        }
        (true, false) => {
            return LongDouble::Finite {
                neg: b.0,
                mant: b.1,
                exp: b.2,
            }
        }
        (false, true) => {
            return LongDouble::Finite {
                neg: a.0,
                mant: a.1,
                exp: a.2,
            }
        }
        _ => {}
    }
    let (a, b) = (norm(a), norm(b));
    let (big, small) = if (a.2, a.1) >= (b.2, b.1) {
        (a, b)
    } else {
        (b, a)
    };
    let d = big.2 - small.2;
    if d > 66 {
        // `small` is below a quarter ulp of `big`: the sum rounds to `big`.
        return LongDouble::Finite {
            neg: big.0,
            mant: big.1,
            exp: big.2,
        };
    }
    let x = (big.1 as u128) << 62;
    let y = if d <= 62 {
        (small.1 as u128) << (62 - d)
    } else {
        let s = d - 62;
        let lost = small.1 & ((1u64 << s) - 1) != 0;
        ((small.1 >> s) as u128) | lost as u128
    };
    let exp = big.2 - 62;
    if big.0 == small.0 {
        round_pack(big.0, x + y, exp, false)
    } else if x == y {
        LongDouble::ZERO
    } else {
        round_pack(big.0, x - y, exp, false)
    }
}

/// A non-negative big integer, little-endian `u64` limbs, no high zero limbs.
#[derive(Debug, Clone, PartialEq)]
struct Big(Vec<u64>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bitlen(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => self.0.len() as u64 * 64 - top.leading_zeros() as u64,
        }
    }

    fn mul_small(&mut self, m: u64) {
        let mut carry: u128 = 0;
        for limb in self.0.iter_mut() {
            let v = *limb as u128 * m as u128 + carry;
            *limb = v as u64;
            carry = v >> 64;
        }
        if carry != 0 {
            self.0.push(carry as u64);
        }
        self.trim();
    }

    fn add_small(&mut self, a: u64) {
        let mut carry = a;
        for limb in self.0.iter_mut() {
            if carry == 0 {
                return;
            }
            let (v, c) = limb.overflowing_add(carry);
            *limb = v;
            carry = c as u64;
        }
        if carry != 0 {
            self.0.push(carry);
        }
    }

    /// From ASCII digits in `radix` (10 or 16), most significant first.
    fn from_digits(digits: &[u8], radix: u64) -> Big {
        let per_chunk = if radix == 10 { 19 } else { 15 };
        let mut n = Big(Vec::new());
        for chunk in digits.chunks(per_chunk) {
            let mut v: u64 = 0;
            for &c in chunk {
                let d = (c as char).to_digit(radix as u32).unwrap_or(0) as u64;
                v = v * radix + d;
            }
            n.mul_small(radix.pow(chunk.len() as u32));
            n.add_small(v);
        }
        n.trim();
        n
    }

    fn mul_pow10(&mut self, mut e: u64) {
        const TEN19: u64 = 10_000_000_000_000_000_000;
        while e >= 19 {
            self.mul_small(TEN19);
            e -= 19;
        }
        self.mul_small(10u64.pow(e as u32));
    }

    fn shl(&self, bits: u64) -> Big {
        let (limbs, bits) = ((bits / 64) as usize, (bits % 64) as u32);
        let mut out = vec![0u64; limbs];
        out.reserve(self.0.len() + 1);
        let mut carry = 0u64;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push((l << bits) | carry);
                carry = l >> (64 - bits);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shr1(&mut self) {
        let n = self.0.len();
        for i in 0..n {
            let hi = if i + 1 < n { self.0[i + 1] << 63 } else { 0 };
            self.0[i] = (self.0[i] >> 1) | hi;
        }
        self.trim();
    }

    fn cmp_big(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    /// `self -= o`, requires `self >= o`.
    fn sub_assign(&mut self, o: &Big) {
        let mut borrow = 0u64;
        for i in 0..self.0.len() {
            let r = o.0.get(i).copied().unwrap_or(0);
            let (v1, b1) = self.0[i].overflowing_sub(r);
            let (v2, b2) = v1.overflowing_sub(borrow);
            self.0[i] = v2;
            borrow = (b1 || b2) as u64;
        }
        self.trim();
    }

    /// Bit `i` (0 = least significant).
    fn bit(&self, i: u64) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|l| (l >> (i % 64)) & 1 == 1)
    }

    /// The top (at most) 128 bits: `(sig, shift, sticky)` with
    /// `self = sig * 2^shift + rest`, `sticky = rest != 0`.
    fn top128(&self) -> (u128, i64, bool) {
        let len = self.bitlen();
        let shift = len.saturating_sub(128);
        let mut sig: u128 = 0;
        for i in (shift..len).rev() {
            sig = (sig << 1) | self.bit(i) as u128;
        }
        let sticky = (0..shift).any(|i| self.bit(i));
        (sig, shift as i64, sticky)
    }

    /// `(self / d, self % d != 0)` for a quotient below 2^122 (restoring division).
    fn div_small_quotient(mut self, d: &Big) -> (u128, bool) {
        let qbits = (self.bitlen() + 1).saturating_sub(d.bitlen()).min(122);
        if qbits == 0 {
            return (0, !self.is_zero());
        }
        let mut ds = d.shl(qbits - 1);
        let mut q: u128 = 0;
        for i in (0..qbits).rev() {
            if self.cmp_big(&ds) != Ordering::Less {
                self.sub_assign(&ds);
                q |= 1u128 << i;
            }
            ds.shr1();
        }
        (q, !self.is_zero())
    }

    fn to_decimal(&self) -> String {
        const TEN19: u64 = 10_000_000_000_000_000_000;
        if self.is_zero() {
            return "0".to_string();
        }
        let mut n = self.0.clone();
        let mut chunks: Vec<u64> = Vec::new();
        while !n.is_empty() {
            let mut rem: u128 = 0;
            for limb in n.iter_mut().rev() {
                let cur = (rem << 64) | *limb as u128;
                *limb = (cur / TEN19 as u128) as u64;
                rem = cur % TEN19 as u128;
            }
            chunks.push(rem as u64);
            while n.last() == Some(&0) {
                n.pop();
            }
        }
        let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:019}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Option<LongDouble> {
        LongDouble::parse(s.as_bytes())
    }

    fn human(v: LongDouble) -> String {
        String::from_utf8(v.format_human().to_vec()).unwrap()
    }

    fn incr(a: &str, b: &str) -> String {
        human(p(a).unwrap() + p(b).unwrap())
    }

    #[test]
    fn sums_match_redis() {
        // (current, increment, stored result) as redis-server 7.0.15 on x86-64 answers
        // INCRBYFLOAT and HINCRBYFLOAT (both commands store the same string).
        for (a, b, want) in [
            ("1.5", "0.1", "1.6"),
            ("-10", "0.1", "-9.9"),
            ("0", "1.23456789012345678", "1.23456789012345678"),
            ("0", "3.0", "3"),
            ("0", "3", "3"),
            ("0", "3.0e3", "3000"),
            ("3.0e3", "0", "3000"),
            ("0", "-0.0", "0"),
            ("0", "-0", "0"),
            ("-0", "-0", "0"),
            ("-0.0", "-0.0", "0"),
            ("0", "1e20", "100000000000000000000"),
            ("0", "5e-324", "0"),
            ("0x10", "1", "17"),
            ("0", "0x10", "16"),
            ("0", "0x1.8p1", "3"),
            ("+5", "1", "6"),
            ("1.5", "0x1p3", "9.5"),
            ("0", ".5", "0.5"),
            ("0", "5.", "5"),
            ("10.5", "0.1", "10.6"),
            ("10.50", "0.1", "10.6"),
            ("1.50000", "0.10000", "1.6"),
            ("100.000", "0", "100"),
            ("2.500e1", "0", "25"),
            ("10", "1.0", "11"),
            ("-5", "5", "0"),
            ("0.1", "0.2", "0.3"),
            ("1.1", "2.2", "3.3"),
            ("1", "-1", "0"),
            ("-1.5", "1.5", "0"),
            ("3.0", "-5.25", "-2.25"),
            ("5.0e3", "0", "5000"),
            ("5.0e3", "2.0e2", "5200"),
            ("3.0", "-0.1", "2.9"),
            ("0.1", "0.7", "0.8"),
            ("123.456", "0.0001", "123.45610000000000001"),
            ("1000", "0.1", "1000.09999999999999998"),
            ("1e17", "0.5", "100000000000000000.5"),
            ("1e18", "0.5", "1000000000000000000.5"),
            ("17179869184", "0.5", "17179869184.5"),
            ("123456789012345678", "1", "123456789012345679"),
            ("99999999999999999999", "1", "100000000000000000000"),
            ("1e20", "-1e-20", "100000000000000000000"),
            ("2.5e-3", "1e2", "100.0025"),
            ("-1.5", "-0.05", "-1.55"),
            ("-7", "0.0000000000000000051", "-6.99999999999999999"),
            ("0.333333333333333333333333", "0", "0.33333333333333333"),
            ("1e-10", "0", "0.0000000001"),
            // %.17Lf rounds ties to even.
            ("0", "0.000003814697265625", "0.00000381469726562"),
            ("0", "0.000011444091796875", "0.00001144409179688"),
            ("0", "0.00000000000000005", "0.00000000000000005"),
            ("0", "0.000000000000000015", "0.00000000000000002"),
            ("0", "0.000000000000000025", "0.00000000000000002"),
            ("0", "2.5e-17", "0.00000000000000002"),
            // Tiny values (subnormal or far below 1e-17) print as 0.
            ("0", "1e-4000", "0"),
            ("1e-4000", "1e-4000", "0"),
            ("1e-4940", "0", "0"),
            ("0", "3.6e-4951", "0"),
            ("0", "1.9e-4951", "0"),
            ("1e4932", "-1e4932", "0"),
        ] {
            assert_eq!(incr(a, b), want, "{a} + {b}");
        }
    }

    #[test]
    fn huge_sums_print_every_integer_digit() {
        let big = incr("0", "1e308");
        assert_eq!(big.len(), 308);
        assert!(big.starts_with("99999999999999999996685879655845645660560099847415567"));
        let twice = incr(&big, "1e308");
        assert!(twice.starts_with("199999999999999999993371759311691291321120199694831"));
        let big = incr("0", "1e300");
        assert!(big.starts_with("1000000000000000000008997324079559193870523944273290747938"));
        assert!(big.ends_with("89424915104006144"));
        let e4000 = incr("0", "1e4000");
        assert_eq!(e4000.len(), 4000);
        assert!(e4000.starts_with("9999999999999999999965463873099623784932492583506957631"));
        let two = incr("1e4000", "1e4000");
        assert_eq!(two.len(), 4001);
        assert!(two.starts_with("1999999999999999999993092774619924756986498516701391526"));
        let max = incr("1.18973149535723176502e+4932", "0");
        assert_eq!(max.len(), 4933);
        assert!(max.starts_with("118973149535723176502126385303097020516906332229462420044"));
        assert_eq!(incr("1.18973149535723176502e+4932", "1e4912"), max);
    }

    #[test]
    fn parse_accepts_and_rejects_like_string2ld() {
        for ok in [
            "1",
            "-1",
            "+1",
            "+5",
            ".5",
            "5.",
            "1e5",
            "1E+5",
            "1e-5",
            "inf",
            "-INF",
            "Infinity",
            "-Infinity",
            "0x10",
            "0X1P-2",
            "0x1.8p1",
            "1e4000",
            "1e-4940",
            "0e-99999",
            "0",
        ] {
            assert!(p(ok).is_some(), "{ok} should parse");
        }
        for bad in [
            "",
            " 1",
            "1 ",
            "abc",
            "nan",
            "-nan",
            "e5",
            "1e",
            "1e+",
            ".",
            "-",
            "--1",
            "0x",
            "0x1p",
            "1.2.3",
            "1e5000",
            "1e-5000",
            "\u{b}1",
            "infx",
            "in",
            "1e-4951",
            "1.8e-4951",
            "1.7e-4951",
        ] {
            assert!(p(bad).is_none(), "{bad:?} should not parse");
        }
        assert_eq!(p("inf"), Some(LongDouble::Inf { neg: false }));
        assert_eq!(p("-Infinity"), Some(LongDouble::Inf { neg: true }));
        let long = "1".repeat(5120);
        assert!(p(&long).is_none());
        let ok_long = format!("0.{}", "1".repeat(5000));
        assert!(p(&ok_long).is_some());
    }

    #[test]
    fn overflow_to_infinity_is_detected() {
        let max = p("1e4932").unwrap();
        assert_eq!(max + max, LongDouble::Inf { neg: false });
        assert_eq!(
            p("-1e4932").unwrap() + p("-1e4932").unwrap(),
            LongDouble::Inf { neg: true }
        );
        assert!((max + p("1e4931").unwrap()).is_finite());
        let r = p("1.1e4932").unwrap() + p("1.1e4932").unwrap();
        assert_eq!(r, LongDouble::Inf { neg: false });
        let top = p("1.18973149535723176502e+4932").unwrap();
        assert!(!(top + p("1e4913").unwrap()).is_finite());
        assert!(!(top + p("1e4932").unwrap()).is_finite());
        assert_eq!(p("inf").unwrap() + p("-inf").unwrap(), LongDouble::Nan);
        assert!(!(p("inf").unwrap() + p("1").unwrap()).is_finite());
        assert!(!(p("1").unwrap() + p("-inf").unwrap()).is_finite());
    }

    #[test]
    fn format_human_prints_exact_binary_values() {
        // Exact f64 values, written in hex so nothing is rounded on the way in.
        for (hex, want) in [
            ("0x1.8p0", "1.5"),
            ("0x1.999999999999ap-4", "0.10000000000000001"), // f64 0.1
            ("-0x0p0", "0"),
            ("0x1.8p1", "3"),
            ("-0x1.2p1", "-2.25"),
            ("0x1.5af1d78b58c4p66", "100000000000000000000"), // 1e20
            ("0x1p-1074", "0"),                               // f64 5e-324
        ] {
            assert_eq!(human(p(hex).unwrap()), want, "{hex}");
        }
        assert_eq!(human(LongDouble::Inf { neg: false }), "inf");
        assert_eq!(human(LongDouble::Inf { neg: true }), "-inf");
        assert_eq!(human(LongDouble::Nan), "nan");
    }

    #[test]
    fn exact_values_round_trip() {
        for s in [
            "0.5",
            "123456789",
            "-42.25",
            "0.001953125",
            "18446744073709551615",
        ] {
            assert_eq!(incr("0", s), s);
        }
    }

    #[test]
    fn timeouts_scale_and_truncate_like_c() {
        let ms = |t: &str| p(t).unwrap().mul_small(1000).to_i64_trunc();
        // Checked against redis-server 7.0 (BLPOP): -0.001 s blocks (its long double is just
        // above -1 ms after scaling, so the cast gives 0), -0.002 s is negative.
        assert_eq!(ms("-0.001"), 0);
        assert_eq!(ms("-0.002"), -1);
        assert_eq!(ms("0.0009"), 0);
        assert_eq!(ms("1.5"), 1500);
        assert_eq!(ms("0x10"), 16_000);
        assert_eq!(ms("1e15"), 1_000_000_000_000_000_000);
        // Out of range, infinite: C's "integer indefinite".
        for t in ["9.3e15", "1e400", "inf", "-inf", "-1e19"] {
            assert_eq!(ms(t), i64::MIN, "{t}");
        }
        assert_eq!(LongDouble::Nan.to_i64_trunc(), i64::MIN);
        assert_eq!(p("-9223372036854775808").unwrap().to_i64_trunc(), i64::MIN);
        assert_eq!(
            p("-9223372036854775807.5").unwrap().to_i64_trunc(),
            -i64::MAX
        );
        assert_eq!(p("1e-4000").unwrap().to_i64_trunc(), 0);
    }

    proptest! {
        /// Integers below 2^64 are exact in a 64-bit significand, so their sums are too.
        #[test]
        fn integer_sums_are_exact(a in -(1i64 << 62)..(1i64 << 62), b in -(1i64 << 62)..(1i64 << 62)) {
            let want = (a as i128 + b as i128).to_string();
            prop_assert_eq!(incr(&a.to_string(), &b.to_string()), want);
        }

        #[test]
        fn addition_commutes(a in "-?[0-9]{1,25}(\\.[0-9]{0,25})?(e-?[0-9]{1,3})?",
                             b in "-?[0-9]{1,25}(\\.[0-9]{0,25})?(e-?[0-9]{1,3})?") {
            let (x, y) = (p(&a).unwrap(), p(&b).unwrap());
            prop_assert_eq!(x + y, y + x);
        }

        /// Every normal f64 is exact in extended precision: parsing its hex form and
        /// truncating gives what Rust's (saturating) cast gives, inside i64's range.
        #[test]
        fn normal_f64_truncates_like_a_cast(f in -9.2e18f64..9.2e18) {
            prop_assume!(f.is_normal());
            let bits = f.to_bits();
            let sign = if f < 0.0 { "-" } else { "" };
            let exp = ((bits >> 52) & 0x7ff) as i64 - 1023;
            let hex = format!("{sign}0x1.{:013x}p{exp}", bits & ((1 << 52) - 1));
            prop_assert_eq!(p(&hex).unwrap().to_i64_trunc(), f as i64);
        }

        /// Scaling an integer by 1000 is exact below 2^53.
        #[test]
        fn integer_timeouts_scale_exactly(a in -(1i64 << 53)..(1i64 << 53)) {
            prop_assert_eq!(p(&a.to_string()).unwrap().mul_small(1000).to_i64_trunc(), a * 1000);
        }
    }
}
