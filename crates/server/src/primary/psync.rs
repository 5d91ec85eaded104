//! Answering `PSYNC <replid> <offset>` and `SYNC`: a partial resync from the backlog, or a
//! full sync whose RDB payload a fork child produces.
//!
//! ## Partial resync ([`try_partial_resync`])
//!
//! Accepted iff the replica names our current history (`replid`), or the previous one
//! (`replid2`) no further than where it ended (`offset <= second_offset`), and the backlog
//! still holds byte `offset` (`first_byte <= offset <= master_repl_offset + 1`). The reply is
//! `+CONTINUE <replid>\r\n` (plain `+CONTINUE\r\n` without `capa psync2`), then the backlog
//! from `offset`, then the live stream.
//!
//! ## Full sync ([`Node::start_full_sync`])
//!
//! 1. Replicas wait in `WaitBgsaveStart` until the child slot is free and, for a diskless
//!    sync, `repl-diskless-sync-delay` has passed since the oldest request (so several
//!    replicas share one child). Meanwhile they get a `\n` keepalive every second.
//! 2. Forget the stream's selected db (the next command is preceded by SELECT) and take
//!    `offset = master_repl_offset`: the snapshot is exactly the stream up to `offset`.
//! 3. Fork. The child writes the whole keyspace as RDB (aux `repl-id`, `repl-offset`,
//!    `repl-stream-db`) into a pipe (diskless) or a temp file (disk).
//! 4. Send `+FULLRESYNC <replid> <offset>\r\n` to PSYNC replicas; from now on their stream
//!    is buffered (`WaitBgsaveEnd`).
//! 5. Diskless: a local task copies the pipe to the replicas framed as
//!    `$EOF:<mark>\r\n<rdb><mark>`; each replica is released at its first ACK.
//!    Disk: when the child exits, `$<len>\r\n<rdb>` (no CRLF after) is sent and the replica
//!    is online at once.
//!
//! `redis-cli --replica` asks for an empty RDB (`rdb-filter-only ""`): that payload is a few
//! aux fields, built in-process without a fork.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrokv_proto::rdb::{RdbWriter, ReplAux};
use ferrokv_store::fork::{ChildExit, ChildKind};
use ferrokv_store::snapshot;
use nix::unistd::Pid;
use tracing::{info, warn};

use super::{ReplState, ReplicaState};
use crate::client::ClientId;
use crate::node::Node;

/// Why a partial resync was refused (logged like Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullReason {
    /// `PSYNC ? -1` or legacy SYNC.
    Requested,
    ReplidMismatch,
    BeyondSecondId,
    NoBacklog,
    LackOfBacklog,
}

/// Decides a `PSYNC <replid> <offset>`: the backlog bytes to send, or why a full sync is needed.
pub fn try_partial_resync(st: &ReplState, replid: &str, offset: i64) -> Result<Bytes, FullReason> {
    if replid == "?" {
        return Err(FullReason::Requested);
    }
    if replid != st.replid {
        if replid != st.replid2 {
            return Err(FullReason::ReplidMismatch);
        }
        if offset > st.second_offset {
            return Err(FullReason::BeyondSecondId);
        }
    }
    let backlog = st.backlog.as_ref().ok_or(FullReason::NoBacklog)?;
    let from = u64::try_from(offset).map_err(|_| FullReason::LackOfBacklog)?;
    backlog.since(from).ok_or(FullReason::LackOfBacklog)
}

/// How the running full sync delivers its payload.
#[derive(Debug)]
pub enum SyncTarget {
    /// Streaming through a pipe, framed with this 40-character EOF mark.
    Diskless,
    /// Written to this temp file, sent when the child exits.
    Disk(PathBuf),
}

/// The full sync a child is producing.
#[derive(Debug)]
pub struct FullSync {
    pub pid: Pid,
    pub target: SyncTarget,
    /// The replicas that get this payload.
    pub replicas: Vec<ClientId>,
    pub offset: u64,
}

impl Node {
    /// Starts a full sync for the replicas waiting in `WaitBgsaveStart`, if the child slot is
    /// free and (diskless) the delay has passed. Called by PSYNC/SYNC and by the cron.
    pub(crate) fn start_full_sync(&mut self) {
        let st_rc = self.repl.state.clone();
        let waiting: Vec<(ClientId, Instant, bool)> = st_rc
            .borrow()
            .replicas
            .values()
            .filter(|r| r.state == ReplicaState::WaitBgsaveStart && !r.closing)
            .map(|r| (r.id, r.requested, r.hs.capa_eof))
            .collect();
        if waiting.is_empty() || self.children.is_busy() || st_rc.borrow().sync.is_some() {
            return;
        }
        let diskless = self.cfg.repl_diskless_sync && waiting.iter().all(|w| w.2);
        if diskless {
            let oldest = waiting
                .iter()
                .map(|w| w.1)
                .min()
                .unwrap_or_else(Instant::now);
            let delay = Duration::from_secs(self.cfg.repl_diskless_sync_delay.max(0) as u64);
            let max = self.cfg.repl_diskless_sync_max_replicas;
            let enough = max > 0 && waiting.len() as i64 >= max;
            if oldest.elapsed() < delay && !enough {
                return;
            }
        }
        // 2. The snapshot point.
        self.stream.reset_selected_db();
        let (replid, offset) = {
            let st = st_rc.borrow();
            (st.replid.clone(), st.offset)
        };
        let opts = crate::bgsave::writer_options(
            self,
            Some(ReplAux {
                stream_db: 0,
                repl_id: Bytes::from(replid.clone()),
                offset: offset as i64,
            }),
        );
        // 3. Fork.
        let ids: Vec<ClientId> = waiting.iter().map(|w| w.0).collect();
        let close_fds = self.listener_fds();
        let ks = &self.ks;
        // Where the child writes: the write end of a pipe (diskless) or a temp file. The
        // parent's copy closes when `fork_dump` drops the closure, so the pipe's reader sees
        // the end of the payload when the child exits.
        let (out, target, pipe_rd) = if diskless {
            match nix::unistd::pipe() {
                Ok((rd, wr)) => (File::from(wr), SyncTarget::Diskless, Some(rd)),
                Err(e) => {
                    warn!("Can't create the pipe for the diskless sync: {e}");
                    return;
                }
            }
        } else {
            let path =
                PathBuf::from(&self.cfg.dir).join(format!("temp-repl-{}.rdb", std::process::id()));
            match File::create(&path) {
                Ok(file) => (file, SyncTarget::Disk(path), None),
                Err(e) => {
                    warn!("Can't start the BGSAVE for replication: {e}");
                    return;
                }
            }
        };
        let forked = self.children.fork_dump(
            ChildKind::ReplSync,
            &close_fds,
            ks,
            "Replication payload child",
            move |_pid| {
                // FORK-CHILD: plain write(2)s to a blocking pipe or a file.
                let out = BufWriter::with_capacity(64 * 1024, out);
                let (mut w, stats) = snapshot::save(ks, out, &opts).map_err(|e| e.to_string())?;
                w.flush().map_err(|e| e.to_string())?;
                Ok::<u64, String>(stats.keys)
            },
        );
        let pid = match forked {
            Ok(pid) => pid,
            Err(e) => {
                warn!("Can't start the BGSAVE for replication: {e}");
                if let SyncTarget::Disk(path) = &target {
                    let _ = std::fs::remove_file(path);
                }
                return;
            }
        };
        info!(
            "Starting BGSAVE for SYNC with target: {}",
            if diskless { "replicas sockets" } else { "disk" }
        );
        info!("Background RDB transfer started by pid {pid}");
        // 4. +FULLRESYNC and buffering.
        let mark = Bytes::from(crate::node::random_hex(&mut self.rng, 40));
        {
            let mut st = st_rc.borrow_mut();
            for id in &ids {
                if let Some(r) = st.replicas.get_mut(id) {
                    if r.psync {
                        r.send_raw(Bytes::from(format!("+FULLRESYNC {replid} {offset}\r\n")));
                    }
                    r.state = ReplicaState::WaitBgsaveEnd;
                    if diskless {
                        let mut head = BytesMut::from(&b"$EOF:"[..]);
                        head.extend_from_slice(&mark);
                        head.extend_from_slice(b"\r\n");
                        r.send_raw(head.freeze());
                    }
                }
            }
            st.sync = Some(FullSync {
                pid,
                target,
                replicas: ids.clone(),
                offset,
            });
        }
        // 5. Diskless: copy the pipe to the replicas.
        if let Some(rd) = pipe_rd {
            tokio::task::spawn_local(forward_diskless(st_rc, rd, ids, mark));
        }
    }

    /// Builds the empty payload of an `rdb-filter-only ""` replica and sends it at once.
    pub(crate) fn send_empty_payload(&mut self, id: ClientId) {
        let st_rc = self.repl.state.clone();
        let mut st = st_rc.borrow_mut();
        let opts = crate::bgsave::writer_options(
            self,
            Some(ReplAux {
                stream_db: 0,
                repl_id: Bytes::from(st.replid.clone()),
                offset: st.offset as i64,
            }),
        );
        let rdb = RdbWriter::new(Vec::new(), &opts)
            .and_then(|w| w.finish())
            .unwrap_or_default();
        let (replid, offset) = (st.replid.clone(), st.offset);
        let mark = crate::node::random_hex(&mut self.rng, 40);
        self.stream.reset_selected_db();
        let Some(r) = st.replicas.get_mut(&id) else {
            return;
        };
        if r.psync {
            r.send_raw(Bytes::from(format!("+FULLRESYNC {replid} {offset}\r\n")));
        }
        let mut out = BytesMut::new();
        if r.hs.capa_eof {
            out.extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
            out.extend_from_slice(&rdb);
            out.extend_from_slice(mark.as_bytes());
            r.send_raw(out.freeze());
            r.state = ReplicaState::WaitFirstAck;
        } else {
            out.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
            out.extend_from_slice(&rdb);
            r.send_raw(out.freeze());
            r.go_online();
        }
        if r.hs.rdb_only {
            r.close();
        }
    }

    /// Handles the end of a replication child. Returns false if `exit` was not ours.
    pub fn replication_child_exit(&mut self, exit: &ChildExit) -> bool {
        let st_rc = self.repl.state.clone();
        let Some(sync) = st_rc.borrow_mut().sync.take_if(|s| s.pid == exit.pid) else {
            return false;
        };
        match (&exit.result, sync.target) {
            (Err(why), target) => {
                warn!("Background transfer error: child {why}");
                if let SyncTarget::Disk(path) = target {
                    let _ = std::fs::remove_file(path);
                }
                let mut st = st_rc.borrow_mut();
                for id in &sync.replicas {
                    if let Some(r) = st.replicas.get_mut(id) {
                        if !r.state.is_online() || r.state == ReplicaState::WaitFirstAck {
                            r.close();
                        }
                    }
                }
            }
            (Ok(()), SyncTarget::Diskless) => {
                info!("Background RDB transfer terminated with success");
            }
            (Ok(()), SyncTarget::Disk(path)) => {
                info!("Background saving terminated with success");
                tokio::task::spawn_local(send_disk_payload(st_rc, path, sync.replicas));
            }
        }
        // Replicas that arrived meanwhile get the next child.
        self.start_full_sync();
        true
    }

    /// Raw fds of the listening sockets, closed in fork children.
    fn listener_fds(&self) -> Vec<std::os::fd::RawFd> {
        self.listener_fds.clone()
    }
}

/// Copies the child's pipe to the replicas of one diskless sync, then the EOF mark.
async fn forward_diskless(
    st: Rc<RefCell<ReplState>>,
    rd: OwnedFd,
    ids: Vec<ClientId>,
    mark: Bytes,
) {
    let _ = nix::fcntl::fcntl(
        rd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut pipe = match tokio::net::unix::pipe::Receiver::from_owned_fd(rd) {
        Ok(p) => p,
        Err(e) => {
            warn!("Diskless sync: can't read the child's pipe: {e}");
            return;
        }
    };
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut total = 0u64;
    loop {
        buf.reserve(64 * 1024);
        match tokio::io::AsyncReadExt::read_buf(&mut pipe, &mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                let chunk = buf.split().freeze();
                let st = st.borrow();
                for id in &ids {
                    if let Some(r) = st.replicas.get(id) {
                        r.send_raw(chunk.clone());
                    }
                }
            }
            Err(e) => {
                warn!("Diskless sync: reading the child's pipe: {e}");
                let mut st = st.borrow_mut();
                for id in &ids {
                    if let Some(r) = st.replicas.get_mut(id) {
                        r.close();
                    }
                }
                return;
            }
        }
    }
    let mut st = st.borrow_mut();
    for id in &ids {
        if let Some(r) = st.replicas.get_mut(id) {
            if r.state != ReplicaState::WaitBgsaveEnd {
                continue;
            }
            r.send_raw(mark.clone());
            info!(
                "Diskless payload of {total} bytes sent to replica {}:{}",
                r.ip(),
                r.hs.listening_port
            );
            if r.hs.rdb_only {
                r.close();
            } else {
                r.state = ReplicaState::WaitFirstAck;
            }
        }
    }
}

/// Sends a finished temp RDB file as `$<len>\r\n<bytes>` to the replicas, then deletes it.
async fn send_disk_payload(st: Rc<RefCell<ReplState>>, path: PathBuf, ids: Vec<ClientId>) {
    let result = (|| -> std::io::Result<()> {
        let mut file = File::open(&path)?;
        let len = file.metadata()?.len();
        {
            let mut st = st.borrow_mut();
            for id in &ids {
                if let Some(r) = st.replicas.get_mut(id) {
                    r.state = ReplicaState::SendBulk;
                    r.send_raw(Bytes::from(format!("${len}\r\n")));
                }
            }
        }
        let mut left = len;
        let mut chunk = vec![0u8; 1 << 20];
        while left > 0 {
            let want = chunk.len().min(left as usize);
            let n = file.read(&mut chunk[..want])?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "temp RDB shrank",
                ));
            }
            left -= n as u64;
            let b = Bytes::copy_from_slice(&chunk[..n]);
            let st = st.borrow();
            for id in &ids {
                if let Some(r) = st.replicas.get(id) {
                    r.send_raw(b.clone());
                }
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&path);
    let mut st = st.borrow_mut();
    for id in &ids {
        if let Some(r) = st.replicas.get_mut(id) {
            match &result {
                Ok(()) if r.hs.rdb_only => r.close(),
                Ok(()) => {
                    info!(
                        "Synchronization with replica {}:{} succeeded",
                        r.ip(),
                        r.hs.listening_port
                    );
                    r.go_online();
                }
                Err(e) => {
                    warn!("SYNC failed. Can't send the RDB file to replica: {e}");
                    r.close();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ReplState {
        let mut st = ReplState::new("a".repeat(40));
        st.ensure_backlog(8);
        st.feed_stream(&Bytes::from_static(b"0123456789"));
        st
    }

    #[test]
    fn same_replid_inside_the_backlog_continues() {
        let st = state();
        assert_eq!(
            try_partial_resync(&st, &"a".repeat(40), 7).unwrap(),
            Bytes::from_static(b"6789")
        );
        assert_eq!(
            try_partial_resync(&st, &"a".repeat(40), 11).unwrap(),
            Bytes::new()
        );
    }

    #[test]
    fn unknown_replid_forces_full_sync() {
        let st = state();
        assert_eq!(try_partial_resync(&st, "?", -1), Err(FullReason::Requested));
        assert_eq!(
            try_partial_resync(&st, &"b".repeat(40), 7),
            Err(FullReason::ReplidMismatch)
        );
    }

    #[test]
    fn offset_outside_the_backlog_forces_full_sync() {
        let st = state();
        assert_eq!(
            try_partial_resync(&st, &"a".repeat(40), 2),
            Err(FullReason::LackOfBacklog)
        );
        assert_eq!(
            try_partial_resync(&st, &"a".repeat(40), 12),
            Err(FullReason::LackOfBacklog)
        );
        assert_eq!(
            try_partial_resync(&st, &"a".repeat(40), -5),
            Err(FullReason::LackOfBacklog)
        );
    }

    #[test]
    fn previous_replid_up_to_the_switch_point() {
        let mut st = state();
        st.shift_replid("b".repeat(40));
        st.feed_stream(&Bytes::from_static(b"ab"));
        // second_offset = 11: the old history ends before byte 11.
        assert!(try_partial_resync(&st, &"a".repeat(40), 11).is_ok());
        assert_eq!(
            try_partial_resync(&st, &"a".repeat(40), 12),
            Err(FullReason::BeyondSecondId)
        );
        assert_eq!(
            try_partial_resync(&st, &"b".repeat(40), 12).unwrap(),
            Bytes::from_static(b"b")
        );
    }

    #[test]
    fn no_backlog_no_continue() {
        let st = ReplState::new("a".repeat(40));
        assert_eq!(
            try_partial_resync(&st, &"a".repeat(40), 1),
            Err(FullReason::NoBacklog)
        );
    }
}
