//! List commands: pushes and pops at both ends, indexed access, LINSERT/LREM/LTRIM/LPOS,
//! LMOVE/RPOPLPUSH, LMPOP, and the blocking forms BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.
//!
//! ## Blocking
//!
//! A blocking command that can be served now behaves like its non-blocking form and is
//! propagated as that form (as Redis 7.0 does): `BLPOP` -> `LPOP key`, `BRPOP` -> `RPOP key`,
//! `BLMOVE` -> `LMOVE src dst from to`, `BRPOPLPUSH` -> `RPOPLPUSH src dst`, `LMPOP`/`BLMPOP`
//! -> `LPOP|RPOP key <number popped>`. When nothing can be served:
//!
//! - with `ctx.no_block` (MULTI, replication stream, AOF) it replies at once: a null array,
//!   or a null bulk for `BLMOVE`/`BRPOPLPUSH` (what Redis replies inside MULTI);
//! - otherwise it returns [`Executed::block`] on its keys with an absolute deadline; the
//!   node re-runs the same handler when a key is written and replies a null array
//!   (`*-1`, for every blocking list command, as Redis does) at the deadline.
//!
//! Timeouts are seconds as a `long double` (Redis's `getTimeoutFromObjectOrReply`): the
//! value times 1000 is truncated to integer milliseconds, and a value that does not fit
//! an i64 (e.g. `inf`, `1e30`) behaves as x86's conversion does, becoming negative.

use super::copy;
use bytes::Bytes;
use ferrokv_proto::resp::Frame;

use super::spec;
use super::{
    numkeys_at, parse_i64, Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec, BLOCKING,
    DENYOOM, FAST, NOSCRIPT, READONLY, WRITE,
};
use crate::notify;
use crate::value::list::End;
use crate::value::{ListValue, Value};

pub static COMMANDS: &[Spec<Handler>] = &[
    spec("lpush", -3, WRITE | DENYOOM | FAST, KeySpec::FIRST, lpush),
    spec("rpush", -3, WRITE | DENYOOM | FAST, KeySpec::FIRST, rpush),
    spec("lpushx", -3, WRITE | DENYOOM | FAST, KeySpec::FIRST, lpushx),
    spec("rpushx", -3, WRITE | DENYOOM | FAST, KeySpec::FIRST, rpushx),
    spec("lpop", -2, WRITE | FAST, KeySpec::FIRST, lpop),
    spec("rpop", -2, WRITE | FAST, KeySpec::FIRST, rpop),
    spec("llen", 2, READONLY | FAST, KeySpec::FIRST, llen),
    spec("lrange", 4, READONLY, KeySpec::FIRST, lrange),
    spec("lindex", 3, READONLY, KeySpec::FIRST, lindex),
    spec("lset", 4, WRITE | DENYOOM, KeySpec::FIRST, lset),
    spec("linsert", 5, WRITE | DENYOOM, KeySpec::FIRST, linsert),
    spec("lrem", 4, WRITE, KeySpec::FIRST, lrem),
    spec("ltrim", 4, WRITE, KeySpec::FIRST, ltrim),
    spec("lpos", -3, READONLY, KeySpec::FIRST, lpos),
    spec("lmove", 5, WRITE | DENYOOM, KeySpec::FIRST_TWO, lmove),
    spec(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        KeySpec::FIRST_TWO,
        rpoplpush,
    ),
    spec(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        ALL_BUT_LAST,
        blpop,
    ),
    spec(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        ALL_BUT_LAST,
        brpop,
    ),
    spec(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        KeySpec::FIRST_TWO,
        blmove,
    ),
    spec(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        KeySpec::FIRST_TWO,
        brpoplpush,
    ),
    spec("lmpop", -4, WRITE, KeySpec::Movable(lmpop_keys), lmpop),
    spec(
        "blmpop",
        -5,
        WRITE | BLOCKING,
        KeySpec::Movable(blmpop_keys),
        blmpop,
    ),
];

/// `BLPOP key [key ...] timeout`: keys from 1 to the one before last.
const ALL_BUT_LAST: KeySpec = KeySpec::Range {
    first: 1,
    last: -2,
    step: 1,
};

fn lmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_at(argv, 1)
}

fn blmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_at(argv, 2)
}

fn end_name(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LPOP",
        End::Right => b"RPOP",
    }
}

/// The list at `key`, created empty if missing (`WRONGTYPE` if another type).
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

fn list_for_write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<&'c mut ListValue, CmdError> {
    match ctx
        .get_or_insert_with(key, || Value::List(Box::default()))
        .0
    {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// Pops up to `n` elements from `end` of the list at `key`, deleting the key when it
/// empties. `None` if there is no (non-empty) list there.
fn pop_n(ctx: &mut Ctx, key: &[u8], end: End, n: usize) -> Result<Option<Vec<Bytes>>, CmdError> {
    let Some(list) = ctx.get_list(key)? else {
        return Ok(None);
    };
    if list.is_empty() {
        return Ok(None);
    }
    let take = n.min(list.len());
    let mut out = Vec::with_capacity(take);
    for _ in 0..take {
        if let Some(v) = list.pop(end) {
            out.push(v);
        }
    }
    let emptied = list.is_empty();
    ctx.notify(notify::LIST, pop_event(end), key);
    // What `delete_if_empty` does, without looking the key up again.
    if emptied {
        ctx.ks.dbs[ctx.db].remove(key);
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(Some(out))
}

fn push_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    end: End,
    only_existing: bool,
) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let items = args.take_rest();
    if only_existing && !ctx.check_type(key, "list")? {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    let list = list_for_write(ctx, key)?;
    for item in items {
        list.push(end, item);
    }
    let len = list.len();
    ctx.notify(notify::LIST, push_event(end), key);
    Ok(Executed::write(Frame::Integer(len as i64)))
}

fn lpush(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    push_generic(ctx, args, End::Right, true)
}

fn pop_generic(ctx: &mut Ctx, args: &mut Args, end: End) -> Result<Executed, CmdError> {
    if args.argv().len() > 3 {
        let name = if end == End::Left { "lpop" } else { "rpop" };
        return Err(CmdError::WrongArity(name.to_string()));
    }
    let key = args.next_bytes()?;
    let count = match args.peek() {
        None => None,
        Some(b) => match parse_i64(b) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return Err(CmdError::msg("value is out of range, must be positive")),
        },
    };
    if count == Some(0) {
        if !ctx.check_type(key, "list")? {
            return Ok(Executed::read(Frame::NullArray));
        }
        return Ok(Executed::read(Frame::Array(Vec::new())));
    }
    // `pop_n` looks the key up once: missing is a nil read, another type `WRONGTYPE`.
    let n = count.map_or(1, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let Some(popped) = pop_n(ctx, key, end, n)? else {
        let nil = if count.is_some() {
            Frame::NullArray
        } else {
            Frame::Null
        };
        return Ok(Executed::read(nil));
    };
    match count {
        None => Ok(Executed::write(
            popped.into_iter().next().map_or(Frame::Null, Frame::Bulk),
        )),
        Some(_) => Ok(Executed::write(Frame::Array(
            popped.into_iter().map(Frame::Bulk).collect(),
        ))),
    }
}

fn lpop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    pop_generic(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    pop_generic(ctx, args, End::Right)
}

fn llen(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let n = ctx.get_list(key)?.map_or(0, |l| l.len());
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn lrange(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let start = args.next_i64()?;
    let end = args.next_i64()?;
    let out = match ctx.get_list(key)? {
        Some(list) => match list.range(start, end) {
            Some((s, e)) => list
                .iter_range(s, e)
                .map(|v| Frame::Bulk(copy(v)))
                .collect(),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    Ok(Executed::read(Frame::Array(out)))
}

fn lindex(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let Some(list) = ctx.get_list(key)? else {
        return Ok(Executed::read(Frame::Null));
    };
    let index = args.next_i64()?;
    let reply = list
        .get(index)
        .map_or(Frame::Null, |v| Frame::Bulk(copy(v)));
    Ok(Executed::read(reply))
}

fn lset(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let Some(list) = ctx.get_list(key)? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = args.next_i64()?;
    let value = args.next_bytes()?;
    let pos = list.resolve(index).ok_or(CmdError::IndexOutOfRange)?;
    list.set(pos, value);
    ctx.notify(notify::LIST, "lset", key);
    Ok(Executed::write(Frame::ok()))
}

fn linsert(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let after = if args.eat("after") {
        true
    } else if args.eat("before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let pivot = args.next_bytes()?;
    let value = args.next_bytes()?;
    let Some(list) = ctx.get_list(key)? else {
        return Ok(Executed::read(Frame::Integer(0)));
    };
    let Some(pos) = list.iter().position(|v| v == &pivot[..]) else {
        return Ok(Executed::read(Frame::Integer(-1)));
    };
    list.insert(pos + after as usize, value);
    let len = list.len();
    ctx.notify(notify::LIST, "linsert", key);
    Ok(Executed::write(Frame::Integer(len as i64)))
}

fn lrem(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let count = args.next_i64()?;
    let elem = args.next_bytes()?;
    let Some(list) = ctx.get_list(key)? else {
        return Ok(Executed::read(Frame::Integer(0)));
    };
    let limit = match count.unsigned_abs() {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let removed = if count >= 0 {
        let mut matched = 0;
        list.remove_where(|_, v| {
            let drop = matched < limit && v == &elem[..];
            matched += drop as usize;
            drop
        })
    } else {
        // Mark matches from the tail, then drop them in one pass.
        let len = list.len();
        let mut doomed: Vec<usize> = list
            .iter()
            .rev()
            .enumerate()
            .filter(|(_, v)| *v == &elem[..])
            .map(|(i, _)| len - 1 - i)
            .take(limit)
            .collect();
        list.remove_where(|pos, _| {
            let drop = doomed.last() == Some(&pos);
            if drop {
                doomed.pop();
            }
            drop
        })
    };
    if removed > 0 {
        ctx.notify(notify::LIST, "lrem", key);
        ctx.delete_if_empty(key);
    }
    let reply = Frame::Integer(removed as i64);
    Ok(if removed == 0 {
        Executed::read(reply)
    } else {
        Executed::write(reply)
    })
}

fn ltrim(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let start = args.next_i64()?;
    let end = args.next_i64()?;
    let Some(list) = ctx.get_list(key)? else {
        return Ok(Executed::read(Frame::ok()));
    };
    let before = list.len();
    list.keep_range(list.range(start, end));
    let changed = list.len() != before;
    ctx.notify(notify::LIST, "ltrim", key);
    ctx.delete_if_empty(key);
    Ok(if changed {
        Executed::write(Frame::ok())
    } else {
        Executed::read(Frame::ok())
    })
}

fn lpos(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let elem = args.next_bytes()?;
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    while args.has_more() {
        let more = args.remaining() >= 2;
        if more && args.eat("rank") {
            rank = args.next_i64()?;
            if rank == 0 {
                return Err(CmdError::msg(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if more && args.eat("count") {
            count = Some(non_negative(args.next_bytes()?, "COUNT can't be negative")?);
        } else if more && args.eat("maxlen") {
            maxlen = non_negative(args.next_bytes()?, "MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(list) = ctx.get_list(key)? else {
        let reply = if count.is_some() {
            Frame::Array(Vec::new())
        } else {
            Frame::Null
        };
        return Ok(Executed::read(reply));
    };
    // Redis negates a negative rank in a C long: LONG_MIN stays negative, so every match
    // qualifies, exactly like rank -1.
    let (from_tail, skip) = match rank {
        i64::MIN => (true, 0),
        r if r < 0 => (true, r.unsigned_abs() - 1),
        r => (false, r as u64 - 1),
    };
    let len = list.len();
    let limit = if maxlen == 0 {
        len
    } else {
        (maxlen.min(len as u64)) as usize
    };
    let want = count.map_or(1, |c| if c == 0 { u64::MAX } else { c });
    let mut matches: u64 = 0;
    let mut found = Vec::new();
    let elements: Box<dyn Iterator<Item = &[u8]>> = match from_tail {
        true => Box::new(list.iter().rev()),
        false => Box::new(list.iter()),
    };
    for (step, v) in elements.take(limit).enumerate() {
        let i = if from_tail { len - 1 - step } else { step };
        if v == &elem[..] {
            matches += 1;
            if matches > skip {
                found.push(Frame::Integer(i as i64));
                if found.len() as u64 >= want {
                    break;
                }
            }
        }
    }
    let reply = match count {
        Some(_) => Frame::Array(found),
        None => found.into_iter().next().unwrap_or(Frame::Null),
    };
    Ok(Executed::read(reply))
}

/// A non-negative integer option (`COUNT`, `MAXLEN` of LPOS): any parse failure or a
/// negative value replies `msg`.
fn non_negative(b: &[u8], msg: &'static str) -> Result<u64, CmdError> {
    match parse_i64(b) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::msg(msg)),
    }
}

/// Moves one element from `src` to `dst`. `None` if `src` has no list. `dst`'s type is
/// checked only when there is something to move (as Redis does); the element is pushed
/// before `src` is deleted, so `src == dst` rotates a single-element list in place.
fn move_one(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<Bytes>, CmdError> {
    match ctx.get_list(src)? {
        Some(l) if !l.is_empty() => {}
        _ => return Ok(None),
    }
    ctx.check_type(dst, "list")?;
    let Some(value) = ctx.get_list(src)?.and_then(|l| l.pop(from)) else {
        return Ok(None);
    };
    list_for_write(ctx, dst)?.push(to, &value);
    ctx.notify(notify::LIST, push_event(to), dst);
    ctx.notify(notify::LIST, pop_event(from), src);
    ctx.delete_if_empty(src);
    Ok(Some(value))
}

fn parse_end(b: &[u8]) -> Result<End, CmdError> {
    End::parse(b).ok_or(CmdError::Syntax)
}

fn lmove(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let from = parse_end(args.next_bytes()?)?;
    let to = parse_end(args.next_bytes()?)?;
    Ok(match move_one(ctx, src, dst, from, to)? {
        Some(v) => Executed::write(Frame::Bulk(v)),
        None => Executed::read(Frame::Null),
    })
}

fn rpoplpush(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    Ok(match move_one(ctx, src, dst, End::Right, End::Left)? {
        Some(v) => Executed::write(Frame::Bulk(v)),
        None => Executed::read(Frame::Null),
    })
}

/// What a blocking command does when nothing can be served: answer at once under
/// `no_block` (with `nil`), else park on `keys`.
fn block_or_nil(ctx: &Ctx, keys: &[Bytes], deadline: Option<i64>, nil: Frame) -> Executed {
    if ctx.no_block {
        Executed::read(nil)
    } else {
        Executed::block(keys.iter().map(|k| copy(k)).collect(), deadline)
    }
}

fn bpop_generic(ctx: &mut Ctx, args: &mut Args, end: End) -> Result<Executed, CmdError> {
    let argv = args.argv();
    let (keys, timeout) = argv[1..].split_at(argv.len() - 2);
    let deadline = ctx.blocking_deadline(&timeout[0])?;
    for key in keys {
        if let Some(popped) = pop_n(ctx, key, end, 1)? {
            let value = popped.into_iter().next().unwrap_or_default();
            return Ok(Executed::rewritten(
                Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Bulk(value)]),
                vec![Bytes::from_static(end_name(end)), copy(key)],
            ));
        }
    }
    Ok(block_or_nil(ctx, keys, deadline, Frame::NullArray))
}

fn blpop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    bpop_generic(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    bpop_generic(ctx, args, End::Right)
}

fn blmove_generic(
    ctx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    (from, to): (End, End),
    deadline: Option<i64>,
    propagate: Vec<Bytes>,
) -> Result<Executed, CmdError> {
    match move_one(ctx, src, dst, from, to)? {
        Some(v) => Ok(Executed::rewritten(Frame::Bulk(v), propagate)),
        None => Ok(block_or_nil(
            ctx,
            std::slice::from_ref(src),
            deadline,
            Frame::Null,
        )),
    }
}

fn blmove(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let from_arg = args.next_bytes()?;
    let to_arg = args.next_bytes()?;
    let ends = (parse_end(from_arg)?, parse_end(to_arg)?);
    let deadline = ctx.blocking_deadline(args.next_bytes()?)?;
    let propagate = vec![
        Bytes::from_static(b"LMOVE"),
        copy(src),
        copy(dst),
        copy(from_arg),
        copy(to_arg),
    ];
    blmove_generic(ctx, src, dst, ends, deadline, propagate)
}

fn brpoplpush(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let deadline = ctx.blocking_deadline(args.next_bytes()?)?;
    let propagate = vec![Bytes::from_static(b"RPOPLPUSH"), copy(src), copy(dst)];
    blmove_generic(ctx, src, dst, (End::Right, End::Left), deadline, propagate)
}

/// The parsed tail of `[B]LMPOP ... numkeys key [key ...] LEFT|RIGHT [COUNT count]`.
struct MPop<'a> {
    keys: &'a [Bytes],
    end: End,
    count: usize,
}

fn parse_mpop(argv: &[Bytes], numkeys_idx: usize) -> Result<MPop<'_>, CmdError> {
    let numkeys = match parse_i64(&argv[numkeys_idx]) {
        Some(n) if n > 0 => n as u64,
        _ => return Err(CmdError::msg("numkeys should be greater than 0")),
    };
    let where_idx = numkeys_idx as u64 + numkeys + 1;
    if where_idx >= argv.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let where_idx = where_idx as usize;
    let end = parse_end(&argv[where_idx])?;
    let mut count: Option<usize> = None;
    let mut i = where_idx + 1;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        if count.is_none() && more && argv[i].eq_ignore_ascii_case(b"count") {
            match parse_i64(&argv[i + 1]) {
                Some(n) if n > 0 => count = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(CmdError::msg("count should be greater than 0")),
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MPop {
        keys: &argv[numkeys_idx + 1..where_idx],
        end,
        count: count.unwrap_or(1),
    })
}

fn mpop_serve(ctx: &mut Ctx, m: &MPop) -> Result<Option<Executed>, CmdError> {
    for key in m.keys {
        if let Some(popped) = pop_n(ctx, key, m.end, m.count)? {
            let n = popped.len();
            let reply = Frame::Array(vec![
                Frame::Bulk(key.clone()),
                Frame::Array(popped.into_iter().map(Frame::Bulk).collect()),
            ]);
            return Ok(Some(Executed::rewritten(
                reply,
                vec![
                    Bytes::from_static(end_name(m.end)),
                    copy(key),
                    Bytes::from(n.to_string()),
                ],
            )));
        }
    }
    Ok(None)
}

fn lmpop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let m = parse_mpop(args.argv(), 1)?;
    Ok(mpop_serve(ctx, &m)?.unwrap_or_else(|| Executed::read(Frame::NullArray)))
}

fn blmpop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let argv = args.argv();
    let deadline = ctx.blocking_deadline(&argv[1])?;
    let m = parse_mpop(argv, 2)?;
    match mpop_serve(ctx, &m)? {
        Some(e) => Ok(e),
        None => Ok(block_or_nil(ctx, m.keys, deadline, Frame::NullArray)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testkit::Kit;
    use crate::cmd::{Block, Propagate};
    use ferrokv_proto::resp::Protocol;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn bulks(items: &[&str]) -> Frame {
        Frame::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn err(s: &str) -> Frame {
        Frame::error(s)
    }

    fn argv(line: &str) -> Vec<Bytes> {
        line.split_whitespace()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn rewritten(line: &str) -> Propagate {
        Propagate::Rewritten(vec![argv(line)])
    }

    fn kit_with(list: &str) -> Kit {
        let mut k = Kit::new();
        k.run(&format!("RPUSH l {list}"));
        k
    }

    const WT: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    #[test]
    fn push_pop_and_lengths() {
        let mut k = Kit::new();
        assert_eq!(k.run("LPUSH l b a"), Frame::Integer(2));
        assert_eq!(k.run("RPUSH l c d"), Frame::Integer(4));
        assert_eq!(k.run("LRANGE l 0 -1"), bulks(&["a", "b", "c", "d"]));
        assert_eq!(k.run("LPUSHX nokey a"), Frame::Integer(0));
        assert!(k.ks.get(0, b"nokey").is_none());
        assert_eq!(k.run("RPUSHX l e"), Frame::Integer(5));
        assert_eq!(k.run("LLEN l"), Frame::Integer(5));
        assert_eq!(k.run("LLEN nokey"), Frame::Integer(0));
        assert_eq!(k.run("LPOP l"), bulk("a"));
        assert_eq!(k.run("RPOP l"), bulk("e"));
        assert_eq!(k.run("LPOP l 0"), Frame::Array(vec![]));
        assert_eq!(k.run("RPOP l 2"), bulks(&["d", "c"]));
        assert_eq!(k.run("LPOP l 10"), bulks(&["b"]));
        assert!(k.ks.get(0, b"l").is_none(), "emptied list is deleted");
        assert_eq!(k.run("LPOP l"), Frame::Null);
        assert_eq!(k.run("LPOP l 1"), Frame::NullArray);
        assert_eq!(k.run("LPOP l 0"), Frame::NullArray);
        let range = err("ERR value is out of range, must be positive");
        assert_eq!(k.run("LPOP l -1"), range);
        assert_eq!(k.run("LPOP l abc"), range);
        assert_eq!(
            k.run("LPOP l 1 2"),
            err("ERR wrong number of arguments for 'lpop' command")
        );
        assert_eq!(
            k.run("RPOP l 1 2"),
            err("ERR wrong number of arguments for 'rpop' command")
        );
    }

    #[test]
    fn wrongtype_everywhere() {
        let mut k = Kit::new();
        k.ks.set(0, b"s", Value::Str(Bytes::from_static(b"x")));
        for cmd in [
            "LPUSH s a",
            "RPUSH s a",
            "LPUSHX s a",
            "RPUSHX s a",
            "LPOP s",
            "RPOP s 0",
            "LLEN s",
            "LRANGE s 0 1",
            "LINDEX s 0",
            "LSET s 0 a",
            "LINSERT s BEFORE a b",
            "LREM s 0 a",
            "LTRIM s 0 1",
            "LPOS s a",
            "LMOVE s d LEFT LEFT",
            "RPOPLPUSH s d",
            "BLPOP s 0",
            "BRPOP s 0",
            "BLMOVE s d LEFT LEFT 0",
            "BRPOPLPUSH s d 0",
            "LMPOP 1 s LEFT",
            "BLMPOP 0 1 s LEFT",
        ] {
            assert_eq!(k.run(cmd), err(WT), "{cmd}");
        }
        // Argument errors that Redis checks first.
        assert_eq!(
            k.run("LPOP s -1"),
            err("ERR value is out of range, must be positive")
        );
        assert_eq!(k.run("LINSERT s MIDDLE a b"), err("ERR syntax error"));
        assert_eq!(
            k.run("LRANGE s x 1"),
            err("ERR value is not an integer or out of range")
        );
        assert!(k.run("LPOS s a RANK 0").is_error());
        assert_eq!(k.run("LMOVE s d MIDDLE LEFT"), err("ERR syntax error"));
        // LINDEX and LSET look the key up first.
        assert_eq!(k.run("LINDEX nokey x"), Frame::Null);
        assert_eq!(k.run("LSET nokey x v"), err("ERR no such key"));
        assert_eq!(k.run("LSET s x v"), err(WT));
    }

    #[test]
    fn index_access() {
        let mut k = kit_with("a b c");
        assert_eq!(k.run("LINDEX l 0"), bulk("a"));
        assert_eq!(k.run("LINDEX l -1"), bulk("c"));
        assert_eq!(k.run("LINDEX l 3"), Frame::Null);
        assert_eq!(k.run("LINDEX l -9223372036854775808"), Frame::Null);
        assert_eq!(
            k.run("LINDEX l x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(k.run("LSET l -1 z"), Frame::ok());
        assert_eq!(k.run("LSET l 3 z"), err("ERR index out of range"));
        assert_eq!(k.run("LSET l -4 z"), err("ERR index out of range"));
        assert_eq!(k.run("LRANGE l -100 100"), bulks(&["a", "b", "z"]));
        assert_eq!(k.run("LRANGE l 2 1"), Frame::Array(vec![]));
        assert_eq!(
            k.run("LRANGE l -9223372036854775808 9223372036854775807"),
            bulks(&["a", "b", "z"])
        );
        assert_eq!(k.run("LRANGE nokey 0 -1"), Frame::Array(vec![]));
    }

    #[test]
    fn insert_remove_trim() {
        let mut k = kit_with("a b c a b c a");
        assert_eq!(k.run("LINSERT l BEFORE c X"), Frame::Integer(8));
        assert_eq!(k.run("LINSERT l after X Y"), Frame::Integer(9));
        assert_eq!(k.run("LINSERT l before zz Y"), Frame::Integer(-1));
        assert_eq!(k.run("LINSERT nokey before a Y"), Frame::Integer(0));
        assert_eq!(
            k.run("LRANGE l 0 -1"),
            bulks(&["a", "b", "X", "Y", "c", "a", "b", "c", "a"])
        );
        assert_eq!(k.run("LREM l -2 a"), Frame::Integer(2));
        assert_eq!(
            k.run("LRANGE l 0 -1"),
            bulks(&["a", "b", "X", "Y", "c", "b", "c"])
        );
        assert_eq!(k.run("LREM l 1 b"), Frame::Integer(1));
        assert_eq!(k.run("LREM l 0 c"), Frame::Integer(2));
        assert_eq!(k.run("LRANGE l 0 -1"), bulks(&["a", "X", "Y", "b"]));
        assert_eq!(k.run("LREM l -9223372036854775808 Y"), Frame::Integer(1));
        assert_eq!(
            k.run("LREM l x Y"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(k.run("RPUSH l 1 2 3"), Frame::Integer(6));
        assert_eq!(k.run("LTRIM l 1 -2"), Frame::ok());
        assert_eq!(k.run("LRANGE l 0 -1"), bulks(&["X", "b", "1", "2"]));
        assert_eq!(k.run("LTRIM l 5 1"), Frame::ok());
        assert!(k.ks.get(0, b"l").is_none());
        assert_eq!(k.run("LTRIM nokey 0 1"), Frame::ok());
    }

    #[test]
    fn lpos_options_and_errors() {
        let mut k = kit_with("a b c a b c a");
        assert_eq!(k.run("LPOS l a"), Frame::Integer(0));
        assert_eq!(k.run("LPOS l a RANK 2"), Frame::Integer(3));
        assert_eq!(k.run("LPOS l a RANK -1"), Frame::Integer(6));
        assert_eq!(
            k.run("LPOS l a RANK -9223372036854775808"),
            Frame::Integer(6)
        );
        let ints = |v: &[i64]| Frame::Array(v.iter().map(|&i| Frame::Integer(i)).collect());
        assert_eq!(k.run("LPOS l a COUNT 0"), ints(&[0, 3, 6]));
        assert_eq!(k.run("LPOS l a MAXLEN 3 COUNT 0"), ints(&[0]));
        assert_eq!(k.run("LPOS l a RANK -2 COUNT 2 MAXLEN 5"), ints(&[3]));
        assert_eq!(k.run("LPOS l a RANK 1 RANK 2"), Frame::Integer(3));
        assert_eq!(k.run("LPOS l a COUNT 1 COUNT 0"), ints(&[0, 3, 6]));
        assert_eq!(k.run("LPOS l zz"), Frame::Null);
        assert_eq!(k.run("LPOS l zz COUNT 2"), ints(&[]));
        assert_eq!(k.run("LPOS nokey a"), Frame::Null);
        assert_eq!(k.run("LPOS nokey a COUNT 1"), ints(&[]));
        assert_eq!(
            k.run("LPOS nokey a RANK 0"),
            err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
        );
        assert_eq!(
            k.run("LPOS l a RANK x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            k.run("LPOS l a COUNT -1"),
            err("ERR COUNT can't be negative")
        );
        assert_eq!(
            k.run("LPOS l a COUNT x"),
            err("ERR COUNT can't be negative")
        );
        assert_eq!(
            k.run("LPOS l a MAXLEN -1"),
            err("ERR MAXLEN can't be negative")
        );
        assert_eq!(k.run("LPOS l a RANK"), err("ERR syntax error"));
        assert_eq!(k.run("LPOS l a FOO"), err("ERR syntax error"));
    }

    #[test]
    fn lmove_and_rpoplpush() {
        let mut k = kit_with("a b c d");
        assert_eq!(k.run("LMOVE l l LEFT RIGHT"), bulk("a"));
        assert_eq!(k.run("LRANGE l 0 -1"), bulks(&["b", "c", "d", "a"]));
        assert_eq!(k.run("LMOVE l d right left"), bulk("a"));
        assert_eq!(k.run("RPOPLPUSH l d"), bulk("d"));
        assert_eq!(k.run("LRANGE d 0 -1"), bulks(&["d", "a"]));
        assert_eq!(k.run("LMOVE nokey d LEFT RIGHT"), Frame::Null);
        k.ks.set(0, b"s", Value::Str(Bytes::from_static(b"x")));
        assert_eq!(k.run("LMOVE l s LEFT RIGHT"), err(WT));
        assert_eq!(k.run("LMOVE nokey s LEFT RIGHT"), Frame::Null);
        assert_eq!(
            k.run("LLEN l"),
            Frame::Integer(2),
            "nothing moved on WRONGTYPE"
        );
        // A single-element list rotated onto itself keeps its key (and TTL).
        k.run("RPUSH one x");
        let at = k.ks.now_ms + 10_000;
        k.ks.db_mut(0).set_expire(b"one", Some(at));
        assert_eq!(k.run("LMOVE one one LEFT RIGHT"), bulk("x"));
        assert_eq!(k.ks.ttl_ms(0, b"one"), Some(Some(10_000)));
        let e = k.exec("LMOVE l d LEFT LEFT").unwrap();
        assert_eq!(e.propagate, Propagate::AsIs);
        assert_eq!(
            k.exec("LMOVE nokey d LEFT LEFT").unwrap().propagate,
            Propagate::Nothing
        );
    }

    #[test]
    fn propagation_of_plain_writes() {
        let mut k = kit_with("a b c d e f g");
        let p = |k: &mut Kit, c: &str| k.exec(c).unwrap().propagate;
        assert_eq!(p(&mut k, "LPOP l"), Propagate::AsIs);
        assert_eq!(p(&mut k, "LPOP l 0"), Propagate::Nothing);
        assert_eq!(p(&mut k, "LPOP nokey"), Propagate::Nothing);
        assert_eq!(p(&mut k, "LTRIM l 0 -1"), Propagate::Nothing);
        assert_eq!(p(&mut k, "LTRIM l 1 -1"), Propagate::AsIs);
        assert_eq!(p(&mut k, "LREM l 0 zzz"), Propagate::Nothing);
        assert_eq!(p(&mut k, "LREM l 0 c"), Propagate::AsIs);
        assert_eq!(p(&mut k, "LINSERT l before zzz x"), Propagate::Nothing);
        assert_eq!(p(&mut k, "LINSERT l after d x"), Propagate::AsIs);
        assert_eq!(p(&mut k, "LSET l 0 q"), Propagate::AsIs);
        assert_eq!(p(&mut k, "LPUSHX nokey a"), Propagate::Nothing);
        assert_eq!(p(&mut k, "RPUSH l z"), Propagate::AsIs);
        assert_eq!(p(&mut k, "LRANGE l 0 -1"), Propagate::Nothing);
    }

    #[test]
    fn blocking_pops_serve_now_and_propagate_plain_forms() {
        let mut k = kit_with("a b c d e f g");
        let e = k.exec("BLPOP nokey l 0").unwrap();
        assert_eq!(e.reply, bulks(&["l", "a"]));
        assert_eq!(e.propagate, rewritten("LPOP l"));
        let e = k.exec("BRPOP l 0").unwrap();
        assert_eq!(e.reply, bulks(&["l", "g"]));
        assert_eq!(e.propagate, rewritten("RPOP l"));
        let e = k.exec("BLMOVE l d LEFT right 0").unwrap();
        assert_eq!(e.reply, bulk("b"));
        assert_eq!(e.propagate, rewritten("LMOVE l d LEFT right"));
        let e = k.exec("BRPOPLPUSH l d 0").unwrap();
        assert_eq!(e.reply, bulk("f"));
        assert_eq!(e.propagate, rewritten("RPOPLPUSH l d"));
        let e = k.exec("LMPOP 2 nokey l LEFT COUNT 10").unwrap();
        assert_eq!(
            e.reply,
            Frame::Array(vec![bulk("l"), bulks(&["c", "d", "e"])])
        );
        assert_eq!(e.propagate, rewritten("LPOP l 3"));
        let e = k.exec("BLMPOP 0 1 d RIGHT").unwrap();
        assert_eq!(e.reply, Frame::Array(vec![bulk("d"), bulks(&["b"])]));
        assert_eq!(e.propagate, rewritten("RPOP d 1"));
        assert_eq!(k.run("LMPOP 1 nokey LEFT"), Frame::NullArray);
    }

    #[test]
    fn blocking_when_empty() {
        let mut k = Kit::new();
        let now = k.ks.now_ms;
        let e = k.exec("BLPOP a b 1.5").unwrap();
        assert_eq!(
            e.block,
            Some(Block {
                keys: argv("a b"),
                deadline_ms: Some(now + 1500)
            })
        );
        assert_eq!(e.propagate, Propagate::Nothing);
        assert_eq!(
            k.exec("BRPOP a 0").unwrap().block.unwrap().deadline_ms,
            None
        );
        assert_eq!(
            k.exec("BLMOVE a d LEFT LEFT 0")
                .unwrap()
                .block
                .unwrap()
                .keys,
            argv("a")
        );
        assert_eq!(
            k.exec("BRPOPLPUSH a d 2")
                .unwrap()
                .block
                .unwrap()
                .deadline_ms,
            Some(now + 2000)
        );
        assert_eq!(
            k.exec("BLMPOP 0.001 2 a b LEFT")
                .unwrap()
                .block
                .unwrap()
                .keys,
            argv("a b")
        );
        // -0.0001 s truncates to 0 ms: block forever, as Redis does.
        assert_eq!(
            k.exec("BLPOP a -0.0001")
                .unwrap()
                .block
                .unwrap()
                .deadline_ms,
            None
        );
        // Inside MULTI / replication: answer at once.
        let mut ctx = Ctx {
            ks: &mut k.ks,
            db: 0,
            protocol: Protocol::Resp2,
            no_block: true,
            rng: &mut k.rng,
        };
        for (line, want) in [
            ("BLPOP a 0", Frame::NullArray),
            ("BRPOP a 0", Frame::NullArray),
            ("BLMOVE a d LEFT LEFT 0", Frame::Null),
            ("BRPOPLPUSH a d 0", Frame::Null),
            ("BLMPOP 0 1 a LEFT", Frame::NullArray),
        ] {
            let e = crate::cmd::execute(&mut ctx, &argv(line)).unwrap();
            assert_eq!((e.reply, e.block), (want, None), "{line}");
        }
    }

    #[test]
    fn timeout_errors() {
        let mut k = kit_with("a");
        let neg = err("ERR timeout is negative");
        let bad = err("ERR timeout is not a float or out of range");
        for t in ["-1", "inf", "-inf", "1e30"] {
            assert_eq!(k.run(&format!("BLPOP l {t}")), neg, "{t}");
        }
        for t in ["abc", "nan", "1e5000", ""] {
            if !t.is_empty() {
                assert_eq!(k.run(&format!("BLPOP l {t}")), bad, "{t}");
            }
        }
        assert_eq!(k.run("BLMOVE l d MIDDLE LEFT abc"), err("ERR syntax error"));
        assert_eq!(k.run("BLMOVE l d LEFT LEFT abc"), bad);
        assert_eq!(k.run("BRPOPLPUSH l d abc"), bad);
        assert_eq!(k.run("BLMPOP abc 1 l LEFT"), bad);
        assert_eq!(k.run("BLMPOP -1 1 l LEFT"), neg);
        assert_eq!(k.run("LLEN l"), Frame::Integer(1), "errors pop nothing");
    }

    #[test]
    fn mpop_argument_errors() {
        let mut k = kit_with("a b");
        let numkeys = err("ERR numkeys should be greater than 0");
        assert_eq!(k.run("LMPOP 0 l LEFT"), numkeys);
        assert_eq!(k.run("LMPOP -1 l LEFT"), numkeys);
        assert_eq!(k.run("LMPOP abc l LEFT"), numkeys);
        assert_eq!(k.run("BLMPOP 0 0 l LEFT"), numkeys);
        assert_eq!(k.run("LMPOP 2 l LEFT"), err("ERR syntax error"));
        assert_eq!(
            k.run("LMPOP 9223372036854775807 l LEFT"),
            err("ERR syntax error")
        );
        assert_eq!(k.run("LMPOP 1 l MIDDLE"), err("ERR syntax error"));
        let count = err("ERR count should be greater than 0");
        assert_eq!(k.run("LMPOP 1 l LEFT COUNT 0"), count);
        assert_eq!(k.run("LMPOP 1 l LEFT COUNT -1"), count);
        assert_eq!(k.run("LMPOP 1 l LEFT COUNT abc"), count);
        assert_eq!(
            k.run("LMPOP 1 l LEFT COUNT 1 COUNT 1"),
            err("ERR syntax error")
        );
        assert_eq!(k.run("LMPOP 1 l LEFT FOO"), err("ERR syntax error"));
        assert_eq!(k.run("LMPOP 1 l LEFT COUNT"), err("ERR syntax error"));
        assert_eq!(k.run("LLEN l"), Frame::Integer(2));
    }

    #[test]
    fn key_specs() {
        let spec = |name: &str| crate::cmd::lookup(name.as_bytes()).unwrap();
        assert_eq!(
            spec("blpop").keys.key_indices(&argv("BLPOP a b c 0")),
            vec![1, 2, 3]
        );
        assert_eq!(
            spec("lmpop").keys.key_indices(&argv("LMPOP 2 a b LEFT")),
            vec![2, 3]
        );
        assert_eq!(
            spec("blmpop")
                .keys
                .key_indices(&argv("BLMPOP 0 2 a b LEFT")),
            vec![3, 4]
        );
        assert_eq!(
            spec("blmove")
                .keys
                .key_indices(&argv("BLMOVE a b LEFT LEFT 0")),
            vec![1, 2]
        );
        assert!(spec("blpop").flags & BLOCKING != 0);
        assert!(spec("lmpop").flags & BLOCKING == 0);
    }
}
