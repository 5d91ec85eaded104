//! COMMAND: the command table as clients read it (COUNT, LIST, INFO, DOCS, GETKEYS,
//! GETKEYSANDFLAGS). What a command's `Spec` says (arity, flags, key range, ACL categories)
//! comes from [`commands`]; docs, tips, key specs and subcommands from [`command_docs`].

use bytes::Bytes;
use ferrokv_proto::resp::Frame;
use ferrokv_store::cmd::{CmdError, FLAG_NAMES};
use ferrokv_store::glob::glob_match_case;

use crate::client::ClientId;
use crate::command_docs::{self, Arg, BeginSearch, Doc, FindKeys, KeySpecDoc, Sub};
use crate::commands::{self, Command};
use crate::node::Node;

/// A command or a subcommand, as COMMAND INFO, DOCS and LIST name them.
#[derive(Clone, Copy)]
enum Entry {
    Top(Command),
    Sub(Command, &'static Sub),
}

impl Entry {
    fn name(self) -> &'static str {
        match self {
            Entry::Top(c) => c.name(),
            Entry::Sub(_, s) => &s.name,
        }
    }

    fn doc(self) -> &'static Doc {
        match self {
            Entry::Top(c) => doc_of(c),
            Entry::Sub(_, s) => &s.doc,
        }
    }

    fn acl_categories(self) -> Vec<&'static str> {
        match self {
            Entry::Top(c) => commands::acl_categories(c),
            Entry::Sub(_, s) => s.acl.iter().map(|a| a.trim_start_matches('@')).collect(),
        }
    }
}

fn doc_of(c: Command) -> &'static Doc {
    command_docs::get(c.name()).expect("every command has a doc (tested)")
}

fn subcommands(c: Command) -> impl Iterator<Item = Entry> {
    doc_of(c).subcommands.iter().map(move |s| Entry::Sub(c, s))
}

/// `name`, or `container|sub`, in any letter case.
fn lookup(name: &[u8]) -> Option<Entry> {
    match name.iter().position(|&b| b == b'|') {
        None => commands::lookup(name).map(Entry::Top),
        Some(bar) => {
            let c = commands::lookup(&name[..bar])?;
            subcommands(c).find(|e| e.name().as_bytes().eq_ignore_ascii_case(name))
        }
    }
}

/// Every command, each followed by its subcommands (COMMAND LIST's order).
fn every_entry() -> impl Iterator<Item = Entry> {
    commands::all().flat_map(|c| std::iter::once(Entry::Top(c)).chain(subcommands(c)))
}

fn bulk(s: &'static str) -> Frame {
    Frame::bulk(s)
}

fn bulks_set(items: &'static [String]) -> Frame {
    Frame::Set(items.iter().map(|s| bulk(s)).collect())
}

fn simples_set<'a>(items: impl IntoIterator<Item = &'a str>) -> Frame {
    Frame::Set(
        items
            .into_iter()
            .map(|s| Frame::Simple(Bytes::copy_from_slice(s.as_bytes())))
            .collect(),
    )
}

fn map(pairs: Vec<(&'static str, Frame)>) -> Frame {
    Frame::Map(pairs.into_iter().map(|(k, v)| (bulk(k), v)).collect())
}

// ---- COMMAND INFO ---------------------------------------------------------------------

fn info(e: Entry) -> Frame {
    let doc = e.doc();
    let (arity, flags, (first, last, step)) = match e {
        Entry::Top(c) => {
            let bits = commands::info_flags(c);
            let names = FLAG_NAMES
                .iter()
                .filter(|(bit, _)| bits & bit != 0)
                .map(|(_, n)| *n);
            (c.arity(), simples_set(names), c.keys().legacy_triple())
        }
        Entry::Sub(_, s) => {
            let [first, last, step] = s.keys.unwrap_or_default();
            (
                s.arity,
                simples_set(s.flags.iter().map(String::as_str)),
                (first, last, step),
            )
        }
    };
    Frame::Array(vec![
        bulk(e.name()),
        Frame::Integer(arity as i64),
        flags,
        Frame::Integer(first),
        Frame::Integer(last),
        Frame::Integer(step),
        simples_set(
            e.acl_categories()
                .into_iter()
                .map(|c| format!("@{c}"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        ),
        bulks_set(&doc.tips),
        Frame::Set(doc.key_specs.iter().map(key_spec).collect()),
        match e {
            Entry::Top(c) => Frame::Array(subcommands(c).map(info).collect()),
            Entry::Sub(..) => Frame::Set(vec![]),
        },
    ])
}

fn key_spec(spec: &'static KeySpecDoc) -> Frame {
    let int = Frame::Integer;
    let begin = match &spec.begin_search {
        BeginSearch::Index { index } => ("index", map(vec![("index", int(*index))])),
        BeginSearch::Keyword { keyword, startfrom } => (
            "keyword",
            map(vec![
                ("keyword", bulk(keyword)),
                ("startfrom", int(*startfrom)),
            ]),
        ),
        BeginSearch::Unknown {} => ("unknown", map(vec![])),
    };
    let find = match spec.find_keys {
        FindKeys::Range {
            range: [lastkey, keystep, limit],
        } => (
            "range",
            map(vec![
                ("lastkey", int(lastkey)),
                ("keystep", int(keystep)),
                ("limit", int(limit)),
            ]),
        ),
        FindKeys::Keynum {
            keynum: [keynumidx, firstkey, keystep],
        } => (
            "keynum",
            map(vec![
                ("keynumidx", int(keynumidx)),
                ("firstkey", int(firstkey)),
                ("keystep", int(keystep)),
            ]),
        ),
        FindKeys::Unknown {} => ("unknown", map(vec![])),
    };
    let step =
        |(kind, spec): (&'static str, Frame)| map(vec![("type", bulk(kind)), ("spec", spec)]);
    let mut out = Vec::new();
    if let Some(notes) = &spec.notes {
        out.push(("notes", bulk(notes)));
    }
    out.push(("flags", simples_set(spec.flags.iter().map(String::as_str))));
    out.push(("begin_search", step(begin)));
    out.push(("find_keys", step(find)));
    map(out)
}

// ---- COMMAND DOCS ---------------------------------------------------------------------

fn docs(e: Entry, group: &'static str) -> Frame {
    let doc = e.doc();
    let mut out = vec![
        ("summary", bulk(&doc.summary)),
        ("since", bulk(&doc.since)),
        ("group", bulk(group)),
    ];
    if let Some(c) = &doc.complexity {
        out.push(("complexity", bulk(c)));
    }
    if !doc.doc_flags.is_empty() {
        out.push((
            "doc_flags",
            simples_set(doc.doc_flags.iter().map(String::as_str)),
        ));
    }
    if let Some(v) = &doc.deprecated_since {
        out.push(("deprecated_since", bulk(v)));
    }
    if let Some(v) = &doc.replaced_by {
        out.push(("replaced_by", bulk(v)));
    }
    if !doc.history.is_empty() {
        let history = doc
            .history
            .iter()
            .map(|(v, what)| Frame::Array(vec![bulk(v), bulk(what)]));
        out.push(("history", Frame::Set(history.collect())));
    }
    if !doc.arguments.is_empty() {
        out.push(("arguments", arguments(&doc.arguments)));
    }
    if let Entry::Top(c) = e {
        if !doc.subcommands.is_empty() {
            let subs = subcommands(c).map(|s| (bulk(s.name()), docs(s, group)));
            out.push(("subcommands", Frame::Map(subs.collect())));
        }
    }
    map(out)
}

fn arguments(args: &'static [Arg]) -> Frame {
    Frame::Array(
        args.iter()
            .map(|a| {
                let mut out = vec![("name", bulk(&a.name)), ("type", bulk(&a.kind))];
                if let Some(i) = a.key_spec_index {
                    out.push(("key_spec_index", Frame::Integer(i)));
                }
                for (field, value) in [
                    ("token", &a.token),
                    ("summary", &a.summary),
                    ("since", &a.since),
                    ("deprecated_since", &a.deprecated_since),
                ] {
                    if let Some(v) = value {
                        out.push((field, bulk(v)));
                    }
                }
                if !a.flags.is_empty() {
                    out.push(("flags", simples_set(a.flags.iter().map(String::as_str))));
                }
                if a.kind == "oneof" || a.kind == "block" {
                    out.push(("arguments", arguments(&a.arguments)));
                }
                map(out)
            })
            .collect(),
    )
}

// ---- COMMAND GETKEYS -------------------------------------------------------------------

/// The command `target` runs: a container's subcommand when there is one to name.
fn target_entry(target: &[Bytes]) -> Option<Entry> {
    let c = commands::lookup(&target[0])?;
    if target.len() == 1 || doc_of(c).subcommands.is_empty() {
        return Some(Entry::Top(c));
    }
    let full = [c.name().as_bytes(), b"|", &target[1]].concat();
    lookup(&full)
}

fn getkeys(target: &[Bytes], with_flags: bool) -> Result<Frame, CmdError> {
    let Some(e) = target_entry(target) else {
        return Err(CmdError::msg("Invalid command specified"));
    };
    let doc = e.doc();
    let has_keys = doc
        .key_specs
        .iter()
        .any(|s| !s.flags.iter().any(|f| f == "not_key"));
    if !has_keys {
        return Err(CmdError::msg("The command has no key arguments"));
    }
    let arity = match e {
        Entry::Top(c) => c.arity(),
        Entry::Sub(_, s) => s.arity,
    };
    let n = target.len() as i32;
    if (arity > 0 && arity != n) || n < -arity {
        return Err(CmdError::msg(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys = command_docs::keys_with_flags(e.name(), doc, target).unwrap_or_default();
    if keys.is_empty() {
        return Err(CmdError::msg("Invalid arguments specified for command"));
    }
    Ok(Frame::Array(
        keys.into_iter()
            .map(|(i, flags)| {
                let key = Frame::Bulk(target[i].clone());
                if with_flags {
                    Frame::Array(vec![key, simples_set(flags)])
                } else {
                    key
                }
            })
            .collect(),
    ))
}

// ---- COMMAND LIST ---------------------------------------------------------------------

/// Whether `e` passes `FILTERBY <kind> <arg>` (`kind` in lower case). A category that does
/// not exist and any module match nothing.
fn passes(e: Entry, kind: &[u8], arg: &[u8]) -> bool {
    match kind {
        b"pattern" => glob_match_case(arg, e.name().as_bytes(), true),
        b"aclcat" => e
            .acl_categories()
            .iter()
            .any(|c| c.as_bytes().eq_ignore_ascii_case(arg)),
        _ => false,
    }
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Print this help.",
];

pub fn command(_node: &mut Node, _: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let all_info = || Frame::Array(commands::all().map(|c| info(Entry::Top(c))).collect());
    if argv.len() == 1 {
        return Ok(all_info());
    }
    let sub = argv[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"help" if argv.len() == 2 => Ok(crate::cmd_server::help(COMMAND_HELP)),
        b"count" if argv.len() == 2 => Ok(Frame::Integer(commands::all().count() as i64)),
        b"list" => {
            let filter = match argv.len() {
                2 => None,
                5 if argv[2].eq_ignore_ascii_case(b"filterby") => {
                    Some((argv[3].to_ascii_lowercase(), &argv[4]))
                }
                _ => return Err(CmdError::Syntax),
            };
            let names = every_entry()
                .filter(|e| filter.as_ref().is_none_or(|(k, v)| passes(*e, k, v)))
                .map(|e| bulk(e.name()))
                .collect();
            Ok(Frame::Array(names))
        }
        b"info" if argv.len() == 2 => Ok(all_info()),
        b"info" => Ok(Frame::Array(
            argv[2..]
                .iter()
                .map(|n| lookup(n).map_or(Frame::Null, info))
                .collect(),
        )),
        b"docs" => {
            let entries: Vec<Entry> = if argv.len() == 2 {
                commands::all().map(Entry::Top).collect()
            } else {
                argv[2..].iter().filter_map(|n| lookup(n)).collect()
            };
            let docs = entries.into_iter().map(|e| {
                let top = match e {
                    Entry::Top(c) | Entry::Sub(c, _) => c,
                };
                (bulk(e.name()), docs(e, commands::group(top)))
            });
            Ok(Frame::Map(docs.collect()))
        }
        b"getkeys" | b"getkeysandflags" if argv.len() >= 4 => {
            getkeys(&argv[2..], sub.as_slice() == b"getkeysandflags")
        }
        _ => Err(commands::subcommand_error(argv, "command")),
    }
}
