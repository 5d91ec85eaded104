//! Keyspace notifications where a one-connection script cannot reach: blocked clients
//! served by another client's push, lazy and active expiry, eviction, transactions, other
//! databases, and `K`/`E` alone. The same steps run on redis-server and on ferrokv, and
//! every group of steps must raise the same notifications in the same order.
//! (`differential.rs` compares the notifications of every scripted command.)

use std::time::Duration;

use crate::harness::notify::Watcher;
use crate::harness::{require_redis, Conn, Flavor, Server};

/// One step on one of two client connections.
enum Step {
    /// Runs a command on connection 0 and reads its reply.
    Run(&'static str),
    /// Sends a (blocking) command on connection 1 without reading its reply.
    Block(&'static str),
    /// Reads connection 1's pending reply.
    Unblock,
    /// Lets the server's timers run (active expiry).
    Sleep(u64),
}
use Step::*;

/// Groups of steps; the notifications of each group are compared as a whole.
const GROUPS: &[&[Step]] = &[
    // Blocked pops served by a push on another connection.
    &[Block("BLPOP bl 0"), Sleep(100), Run("RPUSH bl a b")],
    &[Unblock, Run("DEL bl")],
    &[
        Block("BLMOVE src dst LEFT RIGHT 0"),
        Sleep(100),
        Run("LPUSH src x"),
    ],
    &[Unblock],
    &[Block("BZPOPMIN bz 0"), Sleep(100), Run("ZADD bz 1 m")],
    &[Unblock],
    &[
        Block("BLMPOP 0 2 q1 q2 RIGHT COUNT 5"),
        Sleep(100),
        Run("RPUSH q2 1 2 3"),
    ],
    &[Unblock],
    // Lazy expiry: the key is found expired by a read, then by a write.
    &[
        Run("DEBUG SET-ACTIVE-EXPIRE 0"),
        Run("SET lazy v PX 1"),
        Sleep(20),
        Run("GET lazy"),
    ],
    &[Run("SET lazy2 v PX 1"), Sleep(20), Run("SET lazy2 w")],
    &[
        Run("HSET lazy3 f v"),
        Run("PEXPIRE lazy3 1"),
        Sleep(20),
        Run("HSET lazy3 g v"),
    ],
    // Active expiry.
    &[
        Run("DEBUG SET-ACTIVE-EXPIRE 1"),
        Run("SET active v PX 20"),
        Sleep(600),
    ],
    // Expire-related writes.
    &[
        Run("SET e v EX 100"),
        Run("EXPIRE e 200"),
        Run("PERSIST e"),
        Run("GETEX e PX 100"),
    ],
    &[
        Run("GETEX e PERSIST"),
        Run("GETEX e EXAT 1"),
        Run("SET e2 v"),
        Run("GETDEL e2"),
    ],
    &[
        Run("SET e3 v"),
        Run("PEXPIREAT e3 1"),
        Run("SETEX e4 100 v"),
        Run("PSETEX e5 100 v"),
    ],
    // Moving keys around, other databases.
    &[
        Run("SET mv v"),
        Run("MOVE mv 3"),
        Run("SELECT 3"),
        Run("RENAME mv mv2"),
    ],
    &[
        Run("COPY mv2 cp DB 5"),
        Run("SET other x"),
        Run("COPY mv2 other REPLACE"),
        Run("SELECT 0"),
    ],
    &[
        Run("SADD s1 a b"),
        Run("SMOVE s1 s2 a"),
        Run("SMOVE s1 s2 b"),
        Run("SMOVE s2 s2 a"),
    ],
    // Key misses: reads only (OBJECT raises none), not writes or blocked-client wake-ups.
    &[
        Run("GET nosuch"),
        Run("OBJECT ENCODING nosuch"),
        Run("MGET nosuch k"),
        Run("LPOP nosuch"),
    ],
    // Transactions: each queued command raises its own events at EXEC.
    &[
        Run("MULTI"),
        Run("SET t 1"),
        Run("INCR t"),
        Run("LPUSH tl x"),
        Run("LPOP tl"),
        Run("EXEC"),
    ],
    // One channel kind only, then none.
    &[
        Run("CONFIG SET notify-keyspace-events K$"),
        Run("SET k1 v"),
        Run("LPUSH k2 v"),
    ],
    &[
        Run("CONFIG SET notify-keyspace-events Egn"),
        Run("SET k3 v"),
        Run("DEL k3 k1"),
    ],
    &[Run("CONFIG SET notify-keyspace-events A"), Run("SET k4 v")],
    &[Run("CONFIG SET notify-keyspace-events KEA")],
    // Eviction: the only key goes, then the write is refused.
    &[
        Run("FLUSHALL"),
        Run("SET only v"),
        Run("CONFIG SET maxmemory-policy allkeys-random"),
    ],
    &[
        Run("CONFIG SET maxmemory 1"),
        Run("SET x y"),
        Run("CONFIG SET maxmemory 0"),
    ],
];

/// Runs [`GROUPS`] on a fresh server; per group, its notifications.
fn notifications(flavor: Flavor) -> Vec<Vec<String>> {
    let server = Server::start(
        flavor,
        &[
            "--notify-keyspace-events",
            "AKEnm",
            "--enable-debug-command",
            "yes",
        ],
    );
    let mut watcher = Watcher::start(&server);
    let mut conns = [
        Conn::connect(server.addr()).unwrap(),
        Conn::connect(server.addr()).unwrap(),
    ];
    let mut out = Vec::new();
    for group in GROUPS {
        for step in group.iter() {
            match step {
                Run(line) => {
                    conns[0].run(line);
                }
                Block(line) => {
                    let argv = crate::harness::script::split_args(line).unwrap();
                    conns[1].send(&argv).unwrap();
                }
                Unblock => {
                    conns[1].read_reply().unwrap();
                }
                Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            }
        }
        out.push(watcher.events().unwrap());
    }
    out
}

#[test]
fn keyspace_notifications_match_redis() {
    if !require_redis("keyspace_notifications_match_redis") {
        return;
    }
    let want = notifications(Flavor::Redis);
    let got = notifications(Flavor::subject());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(g, w, "group {i} ({} steps)", GROUPS[i].len());
    }
    // The scenario reaches every kind of event it is about.
    let all = want.concat().join("\n");
    for event in [
        "lpop", "zpopmin", "expired", "evicted", "move_to", "copy_to", "keymiss",
    ] {
        assert!(
            all.contains(&format!(" {event}")),
            "no {event} event in\n{all}"
        );
    }
}
