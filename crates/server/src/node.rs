//! `Node`: the state of one ferrokv process, owned by the keyspace thread, and the pipeline
//! every command goes through.
//!
//! ## The command pipeline ([`Node::handle`])
//!
//! 1. Set the command's clock (`now_ms`) and expiry mode (role) on the keyspace.
//! 2. Look the command up (node commands first, then the keyspace table) and check arity.
//! 3. Gatekeeping, in Redis's order: authentication, `enable-debug-command`, the write gate
//!    (`maxmemory`: evict or `-OOM`; `-MISCONF`; `-NOREPLICAS`; `-READONLY` replica; EXEC
//!    checked for its queued commands), pub/sub context, `-LOADING`, `-MASTERDOWN`, then MULTI
//!    queueing, so a refused command is never queued and EXEC then answers `-EXECABORT`.
//!    Refusals count as `rejected_calls`, errors of commands that ran as `failed_calls`.
//! 4. Execute. Keyspace commands return [`Executed`]: the reply, the propagation form, and
//!    possibly a [`Block`](ferrokv_store::cmd::Block) request.
//! 5. After a write: propagate (expiry `DEL`s first, MULTI/EXEC around several commands),
//!    mark WATCHers of the touched keys dirty, and serve clients blocked on those keys
//!    (FIFO), which may write further keys.
//!
//! Node commands (connection, server, transactions, pub/sub) live in `cmd_*.rs` files and
//! have the [`NodeHandler`] signature.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};
use ferrokv_store::cmd::{self as store_cmd, Args, CmdError, Ctx, Executed, Propagate, Spec};
use ferrokv_store::keyspace::{ExpireMode, Reads};
use ferrokv_store::Keyspace;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, watch};

use crate::client::{Blocked, Client, ClientFlags, ClientId, ClientTable, Outbound, ReplyMode};
use crate::commands::{self, NodeHandler};
use crate::config::Config;
use crate::propagate::ReplStream;
use crate::pubsub::PubSub;
use crate::slowlog::Slowlog;
use crate::stats::{Stats, UnreadError};

/// How much of the backlog's end the log shows after an error to our primary (Redis's
/// `showLatestBacklog`).
const LATEST_BACKLOG_LOG_BYTES: usize = 256;

pub fn unix_ms() -> i64 {
    unix_ms_of(SystemTime::now())
}

/// `t` as Unix milliseconds (0 before the epoch).
fn unix_ms_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The clock of one uninterrupted run of commands (what one read of a pipeline holds):
/// each command starts when the one before it ended, so a command reads the clock once
/// instead of twice (the reads were 7% of the server's CPU at pipeline 16). A caller keeps
/// one only while it runs commands without yielding, so no start is ever stale.
#[derive(Debug, Default)]
pub struct CommandClock(Option<SystemTime>);

impl CommandClock {
    /// When the next command starts: the previous one's end, or now.
    fn start(&mut self) -> SystemTime {
        self.0.take().unwrap_or_else(SystemTime::now)
    }

    /// Ends the command that started at `start`; returns how long it ran.
    fn end(&mut self, start: SystemTime) -> Duration {
        let now = SystemTime::now();
        self.0 = Some(now);
        now.duration_since(start).unwrap_or_default()
    }
}

/// What the connection should do after a command.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Write this reply (unless the client turned replies off).
    Reply(Frame),
    /// Write nothing now (CLIENT REPLY OFF/SKIP, or nothing to say).
    Silent,
    /// The command blocked: stop reading requests until an [`Outbound::Unblocked`].
    Blocked,
    /// Write this reply (if any), then close the connection.
    Close(Option<Frame>),
}

/// Which role the node plays (replication fills in the details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica { host: String, port: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    Default,
    Save,
    NoSave,
}

pub struct Node {
    pub ks: Keyspace,
    pub cfg: Config,
    pub config_file: Option<PathBuf>,
    /// Connected clients in id order (see [`ClientTable`]).
    pub clients: ClientTable,
    next_client_id: ClientId,
    pub pubsub: PubSub,
    /// Clients blocked on (db, key), in arrival order.
    pub blocked_on: HashMap<(usize, Bytes), VecDeque<ClientId>>,
    /// Keys written while blocked clients were being served (see `serve_blocked`).
    ready_keys: VecDeque<(usize, Bytes)>,
    serving_blocked: bool,
    /// Clients watching (db, key).
    pub watched: HashMap<(usize, Bytes), Vec<ClientId>>,
    pub stream: ReplStream,
    /// Replication ids, backlog, attached replicas, and the link to our primary.
    pub repl: crate::replication::Replication,
    pub stats: Stats,
    pub slowlog: Slowlog,
    pub rng: SmallRng,
    pub role: Role,
    pub run_id: String,
    pub started: Instant,
    pub start_ms: i64,
    pub listen_addr: Option<SocketAddr>,
    /// Changes since the last successful save (`rdb_changes_since_last_save`).
    pub dirty: u64,
    pub lastsave_ms: i64,
    /// Set when SHUTDOWN is asked for; the main loop watches it.
    pub shutdown: watch::Sender<Option<ShutdownMode>>,
    /// `CLIENT PAUSE`: until when, and whether only writes are paused.
    pub pause: Option<(i64, bool)>,
    /// Memory used as the allocator reports it, refreshed by the cron.
    pub used_memory: u64,
    pub peak_memory: u64,
    /// `used_memory` once the node was set up, before it served anyone
    /// (`used_memory_startup`).
    pub used_memory_startup: u64,
    /// `DEBUG SET-ACTIVE-EXPIRE 0` turns the active expire cycle off (tests use it).
    pub active_expire_enabled: bool,
    /// The one fork child (BGSAVE, AOF rewrite, diskless sync) and fork statistics.
    pub children: ferrokv_store::fork::ChildSlot,
    pub bgsave: crate::bgsave::BgsaveState,
    /// Listening sockets, which a fork child closes.
    pub listener_fds: Vec<std::os::fd::RawFd>,
    /// The accept loops of those listeners (replaced when CONFIG SET changes the port).
    pub listener_tasks: Vec<tokio::task::AbortHandle>,
    /// The node's own handle, for work that must spawn tasks holding it (rebinding).
    pub self_ref: std::rc::Weak<std::cell::RefCell<Node>>,
    /// LATENCY events by name.
    pub latency: std::collections::BTreeMap<&'static str, LatencyEvent>,
    /// Set while the dataset is being loaded (commands without the `loading` flag get
    /// `-LOADING`); see `loading.rs`.
    pub loading: Option<crate::loading::Loading>,
    /// The append-only file (see `aof.rs`).
    pub aof: crate::aof::AofState,
    /// Client-side caching: who read which keys, BCAST prefixes (see `tracking.rs`).
    pub tracking: crate::tracking::Tracking,
    /// The client whose command is running, if any (tracking's NOLOOP and the order of
    /// its own invalidations depend on it).
    pub current_client: Option<ClientId>,
    /// Clients that ran MONITOR, in the order they did.
    pub monitors: Vec<ClientId>,
    /// The client whose EXEC is running its transaction: commands that would block
    /// (WAIT) or turn it into something else (MONITOR) answer at once instead.
    pub exec_client: Option<ClientId>,
}

/// One `LATENCY` event class: latest and worst samples, and a short history.
#[derive(Debug, Default, Clone)]
pub struct LatencyEvent {
    pub latest_time: i64,
    pub latest_ms: i64,
    pub max_ms: i64,
    pub history: Vec<(i64, i64)>,
}

impl Node {
    pub fn new(cfg: Config, config_file: Option<PathBuf>) -> Node {
        let ks = Keyspace::new(cfg.store_config());
        let mut stats = Stats::new(unix_ms());
        stats.latency_tracking = cfg.latency_tracking;
        let (shutdown, _) = watch::channel(None);
        let mut rng = SmallRng::from_entropy();
        let run_id = random_hex(&mut rng, 40);
        let role = match &cfg.replicaof.0 {
            Some((host, port)) => Role::Replica {
                host: host.clone(),
                port: *port,
            },
            None => Role::Primary,
        };
        crate::log_role::set_replica(matches!(role, Role::Replica { .. }));
        let mut stream = ReplStream::default();
        let repl = crate::replication::Replication::new(
            random_hex(&mut rng, 40),
            cfg.replicaof.0.clone(),
            &mut stream,
        );
        Node {
            ks,
            slowlog: Slowlog::default(),
            cfg,
            config_file,
            clients: ClientTable::default(),
            next_client_id: 3,
            pubsub: PubSub::default(),
            blocked_on: HashMap::new(),
            ready_keys: VecDeque::new(),
            serving_blocked: false,
            watched: HashMap::new(),
            stream,
            repl,
            stats,
            rng,
            role,
            run_id,
            started: Instant::now(),
            start_ms: unix_ms(),
            listen_addr: None,
            dirty: 0,
            lastsave_ms: unix_ms(),
            shutdown,
            pause: None,
            used_memory: 0,
            peak_memory: 0,
            used_memory_startup: 0,
            active_expire_enabled: true,
            children: Default::default(),
            bgsave: Default::default(),
            listener_fds: Vec::new(),
            listener_tasks: Vec::new(),
            self_ref: std::rc::Weak::new(),
            latency: Default::default(),
            loading: None,
            aof: Default::default(),
            tracking: Default::default(),
            current_client: None,
            monitors: Vec::new(),
            exec_client: None,
        }
    }

    /// Registers a new connection. Returns its id and the receiver for asynchronous output.
    pub fn add_client(
        &mut self,
        addr: SocketAddr,
        laddr: SocketAddr,
    ) -> (ClientId, mpsc::UnboundedReceiver<Outbound>) {
        let id = self.next_client_id;
        self.next_client_id += 1;
        let (tx, rx) = mpsc::unbounded_channel();
        let now = unix_ms();
        self.clients.insert(
            id,
            Client {
                id,
                addr,
                laddr,
                name: None,
                db: 0,
                protocol: Protocol::Resp2,
                authenticated: self.cfg.requirepass.is_empty(),
                multi: None,
                dirty_cas: false,
                watched: Vec::new(),
                channels: Vec::new(),
                patterns: Vec::new(),
                reply_mode: ReplyMode::On,
                blocked: None,
                created_ms: now,
                last_interaction_ms: now,
                last_cmd: "",
                argv_mem: 0,
                no_evict: false,
                close_after_reply: false,
                woff: 0,
                extra_replies: Vec::new(),
                flags: ClientFlags::default(),
                tx,
                fd: -1,
                query_buf_len: 0,
                query_buf_cap: 0,
                output_buf_len: 0,
                output_buf_cap: 0,
                monitor: false,
                no_reply_once: false,
                tracking: None,
            },
        );
        self.stats.total_connections_received += 1;
        (id, rx)
    }

    /// Forgets a connection: its subscriptions, watches and blocked state.
    pub fn remove_client(&mut self, id: ClientId) {
        crate::tracking::disable(self, id);
        crate::monitor::stop(self, id);
        self.unwatch_all(id);
        self.unblock_client(id);
        self.pubsub.remove_client(id);
        self.replication_client_gone(id);
        // shift_remove keeps the id order of the others.
        self.clients.shift_remove(&id);
    }

    pub fn protocol_of(&self, id: ClientId) -> Protocol {
        self.clients
            .get(&id)
            .map_or(Protocol::Resp2, |c| c.protocol)
    }

    /// Redis's `afterErrorReply` for an error nobody reads (`peer`), replied by command
    /// `cmd` (full name; `None` when unknown): counts it in `unexpected_error_replies`, logs
    /// the CRITICAL warning, for our primary's stream also the last 256 bytes of the backlog
    /// (`Latest backlog is: '...'`), and stops the process when `propagation-error-behavior`
    /// says so.
    ///
    /// Deviation: Redis quotes the dump per 16 KiB buffer block, so a dump spanning two
    /// blocks shows as two quoted strings; ferrokv's ring gives one.
    pub(crate) fn note_unread_error(&mut self, peer: UnreadError, line: &[u8], cmd: Option<&str>) {
        self.stats.unexpected_error_replies += 1;
        tracing::warn!("{}", peer.log_line(line, cmd));
        if peer == UnreadError::ToPrimary {
            let st = self.repl.state.borrow();
            if let Some(backlog) = st.backlog.as_ref().filter(|b| b.histlen() > 0) {
                let len = backlog.histlen().min(LATEST_BACKLOG_LOG_BYTES) as u64;
                let tail = backlog
                    .since(backlog.offset() + 1 - len)
                    .unwrap_or_default();
                tracing::warn!(
                    "Latest backlog is: '{}'",
                    ferrokv_proto::resp::quote_arg(&tail)
                );
            }
        }
        if peer.panics(
            &self.cfg.propagation_error_behavior,
            self.cfg.replica_read_only,
        ) {
            tracing::error!("{}", peer.panic_line(cmd));
            std::process::abort();
        }
    }

    /// A command's run time for SLOWLOG and the `command` latency event, as Redis's `call()`
    /// notes it: not for commands flagged `skip_slowlog` (EXEC, whose queued commands are
    /// noted one by one instead).
    pub(crate) fn record_duration(
        &mut self,
        id: ClientId,
        cmd: commands::Command,
        argv: &[Bytes],
        elapsed: std::time::Duration,
    ) {
        if cmd.flags() & store_cmd::SKIP_SLOWLOG != 0 {
            return;
        }
        let threshold = self.cfg.slowlog_log_slower_than;
        if threshold >= 0 && elapsed.as_micros() as i64 >= threshold {
            self.slowlog
                .maybe_record(&self.cfg, id, argv, elapsed, self.clients.get(&id));
        }
        self.record_latency("command", elapsed);
    }

    pub fn is_replica(&self) -> bool {
        matches!(self.role, Role::Replica { .. })
    }

    /// Sets the keyspace clock and expiry mode for a command from `client`.
    fn prepare_clock(&mut self, from_master: bool) {
        self.prepare_clock_at(from_master, unix_ms());
    }

    /// [`prepare_clock`](Self::prepare_clock) with the time already read.
    fn prepare_clock_at(&mut self, from_master: bool, now_ms: i64) {
        self.ks.now_ms = now_ms;
        self.ks.lru_clock = (self.ks.now_ms / 1000) as u32;
        self.ks.mode = match (&self.role, from_master) {
            (Role::Primary, _) => ExpireMode::Primary,
            (Role::Replica { .. }, true) => ExpireMode::ReplicaApply,
            (Role::Replica { .. }, false) => ExpireMode::ReplicaClient,
        };
    }

    /// Runs one request from client `id` through the whole pipeline.
    pub fn handle(&mut self, id: ClientId, argv: Vec<Bytes>, clock: &mut CommandClock) -> Outcome {
        let Some(name) = argv.first() else {
            return Outcome::Silent;
        };
        let cmd = commands::lookup(name);
        // What INFO commandstats counts this under (`config|set`); none for an unknown
        // command or subcommand, as in Redis.
        let stat = cmd.and_then(|c| commands::stat_name(c.name(), &argv));
        // CLIENT LIST shows the command being run (`cmd=`, its `argv-mem`), as Redis sets
        // its `lastcmd` before running it.
        let from_master = match self.clients.get_mut(&id) {
            Some(c) => {
                c.last_cmd = stat.unwrap_or("");
                c.argv_mem = argv.iter().map(Bytes::len).sum();
                c.flags.master
            }
            None => false,
        };
        // One clock read gives both the command's instant and the start of its duration.
        let start = clock.start();
        self.prepare_clock_at(from_master, unix_ms_of(start));
        let propagated_before = self.stream.commands;
        crate::tracking::enforce_limit(self);
        self.current_client = Some(id);
        let result = self.gatekeep_and_run(id, cmd, &argv);
        self.current_client = None;
        crate::tracking::command_done(self, id, stat.is_some_and(|s| s.starts_with("client|")));
        let elapsed = clock.end(start);
        let mut executed = true;
        let (reply, close) = match result {
            Ok(Ran::Reply(frame)) => (Some(frame), false),
            Ok(Ran::Queued) => {
                executed = false;
                (Some(Frame::simple("QUEUED")), false)
            }
            Ok(Ran::Blocked) => {
                if let Some(name) = stat {
                    self.stats.record_call(name, elapsed, false);
                }
                return Outcome::Blocked;
            }
            Err(Stop::Close(frame)) => (Some(frame), true),
            // An arity error is a refusal even when a container's handler finds it.
            Err(Stop::Rejected(e) | Stop::Failed(e @ CmdError::WrongArity(_))) => {
                executed = false;
                if let Some(name) = stat {
                    self.stats.record_rejected(name);
                }
                (Some(Frame::Error(Bytes::from(e.to_line()))), false)
            }
            Err(Stop::Failed(e)) => (Some(Frame::Error(Bytes::from(e.to_line()))), false),
        };
        match (&reply, executed) {
            (Some(r), true) => self.stats.record_executed(stat, elapsed, r),
            (Some(Frame::Error(line)), false) => self.stats.record_error(line),
            _ => {}
        }
        if let (true, Some(_), Some(cmd)) = (executed, stat, cmd) {
            self.record_duration(id, cmd, &argv, elapsed);
        }
        self.stats.total_commands_processed += 1;
        // WAIT waits for this client's own last write (Redis's `c->woff`).
        let woff =
            (self.stream.commands != propagated_before).then(|| self.repl.state.borrow().offset);
        let now = self.ks.now_ms;
        if let Some(Frame::Error(line)) = &reply {
            if let Some(peer) = self.clients.get(&id).and_then(Client::unread_errors) {
                self.note_unread_error(peer, line, stat);
            }
        }
        // One client lookup for the bookkeeping, the write offset and the reply mode.
        let (close_after, outcome) = match self.clients.get_mut(&id) {
            Some(c) => {
                if let Some(offset) = woff {
                    c.woff = offset;
                }
                c.argv_mem = 0;
                if cmd.is_some() {
                    c.last_interaction_ms = now;
                }
                let close_after = c.close_after_reply;
                let outcome = match reply {
                    Some(r) => Self::apply_reply_mode(c, r),
                    None => Outcome::Silent,
                };
                (close_after, outcome)
            }
            None => (false, Outcome::Silent),
        };
        if close || close_after {
            return match outcome {
                Outcome::Reply(f) => Outcome::Close(Some(f)),
                _ => Outcome::Close(None),
            };
        }
        outcome
    }

    fn apply_reply_mode(c: &mut Client, reply: Frame) -> Outcome {
        if std::mem::take(&mut c.no_reply_once) {
            return Outcome::Silent;
        }
        if c.flags.master {
            // Replies to our primary are suppressed (REPLCONF ACK is sent by the link).
            return Outcome::Silent;
        }
        match c.reply_mode {
            ReplyMode::On => Outcome::Reply(reply),
            ReplyMode::Off => Outcome::Silent,
            ReplyMode::SkipNext => {
                c.reply_mode = ReplyMode::Skip;
                Outcome::Silent
            }
            ReplyMode::Skip => {
                c.reply_mode = ReplyMode::On;
                Outcome::Silent
            }
        }
    }

    fn gatekeep_and_run(
        &mut self,
        id: ClientId,
        cmd: Option<commands::Command>,
        argv: &[Bytes],
    ) -> Result<Ran, Stop> {
        let Some(cmd) = cmd else {
            self.flag_multi_error(id);
            return Err(Stop::Rejected(CmdError::unknown_command(argv)));
        };
        if !cmd.arity_ok(argv.len()) {
            self.flag_multi_error(id);
            return Err(Stop::Rejected(CmdError::WrongArity(cmd.name().to_string())));
        }
        let flags = cmd.flags();
        let client = self.clients.get(&id).ok_or(Stop::Close(Frame::Null))?;
        let in_multi = client.multi.is_some();
        let from_master = client.flags.master;
        // Protected commands first, before authentication (Redis 7.0's processCommand).
        if cmd.name() == "debug"
            && crate::config::protected_action_denied(
                &self.cfg.enable_debug_command,
                client.addr.ip(),
            )
        {
            self.flag_multi_error(id);
            return Err(Stop::Rejected(CmdError::msg(
                crate::config::DEBUG_COMMAND_DENIED,
            )));
        }
        if !client.authenticated && flags & store_cmd::NO_AUTH == 0 {
            self.flag_multi_error(id);
            return Err(Stop::Rejected(CmdError::NoAuth));
        }
        // Right after authentication, as Redis 7.0 orders it: before the write gate, the
        // pub/sub, loading and stale-data checks.
        if in_multi && flags & store_cmd::NO_MULTI != 0 {
            self.flag_multi_error(id);
            return Err(Stop::Rejected(CmdError::msg(
                "Command not allowed inside a transaction",
            )));
        }
        // The write gate, in Redis's place: before the pub/sub, loading and stale-data
        // checks and before MULTI queueing, so a refused command is never QUEUED (EXEC then
        // answers EXECABORT). EXEC is gated by what it would run; a refusal there discards
        // the transaction.
        let exec_flags = match client.multi.as_ref() {
            Some(tx) if cmd.name() == "exec" => tx.flags,
            _ => 0,
        };
        let pubsub = client.in_pubsub_context();
        if let Err(e) = self.check_write_allowed(cmd.name(), flags, from_master, in_multi) {
            self.flag_multi_error(id);
            return Err(Stop::Rejected(e));
        }
        if exec_flags != 0 {
            if let Err(e) = self.check_write_allowed("exec", exec_flags, from_master, false) {
                self.discard_transaction(id);
                return Err(Stop::Rejected(CmdError::Coded(
                    "EXECABORT",
                    format!("Transaction discarded because of: {}", e.to_line()).into(),
                )));
            }
        }
        if pubsub && !commands::allowed_in_pubsub(cmd.name()) {
            return Err(Stop::Rejected(CmdError::msg_owned(format!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                cmd.name()
            ))));
        }
        if self.loading.is_some() && flags & store_cmd::LOADING == 0 {
            self.flag_multi_error(id);
            return Err(Stop::Rejected(CmdError::Loading));
        }
        if self.refuses_stale(id, flags) {
            self.flag_multi_error(id);
            return Err(Stop::Rejected(CmdError::MasterDown));
        }
        if in_multi && !commands::runs_inside_multi(cmd.name()) {
            let c = self.clients.get_mut(&id).expect("checked above");
            let tx = c.multi.as_mut().expect("in multi");
            tx.queued.push(argv.to_vec());
            tx.flags |= flags;
            return Ok(Ran::Queued);
        }
        match self.run_command(id, cmd, argv, false) {
            Ok(Some(frame)) => Ok(Ran::Reply(frame)),
            Ok(None) => Ok(Ran::Blocked),
            Err(e) => Err(Stop::Failed(e)),
        }
    }

    /// The write gate, in Redis's order: `-OOM`, `-MISCONF`, `-NOREPLICAS`, `-READONLY`, for
    /// command `name` with `flags` from a client that is `in_multi` or not. Commands from our
    /// primary always pass.
    ///
    /// Inside MULTI every command but EXEC, DISCARD, QUIT and RESET counts as `denyoom`
    /// (queueing costs memory). PING is refused like a write while a disk error refuses
    /// writes, so health checks notice.
    fn check_write_allowed(
        &mut self,
        name: &str,
        flags: u32,
        from_master: bool,
        in_multi: bool,
    ) -> Result<(), CmdError> {
        if from_master {
            return Ok(());
        }
        let write = flags & store_cmd::WRITE != 0;
        let deny_oom = flags & store_cmd::DENYOOM != 0
            || (in_multi && !matches!(name, "exec" | "discard" | "quit" | "reset"));
        if deny_oom && self.enforces_maxmemory() {
            self.perform_evictions();
            if self.used_memory_now() > self.cfg.maxmemory as u64 {
                return Err(CmdError::Oom);
            }
        }
        if write || name == "ping" {
            if crate::bgsave::refuses_writes(self) {
                return Err(CmdError::Misconf);
            }
            if let Some(e) = crate::aof::write_denied(self) {
                return Err(e);
            }
        }
        if write && self.too_few_good_replicas() {
            return Err(CmdError::NoReplicas);
        }
        if write && self.is_replica() && self.cfg.replica_read_only {
            return Err(CmdError::ReadOnly);
        }
        Ok(())
    }

    /// `replica-serve-stale-data no`: while the link to the primary is not up, a replica
    /// answers `-MASTERDOWN` to every command Redis does not flag `stale` (PING included;
    /// INFO, ROLE, REPLICAOF, AUTH, SUBSCRIBE, PUBLISH... still run).
    fn refuses_stale(&self, id: ClientId, flags: u32) -> bool {
        self.is_replica()
            && !self.cfg.replica_serve_stale_data
            && flags & (store_cmd::STALE | store_cmd::STALE_SUBCOMMANDS) == 0
            && self.repl.link.state != Some(ferrokv_replica::link::LinkState::Connected)
            && !self.clients.get(&id).is_some_and(|c| c.flags.master)
    }

    /// Ends `id`'s transaction without running it (DISCARD, a refused EXEC). Returns
    /// whether there was one.
    pub(crate) fn discard_transaction(&mut self, id: ClientId) -> bool {
        let had = self
            .clients
            .get_mut(&id)
            .and_then(|c| c.multi.take())
            .is_some();
        self.unwatch_all(id);
        had
    }

    fn flag_multi_error(&mut self, id: ClientId) {
        if let Some(m) = self.clients.get_mut(&id).and_then(|c| c.multi.as_mut()) {
            m.aborted = true;
        }
    }

    /// Executes a looked-up command for `id` (after gatekeeping). `Ok(None)` = blocked.
    /// Runs a command that passed the checks (or one of a transaction) and shows it to
    /// MONITOR clients, whatever its reply.
    pub(crate) fn run_command(
        &mut self,
        id: ClientId,
        cmd: commands::Command,
        argv: &[Bytes],
        no_block: bool,
    ) -> Result<Option<Frame>, CmdError> {
        let result = self.dispatch(id, cmd, argv, no_block);
        if !self.monitors.is_empty() {
            crate::monitor::feed(self, id, cmd, argv);
        }
        result
    }

    fn dispatch(
        &mut self,
        id: ClientId,
        cmd: commands::Command,
        argv: &[Bytes],
        no_block: bool,
    ) -> Result<Option<Frame>, CmdError> {
        match cmd {
            commands::Command::Node(spec) => {
                let reply = (spec.run)(self, id, argv)?;
                // WAIT blocks its client from a node command.
                if self.take_just_blocked(id) {
                    return Ok(None);
                }
                Ok(Some(reply))
            }
            commands::Command::Store(spec) => {
                let executed = self.exec_store(id, spec, argv, no_block)?;
                if let Some(block) = executed.block {
                    let c = self.clients.get_mut(&id).expect("client exists");
                    let db = c.db;
                    c.blocked = Some(Blocked {
                        argv: argv.to_vec(),
                        keys: block.keys.clone(),
                        db,
                        deadline_ms: block.deadline_ms,
                        timeout_reply: executed.reply,
                    });
                    for k in block.keys {
                        self.blocked_on.entry((db, k)).or_default().push_back(id);
                    }
                    self.stats.blocked_clients += 1;
                    return Ok(None);
                }
                Ok(Some(executed.reply))
            }
        }
    }

    /// Runs a keyspace command for `id` and does everything a write implies.
    pub(crate) fn exec_store(
        &mut self,
        id: ClientId,
        spec: &'static Spec<store_cmd::Handler>,
        argv: &[Bytes],
        no_block: bool,
    ) -> Result<Executed, CmdError> {
        let (db, protocol, in_exec) = {
            let c = self.clients.get(&id).expect("client exists");
            (c.db, c.protocol, c.multi.is_some())
        };
        let mut ctx = Ctx {
            ks: &mut self.ks,
            db,
            protocol,
            no_block: no_block || in_exec,
            rng: &mut self.rng,
        };
        ctx.ks.reads = if spec.is_write() {
            Reads::No
        } else {
            Reads::Counted
        };
        let result = (spec.run)(&mut ctx, &mut Args::new(argv));
        self.ks.reads = Reads::No;
        if self.tracking.clients > 0 && spec.flags & store_cmd::READONLY != 0 {
            let keys = spec
                .keys
                .key_indices(argv)
                .into_iter()
                .map(|i| argv[i].clone());
            crate::tracking::remember_keys(self, id, keys);
        }
        let executed = match result {
            Ok(e) => e,
            Err(e) => {
                self.after_command(db, spec, argv, &Propagate::Nothing);
                return Err(e);
            }
        };
        self.after_command(db, spec, argv, &executed.propagate);
        if matches!(spec.name, "flushall" | "flushdb") && self.flush_is_sync(argv) {
            // As in Redis: without traffic jemalloc would keep the freed pages.
            if let Err(e) = crate::memory::purge() {
                tracing::warn!("Could not purge the allocator's dirty pages: {e}");
            }
        }
        Ok(executed)
    }

    /// Whether FLUSHALL/FLUSHDB `argv` frees synchronously: SYNC, or no mode and
    /// `lazyfree-lazy-user-flush no`.
    fn flush_is_sync(&self, argv: &[Bytes]) -> bool {
        match argv.get(1) {
            Some(mode) => mode.eq_ignore_ascii_case(b"sync"),
            None => !self.cfg.lazyfree_lazy_user_flush,
        }
    }

    /// Propagation, WATCH and blocked-client bookkeeping after a keyspace command.
    fn after_command(
        &mut self,
        db: usize,
        spec: &'static Spec<store_cmd::Handler>,
        argv: &[Bytes],
        propagate: &Propagate,
    ) {
        crate::pubsub::publish_events(self);
        if matches!(propagate, Propagate::Nothing) && self.ks.expired.is_empty() {
            return;
        }
        let expired = std::mem::take(&mut self.ks.expired);
        let mut cmds: Vec<Vec<Bytes>> = Vec::new();
        for (edb, key) in &expired {
            self.touch_key(*edb, key, None);
            if *edb == db {
                cmds.push(vec![Bytes::from_static(b"DEL"), key.clone()]);
            } else {
                self.stream.feed(
                    *edb,
                    &[vec![Bytes::from_static(b"DEL"), key.clone()]],
                    false,
                );
            }
        }
        let wrote = !matches!(propagate, Propagate::Nothing);
        if self.stream.has_consumers() {
            match propagate {
                Propagate::Nothing => {}
                Propagate::AsIs => cmds.push(argv.to_vec()),
                Propagate::Rewritten(r) => cmds.extend(r.iter().cloned()),
            }
            if !cmds.is_empty() {
                // Expiry DELs alone go unwrapped; with the write they form one MULTI/EXEC.
                let wrap = wrote && cmds.len() > 1;
                self.stream.feed(db, &cmds, wrap);
            }
        } else {
            // Nobody reads the stream: count the commands without building them.
            let n = match propagate {
                Propagate::Nothing => 0,
                Propagate::AsIs => 1,
                Propagate::Rewritten(r) => r.len(),
            };
            self.stream.skip(cmds.len() + n);
        }
        if !wrote {
            return;
        }
        self.dirty += 1;
        if spec.flags & store_cmd::TOUCHES_ALL != 0 {
            // SWAPDB too, but as in Redis 7.0 only a flush invalidates client caches.
            if matches!(spec.name, "flushall" | "flushdb") {
                crate::tracking::invalidate_all(self);
            }
            self.touch_all();
            return;
        }
        if self.watched.is_empty() && self.blocked_on.is_empty() && !self.tracking.active() {
            return;
        }
        // The keys the write changed: those of its propagated form when it has one of its
        // own (LMPOP pops from one key of several), else its own keys.
        let changed: Vec<Bytes> = match propagate {
            Propagate::Rewritten(cmds) => cmds
                .iter()
                .filter_map(|c| match commands::lookup(&c[0]) {
                    Some(commands::Command::Store(s)) => Some(changed_keys(s, c)),
                    _ => None,
                })
                .flatten()
                .collect(),
            _ => changed_keys(spec, argv),
        };
        for k in changed {
            self.touch_key(db, &k, self.current_client);
            self.serve_blocked(db, &k);
        }
    }

    /// Marks WATCHers of (db, key) dirty and invalidates the key in client caches. `origin`
    /// is the client whose write changed it (none for an expiry or an eviction).
    pub fn touch_key(&mut self, db: usize, key: &Bytes, origin: Option<ClientId>) {
        if self.tracking.active() {
            crate::tracking::invalidate_key(self, key, origin);
        }
        if self.watched.is_empty() {
            return;
        }
        if let Some(ids) = self.watched.get(&(db, key.clone())) {
            for cid in ids.clone() {
                if let Some(c) = self.clients.get_mut(&cid) {
                    c.dirty_cas = true;
                }
            }
        }
    }

    /// FLUSHALL/FLUSHDB/SWAPDB: every watcher is dirty; blocked clients are re-checked.
    pub fn touch_all(&mut self) {
        let ids: Vec<ClientId> = self.watched.values().flatten().copied().collect();
        for cid in ids {
            if let Some(c) = self.clients.get_mut(&cid) {
                c.dirty_cas = true;
            }
        }
        let keys: Vec<(usize, Bytes)> = self.blocked_on.keys().cloned().collect();
        for (db, k) in keys {
            self.serve_blocked(db, &k);
        }
    }

    pub fn unwatch_all(&mut self, id: ClientId) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let keys = std::mem::take(&mut c.watched);
        c.dirty_cas = false;
        for k in keys {
            if let Some(v) = self.watched.get_mut(&k) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.watched.remove(&k);
                }
            }
        }
    }

    /// Serves clients blocked on (db, key), first come first served, while the key can
    /// satisfy them. A served command may write other keys, which are served in turn.
    pub fn serve_blocked(&mut self, db: usize, key: &Bytes) {
        if self.blocked_on.is_empty() {
            return;
        }
        if self.serving_blocked {
            // Called again from a served command's own bookkeeping: the outer loop below
            // picks the key up, so each waiter is served exactly once, in order.
            self.ready_keys.push_back((db, key.clone()));
            return;
        }
        self.serving_blocked = true;
        let mut ready: VecDeque<(usize, Bytes)> = VecDeque::from([(db, key.clone())]);
        self.serve_ready(&mut ready);
        self.serving_blocked = false;
    }

    fn serve_ready(&mut self, ready: &mut VecDeque<(usize, Bytes)>) {
        let mut rounds = 0;
        while let Some((db, key)) = ready.pop_front().or_else(|| self.ready_keys.pop_front()) {
            rounds += 1;
            if rounds > 100_000 {
                break;
            }
            loop {
                let Some(queue) = self.blocked_on.get(&(db, key.clone())) else {
                    break;
                };
                let Some(&cid) = queue.front() else {
                    break;
                };
                if !self.ks.exists(db, &key) {
                    break;
                }
                let Some(blocked) = self.clients.get(&cid).and_then(|c| c.blocked.clone()) else {
                    self.remove_waiter(db, &key, cid);
                    continue;
                };
                let Some(commands::Command::Store(spec)) = commands::lookup(&blocked.argv[0])
                else {
                    self.unblock_client(cid);
                    continue;
                };
                let saved_db = self.clients.get(&cid).map(|c| c.db);
                if let Some(c) = self.clients.get_mut(&cid) {
                    c.db = blocked.db;
                }
                let result = self.exec_store(cid, spec, &blocked.argv, false);
                if let (Some(c), Some(d)) = (self.clients.get_mut(&cid), saved_db) {
                    c.db = d;
                }
                match result {
                    Ok(e) if e.block.is_some() => {
                        // Key exists but cannot serve this client (e.g. wrong side empty):
                        // leave it waiting and stop serving this key.
                        break;
                    }
                    Ok(e) => {
                        // Keys the served command wrote (BLMOVE's destination) were queued in
                        // `ready_keys` by its own bookkeeping.
                        self.unblock_client(cid);
                        self.send_unblocked(cid, e.reply);
                    }
                    Err(err) => {
                        self.unblock_client(cid);
                        self.send_unblocked(cid, Frame::Error(Bytes::from(err.to_line())));
                    }
                }
            }
        }
    }

    fn remove_waiter(&mut self, db: usize, key: &Bytes, cid: ClientId) {
        let k = (db, key.clone());
        if let Some(q) = self.blocked_on.get_mut(&k) {
            q.retain(|x| *x != cid);
            if q.is_empty() {
                self.blocked_on.remove(&k);
            }
        }
    }

    /// Takes a client out of the blocked state (without replying).
    pub fn unblock_client(&mut self, id: ClientId) -> Option<Blocked> {
        let b = self.clients.get_mut(&id)?.blocked.take()?;
        for k in &b.keys {
            self.remove_waiter(b.db, k, id);
        }
        self.stats.blocked_clients = self.stats.blocked_clients.saturating_sub(1);
        Some(b)
    }

    fn send_unblocked(&mut self, id: ClientId, reply: Frame) {
        if let Some(c) = self.clients.get(&id) {
            let _ = c.tx.send(Outbound::Unblocked(reply));
        }
    }

    /// Replies to blocked clients whose deadline passed. Called by the cron.
    pub fn expire_blocked(&mut self, now_ms: i64) {
        let due: Vec<ClientId> = self
            .clients
            .values()
            .filter(|c| {
                c.blocked
                    .as_ref()
                    .and_then(|b| b.deadline_ms)
                    .is_some_and(|d| d <= now_ms)
            })
            .map(|c| c.id)
            .collect();
        for id in due {
            if let Some(b) = self.unblock_client(id) {
                self.send_unblocked(id, b.timeout_reply);
            }
        }
    }

    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`.
    pub fn unblock_by_request(&mut self, id: ClientId, error: bool) -> bool {
        match self.unblock_client(id) {
            Some(b) => {
                let reply = if error {
                    Frame::Error(Bytes::from_static(
                        b"UNBLOCKED client unblocked via CLIENT UNBLOCK",
                    ))
                } else {
                    b.timeout_reply
                };
                self.send_unblocked(id, reply);
                true
            }
            None => false,
        }
    }

    /// Current allocator figure for `used_memory` (jemalloc's allocated bytes).
    pub fn used_memory_now(&mut self) -> u64 {
        self.used_memory = crate::memory::allocated().unwrap_or(self.used_memory);
        self.peak_memory = self.peak_memory.max(self.used_memory);
        self.used_memory
    }

    /// Whether `maxmemory` applies here: not on a replica under `replica-ignore-maxmemory`
    /// (the default), which follows its primary's evictions instead of making its own.
    pub fn enforces_maxmemory(&self) -> bool {
        self.cfg.maxmemory > 0 && !(self.is_replica() && self.cfg.replica_ignore_maxmemory)
    }

    /// Evicts keys while memory is over `maxmemory` and the policy allows it.
    pub fn perform_evictions(&mut self) {
        if !self.enforces_maxmemory() {
            return;
        }
        let limit = self.cfg.maxmemory as u64;
        let mut rounds = 0;
        let mut over = self.used_memory_now() > limit;
        self.stats.note_over_maxmemory(over);
        while over && rounds < 10_000 {
            rounds += 1;
            let Some((db, key)) = self.ks.evict_one(&mut self.rng) else {
                break;
            };
            self.touch_key(db, &key, None);
            let del = if self.cfg.lazyfree_lazy_eviction {
                "UNLINK"
            } else {
                "DEL"
            };
            self.stream
                .feed(db, &[vec![Bytes::from_static(del.as_bytes()), key]], false);
            over = self.used_memory_now() > limit;
        }
        crate::pubsub::publish_events(self);
    }

    /// One run of periodic work (Redis's `serverCron`, `hz` times a second).
    pub fn cron(&mut self) {
        self.prepare_clock(false);
        let budget = std::time::Duration::from_micros(25_000 / self.cfg.hz.max(1) as u64 * 10 / 10);
        if self.active_expire_enabled && !self.repl.failover.pauses_writes() {
            let started = std::time::Instant::now();
            self.ks.active_expire_cycle(budget);
            self.stats.expire_cycle_us += started.elapsed().as_micros() as u64;
        }
        let expired = std::mem::take(&mut self.ks.expired);
        for (db, key) in expired {
            self.touch_key(db, &key, None);
            let del = if self.cfg.lazyfree_lazy_expire {
                "UNLINK"
            } else {
                "DEL"
            };
            self.stream
                .feed(db, &[vec![Bytes::from_static(del.as_bytes()), key]], false);
        }
        crate::pubsub::publish_events(self);
        let now = self.ks.now_ms;
        self.expire_blocked(now);
        if let Some((until, _)) = self.pause {
            if until <= now {
                self.pause = None;
            }
        }
        if self.enforces_maxmemory() {
            self.perform_evictions();
        } else {
            self.used_memory_now();
        }
        crate::tracking::enforce_limit(self);
        crate::tracking::broadcast(self);
        self.stats.cron(now);
        crate::bgsave::cron(self);
        crate::aof::cron(self);
        self.replication_cron();
    }

    /// Sets the clocks a snapshot reads (LRU idle times are computed against them).
    pub fn prepare_clock_for_save(&mut self) {
        self.ks.now_ms = unix_ms();
        self.ks.lru_clock = (self.ks.now_ms / 1000) as u32;
    }

    /// A fork child other than BGSAVE ended (replication or AOF rewrite own those).
    pub fn child_exited(&mut self, exit: ferrokv_store::fork::ChildExit) {
        if self.replication_child_exit(&exit) {
            return;
        }
        if exit.kind == ferrokv_store::fork::ChildKind::AofRewrite {
            crate::aof::rewrite_done(self, exit);
            return;
        }
        tracing::info!(
            "{} child {} exited: {:?}",
            exit.kind.name(),
            exit.pid,
            exit.result
        );
    }

    /// Applies the configuration to the keyspace (and to latency tracking) after a change.
    pub fn refresh_store_config(&mut self) {
        let databases = self.ks.cfg.databases;
        self.ks.cfg = self.cfg.store_config();
        self.ks.cfg.databases = databases;
        self.stats.latency_tracking = self.cfg.latency_tracking;
    }

    /// Adds a LATENCY sample when `latency-monitor-threshold` is set and exceeded.
    pub fn record_latency(&mut self, event: &'static str, elapsed: std::time::Duration) {
        let threshold = self.cfg.latency_monitor_threshold;
        let ms = elapsed.as_millis() as i64;
        if threshold == 0 || ms < threshold {
            return;
        }
        let now = unix_ms() / 1000;
        let e = self.latency.entry(event).or_default();
        e.latest_time = now;
        e.latest_ms = ms;
        e.max_ms = e.max_ms.max(ms);
        e.history.push((now, ms));
        if e.history.len() > 160 {
            e.history.remove(0);
        }
    }

    /// If `CLIENT PAUSE` holds this command back, how long to wait before trying again.
    pub fn pause_for(&self, argv: &[Bytes]) -> Option<std::time::Duration> {
        // The usual case, decided without reading the clock (this runs for every command).
        if self.pause.is_none() && !self.repl.failover.pauses_writes() {
            return None;
        }
        let now = unix_ms();
        let (until, write_only) = match self.pause {
            Some(p) if p.0 > now => p,
            // FAILOVER pauses writes until it ends (failover.rs), CLIENT PAUSE or not.
            _ if self.repl.failover.pauses_writes() => (i64::MAX, true),
            _ => return None,
        };
        if until <= now {
            return None;
        }
        if write_only {
            let is_write = commands::lookup(&argv[0])
                .is_some_and(|c| c.flags() & (store_cmd::WRITE | store_cmd::MAY_REPLICATE) != 0);
            if !is_write {
                return None;
            }
        }
        Some(std::time::Duration::from_millis((until - now) as u64))
    }

    pub fn request_shutdown(&mut self, mode: ShutdownMode) {
        let _ = self.shutdown.send(Some(mode));
    }
}

/// What a command that passed the gates did.
pub(crate) enum Ran {
    Reply(Frame),
    /// Queued inside MULTI (`+QUEUED`): not executed, not counted as a call.
    Queued,
    /// Blocked its client; the reply comes later.
    Blocked,
}

/// Why a command stopped before producing a normal reply.
pub(crate) enum Stop {
    /// Refused before running (INFO commandstats `rejected_calls`).
    Rejected(CmdError),
    /// Ran and failed (`failed_calls`).
    Failed(CmdError),
    Close(Frame),
}

/// The keys write `argv` of `spec` may change: all its keys but those it only reads.
fn changed_keys(spec: &'static Spec<store_cmd::Handler>, argv: &[Bytes]) -> Vec<Bytes> {
    crate::command_docs::written_keys(spec.name, argv)
        .unwrap_or_else(|| spec.keys.key_indices(argv))
        .into_iter()
        .map(|i| argv[i].clone())
        .collect()
}

pub fn random_hex(rng: &mut impl rand::Rng, n: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..n).map(|_| HEX[rng.gen_range(0..16)] as char).collect()
}

/// A type alias used by the node command files.
pub type NodeResult = Result<Frame, CmdError>;

#[allow(dead_code)]
fn _assert_handler_type(_: NodeHandler) {}
