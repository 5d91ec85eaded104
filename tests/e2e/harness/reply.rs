//! `Reply`: one RESP2/RESP3 reply as it came off the wire, raw bytes kept.
//!
//! The differential tests compare servers byte for byte, so this reader keeps every reply's
//! exact wire form (`raw`) next to its parsed shape. It is deliberately independent of
//! `ferrokv_proto`'s decoder: the oracle side of a test must not share code with the server
//! under test. [`Reply::to_frame`] converts to `ferrokv_proto::resp::Frame` for typed asserts.
//!
//! Parsing is restartable: [`parse`] returns `Ok(None)` until a whole reply is buffered.

use bytes::Bytes;
use ferrokv_proto::resp::Frame;

/// Aggregates nested deeper than this are refused (no reply of Redis comes close).
const MAX_DEPTH: usize = 64;
/// Lines (type byte up to CRLF) longer than this are refused.
const MAX_LINE: usize = 64 * 1024;
/// Bulk payloads longer than this are refused (Redis's default `proto-max-bulk-len`).
const MAX_BULK: i64 = 512 * 1024 * 1024;

/// One reply: its type byte, wire bytes and parsed parts.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// The type byte: `+ - : $ * _ , # ( = ! % ~ >`.
    pub kind: u8,
    /// The whole reply as sent, children included.
    pub raw: Vec<u8>,
    /// The line after the type byte (`+`, `-`, `:`, `_`, `,`, `#`, `(`) or the payload of
    /// a bulk (`$`, `=`, `!`); empty for aggregates.
    pub body: Vec<u8>,
    /// Length of a bulk or element count of an aggregate (pairs for `%`); -1 for RESP2 nils.
    pub len: i64,
    /// Elements of an aggregate; a map's keys and values alternate.
    pub children: Vec<Reply>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&show(&self.raw))
    }
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self.kind, b'-' | b'!')
    }

    pub fn is_aggregate(&self) -> bool {
        matches!(self.kind, b'*' | b'%' | b'~' | b'>')
    }

    /// The reply as a typed frame. Aggregates keep their RESP3 kind (`%` becomes a map).
    pub fn to_frame(&self) -> Frame {
        let body = || Bytes::copy_from_slice(&self.body);
        let text = || String::from_utf8_lossy(&self.body).into_owned();
        match self.kind {
            b'+' => Frame::Simple(body()),
            b'-' | b'!' => Frame::Error(body()),
            b':' => Frame::Integer(text().parse().unwrap_or(i64::MIN)),
            b'$' if self.len < 0 => Frame::Null,
            b'$' => Frame::Bulk(body()),
            b'*' if self.len < 0 => Frame::NullArray,
            b'*' => Frame::Array(self.children.iter().map(Reply::to_frame).collect()),
            b'_' => Frame::Null,
            b',' => Frame::Double(parse_double(&text())),
            b'#' => Frame::Boolean(self.body == b"t"),
            b'(' => Frame::BigNumber(body()),
            b'=' => {
                let mut format = [0u8; 3];
                format.copy_from_slice(&self.body[..3]);
                Frame::Verbatim {
                    format,
                    text: Bytes::copy_from_slice(&self.body[4..]),
                }
            }
            b'%' => Frame::Map(
                self.children
                    .chunks(2)
                    .map(|kv| (kv[0].to_frame(), kv[1].to_frame()))
                    .collect(),
            ),
            b'~' => Frame::Set(self.children.iter().map(Reply::to_frame).collect()),
            _ => Frame::Push(self.children.iter().map(Reply::to_frame).collect()),
        }
    }
}

fn parse_double(text: &str) -> f64 {
    match text {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" => f64::NAN,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

/// Parses one reply from the start of `buf`. `Ok(Some((reply, consumed)))`, `Ok(None)` when
/// more bytes are needed, `Err` when the bytes are no RESP.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], start: usize, depth: usize) -> Result<Option<(Reply, usize)>, String> {
    if depth > MAX_DEPTH {
        return Err("reply nested too deep".into());
    }
    let Some(line_end) = find_crlf(buf, start)? else {
        return Ok(None);
    };
    let Some(&kind) = buf.get(start) else {
        return Ok(None);
    };
    let line = &buf[start + 1..line_end];
    let after_line = line_end + 2;
    let leaf = |body: &[u8], len: i64, end: usize| Reply {
        kind,
        raw: buf[start..end].to_vec(),
        body: body.to_vec(),
        len,
        children: Vec::new(),
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
            Ok(Some((leaf(line, 0, after_line), after_line)))
        }
        b'$' | b'=' | b'!' => {
            let len = parse_len(line)?;
            if len < 0 {
                return Ok(Some((leaf(b"", len, after_line), after_line)));
            }
            if len > MAX_BULK {
                return Err(format!("bulk length {len} too big"));
            }
            let end = after_line + len as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err("bulk payload not followed by CRLF".into());
            }
            if kind == b'=' && (len < 4 || buf[after_line + 3] != b':') {
                return Err("bad verbatim string".into());
            }
            Ok(Some((leaf(&buf[after_line..end], len, end + 2), end + 2)))
        }
        b'*' | b'%' | b'~' | b'>' => {
            let len = parse_len(line)?;
            if len < 0 {
                return Ok(Some((leaf(b"", len, after_line), after_line)));
            }
            let items = if kind == b'%' {
                len.saturating_mul(2)
            } else {
                len
            };
            let mut pos = after_line;
            // Capacity from the wire is capped: a lying header must not allocate.
            let mut children = Vec::with_capacity(items.clamp(0, 1024) as usize);
            for _ in 0..items {
                match parse_at(buf, pos, depth + 1)? {
                    Some((child, next)) => {
                        children.push(child);
                        pos = next;
                    }
                    None => return Ok(None),
                }
            }
            let mut reply = leaf(b"", len, pos);
            reply.children = children;
            Ok(Some((reply, pos)))
        }
        other => Err(format!("unknown reply type byte {:?}", char::from(other))),
    }
}

fn find_crlf(buf: &[u8], start: usize) -> Result<Option<usize>, String> {
    let window = &buf[start.min(buf.len())..buf.len().min(start + MAX_LINE)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some(start + i)),
        None if window.len() >= MAX_LINE => Err("reply line too long".into()),
        None => Ok(None),
    }
}

fn parse_len(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n >= -1)
        .ok_or_else(|| format!("bad length line {}", show(line)))
}

/// Bytes as a one-line, escaped string (`\r\n` visible), cut after 2,000 characters.
pub fn show(bytes: &[u8]) -> String {
    const LIMIT: usize = 2000;
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
        if out.len() > LIMIT {
            out.push_str(&format!("... ({} bytes)", bytes.len()));
            break;
        }
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(wire: &[u8]) -> Reply {
        let (reply, used) = parse(wire).unwrap().unwrap();
        assert_eq!(used, wire.len(), "consumed all of {}", show(wire));
        assert_eq!(reply.raw, wire);
        reply
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(one(b"+OK\r\n").to_frame(), Frame::OK);
        assert_eq!(one(b"-ERR x\r\n").to_frame(), Frame::error("ERR x"));
        assert_eq!(one(b":-5\r\n").to_frame(), Frame::Integer(-5));
        assert_eq!(one(b"$-1\r\n").to_frame(), Frame::Null);
        assert_eq!(one(b"*-1\r\n").to_frame(), Frame::NullArray);
        assert_eq!(one(b"$0\r\n\r\n").to_frame(), Frame::bulk(""));
        assert_eq!(one(b"$4\r\na\r\nb\r\n").to_frame(), Frame::bulk("a\r\nb"));
        assert_eq!(one(b",1.5\r\n").to_frame(), Frame::Double(1.5));
        assert_eq!(one(b"#t\r\n").to_frame(), Frame::Boolean(true));
        assert_eq!(one(b"_\r\n").to_frame(), Frame::Null);
        assert_eq!(
            one(b"=7\r\ntxt:abc\r\n").to_frame(),
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"abc")
            }
        );
        let map = one(b"%1\r\n+a\r\n*2\r\n:1\r\n:2\r\n");
        assert_eq!(map.children.len(), 2);
        assert_eq!(
            map.to_frame(),
            Frame::Map(vec![(
                Frame::simple("a"),
                Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
            )])
        );
    }

    #[test]
    fn every_split_point_waits_for_more() {
        let wire = b"*3\r\n$3\r\nfoo\r\n%1\r\n+k\r\n:1\r\n~1\r\n,inf\r\n";
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]).unwrap(), None, "cut at {cut}");
        }
        one(wire);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"?x\r\n"[..],
            b"$abc\r\n",
            b"*-7\r\n",
            b"$1\r\nab\r\n",
            b"=2\r\nab\r\n",
        ] {
            assert!(parse(bad).is_err(), "{}", show(bad));
        }
        let huge = b"*9223372036854775807\r\n";
        assert_eq!(parse(huge).unwrap(), None);
    }
}
