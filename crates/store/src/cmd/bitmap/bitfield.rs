//! BITFIELD and BITFIELD_RO: integers of any width at any bit offset of a string.
//!
//! A field is `i1`..`i64` (two's complement) or `u1`..`u63` (an unsigned 64-bit value could
//! not be replied as a RESP integer), at a bit offset or at `#N`, the N-th field of its
//! width. Its most significant bit comes first, as SETBIT numbers bits, and it may straddle
//! bytes: `u4` holding 9 (`1001`) at offset 6 of a zeroed string is `00000010 01000000`.
//!
//! The whole command is parsed before anything runs, so an error anywhere leaves the key
//! as it was. Then:
//!
//! 1. With only GETs (or nothing), the key is read as GET reads it; a missing key reads as
//!    zeros. BITFIELD_RO accepts nothing else.
//! 2. Otherwise the string is prepared to hold the highest bit any SET or INCRBY writes
//!    (created or zero padded, see the parent module), and the operations run in order, so
//!    a GET sees the writes before it.
//! 3. Each SET and INCRBY obeys the `OVERFLOW` mode in force where it was written: `WRAP`
//!    (the default) keeps the low bits, `SAT` stops at the type's limit, `FAIL` writes
//!    nothing and replies nil.
//! 4. If a write changed a value, or the string was created or grew and a write then
//!    succeeded, `setbit` is raised and the command propagates as sent.

use ferrokv_proto::resp::Frame;

use super::{bit_at, bit_offset, edit_bits, put_bit};
use crate::cmd::{write_if, Args, CmdError, Ctx, Executed};
use crate::notify;

pub(super) fn bitfield(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    run(ctx, args, Access::ReadWrite)
}

pub(super) fn bitfield_ro(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    run(ctx, args, Access::ReadOnly)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

fn run(ctx: &mut Ctx, args: &mut Args, access: Access) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let ops = parse_ops(ctx, args)?;
    let highest = ops
        .iter()
        .filter_map(|op| match op {
            Op::Get(_) => None,
            Op::Set(f, ..) | Op::IncrBy(f, ..) => Some(f.offset + f.bits as u64 - 1),
        })
        .max();
    let Some(highest) = highest else {
        let replies = ctx.reading(|ctx| {
            let bytes = ctx.get_str(key)?.map_or(&[][..], |s| &s[..]);
            // Only GETs here.
            let replies = ops
                .iter()
                .filter_map(|op| match op {
                    Op::Get(f) => Some(Frame::Integer(f.read(bytes))),
                    Op::Set(..) | Op::IncrBy(..) => None,
                })
                .collect();
            Ok::<_, CmdError>(replies)
        })?;
        return Ok(Executed::read(Frame::Array(replies)));
    };
    if access == Access::ReadOnly {
        return Err(CmdError::msg(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let (replies, changed) = edit_bits(ctx, key, highest, |bytes, grew| {
        let mut changed = false;
        let replies = ops
            .iter()
            .map(|op| {
                let (reply, wrote) = apply(op, bytes);
                changed |= wrote.is_some_and(|flipped| flipped || grew);
                reply
            })
            .collect();
        (replies, changed)
    })?;
    if changed {
        ctx.notify(notify::STRING, "setbit", key);
    }
    Ok(write_if(changed, Frame::Array(replies)))
}

// ---- parsing -------------------------------------------------------------------------------

/// A field's type and place.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Get(Field),
    Set(Field, i64, Overflow),
    IncrBy(Field, i64, Overflow),
}

fn parse_ops(ctx: &Ctx, args: &mut Args) -> Result<Vec<Op>, CmdError> {
    #[derive(PartialEq)]
    enum Kind {
        Get,
        Set,
        IncrBy,
    }
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    while args.has_more() {
        let sub = args.next_bytes()?;
        let left = args.remaining();
        let is = |w: &str| sub.eq_ignore_ascii_case(w.as_bytes());
        // A subcommand without all its arguments is a syntax error, whatever follows.
        let kind = if is("get") && left >= 2 {
            Kind::Get
        } else if is("set") && left >= 3 {
            Kind::Set
        } else if is("incrby") && left >= 3 {
            Kind::IncrBy
        } else if is("overflow") && left >= 1 {
            overflow = parse_overflow(args.next_bytes()?)?;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = parse_type(args.next_bytes()?)?;
        let offset = bit_offset(ctx, args.next_bytes()?, Some(bits))?;
        let field = Field {
            signed,
            bits,
            offset,
        };
        ops.push(match kind {
            Kind::Get => Op::Get(field),
            Kind::Set => Op::Set(field, args.next_i64()?, overflow),
            Kind::IncrBy => Op::IncrBy(field, args.next_i64()?, overflow),
        });
    }
    Ok(ops)
}

fn parse_overflow(arg: &[u8]) -> Result<Overflow, CmdError> {
    [
        ("wrap", Overflow::Wrap),
        ("sat", Overflow::Sat),
        ("fail", Overflow::Fail),
    ]
    .into_iter()
    .find(|(n, _)| arg.eq_ignore_ascii_case(n.as_bytes()))
    .map(|(_, o)| o)
    .ok_or(CmdError::msg("Invalid OVERFLOW type specified"))
}

/// `i<bits>` or `u<bits>` (lower case only): (signed, bits).
fn parse_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let bad = CmdError::msg(
        "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    );
    let (signed, digits) = match arg.split_first() {
        Some((b'i', digits)) => (true, digits),
        Some((b'u', digits)) => (false, digits),
        _ => return Err(bad),
    };
    let widest = if signed { 64 } else { 63 };
    match crate::cmd::parse_i64(digits) {
        Some(bits) if (1..=widest).contains(&bits) => Ok((signed, bits as u32)),
        _ => Err(bad),
    }
}

// ---- running -------------------------------------------------------------------------------

/// Runs one operation on the string prepared for writing. Returns the reply and, for a
/// write that happened, whether the field's value changed.
fn apply(op: &Op, bytes: &mut [u8]) -> (Frame, Option<bool>) {
    let (field, value, incr, overflow, reply_new) = match *op {
        Op::Get(f) => return (Frame::Integer(f.read(bytes)), None),
        Op::Set(f, v, o) => (f, v, 0, o, false),
        Op::IncrBy(f, by, o) => (f, f.read(bytes), by, o, true),
    };
    let old = field.read(bytes);
    let new = match (field.fit(value, incr), overflow) {
        (Fit::Inside, _) | (_, Overflow::Wrap) => field.wrap(value, incr),
        (_, Overflow::Fail) => return (Frame::Null, None),
        (Fit::Above, Overflow::Sat) => field.max(),
        (Fit::Below, Overflow::Sat) => field.min(),
    };
    field.store(bytes, new as u64);
    let reply = if reply_new { new } else { old };
    (Frame::Integer(reply), Some(new != old))
}

/// Where `value + incr` falls for a field type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fit {
    Inside,
    Above,
    Below,
}

impl Field {
    /// The field's bits (zeros past the end of `bytes`), right-aligned.
    fn load(&self, bytes: &[u8]) -> u64 {
        (self.offset..self.offset + self.bits as u64)
            .fold(0, |acc, i| acc << 1 | bit_at(bytes, i) as u64)
    }

    /// Writes the low `bits` of `raw` into the field, which must lie inside `bytes`.
    fn store(&self, bytes: &mut [u8], raw: u64) {
        for j in 0..self.bits {
            let on = (raw >> (self.bits - 1 - j)) & 1 == 1;
            put_bit(bytes, self.offset + j as u64, on);
        }
    }

    /// The field's value: its bits sign-extended when signed.
    fn read(&self, bytes: &[u8]) -> i64 {
        self.extend(self.load(bytes))
    }

    /// The low `bits` of `raw` as the field's value (sign-extended or zero-extended).
    fn extend(&self, raw: u64) -> i64 {
        if self.bits == 64 {
            return raw as i64;
        }
        let high = u64::MAX << self.bits;
        let negative = self.signed && raw & (1 << (self.bits - 1)) != 0;
        (if negative { raw | high } else { raw & !high }) as i64
    }

    fn max(&self) -> i64 {
        if self.signed {
            i64::MAX >> (64 - self.bits)
        } else {
            i64::MAX >> (63 - self.bits)
        }
    }

    fn min(&self) -> i64 {
        if self.signed {
            -self.max() - 1
        } else {
            0
        }
    }

    /// `value + incr` kept to the field's width (what `WRAP` stores; the exact sum when it
    /// fits). An unsigned SET's value is taken as C casts it, `-1` being all ones.
    fn wrap(&self, value: i64, incr: i64) -> i64 {
        self.extend((value as u64).wrapping_add(incr as u64))
    }

    /// Whether `value + incr` fits the field, decided as Redis's
    /// `check{Signed,Unsigned}BitfieldOverflow` decide it.
    fn fit(&self, value: i64, incr: i64) -> Fit {
        if !self.signed {
            // An unsigned SET's value is read as u64: a negative one is above the maximum.
            let sum = value as u64 as i128 + incr as i128;
            return if sum > self.max() as i128 {
                Fit::Above
            } else if sum < 0 {
                Fit::Below
            } else {
                Fit::Inside
            };
        }
        let (max, min) = (self.max(), self.min());
        if self.bits == 64 {
            return if value >= 0 && incr > max - value {
                Fit::Above
            } else if value < 0 && incr < min - value {
                Fit::Below
            } else {
                Fit::Inside
            };
        }
        // The room above `value` is computed in wrapping arithmetic, as Redis computes it:
        // for a SET of a value more than i64::MAX below the maximum it wraps negative, and
        // the value counts as too big. So `OVERFLOW SAT SET i8 0 -9223372036854775808`
        // stores 127, while `... SET i8 0 -9223372036854775680` stores -128. Only SET can
        // get there: a field read back always lies between min and max.
        if value > max || incr > max.wrapping_sub(value) {
            Fit::Above
        } else if value < min || incr < min.wrapping_sub(value) {
            Fit::Below
        } else {
            Fit::Inside
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testkit::Kit;
    use crate::cmd::Propagate;
    use bytes::Bytes;
    use proptest::prelude::*;

    fn err(s: &str) -> Frame {
        Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// A reply for tests: the integers of an array reply, `None` for nils.
    fn integers(f: &Frame) -> Vec<Option<i64>> {
        match f {
            Frame::Array(items) => items
                .iter()
                .map(|i| match i {
                    Frame::Integer(n) => Some(*n),
                    _ => None,
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    fn field(signed: bool, bits: u32, offset: u64) -> Field {
        Field {
            signed,
            bits,
            offset,
        }
    }

    fn any_field() -> impl Strategy<Value = Field> {
        (any::<bool>(), 1u32..=64, 0u64..100).prop_map(|(signed, bits, offset)| {
            let bits = if signed { bits } else { bits.min(63) };
            field(signed, bits, offset)
        })
    }

    proptest! {
        /// A value that fits reads back as written, and the bits around it stay.
        #[test]
        fn set_then_get_round_trips(f in any_field(), seed in any::<u64>(), bytes in proptest::collection::vec(any::<u8>(), 21)) {
            let value = f.extend(seed);
            let mut buf = bytes.clone();
            f.store(&mut buf, value as u64);
            prop_assert_eq!(f.read(&buf), value);
            for i in (0..buf.len() as u64 * 8).filter(|&i| i < f.offset || i >= f.offset + f.bits as u64) {
                prop_assert_eq!(bit_at(&buf, i), bit_at(&bytes, i));
            }
        }

        /// WRAP is modular arithmetic, SAT clamps, and `fit` agrees with exact arithmetic
        /// for every increment (only SET's quirk, tested below, departs from it).
        #[test]
        fn overflow_modes_match_exact_arithmetic(f in any_field(), seed in any::<u64>(), incr in any::<i64>()) {
            let value = f.extend(seed);
            let exact = value as i128 + incr as i128;
            let want = if exact > f.max() as i128 {
                Fit::Above
            } else if exact < f.min() as i128 {
                Fit::Below
            } else {
                Fit::Inside
            };
            prop_assert_eq!(f.fit(value, incr), want);
            let modulus = 1i128 << f.bits;
            let mut wrapped = exact.rem_euclid(modulus);
            if f.signed && wrapped > f.max() as i128 {
                wrapped -= modulus;
            }
            prop_assert_eq!(f.wrap(value, incr) as i128, wrapped);
        }
    }

    #[test]
    fn layout_follows_setbit_numbering() {
        let mut buf = [0u8; 2];
        field(false, 4, 6).store(&mut buf, 9);
        assert_eq!(buf, [0b0000_0010, 0b0100_0000]);
        assert_eq!(field(true, 4, 6).read(&buf), -7);
        assert_eq!(field(false, 8, 12).read(&buf), 0);
        assert_eq!(field(false, 8, 13).read(&[]), 0);
    }

    #[test]
    fn signed_set_far_below_the_range_saturates_high_as_redis_does() {
        let i8 = field(true, 8, 0);
        assert_eq!(i8.fit(i64::MIN, 0), Fit::Above);
        assert_eq!(i8.fit(i64::MIN + 127, 0), Fit::Above);
        assert_eq!(i8.fit(i64::MIN + 128, 0), Fit::Below);
        assert_eq!(i8.fit(-129, 0), Fit::Below);
        assert_eq!(field(true, 64, 0).fit(i64::MIN, 0), Fit::Inside);
        assert_eq!(field(false, 8, 0).fit(-1, 0), Fit::Above);
    }

    #[test]
    fn commands() {
        let mut k = Kit::new();
        let run = |k: &mut Kit, line: &str| integers(&k.run(line));
        assert_eq!(
            run(&mut k, "BITFIELD none GET u8 0 GET i4 #3"),
            [Some(0), Some(0)]
        );
        assert_eq!(k.run("EXISTS none"), Frame::Integer(0));
        assert_eq!(
            run(
                &mut k,
                "BITFIELD k SET u8 0 255 GET u8 0 INCRBY i8 0 1 GET u4 #1"
            ),
            [Some(0), Some(255), Some(0), Some(0)]
        );
        assert_eq!(
            run(&mut k, "BITFIELD k OVERFLOW SAT INCRBY u8 0 300 OVERFLOW FAIL INCRBY u8 0 1 INCRBY i8 8 -200"),
            [Some(255), None, None]
        );
        assert_eq!(
            run(
                &mut k,
                "BITFIELD k OVERFLOW WRAP INCRBY u8 0 2 SET i8 #1 -1 GET u16 0"
            ),
            [Some(1), Some(0), Some(0x01ff)]
        );
        let e = k.exec("BITFIELD k SET u8 0 1").unwrap();
        assert_eq!(e.propagate, Propagate::Nothing);
        let e = k.exec("BITFIELD k GET u8 0").unwrap();
        assert_eq!(e.propagate, Propagate::Nothing);
        let e = k.exec("BITFIELD k OVERFLOW FAIL INCRBY u2 100 5").unwrap();
        assert_eq!(
            (integers(&e.reply), e.propagate),
            (vec![None], Propagate::Nothing)
        );
        assert_eq!(k.run("STRLEN k"), Frame::Integer(13));
        let e = k.exec("BITFIELD k SET u1 200 0").unwrap();
        assert_eq!(e.propagate, Propagate::AsIs);
        assert_eq!(
            k.run("BITFIELD_RO k GET u8 0 SET u8 0 1"),
            err("ERR BITFIELD_RO only supports the GET subcommand")
        );
        assert_eq!(run(&mut k, "BITFIELD_RO k GET u8 0"), [Some(1)]);
        assert_eq!(run(&mut k, "BITFIELD k"), Vec::<Option<i64>>::new());
        for (line, want) in [
            ("BITFIELD k GET u64 0", "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
            ("BITFIELD k GET I8 0", "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
            ("BITFIELD k GET i0 0", "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
            ("BITFIELD k GET i8 -1", "ERR bit offset is not an integer or out of range"),
            ("BITFIELD k GET i8 #536870912", "ERR bit offset is not an integer or out of range"),
            ("BITFIELD k OVERFLOW MAYBE", "ERR Invalid OVERFLOW type specified"),
            ("BITFIELD k OVERFLOW", "ERR syntax error"),
            ("BITFIELD k GET i8", "ERR syntax error"),
            ("BITFIELD k SET i8 0 x", "ERR value is not an integer or out of range"),
            ("BITFIELD k SET i8 0 1 FOO", "ERR syntax error"),
        ] {
            assert_eq!(k.run(line), err(want), "{line}");
        }
        assert_eq!(
            run(&mut k, "BITFIELD k GET i64 #2305843009213693952"),
            run(&mut k, "BITFIELD k GET i64 0")
        );
    }
}
