//! `ProtoError`: why a RESP byte stream is dead.
//!
//! Every variant ends the connection. The request-side texts are byte-exact with Redis 7.0's
//! `networking.c` (the server replies `-ERR <text>` and then closes); check them with
//! `printf '*1\r\n$-1\r\n' | nc 127.0.0.1 6379`. The reply-side variants (only produced by
//! [`FrameDecoder`](super::FrameDecoder)) have no Redis server equivalent; the unknown type
//! byte text follows hiredis.

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::Frame;

/// A malformed or over-limit RESP stream. `Display` is the text after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// `*<n>` that is not an integer, or `n` above the multibulk limit.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$<n>` that is not an integer, negative (in a request) or above `proto-max-bulk-len`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// More than 10 arguments before `AUTH` when a password is required.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk longer than 16384 bytes before `AUTH` when a password is required.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// No `\r` within the first 64 KiB of a `*<n>` line.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// No `\r` within the first 64 KiB of a `$<n>` line.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// No `\n` within the first 64 KiB of an inline request.
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// An inline request whose quotes do not close (or a closing quote followed by a
    /// non-space byte).
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// An element of a request array that does not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", shown_byte(*.0))]
    ExpectedDollar(u8),
    /// A non-empty inline request on a primary link. Redis logs this text and drops the link
    /// without replying (a primary never reads replies).
    #[error("Master using the inline protocol. Desync?")]
    InlineFromPrimary,
    /// A reply whose first byte is no RESP2/RESP3 type.
    #[error("Protocol error, got {} as reply type byte", quoted_repr(*.0))]
    UnknownType(u8),
    /// `:` line that is not a 64-bit signed integer.
    #[error("Protocol error: invalid integer")]
    InvalidInteger,
    /// `,` line that is not a double.
    #[error("Protocol error: invalid double")]
    InvalidDouble,
    /// `#` line other than `t` or `f`.
    #[error("Protocol error: invalid boolean")]
    InvalidBoolean,
    /// `_` line with content.
    #[error("Protocol error: invalid null")]
    InvalidNull,
    /// `(` line that is not an optionally signed run of digits.
    #[error("Protocol error: invalid big number")]
    InvalidBigNumber,
    /// `=` payload shorter than 4 bytes or without `:` after the 3-byte format.
    #[error("Protocol error: invalid verbatim string")]
    InvalidVerbatim,
    /// A reply line or bulk payload not terminated by `\r\n`.
    #[error("Protocol error: expected CRLF")]
    ExpectedCrlf,
    /// A reply line (`+`, `-`, `:`, ...) with no `\r\n` within the first 64 KiB.
    #[error("Protocol error: too big line")]
    LineTooLong,
    /// Aggregates nested deeper than the decoder's `max_depth`.
    #[error("Protocol error: nesting too deep")]
    NestingTooDeep,
}

impl ProtoError {
    /// The reply Redis sends before closing: `-ERR <text>`, byte-exact (an offending byte is
    /// written raw, as Redis's `%c` does). `None` for [`ProtoError::InlineFromPrimary`], where
    /// the link is dropped silently.
    pub fn reply(&self) -> Option<Frame> {
        match self {
            ProtoError::InlineFromPrimary => None,
            ProtoError::ExpectedDollar(b) => {
                let mut text = BytesMut::with_capacity(48);
                text.put_slice(b"ERR Protocol error: expected '$', got '");
                // Redis turns CR and LF of an error text into spaces so the reply stays one line.
                text.put_u8(if matches!(b, b'\r' | b'\n') { b' ' } else { *b });
                text.put_u8(b'\'');
                Some(Frame::Error(text.freeze()))
            }
            other => Some(Frame::Error(Bytes::from(format!("ERR {other}")))),
        }
    }
}

/// How `ExpectedDollar` shows its byte in `Display` (the exact bytes are in [`ProtoError::reply`]).
fn shown_byte(b: u8) -> char {
    match b {
        b'\r' | b'\n' => ' ',
        other => char::from(other),
    }
}

/// hiredis's `sdscatrepr` of one byte: `"x"`, `"\n"`, `"\x00"`.
fn quoted_repr(b: u8) -> String {
    super::quote_arg(&[b])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_texts_match_redis() {
        let table: &[(ProtoError, &str)] = &[
            (
                ProtoError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                ProtoError::InvalidBulkLength,
                "Protocol error: invalid bulk length",
            ),
            (
                ProtoError::TooBigMultibulkCount,
                "Protocol error: too big mbulk count string",
            ),
            (
                ProtoError::TooBigBulkCount,
                "Protocol error: too big bulk count string",
            ),
            (
                ProtoError::TooBigInline,
                "Protocol error: too big inline request",
            ),
            (
                ProtoError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                ProtoError::ExpectedDollar(b'x'),
                "Protocol error: expected '$', got 'x'",
            ),
            (
                ProtoError::ExpectedDollar(b'\n'),
                "Protocol error: expected '$', got ' '",
            ),
            (
                ProtoError::UnknownType(b'?'),
                "Protocol error, got \"?\" as reply type byte",
            ),
            (
                ProtoError::UnknownType(0),
                "Protocol error, got \"\\x00\" as reply type byte",
            ),
        ];
        for (err, text) in table {
            assert_eq!(err.to_string(), *text);
        }
    }

    #[test]
    fn reply_is_err_prefixed_and_byte_exact() {
        assert_eq!(
            ProtoError::InvalidBulkLength.reply(),
            Some(Frame::Error(Bytes::from_static(
                b"ERR Protocol error: invalid bulk length"
            )))
        );
        assert_eq!(
            ProtoError::ExpectedDollar(0xff).reply(),
            Some(Frame::Error(Bytes::from_static(
                b"ERR Protocol error: expected '$', got '\xff'"
            )))
        );
        assert_eq!(ProtoError::InlineFromPrimary.reply(), None);
    }
}
