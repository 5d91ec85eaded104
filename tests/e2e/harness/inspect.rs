//! Reading a server's state in tests: reply text, INFO fields, and a digest of the whole
//! keyspace for comparing two servers key by key.

use std::collections::BTreeMap;

use super::{Conn, Frame};

/// A string-like reply as bytes (bulk, simple, integer).
pub fn text(f: &Frame) -> Vec<u8> {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => b.to_vec(),
        Frame::Verbatim { text, .. } => text.to_vec(),
        Frame::Integer(i) => i.to_string().into_bytes(),
        other => panic!("not a string: {other:?}"),
    }
}

/// An aggregate reply as a list of byte strings (maps flattened key, value).
pub fn items(f: Frame) -> Vec<Vec<u8>> {
    match f {
        Frame::Array(v) | Frame::Set(v) => v.iter().map(text).collect(),
        Frame::Map(m) => m.iter().flat_map(|(k, v)| [text(k), text(v)]).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// Runs a command that must not fail.
pub fn ok(conn: &mut Conn, line: &str) -> Frame {
    let f = conn.run(line);
    assert!(!matches!(f, Frame::Error(_)), "{line}: {f:?}");
    f
}

/// The lines of `INFO <section>` without its header and blank lines, sorted; fields named in
/// `skip` (timings) are left out of `k=v,k=v` values.
pub fn info_lines(conn: &mut Conn, section: &str, skip: &[&str]) -> Vec<String> {
    let info = String::from_utf8(text(&conn.run(&format!("INFO {section}")))).unwrap();
    let mut lines: Vec<String> = info
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .filter(|f| !skip.iter().any(|s| f.starts_with(s)))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    lines.sort();
    lines
}

/// The messages of the log lines that contain any of `needles`, without Redis's
/// `pid:role date time level` prefix (`12:S 01 Jan 2026 10:00:00.000 # text` -> `text`).
pub fn log_messages(log: &str, needles: &[&str]) -> Vec<String> {
    log.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .map(|l| {
            l.split_once(" # ")
                .or_else(|| l.split_once(" * "))
                .map_or(l, |(_, m)| m)
                .to_string()
        })
        .collect()
}

/// One field of `INFO <section>`, if present.
pub fn info_field(conn: &mut Conn, section: &str, name: &str) -> Option<String> {
    let info = String::from_utf8(text(&conn.run(&format!("INFO {section}")))).unwrap();
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}:"))
            .map(|v| v.trim().to_string())
    })
}

/// A numeric field of `INFO <section>`; panics if it is missing.
pub fn info_int(conn: &mut Conn, section: &str, name: &str) -> i64 {
    let v = info_field(conn, section, name).unwrap_or_else(|| panic!("no {name} in INFO"));
    v.parse().unwrap_or_else(|_| panic!("{name}:{v}"))
}

/// Every key of every database: (type, value with unordered collections sorted, expire at).
pub type Digest = BTreeMap<(usize, Vec<u8>), (String, Vec<Vec<u8>>, i64)>;

/// The whole keyspace (16 databases) through client commands, leaving db 0 selected.
pub fn digest(conn: &mut Conn) -> Digest {
    let mut out = BTreeMap::new();
    for db in 0..16usize {
        ok(conn, &format!("SELECT {db}"));
        for key in items(conn.cmd(&[b"KEYS" as &[u8], b"*"])) {
            let kind = String::from_utf8(text(&conn.cmd(&[b"TYPE" as &[u8], &key]))).unwrap();
            let mut value = match kind.as_str() {
                "string" => vec![text(&conn.cmd(&[b"GET" as &[u8], &key]))],
                "list" => items(conn.cmd(&[b"LRANGE" as &[u8], &key, b"0", b"-1"])),
                "set" => items(conn.cmd(&[b"SMEMBERS" as &[u8], &key])),
                "zset" => items(conn.cmd(&[b"ZRANGE" as &[u8], &key, b"0", b"-1", b"WITHSCORES"])),
                "hash" => items(conn.cmd(&[b"HGETALL" as &[u8], &key]))
                    .chunks(2)
                    .map(|p| [p[0].clone(), b"=".to_vec(), p[1].clone()].concat())
                    .collect(),
                other => panic!("unexpected type {other}"),
            };
            if kind == "set" || kind == "hash" {
                value.sort();
            }
            let expire = match conn.cmd(&[b"PEXPIRETIME" as &[u8], &key]) {
                Frame::Integer(i) => i,
                other => panic!("PEXPIRETIME: {other:?}"),
            };
            out.insert((db, key), (kind, value, expire));
        }
    }
    ok(conn, "SELECT 0");
    out
}
