//! Fork-based snapshots (BGSAVE): the file is a point-in-time copy while writes go on,
//! a crash of the child or of the whole process never leaves a torn file, and a failing save
//! is reported (`rdb_last_bgsave_status:err`, `-MISCONF`) while the server keeps serving.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_proto::rdb::{RdbItem, RdbReader, RdbValue};
use ferrokv_proto::resp::Frame;

use crate::harness::conn::Conn;
use crate::harness::inspect;
use crate::harness::{eventually, Flavor, Server};

/// Every string key of an RDB file.
fn rdb_strings(path: &Path) -> Result<HashMap<Bytes, Bytes>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut r = RdbReader::from_read(file).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    while let Some(item) = r.next_item().map_err(|e| e.to_string())? {
        match item {
            RdbItem::Entry(e) => {
                if let RdbValue::String(v) = e.value {
                    out.insert(e.key, v);
                }
            }
            RdbItem::Eof(_) => break,
            _ => {}
        }
    }
    Ok(out)
}

fn info_field(conn: &mut Conn, section: &str, field: &str) -> String {
    inspect::info_field(conn, section, field)
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

/// Loads `n` string keys `prefix:<i>` through pipelines of 10,000.
fn preload(conn: &mut Conn, prefix: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut bytes = Vec::new();
        for i in chunk {
            bytes.extend(Conn::encode(&[
                "SET",
                &format!("{prefix}:{i}"),
                &format!("value-{i:032}"),
            ]));
        }
        conn.write_raw(&bytes).unwrap();
        for _ in chunk {
            assert_eq!(conn.read_reply().unwrap().to_frame(), Frame::OK);
        }
    }
}

fn wait_save_finished(conn: &mut Conn, saves_before: u64) -> String {
    eventually(Duration::from_secs(60), || {
        let in_progress = info_field(conn, "persistence", "rdb_bgsave_in_progress");
        let saves: u64 = info_field(conn, "persistence", "rdb_saves")
            .parse()
            .unwrap_or(0);
        let status = info_field(conn, "persistence", "rdb_last_bgsave_status");
        if in_progress == "0" && (saves > saves_before || status == "err") {
            Ok(status)
        } else {
            Err(format!("in_progress={in_progress} saves={saves}"))
        }
    })
}

/// The child's pid from "Background saving started by pid N" (the `nth` such line).
fn child_pid(server: &Server, nth: usize) -> i32 {
    eventually(Duration::from_secs(10), || {
        server
            .log()
            .lines()
            .filter_map(|l| l.split("Background saving started by pid ").nth(1))
            .nth(nth)
            .and_then(|p| p.trim().parse::<i32>().ok())
            .ok_or("no child pid in the log yet")
    })
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[test]
fn bgsave_is_a_point_in_time_snapshot_while_writes_continue() {
    let server = Server::start(Flavor::subject(), &["--save", ""]);
    let mut conn = server.conn();
    preload(&mut conn, "bulk", 200_000);

    // A writer that always changes `a` and `b` together, in MULTI/EXEC.
    let stop = Arc::new(AtomicBool::new(false));
    let pairs = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, pairs) = (stop.clone(), pairs.clone());
        let mut w = server.conn();
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let mut bytes = Conn::encode(&["MULTI"]);
                bytes.extend(Conn::encode(&["INCR", "a"]));
                bytes.extend(Conn::encode(&["INCR", "b"]));
                bytes.extend(Conn::encode(&["EXEC"]));
                w.write_raw(&bytes).unwrap();
                for _ in 0..4 {
                    let r = w.read_reply().unwrap();
                    assert!(!r.is_error(), "transaction failed");
                }
                pairs.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    eventually(Duration::from_secs(10), || {
        (pairs.load(Ordering::Relaxed) > 100)
            .then_some(())
            .ok_or("writer not started")
    });
    let copy = server.dir().join("copy.rdb");
    for round in 0..3u64 {
        let before = pairs.load(Ordering::Relaxed);
        assert_eq!(
            conn.run("BGSAVE"),
            Frame::simple("Background saving started")
        );
        assert_eq!(wait_save_finished(&mut conn, round), "ok");
        let during = pairs.load(Ordering::Relaxed) - before;
        std::fs::copy(server.dir().join("dump.rdb"), &copy).unwrap();
        let strings = rdb_strings(&copy).unwrap();
        let (a, b) = (strings.get(&b"a"[..]), strings.get(&b"b"[..]));
        println!("round {round}: a={a:?} b={b:?}, {during} transactions ran during the save");
        assert_eq!(a, b, "a snapshot split a MULTI/EXEC");
        assert!(a.is_some());
        assert_eq!(strings.len(), 200_002);
        assert!(during > 0, "writes stalled during BGSAVE");
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let forks: u64 = info_field(&mut conn, "stats", "total_forks")
        .parse()
        .unwrap();
    assert!(forks >= 3);
    let fork_usec: u64 = info_field(&mut conn, "stats", "latest_fork_usec")
        .parse()
        .unwrap();
    println!("latest_fork_usec={fork_usec}");
    // Redis's log sequence for each successful BGSAVE.
    let log = server.log();
    let saved = log.matches("DB saved on disk").count();
    let done = log
        .matches("Background saving terminated with success")
        .count();
    assert!(
        saved >= 3 && saved == done,
        "{saved} saved, {done} done:\n{log}"
    );
}

#[test]
fn killed_bgsave_child_keeps_the_previous_file_and_reports_err() {
    if Flavor::subject() != Flavor::Ferrokv {
        return;
    }
    let server = Server::start(Flavor::Ferrokv, &["--save", ""]);
    let mut conn = server.conn();
    preload(&mut conn, "base", 1_000);
    conn.run("BGSAVE");
    assert_eq!(wait_save_finished(&mut conn, 0), "ok");
    let dump = server.dir().join("dump.rdb");
    assert_eq!(rdb_strings(&dump).unwrap().len(), 1_000);

    preload(&mut conn, "more", 300_000);
    conn.run("BGSAVE");
    let pid = child_pid(&server, 1);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert_eq!(wait_save_finished(&mut conn, 1), "err");
    assert!(
        !server.dir().join(format!("temp-{pid}.rdb")).exists(),
        "temp file left behind"
    );
    assert_eq!(
        rdb_strings(&dump).unwrap().len(),
        1_000,
        "the previous RDB was damaged"
    );
    assert_eq!(
        conn.run("GET base:7"),
        Frame::bulk(format!("value-{:032}", 7))
    );
    assert!(server.log().contains("Background saving error"));
}

#[test]
fn failed_bgsave_refuses_writes_until_a_save_succeeds() {
    let server = Server::start(
        Flavor::subject(),
        &["--save", "3600 1", "--enable-protected-configs", "yes"],
    );
    let mut conn = server.conn();
    conn.run("SET k v");
    let dir = server.dir().join("snapdir");
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "dir", dir.to_str().unwrap()]),
        Frame::OK
    );
    std::fs::remove_dir(&dir).unwrap();
    conn.run("BGSAVE");
    assert_eq!(wait_save_finished(&mut conn, 0), "err");
    let reply = conn.run("SET k2 v");
    let Frame::Error(e) = reply else {
        panic!("write accepted after a failed save: {reply:?}")
    };
    assert!(e.starts_with(b"MISCONF "), "{e:?}");
    assert_eq!(
        conn.run("GET k"),
        Frame::bulk("v"),
        "reads must keep working"
    );
    std::fs::create_dir(&dir).unwrap();
    // Redis chdir()s to `dir`, so the recreated directory must be set again.
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "dir", dir.to_str().unwrap()]),
        Frame::OK
    );
    conn.run("BGSAVE");
    assert_eq!(wait_save_finished(&mut conn, 0), "ok");
    assert_eq!(conn.run("SET k2 v"), Frame::OK);
    assert!(dir.join("dump.rdb").exists());
}

/// Redis's reply to a write while a failed BGSAVE stops writes.
const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

fn error_text(f: Frame) -> String {
    match f {
        Frame::Error(e) => String::from_utf8_lossy(&e).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// `-MISCONF` inside MULTI: a write queued before the save failed makes EXEC itself fail
/// (`EXECABORT ... because of: MISCONF ...`); a write sent after it is refused at queue time
/// and EXEC answers `EXECABORT ... previous errors.`, as in Redis.
#[test]
fn misconf_refuses_writes_inside_multi_at_queue_time() {
    let server = Server::start(
        Flavor::subject(),
        &["--save", "3600 1", "--enable-protected-configs", "yes"],
    );
    let mut conn = server.conn();
    let mut other = server.conn();
    conn.run("SET k v");
    let dir = server.dir().join("snapdir");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.to_str().unwrap();
    assert_eq!(conn.cmd(&["CONFIG", "SET", "dir", path]), Frame::OK);
    assert_eq!(conn.run("MULTI"), Frame::OK);
    assert_eq!(conn.run("SET queued 1"), Frame::simple("QUEUED"));
    std::fs::remove_dir(&dir).unwrap();
    other.run("BGSAVE");
    assert_eq!(wait_save_finished(&mut other, 0), "err");
    assert_eq!(
        error_text(conn.run("EXEC")),
        format!("EXECABORT Transaction discarded because of: {MISCONF_RDB}")
    );
    assert_eq!(error_text(conn.run("EXEC")), "ERR EXEC without MULTI");

    assert_eq!(conn.run("MULTI"), Frame::OK);
    assert_eq!(error_text(conn.run("SET a 1")), MISCONF_RDB);
    assert_eq!(error_text(conn.run("PING")), MISCONF_RDB);
    assert_eq!(conn.run("GET k"), Frame::simple("QUEUED"));
    assert_eq!(
        error_text(conn.run("EXEC")),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(conn.run("MULTI"), Frame::OK);
    assert_eq!(conn.run("GET k"), Frame::simple("QUEUED"));
    assert_eq!(
        conn.run("EXEC"),
        Frame::Array(vec![Frame::bulk("v")]),
        "reads still run"
    );
    assert_eq!(conn.run("GET queued"), Frame::Null);
    assert_eq!(conn.run("GET a"), Frame::Null);

    // Writable again once a save succeeds (Redis chdir()s, so set `dir` again).
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(conn.cmd(&["CONFIG", "SET", "dir", path]), Frame::OK);
    conn.run("BGSAVE");
    assert_eq!(wait_save_finished(&mut conn, 0), "ok");
    assert_eq!(conn.run("MULTI"), Frame::OK);
    assert_eq!(conn.run("SET a 1"), Frame::simple("QUEUED"));
    assert_eq!(conn.run("EXEC"), Frame::Array(vec![Frame::OK]));
}

#[test]
fn crash_of_the_whole_process_during_bgsave_leaves_a_complete_rdb() {
    if Flavor::subject() != Flavor::Ferrokv {
        return;
    }
    let mut server = Server::start(Flavor::Ferrokv, &["--save", ""]);
    let mut conn = server.conn();
    preload(&mut conn, "base", 1_000);
    conn.run("BGSAVE");
    assert_eq!(wait_save_finished(&mut conn, 0), "ok");
    preload(&mut conn, "more", 300_000);
    conn.run("BGSAVE");
    let pid = child_pid(&server, 1);
    server.kill();
    // The orphaned child either finishes (and renames) or we stop it; either way the file
    // must be one complete RDB. Never leave the child running past the test.
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let n = rdb_strings(&server.dir().join("dump.rdb")).unwrap().len();
    println!("after the crash the RDB holds {n} keys");
    assert!(
        n == 1_000 || n == 301_000,
        "torn or mixed RDB with {n} keys"
    );
    server.restart();
    let mut conn = server.conn();
    let size = match conn.run("DBSIZE") {
        Frame::Integer(n) => n as usize,
        other => panic!("DBSIZE: {other:?}"),
    };
    assert_eq!(size, n, "restart did not load the RDB on disk");
}

#[test]
fn replica_restarted_from_its_rdb_resyncs_partially() {
    if Flavor::subject() != Flavor::Ferrokv {
        return;
    }
    let primary = Server::start(Flavor::Ferrokv, &["--save", ""]);
    let mut p = primary.conn();
    let port = primary.port().to_string();
    let mut replica = Server::start(
        Flavor::Ferrokv,
        &["--save", "", "--replicaof", "127.0.0.1", &port],
    );
    preload(&mut p, "first", 1_000);
    let caught_up = |r: &mut Conn, p: &mut Conn| {
        eventually(Duration::from_secs(30), || {
            let want = info_field(p, "replication", "master_repl_offset");
            let got = info_field(r, "replication", "slave_repl_offset");
            let up = info_field(r, "replication", "master_link_status");
            (up == "up" && want == got)
                .then_some(())
                .ok_or(format!("{up} {got} vs {want}"))
        })
    };
    let mut r = replica.conn();
    caught_up(&mut r, &mut p);
    r.run("BGSAVE");
    assert_eq!(wait_save_finished(&mut r, 0), "ok");
    replica.stop();
    preload(&mut p, "second", 100);
    replica.restart();
    let mut r = replica.conn();
    caught_up(&mut r, &mut p);
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_ok"),
        "1",
        "restart did a full sync"
    );
    assert_eq!(info_field(&mut p, "stats", "sync_full"), "1");
    assert!(replica
        .log()
        .contains("Successful partial resynchronization with master."));
    assert_eq!(r.run("DBSIZE"), Frame::Integer(1_100));
    assert_eq!(
        r.run("GET second:99"),
        Frame::bulk(format!("value-{:032}", 99))
    );
}

/// `rdb-key-save-delay` (a hidden testing aid, as in Redis): a BGSAVE of 200 keys at 10 ms
/// each stays in progress for about 2 s, the server keeps answering meanwhile, and the file
/// is complete when it ends. CONFIG GET lists the directive only when asked by exact name.
#[test]
fn rdb_key_save_delay_makes_bgsave_slow() {
    let server = Server::start(
        Flavor::subject(),
        &["--save", "", "--enable-debug-command", "yes"],
    );
    let mut conn = server.conn();
    preload(&mut conn, "slow", 200);
    assert_eq!(conn.run("CONFIG SET rdb-key-save-delay 10000"), Frame::OK);
    assert_eq!(
        conn.run("CONFIG GET rdb-key-save-delay"),
        Frame::Array(vec![
            Frame::bulk("rdb-key-save-delay"),
            Frame::bulk("10000")
        ])
    );
    assert_eq!(conn.run("CONFIG GET rdb-key-save-*"), Frame::Array(vec![]));
    let started = Instant::now();
    conn.run("BGSAVE");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(
        info_field(&mut conn, "persistence", "rdb_bgsave_in_progress"),
        "1"
    );
    assert_eq!(conn.run("PING"), Frame::simple("PONG"));
    assert_eq!(wait_save_finished(&mut conn, 0), "ok");
    assert!(
        started.elapsed() >= Duration::from_millis(1800),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(conn.run("CONFIG SET rdb-key-save-delay 0"), Frame::OK);
    assert_eq!(conn.run("DEBUG RELOAD"), Frame::OK);
    assert_eq!(conn.run("DBSIZE"), Frame::Integer(200));
}

/// INFO persistence `rdb_last_load_keys_loaded` / `_expired` after loading a file whose
/// volatile keys expired since it was written: the same counts as redis-server 7.0.
#[test]
fn last_load_key_counts_match_redis() {
    if !crate::harness::require_redis("last load key counts") {
        return;
    }
    let counts = |flavor: Flavor| -> (String, String) {
        let server = Server::start(flavor, &["--save", "", "--enable-debug-command", "yes"]);
        let mut conn = server.conn();
        for i in 0..10 {
            conn.run(&format!("SET k{i} v"));
        }
        for i in 0..3 {
            conn.run(&format!("SET e{i} v PX 100"));
        }
        assert_eq!(conn.run("SAVE"), Frame::OK);
        thread::sleep(Duration::from_millis(300));
        assert_eq!(conn.run("DEBUG RELOAD NOSAVE"), Frame::OK);
        (
            info_field(&mut conn, "persistence", "rdb_last_load_keys_loaded"),
            info_field(&mut conn, "persistence", "rdb_last_load_keys_expired"),
        )
    };
    let ours = counts(Flavor::Ferrokv);
    assert_eq!(ours, ("10".to_string(), "3".to_string()));
    assert_eq!(ours, counts(Flavor::Redis));
}
