//! `Args`: a cursor over a command's arguments (after the command name), with the parsing
//! rules and error replies Redis uses for integers, floats and options.

use bytes::Bytes;

use super::CmdError;

pub struct Args<'a> {
    argv: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// `argv[0]` is the command name; the cursor starts at `argv[1]`.
    pub fn new(argv: &'a [Bytes]) -> Args<'a> {
        Args { argv, pos: 1 }
    }

    /// The command name as the client sent it.
    pub fn name(&self) -> &'a [u8] {
        &self.argv[0]
    }

    /// The whole argv, name included.
    pub fn argv(&self) -> &'a [Bytes] {
        self.argv
    }

    /// Number of arguments not yet consumed.
    pub fn remaining(&self) -> usize {
        self.argv.len() - self.pos
    }

    pub fn has_more(&self) -> bool {
        self.pos < self.argv.len()
    }

    /// The arguments not yet consumed (does not consume them).
    pub fn rest(&self) -> &'a [Bytes] {
        &self.argv[self.pos..]
    }

    /// Consumes everything that is left.
    pub fn take_rest(&mut self) -> &'a [Bytes] {
        let r = &self.argv[self.pos..];
        self.pos = self.argv.len();
        r
    }

    pub fn peek(&self) -> Option<&'a Bytes> {
        self.argv.get(self.pos)
    }

    /// Next argument, or `ERR syntax error` when there is none.
    pub fn next_bytes(&mut self) -> Result<&'a Bytes, CmdError> {
        let b = self.argv.get(self.pos).ok_or(CmdError::Syntax)?;
        self.pos += 1;
        Ok(b)
    }

    /// Next argument as an i64 (`ERR value is not an integer or out of range`).
    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        parse_i64(self.next_bytes()?).ok_or(CmdError::NotInteger)
    }

    /// Next argument as a float (`ERR value is not a valid float`).
    pub fn next_f64(&mut self) -> Result<f64, CmdError> {
        parse_f64(self.next_bytes()?).ok_or(CmdError::NotFloat)
    }

    /// If the next argument equals `word` (ASCII case-insensitive), consumes it.
    pub fn eat(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(b) if b.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Next argument upper-cased as a `String` for option matching.
    pub fn next_upper(&mut self) -> Result<String, CmdError> {
        Ok(String::from_utf8_lossy(self.next_bytes()?).to_ascii_uppercase())
    }

    /// `ERR syntax error` if arguments are left over.
    pub fn finish(&self) -> Result<(), CmdError> {
        if self.has_more() {
            Err(CmdError::Syntax)
        } else {
            Ok(())
        }
    }
}

/// Parses an integer the way Redis's `string2ll` does: optional `-`, digits, no spaces, no
/// `+`, no leading zeros except "0", within i64.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    crate::value::parse_canonical_i64(b)
}

/// Parses a float the way Redis's `getDoubleFromObject` does (see `float.rs`).
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    super::float::parse_score(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_redis() {
        for (s, want) in [
            ("1.5", Some(1.5)),
            ("-2", Some(-2.0)),
            ("1e3", Some(1000.0)),
            ("inf", Some(f64::INFINITY)),
            ("-INF", Some(f64::NEG_INFINITY)),
            ("+inf", Some(f64::INFINITY)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("nan", None),
            ("1e400", None),
            ("0x10", Some(16.0)),
            ("", None),
            (" 1", None),
            ("1 ", None),
            ("abc", None),
        ] {
            assert_eq!(parse_f64(s.as_bytes()), want, "{s}");
        }
    }

    #[test]
    fn cursor() {
        let argv: Vec<Bytes> = ["SET", "k", "v", "EX", "10"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let mut a = Args::new(&argv);
        assert_eq!(a.next_bytes().unwrap(), "k");
        assert_eq!(a.next_bytes().unwrap(), "v");
        assert!(a.eat("ex"));
        assert_eq!(a.next_i64().unwrap(), 10);
        assert!(a.finish().is_ok());
        assert_eq!(a.next_bytes(), Err(CmdError::Syntax));
    }
}
