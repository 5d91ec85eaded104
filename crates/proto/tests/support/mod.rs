//! Test support for the RDB corpus tests: a real `redis-server` in a temp dir on a free port
//! (killed by PID on drop), a tiny RESP client, and helpers that read a key back from Redis
//! into an `RdbValue` and put values into a comparable order.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_proto::rdb::RdbValue;

/// Returns true when the real Redis tools are installed; prints why a test is skipped if not.
pub fn have_redis(test: &str) -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED {test}: redis-server is not on PATH");
    }
    ok
}

/// A `redis-server` child process, killed and reaped on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` with `--dir dir --dbfilename dbfilename` plus `extra` arguments,
    /// on a port taken from a `:0` bind (retried if another process grabbed it meanwhile).
    pub fn start(dir: &Path, dbfilename: &str, extra: &[&str]) -> RedisServer {
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut cmd = Command::new("redis-server");
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .args(["--dbfilename", dbfilename])
            .args(["--logfile", "redis.log"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            let mut child = cmd.spawn().expect("spawn redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: port taken or bad config; retry or report below
                }
                if serves_as(port, child.id()) {
                    return RedisServer {
                        child,
                        port,
                        dir: dir.to_path_buf(),
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
        panic!("redis-server did not start; log:\n{log}");
    }

    pub fn client(&self) -> Client {
        Client::new(TcpStream::connect(("127.0.0.1", self.port)).expect("connect"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }
}

/// Whether the server on `port` is process `pid` and serves (not `-LOADING`). Any I/O error
/// counts as "not yet": another test's server may hold the port for a moment, or close it.
fn serves_as(port: u16, pid: u32) -> bool {
    use std::io::{BufRead, Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        .is_err()
    {
        return false;
    }
    let mut r = std::io::BufReader::new(stream);
    let mut header = String::new();
    if r.read_line(&mut header).is_err() {
        return false;
    }
    let Some(len) = header
        .strip_prefix('$')
        .and_then(|n| n.trim_end().parse::<usize>().ok())
        .filter(|&n| n < 1 << 20)
    else {
        return false; // -LOADING, or not a bulk reply
    };
    let mut body = vec![0u8; len + 2];
    if r.read_exact(&mut body).is_err() {
        return false;
    }
    String::from_utf8_lossy(&body).contains(&format!("process_id:{pid}\r\n"))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b.clone(),
            Reply::Simple(s) => s.as_bytes().to_vec(),
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }

    pub fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(a)) => a.clone(),
            other => panic!("expected an array, got {other:?}"),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer, got {other:?}"),
        }
    }
}

/// A blocking RESP client for tests (commands as arrays of bulk strings).
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn new(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            w: stream.try_clone().unwrap(),
            r: BufReader::new(stream),
        }
    }

    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).unwrap();
        self.read_reply()
    }

    /// Runs a command that must succeed (no error reply).
    pub fn ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let r = self.cmd(args);
        if let Reply::Error(e) = &r {
            let shown: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
                .collect();
            panic!("{shown:?} failed: {e}");
        }
        r
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        line.trim_end_matches("\r\n").to_string()
    }

    fn read_reply(&mut self) -> Reply {
        let line = self.line();
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut buf = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut buf).unwrap();
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..n).map(|_| self.read_reply()).collect()))
            }
            _ => panic!("bad reply line {line:?}"),
        }
    }
}

/// Reads `key` back from Redis as an `RdbValue` (None if missing).
pub fn fetch(c: &mut Client, key: &[u8]) -> Option<RdbValue> {
    let ty = c.ok(&[b"TYPE".as_slice(), key]).bytes();
    let bulk = |r: &Reply| Bytes::from(r.bytes());
    Some(match &ty[..] {
        b"none" => return None,
        b"string" => RdbValue::String(bulk(&c.ok(&[b"GET".as_slice(), key]))),
        b"list" => RdbValue::List(
            c.ok(&[b"LRANGE".as_slice(), key, b"0", b"-1"])
                .array()
                .iter()
                .map(bulk)
                .collect(),
        ),
        b"set" => RdbValue::Set(
            c.ok(&[b"SMEMBERS".as_slice(), key])
                .array()
                .iter()
                .map(bulk)
                .collect(),
        ),
        b"zset" => {
            let flat = c
                .ok(&[b"ZRANGE".as_slice(), key, b"0", b"-1", b"WITHSCORES"])
                .array();
            RdbValue::SortedSet(
                flat.chunks(2)
                    .map(|p| {
                        let score = String::from_utf8(p[1].bytes())
                            .unwrap()
                            .parse::<f64>()
                            .unwrap();
                        (bulk(&p[0]), score)
                    })
                    .collect(),
            )
        }
        b"hash" => {
            let flat = c.ok(&[b"HGETALL".as_slice(), key]).array();
            RdbValue::Hash(flat.chunks(2).map(|p| (bulk(&p[0]), bulk(&p[1]))).collect())
        }
        other => panic!("unexpected type {}", String::from_utf8_lossy(other)),
    })
}

/// Puts a value in a canonical order (sets and hashes sorted; zsets by member) so values
/// compare equal regardless of encoding order.
pub fn canon(v: &RdbValue) -> RdbValue {
    match v {
        RdbValue::Set(m) => {
            let mut m = m.clone();
            m.sort();
            RdbValue::Set(m)
        }
        RdbValue::SortedSet(e) => {
            let mut e = e.clone();
            e.sort_by(|a, b| a.0.cmp(&b.0));
            RdbValue::SortedSet(e)
        }
        RdbValue::Hash(e) => {
            let mut e = e.clone();
            e.sort();
            RdbValue::Hash(e)
        }
        other => other.clone(),
    }
}

/// Runs `redis-check-rdb file`; returns (success, combined output).
pub fn check_rdb(file: &Path) -> (bool, String) {
    let out = Command::new("redis-check-rdb")
        .arg(file)
        .output()
        .expect("run redis-check-rdb");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
