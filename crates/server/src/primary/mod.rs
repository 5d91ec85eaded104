//! The primary's side of replication: the replication ids and offset, the backlog, and every
//! attached replica's link.
//!
//! - `backlog`: the ring of recent stream bytes used by partial resyncs.
//! - `backlog_mem`: what Redis 7.0's block list would cost for that history (INFO memory).
//! - `replicas`: one [`ReplicaLink`] per attached replica (state, ACKs, buffered stream,
//!   output-buffer limits).
//! - `psync`: answering `PSYNC`/`SYNC` (`+CONTINUE` from the backlog, or a full sync through a
//!   fork child that streams RDB to the replicas or writes a temp file).
//! - `wait`: `WAIT` and the min-replicas "good replica" count.
//!
//! [`ReplState`] is shared (`Rc<RefCell<..>>`) between the node and [`ReplFeed`], the
//! [`StreamTap`] that receives every propagated byte. Whoever holds a borrow of it must not
//! call `ReplStream::feed` (the tap borrows it too).
//!
//! ## Offsets
//!
//! `offset` is Redis's `master_repl_offset`: the number of stream bytes ever appended while a
//! backlog existed. On a replica the node's own writes are not fed (`following`); the replica
//! link feeds exactly the bytes it applied from its primary instead, so offsets are identical
//! along a chain.

pub mod backlog;
pub mod backlog_mem;
pub mod psync;
pub mod replicas;
pub mod wait;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

pub use backlog::Backlog;
pub use replicas::{Handshake, ReplicaLink, ReplicaState};
pub use wait::Waiter;

use crate::client::ClientId;
use crate::propagate::StreamTap;

/// `master_replid2` when there is no previous history: forty zeros.
pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

/// Full/partial sync counters for INFO stats.
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncStats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
}

/// Replication ids, offset, backlog and attached replicas.
pub struct ReplState {
    /// `master_replid`: 40 hex characters naming the current history.
    pub replid: String,
    /// `master_replid2`: the previous history (forty zeros when none).
    pub replid2: String,
    /// `second_repl_offset`: the first offset not part of `replid2`'s history (-1 when none).
    pub second_offset: i64,
    /// `master_repl_offset`.
    pub offset: u64,
    pub backlog: Option<Backlog>,
    /// Attached replicas by client id.
    pub replicas: BTreeMap<ClientId, ReplicaLink>,
    /// REPLCONF options of clients that have not sent PSYNC/SYNC yet.
    pub handshakes: HashMap<ClientId, Handshake>,
    pub stats: SyncStats,
    /// True on a replica: the node's own propagation is ignored; the link feeds what it
    /// applied through [`ReplState::feed_stream`].
    pub following: bool,
    /// When the last replica left (for `repl-backlog-ttl`).
    pub no_replicas_since: Option<Instant>,
    /// When the last stream PING was sent.
    pub last_ping: Instant,
    /// When keepalive newlines were last written to replicas waiting for their payload.
    pub last_newline: Instant,
    /// The running full sync, if any.
    pub sync: Option<psync::FullSync>,
    /// Clients blocked in WAIT.
    pub waiters: Vec<Waiter>,
    /// A WAIT just blocked: broadcast `REPLCONF GETACK *` at the next opportunity.
    pub getack_pending: bool,
    /// Set by a node command that blocked its client (WAIT); `run_command` takes it.
    pub just_blocked: Option<ClientId>,
    /// `min_slaves_good_slaves`, recounted every second and on ACK.
    pub good_replicas: usize,
}

impl ReplState {
    pub fn new(replid: String) -> ReplState {
        let now = Instant::now();
        ReplState {
            replid,
            replid2: NO_REPLID.to_string(),
            second_offset: -1,
            offset: 0,
            backlog: None,
            replicas: BTreeMap::new(),
            handshakes: HashMap::new(),
            stats: SyncStats::default(),
            following: false,
            no_replicas_since: Some(now),
            last_ping: now,
            last_newline: now,
            sync: None,
            waiters: Vec::new(),
            getack_pending: false,
            just_blocked: None,
            good_replicas: 0,
        }
    }

    /// Creates the backlog (of `size` bytes) if there is none. Returns true if it was created.
    pub fn ensure_backlog(&mut self, size: usize) -> bool {
        if self.backlog.is_some() {
            return false;
        }
        self.backlog = Some(Backlog::new(size, self.offset));
        true
    }

    /// Appends stream bytes: advances the offset, fills the backlog, and hands the bytes to
    /// every replica (sent when online, buffered while it waits for its payload).
    /// Without a backlog nothing happens (Redis's offset only moves once a backlog exists).
    pub fn feed_stream(&mut self, bytes: &Bytes) {
        let Some(backlog) = self.backlog.as_mut() else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        backlog.feed(bytes);
        self.offset += bytes.len() as u64;
        for r in self.replicas.values_mut() {
            r.feed(bytes);
        }
    }

    /// Shifts the history on promotion or a replid change: `replid2 := replid`,
    /// `second_offset := offset + 1`, and a fresh `replid`.
    pub fn shift_replid(&mut self, new_replid: String) {
        self.replid2 = std::mem::replace(&mut self.replid, new_replid);
        self.second_offset = self.offset as i64 + 1;
    }

    /// Forgets the previous history (`replid2` back to zeros).
    pub fn clear_replid2(&mut self) {
        self.replid2 = NO_REPLID.to_string();
        self.second_offset = -1;
    }

    /// Replicas in the INFO listing order (by client id), with their index.
    pub fn online_count(&self) -> usize {
        self.replicas
            .values()
            .filter(|r| r.state.is_online())
            .count()
    }
}

/// The [`StreamTap`] that feeds the backlog and the replicas.
pub struct ReplFeed(pub Rc<RefCell<ReplState>>);

impl StreamTap for ReplFeed {
    fn feed(&mut self, bytes: &Bytes, _db: usize) {
        let mut st = self.0.borrow_mut();
        if st.following {
            return;
        }
        st.feed_stream(bytes);
    }

    fn active(&self) -> bool {
        // Without a backlog `feed_stream` drops everything (the offset does not move).
        let st = self.0.borrow();
        !st.following && st.backlog.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_moves_only_with_a_backlog() {
        let mut st = ReplState::new("a".repeat(40));
        st.feed_stream(&Bytes::from_static(b"xyz"));
        assert_eq!(st.offset, 0);
        assert!(st.ensure_backlog(16));
        st.feed_stream(&Bytes::from_static(b"xyz"));
        assert_eq!(st.offset, 3);
        assert_eq!(st.backlog.as_ref().unwrap().first_byte_offset(), 1);
    }

    #[test]
    fn following_tap_ignores_local_writes() {
        let st = Rc::new(RefCell::new(ReplState::new("a".repeat(40))));
        st.borrow_mut().ensure_backlog(16);
        let mut tap = ReplFeed(st.clone());
        tap.feed(&Bytes::from_static(b"abc"), 0);
        st.borrow_mut().following = true;
        tap.feed(&Bytes::from_static(b"def"), 0);
        assert_eq!(st.borrow().offset, 3);
    }

    #[test]
    fn shift_replid_remembers_the_old_history() {
        let mut st = ReplState::new("a".repeat(40));
        st.offset = 1194;
        st.shift_replid("b".repeat(40));
        assert_eq!(st.replid2, "a".repeat(40));
        assert_eq!(st.second_offset, 1195);
        st.clear_replid2();
        assert_eq!(st.replid2, NO_REPLID);
        assert_eq!(st.second_offset, -1);
    }
}
