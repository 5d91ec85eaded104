//! The append-only file on the node: feeding it, writing and fsyncing it, BGREWRITEAOF,
//! automatic rewrites, turning AOF on and off at runtime, and loading it at startup.
//!
//! ## Data flow
//!
//! Every write's propagation form reaches [`AofTap`] (a [`StreamTap`] on the node's
//! replication stream), which appends it to an in-memory buffer. On a replica the commands
//! applied from the primary go through the same pipeline, so its AOF holds what it applied.
//! The buffer is written by [`before_reply`] — called before a connection writes replies
//! (Redis's `beforeSleep`) — and by the cron:
//!
//! | `appendfsync` | write(2)            | fsync                                            |
//! |---------------|---------------------|--------------------------------------------------|
//! | `always`      | before the reply    | `fdatasync` before the reply; failure exits       |
//! | `everysec`    | before the reply    | background thread, at most once a second          |
//! | `no`          | before the reply    | never (the kernel decides)                        |
//!
//! `everysec` postpones a write while the background fsync runs, for at most 2 s; after
//! that it writes anyway and counts `aof_delayed_fsync` (see
//! [`ferrokv_replica::persist::aof::flush_decision`]). `no-appendfsync-on-rewrite yes`
//! skips fsyncs while a child runs. A failed write (disk full, I/O error) is cut back to the
//! last complete command, sets `aof_last_write_status:err` and makes write commands fail
//! with `-MISCONF Errors writing to the AOF file: <reason>` until a retry succeeds.
//!
//! ## States (Redis's `aof_state`)
//!
//! ```text
//! Off --CONFIG SET appendonly yes--> WaitRewrite --rewrite succeeded--> On
//!  ^                                    |  (rewrite failed: scheduled again)
//!  +--------CONFIG SET appendonly no----+---------------------------------+
//! ```
//!
//! In `WaitRewrite` writes go to `temp-<appendfilename>.incr` once the rewrite child runs;
//! the rewrite's success renames it into the manifest as a real INCR.
//!
//! ## BGREWRITEAOF
//!
//! See `ferrokv_replica::persist::rewrite` for the steps; here: flush, open the next INCR
//! and persist the manifest, fork, and when the child is reaped (the BGSAVE cron reaps every
//! child and routes `AofRewrite` exits to [`rewrite_done`]) install the new BASE and
//! remove the HISTORY files in the background. One child at a time: a rewrite asked for
//! while another child runs is scheduled, as in Redis.
//!
//! `PUBLISH` never reaches the AOF, inside `MULTI`/`EXEC` either; a transaction keeps the
//! MULTI/EXEC wrapping it had in the replication stream (see `propagate.rs`).
//!
//! ## A replica's replication position (ferrokv extension)
//!
//! So that a replica restarted from its AOF can `PSYNC` (Redis 7.0 can't: it full-syncs),
//! its AOF records where its dataset stands in the primary's stream, in forms real Redis
//! skips (`ferrokv_proto::aof::repl_mark`):
//!
//! 1. Each rewrite's BASE carries the replication id, offset and stream db at the fork,
//!    which is also where the new INCR begins ([`rewrite_options`]).
//! 2. After applying stream commands that left records in the AOF buffer, the replica notes
//!    its position ([`stream_applied`]); the next write of the buffer appends it as a
//!    `#ferrokv-repl:<replid>:<offset>:<db>` line, in the same write(2) as the records before
//!    it ([`flush`]). A crash mid-write thus leaves commands after the last mark, which the
//!    loader reads as "offset unknown" (full resync), never a mark ahead of its commands.
//! 3. Stream bytes that leave no record (the primary's PING, `REPLCONF GETACK`, a command
//!    that failed) advance the offset without a mark. The last mark may then lag the real
//!    offset, but only by such bytes: resuming from it makes the primary resend them, and
//!    they change no data, so the dataset ends up the same.
//! 4. At boot ([`load_at_startup`]) a replica whose files end on a mark (nothing applied
//!    after it) takes its id, offset and db as its cached primary's, so its first PSYNC asks
//!    for `<replid> <offset+1>` (see `Node::resume_history`).
//!
//! A primary writes no marks (its base neither): its files stay exactly Redis's.
//!
//! ## Deviations
//!
//! - SIGXFSZ is caught (see `serve`): a write past `RLIMIT_FSIZE` fails with EFBIG and is
//!   handled like a full disk, where Redis is killed by the signal.

use std::cell::RefCell;
use std::fs::File;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use ferrokv_proto::aof::manifest::temp_incr_name;
use ferrokv_proto::aof::{Manifest, ReplMark};
use ferrokv_proto::resp::{encode_command, Frame};
use ferrokv_replica::persist::aof::{self as files, AofLayout, Flush, FsyncPolicy, Fsyncer};
use ferrokv_replica::persist::boot::{self, AofBoot, AofSink, Batch, BootOptions, ReplPosition};
use ferrokv_replica::persist::rewrite::{self, RewriteOptions};
use ferrokv_store::cmd::{CmdError, KeySpec, Spec, ADMIN, NOSCRIPT, NO_ASYNC_LOADING};
use ferrokv_store::fork::{ChildExit, ChildKind};
use ferrokv_store::keyspace::ExpireMode;
use ferrokv_store::snapshot::{LoadOptions, Loaded, Step};
use tracing::{error, info, warn};

use crate::client::ClientId;
use crate::commands::{self, NodeHandler};
use crate::loading;
use crate::node::{unix_ms, Node};
use crate::propagate::StreamTap;
use crate::stats::UnreadError;

/// Redis's `AOF_REWRITE_LIMITE_THRESHOLD`: automatic rewrites slow down after this many
/// consecutive failures.
const FAILURES_BEFORE_LIMIT: u64 = 3;
/// Redis's `AOF_REWRITE_LIMITE_MAX_MINUTES`.
const LIMIT_MAX_MINUTES: i64 = 60;
/// Write errors are logged at most this often (Redis's `AOF_WRITE_LOG_ERROR_RATE`).
const WRITE_ERROR_LOG_SECS: i64 = 30;

pub static COMMANDS: &[Spec<NodeHandler>] = &[Spec {
    name: "bgrewriteaof",
    arity: 1,
    flags: ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
    keys: KeySpec::None,
    run: bgrewriteaof,
}];

/// `aof_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Off,
    On,
    /// Turned on at runtime, waiting for the first rewrite to succeed.
    WaitRewrite,
}

/// What the tap shares with the node: the buffer not yet written.
#[derive(Default)]
struct TapState {
    buf: BytesMut,
    /// Whether writes are buffered (On, or WaitRewrite while the rewrite child runs).
    accepting: bool,
    /// The db selected in the AOF file being written (`None` = a SELECT must come first).
    file_db: Option<usize>,
    /// The stream's db after the last feed: the db of the next bytes when they do not begin
    /// with a SELECT.
    stream_db: usize,
    /// `aof-timestamp-enabled`.
    timestamps: bool,
    /// The second of the last `#TS:` annotation written (Redis's `aof_cur_timestamp`).
    last_timestamp: i64,
    /// Records were buffered since the last replication position was noted.
    unmarked: bool,
    /// The replica's position after the records in `buf`, written after them by the next
    /// flush (see the module doc).
    pending_mark: Option<ReplMark>,
}

impl TapState {
    /// Drops what was buffered (AOF turned off, or waiting for another rewrite).
    fn discard(&mut self) {
        self.buf.clear();
        self.unmarked = false;
        self.pending_mark = None;
    }
}

/// The [`StreamTap`] that buffers the AOF's share of the stream.
pub struct AofTap(Rc<RefCell<TapState>>);

const SELECT_PREFIX: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$";

/// The db of a leading `SELECT` in `bytes`, and the bytes after it.
fn leading_select(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let rest = bytes.strip_prefix(SELECT_PREFIX)?;
    let cr = rest.iter().position(|&b| b == b'\r')?;
    let len: usize = std::str::from_utf8(&rest[..cr]).ok()?.parse().ok()?;
    let body = rest.get(cr + 2..cr + 2 + len)?;
    let db = std::str::from_utf8(body).ok()?.parse().ok()?;
    Some((db, rest.get(cr + 2 + len + 2..)?))
}

/// Commands the replication stream carries that never go to the AOF: the stream's own PING
/// and GETACK (PUBLISH normally comes through `feed_filtered` already left out).
fn replication_only(cmd: &[u8]) -> bool {
    let starts = |prefix: &[u8], name: &[u8]| {
        cmd.strip_prefix(prefix)
            .and_then(|r| r.get(..name.len()))
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    };
    starts(b"*1\r\n$4\r\n", b"ping\r\n")
        || starts(b"*3\r\n$8\r\n", b"replconf\r\n")
        || starts(b"*3\r\n$7\r\n", b"publish\r\n")
}

impl AofTap {
    /// Buffers `bytes` (a run of the stream) if the AOF takes it: `last_db` is the db its
    /// last command runs in, `stream_db` the stream's db after it.
    fn append(&mut self, bytes: &[u8], last_db: usize, stream_db: usize) {
        let mut t = self.0.borrow_mut();
        let (first_db, body) = match leading_select(bytes) {
            Some((d, rest)) => (d, rest),
            None => (t.stream_db, bytes),
        };
        t.stream_db = stream_db;
        if !t.accepting || body.is_empty() || replication_only(body) {
            return;
        }
        if t.timestamps {
            // Redis's `feedAppendOnlyFile`: `#TS:<secs>` before the first command of each
            // new second, ahead of its SELECT.
            let now = unix_ms() / 1000;
            if t.last_timestamp < now {
                t.last_timestamp = now;
                t.buf.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            }
        }
        if t.file_db != Some(first_db) {
            let n = first_db.to_string();
            encode_command(&[&b"SELECT"[..], n.as_bytes()], &mut t.buf);
        }
        t.buf.extend_from_slice(body);
        t.file_db = Some(last_db);
        t.unmarked = true;
    }
}

impl StreamTap for AofTap {
    fn feed(&mut self, bytes: &Bytes, db: usize) {
        self.append(bytes, db, db);
    }

    fn active(&self) -> bool {
        // While not accepting, the stream may be skipped: its next run starts with a SELECT,
        // which sets `stream_db` again.
        self.0.borrow().accepting
    }

    fn takes_replication_only(&self) -> bool {
        false
    }

    fn feed_filtered(&mut self, bytes: &Bytes, last_db: usize, stream_db: usize) {
        self.append(bytes, last_db, stream_db);
    }
}

/// The node's AOF state (INFO persistence `aof_*`).
pub struct AofState {
    pub status: Status,
    tap: Rc<RefCell<TapState>>,
    layout: Option<AofLayout>,
    manifest: Manifest,
    /// The INCR (or temp INCR) being appended to.
    file: Option<Arc<File>>,
    fsyncer: Option<Fsyncer>,
    /// `aof_current_size`: BASE + INCR bytes.
    pub current_size: u64,
    /// `aof_base_size`: the size after the last rewrite (the BASE's after a restart).
    pub base_size: u64,
    /// Bytes in the open INCR.
    incr_size: u64,
    fsync_offset: u64,
    last_fsync_secs: i64,
    postponed_since: Option<i64>,
    pub delayed_fsync: u64,
    /// `aof_last_write_status:err` with Redis's reason text.
    pub last_write_error: Option<String>,
    last_write_error_log: i64,
    pub rewrite_scheduled: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_rewrite_ok: bool,
    pub last_rewrite_time_sec: i64,
    pub last_cow_size: u64,
    rewrite_started: Option<Instant>,
    /// Automatic rewrites are not tried before this Unix second (after repeated failures).
    next_auto_rewrite: i64,
    next_delay_minutes: i64,
}

impl Default for AofState {
    fn default() -> Self {
        AofState {
            status: Status::Off,
            tap: Rc::default(),
            layout: None,
            manifest: Manifest::default(),
            file: None,
            fsyncer: None,
            current_size: 0,
            base_size: 0,
            incr_size: 0,
            fsync_offset: 0,
            last_fsync_secs: 0,
            postponed_since: None,
            delayed_fsync: 0,
            last_write_error: None,
            last_write_error_log: 0,
            rewrite_scheduled: false,
            rewrites: 0,
            consecutive_failures: 0,
            last_rewrite_ok: true,
            last_rewrite_time_sec: -1,
            last_cow_size: 0,
            rewrite_started: None,
            next_auto_rewrite: 0,
            next_delay_minutes: 0,
        }
    }
}

impl AofState {
    /// `aof_current_rewrite_time_sec`.
    pub fn current_rewrite_time_sec(&self) -> i64 {
        self.rewrite_started
            .map_or(-1, |s| s.elapsed().as_secs() as i64)
    }

    /// `aof_buffer_length`.
    pub fn buffer_len(&self) -> usize {
        self.tap.borrow().buf.len()
    }

    /// `aof_pending_bio_fsync`.
    pub fn pending_fsync(&self) -> usize {
        self.fsyncer.as_ref().map_or(0, Fsyncer::pending)
    }

    /// The reason writes are failing, from the writer or the fsync thread.
    pub fn write_error(&self) -> Option<String> {
        if self.status == Status::Off {
            return None;
        }
        self.last_write_error
            .clone()
            .or_else(|| self.fsyncer.as_ref().and_then(Fsyncer::last_error))
    }
}

/// Redis's text for an I/O error (`strerror`).
fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

fn layout(node: &Node) -> AofLayout {
    AofLayout {
        dir: PathBuf::from(&node.cfg.dir),
        dirname: node.cfg.appenddirname.clone(),
        filename: node.cfg.appendfilename.clone(),
    }
}

/// A replica's current position in its primary's stream (`None` on a primary, or on a
/// replica that never synced: there is nothing a primary could continue).
fn repl_mark(node: &Node) -> Option<ReplMark> {
    if !node.is_replica() || !node.repl.has_history {
        return None;
    }
    let st = node.repl.state.borrow();
    ReplMark::new(
        &st.replid,
        st.offset,
        u32::try_from(node.repl.master_db).unwrap_or(0),
    )
}

/// Step 2 of "A replica's replication position" (module doc): called by the replica after
/// each stream command it applied and counted in its offset.
pub fn stream_applied(node: &Node) {
    let mut t = node.aof.tap.borrow_mut();
    if !t.unmarked {
        return;
    }
    t.unmarked = false;
    t.pending_mark = repl_mark(node);
}

fn rewrite_options(node: &Node) -> RewriteOptions {
    RewriteOptions {
        preamble: node.cfg.aof_use_rdb_preamble,
        rdb: crate::bgsave::writer_options(node, None),
        timestamp: node.cfg.aof_timestamp_enabled.then(|| unix_ms() / 1000),
        repl: repl_mark(node),
    }
}

fn policy(node: &Node) -> FsyncPolicy {
    FsyncPolicy::from_config(&node.cfg.appendfsync)
}

fn fsyncer(aof: &mut AofState) -> Option<&Fsyncer> {
    if aof.fsyncer.is_none() {
        match Fsyncer::start() {
            Ok(f) => aof.fsyncer = Some(f),
            Err(e) => warn!("Can't start the AOF fsync thread: {e}"),
        }
    }
    aof.fsyncer.as_ref()
}

/// `-MISCONF` for write commands while the AOF can't be written (checked with the other
/// write gates).
pub fn write_denied(node: &Node) -> Option<CmdError> {
    node.aof.write_error().map(|why| {
        CmdError::Coded(
            "MISCONF",
            format!("Errors writing to the AOF file: {why}").into(),
        )
    })
}

/// Writes (and, per policy, fsyncs) the buffer before replies go out.
pub fn before_reply(node: &mut Node) {
    flush(node, false);
}

/// Redis's `flushAppendOnlyFile(force)` (see the module doc).
pub fn flush(node: &mut Node, force: bool) {
    if node.aof.file.is_none() {
        return; // AOF off: nothing to write (this runs before every reply)
    }
    let pol = policy(node);
    let skip_fsync = node.cfg.no_appendfsync_on_rewrite && node.children.is_busy();
    let aof = &mut node.aof;
    let Some(file) = aof.file.clone() else {
        return;
    };
    let now = unix_ms() / 1000;
    if aof.tap.borrow().buf.is_empty() {
        // Nothing new, but bytes written in the last second may still await their fsync.
        if pol == FsyncPolicy::EverySec
            && aof.fsync_offset != aof.current_size
            && now > aof.last_fsync_secs
            && !skip_fsync
        {
            if let Some(f) = fsyncer(aof) {
                if !f.in_progress() {
                    f.fsync(file);
                    aof.last_fsync_secs = now;
                    aof.fsync_offset = aof.current_size;
                }
            }
        }
        return;
    }
    let in_progress =
        pol == FsyncPolicy::EverySec && fsyncer(aof).is_some_and(Fsyncer::in_progress);
    match files::flush_decision(pol, force, in_progress, now, &mut aof.postponed_since) {
        Flush::Postpone => return,
        Flush::Write { delayed: true } => {
            aof.delayed_fsync += 1;
            warn!("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.");
        }
        Flush::Write { delayed: false } => {}
    }
    let mut buf = {
        let mut t = aof.tap.borrow_mut();
        // The records, then the position they reach, in one write(2) (see the module doc).
        if let Some(mark) = t.pending_mark.take() {
            mark.encode(&mut t.buf);
        }
        std::mem::take(&mut t.buf)
    };
    match files::append(&file, &buf, aof.incr_size) {
        Ok(()) => {
            aof.current_size += buf.len() as u64;
            aof.incr_size += buf.len() as u64;
            if aof.last_write_error.take().is_some() {
                warn!("AOF write error looks solved, Redis can write again.");
            }
            buf.clear();
            // Keep the allocation unless it grew large.
            if buf.capacity() <= 4 << 20 {
                let mut t = aof.tap.borrow_mut();
                let newer = std::mem::take(&mut t.buf);
                buf.extend_from_slice(&newer);
                t.buf = buf;
            }
        }
        Err((e, left)) => {
            if pol == FsyncPolicy::Always {
                error!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting... ({e})");
                std::process::exit(1);
            }
            // Bytes that could not be cut back stay in the file: don't write them twice.
            let left = (left as usize).min(buf.len());
            aof.current_size += left as u64;
            aof.incr_size += left as u64;
            buf.advance(left);
            let why = strerror(&e);
            if now - aof.last_write_error_log >= WRITE_ERROR_LOG_SECS {
                warn!("Error writing to the AOF file: {why}");
                aof.last_write_error_log = now;
            }
            aof.last_write_error = Some(why);
            let mut t = aof.tap.borrow_mut();
            let newer = std::mem::take(&mut t.buf);
            buf.extend_from_slice(&newer);
            t.buf = buf;
            return;
        }
    }
    if skip_fsync {
        return;
    }
    match pol {
        FsyncPolicy::Always => {
            if let Err(e) = file.sync_data() {
                error!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...", strerror(&e));
                std::process::exit(1);
            }
            aof.fsync_offset = aof.current_size;
            aof.last_fsync_secs = now;
        }
        FsyncPolicy::EverySec => {
            if now > aof.last_fsync_secs {
                if let Some(f) = fsyncer(aof) {
                    if !f.in_progress() {
                        f.fsync(file);
                    }
                }
                aof.last_fsync_secs = now;
                aof.fsync_offset = aof.current_size;
            }
        }
        FsyncPolicy::No => {}
    }
}

/// RDB items or commands (a transaction counts as one) per loading step.
const LOAD_STEP_UNITS: usize = 256;

/// Loads the dataset from the AOF at startup when `appendonly yes`, then opens it for
/// appending. Errors mean the process must not serve.
///
/// 1. Attach the AOF's tap to the stream (it buffers nothing until the AOF is on).
/// 2. Find the files ([`boot::begin`]); while they load (through [`loading::run`], as the
///    RDB file does) connections get `-LOADING` and INFO shows `loading:1` with progress over
///    the bytes of BASE + INCR files. Commands run through the node's command table for a
///    fake client; nothing they do is propagated (the stream's taps are detached).
/// 3. Open the last INCR for appending (`open_for_append`) and turn the AOF on.
pub async fn load_at_startup(node: &Rc<RefCell<Node>>) -> Result<(), String> {
    let (layout, opts) = {
        let mut n = node.borrow_mut();
        let tap = AofTap(n.aof.tap.clone());
        n.stream.attach(Box::new(tap));
        if !n.cfg.appendonly {
            return Ok(());
        }
        let opts = BootOptions {
            load_truncated: n.cfg.aof_load_truncated,
            rdb: LoadOptions {
                cfg: n.ks.cfg.clone(),
                now_ms: unix_ms(),
                drop_expired: false,
            },
        };
        (layout(&n), opts)
    };
    let started = Instant::now();
    let boot = match boot::begin(&layout, &opts).map_err(|e| e.to_string())? {
        boot::Begin::Done(boot) => boot,
        boot::Begin::Load(mut loader) => {
            // Nothing loaded is propagated (no replica, backlog or AOF sees it).
            let (taps, id) = {
                let mut n = node.borrow_mut();
                let taps = std::mem::take(&mut n.stream.taps);
                let addr: std::net::SocketAddr = ([0, 0, 0, 0], 0).into();
                (taps, n.add_client(addr, addr).0)
            };
            let result = loading::run(node, loader.total(), |n| {
                let step = loader.step(&mut NodeSink { node: n, id }, LOAD_STEP_UNITS)?;
                Ok::<_, boot::BootError>(loading::Progress {
                    done: step == Step::Done,
                    bytes: loader.progress(),
                    rdb_used_mem: loader.rdb_used_mem(),
                })
            })
            .await;
            let mut n = node.borrow_mut();
            n.remove_client(id);
            n.stream.taps = taps;
            n.stream.reset_selected_db();
            result.map_err(|e| e.to_string())?;
            loader.finish()
        }
    };
    open_at_startup(&mut node.borrow_mut(), layout, boot, started)
}

/// Step 3 of [`load_at_startup`].
fn open_at_startup(
    node: &mut Node,
    layout: AofLayout,
    boot: AofBoot,
    started: Instant,
) -> Result<(), String> {
    let mut repl = ReplPosition::Unknown;
    let manifest = match boot {
        AofBoot::NotExist(m) => m,
        AofBoot::Empty(m) => {
            info!("AOF loaded anyway because it is empty");
            Some(m)
        }
        AofBoot::Loaded(l) => {
            info!(
                "DB loaded from append only file: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            node.aof.base_size = l.base_size;
            repl = l.repl;
            Some(l.manifest)
        }
    };
    node.dirty = 0;
    node.prepare_clock_for_save();
    let opts = rewrite_options(node);
    let writes_base = !manifest
        .as_ref()
        .is_some_and(|m| m.base.is_some() || !m.incrs.is_empty());
    let (manifest, file, name) =
        boot::open_for_append(&layout, manifest, &node.ks, &opts).map_err(|e| e.to_string())?;
    let aof = &mut node.aof;
    if writes_base {
        // A RESP base written now starts with `#TS:`: the INCR needs none in that second.
        aof.tap.borrow_mut().last_timestamp = opts.timestamp.unwrap_or(0);
    }
    aof.incr_size = layout.file_size(&name);
    aof.current_size = manifest
        .files_to_load()
        .map(|f| layout.file_size(&f.name))
        .sum();
    if aof.base_size == 0 {
        aof.base_size = manifest
            .base
            .as_ref()
            .map_or(0, |b| layout.file_size(&b.name));
    }
    aof.fsync_offset = aof.current_size;
    aof.manifest = manifest;
    aof.layout = Some(layout);
    aof.file = Some(Arc::new(file));
    aof.status = Status::On;
    {
        let mut t = aof.tap.borrow_mut();
        t.accepting = true;
        t.file_db = None;
    }
    // HISTORY files left by a run with `aof-disable-auto-gc yes` go now, unless it is
    // still set (Redis's `aofDelHistoryFiles` after opening the AOF at startup).
    apply_config(node);
    resume_replication(node, repl);
    Ok(())
}

/// Step 4 of "A replica's replication position" (module doc).
fn resume_replication(node: &mut Node, repl: ReplPosition) {
    if !node.is_replica() {
        return;
    }
    match repl {
        ReplPosition::At(m) => {
            node.resume_history(&m.replid, m.offset, m.stream_db as usize, "AOF");
        }
        ReplPosition::CommandsAfter(m) => warn!(
            "The AOF has commands after its last replication mark (replid={} offset={}), as a write cut short by a crash leaves: the offset they reached is unknown, so a full resynchronization will follow",
            m.replid, m.offset
        ),
        ReplPosition::Unknown => info!(
            "The AOF carries no replication position: a full resynchronization will follow"
        ),
    }
}

/// Applies AOF commands through the node's command table, as the AOF client of Redis does.
struct NodeSink<'a> {
    node: &'a mut Node,
    id: ClientId,
}

impl AofSink for NodeSink<'_> {
    fn install_rdb(&mut self, loaded: Loaded) {
        info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            loaded.keys_loaded, loaded.keys_expired
        );
        self.node.bgsave.note_load(&loaded);
        self.node.ks.replace_dbs(loaded.dbs);
    }

    /// Error replies go nowhere but count as Redis's AOF client's do: in errorstats and
    /// `unexpected_error_replies`, with the CRITICAL log line; a command of a transaction
    /// is logged under EXEC and counted as a failed call (Redis's EXEC runs it through
    /// `call`, which counts failures but, while loading, no calls).
    fn apply(&mut self, cmds: &[Vec<Bytes>], batch: Batch) -> Result<(), String> {
        let in_tx = batch == Batch::Transaction;
        for argv in cmds {
            let Some(cmd) = commands::lookup(&argv[0]) else {
                return Err(String::from_utf8_lossy(&argv[0]).into_owned());
            };
            let n = &mut *self.node;
            if !cmd.arity_ok(argv.len()) {
                // Redis would run it anyway; ferrokv skips it and reports it like an error.
                let line = CmdError::WrongArity(cmd.name().to_string()).to_line();
                n.stats.record_error(line.as_bytes());
                n.note_unread_error(UnreadError::ToAofLoader, line.as_bytes(), Some(cmd.name()));
                continue;
            }
            n.ks.now_ms = unix_ms();
            n.ks.lru_clock = (n.ks.now_ms / 1000) as u32;
            // Expiry is the AOF's business (its DELs): act on exactly the data it describes.
            n.ks.mode = ExpireMode::ReplicaApply;
            let error = match n.run_command(self.id, cmd, argv, true) {
                Err(e) => Some(Bytes::from(e.to_line())),
                Ok(Some(Frame::Error(line))) => Some(line),
                Ok(_) => None,
            };
            if let Some(line) = error {
                let stat = commands::stat_name(cmd.name(), argv);
                n.stats.record_error(&line);
                if in_tx {
                    if let Some(name) = stat {
                        n.stats.record_failed_only(name);
                    }
                }
                let logged_as = if in_tx { Some("exec") } else { stat };
                n.note_unread_error(UnreadError::ToAofLoader, &line, logged_as);
            }
        }
        Ok(())
    }
}

fn bgrewriteaof(node: &mut Node, id: ClientId, _argv: &[Bytes]) -> Result<Frame, CmdError> {
    let in_exec = node.clients.get(&id).is_some_and(|c| c.multi.is_some());
    let running = node.children.running().map(|c| c.kind);
    if running == Some(ChildKind::AofRewrite) {
        return Err(CmdError::msg(
            "Background append only file rewriting already in progress",
        ));
    }
    if running.is_some() || in_exec {
        node.aof.rewrite_scheduled = true;
        node.aof.consecutive_failures = 0;
        return Ok(Frame::simple(
            "Background append only file rewriting scheduled",
        ));
    }
    node.aof.consecutive_failures = 0;
    match start_rewrite(node) {
        Ok(()) => Ok(Frame::simple("Background append only file rewriting started")),
        Err(_) => Err(CmdError::msg(
            "Can't execute an AOF background rewriting. Please check the server logs for more information.",
        )),
    }
}

/// Redis's `rewriteAppendOnlyFileBackground`: flush, open the next INCR, fork.
pub fn start_rewrite(node: &mut Node) -> Result<(), String> {
    if node.children.is_busy() {
        return Err("a child process is already running".into());
    }
    let layout = node.aof.layout.clone().unwrap_or_else(|| layout(node));
    node.aof.layout = Some(layout.clone());
    flush(node, true);
    if let Err(e) = open_next_incr(node, &layout) {
        warn!("{e}");
        node.aof.last_rewrite_ok = false;
        return Err(e);
    }
    node.prepare_clock_for_save();
    let opts = rewrite_options(node);
    let fds = node.listener_fds.clone();
    match rewrite::start_rewrite(&mut node.children, &node.ks, &layout, &opts, &fds) {
        Ok(pid) => {
            info!("Background append only file rewriting started by pid {pid}");
            let aof = &mut node.aof;
            aof.rewrite_scheduled = false;
            aof.rewrite_started = Some(Instant::now());
            aof.rewrites += 1;
            Ok(())
        }
        Err(e) => {
            warn!("Can't rewrite append only file in background: fork: {e}");
            node.aof.last_rewrite_ok = false;
            Err(e.to_string())
        }
    }
}

/// Step 1 of a rewrite: the next INCR (On) or the temp INCR (WaitRewrite) becomes the file
/// written; the old one is fsynced and closed in the background.
fn open_next_incr(node: &mut Node, layout: &AofLayout) -> Result<(), String> {
    let aof = &mut node.aof;
    let (name, file, manifest) = match aof.status {
        Status::Off => return Ok(()),
        Status::WaitRewrite => {
            layout.create_dir().map_err(|e| e.to_string())?;
            let name = temp_incr_name(&layout.filename);
            let f = layout.create_append(&name).map_err(|e| e.to_string())?;
            (name, f, None)
        }
        Status::On => {
            let mut m = aof.manifest.clone();
            let name = m.new_incr(&layout.filename);
            let f = layout.create_append(&name).map_err(|e| e.to_string())?;
            layout.persist_manifest(&m).map_err(|e| e.to_string())?;
            (name, f, Some(m))
        }
    };
    info!("Creating AOF incr file {name} on background rewrite");
    if let Some(old) = aof.file.take() {
        if let Some(f) = fsyncer(aof) {
            f.fsync_and_close(old);
        }
    }
    aof.fsync_offset = aof.current_size;
    aof.last_fsync_secs = unix_ms() / 1000;
    aof.file = Some(Arc::new(file));
    aof.incr_size = 0;
    if let Some(m) = manifest {
        aof.manifest = m;
    }
    let mut t = aof.tap.borrow_mut();
    t.accepting = true;
    t.file_db = None;
    Ok(())
}

/// The rewrite child was reaped (routed here by `Node::child_exited`).
pub fn rewrite_done(node: &mut Node, exit: ChildExit) {
    let aof = &mut node.aof;
    aof.rewrite_started = None;
    aof.last_rewrite_time_sec = exit.elapsed.as_secs() as i64;
    aof.last_cow_size = exit.progress.cow_bytes;
    let Some(layout) = aof.layout.clone() else {
        return;
    };
    if let Err(why) = &exit.result {
        warn!("Background AOF rewrite terminated with error: child {why}");
        rewrite::cleanup_failed(&layout, exit.pid);
        rewrite_failed(node, &layout);
        return;
    }
    info!("Background AOF rewrite terminated with success");
    let preamble = node.cfg.aof_use_rdb_preamble;
    let gc_disabled = node.cfg.aof_disable_auto_gc;
    let aof = &mut node.aof;
    let open_incrs = usize::from(aof.status == Status::On);
    let temp = (aof.status == Status::WaitRewrite).then(|| temp_incr_name(&layout.filename));
    match rewrite::install_base(
        &layout,
        &aof.manifest,
        exit.pid,
        preamble,
        open_incrs,
        temp.as_deref(),
    ) {
        Ok((m, base, base_size)) => {
            info!(
                "Successfully renamed the temporary AOF base file temp-rewriteaof-bg-{}.aof into {base}",
                exit.pid
            );
            aof.manifest = m;
            if aof.status == Status::WaitRewrite {
                aof.status = Status::On;
                info!("AOF rewrite after enabling appendonly succeeded: AOF is on");
            }
            aof.current_size = base_size + aof.incr_size;
            aof.base_size = aof.current_size;
            aof.fsync_offset = aof.current_size;
            aof.last_rewrite_ok = true;
            aof.consecutive_failures = 0;
            if !gc_disabled {
                delete_history(aof, &layout);
            }
            info!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            warn!("Error installing the rewritten AOF base: {e}");
            rewrite::cleanup_failed(&layout, exit.pid);
            rewrite_failed(node, &layout);
        }
    }
}

fn rewrite_failed(node: &mut Node, layout: &AofLayout) {
    let aof = &mut node.aof;
    aof.last_rewrite_ok = false;
    aof.consecutive_failures += 1;
    if aof.status == Status::WaitRewrite {
        // The writes since the fork are in the next rewrite's snapshot anyway.
        aof.file = None;
        aof.tap.borrow_mut().accepting = false;
        aof.tap.borrow_mut().discard();
        let temp = layout.path(&temp_incr_name(&layout.filename));
        info!(
            "Removing the temp incr aof file {} in the background",
            temp.display()
        );
        if let Some(f) = fsyncer(aof) {
            f.unlink(temp);
        }
        aof.rewrite_scheduled = true;
    }
}

/// Redis's `aofDelHistoryFiles` (callers check `aof-disable-auto-gc`): persist the manifest
/// without the HISTORY entries, then unlink them in the background.
fn delete_history(aof: &mut AofState, layout: &AofLayout) {
    if aof.manifest.history.is_empty() {
        return;
    }
    let history = std::mem::take(&mut aof.manifest.history);
    if let Err(e) = layout.persist_manifest(&aof.manifest) {
        warn!("{e}");
        aof.manifest.history = history;
        return;
    }
    for h in history {
        info!("Removing the history file {} in the background", h.name);
        if let Some(f) = fsyncer(aof) {
            f.unlink(layout.path(&h.name));
        }
    }
}

/// Applies the AOF directives after `CONFIG SET` (and once the AOF is open at startup):
/// `appendonly` starts (via a rewrite) or stops the AOF when the config and the state
/// disagree; `aof-timestamp-enabled`; `aof-disable-auto-gc` (turning GC back on removes the
/// HISTORY files at once, as Redis's `updateAofAutoGCEnabled` does).
pub fn apply_config(node: &mut Node) {
    // While the dataset loads at startup the AOF is not open yet (status Off with
    // `appendonly yes`): acting on that mismatch would fork a rewrite of the half-loaded
    // dataset and make it the new base. CONFIG SET is allowed while loading; the AOF applies
    // the config when it opens (`open_at_startup`).
    if node.loading.is_some() {
        return;
    }
    match (node.cfg.appendonly, node.aof.status) {
        (true, Status::Off) => start_append_only(node),
        (false, Status::On | Status::WaitRewrite) => stop_append_only(node),
        _ => {}
    }
    node.aof.tap.borrow_mut().timestamps = node.cfg.aof_timestamp_enabled;
    if !node.cfg.aof_disable_auto_gc
        && node.aof.status == Status::On
        && !node.aof.manifest.history.is_empty()
    {
        if let Some(layout) = node.aof.layout.clone() {
            delete_history(&mut node.aof, &layout);
        }
    }
}

/// Redis's `startAppendOnly`.
fn start_append_only(node: &mut Node) {
    node.aof.status = Status::WaitRewrite;
    node.aof.layout = Some(layout(node));
    if let Some(child) = node.children.running() {
        if child.kind != ChildKind::AofRewrite {
            node.aof.rewrite_scheduled = true;
            warn!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
            return;
        }
        warn!("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
        kill_rewrite(node);
    }
    if start_rewrite(node).is_err() {
        warn!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
        node.aof.status = Status::Off;
        node.cfg.appendonly = false;
    }
}

/// Redis's `stopAppendOnly`.
fn stop_append_only(node: &mut Node) {
    flush(node, true);
    let aof = &mut node.aof;
    if let Some(f) = aof.file.take() {
        let _ = f.sync_data();
    }
    let was_waiting = aof.status == Status::WaitRewrite;
    aof.status = Status::Off;
    aof.rewrite_scheduled = false;
    {
        let mut t = aof.tap.borrow_mut();
        t.accepting = false;
        t.discard();
    }
    if node
        .children
        .running()
        .is_some_and(|c| c.kind == ChildKind::AofRewrite)
    {
        kill_rewrite(node);
    }
    if was_waiting {
        if let Some(l) = node.aof.layout.clone() {
            let _ = std::fs::remove_file(l.path(&temp_incr_name(&l.filename)));
        }
    }
    info!("AOF turned off");
}

fn kill_rewrite(node: &mut Node) {
    if let Some(exit) = node.children.kill() {
        info!("Killing running AOF rewrite child: {}", exit.pid);
        node.aof.rewrite_started = None;
        if let Some(l) = &node.aof.layout {
            rewrite::cleanup_failed(l, exit.pid);
        }
    }
}

/// The AOF's share of the cron: scheduled and automatic rewrites, the everysec fsync and
/// the retry of a failed write.
pub fn cron(node: &mut Node) {
    if !node.children.is_busy() && node.aof.rewrite_scheduled && node.aof.status != Status::Off {
        let _ = start_rewrite(node);
    }
    let now = unix_ms() / 1000;
    let aof = &node.aof;
    let perc = node.cfg.auto_aof_rewrite_percentage;
    if aof.status == Status::On
        && !node.children.is_busy()
        && perc > 0
        && aof.current_size > node.cfg.auto_aof_rewrite_min_size as u64
    {
        let base = aof.base_size.max(1);
        let growth = (aof.current_size * 100 / base) as i64 - 100;
        if growth >= perc && !rewrite_limited(&mut node.aof, now) {
            info!("Starting automatic rewriting of AOF on {growth}% growth");
            let _ = start_rewrite(node);
        }
    }
    flush(node, false);
}

/// Redis's `aofRewriteLimited`: after 3 consecutive failures, wait 1, 2, 4 … 60 minutes.
fn rewrite_limited(aof: &mut AofState, now: i64) -> bool {
    if aof.consecutive_failures < FAILURES_BEFORE_LIMIT {
        aof.next_delay_minutes = 0;
        aof.next_auto_rewrite = 0;
        return false;
    }
    if aof.next_auto_rewrite != 0 {
        if now < aof.next_auto_rewrite {
            return true;
        }
        aof.next_auto_rewrite = 0;
        return false;
    }
    aof.next_delay_minutes = if aof.next_delay_minutes == 0 {
        1
    } else {
        (aof.next_delay_minutes * 2).min(LIMIT_MAX_MINUTES)
    };
    aof.next_auto_rewrite = now + aof.next_delay_minutes * 60;
    warn!(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        aof.next_delay_minutes
    );
    true
}

/// After the dataset was replaced wholesale (a replica's full sync): the AOF no longer
/// describes it, so restart it through a rewrite, as Redis does.
pub fn dataset_replaced(node: &mut Node) {
    if node.aof.status == Status::Off {
        return;
    }
    stop_append_only(node);
    start_append_only(node);
}

/// At shutdown: stop a rewrite child, write and fsync what is buffered.
pub fn shutdown(node: &mut Node) {
    if node
        .children
        .running()
        .is_some_and(|c| c.kind == ChildKind::AofRewrite)
    {
        kill_rewrite(node);
    }
    if node.aof.status == Status::Off {
        return;
    }
    flush(node, true);
    if let Some(f) = &node.aof.file {
        info!("Calling fsync() on the AOF file.");
        let _ = f.sync_data();
    }
}

/// The `aof_*` lines of INFO persistence, in Redis 7.0's order.
pub fn info_lines(node: &Node, out: &mut String) {
    use std::fmt::Write as _;
    let aof = &node.aof;
    let in_progress = node
        .children
        .running()
        .is_some_and(|c| c.kind == ChildKind::AofRewrite);
    let ok = |b: bool| if b { "ok" } else { "err" };
    let _ = write!(
        out,
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\n\
         aof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\n\
         aof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\n\
         aof_last_write_status:{}\r\naof_last_cow_size:{}\r\nmodule_fork_in_progress:0\r\n\
         module_fork_last_cow_size:0\r\n",
        u8::from(aof.status != Status::Off),
        u8::from(in_progress),
        u8::from(aof.rewrite_scheduled),
        aof.last_rewrite_time_sec,
        if in_progress { aof.current_rewrite_time_sec() } else { -1 },
        ok(aof.last_rewrite_ok),
        aof.rewrites,
        aof.consecutive_failures,
        ok(aof.write_error().is_none()),
        aof.last_cow_size,
    );
    if aof.status != Status::Off {
        let _ = write!(
            out,
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{}\r\n\
             aof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
            aof.current_size,
            aof.base_size,
            u8::from(aof.rewrite_scheduled),
            aof.buffer_len(),
            aof.pending_fsync(),
            aof.delayed_fsync,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(cmds: &[&[&str]]) -> Bytes {
        let mut b = BytesMut::new();
        for c in cmds {
            encode_command(c, &mut b);
        }
        b.freeze()
    }

    #[test]
    fn tap_adds_select_for_a_new_file_and_drops_replication_only_commands() {
        let state = Rc::new(RefCell::new(TapState {
            accepting: true,
            ..TapState::default()
        }));
        let mut tap = AofTap(state.clone());
        tap.feed(&enc(&[&["SELECT", "3"], &["SET", "a", "1"]]), 3);
        tap.feed(&enc(&[&["PING"]]), 3);
        tap.feed(&enc(&[&["REPLCONF", "GETACK", "*"]]), 3);
        tap.feed(&enc(&[&["SELECT", "5"], &["PUBLISH", "ch", "m"]]), 5);
        // The stream is now on db 5 but the file is still on db 3.
        tap.feed(&enc(&[&["DEL", "x"]]), 5);
        // A rewrite starts: the next file must begin with SELECT.
        state.borrow_mut().file_db = None;
        tap.feed(&enc(&[&["DEL", "y"]]), 5);
        let got = state.borrow().buf.clone();
        let want = enc(&[
            &["SELECT", "3"],
            &["SET", "a", "1"],
            &["SELECT", "5"],
            &["DEL", "x"],
            &["SELECT", "5"],
            &["DEL", "y"],
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn tap_annotates_each_new_second_before_the_select() {
        let state = Rc::new(RefCell::new(TapState {
            accepting: true,
            timestamps: true,
            ..TapState::default()
        }));
        let mut tap = AofTap(state.clone());
        tap.feed(&enc(&[&["SET", "a", "1"]]), 0);
        tap.feed(&enc(&[&["SET", "b", "1"]]), 0);
        let now = state.borrow().last_timestamp;
        assert!(now > 1_600_000_000);
        let mut want = format!("#TS:{now}\r\n").into_bytes();
        want.extend_from_slice(&enc(&[
            &["SELECT", "0"],
            &["SET", "a", "1"],
            &["SET", "b", "1"],
        ]));
        assert_eq!(&state.borrow().buf[..], &want[..]);
        // A later second gets its own annotation; replication-only commands get none.
        {
            let mut t = state.borrow_mut();
            t.last_timestamp -= 5;
            t.buf.clear();
        }
        tap.feed(&enc(&[&["PING"]]), 0);
        assert!(state.borrow().buf.is_empty());
        tap.feed(&enc(&[&["DEL", "a"]]), 0);
        assert!(state.borrow().last_timestamp >= now);
        let got = state.borrow().buf.clone();
        assert!(
            got.starts_with(b"#TS:") && got.ends_with(&enc(&[&["DEL", "a"]])),
            "{got:?}"
        );
        // Off: nothing.
        state.borrow_mut().timestamps = false;
        state.borrow_mut().last_timestamp = 0;
        state.borrow_mut().buf.clear();
        tap.feed(&enc(&[&["DEL", "b"]]), 0);
        assert_eq!(state.borrow().buf.clone(), enc(&[&["DEL", "b"]]));
    }

    #[test]
    fn tap_buffers_nothing_while_off() {
        let state = Rc::new(RefCell::new(TapState::default()));
        let mut tap = AofTap(state.clone());
        tap.feed(&enc(&[&["SELECT", "1"], &["SET", "a", "1"]]), 1);
        assert!(state.borrow().buf.is_empty());
        state.borrow_mut().accepting = true;
        tap.feed(&enc(&[&["SET", "b", "1"]]), 1);
        assert_eq!(
            state.borrow().buf.clone(),
            enc(&[&["SELECT", "1"], &["SET", "b", "1"]])
        );
    }

    /// A directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let d = std::env::temp_dir().join(format!("ferrokv-aof-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            TempDir(d)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A replica node with the AOF open in `dir`, continuing history `ID` from offset 1000.
    fn replica_with_aof(dir: &std::path::Path) -> Rc<RefCell<Node>> {
        let cfg = crate::config::Config {
            dir: dir.display().to_string(),
            appendonly: true,
            ..crate::config::Config::default()
        };
        let mut n = Node::new(cfg, None);
        let tap = AofTap(n.aof.tap.clone());
        n.stream.attach(Box::new(tap));
        n.become_replica("127.0.0.1".into(), 1);
        n.resume_history(ID, 1000, 0, "test");
        let l = layout(&n);
        open_at_startup(&mut n, l, AofBoot::NotExist(None), Instant::now()).unwrap();
        Rc::new(RefCell::new(n))
    }

    const ID: &str = "8c4bd4e5c9e1b5b7f4d1a0c3e2f6a9b8c7d6e5f4";

    fn apply(node: &Rc<RefCell<Node>>, cmd: &[&str]) -> u64 {
        use ferrokv_replica::driver::ReplicaHost;
        let fed = enc(&[cmd]);
        let argv = cmd
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        crate::replication::NodeHost(node.clone()).apply(argv, fed);
        let offset = node.borrow().repl.state.borrow().offset;
        offset
    }

    fn incr_bytes(node: &Node) -> Vec<u8> {
        let l = node.aof.layout.clone().unwrap();
        let name = node.aof.manifest.incrs.last().unwrap().name.clone();
        std::fs::read(l.path(&name)).unwrap()
    }

    fn mark_line(offset: u64) -> Vec<u8> {
        let mut b = BytesMut::new();
        ReplMark::new(ID, offset, 0).unwrap().encode(&mut b);
        b.to_vec()
    }

    #[test]
    fn a_replica_writes_its_offset_after_the_records_of_each_write() {
        let d = TempDir::new("marks");
        let node = replica_with_aof(&d.0);
        let after_set = apply(&node, &["SET", "a", "1"]);
        let after_incr = apply(&node, &["INCR", "n"]);
        // No record, no new mark: the PING's bytes count in the offset only.
        let after_ping = apply(&node, &["ping"]);
        assert!(after_ping > after_incr && after_incr > after_set);
        flush(&mut node.borrow_mut(), true);
        let want = [
            enc(&[&["SELECT", "0"], &["SET", "a", "1"], &["INCR", "n"]]).to_vec(),
            mark_line(after_incr),
        ]
        .concat();
        assert_eq!(incr_bytes(&node.borrow()), want);
        // Nothing buffered: a flush writes nothing, not even a mark for the PING.
        let _ = apply(&node, &["REPLCONF", "GETACK", "*"]);
        flush(&mut node.borrow_mut(), true);
        assert_eq!(incr_bytes(&node.borrow()), want);
        let after_del = apply(&node, &["DEL", "a"]);
        flush(&mut node.borrow_mut(), true);
        let want = [want, enc(&[&["DEL", "a"]]).to_vec(), mark_line(after_del)].concat();
        assert_eq!(incr_bytes(&node.borrow()), want);

        // Loading the directory back gives the last position.
        let l = node.borrow().aof.layout.clone().unwrap();
        drop(node);
        let opts = BootOptions {
            load_truncated: true,
            rdb: LoadOptions {
                cfg: ferrokv_store::StoreConfig::default(),
                now_ms: 0,
                drop_expired: false,
            },
        };
        struct Nothing;
        impl AofSink for Nothing {
            fn install_rdb(&mut self, _: Loaded) {}
            fn apply(&mut self, _: &[Vec<Bytes>], _: Batch) -> Result<(), String> {
                Ok(())
            }
        }
        let AofBoot::Loaded(out) = boot::load_aof(&l, &opts, &mut Nothing).unwrap() else {
            panic!("nothing loaded")
        };
        assert_eq!(
            out.repl,
            ReplPosition::At(ReplMark::new(ID, after_del, 0).unwrap())
        );
    }

    #[test]
    fn a_primary_writes_no_marks() {
        let d = TempDir::new("primary");
        let node = replica_with_aof(&d.0);
        node.borrow_mut().become_primary();
        // A write of its own (not a stream command) after the promotion.
        {
            let mut n = node.borrow_mut();
            n.stream.feed(
                0,
                &[vec![Bytes::from_static(b"SET"), "b".into(), "2".into()]],
                false,
            );
            stream_applied(&n);
            flush(&mut n, true);
        }
        let got = incr_bytes(&node.borrow());
        assert_eq!(got, enc(&[&["SELECT", "0"], &["SET", "b", "2"]]).to_vec());
    }

    #[test]
    fn rewrite_limit_backs_off() {
        let mut a = AofState {
            consecutive_failures: 3,
            ..AofState::default()
        };
        assert!(rewrite_limited(&mut a, 1000));
        assert_eq!(a.next_auto_rewrite, 1060);
        assert!(rewrite_limited(&mut a, 1059));
        assert!(!rewrite_limited(&mut a, 1060));
        assert!(rewrite_limited(&mut a, 1061));
        assert_eq!(a.next_delay_minutes, 2);
        a.consecutive_failures = 0;
        assert!(!rewrite_limited(&mut a, 1062));
    }
}
