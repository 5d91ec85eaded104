//! AOF files, formats only: the Redis 7 multi-part manifest ([`manifest`]) and the command
//! stream of INCR files and RESP bases ([`records`]).

pub mod manifest;
pub mod records;

pub use manifest::{AofFile, FileKind, Manifest, ManifestError, ManifestErrorKind};
pub use records::{Command, Next, NextUnit, RecordError, Records, Truncation, Unit, Units};
