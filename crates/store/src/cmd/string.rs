//! String commands: GET/SET and their variants, counters (integer, and long double through
//! [`super::long_double`]), ranges, APPEND, LCS.
//!
//! Encodings follow Redis: SET-like commands store by shape (`int`/`embstr`/`raw`), APPEND
//! and SETRANGE leave a `raw` string, INCRBYFLOAT an `embstr`/`raw` one (never `int`), see
//! [`StrEncoding`]. Propagation forms (replication.md §4): SET/SETEX/PSETEX with an expiry
//! become `SET k v PXAT <abs-ms>`, SET's GET option is dropped, GETSET becomes SET, GETDEL
//! becomes DEL, GETEX becomes PEXPIREAT/PERSIST/DEL, INCRBYFLOAT becomes
//! `SET k v KEEPTTL`; writes that change nothing propagate nothing.

use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};

use super::long_double::LongDouble;
use super::{
    parse_i64, Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec, DENYOOM, FAST, READONLY,
    WRITE,
};
use crate::keyspace::ExpireMode;
use crate::notify;
use crate::value::{int_bytes, share_str, StrEncoding, Value};

/// Largest string a client may build with APPEND/SETRANGE (Redis's default
/// `proto-max-bulk-len`, 512 MB).
pub const PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

const SEC: bool = true;
const MS: bool = false;

pub static COMMANDS: &[Spec<Handler>] = &[
    spec("get", 2, READONLY | FAST, get),
    spec("set", -3, WRITE | DENYOOM, set),
    spec("setnx", 3, WRITE | DENYOOM | FAST, setnx),
    spec("setex", 4, WRITE | DENYOOM, setex),
    spec("psetex", 4, WRITE | DENYOOM, psetex),
    spec("getset", 3, WRITE | DENYOOM | FAST, getset),
    spec("getdel", 2, WRITE | FAST, getdel),
    spec("getex", -2, WRITE | FAST, getex),
    Spec {
        name: "mget",
        arity: -2,
        flags: READONLY | FAST,
        keys: KeySpec::ALL,
        run: mget,
    },
    Spec {
        name: "mset",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: KeySpec::Range {
            first: 1,
            last: -1,
            step: 2,
        },
        run: mset,
    },
    Spec {
        name: "msetnx",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: KeySpec::Range {
            first: 1,
            last: -1,
            step: 2,
        },
        run: msetnx,
    },
    spec("incr", 2, WRITE | DENYOOM | FAST, incr),
    spec("decr", 2, WRITE | DENYOOM | FAST, decr),
    spec("incrby", 3, WRITE | DENYOOM | FAST, incrby),
    spec("decrby", 3, WRITE | DENYOOM | FAST, decrby),
    spec("incrbyfloat", 3, WRITE | DENYOOM | FAST, incrbyfloat),
    spec("append", 3, WRITE | DENYOOM | FAST, append),
    spec("strlen", 2, READONLY | FAST, strlen),
    spec("getrange", 4, READONLY, getrange),
    spec("substr", 4, READONLY, getrange),
    spec("setrange", 4, WRITE | DENYOOM, setrange),
    Spec {
        name: "lcs",
        arity: -3,
        flags: READONLY,
        keys: KeySpec::FIRST_TWO,
        run: lcs,
    },
];

/// A command whose only key is its first argument.
const fn spec(name: &'static str, arity: i32, flags: u32, run: Handler) -> Spec<Handler> {
    super::spec(name, arity, flags, KeySpec::FIRST, run)
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Stores `v` at `key` keeping its TTL (Redis's `dbOverwrite`), or creates it.
fn overwrite(ctx: &mut Ctx, key: &[u8], v: Bytes, enc: StrEncoding) {
    let db = ctx.db;
    if let Some(e) = ctx.ks.lookup(db, key) {
        e.value = Value::Str(v);
        e.str_encoding = enc;
        return;
    }
    ctx.ks.set(db, key, Value::Str(v));
    if let Some(e) = ctx.ks.dbs[db].map.get_mut(key) {
        e.str_encoding = enc;
    }
}

/// Whether an absolute expiry time has already passed, so the key must be deleted now
/// instead (only a primary does that; replicas wait for the primary's DEL).
pub(crate) fn already_expired(ctx: &Ctx, when_ms: i64) -> bool {
    when_ms <= ctx.now_ms() && ctx.ks.mode == ExpireMode::Primary
}

/// The command a lazy deletion propagates as (`UNLINK` under `lazyfree-lazy-expire`).
pub(crate) fn del_command(ctx: &Ctx) -> Bytes {
    if ctx.ks.cfg.lazyfree_lazy_expire {
        b("UNLINK")
    } else {
        b("DEL")
    }
}

// ---- GET / SET family ----------------------------------------------------------------------

fn get(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    Ok(Executed::read(match ctx.get_str(key)? {
        Some(v) => Frame::Bulk(share_str(v, ..)),
        None => Frame::Null,
    }))
}

/// Options of SET (and GETEX, which takes only the expiry ones and PERSIST).
#[derive(Default)]
struct SetOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (argument, unit is seconds, absolute time)
    expire: Option<(&'a Bytes, bool, bool)>,
}

fn parse_set_opts<'a>(args: &mut Args<'a>, is_set: bool) -> Result<SetOpts<'a>, CmdError> {
    let mut o = SetOpts::default();
    // Which expiry option was given (EX PX EXAT PXAT), to reject mixing two kinds.
    let mut kind: Option<usize> = None;
    while args.has_more() {
        let opt = args.next_bytes()?;
        let is = |w: &str| opt.eq_ignore_ascii_case(w.as_bytes());
        let expiry_kind = ["EX", "PX", "EXAT", "PXAT"].iter().position(|w| is(w));
        if is_set && is("NX") && !o.xx {
            o.nx = true;
        } else if is_set && is("XX") && !o.nx {
            o.xx = true;
        } else if is_set && is("GET") {
            o.get = true;
        } else if is_set && is("KEEPTTL") && kind.is_none() {
            o.keepttl = true;
        } else if !is_set && is("PERSIST") && kind.is_none() {
            o.persist = true;
        } else if let Some(k) = expiry_kind.filter(|&k| {
            !o.keepttl && !o.persist && kind.is_none_or(|prev| prev == k) && args.has_more()
        }) {
            kind = Some(k);
            let arg = args.next_bytes()?;
            o.expire = Some((arg, k == 0 || k == 2, k >= 2));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// The absolute expiry in ms for SET/SETEX/PSETEX/GETEX, with Redis's checks: a positive
/// integer, no overflow when scaled or made absolute.
fn expire_at_ms(
    ctx: &Ctx,
    raw: &[u8],
    secs: bool,
    absolute: bool,
    cmd: &'static str,
) -> Result<i64, CmdError> {
    let v = parse_i64(raw).ok_or(CmdError::NotInteger)?;
    if v <= 0 || (secs && v > i64::MAX / 1000) {
        return Err(CmdError::InvalidExpire(cmd));
    }
    let ms = if secs { v * 1000 } else { v };
    if absolute {
        return Ok(ms);
    }
    ms.checked_add(ctx.now_ms())
        .filter(|&t| t > 0)
        .ok_or(CmdError::InvalidExpire(cmd))
}

/// What SET-like commands share. `expire` is already validated; `reply_ok`/`reply_abort`
/// are the replies when the key was set or not (SETNX answers 1/0).
struct SetCall<'a> {
    key: &'a Bytes,
    value: &'a Bytes,
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    expire_ms: Option<i64>,
}

/// Runs a SET; returns (whether the key was set, the old value for GET).
fn set_generic(ctx: &mut Ctx, c: &SetCall) -> Result<(bool, Option<Frame>), CmdError> {
    let old = if c.get {
        Some(read_str(ctx, c.key)?.map_or(Frame::Null, Frame::Bulk))
    } else {
        None
    };
    // Without NX/XX the lookup only matters for deleting (and propagating) an expired key,
    // which cannot exist while the database holds no TTLs.
    let found = if c.nx || c.xx || ctx.ks.dbs[ctx.db].expires_len() > 0 {
        ctx.exists(c.key)
    } else {
        false
    };
    if (c.nx && found) || (c.xx && !found) {
        return Ok((false, old));
    }
    let value = Value::Str(Bytes::copy_from_slice(c.value));
    if c.keepttl {
        ctx.ks.set_keep_ttl(ctx.db, c.key, value);
    } else {
        ctx.set(c.key, value);
    }
    ctx.notify(notify::STRING, "set", c.key);
    if let Some(ms) = c.expire_ms {
        ctx.ks.dbs[ctx.db].set_expire(c.key, Some(ms));
        ctx.notify(notify::GENERIC, "expire", c.key);
    }
    Ok((true, old))
}

fn set_pxat_argv(key: &Bytes, value: &Bytes, ms: i64) -> Vec<Bytes> {
    vec![
        b("SET"),
        key.clone(),
        value.clone(),
        b("PXAT"),
        int_bytes(ms),
    ]
}

fn set(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let value = args.next_bytes()?;
    let o = parse_set_opts(args, true)?;
    let expire_ms = match o.expire {
        Some((raw, secs, abs)) => Some(expire_at_ms(ctx, raw, secs, abs, "set")?),
        None => None,
    };
    let call = SetCall {
        key,
        value,
        nx: o.nx,
        xx: o.xx,
        get: o.get,
        keepttl: o.keepttl,
        expire_ms,
    };
    let (done, old) = set_generic(ctx, &call)?;
    let reply = old.unwrap_or(if done { Frame::OK } else { Frame::Null });
    if !done {
        return Ok(Executed::read(reply));
    }
    if let Some(ms) = expire_ms {
        return Ok(Executed::rewritten(reply, set_pxat_argv(key, value, ms)));
    }
    if o.get {
        let argv: Vec<Bytes> = args
            .argv()
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !a.eq_ignore_ascii_case(b"GET"))
            .map(|(_, a)| a.clone())
            .collect();
        return Ok(Executed::rewritten(reply, argv));
    }
    Ok(Executed::write(reply))
}

fn setnx(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let value = args.next_bytes()?;
    let call = SetCall {
        key,
        value,
        nx: true,
        xx: false,
        get: false,
        keepttl: false,
        expire_ms: None,
    };
    Ok(match set_generic(ctx, &call)?.0 {
        true => Executed::write(Frame::Integer(1)),
        false => Executed::read(Frame::Integer(0)),
    })
}

fn setex_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    secs: bool,
    cmd: &'static str,
) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let raw = args.next_bytes()?;
    let value = args.next_bytes()?;
    let ms = expire_at_ms(ctx, raw, secs, false, cmd)?;
    let call = SetCall {
        key,
        value,
        nx: false,
        xx: false,
        get: false,
        keepttl: false,
        expire_ms: Some(ms),
    };
    set_generic(ctx, &call)?;
    Ok(Executed::rewritten(
        Frame::OK,
        set_pxat_argv(key, value, ms),
    ))
}

fn setex(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    setex_generic(ctx, args, SEC, "setex")
}

fn psetex(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    setex_generic(ctx, args, MS, "psetex")
}

fn getset(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let value = args.next_bytes()?;
    let old = read_str(ctx, key)?.map_or(Frame::Null, Frame::Bulk);
    ctx.set(key, Value::Str(Bytes::copy_from_slice(value)));
    ctx.notify(notify::STRING, "set", key);
    Ok(Executed::rewritten(
        old,
        vec![b("SET"), key.clone(), value.clone()],
    ))
}

/// The string at `key` as GET reads it (a counted read), for the write commands that
/// start with a GET: SET ... GET, GETSET, GETDEL, GETEX.
fn read_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
    ctx.reading(|ctx| Ok(ctx.get_str(key)?.map(|v| share_str(v, ..))))
}

fn getdel(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let Some(v) = read_str(ctx, key)? else {
        return Ok(Executed::read(Frame::Null));
    };
    ctx.delete_raising(key);
    Ok(Executed::rewritten(
        Frame::Bulk(v),
        vec![b("DEL"), key.clone()],
    ))
}

fn getex(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let o = parse_set_opts(args, false)?;
    let Some(v) = read_str(ctx, key)? else {
        return Ok(Executed::read(Frame::Null));
    };
    let reply = Frame::Bulk(v);
    if let Some((raw, secs, abs)) = o.expire {
        let ms = expire_at_ms(ctx, raw, secs, abs, "getex")?;
        if abs && already_expired(ctx, ms) {
            ctx.delete_raising(key);
            return Ok(Executed::rewritten(
                reply,
                vec![del_command(ctx), key.clone()],
            ));
        }
        ctx.ks.dbs[ctx.db].set_expire(key, Some(ms));
        ctx.notify(notify::GENERIC, "expire", key);
        return Ok(Executed::rewritten(
            reply,
            vec![b("PEXPIREAT"), key.clone(), int_bytes(ms)],
        ));
    }
    if o.persist
        && ctx.ks.dbs[ctx.db]
            .get_with_expire(key)
            .is_some_and(|(_, at)| at.is_some())
    {
        ctx.ks.dbs[ctx.db].set_expire(key, None);
        ctx.notify(notify::GENERIC, "persist", key);
        return Ok(Executed::rewritten(reply, vec![b("PERSIST"), key.clone()]));
    }
    Ok(Executed::read(reply))
}

fn mget(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let out = args
        .take_rest()
        .iter()
        .map(|k| match ctx.get(k) {
            Some(Value::Str(s)) => Frame::Bulk(share_str(s, ..)),
            _ => Frame::Null,
        })
        .collect();
    Ok(Executed::read(Frame::Array(out)))
}

fn mset_pairs<'a>(args: &mut Args<'a>, cmd: &str) -> Result<&'a [Bytes], CmdError> {
    let rest = args.take_rest();
    if rest.len() & 1 == 1 {
        return Err(CmdError::WrongArity(cmd.to_string()));
    }
    Ok(rest)
}

fn mset(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    for kv in mset_pairs(args, "mset")?.chunks(2) {
        ctx.set(&kv[0], Value::Str(Bytes::copy_from_slice(&kv[1])));
        ctx.notify(notify::STRING, "set", &kv[0]);
    }
    Ok(Executed::write(Frame::OK))
}

fn msetnx(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let pairs = mset_pairs(args, "msetnx")?;
    if pairs.chunks(2).any(|kv| ctx.exists(&kv[0])) {
        return Ok(Executed::read(Frame::Integer(0)));
    }
    for kv in pairs.chunks(2) {
        ctx.set(&kv[0], Value::Str(Bytes::copy_from_slice(&kv[1])));
        ctx.notify(notify::STRING, "set", &kv[0]);
    }
    Ok(Executed::write(Frame::Integer(1)))
}

// ---- counters ------------------------------------------------------------------------------

fn incr_decr(ctx: &mut Ctx, args: &mut Args, by: i64) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let db = ctx.db;
    // One lookup: the value is replaced in place (what `overwrite` does for a live key).
    if let Some(e) = ctx.ks.lookup(db, key) {
        let Value::Str(v) = &e.value else {
            return Err(CmdError::WrongType);
        };
        let cur = parse_i64(v).ok_or(CmdError::NotInteger)?;
        let new = cur.checked_add(by).ok_or(CmdError::Overflow)?;
        e.value = Value::Str(int_bytes(new));
        e.str_encoding = StrEncoding::Auto;
        ctx.notify(notify::STRING, "incrby", key);
        return Ok(Executed::write(Frame::Integer(new)));
    }
    let new = 0i64.checked_add(by).ok_or(CmdError::Overflow)?;
    overwrite(ctx, key, int_bytes(new), StrEncoding::Auto);
    ctx.notify(notify::STRING, "incrby", key);
    Ok(Executed::write(Frame::Integer(new)))
}

fn incr(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    incr_decr(ctx, args, 1)
}

fn decr(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    incr_decr(ctx, args, -1)
}

fn incrby(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let by = parse_i64(&args.argv()[2]).ok_or(CmdError::NotInteger)?;
    incr_decr(ctx, args, by)
}

fn decrby(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let by = parse_i64(&args.argv()[2]).ok_or(CmdError::NotInteger)?;
    let by = by
        .checked_neg()
        .ok_or(CmdError::msg("decrement would overflow"))?;
    incr_decr(ctx, args, by)
}

fn incrbyfloat(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let incr = args.next_bytes()?;
    let current = match ctx.get_str(key)? {
        None => LongDouble::ZERO,
        Some(v) => LongDouble::parse(v).ok_or(CmdError::NotFloat)?,
    };
    let incr = LongDouble::parse(incr).ok_or(CmdError::NotFloat)?;
    // Unlike HINCRBYFLOAT, an infinite increment is only refused through the sum.
    let sum = current + incr;
    if !sum.is_finite() {
        return Err(CmdError::msg("increment would produce NaN or Infinity"));
    }
    let new = sum.format_human();
    overwrite(ctx, key, new.clone(), StrEncoding::NoInt);
    ctx.notify(notify::STRING, "incrbyfloat", key);
    Ok(Executed::rewritten(
        Frame::Bulk(new.clone()),
        vec![b("SET"), key.clone(), new, b("KEEPTTL")],
    ))
}

// ---- APPEND / ranges -----------------------------------------------------------------------

/// Whether the command comes from the primary's stream (Redis's `mustObeyClient`): size
/// limits such as `proto-max-bulk-len` are not applied to it.
pub(crate) fn obeys_primary(ctx: &Ctx) -> bool {
    ctx.ks.mode == ExpireMode::ReplicaApply
}

/// Redis's `checkStringLength`: the primary's stream is always obeyed.
fn check_string_length(ctx: &Ctx, size: u64, append: u64) -> Result<(), CmdError> {
    if obeys_primary(ctx) {
        return Ok(());
    }
    match size.checked_add(append) {
        Some(total) if total <= PROTO_MAX_BULK_LEN => Ok(()),
        _ => Err(CmdError::msg(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

fn append(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let tail = args.next_bytes()?;
    let Some(cur) = ctx.get_str(key)? else {
        ctx.set(key, Value::Str(Bytes::copy_from_slice(tail)));
        ctx.notify(notify::STRING, "append", key);
        return Ok(Executed::write(Frame::Integer(tail.len() as i64)));
    };
    let cur_len = cur.len();
    check_string_length(ctx, cur_len as u64, tail.len() as u64)?;
    let mut v = Vec::with_capacity(cur_len + tail.len());
    if let Some(cur) = ctx.get_str(key)? {
        v.extend_from_slice(cur);
    }
    v.extend_from_slice(tail);
    let len = v.len() as i64;
    overwrite(ctx, key, Bytes::from(v), StrEncoding::Raw);
    ctx.notify(notify::STRING, "append", key);
    Ok(Executed::write(Frame::Integer(len)))
}

fn strlen(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let n = ctx.get_str(key)?.map_or(0, |v| v.len());
    Ok(Executed::read(Frame::Integer(n as i64)))
}

fn getrange(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let mut start = args.next_i64()?;
    let mut end = args.next_i64()?;
    let empty = Executed::read(Frame::Bulk(Bytes::new()));
    let Some(v) = ctx.get_str(key)? else {
        return Ok(empty);
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(empty);
    }
    if start < 0 {
        start = (len + start).max(0);
    }
    if end < 0 {
        end = (len + end).max(0);
    }
    end = end.min(len - 1);
    if start > end || len == 0 {
        return Ok(empty);
    }
    Ok(Executed::read(Frame::Bulk(share_str(
        v,
        start as usize..=end as usize,
    ))))
}

fn setrange(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let offset = args.next_i64()?;
    let value = args.next_bytes()?;
    if offset < 0 {
        return Err(CmdError::msg("offset is out of range"));
    }
    let offset = offset as u64;
    let cur = ctx.get_str(key)?.cloned();
    let cur_len = cur.as_ref().map_or(0, |c| c.len());
    if value.is_empty() {
        return Ok(Executed::read(Frame::Integer(cur_len as i64)));
    }
    check_string_length(ctx, offset, value.len() as u64)?;
    let offset = offset as usize;
    let new_len = cur_len.max(offset + value.len());
    let mut v = Vec::with_capacity(new_len);
    if let Some(c) = &cur {
        v.extend_from_slice(c);
    }
    v.resize(new_len, 0);
    v[offset..offset + value.len()].copy_from_slice(value);
    overwrite(ctx, key, Bytes::from(v), StrEncoding::Raw);
    ctx.notify(notify::STRING, "setrange", key);
    Ok(Executed::write(Frame::Integer(new_len as i64)))
}

// ---- LCS -----------------------------------------------------------------------------------

fn lcs(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let ka = args.next_bytes()?;
    let kb = args.next_bytes()?;
    let fetch = |ctx: &mut Ctx, k: &[u8]| -> Result<Bytes, CmdError> {
        match ctx.get(k) {
            None => Ok(Bytes::new()),
            Some(Value::Str(s)) => Ok(share_str(s, ..)),
            Some(_) => Err(CmdError::msg(
                "The specified keys must contain string values",
            )),
        }
    };
    // Both keys are looked up before either type is checked, as in Redis.
    let (a, bv) = (fetch(ctx, ka), fetch(ctx, kb));
    let (a, bv) = (a?, bv?);
    let (mut want_idx, mut want_len, mut with_match_len, mut min_match) =
        (false, false, false, 0i64);
    while args.has_more() {
        if args.eat("IDX") {
            want_idx = true;
        } else if args.eat("LEN") {
            want_len = true;
        } else if args.eat("WITHMATCHLEN") {
            with_match_len = true;
        } else if args.remaining() >= 2 && args.eat("MINMATCHLEN") {
            min_match = args.next_i64()?.max(0);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if want_idx && want_len {
        return Err(CmdError::msg(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let cells = (a.len() as u64 + 1)
        .saturating_mul(bv.len() as u64 + 1)
        .saturating_mul(4);
    if cells > PROTO_MAX_BULK_LEN {
        return Err(CmdError::msg(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let table = LcsTable::new(&a, &bv);
    let total = table.at(a.len(), bv.len());
    if want_len {
        return Ok(Executed::read(Frame::Integer(total as i64)));
    }
    let (seq, ranges) = table.walk(&a, &bv);
    if !want_idx {
        return Ok(Executed::read(Frame::Bulk(Bytes::from(seq))));
    }
    let matches = ranges
        .into_iter()
        .filter(|r| min_match == 0 || r.len() as i64 >= min_match)
        .map(|r| {
            let mut item = vec![
                Frame::Array(vec![
                    Frame::Integer(r.a.0 as i64),
                    Frame::Integer(r.a.1 as i64),
                ]),
                Frame::Array(vec![
                    Frame::Integer(r.b.0 as i64),
                    Frame::Integer(r.b.1 as i64),
                ]),
            ];
            if with_match_len {
                item.push(Frame::Integer(r.len() as i64));
            }
            Frame::Array(item)
        })
        .collect();
    let pairs = vec![
        (Frame::Bulk(b("matches")), Frame::Array(matches)),
        (Frame::Bulk(b("len")), Frame::Integer(total as i64)),
    ];
    Ok(Executed::read(match ctx.protocol {
        Protocol::Resp3 => Frame::Map(pairs),
        Protocol::Resp2 => Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
    }))
}

/// The dynamic-programming table of LCS lengths: `at(i, j)` is the LCS length of `a[..i]`
/// and `b[..j]`.
struct LcsTable {
    cols: usize,
    cells: Vec<u32>,
}

/// A matched run: inclusive index ranges in both strings.
struct LcsRange {
    a: (usize, usize),
    b: (usize, usize),
}

impl LcsRange {
    fn len(&self) -> usize {
        self.a.1 - self.a.0 + 1
    }
}

impl LcsTable {
    fn new(a: &[u8], b: &[u8]) -> LcsTable {
        let cols = b.len() + 1;
        let mut cells = vec![0u32; (a.len() + 1) * cols];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * cols + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * cols + j - 1] + 1
                } else {
                    cells[(i - 1) * cols + j].max(cells[i * cols + j - 1])
                };
            }
        }
        LcsTable { cols, cells }
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.cols + j]
    }

    /// Walks back from the end as Redis does (on a mismatch it steps in `a` only when that
    /// keeps a strictly longer LCS, else in `b`), collecting the sequence and the matched
    /// runs, last run first.
    fn walk(&self, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<LcsRange>) {
        let mut seq = Vec::with_capacity(self.at(a.len(), b.len()) as usize);
        let mut ranges = Vec::new();
        let mut cur: Option<LcsRange> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                seq.push(a[i - 1]);
                match &mut cur {
                    Some(r) => {
                        r.a.0 = i - 1;
                        r.b.0 = j - 1;
                    }
                    None => {
                        cur = Some(LcsRange {
                            a: (i - 1, i - 1),
                            b: (j - 1, j - 1),
                        })
                    }
                }
                i -= 1;
                j -= 1;
                if i == 0 || j == 0 {
                    ranges.extend(cur.take());
                }
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                ranges.extend(cur.take());
            }
        }
        seq.reverse();
        (seq, ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testkit::Kit;
    use crate::cmd::Propagate;

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

    fn argv(s: &str) -> Vec<Bytes> {
        s.split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn put_list(kit: &mut Kit, key: &str) {
        let mut l = crate::value::ListValue::default();
        l.push(crate::value::list::End::Right, b"x");
        kit.ks.set(0, key.as_bytes(), Value::List(Box::new(l)));
    }

    fn prop(kit: &mut Kit, line: &str) -> Propagate {
        kit.exec(line).expect("command ok").propagate
    }

    fn rewritten(line: &str) -> Propagate {
        Propagate::Rewritten(vec![argv(line)])
    }

    #[test]
    fn incrbyfloat_replies_errors_and_propagates_set_keepttl() {
        let mut k = Kit::new();
        k.run("SET f 10.50");
        k.run("PEXPIRE f 5000");
        let e = k.exec("INCRBYFLOAT f 0.1").unwrap();
        assert_eq!(e.reply, bulk("10.6"));
        assert_eq!(e.propagate, rewritten("SET f 10.6 KEEPTTL"));
        assert_eq!(k.ks.ttl_ms(0, b"f"), Some(Some(5000)));
        assert_eq!(k.run("INCRBYFLOAT n 3"), bulk("3"));
        assert_eq!(k.encoding("n"), "embstr");
        assert_eq!(
            k.run("INCRBYFLOAT n abc"),
            err("ERR value is not a valid float")
        );
        k.run("SET s abc");
        assert_eq!(
            k.run("INCRBYFLOAT s 1"),
            err("ERR value is not a valid float")
        );
        assert_eq!(
            k.run("INCRBYFLOAT n inf"),
            err("ERR increment would produce NaN or Infinity")
        );
        put_list(&mut k, "l");
        assert_eq!(
            k.run("INCRBYFLOAT l 1"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
    }

    #[test]
    fn get_set_basics_and_encodings() {
        let mut k = Kit::new();
        assert_eq!(k.run("GET a"), Frame::Null);
        assert_eq!(k.run("SET a 123"), Frame::OK);
        assert_eq!(k.encoding("a"), "int");
        assert_eq!(k.run("GET a"), bulk("123"));
        k.run("SET b hello");
        assert_eq!(k.encoding("b"), "embstr");
        let long = "x".repeat(45);
        k.run(&format!("SET c {long}"));
        assert_eq!(k.encoding("c"), "raw");
        assert_eq!(k.run("APPEND b !"), int(6));
        assert_eq!(k.encoding("b"), "raw");
        assert_eq!(k.run("APPEND new 5"), int(1));
        assert_eq!(k.encoding("new"), "int");
        assert_eq!(k.run("APPEND new 1"), int(2));
        assert_eq!(k.encoding("new"), "raw");
        assert_eq!(k.run("INCR new"), int(52));
        assert_eq!(k.encoding("new"), "int");
        assert_eq!(k.run("SETRANGE sr 2 ab"), int(4));
        assert_eq!(k.run("GET sr"), bulk("\0\0ab"));
        assert_eq!(k.encoding("sr"), "raw");
        k.run("SET b hello");
        assert_eq!(k.encoding("b"), "embstr");
        put_list(&mut k, "l");
        assert_eq!(
            k.run("GET l"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
    }

    #[test]
    fn set_options() {
        let mut k = Kit::new();
        assert_eq!(k.run("SET a 1 NX"), Frame::OK);
        assert_eq!(k.run("SET a 2 NX"), Frame::Null);
        assert_eq!(k.run("SET b 2 XX"), Frame::Null);
        assert_eq!(k.run("SET a 3 XX GET"), bulk("1"));
        assert_eq!(k.run("SET z 3 GET"), Frame::Null);
        assert_eq!(k.run("SET a 4 NX GET"), bulk("3"));
        assert_eq!(k.run("GET a"), bulk("3"));
        assert_eq!(k.run("SET a 1 EX 10 EX 20"), Frame::OK);
        assert_eq!(k.ks.ttl_ms(0, b"a"), Some(Some(20_000)));
        assert_eq!(k.run("SET a 1 KEEPTTL"), Frame::OK);
        assert_eq!(k.ks.ttl_ms(0, b"a"), Some(Some(20_000)));
        assert_eq!(k.run("SET a 1"), Frame::OK);
        assert_eq!(k.ks.ttl_ms(0, b"a"), Some(None));
        for bad in [
            "SET a 1 NX XX",
            "SET a 1 EX 10 PX 100",
            "SET a 1 KEEPTTL EX 1",
            "SET a 1 EX 1 KEEPTTL",
            "SET a 1 EX",
            "SET a 1 PERSIST",
            "SET a 1 FOO",
        ] {
            assert_eq!(k.run(bad), err("ERR syntax error"), "{bad}");
        }
        assert_eq!(
            k.run("SET a 1 EX abc"),
            err("ERR value is not an integer or out of range")
        );
        for bad in [
            "SET a 1 EX 0",
            "SET a 1 PX -1",
            "SET a 1 EX 9223372036854776",
            "SET a 1 EX 9223372036854775",
            "SET a 1 PX 9223372036854775807",
        ] {
            assert_eq!(
                k.run(bad),
                err("ERR invalid expire time in 'set' command"),
                "{bad}"
            );
        }
        assert_eq!(k.run("SET a 1 EXAT 9223372036854775"), Frame::OK);
        assert_eq!(k.run("SET a 1 PXAT 9223372036854775807"), Frame::OK);
        put_list(&mut k, "l");
        assert_eq!(
            k.run("SET l 1 GET"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(k.run("SET l 1"), Frame::OK);
    }

    #[test]
    fn set_propagation_forms() {
        let mut k = Kit::new();
        assert_eq!(prop(&mut k, "SET a 1"), Propagate::AsIs);
        assert_eq!(
            prop(&mut k, "SET a 1 EX 100"),
            rewritten(&format!("SET a 1 PXAT {}", NOW + 100_000))
        );
        assert_eq!(prop(&mut k, "SET a 1 NX PX 5 GET"), Propagate::Nothing);
        assert_eq!(
            prop(&mut k, "SET a 1 XX PXAT 99999999999999 get"),
            rewritten("SET a 1 PXAT 99999999999999")
        );
        assert_eq!(prop(&mut k, "SET a 2 get xx GET"), rewritten("SET a 2 xx"));
        assert_eq!(
            prop(&mut k, "SET b 2 keepttl GET"),
            rewritten("SET b 2 keepttl")
        );
        assert_eq!(prop(&mut k, "SET b 2 XX"), Propagate::AsIs);
        assert_eq!(prop(&mut k, "SET c 2 XX"), Propagate::Nothing);
        assert_eq!(
            prop(&mut k, "SETEX s 10 v"),
            rewritten(&format!("SET s v PXAT {}", NOW + 10_000))
        );
        assert_eq!(
            prop(&mut k, "PSETEX s 10 v"),
            rewritten(&format!("SET s v PXAT {}", NOW + 10))
        );
        assert_eq!(prop(&mut k, "SETNX s v"), Propagate::Nothing);
        assert_eq!(prop(&mut k, "SETNX t v"), Propagate::AsIs);
        assert_eq!(prop(&mut k, "GETSET t w"), rewritten("SET t w"));
        assert_eq!(prop(&mut k, "MSET x 1 y 2"), Propagate::AsIs);
        assert_eq!(prop(&mut k, "MSETNX x 1 z 2"), Propagate::Nothing);
        assert_eq!(prop(&mut k, "MSETNX w 1 z 2"), Propagate::AsIs);
    }

    #[test]
    fn set_in_the_past_stores_then_expires_on_access() {
        let mut k = Kit::new();
        assert_eq!(k.run("SET d 1 PXAT 1"), Frame::OK);
        assert_eq!(k.run("GET d"), Frame::Null);
        assert_eq!(k.ks.expired, vec![(0, Bytes::from_static(b"d"))]);
    }

    #[test]
    fn setex_psetex_setnx_getset() {
        let mut k = Kit::new();
        assert_eq!(k.run("SETEX s 10 v"), Frame::OK);
        assert_eq!(k.ks.ttl_ms(0, b"s"), Some(Some(10_000)));
        assert_eq!(k.run("PSETEX s 10 v"), Frame::OK);
        assert_eq!(k.ks.ttl_ms(0, b"s"), Some(Some(10)));
        assert_eq!(
            k.run("SETEX s 0 v"),
            err("ERR invalid expire time in 'setex' command")
        );
        assert_eq!(
            k.run("PSETEX s -5 v"),
            err("ERR invalid expire time in 'psetex' command")
        );
        assert_eq!(
            k.run("SETEX s x v"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(k.run("SETNX s w"), int(0));
        assert_eq!(k.run("SETNX n w"), int(1));
        assert_eq!(k.run("GETSET s z"), bulk("v"));
        assert_eq!(k.ks.ttl_ms(0, b"s"), Some(None));
        assert_eq!(k.run("GETSET q z"), Frame::Null);
        assert_eq!(
            k.run("SETEX"),
            err("ERR wrong number of arguments for 'setex' command")
        );
    }

    #[test]
    fn getdel_and_getex() {
        let mut k = Kit::new();
        k.run("SET a 1");
        let e = k.exec("GETDEL a").unwrap();
        assert_eq!((e.reply, e.propagate), (bulk("1"), rewritten("DEL a")));
        let e = k.exec("GETDEL a").unwrap();
        assert_eq!((e.reply, e.propagate), (Frame::Null, Propagate::Nothing));
        k.run("SET a 1");
        let e = k.exec("GETEX a EX 100").unwrap();
        assert_eq!(e.reply, bulk("1"));
        assert_eq!(
            e.propagate,
            rewritten(&format!("PEXPIREAT a {}", NOW + 100_000))
        );
        assert_eq!(prop(&mut k, "GETEX a PERSIST"), rewritten("PERSIST a"));
        assert_eq!(prop(&mut k, "GETEX a PERSIST"), Propagate::Nothing);
        assert_eq!(prop(&mut k, "GETEX a"), Propagate::Nothing);
        assert_eq!(
            prop(&mut k, "GETEX a PXAT 99999999999999"),
            rewritten("PEXPIREAT a 99999999999999")
        );
        assert_eq!(prop(&mut k, "GETEX a EXAT 1"), rewritten("DEL a"));
        assert_eq!(k.run("EXISTS a"), int(0));
        assert_eq!(k.run("GETEX a EX abc"), Frame::Null);
        k.run("SET a 1");
        assert_eq!(
            k.run("GETEX a EX abc"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            k.run("GETEX a EX 0"),
            err("ERR invalid expire time in 'getex' command")
        );
        assert_eq!(k.run("GETEX a PERSIST EX 10"), err("ERR syntax error"));
        assert_eq!(k.run("GETEX a KEEPTTL"), err("ERR syntax error"));
        assert_eq!(k.run("GETEX a NX"), err("ERR syntax error"));
        k.ks.cfg.lazyfree_lazy_expire = true;
        assert_eq!(prop(&mut k, "GETEX a PXAT 5"), rewritten("UNLINK a"));
    }

    #[test]
    fn mget_mset_msetnx() {
        let mut k = Kit::new();
        assert_eq!(k.run("MSET a 1 b 2"), Frame::OK);
        put_list(&mut k, "l");
        assert_eq!(
            k.run("MGET a l nokey b"),
            Frame::Array(vec![bulk("1"), Frame::Null, Frame::Null, bulk("2")])
        );
        assert_eq!(
            k.run("MSET a 1 b"),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            k.run("MSETNX a 1 b"),
            err("ERR wrong number of arguments for 'msetnx' command")
        );
        assert_eq!(k.run("MSETNX a 5 c 3"), int(0));
        assert_eq!(k.run("GET c"), Frame::Null);
        assert_eq!(k.run("MSETNX c 3 d 4"), int(1));
        assert_eq!(k.run("GET d"), bulk("4"));
    }

    #[test]
    fn counters() {
        let mut k = Kit::new();
        assert_eq!(k.run("INCR n"), int(1));
        assert_eq!(k.run("INCRBY n 10"), int(11));
        assert_eq!(k.run("DECR n"), int(10));
        assert_eq!(k.run("DECRBY n 20"), int(-10));
        k.run("PEXPIRE n 1000");
        assert_eq!(k.run("INCR n"), int(-9));
        assert_eq!(k.ks.ttl_ms(0, b"n"), Some(Some(1000)));
        k.run("SET m 9223372036854775807");
        assert_eq!(
            k.run("INCR m"),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(
            k.run("DECRBY m -9223372036854775808"),
            err("ERR decrement would overflow")
        );
        assert_eq!(
            k.run("INCRBY m abc"),
            err("ERR value is not an integer or out of range")
        );
        k.run("SET s 01");
        assert_eq!(
            k.run("INCR s"),
            err("ERR value is not an integer or out of range")
        );
        put_list(&mut k, "l");
        assert_eq!(
            k.run("INCRBY l x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            k.run("INCR l"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(prop(&mut k, "INCRBY n 1"), Propagate::AsIs);
    }

    #[test]
    fn strlen_getrange_substr() {
        let mut k = Kit::new();
        k.run("SET s Hello,World");
        assert_eq!(k.run("STRLEN s"), int(11));
        assert_eq!(k.run("STRLEN none"), int(0));
        for (range, want) in [
            ("0 4", "Hello"),
            ("-5 -1", "World"),
            ("-1 -5", ""),
            ("5 2", ""),
            ("0 100", "Hello,World"),
            ("-100 2", "Hel"),
            ("-100 -50", "H"),
            ("20 30", ""),
        ] {
            assert_eq!(k.run(&format!("GETRANGE s {range}")), bulk(want), "{range}");
        }
        assert_eq!(k.run("SUBSTR s 0 1"), bulk("He"));
        assert_eq!(k.run("GETRANGE none 0 1"), bulk(""));
        assert_eq!(
            k.run("GETRANGE s a 1"),
            err("ERR value is not an integer or out of range")
        );
    }

    #[test]
    fn setrange_and_append_limits() {
        let mut k = Kit::new();
        k.run("SET s Hello");
        assert_eq!(k.run("SETRANGE s 1 a"), int(5));
        assert_eq!(k.run("GET s"), bulk("Hallo"));
        assert_eq!(k.run("SETRANGE s -1 a"), err("ERR offset is out of range"));
        assert_eq!(
            k.run("SETRANGE s 536870912 a"),
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        );
        let e = k
            .exec_argv(&[b("SETRANGE"), b("s"), b("100"), Bytes::new()])
            .unwrap();
        assert_eq!((e.reply, e.propagate), (int(5), Propagate::Nothing));
        let e = k
            .exec_argv(&[b("SETRANGE"), b("none"), b("100"), Bytes::new()])
            .unwrap();
        assert_eq!(e.reply, int(0));
        assert_eq!(k.run("EXISTS none"), int(0));
        put_list(&mut k, "l");
        assert_eq!(
            k.run("SETRANGE l 0 x"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(k.run("SETRANGE l -1 x"), err("ERR offset is out of range"));
        let mut kit = Kit::new();
        let ctx = Ctx {
            ks: &mut kit.ks,
            db: 0,
            protocol: Protocol::Resp2,
            no_block: false,
            rng: &mut kit.rng,
        };
        assert!(check_string_length(&ctx, PROTO_MAX_BULK_LEN, 1).is_err());
        assert!(check_string_length(&ctx, PROTO_MAX_BULK_LEN - 1, 1).is_ok());
        ctx.ks.mode = ExpireMode::ReplicaApply;
        assert!(check_string_length(&ctx, PROTO_MAX_BULK_LEN, 1).is_ok());
    }

    #[test]
    fn lcs_variants() {
        let mut k = Kit::new();
        k.run("MSET key1 ohmytext key2 mynewtext");
        assert_eq!(k.run("LCS key1 key2"), bulk("mytext"));
        assert_eq!(k.run("LCS key1 key2 LEN"), int(6));
        let pair = |a: i64, b: i64| Frame::Array(vec![int(a), int(b)]);
        assert_eq!(
            k.run("LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN"),
            Frame::Array(vec![
                bulk("matches"),
                Frame::Array(vec![Frame::Array(vec![pair(4, 7), pair(5, 8), int(4)])]),
                bulk("len"),
                int(6),
            ])
        );
        assert_eq!(
            k.run("LCS key1 key2 IDX"),
            Frame::Array(vec![
                bulk("matches"),
                Frame::Array(vec![
                    Frame::Array(vec![pair(4, 7), pair(5, 8)]),
                    Frame::Array(vec![pair(2, 3), pair(0, 1)]),
                ]),
                bulk("len"),
                int(6),
            ])
        );
        assert_eq!(
            k.run("LCS key1 key2 IDX LEN"),
            err("ERR If you want both the length and indexes, please just use IDX.")
        );
        assert_eq!(k.run("LCS key1 key2 FOO"), err("ERR syntax error"));
        assert_eq!(k.run("LCS key1 key2 MINMATCHLEN"), err("ERR syntax error"));
        assert_eq!(k.run("LCS none key2"), bulk(""));
        put_list(&mut k, "l");
        assert_eq!(
            k.run("LCS l key2"),
            err("ERR The specified keys must contain string values")
        );
    }
}
