//! Bitmap commands: a string read as an array of bits, bit 0 being the most significant bit
//! of the first byte. SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP live here; BITFIELD's
//! integers of any width are in [`bitfield`].
//!
//! Reading past the end of a string reads zeros. Writing past it first pads the string with
//! zero bytes, as Redis's `lookupStringForBitCommand` does: a missing key is created, and
//! the value becomes `raw` (OBJECT ENCODING) even when no bit ends up changing, because
//! Redis unshares it before looking. A bit offset is refused once its byte would be at or
//! past `proto-max-bulk-len` (512 MB: the highest offset is 2^32 - 1), except in the
//! primary's stream.
//!
//! Effects follow Redis:
//!
//! - SETBIT and BITFIELD raise `setbit` and propagate as sent only when they changed the
//!   dataset: a bit flipped, or the string was created or grew. A BITFIELD that only reads,
//!   or whose writes all failed under `OVERFLOW FAIL`, propagates nothing (even when it
//!   created or padded the key, as Redis leaves it).
//! - BITOP raises `set` on the destination for a non-empty result; an empty one deletes the
//!   destination (`del`, propagated only if something was deleted). Its sources are read
//!   as GET reads (keyspace hits and misses), its destination is not.
//!
//! ## Index ranges (BITCOUNT, BITPOS)
//!
//! `start` and `end` are inclusive, in bytes or (7.0's `BIT`) in bits; negative ones count
//! from the end. Both are clamped to the string, then an empty range (start > end) counts
//! nothing. Worked example on the 2-byte string `\xff\x0f` (16 bits): `BITCOUNT k -12 -1
//! BIT` resolves to bits 4..=15, the last 4 bits of the first byte and all 8 of the second,
//! so it counts 4 + 4 = 8.

mod bitfield;

use bytes::Bytes;
use ferrokv_proto::resp::Frame;

use super::string::{obeys_primary, PROTO_MAX_BULK_LEN};
use super::{
    parse_i64, write_if, Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec, DENYOOM, FAST,
    READONLY, WRITE,
};
use crate::notify;
use crate::value::{share_str, StrEncoding, Value};

pub static COMMANDS: &[Spec<Handler>] = &[
    spec("setbit", 4, WRITE | DENYOOM, setbit),
    spec("getbit", 3, READONLY | FAST, getbit),
    spec("bitcount", -2, READONLY, bitcount),
    spec("bitpos", -3, READONLY, bitpos),
    Spec {
        name: "bitop",
        arity: -4,
        flags: WRITE | DENYOOM,
        keys: KeySpec::Range {
            first: 2,
            last: -1,
            step: 1,
        },
        run: bitop,
    },
    spec("bitfield", -2, WRITE | DENYOOM, bitfield::bitfield),
    spec("bitfield_ro", -2, READONLY | FAST, bitfield::bitfield_ro),
];

/// A command whose only key is its first argument.
const fn spec(name: &'static str, arity: i32, flags: u32, run: Handler) -> Spec<Handler> {
    super::spec(name, arity, flags, KeySpec::FIRST, run)
}

const BAD_OFFSET: &str = "bit offset is not an integer or out of range";

// ---- bits of a byte string -----------------------------------------------------------------

/// The bit at `offset` (0 past the end).
fn bit_at(bytes: &[u8], offset: u64) -> bool {
    usize::try_from(offset / 8)
        .ok()
        .and_then(|i| bytes.get(i))
        .is_some_and(|b| b & (0x80 >> (offset % 8)) != 0)
}

/// Sets the bit at `offset`, which must be inside `bytes`.
fn put_bit(bytes: &mut [u8], offset: u64, on: bool) {
    let mask = 0x80 >> (offset % 8);
    let byte = &mut bytes[(offset / 8) as usize];
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
}

/// An inclusive range of bit positions, inside the string it was resolved against.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BitSpan {
    first: u64,
    last: u64,
}

impl BitSpan {
    /// Every bit of a string of `len` bytes; `None` when it is empty.
    fn whole(len: usize) -> Option<BitSpan> {
        (len > 0).then(|| BitSpan {
            first: 0,
            last: len as u64 * 8 - 1,
        })
    }

    /// The bytes the span touches, and in each of the first and last bytes the bits it
    /// covers (a mask; the same byte when first and last share it).
    fn bytes(&self) -> (usize, usize, u8, u8) {
        let from = 0xFFu8 >> (self.first % 8);
        let to = (0xFF00u16 >> (self.last % 8 + 1)) as u8;
        (
            (self.first / 8) as usize,
            (self.last / 8) as usize,
            from,
            to,
        )
    }
}

/// Number of 1 bits in `span` of `bytes`.
fn count_ones(bytes: &[u8], span: BitSpan) -> u64 {
    let (a, b, from, to) = span.bytes();
    if a == b {
        return (bytes[a] & from & to).count_ones() as u64;
    }
    let ends = (bytes[a] & from).count_ones() + (bytes[b] & to).count_ones();
    ends as u64 + popcount(&bytes[a + 1..b])
}

fn popcount(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let tail: u64 = words
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum();
    let body: u64 = words
        .map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones() as u64)
        .sum();
    body + tail
}

/// Position of the first bit equal to `one` in `span` of `bytes`.
fn first_bit(bytes: &[u8], one: bool, span: BitSpan) -> Option<u64> {
    let (a, b, from, to) = span.bytes();
    // Looking for a 0 is looking for a 1 in the complement.
    let flip = if one { 0 } else { 0xFF };
    let hit = |i: usize, mask: u8| {
        let found = (bytes[i] ^ flip) & mask;
        (found != 0).then(|| i as u64 * 8 + found.leading_zeros() as u64)
    };
    if a == b {
        return hit(a, from & to);
    }
    hit(a, from)
        .or_else(|| {
            let i = bytes[a + 1..b].iter().position(|&x| x != flip)?;
            hit(a + 1 + i, 0xFF)
        })
        .or_else(|| hit(b, to))
}

// ---- arguments -----------------------------------------------------------------------------

/// Parses a bit offset as Redis's `getBitOffsetFromArgument` does. With `width` (BITFIELD),
/// `#N` means the N-th field of that width: N * width, multiplied as C multiplies it
/// (wrapping), so a product past i64 may land anywhere, usually on an error.
fn bit_offset(ctx: &Ctx, arg: &[u8], width: Option<u32>) -> Result<u64, CmdError> {
    let (digits, scale) = match (arg.split_first(), width) {
        (Some((b'#', rest)), Some(w)) => (rest, w as i64),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits)
        .ok_or(CmdError::msg(BAD_OFFSET))?
        .wrapping_mul(scale);
    if offset < 0 || (!obeys_primary(ctx) && (offset as u64 >> 3) >= PROTO_MAX_BULK_LEN) {
        return Err(CmdError::msg(BAD_OFFSET));
    }
    Ok(offset as u64)
}

/// Units of BITCOUNT's and BITPOS's range.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Byte,
    Bit,
}

fn parse_unit(arg: &[u8]) -> Result<Unit, CmdError> {
    if arg.eq_ignore_ascii_case(b"byte") {
        Ok(Unit::Byte)
    } else if arg.eq_ignore_ascii_case(b"bit") {
        Ok(Unit::Bit)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Resolves `start..=end` in `unit`s (negative: from the end) against a string of `len`
/// bytes, clamping both to the string (see the module doc). `None` when nothing is left.
fn resolve(start: i64, end: i64, unit: Unit, len: usize) -> Option<BitSpan> {
    let total = match unit {
        Unit::Byte => len as i64,
        Unit::Bit => len as i64 * 8,
    };
    let from_end = |i: i64| if i < 0 { total + i } else { i }.max(0);
    let start = from_end(start);
    let end = from_end(end).min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(match unit {
        Unit::Byte => BitSpan {
            first: start * 8,
            last: end * 8 + 7,
        },
        Unit::Bit => BitSpan {
            first: start,
            last: end,
        },
    })
}

// ---- writing -------------------------------------------------------------------------------

/// Runs `edit` on the string at `key` made long enough to hold bit `max_bit` (see the
/// module doc: created or zero padded, left `raw`, its TTL kept). `edit` is told whether
/// the string was created or grew, which changes the dataset even if no bit flips.
fn edit_bits<T>(
    ctx: &mut Ctx,
    key: &[u8],
    max_bit: u64,
    edit: impl FnOnce(&mut [u8], bool) -> T,
) -> Result<T, CmdError> {
    let db = ctx.db;
    let len = (max_bit / 8 + 1) as usize;
    let existed = match ctx.ks.lookup(db, key) {
        None => false,
        Some(e) if matches!(e.value, Value::Str(_)) => true,
        Some(_) => return Err(CmdError::WrongType),
    };
    if !existed {
        ctx.ks.set(db, key, Value::Str(Bytes::new()));
    }
    let entry = ctx.ks.dbs[db].map.get_mut(key);
    let Some(entry) = entry else {
        return Err(CmdError::WrongType);
    };
    entry.str_encoding = StrEncoding::Raw;
    let Value::Str(stored) = &mut entry.value else {
        return Err(CmdError::WrongType);
    };
    // Taken out and put back: no copy while nothing else shares the buffer.
    let mut bytes = Vec::from(std::mem::take(stored));
    let grew = !existed || bytes.len() < len;
    if existed {
        grow_zeroed(&mut bytes, len);
    } else {
        bytes = vec![0; len];
    }
    let out = edit(&mut bytes, grew);
    *stored = Bytes::from(bytes);
    Ok(out)
}

/// Pads `bytes` with zeros up to `len`, reserving room ahead as Redis's `sdsMakeRoomFor`
/// does (twice the length below 1 MB, 1 MB more above), so that a bitmap set at rising
/// offsets grows in amortised constant time.
fn grow_zeroed(bytes: &mut Vec<u8>, len: usize) {
    const MB: usize = 1 << 20;
    if len <= bytes.len() {
        return;
    }
    if len > bytes.capacity() {
        let room = if len < MB { len * 2 } else { len + MB };
        bytes.reserve_exact(room - bytes.len());
    }
    bytes.resize(len, 0);
}

// ---- commands ------------------------------------------------------------------------------

fn setbit(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let offset = bit_offset(ctx, args.next_bytes()?, None)?;
    let on = match parse_i64(args.next_bytes()?) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return Err(CmdError::msg("bit is not an integer or out of range")),
    };
    let (was, changed) = edit_bits(ctx, key, offset, |bytes, grew| {
        let was = bit_at(bytes, offset);
        put_bit(bytes, offset, on);
        (was, grew || was != on)
    })?;
    if changed {
        ctx.notify(notify::STRING, "setbit", key);
    }
    Ok(write_if(changed, Frame::Integer(was as i64)))
}

fn getbit(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let offset = bit_offset(ctx, args.next_bytes()?, None)?;
    let on = ctx.get_str(key)?.is_some_and(|s| bit_at(s, offset));
    Ok(Executed::read(Frame::Integer(on as i64)))
}

/// `BITCOUNT key [start end [BYTE|BIT]]`. The key is looked up before the range is parsed:
/// a missing key counts 0 whatever follows.
fn bitcount(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let zero = Executed::read(Frame::Integer(0));
    let key = args.next_bytes()?;
    let Some(s) = ctx.get_str(key)? else {
        return Ok(zero);
    };
    let span = match args.remaining() {
        0 => BitSpan::whole(s.len()),
        2 | 3 => {
            let start = args.next_i64()?;
            let end = args.next_i64()?;
            // Both from the end and crossed: empty before the unit is even read.
            if start < 0 && end < 0 && start > end {
                return Ok(zero);
            }
            let unit = match args.peek() {
                Some(u) => parse_unit(u)?,
                None => Unit::Byte,
            };
            resolve(start, end, unit, s.len())
        }
        _ => return Err(CmdError::Syntax),
    };
    let n = span.map_or(0, |span| count_ones(s, span));
    Ok(Executed::read(Frame::Integer(n as i64)))
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`. A missing key is an endless run of zeros. A
/// clear bit searched without an explicit end is found just past the string when the string
/// has none (its zero padding); with an end given, not finding one answers -1.
fn bitpos(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let one = match args.next_i64()? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::msg("The bit argument must be 1 or 0.")),
    };
    let Some(s) = ctx.get_str(key)? else {
        return Ok(Executed::read(Frame::Integer(if one { -1 } else { 0 })));
    };
    let (span, end_given) = match args.remaining() {
        0 => (BitSpan::whole(s.len()), false),
        1..=3 => {
            let start = args.next_i64()?;
            // Redis reads the unit before the end.
            let unit = match args.rest() {
                [_, unit] => parse_unit(unit)?,
                _ => Unit::Byte,
            };
            let end = if args.has_more() {
                Some(args.next_i64()?)
            } else {
                None
            };
            let span = resolve(start, end.unwrap_or(i64::MAX), unit, s.len());
            (span, end.is_some())
        }
        _ => return Err(CmdError::Syntax),
    };
    let pos = match span {
        None => -1,
        Some(span) => match first_bit(s, one, span) {
            Some(pos) => pos as i64,
            None if one || end_given => -1,
            None => span.last as i64 + 1,
        },
    };
    Ok(Executed::read(Frame::Integer(pos)))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP op dest key [key ...]`: replies with the result's length, that of the longest
/// source (missing keys are empty strings, shorter ones are zero padded).
fn bitop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let name = args.next_bytes()?;
    let op = [
        ("and", BitOp::And),
        ("or", BitOp::Or),
        ("xor", BitOp::Xor),
        ("not", BitOp::Not),
    ]
    .into_iter()
    .find(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes()))
    .map(|(_, op)| op)
    .ok_or(CmdError::Syntax)?;
    let dest = args.next_bytes()?;
    let keys = args.take_rest();
    if op == BitOp::Not && keys.len() != 1 {
        return Err(CmdError::msg(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    // In order, stopping at the first key of another type, as Redis looks them up.
    let sources = ctx.reading(|ctx| {
        keys.iter()
            .map(|k| {
                Ok(ctx
                    .get_str(k)?
                    .map_or_else(Bytes::new, |v| share_str(v, ..)))
            })
            .collect::<Result<Vec<Bytes>, CmdError>>()
    })?;
    let result = combine(op, &sources);
    let len = result.len() as i64;
    if result.is_empty() {
        let deleted = ctx.delete_raising(dest);
        return Ok(write_if(deleted, Frame::Integer(0)));
    }
    ctx.set(dest, Value::Str(Bytes::from(result)));
    if let Some(e) = ctx.ks.dbs[ctx.db].map.get_mut(dest) {
        e.str_encoding = StrEncoding::Raw;
    }
    ctx.notify(notify::STRING, "set", dest);
    Ok(Executed::write(Frame::Integer(len)))
}

/// `op` over `sources` (at least one), each zero padded to the longest.
fn combine(op: BitOp, sources: &[Bytes]) -> Vec<u8> {
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let mut out = sources.first().map_or_else(Vec::new, |s| s.to_vec());
    out.resize(len, 0);
    for src in sources.iter().skip(1) {
        let both = out.iter_mut().zip(src.iter());
        match op {
            BitOp::And => {
                both.for_each(|(o, b)| *o &= b);
                out[src.len()..].fill(0);
            }
            BitOp::Or => both.for_each(|(o, b)| *o |= b),
            BitOp::Xor => both.for_each(|(o, b)| *o ^= b),
            BitOp::Not => {}
        }
    }
    if op == BitOp::Not {
        out.iter_mut().for_each(|o| *o = !*o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testkit::Kit;
    use crate::cmd::Propagate;
    use proptest::prelude::*;

    fn int(i: i64) -> Frame {
        Frame::Integer(i)
    }

    fn err(s: &str) -> Frame {
        Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn bulk(b: &[u8]) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(b))
    }

    /// `count_ones` and `first_bit` checked bit by bit.
    fn naive_count(bytes: &[u8], span: BitSpan) -> u64 {
        (span.first..=span.last)
            .filter(|&i| bit_at(bytes, i))
            .count() as u64
    }

    fn naive_first(bytes: &[u8], one: bool, span: BitSpan) -> Option<u64> {
        (span.first..=span.last).find(|&i| bit_at(bytes, i) == one)
    }

    proptest! {
        #[test]
        fn counting_and_searching_agree_with_bit_by_bit(
            bytes in proptest::collection::vec(any::<u8>(), 1..40),
            a in 0u64..320,
            b in 0u64..320,
            one in any::<bool>(),
        ) {
            let bits = bytes.len() as u64 * 8;
            let (a, b) = (a % bits, b % bits);
            let span = BitSpan { first: a.min(b), last: a.max(b) };
            prop_assert_eq!(count_ones(&bytes, span), naive_count(&bytes, span));
            prop_assert_eq!(first_bit(&bytes, one, span), naive_first(&bytes, one, span));
        }
    }

    #[test]
    fn ranges_resolve_like_redis() {
        let span = |first, last| Some(BitSpan { first, last });
        // "\xff\x0f": 2 bytes, 16 bits (the module doc's example).
        assert_eq!(resolve(-12, -1, Unit::Bit, 2), span(4, 15));
        assert_eq!(count_ones(b"\xff\x0f", BitSpan { first: 4, last: 15 }), 8);
        assert_eq!(resolve(0, -1, Unit::Byte, 2), span(0, 15));
        assert_eq!(resolve(-100, 100, Unit::Byte, 2), span(0, 15));
        assert_eq!(resolve(1, 0, Unit::Byte, 2), None);
        assert_eq!(resolve(5, 9, Unit::Byte, 2), None);
        assert_eq!(resolve(0, -1, Unit::Byte, 0), None);
        assert_eq!(resolve(0, i64::MAX, Unit::Byte, 3), span(0, 23));
        assert_eq!(resolve(i64::MIN, i64::MAX, Unit::Bit, 1), span(0, 7));
    }

    #[test]
    fn setbit_grows_replies_the_old_bit_and_propagates_only_changes() {
        let mut k = Kit::new();
        let e = k.exec("SETBIT b 7 1").unwrap();
        assert_eq!((e.reply, e.propagate), (int(0), Propagate::AsIs));
        assert_eq!(k.run("GET b"), bulk(b"\x01"));
        assert_eq!(k.encoding("b"), "raw");
        let e = k.exec("SETBIT b 7 1").unwrap();
        assert_eq!((e.reply, e.propagate), (int(1), Propagate::Nothing));
        assert_eq!(k.exec("SETBIT b 20 0").unwrap().propagate, Propagate::AsIs);
        assert_eq!(k.run("GET b"), bulk(b"\x01\x00\x00"));
        assert_eq!(k.run("GETBIT b 7"), int(1));
        assert_eq!(k.run("GETBIT b 4294967295"), int(0));
        assert_eq!(k.run("GETBIT none 0"), int(0));
        k.run("SET n 1");
        assert_eq!(k.encoding("n"), "int");
        assert_eq!(
            k.exec("SETBIT n 2 1").unwrap().propagate,
            Propagate::Nothing
        );
        assert_eq!(k.encoding("n"), "raw");
        for bad in ["SETBIT b -1 1", "SETBIT b 4294967296 1", "SETBIT b x 1"] {
            assert_eq!(
                k.run(bad),
                err("ERR bit offset is not an integer or out of range")
            );
        }
        for bad in ["SETBIT b 0 2", "SETBIT b 0 -1", "SETBIT b 0 x"] {
            assert_eq!(k.run(bad), err("ERR bit is not an integer or out of range"));
        }
        k.run("LPUSH l x");
        assert_eq!(
            k.run("SETBIT l 0 1"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
    }

    #[test]
    fn the_primary_stream_may_set_bits_past_the_size_limit() {
        let mut k = Kit::new();
        let ctx = Ctx {
            ks: &mut k.ks,
            db: 0,
            protocol: ferrokv_proto::resp::Protocol::Resp2,
            no_block: false,
            rng: &mut k.rng,
        };
        assert!(bit_offset(&ctx, b"4294967296", None).is_err());
        ctx.ks.mode = crate::keyspace::ExpireMode::ReplicaApply;
        assert_eq!(bit_offset(&ctx, b"4294967296", None), Ok(1 << 32));
        assert!(bit_offset(&ctx, b"-1", None).is_err());
    }

    #[test]
    fn bitcount_and_bitpos() {
        let mut k = Kit::new();
        k.run("SET s foobar");
        assert_eq!(k.run("BITCOUNT s"), int(26));
        assert_eq!(k.run("BITCOUNT s 1 1"), int(6));
        assert_eq!(k.run("BITCOUNT s 5 30 BIT"), int(17));
        assert_eq!(k.run("BITCOUNT s -1 -5 FOO"), int(0));
        assert_eq!(k.run("BITCOUNT s 0 1 FOO"), err("ERR syntax error"));
        assert_eq!(k.run("BITCOUNT s 0"), err("ERR syntax error"));
        assert_eq!(k.run("BITCOUNT none 0"), int(0));
        k.ks.set(0, b"p", Value::Str(Bytes::from_static(b"\x00\x0f\xff")));
        assert_eq!(k.run("BITPOS p 1"), int(12));
        assert_eq!(k.run("BITPOS p 0 2"), int(24));
        assert_eq!(k.run("BITPOS p 0 2 -1"), int(-1));
        assert_eq!(k.run("BITPOS p 1 7 11 BIT"), int(-1));
        assert_eq!(k.run("BITPOS p 0 12 23 bit"), int(-1));
        assert_eq!(k.run("BITPOS p 0 10 10 BIT"), int(10));
        assert_eq!(k.run("BITPOS p 1 0 x FOO"), err("ERR syntax error"));
        assert_eq!(
            k.run("BITPOS p 2"),
            err("ERR The bit argument must be 1 or 0.")
        );
        assert_eq!(k.run("BITPOS none 0"), int(0));
        assert_eq!(k.run("BITPOS none 1"), int(-1));
        k.ks.set(0, b"e", Value::Str(Bytes::new()));
        assert_eq!(k.run("BITPOS e 0"), int(-1));
        assert_eq!(k.run("BITCOUNT e 0 -1"), int(0));
    }

    #[test]
    fn bitop_pads_deletes_on_empty_results_and_checks_not() {
        let mut k = Kit::new();
        k.ks.set(0, b"a", Value::Str(Bytes::from_static(b"\xff\x0f")));
        k.ks.set(0, b"b", Value::Str(Bytes::from_static(b"\x0f")));
        assert_eq!(k.run("BITOP AND d a b none"), int(2));
        assert_eq!(k.run("GET d"), bulk(b"\x00\x00"));
        assert_eq!(k.run("BITOP OR d a b"), int(2));
        assert_eq!(k.run("GET d"), bulk(b"\xff\x0f"));
        assert_eq!(k.run("BITOP XOR d a b"), int(2));
        assert_eq!(k.run("GET d"), bulk(b"\xf0\x0f"));
        assert_eq!(k.run("BITOP NOT d b"), int(1));
        assert_eq!(k.run("GET d"), bulk(b"\xf0"));
        assert_eq!(k.encoding("d"), "raw");
        let e = k.exec("BITOP OR d none").unwrap();
        assert_eq!((e.reply, e.propagate), (int(0), Propagate::AsIs));
        assert_eq!(k.run("EXISTS d"), int(0));
        let e = k.exec("BITOP OR d none").unwrap();
        assert_eq!((e.reply, e.propagate), (int(0), Propagate::Nothing));
        assert_eq!(
            k.run("BITOP NOT d a b"),
            err("ERR BITOP NOT must be called with a single source key.")
        );
        assert_eq!(k.run("BITOP NAND d a"), err("ERR syntax error"));
    }
}
