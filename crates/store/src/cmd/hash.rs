//! Hash commands: HSET HSETNX HGET HMSET HMGET HDEL HLEN HEXISTS HGETALL HKEYS HVALS
//! HINCRBY HINCRBYFLOAT HSTRLEN HSCAN HRANDFIELD.
//!
//! Encodings (listpack -> hashtable) are decided by [`HashValue`]; this file only decides
//! replies and propagation. Propagation: every successful HSET/HMSET/HINCRBY as sent,
//! HSETNX and HDEL only when they changed something, HINCRBYFLOAT as `HSET key field
//! <result>` so replicas store the exact same string.
//!
//! `HINCRBYFLOAT` computes in emulated x87 `long double` (see [`long_double`]), because
//! Redis does and `f64` stores different strings for common inputs.

use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};
use rand::Rng;

use super::{
    parse_i64, Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec, DENYOOM, FAST, READONLY,
    WRITE,
};
use crate::glob::glob_match;
use crate::keyspace::Keyspace;
use crate::value::{HashValue, Value};
use long_double::LongDouble;

pub static COMMANDS: &[Spec<Handler>] = &[
    spec("hset", -4, WRITE | DENYOOM | FAST, hset),
    spec("hsetnx", 4, WRITE | DENYOOM | FAST, hsetnx),
    spec("hget", 3, READONLY | FAST, hget),
    spec("hmset", -4, WRITE | DENYOOM | FAST, hmset),
    spec("hmget", -3, READONLY | FAST, hmget),
    spec("hdel", -3, WRITE | FAST, hdel),
    spec("hlen", 2, READONLY | FAST, hlen),
    spec("hexists", 3, READONLY | FAST, hexists),
    spec("hgetall", 2, READONLY, hgetall),
    spec("hkeys", 2, READONLY, hkeys),
    spec("hvals", 2, READONLY, hvals),
    spec("hincrby", 4, WRITE | DENYOOM | FAST, hincrby),
    spec("hincrbyfloat", 4, WRITE | DENYOOM | FAST, hincrbyfloat),
    spec("hstrlen", 3, READONLY | FAST, hstrlen),
    spec("hscan", -3, READONLY, hscan),
    spec("hrandfield", -2, READONLY, hrandfield),
];

const fn spec(name: &'static str, arity: i32, flags: u32, run: Handler) -> Spec<Handler> {
    Spec {
        name,
        arity,
        flags,
        keys: KeySpec::FIRST,
        run,
    }
}

/// The hash at `key` borrowing only the keyspace (so `ctx.rng` stays usable).
fn lookup_hash<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
) -> Result<Option<&'k mut HashValue>, CmdError> {
    match ks.get(db, key) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The hash at `key`, created empty if missing (`WRONGTYPE` if another type).
fn hash_for_write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<&'c mut HashValue, CmdError> {
    if !ctx.check_type(key, "hash")? {
        ctx.set(key, Value::Hash(Box::default()));
    }
    ctx.get_hash(key)?.ok_or(CmdError::WrongType)
}

fn copy(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

fn hset(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    hset_generic(ctx, args, "hset")
}

fn hmset(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    hset_generic(ctx, args, "hmset")
}

fn hset_generic(ctx: &mut Ctx, args: &mut Args, name: &str) -> Result<Executed, CmdError> {
    let argv = args.argv();
    if argv.len() % 2 == 1 {
        return Err(CmdError::WrongArity(name.to_string()));
    }
    let key = &argv[1];
    let pairs = &argv[2..];
    let cfg = ctx.ks.cfg.clone();
    let h = hash_for_write(ctx, key)?;
    // Redis checks every argument's length before inserting anything.
    h.convert_for_lengths(pairs.iter().map(|a| a.len()), &cfg);
    let mut created = 0;
    for pair in pairs.chunks_exact(2) {
        if h.set(copy(&pair[0]), copy(&pair[1]), &cfg) {
            created += 1;
        }
    }
    let reply = if name == "hmset" {
        Frame::ok()
    } else {
        Frame::Integer(created)
    };
    Ok(Executed::write(reply))
}

fn hsetnx(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    let value = args.next_bytes()?;
    if let Some(h) = ctx.get_hash(key)? {
        if h.contains(field) {
            return Ok(Executed::read(Frame::Integer(0)));
        }
    }
    let cfg = ctx.ks.cfg.clone();
    hash_for_write(ctx, key)?.set(copy(field), copy(value), &cfg);
    Ok(Executed::write(Frame::Integer(1)))
}

fn hget(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    let reply = match ctx.get_hash(key)?.and_then(|h| h.get(field)) {
        Some(v) => Frame::Bulk(v.clone()),
        None => Frame::Null,
    };
    Ok(Executed::read(reply))
}

fn hmget(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let fields = args.take_rest();
    let h = ctx.get_hash(key)?;
    let reply = fields
        .iter()
        .map(|f| match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => Frame::Bulk(v.clone()),
            None => Frame::Null,
        })
        .collect();
    Ok(Executed::read(Frame::Array(reply)))
}

fn hdel(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let fields = args.take_rest();
    let Some(h) = ctx.get_hash(key)? else {
        return Ok(Executed::read(Frame::Integer(0)));
    };
    let mut deleted = 0;
    for f in fields {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    ctx.delete_if_empty(key);
    if deleted == 0 {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    Ok(Executed::write(Frame::Integer(deleted)))
}

fn hlen(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let n = ctx.get_hash(key)?.map_or(0, |h| h.len());
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn hexists(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    let found = ctx.get_hash(key)?.is_some_and(|h| h.contains(field));
    Ok(Executed::read(Frame::Integer(found as i64)))
}

fn hstrlen(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    let n = ctx
        .get_hash(key)?
        .and_then(|h| h.get(field))
        .map_or(0, |v| v.len());
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn hgetall(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let resp3 = ctx.protocol == Protocol::Resp3;
    let Some(h) = ctx.get_hash(key)? else {
        let empty = if resp3 {
            Frame::Map(Vec::new())
        } else {
            Frame::Array(Vec::new())
        };
        return Ok(Executed::read(empty));
    };
    let reply = if resp3 {
        Frame::Map(
            h.iter()
                .map(|(f, v)| (Frame::Bulk(f.clone()), Frame::Bulk(v.clone())))
                .collect(),
        )
    } else {
        let mut out = Vec::with_capacity(h.len() * 2);
        for (f, v) in h.iter() {
            out.push(Frame::Bulk(f.clone()));
            out.push(Frame::Bulk(v.clone()));
        }
        Frame::Array(out)
    };
    Ok(Executed::read(reply))
}

fn hkeys(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let out = ctx
        .get_hash(key)?
        .map(|h| h.iter().map(|(f, _)| Frame::Bulk(f.clone())).collect())
        .unwrap_or_default();
    Ok(Executed::read(Frame::Array(out)))
}

fn hvals(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let out = ctx
        .get_hash(key)?
        .map(|h| h.iter().map(|(_, v)| Frame::Bulk(v.clone())).collect())
        .unwrap_or_default();
    Ok(Executed::read(Frame::Array(out)))
}

fn hincrby(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    let incr = args.next_i64()?;
    let current = match ctx.get_hash(key)?.and_then(|h| h.get(field)) {
        None => 0,
        Some(v) => parse_i64(v).ok_or(CmdError::msg("hash value is not an integer"))?,
    };
    let new = current.checked_add(incr).ok_or(CmdError::Overflow)?;
    let cfg = ctx.ks.cfg.clone();
    let text = Bytes::from(new.to_string());
    hash_for_write(ctx, key)?.set(copy(field), text, &cfg);
    Ok(Executed::write(Frame::Integer(new)))
}

fn hincrbyfloat(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    let incr = LongDouble::parse(args.next_bytes()?).ok_or(CmdError::NotFloat)?;
    if !incr.is_finite() {
        return Err(CmdError::msg("value is NaN or Infinity"));
    }
    let current = match ctx.get_hash(key)?.and_then(|h| h.get(field)) {
        None => LongDouble::ZERO,
        Some(v) => LongDouble::parse(v).ok_or(CmdError::msg("hash value is not a float"))?,
    };
    let sum = current + incr;
    if !sum.is_finite() {
        return Err(CmdError::msg("increment would produce NaN or Infinity"));
    }
    let text = sum.format_human();
    let cfg = ctx.ks.cfg.clone();
    hash_for_write(ctx, key)?.set(copy(field), text.clone(), &cfg);
    Ok(Executed::rewritten(
        Frame::Bulk(text.clone()),
        vec![Bytes::from_static(b"HSET"), copy(key), copy(field), text],
    ))
}

/// Parses a SCAN cursor like Redis's `parseScanCursorOrReply` (`strtoul`): optional sign
/// (a `-` wraps around), decimal digits, nothing else; the empty string is cursor 0.
fn parse_scan_cursor(b: &[u8]) -> Result<u64, CmdError> {
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
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

fn hscan(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let cursor = parse_scan_cursor(args.next_bytes()?)?;
    let Some(h) = lookup_hash(ctx.ks, ctx.db, key)? else {
        return Ok(Executed::read(scan_reply(0, Vec::new())));
    };
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    while args.has_more() {
        let more = args.remaining() >= 2;
        if more && args.eat("count") {
            count = args.next_i64()?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if more && args.eat("match") {
            let p = args.next_bytes()?;
            pattern = (p[..] != *b"*").then_some(&p[..]);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (next, pairs) = h.scan(cursor, usize::try_from(count).unwrap_or(usize::MAX));
    let mut items = Vec::with_capacity(pairs.len() * 2);
    for (f, v) in pairs {
        if pattern.is_some_and(|p| !glob_match(p, f)) {
            continue;
        }
        items.push(Frame::Bulk(f.clone()));
        items.push(Frame::Bulk(v.clone()));
    }
    Ok(Executed::read(scan_reply(next, items)))
}

fn scan_reply(cursor: u64, items: Vec<Frame>) -> Frame {
    Frame::Array(vec![
        Frame::Bulk(Bytes::from(cursor.to_string())),
        Frame::Array(items),
    ])
}

fn hrandfield(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    if !args.has_more() {
        let reply = match lookup_hash(ctx.ks, ctx.db, key)? {
            Some(h) if !h.is_empty() => {
                let i = ctx.rng.gen_range(0..h.len());
                h.get_index(i)
                    .map_or(Frame::Null, |(f, _)| Frame::Bulk(f.clone()))
            }
            _ => Frame::Null,
        };
        return Ok(Executed::read(reply));
    }
    let count = args.next_i64()?;
    if count == i64::MIN {
        return Err(CmdError::msg(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match args.remaining() {
        0 => false,
        1 if args.eat("withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::msg("value is out of range"));
    }
    let resp3 = ctx.protocol == Protocol::Resp3;
    let Some(h) = lookup_hash(ctx.ks, ctx.db, key)? else {
        return Ok(Executed::read(Frame::Array(Vec::new())));
    };
    let len = h.len();
    if count == 0 || len == 0 {
        return Ok(Executed::read(Frame::Array(Vec::new())));
    }
    let indices: Vec<usize> = if count < 0 {
        // Repeats allowed: |count| independent picks.
        let n = count.unsigned_abs();
        let mut v = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            v.push(ctx.rng.gen_range(0..len));
        }
        v
    } else if count as u64 >= len as u64 {
        (0..len).collect()
    } else {
        let mut v = rand::seq::index::sample(&mut *ctx.rng, len, count as usize).into_vec();
        if matches!(*h, HashValue::Listpack(_)) && (count as u64).saturating_mul(3) <= len as u64 {
            // Redis picks few fields of a listpack in position order (when the count is
            // a third of the size or more it builds the reply through a dict instead).
            v.sort_unstable();
        }
        v
    };
    let mut out = Vec::with_capacity(indices.len() * if withvalues { 2 } else { 1 });
    for i in indices {
        let Some((f, v)) = h.get_index(i) else {
            continue;
        };
        match (withvalues, resp3) {
            (false, _) => out.push(Frame::Bulk(f.clone())),
            (true, false) => {
                out.push(Frame::Bulk(f.clone()));
                out.push(Frame::Bulk(v.clone()));
            }
            (true, true) => out.push(Frame::Array(vec![
                Frame::Bulk(f.clone()),
                Frame::Bulk(v.clone()),
            ])),
        }
    }
    Ok(Executed::read(Frame::Array(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testkit::Kit;
    use crate::cmd::Propagate;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn bulks(items: &[&str]) -> Frame {
        Frame::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn err(s: &str) -> Frame {
        Frame::error(s)
    }

    fn encoding(kit: &mut Kit, key: &str) -> &'static str {
        let cfg = kit.ks.cfg.clone();
        kit.ks.get(0, key.as_bytes()).unwrap().encoding_name(&cfg)
    }

    fn rewritten(line: &str) -> Vec<Vec<Bytes>> {
        vec![line
            .split_whitespace()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()]
    }

    #[test]
    fn hset_hget_and_insertion_order() {
        let mut k = Kit::new();
        assert_eq!(k.run("HSET h a 1 b 2 c 3 a 4"), Frame::Integer(3));
        assert_eq!(k.run("HGETALL h"), bulks(&["a", "4", "b", "2", "c", "3"]));
        assert_eq!(k.run("HKEYS h"), bulks(&["a", "b", "c"]));
        assert_eq!(k.run("HVALS h"), bulks(&["4", "2", "3"]));
        assert_eq!(k.run("HGET h b"), bulk("2"));
        assert_eq!(k.run("HGET h zz"), Frame::Null);
        assert_eq!(k.run("HGET nokey zz"), Frame::Null);
        assert_eq!(k.run("HLEN h"), Frame::Integer(3));
        assert_eq!(k.run("HLEN nokey"), Frame::Integer(0));
        assert_eq!(k.run("HMSET h x 1 y 2"), Frame::ok());
        assert_eq!(
            k.run("HMGET h a zz y"),
            Frame::Array(vec![bulk("4"), Frame::Null, bulk("2")])
        );
        assert_eq!(k.run("HMGET nokey a"), Frame::Array(vec![Frame::Null]));
        assert_eq!(k.run("HEXISTS h a"), Frame::Integer(1));
        assert_eq!(k.run("HEXISTS h zz"), Frame::Integer(0));
        assert_eq!(k.run("HSTRLEN h a"), Frame::Integer(1));
        assert_eq!(k.run("HSTRLEN h zz"), Frame::Integer(0));
        assert_eq!(k.run("HGETALL nokey"), Frame::Array(vec![]));
        assert_eq!(encoding(&mut k, "h"), "listpack");
    }

    #[test]
    fn arity_and_wrongtype_errors() {
        let mut k = Kit::new();
        assert_eq!(
            k.run("HSET h a 1 b"),
            err("ERR wrong number of arguments for 'hset' command")
        );
        assert_eq!(
            k.run("HMSET h a"),
            err("ERR wrong number of arguments for 'hmset' command")
        );
        assert!(k.ks.get(0, b"h").is_none());
        k.ks.set(0, b"s", Value::Str(Bytes::from_static(b"x")));
        let wt = err("WRONGTYPE Operation against a key holding the wrong kind of value");
        for cmd in [
            "HSET s a 1",
            "HSETNX s a 1",
            "HGET s a",
            "HMGET s a",
            "HDEL s a",
            "HLEN s",
            "HEXISTS s a",
            "HGETALL s",
            "HKEYS s",
            "HVALS s",
            "HINCRBY s a 1",
            "HINCRBYFLOAT s a 1",
            "HSTRLEN s a",
            "HSCAN s 0",
            "HRANDFIELD s",
            "HRANDFIELD s 1",
        ] {
            assert_eq!(k.run(cmd), wt, "{cmd}");
        }
        // Argument errors come before the type check.
        assert_eq!(
            k.run("HINCRBY s a x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            k.run("HINCRBYFLOAT s a x"),
            err("ERR value is not a valid float")
        );
        assert_eq!(k.run("HSCAN s x"), err("ERR invalid cursor"));
        assert_eq!(
            k.run("HRANDFIELD s x"),
            err("ERR value is not an integer or out of range")
        );
    }

    #[test]
    fn propagation_forms() {
        let mut k = Kit::new();
        assert_eq!(k.exec("HSET h a 1").unwrap().propagate, Propagate::AsIs);
        assert_eq!(k.exec("HSET h a 1").unwrap().propagate, Propagate::AsIs);
        assert_eq!(
            k.exec("HSETNX h a 2").unwrap().propagate,
            Propagate::Nothing
        );
        assert_eq!(k.exec("HSETNX h b 2").unwrap().propagate, Propagate::AsIs);
        assert_eq!(k.exec("HDEL h zz").unwrap().propagate, Propagate::Nothing);
        assert_eq!(
            k.exec("HDEL nokey zz").unwrap().propagate,
            Propagate::Nothing
        );
        assert_eq!(k.exec("HINCRBY h n 5").unwrap().propagate, Propagate::AsIs);
        let e = k.exec("HINCRBYFLOAT h f 1.5").unwrap();
        assert_eq!(e.reply, bulk("1.5"));
        assert_eq!(e.propagate, Propagate::Rewritten(rewritten("HSET h f 1.5")));
        let e = k.exec("HINCRBYFLOAT h f 0.1").unwrap();
        assert_eq!(e.propagate, Propagate::Rewritten(rewritten("HSET h f 1.6")));
        assert_eq!(k.exec("HGET h a").unwrap().propagate, Propagate::Nothing);
        assert_eq!(k.exec("HDEL h a b n f").unwrap().reply, Frame::Integer(4));
        assert!(k.ks.get(0, b"h").is_none(), "emptied hash is deleted");
    }

    #[test]
    fn encodings_follow_thresholds() {
        let mut k = Kit::new();
        let l64 = "x".repeat(64);
        let l65 = "x".repeat(65);
        k.run("HSET h a 1");
        k.run(&format!("HSET h a {l64}"));
        assert_eq!(encoding(&mut k, "h"), "listpack");
        k.run(&format!("HSET h a {l65}"));
        assert_eq!(encoding(&mut k, "h"), "hashtable");
        // HSETNX on an existing field does not convert.
        k.run("HSET h2 a 1");
        assert_eq!(k.run(&format!("HSETNX h2 a {l65}")), Frame::Integer(0));
        assert_eq!(encoding(&mut k, "h2"), "listpack");
        // A long field through HINCRBY / HINCRBYFLOAT converts.
        k.run("HSET h3 a 1");
        k.run(&format!("HINCRBY h3 {l65} 1"));
        assert_eq!(encoding(&mut k, "h3"), "hashtable");
        k.run("HSET h4 a 1");
        k.run(&format!("HINCRBYFLOAT h4 {l65} 1"));
        assert_eq!(encoding(&mut k, "h4"), "hashtable");
        // Lookups of long fields do not convert.
        k.run("HSET h5 a 1");
        k.run(&format!("HGET h5 {l65}"));
        k.run(&format!("HDEL h5 {l65}"));
        assert_eq!(encoding(&mut k, "h5"), "listpack");
        // Entries threshold (128 by default): the 129th field converts.
        for i in 0..128 {
            k.run(&format!("HSET big f{i} v"));
        }
        assert_eq!(encoding(&mut k, "big"), "listpack");
        k.run("HSET big f128 v");
        assert_eq!(encoding(&mut k, "big"), "hashtable");
        k.run("HDEL big f1 f2 f3");
        assert_eq!(encoding(&mut k, "big"), "hashtable", "never converts back");
    }

    #[test]
    fn hincrby_errors() {
        let mut k = Kit::new();
        k.run("HSET h i 10 f 1.5 s abc big 9223372036854775807 pl +5");
        assert_eq!(k.run("HINCRBY h i -20"), Frame::Integer(-10));
        assert_eq!(
            k.run("HINCRBY h i 1.5"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            k.run("HINCRBY h big 1"),
            err("ERR increment or decrement would overflow")
        );
        for f in ["s", "f", "pl"] {
            assert_eq!(
                k.run(&format!("HINCRBY h {f} 1")),
                err("ERR hash value is not an integer")
            );
        }
        assert_eq!(
            k.run("HINCRBY h new 9223372036854775807"),
            Frame::Integer(i64::MAX)
        );
        assert_eq!(
            k.run("HINCRBY h new 1"),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(k.run("HINCRBY nokey f -3"), Frame::Integer(-3));
    }

    #[test]
    fn hincrbyfloat_like_redis() {
        let mut k = Kit::new();
        k.run("HSET h f 1.5 i 10 s abc pl +5 hx 0x10 inf inf");
        assert_eq!(k.run("HINCRBYFLOAT h f 0.1"), bulk("1.6"));
        assert_eq!(k.run("HINCRBYFLOAT h i 0.1"), bulk("10.1"));
        assert_eq!(k.run("HINCRBYFLOAT h pl 1"), bulk("6"));
        assert_eq!(k.run("HINCRBYFLOAT h hx 1"), bulk("17"));
        assert_eq!(
            k.run("HINCRBYFLOAT h s 1"),
            err("ERR hash value is not a float")
        );
        assert_eq!(
            k.run("HINCRBYFLOAT h f abc"),
            err("ERR value is not a valid float")
        );
        assert_eq!(
            k.run("HINCRBYFLOAT h f nan"),
            err("ERR value is not a valid float")
        );
        assert_eq!(
            k.run("HINCRBYFLOAT h f inf"),
            err("ERR value is NaN or Infinity")
        );
        assert_eq!(
            k.run("HINCRBYFLOAT h inf 1"),
            err("ERR increment would produce NaN or Infinity")
        );
        assert_eq!(
            k.run("HINCRBYFLOAT h n 1e20"),
            bulk("100000000000000000000")
        );
        assert_eq!(k.run("HINCRBYFLOAT h z -0.0"), bulk("0"));
        assert_eq!(k.run("HGET h f"), bulk("1.6"));
    }

    #[test]
    fn hscan_listpack_and_table() {
        let mut k = Kit::new();
        k.run("HSET h a 1 b 2 c 3");
        let all = Frame::Array(vec![bulk("0"), bulks(&["a", "1", "b", "2", "c", "3"])]);
        assert_eq!(k.run("HSCAN h 0"), all);
        assert_eq!(k.run("HSCAN h 0 COUNT 1"), all);
        assert_eq!(k.run("HSCAN h -1"), all);
        assert_eq!(k.run("HSCAN h 18446744073709551615"), all);
        assert_eq!(
            k.run("HSCAN h 0 MATCH a*"),
            Frame::Array(vec![bulk("0"), bulks(&["a", "1"])])
        );
        assert_eq!(k.run("HSCAN h 0 COUNT 0"), err("ERR syntax error"));
        assert_eq!(
            k.run("HSCAN h 0 COUNT abc"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(k.run("HSCAN h 0 TYPE string"), err("ERR syntax error"));
        assert_eq!(k.run("HSCAN h 0 MATCH"), err("ERR syntax error"));
        assert_eq!(k.run("HSCAN h abc"), err("ERR invalid cursor"));
        assert_eq!(
            k.run("HSCAN h 18446744073709551616"),
            err("ERR invalid cursor")
        );
        let empty = Frame::Array(vec![bulk("0"), Frame::Array(vec![])]);
        assert_eq!(k.run("HSCAN nokey 0 COUNT abc"), empty);

        for i in 0..200 {
            k.run(&format!("HSET t f{i} {i}"));
        }
        assert_eq!(encoding(&mut k, "t"), "hashtable");
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        for _ in 0..1000 {
            let Frame::Array(parts) = k.run(&format!("HSCAN t {cursor} COUNT 7")) else {
                panic!("not an array")
            };
            let (Frame::Bulk(c), Frame::Array(items)) = (&parts[0], &parts[1]) else {
                panic!("bad shape")
            };
            assert!(
                items.len() <= 14,
                "{} items at cursor {cursor}",
                items.len()
            );
            for pair in items.chunks(2) {
                seen.insert(format!("{:?}", pair[0]));
            }
            cursor = String::from_utf8(c.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(cursor, "0");
        assert_eq!(seen.len(), 200);
        let Frame::Array(parts) = k.run("HSCAN t 0 COUNT 1000 MATCH f1?") else {
            panic!()
        };
        assert_eq!(parts[0], bulk("0"));
        let Frame::Array(items) = &parts[1] else {
            panic!()
        };
        assert_eq!(items.len(), 20);
    }

    #[test]
    fn hrandfield_cases() {
        let mut k = Kit::new();
        k.run("HSET h a 1 b 2 c 3");
        assert_eq!(k.run("HRANDFIELD h 5"), bulks(&["a", "b", "c"]));
        assert_eq!(
            k.run("HRANDFIELD h 3 WITHVALUES"),
            bulks(&["a", "1", "b", "2", "c", "3"])
        );
        assert_eq!(k.run("HRANDFIELD h 0"), Frame::Array(vec![]));
        assert_eq!(k.run("HRANDFIELD nokey"), Frame::Null);
        assert_eq!(k.run("HRANDFIELD nokey 3"), Frame::Array(vec![]));
        assert_eq!(
            k.run("HRANDFIELD h withvalues"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(k.run("HRANDFIELD h 1 withvalue"), err("ERR syntax error"));
        assert_eq!(
            k.run("HRANDFIELD h 1 withvalues x"),
            err("ERR syntax error")
        );
        assert_eq!(
            k.run("HRANDFIELD h -9223372036854775808"),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        assert_eq!(
            k.run("HRANDFIELD nokey -9223372036854775807 withvalues"),
            err("ERR value is out of range")
        );
        let Frame::Bulk(one) = k.run("HRANDFIELD h") else {
            panic!()
        };
        assert!(["a", "b", "c"].contains(&std::str::from_utf8(&one).unwrap()));
        // Negative count: repeats allowed, exactly |count| picks.
        let Frame::Array(many) = k.run("HRANDFIELD h -10 WITHVALUES") else {
            panic!()
        };
        assert_eq!(many.len(), 20);
        // Few unique picks from a listpack come back in position order.
        k.run("HSET ten f0 v f1 v f2 v f3 v f4 v f5 v f6 v f7 v f8 v f9 v");
        for _ in 0..20 {
            let Frame::Array(three) = k.run("HRANDFIELD ten 3") else {
                panic!()
            };
            assert_eq!(three.len(), 3);
            let names: Vec<_> = three.iter().map(|f| format!("{f:?}")).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted);
            let unique: std::collections::HashSet<_> = names.iter().collect();
            assert_eq!(unique.len(), 3);
        }
        k.protocol = Protocol::Resp3;
        let Frame::Array(pairs) = k.run("HRANDFIELD h 3 WITHVALUES") else {
            panic!()
        };
        assert_eq!(
            pairs,
            vec![bulks(&["a", "1"]), bulks(&["b", "2"]), bulks(&["c", "3"])]
        );
    }

    #[test]
    fn resp3_hgetall_is_a_map() {
        let mut k = Kit::new();
        k.protocol = Protocol::Resp3;
        k.run("HSET h a 1");
        assert_eq!(k.run("HGETALL h"), Frame::Map(vec![(bulk("a"), bulk("1"))]));
        assert_eq!(k.run("HGETALL nokey"), Frame::Map(vec![]));
    }

    #[test]
    fn scan_cursor_parsing() {
        for (s, want) in [
            ("", Some(0)),
            ("0", Some(0)),
            ("+5", Some(5)),
            ("-1", Some(u64::MAX)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            (" 1", None),
            ("1 ", None),
            ("-", None),
            ("0x10", None),
        ] {
            assert_eq!(parse_scan_cursor(s.as_bytes()).ok(), want, "{s:?}");
        }
    }
}
/// Redis's `long double` arithmetic (x87 80-bit extended precision on x86-64), emulated in
/// software so `HINCRBYFLOAT` (and `INCRBYFLOAT`) store byte-identical results.
///
/// Redis parses operands with `strtold` (correctly rounded to a 64-bit significand), adds
/// them in extended precision (round to nearest, ties to even), and stores the result with
/// `%.17Lf`, trailing zeros removed. An `f64` version differs on everyday inputs:
/// `1.5 + 0.1` is `1.6000000000000000888` in f64 (printed `1.60000000000000009`) but
/// `1.6` in long double. So this module implements exactly those three steps:
///
/// - [`LongDouble::parse`]: Redis's `string2ld` — decimal, hex (`0x1p3`) and `inf` forms,
///   no leading space, whole string consumed, NaN and out-of-range (overflow, underflow to
///   zero) rejected, at most 5119 bytes.
/// - [`LongDouble::add`]: one correctly rounded addition.
/// - [`LongDouble::format_human`]: `ld2string(..., LD_STR_HUMAN)`.
///
/// Values are `mant * 2^exp` with a 64-bit `mant`; exact big-integer arithmetic is used only
/// while parsing and printing (bounded: inputs are at most 5119 bytes and exponents are
/// range-checked before any big number is built).
pub mod long_double {
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
        /// The value as the nearest-ish `f64` (used for timeouts, where precision does not
        /// matter but range does).
        pub fn to_f64(&self) -> f64 {
            match *self {
                LongDouble::Nan => f64::NAN,
                LongDouble::Inf { neg } => {
                    if neg {
                        f64::NEG_INFINITY
                    } else {
                        f64::INFINITY
                    }
                }
                LongDouble::Finite { neg, mant, exp } => {
                    let e = exp.clamp(-20_000, 20_000) as i32;
                    let half = e / 2;
                    let v = mant as f64 * 2f64.powi(half) * 2f64.powi(e - half);
                    if neg {
                        -v
                    } else {
                        v
                    }
                }
            }
        }

        /// Formats like Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf`, then trailing
        /// zeros and a trailing `.` removed, `-0` printed as `0`.
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
    fn split_number(
        b: &[u8],
        is_digit: fn(&u8) -> bool,
        marker: u8,
    ) -> Option<(&[u8], &[u8], i64)> {
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

        fn p(s: &str) -> Option<LongDouble> {
            LongDouble::parse(s.as_bytes())
        }

        fn incr(a: &str, b: &str) -> String {
            let r = p(a).unwrap() + p(b).unwrap();
            String::from_utf8(r.format_human().to_vec()).unwrap()
        }

        #[test]
        fn sums_match_redis() {
            // Expected strings captured from redis-server 7.0.15 HINCRBYFLOAT.
            for (a, b, want) in [
                ("1.5", "0.1", "1.6"),
                ("-10", "0.1", "-9.9"),
                ("0", "1.23456789012345678", "1.23456789012345678"),
                ("0", "3.0", "3"),
                ("0", "-0.0", "0"),
                ("0", "1e20", "100000000000000000000"),
                ("0", "5e-324", "0"),
                ("0x10", "1", "17"),
                ("+5", "1", "6"),
                ("1.5", "0x1p3", "9.5"),
                ("0", ".5", "0.5"),
                ("10.5", "0.1", "10.6"),
                ("0.1", "0.2", "0.3"),
                ("1", "-1", "0"),
                ("5.0e3", "2.0e2", "5200"),
                ("3.0", "-0.1", "2.9"),
                ("0.1", "0.7", "0.8"),
                ("123.456", "0.0001", "123.45610000000000001"),
                ("1e17", "0.5", "100000000000000000.5"),
                ("1e18", "0.5", "1000000000000000000.5"),
                ("-1.5", "-0.05", "-1.55"),
                ("0", "0.00000000000000005", "0.00000000000000005"),
                ("0", "0.000000000000000015", "0.00000000000000002"),
                ("0", "0.000000000000000025", "0.00000000000000002"),
                ("0", "2.5e-17", "0.00000000000000002"),
                ("1e-4940", "0", "0"),
                ("0", "3.6e-4951", "0"),
                ("0", "1.9e-4951", "0"),
            ] {
                assert_eq!(incr(a, b), want, "{a} + {b}");
            }
            let big = incr("0", "1e308");
            assert_eq!(big.len(), 308);
            assert!(big.starts_with("99999999999999999996685879655845645660560099847415567"));
            let twice = incr(&big, "1e308");
            assert!(twice.starts_with("199999999999999999993371759311691291321120199694831"));
        }

        #[test]
        fn parse_accepts_and_rejects_like_string2ld() {
            for ok in [
                "1", "-1", "+1", ".5", "5.", "1e5", "1E+5", "1e-5", "inf", "-INF", "Infinity",
                "0x10", "0X1P-2", "0x1.8p1", "1e4000", "1e-4940", "0e-99999", "0",
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
                "1e",
                "1e+",
                ".",
                "-",
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
            let long = "1".repeat(5120);
            assert!(p(&long).is_none());
            let ok_long = format!("0.{}", "1".repeat(5000));
            assert!(p(&ok_long).is_some());
        }

        #[test]
        fn overflow_to_infinity_is_detected() {
            let max = p("1e4932").unwrap();
            assert_eq!(max + max, LongDouble::Inf { neg: false });
            assert!((max + p("1e4931").unwrap()).is_finite());
            let r = p("1.1e4932").unwrap() + p("1.1e4932").unwrap();
            assert_eq!(r, LongDouble::Inf { neg: false });
            assert_eq!(p("inf").unwrap() + p("-inf").unwrap(), LongDouble::Nan);
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
    }
}
