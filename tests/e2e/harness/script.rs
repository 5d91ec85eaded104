//! Differential scripts: `tests/e2e/scripts/*.redis`, one command per line.
//!
//! ```text
//! # comment; blank lines are ignored
//! SET k "a value\twith escapes\x00"
//! !unordered SMEMBERS s        compare array replies as multisets
//! !shape SRANDMEMBER s 2       compare only the reply kind and array length
//! ```
//!
//! Arguments are split the way `redis-cli` splits them (Redis's `sdssplitargs`): double
//! quotes with `\n \r \t \b \a \" \\ \xHH`, single quotes with `\'`, and a closing quote
//! must be followed by a space or the end of the line.

/// How the replies to one line are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Raw reply bytes equal.
    Exact,
    /// Arrays, sets and maps are compared as multisets, recursively.
    Unordered,
    /// Only the top-level reply kind and, for aggregates and nils, the length.
    Shape,
}

/// One command of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: usize,
    /// The command as written, without the `!mode ` prefix.
    pub text: String,
    pub compare: Compare,
    pub argv: Vec<Vec<u8>>,
}

/// Parses a whole script. Errors name the line.
pub fn parse_script(text: &str) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (compare, command) = if let Some(rest) = trimmed.strip_prefix("!unordered ") {
            (Compare::Unordered, rest.trim_start())
        } else if let Some(rest) = trimmed.strip_prefix("!shape ") {
            (Compare::Shape, rest.trim_start())
        } else if trimmed.starts_with('!') {
            return Err(format!("line {number}: unknown directive in {trimmed:?}"));
        } else {
            (Compare::Exact, trimmed)
        };
        let argv = split_args(command).map_err(|e| format!("line {number}: {e}"))?;
        if argv.is_empty() {
            return Err(format!("line {number}: no command after the directive"));
        }
        lines.push(Line {
            number,
            text: command.to_owned(),
            compare,
            argv,
        });
    }
    Ok(lines)
}

/// Splits a command line like `redis-cli` does (Redis's `sdssplitargs`, shared with the
/// server's inline requests).
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    ferrokv_proto::resp::split_args(line.as_bytes())
        .map(|args| args.into_iter().map(|a| a.to_vec()).collect())
        .ok_or_else(|| "unbalanced quotes".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<Vec<u8>> {
        split_args(line).unwrap()
    }

    #[test]
    fn splits_like_redis_cli() {
        let table: &[(&str, &[&[u8]])] = &[
            ("SET a b", &[b"SET", b"a", b"b"]),
            ("  GET   a  ", &[b"GET", b"a"]),
            (r#"SET "a b" c"#, &[b"SET", b"a b", b"c"]),
            (
                r#"SET k "x\n\r\t\"\\\x41\x4a""#,
                &[b"SET", b"k", b"x\n\r\t\"\\AJ"],
            ),
            (r#"SET k "\xzz""#, &[b"SET", b"k", b"xzz"]),
            (r"SET k '\'a\n'", &[b"SET", b"k", b"'a\\n"]),
            (r#"SET k """#, &[b"SET", b"k", b""]),
            (r#"ab"c d""#, &[b"abc d"]),
            ("", &[]),
        ];
        for (line, want) in table {
            let want: Vec<Vec<u8>> = want.iter().map(|a| a.to_vec()).collect();
            assert_eq!(split(line), want, "{line}");
        }
    }

    #[test]
    fn rejects_bad_quotes() {
        for bad in [r#"SET "a"#, "SET 'a", r#"SET "a"b"#, "SET 'a'b"] {
            assert!(split_args(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn script_directives_and_comments() {
        let script = "# c\n\nSET a 1\n!unordered SMEMBERS s\n  !shape  RANDOMKEY\n";
        let lines = parse_script(script).unwrap();
        let got: Vec<(usize, Compare, &str)> = lines
            .iter()
            .map(|l| (l.number, l.compare, l.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (3, Compare::Exact, "SET a 1"),
                (4, Compare::Unordered, "SMEMBERS s"),
                (5, Compare::Shape, "RANDOMKEY")
            ]
        );
        assert!(parse_script("!sorted X").unwrap_err().contains("line 1"));
        assert!(parse_script("SET \"a").unwrap_err().contains("line 1"));
    }
}
