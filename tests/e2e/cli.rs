//! The real `redis-cli` against the server under test: plain commands, `--pipe` mass
//! insertion, `INFO server` and the `--no-raw` / `-3` reply formatting (which depends on the
//! exact reply types we send). Expected outputs were taken from redis-cli 7.0 talking to
//! redis-server 7.0; `E2E_SUBJECT=redis` re-checks them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::harness::{require_tool, Conn, Frame, Server};

/// Runs `redis-cli -h 127.0.0.1 -p PORT args...` with `stdin`, returns its output.
fn redis_cli(server: &Server, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redis-cli");
    // Writing from another thread: redis-cli --pipe reads replies while we still write.
    let mut input = child.stdin.take().expect("stdin");
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("wait for redis-cli");
    let _ = writer.join();
    out
}

/// `redis-cli` stdout for a command that must succeed.
fn cli_ok(server: &Server, args: &[&str]) -> String {
    let out = redis_cli(server, args, b"");
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cli_set_then_get() {
    if !require_tool("redis-cli", "cli_set_then_get") {
        return;
    }
    let server = Server::ferrokv();
    assert_eq!(cli_ok(&server, &["SET", "a", "b"]), "OK\n");
    assert_eq!(cli_ok(&server, &["GET", "a"]), "b\n");
    // Raw mode (stdout not a tty) prints nil as an empty line.
    assert_eq!(cli_ok(&server, &["GET", "missing"]), "\n");
    assert_eq!(cli_ok(&server, &["SET", "with space", "x\ty"]), "OK\n");
    assert_eq!(
        server.conn().cmd(&["GET", "with space"]),
        Frame::bulk("x\ty")
    );
}

#[test]
fn cli_pipe_mass_insertion() {
    if !require_tool("redis-cli", "cli_pipe_mass_insertion") {
        return;
    }
    const N: usize = 10_000;
    let server = Server::ferrokv();
    let mut input = Vec::new();
    for i in 0..N {
        input.extend(Conn::encode(&[
            "SET".to_owned(),
            format!("key:{i}"),
            format!("value:{i}"),
        ]));
    }
    let out = redis_cli(&server, &["--pipe"], &input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "--pipe failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("errors: 0, replies: {N}")),
        "{stdout}"
    );
    let mut conn = server.conn();
    assert_eq!(conn.cmd(&["DBSIZE"]), Frame::Integer(N as i64));
    assert_eq!(conn.cmd(&["GET", "key:9999"]), Frame::bulk("value:9999"));
}

#[test]
fn cli_pipe_counts_errors() {
    if !require_tool("redis-cli", "cli_pipe_counts_errors") {
        return;
    }
    let server = Server::ferrokv();
    let mut input = Conn::encode(&["SET", "s", "x"]);
    input.extend(Conn::encode(&["INCR", "s"]));
    input.extend(Conn::encode(&["NOSUCHCOMMAND"]));
    input.extend(Conn::encode(&["INCR", "n"]));
    let out = redis_cli(&server, &["--pipe"], &input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("errors: 2, replies: 4"), "{stdout}");
}

/// `INFO server` parsed the way monitoring tools parse it: `# Section` headers and
/// `field:value` lines, CRLF line ends.
#[test]
fn cli_info_server_fields() {
    if !require_tool("redis-cli", "cli_info_server_fields") {
        return;
    }
    let server = Server::ferrokv();
    let out = cli_ok(&server, &["INFO", "server"]);
    assert!(out.starts_with("# Server\r\n"), "{out:?}");
    let fields: std::collections::HashMap<&str, &str> = out
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once(':')
                .unwrap_or_else(|| panic!("INFO line without ':': {l:?}"))
        })
        .collect();
    for field in [
        "redis_version",
        "redis_mode",
        "os",
        "arch_bits",
        "process_id",
        "run_id",
        "tcp_port",
        "uptime_in_seconds",
        "uptime_in_days",
        "hz",
        "executable",
        "config_file",
    ] {
        assert!(
            fields.contains_key(field),
            "INFO server lacks {field}: {out}"
        );
    }
    assert_eq!(fields["tcp_port"], server.port().to_string());
    assert_eq!(
        fields["process_id"],
        server.pid().expect("running").to_string()
    );
    assert_eq!(fields["redis_mode"], "standalone");
    let run_id = fields["run_id"];
    assert!(
        run_id.len() == 40 && run_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{run_id}"
    );
    let version: Vec<&str> = fields["redis_version"].split('.').collect();
    assert!(
        version.len() == 3 && version.iter().all(|p| p.parse::<u32>().is_ok()),
        "{version:?}"
    );
    assert!(fields["uptime_in_seconds"].parse::<u64>().is_ok());
    // The section filter: no other sections.
    assert!(!out.contains("# Clients"), "{out}");
}

/// `--no-raw` formats each reply type differently, so these lines check the types we send.
#[test]
fn cli_no_raw_reply_formats() {
    if !require_tool("redis-cli", "cli_no_raw_reply_formats") {
        return;
    }
    let server = Server::ferrokv();
    let table: &[(&[&str], &str)] = &[
        (&["SET", "a", "b"], "OK\n"),
        (&["GET", "a"], "\"b\"\n"),
        (&["GET", "nope"], "(nil)\n"),
        (&["INCR", "n"], "(integer) 1\n"),
        (&["RPUSH", "l", "x", "y"], "(integer) 2\n"),
        (&["LRANGE", "l", "0", "-1"], "1) \"x\"\n2) \"y\"\n"),
        (&["LRANGE", "none", "0", "-1"], "(empty array)\n"),
        (&["MGET", "a", "nope"], "1) \"b\"\n2) (nil)\n"),
        (
            &["INCR", "a"],
            "(error) ERR value is not an integer or out of range\n",
        ),
        (&["EXEC"], "(error) ERR EXEC without MULTI\n"),
        (&["PING"], "PONG\n"),
        (&["ZADD", "z", "1.5", "m"], "(integer) 1\n"),
        (
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            "1) \"m\"\n2) \"1.5\"\n",
        ),
        (&["HSET", "h", "f", "v"], "(integer) 1\n"),
        (&["SET", "bin", "a\nb"], "OK\n"),
        (&["GET", "bin"], "\"a\\nb\"\n"),
    ];
    for (args, want) in table {
        let mut full = vec!["--no-raw"];
        full.extend_from_slice(args);
        assert_eq!(cli_ok(&server, &full), *want, "redis-cli {full:?}");
    }
}

/// `redis-cli -3` sends `HELLO 3` and prints RESP3 types (maps, doubles) in their own way.
#[test]
fn cli_resp3_reply_formats() {
    if !require_tool("redis-cli", "cli_resp3_reply_formats") {
        return;
    }
    let server = Server::ferrokv();
    let mut conn = server.conn();
    conn.run("HSET h f v");
    conn.run("ZADD z 1.5 m");
    let table: &[(&[&str], &str)] = &[
        (&["HGETALL", "h"], "1# \"f\" => \"v\"\n"),
        (&["ZSCORE", "z", "m"], "(double) 1.5\n"),
        (&["GET", "nope"], "(nil)\n"),
    ];
    for (args, want) in table {
        let mut full = vec!["-3", "--no-raw"];
        full.extend_from_slice(args);
        assert_eq!(cli_ok(&server, &full), *want, "redis-cli {full:?}");
    }
}
