//! The Redis 7 multi-part AOF manifest: `<appendfilename>.manifest` inside `appenddirname`.
//!
//! ## Format
//!
//! One line per file, written BASE first, then HISTORY, then INCR:
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b\n
//! file appendonly.aof.1.incr.aof seq 1 type h\n
//! file appendonly.aof.2.incr.aof seq 2 type i\n
//! ```
//!
//! A name that contains a space, a quote, a backslash or a non-printable byte is written in
//! double quotes with C escapes (`\n \r \t \a \b \\ \"`, else `\xHH`), as Redis's
//! `sdscatrepr` does; anything else is written bare.
//!
//! ## Parsing (Redis's rules, byte for byte)
//!
//! The file is read in `fgets` chunks of at most [`MANIFEST_MAX_LINE`] bytes. A chunk starting
//! with `#` is skipped; any other chunk must end with `\n` (else "too long line", which also
//! catches a last line without a newline). A line is trimmed of ` \t\r\n`, split like
//! `sdssplitargs` (double quotes with escapes, single quotes with `\'`), and must have at
//! least 6 tokens and an even count (extra key/value pairs are allowed for forward
//! compatibility). `file`, `seq` (non-zero, read like `atoll`) and `type` are required; the
//! keys are case-insensitive; a file name may not contain `/` or `\`. At most one `b`; `i`
//! sequence numbers strictly increase; other types are refused. An empty file is refused.
//!
//! ## Deviations
//!
//! - A negative `seq` or an empty file name is refused; Redis accepts both here and fails
//!   later (an INCR with a negative number, opening a file named "").

use std::fmt;

/// Redis's `MANIFEST_MAX_LINE`.
pub const MANIFEST_MAX_LINE: usize = 1024;

/// Suffix of the manifest file after `appendfilename`.
pub const MANIFEST_SUFFIX: &str = ".manifest";
/// Prefix of every temp file Redis's AOF code writes.
pub const TEMP_PREFIX: &str = "temp-";

/// A file's role in the manifest (`type b|h|i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `b`: the snapshot from the last rewrite (RDB or RESP).
    Base,
    /// `h`: a former BASE or INCR awaiting deletion.
    History,
    /// `i`: commands since the base, in sequence order.
    Incr,
}

impl FileKind {
    pub fn as_char(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    /// A plain file name inside `appenddirname`.
    pub name: String,
    pub seq: u64,
    pub kind: FileKind,
}

impl AofFile {
    /// The manifest line for this file, `\n` included.
    pub fn line(&self) -> String {
        let name = if needs_repr(self.name.as_bytes()) {
            crate::resp::quote_arg(self.name.as_bytes())
        } else {
            self.name.clone()
        };
        format!(
            "file {name} seq {} type {}\n",
            self.seq,
            self.kind.as_char()
        )
    }
}

/// What a manifest says: at most one BASE, the HISTORY files, the INCR files in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub history: Vec<AofFile>,
    pub incrs: Vec<AofFile>,
    /// The sequence number of the current (or last) BASE; the next one gets `+1`.
    pub curr_base_seq: u64,
    /// The sequence number of the last INCR; the next one gets `+1`.
    pub curr_incr_seq: u64,
}

/// Why a manifest was refused. `Display` is Redis's message; `line` is where (1-based, with
/// the trimmed text) when the problem is on a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ManifestError {
    pub kind: ManifestErrorKind,
    pub line: Option<(usize, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManifestErrorKind {
    #[error("Found an empty AOF manifest")]
    Empty,
    #[error("The AOF manifest file contains too long line")]
    LineTooLong,
    #[error("Invalid AOF manifest file format")]
    InvalidFormat,
    #[error("File can't be a path, just a filename")]
    PathNotAllowed,
    #[error("Found duplicate base file information")]
    DuplicateBase,
    #[error("Found a non-monotonic sequence number")]
    NonMonotonicSeq,
    #[error("Unknown AOF file type")]
    UnknownType,
}

impl Manifest {
    /// Parses a manifest file's bytes (see the module doc for the rules).
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        let mut linenum = 0usize;
        let mut max_incr_seq = 0u64;
        let mut rest = text;
        while !rest.is_empty() {
            // One `fgets(buf, MANIFEST_MAX_LINE + 1)`: up to and including '\n', at most
            // MANIFEST_MAX_LINE bytes.
            let take = match memchr::memchr(b'\n', &rest[..rest.len().min(MANIFEST_MAX_LINE)]) {
                Some(nl) => nl + 1,
                None => rest.len().min(MANIFEST_MAX_LINE),
            };
            let chunk = &rest[..take];
            rest = &rest[take..];
            linenum += 1;
            if chunk[0] == b'#' {
                continue;
            }
            let fail = |kind, line: &[u8]| ManifestError {
                kind,
                line: Some((linenum, String::from_utf8_lossy(line).into_owned())),
            };
            if chunk.last() != Some(&b'\n') {
                return Err(ManifestError {
                    kind: ManifestErrorKind::LineTooLong,
                    line: None,
                });
            }
            let line = trim(chunk);
            if line.is_empty() {
                return Err(fail(ManifestErrorKind::InvalidFormat, line));
            }
            let args =
                split_args(line).ok_or_else(|| fail(ManifestErrorKind::InvalidFormat, line))?;
            if args.len() < 6 || args.len() % 2 != 0 {
                return Err(fail(ManifestErrorKind::InvalidFormat, line));
            }
            let (mut name, mut seq, mut kind) = (None, 0u64, 0u8);
            for pair in args.chunks(2) {
                let (key, value) = (&pair[0], &pair[1]);
                if key.eq_ignore_ascii_case(b"file") {
                    if value.contains(&b'/') || value.contains(&b'\\') {
                        return Err(fail(ManifestErrorKind::PathNotAllowed, line));
                    }
                    // Redis keeps the name as a C string: it ends at the first NUL.
                    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                    name = Some(value[..end].to_vec());
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(value);
                } else if key.eq_ignore_ascii_case(b"type") {
                    kind = value.first().copied().unwrap_or(0);
                }
            }
            let name = match name {
                Some(n) if !n.is_empty() => n,
                _ => return Err(fail(ManifestErrorKind::InvalidFormat, line)),
            };
            if seq == 0 || kind == 0 {
                return Err(fail(ManifestErrorKind::InvalidFormat, line));
            }
            let name = String::from_utf8(name)
                .map_err(|_| fail(ManifestErrorKind::InvalidFormat, line))?;
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return Err(fail(ManifestErrorKind::DuplicateBase, line));
                    }
                    m.base = Some(AofFile {
                        name,
                        seq,
                        kind: FileKind::Base,
                    });
                    m.curr_base_seq = seq;
                }
                b'h' => m.history.push(AofFile {
                    name,
                    seq,
                    kind: FileKind::History,
                }),
                b'i' => {
                    if seq <= max_incr_seq {
                        return Err(fail(ManifestErrorKind::NonMonotonicSeq, line));
                    }
                    max_incr_seq = seq;
                    m.curr_incr_seq = seq;
                    m.incrs.push(AofFile {
                        name,
                        seq,
                        kind: FileKind::Incr,
                    });
                }
                _ => return Err(fail(ManifestErrorKind::UnknownType, line)),
            }
        }
        if linenum == 0 {
            return Err(ManifestError {
                kind: ManifestErrorKind::Empty,
                line: None,
            });
        }
        Ok(m)
    }

    /// The manifest as Redis writes it: BASE, then HISTORY, then INCR lines.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incrs) {
            out.push_str(&f.line());
        }
        out
    }

    /// Whether there is nothing to load (no BASE and no INCR).
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incrs.is_empty()
    }

    /// The files to load, in order: the BASE, then every INCR.
    pub fn files_to_load(&self) -> impl Iterator<Item = &AofFile> {
        self.base.iter().chain(&self.incrs)
    }

    /// Makes a new BASE (`<prefix>.<seq>.base.rdb|aof`, seq = current + 1) and turns the
    /// previous BASE into the first HISTORY entry. Returns the new name.
    pub fn new_base(&mut self, prefix: &str, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = FileKind::History;
            self.history.insert(0, old);
        }
        self.curr_base_seq += 1;
        let name = format!(
            "{prefix}.{}.base.{}",
            self.curr_base_seq,
            if rdb { "rdb" } else { "aof" }
        );
        self.base = Some(AofFile {
            name: name.clone(),
            seq: self.curr_base_seq,
            kind: FileKind::Base,
        });
        name
    }

    /// Appends a new INCR (`<prefix>.<seq>.incr.aof`, seq = last + 1). Returns its name.
    pub fn new_incr(&mut self, prefix: &str) -> String {
        self.curr_incr_seq += 1;
        let name = incr_name(prefix, self.curr_incr_seq);
        self.incrs.push(AofFile {
            name: name.clone(),
            seq: self.curr_incr_seq,
            kind: FileKind::Incr,
        });
        name
    }

    /// The last INCR's name, creating one when there is none.
    pub fn last_incr_or_new(&mut self, prefix: &str) -> String {
        match self.incrs.last() {
            Some(f) => f.name.clone(),
            None => self.new_incr(prefix),
        }
    }

    /// After a successful rewrite: every INCR except the last `keep` ones (the file being
    /// written, when AOF is on) becomes HISTORY.
    pub fn mark_rewritten_incrs_as_history(&mut self, keep: usize) {
        let n = self.incrs.len().saturating_sub(keep);
        for mut f in self.incrs.drain(..n).rev() {
            f.kind = FileKind::History;
            self.history.insert(0, f);
        }
    }
}

/// `<prefix>.<seq>.incr.aof`.
pub fn incr_name(prefix: &str, seq: u64) -> String {
    format!("{prefix}.{seq}.incr.aof")
}

/// `<prefix>.manifest`.
pub fn manifest_name(prefix: &str) -> String {
    format!("{prefix}{MANIFEST_SUFFIX}")
}

/// `temp-<prefix>.manifest`.
pub fn temp_manifest_name(prefix: &str) -> String {
    format!("{TEMP_PREFIX}{prefix}{MANIFEST_SUFFIX}")
}

/// `temp-<prefix>.incr`: where writes go while AOF waits for its first rewrite.
pub fn temp_incr_name(prefix: &str) -> String {
    format!("{TEMP_PREFIX}{prefix}.incr")
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_print(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

fn trim(mut s: &[u8]) -> &[u8] {
    let strip = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while let Some((&f, rest)) = s.split_first() {
        if !strip(f) {
            break;
        }
        s = rest;
    }
    while let Some((&l, rest)) = s.split_last() {
        if !strip(l) {
            break;
        }
        s = rest;
    }
    s
}

/// `atoll`: optional blanks and sign, then digits; anything else ends the number. Negative
/// values and overflow read as 0 here (a sequence number must be positive).
fn atoll(s: &[u8]) -> u64 {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: u64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
        {
            Some(v) => v,
            None => return 0,
        };
        i += 1;
    }
    if neg {
        0
    } else {
        v
    }
}

/// `sdssplitargs` over a manifest line, which Redis reads as a C string (a NUL ends it).
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    crate::resp::split_args(line).map(|args| args.into_iter().map(|a| a.to_vec()).collect())
}

/// `sdsneedsrepr`.
fn needs_repr(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b == b'\\' || b == b'"' || !is_print(b) || is_space(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";

    #[test]
    fn captured_fresh_manifest_round_trips() {
        let m = Manifest::parse(CAPTURED.as_bytes()).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 1);
        assert_eq!((m.curr_base_seq, m.curr_incr_seq), (1, 1));
        assert_eq!(m.to_text(), CAPTURED);
    }

    #[test]
    fn rewrite_steps_produce_redis_names_and_order() {
        let mut m = Manifest::parse(CAPTURED.as_bytes()).unwrap();
        // Rewrite starts: a new INCR opens.
        assert_eq!(m.new_incr("appendonly.aof"), "appendonly.aof.2.incr.aof");
        // Rewrite done: new BASE, old INCR becomes history, the open INCR stays. Both
        // are put at the head of the history list, as Redis does.
        assert_eq!(
            m.new_base("appendonly.aof", true),
            "appendonly.aof.2.base.rdb"
        );
        m.mark_rewritten_incrs_as_history(1);
        assert_eq!(
            m.to_text(),
            "file appendonly.aof.2.base.rdb seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.1.base.rdb seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        m.history.clear();
        assert_eq!(
            m.to_text(),
            "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        assert_eq!(
            m.new_base("appendonly.aof", false),
            "appendonly.aof.3.base.aof"
        );
    }

    #[test]
    fn names_needing_quotes_round_trip() {
        for name in ["a b", "q\"uote", "tab\there", "nl\n", "\u{7f}del", "é"] {
            let f = AofFile {
                name: name.into(),
                seq: 3,
                kind: FileKind::Incr,
            };
            let line = f.line();
            assert!(line.starts_with("file \""), "{line:?}");
            let m = Manifest::parse(line.as_bytes()).unwrap();
            assert_eq!(m.incrs[0], f, "{line:?}");
        }
        assert_eq!(
            AofFile {
                name: "a b".into(),
                seq: 1,
                kind: FileKind::Base
            }
            .line(),
            "file \"a b\" seq 1 type b\n"
        );
        assert_eq!(
            AofFile {
                name: "\u{7f}".into(),
                seq: 1,
                kind: FileKind::Base
            }
            .line(),
            "file \"\\x7f\" seq 1 type b\n"
        );
    }

    #[test]
    fn redis_parsing_rules_table() {
        use ManifestErrorKind::*;
        let cases: &[(&str, Result<(), ManifestErrorKind>)] = &[
            ("", Err(Empty)),
            ("# only a comment\n", Ok(())),
            ("file a seq 1 type b", Err(LineTooLong)),
            ("\n", Err(InvalidFormat)),
            ("   \r\n", Err(InvalidFormat)),
            ("file a seq 1 type\n", Err(InvalidFormat)),
            ("file a seq 1 type b x\n", Err(InvalidFormat)),
            ("file a seq 1 type b x y\n", Ok(())),
            ("FILE a SEQ 1 TYPE b\n", Ok(())),
            ("file a seq 0 type b\n", Err(InvalidFormat)),
            ("file a seq -3 type b\n", Err(InvalidFormat)),
            ("file a seq 12abc type i\n", Ok(())),
            ("file a/b seq 1 type b\n", Err(PathNotAllowed)),
            ("file a\\b seq 1 type b\n", Err(PathNotAllowed)),
            ("file \"a seq 1 type b\n", Err(InvalidFormat)),
            ("file \"a\"x seq 1 type b\n", Err(InvalidFormat)),
            ("file a seq 1 type z\n", Err(UnknownType)),
            (
                "file a seq 1 type b\nfile b seq 2 type b\n",
                Err(DuplicateBase),
            ),
            (
                "file a seq 2 type i\nfile b seq 2 type i\n",
                Err(NonMonotonicSeq),
            ),
            (
                "file a seq 2 type i\nfile b seq 1 type h\nfile c seq 3 type i\n",
                Ok(()),
            ),
            ("nofile a seq 1 type b\n", Err(InvalidFormat)),
            ("file '' seq 1 type b\n", Err(InvalidFormat)),
            ("file 'it\\'s' seq 1 type b\n", Ok(())),
        ];
        for (text, want) in cases {
            let got = Manifest::parse(text.as_bytes())
                .map(|_| ())
                .map_err(|e| e.kind);
            assert_eq!(&got, want, "{text:?}");
        }
    }

    #[test]
    fn long_lines_follow_fgets_chunks() {
        let long = format!("file {} seq 1 type b\n", "x".repeat(1100));
        let e = Manifest::parse(long.as_bytes()).unwrap_err();
        assert_eq!(e.kind, ManifestErrorKind::LineTooLong);
        // Exactly 1024 bytes including the newline is accepted.
        let name = "y".repeat(1024 - "file  seq 1 type b\n".len());
        let ok = format!("file {name} seq 1 type b\n");
        assert_eq!(ok.len(), 1024);
        assert_eq!(
            Manifest::parse(ok.as_bytes()).unwrap().base.unwrap().name,
            name
        );
    }

    #[test]
    fn error_names_the_line() {
        let e = Manifest::parse(b"# c\nfile a seq 1 type b\nbogus\n").unwrap_err();
        assert_eq!(e.line, Some((3, "bogus".into())));
        assert_eq!(e.to_string(), "Invalid AOF manifest file format");
    }

    #[test]
    fn split_args_like_sds() {
        let s = |l: &str| {
            split_args(l.as_bytes()).map(|v| {
                v.into_iter()
                    .map(|a| String::from_utf8_lossy(&a).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            s("a  b\t c"),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            s("\"x\\x41\\n\" 'y'"),
            Some(vec!["xA\n".into(), "y".into()])
        );
        assert_eq!(s("ab\"cd\""), Some(vec!["abcd".into()]));
        assert_eq!(s("\"open"), None);
        assert_eq!(s("'open"), None);
        assert_eq!(s(""), Some(vec![]));
    }
}
