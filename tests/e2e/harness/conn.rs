//! `Conn`: a small synchronous RESP client over a `std` `TcpStream`.
//!
//! Requests are RESP multibulk (or raw bytes for protocol tests); replies come back as
//! [`Reply`] (raw wire bytes kept) or as `ferrokv_proto::resp::Frame`. Every read has a
//! timeout, so a server that never answers fails the test instead of hanging it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use ferrokv_proto::resp::{encode_command, Frame};

use super::reply::{self, Reply};
use super::script::split_args;

/// How long one reply may take before the read fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Read but not yet parsed (`advance` drops a parsed reply in O(1)).
    buf: BytesMut,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        Ok(Conn {
            stream,
            peer: addr,
            buf: BytesMut::new(),
        })
    }

    /// A second handle on the same socket (e.g. a writer thread while this one reads).
    pub fn try_clone_stream(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Encodes `argv` as a RESP multibulk request (with `ferrokv_proto`'s encoder).
    pub fn encode<A: AsRef<[u8]>>(argv: &[A]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_command(argv, &mut out);
        out.to_vec()
    }

    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn send<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> io::Result<()> {
        self.write_raw(&Self::encode(argv))
    }

    /// Reads the next reply (pushes included).
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        // Allocated on the first read only: pipelined replies are mostly buffered already.
        let mut chunk = Vec::new();
        loop {
            match reply::parse(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.advance(used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{e} in {}", reply::show(&self.buf)),
                    ))
                }
            }
            if chunk.is_empty() {
                chunk = vec![0u8; 64 * 1024];
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed; unparsed bytes {}",
                        reply::show(&self.buf)
                    ),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `commands` in batches of 500 (one write each, so neither side's socket buffer
    /// fills while the other writes) and reads every reply; an error reply fails the test.
    pub fn pipeline(&mut self, commands: impl IntoIterator<Item = Vec<String>>) {
        let mut commands = commands.into_iter().peekable();
        while commands.peek().is_some() {
            let batch: Vec<Vec<String>> = commands.by_ref().take(500).collect();
            let wire: Vec<u8> = batch.iter().flat_map(|a| Self::encode(a)).collect();
            self.write_raw(&wire).unwrap();
            for argv in &batch {
                let reply = self.read_reply().unwrap().to_frame();
                assert!(!matches!(reply, Frame::Error(_)), "{argv:?}: {reply:?}");
            }
        }
    }

    /// Sends one command and reads its reply with the raw bytes.
    pub fn raw_cmd<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> io::Result<Reply> {
        self.send(argv)?;
        self.read_reply()
    }

    pub fn try_cmd<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> io::Result<Frame> {
        self.raw_cmd(argv).map(|r| r.to_frame())
    }

    /// Sends one command and returns its reply; I/O errors fail the test.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Frame {
        let shown: Vec<String> = argv
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .collect();
        self.try_cmd(argv)
            .unwrap_or_else(|e| panic!("{:?} to {}: {e}", shown, self.peer))
    }

    /// `cmd` for a `redis-cli`-style line: `conn.run("SET k \"a b\"")`.
    pub fn run(&mut self, line: &str) -> Frame {
        let argv = split_args(line).unwrap_or_else(|e| panic!("bad command line {line:?}: {e}"));
        self.cmd(&argv)
    }

    /// Reads until the server closes the connection and returns every byte it sent
    /// (after anything already buffered). Fails if the server keeps it open past `timeout`.
    pub fn read_to_close(&mut self, timeout: Duration) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut out = std::mem::take(&mut self.buf).to_vec();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("server kept the connection open; got {}", reply::show(&out)),
                ));
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                // A reset after the error reply still counts as closed.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(out),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conn({})", self.peer)
    }
}
