//! BGSAVE on the node: the command, the `save` rules, reaping the child, and the state that
//! INFO persistence and `-MISCONF` read.
//!
//! The child is forked through [`ChildSlot`] (see `ferrokv_store::fork` for its rules) and
//! renames its own temp file; the parent only reaps it from the cron, logs like Redis
//! ("Background saving started by pid N", "Background saving terminated with success"),
//! updates `lastsave`, and removes the temp file of a failed or killed child.

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use ferrokv_proto::rdb::{ReplAux, WriterOptions};
use ferrokv_proto::resp::Frame;
use ferrokv_replica::persist::rdb_file::{self, RdbTarget};
use ferrokv_replica::persist::save_rules;
use ferrokv_store::cmd::{CmdError, KeySpec, Spec, ADMIN, NOSCRIPT, NO_ASYNC_LOADING};
use ferrokv_store::fork::{ChildExit, ChildKind};
use tracing::{debug, info, warn};

use crate::client::ClientId;
use crate::commands::NodeHandler;
use crate::node::{unix_ms, Node};

/// What INFO persistence reports about background saves.
#[derive(Debug, Clone)]
pub struct BgsaveState {
    pub last_ok: bool,
    pub last_time_sec: i64,
    /// Unix ms of the last attempt (successful or not), for the retry delay.
    pub last_try_ms: i64,
    pub scheduled: bool,
    pub saves: u64,
    pub last_cow_size: u64,
    /// Keys the last RDB load installed and dropped as expired (a file, an AOF's RDB base,
    /// a full-sync payload): INFO `rdb_last_load_keys_loaded` / `_expired`.
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
    /// `dirty` when the running child forked: what a successful save clears.
    dirty_at_fork: u64,
    started: Option<Instant>,
}

impl Default for BgsaveState {
    fn default() -> Self {
        BgsaveState {
            last_ok: true,
            last_time_sec: -1,
            last_try_ms: 0,
            scheduled: false,
            saves: 0,
            last_cow_size: 0,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
            dirty_at_fork: 0,
            started: None,
        }
    }
}

impl BgsaveState {
    /// Records what an RDB load installed (see `last_load_keys_loaded`).
    pub fn note_load(&mut self, loaded: &ferrokv_store::snapshot::Loaded) {
        self.last_load_keys_loaded = loaded.keys_loaded;
        self.last_load_keys_expired = loaded.keys_expired;
    }

    pub fn current_time_sec(&self) -> i64 {
        self.started.map_or(-1, |s| s.elapsed().as_secs() as i64)
    }
}

pub static COMMANDS: &[Spec<NodeHandler>] = &[Spec {
    name: "bgsave",
    arity: -1,
    flags: ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
    keys: KeySpec::None,
    run: bgsave,
}];

/// Where RDB files go, from the current config (and replication info when there is any).
pub fn rdb_target(node: &Node) -> RdbTarget {
    RdbTarget {
        dir: PathBuf::from(&node.cfg.dir),
        dbfilename: node.cfg.dbfilename.clone(),
        opts: writer_options(node, repl_aux(node)),
    }
}

/// How every RDB this node writes is encoded (files, full-sync payloads, AOF preambles):
/// `rdbcompression`, `rdbchecksum`, `used-mem`, the replication aux fields `repl`, and
/// `rdb-key-save-delay`.
pub fn writer_options(node: &Node, repl: Option<ReplAux>) -> WriterOptions {
    WriterOptions {
        compression: node.cfg.rdbcompression,
        checksum: node.cfg.rdbchecksum,
        used_mem: node.used_memory,
        repl,
        key_save_delay_us: node.cfg.rdb_key_save_delay,
        ..WriterOptions::default()
    }
}

/// The `repl-id`/`repl-offset`/`repl-stream-db` aux fields, written when the node has a
/// replication history (a replica, or a primary with a backlog) so that a replica restarted
/// from its RDB can ask its primary for a partial resync instead of a full one. The offset is
/// read right before the fork, so it matches the snapshot.
fn repl_aux(node: &Node) -> Option<ReplAux> {
    let st = node.repl.state.borrow();
    if !node.is_replica() && st.backlog.is_none() {
        return None;
    }
    Some(ReplAux {
        stream_db: if node.is_replica() {
            node.repl.master_db as u32
        } else {
            0
        },
        repl_id: Bytes::from(st.replid.clone()),
        offset: st.offset as i64,
    })
}

fn bgsave(node: &mut Node, _id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let schedule = match argv.get(1) {
        None => false,
        Some(a) if argv.len() == 2 && a.eq_ignore_ascii_case(b"schedule") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    if let Some(child) = node.children.running() {
        if child.kind == ChildKind::Rdb {
            return Err(CmdError::msg("Background save already in progress"));
        }
        if !schedule {
            return Err(CmdError::msg(
                "Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            ));
        }
        node.bgsave.scheduled = true;
        return Ok(Frame::simple("Background saving scheduled"));
    }
    start(node).map_err(|e| CmdError::msg_owned(format!("Background save failed: {e}")))?;
    Ok(Frame::simple("Background saving started"))
}

/// Forks the BGSAVE child now.
pub fn start(node: &mut Node) -> Result<(), String> {
    node.prepare_clock_for_save();
    let target = rdb_target(node);
    let fds = node.listener_fds.clone();
    node.bgsave.last_try_ms = unix_ms();
    match rdb_file::start_bgsave(&mut node.children, &node.ks, &target, &fds) {
        Ok(pid) => {
            info!("Background saving started by pid {pid}");
            node.bgsave.dirty_at_fork = node.dirty;
            node.bgsave.started = Some(Instant::now());
            node.bgsave.scheduled = false;
            Ok(())
        }
        Err(e) => {
            node.bgsave.last_ok = false;
            warn!("Can't save in background: fork: {e}");
            Err(e.to_string())
        }
    }
}

/// Called from the cron: reap a finished child, start a scheduled or rule-driven BGSAVE.
pub fn cron(node: &mut Node) {
    if let Some(exit) = node.children.poll() {
        finished(node, exit);
    }
    if node.children.is_busy() {
        return;
    }
    let now = unix_ms();
    let due = save_rules::due(
        &node.cfg.save.0,
        node.dirty,
        (now - node.lastsave_ms) / 1000,
        (now - node.bgsave.last_try_ms) / 1000,
        node.bgsave.last_ok,
    );
    if let Some((secs, changes)) = due {
        info!("{changes} changes in {secs} seconds. Saving...");
        let _ = start(node);
    } else if node.bgsave.scheduled {
        let _ = start(node);
    }
}

fn finished(node: &mut Node, exit: ChildExit) {
    match exit.kind {
        ChildKind::Rdb => {}
        _ => {
            node.child_exited(exit);
            return;
        }
    }
    let target = rdb_target(node);
    rdb_file::finish_bgsave(&exit, &target);
    node.bgsave.last_time_sec = exit.elapsed.as_secs() as i64;
    node.bgsave.started = None;
    node.bgsave.last_cow_size = exit.progress.cow_bytes;
    match &exit.result {
        Ok(()) => {
            // Redis's child logs these two lines itself; ferrokv's child does not log (a
            // forked child must not take the logger's lock), so the parent logs them for it.
            info!("DB saved on disk");
            if exit.progress.cow_bytes > 0 {
                info!(
                    "Fork CoW for RDB: current {} MB, peak {} MB, average {} MB",
                    exit.progress.cow_bytes >> 20,
                    exit.progress.cow_bytes >> 20,
                    exit.progress.cow_bytes >> 20
                );
            }
            info!("Background saving terminated with success");
            node.dirty = node.dirty.saturating_sub(node.bgsave.dirty_at_fork);
            node.lastsave_ms = unix_ms();
            node.bgsave.last_ok = true;
            node.bgsave.saves += 1;
        }
        Err(why) => {
            // Redis's line; the child's own stderr line said what failed.
            warn!("Background saving error");
            debug!("Background saving child: {why}");
            node.bgsave.last_ok = false;
        }
    }
}

/// `-MISCONF`: writes are refused while the last background save failed, if
/// `stop-writes-on-bgsave-error yes` and save rules are configured (as Redis does).
pub fn refuses_writes(node: &Node) -> bool {
    node.cfg.stop_writes_on_bgsave_error && !node.cfg.save.0.is_empty() && !node.bgsave.last_ok
}
