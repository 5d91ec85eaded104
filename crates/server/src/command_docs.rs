//! What COMMAND INFO and COMMAND DOCS say about a command beyond its [`Spec`]: its
//! documentation (summary, since, complexity, history, arguments), tips, key specs, and the
//! subcommands of containers (`config|get`), each with its own arity, flags and ACL
//! categories.
//!
//! The table is data, in `command_docs.json`: the facts (versions, argument names and
//! types, tokens, key specs, tips) are Redis 7.0's, read off redis-server; the prose
//! (summaries, complexity notes, history notes, key spec notes) is ours. It is parsed on
//! the first COMMAND that needs it.
//!
//! Key specs are Redis 7's description of where a command's keys are: a `begin_search`
//! step (a fixed index, or the argument after a keyword) and a `find_keys` step (a range
//! from there, or a count argument followed by that many keys). [`keys_with_flags`] runs
//! them for COMMAND GETKEYS[ANDFLAGS]; execution finds keys through the command's own
//! [`KeySpec`](ferrokv_store::cmd::KeySpec), and a test keeps the two in agreement.
//!
//! [`Spec`]: ferrokv_store::cmd::Spec

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use bytes::Bytes;
use serde::Deserialize;

/// One command's (or subcommand's) documentation and key specs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    pub summary: String,
    pub since: String,
    #[serde(default)]
    pub complexity: Option<String>,
    #[serde(default)]
    pub doc_flags: Vec<String>,
    #[serde(default)]
    pub deprecated_since: Option<String>,
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// (version, what changed).
    #[serde(default)]
    pub history: Vec<(String, String)>,
    #[serde(default)]
    pub arguments: Vec<Arg>,
    #[serde(default)]
    pub tips: Vec<String>,
    #[serde(default)]
    pub key_specs: Vec<KeySpecDoc>,
    /// A container's subcommands, in the order COMMAND lists them.
    #[serde(default)]
    pub subcommands: Vec<Sub>,
}

/// A subcommand: what its container's [`Spec`](ferrokv_store::cmd::Spec) says for a
/// top-level command, then its documentation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sub {
    /// Full name, `container|sub`.
    pub name: String,
    pub arity: i32,
    /// COMMAND INFO's flags, in Redis's order.
    pub flags: Vec<String>,
    /// ACL categories with their `@`, in Redis's order.
    pub acl: Vec<String>,
    /// The legacy (first, last, step) key triple, when it has keys.
    #[serde(default)]
    pub keys: Option<[i64; 3]>,
    #[serde(flatten)]
    pub doc: Doc,
}

/// A documented argument (COMMAND DOCS `arguments`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub key_spec_index: Option<i64>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub deprecated_since: Option<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    /// The alternatives of a `oneof`, the parts of a `block`.
    #[serde(default)]
    pub arguments: Vec<Arg>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpecDoc {
    #[serde(default)]
    pub notes: Option<String>,
    /// RO RW OW RM access update insert delete not_key incomplete variable_flags.
    pub flags: Vec<String>,
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

/// Where the search for a key spec's keys starts.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum BeginSearch {
    /// At this argument.
    Index {
        index: i64,
    },
    /// After the first `keyword`, looking from argument `startfrom` (from the end when
    /// negative).
    Keyword {
        keyword: String,
        startfrom: i64,
    },
    Unknown {},
}

/// How many keys follow the start.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum FindKeys {
    /// `[lastkey, keystep, limit]`: up to `lastkey` arguments on (counted from the end when
    /// negative; `limit` divides what remains), every `keystep`.
    Range {
        range: [i64; 3],
    },
    /// `[keynumidx, firstkey, keystep]`: the count is at `keynumidx` from the start, the keys
    /// start `firstkey` from it.
    Keynum {
        keynum: [i64; 3],
    },
    Unknown {},
}

static SOURCE: &str = include_str!("command_docs.json");

/// Every command's doc, by lower-case name.
pub fn all() -> &'static HashMap<String, Doc> {
    static DOCS: OnceLock<HashMap<String, Doc>> = OnceLock::new();
    DOCS.get_or_init(|| serde_json::from_str(SOURCE).expect("command_docs.json is valid"))
}

/// The doc of the top-level command `name` (lower case).
pub fn get(name: &str) -> Option<&'static Doc> {
    all().get(name)
}

/// The key arguments a write command `name` may change, when it also has keys it only
/// reads: `SINTERSTORE d a b` changes `d`, not `a` and `b`. WATCH and client caches are told
/// of those keys only, as Redis tells them. `None` when every key of the command may be
/// written (most commands) or its specs cannot be applied: the caller takes them all.
pub fn written_keys(name: &str, argv: &[Bytes]) -> Option<Vec<usize>> {
    static MIXED: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let mixed = MIXED.get_or_init(|| {
        let read_only = |s: &KeySpecDoc| s.flags.iter().any(|f| f == "RO");
        all()
            .iter()
            .filter(|(_, d)| {
                d.key_specs.iter().any(read_only) && !d.key_specs.iter().all(read_only)
            })
            .map(|(n, _)| n.as_str())
            .collect()
    });
    if !mixed.contains(name) {
        return None;
    }
    let keys = keys_with_flags(name, get(name)?, argv)?;
    Some(
        keys.into_iter()
            .filter(|(_, flags)| !flags.contains(&"RO"))
            .map(|(i, _)| i)
            .collect(),
    )
}

/// A key found by [`keys_with_flags`]: its argument index and its access flags.
pub type KeyRef = (usize, Vec<&'static str>);

/// The keys of `argv` (command name first) and their flags, as Redis 7.0 finds them for
/// COMMAND GETKEYS: by running `doc`'s key specs, except for a command whose flags depend on
/// its arguments (`variable_flags`), which says itself. Specs flagged `not_key` are
/// skipped; a spec that cannot be applied (an unknown step, a count that is not a
/// non-negative integer, keys past the end) makes the whole search fail with `None`.
pub fn keys_with_flags(name: &str, doc: &'static Doc, argv: &[Bytes]) -> Option<Vec<KeyRef>> {
    let variable = doc
        .key_specs
        .iter()
        .any(|s| s.flags.iter().any(|f| f == "variable_flags"));
    if variable {
        return variable_flag_keys(name, argv);
    }
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for spec in &doc.key_specs {
        if spec.flags.iter().any(|f| f == "not_key") {
            continue;
        }
        let mut first = match spec.begin_search {
            BeginSearch::Index { index } => index,
            BeginSearch::Keyword {
                ref keyword,
                startfrom,
            } => match keyword_position(argv, keyword, startfrom) {
                Some(i) => i + 1,
                None => continue,
            },
            BeginSearch::Unknown {} => return None,
        };
        let (last, step) = match spec.find_keys {
            FindKeys::Range {
                range: [lastkey, step, limit],
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, step)
            }
            FindKeys::Keynum {
                keynum: [idx, firstkey, step],
            } => {
                let at = usize::try_from(first + idx).ok()?;
                let n = ferrokv_store::cmd::parse_i64(argv.get(at)?).filter(|n| *n >= 0)?;
                first += firstkey;
                (first.saturating_add(n) - 1, step)
            }
            FindKeys::Unknown {} => return None,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return None;
        }
        let flags: Vec<&'static str> = spec.flags.iter().map(String::as_str).collect();
        let mut i = first;
        while i <= last {
            out.push((i as usize, flags.clone()));
            i += step;
        }
        if spec.flags.iter().any(|f| f == "incomplete") {
            return None;
        }
    }
    Some(out)
}

/// The keys of the commands whose key flags depend on their arguments. SET reads its key
/// only with GET (looked for anywhere after the value, as Redis does); BITFIELD only reads
/// it when it holds nothing but GETs and OVERFLOWs (see [`bitfield_only_reads`]).
fn variable_flag_keys(name: &str, argv: &[Bytes]) -> Option<Vec<KeyRef>> {
    match name {
        "bitfield" => {
            let flags = if bitfield_only_reads(argv) {
                vec!["RO", "access"]
            } else {
                vec!["RW", "access", "update"]
            };
            Some(vec![(1, flags)])
        }
        "set" => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            let flags = if get {
                vec!["RW", "access", "update"]
            } else {
                vec!["OW", "update"]
            };
            Some(vec![(1, flags)])
        }
        _ => None,
    }
}

/// Whether a BITFIELD line only reads, as Redis's `bitfieldGetKeys` scans it: complete GETs
/// and OVERFLOWs are skipped, and it stops at the first SET or INCRBY, or at anything it
/// cannot read (a syntax error counts as a write).
fn bitfield_only_reads(argv: &[Bytes]) -> bool {
    let mut i = 2;
    while i < argv.len() {
        let left = argv.len() - i - 1;
        let is = |w: &[u8]| argv[i].eq_ignore_ascii_case(w);
        if is(b"get") && left >= 2 {
            i += 3;
        } else if is(b"overflow") && left >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// The index of the first argument equal to `keyword` (any case). With `startfrom > 0`
/// the search runs forward from there and stops before the last argument; otherwise it
/// runs backward from `argc + startfrom` and stops before the first argument (a keyword
/// must have a key after it, and the command name before it).
fn keyword_position(argv: &[Bytes], keyword: &str, startfrom: i64) -> Option<i64> {
    let argc = argv.len() as i64;
    let hit = |i: i64| argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes());
    if startfrom > 0 {
        (startfrom..argc - 1).find(|&i| hit(i))
    } else {
        (2..(argc + startfrom + 1).min(argc))
            .rev()
            .find(|&i| hit(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands;

    fn argv(line: &str) -> Vec<Bytes> {
        ferrokv_proto::resp::split_args(line.as_bytes()).expect("balanced quotes")
    }

    #[test]
    fn every_command_and_subcommand_has_a_doc() {
        for c in commands::all() {
            let doc = get(c.name()).unwrap_or_else(|| panic!("no doc for {}", c.name()));
            let subs: Vec<&str> = doc.subcommands.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(
                subs,
                ferrokv_store::cmd::subcommands::names(c.name()),
                "{}",
                c.name()
            );
        }
        assert_eq!(all().len(), commands::all().count());
    }

    /// Execution finds keys through each command's `KeySpec`, COMMAND GETKEYS through the
    /// key specs here: on every command line of the differential scripts (those without
    /// quoting) that both can read, they name the same arguments.
    #[test]
    fn key_specs_agree_with_the_keys_commands_touch() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/e2e/scripts");
        let mut checked = 0;
        for file in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            for line in text.lines().map(str::trim) {
                let line = line
                    .strip_prefix("!unordered ")
                    .or_else(|| line.strip_prefix("!shape "))
                    .unwrap_or(line);
                if line.is_empty() || line.starts_with('#') || line.contains(['"', '\'']) {
                    continue;
                }
                let argv = argv(line);
                let Some(c) = commands::lookup(&argv[0]) else {
                    continue;
                };
                let doc = get(c.name()).unwrap();
                if !doc.subcommands.is_empty() || !c.arity_ok(argv.len()) {
                    continue;
                }
                let Some(found) = keys_with_flags(c.name(), doc, &argv) else {
                    continue;
                };
                let by_spec: Vec<usize> = found.into_iter().map(|(i, _)| i).collect();
                assert_eq!(by_spec, c.keys().key_indices(&argv), "{line}");
                checked += 1;
            }
        }
        assert!(checked > 1000, "only {checked} lines checked");
    }

    #[test]
    fn key_specs_find_keys_as_redis_does() {
        let keys = |line: &str| {
            let argv = argv(line);
            let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
            keys_with_flags(&name, get(&name).unwrap(), &argv)
                .map(|k| k.into_iter().map(|(i, _)| i).collect::<Vec<_>>())
        };
        assert_eq!(keys("SET a b"), Some(vec![1]));
        assert_eq!(keys("MSET a 1 b 2"), Some(vec![1, 3]));
        assert_eq!(keys("ZUNIONSTORE d 2 a b WEIGHTS 1 2"), Some(vec![1, 3, 4]));
        assert_eq!(keys("BLPOP a b c 0"), Some(vec![1, 2, 3]));
        assert_eq!(keys("LMPOP 2 a b LEFT"), Some(vec![2, 3]));
        assert_eq!(keys("SINTERCARD x a"), None);
        assert_eq!(keys("ZUNIONSTORE d 5 a"), None);
    }

    #[test]
    fn bitfield_key_flags_follow_its_operations() {
        let flags = |line: &str| {
            keys_with_flags("bitfield", get("bitfield").unwrap(), &argv(line))
                .map(|k| k.into_iter().map(|(_, f)| f).collect::<Vec<_>>())
        };
        let ro = Some(vec![vec!["RO", "access"]]);
        let rw = Some(vec![vec!["RW", "access", "update"]]);
        assert_eq!(flags("BITFIELD k"), ro);
        assert_eq!(flags("BITFIELD k GET u8 0 OVERFLOW SAT get i4 #2"), ro);
        assert_eq!(flags("BITFIELD k GET u8 0 INCRBY u8 0 1"), rw);
        assert_eq!(flags("BITFIELD k GET u8"), rw);
        assert_eq!(flags("BITFIELD k OVERFLOW"), rw);
    }
}
