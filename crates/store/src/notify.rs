//! Keyspace notifications (`notify-keyspace-events`): the event classes, and the queue of
//! events that commands, expiry and eviction raise for the server to publish.
//!
//! A command raises an event with [`Ctx::notify`](crate::cmd::Ctx::notify) (or the keyspace
//! with [`Keyspace::notify`](crate::keyspace::Keyspace::notify) for `new`, `expired` and
//! `evicted`) at the point where Redis 7.0 calls `notifyKeyspaceEvent`, with the same event
//! name. An event whose class is off costs one test and queues nothing. The server drains
//! the queue after each command and each cron step, and publishes every event on
//! `__keyspace@<db>__:<key>` (message: the event) and/or `__keyevent@<db>__:<event>`
//! (message: the key), as `K` and `E` ask.

use bytes::Bytes;

// The class bits, as Redis numbers them.
pub const KEYSPACE: u32 = 1 << 0; // K
pub const KEYEVENT: u32 = 1 << 1; // E
pub const GENERIC: u32 = 1 << 2; // g
pub const STRING: u32 = 1 << 3; // $
pub const LIST: u32 = 1 << 4; // l
pub const SET: u32 = 1 << 5; // s
pub const HASH: u32 = 1 << 6; // h
pub const ZSET: u32 = 1 << 7; // z
pub const EXPIRED: u32 = 1 << 8; // x
pub const EVICTED: u32 = 1 << 9; // e
pub const STREAM: u32 = 1 << 10; // t
pub const KEY_MISS: u32 = 1 << 11; // m
pub const MODULE: u32 = 1 << 13; // d
pub const NEW: u32 = 1 << 14; // n
/// `A`: every class but `m` and `n`, as in Redis.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Class characters in the order Redis prints them (`A` stands for [`ALL`] when complete).
const CLASSES: &[(char, u32)] = &[
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
    ('n', NEW),
];

/// Parses a `notify-keyspace-events` value; `None` for an unknown character.
pub fn parse_flags(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            c => CLASSES.iter().find(|(k, _)| *k == c)?.1,
        };
    }
    Some(flags)
}

/// The value as `CONFIG GET` shows it: the classes (or just `A`), then `K`, `E`, `m`.
pub fn format_flags(f: u32) -> String {
    let mut out = String::new();
    if f & ALL == ALL {
        // Redis then leaves out `n`, though `A` does not cover it.
        out.push('A');
    } else {
        out.extend(CLASSES.iter().filter(|(_, b)| f & b != 0).map(|(c, _)| c));
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// One raised event: `name` happened to `key` in `db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: &'static str,
    pub db: usize,
    pub key: Bytes,
}

/// Whether an event of `class` is delivered under `flags`: its class is on, and so is at
/// least one of the two channel kinds.
pub fn wanted(flags: u32, class: u32) -> bool {
    flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0
}
