//! Reading an AOF command stream (an INCR file, a RESP base, or the tail after an RDB
//! preamble) with byte offsets, truncation detection and MULTI/EXEC grouping.
//!
//! ## Format
//!
//! ```text
//! *<argc>\r\n  then per argument  $<len>\r\n<len bytes>\r\n
//! #<annotation>\r\n            (e.g. #TS:1700000000, skipped)
//! ```
//!
//! The RESP part is parsed by [`RequestDecoder`] with inline requests refused; this module
//! adds what loading an AOF needs on top, following Redis's `loadSingleAppendOnlyFile`:
//!
//! - a line starting with `#` is an annotation and is skipped; the last complete
//!   [`ReplMark`] line seen is kept for the caller ([`Records::take_mark`]);
//! - any other byte where a command should start, `*<n>` with `n < 1`, or a bad `$` header is
//!   a **format error** at the offset where that command started;
//! - end of input inside a command is a **short read**: everything up to the end of the last
//!   complete command (`valid_up_to`) is good;
//! - end of input inside `MULTI` … (no `EXEC`) is treated as a short read at the offset of
//!   the `MULTI`, so a half-written transaction is never applied.
//!
//! [`Records`] yields single commands; [`Units`] groups `MULTI … EXEC` into one
//! [`Unit::Transaction`] so the caller applies it only once it is complete.
//!
//! Worked example: `*1\r\n$5\r\nMULTI\r\n` (15 bytes) + `*2\r\n$3\r\nDEL\r\n$1\r\na\r\n`
//! (22 bytes) then EOF: [`Units`] reports `Truncated { valid_up_to: 0, .. }`.

use std::io::{self, Read};

use bytes::{Bytes, BytesMut};

use super::repl_mark::ReplMark;
use crate::resp::{Limits, ProtoError, RequestDecoder};

/// How much is read from the source at a time.
const READ_CHUNK: usize = 64 * 1024;

/// One command read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub argv: Vec<Bytes>,
    /// Offset of its first byte.
    pub start: u64,
    /// Offset just past its last byte.
    pub end: u64,
}

impl Command {
    /// Whether this is `name` (ASCII case-insensitive).
    pub fn is(&self, name: &[u8]) -> bool {
        self.argv.len() == 1 && self.argv[0].eq_ignore_ascii_case(name)
    }
}

/// Why the input ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// EOF in the middle of a command.
    ShortRead,
    /// EOF after `MULTI` without its `EXEC`.
    OpenMulti,
}

/// The stream is unusable from `offset` on.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("Bad file format at offset {offset}: {detail}")]
    Format { offset: u64, detail: String },
    #[error("Unrecoverable error reading at offset {offset}: {source}")]
    Io { offset: u64, source: io::Error },
}

impl RecordError {
    pub fn offset(&self) -> u64 {
        match self {
            RecordError::Format { offset, .. } | RecordError::Io { offset, .. } => *offset,
        }
    }
}

/// What [`Records::next_command`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Command(Command),
    /// Clean end of input.
    End,
    /// The input ends inside a command; bytes up to `valid_up_to` are complete commands.
    Truncated {
        valid_up_to: u64,
    },
}

/// Command-by-command reader over any byte source.
pub struct Records<R> {
    src: R,
    buf: BytesMut,
    tmp: Vec<u8>,
    dec: RequestDecoder,
    /// Offset of the end of the last complete item (command or annotation).
    offset: u64,
    eof: bool,
    /// The last replication mark skipped and not yet taken.
    mark: Option<ReplMark>,
}

impl<R: Read> Records<R> {
    /// Reads `src`, whose first byte is at offset `start` of its file (non-zero for the
    /// command tail after an RDB preamble).
    pub fn new(src: R, start: u64) -> Records<R> {
        let mut dec = RequestDecoder::new(Limits {
            client_query_buffer_limit: usize::MAX,
            ..Limits::default()
        });
        dec.allow_inline = false;
        Records {
            src,
            buf: BytesMut::with_capacity(READ_CHUNK),
            tmp: vec![0; READ_CHUNK],
            dec,
            offset: start,
            eof: false,
            mark: None,
        }
    }

    /// The last [`ReplMark`] annotation skipped since the previous call. Every mark read by
    /// a [`next_command`](Self::next_command) call lies before the command it returns.
    pub fn take_mark(&mut self) -> Option<ReplMark> {
        self.mark.take()
    }

    /// Offset just past the last complete item read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn fill(&mut self) -> Result<(), RecordError> {
        loop {
            match self.src.read(&mut self.tmp) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&self.tmp[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(RecordError::Io {
                        offset: self.offset,
                        source,
                    })
                }
            }
        }
    }

    fn format(&self, detail: impl Into<String>) -> RecordError {
        RecordError::Format {
            offset: self.offset,
            detail: detail.into(),
        }
    }

    /// Reads the next command.
    pub fn next_command(&mut self) -> Result<Next, RecordError> {
        loop {
            if !self.dec.in_request() && !self.buf.is_empty() {
                match self.buf[0] {
                    b'#' => match memchr::memchr(b'\n', &self.buf) {
                        Some(nl) => {
                            let line = self.buf.split_to(nl + 1);
                            self.offset += nl as u64 + 1;
                            if let Some(m) = ReplMark::parse(&line) {
                                self.mark = Some(m);
                            }
                            continue;
                        }
                        // An annotation cut by EOF is dropped, as Redis's fgets loop does.
                        None if self.eof => {
                            self.offset += self.buf.len() as u64;
                            self.buf.clear();
                            continue;
                        }
                        None => {
                            self.fill()?;
                            continue;
                        }
                    },
                    b'*' => {
                        let head = &self.buf[..self.buf.len().min(24)];
                        if let Some(cr) = memchr::memchr(b'\r', head) {
                            let n = std::str::from_utf8(&head[1..cr])
                                .ok()
                                .and_then(|s| s.parse::<i64>().ok());
                            if n.is_some_and(|n| n < 1) {
                                return Err(self.format("command with fewer than one argument"));
                            }
                        }
                    }
                    other => {
                        return Err(
                            self.format(format!("expected '*' or '#', got byte 0x{other:02x}"))
                        );
                    }
                }
            }
            let start = self.offset;
            match self.dec.decode_request(&mut self.buf) {
                Ok(Some(req)) => {
                    self.offset += req.wire_len as u64;
                    return Ok(Next::Command(Command {
                        argv: req.argv,
                        start,
                        end: self.offset,
                    }));
                }
                Ok(None) if self.eof => {
                    if self.buf.is_empty() && !self.dec.in_request() {
                        return Ok(Next::End);
                    }
                    return Ok(Next::Truncated {
                        valid_up_to: self.offset,
                    });
                }
                Ok(None) => self.fill()?,
                Err(e) => return Err(self.format(describe(&e))),
            }
        }
    }
}

fn describe(e: &ProtoError) -> String {
    e.to_string()
}

/// A command or a complete transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    Command(Command),
    /// The commands between `MULTI` and `EXEC` (both excluded); `start` is the `MULTI`'s
    /// offset, `end` the offset after `EXEC`.
    Transaction {
        commands: Vec<Command>,
        start: u64,
        end: u64,
    },
}

/// What [`Units::next_unit`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextUnit {
    Unit(Unit),
    End,
    /// Everything before `valid_up_to` was returned as complete units.
    Truncated {
        valid_up_to: u64,
        why: Truncation,
    },
}

/// [`Records`] with `MULTI … EXEC` grouped. A nested `MULTI` is ignored, a stray `EXEC` is
/// skipped (Redis answers both with an error reply that the loader discards).
pub struct Units<R> {
    records: Records<R>,
}

impl<R: Read> Units<R> {
    pub fn new(src: R, start: u64) -> Units<R> {
        Units {
            records: Records::new(src, start),
        }
    }

    pub fn offset(&self) -> u64 {
        self.records.offset()
    }

    /// [`Records::take_mark`]: a mark taken after a [`next_unit`](Self::next_unit) call lies
    /// before the unit it returned (or before the end of input it reported).
    pub fn take_mark(&mut self) -> Option<ReplMark> {
        self.records.take_mark()
    }

    pub fn next_unit(&mut self) -> Result<NextUnit, RecordError> {
        let mut tx: Option<(u64, Vec<Command>)> = None;
        loop {
            let cmd = match self.records.next_command()? {
                Next::Command(c) => c,
                Next::End => {
                    return Ok(match tx {
                        Some((start, _)) => NextUnit::Truncated {
                            valid_up_to: start,
                            why: Truncation::OpenMulti,
                        },
                        None => NextUnit::End,
                    });
                }
                Next::Truncated { valid_up_to } => {
                    return Ok(match tx {
                        Some((start, _)) => NextUnit::Truncated {
                            valid_up_to: start,
                            why: Truncation::ShortRead,
                        },
                        None => NextUnit::Truncated {
                            valid_up_to,
                            why: Truncation::ShortRead,
                        },
                    });
                }
            };
            if cmd.is(b"multi") {
                if tx.is_none() {
                    tx = Some((cmd.start, Vec::new()));
                }
                continue;
            }
            if cmd.is(b"exec") {
                match tx.take() {
                    Some((start, commands)) => {
                        return Ok(NextUnit::Unit(Unit::Transaction {
                            commands,
                            start,
                            end: cmd.end,
                        }));
                    }
                    None => continue,
                }
            }
            match tx.as_mut() {
                Some((_, cmds)) => cmds.push(cmd),
                None => return Ok(NextUnit::Unit(Unit::Command(cmd))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::encode_command;

    fn enc(cmds: &[&[&str]]) -> Vec<u8> {
        let mut b = BytesMut::new();
        for c in cmds {
            let argv: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
            encode_command(&argv, &mut b);
        }
        b.to_vec()
    }

    /// Reads everything; returns (argv of each command, final outcome).
    fn read_all(bytes: &[u8]) -> (Vec<Vec<Bytes>>, Result<NextUnit, String>) {
        let mut u = Units::new(bytes, 0);
        let mut out = Vec::new();
        loop {
            match u.next_unit() {
                Ok(NextUnit::Unit(Unit::Command(c))) => out.push(c.argv),
                Ok(NextUnit::Unit(Unit::Transaction { commands, .. })) => {
                    out.extend(commands.into_iter().map(|c| c.argv))
                }
                Ok(other) => return (out, Ok(other)),
                Err(e) => return (out, Err(e.to_string())),
            }
        }
    }

    /// A reader that hands out one byte at a time, to exercise every buffer boundary.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn offsets_and_annotations() {
        let mut data = b"#TS:1700000000\r\n".to_vec();
        data.extend(enc(&[&["SELECT", "0"], &["set", "b", "2"]]));
        let mut r = Records::new(&data[..], 0);
        let Next::Command(c) = r.next_command().unwrap() else {
            panic!()
        };
        assert_eq!((c.start, c.end), (16, 16 + 23));
        let Next::Command(c) = r.next_command().unwrap() else {
            panic!()
        };
        assert_eq!(c.argv[0], "set");
        assert_eq!(c.end, data.len() as u64);
        assert_eq!(r.next_command().unwrap(), Next::End);
    }

    #[test]
    fn every_split_point_of_a_torn_tail_truncates_to_the_last_complete_command() {
        let parts: [&[&str]; 3] = [
            &["SELECT", "0"],
            &["SET", "k", "v"],
            &["RPUSH", "list", "a", "bbbbbbbb"],
        ];
        let data = enc(&parts);
        let mut ends = Vec::new();
        for i in 1..=parts.len() {
            ends.push(enc(&parts[..i]).len());
        }
        for cut in 0..=data.len() {
            let (cmds, outcome) = read_all(&data[..cut]);
            let complete = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(cmds.len(), complete, "cut {cut}");
            let last = if complete == 0 { 0 } else { ends[complete - 1] };
            let want = if last == cut {
                NextUnit::End
            } else {
                NextUnit::Truncated {
                    valid_up_to: last as u64,
                    why: Truncation::ShortRead,
                }
            };
            assert_eq!(outcome, Ok(want), "cut {cut}");
            // Same answer when the bytes arrive one at a time.
            let mut u = Units::new(Trickle(&data[..cut]), 0);
            let mut n = 0;
            let end = loop {
                match u.next_unit().unwrap() {
                    NextUnit::Unit(_) => n += 1,
                    other => break other,
                }
            };
            assert_eq!(
                (n, end),
                (complete, outcome.clone().unwrap()),
                "trickle cut {cut}"
            );
        }
    }

    #[test]
    fn every_split_point_inside_a_transaction_goes_back_to_multi() {
        let head = enc(&[&["SET", "a", "1"]]);
        let tx = enc(&[
            &["MULTI"],
            &["SREM", "s", "x"],
            &["SREM", "s", "y"],
            &["EXEC"],
        ]);
        let data = [head.clone(), tx.clone()].concat();
        for cut in head.len()..data.len() {
            let (cmds, outcome) = read_all(&data[..cut]);
            assert_eq!(cmds.len(), 1, "cut {cut}");
            let why = if cut == head.len() {
                None
            } else if [head.len() + 15, head.len() + 15 + 28, head.len() + 15 + 56].contains(&cut) {
                Some(Truncation::OpenMulti)
            } else {
                Some(Truncation::ShortRead)
            };
            match why {
                None => assert_eq!(outcome, Ok(NextUnit::End)),
                Some(why) => assert_eq!(
                    outcome,
                    Ok(NextUnit::Truncated {
                        valid_up_to: head.len() as u64,
                        why
                    }),
                    "cut {cut}"
                ),
            }
        }
        let (cmds, outcome) = read_all(&data);
        assert_eq!(cmds.len(), 3);
        assert_eq!(outcome, Ok(NextUnit::End));
    }

    #[test]
    fn garbage_is_a_format_error_at_its_offset() {
        let good = enc(&[&["SET", "a", "1"]]);
        let cases: &[(&[u8], u64)] = &[
            (b"hello\r\n", 0),
            (b"\r\n", 0),
            (b"*0\r\n", 0),
            (b"*-1\r\n", 0),
            (b"*x\r\n", 0),
            (b"*1\r\n+OK\r\n", 0),
            (b"*1\r\n$-5\r\n", 0),
        ];
        for (bad, at) in cases {
            let data = [good.clone(), bad.to_vec(), good.clone()].concat();
            let (cmds, outcome) = read_all(&data);
            assert_eq!(cmds.len(), 1, "{bad:?}");
            let err = outcome.unwrap_err();
            let want = format!("offset {}", good.len() as u64 + at);
            assert!(err.contains(&want), "{bad:?}: {err}");
        }
    }

    #[test]
    fn stray_exec_and_nested_multi_are_skipped() {
        let data = enc(&[
            &["EXEC"],
            &["MULTI"],
            &["MULTI"],
            &["SET", "a", "1"],
            &["EXEC"],
            &["DEL", "a"],
        ]);
        let (cmds, outcome) = read_all(&data);
        assert_eq!(cmds.len(), 2);
        assert_eq!(outcome, Ok(NextUnit::End));
    }

    #[test]
    fn repl_marks_are_skipped_and_the_last_one_before_each_unit_is_kept() {
        let id = "8c4bd4e5c9e1b5b7f4d1a0c3e2f6a9b8c7d6e5f4";
        let mark = |off: u64| {
            let mut b = BytesMut::new();
            ReplMark::new(id, off, 0).unwrap().encode(&mut b);
            b.to_vec()
        };
        let data = [
            mark(10),
            mark(20),
            enc(&[&["SET", "a", "1"]]),
            b"#TS:1700000000\r\n".to_vec(),
            enc(&[&["SET", "b", "1"]]),
            mark(30),
        ]
        .concat();
        let mut u = Units::new(Trickle(&data), 0);
        assert!(matches!(u.next_unit().unwrap(), NextUnit::Unit(_)));
        assert_eq!(u.take_mark().map(|m| m.offset), Some(20));
        assert!(matches!(u.next_unit().unwrap(), NextUnit::Unit(_)));
        assert_eq!(u.take_mark(), None);
        assert_eq!(u.next_unit().unwrap(), NextUnit::End);
        assert_eq!(u.take_mark().map(|m| m.offset), Some(30));
        // A mark cut by EOF (a torn write) is no mark.
        let torn = [enc(&[&["SET", "a", "1"]]), mark(40)].concat();
        let mut u = Units::new(&torn[..torn.len() - 1], 0);
        assert!(matches!(u.next_unit().unwrap(), NextUnit::Unit(_)));
        assert_eq!(u.next_unit().unwrap(), NextUnit::End);
        assert_eq!(u.take_mark(), None);
    }

    #[test]
    fn starting_offset_is_added() {
        let data = enc(&[&["SET", "a", "1"]]);
        let mut r = Records::new(&data[..], 100);
        let Next::Command(c) = r.next_command().unwrap() else {
            panic!()
        };
        assert_eq!((c.start, c.end), (100, 100 + data.len() as u64));
    }
}
