//! The replica's side of one connection to its primary, as a sans-I/O state machine: bytes
//! in ([`Link::feed`]), [`Action`]s out. No sockets, no clock, no keyspace: the driver does
//! the I/O and the host applies what the link decides, so every step is unit-tested here.
//!
//! ## States
//!
//! ```text
//! start() -> WaitPong -> (pipelined AUTH, REPLCONF listening-port [, ip-address], capa, PSYNC)
//!         -> WaitReplies (one reply per pipelined command, in order)
//!         -> WaitPsync -- +FULLRESYNC id off --> PayloadHeader -- $<len> | $EOF:<mark> -->
//!              Payload --> AwaitLoad -- loaded() --> Streaming
//!         -- +CONTINUE [id] --> Streaming
//!         -- -ERR ... --> (old primary) SYNC --> PayloadHeader
//! ```
//!
//! Handshake replies are single lines; empty lines (`\n` keepalives) before the payload are
//! skipped and not counted.
//!
//! ## Offsets
//!
//! `offset` is the replica's `slave_repl_offset`: the `+FULLRESYNC` offset plus the bytes of
//! every command *applied*. Inside `MULTI` nothing is applied until `EXEC`, so the bytes of
//! `MULTI`, the queued commands and `EXEC` are counted together when `EXEC` arrives.
//! `read_offset` counts every stream byte read. Example: FULLRESYNC offset 100, then
//! `*1\r\n$5\r\nMULTI\r\n` (15 bytes) and a 31-byte `SET`: offset stays 100 (read_offset
//! 146) until the 14-byte `EXEC`, then jumps to 160.
//!
//! `REPLCONF GETACK *` is answered by the link itself with `REPLCONF ACK <offset>`, the
//! GETACK's own bytes included (captured from Redis: 1143 -> GETACK -> ACK 1180).

use bytes::{Bytes, BytesMut};
use ferrokv_proto::resp::{encode_command, RequestDecoder};

use crate::ReplError;

/// Length of the `$EOF:` mark of a diskless payload.
pub const EOF_MARK_LEN: usize = 40;

/// Handshake settings, from the replica's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkConfig {
    /// `masterauth`; empty = no AUTH.
    pub masterauth: String,
    /// `masteruser`; empty = `AUTH <password>` only.
    pub masteruser: String,
    /// Sent as `REPLCONF listening-port`.
    pub listening_port: u16,
    /// `replica-announce-ip`, sent as `REPLCONF ip-address` when set.
    pub announce_ip: String,
    /// This node is the old primary of a `FAILOVER`: send `PSYNC <replid> <offset> FAILOVER`
    /// so the target promotes itself, and treat an error reply as a refusal (no SYNC fallback).
    pub failover: bool,
    /// `replica-accept-empty-fullsync yes`, or an operator just ran REPLICAOF: never guard
    /// the dataset against an empty payload (see [`Link::guard_empty`]).
    pub accept_empty_fullsync: bool,
}

/// What the replica asks for in PSYNC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsyncFrom {
    /// `PSYNC ? -1`: no history to continue.
    Fresh,
    /// `PSYNC <replid> <offset>`: `offset` is the next byte wanted (applied offset + 1).
    Resume { replid: String, offset: u64 },
}

/// The link state INFO and ROLE report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Handshake,
    /// Receiving the payload.
    Transfer,
    Connected,
}

/// What the driver/host must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write these bytes to the primary.
    Send(Bytes),
    State(LinkState),
    /// The primary starts a full sync of history `replid` at `offset`.
    FullResync {
        replid: String,
        offset: u64,
    },
    /// Payload framing is known: `Some(len)` for `$<len>`, `None` for EOF-marked.
    PayloadStart(Option<u64>),
    /// RDB bytes.
    Payload(Bytes),
    /// The payload is complete: load it, then call [`Link::loaded`]. The link reads nothing
    /// further until then.
    PayloadEnd,
    /// Partial resync accepted; `Some(id)` when the primary's history id changed.
    Continue {
        new_replid: Option<String>,
    },
    /// Run this command as the primary's client. `fed` are the stream bytes this command
    /// completes (empty inside MULTI, the whole transaction at EXEC): feed them to the own
    /// backlog/sub-replicas.
    Apply {
        argv: Vec<Bytes>,
        fed: Bytes,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Auth,
    Any,
}

#[derive(Debug)]
enum State {
    Idle,
    WaitPong,
    WaitReplies(Vec<Expect>),
    WaitPsync,
    PayloadHeader,
    PayloadLen { left: u64 },
    PayloadEof { mark: Bytes, tail: BytesMut },
    AwaitLoad,
    Streaming,
    Failed,
}

/// One connection's replication protocol.
#[derive(Debug)]
pub struct Link {
    cfg: LinkConfig,
    from: PsyncFrom,
    state: State,
    buf: BytesMut,
    decoder: RequestDecoder,
    /// Applied offset (`slave_repl_offset`).
    offset: u64,
    /// Read offset (`slave_read_repl_offset`).
    read_offset: u64,
    /// Stream bytes of an open MULTI, applied at EXEC.
    in_multi: Option<BytesMut>,
    /// Old primary (plain SYNC): no ACKs.
    presync: bool,
    /// The payload was EOF-marked: ACK right after loading.
    eof_payload: bool,
    /// The `+FULLRESYNC` restarted the history we knew (see [`Link::guard_empty`]).
    guard_empty: bool,
    /// Bytes of handshake replies read since [`Link::take_handshake_bytes`] (Redis reads
    /// them synchronously and counts them nowhere).
    handshake_bytes: usize,
}

/// Longest handshake line accepted (Redis reads them with a small fixed buffer).
const MAX_LINE: usize = 4096;

impl Link {
    pub fn new(cfg: LinkConfig, from: PsyncFrom) -> Link {
        Link {
            cfg,
            from,
            state: State::Idle,
            buf: BytesMut::new(),
            decoder: RequestDecoder::primary_link(),
            offset: 0,
            read_offset: 0,
            in_multi: None,
            presync: false,
            eof_payload: false,
            guard_empty: false,
            handshake_bytes: 0,
        }
    }

    /// Whether the full sync in progress must not replace a non-empty dataset with an empty
    /// payload (empty primary protection, a ferrokv deviation).
    ///
    /// True when we asked to continue history `R` at applied offset `O` (PSYNC `R` `O+1`) and
    /// the primary answered `+FULLRESYNC R' O'` with `R' != R` and `O' < O`: a different
    /// history that starts *behind* ours. That is what a primary without persistence looks like
    /// after a restart (new replid, offset back near 0); a promoted replica or a primary whose
    /// backlog expired keeps counting from where the history was (`O' >= O`). Example: we
    /// applied up to 5120 of `aaaa..`; the restarted primary says `+FULLRESYNC bbbb.. 0`:
    /// guarded. `+FULLRESYNC bbbb.. 5120` (backlog TTL changed the id): not guarded.
    /// Never set with `accept_empty_fullsync`, nor for `PSYNC ? -1` (nothing known to compare).
    /// The driver checks the rest: the dataset is not empty and the payload holds no key.
    pub fn guard_empty(&self) -> bool {
        self.guard_empty
    }

    /// The applied offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The read offset.
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// Handshake reply bytes read since the last call: the caller leaves them out of the
    /// replication input counters, as Redis does.
    pub fn take_handshake_bytes(&mut self) -> usize {
        std::mem::take(&mut self.handshake_bytes)
    }

    pub fn is_streaming(&self) -> bool {
        matches!(self.state, State::Streaming)
    }

    /// Whether the payload is being received.
    pub fn in_transfer(&self) -> bool {
        matches!(
            self.state,
            State::PayloadHeader | State::PayloadLen { .. } | State::PayloadEof { .. }
        )
    }

    /// Starts the handshake on a fresh connection: `PING`.
    pub fn start(&mut self) -> Vec<Action> {
        self.state = State::WaitPong;
        vec![
            Action::State(LinkState::Handshake),
            Action::Send(command(&["PING"])),
        ]
    }

    /// The `REPLCONF ACK <offset>` to send every second, once streaming (never to a
    /// pre-PSYNC primary).
    pub fn ack(&self) -> Option<Bytes> {
        (self.is_streaming() && !self.presync).then(|| ack_frame(self.offset))
    }

    /// Consumes bytes from the primary. An error ends the connection.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Action>, ReplError> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        match self.step(&mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// The payload was loaded: start applying the stream (and process bytes already read).
    pub fn loaded(&mut self) -> Result<Vec<Action>, ReplError> {
        if !matches!(self.state, State::AwaitLoad) {
            return Ok(Vec::new());
        }
        self.state = State::Streaming;
        let mut out = vec![Action::State(LinkState::Connected)];
        if self.eof_payload && !self.presync {
            out.push(Action::Send(ack_frame(self.offset)));
        }
        match self.step(&mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    fn step(&mut self, out: &mut Vec<Action>) -> Result<(), ReplError> {
        loop {
            let progressed = match &mut self.state {
                State::Idle | State::AwaitLoad | State::Failed => return Ok(()),
                State::WaitPong => match self.take_line()? {
                    None => false,
                    Some(line) => {
                        let ok = line.starts_with(b"+")
                            || line.starts_with(b"-NOAUTH")
                            || line.starts_with(b"-NOPERM")
                            || line.starts_with(b"-ERR operation not permitted");
                        if !ok {
                            return Err(ReplError::Refused(text(&line)));
                        }
                        self.send_pipeline(out);
                        true
                    }
                },
                State::WaitReplies(expect) => {
                    let first = expect.first().cloned();
                    match (first, self.take_line()?) {
                        (_, None) => false,
                        (None, Some(_)) => {
                            return Err(ReplError::Protocol("unexpected reply".into()))
                        }
                        (Some(e), Some(line)) => {
                            if e == Expect::Auth && line.starts_with(b"-") {
                                return Err(ReplError::AuthFailed(text(&line)));
                            }
                            let mut done = false;
                            if let State::WaitReplies(expect) = &mut self.state {
                                expect.remove(0);
                                done = expect.is_empty();
                            }
                            if done {
                                self.send_psync(out);
                            }
                            true
                        }
                    }
                }
                State::WaitPsync => match self.take_line()? {
                    None => false,
                    Some(line) => {
                        self.on_psync_reply(&line, out)?;
                        true
                    }
                },
                State::PayloadHeader => match self.take_line()? {
                    None => false,
                    Some(line) => {
                        self.on_payload_header(&line, out)?;
                        true
                    }
                },
                State::PayloadLen { left } => {
                    if self.buf.is_empty() {
                        false
                    } else {
                        let n = (*left).min(self.buf.len() as u64) as usize;
                        *left -= n as u64;
                        let done = *left == 0;
                        out.push(Action::Payload(self.buf.split_to(n).freeze()));
                        if done {
                            self.state = State::AwaitLoad;
                            out.push(Action::PayloadEnd);
                            return Ok(());
                        }
                        true
                    }
                }
                State::PayloadEof { mark, tail } => {
                    if self.buf.is_empty() {
                        false
                    } else {
                        // Hold back the last 40 bytes: they may be the mark.
                        tail.extend_from_slice(&self.buf.split());
                        if tail.len() > EOF_MARK_LEN {
                            let n = tail.len() - EOF_MARK_LEN;
                            out.push(Action::Payload(tail.split_to(n).freeze()));
                        }
                        if tail.len() == EOF_MARK_LEN && tail[..] == mark[..] {
                            self.state = State::AwaitLoad;
                            out.push(Action::PayloadEnd);
                            return Ok(());
                        }
                        true
                    }
                }
                State::Streaming => self.stream_one(out)?,
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    fn send_pipeline(&mut self, out: &mut Vec<Action>) {
        let mut expect = Vec::new();
        let mut bytes = BytesMut::new();
        if !self.cfg.masterauth.is_empty() {
            if self.cfg.masteruser.is_empty() {
                encode_command(&[&b"AUTH"[..], self.cfg.masterauth.as_bytes()], &mut bytes);
            } else {
                encode_command(
                    &[
                        &b"AUTH"[..],
                        self.cfg.masteruser.as_bytes(),
                        self.cfg.masterauth.as_bytes(),
                    ],
                    &mut bytes,
                );
            }
            expect.push(Expect::Auth);
        }
        let port = self.cfg.listening_port.to_string();
        encode_command(&["REPLCONF", "listening-port", &port], &mut bytes);
        expect.push(Expect::Any);
        if !self.cfg.announce_ip.is_empty() {
            encode_command(
                &["REPLCONF", "ip-address", &self.cfg.announce_ip],
                &mut bytes,
            );
            expect.push(Expect::Any);
        }
        encode_command(&["REPLCONF", "capa", "eof", "capa", "psync2"], &mut bytes);
        expect.push(Expect::Any);
        out.push(Action::Send(bytes.freeze()));
        self.state = State::WaitReplies(expect);
    }

    /// `PSYNC`, sent only once every pipelined reply arrived: a primary refuses PSYNC while
    /// it still has replies to write ("SYNC and PSYNC are invalid with pending output").
    fn send_psync(&mut self, out: &mut Vec<Action>) {
        let mut bytes = BytesMut::new();
        match &self.from {
            PsyncFrom::Fresh => encode_command(&["PSYNC", "?", "-1"], &mut bytes),
            PsyncFrom::Resume { replid, offset } if self.cfg.failover => encode_command(
                &["PSYNC", replid, &offset.to_string(), "FAILOVER"],
                &mut bytes,
            ),
            PsyncFrom::Resume { replid, offset } => {
                encode_command(&["PSYNC", replid, &offset.to_string()], &mut bytes)
            }
        }
        out.push(Action::Send(bytes.freeze()));
        self.state = State::WaitPsync;
    }

    fn on_psync_reply(&mut self, line: &[u8], out: &mut Vec<Action>) -> Result<(), ReplError> {
        if let Some(rest) = line.strip_prefix(b"+FULLRESYNC") {
            let rest = text(rest);
            let mut parts = rest.split_whitespace();
            let replid = parts.next().unwrap_or("").to_string();
            let offset = parts.next().and_then(|o| o.parse::<u64>().ok());
            let (Some(offset), 40) = (offset, replid.len()) else {
                return Err(ReplError::Protocol(format!(
                    "bad +FULLRESYNC reply '{rest}'"
                )));
            };
            self.guard_empty = !self.cfg.accept_empty_fullsync
                && match &self.from {
                    PsyncFrom::Fresh => false,
                    PsyncFrom::Resume {
                        replid: known,
                        offset: next,
                    } => *known != replid && offset < next.saturating_sub(1),
                };
            self.offset = offset;
            self.read_offset = offset;
            out.push(Action::FullResync { replid, offset });
            self.state = State::PayloadHeader;
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix(b"+CONTINUE") {
            let id = text(rest).trim().to_string();
            let PsyncFrom::Resume { replid, offset } = &self.from else {
                return Err(ReplError::Protocol("+CONTINUE to PSYNC ? -1".into()));
            };
            let new_replid = (id.len() == 40 && &id != replid).then_some(id);
            self.offset = offset.saturating_sub(1);
            self.read_offset = self.offset;
            out.push(Action::Continue { new_replid });
            out.push(Action::State(LinkState::Connected));
            self.state = State::Streaming;
            return Ok(());
        }
        if line.starts_with(b"-NOMASTERLINK") || line.starts_with(b"-LOADING") {
            return Err(ReplError::Refused(text(line)));
        }
        if self.cfg.failover && line.starts_with(b"-") {
            return Err(ReplError::FailoverRefused(text(line)));
        }
        if line.starts_with(b"-") {
            // An old primary without PSYNC: fall back to SYNC (no offsets, no ACKs).
            self.presync = true;
            self.offset = 0;
            self.read_offset = 0;
            out.push(Action::Send(Bytes::from_static(b"SYNC\r\n")));
            out.push(Action::FullResync {
                replid: "?".to_string(),
                offset: 0,
            });
            self.state = State::PayloadHeader;
            return Ok(());
        }
        Err(ReplError::Protocol(format!(
            "unexpected reply to PSYNC: '{}'",
            text(line)
        )))
    }

    fn on_payload_header(&mut self, line: &[u8], out: &mut Vec<Action>) -> Result<(), ReplError> {
        if line.first() == Some(&b'-') {
            return Err(ReplError::Refused(text(line)));
        }
        let Some(rest) = line.strip_prefix(b"$") else {
            return Err(ReplError::Protocol(format!(
                "bad payload header '{}'",
                text(line)
            )));
        };
        out.push(Action::State(LinkState::Transfer));
        if let Some(mark) = rest.strip_prefix(b"EOF:") {
            if mark.len() != EOF_MARK_LEN {
                return Err(ReplError::Protocol("bad EOF mark length".into()));
            }
            self.eof_payload = true;
            out.push(Action::PayloadStart(None));
            self.state = State::PayloadEof {
                mark: Bytes::copy_from_slice(mark),
                tail: BytesMut::new(),
            };
            return Ok(());
        }
        let len = std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| ReplError::Protocol(format!("bad payload length '{}'", text(line))))?;
        self.eof_payload = false;
        out.push(Action::PayloadStart(Some(len)));
        if len == 0 {
            self.state = State::AwaitLoad;
            out.push(Action::PayloadEnd);
        } else {
            self.state = State::PayloadLen { left: len };
        }
        Ok(())
    }

    /// Takes one `\n`-terminated line (CR stripped), skipping empty keepalive lines.
    fn take_line(&mut self) -> Result<Option<Vec<u8>>, ReplError> {
        loop {
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_LINE {
                    return Err(ReplError::Protocol("handshake line too long".into()));
                }
                return Ok(None);
            };
            let mut line = self.buf.split_to(nl + 1);
            if matches!(
                self.state,
                State::WaitPong | State::WaitReplies(_) | State::WaitPsync
            ) {
                self.handshake_bytes += nl + 1;
            }
            line.truncate(nl);
            if line.last() == Some(&b'\r') {
                line.truncate(nl - 1);
            }
            if line.is_empty() {
                continue;
            }
            return Ok(Some(line.to_vec()));
        }
    }

    /// Decodes and handles one stream command. Returns false when more bytes are needed.
    fn stream_one(&mut self, out: &mut Vec<Action>) -> Result<bool, ReplError> {
        let req = match self.decoder.decode_request(&mut self.buf) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(false),
            Err(e) => return Err(ReplError::Protocol(format!("stream: {e}"))),
        };
        let raw = raw_bytes(&req.argv, req.wire_len);
        self.read_offset += req.wire_len as u64;
        let name = req.argv[0].to_ascii_uppercase();
        let is_getack = name == b"REPLCONF"
            && req
                .argv
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"GETACK"));
        if let Some(pending) = self.in_multi.as_mut() {
            pending.extend_from_slice(&raw);
            if name == b"EXEC" || name == b"DISCARD" {
                let fed = self.in_multi.take().unwrap_or_default().freeze();
                self.offset += fed.len() as u64;
                out.push(Action::Apply {
                    argv: req.argv,
                    fed,
                });
            } else {
                out.push(Action::Apply {
                    argv: req.argv,
                    fed: Bytes::new(),
                });
            }
            return Ok(true);
        }
        if name == b"MULTI" {
            self.in_multi = Some(BytesMut::from(&raw[..]));
            out.push(Action::Apply {
                argv: req.argv,
                fed: Bytes::new(),
            });
            return Ok(true);
        }
        self.offset += raw.len() as u64;
        if is_getack {
            // Not applied to the dataset, but part of the stream (and of sub-replicas' streams).
            out.push(Action::Apply {
                argv: Vec::new(),
                fed: raw,
            });
            if !self.presync {
                out.push(Action::Send(ack_frame(self.offset)));
            }
            return Ok(true);
        }
        out.push(Action::Apply {
            argv: req.argv,
            fed: raw,
        });
        Ok(true)
    }
}

/// The stream bytes of a decoded request, `wire_len` long: its canonical RESP form (what a
/// primary sends), preceded by `\n` for any empty lines the decoder skipped before it.
fn raw_bytes(argv: &[Bytes], wire_len: usize) -> Bytes {
    let mut enc = BytesMut::new();
    encode_command(argv, &mut enc);
    if enc.len() >= wire_len {
        return enc.freeze();
    }
    let mut out = BytesMut::with_capacity(wire_len);
    out.resize(wire_len - enc.len(), b'\n');
    out.extend_from_slice(&enc);
    out.freeze()
}

fn command(argv: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    encode_command(argv, &mut b);
    b.freeze()
}

/// `REPLCONF ACK <offset>`.
pub fn ack_frame(offset: u64) -> Bytes {
    command(&["REPLCONF", "ACK", &offset.to_string()])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1d03faecfdf1fae9d384127cb15edcacbfda69e7";
    const MARK: &str = "6790a4f71949d05ba1a11683773b4495b3303e5e";

    fn cfg() -> LinkConfig {
        LinkConfig {
            listening_port: 17001,
            ..LinkConfig::default()
        }
    }

    fn sent(actions: &[Action]) -> Vec<u8> {
        let mut out = Vec::new();
        for a in actions {
            if let Action::Send(b) = a {
                out.extend_from_slice(b);
            }
        }
        out
    }

    fn cmd(argv: &[&str]) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode_command(argv, &mut b);
        b.to_vec()
    }

    /// A link that went through the handshake and got `+FULLRESYNC <ID> <offset>`.
    fn after_fullresync(offset: u64) -> Link {
        let mut l = Link::new(cfg(), PsyncFrom::Fresh);
        l.start();
        l.feed(b"+PONG\r\n").unwrap();
        l.feed(format!("+OK\r\n+OK\r\n+FULLRESYNC {ID} {offset}\r\n").as_bytes())
            .unwrap();
        l
    }

    fn payload_of(actions: &[Action]) -> Vec<u8> {
        let mut out = Vec::new();
        for a in actions {
            if let Action::Payload(b) = a {
                out.extend_from_slice(b);
            }
        }
        out
    }

    #[test]
    fn handshake_matches_the_captured_bytes() {
        let mut l = Link::new(cfg(), PsyncFrom::Fresh);
        let a = l.start();
        assert_eq!(sent(&a), b"*1\r\n$4\r\nPING\r\n");
        let a = l.feed(b"+PONG\r\n").unwrap();
        assert_eq!(
            String::from_utf8(sent(&a)).unwrap(),
            "*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$5\r\n17001\r\n\
             *5\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n$4\r\ncapa\r\n$6\r\npsync2\r\n"
        );
        assert_eq!(
            sent(&l.feed(b"+OK\r\n").unwrap()),
            b"",
            "PSYNC waits for every reply"
        );
        let a = l.feed(b"+OK\r\n").unwrap();
        assert_eq!(sent(&a), b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n");
        let a = l
            .feed(format!("+FULLRESYNC {ID} 0\r\n").as_bytes())
            .unwrap();
        assert!(a.contains(&Action::FullResync {
            replid: ID.into(),
            offset: 0
        }));
    }

    #[test]
    fn auth_and_announce_ip_are_pipelined() {
        let c = LinkConfig {
            masterauth: "pw".into(),
            masteruser: "u".into(),
            listening_port: 1,
            announce_ip: "10.0.0.1".into(),
            ..LinkConfig::default()
        };
        let mut l = Link::new(
            c,
            PsyncFrom::Resume {
                replid: ID.into(),
                offset: 1181,
            },
        );
        l.start();
        let a = l.feed(b"-NOAUTH Authentication required.\r\n").unwrap();
        let s = String::from_utf8(sent(&a)).unwrap();
        assert!(s.starts_with("*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n"));
        assert!(s.contains("ip-address\r\n$8\r\n10.0.0.1"));
        assert!(!s.contains("PSYNC"));
        let mut ok = Link::new(l.cfg.clone(), l.from.clone());
        ok.start();
        ok.feed(b"+PONG\r\n").unwrap();
        let a = ok.feed(b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n").unwrap();
        assert_eq!(
            String::from_utf8(sent(&a)).unwrap(),
            format!("*3\r\n$5\r\nPSYNC\r\n$40\r\n{ID}\r\n$4\r\n1181\r\n")
        );
        // A failed AUTH ends the attempt.
        let err = l
            .feed(b"-WRONGPASS invalid username-password pair\r\n")
            .unwrap_err();
        assert!(matches!(err, ReplError::AuthFailed(_)));
    }

    #[test]
    fn ping_error_aborts() {
        let mut l = Link::new(cfg(), PsyncFrom::Fresh);
        l.start();
        assert!(l.feed(b"-ERR something\r\n").is_err());
    }

    #[test]
    fn replconf_errors_are_not_critical() {
        let mut l = Link::new(cfg(), PsyncFrom::Fresh);
        l.start();
        l.feed(b"+PONG\r\n").unwrap();
        let a = l
            .feed(format!("-ERR x\r\n-ERR y\r\n+FULLRESYNC {ID} 7\r\n").as_bytes())
            .unwrap();
        assert!(a.contains(&Action::FullResync {
            replid: ID.into(),
            offset: 7
        }));
    }

    #[test]
    fn continue_with_and_without_a_new_replid() {
        for (line, expect) in [
            (format!("+CONTINUE {ID}\r\n"), None),
            ("+CONTINUE\r\n".to_string(), None),
            (format!("+CONTINUE {MARK}\r\n"), Some(MARK.to_string())),
        ] {
            let mut l = Link::new(
                cfg(),
                PsyncFrom::Resume {
                    replid: ID.into(),
                    offset: 1181,
                },
            );
            l.start();
            l.feed(b"+PONG\r\n").unwrap();
            let a = l.feed(format!("+OK\r\n+OK\r\n{line}").as_bytes()).unwrap();
            assert!(
                a.contains(&Action::Continue { new_replid: expect }),
                "{line}: {a:?}"
            );
            assert!(l.is_streaming());
            assert_eq!(l.offset(), 1180);
            assert_eq!(l.ack().unwrap(), ack_frame(1180));
        }
    }

    #[test]
    fn nomasterlink_and_loading_are_retried_errors() {
        for line in [
            "-NOMASTERLINK Can't SYNC while not connected with my master\r\n",
            "-LOADING x\r\n",
        ] {
            let mut l = Link::new(cfg(), PsyncFrom::Fresh);
            l.start();
            l.feed(b"+PONG\r\n").unwrap();
            let err = l
                .feed(format!("+OK\r\n+OK\r\n{line}").as_bytes())
                .unwrap_err();
            assert!(matches!(err, ReplError::Refused(_)));
        }
    }

    #[test]
    fn old_primary_gets_sync() {
        let mut l = Link::new(cfg(), PsyncFrom::Fresh);
        l.start();
        l.feed(b"+PONG\r\n").unwrap();
        let a = l
            .feed(b"+OK\r\n+OK\r\n-ERR unknown command 'PSYNC'\r\n")
            .unwrap();
        assert!(sent(&a).ends_with(b"PSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\nSYNC\r\n"));
        let a = l.feed(b"$3\r\nabc").unwrap();
        assert_eq!(payload_of(&a), b"abc");
        l.loaded().unwrap();
        assert!(l.ack().is_none(), "no ACKs to a pre-PSYNC primary");
    }

    #[test]
    fn bad_fullresync_is_a_protocol_error() {
        let mut l = Link::new(cfg(), PsyncFrom::Fresh);
        l.start();
        l.feed(b"+PONG\r\n").unwrap();
        assert!(l.feed(b"+OK\r\n+OK\r\n+FULLRESYNC short 0\r\n").is_err());
    }

    /// Every split of `input` into two feeds gives the same payload and the same end.
    fn check_payload_splits(input: &[u8], rdb: &[u8]) {
        for cut in 0..=input.len() {
            let mut l = after_fullresync(100);
            let mut a = l.feed(&input[..cut]).unwrap();
            let ended = a.contains(&Action::PayloadEnd);
            if !ended {
                a.extend(l.feed(&input[cut..]).unwrap());
            }
            assert_eq!(payload_of(&a), rdb, "cut at {cut}");
            assert!(a.contains(&Action::PayloadEnd), "cut at {cut}");
        }
    }

    #[test]
    fn length_payload_split_at_every_byte() {
        let rdb = b"REDIS0010\xfa\x09redis-ver\x057.0.15\xff12345678";
        let mut input = b"\n\n$".to_vec();
        input.extend_from_slice(rdb.len().to_string().as_bytes());
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(rdb);
        check_payload_splits(&input, rdb);
    }

    #[test]
    fn eof_payload_split_at_every_byte() {
        let rdb = b"REDIS0010\xfa\x09redis-ver\x057.0.15\xff12345678";
        let mut input = format!("\n$EOF:{MARK}\r\n").into_bytes();
        input.extend_from_slice(rdb);
        input.extend_from_slice(MARK.as_bytes());
        check_payload_splits(&input, rdb);
    }

    #[test]
    fn eof_payload_acks_after_load_and_stream_waits_for_it() {
        let mut l = after_fullresync(100);
        let mut input = format!("$EOF:{MARK}\r\nRDB").into_bytes();
        input.extend_from_slice(MARK.as_bytes());
        let a = l.feed(&input).unwrap();
        assert_eq!(a.last(), Some(&Action::PayloadEnd));
        // Bytes arriving before the load finished wait.
        let set = cmd(&["SET", "k", "v"]);
        assert!(l.feed(&set).unwrap().is_empty());
        let a = l.loaded().unwrap();
        assert_eq!(a[0], Action::State(LinkState::Connected));
        assert_eq!(a[1], Action::Send(ack_frame(100)));
        assert!(matches!(&a[2], Action::Apply { argv, .. } if argv.len() == 3));
        assert_eq!(l.offset(), 100 + set.len() as u64);
    }

    #[test]
    fn length_payload_does_not_ack_at_load() {
        let mut l = after_fullresync(5);
        l.feed(b"$3\r\nabc").unwrap();
        let a = l.loaded().unwrap();
        assert_eq!(sent(&a), b"");
    }

    fn streaming(offset: u64) -> Link {
        let mut l = after_fullresync(offset);
        l.feed(b"$1\r\nx").unwrap();
        l.loaded().unwrap();
        l
    }

    #[test]
    fn multi_counts_at_exec() {
        let mut l = streaming(100);
        let multi = cmd(&["MULTI"]);
        let set = cmd(&["SET", "key", "value"]);
        let exec = cmd(&["EXEC"]);
        l.feed(&multi).unwrap();
        l.feed(&set).unwrap();
        assert_eq!(l.offset(), 100);
        assert_eq!(l.read_offset(), 100 + (multi.len() + set.len()) as u64);
        let a = l.feed(&exec).unwrap();
        let total = (multi.len() + set.len() + exec.len()) as u64;
        assert_eq!(l.offset(), 100 + total);
        match &a[0] {
            Action::Apply { fed, .. } => assert_eq!(fed.len() as u64, total),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn getack_answers_with_its_own_bytes_counted() {
        let mut l = streaming(1143);
        let a = l.feed(&cmd(&["REPLCONF", "GETACK", "*"])).unwrap();
        assert_eq!(l.offset(), 1180);
        assert!(a.contains(&Action::Send(ack_frame(1180))));
        // The stream PING is applied and counted.
        l.feed(&cmd(&["ping"])).unwrap();
        assert_eq!(l.offset(), 1194);
    }

    #[test]
    fn stream_split_at_every_byte_applies_the_same_commands() {
        let mut input = cmd(&["SELECT", "3"]);
        input.extend(cmd(&["SET", "a", "1"]));
        input.extend(cmd(&["MULTI"]));
        input.extend(cmd(&["SREM", "s", "x"]));
        input.extend(cmd(&["EXEC"]));
        for cut in 0..=input.len() {
            let mut l = streaming(0);
            let mut a = l.feed(&input[..cut]).unwrap();
            a.extend(l.feed(&input[cut..]).unwrap());
            let applied: Vec<usize> = a
                .iter()
                .filter_map(|x| match x {
                    Action::Apply { argv, .. } => Some(argv.len()),
                    _ => None,
                })
                .collect();
            assert_eq!(applied, vec![2, 3, 1, 3, 1], "cut at {cut}");
            let fed: usize = a
                .iter()
                .map(|x| match x {
                    Action::Apply { fed, .. } => fed.len(),
                    _ => 0,
                })
                .sum();
            assert_eq!(fed, input.len());
            assert_eq!(l.offset(), input.len() as u64);
        }
    }

    #[test]
    fn inline_from_primary_is_an_error() {
        let mut l = streaming(0);
        assert!(l.feed(b"SET a b\r\n").is_err());
    }

    #[test]
    fn keepalive_newlines_after_payload_are_counted() {
        let mut l = streaming(10);
        let mut input = b"\n".to_vec();
        input.extend(cmd(&["ping"]));
        let a = l.feed(&input).unwrap();
        assert_eq!(l.offset(), 10 + input.len() as u64);
        match &a[0] {
            Action::Apply { fed, .. } => assert_eq!(&fed[..], &input[..]),
            other => panic!("{other:?}"),
        }
    }

    /// A link that asked to continue `ID` at applied offset `applied` and got `reply`.
    fn resumed_then(cfg: LinkConfig, applied: u64, reply: &str) -> Result<Link, ReplError> {
        let mut l = Link::new(
            cfg,
            PsyncFrom::Resume {
                replid: ID.into(),
                offset: applied + 1,
            },
        );
        l.start();
        l.feed(b"+PONG\r\n")?;
        l.feed(format!("+OK\r\n+OK\r\n{reply}\r\n").as_bytes())?;
        Ok(l)
    }

    #[test]
    fn restarted_history_guards_against_an_empty_payload() {
        // (reply, accept_empty_fullsync, guarded)
        let table = [
            (format!("+FULLRESYNC {MARK} 0"), false, true),
            (format!("+FULLRESYNC {MARK} 5119"), false, true),
            (format!("+FULLRESYNC {MARK} 5120"), false, false),
            (format!("+FULLRESYNC {MARK} 9000"), false, false),
            (format!("+FULLRESYNC {ID} 0"), false, false),
            (format!("+FULLRESYNC {MARK} 0"), true, false),
        ];
        for (reply, accept, guarded) in table {
            let c = LinkConfig {
                accept_empty_fullsync: accept,
                ..cfg()
            };
            let l = resumed_then(c, 5120, &reply).unwrap();
            assert_eq!(l.guard_empty(), guarded, "{reply} accept={accept}");
        }
        // Nothing known (PSYNC ? -1): nothing to compare, no guard.
        assert!(!after_fullresync(0).guard_empty());
    }

    #[test]
    fn failover_psync_carries_the_flag_and_errors_are_refusals() {
        let c = LinkConfig {
            failover: true,
            ..cfg()
        };
        let mut l = Link::new(
            c.clone(),
            PsyncFrom::Resume {
                replid: ID.into(),
                offset: 1181,
            },
        );
        l.start();
        l.feed(b"+PONG\r\n").unwrap();
        let a = l.feed(b"+OK\r\n+OK\r\n").unwrap();
        assert_eq!(
            String::from_utf8(sent(&a)).unwrap(),
            format!("*4\r\n$5\r\nPSYNC\r\n$40\r\n{ID}\r\n$4\r\n1181\r\n$8\r\nFAILOVER\r\n")
        );
        let err = l
            .feed(b"-ERR PSYNC FAILOVER replid must match my replid.\r\n")
            .unwrap_err();
        assert!(matches!(err, ReplError::FailoverRefused(_)), "{err:?}");
        let l = resumed_then(c, 1180, &format!("+CONTINUE {MARK}")).unwrap();
        assert!(l.is_streaming());
    }
}
