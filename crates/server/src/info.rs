//! `INFO`: Redis's sections and field names, in Redis's order, so tools that parse INFO
//! (redis-cli, client libraries, Sentinel, exporters) read ferrokv unchanged.
//!
//! Sections: server, clients, memory, persistence, stats, replication, cpu, modules,
//! commandstats, cluster, keyspace. `INFO` with no argument (or `default`) prints the default
//! set; `all` adds commandstats; `everything` is the same here (no module sections).

use std::fmt::Write as _;

use crate::memory;
use crate::node::{unix_ms, Node};

/// The Redis version ferrokv speaks (reported by INFO and HELLO: clients key features on it).
pub const REDIS_VERSION: &str = "7.0.15";

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Renders INFO for the requested section names (already lower-cased).
pub fn render(node: &mut Node, sections: &[String]) -> String {
    let mut wanted: Vec<&str> = Vec::new();
    if sections.is_empty() {
        wanted.extend(DEFAULT_SECTIONS);
    }
    for s in sections {
        match s.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => {
                wanted.extend(DEFAULT_SECTIONS);
                wanted.push("commandstats");
                wanted.push("latencystats");
            }
            other => wanted.push(other),
        }
    }
    let mut out = String::new();
    let all_order = [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "commandstats",
        "errorstats",
        "latencystats",
        "cluster",
        "keyspace",
    ];
    for name in all_order {
        if !wanted.contains(&name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match name {
            "server" => server(node, &mut out),
            "clients" => clients(node, &mut out),
            "memory" => memory_section(node, &mut out),
            "persistence" => persistence(node, &mut out),
            "stats" => stats(node, &mut out),
            "replication" => replication(node, &mut out),
            "cpu" => cpu(&mut out),
            "modules" => out.push_str("# Modules\r\n"),
            "commandstats" => commandstats(node, &mut out),
            "errorstats" => errorstats(node, &mut out),
            "latencystats" => latencystats(node, &mut out),
            "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" => keyspace(node, &mut out),
            _ => {}
        }
    }
    out
}

macro_rules! field {
    ($out:expr, $name:expr, $value:expr) => {
        let _ = write!($out, "{}:{}\r\n", $name, $value);
    };
}

fn server(node: &Node, out: &mut String) {
    let uptime = node.started.elapsed().as_secs();
    let uname = nix::sys::utsname::uname().ok();
    let os = uname
        .map(|u| {
            format!(
                "{} {} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        })
        .unwrap_or_default();
    out.push_str("# Server\r\n");
    field!(out, "redis_version", REDIS_VERSION);
    field!(out, "redis_git_sha1", "00000000");
    field!(out, "redis_git_dirty", 0);
    field!(out, "redis_build_id", "ferrokv");
    field!(out, "redis_mode", "standalone");
    field!(out, "os", os);
    field!(out, "arch_bits", 64);
    field!(out, "monotonic_clock", "POSIX clock_gettime");
    field!(out, "multiplexing_api", "epoll");
    field!(out, "atomicvar_api", "c11-builtin");
    field!(out, "gcc_version", "0.0.0");
    field!(out, "process_id", std::process::id());
    field!(out, "process_supervised", "no");
    field!(out, "run_id", node.run_id);
    field!(
        out,
        "tcp_port",
        node.listen_addr.map_or(node.cfg.port as u16, |a| a.port())
    );
    field!(out, "server_time_usec", unix_ms() * 1000);
    field!(out, "uptime_in_seconds", uptime);
    field!(out, "uptime_in_days", uptime / 86400);
    field!(out, "hz", node.cfg.hz);
    field!(out, "configured_hz", node.cfg.hz);
    field!(out, "lru_clock", node.ks.lru_clock & 0xFF_FFFF);
    field!(
        out,
        "executable",
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    field!(
        out,
        "config_file",
        node.config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    field!(out, "io_threads_active", 0);
    field!(out, "ferrokv_version", env!("CARGO_PKG_VERSION"));
}

fn clients(node: &Node, out: &mut String) {
    let max_in = node
        .clients
        .values()
        .map(|c| c.query_buf_len)
        .max()
        .unwrap_or(0);
    let max_out = node
        .clients
        .values()
        .map(|c| c.output_buf_len)
        .max()
        .unwrap_or(0);
    let timeout_table = node
        .clients
        .values()
        .filter(|c| c.blocked.as_ref().is_some_and(|b| b.deadline_ms.is_some()))
        .count();
    out.push_str("# Clients\r\n");
    field!(
        out,
        "connected_clients",
        node.clients.values().filter(|c| !c.flags.replica).count()
    );
    field!(out, "cluster_connections", 0);
    field!(out, "maxclients", node.cfg.maxclients);
    field!(out, "client_recent_max_input_buffer", max_in);
    field!(out, "client_recent_max_output_buffer", max_out);
    field!(out, "blocked_clients", node.stats.blocked_clients);
    field!(out, "tracking_clients", node.tracking.clients);
    field!(out, "clients_in_timeout_table", timeout_table);
}

fn memory_section(node: &mut Node, out: &mut String) {
    let m = memory::overhead(node);
    let total_system = nix::sys::sysinfo::sysinfo()
        .map(|s| s.ram_total())
        .unwrap_or(0);
    let a = m.allocator;
    let pct = |x: f64| format!("{x:.2}%");
    let r = |x: f64| format!("{x:.2}");
    out.push_str("# Memory\r\n");
    field!(out, "used_memory", m.used);
    field!(out, "used_memory_human", memory::human(m.used));
    field!(out, "used_memory_rss", m.rss);
    field!(out, "used_memory_rss_human", memory::human(m.rss));
    field!(out, "used_memory_peak", m.peak);
    field!(out, "used_memory_peak_human", memory::human(m.peak));
    field!(
        out,
        "used_memory_peak_perc",
        pct(if m.peak > 0 {
            memory::ratio(m.used, m.peak) * 100.0
        } else {
            100.0
        })
    );
    field!(out, "used_memory_overhead", m.total());
    field!(out, "used_memory_startup", m.startup);
    field!(out, "used_memory_dataset", m.dataset());
    field!(out, "used_memory_dataset_perc", pct(m.dataset_perc()));
    field!(out, "allocator_allocated", a.allocated);
    field!(out, "allocator_active", a.active);
    field!(out, "allocator_resident", a.resident);
    field!(out, "total_system_memory", total_system);
    field!(
        out,
        "total_system_memory_human",
        memory::human(total_system)
    );
    // No scripting engine and no functions: nothing is held for them.
    for name in ["used_memory_lua", "used_memory_vm_eval"] {
        field!(out, name, 0);
    }
    field!(out, "used_memory_lua_human", memory::human(0));
    for name in [
        "used_memory_scripts_eval",
        "number_of_cached_scripts",
        "number_of_functions",
        "number_of_libraries",
        "used_memory_vm_functions",
        "used_memory_vm_total",
    ] {
        field!(out, name, 0);
    }
    field!(out, "used_memory_vm_total_human", memory::human(0));
    field!(out, "used_memory_functions", 0);
    field!(out, "used_memory_scripts", 0);
    field!(out, "used_memory_scripts_human", memory::human(0));
    field!(out, "maxmemory", node.cfg.maxmemory);
    field!(
        out,
        "maxmemory_human",
        memory::human(node.cfg.maxmemory as u64)
    );
    field!(out, "maxmemory_policy", node.cfg.maxmemory_policy);
    // Each ratio of a larger figure to a smaller one, then their difference.
    for (name, x, y) in [
        ("allocator_frag", a.active, a.allocated),
        ("allocator_rss", a.resident, a.active),
        ("rss_overhead", m.rss, a.resident),
    ] {
        field!(out, format!("{name}_ratio"), r(memory::ratio(x, y)));
        field!(out, format!("{name}_bytes"), x as i64 - y as i64);
    }
    field!(
        out,
        "mem_fragmentation_ratio",
        r(memory::ratio(m.rss, m.used))
    );
    field!(out, "mem_fragmentation_bytes", m.rss as i64 - m.used as i64);
    // Eviction counts every allocated byte (Redis leaves the AOF and replication buffers
    // out of it).
    field!(out, "mem_not_counted_for_evict", 0);
    // What Redis 7.0's block list would cost for the same history (0 before any replica
    // ever attached; capped at the backlog's size while replicas are attached).
    field!(out, "mem_replication_backlog", m.repl_backlog);
    field!(
        out,
        "mem_total_replication_buffers",
        m.repl_backlog + m.clients_replicas
    );
    field!(out, "mem_clients_slaves", m.clients_replicas);
    field!(out, "mem_clients_normal", m.clients_normal);
    field!(out, "mem_cluster_links", 0);
    field!(out, "mem_aof_buffer", m.aof_buffer);
    field!(out, "mem_allocator", "jemalloc-5.3.0");
    field!(out, "active_defrag_running", 0);
    field!(out, "lazyfree_pending_objects", 0);
    field!(out, "lazyfreed_objects", 0);
}

fn persistence(node: &Node, out: &mut String) {
    let child = node.children.running();
    let rdb_child = child.filter(|c| c.kind == ferrokv_store::fork::ChildKind::Rdb);
    let progress = child.map(|c| c.progress).unwrap_or_default();
    let fork_perc = if progress.keys_total > 0 {
        progress.keys_done as f64 * 100.0 / progress.keys_total as f64
    } else {
        0.0
    };
    out.push_str("# Persistence\r\n");
    field!(out, "loading", u8::from(node.loading.is_some()));
    field!(out, "async_loading", 0);
    field!(out, "current_cow_peak", progress.cow_bytes);
    field!(out, "current_cow_size", progress.cow_bytes);
    field!(out, "current_cow_size_age", 0);
    field!(out, "current_fork_perc", format!("{fork_perc:.2}"));
    field!(out, "current_save_keys_processed", progress.keys_done);
    field!(out, "current_save_keys_total", progress.keys_total);
    field!(out, "rdb_changes_since_last_save", node.dirty);
    field!(out, "rdb_bgsave_in_progress", u8::from(rdb_child.is_some()));
    field!(out, "rdb_last_save_time", node.lastsave_ms / 1000);
    field!(
        out,
        "rdb_last_bgsave_status",
        if node.bgsave.last_ok { "ok" } else { "err" }
    );
    field!(out, "rdb_last_bgsave_time_sec", node.bgsave.last_time_sec);
    field!(
        out,
        "rdb_current_bgsave_time_sec",
        if rdb_child.is_some() {
            node.bgsave.current_time_sec()
        } else {
            -1
        }
    );
    field!(out, "rdb_saves", node.bgsave.saves);
    field!(out, "rdb_last_cow_size", node.bgsave.last_cow_size);
    field!(
        out,
        "rdb_last_load_keys_expired",
        node.bgsave.last_load_keys_expired
    );
    field!(
        out,
        "rdb_last_load_keys_loaded",
        node.bgsave.last_load_keys_loaded
    );
    crate::aof::info_lines(node, out);
    if let Some(l) = &node.loading {
        out.push_str(&l.info_lines());
    }
}

fn stats(node: &Node, out: &mut String) {
    let s = &node.stats;
    let k = &node.ks.stats;
    out.push_str("# Stats\r\n");
    field!(
        out,
        "total_connections_received",
        s.total_connections_received
    );
    field!(out, "total_commands_processed", s.total_commands_processed);
    let rates = s.instant_rates();
    field!(out, "instantaneous_ops_per_sec", rates.ops_per_sec);
    field!(out, "total_net_input_bytes", s.net_input_bytes());
    field!(out, "total_net_output_bytes", s.net_output_bytes());
    field!(
        out,
        "total_net_repl_input_bytes",
        s.total_net_repl_input_bytes
    );
    field!(
        out,
        "total_net_repl_output_bytes",
        s.total_net_repl_output_bytes
    );
    for (name, kbps) in [
        ("instantaneous_input_kbps", rates.input_kbps),
        ("instantaneous_output_kbps", rates.output_kbps),
        ("instantaneous_input_repl_kbps", rates.input_repl_kbps),
        ("instantaneous_output_repl_kbps", rates.output_repl_kbps),
    ] {
        field!(out, name, format!("{kbps:.2}"));
    }
    field!(out, "rejected_connections", s.rejected_connections);
    let sync = node.repl.state.borrow().stats;
    field!(out, "sync_full", sync.sync_full);
    field!(out, "sync_partial_ok", sync.sync_partial_ok);
    field!(out, "sync_partial_err", sync.sync_partial_err);
    field!(out, "expired_keys", k.expired_keys);
    field!(
        out,
        "expired_stale_perc",
        format!("{:.2}", k.expired_stale_perc * 100.0)
    );
    field!(
        out,
        "expired_time_cap_reached_count",
        k.expired_time_cap_reached_count
    );
    field!(
        out,
        "expire_cycle_cpu_milliseconds",
        s.expire_cycle_us / 1000
    );
    field!(out, "evicted_keys", k.evicted_keys);
    // No client eviction (`maxmemory-clients` is not supported).
    field!(out, "evicted_clients", 0);
    let (total_over, current_over) = s.eviction_exceeded_ms();
    field!(out, "total_eviction_exceeded_time", total_over);
    field!(out, "current_eviction_exceeded_time", current_over);
    field!(out, "keyspace_hits", k.keyspace_hits);
    field!(out, "keyspace_misses", k.keyspace_misses);
    field!(out, "pubsub_channels", node.pubsub.channels.len());
    field!(out, "pubsub_patterns", node.pubsub.patterns.len());
    // Fields of Redis features ferrokv does not have (sharded pub/sub, MIGRATE, writable
    // replica expiry tracking, active defragmentation, RESTORE deep
    // sanitization, I/O threads, a resizable reply buffer): reported so that tools reading
    // them find them, and zero because nothing here does that work.
    field!(out, "pubsubshard_channels", 0);
    field!(out, "latest_fork_usec", node.children.latest_fork_usec);
    field!(out, "total_forks", node.children.total_forks);
    for name in [
        "migrate_cached_sockets",
        "slave_expires_tracked_keys",
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        field!(out, name, 0);
    }
    let (keys, items, prefixes) = node.tracking.totals();
    field!(out, "tracking_total_keys", keys);
    field!(out, "tracking_total_items", items);
    field!(out, "tracking_total_prefixes", prefixes);
    field!(out, "unexpected_error_replies", s.unexpected_error_replies);
    field!(out, "total_error_replies", s.total_error_replies);
    field!(out, "dump_payload_sanitizations", 0);
    field!(out, "total_reads_processed", s.total_reads_processed);
    field!(out, "total_writes_processed", s.total_writes_processed);
    for name in [
        "io_threaded_reads_processed",
        "io_threaded_writes_processed",
        "reply_buffer_shrinks",
        "reply_buffer_expands",
    ] {
        field!(out, name, 0);
    }
}

fn errorstats(node: &Node, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    for (code, count) in &node.stats.errors {
        let _ = write!(
            out,
            "errorstat_{}:count={count}\r\n",
            String::from_utf8_lossy(code)
        );
    }
}

fn replication(node: &Node, out: &mut String) {
    crate::replication::info(node, out);
}

fn cpu(out: &mut String) {
    let usage = |who| {
        nix::sys::resource::getrusage(who)
            .map(|r| {
                let t =
                    |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
                (t(r.system_time()), t(r.user_time()))
            })
            .unwrap_or((0.0, 0.0))
    };
    let (sys, user) = usage(nix::sys::resource::UsageWho::RUSAGE_SELF);
    let (csys, cuser) = usage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN);
    let (msys, muser) = usage(nix::sys::resource::UsageWho::RUSAGE_THREAD);
    out.push_str("# CPU\r\n");
    field!(out, "used_cpu_sys", format!("{sys:.6}"));
    field!(out, "used_cpu_user", format!("{user:.6}"));
    field!(out, "used_cpu_sys_children", format!("{csys:.6}"));
    field!(out, "used_cpu_user_children", format!("{cuser:.6}"));
    field!(out, "used_cpu_sys_main_thread", format!("{msys:.6}"));
    field!(out, "used_cpu_user_main_thread", format!("{muser:.6}"));
}

fn commandstats(node: &Node, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    let mut names: std::collections::BTreeMap<&str, crate::stats::CallStats> = Default::default();
    for (name, s) in &node.stats.commands {
        let total = names.entry(name.0).or_default();
        total.calls += s.calls;
        total.usec += s.usec;
        total.rejected += s.rejected;
        total.failed += s.failed;
    }
    for (name, s) in names {
        let per = if s.calls > 0 {
            s.usec as f64 / s.calls as f64
        } else {
            0.0
        };
        let _ = write!(
            out,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
            s.calls, s.usec, s.rejected, s.failed
        );
    }
}

/// `latency_percentiles_usec_<command>:p50=...,p99=...` for every command with a latency
/// histogram, at the `latency-tracking-info-percentiles`.
fn latencystats(node: &Node, out: &mut String) {
    out.push_str("# Latencystats\r\n");
    let percentiles = &node.cfg.latency_tracking_info_percentiles.0;
    for (name, h) in node.stats.latency_by_name() {
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let label = crate::config::percentile_text(p);
                format!("p{label}={:.3}", crate::cmd_latency::percentile_usec(&h, p))
            })
            .collect();
        let _ = write!(
            out,
            "latency_percentiles_usec_{name}:{}\r\n",
            values.join(",")
        );
    }
}

fn keyspace(node: &Node, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for (i, db) in node.ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "db{i}:keys={},expires={},avg_ttl={}\r\n",
            db.len(),
            db.expires_len(),
            db.avg_ttl
        );
    }
}
