//! Redis-style glob matching (`KEYS`, `SCAN MATCH`, `PSUBSCRIBE`, `CONFIG GET`).
//!
//! Supports `*`, `?`, `[abc]`, `[^abc]`, `[a-z]` and `\x` escapes, on bytes, with the same
//! edge cases as Redis's matcher: an unterminated `[` class matches up to the end of the
//! pattern, `\` at the end of the pattern matches a literal `\`, and ranges may be given in
//! either order. Matching is iterative with one backtrack point per `*`, so patterns like
//! `a*a*a*a*b` cannot blow up.

/// Returns true if `text` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    glob_match_case(pattern, text, false)
}

/// Like [`glob_match`], optionally ignoring ASCII case.
pub fn glob_match_case(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0usize, 0usize);
    // Where to resume after the most recent `*`: (pattern index after '*', text index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                b'?' if t < text.len() => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' if t < text.len() && match_class(pattern, p, text[t], nocase).0 => {
                    p = match_class(pattern, p, text[t], nocase).1;
                    t += 1;
                    continue;
                }
                b'\\' if t < text.len() => {
                    let lit = if p + 1 < pattern.len() {
                        p += 1;
                        pattern[p]
                    } else {
                        b'\\'
                    };
                    if eq(lit, text[t]) {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if t < text.len() && c != b'?' && c != b'[' && c != b'\\' && eq(c, text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        } else if t == text.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more byte, if there is one.
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

/// Matches one byte against the class starting at `pattern[start] == b'['`.
/// Returns (matched, index just past the class).
fn match_class(pattern: &[u8], start: usize, c: u8, nocase: bool) -> (bool, usize) {
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let c = fold(c);
    let mut i = start + 1;
    let negate = i < pattern.len() && pattern[i] == b'^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        if i >= pattern.len() {
            // Unterminated class: Redis treats the end of the pattern as its end.
            break;
        }
        let b = pattern[i];
        if b == b']' {
            i += 1;
            break;
        }
        if b == b'\\' && i + 1 < pattern.len() {
            i += 1;
            if fold(pattern[i]) == c {
                matched = true;
            }
            i += 1;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' {
            let (mut lo, mut hi) = (fold(b), fold(pattern[i + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            if c >= lo && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if fold(b) == c {
                matched = true;
            }
            i += 1;
        }
    }
    (matched != negate, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("user:*", "user:1", true),
            ("user:*", "users", false),
            ("", "", true),
            ("", "a", false),
            ("abc", "abc", true),
            ("ab[", "abc", false),
            ("*x", "abx", true),
            ("*?", "", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(p.as_bytes(), t.as_bytes()), *want, "{p} vs {t}");
        }
        assert!(glob_match_case(b"HELLO*", b"hello world", true));
    }
}
