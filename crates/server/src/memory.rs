//! Memory figures for INFO and `maxmemory`: jemalloc's own statistics (the binary uses
//! jemalloc as its global allocator, as Redis does), and RSS from `/proc/self/statm`.

/// Bytes currently allocated by the application, as jemalloc counts them (`used_memory`).
/// `None` when jemalloc statistics are not available.
pub fn allocated() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read()
        .ok()
        .map(|v| v as u64)
}

/// Resident set size of this process in bytes (`used_memory_rss`).
pub fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok()??;
    Some(pages * page as u64)
}

/// Human-readable size as Redis prints `used_memory_human` (e.g. `1.02M`).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    }
}

/// jemalloc's view of the heap: bytes handed out, bytes in active pages, bytes resident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocatorStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
}

/// Returns the allocator's unused dirty pages to the system, as Redis's `jemalloc_purge`
/// does after a synchronous FLUSHALL/FLUSHDB and for MEMORY PURGE. jemalloc otherwise
/// gives them back only as its decay timers run out, and not at all without traffic.
///
/// Each arena's decay times are set to 0 (jemalloc then purges everything at once) and put
/// back: the same effect as `arena.<i>.purge`, through the crate's safe interface.
pub fn purge() -> Result<(), tikv_jemalloc_ctl::Error> {
    use tikv_jemalloc_ctl::{Access, AsName};
    let arenas: u32 = b"arenas.narenas\0".name().read()?;
    for i in 0..arenas {
        for kind in ["dirty", "muzzy"] {
            let key = format!("arena.{i}.{kind}_decay_ms\0");
            let name = key.as_bytes().name();
            let decay: isize = match name.read() {
                Ok(d) => d,
                // An arena index that was never initialised has nothing to purge.
                Err(_) => continue,
            };
            name.write(0isize)?;
            name.write(decay)?;
        }
    }
    Ok(())
}

/// MEMORY DOCTOR's report: the checks Redis 7.0 makes on the same figures (its thresholds),
/// each finding explained in a sentence or two. `normal_clients` and `replicas` count the
/// connections behind `m.clients_normal` and `m.clients_replicas`.
pub fn doctor(m: &Overhead, normal_clients: u64, replicas: u64) -> String {
    const MB: u64 = 1 << 20;
    let a = &m.allocator;
    if m.used < 5 * MB {
        return "This instance holds almost no data (under 5 MB allocated): there is nothing \
                for the memory doctor to examine yet."
            .to_string();
    }
    let over = |x: u64, y: u64| (ratio(x, y), x.saturating_sub(y));
    let mut findings = Vec::new();
    if m.peak as f64 / m.used as f64 > 1.5 {
        findings.push(format!(
            "Peak memory: the peak ({}) is over 1.5 times what is allocated now ({}). \
             RSS and fragmentation figures may reflect the peak rather than the current data.",
            human(m.peak),
            human(m.used)
        ));
    }
    let (frag, frag_bytes) = over(m.rss, m.used);
    if frag > 1.4 && frag_bytes > 10 * MB {
        findings.push(format!(
            "High total fragmentation: RSS is {frag:.2} times the allocated memory \
             ({} more). MEMORY PURGE returns the allocator's free pages to the system.",
            human(frag_bytes)
        ));
    }
    let (alloc_frag, alloc_frag_bytes) = over(a.active, a.allocated);
    if alloc_frag > 1.1 && alloc_frag_bytes > 10 * MB {
        findings.push(format!(
            "High allocator fragmentation: active pages are {alloc_frag:.2} times the \
             allocated bytes ({} more), usually after many deletions of small values.",
            human(alloc_frag_bytes)
        ));
    }
    let (alloc_rss, alloc_rss_bytes) = over(a.resident, a.active);
    if alloc_rss > 1.1 && alloc_rss_bytes > 10 * MB {
        findings.push(format!(
            "High allocator RSS overhead: the allocator keeps {} of free pages resident \
             ({alloc_rss:.2} times the active pages); MEMORY PURGE releases them.",
            human(alloc_rss_bytes)
        ));
    }
    let (rss_extra, rss_extra_bytes) = over(m.rss, a.resident);
    if rss_extra > 1.1 && rss_extra_bytes > 10 * MB {
        findings.push(format!(
            "High process RSS overhead: {} of RSS is outside the allocator ({rss_extra:.2} \
             times its resident memory).",
            human(rss_extra_bytes)
        ));
    }
    if normal_clients > 0 && m.clients_normal / normal_clients > 200 * 1024 {
        findings.push(format!(
            "Big client buffers: the {normal_clients} normal clients use {} of buffers, \
             over 200 KB each on average (slow readers or huge pipelines).",
            human(m.clients_normal)
        ));
    }
    if replicas > 0 && m.clients_replicas > 10 * MB {
        findings.push(format!(
            "Big replica buffers: the output buffers of {replicas} replicas hold {}; \
             a replica is not keeping up with this primary's writes.",
            human(m.clients_replicas)
        ));
    }
    if findings.is_empty() {
        return "No memory issue found: peak, fragmentation, allocator and client buffer \
                figures are all within the usual bounds."
            .to_string();
    }
    let mut out = String::from("The memory doctor found these issues:\n\n");
    for f in findings {
        out.push_str(" * ");
        out.push_str(&f);
        out.push_str("\n\n");
    }
    out
}

/// jemalloc's statistics report, as MEMORY MALLOC-STATS shows it.
pub fn malloc_stats() -> String {
    let mut out = Vec::new();
    let options = tikv_jemalloc_ctl::stats_print::Options::default();
    match tikv_jemalloc_ctl::stats_print::stats_print(&mut out, options) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => "Stats not supported for the current allocator".to_string(),
    }
}

/// The allocator's figures (after refreshing jemalloc's statistics epoch).
pub fn allocator_stats() -> Option<AllocatorStats> {
    use tikv_jemalloc_ctl::stats;
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    Some(AllocatorStats {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

/// Where the memory goes, as Redis's `getMemoryOverheadData` splits it: what the process
/// needs to run and to serve (start-up, replication, clients, AOF buffer, the keyspace's
/// tables) against the dataset (keys and values). INFO memory and MEMORY STATS both read it.
#[derive(Debug, Clone, Default)]
pub struct Overhead {
    pub used: u64,
    pub peak: u64,
    pub startup: u64,
    pub rss: u64,
    pub allocator: AllocatorStats,
    /// The replication backlog, as Redis 7.0's buffer blocks would cost it.
    pub repl_backlog: u64,
    /// Replica connections beyond the backlog (their buffers).
    pub clients_replicas: u64,
    /// Every other connection (normal, pub/sub, our primary's link).
    pub clients_normal: u64,
    pub aof_buffer: u64,
    /// Per database with keys: (db, key map overhead, expires map, key count).
    pub dbs: Vec<(usize, u64, u64, u64)>,
    pub keys: u64,
}

impl Overhead {
    pub fn total(&self) -> u64 {
        self.startup
            + self.repl_backlog
            + self.clients_replicas
            + self.clients_normal
            + self.aof_buffer
            + self.dbs.iter().map(|d| d.1 + d.2).sum::<u64>()
    }

    /// `used_memory_dataset`: what is left for keys and values.
    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.total())
    }

    /// What was allocated since start-up (at least 1, as Redis divides by it).
    fn net(&self) -> u64 {
        self.used.saturating_sub(self.startup).max(1)
    }

    /// `used_memory_dataset_perc`: the dataset's share of what was allocated since start-up.
    pub fn dataset_perc(&self) -> f64 {
        self.dataset() as f64 * 100.0 / self.net() as f64
    }

    /// MEMORY STATS `keys.bytes-per-key`: memory since start-up per key.
    pub fn bytes_per_key(&self) -> u64 {
        self.net().checked_div(self.keys).unwrap_or(0)
    }
}

/// Ratio `a / b` as INFO prints it (0 when `b` is 0).
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Gathers [`Overhead`] for a node.
pub fn overhead(node: &mut crate::node::Node) -> Overhead {
    let used = node.used_memory_now();
    let backlog = {
        let st = node.repl.state.borrow();
        st.backlog
            .as_ref()
            .map_or(0, |b| b.reported_memory(!st.replicas.is_empty()))
    };
    let (mut replicas, mut normal) = (0u64, 0u64);
    for c in node.clients.values() {
        if c.flags.replica {
            replicas += c.memory() as u64;
        } else {
            normal += c.memory() as u64;
        }
    }
    let dbs: Vec<(usize, u64, u64, u64)> = node
        .ks
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, db)| !db.is_empty())
        .map(|(i, db)| {
            (
                i,
                db.map.overhead_bytes() as u64,
                db.expires.allocated_bytes() as u64,
                db.len() as u64,
            )
        })
        .collect();
    Overhead {
        used,
        peak: node.peak_memory.max(used),
        startup: node.used_memory_startup,
        rss: rss().unwrap_or(0),
        allocator: allocator_stats().unwrap_or(AllocatorStats {
            allocated: used,
            active: used,
            resident: used,
        }),
        repl_backlog: backlog,
        clients_replicas: replicas,
        clients_normal: normal,
        aof_buffer: node.aof.buffer_len() as u64,
        keys: dbs.iter().map(|d| d.3).sum(),
        dbs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_splits_like_redis() {
        let m = Overhead {
            used: 10_000,
            startup: 1_000,
            repl_backlog: 500,
            clients_normal: 300,
            aof_buffer: 200,
            dbs: vec![(0, 1_000, 0, 9), (3, 400, 100, 1)],
            keys: 10,
            ..Default::default()
        };
        assert_eq!(m.total(), 1_000 + 500 + 300 + 200 + 1_000 + 500);
        assert_eq!(m.dataset(), 10_000 - 3_500);
        assert!((m.dataset_perc() - 6_500.0 * 100.0 / 9_000.0).abs() < 1e-9);
        assert_eq!(m.bytes_per_key(), 900);
        // Below the start-up figure Redis divides by 1, and never goes negative.
        let small = Overhead {
            used: 500,
            startup: 1_000,
            ..Default::default()
        };
        assert_eq!(small.dataset(), 0);
        assert_eq!(small.dataset_perc(), 0.0);
        assert_eq!(small.bytes_per_key(), 0);
    }
}
