//! Client-side caching across connections: invalidations sent to other clients (RESP3
//! pushes, RESP2 redirects to a `__redis__:invalidate` subscriber, broken redirects), the
//! BCAST prefixes, expiry, the `tracking-table-max-keys` limit, CLIENT LIST and INFO
//! fields, and a replica whose clients track keys its primary writes. The one-connection
//! protocol (errors, OPTIN/OPTOUT, NOLOOP, MULTI) is in `scripts/tracking.resp3.redis`.
//!
//! Expected bytes are Redis 7.0's; `E2E_SUBJECT=redis` checks them.

use std::time::Duration;

use ferrokv_proto::resp::Frame;

use crate::harness::conn::Conn;
use crate::harness::inspect::{info_int, text};
use crate::harness::{eventually, Flavor, Server};

/// An invalidation push of `keys` (RESP3).
fn push(keys: &[&str]) -> Vec<u8> {
    let mut out = format!(">2\r\n$10\r\ninvalidate\r\n*{}\r\n", keys.len());
    for k in keys {
        out.push_str(&format!("${}\r\n{k}\r\n", k.len()));
    }
    out.into_bytes()
}

/// The next thing the server sent on `c`, as wire bytes.
fn next(c: &mut Conn) -> Vec<u8> {
    c.read_reply().expect("an invalidation").raw
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn resp3(server: &Server) -> Conn {
    let mut c = server.conn();
    assert!(matches!(c.run("HELLO 3"), Frame::Map(_)));
    c
}

fn client_id(c: &mut Conn) -> i64 {
    match c.run("CLIENT ID") {
        Frame::Integer(n) => n,
        other => panic!("CLIENT ID: {other:?}"),
    }
}

/// `field=` of the CLIENT LIST line of client `id`.
fn list_field(c: &mut Conn, id: i64, field: &str) -> String {
    let list = show(&text(&c.run(&format!("CLIENT LIST ID {id}"))));
    let prefix = format!("{field}=");
    list.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {field} in {list:?}"))
}

fn tracking_totals(c: &mut Conn) -> [i64; 4] {
    [
        info_int(c, "clients", "tracking_clients"),
        info_int(c, "stats", "tracking_total_keys"),
        info_int(c, "stats", "tracking_total_items"),
        info_int(c, "stats", "tracking_total_prefixes"),
    ]
}

#[test]
fn invalidations_reach_readers_redirects_and_prefix_subscribers() {
    let server = Server::start(Flavor::subject(), &[] as &[&str]);
    let mut w = server.conn();
    assert_eq!(tracking_totals(&mut w), [0, 0, 0, 0]);

    // A RESP3 reader is told once when another client writes a key it read.
    let mut r = resp3(&server);
    assert_eq!(r.run("CLIENT TRACKING on"), Frame::OK);
    assert_eq!(r.run("GET k"), Frame::Null);
    assert_eq!(
        r.run("MGET k k2"),
        Frame::Array(vec![Frame::Null, Frame::Null])
    );
    assert_eq!(w.run("SET k 1"), Frame::OK);
    assert_eq!(show(&next(&mut r)), show(&push(&["k"])));
    assert_eq!(w.run("SET k 2"), Frame::OK, "k is no longer tracked");
    assert_eq!(r.run("PING"), Frame::simple("PONG"));

    // A RESP2 client redirects to a RESP2 subscriber of __redis__:invalidate.
    let mut sub = server.conn();
    let sub_id = client_id(&mut sub);
    assert!(matches!(
        sub.run("SUBSCRIBE __redis__:invalidate"),
        Frame::Array(_)
    ));
    let mut t = server.conn();
    let t_id = client_id(&mut t);
    assert_eq!(
        t.run(&format!("CLIENT TRACKING on REDIRECT {sub_id}")),
        Frame::OK
    );
    assert_eq!(t.run("CLIENT GETREDIR"), Frame::Integer(sub_id));
    assert_eq!(list_field(&mut w, t_id, "flags"), "t");
    assert_eq!(list_field(&mut w, t_id, "redir"), sub_id.to_string());
    assert_eq!(list_field(&mut w, sub_id, "redir"), "-1");
    assert_eq!(t.run("GET a"), Frame::Null);
    assert_eq!(r.run("GET a"), Frame::Null);
    assert_eq!(tracking_totals(&mut w), [2, 2, 3, 0], "k2 (r), a (r, t)");
    assert_eq!(w.run("DEL a k2 nothing"), Frame::Integer(0));
    assert_eq!(w.run("SET a 1"), Frame::OK);
    let message = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\na\r\n";
    assert_eq!(show(&next(&mut sub)), show(message));
    // r read k2 and a: a DEL of keys that do not exist changes nothing, the SET does.
    assert_eq!(show(&next(&mut r)), show(&push(&["a"])));
    assert_eq!(tracking_totals(&mut w), [2, 1, 1, 0]);

    // A flush: every tracking client gets a null, the table is emptied.
    assert_eq!(w.run("FLUSHALL"), Frame::OK);
    assert_eq!(show(&next(&mut r)), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(
        show(&next(&mut sub)),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
    );
    assert_eq!(tracking_totals(&mut w), [2, 0, 0, 0]);

    // BCAST: keys written under a prefix, whoever read them, one message per prefix.
    let mut b = resp3(&server);
    let b_id = client_id(&mut b);
    assert_eq!(
        b.run("CLIENT TRACKING on BCAST PREFIX user: PREFIX obj:"),
        Frame::OK
    );
    assert_eq!(list_field(&mut w, b_id, "flags"), "tB");
    assert_eq!(tracking_totals(&mut w), [3, 0, 0, 2]);
    assert_eq!(w.run("SET user:1 x"), Frame::OK);
    assert_eq!(show(&next(&mut b)), show(&push(&["user:1"])));
    assert_eq!(w.run("SET other y"), Frame::OK);
    assert_eq!(w.run("DEL obj:9"), Frame::Integer(0));
    assert_eq!(w.run("MSET obj:2 a user:2 b"), Frame::OK);
    let mut got = vec![show(&next(&mut b)), show(&next(&mut b))];
    got.sort();
    assert_eq!(got, vec![show(&push(&["obj:2"])), show(&push(&["user:2"]))]);
    assert_eq!(b.run("CLIENT TRACKING off"), Frame::OK);
    assert_eq!(tracking_totals(&mut w), [2, 0, 0, 0]);

    // The redirect target goes away: a RESP3 client is told its redirect is broken.
    let mut gone = server.conn();
    let gone_id = client_id(&mut gone);
    let mut t3 = resp3(&server);
    let t3_id = client_id(&mut t3);
    assert_eq!(
        t3.run(&format!("CLIENT TRACKING on REDIRECT {gone_id}")),
        Frame::OK
    );
    assert_eq!(t3.run("GET z"), Frame::Null);
    drop(gone);
    eventually(Duration::from_secs(10), || {
        match w.run(&format!("CLIENT LIST ID {gone_id}")) {
            f if text(&f).is_empty() => Ok(()),
            f => Err(f),
        }
    });
    assert_eq!(w.run("SET z 1"), Frame::OK);
    assert_eq!(
        show(&next(&mut t3)),
        format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{gone_id}\r\n")
    );
    assert_eq!(list_field(&mut w, t3_id, "flags"), "tR");
    let info = show(&t3.raw_cmd(&["CLIENT", "TRACKINGINFO"]).unwrap().raw);
    assert!(info.contains("broken_redirect"), "{info}");

    // A client that closes stops counting.
    drop(t3);
    drop(t);
    eventually(Duration::from_secs(10), || match tracking_totals(&mut w) {
        [1, ..] => Ok(()),
        other => Err(other),
    });
}

#[test]
fn expiry_and_the_table_limit_invalidate_too() {
    let server = Server::start(Flavor::subject(), &["--enable-debug-command", "yes"]);
    let mut w = server.conn();
    let mut r = resp3(&server);
    assert_eq!(r.run("CLIENT TRACKING on"), Frame::OK);

    // The active expire cycle deletes a key nobody touches again.
    assert_eq!(w.run("SET e 1 PX 100"), Frame::OK);
    assert_eq!(r.run("GET e"), Frame::bulk("1"));
    assert_eq!(show(&next(&mut r)), show(&push(&["e"])));

    // A key that expires when its NOLOOP BCAST subscriber reads it was not changed by that
    // client: it is told.
    assert_eq!(w.run("DEBUG SET-ACTIVE-EXPIRE 0"), Frame::OK);
    let mut b = resp3(&server);
    assert_eq!(
        b.run("CLIENT TRACKING on BCAST NOLOOP PREFIX x:"),
        Frame::OK
    );
    assert_eq!(b.run("SET x:1 v PX 30"), Frame::OK);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(b.run("GET x:1"), Frame::Null);
    assert_eq!(show(&next(&mut b)), show(&push(&["x:1"])));
    assert_eq!(w.run("DEBUG SET-ACTIVE-EXPIRE 1"), Frame::OK);
    drop(b);

    // Over tracking-table-max-keys, keys are invalidated (as if they had changed) until
    // the table fits; the next command or the cron does it.
    assert_eq!(w.run("CONFIG SET tracking-table-max-keys 2"), Frame::OK);
    assert!(matches!(r.run("MGET m1 m2 m3 m4 m5"), Frame::Array(_)));
    let mut invalidated = Vec::new();
    for _ in 0..3 {
        let raw = next(&mut r);
        let reply = crate::harness::reply::parse(&raw).unwrap().unwrap().0;
        assert_eq!(reply.kind, b'>', "{}", show(&raw));
        invalidated.push(show(&reply.children[1].children[0].body));
    }
    invalidated.sort();
    invalidated.dedup();
    assert_eq!(invalidated.len(), 3, "{invalidated:?}");
    assert_eq!(info_int(&mut w, "stats", "tracking_total_keys"), 2);
    assert_eq!(
        w.run("CONFIG GET tracking-table-max-keys"),
        Frame::Array(vec![
            Frame::bulk("tracking-table-max-keys"),
            Frame::bulk("2")
        ])
    );
}

#[test]
fn a_replica_invalidates_keys_its_primary_writes() {
    let primary = Server::start(Flavor::subject(), &["--repl-diskless-sync-delay", "0"]);
    let replica = Server::start(
        Flavor::subject(),
        &["--replicaof", "127.0.0.1", &primary.port().to_string()],
    );
    let mut p = primary.conn();
    let mut rc = replica.conn();
    eventually(
        Duration::from_secs(20),
        || match crate::harness::inspect::info_field(&mut rc, "replication", "master_link_status") {
            Some(s) if s == "up" => Ok(()),
            other => Err(other),
        },
    );
    assert_eq!(p.run("SET k 1"), Frame::OK);
    let mut r = resp3(&replica);
    assert_eq!(r.run("CLIENT TRACKING on"), Frame::OK);
    eventually(Duration::from_secs(10), || match r.run("GET k") {
        Frame::Bulk(v) if v.as_ref() == b"1" => Ok(()),
        other => Err(other),
    });
    assert_eq!(p.run("SET k 2"), Frame::OK);
    assert_eq!(show(&next(&mut r)), show(&push(&["k"])));
    assert_eq!(r.run("GET k"), Frame::bulk("2"));
    assert_eq!(p.run("FLUSHALL"), Frame::OK);
    assert_eq!(show(&next(&mut r)), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
}
