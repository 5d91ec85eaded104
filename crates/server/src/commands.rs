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

static NODE_FAMILIES: &[&[Spec<NodeHandler>]] = &[
    cmd_conn::COMMANDS,
    cmd_multi::COMMANDS,
    pubsub::COMMANDS,
    cmd_server::COMMANDS,
    bgsave::COMMANDS,
    crate::rdb_file::COMMANDS,
    crate::replication::COMMANDS,
    crate::failover::COMMANDS,
    crate::aof::COMMANDS,
];

pub fn all() -> impl Iterator<Item = Command> {
    NODE_FAMILIES
        .iter()
        .flat_map(|f| f.iter())
        .map(Command::Node)
        .chain(store_cmd::all().map(Command::Store))
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

pub use ferrokv_store::cmd::subcommands::{stat_name, subcommand_error};

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
