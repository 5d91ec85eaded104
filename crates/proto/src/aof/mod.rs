//! AOF files, formats only: the Redis 7 multi-part manifest ([`manifest`]), the command
//! stream of INCR files and RESP bases ([`records`]), and ferrokv's replication mark
//! annotation ([`repl_mark`]).

pub mod manifest;
pub mod records;
pub mod repl_mark;

pub use manifest::{AofFile, FileKind, Manifest, ManifestError, ManifestErrorKind};
pub use records::{Command, Next, NextUnit, RecordError, Records, Truncation, Unit, Units};
pub use repl_mark::ReplMark;
