//! Replication end to end: a ferrokv primary with ferrokv and real `redis-server` replicas,
//! ferrokv following a real Redis primary, `redis-cli --rdb` / `--replica`, partial and full
//! resync after a cut link, WAIT and min-replicas.
//!
//! Equality is checked over the whole keyspace (every key of every db: type, value, absolute
//! expire time), after the replica's offset caught up with the primary's.

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::harness::inspect::{digest, info_field, ok as run, text};
use crate::harness::{eventually, require_redis, require_tool, Conn, Flavor, Frame, Server};

const SYNC_WAIT: Duration = Duration::from_secs(20);

fn link_up(conn: &mut Conn) -> Result<(), String> {
    match info_field(conn, "replication", "master_link_status").as_deref() {
        Some("up") => Ok(()),
        other => Err(format!("master_link_status {other:?}")),
    }
}

/// Waits until `replica` applied everything `primary` produced.
fn caught_up(primary: &mut Conn, replica: &mut Conn) {
    eventually(SYNC_WAIT, || {
        link_up(replica)?;
        let p = info_field(primary, "replication", "master_repl_offset");
        let r = info_field(replica, "replication", "slave_repl_offset");
        if p.is_some() && p == r {
            Ok(())
        } else {
            Err(format!("primary {p:?} replica {r:?}"))
        }
    });
}

fn populate(c: &mut Conn, tag: &str) {
    run(c, &format!("SET s:{tag} hello"));
    run(c, &format!("SET n:{tag} 12345"));
    run(c, &format!("SET big:{tag} {}", "x".repeat(300)));
    run(c, &format!("RPUSH l:{tag} a b c 1 2 3"));
    run(c, &format!("SADD si:{tag} 1 2 3 400"));
    run(c, &format!("SADD ss:{tag} red green blue"));
    run(c, &format!("ZADD z:{tag} 1 a 2.5 b -3 c"));
    run(c, &format!("HSET h:{tag} f1 v1 f2 v2"));
    run(c, &format!("SET e:{tag} v EX 5000"));
    run(c, "SELECT 2");
    run(c, &format!("SET db2:{tag} two"));
    run(c, &format!("LPUSH dl:{tag} z"));
    run(c, "SELECT 0");
}

/// Writes whose propagation forms differ from the commands (rewrites, MULTI, expiry).
fn mixed_writes(c: &mut Conn, tag: &str) {
    run(c, &format!("INCRBYFLOAT f:{tag} 1.5"));
    run(c, &format!("EXPIRE s:{tag} 1000"));
    run(c, &format!("SPOP ss:{tag}"));
    run(c, &format!("HINCRBYFLOAT h:{tag} f3 2.25"));
    run(c, &format!("GETSET n:{tag} 7"));
    run(c, "MULTI");
    run(c, &format!("LPOP l:{tag}"));
    run(c, &format!("ZINCRBY z:{tag} 10 a"));
    run(c, "EXEC");
    run(c, &format!("SETEX ex:{tag} 100 v"));
    run(c, "SELECT 2");
    run(c, &format!("DEL db2:{tag}"));
    run(c, "SELECT 0");
    for i in 0..50 {
        run(c, &format!("SET k{i}:{tag} {i}"));
    }
}

fn replica_of(flavor: Flavor, primary: &Server) -> Server {
    Server::start(
        flavor,
        &["--replicaof", "127.0.0.1", &primary.port().to_string()],
    )
}

#[test]
fn ferrokv_primary_with_ferrokv_and_redis_replicas_converges() {
    if !require_redis("ferrokv_primary_with_ferrokv_and_redis_replicas_converges") {
        return;
    }
    let primary = Server::start(Flavor::subject(), &["--repl-diskless-sync-delay", "0"]);
    let mut p = primary.conn();
    populate(&mut p, "before");
    let r1 = replica_of(Flavor::subject(), &primary);
    let r2 = replica_of(Flavor::Redis, &primary);
    let (mut c1, mut c2) = (r1.conn(), r2.conn());
    caught_up(&mut p, &mut c1);
    caught_up(&mut p, &mut c2);
    let want = digest(&mut p);
    assert!(want.len() > 10);
    assert_eq!(digest(&mut c1), want, "ferrokv replica after full sync");
    assert_eq!(digest(&mut c2), want, "redis replica after full sync");
    mixed_writes(&mut p, "after");
    populate(&mut p, "after2");
    caught_up(&mut p, &mut c1);
    caught_up(&mut p, &mut c2);
    let want = digest(&mut p);
    assert_eq!(digest(&mut c1), want, "ferrokv replica after the stream");
    assert_eq!(digest(&mut c2), want, "redis replica after the stream");
    // ROLE on both sides.
    match p.run("ROLE") {
        Frame::Array(v) => {
            assert_eq!(text(&v[0]), b"master");
            assert!(matches!(&v[2], Frame::Array(r) if r.len() == 2), "{v:?}");
        }
        other => panic!("{other:?}"),
    }
    match c1.run("ROLE") {
        Frame::Array(v) => {
            assert_eq!(text(&v[0]), b"slave");
            assert_eq!(text(&v[3]), b"connected");
        }
        other => panic!("{other:?}"),
    }
    // Replicas refuse writes.
    assert!(matches!(c1.run("SET x 1"), Frame::Error(e) if e.starts_with(b"READONLY")));
}

#[test]
fn disk_payload_replica_converges() {
    let primary = Server::start(Flavor::subject(), &["--repl-diskless-sync", "no"]);
    let mut p = primary.conn();
    populate(&mut p, "disk");
    let r = replica_of(Flavor::subject(), &primary);
    let mut c = r.conn();
    caught_up(&mut p, &mut c);
    mixed_writes(&mut p, "disk");
    caught_up(&mut p, &mut c);
    assert_eq!(digest(&mut c), digest(&mut p));
    // Replication traffic counts apart from client traffic, on both sides (the payload
    // and the stream: more than the stream's offset alone).
    let offset: u64 = info_field(&mut p, "replication", "master_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    let sent = stat(&mut p, "total_net_repl_output_bytes");
    let received = stat(&mut c, "total_net_repl_input_bytes");
    assert!(sent > offset, "sent {sent}, offset {offset}");
    assert!(received > offset, "received {received}, offset {offset}");
    assert_eq!(stat(&mut c, "total_net_repl_output_bytes"), 0);
    // Log lines carry the role letter: `S` on the replica once it follows.
    let log = r.log();
    assert!(
        log.lines()
            .any(|l| l.contains(":S ") && l.contains("MASTER <-> REPLICA sync")),
        "{log}"
    );
    // The backlog reports the history it holds, not its configured size (1mb here).
    let held: u64 = info_field(&mut p, "memory", "mem_replication_backlog")
        .unwrap()
        .parse()
        .unwrap();
    assert!(held > 0 && held < 1 << 20, "mem_replication_backlog {held}");
    // The totals include replication (Redis 7.0 sums both there).
    assert!(stat(&mut p, "total_net_output_bytes") > stat(&mut p, "total_net_repl_output_bytes"));
    assert!(stat(&mut c, "total_net_input_bytes") > stat(&mut c, "total_net_repl_input_bytes"));
    assert!(stat(&mut p, "total_reads_processed") > 0);
    assert!(stat(&mut p, "total_writes_processed") > 0);
}

#[test]
fn ferrokv_follows_a_real_redis_primary() {
    if !require_redis("ferrokv_follows_a_real_redis_primary") {
        return;
    }
    let primary = Server::start(Flavor::Redis, &["--repl-diskless-sync-delay", "0"]);
    let mut p = primary.conn();
    populate(&mut p, "r");
    let r = replica_of(Flavor::subject(), &primary);
    let mut c = r.conn();
    caught_up(&mut p, &mut c);
    mixed_writes(&mut p, "r");
    caught_up(&mut p, &mut c);
    assert_eq!(digest(&mut c), digest(&mut p));
    // Redis sees the ACKs.
    eventually(SYNC_WAIT, || {
        let line = info_field(&mut p, "replication", "slave0").unwrap_or_default();
        let off = info_field(&mut p, "replication", "master_repl_offset").unwrap_or_default();
        if line.contains("state=online") && line.contains(&format!("offset={off},")) {
            Ok(())
        } else {
            Err(line)
        }
    });
}

#[test]
fn redis_cli_rdb_writes_a_file_redis_check_rdb_accepts() {
    if !require_tool("redis-cli", "redis_cli_rdb")
        || !require_tool("redis-check-rdb", "redis_cli_rdb")
    {
        return;
    }
    for diskless in ["yes", "no"] {
        let primary = Server::start(
            Flavor::subject(),
            &[
                "--repl-diskless-sync",
                diskless,
                "--repl-diskless-sync-delay",
                "0",
            ],
        );
        let mut p = primary.conn();
        populate(&mut p, "rdb");
        let file = primary.dir().join("pulled.rdb");
        let out = Command::new("redis-cli")
            .args(["-p", &primary.port().to_string(), "--rdb"])
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "diskless {diskless}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let check = Command::new("redis-check-rdb").arg(&file).output().unwrap();
        let report = String::from_utf8_lossy(&check.stdout).into_owned();
        assert!(check.status.success(), "{report}");
        assert!(report.contains("\\o/ RDB looks OK! \\o/"), "{report}");
        assert!(report.contains("[info] 11 keys read"), "{report}");
    }
}

#[test]
fn redis_cli_replica_prints_the_stream() {
    if !require_tool("redis-cli", "redis_cli_replica") {
        return;
    }
    let primary = Server::start(Flavor::subject(), &["--repl-diskless-sync-delay", "0"]);
    let mut p = primary.conn();
    let child = Command::new("redis-cli")
        .args(["-p", &primary.port().to_string(), "--replica"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(SYNC_WAIT, || {
        match info_field(&mut p, "replication", "slave0") {
            Some(l) if l.contains("state=online") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    run(&mut p, "SET streamed value42");
    // redis-cli sleeps 1 s before its first ACK, which releases the stream.
    std::thread::sleep(Duration::from_millis(2500));
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"set\",\"streamed\",\"value42\"")
            || stdout.contains("\"SET\",\"streamed\",\"value42\""),
        "{stdout}"
    );
}

fn stat(conn: &mut Conn, name: &str) -> u64 {
    info_field(conn, "stats", name).unwrap().parse().unwrap()
}

#[test]
fn cut_link_resyncs_partially_inside_the_backlog_and_fully_outside() {
    let primary = Server::start(
        Flavor::subject(),
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--repl-backlog-size",
            "20000",
        ],
    );
    let mut p = primary.conn();
    populate(&mut p, "cut");
    let r = replica_of(Flavor::subject(), &primary);
    let mut c = r.conn();
    caught_up(&mut p, &mut c);
    assert_eq!(stat(&mut p, "sync_full"), 1);
    // Inside the backlog: +CONTINUE.
    run(&mut p, "CLIENT KILL TYPE replica");
    run(&mut p, "SET during-cut 1");
    caught_up(&mut p, &mut c);
    assert_eq!(stat(&mut p, "sync_partial_ok"), 1);
    assert_eq!(stat(&mut p, "sync_full"), 1);
    assert_eq!(digest(&mut c), digest(&mut p));
    // Outside: freeze the replica and write far more than the socket buffers and the
    // backlog hold; the replica overruns its output-buffer limit and is dropped.
    run(
        &mut p,
        "CONFIG SET client-output-buffer-limit \"replica 1mb 0 0\"",
    );
    let pid = Pid::from_raw(r.pid().expect("replica pid") as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    let value = "y".repeat(100_000);
    for i in 0..300 {
        run(&mut p, &format!("SET fill{i} {value}"));
    }
    eventually(SYNC_WAIT, || {
        match info_field(&mut p, "replication", "connected_slaves").as_deref() {
            Some("0") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    kill(pid, Signal::SIGCONT).unwrap();
    caught_up(&mut p, &mut c);
    assert_eq!(stat(&mut p, "sync_full"), 2);
    assert_eq!(digest(&mut c), digest(&mut p));
}

#[test]
fn wait_counts_acks_and_min_replicas_refuses_writes() {
    let primary = Server::start(Flavor::subject(), &["--repl-diskless-sync-delay", "0"]);
    let mut p = primary.conn();
    assert_eq!(p.run("WAIT 0 0"), Frame::Integer(0));
    assert_eq!(
        p.run("WAIT 1 100"),
        Frame::Integer(0),
        "no replica: times out with 0"
    );
    run(&mut p, "CONFIG SET min-replicas-to-write 1");
    match p.run("SET k v") {
        Frame::Error(e) => assert_eq!(&e[..], b"NOREPLICAS Not enough good replicas to write."),
        other => panic!("{other:?}"),
    }
    run(&mut p, "CONFIG SET min-replicas-to-write 0");
    let r = replica_of(Flavor::subject(), &primary);
    let mut c = r.conn();
    caught_up(&mut p, &mut c);
    run(&mut p, "SET k v");
    assert_eq!(p.run("WAIT 1 5000"), Frame::Integer(1));
    run(&mut p, "CONFIG SET min-replicas-to-write 1");
    eventually(SYNC_WAIT, || match p.run("SET k2 v") {
        Frame::Simple(_) => Ok(()),
        other => Err(other),
    });
    assert!(
        matches!(c.run("WAIT 1 10"), Frame::Error(e) if e.starts_with(b"ERR WAIT cannot be used with replica"))
    );
}

#[test]
fn replicaof_no_one_keeps_the_history() {
    let primary = Server::start(Flavor::subject(), &["--repl-diskless-sync-delay", "0"]);
    let mut p = primary.conn();
    populate(&mut p, "promo");
    let r = replica_of(Flavor::subject(), &primary);
    let mut c = r.conn();
    caught_up(&mut p, &mut c);
    let old_id = info_field(&mut p, "replication", "master_replid").unwrap();
    let off: i64 = info_field(&mut p, "replication", "master_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    run(&mut c, "REPLICAOF NO ONE");
    assert_eq!(
        info_field(&mut c, "replication", "role").as_deref(),
        Some("master")
    );
    assert_eq!(
        info_field(&mut c, "replication", "master_replid2"),
        Some(old_id)
    );
    assert_eq!(
        info_field(&mut c, "replication", "second_repl_offset"),
        Some((off + 1).to_string())
    );
    run(&mut c, "SET promoted 1");
    // The old primary follows the promoted one and continues partially.
    run(&mut p, &format!("REPLICAOF 127.0.0.1 {}", r.port()));
    caught_up(&mut c, &mut p);
    assert_eq!(stat(&mut c, "sync_partial_ok"), 1);
    assert_eq!(digest(&mut p), digest(&mut c));
}

/// A replica ignores its own `maxmemory` by default (`replica-ignore-maxmemory yes`): it keeps
/// every key its primary has instead of evicting on its own and diverging.
#[test]
fn replica_ignores_its_maxmemory_by_default() {
    let primary = Server::start(Flavor::subject(), &["--repl-diskless-sync-delay", "0"]);
    let mut p = primary.conn();
    let r = Server::start(
        Flavor::subject(),
        &[
            "--replicaof",
            "127.0.0.1",
            &primary.port().to_string(),
            "--maxmemory",
            "2mb",
            "--maxmemory-policy",
            "allkeys-random",
        ],
    );
    let mut c = r.conn();
    caught_up(&mut p, &mut c);
    // About 8 MB of values, pipelined in batches.
    let value = "v".repeat(400);
    for batch in 0..20 {
        let mut argv = vec!["MSET".to_string()];
        for i in 0..1000 {
            argv.push(format!("k:{batch}:{i}"));
            argv.push(value.clone());
        }
        assert_eq!(p.cmd(&argv), Frame::OK);
    }
    caught_up(&mut p, &mut c);
    // Several cron ticks on the replica, where eviction would run.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(c.run("DBSIZE"), Frame::Integer(20_000));
    assert_eq!(stat(&mut c, "evicted_keys"), 0);
    // Turned off, the replica enforces its own limit.
    assert_eq!(c.run("CONFIG SET replica-ignore-maxmemory no"), Frame::OK);
    eventually(SYNC_WAIT, || match stat(&mut c, "evicted_keys") {
        0 => Err("no eviction yet".to_string()),
        _ => Ok(()),
    });
}

/// A replica whose dataset diverged (`replica-read-only no`) answers its primary's stream
/// with errors nobody reads; it counts and logs them as Redis 7.0 does: errorstats,
/// `unexpected_error_replies`, `== CRITICAL == This replica is sending an error to its
/// master: '<error as Redis's reply code gave it>' after processing the command '<name>'`
/// (EXEC for a transaction's command), then `Latest backlog is: '<last 256 bytes, quoted>'`.
/// Both flavors follow one real Redis primary, so both see the same stream bytes.
#[test]
fn replica_errors_on_the_primary_stream_count_and_log_like_redis() {
    if !require_redis("replica error log") {
        return;
    }
    // No PINGs in the stream: both replicas' backlogs hold the same bytes.
    let primary = Server::start(
        Flavor::Redis,
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--repl-ping-replica-period",
            "3600",
        ],
    );
    let mut p = primary.conn();
    let port = primary.port().to_string();
    let replicas: Vec<Server> = [Flavor::Ferrokv, Flavor::Redis]
        .into_iter()
        .map(|f| {
            Server::start(
                f,
                &[
                    "--replicaof",
                    "127.0.0.1",
                    &port,
                    "--replica-read-only",
                    "no",
                ],
            )
        })
        .collect();
    for r in &replicas {
        let mut c = r.conn();
        caught_up(&mut p, &mut c);
        run(&mut c, "SET list-here str");
        run(&mut c, "SET counter abc");
        run(&mut c, "SET hash-here str");
    }
    run(&mut p, &format!("SET filler {}", "x".repeat(300)));
    run(&mut p, "LPUSH list-here x");
    run(&mut p, "INCR counter");
    run(&mut p, "MULTI");
    run(&mut p, "HSET hash-here a b");
    run(&mut p, "SET fine 1");
    run(&mut p, "EXEC");
    let outcome: Vec<Vec<String>> = replicas
        .iter()
        .map(|r| {
            let mut c = r.conn();
            caught_up(&mut p, &mut c);
            let mut out = crate::harness::inspect::info_lines(&mut c, "errorstats", &[]);
            out.push(info_field(&mut c, "stats", "unexpected_error_replies").unwrap());
            eventually(SYNC_WAIT, || {
                let lines = crate::harness::inspect::log_messages(
                    &r.log(),
                    &["== CRITICAL ==", "Latest backlog is"],
                );
                if lines.len() == 6 {
                    Ok(lines)
                } else {
                    Err(lines)
                }
            });
            out.extend(crate::harness::inspect::log_messages(
                &r.log(),
                &["== CRITICAL ==", "Latest backlog is"],
            ));
            out
        })
        .collect();
    assert_eq!(outcome[0], outcome[1]);
}

/// `mem_replication_backlog` reports what Redis 7.0's replication buffer blocks cost: 0
/// before any replica attached, the blocks' allocations (16 KiB and up, in jemalloc size
/// classes) after writes, capped at `repl-backlog-size` while a replica is attached and the
/// blocks still held once it left; `CONFIG SET repl-backlog-size` raises a value under 16
/// KiB to 16 KiB and trims the history.
#[test]
fn mem_replication_backlog_matches_redis() {
    if !require_redis("mem_replication_backlog") {
        return;
    }
    let session = |flavor: Flavor| -> Vec<String> {
        let primary = Server::start(
            flavor,
            &[
                "--repl-diskless-sync-delay",
                "0",
                "--repl-ping-replica-period",
                "3600",
            ],
        );
        let mut p = primary.conn();
        let mem = |p: &mut Conn| info_field(p, "memory", "mem_replication_backlog").unwrap();
        let mut seen = Vec::new();
        run(&mut p, "SET before replicas");
        seen.push(mem(&mut p));
        let mut replica = replica_of(Flavor::Redis, &primary);
        let mut r = replica.conn();
        caught_up(&mut p, &mut r);
        seen.push(mem(&mut p));
        run(&mut p, "SET c d");
        seen.push(mem(&mut p));
        p.cmd(&["SET", "big", &"x".repeat(200_000)]);
        seen.push(mem(&mut p));
        run(&mut p, "CONFIG SET repl-backlog-size 100");
        let got = crate::harness::inspect::items(p.run("CONFIG GET repl-backlog-size"));
        seen.push(String::from_utf8_lossy(&got[1]).into_owned());
        for i in 0..30 {
            p.cmd(&["SET", &format!("k{i}"), &"x".repeat(3000)]);
        }
        caught_up(&mut p, &mut r);
        seen.push(mem(&mut p));
        replica.stop();
        eventually(SYNC_WAIT, || {
            match info_field(&mut p, "replication", "connected_slaves").as_deref() {
                Some("0") => Ok(()),
                other => Err(format!("connected_slaves {other:?}")),
            }
        });
        seen.push(mem(&mut p));
        seen
    };
    let theirs = session(Flavor::Redis);
    assert_eq!(theirs[0], "0");
    assert_eq!(session(Flavor::Ferrokv), theirs);
}

/// A replica's `total_net_repl_input_bytes` counts the payload and the stream, not the
/// handshake replies (`+PONG`, `+OK`, `+FULLRESYNC`), as Redis counts them: a ferrokv and a
/// Redis replica of the same Redis primary report the same count, give or take the few bytes
/// by which two RDB payloads of the same data can differ (their aux fields).
#[test]
fn replication_input_counts_like_redis() {
    if !require_redis("replication_input_counts_like_redis") {
        return;
    }
    let primary = Server::start(Flavor::Redis, &["--repl-diskless-sync", "no"]);
    let mut p = primary.conn();
    populate(&mut p, "count");
    let ours = replica_of(Flavor::subject(), &primary);
    let theirs = replica_of(Flavor::Redis, &primary);
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    caught_up(&mut p, &mut a);
    caught_up(&mut p, &mut b);
    mixed_writes(&mut p, "count");
    caught_up(&mut p, &mut a);
    caught_up(&mut p, &mut b);
    let got = stat(&mut a, "total_net_repl_input_bytes");
    let want = stat(&mut b, "total_net_repl_input_bytes");
    assert!(
        got.abs_diff(want) <= 8,
        "ferrokv {got}, redis {want} (handshake replies are about 73 bytes)"
    );
}
