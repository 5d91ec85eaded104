//! Command execution: one static table says what every keyspace command *is*; the family
//! files (`string.rs`, `bitmap.rs`, `keys.rs`, `list.rs`, `hash.rs`, `set.rs`, `zset.rs`)
//! say what each one *does*.
//!
//! A handler is a plain synchronous function `fn(&mut Ctx, &mut Args) -> Result<Executed,
//! CmdError>`. It never touches a socket; it returns the reply and the *propagation form* of
//! the write (what replicas and the AOF must execute to reach the same state):
//!
//! - `Propagate::Nothing`: reads, failed or no-op writes.
//! - `Propagate::AsIs`: the command is deterministic as sent.
//! - `Propagate::Rewritten(cmds)`: e.g. `EXPIRE k 10` becomes `PEXPIREAT k <abs-ms>`,
//!   `SPOP k` becomes `SREM k m`. Several commands are wrapped in MULTI/EXEC by the node.
//!
//! Dispatch, arity errors, `COMMAND` output, read-only checks on replicas, WATCH and
//! blocking-key wake-ups all read the table (`Spec`): nobody matches on command names.
//!
//! Connection and server commands (`SELECT`, `CLIENT`, `CONFIG`, `INFO`, `MULTI`, pub/sub...)
//! live in the server crate, with the same [`Spec`] shape and another handler type.

mod args;
pub mod bitmap;
pub mod dump;
mod error;
pub mod float;
pub mod hash;
pub mod keys;
pub mod list;
pub mod long_double;
pub mod set;
pub mod string;
pub mod subcommands;
pub mod zset;

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};
use rand::rngs::SmallRng;

pub use args::{parse_f64, parse_i64, Args};
pub use error::CmdError;

use crate::keyspace::{Keyspace, Reads};
use crate::value::{HashValue, ListValue, SetValue, Value, ZSetValue};
use long_double::LongDouble;

// ---- flags (names as `COMMAND INFO` prints them) -------------------------------------------

pub const WRITE: u32 = 1 << 0;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const ADMIN: u32 = 1 << 3;
pub const PUBSUB: u32 = 1 << 4;
pub const NOSCRIPT: u32 = 1 << 5;
pub const BLOCKING: u32 = 1 << 6;
pub const LOADING: u32 = 1 << 7;
pub const STALE: u32 = 1 << 8;
pub const SKIP_MONITOR: u32 = 1 << 9;
pub const FAST: u32 = 1 << 10;
pub const NO_AUTH: u32 = 1 << 11;
pub const MAY_REPLICATE: u32 = 1 << 12;
pub const NO_MULTI: u32 = 1 << 13;
pub const ALLOW_BUSY: u32 = 1 << 14;
pub const SKIP_SLOWLOG: u32 = 1 << 15;
pub const NO_ASYNC_LOADING: u32 = 1 << 16;
/// Never set in a table: COMMAND INFO adds it for commands whose keys move with their
/// arguments ([`KeySpec::Movable`], [`KeySpec::DestThenMovable`]), as Redis derives
/// `movablekeys`.
pub const MOVABLE_KEYS: u32 = 1 << 17;
/// Not a Redis flag: the command rewrites every key of a database (FLUSHDB, SWAPDB...), so
/// WATCH and blocked clients treat all keys as touched.
pub const TOUCHES_ALL: u32 = 1 << 20;
/// Not a Redis flag: a container command (CLIENT, CONFIG, ...) whose subcommands all carry
/// `stale` in Redis, so it runs on a replica whose link is down even with
/// `replica-serve-stale-data no`. Not printed by `COMMAND INFO` (Redis shows no flags there).
pub const STALE_SUBCOMMANDS: u32 = 1 << 21;

/// The flags COMMAND INFO prints, in Redis 7.0's order (`may_replicate` is hidden there on
/// purpose).
pub const FLAG_NAMES: &[(u32, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (NO_ASYNC_LOADING, "no_async_loading"),
    (NO_MULTI, "no_multi"),
    (MOVABLE_KEYS, "movablekeys"),
    (ALLOW_BUSY, "allow_busy"),
];

/// Where a command's keys are in its argv (Redis's legacy first/last/step triple, with
/// `last = -1` meaning "up to the last argument"), or a function for commands whose keys
/// depend on the arguments (`numkeys` forms).
#[derive(Clone, Copy)]
pub enum KeySpec {
    None,
    Range {
        first: i32,
        last: i32,
        step: i32,
    },
    Movable(fn(&[Bytes]) -> Vec<usize>),
    /// A destination key at argument 1, then keys that move with the arguments (the
    /// `*STORE` forms with `numkeys`): Redis's legacy range is that fixed key, `1 1 1`.
    DestThenMovable(fn(&[Bytes]) -> Vec<usize>),
}

impl KeySpec {
    pub const FIRST: KeySpec = KeySpec::Range {
        first: 1,
        last: 1,
        step: 1,
    };
    pub const ALL: KeySpec = KeySpec::Range {
        first: 1,
        last: -1,
        step: 1,
    };
    pub const FIRST_TWO: KeySpec = KeySpec::Range {
        first: 1,
        last: 2,
        step: 1,
    };

    /// Indices in `argv` that are keys.
    pub fn key_indices(&self, argv: &[Bytes]) -> Vec<usize> {
        match *self {
            KeySpec::None => Vec::new(),
            KeySpec::Range { first, last, step } => {
                let n = argv.len() as i32;
                let last = if last < 0 { n + last } else { last.min(n - 1) };
                let mut out = Vec::new();
                let mut i = first;
                while i <= last && i < n && step > 0 {
                    out.push(i as usize);
                    i += step;
                }
                out
            }
            KeySpec::Movable(f) | KeySpec::DestThenMovable(f) => f(argv),
        }
    }

    /// The legacy (first, last, step) triple for `COMMAND INFO`.
    pub fn legacy_triple(&self) -> (i64, i64, i64) {
        match *self {
            KeySpec::None | KeySpec::Movable(_) => (0, 0, 0),
            KeySpec::DestThenMovable(_) => (1, 1, 1),
            KeySpec::Range { first, last, step } => (first as i64, last as i64, step as i64),
        }
    }
}

/// Keys for `CMD numkeys key [key ...] ...` with `numkeys` at `argv[pos]`.
pub fn numkeys_at(argv: &[Bytes], pos: usize) -> Vec<usize> {
    let Some(n) = argv.get(pos).and_then(|b| parse_i64(b)) else {
        return Vec::new();
    };
    if n <= 0 {
        return Vec::new();
    }
    (pos + 1..(pos + 1 + n as usize).min(argv.len())).collect()
}

/// What a command is. `H` is the handler type: [`Handler`] here, the node's own type for
/// server commands.
pub struct Spec<H: 'static> {
    /// Lower-case name, as `COMMAND` reports it.
    pub name: &'static str,
    /// Redis arity: `n` exactly n args (name included), `-n` at least n.
    pub arity: i32,
    pub flags: u32,
    pub keys: KeySpec,
    pub run: H,
}

impl<H> Spec<H> {
    pub fn is_write(&self) -> bool {
        self.flags & WRITE != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 {
            argc == a as usize
        } else {
            argc >= (-a) as usize
        }
    }
}

pub type Handler = fn(&mut Ctx, &mut Args) -> Result<Executed, CmdError>;

/// Builds a [`Spec`] in a `COMMANDS` table (keeps the tables one line per command).
pub const fn spec<H>(name: &'static str, arity: i32, flags: u32, keys: KeySpec, run: H) -> Spec<H> {
    Spec {
        name,
        arity,
        flags,
        keys,
        run,
    }
}

/// How the write is replicated. See the module doc.
#[derive(Debug, Clone, PartialEq)]
pub enum Propagate {
    Nothing,
    AsIs,
    Rewritten(Vec<Vec<Bytes>>),
}

/// A blocking command that could not be served now: the node parks the client on `keys`
/// and runs the same command again when one of them is written, or replies with a null
/// array at `deadline_ms` (absolute Unix ms; `None` waits forever).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub keys: Vec<Bytes>,
    pub deadline_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    pub reply: Frame,
    pub propagate: Propagate,
    pub block: Option<Block>,
}

impl Executed {
    /// A read (nothing to propagate).
    pub fn read(reply: Frame) -> Executed {
        Executed {
            reply,
            propagate: Propagate::Nothing,
            block: None,
        }
    }

    /// A write propagated as sent.
    pub fn write(reply: Frame) -> Executed {
        Executed {
            reply,
            propagate: Propagate::AsIs,
            block: None,
        }
    }

    /// A write propagated as one rewritten command.
    pub fn rewritten(reply: Frame, argv: Vec<Bytes>) -> Executed {
        Executed {
            reply,
            propagate: Propagate::Rewritten(vec![argv]),
            block: None,
        }
    }

    /// A write propagated as several commands (wrapped in MULTI/EXEC by the node).
    pub fn rewritten_many(reply: Frame, cmds: Vec<Vec<Bytes>>) -> Executed {
        let propagate = if cmds.is_empty() {
            Propagate::Nothing
        } else {
            Propagate::Rewritten(cmds)
        };
        Executed {
            reply,
            propagate,
            block: None,
        }
    }

    /// Park the client (see [`Block`]).
    pub fn block(keys: Vec<Bytes>, deadline_ms: Option<i64>) -> Executed {
        Executed {
            reply: Frame::NullArray,
            propagate: Propagate::Nothing,
            block: Some(Block { keys, deadline_ms }),
        }
    }
}

/// Everything a handler may touch while it runs.
pub struct Ctx<'a> {
    pub ks: &'a mut Keyspace,
    /// The client's selected database.
    pub db: usize,
    /// The client's protocol (some replies are shaped differently in RESP3).
    pub protocol: Protocol,
    /// True inside MULTI/EXEC (and when applying a replication stream or AOF): blocking
    /// commands must answer at once instead of returning [`Executed::block`].
    pub no_block: bool,
    pub rng: &'a mut SmallRng,
}

impl<'a> Ctx<'a> {
    pub fn now_ms(&self) -> i64 {
        self.ks.now_ms
    }

    /// A blocking command's timeout argument in seconds as a deadline (`None`: wait
    /// forever), as Redis's `getTimeoutFromObjectOrReply` reads it: parsed and scaled to
    /// milliseconds in `long double`, then truncated by C's cast.
    pub fn blocking_deadline(&self, timeout: &[u8]) -> Result<Option<i64>, CmdError> {
        let ms = LongDouble::parse(timeout)
            .ok_or(CmdError::msg("timeout is not a float or out of range"))?
            .mul_small(1000)
            .to_i64_trunc();
        if ms < 0 {
            return Err(CmdError::msg("timeout is negative"));
        }
        Ok((ms > 0).then(|| self.now_ms().saturating_add(ms)))
    }

    pub fn get(&mut self, key: &[u8]) -> Option<&mut Value> {
        self.ks.get(self.db, key)
    }

    /// Runs `f` with its lookups counted as reads (keyspace hits and misses, `keymiss`), as
    /// the lookups a write command makes with Redis's `lookupKeyRead`: GETDEL's, GETSET's,
    /// the sources of SINTERSTORE or ZUNIONSTORE...
    pub fn reading<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.with_reads(Reads::Counted, f)
    }

    /// Runs `f` with its lookups not counted: those a read-only command makes without
    /// Redis's `lookupKeyRead` (KEYS, SCAN without TYPE).
    pub fn not_reading<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.with_reads(Reads::No, f)
    }

    /// Runs `f` with its lookups counted but misses raising no `keymiss` (OBJECT's).
    pub fn reading_quietly<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.with_reads(Reads::CountedQuietly, f)
    }

    fn with_reads<T>(&mut self, reads: Reads, f: impl FnOnce(&mut Self) -> T) -> T {
        let was = std::mem::replace(&mut self.ks.reads, reads);
        let out = f(self);
        self.ks.reads = was;
        out
    }

    /// Raises the keyspace notification `name` (of `class`, see `notify.rs`) for `key` in
    /// the client's database.
    pub fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        self.ks.notify(class, name, self.db, key);
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.ks.exists(self.db, key)
    }

    pub fn set(&mut self, key: &[u8], value: Value) {
        self.ks.set(self.db, key, value)
    }

    /// The value at `key` and whether it existed; a missing key is first set to `make()`.
    pub fn get_or_insert_with(
        &mut self,
        key: &[u8],
        make: impl FnOnce() -> Value,
    ) -> (&mut Value, bool) {
        self.ks.get_or_insert_with(self.db, key, make)
    }

    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.ks.delete(self.db, key)
    }

    /// Deletes a key as a command that removes it does (DEL, GETDEL, an empty *STORE
    /// result...): if it was there, `del` is raised. Returns whether it was.
    pub fn delete_raising(&mut self, key: &[u8]) -> bool {
        let deleted = self.ks.delete(self.db, key);
        if deleted {
            self.notify(crate::notify::GENERIC, "del", key);
        }
        deleted
    }

    /// The string at `key`: `Ok(None)` if missing, `WRONGTYPE` if another type.
    pub fn get_str(&mut self, key: &[u8]) -> Result<Option<&mut Bytes>, CmdError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    pub fn get_list(&mut self, key: &[u8]) -> Result<Option<&mut ListValue>, CmdError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::List(l)) => Ok(Some(l)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    pub fn get_hash(&mut self, key: &[u8]) -> Result<Option<&mut HashValue>, CmdError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Hash(h)) => Ok(Some(h)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    pub fn get_set(&mut self, key: &[u8]) -> Result<Option<&mut SetValue>, CmdError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Set(s)) => Ok(Some(s)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    pub fn get_zset(&mut self, key: &[u8]) -> Result<Option<&mut ZSetValue>, CmdError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::ZSet(z)) => Ok(Some(z)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// Type-checks `key` without borrowing its value: `WRONGTYPE` if it holds a value whose
    /// `TYPE` is not `type_name`.
    pub fn check_type(&mut self, key: &[u8], type_name: &str) -> Result<bool, CmdError> {
        match self.get(key) {
            None => Ok(false),
            Some(v) if v.type_name() == type_name => Ok(true),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// Deletes `key` if it holds an empty collection (commands that remove elements call this
    /// so empty collections never stay in the keyspace).
    pub fn delete_if_empty(&mut self, key: &[u8]) {
        let empty = match self.ks.dbs[self.db].map.get(key).map(|e| &e.value) {
            Some(Value::List(l)) => l.is_empty(),
            Some(Value::Hash(h)) => h.is_empty(),
            Some(Value::Set(s)) => s.is_empty(),
            Some(Value::ZSet(z)) => z.is_empty(),
            _ => false,
        };
        if empty {
            self.ks.dbs[self.db].remove(key);
            self.notify(crate::notify::GENERIC, "del", key);
        }
    }
}

/// Every keyspace command family, with the group Redis files its commands under (COMMAND
/// DOCS `group`; a few commands differ, see the server's `commands::group`).
static FAMILIES: &[(&str, &[Spec<Handler>])] = &[
    ("string", string::COMMANDS),
    ("bitmap", bitmap::COMMANDS),
    ("generic", keys::COMMANDS),
    ("list", list::COMMANDS),
    ("hash", hash::COMMANDS),
    ("set", set::COMMANDS),
    ("sorted-set", zset::COMMANDS),
    ("generic", dump::COMMANDS),
];

/// All keyspace commands.
pub fn all() -> impl Iterator<Item = &'static Spec<Handler>> {
    FAMILIES.iter().flat_map(|(_, f)| f.iter())
}

/// The group of the family in `families` that holds `spec` (the same `Spec` in memory).
pub fn family_of<H>(
    families: &[(&'static str, &[Spec<H>])],
    spec: &Spec<H>,
) -> Option<&'static str> {
    families
        .iter()
        .find(|(_, f)| f.iter().any(|s| std::ptr::eq(s, spec)))
        .map(|(g, _)| *g)
}

/// The group of `spec`'s keyspace family.
pub fn family_group(spec: &Spec<Handler>) -> &'static str {
    family_of(FAMILIES, spec).unwrap_or("generic")
}

/// Looks a command up by name (ASCII case-insensitive).
pub fn lookup(name: &[u8]) -> Option<&'static Spec<Handler>> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Spec<Handler>>> = OnceLock::new();
    let index = INDEX.get_or_init(|| all().map(|s| (s.name, s)).collect());
    if name.len() > 32 {
        return None;
    }
    let lower = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    index.get(lower.as_str()).copied()
}

/// Runs a keyspace command: arity check, then the handler.
pub fn execute(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Executed, CmdError> {
    let spec = lookup(&argv[0]).ok_or_else(|| CmdError::unknown_command(argv))?;
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::WrongArity(spec.name.to_string()));
    }
    (spec.run)(ctx, &mut Args::new(argv))
}

/// An owned copy of an argument (values kept in the keyspace must not pin the request buffer).
pub(crate) fn copy(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// A reply that propagates the command only when it changed the dataset.
pub(crate) fn write_if(changed: bool, reply: Frame) -> Executed {
    if changed {
        Executed::write(reply)
    } else {
        Executed::read(reply)
    }
}

/// Parses a count that must be >= 0 (Redis's `getPositiveLongFromObjectOrReply`).
pub(crate) fn positive_count(b: &[u8], msg: &'static str) -> Result<u64, CmdError> {
    match parse_i64(b) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::msg(msg)),
    }
}

/// Test support: a keyspace, an rng and a `run` that executes one command.
#[cfg(test)]
#[allow(dead_code)]
pub(crate) mod testkit {
    use super::*;
    use crate::config::StoreConfig;
    use rand::SeedableRng;

    pub struct Kit {
        pub ks: Keyspace,
        pub rng: SmallRng,
        pub db: usize,
        pub protocol: Protocol,
    }

    impl Kit {
        pub fn new() -> Kit {
            let mut ks = Keyspace::new(StoreConfig::default());
            ks.now_ms = 1_700_000_000_000;
            Kit {
                ks,
                rng: SmallRng::seed_from_u64(7),
                db: 0,
                protocol: Protocol::Resp2,
            }
        }

        pub fn exec(&mut self, line: &str) -> Result<Executed, CmdError> {
            let argv: Vec<Bytes> = line
                .split_whitespace()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect();
            self.exec_argv(&argv)
        }

        pub fn exec_argv(&mut self, argv: &[Bytes]) -> Result<Executed, CmdError> {
            let mut ctx = Ctx {
                ks: &mut self.ks,
                db: self.db,
                protocol: self.protocol,
                no_block: false,
                rng: &mut self.rng,
            };
            execute(&mut ctx, argv)
        }

        /// OBJECT ENCODING of `key` in db 0 (which must exist).
        pub fn encoding(&self, key: &str) -> &'static str {
            self.ks.dbs[0]
                .map
                .get(key.as_bytes())
                .expect("key")
                .encoding_name(&self.ks.cfg)
        }

        /// Runs a command and returns its reply (errors as `Frame::Error`).
        pub fn run(&mut self, line: &str) -> Frame {
            match self.exec(line) {
                Ok(e) => e.reply,
                Err(e) => Frame::Error(Bytes::from(e.to_line())),
            }
        }
    }
}
