//! Node-level behaviour through the real binary: authentication, maxmemory, blocking
//! commands' FIFO wake-ups, WATCH, CLIENT, CONFIG, active expiry, startup errors, SIGTERM.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use ferrokv_proto::resp::Frame;

use crate::harness::conn::Conn;
use crate::harness::{eventually, Flavor, Server};

fn err_text(f: &Frame) -> String {
    match f {
        Frame::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn int(f: Frame) -> i64 {
    match f {
        Frame::Integer(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

#[test]
fn requirepass_gates_commands_until_auth() {
    let server = Server::start(Flavor::subject(), &["--requirepass", "s3cret"]);
    let mut c = server.conn();
    assert_eq!(err_text(&c.run("GET k")), "NOAUTH Authentication required.");
    assert!(err_text(&c.run("AUTH wrong")).starts_with("WRONGPASS invalid username-password pair"));
    assert_eq!(c.run("AUTH s3cret"), Frame::OK);
    assert_eq!(c.run("SET k v"), Frame::OK);
    let mut c2 = server.conn();
    assert_eq!(c2.run("AUTH default s3cret"), Frame::OK);
    assert_eq!(c2.run("GET k"), Frame::bulk("v"));
    let mut c3 = server.conn();
    let hello = c3.run("HELLO 3 AUTH default s3cret SETNAME app");
    assert!(matches!(hello, Frame::Map(_)), "{hello:?}");
    assert_eq!(c3.run("CLIENT GETNAME"), Frame::bulk("app"));
}

#[test]
fn commandstats_count_calls_per_command() {
    let server = Server::start(Flavor::subject(), &[] as &[&str]);
    let mut c = server.conn();
    c.run("SET a 1");
    c.run("GET a");
    c.run("get a");
    c.run("INCR nope:not-a-number-yet");
    let Frame::Bulk(info) = c.run("INFO commandstats") else {
        panic!("INFO commandstats is not a bulk string")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let calls = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next()?.parse::<u64>().ok())
    };
    assert_eq!(calls("get"), Some(2), "{info}");
    assert_eq!(calls("set"), Some(1), "{info}");
    assert_eq!(calls("incr"), Some(1), "{info}");
    assert_eq!(calls("hset"), None, "{info}");
    // One line per command (Redis's order is its dict's; ours is by name).
    let mut names: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(':').next()?.strip_prefix("cmdstat_"))
        .collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "{info}");
}

/// INFO commandstats and errorstats count like redis-server 7.0 for the same session: calls,
/// rejections (arity, queue-time and EXEC-time write refusals, whose EXEC discards the
/// transaction) and failures per command and per container subcommand (`config|set`),
/// commands queued in MULTI counted only when EXEC runs them, and error replies by code.
/// The `usec` figures are timings and are left out of the comparison.
#[test]
fn command_and_error_stats_match_redis() {
    if !crate::harness::require_redis("command and error stats") {
        return;
    }
    let session = |flavor: Flavor| -> (Vec<String>, Vec<String>) {
        let server = Server::start(flavor, &[] as &[&str]);
        let mut c = server.conn();
        let mut admin = server.conn();
        for line in [
            "CONFIG RESETSTAT",
            "SET a x",
            "GET",
            "LPUSH a x",
            "NOSUCH",
            "CONFIG SET nosuch 1",
            "CONFIG GET",
            "CONFIG FOO",
            "OBJECT ENCODING a",
            "INCR a",
            "MULTI",
            "INCR a",
            "SET b 1",
            "EXEC",
            "MULTI",
            "GET",
            "SET c 1",
            "EXEC",
            "AUTH nopass",
        ] {
            c.run(line);
        }
        // Writes refused at queue time, then at EXEC time.
        admin.run("CONFIG SET min-replicas-to-write 1");
        for line in ["MULTI", "SET a 1", "GET a", "EXEC"] {
            c.run(line);
        }
        admin.run("CONFIG SET min-replicas-to-write 0");
        for line in ["MULTI", "SET a 1", "GET a"] {
            c.run(line);
        }
        admin.run("CONFIG SET min-replicas-to-write 1");
        c.run("EXEC");
        c.run("EXEC");
        admin.run("CONFIG SET min-replicas-to-write 0");
        let section = |c: &mut Conn, name: &str| -> Vec<String> {
            let Frame::Bulk(info) = c.run(&format!("INFO {name}")) else {
                panic!("INFO {name} is not a bulk string")
            };
            let mut lines: Vec<String> = String::from_utf8_lossy(&info)
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(|l| {
                    l.split(',')
                        .filter(|f| !f.starts_with("usec"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            lines.sort();
            lines
        };
        let stats = section(&mut c, "commandstats");
        let errors = section(&mut c, "errorstats");
        (stats, errors)
    };
    let ours = session(Flavor::Ferrokv);
    let theirs = session(Flavor::Redis);
    assert_eq!(ours, theirs);
}

/// DEBUG parses its own subcommands: a wrong one or a wrong count is one error naming the
/// subcommand as typed (Redis's `addReplySubcommandSyntaxError`), not an arity error.
#[test]
fn debug_subcommand_errors_match_redis() {
    if !crate::harness::require_redis("DEBUG errors") {
        return;
    }
    let replies = |flavor: Flavor| -> Vec<Frame> {
        let server = Server::start(flavor, &["--enable-debug-command", "yes"]);
        let mut c = server.conn();
        ["DEBUG SLEEP", "DEBUG NoSuch 1", "DEBUG OBJECT"]
            .iter()
            .map(|l| c.run(l))
            .collect()
    };
    assert_eq!(replies(Flavor::Ferrokv), replies(Flavor::Redis));
}

#[test]
fn noeviction_answers_oom_and_lru_evicts() {
    let server = Server::start(
        Flavor::subject(),
        &["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"],
    );
    let mut c = server.conn();
    let value = "x".repeat(1000);
    let mut oom = None;
    for i in 0..20_000 {
        let r = c.cmd(&["SET", &format!("k{i}"), &value]);
        if let Frame::Error(_) = r {
            oom = Some(err_text(&r));
            break;
        }
    }
    assert_eq!(
        oom.as_deref(),
        Some("OOM command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(
        c.run("GET k0"),
        Frame::bulk(value.clone()),
        "reads still work"
    );
    assert_eq!(
        c.run("DEL k0"),
        Frame::Integer(1),
        "DEL is not denied on OOM"
    );
    c.run("CONFIG SET maxmemory-policy allkeys-lru");
    for i in 20_000..30_000 {
        assert_eq!(
            c.cmd(&["SET", &format!("k{i}"), &value]),
            Frame::OK,
            "LRU must make room"
        );
    }
    let (Frame::Bulk(info) | Frame::Verbatim { text: info, .. }) = c.run("INFO stats") else {
        panic!()
    };
    let evicted: u64 = String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(evicted > 0);
    assert!(int(c.run("DBSIZE")) < 30_000);
}

#[test]
fn blocked_clients_are_served_first_come_first_served() {
    let server = Server::ferrokv();
    let mut waiters: Vec<(usize, Conn)> = Vec::new();
    for i in 0..3 {
        let mut c = server.conn();
        c.send(&["BLPOP", "q", "5"]).unwrap();
        // Make the arrival order certain before the next client blocks.
        let mut probe = server.conn();
        eventually(Duration::from_secs(5), || {
            let n = match probe.run("INFO clients") {
                Frame::Bulk(t) | Frame::Verbatim { text: t, .. } => String::from_utf8_lossy(&t)
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("blocked_clients:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap(),
                other => panic!("{other:?}"),
            };
            (n == i + 1).then_some(()).ok_or(n)
        });
        waiters.push((i, c));
    }
    let mut pusher = server.conn();
    assert_eq!(pusher.run("RPUSH q a b c"), Frame::Integer(3));
    for ((i, mut c), want) in waiters.into_iter().zip(["a", "b", "c"]) {
        let reply = c.read_reply().unwrap().to_frame();
        assert_eq!(
            reply,
            Frame::Array(vec![Frame::bulk("q"), Frame::bulk(want)]),
            "waiter {i}"
        );
    }
    assert_eq!(pusher.run("EXISTS q"), Frame::Integer(0));
    // A timeout gives a null array after about the timeout.
    let mut c = server.conn();
    let start = Instant::now();
    assert_eq!(c.run("BLPOP nothing 0.3"), Frame::NullArray);
    assert!(start.elapsed() >= Duration::from_millis(250));
}

#[test]
fn blmove_chain_wakes_the_next_waiter() {
    let server = Server::ferrokv();
    let mut a = server.conn();
    a.send(&["BLPOP", "dst", "5"]).unwrap();
    let mut b = server.conn();
    b.send(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "5"])
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    let mut p = server.conn();
    p.run("LPUSH src x");
    assert_eq!(b.read_reply().unwrap().to_frame(), Frame::bulk("x"));
    assert_eq!(
        a.read_reply().unwrap().to_frame(),
        Frame::Array(vec![Frame::bulk("dst"), Frame::bulk("x")])
    );
}

#[test]
fn watch_aborts_exec_when_another_client_writes() {
    let server = Server::ferrokv();
    let mut a = server.conn();
    let mut b = server.conn();
    a.run("SET w 1");
    assert_eq!(a.run("WATCH w"), Frame::OK);
    b.run("SET w 2");
    a.run("MULTI");
    assert_eq!(a.run("SET w 3"), Frame::simple("QUEUED"));
    assert_eq!(a.run("EXEC"), Frame::NullArray);
    assert_eq!(a.run("GET w"), Frame::bulk("2"));
    // Untouched watch: EXEC runs.
    a.run("WATCH w");
    a.run("MULTI");
    a.run("INCR w");
    assert_eq!(a.run("EXEC"), Frame::Array(vec![Frame::Integer(3)]));
    // A queuing error aborts the whole transaction.
    a.run("MULTI");
    a.run("SET w 9");
    assert!(err_text(&a.run("NOSUCHCMD")).starts_with("ERR unknown command 'NOSUCHCMD'"));
    assert_eq!(
        err_text(&a.run("EXEC")),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(a.run("GET w"), Frame::bulk("3"));
}

/// Inside MULTI the write gate runs at queue time, as in Redis: a write refused with
/// `-OOM`, `-NOREPLICAS` or `-READONLY` is not QUEUED and EXEC discards the transaction. Under
/// `maxmemory` every command but EXEC/DISCARD is refused while queueing (queueing costs
/// memory). Writes refused only after queueing make EXEC itself fail with
/// `-EXECABORT Transaction discarded because of: <error>`.
#[test]
fn write_gate_refuses_at_queue_time_inside_multi() {
    let server = Server::start(Flavor::subject(), &[] as &[&str]);
    let mut a = server.conn();
    let mut b = server.conn();
    a.run("SET k v");
    let aborted = "EXECABORT Transaction discarded because of previous errors.";

    let oom = "OOM command not allowed when used memory > 'maxmemory'.";
    assert_eq!(b.run("CONFIG SET maxmemory 1"), Frame::OK);
    assert_eq!(a.run("MULTI"), Frame::OK);
    assert_eq!(
        err_text(&a.run("GET k")),
        oom,
        "any command is refused in MULTI"
    );
    assert_eq!(err_text(&a.run("SET a 1")), oom);
    assert_eq!(err_text(&a.run("EXEC")), aborted);
    assert_eq!(a.run("MULTI"), Frame::OK);
    assert_eq!(a.run("DISCARD"), Frame::OK, "DISCARD still runs");
    assert_eq!(b.run("CONFIG SET maxmemory 0"), Frame::OK);

    let noreplicas = "NOREPLICAS Not enough good replicas to write.";
    assert_eq!(b.run("CONFIG SET min-replicas-to-write 1"), Frame::OK);
    assert_eq!(a.run("MULTI"), Frame::OK);
    assert_eq!(err_text(&a.run("SET a 1")), noreplicas);
    assert_eq!(a.run("GET k"), Frame::simple("QUEUED"));
    assert_eq!(err_text(&a.run("EXEC")), aborted);
    // Refused only after queueing: EXEC itself is refused and the transaction is gone.
    assert_eq!(b.run("CONFIG SET min-replicas-to-write 0"), Frame::OK);
    assert_eq!(a.run("MULTI"), Frame::OK);
    assert_eq!(a.run("SET a 1"), Frame::simple("QUEUED"));
    assert_eq!(b.run("CONFIG SET min-replicas-to-write 1"), Frame::OK);
    assert_eq!(
        err_text(&a.run("EXEC")),
        format!("EXECABORT Transaction discarded because of: {noreplicas}")
    );
    assert_eq!(err_text(&a.run("EXEC")), "ERR EXEC without MULTI");
    // A read-only transaction passes the gate.
    a.run("MULTI");
    a.run("GET k");
    assert_eq!(a.run("EXEC"), Frame::Array(vec![Frame::bulk("v")]));
    assert_eq!(b.run("CONFIG SET min-replicas-to-write 0"), Frame::OK);

    // A replica of a primary that is not there (port 1 refuses connections).
    assert_eq!(b.run("REPLICAOF 127.0.0.1 1"), Frame::OK);
    assert_eq!(a.run("MULTI"), Frame::OK);
    assert_eq!(
        err_text(&a.run("SET a 1")),
        "READONLY You can't write against a read only replica."
    );
    assert_eq!(a.run("GET k"), Frame::simple("QUEUED"));
    assert_eq!(err_text(&a.run("EXEC")), aborted);
    assert_eq!(b.run("REPLICAOF NO ONE"), Frame::OK);
    assert_eq!(a.run("GET a"), Frame::Null, "no refused write ran");
}

/// `dir` and `dbfilename` are Redis's protected configs: CONFIG SET refuses them unless
/// `enable-protected-configs` (immutable) allows it. Every name is checked before any value
/// is set, so a refused command changes nothing.
#[test]
fn protected_configs_need_enable_protected_configs() {
    let denied = |name: &str| {
        format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config")
    };
    let server = Server::start(Flavor::subject(), &[] as &[&str]);
    let mut c = server.conn();
    let dir = server.dir().to_str().unwrap().to_string();
    assert_eq!(
        err_text(&c.cmd(&["CONFIG", "SET", "dir", &dir])),
        denied("dir")
    );
    assert_eq!(
        err_text(&c.run("CONFIG SET dbfilename other.rdb")),
        denied("dbfilename")
    );
    assert_eq!(
        err_text(&c.run("CONFIG SET hz abc dbfilename other.rdb")),
        denied("dbfilename"),
        "names are checked before values"
    );
    assert_eq!(
        err_text(&c.run("CONFIG SET hz 11 dbfilename other.rdb")),
        denied("dbfilename")
    );
    assert_eq!(
        c.run("CONFIG GET hz"),
        Frame::Array(vec![Frame::bulk("hz"), Frame::bulk("10")]),
        "nothing changed"
    );
    assert_eq!(
        c.run("CONFIG GET enable-protected-configs"),
        Frame::Array(vec![
            Frame::bulk("enable-protected-configs"),
            Frame::bulk("no")
        ])
    );
    assert_eq!(
        err_text(&c.run("CONFIG SET enable-protected-configs yes")),
        "ERR CONFIG SET failed (possibly related to argument 'enable-protected-configs') - can't set immutable config"
    );
    // `local` lets loopback clients (the harness binds 127.0.0.1); `yes` lets everyone.
    for setting in ["local", "yes"] {
        let server = Server::start(Flavor::subject(), &["--enable-protected-configs", setting]);
        let mut c = server.conn();
        let dir = server.dir().to_str().unwrap().to_string();
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "dir", &dir]),
            Frame::OK,
            "{setting}"
        );
        assert_eq!(c.run("CONFIG SET dbfilename other.rdb"), Frame::OK);
        assert_eq!(c.run("SAVE"), Frame::OK);
        assert!(server.dir().join("other.rdb").exists(), "{setting}");
    }
}

#[test]
fn client_list_kill_and_reply_modes() {
    let server = Server::ferrokv();
    let mut a = server.conn();
    let mut b = server.conn();
    assert_eq!(b.run("CLIENT SETNAME victim"), Frame::OK);
    let id_b = int(b.run("CLIENT ID"));
    let list = match a.run("CLIENT LIST") {
        Frame::Bulk(t) | Frame::Verbatim { text: t, .. } => {
            String::from_utf8_lossy(&t).into_owned()
        }
        other => panic!("{other:?}"),
    };
    assert!(
        list.lines()
            .any(|l| l.contains(&format!("id={id_b} ")) && l.contains(" name=victim ")),
        "{list}"
    );
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &id_b.to_string()]),
        Frame::Integer(1)
    );
    assert!(b.read_to_close(Duration::from_secs(5)).is_ok());
    // CLIENT REPLY OFF silences replies until ON.
    a.send(&["CLIENT", "REPLY", "OFF"]).unwrap();
    a.send(&["SET", "r", "1"]).unwrap();
    a.send(&["CLIENT", "REPLY", "ON"]).unwrap();
    assert_eq!(
        a.read_reply().unwrap().to_frame(),
        Frame::OK,
        "only the ON reply arrives"
    );
    assert_eq!(a.run("GET r"), Frame::bulk("1"));
}

#[test]
fn config_set_get_with_aliases_and_errors() {
    let server = Server::ferrokv();
    let mut c = server.conn();
    assert_eq!(c.run("CONFIG SET hash-max-ziplist-entries 7"), Frame::OK);
    assert_eq!(
        c.run("CONFIG GET hash-max-listpack-entries"),
        Frame::Array(vec![
            Frame::bulk("hash-max-listpack-entries"),
            Frame::bulk("7")
        ])
    );
    c.run("HSET h a 1 b 2 c 3 d 4 e 5 f 6 g 7");
    assert_eq!(c.run("OBJECT ENCODING h"), Frame::bulk("listpack"));
    c.run("HSET h h 8");
    assert_eq!(c.run("OBJECT ENCODING h"), Frame::bulk("hashtable"));
    assert!(err_text(&c.run("CONFIG SET nosuch 1"))
        .starts_with("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"));
    assert!(
        err_text(&c.run("CONFIG SET maxmemory lots")).contains("argument must be a memory value")
    );
    assert!(err_text(&c.run("CONFIG SET databases 3")).contains("can't set immutable config"));
}

#[test]
fn unknown_directive_is_a_startup_error_naming_file_and_line() {
    let bin = env!("CARGO_BIN_EXE_ferrokv-server");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "port 7777\n# comment\nbogus-directive yes\n").unwrap();
    let out = std::process::Command::new(bin).arg(&conf).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FATAL CONFIG FILE ERROR"), "{err}");
    assert!(err.contains("at line 3"), "{err}");
    assert!(err.contains("bogus-directive yes"), "{err}");
    assert!(err.contains(conf.to_str().unwrap()), "{err}");
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let server = Server::ferrokv();
    let mut c = server.conn();
    for i in 0..500 {
        c.cmd(&["SET", &format!("e{i}"), "v", "PX", "100"]);
    }
    c.run("SET keep v");
    // DBSIZE counts keys not yet collected; the active cycle must bring it down without reads.
    eventually(Duration::from_secs(10), || {
        let n = int(c.run("DBSIZE"));
        (n == 1).then_some(()).ok_or(n)
    });
}

#[test]
fn sigterm_shuts_down_gracefully_and_saves_with_save_rules() {
    let mut server = Server::start(Flavor::subject(), &["--save", "3600 1"]);
    let mut c = server.conn();
    c.run("SET persisted yes");
    let log = server.stop();
    assert!(
        server.dir().join("dump.rdb").exists(),
        "no final save:\n{log}"
    );
    server.restart();
    let mut c = server.conn();
    assert_eq!(c.run("GET persisted"), Frame::bulk("yes"));
}

#[test]
fn shutdown_nosave_closes_without_reply() {
    let mut server = Server::start(Flavor::subject(), &["--save", "3600 1"]);
    let mut c = server.conn();
    c.run("SET x 1");
    c.send(&["SHUTDOWN", "NOSAVE"]).unwrap();
    let rest = c.read_to_close(Duration::from_secs(10)).unwrap();
    assert!(
        rest.is_empty(),
        "SHUTDOWN replied {:?}",
        String::from_utf8_lossy(&rest)
    );
    eventually(Duration::from_secs(10), || {
        server.exited().then_some(()).ok_or("still running")
    });
    assert!(!server.dir().join("dump.rdb").exists());
}

#[test]
fn replica_without_stale_data_answers_masterdown_while_its_link_is_down() {
    // Port 1 on loopback: nothing listens there, so the link never comes up.
    let server = Server::start(
        Flavor::subject(),
        &[
            "--replicaof",
            "127.0.0.1",
            "1",
            "--replica-serve-stale-data",
            "no",
        ],
    );
    let mut c = server.conn();
    let down = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    for cmd in ["PING", "GET k", "DBSIZE"] {
        assert_eq!(err_text(&c.run(cmd)), down, "{cmd}");
    }
    // Commands Redis flags `stale` still run.
    assert_eq!(c.run("ECHO x"), Frame::bulk("x"));
    assert!(matches!(c.run("CONFIG GET port"), Frame::Array(_)));
    assert!(matches!(c.run("CLIENT ID"), Frame::Integer(_)));
    assert!(matches!(c.run("ROLE"), Frame::Array(_)));
    assert!(matches!(c.run("TIME"), Frame::Array(_)));
    assert_eq!(c.run("CONFIG SET replica-serve-stale-data yes"), Frame::OK);
    assert_eq!(c.run("GET k"), Frame::Null);
}

#[test]
fn debug_object_reads_the_selected_database() {
    let server = Server::start(Flavor::Ferrokv, &["--enable-debug-command", "yes"]);
    let mut c = server.conn();
    c.run("SELECT 3");
    c.run("SET k 12345");
    let Frame::Simple(text) = c.run("DEBUG OBJECT k") else {
        panic!("DEBUG OBJECT in db 3 did not find the key")
    };
    assert!(text.windows(12).any(|w| w == b"encoding:int"), "{text:?}");
}

/// Every INFO section lists the fields redis-server 7.0 lists, in the same order, so that
/// tools reading INFO find each one where they expect it (ferrokv adds `ferrokv_version`).
#[test]
fn info_sections_have_redis_fields_in_redis_order() {
    if !crate::harness::require_redis("info fields") {
        return;
    }
    let fields = |flavor: Flavor, section: &str| -> Vec<String> {
        let server = Server::start(flavor, &[] as &[&str]);
        let reply = server.conn().cmd(&["INFO", section]);
        String::from_utf8_lossy(&crate::harness::inspect::text(&reply))
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .filter(|k| k != "ferrokv_version")
            .collect()
    };
    for section in [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
    ] {
        assert_eq!(
            fields(Flavor::subject(), section),
            fields(Flavor::Redis, section),
            "INFO {section}"
        );
    }
}

/// CLIENT LIST reports each connection's own file descriptor and buffers.
#[test]
fn client_list_reports_real_descriptors() {
    let server = Server::start(Flavor::subject(), &[] as &[&str]);
    let mut a = server.conn();
    let mut b = server.conn();
    assert_eq!(b.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let list = String::from_utf8_lossy(&crate::harness::inspect::text(&a.cmd(&["CLIENT", "LIST"])))
        .into_owned();
    let field = |line: &str, name: &str| -> String {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    let fds: Vec<i64> = list
        .lines()
        .map(|l| field(l, "fd").parse().unwrap())
        .collect();
    assert_eq!(fds.len(), 2, "{list}");
    assert!(fds.iter().all(|&fd| fd > 2) && fds[0] != fds[1], "{list}");
    for line in list.lines() {
        assert_eq!(field(line, "rbs"), "16384", "{line}");
        assert!(
            field(line, "tot-mem").parse::<u64>().unwrap() > 16384,
            "{line}"
        );
    }
}

/// Prose (ours, not Redis's) in COMMAND output becomes a marker, so that only its
/// presence is compared.
fn prose() -> Frame {
    Frame::bulk("<prose>")
}

/// The name of a COMMAND INFO entry.
fn info_name(entry: &Frame) -> String {
    match entry {
        Frame::Array(items) => match &items[0] {
            Frame::Bulk(n) => String::from_utf8_lossy(n).into_owned(),
            other => panic!("no name: {other:?}"),
        },
        other => panic!("not a command entry: {other:?}"),
    }
}

/// A COMMAND INFO entry (RESP2) with key spec notes as [`prose`] and its subcommands
/// reduced to those in `keep`, sorted (Redis lists them in hash order).
fn comparable_info(entry: Frame, keep: &HashSet<String>) -> Frame {
    let Frame::Array(mut items) = entry else {
        return entry;
    };
    if let Some(Frame::Array(specs)) = items.get_mut(8) {
        for spec in specs {
            if let Frame::Array(kv) = spec {
                if kv[0] == Frame::bulk("notes") {
                    kv[1] = prose();
                }
            }
        }
    }
    if let Some(Frame::Array(subs)) = items.get_mut(9) {
        subs.retain(|s| keep.contains(&info_name(s)));
        for s in subs.iter_mut() {
            *s = comparable_info(s.clone(), keep);
        }
        subs.sort_by_key(|s| format!("{s:?}"));
    }
    Frame::Array(items)
}

/// A COMMAND DOCS map (RESP2: flat pairs) with its prose as [`prose`] (history notes
/// too, history sorted) and its subcommands reduced to those in `keep`, sorted.
fn comparable_docs(doc: Frame, keep: &HashSet<String>) -> Frame {
    let Frame::Array(kv) = doc else {
        return doc;
    };
    let mut out = Vec::new();
    for pair in kv.chunks(2) {
        let (key, value) = (pair[0].clone(), pair[1].clone());
        let text = |s: &'static str| key == Frame::bulk(s);
        let value = if text("summary") || text("complexity") || text("replaced_by") {
            prose()
        } else if text("history") {
            let Frame::Array(mut entries) = value else {
                panic!("history is not an array");
            };
            for e in &mut entries {
                if let Frame::Array(change) = e {
                    change[1] = prose();
                }
            }
            entries.sort_by_key(|e| format!("{e:?}"));
            Frame::Array(entries)
        } else if text("subcommands") {
            let Frame::Array(flat) = value else {
                panic!("subcommands is not a map");
            };
            let mut subs: Vec<(Frame, Frame)> = flat
                .chunks(2)
                .filter(|p| matches!(&p[0], Frame::Bulk(n) if keep.contains(&*String::from_utf8_lossy(n))))
                .map(|p| (p[0].clone(), comparable_docs(p[1].clone(), keep)))
                .collect();
            subs.sort_by_key(|(n, _)| format!("{n:?}"));
            Frame::Array(subs.into_iter().flat_map(|(n, d)| [n, d]).collect())
        } else {
            value
        };
        out.extend([key, value]);
    }
    Frame::Array(out)
}

/// COMMAND INFO and COMMAND DOCS for every command and subcommand ferrokv has, against
/// redis-server 7.0: all ten INFO fields (flags in Redis's order with `movablekeys`, the
/// legacy key range, ACL categories, tips, key specs, subcommands) and every DOCS field
/// (since, group, doc flags, deprecation, history versions, the whole argument tree). The
/// prose is ours, so summaries, complexity and history notes, key spec notes and
/// `replaced_by` are compared for presence only; subcommands that Redis has and ferrokv
/// does not (CLIENT TRACKING, LATENCY DOCTOR, ...) are left out of Redis's side. Every name
/// COMMAND LIST gives must be one Redis has.
#[test]
fn command_info_and_docs_match_redis() {
    if !crate::harness::require_redis("command info") {
        return;
    }
    let ours = Server::start(Flavor::subject(), &[] as &[&str]);
    let redis = Server::start(Flavor::Redis, &[] as &[&str]);
    let (mut a, mut b) = (ours.conn(), redis.conn());
    let names = |c: &mut Conn| -> HashSet<String> {
        match c.cmd(&["COMMAND", "LIST"]) {
            Frame::Array(items) => items
                .into_iter()
                .map(|f| match f {
                    Frame::Bulk(n) => String::from_utf8_lossy(&n).into_owned(),
                    other => panic!("not a name: {other:?}"),
                })
                .collect(),
            other => panic!("COMMAND LIST: {other:?}"),
        }
    };
    let (keep, theirs) = (names(&mut a), names(&mut b));
    let unknown: Vec<&String> = keep.difference(&theirs).collect();
    assert!(unknown.is_empty(), "not commands of Redis: {unknown:?}");
    assert!(keep.iter().filter(|n| n.contains('|')).count() > 40);
    let Frame::Array(all) = a.cmd(&["COMMAND"]) else {
        panic!("COMMAND is not an array");
    };
    assert!(all.len() > 150, "only {} commands", all.len());
    let mut differ = Vec::new();
    let mut sorted: Vec<&String> = keep.iter().collect();
    sorted.sort();
    for name in sorted {
        let info = |c: &mut Conn| match c.cmd(&["COMMAND", "INFO", name]) {
            Frame::Array(mut items) => comparable_info(items.remove(0), &keep),
            other => panic!("COMMAND INFO {name}: {other:?}"),
        };
        let (want, got) = (info(&mut b), info(&mut a));
        if want != got {
            differ.push(format!(
                "INFO {name}:\n  redis   {want:?}\n  ferrokv {got:?}"
            ));
        }
        let docs = |c: &mut Conn| match c.cmd(&["COMMAND", "DOCS", name]) {
            Frame::Array(items) if items.len() == 2 => comparable_docs(items[1].clone(), &keep),
            other => panic!("COMMAND DOCS {name}: {other:?}"),
        };
        let (want, got) = (docs(&mut b), docs(&mut a));
        if want != got {
            differ.push(format!(
                "DOCS {name}:\n  redis   {want:?}\n  ferrokv {got:?}"
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Reading a string leaves its memory as it was. GET, MGET, GETRANGE, GETEX and DUMP run on
/// every key, and `used_memory` may not grow: sharing the stored buffer with the reply used
/// to allocate a 32-byte header per key read, for good (1M keys read once by GET grew RSS by
/// 32 MB, past real Redis's).
#[test]
fn reading_strings_does_not_grow_memory() {
    use crate::harness::inspect::info_int;
    const KEYS: usize = 20_000;
    let server = Server::start(Flavor::subject(), &[] as &[&str]);
    let mut c = server.conn();
    let value = "v".repeat(64);
    let key = |i: usize| format!("key:{i}");
    c.pipeline((0..KEYS).map(|i| vec!["SET".into(), key(i), value.clone()]));
    let reads: [&dyn Fn(String) -> Vec<String>; 5] = [
        &|k| vec!["GET".into(), k],
        &|k| vec!["MGET".into(), k],
        &|k| vec!["GETRANGE".into(), k, "0".into(), "-1".into()],
        &|k| vec!["GETEX".into(), k],
        &|k| vec!["DUMP".into(), k],
    ];
    // Each command once first: its per-command state (stats, latency histogram) is not
    // what this test measures.
    c.pipeline(reads.iter().map(|read| read(key(0))));
    let before = info_int(&mut c, "memory", "used_memory");
    for read in reads {
        c.pipeline((0..KEYS).map(|i| read(key(i))));
    }
    let after = info_int(&mut c, "memory", "used_memory");
    assert!(
        after - before < (KEYS * 4) as i64,
        "used_memory grew from {before} to {after} reading {KEYS} keys"
    );
}

/// A command's duration covers only its own run: the time a connection waits between two
/// reads never counts (commands of one read share clock readings, see `CommandClock`).
#[test]
fn idle_time_between_commands_is_not_command_time() {
    let server = Server::start(Flavor::subject(), &["--slowlog-log-slower-than", "100000"]);
    let mut c = server.conn();
    // Two pipelined commands in one read, then one more after an idle gap.
    c.write_raw(&[Conn::encode(&["PING"]), Conn::encode(&["PING"])].concat())
        .unwrap();
    for _ in 0..2 {
        c.read_reply().unwrap();
    }
    thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Frame::Integer(0));
    // A command that really is slow is logged.
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["PING"]);
    assert!(matches!(c.cmd(&["SLOWLOG", "LEN"]), Frame::Integer(n) if n > 0));
}

/// Freed memory goes back to the system at once after a synchronous FLUSHALL and after
/// MEMORY PURGE, as in Redis, instead of when the allocator's decay timers run out (without
/// traffic, never): 20 MB of values freed must leave RSS within 8 MB of where it started.
#[test]
fn flushall_and_memory_purge_give_memory_back() {
    use crate::harness::inspect::info_int;
    const KEYS: usize = 100_000;
    let server = Server::start(Flavor::subject(), &[] as &[&str]);
    let mut c = server.conn();
    let rss = |c: &mut Conn| info_int(c, "memory", "used_memory_rss");
    let value = "v".repeat(200);
    let set = || (0..KEYS).map(|i| vec!["SET".to_string(), format!("key:{i}"), value.clone()]);
    let base = rss(&mut c);
    c.pipeline(set());
    assert!(rss(&mut c) > base + 20_000_000, "the values take memory");
    c.pipeline((0..KEYS).map(|i| vec!["DEL".to_string(), format!("key:{i}")]));
    assert_eq!(c.cmd(&["MEMORY", "PURGE"]), Frame::OK);
    let after_purge = rss(&mut c);
    assert!(
        after_purge < base + 8_000_000,
        "RSS {after_purge} after DEL and MEMORY PURGE (started at {base})"
    );
    c.pipeline(set());
    assert_eq!(c.cmd(&["FLUSHALL"]), Frame::OK);
    let after_flush = rss(&mut c);
    assert!(
        after_flush < base + 8_000_000,
        "RSS {after_flush} after FLUSHALL (started at {base})"
    );
}

/// Per-command latency tracking (`latency-tracking`, Redis 7.0): LATENCY HISTOGRAM and INFO
/// latencystats list the same commands, calls and percentile labels as redis-server for the
/// same session (the microseconds themselves differ run to run), and the settings parse and
/// fail alike.
#[test]
fn latency_tracking_matches_redis() {
    use crate::harness::inspect::text;
    if !crate::harness::require_redis("latency_tracking_matches_redis") {
        return;
    }
    /// name -> (calls, [(usec, cumulative calls)]) from a RESP2 LATENCY HISTOGRAM reply.
    type Cdf = std::collections::BTreeMap<String, (i64, Vec<(i64, i64)>)>;
    fn cdf(reply: Frame) -> Cdf {
        let Frame::Array(items) = reply else {
            panic!("{reply:?}")
        };
        let mut out = Cdf::new();
        for pair in items.chunks(2) {
            let name = String::from_utf8_lossy(&text(&pair[0])).into_owned();
            let Frame::Array(fields) = &pair[1] else {
                panic!("{pair:?}")
            };
            let calls = int(fields[1].clone());
            let Frame::Array(buckets) = &fields[3] else {
                panic!("{fields:?}")
            };
            let buckets = buckets
                .chunks(2)
                .map(|b| (int(b[0].clone()), int(b[1].clone())))
                .collect();
            out.insert(name, (calls, buckets));
        }
        out
    }
    /// INFO latencystats as (command, percentile labels).
    fn stats(c: &mut Conn) -> Vec<(String, Vec<String>)> {
        let info = String::from_utf8_lossy(&text(&c.cmd(&["INFO", "latencystats"]))).into_owned();
        let mut out: Vec<(String, Vec<String>)> = info
            .lines()
            .filter_map(|l| l.strip_prefix("latency_percentiles_usec_"))
            .map(|l| {
                let (name, values) = l.split_once(':').unwrap();
                let labels = values
                    .split(',')
                    .filter(|v| !v.is_empty())
                    .map(|v| {
                        let (label, usec) = v.split_once('=').unwrap();
                        assert!(
                            usec.parse::<f64>().is_ok()
                                && usec.split('.').nth(1).unwrap().len() == 3,
                            "{v}"
                        );
                        label.to_string()
                    })
                    .collect();
                (name.to_string(), labels)
            })
            .collect();
        out.sort();
        out
    }
    let session = |flavor: Flavor| {
        let server = Server::start(flavor, &[] as &[&str]);
        let mut c = server.conn();
        let mut out = Vec::new();
        for line in [
            "SET a 1",
            "SET a 2",
            "SET a 3",
            "GET a",
            "GET a",
            "CONFIG GET port",
            "CONFIG GET maxmemory",
        ] {
            c.run(line);
        }
        let picked = cdf(c.cmd(&["LATENCY", "HISTOGRAM", "set", "GET", "config", "nosuch"]));
        for (name, (calls, buckets)) in &picked {
            // Buckets grow, counts accumulate up to the calls.
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
                "{name} {buckets:?}"
            );
            assert_eq!(buckets.last().map(|b| b.1), Some(*calls), "{name}");
        }
        out.push(format!(
            "{:?}",
            picked
                .iter()
                .map(|(n, (c, _))| (n.clone(), *c))
                .collect::<Vec<_>>()
        ));
        let all = cdf(c.cmd(&["LATENCY", "HISTOGRAM"]));
        out.push(format!("{:?}", all.keys().collect::<Vec<_>>()));
        out.push(format!("{:?}", stats(&mut c)));
        for line in [
            "CONFIG SET latency-tracking-info-percentiles \"50 99.5 100\"",
            "CONFIG SET latency-tracking-info-percentiles 101",
            "CONFIG SET latency-tracking-info-percentiles abc",
            "CONFIG GET latency-tracking",
            "CONFIG GET latency-tracking-info-percentiles",
        ] {
            out.push(format!("{line}: {:?}", c.run(line)));
        }
        out.push(format!("{:?}", stats(&mut c)));
        c.run("CONFIG SET latency-tracking no");
        c.run("SET a 4");
        out.push(format!(
            "{:?}",
            cdf(c.cmd(&["LATENCY", "HISTOGRAM", "set"]))["set"].0
        ));
        c.run("CONFIG RESETSTAT");
        out.push(format!(
            "{:?}",
            cdf(c.cmd(&["LATENCY", "HISTOGRAM"]))
                .keys()
                .collect::<Vec<_>>()
        ));
        out
    };
    let want = session(Flavor::Redis);
    let got = session(Flavor::subject());
    assert_eq!(got, want);
}

/// MEMORY DOCTOR examines the figures of MEMORY STATS with Redis's thresholds: nothing to say
/// for an almost empty instance, no issue for plain data, and a peak well above the current
/// allocation is reported.
#[test]
fn memory_doctor_reports_what_it_finds() {
    let server = Server::start(Flavor::subject(), &[] as &[&str]);
    let mut c = server.conn();
    let doctor = |c: &mut Conn| {
        String::from_utf8_lossy(&crate::harness::inspect::text(
            &c.cmd(&["MEMORY", "DOCTOR"]),
        ))
        .into_owned()
    };
    assert!(
        doctor(&mut c).contains("almost no data"),
        "{}",
        doctor(&mut c)
    );
    let value = "v".repeat(1000);
    // 100 MB of data, so that the process's own RSS (a debug build's is large) stays well
    // under the fragmentation threshold.
    c.pipeline((0..100_000).map(|i| vec!["SET".into(), format!("key:{i}"), value.clone()]));
    assert!(
        doctor(&mut c).contains("No memory issue"),
        "{}",
        doctor(&mut c)
    );
    c.pipeline((0..80_000).map(|i| vec!["DEL".into(), format!("key:{i}")]));
    let report = doctor(&mut c);
    assert!(report.contains("Peak memory"), "{report}");
}
