//! Replication as the node sees it: role changes (`REPLICAOF`/`SLAVEOF`), the replication
//! node commands (`ROLE`, `WAIT`, `REPLCONF`, `PSYNC`, `SYNC`), INFO's replication section,
//! the replication cron, and [`NodeHost`], through which the replica driver
//! (`ferrokv_replica::driver`) applies its primary's stream to this node.
//!
//! ## Roles
//!
//! - Primary: writes are propagated into [`ReplState`] by the [`ReplFeed`] tap.
//! - Replica: a [`supervise`] task runs the driver for the configured primary. The node's
//!   own propagation is ignored (`following`); [`NodeHost::apply`] runs each stream command
//!   as the primary's client and feeds exactly the applied bytes to the own backlog and
//!   sub-replicas, so offsets are the same along a chain.
//!
//! Transitions:
//! 1. `REPLICAOF host port` on a primary: keep the dataset and the history (the next PSYNC
//!    asks for `<own replid> <offset+1>`), start following.
//! 2. `REPLICAOF NO ONE` on a replica: stop the link, `replid2 := replid`,
//!    `second_repl_offset := offset + 1`, new replid, disconnect sub-replicas (they PSYNC again
//!    with the old id and continue), next stream command preceded by SELECT.
//! 3. `FAILOVER` (see `failover.rs`): a coordinated transition 1 on this node and transition 2
//!    on the target, triggered by `PSYNC <replid> <offset> FAILOVER`.
//!
//! Empty primary protection lives in the replica driver; this file only feeds it
//! (`NodeHost::dataset_keys`, `LinkConfig::accept_empty_fullsync` from
//! `replica-accept-empty-fullsync` or an operator's REPLICAOF).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_proto::resp::{encode_command, Frame};
use ferrokv_replica::driver::ReplicaHost;
use ferrokv_replica::link::{LinkConfig, LinkState, PsyncFrom};
use ferrokv_replica::ReplError;
use ferrokv_store::cmd::{
    CmdError, KeySpec, Spec, ADMIN, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_ASYNC_LOADING,
    NO_MULTI, STALE,
};
use ferrokv_store::snapshot::{self, LoadOptions};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::client::{ClientId, Outbound, ReplyMode};
use crate::commands::NodeHandler;
use crate::node::{random_hex, unix_ms, Node, NodeResult, Role};
use crate::primary::psync::{try_partial_resync, FullReason};
use crate::primary::wait::{good_replicas, replicas_acked};
use crate::primary::{Backlog, ReplFeed, ReplState, ReplicaLink, ReplicaState, Waiter};

pub static COMMANDS: &[Spec<NodeHandler>] = &[
    Spec {
        name: "replicaof",
        arity: 3,
        flags: ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        keys: KeySpec::None,
        run: replicaof,
    },
    Spec {
        name: "slaveof",
        arity: 3,
        flags: ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        keys: KeySpec::None,
        run: replicaof,
    },
    Spec {
        name: "role",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST,
        keys: KeySpec::None,
        run: role,
    },
    Spec {
        name: "wait",
        arity: 3,
        flags: NOSCRIPT,
        keys: KeySpec::None,
        run: wait,
    },
    Spec {
        name: "replconf",
        arity: -1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        keys: KeySpec::None,
        run: replconf,
    },
    Spec {
        name: "psync",
        arity: -3,
        flags: ADMIN | NOSCRIPT | NO_MULTI | NO_ASYNC_LOADING,
        keys: KeySpec::None,
        run: psync,
    },
    Spec {
        name: "sync",
        arity: 1,
        flags: ADMIN | NOSCRIPT | NO_MULTI | NO_ASYNC_LOADING,
        keys: KeySpec::None,
        run: sync,
    },
];

/// The replica link as INFO and ROLE report it.
#[derive(Debug, Default)]
pub struct LinkInfo {
    /// `None` between attempts (ROLE's `connect`).
    pub state: Option<LinkState>,
    pub last_io: Option<Instant>,
    /// When the link went down (`None` = never connected).
    pub down_since: Option<Instant>,
    /// `(total or None when EOF-marked, read)` during a payload transfer.
    pub transfer: Option<(Option<u64>, u64)>,
}

/// The node's replication state.
pub struct Replication {
    pub state: Rc<RefCell<ReplState>>,
    pub link: LinkInfo,
    /// The primary to follow; the [`supervise`] task watches it.
    pub target: watch::Sender<Option<(String, u16)>>,
    /// The primary's client on this node while the link is up.
    pub master_client: Option<ClientId>,
    /// The db the primary's stream currently selects (kept across reconnects).
    pub master_db: usize,
    /// Whether this node has a history a primary might continue (PSYNC vs `PSYNC ? -1`).
    pub has_history: bool,
    /// `+FULLRESYNC` of the transfer in progress.
    pub pending_full: Option<(String, u64)>,
    /// The `FAILOVER` in progress (see `failover.rs`).
    pub failover: crate::failover::Failover,
    /// An operator ran `REPLICAOF host port`: the next full sync may replace the dataset with
    /// an empty one (empty primary protection is off until the link is up once).
    pub accept_empty_once: bool,
    payload_seq: u64,
    last_second: Option<Instant>,
}

impl Replication {
    /// The state of a new node; registers the backlog/replicas tap on `stream`.
    pub fn new(
        replid: String,
        replicaof: Option<(String, u16)>,
        stream: &mut crate::propagate::ReplStream,
    ) -> Self {
        let state = Rc::new(RefCell::new(ReplState::new(replid)));
        state.borrow_mut().following = replicaof.is_some();
        stream.taps.push(Box::new(ReplFeed(state.clone())));
        let (target, _) = watch::channel(replicaof);
        Replication {
            state,
            link: LinkInfo::default(),
            target,
            master_client: None,
            master_db: 0,
            has_history: false,
            pending_full: None,
            failover: crate::failover::Failover::default(),
            accept_empty_once: false,
            payload_seq: 0,
            last_second: None,
        }
    }
}

/// Silences the reply of the current command (REPLCONF ACK, PSYNC: their output is raw).
fn silence(node: &mut Node, id: ClientId) {
    if let Some(c) = node.clients.get_mut(&id) {
        if c.reply_mode == ReplyMode::On {
            c.reply_mode = ReplyMode::Skip;
        }
    }
}

fn arg_str(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- REPLICAOF / ROLE ----------------------------------------------------------------------

fn replicaof(node: &mut Node, id: ClientId, argv: &[Bytes]) -> NodeResult {
    if node
        .clients
        .get(&id)
        .is_some_and(|c| c.flags.master || c.flags.replica)
    {
        return Err(CmdError::msg(
            "Command is not valid when client is a replica.",
        ));
    }
    if node.repl.failover.pauses_writes() {
        return Err(CmdError::msg("REPLICAOF not allowed while failing over."));
    }
    if argv[1].eq_ignore_ascii_case(b"no") && argv[2].eq_ignore_ascii_case(b"one") {
        if node.is_replica() {
            node.become_primary();
            info!("MASTER MODE enabled (user request from 'id={id}')");
        }
        return Ok(Frame::ok());
    }
    let port = std::str::from_utf8(&argv[2])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(CmdError::msg("Invalid master port"))?;
    let port = u16::try_from(port).map_err(|_| CmdError::msg("Invalid master port"))?;
    let host = arg_str(&argv[1]);
    if node.role
        == (Role::Replica {
            host: host.clone(),
            port,
        })
    {
        if node.repl.link.state != Some(LinkState::Connected) && !node.repl.accept_empty_once {
            // The operator confirms this primary (empty primary protection may be holding
            // the link down): accept its next full sync and retry now.
            node.repl.accept_empty_once = true;
            node.repl.target.send_replace(Some((host, port)));
        }
        return Ok(Frame::simple("OK Already connected to specified master"));
    }
    node.repl.accept_empty_once = true;
    node.become_replica(host.clone(), port);
    info!("REPLICAOF {host}:{port} enabled (user request from 'id={id}')");
    Ok(Frame::ok())
}

fn role(node: &mut Node, _id: ClientId, _argv: &[Bytes]) -> NodeResult {
    let st = node.repl.state.borrow();
    match &node.role {
        Role::Primary => {
            let entries = st
                .replicas
                .values()
                .filter(|r| r.state.is_online() && !r.hs.rdb_only)
                .map(|r| {
                    Frame::Array(vec![
                        Frame::bulk(r.ip()),
                        Frame::bulk(r.hs.listening_port.to_string()),
                        Frame::bulk(r.ack_off.to_string()),
                    ])
                })
                .collect();
            Ok(Frame::Array(vec![
                Frame::bulk("master"),
                Frame::Integer(st.offset as i64),
                Frame::Array(entries),
            ]))
        }
        Role::Replica { host, port } => {
            let state = match node.repl.link.state {
                None => "connect",
                Some(LinkState::Connecting) => "connecting",
                Some(LinkState::Handshake) => "handshake",
                Some(LinkState::Transfer) => "sync",
                Some(LinkState::Connected) => "connected",
            };
            let offset = if node.repl.master_client.is_some() {
                st.offset as i64
            } else {
                -1
            };
            Ok(Frame::Array(vec![
                Frame::bulk("slave"),
                Frame::bulk(host.clone()),
                Frame::Integer(i64::from(*port)),
                Frame::bulk(state),
                Frame::Integer(offset),
            ]))
        }
    }
}

// ---- WAIT ----------------------------------------------------------------------------------

fn wait(node: &mut Node, id: ClientId, argv: &[Bytes]) -> NodeResult {
    if node.is_replica() {
        return Err(CmdError::msg(
            "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    // Redis's string2ll (no sign but '-', no spaces), as every integer argument.
    let num = ferrokv_store::cmd::parse_i64(&argv[1]).ok_or(CmdError::NotInteger)?;
    let timeout = ferrokv_store::cmd::parse_i64(&argv[2])
        .ok_or(CmdError::msg("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::msg("timeout is negative"));
    }
    let in_multi = node.exec_client == Some(id);
    let offset = node.clients.get(&id).map_or(0, |c| c.woff);
    let st_rc = node.repl.state.clone();
    let mut st = st_rc.borrow_mut();
    let acked = replicas_acked(st.replicas.values(), offset);
    if acked as i64 >= num || in_multi {
        return Ok(Frame::Integer(acked as i64));
    }
    st.waiters.push(Waiter {
        id,
        offset,
        numreplicas: usize::try_from(num).unwrap_or(usize::MAX),
        deadline_ms: (timeout > 0).then(|| unix_ms() + timeout),
    });
    st.just_blocked = Some(id);
    if node.repl.failover.pauses_writes() {
        // The offset must not move during a FAILOVER: the cron sends it afterwards.
        st.getack_pending = true;
    } else {
        // Ask the replicas now rather than at the next cron tick (the tap borrows `st`).
        drop(st);
        node.stream
            .feed_unselected(&[&b"REPLCONF"[..], b"GETACK", b"*"]);
    }
    Ok(Frame::Null)
}

// ---- REPLCONF / PSYNC / SYNC ---------------------------------------------------------------

fn replconf(node: &mut Node, id: ClientId, argv: &[Bytes]) -> NodeResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let st_rc = node.repl.state.clone();
    let mut i = 1;
    while i < argv.len() {
        let opt = argv[i].to_ascii_lowercase();
        let val = &argv[i + 1];
        match opt.as_slice() {
            b"listening-port" => {
                let port = std::str::from_utf8(val)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
                    .ok_or(CmdError::NotInteger)?;
                st_rc
                    .borrow_mut()
                    .handshakes
                    .entry(id)
                    .or_default()
                    .listening_port = port;
            }
            b"ip-address" => {
                st_rc
                    .borrow_mut()
                    .handshakes
                    .entry(id)
                    .or_default()
                    .announced_ip = Some(arg_str(val));
            }
            b"capa" => {
                let mut st = st_rc.borrow_mut();
                let hs = st.handshakes.entry(id).or_default();
                if val.eq_ignore_ascii_case(b"eof") {
                    hs.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    hs.capa_psync2 = true;
                }
            }
            b"rdb-only" => {
                let on = match &val[..] {
                    b"1" => true,
                    b"0" => false,
                    _ => return Err(CmdError::Syntax),
                };
                st_rc
                    .borrow_mut()
                    .handshakes
                    .entry(id)
                    .or_default()
                    .rdb_only = on;
            }
            b"rdb-filter-only" => {
                // We have no functions: every accepted filter yields an RDB without keys.
                let known = val.is_empty() || val.eq_ignore_ascii_case(b"functions");
                if !known {
                    return Err(CmdError::msg_owned(format!(
                        "Unsupported rdb-filter-only option: {}",
                        arg_str(val)
                    )));
                }
                let mut st = st_rc.borrow_mut();
                let hs = st.handshakes.entry(id).or_default();
                if !hs.capa_eof {
                    return Err(CmdError::msg("Filtered replica requires EOF capability"));
                }
                hs.rdb_filter_empty = true;
            }
            b"ack" => {
                // No reply, ever; ignored from clients that are not replicas.
                silence(node, id);
                let off = std::str::from_utf8(val)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok());
                if let Some(off) = off {
                    node.replica_acked(id, off);
                }
                return Ok(Frame::Null);
            }
            b"getack" => {
                silence(node, id);
                return Ok(Frame::Null);
            }
            _ => {
                return Err(CmdError::msg_owned(format!(
                    "Unrecognized REPLCONF option: {}",
                    arg_str(&argv[i])
                )))
            }
        }
        i += 2;
    }
    Ok(Frame::ok())
}

fn psync(node: &mut Node, id: ClientId, argv: &[Bytes]) -> NodeResult {
    let offset = std::str::from_utf8(&argv[2])
        .ok()
        .and_then(|s| s.parse::<i64>().ok());
    let Some(offset) = offset else {
        return Err(CmdError::NotInteger);
    };
    crate::failover::psync_failover_request(node, argv)?;
    node.attach_replica(id, Some((arg_str(&argv[1]), offset)))
}

fn sync(node: &mut Node, id: ClientId, _argv: &[Bytes]) -> NodeResult {
    node.attach_replica(id, None)
}

impl Node {
    /// PSYNC (`Some((replid, offset))`) or SYNC (`None`) from client `id`.
    fn attach_replica(&mut self, id: ClientId, psync: Option<(String, i64)>) -> NodeResult {
        let Some(client) = self.clients.get(&id) else {
            return Ok(Frame::Null);
        };
        if client.flags.replica {
            // Already a replica: ignored, as Redis does.
            silence(self, id);
            return Ok(Frame::Null);
        }
        if client.flags.master {
            return Err(CmdError::msg(
                "Command is not valid when client is a replica.",
            ));
        }
        if self.repl.failover.pauses_writes() {
            return Err(CmdError::Coded(
                "NOMASTERLINK",
                "Can't SYNC while failing over".into(),
            ));
        }
        if self.is_replica() && self.repl.link.state != Some(LinkState::Connected) {
            return Err(CmdError::Coded(
                "NOMASTERLINK",
                "Can't SYNC while not connected with my master".into(),
            ));
        }
        let tx = client.tx.clone();
        let peer_ip = client.addr.ip();
        let st_rc = self.repl.state.clone();
        let hs = st_rc
            .borrow_mut()
            .handshakes
            .remove(&id)
            .unwrap_or_default();
        let who = format!(
            "{}:{}",
            hs.announced_ip
                .clone()
                .unwrap_or_else(|| peer_ip.to_string()),
            hs.listening_port
        );
        info!("Replica {who} asks for synchronization");
        if let Some(c) = self.clients.get_mut(&id) {
            c.flags.replica = true;
        }
        silence(self, id);
        let mut link = ReplicaLink::new(id, tx, peer_ip, hs, psync.is_some());
        // Partial resync?
        if let Some((replid, offset)) = &psync {
            let mut st = st_rc.borrow_mut();
            match try_partial_resync(&st, replid, *offset) {
                Ok(backlog) => {
                    let line = if link.hs.capa_psync2 {
                        format!("+CONTINUE {}\r\n", st.replid)
                    } else {
                        "+CONTINUE\r\n".to_string()
                    };
                    link.send_raw(Bytes::from(line));
                    info!(
                        "Partial resynchronization request from {who} accepted. Sending {} bytes of backlog starting from offset {offset}.",
                        backlog.len()
                    );
                    link.pending.extend_from_slice(&backlog);
                    link.ack_off = u64::try_from(*offset - 1).unwrap_or(0);
                    link.go_online();
                    st.stats.sync_partial_ok += 1;
                    st.replicas.insert(id, link);
                    st.no_replicas_since = None;
                    return Ok(Frame::Null);
                }
                Err(reason) => {
                    if reason != FullReason::Requested {
                        st.stats.sync_partial_err += 1;
                        match reason {
                            FullReason::ReplidMismatch => info!(
                                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{replid}', my replication IDs are '{}' and '{}')",
                                st.replid, st.replid2
                            ),
                            _ => info!(
                                "Unable to partial resync with replica {who} for lack of backlog (Replica request was: {offset})."
                            ),
                        }
                    }
                    info!("Full resync requested by replica {who}");
                }
            }
        }
        let filter_empty = link.hs.rdb_filter_empty;
        {
            let mut st = st_rc.borrow_mut();
            st.stats.sync_full += 1;
            let size = self.cfg.repl_backlog_size.max(1) as usize;
            if st.backlog.is_none() && st.replicas.is_empty() {
                // First replica: a new history starts here.
                let replid = random_hex(&mut self.rng, 40);
                st.replid = replid;
                st.clear_replid2();
                info!(
                    "Replication backlog created, my new replication IDs are '{}' and '{}'",
                    st.replid, st.replid2
                );
            }
            st.ensure_backlog(size);
            st.replicas.insert(id, link);
            st.no_replicas_since = None;
        }
        if filter_empty {
            self.send_empty_payload(id);
        } else {
            self.start_full_sync();
        }
        Ok(Frame::Null)
    }

    /// `REPLCONF ACK <offset>` from client `id`.
    fn replica_acked(&mut self, id: ClientId, off: u64) {
        let st_rc = self.repl.state.clone();
        let mut st = st_rc.borrow_mut();
        let Some(r) = st.replicas.get_mut(&id) else {
            return;
        };
        r.ack_off = r.ack_off.max(off);
        r.ack_time = Instant::now();
        if r.state == ReplicaState::WaitFirstAck {
            info!(
                "Synchronization with replica {}:{} succeeded",
                r.ip(),
                r.hs.listening_port
            );
            r.go_online();
        }
        drop(st);
        self.recount_good_replicas();
        self.check_waiters(unix_ms());
    }

    /// Forgets a departing client's replication state (replica link, handshake, WAIT).
    pub fn replication_client_gone(&mut self, id: ClientId) {
        let st_rc = self.repl.state.clone();
        let mut st = st_rc.borrow_mut();
        st.handshakes.remove(&id);
        st.waiters.retain(|w| w.id != id);
        if let Some(r) = st.replicas.remove(&id) {
            info!(
                "Connection with replica {}:{} lost.",
                r.ip(),
                r.hs.listening_port
            );
            if st.replicas.is_empty() {
                st.no_replicas_since = Some(Instant::now());
            }
        }
        drop(st);
        if self.repl.master_client == Some(id) {
            self.repl.master_client = None;
        }
    }

    /// The connection task wrote `n` stream bytes of replica `id`.
    pub fn replica_output_written(&mut self, id: ClientId, n: usize) {
        if let Some(r) = self.repl.state.borrow_mut().replicas.get_mut(&id) {
            r.queued = r.queued.saturating_sub(n);
        }
    }

    /// Whether the connection of client `id` was told to close (checked while a write to a
    /// slow peer is pending).
    pub fn close_requested(&self, id: ClientId) -> bool {
        self.repl
            .state
            .borrow()
            .replicas
            .get(&id)
            .is_some_and(|r| r.closing)
    }

    /// `-NOREPLICAS`: fewer good replicas than `min-replicas-to-write`.
    pub fn too_few_good_replicas(&self) -> bool {
        self.cfg.min_replicas_to_write > 0
            && self.cfg.min_replicas_max_lag > 0
            && !self.is_replica()
            && (self.repl.state.borrow().good_replicas as i64) < self.cfg.min_replicas_to_write
    }

    fn recount_good_replicas(&mut self) {
        let lag = self.cfg.min_replicas_max_lag.max(0) as u64;
        let mut st = self.repl.state.borrow_mut();
        st.good_replicas = good_replicas(st.replicas.values(), lag, Instant::now());
    }

    /// Replies to WAITers whose count is reached or whose deadline passed.
    fn check_waiters(&mut self, now_ms: i64) {
        let mut st = self.repl.state.borrow_mut();
        if st.waiters.is_empty() {
            return;
        }
        let waiters = std::mem::take(&mut st.waiters);
        let mut keep = Vec::new();
        for w in waiters {
            let acked = replicas_acked(st.replicas.values(), w.offset);
            if acked >= w.numreplicas || w.deadline_ms.is_some_and(|d| d <= now_ms) {
                if let Some(c) = self.clients.get(&w.id) {
                    let _ = c.tx.send(Outbound::Unblocked(Frame::Integer(acked as i64)));
                }
            } else {
                keep.push(w);
            }
        }
        st.waiters = keep;
    }

    /// A node command blocked its client (WAIT): `run_command` answers "blocked".
    pub fn take_just_blocked(&mut self, id: ClientId) -> bool {
        let mut st = self.repl.state.borrow_mut();
        if st.just_blocked == Some(id) {
            st.just_blocked = None;
            return true;
        }
        false
    }

    /// Replication's share of the cron: full syncs to start, WAIT deadlines, GETACK, and
    /// once a second keepalives, PINGs, timeouts, output limits and the backlog TTL.
    pub fn replication_cron(&mut self) {
        self.failover_cron();
        self.start_full_sync();
        // During a FAILOVER the offset must stay put: GETACK waits (as in Redis).
        let paused = self.repl.failover.pauses_writes();
        let getack = !paused && std::mem::take(&mut self.repl.state.borrow_mut().getack_pending);
        if getack && !self.is_replica() {
            self.stream
                .feed_unselected(&[&b"REPLCONF"[..], b"GETACK", b"*"]);
        }
        self.check_waiters(unix_ms());
        let now = Instant::now();
        if self
            .repl
            .last_second
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.repl.last_second = Some(now);
        let st_rc = self.repl.state.clone();
        let (hard, soft, soft_secs) = {
            let c = self.cfg.client_output_buffer_limit.classes[1];
            (c.1, c.2, c.3)
        };
        let timeout = Duration::from_secs(self.cfg.repl_timeout.max(1) as u64);
        let mut ping = false;
        {
            let mut st = st_rc.borrow_mut();
            let disk_sync = matches!(
                st.sync.as_ref().map(|s| &s.target),
                Some(crate::primary::psync::SyncTarget::Disk(_))
            );
            for r in st.replicas.values_mut() {
                if r.closing {
                    continue;
                }
                let keepalive = r.state == ReplicaState::WaitBgsaveStart
                    || (r.state == ReplicaState::WaitBgsaveEnd && disk_sync);
                if keepalive {
                    r.send_raw(Bytes::from_static(b"\n"));
                }
                if r.state == ReplicaState::Online
                    && r.psync
                    && now.duration_since(r.ack_time) > timeout
                {
                    warn!(
                        "Disconnecting timedout replica (streaming sync): {}:{}",
                        r.ip(),
                        r.hs.listening_port
                    );
                    r.close();
                    continue;
                }
                if r.over_output_limit(hard, soft, soft_secs, now) {
                    warn!(
                        "Client id={} addr={}:{} flags=S omem={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                        r.id,
                        r.ip(),
                        r.hs.listening_port,
                        r.buffered()
                    );
                    r.close();
                }
            }
            let period = Duration::from_secs(self.cfg.repl_ping_replica_period.max(1) as u64);
            if !st.following
                && !paused
                && !st.replicas.is_empty()
                && now.duration_since(st.last_ping) >= period
            {
                st.last_ping = now;
                ping = true;
            }
            // Backlog TTL: a primary alone for repl-backlog-ttl frees it and starts a new history.
            let ttl = self.cfg.repl_backlog_ttl;
            if !st.following && st.backlog.is_some() && ttl > 0 {
                if let Some(since) = st.no_replicas_since {
                    if now.duration_since(since).as_secs() >= ttl as u64 {
                        st.backlog = None;
                        st.replid = random_hex(&mut self.rng, 40);
                        st.clear_replid2();
                        info!("Replication backlog freed after {ttl} seconds without connected replicas.");
                    }
                }
            }
        }
        if ping {
            self.stream.feed_unselected(&[&b"ping"[..]]);
        }
        self.recount_good_replicas();
    }

    /// `REPLICAOF host port`.
    /// A replica that booted from its own RDB continues the history the file names
    /// (`repl-id`, `repl-offset`, `repl-stream-db`): its first PSYNC asks for a partial resync.
    pub fn resume_from_rdb_aux(&mut self, aux: &ferrokv_store::snapshot::RdbAux) {
        let (Some(id), Some(offset)) = (&aux.repl_id, aux.repl_offset) else {
            return;
        };
        let (Ok(id), Ok(offset)) = (std::str::from_utf8(id), u64::try_from(offset)) else {
            return;
        };
        let db = aux.repl_stream_db.unwrap_or(0).max(0) as usize;
        self.resume_history(id, offset, db, "RDB");
    }

    /// A replica that booted from its own files (`source`: "RDB" or "AOF") continues the
    /// history they name: `replid` up to `offset`, the stream selecting `stream_db`. Its first
    /// PSYNC asks for `<replid> <offset+1>`.
    pub fn resume_history(&mut self, replid: &str, offset: u64, stream_db: usize, source: &str) {
        if !self.is_replica() || replid.len() != 40 {
            return;
        }
        {
            let mut st = self.repl.state.borrow_mut();
            st.replid = replid.to_string();
            st.offset = offset;
            // The continued stream feeds a backlog (and advances the offset) from here.
            st.backlog = Some(crate::primary::backlog::Backlog::new(
                self.cfg.repl_backlog_size.max(1) as usize,
                offset,
            ));
        }
        self.repl.has_history = true;
        self.repl.master_db = stream_db;
        info!(
            "Using the {source}'s replication info to try a partial resynchronization: replid={replid} offset={offset}"
        );
    }

    pub fn become_replica(&mut self, host: String, port: u16) {
        if !self.is_replica() {
            // Demotion: our own history is what the new primary may continue.
            self.repl.has_history = self.repl.state.borrow().backlog.is_some();
        }
        self.drop_master_client();
        self.repl.state.borrow_mut().following = true;
        self.role = Role::Replica {
            host: host.clone(),
            port,
        };
        crate::log_role::set_replica(true);
        self.repl.link = LinkInfo::default();
        self.repl.link.down_since = Some(Instant::now());
        let _ = self.repl.target.send(Some((host, port)));
    }

    /// `REPLICAOF NO ONE`.
    pub fn become_primary(&mut self) {
        let _ = self.repl.target.send(None);
        self.drop_master_client();
        self.role = Role::Primary;
        crate::log_role::set_replica(false);
        self.repl.link = LinkInfo::default();
        self.repl.pending_full = None;
        let new_id = random_hex(&mut self.rng, 40);
        let size = self.cfg.repl_backlog_size.max(1) as usize;
        {
            let mut st = self.repl.state.borrow_mut();
            st.following = false;
            st.shift_replid(new_id);
            st.ensure_backlog(size);
            for r in st.replicas.values_mut() {
                r.close();
            }
            if st.replicas.is_empty() {
                st.no_replicas_since = Some(Instant::now());
            }
            info!(
                "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
                st.replid2, st.second_offset, st.replid
            );
        }
        self.stream.reset_selected_db();
    }

    fn drop_master_client(&mut self) {
        if let Some(mid) = self.repl.master_client.take() {
            self.remove_client(mid);
        }
    }

    /// The client that applies the primary's stream, created when the link comes up.
    fn master_client(&mut self) -> ClientId {
        if let Some(id) = self.repl.master_client {
            if self.clients.contains_key(&id) {
                return id;
            }
        }
        let addr = match &self.role {
            Role::Replica { host, port } => host
                .parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, *port))
                .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), *port)),
            Role::Primary => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        };
        let laddr = self.listen_addr.unwrap_or(addr);
        let (id, _rx) = self.add_client(addr, laddr);
        let db = self.repl.master_db;
        if let Some(c) = self.clients.get_mut(&id) {
            c.flags.master = true;
            c.authenticated = true;
            c.db = db;
        }
        self.repl.master_client = Some(id);
        id
    }
}

// ---- INFO ----------------------------------------------------------------------------------

macro_rules! field {
    ($out:expr, $name:expr, $value:expr) => {
        let _ = write!($out, "{}:{}\r\n", $name, $value);
    };
}

/// INFO's `# Replication` section, field for field as Redis 7.0 prints it.
pub fn info(node: &Node, out: &mut String) {
    let st = node.repl.state.borrow();
    out.push_str("# Replication\r\n");
    match &node.role {
        Role::Primary => {
            field!(out, "role", "master");
        }
        Role::Replica { host, port } => {
            let link = &node.repl.link;
            let up = link.state == Some(LinkState::Connected);
            field!(out, "role", "slave");
            field!(out, "master_host", host);
            field!(out, "master_port", port);
            field!(out, "master_link_status", if up { "up" } else { "down" });
            let io = match (node.repl.master_client, link.last_io) {
                (Some(_), Some(t)) => t.elapsed().as_secs() as i64,
                _ => -1,
            };
            field!(out, "master_last_io_seconds_ago", io);
            field!(
                out,
                "master_sync_in_progress",
                u8::from(link.state == Some(LinkState::Transfer))
            );
            field!(out, "slave_read_repl_offset", st.offset);
            field!(out, "slave_repl_offset", st.offset);
            if link.state == Some(LinkState::Transfer) {
                let (total, read) = link.transfer.unwrap_or((None, 0));
                let total_i = match total {
                    Some(t) => t as i64,
                    None if link.transfer.is_some() => 0,
                    None => -1,
                };
                field!(out, "master_sync_total_bytes", total_i);
                field!(out, "master_sync_read_bytes", read);
                field!(out, "master_sync_left_bytes", total_i - read as i64);
                let perc = if total_i > 0 {
                    read as f64 * 100.0 / total_i as f64
                } else {
                    0.0
                };
                field!(out, "master_sync_perc", format!("{perc:.2}"));
                field!(
                    out,
                    "master_sync_last_io_seconds_ago",
                    link.last_io.map_or(0, |t| t.elapsed().as_secs())
                );
            }
            if !up {
                let since = link.down_since.map_or(-1, |t| t.elapsed().as_secs() as i64);
                field!(out, "master_link_down_since_seconds", since);
            }
            field!(out, "slave_priority", node.cfg.replica_priority);
            field!(out, "slave_read_only", u8::from(node.cfg.replica_read_only));
            field!(out, "replica_announced", 1);
        }
    }
    let listed: Vec<&ReplicaLink> = st.replicas.values().filter(|r| !r.hs.rdb_only).collect();
    field!(out, "connected_slaves", listed.len());
    if node.cfg.min_replicas_to_write > 0 && node.cfg.min_replicas_max_lag > 0 {
        field!(out, "min_slaves_good_slaves", st.good_replicas);
    }
    for (i, r) in listed.iter().enumerate() {
        let lag = if r.state.is_online() {
            r.ack_time.elapsed().as_secs()
        } else {
            0
        };
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.ip(),
            r.hs.listening_port,
            r.state.info_name(),
            r.ack_off,
            lag
        );
    }
    field!(
        out,
        "master_failover_state",
        node.repl.failover.phase.info_name()
    );
    field!(out, "master_replid", st.replid);
    field!(out, "master_replid2", st.replid2);
    field!(out, "master_repl_offset", st.offset);
    field!(out, "second_repl_offset", st.second_offset);
    let (active, first, histlen) = match &st.backlog {
        Some(b) => (1, b.first_byte_offset(), b.histlen()),
        None => (0, 0, 0),
    };
    field!(out, "repl_backlog_active", active);
    field!(out, "repl_backlog_size", node.cfg.repl_backlog_size);
    field!(out, "repl_backlog_first_byte_offset", first);
    field!(out, "repl_backlog_histlen", histlen);
}

// ---- the replica driver's host -------------------------------------------------------------

/// The node as the replica driver sees it.
pub struct NodeHost(pub Rc<RefCell<Node>>);

impl ReplicaHost for NodeHost {
    fn link_config(&self) -> LinkConfig {
        let n = self.0.borrow();
        let port = if n.cfg.replica_announce_port > 0 {
            n.cfg.replica_announce_port as u16
        } else {
            n.listen_addr.map_or(n.cfg.port as u16, |a| a.port())
        };
        LinkConfig {
            masterauth: n.cfg.masterauth.clone(),
            masteruser: n.cfg.masteruser.clone(),
            listening_port: port,
            announce_ip: n.cfg.replica_announce_ip.clone(),
            failover: n.repl.failover.psync_flag(),
            accept_empty_fullsync: n.cfg.replica_accept_empty_fullsync || n.repl.accept_empty_once,
        }
    }

    fn psync_from(&self) -> PsyncFrom {
        let n = self.0.borrow();
        if !n.repl.has_history {
            return PsyncFrom::Fresh;
        }
        let st = n.repl.state.borrow();
        PsyncFrom::Resume {
            replid: st.replid.clone(),
            offset: st.offset + 1,
        }
    }

    fn repl_timeout(&self) -> Duration {
        Duration::from_secs(self.0.borrow().cfg.repl_timeout.max(1) as u64)
    }

    fn payload_path(&self) -> PathBuf {
        let mut n = self.0.borrow_mut();
        n.repl.payload_seq += 1;
        let name = format!("temp-{}.{}.rdb", std::process::id(), n.repl.payload_seq);
        PathBuf::from(&n.cfg.dir).join(name)
    }

    fn set_state(&mut self, state: LinkState) {
        let mut n = self.0.borrow_mut();
        n.repl.link.state = Some(state);
        n.repl.link.last_io = Some(Instant::now());
        match state {
            LinkState::Connected => {
                n.repl.link.down_since = None;
                n.repl.link.transfer = None;
                n.repl.accept_empty_once = false;
                n.master_client();
            }
            LinkState::Transfer => n.repl.link.transfer = Some((None, 0)),
            _ => {}
        }
    }

    fn sent(&mut self, bytes: usize) {
        self.0.borrow_mut().stats.total_net_output_bytes += bytes as u64;
    }

    fn io(&mut self, read: usize, transfer: Option<(Option<u64>, u64)>) {
        let mut n = self.0.borrow_mut();
        n.stats.total_net_repl_input_bytes += read as u64;
        n.stats.total_reads_processed += 1;
        n.repl.link.last_io = Some(Instant::now());
        if transfer.is_some() {
            n.repl.link.transfer = transfer;
        }
    }

    fn full_resync(&mut self, replid: &str, offset: u64) {
        let mut n = self.0.borrow_mut();
        n.repl.pending_full = Some((replid.to_string(), offset));
        n.failover_link_up();
    }

    fn load_payload(&mut self, path: &Path) -> Result<(), String> {
        let mut guard = self.0.borrow_mut();
        let n = &mut *guard;
        let (replid, offset) = n
            .repl
            .pending_full
            .take()
            .ok_or("no +FULLRESYNC before the payload")?;
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let opts = LoadOptions {
            cfg: n.ks.cfg.clone(),
            now_ms: unix_ms(),
            drop_expired: false,
        };
        let loaded = snapshot::load_file(file, opts).map_err(|e| e.to_string())?;
        info!(
            "MASTER <-> REPLICA sync: Flushing old data; loaded {} keys ({} bytes)",
            loaded.keys_loaded, loaded.bytes
        );
        n.bgsave.note_load(&loaded);
        n.ks.replace_dbs(loaded.dbs);
        n.touch_all();
        crate::tracking::invalidate_all(n);
        n.dirty += 1;
        n.repl.master_db = loaded
            .aux
            .repl_stream_db
            .and_then(|d| usize::try_from(d).ok())
            .unwrap_or(0);
        if let Some(mid) = n.repl.master_client {
            let db = n.repl.master_db;
            if let Some(c) = n.clients.get_mut(&mid) {
                c.db = db;
                c.multi = None;
            }
        }
        let replid = if replid.len() == 40 {
            replid
        } else {
            random_hex(&mut n.rng, 40)
        };
        let size = n.cfg.repl_backlog_size.max(1) as usize;
        {
            let mut st = n.repl.state.borrow_mut();
            st.replid = replid;
            st.clear_replid2();
            st.offset = offset;
            st.backlog = Some(Backlog::new(size, offset));
            // Sub-replicas follow a history that just ended.
            for r in st.replicas.values_mut() {
                r.close();
            }
        }
        n.repl.has_history = true;
        // As Redis does after a full sync: the AOF restarts from the new dataset (a rewrite).
        // After the new history is in place, so that the new BASE records it; what the old
        // AOF still had buffered is written with the position captured when it was applied.
        crate::aof::dataset_replaced(&mut *n);
        Ok(())
    }

    fn partial_resync(&mut self, new_replid: Option<&str>) {
        let mut n = self.0.borrow_mut();
        n.failover_link_up();
        n.repl.has_history = true;
        if let Some(id) = new_replid {
            let mut st = n.repl.state.borrow_mut();
            st.shift_replid(id.to_string());
            for r in st.replicas.values_mut() {
                r.close();
            }
        }
    }

    fn apply(&mut self, argv: Vec<Bytes>, fed: Bytes) {
        let mut n = self.0.borrow_mut();
        if !argv.is_empty() {
            let id = n.master_client();
            let _ = n.handle(id, argv, &mut crate::node::CommandClock::default());
            if let Some(db) = n.clients.get(&id).map(|c| c.db) {
                n.repl.master_db = db;
            }
        }
        n.repl.state.borrow_mut().feed_stream(&fed);
        crate::aof::stream_applied(&n);
    }

    fn dataset_keys(&self) -> u64 {
        self.0.borrow().ks.dbs.iter().map(|d| d.len() as u64).sum()
    }

    fn before_ack(&mut self) {
        crate::aof::before_reply(&mut self.0.borrow_mut());
    }

    fn link_down(&mut self, err: &ReplError) {
        let mut n = self.0.borrow_mut();
        if n.repl.link.state == Some(LinkState::Connected) || n.repl.link.down_since.is_none() {
            n.repl.link.down_since = Some(Instant::now());
        }
        if matches!(err, ReplError::Load(_)) {
            warn!("{err}; keeping the old dataset");
        }
        n.failover_link_failed(&err.to_string());
        n.repl.link.state = None;
        n.repl.link.transfer = None;
        n.repl.pending_full = None;
        n.drop_master_client();
    }
}

/// Redis's smallest backlog, which `CONFIG SET repl-backlog-size` raises smaller values to
/// (a config file's value is taken as it is).
const REPL_BACKLOG_MIN_SIZE: i64 = 16 * 1024;

/// `CONFIG SET repl-backlog-size`: raises the setting to at least 16 KiB, as Redis's
/// `resizeReplicationBacklog` does, and resizes the backlog, keeping the newest history
/// that fits.
pub fn apply_backlog_size(node: &mut Node) {
    node.cfg.repl_backlog_size = node.cfg.repl_backlog_size.max(REPL_BACKLOG_MIN_SIZE);
    let size = node.cfg.repl_backlog_size as usize;
    if let Some(backlog) = node.repl.state.borrow_mut().backlog.as_mut() {
        if backlog.size() != size {
            backlog.resize(size);
        }
    }
}

/// Follows whatever primary `node.repl.target` names, restarting the driver when it changes.
pub async fn supervise(node: Rc<RefCell<Node>>) {
    let mut rx = node.borrow().repl.target.subscribe();
    loop {
        let target = rx.borrow_and_update().clone();
        match target {
            Some((host, port)) => {
                let driver = ferrokv_replica::driver::run(NodeHost(node.clone()), host, port);
                tokio::select! {
                    _ = driver => {}
                    r = rx.changed() => if r.is_err() { return; },
                }
            }
            None => {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `REPLCONF GETACK *` as the stream carries it (37 bytes).
pub fn getack_bytes() -> Bytes {
    let mut b = bytes::BytesMut::new();
    encode_command(&["REPLCONF", "GETACK", "*"], &mut b);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getack_is_37_bytes() {
        assert_eq!(getack_bytes().len(), 37);
    }
}
