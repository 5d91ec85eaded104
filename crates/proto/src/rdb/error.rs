//! Errors of the RDB layer. Every variant carries the byte offset it is about: in a file, the
//! offset from the first byte of the magic; in a DUMP payload, from the payload's first byte;
//! when writing, the number of bytes written so far.

use std::io;

/// Why reading or writing RDB data failed.
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    #[error("I/O error at offset {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("unexpected end of input at offset {offset}: expected {expected}")]
    Truncated { offset: u64, expected: &'static str },
    #[error("wrong signature at offset {offset}: expected \"REDIS\" and four version digits")]
    BadMagic { offset: u64 },
    #[error("can't handle RDB format version {version} at offset {offset} (supported: 1 to 10)")]
    UnsupportedVersion { offset: u64, version: u32 },
    #[error("unknown opcode or object type {byte} at offset {offset}")]
    UnknownType { offset: u64, byte: u8 },
    #[error("{what} (byte {byte}) at offset {offset} is not supported by ferrokv")]
    Unsupported {
        offset: u64,
        byte: u8,
        what: &'static str,
    },
    #[error("invalid data at offset {offset}: expected {expected}")]
    Invalid { offset: u64, expected: &'static str },
    #[error("corrupt {encoding} in the string at offset {offset} (byte {at} of the blob): expected {expected}")]
    Blob {
        offset: u64,
        encoding: &'static str,
        at: usize,
        expected: &'static str,
    },
    #[error(
        "RDB CRC error at offset {offset}: file says {stored:016x}, data gives {computed:016x}"
    )]
    Checksum {
        offset: u64,
        stored: u64,
        computed: u64,
    },
    #[error("DUMP payload version {version} at offset {offset} is newer than 10")]
    DumpVersion { offset: u64, version: u16 },
    #[error("DUMP payload checksum at offset {offset} is wrong: payload says {stored:016x}, data gives {computed:016x}")]
    DumpChecksum {
        offset: u64,
        stored: u64,
        computed: u64,
    },
    #[error("DUMP payload of {len} bytes at offset 0 is shorter than its 10-byte footer")]
    DumpTooShort { len: usize },
    #[error("cannot encode {what} at output offset {offset}: {reason}")]
    Unencodable {
        offset: u64,
        what: &'static str,
        reason: &'static str,
    },
}

impl RdbError {
    /// Returns the byte offset the error is about.
    pub fn offset(&self) -> u64 {
        match self {
            Self::Io { offset, .. }
            | Self::Truncated { offset, .. }
            | Self::BadMagic { offset }
            | Self::UnsupportedVersion { offset, .. }
            | Self::UnknownType { offset, .. }
            | Self::Unsupported { offset, .. }
            | Self::Invalid { offset, .. }
            | Self::Blob { offset, .. }
            | Self::Checksum { offset, .. }
            | Self::DumpVersion { offset, .. }
            | Self::DumpChecksum { offset, .. }
            | Self::Unencodable { offset, .. } => *offset,
            Self::DumpTooShort { .. } => 0,
        }
    }

    /// Returns true when a DUMP payload's footer (version or CRC) is what is wrong: RESTORE then
    /// replies "ERR DUMP payload version or checksum are wrong" instead of "Bad data format".
    pub fn is_dump_footer_error(&self) -> bool {
        matches!(
            self,
            Self::DumpVersion { .. } | Self::DumpChecksum { .. } | Self::DumpTooShort { .. }
        )
    }
}

/// A defect inside a blob (listpack, ziplist, intset, zipmap, LZF stream): the position inside
/// the blob and what should have been there. The reader adds the file offset of the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobError {
    pub at: usize,
    pub expected: &'static str,
}

impl BlobError {
    pub fn new(at: usize, expected: &'static str) -> Self {
        Self { at, expected }
    }
}
