//! Sorted set commands: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT, the ZRANGE
//! family (ZRANGE ZRANGESTORE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE ZRANGEBYLEX
//! ZREVRANGEBYLEX), ZRANK ZREVRANK, ZREMRANGEBY{RANK,SCORE,LEX}, pops (ZPOPMIN ZPOPMAX
//! BZPOPMIN BZPOPMAX ZMPOP BZMPOP), ZRANDMEMBER, the algebra (ZUNION ZINTER ZDIFF, their
//! STORE forms, ZINTERCARD) and ZSCAN.
//!
//! Argument checks run in Redis 7.0's order (e.g. a bad range is reported before WRONGTYPE),
//! with its error texts. Scores are parsed like `strtod` with Redis's extra checks (see
//! [`parse_score`]), so `0x1p3` is 8 and `1e400` is rejected. Score replies are
//! `Frame::Double` (a bulk string in RESP2); RESP3 replies nest [member, score] pairs where
//! Redis 7.0 does (WITHSCORES ranges, ZRANDMEMBER WITHSCORES, ZPOPMIN with a count).
//!
//! Propagation: writes go as sent when they changed something; BZPOPMIN/BZPOPMAX become
//! `ZPOPMIN|ZPOPMAX key`, ZMPOP/BZMPOP become `ZPOPMIN|ZPOPMAX key <popped count>`.
//!
//! ## Deviations
//!
//! - Lexicographic ranges assume the members of the range share one score, as Redis
//!   documents; on mixed scores Redis's answer depends on its skiplist layout, ours is a
//!   binary search over the (score, member) order.
//! - ZSCAN on a `skiplist` returns a different cursor sequence than Redis (which walks dict
//!   buckets); the guarantees (every element present for the whole scan is returned) hold.

use super::{copy, positive_count, write_if};
use bytes::Bytes;
use ferrokv_proto::resp::{format_double, Frame, Protocol};
use indexmap::IndexMap;

use super::float::parse_range_number;
pub use super::float::parse_score;
use super::set::{parse_scan_cursor, parse_scan_options, scan_reply};
use super::spec;
use super::{numkeys_at, parse_i64, Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec};
use super::{BLOCKING, DENYOOM, FAST, NOSCRIPT, READONLY, WRITE};
use crate::glob::glob_match;
use crate::notify;
use crate::value::{SetValue, Value, ZSetValue};

pub static COMMANDS: &[Spec<Handler>] = &[
    spec("zadd", -4, WRITE | DENYOOM | FAST, KeySpec::FIRST, zadd),
    spec(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        KeySpec::FIRST,
        zincrby,
    ),
    spec("zrem", -3, WRITE | FAST, KeySpec::FIRST, zrem),
    spec("zscore", 3, READONLY | FAST, KeySpec::FIRST, zscore),
    spec("zmscore", -3, READONLY | FAST, KeySpec::FIRST, zmscore),
    spec("zcard", 2, READONLY | FAST, KeySpec::FIRST, zcard),
    spec("zcount", 4, READONLY | FAST, KeySpec::FIRST, zcount),
    spec("zlexcount", 4, READONLY | FAST, KeySpec::FIRST, zlexcount),
    spec("zrange", -4, READONLY, KeySpec::FIRST, zrange),
    spec(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        KeySpec::FIRST_TWO,
        zrangestore,
    ),
    spec("zrangebyscore", -4, READONLY, KeySpec::FIRST, zrangebyscore),
    spec(
        "zrevrangebyscore",
        -4,
        READONLY,
        KeySpec::FIRST,
        zrevrangebyscore,
    ),
    spec("zrevrange", -4, READONLY, KeySpec::FIRST, zrevrange),
    spec("zrangebylex", -4, READONLY, KeySpec::FIRST, zrangebylex),
    spec(
        "zrevrangebylex",
        -4,
        READONLY,
        KeySpec::FIRST,
        zrevrangebylex,
    ),
    spec("zrank", 3, READONLY | FAST, KeySpec::FIRST, zrank),
    spec("zrevrank", 3, READONLY | FAST, KeySpec::FIRST, zrevrank),
    spec("zremrangebyrank", 4, WRITE, KeySpec::FIRST, zremrangebyrank),
    spec(
        "zremrangebyscore",
        4,
        WRITE,
        KeySpec::FIRST,
        zremrangebyscore,
    ),
    spec("zremrangebylex", 4, WRITE, KeySpec::FIRST, zremrangebylex),
    spec("zpopmin", -2, WRITE | FAST, KeySpec::FIRST, zpopmin),
    spec("zpopmax", -2, WRITE | FAST, KeySpec::FIRST, zpopmax),
    spec(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        BLOCK_KEYS,
        bzpopmin,
    ),
    spec(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        BLOCK_KEYS,
        bzpopmax,
    ),
    spec("zmpop", -4, WRITE, KeySpec::Movable(numkeys_keys), zmpop),
    spec(
        "bzmpop",
        -5,
        WRITE | BLOCKING,
        KeySpec::Movable(bzmpop_keys),
        bzmpop,
    ),
    spec("zrandmember", -2, READONLY, KeySpec::FIRST, zrandmember),
    spec(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        KeySpec::DestThenMovable(store_keys),
        zunionstore,
    ),
    spec(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        KeySpec::DestThenMovable(store_keys),
        zinterstore,
    ),
    spec(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        KeySpec::DestThenMovable(store_keys),
        zdiffstore,
    ),
    spec(
        "zunion",
        -3,
        READONLY,
        KeySpec::Movable(numkeys_keys),
        zunion,
    ),
    spec(
        "zinter",
        -3,
        READONLY,
        KeySpec::Movable(numkeys_keys),
        zinter,
    ),
    spec("zdiff", -3, READONLY, KeySpec::Movable(numkeys_keys), zdiff),
    spec(
        "zintercard",
        -3,
        READONLY,
        KeySpec::Movable(numkeys_keys),
        zintercard,
    ),
    spec("zscan", -3, READONLY, KeySpec::FIRST, zscan),
];

const BLOCK_KEYS: KeySpec = KeySpec::Range {
    first: 1,
    last: -2,
    step: 1,
};

fn numkeys_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_at(argv, 1)
}

fn bzmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_at(argv, 2)
}

/// `ZUNIONSTORE dst numkeys key...`: the destination and the numkeys keys.
fn store_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut keys = numkeys_at(argv, 2);
    if argv.len() > 1 {
        keys.insert(0, 1);
    }
    keys
}

/// Reply-size preallocation cap for counts that come from the client.
const PREALLOC_MAX: usize = 1024;

const NOT_FLOAT_RANGE: &str = "min or max is not a float";
const NOT_LEX_RANGE: &str = "min or max not valid string range item";
const NAN_SCORE: &str = "resulting score is not a number (NaN)";

// Number parsing lives in `float.rs` (shared with every command that takes a float).

// ---- ranges -------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        let bound = |b: &[u8]| -> Option<(f64, bool)> {
            match b.first() {
                Some(b'(') => parse_range_number(&b[1..]).map(|v| (v, true)),
                _ => parse_range_number(b).map(|v| (v, false)),
            }
        };
        let ((min, minex), (max, maxex)) = match (bound(min), bound(max)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(CmdError::msg(NOT_FLOAT_RANGE)),
        };
        Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }

    fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// Ascending ranks `[start, end)` of the elements in range.
    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let start = z.count_before(|s, _| !self.gte_min(s));
        let end = z.count_before(|s, _| self.lte_max(s));
        (start, end.max(start))
    }
}

#[derive(Debug, Clone)]
enum LexBound {
    NegInf,
    PosInf,
    Incl(Bytes),
    Excl(Bytes),
}

#[derive(Debug, Clone)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
        let bound = |b: &[u8]| -> Option<LexBound> {
            match b.first()? {
                b'+' if b.len() == 1 => Some(LexBound::PosInf),
                b'-' if b.len() == 1 => Some(LexBound::NegInf),
                b'[' => Some(LexBound::Incl(copy(&b[1..]))),
                b'(' => Some(LexBound::Excl(copy(&b[1..]))),
                _ => None,
            }
        };
        match (bound(min), bound(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(CmdError::msg(NOT_LEX_RANGE)),
        }
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(x) => m >= &x[..],
            LexBound::Excl(x) => m > &x[..],
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(x) => m <= &x[..],
            LexBound::Excl(x) => m < &x[..],
        }
    }

    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let start = z.count_before(|_, m| !self.gte_min(m));
        let end = z.count_before(|_, m| self.lte_max(m));
        (start, end.max(start))
    }
}

/// Resolves Redis's `start stop` rank arguments (negative from the end) against `len`:
/// `None` when the range is empty.
fn rank_window(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 {
        start.saturating_add(llen)
    } else {
        start
    };
    let mut end = if end < 0 {
        end.saturating_add(llen)
    } else {
        end
    };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

// ---- replies ---------------------------------------------------------------------------------

/// Members, with their scores when asked: flat in RESP2, [member, score] pairs in RESP3.
fn scored_reply(proto: Protocol, items: Vec<(Bytes, f64)>, withscores: bool) -> Frame {
    if !withscores {
        return Frame::Array(items.into_iter().map(|(m, _)| Frame::Bulk(m)).collect());
    }
    Frame::Array(match proto {
        Protocol::Resp2 => items
            .into_iter()
            .flat_map(|(m, s)| [Frame::Bulk(m), Frame::Double(s)])
            .collect(),
        Protocol::Resp3 => items
            .into_iter()
            .map(|(m, s)| Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)]))
            .collect(),
    })
}

/// [member, score] pairs in both protocols (ZMPOP's shape).
fn pairs_reply(items: Vec<(Bytes, f64)>) -> Frame {
    Frame::Array(
        items
            .into_iter()
            .map(|(m, s)| Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)]))
            .collect(),
    )
}

// ---- ZADD / ZINCRBY ------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// The member exists and its new score equals the old one (`-0.0 == 0.0`: the stored
    /// sign stays): processed, but nothing changed.
    Unchanged(f64),
    /// A condition said no: `NX` on an existing member, `XX` on a missing one, `GT`/`LT`.
    Nop,
}

/// Redis's `zsetAdd`: one member with the ZADD conditions.
fn zset_add(
    z: &mut ZSetValue,
    member: &[u8],
    score: f64,
    f: AddFlags,
    cfg: &crate::StoreConfig,
) -> Result<AddOutcome, CmdError> {
    // One member lookup decides and, when something changes, stores.
    z.upsert(member, cfg, |cur| match cur {
        Some(_) if f.nx => (None, Ok(AddOutcome::Nop)),
        Some(cur) => {
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return (None, Err(CmdError::msg(NAN_SCORE)));
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return (None, Ok(AddOutcome::Nop));
            }
            if new != cur {
                (Some(new), Ok(AddOutcome::Updated(new)))
            } else {
                (None, Ok(AddOutcome::Unchanged(new)))
            }
        }
        None if f.xx => (None, Ok(AddOutcome::Nop)),
        None => (Some(score), Ok(AddOutcome::Added(score))),
    })
}

fn zadd(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let mut f = AddFlags::default();
    loop {
        if args.eat("NX") {
            f.nx = true;
        } else if args.eat("XX") {
            f.xx = true;
        } else if args.eat("CH") {
            f.ch = true;
        } else if args.eat("INCR") {
            f.incr = true;
        } else if args.eat("GT") {
            f.gt = true;
        } else if args.eat("LT") {
            f.lt = true;
        } else {
            break;
        }
    }
    let rest = args.take_rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::msg(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if [f.gt, f.lt, f.nx].iter().filter(|x| **x).count() > 1 {
        return Err(CmdError::msg(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::msg(
            "INCR option supports a single increment-element pair",
        ));
    }
    if let [score, member] = rest {
        // The common single pair, without collecting into a vector.
        let score = parse_score(score).ok_or(CmdError::NotFloat)?;
        return zadd_pairs(ctx, key, &[(score, member)], f);
    }
    let pairs: Vec<(f64, &Bytes)> = rest
        .chunks(2)
        .map(|p| {
            parse_score(&p[0])
                .map(|s| (s, &p[1]))
                .ok_or(CmdError::NotFloat)
        })
        .collect::<Result<_, _>>()?;
    zadd_pairs(ctx, key, &pairs, f)
}

fn zadd_pairs(
    ctx: &mut Ctx,
    key: &[u8],
    pairs: &[(f64, &Bytes)],
    f: AddFlags,
) -> Result<Executed, CmdError> {
    let cfg = ctx.ks.cfg.clone();
    let nop_reply = || {
        if f.incr {
            Frame::Null
        } else {
            Frame::Integer(0)
        }
    };
    // A missing key is built aside and stored only if something was added (XX never
    // creates it), so a ZADD that adds nothing leaves no trace.
    let mut fresh = None;
    let z = match ctx.get(key) {
        Some(Value::ZSet(z)) => z,
        Some(_) => return Err(CmdError::WrongType),
        None if f.xx => return Ok(Executed::read(nop_reply())),
        None => fresh.insert(ZSetValue::default()),
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last_score = 0.0;
    let mut result = Ok(());
    for (score, member) in pairs {
        match zset_add(z, member, *score, f, &cfg) {
            Ok(AddOutcome::Unchanged(s)) => {
                processed += 1;
                last_score = s;
            }
            Ok(AddOutcome::Added(s)) => {
                added += 1;
                processed += 1;
                last_score = s;
            }
            Ok(AddOutcome::Updated(s)) => {
                updated += 1;
                processed += 1;
                last_score = s;
            }
            Ok(AddOutcome::Nop) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if let Some(z) = fresh.filter(|z| !z.is_empty()) {
        ctx.set(key, Value::ZSet(z));
    }
    if added + updated > 0 {
        ctx.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    result?;
    let reply = if f.incr {
        if processed > 0 {
            Frame::Double(last_score)
        } else {
            Frame::Null
        }
    } else if f.ch {
        Frame::Integer(added + updated)
    } else {
        Frame::Integer(added)
    };
    Ok(write_if(added + updated > 0, reply))
}

fn zincrby(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let incr = parse_score(args.next_bytes()?).ok_or(CmdError::NotFloat)?;
    let member = args.next_bytes()?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_pairs(ctx, key, &[(incr, member)], f)
}

// ---- simple reads and removals --------------------------------------------------------------

fn zrem(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let members = args.take_rest();
    let Some(z) = ctx.get_zset(key)? else {
        return Ok(Executed::read(Frame::Integer(0)));
    };
    let mut removed = 0;
    for m in members {
        if z.remove(m).is_some() {
            removed += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    if removed > 0 {
        ctx.notify(notify::ZSET, "zrem", key);
        ctx.delete_if_empty(key);
    }
    Ok(write_if(removed > 0, Frame::Integer(removed)))
}

fn zscore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let member = args.next_bytes()?;
    let score = ctx.get_zset(key)?.and_then(|z| z.score(member));
    Ok(Executed::read(score.map_or(Frame::Null, Frame::Double)))
}

fn zmscore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let members = args.take_rest();
    let z = ctx.get_zset(key)?;
    let reply = members
        .iter()
        .map(|m| {
            z.as_ref()
                .and_then(|z| z.score(m))
                .map_or(Frame::Null, Frame::Double)
        })
        .collect();
    Ok(Executed::read(Frame::Array(reply)))
}

fn zcard(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let n = ctx.get_zset(key)?.map_or(0, |z| z.len());
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn zcount(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let range = ScoreRange::parse(args.next_bytes()?, args.next_bytes()?)?;
    let n = ctx.get_zset(key)?.map_or(0, |z| {
        let (s, e) = range.ranks(z);
        e - s
    });
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn zlexcount(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let range = LexRange::parse(args.next_bytes()?, args.next_bytes()?)?;
    let n = ctx.get_zset(key)?.map_or(0, |z| {
        let (s, e) = range.ranks(z);
        e - s
    });
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn zrank(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    rank_generic(ctx, args, true)
}

fn rank_generic(ctx: &mut Ctx, args: &mut Args, rev: bool) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let member = args.next_bytes()?;
    let rank = ctx.get_zset(key)?.and_then(|z| {
        z.rank(member)
            .map(|r| if rev { z.len() - 1 - r } else { r })
    });
    Ok(Executed::read(
        rank.map_or(Frame::Null, |r| Frame::Integer(r as i64)),
    ))
}

// ---- the ZRANGE family -------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn zrange(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    range_generic(ctx, args, false, RangeType::Auto, Direction::Auto)
}

fn zrangestore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    range_generic(ctx, args, true, RangeType::Auto, Direction::Auto)
}

fn zrangebyscore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    range_generic(ctx, args, false, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    range_generic(ctx, args, false, RangeType::Score, Direction::Reverse)
}

fn zrevrange(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    range_generic(ctx, args, false, RangeType::Rank, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    range_generic(ctx, args, false, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    range_generic(ctx, args, false, RangeType::Lex, Direction::Reverse)
}

/// Redis's `zrangeGenericCommand`: options, then conflicts, then the range, then the key.
fn range_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    store: bool,
    mut rtype: RangeType,
    mut dir: Direction,
) -> Result<Executed, CmdError> {
    let dst = if store {
        Some(args.next_bytes()?)
    } else {
        None
    };
    let key = args.next_bytes()?;
    let mut min = args.next_bytes()?;
    let mut max = args.next_bytes()?;
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    while args.has_more() {
        if !store && args.eat("WITHSCORES") {
            withscores = true;
        } else if args.remaining() >= 3 && args.eat("LIMIT") {
            offset = args.next_i64()?;
            limit = args.next_i64()?;
        } else if dir == Direction::Auto && args.eat("REV") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && args.eat("BYLEX") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && args.eat("BYSCORE") {
            rtype = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let rev = dir == Direction::Reverse;
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    // Redis only notices a LIMIT whose count is not -1 (its "no limit" default).
    if limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::msg(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::msg(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let range = match rtype {
        RangeType::Score => Range::Score(ScoreRange::parse(min, max)?),
        RangeType::Lex => Range::Lex(LexRange::parse(min, max)?),
        _ => Range::Rank(
            parse_i64(min).ok_or(CmdError::NotInteger)?,
            parse_i64(max).ok_or(CmdError::NotInteger)?,
        ),
    };
    // ZRANGESTORE reads its source as ZRANGE does.
    let items = ctx.reading(|ctx| {
        Ok::<_, CmdError>(match ctx.get_zset(key)? {
            None => Vec::new(),
            Some(z) => collect_range(z, &range, rev, offset, limit),
        })
    })?;
    match dst {
        None => Ok(Executed::read(scored_reply(
            ctx.protocol,
            items,
            withscores,
        ))),
        Some(dst) => Ok(store_zset(ctx, dst, items, "zrangestore")),
    }
}

/// The elements of `range` in reply order, after LIMIT `offset count` (count < 0: all).
fn collect_range(
    z: &ZSetValue,
    range: &Range,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(Bytes, f64)> {
    let (start, end) = match range {
        Range::Rank(a, b) => {
            let Some((a, b)) = rank_window(*a, *b, z.len()) else {
                return Vec::new();
            };
            if rev {
                // Reverse ranks count from the tail.
                let len = z.len();
                return z
                    .iter_from(len - 1 - a, true)
                    .take(b - a + 1)
                    .map(|(m, s)| (copy(m), s))
                    .collect();
            }
            return z
                .iter_from(a, false)
                .take(b - a + 1)
                .map(|(m, s)| (copy(m), s))
                .collect();
        }
        Range::Score(r) => r.ranks(z),
        Range::Lex(r) => r.ranks(z),
    };
    if offset < 0 || end <= start {
        return Vec::new();
    }
    let avail = end - start;
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    if offset >= avail {
        return Vec::new();
    }
    let n = avail - offset;
    let n = if limit < 0 {
        n
    } else {
        n.min(usize::try_from(limit).unwrap_or(usize::MAX))
    };
    let first = if rev {
        end - 1 - offset
    } else {
        start + offset
    };
    z.iter_from(first, rev)
        .take(n)
        .map(|(m, s)| (copy(m), s))
        .collect()
}

/// Stores a result at `dst` with the encoding of a fresh build, or deletes `dst` when the
/// result is empty. Replies with the element count.
fn store_zset(
    ctx: &mut Ctx,
    dst: &[u8],
    items: Vec<(Bytes, f64)>,
    event: &'static str,
) -> Executed {
    let n = items.len() as i64;
    if n > 0 {
        let z = ZSetValue::from_pairs(items, &ctx.ks.cfg);
        ctx.set(dst, Value::ZSet(z));
        ctx.notify(notify::ZSET, event, dst);
        Executed::write(Frame::Integer(n))
    } else {
        let deleted = ctx.delete_raising(dst);
        write_if(deleted, Frame::Integer(0))
    }
}

// ---- ZREMRANGEBY* ------------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let start = args.next_i64()?;
    let end = args.next_i64()?;
    remrange(ctx, key, Range::Rank(start, end))
}

fn zremrangebyscore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let range = ScoreRange::parse(args.next_bytes()?, args.next_bytes()?)?;
    remrange(ctx, key, Range::Score(range))
}

fn zremrangebylex(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let range = LexRange::parse(args.next_bytes()?, args.next_bytes()?)?;
    remrange(ctx, key, Range::Lex(range))
}

fn remrange(ctx: &mut Ctx, key: &[u8], range: Range) -> Result<Executed, CmdError> {
    let Some(z) = ctx.get_zset(key)? else {
        return Ok(Executed::read(Frame::Integer(0)));
    };
    let victims = collect_range(z, &range, false, 0, -1);
    for (m, _) in &victims {
        z.remove(m);
    }
    if !victims.is_empty() {
        let event = match range {
            Range::Rank(..) => "zremrangebyrank",
            Range::Score(_) => "zremrangebyscore",
            Range::Lex(_) => "zremrangebylex",
        };
        ctx.notify(notify::ZSET, event, key);
        ctx.delete_if_empty(key);
    }
    Ok(write_if(
        !victims.is_empty(),
        Frame::Integer(victims.len() as i64),
    ))
}

// ---- pops --------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum End {
    Min,
    Max,
}

impl End {
    fn pop_name(self) -> &'static [u8] {
        match self {
            End::Min => b"ZPOPMIN",
            End::Max => b"ZPOPMAX",
        }
    }
}

/// Pops up to `count` elements from one end of the zset at `key` (deleting it when empty).
fn pop_n(ctx: &mut Ctx, key: &[u8], end: End, count: u64) -> Result<Vec<(Bytes, f64)>, CmdError> {
    let Some(z) = ctx.get_zset(key)? else {
        return Ok(Vec::new());
    };
    let n = (z.len() as u64).min(count) as usize;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let rank = match end {
            End::Min => 0,
            End::Max => z.len() - 1,
        };
        let Some((m, s)) = z.get_by_rank(rank) else {
            break;
        };
        z.remove(&m);
        out.push((m, s));
    }
    if !out.is_empty() {
        let event = match end {
            End::Min => "zpopmin",
            End::Max => "zpopmax",
        };
        ctx.notify(notify::ZSET, event, key);
        ctx.delete_if_empty(key);
    }
    Ok(out)
}

fn zpopmin(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    zpop(ctx, args, End::Min)
}

fn zpopmax(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    zpop(ctx, args, End::Max)
}

fn zpop(ctx: &mut Ctx, args: &mut Args, end: End) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    if args.remaining() > 1 {
        return Err(CmdError::Syntax);
    }
    let count = match args.peek() {
        Some(b) => Some(positive_count(
            b,
            "value is out of range, must be positive",
        )?),
        None => None,
    };
    if !ctx.check_type(key, "zset")? || count == Some(0) {
        return Ok(Executed::read(Frame::Array(Vec::new())));
    }
    let popped = pop_n(ctx, key, end, count.unwrap_or(1))?;
    let changed = !popped.is_empty();
    let reply = if count.is_some() && ctx.protocol == Protocol::Resp3 {
        pairs_reply(popped)
    } else {
        scored_reply(Protocol::Resp2, popped, true)
    };
    Ok(write_if(changed, reply))
}

fn bzpopmin(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    bzpop(ctx, args, End::Min)
}

fn bzpopmax(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    bzpop(ctx, args, End::Max)
}

/// BZPOPMIN/BZPOPMAX: serve from the first non-empty key, else block (or answer nil when
/// blocking is not allowed).
fn bzpop(ctx: &mut Ctx, args: &mut Args, end: End) -> Result<Executed, CmdError> {
    let Some((timeout, keys)) = args.take_rest().split_last() else {
        return Err(CmdError::Syntax);
    };
    let deadline = ctx.blocking_deadline(timeout)?;
    for key in keys {
        if !ctx.check_type(key, "zset")? {
            continue;
        }
        let popped = pop_n(ctx, key, end, 1)?;
        if let Some((m, s)) = popped.into_iter().next() {
            let reply = Frame::Array(vec![
                Frame::Bulk(key.clone()),
                Frame::Bulk(m),
                Frame::Double(s),
            ]);
            return Ok(Executed::rewritten(
                reply,
                vec![Bytes::from_static(end.pop_name()), copy(key)],
            ));
        }
    }
    Ok(block_or_nil(ctx, keys, deadline))
}

fn block_or_nil(ctx: &Ctx, keys: &[Bytes], deadline: Option<i64>) -> Executed {
    if ctx.no_block {
        return Executed::read(Frame::NullArray);
    }
    Executed::block(keys.iter().map(|k| copy(k)).collect(), deadline)
}

fn zmpop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    mpop(ctx, args, false)
}

fn bzmpop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    mpop(ctx, args, true)
}

/// ZMPOP / BZMPOP: `[timeout] numkeys key... MIN|MAX [COUNT n]`.
fn mpop(ctx: &mut Ctx, args: &mut Args, blocking: bool) -> Result<Executed, CmdError> {
    let timeout = if blocking {
        Some(args.next_bytes()?)
    } else {
        None
    };
    let numkeys = match parse_i64(args.next_bytes()?) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(CmdError::msg("numkeys should be greater than 0")),
    };
    if numkeys >= args.remaining() {
        return Err(CmdError::Syntax);
    }
    let keys = &args.rest()[..numkeys];
    let mut opts = Args::new(&args.argv()[args.argv().len() - args.remaining() + numkeys - 1..]);
    let end = if opts.eat("MIN") {
        End::Min
    } else if opts.eat("MAX") {
        End::Max
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count: Option<u64> = None;
    while opts.has_more() {
        if count.is_none() && opts.remaining() >= 2 && opts.eat("COUNT") {
            match parse_i64(opts.next_bytes()?) {
                Some(n) if n > 0 => count = Some(n as u64),
                _ => return Err(CmdError::msg("count should be greater than 0")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let count = count.unwrap_or(1);
    let deadline = match timeout {
        Some(t) => Some(ctx.blocking_deadline(t)?),
        None => None,
    };
    for key in keys {
        if !ctx.check_type(key, "zset")? {
            continue;
        }
        let popped = pop_n(ctx, key, end, count)?;
        if popped.is_empty() {
            continue;
        }
        let n = popped.len();
        let reply = Frame::Array(vec![Frame::Bulk(key.clone()), pairs_reply(popped)]);
        return Ok(Executed::rewritten(
            reply,
            vec![
                Bytes::from_static(end.pop_name()),
                copy(key),
                Bytes::from(n.to_string()),
            ],
        ));
    }
    match deadline {
        Some(deadline) => Ok(block_or_nil(ctx, keys, deadline)),
        None => Ok(Executed::read(Frame::NullArray)),
    }
}

// ---- ZRANDMEMBER --------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let Some(count_arg) = args.peek() else {
        let Ctx { ks, db, rng, .. } = ctx;
        let z = match ks.get(*db, key) {
            None => return Ok(Executed::read(Frame::Null)),
            Some(Value::ZSet(z)) => z,
            Some(_) => return Err(CmdError::WrongType),
        };
        let pick = if z.is_empty() {
            None
        } else {
            z.entry_at(rand::Rng::gen_range(&mut **rng, 0..z.len()))
        };
        return Ok(Executed::read(
            pick.map_or(Frame::Null, |(m, _)| Frame::Bulk(m)),
        ));
    };
    let count = parse_i64(count_arg).ok_or(CmdError::NotInteger)?;
    if count == i64::MIN {
        return Err(CmdError::msg(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    args.next_bytes()?;
    let withscores = match args.remaining() {
        0 => false,
        1 if args.eat("WITHSCORES") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withscores && !(i64::MIN / 2..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::msg("value is out of range"));
    }
    let proto = ctx.protocol;
    let Ctx { ks, db, rng, .. } = ctx;
    let z = match ks.get(*db, key) {
        None => return Ok(Executed::read(Frame::Array(Vec::new()))),
        Some(Value::ZSet(z)) => z,
        Some(_) => return Err(CmdError::WrongType),
    };
    let size = z.len();
    let items: Vec<(Bytes, f64)> = if count == 0 || size == 0 {
        Vec::new()
    } else if count < 0 {
        let n = count.unsigned_abs();
        let mut out = Vec::with_capacity((n as usize).min(PREALLOC_MAX));
        for _ in 0..n {
            let i = rand::Rng::gen_range(&mut **rng, 0..size);
            out.extend(z.entry_at(i));
        }
        out
    } else if count as u64 >= size as u64 {
        // The whole set, highest first (Redis walks it from the tail).
        z.iter_from(size - 1, true)
            .map(|(m, s)| (copy(m), s))
            .collect()
    } else {
        let picks = rand::seq::index::sample(&mut **rng, size, count as usize);
        picks.into_iter().filter_map(|i| z.entry_at(i)).collect()
    };
    Ok(Executed::read(scored_reply(proto, items, withscores)))
}

// ---- the algebra -------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *acc += v;
                // inf + -inf: Redis makes it 0.
                if acc.is_nan() {
                    *acc = 0.0;
                }
            }
            Aggregate::Min => *acc = if v < *acc { v } else { *acc },
            Aggregate::Max => *acc = if v > *acc { v } else { *acc },
        }
    }
}

/// One input of the algebra: a zset, a set (every member scores 1), or a missing key.
enum Src<'a> {
    Missing,
    Set(&'a SetValue),
    ZSet(&'a ZSetValue),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Set(s) => s.len(),
            Src::ZSet(z) => z.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Set(s) => s.contains(member).then_some(1.0),
            Src::ZSet(z) => z.score(member),
        }
    }

    fn items(&self) -> Vec<(Bytes, f64)> {
        match self {
            Src::Missing => Vec::new(),
            Src::Set(s) => s.iter_bytes().map(|m| (m, 1.0)).collect(),
            Src::ZSet(z) => z.iter().map(|(m, s)| (copy(m), s)).collect(),
        }
    }
}

struct AlgebraOpts {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Parses `numkeys key... [options]` starting at the cursor; returns the keys and options.
/// Type-checks the keys (sets and zsets allowed) before the options, as Redis does.
fn parse_algebra<'a>(
    ctx: &mut Ctx,
    args: &mut Args<'a>,
    name: &str,
    op: SetOp,
    store: bool,
    card_only: bool,
) -> Result<(&'a [Bytes], Vec<bool>, AlgebraOpts), CmdError> {
    let numkeys = args.next_i64()?;
    if numkeys < 1 {
        return Err(CmdError::msg_owned(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as u64 > args.remaining() as u64 {
        return Err(CmdError::Syntax);
    }
    let n = numkeys as usize;
    let keys = &args.rest()[..n];
    let mut exists = Vec::with_capacity(n);
    for k in keys {
        exists.push(match ctx.get(k) {
            None => false,
            Some(Value::Set(_)) | Some(Value::ZSet(_)) => true,
            Some(_) => return Err(CmdError::WrongType),
        });
    }
    let rest = &args.rest()[n..];
    let mut opts = AlgebraOpts {
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut i = 0;
    while i < rest.len() {
        let remaining = rest.len() - i;
        let word = &rest[i];
        if op != SetOp::Diff && !card_only && remaining > n && word.eq_ignore_ascii_case(b"WEIGHTS")
        {
            for (j, w) in rest[i + 1..=i + n].iter().enumerate() {
                opts.weights[j] =
                    parse_score(w).ok_or(CmdError::msg("weight value is not a float"))?;
            }
            i += n + 1;
        } else if op != SetOp::Diff
            && !card_only
            && remaining >= 2
            && word.eq_ignore_ascii_case(b"AGGREGATE")
        {
            let a = &rest[i + 1];
            opts.aggregate = if a.eq_ignore_ascii_case(b"SUM") {
                Aggregate::Sum
            } else if a.eq_ignore_ascii_case(b"MIN") {
                Aggregate::Min
            } else if a.eq_ignore_ascii_case(b"MAX") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            i += 2;
        } else if !store && !card_only && word.eq_ignore_ascii_case(b"WITHSCORES") {
            opts.withscores = true;
            i += 1;
        } else if card_only && remaining >= 2 && word.eq_ignore_ascii_case(b"LIMIT") {
            let l = positive_count(&rest[i + 1], "LIMIT can't be negative")?;
            opts.limit = usize::try_from(l).unwrap_or(usize::MAX);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((keys, exists, opts))
}

/// Computes the union / intersection / difference as (member, score) pairs, unsorted.
fn compute(
    ctx: &Ctx,
    keys: &[Bytes],
    exists: &[bool],
    op: SetOp,
    opts: &AlgebraOpts,
) -> Vec<(Bytes, f64)> {
    let db = &ctx.ks.dbs[ctx.db];
    let mut srcs: Vec<(Src, f64)> = keys
        .iter()
        .zip(exists)
        .zip(&opts.weights)
        .map(|((k, e), w)| {
            let src = match (e, db.map.get(&k[..]).map(|e| &e.value)) {
                (true, Some(Value::Set(s))) => Src::Set(s),
                (true, Some(Value::ZSet(z))) => Src::ZSet(z),
                _ => Src::Missing,
            };
            (src, *w)
        })
        .collect();
    let weighted = |w: f64, s: f64| {
        let v = w * s;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    match op {
        SetOp::Union | SetOp::Inter => {
            // Smallest first, stably, as Redis's qsort (glibc: a merge sort) orders them: the
            // order decides the order of floating point additions.
            srcs.sort_by_key(|(s, _)| s.len());
            if op == SetOp::Inter {
                let Some(((first, w0), rest)) = srcs.split_first() else {
                    return Vec::new();
                };
                let mut out = Vec::new();
                'members: for (m, s) in first.items() {
                    let mut score = weighted(*w0, s);
                    for (src, w) in rest {
                        match src.score(&m) {
                            Some(v) => opts.aggregate.apply(&mut score, weighted(*w, v)),
                            None => continue 'members,
                        }
                    }
                    out.push((m, score));
                    if opts.limit != 0 && out.len() >= opts.limit {
                        break;
                    }
                }
                return out;
            }
            let mut acc: IndexMap<Bytes, f64, ahash::RandomState> = IndexMap::default();
            for (src, w) in &srcs {
                for (m, s) in src.items() {
                    let v = weighted(*w, s);
                    match acc.get_mut(&m) {
                        Some(cur) => opts.aggregate.apply(cur, v),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            acc.into_iter().collect()
        }
        SetOp::Diff => {
            let Some(((first, _), rest)) = srcs.split_first() else {
                return Vec::new();
            };
            first
                .items()
                .into_iter()
                .filter(|(m, _)| rest.iter().all(|(src, _)| src.score(m).is_none()))
                .collect()
        }
    }
}

fn sort_items(items: &mut [(Bytes, f64)]) {
    items.sort_by(|a, b| crate::value::zset::cmp_entry(a.1, &a.0, b.1, &b.0));
}

fn algebra_store(
    ctx: &mut Ctx,
    args: &mut Args,
    name: &str,
    op: SetOp,
) -> Result<Executed, CmdError> {
    let dst = args.next_bytes()?;
    // The sources are read as ZUNION reads them; the destination is written.
    let items = ctx.reading(|ctx| {
        let (keys, exists, opts) = parse_algebra(ctx, args, name, op, true, false)?;
        Ok::<_, CmdError>(compute(ctx, keys, &exists, op, &opts))
    })?;
    let event = match op {
        SetOp::Union => "zunionstore",
        SetOp::Inter => "zinterstore",
        SetOp::Diff => "zdiffstore",
    };
    Ok(store_zset(ctx, dst, items, event))
}

fn algebra_read(
    ctx: &mut Ctx,
    args: &mut Args,
    name: &str,
    op: SetOp,
) -> Result<Executed, CmdError> {
    let (keys, exists, opts) = parse_algebra(ctx, args, name, op, false, false)?;
    let mut items = compute(ctx, keys, &exists, op, &opts);
    sort_items(&mut items);
    Ok(Executed::read(scored_reply(
        ctx.protocol,
        items,
        opts.withscores,
    )))
}

fn zunionstore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    algebra_store(ctx, args, "zunionstore", SetOp::Union)
}

fn zinterstore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    algebra_store(ctx, args, "zinterstore", SetOp::Inter)
}

fn zdiffstore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    algebra_store(ctx, args, "zdiffstore", SetOp::Diff)
}

fn zunion(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    algebra_read(ctx, args, "zunion", SetOp::Union)
}

fn zinter(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    algebra_read(ctx, args, "zinter", SetOp::Inter)
}

fn zdiff(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    algebra_read(ctx, args, "zdiff", SetOp::Diff)
}

fn zintercard(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let (keys, exists, opts) = parse_algebra(ctx, args, "zintercard", SetOp::Inter, false, true)?;
    let n = compute(ctx, keys, &exists, SetOp::Inter, &opts).len();
    Ok(Executed::read(Frame::Integer(n as i64)))
}

// ---- ZSCAN ----------------------------------------------------------------------------------

fn zscan(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let cursor = parse_scan_cursor(args.next_bytes()?)?;
    let Some(z) = ctx.get_zset(key)? else {
        return Ok(Executed::read(scan_reply(0, Vec::new())));
    };
    let (pattern, count) = parse_scan_options(args.take_rest())?;
    let (next, pairs) = z.scan_step(cursor, count);
    let items = pairs
        .into_iter()
        .filter(|(m, _)| pattern.as_ref().is_none_or(|p| glob_match(p, m)))
        .flat_map(|(m, s)| [Frame::Bulk(m), Frame::Bulk(format_double(s))])
        .collect();
    Ok(Executed::read(scan_reply(next, items)))
}

#[cfg(test)]
#[path = "zset_tests.rs"]
mod tests;
