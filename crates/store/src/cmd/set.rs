//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE,
//! the algebra (SINTER SUNION SDIFF, their STORE forms, SINTERCARD) and SSCAN.
//!
//! Replies, error texts, reply order for `intset` results (ascending) and the encoding of
//! stored results follow Redis 7.0. Propagation:
//!
//! - `SPOP k` -> `SREM k m`; `SPOP k n` with n < size -> one `SREM k m` per member (the node
//!   wraps them in MULTI/EXEC); `SPOP k n` with n >= size -> `DEL k`.
//! - Other writes as sent when they changed something, nothing otherwise.
//!
//! The `*STORE` results are built the way Redis builds them (an empty `intset` that members are
//! added to, and for SDIFF's second algorithm removed from), so `OBJECT ENCODING` matches even
//! in the corner where that leaves a small integer set as a `hashtable`.

use super::{copy, positive_count, write_if};
use bytes::Bytes;
use ferrokv_proto::resp::Frame;

use super::spec;
use super::{numkeys_at, parse_i64, Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec};
use super::{DENYOOM, FAST, READONLY, WRITE};
use crate::glob::glob_match;
use crate::notify;
use crate::value::{SetValue, Value};

pub static COMMANDS: &[Spec<Handler>] = &[
    spec("sadd", -3, WRITE | DENYOOM | FAST, KeySpec::FIRST, sadd),
    spec("srem", -3, WRITE | FAST, KeySpec::FIRST, srem),
    spec("smembers", 2, READONLY, KeySpec::FIRST, smembers),
    spec("sismember", 3, READONLY | FAST, KeySpec::FIRST, sismember),
    spec(
        "smismember",
        -3,
        READONLY | FAST,
        KeySpec::FIRST,
        smismember,
    ),
    spec("scard", 2, READONLY | FAST, KeySpec::FIRST, scard),
    spec("spop", -2, WRITE | FAST, KeySpec::FIRST, spop),
    spec("srandmember", -2, READONLY, KeySpec::FIRST, srandmember),
    spec("smove", 4, WRITE | FAST, KeySpec::FIRST_TWO, smove),
    spec("sinter", -2, READONLY, KeySpec::ALL, sinter),
    spec("sunion", -2, READONLY, KeySpec::ALL, sunion),
    spec("sdiff", -2, READONLY, KeySpec::ALL, sdiff),
    spec(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        KeySpec::ALL,
        sinterstore,
    ),
    spec(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        KeySpec::ALL,
        sunionstore,
    ),
    spec("sdiffstore", -3, WRITE | DENYOOM, KeySpec::ALL, sdiffstore),
    spec(
        "sintercard",
        -3,
        READONLY,
        KeySpec::Movable(sintercard_keys),
        sintercard,
    ),
    spec("sscan", -3, READONLY, KeySpec::FIRST, sscan),
];

fn sintercard_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_at(argv, 1)
}

fn set_ref<'a>(ctx: &'a Ctx, key: &[u8]) -> Option<&'a SetValue> {
    match ctx.ks.dbs[ctx.db].map.get(key).map(|e| &e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

/// Looks every key up as a set (expiry rules applied, `WRONGTYPE` for another type) and
/// returns, per key, whether it exists. Read the values afterwards with [`set_ref`].
fn lookup_sets(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<bool>, CmdError> {
    keys.iter().map(|k| ctx.check_type(k, "set")).collect()
}

// ---- single-key commands ------------------------------------------------------------------

fn sadd(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let members = args.take_rest();
    let cfg = ctx.ks.cfg.clone();
    let added = match ctx.get_set(key)? {
        Some(set) => members.iter().filter(|m| set.add(m, &cfg)).count(),
        None => {
            let mut set = SetValue::default();
            let n = members.iter().filter(|m| set.add(m, &cfg)).count();
            ctx.set(key, Value::Set(set));
            n
        }
    };
    if added > 0 {
        ctx.notify(notify::SET, "sadd", key);
    }
    Ok(write_if(added > 0, Frame::Integer(added as i64)))
}

fn srem(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let members = args.take_rest();
    let Some(set) = ctx.get_set(key)? else {
        return Ok(Executed::read(Frame::Integer(0)));
    };
    let mut removed = 0;
    for m in members {
        if set.remove(m) {
            removed += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    if removed > 0 {
        ctx.notify(notify::SET, "srem", key);
        ctx.delete_if_empty(key);
    }
    Ok(write_if(removed > 0, Frame::Integer(removed)))
}

fn smembers(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let members = match ctx.get_set(key)? {
        Some(set) => set.iter_bytes().map(Frame::Bulk).collect(),
        None => Vec::new(),
    };
    Ok(Executed::read(Frame::Set(members)))
}

fn sismember(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let member = args.next_bytes()?;
    let found = ctx.get_set(key)?.is_some_and(|s| s.contains(member));
    Ok(Executed::read(Frame::Integer(found as i64)))
}

fn smismember(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let members = args.take_rest();
    let set = ctx.get_set(key)?;
    let reply = members
        .iter()
        .map(|m| Frame::Integer(set.as_ref().is_some_and(|s| s.contains(m)) as i64))
        .collect();
    Ok(Executed::read(Frame::Array(reply)))
}

fn scard(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let n = ctx.get_set(key)?.map_or(0, |s| s.len());
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn spop(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    match args.remaining() {
        0 => spop_one(ctx, key),
        1 => {
            let count = positive_count(
                args.next_bytes()?,
                "value is out of range, must be positive",
            )?;
            spop_count(ctx, key, count)
        }
        _ => Err(CmdError::Syntax),
    }
}

fn spop_one(ctx: &mut Ctx, key: &Bytes) -> Result<Executed, CmdError> {
    let Ctx { ks, db, rng, .. } = ctx;
    let set = match ks.get(*db, key) {
        None => return Ok(Executed::read(Frame::Null)),
        Some(Value::Set(s)) => s,
        Some(_) => return Err(CmdError::WrongType),
    };
    let Some(member) = set.pop_random(&mut **rng) else {
        return Ok(Executed::read(Frame::Null));
    };
    ctx.notify(notify::SET, "spop", key);
    ctx.delete_if_empty(key);
    Ok(Executed::rewritten(
        Frame::Bulk(member.clone()),
        vec![Bytes::from_static(b"SREM"), copy(key), member],
    ))
}

fn spop_count(ctx: &mut Ctx, key: &Bytes, count: u64) -> Result<Executed, CmdError> {
    let Ctx { ks, db, rng, .. } = ctx;
    let set = match ks.get(*db, key) {
        None => return Ok(Executed::read(Frame::Set(Vec::new()))),
        Some(Value::Set(s)) => s,
        Some(_) => return Err(CmdError::WrongType),
    };
    if count == 0 {
        return Ok(Executed::read(Frame::Set(Vec::new())));
    }
    if count >= set.len() as u64 {
        let all: Vec<Frame> = set.iter_bytes().map(Frame::Bulk).collect();
        // Redis answers this case with SUNION's code, which reads the set once more: a hit.
        ks.stats.keyspace_hits += 1;
        ctx.notify(notify::SET, "spop", key);
        ctx.delete_raising(key);
        return Ok(Executed::rewritten(
            Frame::Set(all),
            vec![Bytes::from_static(b"DEL"), copy(key)],
        ));
    }
    let mut popped = Vec::with_capacity(count as usize);
    let mut cmds = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let Some(m) = set.pop_random(&mut **rng) else {
            break;
        };
        cmds.push(vec![Bytes::from_static(b"SREM"), copy(key), m.clone()]);
        popped.push(Frame::Bulk(m));
    }
    ctx.notify(notify::SET, "spop", key);
    Ok(Executed::rewritten_many(Frame::Set(popped), cmds))
}

/// Reply-size preallocation cap for counts that come from the client.
const PREALLOC_MAX: usize = 1024;

fn srandmember(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    if args.remaining() > 1 {
        return Err(CmdError::Syntax);
    }
    let count = match args.peek() {
        None => None,
        Some(b) => {
            let n = parse_i64(b).ok_or(CmdError::NotInteger)?;
            if n == i64::MIN {
                return Err(CmdError::msg(
                    "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            Some(n)
        }
    };
    let Ctx { ks, db, rng, .. } = ctx;
    let set = match ks.get(*db, key) {
        None => {
            let reply = if count.is_some() {
                Frame::Array(Vec::new())
            } else {
                Frame::Null
            };
            return Ok(Executed::read(reply));
        }
        Some(Value::Set(s)) => s,
        Some(_) => return Err(CmdError::WrongType),
    };
    let Some(count) = count else {
        return Ok(Executed::read(
            set.random_member(&mut **rng)
                .map_or(Frame::Null, Frame::Bulk),
        ));
    };
    let size = set.len();
    let reply = if count < 0 {
        let n = count.unsigned_abs();
        let mut out = Vec::with_capacity((n as usize).min(PREALLOC_MAX));
        for _ in 0..n {
            if let Some(m) = set.random_member(&mut **rng) {
                out.push(Frame::Bulk(m));
            }
        }
        out
    } else if count as u64 >= size as u64 {
        set.iter_bytes().map(Frame::Bulk).collect()
    } else {
        let picks = rand::seq::index::sample(&mut **rng, size, count as usize);
        picks
            .into_iter()
            .filter_map(|i| set.member_at(i))
            .map(Frame::Bulk)
            .collect()
    };
    Ok(Executed::read(Frame::Array(reply)))
}

fn smove(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let member = args.next_bytes()?;
    if !ctx.check_type(src, "set")? {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    ctx.check_type(dst, "set")?;
    if src == dst {
        let found = ctx.get_set(src)?.is_some_and(|s| s.contains(member));
        return Ok(Executed::read(Frame::Integer(found as i64)));
    }
    let removed = ctx.get_set(src)?.is_some_and(|s| s.remove(member));
    if !removed {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    ctx.notify(notify::SET, "srem", src);
    ctx.delete_if_empty(src);
    let cfg = ctx.ks.cfg.clone();
    let added = match ctx.get_set(dst)? {
        Some(set) => set.add(member, &cfg),
        None => {
            let mut set = SetValue::default();
            set.add(member, &cfg);
            ctx.set(dst, Value::Set(set));
            true
        }
    };
    if added {
        ctx.notify(notify::SET, "sadd", dst);
    }
    Ok(Executed::write(Frame::Integer(1)))
}

// ---- the algebra -----------------------------------------------------------------------------

/// Intersection of `keys`: the members of the smallest set (in its order) that every other
/// set holds, stopping after `limit` members when it is not 0.
fn intersect(ctx: &mut Ctx, keys: &[Bytes], limit: usize) -> Result<Option<Vec<Bytes>>, CmdError> {
    let exists = lookup_sets(ctx, keys)?;
    if exists.iter().any(|e| !e) {
        return Ok(None);
    }
    let mut sets: Vec<&SetValue> = keys.iter().filter_map(|k| set_ref(ctx, k)).collect();
    // Stable, like glibc's qsort (a merge sort) on Redis's side.
    sets.sort_by_key(|s| s.len());
    let Some((first, rest)) = sets.split_first() else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for m in first.iter_bytes() {
        if rest.iter().all(|s| s.contains(&m)) {
            out.push(m);
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    Ok(Some(out))
}

fn sinter(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let keys = args.take_rest();
    let members = intersect(ctx, keys, 0)?.unwrap_or_default();
    Ok(Executed::read(Frame::Set(
        members.into_iter().map(Frame::Bulk).collect(),
    )))
}

fn sinterstore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let dst = args.next_bytes()?;
    let keys = args.take_rest();
    // The sources are read as SINTER reads them; the destination is written.
    match ctx.reading(|ctx| intersect(ctx, keys, 0))? {
        None => {
            // A missing input: the result is empty and the destination goes away.
            let deleted = ctx.delete_raising(dst);
            Ok(write_if(deleted, Frame::Integer(0)))
        }
        Some(members) => {
            let cfg = ctx.ks.cfg.clone();
            let mut set = SetValue::default();
            for m in &members {
                set.add(m, &cfg);
            }
            Ok(Executed::write(store_result(ctx, dst, set, "sinterstore")))
        }
    }
}

/// Stores `set` at `dst` (or deletes `dst` when it is empty), raising `event` (or `del`),
/// and returns the reply.
fn store_result(ctx: &mut Ctx, dst: &[u8], set: SetValue, event: &'static str) -> Frame {
    let n = set.len();
    if n > 0 {
        ctx.set(dst, Value::Set(set));
        ctx.notify(notify::SET, event, dst);
    } else {
        ctx.delete_raising(dst);
    }
    Frame::Integer(n as i64)
}

fn sintercard(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let numkeys = match parse_i64(args.next_bytes()?) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(CmdError::msg("numkeys should be greater than 0")),
    };
    if numkeys > args.remaining() {
        return Err(CmdError::msg(
            "Number of keys can't be greater than number of args",
        ));
    }
    let keys = &args.rest()[..numkeys];
    let mut opts = Args::new(&args.argv()[1 + numkeys..]);
    let mut limit = 0u64;
    while opts.has_more() {
        if opts.remaining() >= 2 && opts.eat("LIMIT") {
            limit = positive_count(opts.next_bytes()?, "LIMIT can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let n = intersect(ctx, keys, limit)?.map_or(0, |m| m.len());
    Ok(Executed::read(Frame::Integer(n as i64)))
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Diff,
}

/// SUNION / SDIFF into a fresh set, built the way Redis builds it (see the module doc).
fn union_diff(ctx: &mut Ctx, keys: &[Bytes], op: Op) -> Result<SetValue, CmdError> {
    let exists = lookup_sets(ctx, keys)?;
    let cfg = ctx.ks.cfg.clone();
    let sets: Vec<Option<&SetValue>> = keys
        .iter()
        .zip(&exists)
        .map(|(k, e)| if *e { set_ref(ctx, k) } else { None })
        .collect();
    let mut out = SetValue::default();
    match op {
        Op::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter_bytes() {
                    out.add(&m, &cfg);
                }
            }
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Ok(out);
            };
            // Redis picks between "probe every other set per member of the first" (work
            // ~ |first| * sets / 2) and "copy the first, then remove the others" (work ~ total
            // size). The second can leave a small integer result as a hashtable.
            let present = sets.iter().flatten();
            let one: usize = present.clone().map(|_| first.len()).sum::<usize>() / 2;
            let two: usize = present.map(|s| s.len()).sum();
            if one <= two {
                for m in first.iter_bytes() {
                    let mut keep = true;
                    for s in sets[1..].iter().flatten() {
                        if std::ptr::eq(*s, *first) || s.contains(&m) {
                            keep = false;
                            break;
                        }
                    }
                    if keep {
                        out.add(&m, &cfg);
                    }
                }
            } else {
                for (j, s) in sets.iter().enumerate() {
                    let Some(s) = s else { continue };
                    for m in s.iter_bytes() {
                        if j == 0 {
                            out.add(&m, &cfg);
                        } else {
                            out.remove(&m);
                        }
                    }
                    if out.is_empty() {
                        break;
                    }
                }
            }
        }
    }
    Ok(out)
}

fn sunion(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let set = union_diff(ctx, args.take_rest(), Op::Union)?;
    Ok(Executed::read(Frame::Set(
        set.iter_bytes().map(Frame::Bulk).collect(),
    )))
}

fn sdiff(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let set = union_diff(ctx, args.take_rest(), Op::Diff)?;
    Ok(Executed::read(Frame::Set(
        set.iter_bytes().map(Frame::Bulk).collect(),
    )))
}

fn sunionstore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let dst = args.next_bytes()?;
    let set = ctx.reading(|ctx| union_diff(ctx, args.take_rest(), Op::Union))?;
    Ok(Executed::write(store_result(ctx, dst, set, "sunionstore")))
}

fn sdiffstore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let dst = args.next_bytes()?;
    let set = ctx.reading(|ctx| union_diff(ctx, args.take_rest(), Op::Diff))?;
    Ok(Executed::write(store_result(ctx, dst, set, "sdiffstore")))
}

// ---- SSCAN --------------------------------------------------------------------------------

/// Parses a SCAN cursor like Redis's `parseScanCursorOrReply` (`strtoul`): no leading space,
/// optional sign (a `-` wraps around), decimal digits, nothing else; "" is cursor 0.
pub(super) fn parse_scan_cursor(b: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::msg("invalid cursor");
    if b.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// MATCH / COUNT options of the *SCAN commands: `(pattern, count)`.
pub(super) fn parse_scan_options(rest: &[Bytes]) -> Result<(Option<Bytes>, usize), CmdError> {
    let mut pattern = None;
    let mut count = 10usize;
    let mut i = 0;
    while i < rest.len() {
        let more = rest.len() - i >= 2;
        if more && rest[i].eq_ignore_ascii_case(b"COUNT") {
            let n = parse_i64(&rest[i + 1]).ok_or(CmdError::NotInteger)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if more && rest[i].eq_ignore_ascii_case(b"MATCH") {
            let p = &rest[i + 1];
            pattern = (p[..] != *b"*").then(|| p.clone());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok((pattern, count))
}

/// The `[cursor, [items...]]` reply of the *SCAN commands.
pub(super) fn scan_reply(cursor: u64, items: Vec<Frame>) -> Frame {
    Frame::Array(vec![
        Frame::Bulk(Bytes::from(cursor.to_string())),
        Frame::Array(items),
    ])
}

fn sscan(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let cursor = parse_scan_cursor(args.next_bytes()?)?;
    let Some(set) = ctx.get_set(key)? else {
        return Ok(Executed::read(scan_reply(0, Vec::new())));
    };
    let (pattern, count) = parse_scan_options(args.take_rest())?;
    let (next, members) = set.scan_step(cursor, count);
    let items = members
        .into_iter()
        .filter(|m| pattern.as_ref().is_none_or(|p| glob_match(p, m)))
        .map(Frame::Bulk)
        .collect();
    Ok(Executed::read(scan_reply(next, items)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testkit::Kit;
    use crate::cmd::Propagate;
    use crate::config::StoreConfig;

    fn b(s: &str) -> Frame {
        Frame::Bulk(Bytes::from(s.to_string()))
    }

    fn int(n: i64) -> Frame {
        Frame::Integer(n)
    }

    fn err(s: &str) -> Frame {
        Frame::Error(Bytes::from(s.to_string()))
    }

    fn set_of(items: &[&str]) -> Frame {
        Frame::Set(items.iter().map(|s| b(s)).collect())
    }

    fn arr(items: &[&str]) -> Frame {
        Frame::Array(items.iter().map(|s| b(s)).collect())
    }

    fn sorted(f: Frame) -> Vec<Bytes> {
        let items = match f {
            Frame::Set(v) | Frame::Array(v) => v,
            other => panic!("not a collection: {other:?}"),
        };
        let mut out: Vec<Bytes> = items
            .into_iter()
            .map(|f| match f {
                Frame::Bulk(b) => b,
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        out.sort();
        out
    }

    fn encoding(k: &mut Kit, key: &str) -> &'static str {
        let cfg = k.ks.cfg.clone();
        k.ks.get(0, key.as_bytes())
            .map_or("none", |v| v.encoding_name(&cfg))
    }

    fn cmds(p: &Propagate) -> Vec<String> {
        match p {
            Propagate::Rewritten(c) => c
                .iter()
                .map(|argv| {
                    argv.iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect(),
            other => panic!("not rewritten: {other:?}"),
        }
    }

    #[test]
    fn sadd_srem_scard_and_encodings() {
        let mut k = Kit::new();
        assert_eq!(k.run("SADD s 3 1 2 1"), int(3));
        assert_eq!(encoding(&mut k, "s"), "intset");
        assert_eq!(k.run("SMEMBERS s"), set_of(&["1", "2", "3"]));
        assert_eq!(k.exec("SADD s 1").unwrap().propagate, Propagate::Nothing);
        assert_eq!(k.exec("SADD s 4").unwrap().propagate, Propagate::AsIs);
        assert_eq!(k.run("SADD s a"), int(1));
        assert_eq!(encoding(&mut k, "s"), "hashtable");
        assert_eq!(k.run("SCARD s"), int(5));
        assert_eq!(k.run("SREM s a 1 nope"), int(2));
        assert_eq!(k.exec("SREM s nope").unwrap().propagate, Propagate::Nothing);
        assert_eq!(encoding(&mut k, "s"), "hashtable");
        assert_eq!(k.run("SREM s 2 3 4"), int(3));
        assert_eq!(k.run("EXISTS s"), int(0));
        assert_eq!(k.run("SREM missing a"), int(0));
        assert_eq!(k.run("SCARD missing"), int(0));
        k.run("SET str x");
        for cmd in [
            "SADD str a",
            "SREM str a",
            "SCARD str",
            "SMEMBERS str",
            "SISMEMBER str a",
        ] {
            assert_eq!(
                k.run(cmd),
                err("WRONGTYPE Operation against a key holding the wrong kind of value"),
                "{cmd}"
            );
        }
        assert_eq!(
            k.run("SADD s"),
            err("ERR wrong number of arguments for 'sadd' command")
        );
    }

    #[test]
    fn intset_limit_from_config() {
        let mut k = Kit::new();
        k.ks.cfg = StoreConfig {
            set_max_intset_entries: 2,
            ..StoreConfig::default()
        };
        k.run("SADD s 1 2");
        assert_eq!(encoding(&mut k, "s"), "intset");
        k.run("SADD s 3");
        assert_eq!(encoding(&mut k, "s"), "hashtable");
    }

    #[test]
    fn membership() {
        let mut k = Kit::new();
        k.run("SADD s a 1");
        assert_eq!(k.run("SISMEMBER s a"), int(1));
        assert_eq!(k.run("SISMEMBER s b"), int(0));
        assert_eq!(k.run("SISMEMBER missing b"), int(0));
        assert_eq!(
            k.run("SMISMEMBER s a b 1"),
            Frame::Array(vec![int(1), int(0), int(1)])
        );
        assert_eq!(k.run("SMISMEMBER missing a"), Frame::Array(vec![int(0)]));
        assert_eq!(k.run("SMEMBERS missing"), Frame::Set(vec![]));
    }

    #[test]
    fn spop_forms_and_propagation() {
        let mut k = Kit::new();
        assert_eq!(k.run("SPOP missing"), Frame::Null);
        assert_eq!(k.run("SPOP missing 3"), Frame::Set(vec![]));
        assert_eq!(
            k.run("SPOP missing -1"),
            err("ERR value is out of range, must be positive")
        );
        assert_eq!(
            k.run("SPOP missing x"),
            err("ERR value is out of range, must be positive")
        );
        assert_eq!(k.run("SPOP missing 1 2"), err("ERR syntax error"));
        k.run("SADD s a b c d e");
        let e = k.exec("SPOP s").unwrap();
        let Frame::Bulk(m) = &e.reply else { panic!() };
        assert_eq!(
            cmds(&e.propagate),
            vec![format!("SREM s {}", String::from_utf8_lossy(m))]
        );
        assert_eq!(k.run("SCARD s"), int(4));
        let e = k.exec("SPOP s 0").unwrap();
        assert_eq!(
            (e.reply, e.propagate),
            (Frame::Set(vec![]), Propagate::Nothing)
        );
        let e = k.exec("SPOP s 2").unwrap();
        let popped = sorted(e.reply);
        let mut want: Vec<String> = popped
            .iter()
            .map(|m| format!("SREM s {}", String::from_utf8_lossy(m)))
            .collect();
        let mut got = cmds(&e.propagate);
        want.sort();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(k.run("SCARD s"), int(2));
        let e = k.exec("SPOP s 5").unwrap();
        assert_eq!(sorted(e.reply).len(), 2);
        assert_eq!(cmds(&e.propagate), vec!["DEL s"]);
        assert_eq!(k.run("EXISTS s"), int(0));
        // Intset results of the "whole set" case are sorted, like Redis.
        k.run("SADD i 3 1 2");
        assert_eq!(k.run("SPOP i 3"), set_of(&["1", "2", "3"]));
        k.run("SADD one x");
        let e = k.exec("SPOP one").unwrap();
        assert_eq!(cmds(&e.propagate), vec!["SREM one x"]);
        assert_eq!(k.run("EXISTS one"), int(0));
    }

    #[test]
    fn srandmember_counts() {
        let mut k = Kit::new();
        assert_eq!(k.run("SRANDMEMBER missing"), Frame::Null);
        assert_eq!(k.run("SRANDMEMBER missing 3"), Frame::Array(vec![]));
        k.run("SADD s 5 3 1");
        assert_eq!(k.run("SRANDMEMBER s 0"), Frame::Array(vec![]));
        assert_eq!(k.run("SRANDMEMBER s 3"), arr(&["1", "3", "5"]));
        assert_eq!(k.run("SRANDMEMBER s 10"), arr(&["1", "3", "5"]));
        let two = sorted(k.run("SRANDMEMBER s 2"));
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let Frame::Array(many) = k.run("SRANDMEMBER s -10") else {
            panic!()
        };
        assert_eq!(many.len(), 10);
        assert!(matches!(k.run("SRANDMEMBER s"), Frame::Bulk(_)));
        assert_eq!(
            k.run("SRANDMEMBER s x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            k.run("SRANDMEMBER s -9223372036854775808"),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        assert_eq!(k.run("SRANDMEMBER s 1 2"), err("ERR syntax error"));
        assert_eq!(
            k.exec("SRANDMEMBER s 1").unwrap().propagate,
            Propagate::Nothing
        );
    }

    #[test]
    fn smove_cases() {
        let mut k = Kit::new();
        k.run("SET str x");
        assert_eq!(k.run("SMOVE missing str a"), int(0));
        k.run("SADD s 1 2");
        assert_eq!(
            k.run("SMOVE s str 1"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(
            k.run("SMOVE str s 1"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(k.run("SMOVE s s 1"), int(1));
        assert_eq!(k.run("SMOVE s s 9"), int(0));
        assert_eq!(k.exec("SMOVE s d 9").unwrap().propagate, Propagate::Nothing);
        let e = k.exec("SMOVE s d 1").unwrap();
        assert_eq!((e.reply, e.propagate), (int(1), Propagate::AsIs));
        assert_eq!(encoding(&mut k, "d"), "intset");
        k.run("SADD h a");
        assert_eq!(k.run("SMOVE s h 2"), int(1));
        assert_eq!(k.run("EXISTS s"), int(0));
        assert_eq!(sorted(k.run("SMEMBERS h")), vec!["2", "a"]);
    }

    #[test]
    fn algebra_replies() {
        let mut k = Kit::new();
        k.run("SADD a 1 2 3 4");
        k.run("SADD b 3 4 5");
        k.run("SADD c x 3");
        assert_eq!(k.run("SINTER a b"), set_of(&["3", "4"]));
        assert_eq!(k.run("SINTER a b c"), set_of(&["3"]));
        assert_eq!(k.run("SINTER a missing"), Frame::Set(vec![]));
        assert_eq!(k.run("SUNION a b"), set_of(&["1", "2", "3", "4", "5"]));
        assert_eq!(k.run("SUNION missing"), Frame::Set(vec![]));
        assert_eq!(k.run("SDIFF a b"), set_of(&["1", "2"]));
        assert_eq!(k.run("SDIFF a a"), Frame::Set(vec![]));
        assert_eq!(k.run("SDIFF missing a"), Frame::Set(vec![]));
        assert_eq!(k.run("SDIFF a missing"), set_of(&["1", "2", "3", "4"]));
        k.run("SET str x");
        assert_eq!(
            k.run("SINTER missing str"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(
            k.run("SUNION a str"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(k.run("SINTERCARD 2 a b"), int(2));
        assert_eq!(k.run("SINTERCARD 2 a b LIMIT 1"), int(1));
        assert_eq!(k.run("SINTERCARD 2 a b LIMIT 0"), int(2));
        assert_eq!(k.run("SINTERCARD 1 missing"), int(0));
        assert_eq!(
            k.run("SINTERCARD 0 a"),
            err("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            k.run("SINTERCARD x a"),
            err("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            k.run("SINTERCARD 3 a b"),
            err("ERR Number of keys can't be greater than number of args")
        );
        assert_eq!(
            k.run("SINTERCARD 1 a LIMIT -1"),
            err("ERR LIMIT can't be negative")
        );
        assert_eq!(
            k.run("SINTERCARD 1 a LIMIT x"),
            err("ERR LIMIT can't be negative")
        );
        assert_eq!(k.run("SINTERCARD 1 a LIMIT"), err("ERR syntax error"));
        assert_eq!(k.run("SINTERCARD 1 a foo"), err("ERR syntax error"));
        assert_eq!(
            k.run("SINTERCARD 2 a str"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
    }

    #[test]
    fn store_forms_encodings_and_propagation() {
        let mut k = Kit::new();
        k.run("SADD a 1 2 3");
        k.run("SADD b 2 3 x");
        let e = k.exec("SINTERSTORE d a b").unwrap();
        assert_eq!((e.reply, e.propagate), (int(2), Propagate::AsIs));
        assert_eq!(encoding(&mut k, "d"), "intset");
        assert_eq!(k.run("SUNIONSTORE d a b"), int(4));
        assert_eq!(encoding(&mut k, "d"), "hashtable");
        assert_eq!(k.run("SDIFFSTORE d b a"), int(1));
        assert_eq!(encoding(&mut k, "d"), "hashtable");
        assert_eq!(k.run("SDIFFSTORE d a b"), int(1));
        assert_eq!(encoding(&mut k, "d"), "intset");
        // Empty results delete the destination.
        assert_eq!(k.run("SDIFFSTORE d a a"), int(0));
        assert_eq!(k.run("EXISTS d"), int(0));
        k.run("SADD d 1");
        let e = k.exec("SINTERSTORE d a missing").unwrap();
        assert_eq!((e.reply, e.propagate), (int(0), Propagate::AsIs));
        assert_eq!(k.run("EXISTS d"), int(0));
        assert_eq!(
            k.exec("SINTERSTORE d a missing").unwrap().propagate,
            Propagate::Nothing
        );
        // The destination may be a source, and any type is overwritten.
        k.run("SET str x");
        assert_eq!(k.run("SUNIONSTORE str a"), int(3));
        assert_eq!(k.run("SUNIONSTORE a a b"), int(4));
    }

    #[test]
    fn sdiff_second_algorithm_leaves_a_hashtable_like_redis() {
        let mut k = Kit::new();
        let members: Vec<String> = (0..600).map(|i| i.to_string()).collect();
        k.run(&format!("SADD s0 {}", members.join(" ")));
        k.run(&format!("SADD s1 {}", members[..100].join(" ")));
        k.run("SADD s2 1000");
        k.run("SADD s3 1001");
        k.run("SADD s4 1002");
        assert_eq!(k.run("SDIFFSTORE d s0 s1 s2 s3 s4"), int(500));
        assert_eq!(encoding(&mut k, "d"), "hashtable");
        assert_eq!(k.run("SDIFFSTORE d s0 s1"), int(500));
        assert_eq!(encoding(&mut k, "d"), "intset");
    }

    #[test]
    fn sscan_cases() {
        let mut k = Kit::new();
        assert_eq!(
            k.run("SSCAN missing 0"),
            Frame::Array(vec![b("0"), Frame::Array(vec![])])
        );
        assert_eq!(
            k.run("SSCAN missing 0 COUNT 0"),
            Frame::Array(vec![b("0"), Frame::Array(vec![])])
        );
        k.run("SADD s 1 2 3 10");
        assert_eq!(
            k.run("SSCAN s 0 COUNT 1"),
            Frame::Array(vec![b("0"), arr(&["1", "2", "3", "10"])])
        );
        assert_eq!(
            k.run("SSCAN s 0 MATCH 1*"),
            Frame::Array(vec![b("0"), arr(&["1", "10"])])
        );
        assert_eq!(
            k.run("SSCAN s -1"),
            Frame::Array(vec![b("0"), arr(&["1", "2", "3", "10"])])
        );
        assert_eq!(k.run("SSCAN s abc"), err("ERR invalid cursor"));
        assert_eq!(
            k.run("SSCAN s 18446744073709551616"),
            err("ERR invalid cursor")
        );
        assert_eq!(k.run("SSCAN s 0 COUNT 0"), err("ERR syntax error"));
        assert_eq!(
            k.run("SSCAN s 0 COUNT x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(k.run("SSCAN s 0 MATCH"), err("ERR syntax error"));
        // A hashtable is walked with a cursor until it comes back to 0.
        let members: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        k.run(&format!("SADD h {}", members.join(" ")));
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        for _ in 0..100 {
            let Frame::Array(parts) = k.run(&format!("SSCAN h {cursor} COUNT 7")) else {
                panic!()
            };
            let Frame::Bulk(c) = &parts[0] else { panic!() };
            seen.extend(sorted(parts[1].clone()));
            cursor = String::from_utf8(c.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 50);
    }

    #[test]
    fn scan_cursor_parsing() {
        assert_eq!(parse_scan_cursor(b""), Ok(0));
        assert_eq!(parse_scan_cursor(b"+5"), Ok(5));
        assert_eq!(parse_scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert!(parse_scan_cursor(b" 1").is_err());
        assert!(parse_scan_cursor(b"1 ").is_err());
        assert!(parse_scan_cursor(b"-").is_err());
    }
}
