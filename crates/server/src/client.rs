//! Per-client state the node keeps for every connection: identity (for `CLIENT LIST`),
//! the selected database and protocol, MULTI/WATCH state, subscriptions, and the channel
//! through which the node sends asynchronous output (pub/sub messages, the reply to a
//! blocked command, a kill).

use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;

use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};
use tokio::sync::mpsc;

pub type ClientId = u64;

/// Connected clients by id, in id order (ids only grow, and removal must use `shift_remove`
/// so that insertion order stays id order, which CLIENT LIST shows). Every command looks its
/// client up several times, so this is a hash map with [`IdHasher`].
pub type ClientTable = indexmap::IndexMap<ClientId, Client, BuildHasherDefault<IdHasher>>;

/// Hashes a [`ClientId`] with one multiplication. Ids are assigned by the node, one after
/// the other, so no client can choose colliding ones, and the odd multiplier spreads
/// consecutive ids over the table's low bits and its 7-bit tags alike.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; a plain fold keeps the hasher total.
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Messages the node sends to a connection task outside of request/reply.
#[derive(Debug)]
pub enum Outbound {
    /// A frame to write (pub/sub message, or the deferred reply of a blocked command).
    Frame(Frame),
    /// The deferred reply of a blocked command: write it and resume reading requests.
    Unblocked(Frame),
    /// Close the connection (CLIENT KILL, SHUTDOWN, output buffer limit).
    Close,
    /// Bytes written as they are: replication handshake lines and RDB payloads.
    Raw(Bytes),
    /// Replication stream bytes for a replica (counted against its output-buffer limit
    /// until written; see `primary::replicas`).
    Stream(Bytes),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Set by `CLIENT REPLY SKIP`: silence this reply, then become `Skip`.
    SkipNext,
    /// Silence the next reply, then back to `On`.
    Skip,
}

/// A queued MULTI transaction.
#[derive(Debug, Default)]
pub struct Multi {
    pub queued: Vec<Vec<Bytes>>,
    /// A command failed to queue (unknown command, arity, a refused write): EXEC will answer
    /// EXECABORT.
    pub aborted: bool,
    /// The union of the queued commands' flags: EXEC passes the write gates (OOM, MISCONF,
    /// READONLY...) as the commands it runs.
    pub flags: u32,
}

#[derive(Debug)]
pub struct Client {
    pub id: ClientId,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub name: Option<Bytes>,
    pub db: usize,
    pub protocol: Protocol,
    pub authenticated: bool,
    pub multi: Option<Multi>,
    /// Watched keys were touched: EXEC will fail.
    pub dirty_cas: bool,
    pub watched: Vec<(usize, Bytes)>,
    pub channels: Vec<Bytes>,
    pub patterns: Vec<Bytes>,
    pub reply_mode: ReplyMode,
    /// A blocked command, waiting for a key or its deadline.
    pub blocked: Option<Blocked>,
    pub created_ms: i64,
    pub last_interaction_ms: i64,
    /// The full name (`client|list`) of the command running or last run; empty after an
    /// unknown command (CLIENT LIST `cmd=NULL`).
    pub last_cmd: &'static str,
    /// Bytes of the arguments of the command being run (CLIENT LIST `argv-mem`).
    pub argv_mem: usize,
    pub no_evict: bool,
    /// Close the connection once the current reply is written (QUIT, CLIENT KILL of self).
    pub close_after_reply: bool,
    /// The replication offset right after this client's last propagated write (what WAIT
    /// waits for).
    pub woff: u64,
    /// Further replies of the current command after its first (SUBSCRIBE to several
    /// channels answers once per channel).
    pub extra_replies: Vec<Frame>,
    /// True for the link of our primary (replica side) and for replicas (primary side).
    pub flags: ClientFlags,
    pub tx: mpsc::UnboundedSender<Outbound>,
    /// The socket's file descriptor (-1 for the AOF loader and the primary link, which
    /// have no socket of their own in the client table).
    pub fd: i32,
    /// Bytes read and not yet parsed, and the read buffer's capacity.
    pub query_buf_len: usize,
    pub query_buf_cap: usize,
    /// Reply bytes waiting for the peer to read them (non-zero only while a write is
    /// blocked on a slow reader), and the write buffer's capacity.
    pub output_buf_len: usize,
    pub output_buf_cap: usize,
    /// MONITOR was run: every command the node runs is shown here (see `monitor.rs`).
    pub monitor: bool,
    /// The current command sends no reply at all (MONITOR from a monitor or a replica).
    pub no_reply_once: bool,
    /// `CLIENT TRACKING on` settings (see `tracking.rs`).
    pub tracking: Option<crate::tracking::ClientTracking>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientFlags {
    pub master: bool,
    pub replica: bool,
    pub pubsub: bool,
}

#[derive(Debug, Clone)]
pub struct Blocked {
    pub argv: Vec<Bytes>,
    pub keys: Vec<Bytes>,
    pub db: usize,
    pub deadline_ms: Option<i64>,
    /// The reply to send if the deadline passes (null array or null bulk).
    pub timeout_reply: Frame,
}

impl Client {
    /// Bytes of the commands queued in MULTI (CLIENT LIST `multi-mem`).
    pub fn multi_mem(&self) -> usize {
        self.multi.as_ref().map_or(0, |m| {
            m.queued
                .iter()
                .map(|argv| argv.iter().map(|a| a.len() + 16).sum::<usize>() + 24)
                .sum()
        })
    }

    /// What this client costs: its record, both buffers and its queued transaction (CLIENT
    /// LIST `tot-mem`, INFO `mem_clients_*`).
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Client>()
            + self.argv_mem
            + self.query_buf_cap
            + self.output_buf_cap.max(self.output_buf_len)
            + self.multi_mem()
    }

    /// Where this client's error replies go unread (Redis's master and replica client types),
    /// or `None` for an ordinary client.
    pub fn unread_errors(&self) -> Option<crate::stats::UnreadError> {
        if self.flags.master {
            Some(crate::stats::UnreadError::ToPrimary)
        } else if self.flags.replica {
            Some(crate::stats::UnreadError::ToReplica)
        } else {
            None
        }
    }

    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn in_pubsub_context(&self) -> bool {
        self.subscriptions() > 0 && self.protocol == Protocol::Resp2
    }

    /// One `CLIENT LIST` line (without the trailing newline), with Redis 7.0's fields.
    pub fn list_line(&self, now_ms: i64) -> String {
        let mut flags = String::new();
        if self.flags.master {
            flags.push('M');
        }
        if self.monitor {
            flags.push('O');
        } else if self.flags.replica {
            flags.push('S');
        }
        if self.subscriptions() > 0 {
            flags.push('P');
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if self.blocked.is_some() {
            flags.push('b');
        }
        if let Some(t) = &self.tracking {
            flags.push('t');
            if t.broken_redirect {
                flags.push('R');
            }
            if t.bcast {
                flags.push('B');
            }
        }
        if self.dirty_cas {
            flags.push('d');
        }
        if self.no_evict {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let age = (now_ms - self.created_ms).max(0) / 1000;
        let idle = (now_ms - self.last_interaction_ms).max(0) / 1000;
        let name = self
            .name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let multi = self.multi.as_ref().map_or(-1, |m| m.queued.len() as i64);
        let resp = match self.protocol {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        };
        let multi_mem = self.multi_mem();
        let events = if self.output_buf_len > 0 { "rw" } else { "r" };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll=0 omem={} tot-mem={} events={} cmd={} user=default redir={} resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            age,
            idle,
            flags,
            self.db,
            self.channels.len(),
            self.patterns.len(),
            multi,
            self.query_buf_len,
            self.query_buf_cap.saturating_sub(self.query_buf_len),
            self.argv_mem,
            multi_mem,
            self.query_buf_cap,
            self.query_buf_len,
            self.output_buf_len,
            self.output_buf_len,
            self.memory(),
            events,
            if self.last_cmd.is_empty() { "NULL" } else { self.last_cmd },
            self.tracking.as_ref().map_or(-1, |t| t.redirect as i64),
            resp,
        )
    }
}

#[cfg(test)]
mod id_hasher_tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::IdHasher;

    #[test]
    fn consecutive_ids_spread_over_low_bits_and_tags() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (1..=1024u64).map(|id| build.hash_one(id)).collect();
        // Bucket index of a 1024-slot table: every id its own bucket.
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        assert_eq!(buckets.len(), 1024);
        // hashbrown's 7-bit tag comes from the top bits: all 128 values show up.
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(tags.len(), 128);
    }
}
