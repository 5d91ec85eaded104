//! Server commands: CONFIG INFO TIME LASTSAVE SHUTDOWN SLOWLOG LATENCY DEBUG MEMORY (COMMAND
//! is in `cmd_command`).

use bytes::Bytes;
use ferrokv_proto::resp::Frame;
use ferrokv_store::cmd::{
    parse_i64, CmdError, KeySpec, Spec, ADMIN, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_MULTI,
    STALE, STALE_SUBCOMMANDS,
};
use ferrokv_store::glob::glob_match_case;

use crate::client::ClientId;
use crate::commands::{self, NodeHandler};
use crate::config::{Config, DIRECTIVES};
use crate::node::{unix_ms, Node, ShutdownMode};

pub static COMMANDS: &[Spec<NodeHandler>] = &[
    Spec {
        name: "monitor",
        arity: 1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        keys: KeySpec::None,
        run: crate::monitor::monitor,
    },
    Spec {
        name: "config",
        arity: -2,
        flags: STALE_SUBCOMMANDS,
        keys: KeySpec::None,
        run: config,
    },
    Spec {
        name: "info",
        arity: -1,
        flags: LOADING | STALE,
        keys: KeySpec::None,
        run: info,
    },
    Spec {
        name: "time",
        arity: 1,
        flags: LOADING | STALE | FAST,
        keys: KeySpec::None,
        run: time,
    },
    Spec {
        name: "lastsave",
        arity: 1,
        flags: LOADING | STALE | FAST,
        keys: KeySpec::None,
        run: lastsave,
    },
    Spec {
        name: "shutdown",
        arity: -1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        keys: KeySpec::None,
        run: shutdown,
    },
    Spec {
        name: "slowlog",
        arity: -2,
        flags: ADMIN | LOADING | STALE | STALE_SUBCOMMANDS,
        keys: KeySpec::None,
        run: slowlog,
    },
    Spec {
        name: "latency",
        arity: -2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | STALE_SUBCOMMANDS,
        keys: KeySpec::None,
        run: latency,
    },
    Spec {
        name: "debug",
        arity: -2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        keys: KeySpec::None,
        run: debug,
    },
    Spec {
        name: "command",
        arity: -1,
        flags: LOADING | STALE,
        keys: KeySpec::None,
        run: crate::cmd_command::command,
    },
    Spec {
        name: "memory",
        arity: -2,
        flags: 0,
        keys: KeySpec::None,
        run: memory,
    },
];

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn help(lines: &[&'static str]) -> Frame {
    Frame::Array(
        lines
            .iter()
            .map(|l| Frame::Simple(Bytes::from_static(l.as_bytes())))
            .collect(),
    )
}

// ---- CONFIG ---------------------------------------------------------------------------

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Print this help.",
];

fn config(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => Ok(help(CONFIG_HELP)),
        (b"get", n) if n >= 3 => {
            // As Redis: a name without glob characters is looked up directly (aliases and
            // hidden directives included) and echoed as typed; a pattern matches every name
            // and alias except hidden ones. A name already listed is not repeated.
            let mut pairs: Vec<(Frame, Frame)> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for pat in &argv[2..] {
                if !pat.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                    let name = lossy(pat);
                    if let Some(d) = Config::directive(&name) {
                        if seen.insert(name.to_ascii_lowercase()) {
                            pairs.push((Frame::Bulk(pat.clone()), Frame::bulk((d.get)(&node.cfg))));
                        }
                    }
                    continue;
                }
                for d in DIRECTIVES {
                    if crate::config::HIDDEN_DIRECTIVES.contains(&d.name) {
                        continue;
                    }
                    for name in std::iter::once(&d.name).chain(d.aliases.iter()) {
                        if glob_match_case(pat, name.as_bytes(), true)
                            && seen.insert(name.to_string())
                        {
                            pairs.push((Frame::bulk(*name), Frame::bulk((d.get)(&node.cfg))));
                        }
                    }
                }
            }
            Ok(Frame::Map(pairs))
        }
        // Redis checks the pairs after the arity: an odd count is a syntax error.
        (b"set", n) if n >= 5 && n % 2 == 1 => Err(CmdError::Syntax),
        (b"set", n) if n >= 4 => {
            let peer = node
                .clients
                .get(&id)
                .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| {
                    c.addr.ip()
                });
            // As Redis: every name is checked (unknown, repeated, immutable, protected)
            // before any value, and nothing changes unless all of them apply.
            let mut names = std::collections::HashSet::new();
            let mut directives = Vec::with_capacity(argv.len() / 2);
            for pair in argv[2..].chunks(2) {
                let name = lossy(&pair[0]);
                let Some(d) = Config::directive(&name) else {
                    return Err(CmdError::msg_owned(format!(
                        "Unknown option or number of arguments for CONFIG SET - '{name}'"
                    )));
                };
                if !names.insert(d.name) {
                    return Err(CmdError::msg_owned(format!(
                        "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                    )));
                }
                let refusal = if !d.mutable {
                    Some("immutable")
                } else if crate::config::PROTECTED_DIRECTIVES.contains(&d.name)
                    && crate::config::protected_action_denied(
                        &node.cfg.enable_protected_configs,
                        peer,
                    )
                {
                    Some("protected")
                } else {
                    None
                };
                if let Some(what) = refusal {
                    return Err(CmdError::msg_owned(format!(
                        "CONFIG SET failed (possibly related to argument '{name}') - can't set {what} config"
                    )));
                }
                directives.push((d, name, lossy(&pair[1])));
            }
            let backlog_resized = directives
                .iter()
                .any(|(d, _, _)| d.name == "repl-backlog-size");
            let mut next = node.cfg.clone();
            for (d, name, value) in directives {
                (d.set)(&mut next, &value).map_err(|e| {
                    CmdError::msg_owned(format!(
                        "CONFIG SET failed (possibly related to argument '{name}') - {e}"
                    ))
                })?;
            }
            // A new port is bound before anything changes: if it cannot be, nothing does.
            let rebind = if next.port != node.cfg.port {
                // Exactly the port asked for, even if the server started on an ephemeral one.
                let mut exact = next.clone();
                exact.listen_ephemeral_port = false;
                Some(crate::bind(&exact).map_err(|e| {
                    tracing::warn!("{e}");
                    CmdError::msg(
                        "CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.",
                    )
                })?)
            } else {
                None
            };
            node.cfg = next;
            if let (Some(listeners), Some(me)) = (rebind, node.self_ref.upgrade()) {
                crate::start_listeners(node, &me, listeners);
            }
            if backlog_resized {
                crate::replication::apply_backlog_size(node);
            }
            node.refresh_store_config();
            crate::aof::apply_config(node);
            crate::syscheck::apply(&node.cfg);
            Ok(Frame::OK)
        }
        (b"resetstat", 2) => {
            node.stats.reset(crate::node::unix_ms());
            node.ks.stats = Default::default();
            node.slowlog.entries.clear();
            Ok(Frame::OK)
        }
        (b"rewrite", 2) => {
            let Some(path) = node.config_file.clone() else {
                return Err(CmdError::msg("The server is running without a config file"));
            };
            crate::config::write_config_file(&path, &node.cfg)
                .map_err(|e| CmdError::msg_owned(format!("Rewriting config file: {e}")))?;
            Ok(Frame::OK)
        }
        _ => Err(commands::subcommand_error(argv, "config")),
    }
}

// ---- INFO, TIME, LASTSAVE, SHUTDOWN ----------------------------------------------------

fn info(node: &mut Node, _id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let sections: Vec<String> = argv[1..]
        .iter()
        .map(|a| lossy(a).to_ascii_lowercase())
        .collect();
    let text = crate::info::render(node, &sections);
    Ok(Frame::Verbatim {
        format: *b"txt",
        text: Bytes::from(text),
    })
}

fn time(_: &mut Node, _: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Frame::Array(vec![
        Frame::bulk(now.as_secs().to_string()),
        Frame::bulk(now.subsec_micros().to_string()),
    ]))
}

fn lastsave(node: &mut Node, _: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(node.lastsave_ms / 1000))
}

fn shutdown(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let mut mode = ShutdownMode::Default;
    for a in &argv[1..] {
        match a.to_ascii_lowercase().as_slice() {
            b"nosave" => mode = ShutdownMode::NoSave,
            b"save" => mode = ShutdownMode::Save,
            b"now" | b"force" => {}
            b"abort" => return Err(CmdError::msg("No shutdown in progress.")),
            _ => return Err(CmdError::Syntax),
        }
    }
    node.request_shutdown(mode);
    // Redis closes the connection without a reply on success (clients rely on that).
    if let Some(c) = node.clients.get_mut(&id) {
        c.close_after_reply = true;
        c.reply_mode = crate::client::ReplyMode::Off;
    }
    Ok(Frame::OK)
}

// ---- SLOWLOG, LATENCY ------------------------------------------------------------------

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Print this help.",
];

fn slowlog(node: &mut Node, _: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => Ok(help(SLOWLOG_HELP)),
        (b"len", 2) => Ok(Frame::Integer(node.slowlog.entries.len() as i64)),
        (b"reset", 2) => {
            node.slowlog.entries.clear();
            Ok(Frame::OK)
        }
        (b"get", 2 | 3) => {
            let count = match argv.get(2) {
                None => 10,
                Some(c) => {
                    let n = parse_i64(c).unwrap_or(i64::MIN);
                    if n < -1 {
                        return Err(CmdError::msg("count should be greater than or equal to -1"));
                    }
                    if n == -1 {
                        usize::MAX
                    } else {
                        n as usize
                    }
                }
            };
            let entries = node
                .slowlog
                .entries
                .iter()
                .take(count)
                .map(|e| {
                    Frame::Array(vec![
                        Frame::Integer(e.id as i64),
                        Frame::Integer(e.time_secs),
                        Frame::Integer(e.micros as i64),
                        Frame::Array(e.argv.iter().cloned().map(Frame::Bulk).collect()),
                        Frame::bulk(e.peer.clone()),
                        Frame::Bulk(e.name.clone()),
                    ])
                })
                .collect();
            Ok(Frame::Array(entries))
        }
        _ => Err(commands::subcommand_error(argv, "slowlog")),
    }
}

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Print this help.",
];

fn latency(node: &mut Node, _: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => Ok(help(LATENCY_HELP)),
        (b"latest", 2) => Ok(Frame::Array(
            node.latency
                .iter()
                .map(|(name, ev)| {
                    Frame::Array(vec![
                        Frame::bulk(*name),
                        Frame::Integer(ev.latest_time),
                        Frame::Integer(ev.latest_ms),
                        Frame::Integer(ev.max_ms),
                    ])
                })
                .collect(),
        )),
        (b"history", 3) => {
            let name = lossy(&argv[2]);
            Ok(Frame::Array(
                node.latency
                    .iter()
                    .filter(|(n, _)| **n == name)
                    .flat_map(|(_, ev)| ev.history.iter())
                    .map(|(t, ms)| Frame::Array(vec![Frame::Integer(*t), Frame::Integer(*ms)]))
                    .collect(),
            ))
        }
        (b"reset", _) => {
            let before = node.latency.len();
            if argv.len() == 2 {
                node.latency.clear();
            } else {
                let names: Vec<String> = argv[2..].iter().map(|a| lossy(a)).collect();
                node.latency.retain(|n, _| !names.iter().any(|x| x == n));
            }
            Ok(Frame::Integer((before - node.latency.len()) as i64))
        }
        (b"histogram", _) => Ok(latency_histogram(node, &argv[2..])),
        _ => Err(commands::subcommand_error(argv, "latency")),
    }
}

/// LATENCY HISTOGRAM [command ...]: per command with a latency histogram, its calls and
/// cumulative distribution (µs bucket -> calls at or below it). No names: every command; a
/// container's name stands for its subcommands; unknown names and commands never called
/// are left out, as in Redis.
fn latency_histogram(node: &Node, names: &[Bytes]) -> Frame {
    let all = node.stats.latency_by_name();
    let mut chosen: Vec<&str> = Vec::new();
    if names.is_empty() {
        chosen.extend(all.keys());
    }
    for arg in names {
        let arg = lossy(arg).to_ascii_lowercase();
        for name in all.keys() {
            let sub_of_arg = name
                .strip_prefix(arg.as_str())
                .is_some_and(|rest| rest.starts_with('|'));
            if (*name == arg || sub_of_arg) && !chosen.contains(name) {
                chosen.push(name);
            }
        }
    }
    Frame::Map(
        chosen
            .into_iter()
            .map(|name| {
                let h = &all[name];
                let cdf = crate::cmd_latency::cumulative_usec(h)
                    .into_iter()
                    .map(|(usec, calls)| {
                        (Frame::Integer(usec as i64), Frame::Integer(calls as i64))
                    })
                    .collect();
                let entry = vec![
                    (Frame::bulk("calls"), Frame::Integer(h.len() as i64)),
                    (Frame::bulk("histogram_usec"), Frame::Map(cdf)),
                ];
                (Frame::bulk(name), Frame::Map(entry))
            })
            .collect(),
    )
}

// ---- DEBUG -----------------------------------------------------------------------------

fn debug(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"sleep", 3) => {
            let secs = ferrokv_store::cmd::parse_f64(&argv[2]).ok_or(CmdError::NotFloat)?;
            if secs > 0.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            }
            Ok(Frame::OK)
        }
        (b"reload", _) => crate::rdb_file::debug_reload(node, argv),
        (b"set-active-expire", 3) => {
            node.active_expire_enabled = parse_i64(&argv[2]).ok_or(CmdError::NotInteger)? != 0;
            Ok(Frame::OK)
        }
        (b"object", 3) => {
            node.ks.now_ms = unix_ms();
            let db = node.clients.get(&id).map_or(0, |c| c.db);
            let enc_cfg = node.ks.cfg.clone();
            let lru_clock = node.ks.lru_clock;
            let Some(e) = node.ks.dbs[db].map.get(&argv[2][..]) else {
                return Err(CmdError::NoSuchKey);
            };
            let idle = ferrokv_store::evict::lru_idle_secs(e.access, lru_clock);
            Ok(Frame::Simple(Bytes::from(format!(
                "Value at:0x0 refcount:1 encoding:{} serializedlength:0 lru:{} lru_seconds_idle:{}",
                e.value.encoding_name(&enc_cfg),
                e.access & 0xFF_FFFF,
                idle
            ))))
        }
        _ => Err(commands::subcommand_syntax_error(argv, "debug")),
    }
}

// ---- MEMORY ----------------------------------------------------------------------------

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

fn memory(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => Ok(help(MEMORY_HELP)),
        (b"usage", n) if n >= 3 => {
            let mut samples = 5usize;
            let mut i = 3;
            while i < n {
                if argv[i].eq_ignore_ascii_case(b"samples") && i + 1 < n {
                    let v = parse_i64(&argv[i + 1]).ok_or(CmdError::NotInteger)?;
                    if v < 0 {
                        return Err(CmdError::Syntax);
                    }
                    samples = v as usize;
                    i += 2;
                } else {
                    return Err(CmdError::Syntax);
                }
            }
            let db = node.clients.get(&id).map_or(0, |c| c.db);
            node.ks.now_ms = unix_ms();
            let key_len = argv[2].len();
            Ok(match node.ks.get(db, &argv[2]) {
                None => Frame::Null,
                Some(v) => {
                    let entry = std::mem::size_of::<ferrokv_store::Entry>() + 16;
                    let key = if key_len > ferrokv_store::key::INLINE_CAP {
                        key_len
                    } else {
                        0
                    };
                    Frame::Integer(
                        (entry + key + ferrokv_store::value::approx_memory(v, samples)) as i64,
                    )
                }
            })
        }
        (b"stats", 2) => {
            let m = crate::memory::overhead(node);
            let a = m.allocator;
            let int = |n: u64| Frame::Integer(n as i64);
            let signed = |x: u64, y: u64| Frame::Integer(x as i64 - y as i64);
            let ratio = |x: u64, y: u64| Frame::Double(crate::memory::ratio(x, y));
            let mut fields = vec![
                ("peak.allocated", int(m.peak)),
                ("total.allocated", int(m.used)),
                ("startup.allocated", int(m.startup)),
                ("replication.backlog", int(m.repl_backlog)),
                ("clients.slaves", int(m.clients_replicas)),
                ("clients.normal", int(m.clients_normal)),
                ("cluster.links", int(0)),
                ("aof.buffer", int(m.aof_buffer)),
                ("lua.caches", int(0)),
                ("functions.caches", int(0)),
            ];
            let dbs: Vec<(String, Frame)> = m
                .dbs
                .iter()
                .map(|&(db, main, expires, _)| {
                    (
                        format!("db.{db}"),
                        Frame::Map(vec![
                            (Frame::bulk("overhead.hashtable.main"), int(main)),
                            (Frame::bulk("overhead.hashtable.expires"), int(expires)),
                            (Frame::bulk("overhead.hashtable.slot-to-keys"), int(0)),
                        ]),
                    )
                })
                .collect();
            let rest = [
                ("overhead.total", int(m.total())),
                ("keys.count", int(m.keys)),
                ("keys.bytes-per-key", int(m.bytes_per_key())),
                ("dataset.bytes", int(m.dataset())),
                ("dataset.percentage", Frame::Double(m.dataset_perc())),
                (
                    "peak.percentage",
                    Frame::Double(crate::memory::ratio(m.used, m.peak) * 100.0),
                ),
                ("allocator.allocated", int(a.allocated)),
                ("allocator.active", int(a.active)),
                ("allocator.resident", int(a.resident)),
                (
                    "allocator-fragmentation.ratio",
                    ratio(a.active, a.allocated),
                ),
                (
                    "allocator-fragmentation.bytes",
                    signed(a.active, a.allocated),
                ),
                ("allocator-rss.ratio", ratio(a.resident, a.active)),
                ("allocator-rss.bytes", signed(a.resident, a.active)),
                ("rss-overhead.ratio", ratio(m.rss, a.resident)),
                ("rss-overhead.bytes", signed(m.rss, a.resident)),
                ("fragmentation", ratio(m.rss, m.used)),
                ("fragmentation.bytes", signed(m.rss, m.used)),
            ];
            let mut out: Vec<(Frame, Frame)> =
                fields.drain(..).map(|(k, v)| (Frame::bulk(k), v)).collect();
            out.extend(dbs.into_iter().map(|(k, v)| (Frame::bulk(k), v)));
            out.extend(rest.into_iter().map(|(k, v)| (Frame::bulk(k), v)));
            Ok(Frame::Map(out))
        }
        (b"doctor", 2) => {
            let m = crate::memory::overhead(node);
            let replicas = node.clients.values().filter(|c| c.flags.replica).count() as u64;
            let normal = node.clients.len() as u64 - replicas;
            Ok(Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(crate::memory::doctor(&m, normal, replicas)),
            })
        }
        (b"malloc-stats", 2) => Ok(Frame::Verbatim {
            format: *b"txt",
            text: Bytes::from(crate::memory::malloc_stats()),
        }),
        (b"purge", 2) => match crate::memory::purge() {
            Ok(()) => Ok(Frame::OK),
            Err(_) => Err(CmdError::msg("Error purging dirty pages")),
        },
        _ => Err(commands::subcommand_error(argv, "memory")),
    }
}
