//! The `redis` crate (sync API) against the server under test: what an application sees.
//! Pipelines, MULTI/EXEC (plain and with WATCH via `redis::transaction`), pub/sub, typed
//! errors, binary values and RESP3 (`?protocol=resp3`).

use std::collections::HashMap;
use std::time::Duration;

use redis::{Commands, ErrorKind, Value};

use crate::harness::{eventually, Server};

fn client(server: &Server) -> redis::Connection {
    let url = format!("redis://{}/", server.addr());
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect with the redis crate")
}

#[test]
fn lib_basic_commands_and_binary_values() {
    let server = Server::ferrokv();
    let mut con = client(&server);
    let _: () = con.set("k", "v").unwrap();
    let v: String = con.get("k").unwrap();
    assert_eq!(v, "v");
    let missing: Option<String> = con.get("nope").unwrap();
    assert_eq!(missing, None);
    let blob: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let _: () = con.set(b"bin\x00key", &blob).unwrap();
    let back: Vec<u8> = con.get(b"bin\x00key").unwrap();
    assert!(back == blob, "1 MiB binary value came back different");
    let n: i64 = con.incr("n", 41).unwrap();
    assert_eq!(n, 41);
}

#[test]
fn lib_errors_have_their_kind() {
    let server = Server::ferrokv();
    let mut con = client(&server);
    let _: () = con.rpush("list", "x").unwrap();
    let err = con.get::<_, String>("list").unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");
    let err = con.incr::<_, _, i64>("list", 1).unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");
    let _: () = con.set("s", "x").unwrap();
    let err = con.incr::<_, _, i64>("s", 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseError, "{err}");
    assert_eq!(
        err.detail(),
        Some("value is not an integer or out of range")
    );
    let err = redis::cmd("NOSUCHCOMMAND")
        .query::<()>(&mut con)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    assert_eq!(err.code(), Some("ERR"));
    // The connection is still usable after errors.
    assert_eq!(
        redis::cmd("PING").query::<String>(&mut con).unwrap(),
        "PONG"
    );
}

#[test]
fn lib_pipeline() {
    let server = Server::ferrokv();
    let mut con = client(&server);
    let (a, b, list): (i64, String, Vec<String>) = redis::pipe()
        .set("p", "1")
        .ignore()
        .incr("p", 5)
        .get("p")
        .rpush("pl", &["a", "b", "c"])
        .ignore()
        .lrange("pl", 0, -1)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        (a, b.as_str(), list),
        (6, "6", vec!["a".into(), "b".into(), "c".into()])
    );

    let mut big = redis::pipe();
    for i in 0..1000 {
        big.set(format!("k{i}"), i).ignore();
    }
    big.cmd("DBSIZE");
    let (size,): (i64,) = big.query(&mut con).unwrap();
    assert_eq!(size, 1002);
}

#[test]
fn lib_atomic_pipeline_is_multi_exec() {
    let server = Server::ferrokv();
    let mut con = client(&server);
    let (x, y): (i64, i64) = redis::pipe()
        .atomic()
        .incr("x", 1)
        .incr("x", 2)
        .query(&mut con)
        .unwrap();
    assert_eq!((x, y), (1, 3));
    // A runtime error inside EXEC fails that command only.
    let _: () = con.set("s", "str").unwrap();
    let result: redis::RedisResult<(i64, i64)> = redis::pipe()
        .atomic()
        .incr("x", 1)
        .incr("s", 1)
        .query(&mut con);
    assert!(result.is_err(), "{result:?}");
    let x: i64 = con.get("x").unwrap();
    assert_eq!(x, 4, "the first INCR of the failed EXEC still ran");
}

#[test]
fn lib_transaction_retries_after_watched_key_changes() {
    let server = Server::ferrokv();
    let mut con = client(&server);
    let mut other = client(&server);
    let _: () = con.set("balance", 10).unwrap();
    let mut attempts = 0;
    let (balance,): (i64,) = redis::transaction(&mut con, &["balance"], |con, pipe| {
        attempts += 1;
        let current: i64 = con.get("balance")?;
        if attempts == 1 {
            // Another client changes the watched key between WATCH and EXEC: EXEC aborts.
            let _: () = other.set("balance", 100)?;
        }
        pipe.set("balance", current + 1)
            .ignore()
            .get("balance")
            .query(con)
    })
    .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(balance, 101);
}

#[test]
fn lib_pubsub_delivers_messages() {
    let server = Server::ferrokv();
    let mut sub_con = client(&server);
    let mut publisher = client(&server);
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("news").unwrap();
    sub.psubscribe("log.*").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    let receivers: i64 = publisher.publish("news", "hello").unwrap();
    assert_eq!(receivers, 1);
    let msg = sub.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "news");
    assert_eq!(msg.get_payload::<String>().unwrap(), "hello");
    assert!(!msg.from_pattern());

    let receivers: i64 = publisher.publish("log.error", "disk").unwrap();
    assert_eq!(receivers, 1);
    let msg = sub.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "log.error");
    assert_eq!(msg.get_pattern::<String>().unwrap(), "log.*");
    assert_eq!(msg.get_payload::<String>().unwrap(), "disk");

    sub.unsubscribe("news").unwrap();
    sub.punsubscribe("log.*").unwrap();
    drop(sub);
    eventually(Duration::from_secs(5), || {
        let n: i64 = publisher
            .publish("news", "nobody")
            .map_err(|e| e.to_string())?;
        if n == 0 {
            Ok(())
        } else {
            Err(format!("{n} receivers after UNSUBSCRIBE"))
        }
    });
    // After leaving pub/sub mode the connection runs normal commands again.
    let pong: String = redis::cmd("PING").query(&mut sub_con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn lib_resp3_maps_and_doubles() {
    let server = Server::ferrokv();
    let url = format!("redis://{}/?protocol=resp3", server.addr());
    let mut con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("RESP3 connect");
    let _: () = con.hset_multiple("h", &[("a", "1"), ("b", "2")]).unwrap();
    let raw: Value = redis::cmd("HGETALL").arg("h").query(&mut con).unwrap();
    assert!(
        matches!(raw, Value::Map(ref m) if m.len() == 2),
        "HGETALL in RESP3 is a map: {raw:?}"
    );
    let typed: HashMap<String, i64> = con.hgetall("h").unwrap();
    assert_eq!(typed, HashMap::from([("a".into(), 1), ("b".into(), 2)]));
    let _: () = con.zadd("z", "m", 2.5).unwrap();
    let score: Value = redis::cmd("ZSCORE")
        .arg("z")
        .arg("m")
        .query(&mut con)
        .unwrap();
    assert_eq!(score, Value::Double(2.5));
    let nil: Value = redis::cmd("GET").arg("nope").query(&mut con).unwrap();
    assert_eq!(nil, Value::Nil);
}
