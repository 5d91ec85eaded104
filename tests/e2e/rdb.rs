//! RDB files and DUMP payloads exchanged with real Redis 7.0, both ways.
//!
//! - Real `redis-server` writes a `dump.rdb` holding every encoding (int/embstr/raw/LZF
//!   strings, small and multi-node lists, intset and hashtable sets, listpack and skiplist
//!   sorted sets, listpack and hashtable hashes), expiries and several databases; ferrokv
//!   loads it and must hold exactly what Redis holds after loading the same file (type,
//!   `OBJECT ENCODING`, value, absolute expire time of every key).
//! - ferrokv `SAVE`s the same data: `redis-check-rdb` accepts the file and real Redis loads
//!   it with identical contents.
//! - `DUMP` payloads go from Redis to ferrokv's `RESTORE` and back.
//! - A truncated or bit-flipped `dump.rdb` makes ferrokv exit at startup, naming the offset.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::harness::{require_redis, require_tool, Conn, Flavor, Frame, Server};

/// Databases the workload writes to.
const DBS: &[usize] = &[0, 1, 5, 15];

fn bulk_text(f: &Frame) -> Vec<u8> {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => b.to_vec(),
        Frame::Integer(i) => i.to_string().into_bytes(),
        other => format!("{other:?}").into_bytes(),
    }
}

fn items(f: Frame) -> Vec<Vec<u8>> {
    match f {
        Frame::Array(v) => v.iter().map(bulk_text).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

fn ok(conn: &mut Conn, argv: &[&[u8]]) {
    let r = conn.cmd(argv);
    assert!(
        !matches!(r, Frame::Error(_)),
        "{:?} -> {r:?}",
        argv.iter()
            .map(|a| String::from_utf8_lossy(a))
            .collect::<Vec<_>>()
    );
}

/// Writes a dataset covering every encoding Redis 7.0 has for the five types.
fn populate(conn: &mut Conn) {
    let far = 4_102_444_800_000i64; // 2100-01-01 in ms
    for &db in DBS {
        ok(conn, &[b"SELECT", db.to_string().as_bytes()]);
        let p = |k: &str| format!("{k}:{db}").into_bytes();
        // Strings: int, negative, beyond int32, embstr, raw, LZF-compressible, binary.
        ok(conn, &[b"SET", &p("int"), b"12345"]);
        ok(conn, &[b"SET", &p("neg"), b"-7"]);
        ok(conn, &[b"SET", &p("big"), b"9999999999"]);
        ok(conn, &[b"SET", &p("emb"), b"hello world"]);
        let raw: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        ok(conn, &[b"SET", &p("raw"), &raw]);
        ok(conn, &[b"SET", &p("lzf"), &[b'a'; 500]]);
        ok(conn, &[b"SET", &p("bin"), b"\x00\xff\r\n"]);
        ok(conn, &[b"SET", &p("empty"), b""]);
        // Lists: one node, many nodes, a big element.
        ok(
            conn,
            &[
                b"RPUSH",
                &p("list"),
                b"a",
                b"b",
                b"c",
                b"1",
                b"-2",
                b"70000",
            ],
        );
        let mut big = vec![b"RPUSH".to_vec(), p("biglist")];
        big.extend((0..3000).map(|i| format!("element-{i}-{}", "x".repeat(i % 40)).into_bytes()));
        ok(conn, &big.iter().map(Vec::as_slice).collect::<Vec<_>>());
        ok(
            conn,
            &[b"RPUSH", &p("fatlist"), &vec![b'z'; 20_000], b"tail"],
        );
        // Sets: intset (widths 2, 4, 8), hashtable, an intset too big for one.
        ok(
            conn,
            &[
                b"SADD",
                &p("intset"),
                b"1",
                b"3",
                b"5",
                b"-100000",
                b"1099511627776",
            ],
        );
        ok(conn, &[b"SADD", &p("set"), b"a", b"b", b"c", b"1"]);
        let mut many = vec![b"SADD".to_vec(), p("bigintset")];
        many.extend((0..600).map(|i| (i * 3).to_string().into_bytes()));
        ok(conn, &many.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // Sorted sets: listpack, skiplist, odd scores, a long member.
        ok(
            conn,
            &[
                b"ZADD",
                &p("zset"),
                b"1.5",
                b"a",
                b"2",
                b"b",
                b"-3",
                b"c",
                b"0",
                b"d",
            ],
        );
        ok(
            conn,
            &[
                b"ZADD",
                &p("zinf"),
                b"inf",
                b"top",
                b"-inf",
                b"bottom",
                b"0.1",
                b"x",
                b"1e300",
                b"y",
            ],
        );
        let mut z = vec![b"ZADD".to_vec(), p("bigzset")];
        for i in 0..200 {
            z.push(format!("{}", (i * 37 % 101) as f64 / 4.0).into_bytes());
            z.push(format!("member-{i}").into_bytes());
        }
        ok(conn, &z.iter().map(Vec::as_slice).collect::<Vec<_>>());
        ok(conn, &[b"ZADD", &p("zlong"), b"1", &[b'm'; 100]]);
        // Hashes: listpack, hashtable by count, hashtable by value length.
        ok(
            conn,
            &[b"HSET", &p("hash"), b"f", b"v", b"n", b"5", b"neg", b"-1"],
        );
        let mut h = vec![b"HSET".to_vec(), p("bighash")];
        for i in 0..600 {
            h.push(format!("field-{i}").into_bytes());
            h.push(format!("{i}").into_bytes());
        }
        ok(conn, &h.iter().map(Vec::as_slice).collect::<Vec<_>>());
        ok(conn, &[b"HSET", &p("hlong"), b"f", &[b'v'; 100]]);
        // Expiries on several types.
        ok(conn, &[b"SET", &p("ttl-str"), b"v", b"EX", b"100000"]);
        ok(
            conn,
            &[b"PEXPIREAT", &p("list"), far.to_string().as_bytes()],
        );
        ok(
            conn,
            &[
                b"PEXPIREAT",
                &p("bighash"),
                (far + 1).to_string().as_bytes(),
            ],
        );
        ok(conn, &[b"EXPIRE", &p("zset"), b"5000"]);
    }
    ok(conn, &[b"SELECT", b"0"]);
}

/// Everything observable about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyState {
    kind: String,
    encoding: String,
    value: Vec<Vec<u8>>,
    /// Absolute expire time (ms) or -1.
    expire_at: i64,
}

/// Reads every key of every database through the client protocol.
fn snapshot_of(conn: &mut Conn) -> BTreeMap<(usize, Vec<u8>), KeyState> {
    let mut out = BTreeMap::new();
    for db in 0..16usize {
        ok(conn, &[b"SELECT", db.to_string().as_bytes()]);
        for key in items(conn.cmd(&[b"KEYS" as &[u8], b"*"])) {
            let kind = String::from_utf8(bulk_text(&conn.cmd(&[b"TYPE" as &[u8], &key]))).unwrap();
            let encoding = String::from_utf8(bulk_text(&conn.cmd(&[
                b"OBJECT" as &[u8],
                b"ENCODING",
                &key,
            ])))
            .unwrap();
            let mut value = match kind.as_str() {
                "string" => vec![bulk_text(&conn.cmd(&[b"GET" as &[u8], &key]))],
                "list" => items(conn.cmd(&[b"LRANGE" as &[u8], &key, b"0", b"-1"])),
                "set" => items(conn.cmd(&[b"SMEMBERS" as &[u8], &key])),
                "zset" => items(conn.cmd(&[b"ZRANGE" as &[u8], &key, b"0", b"-1", b"WITHSCORES"])),
                "hash" => items(conn.cmd(&[b"HGETALL" as &[u8], &key]))
                    .chunks(2)
                    .map(|p| [p[0].clone(), b"=".to_vec(), p[1].clone()].concat())
                    .collect(),
                other => panic!("unexpected type {other}"),
            };
            // Order of hashtable members is the dict's, not part of the data.
            if encoding == "hashtable" {
                value.sort();
            }
            let expire_at = match conn.cmd(&[b"PEXPIRETIME" as &[u8], &key]) {
                Frame::Integer(i) => i,
                other => panic!("PEXPIRETIME: {other:?}"),
            };
            out.insert(
                (db, key),
                KeyState {
                    kind,
                    encoding,
                    value,
                    expire_at,
                },
            );
        }
    }
    ok(conn, &[b"SELECT", b"0"]);
    out
}

fn assert_same(
    ours: &BTreeMap<(usize, Vec<u8>), KeyState>,
    redis: &BTreeMap<(usize, Vec<u8>), KeyState>,
) {
    let show = |k: &(usize, Vec<u8>)| format!("db{} {}", k.0, String::from_utf8_lossy(&k.1));
    let ours_keys: Vec<String> = ours.keys().map(show).collect();
    let redis_keys: Vec<String> = redis.keys().map(show).collect();
    assert_eq!(ours_keys, redis_keys, "key sets differ");
    for (k, r) in redis {
        assert_eq!(&ours[k], r, "{}", show(k));
    }
}

/// Starts a `flavor` server with the test defaults and DEBUG allowed (both refuse it unless
/// `enable-debug-command` says otherwise).
fn start(flavor: Flavor) -> Server {
    Server::start(flavor, &["--enable-debug-command", "yes"])
}

/// Starts a `flavor` server, stops it, puts `rdb` in its directory as `dump.rdb`, and starts
/// it again so it boots from that file.
fn boot_with(flavor: Flavor, rdb: &Path) -> Server {
    let mut s = start(flavor);
    s.stop();
    std::fs::copy(rdb, s.dir().join("dump.rdb")).expect("copy dump.rdb");
    s.restart();
    s
}

fn save(conn: &mut Conn) {
    assert_eq!(conn.cmd(&["SAVE"]), Frame::simple("OK"));
}

fn check_rdb(path: &Path) -> String {
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("run redis-check-rdb");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-check-rdb failed on {}:\n{text}",
        path.display()
    );
    assert!(text.contains("RDB looks OK"), "{text}");
    text
}

#[test]
fn redis_rdb_loads_into_ferrokv_with_identical_contents() {
    if !require_redis("redis_rdb_loads_into_ferrokv_with_identical_contents") {
        return;
    }
    let redis = start(Flavor::Redis);
    let mut rc = redis.conn();
    populate(&mut rc);
    save(&mut rc);
    let file = redis.dir().join("dump.rdb");
    // Redis's view after loading its own file (encodings as a loader picks them).
    assert_eq!(rc.cmd(&["DEBUG", "RELOAD"]), Frame::simple("OK"));
    let want = snapshot_of(&mut rc);
    assert!(want.len() >= 4 * 20, "workload too small: {}", want.len());

    let ours = boot_with(Flavor::subject(), &file);
    let got = snapshot_of(&mut ours.conn());
    assert_same(&got, &want);
    if ours.flavor() == Flavor::Ferrokv {
        let log = ours.log();
        assert!(log.contains("Loading RDB produced by version 7.0"), "{log}");
        assert!(
            log.contains(&format!(
                "Done loading RDB, keys loaded: {}, keys expired: 0.",
                want.len()
            )),
            "{log}"
        );
        assert!(log.contains("DB loaded from disk:"), "{log}");
    }
}

#[test]
fn ferrokv_save_passes_redis_check_rdb_and_loads_into_redis() {
    if !require_redis("ferrokv_save_passes_redis_check_rdb_and_loads_into_redis")
        || !require_tool(
            "redis-check-rdb",
            "ferrokv_save_passes_redis_check_rdb_and_loads_into_redis",
        )
    {
        return;
    }
    let ours = start(Flavor::subject());
    let mut c = ours.conn();
    populate(&mut c);
    save(&mut c);
    let file = ours.dir().join("dump.rdb");
    let report = check_rdb(&file);
    let want = snapshot_of(&mut c);
    assert!(
        report.contains(&format!("[info] {} keys read", want.len())),
        "{report}"
    );
    // ferrokv's own reload and real Redis see the same data.
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), Frame::simple("OK"));
    assert_same(&snapshot_of(&mut c), &want);
    let redis = boot_with(Flavor::Redis, &file);
    assert_same(&snapshot_of(&mut redis.conn()), &want);
    // And the file Redis writes back from that data loads into ferrokv again.
    let mut rc = redis.conn();
    save(&mut rc);
    let again = boot_with(Flavor::subject(), &redis.dir().join("dump.rdb"));
    assert_same(&snapshot_of(&mut again.conn()), &want);
}

#[test]
fn rdbcompression_and_rdbchecksum_are_honoured() {
    if !require_tool(
        "redis-check-rdb",
        "rdbcompression_and_rdbchecksum_are_honoured",
    ) {
        return;
    }
    let ours = Server::start(
        Flavor::subject(),
        &["--rdbcompression", "no", "--rdbchecksum", "no"],
    );
    let mut c = ours.conn();
    ok(&mut c, &[b"SET", b"k", &[b'a'; 500]]);
    save(&mut c);
    let file = ours.dir().join("dump.rdb");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(
        &bytes[bytes.len() - 8..],
        &[0u8; 8],
        "checksum must be zero"
    );
    assert!(
        bytes.windows(500).any(|w| w == [b'a'; 500]),
        "string must be stored uncompressed"
    );
    let report = check_rdb(&file);
    assert!(report.contains("checksum disabled"), "{report}");
    let reloaded = boot_with(Flavor::subject(), &file);
    assert_eq!(reloaded.conn().cmd(&["STRLEN", "k"]), Frame::Integer(500));
}

/// DUMPs `key` on `from` and RESTOREs it as `copy:<key>` on `to`.
fn copy_key(from: &mut Conn, to: &mut Conn, key: &[u8]) {
    let payload = match from.cmd(&[b"DUMP" as &[u8], key]) {
        Frame::Bulk(b) => b,
        other => panic!("DUMP {}: {other:?}", String::from_utf8_lossy(key)),
    };
    let copy = [b"copy:".as_slice(), key].concat();
    let r = to.cmd(&[b"RESTORE" as &[u8], &copy, b"0", &payload, b"REPLACE"]);
    assert_eq!(
        r,
        Frame::simple("OK"),
        "RESTORE {}",
        String::from_utf8_lossy(key)
    );
}

#[test]
fn dump_payloads_restore_both_ways() {
    if !require_redis("dump_payloads_restore_both_ways") {
        return;
    }
    let redis = Server::redis();
    let ours = Server::ferrokv();
    let (mut rc, mut oc) = (redis.conn(), ours.conn());
    populate(&mut rc);
    populate(&mut oc);
    let keys: Vec<Vec<u8>> = items(rc.cmd(&["KEYS", "*"]));
    for key in &keys {
        copy_key(&mut rc, &mut oc, key);
        copy_key(&mut oc, &mut rc, key);
    }
    // Every copy equals its original on both servers.
    for conn in [&mut rc, &mut oc] {
        let all = snapshot_of(conn);
        for key in &keys {
            let orig = &all[&(0, key.clone())];
            let copy = &all[&(0, [b"copy:".as_slice(), key].concat())];
            assert_eq!(
                (&copy.kind, &copy.value),
                (&orig.kind, &orig.value),
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }
    // Same data, same payload (hashtable member order and LZF aside).
    for key in [
        &b"int:0"[..],
        b"list:0",
        b"intset:0",
        b"zset:0",
        b"hash:0",
        b"emb:0",
        b"bigzset:0",
    ] {
        assert_eq!(
            oc.cmd(&[b"DUMP" as &[u8], key]),
            rc.cmd(&[b"DUMP" as &[u8], key]),
            "{}",
            String::from_utf8_lossy(key)
        );
    }
    let bad = oc.cmd(&[b"RESTORE" as &[u8], b"x", b"0", b"garbage-payload"]);
    assert_eq!(
        bad,
        Frame::Error(Bytes::from_static(
            b"ERR DUMP payload version or checksum are wrong"
        ))
    );
    let busy = oc.cmd(&[b"RESTORE" as &[u8], b"int:0", b"0", b"whatever"]);
    assert_eq!(
        busy,
        Frame::Error(Bytes::from_static(
            b"BUSYKEY Target key name already exists."
        ))
    );
}

/// Runs ferrokv on `dir` (which holds a dump.rdb) and returns its exit status and output,
/// killing it if it is still running after `deadline`.
fn run_until_exit(dir: &Path, deadline: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokv-server"))
        .args([
            "--bind",
            "127.0.0.1",
            "--listen-ephemeral-port",
            "yes",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrokv-server");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s.code();
        }
        if start.elapsed() > deadline {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("collect output");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (status, text)
}

#[test]
fn corrupt_rdb_refuses_to_start_naming_the_offset() {
    let ours = Server::start(Flavor::Ferrokv, &[] as &[&str]);
    let mut c = ours.conn();
    for i in 0..200 {
        ok(
            &mut c,
            &[
                b"SET",
                format!("key:{i}").as_bytes(),
                format!("value-{i}").as_bytes(),
            ],
        );
    }
    save(&mut c);
    let good = std::fs::read(ours.dir().join("dump.rdb")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("flipped", {
            let mut b = good.clone();
            let at = b.len() * 2 / 3;
            b[at] ^= 0x01;
            b
        }),
        ("checksum", {
            let mut b = good.clone();
            let n = b.len();
            b[n - 1] ^= 0x80;
            b
        }),
    ];
    for (name, bytes) in cases {
        std::fs::write(dir.path().join("dump.rdb"), &bytes).unwrap();
        let (status, log) = run_until_exit(dir.path(), Duration::from_secs(20));
        assert_eq!(
            status,
            Some(1),
            "{name}: ferrokv must exit with status 1\n{log}"
        );
        assert!(
            log.contains("offset"),
            "{name}: the error must name the offset\n{log}"
        );
        assert!(
            !log.contains("Ready to accept connections"),
            "{name}: served a partial dataset\n{log}"
        );
    }
}

#[test]
fn keys_expired_in_the_file_are_dropped_at_load() {
    if !require_redis("keys_expired_in_the_file_are_dropped_at_load") {
        return;
    }
    let redis = start(Flavor::Redis);
    let mut rc = redis.conn();
    ok(&mut rc, &[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]);
    ok(&mut rc, &[b"SET", b"short", b"v", b"PX", b"50"]);
    ok(&mut rc, &[b"SET", b"long", b"v", b"EX", b"1000"]);
    // Let `short` expire without touching it (a lookup would delete it).
    std::thread::sleep(Duration::from_millis(120));
    save(&mut rc);
    let ours = boot_with(Flavor::subject(), &redis.dir().join("dump.rdb"));
    let mut c = ours.conn();
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(1));
    assert_eq!(c.cmd(&["EXISTS", "long"]), Frame::Integer(1));
    if ours.flavor() == Flavor::Ferrokv {
        assert!(
            ours.log()
                .contains("Done loading RDB, keys loaded: 1, keys expired: 1."),
            "{}",
            ours.log()
        );
    }
}

#[test]
fn clients_get_loading_while_the_rdb_loads() {
    if !require_redis("clients_get_loading_while_the_rdb_loads") {
        return;
    }
    const KEYS: usize = 200_000;
    let redis = start(Flavor::Redis);
    let mut rc = redis.conn();
    ok(
        &mut rc,
        &[b"DEBUG", b"POPULATE", KEYS.to_string().as_bytes()],
    );
    save(&mut rc);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(redis.dir().join("dump.rdb"), dir.path().join("dump.rdb")).unwrap();
    let size = std::fs::metadata(dir.path().join("dump.rdb"))
        .unwrap()
        .len();
    let (mut child, addr) = crate::harness::spawn_ferrokv_on_free_port(dir.path(), &["--save", ""]);
    let watch = crate::harness::watch_loading(
        &mut child,
        addr,
        &["PING"],
        size,
        Duration::from_secs(60),
        None,
    );
    let (served, loading_replies, info_seen) = (
        watch.conn,
        watch.loading_replies,
        !watch.loaded_bytes.is_empty(),
    );
    let mut c = served;
    let dbsize = c.cmd(&["DBSIZE"]);
    drop(child);
    assert_eq!(dbsize, Frame::Integer(KEYS as i64));
    assert!(
        loading_replies > 0 && info_seen,
        "never saw -LOADING and INFO loading:1 ({loading_replies})"
    );
}

/// Starts `flavor` with `maxmemory-policy policy` and no LFU decay (so counters stay put
/// while the test runs).
fn start_with_policy(flavor: Flavor, policy: &str) -> Server {
    let args = [
        "--maxmemory-policy",
        policy,
        "--lfu-decay-time",
        "0",
        "--enable-debug-command",
        "yes",
    ];
    Server::start(flavor, &args)
}

/// Moves dump.rdb from `from` to a new `to_flavor` server started with `policy`.
fn boot_with_policy(to_flavor: Flavor, policy: &str, rdb: &Path) -> Server {
    let mut s = start_with_policy(to_flavor, policy);
    s.stop();
    std::fs::copy(rdb, s.dir().join("dump.rdb")).expect("copy dump.rdb");
    s.restart();
    s
}

fn int(f: Frame) -> i64 {
    match f {
        Frame::Integer(i) => i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

#[test]
fn lru_idle_and_lfu_freq_cross_over_both_ways() {
    if !require_redis("lru_idle_and_lfu_freq_cross_over_both_ways") {
        return;
    }
    for (from, to) in [
        (Flavor::Redis, Flavor::subject()),
        (Flavor::subject(), Flavor::Redis),
    ] {
        // LFU: the counter set by RESTORE ... FREQ survives the file.
        let a = start_with_policy(from, "allkeys-lfu");
        let mut c = a.conn();
        ok(&mut c, &[b"SET", b"src", b"v"]);
        let Frame::Bulk(payload) = c.cmd(&["DUMP", "src"]) else {
            panic!("DUMP")
        };
        ok(
            &mut c,
            &[b"RESTORE", b"hot", b"0", &payload, b"FREQ", b"42"],
        );
        save(&mut c);
        let b = boot_with_policy(to, "allkeys-lfu", &a.dir().join("dump.rdb"));
        assert_eq!(
            b.conn().cmd(&["OBJECT", "FREQ", "hot"]),
            Frame::Integer(42),
            "{from:?} -> {to:?}"
        );

        // LRU: the idle time set by RESTORE ... IDLETIME survives the file (give or take the
        // seconds the test takes).
        let a = start_with_policy(from, "allkeys-lru");
        let mut c = a.conn();
        ok(&mut c, &[b"SET", b"src", b"v"]);
        let Frame::Bulk(payload) = c.cmd(&["DUMP", "src"]) else {
            panic!("DUMP")
        };
        ok(
            &mut c,
            &[b"RESTORE", b"cold", b"0", &payload, b"IDLETIME", b"1000"],
        );
        save(&mut c);
        let b = boot_with_policy(to, "allkeys-lru", &a.dir().join("dump.rdb"));
        let idle = int(b.conn().cmd(&["OBJECT", "IDLETIME", "cold"]));
        assert!(
            (1000..1010).contains(&idle),
            "{from:?} -> {to:?}: idle {idle}"
        );
    }
}
