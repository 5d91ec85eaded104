//! `DUMP` and `RESTORE`: one value in the RDB payload form real Redis 7.0 produces and
//! accepts (see `snapshot::dump_value` / `snapshot::restore_value`).
//!
//! `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`, in Redis's order of
//! checks: options, then `BUSYKEY` (the key exists and no `REPLACE`), then the TTL, then the
//! payload footer ("DUMP payload version or checksum are wrong"), then the body ("Bad data
//! format").
//!
//! Propagation, as Redis does it:
//! - a relative TTL is replaced by the absolute expire time and `ABSTTL` is appended, so a
//!   replica sets the same instant;
//! - a TTL already in the past (on a primary) stores nothing: with `REPLACE` over an existing
//!   key the command propagates as `DEL key`, otherwise as nothing.
//!
//! ## Deviations
//!
//! - `DUMP` always LZF-compresses long strings (Redis honours `rdbcompression`, which is not
//!   part of the store's config).

use bytes::Bytes;
use ferrokv_proto::resp::Frame;

use super::{Args, CmdError, Ctx, Executed, Handler, KeySpec, Spec, DENYOOM, READONLY, WRITE};
use crate::evict::{access_with_freq, access_with_idle};
use crate::snapshot::{dump_value, restore_value, RestoreError};

pub static COMMANDS: &[Spec<Handler>] = &[
    Spec {
        name: "dump",
        arity: 2,
        flags: READONLY,
        keys: KeySpec::FIRST,
        run: dump,
    },
    Spec {
        name: "restore",
        arity: -4,
        flags: WRITE | DENYOOM,
        keys: KeySpec::FIRST,
        run: restore,
    },
];

fn dump(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let Some(value) = ctx.get(key) else {
        return Ok(Executed::read(Frame::Null));
    };
    let payload =
        dump_value(value, true).map_err(|e| CmdError::msg_owned(format!("DUMP failed: {e}")))?;
    Ok(Executed::read(Frame::Bulk(payload)))
}

/// How the restored key's access clock is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Fresh,
    IdleSecs(i64),
    Freq(u8),
}

fn restore(ctx: &mut Ctx, args: &mut Args) -> Result<Executed, CmdError> {
    let key = args.next_bytes()?;
    let ttl_arg = args.next_bytes()?;
    let payload = args.next_bytes()?;
    let mut replace = false;
    let mut absttl = false;
    let mut access = Access::Fresh;
    while args.has_more() {
        if args.eat("replace") {
            replace = true;
        } else if args.eat("absttl") {
            absttl = true;
        } else if args.remaining() >= 2
            && !matches!(access, Access::Freq(_))
            && args.eat("idletime")
        {
            let idle = args.next_i64()?;
            if idle < 0 {
                return Err(CmdError::msg("Invalid IDLETIME value, must be >= 0"));
            }
            access = Access::IdleSecs(idle);
        } else if args.remaining() >= 2
            && !matches!(access, Access::IdleSecs(_))
            && args.eat("freq")
        {
            let freq = args.next_i64()?;
            if !(0..=255).contains(&freq) {
                return Err(CmdError::msg("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            access = Access::Freq(freq as u8);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if !replace && ctx.exists(key) {
        return Err(CmdError::BusyKey);
    }
    let mut ttl = super::parse_i64(ttl_arg).ok_or(CmdError::NotInteger)?;
    if ttl < 0 {
        return Err(CmdError::msg("Invalid TTL value, must be >= 0"));
    }
    let value = restore_value(payload, &ctx.ks.cfg).map_err(|e| match e {
        RestoreError::Footer(_) => CmdError::msg("DUMP payload version or checksum are wrong"),
        RestoreError::BadData(_) => CmdError::msg("Bad data format"),
    })?;
    let deleted = replace && ctx.delete(key);
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(ctx.now_ms());
    }
    // Redis's checkAlreadyExpired: only a primary drops a key born expired.
    if ttl != 0 && super::string::already_expired(ctx, ttl) {
        if deleted {
            ctx.notify(crate::notify::GENERIC, "del", key);
            return Ok(Executed::rewritten(
                Frame::OK,
                vec![Bytes::from_static(b"DEL"), key.clone()],
            ));
        }
        return Ok(Executed::read(Frame::OK));
    }
    ctx.set(key, value);
    let db = ctx.db;
    if ttl != 0 {
        ctx.ks.db_mut(db).set_expire(key, Some(ttl));
    }
    set_access(ctx, key, access);
    ctx.notify(crate::notify::GENERIC, "restore", key);
    if ttl != 0 && !absttl {
        let mut argv = args.argv().to_vec();
        argv[2] = Bytes::from(ttl.to_string());
        argv.push(Bytes::from_static(b"ABSTTL"));
        return Ok(Executed::rewritten(Frame::OK, argv));
    }
    Ok(Executed::write(Frame::OK))
}

/// Applies `IDLETIME` (when the policy is not LFU) or `FREQ` (when it is), as Redis's
/// `objectSetLRUOrLFU`.
fn set_access(ctx: &mut Ctx, key: &[u8], access: Access) {
    let lfu = ctx.ks.cfg.maxmemory_policy.is_lfu();
    let clock = ctx.ks.lru_clock;
    let db = ctx.db;
    let Some(entry) = ctx.ks.db_mut(db).map.get_mut(key) else {
        return;
    };
    match access {
        Access::Freq(f) if lfu => entry.access = access_with_freq(clock, f),
        // IDLETIME was checked to be >= 0.
        Access::IdleSecs(idle) if !lfu => entry.access = access_with_idle(clock, idle as u64),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testkit::Kit;
    use crate::cmd::Propagate;
    use crate::config::EvictionPolicy;

    fn dump_of(kit: &mut Kit, key: &str) -> Bytes {
        match kit.run(&format!("DUMP {key}")) {
            Frame::Bulk(b) => b,
            other => panic!("DUMP {key}: {other:?}"),
        }
    }

    fn restore(kit: &mut Kit, args: &[&[u8]]) -> Result<Executed, CmdError> {
        let mut argv = vec![Bytes::from_static(b"RESTORE")];
        argv.extend(args.iter().map(|a| Bytes::copy_from_slice(a)));
        kit.exec_argv(&argv)
    }

    fn line(r: Result<Executed, CmdError>) -> String {
        match r {
            Ok(e) => format!("{:?}", e.reply),
            Err(e) => e.to_line(),
        }
    }

    #[test]
    fn dump_of_a_missing_key_is_nil() {
        let mut kit = Kit::new();
        assert_eq!(kit.run("DUMP nope"), Frame::Null);
    }

    #[test]
    fn dump_matches_redis_bytes() {
        let mut kit = Kit::new();
        kit.run("SET s 12345");
        let want = b"\x00\xc1\x39\x30\x0a\x00\x9d\x94\xea\x27\x93\xfc\x08\xb9";
        assert_eq!(&dump_of(&mut kit, "s")[..], &want[..]);
    }

    #[test]
    fn restore_round_trips_every_type() {
        let mut kit = Kit::new();
        for cmd in [
            "SET s hello",
            "RPUSH l a b c",
            "SADD si 1 2 3",
            "SADD ss a b",
            "ZADD z 1 a 2 b",
            "HSET h f v",
        ] {
            kit.run(cmd);
        }
        for key in ["s", "l", "si", "ss", "z", "h"] {
            let payload = dump_of(&mut kit, key);
            let copy = format!("{key}-copy");
            assert_eq!(
                line(restore(&mut kit, &[copy.as_bytes(), b"0", &payload])),
                "Simple(b\"OK\")"
            );
            assert_eq!(dump_of(&mut kit, &copy), payload, "{key}");
        }
        assert_eq!(kit.run("LRANGE l-copy 0 -1"), kit.run("LRANGE l 0 -1"));
        assert_eq!(kit.run("OBJECT ENCODING si-copy"), Frame::bulk("intset"));
    }

    #[test]
    fn errors_come_in_redis_order() {
        let mut kit = Kit::new();
        kit.run("SET s 12345");
        let p = dump_of(&mut kit, "s");
        let cases: &[(&[&[u8]], &str)] = &[
            (
                &[b"s", b"abc", &p],
                "BUSYKEY Target key name already exists.",
            ),
            (
                &[b"n", b"abc", &p],
                "ERR value is not an integer or out of range",
            ),
            (&[b"n", b"-1", &p], "ERR Invalid TTL value, must be >= 0"),
            (&[b"n", b"0", &p, b"foo"], "ERR syntax error"),
            (&[b"s", b"0", &p, b"foo"], "ERR syntax error"),
            (
                &[b"n", b"0", &p, b"idletime", b"-1"],
                "ERR Invalid IDLETIME value, must be >= 0",
            ),
            (
                &[b"n", b"0", &p, b"idletime", b"x"],
                "ERR value is not an integer or out of range",
            ),
            (
                &[b"n", b"0", &p, b"freq", b"256"],
                "ERR Invalid FREQ value, must be >= 0 and <= 255",
            ),
            (
                &[b"n", b"0", &p, b"freq", b"1", b"idletime", b"1"],
                "ERR syntax error",
            ),
            (&[b"n", b"0", &p, b"idletime"], "ERR syntax error"),
            (
                &[b"n", b"0", b"xx"],
                "ERR DUMP payload version or checksum are wrong",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(line(restore(&mut kit, args)), *want, "{args:?}");
        }
        // Correct footer, undecodable body.
        let mut body = vec![0x02, 0x05, 0x01, b'a', 0x0a, 0x00];
        let crc = ferrokv_proto::rdb::crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            line(restore(&mut kit, &[b"n", b"0", &body])),
            "ERR Bad data format"
        );
        assert_eq!(kit.run("EXISTS n"), Frame::Integer(0));
    }

    #[test]
    fn relative_ttl_propagates_as_absttl() {
        let mut kit = Kit::new();
        kit.run("SET s v");
        let p = dump_of(&mut kit, "s");
        let e = restore(&mut kit, &[b"t", b"5000", &p, b"REPLACE"]).unwrap();
        let abs = (kit.ks.now_ms + 5000).to_string();
        assert_eq!(
            e.propagate,
            Propagate::Rewritten(vec![vec![
                Bytes::from_static(b"RESTORE"),
                Bytes::from_static(b"t"),
                Bytes::from(abs.clone()),
                p.clone(),
                Bytes::from_static(b"REPLACE"),
                Bytes::from_static(b"ABSTTL"),
            ]])
        );
        assert_eq!(kit.run("PTTL t"), Frame::Integer(5000));
        let e = restore(&mut kit, &[b"u", abs.as_bytes(), &p, b"ABSTTL"]).unwrap();
        assert_eq!(e.propagate, Propagate::AsIs);
        let e = restore(&mut kit, &[b"w", b"0", &p]).unwrap();
        assert_eq!(e.propagate, Propagate::AsIs);
        assert_eq!(kit.run("TTL w"), Frame::Integer(-1));
    }

    #[test]
    fn past_ttl_stores_nothing_and_replace_propagates_del() {
        let mut kit = Kit::new();
        kit.run("SET s v");
        let p = dump_of(&mut kit, "s");
        let e = restore(&mut kit, &[b"gone", b"1", &p, b"ABSTTL"]).unwrap();
        assert_eq!((e.reply, e.propagate), (Frame::OK, Propagate::Nothing));
        assert_eq!(kit.run("EXISTS gone"), Frame::Integer(0));
        let e = restore(&mut kit, &[b"s", b"1", &p, b"ABSTTL", b"REPLACE"]).unwrap();
        assert_eq!(
            e.propagate,
            Propagate::Rewritten(vec![vec![
                Bytes::from_static(b"DEL"),
                Bytes::from_static(b"s")
            ]])
        );
        assert_eq!(kit.run("EXISTS s"), Frame::Integer(0));
    }

    #[test]
    fn idletime_and_freq_follow_the_policy() {
        let mut kit = Kit::new();
        kit.ks.lru_clock = 1_000_000;
        kit.run("SET s v");
        let p = dump_of(&mut kit, "s");
        restore(&mut kit, &[b"a", b"0", &p, b"IDLETIME", b"77"]).unwrap();
        assert_eq!(kit.run("OBJECT IDLETIME a"), Frame::Integer(77));
        kit.ks.cfg.maxmemory_policy = EvictionPolicy::AllKeysLfu;
        restore(&mut kit, &[b"b", b"0", &p, b"FREQ", b"99"]).unwrap();
        assert_eq!(kit.run("OBJECT FREQ b"), Frame::Integer(99));
    }

    #[test]
    fn busykey_ignores_an_expired_key() {
        let mut kit = Kit::new();
        kit.run("SET s v");
        let p = dump_of(&mut kit, "s");
        kit.run("PEXPIRE s 10");
        kit.ks.now_ms += 20;
        assert_eq!(
            line(restore(&mut kit, &[b"s", b"0", &p])),
            "Simple(b\"OK\")"
        );
    }
}
