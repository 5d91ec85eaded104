//! `FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT`: a coordinated switch of
//! roles between this primary and one of its replicas, without losing an acknowledged write.
//!
//! ## Flow (Redis 6.2+ semantics)
//!
//! 1. `FAILOVER` (on a primary with at least one replica) answers `+OK`, pauses client writes
//!    (as `CLIENT PAUSE WRITE`: write commands wait, reads go on) and enters
//!    `waiting-for-sync`. While paused the offset must not move, so the cron sends neither
//!    stream PINGs nor `REPLCONF GETACK` and active expiry stops.
//! 2. Every cron tick ([`Node::failover_cron`]): the target (the named one, or the first
//!    replica found) is synced when its last `REPLCONF ACK` equals `master_repl_offset`
//!    (replicas ACK every second by themselves). Then `failover-in-progress`: this node
//!    becomes a replica of the target and its link sends `PSYNC <replid> <offset+1> FAILOVER`.
//!    With a `TIMEOUT` that passes first: `FORCE` fails over anyway, otherwise the failover is
//!    aborted ("Replica never caught up before timeout").
//! 3. The target ([`psync_failover_request`]) promotes itself only if `<replid>` is its own
//!    replid (it is a replica of ours, so it shares our history), then answers the PSYNC as a
//!    primary: normally `+CONTINUE <new replid>` from the previous history.
//! 4. The first answer to that PSYNC ends the failover here ([`Node::failover_link_up`]):
//!    writes resume (and get `-READONLY`, this node now being a replica). An error answer, a
//!    failed connection or the timeout instead aborts ([`Node::failover_link_failed`]): the
//!    node becomes a primary again (new replid, the old one kept as replid2, so replicas
//!    continue) and writes resume.
//!
//! `master_failover_state` in INFO is `no-failover`, `waiting-for-sync` or
//! `failover-in-progress`. During a failover `REPLICAOF` and new `SYNC`/`PSYNC` requests are
//! refused with Redis's texts.
//!
//! Deviation: a connection failure to the target during `failover-in-progress` aborts at once
//! (Redis keeps retrying until the timeout, if any); the target may then have promoted itself
//! when only its answer was lost, exactly as with Redis's own abort after a timeout.

use bytes::Bytes;
use ferrokv_proto::resp::Frame;
use ferrokv_store::cmd::{CmdError, KeySpec, Spec, ADMIN, NOSCRIPT, STALE};
use tracing::{info, warn};

use crate::client::ClientId;
use crate::commands::NodeHandler;
use crate::node::{unix_ms, Node, NodeResult};

pub static COMMANDS: &[Spec<NodeHandler>] = &[Spec {
    name: "failover",
    arity: -1,
    flags: ADMIN | NOSCRIPT | STALE,
    keys: KeySpec::None,
    run: failover,
}];

/// Where a failover stands.
///
/// ```text
/// None --FAILOVER--> WaitForSync --target ACKed the offset (or timeout + FORCE)--> InProgress
/// WaitForSync --timeout | ABORT--> None (still primary)
/// InProgress --PSYNC answered--> None (replica of the target)
/// InProgress --error answer | link failed | timeout | ABORT--> None (primary again)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    None,
    WaitForSync,
    InProgress,
}

impl Phase {
    /// INFO's `master_failover_state`.
    pub fn info_name(self) -> &'static str {
        match self {
            Phase::None => "no-failover",
            Phase::WaitForSync => "waiting-for-sync",
            Phase::InProgress => "failover-in-progress",
        }
    }
}

/// The failover in progress, if any.
#[derive(Debug, Default)]
pub struct Failover {
    pub phase: Phase,
    /// The replica to hand over to (chosen when it is synced if not named).
    pub target: Option<(String, u16)>,
    /// `TIMEOUT`: the unix ms deadline.
    pub end_ms: Option<i64>,
    pub force: bool,
}

impl Failover {
    /// Client writes wait while a failover runs.
    pub fn pauses_writes(&self) -> bool {
        self.phase != Phase::None
    }

    /// The replica link must send `PSYNC ... FAILOVER`.
    pub fn psync_flag(&self) -> bool {
        self.phase == Phase::InProgress
    }

    fn target_name(&self) -> String {
        match &self.target {
            Some((h, p)) => format!("{h}:{p}"),
            None => "any replica".to_string(),
        }
    }
}

const NOT_ONLINE: &str = "FAILOVER target replica is not online.";

fn failover(node: &mut Node, _id: ClientId, argv: &[Bytes]) -> NodeResult {
    if argv.len() == 2 && argv[1].eq_ignore_ascii_case(b"abort") {
        if node.repl.failover.phase == Phase::None {
            return Err(CmdError::msg("No failover in progress."));
        }
        node.abort_failover("Failover manually aborted");
        return Ok(Frame::ok());
    }
    let mut timeout_ms: i64 = 0;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < argv.len() {
        let word = &argv[j];
        if word.eq_ignore_ascii_case(b"timeout") && j + 1 < argv.len() && timeout_ms == 0 {
            timeout_ms = parse_long(&argv[j + 1])?;
            if timeout_ms <= 0 {
                return Err(CmdError::msg("FAILOVER timeout must be greater than 0"));
            }
            j += 2;
        } else if word.eq_ignore_ascii_case(b"to") && j + 2 < argv.len() && target.is_none() {
            let port = parse_long(&argv[j + 2])?;
            target = Some((String::from_utf8_lossy(&argv[j + 1]).into_owned(), port));
            j += 3;
        } else if word.eq_ignore_ascii_case(b"force") && !force {
            force = true;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if node.repl.failover.phase != Phase::None {
        return Err(CmdError::msg("FAILOVER already in progress."));
    }
    if node.is_replica() {
        return Err(CmdError::msg(
            "FAILOVER is not valid when server is a replica.",
        ));
    }
    let replicas = node
        .repl
        .state
        .borrow()
        .replicas
        .values()
        .filter(|r| !r.hs.rdb_only)
        .count();
    if replicas == 0 {
        return Err(CmdError::msg("FAILOVER requires connected replicas."));
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(CmdError::msg(
            "FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let target = match target {
        Some((host, port)) => {
            let Some((online, _)) = find_replica(node, &host, port) else {
                return Err(CmdError::msg(
                    "FAILOVER target HOST and PORT is not a replica.",
                ));
            };
            if !online {
                return Err(CmdError::msg(NOT_ONLINE));
            }
            info!("FAILOVER requested to {host}:{port}.");
            // find_replica matched a listening port, so it fits in u16.
            Some((host, u16::try_from(port).unwrap_or(0)))
        }
        None => {
            info!("FAILOVER requested to any replica.");
            None
        }
    };
    node.repl.failover = Failover {
        phase: Phase::WaitForSync,
        target,
        end_ms: (timeout_ms > 0).then(|| unix_ms().saturating_add(timeout_ms)),
        force,
    };
    Ok(Frame::ok())
}

fn parse_long(b: &Bytes) -> Result<i64, CmdError> {
    ferrokv_store::cmd::parse_i64(b).ok_or(CmdError::NotInteger)
}

/// The attached replica announcing `host:port`: `(online, acked offset)`.
fn find_replica(node: &Node, host: &str, port: i64) -> Option<(bool, u64)> {
    let st = node.repl.state.borrow();
    st.replicas
        .values()
        .filter(|r| !r.hs.rdb_only && !r.closing)
        .find(|r| r.ip().eq_ignore_ascii_case(host) && i64::from(r.hs.listening_port) == port)
        .map(|r| (r.state.is_online(), r.ack_off))
}

/// `PSYNC <replid> <offset> FAILOVER` arriving at the target: promote this node if `replid`
/// is its own history. Returns an error reply otherwise. Called before the PSYNC is answered.
pub fn psync_failover_request(node: &mut Node, argv: &[Bytes]) -> Result<(), CmdError> {
    let Some(flag) = argv.get(3) else {
        return Ok(());
    };
    if !flag.eq_ignore_ascii_case(b"failover") {
        return Ok(());
    }
    let mine = node.repl.state.borrow().replid.clone();
    if argv[1] != mine.as_bytes() {
        return Err(CmdError::msg("PSYNC FAILOVER replid must match my replid."));
    }
    if node.is_replica() {
        node.become_primary();
    }
    info!("Failover request received for replid {mine}.");
    Ok(())
}

impl Node {
    /// The failover's share of the cron (every tick, so the switch happens within 1/hz s
    /// of the target's ACK).
    pub(crate) fn failover_cron(&mut self) {
        let now = unix_ms();
        let fo = &self.repl.failover;
        let timed_out = fo.end_ms.is_some_and(|end| end <= now);
        match fo.phase {
            Phase::None => {}
            Phase::InProgress => {
                if timed_out {
                    self.abort_failover("Failover target never answered before timeout");
                }
            }
            Phase::WaitForSync => {
                if timed_out {
                    match (fo.force, fo.target.clone()) {
                        (true, Some((host, port))) => {
                            info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                            self.start_handover(host, port);
                        }
                        _ => self.abort_failover("Replica never caught up before timeout"),
                    }
                    return;
                }
                let offset = self.repl.state.borrow().offset;
                let synced = match fo.target.clone() {
                    Some((host, port)) => find_replica(self, &host, i64::from(port))
                        .filter(|&(online, ack)| online && ack == offset)
                        .map(|_| (host, port)),
                    None => {
                        let st = self.repl.state.borrow();
                        st.replicas
                            .values()
                            .filter(|r| !r.hs.rdb_only && !r.closing && r.state.is_online())
                            .find(|r| r.ack_off == offset)
                            .map(|r| (r.ip(), r.hs.listening_port))
                    }
                };
                if let Some((host, port)) = synced {
                    info!("Failover target {host}:{port} is synced, failing over.");
                    self.start_handover(host, port);
                }
            }
        }
    }

    /// Step 2's end: follow the target with the FAILOVER flag on our PSYNC.
    fn start_handover(&mut self, host: String, port: u16) {
        self.repl.failover.target = Some((host.clone(), port));
        self.repl.failover.phase = Phase::InProgress;
        self.become_replica(host, port);
    }

    /// The target answered our `PSYNC ... FAILOVER` (`+CONTINUE` or `+FULLRESYNC`).
    pub(crate) fn failover_link_up(&mut self) {
        if self.repl.failover.phase == Phase::InProgress {
            info!(
                "FAILOVER to {} completed: now a replica of it.",
                self.repl.failover.target_name()
            );
            self.repl.failover = Failover::default();
        }
    }

    /// The link to the target failed before it answered our `PSYNC ... FAILOVER`.
    pub(crate) fn failover_link_failed(&mut self, why: &str) {
        if self.repl.failover.phase == Phase::InProgress {
            self.abort_failover(why);
        }
    }

    /// Ends the failover without handing over: a primary again, writes resume.
    pub(crate) fn abort_failover(&mut self, why: &str) {
        let fo = std::mem::take(&mut self.repl.failover);
        if fo.phase == Phase::None {
            return;
        }
        warn!("FAILOVER to {} aborted: {why}", fo.target_name());
        if fo.phase == Phase::InProgress && self.is_replica() {
            self.become_primary();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::primary::{Handshake, ReplicaLink, ReplicaState};
    use std::net::{IpAddr, Ipv4Addr};

    fn argv(line: &str) -> Vec<Bytes> {
        ferrokv_proto::resp::split_args(line.as_bytes()).expect("balanced quotes")
    }

    fn run(node: &mut Node, line: &str) -> Result<Frame, String> {
        failover(node, 1, &argv(line)).map_err(|e| e.to_line())
    }

    /// A primary at offset 100 with one online replica (127.0.0.1:7001) that acked `ack`.
    fn primary_with_replica(ack: u64) -> Node {
        let node = Node::new(Config::default(), None);
        {
            let mut st = node.repl.state.borrow_mut();
            st.ensure_backlog(1024);
            st.feed_stream(&Bytes::from(vec![b'x'; 100]));
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let hs = Handshake {
                listening_port: 7001,
                ..Handshake::default()
            };
            let mut r = ReplicaLink::new(9, tx, IpAddr::V4(Ipv4Addr::LOCALHOST), hs, true);
            r.state = ReplicaState::Online;
            r.ack_off = ack;
            st.replicas.insert(9, r);
        }
        node
    }

    #[test]
    fn errors_follow_redis_order() {
        let mut lone = Node::new(Config::default(), None);
        let table = [
            ("FAILOVER", "ERR FAILOVER requires connected replicas."),
            ("FAILOVER ABORT", "ERR No failover in progress."),
            (
                "FAILOVER TIMEOUT 0",
                "ERR FAILOVER timeout must be greater than 0",
            ),
            (
                "FAILOVER TO h x",
                "ERR value is not an integer or out of range",
            ),
            ("FAILOVER TO h", "ERR syntax error"),
            ("FAILOVER FORCE FORCE", "ERR syntax error"),
            ("FAILOVER ABORT now", "ERR syntax error"),
        ];
        for (line, want) in table {
            assert_eq!(run(&mut lone, line).unwrap_err().trim_end(), want, "{line}");
        }
        let mut node = primary_with_replica(0);
        for (line, want) in [
            (
                "FAILOVER FORCE",
                "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
            ),
            (
                "FAILOVER TO 127.0.0.1 7002",
                "ERR FAILOVER target HOST and PORT is not a replica.",
            ),
        ] {
            assert_eq!(run(&mut node, line).unwrap_err().trim_end(), want, "{line}");
        }
    }

    #[test]
    fn waits_for_the_exact_offset_then_hands_over() {
        let mut node = primary_with_replica(90);
        let old_replid = node.repl.state.borrow().replid.clone();
        assert!(run(&mut node, "FAILOVER TO 127.0.0.1 7001 TIMEOUT 60000").is_ok());
        assert_eq!(
            run(&mut node, "FAILOVER").unwrap_err().trim_end(),
            "ERR FAILOVER already in progress."
        );
        assert!(node.pause_for(&argv("SET k v")).is_some(), "writes wait");
        assert!(node.pause_for(&argv("GET k")).is_none(), "reads go on");
        node.failover_cron();
        assert_eq!(
            node.repl.failover.phase,
            Phase::WaitForSync,
            "ack 90 < offset 100"
        );
        node.repl
            .state
            .borrow_mut()
            .replicas
            .get_mut(&9)
            .unwrap()
            .ack_off = 100;
        node.failover_cron();
        assert_eq!(node.repl.failover.phase, Phase::InProgress);
        assert!(node.repl.failover.psync_flag());
        assert_eq!(
            node.role,
            crate::node::Role::Replica {
                host: "127.0.0.1".into(),
                port: 7001
            }
        );
        // The target refused: primary again, the old history kept as replid2.
        node.failover_link_failed("rejected");
        assert_eq!(node.repl.failover.phase, Phase::None);
        assert!(!node.is_replica());
        assert_eq!(node.repl.state.borrow().replid2, old_replid);
        assert!(node.pause_for(&argv("SET k v")).is_none(), "writes resume");
    }

    #[test]
    fn timeout_aborts_unless_forced() {
        let mut node = primary_with_replica(0);
        assert!(run(&mut node, "FAILOVER TIMEOUT 1").is_ok());
        std::thread::sleep(std::time::Duration::from_millis(5));
        node.failover_cron();
        assert_eq!(node.repl.failover.phase, Phase::None);
        assert!(!node.is_replica());
        assert!(run(&mut node, "FAILOVER TO 127.0.0.1 7001 TIMEOUT 1 FORCE").is_ok());
        std::thread::sleep(std::time::Duration::from_millis(5));
        node.failover_cron();
        assert_eq!(
            node.repl.failover.phase,
            Phase::InProgress,
            "forced despite the lag"
        );
        node.failover_link_up();
        assert_eq!(node.repl.failover.phase, Phase::None);
        assert!(node.is_replica());
    }

    #[test]
    fn psync_failover_needs_the_targets_replid() {
        let mut node = Node::new(Config::default(), None);
        let mine = node.repl.state.borrow().replid.clone();
        let other = "f".repeat(40);
        let bad = argv(&format!("PSYNC {other} 5 FAILOVER"));
        assert_eq!(
            psync_failover_request(&mut node, &bad)
                .unwrap_err()
                .to_line()
                .trim_end(),
            "ERR PSYNC FAILOVER replid must match my replid."
        );
        assert!(psync_failover_request(&mut node, &argv(&format!("PSYNC {other} 5"))).is_ok());
        node.become_replica("127.0.0.1".into(), 7000);
        let good = argv(&format!("PSYNC {mine} 5 failover"));
        assert!(psync_failover_request(&mut node, &good).is_ok());
        assert!(!node.is_replica(), "the target promoted itself");
    }

    #[test]
    fn phases_print_as_redis() {
        assert_eq!(Phase::None.info_name(), "no-failover");
        assert_eq!(Phase::WaitForSync.info_name(), "waiting-for-sync");
        assert_eq!(Phase::InProgress.info_name(), "failover-in-progress");
        let fo = Failover {
            phase: Phase::WaitForSync,
            ..Failover::default()
        };
        assert!(fo.pauses_writes());
        assert!(!fo.psync_flag());
        assert_eq!(fo.target_name(), "any replica");
    }
}
