//! RDB interop against the real Redis 7.0 tools, generated at test time (skipped with a message
//! when `redis-server` is not installed):
//!
//! - Redis writes, we read: keys of every encoding Redis 7.0 produces are created in a real
//!   `redis-server`, `SAVE`d, and the `dump.rdb` is decoded and compared with the model.
//! - We write, Redis reads: files from `RdbWriter` pass `redis-check-rdb` (deep sanitization)
//!   and load into `redis-server`, whose contents are compared with the model.
//! - DUMP payloads from Redis parse, and our payloads RESTORE into Redis.

mod support;

use std::collections::HashMap;
use std::fs::File;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrokv_proto::rdb::{
    dump_payload, parse_dump_payload, Checksum, EncodingLimits, KeyMeta, RdbEntry, RdbItem,
    RdbReader, RdbValue, RdbWriter, ValueEncoding, WriterOptions,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use support::{canon, check_rdb, fetch, have_redis, Client, RedisServer};

const SEED: u64 = 0x5EED_0001;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Keys covering every encoding and size class Redis 7.0 writes.
fn model() -> Vec<(Bytes, RdbValue)> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let random: Vec<u8> = (0..2000).map(|_| rng.gen()).collect();
    let text: String = (0..500).map(|i| format!("word{} ", i % 37)).collect();
    vec![
        (b("sint"), RdbValue::String(b("12345"))),
        (b("sneg"), RdbValue::String(b("-2"))),
        (b("sint32"), RdbValue::String(b("-2147483648"))),
        (b("sbig"), RdbValue::String(b("9999999999"))),
        (b("slead0"), RdbValue::String(b("0012"))),
        (b("sempty"), RdbValue::String(Bytes::new())),
        (b("slzf"), RdbValue::String(Bytes::from(vec![b'a'; 100]))),
        (b("stext"), RdbValue::String(Bytes::from(text))),
        (b("sbin"), RdbValue::String(Bytes::from(random))),
        (b("sexp"), RdbValue::String(b("expiring"))),
        (
            b("l-small"),
            RdbValue::List(vec![b("a"), b("b"), b("c"), b("1"), b("2")]),
        ),
        (
            b("l-big"),
            RdbValue::List(
                (0..20_000)
                    .map(|i| {
                        if i % 3 == 0 {
                            Bytes::from(format!("{}", i * 977 - 5000))
                        } else {
                            Bytes::from(format!("item-{i}"))
                        }
                    })
                    .collect(),
            ),
        ),
        (
            b("l-large-elems"),
            RdbValue::List(vec![
                Bytes::from(vec![b'x'; 10_000]),
                b("y"),
                Bytes::from(vec![b'z'; 70_000]),
                b(""),
            ]),
        ),
        (
            b("set-int"),
            RdbValue::Set(vec![
                b("1"),
                b("3"),
                b("5"),
                b("-100000"),
                b("1099511627776"),
            ]),
        ),
        (
            b("set-ht"),
            RdbValue::Set(vec![b("a"), b("b"), b("c"), b("1")]),
        ),
        (
            b("set-600"),
            RdbValue::Set((0..600).map(|i| Bytes::from((i * 3).to_string())).collect()),
        ),
        (
            b("z-lp"),
            RdbValue::SortedSet(vec![
                (b("a"), 1.5),
                (b("b"), 2.0),
                (b("c"), f64::NEG_INFINITY),
                (b("d"), 1e-5),
                (b("e"), 0.1),
            ]),
        ),
        (
            b("z-sl"),
            RdbValue::SortedSet(
                (0..300)
                    .map(|i| (Bytes::from(format!("m{i}")), f64::from(i) / 7.0))
                    .collect(),
            ),
        ),
        (
            b("z-long"),
            RdbValue::SortedSet(vec![(Bytes::from(vec![b'k'; 100]), 3.0), (b("s"), 1e300)]),
        ),
        (
            b("h-lp"),
            RdbValue::Hash(vec![
                (b("f"), b("v")),
                (b("n"), b("5")),
                (b("neg"), b("-70000")),
            ]),
        ),
        (
            b("h-ht"),
            RdbValue::Hash(
                (0..600)
                    .map(|i| {
                        (
                            Bytes::from(format!("f{i}")),
                            Bytes::from(format!("{}", i * i)),
                        )
                    })
                    .collect(),
            ),
        ),
        (
            b("h-lp300"),
            RdbValue::Hash(
                (0..300)
                    .map(|i| (Bytes::from(format!("g{i}")), Bytes::from(format!("v{i}"))))
                    .collect(),
            ),
        ),
        (
            b("h-long"),
            RdbValue::Hash(vec![(b("f"), Bytes::from(vec![b'v'; 100]))]),
        ),
    ]
}

/// Creates `key` = `value` in Redis with ordinary commands.
fn create(c: &mut Client, key: &[u8], value: &RdbValue) {
    let fmt = |d: f64| Bytes::from(format!("{d}"));
    let mut args: Vec<Bytes> = Vec::new();
    let (cmd, items): (&str, Vec<Bytes>) = match value {
        RdbValue::String(s) => {
            c.ok(&[b"SET".as_slice(), key, s]);
            return;
        }
        RdbValue::List(v) => ("RPUSH", v.clone()),
        RdbValue::Set(v) => ("SADD", v.clone()),
        RdbValue::SortedSet(v) => (
            "ZADD",
            v.iter().flat_map(|(m, s)| [fmt(*s), m.clone()]).collect(),
        ),
        RdbValue::Hash(v) => (
            "HSET",
            v.iter().flat_map(|(f, x)| [f.clone(), x.clone()]).collect(),
        ),
    };
    let per = if cmd == "RPUSH" { 1000 } else { 1000 * 2 };
    for chunk in items.chunks(per) {
        args.clear();
        args.push(b(cmd));
        args.push(Bytes::copy_from_slice(key));
        args.extend(chunk.iter().cloned());
        c.ok(&args);
    }
}

fn read_file(path: &std::path::Path) -> (Vec<RdbItem>, HashMap<Bytes, RdbEntry>) {
    let reader = RdbReader::from_read(File::open(path).unwrap()).unwrap();
    let items: Vec<RdbItem> = reader.collect::<Result<_, _>>().unwrap();
    let map = items
        .iter()
        .filter_map(|i| match i {
            RdbItem::Entry(e) => Some((e.key.clone(), e.clone())),
            _ => None,
        })
        .collect();
    (items, map)
}

/// The other encoding Redis could have used for the same type (to exercise every writer).
fn alternative(v: &RdbValue, e: ValueEncoding) -> ValueEncoding {
    match (v, e) {
        (RdbValue::Set(_), ValueEncoding::SetIntset) => ValueEncoding::SetHashtable,
        (RdbValue::Set(m), ValueEncoding::SetHashtable)
            if m.iter().all(|x| {
                std::str::from_utf8(x)
                    .is_ok_and(|s| s.parse::<i64>().is_ok_and(|i| i.to_string() == s))
            }) =>
        {
            ValueEncoding::SetIntset
        }
        (_, ValueEncoding::ZsetListpack) => ValueEncoding::ZsetSkiplist,
        (_, ValueEncoding::ZsetSkiplist) => ValueEncoding::ZsetListpack,
        (_, ValueEncoding::HashListpack) => ValueEncoding::HashHashtable,
        (_, ValueEncoding::HashHashtable) => ValueEncoding::HashListpack,
        (_, e) => e,
    }
}

#[test]
fn redis_save_is_decoded_exactly() {
    if !have_redis("redis_save_is_decoded_exactly") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start(dir.path(), "dump.rdb", &[]);
    let mut c = server.client();
    let model = model();
    for (k, v) in &model {
        create(&mut c, k, v);
    }
    let expire_at = now_ms() + 3_600_000;
    c.ok(&["PEXPIREAT", "sexp", &expire_at.to_string()]);
    c.ok(&["SELECT", "5"]);
    c.ok(&["SET", "in-db-5", "x"]);
    c.ok(&["SAVE"]);

    let (items, map) = read_file(&dir.path().join("dump.rdb"));
    assert!(items.contains(&RdbItem::Aux {
        key: b("redis-ver"),
        value: b("7.0.15")
    }));
    assert!(items.contains(&RdbItem::SelectDb(5)));
    assert!(
        matches!(items.last(), Some(RdbItem::Eof(Checksum::Verified(_)))),
        "{:?}",
        items.last()
    );
    assert_eq!(map.len(), model.len() + 1);
    let limits = EncodingLimits::default();
    for (k, v) in &model {
        let e = &map[k];
        assert_eq!(canon(&e.value), canon(v), "key {k:?}");
        assert_eq!(
            e.rdb_type,
            v.redis_encoding(&limits).type_byte(),
            "encoding of {k:?}"
        );
    }
    assert_eq!(map[&b("sexp")].meta.expire_ms, Some(expire_at));
    assert_eq!(map[&b("sint")].meta, KeyMeta::default());
}

fn write_model(
    path: &std::path::Path,
    model: &[(Bytes, RdbValue)],
    opts: &WriterOptions,
    alt: bool,
    expire_at: i64,
) {
    let limits = EncodingLimits::default();
    let mut w = RdbWriter::new(File::create(path).unwrap(), opts).unwrap();
    w.select_db(0, model.len() as u64, 1).unwrap();
    for (k, v) in model {
        let mut e = v.redis_encoding(&limits);
        if alt {
            e = alternative(v, e);
        }
        let meta = KeyMeta {
            expire_ms: (&k[..] == b"sexp").then_some(expire_at),
            ..KeyMeta::default()
        };
        w.write_entry(k, &meta, v, e).unwrap();
    }
    w.select_db(3, 1, 0).unwrap();
    w.write_string(
        b"in-db-3",
        &KeyMeta {
            lfu_freq: Some(9),
            lru_idle: Some(10),
            ..KeyMeta::default()
        },
        b"three",
    )
    .unwrap();
    w.finish().unwrap().sync_all().unwrap();
}

#[test]
fn our_files_pass_check_rdb_and_load_into_redis() {
    if !have_redis("our_files_pass_check_rdb_and_load_into_redis") {
        return;
    }
    let model = model();
    let expire_at = now_ms() + 3_600_000;
    let dir = tempfile::tempdir().unwrap();
    for compression in [true, false] {
        for checksum in [true, false] {
            for alt in [false, true] {
                let name = format!("ours-{compression}-{checksum}-{alt}.rdb");
                let path = dir.path().join(&name);
                let opts = WriterOptions {
                    compression,
                    checksum,
                    ..WriterOptions::default()
                };
                write_model(&path, &model, &opts, alt, expire_at);
                let (ok, out) = check_rdb(&path);
                assert!(ok && out.contains("RDB looks OK"), "{name}:\n{out}");
                // Our reader agrees with what we wrote.
                let (_, map) = read_file(&path);
                for (k, v) in &model {
                    assert_eq!(canon(&map[k].value), canon(v), "{name} {k:?}");
                }
                if !(compression && checksum) {
                    continue;
                }
                let server = RedisServer::start(dir.path(), &name, &[]);
                let mut c = server.client();
                assert_eq!(
                    c.ok(&["DBSIZE"]).int(),
                    model.len() as i64,
                    "{}",
                    server.log()
                );
                for (k, v) in &model {
                    let got = fetch(&mut c, k).unwrap_or_else(|| panic!("{k:?} missing"));
                    assert_eq!(canon(&got), canon(v), "{name} {k:?}");
                }
                let pttl = c.ok(&["PTTL", "sexp"]).int();
                assert!(pttl > 3_500_000 && pttl <= 3_600_000, "{pttl}");
                c.ok(&["SELECT", "3"]);
                assert_eq!(c.ok(&["GET", "in-db-3"]).bytes(), b"three");
            }
        }
    }
}

#[test]
fn dump_payloads_interoperate() {
    if !have_redis("dump_payloads_interoperate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start(dir.path(), "dump.rdb", &[]);
    let mut c = server.client();
    let limits = EncodingLimits::default();
    for (k, v) in model() {
        create(&mut c, &k, &v);
        // Redis's DUMP parses to the same value.
        let payload = c.ok(&[b"DUMP".as_slice(), &k]).bytes();
        assert_eq!(payload[0], v.redis_encoding(&limits).type_byte(), "{k:?}");
        assert_eq!(
            canon(&parse_dump_payload(&payload).unwrap()),
            canon(&v),
            "{k:?}"
        );
        // Our payload, in both encodings, RESTOREs to the same value.
        for (i, enc) in [
            v.redis_encoding(&limits),
            alternative(&v, v.redis_encoding(&limits)),
        ]
        .into_iter()
        .enumerate()
        {
            let ours = dump_payload(&v, enc, true).unwrap();
            let target = [&b"restored:"[..], &k, format!(":{i}").as_bytes()].concat();
            c.ok(&[b"RESTORE".as_slice(), &target, b"0", &ours]);
            assert_eq!(
                canon(&fetch(&mut c, &target).unwrap()),
                canon(&v),
                "{k:?} as {enc:?}"
            );
        }
    }
    // A payload with a bad checksum is refused by Redis with the footer error we report.
    let mut bad = dump_payload(&RdbValue::String(b("v")), ValueEncoding::String, true)
        .unwrap()
        .to_vec();
    *bad.last_mut().unwrap() ^= 1;
    assert!(parse_dump_payload(&bad).unwrap_err().is_dump_footer_error());
    match c.cmd(&[b"RESTORE".as_slice(), b"bad", b"0", &bad]) {
        support::Reply::Error(e) => assert_eq!(e, "ERR DUMP payload version or checksum are wrong"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lru_and_lfu_metadata_roundtrip() {
    if !have_redis("lru_and_lfu_metadata_roundtrip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Redis writes IDLE under an LRU policy and FREQ under an LFU policy.
    for (policy, lru) in [("allkeys-lru", true), ("allkeys-lfu", false)] {
        let sub = dir.path().join(policy);
        std::fs::create_dir(&sub).unwrap();
        let server = RedisServer::start(&sub, "dump.rdb", &["--maxmemory-policy", policy]);
        let mut c = server.client();
        c.ok(&["SET", "k", "v"]);
        c.ok(&["SAVE"]);
        let (_, map) = read_file(&sub.join("dump.rdb"));
        let meta = map[&b("k")].meta;
        assert_eq!(meta.lru_idle.is_some(), lru, "{policy}: {meta:?}");
        assert_eq!(meta.lfu_freq.is_some(), !lru, "{policy}: {meta:?}");
    }
    // Our FREQ is honored by an LFU server.
    let path = dir.path().join("freq.rdb");
    let mut w = RdbWriter::new(File::create(&path).unwrap(), &WriterOptions::default()).unwrap();
    w.select_db(0, 1, 0).unwrap();
    w.write_string(
        b"hot",
        &KeyMeta {
            lfu_freq: Some(200),
            ..KeyMeta::default()
        },
        b"v",
    )
    .unwrap();
    w.finish().unwrap();
    let server = RedisServer::start(
        dir.path(),
        "freq.rdb",
        &["--maxmemory-policy", "allkeys-lfu"],
    );
    assert_eq!(server.client().ok(&["OBJECT", "FREQ", "hot"]).int(), 200);
}
