//! MONITOR: each command the node runs, as one status line to every monitoring client.
//!
//! The line is what Redis 7.0 writes: `+<secs>.<micros> [<db> <ip:port>] "arg" "arg"...`,
//! arguments quoted as `sdscatrepr` quotes them, the database being the client's after the
//! command (so `SELECT 1` shows under db 1). A command is shown once it has run, whatever its
//! reply, including each command of a transaction (before its EXEC) and a command that
//! blocks. Commands refused before running (unknown, wrong arity, NOAUTH...) and queued in
//! MULTI are not shown, nor administrative ones (`admin` or `skip_monitor` flag: CONFIG,
//! DEBUG, MONITOR itself...). Passwords of AUTH and HELLO AUTH read `(redacted)`.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrokv_proto::resp::{quote_arg, Frame};
use ferrokv_store::cmd::{self as store_cmd, CmdError};

use crate::client::{ClientId, Outbound};
use crate::commands::{self, Command};
use crate::node::Node;

/// `MONITOR`: the client becomes a monitor. A client that already is one, or a replica,
/// gets no reply at all, and inside EXEC it is an error, as in Redis.
pub fn monitor(node: &mut Node, id: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    if node.exec_client == Some(id) {
        return Err(CmdError::msg(
            "MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    let c = node
        .clients
        .get_mut(&id)
        .expect("the calling client is registered");
    if c.monitor || c.flags.replica {
        c.no_reply_once = true;
        return Ok(Frame::OK);
    }
    c.monitor = true;
    node.monitors.push(id);
    Ok(Frame::OK)
}

/// The client stops monitoring (RESET, or it is gone).
pub fn stop(node: &mut Node, id: ClientId) {
    if let Some(c) = node.clients.get_mut(&id) {
        c.monitor = false;
    }
    node.monitors.retain(|&m| m != id);
}

/// Shows `argv`, just run by `id`, to the monitors.
pub fn feed(node: &mut Node, id: ClientId, cmd: Command, argv: &[Bytes]) {
    if node.monitors.is_empty() || node.loading.is_some() || hidden(cmd, argv) {
        return;
    }
    let Some(c) = node.clients.get(&id) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        c.db,
        c.addr
    );
    let redacted = redacted_args(cmd.name(), argv);
    for (i, arg) in argv.iter().enumerate() {
        line.push(' ');
        if redacted.contains(&i) {
            line.push_str("\"(redacted)\"");
        } else {
            line.push_str(&quote_arg(arg));
        }
    }
    let frame = Frame::Simple(Bytes::from(line));
    let current = node.current_client;
    for &m in &node.monitors {
        let Some(monitor) = node.clients.get_mut(&m) else {
            continue;
        };
        if current == Some(m) {
            // After the reply of the monitor's own command.
            monitor.extra_replies.push(frame.clone());
        } else {
            let _ = monitor.tx.send(Outbound::Frame(frame.clone()));
        }
    }
}

/// Whether a command is kept from monitors: the `admin` and `skip_monitor` flags, of the
/// subcommand for a container (CLIENT ID is shown, CLIENT KILL is not).
fn hidden(cmd: Command, argv: &[Bytes]) -> bool {
    const HIDDEN: u32 = store_cmd::ADMIN | store_cmd::SKIP_MONITOR;
    if !commands::is_container(cmd.name()) {
        return cmd.flags() & HIDDEN != 0;
    }
    let Some(full) = commands::stat_name(cmd.name(), argv) else {
        // An unknown subcommand failed without running anything worth hiding.
        return false;
    };
    crate::command_docs::get(cmd.name())
        .and_then(|d| d.subcommands.iter().find(|s| s.name == full))
        .is_some_and(|s| s.flags.iter().any(|f| f == "admin" || f == "skip_monitor"))
}

/// The arguments Redis replaces with `(redacted)`: AUTH's password (and username), the
/// user and password after each AUTH of HELLO.
fn redacted_args(name: &str, argv: &[Bytes]) -> Vec<usize> {
    match name {
        "auth" if argv.len() <= 3 => (1..argv.len()).collect(),
        "hello" => {
            let mut out = Vec::new();
            let mut j = 2;
            while j < argv.len() {
                let more = argv.len() - 1 - j;
                if argv[j].eq_ignore_ascii_case(b"auth") && more >= 2 {
                    out.extend([j + 1, j + 2]);
                    j += 3;
                } else if argv[j].eq_ignore_ascii_case(b"setname") && more >= 1 {
                    j += 2;
                } else {
                    break;
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<Bytes> {
        ferrokv_proto::resp::split_args(line.as_bytes()).expect("balanced quotes")
    }

    #[test]
    fn passwords_are_redacted_as_redis_redacts_them() {
        assert_eq!(redacted_args("auth", &argv("auth pw")), vec![1]);
        assert_eq!(redacted_args("auth", &argv("auth u pw")), vec![1, 2]);
        assert!(redacted_args("auth", &argv("auth a b c")).is_empty());
        assert_eq!(
            redacted_args("hello", &argv("hello 3 SETNAME n auth u p")),
            vec![5, 6]
        );
        assert!(redacted_args("hello", &argv("hello 3 auth u")).is_empty());
        assert!(redacted_args("get", &argv("get k")).is_empty());
    }
}
