//! Shared test harness: the built binary as a child process, small upstream servers, and
//! socket helpers. Every process and thread started here stops on `Drop`; every wait is bounded.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrokv_toxiproxy::{Proxy, ToxiClient};

/// `ferrokv-toxiproxy -host 127.0.0.1 -port 0`, killed by PID on drop.
pub struct ToxiProcess {
    child: Child,
    pub client: ToxiClient,
}

impl ToxiProcess {
    pub fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokv-toxiproxy"))
            .args(["-host", "127.0.0.1", "-port", "0", "-seed", "7"])
            .env("LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ferrokv-toxiproxy");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ferrokv-toxiproxy printed no ready line in 20 s");
            }
        };
        let addr = line
            .trim()
            .strip_prefix("ferrokv-toxiproxy API listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_string();
        let client =
            ToxiClient::new(&format!("http://{addr}")).with_timeout(Duration::from_secs(10));
        Self { child, client }
    }
}

impl Drop for ToxiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A thread-per-connection TCP server on 127.0.0.1:0 running `serve` for each client.
pub struct Upstream {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    fn start(serve: fn(TcpStream, &AtomicBool)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let flag = flag.clone();
                        let _ = s.set_nonblocking(false);
                        std::thread::spawn(move || serve(s, &flag));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Echoes every byte back.
    pub fn echo() -> Self {
        Self::start(|mut s, stop| {
            let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
            let mut buf = [0u8; 16 * 1024];
            while !stop.load(Ordering::Relaxed) {
                match s.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
        })
    }

    /// Writes `bye` and closes.
    pub fn greeter() -> Self {
        Self::start(|mut s, _| {
            let _ = s.write_all(b"bye");
        })
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A proxy named `name` from a free port to `upstream`.
pub fn proxy_to(client: &ToxiClient, name: &str, upstream: SocketAddr) -> Proxy {
    let p = client
        .create_proxy(name, "127.0.0.1:0", &upstream.to_string())
        .expect("create proxy");
    assert!(
        !p.listen.ends_with(":0"),
        "listen shows the bound port: {}",
        p.listen
    );
    p
}

pub fn connect(listen: &str) -> TcpStream {
    let s = TcpStream::connect(listen).expect("connect through proxy");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Writes `msg` and reads the same number of bytes back; returns them and the time taken.
pub fn round_trip(s: &mut TcpStream, msg: &[u8]) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    s.write_all(msg).expect("write");
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).expect("read echo");
    (back, start.elapsed())
}

/// What a read ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    Data(usize),
    Eof,
    Reset,
    /// Nothing arrived within the socket's read timeout.
    Silent,
    Other(ErrorKind),
}

pub fn read_once(s: &mut TcpStream, timeout: Duration) -> ReadEnd {
    s.set_read_timeout(Some(timeout)).expect("timeout");
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(0) => ReadEnd::Eof,
        Ok(n) => ReadEnd::Data(n),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            ReadEnd::Silent
        }
        Err(e) if e.kind() == ErrorKind::ConnectionReset => ReadEnd::Reset,
        Err(e) => ReadEnd::Other(e.kind()),
    }
}

/// Reads until EOF/error or `limit` passes; returns the bytes and how the stream ended.
pub fn read_to_end(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, ReadEnd) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, ReadEnd::Silent);
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => return (out, ReadEnd::Eof),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (out, ReadEnd::Silent)
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (out, ReadEnd::Reset),
            Err(e) => return (out, ReadEnd::Other(e.kind())),
        }
    }
}

/// Reads until `n` bytes arrived, the stream ends, or `limit` passes.
pub fn read_n(s: &mut TcpStream, n: usize, limit: Duration) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    out
}

/// Deterministic test bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}
