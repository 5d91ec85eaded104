//! Generic keyspace commands: deletion and existence, renaming, copying and moving between
//! databases, iteration (KEYS, SCAN, RANDOMKEY), flushing, OBJECT introspection, and the
//! EXPIRE/TTL family.
//!
//! Expired keys are never shown to clients: every candidate key goes through
//! [`Keyspace::exists`](crate::keyspace::Keyspace::exists), which deletes it on a primary
//! (recording a DEL for propagation) or hides it on a replica.
//!
//! Propagation forms: EXPIRE/PEXPIRE/EXPIREAT become `PEXPIREAT key <abs-ms> [flag]`, an
//! expiry already in the past becomes `DEL` (or `UNLINK` under `lazyfree-lazy-expire`), and
//! writes that change nothing (DEL of missing keys, PERSIST without TTL, RENAME onto itself,
//! a refused COPY/MOVE/RENAMENX) propagate nothing. FLUSHDB/FLUSHALL always propagate.

use bytes::Bytes;
use ferrokv_proto::resp::Frame;

use super::string::{already_expired, del_command};
use super::{
    Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec, DENYOOM, FAST, READONLY, TOUCHES_ALL,
    WRITE,
};
use crate::evict::{lfu_decayed, lru_idle_secs};
use crate::glob::glob_match;
use crate::keyspace::Entry;
use crate::notify;
use crate::value::Value;

pub static COMMANDS: &[Spec<Handler>] = &[
    all("del", -2, WRITE, del),
    all("unlink", -2, WRITE | FAST, unlink),
    all("exists", -2, READONLY | FAST, exists),
    first("type", 2, READONLY | FAST, type_cmd),
    two("rename", 3, WRITE, rename),
    two("renamenx", 3, WRITE | FAST, renamenx),
    none("keys", 2, READONLY, keys),
    none("scan", -2, READONLY, scan),
    none("randomkey", 1, READONLY, randomkey),
    none("dbsize", 1, READONLY | FAST, dbsize),
    none("flushdb", -1, WRITE | TOUCHES_ALL, flushdb),
    none("flushall", -1, WRITE | TOUCHES_ALL, flushall),
    all("touch", -2, READONLY | FAST, touch),
    two("copy", -3, WRITE | DENYOOM, copy),
    first("move", 3, WRITE | FAST, move_cmd),
    none("swapdb", 3, WRITE | FAST | TOUCHES_ALL, swapdb),
    Spec {
        name: "object",
        arity: -2,
        flags: 0,
        keys: KeySpec::Movable(object_keys),
        run: object,
    },
    first("expire", -3, WRITE | FAST, expire),
    first("pexpire", -3, WRITE | FAST, pexpire),
    first("expireat", -3, WRITE | FAST, expireat),
    first("pexpireat", -3, WRITE | FAST, pexpireat),
    first("ttl", 2, READONLY | FAST, ttl),
    first("pttl", 2, READONLY | FAST, pttl),
    first("persist", 2, WRITE | FAST, persist),
    first("expiretime", 2, READONLY | FAST, expiretime),
    first("pexpiretime", 2, READONLY | FAST, pexpiretime),
];

const fn with_keys(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: KeySpec,
    run: Handler,
) -> Spec<Handler> {
    Spec {
        name,
        arity,
        flags,
        keys,
        run,
    }
}

const fn first(name: &'static str, arity: i32, flags: u32, run: Handler) -> Spec<Handler> {
    with_keys(name, arity, flags, KeySpec::FIRST, run)
}

const fn two(name: &'static str, arity: i32, flags: u32, run: Handler) -> Spec<Handler> {
    with_keys(name, arity, flags, KeySpec::FIRST_TWO, run)
}

const fn all(name: &'static str, arity: i32, flags: u32, run: Handler) -> Spec<Handler> {
    with_keys(name, arity, flags, KeySpec::ALL, run)
}

const fn none(name: &'static str, arity: i32, flags: u32, run: Handler) -> Spec<Handler> {
    with_keys(name, arity, flags, KeySpec::None, run)
}

/// `OBJECT <sub> key`: the key is argv[2] for every subcommand but HELP.
fn object_keys(argv: &[Bytes]) -> Vec<usize> {
    if argv.len() == 3 {
        vec![2]
    } else {
        Vec::new()
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

const DB_OUT_OF_RANGE: &str = "DB index is out of range";
const SAME_OBJECT: &str = "source and destination objects are the same";

// ---- DEL / EXISTS / TYPE / TOUCH -------------------------------------------------------------

fn del_generic(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let mut n = 0;
    for k in args.take_rest() {
        if ctx.delete_raising(k) {
            n += 1;
        }
    }
    Ok(if n > 0 {
        Executed::write(Frame::Integer(n))
    } else {
        Executed::read(Frame::Integer(0))
    })
}

fn del(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    del_generic(ctx, args)
}

fn unlink(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    del_generic(ctx, args)
}

fn exists(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let n = args.take_rest().iter().filter(|k| ctx.exists(k)).count();
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn touch(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let n = args
        .take_rest()
        .iter()
        .filter(|k| ctx.get(k).is_some())
        .count();
    Ok(Executed::read(Frame::Integer(n as i64)))
}

/// The live entry at `key` without touching its access clock (Redis's `LOOKUP_NOTOUCH`).
fn peek<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a Entry> {
    if !ctx.ks.exists(ctx.db, key) {
        return None;
    }
    ctx.ks.dbs[ctx.db].map.get(key)
}

fn type_cmd(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let name = peek(ctx, key).map_or("none", |e| e.value.type_name());
    Ok(Executed::read(Frame::simple(name)))
}

// ---- RENAME / COPY / MOVE / SWAPDB ---------------------------------------------------------

fn rename_generic(ctx: &mut Ctx, args: &mut Args, nx: bool) -> Result<Executed, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let done = |n: i64| if nx { Frame::Integer(n) } else { Frame::OK };
    if !ctx.exists(src) {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        return Ok(Executed::read(done(0)));
    }
    if ctx.exists(dst) {
        if nx {
            return Ok(Executed::read(Frame::Integer(0)));
        }
        ctx.ks.dbs[ctx.db].remove(dst);
    }
    if let Some((entry, at)) = ctx.ks.dbs[ctx.db].take(src) {
        ctx.ks.put_entry(ctx.db, dst, entry, at);
        ctx.notify(notify::GENERIC, "rename_from", src);
        ctx.notify(notify::GENERIC, "rename_to", dst);
    }
    Ok(Executed::write(done(1)))
}

fn rename(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    rename_generic(ctx, args, true)
}

/// A database index argument (`getIntFromObject`, then the range check).
fn db_index(ctx: &Ctx, raw: &[u8]) -> Result<usize, CmdError> {
    let id = super::parse_i64(raw)
        .filter(|&v| i32::try_from(v).is_ok())
        .ok_or(CmdError::NotInteger)?;
    usize::try_from(id)
        .ok()
        .filter(|&i| i < ctx.ks.dbs.len())
        .ok_or(CmdError::msg(DB_OUT_OF_RANGE))
}

fn copy(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let (mut dst_db, mut replace) = (ctx.db, false);
    while args.has_more() {
        if args.eat("REPLACE") {
            replace = true;
        } else if args.remaining() >= 2 && args.eat("DB") {
            dst_db = db_index(ctx, args.next_bytes()?)?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if dst_db == ctx.db && src == dst {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    let Some(entry) = ctx.reading(|ctx| ctx.ks.lookup(ctx.db, src).cloned()) else {
        return Ok(Executed::read(Frame::Integer(0)));
    };
    let at = ctx.ks.dbs[ctx.db].expire_of(src, &entry);
    if ctx.ks.exists(dst_db, dst) && !replace {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    let mut entry = entry;
    entry.access = ctx.ks.new_access();
    ctx.ks.dbs[dst_db].remove(dst);
    ctx.ks.put_entry(dst_db, dst, entry, at);
    ctx.ks.notify(notify::GENERIC, "copy_to", dst_db, dst);
    Ok(Executed::write(Frame::Integer(1)))
}

fn move_cmd(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let dst_db = db_index(ctx, args.next_bytes()?)?;
    if dst_db == ctx.db {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    if !ctx.exists(key) || ctx.ks.exists(dst_db, key) {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    if let Some((entry, at)) = ctx.ks.dbs[ctx.db].take(key) {
        ctx.ks.put_entry(dst_db, key, entry, at);
        ctx.notify(notify::GENERIC, "move_from", key);
        ctx.ks.notify(notify::GENERIC, "move_to", dst_db, key);
    }
    Ok(Executed::write(Frame::Integer(1)))
}

fn swapdb(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let parse = |raw: &[u8], what: &'static str| {
        super::parse_i64(raw)
            .filter(|&v| i32::try_from(v).is_ok())
            .ok_or(CmdError::msg(what))
    };
    let a = parse(args.next_bytes()?, "invalid first DB index")?;
    let b = parse(args.next_bytes()?, "invalid second DB index")?;
    let n = ctx.ks.dbs.len() as i64;
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Err(CmdError::msg(DB_OUT_OF_RANGE));
    }
    ctx.ks.dbs.swap(a as usize, b as usize);
    Ok(Executed::write(Frame::OK))
}

// ---- KEYS / SCAN / RANDOMKEY / DBSIZE / FLUSH ----------------------------------------------

fn keys(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let pattern = args.next_bytes()?;
    let candidates = ctx.ks.dbs[ctx.db].keys_matching(pattern);
    // Redis only expires here; these lookups are not reads.
    let live: Vec<Bytes> =
        ctx.not_reading(|ctx| candidates.into_iter().filter(|k| ctx.exists(k)).collect());
    Ok(Executed::read(Frame::bulks(live)))
}

/// A SCAN cursor as Redis's `strtoul` reads it: optional sign (a negative cursor wraps), at
/// least one digit, no spaces, no overflow.
fn parse_cursor(raw: &[u8]) -> Option<u64> {
    let (neg, digits) = match raw.first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    if raw.is_empty() {
        return Some(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

fn scan(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let cursor = parse_cursor(args.next_bytes()?).ok_or(CmdError::msg("invalid cursor"))?;
    let (mut count, mut pattern, mut type_name) = (10usize, None, None);
    while args.has_more() {
        if args.remaining() >= 2 && args.eat("COUNT") {
            let c = args.next_i64()?;
            if c < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(c).unwrap_or(usize::MAX);
        } else if args.remaining() >= 2 && args.eat("MATCH") {
            pattern = Some(args.next_bytes()?).filter(|p| &p[..] != b"*");
        } else if args.remaining() >= 2 && args.eat("TYPE") {
            type_name = Some(args.next_bytes()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (next, sampled) = ctx.ks.dbs[ctx.db].scan_step(cursor, count);
    let mut out = Vec::with_capacity(sampled.len());
    for key in sampled {
        if pattern.is_some_and(|p| !glob_match(p, &key)) {
            continue;
        }
        // Only the TYPE filter looks keys up as reads in Redis.
        let kind = |ctx: &mut Ctx| peek(ctx, &key).map(|e| e.value.type_name());
        let kind = match type_name {
            Some(_) => kind(ctx),
            None => ctx.not_reading(kind),
        };
        let Some(kind) = kind else {
            continue;
        };
        if type_name.is_some_and(|t| !t.eq_ignore_ascii_case(kind.as_bytes())) {
            continue;
        }
        out.push(Frame::Bulk(key));
    }
    Ok(Executed::read(Frame::Array(vec![
        Frame::Bulk(Bytes::from(next.to_string())),
        Frame::Array(out),
    ])))
}

fn randomkey(ctx: &mut Ctx, _args: &mut Args) -> Result<Executed, CmdError> {
    let db = ctx.db;
    Ok(Executed::read(match ctx.ks.random_key(db, &mut *ctx.rng) {
        Some(k) => Frame::Bulk(k),
        None => Frame::Null,
    }))
}

fn dbsize(ctx: &mut Ctx, _args: &mut Args) -> Result<Executed, CmdError> {
    Ok(Executed::read(Frame::Integer(ctx.ks.dbsize(ctx.db) as i64)))
}

/// `[ASYNC|SYNC]` of FLUSHDB/FLUSHALL (both behave the same here).
fn flush_mode(args: &mut Args) -> Result<(), CmdError> {
    if args.remaining() > 1 {
        return Err(CmdError::Syntax);
    }
    if args.has_more() && !args.eat("ASYNC") && !args.eat("SYNC") {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn flushdb(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    flush_mode(args)?;
    ctx.ks.dbs[ctx.db].clear();
    Ok(Executed::write(Frame::OK))
}

fn flushall(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    flush_mode(args)?;
    ctx.ks.flush_all();
    Ok(Executed::write(Frame::OK))
}

// ---- OBJECT --------------------------------------------------------------------------------

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// Redis shares the objects of integers 0..10000 (refcount `INT_MAX`) unless an LRU/LFU
/// policy with a memory limit needs per-key access data.
const OBJ_SHARED_INTEGERS: i64 = 10_000;
const OBJ_SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn object(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let sub = args.next_bytes()?;
    let full = match super::subcommands::stat_name("object", args.argv()) {
        Some(full) if full != "object" => full,
        _ => return Err(CmdError::unknown_subcommand(sub, "object")),
    };
    let name = &full["object|".len()..];
    let want_args = if name == "help" { 0 } else { 1 };
    if args.remaining() != want_args {
        return Err(CmdError::WrongArity(full.to_string()));
    }
    if name == "help" {
        return Ok(Executed::read(Frame::Array(
            OBJECT_HELP.iter().map(|l| Frame::simple(l)).collect(),
        )));
    }
    let key = args.next_bytes()?;
    let cfg = ctx.ks.cfg.clone();
    let clock = ctx.ks.lru_clock;
    // Counted, without `keymiss` (Redis's LOOKUP_NONOTIFY); then read in place.
    let live = ctx.reading_quietly(|ctx| ctx.exists(key));
    let Some(entry) = ctx.ks.dbs[ctx.db].map.get(key).filter(|_| live) else {
        return Ok(Executed::read(Frame::Null));
    };
    let lfu = cfg.maxmemory_policy.is_lfu();
    let reply = match name {
        "encoding" => Frame::Bulk(b(entry.encoding_name(&cfg))),
        "refcount" => {
            let shared = cfg.maxmemory == 0 || !(lfu || is_lru(&cfg));
            let small_int = match &entry.value {
                Value::Str(s) if entry.encoding_name(&cfg) == "int" => {
                    super::parse_i64(s).is_some_and(|v| (0..OBJ_SHARED_INTEGERS).contains(&v))
                }
                _ => false,
            };
            Frame::Integer(if shared && small_int { OBJ_SHARED_REFCOUNT } else { 1 })
        }
        "idletime" if lfu => {
            return Err(CmdError::msg(
                "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ))
        }
        "idletime" => Frame::Integer(lru_idle_secs(entry.access, clock) as i64),
        _ if !lfu => {
            return Err(CmdError::msg(
                "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ))
        }
        _ => Frame::Integer(lfu_decayed(entry.access, clock, cfg.lfu_decay_time) as i64),
    };
    Ok(Executed::read(reply))
}

fn is_lru(cfg: &crate::config::StoreConfig) -> bool {
    use crate::config::EvictionPolicy::*;
    matches!(cfg.maxmemory_policy, AllKeysLru | VolatileLru)
}

// ---- EXPIRE family -------------------------------------------------------------------------

#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(args: &mut Args) -> Result<ExpireFlags, CmdError> {
    let mut f = ExpireFlags::default();
    while let Ok(opt) = args.next_bytes() {
        let flag = match opt.to_ascii_lowercase().as_slice() {
            b"nx" => &mut f.nx,
            b"xx" => &mut f.xx,
            b"gt" => &mut f.gt,
            b"lt" => &mut f.lt,
            _ => {
                return Err(CmdError::msg_owned(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )))
            }
        };
        *flag = true;
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(CmdError::msg(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f.gt && f.lt {
        return Err(CmdError::msg(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT. `relative` adds the current time; `secs` scales.
fn expire_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    relative: bool,
    secs: bool,
    cmd: &'static str,
) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let raw = args.next_bytes()?;
    let flags = parse_expire_flags(args)?;
    let mut when = super::parse_i64(raw).ok_or(CmdError::NotInteger)?;
    if secs {
        when = when.checked_mul(1000).ok_or(CmdError::InvalidExpire(cmd))?;
    }
    let base = if relative { ctx.now_ms() } else { 0 };
    if when > i64::MAX - base {
        return Err(CmdError::InvalidExpire(cmd));
    }
    when += base;
    if !ctx.exists(key) {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    let current = ctx.ks.dbs[ctx.db]
        .get_with_expire(key)
        .and_then(|(_, at)| at);
    let refused = (flags.nx && current.is_some())
        || (flags.xx && current.is_none())
        || (flags.gt && current.is_none_or(|c| when <= c))
        || (flags.lt && current.is_some_and(|c| when >= c));
    if refused {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    if already_expired(ctx, when) {
        ctx.delete_raising(key);
        return Ok(Executed::rewritten(
            Frame::Integer(1),
            vec![del_command(ctx), key.clone()],
        ));
    }
    ctx.ks.dbs[ctx.db].set_expire(key, Some(when));
    ctx.notify(notify::GENERIC, "expire", key);
    if cmd == "pexpireat" {
        return Ok(Executed::write(Frame::Integer(1)));
    }
    let mut argv = args.argv().to_vec();
    argv[0] = b("PEXPIREAT");
    argv[2] = Bytes::from(when.to_string());
    Ok(Executed::rewritten(Frame::Integer(1), argv))
}

fn expire(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    expire_generic(ctx, args, true, true, "expire")
}

fn pexpire(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    expire_generic(ctx, args, true, false, "pexpire")
}

fn expireat(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    expire_generic(ctx, args, false, true, "expireat")
}

fn pexpireat(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    expire_generic(ctx, args, false, false, "pexpireat")
}

/// TTL/PTTL/EXPIRETIME/PEXPIRETIME: -2 missing, -1 no expiry, else the time left (or the
/// absolute time), in ms or rounded to seconds.
fn ttl_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    ms: bool,
    absolute: bool,
) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let now = ctx.now_ms();
    if peek(ctx, key).is_none() {
        return Ok(Executed::read(Frame::Integer(-2)));
    }
    let Some((_, Some(at))) = ctx.ks.dbs[ctx.db].get_with_expire(key) else {
        return Ok(Executed::read(Frame::Integer(-1)));
    };
    let t = if absolute { at } else { at - now }.max(0);
    Ok(Executed::read(Frame::Integer(if ms {
        t
    } else {
        (t + 500) / 1000
    })))
}

fn ttl(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    ttl_generic(ctx, args, false, false)
}

fn pttl(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    ttl_generic(ctx, args, true, false)
}

fn expiretime(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    ttl_generic(ctx, args, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    ttl_generic(ctx, args, true, true)
}

fn persist(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let has_ttl = peek(ctx, key).is_some()
        && ctx.ks.dbs[ctx.db]
            .get_with_expire(key)
            .is_some_and(|(_, at)| at.is_some());
    if !has_ttl {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    ctx.ks.dbs[ctx.db].set_expire(key, None);
    ctx.notify(notify::GENERIC, "persist", key);
    Ok(Executed::write(Frame::Integer(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testkit::Kit;
    use crate::cmd::Propagate;
    use crate::config::EvictionPolicy;
    use crate::keyspace::ExpireMode;

    const NOW: i64 = 1_700_000_000_000;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn err(s: &str) -> Frame {
        Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn int(i: i64) -> Frame {
        Frame::Integer(i)
    }

    fn rewritten(line: &str) -> Propagate {
        Propagate::Rewritten(vec![line
            .split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()])
    }

    fn prop(kit: &mut Kit, line: &str) -> Propagate {
        kit.exec(line).expect("command ok").propagate
    }

    fn sorted(f: Frame) -> Vec<Frame> {
        let Frame::Array(mut v) = f else {
            panic!("not an array: {f:?}")
        };
        v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        v
    }

    #[test]
    fn del_unlink_exists_touch_type() {
        let mut k = Kit::new();
        k.run("MSET a 1 b 2 c 3");
        assert_eq!(k.run("EXISTS a a nokey b"), int(3));
        let e = k.exec("DEL a nokey").unwrap();
        assert_eq!((e.reply, e.propagate), (int(1), Propagate::AsIs));
        let e = k.exec("DEL a nokey").unwrap();
        assert_eq!((e.reply, e.propagate), (int(0), Propagate::Nothing));
        assert_eq!(k.run("UNLINK b c"), int(2));
        assert_eq!(k.run("TOUCH a b"), int(0));
        k.run("SET s v");
        assert_eq!(k.run("TOUCH s s"), int(2));
        assert_eq!(k.run("TYPE s"), Frame::simple("string"));
        assert_eq!(k.run("TYPE nokey"), Frame::simple("none"));
        k.ks.set(0, b"h", Value::Hash(Default::default()));
        assert_eq!(k.run("TYPE h"), Frame::simple("hash"));
    }

    #[test]
    fn expired_keys_are_invisible_and_deleted_on_primary() {
        let mut k = Kit::new();
        k.run("SET a 1");
        k.run("SET b 1");
        k.run("PEXPIREAT a 99999999999999");
        k.ks.dbs[0].set_expire(b"a", Some(NOW - 1));
        assert_eq!(k.run("KEYS *"), Frame::Array(vec![bulk("b")]));
        assert_eq!(k.ks.expired, vec![(0, Bytes::from_static(b"a"))]);
        k.run("SET c 1");
        k.ks.dbs[0].set_expire(b"c", Some(NOW - 1));
        k.ks.mode = ExpireMode::ReplicaClient;
        let Frame::Array(reply) = k.run("SCAN 0") else {
            panic!()
        };
        assert_eq!(reply[1], Frame::Array(vec![bulk("b")]));
        assert_eq!(k.run("EXISTS c"), int(0));
        assert_eq!(k.run("DBSIZE"), int(2));
        assert_eq!(k.run("TTL c"), int(-2));
    }

    #[test]
    fn rename_and_renamenx() {
        let mut k = Kit::new();
        assert_eq!(k.run("RENAME a b"), err("ERR no such key"));
        assert_eq!(k.run("RENAMENX a b"), err("ERR no such key"));
        k.run("SET a 1");
        k.run("PEXPIRE a 5000");
        let e = k.exec("RENAME a a").unwrap();
        assert_eq!((e.reply, e.propagate), (Frame::OK, Propagate::Nothing));
        assert_eq!(k.run("RENAMENX a a"), int(0));
        assert_eq!(k.run("RENAME a b"), Frame::OK);
        assert_eq!(k.run("PTTL b"), int(5000));
        assert_eq!(k.run("EXISTS a"), int(0));
        k.run("SET c x");
        let e = k.exec("RENAMENX b c").unwrap();
        assert_eq!((e.reply, e.propagate), (int(0), Propagate::Nothing));
        let e = k.exec("RENAMENX b d").unwrap();
        assert_eq!((e.reply, e.propagate), (int(1), Propagate::AsIs));
        assert_eq!(k.run("RENAME d c"), Frame::OK);
        assert_eq!(k.run("GET c"), bulk("1"));
        k.run("SET r x");
        k.run("APPEND r y");
        k.run("RENAME r r2");
        assert_eq!(k.run("OBJECT ENCODING r2"), bulk("raw"));
    }

    #[test]
    fn copy_move_swapdb() {
        let mut k = Kit::new();
        k.run("SET a 1");
        k.run("PEXPIRE a 5000");
        assert_eq!(
            k.run("COPY a a"),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(k.run("COPY a b DB 16"), err("ERR DB index is out of range"));
        assert_eq!(
            k.run("COPY a b DB x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(k.run("COPY a b DB"), err("ERR syntax error"));
        assert_eq!(k.run("COPY nokey b"), int(0));
        assert_eq!(k.run("COPY a b"), int(1));
        assert_eq!(k.run("PTTL b"), int(5000));
        k.run("SET b 2");
        assert_eq!(k.run("COPY a b"), int(0));
        assert_eq!(k.run("COPY a b REPLACE"), int(1));
        assert_eq!(k.run("GET b"), bulk("1"));
        assert_eq!(k.run("COPY a a DB 1"), int(1));
        assert_eq!(k.ks.dbs[1].len(), 1);
        assert_eq!(k.run("MOVE a 16"), err("ERR DB index is out of range"));
        assert_eq!(k.run("MOVE a -1"), err("ERR DB index is out of range"));
        assert_eq!(
            k.run("MOVE a x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            k.run("MOVE a 0"),
            err("ERR source and destination objects are the same")
        );
        let e = k.exec("MOVE a 1").unwrap();
        assert_eq!((e.reply, e.propagate), (int(0), Propagate::Nothing));
        assert_eq!(k.run("MOVE b 2"), int(1));
        assert_eq!(k.ks.ttl_ms(2, b"b"), Some(Some(5000)));
        assert_eq!(k.run("MOVE nokey 2"), int(0));
        assert_eq!(k.run("SWAPDB 0 x"), err("ERR invalid second DB index"));
        assert_eq!(k.run("SWAPDB x 0"), err("ERR invalid first DB index"));
        assert_eq!(k.run("SWAPDB 0 16"), err("ERR DB index is out of range"));
        let e = k.exec("SWAPDB 0 2").unwrap();
        assert_eq!((e.reply, e.propagate), (Frame::OK, Propagate::AsIs));
        assert_eq!(k.run("GET b"), bulk("1"));
        assert_eq!(k.run("DBSIZE"), int(1));
    }

    #[test]
    fn keys_scan_randomkey() {
        let mut k = Kit::new();
        assert_eq!(k.run("RANDOMKEY"), Frame::Null);
        for i in 0..30 {
            k.run(&format!("SET key:{i} v"));
        }
        k.ks.set(0, b"h", Value::Hash(Default::default()));
        assert_eq!(sorted(k.run("KEYS key:1*")).len(), 11);
        assert_eq!(sorted(k.run("KEYS h")), vec![bulk("h")]);
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        for _ in 0..100 {
            let Frame::Array(r) = k.run(&format!("SCAN {cursor} MATCH key:* COUNT 7")) else {
                panic!()
            };
            let Frame::Bulk(c) = &r[0] else { panic!() };
            let Frame::Array(keys) = &r[1] else { panic!() };
            assert!(keys.len() <= 7);
            seen.extend(keys.iter().map(|f| format!("{f:?}")));
            cursor = String::from_utf8(c.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 30);
        let Frame::Array(r) = k.run("SCAN 0 COUNT 1000 TYPE hash") else {
            panic!()
        };
        assert_eq!(r, vec![bulk("0"), Frame::Array(vec![bulk("h")])]);
        let Frame::Array(r) = k.run("SCAN 0 COUNT 1000 TYPE foo") else {
            panic!()
        };
        assert_eq!(r[1], Frame::Array(vec![]));
        assert_eq!(k.run("SCAN x"), err("ERR invalid cursor"));
        assert_eq!(
            k.run("SCAN 18446744073709551616"),
            err("ERR invalid cursor")
        );
        assert_eq!(k.run("SCAN 0 COUNT 0"), err("ERR syntax error"));
        assert_eq!(
            k.run("SCAN 0 COUNT x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(k.run("SCAN 0 MATCH"), err("ERR syntax error"));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b" 1"), None);
        assert!(matches!(k.run("RANDOMKEY"), Frame::Bulk(_)));
    }

    #[test]
    fn flushdb_flushall() {
        let mut k = Kit::new();
        k.run("SET a 1");
        k.ks.dbs[1].put(b"x", Entry::new(Value::Str(Bytes::new())), None);
        assert_eq!(k.run("FLUSHDB x"), err("ERR syntax error"));
        assert_eq!(k.run("FLUSHDB ASYNC SYNC"), err("ERR syntax error"));
        let e = k.exec("FLUSHDB async").unwrap();
        assert_eq!((e.reply, e.propagate), (Frame::OK, Propagate::AsIs));
        assert_eq!(k.run("DBSIZE"), int(0));
        assert_eq!(k.ks.dbs[1].len(), 1);
        assert_eq!(prop(&mut k, "FLUSHDB"), Propagate::AsIs);
        assert_eq!(k.run("FLUSHALL SYNC"), Frame::OK);
        assert_eq!(k.ks.dbs[1].len(), 0);
        assert_eq!(prop(&mut k, "FLUSHALL"), Propagate::AsIs);
        let flags = crate::cmd::lookup(b"swapdb").unwrap().flags;
        assert!(flags & TOUCHES_ALL != 0);
    }

    #[test]
    fn object_subcommands() {
        let mut k = Kit::new();
        k.run("SET n 100");
        k.run("SET big 10000");
        k.run("SET s abc");
        assert_eq!(k.run("OBJECT ENCODING n"), bulk("int"));
        assert_eq!(k.run("OBJECT encoding s"), bulk("embstr"));
        assert_eq!(k.run("OBJECT ENCODING nokey"), Frame::Null);
        assert_eq!(k.run("OBJECT REFCOUNT n"), int(2147483647));
        assert_eq!(k.run("OBJECT REFCOUNT big"), int(1));
        assert_eq!(k.run("OBJECT REFCOUNT s"), int(1));
        k.ks.lru_clock = 100;
        k.ks.dbs[0].map.get_mut(&b"s"[..]).unwrap().access = 40;
        assert_eq!(k.run("OBJECT IDLETIME s"), int(60));
        assert_eq!(
            k.run("OBJECT FREQ s"),
            err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        );
        k.ks.cfg.maxmemory_policy = EvictionPolicy::AllKeysLfu;
        k.run("SET f x");
        assert_eq!(k.run("OBJECT FREQ f"), int(5));
        assert_eq!(
            k.run("OBJECT IDLETIME f"),
            err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        );
        assert_eq!(
            k.run("OBJECT foo"),
            err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
        );
        assert_eq!(
            k.run("OBJECT ENCODING"),
            err("ERR wrong number of arguments for 'object|encoding' command")
        );
        let Frame::Array(help) = k.run("OBJECT HELP") else {
            panic!()
        };
        assert_eq!(help.len(), 15);
    }

    #[test]
    fn expire_family_replies_and_propagation() {
        let mut k = Kit::new();
        assert_eq!(k.run("EXPIRE nokey 10"), int(0));
        k.run("SET a 1");
        let e = k.exec("EXPIRE a 100").unwrap();
        assert_eq!(e.reply, int(1));
        assert_eq!(
            e.propagate,
            rewritten(&format!("PEXPIREAT a {}", NOW + 100_000))
        );
        assert_eq!(k.run("TTL a"), int(100));
        assert_eq!(k.run("PTTL a"), int(100_000));
        assert_eq!(k.run("EXPIRETIME a"), int((NOW + 100_000 + 500) / 1000));
        assert_eq!(k.run("PEXPIRETIME a"), int(NOW + 100_000));
        assert_eq!(prop(&mut k, "EXPIRE a 100 NX"), Propagate::Nothing);
        assert_eq!(k.run("EXPIRE a 50 GT"), int(0));
        assert_eq!(
            prop(&mut k, "PEXPIRE a 50 lt"),
            rewritten(&format!("PEXPIREAT a {} lt", NOW + 50))
        );
        assert_eq!(
            prop(&mut k, "EXPIREAT a 99999999999 xx"),
            rewritten("PEXPIREAT a 99999999999000 xx")
        );
        assert_eq!(prop(&mut k, "pexpireat a 99999999999999"), Propagate::AsIs);
        let e = k.exec("PERSIST a").unwrap();
        assert_eq!((e.reply, e.propagate), (int(1), Propagate::AsIs));
        let e = k.exec("PERSIST a").unwrap();
        assert_eq!((e.reply, e.propagate), (int(0), Propagate::Nothing));
        assert_eq!(k.run("TTL a"), int(-1));
        assert_eq!(k.run("EXPIRETIME a"), int(-1));
        assert_eq!(k.run("TTL nokey"), int(-2));
        assert_eq!(k.run("EXPIRE a 100 GT"), int(0));
        assert_eq!(k.run("EXPIRE a 100 XX"), int(0));
        assert_eq!(k.run("EXPIRE a 100 LT"), int(1));
        let e = k.exec("EXPIRE a -1").unwrap();
        assert_eq!((e.reply, e.propagate), (int(1), rewritten("DEL a")));
        assert_eq!(k.run("EXISTS a"), int(0));
        k.run("SET a 1");
        k.ks.cfg.lazyfree_lazy_expire = true;
        assert_eq!(prop(&mut k, "PEXPIREAT a 1"), rewritten("UNLINK a"));
    }

    #[test]
    fn expire_errors() {
        let mut k = Kit::new();
        k.run("SET a 1");
        for (cmd, want) in [
            (
                "EXPIRE a 10 NX XX",
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (
                "EXPIRE a 10 GT LT",
                "ERR GT and LT options at the same time are not compatible",
            ),
            ("EXPIRE a 10 foo", "ERR Unsupported option foo"),
            ("EXPIRE a x foo", "ERR Unsupported option foo"),
            ("EXPIRE a x", "ERR value is not an integer or out of range"),
            (
                "EXPIRE a 9223372036854776",
                "ERR invalid expire time in 'expire' command",
            ),
            (
                "EXPIRE a 9223372036854775",
                "ERR invalid expire time in 'expire' command",
            ),
            (
                "PEXPIRE a 9223372036854775807",
                "ERR invalid expire time in 'pexpire' command",
            ),
            (
                "EXPIREAT a 9223372036854776",
                "ERR invalid expire time in 'expireat' command",
            ),
            (
                "EXPIRE a -9223372036854776",
                "ERR invalid expire time in 'expire' command",
            ),
        ] {
            assert_eq!(k.run(cmd), err(want), "{cmd}");
        }
        assert_eq!(k.run("PEXPIREAT a 9223372036854775807"), int(1));
        assert_eq!(k.run("TTL a"), int((i64::MAX - NOW + 500) / 1000));
        assert_eq!(k.run("PEXPIRETIME a"), int(i64::MAX));
    }

    #[test]
    fn replica_does_not_delete_on_past_expire() {
        let mut k = Kit::new();
        k.run("SET a 1");
        k.ks.mode = ExpireMode::ReplicaApply;
        let e = k.exec("PEXPIREAT a 1").unwrap();
        assert_eq!((e.reply, e.propagate), (int(1), Propagate::AsIs));
        assert_eq!(k.ks.dbs[0].len(), 1);
    }
}
