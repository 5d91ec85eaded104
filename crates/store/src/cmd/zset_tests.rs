//! Tests of the sorted set commands (a separate file to keep `zset.rs` readable). Expected
//! replies were taken from Redis 7.0.15.

use super::*;
use crate::cmd::testkit::Kit;
use crate::cmd::Propagate;
use crate::config::StoreConfig;

fn b(s: &str) -> Frame {
    Frame::Bulk(Bytes::from(s.to_string()))
}

fn d(v: f64) -> Frame {
    Frame::Double(v)
}

fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

fn err(s: &str) -> Frame {
    Frame::Error(Bytes::from(s.to_string()))
}

fn arr(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

fn bulks(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|s| b(s)).collect())
}

/// Flat RESP2 WITHSCORES reply.
fn flat(items: &[(&str, f64)]) -> Frame {
    Frame::Array(items.iter().flat_map(|(m, s)| [b(m), d(*s)]).collect())
}

/// RESP3 [member, score] pairs.
fn pairs(items: &[(&str, f64)]) -> Frame {
    Frame::Array(items.iter().map(|(m, s)| arr(vec![b(m), d(*s)])).collect())
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn encoding(k: &mut Kit, key: &str) -> &'static str {
    let cfg = k.ks.cfg.clone();
    k.ks.get(0, key.as_bytes())
        .map_or("none", |v| v.encoding_name(&cfg))
}

fn propagated(k: &mut Kit, line: &str) -> Vec<String> {
    match k.exec(line).unwrap().propagate {
        Propagate::Nothing => vec![],
        Propagate::AsIs => vec!["AS-IS".into()],
        Propagate::Rewritten(c) => c
            .iter()
            .map(|argv| {
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect(),
    }
}

fn abc(k: &mut Kit) {
    k.run("ZADD z 1 a 2 b 3 c");
}

#[test]
fn zadd_option_errors_in_redis_order() {
    let mut k = Kit::new();
    for (cmd, want) in [
        (
            "ZADD z XX NX 1 a",
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            "ZADD z GT LT 1 a",
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            "ZADD z GT NX 1 a",
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            "ZADD z INCR 1 a 2 b",
            "ERR INCR option supports a single increment-element pair",
        ),
        ("ZADD z 1 a 2", "ERR syntax error"),
        ("ZADD z XX NX 1 a 2", "ERR syntax error"),
        ("ZADD z NX 1", "ERR syntax error"),
        ("ZADD z abc a", "ERR value is not a valid float"),
        ("ZADD z nan a", "ERR value is not a valid float"),
        ("ZADD z 1 a nan b", "ERR value is not a valid float"),
        ("ZADD z 1e400 a", "ERR value is not a valid float"),
        ("ZADD z 1e-400 a", "ERR value is not a valid float"),
        (
            "ZADD z 1",
            "ERR wrong number of arguments for 'zadd' command",
        ),
    ] {
        assert_eq!(k.run(cmd), err(want), "{cmd}");
    }
    assert_eq!(k.run("EXISTS z"), int(0));
    k.run("SET str x");
    assert_eq!(k.run("ZADD str 1 a"), err(WRONGTYPE));
    assert_eq!(
        k.run("ZADD str nan a"),
        err("ERR value is not a valid float")
    );
}

#[test]
fn zadd_conditions_and_replies() {
    zadd_conditions_script(&mut Kit::new());
}

#[test]
fn zadd_conditions_and_replies_on_a_skiplist() {
    let mut k = Kit::new();
    k.ks.cfg.zset_max_listpack_entries = 0;
    zadd_conditions_script(&mut k);
    assert_eq!(encoding(&mut k, "z"), "skiplist");
    assert_eq!(
        k.run("ZRANGE z 0 -1 WITHSCORES"),
        flat(&[
            ("half", 0.5),
            ("plus", 1.0),
            ("new", 2.0),
            ("c", 3.0),
            ("b", 5.0),
            ("hexp", 8.0),
            ("d", 9.0),
            ("hex", 16.0),
            ("a", f64::INFINITY),
        ])
    );
}

/// Score updates that keep the rank (done in place) and ones that move the member, with
/// ties broken by member bytes, checked through ZRANGE and ZRANK on a skiplist (replies as
/// Redis 7.0 gives them for the same commands).
#[test]
fn skiplist_score_updates_keep_the_order() {
    let mut k = Kit::new();
    k.ks.cfg.zset_max_listpack_entries = 0;
    k.run("ZADD z 1 a 2 b 3 c 4 d 5 e");
    // In place: c stays between b and d.
    assert_eq!(k.run("ZADD z CH 3.5 c"), int(1));
    // Ties: c at b's score sorts after b ("b" < "c"), at d's score before d.
    assert_eq!(k.run("ZADD z CH 2 c"), int(1));
    assert_eq!(k.run("ZRANK z c"), int(2));
    assert_eq!(k.run("ZADD z 4 c"), int(0));
    assert_eq!(k.run("ZRANK z c"), int(2));
    // Moves: c below a, then above e; then INCR/GT/LT through the same paths.
    assert_eq!(k.run("ZADD z 0 c"), int(0));
    assert_eq!(k.run("ZRANK z c"), int(0));
    assert_eq!(k.run("ZADD z INCR 10 c"), d(10.0));
    assert_eq!(k.run("ZADD z GT CH 9 c"), int(0));
    assert_eq!(k.run("ZADD z LT CH 1 c"), int(1));
    assert_eq!(k.run("ZADD z GT CH 1.5 c"), int(1));
    assert_eq!(
        k.run("ZRANGE z 0 -1 WITHSCORES"),
        flat(&[("a", 1.0), ("c", 1.5), ("b", 2.0), ("d", 4.0), ("e", 5.0)])
    );
    assert_eq!(k.run("ZRANGEBYSCORE z 1.5 4"), bulks(&["c", "b", "d"]));
    assert_eq!(k.run("ZCARD z"), int(5));
}

fn zadd_conditions_script(k: &mut Kit) {
    assert_eq!(k.run("ZADD z XX 1 a"), int(0));
    assert_eq!(k.run("EXISTS z"), int(0));
    assert_eq!(k.run("ZADD z XX INCR 1 a"), Frame::Null);
    abc(k);
    assert_eq!(k.run("ZADD z INCR 1 a"), d(2.0));
    assert_eq!(k.run("ZADD z NX INCR 1 a"), Frame::Null);
    assert_eq!(k.run("ZADD z XX INCR 1 zz"), Frame::Null);
    assert_eq!(k.run("ZADD z GT INCR -1 a"), Frame::Null);
    assert_eq!(k.run("ZADD z CH 5 a 5 b 9 d"), int(3));
    assert_eq!(k.run("ZADD z 5 a 5 b"), int(0));
    assert_eq!(k.run("ZADD z GT CH 4 a"), int(0));
    assert_eq!(k.run("ZADD z GT CH 6 a"), int(1));
    assert_eq!(k.run("ZADD z LT CH 7 a"), int(0));
    assert_eq!(k.run("ZADD z LT 1 a 2 new"), int(1));
    assert_eq!(k.run("ZSCORE z a"), d(1.0));
    assert_eq!(k.run("ZADD z GT XX 0 a"), int(0));
    assert_eq!(k.run("ZADD z INCR inf a"), d(f64::INFINITY));
    assert_eq!(
        k.run("ZADD z INCR -inf a"),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(
        k.run("ZINCRBY z -inf a"),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(k.run("ZSCORE z a"), d(f64::INFINITY));
    assert_eq!(k.run("ZADD z 0x10 hex 0x1p3 hexp +1 plus .5 half"), int(4));
    assert_eq!(
        k.run("ZMSCORE z hex hexp plus half"),
        arr(vec![d(16.0), d(8.0), d(1.0), d(0.5)])
    );
}

#[test]
fn zadd_propagation() {
    let mut k = Kit::new();
    assert_eq!(propagated(&mut k, "ZADD z 1 a"), ["AS-IS"]);
    assert_eq!(propagated(&mut k, "ZADD z 1 a"), Vec::<String>::new());
    assert_eq!(propagated(&mut k, "ZADD z NX 5 a"), Vec::<String>::new());
    assert_eq!(propagated(&mut k, "ZADD z XX 2 a"), ["AS-IS"]);
    assert_eq!(propagated(&mut k, "ZINCRBY z 0 a"), Vec::<String>::new());
    assert_eq!(propagated(&mut k, "ZINCRBY z 1 a"), ["AS-IS"]);
    assert_eq!(
        propagated(&mut k, "ZADD missing XX 1 a"),
        Vec::<String>::new()
    );
}

#[test]
fn negative_zero_like_redis() {
    let mut k = Kit::new();
    // listpack: -0 is stored as 0.
    assert_eq!(k.run("ZADD l -0 y"), int(1));
    let Frame::Double(s) = k.run("ZSCORE l y") else {
        panic!()
    };
    assert!(s == 0.0 && s.is_sign_positive());
    // skiplist keeps the sign; 0 does not update it; INCR 0 replies the new computed score.
    k.ks.cfg = StoreConfig {
        zset_max_listpack_entries: 0,
        ..StoreConfig::default()
    };
    assert_eq!(k.run("ZADD s -0 y"), int(1));
    assert_eq!(encoding(&mut k, "s"), "skiplist");
    let Frame::Double(s) = k.run("ZSCORE s y") else {
        panic!()
    };
    assert!(s.is_sign_negative());
    assert_eq!(k.run("ZADD s 0 y"), int(0));
    let Frame::Double(s) = k.run("ZADD s INCR 0 y") else {
        panic!()
    };
    assert!(s.is_sign_positive());
    let Frame::Double(s) = k.run("ZSCORE s y") else {
        panic!()
    };
    assert!(s.is_sign_negative());
}

#[test]
fn zincrby_cases() {
    let mut k = Kit::new();
    assert_eq!(k.run("ZINCRBY z 1.5 a"), d(1.5));
    assert_eq!(k.run("ZINCRBY z 1 a"), d(2.5));
    assert_eq!(
        k.run("ZINCRBY z nan a"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        k.run("ZINCRBY z abc a"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        k.run("ZINCRBY z 1e400 a"),
        err("ERR value is not a valid float")
    );
    k.run("SET str x");
    assert_eq!(k.run("ZINCRBY str 1 a"), err(WRONGTYPE));
}

#[test]
fn encodings_follow_config() {
    let mut k = Kit::new();
    k.ks.cfg = StoreConfig {
        zset_max_listpack_entries: 2,
        zset_max_listpack_value: 3,
        ..StoreConfig::default()
    };
    k.run("ZADD z 1 a 2 b");
    assert_eq!(encoding(&mut k, "z"), "listpack");
    k.run("ZADD z 3 c");
    assert_eq!(encoding(&mut k, "z"), "skiplist");
    k.run("ZREM z a b");
    assert_eq!(encoding(&mut k, "z"), "skiplist");
    k.run("ZADD long 1 abcd");
    assert_eq!(encoding(&mut k, "long"), "skiplist");
    // A ZADD naming one member many times stays small.
    k.run("ZADD same 1 m 2 m 3 m 4 m");
    assert_eq!(encoding(&mut k, "same"), "listpack");
    // Stored results pick the fresh encoding.
    k.run("ZADD big 1 a 2 b 3 c 4 d");
    assert_eq!(k.run("ZUNIONSTORE u 1 big"), int(4));
    assert_eq!(encoding(&mut k, "u"), "skiplist");
    assert_eq!(k.run("ZRANGESTORE r big 0 1"), int(2));
    assert_eq!(encoding(&mut k, "r"), "listpack");
    k.run("ZREMRANGEBYRANK big 0 1");
    assert_eq!(k.run("ZUNIONSTORE u 1 big"), int(2));
    assert_eq!(encoding(&mut k, "u"), "listpack");
    assert_eq!(k.run("ZUNIONSTORE u 1 long"), int(1));
    assert_eq!(encoding(&mut k, "u"), "skiplist");
}

#[test]
fn zrem_zcard_zscore_zmscore() {
    let mut k = Kit::new();
    abc(&mut k);
    assert_eq!(k.run("ZREM z nope a"), int(1));
    assert_eq!(propagated(&mut k, "ZREM z nope"), Vec::<String>::new());
    assert_eq!(k.run("ZCARD z"), int(2));
    assert_eq!(k.run("ZSCORE z b"), d(2.0));
    assert_eq!(k.run("ZSCORE z nope"), Frame::Null);
    assert_eq!(k.run("ZMSCORE z b nope"), arr(vec![d(2.0), Frame::Null]));
    assert_eq!(k.run("ZMSCORE missing a"), arr(vec![Frame::Null]));
    assert_eq!(k.run("ZREM z b c"), int(2));
    assert_eq!(k.run("EXISTS z"), int(0));
    assert_eq!(k.run("ZREM missing a"), int(0));
    assert_eq!(k.run("ZCARD missing"), int(0));
    k.run("SET str x");
    for cmd in [
        "ZREM str a",
        "ZCARD str",
        "ZSCORE str a",
        "ZMSCORE str a",
        "ZRANK str a",
        "ZRANGE str 0 1",
    ] {
        assert_eq!(k.run(cmd), err(WRONGTYPE), "{cmd}");
    }
}

#[test]
fn counts_and_ranks() {
    let mut k = Kit::new();
    k.run("ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(k.run("ZCOUNT z -inf +inf"), int(4));
    assert_eq!(k.run("ZCOUNT z (1 (3"), int(1));
    assert_eq!(k.run("ZCOUNT z (1 (1"), int(0));
    assert_eq!(k.run("ZCOUNT z 3 1"), int(0));
    assert_eq!(k.run("ZCOUNT z +inf -inf"), int(0));
    assert_eq!(k.run("ZCOUNT z a b"), err("ERR min or max is not a float"));
    assert_eq!(
        k.run("ZCOUNT z 1 nan"),
        err("ERR min or max is not a float")
    );
    assert_eq!(k.run("ZCOUNT z [1 2"), err("ERR min or max is not a float"));
    assert_eq!(k.run("ZCOUNT z (1e400 +inf"), int(0));
    assert_eq!(
        k.run("ZCOUNT missing a b"),
        err("ERR min or max is not a float")
    );
    assert_eq!(k.run("ZLEXCOUNT z - +"), int(4));
    assert_eq!(k.run("ZLEXCOUNT z [b (d"), int(2));
    assert_eq!(
        k.run("ZLEXCOUNT z a b"),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(
        k.run("ZLEXCOUNT z - +a"),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(k.run("ZLEXCOUNT z [ +"), int(4));
    assert_eq!(k.run("ZRANK z a"), int(0));
    assert_eq!(k.run("ZREVRANK z a"), int(3));
    assert_eq!(k.run("ZRANK z nope"), Frame::Null);
    assert_eq!(k.run("ZRANK missing a"), Frame::Null);
}

#[test]
fn range_bound_parsing_matches_strtod() {
    assert_eq!(parse_range_number(b""), Some(0.0));
    assert_eq!(parse_range_number(b" 1"), Some(1.0));
    assert_eq!(parse_range_number(b"1 "), None);
    assert_eq!(parse_range_number(b"  "), None);
    assert_eq!(parse_range_number(b"1e400"), Some(f64::INFINITY));
    assert_eq!(parse_score(b""), None);
    assert_eq!(parse_score(b" 1"), None);
    assert_eq!(parse_score(b"-Infinity"), Some(f64::NEG_INFINITY));
    assert_eq!(parse_score(b"1e-310"), Some(1e-310));
    assert_eq!(parse_score(b"0x1.8p1"), Some(3.0));
    assert_eq!(parse_score(b"0x"), None);
    assert_eq!(parse_score(b"1_0"), None);
    assert_eq!(parse_score(b"--1"), None);
    assert_eq!(parse_score(b"0e5"), Some(0.0));
    assert_eq!(parse_score(b"0x0p5000"), Some(0.0));
    assert_eq!(parse_score(b"0x1p5000"), None);
    assert_eq!(parse_score(b"0x1p-5000"), None);
    assert_eq!(parse_range_number(b"0x1p5000"), Some(f64::INFINITY));
}

#[test]
fn zrange_by_rank() {
    let mut k = Kit::new();
    k.run("ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(k.run("ZRANGE z 0 -1"), bulks(&["a", "b", "c", "d"]));
    assert_eq!(
        k.run("ZRANGE z 1 2 WITHSCORES"),
        flat(&[("b", 2.0), ("c", 3.0)])
    );
    assert_eq!(k.run("ZRANGE z 0 1 REV"), bulks(&["d", "c"]));
    assert_eq!(
        k.run("ZREVRANGE z 0 1 WITHSCORES"),
        flat(&[("d", 4.0), ("c", 3.0)])
    );
    assert_eq!(k.run("ZRANGE z 5 1"), bulks(&[]));
    assert_eq!(k.run("ZRANGE z -100 100"), bulks(&["a", "b", "c", "d"]));
    assert_eq!(k.run("ZRANGE z -2 -1"), bulks(&["c", "d"]));
    assert_eq!(
        k.run("ZRANGE z 0 9223372036854775807"),
        bulks(&["a", "b", "c", "d"])
    );
    assert_eq!(k.run("ZRANGE z -9223372036854775808 0"), bulks(&["a"]));
    assert_eq!(
        k.run("ZRANGE z 0 -1 WITHSCORES WITHSCORES"),
        flat(&[("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)])
    );
    // Redis only notices LIMIT when its count is not -1.
    assert_eq!(
        k.run("ZRANGE z 0 -1 LIMIT 5 -1"),
        bulks(&["a", "b", "c", "d"])
    );
    assert_eq!(
        k.run("ZRANGE z 0 -1 LIMIT 0 1"),
        err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    );
    assert_eq!(k.run("ZRANGE z 0 -1 REV REV"), err("ERR syntax error"));
    assert_eq!(
        k.run("ZRANGE z 0 -1 BYSCORE BYLEX"),
        err("ERR syntax error")
    );
    assert_eq!(k.run("ZRANGE z 0 -1 foo"), err("ERR syntax error"));
    assert_eq!(
        k.run("ZRANGE z a 1"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(k.run("ZRANGE missing 0 -1"), bulks(&[]));
    assert_eq!(k.run("ZREVRANGE z 0 -1 BYSCORE"), err("ERR syntax error"));
}

#[test]
fn zrange_by_score_and_lex() {
    let mut k = Kit::new();
    k.run("ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(
        k.run("ZRANGE z (1 5 BYSCORE LIMIT 0 1 WITHSCORES"),
        flat(&[("b", 2.0)])
    );
    assert_eq!(
        k.run("ZRANGE z 5 (1 BYSCORE REV LIMIT 0 1 WITHSCORES"),
        flat(&[("d", 4.0)])
    );
    assert_eq!(k.run("ZRANGE z 0 -1 BYSCORE"), bulks(&[]));
    assert_eq!(
        k.run("ZRANGE z a b BYSCORE"),
        err("ERR min or max is not a float")
    );
    assert_eq!(
        k.run("ZRANGE z 0 -1 BYLEX"),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(
        k.run("ZRANGE z - + BYLEX WITHSCORES"),
        err("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    );
    assert_eq!(
        k.run("ZRANGEBYSCORE z 0 10 WITHSCORES LIMIT 1 2"),
        flat(&[("b", 2.0), ("c", 3.0)])
    );
    assert_eq!(
        k.run("ZRANGEBYSCORE z 0 10 LIMIT 1"),
        err("ERR syntax error")
    );
    assert_eq!(k.run("ZRANGEBYSCORE z 0 10 BYLEX"), err("ERR syntax error"));
    assert_eq!(k.run("ZRANGEBYSCORE z -inf +inf LIMIT 0 0"), bulks(&[]));
    assert_eq!(k.run("ZRANGEBYSCORE z -inf +inf LIMIT -1 2"), bulks(&[]));
    assert_eq!(
        k.run("ZRANGEBYSCORE z -inf +inf LIMIT 1 -5"),
        bulks(&["b", "c", "d"])
    );
    assert_eq!(k.run("ZRANGEBYSCORE z -inf +inf LIMIT 9 1"), bulks(&[]));
    assert_eq!(
        k.run("ZRANGEBYSCORE z (-inf (inf"),
        bulks(&["a", "b", "c", "d"])
    );
    assert_eq!(
        k.run("ZRANGEBYSCORE z 0 10 LIMIT 0 9223372036854775807"),
        bulks(&["a", "b", "c", "d"])
    );
    assert_eq!(
        k.run("ZREVRANGEBYSCORE z 10 0 WITHSCORES LIMIT 1 2"),
        flat(&[("c", 3.0), ("b", 2.0)])
    );
    assert_eq!(
        k.run("ZREVRANGEBYSCORE z (4 [2"),
        err("ERR min or max is not a float")
    );
    assert_eq!(k.run("ZREVRANGEBYSCORE z (4 2"), bulks(&["c", "b"]));
    assert_eq!(k.run("ZREVRANGEBYSCORE z 3 1 REV"), err("ERR syntax error"));
    assert_eq!(
        k.run("ZRANGEBYLEX z - + LIMIT 0 -1"),
        bulks(&["a", "b", "c", "d"])
    );
    assert_eq!(k.run("ZRANGEBYLEX z [b (d"), bulks(&["b", "c"]));
    assert_eq!(k.run("ZRANGEBYLEX z + -"), bulks(&[]));
    assert_eq!(
        k.run("ZRANGEBYLEX z b c"),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(
        k.run("ZRANGEBYLEX z - + WITHSCORES"),
        err("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    );
    assert_eq!(k.run("ZREVRANGEBYLEX z + - LIMIT 1 1"), bulks(&["c"]));
    assert_eq!(k.run("ZREVRANGEBYLEX z [b -"), bulks(&["b", "a"]));
    assert_eq!(k.run("ZRANGE z [c [a BYLEX REV"), bulks(&["c", "b", "a"]));
    assert_eq!(k.run("ZRANGE z [a [c BYLEX REV"), bulks(&[]));
}

#[test]
fn zrange_resp3_pairs() {
    let mut k = Kit::new();
    k.protocol = Protocol::Resp3;
    k.run("ZADD z 1 a 2 b");
    assert_eq!(
        k.run("ZRANGE z 0 -1 WITHSCORES"),
        pairs(&[("a", 1.0), ("b", 2.0)])
    );
    assert_eq!(k.run("ZRANGE z 0 -1"), bulks(&["a", "b"]));
    assert_eq!(
        k.run("ZREVRANGEBYSCORE z +inf -inf WITHSCORES LIMIT 0 1"),
        pairs(&[("b", 2.0)])
    );
    assert_eq!(k.run("ZSCORE z a"), d(1.0));
}

#[test]
fn zrangestore_cases() {
    let mut k = Kit::new();
    k.run("ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(
        k.run("ZRANGESTORE dst z 0 -1 WITHSCORES"),
        err("ERR syntax error")
    );
    let e = k.exec("ZRANGESTORE dst z 1 2").unwrap();
    assert_eq!((e.reply, e.propagate), (int(2), Propagate::AsIs));
    assert_eq!(
        k.run("ZRANGE dst 0 -1 WITHSCORES"),
        flat(&[("b", 2.0), ("c", 3.0)])
    );
    assert_eq!(k.run("ZRANGESTORE dst z 5 0 BYSCORE REV LIMIT 0 2"), int(2));
    assert_eq!(k.run("ZRANGE dst 0 -1"), bulks(&["c", "d"]));
    assert_eq!(k.run("ZRANGESTORE dst z [b [c BYLEX"), int(2));
    // An empty result deletes the destination (propagated only if something was deleted).
    let e = k.exec("ZRANGESTORE dst missing 0 -1").unwrap();
    assert_eq!((e.reply, e.propagate), (int(0), Propagate::AsIs));
    assert_eq!(k.run("EXISTS dst"), int(0));
    assert_eq!(
        propagated(&mut k, "ZRANGESTORE dst missing 0 -1"),
        Vec::<String>::new()
    );
    assert_eq!(k.run("ZRANGESTORE z z 0 0"), int(1));
    assert_eq!(k.run("ZRANGE z 0 -1"), bulks(&["a"]));
}

#[test]
fn zremrange_commands() {
    let mut k = Kit::new();
    k.run("ZADD z 1 a 2 b 3 c 4 d 5 e");
    assert_eq!(
        k.run("ZREMRANGEBYRANK z a 0"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(k.run("ZREMRANGEBYRANK z 0 -1000"), int(0));
    assert_eq!(k.run("ZREMRANGEBYRANK z 100 200"), int(0));
    assert_eq!(
        propagated(&mut k, "ZREMRANGEBYRANK z 100 200"),
        Vec::<String>::new()
    );
    assert_eq!(k.run("ZREMRANGEBYRANK z 0 0"), int(1));
    assert_eq!(k.run("ZREMRANGEBYSCORE z (4 +inf"), int(1));
    assert_eq!(
        k.run("ZREMRANGEBYSCORE z x y"),
        err("ERR min or max is not a float")
    );
    assert_eq!(
        k.run("ZREMRANGEBYLEX z x y"),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(propagated(&mut k, "ZREMRANGEBYLEX z [b [b"), ["AS-IS"]);
    assert_eq!(k.run("ZREMRANGEBYLEX z - +"), int(2));
    assert_eq!(k.run("EXISTS z"), int(0));
    assert_eq!(k.run("ZREMRANGEBYSCORE missing 0 1"), int(0));
}

#[test]
fn zpop_replies_and_propagation() {
    let mut k = Kit::new();
    abc(&mut k);
    assert_eq!(k.run("ZPOPMIN z"), flat(&[("a", 1.0)]));
    assert_eq!(k.run("ZPOPMIN z 0"), arr(vec![]));
    assert_eq!(
        k.run("ZPOPMIN z -1"),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        k.run("ZPOPMIN z abc"),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(k.run("ZPOPMIN z 1 2"), err("ERR syntax error"));
    assert_eq!(propagated(&mut k, "ZPOPMIN z 0"), Vec::<String>::new());
    assert_eq!(k.run("ZPOPMAX z 5"), flat(&[("c", 3.0), ("b", 2.0)]));
    assert_eq!(k.run("EXISTS z"), int(0));
    assert_eq!(k.run("ZPOPMIN missing"), arr(vec![]));
    assert_eq!(
        propagated(&mut k, "ZPOPMIN missing 3"),
        Vec::<String>::new()
    );
    abc(&mut k);
    assert_eq!(propagated(&mut k, "ZPOPMAX z"), ["AS-IS"]);
    k.protocol = Protocol::Resp3;
    assert_eq!(k.run("ZPOPMIN z"), flat(&[("a", 1.0)]));
    abc(&mut k);
    assert_eq!(k.run("ZPOPMIN z 1"), pairs(&[("a", 1.0)]));
    assert_eq!(k.run("ZPOPMAX z 2"), pairs(&[("c", 3.0), ("b", 2.0)]));
    k.run("SET str x");
    assert_eq!(k.run("ZPOPMIN str"), err(WRONGTYPE));
}

#[test]
fn bzpop_serves_blocks_or_answers_nil() {
    let mut k = Kit::new();
    abc(&mut k);
    let e = k.exec("BZPOPMIN missing z 0").unwrap();
    assert_eq!(e.reply, arr(vec![b("z"), b("a"), d(1.0)]));
    assert_eq!(
        e.propagate,
        Propagate::Rewritten(vec![vec![Bytes::from("ZPOPMIN"), Bytes::from("z")]])
    );
    assert_eq!(propagated(&mut k, "BZPOPMAX z 0"), ["ZPOPMAX z"]);
    assert_eq!(k.run("BZPOPMIN z -1"), err("ERR timeout is negative"));
    assert_eq!(k.run("BZPOPMIN z inf"), err("ERR timeout is negative"));
    assert_eq!(
        k.run("BZPOPMIN z abc"),
        err("ERR timeout is not a float or out of range")
    );
    assert_eq!(
        k.run("BZPOPMIN z -0.0001"),
        arr(vec![b("z"), b("b"), d(2.0)])
    );
    assert_eq!(k.run("EXISTS z"), int(0));
    let e = k.exec("BZPOPMIN a b 1.5").unwrap();
    assert_eq!(
        e.block,
        Some(crate::cmd::Block {
            keys: vec![Bytes::from("a"), Bytes::from("b")],
            deadline_ms: Some(k.ks.now_ms + 1500),
        })
    );
    assert_eq!(
        k.exec("BZPOPMIN a 0").unwrap().block.unwrap().deadline_ms,
        None
    );
    k.run("SET str x");
    assert_eq!(k.run("BZPOPMIN missing str 0"), err(WRONGTYPE));
    // Inside MULTI (no_block) the answer is a nil array at once.
    let argv: Vec<Bytes> = ["BZPOPMIN", "a", "0"]
        .iter()
        .map(|s| Bytes::from(*s))
        .collect();
    let mut ctx = Ctx {
        ks: &mut k.ks,
        db: 0,
        protocol: Protocol::Resp2,
        no_block: true,
        rng: &mut k.rng,
    };
    let e = crate::cmd::execute(&mut ctx, &argv).unwrap();
    assert_eq!((e.reply, e.block), (Frame::NullArray, None));
}

#[test]
fn zmpop_and_bzmpop() {
    let mut k = Kit::new();
    abc(&mut k);
    for (cmd, want) in [
        ("ZMPOP 0 z MIN", "ERR numkeys should be greater than 0"),
        ("ZMPOP x z MIN", "ERR numkeys should be greater than 0"),
        ("ZMPOP 1 z foo", "ERR syntax error"),
        ("ZMPOP 2 z MIN", "ERR syntax error"),
        (
            "ZMPOP 1 z MIN COUNT 0",
            "ERR count should be greater than 0",
        ),
        (
            "ZMPOP 1 z MIN COUNT -1",
            "ERR count should be greater than 0",
        ),
        ("ZMPOP 1 z MIN COUNT 1 COUNT 1", "ERR syntax error"),
        ("ZMPOP 1 z MIN COUNT", "ERR syntax error"),
        ("BZMPOP -1 1 z MIN", "ERR timeout is negative"),
        (
            "BZMPOP abc 1 z MIN",
            "ERR timeout is not a float or out of range",
        ),
    ] {
        assert_eq!(k.run(cmd), err(want), "{cmd}");
    }
    let e = k.exec("ZMPOP 2 missing z MIN COUNT 2").unwrap();
    assert_eq!(e.reply, arr(vec![b("z"), pairs(&[("a", 1.0), ("b", 2.0)])]));
    assert_eq!(
        e.propagate,
        Propagate::Rewritten(vec![vec![
            Bytes::from("ZPOPMIN"),
            Bytes::from("z"),
            Bytes::from("2")
        ]])
    );
    assert_eq!(
        propagated(&mut k, "ZMPOP 1 z MAX COUNT 10"),
        ["ZPOPMAX z 1"]
    );
    assert_eq!(k.run("ZMPOP 1 z MAX"), Frame::NullArray);
    abc(&mut k);
    assert_eq!(
        k.run("BZMPOP 0 1 z MAX"),
        arr(vec![b("z"), pairs(&[("c", 3.0)])])
    );
    assert!(k.exec("BZMPOP 0 1 empty MIN").unwrap().block.is_some());
}

#[test]
fn zrandmember_counts() {
    let mut k = Kit::new();
    assert_eq!(k.run("ZRANDMEMBER missing"), Frame::Null);
    assert_eq!(k.run("ZRANDMEMBER missing 2"), arr(vec![]));
    k.run("ZADD z 1 a 2 b 3 c");
    assert_eq!(k.run("ZRANDMEMBER z 0"), arr(vec![]));
    assert_eq!(
        k.run("ZRANDMEMBER z 5 WITHSCORES"),
        flat(&[("c", 3.0), ("b", 2.0), ("a", 1.0)])
    );
    assert_eq!(k.run("ZRANDMEMBER z 3"), bulks(&["c", "b", "a"]));
    let Frame::Array(two) = k.run("ZRANDMEMBER z 2") else {
        panic!()
    };
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    let Frame::Array(many) = k.run("ZRANDMEMBER z -7 WITHSCORES") else {
        panic!()
    };
    assert_eq!(many.len(), 14);
    assert!(matches!(k.run("ZRANDMEMBER z"), Frame::Bulk(_)));
    assert_eq!(
        k.run("ZRANDMEMBER z -9223372036854775808"),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        k.run("ZRANDMEMBER z -9223372036854775807 WITHSCORES"),
        err("ERR value is out of range")
    );
    assert_eq!(
        k.run("ZRANDMEMBER z 4611686018427387904 WITHSCORES"),
        err("ERR value is out of range")
    );
    assert_eq!(k.run("ZRANDMEMBER z 3 foo"), err("ERR syntax error"));
    assert_eq!(
        k.run("ZRANDMEMBER z abc"),
        err("ERR value is not an integer or out of range")
    );
    k.protocol = Protocol::Resp3;
    assert_eq!(
        k.run("ZRANDMEMBER z 3 WITHSCORES"),
        pairs(&[("c", 3.0), ("b", 2.0), ("a", 1.0)])
    );
}

#[test]
fn algebra_errors() {
    let mut k = Kit::new();
    abc(&mut k);
    k.run("SET str x");
    for (cmd, want) in [
        (
            "ZUNIONSTORE out 0 z",
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
        (
            "ZUNIONSTORE out -1 z",
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
        (
            "ZUNION 0 z",
            "ERR at least 1 input key is needed for 'zunion' command",
        ),
        (
            "ZINTERCARD 0 z",
            "ERR at least 1 input key is needed for 'zintercard' command",
        ),
        (
            "ZUNIONSTORE out x z",
            "ERR value is not an integer or out of range",
        ),
        ("ZUNIONSTORE out 3 z z", "ERR syntax error"),
        ("ZUNIONSTORE out 2 z z WEIGHTS 1", "ERR syntax error"),
        (
            "ZUNIONSTORE out 2 z z WEIGHTS 1 x",
            "ERR weight value is not a float",
        ),
        ("ZUNIONSTORE out 2 z z AGGREGATE foo", "ERR syntax error"),
        ("ZUNIONSTORE out 1 z WITHSCORES", "ERR syntax error"),
        ("ZINTERSTORE out 2 z z WEIGHTS 1 2 3", "ERR syntax error"),
        ("ZDIFFSTORE out 2 z z WEIGHTS 1 1", "ERR syntax error"),
        ("ZDIFF 2 z z AGGREGATE SUM", "ERR syntax error"),
        ("ZUNION 2 z z foo", "ERR syntax error"),
        ("ZUNION 2 z str", WRONGTYPE),
        ("ZUNION 2 str z WEIGHTS x", WRONGTYPE),
        ("ZINTERCARD 1 z LIMIT -1", "ERR LIMIT can't be negative"),
        ("ZINTERCARD 1 z foo", "ERR syntax error"),
        ("ZINTERCARD 2 z", "ERR syntax error"),
        ("ZINTERCARD 1 z WITHSCORES", "ERR syntax error"),
    ] {
        assert_eq!(k.run(cmd), err(want), "{cmd}");
    }
}

#[test]
fn algebra_results() {
    let mut k = Kit::new();
    abc(&mut k);
    k.run("ZADD z2 10 b 20 c 30 d");
    k.run("SADD s a d");
    assert_eq!(
        k.run("ZUNIONSTORE out 2 z z2 WEIGHTS 2 3 AGGREGATE MAX"),
        int(4)
    );
    assert_eq!(
        k.run("ZRANGE out 0 -1 WITHSCORES"),
        flat(&[("a", 2.0), ("b", 30.0), ("c", 60.0), ("d", 90.0)])
    );
    assert_eq!(k.run("ZINTERSTORE out 2 z z2 AGGREGATE MIN"), int(2));
    assert_eq!(
        k.run("ZRANGE out 0 -1 WITHSCORES"),
        flat(&[("b", 2.0), ("c", 3.0)])
    );
    assert_eq!(
        k.run("ZUNION 3 z z2 s WITHSCORES"),
        flat(&[("a", 2.0), ("b", 12.0), ("c", 23.0), ("d", 31.0)])
    );
    assert_eq!(k.run("ZINTER 2 z s WITHSCORES"), flat(&[("a", 2.0)]));
    assert_eq!(k.run("ZDIFF 2 z z2 WITHSCORES"), flat(&[("a", 1.0)]));
    assert_eq!(k.run("ZDIFF 2 z z2"), bulks(&["a"]));
    assert_eq!(k.run("ZDIFFSTORE out 2 z z2"), int(1));
    assert_eq!(k.run("ZINTER 2 z missing"), arr(vec![]));
    // inf * 0-ish and inf + -inf become 0 like Redis.
    assert_eq!(
        k.run("ZUNION 2 z z2 WITHSCORES WEIGHTS inf -inf"),
        flat(&[
            ("d", f64::NEG_INFINITY),
            ("b", 0.0),
            ("c", 0.0),
            ("a", f64::INFINITY)
        ])
    );
    assert_eq!(k.run("ZINTERCARD 2 z z2"), int(2));
    assert_eq!(k.run("ZINTERCARD 2 z z2 LIMIT 1"), int(1));
    assert_eq!(k.run("ZINTERCARD 1 missing"), int(0));
    // Store: empty result deletes the destination; propagated only when something changed.
    k.run("ZADD out 1 x");
    let e = k.exec("ZINTERSTORE out 1 missing").unwrap();
    assert_eq!((e.reply, e.propagate), (int(0), Propagate::AsIs));
    assert_eq!(k.run("EXISTS out"), int(0));
    assert_eq!(
        propagated(&mut k, "ZINTERSTORE out 1 missing"),
        Vec::<String>::new()
    );
    assert_eq!(propagated(&mut k, "ZUNIONSTORE out 1 z"), ["AS-IS"]);
    k.protocol = Protocol::Resp3;
    assert_eq!(
        k.run("ZINTER 2 z z WITHSCORES"),
        pairs(&[("a", 2.0), ("b", 4.0), ("c", 6.0)])
    );
}

#[test]
fn zscan_cases() {
    let mut k = Kit::new();
    assert_eq!(k.run("ZSCAN missing 0"), arr(vec![b("0"), arr(vec![])]));
    k.run("ZADD z 1.1 a 2 b -0 c");
    assert_eq!(
        k.run("ZSCAN z 0"),
        arr(vec![
            b("0"),
            bulks(&["c", "0", "a", "1.1000000000000001", "b", "2"])
        ])
    );
    assert_eq!(
        k.run("ZSCAN z 0 MATCH a*"),
        arr(vec![b("0"), bulks(&["a", "1.1000000000000001"])])
    );
    assert_eq!(k.run("ZSCAN z x"), err("ERR invalid cursor"));
    assert_eq!(k.run("ZSCAN z 0 NOVALUES"), err("ERR syntax error"));
    k.run("SET str x");
    assert_eq!(k.run("ZSCAN str 0"), err(WRONGTYPE));
    k.ks.cfg = StoreConfig {
        zset_max_listpack_entries: 0,
        ..StoreConfig::default()
    };
    let members: Vec<String> = (0..40).map(|i| format!("{i} m{i}")).collect();
    k.run(&format!("ZADD big {}", members.join(" ")));
    let mut seen = 0;
    let mut cursor = "0".to_string();
    for _ in 0..100 {
        let Frame::Array(parts) = k.run(&format!("ZSCAN big {cursor} COUNT 7")) else {
            panic!()
        };
        let (Frame::Bulk(c), Frame::Array(items)) = (&parts[0], &parts[1]) else {
            panic!()
        };
        seen += items.len() / 2;
        cursor = String::from_utf8(c.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen, 40);
}

#[test]
fn big_sets_use_the_skiplist_paths() {
    let mut k = Kit::new();
    let members: Vec<String> = (0..1000).map(|i| format!("{} m{i:04}", i % 100)).collect();
    k.run(&format!("ZADD z {}", members.join(" ")));
    assert_eq!(encoding(&mut k, "z"), "skiplist");
    assert_eq!(k.run("ZCARD z"), int(1000));
    assert_eq!(k.run("ZRANK z m0000"), int(0));
    assert_eq!(k.run("ZRANK z m0100"), int(1));
    assert_eq!(k.run("ZREVRANK z m0999"), int(0));
    assert_eq!(k.run("ZCOUNT z 10 (20"), int(100));
    assert_eq!(k.run("ZRANGE z 0 1"), bulks(&["m0000", "m0100"]));
    assert_eq!(
        k.run("ZRANGEBYSCORE z 99 +inf LIMIT 8 5"),
        bulks(&["m0899", "m0999"])
    );
    assert_eq!(k.run("ZREMRANGEBYSCORE z 0 (50"), int(500));
    assert_eq!(k.run("ZPOPMIN z"), flat(&[("m0050", 50.0)]));
    assert_eq!(k.run("ZCARD z"), int(499));
}

#[test]
fn command_table_matches_redis() {
    for (name, arity, flags) in [
        ("zadd", -4, WRITE | DENYOOM | FAST),
        ("zrangestore", -5, WRITE | DENYOOM),
        ("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST),
        ("bzmpop", -5, WRITE | BLOCKING),
        ("zremrangebyrank", 4, WRITE),
        ("zscan", -3, READONLY),
    ] {
        let spec = crate::cmd::lookup(name.as_bytes()).unwrap();
        assert_eq!((spec.arity, spec.flags), (arity, flags), "{name}");
    }
    let argv = |s: &str| {
        s.split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect::<Vec<_>>()
    };
    let keys = |name: &str, line: &str| {
        crate::cmd::lookup(name.as_bytes())
            .unwrap()
            .keys
            .key_indices(&argv(line))
    };
    assert_eq!(
        keys("zunionstore", "ZUNIONSTORE d 2 a b WEIGHTS 1 2"),
        vec![1, 3, 4]
    );
    assert_eq!(keys("bzmpop", "BZMPOP 0 2 a b MIN"), vec![3, 4]);
    assert_eq!(keys("bzpopmin", "BZPOPMIN a b 0"), vec![1, 2]);
    assert_eq!(keys("zinter", "ZINTER 2 a b"), vec![2, 3]);
}
