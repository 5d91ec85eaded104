//! Hash commands: HSET HSETNX HGET HMSET HMGET HDEL HLEN HEXISTS HGETALL HKEYS HVALS
//! HINCRBY HINCRBYFLOAT HSTRLEN HSCAN HRANDFIELD.
//!
//! Encodings (listpack -> hashtable) are decided by [`HashValue`]; this file only decides
//! replies and propagation. Propagation: every successful HSET/HMSET/HINCRBY as sent,
//! HSETNX and HDEL only when they changed something, HINCRBYFLOAT as `HSET key field
//! <result>` so replicas store the exact same string.
//!
//! `HINCRBYFLOAT` computes in emulated x87 `long double` (see [`super::long_double`]), because
//! Redis does and `f64` stores different strings for common inputs.

use super::copy;
use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};
use rand::Rng;

use super::long_double::LongDouble;
use super::set::{parse_scan_cursor, parse_scan_options, scan_reply};
use super::{
    parse_i64, Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec, DENYOOM, FAST, READONLY,
    WRITE,
};
use crate::glob::glob_match;
use crate::keyspace::Keyspace;
use crate::notify;
use crate::value::{HashValue, Value};

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

/// A command whose only key is its first argument.
const fn spec(name: &'static str, arity: i32, flags: u32, run: Handler) -> Spec<Handler> {
    super::spec(name, arity, flags, KeySpec::FIRST, run)
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
    match ctx
        .get_or_insert_with(key, || Value::Hash(Default::default()))
        .0
    {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
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
        if h.set(&pair[0], &pair[1], &cfg) {
            created += 1;
        }
    }
    let reply = if name == "hmset" {
        Frame::ok()
    } else {
        Frame::Integer(created)
    };
    ctx.notify(notify::HASH, "hset", key);
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
    hash_for_write(ctx, key)?.set(field, value, &cfg);
    ctx.notify(notify::HASH, "hset", key);
    Ok(Executed::write(Frame::Integer(1)))
}

fn hget(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    let reply = match ctx.get_hash(key)?.and_then(|h| h.get(field)) {
        Some(v) => Frame::Bulk(copy(v)),
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
            Some(v) => Frame::Bulk(copy(v)),
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
    if deleted == 0 {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    ctx.notify(notify::HASH, "hdel", key);
    ctx.delete_if_empty(key);
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
                .map(|(f, v)| (Frame::Bulk(copy(f)), Frame::Bulk(copy(v))))
                .collect(),
        )
    } else {
        let mut out = Vec::with_capacity(h.len() * 2);
        for (f, v) in h.iter() {
            out.push(Frame::Bulk(copy(f)));
            out.push(Frame::Bulk(copy(v)));
        }
        Frame::Array(out)
    };
    Ok(Executed::read(reply))
}

fn hkeys(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let out = ctx
        .get_hash(key)?
        .map(|h| h.iter().map(|(f, _)| Frame::Bulk(copy(f))).collect())
        .unwrap_or_default();
    Ok(Executed::read(Frame::Array(out)))
}

fn hvals(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let out = ctx
        .get_hash(key)?
        .map(|h| h.iter().map(|(_, v)| Frame::Bulk(copy(v))).collect())
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
    let text = crate::value::int_bytes(new);
    hash_for_write(ctx, key)?.set(field, &text, &cfg);
    ctx.notify(notify::HASH, "hincrby", key);
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
    hash_for_write(ctx, key)?.set(field, &text, &cfg);
    ctx.notify(notify::HASH, "hincrbyfloat", key);
    Ok(Executed::rewritten(
        Frame::Bulk(text.clone()),
        vec![Bytes::from_static(b"HSET"), copy(key), copy(field), text],
    ))
}

fn hscan(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let cursor = parse_scan_cursor(args.next_bytes()?)?;
    let Some(h) = lookup_hash(ctx.ks, ctx.db, key)? else {
        return Ok(Executed::read(scan_reply(0, Vec::new())));
    };
    let (pattern, count) = parse_scan_options(args.take_rest())?;
    let (next, pairs) = h.scan(cursor, count);
    let mut items = Vec::with_capacity(pairs.len() * 2);
    for (f, v) in pairs {
        if pattern.as_ref().is_some_and(|p| !glob_match(p, f)) {
            continue;
        }
        items.push(Frame::Bulk(copy(f)));
        items.push(Frame::Bulk(copy(v)));
    }
    Ok(Executed::read(scan_reply(next, items)))
}

fn hrandfield(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    if !args.has_more() {
        let reply = match lookup_hash(ctx.ks, ctx.db, key)? {
            Some(h) if !h.is_empty() => {
                let i = ctx.rng.gen_range(0..h.len());
                h.get_index(i)
                    .map_or(Frame::Null, |(f, _)| Frame::Bulk(copy(f)))
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
            (false, _) => out.push(Frame::Bulk(copy(f))),
            (true, false) => {
                out.push(Frame::Bulk(copy(f)));
                out.push(Frame::Bulk(copy(v)));
            }
            (true, true) => out.push(Frame::Array(vec![
                Frame::Bulk(copy(f)),
                Frame::Bulk(copy(v)),
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
        // Entries threshold (`hash-max-listpack-entries`, 512 by default): one more
        // field converts.
        let max = k.ks.cfg.hash_max_listpack_entries;
        for i in 0..max {
            k.run(&format!("HSET big f{i} v"));
        }
        assert_eq!(encoding(&mut k, "big"), "listpack");
        k.run(&format!("HSET big f{max} v"));
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

        let n = k.ks.cfg.hash_max_listpack_entries + 72;
        for i in 0..n {
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
        assert_eq!(seen.len(), n);
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
