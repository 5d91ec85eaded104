//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH.
//!
//! Commands sent after MULTI are queued by the pipeline (`Node::gatekeep_and_run`); a
//! command that fails to queue (unknown, wrong arity, a write refused by OOM / MISCONF /
//! READONLY / NOREPLICAS) marks the transaction aborted and EXEC answers `-EXECABORT`.
//! EXEC itself passes those gates for the union of the queued commands' flags; a refusal
//! then discards the transaction (`-EXECABORT Transaction discarded because of: ...`). EXEC fails with a null reply if a WATCHed key was touched. The
//! writes of one EXEC are propagated as one MULTI/EXEC block.

use bytes::Bytes;
use ferrokv_proto::resp::Frame;
use ferrokv_store::cmd::{
    CmdError, KeySpec, Spec, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, SKIP_SLOWLOG, STALE,
};

use crate::client::{Client, ClientId, Multi};
use crate::commands::{self, NodeHandler};
use crate::node::Node;

pub static COMMANDS: &[Spec<NodeHandler>] = &[
    Spec {
        name: "multi",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        keys: KeySpec::None,
        run: multi,
    },
    Spec {
        name: "exec",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        keys: KeySpec::None,
        run: exec,
    },
    Spec {
        name: "discard",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        keys: KeySpec::None,
        run: discard,
    },
    Spec {
        name: "watch",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        keys: KeySpec::ALL,
        run: watch,
    },
    Spec {
        name: "unwatch",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        keys: KeySpec::None,
        run: unwatch,
    },
];

fn multi(node: &mut Node, id: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    let c = node.clients.get_mut(&id).expect("caller exists");
    if c.multi.is_some() {
        return Err(CmdError::msg("MULTI calls can not be nested"));
    }
    c.multi = Some(Multi::default());
    Ok(Frame::OK)
}

fn discard(node: &mut Node, id: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    if !node.discard_transaction(id) {
        return Err(CmdError::msg("DISCARD without MULTI"));
    }
    Ok(Frame::OK)
}

fn exec(node: &mut Node, id: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    let c = node.clients.get_mut(&id).expect("caller exists");
    let Some(tx) = c.multi.take() else {
        return Err(CmdError::msg("EXEC without MULTI"));
    };
    let dirty = c.dirty_cas;
    node.unwatch_all(id);
    if tx.aborted {
        return Err(CmdError::ExecAbort);
    }
    if dirty {
        return Ok(Frame::NullArray);
    }
    node.stream.begin_transaction();
    node.exec_client = Some(id);
    let mut replies = Vec::with_capacity(tx.queued.len());
    // The write gates ran for EXEC as a whole (the union of the queued commands' flags).
    for argv in &tx.queued {
        // Every queued command was looked up when it was queued.
        let Some(cmd) = commands::lookup(&argv[0]) else {
            continue;
        };
        let start = std::time::Instant::now();
        let reply = match node.run_command(id, cmd, argv, true) {
            Ok(Some(f)) => f,
            Ok(None) => Frame::NullArray,
            Err(e) => Frame::Error(Bytes::from(e.to_line())),
        };
        let name = commands::stat_name(cmd.name(), argv);
        let elapsed = start.elapsed();
        node.stats.record_executed(name, elapsed, &reply);
        node.record_duration(id, cmd, argv, elapsed);
        // Redis logs these under the command its client last sent: EXEC.
        if let Frame::Error(line) = &reply {
            if let Some(peer) = node.clients.get(&id).and_then(Client::unread_errors) {
                node.note_unread_error(peer, line, Some("exec"));
            }
        }
        replies.push(reply);
    }
    node.exec_client = None;
    node.stream.end_transaction();
    Ok(Frame::Array(replies))
}

fn watch(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let c = node.clients.get_mut(&id).expect("caller exists");
    if c.multi.is_some() {
        return Err(CmdError::msg("WATCH inside MULTI is not allowed"));
    }
    let db = c.db;
    for key in &argv[1..] {
        let k = (db, key.clone());
        if c.watched.contains(&k) {
            continue;
        }
        c.watched.push(k.clone());
        node.watched.entry(k).or_default().push(id);
    }
    Ok(Frame::OK)
}

fn unwatch(node: &mut Node, id: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    node.unwatch_all(id);
    Ok(Frame::OK)
}
