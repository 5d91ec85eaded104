//! The wire protocol over raw TCP: malformed requests get Redis's exact
//! `-ERR Protocol error: ...` reply and a closed connection while other clients carry on;
//! a 10,000-command pipeline in one write; inline commands.

use std::io::Write;
use std::time::Duration;

use crate::harness::{Conn, Frame, Server};

/// Sends `bytes` on a fresh connection and returns everything until the server closes it.
fn until_closed(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut conn = server.conn();
    conn.write_raw(bytes).expect("write");
    conn.read_to_close(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("after {:?}: {e}", String::from_utf8_lossy(bytes)))
}

#[test]
fn malformed_requests_get_protocol_error_and_close() {
    let server = Server::ferrokv();
    // A bystander connection that must keep being served.
    let mut bystander = server.conn();
    let table: &[(&[u8], &[u8])] = &[
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$999999999999\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$-1\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$x\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n:5\r\n",
            b"-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"SET \"a b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET a \"x\"y\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET 'a\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        // Commands before the bad frame are answered first.
        (
            b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nPING\r\n$-5\r\n",
            b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
        ),
    ];
    for (request, reply) in table {
        let got = until_closed(&server, request);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(reply),
            "request {:?}",
            String::from_utf8_lossy(request)
        );
        assert_eq!(bystander.cmd(&["PING"]), Frame::simple("PONG"));
    }
    assert_eq!(bystander.cmd(&["SET", "still", "here"]), Frame::OK);
    // Each protocol error is an error reply in INFO, as in Redis.
    let Frame::Bulk(info) = bystander.cmd(&["INFO", "errorstats"]) else {
        panic!("INFO errorstats is not a bulk string")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let want = format!("errorstat_ERR:count={}", table.len());
    assert!(info.lines().any(|l| l == want), "{info}");
}

#[test]
fn a_huge_inline_line_is_refused() {
    let server = Server::ferrokv();
    // 64 KiB + 1 without a newline: Redis refuses it before the line ends.
    let mut conn = server.conn();
    let writer_stream = conn.try_clone_stream().expect("clone");
    let writer = std::thread::spawn(move || {
        let mut stream = writer_stream;
        // The server may close while we write: errors are expected here.
        let _ = stream.write_all(&vec![b'a'; 64 * 1024 + 1]);
    });
    let got = conn.read_to_close(Duration::from_secs(10)).expect("closed");
    let _ = writer.join();
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR Protocol error: too big inline request\r\n"
    );
}

#[test]
fn ten_thousand_pipelined_commands_in_one_write() {
    const N: usize = 10_000;
    let server = Server::ferrokv();
    let mut conn = server.conn();
    let mut burst = Vec::with_capacity(N * 32);
    for _ in 0..N {
        burst.extend(Conn::encode(&["INCR", "counter"]));
    }
    // Write from another thread: the server answers while we are still writing, and a full
    // receive buffer on our side must not deadlock the test.
    let mut stream = conn.try_clone_stream().expect("clone");
    let writer = std::thread::spawn(move || stream.write_all(&burst));
    for i in 1..=N {
        assert_eq!(
            conn.read_reply().expect("reply").to_frame(),
            Frame::Integer(i as i64),
            "reply {i}"
        );
    }
    writer.join().expect("writer thread").expect("write burst");
    assert_eq!(conn.cmd(&["GET", "counter"]), Frame::bulk(N.to_string()));
}

#[test]
fn inline_commands() {
    let server = Server::ferrokv();
    let mut conn = server.conn();
    let mut ask = |bytes: &[u8]| {
        conn.write_raw(bytes).expect("write");
        conn.read_reply().expect("reply").raw
    };
    assert_eq!(ask(b"PING\r\n"), b"+PONG\r\n");
    // Bare LF ends a line too; empty lines are skipped silently.
    assert_eq!(ask(b"\r\n\nPING\n"), b"+PONG\r\n");
    assert_eq!(ask(b"SET k \"hello world\"\r\n"), b"+OK\r\n");
    assert_eq!(ask(b"GET k\r\n"), b"$11\r\nhello world\r\n");
    assert_eq!(ask(b"SET b \"\\x00\\n\"\r\n"), b"+OK\r\n");
    assert_eq!(ask(b"STRLEN b\r\n"), b":2\r\n");
    assert_eq!(ask(b"  ECHO   'it\\'s'  \r\n"), b"$4\r\nit's\r\n");
    // Inline and multibulk mix on one connection, pipelined.
    assert_eq!(
        ask(b"INCR n\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\nINCR n\r\n"),
        b":1\r\n"
    );
    assert_eq!(conn.read_reply().expect("reply").raw, b":2\r\n");
    assert_eq!(conn.read_reply().expect("reply").raw, b":3\r\n");
}

#[test]
fn empty_multibulk_and_negative_count_are_ignored() {
    let server = Server::ferrokv();
    let mut conn = server.conn();
    conn.write_raw(b"*0\r\n*-1\r\nPING\r\n").expect("write");
    assert_eq!(conn.read_reply().expect("reply").raw, b"+PONG\r\n");
}

#[test]
fn unknown_command_keeps_the_connection() {
    let server = Server::ferrokv();
    let mut conn = server.conn();
    let reply = conn.raw_cmd(&["NOSUCH", "a", "b"]).expect("reply");
    assert_eq!(
        String::from_utf8_lossy(&reply.raw),
        "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(conn.cmd(&["PING"]), Frame::simple("PONG"));
}
