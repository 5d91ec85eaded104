//! `Frame`: the one in-memory form of a RESP value (RESP2 and RESP3).
//!
//! Payloads are `Bytes` (binary-safe, never `String`), integers are `i64`. RESP3-only types
//! have a defined RESP2 downgrade, applied by the encoder (see `encode.rs`):
//!
//! | Frame        | RESP3            | RESP2                              |
//! |--------------|------------------|------------------------------------|
//! | Null         | `_\r\n`          | `$-1\r\n`                          |
//! | NullArray    | `_\r\n`          | `*-1\r\n`                          |
//! | Double       | `,1.5\r\n`       | bulk string `$3\r\n1.5\r\n`        |
//! | Boolean      | `#t\r\n`         | `:1\r\n` / `:0\r\n`                |
//! | Map          | `%2\r\n...`      | flat array of 2n items             |
//! | Set          | `~2\r\n...`      | array                              |
//! | Push         | `>3\r\n...`      | array                              |
//! | BigNumber    | `(123\r\n`       | bulk string                        |
//! | Verbatim     | `=15\r\ntxt:...` | bulk string (text only)            |

use bytes::Bytes;

/// The RESP protocol version a connection speaks (`HELLO 2|3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(Bytes),
    /// The full error line without the leading `-`, e.g. `ERR unknown command 'x'...`.
    Error(Bytes),
    Integer(i64),
    Bulk(Bytes),
    Null,
    NullArray,
    Array(Vec<Frame>),
    Double(f64),
    Boolean(bool),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    BigNumber(Bytes),
    Verbatim {
        format: [u8; 3],
        text: Bytes,
    },
}

impl Frame {
    pub const OK: Frame = Frame::Simple(Bytes::from_static(b"OK"));

    pub fn ok() -> Frame {
        Frame::OK
    }

    pub fn simple(s: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(s.as_bytes()))
    }

    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }

    pub fn error(msg: impl Into<String>) -> Frame {
        Frame::Error(Bytes::from(msg.into()))
    }

    /// An array of bulk strings.
    pub fn bulks<I, B>(items: I) -> Frame
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Frame::Array(items.into_iter().map(|b| Frame::Bulk(b.into())).collect())
    }

    /// Converts a request argv into a frame (used for the replication stream and AOF).
    pub fn command<B: AsRef<[u8]>>(argv: &[B]) -> Frame {
        Frame::Array(
            argv.iter()
                .map(|a| Frame::Bulk(Bytes::copy_from_slice(a.as_ref())))
                .collect(),
        )
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }
}
