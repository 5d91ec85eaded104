//! Decoders: bytes in, requests or frames out, under Redis's limits.
//!
//! - [`RequestDecoder`]: what a server reads from a client (or a replica from its primary's
//!   stream): RESP arrays of bulk strings, `*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n`, and
//!   inline commands, `SET a b\r\n`. It follows Redis 7.0's `processMultibulkBuffer` and
//!   `processInlineBuffer`, error texts included.
//! - [`FrameDecoder`]: any RESP2/RESP3 value, into a [`Frame`] (what a client, or a replica
//!   reading its primary's replies, needs).
//!
//! # Contract
//!
//! The tokio-util `Decoder` contract, also when called directly: `Ok(Some(_))` consumed one
//! item, `Ok(None)` wants more bytes (never an error), `Err(_)` means the stream is dead and
//! every later call returns the same error. Each call must be given the same buffer, with new
//! bytes appended: the decoder consumes what it has parsed from the front and keeps the rest
//! of its progress (the element being read, how far a line was scanned) in itself, so a huge
//! bulk arriving in small reads is never rescanned.
//!
//! Between requests, a request whose bytes are all buffered (the pipelined case) is read in
//! one pass by `RequestDecoder::buffered_request`; anything unusual is left to the general
//! state machine, which owns every limit and error text.
//!
//! # Wire length
//!
//! Every item carries the number of bytes it consumed, `wire_len`. Bytes that produce no item
//! (an empty inline line, `*0\r\n`, `*-1\r\n`, which Redis skips; a RESP3 attribute) are
//! counted in the *next* item's `wire_len`, so the sum of `wire_len`s is exactly the bytes
//! consumed up to the last item. A replica's offset is that running sum, and it advances only
//! when a command is processed, as Redis's `reploff` does.
//!
//! # Limits
//!
//! [`Limits`] holds Redis's defaults and is checked before anything is allocated from a
//! length prefix: an argument array is preallocated for at most 128 entries, an aggregate
//! reply for 16, and a bulk gets `min(len, 1 MiB)` only once its first byte arrived (see
//! `scan::BulkBody`). The connection enforces `client-query-buffer-limit` with
//! [`RequestDecoder::query_buffer_len`].
//!
//! # Deviations
//!
//! - A NUL byte before a line's terminator: Redis looks for terminators with `strchr` and waits
//!   (until the 64 KiB limit); we treat NUL as an ordinary byte, so `*1\r\n\0\r\n` is refused
//!   at once with "expected '$', got ..." and an inline NUL is part of an argument.
//! - A line of more than 64 KiB is refused even when its terminator arrived in the same read.
//!   Redis refuses it only if the read boundaries fall so that 64 KiB are buffered without a
//!   terminator, which is what happens when the bytes come slowly; we answer the same for
//!   every split of the input.

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtoError;
use super::frame::Frame;
use super::inline::split_args;
use super::scan::{parse_i64, BulkBody, LineScan, Trailer, BIG_ARG, INLINE_MAX_SIZE};

/// Size limits of a decoder, with Redis 7.0's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`: the longest bulk string accepted (512 MiB).
    pub proto_max_bulk_len: usize,
    /// The largest `*<count>` accepted (Redis 7.0: `INT_MAX`).
    pub max_multibulk_len: usize,
    /// `PROTO_INLINE_MAX_SIZE`: the longest inline request, and the longest `*<n>` or `$<n>`
    /// header line (64 KiB).
    pub inline_max_size: usize,
    /// `client-query-buffer-limit` (1 GiB): the connection closes a client whose
    /// [`RequestDecoder::query_buffer_len`] exceeds it. Redis closes without a reply and logs
    /// "Closing client that reached max query buffer length".
    pub client_query_buffer_limit: usize,
}

impl Limits {
    /// Redis's `proto-max-bulk-len` default.
    pub const PROTO_MAX_BULK_LEN: usize = 512 * 1024 * 1024;
    /// Redis 7.0 refuses `*<n>` above `INT_MAX`.
    pub const MAX_MULTIBULK_LEN: usize = i32::MAX as usize;
    /// Redis's `client-query-buffer-limit` default.
    pub const CLIENT_QUERY_BUFFER_LIMIT: usize = 1024 * 1024 * 1024;

    /// The limits of a primary link: Redis exempts its master client from
    /// `proto-max-bulk-len` and from the query buffer limit.
    pub fn primary_link() -> Limits {
        Limits {
            proto_max_bulk_len: usize::MAX,
            client_query_buffer_limit: usize::MAX,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            proto_max_bulk_len: Limits::PROTO_MAX_BULK_LEN,
            max_multibulk_len: Limits::MAX_MULTIBULK_LEN,
            inline_max_size: INLINE_MAX_SIZE,
            client_query_buffer_limit: Limits::CLIENT_QUERY_BUFFER_LIMIT,
        }
    }
}

/// Before `AUTH`, when a password is required, Redis accepts at most this many arguments...
const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;
/// ...of at most this many bytes each.
const UNAUTH_MAX_BULK_LEN: i64 = 16384;
/// An argument array is preallocated for at most this many arguments.
const ARGV_PREALLOC_CAP: usize = 128;
/// An aggregate reply is preallocated for at most this many elements.
const AGGREGATE_PREALLOC_CAP: usize = 16;

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The arguments, command name first; never empty.
    pub argv: Vec<Bytes>,
    /// Bytes consumed for this request, including skipped empty requests before it.
    pub wire_len: usize,
}

/// Decodes client requests: multibulk arrays of bulk strings and inline commands.
#[derive(Debug)]
pub struct RequestDecoder {
    pub limits: Limits,
    /// Applies Redis's pre-`AUTH` limits (10 arguments, 16384-byte bulks). The connection sets
    /// it while a password is required and the client is not authenticated.
    pub auth_required: bool,
    /// Whether non-empty inline requests are accepted. A primary link refuses them with
    /// [`ProtoError::InlineFromPrimary`]; its empty lines (keepalives) are still skipped.
    pub allow_inline: bool,
    big_arg: usize,
    state: ReqState,
    argv: Vec<Bytes>,
    wire: usize,
    scan: LineScan,
    failed: Option<ProtoError>,
}

#[derive(Debug)]
enum ReqState {
    /// Between requests.
    Idle,
    /// Expecting the `$<len>` line of an argument; `remaining` arguments to go, this one
    /// included.
    Header { remaining: usize },
    /// Reading an argument's payload.
    Body { remaining: usize, body: BulkBody },
}

impl Default for RequestDecoder {
    fn default() -> RequestDecoder {
        RequestDecoder::new(Limits::default())
    }
}

impl RequestDecoder {
    pub fn new(limits: Limits) -> RequestDecoder {
        RequestDecoder {
            limits,
            auth_required: false,
            allow_inline: true,
            big_arg: BIG_ARG,
            state: ReqState::Idle,
            argv: Vec::new(),
            wire: 0,
            scan: LineScan::default(),
            failed: None,
        }
    }

    /// The decoder for a replica reading its primary's command stream: Redis's master-client
    /// rules (no bulk or query buffer limit, inline requests refused).
    pub fn primary_link() -> RequestDecoder {
        RequestDecoder {
            allow_inline: false,
            ..RequestDecoder::new(Limits::primary_link())
        }
    }

    /// What Redis counts against `client-query-buffer-limit`: the unparsed bytes in `buf`
    /// plus the part of a big argument already moved out of it. Arguments already complete
    /// are not counted, as in Redis.
    pub fn query_buffer_len(&self, buf: &BytesMut) -> usize {
        let held = match &self.state {
            ReqState::Body { body, .. } => body.held(),
            _ => 0,
        };
        buf.len() + held
    }

    /// Whether the connection must be closed for `client-query-buffer-limit`.
    pub fn over_query_buffer_limit(&self, buf: &BytesMut) -> bool {
        self.query_buffer_len(buf) > self.limits.client_query_buffer_limit
    }

    /// Whether a request is partly parsed (bytes of it were consumed from the buffer).
    pub fn in_request(&self) -> bool {
        !matches!(self.state, ReqState::Idle)
    }

    /// Decodes the next request from the front of `buf`; see the module doc for the contract.
    pub fn decode_request(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtoError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.step(buf) {
            Err(err) => {
                self.failed = Some(err.clone());
                self.state = ReqState::Idle;
                self.argv = Vec::new();
                Err(err)
            }
            ok => ok,
        }
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtoError> {
        loop {
            match &mut self.state {
                ReqState::Idle => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first != b'*' {
                        match self.inline(buf)? {
                            Inline::Wait => return Ok(None),
                            Inline::Skipped => continue,
                            Inline::Request(argv) => return Ok(Some(self.finish(argv))),
                        }
                    }
                    if let Some(req) = self.buffered_request(buf) {
                        return Ok(Some(req));
                    }
                    if self.in_request() {
                        // The fast path took the elements that were whole; the rest is ours.
                        continue;
                    }
                    let limit = self.limits.inline_max_size;
                    let err = ProtoError::TooBigMultibulkCount;
                    let Some(cr) = self.scan.find(buf, b'\r', true, limit, err)? else {
                        return Ok(None);
                    };
                    let max = self.limits.max_multibulk_len as u64;
                    let count = parse_i64(&buf[1..cr])
                        .filter(|&n| n <= 0 || n as u64 <= max)
                        .ok_or(ProtoError::InvalidMultibulkLength)?;
                    if self.auth_required && count > UNAUTH_MAX_MULTIBULK_LEN {
                        return Err(ProtoError::UnauthenticatedMultibulkLength);
                    }
                    self.consume(buf, cr + 2);
                    // `*0` and negative counts are requests without arguments: skipped.
                    if count > 0 {
                        // count <= max_multibulk_len, a usize.
                        let remaining = count as usize;
                        self.argv = Vec::with_capacity(remaining.min(ARGV_PREALLOC_CAP));
                        self.state = ReqState::Header { remaining };
                    }
                }
                ReqState::Header { remaining } => {
                    let remaining = *remaining;
                    let limit = self.limits.inline_max_size;
                    let err = ProtoError::TooBigBulkCount;
                    let Some(cr) = self.scan.find(buf, b'\r', true, limit, err)? else {
                        return Ok(None);
                    };
                    if buf[0] != b'$' {
                        return Err(ProtoError::ExpectedDollar(buf[0]));
                    }
                    let len = parse_i64(&buf[1..cr])
                        .filter(|&n| n >= 0 && n as u64 <= self.limits.proto_max_bulk_len as u64)
                        .ok_or(ProtoError::InvalidBulkLength)?;
                    if self.auth_required && len > UNAUTH_MAX_BULK_LEN {
                        return Err(ProtoError::UnauthenticatedBulkLength);
                    }
                    self.consume(buf, cr + 2);
                    // 0 <= len <= proto_max_bulk_len, a usize.
                    let body = BulkBody::new(len as usize, self.big_arg);
                    self.state = ReqState::Body { remaining, body };
                }
                ReqState::Body { remaining, body } => {
                    let Some(arg) = body.poll(buf, &mut self.wire, Trailer::Skip)? else {
                        return Ok(None);
                    };
                    self.argv.push(arg);
                    let remaining = *remaining - 1;
                    if remaining == 0 {
                        self.state = ReqState::Idle;
                        let argv = std::mem::take(&mut self.argv);
                        return Ok(Some(self.finish(argv)));
                    }
                    self.state = ReqState::Header { remaining };
                }
            }
        }
    }

    /// The fast path, tried between requests when `buf` starts with `*`: reads the elements
    /// that are entirely buffered in one pass over the bytes, then consumes them at once.
    ///
    /// It only takes what the general state machine would accept the same way: counts and
    /// lengths of at most 18 plain digits ([`small_len`]), within every limit, bulks below
    /// `big_arg`. Anything else (a partial line, a sign, an error, a big bulk) ends the pass,
    /// and what was read so far is left as the machine's own progress: the `*<n>` line and
    /// the whole elements are consumed and the state becomes `Header`, exactly as if the
    /// machine had read them. So nothing is scanned twice beyond one short header line, and
    /// every error comes from the general path with Redis's text.
    ///
    /// Returns the request when all its elements were buffered.
    fn buffered_request(&mut self, buf: &mut BytesMut) -> Option<Request> {
        let limits = &self.limits;
        let line_limit = limits.inline_max_size;
        let (mut max_count, mut max_len) = (limits.max_multibulk_len, limits.proto_max_bulk_len);
        if self.auth_required {
            max_count = max_count.min(UNAUTH_MAX_MULTIBULK_LEN as usize);
            max_len = max_len.min(UNAUTH_MAX_BULK_LEN as usize);
        }
        let bytes = &buf[..];
        let (count, mut pos) = small_len(bytes, 1, line_limit)?;
        if count == 0 || count > max_count {
            return None;
        }
        let mut argv = Vec::with_capacity(count.min(ARGV_PREALLOC_CAP));
        while argv.len() < count {
            if bytes.get(pos) != Some(&b'$') {
                break;
            }
            let Some((len, body)) = small_len(bytes, pos + 1, line_limit) else {
                break;
            };
            if len > max_len || len >= self.big_arg {
                break;
            }
            // No overflow: body <= bytes.len() and len < big_arg.
            let end = body + len;
            // The two bytes after the payload are skipped unchecked, as `BulkBody` does.
            if end + 2 > bytes.len() {
                break;
            }
            argv.push(Bytes::copy_from_slice(&bytes[body..end]));
            pos = end + 2;
        }
        let remaining = count - argv.len();
        self.consume(buf, pos);
        if remaining == 0 {
            return Some(self.finish(argv));
        }
        self.argv = argv;
        self.state = ReqState::Header { remaining };
        None
    }

    fn inline(&mut self, buf: &mut BytesMut) -> Result<Inline, ProtoError> {
        let limit = self.limits.inline_max_size;
        let Some(lf) = self
            .scan
            .find(buf, b'\n', false, limit, ProtoError::TooBigInline)?
        else {
            return Ok(Inline::Wait);
        };
        let end = if lf > 0 && buf[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        let line = &buf[..end];
        if !self.allow_inline && !line.is_empty() {
            return Err(ProtoError::InlineFromPrimary);
        }
        let argv = split_args(line).ok_or(ProtoError::UnbalancedQuotes)?;
        self.consume(buf, lf + 1);
        if argv.is_empty() {
            Ok(Inline::Skipped)
        } else {
            Ok(Inline::Request(argv))
        }
    }

    fn consume(&mut self, buf: &mut BytesMut, n: usize) {
        buf.advance(n);
        self.wire += n;
        self.scan.reset();
    }

    fn finish(&mut self, argv: Vec<Bytes>) -> Request {
        Request {
            argv,
            wire_len: std::mem::take(&mut self.wire),
        }
    }

    /// Heap bytes held by the decoder's progress (tests bound it against the input size).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        let body = match &self.state {
            ReqState::Body { body, .. } => body.capacity(),
            _ => 0,
        };
        self.argv.capacity() * std::mem::size_of::<Bytes>()
            + self.argv.iter().map(Bytes::len).sum::<usize>()
            + body
    }
}

/// Reads the number of a `*<n>` or `$<n>` line whose type byte is at `start - 1`, when the
/// line is whole and simple: 1 to 18 digits with no leading zero (so `string2ll` accepts it and
/// it cannot overflow), then `\r` and one more byte buffered (the request parser skips that
/// byte unchecked), with the `\r` within `line_limit` bytes of the type byte. Returns the
/// number and the index after the line; `None` for anything else, which the general path
/// then reads (it may wait, accept, or refuse).
///
/// For `$12\r\nhello world!\r\n` and `start` 1: `(12, 5)`.
fn small_len(bytes: &[u8], start: usize, line_limit: usize) -> Option<(usize, usize)> {
    const MAX_DIGITS: usize = 18;
    let line = bytes.get(start..)?;
    let mut n: u64 = 0;
    let mut digits = 0;
    let cr = loop {
        let &b = line.get(digits)?;
        if !b.is_ascii_digit() {
            break b;
        }
        if digits == MAX_DIGITS {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
        digits += 1;
    };
    let leading_zero = line[0] == b'0' && digits > 1;
    // The `\r` is at index `digits + 1` from the type byte.
    if cr != b'\r' || digits == 0 || leading_zero || digits + 1 > line_limit {
        return None;
    }
    line.get(digits + 1)?;
    Some((usize::try_from(n).ok()?, start + digits + 2))
}

enum Inline {
    Wait,
    Skipped,
    Request(Vec<Bytes>),
}

/// One decoded value and the bytes it took on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub frame: Frame,
    /// Bytes consumed for this frame, including any RESP3 attribute before it.
    pub wire_len: usize,
}

/// Decodes any RESP2/RESP3 value.
///
/// | Wire                      | Frame                          |
/// |---------------------------|--------------------------------|
/// | `+OK`                     | `Simple`                       |
/// | `-ERR x`, `!<len>`        | `Error`                        |
/// | `:<i64>`                  | `Integer`                      |
/// | `$<len>`                  | `Bulk`; `$-1` is `Null`        |
/// | `*<n>`                    | `Array`; `*-1` is `NullArray`  |
/// | `_`                       | `Null`                         |
/// | `,<double>`               | `Double` (`inf`, `-inf`, `nan` too) |
/// | `#t` / `#f`               | `Boolean`                      |
/// | `%<n>`, `~<n>`, `><n>`    | `Map` (n pairs), `Set`, `Push` |
/// | `(<digits>`               | `BigNumber`                    |
/// | `=<len>\r\ntxt:...`       | `Verbatim`                     |
/// | `\|<n>` attribute         | read and dropped               |
///
/// Stricter than the request decoder: every line and payload must end in `\r\n`. RESP3
/// streamed strings and aggregates (`$?`, `*?`) are not supported (Redis never sends them).
#[derive(Debug)]
pub struct FrameDecoder {
    pub limits: Limits,
    /// The deepest nesting of aggregates accepted.
    pub max_depth: usize,
    big_arg: usize,
    stack: Vec<Level>,
    body: Option<(BodyKind, BulkBody)>,
    wire: usize,
    scan: LineScan,
    failed: Option<ProtoError>,
}

/// An aggregate being filled.
#[derive(Debug)]
struct Level {
    kind: AggKind,
    /// Elements still to come (a map counts keys and values).
    remaining: usize,
    items: Vec<Frame>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggKind {
    Array,
    Set,
    Push,
    Map,
    Attribute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Bulk,
    Verbatim,
    BlobError,
}

impl FrameDecoder {
    /// The default nesting limit.
    pub const MAX_DEPTH: usize = 128;

    pub fn new(limits: Limits) -> FrameDecoder {
        FrameDecoder {
            limits,
            max_depth: FrameDecoder::MAX_DEPTH,
            big_arg: BIG_ARG,
            stack: Vec::new(),
            body: None,
            wire: 0,
            scan: LineScan::default(),
            failed: None,
        }
    }

    /// Decodes the next frame from the front of `buf`; see the module doc for the contract.
    pub fn decode_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ProtoError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.step(buf) {
            Err(err) => {
                self.failed = Some(err.clone());
                self.stack = Vec::new();
                self.body = None;
                Err(err)
            }
            ok => ok,
        }
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ProtoError> {
        loop {
            let frame = match &mut self.body {
                Some((kind, body)) => {
                    let kind = *kind;
                    let Some(payload) = body.poll(buf, &mut self.wire, Trailer::Crlf)? else {
                        return Ok(None);
                    };
                    self.body = None;
                    body_frame(kind, payload)?
                }
                None => match self.header(buf)? {
                    Head::Wait => return Ok(None),
                    Head::Started => continue,
                    Head::Frame(frame) => frame,
                },
            };
            if let Some(frame) = self.attach(frame) {
                return Ok(Some(Decoded {
                    frame,
                    wire_len: std::mem::take(&mut self.wire),
                }));
            }
        }
    }

    /// Reads one type-prefixed line: a whole scalar, or the start of a bulk or aggregate.
    fn header(&mut self, buf: &mut BytesMut) -> Result<Head, ProtoError> {
        let Some(&ty) = buf.first() else {
            return Ok(Head::Wait);
        };
        let too_long = match ty {
            b'*' | b'%' | b'~' | b'>' | b'|' => ProtoError::TooBigMultibulkCount,
            b'$' | b'=' | b'!' => ProtoError::TooBigBulkCount,
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => ProtoError::LineTooLong,
            other => return Err(ProtoError::UnknownType(other)),
        };
        let limit = self.limits.inline_max_size;
        let Some(cr) = self.scan.find(buf, b'\r', true, limit, too_long)? else {
            return Ok(Head::Wait);
        };
        if buf[cr + 1] != b'\n' {
            return Err(ProtoError::ExpectedCrlf);
        }
        // The type byte is not a CR (it was checked above), so cr >= 1.
        let line = buf.get(1..cr).unwrap_or_default();
        let head = match ty {
            b'+' => Head::Frame(Frame::Simple(Bytes::copy_from_slice(line))),
            b'-' => Head::Frame(Frame::Error(Bytes::copy_from_slice(line))),
            b':' => Head::Frame(Frame::Integer(
                parse_i64(line).ok_or(ProtoError::InvalidInteger)?,
            )),
            b'_' if line.is_empty() => Head::Frame(Frame::Null),
            b'_' => return Err(ProtoError::InvalidNull),
            b',' => Head::Frame(Frame::Double(parse_double(line)?)),
            b'#' => Head::Frame(Frame::Boolean(match line {
                b"t" => true,
                b"f" => false,
                _ => return Err(ProtoError::InvalidBoolean),
            })),
            b'(' => Head::Frame(Frame::BigNumber(parse_big_number(line)?)),
            b'$' | b'=' | b'!' => {
                let len = parse_i64(line).ok_or(ProtoError::InvalidBulkLength)?;
                if ty == b'$' && len == -1 {
                    Head::Frame(Frame::Null)
                } else {
                    if len < 0 || len as u64 > self.limits.proto_max_bulk_len as u64 {
                        return Err(ProtoError::InvalidBulkLength);
                    }
                    let kind = match ty {
                        b'$' => BodyKind::Bulk,
                        b'=' => BodyKind::Verbatim,
                        _ => BodyKind::BlobError,
                    };
                    // 0 <= len <= proto_max_bulk_len, a usize.
                    self.body = Some((kind, BulkBody::new(len as usize, self.big_arg)));
                    Head::Started
                }
            }
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                let n = parse_i64(line).ok_or(ProtoError::InvalidMultibulkLength)?;
                if ty == b'*' && n == -1 {
                    Head::Frame(Frame::NullArray)
                } else {
                    if n < 0 || n as u64 > self.limits.max_multibulk_len as u64 {
                        return Err(ProtoError::InvalidMultibulkLength);
                    }
                    let kind = match ty {
                        b'*' => AggKind::Array,
                        b'%' => AggKind::Map,
                        b'~' => AggKind::Set,
                        b'>' => AggKind::Push,
                        _ => AggKind::Attribute,
                    };
                    // n <= max_multibulk_len, a usize; maps and attributes hold 2n frames.
                    let n = n as usize;
                    let elements = match kind {
                        AggKind::Map | AggKind::Attribute => n.saturating_mul(2),
                        _ => n,
                    };
                    if elements == 0 {
                        match kind {
                            AggKind::Attribute => Head::Started,
                            _ => Head::Frame(finish_aggregate(kind, Vec::new())),
                        }
                    } else {
                        if self.stack.len() >= self.max_depth {
                            return Err(ProtoError::NestingTooDeep);
                        }
                        self.stack.push(Level {
                            kind,
                            remaining: elements,
                            items: Vec::with_capacity(elements.min(AGGREGATE_PREALLOC_CAP)),
                        });
                        Head::Started
                    }
                }
            }
            other => return Err(ProtoError::UnknownType(other)),
        };
        buf.advance(cr + 2);
        self.wire += cr + 2;
        self.scan.reset();
        Ok(head)
    }

    /// Adds a finished frame to the aggregate being filled, closing every aggregate it
    /// completes. Returns the frame when it is a whole top-level value.
    fn attach(&mut self, mut frame: Frame) -> Option<Frame> {
        loop {
            let Some(level) = self.stack.last_mut() else {
                return Some(frame);
            };
            level.items.push(frame);
            level.remaining -= 1;
            if level.remaining > 0 {
                return None;
            }
            let level = self.stack.pop()?;
            if level.kind == AggKind::Attribute {
                // Attributes describe the value after them and are not elements themselves.
                return None;
            }
            frame = finish_aggregate(level.kind, level.items);
        }
    }

    /// Heap bytes held by the decoder's progress (tests bound it against the input size).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        fn frame_bytes(f: &Frame) -> usize {
            match f {
                Frame::Simple(b) | Frame::Error(b) | Frame::Bulk(b) | Frame::BigNumber(b) => {
                    b.len()
                }
                Frame::Verbatim { text, .. } => text.len(),
                Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
                    v.capacity() * std::mem::size_of::<Frame>()
                        + v.iter().map(frame_bytes).sum::<usize>()
                }
                Frame::Map(v) => {
                    v.capacity() * std::mem::size_of::<(Frame, Frame)>()
                        + v.iter()
                            .map(|(k, v)| frame_bytes(k) + frame_bytes(v))
                            .sum::<usize>()
                }
                _ => 0,
            }
        }
        let stack: usize = self
            .stack
            .iter()
            .map(|l| {
                l.items.capacity() * std::mem::size_of::<Frame>()
                    + l.items.iter().map(frame_bytes).sum::<usize>()
            })
            .sum();
        stack
            + self.stack.capacity() * std::mem::size_of::<Level>()
            + self.body.as_ref().map_or(0, |(_, b)| b.capacity())
    }
}

impl Default for FrameDecoder {
    fn default() -> FrameDecoder {
        FrameDecoder::new(Limits::default())
    }
}

enum Head {
    Wait,
    /// A bulk or aggregate header was consumed; its content follows.
    Started,
    Frame(Frame),
}

fn finish_aggregate(kind: AggKind, items: Vec<Frame>) -> Frame {
    match kind {
        AggKind::Array => Frame::Array(items),
        AggKind::Set => Frame::Set(items),
        AggKind::Push => Frame::Push(items),
        AggKind::Map | AggKind::Attribute => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Frame::Map(pairs)
        }
    }
}

fn body_frame(kind: BodyKind, payload: Bytes) -> Result<Frame, ProtoError> {
    Ok(match kind {
        BodyKind::Bulk => Frame::Bulk(payload),
        BodyKind::BlobError => Frame::Error(payload),
        BodyKind::Verbatim => {
            if payload.len() < 4 || payload[3] != b':' {
                return Err(ProtoError::InvalidVerbatim);
            }
            Frame::Verbatim {
                format: [payload[0], payload[1], payload[2]],
                text: payload.slice(4..),
            }
        }
    })
}

fn parse_double(line: &[u8]) -> Result<f64, ProtoError> {
    std::str::from_utf8(line)
        .ok()
        // Rust's parser also takes "infinity", "+1", ".5"; refuse only what is no number.
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(ProtoError::InvalidDouble)
}

fn parse_big_number(line: &[u8]) -> Result<Bytes, ProtoError> {
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ProtoError::InvalidBigNumber);
    }
    Ok(Bytes::copy_from_slice(line))
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
