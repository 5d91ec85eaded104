//! The replication mark: a ferrokv annotation line in an AOF saying which point of the
//! primary's replication stream the dataset described by everything before it corresponds
//! to. A ferrokv extension (Redis 7.0's AOF carries no replication position, so a Redis
//! replica restarted from its AOF always needs a full resync).
//!
//! ## Format
//!
//! ```text
//! #ferrokv-repl:<replid, 40 chars>:<offset>:<stream db>\r\n
//! #ferrokv-repl:8c4bd4e5c9e1b5b7f4d1a0c3e2f6a9b8c7d6e5f4:1143:0\r\n
//! ```
//!
//! - `offset` is the replica's applied offset (`slave_repl_offset`) after every command
//!   before the line; a restarted replica asks its primary for `PSYNC <replid> <offset+1>`.
//! - `stream db` is the database the primary's stream selects at that offset, so a stream
//!   continuing without a `SELECT` lands where it would have (the RDB's `repl-stream-db`).
//!
//! The line is an AOF annotation: Redis 7.0's loader (`loadSingleAppendOnlyFile`) and
//! `redis-check-aof` skip every line starting with `#` (read with a 1024-byte `fgets`, so
//! the line must stay shorter than that: it is at most 14 + 40 + 1 + 20 + 1 + 10 + 2 bytes),
//! so files carrying marks stay valid for real Redis.
//!
//! Only a complete line (ending in `\r\n`) with exactly these fields is a mark; anything
//! else starting with `#` is some other annotation (`#TS:`) and means nothing here.

use bytes::BytesMut;

/// The annotation's prefix.
pub const REPL_MARK_PREFIX: &[u8] = b"#ferrokv-repl:";

/// Length of a replication id.
const REPLID_LEN: usize = 40;

/// A point of the replication history: the stream of `replid` up to `offset`, whose next
/// command runs in `stream_db` unless it selects another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplMark {
    /// 40 ASCII alphanumerics (Redis's ids are lower-case hex).
    pub replid: String,
    pub offset: u64,
    pub stream_db: u32,
}

impl ReplMark {
    /// `None` unless `replid` has Redis's 40-character shape (a mark must never make a
    /// loader ask for a PSYNC the primary can't parse).
    pub fn new(replid: &str, offset: u64, stream_db: u32) -> Option<ReplMark> {
        valid_replid(replid.as_bytes()).then(|| ReplMark {
            replid: replid.to_string(),
            offset,
            stream_db,
        })
    }

    /// Appends the annotation line.
    pub fn encode(&self, out: &mut BytesMut) {
        out.extend_from_slice(REPL_MARK_PREFIX);
        out.extend_from_slice(
            format!("{}:{}:{}\r\n", self.replid, self.offset, self.stream_db).as_bytes(),
        );
    }

    /// Parses one complete annotation line, `\r\n` included. `None` for any other line.
    pub fn parse(line: &[u8]) -> Option<ReplMark> {
        let body = line.strip_prefix(REPL_MARK_PREFIX)?.strip_suffix(b"\r\n")?;
        let mut fields = body.split(|&b| b == b':');
        let replid = fields.next()?;
        let offset = decimal(fields.next()?)?;
        let stream_db = u32::try_from(decimal(fields.next()?)?).ok()?;
        if fields.next().is_some() || !valid_replid(replid) {
            return None;
        }
        Some(ReplMark {
            replid: String::from_utf8(replid.to_vec()).ok()?,
            offset,
            stream_db,
        })
    }
}

fn valid_replid(id: &[u8]) -> bool {
    id.len() == REPLID_LEN && id.iter().all(u8::is_ascii_alphanumeric)
}

/// A plain decimal `u64` (no sign, no spaces, no leading `+`).
fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8c4bd4e5c9e1b5b7f4d1a0c3e2f6a9b8c7d6e5f4";

    fn line(m: &ReplMark) -> Vec<u8> {
        let mut b = BytesMut::new();
        m.encode(&mut b);
        b.to_vec()
    }

    #[test]
    fn encodes_the_documented_line_and_parses_it_back() {
        let m = ReplMark::new(ID, 1143, 0).unwrap();
        assert_eq!(
            line(&m),
            format!("#ferrokv-repl:{ID}:1143:0\r\n").into_bytes()
        );
        assert_eq!(ReplMark::parse(&line(&m)), Some(m));
        let big = ReplMark::new(ID, u64::MAX, u32::MAX).unwrap();
        assert!(line(&big).len() < 1024);
        assert_eq!(ReplMark::parse(&line(&big)), Some(big));
    }

    #[test]
    fn only_complete_well_formed_lines_are_marks() {
        let good = format!("#ferrokv-repl:{ID}:1143:3\r\n");
        // Every proper prefix (a torn write) is not a mark.
        for cut in 0..good.len() {
            assert_eq!(ReplMark::parse(&good.as_bytes()[..cut]), None, "cut {cut}");
        }
        let short_id = &ID[1..];
        let bad: &[String] = &[
            "#TS:1700000000\r\n".into(),
            format!("#ferrokv-repl:{ID}:1143\r\n"),
            format!("#ferrokv-repl:{ID}:1143:0:9\r\n"),
            format!("#ferrokv-repl:{ID}:-1:0\r\n"),
            format!("#ferrokv-repl:{ID}:+5:0\r\n"),
            format!("#ferrokv-repl:{ID}: 5:0\r\n"),
            format!("#ferrokv-repl:{ID}:5:4294967296\r\n"),
            format!("#ferrokv-repl:{ID}:99999999999999999999999:0\r\n"),
            format!("#ferrokv-repl:{short_id}:5:0\r\n"),
            format!("#ferrokv-repl:{ID}x:5:0\r\n"),
            format!("#ferrokv-repl:{}:5:0\r\n", ID.replace('8', "-")),
            format!("#ferrokv-repl:{ID}:5:0\n"),
            format!("#ferrokv-repl:{ID}::0\r\n"),
            format!("#FERROKV-REPL:{ID}:5:0\r\n"),
        ];
        for b in bad {
            assert_eq!(ReplMark::parse(b.as_bytes()), None, "{b:?}");
        }
    }

    #[test]
    fn new_refuses_ids_redis_would_not_send() {
        assert!(ReplMark::new(&ID[..39], 1, 0).is_none());
        assert!(ReplMark::new(&format!("{}?", &ID[..39]), 1, 0).is_none());
        assert!(ReplMark::new(ID, 0, 0).is_some());
    }
}
