//! The ferrokv node: listener, client connections, configuration, INFO, node commands
//! (connection, server, transactions, pub/sub), and the primary's side of replication.
//!
//! Main types: [`Config`](config::Config) (every directive, Redis's names), [`Node`](node::Node)
//! (the state owned by the keyspace thread and the command pipeline), [`run`] (bind, serve,
//! cron, shutdown).
//!
//! Threading: one tokio `current_thread` runtime owns the node; connections are local tasks
//! sharing it through `Rc<RefCell<Node>>` and never hold the borrow across an `.await`.
//! This crate depends on `proto`, `store` and `replica`; nothing depends on it but the binary.

pub mod aof;
pub mod bgsave;
pub mod client;
pub mod cmd_command;
pub mod cmd_conn;
pub mod cmd_latency;
pub mod cmd_multi;
pub mod cmd_server;
pub mod command_docs;
pub mod commands;
pub mod config;
pub mod conn;
pub mod failover;
pub mod info;
pub mod loading;
pub mod log_role;
pub mod memory;
pub mod monitor;
pub mod node;
pub mod primary;
pub mod propagate;
pub mod pubsub;
pub mod rdb_file;
pub mod replication;
pub mod slowlog;
pub mod stats;
pub mod syscheck;
pub mod tracking;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::Config;
use crate::node::{Node, ShutdownMode};

/// Addresses to listen on for `bind` (`*` = all IPv4, `::*` = all IPv6; a leading `-` marks
/// an address whose bind failure is not fatal, as in Redis).
fn bind_addrs(cfg: &Config) -> Vec<(IpAddr, bool)> {
    cfg.bind
        .split_whitespace()
        .filter_map(|a| {
            let (optional, a) = match a.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, a),
            };
            let ip = match a {
                "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                "::*" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                other => other.parse().ok()?,
            };
            Some((ip, optional))
        })
        .collect()
}

/// Binds the listeners `cfg` asks for (none for `port 0`). Runs inside the runtime.
pub(crate) fn bind(cfg: &Config) -> std::io::Result<Vec<TcpListener>> {
    let port = if cfg.listen_ephemeral_port {
        0
    } else {
        cfg.port as u16
    };
    let mut out = Vec::new();
    if port == 0 && !cfg.listen_ephemeral_port {
        return Ok(out);
    }
    for (ip, optional) in bind_addrs(cfg) {
        let socket = match ip {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        if ip.is_ipv6() {
            // IPv6 only, as Redis sets it: otherwise `::` would also claim the IPv4 port that
            // the `*` listener holds, and the default `bind * -::*` would lose IPv6.
            nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv6V6Only, &true)
                .map_err(std::io::Error::from)?;
        }
        // The first listener fixes the port when an ephemeral one was asked for.
        let p = out.first().map_or(port, |l: &TcpListener| {
            l.local_addr().map(|a| a.port()).unwrap_or(port)
        });
        let attempt = socket
            .bind(SocketAddr::new(ip, p))
            .and_then(|_| socket.listen(cfg.tcp_backlog as u32));
        match attempt {
            Ok(l) => out.push(l),
            Err(e) if optional => {
                warn!("Warning: Could not create server TCP listening socket {ip}:{p}: {e}")
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("Could not create server TCP listening socket {ip}:{p}: {e}"),
                ))
            }
        }
    }
    Ok(out)
}

/// Serves `listeners` from now on, in place of any previous ones (start-up, and CONFIG SET
/// port): their accept loops replace the old ones, and forks close their descriptors.
pub(crate) fn start_listeners(n: &mut Node, node: &Rc<RefCell<Node>>, listeners: Vec<TcpListener>) {
    for task in n.listener_tasks.drain(..) {
        task.abort();
    }
    n.listener_fds = listeners
        .iter()
        .map(std::os::fd::AsRawFd::as_raw_fd)
        .collect();
    n.listen_addr = listeners.first().and_then(|l| l.local_addr().ok());
    for l in listeners {
        let task = tokio::task::spawn_local(accept_loop(node.clone(), l));
        n.listener_tasks.push(task.abort_handle());
    }
}

/// Accepts connections on one listener for the node, refusing them past `maxclients` and
/// under protected mode with Redis's errors.
async fn accept_loop(node: Rc<RefCell<Node>>, l: TcpListener) {
    loop {
        match l.accept().await {
            Ok((stream, peer)) => {
                let max = node.borrow().cfg.maxclients as usize;
                if node.borrow().clients.len() >= max {
                    node.borrow_mut().stats.rejected_connections += 1;
                    let mut s = stream;
                    let _ = tokio::io::AsyncWriteExt::write_all(
                        &mut s,
                        b"-ERR max number of clients reached\r\n",
                    )
                    .await;
                    continue;
                }
                if config::protected_mode_denies(&node.borrow().cfg, peer.ip()) {
                    let mut s = stream;
                    let _ = tokio::io::AsyncWriteExt::write_all(
                        &mut s,
                        config::PROTECTED_MODE_DENIED.as_bytes(),
                    )
                    .await;
                    continue;
                }
                tokio::task::spawn_local(conn::serve(node.clone(), stream, peer));
            }
            Err(e) => {
                warn!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Runs a node until SHUTDOWN or SIGTERM/SIGINT. Blocks the calling thread.
pub fn run(cfg: Config, config_file: Option<PathBuf>) -> std::io::Result<()> {
    syscheck::startup(&cfg);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve(cfg, config_file))
}

async fn serve(cfg: Config, config_file: Option<PathBuf>) -> std::io::Result<()> {
    let listeners = bind(&cfg)?;
    // A write past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the process
    // (Redis dies so). Catching it makes such a write fail with EFBIG instead, handled like
    // a full disk (`aof_last_write_status:err`, -MISCONF until a retry succeeds). tokio
    // keeps the handler installed for the life of the process.
    let _xfsz = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
        nix::sys::signal::Signal::SIGXFSZ as i32,
    ))?;
    let hz = cfg.hz.max(1) as u64;
    let node = Rc::new(RefCell::new(Node::new(cfg, config_file)));
    {
        let mut n = node.borrow_mut();
        n.used_memory_startup = n.used_memory_now();
    }
    info!("Server initialized");
    let mut shutdown = node.borrow().shutdown.subscribe();
    node.borrow_mut().self_ref = Rc::downgrade(&node);
    start_listeners(&mut node.borrow_mut(), &node, listeners);
    // Connections are accepted (and told -LOADING) while the dataset loads; the ready line
    // comes after it, as in Redis.
    if let Some(aux) = rdb_file::load_at_startup(&node).await? {
        node.borrow_mut().resume_from_rdb_aux(&aux);
    }
    aof::load_at_startup(&node)
        .await
        .map_err(std::io::Error::other)?;
    if let Some(addr) = node.borrow().listen_addr {
        info!("Ready to accept connections tcp {addr}");
    }
    // Replication: follows `replicaof` (config or REPLICAOF) for the life of the process.
    tokio::task::spawn_local(replication::supervise(node.clone()));
    // Cron: expiry, timeouts of blocked clients, memory, stats.
    {
        let node = node.clone();
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / hz));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                node.borrow_mut().cron();
            }
        });
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mode = tokio::select! {
        _ = sigterm.recv() => {
            warn!("Received SIGTERM scheduling shutdown...");
            ShutdownMode::Default
        }
        _ = sigint.recv() => {
            warn!("Received SIGINT scheduling shutdown...");
            ShutdownMode::Default
        }
        _ = async {
            loop {
                if shutdown.changed().await.is_err() { break; }
                if shutdown.borrow().is_some() { break; }
            }
        } => {
            warn!("User requested shutdown...");
            node.borrow().shutdown.borrow().unwrap_or(ShutdownMode::Default)
        }
    };
    // Give connection tasks a moment to flush their last replies.
    tokio::time::sleep(Duration::from_millis(10)).await;
    final_save(&mut node.borrow_mut(), mode)?;
    info!("ferrokv is now ready to exit, bye bye...");
    Ok(())
}

/// What SHUTDOWN/SIGTERM do before exiting: kill a running child, then save synchronously when
/// asked to (`SAVE`) or when save rules are configured (the default), unless `NOSAVE`.
fn final_save(node: &mut Node, mode: ShutdownMode) -> std::io::Result<()> {
    aof::shutdown(node);
    if let Some(exit) = node.children.kill() {
        warn!(
            "There is a child process running ({}). Killing it!",
            exit.kind.name()
        );
        ferrokv_replica::persist::rdb_file::finish_bgsave(&exit, &bgsave::rdb_target(node));
    }
    let save = match mode {
        ShutdownMode::NoSave => false,
        ShutdownMode::Save => true,
        ShutdownMode::Default => !node.cfg.save.0.is_empty(),
    };
    if save {
        info!("Saving the final RDB snapshot before exiting.");
        node.prepare_clock_for_save();
        let target = bgsave::rdb_target(node);
        match ferrokv_replica::persist::rdb_file::save_to_disk(
            &node.ks,
            &target,
            std::process::id(),
        ) {
            Ok(_) => info!("DB saved on disk"),
            Err(e) => {
                tracing::error!("Error trying to save the DB, can't exit: {e}");
                return Err(std::io::Error::other(e.to_string()));
            }
        }
    }
    Ok(())
}
