//! The node's command registry: node commands (connection, server, transactions, pub/sub)
//! and the keyspace table from `ferrokv_store::cmd`, behind one lookup.

use bytes::Bytes;
use ferrokv_proto::resp::Frame;
use ferrokv_store::cmd::{self as store_cmd, CmdError, KeySpec, Spec};

use crate::client::ClientId;
use crate::node::Node;
use crate::{bgsave, cmd_conn, cmd_multi, cmd_server, pubsub};

/// A node command: runs with the whole node and the calling client's id.
pub type NodeHandler = fn(&mut Node, ClientId, &[Bytes]) -> Result<Frame, CmdError>;

#[derive(Clone, Copy)]
pub enum Command {
    Node(&'static Spec<NodeHandler>),
    Store(&'static Spec<store_cmd::Handler>),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Node(s) => s.name,
            Command::Store(s) => s.name,
        }
    }

    pub fn flags(&self) -> u32 {
        match self {
            Command::Node(s) => s.flags,
            Command::Store(s) => s.flags,
        }
    }

    pub fn arity(&self) -> i32 {
        match self {
            Command::Node(s) => s.arity,
            Command::Store(s) => s.arity,
        }
    }

    pub fn keys(&self) -> KeySpec {
        match self {
            Command::Node(s) => s.keys,
            Command::Store(s) => s.keys,
        }
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        match self {
            Command::Node(s) => s.arity_ok(argc),
            Command::Store(s) => s.arity_ok(argc),
        }
    }
}

/// The node's command families, with the group Redis files their commands under.
static NODE_FAMILIES: &[(&str, &[Spec<NodeHandler>])] = &[
    ("connection", cmd_conn::COMMANDS),
    ("transactions", cmd_multi::COMMANDS),
    ("pubsub", pubsub::COMMANDS),
    ("server", cmd_server::COMMANDS),
    ("server", bgsave::COMMANDS),
    ("server", crate::rdb_file::COMMANDS),
    ("server", crate::replication::COMMANDS),
    ("server", crate::failover::COMMANDS),
    ("server", crate::aof::COMMANDS),
];

pub fn all() -> impl Iterator<Item = Command> {
    NODE_FAMILIES
        .iter()
        .flat_map(|(_, f)| f.iter())
        .map(Command::Node)
        .chain(store_cmd::all().map(Command::Store))
}

/// Commands Redis files (COMMAND DOCS) under another group than the family that implements
/// them here.
const GROUP_EXCEPTIONS: &[(&str, &str)] = &[
    ("dbsize", "server"),
    ("flushall", "server"),
    ("flushdb", "server"),
    ("swapdb", "server"),
    ("wait", "generic"),
];

/// The group of the family that implements `c` (its ACL category follows from it).
fn family_group(c: Command) -> &'static str {
    match c {
        Command::Node(spec) => store_cmd::family_of(NODE_FAMILIES, spec).unwrap_or("server"),
        Command::Store(spec) => store_cmd::family_group(spec),
    }
}

/// The group COMMAND DOCS reports for `c` (`string`, `list`, `generic`, `server`, ...).
pub fn group(c: Command) -> &'static str {
    GROUP_EXCEPTIONS
        .iter()
        .find(|(n, _)| *n == c.name())
        .map_or_else(|| family_group(c), |(_, g)| g)
}

/// ACL categories in the order COMMAND INFO lists them (Redis's category table).
const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Categories Redis gives a command beyond what its group and flags imply.
const EXTRA_CATEGORIES: &[(&str, &[&str])] = &[
    ("command", &["connection"]),
    ("wait", &["connection"]),
    ("flushall", &["dangerous"]),
    ("flushdb", &["dangerous"]),
    ("swapdb", &["dangerous"]),
    ("keys", &["dangerous"]),
    ("restore", &["dangerous"]),
    ("info", &["dangerous"]),
    ("lastsave", &["admin", "dangerous"]),
    ("role", &["admin", "dangerous"]),
];

/// The flags COMMAND INFO shows for `c`: none for a container (its subcommands carry
/// them), `movablekeys` added when its keys move with its arguments.
pub fn info_flags(c: Command) -> u32 {
    if is_container(c.name()) {
        // COMMAND declares `loading stale` on the container itself; the others declare none.
        return match c.name() {
            "command" => store_cmd::LOADING | store_cmd::STALE,
            _ => 0,
        };
    }
    match c.keys() {
        KeySpec::Movable(_) | KeySpec::DestThenMovable(_) => c.flags() | store_cmd::MOVABLE_KEYS,
        _ => c.flags(),
    }
}

/// `c`'s ACL categories, in [`CATEGORIES`] order: its family's category, the ones its flags
/// imply (as Redis derives them: write, read, admin and dangerous, pubsub, fast or else
/// slow, blocking), and any listed in [`EXTRA_CATEGORIES`]. A container has only `@slow`
/// (and its extras): the rest belongs to its subcommands.
pub fn acl_categories(c: Command) -> Vec<&'static str> {
    let mut set: Vec<&str> = Vec::new();
    let container = is_container(c.name());
    let by_group = match family_group(c) {
        "generic" => Some("keyspace"),
        "string" => Some("string"),
        "bitmap" => Some("bitmap"),
        "list" => Some("list"),
        "hash" => Some("hash"),
        "set" => Some("set"),
        "sorted-set" => Some("sortedset"),
        "connection" => Some("connection"),
        "transactions" => Some("transaction"),
        "pubsub" => Some("pubsub"),
        _ => None,
    };
    let f = if container { 0 } else { c.flags() };
    if !container {
        set.extend(by_group);
    }
    for (bit, cats) in [
        (store_cmd::WRITE, &["write"][..]),
        (store_cmd::READONLY, &["read"][..]),
        (store_cmd::ADMIN, &["admin", "dangerous"][..]),
        (store_cmd::PUBSUB, &["pubsub"][..]),
        (store_cmd::FAST, &["fast"][..]),
        (store_cmd::BLOCKING, &["blocking"][..]),
    ] {
        if f & bit != 0 {
            set.extend(cats);
        }
    }
    if f & store_cmd::FAST == 0 {
        set.push("slow");
    }
    if let Some((_, extra)) = EXTRA_CATEGORIES.iter().find(|(n, _)| *n == c.name()) {
        set.extend(*extra);
    }
    CATEGORIES
        .iter()
        .copied()
        .filter(|cat| set.contains(cat))
        .collect()
}

/// Looks a command up by name, in any letter case.
///
/// Pipelines and benchmarks send the same command many times in a row, so the last name
/// found (as sent, up to [`CACHED_NAME`] bytes) is remembered and compared first: a few
/// instructions instead of lowering and hashing the name.
pub fn lookup(name: &[u8]) -> Option<Command> {
    use std::cell::Cell;
    thread_local! {
        static LAST: Cell<Option<([u8; CACHED_NAME], usize, Command)>> = const { Cell::new(None) };
    }
    if let Some((buf, len, cmd)) = LAST.get() {
        if name == &buf[..len] {
            return Some(cmd);
        }
    }
    let found = lookup_uncached(name);
    if let Some(cmd) = found {
        if name.len() <= CACHED_NAME {
            let mut buf = [0u8; CACHED_NAME];
            buf[..name.len()].copy_from_slice(name);
            LAST.set(Some((buf, name.len(), cmd)));
        }
    }
    found
}

/// Longest command name [`lookup`] remembers.
const CACHED_NAME: usize = 16;

fn lookup_uncached(name: &[u8]) -> Option<Command> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    // Keyed by bytes: the lowered name is looked up without a UTF-8 check.
    static INDEX: OnceLock<HashMap<&'static [u8], Command, ahash::RandomState>> = OnceLock::new();
    let index = INDEX.get_or_init(|| all().map(|c| (c.name().as_bytes(), c)).collect());
    if name.len() > 32 {
        return None;
    }
    let mut lower = [0u8; 32];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index.get(&*lower).copied()
}

pub use ferrokv_store::cmd::subcommands::{is_container, stat_name, subcommand_error};

/// The error of a command that parses its subcommands itself (DEBUG; Redis's
/// `addReplySubcommandSyntaxError`): `unknown subcommand or wrong number of arguments for
/// 'x'. Try DEBUG HELP.`, the subcommand as typed (at most 128 bytes).
pub fn subcommand_syntax_error(argv: &[Bytes], cmd: &str) -> CmdError {
    let sub = argv.get(1).map_or(&[][..], |s| &s[..s.len().min(128)]);
    CmdError::msg_owned(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        cmd.to_ascii_uppercase()
    ))
}

/// Commands that run (instead of being queued) inside MULTI.
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Commands a RESP2 client may send while subscribed.
pub fn allowed_in_pubsub(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

#[cfg(test)]
mod tests {
    use super::lookup;

    #[test]
    fn lookup_is_case_insensitive_and_the_cache_never_answers_for_another_name() {
        let name = |n: &[u8]| lookup(n).map(|c| c.name());
        for _ in 0..3 {
            assert_eq!(name(b"GET"), Some("get"));
            assert_eq!(name(b"GET"), Some("get"));
            assert_eq!(name(b"get"), Some("get"));
            assert_eq!(name(b"GETX"), None);
            assert_eq!(name(b"GE"), None);
            assert_eq!(name(b"Set"), Some("set"));
            assert_eq!(name(b"zrangebyscore"), Some("zrangebyscore"));
            assert_eq!(name(b"ZREVRANGEBYSCORE"), Some("zrevrangebyscore"));
            assert_eq!(name(b""), None);
            assert_eq!(name(&[b'g'; 40]), None);
        }
    }
}
